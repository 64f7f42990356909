/* Normalization operators of the operator library: inference batch normalization (one
 * elementwise stage) and softmax.
 *
 * Softmax is four stages, as in TVM's topi, because a reduction must be the whole body
 * of its compute op: the maximum along the axis ("softmax_maxelem"), exp(x - max)
 * ("softmax_exp"), the sum of those ("softmax_expsum") and the division
 * ("softmax_norm", the output, named "softmax"). The reduced stages keep the axis with
 * extent 1.
 */
#include <math.h>

#include "ops_internal.h"

/* Checks a 1-D batch-norm parameter of data's dtype and channel count. */
static bool check_param(TsArena *arena, const char *what, TsTensor *param, TsDType dtype,
                        int64_t channels)
{
    return te_op_vector(arena, "batch_norm", what, param, dtype, channels);
}

TsTensor *ts_op_batch_norm(TsArena *arena, TsTensor *data, TsTensor *gamma, TsTensor *beta,
                           TsTensor *mean, TsTensor *var, int axis, double epsilon)
{
    const char *op = "batch_norm";
    TeOpShape shape;
    int at;

    if (arena == NULL || !te_op_tensor(arena, op, "data", data, &shape) ||
        !te_op_float(arena, op, "data", data) ||
        !te_op_axis(arena, op, axis, shape.ndim, false, &at))
        return NULL;
    TsDType dtype = ts_tensor_dtype(data);
    int64_t channels = shape.dim[at];
    if (!check_param(arena, "gamma", gamma, dtype, channels) ||
        !check_param(arena, "beta", beta, dtype, channels) ||
        !check_param(arena, "mean", mean, dtype, channels) ||
        !check_param(arena, "var", var, dtype, channels))
        return NULL;
    if (!(epsilon >= 0.0) || !isfinite(epsilon)) {
        ts_arena_fail(arena, TS_EINVAL, "batch_norm: epsilon %g must be finite and >= 0", epsilon);
        return NULL;
    }
    TsExpr *eps = te_op_const(arena, op, "epsilon", dtype, epsilon);
    TsAxis **axes = eps ? te_op_axes(arena, &shape, NULL) : NULL;
    TsExpr **vars = axes ? te_op_vars(arena, shape.ndim, axes) : NULL;
    if (vars == NULL)
        return NULL;
    TsExpr *c = vars[at];
    TsExpr *centered =
        ts_sub(arena, ts_access(arena, data, shape.ndim, vars), ts_at(arena, mean, c));
    TsExpr *stddev = ts_sqrt(arena, ts_add(arena, ts_at(arena, var, c), eps));
    TsExpr *scaled = ts_mul(arena, ts_div(arena, centered, stddev), ts_at(arena, gamma, c));
    TsExpr *body = ts_add(arena, scaled, ts_at(arena, beta, c));
    return ts_compute_tagged(arena, op, op, shape.ndim, axes, body);
}

/* One softmax stage over `shape`, whose body `build` writes from the output variables
 * (and, for reductions, the reduce axis k over the softmax axis). */
typedef TsExpr *(*StageBody)(TsArena *arena, TsTensor *const *in, TsExpr **vars, int ndim, int at,
                             TsAxis *k);

static TsTensor *stage(TsArena *arena, const char *name, const char *tag, const TeOpShape *shape,
                       int at, int64_t axis_extent, TsTensor *const *in, StageBody build)
{
    TsAxis **axes = te_op_axes(arena, shape, NULL);
    TsExpr **vars = axes ? te_op_vars(arena, shape->ndim, axes) : NULL;
    TsAxis *k = ts_reduce_axis(arena, "k", axis_extent);

    if (vars == NULL || k == NULL || in[0] == NULL || in[1] == NULL)
        return NULL;
    TsExpr *body = build(arena, in, vars, shape->ndim, at, k);
    return ts_compute_tagged(arena, name, tag, shape->ndim, axes, body);
}

/* t at the output point, with the index along the softmax axis replaced. */
static TsExpr *along(TsArena *arena, TsTensor *t, TsExpr **vars, int ndim, int at, TsExpr *index)
{
    TsExpr *saved = vars[at], *e;

    vars[at] = index;
    e = ts_access(arena, t, ndim, vars);
    vars[at] = saved;
    return e;
}

static TsExpr *max_body(TsArena *arena, TsTensor *const *in, TsExpr **vars, int ndim, int at,
                        TsAxis *k)
{
    TsExpr *x = along(arena, in[0], vars, ndim, at, ts_var(k));
    return ts_reduce_max(arena, x, 1, (TsAxis *[]){ k }, NULL);
}

static TsExpr *exp_body(TsArena *arena, TsTensor *const *in, TsExpr **vars, int ndim, int at,
                        TsAxis *k)
{
    (void)k;
    TsExpr *max = along(arena, in[1], vars, ndim, at, ts_i32(arena, 0));
    return ts_exp(arena, ts_sub(arena, ts_access(arena, in[0], ndim, vars), max));
}

static TsExpr *sum_body(TsArena *arena, TsTensor *const *in, TsExpr **vars, int ndim, int at,
                        TsAxis *k)
{
    TsExpr *e = along(arena, in[0], vars, ndim, at, ts_var(k));
    return ts_sum(arena, e, 1, (TsAxis *[]){ k }, NULL);
}

static TsExpr *norm_body(TsArena *arena, TsTensor *const *in, TsExpr **vars, int ndim, int at,
                         TsAxis *k)
{
    (void)k;
    TsExpr *sum = along(arena, in[1], vars, ndim, at, ts_i32(arena, 0));
    return ts_div(arena, ts_access(arena, in[0], ndim, vars), sum);
}

TsTensor *ts_op_softmax(TsArena *arena, TsTensor *data, int axis)
{
    const char *op = "softmax";
    TeOpShape shape, reduced;
    int at;

    if (arena == NULL || !te_op_tensor(arena, op, "data", data, &shape) ||
        !te_op_float(arena, op, "data", data) ||
        !te_op_axis(arena, op, axis, shape.ndim, false, &at))
        return NULL;
    int64_t n = shape.dim[at];
    reduced = shape;
    reduced.dim[at] = 1;
    TsTensor *max = stage(arena, "softmax_maxelem", "softmax_maxelem", &reduced, at, n,
                          (TsTensor *[]){ data, data }, max_body);
    TsTensor *e = stage(arena, "softmax_exp", "softmax_exp", &shape, at, n,
                        (TsTensor *[]){ data, max }, exp_body);
    TsTensor *sum = stage(arena, "softmax_expsum", "softmax_expsum", &reduced, at, n,
                          (TsTensor *[]){ e, e }, sum_body);
    return stage(arena, "softmax", "softmax_norm", &shape, at, n, (TsTensor *[]){ e, sum },
                 norm_body);
}
