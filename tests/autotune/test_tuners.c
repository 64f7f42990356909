/* Tests of the tuners on bare config spaces with synthetic cost functions whose best
 * point is known (found by enumeration): grid and random exhaust a 200-point space and
 * find its best exactly, never proposing a point twice; the genetic and the XGBoost
 * tuners find the best of a 4,536-point space with a smooth-ish cost within a bounded
 * number of trials, the XGBoost tuner in clearly fewer trials than random search on
 * average over seeds; failed candidates are learned from; transfer learning from the
 * records of another shape makes the XGBoost tuner faster; error paths name the
 * culprit. Everything is seeded and deterministic: assertions are on trial counts. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tessera/tessera.h"

enum { BATCH = 8, NUM_SEEDS = 3 };

static void ok(TsStatus st, const TsError *err)
{
    if (st != TS_OK)
        fail_msg("%s: %s", ts_status_name(st), err->message);
}

/* ---- synthetic problems ---- */

/* A cost function: throughput of a point (0: the candidate fails). */
typedef double (*ThroughputFn)(const TsConfig *config, int64_t extent);

typedef struct Problem {
    TsConfigSpace *space;
    ThroughputFn throughput;
    int64_t extent; /* the "shape" the cost function is of */
    int64_t best;
} Problem;

/* Deterministic noise in [-1, 1) per point, so the cost is only smooth-ish. */
static double noise(int64_t index, int64_t extent)
{
    uint64_t x = (uint64_t)index * 0x9e3779b97f4a7c15ULL ^ (uint64_t)extent * 0xc2b2ae3d27d4eb4fULL;
    x ^= x >> 31;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 29;
    return (double)(x >> 11) * 0x1.0p-52 - 1.0;
}

static int64_t split_inner(const TsConfig *config, const char *name)
{
    int64_t f[TS_KNOB_MAX_OUTPUTS];
    int n = 0;
    TsError err;
    ok(ts_config_split(config, name, f, TS_KNOB_MAX_OUTPUTS, &n, &err), &err);
    return f[n - 1];
}

/* A tiled kernel's speed: best at ty = 8, tx = extent / 8, tk = 4, unrolled, vector 8;
 * a tile of more than 512 elements fails (too many registers). */
static double tiled_throughput(const TsConfig *config, int64_t extent)
{
    TsError err;
    double ty = log2((double)split_inner(config, "tile_y"));
    double tx = log2((double)split_inner(config, "tile_x"));
    double tk = log2((double)split_inner(config, "tile_k"));
    const char *unroll;
    int64_t vec;
    ok(ts_config_annotate(config, "unroll", &unroll, &err), &err);
    ok(ts_config_knob(config, "vec", &vec, &err), &err);
    double best_tx = log2((double)extent) - 3;
    if (ty + tx > 9)
        return 0;
    double q = (ty - 3) * (ty - 3) / 4 + (tx - best_tx) * (tx - best_tx) / 4 +
               (tk - 2) * (tk - 2) / 3 + 0.05 * (ty - 3) * (tx - best_tx);
    double s =
        exp(-q) * (strcmp(unroll, "unroll") == 0 ? 1.2 : 1.0) * (1 + 0.1 * log2((double)vec));
    return s * (1 + 0.03 * noise(config->index, extent));
}

static int64_t find_best(const Problem *p)
{
    int64_t best = -1;
    double best_tp = 0;
    TsError err;
    for (int64_t i = 0; i < ts_space_size(p->space); i++) {
        TsConfig config;
        ok(ts_space_get(p->space, i, &config, &err), &err);
        double tp = p->throughput(&config, p->extent);
        if (tp > best_tp) {
            best_tp = tp;
            best = i;
        }
    }
    return best;
}

/* 9 x 9 x 7 x 2 x 4 = 4,536 points for extent 256. */
static Problem tiled_problem(int64_t extent)
{
    Problem p = { ts_config_space_create(), tiled_throughput, extent, -1 };
    TsError err;
    TsSplitOptions sp = { .policy = TS_SPLIT_POWER2, .num_outputs = 2 };
    ok(ts_space_define_split(p.space, "tile_y", 256, &sp, &err), &err);
    ok(ts_space_define_split(p.space, "tile_x", extent, &sp, &err), &err);
    ok(ts_space_define_split(p.space, "tile_k", 64, &sp, &err), &err);
    ok(ts_space_define_annotate(p.space, "unroll", 2, (const char *[]){ "none", "unroll" }, &err),
       &err);
    ok(ts_space_define_knob(p.space, "vec", 4, (int64_t[]){ 1, 2, 4, 8 }, &err), &err);
    p.best = find_best(&p);
    return p;
}

