/* Reads the ONNX backend node tests' files (see onnx_loader.h) with the protobuf-c parser
 * that the build generates from the vendored onnx.proto3.
 *
 * A TensorProto carries its elements either as raw_data (fixed-width little-endian, in
 * row-major order) or in the one typed repeated field the ONNX spec assigns to its data
 * type: float_data for FLOAT; int32_data for INT32, INT16, INT8, UINT16, UINT8, BOOL and
 * FLOAT16 (the half's bits); int64_data for INT64; double_data for DOUBLE; uint64_data
 * for UINT32 and UINT64. Both become one dense host-order buffer. Anything else (the
 * wrong field, a count that does not match the shape, a value out of its type's range,
 * external or segmented data) is an error naming the file, never a guess.
 */
#include "relay_lite/onnx_proto.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *onnx_type_name(int32_t onnx_type)
{
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&onnx__tensor_proto__data_type__descriptor, onnx_type);
    return v ? v->name : "UNKNOWN";
}

static const char *attr_type_name(int type)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
        &onnx__attribute_proto__attribute_type__descriptor, type);
    return v ? v->name : "UNKNOWN";
}

/* Tessera's dtype for an ONNX data type; false for the types Tessera lacks. */
bool rly_dtype_of_onnx(int32_t onnx_type, TsDType *out)
{
    switch (onnx_type) {
    case ONNX_FLOAT: *out = TS_FLOAT32; return true;
    case ONNX_UINT8: *out = TS_UINT8; return true;
    case ONNX_INT8: *out = TS_INT8; return true;
    case ONNX_UINT16: *out = TS_UINT16; return true;
    case ONNX_INT16: *out = TS_INT16; return true;
    case ONNX_INT32: *out = TS_INT32; return true;
    case ONNX_INT64: *out = TS_INT64; return true;
    case ONNX_BOOL: *out = TS_BOOL; return true;
    case ONNX_FLOAT16: *out = TS_FLOAT16; return true;
    case ONNX_BFLOAT16: *out = TS_BFLOAT16; return true;
    case ONNX_DOUBLE: *out = TS_FLOAT64; return true;
    case ONNX_UINT32: *out = TS_UINT32; return true;
    case ONNX_UINT64: *out = TS_UINT64; return true;
    default: return false;
    }
}

static char *copy_string(const char *text)
{
    const char *src = text ? text : "";
    size_t len = strlen(src);
    char *copy = malloc(len + 1);
    if (copy)
        memcpy(copy, src, len + 1);
    return copy;
}

TsStatus rly_read_file(const char *path, const char *what, uint8_t **bytes, size_t *size,
                       TsError *err)
{
    FILE *file = fopen(path, "rb");
    if (!file)
        return ts_fail(err, TS_EIO, "%s: cannot open %s: %s", path, what, strerror(errno));
    size_t cap = 4096, len = 0;
    uint8_t *buf = malloc(cap);
    TsStatus status = TS_OK;
    if (!buf) {
        status = ts_fail(err, TS_ENOMEM, "%s: out of memory reading the file", path);
        goto out_close;
    }
    for (;;) {
        if (len == cap) {
            uint8_t *bigger = realloc(buf, cap * 2);
            if (!bigger) {
                status = ts_fail(err, TS_ENOMEM, "%s: out of memory reading the file", path);
                goto out_free_buf;
            }
            buf = bigger;
            cap *= 2;
        }
        size_t got = fread(buf + len, 1, cap - len, file);
        len += got;
        if (got == 0)
            break;
    }
    if (ferror(file)) {
        status = ts_fail(err, TS_EIO, "%s: read error: %s", path, strerror(errno));
        goto out_free_buf;
    }
    fclose(file);
    *bytes = buf;
    *size = len;
    return TS_OK;

out_free_buf:
    free(buf);
out_close:
    fclose(file);
    return status;
}

/* ---- tensor data ---- */

/* The typed repeated fields of a TensorProto, in one table so that the checks below can
 * name the field at fault. */
