/* Host evaluation of one node for constant folding (fold_constants.c): the shape
 * computations exporters emit (Shape, Gather, Concat, Unsqueeze, Squeeze, Reshape,
 * Flatten, Cast, Slice, ConstantOfShape, Expand), Transpose of weights, elementwise
 * Add, Sub, Mul, Div of integer and floating constants with ONNX broadcasting, and Pow,
 * Sqrt, Relu, Sigmoid, Tanh and Erf of floating constants (an attention scale
 * 1 / sqrt(head size) computed from a Shape).
 *
 * The output's dtype and shape come from inference, run on the node just before (its
 * inputs are constants, so they are known); a kernel only fills the elements. Integer
 * arithmetic wraps as two's complement (computed in uint64_t) and a division by zero is
 * an error naming the node, never undefined behaviour; float32 arithmetic is done in
 * float32 as a kernel would. float16 data is only moved, never computed. */
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "relay_lite/passes/passes.h"

enum { MAX_LIST = 4 * TS_MAX_DIMS };

/* ---- elements ---- */

static bool computable(TsDType t)
{
    return t.lanes == 1 && (ts_dtype_is_bool(t) || ts_dtype_is_int(t) ||
                            (ts_dtype_is_float(t) && (t.bits == 32 || t.bits == 64)));
}

static int64_t load_int(TsDType t, const void *data, int64_t k)
{
    if (ts_dtype_is_float(t))
        return 0; /* callers convert floats through load_float */
    bool is_signed = !ts_dtype_is_uint(t) && !ts_dtype_is_bool(t);
    switch (t.bits) {
    case 8: return is_signed ? ((const int8_t *)data)[k] : ((const uint8_t *)data)[k];
    case 16: return is_signed ? ((const int16_t *)data)[k] : ((const uint16_t *)data)[k];
    case 32:
        return is_signed ? (int64_t)((const int32_t *)data)[k]
                         : (int64_t)((const uint32_t *)data)[k];
    default: return ((const int64_t *)data)[k];
    }
}

static double load_float(TsDType t, const void *data, int64_t k)
{
    if (ts_dtype_is_float(t))
        return t.bits == 32 ? ((const float *)data)[k] : ((const double *)data)[k];
    if (ts_dtype_is_uint(t) && t.bits == 64)
        return (double)((const uint64_t *)data)[k];
    return (double)load_int(t, data, k);
}

static void store_int(TsDType t, void *data, int64_t k, int64_t v)
{
    if (ts_dtype_is_bool(t))
        v = v != 0;
    switch (t.bits) {
    case 8: ((uint8_t *)data)[k] = (uint8_t)v; break;
    case 16: ((uint16_t *)data)[k] = (uint16_t)v; break;
    case 32: ((uint32_t *)data)[k] = (uint32_t)v; break;
    default: ((uint64_t *)data)[k] = (uint64_t)v; break;
    }
}

/* A float stored into any type: integers truncate toward zero, saturating (NaN is 0),
 * so that no conversion is undefined. */
static void store_float(TsDType t, void *data, int64_t k, double v)
{
    if (ts_dtype_is_float(t)) {
        if (t.bits == 32)
            ((float *)data)[k] = (float)v;
        else
            ((double *)data)[k] = v;
        return;
    }
    if (ts_dtype_is_bool(t)) {
        store_int(t, data, k, v != 0.0);
        return;
    }
    int64_t i = isnan(v) ? 0 : v >= 9.2e18 ? INT64_MAX : v <= -9.2e18 ? INT64_MIN : (int64_t)v;
    store_int(t, data, k, i);
}

/* Copies element from of src into element to of dst, converting when the dtypes differ. */
static void convert(TsDType dt, void *dst, int64_t to, TsDType st, const void *src, int64_t from)
{
    if (ts_dtype_is_float(st))
        store_float(dt, dst, to, load_float(st, src, from));
    else if (ts_dtype_is_float(dt))
        store_float(dt, dst, to, load_float(st, src, from));
    else
        store_int(dt, dst, to, load_int(st, src, from));
}

/* ---- indexing ---- */

