/* Builds small ONNX models for the relay tests (model_builder.h). */
#include "model_builder.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_ALLOCS = 4096 };

struct ModelBuilder {
    Onnx__ModelProto model;
    Onnx__GraphProto graph;
    Onnx__OperatorSetIdProto opset;
    Onnx__OperatorSetIdProto *opsets[1];
    int num_allocs;
    void *allocs[MAX_ALLOCS];
};

static void *mb_alloc(ModelBuilder *mb, size_t size)
{
    assert(mb->num_allocs < MAX_ALLOCS);
    void *p = calloc(1, size ? size : 1);
    assert(p);
    mb->allocs[mb->num_allocs++] = p;
    return p;
}

static char *mb_strdup(ModelBuilder *mb, const char *text)
{
    char *copy = mb_alloc(mb, strlen(text) + 1);
    memcpy(copy, text, strlen(text) + 1);
    return copy;
}

/* Appends item to a protobuf-c repeated field (array pointer and count). */
static void append(ModelBuilder *mb, void ***array, size_t *count, void *item)
{
    void **bigger = mb_alloc(mb, (*count + 1) * sizeof *bigger);
    if (*count)
        memcpy(bigger, *array, *count * sizeof *bigger);
    bigger[(*count)++] = item;
    *array = bigger;
}

ModelBuilder *mb_new(int64_t opset)
{
    ModelBuilder *mb = calloc(1, sizeof *mb);
    assert(mb);
    onnx__model_proto__init(&mb->model);
    onnx__graph_proto__init(&mb->graph);
    onnx__operator_set_id_proto__init(&mb->opset);
    mb->opset.domain = "";
    mb->opset.version = opset;
    mb->opsets[0] = &mb->opset;
    mb->model.ir_version = 8;
    mb->model.n_opset_import = 1;
    mb->model.opset_import = mb->opsets;
    mb->graph.name = "g";
    mb->model.graph = &mb->graph;
    return mb;
}

void mb_free(ModelBuilder *mb)
{
    if (!mb)
        return;
    for (int k = 0; k < mb->num_allocs; k++)
        free(mb->allocs[k]);
    free(mb);
}

Onnx__ModelProto *mb_model(ModelBuilder *mb)
{
    return &mb->model;
}

static Onnx__ValueInfoProto *value_info(ModelBuilder *mb, const char *name, int32_t elem_type,
                                        int ndim, const int64_t *dims)
{
    Onnx__ValueInfoProto *vi = mb_alloc(mb, sizeof *vi);
    onnx__value_info_proto__init(vi);
    vi->name = mb_strdup(mb, name);
    Onnx__TypeProto *type = mb_alloc(mb, sizeof *type);
    onnx__type_proto__init(type);
    Onnx__TypeProto__Tensor *tensor = mb_alloc(mb, sizeof *tensor);
    onnx__type_proto__tensor__init(tensor);
    tensor->elem_type = elem_type;
    type->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    type->tensor_type = tensor;
    vi->type = type;
    if (ndim < 0)
        return vi;
    Onnx__TensorShapeProto *shape = mb_alloc(mb, sizeof *shape);
    onnx__tensor_shape_proto__init(shape);
    for (int d = 0; d < ndim; d++) {
        Onnx__TensorShapeProto__Dimension *dim = mb_alloc(mb, sizeof *dim);
        onnx__tensor_shape_proto__dimension__init(dim);
        if (dims[d] >= 0) {
            dim->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            dim->dim_value = dims[d];
        } else {
            dim->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            dim->dim_param = mb_strdup(mb, "N");
        }
        append(mb, (void ***)&shape->dim, &shape->n_dim, dim);
    }
    tensor->shape = shape;
    return vi;
}

void mb_input(ModelBuilder *mb, const char *name, int32_t elem_type, int ndim, const int64_t *dims)
{
    append(mb, (void ***)&mb->graph.input, &mb->graph.n_input,
           value_info(mb, name, elem_type, ndim, dims));
}

void mb_output_typed(ModelBuilder *mb, const char *name, int32_t elem_type, int ndim,
                     const int64_t *dims)
{
    append(mb, (void ***)&mb->graph.output, &mb->graph.n_output,
           value_info(mb, name, elem_type, ndim, dims));
}

void mb_output(ModelBuilder *mb, const char *name)
{
    append(mb, (void ***)&mb->graph.output, &mb->graph.n_output,
           value_info(mb, name, ONNX__TENSOR_PROTO__DATA_TYPE__UNDEFINED, -1, NULL));
}

static Onnx__TensorProto *tensor_i64(ModelBuilder *mb, const char *name, int n,
                                     const int64_t *values)
{
    Onnx__TensorProto *t = mb_alloc(mb, sizeof *t);
    onnx__tensor_proto__init(t);
    t->name = mb_strdup(mb, name);
    t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__INT64;
    t->n_dims = 1;
    t->dims = mb_alloc(mb, sizeof(int64_t));
    t->dims[0] = n;
    t->n_int64_data = (size_t)n;
    t->int64_data = mb_alloc(mb, (size_t)n * sizeof(int64_t));
    if (n)
        memcpy(t->int64_data, values, (size_t)n * sizeof(int64_t));
    return t;
}

void mb_init_i64(ModelBuilder *mb, const char *name, int n, const int64_t *values)
{
    append(mb, (void ***)&mb->graph.initializer, &mb->graph.n_initializer,
           tensor_i64(mb, name, n, values));
}

