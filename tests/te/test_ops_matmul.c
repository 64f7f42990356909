/* Tests of ts_op_matmul and ts_op_dense: the reference interpreter's result against
 * naive C loops on odd shapes, every transpose combination, int8 x int8 accumulating
 * exactly in int32 (and wrapping in int8 when no out_dtype is given), bias, and the
 * errors for bad shapes and dtypes.
 *
 * Float tolerance: the interpreter sums K float32 products in order, so it may differ
 * from the exact (double) sum by at most about (K + 1) * 2^-23 * sum |a * b| (recursive
 * summation bound); the tests use exactly that bound.
 */
#include "ops_testing.h"

#include <math.h>
#include <stdlib.h>

static const TsDType no_dtype = { 0, 0, 0 };

typedef struct MatmulCase {
    int64_t m, k, n;
    bool trans_a, trans_b;
} MatmulCase;

static const MatmulCase matmul_cases[] = {
    { 1, 1, 1, false, false }, { 7, 13, 5, false, false }, { 7, 13, 5, true, false },
    { 7, 13, 5, false, true }, { 7, 13, 5, true, true },   { 16, 31, 3, false, false },
    { 1, 17, 11, true, true }, { 11, 1, 2, false, true },
};

/* A's element (i, k) and B's element (k, j) in their stored layouts. */
static size_t a_index(const MatmulCase *c, int64_t i, int64_t k)
{
    return (size_t)(c->trans_a ? k * c->m + i : i * c->k + k);
}

static size_t b_index(const MatmulCase *c, int64_t k, int64_t j)
{
    return (size_t)(c->trans_b ? j * c->k + k : k * c->n + j);
}

/* Placeholders for a case: A is [M, K] or [K, M], B is [K, N] or [N, K]. */
static void matmul_placeholders(TsArena *arena, const MatmulCase *c, TsDType dtype, TsTensor **a,
                                TsTensor **b)
{
    int64_t sa[2] = { c->trans_a ? c->k : c->m, c->trans_a ? c->m : c->k };
    int64_t sb[2] = { c->trans_b ? c->n : c->k, c->trans_b ? c->k : c->n };
    *a = ops_placeholder(arena, "A", dtype, 2, sa);
    *b = ops_placeholder(arena, "B", dtype, 2, sb);
}

static void check_matmul_f32(const MatmulCase *c, OpsRng *rng)
{
    TsArena *arena = ts_arena_create();
    TsTensor *a, *b;
    matmul_placeholders(arena, c, TS_FLOAT32, &a, &b);
    TsTensor *out = ts_op_matmul(arena, a, b, c->trans_a, c->trans_b, no_dtype);
    ops_expect_built(arena, out);
    ops_expect_tag(out, "matmul", "matmul");
    ops_expect_shape(out, 2, (int64_t[]){ c->m, c->n });

    float *da = ops_random_buffer(rng, a), *db = ops_random_buffer(rng, b), *dc = ops_buffer(out);
    size_t n_out = (size_t)(c->m * c->n);
    double *want = calloc(n_out, sizeof *want), *bound = calloc(n_out, sizeof *bound);
    for (int64_t i = 0; i < c->m; i++) {
        for (int64_t j = 0; j < c->n; j++) {
            double sum = 0.0, abs_sum = 0.0;
            for (int64_t k = 0; k < c->k; k++) {
                double p = (double)da[a_index(c, i, k)] * (double)db[b_index(c, k, j)];
                sum += p;
                abs_sum += fabs(p);
            }
            want[i * c->n + j] = sum;
            bound[i * c->n + j] = (double)(c->k + 1) * OPS_F32_EPS * abs_sum;
        }
    }
    ops_evaluate(out, dc, 2, (TsBinding[]){ { a, da }, { b, db } });
    ops_expect_f32_within(dc, want, bound, n_out, "matmul float32");
    free(da), free(db), free(dc), free(want), free(bound);
    ts_arena_destroy(arena);
}

static void test_matmul_f32(void **state)
{
    (void)state;
    OpsRng rng;
    ops_rng_seed(&rng, 1);
    for (size_t i = 0; i < sizeof matmul_cases / sizeof matmul_cases[0]; i++)
        check_matmul_f32(&matmul_cases[i], &rng);
}

