/* Shape and type inference of every operator of the graph IR, on small models built here:
 * the forms the ONNX node tests do not cover (auto_pad, dilations, groups, 1-D
 * convolutions, ConvTranspose, batched MatMul, the activations, variadic broadcasting,
 * the shape operators in their attribute and input forms by opset, Resize and Upsample,
 * reductions, constants), expected shapes worked out from the ONNX operator
 * specifications; and inference run again after a constant becomes known. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "relay_testing.h"

enum { FLOAT = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, INT64 = ONNX__TENSOR_PROTO__DATA_TYPE__INT64 };

/* A model with input x of the given shape, the node built by the caller, output y. */
static ModelBuilder *with_input(int64_t opset, int ndim, const int64_t *dims)
{
    ModelBuilder *mb = mb_new(opset);
    mb_input(mb, "x", FLOAT, ndim, dims);
    mb_output(mb, "y");
    return mb;
}

static void expect_only_output(ModelBuilder *mb, TsDType dtype, int ndim, const int64_t *dims)
{
    TsGraph *graph = import_model(mb, NULL);
    assert_non_null(graph);
    expect_output(graph, 0, dtype, ndim, dims);
    assert_int_equal(ts_graph_verify(graph, NULL), TS_OK);
    ts_graph_free(graph);
}

static void test_conv_auto_pad_dilation_groups(void **state)
{
    (void)state;
    static const char *const pads[] = { "SAME_UPPER", "SAME_LOWER", "VALID", "NOTSET" };
    /* 9 wide, kernel 3 dilated by 2 (span 5), stride 2: SAME ceil(9/2) = 5, VALID
     * (9-5)/2+1 = 3, NOTSET with pads 1+1: (11-5)/2+1 = 4. */
    static const int64_t expected[] = { 5, 5, 3, 4 };
    for (int k = 0; k < 4; k++) {
        ModelBuilder *mb = with_input(13, 4, I64S(1, 4, 9, 9));
        mb_init_f32(mb, "w", 4, I64S(6, 2, 3, 3));
        Onnx__NodeProto *n = mb_node(mb, "Conv", "x,w", "y");
        mb_attr_string(mb, n, "auto_pad", pads[k]);
        mb_attr_int(mb, n, "group", 2);
        mb_attr_ints(mb, n, "strides", NV(2, 2));
        mb_attr_ints(mb, n, "dilations", NV(2, 2));
        if (k == 3)
            mb_attr_ints(mb, n, "pads", NV(1, 1, 1, 1));
        expect_only_output(mb, TS_FLOAT32, 4, I64S(1, 6, expected[k], expected[k]));
    }
    /* 1-D with groups and a bias. */
    ModelBuilder *mb = with_input(11, 3, I64S(1, 4, 10));
    mb_init_f32(mb, "w", 3, I64S(6, 2, 3));
    mb_init_f32(mb, "b", 1, I64S(6));
    mb_attr_ints(mb, mb_node(mb, "Conv", "x,w,b", "y"), "pads", NV(1, 1));
    mb_attr_int(mb, mb_model(mb)->graph->node[0], "group", 2);
    expect_only_output(mb, TS_FLOAT32, 3, I64S(1, 6, 10));
}

static void test_conv_transpose(void **state)
{
    (void)state;
    /* 2*(3-1) + 1 + 3 - 1 - 1 = 6; group 2 doubles the weight's 2 output channels. */
    ModelBuilder *mb = with_input(11, 4, I64S(1, 4, 3, 3));
    mb_init_f32(mb, "w", 4, I64S(4, 2, 3, 3));
    Onnx__NodeProto *n = mb_node(mb, "ConvTranspose", "x,w", "y");
    mb_attr_ints(mb, n, "strides", NV(2, 2));
    mb_attr_ints(mb, n, "output_padding", NV(1, 1));
    mb_attr_ints(mb, n, "pads", NV(1, 1, 1, 1));
    mb_attr_int(mb, n, "group", 2);
    expect_only_output(mb, TS_FLOAT32, 4, I64S(1, 4, 6, 6));
    mb = with_input(11, 4, I64S(1, 2, 3, 3));
    mb_init_f32(mb, "w", 4, I64S(2, 4, 3, 3));
    mb_attr_ints(mb, mb_node(mb, "ConvTranspose", "x,w", "y"), "output_shape", NV(8, 7));
    expect_only_output(mb, TS_FLOAT32, 4, I64S(1, 4, 8, 7));
}

