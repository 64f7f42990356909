/* The operator library's graph-level builders (ONNX semantics, used by relay_lite's node
 * lowering) on bad arguments: each refuses with TS_EINVAL and a message naming the
 * operator and the culprit, and builds nothing. Their values are checked through the
 * lowering against the ONNX specification's examples and naive C (tests/relay/
 * test_lower_ops.c, test_onnx_node_lower.c) and compiled (test_lower_codegen.c); here one
 * value check each of the index arithmetic a builder owns alone. */
#include <string.h>

#include "ops_testing.h"

static void test_movement_errors(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    TsTensor *x = ops_placeholder(A, "x", TS_FLOAT32, 2, (int64_t[]){ 3, 4 });
    TsTensor *f = ops_placeholder(A, "f", TS_FLOAT32, 1, (int64_t[]){ 2 });
    ops_expect_error(A, ts_op_transpose(A, x, (int[]){ 0, 0 }), "not a permutation");
    ops_expect_error(A, ts_op_transpose(A, x, NULL), "not a permutation");
    ops_expect_error(
        A, ts_op_strided_slice(A, x, (int64_t[]){ 0, 3 }, (int64_t[]){ 1, 1 }, (int64_t[]){ 3, 2 }),
        "dimension 1");
    ops_expect_error(
        A, ts_op_strided_slice(A, x, (int64_t[]){ 2, 0 }, (int64_t[]){ 0, 1 }, (int64_t[]){ 2, 4 }),
        "step 0");
    ops_expect_error(A, ts_op_strided_slice(A, x, NULL, NULL, NULL), "NULL");
    ops_expect_error(A, ts_op_gather(A, x, f, 0), "are not integers");
    ops_expect_error(A, ts_op_gather(A, x, x, 2), "gather");
    ops_expect_error(
        A, ts_op_pad_mode(A, x, (int64_t[]){ -3, 0 }, (int64_t[]){ 0, 0 }, TS_PAD_EDGE, NULL),
        "dimension 0 of extent 3");
    ops_expect_error(A, ts_op_pad_mode(A, x, NULL, NULL, TS_PAD_REFLECT, NULL), "NULL");
    ops_expect_error(
        A, ts_op_pad_mode(A, x, (int64_t[]){ 0, 0 }, (int64_t[]){ 0, 0 }, (TsPadMode)7, NULL),
        "not a TsPadMode");
    ts_arena_destroy(A);
}

static void test_broadcast_and_math_errors(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    TsTensor *x = ops_placeholder(A, "x", TS_FLOAT32, 2, (int64_t[]){ 3, 4 });
    TsTensor *y = ops_placeholder(A, "y", TS_FLOAT32, 1, (int64_t[]){ 3 });
    TsTensor *i = ops_placeholder(A, "i", TS_INT32, 1, (int64_t[]){ 4 });
    TsTensor *two = ops_placeholder(A, "two", TS_FLOAT32, 1, (int64_t[]){ 2 });
    ops_expect_error(A, ts_op_div(A, x, y), "does not broadcast");
    ops_expect_error(A, ts_op_div(A, x, i), "div");
    ops_expect_error(A, ts_op_variadic(A, TS_VARIADIC_MAX, 0, (TsTensor *[]){ x }), "0 operands");
    ops_expect_error(A, ts_op_variadic(A, TS_VARIADIC_SUM, 2, (TsTensor *[]){ x, i }), "sum");
    ops_expect_error(A, ts_op_variadic(A, (TsVariadicKind)9, 1, (TsTensor *[]){ x }),
                     "not a TsVariadicKind");
    ops_expect_error(A, ts_op_clamp(A, x, two, NULL), "must be one element");
    ops_expect_error(A, ts_op_broadcast_to(A, x, 2, (int64_t[]){ 3, 5 }), "does not broadcast");
    ops_expect_error(A, ts_op_broadcast_to(A, x, 1, (int64_t[]){ 4 }), "rank 1");
    ops_expect_error(A, ts_op_cast(A, x, ts_dtype(TS_TYPE_FLOAT, 32, 4)), "not a scalar dtype");
    ops_expect_error(A, ts_op_erf(A, i), "erf");
    ops_expect_error(A, ts_op_batch_matmul(A, x, x), "K = 4");
    ts_arena_destroy(A);
}

