/* The importer and the verifier on bad input: missing, truncated and garbage files, opsets
 * out of range, external data, control flow, unknown operators and domains, undefined
 * inputs, cycles, dtype and rank errors, dynamic shapes, unsupported attribute values and
 * absurd dimensions. Each gives a status and a message naming the culprit (the file, the
 * node, the op type, the opset, the attribute), and nothing crashes (the suite also runs
 * under ASan and UBSan). Also: symbolic batch dimensions fixed to 1 with a note or by an
 * input shape, and IR-3 models that list their initializers as inputs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relay_testing.h"

enum { FLOAT = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, INT64 = ONNX__TENSOR_PROTO__DATA_TYPE__INT64 };

static ModelBuilder *relu_model(int64_t opset)
{
    ModelBuilder *mb = mb_new(opset);
    mb_input(mb, "x", FLOAT, 2, I64S(2, 3));
    mb_node(mb, "Relu", "x", "y");
    mb_output(mb, "y");
    return mb;
}

static void expect_import_error(const char *path, TsStatus status, const char *needle)
{
    TsGraph *graph = NULL;
    TsError err;
    assert_int_equal(ts_graph_import_onnx(path, NULL, &graph, &err), status);
    assert_null(graph);
    if (!strstr(err.message, needle) || !strstr(err.message, path))
        fail_msg("message \"%s\" does not name %s and \"%s\"", err.message, path, needle);
}

static void write_bytes(const char *path, const void *bytes, size_t size)
{
    FILE *file = fopen(path, "wb");
    assert_non_null(file);
    assert_int_equal(fwrite(bytes, 1, size, file), size);
    assert_int_equal(fclose(file), 0);
}

static void test_bad_files(void **state)
{
    (void)state;
    char path[1024];
    snprintf(path, sizeof path, "%s/no-such-model.onnx", TESSERA_SCRATCH_DIR);
    expect_import_error(path, TS_EIO, "cannot open");
    snprintf(path, sizeof path, "%s/garbage.onnx", TESSERA_SCRATCH_DIR);
    write_bytes(path, "\xff\xff\xff\xff this is not a protobuf", 26);
    expect_import_error(path, TS_EPROTO, "not a valid ONNX model");
    /* Every truncation of a real model is refused or imported, never a crash; the cut in
     * the middle of the weights is refused as malformed. */
    ModelBuilder *mb = relu_model(13);
    mb_init_f32(mb, "w", 2, I64S(16, 16));
    mb_save(mb, path);
    size_t size = onnx__model_proto__get_packed_size(mb_model(mb));
    uint8_t *bytes = malloc(size);
    assert_non_null(bytes);
    onnx__model_proto__pack(mb_model(mb), bytes);
    mb_free(mb);
    int refused = 0;
    for (size_t cut = 1; cut < size; cut += 7) {
        write_bytes(path, bytes, cut);
        TsGraph *graph = NULL;
        TsError err;
        if (ts_graph_import_onnx(path, NULL, &graph, &err) != TS_OK) {
            assert_non_null(strstr(err.message, path));
            refused++;
        }
        ts_graph_free(graph);
    }
    assert_true(refused > 0);
    write_bytes(path, bytes, size / 2);
    expect_import_error(path, TS_EPROTO, "not a valid ONNX model");
    free(bytes);
}

static void test_opsets_out_of_range(void **state)
{
    (void)state;
    refuse_model(relu_model(6), NULL, "opset 6 is not supported", "7 to 21");
    refuse_model(relu_model(22), NULL, "opset 22 is not supported");
    ModelBuilder *mb = relu_model(13);
    mb_model(mb)->opset_import[0]->domain = "ai.onnx.ml";
    refuse_model(mb, NULL, "no opset of the default ONNX domain");
    /* An operator newer than the model's opset, or removed from it. */
    mb = relu_model(17);
    mb_node(mb, "Gelu", "y", "z");
    refuse_model(mb, NULL, "Gelu_1", "operator Gelu does not exist in opset 17",
                 "appeared in opset 20");
    mb = relu_model(13);
    mb_init_f32_values(mb, "scales", 2, F32S(1, 2));
    mb_node(mb, "Upsample", "y,scales", "z");
    refuse_model(mb, NULL, "Upsample_1", "opset 13", "deprecated");
}

