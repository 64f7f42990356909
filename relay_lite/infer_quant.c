/* Shape and type inference of the quantized operators: QuantizeLinear and
 * DequantizeLinear (opsets 10 to 21: axis, per tensor and per channel), ConvInteger,
 * MatMulInteger, QLinearConv, QLinearMatMul, com.microsoft's QLinearAdd, and the integer
 * groups the QDQ fusion makes (tessera.QConv, tessera.QDense, tessera.QAdd; see
 * passes/fuse_qdq.c). Part of inference (infer_ops.c dispatches here).
 *
 * Every quantization parameter is checked here, so that lowering can rely on it: a scale
 * is float32 (float16 too for QuantizeLinear and DequantizeLinear since opset 19), one
 * element (per tensor) or a 1-D tensor of the extent of the data's quantized dimension (per
 * channel); a zero point has the scale's shape and the quantized data's dtype, int8 or
 * uint8; a constant scale is finite and > 0. What the operators allow but the kernels do
 * not compute (blocked quantization, 16-bit, 4-bit and float8 types, per-row scales of
 * QLinearMatMul's A) is refused naming the node and the attribute or input. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "relay_lite/infer_rules.h"
#include "tessera/ops.h"

static bool is_int8(TsDType t)
{
    return ts_dtype_eq(t, TS_INT8) || ts_dtype_eq(t, TS_UINT8);
}

/* Input k is int8 or uint8 (int32 too when allow_int32). */
static TsStatus need_int8(const TsGraph *g, const RlyNode *n, int k, bool allow_int32, TsError *err)
{
    const RlyValue *v = rly_input(n, k);
    char buf[TS_DTYPE_STR_MAX];
    if (!v || is_int8(v->dtype) || (allow_int32 && ts_dtype_eq(v->dtype, TS_INT32)))
        return TS_OK;
    return rly_node_fail(g, n, err, TS_EINVAL,
                         "input %d \"%s\" is %s; %s takes int8 or uint8%s here", k, v->name,
                         ts_dtype_str(v->dtype, buf), n->op_type, allow_int32 ? " or int32" : "");
}

/* The required inputs, each named in the message when it is omitted; NULL entries of
 * names are optional inputs. */
static TsStatus need_named(const TsGraph *g, const RlyNode *n, const char *const *names, int count,
                           TsError *err)
{
    for (int k = 0; k < count; k++)
        if (names[k] && !rly_input(n, k))
            return rly_node_fail(g, n, err, TS_EINVAL, "input %d (%s) is missing: %s needs it", k,
                                 names[k], n->op_type);
    return TS_OK;
}

static const char *const qlinear_names[] = { "x",       "x_scale",     "x_zero_point",
                                             "w",       "w_scale",     "w_zero_point",
                                             "y_scale", "y_zero_point" };
static const char *const qmatmul_names[] = { "a",       "a_scale",     "a_zero_point",
                                             "b",       "b_scale",     "b_zero_point",
                                             "y_scale", "y_zero_point" };
static const char *const qadd_names[] = { "A", "A_scale", NULL, "B", "B_scale", NULL, "C_scale" };

static int64_t elements_or_unknown(const RlyValue *v)
{
    return rly_value_known(v) ? rly_value_elements(v) : -1;
}

/* A quantization parameter (a scale or a zero point) for data whose quantized dimension
 * has `channels` elements (-1: unknown; 0: per tensor only, reason saying why). */
typedef struct QParam {
    int k;             /* the input */
    const char *what;  /* "x_scale", ... */
    int64_t channels;  /* per-channel extent allowed besides one element; 0: none */
    const char *where; /* how the per-channel dimension is named: "axis 1" */
} QParam;

static TsStatus check_shape(const TsGraph *g, const RlyNode *n, const QParam *p, TsError *err)
{
    const RlyValue *v = rly_input(n, p->k);
    int64_t count = elements_or_unknown(v);
    if (count < 0 || count == 1)
        return TS_OK;
    if (p->channels == 0)
        return rly_node_fail(g, n, err, TS_EINVAL,
                             "%s \"%s\" has %" PRId64 " elements; %s takes one here (per "
                             "tensor)%s%s",
                             p->what, v->name, count, n->op_type, p->where ? ": " : "",
                             p->where ? p->where : "");
    if (v->ndim != 1 || (p->channels > 0 && v->dims[0] != p->channels))
        return rly_node_fail(g, n, err, TS_EINVAL,
                             "%s \"%s\" has %" PRId64 " elements (rank %d); per channel it "
                             "must be 1-D with the %" PRId64 " elements of %s",
                             p->what, v->name, count, v->ndim, p->channels, p->where);
    return TS_OK;
}

