/* Quantization in the operator library: ONNX QuantizeLinear and DequantizeLinear,
 * requantize (an int32 accumulator to int8/uint8 with a float32 or fixed-point scale,
 * a fused int32 bias and ReLU/clip in the quantized domain), and the checks of
 * quantization parameters (zero points, scales, per tensor or per channel) that the
 * integer convolution and matrix products share.
 *
 * Everything here is an elementwise compute op over the data's shape, written with the
 * IR's own operators, so both interpreters and codegen run it with the same bits:
 * - round half to even of a float32 has no IR operator; it is floor plus a correction
 *   (the fraction v - floor(v) is exact in float32, so the tie test is exact);
 * - saturation clamps the rounded value to +-2^16 first (every value beyond saturates
 *   anyway, and the zero-point addition can then not wrap); in float32 this also sends
 *   a NaN, which max() drops, to the lowest value;
 * - the fixed-point path is gemmlowp's SaturatingRoundingDoublingHighMul in int64 and
 *   RoundingDivideByPOT in int32, operation for operation.
 */
#include <math.h>
#include <stdio.h>

#include "ops_internal.h"

/* "[2, 3]" for messages. */
static const char *shape_text(const TeOpShape *s, char *buf, size_t size)
{
    size_t n = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < s->ndim && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, "%s%lld", i ? ", " : "", (long long)s->dim[i]);
    if (n < size)
        snprintf(buf + n, size - n, "]");
    return buf;
}

bool te_op_int8(TsArena *arena, const char *op, const char *what, const TsTensor *t)
{
    char buf[TS_DTYPE_STR_MAX];
    TsDType dtype = ts_tensor_dtype(t);

    if (ts_dtype_eq(dtype, TS_INT8) || ts_dtype_eq(dtype, TS_UINT8))
        return true;
    ts_arena_fail(arena, TS_EINVAL, "%s: %s '%s' has dtype %s; expected uint8 or int8", op, what,
                  ts_tensor_name(t), ts_dtype_str(dtype, buf));
    return false;
}

bool te_op_quant_param(TsArena *arena, const char *op, const char *what, const TsTensor *t,
                       TsDType dtype, int64_t channels, bool *per_channel)
{
    char got[TS_DTYPE_STR_MAX], want[TS_DTYPE_STR_MAX], shape[160];
    TeOpShape s;

    *per_channel = false;
    if (t == NULL)
        return true;
    if (!te_op_tensor(arena, op, what, t, &s))
        return false;
    if (!ts_dtype_eq(ts_tensor_dtype(t), dtype)) {
        ts_arena_fail(arena, TS_EINVAL, "%s: %s '%s' has dtype %s, expected %s", op, what,
                      ts_tensor_name(t), ts_dtype_str(ts_tensor_dtype(t), got),
                      ts_dtype_str(dtype, want));
        return false;
    }
    if (te_op_num_elements(s.ndim, s.dim) == 1)
        return true;
    if (channels > 0 && s.ndim == 1 && s.dim[0] == channels) {
        *per_channel = true;
        return true;
    }
    if (channels > 0)
        ts_arena_fail(arena, TS_EINVAL,
                      "%s: %s '%s' has shape %s; expected one element or [%lld] (one per channel)",
                      op, what, ts_tensor_name(t), shape_text(&s, shape, sizeof shape),
                      (long long)channels);
    else
        ts_arena_fail(arena, TS_EINVAL, "%s: %s '%s' has shape %s; expected one element", op,
                      what, ts_tensor_name(t), shape_text(&s, shape, sizeof shape));
    return false;
}

TsExpr *te_op_quant_at(TsArena *arena, TsTensor *t, bool per_channel, TsExpr *c)
{
    TsExpr *zeros[TS_MAX_DIMS];
    int ndim = ts_tensor_ndim(t);

    if (per_channel)
        return ts_at(arena, t, c);
    for (int i = 0; i < ndim; i++)
        zeros[i] = ts_i32(arena, 0);
    return ts_access(arena, t, ndim, zeros);
}

