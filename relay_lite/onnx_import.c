/* The ONNX importer: a serialized ModelProto into the graph IR, the first step of the
 * graph level (import -> verify -> infer -> graph passes).
 *
 * It reads opsets TS_ONNX_MIN_OPSET to TS_ONNX_MAX_OPSET of the default domain. Initializers
 * become constant values, also in IR-3 models that list them among the graph inputs as
 * well. Graph inputs get their declared types; a symbolic leading (batch) dimension is
 * fixed to 1 with a note unless an input shape is given, any other symbolic dimension
 * needs one. Everything it cannot run is refused by name, never approximated: an op type
 * outside op_kinds.def or outside its opsets, another domain, control flow (If, Loop,
 * Scan: graph attributes), external data, sparse tensors and attribute types the IR lacks.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relay_lite/onnx_proto.h"
#include "relay_lite/rly_internal.h"

/* What one import works with: the file, the options and a name table of the values. */
typedef struct Importer {
    TsGraph *graph;
    const char *path;
    const TsImportOptions *options;
    size_t table_size; /* a power of two, at least twice the number of values */
    RlyValue **table;
} Importer;

static TsStatus out_of_memory(const Importer *im, TsError *err)
{
    return ts_fail(err, TS_ENOMEM, "%s: out of memory", im->path);
}

/* ---- the name table (open addressing, FNV-1a) ---- */

static size_t hash_name(const char *name)
{
    uint64_t h = 1469598103934665603u;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 1099511628211u;
    return (size_t)h;
}

static RlyValue **table_slot(const Importer *im, const char *name)
{
    size_t mask = im->table_size - 1;
    for (size_t k = hash_name(name) & mask;; k = (k + 1) & mask)
        if (!im->table[k] || strcmp(im->table[k]->name, name) == 0)
            return &im->table[k];
}

static RlyValue *find_value(const Importer *im, const char *name)
{
    return *table_slot(im, name);
}

/* A new value called name; a name that is already defined is an error naming it and what
 * defined it first. */
static TsStatus add_value(Importer *im, const char *name, RlyValueKind kind, RlyValue **out,
                          TsError *err)
{
    TsGraph *graph = im->graph;
    RlyValue **slot = table_slot(im, name);
    if (*slot)
        return ts_fail(err, TS_EPROTO, "%s: tensor \"%s\" is defined twice", im->path, name);
    RlyValue *value = ts_arena_alloc(graph->arena, sizeof *value);
    if (!value || !(value->name = ts_arena_strdup(graph->arena, name)))
        return out_of_memory(im, err);
    value->kind = kind;
    value->ndim = -1;
    graph->values[graph->num_values++] = value;
    *slot = value;
    *out = value;
    return TS_OK;
}

/* ---- constants ---- */

/* An arena copy of a TensorProto; where names it in messages. */
static TsStatus import_tensor(Importer *im, const Onnx__TensorProto *tp, const char *where,
                              const RlyConst **out, TsError *err)
{
    OnnxTensor tensor;
    TsStatus status = rly_tensor_from_proto(tp, where, &tensor, err);
    if (status != TS_OK)
        return status;
    RlyConst *c = ts_arena_alloc(im->graph->arena, sizeof *c);
    size_t bytes = (size_t)tensor.num_elements * ts_dtype_bytes(tensor.dtype);
    void *data = ts_arena_alloc(im->graph->arena, bytes ? bytes : 1);
    if (!c || !data) {
        onnx_tensor_free(&tensor);
        return out_of_memory(im, err);
    }
    memcpy(data, tensor.data, bytes);
    c->dtype = tensor.dtype;
    c->ndim = tensor.ndim;
    memcpy(c->shape, tensor.shape, sizeof c->shape);
    c->num_elements = tensor.num_elements;
    c->data = data;
    onnx_tensor_free(&tensor);
    *out = c;
    return TS_OK;
}

static void set_type_from_const(RlyValue *value, const RlyConst *c)
{
    value->constant = c;
    value->has_dtype = true;
    value->dtype = c->dtype;
    value->ndim = c->ndim;
    memcpy(value->dims, c->shape, sizeof value->dims);
}