/* int8 operands; out_dtype int32 accumulates exactly, out_dtype "none" wraps in int8. */
static void check_matmul_i8(const MatmulCase *c, OpsRng *rng, bool widen)
{
    TsArena *arena = ts_arena_create();
    TsTensor *a, *b;
    matmul_placeholders(arena, c, TS_INT8, &a, &b);
    TsTensor *out = ts_op_matmul(arena, a, b, c->trans_a, c->trans_b, widen ? TS_INT32 : no_dtype);
    ops_expect_built(arena, out);
    assert_true(ts_dtype_eq(ts_tensor_dtype(out), widen ? TS_INT32 : TS_INT8));

    int8_t *da = ops_random_buffer(rng, a), *db = ops_random_buffer(rng, b);
    void *dc = ops_buffer(out);
    size_t n_out = (size_t)(c->m * c->n);
    int64_t *want = calloc(n_out, sizeof *want);
    int32_t *got = calloc(n_out, sizeof *got);
    for (int64_t i = 0; i < c->m; i++) {
        for (int64_t j = 0; j < c->n; j++) {
            int64_t sum = 0;
            for (int64_t k = 0; k < c->k; k++)
                sum += (int64_t)da[a_index(c, i, k)] * db[b_index(c, k, j)];
            want[i * c->n + j] = widen ? sum : (int8_t)(uint8_t)(sum & 0xff);
        }
    }
    ops_evaluate(out, dc, 2, (TsBinding[]){ { a, da }, { b, db } });
    for (size_t i = 0; i < n_out; i++)
        got[i] = widen ? ((int32_t *)dc)[i] : ((int8_t *)dc)[i];
    ops_expect_i32_equal(got, want, n_out, widen ? "matmul int8->int32" : "matmul int8 wrapping");
    free(da), free(db), free(dc), free(want), free(got);
    ts_arena_destroy(arena);
}

static void test_matmul_int8(void **state)
{
    (void)state;
    OpsRng rng;
    ops_rng_seed(&rng, 2);
    for (size_t i = 0; i < sizeof matmul_cases / sizeof matmul_cases[0]; i++) {
        check_matmul_i8(&matmul_cases[i], &rng, true);
        check_matmul_i8(&matmul_cases[i], &rng, false);
    }
}

/* float16 is a storage type: operands are cast to float32 before the multiply. */
static void test_matmul_float16_to_float32(void **state)
{
    (void)state;
    TsArena *arena = ts_arena_create();
    TsTensor *a = ops_placeholder(arena, "a", TS_FLOAT16, 2, (int64_t[]){ 2, 2 });
    TsTensor *b = ops_placeholder(arena, "b", TS_FLOAT16, 2, (int64_t[]){ 2, 3 });
    TsTensor *out = ts_op_matmul(arena, a, b, false, false, TS_FLOAT32);
    ops_expect_built(arena, out);
    /* IEEE half bits: 1 = 0x3c00, 2 = 0x4000, 0.5 = 0x3800, -1 = 0xbc00, 3 = 0x4200,
     * 0.25 = 0x3400. a = [[1, 2], [0.5, -1]], b = [[3, 0.25, -1], [1, 2, 0.5]]. */
    uint16_t da[4] = { 0x3c00, 0x4000, 0x3800, 0xbc00 };
    uint16_t db[6] = { 0x4200, 0x3400, 0xbc00, 0x3c00, 0x4000, 0x3800 };
    float got[6];
    ops_evaluate(out, got, 2, (TsBinding[]){ { a, da }, { b, db } });
    ops_expect_f32_equal(got, (float[]){ 5.0f, 4.25f, 0.0f, 0.5f, -1.875f, -1.0f }, 6,
                         "float16 matmul into float32");
    ts_arena_destroy(arena);
}