enum { F_FLOAT, F_INT32, F_INT64, F_DOUBLE, F_UINT64, F_STRING, NUM_FIELDS };
static const char *const field_names[NUM_FIELDS] = {
    "float_data", "int32_data", "int64_data", "double_data", "uint64_data", "string_data",
};

/* The field the ONNX spec stores a (supported) data type in. */
static int typed_field_of(int32_t onnx_type)
{
    switch (onnx_type) {
    case ONNX_FLOAT: return F_FLOAT;
    case ONNX_INT64: return F_INT64;
    case ONNX_DOUBLE: return F_DOUBLE;
    case ONNX_UINT32:
    case ONNX_UINT64: return F_UINT64;
    default: return F_INT32; /* INT32, INT16, INT8, UINT16, UINT8, BOOL, FLOAT16, BFLOAT16 */
    }
}

static void store_bits(void *data, int64_t index, size_t width, uint64_t bits)
{
    uint8_t *dst = (uint8_t *)data + (size_t)index * width;
    switch (width) {
    case 1: {
        uint8_t v = (uint8_t)bits;
        memcpy(dst, &v, 1);
        break;
    }
    case 2: {
        uint16_t v = (uint16_t)bits;
        memcpy(dst, &v, 2);
        break;
    }
    case 4: {
        uint32_t v = (uint32_t)bits;
        memcpy(dst, &v, 4);
        break;
    }
    default: memcpy(dst, &bits, 8); break;
    }
}

/* raw_data: width-byte little-endian elements, whatever the host's byte order. */
static TsStatus decode_raw(const ProtobufCBinaryData *raw, OnnxTensor *t, const char *where,
                           TsError *err)
{
    size_t width = ts_dtype_bytes(t->dtype);
    size_t need = (size_t)t->num_elements * width;
    if (raw->len != need)
        return ts_fail(err, TS_EPROTO,
                       "%s: raw_data has %zu bytes, but %" PRId64 " %s elements need %zu", where,
                       raw->len, t->num_elements, onnx_type_name(t->onnx_type), need);
    for (int64_t i = 0; i < t->num_elements; i++) {
        const uint8_t *src = raw->data + (size_t)i * width;
        uint64_t bits = 0;
        for (size_t b = width; b-- > 0;)
            bits = bits << 8 | src[b];
        if (t->onnx_type == ONNX_BOOL)
            bits = bits != 0;
        store_bits(t->data, i, width, bits);
    }
    return TS_OK;
}

/* Stores element i of an integer-coded type (everything in int32_data, int64_data and
 * uint64_data) after checking that the value fits. */
static TsStatus store_integer(OnnxTensor *t, int64_t i, int64_t value, uint64_t uvalue,
                              bool is_unsigned, const char *where, TsError *err)
{
    int64_t lo = 0, hi = 0;
    switch (t->onnx_type) {
    case ONNX_INT8:
        lo = INT8_MIN;
        hi = INT8_MAX;
        break;
    case ONNX_INT16:
        lo = INT16_MIN;
        hi = INT16_MAX;
        break;
    case ONNX_INT32:
        lo = INT32_MIN;
        hi = INT32_MAX;
        break;
    case ONNX_UINT8: hi = UINT8_MAX; break;
    case ONNX_UINT16:
    case ONNX_FLOAT16:
    case ONNX_BFLOAT16: hi = UINT16_MAX; break; /* stored as its 16 bits */
    case ONNX_UINT32: hi = UINT32_MAX; break;
    case ONNX_BOOL: /* any non-zero value is true */
        store_bits(t->data, i, 1, is_unsigned ? uvalue != 0 : value != 0);
        return TS_OK;
    default: /* INT64 and UINT64 take every value of their field */
        store_bits(t->data, i, 8, is_unsigned ? uvalue : (uint64_t)value);
        return TS_OK;
    }
    bool fits = is_unsigned ? uvalue <= (uint64_t)hi : value >= lo && value <= hi;
    if (!fits) {
        if (is_unsigned)
            return ts_fail(err, TS_EPROTO,
                           "%s: element %" PRId64 " = %" PRIu64 " is out of range for %s", where, i,
                           uvalue, onnx_type_name(t->onnx_type));
        return ts_fail(err, TS_EPROTO,
                       "%s: element %" PRId64 " = %" PRId64 " is out of range for %s", where, i,
                       value, onnx_type_name(t->onnx_type));
    }
    store_bits(t->data, i, ts_dtype_bytes(t->dtype), is_unsigned ? uvalue : (uint64_t)value);
    return TS_OK;
}