static void test_gemm_matmul(void **state)
{
    (void)state;
    ModelBuilder *mb = with_input(13, 2, I64S(2, 3));
    mb_init_f32(mb, "b", 2, I64S(4, 3));
    mb_init_f32(mb, "c", 1, I64S(4));
    mb_attr_int(mb, mb_node(mb, "Gemm", "x,b,c", "y"), "transB", 1);
    expect_only_output(mb, TS_FLOAT32, 2, I64S(2, 4));
    mb = with_input(13, 4, I64S(2, 1, 3, 4));
    mb_init_f32(mb, "b", 3, I64S(5, 4, 6));
    mb_node(mb, "MatMul", "x,b", "y");
    expect_only_output(mb, TS_FLOAT32, 4, I64S(2, 5, 3, 6));
    mb = with_input(13, 1, I64S(4));
    mb_init_f32(mb, "b", 3, I64S(3, 4, 6));
    mb_node(mb, "MatMul", "x,b", "y");
    expect_only_output(mb, TS_FLOAT32, 2, I64S(3, 6));
    mb = with_input(13, 3, I64S(3, 5, 4));
    mb_init_f32(mb, "b", 1, I64S(4));
    mb_node(mb, "MatMul", "x,b", "y");
    expect_only_output(mb, TS_FLOAT32, 2, I64S(3, 5));
}

static void test_normalizations_and_activations(void **state)
{
    (void)state;
    ModelBuilder *mb = with_input(20, 3, I64S(2, 5, 8));
    mb_init_f32(mb, "s", 1, I64S(8));
    mb_init_f32(mb, "b", 1, I64S(8));
    mb_node(mb, "LayerNormalization", "x,s,b", "a0");
    mb_attr_float(mb, mb_node(mb, "LeakyRelu", "a0", "a1"), "alpha", 0.2f);
    mb_node(mb, "Sigmoid", "a1", "a2");
    mb_node(mb, "Tanh", "a2", "a3");
    mb_node(mb, "HardSigmoid", "a3", "a4");
    mb_node(mb, "HardSwish", "a4", "a5");
    mb_node(mb, "Erf", "a5", "a6");
    mb_attr_string(mb, mb_node(mb, "Gelu", "a6", "a7"), "approximate", "tanh");
    mb_node(mb, "Sqrt", "a7", "a8");
    mb_node(mb, "Relu", "a8", "a9");
    mb_node(mb, "Identity", "a9", "a10");
    mb_node(mb, "Clip", "a10", "y");
    expect_only_output(mb, TS_FLOAT32, 3, I64S(2, 5, 8));
    mb = with_input(9, 4, I64S(1, 3, 4, 4));
    for (int k = 1; k <= 4; k++)
        mb_init_f32(mb, (const char *[]){ "", "s", "b", "m", "v" }[k], 1, I64S(3));
    mb_node(mb, "BatchNormalization", "x,s,b,m,v", "y");
    expect_only_output(mb, TS_FLOAT32, 4, I64S(1, 3, 4, 4));
}