static TsStatus import_initializers(Importer *im, const Onnx__GraphProto *gp, TsError *err)
{
    TsGraph *graph = im->graph;
    graph->initializers =
        ts_arena_alloc(graph->arena, (gp->n_initializer + gp->n_input + 1) * sizeof(RlyValue *));
    if (!graph->initializers)
        return out_of_memory(im, err);
    if (gp->n_sparse_initializer)
        return ts_fail(err, TS_EINVAL, "%s: sparse initializer \"%s\" is not supported", im->path,
                       gp->sparse_initializer[0]->values ? gp->sparse_initializer[0]->values->name
                                                         : "");
    for (size_t k = 0; k < gp->n_initializer; k++) {
        const Onnx__TensorProto *tp = gp->initializer[k];
        char where[TS_ERROR_MESSAGE_MAX];
        snprintf(where, sizeof where, "%s: initializer \"%s\"", im->path, tp->name);
        const RlyConst *c = NULL;
        RlyValue *value = NULL;
        TsStatus status = import_tensor(im, tp, where, &c, err);
        if (status == TS_OK)
            status = add_value(im, tp->name, RLY_VALUE_INITIALIZER, &value, err);
        if (status != TS_OK)
            return status;
        set_type_from_const(value, c);
        graph->initializers[graph->num_initializers++] = value;
    }
    return TS_OK;
}

/* ---- graph inputs ---- */

static const TsInputShape *given_shape(const Importer *im, const char *name)
{
    if (!im->options)
        return NULL;
    for (int k = 0; k < im->options->num_input_shapes; k++)
        if (strcmp(im->options->input_shapes[k].name, name) == 0)
            return &im->options->input_shapes[k];
    return NULL;
}

/* The declared dtype of a graph input or output; only tensors are accepted. */
static TsStatus declared_dtype(const Importer *im, const Onnx__ValueInfoProto *vi, const char *what,
                               TsDType *dtype, TsError *err)
{
    const Onnx__TypeProto *type = vi->type;
    if (!type || type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !type->tensor_type)
        return ts_fail(err, TS_EINVAL,
                       "%s: %s \"%s\" is not a tensor (sequences, maps, optionals "
                       "and sparse tensors are not supported)",
                       im->path, what, vi->name);
    int32_t elem = type->tensor_type->elem_type;
    if (!rly_dtype_of_onnx(elem, dtype))
        return ts_fail(err, TS_EINVAL, "%s: %s \"%s\" has data type %s (%d), which Tessera lacks",
                       im->path, what, vi->name, onnx_type_name(elem), (int)elem);
    return TS_OK;
}

/* The shape the user gave for an input: its rank and fixed extents must agree with the
 * model's declaration. */
static TsStatus apply_given_shape(Importer *im, const Onnx__TensorShapeProto *shape,
                                  const TsInputShape *given, RlyValue *value, TsError *err)
{
    if (given->ndim < 0 || given->ndim > TS_MAX_DIMS)
        return ts_fail(err, TS_EINVAL, "%s: the input shape of \"%s\" has rank %d", im->path,
                       value->name, given->ndim);
    for (int d = 0; d < given->ndim; d++)
        if (given->dims[d] < 1 || given->dims[d] > TS_MAX_EXTENT)
            return ts_fail(err, TS_EINVAL,
                           "%s: the input shape of \"%s\" has extent %" PRId64 " in dimension %d",
                           im->path, value->name, given->dims[d], d);
    if (shape && (int)shape->n_dim != given->ndim)
        return ts_fail(err, TS_EINVAL,
                       "%s: input \"%s\" has rank %zu, but --input-shape gives %d "
                       "dimensions",
                       im->path, value->name, shape->n_dim, given->ndim);
    for (int d = 0; shape && d < given->ndim; d++) {
        const Onnx__TensorShapeProto__Dimension *dim = shape->dim[d];
        bool fixed = dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE &&
                     dim->dim_value > 0;
        if (fixed && dim->dim_value != given->dims[d])
            return ts_fail(err, TS_EINVAL,
                           "%s: input \"%s\" dimension %d is %" PRId64 " in the "
                           "model, but --input-shape gives %" PRId64,
                           im->path, value->name, d, dim->dim_value, given->dims[d]);
    }
    value->ndim = given->ndim;
    memcpy(value->dims, given->dims, sizeof value->dims);
    return TS_OK;
}