/* The typed field that the data type calls for, element by element. */
static TsStatus decode_typed(const Onnx__TensorProto *tp, int field, OnnxTensor *t,
                             const char *where, TsError *err)
{
    for (int64_t i = 0; i < t->num_elements; i++) {
        TsStatus status = TS_OK;
        switch (field) {
        case F_FLOAT: ((float *)t->data)[i] = tp->float_data[i]; break;
        case F_DOUBLE: ((double *)t->data)[i] = tp->double_data[i]; break;
        case F_INT32: status = store_integer(t, i, tp->int32_data[i], 0, false, where, err); break;
        case F_INT64: status = store_integer(t, i, tp->int64_data[i], 0, false, where, err); break;
        default: status = store_integer(t, i, 0, tp->uint64_data[i], true, where, err); break;
        }
        if (status != TS_OK)
            return status;
    }
    return TS_OK;
}

/* Shape, element count and dtype of a TensorProto, before any data is read. */
static TsStatus read_header(const Onnx__TensorProto *tp, OnnxTensor *t, const char *where,
                            TsError *err)
{
    if (tp->segment)
        return ts_fail(err, TS_EINVAL, "%s: segmented tensors are not supported", where);
    if (tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL || tp->n_external_data)
        return ts_fail(err, TS_EINVAL, "%s: data stored in an external file are not supported",
                       where);
    t->onnx_type = tp->data_type;
    if (!rly_dtype_of_onnx(tp->data_type, &t->dtype))
        return ts_fail(err, TS_EINVAL, "%s: data type %s (%d) is not supported", where,
                       onnx_type_name(tp->data_type), (int)tp->data_type);
    if (tp->n_dims > TS_MAX_DIMS)
        return ts_fail(err, TS_EINVAL, "%s: %zu dimensions, more than the %d Tessera allows", where,
                       tp->n_dims, TS_MAX_DIMS);
    /* The byte count must fit both int64_t and size_t. */
    uint64_t max_bytes = SIZE_MAX < (uint64_t)INT64_MAX ? SIZE_MAX : (uint64_t)INT64_MAX;
    int64_t max_elements = (int64_t)(max_bytes / ts_dtype_bytes(t->dtype));
    t->ndim = (int)tp->n_dims;
    t->num_elements = 1;
    for (int d = 0; d < t->ndim; d++) {
        int64_t extent = tp->dims[d];
        if (extent < 0)
            return ts_fail(err, TS_EPROTO, "%s: dimension %d is %" PRId64, where, d, extent);
        if (extent > 0 && t->num_elements > max_elements / extent)
            return ts_fail(err, TS_EPROTO, "%s: the shape has too many elements", where);
        t->shape[d] = extent;
        t->num_elements *= extent;
    }
    return TS_OK;
}

/* Whether the proto's data fields agree with its type and shape: at most one of raw_data
 * and the type's typed field, holding exactly the shape's element count. Sets *typed
 * when the typed field holds the data. */
