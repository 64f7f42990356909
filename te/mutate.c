/* Generic rewriting of expressions and statements, the engine under substitution,
 * inlining and every loop pass.
 *
 * te_mutate_expr and te_mutate_stmt rebuild a tree bottom-up. A callback sees each node
 * first and may return a replacement (which is not visited further); otherwise the
 * children are rewritten and the node is rebuilt only if a child changed, so a rewrite
 * that changes nothing returns the very same pointer (Halide's same_as) and costs no
 * memory. Rebuilt nodes keep their kind and dtype: the callbacks are responsible for
 * replacing a node by one of the same dtype, except where noted (vectorization builds
 * its own nodes). */
#include <string.h>

#include "te_internal.h"

TsExpr te_mutate_failed_expr;
TeStmt te_mutate_failed_stmt;

static TsExpr *clone_expr(TsArena *arena, const TsExpr *e)
{
    TsExpr *copy = ts_arena_alloc(arena, sizeof *copy);
    if (copy)
        *copy = *e;
    return copy;
}

static TsExpr **mutate_list(TsArena *arena, int n, TsExpr **items, const TeMutator *m,
                            bool *changed, bool *failed)
{
    TsExpr **out = items;
    for (int i = 0; i < n; i++) {
        TsExpr *x = te_mutate_expr(arena, items[i], m);
        if (!x) {
            *failed = true;
            return NULL;
        }
        if (x != items[i] && out == items) {
            out = ts_arena_alloc(arena, sizeof *out * (size_t)n);
            if (!out) {
                *failed = true;
                return NULL;
            }
            memcpy(out, items, sizeof *out * (size_t)n);
        }
        out[i] = x;
    }
    *changed = *changed || out != items;
    return out;
}

/* Rewrites one child slot; returns false when the rewrite failed. */
static bool child(TsArena *arena, TsExpr **slot, const TeMutator *m, bool *changed)
{
    if (!*slot)
        return true;
    TsExpr *x = te_mutate_expr(arena, *slot, m);
    if (!x)
        return false;
    if (x != *slot) {
        *slot = x;
        *changed = true;
    }
    return true;
}

TsExpr *te_mutate_expr(TsArena *arena, TsExpr *e, const TeMutator *m)
{
    if (!e)
        return NULL;
    if (m->expr) {
        TsExpr *replaced = m->expr(m->ctx, arena, e);
        if (replaced)
            return replaced == TE_MUTATE_FAILED ? NULL : replaced;
    }
    TsExpr n = *e; /* the node with rewritten children, copied out if any changed */
    bool changed = false, failed = false;
    switch (e->kind) {
    case TE_INT:
    case TE_FLOAT:
    case TE_VAR:
        return e;
    case TE_ADD: case TE_SUB: case TE_MUL: case TE_DIV: case TE_MOD: case TE_FLOORDIV:
    case TE_FLOORMOD: case TE_MIN: case TE_MAX: case TE_EQ: case TE_NE: case TE_LT: case TE_LE:
    case TE_GT: case TE_GE: case TE_AND: case TE_OR: case TE_NOT: case TE_BITAND: case TE_BITOR:
    case TE_BITXOR: case TE_BITNOT: case TE_SHL: case TE_SHR: case TE_POPCOUNT:
        failed = !child(arena, &n.u.op.a, m, &changed) || !child(arena, &n.u.op.b, m, &changed);
        break;
    case TE_SELECT:
    case TE_IF_THEN_ELSE:
        failed = !child(arena, &n.u.select.cond, m, &changed) ||
                 !child(arena, &n.u.select.then_value, m, &changed) ||
                 !child(arena, &n.u.select.else_value, m, &changed);
        break;
    case TE_CAST:
    case TE_REINTERPRET:
        failed = !child(arena, &n.u.cast.value, m, &changed);
        break;
    case TE_INTRINSIC:
        n.u.intrinsic.args = mutate_list(arena, e->u.intrinsic.num_args, e->u.intrinsic.args,
                                         m, &changed, &failed);
        break;
    case TE_CALL:
        failed = !child(arena, &n.u.call.args[0], m, &changed) ||
                 !child(arena, &n.u.call.args[1], m, &changed);
        break;
    case TE_ACCESS:
        n.u.access.indices = mutate_list(arena, e->u.access.num_indices, e->u.access.indices, m,
                                         &changed, &failed);
        break;
    case TE_REDUCE:
        failed = !child(arena, &n.u.reduce.source, m, &changed) ||
                 !child(arena, &n.u.reduce.cond, m, &changed);
        break;
    case TE_LOAD:
    case TE_ADDRESS:
        n.u.load.indices = mutate_list(arena, e->u.load.num_indices, e->u.load.indices, m,
                                       &changed, &failed);
        break;
    case TE_RAMP:
        failed = !child(arena, &n.u.ramp.base, m, &changed) ||
                 !child(arena, &n.u.ramp.stride, m, &changed);
        break;
    case TE_BROADCAST:
        failed = !child(arena, &n.u.broadcast.value, m, &changed);
        break;
    case TE_NUM_EXPR_KINDS:
        return e;
    }
    if (failed)
        return NULL;
    return changed ? clone_expr(arena, &n) : e;
}