/* A scale: float32 (float16 when half), finite and > 0 when constant. */
static TsStatus check_scale(const TsGraph *g, const RlyNode *n, const QParam *p, bool half,
                            TsError *err)
{
    const RlyValue *v = rly_input(n, p->k);
    char buf[TS_DTYPE_STR_MAX];
    if (!v)
        return rly_node_fail(g, n, err, TS_EINVAL, "input %d (%s) is missing: %s needs a scale",
                             p->k, p->what, n->op_type);
    if (!ts_dtype_eq(v->dtype, TS_FLOAT32) && !(half && ts_dtype_eq(v->dtype, TS_FLOAT16)))
        return rly_node_fail(g, n, err, TS_EINVAL, "%s \"%s\" is %s; it must be float32%s", p->what,
                             v->name, ts_dtype_str(v->dtype, buf), half ? " or float16" : "");
    TsStatus status = check_shape(g, n, p, err);
    if (status != TS_OK || !v->constant || !ts_dtype_eq(v->dtype, TS_FLOAT32))
        return status;
    TsError why;
    if (ts_quant_check_scales(v->constant->data, v->constant->num_elements, v->name, &why) != TS_OK)
        return rly_node_fail(g, n, err, TS_EINVAL, "%s: %s", p->what, why.message);
    return TS_OK;
}

/* A zero point (absent: fine): of dtype, with the scale's shape. */
static TsStatus check_zero_point(const TsGraph *g, const RlyNode *n, const QParam *p,
                                 const RlyValue *scale, TsDType dtype, TsError *err)
{
    const RlyValue *v = rly_input(n, p->k);
    char buf[TS_DTYPE_STR_MAX], want[TS_DTYPE_STR_MAX];
    if (!v)
        return TS_OK;
    if (!ts_dtype_eq(v->dtype, dtype))
        return rly_node_fail(g, n, err, TS_EINVAL, "%s \"%s\" is %s; it must be %s", p->what,
                             v->name, ts_dtype_str(v->dtype, buf), ts_dtype_str(dtype, want));
    TsStatus status = check_shape(g, n, p, err);
    if (status != TS_OK || !scale || !rly_value_known(v) || !rly_value_known(scale))
        return status;
    if (rly_value_elements(v) != rly_value_elements(scale))
        return rly_node_fail(
            g, n, err, TS_EINVAL, "%s \"%s\" has %" PRId64 " elements, its scale \"%s\" %" PRId64,
            p->what, v->name, rly_value_elements(v), scale->name, rly_value_elements(scale));
    return TS_OK;
}

/* The scale at k and the zero point at k + 1 of data of dtype. */
static TsStatus check_pair(const TsGraph *g, const RlyNode *n, int k, const char *scale_name,
                           const char *zp_name, int64_t channels, const char *where, TsDType dtype,
                           TsError *err)
{
    QParam s = { k, scale_name, channels, where }, z = { k + 1, zp_name, channels, where };
    TsStatus status = check_scale(g, n, &s, false, err);
    if (status == TS_OK)
        status = check_zero_point(g, n, &z, rly_input(n, k), dtype, err);
    return status;
}

/* The axis attribute of QuantizeLinear and DequantizeLinear (opset 13 on; before, per
 * tensor only), and block_size refused: the quantized dimension's extent and a name. */
