/* Parallel loops: a loop marked parallel is outlined into a task that the runtime's
 * thread pool runs (DESIGN.md, "Parallel loops"); generated code never makes threads.
 *
 * For a loop `parallel (v, min, extent) body` inside function F, codegen emits
 *   - a closure struct {min, extent, captures...} on F's stack, where the captures are
 *     the variables (loop variables, lets, vector lets) and buffer pointers of F's scope
 *     that body uses;
 *   - ts_task_body.<kernel>.<n>(task_id, num_tasks, min, extent, captures...): runs the
 *     iterations [task_id * chunk, min(extent, (task_id + 1) * chunk)) of the loop, with
 *     chunk = ceil(extent / num_tasks): each task gets one contiguous block. Buffer
 *     parameters are noalias, as in the compute function, so the body optimizes as well
 *     as a serial loop would;
 *   - ts_task.<kernel>.<n>(task_id, num_tasks, closure), the TsParallelTask: unpacks the
 *     closure and calls the body (which LLVM inlines into it);
 *   - in F: num_tasks = min(ts_parallel_num_threads(), extent) (at least 1), then
 *     ts_parallel_launch(task, &closure, num_tasks); a failure (a task returned -1 after
 *     setting the message) makes F return -1.
 * Allocations inside the body get storage in the task (one per task); allocations
 * around the loop are captured and shared, as the loop nest says. A parallel loop
 * inside a task is outlined again; the runtime runs such a nested launch in the
 * calling thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg_internal.h"

/* One captured variable or buffer of the parent's scope. */
typedef struct Capture {
    const TsExpr *var;      /* or NULL for a buffer */
    const TeBuffer *buffer; /* or NULL for a variable */
    LLVMValueRef value;     /* its value (or pointer) in the parent */
} Capture;

enum { FIXED_FIELDS = 2 }; /* min, extent */

typedef struct Outline {
    const TeStmt *loop;
    Capture *captures;
    int num_captures;
    LLVMTypeRef closure_type;
    LLVMTypeRef body_type;
    LLVMValueRef body_fn, task_fn;
} Outline;

/* ---- what the body needs ---- */

static bool var_captured(const Outline *o, const TsExpr *var)
{
    for (int i = 0; i < o->num_captures; i++)
        if (o->captures[i].var == var)
            return true;
    return false;
}

static bool buffer_captured(const Outline *o, const TeBuffer *buffer)
{
    for (int i = 0; i < o->num_captures; i++)
        if (o->captures[i].buffer == buffer)
            return true;
    return false;
}

/* The innermost binding of every variable and buffer of f's scope that the body uses. */
static bool collect_captures(CgFunc *f, Outline *o)
{
    const TeStmt *body = o->loop->u.loop.body;
    o->captures = malloc(sizeof *o->captures * (size_t)(f->num_vars + f->num_bufs + 1));
    if (!o->captures)
        return cg_fail(f->m, TS_ENOMEM, "%s: out of memory", f->kernel);
    for (int i = f->num_vars - 1; i >= 0; i--) {
        const CgVar *v = &f->vars[i];
        if (!var_captured(o, v->var) && te_stmt_uses_var(body, v->var))
            o->captures[o->num_captures++] = (Capture){ .var = v->var, .value = v->value };
    }
    for (int i = f->num_bufs - 1; i >= 0; i--) {
        const CgBuf *b = &f->bufs[i];
        if (!buffer_captured(o, b->buffer) && cg_stmt_uses_buffer(body, b->buffer))
            o->captures[o->num_captures++] = (Capture){ .buffer = b->buffer, .value = b->ptr };
    }
    return true;
}

/* ---- the outlined functions ---- */

static LLVMValueRef add_internal(CgModule *m, const char *prefix, const char *kernel, int n,
                                 LLVMTypeRef type)
{
    char name[300];
    snprintf(name, sizeof name, "%s.%s.%d", prefix, kernel, n);
    LLVMValueRef fn = LLVMAddFunction(m->mod, name, type);
    LLVMSetLinkage(fn, LLVMInternalLinkage);
    return fn;
}

