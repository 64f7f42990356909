/* Lowering of the quantized operators onto te's integer and quantization ops:
 * QuantizeLinear, DequantizeLinear, ConvInteger, MatMulInteger, QLinearConv,
 * QLinearMatMul, com.microsoft's QLinearAdd, and the QDQ fusion's integer groups
 * (tessera.QConv, tessera.QDense, tessera.QAdd: passes/fuse_qdq.c). Part of node lowering
 * (lower_node.c); inference (infer_quant.c) checked every parameter's dtype and shape.
 *
 * The requantization follows ONNX Runtime's (MlasRequantizeOutput) operation for
 * operation, so that integer outputs match it bit for bit:
 *   multiplier[c] = float32(float32(x_scale * w_scale[c]) / y_scale)
 *   y = saturate(round_half_even(float32(acc + bias) * multiplier[c]) + y_zero_point)
 * and QLinearAdd as MlasQLinearAdd computes it:
 *   y = saturate(round_half_even(float32(a) * (A_scale / C_scale)
 *                                + (float32(b) * (B_scale / C_scale) + fixed)))
 *   fixed = C_zp - (A_scale / C_scale * A_zp + B_scale / C_scale * B_zp)
 * The fused groups clamp the result to [qmin, qmax] (a folded ReLU or Clip). A zero
 * point that is a constant zero is left out, so that a group with symmetric weights has
 * the plain integer product that the int8 templates compute. */
#include <string.h>

#include "relay_lite/lower_rules.h"

/* The tensor of input k when the node has it, else NULL (an omitted optional input). */
static TsTensor *optional(RlyLower *l, int k)
{
    return rly_input(l->node, k) ? l->inputs[k] : NULL;
}

/* A zero point's tensor, or NULL when it is omitted or a constant of zeros. */
static TsTensor *zero_point(RlyLower *l, int k)
{
    const RlyValue *v = rly_input(l->node, k);
    if (!v)
        return NULL;
    if (v->constant) {
        const uint8_t *bytes = v->constant->data;
        int64_t n = v->constant->num_elements * (int64_t)ts_dtype_bytes(v->constant->dtype);
        bool zero = true;
        for (int64_t i = 0; zero && i < n; i++)
            zero = bytes[i] == 0;
        if (zero)
            return NULL;
    }
    return l->inputs[k];
}

/* Element 0 of a one-element tensor of any rank. */
static TsExpr *first(RlyLower *l, TsTensor *t)
{
    TsExpr *zeros[TS_MAX_DIMS];
    for (int d = 0; d < ts_tensor_ndim(t); d++)
        zeros[d] = ts_i32(l->arena, 0);
    return ts_access(l->arena, t, ts_tensor_ndim(t), zeros);
}

/* (x_scale * w_scale[c]) / y_scale in float32: [1] per tensor, [C] per channel. */
static TsTensor *multiplier(RlyLower *l, TsTensor *xs, TsTensor *ws, TsTensor *ys)
{
    TsArena *a = l->arena;
    int64_t count = ts_tensor_num_elements(ws);
    TsAxis *c = ts_axis(a, "c", count);
    TsExpr *w = count == 1 ? first(l, ws) : ts_at(a, ws, ts_var(c));
    TsExpr *body = ts_div(a, ts_mul(a, first(l, xs), w), first(l, ys));
    return ts_compute(a, "requant_multiplier", 1, (TsAxis *[]){ c }, body);
}

/* The output's clamp: [qmin, qmax] of the fused groups, the output type's range else. */
static TsStatus clamp_attrs(RlyLower *l, TsDType out, int axis, TsRequantizeAttrs *attrs)
{
    *attrs = ts_requantize_attrs_default(out);
    attrs->axis = axis;
    int64_t lo = attrs->clip_min, hi = attrs->clip_max;
    TsStatus status = rly_attr_int(l->graph, l->node, "qmin", lo, &attrs->clip_min, l->err);
    if (status == TS_OK)
        status = rly_attr_int(l->graph, l->node, "qmax", hi, &attrs->clip_max, l->err);
    return status;
}

