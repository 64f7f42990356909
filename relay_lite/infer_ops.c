/* Shape and type inference, per node: the dispatch on the op kind (one case per kind of
 * op_kinds.def, no default, so a new kind must get a rule) and the rules of elementwise
 * operators and activations, Softmax, reductions, Cast, Identity, Dropout, Constant and
 * ConstantOfShape. The rules of the other operators are in infer_nn.c and infer_shape.c. */
#include <inttypes.h>
#include <string.h>

#include "relay_lite/infer_rules.h"

TsStatus rly_need_inputs(const TsGraph *g, const RlyNode *n, int lo, int hi, TsError *err)
{
    if (n->num_inputs < lo || n->num_inputs > hi)
        return rly_node_fail(g, n, err, TS_EINVAL, "has %d inputs; %s takes %d to %d",
                             n->num_inputs, n->op_type, lo, hi);
    for (int k = 0; k < lo; k++)
        if (!n->inputs[k])
            return rly_node_fail(g, n, err, TS_EINVAL, "required input %d is omitted", k);
    for (int k = 0; k < n->num_inputs; k++)
        if (n->inputs[k] && !n->inputs[k]->has_dtype)
            return rly_node_fail(g, n, err, TS_EINVAL, "input %d \"%s\" has no known type", k,
                                 n->inputs[k]->name);
    return TS_OK;
}

TsStatus rly_need_float(const TsGraph *g, const RlyNode *n, int k, TsError *err)
{
    const RlyValue *v = rly_input(n, k);
    if (!v || ts_dtype_is_float(v->dtype))
        return TS_OK;
    char buf[TS_DTYPE_STR_MAX];
    return rly_node_fail(g, n, err, TS_EINVAL,
                         "input %d \"%s\" is %s; %s takes floating-point "
                         "tensors",
                         k, v->name, ts_dtype_str(v->dtype, buf), n->op_type);
}

TsStatus rly_same_dtype(const TsGraph *g, const RlyNode *n, int a, int b, TsError *err)
{
    const RlyValue *x = rly_input(n, a), *y = rly_input(n, b);
    if (!x || !y || ts_dtype_eq(x->dtype, y->dtype))
        return TS_OK;
    char bx[TS_DTYPE_STR_MAX], by[TS_DTYPE_STR_MAX];
    return rly_node_fail(g, n, err, TS_EINVAL,
                         "dtype mismatch: input %d \"%s\" is %s, input %d "
                         "\"%s\" is %s",
                         a, x->name, ts_dtype_str(x->dtype, bx), b, y->name,
                         ts_dtype_str(y->dtype, by));
}

static void same_as_input(RlyNode *n, int k)
{
    const RlyValue *x = rly_input(n, 0);
    rly_set_output(n, k, x->dtype, x->ndim, x->dims);
}

/* Unary operators: one input, the same type out. */
static TsStatus infer_unary(TsGraph *g, RlyNode *n, bool need_float, TsError *err)
{
    TsStatus status = rly_need_inputs(g, n, 1, 1, err);
    if (status == TS_OK && need_float)
        status = rly_need_float(g, n, 0, err);
    if (status == TS_OK)
        same_as_input(n, 0);
    return status;
}

static TsStatus infer_gelu(TsGraph *g, RlyNode *n, TsError *err)
{
    const char *approximate = NULL;
    TsStatus status = rly_attr_string(g, n, "approximate", "none", &approximate, err);
    if (status != TS_OK)
        return status;
    if (strcmp(approximate, "none") && strcmp(approximate, "tanh"))
        return rly_node_fail(g, n, err, TS_EINVAL,
                             "attribute approximate = \"%s\" is not one "
                             "of none, tanh",
                             approximate);
    return infer_unary(g, n, true, err);
}