/* The model's declared shape, with a symbolic leading dimension fixed to 1. */
static TsStatus apply_declared_shape(Importer *im, const Onnx__TensorShapeProto *shape,
                                     RlyValue *value, TsError *err)
{
    if (!shape)
        return ts_fail(err, TS_EINVAL,
                       "%s: input \"%s\" has no shape (its rank is dynamic): give "
                       "it with --input-shape %s=D0xD1x...",
                       im->path, value->name, value->name);
    if (shape->n_dim > TS_MAX_DIMS)
        return ts_fail(err, TS_EINVAL, "%s: input \"%s\" has %zu dimensions, more than %d",
                       im->path, value->name, shape->n_dim, TS_MAX_DIMS);
    value->ndim = (int)shape->n_dim;
    for (int d = 0; d < value->ndim; d++) {
        const Onnx__TensorShapeProto__Dimension *dim = shape->dim[d];
        if (dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE &&
            dim->dim_value > 0) {
            if (dim->dim_value > TS_MAX_EXTENT)
                return ts_fail(err, TS_EINVAL,
                               "%s: input \"%s\" dimension %d is %" PRId64 ", more than %" PRId64,
                               im->path, value->name, d, dim->dim_value, (int64_t)TS_MAX_EXTENT);
            value->dims[d] = dim->dim_value;
            continue;
        }
        const char *symbol = dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM
                                 ? dim->dim_param
                                 : "?";
        if (d != 0)
            return ts_fail(err, TS_EINVAL,
                           "%s: input \"%s\" dimension %d (\"%s\") is dynamic and "
                           "cannot be fixed: give the shape with --input-shape %s=D0xD1x...",
                           im->path, value->name, d, symbol, value->name);
        value->dims[d] = 1;
        TsStatus status = rly_graph_note(im->graph, err,
                                         "input \"%s\": dimension 0 (\"%s\") fixed "
                                         "to 1 (set it with --input-shape %s=...)",
                                         value->name, symbol, value->name);
        if (status != TS_OK)
            return status;
    }
    return TS_OK;
}

static const TsInputValue *given_value(const Importer *im, const char *name)
{
    if (!im->options)
        return NULL;
    for (int k = 0; k < im->options->num_input_values; k++)
        if (strcmp(im->options->input_values[k].name, name) == 0)
            return &im->options->input_values[k];
    return NULL;
}

/* An input bound to the contents of a TensorProto file: it becomes a constant, whose dtype
 * and shape must be those the model declares. */
static TsStatus bind_input(Importer *im, const Onnx__ValueInfoProto *vi, const TsInputValue *given,
                           TsError *err)
{
    TsGraph *graph = im->graph;
    RlyValue *value = NULL;
    TsDType dtype;
    OnnxTensor tensor;
    TsStatus status = add_value(im, vi->name, RLY_VALUE_INITIALIZER, &value, err);
    if (status == TS_OK)
        status = declared_dtype(im, vi, "input", &dtype, err);
    if (status == TS_OK)
        status = onnx_load_tensor(given->path, &tensor, err);
    if (status != TS_OK)
        return status;
    RlyConst *c = ts_arena_alloc(graph->arena, sizeof *c);
    size_t bytes = (size_t)tensor.num_elements * ts_dtype_bytes(tensor.dtype);
    void *data = ts_arena_alloc(graph->arena, bytes ? bytes : 1);
    const Onnx__TensorShapeProto *shape = vi->type->tensor_type->shape;
    bool same = ts_dtype_eq(dtype, tensor.dtype) && (!shape || (int)shape->n_dim == tensor.ndim);
    for (int d = 0; same && shape && d < tensor.ndim; d++)
        same = shape->dim[d]->value_case != ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE ||
               shape->dim[d]->dim_value == tensor.shape[d];
    if (!c || !data)
        status = out_of_memory(im, err);
    else if (!same)
        status = ts_fail(err, TS_EINVAL,
                         "%s: the value of input \"%s\" in %s does not have the "
                         "input's declared type and shape",
                         im->path, vi->name, given->path);
    if (status == TS_OK) {
        memcpy(data, tensor.data, bytes);
        *c = (RlyConst){ .dtype = tensor.dtype,
                         .ndim = tensor.ndim,
                         .num_elements = tensor.num_elements,
                         .data = data };
        memcpy(c->shape, tensor.shape, sizeof c->shape);
        set_type_from_const(value, c);
        graph->initializers[graph->num_initializers++] = value;
        status = rly_graph_note(graph, err, "input \"%s\" bound to the constant in %s", vi->name,
                                given->path);
    }
    onnx_tensor_free(&tensor);
    return status;
}

