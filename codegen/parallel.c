/* Parallel loops: a loop marked parallel is outlined into a task that the runtime's
 * thread pool runs (DESIGN.md, "Parallel loops"); generated code never makes threads.
 *
 * For a loop `parallel (v, min, extent) body` inside function F, codegen emits
 *   - a closure struct {min, extent, captures...} on F's stack, where the captures are
 *     the variables (loop variables, lets, vector lets) and buffer pointers of F's scope
 *     that body uses;
 *   - ts_task_body.<kernel>.<n>(task_id, num_tasks, min, extent, captures...), outlined
 *     (outline.c): runs the
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

enum {
    LEADING = 4,     /* task_id, num_tasks, min, extent: the body's first parameters */
    FIXED_FIELDS = 2 /* min, extent: the closure's first fields */
};

/* ---- the body: one task's chunk of the iterations ---- */

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

static bool emit_chunk(CgFunc *g, void *ctx)
{
    const TeStmt *loop = ctx;
    int64_t lo;
    TeRange range;
    bool bounded = cg_loop_range(loop, &range);
    LLVMValueRef min = te_const_int(loop->u.loop.min, &lo) ? cg_i32(g->m, lo)
                                                          : LLVMGetParam(g->fn, 2);
    LLVMValueRef begin, end;
    task_range(g, LLVMGetParam(g->fn, 3), &begin, &end);
    return cg_serial_loop(g, loop->u.loop.var, min, begin, end, bounded ? &range : NULL,
                          emit_iteration, (void *)loop);
}

/* ---- the task and the launch ---- */

/* The closure's type: {min, extent, captures...}. */
static LLVMTypeRef closure_type(CgModule *m, const CgOutlined *o)
{
    int n = FIXED_FIELDS + o->num_captures;
    LLVMTypeRef *fields = malloc(sizeof *fields * (size_t)n);
    if (!fields)
        return NULL;
    fields[0] = fields[1] = m->t_i32;
    for (int i = 0; i < o->num_captures; i++)
        fields[FIXED_FIELDS + i] = LLVMTypeOf(o->captures[i].value);
    LLVMTypeRef type = LLVMStructTypeInContext(m->ctx, fields, (unsigned)n, false);
    free(fields);
    return type;
}

/* The TsParallelTask ts_task.<kernel>.<n>(task_id, num_tasks, closure): unpacks the
 * closure and calls the body. */
static LLVMValueRef build_task(CgFunc *f, const CgOutlined *o, LLVMTypeRef closure)
{
    CgModule *m = f->m;
    int n = FIXED_FIELDS + o->num_captures;
    LLVMValueRef *args = malloc(sizeof *args * (size_t)(n + 2));
    if (!args) {
        cg_fail(m, TS_ENOMEM, "%s: out of memory", f->kernel);
        return NULL;
    }
    LLVMTypeRef params[] = { m->t_i32, m->t_i32, m->t_ptr };
    char name[300];
    snprintf(name, sizeof name, "ts_task.%s.%d", f->kernel, m->num_outlined++);
    LLVMValueRef task = LLVMAddFunction(m->mod, name, LLVMFunctionType(m->t_i32, params, 3, 0));
    LLVMSetLinkage(task, LLVMInternalLinkage);
    cg_set_function_attributes(m, task, m->vector_bits);
    LLVMBuilderRef b = LLVMCreateBuilderInContext(m->ctx);
    LLVMPositionBuilderAtEnd(b, LLVMAppendBasicBlockInContext(m->ctx, task, "entry"));
    args[0] = LLVMGetParam(task, 0);
    args[1] = LLVMGetParam(task, 1);
    for (int i = 0; i < n; i++) {
        LLVMValueRef field = LLVMBuildStructGEP2(b, closure, LLVMGetParam(task, 2), (unsigned)i,
                                                 "");
        args[2 + i] = LLVMBuildLoad2(b, LLVMStructGetTypeAtIndex(closure, (unsigned)i), field,
                                     "");
    }
    LLVMBuildRet(b, LLVMBuildCall2(b, o->fn_type, o->fn, args, (unsigned)n + 2, ""));
    LLVMDisposeBuilder(b);
    free(args);
    return task;
}

/* Fills the closure, launches the tasks, and makes f fail when a task failed. */
static bool launch(CgFunc *f, const CgOutlined *o, LLVMValueRef min, LLVMValueRef extent)
{
    CgModule *m = f->m;
    LLVMTypeRef type = closure_type(m, o);
    LLVMValueRef task = type ? build_task(f, o, type) : NULL;
    if (!task)
        return cg_fail(m, TS_ENOMEM, "%s: out of memory", f->kernel);
    LLVMBasicBlockRef here = LLVMGetInsertBlock(f->b);
    LLVMPositionBuilderAtEnd(f->b, f->entry_block);
    LLVMValueRef closure = LLVMBuildAlloca(f->b, type, "closure");
    LLVMPositionBuilderAtEnd(f->b, here);
    LLVMValueRef fixed[FIXED_FIELDS] = { min, extent };
    for (int i = 0; i < FIXED_FIELDS + o->num_captures; i++) {
        LLVMValueRef v = i < FIXED_FIELDS ? fixed[i] : o->captures[i - FIXED_FIELDS].value;
        LLVMBuildStore(f->b, v, LLVMBuildStructGEP2(f->b, type, closure, (unsigned)i, ""));
    }
    LLVMValueRef threads = cg_call(f, m->num_threads, 0, NULL);
    LLVMTypeRef i32 = m->t_i32;
    LLVMValueRef tasks = cg_intrinsic(f, "llvm.smin", 1, &i32, 2,
                                      (LLVMValueRef[]){ threads, extent });
    tasks = tasks ? cg_intrinsic(f, "llvm.smax", 1, &i32, 2,
                                 (LLVMValueRef[]){ tasks, cg_i32(m, 1) }) : NULL;
    if (!tasks)
        return false;
    LLVMValueRef args[] = { task, closure, tasks };
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
    LLVMTypeRef leading[LEADING] = { f->m->t_i32, f->m->t_i32, f->m->t_i32, f->m->t_i32 };
    const TeStmt *body = loop->u.loop.body;
    CgOutlined o;
    bool ok = cg_outline(f, 1, &body, "ts_task_body", LEADING, leading, emit_chunk,
                         (void *)loop, &o) &&
              launch(f, &o, min, extent);
    cg_outlined_free(&o);
    return ok;
}
