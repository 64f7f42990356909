/* The graph passes before fusion, on small models built here: the pipeline's table and
 * its options, remove_identity (golden graphs; a Dropout mask becoming a constant),
 * fold_constants (a torch-style flatten chain folding to a constant Reshape target; the
 * values of each host kernel, worked out by hand), eliminate_dead, and the errors that
 * name the node. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "relay_testing.h"

enum {
    FLOAT = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT,
    INT64 = ONNX__TENSOR_PROTO__DATA_TYPE__INT64,
    BOOL = ONNX__TENSOR_PROTO__DATA_TYPE__BOOL
};

static ModelBuilder *with_input(int64_t opset, int ndim, const int64_t *dims)
{
    ModelBuilder *mb = mb_new(opset);
    mb_input(mb, "x", FLOAT, ndim, dims);
    return mb;
}

static const RlyConst *constant_of(const TsGraph *graph, const char *name)
{
    const RlyValue *v = find_value(graph, name);
    assert_non_null(v);
    assert_int_equal(v->kind, RLY_VALUE_INITIALIZER);
    assert_non_null(v->constant);
    return v->constant;
}

static void expect_ints(const TsGraph *graph, const char *name, int n, const int64_t *want)
{
    const RlyConst *c = constant_of(graph, name);
    assert_true(ts_dtype_eq(c->dtype, TS_INT64));
    assert_int_equal(c->num_elements, n);
    for (int k = 0; k < n; k++)
        assert_int_equal(((const int64_t *)c->data)[k], want[k]);
}

static void expect_floats(const TsGraph *graph, const char *name, int n, const float *want)
{
    const RlyConst *c = constant_of(graph, name);
    assert_true(ts_dtype_eq(c->dtype, TS_FLOAT32));
    assert_int_equal(c->num_elements, n);
    for (int k = 0; k < n; k++)
        assert_float_equal(((const float *)c->data)[k], want[k], 0);
}

/* ---- the pipeline ---- */

static void test_pipeline_table_and_options(void **state)
{
    (void)state;
    static const char *const names[] = { "remove_identity", "fuse_qdq",        "fold_constants",
                                         "eliminate_dead",  "fold_batch_norm", "fuse",
                                         "memory_plan" };
    assert_int_equal(ts_graph_num_passes(), 7);
    for (int k = 0; k < 7; k++) {
        assert_string_equal(ts_graph_pass_name(k), names[k]);
        assert_true(strlen(ts_graph_pass_summary(k)) > 10);
    }
    assert_null(ts_graph_pass_name(7));
    ModelBuilder *mb = with_input(13, 2, I64S(2, 3));
    mb_node(mb, "Identity", "x", "a");
    mb_node(mb, "Relu", "a", "y");
    mb_output(mb, "y");
    TsGraph *graph = import_model(mb, NULL);
    TsError err;
    TsGraphOptions options = { .stop_after = "fold" };
    assert_int_equal(ts_graph_optimize(graph, &options, &err), TS_EINVAL);
    assert_non_null(strstr(err.message, "\"fold\""));
    assert_non_null(
        strstr(err.message, "remove_identity, fuse_qdq, fold_constants, eliminate_dead"));
    static const char *const off[] = { "fuse", "dce" };
    options = (TsGraphOptions){ .disabled = off, .num_disabled = 2 };
    assert_int_equal(ts_graph_optimize(graph, &options, &err), TS_EINVAL);
    assert_non_null(strstr(err.message, "\"dce\""));
    options = (TsGraphOptions){ .num_disabled = 1 };
    assert_int_equal(ts_graph_optimize(graph, &options, &err), TS_EINVAL);
    assert_non_null(strstr(err.message, "no list"));
    /* Nothing ran: the Identity is still there. */
    assert_int_equal(count_op(graph, RLY_OP_IDENTITY), 1);
    /* remove_identity turned off: fusion still groups the Identity. */
    options = (TsGraphOptions){ .disabled = names, .num_disabled = 1, .stop_after = "fuse" };
    assert_int_equal(ts_graph_optimize(graph, &options, &err), TS_OK);
    assert_int_equal(count_op(graph, RLY_OP_IDENTITY), 1);
    assert_int_equal(graph->num_groups, 1);
    /* A full run plans memory; fusing again alone drops the plan made for the old groups. */
    run_passes(graph, NULL);
    assert_non_null(graph->plan);
    static const char *const rewriting[] = { "remove_identity", "fold_constants", "eliminate_dead",
                                             "fold_batch_norm" };
    options = (TsGraphOptions){ .disabled = rewriting, .num_disabled = 4, .stop_after = "fuse" };
    assert_int_equal(ts_graph_optimize(graph, &options, &err), TS_OK);
    assert_null(graph->plan);
    assert_int_equal(graph->num_groups, 1);
    ts_graph_free(graph);
    /* memory_plan without fusion groups is refused, saying why. */
    mb = with_input(13, 2, I64S(2, 3));
    mb_node(mb, "Relu", "x", "y");
    mb_output(mb, "y");
    graph = import_model(mb, NULL);
    static const char *const no_fuse[] = { "fuse" };
    options = (TsGraphOptions){ .disabled = no_fuse, .num_disabled = 1 };
    assert_int_equal(ts_graph_optimize(graph, &options, &err), TS_EINVAL);
    assert_non_null(strstr(err.message, "fuse was turned off"));
    ts_graph_free(graph);
}

