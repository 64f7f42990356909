/* Elementwise operators of the operator library: add, sub and mul with numpy-style
 * broadcasting, relu, clip and bias_add. Each is one compute op tagged with the
 * operator's name, which a schedule usually inlines into its consumer or producer.
 */
#include "ops_internal.h"

typedef TsExpr *(*BinaryFn)(TsArena *arena, TsExpr *a, TsExpr *b);

/* The broadcast shape of a and b: aligned at the last dimension, each pair equal or
 * one of them 1. */
static bool broadcast_shape(TsArena *arena, const char *op, const TeOpShape *sa,
                            const TeOpShape *sb, TeOpShape *out)
{
    out->ndim = sa->ndim > sb->ndim ? sa->ndim : sb->ndim;
    for (int i = 0; i < out->ndim; i++) {
        int ia = i - (out->ndim - sa->ndim), ib = i - (out->ndim - sb->ndim);
        int64_t da = ia >= 0 ? sa->dim[ia] : 1, db = ib >= 0 ? sb->dim[ib] : 1;
        if (da != db && da != 1 && db != 1) {
            ts_arena_fail(arena, TS_EINVAL,
                          "%s: cannot broadcast dimension %d of a (extent %lld) with "
                          "dimension %d of b (extent %lld)",
                          op, ia, (long long)da, ib, (long long)db);
            return false;
        }
        out->dim[i] = da > db ? da : db;
    }
    return true;
}

/* t[...] at the output point vars, reading index 0 where t's extent is 1. */
static TsExpr *broadcast_access(TsArena *arena, TsTensor *t, const TeOpShape *shape, int out_ndim,
                                TsExpr *const *vars)
{
    TsExpr *index[TS_MAX_DIMS];
    int offset = out_ndim - shape->ndim;

    for (int i = 0; i < shape->ndim; i++)
        index[i] = shape->dim[i] == 1 ? ts_i32(arena, 0) : vars[offset + i];
    return ts_access(arena, t, shape->ndim, index);
}

static TsTensor *binary(TsArena *arena, const char *op, TsTensor *a, TsTensor *b, BinaryFn fn)
{
    TeOpShape sa, sb, out;

    if (arena == NULL || !te_op_tensor(arena, op, "a", a, &sa) ||
        !te_op_tensor(arena, op, "b", b, &sb) || !te_op_same_dtype(arena, op, "a", a, "b", b) ||
        !te_op_arith(arena, op, "a", a) || !broadcast_shape(arena, op, &sa, &sb, &out))
        return NULL;
    TsAxis **axes = te_op_axes(arena, &out, NULL);
    TsExpr **vars = axes ? te_op_vars(arena, out.ndim, axes) : NULL;
    if (vars == NULL)
        return NULL;
    TsExpr *body = fn(arena, broadcast_access(arena, a, &sa, out.ndim, vars),
                      broadcast_access(arena, b, &sb, out.ndim, vars));
    return ts_compute_tagged(arena, op, op, out.ndim, axes, body);
}

TsTensor *ts_op_add(TsArena *arena, TsTensor *a, TsTensor *b)
{
    return binary(arena, "add", a, b, ts_add);
}

TsTensor *ts_op_sub(TsArena *arena, TsTensor *a, TsTensor *b)
{
    return binary(arena, "sub", a, b, ts_sub);
}

TsTensor *ts_op_mul(TsArena *arena, TsTensor *a, TsTensor *b)
{
    return binary(arena, "mul", a, b, ts_mul);
}

/* out[i] = clamp(data[i]) with the bounds lo (may be NULL) and hi (may be NULL). */
static TsTensor *clamp(TsArena *arena, const char *op, TsTensor *data, const TeOpShape *shape,
                       TsExpr *lo, TsExpr *hi)
{
    TsAxis **axes = te_op_axes(arena, shape, NULL);
    TsExpr **vars = axes ? te_op_vars(arena, shape->ndim, axes) : NULL;

    if (vars == NULL)
        return NULL;
    TsExpr *body = ts_access(arena, data, shape->ndim, vars);
    if (lo != NULL)
        body = ts_max(arena, body, lo);
    if (hi != NULL)
        body = ts_min(arena, body, hi);
    return ts_compute_tagged(arena, op, op, shape->ndim, axes, body);
}

TsTensor *ts_op_relu(TsArena *arena, TsTensor *data)
{
    TeOpShape shape;

    if (arena == NULL || !te_op_tensor(arena, "relu", "data", data, &shape) ||
        !te_op_arith(arena, "relu", "data", data))
        return NULL;
    TsExpr *zero = te_op_const(arena, "relu", "zero", ts_tensor_dtype(data), 0.0);
    return zero ? clamp(arena, "relu", data, &shape, zero, NULL) : NULL;
}

TsTensor *ts_op_clip(TsArena *arena, TsTensor *data, double lo, double hi)
{
    TeOpShape shape;

    if (arena == NULL || !te_op_tensor(arena, "clip", "data", data, &shape) ||
        !te_op_arith(arena, "clip", "data", data))
        return NULL;
    if (!(lo <= hi)) {
        ts_arena_fail(arena, TS_EINVAL, "clip: lo %g must be <= hi %g", lo, hi);
        return NULL;
    }
    TsExpr *lo_c = te_op_const(arena, "clip", "lo", ts_tensor_dtype(data), lo);
    TsExpr *hi_c = lo_c ? te_op_const(arena, "clip", "hi", ts_tensor_dtype(data), hi) : NULL;
    return hi_c ? clamp(arena, "clip", data, &shape, lo_c, hi_c) : NULL;
}

TsTensor *ts_op_bias_add(TsArena *arena, TsTensor *data, TsTensor *bias, int axis)
{
    TeOpShape shape;
    int at;

    if (arena == NULL || !te_op_tensor(arena, "bias_add", "data", data, &shape) ||
        !te_op_arith(arena, "bias_add", "data", data) ||
        !te_op_axis(arena, "bias_add", axis, shape.ndim, false, &at) ||
        !te_op_vector(arena, "bias_add", "bias", bias, ts_tensor_dtype(data), shape.dim[at]))
        return NULL;
    TsAxis **axes = te_op_axes(arena, &shape, NULL);
    TsExpr **vars = axes ? te_op_vars(arena, shape.ndim, axes) : NULL;
    if (vars == NULL)
        return NULL;
    TsExpr *body =
        ts_add(arena, ts_access(arena, data, shape.ndim, vars), ts_at(arena, bias, vars[at]));
    return ts_compute_tagged(arena, "bias_add", "bias_add", shape.ndim, axes, body);
}
