/* Activations and other unary elementwise operators of the operator library, for the
 * graph level: sigmoid, tanh, sqrt, erf, gelu (exact and tanh form), hard sigmoid, hard
 * swish, leaky relu, and the dtype cast. Each is one compute op tagged with its name.
 *
 * erf has no instruction or interpreter primitive; it is written with exp and a rational
 * polynomial (Abramowitz and Stegun 7.1.26) evaluated in float64, whose absolute error
 * (below 1.5e-7) is under float32's resolution at erf's larger values.
 */
#include <math.h>

#include "ops_internal.h"

static TsExpr *constant(TsArena *arena, TsDType dtype, double value)
{
    return ts_float(arena, dtype, value);
}

TsExpr *te_op_erf_expr(TsArena *arena, TsExpr *x, TsDType dtype)
{
    static const double p = 0.3275911;
    static const double a[5] = { 0.254829592, -0.284496736, 1.421413741, -1.453152027,
                                 1.061405429 };
    TsDType f64 = TS_FLOAT64;
    TsExpr *v = te_op_cast(arena, f64, x, dtype);
    TsExpr *ax = ts_fabs(arena, v);
    TsExpr *t = ts_div(
        arena, constant(arena, f64, 1.0),
        ts_add(arena, constant(arena, f64, 1.0), ts_mul(arena, constant(arena, f64, p), ax)));
    TsExpr *poly = constant(arena, f64, a[4]);
    for (int k = 3; k >= 0; k--)
        poly = ts_add(arena, ts_mul(arena, poly, t), constant(arena, f64, a[k]));
    poly = ts_mul(arena, poly, t);
    TsExpr *tail = ts_mul(arena, poly, ts_exp(arena, ts_neg(arena, ts_mul(arena, ax, ax))));
    TsExpr *magnitude = ts_sub(arena, constant(arena, f64, 1.0), tail);
    TsExpr *signed_value = ts_select(arena, ts_lt(arena, v, constant(arena, f64, 0.0)),
                                     ts_neg(arena, magnitude), magnitude);
    return te_op_cast(arena, dtype, signed_value, f64);
}

static TsExpr *sigmoid_fn(TsArena *arena, TsExpr *x, TsDType dtype, const void *ctx)
{
    (void)dtype, (void)ctx;
    return ts_sigmoid(arena, x);
}

static TsExpr *tanh_fn(TsArena *arena, TsExpr *x, TsDType dtype, const void *ctx)
{
    (void)dtype, (void)ctx;
    return ts_tanh(arena, x);
}

static TsExpr *sqrt_fn(TsArena *arena, TsExpr *x, TsDType dtype, const void *ctx)
{
    (void)dtype, (void)ctx;
    return ts_sqrt(arena, x);
}

static TsExpr *erf_fn(TsArena *arena, TsExpr *x, TsDType dtype, const void *ctx)
{
    (void)ctx;
    return te_op_erf_expr(arena, x, dtype);
}

/* 0.5 x (1 + erf(x / sqrt 2)), or with tanh: 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))). */
static TsExpr *gelu_fn(TsArena *arena, TsExpr *x, TsDType dtype, const void *ctx)
{
    bool tanh_form = *(const bool *)ctx;
    TsExpr *inner;
    if (tanh_form) {
        TsExpr *cube = ts_mul(arena, ts_mul(arena, x, x), x);
        TsExpr *arg = ts_add(arena, x, ts_mul(arena, constant(arena, dtype, 0.044715), cube));
        inner = ts_tanh(arena, ts_mul(arena, constant(arena, dtype, 0.7978845608028654), arg));
    } else {
        inner = te_op_erf_expr(arena, ts_mul(arena, x, constant(arena, dtype, 0.7071067811865476)),
                               dtype);
    }
    TsExpr *half_x = ts_mul(arena, constant(arena, dtype, 0.5), x);
    return ts_mul(arena, half_x, ts_add(arena, constant(arena, dtype, 1.0), inner));
}

/* max(0, min(1, alpha x + beta)) */
static TsExpr *hard_sigmoid_of(TsArena *arena, TsExpr *x, TsDType dtype, double alpha, double beta)
{
    TsExpr *lin = ts_add(arena, ts_mul(arena, constant(arena, dtype, alpha), x),
                         constant(arena, dtype, beta));
    return ts_max(arena, constant(arena, dtype, 0.0),
                  ts_min(arena, constant(arena, dtype, 1.0), lin));
}