/* QuantizeLinear's and DequantizeLinear's axis: the attribute since opset 13, else 1
 * (per-tensor parameters then, which any axis serves). */
static TsStatus quant_axis(RlyLower *l, int *axis)
{
    int64_t value = 1;
    TsStatus status =
        l->graph->opset >= 13 ? rly_attr_int(l->graph, l->node, "axis", 1, &value, l->err) : TS_OK;
    *axis = (int)value;
    return status;
}

TsStatus rly_lower_quantize(RlyLower *l)
{
    int axis = 1;
    TsStatus status = quant_axis(l, &axis);
    if (status != TS_OK)
        return status;
    TsTensor *y = ts_op_quantize_linear(l->arena, l->inputs[0], l->inputs[1], optional(l, 2), axis,
                                        rly_output(l->node, 0)->dtype);
    return rly_lower_output(l, 0, y);
}

TsStatus rly_lower_dequantize(RlyLower *l)
{
    int axis = 1;
    TsStatus status = quant_axis(l, &axis);
    if (status != TS_OK)
        return status;
    TsTensor *y =
        ts_op_dequantize_linear(l->arena, l->inputs[0], l->inputs[1], optional(l, 2), axis);
    return rly_lower_output(l, 0, y);
}

/* The int32 convolution of inputs xk and wk with zero points at xz and wz, as 2-D. */
static TsStatus conv_acc(RlyLower *l, int xk, int xz, int wk, int wz, int *spatial, TsTensor **acc)
{
    TsTensor *x = l->inputs[xk], *w = l->inputs[wk];
    TsConv2dAttrs attrs;
    TsStatus status = rly_lower_conv_attrs(l, x, w, &attrs, spatial);
    if (status != TS_OK)
        return status;
    attrs.out_dtype = TS_INT32;
    *acc = ts_op_conv2d_integer(l->arena, rly_lower_as_2d(l, x, *spatial),
                                rly_lower_as_2d(l, w, *spatial), zero_point(l, xz),
                                zero_point(l, wz), &attrs);
    return TS_OK;
}

TsStatus rly_lower_conv_integer(RlyLower *l)
{
    int spatial = 2;
    TsTensor *acc = NULL;
    TsStatus status = conv_acc(l, 0, 2, 1, 3, &spatial, &acc);
    if (status != TS_OK)
        return status;
    return rly_lower_output(l, 0, rly_lower_reshape_to(l, acc, 0));
}

TsStatus rly_lower_matmul_integer(RlyLower *l)
{
    TsTensor *y = ts_op_matmul_integer(l->arena, l->inputs[0], l->inputs[1], zero_point(l, 2),
                                       zero_point(l, 3));
    return rly_lower_output(l, 0, y);
}

/* QLinearConv and tessera.QConv: x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, B. */
TsStatus rly_lower_qlinear_conv(RlyLower *l)
{
    int spatial = 2;
    TsTensor *acc = NULL;
    TsRequantizeAttrs attrs;
    TsStatus status = conv_acc(l, 0, 2, 3, 5, &spatial, &acc);
    if (status == TS_OK)
        status = clamp_attrs(l, rly_output(l->node, 0)->dtype, 1, &attrs);
    if (status != TS_OK)
        return status;
    TsTensor *mult = multiplier(l, l->inputs[1], l->inputs[4], l->inputs[6]);
    TsTensor *y = acc && mult ? ts_op_requantize_mul(l->arena, acc, optional(l, 8), mult,
                                                     l->inputs[7], &attrs)
                              : NULL;
    return rly_lower_output(l, 0, rly_lower_reshape_to(l, y, 0));
}

/* QLinearMatMul (a, a_scale, a_zp, b [.., K, N], b_scale, b_zp, y_scale, y_zp) and
 * tessera.QDense (the same with w [N, K] and a bias at 8). */