static void test_external_data(void **state)
{
    (void)state;
    ModelBuilder *mb = relu_model(13);
    mb_init_f32(mb, "w", 1, I64S(4));
    Onnx__TensorProto *w = mb_model(mb)->graph->initializer[0];
    w->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    w->n_float_data = 0;
    refuse_model(mb, NULL, "initializer \"w\"", "external");
}

static void test_control_flow_and_unknown_operators(void **state)
{
    (void)state;
    ModelBuilder *mb = relu_model(13);
    Onnx__NodeProto *n = mb_node(mb, "If", "y", "z");
    mb_attr_graph(mb, n, "then_branch");
    refuse_model(mb, NULL, "If_1", "control flow (If)", "opset 13");
    mb = relu_model(13);
    mb_node(mb, "Loop", "y", "z");
    refuse_model(mb, NULL, "control flow (Loop)");
    mb = relu_model(13);
    mb_attr_graph(mb, mb_model(mb)->graph->node[0], "body");
    refuse_model(mb, NULL, "Relu_0", "attribute body holds a subgraph");
    mb = relu_model(13);
    mb_node(mb, "NonMaxSuppression", "y", "z");
    refuse_model(mb, NULL, "node \"NonMaxSuppression_1\"",
                 "operator NonMaxSuppression is not "
                 "supported",
                 "opset 13");
    mb = relu_model(13);
    mb_model(mb)->graph->node[0]->domain = "com.microsoft";
    refuse_model(mb, NULL, "Relu_0", "domain \"com.microsoft\"");
}

static void test_structure_errors(void **state)
{
    (void)state;
    ModelBuilder *mb = relu_model(13);
    mb_node(mb, "Add", "y,nowhere", "z");
    refuse_model(mb, NULL, "Add_1", "input 1 \"nowhere\" is not defined");
    /* a = Add(x, b); b = Relu(a) */
    mb = mb_new(13);
    mb_input(mb, "x", FLOAT, 1, I64S(3));
    mb_node(mb, "Add", "x,b", "a");
    mb_node(mb, "Relu", "a", "b");
    mb_output(mb, "b");
    refuse_model(mb, NULL, "cycle");
    mb = relu_model(13);
    mb_node(mb, "Relu", "x", "y");
    refuse_model(mb, NULL, "tensor \"y\" is defined twice");
    mb = relu_model(13);
    mb_output(mb, "ghost");
    refuse_model(mb, NULL, "graph output \"ghost\" is not defined");
    /* Nodes out of order are sorted, not refused. */
    mb = mb_new(13);
    mb_input(mb, "x", FLOAT, 1, I64S(3));
    mb_node(mb, "Sigmoid", "a", "b");
    mb_node(mb, "Relu", "x", "a");
    mb_output(mb, "b");
    TsGraph *graph = import_model(mb, NULL);
    assert_string_equal(ts_graph_node_op(graph, 0), "Relu");
    ts_graph_free(graph);
}