static TsStatus read_axis(const TsGraph *g, RlyNode *n, const RlyValue *x, int64_t *channels,
                          int *axis, char *where, size_t size, TsError *err)
{
    int64_t value = 1, block = 0;
    *channels = 0;
    *axis = 1;
    snprintf(where, size, "before opset 13 quantization is per tensor");
    if (g->opset < 13)
        return TS_OK;
    TsStatus status = rly_attr_int(g, n, "axis", 1, &value, err);
    if (status == TS_OK)
        status = rly_attr_int(g, n, "block_size", 0, &block, err);
    if (status != TS_OK)
        return status;
    if (block != 0)
        return rly_node_fail(
            g, n, err, TS_EINVAL,
            "attribute block_size = %" PRId64 ": blocked quantization is not supported", block);
    if (x->ndim < 0) {
        *channels = -1;
        return TS_OK;
    }
    const RlyValue *scale = rly_input(n, 1);
    if (rly_value_known(scale) && rly_value_elements(scale) == 1)
        return TS_OK;   /* per tensor: ONNX ignores the axis */
    if (x->ndim == 0) { /* a scalar: only per tensor parameters fit */
        snprintf(where, size, "the input is a scalar");
        return TS_OK;
    }
    status = rly_axis(g, n, value, x->ndim, "attribute axis", axis, err);
    if (status != TS_OK)
        return status;
    *channels = x->dims[*axis];
    snprintf(where, size, "dimension %d (attribute axis = %" PRId64 ") of \"%s\"", *axis, value,
             x->name);
    return TS_OK;
}

/* output_dtype (opset 21) and precision (opset 25): what QuantizeLinear gives. */
static TsStatus quantize_dtype(const TsGraph *g, RlyNode *n, const RlyValue *zp, TsDType *out,
                               TsError *err)
{
    int64_t code = 0, precision = 0;
    TsStatus status = rly_attr_int(g, n, "output_dtype", 0, &code, err);
    if (status == TS_OK)
        status = rly_attr_int(g, n, "precision", 0, &precision, err);
    if (status != TS_OK)
        return status;
    if (precision != 0 && precision != ONNX_FLOAT)
        return rly_node_fail(g, n, err, TS_EINVAL,
                             "attribute precision = %" PRId64 " is not supported (float32 only)",
                             precision);
    if (code != 0 && code != ONNX_UINT8 && code != ONNX_INT8)
        return rly_node_fail(g, n, err, TS_EINVAL,
                             "attribute output_dtype = %" PRId64
                             " is not supported (uint8 = 2 and int8 = 3 are)",
                             code);
    TsDType from_attr = code == ONNX_INT8 ? TS_INT8 : TS_UINT8;
    char buf[TS_DTYPE_STR_MAX];
    if (zp && !is_int8(zp->dtype))
        return rly_node_fail(g, n, err, TS_EINVAL,
                             "y_zero_point \"%s\" is %s: quantizing to it is not supported "
                             "(int8 and uint8 are)",
                             zp->name, ts_dtype_str(zp->dtype, buf));
    if (zp && code != 0 && !ts_dtype_eq(zp->dtype, from_attr))
        return rly_node_fail(g, n, err, TS_EINVAL,
                             "attribute output_dtype = %" PRId64 " disagrees with y_zero_point "
                             "\"%s\" (%s)",
                             code, zp->name, ts_dtype_str(zp->dtype, buf));
    *out = zp ? zp->dtype : from_attr;
    return TS_OK;
}

static TsStatus infer_quantize(TsGraph *g, RlyNode *n, TsError *err)
{
    TsStatus status = need_named(g, n, (const char *const[]){ "x", "y_scale" }, 2, err);
    if (status == TS_OK)
        status = rly_need_inputs(g, n, 2, 3, err);
    const RlyValue *x = rly_input(n, 0), *zp = rly_input(n, 2);
    char buf[TS_DTYPE_STR_MAX], where[160];
    int64_t channels = 0;
    int axis = 1;
    TsDType out = TS_UINT8;
    if (status != TS_OK)
        return status;
    if (!ts_dtype_eq(x->dtype, TS_FLOAT32) && !ts_dtype_eq(x->dtype, TS_FLOAT16))
        return rly_node_fail(g, n, err, TS_EINVAL,
                             "input 0 \"%s\" is %s; quantizing it is not supported (float32 "
                             "and float16 are)",
                             x->name, ts_dtype_str(x->dtype, buf));
    status = read_axis(g, n, x, &channels, &axis, where, sizeof where, err);
    if (status == TS_OK)
        status = quantize_dtype(g, n, zp, &out, err);
    QParam s = { 1, "y_scale", channels, where }, z = { 2, "y_zero_point", channels, where };
    if (status == TS_OK)
        status = check_scale(g, n, &s, g->opset >= 19, err);
    if (status == TS_OK)
        status = check_zero_point(g, n, &z, rly_input(n, 1), out, err);
    if (status == TS_OK)
        rly_set_output(n, 0, out, x->ndim, x->dims);
    return status;
}

