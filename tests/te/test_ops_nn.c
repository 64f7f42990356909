/* Tests of ts_op_batch_norm and ts_op_softmax: the reference interpreter's result
 * against double-precision C on NCHW, NHWC and 2-D data, softmax along every axis of a
 * 3-D tensor, on a 1-D tensor and on large inputs (which overflow exp without the max
 * subtraction), the softmax stage structure, and the errors for bad parameters.
 *
 * Float tolerances, from float32 rounding (u = 2^-24 per operation):
 * - batch_norm does six rounded operations; |got - want| <= 3 * 2^-23 * (|scaled| +
 *   |beta|), where scaled = (x - mean) / sqrt(var + eps) * gamma.
 * - softmax: each exp(x - max) is within a few u relative, the sum of n terms within
 *   (n + 1) u, the division u: |got - want| <= (n + 16) * 2^-23 * want for inputs whose
 *   distance to the max is below 8.
 */
#include "ops_testing.h"

#include <math.h>
#include <stdlib.h>

static void check_batch_norm(int ndim, const int64_t *shape, int axis, OpsRng *rng)
{
    TsArena *arena = ts_arena_create();
    int at = axis < 0 ? axis + ndim : axis;
    int64_t channels = shape[at];
    TsTensor *x = ops_placeholder(arena, "x", TS_FLOAT32, ndim, shape);
    TsTensor *gamma = ops_placeholder(arena, "gamma", TS_FLOAT32, 1, &channels);
    TsTensor *beta = ops_placeholder(arena, "beta", TS_FLOAT32, 1, &channels);
    TsTensor *mean = ops_placeholder(arena, "mean", TS_FLOAT32, 1, &channels);
    TsTensor *var = ops_placeholder(arena, "var", TS_FLOAT32, 1, &channels);
    const double epsilon = 1e-3;
    TsTensor *out = ts_op_batch_norm(arena, x, gamma, beta, mean, var, axis, epsilon);
    ops_expect_built(arena, out);
    ops_expect_shape(out, ndim, shape);
    ops_expect_tag(out, "batch_norm", "batch_norm");

    size_t n = (size_t)ts_tensor_num_elements(x), inner = 1;
    for (int i = at + 1; i < ndim; i++)
        inner *= (size_t)shape[i];
    float *dx = ops_random_buffer(rng, x), *dg = ops_random_buffer(rng, gamma);
    float *db = ops_random_buffer(rng, beta), *dm = ops_random_buffer(rng, mean);
    float *dv = ops_random_buffer(rng, var), *got = ops_buffer(out);
    double *want = calloc(n, sizeof *want), *bound = calloc(n, sizeof *bound);
    for (int64_t c = 0; c < channels; c++)
        dv[c] = fabsf(dv[c]) + 0.1f; /* variances are positive */
    for (size_t i = 0; i < n; i++) {
        size_t c = (i / inner) % (size_t)channels;
        double scaled =
            ((double)dx[i] - dm[c]) / sqrt((double)dv[c] + (double)(float)epsilon) * dg[c];
        want[i] = scaled + db[c];
        bound[i] = 3 * OPS_F32_EPS * (fabs(scaled) + fabs(db[c]));
    }
    TsBinding in[5] = { { x, dx }, { gamma, dg }, { beta, db }, { mean, dm }, { var, dv } };
    ops_evaluate(out, got, 5, in);
    ops_expect_f32_within(got, want, bound, n, "batch_norm");
    free(dx), free(dg), free(db), free(dm), free(dv), free(got), free(want), free(bound);
    ts_arena_destroy(arena);
}

static void test_batch_norm(void **state)
{
    (void)state;
    OpsRng rng;
    ops_rng_seed(&rng, 41);
    check_batch_norm(4, (int64_t[]){ 2, 3, 5, 4 }, 1, &rng);  /* NCHW */
    check_batch_norm(4, (int64_t[]){ 2, 5, 4, 3 }, -1, &rng); /* NHWC */
    check_batch_norm(4, (int64_t[]){ 1, 7, 1, 1 }, -3, &rng);
    check_batch_norm(2, (int64_t[]){ 6, 11 }, 1, &rng);
}

/* Softmax of x (shape, along axis) scaled by `scale` and shifted by `offset`. */
static void check_softmax(int ndim, const int64_t *shape, int axis, float scale, float offset,
                          OpsRng *rng)
{
    TsArena *arena = ts_arena_create();
    int at = axis < 0 ? axis + ndim : axis;
    TsTensor *x = ops_placeholder(arena, "x", TS_FLOAT32, ndim, shape);
    TsTensor *out = ts_op_softmax(arena, x, axis);
    ops_expect_built(arena, out);
    ops_expect_shape(out, ndim, shape);

    size_t n = (size_t)ts_tensor_num_elements(x), inner = 1, len = (size_t)shape[at];
    for (int i = at + 1; i < ndim; i++)
        inner *= (size_t)shape[i];
    float *dx = ops_random_buffer(rng, x), *got = ops_buffer(out);
    double *want = calloc(n, sizeof *want), *bound = calloc(n, sizeof *bound);
    for (size_t i = 0; i < n; i++)
        dx[i] = dx[i] * scale + offset;
    for (size_t i = 0; i < n; i++) {
        size_t first = i - ((i / inner) % len) * inner; /* the row's element 0 */
        double max = -INFINITY, sum = 0.0;
        for (size_t k = 0; k < len; k++)
            max = fmax(max, dx[first + k * inner]);
        for (size_t k = 0; k < len; k++)
            sum += exp((double)dx[first + k * inner] - max);
        want[i] = exp((double)dx[i] - max) / sum;
        bound[i] = (double)(len + 16) * OPS_F32_EPS * want[i];
    }
    ops_evaluate(out, got, 1, (TsBinding[]){ { x, dx } });
    ops_expect_f32_within(got, want, bound, n, "softmax");
    free(dx), free(got), free(want), free(bound);
    ts_arena_destroy(arena);
}