static void test_type_and_rank_errors(void **state)
{
    (void)state;
    ModelBuilder *mb = relu_model(13);
    mb_input(mb, "i", INT64, 2, I64S(2, 3));
    mb_node(mb, "Add", "y,i", "z");
    refuse_model(mb, NULL, "Add_1", "dtype mismatch", "\"i\" is int64");
    mb = mb_new(13);
    mb_input(mb, "x", FLOAT, 4, I64S(1, 3, 8, 8));
    mb_init_f32(mb, "w", 3, I64S(4, 3, 3));
    mb_node(mb, "Conv", "x,w", "y");
    mb_output(mb, "y");
    refuse_model(mb, NULL, "Conv_0", "weight \"w\" has rank 3");
    mb = mb_new(13);
    mb_input(mb, "x", FLOAT, 5, I64S(1, 3, 4, 4, 4));
    mb_init_f32(mb, "w", 5, I64S(4, 3, 3, 3, 3));
    mb_node(mb, "Conv", "x,w", "y");
    mb_output(mb, "y");
    refuse_model(mb, NULL, "Conv_0", "rank 5", "1-D and 2-D");
    mb = mb_new(13);
    mb_input(mb, "x", FLOAT, 4, I64S(1, 4, 8, 8));
    mb_init_f32(mb, "w", 4, I64S(4, 3, 3, 3));
    mb_node(mb, "Conv", "x,w", "y");
    mb_output(mb, "y");
    refuse_model(mb, NULL, "Conv_0", "4 channels", "\"w\" takes 3");
    mb = relu_model(13);
    mb_init_f32(mb, "b", 1, I64S(4));
    mb_node(mb, "Add", "y,b", "z");
    refuse_model(mb, NULL, "Add_1", "cannot be broadcast");
    mb = relu_model(13);
    mb_node(mb, "Sigmoid", "x", "z");
    mb_model(mb)->graph->input[0]->type->tensor_type->elem_type = INT64;
    refuse_model(mb, NULL, "Sigmoid_1", "floating-point");
}

static void test_unsupported_attribute_values(void **state)
{
    (void)state;
    ModelBuilder *mb = mb_new(13);
    mb_input(mb, "x", FLOAT, 4, I64S(1, 3, 8, 8));
    mb_init_f32(mb, "w", 4, I64S(4, 3, 3, 3));
    mb_attr_string(mb, mb_node(mb, "Conv", "x,w", "y"), "auto_pad", "SAME_MIDDLE");
    mb_output(mb, "y");
    refuse_model(mb, NULL, "node \"Conv_0\" (Conv, opset 13)", "auto_pad = \"SAME_MIDDLE\"");
    mb = mb_new(13);
    mb_input(mb, "x", FLOAT, 4, I64S(1, 3, 8, 8));
    mb_init_f32_values(mb, "scales", 4, F32S(1, 1, 2, 2));
    mb_attr_string(mb, mb_node(mb, "Resize", "x,,scales", "y"), "mode", "cubic");
    mb_output(mb, "y");
    refuse_model(mb, NULL, "Resize_0", "opset 13", "mode = \"cubic\"");
    mb = mb_new(19);
    mb_input(mb, "x", FLOAT, 2, I64S(3, 4));
    mb_init_i64(mb, "pads", 4, I64S(1, 1, 1, 1));
    mb_attr_string(mb, mb_node(mb, "Pad", "x,pads", "y"), "mode", "wrap");
    mb_output(mb, "y");
    refuse_model(mb, NULL, "Pad_0", "opset 19", "mode = \"wrap\"");
    mb = relu_model(13);
    mb_attr_int(mb, mb_node(mb, "Cast", "y", "z"), "to", ONNX__TENSOR_PROTO__DATA_TYPE__STRING);
    refuse_model(mb, NULL, "Cast_1", "attribute to = 8");
    mb = relu_model(13);
    mb_attr_float(mb, mb_node(mb, "Softmax", "y", "z"), "axis", 1.0f);
    refuse_model(mb, NULL, "Softmax_1", "attribute axis is of type float, expected int");
    mb = mb_new(13);
    mb_input(mb, "x", FLOAT, 2, I64S(3, 4));
    mb_init_i64(mb, "ratio", 0, NULL);
    Onnx__TensorProto *training = mb_model(mb)->graph->initializer[0];
    training->name = "training";
    training->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__BOOL;
    training->n_dims = 0;
    training->n_int32_data = 1;
    training->int32_data = (int32_t[]){ 1 };
    mb_node(mb, "Dropout", "x,,training", "y");
    mb_output(mb, "y");
    refuse_model(mb, NULL, "Dropout_0", "training_mode) is true");
}