static TsStatus check_options_name(const Importer *im, const char *name, const char *option,
                                   TsError *err)
{
    RlyValue *value = find_value(im, name);
    if (value && (value->kind == RLY_VALUE_INPUT ||
                  (value->kind == RLY_VALUE_INITIALIZER && given_value(im, name))))
        return TS_OK;
    return ts_fail(err, TS_EINVAL, "%s: %s names \"%s\", which is not an input of the graph",
                   im->path, option, name);
}

static TsStatus import_inputs(Importer *im, const Onnx__GraphProto *gp, TsError *err)
{
    TsGraph *graph = im->graph;
    graph->inputs = ts_arena_alloc(graph->arena, (gp->n_input + 1) * sizeof(RlyValue *));
    if (!graph->inputs)
        return out_of_memory(im, err);
    for (size_t k = 0; k < gp->n_input; k++) {
        const Onnx__ValueInfoProto *vi = gp->input[k];
        RlyValue *existing = find_value(im, vi->name);
        if (existing && existing->kind == RLY_VALUE_INITIALIZER)
            continue; /* an IR-3 model lists its initializers as inputs too */
        const TsInputValue *bound = given_value(im, vi->name);
        if (bound) {
            TsStatus status = bind_input(im, vi, bound, err);
            if (status != TS_OK)
                return status;
            continue;
        }
        RlyValue *value = NULL;
        TsStatus status = add_value(im, vi->name, RLY_VALUE_INPUT, &value, err);
        if (status == TS_OK)
            status = declared_dtype(im, vi, "input", &value->dtype, err);
        if (status != TS_OK)
            return status;
        value->has_dtype = true;
        const Onnx__TensorShapeProto *shape = vi->type->tensor_type->shape;
        const TsInputShape *given = given_shape(im, vi->name);
        status = given ? apply_given_shape(im, shape, given, value, err)
                       : apply_declared_shape(im, shape, value, err);
        if (status != TS_OK)
            return status;
        int64_t elements = 1;
        for (int d = 0; d < value->ndim && elements <= RLY_MAX_ELEMENTS; d++)
            if (__builtin_mul_overflow(elements, value->dims[d], &elements))
                elements = RLY_MAX_ELEMENTS + 1;
        if (elements > RLY_MAX_ELEMENTS)
            return ts_fail(err, TS_EINVAL, "%s: input \"%s\" has more than %" PRId64 " elements",
                           im->path, value->name, (int64_t)RLY_MAX_ELEMENTS);
        graph->inputs[graph->num_inputs++] = value;
    }
    TsStatus status = TS_OK;
    for (int k = 0; status == TS_OK && im->options && k < im->options->num_input_shapes; k++)
        status = check_options_name(im, im->options->input_shapes[k].name, "--input-shape", err);
    for (int k = 0; status == TS_OK && im->options && k < im->options->num_input_values; k++)
        status = check_options_name(im, im->options->input_values[k].name, "--input-value", err);
    return status;
}

/* ---- nodes ---- */

