/* Lowering of Softmax (the 2-D coercion of opsets before 13, one axis since) and of
 * ReduceMean and ReduceSum (axes as an attribute or, from opsets 18 and 13, a constant
 * input; keepdims; noop_with_empty_axes). Part of node lowering (lower_node.c). */
#include <inttypes.h>

#include "relay_lite/lower_rules.h"

TsStatus rly_lower_softmax(RlyLower *l)
{
    TsTensor *x = rly_lower_input(l, 0);
    int64_t axis = 0;
    if (!x)
        return l->err->status;
    bool coerce = l->graph->opset < 13;
    TsStatus status = rly_attr_int(l->graph, l->node, "axis", coerce ? 1 : -1, &axis, l->err);
    if (status != TS_OK)
        return status;
    int rank = ts_tensor_ndim(x), at = (int)(axis < 0 ? axis + rank : axis);
    if (!coerce || at == rank - 1)
        return rly_lower_output(l, 0, ts_op_softmax(l->arena, x, at));
    /* Before opset 13: over the flattened dimensions axis.. of the input seen as 2-D. */
    TsTensor *flat = ts_op_flatten(l->arena, x, at);
    TsTensor *y = flat ? ts_op_softmax(l->arena, flat, 1) : NULL;
    return rly_lower_output(l, 0, rly_lower_reshape_to(l, y, 0));
}

TsStatus rly_lower_reduce(RlyLower *l, TsReduceKind kind, int input_form_since)
{
    TsTensor *x = rly_lower_input(l, 0);
    int64_t keepdims = 1, noop = 0, axes[TS_MAX_DIMS];
    int count = -1, at[TS_MAX_DIMS];
    if (!x)
        return l->err->status;
    bool input_form = l->graph->opset >= input_form_since;
    TsStatus status = rly_attr_int(l->graph, l->node, "keepdims", 1, &keepdims, l->err);
    if (status == TS_OK && input_form)
        status = rly_attr_int(l->graph, l->node, "noop_with_empty_axes", 0, &noop, l->err);
    if (status == TS_OK)
        status = input_form
                     ? rly_lower_const_ints(l, 1, "axes", axes, TS_MAX_DIMS, &count)
                     : rly_attr_ints(l->graph, l->node, "axes", TS_MAX_DIMS, axes, &count, l->err);
    if (status != TS_OK)
        return status;
    int rank = ts_tensor_ndim(x);
    if (count <= 0 && noop) { /* the input unchanged, as a stage of its own */
        int64_t dims[TS_MAX_DIMS];
        for (int d = 0; d < rank; d++)
            dims[d] = ts_tensor_dim(x, d);
        return rly_lower_output(l, 0, ts_op_reshape(l->arena, x, rank, dims));
    }
    if (count <= 0) { /* no axes: every one */
        count = rank;
        for (int d = 0; d < rank; d++)
            axes[d] = d;
    }
    for (int k = 0; k < count; k++)
        at[k] = (int)axes[k];
    return rly_lower_output(l, 0, ts_op_reduce(l->arena, x, kind, count, at, keepdims != 0));
}
