/* Outlining: a piece of a loop nest moved into an internal function of its own, which
 * gets as parameters what the piece uses of the enclosing scope (its captures: loop
 * and let variables, vector ones included, and buffer pointers, noalias as in the
 * compute function) after some leading parameters of the caller's choosing. Two users:
 *
 *   - parallel loops (parallel.c): the loop becomes a task the thread pool runs;
 *   - large sequences (cg_sequence here): a sequence holding more than LOOP_BUDGET loops
 *     is cut into parts of at most that many loops, each an outlined noinline function
 *     called in order. LLVM's loop passes cost time quadratic in the number of loops
 *     of one function (IndVarSimplify alone took 3.5 s for 1000 small loops, and a
 *     random schedule with an unroll pragma produced 8556), so a kernel stays a set of
 *     functions of bounded size, and compile time grows linearly with its size.
 *
 * An outlined function has the usual frame (llvm_util.c): it returns 0 or -1, has its
 * own local storage and error path; what the enclosing function knows of variable
 * ranges (for nsw) holds inside too. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg_internal.h"

enum { LOOP_BUDGET = 32 }; /* loops per function before a sequence is cut into parts */

/* ---- captures ---- */

static bool uses_var(int n, const TeStmt *const *stmts, const TsExpr *var)
{
    for (int i = 0; i < n; i++)
        if (te_stmt_uses_var(stmts[i], var))
            return true;
    return false;
}

static bool uses_buffer(int n, const TeStmt *const *stmts, const TeBuffer *buffer)
{
    for (int i = 0; i < n; i++)
        if (cg_stmt_uses_buffer(stmts[i], buffer))
            return true;
    return false;
}

static bool captured(const CgOutlined *o, const TsExpr *var, const TeBuffer *buffer)
{
    for (int i = 0; i < o->num_captures; i++)
        if ((var && o->captures[i].var == var) || (buffer && o->captures[i].buffer == buffer))
            return true;
    return false;
}

/* The innermost binding of every variable and buffer of f's scope the statements use. */
static bool collect_captures(CgFunc *f, int n, const TeStmt *const *stmts, CgOutlined *o)
{
    o->captures = malloc(sizeof *o->captures * (size_t)(f->num_vars + f->num_bufs + 1));
    if (!o->captures)
        return cg_fail(f->m, TS_ENOMEM, "%s: out of memory", f->kernel);
    for (int i = f->num_vars - 1; i >= 0; i--) {
        const CgVar *v = &f->vars[i];
        if (!captured(o, v->var, NULL) && uses_var(n, stmts, v->var))
            o->captures[o->num_captures++] = (CgCapture){ .var = v->var, .value = v->value };
    }
    for (int i = f->num_bufs - 1; i >= 0; i--) {
        const CgBuf *b = &f->bufs[i];
        if (!captured(o, NULL, b->buffer) && uses_buffer(n, stmts, b->buffer))
            o->captures[o->num_captures++] = (CgCapture){ .buffer = b->buffer, .value = b->ptr };
    }
    return true;
}

/* ---- the function ---- */

static bool declare(CgFunc *f, const char *prefix, int num_leading, const LLVMTypeRef *leading,
                    CgOutlined *o)
{
    CgModule *m = f->m;
    int n = num_leading + o->num_captures;
    LLVMTypeRef *params = malloc(sizeof *params * (size_t)(n + 1));
    if (!params)
        return cg_fail(m, TS_ENOMEM, "%s: out of memory", f->kernel);
    for (int i = 0; i < num_leading; i++)
        params[i] = leading[i];
    for (int i = 0; i < o->num_captures; i++)
        params[num_leading + i] = LLVMTypeOf(o->captures[i].value);
    o->num_leading = num_leading;
    o->fn_type = LLVMFunctionType(m->t_i32, params, (unsigned)n, false);
    free(params);
    char name[300];
    snprintf(name, sizeof name, "%s.%s.%d", prefix, f->kernel, m->num_outlined++);
    o->fn = LLVMAddFunction(m->mod, name, o->fn_type);
    LLVMSetLinkage(o->fn, LLVMInternalLinkage);
    unsigned noalias = LLVMGetEnumAttributeKindForName("noalias", 7);
    for (int i = 0; i < o->num_captures; i++)
        if (o->captures[i].buffer)
            LLVMAddAttributeAtIndex(o->fn, (unsigned)(num_leading + i + 1),
                                    LLVMCreateEnumAttribute(m->ctx, noalias, 0));
    cg_set_function_attributes(m, o->fn, m->vector_bits);
    return true;
}