static void test_softmax(void **state)
{
    (void)state;
    OpsRng rng;
    ops_rng_seed(&rng, 42);
    const int64_t s3[3] = { 3, 5, 7 };
    for (int axis = -3; axis < 3; axis++)
        check_softmax(3, s3, axis, 3.0f, 0.0f, &rng);
    check_softmax(1, (int64_t[]){ 13 }, 0, 3.0f, 0.0f, &rng);
    check_softmax(2, (int64_t[]){ 1, 11 }, 1, 3.0f, 0.0f, &rng);
    check_softmax(2, (int64_t[]){ 4, 1 }, 1, 3.0f, 0.0f, &rng);
    /* exp(1000) overflows float32: only the max subtraction keeps this finite. */
    check_softmax(2, (int64_t[]){ 3, 9 }, 1, 3.0f, 1000.0f, &rng);
}

static void test_softmax_stages(void **state)
{
    (void)state;
    static const char *const tags[5] = { "", "softmax_maxelem", "softmax_exp", "softmax_expsum",
                                         "softmax_norm" };
    TsArena *arena = ts_arena_create();
    TsTensor *x = ops_placeholder(arena, "x", TS_FLOAT32, 2, (int64_t[]){ 4, 6 });
    TsTensor *out = ts_op_softmax(arena, x, 1);
    ops_expect_built(arena, out);
    ops_expect_tag(out, "softmax", "softmax_norm");
    TsTensor **stages;
    assert_int_equal(ts_dag_stages(arena, 1, &out, &stages), 5);
    for (int i = 0; i < 5; i++)
        assert_string_equal(ts_tensor_tag(stages[i]), tags[i]);
    /* The reductions keep the softmax axis with extent 1. */
    ops_expect_shape(stages[1], 2, (int64_t[]){ 4, 1 });
    ops_expect_shape(stages[3], 2, (int64_t[]){ 4, 1 });
    ts_arena_destroy(arena);
}

static void test_nn_errors(void **state)
{
    (void)state;
    TsArena *arena = ts_arena_create();
    TsTensor *x = ops_placeholder(arena, "x", TS_FLOAT32, 4, (int64_t[]){ 1, 3, 2, 2 });
    TsTensor *xi = ops_placeholder(arena, "xi", TS_INT32, 2, (int64_t[]){ 3, 3 });
    TsTensor *p3 = ops_placeholder(arena, "p3", TS_FLOAT32, 1, (int64_t[]){ 3 });
    TsTensor *p4 = ops_placeholder(arena, "p4", TS_FLOAT32, 1, (int64_t[]){ 4 });
    TsTensor *p3d = ops_placeholder(arena, "p3d", TS_FLOAT64, 1, (int64_t[]){ 3 });

    ops_expect_error(arena, ts_op_batch_norm(arena, x, p4, p3, p3, p3, 1, 1e-5),
                     "batch_norm: gamma 'p4' has 4 elements, expected 3");
    ops_expect_error(arena, ts_op_batch_norm(arena, x, p3, p3, p3d, p3, 1, 1e-5),
                     "batch_norm: mean 'p3d' has dtype float64, expected float32");
    ops_expect_error(arena, ts_op_batch_norm(arena, x, p3, p3, p3, NULL, 1, 1e-5),
                     "batch_norm: var is NULL");
    ops_expect_error(arena, ts_op_batch_norm(arena, x, p3, p3, p3, p3, 1, -1.0),
                     "batch_norm: epsilon -1 must be finite and >= 0");
    ops_expect_error(arena, ts_op_batch_norm(arena, x, p3, p3, p3, p3, 4, 1e-5),
                     "batch_norm: axis 4 is outside [-4, 3] for rank 4");
    ops_expect_error(
        arena, ts_op_batch_norm(arena, xi, p3, p3, p3, p3, 1, 1e-5),
        "batch_norm: data 'xi' has dtype int32; the operator needs float32 or float64");
    ops_expect_error(arena, ts_op_softmax(arena, xi, 1),
                     "softmax: data 'xi' has dtype int32; the operator needs float32 or float64");
    ops_expect_error(arena, ts_op_softmax(arena, x, -5), "softmax: axis -5 is outside [-4, 3]");
    ops_expect_error(arena, ts_op_softmax(arena, NULL, 0), "softmax: data is NULL");
    ts_arena_destroy(arena);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_norm),
        cmocka_unit_test(test_softmax),
        cmocka_unit_test(test_softmax_stages),
        cmocka_unit_test(test_nn_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
