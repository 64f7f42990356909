/* 2-D convolution of the operator library: ts_op_conv2d in NCHW (OIHW weights) and
 * NHWC (HWIO weights), with stride, asymmetric padding, dilation and groups (grouped
 * and depthwise convolution), and ts_op_conv2d_integer (ONNX ConvInteger: uint8/int8
 * operands with zero points, int32 accumulation), which is the same convolution with
 * the zero points subtracted from each operand and the padding filled with the data's
 * zero point.
 *
 * Padding is its own "pad" stage feeding the convolution, as in TVM's topi, so a
 * schedule can inline it or compute it at a tile; the convolution itself is one
 * reduction over (in-channel of the group, kernel row, kernel column), tagged
 * "conv2d_nchw", "group_conv2d_nchw" or "depthwise_conv2d_nchw" (and _nhwc) for the
 * schedule templates. Operands are cast to out_dtype before the multiply, so an int8
 * convolution accumulates exactly in int32.
 */
#include "ops_internal.h"

static const char *const op = "conv2d";

/* The extents of one convolution, read from data and weight in their layout. */
typedef struct ConvShape {
    int64_t batch, in_c, in_h, in_w;           /* data */
    int64_t out_c, group_in_c, kern_h, kern_w; /* weight */
    int64_t out_h, out_w;
    TsDType in_dtype, weight_dtype, acc_dtype;
} ConvShape;

/* The zero points of an integer convolution; all NULL for ts_op_conv2d. */
typedef struct ZeroPoints {
    TsTensor *data, *weight;
    bool weight_per_channel;
} ZeroPoints;

TsConv2dAttrs ts_conv2d_attrs_default(void)
{
    TsConv2dAttrs attrs = {
        .stride = { 1, 1 },
        .padding = { 0, 0, 0, 0 },
        .dilation = { 1, 1 },
        .groups = 1,
        .layout = TS_LAYOUT_NCHW,
        .out_dtype = { 0, 0, 0 },
    };
    return attrs;
}

static bool check_attrs(TsArena *arena, const TsConv2dAttrs *attrs)
{
    static const char *const pad_names[4] = { "padding[0] (top)", "padding[1] (left)",
                                              "padding[2] (bottom)", "padding[3] (right)" };

    if (attrs == NULL) {
        ts_arena_fail(arena, TS_EINVAL, "conv2d: attrs is NULL");
        return false;
    }
    if (!te_op_layout(arena, op, attrs->layout) ||
        !te_op_attr(arena, op, "stride[0] (height)", attrs->stride[0], 1) ||
        !te_op_attr(arena, op, "stride[1] (width)", attrs->stride[1], 1) ||
        !te_op_attr(arena, op, "dilation[0] (height)", attrs->dilation[0], 1) ||
        !te_op_attr(arena, op, "dilation[1] (width)", attrs->dilation[1], 1) ||
        !te_op_attr(arena, op, "groups", attrs->groups, 1))
        return false;
    for (int i = 0; i < 4; i++)
        if (!te_op_attr(arena, op, pad_names[i], attrs->padding[i], 0))
            return false;
    return true;
}

/* The dtypes of an integer convolution: uint8/int8 operands, int32 accumulation. */
static bool integer_dtypes(TsArena *arena, TsTensor *data, TsTensor *weight,
                           const TsConv2dAttrs *attrs, ConvShape *s)
{
    char buf[TS_DTYPE_STR_MAX];

    if (!te_op_int8(arena, op, "data", data) || !te_op_int8(arena, op, "weight", weight))
        return false;
    if (attrs->out_dtype.bits != 0 && !ts_dtype_eq(attrs->out_dtype, TS_INT32)) {
        ts_arena_fail(arena, TS_EINVAL, "conv2d: integer convolution accumulates in int32, "
                      "out_dtype %s given", ts_dtype_str(attrs->out_dtype, buf));
        return false;
    }
    s->acc_dtype = TS_INT32;
    return true;
}

