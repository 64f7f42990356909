/* The ONNX test-file loader (onnx_loader.c) that test_onnx_nodes relies on: vendored
 * files read back with the right types, shapes and values; TensorProtos packed here
 * with the generated protobuf-c code to reach the typed data fields (float_data,
 * int32_data, int64_data, double_data, uint64_data), which the vendored files do not
 * use; and every failure (missing, truncated or garbage files, data that contradict the
 * shape, unsupported types) reported with its status and the file's name.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "onnx.proto3.pb-c.h"
#include "relay_lite/onnx_loader.h"

#ifndef TESSERA_ONNX_DIR
#error "TESSERA_ONNX_DIR must name the folder that holds node/"
#endif
#ifndef TESSERA_ONNX_SCRATCH_DIR
#error "TESSERA_ONNX_SCRATCH_DIR must name a writable folder for scratch files"
#endif

#define PATH_MAX_LEN 1024

static void node_file(const char *relative, char *path)
{
    snprintf(path, PATH_MAX_LEN, "%s/node/%s", TESSERA_ONNX_DIR, relative);
}

static void write_scratch(const char *name, const void *bytes, size_t len, char *path)
{
    snprintf(path, PATH_MAX_LEN, "%s/%s", TESSERA_ONNX_SCRATCH_DIR, name);
    FILE *file = fopen(path, "wb");
    assert_non_null(file);
    assert_int_equal(fwrite(bytes, 1, len, file), len);
    assert_int_equal(fclose(file), 0);
}

static void write_tensor_proto(const Onnx__TensorProto *tp, const char *name, char *path)
{
    size_t len = onnx__tensor_proto__get_packed_size(tp);
    uint8_t *bytes = malloc(len ? len : 1);
    assert_non_null(bytes);
    assert_int_equal(onnx__tensor_proto__pack(tp, bytes), len);
    write_scratch(name, bytes, len, path);
    free(bytes);
}

/* Packs tp, loads it back and removes the file. */
static TsStatus round_trip(const Onnx__TensorProto *tp, OnnxTensor *out, TsError *err)
{
    char path[PATH_MAX_LEN];
    write_tensor_proto(tp, "scratch_tensor.pb", path);
    TsStatus status = onnx_load_tensor(path, out, err);
    unlink(path);
    return status;
}

/* The error is status, names the file (its scratch name) and contains text; out is empty. */
static void assert_tensor_error(const Onnx__TensorProto *tp, TsStatus status, const char *text)
{
    OnnxTensor t;
    TsError err;
    assert_int_equal(round_trip(tp, &t, &err), status);
    assert_int_equal(err.status, status);
    if (!strstr(err.message, "scratch_tensor.pb") || !strstr(err.message, text))
        fail_msg("message \"%s\" lacks the file name or \"%s\"", err.message, text);
    assert_null(t.data);
    assert_null(t.name);
}

/* ---- vendored files ---- */

static void reads_int64_raw_data(void **state)
{
    (void)state;
    char path[PATH_MAX_LEN];
    OnnxTensor t;
    TsError err;
    node_file("test_reshape_zero_dim/test_data_set_0/input_1.pb", path);
    assert_int_equal(onnx_load_tensor(path, &t, &err), TS_OK);
    assert_string_equal(t.name, "shape");
    assert_int_equal(t.onnx_type, ONNX_INT64);
    assert_true(ts_dtype_eq(t.dtype, TS_INT64));
    assert_int_equal(t.ndim, 1);
    assert_int_equal(t.shape[0], 4);
    assert_int_equal(t.num_elements, 4);
    const int64_t *shape = t.data;
    assert_int_equal(shape[0], 2);
    assert_int_equal(shape[1], 0);
    assert_int_equal(shape[2], 4);
    assert_int_equal(shape[3], 1);
    onnx_tensor_free(&t);
}

static void reads_a_scalar(void **state)
{
    (void)state;
    char path[PATH_MAX_LEN];
    OnnxTensor t;
    TsError err;
    node_file("test_clip/test_data_set_0/input_1.pb", path);
    assert_int_equal(onnx_load_tensor(path, &t, &err), TS_OK);
    assert_string_equal(t.name, "min");
    assert_true(ts_dtype_eq(t.dtype, TS_FLOAT32));
    assert_int_equal(t.ndim, 0);
    assert_int_equal(t.num_elements, 1);
    assert_true(*(const float *)t.data == -1.0f);
    onnx_tensor_free(&t);
}