static TsStatus check_data_fields(const Onnx__TensorProto *tp, const OnnxTensor *t,
                                  const char *where, bool *typed, TsError *err)
{
    size_t counts[NUM_FIELDS] = { tp->n_float_data,  tp->n_int32_data,  tp->n_int64_data,
                                  tp->n_double_data, tp->n_uint64_data, tp->n_string_data };
    int field = typed_field_of(t->onnx_type);
    *typed = false;
    for (int f = 0; f < NUM_FIELDS; f++) {
        if (counts[f] == 0)
            continue;
        if (f != field)
            return ts_fail(err, TS_EPROTO, "%s: a %s tensor has %s (it belongs in %s)", where,
                           onnx_type_name(t->onnx_type), field_names[f], field_names[field]);
        *typed = true;
    }
    if (*typed && tp->raw_data.len)
        return ts_fail(err, TS_EPROTO, "%s: both raw_data and %s are set", where,
                       field_names[field]);
    if (*typed && counts[field] != (size_t)t->num_elements)
        return ts_fail(err, TS_EPROTO, "%s: %s has %zu values, but the shape has %" PRId64, where,
                       field_names[field], counts[field], t->num_elements);
    if (!*typed && !tp->raw_data.len && t->num_elements > 0)
        return ts_fail(err, TS_EPROTO,
                       "%s: no data (neither raw_data nor %s) for %" PRId64 " elements", where,
                       field_names[field], t->num_elements);
    /* Checked before the buffer is allocated: a header may declare any shape. */
    size_t need = (size_t)t->num_elements * ts_dtype_bytes(t->dtype);
    if (!*typed && tp->raw_data.len != need)
        return ts_fail(err, TS_EPROTO,
                       "%s: raw_data has %zu bytes, but %" PRId64 " %s elements need %zu", where,
                       tp->raw_data.len, t->num_elements, onnx_type_name(t->onnx_type), need);
    return TS_OK;
}

TsStatus rly_tensor_from_proto(const Onnx__TensorProto *tp, const char *where, OnnxTensor *t,
                               TsError *err)
{
    memset(t, 0, sizeof *t);
    bool typed = false;
    TsStatus status = read_header(tp, t, where, err);
    if (status == TS_OK)
        status = check_data_fields(tp, t, where, &typed, err);
    if (status != TS_OK)
        goto out_free;

    size_t bytes = (size_t)t->num_elements * ts_dtype_bytes(t->dtype);
    t->name = copy_string(tp->name);
    t->data = malloc(bytes ? bytes : 1);
    if (!t->name || !t->data) {
        status = ts_fail(err, TS_ENOMEM, "%s: out of memory for %zu bytes", where, bytes);
        goto out_free;
    }
    if (typed)
        status = decode_typed(tp, typed_field_of(t->onnx_type), t, where, err);
    else
        status = decode_raw(&tp->raw_data, t, where, err);
    if (status != TS_OK)
        goto out_free;
    return TS_OK;

out_free:
    onnx_tensor_free(t);
    return status;
}

TsStatus onnx_load_tensor(const char *path, OnnxTensor *out, TsError *err)
{
    memset(out, 0, sizeof *out);
    uint8_t *bytes = NULL;
    size_t size = 0;
    TsStatus status = rly_read_file(path, "the file", &bytes, &size, err);
    if (status != TS_OK)
        return status;
    Onnx__TensorProto *tp = onnx__tensor_proto__unpack(NULL, size, bytes);
    free(bytes);
    if (!tp)
        return ts_fail(err, TS_EPROTO,
                       "%s: not a valid onnx.TensorProto (protobuf-c cannot unpack its %zu bytes)",
                       path, size);
    status = rly_tensor_from_proto(tp, path, out, err);
    onnx__tensor_proto__free_unpacked(tp, NULL);
    return status;
}

void onnx_tensor_free(OnnxTensor *tensor)
{
    if (!tensor)
        return;
    free(tensor->name);
    free(tensor->data);
    memset(tensor, 0, sizeof *tensor);
}

/* ---- models ---- */

/* Attribute kinds are protobuf-c's enum, which has a sentinel member; a switch over
 * (int) with a default names the kinds the loader reads and rejects the rest. */