/* dense: out[n, m] = sum_k data[n, k] * weight[m, k] (+ bias[m]). */
static void check_dense_f32(int64_t batch, int64_t in_f, int64_t out_f, bool with_bias, OpsRng *rng)
{
    TsArena *arena = ts_arena_create();
    TsTensor *data = ops_placeholder(arena, "data", TS_FLOAT32, 2, (int64_t[]){ batch, in_f });
    TsTensor *weight = ops_placeholder(arena, "weight", TS_FLOAT32, 2, (int64_t[]){ out_f, in_f });
    TsTensor *bias = with_bias ? ops_placeholder(arena, "bias", TS_FLOAT32, 1, &out_f) : NULL;
    TsTensor *out = ts_op_dense(arena, data, weight, bias, no_dtype);
    ops_expect_built(arena, out);
    ops_expect_shape(out, 2, (int64_t[]){ batch, out_f });
    if (with_bias) {
        ops_expect_tag(out, "dense", "dense_bias_add");
        assert_string_equal(ts_tensor_tag(ts_tensor_input(out, 0)), "dense");
    } else {
        ops_expect_tag(out, "dense", "dense");
    }

    float *dd = ops_random_buffer(rng, data), *dw = ops_random_buffer(rng, weight);
    float *db = with_bias ? ops_random_buffer(rng, bias) : NULL, *dc = ops_buffer(out);
    size_t n_out = (size_t)(batch * out_f);
    double *want = calloc(n_out, sizeof *want), *bound = calloc(n_out, sizeof *bound);
    for (int64_t i = 0; i < batch; i++) {
        for (int64_t j = 0; j < out_f; j++) {
            double sum = 0.0, abs_sum = 0.0;
            for (int64_t k = 0; k < in_f; k++) {
                double p = (double)dd[i * in_f + k] * (double)dw[j * in_f + k];
                sum += p;
                abs_sum += fabs(p);
            }
            double b = with_bias ? db[j] : 0.0;
            want[i * out_f + j] = sum + b;
            bound[i * out_f + j] = (double)(in_f + 2) * OPS_F32_EPS * (abs_sum + fabs(b));
        }
    }
    TsBinding in[3] = { { data, dd }, { weight, dw }, { bias, db } };
    ops_evaluate(out, dc, with_bias ? 3 : 2, in);
    ops_expect_f32_within(dc, want, bound, n_out, "dense float32");
    free(dd), free(dw), free(db), free(dc), free(want), free(bound);
    ts_arena_destroy(arena);
}

static void test_dense_f32(void **state)
{
    (void)state;
    OpsRng rng;
    ops_rng_seed(&rng, 3);
    check_dense_f32(1, 1, 1, false, &rng);
    check_dense_f32(5, 19, 7, false, &rng);
    check_dense_f32(5, 19, 7, true, &rng);
    check_dense_f32(3, 2, 13, true, &rng);
}

static void test_dense_int8_bias(void **state)
{
    (void)state;
    OpsRng rng;
    ops_rng_seed(&rng, 4);
    const int64_t batch = 3, in_f = 23, out_f = 5;
    TsArena *arena = ts_arena_create();
    TsTensor *data = ops_placeholder(arena, "data", TS_INT8, 2, (int64_t[]){ batch, in_f });
    TsTensor *weight = ops_placeholder(arena, "weight", TS_INT8, 2, (int64_t[]){ out_f, in_f });
    TsTensor *bias = ops_placeholder(arena, "bias", TS_INT32, 1, &out_f);
    TsTensor *out = ts_op_dense(arena, data, weight, bias, TS_INT32);
    ops_expect_built(arena, out);

    int8_t *dd = ops_random_buffer(&rng, data), *dw = ops_random_buffer(&rng, weight);
    int32_t *db = ops_random_buffer(&rng, bias), *dc = ops_buffer(out);
    int64_t want[3 * 5];
    for (int64_t i = 0; i < batch; i++) {
        for (int64_t j = 0; j < out_f; j++) {
            int64_t sum = db[j];
            for (int64_t k = 0; k < in_f; k++)
                sum += (int64_t)dd[i * in_f + k] * dw[j * in_f + k];
            want[i * out_f + j] = sum;
        }
    }
    ops_evaluate(out, dc, 3, (TsBinding[]){ { data, dd }, { weight, dw }, { bias, db } });
    ops_expect_i32_equal(dc, want, (size_t)(batch * out_f), "dense int8->int32 + bias");
    free(dd), free(dw), free(db), free(dc);
    ts_arena_destroy(arena);
}

