/* Questions codegen asks about a loop nest before it emits code: how wide the widest
 * vector is (the preferred vector width of the function), how many loops a statement
 * holds (when to cut it into functions), which buffers a statement touches (what a parallel loop's closure must carry, which arguments a kernel writes),
 * and whether an expression can fail or read memory (what must stay lazy). One walker
 * visits every node; each question is a visitor. */
#include "cg_internal.h"

typedef struct Walk Walk;
struct Walk {
    /* Called on every expression and statement, parents first; return true to stop. */
    bool (*expr)(Walk *w, const TsExpr *e);
    bool (*stmt)(Walk *w, const TeStmt *s);
    const TeBuffer *buffer; /* the buffer asked about */
    int widest;             /* the widest vector seen, in bits */
    int count;              /* loops seen */
    bool found;
};

static bool walk_expr(Walk *w, const TsExpr *e);

static bool walk_exprs(Walk *w, int n, TsExpr *const *es)
{
    for (int i = 0; i < n; i++)
        if (es[i] && walk_expr(w, es[i]))
            return true;
    return false;
}

/* The children of e, in a small array: at most three, or an access's indices. */
static bool walk_children(Walk *w, const TsExpr *e)
{
    switch (e->kind) {
    case TE_INT: case TE_FLOAT: case TE_VAR:
        return false;
    case TE_ADD: case TE_SUB: case TE_MUL: case TE_DIV: case TE_MOD: case TE_FLOORDIV:
    case TE_FLOORMOD: case TE_MIN: case TE_MAX: case TE_EQ: case TE_NE: case TE_LT: case TE_LE:
    case TE_GT: case TE_GE: case TE_AND: case TE_OR: case TE_NOT: case TE_BITAND:
    case TE_BITOR: case TE_BITXOR: case TE_BITNOT: case TE_SHL: case TE_SHR: case TE_POPCOUNT:
        return walk_exprs(w, 2, (TsExpr *const[]){ e->u.op.a, e->u.op.b });
    case TE_SELECT: case TE_IF_THEN_ELSE:
        return walk_exprs(w, 3, (TsExpr *const[]){ e->u.select.cond, e->u.select.then_value,
                                                   e->u.select.else_value });
    case TE_CAST:
        return walk_expr(w, e->u.cast.value);
    case TE_CALL:
        return walk_exprs(w, 2, e->u.call.args);
    case TE_ACCESS:
        return walk_exprs(w, e->u.access.num_indices, e->u.access.indices);
    case TE_REDUCE:
        return walk_exprs(w, 2, (TsExpr *const[]){ e->u.reduce.source, e->u.reduce.cond });
    case TE_LOAD:
        return walk_exprs(w, e->u.load.num_indices, e->u.load.indices);
    case TE_RAMP:
        return walk_exprs(w, 2, (TsExpr *const[]){ e->u.ramp.base, e->u.ramp.stride });
    case TE_BROADCAST:
        return walk_expr(w, e->u.broadcast.value);
    case TE_NUM_EXPR_KINDS:
        break;
    }
    return false;
}

static bool walk_expr(Walk *w, const TsExpr *e)
{
    if (w->expr && w->expr(w, e))
        return true;
    return walk_children(w, e);
}

static bool walk_stmt(Walk *w, const TeStmt *s)
{
    if (!s)
        return false;
    if (w->stmt && w->stmt(w, s))
        return true;
    switch (s->kind) {
    case TE_STMT_FOR:
        return walk_exprs(w, 2, (TsExpr *const[]){ s->u.loop.min, s->u.loop.extent }) ||
               walk_stmt(w, s->u.loop.body);
    case TE_STMT_STORE:
        return walk_exprs(w, s->u.store.num_indices, s->u.store.indices) ||
               walk_expr(w, s->u.store.value);
    case TE_STMT_ALLOCATE:
        return walk_stmt(w, s->u.allocate.body);
    case TE_STMT_IF:
        return walk_expr(w, s->u.if_then.cond) || walk_stmt(w, s->u.if_then.then_case) ||
               walk_stmt(w, s->u.if_then.else_case);
    case TE_STMT_LET:
        return walk_expr(w, s->u.let.value) || walk_stmt(w, s->u.let.body);
    case TE_STMT_SEQ:
        for (int i = 0; i < s->u.seq.num_stmts; i++)
            if (walk_stmt(w, s->u.seq.stmts[i]))
                return true;
        return false;
    case TE_NUM_STMT_KINDS:
        break;
    }
    return false;
}