static void unravel(int64_t k, int ndim, const int64_t *dims, int64_t *index)
{
    for (int d = ndim - 1; d >= 0; d--) {
        index[d] = dims[d] ? k % dims[d] : 0;
        k = dims[d] ? k / dims[d] : 0;
    }
}

/* The offset in c of the element that broadcasts to index (of a rank-ndim result). */
static int64_t broadcast_offset(const RlyConst *c, int ndim, const int64_t *index)
{
    int64_t offset = 0;
    for (int d = 0; d < c->ndim; d++) {
        int64_t i = index[d + ndim - c->ndim];
        offset = offset * c->shape[d] + (c->shape[d] == 1 ? 0 : i);
    }
    return offset;
}

static const RlyConst *const_input(const RlyNode *node, int k)
{
    const RlyValue *v = rly_input(node, k);
    return v ? v->constant : NULL;
}

/* The result constant, shaped as inference says output 0 is. */
static RlyConst *new_result(TsGraph *graph, const RlyNode *node)
{
    const RlyValue *out = rly_output(node, 0);
    return rly_const_new(graph, out->dtype, out->ndim, out->dims);
}

/* ---- kernels ---- */

/* Identity, Reshape, Flatten, Squeeze, Unsqueeze: the same elements, another shape. */
static void fold_copy(const RlyNode *node, RlyConst *out)
{
    const RlyConst *x = const_input(node, 0);
    memcpy((void *)out->data, x->data, (size_t)x->num_elements * ts_dtype_bytes(x->dtype));
}

static TsStatus fold_shape(TsGraph *graph, const RlyNode *node, RlyConst *out, TsError *err)
{
    const RlyValue *x = rly_input(node, 0);
    int64_t start = 0, end = x->ndim;
    TsStatus status = TS_OK;
    if (graph->opset >= 15)
        status = rly_attr_int(graph, node, "start", 0, &start, err);
    if (status == TS_OK && graph->opset >= 15)
        status = rly_attr_int(graph, node, "end", x->ndim, &end, err);
    if (status != TS_OK)
        return status;
    if (start < 0)
        start += x->ndim;
    start = start < 0 ? 0 : start > x->ndim ? x->ndim : start;
    for (int64_t k = 0; k < out->num_elements; k++)
        ((int64_t *)out->data)[k] = x->dims[start + k];
    return TS_OK;
}

static TsStatus fold_gather(TsGraph *graph, const RlyNode *node, RlyConst *out, TsError *err)
{
    const RlyConst *x = const_input(node, 0), *indices = const_input(node, 1);
    int64_t axis_attr = 0;
    int axis = 0;
    TsStatus status = rly_attr_int(graph, node, "axis", 0, &axis_attr, err);
    if (status == TS_OK)
        status = rly_axis(graph, node, axis_attr, x->ndim, "attribute axis", &axis, err);
    if (status != TS_OK)
        return status;
    int64_t outer = 1, inner = 1, extent = x->shape[axis];
    for (int d = 0; d < axis; d++)
        outer *= x->shape[d];
    for (int d = axis + 1; d < x->ndim; d++)
        inner *= x->shape[d];
    size_t bytes = ts_dtype_bytes(x->dtype);
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t j = 0; j < indices->num_elements; j++) {
            int64_t i = load_int(indices->dtype, indices->data, j);
            if (i < -extent || i >= extent)
                return rly_node_fail(graph, node, err, TS_EINVAL,
                                     "index %" PRId64 " (element %" PRId64
                                     ") is out of range for extent %" PRId64,
                                     i, j, extent);
            i += i < 0 ? extent : 0;
            memcpy((char *)out->data + ((o * indices->num_elements + j) * inner) * bytes,
                   (const char *)x->data + ((o * extent + i) * inner) * bytes,
                   (size_t)inner * bytes);
        }
    }
    return TS_OK;
}