static TsStatus node_label(Importer *im, const Onnx__NodeProto *np, int index, RlyNode *node,
                           TsError *err)
{
    char label[TS_ERROR_MESSAGE_MAX / 2];
    if (np->name && np->name[0])
        snprintf(label, sizeof label, "%s", np->name);
    else if (np->n_output && np->output[0][0])
        snprintf(label, sizeof label, "#%d -> %s", index, np->output[0]);
    else
        snprintf(label, sizeof label, "#%d", index);
    node->name = ts_arena_strdup(im->graph->arena, np->name ? np->name : "");
    node->label = ts_arena_strdup(im->graph->arena, label);
    node->op_type = ts_arena_strdup(im->graph->arena, np->op_type);
    return node->name && node->label && node->op_type ? TS_OK : out_of_memory(im, err);
}

/* The op kind, checked against the domain and the opsets it is accepted in. */
static TsStatus node_op(Importer *im, const Onnx__NodeProto *np, RlyNode *node, TsError *err)
{
    TsGraph *graph = im->graph;
    bool contrib = np->domain && strcmp(np->domain, "com.microsoft") == 0;
    if (np->domain && np->domain[0] && strcmp(np->domain, "ai.onnx") != 0 && !contrib)
        return rly_node_fail(graph, node, err, TS_EINVAL,
                             "operator domain \"%s\" is not "
                             "supported (only the default ONNX domain is, and "
                             "com.microsoft for QLinearAdd)",
                             np->domain);
    if (strcmp(np->op_type, "If") == 0 || strcmp(np->op_type, "Loop") == 0 ||
        strcmp(np->op_type, "Scan") == 0)
        return rly_node_fail(graph, node, err, TS_EINVAL, "control flow (%s) is not supported",
                             np->op_type);
    if (!rly_op_lookup(np->op_type, &node->op))
        return rly_node_fail(graph, node, err, TS_EINVAL, "operator %s is not supported",
                             np->op_type);
    int since = rly_op_since(node->op), until = rly_op_until(node->op);
    if (since < 0 || contrib != (since == 0))
        return rly_node_fail(graph, node, err, TS_EINVAL,
                             "operator %s is not supported in domain \"%s\"", np->op_type,
                             np->domain && np->domain[0] ? np->domain : "ai.onnx");
    if (graph->opset < since)
        return rly_node_fail(graph, node, err, TS_EINVAL,
                             "operator %s does not exist in opset "
                             "%" PRId64 " (it appeared in opset %d)",
                             np->op_type, graph->opset, since);
    if (until && graph->opset > until)
        return rly_node_fail(graph, node, err, TS_EINVAL,
                             "operator %s is deprecated after opset "
                             "%d and not supported in opset %" PRId64,
                             np->op_type, until, graph->opset);
    return TS_OK;
}

static const char *proto_attr_type_name(int type)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
        &onnx__attribute_proto__attribute_type__descriptor, type);
    return v ? v->name : "UNKNOWN";
}

