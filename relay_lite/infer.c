/* Shape and type inference over the graph: ts_graph_infer walks the nodes in topological
 * order and applies each operator's rule (infer_ops.c). It runs at import and again after
 * any pass: what waits for constant folding (a Reshape's target computed by Shape, Gather
 * and Concat) stays unknown (-1) and is filled by a later run once the pass has made the
 * constant. This file also holds the helpers the rules share: attribute readers that
 * check kinds, constant readers, axes and broadcasting. */
#include <inttypes.h>
#include <string.h>

#include "relay_lite/rly_internal.h"

/* Every known output extent in [0, TS_MAX_EXTENT] and at most RLY_MAX_ELEMENTS elements,
 * so that the rules' arithmetic on shapes never overflows. */
static TsStatus check_outputs(const TsGraph *graph, const RlyNode *node, TsError *err)
{
    for (int k = 0; k < node->num_outputs; k++) {
        const RlyValue *v = node->outputs[k];
        int64_t elements = 1;
        for (int d = 0; v && d < v->ndim; d++) {
            if (v->dims[d] > TS_MAX_EXTENT)
                return rly_node_fail(graph, node, err, TS_EINVAL,
                                     "output \"%s\" would have "
                                     "extent %" PRId64 " in dimension %d",
                                     v->name, v->dims[d], d);
            if (v->dims[d] >= 0 && elements >= 0 &&
                __builtin_mul_overflow(elements, v->dims[d], &elements))
                elements = RLY_MAX_ELEMENTS + 1;
            if (elements > RLY_MAX_ELEMENTS)
                return rly_node_fail(graph, node, err, TS_EINVAL,
                                     "output \"%s\" would have more "
                                     "than %" PRId64 " elements",
                                     v->name, (int64_t)RLY_MAX_ELEMENTS);
        }
    }
    return TS_OK;
}

TsStatus ts_graph_infer(TsGraph *graph, TsError *err)
{
    for (int k = 0; k < graph->num_nodes; k++) {
        TsStatus status = rly_infer_node(graph, graph->nodes[k], err);
        if (status == TS_OK)
            status = check_outputs(graph, graph->nodes[k], err);
        if (status != TS_OK)
            return status;
    }
    return TS_OK;
}

void rly_set_output(RlyNode *node, int k, TsDType dtype, int ndim, const int64_t *dims)
{
    RlyValue *value = rly_output(node, k);
    if (!value)
        return;
    value->has_dtype = true;
    value->dtype = dtype;
    value->ndim = ndim;
    for (int d = 0; d < TS_MAX_DIMS; d++)
        value->dims[d] = dims && d < ndim ? dims[d] : -1;
}

bool rly_const_ints(const RlyValue *value, int64_t *out, int max, int *count)
{
    const RlyConst *c = value ? value->constant : NULL;
    if (!c || c->ndim > 1 || c->num_elements > max)
        return false;
    if (!ts_dtype_eq(c->dtype, TS_INT64) && !ts_dtype_eq(c->dtype, TS_INT32))
        return false;
    for (int64_t k = 0; k < c->num_elements; k++)
        out[k] = ts_dtype_eq(c->dtype, TS_INT64) ? ((const int64_t *)c->data)[k]
                                                 : ((const int32_t *)c->data)[k];
    *count = (int)c->num_elements;
    return true;
}

bool rly_const_floats(const RlyValue *value, double *out, int max, int *count)
{
    const RlyConst *c = value ? value->constant : NULL;
    if (!c || c->ndim > 1 || c->num_elements > max)
        return false;
    if (!ts_dtype_eq(c->dtype, TS_FLOAT32) && !ts_dtype_eq(c->dtype, TS_FLOAT64))
        return false;
    for (int64_t k = 0; k < c->num_elements; k++)
        out[k] = ts_dtype_eq(c->dtype, TS_FLOAT32) ? ((const float *)c->data)[k]
                                                   : ((const double *)c->data)[k];
    *count = (int)c->num_elements;
    return true;
}