static void test_dynamic_shapes(void **state)
{
    (void)state;
    /* A symbolic batch dimension: 1 with a note, or what the input shape says. */
    ModelBuilder *mb = mb_new(13);
    mb_input(mb, "x", FLOAT, 2, I64S(-1, 3));
    mb_node(mb, "Relu", "x", "y");
    mb_output(mb, "y");
    TsGraph *graph = import_model(mb, NULL);
    expect_output(graph, 0, TS_FLOAT32, 2, I64S(1, 3));
    assert_int_equal(ts_graph_num_notes(graph), 1);
    assert_non_null(strstr(ts_graph_note(graph, 0), "dimension 0 (\"N\") fixed to 1"));
    ts_graph_free(graph);
    TsInputShape shape;
    assert_int_equal(ts_input_shape_parse("x=4x3", &shape, NULL), TS_OK);
    TsImportOptions options = { .input_shapes = &shape, .num_input_shapes = 1 };
    mb = mb_new(13);
    mb_input(mb, "x", FLOAT, 2, I64S(-1, -1));
    mb_node(mb, "Relu", "x", "y");
    mb_output(mb, "y");
    graph = import_model(mb, &options);
    expect_output(graph, 0, TS_FLOAT32, 2, I64S(4, 3));
    assert_int_equal(ts_graph_num_notes(graph), 0);
    ts_graph_free(graph);
    /* Dynamic dimensions nothing fixes. */
    mb = mb_new(13);
    mb_input(mb, "x", FLOAT, 2, I64S(2, -1));
    mb_node(mb, "Relu", "x", "y");
    mb_output(mb, "y");
    refuse_model(mb, NULL, "input \"x\" dimension 1 (\"N\") is dynamic", "--input-shape");
    mb = mb_new(13);
    mb_input(mb, "x", FLOAT, -1, NULL);
    mb_node(mb, "Relu", "x", "y");
    mb_output(mb, "y");
    refuse_model(mb, NULL, "input \"x\" has no shape");
    mb = mb_new(13);
    mb_input(mb, "x", FLOAT, 2, I64S(2, 3));
    mb_input(mb, "shape", INT64, 1, I64S(2));
    mb_node(mb, "Reshape", "x,shape", "y");
    mb_output(mb, "y");
    refuse_model(mb, NULL, "Reshape_0", "\"shape\" is a graph input", "dynamic");
    /* Input shapes that disagree with the model. */
    assert_int_equal(ts_input_shape_parse("x=2x4", &shape, NULL), TS_OK);
    refuse_model(relu_model(13), &options, "dimension 1 is 3 in the model", "gives 4");
    assert_int_equal(ts_input_shape_parse("x=2x3x1", &shape, NULL), TS_OK);
    refuse_model(relu_model(13), &options, "rank 2", "3 dimensions");
    assert_int_equal(ts_input_shape_parse("ghost=2x3", &shape, NULL), TS_OK);
    refuse_model(relu_model(13), &options, "--input-shape names \"ghost\"");
    TsError err;
    assert_int_equal(ts_input_shape_parse("x=2xx3", &shape, &err), TS_EINVAL);
    assert_non_null(strstr(err.message, "\"x=2xx3\""));
    assert_int_equal(ts_input_shape_parse("x=0x3", &shape, &err), TS_EINVAL);
    assert_int_equal(ts_input_shape_parse("1x3", &shape, &err), TS_EINVAL);
    assert_int_equal(ts_input_shape_parse("x=1x2x3x4x5x6x7x8x9", &shape, &err), TS_EINVAL);
}

