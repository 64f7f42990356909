/* Editing a graph for the passes (passes.h): counting a value's readers, replacing a
 * node or every read of a value, turning a node's output into a constant, removing nodes
 * and compacting the graph afterwards. Nodes are not changed once built: an edit clones
 * the node it touches, in the graph's arena. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relay_lite/passes/passes.h"

bool rly_is_graph_output(const TsGraph *graph, const RlyValue *value)
{
    for (int k = 0; k < graph->num_outputs; k++)
        if (graph->outputs[k] == value)
            return true;
    return false;
}

int rly_count_uses(const TsGraph *graph, const RlyValue *value)
{
    int uses = rly_is_graph_output(graph, value) ? 1 : 0;
    for (int k = 0; k < graph->num_nodes; k++) {
        const RlyNode *node = graph->nodes[k];
        for (int i = 0; node && i < node->num_inputs; i++)
            uses += node->inputs[i] == value;
    }
    return uses;
}

RlyNode *rly_node_clone(TsGraph *graph, const RlyNode *node)
{
    RlyNode *copy = ts_arena_alloc(graph->arena, sizeof *copy);
    RlyValue **inputs = ts_arena_alloc(graph->arena, (size_t)(node->num_inputs + 1) * sizeof *inputs);
    RlyValue **outputs =
        ts_arena_alloc(graph->arena, (size_t)(node->num_outputs + 1) * sizeof *outputs);
    if (!copy || !inputs || !outputs)
        return NULL;
    *copy = *node;
    if (node->num_inputs)
        memcpy(inputs, node->inputs, (size_t)node->num_inputs * sizeof *inputs);
    if (node->num_outputs)
        memcpy(outputs, node->outputs, (size_t)node->num_outputs * sizeof *outputs);
    copy->inputs = inputs;
    copy->outputs = outputs;
    return copy;
}

void rly_replace_node(TsGraph *graph, const RlyNode *node, RlyNode *replacement)
{
    for (int k = 0; k < graph->num_nodes; k++)
        if (graph->nodes[k] == node)
            graph->nodes[k] = replacement;
    for (int k = 0; k < replacement->num_outputs; k++) {
        RlyValue *out = replacement->outputs[k];
        if (out) {
            out->producer = replacement;
            out->producer_output = k;
        }
    }
}

TsStatus rly_replace_uses(TsGraph *graph, const RlyValue *from, RlyValue *to, TsError *err)
{
    for (int k = 0; k < graph->num_nodes; k++) {
        RlyNode *node = graph->nodes[k];
        bool reads = false;
        for (int i = 0; node && i < node->num_inputs; i++)
            reads |= node->inputs[i] == from;
        if (!reads)
            continue;
        RlyNode *copy = rly_node_clone(graph, node);
        if (!copy)
            return rly_node_fail(graph, node, err, TS_ENOMEM, "out of memory");
        for (int i = 0; i < copy->num_inputs; i++)
            if (copy->inputs[i] == from)
                copy->inputs[i] = to;
        rly_replace_node(graph, node, copy);
    }
    for (int k = 0; k < graph->num_outputs; k++)
        if (graph->outputs[k] == from)
            graph->outputs[k] = to;
    return TS_OK;
}

RlyConst *rly_const_new(TsGraph *graph, TsDType dtype, int ndim, const int64_t *dims)
{
    int64_t count = 1;
    for (int d = 0; d < ndim; d++) {
        if (dims[d] < 0 || __builtin_mul_overflow(count, dims[d], &count) ||
            count > RLY_MAX_ELEMENTS)
            return NULL;
    }
    RlyConst *c = ts_arena_alloc(graph->arena, sizeof *c);
    size_t bytes = (size_t)count * ts_dtype_bytes(dtype);
    void *data = ts_arena_alloc(graph->arena, bytes ? bytes : 1);
    if (!c || !data)
        return NULL;
    memset(data, 0, bytes ? bytes : 1);
    c->dtype = dtype;
    c->ndim = ndim;
    for (int d = 0; d < ndim; d++)
        c->shape[d] = dims[d];
    c->num_elements = count;
    c->data = data;
    return c;
}

TsStatus rly_value_make_constant(TsGraph *graph, RlyValue *value, const RlyConst *c, TsError *err)
{
    RlyValue **inits = ts_arena_alloc(graph->arena,
                                      (size_t)(graph->num_initializers + 1) * sizeof *inits);
    if (!inits)
        return ts_fail(err, TS_ENOMEM, "%s: out of memory making \"%s\" a constant", graph->source,
                       value->name);
    if (graph->num_initializers)
        memcpy(inits, graph->initializers, (size_t)graph->num_initializers * sizeof *inits);
    inits[graph->num_initializers++] = value;
    graph->initializers = inits;
    value->kind = RLY_VALUE_INITIALIZER;
    value->producer = NULL;
    value->producer_output = 0;
    value->constant = c;
    value->has_dtype = true;
    value->dtype = c->dtype;
    value->ndim = c->ndim;
    for (int d = 0; d < TS_MAX_DIMS; d++)
        value->dims[d] = d < c->ndim ? c->shape[d] : -1;
    return TS_OK;
}

static bool name_taken(const TsGraph *graph, const char *name)
{
    for (int k = 0; k < graph->num_values; k++)
        if (strcmp(graph->values[k]->name, name) == 0)
            return true;
    for (int k = 0; k < graph->num_initializers; k++)
        if (strcmp(graph->initializers[k]->name, name) == 0)
            return true;
    return false;
}

RlyValue *rly_const_value(TsGraph *graph, const char *name, const RlyConst *c, TsError *err)
{
    char unique[TS_GRAPH_NAME_MAX + 32];
    snprintf(unique, sizeof unique, "%s", name);
    for (int k = 1; name_taken(graph, unique); k++)
        snprintf(unique, sizeof unique, "%s_%d", name, k);
    RlyValue *value = ts_arena_alloc(graph->arena, sizeof *value);
    char *copy = ts_arena_strdup(graph->arena, unique);
    if (!value || !copy) {
        ts_fail(err, TS_ENOMEM, "%s: out of memory for constant \"%s\"", graph->source, name);
        return NULL;
    }
    memset(value, 0, sizeof *value);
    value->name = copy;
    return rly_value_make_constant(graph, value, c, err) == TS_OK ? value : NULL;
}

void rly_remove_node_at(TsGraph *graph, int k)
{
    graph->nodes[k] = NULL;
}

/* The initializers some node or graph output reads, in their order. */
static void drop_unused_initializers(TsGraph *graph)
{
    int kept = 0;
    for (int k = 0; k < graph->num_initializers; k++) {
        RlyValue *init = graph->initializers[k];
        if (rly_count_uses(graph, init) > 0)
            graph->initializers[kept++] = init;
    }
    graph->num_initializers = kept;
}