/* Clip: min and max are attributes before opset 11, optional scalar inputs since. */
static TsStatus infer_clip(TsGraph *g, RlyNode *n, TsError *err)
{
    bool inputs_form = g->opset >= 11;
    TsStatus status = rly_need_inputs(g, n, 1, inputs_form ? 3 : 1, err);
    for (int k = 1; status == TS_OK && k < n->num_inputs; k++) {
        const RlyValue *bound = rly_input(n, k);
        if (!bound)
            continue;
        status = rly_same_dtype(g, n, 0, k, err);
        if (status == TS_OK && bound->ndim > 0 && rly_value_known(bound) &&
            rly_value_elements(bound) != 1)
            return rly_node_fail(g, n, err, TS_EINVAL,
                                 "input %d \"%s\" (the %s) must be a "
                                 "scalar",
                                 k, bound->name, k == 1 ? "min" : "max");
    }
    double bound;
    if (status == TS_OK && !inputs_form)
        status = rly_attr_float(g, n, "min", 0.0, &bound, err);
    if (status == TS_OK && !inputs_form)
        status = rly_attr_float(g, n, "max", 0.0, &bound, err);
    if (status == TS_OK)
        same_as_input(n, 0);
    return status;
}

/* Binary and variadic elementwise operators with multidirectional broadcasting. Pow's
 * exponent may have another numeric type (opset 12 on); the result has the base's. */
static TsStatus infer_broadcast(TsGraph *g, RlyNode *n, int lo, int hi, bool pow, TsError *err)
{
    TsStatus status = rly_need_inputs(g, n, lo, hi, err);
    const RlyValue *x = rly_input(n, 0);
    if (status != TS_OK)
        return status;
    int ndim = x->ndim;
    int64_t dims[TS_MAX_DIMS];
    memcpy(dims, x->dims, sizeof dims);
    for (int k = 1; k < n->num_inputs; k++) {
        const RlyValue *y = rly_input(n, k);
        if (!y)
            return rly_node_fail(g, n, err, TS_EINVAL, "input %d is omitted", k);
        if (!pow || g->opset < 12)
            status = rly_same_dtype(g, n, 0, k, err);
        if (status == TS_OK)
            status = rly_broadcast(g, n, &ndim, dims, y, err);
        if (status != TS_OK)
            return status;
    }
    rly_set_output(n, 0, x->dtype, ndim, dims);
    return TS_OK;
}

static TsStatus infer_softmax(TsGraph *g, RlyNode *n, TsError *err)
{
    const RlyValue *x = rly_input(n, 0);
    int64_t axis = 0;
    int normalized = 0;
    TsStatus status = rly_need_inputs(g, n, 1, 1, err);
    if (status == TS_OK)
        status = rly_need_float(g, n, 0, err);
    if (status == TS_OK)
        status = rly_attr_int(g, n, "axis", g->opset >= 13 ? -1 : 1, &axis, err);
    if (status == TS_OK && x->ndim >= 0)
        status = rly_axis(g, n, axis, x->ndim, "attribute axis", &normalized, err);
    if (status == TS_OK)
        same_as_input(n, 0);
    return status;
}

/* ReduceMean and ReduceSum: axes as an attribute before the given opset, an optional
 * input since (with noop_with_empty_axes). */
static TsStatus infer_reduce(TsGraph *g, RlyNode *n, int input_form_since, TsError *err)
{
    const RlyValue *x = rly_input(n, 0);
    bool input_form = g->opset >= input_form_since;
    int64_t keepdims = 1, noop = 0, axes[TS_MAX_DIMS];
    int count = -1;
    TsStatus status = rly_need_inputs(g, n, 1, input_form ? 2 : 1, err);
    if (status == TS_OK)
        status = rly_attr_int(g, n, "keepdims", 1, &keepdims, err);
    if (status == TS_OK && input_form)
        status = rly_attr_int(g, n, "noop_with_empty_axes", 0, &noop, err);
    if (status == TS_OK && !input_form)
        status = rly_attr_ints(g, n, "axes", TS_MAX_DIMS, axes, &count, err);
    if (status != TS_OK)
        return status;
    bool axes_known = true;
    if (input_form && rly_input(n, 1)) {
        axes_known = rly_const_ints(rly_input(n, 1), axes, TS_MAX_DIMS, &count);
        if (!axes_known && !rly_input(n, 1)->constant && rly_input(n, 1)->kind != RLY_VALUE_NODE)
            return rly_node_fail(g, n, err, TS_EINVAL, "input 1 (axes) \"%s\" is not a constant",
                                 rly_input(n, 1)->name);
    }
    if (x->ndim < 0 || !axes_known) {
        rly_set_output(n, 0, x->dtype, keepdims && x->ndim >= 0 ? x->ndim : -1, NULL);
        return TS_OK;
    }
    if (count <= 0 && noop) {
        same_as_input(n, 0);
        return TS_OK;
    }
    bool reduced[TS_MAX_DIMS] = { false };
    for (int k = 0; k < count; k++) {
        int axis = 0;
        status = rly_axis(g, n, axes[k], x->ndim, "axis", &axis, err);
        if (status != TS_OK)
            return status;
        reduced[axis] = true;
    }
    int64_t dims[TS_MAX_DIMS];
    int ndim = 0;
    for (int d = 0; d < x->ndim; d++) {
        bool r = count <= 0 || reduced[d];
        if (!r || keepdims)
            dims[ndim++] = r ? 1 : x->dims[d];
    }
    rly_set_output(n, 0, x->dtype, ndim, dims);
    return TS_OK;
}