static TsStatus fold_concat(TsGraph *graph, const RlyNode *node, RlyConst *out, TsError *err)
{
    int64_t axis_attr = 0;
    int axis = 0;
    TsStatus status = rly_attr_int(graph, node, "axis", 0, &axis_attr, err);
    if (status == TS_OK)
        status = rly_axis(graph, node, axis_attr, out->ndim, "attribute axis", &axis, err);
    if (status != TS_OK)
        return status;
    int64_t outer = 1, inner = 1, offset = 0;
    for (int d = 0; d < axis; d++)
        outer *= out->shape[d];
    for (int d = axis + 1; d < out->ndim; d++)
        inner *= out->shape[d];
    size_t bytes = ts_dtype_bytes(out->dtype);
    for (int k = 0; k < node->num_inputs; k++) {
        const RlyConst *x = const_input(node, k);
        if (!x)
            continue;
        int64_t block = x->shape[axis] * inner;
        for (int64_t o = 0; o < outer; o++)
            memcpy((char *)out->data + (o * out->shape[axis] * inner + offset) * bytes,
                   (const char *)x->data + o * block * (int64_t)bytes, (size_t)block * bytes);
        offset += block;
    }
    return TS_OK;
}

static void fold_cast(const RlyNode *node, RlyConst *out)
{
    const RlyConst *x = const_input(node, 0);
    for (int64_t k = 0; k < x->num_elements; k++)
        convert(out->dtype, (void *)out->data, k, x->dtype, x->data, k);
}

/* Slice's starts, ends, axes and steps, from its inputs (opset 10 on) or attributes. */
static TsStatus slice_lists(TsGraph *graph, const RlyNode *node, int64_t lists[4][MAX_LIST],
                            int counts[4], TsError *err)
{
    static const char *const names[4] = { "starts", "ends", "axes", "steps" };
    for (int k = 0; k < 4; k++) {
        counts[k] = -1;
        TsStatus status = TS_OK;
        if (graph->opset < 10 && k < 3)
            status = rly_attr_ints(graph, node, names[k], MAX_LIST, lists[k], &counts[k], err);
        else if (graph->opset >= 10 && rly_input(node, k + 1) &&
                 !rly_const_ints(rly_input(node, k + 1), lists[k], MAX_LIST, &counts[k]))
            status = rly_node_fail(graph, node, err, TS_EINVAL, "input %d (%s) is not a list",
                                   k + 1, names[k]);
        if (status != TS_OK)
            return status;
    }
    return TS_OK;
}

static TsStatus fold_slice(TsGraph *graph, const RlyNode *node, RlyConst *out, TsError *err)
{
    const RlyConst *x = const_input(node, 0);
    int64_t lists[4][MAX_LIST], start[TS_MAX_DIMS] = { 0 }, step[TS_MAX_DIMS];
    int counts[4];
    TsStatus status = slice_lists(graph, node, lists, counts, err);
    if (status != TS_OK)
        return status;
    for (int d = 0; d < TS_MAX_DIMS; d++)
        step[d] = 1;
    for (int k = 0; k < counts[0]; k++) {
        int axis = 0;
        status =
            rly_axis(graph, node, counts[2] >= 0 ? lists[2][k] : k, x->ndim, "axis", &axis, err);
        if (status != TS_OK)
            return status;
        int64_t dim = x->shape[axis], s = lists[0][k];
        step[axis] = counts[3] >= 0 ? lists[3][k] : 1;
        s = s < 0 ? (s < -dim ? 0 : s + dim) : s;
        start[axis] = step[axis] > 0 ? (s > dim ? dim : s) : (s > dim - 1 ? dim - 1 : s);
    }
    size_t bytes = ts_dtype_bytes(x->dtype);
    int64_t index[TS_MAX_DIMS];
    for (int64_t k = 0; k < out->num_elements; k++) {
        unravel(k, out->ndim, out->shape, index);
        int64_t from = 0;
        for (int d = 0; d < x->ndim; d++)
            from = from * x->shape[d] + start[d] + index[d] * step[d];
        memcpy((char *)out->data + k * (int64_t)bytes,
               (const char *)x->data + from * (int64_t)bytes, bytes);
    }
    return TS_OK;
}

static void fold_constant_of_shape(const RlyNode *node, RlyConst *out)
{
    const RlyAttr *value = rly_node_attr(node, "value");
    if (!value)
        return; /* float32 zeros */
    size_t bytes = ts_dtype_bytes(out->dtype);
    for (int64_t k = 0; k < out->num_elements; k++)
        memcpy((char *)out->data + k * (int64_t)bytes, value->tensor->data, bytes);
}