static TsStatus rebuild_values(TsGraph *graph, TsError *err)
{
    int count = graph->num_inputs + graph->num_initializers;
    for (int k = 0; k < graph->num_nodes; k++)
        count += graph->nodes[k]->num_outputs;
    RlyValue **values = ts_arena_alloc(graph->arena, (size_t)(count + 1) * sizeof *values);
    if (!values)
        return ts_fail(err, TS_ENOMEM, "%s: out of memory", graph->source);
    int n = 0;
    for (int k = 0; k < graph->num_inputs; k++)
        values[n++] = graph->inputs[k];
    for (int k = 0; k < graph->num_initializers; k++)
        values[n++] = graph->initializers[k];
    for (int k = 0; k < graph->num_nodes; k++)
        for (int i = 0; i < graph->nodes[k]->num_outputs; i++)
            if (graph->nodes[k]->outputs[i])
                values[n++] = graph->nodes[k]->outputs[i];
    graph->values = values;
    graph->num_values = n;
    return TS_OK;
}

TsStatus rly_graph_compact(TsGraph *graph, TsError *err)
{
    int kept = 0;
    for (int k = 0; k < graph->num_nodes; k++)
        if (graph->nodes[k])
            graph->nodes[kept++] = graph->nodes[k];
    graph->num_nodes = kept;
    drop_unused_initializers(graph);
    TsStatus status = rebuild_values(graph, err);
    return status == TS_OK ? rly_verify_structure(graph, err) : status;
}