/* Reads the extents of data (NCHW or NHWC) and weight (OIHW or HWIO), and the dtypes:
 * one for both operands, or with integer, uint8/int8 each. */
static bool read_shapes(TsArena *arena, TsTensor *data, TsTensor *weight,
                        const TsConv2dAttrs *attrs, bool integer, ConvShape *s)
{
    TeOpShape sd, sw;
    bool nchw = attrs->layout == TS_LAYOUT_NCHW;

    if (!te_op_tensor(arena, op, "data", data, &sd) ||
        !te_op_tensor(arena, op, "weight", weight, &sw) ||
        !te_op_rank(arena, op, "data", data, &sd, 4) ||
        !te_op_rank(arena, op, "weight", weight, &sw, 4))
        return false;
    s->in_dtype = ts_tensor_dtype(data);
    s->weight_dtype = ts_tensor_dtype(weight);
    if (integer ? !integer_dtypes(arena, data, weight, attrs, s)
                : !te_op_same_dtype(arena, op, "data", data, "weight", weight) ||
                      !te_op_accum_dtype(arena, op, s->in_dtype, attrs->out_dtype, &s->acc_dtype))
        return false;
    s->batch = sd.dim[0];
    s->in_c = sd.dim[nchw ? 1 : 3];
    s->in_h = sd.dim[nchw ? 2 : 1];
    s->in_w = sd.dim[nchw ? 3 : 2];
    s->out_c = sw.dim[nchw ? 0 : 3];
    s->group_in_c = sw.dim[nchw ? 1 : 2];
    s->kern_h = sw.dim[nchw ? 2 : 0];
    s->kern_w = sw.dim[nchw ? 3 : 1];
    return true;
}

static bool check_channels(TsArena *arena, const ConvShape *s, int64_t groups)
{
    if (s->in_c % groups != 0) {
        ts_arena_fail(arena, TS_EINVAL, "conv2d: groups %lld does not divide data channels %lld",
                      (long long)groups, (long long)s->in_c);
        return false;
    }
    if (s->out_c % groups != 0) {
        ts_arena_fail(arena, TS_EINVAL,
                      "conv2d: groups %lld does not divide weight out-channels %lld",
                      (long long)groups, (long long)s->out_c);
        return false;
    }
    if (s->group_in_c != s->in_c / groups) {
        ts_arena_fail(arena, TS_EINVAL,
                      "conv2d: weight in-channels %lld != data channels %lld / groups %lld",
                      (long long)s->group_in_c, (long long)s->in_c, (long long)groups);
        return false;
    }
    return true;
}

/* Output extent along one spatial dimension ("height" or "width"). */
static bool out_extent(TsArena *arena, const char *dim, int64_t in, int64_t pad_lo, int64_t pad_hi,
                       int64_t kernel, int64_t dilation, int64_t stride, int64_t *out)
{
    int64_t padded = in + pad_lo + pad_hi;
    int64_t dilated = (kernel - 1) * dilation + 1;

    if (dilated > padded) {
        ts_arena_fail(arena, TS_EINVAL,
                      "conv2d: dilated kernel %s %lld exceeds padded input %s %lld", dim,
                      (long long)dilated, dim, (long long)padded);
        return false;
    }
    *out = (padded - dilated) / stride + 1;
    return true;
}

/* The "pad" stage, or data itself when no side is padded. The padding holds the data's
 * zero point (0 when there is none). */
