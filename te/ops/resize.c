/* Resizing of the operator library (ONNX's Resize and Upsample): nearest with every
 * rounding mode, and linear (bilinear, trilinear, ...) interpolation, under each
 * coordinate transformation ONNX defines except tf_crop_and_resize, over any rank.
 *
 * One compute op. An output index x of a resized dimension maps back to the input
 * coordinate x_orig (ONNX's formulas, evaluated in float64 as the reference does); nearest
 * rounds it, linear blends its two neighbours floor(x_orig) and floor(x_orig) + 1. Indices
 * outside the input are clamped to its edge, which is the reference's edge padding. A
 * dimension whose extent and scale are unchanged maps each index to itself under every
 * transformation and is read directly.
 */
#include "ops_internal.h"

static const char *const op = "resize";

enum { MAX_LINEAR_DIMS = 4 }; /* 2^4 taps per output point at most */

static TsExpr *f64(TsArena *arena, double v)
{
    return ts_float(arena, TS_FLOAT64, v);
}

/* x_orig for output index x along a dimension of extent in -> out at scale. */
static TsExpr *original(TsArena *arena, const TsResizeAttrs *attrs, TsExpr *x, int64_t in,
                        int64_t out, double scale)
{
    TsExpr *xf = ts_cast(arena, TS_FLOAT64, x);
    TsExpr *half =
        ts_sub(arena, ts_div(arena, ts_add(arena, xf, f64(arena, 0.5)), f64(arena, scale)),
               f64(arena, 0.5));
    switch (attrs->coord) {
    case TS_RESIZE_HALF_PIXEL: return half;
    case TS_RESIZE_HALF_PIXEL_SYMMETRIC: {
        double adjustment = (double)out / (scale * (double)in);
        double offset = (double)in / 2.0 * (1.0 - adjustment);
        return ts_add(arena, f64(arena, offset), half);
    }
    case TS_RESIZE_PYTORCH_HALF_PIXEL: return out > 1 ? half : f64(arena, 0.0);
    case TS_RESIZE_ALIGN_CORNERS: {
        /* The reference divides by scale * in - 1, the resized length before flooring
         * (it is the extent itself when sizes were given). */
        double resized = scale * (double)in;
        if (resized == 1.0)
            return f64(arena, 0.0);
        return ts_div(arena, ts_mul(arena, xf, f64(arena, (double)(in - 1))),
                      f64(arena, resized - 1.0));
    }
    case TS_RESIZE_ASYMMETRIC: return ts_div(arena, xf, f64(arena, scale));
    }
    return NULL;
}

static TsExpr *clamp_index(TsArena *arena, TsExpr *i, int64_t in)
{
    return ts_max(arena, ts_i32(arena, 0), ts_min(arena, i, ts_i32(arena, in - 1)));
}

static TsExpr *nearest(TsArena *arena, const TsResizeAttrs *attrs, TsExpr *x, int64_t in)
{
    TsExpr *r = NULL;
    switch (attrs->nearest) {
    case TS_RESIZE_ROUND_PREFER_FLOOR: r = ts_ceil(arena, ts_sub(arena, x, f64(arena, 0.5))); break;
    case TS_RESIZE_ROUND_PREFER_CEIL: r = ts_floor(arena, ts_add(arena, x, f64(arena, 0.5))); break;
    case TS_RESIZE_FLOOR: r = ts_floor(arena, x); break;
    case TS_RESIZE_CEIL: r = ts_ceil(arena, x); break;
    }
    /* Clamped in float64 first, so that a far coordinate cannot saturate the cast. */
    r = ts_max(arena, f64(arena, 0.0), ts_min(arena, r, f64(arena, (double)(in - 1))));
    return ts_cast(arena, TS_INT32, r);
}