TsExpr *te_op_minus_zero_point(TsArena *arena, TsExpr *v, TsDType from, TsExpr *zero_point)
{
    TsExpr *wide = te_op_cast(arena, TS_INT32, v, from);

    if (zero_point == NULL)
        return wide;
    return ts_sub(arena, wide, ts_cast(arena, TS_INT32, zero_point));
}

TsStatus ts_quant_check_scales(const float *scales, int64_t count, const char *what,
                               TsError *err)
{
    if (scales == NULL || count < 1)
        return ts_fail(err, TS_EINVAL, "%s: no scales given", what ? what : "scale");
    for (int64_t i = 0; i < count; i++)
        if (!isfinite(scales[i]) || !(scales[i] > 0.0f))
            return ts_fail(err, TS_EINVAL, "%s[%lld] = %g: a scale must be finite and > 0",
                           what ? what : "scale", (long long)i, (double)scales[i]);
    return TS_OK;
}

/* ---- arithmetic shared by the builders ---- */

static int64_t lowest(TsDType t)
{
    return ts_dtype_is_uint(t) ? 0 : -(INT64_C(1) << (t.bits - 1));
}

static int64_t highest(TsDType t)
{
    return ts_dtype_is_uint(t) ? (INT64_C(1) << t.bits) - 1 : (INT64_C(1) << (t.bits - 1)) - 1;
}

/* round half to even of a float32 v (NaN stays NaN, integers stay). */
static TsExpr *round_half_even(TsArena *A, TsExpr *v)
{
    TsExpr *r = ts_floor(A, v);
    TsExpr *frac = ts_sub(A, v, r);
    TsExpr *half = ts_f32(A, 0.5);
    TsExpr *odd = ts_ne(A, ts_mul(A, ts_floor(A, ts_mul(A, r, half)), ts_f32(A, 2.0)), r);
    TsExpr *up = ts_or(A, ts_gt(A, frac, half), ts_and(A, ts_eq(A, frac, half), odd));
    return ts_add(A, r, ts_select(A, up, ts_f32(A, 1.0), ts_f32(A, 0.0)));
}

/* The output stage's limits: out_dtype's range narrowed by a clip, and ReLU. */
typedef struct Limits {
    TsDType out_dtype;
    int64_t lo, hi;
    bool relu;
} Limits;

/* An int32 q + zero point (NULL: 0) clamped to the limits (ReLU first: max with the zero
 * point), in out_dtype. q is bounded to +-2^16 first, so adding the zero point cannot
 * wrap (every value past the bound saturates either way). */
static TsExpr *clamp_to_output(TsArena *A, TsExpr *q, TsExpr *zero_point, const Limits *lim)
{
    TsExpr *zp = zero_point ? ts_cast(A, TS_INT32, zero_point) : NULL;
    TsExpr *bounded = ts_min(A, ts_max(A, q, ts_i32(A, -65536)), ts_i32(A, 65536));
    TsExpr *y = zp ? ts_add(A, bounded, zp) : bounded;

    if (lim->relu)
        y = ts_max(A, y, zp ? zp : ts_i32(A, 0));
    y = ts_min(A, ts_max(A, y, ts_i32(A, lim->lo)), ts_i32(A, lim->hi));
    return ts_cast(A, lim->out_dtype, y);
}

/* A float32 quotient v to the output: round half to even, saturate, add the zero point. */
static TsExpr *quantize_value(TsArena *A, TsExpr *v, TsExpr *zero_point, const Limits *lim)
{
    TsExpr *q = round_half_even(A, v);
    TsExpr *bounded = ts_min(A, ts_max(A, q, ts_f32(A, -65536.0)), ts_f32(A, 65536.0));
    return clamp_to_output(A, ts_cast(A, TS_INT32, bounded), zero_point, lim);
}