static TsTensor *pad_input(TsArena *arena, TsTensor *data, const ConvShape *s,
                           const TsConv2dAttrs *attrs, const ZeroPoints *zp)
{
    const int64_t *p = attrs->padding;
    bool nchw = attrs->layout == TS_LAYOUT_NCHW;
    TeOpShape shape = { 4, { s->batch, s->in_c, s->in_h, s->in_w } };
    int64_t before[4] = { 0, 0, p[0], p[1] }, after[4] = { 0, 0, p[2], p[3] };

    if (p[0] == 0 && p[1] == 0 && p[2] == 0 && p[3] == 0)
        return data;
    if (!nchw) {
        shape = (TeOpShape){ 4, { s->batch, s->in_h, s->in_w, s->in_c } };
        before[1] = p[0], before[2] = p[1], before[3] = 0;
        after[1] = p[2], after[2] = p[3], after[3] = 0;
    }
    TsExpr *value = zp->data ? te_op_quant_at(arena, zp->data, false, NULL)
                             : te_op_const(arena, op, "padding value", s->in_dtype, 0.0);
    return te_op_pad(arena, op, data, &shape, before, after, value);
}

/* The data channel read for output channel f and in-channel rc of its group. */
static TsExpr *in_channel(TsArena *arena, const ConvShape *s, int64_t groups, TsExpr *f, TsExpr *rc)
{
    int64_t group_out_c = s->out_c / groups;
    TsExpr *group;

    if (groups == 1)
        return rc;
    group = group_out_c == 1 ? f : ts_floordiv(arena, f, ts_i32(arena, group_out_c));
    if (s->group_in_c == 1)
        return group;
    return ts_add(arena, te_op_scale(arena, group, s->group_in_c), rc);
}

static const char *conv_tag(const ConvShape *s, const TsConv2dAttrs *attrs, const ZeroPoints *zp)
{
    static const char *const tags[2][3][2] = {
        { { "conv2d_nchw", "conv2d_nhwc" },
          { "depthwise_conv2d_nchw", "depthwise_conv2d_nhwc" },
          { "group_conv2d_nchw", "group_conv2d_nhwc" } },
        { { "conv2d_integer_nchw", "conv2d_integer_nhwc" },
          { "depthwise_conv2d_integer_nchw", "depthwise_conv2d_integer_nhwc" },
          { "group_conv2d_integer_nchw", "group_conv2d_integer_nhwc" } },
    };
    int kind = attrs->groups == 1 ? 0 : attrs->groups == s->in_c ? 1 : 2;
    bool zero_points = zp->data || zp->weight;

    return tags[zero_points][kind][attrs->layout == TS_LAYOUT_NCHW ? 0 : 1];
}

/* One term of the sum: the operands in the accumulation dtype, less their zero points. */
static TsExpr *term(TsArena *arena, const ConvShape *s, const ZeroPoints *zp, TsExpr *in_val,
                    TsExpr *w_val, TsExpr *f)
{
    if (!zp->data && !zp->weight)
        return ts_mul(arena, te_op_cast(arena, s->acc_dtype, in_val, s->in_dtype),
                      te_op_cast(arena, s->acc_dtype, w_val, s->weight_dtype));
    TsExpr *data_zp = zp->data ? te_op_quant_at(arena, zp->data, false, NULL) : NULL;
    TsExpr *weight_zp =
        zp->weight ? te_op_quant_at(arena, zp->weight, zp->weight_per_channel, f) : NULL;
    return ts_mul(arena, te_op_minus_zero_point(arena, in_val, s->in_dtype, data_zp),
                  te_op_minus_zero_point(arena, w_val, s->weight_dtype, weight_zp));
}

