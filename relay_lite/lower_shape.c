/* Lowering of the shape and layout operators: Concat, Split (sizes as an attribute, an
 * input or equal parts), Slice (attributes or inputs; negative starts, ends and steps),
 * Pad (constant, reflect and edge; negative pads; the value and axes inputs), Reshape,
 * Flatten, Squeeze and Unsqueeze (row-major copies to the inferred shape), Transpose,
 * Shape (a constant computed in place), Gather (any axis, negative indices) and Expand.
 * Part of node lowering (lower_node.c). The shapes these give were inferred (infer_shape.c)
 * from the same attributes and constant inputs; here only the positions are computed. */
#include <inttypes.h>
#include <string.h>

#include "relay_lite/lower_rules.h"

enum { MAX_LIST = 4 * TS_MAX_DIMS };

TsStatus rly_lower_concat(RlyLower *l)
{
    TsTensor *in[TS_MAX_OPERANDS];
    int64_t axis = 0;
    int n = l->node->num_inputs;
    if (n > TS_MAX_OPERANDS)
        return rly_lower_fail(l, "%d inputs; at most %d are supported", n, TS_MAX_OPERANDS);
    for (int k = 0; k < n; k++)
        if (!(in[k] = rly_lower_input(l, k)))
            return l->err->status;
    TsStatus status = rly_attr_int(l->graph, l->node, "axis", 0, &axis, l->err);
    return status == TS_OK ? rly_lower_output(l, 0, ts_op_concat(l->arena, n, in, (int)axis))
                           : status;
}

static int normalize_axis(int64_t axis, int rank)
{
    return (int)(axis < 0 ? axis + rank : axis);
}

TsStatus rly_lower_split(RlyLower *l)
{
    TsTensor *x = rly_lower_input(l, 0);
    int64_t axis_attr = 0, begin[TS_MAX_DIMS] = { 0 }, step[TS_MAX_DIMS];
    if (!x)
        return l->err->status;
    TsStatus status = rly_attr_int(l->graph, l->node, "axis", 0, &axis_attr, l->err);
    if (status != TS_OK)
        return status;
    int rank = ts_tensor_ndim(x), axis = normalize_axis(axis_attr, rank);
    for (int d = 0; d < rank; d++)
        step[d] = 1;
    /* The outputs' extents along the axis were inferred; each is the slice after the last. */
    for (int k = 0; status == TS_OK && k < l->node->num_outputs; k++) {
        const RlyValue *v = rly_output(l->node, k);
        int64_t extent = v ? v->dims[axis] : 0;
        if (v)
            status = rly_lower_output(l, k, ts_op_strided_slice(l->arena, x, begin, step, v->dims));
        if (!v) {
            /* an omitted output still takes its part; its size is the inferred split's */
            return rly_lower_fail(l, "output %d is omitted; Split needs every output", k);
        }
        begin[axis] += extent;
    }
    return status;
}