/* ---- the questions ---- */

bool cg_const_operand(const TsExpr *e, int64_t *value)
{
    if (e->kind == TE_BROADCAST)
        e = e->u.broadcast.value;
    return te_const_int(e, value);
}

static bool note_width(Walk *w, const TsExpr *e)
{
    if (e->dtype.lanes > 1) {
        int bits = e->dtype.lanes * (ts_dtype_is_bool(e->dtype) ? 8 : e->dtype.bits);
        w->widest = bits > w->widest ? bits : w->widest;
    }
    return false;
}

int cg_widest_vector_bits(const TeStmt *s)
{
    Walk w = { .expr = note_width };
    walk_stmt(&w, s);
    return w.widest;
}

static bool count_loop(Walk *w, const TeStmt *s)
{
    w->count += s->kind == TE_STMT_FOR;
    return false;
}

int cg_count_loops(const TeStmt *s)
{
    Walk w = { .stmt = count_loop };
    walk_stmt(&w, s);
    return w.count;
}

static bool is_store_to(Walk *w, const TeStmt *s)
{
    w->found = s->kind == TE_STMT_STORE && s->u.store.buffer == w->buffer;
    return w->found;
}

bool cg_stmt_stores(const TeStmt *s, const TeBuffer *buffer)
{
    Walk w = { .stmt = is_store_to, .buffer = buffer };
    walk_stmt(&w, s);
    return w.found;
}

static bool is_load_of(Walk *w, const TsExpr *e)
{
    w->found = e->kind == TE_LOAD && e->u.load.buffer == w->buffer;
    return w->found;
}

bool cg_stmt_uses_buffer(const TeStmt *s, const TeBuffer *buffer)
{
    Walk w = { .expr = is_load_of, .stmt = is_store_to, .buffer = buffer };
    walk_stmt(&w, s);
    return w.found;
}

/* A load, an integer division or remainder whose divisor is not a non-zero constant
 * other than -1, or a shift whose amount is not a constant. */
static bool can_fail(Walk *w, const TsExpr *e)
{
    int64_t c;
    switch (e->kind) {
    case TE_LOAD:
        w->found = true;
        break;
    case TE_DIV: case TE_MOD: case TE_FLOORDIV: case TE_FLOORMOD:
        w->found = ts_dtype_is_int(e->dtype) &&
                   !(cg_const_operand(e->u.op.b, &c) && c != 0 && c != -1);
        break;
    case TE_SHL: case TE_SHR:
        w->found = !(cg_const_operand(e->u.op.b, &c) && c >= 0 && c < e->dtype.bits);
        break;
    case TE_INT: case TE_FLOAT: case TE_VAR: case TE_ADD: case TE_SUB: case TE_MUL: case TE_MIN:
    case TE_MAX: case TE_EQ: case TE_NE: case TE_LT: case TE_LE: case TE_GT: case TE_GE:
    case TE_AND: case TE_OR: case TE_NOT: case TE_BITAND: case TE_BITOR: case TE_BITXOR:
    case TE_BITNOT: case TE_POPCOUNT: case TE_SELECT: case TE_IF_THEN_ELSE: case TE_CAST:
    case TE_CALL: case TE_ACCESS: case TE_REDUCE: case TE_RAMP: case TE_BROADCAST:
    case TE_NUM_EXPR_KINDS:
        break;
    }
    return w->found;
}

bool cg_expr_may_fail(const TsExpr *e)
{
    Walk w = { .expr = can_fail };
    walk_expr(&w, e);
    return w.found;
}