/* The data's shape, and the extent of its dimension axis (0 when axis is outside). */
typedef struct Elementwise {
    TeOpShape shape;
    int axis;         /* normalized, or -1 */
    int64_t channels; /* shape.dim[axis], or 0 */
    TsAxis **axes;
    TsExpr **vars;
} Elementwise;

static bool read_elementwise(TsArena *arena, const char *op, const char *what, TsTensor *data,
                             int axis, Elementwise *e)
{
    if (!te_op_tensor(arena, op, what, data, &e->shape))
        return false;
    int nd = e->shape.ndim;
    e->axis = axis >= -nd && axis < nd ? (axis < 0 ? axis + nd : axis) : -1;
    e->channels = e->axis >= 0 ? e->shape.dim[e->axis] : 0;
    e->axes = te_op_axes(arena, &e->shape, NULL);
    e->vars = e->axes ? te_op_vars(arena, nd, e->axes) : NULL;
    return e->vars != NULL;
}

/* A parameter per tensor or along the checked axis: the message says when the axis
 * is what is wrong. */
static bool param(TsArena *arena, const char *op, const char *what, const TsTensor *t,
                  TsDType dtype, const Elementwise *e, int axis, bool *per_channel)
{
    TeOpShape s;
    if (t != NULL && e->axis < 0 && te_op_tensor(arena, op, what, t, &s) &&
        te_op_num_elements(s.ndim, s.dim) != 1) {
        ts_arena_fail(arena, TS_EINVAL,
                      "%s: per-channel %s '%s' needs axis in [%d, %d), got %d", op, what,
                      ts_tensor_name(t), -e->shape.ndim, e->shape.ndim, axis);
        return false;
    }
    return te_op_quant_param(arena, op, what, t, dtype, e->channels, per_channel);
}

static TsExpr *channel(const Elementwise *e)
{
    return e->axis >= 0 ? e->vars[e->axis] : NULL;
}

static TsExpr *param_at(TsArena *arena, TsTensor *t, bool per_channel, const Elementwise *e)
{
    return t ? te_op_quant_at(arena, t, per_channel, channel(e)) : NULL;
}

static TsTensor *elementwise(TsArena *arena, const char *op, const Elementwise *e, TsExpr *body)
{
    return ts_compute_tagged(arena, op, op, e->shape.ndim, e->axes, body);
}

/* out_dtype of a quantizing op: given, else the zero point's, else uint8. */
static bool output_dtype(TsArena *arena, const char *op, TsDType requested,
                         const TsTensor *zero_point, TsDType *out)
{
    char buf[TS_DTYPE_STR_MAX], zbuf[TS_DTYPE_STR_MAX];
    TsDType zp = zero_point ? ts_tensor_dtype(zero_point) : TS_UINT8;

    *out = requested.bits == 0 ? zp : requested;
    if (!ts_dtype_eq(*out, TS_INT8) && !ts_dtype_eq(*out, TS_UINT8)) {
        ts_arena_fail(arena, TS_EINVAL, "%s: output dtype %s is not int8 or uint8", op,
                      ts_dtype_str(*out, buf));
        return false;
    }
    if (zero_point && !ts_dtype_eq(*out, zp)) {
        ts_arena_fail(arena, TS_EINVAL, "%s: zero_point '%s' has dtype %s but the output is %s",
                      op, ts_tensor_name(zero_point), ts_dtype_str(zp, zbuf),
                      ts_dtype_str(*out, buf));
        return false;
    }
    return true;
}

static bool dtype_is(TsArena *arena, const char *op, const char *what, const TsTensor *t,
                     TsDType want)
{
    char got[TS_DTYPE_STR_MAX], wbuf[TS_DTYPE_STR_MAX];
    if (ts_dtype_eq(ts_tensor_dtype(t), want))
        return true;
    ts_arena_fail(arena, TS_EINVAL, "%s: %s '%s' has dtype %s, expected %s", op, what,
                  ts_tensor_name(t), ts_dtype_str(ts_tensor_dtype(t), got),
                  ts_dtype_str(want, wbuf));
    return false;
}

