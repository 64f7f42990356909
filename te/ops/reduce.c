/* Reductions of the operator library, for the graph level: sum and mean over any set of
 * axes with or without the reduced dimensions kept, and layer normalization with its
 * mean and inverse standard deviation. A reduction must be a whole compute body, so a
 * mean is a sum stage followed by a division stage, and layer normalization is five
 * stages (sum, mean, squared deviations summed, inverse deviation, output).
 */
#include "ops_internal.h"

/* The reduced shape: dimensions in `reduced` become 1 (kept) or disappear. */
static void reduced_shape(const TeOpShape *in, const bool *reduced, bool keepdims, TeOpShape *out)
{
    out->ndim = 0;
    for (int i = 0; i < in->ndim; i++)
        if (!reduced[i] || keepdims)
            out->dim[out->ndim++] = reduced[i] ? 1 : in->dim[i];
}

/* sum over the reduced dimensions of src(x) where x is data at the point; the output point
 * is vars of the reduced shape. */
static TsTensor *sum_stage(TsArena *arena, const char *name, TsTensor *data, const TeOpShape *in,
                           const bool *reduced, bool keepdims,
                           TsExpr *(*src)(TsArena *, TsExpr *, const void *), const void *ctx)
{
    TeOpShape out;
    TsAxis *raxes[TS_MAX_DIMS];
    TsExpr *index[TS_MAX_DIMS];
    int num_raxes = 0;
    static const char *const rnames[TS_MAX_DIMS] = {
        "r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7"
    };

    reduced_shape(in, reduced, keepdims, &out);
    TsAxis **axes = te_op_axes(arena, &out, NULL);
    TsExpr **vars = axes ? te_op_vars(arena, out.ndim, axes) : NULL;
    if (vars == NULL)
        return NULL;
    for (int i = 0, o = 0; i < in->ndim; i++) {
        if (reduced[i]) {
            raxes[num_raxes] = ts_reduce_axis(arena, rnames[i], in->dim[i]);
            index[i] = ts_var(raxes[num_raxes++]);
            o += keepdims;
        } else {
            index[i] = vars[o++];
        }
    }
    TsExpr *x = ts_access(arena, data, in->ndim, index);
    if (src)
        x = src(arena, x, ctx);
    return ts_compute_tagged(arena, name, name, out.ndim, axes,
                             ts_sum(arena, x, num_raxes, raxes, NULL));
}

/* out = a (op) b broadcast, one stage, where b has a's rank (extent 1 where reduced). */
static TsTensor *combine(TsArena *arena, const char *name, TsTensor *a, TsTensor *b,
                         TsExpr *(*fn)(TsArena *, TsExpr *, TsExpr *, const void *),
                         const void *ctx)
{
    TeOpShape sa, sb;

    if (!te_op_tensor(arena, name, "a", a, &sa) || !te_op_tensor(arena, name, "b", b, &sb))
        return NULL;
    TsAxis **axes = te_op_axes(arena, &sa, NULL);
    TsExpr **vars = axes ? te_op_vars(arena, sa.ndim, axes) : NULL;
    if (vars == NULL)
        return NULL;
    TsExpr *body = fn(arena, ts_access(arena, a, sa.ndim, vars),
                      te_op_broadcast_access(arena, b, &sb, sa.ndim, vars), ctx);
    return ts_compute_tagged(arena, name, name, sa.ndim, axes, body);
}

static TsExpr *divide_by(TsArena *arena, TsExpr *x, TsExpr *unused, const void *ctx)
{
    (void)unused;
    return ts_div(arena, x, (TsExpr *)ctx);
}

/* x / count as a stage over t. */
static TsTensor *scale_stage(TsArena *arena, const char *name, TsTensor *t, TsExpr *count)
{
    return count ? combine(arena, name, t, t, divide_by, count) : NULL;
}

TsTensor *ts_op_reduce(TsArena *arena, TsTensor *data, TsReduceKind kind, int num_axes,
                       const int *axes, bool keepdims)
{
    const char *op = kind == TS_REDUCE_MEAN ? "reduce_mean" : "reduce_sum";
    TeOpShape in;
    bool reduced[TS_MAX_DIMS] = { false };
    int64_t count = 1;

    if (arena == NULL || !te_op_tensor(arena, op, "data", data, &in) ||
        !te_op_arith(arena, op, "data", data))
        return NULL;
    if (kind != TS_REDUCE_SUM && kind != TS_REDUCE_MEAN) {
        ts_arena_fail(arena, TS_EINVAL, "reduce: kind %d is not a TsReduceKind", (int)kind);
        return NULL;
    }
    for (int k = 0; k < num_axes; k++) {
        int at;
        if (!te_op_axis(arena, op, axes[k], in.ndim, false, &at))
            return NULL;
        if (reduced[at]) {
            ts_arena_fail(arena, TS_EINVAL, "%s: axis %d is listed twice", op, at);
            return NULL;
        }
        reduced[at] = true;
        count *= in.dim[at];
    }
    TsTensor *sum = sum_stage(arena, op, data, &in, reduced, keepdims, NULL, NULL);
    if (kind == TS_REDUCE_SUM || sum == NULL)
        return sum;
    return scale_stage(arena, "reduce_mean_div", sum,
                       te_op_const(arena, op, "count", ts_tensor_dtype(data), (double)count));
}

static TsExpr *sub_fn(TsArena *arena, TsExpr *a, TsExpr *b, const void *ctx)
{
    (void)ctx;
    return ts_sub(arena, a, b);
}