static int64_t clamp(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

TsStatus rly_lower_slice(RlyLower *l)
{
    TsTensor *x = rly_lower_input(l, 0);
    const RlyValue *out = rly_output(l->node, 0);
    int64_t lists[4][MAX_LIST]; /* starts, ends, axes, steps */
    int counts[4] = { -1, -1, -1, -1 };
    static const char *const names[4] = { "starts", "ends", "axes", "steps" };
    TsStatus status = TS_OK;
    if (!x)
        return l->err->status;
    for (int k = 0; status == TS_OK && k < (l->graph->opset >= 10 ? 4 : 3); k++)
        status = l->graph->opset >= 10
                     ? rly_lower_const_ints(l, k + 1, names[k], lists[k], MAX_LIST, &counts[k])
                     : rly_attr_ints(l->graph, l->node, names[k], MAX_LIST, lists[k], &counts[k],
                                     l->err);
    if (status != TS_OK)
        return status;
    int rank = ts_tensor_ndim(x);
    int64_t begin[TS_MAX_DIMS] = { 0 }, step[TS_MAX_DIMS];
    for (int d = 0; d < rank; d++)
        step[d] = 1;
    for (int k = 0; k < counts[0]; k++) {
        int axis = normalize_axis(counts[2] >= 0 ? lists[2][k] : k, rank);
        int64_t dim = ts_tensor_dim(x, axis), start = lists[0][k];
        step[axis] = counts[3] >= 0 ? lists[3][k] : 1;
        if (start < 0)
            start = start < -dim ? -1 : start + dim;
        /* ONNX clamps the start to [0, dim] going forward, [0, dim - 1] going back. */
        begin[axis] = step[axis] > 0 ? clamp(start, 0, dim) : clamp(start, 0, dim - 1);
    }
    return rly_lower_output(l, 0, ts_op_strided_slice(l->arena, x, begin, step, out->dims));
}

/* The one element of a tensor, at index 0 in each of its dimensions. */
static TsExpr *first_element(RlyLower *l, TsTensor *t)
{
    TsExpr *zeros[TS_MAX_DIMS];
    for (int d = 0; d < ts_tensor_ndim(t); d++)
        zeros[d] = ts_i32(l->arena, 0);
    return ts_access(l->arena, t, ts_tensor_ndim(t), zeros);
}

/* Pad's value: the attribute before opset 11, the optional input 2 since. */
static TsStatus pad_value(RlyLower *l, TsDType dtype, TsExpr **out)
{
    *out = NULL;
    if (l->graph->opset >= 11) {
        TsTensor *v = rly_input(l->node, 2) ? l->inputs[2] : NULL;
        if (v && ts_tensor_num_elements(v) != 1)
            return rly_lower_fail(l, "input 2 (constant_value) must have one element");
        if (v)
            *out = first_element(l, v);
        return TS_OK;
    }
    double value = 0.0;
    TsStatus status = rly_attr_float(l->graph, l->node, "value", 0.0, &value, l->err);
    if (status != TS_OK || value == 0.0)
        return status;
    if (ts_dtype_is_float(dtype) && dtype.bits >= 32)
        *out = ts_float(l->arena, dtype, value);
    else if (ts_dtype_is_int(dtype) && value == (double)(int64_t)value)
        *out = ts_int(l->arena, dtype, (int64_t)value);
    else
        return rly_lower_fail(l, "attribute value = %g cannot be a value of the data", value);
    return TS_OK;
}

TsStatus rly_lower_pad(RlyLower *l)
{
    TsTensor *x = rly_lower_input(l, 0);
    int64_t pads[MAX_LIST], axes[MAX_LIST], before[TS_MAX_DIMS] = { 0 }, after[TS_MAX_DIMS] = { 0 };
    int count = -1, num_axes = -1;
    const char *mode = "constant";
    if (!x)
        return l->err->status;
    TsStatus status = rly_attr_string(l->graph, l->node, "mode", "constant", &mode, l->err);
    if (status == TS_OK)
        status = l->graph->opset >= 11
                     ? rly_lower_const_ints(l, 1, "pads", pads, MAX_LIST, &count)
                     : rly_attr_ints(l->graph, l->node, "pads", MAX_LIST, pads, &count, l->err);
    if (status == TS_OK && l->graph->opset >= 18)
        status = rly_lower_const_ints(l, 3, "axes", axes, MAX_LIST, &num_axes);
    TsExpr *value = NULL;
    if (status == TS_OK)
        status = pad_value(l, ts_tensor_dtype(x), &value);
    if (status != TS_OK)
        return status;
    int rank = ts_tensor_ndim(x), padded = num_axes >= 0 ? num_axes : rank;
    if (count != 2 * padded)
        return rly_lower_fail(l, "pads has %d values for %d padded dimensions", count, padded);
    for (int k = 0; k < padded; k++) {
        int axis = num_axes >= 0 ? normalize_axis(axes[k], rank) : k;
        before[axis] = pads[k];
        after[axis] = pads[k + padded];
    }
    TsPadMode pad_mode = !strcmp(mode, "reflect") ? TS_PAD_REFLECT
                         : !strcmp(mode, "edge")  ? TS_PAD_EDGE
                                                  : TS_PAD_CONSTANT;
    if (strcmp(mode, "constant") && strcmp(mode, "reflect") && strcmp(mode, "edge"))
        return rly_lower_fail(l, "attribute mode = \"%s\" is not supported", mode);
    return rly_lower_output(l, 0, ts_op_pad_mode(l->arena, x, before, after, pad_mode, value));
}

TsStatus rly_lower_reshape(RlyLower *l)
{
    TsTensor *x = rly_lower_input(l, 0);
    const RlyValue *out = rly_output(l->node, 0);
    if (!x)
        return l->err->status;
    /* Always a stage of its own, even when the shape is unchanged: the output is a tensor
     * the graph names apart from the input. */
    return rly_lower_output(l, 0, out ? ts_op_reshape(l->arena, x, out->ndim, out->dims) : NULL);
}

TsStatus rly_lower_transpose(RlyLower *l)
{
    TsTensor *x = rly_lower_input(l, 0);
    int64_t perm[TS_MAX_DIMS];
    int count = -1, p[TS_MAX_DIMS];
    if (!x)
        return l->err->status;
    TsStatus status = rly_attr_ints(l->graph, l->node, "perm", TS_MAX_DIMS, perm, &count, l->err);
    if (status != TS_OK)
        return status;
    int rank = ts_tensor_ndim(x);
    if (count >= 0 && count != rank)
        return rly_lower_fail(l, "attribute perm has %d values for rank %d", count, rank);
    for (int d = 0; d < rank; d++)
        p[d] = count >= 0 ? (int)perm[d] : rank - 1 - d;
    return rly_lower_output(l, 0, ts_op_transpose(l->arena, x, p));
}

TsStatus rly_lower_shape(RlyLower *l)
{
    const RlyValue *x = rly_input(l->node, 0), *out = rly_output(l->node, 0);
    int64_t start = 0;
    if (!out)
        return TS_OK;
    TsStatus status = TS_OK;
    if (l->graph->opset >= 15)
        status = rly_attr_int(l->graph, l->node, "start", 0, &start, l->err);
    if (status != TS_OK)
        return status;
    start = start < 0 ? start + x->ndim : start;
    start = clamp(start, 0, x->ndim);
    TsAxis *i = ts_axis(l->arena, "i", out->dims[0]);
    TsExpr *body = ts_int(l->arena, TS_INT64, x->dims[start + out->dims[0] - 1]);
    for (int64_t k = out->dims[0] - 2; k >= 0; k--)
        body = ts_select(l->arena, ts_eq(l->arena, ts_var(i), ts_i32(l->arena, k)),
                         ts_int(l->arena, TS_INT64, x->dims[start + k]), body);
    return rly_lower_output(l, 0, ts_compute_tagged(l->arena, "shape", "shape", 1, &i, body));
}

TsStatus rly_lower_gather(RlyLower *l)
{
    TsTensor *x = rly_lower_input(l, 0), *indices = rly_lower_input(l, 1);
    int64_t axis = 0;
    if (!x || !indices)
        return l->err->status;
    TsStatus status = rly_attr_int(l->graph, l->node, "axis", 0, &axis, l->err);
    if (status != TS_OK)
        return status;
    int at = normalize_axis(axis, ts_tensor_ndim(x));
    int64_t n = ts_tensor_dim(x, at);
    /* Constant indices are checked here, so a bad one is named before anything runs. */
    const RlyConst *c = rly_input(l->node, 1)->constant;
    for (int64_t k = 0; c && k < c->num_elements; k++) {
        int64_t v = ts_dtype_eq(c->dtype, TS_INT64) ? ((const int64_t *)c->data)[k]
                                                    : ((const int32_t *)c->data)[k];
        if (v < -n || v >= n)
            return rly_lower_fail(l,
                                  "index %" PRId64 " (element %" PRId64 " of \"%s\") is out of "
                                  "range for extent %" PRId64,
                                  v, k, rly_input(l->node, 1)->name, n);
    }
    return rly_lower_output(l, 0, ts_op_gather(l->arena, x, indices, at));
}

TsStatus rly_lower_expand(RlyLower *l)
{
    TsTensor *x = rly_lower_input(l, 0);
    const RlyValue *out = rly_output(l->node, 0);
    if (!x)
        return l->err->status;
    return rly_lower_output(l, 0,
                            out ? ts_op_broadcast_to(l->arena, x, out->ndim, out->dims) : NULL);
}