/* ---- remove_identity ---- */

static void test_remove_identity_golden(void **state)
{
    (void)state;
    ModelBuilder *mb = with_input(13, 2, I64S(2, 3));
    mb_node(mb, "Relu", "x", "a");
    mb_node(mb, "Identity", "a", "b");
    mb_node(mb, "Sigmoid", "b", "c");
    mb_node(mb, "Identity", "c", "y"); /* a graph output: c is renamed y */
    mb_node(mb, "Identity", "x", "z"); /* a copy of an input: stays */
    mb_output(mb, "y");
    mb_output(mb, "z");
    TsGraph *graph = import_model(mb, NULL);
    run_passes(graph, "remove_identity");
    expect_graph_text(graph, "graph \"g\" (opset 13, from model.onnx)\n"
                             "  input  %x : float32[2, 3]\n"
                             "  %a : float32[2, 3] = Relu \"Relu_0\" (%x)\n"
                             "  %y : float32[2, 3] = Sigmoid \"Sigmoid_2\" (%a)\n"
                             "  %z : float32[2, 3] = Identity \"Identity_4\" (%x)\n"
                             "  output %y\n"
                             "  output %z\n");
    ts_graph_free(graph);
}

/* Dropout in inference: y is x; the mask, read by a Cast, becomes all true, and folding
 * then makes the Cast a constant of ones. */
static void test_dropout_mask_becomes_constant(void **state)
{
    (void)state;
    ModelBuilder *mb = with_input(13, 2, I64S(2, 3));
    mb_node(mb, "Dropout", "x", "d,mask");
    mb_attr_int(mb, mb_node(mb, "Cast", "mask", "m"), "to", FLOAT);
    mb_node(mb, "Add", "d,m", "y");
    mb_output(mb, "y");
    TsGraph *graph = import_model(mb, NULL);
    run_passes(graph, "remove_identity");
    assert_int_equal(count_op(graph, RLY_OP_DROPOUT), 0);
    const RlyConst *mask = constant_of(graph, "mask");
    assert_true(ts_dtype_eq(mask->dtype, TS_BOOL));
    assert_int_equal(mask->num_elements, 6);
    for (int k = 0; k < 6; k++)
        assert_int_equal(((const uint8_t *)mask->data)[k], 1);
    run_passes(graph, "fold_constants");
    expect_floats(graph, "m", 6, F32S(1, 1, 1, 1, 1, 1));
    assert_int_equal(graph->num_nodes, 1);
    assert_ptr_equal(graph->nodes[0]->inputs[0], find_value(graph, "x"));
    ts_graph_free(graph);
}

/* ---- fold_constants ---- */

/* torch.flatten(x, 1) as exported: Shape -> Gather(0) -> Unsqueeze -> Concat(-1) ->
 * Reshape. Folding leaves the Reshape with the constant target [2, -1], and inference
 * then knows the output is [2, 12]. At opset 11 (axes an attribute) and 13 (an input). */
