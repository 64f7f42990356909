/* Generic read-only walking of expressions and statements: the one walker every
 * analysis (feature extraction, codegen's questions, uses of a variable or a buffer)
 * builds on, beside the rewriting engine of mutate.c.
 *
 * te_visit_expr and te_visit_stmt visit a tree parents first. A callback sees each node
 * and answers whether to descend into its children, skip them, or stop the whole walk.
 * A callback that needs to act after the children (pop a loop off a stack) visits them
 * itself with te_visit_expr / te_visit_stmt and answers TE_VISIT_SKIP.
 *
 * Children, in the order they are visited: the operands of an operator, a select's
 * condition then its values, a call's and an intrinsic's arguments, the indices of an
 * access, a load or an address (load indices only when the visitor asks for them), a
 * reduction's source then its condition, a ramp's base then its stride; a statement's
 * expressions (only when there is an expression callback) before its statements. */
#include "te_internal.h"

static bool visit_exprs(int n, TsExpr *const *es, const TeVisitor *v)
{
    for (int i = 0; i < n; i++)
        if (te_visit_expr(es[i], v))
            return true;
    return false;
}

bool te_visit_children(const TsExpr *e, const TeVisitor *v)
{
    switch (e->kind) {
    case TE_INT: case TE_FLOAT: case TE_VAR:
        return false;
    case TE_ADD: case TE_SUB: case TE_MUL: case TE_DIV: case TE_MOD: case TE_FLOORDIV:
    case TE_FLOORMOD: case TE_MIN: case TE_MAX: case TE_EQ: case TE_NE: case TE_LT: case TE_LE:
    case TE_GT: case TE_GE: case TE_AND: case TE_OR: case TE_NOT: case TE_BITAND: case TE_BITOR:
    case TE_BITXOR: case TE_BITNOT: case TE_SHL: case TE_SHR: case TE_POPCOUNT:
        return te_visit_expr(e->u.op.a, v) || te_visit_expr(e->u.op.b, v);
    case TE_SELECT: case TE_IF_THEN_ELSE:
        return te_visit_expr(e->u.select.cond, v) || te_visit_expr(e->u.select.then_value, v) ||
               te_visit_expr(e->u.select.else_value, v);
    case TE_CAST: case TE_REINTERPRET:
        return te_visit_expr(e->u.cast.value, v);
    case TE_CALL:
        return visit_exprs(te_call_arity(e->u.call.fn), e->u.call.args, v);
    case TE_INTRINSIC:
        return visit_exprs(e->u.intrinsic.num_args, e->u.intrinsic.args, v);
    case TE_ACCESS:
        return visit_exprs(e->u.access.num_indices, e->u.access.indices, v);
    case TE_REDUCE:
        return te_visit_expr(e->u.reduce.source, v) || te_visit_expr(e->u.reduce.cond, v);
    case TE_LOAD:
        return !v->skip_load_indices && visit_exprs(e->u.load.num_indices, e->u.load.indices, v);
    case TE_ADDRESS:
        return visit_exprs(e->u.load.num_indices, e->u.load.indices, v);
    case TE_RAMP:
        return te_visit_expr(e->u.ramp.base, v) || te_visit_expr(e->u.ramp.stride, v);
    case TE_BROADCAST:
        return te_visit_expr(e->u.broadcast.value, v);
    case TE_NUM_EXPR_KINDS:
        break;
    }
    return false;
}

bool te_visit_expr(const TsExpr *e, const TeVisitor *v)
{
    if (!e)
        return false;
    TeVisit next = v->expr ? v->expr(v->ctx, e) : TE_VISIT_CHILDREN;
    switch (next) {
    case TE_VISIT_CHILDREN: return te_visit_children(e, v);
    case TE_VISIT_SKIP: return false;
    case TE_VISIT_STOP: return true;
    }
    return true;
}

/* The expressions of a statement, when the visitor looks at expressions. */
static bool visit_stmt_exprs(const TeStmt *s, const TeVisitor *v)
{
    if (!v->expr)
        return false;
    switch (s->kind) {
    case TE_STMT_FOR:
        return te_visit_expr(s->u.loop.min, v) || te_visit_expr(s->u.loop.extent, v);
    case TE_STMT_STORE:
        return visit_exprs(s->u.store.num_indices, s->u.store.indices, v) ||
               te_visit_expr(s->u.store.value, v) ||
               (s->u.store.mask && te_visit_expr(s->u.store.mask, v));
    case TE_STMT_IF:
        return te_visit_expr(s->u.if_then.cond, v);
    case TE_STMT_LET:
        return te_visit_expr(s->u.let.value, v);
    case TE_STMT_CALL:
        return visit_exprs(s->u.call.num_args, s->u.call.args, v);
    case TE_STMT_ALLOCATE: case TE_STMT_SEQ: case TE_STMT_TENSORIZE: case TE_NUM_STMT_KINDS:
        break;
    }
    return false;
}

bool te_visit_stmt_children(const TeStmt *s, const TeVisitor *v)
{
    if (visit_stmt_exprs(s, v))
        return true;
    switch (s->kind) {
    case TE_STMT_FOR:
        return te_visit_stmt(s->u.loop.body, v);
    case TE_STMT_ALLOCATE:
        return te_visit_stmt(s->u.allocate.body, v);
    case TE_STMT_IF:
        return te_visit_stmt(s->u.if_then.then_case, v) ||
               te_visit_stmt(s->u.if_then.else_case, v);
    case TE_STMT_LET:
        return te_visit_stmt(s->u.let.body, v);
    case TE_STMT_SEQ:
        for (int i = 0; i < s->u.seq.num_stmts; i++)
            if (te_visit_stmt(s->u.seq.stmts[i], v))
                return true;
        return false;
    case TE_STMT_TENSORIZE:
        return te_visit_stmt(s->u.tensorize.declared, v) ||
               te_visit_stmt(s->u.tensorize.code, v);
    case TE_STMT_STORE: case TE_STMT_CALL: case TE_NUM_STMT_KINDS:
        break;
    }
    return false;
}

bool te_visit_stmt(const TeStmt *s, const TeVisitor *v)
{
    if (!s)
        return false;
    TeVisit next = v->stmt ? v->stmt(v->ctx, s) : TE_VISIT_CHILDREN;
    switch (next) {
    case TE_VISIT_CHILDREN: return te_visit_stmt_children(s, v);
    case TE_VISIT_SKIP: return false;
    case TE_VISIT_STOP: return true;
    }
    return true;
}