TeStmt *te_mutate_stmt(TsArena *arena, TeStmt *s, const TeMutator *m)
{
    if (!s)
        return NULL;
    if (m->stmt) {
        TeStmt *replaced = m->stmt(m->ctx, arena, s);
        if (replaced)
            return replaced == TE_MUTATE_STMT_FAILED ? NULL : replaced;
    }
    TeStmt n = *s;
    bool changed = false, failed = false;
    switch (s->kind) {
    case TE_STMT_FOR:
        failed = !child(arena, &n.u.loop.min, m, &changed) ||
                 !child(arena, &n.u.loop.extent, m, &changed);
        if (!failed) {
            n.u.loop.body = te_mutate_stmt(arena, s->u.loop.body, m);
            failed = !n.u.loop.body;
        }
        changed = changed || n.u.loop.body != s->u.loop.body;
        break;
    case TE_STMT_STORE:
        n.u.store.indices = mutate_list(arena, s->u.store.num_indices, s->u.store.indices, m,
                                        &changed, &failed);
        failed = failed || !child(arena, &n.u.store.value, m, &changed);
        failed = failed || (s->u.store.mask && !child(arena, &n.u.store.mask, m, &changed));
        break;
    case TE_STMT_ALLOCATE:
        n.u.allocate.body = te_mutate_stmt(arena, s->u.allocate.body, m);
        failed = !n.u.allocate.body;
        changed = n.u.allocate.body != s->u.allocate.body;
        break;
    case TE_STMT_IF:
        failed = !child(arena, &n.u.if_then.cond, m, &changed);
        if (!failed) {
            n.u.if_then.then_case = te_mutate_stmt(arena, s->u.if_then.then_case, m);
            n.u.if_then.else_case = s->u.if_then.else_case
                                        ? te_mutate_stmt(arena, s->u.if_then.else_case, m)
                                        : NULL;
            failed = !n.u.if_then.then_case ||
                     (s->u.if_then.else_case && !n.u.if_then.else_case);
        }
        changed = changed || n.u.if_then.then_case != s->u.if_then.then_case ||
                  n.u.if_then.else_case != s->u.if_then.else_case;
        break;
    case TE_STMT_LET:
        failed = !child(arena, &n.u.let.value, m, &changed);
        if (!failed) {
            n.u.let.body = te_mutate_stmt(arena, s->u.let.body, m);
            failed = !n.u.let.body;
        }
        changed = changed || n.u.let.body != s->u.let.body;
        break;
    case TE_STMT_SEQ: {
        TeStmt **items = s->u.seq.stmts;
        for (int i = 0; i < s->u.seq.num_stmts && !failed; i++) {
            TeStmt *x = te_mutate_stmt(arena, s->u.seq.stmts[i], m);
            if (!x) {
                failed = true;
                break;
            }
            if (x != s->u.seq.stmts[i] && items == s->u.seq.stmts) {
                items = ts_arena_alloc(arena, sizeof *items * (size_t)s->u.seq.num_stmts);
                if (!items)
                    return NULL;
                memcpy(items, s->u.seq.stmts, sizeof *items * (size_t)s->u.seq.num_stmts);
            }
            items[i] = x;
        }
        if (failed)
            return NULL;
        /* Rebuild through te_seq so that nested sequences stay flat. */
        return items == s->u.seq.stmts ? s : te_seq(arena, s->u.seq.num_stmts, items);
    }
    case TE_STMT_CALL:
        n.u.call.args = mutate_list(arena, s->u.call.num_args, s->u.call.args, m, &changed,
                                    &failed);
        break;
    case TE_STMT_TENSORIZE:
        n.u.tensorize.declared = te_mutate_stmt(arena, s->u.tensorize.declared, m);
        n.u.tensorize.code =
            n.u.tensorize.declared ? te_mutate_stmt(arena, s->u.tensorize.code, m) : NULL;
        failed = !n.u.tensorize.code;
        changed = n.u.tensorize.declared != s->u.tensorize.declared ||
                  n.u.tensorize.code != s->u.tensorize.code;
        break;
    case TE_NUM_STMT_KINDS:
        return s;
    }
    if (failed)
        return NULL;
    if (!changed)
        return s;
    TeStmt *copy = ts_arena_alloc(arena, sizeof *copy);
    if (copy)
        *copy = n;
    return copy;
}

/* ---- substitution ---- */

typedef struct {
    int n;
    const TsExpr *const *vars;
    TsExpr *const *values;
} Substitution;

static TsExpr *substitute_var(void *ctx, TsArena *arena, TsExpr *e)
{
    const Substitution *sub = ctx;
    (void)arena;
    if (e->kind != TE_VAR)
        return NULL;
    for (int i = 0; i < sub->n; i++)
        if (sub->vars[i] == e)
            return sub->values[i];
    return e;
}

TsExpr *te_substitute(TsArena *arena, TsExpr *e, int n, const TsExpr *const *vars,
                      TsExpr *const *values)
{
    Substitution sub = { n, vars, values };
    TeMutator m = { .expr = substitute_var, .ctx = &sub };
    return te_mutate_expr(arena, e, &m);
}

TeStmt *te_substitute_stmt(TsArena *arena, TeStmt *s, int n, const TsExpr *const *vars,
                           TsExpr *const *values)
{
    Substitution sub = { n, vars, values };
    TeMutator m = { .expr = substitute_var, .ctx = &sub };
    return te_mutate_stmt(arena, s, &m);
}

/* ---- queries ---- */

static TeVisit find_var(void *ctx, const TsExpr *e)
{
    return e == *(const TsExpr **)ctx ? TE_VISIT_STOP : TE_VISIT_CHILDREN;
}

bool te_expr_uses_var(const TsExpr *e, const TsExpr *var)
{
    TeVisitor v = { .expr = find_var, .ctx = &var };
    return te_visit_expr(e, &v);
}

bool te_stmt_uses_var(const TeStmt *s, const TsExpr *var)
{
    TeVisitor v = { .expr = find_var, .ctx = &var };
    return te_visit_stmt(s, &v);
}
