/* The time evaluator: costs of a kernel that sleeps 1 ms come out near 1 ms, a short
 * repeat raises number until min_repeat_ms is reached, the cooldown and the cache flush
 * run, a failing kernel stops the measurement with TS_EDEVICE and its message, and bad
 * options are TS_EINVAL. The kernels count their calls through a handle argument. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "rt_testing.h"

/* The one argument every kernel here takes: a counter of its calls, and for the failing
 * kernel the call that fails. */
typedef struct Calls {
    long count;
    long fail_at;
} Calls;

static Calls *calls_of(const TsValue *args, const int32_t *type_codes, int32_t num_args)
{
    if (num_args != 1 || type_codes[0] != TS_ARG_HANDLE) {
        ts_runtime_set_error("test kernel: expected one handle argument");
        return NULL;
    }
    return args[0].v_handle;
}

static int32_t sleep_1ms(const TsValue *args, const int32_t *type_codes, int32_t num_args)
{
    Calls *calls = calls_of(args, type_codes, num_args);
    if (!calls)
        return -1;
    calls->count++;
    struct timespec rest = { 0, 1000000 };
    while (clock_nanosleep(CLOCK_MONOTONIC, 0, &rest, &rest) == EINTR)
        continue;
    return 0;
}

static int32_t count_only(const TsValue *args, const int32_t *type_codes, int32_t num_args)
{
    Calls *calls = calls_of(args, type_codes, num_args);
    if (!calls)
        return -1;
    calls->count++;
    return 0;
}

static int32_t fail_at_call(const TsValue *args, const int32_t *type_codes, int32_t num_args)
{
    Calls *calls = calls_of(args, type_codes, num_args);
    if (!calls)
        return -1;
    if (++calls->count < calls->fail_at)
        return 0;
    char message[64];
    snprintf(message, sizeof message, "gave up at call %ld", calls->count);
    ts_runtime_set_error(message);
    return -1;
}

static const int32_t handle_code[1] = { TS_ARG_HANDLE };