static void reads_a_model_with_initializers(void **state)
{
    (void)state;
    char path[PATH_MAX_LEN];
    OnnxModel m;
    TsError err;
    node_file("test_Conv2d_padding/model.onnx", path);
    assert_int_equal(onnx_load_model(path, &m, &err), TS_OK);
    assert_int_equal(m.opset, 6);
    assert_int_equal(m.num_nodes, 1);
    assert_string_equal(m.node.op_type, "Conv");
    assert_int_equal(m.node.num_inputs, 3);
    assert_string_equal(m.node.inputs[0], "0");
    assert_string_equal(m.node.inputs[2], "2");
    assert_int_equal(m.node.num_outputs, 1);

    const OnnxAttr *group = onnx_node_attr(&m.node, "group");
    assert_non_null(group);
    assert_int_equal(group->kind, ONNX_ATTR_INT);
    assert_int_equal(group->i, 1);
    const OnnxAttr *pads = onnx_node_attr(&m.node, "pads");
    assert_non_null(pads);
    assert_int_equal(pads->kind, ONNX_ATTR_INTS);
    assert_int_equal(pads->num_values, 4);
    assert_int_equal(pads->ints[0], 1);
    const OnnxAttr *strides = onnx_node_attr(&m.node, "strides");
    assert_int_equal(strides->num_values, 2);
    assert_int_equal(strides->ints[1], 2);
    assert_null(onnx_node_attr(&m.node, "auto_pad"));

    assert_int_equal(m.num_graph_inputs, 3);
    assert_int_equal(m.num_initializers, 2);
    const OnnxTensor *weight = onnx_model_initializer(&m, "1");
    assert_non_null(weight);
    assert_int_equal(weight->ndim, 4);
    assert_int_equal(weight->shape[0], 4);
    assert_int_equal(weight->shape[3], 3);
    assert_int_equal(weight->num_elements, 4 * 3 * 3 * 3);
    const OnnxTensor *bias = onnx_model_initializer(&m, "2");
    assert_non_null(bias);
    assert_int_equal(bias->num_elements, 4);
    assert_null(onnx_model_initializer(&m, "0"));
    onnx_model_free(&m);
}

static void reads_float_and_string_attributes(void **state)
{
    (void)state;
    char path[PATH_MAX_LEN];
    OnnxModel m;
    TsError err;
    node_file("test_gemm_alpha/model.onnx", path);
    assert_int_equal(onnx_load_model(path, &m, &err), TS_OK);
    assert_int_equal(m.opset, 13);
    const OnnxAttr *alpha = onnx_node_attr(&m.node, "alpha");
    assert_non_null(alpha);
    assert_int_equal(alpha->kind, ONNX_ATTR_FLOAT);
    assert_true(alpha->f == 0.5);
    onnx_model_free(&m);

    node_file("test_maxpool_2d_same_upper/model.onnx", path);
    assert_int_equal(onnx_load_model(path, &m, &err), TS_OK);
    const OnnxAttr *auto_pad = onnx_node_attr(&m.node, "auto_pad");
    assert_non_null(auto_pad);
    assert_int_equal(auto_pad->kind, ONNX_ATTR_STRING);
    assert_string_equal(auto_pad->s, "SAME_UPPER");
    assert_int_equal(m.num_initializers, 0);
    onnx_model_free(&m);
}

/* ---- typed fields and raw_data byte order ---- */

static void reads_typed_float_and_double(void **state)
{
    (void)state;
    OnnxTensor t;
    TsError err;
    int64_t dims[] = { 2 };
    float floats[] = { 1.5f, -2.25f };
    Onnx__TensorProto tp = ONNX__TENSOR_PROTO__INIT;
    tp.n_dims = 1;
    tp.dims = dims;
    tp.data_type = ONNX_FLOAT;
    tp.n_float_data = 2;
    tp.float_data = floats;
    assert_int_equal(round_trip(&tp, &t, &err), TS_OK);
    assert_true(((const float *)t.data)[0] == 1.5f);
    assert_true(((const float *)t.data)[1] == -2.25f);
    onnx_tensor_free(&t);

    double doubles[] = { 0.1, -1e300 };
    Onnx__TensorProto dp = ONNX__TENSOR_PROTO__INIT;
    dp.n_dims = 1;
    dp.dims = dims;
    dp.data_type = ONNX_DOUBLE;
    dp.n_double_data = 2;
    dp.double_data = doubles;
    assert_int_equal(round_trip(&dp, &t, &err), TS_OK);
    assert_true(ts_dtype_eq(t.dtype, TS_FLOAT64));
    assert_true(((const double *)t.data)[0] == 0.1);
    assert_true(((const double *)t.data)[1] == -1e300);
    onnx_tensor_free(&t);
}

