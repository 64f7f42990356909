/* Node lowering: rly_lower_node turns one node of the graph into the tensor expression of
 * its outputs (te/ops builders over the tensors of its inputs), for the graph builder that
 * lowers a fused group and for the tests that evaluate whole models with the reference
 * interpreter. The dispatch on the op kind lists every kind of op_kinds.def (no default),
 * so a new operator must get a rule; this file also holds the helpers the rules share.
 *
 * Inference ran before (the importer runs it) and refused the attribute values the
 * importer does not handle; lowering relies on the shapes it inferred and checks that
 * every tensor it builds has its output's inferred dtype and shape, so the two can never
 * silently disagree. What te cannot represent (an empty tensor, a float16 computation)
 * is refused with a message naming the node. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "relay_lite/lower_rules.h"

enum { RLY_MAX_LOWER_INPUTS = 256 };

TsStatus rly_lower_fail(RlyLower *l, const char *fmt, ...)
{
    char text[TS_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    return rly_node_fail(l->graph, l->node, l->err, TS_EINVAL, "%s", text);
}

TsTensor *rly_lower_input(RlyLower *l, int k)
{
    TsTensor *t = k < l->node->num_inputs && l->node->inputs[k] ? l->inputs[k] : NULL;
    if (!t)
        rly_lower_fail(l, "input %d has no tensor", k);
    return t;
}

/* The operator library's message, moved from the arena into the node's error. */
static TsStatus library_fail(RlyLower *l)
{
    const TsError *e = ts_arena_error(l->arena);
    TsStatus status = e && e->status != TS_OK ? e->status : TS_EINVAL;
    rly_node_fail(l->graph, l->node, l->err, status, "%s",
                  e && e->status != TS_OK ? e->message : "the tensor expression was not built");
    ts_arena_clear_error(l->arena);
    return status;
}

TsStatus rly_lower_output(RlyLower *l, int k, TsTensor *t)
{
    const RlyValue *v = rly_output(l->node, k);
    if (!t)
        return library_fail(l);
    if (!v)
        return TS_OK;
    if (l->widened && ts_dtype_eq(v->dtype, TS_FLOAT16) &&
        ts_dtype_eq(ts_tensor_dtype(t), TS_FLOAT32) && !(t = ts_op_cast(l->arena, t, TS_FLOAT16)))
        return library_fail(l);
    char want[TS_DTYPE_STR_MAX], got[TS_DTYPE_STR_MAX];
    if (!ts_dtype_eq(ts_tensor_dtype(t), v->dtype))
        return rly_lower_fail(l, "output %d \"%s\" was lowered as %s, inferred %s", k, v->name,
                              ts_dtype_str(ts_tensor_dtype(t), got), ts_dtype_str(v->dtype, want));
    bool same = ts_tensor_ndim(t) == v->ndim;
    for (int d = 0; same && d < v->ndim; d++)
        same = ts_tensor_dim(t, d) == v->dims[d];
    if (!same)
        return rly_lower_fail(l,
                              "output %d \"%s\" was lowered with another shape (rank %d) than "
                              "inferred (rank %d)",
                              k, v->name, ts_tensor_ndim(t), v->ndim);
    l->outputs[k] = t;
    return TS_OK;
}

TsTensor *rly_lower_reshape_to(RlyLower *l, TsTensor *t, int k)
{
    const RlyValue *v = rly_output(l->node, k);
    if (!t || !v)
        return t;
    bool same = ts_tensor_ndim(t) == v->ndim;
    for (int d = 0; same && d < v->ndim; d++)
        same = ts_tensor_dim(t, d) == v->dims[d];
    return same ? t : ts_op_reshape(l->arena, t, v->ndim, v->dims);
}

TsStatus rly_lower_const_ints(RlyLower *l, int k, const char *what, int64_t *out, int max,
                              int *count)
{
    const RlyValue *v = rly_input(l->node, k);
    *count = -1;
    if (!v)
        return TS_OK;
    if (!rly_const_ints(v, out, max, count))
        return rly_lower_fail(l,
                              "input %d (%s) \"%s\" must be a constant list of at most %d "
                              "integers",
                              k, what, v->name, max);
    return TS_OK;
}

/* Every output the node has must be known, with extents te can hold (>= 1); every input's
 * tensor must have its value's dtype and shape (the caller's tensors stand for them). */