static TsStatus attr_from_proto(const Onnx__AttributeProto *ap, const char *path,
                                const char *op_type, OnnxAttr *out, TsError *err)
{
    out->name = copy_string(ap->name);
    if (!out->name)
        return ts_fail(err, TS_ENOMEM, "%s: out of memory", path);
    switch ((int)ap->type) {
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT:
        out->kind = ONNX_ATTR_FLOAT;
        out->f = ap->f;
        return TS_OK;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT:
        out->kind = ONNX_ATTR_INT;
        out->i = ap->i;
        return TS_OK;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING:
        out->kind = ONNX_ATTR_STRING;
        out->s = malloc(ap->s.len + 1);
        if (!out->s)
            return ts_fail(err, TS_ENOMEM, "%s: out of memory", path);
        if (ap->s.len)
            memcpy(out->s, ap->s.data, ap->s.len);
        out->s[ap->s.len] = '\0';
        return TS_OK;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS:
        out->kind = ONNX_ATTR_FLOATS;
        out->num_values = (int)ap->n_floats;
        out->floats = malloc((ap->n_floats ? ap->n_floats : 1) * sizeof(double));
        if (!out->floats)
            return ts_fail(err, TS_ENOMEM, "%s: out of memory", path);
        for (size_t k = 0; k < ap->n_floats; k++)
            out->floats[k] = ap->floats[k];
        return TS_OK;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS:
        out->kind = ONNX_ATTR_INTS;
        out->num_values = (int)ap->n_ints;
        out->ints = malloc((ap->n_ints ? ap->n_ints : 1) * sizeof(int64_t));
        if (!out->ints)
            return ts_fail(err, TS_ENOMEM, "%s: out of memory", path);
        if (ap->n_ints)
            memcpy(out->ints, ap->ints, ap->n_ints * sizeof(int64_t));
        return TS_OK;
    default:
        return ts_fail(err, TS_EINVAL,
                       "%s: node %s: attribute %s has type %s, which the "
                       "loader does not read",
                       path, op_type, out->name, attr_type_name(ap->type));
    }
}

static char **copy_strings(char *const *strings, size_t count)
{
    char **copy = calloc(count ? count : 1, sizeof *copy);
    if (!copy)
        return NULL;
    for (size_t k = 0; k < count; k++) {
        copy[k] = copy_string(strings[k]);
        if (!copy[k]) {
            for (size_t j = 0; j < k; j++)
                free(copy[j]);
            free(copy);
            return NULL;
        }
    }
    return copy;
}

static TsStatus node_from_proto(const Onnx__NodeProto *np, const char *path, OnnxNode *out,
                                TsError *err)
{
    out->op_type = copy_string(np->op_type);
    out->domain = copy_string(np->domain);
    out->name = copy_string(np->name);
    out->inputs = copy_strings(np->input, np->n_input);
    if (out->inputs)
        out->num_inputs = (int)np->n_input;
    out->outputs = copy_strings(np->output, np->n_output);
    if (out->outputs)
        out->num_outputs = (int)np->n_output;
    out->attrs = calloc(np->n_attribute ? np->n_attribute : 1, sizeof *out->attrs);
    if (!out->op_type || !out->domain || !out->name || !out->inputs || !out->outputs || !out->attrs)
        return ts_fail(err, TS_ENOMEM, "%s: out of memory", path);
    for (size_t k = 0; k < np->n_attribute; k++) {
        out->num_attrs = (int)k + 1; /* so that onnx_model_free frees a partial one */
        TsStatus status =
            attr_from_proto(np->attribute[k], path, out->op_type, &out->attrs[k], err);
        if (status != TS_OK)
            return status;
    }
    return TS_OK;
}