static TsStatus infer_dropout(TsGraph *g, RlyNode *n, TsError *err)
{
    TsStatus status = rly_need_inputs(g, n, 1, g->opset >= 12 ? 3 : 1, err);
    const RlyValue *training = rly_input(n, 2);
    if (status == TS_OK && training) {
        const RlyConst *c = training->constant;
        if (!c || c->num_elements != 1 || !ts_dtype_eq(c->dtype, TS_BOOL))
            return rly_node_fail(g, n, err, TS_EINVAL,
                                 "input 2 (training_mode) \"%s\" must be a "
                                 "constant boolean",
                                 training->name);
        if (*(const uint8_t *)c->data)
            return rly_node_fail(g, n, err, TS_EINVAL,
                                 "input 2 (training_mode) is true; only "
                                 "inference is supported");
    }
    if (status != TS_OK)
        return status;
    const RlyValue *x = rly_input(n, 0);
    same_as_input(n, 0);
    rly_set_output(n, 1, TS_BOOL, x->ndim, x->dims);
    return TS_OK;
}

static TsStatus infer_cast(TsGraph *g, RlyNode *n, TsError *err)
{
    int64_t to = 0;
    TsDType dtype;
    TsStatus status = rly_need_inputs(g, n, 1, 1, err);
    if (status == TS_OK)
        status = rly_attr_int(g, n, "to", -1, &to, err);
    if (status != TS_OK)
        return status;
    if (to < 0)
        return rly_node_fail(g, n, err, TS_EINVAL, "attribute to is required");
    if (to > INT32_MAX || !rly_dtype_of_onnx((int32_t)to, &dtype))
        return rly_node_fail(g, n, err, TS_EINVAL,
                             "attribute to = %" PRId64 " names a data type "
                             "Tessera lacks",
                             to);
    const RlyValue *x = rly_input(n, 0);
    rly_set_output(n, 0, dtype, x->ndim, x->dims);
    return TS_OK;
}

/* A rank-0 or rank-1 constant of one value built from a scalar attribute. */
static const RlyConst *scalar_const(TsGraph *g, const RlyAttr *attr)
{
    RlyConst *c = ts_arena_alloc(g->arena, sizeof *c);
    int count = attr->kind == RLY_ATTR_INT || attr->kind == RLY_ATTR_FLOAT ? 1 : attr->num_values;
    bool is_float = attr->kind == RLY_ATTR_FLOAT || attr->kind == RLY_ATTR_FLOATS;
    void *data = ts_arena_alloc(g->arena, (size_t)(count ? count : 1) * 8);
    if (!c || !data)
        return NULL;
    c->dtype = is_float ? TS_FLOAT32 : TS_INT64;
    c->ndim = attr->kind == RLY_ATTR_INTS || attr->kind == RLY_ATTR_FLOATS ? 1 : 0;
    c->shape[0] = count;
    c->num_elements = count;
    for (int k = 0; k < count; k++) {
        if (attr->kind == RLY_ATTR_FLOAT)
            ((float *)data)[k] = (float)attr->f;
        else if (attr->kind == RLY_ATTR_FLOATS)
            ((float *)data)[k] = (float)attr->floats[k];
        else if (attr->kind == RLY_ATTR_INT)
            ((int64_t *)data)[k] = attr->i;
        else
            ((int64_t *)data)[k] = attr->ints[k];
    }
    c->data = data;
    return c;
}