static bool check(TsArena *arena, const TsResizeAttrs *attrs, const TeOpShape *in, TsDType dtype,
                  TeOpShape *out, int *num_linear)
{
    if (attrs == NULL || attrs->mode < TS_RESIZE_NEAREST || attrs->mode > TS_RESIZE_LINEAR ||
        attrs->coord < TS_RESIZE_HALF_PIXEL || attrs->coord > TS_RESIZE_ASYMMETRIC ||
        attrs->nearest < TS_RESIZE_ROUND_PREFER_FLOOR || attrs->nearest > TS_RESIZE_CEIL) {
        ts_arena_fail(arena, TS_EINVAL, "%s: attrs are NULL or not of their enums", op);
        return false;
    }
    if (attrs->mode == TS_RESIZE_LINEAR && !(ts_dtype_is_float(dtype) && dtype.bits >= 32)) {
        ts_arena_fail(arena, TS_EINVAL, "%s: linear interpolation takes float32 or float64 data",
                      op);
        return false;
    }
    out->ndim = in->ndim;
    *num_linear = 0;
    for (int i = 0; i < in->ndim; i++) {
        if (!te_op_attr(arena, op, "out_shape", attrs->out_shape[i], 1))
            return false;
        if (!(attrs->scale[i] > 0.0)) {
            ts_arena_fail(arena, TS_EINVAL, "%s: scale[%d] = %g is not positive", op, i,
                          attrs->scale[i]);
            return false;
        }
        out->dim[i] = attrs->out_shape[i];
        bool identity = out->dim[i] == in->dim[i] && attrs->scale[i] == 1.0;
        *num_linear += attrs->mode == TS_RESIZE_LINEAR && !identity;
    }
    if (*num_linear > MAX_LINEAR_DIMS) {
        ts_arena_fail(arena, TS_EINVAL, "%s: linear interpolation of %d dimensions (at most %d)",
                      op, *num_linear, MAX_LINEAR_DIMS);
        return false;
    }
    return te_op_num_elements(out->ndim, out->dim) >= 0 ||
           ts_arena_fail(arena, TS_EINVAL, "%s: the output has too many elements", op) == TS_OK;
}

TsTensor *ts_op_resize(TsArena *arena, TsTensor *data, const TsResizeAttrs *attrs)
{
    TeOpShape in, out;
    int num_linear;

    if (arena == NULL || !te_op_tensor(arena, op, "data", data, &in) ||
        !check(arena, attrs, &in, ts_tensor_dtype(data), &out, &num_linear))
        return NULL;
    TsAxis **axes = te_op_axes(arena, &out, NULL);
    TsExpr **vars = axes ? te_op_vars(arena, out.ndim, axes) : NULL;
    if (vars == NULL)
        return NULL;
    TsExpr *index[TS_MAX_DIMS], *lo[TS_MAX_DIMS], *hi[TS_MAX_DIMS], *ratio[TS_MAX_DIMS];
    int linear_dims[MAX_LINEAR_DIMS], n = 0;
    for (int i = 0; i < in.ndim; i++) {
        if (out.dim[i] == in.dim[i] && attrs->scale[i] == 1.0) {
            index[i] = vars[i];
            continue;
        }
        TsExpr *x = original(arena, attrs, vars[i], in.dim[i], out.dim[i], attrs->scale[i]);
        if (attrs->mode == TS_RESIZE_NEAREST) {
            index[i] = nearest(arena, attrs, x, in.dim[i]);
            continue;
        }
        /* floor taken in float64 and clamped to [-1, in] before the cast to int32 */
        TsExpr *fl = ts_max(arena, f64(arena, -1.0),
                            ts_min(arena, ts_floor(arena, x), f64(arena, (double)in.dim[i])));
        ratio[i] = ts_sub(arena, x, ts_floor(arena, x));
        TsExpr *x0 = ts_cast(arena, TS_INT32, fl);
        lo[i] = clamp_index(arena, x0, in.dim[i]);
        hi[i] = clamp_index(arena, ts_add(arena, x0, ts_i32(arena, 1)), in.dim[i]);
        linear_dims[n++] = i;
    }
    TsDType dtype = ts_tensor_dtype(data);
    if (attrs->mode == TS_RESIZE_NEAREST || n == 0)
        return ts_compute_tagged(arena, op, op, out.ndim, axes,
                                 ts_access(arena, data, in.ndim, index));
    /* The taps accumulate in float64 and round once. */
    TsExpr *sum = NULL;
    for (int corner = 0; corner < (1 << n); corner++) {
        TsExpr *weight = f64(arena, 1.0);
        for (int j = 0; j < n; j++) {
            int i = linear_dims[j];
            bool upper = (corner >> j) & 1;
            index[i] = upper ? hi[i] : lo[i];
            weight =
                ts_mul(arena, weight, upper ? ratio[i] : ts_sub(arena, f64(arena, 1.0), ratio[i]));
        }
        TsExpr *value =
            te_op_cast(arena, TS_FLOAT64, ts_access(arena, data, in.ndim, index), dtype);
        TsExpr *term = ts_mul(arena, weight, value);
        sum = sum ? ts_add(arena, sum, term) : term;
    }
    TsExpr *body = te_op_cast(arena, dtype, sum, TS_FLOAT64);
    return ts_compute_tagged(arena, op, op, out.ndim, axes, body);
}