/* ---- QuantizeLinear, DequantizeLinear ---- */

TsTensor *ts_op_quantize_linear(TsArena *arena, TsTensor *x, TsTensor *scale, TsTensor *zero_point,
                                int axis, TsDType out_dtype)
{
    static const char *const op = "quantize_linear";
    Elementwise e;
    bool scale_pc, zp_pc;
    Limits lim;

    if (arena == NULL || !read_elementwise(arena, op, "x", x, axis, &e) ||
        !dtype_is(arena, op, "x", x, TS_FLOAT32) ||
        !te_op_tensor(arena, op, "scale", scale, &(TeOpShape){ 0 }) ||
        !param(arena, op, "scale", scale, TS_FLOAT32, &e, axis, &scale_pc) ||
        !output_dtype(arena, op, out_dtype, zero_point, &lim.out_dtype) ||
        !param(arena, op, "zero_point", zero_point, lim.out_dtype, &e, axis, &zp_pc))
        return NULL;
    lim.lo = lowest(lim.out_dtype);
    lim.hi = highest(lim.out_dtype);
    lim.relu = false;
    TsExpr *v = ts_div(arena, ts_access(arena, x, e.shape.ndim, e.vars),
                       param_at(arena, scale, scale_pc, &e));
    return elementwise(arena, op, &e,
                       quantize_value(arena, v, param_at(arena, zero_point, zp_pc, &e), &lim));
}

TsTensor *ts_op_dequantize_linear(TsArena *arena, TsTensor *x, TsTensor *scale,
                                  TsTensor *zero_point, int axis)
{
    static const char *const op = "dequantize_linear";
    Elementwise e;
    bool scale_pc, zp_pc;

    if (arena == NULL || !read_elementwise(arena, op, "x", x, axis, &e) ||
        !te_op_tensor(arena, op, "scale", scale, &(TeOpShape){ 0 }) ||
        !param(arena, op, "scale", scale, TS_FLOAT32, &e, axis, &scale_pc))
        return NULL;
    TsDType in = ts_tensor_dtype(x);
    if (ts_dtype_eq(in, TS_INT32) && zero_point != NULL) {
        ts_arena_fail(arena, TS_EINVAL, "%s: int32 x '%s' takes no zero_point ('%s' given)", op,
                      ts_tensor_name(x), ts_tensor_name(zero_point));
        return NULL;
    }
    if (!ts_dtype_eq(in, TS_INT32) && !te_op_int8(arena, op, "x", x))
        return NULL;
    if (!param(arena, op, "zero_point", zero_point, in, &e, axis, &zp_pc))
        return NULL;
    TsExpr *shifted = te_op_minus_zero_point(arena, ts_access(arena, x, e.shape.ndim, e.vars), in,
                                             param_at(arena, zero_point, zp_pc, &e));
    TsExpr *y = ts_mul(arena, ts_cast(arena, TS_FLOAT32, shifted),
                       param_at(arena, scale, scale_pc, &e));
    return elementwise(arena, op, &e, y);
}

/* ---- requantize ---- */

TsRequantizeAttrs ts_requantize_attrs_default(TsDType out_dtype)
{
    bool known = ts_dtype_eq(out_dtype, TS_INT8) || ts_dtype_eq(out_dtype, TS_UINT8);
    TsRequantizeAttrs attrs = {
        .out_dtype = out_dtype,
        .axis = 1,
        .relu = false,
        .clip_min = known ? lowest(out_dtype) : 0,
        .clip_max = known ? highest(out_dtype) : 0,
    };
    return attrs;
}

