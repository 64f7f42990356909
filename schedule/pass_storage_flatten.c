/* Storage flattening, the loop pass between loop partition and vectorize (pipeline.c):
 * every multi-dimensional load and store becomes a flat one whose single int32 index,
 * in elements, is sum(index_d * strides[d]). The buffers keep their shape and strides,
 * so padding that storage_align put into a stride is honoured here and an allocation
 * still reserves num_elements, padding included. After this pass vectorize, unroll and
 * storage rewrite see flat accesses only.
 *
 * Vector indices keep their ramp form wherever they can, because codegen turns
 * ramp(base, stride, n) into one contiguous or strided vector access: a dimension
 * indexed by ramp(b, s, n) contributes ramp(b * stride, s * stride, n), a broadcast
 * contributes a broadcast, and scalar terms fold into a ramp's base. Only a general
 * vector index (a gather through loaded indices) is scaled and summed lane-wise. The
 * pass also works after vectorize, so either order of the two gives ramp indices.
 *
 * The index is built in dimension order, outermost first, with int32 constants folded
 * and multiplications by 1 and additions of 0 left out, so A[i, j] of a 16-column
 * buffer prints as A[((i * 16) + j)]. */
#include "sch_internal.h"

/* a + b on int32 scalars, folding constants and zeros. */
static TsExpr *fold_add(TsArena *arena, TsExpr *a, TsExpr *b)
{
    int64_t x, y;
    bool a_const = te_const_int(a, &x), b_const = te_const_int(b, &y);
    if (a_const && b_const)
        return ts_i32(arena, te_wrap_int(TS_INT32, x + y));
    if (a_const && x == 0)
        return b;
    if (b_const && y == 0)
        return a;
    return ts_add(arena, a, b);
}

/* a * c on an int32 scalar and a stride, folding constants and the factor 1. */
static TsExpr *fold_scale(TsArena *arena, TsExpr *a, int64_t c)
{
    int64_t x;
    if (te_const_int(a, &x))
        return ts_i32(arena, te_wrap_int(TS_INT32, x * c));
    if (c == 1)
        return a;
    return ts_mul(arena, a, ts_i32(arena, c));
}

/* index * stride for one dimension's index, scalar or vector. */
static TsExpr *scale_index(TsArena *arena, TsExpr *index, int64_t stride)
{
    if (index->dtype.lanes == 1)
        return fold_scale(arena, index, stride);
    if (index->kind == TE_RAMP)
        return te_ramp(arena, fold_scale(arena, index->u.ramp.base, stride),
                       fold_scale(arena, index->u.ramp.stride, stride), index->u.ramp.lanes);
    if (index->kind == TE_BROADCAST)
        return te_broadcast(arena, fold_scale(arena, index->u.broadcast.value, stride),
                            index->u.broadcast.lanes);
    if (stride == 1)
        return index;
    return ts_mul(arena, index, te_broadcast(arena, ts_i32(arena, stride), index->dtype.lanes));
}

/* The scalar a vector term stands for in every lane, or NULL when the lanes differ. */
static TsExpr *uniform_value(TsExpr *e)
{
    if (e->dtype.lanes == 1)
        return e;
    if (e->kind == TE_BROADCAST)
        return e->u.broadcast.value;
    return NULL;
}

/* sum + term, keeping ramps and broadcasts in their closed form. */
static TsExpr *add_term(TsArena *arena, TsExpr *sum, TsExpr *term)
{
    if (sum->dtype.lanes == 1 && term->dtype.lanes == 1)
        return fold_add(arena, sum, term);
    if (sum->kind == TE_RAMP && term->kind == TE_RAMP)
        return te_ramp(arena, fold_add(arena, sum->u.ramp.base, term->u.ramp.base),
                       fold_add(arena, sum->u.ramp.stride, term->u.ramp.stride),
                       sum->u.ramp.lanes);
    TsExpr *sum_value = uniform_value(sum), *term_value = uniform_value(term);
    if (sum->kind == TE_RAMP && term_value)
        return te_ramp(arena, fold_add(arena, sum->u.ramp.base, term_value), sum->u.ramp.stride,
                       sum->u.ramp.lanes);
    if (term->kind == TE_RAMP && sum_value)
        return te_ramp(arena, fold_add(arena, sum_value, term->u.ramp.base),
                       term->u.ramp.stride, term->u.ramp.lanes);
    int lanes = sum->dtype.lanes > 1 ? sum->dtype.lanes : term->dtype.lanes;
    if (sum_value && term_value)
        return te_broadcast(arena, fold_add(arena, sum_value, term_value), lanes);
    /* A general vector: lane-wise, with the scalar side broadcast. */
    if (sum->dtype.lanes == 1)
        sum = te_broadcast(arena, sum, lanes);
    if (term->dtype.lanes == 1)
        term = te_broadcast(arena, term, lanes);
    return ts_add(arena, sum, term);
}

