/* ts_lower_with_options: a vectorized loop the vectorizer cannot turn into vector code
 * fails by default, naming the loop and the reason, and with allow_scalar_fallback is
 * kept as a correct scalar loop; a padded read (a lane-varying condition over a load)
 * is vector code, not a refusal; auto_unroll_max_extent unrolls small loops; bad options
 * are refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sch_testing.h"
#include "test_util.h"

/* relu of a 3 x 5 tensor with both loops vectorized: the inner loop becomes vector code,
 * which the outer vectorized loop cannot hold (nested vectorized loops). */
static TsSchedule *nested_vector_schedule(TsArena *A, TsTensor **out)
{
    TsTensor *x = ts_placeholder(A, "x", 2, (int64_t[]){ 3, 5 }, TS_FLOAT32);
    *out = ts_op_relu(A, x);
    TsSchedule *sch = ts_schedule_create(A, 1, out);
    TsStage *st = ts_stage(sch, *out);
    TsError err = { 0 };
    assert_int_equal(ts_vectorize(st, ts_stage_leaf(st, 0), &err), TS_OK);
    assert_int_equal(ts_vectorize(st, ts_stage_leaf(st, 1), &err), TS_OK);
    return sch;
}

/* pad of a 1-D tensor, with the output loop split by 4 and the inner part vectorized:
 * the padding condition varies across lanes and guards a load, which stays lazy per
 * lane (the loop interpreter fails on a read outside x in any lane that evaluates it). */
static void test_padded_read_vectorized(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    TsTensor *x = ts_placeholder(A, "x", 1, (int64_t[]){ 10 }, TS_FLOAT32);
    TsTensor *out = ts_op_pad(A, x, (int64_t[]){ 3 }, (int64_t[]){ 3 }, 0.0);
    TsSchedule *sch = ts_schedule_create(A, 1, &out);
    TsStage *st = ts_stage(sch, out);
    TsAxis *outer, *inner;
    TsError err = { 0 };
    assert_int_equal(ts_split(st, ts_stage_leaf(st, 0), 4, &outer, &inner, &err), TS_OK);
    assert_int_equal(ts_vectorize(st, inner, &err), TS_OK);
    TsLoweredFunc *func = NULL;
    assert_int_equal(ts_lower(sch, "pad", &func, &err), TS_OK);
    const char *text = ts_lowered_str(A, func);
    assert_non_null(strstr(text, "= if_then_else(((ramp("));
    assert_non_null(strstr(text, "x[ramp("));
    assert_null(strstr(text, "i0.inner"));
    SchCheck check;
    assert_int_equal(sch_check_lowered(func, 1, &out, 11, &check), TS_OK);
    assert_int_equal(check.elements, 16);
    ts_arena_destroy(A);
}

static void test_refused_without_fallback(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    TsTensor *out;
    TsSchedule *sch = nested_vector_schedule(A, &out);
    TsLoweredFunc *func = NULL;
    TsError err = { 0 };
    assert_int_equal(ts_lower(sch, "relu", &func, &err), TS_ECODEGEN);
    assert_null(func);
    assert_non_null(strstr(err.message, "cannot vectorize loop i0: it already holds the vector "
                                        "expression"));
    ts_arena_destroy(A);
}

static void test_scalar_fallback_is_correct(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    TsTensor *out;
    TsSchedule *sch = nested_vector_schedule(A, &out);
    TsLoweredFunc *func = NULL;
    TsError err = { 0 };
    TsLowerOptions options = { .allow_scalar_fallback = true };
    assert_int_equal(ts_lower_with_options(sch, "relu", &options, &func, &err), TS_OK);
    const char *text = ts_lowered_str(A, func);
    assert_non_null(strstr(text, "for (i0, 0, 3)"));
    assert_non_null(strstr(text, "ramp((i0 * 5), 1, 5)"));
    SchCheck check;
    assert_int_equal(sch_check_lowered(func, 1, &out, 11, &check), TS_OK);
    ts_arena_destroy(A);
}

static void test_auto_unroll_and_bad_options(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    TsTensor *x = ts_placeholder(A, "x", 2, (int64_t[]){ 5, 3 }, TS_INT32);
    TsTensor *y = ts_op_relu(A, x);
    TsSchedule *sch = ts_schedule_create(A, 1, &y);
    TsLoweredFunc *func = NULL;
    TsError err = { 0 };
    TsLowerOptions options = { .auto_unroll_max_extent = 3 };
    assert_int_equal(ts_lower_with_options(sch, "relu", &options, &func, &err), TS_OK);
    const char *text = ts_lowered_str(A, func);
    /* The inner loop of extent 3 is gone, the outer one of extent 5 stays. */
    assert_non_null(strstr(text, "for ("));
    assert_null(strstr(text, ", 0, 3)"));
    SchCheck check;
    assert_int_equal(sch_check_lowered(func, 1, &y, 5, &check), TS_OK);
    options.auto_unroll_max_extent = -1;
    assert_int_equal(ts_lower_with_options(sch, "relu", &options, &func, &err), TS_EINVAL);
    assert_non_null(strstr(err.message, "auto_unroll_max_extent -1 must be >= 0"));
    ts_arena_destroy(A);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_padded_read_vectorized),
        cmocka_unit_test(test_refused_without_fallback),
        cmocka_unit_test(test_scalar_fallback_is_correct),
        cmocka_unit_test(test_auto_unroll_and_bad_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