static TsExpr *hard_sigmoid_fn(TsArena *arena, TsExpr *x, TsDType dtype, const void *ctx)
{
    const double *ab = ctx;
    return hard_sigmoid_of(arena, x, dtype, ab[0], ab[1]);
}

static TsExpr *hard_swish_fn(TsArena *arena, TsExpr *x, TsDType dtype, const void *ctx)
{
    (void)ctx;
    return ts_mul(arena, x, hard_sigmoid_of(arena, x, dtype, 1.0 / 6.0, 0.5));
}

static TsExpr *leaky_relu_fn(TsArena *arena, TsExpr *x, TsDType dtype, const void *ctx)
{
    double alpha = *(const double *)ctx;
    return ts_select(arena, ts_lt(arena, x, constant(arena, dtype, 0.0)),
                     ts_mul(arena, constant(arena, dtype, alpha), x), x);
}

TsTensor *ts_op_sigmoid(TsArena *arena, TsTensor *data)
{
    return te_op_unary(arena, "sigmoid", data, true, sigmoid_fn, NULL);
}

TsTensor *ts_op_tanh(TsArena *arena, TsTensor *data)
{
    return te_op_unary(arena, "tanh", data, true, tanh_fn, NULL);
}

TsTensor *ts_op_sqrt(TsArena *arena, TsTensor *data)
{
    return te_op_unary(arena, "sqrt", data, true, sqrt_fn, NULL);
}

TsTensor *ts_op_erf(TsArena *arena, TsTensor *data)
{
    return te_op_unary(arena, "erf", data, true, erf_fn, NULL);
}

TsTensor *ts_op_gelu(TsArena *arena, TsTensor *data, bool tanh_approximation)
{
    return te_op_unary(arena, "gelu", data, true, gelu_fn, &tanh_approximation);
}

TsTensor *ts_op_hard_sigmoid(TsArena *arena, TsTensor *data, double alpha, double beta)
{
    double ab[2] = { alpha, beta };
    return te_op_unary(arena, "hard_sigmoid", data, true, hard_sigmoid_fn, ab);
}

TsTensor *ts_op_hard_swish(TsArena *arena, TsTensor *data)
{
    return te_op_unary(arena, "hard_swish", data, true, hard_swish_fn, NULL);
}

TsTensor *ts_op_leaky_relu(TsArena *arena, TsTensor *data, double alpha)
{
    return te_op_unary(arena, "leaky_relu", data, true, leaky_relu_fn, &alpha);
}

TsTensor *ts_op_cast(TsArena *arena, TsTensor *data, TsDType dtype)
{
    TeOpShape shape;
    char buf[TS_DTYPE_STR_MAX];

    if (arena == NULL || !te_op_tensor(arena, "cast", "data", data, &shape))
        return NULL;
    if (!ts_dtype_is_valid(dtype) || dtype.lanes != 1) {
        ts_arena_fail(arena, TS_EINVAL, "cast: %s is not a scalar dtype", ts_dtype_str(dtype, buf));
        return NULL;
    }
    TsAxis **axes = te_op_axes(arena, &shape, NULL);
    TsExpr **vars = axes ? te_op_vars(arena, shape.ndim, axes) : NULL;
    if (vars == NULL)
        return NULL;
    TsDType from = ts_tensor_dtype(data);
    TsExpr *x = ts_access(arena, data, shape.ndim, vars);
    /* float16 is storage only: through float32 to or from any other type. */
    if (from.bits == 16 && ts_dtype_is_float(from) && !ts_dtype_eq(dtype, from))
        x = ts_cast(arena, TS_FLOAT32, x), from = TS_FLOAT32;
    if (dtype.bits == 16 && ts_dtype_is_float(dtype) && !ts_dtype_is_float(from))
        x = ts_cast(arena, TS_FLOAT32, x), from = TS_FLOAT32;
    return ts_compute_tagged(arena, "cast", "cast", shape.ndim, axes,
                             te_op_cast(arena, dtype, x, from));
}