static void test_nn_errors(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    TsTensor *x = ops_placeholder(A, "x", TS_FLOAT32, 4, (int64_t[]){ 1, 4, 3, 3 });
    TsTensor *w = ops_placeholder(A, "w", TS_FLOAT32, 4, (int64_t[]){ 3, 2, 3, 3 });
    TsTensor *xi = ops_placeholder(A, "xi", TS_INT32, 4, (int64_t[]){ 1, 1, 2, 2 });
    TsConvTranspose2dAttrs ct = { { 1, 1 }, { 1, 1 }, { 0, 0 }, 1, { 5, 5 } };
    ops_expect_error(A, ts_op_conv_transpose2d(A, x, w, &ct), "channels");
    ops_expect_error(A, ts_op_conv_transpose2d(A, x, w, NULL), "attrs is NULL");
    ops_expect_error(A, ts_op_reduce(A, x, TS_REDUCE_SUM, 2, (int[]){ 1, -3 }, true),
                     "listed twice");
    ops_expect_error(A, ts_op_reduce(A, x, TS_REDUCE_MEAN, 1, (int[]){ 4 }, true), "axis");
    ops_expect_error(A, ts_op_reduce(A, x, TS_REDUCE_MEAN, 1, NULL, true), "axes NULL");
    TsTensor *scale = ops_placeholder(A, "s", TS_FLOAT32, 1, (int64_t[]){ 4 });
    ops_expect_error(A, ts_op_layer_norm(A, x, scale, NULL, -1, 1e-5, NULL, NULL),
                     "does not broadcast");
    TsResizeAttrs ra = {
        TS_RESIZE_LINEAR, TS_RESIZE_HALF_PIXEL, TS_RESIZE_FLOOR, { 1, 1, 4, 4 }, { 1, 1, 2, 2 }
    };
    ops_expect_error(A, ts_op_resize(A, xi, &ra), "linear interpolation takes float");
    ra.scale[3] = 0;
    ops_expect_error(A, ts_op_resize(A, x, &ra), "scale[3]");
    TsTensor *x5 = ops_placeholder(A, "x5", TS_FLOAT32, 5, (int64_t[]){ 2, 2, 2, 2, 2 });
    TsResizeAttrs r5 = { TS_RESIZE_LINEAR,
                         TS_RESIZE_ASYMMETRIC,
                         TS_RESIZE_FLOOR,
                         { 3, 3, 3, 3, 3 },
                         { 1.5, 1.5, 1.5, 1.5, 1.5 } };
    ops_expect_error(A, ts_op_resize(A, x5, &r5), "5 dimensions");
    ts_arena_destroy(A);
}

/* Reflect padding far past both ends bounces between them, as numpy.pad does. */
static void test_pad_reflect_values(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    TsTensor *x = ops_placeholder(A, "x", TS_FLOAT32, 1, (int64_t[]){ 3 });
    TsTensor *y = ts_op_pad_mode(A, x, (int64_t[]){ 5 }, (int64_t[]){ 4 }, TS_PAD_REFLECT, NULL);
    ops_expect_built(A, y);
    ops_expect_tag(y, "pad", "pad");
    float in[3] = { 10, 20, 30 }, out[12];
    /* numpy.pad([10, 20, 30], (5, 4), 'reflect') */
    const float want[12] = { 20, 10, 20, 30, 20, 10, 20, 30, 20, 10, 20, 30 };
    ops_evaluate(y, out, 1, (TsBinding[]){ { x, in } });
    ops_expect_f32_equal(out, want, 12, "reflect");
    ts_arena_destroy(A);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_movement_errors),
        cmocka_unit_test(test_broadcast_and_math_errors),
        cmocka_unit_test(test_nn_errors),
        cmocka_unit_test(test_pad_reflect_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