static TsStatus infer_constant(TsGraph *g, RlyNode *n, TsError *err)
{
    TsStatus status = rly_need_inputs(g, n, 0, 0, err);
    if (status != TS_OK)
        return status;
    if (n->num_attrs != 1)
        return rly_node_fail(g, n, err, TS_EINVAL,
                             "has %d attributes; Constant takes exactly "
                             "one",
                             n->num_attrs);
    const RlyAttr *attr = &n->attrs[0];
    const RlyConst *c = NULL;
    if (strcmp(attr->name, "value") == 0 && attr->kind == RLY_ATTR_TENSOR)
        c = attr->tensor;
    else if ((strcmp(attr->name, "value_float") == 0 && attr->kind == RLY_ATTR_FLOAT) ||
             (strcmp(attr->name, "value_floats") == 0 && attr->kind == RLY_ATTR_FLOATS) ||
             (strcmp(attr->name, "value_int") == 0 && attr->kind == RLY_ATTR_INT) ||
             (strcmp(attr->name, "value_ints") == 0 && attr->kind == RLY_ATTR_INTS)) {
        c = scalar_const(g, attr);
        if (!c)
            return rly_node_fail(g, n, err, TS_ENOMEM, "out of memory");
    } else
        return rly_node_fail(g, n, err, TS_EINVAL, "attribute %s (%s) is not supported", attr->name,
                             rly_attr_kind_name(attr->kind));
    rly_set_output(n, 0, c->dtype, c->ndim, c->shape);
    if (rly_output(n, 0))
        rly_output(n, 0)->constant = c;
    return TS_OK;
}

static TsStatus infer_constant_of_shape(TsGraph *g, RlyNode *n, TsError *err)
{
    const RlyValue *shape = rly_input(n, 0);
    TsStatus status = rly_need_inputs(g, n, 1, 1, err);
    if (status != TS_OK)
        return status;
    TsDType dtype = TS_FLOAT32;
    const RlyAttr *value = rly_node_attr(n, "value");
    if (value && (value->kind != RLY_ATTR_TENSOR || value->tensor->num_elements != 1))
        return rly_node_fail(g, n, err, TS_EINVAL, "attribute value must be a one-element tensor");
    if (value)
        dtype = value->tensor->dtype;
    if (!ts_dtype_eq(shape->dtype, TS_INT64) || (shape->ndim >= 0 && shape->ndim != 1))
        return rly_node_fail(g, n, err, TS_EINVAL, "input \"%s\" must be a 1-D int64 shape",
                             shape->name);
    int64_t dims[TS_MAX_DIMS];
    int count = 0;
    if (!rly_const_ints(shape, dims, TS_MAX_DIMS, &count)) {
        int rank = shape->ndim == 1 && shape->dims[0] >= 0 && shape->dims[0] <= TS_MAX_DIMS
                       ? (int)shape->dims[0]
                       : -1;
        rly_set_output(n, 0, dtype, rank, NULL);
        return TS_OK;
    }
    for (int d = 0; d < count; d++)
        if (dims[d] < 0 || dims[d] > TS_MAX_EXTENT)
            return rly_node_fail(g, n, err, TS_EINVAL, "dimension %d of the shape is %" PRId64, d,
                                 dims[d]);
    rly_set_output(n, 0, dtype, count, dims);
    return TS_OK;
}

static TsStatus infer_leaky_relu(TsGraph *g, RlyNode *n, TsError *err)
{
    double alpha, beta;
    TsStatus status = rly_attr_float(g, n, "alpha", 0.01, &alpha, err);
    if (status == TS_OK && n->op == RLY_OP_HARD_SIGMOID)
        status = rly_attr_float(g, n, "beta", 0.5, &beta, err);
    return status == TS_OK ? infer_unary(g, n, true, err) : status;
}

