/* Vector math: exp, log, tanh and sigmoid on vectorized float32 loops are computed by
 * polynomials in IR (codegen/vmath.c). Each is compared element by element with the
 * reference interpreter (the C library's expf, logf, tanhf) over a wide range of inputs
 * and the special values: within 4 ulp (relative 5e-7, or 1e-37 absolute near zero),
 * and exactly for NaN, infinities, zeros and overflow. The scalar path (libm) is the
 * reference; the vector path must agree with it. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cg_testing.h"
#include "test_util.h"

enum { N = 4096, LANES = 16 };

typedef TsExpr *(*MathFn)(TsArena *, TsExpr *);

static float inputs[N];

static void fill_inputs(void)
{
    static const float special[] = { 0.0f,   -0.0f,   1.0f,     -1.0f,    INFINITY, -INFINITY,
                                     NAN,    88.7f,   88.73f,   89.0f,    -87.0f,   -103.0f,
                                     -104.0f, -200.0f, 1e-30f,  1e-40f,   3.4e38f,  0.625f,
                                     -0.625f, 0.6249f, 9.0f,    -9.0f,    1e-5f,    -1e-5f };
    size_t ns = sizeof special / sizeof special[0];
    for (size_t i = 0; i < ns; i++)
        inputs[i] = special[i];
    CgtRng rng = { 12345 };
    for (int i = (int)ns; i < N; i++) {
        /* Spread over many magnitudes and both signs. */
        double mant = (double)cgt_rng_int(&rng, 0, 1 << 20) / (1 << 20);
        int exp2 = (int)cgt_rng_int(&rng, -20, 7);
        double sign = cgt_rng_int(&rng, 0, 1) ? -1.0 : 1.0;
        inputs[i] = (float)(sign * ldexp(1.0 + mant, exp2));
    }
}

static bool close_enough(float got, float want)
{
    if (isnan(want))
        return isnan(got);
    if (isinf(want) || want == 0.0f)
        return got == want || fabsf(got - want) <= 1e-37f;
    return fabsf(got - want) <= 5e-7f * fabsf(want) || fabsf(got - want) <= 1e-37f;
}

static void check(MathFn fn, const char *name, bool positive_only)
{
    TsArena *A = ts_arena_create();
    TsTensor *x = ts_placeholder(A, "x", 1, (int64_t[]){ N }, TS_FLOAT32);
    TsAxis *i = ts_axis(A, "i", N);
    TsTensor *y = ts_compute(A, "y", 1, &i, fn(A, ts_at(A, x, ts_var(i))));
    TsSchedule *sch = ts_schedule_create(A, 1, &y);
    TsStage *st = ts_stage(sch, y);
    TsAxis *outer, *inner;
    TsError err = { 0 };
    cgt_ok(ts_split(st, ts_stage_leaf(st, 0), LANES, &outer, &inner, &err), &err);
    cgt_ok(ts_vectorize(st, inner, &err), &err);
    TsLoweredFunc *func = NULL;
    cgt_ok(ts_lower(sch, name, &func, &err), &err);
    TsPackedFunc kernel;
    TsJitModule *jit = cgt_jit(func, &kernel);
    static float in[N], got[N], want[N];
    for (int k = 0; k < N; k++)
        in[k] = positive_only ? fabsf(inputs[k]) : inputs[k];
    cgt_ok(ts_evaluate(1, &y, 2, (TsBinding[]){ { x, in }, { y, want } }, &err), &err);
    int64_t shape[1] = { N };
    TsDLTensor dl[2] = {
        { in, { TS_DEVICE_CPU, 0 }, 1, TS_FLOAT32, shape, NULL, 0 },
        { got, { TS_DEVICE_CPU, 0 }, 1, TS_FLOAT32, shape, NULL, 0 },
    };
    TsValue args[2] = { { .v_handle = &dl[0] }, { .v_handle = &dl[1] } };
    int32_t codes[2] = { TS_ARG_TENSOR, TS_ARG_TENSOR };
    int32_t rc = kernel(args, codes, 2);
    if (rc != 0)
        fprintf(stderr, "%s: %s\n", name, ts_runtime_last_error());
    assert_int_equal(rc, 0);
    int bad = 0;
    for (int k = 0; k < N; k++) {
        if (close_enough(got[k], want[k]))
            continue;
        if (bad++ < 5)
            fprintf(stderr, "%s(%.9g): got %.9g, want %.9g\n", name, (double)in[k],
                    (double)got[k], (double)want[k]);
    }
    assert_int_equal(bad, 0);
    ts_jit_release(jit);
    ts_arena_destroy(A);
}

static void test_exp(void **state) { (void)state; check(ts_exp, "vexp", false); }
static void test_log(void **state) { (void)state; check(ts_log, "vlog", false); }
static void test_log_positive(void **state) { (void)state; check(ts_log, "vlog_pos", true); }
static void test_tanh(void **state) { (void)state; check(ts_tanh, "vtanh", false); }
static void test_sigmoid(void **state) { (void)state; check(ts_sigmoid, "vsigmoid", false); }

int main(void)
{
    fill_inputs();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exp),  cmocka_unit_test(test_log),
        cmocka_unit_test(test_log_positive), cmocka_unit_test(test_tanh),
        cmocka_unit_test(test_sigmoid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