/* Two plain knobs, 10 x 20 = 200 points, best at a = 7, b = 13. */
static double small_throughput(const TsConfig *config, int64_t extent)
{
    (void)extent;
    TsError err;
    int64_t a, b;
    ok(ts_config_knob(config, "a", &a, &err), &err);
    ok(ts_config_knob(config, "b", &b, &err), &err);
    if (a == 0 && b == 0)
        return 0;
    return 1.0 / (1.0 + (double)((a - 7) * (a - 7) + (b - 13) * (b - 13)));
}

static Problem small_problem(void)
{
    Problem p = { ts_config_space_create(), small_throughput, 0, -1 };
    TsError err;
    int64_t values[20];
    for (int i = 0; i < 20; i++)
        values[i] = i;
    ok(ts_space_define_knob(p.space, "a", 10, values, &err), &err);
    ok(ts_space_define_knob(p.space, "b", 20, values, &err), &err);
    p.best = find_best(&p);
    assert_int_equal(p.best, 7 + 10 * 13);
    return p;
}

static TsMeasureResult measure(const Problem *p, int64_t index)
{
    TsMeasureResult r;
    memset(&r, 0, sizeof r);
    TsConfig config;
    TsError err;
    ok(ts_space_get(p->space, index, &config, &err), &err);
    double tp = p->throughput(&config, p->extent);
    if (tp <= 0) {
        r.error_no = TS_MEASURE_BUILD_ERROR;
        snprintf(r.error_msg, sizeof r.error_msg, "synthetic failure");
        return r;
    }
    r.num_costs = 1;
    r.costs[0] = 1e-3 / tp;
    return r;
}

/* ---- a tuning loop ---- */

typedef struct Run {
    int trials; /* proposed until the best was, or all */
    bool found;
    int64_t *proposed; /* every proposed point, in order */
    int num_proposed;
} Run;

/* Tunes p with kind until its best is proposed (when stop_at_best) or budget trials are
 * spent; checks that no point is proposed twice. history: records loaded first (may be
 * NULL). */
static Run tune_until(const Problem *p, const char *kind, uint64_t seed, int budget,
                      const TsTuneRecord *history, int num_history, bool stop_at_best)
{
    TsTuner *tuner;
    TsError err;
    ok(ts_tuner_create(kind, NULL, p->space, seed, &tuner, &err), &err);
    assert_string_equal(ts_tuner_kind(tuner), kind);
    if (history)
        ok(ts_tuner_load_history(tuner, num_history, history, &err), &err);
    int64_t size = ts_space_size(p->space);
    char *seen = calloc((size_t)size, 1);
    Run run = { 0, false, malloc(sizeof(int64_t) * (size_t)size), 0 };
    while (!(run.found && stop_at_best) && run.num_proposed < budget && ts_tuner_has_next(tuner)) {
        int64_t idx[BATCH];
        TsMeasureResult res[BATCH];
        int n = 0;
        ok(ts_tuner_next_batch(tuner, BATCH, idx, &n, &err), &err);
        assert_true(n > 0);
        for (int i = 0; i < n; i++) {
            assert_true(idx[i] >= 0 && idx[i] < size);
            if (seen[idx[i]])
                fail_msg("%s proposed %lld twice", kind, (long long)idx[i]);
            seen[idx[i]] = 1;
            run.proposed[run.num_proposed++] = idx[i];
            res[i] = measure(p, idx[i]);
            if (idx[i] == p->best && !run.found) {
                run.found = true;
                run.trials = run.num_proposed;
            }
        }
        ok(ts_tuner_update(tuner, n, idx, res, &err), &err);
    }
    if (!run.found)
        run.trials = run.num_proposed;
    free(seen);
    ts_tuner_free(tuner);
    return run;
}

static Run tune(const Problem *p, const char *kind, uint64_t seed, int budget,
                const TsTuneRecord *history, int num_history)
{
    return tune_until(p, kind, seed, budget, history, num_history, true);
}

/* Trials to the best, averaged over NUM_SEEDS seeds. */
static double mean_trials(const Problem *p, const char *kind, int budget,
                          const TsTuneRecord *history, int num_history, int *worst)
{
    double sum = 0;
    *worst = 0;
    for (int s = 0; s < NUM_SEEDS; s++) {
        Run run = tune(p, kind, 1000 + (uint64_t)s, budget, history, num_history);
        if (!run.found)
            fail_msg("%s (seed %d) did not find the best in %d trials", kind, s, budget);
        sum += run.trials;
        if (run.trials > *worst)
            *worst = run.trials;
        free(run.proposed);
    }
    return sum / NUM_SEEDS;
}