static TsStatus infer_dequantize(TsGraph *g, RlyNode *n, TsError *err)
{
    TsStatus status = need_named(g, n, (const char *const[]){ "x", "x_scale" }, 2, err);
    if (status == TS_OK)
        status = rly_need_inputs(g, n, 2, 3, err);
    const RlyValue *x = rly_input(n, 0), *scale = rly_input(n, 1);
    char where[160];
    int64_t channels = 0, code = 0;
    int axis = 1;
    if (status == TS_OK)
        status = need_int8(g, n, 0, true, err);
    if (status == TS_OK)
        status = read_axis(g, n, x, &channels, &axis, where, sizeof where, err);
    if (status == TS_OK)
        status = rly_attr_int(g, n, "output_dtype", 0, &code, err);
    if (status != TS_OK)
        return status;
    QParam s = { 1, "x_scale", channels, where }, z = { 2, "x_zero_point", channels, where };
    status = check_scale(g, n, &s, g->opset >= 19, err);
    if (status != TS_OK)
        return status;
    int want = ts_dtype_eq(scale->dtype, TS_FLOAT16) ? ONNX_FLOAT16 : ONNX_FLOAT;
    if (code != 0 && code != want)
        return rly_node_fail(g, n, err, TS_EINVAL,
                             "attribute output_dtype = %" PRId64
                             " is not supported (it must be the scale's type, %d)",
                             code, want);
    if (ts_dtype_eq(x->dtype, TS_INT32) && rly_input(n, 2))
        return rly_node_fail(g, n, err, TS_EINVAL,
                             "input 0 \"%s\" is int32, which takes no zero point (\"%s\" given)",
                             x->name, rly_input(n, 2)->name);
    status = check_zero_point(g, n, &z, scale, x->dtype, err);
    if (status == TS_OK)
        rly_set_output(n, 0, scale->dtype, x->ndim, x->dims);
    return status;
}

/* The output shape of a Conv (op RLY_OP_CONV) or MatMul of float stand-ins for inputs
 * xk and wk: inference's own rule computes it, with the node's attributes and name. */
static TsStatus float_shape(TsGraph *g, const RlyNode *n, RlyOpKind op, int xk, int wk, int *ndim,
                            int64_t *dims, TsError *err)
{
    RlyValue fx = *rly_input(n, xk), fw = *rly_input(n, wk), fy = { 0 };
    fx.dtype = fw.dtype = TS_FLOAT32;
    fx.constant = fw.constant = NULL;
    fy.name = rly_output(n, 0) ? rly_output(n, 0)->name : "";
    fy.ndim = -1;
    RlyValue *ins[2] = { &fx, &fw }, *outs[1] = { &fy };
    RlyNode fake = *n;
    fake.op = op;
    fake.num_inputs = 2;
    fake.inputs = ins;
    fake.num_outputs = 1;
    fake.outputs = outs;
    TsStatus status =
        op == RLY_OP_CONV ? rly_infer_conv(g, &fake, false, err) : rly_infer_matmul(g, &fake, err);
    *ndim = fy.has_dtype ? fy.ndim : -1;
    if (*ndim > 0)
        memcpy(dims, fy.dims, sizeof(int64_t) * (size_t)*ndim);
    return status;
}

/* Two int8/uint8 operands at xk and wk, their zero points at xz and wz (-1: none); w's
 * zero point per tensor or along w_dim (the output channels). */
static TsStatus integer_operands(TsGraph *g, RlyNode *n, int xk, int xz, int wk, int wz, int w_dim,
                                 TsError *err)
{
    const RlyValue *x = rly_input(n, xk), *w = rly_input(n, wk);
    TsStatus status = need_int8(g, n, xk, false, err);
    if (status == TS_OK)
        status = need_int8(g, n, wk, false, err);
    if (status != TS_OK)
        return status;
    char where[96];
    int dim = w->ndim >= 0 && w_dim < 0 ? w->ndim + w_dim : w_dim;
    int64_t channels = w->ndim > dim && dim >= 0 ? w->dims[dim] : -1;
    snprintf(where, sizeof where, "dimension %d of \"%s\"", dim, w->name);
    QParam qx = { xz, xz == 2 ? "x_zero_point" : "a_zero_point", 0, NULL };
    QParam qw = { wz, xz == 2 ? "w_zero_point" : "b_zero_point", channels, where };
    if (xz >= 0 && rly_input(n, xz))
        status = check_zero_point(g, n, &qx, NULL, x->dtype, err);
    if (status == TS_OK && wz >= 0 && rly_input(n, wz))
        status = check_zero_point(g, n, &qw, NULL, w->dtype, err);
    return status;
}