/* Fills out from an unpacked model; on failure out holds what was copied so far. */
static TsStatus model_from_proto(const Onnx__ModelProto *mp, const char *path, OnnxModel *out,
                                 TsError *err)
{
    bool have_opset = false;
    for (size_t k = 0; k < mp->n_opset_import; k++) {
        const Onnx__OperatorSetIdProto *op = mp->opset_import[k];
        if (strcmp(op->domain, "") == 0 || strcmp(op->domain, "ai.onnx") == 0) {
            out->opset = op->version;
            have_opset = true;
        }
    }
    if (!have_opset)
        return ts_fail(err, TS_EPROTO, "%s: no opset_import for the default operator set", path);
    const Onnx__GraphProto *graph = mp->graph;
    if (!graph)
        return ts_fail(err, TS_EPROTO, "%s: the model has no graph", path);
    if (graph->n_node == 0)
        return ts_fail(err, TS_EPROTO, "%s: graph \"%s\" has no nodes", path, graph->name);
    out->num_nodes = (int)graph->n_node;
    TsStatus status = node_from_proto(graph->node[0], path, &out->node, err);
    if (status != TS_OK)
        return status;

    out->graph_inputs = calloc(graph->n_input ? graph->n_input : 1, sizeof(char *));
    out->initializers = calloc(graph->n_initializer ? graph->n_initializer : 1, sizeof(OnnxTensor));
    if (!out->graph_inputs || !out->initializers)
        return ts_fail(err, TS_ENOMEM, "%s: out of memory", path);
    for (size_t k = 0; k < graph->n_input; k++) {
        out->num_graph_inputs = (int)k + 1;
        out->graph_inputs[k] = copy_string(graph->input[k]->name);
        if (!out->graph_inputs[k])
            return ts_fail(err, TS_ENOMEM, "%s: out of memory", path);
    }
    for (size_t k = 0; k < graph->n_initializer; k++) {
        char where[TS_ERROR_MESSAGE_MAX];
        snprintf(where, sizeof where, "%s: initializer \"%s\"", path, graph->initializer[k]->name);
        status = rly_tensor_from_proto(graph->initializer[k], where, &out->initializers[k], err);
        if (status != TS_OK)
            return status;
        out->num_initializers = (int)k + 1;
    }
    return TS_OK;
}

TsStatus onnx_load_model(const char *path, OnnxModel *out, TsError *err)
{
    memset(out, 0, sizeof *out);
    uint8_t *bytes = NULL;
    size_t size = 0;
    TsStatus status = rly_read_file(path, "the file", &bytes, &size, err);
    if (status != TS_OK)
        return status;
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, size, bytes);
    free(bytes);
    if (!mp)
        return ts_fail(err, TS_EPROTO,
                       "%s: not a valid onnx.ModelProto (protobuf-c cannot unpack its %zu bytes)",
                       path, size);
    status = model_from_proto(mp, path, out, err);
    onnx__model_proto__free_unpacked(mp, NULL);
    if (status != TS_OK)
        onnx_model_free(out);
    return status;
}

static void free_strings(char **strings, int count)
{
    if (!strings)
        return;
    for (int k = 0; k < count; k++)
        free(strings[k]);
    free(strings);
}

void onnx_model_free(OnnxModel *model)
{
    if (!model)
        return;
    OnnxNode *node = &model->node;
    free(node->op_type);
    free(node->domain);
    free(node->name);
    free_strings(node->inputs, node->num_inputs);
    free_strings(node->outputs, node->num_outputs);
    for (int k = 0; node->attrs && k < node->num_attrs; k++) {
        free(node->attrs[k].name);
        free(node->attrs[k].s);
        free(node->attrs[k].floats);
        free(node->attrs[k].ints);
    }
    free(node->attrs);
    free_strings(model->graph_inputs, model->num_graph_inputs);
    for (int k = 0; model->initializers && k < model->num_initializers; k++)
        onnx_tensor_free(&model->initializers[k]);
    free(model->initializers);
    memset(model, 0, sizeof *model);
}

const OnnxAttr *onnx_node_attr(const OnnxNode *node, const char *name)
{
    for (int k = 0; k < node->num_attrs; k++)
        if (strcmp(node->attrs[k].name, name) == 0)
            return &node->attrs[k];
    return NULL;
}

const OnnxTensor *onnx_model_initializer(const OnnxModel *model, const char *name)
{
    for (int k = 0; k < model->num_initializers; k++)
        if (strcmp(model->initializers[k].name, name) == 0)
            return &model->initializers[k];
    return NULL;
}