TsStatus rly_lower_qlinear_matmul(RlyLower *l)
{
    bool dense = l->node->op == RLY_OP_QDENSE_REQUANT;
    const RlyValue *out = rly_output(l->node, 0);
    TsRequantizeAttrs attrs;
    TsStatus status = clamp_attrs(l, out->dtype, out->ndim - 1, &attrs);
    if (status != TS_OK)
        return status;
    TsTensor *acc = dense ? ts_op_dense_integer(l->arena, l->inputs[0], l->inputs[3],
                                                zero_point(l, 2), zero_point(l, 5))
                          : ts_op_matmul_integer(l->arena, l->inputs[0], l->inputs[3],
                                                 zero_point(l, 2), zero_point(l, 5));
    TsTensor *mult = multiplier(l, l->inputs[1], l->inputs[4], l->inputs[6]);
    TsTensor *y = acc && mult ? ts_op_requantize_mul(l->arena, acc, dense ? optional(l, 8) : NULL,
                                                     mult, l->inputs[7], &attrs)
                              : NULL;
    return rly_lower_output(l, 0, y);
}

/* float32(t[...]) * ratio (+ fixed), elementwise over t's shape. */
static TsTensor *scaled(RlyLower *l, TsTensor *t, TsExpr *ratio, TsExpr *fixed)
{
    TsArena *a = l->arena;
    int nd = ts_tensor_ndim(t);
    TsAxis *axes[TS_MAX_DIMS];
    TsExpr *vars[TS_MAX_DIMS];
    for (int d = 0; d < nd; d++) {
        axes[d] = ts_axis(a, "i", ts_tensor_dim(t, d));
        vars[d] = ts_var(axes[d]);
    }
    TsExpr *v = ts_mul(a, ts_cast(a, TS_FLOAT32, ts_access(a, t, nd, vars)), ratio);
    return ts_compute(a, "qadd_term", nd, axes, fixed ? ts_add(a, v, fixed) : v);
}

/* A zero point's value as float32 (0 when omitted). */
static TsExpr *zp_f32(RlyLower *l, int k)
{
    TsTensor *t = optional(l, k);
    return t ? ts_cast(l->arena, TS_FLOAT32, first(l, t)) : ts_f32(l->arena, 0.0);
}

/* QLinearAdd and tessera.QAdd: A, A_scale, A_zp, B, B_scale, B_zp, C_scale, C_zp. */
TsStatus rly_lower_qlinear_add(RlyLower *l)
{
    TsArena *a = l->arena;
    TsDType out = rly_output(l->node, 0)->dtype;
    TsRequantizeAttrs attrs;
    TsStatus status = clamp_attrs(l, out, 0, &attrs);
    if (status != TS_OK)
        return status;
    TsExpr *cs = first(l, l->inputs[6]);
    TsExpr *rac = ts_div(a, first(l, l->inputs[1]), cs);
    TsExpr *rbc = ts_div(a, first(l, l->inputs[4]), cs);
    TsExpr *fixed = ts_sub(a, zp_f32(l, 7),
                           ts_add(a, ts_mul(a, rac, zp_f32(l, 2)), ts_mul(a, rbc, zp_f32(l, 5))));
    TsTensor *sum =
        ts_op_add(a, scaled(l, l->inputs[0], rac, NULL), scaled(l, l->inputs[3], rbc, fixed));
    TsAxis *one_axis = ts_axis(a, "c", 1);
    TsTensor *one = ts_compute(a, "unit_scale", 1, (TsAxis *[]){ one_axis }, ts_f32(a, 1.0));
    TsTensor *y = sum && one ? ts_op_quantize_linear(a, sum, one, NULL, 0, out) : NULL;
    bool full = attrs.clip_min == ts_requantize_attrs_default(out).clip_min &&
                attrs.clip_max == ts_requantize_attrs_default(out).clip_max;
    if (y && !full)
        y = ts_op_clip(a, y, (double)attrs.clip_min, (double)attrs.clip_max);
    return rly_lower_output(l, 0, y);
}
