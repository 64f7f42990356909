/* 2-D pooling of the operator library: max and average pooling with stride, dilation,
 * asymmetric padding and ceil mode (ts_op_pool2d), and global average pooling, in NCHW
 * and NHWC.
 *
 * Padding is not a stage here: the window's reduction carries a condition that keeps
 * only positions inside the input, so a padded position never wins a max (the max
 * reducer's identity is the dtype's lowest value) and adds nothing to a sum. Average
 * pooling is two stages, a sum ("pool_sum") and a division by the window size
 * ("pool_avg"), because a reduction must be a whole compute body; the divisor follows
 * ONNX and PyTorch: the window clipped to the padded input (count_include_pad) or the
 * number of input elements in it.
 */
#include "ops_internal.h"

static const char *const op = "pool2d";

/* One spatial dimension of a pooling window. */
typedef struct Window {
    const char *dim; /* "height" or "width", for messages */
    int64_t in, kernel, stride, dilation, pad_lo, pad_hi;
    int64_t out;
} Window;

TsPool2dAttrs ts_pool2d_attrs_default(TsPoolKind kind, int64_t kernel_h, int64_t kernel_w)
{
    TsPool2dAttrs attrs = {
        .kind = kind,
        .kernel = { kernel_h, kernel_w },
        .stride = { kernel_h, kernel_w },
        .dilation = { 1, 1 },
        .padding = { 0, 0, 0, 0 },
        .ceil_mode = false,
        .count_include_pad = false,
        .layout = TS_LAYOUT_NCHW,
    };
    return attrs;
}

static bool check_attrs(TsArena *arena, const TsPool2dAttrs *attrs)
{
    if (attrs == NULL) {
        ts_arena_fail(arena, TS_EINVAL, "pool2d: attrs is NULL");
        return false;
    }
    if (attrs->kind != TS_POOL_MAX && attrs->kind != TS_POOL_AVG) {
        ts_arena_fail(arena, TS_EINVAL, "pool2d: kind %d is neither max (%d) nor avg (%d)",
                      (int)attrs->kind, (int)TS_POOL_MAX, (int)TS_POOL_AVG);
        return false;
    }
    return te_op_layout(arena, op, attrs->layout) &&
           te_op_attr(arena, op, "kernel[0] (height)", attrs->kernel[0], 1) &&
           te_op_attr(arena, op, "kernel[1] (width)", attrs->kernel[1], 1) &&
           te_op_attr(arena, op, "stride[0] (height)", attrs->stride[0], 1) &&
           te_op_attr(arena, op, "stride[1] (width)", attrs->stride[1], 1) &&
           te_op_attr(arena, op, "dilation[0] (height)", attrs->dilation[0], 1) &&
           te_op_attr(arena, op, "dilation[1] (width)", attrs->dilation[1], 1);
}

/* Checks a side's padding against the dilated kernel. */
static bool check_pad(TsArena *arena, const char *what, int64_t pad, const Window *w)
{
    int64_t dilated = (w->kernel - 1) * w->dilation + 1;

    if (!te_op_attr(arena, op, what, pad, 0))
        return false;
    if (pad < dilated)
        return true;
    ts_arena_fail(arena, TS_EINVAL, "pool2d: %s = %lld must be < the dilated kernel %s %lld", what,
                  (long long)pad, w->dim, (long long)dilated);
    return false;
}

/* Output extent, ONNX/PyTorch style: in ceil mode a window that would start in the
 * bottom or right padding is dropped. */
static bool window_out(TsArena *arena, Window *w, bool ceil_mode)
{
    int64_t padded = w->in + w->pad_lo + w->pad_hi;
    int64_t dilated = (w->kernel - 1) * w->dilation + 1;
    int64_t span = padded - dilated;

    if (span < 0) {
        ts_arena_fail(arena, TS_EINVAL,
                      "pool2d: dilated kernel %s %lld exceeds padded input %s %lld", w->dim,
                      (long long)dilated, w->dim, (long long)padded);
        return false;
    }
    w->out = (ceil_mode ? span + w->stride - 1 : span) / w->stride + 1;
    if (ceil_mode && (w->out - 1) * w->stride >= w->in + w->pad_lo)
        w->out--;
    return true;
}