/* ---- grid and random: exhaustion ---- */

static void exhaust(const char *kind)
{
    Problem p = small_problem();
    Run run = tune(&p, kind, 7, 1000, NULL, 0);
    assert_true(run.found);
    /* The loop stops at the best; run the rest through a fresh tuner to the end. */
    free(run.proposed);
    TsTuner *tuner;
    TsError err;
    ok(ts_tuner_create(kind, NULL, p.space, 7, &tuner, &err), &err);
    int total = 0;
    char seen[200] = { 0 };
    while (ts_tuner_has_next(tuner)) {
        int64_t idx[64];
        int n;
        ok(ts_tuner_next_batch(tuner, 64, idx, &n, &err), &err);
        for (int i = 0; i < n; i++) {
            assert_int_equal(seen[idx[i]], 0);
            seen[idx[i]] = 1;
            if (strcmp(kind, "grid") == 0)
                assert_int_equal(idx[i], total + i);
        }
        total += n;
    }
    assert_int_equal(total, 200);
    int64_t idx[4];
    int n = -1;
    ok(ts_tuner_next_batch(tuner, 4, idx, &n, &err), &err);
    assert_int_equal(n, 0);
    ts_tuner_free(tuner);
    ts_config_space_free(p.space);
}

static void test_grid_exhausts(void **state)
{
    (void)state;
    exhaust("grid");
}

static void test_random_exhausts(void **state)
{
    (void)state;
    exhaust("random");
}

/* Random proposes a permutation: different seeds, different orders, same set. */
static void test_random_is_seeded(void **state)
{
    (void)state;
    Problem p = small_problem();
    Run a = tune(&p, "random", 1, 40, NULL, 0);
    Run b = tune(&p, "random", 1, 40, NULL, 0);
    Run c = tune(&p, "random", 2, 40, NULL, 0);
    assert_int_equal(a.num_proposed, b.num_proposed);
    assert_memory_equal(a.proposed, b.proposed, sizeof(int64_t) * (size_t)a.num_proposed);
    assert_memory_not_equal(a.proposed, c.proposed, sizeof(int64_t) * 8);
    free(a.proposed);
    free(b.proposed);
    free(c.proposed);
    ts_config_space_free(p.space);
}

/* ---- ga and xgb: convergence ---- */

static void test_ga_converges(void **state)
{
    (void)state;
    Problem p = tiled_problem(256);
    assert_int_equal(ts_space_size(p.space), 4536);
    int worst;
    double ga = mean_trials(&p, "ga", 2500, NULL, 0, &worst);
    print_message("ga: %.0f trials on average to the best of 4536 points (worst %d)\n", ga, worst);
    assert_true(worst <= 500);
    ts_config_space_free(p.space);
}

static void test_xgb_beats_random(void **state)
{
    (void)state;
    Problem p = tiled_problem(256);
    int worst_xgb, worst_random;
    double xgb = mean_trials(&p, "xgb", 1500, NULL, 0, &worst_xgb);
    double random = mean_trials(&p, "random", 4536, NULL, 0, &worst_random);
    print_message("xgb: %.0f trials (worst %d); random: %.0f trials (worst %d)\n", xgb, worst_xgb,
                  random, worst_random);
    assert_true(worst_xgb <= 300);
    assert_true(xgb * 4 <= random);
    ts_config_space_free(p.space);
}

/* Deterministic for a seed: the same proposals twice. */
static void test_xgb_is_deterministic(void **state)
{
    (void)state;
    Problem p = tiled_problem(256);
    Run a = tune(&p, "xgb", 5, 48, NULL, 0);
    Run b = tune(&p, "xgb", 5, 48, NULL, 0);
    assert_int_equal(a.num_proposed, b.num_proposed);
    assert_memory_equal(a.proposed, b.proposed, sizeof(int64_t) * (size_t)a.num_proposed);
    free(a.proposed);
    free(b.proposed);
    ts_config_space_free(p.space);
}

/* Failed candidates are learned from: after the model has data, the xgb tuner proposes
 * fewer failing points than random search does. */
static void test_xgb_learns_failures(void **state)
{
    (void)state;
    Problem p = tiled_problem(256);
    Run x = tune_until(&p, "xgb", 3, 200, NULL, 0, false);
    Run r = tune_until(&p, "random", 3, 200, NULL, 0, false);
    int fail_x = 0, fail_r = 0;
    for (int i = 48; i < x.num_proposed; i++)
        fail_x += measure(&p, x.proposed[i]).error_no != 0;
    for (int i = 48; i < r.num_proposed; i++)
        fail_r += measure(&p, r.proposed[i]).error_no != 0;
    print_message("failing proposals after 48 trials: xgb %d of %d, random %d of %d\n", fail_x,
                  x.num_proposed - 48, fail_r, r.num_proposed - 48);
    assert_int_equal(x.num_proposed, 200);
    assert_int_equal(r.num_proposed, 200);
    assert_true(fail_r > 20);
    assert_true(fail_x * 2 <= fail_r);
    free(x.proposed);
    free(r.proposed);
    ts_config_space_free(p.space);
}

