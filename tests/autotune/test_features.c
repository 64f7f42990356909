/* Tests of the loop-nest features of the model-based tuner (autotune/features.c) and of
 * the knob features (knob_features.c): a 64^3 matmul with a known schedule, lowered, has
 * known feature values (innermost extent, vector width, fma counts, strides, register
 * reuse, unrolled copies); candidates of the dense template's task differ in their
 * features as their configs do; a candidate that does not lower is flagged; knob
 * features read from an entity equal those of the config. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "autotune/tune_internal.h"
#include "tessera/tessera.h"
#include "tune_testing.h"

static void ok(TsStatus st, const TsError *err)
{
    if (st != TS_OK)
        fail_msg("%s: %s", ts_status_name(st), err->message);
}

static float feature(const float *f, const char *name)
{
    int i = tune_loop_feature_find(name);
    if (i < 0)
        fail_msg("no feature %s", name);
    return f[i];
}

static void assert_feature(const float *f, const char *name, double raw)
{
    double want = log2(1 + raw);
    if (fabs(f[tune_loop_feature_find(name)] - want) > 1e-4)
        fail_msg("%s = %g (2^x - 1 = %g), expected log2(1 + %g) = %g", name,
                 (double)feature(f, name), exp2(feature(f, name)) - 1, raw, want);
}

/* C[i, j] = sum_k A[i, k] * B[k, j], 64^3; i split by 4 (inner unrolled), j by 16 (inner
 * vectorized), order io, jo, k, ii, ji. The update is 4 unrolled copies of
 *   C[ramp(i*64 + jo*16, 1, 16)] += broadcast(A[i*64 + k]) * B[ramp(k*64 + jo*16, 1, 16)]
 * inside loops io (16), jo (4), k (64). */
static TsLoweredFunc *blocked_matmul(TsArena *A)
{
    TsTensor *a = ts_placeholder(A, "A", 2, (int64_t[]){ 64, 64 }, TS_FLOAT32);
    TsTensor *b = ts_placeholder(A, "B", 2, (int64_t[]){ 64, 64 }, TS_FLOAT32);
    TsAxis *i = ts_axis(A, "i", 64), *j = ts_axis(A, "j", 64), *k = ts_reduce_axis(A, "k", 64);
    TsExpr *prod = ts_mul(A, ts_at(A, a, ts_var(i), ts_var(k)), ts_at(A, b, ts_var(k), ts_var(j)));
    TsTensor *c = ts_compute(A, "C", 2, (TsAxis *[]){ i, j }, ts_sum(A, prod, 1, &k, NULL));
    assert_non_null(c);
    TsSchedule *sch = ts_schedule_create(A, 1, &c);
    TsStage *s = ts_stage(sch, c);
    TsAxis *io, *ii, *jo, *ji;
    TsError err;
    ok(ts_split(s, i, 4, &io, &ii, &err), &err);
    ok(ts_split(s, j, 16, &jo, &ji, &err), &err);
    ok(ts_reorder(s, 5, (TsAxis *[]){ io, jo, k, ii, ji }, &err), &err);
    ok(ts_vectorize(s, ji, &err), &err);
    ok(ts_unroll(s, ii, &err), &err);
    ok(ts_parallel(s, io, &err), &err);
    TsLoweredFunc *f;
    ok(ts_lower(sch, "matmul", &f, &err), &err);
    return f;
}

