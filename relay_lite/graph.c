/* The graph IR's plumbing: the operator table (op_kinds.def), creating and freeing a
 * graph, notes, messages that name a node, attribute and value lookups, the public
 * accessors of relay.h and the parser of `--input-shape NAME=1x3x224x224`. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relay_lite/rly_internal.h"

typedef struct OpInfo {
    const char *name;
    int since;
    int until;
} OpInfo;

static const OpInfo op_table[RLY_NUM_OPS] = {
#define X(kind, op_name, op_since, op_until) [RLY_OP_##kind] = { op_name, op_since, op_until },
#include "relay_lite/op_kinds.def"
#undef X
};

const char *rly_op_name(RlyOpKind op)
{
    return op_table[op].name;
}
int rly_op_since(RlyOpKind op)
{
    return op_table[op].since;
}
int rly_op_until(RlyOpKind op)
{
    return op_table[op].until;
}

bool rly_op_lookup(const char *op_type, RlyOpKind *out)
{
    for (int k = 0; k < RLY_NUM_OPS; k++) {
        if (strcmp(op_table[k].name, op_type) == 0) {
            *out = (RlyOpKind)k;
            return true;
        }
    }
    return false;
}

const char *rly_attr_kind_name(RlyAttrKind kind)
{
    switch (kind) {
    case RLY_ATTR_INT: return "int";
    case RLY_ATTR_FLOAT: return "float";
    case RLY_ATTR_STRING: return "string";
    case RLY_ATTR_INTS: return "ints";
    case RLY_ATTR_FLOATS: return "floats";
    case RLY_ATTR_TENSOR: return "tensor";
    }
    return "?";
}

TsGraph *rly_graph_create(void)
{
    TsArena *arena = ts_arena_create();
    if (!arena)
        return NULL;
    TsGraph *graph = ts_arena_alloc(arena, sizeof *graph);
    if (!graph) {
        ts_arena_destroy(arena);
        return NULL;
    }
    graph->arena = arena;
    graph->name = "";
    graph->source = "";
    return graph;
}

void ts_graph_free(TsGraph *graph)
{
    if (graph)
        ts_arena_destroy(graph->arena);
}

TsStatus rly_graph_note(TsGraph *graph, TsError *err, const char *fmt, ...)
{
    char text[TS_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    const char **notes =
        ts_arena_alloc(graph->arena, (size_t)(graph->num_notes + 1) * sizeof *notes);
    char *copy = ts_arena_strdup(graph->arena, text);
    if (!notes || !copy)
        return ts_fail(err, TS_ENOMEM, "%s: out of memory", graph->source);
    if (graph->num_notes)
        memcpy(notes, graph->notes, (size_t)graph->num_notes * sizeof *notes);
    notes[graph->num_notes++] = copy;
    graph->notes = notes;
    return TS_OK;
}

TsStatus rly_node_fail(const TsGraph *graph, const RlyNode *node, TsError *err, TsStatus status,
                       const char *fmt, ...)
{
    char text[TS_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    return ts_fail(err, status, "%s: node \"%s\" (%s, opset %" PRId64 "): %s", graph->source,
                   node->label, node->op_type, graph->opset, text);
}

const RlyAttr *rly_node_attr(const RlyNode *node, const char *name)
{
    for (int k = 0; k < node->num_attrs; k++)
        if (strcmp(node->attrs[k].name, name) == 0)
            return &node->attrs[k];
    return NULL;
}

RlyValue *rly_input(const RlyNode *node, int k)
{
    return k >= 0 && k < node->num_inputs ? node->inputs[k] : NULL;
}

RlyValue *rly_output(const RlyNode *node, int k)
{
    return k >= 0 && k < node->num_outputs ? node->outputs[k] : NULL;
}

bool rly_value_known(const RlyValue *value)
{
    if (!value || value->ndim < 0)
        return false;
    for (int d = 0; d < value->ndim; d++)
        if (value->dims[d] < 0)
            return false;
    return true;
}

int64_t rly_value_elements(const RlyValue *value)
{
    int64_t count = 1;
    for (int d = 0; d < value->ndim; d++)
        count *= value->dims[d];
    return count;
}

/* ---- public accessors ---- */

