/* Transposed 2-D convolution (ONNX's ConvTranspose, PyTorch's conv_transpose2d) of the
 * operator library, NCHW with weight [C, M / groups, KH, KW]: strides, dilations, groups,
 * begin pads (the output extent, which output_padding and output_shape decide, is given).
 *
 * One compute op, written as the gradient of a convolution: output point (y, x) gathers
 * every input point (iy, ix) and kernel tap (kh, kw) with iy * stride + kh * dilation =
 * y + pad. The reduction's condition keeps the taps whose input position is whole and
 * inside the input, so no zero-stuffed copy of the input is ever built.
 */
#include "ops_internal.h"

static const char *const op = "conv_transpose2d";

/* The input position along one dimension for output o and tap k, and in *cond the
 * condition that it is a whole position inside [0, in). */
static TsExpr *source(TsArena *arena, TsExpr *o, TsExpr *k, int64_t stride, int64_t dilation,
                      int64_t pad, int64_t in, TsExpr **cond)
{
    TsExpr *pos =
        ts_sub(arena, ts_add(arena, o, ts_i32(arena, pad)), te_op_scale(arena, k, dilation));
    TsExpr *at = stride == 1 ? pos : ts_floordiv(arena, pos, ts_i32(arena, stride));
    TsExpr *c =
        ts_and(arena, ts_ge(arena, pos, ts_i32(arena, 0)), ts_lt(arena, at, ts_i32(arena, in)));
    if (stride != 1)
        c = ts_and(arena, c,
                   ts_eq(arena, ts_floormod(arena, pos, ts_i32(arena, stride)), ts_i32(arena, 0)));
    *cond = *cond ? ts_and(arena, *cond, c) : c;
    return at;
}

TsTensor *ts_op_conv_transpose2d(TsArena *arena, TsTensor *data, TsTensor *weight,
                                 const TsConvTranspose2dAttrs *attrs)
{
    TeOpShape sd, sw;

    if (arena == NULL || !te_op_tensor(arena, op, "data", data, &sd) ||
        !te_op_tensor(arena, op, "weight", weight, &sw) ||
        !te_op_rank(arena, op, "data", data, &sd, 4) ||
        !te_op_rank(arena, op, "weight", weight, &sw, 4) ||
        !te_op_same_dtype(arena, op, "data", data, "weight", weight) ||
        !te_op_arith(arena, op, "data", data))
        return NULL;
    if (attrs == NULL) {
        ts_arena_fail(arena, TS_EINVAL, "%s: attrs is NULL", op);
        return NULL;
    }
    int64_t groups = attrs->groups;
    if (!te_op_attr(arena, op, "groups", groups, 1) ||
        !te_op_attr(arena, op, "stride[0]", attrs->stride[0], 1) ||
        !te_op_attr(arena, op, "stride[1]", attrs->stride[1], 1) ||
        !te_op_attr(arena, op, "dilation[0]", attrs->dilation[0], 1) ||
        !te_op_attr(arena, op, "dilation[1]", attrs->dilation[1], 1) ||
        !te_op_attr(arena, op, "out_height", attrs->out_size[0], 1) ||
        !te_op_attr(arena, op, "out_width", attrs->out_size[1], 1))
        return NULL;
    if (sd.dim[1] != sw.dim[0] || sd.dim[1] % groups) {
        ts_arena_fail(arena, TS_EINVAL,
                      "%s: data has %lld channels, the weight %lld, groups %lld must divide them",
                      op, (long long)sd.dim[1], (long long)sw.dim[0], (long long)groups);
        return NULL;
    }
    for (int d = 0; d < 2; d++)
        if (attrs->pad[d] < -TS_MAX_EXTENT || attrs->pad[d] > TS_MAX_EXTENT) {
            ts_arena_fail(arena, TS_EINVAL, "%s: pad[%d] is out of range", op, d);
            return NULL;
        }
    int64_t cg = sd.dim[1] / groups, mg = sw.dim[1];
    TeOpShape out = { 4, { sd.dim[0], mg * groups, attrs->out_size[0], attrs->out_size[1] } };
    if (te_op_num_elements(4, out.dim) < 0) {
        ts_arena_fail(arena, TS_EINVAL, "%s: the output has too many elements", op);
        return NULL;
    }
    static const char *const names[4] = { "n", "m", "y", "x" };
    TsAxis **axes = te_op_axes(arena, &out, names);
    TsAxis *rc = ts_reduce_axis(arena, "rc", cg), *kh = ts_reduce_axis(arena, "kh", sw.dim[2]);
    TsAxis *kw = ts_reduce_axis(arena, "kw", sw.dim[3]);
    if (axes == NULL || rc == NULL || kh == NULL || kw == NULL)
        return NULL;
    TsExpr *m = ts_var(axes[1]), *cond = NULL;
    TsExpr *group = groups == 1 ? NULL : ts_floordiv(arena, m, ts_i32(arena, mg));
    TsExpr *c = group ? ts_add(arena, te_op_scale(arena, group, cg), ts_var(rc)) : ts_var(rc);
    TsExpr *m_in = groups == 1 ? m : ts_floormod(arena, m, ts_i32(arena, mg));
    TsExpr *iy = source(arena, ts_var(axes[2]), ts_var(kh), attrs->stride[0], attrs->dilation[0],
                        attrs->pad[0], sd.dim[2], &cond);
    TsExpr *ix = source(arena, ts_var(axes[3]), ts_var(kw), attrs->stride[1], attrs->dilation[1],
                        attrs->pad[1], sd.dim[3], &cond);
    TsExpr *prod = ts_mul(arena, ts_at(arena, data, ts_var(axes[0]), c, iy, ix),
                          ts_at(arena, weight, c, m_in, ts_var(kh), ts_var(kw)));
    TsExpr *body = ts_sum(arena, prod, 3, (TsAxis *[]){ rc, kh, kw }, cond);
    return ts_compute_tagged(arena, op, op, 4, axes, body);
}