/* The checks both requantize builders share: attrs, data int32, bias, zero point. */
static bool read_requantize(TsArena *arena, const char *op, TsTensor *data, TsTensor *bias,
                            TsTensor *zero_point, const TsRequantizeAttrs *attrs,
                            Elementwise *e, bool *bias_pc, bool *zp_pc, Limits *lim)
{
    char buf[TS_DTYPE_STR_MAX];

    if (attrs == NULL) {
        ts_arena_fail(arena, TS_EINVAL, "%s: attrs is NULL", op);
        return false;
    }
    lim->out_dtype = attrs->out_dtype;
    if (!ts_dtype_eq(lim->out_dtype, TS_INT8) && !ts_dtype_eq(lim->out_dtype, TS_UINT8)) {
        ts_arena_fail(arena, TS_EINVAL, "%s: out_dtype %s is not int8 or uint8", op,
                      ts_dtype_str(lim->out_dtype, buf));
        return false;
    }
    lim->lo = attrs->clip_min;
    lim->hi = attrs->clip_max;
    lim->relu = attrs->relu;
    if (lim->lo < lowest(lim->out_dtype) || lim->hi > highest(lim->out_dtype) ||
        lim->lo > lim->hi) {
        ts_arena_fail(arena, TS_EINVAL, "%s: clip [%lld, %lld] is empty or outside %s's range",
                      op, (long long)lim->lo, (long long)lim->hi,
                      ts_dtype_str(lim->out_dtype, buf));
        return false;
    }
    return read_elementwise(arena, op, "data", data, attrs->axis, e) &&
           dtype_is(arena, op, "data", data, TS_INT32) &&
           param(arena, op, "bias", bias, TS_INT32, e, attrs->axis, bias_pc) &&
           param(arena, op, "zero_point", zero_point, lim->out_dtype, e, attrs->axis, zp_pc);
}

/* data + bias, in int32 (wrapping). */
static TsExpr *accumulator(TsArena *arena, TsTensor *data, TsTensor *bias, bool bias_pc,
                           const Elementwise *e)
{
    TsExpr *acc = ts_access(arena, data, e->shape.ndim, e->vars);
    return bias ? ts_add(arena, acc, param_at(arena, bias, bias_pc, e)) : acc;
}

TsTensor *ts_op_requantize(TsArena *arena, TsTensor *data, TsTensor *bias, TsTensor *scale,
                           TsTensor *zero_point, const TsRequantizeAttrs *attrs)
{
    static const char *const op = "requantize";
    Elementwise e;
    bool bias_pc, zp_pc, scale_pc;
    Limits lim;

    if (arena == NULL ||
        !read_requantize(arena, op, data, bias, zero_point, attrs, &e, &bias_pc, &zp_pc, &lim) ||
        !te_op_tensor(arena, op, "scale", scale, &(TeOpShape){ 0 }) ||
        !param(arena, op, "scale", scale, TS_FLOAT32, &e, attrs->axis, &scale_pc))
        return NULL;
    TsExpr *acc = ts_cast(arena, TS_FLOAT32, accumulator(arena, data, bias, bias_pc, &e));
    TsExpr *v = ts_div(arena, acc, param_at(arena, scale, scale_pc, &e));
    return elementwise(arena, op, &e,
                       quantize_value(arena, v, param_at(arena, zero_point, zp_pc, &e), &lim));
}

TsTensor *ts_op_requantize_mul(TsArena *arena, TsTensor *data, TsTensor *bias, TsTensor *multiplier,
                               TsTensor *zero_point, const TsRequantizeAttrs *attrs)
{
    static const char *const op = "requantize";
    Elementwise e;
    bool bias_pc, zp_pc, mult_pc;
    Limits lim;

    if (arena == NULL ||
        !read_requantize(arena, op, data, bias, zero_point, attrs, &e, &bias_pc, &zp_pc, &lim) ||
        !te_op_tensor(arena, op, "multiplier", multiplier, &(TeOpShape){ 0 }) ||
        !param(arena, op, "multiplier", multiplier, TS_FLOAT32, &e, attrs->axis, &mult_pc))
        return NULL;
    TsExpr *acc = ts_cast(arena, TS_FLOAT32, accumulator(arena, data, bias, bias_pc, &e));
    TsExpr *v = ts_mul(arena, acc, param_at(arena, multiplier, mult_pc, &e));
    return elementwise(arena, op, &e,
                       quantize_value(arena, v, param_at(arena, zero_point, zp_pc, &e), &lim));
}