static TsStatus fold_transpose(TsGraph *graph, const RlyNode *node, RlyConst *out, TsError *err)
{
    const RlyConst *x = const_input(node, 0);
    int64_t perm[TS_MAX_DIMS], index[TS_MAX_DIMS];
    int count = -1;
    TsStatus status = rly_attr_ints(graph, node, "perm", TS_MAX_DIMS, perm, &count, err);
    if (status != TS_OK)
        return status;
    if (count != x->ndim)
        for (int d = 0; d < x->ndim; d++)
            perm[d] = x->ndim - 1 - d;
    int64_t stride[TS_MAX_DIMS], s = 1;
    for (int d = x->ndim - 1; d >= 0; d--) {
        stride[d] = s;
        s *= x->shape[d];
    }
    size_t bytes = ts_dtype_bytes(x->dtype);
    for (int64_t k = 0; k < out->num_elements; k++) {
        unravel(k, out->ndim, out->shape, index);
        int64_t from = 0;
        for (int d = 0; d < out->ndim; d++)
            from += index[d] * stride[perm[d]];
        memcpy((char *)out->data + k * (int64_t)bytes,
               (const char *)x->data + from * (int64_t)bytes, bytes);
    }
    return TS_OK;
}

static void fold_expand(const RlyNode *node, RlyConst *out)
{
    const RlyConst *x = const_input(node, 0);
    size_t bytes = ts_dtype_bytes(x->dtype);
    int64_t index[TS_MAX_DIMS];
    for (int64_t k = 0; k < out->num_elements; k++) {
        unravel(k, out->ndim, out->shape, index);
        int64_t from = broadcast_offset(x, out->ndim, index);
        memcpy((char *)out->data + k * (int64_t)bytes,
               (const char *)x->data + from * (int64_t)bytes, bytes);
    }
}

static TsStatus int_op(TsGraph *graph, const RlyNode *node, int64_t a, int64_t b, int64_t *out,
                       TsError *err)
{
    uint64_t ua = (uint64_t)a, ub = (uint64_t)b;
    if (node->op != RLY_OP_DIV) {
        *out = (int64_t)(node->op == RLY_OP_ADD   ? ua + ub
                         : node->op == RLY_OP_SUB ? ua - ub
                                                  : ua * ub);
        return TS_OK;
    }
    if (b == 0)
        return rly_node_fail(graph, node, err, TS_EINVAL, "integer division by zero");
    *out = a == INT64_MIN && b == -1 ? INT64_MIN : a / b;
    return TS_OK;
}

static double float_op(const RlyNode *node, TsDType t, double a, double b)
{
    if (t.bits == 32) {
        float x = (float)a, y = (float)b;
        return node->op == RLY_OP_ADD   ? x + y
               : node->op == RLY_OP_SUB ? x - y
               : node->op == RLY_OP_MUL ? x * y
               : node->op == RLY_OP_POW ? powf(x, y)
                                        : x / y;
    }
    return node->op == RLY_OP_ADD   ? a + b
           : node->op == RLY_OP_SUB ? a - b
           : node->op == RLY_OP_MUL ? a * b
           : node->op == RLY_OP_POW ? pow(a, b)
                                    : a / b;
}

/* Relu, Sigmoid, Tanh, Erf, Sqrt of a float constant, in its precision. */
static double unary_op(RlyOpKind op, TsDType t, double v)
{
    if (t.bits == 32) {
        float x = (float)v;
        return op == RLY_OP_RELU      ? (x < 0 ? 0.0f : x)
               : op == RLY_OP_SIGMOID ? 1.0f / (1.0f + expf(-x))
               : op == RLY_OP_TANH    ? tanhf(x)
               : op == RLY_OP_ERF     ? erff(x)
                                      : sqrtf(x);
    }
    return op == RLY_OP_RELU      ? (v < 0 ? 0.0 : v)
           : op == RLY_OP_SIGMOID ? 1.0 / (1.0 + exp(-v))
           : op == RLY_OP_TANH    ? tanh(v)
           : op == RLY_OP_ERF     ? erf(v)
                                  : sqrt(v);
}