static void test_broadcast_and_variadic(void **state)
{
    (void)state;
    ModelBuilder *mb = with_input(13, 3, I64S(2, 1, 4));
    mb_init_f32(mb, "b", 2, I64S(3, 1));
    mb_init_f32(mb, "c", 1, I64S(4));
    mb_node(mb, "Sub", "x,b", "t0");
    mb_node(mb, "Div", "t0,c", "t1");
    mb_node(mb, "Mul", "t1,b", "t2");
    mb_init_i64(mb, "e", 1, I64S(2));
    mb_node(mb, "Pow", "t2,e", "t3"); /* an int64 exponent of a float base (opset 12 on) */
    mb_node(mb, "Sum", "t3,b,c", "t4");
    mb_node(mb, "Max", "t4", "t5");
    mb_node(mb, "Min", "t5,c", "t6");
    mb_node(mb, "Mean", "t6,b", "y");
    expect_only_output(mb, TS_FLOAT32, 3, I64S(2, 3, 4));
}

static void test_pools(void **state)
{
    (void)state;
    ModelBuilder *mb = with_input(13, 4, I64S(1, 3, 7, 7));
    Onnx__NodeProto *n = mb_node(mb, "MaxPool", "x", "y");
    mb_attr_ints(mb, n, "kernel_shape", NV(3, 3));
    mb_attr_ints(mb, n, "strides", NV(2, 2));
    mb_attr_string(mb, n, "auto_pad", "SAME_LOWER");
    expect_only_output(mb, TS_FLOAT32, 4, I64S(1, 3, 4, 4));
    /* ceil((6+2-3)/2)+1 = 4; the last window starts at 6 < 6+1, so it stays. */
    mb = with_input(13, 4, I64S(1, 1, 6, 6));
    n = mb_node(mb, "AveragePool", "x", "y");
    mb_attr_ints(mb, n, "kernel_shape", NV(3, 3));
    mb_attr_ints(mb, n, "strides", NV(2, 2));
    mb_attr_ints(mb, n, "pads", NV(1, 1, 1, 1));
    mb_attr_int(mb, n, "ceil_mode", 1);
    expect_only_output(mb, TS_FLOAT32, 4, I64S(1, 1, 4, 4));
    mb = with_input(13, 3, I64S(2, 3, 9));
    mb_attr_ints(mb, mb_node(mb, "MaxPool", "x", "y"), "kernel_shape", NV(4));
    expect_only_output(mb, TS_FLOAT32, 3, I64S(2, 3, 6));
    mb = with_input(13, 4, I64S(2, 3, 9, 5));
    mb_node(mb, "GlobalAveragePool", "x", "y");
    expect_only_output(mb, TS_FLOAT32, 4, I64S(2, 3, 1, 1));
}

static void test_split_by_opset(void **state)
{
    (void)state;
    ModelBuilder *mb = mb_new(13);
    mb_input(mb, "x", FLOAT, 3, I64S(1, 6, 4));
    mb_init_i64(mb, "split", 2, I64S(2, 4));
    mb_attr_int(mb, mb_node(mb, "Split", "x,split", "a,b"), "axis", 1);
    mb_output(mb, "a");
    mb_output(mb, "b");
    TsGraph *graph = import_model(mb, NULL);
    expect_output(graph, 0, TS_FLOAT32, 3, I64S(1, 2, 4));
    expect_output(graph, 1, TS_FLOAT32, 3, I64S(1, 4, 4));
    ts_graph_free(graph);
    mb = mb_new(11);
    mb_input(mb, "x", FLOAT, 2, I64S(6, 4));
    mb_attr_ints(mb, mb_node(mb, "Split", "x", "a,b"), "split", NV(1, 5));
    mb_output(mb, "a");
    mb_output(mb, "b");
    graph = import_model(mb, NULL);
    expect_output(graph, 1, TS_FLOAT32, 2, I64S(5, 4));
    ts_graph_free(graph);
    /* num_outputs (opset 18): chunks of ceil(7/3) = 3, the last one 1. */
    mb = mb_new(18);
    mb_input(mb, "x", FLOAT, 1, I64S(7));
    mb_attr_int(mb, mb_node(mb, "Split", "x", "a,b,c"), "num_outputs", 3);
    mb_output(mb, "a");
    mb_output(mb, "c");
    graph = import_model(mb, NULL);
    expect_output(graph, 0, TS_FLOAT32, 1, I64S(3));
    expect_output(graph, 1, TS_FLOAT32, 1, I64S(1));
    ts_graph_free(graph);
}

