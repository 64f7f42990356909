/* ts_schedule_copy: a copy takes further primitives without changing the original, keeps
 * its attachments (remapped to its own stages), lowers to correct code, and can live in
 * an arena of its own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sch_testing.h"
#include "test_util.h"

static const char *lowered(TsArena *A, TsSchedule *sch, TsTensor *out, uint64_t seed)
{
    TsLoweredFunc *func = NULL;
    TsError err = { 0 };
    TsStatus st = ts_lower(sch, "f", &func, &err);
    if (st != TS_OK)
        fprintf(stderr, "lower: %s\n", err.message);
    assert_int_equal(st, TS_OK);
    SchCheck check;
    if (sch_check_lowered(func, 1, &out, seed, &check) != TS_OK)
        fprintf(stderr, "%s: %s\n", check.stage, check.message);
    assert_int_equal(check.status, TS_OK);
    return ts_lowered_str(A, func);
}

static void test_copy_is_independent(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    TsTensor *a = ts_placeholder(A, "A", 2, (int64_t[]){ 12, 9 }, TS_FLOAT32);
    TsTensor *b = ts_placeholder(A, "B", 2, (int64_t[]){ 9, 10 }, TS_FLOAT32);
    TsTensor *c = ts_op_matmul(A, a, b, false, false, ts_dtype(0, 0, 0));
    TsSchedule *base = ts_schedule_create(A, 1, &c);
    TsStage *st = ts_stage(base, c);
    TsAxis *io, *ii;
    TsError err = { 0 };
    assert_int_equal(ts_split(st, ts_stage_root_axis(st, 0), 4, &io, &ii, &err), TS_OK);
    const char *base_text = ts_arena_strdup(A, ts_schedule_str(A, base));
    const char *base_loops = lowered(A, base, c, 1);

    TsSchedule *variant = ts_schedule_copy(A, base);
    assert_non_null(variant);
    assert_string_equal(ts_schedule_str(A, variant), base_text);
    TsStage *vst = ts_stage(variant, c);
    TsAxis *jo, *ji;
    assert_int_equal(ts_split(vst, ts_stage_root_axis(vst, 1), 5, &jo, &ji, &err), TS_OK);
    assert_int_equal(ts_vectorize(vst, ji, &err), TS_OK);
    assert_int_equal(ts_parallel(vst, io, &err), TS_OK);
    const char *variant_loops = lowered(A, variant, c, 2);

    /* The original is as it was: same primitives, same loop nest. */
    assert_string_equal(ts_schedule_str(A, base), base_text);
    assert_string_equal(lowered(A, base, c, 3), base_loops);
    assert_non_null(strstr(variant_loops, "parallel (i.outer"));
    assert_null(strstr(base_loops, "parallel"));
    /* The split axes of the original are leaves of both; the copy's own are not the
     * original's. */
    assert_int_equal(ts_stage_num_leaves(st), 4);
    assert_int_equal(ts_stage_num_leaves(vst), 5);
    ts_arena_destroy(A);
}

static void test_copy_keeps_attachments_in_its_own_arena(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    TsTensor *x = ts_placeholder(A, "x", 4, (int64_t[]){ 1, 2, 7, 7 }, TS_FLOAT32);
    TsTensor *w = ts_placeholder(A, "w", 4, (int64_t[]){ 3, 2, 3, 3 }, TS_FLOAT32);
    TsConv2dAttrs attrs = ts_conv2d_attrs_default();
    for (int i = 0; i < 4; i++)
        attrs.padding[i] = 1;
    TsTensor *y = ts_op_conv2d(A, x, w, &attrs);
    TsSchedule *base = ts_schedule_create(A, 1, &y);
    TsStage *cs = ts_stage(base, y), *ps = ts_stage(base, ts_tensor_input(y, 0));
    TsAxis *yo, *yi;
    TsError err = { 0 };
    assert_int_equal(ts_split(cs, ts_stage_root_axis(cs, 2), 3, &yo, &yi, &err), TS_OK);
    assert_int_equal(ts_compute_at(ps, cs, yo, &err), TS_OK);

    TsArena *B = ts_arena_create();
    TsSchedule *variant = ts_schedule_copy(B, base);
    assert_non_null(variant);
    /* The copy's pad stage is attached to the copy's conv stage: splitting the copy's
     * attach axis moves its attachment, not the original's. */
    TsStage *vcs = ts_stage(variant, y);
    TsAxis *yoo, *yoi;
    assert_int_equal(ts_split(vcs, yo, 2, &yoo, &yoi, &err), TS_OK);
    const char *variant_loops = lowered(B, variant, y, 4);
    assert_non_null(strstr(variant_loops, "allocate pad"));
    ts_arena_destroy(B);
    /* The original still lowers, with its attachment where it was. */
    const char *base_loops = lowered(A, base, y, 5);
    /* Rows per y.outer: 3 outputs and a halo of 2 (the tail of 1 row is peeled). */
    assert_non_null(strstr(base_loops, "for (y.outer, 0, 2)"));
    assert_non_null(strstr(base_loops, "allocate pad: float32[1, 2, 5, 9]"));
    assert_null(ts_schedule_copy(A, NULL));
    assert_arena_error(A, TS_EINVAL, "schedule copy: the schedule is NULL");
    ts_arena_destroy(A);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_copy_is_independent),
        cmocka_unit_test(test_copy_keeps_attachments_in_its_own_arena),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