/* int32_data carries the narrow integer types, bool, float16's and bfloat16's bits. */
static void reads_int32_data_of_narrow_types(void **state)
{
    (void)state;
    OnnxTensor t;
    TsError err;
    int64_t dims[] = { 3 };
    Onnx__TensorProto tp = ONNX__TENSOR_PROTO__INIT;
    tp.n_dims = 1;
    tp.dims = dims;
    tp.n_int32_data = 3;

    int32_t int8_values[] = { -128, 0, 127 };
    tp.data_type = ONNX_INT8;
    tp.int32_data = int8_values;
    assert_int_equal(round_trip(&tp, &t, &err), TS_OK);
    assert_true(ts_dtype_eq(t.dtype, TS_INT8));
    assert_int_equal(((const int8_t *)t.data)[0], -128);
    assert_int_equal(((const int8_t *)t.data)[2], 127);
    onnx_tensor_free(&t);

    int32_t uint16_values[] = { 0, 1000, 65535 };
    tp.data_type = ONNX_UINT16;
    tp.int32_data = uint16_values;
    assert_int_equal(round_trip(&tp, &t, &err), TS_OK);
    assert_int_equal(((const uint16_t *)t.data)[1], 1000);
    assert_int_equal(((const uint16_t *)t.data)[2], 65535);
    onnx_tensor_free(&t);

    int32_t bool_values[] = { 0, 1, 5 };
    tp.data_type = ONNX_BOOL;
    tp.int32_data = bool_values;
    assert_int_equal(round_trip(&tp, &t, &err), TS_OK);
    assert_true(ts_dtype_eq(t.dtype, TS_BOOL));
    assert_memory_equal(t.data, ((const uint8_t[]){ 0, 1, 1 }), 3);
    onnx_tensor_free(&t);

    int32_t half_bits[] = { 0x3c00, 0xc000, 0x7bff }; /* 1.0, -2.0, 65504 */
    tp.data_type = ONNX_FLOAT16;
    tp.int32_data = half_bits;
    assert_int_equal(round_trip(&tp, &t, &err), TS_OK);
    assert_true(ts_dtype_eq(t.dtype, TS_FLOAT16));
    assert_int_equal(((const uint16_t *)t.data)[0], 0x3c00);
    assert_int_equal(((const uint16_t *)t.data)[1], 0xc000);
    onnx_tensor_free(&t);

    int32_t bfloat_bits[] = { 0x3f80, 0xc000, 0x7f7f }; /* 1.0, -2.0, bfloat16's largest */
    tp.data_type = ONNX__TENSOR_PROTO__DATA_TYPE__BFLOAT16;
    tp.int32_data = bfloat_bits;
    assert_int_equal(round_trip(&tp, &t, &err), TS_OK);
    assert_true(ts_dtype_eq(t.dtype, TS_BFLOAT16));
    assert_int_equal(((const uint16_t *)t.data)[0], 0x3f80);
    assert_int_equal(((const uint16_t *)t.data)[2], 0x7f7f);
    onnx_tensor_free(&t);
}