/* Fills the two windows from the attributes and data's spatial extents. */
static bool make_windows(TsArena *arena, const TsPool2dAttrs *attrs, int64_t in_h, int64_t in_w,
                         Window win[2])
{
    win[0] = (Window){ "height",           in_h,
                       attrs->kernel[0],   attrs->stride[0],
                       attrs->dilation[0], attrs->padding[0],
                       attrs->padding[2],  0 };
    win[1] = (Window){ "width",
                       in_w,
                       attrs->kernel[1],
                       attrs->stride[1],
                       attrs->dilation[1],
                       attrs->padding[1],
                       attrs->padding[3],
                       0 };
    return check_pad(arena, "padding[0] (top)", attrs->padding[0], &win[0]) &&
           check_pad(arena, "padding[1] (left)", attrs->padding[1], &win[1]) &&
           check_pad(arena, "padding[2] (bottom)", attrs->padding[2], &win[0]) &&
           check_pad(arena, "padding[3] (right)", attrs->padding[3], &win[1]) &&
           window_out(arena, &win[0], attrs->ceil_mode) &&
           window_out(arena, &win[1], attrs->ceil_mode);
}

/* The input position o * stride + k * dilation - pad_lo, and in *cond (ANDed onto what
 * is there, NULL meaning true) the bounds it may cross. */
static TsExpr *window_pos(TsArena *arena, const Window *w, TsExpr *o, TsExpr *k, TsExpr **cond)
{
    TsExpr *pos =
        ts_add(arena, te_op_scale(arena, o, w->stride), te_op_scale(arena, k, w->dilation));
    int64_t last = (w->out - 1) * w->stride + (w->kernel - 1) * w->dilation - w->pad_lo;

    if (w->pad_lo > 0) {
        pos = ts_sub(arena, pos, ts_i32(arena, w->pad_lo));
        TsExpr *lo = ts_ge(arena, pos, ts_i32(arena, 0));
        *cond = *cond ? ts_and(arena, *cond, lo) : lo;
    }
    if (last >= w->in) {
        TsExpr *hi = ts_lt(arena, pos, ts_i32(arena, w->in));
        *cond = *cond ? ts_and(arena, *cond, hi) : hi;
    }
    return pos;
}

/* The number of k in [0, kernel) with lo <= o * stride - pad_lo + k * dilation < hi, as
 * an int32 expression; *constant is set when it is the whole kernel everywhere. */
static TsExpr *window_count(TsArena *arena, const Window *w, TsExpr *o, int64_t lo, int64_t hi,
                            bool *constant)
{
    int64_t d = w->dilation;
    bool clip_lo = -w->pad_lo < lo;
    bool clip_hi = (w->out - 1) * w->stride - w->pad_lo + (w->kernel - 1) * d >= hi;
    TsExpr *o_s = te_op_scale(arena, o, w->stride);
    TsExpr *k_lo = ts_i32(arena, 0), *k_hi = ts_i32(arena, w->kernel - 1);

    *constant = !clip_lo && !clip_hi;
    if (*constant)
        return ts_i32(arena, w->kernel);
    if (clip_lo) { /* ceil((lo - start) / d) */
        TsExpr *t = ts_sub(arena, ts_i32(arena, lo + d - 1 + w->pad_lo), o_s);
        k_lo = ts_max(arena, k_lo, d == 1 ? t : ts_floordiv(arena, t, ts_i32(arena, d)));
    }
    if (clip_hi) { /* floor((hi - 1 - start) / d) */
        TsExpr *t = ts_sub(arena, ts_i32(arena, hi - 1 + w->pad_lo), o_s);
        k_hi = ts_min(arena, k_hi, d == 1 ? t : ts_floordiv(arena, t, ts_i32(arena, d)));
    }
    TsExpr *count = ts_add(arena, ts_sub(arena, k_hi, k_lo), ts_i32(arena, 1));
    return ts_max(arena, count, ts_i32(arena, 0));
}