int ts_graph_num_notes(const TsGraph *graph)
{
    return graph->num_notes;
}

const char *ts_graph_note(const TsGraph *graph, int i)
{
    return i >= 0 && i < graph->num_notes ? graph->notes[i] : NULL;
}

int64_t ts_graph_opset(const TsGraph *graph)
{
    return graph->opset;
}
int ts_graph_num_nodes(const TsGraph *graph)
{
    return graph->num_nodes;
}

const char *ts_graph_node_op(const TsGraph *graph, int i)
{
    return i >= 0 && i < graph->num_nodes ? graph->nodes[i]->op_type : NULL;
}

int ts_graph_num_inputs(const TsGraph *graph)
{
    return graph->num_inputs;
}
int ts_graph_num_outputs(const TsGraph *graph)
{
    return graph->num_outputs;
}

static bool value_type(const RlyValue *value, const char **name, TsDType *dtype, int *ndim,
                       int64_t dims[TS_GRAPH_MAX_DIMS])
{
    *name = value->name;
    *dtype = value->dtype;
    *ndim = value->ndim;
    for (int d = 0; d < TS_GRAPH_MAX_DIMS; d++)
        dims[d] = d < value->ndim ? value->dims[d] : 0;
    return value->has_dtype && rly_value_known(value);
}

bool ts_graph_input_type(const TsGraph *graph, int i, const char **name, TsDType *dtype, int *ndim,
                         int64_t dims[TS_GRAPH_MAX_DIMS])
{
    if (i < 0 || i >= graph->num_inputs)
        return false;
    return value_type(graph->inputs[i], name, dtype, ndim, dims);
}

bool ts_graph_output_type(const TsGraph *graph, int i, const char **name, TsDType *dtype, int *ndim,
                          int64_t dims[TS_GRAPH_MAX_DIMS])
{
    if (i < 0 || i >= graph->num_outputs)
        return false;
    return value_type(graph->outputs[i], name, dtype, ndim, dims);
}

/* ---- --input-shape ---- */

TsStatus ts_input_shape_parse(const char *text, TsInputShape *out, TsError *err)
{
    memset(out, 0, sizeof *out);
    const char *eq = strrchr(text, '=');
    if (!eq || eq == text)
        return ts_fail(err, TS_EINVAL, "input shape \"%s\": expected NAME=D0xD1x... (1x3x224x224)",
                       text);
    size_t len = (size_t)(eq - text);
    if (len >= sizeof out->name)
        return ts_fail(err, TS_EINVAL, "input shape \"%s\": the name is longer than %d bytes", text,
                       TS_GRAPH_NAME_MAX - 1);
    memcpy(out->name, text, len);
    const char *p = eq + 1;
    while (*p) {
        if (out->ndim == TS_GRAPH_MAX_DIMS)
            return ts_fail(err, TS_EINVAL, "input shape \"%s\": more than %d dimensions", text,
                           TS_GRAPH_MAX_DIMS);
        char *end = NULL;
        errno = 0;
        long long extent = *p >= '0' && *p <= '9' ? strtoll(p, &end, 10) : -1;
        if (extent < 1 || errno || extent > INT32_MAX || (*end != 'x' && *end != '\0') ||
            (*end == 'x' && end[1] == '\0'))
            return ts_fail(err, TS_EINVAL,
                           "input shape \"%s\": dimension %d is not an integer in [1, %d]", text,
                           out->ndim, INT32_MAX);
        out->dims[out->ndim++] = extent;
        p = *end == 'x' ? end + 1 : end;
    }
    return TS_OK;
}