static void reads_int64_and_uint64_data(void **state)
{
    (void)state;
    OnnxTensor t;
    TsError err;
    int64_t dims[] = { 2 };
    int64_t int64_values[] = { INT64_MIN, 42 };
    Onnx__TensorProto tp = ONNX__TENSOR_PROTO__INIT;
    tp.n_dims = 1;
    tp.dims = dims;
    tp.data_type = ONNX_INT64;
    tp.n_int64_data = 2;
    tp.int64_data = int64_values;
    assert_int_equal(round_trip(&tp, &t, &err), TS_OK);
    assert_true(((const int64_t *)t.data)[0] == INT64_MIN);
    assert_int_equal(((const int64_t *)t.data)[1], 42);
    onnx_tensor_free(&t);

    uint64_t uint64_values[] = { UINT64_MAX, 7 };
    Onnx__TensorProto up = ONNX__TENSOR_PROTO__INIT;
    up.n_dims = 1;
    up.dims = dims;
    up.data_type = ONNX_UINT64;
    up.n_uint64_data = 2;
    up.uint64_data = uint64_values;
    assert_int_equal(round_trip(&up, &t, &err), TS_OK);
    assert_true(((const uint64_t *)t.data)[0] == UINT64_MAX);
    onnx_tensor_free(&t);

    uint64_t uint32_values[] = { UINT32_MAX, 3 };
    up.data_type = ONNX_UINT32;
    up.uint64_data = uint32_values;
    assert_int_equal(round_trip(&up, &t, &err), TS_OK);
    assert_true(ts_dtype_eq(t.dtype, TS_UINT32));
    assert_true(((const uint32_t *)t.data)[0] == UINT32_MAX);
    assert_int_equal(((const uint32_t *)t.data)[1], 3);
    onnx_tensor_free(&t);
}

/* raw_data is little-endian whatever the host is. */
static void reads_raw_data_little_endian(void **state)
{
    (void)state;
    OnnxTensor t;
    TsError err;
    int64_t dims[] = { 2 };
    uint8_t bytes[] = { 0x34, 0x12, 0xfe, 0xff };
    Onnx__TensorProto tp = ONNX__TENSOR_PROTO__INIT;
    tp.n_dims = 1;
    tp.dims = dims;
    tp.data_type = ONNX_INT16;
    tp.raw_data.len = sizeof bytes;
    tp.raw_data.data = bytes;
    assert_int_equal(round_trip(&tp, &t, &err), TS_OK);
    assert_int_equal(((const int16_t *)t.data)[0], 0x1234);
    assert_int_equal(((const int16_t *)t.data)[1], -2);
    onnx_tensor_free(&t);

    uint8_t one[] = { 0x00, 0x00, 0x80, 0x3f };
    int64_t one_dim[] = { 1 };
    tp.dims = one_dim;
    tp.data_type = ONNX_FLOAT;
    tp.raw_data.len = sizeof one;
    tp.raw_data.data = one;
    assert_int_equal(round_trip(&tp, &t, &err), TS_OK);
    assert_true(((const float *)t.data)[0] == 1.0f);
    onnx_tensor_free(&t);
}

/* ---- errors ---- */

static void missing_file_is_eio(void **state)
{
    (void)state;
    char path[PATH_MAX_LEN];
    OnnxTensor t;
    OnnxModel m;
    TsError err;
    node_file("test_relu/test_data_set_0/no_such_file.pb", path);
    assert_int_equal(onnx_load_tensor(path, &t, &err), TS_EIO);
    assert_non_null(strstr(err.message, "no_such_file.pb"));
    assert_null(t.data);
    node_file("no_such_test/model.onnx", path);
    assert_int_equal(onnx_load_model(path, &m, &err), TS_EIO);
    assert_non_null(strstr(err.message, "no_such_test/model.onnx"));
}

/* Copies the first half of a vendored file; its last field then runs past the end. */
static void truncate_copy(const char *relative, const char *scratch_name, char *path)
{
    char source[PATH_MAX_LEN];
    node_file(relative, source);
    FILE *file = fopen(source, "rb");
    assert_non_null(file);
    uint8_t bytes[8192];
    size_t len = fread(bytes, 1, sizeof bytes, file);
    fclose(file);
    assert_true(len > 64);
    write_scratch(scratch_name, bytes, len / 2, path);
}

static void truncated_files_are_eproto(void **state)
{
    (void)state;
    char path[PATH_MAX_LEN];
    OnnxTensor t;
    OnnxModel m;
    TsError err;
    truncate_copy("test_averagepool_2d_precomputed_pads/test_data_set_0/input_0.pb",
                  "scratch_truncated.pb", path);
    assert_int_equal(onnx_load_tensor(path, &t, &err), TS_EPROTO);
    assert_non_null(strstr(err.message, "scratch_truncated.pb"));
    assert_non_null(strstr(err.message, "onnx.TensorProto"));
    assert_null(t.data);
    unlink(path);

    truncate_copy("test_Conv2d_padding/model.onnx", "scratch_truncated.onnx", path);
    assert_int_equal(onnx_load_model(path, &m, &err), TS_EPROTO);
    assert_non_null(strstr(err.message, "scratch_truncated.onnx"));
    assert_non_null(strstr(err.message, "onnx.ModelProto"));
    assert_null(m.node.op_type);
    unlink(path);
}