static void fold_unary(const RlyNode *node, RlyConst *out)
{
    const RlyConst *x = const_input(node, 0);
    for (int64_t k = 0; k < out->num_elements; k++)
        store_float(out->dtype, (void *)out->data, k,
                    unary_op(node->op, out->dtype, load_float(x->dtype, x->data, k)));
}

static TsStatus fold_binary(TsGraph *graph, const RlyNode *node, RlyConst *out, TsError *err)
{
    const RlyConst *a = const_input(node, 0), *b = const_input(node, 1);
    int64_t index[TS_MAX_DIMS];
    for (int64_t k = 0; k < out->num_elements; k++) {
        unravel(k, out->ndim, out->shape, index);
        int64_t ia = broadcast_offset(a, out->ndim, index);
        int64_t ib = broadcast_offset(b, out->ndim, index);
        if (ts_dtype_is_float(out->dtype)) {
            store_float(out->dtype, (void *)out->data, k,
                        float_op(node, out->dtype, load_float(a->dtype, a->data, ia),
                                 load_float(b->dtype, b->data, ib)));
            continue;
        }
        int64_t v = 0;
        TsStatus status = int_op(graph, node, load_int(a->dtype, a->data, ia),
                                 load_int(b->dtype, b->data, ib), &v, err);
        if (status != TS_OK)
            return status;
        store_int(out->dtype, (void *)out->data, k, v);
    }
    return TS_OK;
}

/* ---- which nodes fold ---- */

/* Every present input a constant; Shape needs only its input's shape. */
static bool inputs_ready(const RlyNode *node)
{
    if (node->op == RLY_OP_SHAPE)
        return rly_value_known(rly_input(node, 0));
    for (int k = 0; k < node->num_inputs; k++)
        if (node->inputs[k] && !node->inputs[k]->constant)
            return false;
    return true;
}

/* The output to fold: output 0 alone, with a known type and shape not too large. */
static bool output_ready(const RlyNode *node)
{
    const RlyValue *out = rly_output(node, 0);
    for (int k = 1; k < node->num_outputs; k++)
        if (node->outputs[k])
            return false;
    return out && out->has_dtype && rly_value_known(out) &&
           rly_value_elements(out) <= RLY_FOLD_MAX_ELEMENTS;
}

/* Whether the host computes op on these dtypes: data movement works on any dtype,
 * arithmetic and casts on computable ones. */