/* Whether the + - * tree of e has a floordiv or / (when want_quotient) or a floormod or
 * % among its leaves. */
static bool has_division_leaf(const TsExpr *e, bool want_quotient)
{
    if (e->kind == TE_ADD || e->kind == TE_SUB || e->kind == TE_MUL)
        return has_division_leaf(e->u.op.a, want_quotient) ||
               has_division_leaf(e->u.op.b, want_quotient);
    if (e->kind == TE_FLOORDIV || e->kind == TE_DIV)
        return want_quotient;
    return !want_quotient && (e->kind == TE_FLOORMOD || e->kind == TE_MOD);
}

/* The flat index of buffer[indices...]: sum(indices[d] * strides[d]). A scalar index
 * with both a quotient and a remainder (floordiv(f, 7) * 7 + floormod(f, 7), what a
 * fused axis of a split pair leaves in the two dimensions it indexes) is simplified,
 * which folds the pair back into f: one address per lane, a contiguous vector access. */
static TsExpr *flat_index(TsArena *arena, const TeBuffer *buffer, TsExpr *const *indices)
{
    if (buffer->ndim == 0)
        return ts_i32(arena, 0);
    TsExpr *sum = scale_index(arena, indices[0], buffer->strides[0]);
    for (int d = 1; d < buffer->ndim && sum; d++) {
        TsExpr *term = scale_index(arena, indices[d], buffer->strides[d]);
        sum = term ? add_term(arena, sum, term) : NULL;
    }
    if (sum && sum->dtype.lanes == 1 && has_division_leaf(sum, true) &&
        has_division_leaf(sum, false))
        return te_simplify_expr(arena, sum, 0, NULL);
    return sum;
}

/* Rewrites the indices of an access with the pass itself (they may hold loads), then
 * flattens them. NULL on failure (recorded in the arena). */
static TsExpr *flatten_indices(TsArena *arena, const TeMutator *self, const TeBuffer *buffer,
                               int num_indices, TsExpr *const *indices)
{
    TsExpr *rewritten[TS_MAX_DIMS];
    for (int d = 0; d < num_indices; d++) {
        rewritten[d] = te_mutate_expr(arena, indices[d], self);
        if (!rewritten[d])
            return NULL;
    }
    return flat_index(arena, buffer, rewritten);
}

static TsExpr *flatten_load(void *ctx, TsArena *arena, TsExpr *e)
{
    const TeMutator *self = ctx;
    if ((e->kind != TE_LOAD && e->kind != TE_ADDRESS) || e->u.load.flat)
        return NULL;
    const TeBuffer *buffer = e->u.load.buffer;
    TsExpr *index = flatten_indices(arena, self, buffer, e->u.load.num_indices,
                                    e->u.load.indices);
    TsExpr *flat = !index ? NULL
                   : e->kind == TE_LOAD ? te_load(arena, buffer, 1, &index, true)
                                        : te_address(arena, buffer, 1, &index, true);
    return flat ? flat : TE_MUTATE_FAILED;
}

static TeStmt *flatten_store(void *ctx, TsArena *arena, TeStmt *s)
{
    const TeMutator *self = ctx;
    if (s->kind != TE_STMT_STORE || s->u.store.flat)
        return NULL;
    const TeBuffer *buffer = s->u.store.buffer;
    TsExpr *index = flatten_indices(arena, self, buffer, s->u.store.num_indices,
                                    s->u.store.indices);
    TsExpr *value = index ? te_mutate_expr(arena, s->u.store.value, self) : NULL;
    TsExpr *mask = value && s->u.store.mask ? te_mutate_expr(arena, s->u.store.mask, self) : NULL;
    TeStmt *flat = value && (mask || !s->u.store.mask)
                       ? te_store_masked(arena, buffer, 1, &index, value, true, mask)
                       : NULL;
    return flat ? flat : TE_MUTATE_STMT_FAILED;
}

TsLoweredFunc *sch_pass_storage_flatten(TsArena *arena, TsLoweredFunc *func,
                                        const SchLowerOptions *options, TsError *err)
{
    (void)options;
    TeMutator m = { .expr = flatten_load, .stmt = flatten_store };
    m.ctx = &m;
    TeStmt *body = te_mutate_stmt(arena, func->body, &m);
    TsLoweredFunc *out = !body ? NULL : body == func->body ? func
                                                           : sch_func_with_body(arena, func, body);
    if (!out && ts_arena_check(arena, err) == TS_OK)
        ts_fail(err, TS_ENOMEM, "storage_flatten of %s failed", func->name);
    return out;
}