/* 'g' (0x67) opens field 12 with wire type 7, which protobuf does not have. */
static void garbage_bytes_are_eproto(void **state)
{
    (void)state;
    static const char garbage[] = "garbage, not a protobuf message";
    char path[PATH_MAX_LEN];
    OnnxTensor t;
    OnnxModel m;
    TsError err;
    write_scratch("scratch_garbage.pb", garbage, sizeof garbage - 1, path);
    assert_int_equal(onnx_load_tensor(path, &t, &err), TS_EPROTO);
    assert_non_null(strstr(err.message, "scratch_garbage.pb"));
    assert_int_equal(onnx_load_model(path, &m, &err), TS_EPROTO);
    assert_non_null(strstr(err.message, "scratch_garbage.pb"));
    unlink(path);
}

static void data_that_contradict_the_shape_are_eproto(void **state)
{
    (void)state;
    int64_t dims[] = { 2, 3 };
    uint8_t bytes[20] = { 0 };
    Onnx__TensorProto tp = ONNX__TENSOR_PROTO__INIT;
    tp.n_dims = 2;
    tp.dims = dims;
    tp.data_type = ONNX_FLOAT;
    tp.raw_data.len = sizeof bytes;
    tp.raw_data.data = bytes;
    assert_tensor_error(&tp, TS_EPROTO, "raw_data has 20 bytes");

    int64_t values[] = { 1 };
    Onnx__TensorProto short_typed = ONNX__TENSOR_PROTO__INIT;
    short_typed.n_dims = 2;
    short_typed.dims = dims;
    short_typed.data_type = ONNX_INT64;
    short_typed.n_int64_data = 1;
    short_typed.int64_data = values;
    assert_tensor_error(&short_typed, TS_EPROTO, "int64_data has 1 values");

    Onnx__TensorProto empty = ONNX__TENSOR_PROTO__INIT;
    empty.n_dims = 2;
    empty.dims = dims;
    empty.data_type = ONNX_FLOAT;
    assert_tensor_error(&empty, TS_EPROTO, "no data");
}

static void wrong_or_out_of_range_typed_data_are_eproto(void **state)
{
    (void)state;
    int64_t dims[] = { 1 };
    float floats[] = { 1.0f };
    Onnx__TensorProto tp = ONNX__TENSOR_PROTO__INIT;
    tp.n_dims = 1;
    tp.dims = dims;
    tp.data_type = ONNX_INT32;
    tp.n_float_data = 1;
    tp.float_data = floats;
    assert_tensor_error(&tp, TS_EPROTO, "float_data");

    int32_t too_big[] = { 300 };
    Onnx__TensorProto narrow = ONNX__TENSOR_PROTO__INIT;
    narrow.n_dims = 1;
    narrow.dims = dims;
    narrow.data_type = ONNX_UINT8;
    narrow.n_int32_data = 1;
    narrow.int32_data = too_big;
    assert_tensor_error(&narrow, TS_EPROTO, "300 is out of range for UINT8");

    uint8_t raw[4] = { 0 };
    narrow.data_type = ONNX_INT32;
    narrow.raw_data.len = sizeof raw;
    narrow.raw_data.data = raw;
    narrow.int32_data = (int32_t[]){ 1 };
    assert_tensor_error(&narrow, TS_EPROTO, "both raw_data and int32_data");
}

static void unsupported_tensors_are_einval(void **state)
{
    (void)state;
    int64_t dims[] = { 2 };
    uint8_t raw[4] = { 0 };
    Onnx__TensorProto tp = ONNX__TENSOR_PROTO__INIT;
    tp.n_dims = 1;
    tp.dims = dims;
    tp.data_type = ONNX__TENSOR_PROTO__DATA_TYPE__COMPLEX64;
    tp.raw_data.len = sizeof raw;
    tp.raw_data.data = raw;
    assert_tensor_error(&tp, TS_EINVAL, "data type COMPLEX64 (14) is not supported");

    Onnx__TensorProto external = ONNX__TENSOR_PROTO__INIT;
    external.n_dims = 1;
    external.dims = dims;
    external.data_type = ONNX_FLOAT;
    external.data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    assert_tensor_error(&external, TS_EINVAL, "external file");
}