static bool declare_functions(CgFunc *f, Outline *o)
{
    CgModule *m = f->m;
    int n = FIXED_FIELDS + o->num_captures;
    LLVMTypeRef *fields = malloc(sizeof *fields * (size_t)(n + 2));
    if (!fields)
        return cg_fail(m, TS_ENOMEM, "%s: out of memory", f->kernel);
    fields[0] = fields[1] = m->t_i32; /* task_id, num_tasks (body parameters only) */
    fields[2] = fields[3] = m->t_i32; /* min, extent */
    for (int i = 0; i < o->num_captures; i++)
        fields[4 + i] = LLVMTypeOf(o->captures[i].value);
    o->closure_type = LLVMStructTypeInContext(m->ctx, fields + 2, (unsigned)n, false);
    o->body_type = LLVMFunctionType(m->t_i32, fields, (unsigned)n + 2, false);
    free(fields);
    int id = m->num_tasks++;
    o->body_fn = add_internal(m, "ts_task_body", f->kernel, id, o->body_type);
    LLVMTypeRef task_params[] = { m->t_i32, m->t_i32, m->t_ptr };
    o->task_fn = add_internal(m, "ts_task", f->kernel, id,
                              LLVMFunctionType(m->t_i32, task_params, 3, false));
    unsigned noalias = LLVMGetEnumAttributeKindForName("noalias", 7);
    for (int i = 0; i < o->num_captures; i++)
        if (o->captures[i].buffer)
            LLVMAddAttributeAtIndex(o->body_fn, (unsigned)(FIXED_FIELDS + 2 + i + 1),
                                    LLVMCreateEnumAttribute(m->ctx, noalias, 0));
    cg_set_function_attributes(m, o->body_fn, m->vector_bits);
    cg_set_function_attributes(m, o->task_fn, m->vector_bits);
    return true;
}

/* The TsParallelTask: loads the closure's fields and calls the body. */
static bool fill_task(CgModule *m, const Outline *o)
{
    int n = FIXED_FIELDS + o->num_captures;
    LLVMValueRef *args = malloc(sizeof *args * (size_t)(n + 2));
    if (!args)
        return cg_fail(m, TS_ENOMEM, "out of memory");
    LLVMBuilderRef b = LLVMCreateBuilderInContext(m->ctx);
    LLVMPositionBuilderAtEnd(b, LLVMAppendBasicBlockInContext(m->ctx, o->task_fn, "entry"));
    LLVMValueRef closure = LLVMGetParam(o->task_fn, 2);
    args[0] = LLVMGetParam(o->task_fn, 0);
    args[1] = LLVMGetParam(o->task_fn, 1);
    for (int i = 0; i < n; i++) {
        LLVMValueRef field = LLVMBuildStructGEP2(b, o->closure_type, closure, (unsigned)i, "");
        args[2 + i] = LLVMBuildLoad2(b, LLVMStructGetTypeAtIndex(o->closure_type, (unsigned)i),
                                     field, "");
    }
    LLVMValueRef rc = LLVMBuildCall2(b, o->body_type, o->body_fn, args, (unsigned)n + 2, "");
    LLVMBuildRet(b, rc);
    LLVMDisposeBuilder(b);
    free(args);
    return true;
}

/* [begin, end) of this task's iterations, as i32 values. */
static void task_range(CgFunc *g, LLVMValueRef extent, LLVMValueRef *begin, LLVMValueRef *end)
{
    CgModule *m = g->m;
    LLVMBuilderRef b = g->b;
    LLVMTypeRef i64 = m->t_i64;
    LLVMValueRef task = LLVMBuildSExt(b, LLVMGetParam(g->fn, 0), i64, "");
    LLVMValueRef tasks = LLVMBuildSExt(b, LLVMGetParam(g->fn, 1), i64, "");
    LLVMValueRef one = cg_i64(m, 1), zero = cg_i64(m, 0);
    tasks = cg_intrinsic(g, "llvm.smax", 1, &i64, 2, (LLVMValueRef[]){ tasks, one });
    LLVMValueRef n = LLVMBuildSExt(b, extent, i64, "");
    n = cg_intrinsic(g, "llvm.smax", 1, &i64, 2, (LLVMValueRef[]){ n, zero });
    LLVMValueRef chunk = LLVMBuildSDiv(
        b, LLVMBuildSub(b, LLVMBuildAdd(b, n, tasks, ""), one, ""), tasks, "chunk");
    LLVMValueRef lo = LLVMBuildMul(b, task, chunk, "");
    lo = cg_intrinsic(g, "llvm.smin", 1, &i64, 2, (LLVMValueRef[]){ lo, n });
    LLVMValueRef hi = cg_intrinsic(g, "llvm.smin", 1, &i64, 2,
                                   (LLVMValueRef[]){ LLVMBuildAdd(b, lo, chunk, ""), n });
    *begin = LLVMBuildTrunc(b, lo, m->t_i32, "begin");
    *end = LLVMBuildTrunc(b, hi, m->t_i32, "end");
}