static void test_slice_by_opset(void **state)
{
    (void)state;
    ModelBuilder *mb = with_input(13, 3, I64S(10, 20, 30));
    mb_init_i64(mb, "starts", 2, I64S(1, -5));
    mb_init_i64(mb, "ends", 2, I64S(INT64_MAX, -1));
    mb_init_i64(mb, "axes", 2, I64S(0, 2));
    mb_init_i64(mb, "steps", 2, I64S(2, 1));
    mb_node(mb, "Slice", "x,starts,ends,axes,steps", "y");
    expect_only_output(mb, TS_FLOAT32, 3, I64S(5, 20, 4));
    /* Backwards by 3 from the last element: 19, 16, ..., 1. */
    mb = with_input(13, 2, I64S(4, 20));
    mb_init_i64(mb, "starts", 1, I64S(-1));
    mb_init_i64(mb, "ends", 1, I64S(INT64_MIN));
    mb_init_i64(mb, "axes", 1, I64S(1));
    mb_init_i64(mb, "steps", 1, I64S(-3));
    mb_node(mb, "Slice", "x,starts,ends,axes,steps", "y");
    expect_only_output(mb, TS_FLOAT32, 2, I64S(4, 7));
    mb = with_input(9, 2, I64S(4, 20));
    Onnx__NodeProto *n = mb_node(mb, "Slice", "x", "y");
    mb_attr_ints(mb, n, "starts", NV(1, 0));
    mb_attr_ints(mb, n, "ends", NV(3, 100));
    expect_only_output(mb, TS_FLOAT32, 2, I64S(2, 20));
}

static void test_pad_reshape_flatten_transpose(void **state)
{
    (void)state;
    ModelBuilder *mb = with_input(13, 4, I64S(1, 3, 8, 8));
    mb_init_i64(mb, "pads", 8, I64S(0, 0, 1, 2, 0, 0, 3, 4));
    mb_attr_string(mb, mb_node(mb, "Pad", "x,pads", "y"), "mode", "reflect");
    expect_only_output(mb, TS_FLOAT32, 4, I64S(1, 3, 12, 14));
    mb = with_input(10, 2, I64S(3, 4));
    mb_attr_ints(mb, mb_node(mb, "Pad", "x", "y"), "pads", NV(1, 0, 2, 0));
    expect_only_output(mb, TS_FLOAT32, 2, I64S(6, 4));
    /* 0 copies the input's extent, -1 takes the rest. */
    mb = with_input(14, 3, I64S(2, 3, 4));
    mb_init_i64(mb, "shape", 3, I64S(2, -1, 0));
    mb_node(mb, "Reshape", "x,shape", "y");
    expect_only_output(mb, TS_FLOAT32, 3, I64S(2, 3, 4));
    mb = with_input(13, 4, I64S(2, 3, 4, 5));
    mb_attr_int(mb, mb_node(mb, "Flatten", "x", "y"), "axis", 0);
    expect_only_output(mb, TS_FLOAT32, 2, I64S(1, 120));
    mb = with_input(13, 3, I64S(2, 3, 4));
    mb_node(mb, "Transpose", "x", "y");
    expect_only_output(mb, TS_FLOAT32, 3, I64S(4, 3, 2));
    mb = with_input(13, 3, I64S(2, 3, 4));
    mb_attr_ints(mb, mb_node(mb, "Transpose", "x", "y"), "perm", NV(0, 2, 1));
    expect_only_output(mb, TS_FLOAT32, 3, I64S(2, 4, 3));
}