static TsStatus import_attr(Importer *im, const RlyNode *node, const Onnx__AttributeProto *ap,
                            RlyAttr *out, TsError *err)
{
    TsArena *arena = im->graph->arena;
    out->name = ts_arena_strdup(arena, ap->name);
    if (!out->name)
        return out_of_memory(im, err);
    if (ap->ref_attr_name && ap->ref_attr_name[0])
        return rly_node_fail(im->graph, node, err, TS_EINVAL,
                             "attribute %s refers to a function's "
                             "attribute, which is not supported",
                             ap->name);
    switch ((int)ap->type) {
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT:
        out->kind = RLY_ATTR_INT;
        out->i = ap->i;
        return TS_OK;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT:
        out->kind = RLY_ATTR_FLOAT;
        out->f = ap->f;
        return TS_OK;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING: {
        char *s = ts_arena_alloc(arena, ap->s.len + 1);
        if (!s)
            return out_of_memory(im, err);
        if (ap->s.len)
            memcpy(s, ap->s.data, ap->s.len);
        out->kind = RLY_ATTR_STRING;
        out->s = s;
        return TS_OK;
    }
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS: {
        int64_t *ints = ts_arena_alloc(arena, (ap->n_ints + 1) * sizeof *ints);
        if (!ints)
            return out_of_memory(im, err);
        if (ap->n_ints)
            memcpy(ints, ap->ints, ap->n_ints * sizeof *ints);
        out->kind = RLY_ATTR_INTS;
        out->num_values = (int)ap->n_ints;
        out->ints = ints;
        return TS_OK;
    }
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS: {
        double *floats = ts_arena_alloc(arena, (ap->n_floats + 1) * sizeof *floats);
        if (!floats)
            return out_of_memory(im, err);
        for (size_t k = 0; k < ap->n_floats; k++)
            floats[k] = ap->floats[k];
        out->kind = RLY_ATTR_FLOATS;
        out->num_values = (int)ap->n_floats;
        out->floats = floats;
        return TS_OK;
    }
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR: {
        char where[TS_ERROR_MESSAGE_MAX];
        snprintf(where, sizeof where, "%s: node \"%s\" (%s) attribute %s", im->path, node->label,
                 node->op_type, ap->name);
        if (!ap->t)
            return rly_node_fail(im->graph, node, err, TS_EPROTO, "attribute %s has no tensor",
                                 ap->name);
        out->kind = RLY_ATTR_TENSOR;
        return import_tensor(im, ap->t, where, &out->tensor, err);
    }
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH:
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPHS:
        return rly_node_fail(im->graph, node, err, TS_EINVAL,
                             "attribute %s holds a subgraph: "
                             "control flow is not supported",
                             ap->name);
    default:
        return rly_node_fail(im->graph, node, err, TS_EINVAL,
                             "attribute %s has type %s, which "
                             "is not supported",
                             ap->name, proto_attr_type_name(ap->type));
    }
}

/* Builds a node with its attributes and output values; inputs are resolved once every
 * node's outputs exist (resolve_inputs), so that the verifier can name a cycle. */
static TsStatus import_node(Importer *im, const Onnx__NodeProto *np, int index, TsError *err)
{
    TsGraph *graph = im->graph;
    RlyNode *node = ts_arena_alloc(graph->arena, sizeof *node);
    if (!node)
        return out_of_memory(im, err);
    node->id = index;
    TsStatus status = node_label(im, np, index, node, err);
    if (status == TS_OK)
        status = node_op(im, np, node, err);
    if (status != TS_OK)
        return status;
    RlyAttr *attrs = ts_arena_alloc(graph->arena, (np->n_attribute + 1) * sizeof *attrs);
    node->inputs = ts_arena_alloc(graph->arena, (np->n_input + 1) * sizeof(RlyValue *));
    node->outputs = ts_arena_alloc(graph->arena, (np->n_output + 1) * sizeof(RlyValue *));
    if (!attrs || !node->inputs || !node->outputs)
        return out_of_memory(im, err);
    for (size_t k = 0; k < np->n_attribute; k++) {
        status = import_attr(im, node, np->attribute[k], &attrs[k], err);
        if (status != TS_OK)
            return status;
    }
    node->attrs = attrs;
    node->num_attrs = (int)np->n_attribute;
    node->num_inputs = (int)np->n_input;
    node->num_outputs = (int)np->n_output;
    for (size_t k = 0; k < np->n_output; k++) {
        if (!np->output[k][0])
            continue; /* an omitted optional output */
        RlyValue *value = NULL;
        status = add_value(im, np->output[k], RLY_VALUE_NODE, &value, err);
        if (status != TS_OK)
            return status;
        value->producer = node;
        value->producer_output = (int)k;
        node->outputs[k] = value;
    }
    graph->nodes[graph->num_nodes++] = node;
    return TS_OK;
}

static TsStatus resolve_inputs(Importer *im, const Onnx__GraphProto *gp, TsError *err)
{
    for (size_t n = 0; n < gp->n_node; n++) {
        const Onnx__NodeProto *np = gp->node[n];
        RlyNode *node = im->graph->nodes[n];
        for (size_t k = 0; k < np->n_input; k++) {
            if (!np->input[k][0])
                continue; /* an omitted optional input */
            node->inputs[k] = find_value(im, np->input[k]);
            if (!node->inputs[k])
                return rly_node_fail(im->graph, node, err, TS_EINVAL,
                                     "input %zu \"%s\" is not "
                                     "defined (no graph input, initializer or node output has "
                                     "that name)",
                                     k, np->input[k]);
        }
    }
    return TS_OK;
}