/* Where height and width sit in the layout. */
static void spatial_dims(TsLayout layout, int *h_dim, int *w_dim)
{
    *h_dim = layout == TS_LAYOUT_NCHW ? 2 : 1;
    *w_dim = *h_dim + 1;
}

static const char *const *axis_names(TsLayout layout)
{
    static const char *const nchw[4] = { "n", "c", "oh", "ow" };
    static const char *const nhwc[4] = { "n", "oh", "ow", "c" };
    return layout == TS_LAYOUT_NCHW ? nchw : nhwc;
}

/* The window reduction (max or sum) over data as one compute op. */
static TsTensor *reduce_windows(TsArena *arena, TsTensor *data, const TsPool2dAttrs *attrs,
                                const Window win[2], const char *name, const char *tag)
{
    int h_dim, w_dim;
    TeOpShape out = { 4, { 0 } };
    TsExpr **index, *cond = NULL, *source, *body;
    TsAxis **axes, *kh = ts_reduce_axis(arena, "kh", win[0].kernel);
    TsAxis *kw = ts_reduce_axis(arena, "kw", win[1].kernel);

    spatial_dims(attrs->layout, &h_dim, &w_dim);
    for (int i = 0; i < 4; i++)
        out.dim[i] = ts_tensor_dim(data, i);
    out.dim[h_dim] = win[0].out;
    out.dim[w_dim] = win[1].out;
    axes = te_op_axes(arena, &out, axis_names(attrs->layout));
    index = axes ? te_op_vars(arena, 4, axes) : NULL;
    if (index == NULL)
        return NULL;
    index[h_dim] = window_pos(arena, &win[0], index[h_dim], ts_var(kh), &cond);
    index[w_dim] = window_pos(arena, &win[1], index[w_dim], ts_var(kw), &cond);
    source = ts_access(arena, data, 4, index);
    body = attrs->kind == TS_POOL_MAX
               ? ts_reduce_max(arena, source, 2, (TsAxis *[]){ kh, kw }, cond)
               : ts_sum(arena, source, 2, (TsAxis *[]){ kh, kw }, cond);
    return ts_compute_tagged(arena, name, tag, 4, axes, body);
}

/* avg_pool2d[i] = sum[i] / the window size at i. */
static TsTensor *divide_windows(TsArena *arena, TsTensor *sum, const TsPool2dAttrs *attrs,
                                const Window win[2])
{
    int h_dim, w_dim;
    TeOpShape out = { 4, { 0 } };
    TsDType dtype = ts_tensor_dtype(sum);
    bool const_h, const_w;

    spatial_dims(attrs->layout, &h_dim, &w_dim);
    for (int i = 0; i < 4; i++)
        out.dim[i] = ts_tensor_dim(sum, i);
    TsAxis **axes = te_op_axes(arena, &out, axis_names(attrs->layout));
    TsExpr **index = axes ? te_op_vars(arena, 4, axes) : NULL;
    if (index == NULL)
        return NULL;
    bool inc = attrs->count_include_pad;
    TsExpr *count_h = window_count(arena, &win[0], index[h_dim], inc ? -win[0].pad_lo : 0,
                                   inc ? win[0].in + win[0].pad_hi : win[0].in, &const_h);
    TsExpr *count_w = window_count(arena, &win[1], index[w_dim], inc ? -win[1].pad_lo : 0,
                                   inc ? win[1].in + win[1].pad_hi : win[1].in, &const_w);
    TsExpr *divisor = const_h && const_w ? te_op_const(arena, op, "window size", dtype,
                                                       (double)(win[0].kernel * win[1].kernel))
                                         : ts_cast(arena, dtype, ts_mul(arena, count_h, count_w));
    TsExpr *body = ts_div(arena, ts_access(arena, sum, 4, index), divisor);
    return ts_compute_tagged(arena, "avg_pool2d", "pool_avg", 4, axes, body);
}

