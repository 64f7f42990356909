/* Whole graphs lowered node by node for the node-lowering tests (lower_testing.h). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "lower_testing.h"

/* The tensor standing for value: found in the map, or a new placeholder (bound to the
 * value's data when it is a constant). */
typedef struct ValueMap {
    int count;
    const RlyValue *values[4096];
    TsTensor *tensors[4096];
} ValueMap;

static TsTensor *lookup(const ValueMap *map, const RlyValue *v)
{
    for (int k = 0; k < map->count; k++)
        if (map->values[k] == v)
            return map->tensors[k];
    return NULL;
}

static bool remember(ValueMap *map, const RlyValue *v, TsTensor *t)
{
    if (map->count >= 4096)
        return false;
    map->values[map->count] = v;
    map->tensors[map->count++] = t;
    return true;
}

static TsStatus bind(LoweredGraph *out, TsTensor *t, const void *data, TsError *err)
{
    if (out->num_bindings >= LT_MAX_BINDINGS)
        return ts_fail(err, TS_EINVAL, "more than %d constants", LT_MAX_BINDINGS);
    out->bindings[out->num_bindings++] = (TsBinding){ t, (void *)data };
    return TS_OK;
}

static TsStatus placeholder(TsArena *arena, ValueMap *map, LoweredGraph *out, const RlyValue *v,
                            TsTensor **t, TsError *err)
{
    if (!rly_value_known(v) || !v->has_dtype)
        return ts_fail(err, TS_EINVAL, "value \"%s\" has no known type and shape", v->name);
    *t = ts_placeholder(arena, v->name[0] ? v->name : "value", v->ndim, v->dims, v->dtype);
    if (!*t)
        return ts_arena_check(arena, err);
    if (!remember(map, v, *t))
        return ts_fail(err, TS_EINVAL, "too many values");
    if (v->constant && v->kind != RLY_VALUE_NODE)
        return bind(out, *t, v->constant->data, err);
    return TS_OK;
}

static TsStatus lower_node(TsArena *arena, const TsGraph *graph, const RlyNode *node, ValueMap *map,
                           LoweredGraph *out, TsError *err)
{
    TsTensor *inputs[256] = { NULL }, *outputs[64] = { NULL };
    if (node->num_inputs > 256 || node->num_outputs > 64)
        return ts_fail(err, TS_EINVAL, "node \"%s\" has too many inputs or outputs", node->label);
    for (int k = 0; k < node->num_inputs; k++) {
        const RlyValue *v = node->inputs[k];
        TsStatus status = TS_OK;
        if (v && !(inputs[k] = lookup(map, v)))
            status = placeholder(arena, map, out, v, &inputs[k], err);
        if (status != TS_OK)
            return status;
    }
    TsStatus status = rly_lower_node(arena, graph, node, inputs, outputs, err);
    for (int k = 0; status == TS_OK && k < node->num_outputs; k++) {
        const RlyValue *v = node->outputs[k];
        if (!v)
            continue;
        if (!outputs[k])
            return ts_fail(err, TS_EINVAL, "node \"%s\": output %d was not lowered", node->label,
                           k);
        if (!remember(map, v, outputs[k]))
            return ts_fail(err, TS_EINVAL, "too many values");
        if (node->op == RLY_OP_CONSTANT)
            status = bind(out, outputs[k], v->constant->data, err);
    }
    return status;
}

TsStatus lt_lower_graph(TsArena *arena, const TsGraph *graph, LoweredGraph *out, TsError *err)
{
    static ValueMap map;
    map.count = 0;
    memset(out, 0, sizeof *out);
    if (graph->num_inputs > LT_MAX_IO || graph->num_outputs > LT_MAX_IO)
        return ts_fail(err, TS_EINVAL, "too many graph inputs or outputs");
    for (int k = 0; k < graph->num_inputs; k++) {
        TsStatus status = placeholder(arena, &map, out, graph->inputs[k], &out->inputs[k], err);
        if (status != TS_OK)
            return status;
    }
    for (int k = 0; k < graph->num_nodes; k++) {
        TsStatus status = lower_node(arena, graph, graph->nodes[k], &map, out, err);
        if (status != TS_OK)
            return status;
    }
    out->num_outputs = graph->num_outputs;
    for (int k = 0; k < graph->num_outputs; k++) {
        out->outputs[k] = lookup(&map, graph->outputs[k]);
        if (!out->outputs[k])
            return ts_fail(err, TS_EINVAL, "graph output \"%s\" is not computed by a node",
                           graph->outputs[k]->name);
    }
    return TS_OK;
}

static double element(TsDType t, const void *p, int64_t k)
{
    if (t.bits == 32)
        return ((const float *)p)[k];
    return ((const double *)p)[k];
}

bool lt_compare(TsDType dtype, int64_t count, const void *got, const void *want, char *message,
                size_t size)
{
    size_t bytes = ts_dtype_bytes(dtype);
    for (int64_t k = 0; k < count; k++) {
        if (ts_dtype_is_float(dtype) && dtype.bits >= 32) {
            double g = element(dtype, got, k), w = element(dtype, want, k);
            if (isnan(g) && isnan(w))
                continue;
            if (isinf(w) && g == w)
                continue;
            if (fabs(g - w) <= 1e-4 + 1e-3 * fabs(w))
                continue;
            snprintf(message, size, "element %" PRId64 ": got %.9g, expected %.9g", k, g, w);
            return false;
        }
        if (memcmp((const char *)got + k * bytes, (const char *)want + k * bytes, bytes) != 0) {
            snprintf(message, size, "element %" PRId64 " differs", k);
            return false;
        }
    }
    return true;
}