static TsStatus import_outputs(Importer *im, const Onnx__GraphProto *gp, TsError *err)
{
    TsGraph *graph = im->graph;
    graph->outputs = ts_arena_alloc(graph->arena, (gp->n_output + 1) * sizeof(RlyValue *));
    if (!graph->outputs)
        return out_of_memory(im, err);
    for (size_t k = 0; k < gp->n_output; k++) {
        RlyValue *value = find_value(im, gp->output[k]->name);
        if (!value)
            return ts_fail(err, TS_EINVAL, "%s: graph output \"%s\" is not defined", im->path,
                           gp->output[k]->name);
        graph->outputs[graph->num_outputs++] = value;
    }
    if (graph->num_outputs == 0)
        return ts_fail(err, TS_EINVAL, "%s: the graph has no outputs", im->path);
    return TS_OK;
}

/* The types the model declares for its outputs must be those inference gives: a mismatch
 * is a malformed model or an inference bug, either of which must stop the import. Symbolic
 * and absent declarations say nothing. */
static TsStatus check_declared_output(const TsGraph *graph, const Onnx__ValueInfoProto *vi,
                                      const RlyValue *value, TsError *err)
{
    const Onnx__TypeProto *type = vi->type;
    if (!type || type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !type->tensor_type)
        return TS_OK;
    TsDType declared;
    char b0[TS_DTYPE_STR_MAX], b1[TS_DTYPE_STR_MAX];
    if (rly_dtype_of_onnx(type->tensor_type->elem_type, &declared) && value->has_dtype &&
        !ts_dtype_eq(declared, value->dtype))
        return ts_fail(err, TS_EINVAL,
                       "%s: graph output \"%s\" is declared %s, but inference "
                       "gives %s",
                       graph->source, value->name, ts_dtype_str(declared, b0),
                       ts_dtype_str(value->dtype, b1));
    const Onnx__TensorShapeProto *shape = type->tensor_type->shape;
    if (!shape || value->ndim < 0)
        return TS_OK;
    if ((int)shape->n_dim != value->ndim)
        return ts_fail(err, TS_EINVAL,
                       "%s: graph output \"%s\" is declared with rank %zu, but "
                       "inference gives rank %d",
                       graph->source, value->name, shape->n_dim, value->ndim);
    for (int d = 0; d < value->ndim; d++) {
        const Onnx__TensorShapeProto__Dimension *dim = shape->dim[d];
        if (dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE &&
            dim->dim_value > 0 && value->dims[d] >= 0 && dim->dim_value != value->dims[d])
            return ts_fail(err, TS_EINVAL,
                           "%s: graph output \"%s\" dimension %d is declared %" PRId64
                           ", but inference gives %" PRId64,
                           graph->source, value->name, d, dim->dim_value, value->dims[d]);
    }
    return TS_OK;
}

/* ---- the model ---- */

static TsStatus import_opset(Importer *im, const Onnx__ModelProto *mp, TsError *err)
{
    bool found = false;
    for (size_t k = 0; k < mp->n_opset_import; k++) {
        const Onnx__OperatorSetIdProto *op = mp->opset_import[k];
        if (!op->domain || !op->domain[0] || strcmp(op->domain, "ai.onnx") == 0) {
            im->graph->opset = op->version;
            found = true;
        }
    }
    if (!found)
        return ts_fail(err, TS_EPROTO, "%s: the model imports no opset of the default ONNX domain",
                       im->path);
    if (im->graph->opset < TS_ONNX_MIN_OPSET || im->graph->opset > TS_ONNX_MAX_OPSET)
        return ts_fail(err, TS_EINVAL,
                       "%s: opset %" PRId64 " is not supported (the importer reads "
                       "opsets %d to %d)",
                       im->path, im->graph->opset, TS_ONNX_MIN_OPSET, TS_ONNX_MAX_OPSET);
    return TS_OK;
}