static TsStatus evaluate(TsPackedFunc func, Calls *calls, const TsTimeOptions *options,
                         double *costs, TsError *err)
{
    TsValue arg = { .v_handle = calls };
    return ts_time_evaluate(func, &arg, handle_code, 1, options, costs, err);
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A kernel that sleeps 1 ms costs 1 ms or more, never less. How much more depends on how
 * busy the machine is (this also runs under qemu-aarch64, beside other tests), so the
 * upper bound is the wall time the whole evaluation took: a repeat's cost times the calls
 * it made fits in it, and a cost not divided by the calls would not. */
static void assert_cost_of_1ms_sleeps(double cost, int64_t calls_per_repeat, double wall)
{
    bool ok = cost >= 1e-3 && cost * (double)calls_per_repeat <= wall;
    if (!ok)
        fprintf(stderr, "cost %g s of %lld calls does not fit 1 ms sleeps in %g s of wall time\n",
                cost, (long long)calls_per_repeat, wall);
    assert_true(ok);
}

/* evaluate, and the wall time it took to *wall. */
static TsStatus evaluate_timed(TsPackedFunc func, Calls *calls, const TsTimeOptions *options,
                               double *costs, double *wall, TsError *err)
{
    double start = now_seconds();
    TsStatus status = evaluate(func, calls, options, costs, err);
    *wall = now_seconds() - start;
    return status;
}

static void test_sleeping_kernel_costs_1ms(void **state)
{
    (void)state;
    TsError err;
    TsTimeOptions options = ts_time_options_default();
    options.number = 5;
    options.repeat = 3;
    double costs[3] = { -1, -1, -1 };
    Calls calls = { 0, 0 };
    double wall;
    assert_ok(evaluate_timed(sleep_1ms, &calls, &options, costs, &wall, &err), err);
    for (int i = 0; i < 3; i++)
        assert_cost_of_1ms_sleeps(costs[i], options.number, wall);
    assert_int_equal(calls.count, 1 + 5 * 3); /* the warm-up call, then number per repeat */
}

/* Repeats of one 1 ms call are shorter than 20 ms, so number grows (and stays grown for
 * the second repeat): at 10 ms per call at most, each repeat makes at least 2 calls. */
static void test_min_repeat_ms_raises_number(void **state)
{
    (void)state;
    TsError err;
    TsTimeOptions options = ts_time_options_default();
    options.repeat = 2;
    options.min_repeat_ms = 20.0;
    double costs[2];
    Calls calls = { 0, 0 };
    double wall;
    assert_ok(evaluate_timed(sleep_1ms, &calls, &options, costs, &wall, &err), err);
    assert_cost_of_1ms_sleeps(costs[0], 1, wall);
    assert_cost_of_1ms_sleeps(costs[1], 1, wall);
    assert_true(calls.count >= 1 + 1 + 2 + 2);
}

/* A kernel that does nothing: number climbs far, and the cost is tiny but positive. */
static void test_fast_kernel_is_repeated_many_times(void **state)
{
    (void)state;
    TsError err;
    TsTimeOptions options = ts_time_options_default();
    options.repeat = 3;
    options.min_repeat_ms = 5.0;
    double costs[3];
    Calls calls = { 0, 0 };
    assert_ok(evaluate(count_only, &calls, &options, costs, &err), err);
    assert_true(calls.count > 1000);
    for (int i = 0; i < 3; i++)
        assert_true(costs[i] > 0.0 && costs[i] < 1e-4);
}

static void test_cooldown_sleeps_between_repeats(void **state)
{
    (void)state;
    TsError err;
    TsTimeOptions options = ts_time_options_default();
    options.repeat = 3;
    options.cooldown_ms = 30.0;
    double costs[3];
    Calls calls = { 0, 0 };
    double start = now_seconds();
    assert_ok(evaluate(count_only, &calls, &options, costs, &err), err);
    assert_true(now_seconds() - start >= 0.060); /* two pauses: none after the last repeat */
    assert_int_equal(calls.count, 1 + 3);
}

static void test_cache_flush(void **state)
{
    (void)state;
    TsError err;
    TsTimeOptions options = ts_time_options_default();
    options.number = 2;
    options.repeat = 2;
    options.flush_cache = true;
    double costs[2];
    Calls calls = { 0, 0 };
    double wall;
    assert_ok(evaluate_timed(sleep_1ms, &calls, &options, costs, &wall, &err), err);
    assert_cost_of_1ms_sleeps(costs[0], options.number, wall);
    assert_cost_of_1ms_sleeps(costs[1], options.number, wall);
    assert_int_equal(calls.count, 1 + 2 * 2);
}

/* options NULL: TVM's defaults, one repeat of one call. */
static void test_default_options(void **state)
{
    (void)state;
    TsError err;
    double costs[2] = { -1, -1 };
    Calls calls = { 0, 0 };
    double wall;
    assert_ok(evaluate_timed(sleep_1ms, &calls, NULL, costs, &wall, &err), err);
    assert_cost_of_1ms_sleeps(costs[0], 1, wall);
    assert_true(costs[1] == -1); /* one repeat: one cost */
    assert_int_equal(calls.count, 2);
    TsTimeOptions defaults = ts_time_options_default();
    assert_int_equal(defaults.number, 1);
    assert_int_equal(defaults.repeat, 1);
    assert_true(defaults.min_repeat_ms == 0.0 && defaults.cooldown_ms == 0.0);
    assert_false(defaults.flush_cache);
}

static void test_failing_kernel(void **state)
{
    (void)state;
    TsError err;
    TsTimeOptions options = ts_time_options_default();
    options.number = 4;
    options.repeat = 2;
    double costs[2];
    Calls warm_up = { 0, 1 };
    assert_status(evaluate(fail_at_call, &warm_up, &options, costs, &err), err, TS_EDEVICE,
                  "the kernel failed in the warm-up call: gave up at call 1");
    Calls later = { 0, 7 }; /* warm-up, then 4 calls in repeat 0, then call 1 of repeat 1 */
    assert_status(evaluate(fail_at_call, &later, &options, costs, &err), err, TS_EDEVICE,
                  "the kernel failed in repeat 1, call 1: gave up at call 7");
    assert_int_equal(later.count, 7); /* nothing is called after the failure */
    assert_status(ts_time_evaluate(count_only, NULL, NULL, 0, &options, costs, &err), err,
                  TS_EDEVICE, "test kernel: expected one handle argument");
}

static void expect_bad_options(TsTimeOptions options, const char *needle)
{
    TsError err;
    double costs[4];
    Calls calls = { 0, 0 };
    assert_status(evaluate(count_only, &calls, &options, costs, &err), err, TS_EINVAL, needle);
    assert_int_equal(calls.count, 0);
}

static void test_bad_options(void **state)
{
    (void)state;
    TsTimeOptions options = ts_time_options_default();
    options.number = 0;
    expect_bad_options(options, "number 0 must be >= 1");
    options = ts_time_options_default();
    options.repeat = -2;
    expect_bad_options(options, "repeat -2 must be >= 1");
    options = ts_time_options_default();
    options.min_repeat_ms = -1.0;
    expect_bad_options(options, "min_repeat_ms -1 must be from 0 to 3600000");
    options.min_repeat_ms = NAN;
    expect_bad_options(options, "min_repeat_ms nan must be from 0 to 3600000");
    options.min_repeat_ms = INFINITY;
    expect_bad_options(options, "min_repeat_ms inf must be from 0 to 3600000");
    options = ts_time_options_default();
    options.cooldown_ms = -5.0;
    expect_bad_options(options, "cooldown_ms -5 must be from 0 to 3600000");
    options.cooldown_ms = 1e300;
    expect_bad_options(options, "cooldown_ms 1e+300 must be from 0 to 3600000");
    options.cooldown_ms = NAN;
    expect_bad_options(options, "cooldown_ms nan must be from 0 to 3600000");

    TsError err;
    double cost;
    Calls calls = { 0, 0 };
    TsValue arg = { .v_handle = &calls };
    assert_status(ts_time_evaluate(NULL, &arg, handle_code, 1, NULL, &cost, &err), err, TS_EINVAL,
                  "the kernel is NULL");
    assert_status(ts_time_evaluate(count_only, &arg, handle_code, 1, NULL, NULL, &err), err,
                  TS_EINVAL, "costs is NULL");
    assert_status(ts_time_evaluate(count_only, &arg, handle_code, -1, NULL, &cost, &err), err,
                  TS_EINVAL, "num_args -1 is negative");
    assert_status(ts_time_evaluate(count_only, NULL, handle_code, 1, NULL, &cost, &err), err,
                  TS_EINVAL, "1 arguments but args is NULL");
    assert_status(ts_time_evaluate(count_only, &arg, NULL, 1, NULL, &cost, &err), err, TS_EINVAL,
                  "1 arguments but type_codes is NULL");
    assert_int_equal(calls.count, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sleeping_kernel_costs_1ms),
        cmocka_unit_test(test_min_repeat_ms_raises_number),
        cmocka_unit_test(test_fast_kernel_is_repeated_many_times),
        cmocka_unit_test(test_cooldown_sleeps_between_repeats),
        cmocka_unit_test(test_cache_flush),
        cmocka_unit_test(test_default_options),
        cmocka_unit_test(test_failing_kernel),
        cmocka_unit_test(test_bad_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