static void test_blocked_matmul(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    TsLoweredFunc *func = blocked_matmul(A);
    float f[TUNE_LOOP_FEATURES];
    tune_loop_features(func, f);
    assert_feature(f, "lower_failed", 0);
    /* the hot store: the update, run 16 * 4 * 64 times per copy, 4 copies */
    assert_feature(f, "hot.runs", 16 * 4 * 64);
    assert_feature(f, "hot.depth", 3);
    assert_feature(f, "hot.lanes", 16);
    assert_feature(f, "hot.float_fma", 1);
    assert_feature(f, "hot.float_mul", 0);
    assert_feature(f, "hot.float_add", 0);
    assert_feature(f, "hot.loads", 3);
    assert_feature(f, "hot.siblings", 4);
    /* its loops, innermost first: k (64), jo (4), io (16, parallel) */
    assert_feature(f, "level0.extent", 64);
    assert_feature(f, "level0.inner_product", 64);
    assert_feature(f, "level0.outer_product", 16 * 4 * 64);
    assert_feature(f, "level1.extent", 4);
    assert_feature(f, "level2.extent", 16);
    assert_float_equal(feature(f, "level0.serial"), 1, 0);
    assert_float_equal(feature(f, "level2.parallel"), 1, 0);
    assert_float_equal(feature(f, "level3.serial"), 0, 0); /* no such level */
    assert_feature(f, "level3.extent", 0);
    /* C: written, invariant in k (register reuse), 16 contiguous lanes */
    assert_float_equal(feature(f, "buf0.written"), 1, 0);
    assert_feature(f, "buf0.stride0", 0);
    assert_feature(f, "buf0.invariant_loops", 1);
    assert_feature(f, "buf0.lanes", 16);
    assert_feature(f, "buf0.lane_stride", 1);
    assert_feature(f, "buf0.bytes_l1", 16 * 4); /* one vector under k */
    assert_feature(f, "buf0.bytes_l2", 64 * 4); /* jo: 4 vectors side by side */
    /* A: scalar loads, stride 1 in k, 64 in jo? no: A does not move with jo */
    assert_float_equal(feature(f, "buf1.written"), 0, 0);
    assert_feature(f, "buf1.stride0", 1);
    assert_feature(f, "buf1.stride1", 0);
    assert_feature(f, "buf1.lanes", 1);
    assert_feature(f, "buf1.bytes_l1", 64 * 4);
    /* B: a row of 16 per k, stride 64 in k, 16 in jo */
    assert_feature(f, "buf2.stride0", 64);
    assert_feature(f, "buf2.stride1", 16);
    assert_feature(f, "buf2.lane_stride", 1);
    assert_feature(f, "buf2.bytes_l1", 64 * 16 * 4);
    assert_feature(f, "buf2.bytes_l2", 64 * 64 * 4);
    assert_float_equal(feature(f, "buf3.present"), 0, 0);
    /* totals: 4 copies of the fma per run of the update; one parallel loop of 16 */
    assert_feature(f, "float_fma", 4.0 * 16 * 4 * 64);
    assert_feature(f, "parallel_loops", 1);
    assert_feature(f, "parallel_extent", 16);
    assert_feature(f, "max_lanes", 16);
    ts_arena_destroy(A);
}

/* Feature names are unique and found again. */
static void test_feature_names(void **state)
{
    (void)state;
    for (int i = 0; i < TUNE_LOOP_FEATURES; i++) {
        char name[64];
        tune_loop_feature_name(i, name, sizeof name);
        assert_int_equal(tune_loop_feature_find(name), i);
    }
    assert_int_equal(tune_loop_feature_find("no such feature"), -1);
}

static TsTuneTask *dense_task(int64_t m, int64_t n, int64_t k)
{
    TsTemplateArgs args = { 0 };
    TsError err;
    ok(ts_template_args_set(&args, "M", m, &err), &err);
    ok(ts_template_args_set(&args, "N", n, &err), &err);
    ok(ts_template_args_set(&args, "K", k, &err), &err);
    TsTuneTask *task;
    ok(ts_tune_task_create("dense", &args, "llvm", &task, &err), &err);
    return task;
}

/* Candidates of the dense template: every feature vector is finite, and candidates with
 * other vector widths or tiles differ. */
static void test_dense_candidates(void **state)
{
    (void)state;
    TsTuneTask *task = dense_task(128, 128, 128);
    const TsConfigSpace *space = ts_tune_task_space(task);
    int64_t size = ts_space_size(space);
    enum { N = 24 };
    float f[N][TUNE_LOOP_FEATURES];
    TsError err;
    int distinct = 0;
    for (int c = 0; c < N; c++) {
        int64_t index = (size - 1) * c / (N - 1);
        ok(tune_candidate_features(task, index, f[c], &err), &err);
        for (int i = 0; i < TUNE_LOOP_FEATURES; i++)
            assert_true(isfinite(f[c][i]) && f[c][i] >= 0);
        if (feature(f[c], "lower_failed") == 0) {
            assert_true(feature(f[c], "hot.runs") > 0);
            assert_true(feature(f[c], "float_fma") + feature(f[c], "float_mul") > 0);
        }
        bool same = false;
        for (int d = 0; d < c; d++)
            same |= memcmp(f[c], f[d], sizeof f[c]) == 0;
        distinct += !same;
    }
    assert_true(distinct >= N / 2);
    ts_tune_task_free(task);
}

/* A config the schedule language refuses is flagged, not an error. */
static void test_failed_candidate(void **state)
{
    (void)state;
    tt_register_templates();
    TsTuneTask *task = tt_task("test_isolation", 0, 64, 0);
    const TsConfigSpace *space = ts_tune_task_space(task);
    TsError err;
    int64_t refused = -1, fine = -1;
    for (int64_t i = 0; i < ts_space_size(space); i++) {
        TsConfig config;
        int64_t mode;
        ok(ts_space_get(space, i, &config, &err), &err);
        ok(ts_config_knob(&config, "mode", &mode, &err), &err);
        if (mode == 3)
            refused = i;
        if (mode == 0)
            fine = i;
    }
    assert_true(refused >= 0 && fine >= 0);
    float f[TUNE_LOOP_FEATURES];
    ok(tune_candidate_features(task, refused, f, &err), &err);
    assert_float_equal(feature(f, "lower_failed"), 1, 0);
    assert_float_equal(feature(f, "hot.runs"), 0, 0);
    ok(tune_candidate_features(task, fine, f, &err), &err);
    assert_float_equal(feature(f, "lower_failed"), 0, 0);
    assert_feature(f, "hot.runs", 64);
    ts_tune_task_free(task);
}

