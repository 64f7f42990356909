/* The comparer of model outputs (tensor_compare.c): within-tolerance floats pass, one bad
 * element fails and is the one named, NaN equals only NaN, integers compare exactly (int64
 * past 2^53 included), and dtype or shape differences are refused by name. The file form is
 * checked on a node test's expected output against itself and against another output. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "tensor_compare.h"

static OnnxTensor floats(float *data, int64_t rows, int64_t cols)
{
    OnnxTensor t = { 0 };
    t.onnx_type = ONNX_FLOAT;
    t.dtype = TS_FLOAT32;
    t.ndim = 2;
    t.shape[0] = rows;
    t.shape[1] = cols;
    t.num_elements = rows * cols;
    t.data = data;
    return t;
}

static void test_within_tolerance_is_equal(void **state)
{
    (void)state;
    float want[6] = { 1.0f, -2.0f, 0.0f, 100.0f, 5e-5f, -3.0f };
    float got[6] = { 1.0009f, -2.0019f, 9e-5f, 100.09f, -4e-5f, -3.0f };
    OnnxTensor g = floats(got, 2, 3), w = floats(want, 2, 3);
    TcResult r;
    tc_compare(&g, &w, 1e-3, 1e-4, "out", &r);
    assert_true(r.equal);
    assert_int_equal(r.elements, 6);
    assert_int_equal(r.mismatches, 0);
    assert_true(r.worst_excess <= 0);
}

static void test_worst_element_is_named(void **state)
{
    (void)state;
    float want[6] = { 1.0f, -2.0f, 0.0f, 100.0f, 5.0f, -3.0f };
    float got[6] = { 1.0f, -2.01f, 0.0f, 100.0f, 5.5f, -3.0f };
    OnnxTensor g = floats(got, 2, 3), w = floats(want, 2, 3);
    TcResult r;
    tc_compare(&g, &w, 1e-3, 1e-4, "logits", &r);
    assert_false(r.equal);
    assert_int_equal(r.mismatches, 2);
    assert_non_null(strstr(r.message, "logits: MISMATCH"));
    assert_non_null(strstr(r.message, "worst at [1, 1]: got 5.5, expected 5"));
    assert_true(fabs(r.max_abs_diff - 0.5) < 1e-6);
}

static void test_nan_equals_only_nan(void **state)
{
    (void)state;
    float want[2] = { NAN, 1.0f };
    float same[2] = { NAN, 1.0f };
    float nan_for_value[2] = { NAN, NAN };
    OnnxTensor w = floats(want, 1, 2), s = floats(same, 1, 2), n = floats(nan_for_value, 1, 2);
    TcResult r;
    tc_compare(&s, &w, 1e-3, 1e-4, "x", &r);
    assert_true(r.equal);
    tc_compare(&n, &w, 1e-3, 1e-4, "x", &r);
    assert_false(r.equal);
    assert_non_null(strstr(r.message, "worst at [0, 1]"));
}

static void test_integers_compare_exactly(void **state)
{
    (void)state;
    int64_t want[2] = { INT64_C(9007199254740993), 7 }; /* 2^53 + 1: a double cannot hold it */
    int64_t got[2] = { INT64_C(9007199254740992), 7 };
    OnnxTensor w = { .onnx_type = ONNX_INT64,
                     .dtype = TS_INT64,
                     .ndim = 1,
                     .shape = { 2 },
                     .num_elements = 2,
                     .data = want };
    OnnxTensor g = w;
    g.data = got;
    TcResult r;
    tc_compare(&g, &w, 1e-3, 1e-4, "ids", &r);
    assert_false(r.equal);
    assert_non_null(strstr(r.message, "not exactly equal"));
    assert_non_null(strstr(r.message, "worst at [0]"));
    g.data = want;
    tc_compare(&g, &w, 1e-3, 1e-4, "ids", &r);
    assert_true(r.equal);
}

static void test_layout_differences_are_named(void **state)
{
    (void)state;
    float a[6] = { 0 }, b[6] = { 0 };
    OnnxTensor g = floats(a, 2, 3), w = floats(b, 3, 2);
    TcResult r;
    tc_compare(&g, &w, 1e-3, 1e-4, "out", &r);
    assert_false(r.equal);
    assert_string_equal(r.message, "out: shape [2, 3], expected [3, 2]");
    g = floats(a, 3, 2);
    g.onnx_type = ONNX_INT32;
    tc_compare(&g, &w, 1e-3, 1e-4, "out", &r);
    assert_false(r.equal);
    assert_string_equal(r.message, "out: dtype INT32, expected FLOAT");
}

static void test_files(void **state)
{
    (void)state;
    const char *dir = TESSERA_SOURCE_DIR "/tests/onnx/node/test_relu/test_data_set_0";
    char out[512], in[512];
    snprintf(out, sizeof out, "%s/output_0.pb", dir);
    snprintf(in, sizeof in, "%s/input_0.pb", dir);
    TcResult r;
    assert_true(tc_compare_files(out, out, 1e-3, 1e-4, &r));
    assert_true(r.equal);
    assert_true(r.elements > 0);
    /* Relu's input has negative values where its output has zeros. */
    assert_true(tc_compare_files(in, out, 1e-3, 1e-4, &r));
    assert_false(r.equal);
    assert_false(tc_compare_files(TESSERA_SOURCE_DIR "/no/such.pb", out, 1e-3, 1e-4, &r));
    assert_non_null(strstr(r.message, "no/such.pb"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_within_tolerance_is_equal),
        cmocka_unit_test(test_worst_element_is_named),
        cmocka_unit_test(test_nan_equals_only_nan),
        cmocka_unit_test(test_integers_compare_exactly),
        cmocka_unit_test(test_layout_differences_are_named),
        cmocka_unit_test(test_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