TsTensor *ts_op_pool2d(TsArena *arena, TsTensor *data, const TsPool2dAttrs *attrs)
{
    TeOpShape shape;
    Window win[2];
    int h_dim, w_dim;

    if (arena == NULL || !check_attrs(arena, attrs) ||
        !te_op_tensor(arena, op, "data", data, &shape) ||
        !te_op_rank(arena, op, "data", data, &shape, 4))
        return NULL;
    if (attrs->kind == TS_POOL_MAX ? !te_op_arith(arena, "max pool2d", "data", data)
                                   : !te_op_float(arena, "avg pool2d", "data", data))
        return NULL;
    spatial_dims(attrs->layout, &h_dim, &w_dim);
    if (!make_windows(arena, attrs, shape.dim[h_dim], shape.dim[w_dim], win))
        return NULL;
    if (attrs->kind == TS_POOL_MAX)
        return reduce_windows(arena, data, attrs, win, "max_pool2d", "pool_max");
    TsTensor *sum = reduce_windows(arena, data, attrs, win, "avg_pool2d_sum", "pool_sum");
    return sum ? divide_windows(arena, sum, attrs, win) : NULL;
}

/* Sum over height and width, kept as 1 x 1. */
static TsTensor *global_sum(TsArena *arena, TsTensor *data, const TeOpShape *shape, TsLayout layout)
{
    int h_dim, w_dim;
    TeOpShape out = *shape;

    spatial_dims(layout, &h_dim, &w_dim);
    out.dim[h_dim] = out.dim[w_dim] = 1;
    TsAxis **axes = te_op_axes(arena, &out, axis_names(layout));
    TsExpr **index = axes ? te_op_vars(arena, 4, axes) : NULL;
    TsAxis *rh = ts_reduce_axis(arena, "rh", shape->dim[h_dim]);
    TsAxis *rw = ts_reduce_axis(arena, "rw", shape->dim[w_dim]);
    if (index == NULL)
        return NULL;
    index[h_dim] = ts_var(rh);
    index[w_dim] = ts_var(rw);
    TsExpr *sum = ts_sum(arena, ts_access(arena, data, 4, index), 2, (TsAxis *[]){ rh, rw }, NULL);
    return ts_compute_tagged(arena, "global_avg_pool2d_sum", "global_pool_sum", 4, axes, sum);
}

TsTensor *ts_op_global_avg_pool2d(TsArena *arena, TsTensor *data, TsLayout layout)
{
    const char *gop = "global_avg_pool2d";
    TeOpShape shape;
    int h_dim, w_dim;

    if (arena == NULL || !te_op_layout(arena, gop, layout) ||
        !te_op_tensor(arena, gop, "data", data, &shape) ||
        !te_op_rank(arena, gop, "data", data, &shape, 4) || !te_op_float(arena, gop, "data", data))
        return NULL;
    spatial_dims(layout, &h_dim, &w_dim);
    TsTensor *sum = global_sum(arena, data, &shape, layout);
    if (sum == NULL)
        return NULL;
    TeOpShape out = shape;
    out.dim[h_dim] = out.dim[w_dim] = 1;
    TsAxis **axes = te_op_axes(arena, &out, axis_names(layout));
    TsExpr **index = axes ? te_op_vars(arena, 4, axes) : NULL;
    if (index == NULL)
        return NULL;
    TsExpr *divisor = te_op_const(arena, gop, "window size", ts_tensor_dtype(data),
                                  (double)(shape.dim[h_dim] * shape.dim[w_dim]));
    TsExpr *body = ts_div(arena, ts_access(arena, sum, 4, index), divisor);
    return ts_compute_tagged(arena, gop, "global_pool_avg", 4, axes, body);
}