static void test_squeeze_unsqueeze_by_opset(void **state)
{
    (void)state;
    ModelBuilder *mb = with_input(11, 3, I64S(2, 1, 4));
    mb_attr_ints(mb, mb_node(mb, "Squeeze", "x", "y"), "axes", NV(1));
    expect_only_output(mb, TS_FLOAT32, 2, I64S(2, 4));
    mb = with_input(13, 4, I64S(1, 2, 1, 4));
    mb_init_i64(mb, "axes", 1, I64S(-2));
    mb_node(mb, "Squeeze", "x,axes", "y");
    expect_only_output(mb, TS_FLOAT32, 3, I64S(1, 2, 4));
    mb = with_input(13, 4, I64S(1, 2, 1, 4));
    mb_node(mb, "Squeeze", "x", "y");
    expect_only_output(mb, TS_FLOAT32, 2, I64S(2, 4));
    mb = with_input(11, 2, I64S(2, 3));
    mb_attr_ints(mb, mb_node(mb, "Unsqueeze", "x", "y"), "axes", NV(0, 3));
    expect_only_output(mb, TS_FLOAT32, 4, I64S(1, 2, 3, 1));
    mb = with_input(13, 2, I64S(2, 3));
    mb_init_i64(mb, "axes", 1, I64S(-1));
    mb_node(mb, "Unsqueeze", "x,axes", "y");
    expect_only_output(mb, TS_FLOAT32, 3, I64S(2, 3, 1));
}

static void test_shape_gather_expand_cast(void **state)
{
    (void)state;
    ModelBuilder *mb = with_input(13, 4, I64S(1, 3, 8, 8));
    mb_node(mb, "Shape", "x", "y");
    expect_only_output(mb, TS_INT64, 1, I64S(4));
    mb = with_input(15, 4, I64S(1, 3, 8, 8));
    mb_attr_int(mb, mb_node(mb, "Shape", "x", "y"), "start", 1);
    expect_only_output(mb, TS_INT64, 1, I64S(3));
    mb = with_input(13, 3, I64S(2, 5, 3));
    mb_init_i64(mb, "i", 8, I64S(0, 1, 2, 3, 4, 0, 1, 2));
    int64_t indices_shape[2] = { 4, 2 }; /* the 8 indices as a [4, 2] tensor */
    mb_model(mb)->graph->initializer[0]->n_dims = 2;
    mb_model(mb)->graph->initializer[0]->dims = indices_shape;
    mb_attr_int(mb, mb_node(mb, "Gather", "x,i", "y"), "axis", 1);
    expect_only_output(mb, TS_FLOAT32, 4, I64S(2, 4, 2, 3));
    mb = with_input(13, 2, I64S(3, 1));
    mb_init_i64(mb, "shape", 3, I64S(2, 1, 6));
    mb_node(mb, "Expand", "x,shape", "y");
    expect_only_output(mb, TS_FLOAT32, 3, I64S(2, 3, 6));
    mb = with_input(13, 2, I64S(3, 1));
    mb_attr_int(mb, mb_node(mb, "Cast", "x", "y"), "to", ONNX__TENSOR_PROTO__DATA_TYPE__INT32);
    expect_only_output(mb, TS_INT32, 2, I64S(3, 1));
}