static TsStatus check_values(RlyLower *l)
{
    for (int k = 0; k < l->node->num_outputs; k++) {
        const RlyValue *v = rly_output(l->node, k);
        if (!v)
            continue;
        if (!v->has_dtype || !rly_value_known(v))
            return rly_lower_fail(l,
                                  "output %d \"%s\" has no known shape (it waits for constant "
                                  "folding)",
                                  k, v->name);
        for (int d = 0; d < v->ndim; d++)
            if (v->dims[d] < 1)
                return rly_lower_fail(l,
                                      "output %d \"%s\" is empty (extent %" PRId64
                                      " in dimension %d); empty tensors are not supported",
                                      k, v->name, v->dims[d], d);
    }
    for (int k = 0; k < l->node->num_inputs; k++) {
        const RlyValue *v = l->node->inputs[k];
        TsTensor *t = v ? l->inputs[k] : NULL;
        if (v && !t)
            return rly_lower_fail(l, "input %d \"%s\" has no tensor", k, v->name);
        bool same = t && ts_dtype_eq(ts_tensor_dtype(t), v->dtype) && ts_tensor_ndim(t) == v->ndim;
        for (int d = 0; same && d < v->ndim; d++)
            same = ts_tensor_dim(t, d) == v->dims[d];
        if (t && !same)
            return rly_lower_fail(l,
                                  "input %d \"%s\": its tensor \"%s\" has another dtype or "
                                  "shape than the value",
                                  k, v->name, ts_tensor_name(t));
    }
    return TS_OK;
}

static TsStatus dispatch(RlyLower *l)
{
    switch (l->node->op) {
    case RLY_OP_CONV: return rly_lower_conv(l);
    case RLY_OP_CONV_TRANSPOSE: return rly_lower_conv_transpose(l);
    case RLY_OP_GEMM: return rly_lower_gemm(l);
    case RLY_OP_MATMUL: return rly_lower_matmul(l);
    case RLY_OP_BATCH_NORM: return rly_lower_batch_norm(l);
    case RLY_OP_LAYER_NORM: return rly_lower_layer_norm(l);
    case RLY_OP_RELU: return rly_lower_unary(l, ts_op_relu);
    case RLY_OP_CLIP: return rly_lower_clip(l);
    case RLY_OP_LEAKY_RELU: return rly_lower_leaky_relu(l);
    case RLY_OP_SIGMOID: return rly_lower_unary(l, ts_op_sigmoid);
    case RLY_OP_TANH: return rly_lower_unary(l, ts_op_tanh);
    case RLY_OP_HARD_SIGMOID: return rly_lower_hard_sigmoid(l);
    case RLY_OP_HARD_SWISH: return rly_lower_unary(l, ts_op_hard_swish);
    case RLY_OP_ERF: return rly_lower_unary(l, ts_op_erf);
    case RLY_OP_GELU: return rly_lower_gelu(l);
    case RLY_OP_ADD: return rly_lower_binary(l, ts_op_add);
    case RLY_OP_SUB: return rly_lower_binary(l, ts_op_sub);
    case RLY_OP_MUL: return rly_lower_binary(l, ts_op_mul);
    case RLY_OP_DIV: return rly_lower_binary(l, ts_op_div);
    case RLY_OP_POW: return rly_lower_binary(l, ts_op_pow);
    case RLY_OP_SQRT: return rly_lower_unary(l, ts_op_sqrt);
    case RLY_OP_SUM: return rly_lower_variadic(l, TS_VARIADIC_SUM);
    case RLY_OP_MAX: return rly_lower_variadic(l, TS_VARIADIC_MAX);
    case RLY_OP_MIN: return rly_lower_variadic(l, TS_VARIADIC_MIN);
    case RLY_OP_MEAN: return rly_lower_variadic(l, TS_VARIADIC_MEAN);
    case RLY_OP_MAX_POOL: return rly_lower_pool(l, true);
    case RLY_OP_AVERAGE_POOL: return rly_lower_pool(l, false);
    case RLY_OP_GLOBAL_AVERAGE_POOL: return rly_lower_global_pool(l);
    case RLY_OP_CONCAT: return rly_lower_concat(l);
    case RLY_OP_SPLIT: return rly_lower_split(l);
    case RLY_OP_SLICE: return rly_lower_slice(l);
    case RLY_OP_PAD: return rly_lower_pad(l);
    case RLY_OP_RESHAPE:
    case RLY_OP_FLATTEN:
    case RLY_OP_SQUEEZE:
    case RLY_OP_UNSQUEEZE: return rly_lower_reshape(l);
    case RLY_OP_TRANSPOSE: return rly_lower_transpose(l);
    case RLY_OP_SHAPE: return rly_lower_shape(l);
    case RLY_OP_GATHER: return rly_lower_gather(l);
    case RLY_OP_EXPAND: return rly_lower_expand(l);
    case RLY_OP_CAST: return rly_lower_cast(l);
    case RLY_OP_RESIZE: return rly_lower_resize(l, false);
    case RLY_OP_UPSAMPLE: return rly_lower_resize(l, true);
    case RLY_OP_SOFTMAX: return rly_lower_softmax(l);
    case RLY_OP_REDUCE_MEAN: return rly_lower_reduce(l, TS_REDUCE_MEAN, 18);
    case RLY_OP_REDUCE_SUM: return rly_lower_reduce(l, TS_REDUCE_SUM, 13);
    case RLY_OP_IDENTITY:
    case RLY_OP_DROPOUT: return rly_lower_identity(l);
    case RLY_OP_CONSTANT: return rly_lower_constant(l);
    case RLY_OP_CONSTANT_OF_SHAPE: return rly_lower_constant_of_shape(l);
    case RLY_OP_QUANTIZE_LINEAR: return rly_lower_quantize(l);
    case RLY_OP_DEQUANTIZE_LINEAR: return rly_lower_dequantize(l);
    case RLY_OP_CONV_INTEGER: return rly_lower_conv_integer(l);
    case RLY_OP_MATMUL_INTEGER: return rly_lower_matmul_integer(l);
    case RLY_OP_QLINEAR_CONV:
    case RLY_OP_QCONV_REQUANT: return rly_lower_qlinear_conv(l);
    case RLY_OP_QLINEAR_MATMUL:
    case RLY_OP_QDENSE_REQUANT: return rly_lower_qlinear_matmul(l);
    case RLY_OP_QLINEAR_ADD:
    case RLY_OP_QADD_REQUANT: return rly_lower_qlinear_add(l);
    case RLY_NUM_OPS: break;
    }
    return rly_lower_fail(l, "no lowering rule");
}