/* Binds the captures to the parameters, copies f's ranges, and lets emit fill it. */
static bool fill(CgFunc *f, const CgOutlined *o, CgOutlineBody emit, void *ctx)
{
    CgFunc g;
    cg_func_begin(f->m, &g, o->fn, f->kernel);
    bool ok = true;
    for (int i = 0; ok && i < o->num_captures; i++) {
        LLVMValueRef p = LLVMGetParam(o->fn, (unsigned)(o->num_leading + i));
        const CgCapture *c = &o->captures[i];
        const char *name = c->var ? c->var->u.var.name : c->buffer->name;
        LLVMSetValueName2(p, name, strlen(name));
        ok = c->var ? cg_push_var(&g, c->var, p) : cg_push_buf(&g, c->buffer, p);
    }
    for (int i = 0; ok && i < f->num_ranges; i++) /* what is known outside holds inside */
        ok = cg_push_range(&g, f->ranges[i].var, f->ranges[i].min, f->ranges[i].max);
    ok = ok && emit(&g, ctx) && cg_func_end(&g);
    cg_func_dispose(&g);
    return ok;
}

bool cg_outline(CgFunc *f, int num_stmts, const TeStmt *const *stmts, const char *prefix,
                int num_leading, const LLVMTypeRef *leading, CgOutlineBody emit, void *ctx,
                CgOutlined *out)
{
    memset(out, 0, sizeof *out);
    return collect_captures(f, num_stmts, stmts, out) &&
           declare(f, prefix, num_leading, leading, out) && fill(f, out, emit, ctx);
}

void cg_outlined_free(CgOutlined *o)
{
    free(o->captures);
    memset(o, 0, sizeof *o);
}

/* ---- large sequences ---- */

typedef struct Part {
    int num_stmts;
    TeStmt *const *stmts;
} Part;

static bool emit_part(CgFunc *g, void *ctx)
{
    const Part *part = ctx;
    for (int i = 0; i < part->num_stmts; i++)
        if (!cg_stmt(g, part->stmts[i]))
            return false;
    return true;
}

/* Outlines the statements into a noinline function and calls it; its -1 is f's. */
static bool call_part(CgFunc *f, Part part)
{
    CgOutlined o;
    bool ok = cg_outline(f, part.num_stmts, (const TeStmt *const *)part.stmts, "ts_part", 0,
                         NULL, emit_part, &part, &o);
    if (ok) {
        unsigned noinline = LLVMGetEnumAttributeKindForName("noinline", 8);
        LLVMAddAttributeAtIndex(o.fn, LLVMAttributeFunctionIndex,
                                LLVMCreateEnumAttribute(f->m->ctx, noinline, 0));
        LLVMValueRef *args = malloc(sizeof *args * (size_t)(o.num_captures + 1));
        ok = args != NULL || cg_fail(f->m, TS_ENOMEM, "%s: out of memory", f->kernel);
        for (int i = 0; ok && i < o.num_captures; i++)
            args[i] = o.captures[i].value;
        LLVMValueRef rc = ok ? LLVMBuildCall2(f->b, o.fn_type, o.fn, args,
                                              (unsigned)o.num_captures, "")
                             : NULL;
        free(args);
        if (rc) {
            LLVMBasicBlockRef next = cg_block(f, "part_done");
            LLVMValueRef failed = LLVMBuildICmp(f->b, LLVMIntNE, rc, cg_i32(f->m, 0), "");
            cg_set_branch_weights(f->m, LLVMBuildCondBr(f->b, failed, f->error_block, next), 1,
                                  100000);
            LLVMPositionBuilderAtEnd(f->b, next);
        }
    }
    cg_outlined_free(&o);
    return ok;
}

bool cg_sequence(CgFunc *f, const TeStmt *s)
{
    int n = s->u.seq.num_stmts;
    TeStmt *const *stmts = s->u.seq.stmts;
    if (cg_count_loops(s) <= LOOP_BUDGET) {
        for (int i = 0; i < n; i++)
            if (!cg_stmt(f, stmts[i]))
                return false;
        return true;
    }
    /* Parts of consecutive statements of at most LOOP_BUDGET loops (a statement with
     * more is a part of its own, cut further inside). */
    for (int first = 0; first < n;) {
        int last = first, loops = cg_count_loops(stmts[first]);
        while (last + 1 < n && loops + cg_count_loops(stmts[last + 1]) <= LOOP_BUDGET)
            loops += cg_count_loops(stmts[++last]);
        Part part = { last - first + 1, stmts + first };
        if (!(loops == 0 ? emit_part(f, &part) : call_part(f, part)))
            return false;
        first = last + 1;
    }
    return true;
}