static TsStatus infer_conv_integer(TsGraph *g, RlyNode *n, TsError *err)
{
    int ndim = -1;
    int64_t dims[TS_MAX_DIMS];
    TsStatus status = rly_need_inputs(g, n, 2, 4, err);
    if (status == TS_OK)
        status = integer_operands(g, n, 0, 2, 1, 3, 0, err);
    if (status == TS_OK)
        status = float_shape(g, n, RLY_OP_CONV, 0, 1, &ndim, dims, err);
    if (status == TS_OK)
        rly_set_output(n, 0, TS_INT32, ndim, ndim >= 0 ? dims : NULL);
    return status;
}

static TsStatus infer_matmul_integer(TsGraph *g, RlyNode *n, TsError *err)
{
    int ndim = -1;
    int64_t dims[TS_MAX_DIMS];
    const RlyValue *a = rly_input(n, 0), *azp = rly_input(n, 2);
    TsStatus status = rly_need_inputs(g, n, 2, 4, err);
    if (status == TS_OK)
        status = integer_operands(g, n, 0, -1, 1, 3, -1, err);
    if (status == TS_OK && azp) { /* per tensor, or per row (M elements) */
        char where[96];
        int64_t rows = a->ndim >= 2 ? a->dims[a->ndim - 2] : a->ndim == 1 ? 0 : -1;
        snprintf(where, sizeof where, "the rows of \"%s\"", a->name);
        QParam q = { 2, "a_zero_point", rows, where };
        status = check_zero_point(g, n, &q, NULL, a->dtype, err);
    }
    if (status == TS_OK)
        status = float_shape(g, n, RLY_OP_MATMUL, 0, 1, &ndim, dims, err);
    if (status == TS_OK)
        rly_set_output(n, 0, TS_INT32, ndim, ndim >= 0 ? dims : NULL);
    return status;
}

/* The clamp of the fused groups (attributes qmin and qmax) within the output's range. */
static TsStatus check_clamp(TsGraph *g, RlyNode *n, TsDType out, TsError *err)
{
    int64_t lo = 0, hi = 0;
    int64_t min = ts_dtype_eq(out, TS_INT8) ? -128 : 0, max = ts_dtype_eq(out, TS_INT8) ? 127 : 255;
    TsStatus status = rly_attr_int(g, n, "qmin", min, &lo, err);
    if (status == TS_OK)
        status = rly_attr_int(g, n, "qmax", max, &hi, err);
    if (status == TS_OK && (lo < min || hi > max || lo > hi))
        return rly_node_fail(g, n, err, TS_EINVAL,
                             "attributes qmin = %" PRId64 ", qmax = %" PRId64
                             " are empty or outside the output's range",
                             lo, hi);
    return status;
}

/* The optional int32 bias at k, of channels elements. */
static TsStatus check_bias(TsGraph *g, RlyNode *n, int k, int64_t channels, TsError *err)
{
    const RlyValue *b = rly_input(n, k);
    char buf[TS_DTYPE_STR_MAX];
    if (!b)
        return TS_OK;
    if (!ts_dtype_eq(b->dtype, TS_INT32))
        return rly_node_fail(g, n, err, TS_EINVAL, "bias \"%s\" is %s; it must be int32", b->name,
                             ts_dtype_str(b->dtype, buf));
    if (b->ndim >= 0 &&
        (b->ndim != 1 || (channels >= 0 && b->dims[0] >= 0 && b->dims[0] != channels)))
        return rly_node_fail(g, n, err, TS_EINVAL, "bias \"%s\" must have shape [%" PRId64 "]",
                             b->name, channels);
    return TS_OK;
}