static void test_resize_upsample(void **state)
{
    (void)state;
    ModelBuilder *mb = with_input(13, 4, I64S(1, 3, 8, 8));
    mb_init_f32_values(mb, "scales", 4, F32S(1, 1, 2, 1.5f));
    mb_attr_string(mb, mb_node(mb, "Resize", "x,,scales", "y"), "mode", "linear");
    expect_only_output(mb, TS_FLOAT32, 4, I64S(1, 3, 16, 12));
    mb = with_input(13, 4, I64S(1, 3, 8, 8));
    mb_init_i64(mb, "sizes", 4, I64S(1, 3, 5, 7));
    mb_node(mb, "Resize", "x,,,sizes", "y");
    expect_only_output(mb, TS_FLOAT32, 4, I64S(1, 3, 5, 7));
    mb = with_input(10, 4, I64S(1, 3, 8, 8));
    mb_init_f32_values(mb, "scales", 4, F32S(1, 1, 2, 2));
    mb_node(mb, "Resize", "x,scales", "y");
    expect_only_output(mb, TS_FLOAT32, 4, I64S(1, 3, 16, 16));
    mb = with_input(9, 4, I64S(1, 3, 8, 8));
    mb_init_f32_values(mb, "scales", 4, F32S(1, 1, 2, 3));
    mb_node(mb, "Upsample", "x,scales", "y");
    expect_only_output(mb, TS_FLOAT32, 4, I64S(1, 3, 16, 24));
    mb = with_input(7, 4, I64S(1, 3, 8, 8));
    mb_attr_floats(mb, mb_node(mb, "Upsample", "x", "y"), "scales", 4, F32S(1, 1, 2, 2));
    expect_only_output(mb, TS_FLOAT32, 4, I64S(1, 3, 16, 16));
}

static void test_softmax_reductions_dropout(void **state)
{
    (void)state;
    ModelBuilder *mb = with_input(11, 4, I64S(1, 3, 8, 8));
    mb_node(mb, "Softmax", "x", "y");
    expect_only_output(mb, TS_FLOAT32, 4, I64S(1, 3, 8, 8));
    mb = with_input(13, 4, I64S(1, 3, 8, 8));
    mb_attr_ints(mb, mb_node(mb, "ReduceMean", "x", "y"), "axes", NV(2, 3));
    expect_only_output(mb, TS_FLOAT32, 4, I64S(1, 3, 1, 1));
    mb = with_input(18, 4, I64S(1, 3, 8, 8));
    mb_init_i64(mb, "axes", 1, I64S(1));
    mb_attr_int(mb, mb_node(mb, "ReduceMean", "x,axes", "y"), "keepdims", 0);
    expect_only_output(mb, TS_FLOAT32, 3, I64S(1, 8, 8));
    mb = with_input(13, 4, I64S(1, 3, 8, 8));
    mb_attr_int(mb, mb_node(mb, "ReduceSum", "x", "y"), "noop_with_empty_axes", 1);
    expect_only_output(mb, TS_FLOAT32, 4, I64S(1, 3, 8, 8));
    mb = with_input(11, 4, I64S(1, 3, 8, 8));
    mb_node(mb, "ReduceSum", "x", "y");
    expect_only_output(mb, TS_FLOAT32, 4, I64S(1, 1, 1, 1));
    mb = mb_new(12);
    mb_input(mb, "x", FLOAT, 2, I64S(3, 4));
    mb_node(mb, "Dropout", "x", "y,mask");
    mb_output(mb, "mask");
    TsGraph *graph = import_model(mb, NULL);
    expect_output(graph, 0, TS_BOOL, 2, I64S(3, 4));
    ts_graph_free(graph);
}

static void test_constants(void **state)
{
    (void)state;
    ModelBuilder *mb = with_input(13, 1, I64S(6));
    mb_attr_tensor_i64(mb, mb_node(mb, "Constant", "", "shape"), "value", 2, I64S(2, 3));
    mb_node(mb, "Reshape", "x,shape", "y");
    expect_only_output(mb, TS_FLOAT32, 2, I64S(2, 3));
    mb = mb_new(13);
    mb_init_i64(mb, "shape", 2, I64S(2, 3));
    mb_attr_tensor_i64(mb, mb_node(mb, "ConstantOfShape", "shape", "y"), "value", 1, I64S(7));
    mb_output(mb, "y");
    expect_only_output(mb, TS_INT64, 2, I64S(2, 3));
    mb = mb_new(13);
    mb_attr_floats(mb, mb_node(mb, "Constant", "", "y"), "value_floats", 3, F32S(1, 2, 3));
    mb_output(mb, "y");
    expect_only_output(mb, TS_FLOAT32, 1, I64S(3));
}