/* ---- transfer learning ---- */

/* Records of a random tuning run of problem p (n trials). */
static TsTuneRecord *records_of(const Problem *p, int n, uint64_t seed)
{
    TsTuneRecord *records = calloc((size_t)n, sizeof *records);
    TsTuner *tuner;
    TsError err;
    ok(ts_tuner_create("random", NULL, p->space, seed, &tuner, &err), &err);
    int64_t idx[256];
    int got;
    assert_true(n <= 256);
    ok(ts_tuner_next_batch(tuner, n, idx, &got, &err), &err);
    assert_int_equal(got, n);
    for (int i = 0; i < n; i++) {
        TsTuneRecord *r = &records[i];
        TsConfig config;
        ok(ts_space_get(p->space, idx[i], &config, &err), &err);
        snprintf(r->target, sizeof r->target, "llvm");
        snprintf(r->template_name, sizeof r->template_name, "synthetic_tiled");
        ok(ts_template_args_set(&r->args, "N", p->extent, &err), &err);
        snprintf(r->dtype, sizeof r->dtype, "float32");
        r->index = idx[i];
        ok(ts_config_entity(&config, r->entity, sizeof r->entity, &err), &err);
        r->result = measure(p, idx[i]);
    }
    ts_tuner_free(tuner);
    return records;
}

/* Records of another shape (extent 128: another space, other best tile_x) warm-start
 * the model for extent 256. */
static void test_xgb_transfer_from_other_shape(void **state)
{
    (void)state;
    Problem target = tiled_problem(256), other = tiled_problem(128);
    TsTuneRecord *history = records_of(&other, 200, 99);
    int worst_cold, worst_warm;
    double cold = mean_trials(&target, "xgb", 1500, NULL, 0, &worst_cold);
    double warm = mean_trials(&target, "xgb", 1500, history, 200, &worst_warm);
    print_message("xgb to the best: %.0f trials cold, %.0f warm-started by 200 records of "
                  "another shape\n",
                  cold, warm);
    assert_true(warm < cold);
    /* The other shape's indices are not this space's: nothing was marked visited. */
    TsTuner *tuner;
    TsError err;
    ok(ts_tuner_create("xgb", NULL, target.space, 1, &tuner, &err), &err);
    ok(ts_tuner_load_history(tuner, 200, history, &err), &err);
    int64_t idx[BATCH];
    int n;
    ok(ts_tuner_next_batch(tuner, BATCH, idx, &n, &err), &err);
    assert_int_equal(n, BATCH);
    ts_tuner_free(tuner);
    free(history);
    ts_config_space_free(target.space);
    ts_config_space_free(other.space);
}

/* Records of this very space: never proposed again, and the model starts from them. */
static void test_history_of_same_space(void **state)
{
    (void)state;
    Problem p = tiled_problem(256);
    TsTuneRecord *history = records_of(&p, 100, 5);
    const char *kinds[] = { "random", "grid", "ga", "xgb" };
    for (int k = 0; k < 4; k++) {
        TsTuner *tuner;
        TsError err;
        ok(ts_tuner_create(kinds[k], NULL, p.space, 3, &tuner, &err), &err);
        ok(ts_tuner_load_history(tuner, 100, history, &err), &err);
        for (int round = 0; round < 20; round++) {
            int64_t idx[BATCH];
            TsMeasureResult res[BATCH];
            int n;
            ok(ts_tuner_next_batch(tuner, BATCH, idx, &n, &err), &err);
            for (int i = 0; i < n; i++) {
                for (int h = 0; h < 100; h++)
                    if (history[h].index == idx[i])
                        fail_msg("%s proposed %lld of the history", kinds[k], (long long)idx[i]);
                res[i] = measure(&p, idx[i]);
            }
            ok(ts_tuner_update(tuner, n, idx, res, &err), &err);
        }
        ts_tuner_free(tuner);
    }
    /* A space of 200 points with 100 known: exhausted after 100 proposals. */
    Problem small = small_problem();
    TsTuner *tuner;
    TsError err;
    ok(ts_tuner_create("random", NULL, small.space, 3, &tuner, &err), &err);
    TsTuneRecord *known = calloc(100, sizeof *known);
    for (int i = 0; i < 100; i++) {
        TsConfig config;
        ok(ts_space_get(small.space, 2 * i, &config, &err), &err);
        known[i].index = 2 * i;
        ok(ts_config_entity(&config, known[i].entity, sizeof known[i].entity, &err), &err);
        known[i].result = measure(&small, 2 * i);
    }
    ok(ts_tuner_load_history(tuner, 100, known, &err), &err);
    int total = 0, n;
    int64_t idx[64];
    while (ts_tuner_has_next(tuner)) {
        ok(ts_tuner_next_batch(tuner, 64, idx, &n, &err), &err);
        for (int i = 0; i < n; i++)
            assert_int_equal(idx[i] % 2, 1);
        total += n;
    }
    assert_int_equal(total, 100);
    ts_tuner_free(tuner);
    free(known);
    free(history);
    ts_config_space_free(small.space);
    ts_config_space_free(p.space);
}