void mb_init_i64_scalar(ModelBuilder *mb, const char *name, int64_t value)
{
    Onnx__TensorProto *t = tensor_i64(mb, name, 1, &value);
    t->n_dims = 0;
    append(mb, (void ***)&mb->graph.initializer, &mb->graph.n_initializer, t);
}

static Onnx__TensorProto *tensor_f32(ModelBuilder *mb, const char *name, int ndim,
                                     const int64_t *dims)
{
    Onnx__TensorProto *t = mb_alloc(mb, sizeof *t);
    onnx__tensor_proto__init(t);
    t->name = mb_strdup(mb, name);
    t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    t->n_dims = (size_t)ndim;
    t->dims = mb_alloc(mb, (size_t)(ndim ? ndim : 1) * sizeof(int64_t));
    size_t n = 1;
    for (int d = 0; d < ndim; d++) {
        t->dims[d] = dims[d];
        n *= (size_t)dims[d];
    }
    t->n_float_data = n;
    t->float_data = mb_alloc(mb, n * sizeof(float));
    return t;
}

void mb_init_f32(ModelBuilder *mb, const char *name, int ndim, const int64_t *dims)
{
    append(mb, (void ***)&mb->graph.initializer, &mb->graph.n_initializer,
           tensor_f32(mb, name, ndim, dims));
}

void mb_init_f32_values(ModelBuilder *mb, const char *name, int n, const float *values)
{
    Onnx__TensorProto *t = tensor_f32(mb, name, 1, (const int64_t[]){ n });
    memcpy(t->float_data, values, (size_t)n * sizeof(float));
    append(mb, (void ***)&mb->graph.initializer, &mb->graph.n_initializer, t);
}

/* Splits "a,b,,c" into names ("" for an empty one). */
static void split_names(ModelBuilder *mb, const char *list, char ***out, size_t *count)
{
    *count = 0;
    *out = NULL;
    if (!list || !*list)
        return;
    const char *p = list;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char *name = mb_alloc(mb, len + 1);
        memcpy(name, p, len);
        append(mb, (void ***)out, count, name);
        if (!comma)
            break;
        p = comma + 1;
    }
}

Onnx__NodeProto *mb_node(ModelBuilder *mb, const char *op, const char *inputs, const char *outputs)
{
    Onnx__NodeProto *node = mb_alloc(mb, sizeof *node);
    onnx__node_proto__init(node);
    node->op_type = mb_strdup(mb, op);
    char name[64];
    snprintf(name, sizeof name, "%s_%zu", op, mb->graph.n_node);
    node->name = mb_strdup(mb, name);
    split_names(mb, inputs, &node->input, &node->n_input);
    split_names(mb, outputs, &node->output, &node->n_output);
    append(mb, (void ***)&mb->graph.node, &mb->graph.n_node, node);
    return node;
}

static Onnx__AttributeProto *attr(ModelBuilder *mb, Onnx__NodeProto *node, const char *name,
                                  Onnx__AttributeProto__AttributeType type)
{
    Onnx__AttributeProto *a = mb_alloc(mb, sizeof *a);
    onnx__attribute_proto__init(a);
    a->name = mb_strdup(mb, name);
    a->type = type;
    append(mb, (void ***)&node->attribute, &node->n_attribute, a);
    return a;
}

void mb_attr_int(ModelBuilder *mb, Onnx__NodeProto *node, const char *name, int64_t value)
{
    attr(mb, node, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT)->i = value;
}

void mb_attr_float(ModelBuilder *mb, Onnx__NodeProto *node, const char *name, float value)
{
    attr(mb, node, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT)->f = value;
}

void mb_attr_string(ModelBuilder *mb, Onnx__NodeProto *node, const char *name, const char *value)
{
    Onnx__AttributeProto *a = attr(mb, node, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
    a->s.data = (uint8_t *)mb_strdup(mb, value);
    a->s.len = strlen(value);
}

void mb_attr_ints(ModelBuilder *mb, Onnx__NodeProto *node, const char *name, int n,
                  const int64_t *values)
{
    Onnx__AttributeProto *a = attr(mb, node, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    a->n_ints = (size_t)n;
    a->ints = mb_alloc(mb, (size_t)n * sizeof(int64_t));
    memcpy(a->ints, values, (size_t)n * sizeof(int64_t));
}

void mb_attr_floats(ModelBuilder *mb, Onnx__NodeProto *node, const char *name, int n,
                    const float *values)
{
    Onnx__AttributeProto *a = attr(mb, node, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS);
    a->n_floats = (size_t)n;
    a->floats = mb_alloc(mb, (size_t)n * sizeof(float));
    memcpy(a->floats, values, (size_t)n * sizeof(float));
}

void mb_attr_tensor_i64(ModelBuilder *mb, Onnx__NodeProto *node, const char *name, int n,
                        const int64_t *values)
{
    attr(mb, node, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR)->t =
        tensor_i64(mb, "", n, values);
}

void mb_attr_graph(ModelBuilder *mb, Onnx__NodeProto *node, const char *name)
{
    Onnx__GraphProto *body = mb_alloc(mb, sizeof *body);
    onnx__graph_proto__init(body);
    body->name = mb_strdup(mb, "body");
    attr(mb, node, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH)->g = body;
}

void mb_save(ModelBuilder *mb, const char *path)
{
    size_t size = onnx__model_proto__get_packed_size(&mb->model);
    uint8_t *bytes = malloc(size ? size : 1);
    assert(bytes);
    onnx__model_proto__pack(&mb->model, bytes);
    FILE *file = fopen(path, "wb");
    assert(file);
    size_t written = fwrite(bytes, 1, size, file);
    assert(written == size);
    (void)written;
    fclose(file);
    free(bytes);
}