/* A Reshape whose target is computed (Shape -> Gather -> Concat) waits for constant
 * folding: its extents stay unknown, the printer shows them as ?, and inference run again
 * once the target is a constant fills them. */
static void test_reinference_after_folding(void **state)
{
    (void)state;
    ModelBuilder *mb = with_input(13, 3, I64S(2, 3, 4));
    mb_init_i64(mb, "zero", 1, I64S(0));
    mb_init_i64(mb, "rest", 1, I64S(-1));
    mb_node(mb, "Shape", "x", "s");
    mb_node(mb, "Gather", "s,zero", "n");
    mb_attr_int(mb, mb_node(mb, "Concat", "n,rest", "target"), "axis", 0);
    mb_node(mb, "Reshape", "x,target", "y");
    TsGraph *graph = import_model(mb, NULL);
    const char *name;
    TsDType dtype;
    int ndim;
    int64_t dims[TS_GRAPH_MAX_DIMS];
    assert_false(ts_graph_output_type(graph, 0, &name, &dtype, &ndim, dims));
    assert_int_equal(ndim, 2);
    assert_int_equal(dims[0], -1);
    TsArena *arena = ts_arena_create();
    const char *text = ts_graph_str(arena, graph);
    assert_non_null(strstr(text, "%y : float32[?, ?] = Reshape"));
    /* What constant folding will do: the target becomes the constant [2, -1]. */
    static const int64_t folded[2] = { 2, -1 };
    static RlyConst target = { .ndim = 1, .shape = { 2 }, .num_elements = 2, .data = folded };
    target.dtype = TS_INT64;
    find_value(graph, "target")->constant = &target;
    assert_int_equal(ts_graph_infer(graph, NULL), TS_OK);
    expect_output(graph, 0, TS_FLOAT32, 2, I64S(2, 12));
    assert_int_equal(ts_graph_verify(graph, NULL), TS_OK);
    ts_arena_destroy(arena);
    ts_graph_free(graph);
}

/* Whole networks in small: a ResNet stem and residual block, and a transformer encoder's
 * attention and feed-forward, as PyTorch exports them. */