static void test_absurd_dimensions(void **state)
{
    (void)state;
    ModelBuilder *mb = mb_new(13);
    mb_input(mb, "x", FLOAT, 2, I64S(1000000000000LL, 3));
    mb_node(mb, "Relu", "x", "y");
    mb_output(mb, "y");
    refuse_model(mb, NULL, "input \"x\" dimension 0 is 1000000000000");
    mb = mb_new(13);
    mb_input(mb, "x", FLOAT, 9, I64S(1, 1, 1, 1, 1, 1, 1, 1, 1));
    mb_node(mb, "Relu", "x", "y");
    mb_output(mb, "y");
    refuse_model(mb, NULL, "input \"x\" has 9 dimensions");
    mb = relu_model(13);
    mb_init_f32(mb, "w", 1, I64S(4));
    mb_model(mb)->graph->initializer[0]->n_float_data = 3;
    refuse_model(mb, NULL, "initializer \"w\"", "float_data has 3 values");
    /* A header that declares 2^38 floats over 4 bytes of raw_data: refused before any
     * buffer of the declared size is allocated. */
    mb = relu_model(13);
    mb_init_f32(mb, "big", 1, I64S(1));
    Onnx__TensorProto *big = mb_model(mb)->graph->initializer[0];
    int64_t big_dims[1] = { (int64_t)1 << 38 };
    big->dims = big_dims;
    big->n_float_data = 0;
    big->raw_data.data = (uint8_t[4]){ 0 };
    big->raw_data.len = 4;
    refuse_model(mb, NULL, "initializer \"big\"", "raw_data has 4 bytes");
    mb = mb_new(13);
    mb_input(mb, "x", FLOAT, 1, I64S(6));
    mb_init_i64(mb, "shape", 2, I64S(4, -1));
    mb_node(mb, "Reshape", "x,shape", "y");
    mb_output(mb, "y");
    refuse_model(mb, NULL, "Reshape_0", "6 elements do not reshape");
    /* Extents and products that would overflow int64 arithmetic. */
    mb = mb_new(13);
    mb_input(mb, "x", FLOAT, 3, I64S(100000, 100000, 1000));
    mb_node(mb, "Relu", "x", "y");
    mb_output(mb, "y");
    refuse_model(mb, NULL, "input \"x\" has more than 1099511627776 elements");
    mb = mb_new(13);
    mb_input(mb, "x", FLOAT, 2, I64S(1, 1));
    mb_init_i64(mb, "shape", 3, I64S(2000000000, 2000000000, 2000000000));
    mb_node(mb, "Expand", "x,shape", "y");
    mb_output(mb, "y");
    refuse_model(mb, NULL, "Expand_0", "would have more than");
    mb = mb_new(13);
    mb_input(mb, "x", FLOAT, 2, I64S(4, 4));
    mb_init_i64(mb, "pads", 4, I64S(0, 0, 0, INT64_MAX));
    mb_node(mb, "Pad", "x,pads", "y");
    mb_output(mb, "y");
    refuse_model(mb, NULL, "Pad_0", "pads of dimension 1 are out of range");
    mb = mb_new(13);
    mb_input(mb, "x", FLOAT, 4, I64S(1, 1, 8, 8));
    mb_init_f32_values(mb, "scales", 4, F32S(1, 1, 1e30f, 1));
    mb_node(mb, "Resize", "x,,scales", "y");
    mb_output(mb, "y");
    refuse_model(mb, NULL, "Resize_0", "scale 2 is");
    mb = mb_new(13);
    mb_input(mb, "x", FLOAT, 4, I64S(1, 1, 8, 8));
    mb_init_f32(mb, "w", 4, I64S(1, 1, 3, 3));
    mb_attr_ints(mb, mb_node(mb, "Conv", "x,w", "y"), "strides", NV(INT64_MAX, 1));
    mb_output(mb, "y");
    refuse_model(mb, NULL, "Conv_0", "attribute strides: value 0 is");
    mb = mb_new(13);
    mb_input(mb, "x", FLOAT, 2, I64S(4, 20));
    mb_init_i64(mb, "starts", 1, I64S(INT64_MAX));
    mb_init_i64(mb, "ends", 1, I64S(INT64_MIN));
    mb_init_i64(mb, "axes", 1, I64S(1));
    mb_init_i64(mb, "steps", 1, I64S(INT64_MIN));
    mb_node(mb, "Slice", "x,starts,ends,axes,steps", "y");
    mb_output(mb, "y");
    TsGraph *graph = import_model(mb, NULL);
    expect_output(graph, 0, TS_FLOAT32, 2, I64S(4, 1));
    ts_graph_free(graph);
}