static void test_fold_flatten_chain(void **state)
{
    (void)state;
    for (int opset = 11; opset <= 13; opset += 2) {
        ModelBuilder *mb = with_input(opset, 3, I64S(2, 3, 4));
        mb_init_i64_scalar(mb, "zero", 0);
        mb_init_i64(mb, "minus_one", 1, I64S(-1));
        mb_node(mb, "Shape", "x", "s");
        mb_node(mb, "Gather", "s,zero", "n");
        if (opset < 13) {
            mb_attr_ints(mb, mb_node(mb, "Unsqueeze", "n", "n1"), "axes", NV(0));
        } else {
            mb_init_i64(mb, "axes", 1, I64S(0));
            mb_node(mb, "Unsqueeze", "n,axes", "n1");
        }
        mb_attr_int(mb, mb_node(mb, "Concat", "n1,minus_one", "target"), "axis", 0);
        mb_node(mb, "Reshape", "x,target", "flat");
        mb_node(mb, "Relu", "flat", "y");
        mb_output(mb, "y");
        TsGraph *graph = import_model(mb, NULL);
        assert_int_equal(graph->nodes[graph->num_nodes - 1]->outputs[0]->dims[0], -1);
        run_passes(graph, "fold_constants");
        expect_ints(graph, "target", 2, I64S(2, -1));
        assert_int_equal(graph->num_nodes, 2);
        assert_int_equal(count_op(graph, RLY_OP_RESHAPE), 1);
        expect_output(graph, 0, TS_FLOAT32, 2, I64S(2, 12));
        ts_graph_free(graph);
    }
}

/* The printed graph after folding: only the Reshape and Relu are left, the folded target
 * a constant, the intermediate constants (s, n, n1) gone with their nodes. */
static void test_fold_flatten_golden(void **state)
{
    (void)state;
    ModelBuilder *mb = with_input(13, 3, I64S(2, 3, 4));
    mb_init_i64_scalar(mb, "zero", 0);
    mb_init_i64(mb, "minus_one", 1, I64S(-1));
    mb_init_i64(mb, "axes", 1, I64S(0));
    mb_node(mb, "Shape", "x", "s");
    mb_node(mb, "Gather", "s,zero", "n");
    mb_node(mb, "Unsqueeze", "n,axes", "n1");
    mb_attr_int(mb, mb_node(mb, "Concat", "n1,minus_one", "target"), "axis", 0);
    mb_node(mb, "Reshape", "x,target", "y");
    mb_output(mb, "y");
    TsGraph *graph = import_model(mb, NULL);
    run_passes(graph, "fold_constants");
    expect_graph_text(graph, "graph \"g\" (opset 13, from model.onnx)\n"
                             "  input  %x : float32[2, 3, 4]\n"
                             "  const  %target : int64[2]\n"
                             "  %y : float32[2, 12] = Reshape \"Reshape_4\" (%x, %target)\n"
                             "  output %y\n");
    ts_graph_free(graph);
}