static void test_matmul_errors(void **state)
{
    (void)state;
    TsArena *arena = ts_arena_create();
    TsTensor *a = ops_placeholder(arena, "a", TS_FLOAT32, 2, (int64_t[]){ 4, 6 });
    TsTensor *b = ops_placeholder(arena, "b", TS_FLOAT32, 2, (int64_t[]){ 5, 3 });
    TsTensor *b_i8 = ops_placeholder(arena, "b8", TS_INT8, 2, (int64_t[]){ 6, 3 });
    TsTensor *v = ops_placeholder(arena, "v", TS_FLOAT32, 1, (int64_t[]){ 6 });
    TsTensor *flags = ops_placeholder(arena, "flags", TS_BOOL, 2, (int64_t[]){ 6, 6 });
    TsTensor *half = ops_placeholder(arena, "half", TS_FLOAT16, 2, (int64_t[]){ 6, 6 });

    ops_expect_error(arena, ts_op_matmul(arena, a, b, false, false, no_dtype),
                     "matmul: reduction extent 6 of a 'a' != 5 of b 'b'");
    ops_expect_error(arena, ts_op_matmul(arena, a, b, true, true, no_dtype),
                     "reduction extent 4 of a 'a' (transposed) != 3 of b 'b' (transposed)");
    ops_expect_error(arena, ts_op_matmul(arena, a, b_i8, false, false, no_dtype),
                     "matmul: a 'a' has dtype float32 but b 'b8' has dtype int8");
    ops_expect_error(arena, ts_op_matmul(arena, a, v, false, false, no_dtype),
                     "matmul: b 'v' has rank 1, expected 2");
    ops_expect_error(arena, ts_op_matmul(arena, a, NULL, false, false, no_dtype),
                     "matmul: b is NULL");
    ops_expect_error(arena, ts_op_matmul(arena, flags, flags, false, false, no_dtype),
                     "matmul: input dtype bool is not a scalar number");
    ops_expect_error(arena, ts_op_matmul(arena, half, half, false, false, no_dtype),
                     "matmul: cannot accumulate in float16");
    ops_expect_error(arena, ts_op_matmul(arena, a, a, false, false, TS_BOOL),
                     "cannot accumulate in bool");
    /* A NULL operand after an earlier failure keeps the first message. */
    TsTensor *bad = ts_op_matmul(arena, a, b, false, false, no_dtype);
    ops_expect_error(arena, ts_op_matmul(arena, bad, a, false, false, no_dtype),
                     "reduction extent 6");
    ts_arena_destroy(arena);
}

static void test_dense_errors(void **state)
{
    (void)state;
    TsArena *arena = ts_arena_create();
    TsTensor *data = ops_placeholder(arena, "x", TS_FLOAT32, 2, (int64_t[]){ 2, 6 });
    TsTensor *weight = ops_placeholder(arena, "w", TS_FLOAT32, 2, (int64_t[]){ 4, 5 });
    TsTensor *w_ok = ops_placeholder(arena, "w_ok", TS_FLOAT32, 2, (int64_t[]){ 4, 6 });
    TsTensor *bias5 = ops_placeholder(arena, "bias5", TS_FLOAT32, 1, (int64_t[]){ 5 });
    TsTensor *bias_i = ops_placeholder(arena, "bias_i", TS_INT32, 1, (int64_t[]){ 4 });
    TsTensor *bias_2d = ops_placeholder(arena, "bias_2d", TS_FLOAT32, 2, (int64_t[]){ 1, 4 });

    ops_expect_error(arena, ts_op_dense(arena, data, weight, NULL, no_dtype),
                     "dense: weight 'w' in-features 5 != data 'x' features 6");
    ops_expect_error(arena, ts_op_dense(arena, data, w_ok, bias5, no_dtype),
                     "dense: bias 'bias5' has 5 elements, expected 4");
    ops_expect_error(arena, ts_op_dense(arena, data, w_ok, bias_i, no_dtype),
                     "dense: bias 'bias_i' has dtype int32, expected float32");
    ops_expect_error(arena, ts_op_dense(arena, data, w_ok, bias_2d, no_dtype),
                     "dense: bias 'bias_2d' has rank 2, expected 1");
    ops_expect_error(arena, ts_op_dense(arena, NULL, w_ok, NULL, no_dtype), "dense: data is NULL");
    assert_null(ts_op_dense(NULL, data, w_ok, NULL, no_dtype));
    ts_arena_destroy(arena);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matmul_f32),
        cmocka_unit_test(test_matmul_int8),
        cmocka_unit_test(test_matmul_float16_to_float32),
        cmocka_unit_test(test_dense_f32),
        cmocka_unit_test(test_dense_int8_bias),
        cmocka_unit_test(test_matmul_errors),
        cmocka_unit_test(test_dense_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