/* gemmlowp's SaturatingRoundingDoublingHighMul(a, b) on int32 a and b: the high 32 bits
 * of 2ab rounded to nearest (ties away from zero), INT32_MAX for INT32_MIN * INT32_MIN. */
static TsExpr *doubling_high_mul(TsArena *A, TsExpr *a, TsExpr *b)
{
    TsExpr *ab = ts_mul(A, ts_cast(A, TS_INT64, a), ts_cast(A, TS_INT64, b));
    TsExpr *nudge = ts_select(A, ts_ge(A, ab, ts_int(A, TS_INT64, 0)),
                              ts_int(A, TS_INT64, INT64_C(1) << 30),
                              ts_int(A, TS_INT64, 1 - (INT64_C(1) << 30)));
    TsExpr *high = ts_cast(A, TS_INT32, ts_div(A, ts_add(A, ab, nudge),
                                               ts_int(A, TS_INT64, INT64_C(1) << 31)));
    TsExpr *min = ts_i32(A, INT32_MIN);
    TsExpr *overflow = ts_and(A, ts_eq(A, a, min), ts_eq(A, b, min));
    return ts_select(A, overflow, ts_i32(A, INT32_MAX), high);
}

/* gemmlowp's RoundingDivideByPOT(x, exponent): x / 2^exponent rounded to nearest, ties
 * away from zero. */
static TsExpr *rounding_divide_by_pot(TsArena *A, TsExpr *x, TsExpr *exponent)
{
    TsExpr *mask = ts_sub(A, ts_shl(A, ts_i32(A, 1), exponent), ts_i32(A, 1));
    TsExpr *remainder = ts_bitand(A, x, mask);
    TsExpr *threshold = ts_add(A, ts_shr(A, mask, ts_i32(A, 1)),
                               ts_select(A, ts_lt(A, x, ts_i32(A, 0)), ts_i32(A, 1), ts_i32(A, 0)));
    TsExpr *up = ts_select(A, ts_gt(A, remainder, threshold), ts_i32(A, 1), ts_i32(A, 0));
    return ts_add(A, ts_shr(A, x, exponent), up);
}

TsTensor *ts_op_requantize_fixed(TsArena *arena, TsTensor *data, TsTensor *bias,
                                 TsTensor *multiplier, TsTensor *shift, TsTensor *zero_point,
                                 const TsRequantizeAttrs *attrs)
{
    static const char *const op = "requantize";
    Elementwise e;
    bool bias_pc, zp_pc, mult_pc, shift_pc;
    Limits lim;

    if (arena == NULL ||
        !read_requantize(arena, op, data, bias, zero_point, attrs, &e, &bias_pc, &zp_pc, &lim) ||
        !te_op_tensor(arena, op, "multiplier", multiplier, &(TeOpShape){ 0 }) ||
        !param(arena, op, "multiplier", multiplier, TS_INT32, &e, attrs->axis, &mult_pc) ||
        !te_op_tensor(arena, op, "shift", shift, &(TeOpShape){ 0 }) ||
        !param(arena, op, "shift", shift, TS_INT32, &e, attrs->axis, &shift_pc))
        return NULL;
    TsExpr *sh = param_at(arena, shift, shift_pc, &e);
    TsExpr *left = ts_max(arena, sh, ts_i32(arena, 0));
    TsExpr *right = ts_max(arena, ts_neg(arena, sh), ts_i32(arena, 0));
    TsExpr *acc = ts_shl(arena, accumulator(arena, data, bias, bias_pc, &e), left);
    TsExpr *scaled = doubling_high_mul(arena, acc, param_at(arena, multiplier, mult_pc, &e));
    TsExpr *q = rounding_divide_by_pot(arena, scaled, right);
    return elementwise(arena, op, &e,
                       clamp_to_output(arena, q, param_at(arena, zero_point, zp_pc, &e), &lim));
}