/* Each host kernel on values worked out by hand. */
static void test_fold_kernel_values(void **state)
{
    (void)state;
    ModelBuilder *mb = mb_new(13);
    mb_init_i64(mb, "c", 5, I64S(10, 20, 30, 40, 50));
    mb_init_i64(mb, "s1", 1, I64S(1));
    mb_init_i64(mb, "e1", 1, I64S(-1));
    mb_init_i64(mb, "a0", 1, I64S(0));
    mb_init_i64(mb, "st2", 1, I64S(2));
    mb_node(mb, "Slice", "c,s1,e1,a0,st2", "slice"); /* 20, 40 */
    mb_init_i64(mb, "sm1", 1, I64S(-1));
    mb_init_i64(mb, "em9", 1, I64S(-9));
    mb_init_i64(mb, "stm2", 1, I64S(-2));
    mb_node(mb, "Slice", "c,sm1,em9,a0,stm2", "rslice"); /* 50, 30, 10 */
    mb_init_i64(mb, "idx", 2, I64S(-1, 1));
    mb_node(mb, "Gather", "c,idx", "gather");                                 /* 50, 20 */
    mb_attr_int(mb, mb_node(mb, "Concat", "slice,gather", "cat"), "axis", 0); /* 20,40,50,20 */
    mb_attr_int(mb, mb_node(mb, "Cast", "cat", "catf"), "to", FLOAT);
    mb_init_f32_values(mb, "four", 1, F32S(4));
    mb_node(mb, "Div", "catf,four", "quarter"); /* 5, 10, 12.5, 5 */
    mb_init_f32_values(mb, "six", 6, F32S(0, 1, 2, 3, 4, 5));
    mb_init_i64(mb, "shape23", 2, I64S(2, 3));
    mb_node(mb, "Reshape", "six,shape23", "m23");
    mb_node(mb, "Transpose", "m23", "t32"); /* [[0,3],[1,4],[2,5]] */
    mb_init_i64(mb, "col", 2, I64S(2, 1));
    mb_init_i64(mb, "col_values", 2, I64S(100, 200));
    mb_node(mb, "Reshape", "col_values,col", "column");
    mb_node(mb, "Add", "column,c", "table");      /* [2,5]: 110..150, 210..250 */
    mb_node(mb, "Sub", "table,c", "back");        /* 100 x5, 200 x5 */
    mb_node(mb, "Mul", "slice,slice", "squares"); /* 400, 1600 */
    Onnx__NodeProto *n = mb_node(mb, "ConstantOfShape", "shape23", "sevens");
    mb_attr_tensor_i64(mb, n, "value", 1, I64S(7));
    mb_node(mb, "Expand", "column,shape23", "wide"); /* 100 x3, 200 x3 */
    static const char *const outputs[] = { "rslice", "quarter", "t32",    "table",
                                           "back",   "squares", "sevens", "wide" };
    for (int k = 0; k < 8; k++)
        mb_output(mb, outputs[k]);
    TsGraph *graph = import_model(mb, NULL);
    run_passes(graph, "fold_constants");
    assert_int_equal(graph->num_nodes, 0);
    expect_ints(graph, "rslice", 3, I64S(50, 30, 10));
    expect_floats(graph, "quarter", 4, F32S(5, 10, 12.5f, 5));
    expect_floats(graph, "t32", 6, F32S(0, 3, 1, 4, 2, 5));
    assert_int_equal(constant_of(graph, "t32")->shape[0], 3);
    expect_ints(graph, "table", 10, I64S(110, 120, 130, 140, 150, 210, 220, 230, 240, 250));
    expect_ints(graph, "back", 10, I64S(100, 100, 100, 100, 100, 200, 200, 200, 200, 200));
    expect_ints(graph, "squares", 2, I64S(400, 1600));
    expect_ints(graph, "sevens", 6, I64S(7, 7, 7, 7, 7, 7));
    expect_ints(graph, "wide", 6, I64S(100, 100, 100, 200, 200, 200));
    ts_graph_free(graph);
}

/* The attention scale torch exports, 1 / sqrt(head size) from the input's shape: Shape ->
 * Gather(-1) -> Cast -> Sqrt -> Div folds to a constant, leaving the Mul. */
static void test_fold_attention_scale(void **state)
{
    (void)state;
    ModelBuilder *mb = with_input(13, 3, I64S(1, 4, 8));
    mb_init_i64_scalar(mb, "last", -1);
    mb_init_f32_values(mb, "one", 1, F32S(1));
    mb_node(mb, "Shape", "x", "s");
    mb_node(mb, "Gather", "s,last", "d");
    mb_attr_int(mb, mb_node(mb, "Cast", "d", "df"), "to", FLOAT);
    mb_node(mb, "Sqrt", "df", "root");
    mb_node(mb, "Div", "one,root", "scale");
    mb_node(mb, "Mul", "x,scale", "y");
    mb_output(mb, "y");
    TsGraph *graph = import_model(mb, NULL);
    run_passes(graph, "fold_constants");
    assert_int_equal(graph->num_nodes, 1);
    assert_int_equal(count_op(graph, RLY_OP_MUL), 1);
    expect_floats(graph, "scale", 1, F32S(1.0f / sqrtf(8.0f)));
    ts_graph_free(graph);
}

/* Relu, Sigmoid, Tanh, Erf and Pow (an int64 exponent) of float constants, computed in
 * float32 as here. */
static void test_fold_float_functions(void **state)
{
    (void)state;
    ModelBuilder *mb = mb_new(13);
    mb_init_f32_values(mb, "v", 3, F32S(-1, 0, 4));
    mb_init_i64_scalar(mb, "two", 2);
    static const char *const ops[] = { "Relu", "Sigmoid", "Tanh", "Erf" };
    for (int k = 0; k < 4; k++)
        mb_output(mb, mb_node(mb, ops[k], "v", ops[k])->output[0]);
    mb_node(mb, "Pow", "v,two", "Pow");
    mb_output(mb, "Pow");
    TsGraph *graph = import_model(mb, NULL);
    run_passes(graph, "fold_constants");
    assert_int_equal(graph->num_nodes, 0);
    expect_floats(graph, "Relu", 3, F32S(0, 0, 4));
    expect_floats(graph, "Sigmoid", 3,
                  F32S(1.0f / (1.0f + expf(1.0f)), 0.5f, 1.0f / (1.0f + expf(-4.0f))));
    expect_floats(graph, "Tanh", 3, F32S(tanhf(-1.0f), 0, tanhf(4.0f)));
    expect_floats(graph, "Erf", 3, F32S(erff(-1.0f), 0, erff(4.0f)));
    expect_floats(graph, "Pow", 3, F32S(1, 0, 16));
    ts_graph_free(graph);
}