static TsStatus wrong_kind(const TsGraph *graph, const RlyNode *node, const RlyAttr *attr,
                           RlyAttrKind want, TsError *err)
{
    return rly_node_fail(graph, node, err, TS_EINVAL, "attribute %s is of type %s, expected %s",
                         attr->name, rly_attr_kind_name(attr->kind), rly_attr_kind_name(want));
}

TsStatus rly_attr_int(const TsGraph *graph, const RlyNode *node, const char *name, int64_t def,
                      int64_t *out, TsError *err)
{
    const RlyAttr *attr = rly_node_attr(node, name);
    *out = def;
    if (!attr)
        return TS_OK;
    if (attr->kind != RLY_ATTR_INT)
        return wrong_kind(graph, node, attr, RLY_ATTR_INT, err);
    *out = attr->i;
    return TS_OK;
}

TsStatus rly_attr_float(const TsGraph *graph, const RlyNode *node, const char *name, double def,
                        double *out, TsError *err)
{
    const RlyAttr *attr = rly_node_attr(node, name);
    *out = def;
    if (!attr)
        return TS_OK;
    if (attr->kind != RLY_ATTR_FLOAT)
        return wrong_kind(graph, node, attr, RLY_ATTR_FLOAT, err);
    *out = attr->f;
    return TS_OK;
}

TsStatus rly_attr_string(const TsGraph *graph, const RlyNode *node, const char *name,
                         const char *def, const char **out, TsError *err)
{
    const RlyAttr *attr = rly_node_attr(node, name);
    *out = def;
    if (!attr)
        return TS_OK;
    if (attr->kind != RLY_ATTR_STRING)
        return wrong_kind(graph, node, attr, RLY_ATTR_STRING, err);
    *out = attr->s;
    return TS_OK;
}

TsStatus rly_attr_ints(const TsGraph *graph, const RlyNode *node, const char *name, int max,
                       int64_t *out, int *count, TsError *err)
{
    const RlyAttr *attr = rly_node_attr(node, name);
    *count = -1;
    if (!attr)
        return TS_OK;
    if (attr->kind != RLY_ATTR_INTS)
        return wrong_kind(graph, node, attr, RLY_ATTR_INTS, err);
    if (attr->num_values > max)
        return rly_node_fail(graph, node, err, TS_EINVAL,
                             "attribute %s has %d values, more than "
                             "%d",
                             name, attr->num_values, max);
    memcpy(out, attr->ints, (size_t)attr->num_values * sizeof *out);
    *count = attr->num_values;
    return TS_OK;
}

TsStatus rly_axis(const TsGraph *graph, const RlyNode *node, int64_t axis, int rank,
                  const char *what, int *out, TsError *err)
{
    if (axis < -rank || axis >= rank)
        return rly_node_fail(graph, node, err, TS_EINVAL,
                             "%s %" PRId64 " is out of range for "
                             "rank %d",
                             what, axis, rank);
    *out = (int)(axis < 0 ? axis + rank : axis);
    return TS_OK;
}

TsStatus rly_broadcast(const TsGraph *graph, const RlyNode *node, int *ndim, int64_t *out,
                       const RlyValue *b, TsError *err)
{
    if (*ndim < 0 || b->ndim < 0) {
        *ndim = -1;
        return TS_OK;
    }
    int rank = *ndim > b->ndim ? *ndim : b->ndim;
    int64_t result[TS_MAX_DIMS];
    for (int d = 0; d < rank; d++) {
        int da = d - (rank - *ndim), db = d - (rank - b->ndim);
        int64_t x = da >= 0 ? out[da] : 1, y = db >= 0 ? b->dims[db] : 1;
        if (x == 1 || x == y)
            result[d] = y;
        else if (y == 1)
            result[d] = x;
        else if (x < 0 || y < 0)
            result[d] = x < 0 ? y : x; /* an unknown extent broadcast with a known one */
        else
            return rly_node_fail(graph, node, err, TS_EINVAL,
                                 "input \"%s\" cannot be broadcast: "
                                 "extent %" PRId64 " against %" PRId64 " (aligned dimension %d)",
                                 b->name, y, x, d);
    }
    *ndim = rank;
    memcpy(out, result, (size_t)rank * sizeof *out);
    return TS_OK;
}