/* QLinearConv and tessera.QConv: x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, B. */
static TsStatus infer_qlinear_conv(TsGraph *g, RlyNode *n, TsError *err)
{
    int ndim = -1;
    int64_t dims[TS_MAX_DIMS];
    TsStatus status = need_named(g, n, qlinear_names, 8, err);
    const RlyValue *x = rly_input(n, 0), *w = rly_input(n, 3), *yzp = rly_input(n, 7);
    if (status == TS_OK)
        status = rly_need_inputs(g, n, 8, 9, err);
    if (status == TS_OK)
        status = integer_operands(g, n, 0, 2, 3, 5, 0, err);
    if (status != TS_OK)
        return status;
    char where[96];
    int64_t m = w->ndim >= 1 ? w->dims[0] : -1;
    snprintf(where, sizeof where, "the output channels of weight \"%s\"", w->name);
    status = check_pair(g, n, 1, "x_scale", "x_zero_point", 0, NULL, x->dtype, err);
    if (status == TS_OK)
        status = check_pair(g, n, 4, "w_scale", "w_zero_point", m, where, w->dtype, err);
    if (status == TS_OK)
        status = need_int8(g, n, 7, false, err);
    if (status == TS_OK)
        status = check_pair(g, n, 6, "y_scale", "y_zero_point", 0, NULL, yzp->dtype, err);
    if (status == TS_OK)
        status = check_bias(g, n, 8, m, err);
    if (status == TS_OK && n->op == RLY_OP_QCONV_REQUANT)
        status = check_clamp(g, n, yzp->dtype, err);
    if (status == TS_OK)
        status = float_shape(g, n, RLY_OP_CONV, 0, 3, &ndim, dims, err);
    if (status == TS_OK)
        rly_set_output(n, 0, yzp->dtype, ndim, ndim >= 0 ? dims : NULL);
    return status;
}

/* QLinearMatMul: a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp; b's parameters per
 * tensor or per column, a's per tensor. */
static TsStatus infer_qlinear_matmul(TsGraph *g, RlyNode *n, TsError *err)
{
    int ndim = -1;
    int64_t dims[TS_MAX_DIMS];
    TsStatus status = need_named(g, n, qmatmul_names, 8, err);
    const RlyValue *a = rly_input(n, 0), *b = rly_input(n, 3), *yzp = rly_input(n, 7);
    if (status == TS_OK)
        status = rly_need_inputs(g, n, 8, 8, err);
    if (status == TS_OK)
        status = need_int8(g, n, 0, false, err);
    if (status == TS_OK)
        status = need_int8(g, n, 3, false, err);
    if (status != TS_OK)
        return status;
    char where[96];
    int64_t cols = b->ndim >= 2 ? b->dims[b->ndim - 1] : b->ndim == 1 ? 0 : -1;
    snprintf(where, sizeof where, "the columns of \"%s\"", b->name);
    status = check_pair(g, n, 1, "a_scale", "a_zero_point", 0,
                        "per-row parameters of A are not supported", a->dtype, err);
    if (status == TS_OK)
        status = check_pair(g, n, 4, "b_scale", "b_zero_point", cols, where, b->dtype, err);
    if (status == TS_OK)
        status = need_int8(g, n, 7, false, err);
    if (status == TS_OK)
        status = check_pair(g, n, 6, "y_scale", "y_zero_point", 0, NULL, yzp->dtype, err);
    if (status == TS_OK)
        status = float_shape(g, n, RLY_OP_MATMUL, 0, 3, &ndim, dims, err);
    if (status == TS_OK)
        rly_set_output(n, 0, yzp->dtype, ndim, ndim >= 0 ? dims : NULL);
    return status;
}

/* tessera.QDense: x [M, K], x_scale, x_zp, w [N, K], w_scale, w_zp (per tensor or [N]),
 * y_scale, y_zp, bias [N] int32. */