/* Knob features: from a config and from its entity (also another shape's) agree. */
static void test_knob_features(void **state)
{
    (void)state;
    TsTuneTask *task = dense_task(256, 256, 256), *other = dense_task(64, 512, 128);
    const TsConfigSpace *space = ts_tune_task_space(task);
    const TsConfigSpace *other_space = ts_tune_task_space(other);
    TuneKnobTable *table, *other_table;
    TsError err;
    ok(tune_knob_table_create(space, &table, &err), &err);
    ok(tune_knob_table_create(other_space, &other_table, &err), &err);
    int width = tune_knob_table_width(table);
    assert_int_equal(width, tune_knob_table_width(other_table));
    assert_true(width >= ts_space_num_knobs(space));
    float a[256], b[256];
    assert_true(width <= 256);
    for (int c = 0; c < 10; c++) {
        TsConfig config;
        char entity[TS_RECORD_MAX_ENTITY];
        ok(ts_space_get(other_space, ts_space_size(other_space) * c / 10, &config, &err), &err);
        ok(ts_config_entity(&config, entity, sizeof entity, &err), &err);
        tune_knob_features(other_table, config.choice, a);
        assert_true(tune_knob_features_from_entity(table, entity, b));
        assert_memory_equal(a, b, sizeof(float) * (size_t)width);
    }
    assert_false(tune_knob_features_from_entity(table, "[[\"tile_y\",\"sp\",[-1,4]]]", b));
    assert_false(tune_knob_features_from_entity(table, "not json", b));
    tune_knob_table_free(table);
    tune_knob_table_free(other_table);
    ts_tune_task_free(task);
    ts_tune_task_free(other);
}

static TsMeasureResult synthetic_result(int64_t index)
{
    TsMeasureResult r;
    memset(&r, 0, sizeof r);
    r.num_costs = 1;
    r.costs[0] = 1e-3 * (1 + (double)(index % 17));
    return r;
}

/* The xgb tuner with a task: records of another shape are lowered with that shape's task
 * and warm-start the full model; records of this task are never proposed. */
static void test_xgb_task_history(void **state)
{
    (void)state;
    TsTuneTask *task = dense_task(64, 64, 64), *other = dense_task(32, 64, 128);
    const TsConfigSpace *space = ts_tune_task_space(task);
    const TsConfigSpace *other_space = ts_tune_task_space(other);
    enum { NUM_OTHER = 40, NUM_OWN = 10 };
    TsTuneRecord records[NUM_OTHER + NUM_OWN];
    TsError err;
    for (int i = 0; i < NUM_OTHER; i++) {
        int64_t index = ts_space_size(other_space) * i / NUM_OTHER;
        TsMeasureResult r = synthetic_result(index);
        ok(ts_tune_record_make(other, index, &r, &records[i], &err), &err);
    }
    for (int i = 0; i < NUM_OWN; i++) {
        int64_t index = ts_space_size(space) * i / NUM_OWN;
        TsMeasureResult r = synthetic_result(index);
        ok(ts_tune_record_make(task, index, &r, &records[NUM_OTHER + i], &err), &err);
    }
    TsTuner *tuner;
    ok(ts_tuner_create("xgb", task, NULL, 1, &tuner, &err), &err);
    ok(ts_tuner_load_history(tuner, NUM_OTHER + NUM_OWN, records, &err), &err);
    for (int round = 0; round < 3; round++) {
        int64_t idx[8];
        TsMeasureResult res[8];
        int n;
        ok(ts_tuner_next_batch(tuner, 8, idx, &n, &err), &err);
        assert_int_equal(n, 8);
        for (int i = 0; i < n; i++) {
            for (int h = 0; h < NUM_OWN; h++)
                assert_true(idx[i] != records[NUM_OTHER + h].index);
            res[i] = synthetic_result(idx[i]);
        }
        ok(ts_tuner_update(tuner, n, idx, res, &err), &err);
    }
    ts_tuner_free(tuner);
    ts_tune_task_free(task);
    ts_tune_task_free(other);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blocked_matmul),   cmocka_unit_test(test_feature_names),
        cmocka_unit_test(test_dense_candidates), cmocka_unit_test(test_failed_candidate),
        cmocka_unit_test(test_knob_features),    cmocka_unit_test(test_xgb_task_history),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