static TsStatus import_graph(Importer *im, const Onnx__ModelProto *mp, TsError *err)
{
    TsGraph *graph = im->graph;
    const Onnx__GraphProto *gp = mp->graph;
    graph->ir_version = mp->ir_version;
    TsStatus status = import_opset(im, mp, err);
    if (status != TS_OK)
        return status;
    if (!gp)
        return ts_fail(err, TS_EPROTO, "%s: the model has no graph", im->path);
    graph->name = ts_arena_strdup(graph->arena, gp->name ? gp->name : "");
    size_t num_values = gp->n_initializer + gp->n_input;
    for (size_t n = 0; n < gp->n_node; n++)
        num_values += gp->node[n]->n_output;
    im->table_size = 16;
    while (im->table_size < 2 * num_values + 2)
        im->table_size *= 2;
    im->table = ts_arena_alloc(graph->arena, im->table_size * sizeof *im->table);
    graph->values = ts_arena_alloc(graph->arena, (num_values + 1) * sizeof(RlyValue *));
    graph->nodes = ts_arena_alloc(graph->arena, (gp->n_node + 1) * sizeof(RlyNode *));
    if (!graph->name || !im->table || !graph->values || !graph->nodes)
        return out_of_memory(im, err);
    /* Unsupported operators first: they say more than the data types they bring along. */
    for (size_t n = 0; status == TS_OK && n < gp->n_node; n++) {
        RlyNode probe = { .id = (int)n };
        status = node_label(im, gp->node[n], (int)n, &probe, err);
        if (status == TS_OK)
            status = node_op(im, gp->node[n], &probe, err);
    }
    if (status == TS_OK)
        status = import_initializers(im, gp, err);
    if (status == TS_OK)
        status = import_inputs(im, gp, err);
    for (size_t n = 0; status == TS_OK && n < gp->n_node; n++)
        status = import_node(im, gp->node[n], (int)n, err);
    if (status == TS_OK)
        status = resolve_inputs(im, gp, err);
    if (status == TS_OK)
        status = import_outputs(im, gp, err);
    return status;
}

TsStatus ts_graph_import_onnx_bytes(const void *bytes, size_t size, const char *name,
                                    const TsImportOptions *options, TsGraph **out, TsError *err)
{
    *out = NULL;
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, size, bytes);
    if (!mp)
        return ts_fail(err, TS_EPROTO,
                       "%s: not a valid ONNX model (protobuf-c cannot unpack its %zu bytes as an "
                       "onnx.ModelProto)",
                       name, size);
    TsStatus status = TS_OK;
    TsGraph *graph = rly_graph_create();
    if (!graph) {
        status = ts_fail(err, TS_ENOMEM, "%s: out of memory", name);
        goto out_free_proto;
    }
    Importer im = { .graph = graph, .path = name, .options = options };
    graph->source = ts_arena_strdup(graph->arena, name);
    status = graph->source ? import_graph(&im, mp, err) : out_of_memory(&im, err);
    if (status == TS_OK)
        status = rly_verify_structure(graph, err);
    if (status == TS_OK)
        status = ts_graph_infer(graph, err);
    if (status == TS_OK)
        status = ts_graph_verify(graph, err);
    for (size_t k = 0; status == TS_OK && k < mp->graph->n_output; k++)
        status = check_declared_output(graph, mp->graph->output[k], graph->outputs[k], err);
    if (status != TS_OK) {
        ts_graph_free(graph);
        goto out_free_proto;
    }
    *out = graph;
out_free_proto:
    onnx__model_proto__free_unpacked(mp, NULL);
    return status;
}

TsStatus ts_graph_import_onnx(const char *path, const TsImportOptions *options, TsGraph **out,
                              TsError *err)
{
    *out = NULL;
    uint8_t *bytes = NULL;
    size_t size = 0;
    TsStatus status = rly_read_file(path, "the model", &bytes, &size, err);
    if (status != TS_OK)
        return status;
    status = ts_graph_import_onnx_bytes(bytes, size, path, options, out, err);
    free(bytes);
    return status;
}