TsStatus rly_infer_node(TsGraph *g, RlyNode *n, TsError *err)
{
    switch (n->op) {
    case RLY_OP_CONV: return rly_infer_conv(g, n, false, err);
    case RLY_OP_CONV_TRANSPOSE: return rly_infer_conv(g, n, true, err);
    case RLY_OP_GEMM: return rly_infer_gemm(g, n, err);
    case RLY_OP_MATMUL: return rly_infer_matmul(g, n, err);
    case RLY_OP_BATCH_NORM: return rly_infer_batch_norm(g, n, err);
    case RLY_OP_LAYER_NORM: return rly_infer_layer_norm(g, n, err);
    case RLY_OP_RELU: return infer_unary(g, n, false, err);
    case RLY_OP_CLIP: return infer_clip(g, n, err);
    case RLY_OP_LEAKY_RELU:
    case RLY_OP_HARD_SIGMOID: return infer_leaky_relu(g, n, err);
    case RLY_OP_SIGMOID:
    case RLY_OP_TANH:
    case RLY_OP_HARD_SWISH:
    case RLY_OP_ERF:
    case RLY_OP_SQRT: return infer_unary(g, n, true, err);
    case RLY_OP_GELU: return infer_gelu(g, n, err);
    case RLY_OP_ADD:
    case RLY_OP_SUB:
    case RLY_OP_MUL:
    case RLY_OP_DIV: return infer_broadcast(g, n, 2, 2, false, err);
    case RLY_OP_POW: return infer_broadcast(g, n, 2, 2, true, err);
    case RLY_OP_SUM:
    case RLY_OP_MAX:
    case RLY_OP_MIN:
    case RLY_OP_MEAN: return infer_broadcast(g, n, 1, 1 << 20, false, err);
    case RLY_OP_MAX_POOL: return rly_infer_pool(g, n, true, err);
    case RLY_OP_AVERAGE_POOL: return rly_infer_pool(g, n, false, err);
    case RLY_OP_GLOBAL_AVERAGE_POOL: return rly_infer_global_pool(g, n, err);
    case RLY_OP_CONCAT: return rly_infer_concat(g, n, err);
    case RLY_OP_SPLIT: return rly_infer_split(g, n, err);
    case RLY_OP_SLICE: return rly_infer_slice(g, n, err);
    case RLY_OP_PAD: return rly_infer_pad(g, n, err);
    case RLY_OP_RESHAPE: return rly_infer_reshape(g, n, err);
    case RLY_OP_FLATTEN: return rly_infer_flatten(g, n, err);
    case RLY_OP_TRANSPOSE: return rly_infer_transpose(g, n, err);
    case RLY_OP_SQUEEZE: return rly_infer_squeeze(g, n, err);
    case RLY_OP_UNSQUEEZE: return rly_infer_unsqueeze(g, n, err);
    case RLY_OP_SHAPE: return rly_infer_shape(g, n, err);
    case RLY_OP_GATHER: return rly_infer_gather(g, n, err);
    case RLY_OP_EXPAND: return rly_infer_expand(g, n, err);
    case RLY_OP_CAST: return infer_cast(g, n, err);
    case RLY_OP_RESIZE: return rly_infer_resize(g, n, false, err);
    case RLY_OP_UPSAMPLE: return rly_infer_resize(g, n, true, err);
    case RLY_OP_SOFTMAX: return infer_softmax(g, n, err);
    case RLY_OP_REDUCE_MEAN: return infer_reduce(g, n, 18, err);
    case RLY_OP_REDUCE_SUM: return infer_reduce(g, n, 13, err);
    case RLY_OP_IDENTITY: return infer_unary(g, n, false, err);
    case RLY_OP_DROPOUT: return infer_dropout(g, n, err);
    case RLY_OP_CONSTANT: return infer_constant(g, n, err);
    case RLY_OP_CONSTANT_OF_SHAPE: return infer_constant_of_shape(g, n, err);
    case RLY_OP_QUANTIZE_LINEAR:
    case RLY_OP_DEQUANTIZE_LINEAR:
    case RLY_OP_QLINEAR_CONV:
    case RLY_OP_QLINEAR_MATMUL:
    case RLY_OP_CONV_INTEGER:
    case RLY_OP_MATMUL_INTEGER:
    case RLY_OP_QLINEAR_ADD:
    case RLY_OP_QCONV_REQUANT:
    case RLY_OP_QDENSE_REQUANT:
    case RLY_OP_QADD_REQUANT: return rly_infer_quant(g, n, err);
    case RLY_NUM_OPS: break;
    }
    return rly_node_fail(g, n, err, TS_EINVAL, "no inference rule");
}