static void test_small_networks(void **state)
{
    (void)state;
    ModelBuilder *mb = with_input(13, 4, I64S(-1, 3, 32, 32));
    mb_init_f32(mb, "w0", 4, I64S(8, 3, 7, 7));
    Onnx__NodeProto *n = mb_node(mb, "Conv", "x,w0", "c0");
    mb_attr_ints(mb, n, "strides", NV(2, 2));
    mb_attr_ints(mb, n, "pads", NV(3, 3, 3, 3));
    static const char *const bn[] = { "s", "b", "m", "v" };
    for (int k = 0; k < 4; k++)
        mb_init_f32(mb, bn[k], 1, I64S(8));
    mb_node(mb, "BatchNormalization", "c0,s,b,m,v", "n0");
    mb_node(mb, "Relu", "n0", "r0");
    n = mb_node(mb, "MaxPool", "r0", "p0");
    mb_attr_ints(mb, n, "kernel_shape", NV(3, 3));
    mb_attr_ints(mb, n, "strides", NV(2, 2));
    mb_attr_ints(mb, n, "pads", NV(1, 1, 1, 1));
    mb_init_f32(mb, "w1", 4, I64S(8, 8, 3, 3));
    mb_attr_ints(mb, mb_node(mb, "Conv", "p0,w1", "c1"), "pads", NV(1, 1, 1, 1));
    mb_node(mb, "Add", "c1,p0", "a1");
    mb_node(mb, "Relu", "a1", "r1");
    mb_node(mb, "GlobalAveragePool", "r1", "g");
    mb_node(mb, "Flatten", "g", "f");
    mb_init_f32(mb, "fc", 2, I64S(10, 8));
    mb_init_f32(mb, "fcb", 1, I64S(10));
    mb_attr_int(mb, mb_node(mb, "Gemm", "f,fc,fcb", "y"), "transB", 1);
    expect_only_output(mb, TS_FLOAT32, 2, I64S(1, 10));

    /* Self-attention on [1, 16, 32] with 4 heads, then a GELU feed-forward. */
    mb = with_input(17, 3, I64S(1, 16, 32));
    mb_init_f32(mb, "wq", 2, I64S(32, 32));
    mb_init_i64(mb, "heads", 4, I64S(1, 16, 4, 8));
    mb_init_i64(mb, "merged", 3, I64S(1, 16, 32));
    mb_init_f32_values(mb, "scale", 1, F32S(0.35f));
    mb_node(mb, "MatMul", "x,wq", "q");
    mb_node(mb, "Reshape", "q,heads", "qh");
    mb_attr_ints(mb, mb_node(mb, "Transpose", "qh", "qt"), "perm", NV(0, 2, 1, 3));
    mb_attr_ints(mb, mb_node(mb, "Transpose", "qh", "kt"), "perm", NV(0, 2, 3, 1));
    mb_node(mb, "MatMul", "qt,kt", "scores");
    mb_node(mb, "Mul", "scores,scale", "scaled");
    mb_attr_int(mb, mb_node(mb, "Softmax", "scaled", "attn"), "axis", -1);
    mb_node(mb, "MatMul", "attn,qt", "ctx");
    mb_attr_ints(mb, mb_node(mb, "Transpose", "ctx", "ctxt"), "perm", NV(0, 2, 1, 3));
    mb_node(mb, "Reshape", "ctxt,merged", "merged_ctx");
    mb_node(mb, "Add", "merged_ctx,x", "res");
    mb_init_f32(mb, "ln_s", 1, I64S(32));
    mb_init_f32(mb, "ln_b", 1, I64S(32));
    mb_node(mb, "LayerNormalization", "res,ln_s,ln_b", "ln");
    mb_init_f32(mb, "w1", 2, I64S(32, 64));
    mb_node(mb, "MatMul", "ln,w1", "h");
    mb_init_f32_values(mb, "half", 1, F32S(0.5f));
    mb_node(mb, "Mul", "h,half", "h2");
    mb_node(mb, "Erf", "h2", "e");
    mb_node(mb, "Add", "e,half", "e2");
    mb_node(mb, "Mul", "h,e2", "gelu");
    mb_init_f32(mb, "w2", 2, I64S(64, 32));
    mb_node(mb, "MatMul", "gelu,w2", "ff");
    mb_attr_ints(mb, mb_node(mb, "ReduceMean", "ff", "y"), "axes", NV(-1));
    expect_only_output(mb, TS_FLOAT32, 3, I64S(1, 16, 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_auto_pad_dilation_groups),
        cmocka_unit_test(test_conv_transpose),
        cmocka_unit_test(test_gemm_matmul),
        cmocka_unit_test(test_normalizations_and_activations),
        cmocka_unit_test(test_broadcast_and_variadic),
        cmocka_unit_test(test_pools),
        cmocka_unit_test(test_split_by_opset),
        cmocka_unit_test(test_slice_by_opset),
        cmocka_unit_test(test_pad_reshape_flatten_transpose),
        cmocka_unit_test(test_squeeze_unsqueeze_by_opset),
        cmocka_unit_test(test_shape_gather_expand_cast),
        cmocka_unit_test(test_resize_upsample),
        cmocka_unit_test(test_softmax_reductions_dropout),
        cmocka_unit_test(test_constants),
        cmocka_unit_test(test_reinference_after_folding),
        cmocka_unit_test(test_small_networks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