/* ---- errors ---- */

static void test_unknown_kind(void **state)
{
    (void)state;
    Problem p = small_problem();
    TsTuner *tuner = (TsTuner *)&p;
    TsError err;
    assert_int_equal(ts_tuner_create("annealing", NULL, p.space, 1, &tuner, &err), TS_EINVAL);
    assert_null(tuner);
    assert_non_null(strstr(err.message, "\"annealing\""));
    assert_non_null(strstr(err.message, "random, grid, ga, xgb"));
    assert_int_equal(ts_tuner_create(NULL, NULL, p.space, 1, &tuner, &err), TS_EINVAL);
    assert_int_equal(ts_tuner_create("xgb", NULL, NULL, 1, &tuner, &err), TS_EINVAL);
    assert_non_null(strstr(err.message, "xgb"));
    ts_config_space_free(p.space);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    Problem p = small_problem();
    TsTuner *tuner;
    TsError err;
    ok(ts_tuner_create("ga", NULL, p.space, 1, &tuner, &err), &err);
    int64_t idx[4];
    int n = -1;
    assert_int_equal(ts_tuner_next_batch(tuner, 0, idx, &n, &err), TS_EINVAL);
    assert_non_null(strstr(err.message, "batch size 0"));
    assert_int_equal(n, 0);
    assert_int_equal(ts_tuner_next_batch(tuner, -3, idx, &n, &err), TS_EINVAL);
    assert_non_null(strstr(err.message, "batch size -3"));
    TsMeasureResult res = measure(&p, 1);
    int64_t bad = 200;
    assert_int_equal(ts_tuner_update(tuner, 1, &bad, &res, &err), TS_EINVAL);
    assert_non_null(strstr(err.message, "index 200"));
    assert_int_equal(ts_tuner_update(tuner, -1, &bad, &res, &err), TS_EINVAL);
    ts_tuner_free(tuner);
    ts_tuner_free(NULL);
    ts_config_space_free(p.space);
}

/* Updates with failed results only: the tuners go on proposing new points. */
static void test_update_with_failures(void **state)
{
    (void)state;
    Problem p = tiled_problem(256);
    const char *kinds[] = { "random", "grid", "ga", "xgb" };
    for (int k = 0; k < 4; k++) {
        TsTuner *tuner;
        TsError err;
        ok(ts_tuner_create(kinds[k], NULL, p.space, 1, &tuner, &err), &err);
        for (int round = 0; round < 6; round++) {
            int64_t idx[BATCH];
            TsMeasureResult res[BATCH];
            int n;
            ok(ts_tuner_next_batch(tuner, BATCH, idx, &n, &err), &err);
            assert_int_equal(n, BATCH);
            for (int i = 0; i < n; i++) {
                memset(&res[i], 0, sizeof res[i]);
                res[i].error_no = i % 2 ? TS_MEASURE_RUN_TIMEOUT : TS_MEASURE_RUNTIME_ERROR;
            }
            ok(ts_tuner_update(tuner, n, idx, res, &err), &err);
        }
        ts_tuner_free(tuner);
    }
    ts_config_space_free(p.space);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grid_exhausts),
        cmocka_unit_test(test_random_exhausts),
        cmocka_unit_test(test_random_is_seeded),
        cmocka_unit_test(test_ga_converges),
        cmocka_unit_test(test_xgb_beats_random),
        cmocka_unit_test(test_xgb_is_deterministic),
        cmocka_unit_test(test_xgb_learns_failures),
        cmocka_unit_test(test_xgb_transfer_from_other_shape),
        cmocka_unit_test(test_history_of_same_space),
        cmocka_unit_test(test_unknown_kind),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_update_with_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