static bool emit_iteration(CgFunc *g, void *ctx)
{
    const TeStmt *loop = ctx;
    return cg_stmt(g, loop->u.loop.body);
}

/* The body function: binds the captures to its parameters and runs its chunk. */
static bool fill_body(CgFunc *f, const Outline *o)
{
    CgFunc g;
    const TeStmt *loop = o->loop;
    cg_func_begin(f->m, &g, o->body_fn, f->kernel);
    bool ok = true;
    for (int i = 0; ok && i < o->num_captures; i++) {
        LLVMValueRef p = LLVMGetParam(o->body_fn, (unsigned)(FIXED_FIELDS + 2 + i));
        const Capture *c = &o->captures[i];
        const char *name = c->var ? c->var->u.var.name : c->buffer->name;
        LLVMSetValueName2(p, name, strlen(name));
        ok = c->var ? cg_push_var(&g, c->var, p) : cg_push_buf(&g, c->buffer, p);
    }
    for (int i = 0; ok && i < f->num_ranges; i++) /* what is known outside holds inside */
        ok = cg_push_range(&g, f->ranges[i].var, f->ranges[i].min, f->ranges[i].max);
    int64_t lo;
    TeRange range;
    bool bounded = cg_loop_range(loop, &range);
    LLVMValueRef min = te_const_int(loop->u.loop.min, &lo) ? cg_i32(f->m, lo)
                                                          : LLVMGetParam(o->body_fn, 2);
    LLVMValueRef begin = NULL, end = NULL;
    if (ok)
        task_range(&g, LLVMGetParam(o->body_fn, 3), &begin, &end);
    ok = ok && begin && end &&
         cg_serial_loop(&g, loop->u.loop.var, min, begin, end, bounded ? &range : NULL,
                        emit_iteration, (void *)loop) &&
         cg_func_end(&g);
    cg_func_dispose(&g);
    return ok;
}

/* ---- the launch ---- */

static bool launch(CgFunc *f, const Outline *o, LLVMValueRef min, LLVMValueRef extent)
{
    CgModule *m = f->m;
    LLVMBasicBlockRef here = LLVMGetInsertBlock(f->b);
    LLVMPositionBuilderAtEnd(f->b, f->entry_block);
    LLVMValueRef closure = LLVMBuildAlloca(f->b, o->closure_type, "closure");
    LLVMPositionBuilderAtEnd(f->b, here);
    LLVMValueRef values[2] = { min, extent };
    for (int i = 0; i < FIXED_FIELDS + o->num_captures; i++) {
        LLVMValueRef v = i < FIXED_FIELDS ? values[i] : o->captures[i - FIXED_FIELDS].value;
        LLVMBuildStore(f->b, v, LLVMBuildStructGEP2(f->b, o->closure_type, closure,
                                                    (unsigned)i, ""));
    }
    LLVMValueRef threads = cg_call(f, m->num_threads, 0, NULL);
    LLVMTypeRef i32 = m->t_i32;
    LLVMValueRef tasks = cg_intrinsic(f, "llvm.smin", 1, &i32, 2,
                                      (LLVMValueRef[]){ threads, extent });
    tasks = tasks ? cg_intrinsic(f, "llvm.smax", 1, &i32, 2,
                                 (LLVMValueRef[]){ tasks, cg_i32(m, 1) }) : NULL;
    if (!tasks)
        return false;
    LLVMValueRef args[] = { o->task_fn, closure, tasks };
    LLVMValueRef rc = cg_call(f, m->parallel_launch, 3, args);
    LLVMValueRef failed = LLVMBuildICmp(f->b, LLVMIntNE, rc, cg_i32(m, 0), "");
    LLVMBasicBlockRef next = cg_block(f, "launched");
    LLVMValueRef br = LLVMBuildCondBr(f->b, failed, f->error_block, next);
    cg_set_branch_weights(m, br, 1, 100000);
    LLVMPositionBuilderAtEnd(f->b, next);
    return true;
}

bool cg_parallel_for(CgFunc *f, const TeStmt *loop)
{
    LLVMValueRef min = cg_expr(f, loop->u.loop.min, NULL);
    LLVMValueRef extent = min ? cg_expr(f, loop->u.loop.extent, NULL) : NULL;
    if (!extent)
        return false;
    int64_t n;
    if (te_const_int(loop->u.loop.extent, &n) && n <= 0)
        return true;
    Outline o = { .loop = loop };
    bool ok = collect_captures(f, &o) && declare_functions(f, &o) && fill_task(f->m, &o) &&
              fill_body(f, &o) && launch(f, &o, min, extent);
    free(o.captures);
    return ok;
}