static TsStatus infer_qdense(TsGraph *g, RlyNode *n, TsError *err)
{
    TsStatus status = need_named(g, n, qlinear_names, 8, err);
    const RlyValue *x = rly_input(n, 0), *w = rly_input(n, 3), *yzp = rly_input(n, 7);
    if (status == TS_OK)
        status = rly_need_inputs(g, n, 8, 9, err);
    if (status == TS_OK)
        status = integer_operands(g, n, 0, 2, 3, 5, 0, err);
    if (status != TS_OK)
        return status;
    if (x->ndim != 2 || w->ndim != 2 || x->dims[1] != w->dims[1])
        return rly_node_fail(g, n, err, TS_EINVAL,
                             "x \"%s\" and w \"%s\" must be [M, K] and [N, K] matrices", x->name,
                             w->name);
    char where[96];
    snprintf(where, sizeof where, "the rows of weight \"%s\"", w->name);
    status = check_pair(g, n, 1, "x_scale", "x_zero_point", 0, NULL, x->dtype, err);
    if (status == TS_OK)
        status = check_pair(g, n, 4, "w_scale", "w_zero_point", w->dims[0], where, w->dtype, err);
    if (status == TS_OK)
        status = need_int8(g, n, 7, false, err);
    if (status == TS_OK)
        status = check_pair(g, n, 6, "y_scale", "y_zero_point", 0, NULL, yzp->dtype, err);
    if (status == TS_OK)
        status = check_bias(g, n, 8, w->dims[0], err);
    if (status == TS_OK)
        status = check_clamp(g, n, yzp->dtype, err);
    if (status == TS_OK)
        rly_set_output(n, 0, yzp->dtype, 2, (const int64_t[]){ x->dims[0], w->dims[0] });
    return status;
}

/* QLinearAdd (com.microsoft) and tessera.QAdd: A, A_scale, A_zp, B, B_scale, B_zp,
 * C_scale, C_zp, every parameter per tensor; A, B and C of one type. */
static TsStatus infer_qlinear_add(TsGraph *g, RlyNode *n, TsError *err)
{
    TsStatus status = need_named(g, n, qadd_names, 7, err);
    const RlyValue *a = rly_input(n, 0), *b = rly_input(n, 3);
    if (status == TS_OK)
        status = rly_need_inputs(g, n, 2, 8, err);
    if (status == TS_OK)
        status = need_int8(g, n, 0, false, err);
    if (status == TS_OK)
        status = rly_same_dtype(g, n, 0, 3, err);
    if (status == TS_OK)
        status = check_pair(g, n, 1, "A_scale", "A_zero_point", 0, NULL, a->dtype, err);
    if (status == TS_OK)
        status = check_pair(g, n, 4, "B_scale", "B_zero_point", 0, NULL, a->dtype, err);
    if (status == TS_OK)
        status = check_pair(g, n, 6, "C_scale", "C_zero_point", 0, NULL, a->dtype, err);
    if (status == TS_OK && n->op == RLY_OP_QADD_REQUANT)
        status = check_clamp(g, n, a->dtype, err);
    if (status != TS_OK)
        return status;
    if (a->ndim < 0 || b->ndim < 0) {
        rly_set_output(n, 0, a->dtype, -1, NULL);
        return TS_OK;
    }
    int ndim = a->ndim;
    int64_t dims[TS_MAX_DIMS];
    memcpy(dims, a->dims, sizeof(int64_t) * (size_t)ndim);
    status = rly_broadcast(g, n, &ndim, dims, b, err);
    if (status == TS_OK)
        rly_set_output(n, 0, a->dtype, ndim, dims);
    return status;
}

TsStatus rly_infer_quant(TsGraph *g, RlyNode *n, TsError *err)
{
    RlyOpKind op = n->op;
    if (op == RLY_OP_QUANTIZE_LINEAR)
        return infer_quantize(g, n, err);
    if (op == RLY_OP_DEQUANTIZE_LINEAR)
        return infer_dequantize(g, n, err);
    if (op == RLY_OP_CONV_INTEGER)
        return infer_conv_integer(g, n, err);
    if (op == RLY_OP_MATMUL_INTEGER)
        return infer_matmul_integer(g, n, err);
    if (op == RLY_OP_QLINEAR_CONV || op == RLY_OP_QCONV_REQUANT)
        return infer_qlinear_conv(g, n, err);
    if (op == RLY_OP_QLINEAR_MATMUL)
        return infer_qlinear_matmul(g, n, err);
    if (op == RLY_OP_QDENSE_REQUANT)
        return infer_qdense(g, n, err);
    if (op == RLY_OP_QLINEAR_ADD || op == RLY_OP_QADD_REQUANT)
        return infer_qlinear_add(g, n, err);
    return rly_node_fail(g, n, err, TS_EINVAL, "no quantization inference rule");
}