static TsExpr *square(TsArena *arena, TsExpr *x, const void *ctx)
{
    (void)ctx;
    return ts_mul(arena, x, x);
}

static TsExpr *inv_std_fn(TsArena *arena, TsExpr *var, TsExpr *unused, const void *ctx)
{
    (void)unused;
    const TsExpr *const *c = ctx; /* count, epsilon */
    TsExpr *v = ts_add(arena, ts_div(arena, var, (TsExpr *)c[0]), (TsExpr *)c[1]);
    return ts_div(arena, ts_f32(arena, 1.0), ts_sqrt(arena, v));
}

static TsExpr *cast_fn(TsArena *arena, TsExpr *x, TsDType dtype, const void *ctx)
{
    return te_op_cast(arena, *(const TsDType *)ctx, x, dtype);
}

/* (centered * inv_std) * scale + bias, in data's dtype. */
static TsTensor *normalize(TsArena *arena, TsTensor *centered, TsTensor *inv_std, TsTensor *scale,
                           TsTensor *bias, TsDType dtype)
{
    TeOpShape sc, si, ss, sb;
    if (!te_op_tensor(arena, "layer_norm", "centered", centered, &sc) ||
        !te_op_tensor(arena, "layer_norm", "inv_std", inv_std, &si) ||
        !te_op_tensor(arena, "layer_norm", "scale", scale, &ss) ||
        (bias && !te_op_tensor(arena, "layer_norm", "bias", bias, &sb)))
        return NULL;
    TeOpShape shapes[3] = { sc, ss, bias ? sb : sc }, out;
    if (!te_op_broadcast_shape(arena, "layer_norm", 3, shapes, &out))
        return NULL;
    for (int i = 0; i < out.ndim; i++)
        if (out.ndim != sc.ndim || out.dim[i] != sc.dim[i]) {
            ts_arena_fail(arena, TS_EINVAL,
                          "layer_norm: scale or bias does not broadcast to the data");
            return NULL;
        }
    if (!te_op_same_dtype(arena, "layer_norm", "scale", scale, "scale", scale) ||
        !ts_dtype_eq(ts_tensor_dtype(scale), dtype) ||
        (bias && !ts_dtype_eq(ts_tensor_dtype(bias), dtype))) {
        ts_arena_fail(arena, TS_EINVAL, "layer_norm: scale and bias must have the data's dtype");
        return NULL;
    }
    TsAxis **axes = te_op_axes(arena, &sc, NULL);
    TsExpr **vars = axes ? te_op_vars(arena, sc.ndim, axes) : NULL;
    if (vars == NULL)
        return NULL;
    TsExpr *y = ts_mul(arena, ts_access(arena, centered, sc.ndim, vars),
                       te_op_broadcast_access(arena, inv_std, &si, sc.ndim, vars));
    y = te_op_cast(arena, dtype, y, TS_FLOAT32);
    y = ts_mul(arena, y, te_op_broadcast_access(arena, scale, &ss, sc.ndim, vars));
    if (bias)
        y = ts_add(arena, y, te_op_broadcast_access(arena, bias, &sb, sc.ndim, vars));
    return ts_compute_tagged(arena, "layer_norm", "layer_norm", sc.ndim, axes, y);
}

TsTensor *ts_op_layer_norm(TsArena *arena, TsTensor *data, TsTensor *scale, TsTensor *bias,
                           int axis, double epsilon, TsTensor **mean_out, TsTensor **inv_std_out)
{
    const char *op = "layer_norm";
    TeOpShape in;
    int at;
    bool reduced[TS_MAX_DIMS] = { false };
    int64_t count = 1;

    if (arena == NULL || !te_op_tensor(arena, op, "data", data, &in) ||
        !te_op_float(arena, op, "data", data) || !te_op_axis(arena, op, axis, in.ndim, false, &at))
        return NULL;
    for (int i = at; i < in.ndim; i++) {
        reduced[i] = true;
        count *= in.dim[i];
    }
    /* Statistics in float32 (ONNX's stash_type 1). */
    TsDType dtype = ts_tensor_dtype(data), f32 = TS_FLOAT32;
    TsTensor *x = ts_dtype_eq(dtype, f32)
                      ? data
                      : te_op_unary(arena, "layer_norm_cast", data, true, cast_fn, &f32);
    TsExpr *n = ts_f32(arena, (double)count), *eps = ts_f32(arena, epsilon);
    TsTensor *sum =
        x ? sum_stage(arena, "layer_norm_sum", x, &in, reduced, true, NULL, NULL) : NULL;
    TsTensor *mean = sum ? scale_stage(arena, "layer_norm_mean", sum, n) : NULL;
    TsTensor *centered = mean ? combine(arena, "layer_norm_centered", x, mean, sub_fn, NULL) : NULL;
    TsTensor *sq =
        centered ? sum_stage(arena, "layer_norm_sqsum", centered, &in, reduced, true, square, NULL)
                 : NULL;
    TsExpr *c[2] = { n, eps };
    TsTensor *inv_std = sq ? combine(arena, "layer_norm_inv_std", sq, sq, inv_std_fn, c) : NULL;
    if (inv_std == NULL)
        return NULL;
    if (mean_out)
        *mean_out = mean;
    if (inv_std_out)
        *inv_std_out = inv_std;
    return normalize(arena, centered, inv_std, scale, bias, dtype);
}