/* A model with one node "Foo" carrying the given attribute, or with no node. */
static TsStatus load_packed_model(Onnx__AttributeProto *attr, bool with_node, OnnxModel *m,
                                  TsError *err)
{
    Onnx__OperatorSetIdProto opset = ONNX__OPERATOR_SET_ID_PROTO__INIT;
    opset.version = 13;
    Onnx__OperatorSetIdProto *opsets[] = { &opset };
    Onnx__NodeProto node = ONNX__NODE_PROTO__INIT;
    node.op_type = "Foo";
    node.n_attribute = attr ? 1 : 0;
    node.attribute = &attr;
    Onnx__NodeProto *nodes[] = { &node };
    Onnx__GraphProto graph = ONNX__GRAPH_PROTO__INIT;
    graph.name = "g";
    graph.n_node = with_node ? 1 : 0;
    graph.node = nodes;
    Onnx__ModelProto model = ONNX__MODEL_PROTO__INIT;
    model.n_opset_import = 1;
    model.opset_import = opsets;
    model.graph = &graph;

    size_t len = onnx__model_proto__get_packed_size(&model);
    uint8_t *bytes = malloc(len);
    assert_non_null(bytes);
    onnx__model_proto__pack(&model, bytes);
    char path[PATH_MAX_LEN];
    write_scratch("scratch_model.onnx", bytes, len, path);
    free(bytes);
    TsStatus status = onnx_load_model(path, m, err);
    unlink(path);
    return status;
}

static void reads_floats_attributes(void **state)
{
    (void)state;
    float values[] = { 0.25f, -4.0f };
    Onnx__AttributeProto attr = ONNX__ATTRIBUTE_PROTO__INIT;
    attr.name = "scales";
    attr.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS;
    attr.n_floats = 2;
    attr.floats = values;
    OnnxModel m;
    TsError err;
    assert_int_equal(load_packed_model(&attr, true, &m, &err), TS_OK);
    assert_string_equal(m.node.op_type, "Foo");
    const OnnxAttr *scales = onnx_node_attr(&m.node, "scales");
    assert_non_null(scales);
    assert_int_equal(scales->kind, ONNX_ATTR_FLOATS);
    assert_int_equal(scales->num_values, 2);
    assert_true(scales->floats[0] == 0.25 && scales->floats[1] == -4.0);
    onnx_model_free(&m);
}

static void unreadable_models_are_errors(void **state)
{
    (void)state;
    OnnxModel m;
    TsError err;
    Onnx__TensorProto value = ONNX__TENSOR_PROTO__INIT;
    Onnx__AttributeProto attr = ONNX__ATTRIBUTE_PROTO__INIT;
    attr.name = "value";
    attr.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR;
    attr.t = &value;
    assert_int_equal(load_packed_model(&attr, true, &m, &err), TS_EINVAL);
    assert_non_null(strstr(err.message, "scratch_model.onnx"));
    assert_non_null(strstr(err.message, "attribute value has type TENSOR"));
    assert_null(m.node.op_type);

    assert_int_equal(load_packed_model(NULL, false, &m, &err), TS_EPROTO);
    assert_non_null(strstr(err.message, "scratch_model.onnx"));
    assert_non_null(strstr(err.message, "graph \"g\" has no nodes"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reads_int64_raw_data),
        cmocka_unit_test(reads_a_scalar),
        cmocka_unit_test(reads_a_model_with_initializers),
        cmocka_unit_test(reads_float_and_string_attributes),
        cmocka_unit_test(reads_typed_float_and_double),
        cmocka_unit_test(reads_int32_data_of_narrow_types),
        cmocka_unit_test(reads_int64_and_uint64_data),
        cmocka_unit_test(reads_raw_data_little_endian),
        cmocka_unit_test(missing_file_is_eio),
        cmocka_unit_test(truncated_files_are_eproto),
        cmocka_unit_test(garbage_bytes_are_eproto),
        cmocka_unit_test(data_that_contradict_the_shape_are_eproto),
        cmocka_unit_test(wrong_or_out_of_range_typed_data_are_eproto),
        cmocka_unit_test(unsupported_tensors_are_einval),
        cmocka_unit_test(reads_floats_attributes),
        cmocka_unit_test(unreadable_models_are_errors),
    };
    return cmocka_run_group_tests_name("onnx_loader", tests, NULL, NULL);
}