/* The convolution stage over the (possibly padded) input src. */
static TsTensor *convolve(TsArena *arena, TsTensor *src, TsTensor *weight, const ConvShape *s,
                          const TsConv2dAttrs *attrs, const ZeroPoints *zp)
{
    bool nchw = attrs->layout == TS_LAYOUT_NCHW;
    TsAxis *n = ts_axis(arena, "n", s->batch), *f = ts_axis(arena, "f", s->out_c);
    TsAxis *y = ts_axis(arena, "y", s->out_h), *x = ts_axis(arena, "x", s->out_w);
    TsAxis *rc = ts_reduce_axis(arena, "rc", s->group_in_c);
    TsAxis *ry = ts_reduce_axis(arena, "ry", s->kern_h),
           *rx = ts_reduce_axis(arena, "rx", s->kern_w);
    /* A group with one in-channel needs no rc loop. */
    TsExpr *rc_index = s->group_in_c > 1 ? ts_var(rc) : ts_i32(arena, 0);
    TsExpr *cin = in_channel(arena, s, attrs->groups, ts_var(f), rc_index);
    TsExpr *row = ts_add(arena, te_op_scale(arena, ts_var(y), attrs->stride[0]),
                         te_op_scale(arena, ts_var(ry), attrs->dilation[0]));
    TsExpr *col = ts_add(arena, te_op_scale(arena, ts_var(x), attrs->stride[1]),
                         te_op_scale(arena, ts_var(rx), attrs->dilation[1]));
    TsExpr *in_val = nchw ? ts_at(arena, src, ts_var(n), cin, row, col)
                          : ts_at(arena, src, ts_var(n), row, col, cin);
    TsExpr *w_val = nchw ? ts_at(arena, weight, ts_var(f), rc_index, ts_var(ry), ts_var(rx))
                         : ts_at(arena, weight, ts_var(ry), ts_var(rx), rc_index, ts_var(f));
    TsExpr *prod = term(arena, s, zp, in_val, w_val, ts_var(f));
    TsExpr *sum = s->group_in_c > 1 ? ts_sum(arena, prod, 3, (TsAxis *[]){ rc, ry, rx }, NULL)
                                    : ts_sum(arena, prod, 2, (TsAxis *[]){ ry, rx }, NULL);
    TsAxis *out_axes[4] = { n, f, y, x };

    if (!nchw) {
        out_axes[1] = y, out_axes[2] = x, out_axes[3] = f;
    }
    return ts_compute_tagged(arena, op, conv_tag(s, attrs, zp), 4, out_axes, sum);
}

/* Both builders: checks, then the pad and convolution stages. */
static TsTensor *conv2d(TsArena *arena, TsTensor *data, TsTensor *weight,
                        const TsConv2dAttrs *attrs, bool integer, ZeroPoints *zp)
{
    ConvShape s;
    bool data_pc;

    if (arena == NULL || !check_attrs(arena, attrs) ||
        !read_shapes(arena, data, weight, attrs, integer, &s) ||
        !check_channels(arena, &s, attrs->groups))
        return NULL;
    if (!te_op_quant_param(arena, op, "data_zero_point", zp->data, s.in_dtype, 0, &data_pc) ||
        !te_op_quant_param(arena, op, "weight_zero_point", zp->weight, s.weight_dtype, s.out_c,
                           &zp->weight_per_channel))
        return NULL;
    if (!out_extent(arena, "height", s.in_h, attrs->padding[0], attrs->padding[2], s.kern_h,
                    attrs->dilation[0], attrs->stride[0], &s.out_h) ||
        !out_extent(arena, "width", s.in_w, attrs->padding[1], attrs->padding[3], s.kern_w,
                    attrs->dilation[1], attrs->stride[1], &s.out_w))
        return NULL;
    return convolve(arena, pad_input(arena, data, &s, attrs, zp), weight, &s, attrs, zp);
}

TsTensor *ts_op_conv2d(TsArena *arena, TsTensor *data, TsTensor *weight, const TsConv2dAttrs *attrs)
{
    ZeroPoints none = { NULL, NULL, false };
    return conv2d(arena, data, weight, attrs, false, &none);
}

TsTensor *ts_op_conv2d_integer(TsArena *arena, TsTensor *data, TsTensor *weight,
                               TsTensor *data_zero_point, TsTensor *weight_zero_point,
                               const TsConv2dAttrs *attrs)
{
    ZeroPoints zp = { data_zero_point, weight_zero_point, false };
    return conv2d(arena, data, weight, attrs, true, &zp);
}