/* Shape of a graph input folds (its shape is known); start and end at opset 15. */
static void test_fold_shape_of_input(void **state)
{
    (void)state;
    ModelBuilder *mb = with_input(15, 3, I64S(2, 3, 4));
    mb_attr_int(mb, mb_node(mb, "Shape", "x", "s"), "start", 1);
    mb_output(mb, "s");
    mb_node(mb, "Relu", "x", "y");
    mb_output(mb, "y");
    TsGraph *graph = import_model(mb, NULL);
    run_passes(graph, "fold_constants");
    expect_ints(graph, "s", 2, I64S(3, 4));
    assert_int_equal(graph->num_nodes, 1);
    ts_graph_free(graph);
}

/* Errors name the node: an integer division by zero, a Gather index out of range. */
static void test_fold_errors_name_the_node(void **state)
{
    (void)state;
    for (int k = 0; k < 2; k++) {
        ModelBuilder *mb = mb_new(13);
        mb_init_i64(mb, "a", 2, I64S(6, 8));
        mb_init_i64(mb, "b", 2, I64S(3, 0));
        mb_init_i64(mb, "far", 1, I64S(5));
        Onnx__NodeProto *n =
            k == 0 ? mb_node(mb, "Div", "a,b", "y") : mb_node(mb, "Gather", "a,far", "y");
        n->name = (char *)"culprit";
        mb_output(mb, "y");
        TsGraph *graph = import_model(mb, NULL);
        TsError err;
        assert_int_equal(ts_graph_optimize(graph, NULL, &err), TS_EINVAL);
        assert_non_null(strstr(err.message, "node \"culprit\""));
        assert_non_null(strstr(err.message, k == 0 ? "division by zero" : "index 5"));
        ts_graph_free(graph);
    }
}

/* ---- eliminate_dead ---- */

static void test_eliminate_dead_golden(void **state)
{
    (void)state;
    ModelBuilder *mb = with_input(13, 4, I64S(1, 2, 4, 4));
    mb_init_f32(mb, "unused_w", 1, I64S(4));
    mb_node(mb, "Relu", "x", "dead1");
    mb_node(mb, "Sigmoid", "dead1", "dead2");
    mb_node(mb, "Mul", "dead2,unused_w", "dead3");
    Onnx__NodeProto *n = mb_node(mb, "MaxPool", "x", "p");
    mb_attr_ints(mb, n, "kernel_shape", NV(2, 2));
    mb_attr_ints(mb, n, "strides", NV(2, 2));
    mb_node(mb, "Tanh", "p", "y");
    mb_output(mb, "y");
    TsGraph *graph = import_model(mb, NULL);
    run_passes(graph, "fold_constants");
    assert_int_equal(graph->num_nodes, 5);
    run_passes(graph, "eliminate_dead");
    expect_graph_text(graph, "graph \"g\" (opset 13, from model.onnx)\n"
                             "  input  %x : float32[1, 2, 4, 4]\n"
                             "  %p : float32[1, 2, 2, 2] = MaxPool \"MaxPool_3\" (%x) "
                             "{kernel_shape=[2, 2], strides=[2, 2]}\n"
                             "  %y : float32[1, 2, 2, 2] = Tanh \"Tanh_4\" (%p)\n"
                             "  output %y\n");
    ts_graph_free(graph);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_pipeline_table_and_options),
    cmocka_unit_test(test_remove_identity_golden),
    cmocka_unit_test(test_dropout_mask_becomes_constant),
    cmocka_unit_test(test_fold_flatten_chain),
    cmocka_unit_test(test_fold_flatten_golden),
    cmocka_unit_test(test_fold_kernel_values),
    cmocka_unit_test(test_fold_attention_scale),
    cmocka_unit_test(test_fold_float_functions),
    cmocka_unit_test(test_fold_shape_of_input),
    cmocka_unit_test(test_fold_errors_name_the_node),
    cmocka_unit_test(test_eliminate_dead_golden),
};

int main(void)
{
    return cmocka_run_group_tests(tests, NULL, NULL);
}