/* Operators whose lowering computes: their float16 inputs are widened to float32 (the
 * others move, compare or convert float16 data as it is). */
static bool computes(RlyOpKind op)
{
    return op != RLY_OP_CAST && op != RLY_OP_SHAPE && op != RLY_OP_CONSTANT &&
           op != RLY_OP_CONSTANT_OF_SHAPE;
}

/* Lowers with float16 inputs widened to float32 when the operator computes: rounding once
 * at the output, as ONNX Runtime's float16 kernels that compute in float do. */
static TsStatus dispatch_widened(RlyLower *l)
{
    TsTensor *wide[RLY_MAX_LOWER_INPUTS];
    bool any = false;
    for (int k = 0; k < l->node->num_inputs && k < RLY_MAX_LOWER_INPUTS; k++)
        any |= l->inputs[k] && ts_dtype_eq(ts_tensor_dtype(l->inputs[k]), TS_FLOAT16);
    if (!any || !computes(l->node->op))
        return dispatch(l);
    if (l->node->num_inputs > RLY_MAX_LOWER_INPUTS)
        return rly_lower_fail(l, "%d float16 inputs; at most %d are supported", l->node->num_inputs,
                              RLY_MAX_LOWER_INPUTS);
    for (int k = 0; k < l->node->num_inputs; k++) {
        TsTensor *t = l->inputs[k];
        wide[k] = t && ts_dtype_eq(ts_tensor_dtype(t), TS_FLOAT16)
                      ? ts_op_cast(l->arena, t, TS_FLOAT32)
                      : t;
        if (t && !wide[k])
            return library_fail(l);
    }
    RlyLower widened = *l;
    widened.inputs = wide;
    widened.widened = true;
    return dispatch(&widened);
}

TsStatus rly_lower_node(TsArena *arena, const TsGraph *graph, const RlyNode *node,
                        TsTensor *const *inputs, TsTensor **outputs, TsError *err)
{
    RlyLower l = { arena, graph, node, inputs, outputs, err, false };
    for (int k = 0; k < node->num_outputs; k++)
        outputs[k] = NULL;
    if (!ts_arena_ok(arena)) /* an earlier failure the caller did not clear */
        return rly_node_fail(graph, node, err, ts_arena_error(arena)->status,
                             "the arena holds an earlier error: %s",
                             ts_arena_error(arena)->message);
    TsStatus status = check_values(&l);
    if (status == TS_OK)
        status = dispatch_widened(&l);
    if (status != TS_OK)
        for (int k = 0; k < node->num_outputs; k++)
            outputs[k] = NULL;
    return status;
}
