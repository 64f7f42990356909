/* Questions codegen asks about a loop nest before it emits code: how wide the widest
 * vector is (the preferred vector width of the function), how many loops a statement
 * holds (when to cut it into functions), which buffers a statement touches (what a parallel loop's closure must carry, which arguments a kernel writes),
 * and whether an expression can fail or read memory (what must stay lazy). Each question
 * is a visitor of te/visit.c, the one walker of the IR. */
#include "cg_internal.h"

/* ---- the questions ---- */

bool cg_const_operand(const TsExpr *e, int64_t *value)
{
    if (e->kind == TE_BROADCAST)
        e = e->u.broadcast.value;
    return te_const_int(e, value);
}

static TeVisit note_width(void *ctx, const TsExpr *e)
{
    int *widest = ctx;
    if (e->dtype.lanes > 1) {
        int bits = e->dtype.lanes * (ts_dtype_is_bool(e->dtype) ? 8 : e->dtype.bits);
        *widest = bits > *widest ? bits : *widest;
    }
    return TE_VISIT_CHILDREN;
}

int cg_widest_vector_bits(const TeStmt *s)
{
    int widest = 0;
    TeVisitor v = { .expr = note_width, .ctx = &widest };
    te_visit_stmt(s, &v);
    return widest;
}

/* A tensorized region counts the loops of the code emitted for it, not those of its
 * declared form (which codegen never emits): a register block of 16 intrinsic sites is
 * not cut into parts, which would pass its accumulators through memory. */
static TeVisit count_loop(void *ctx, const TeStmt *s)
{
    if (s->kind == TE_STMT_TENSORIZE) {
        *(int *)ctx += s->u.tensorize.code ? cg_count_loops(s->u.tensorize.code) : 0;
        return TE_VISIT_SKIP;
    }
    *(int *)ctx += s->kind == TE_STMT_FOR;
    return TE_VISIT_CHILDREN;
}

int cg_count_loops(const TeStmt *s)
{
    int count = 0;
    TeVisitor v = { .stmt = count_loop, .ctx = &count };
    te_visit_stmt(s, &v);
    return count;
}

static TeVisit is_address_of(void *ctx, const TsExpr *e)
{
    return e->kind == TE_ADDRESS && e->u.load.buffer == ctx ? TE_VISIT_STOP : TE_VISIT_CHILDREN;
}

/* A store to the buffer, or an intrinsic call statement given its address (which may
 * write through it). */
static TeVisit is_store_to(void *ctx, const TeStmt *s)
{
    if (s->kind == TE_STMT_STORE && s->u.store.buffer == ctx)
        return TE_VISIT_STOP;
    if (s->kind == TE_STMT_CALL) {
        TeVisitor v = { .expr = is_address_of, .ctx = ctx };
        for (int i = 0; i < s->u.call.num_args; i++)
            if (te_visit_expr(s->u.call.args[i], &v))
                return TE_VISIT_STOP;
    }
    return TE_VISIT_CHILDREN;
}

bool cg_stmt_stores(const TeStmt *s, const TeBuffer *buffer)
{
    TeVisitor v = { .stmt = is_store_to, .ctx = (void *)buffer };
    return te_visit_stmt(s, &v);
}

static TeVisit is_access_of(void *ctx, const TsExpr *e)
{
    bool access = e->kind == TE_LOAD || e->kind == TE_ADDRESS;
    return access && e->u.load.buffer == ctx ? TE_VISIT_STOP : TE_VISIT_CHILDREN;
}

bool cg_stmt_uses_buffer(const TeStmt *s, const TeBuffer *buffer)
{
    TeVisitor v = { .expr = is_access_of, .stmt = is_store_to, .ctx = (void *)buffer };
    return te_visit_stmt(s, &v);
}

/* A load, an integer division or remainder whose divisor is not a non-zero constant
 * other than -1, or a shift whose amount is not a constant. */
static TeVisit can_fail(void *ctx, const TsExpr *e)
{
    int64_t c;
    bool found = false;
    (void)ctx;
    switch (e->kind) {
    case TE_LOAD:
    case TE_INTRINSIC: /* opaque: it may read memory */
        found = true;
        break;
    case TE_DIV: case TE_MOD: case TE_FLOORDIV: case TE_FLOORMOD:
        found = ts_dtype_is_int(e->dtype) &&
                !(cg_const_operand(e->u.op.b, &c) && c != 0 && c != -1);
        break;
    case TE_SHL: case TE_SHR:
        found = !(cg_const_operand(e->u.op.b, &c) && c >= 0 && c < e->dtype.bits);
        break;
    case TE_INT: case TE_FLOAT: case TE_VAR: case TE_ADD: case TE_SUB: case TE_MUL: case TE_MIN:
    case TE_MAX: case TE_EQ: case TE_NE: case TE_LT: case TE_LE: case TE_GT: case TE_GE:
    case TE_AND: case TE_OR: case TE_NOT: case TE_BITAND: case TE_BITOR: case TE_BITXOR:
    case TE_BITNOT: case TE_POPCOUNT: case TE_SELECT: case TE_IF_THEN_ELSE: case TE_CAST:
    case TE_CALL: case TE_ACCESS: case TE_REDUCE: case TE_RAMP: case TE_BROADCAST:
    case TE_REINTERPRET: case TE_ADDRESS: case TE_NUM_EXPR_KINDS:
        break;
    }
    return found ? TE_VISIT_STOP : TE_VISIT_CHILDREN;
}

bool cg_expr_may_fail(const TsExpr *e)
{
    TeVisitor v = { .expr = can_fail };
    return te_visit_expr(e, &v);
}