/* The model's declared output types must be what inference gives. */
static void test_declared_output_types(void **state)
{
    (void)state;
    ModelBuilder *mb = mb_new(13);
    mb_input(mb, "x", FLOAT, 2, I64S(-1, 3));
    mb_node(mb, "Shape", "x", "y");
    mb_output_typed(mb, "y", FLOAT, 1, I64S(2));
    refuse_model(mb, NULL, "graph output \"y\" is declared float32, but inference gives int64");
    mb = mb_new(13);
    mb_input(mb, "x", FLOAT, 2, I64S(-1, 3));
    mb_node(mb, "Relu", "x", "y");
    mb_output_typed(mb, "y", FLOAT, 2, I64S(-1, 4));
    refuse_model(mb, NULL, "graph output \"y\" dimension 1 is declared 4, but inference gives 3");
    mb = mb_new(13);
    mb_input(mb, "x", FLOAT, 2, I64S(-1, 3));
    mb_node(mb, "Relu", "x", "y");
    mb_output_typed(mb, "y", FLOAT, 2, I64S(-1, 3)); /* a symbolic batch agrees with 1 */
    ts_graph_free(import_model(mb, NULL));
}

/* IR-3 models list their initializers among the graph inputs too: they stay constants. */
static void test_initializers_listed_as_inputs(void **state)
{
    (void)state;
    ModelBuilder *mb = mb_new(8);
    mb_model(mb)->ir_version = 3;
    mb_input(mb, "x", FLOAT, 2, I64S(2, 3));
    mb_input(mb, "b", FLOAT, 1, I64S(3));
    mb_init_f32(mb, "b", 1, I64S(3));
    mb_node(mb, "Add", "x,b", "y");
    mb_output(mb, "y");
    TsGraph *graph = import_model(mb, NULL);
    assert_int_equal(ts_graph_num_inputs(graph), 1);
    expect_output(graph, 0, TS_FLOAT32, 2, I64S(2, 3));
    assert_non_null(find_value(graph, "b")->constant);
    ts_graph_free(graph);
}

/* The verifier on graphs a pass could leave behind. */
static void test_verifier_names_the_node(void **state)
{
    (void)state;
    ModelBuilder *mb = relu_model(13);
    mb_init_f32(mb, "b", 2, I64S(2, 3));
    mb_node(mb, "Add", "y,b", "z");
    mb_output(mb, "z");
    TsGraph *graph = import_model(mb, NULL);
    TsError err;
    assert_int_equal(ts_graph_verify(graph, &err), TS_OK);
    RlyValue *b = find_value(graph, "b");
    b->dtype = TS_INT32;
    assert_int_equal(ts_graph_verify(graph, &err), TS_EINVAL);
    assert_non_null(strstr(err.message, "node \"Add_1\" (Add, opset 13): dtype mismatch"));
    b->dtype = TS_FLOAT32;
    /* Swap the nodes: Add now reads y before Relu defines it. */
    RlyNode *first = graph->nodes[0];
    graph->nodes[0] = graph->nodes[1];
    graph->nodes[1] = first;
    assert_int_equal(ts_graph_verify(graph, &err), TS_EINVAL);
    assert_non_null(strstr(err.message, "Add_1"));
    assert_non_null(strstr(err.message, "\"y\" is not defined before this node"));
    ts_graph_free(graph);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_opsets_out_of_range),
        cmocka_unit_test(test_external_data),
        cmocka_unit_test(test_control_flow_and_unknown_operators),
        cmocka_unit_test(test_structure_errors),
        cmocka_unit_test(test_type_and_rank_errors),
        cmocka_unit_test(test_unsupported_attribute_values),
        cmocka_unit_test(test_dynamic_shapes),
        cmocka_unit_test(test_absurd_dimensions),
        cmocka_unit_test(test_declared_output_types),
        cmocka_unit_test(test_initializers_listed_as_inputs),
        cmocka_unit_test(test_verifier_names_the_node),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