static bool op_folds(const RlyNode *node)
{
    const RlyValue *out = rly_output(node, 0), *x = rly_input(node, 0);
    switch (node->op) {
    case RLY_OP_IDENTITY:
    case RLY_OP_RESHAPE:
    case RLY_OP_FLATTEN:
    case RLY_OP_SQUEEZE:
    case RLY_OP_UNSQUEEZE:
    case RLY_OP_SHAPE:
    case RLY_OP_GATHER:
    case RLY_OP_CONCAT:
    case RLY_OP_SLICE:
    case RLY_OP_CONSTANT_OF_SHAPE:
    case RLY_OP_TRANSPOSE:
    case RLY_OP_EXPAND:
    case RLY_OP_CONSTANT: return true;
    case RLY_OP_CAST: return computable(out->dtype) && computable(x->dtype);
    case RLY_OP_ADD:
    case RLY_OP_SUB:
    case RLY_OP_MUL:
    case RLY_OP_DIV:
        return computable(out->dtype) && !ts_dtype_is_bool(out->dtype) &&
               ts_dtype_eq(out->dtype, x->dtype) &&
               ts_dtype_eq(x->dtype, rly_input(node, 1)->dtype);
    case RLY_OP_POW: /* the exponent may be of another type */
        return ts_dtype_is_float(out->dtype) && computable(out->dtype) &&
               computable(rly_input(node, 1)->dtype);
    case RLY_OP_RELU:
    case RLY_OP_SIGMOID:
    case RLY_OP_TANH:
    case RLY_OP_ERF:
    case RLY_OP_SQRT:
        return ts_dtype_is_float(out->dtype) && computable(out->dtype) &&
               ts_dtype_eq(out->dtype, x->dtype);
    case RLY_OP_CONV:
    case RLY_OP_CONV_TRANSPOSE:
    case RLY_OP_GEMM:
    case RLY_OP_MATMUL:
    case RLY_OP_BATCH_NORM:
    case RLY_OP_LAYER_NORM:
    case RLY_OP_CLIP:
    case RLY_OP_LEAKY_RELU:
    case RLY_OP_HARD_SIGMOID:
    case RLY_OP_HARD_SWISH:
    case RLY_OP_GELU:
    case RLY_OP_SUM:
    case RLY_OP_MAX:
    case RLY_OP_MIN:
    case RLY_OP_MEAN:
    case RLY_OP_MAX_POOL:
    case RLY_OP_AVERAGE_POOL:
    case RLY_OP_GLOBAL_AVERAGE_POOL:
    case RLY_OP_SPLIT:
    case RLY_OP_PAD:
    case RLY_OP_RESIZE:
    case RLY_OP_UPSAMPLE:
    case RLY_OP_SOFTMAX:
    case RLY_OP_REDUCE_MEAN:
    case RLY_OP_REDUCE_SUM:
    case RLY_OP_DROPOUT:
    case RLY_OP_QUANTIZE_LINEAR:
    case RLY_OP_DEQUANTIZE_LINEAR:
    case RLY_OP_QLINEAR_CONV:
    case RLY_OP_QLINEAR_MATMUL:
    case RLY_OP_CONV_INTEGER:
    case RLY_OP_MATMUL_INTEGER:
    case RLY_OP_QLINEAR_ADD:
    case RLY_OP_QCONV_REQUANT:
    case RLY_OP_QDENSE_REQUANT:
    case RLY_OP_QADD_REQUANT:
    case RLY_NUM_OPS: return false;
    }
    return false;
}

/* The kernel of one of the ops op_folds admits (Constant aside). */
static TsStatus compute(TsGraph *graph, const RlyNode *node, RlyConst *out, TsError *err)
{
    RlyOpKind op = node->op;
    if (op == RLY_OP_IDENTITY || op == RLY_OP_RESHAPE || op == RLY_OP_FLATTEN ||
        op == RLY_OP_SQUEEZE || op == RLY_OP_UNSQUEEZE)
        fold_copy(node, out);
    else if (op == RLY_OP_CAST)
        fold_cast(node, out);
    else if (op == RLY_OP_CONSTANT_OF_SHAPE)
        fold_constant_of_shape(node, out);
    else if (op == RLY_OP_EXPAND)
        fold_expand(node, out);
    else if (op == RLY_OP_SHAPE)
        return fold_shape(graph, node, out, err);
    else if (op == RLY_OP_GATHER)
        return fold_gather(graph, node, out, err);
    else if (op == RLY_OP_CONCAT)
        return fold_concat(graph, node, out, err);
    else if (op == RLY_OP_SLICE)
        return fold_slice(graph, node, out, err);
    else if (op == RLY_OP_TRANSPOSE)
        return fold_transpose(graph, node, out, err);
    else if (op == RLY_OP_RELU || op == RLY_OP_SIGMOID || op == RLY_OP_TANH || op == RLY_OP_ERF ||
             op == RLY_OP_SQRT)
        fold_unary(node, out);
    else
        return fold_binary(graph, node, out, err); /* Add, Sub, Mul, Div, Pow */
    return TS_OK;
}

TsStatus rly_fold_eval(TsGraph *graph, const RlyNode *node, const RlyConst **result, TsError *err)
{
    *result = NULL;
    if (!inputs_ready(node) || !output_ready(node) || !op_folds(node))
        return TS_OK;
    if (node->op == RLY_OP_CONSTANT) {
        *result = rly_output(node, 0)->constant;
        return TS_OK;
    }
    RlyConst *out = new_result(graph, node);
    if (!out)
        return rly_node_fail(graph, node, err, TS_ENOMEM, "out of memory folding the node");
    TsStatus status = compute(graph, node, out, err);
    if (status == TS_OK)
        *result = out;
    return status;
}
