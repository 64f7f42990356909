/* Error tests of the schedule primitives: one test per illegal request. Each checks the
 * status (TS_ESCHEDULE for a request the schedule cannot honour, TS_EINVAL for a bad
 * argument), a substring of the message that names the stage and the axes, and that
 * the refused request left the schedule as it was (its text and every stage's leaves;
 * one test also compares the lowered loop nest before and after a series of refusals).
 *
 * Most tests use one small DAG (sch_chain_build, sch_testing.h):
 *     scaled[si, sk] = a[si, sk] * 2                      (elementwise, intermediate)
 *     mm[i, j]       = sum_k scaled[i, k] * b[k, j]       (reduction, intermediate)
 *     out[oi, oj]    = mm[oi, oj] + 1                     (the output)
 * with distinct axis names, so a message naming "j" can only mean mm's axis. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sch_testing.h"
#include "test_util.h"

typedef struct Fixture {
    TsArena *A;
    SchChain c;
} Fixture;

static int setup(void **state)
{
    Fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    TsArena *A = f->A = ts_arena_create();
    if (!sch_chain_build(A, &f->c)) {
        ts_arena_destroy(A);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    Fixture *f = *state;
    ts_arena_destroy(f->A);
    free(f);
    return 0;
}

/* The schedule's text and every stage's leaves, one line each: what a refused request
 * must not change. */
static char *snapshot(TsSchedule *sch, TsStage *const *stages, int num_stages)
{
    TsArena *scratch = ts_arena_create();
    const char *text = ts_schedule_str(scratch, sch);
    size_t cap = (text ? strlen(text) : 0) + 4096, n = 0;
    char *s = malloc(cap);
    assert_non_null(s);
    n += (size_t)snprintf(s + n, cap - n, "%s", text ? text : "(no text)");
    for (int i = 0; i < num_stages && n < cap; i++) {
        n += (size_t)snprintf(s + n, cap - n, "%s:", ts_stage_name(stages[i]));
        for (int l = 0; l < ts_stage_num_leaves(stages[i]) && n < cap; l++)
            n += (size_t)snprintf(s + n, cap - n, " %s", ts_axis_name(ts_stage_leaf(stages[i], l)));
        if (n < cap)
            n += (size_t)snprintf(s + n, cap - n, "\n");
    }
    ts_arena_destroy(scratch);
    return s;
}

static char *fixture_snapshot(Fixture *f)
{
    return snapshot(f->c.sch, (TsStage *[]){ f->c.s_scaled, f->c.s_mm, f->c.s_out }, 3);
}

/* The request returned want with a message containing needle, and the schedule text and
 * leaves are what they were before it (before is freed). */
static void expect_refused(TsStatus got, const TsError *err, TsStatus want, const char *needle,
                           char *before, char *after)
{
    if (got != want || err->status != want || !strstr(err->message, needle))
        fprintf(stderr, "got %s: \"%s\"; wanted %s containing \"%s\"\n", ts_status_name(got),
                err->message, ts_status_name(want), needle);
    assert_int_equal(got, want);
    assert_int_equal(err->status, want);
    assert_non_null(strstr(err->message, needle));
    assert_string_equal(before, after);
    free(before);
    free(after);
}

/* For the common case: the fixture before and after one call. */
#define EXPECT_REFUSED(f, call, want, needle)                                        \
    do {                                                                             \
        char *before_ = fixture_snapshot(f);                                         \
        TsError err_ = { TS_OK, "" };                                                \
        TsStatus got_ = call(&err_);                                                 \
        expect_refused(got_, &err_, (want), (needle), before_, fixture_snapshot(f)); \
    } while (0)

/* Each request is written as a small function of the error record, so EXPECT_REFUSED can
 * take the snapshots around it. */
static Fixture *F; /* the running test's fixture, for those functions */

static void accept(TsStatus got, const TsError *err)
{
    if (got != TS_OK)
        fprintf(stderr, "unexpected refusal: %s\n", err->message);
    assert_int_equal(got, TS_OK);
}

/* ---- split ---- */

static TsStatus split_i_again(TsError *err)
{
    return ts_split(F->c.s_mm, F->c.i, 2, NULL, NULL, err);
}

static void test_split_of_a_split_axis(void **state)
{
    F = *state;
    TsError err;
    accept(ts_split(F->c.s_mm, F->c.i, 4, NULL, NULL, &err), &err);
    EXPECT_REFUSED(F, split_i_again, TS_ESCHEDULE,
                   "split on stage mm: axis i is no longer a leaf (it was split into i.outer "
                   "and i.inner)");
}

static TsStatus split_fused_j(TsError *err)
{
    return ts_split(F->c.s_mm, F->c.j, 3, NULL, NULL, err);
}

static void test_split_of_a_fused_axis(void **state)
{
    F = *state;
    TsError err;
    accept(ts_fuse(F->c.s_mm, F->c.i, F->c.j, NULL, &err), &err);
    EXPECT_REFUSED(F, split_fused_j, TS_ESCHEDULE,
                   "split on stage mm: axis j is no longer a leaf (it was fused into i.j.fused)");
}

static TsStatus split_factor_0(TsError *err)
{
    return ts_split(F->c.s_mm, F->c.j, 0, NULL, NULL, err);
}

static TsStatus split_factor_negative(TsError *err)
{
    return ts_split(F->c.s_mm, F->c.k, -3, NULL, NULL, err);
}

static TsStatus split_nparts_0(TsError *err)
{
    return ts_split_nparts(F->c.s_out, F->c.oi, 0, NULL, NULL, err);
}

static TsStatus tile_factor_0(TsError *err)
{
    return ts_tile(F->c.s_out, F->c.oi, F->c.oj, 4, 0, NULL, NULL, NULL, NULL, err);
}

static void test_split_factor_zero(void **state)
{
    F = *state;
    EXPECT_REFUSED(F, split_factor_0, TS_EINVAL,
                   "split on stage mm: factor 0 of axis j must be >= 1");
    EXPECT_REFUSED(F, split_factor_negative, TS_EINVAL, "factor -3 of axis k must be >= 1");
    EXPECT_REFUSED(F, split_nparts_0, TS_EINVAL,
                   "split_nparts on stage out: nparts 0 of axis oi must be >= 1");
    /* tile checks both factors before it splits either axis. */
    EXPECT_REFUSED(F, tile_factor_0, TS_EINVAL, "tile on stage out: factors 4 and 0");
}

/* ---- reorder ---- */

static TsStatus reorder_foreign(TsError *err)
{
    return ts_reorder(F->c.s_out, 2, (TsAxis *[]){ F->c.oi, F->c.j }, err);
}

static TsStatus reorder_foreign_reduce(TsError *err)
{
    return ts_reorder(F->c.s_out, 2, (TsAxis *[]){ F->c.k, F->c.oi }, err);
}

static void test_reorder_axis_of_another_stage(void **state)
{
    F = *state;
    EXPECT_REFUSED(F, reorder_foreign, TS_ESCHEDULE,
                   "reorder on stage out: axis j belongs to stage mm");
    /* A reduce axis of another stage is not out's either. */
    EXPECT_REFUSED(F, reorder_foreign_reduce, TS_ESCHEDULE, "reorder on stage out: axis k");
}

static TsStatus reorder_twice(TsError *err)
{
    return ts_reorder(F->c.s_mm, 3, (TsAxis *[]){ F->c.k, F->c.i, F->c.k }, err);
}

static void test_reorder_repeated_axis(void **state)
{
    F = *state;
    EXPECT_REFUSED(F, reorder_twice, TS_ESCHEDULE, "reorder on stage mm: axis k is listed twice");
}

static TsStatus reorder_stale(TsError *err)
{
    return ts_reorder(F->c.s_out, 2, (TsAxis *[]){ F->c.oj, F->c.oi }, err);
}

static void test_reorder_axis_no_longer_a_leaf(void **state)
{
    F = *state;
    TsError err;
    accept(ts_split(F->c.s_out, F->c.oj, 5, NULL, NULL, &err), &err);
    EXPECT_REFUSED(F, reorder_stale, TS_ESCHEDULE,
                   "reorder on stage out: axis oj is no longer a leaf (it was split into "
                   "oj.outer and oj.inner)");
}

/* ---- fuse ---- */

static TsStatus fuse_i_k(TsError *err)
{
    return ts_fuse(F->c.s_mm, F->c.i, F->c.k, NULL, err);
}

static TsStatus fuse_j_i(TsError *err)
{
    return ts_fuse(F->c.s_mm, F->c.j, F->c.i, NULL, err);
}

static TsStatus fuse_j_k(TsError *err)
{
    return ts_fuse(F->c.s_mm, F->c.j, F->c.k, NULL, err);
}

static void test_fuse_non_adjacent(void **state)
{
    F = *state;
    EXPECT_REFUSED(
        F, fuse_i_k, TS_ESCHEDULE,
        "fuse on stage mm: k must be the loop directly inside i (they are leaves 0 and 2)");
    /* Adjacent, but in the wrong order. */
    EXPECT_REFUSED(F, fuse_j_i, TS_ESCHEDULE,
                   "fuse on stage mm: i must be the loop directly inside j");
    /* Adjacent and in order, but a data-parallel and a reduce axis. */
    EXPECT_REFUSED(F, fuse_j_k, TS_ESCHEDULE,
                   "fuse on stage mm: j and k are not both data-parallel or both reduce axes");
}

/* ---- annotations ---- */

static TsStatus vectorize_k(TsError *err)
{
    return ts_vectorize(F->c.s_mm, F->c.k, err);
}

static TsStatus vectorize_k_inner(TsError *err)
{
    return ts_vectorize(F->c.s_mm, ts_stage_leaf(F->c.s_mm, 3), err);
}

static void test_vectorize_reduction_axis(void **state)
{
    F = *state;
    EXPECT_REFUSED(F, vectorize_k, TS_ESCHEDULE,
                   "vectorize on stage mm: axis k is a reduction axis");
    /* The pieces of a split reduce axis are reduce axes too. */
    TsError err;
    accept(ts_split(F->c.s_mm, F->c.k, 4, NULL, NULL, &err), &err);
    EXPECT_REFUSED(F, vectorize_k_inner, TS_ESCHEDULE,
                   "vectorize on stage mm: axis k.inner is a reduction axis");
}

static void test_vectorize_more_than_1024_lanes(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    TsTensor *x = ts_placeholder(A, "x", 1, (int64_t[]){ 2000 }, TS_FLOAT32);
    TsAxis *i = ts_axis(A, "i", 2000);
    TsTensor *y = ts_compute(A, "y", 1, &i, ts_add(A, ts_at(A, x, ts_var(i)), ts_f32(A, 1)));
    TsSchedule *sch = ts_schedule_create(A, 1, &y);
    assert_non_null(sch);
    TsStage *st = ts_stage(sch, y);
    char *before = snapshot(sch, &st, 1);
    TsError err;
    TsStatus got = ts_vectorize(st, i, &err);
    expect_refused(got, &err, TS_ESCHEDULE,
                   "vectorize on stage y: axis i has extent 2000, more than 1024 lanes", before,
                   snapshot(sch, &st, 1));
    /* 1024 lanes are allowed: split by 1024 and vectorize the inner axis. */
    TsAxis *inner;
    accept(ts_split(st, i, 1024, NULL, &inner, &err), &err);
    accept(ts_vectorize(st, inner, &err), &err);
    ts_arena_destroy(A);
}

static TsStatus parallel_k(TsError *err)
{
    return ts_parallel(F->c.s_mm, F->c.k, err);
}

static void test_parallel_reduction_axis(void **state)
{
    F = *state;
    EXPECT_REFUSED(F, parallel_k, TS_ESCHEDULE, "parallel on stage mm: axis k is a reduction axis");
}

static TsStatus vectorize_parallel_oi(TsError *err)
{
    return ts_vectorize(F->c.s_out, F->c.oi, err);
}

static void test_annotate_axis_twice(void **state)
{
    F = *state;
    TsError err;
    accept(ts_parallel(F->c.s_out, F->c.oi, &err), &err);
    EXPECT_REFUSED(F, vectorize_parallel_oi, TS_ESCHEDULE,
                   "vectorize on stage out: axis oi is already parallel");
}

/* ---- compute_at ---- */

static TsStatus attach_scaled_at_out(TsError *err)
{
    return ts_compute_at(F->c.s_scaled, F->c.s_out, F->c.oi, err);
}

static void test_compute_at_non_consumer(void **state)
{
    F = *state;
    /* out reads mm, which reads scaled: out does not read scaled itself. */
    EXPECT_REFUSED(F, attach_scaled_at_out, TS_ESCHEDULE,
                   "compute_at: stage out does not read scaled, so scaled cannot be computed "
                   "inside its loops");
}

static TsStatus attach_mm_at_itself(TsError *err)
{
    return ts_compute_at(F->c.s_mm, F->c.s_mm, F->c.i, err);
}

static TsStatus attach_scaled_at_itself(TsError *err)
{
    return ts_compute_at(F->c.s_scaled, F->c.s_scaled, F->c.si, err);
}

/* The only cycle the public API can ask for: every attachment follows a read edge of the
 * DAG (the parent must read the stage), so a longer cycle would need a cycle of reads. */
static void test_compute_at_cycle(void **state)
{
    F = *state;
    EXPECT_REFUSED(F, attach_mm_at_itself, TS_ESCHEDULE,
                   "compute_at: stage mm cannot be attached to itself");
    TsError err;
    accept(ts_compute_at(F->c.s_mm, F->c.s_out, F->c.oj, &err), &err);
    EXPECT_REFUSED(F, attach_scaled_at_itself, TS_ESCHEDULE,
                   "compute_at: stage scaled cannot be attached to itself");
}

static void test_compute_at_of_an_output(void **state)
{
    (void)state;
    /* Two outputs, the second reading the first: the first still cannot move inside the
     * second's loops, since the caller's buffer must hold all of it. */
    TsArena *A = ts_arena_create();
    TsTensor *x = ts_placeholder(A, "x", 1, (int64_t[]){ 10 }, TS_FLOAT32);
    TsAxis *i = ts_axis(A, "i", 10), *j = ts_axis(A, "j", 10);
    TsTensor *first =
        ts_compute(A, "first", 1, &i, ts_mul(A, ts_at(A, x, ts_var(i)), ts_f32(A, 3)));
    TsTensor *second =
        ts_compute(A, "second", 1, &j, ts_add(A, ts_at(A, first, ts_var(j)), ts_f32(A, 1)));
    TsSchedule *sch = ts_schedule_create(A, 2, (TsTensor *[]){ first, second });
    assert_non_null(sch);
    TsStage *stages[2] = { ts_stage(sch, first), ts_stage(sch, second) };
    char *before = snapshot(sch, stages, 2);
    TsError err;
    TsStatus got = ts_compute_at(stages[0], stages[1], j, &err);
    expect_refused(got, &err, TS_ESCHEDULE, "compute_at: stage first is an output of the schedule",
                   before, snapshot(sch, stages, 2));
    ts_arena_destroy(A);
}

static TsStatus attach_scaled_at_stale_axis(TsError *err)
{
    return ts_compute_at(F->c.s_scaled, F->c.s_mm, F->c.i, err);
}

static void test_compute_at_axis_no_longer_a_leaf(void **state)
{
    F = *state;
    TsError err;
    accept(ts_split(F->c.s_mm, F->c.i, 4, NULL, NULL, &err), &err);
    EXPECT_REFUSED(F, attach_scaled_at_stale_axis, TS_ESCHEDULE,
                   "compute_at on stage mm: axis i is no longer a leaf");
}

/* ---- compute_inline ---- */

static TsStatus inline_mm(TsError *err)
{
    return ts_compute_inline(F->c.s_mm, err);
}

static void test_inline_reduction(void **state)
{
    F = *state;
    EXPECT_REFUSED(F, inline_mm, TS_ESCHEDULE,
                   "compute_inline: stage mm is a reduction and cannot be inlined");
}

static TsStatus inline_out(TsError *err)
{
    return ts_compute_inline(F->c.s_out, err);
}

static void test_inline_output(void **state)
{
    F = *state;
    EXPECT_REFUSED(F, inline_out, TS_ESCHEDULE,
                   "compute_inline: stage out is an output of the schedule");
}

static TsStatus inline_parent_of_attached(TsError *err)
{
    return ts_compute_inline(F->c.s_scaled, err);
}

static void test_inline_stage_with_attached_child(void **state)
{
    (void)state;
    /* scaled2[i] = x[i] * 2 is attached inside plus1[j] = scaled2[j] + 1; inlining plus1
     * would remove the loop scaled2 lives in. A local fixture holds the three stages so
     * EXPECT_REFUSED snapshots them (its s_scaled slot holds plus1). */
    TsArena *A = ts_arena_create();
    TsTensor *x = ts_placeholder(A, "x", 1, (int64_t[]){ 10 }, TS_FLOAT32);
    TsAxis *i = ts_axis(A, "i", 10), *j = ts_axis(A, "j", 10), *k = ts_axis(A, "k", 10);
    TsTensor *s2 = ts_compute(A, "scaled2", 1, &i, ts_mul(A, ts_at(A, x, ts_var(i)), ts_f32(A, 2)));
    TsTensor *p1 = ts_compute(A, "plus1", 1, &j, ts_add(A, ts_at(A, s2, ts_var(j)), ts_f32(A, 1)));
    TsTensor *o = ts_compute(A, "o", 1, &k, ts_neg(A, ts_at(A, p1, ts_var(k))));
    TsSchedule *sch = ts_schedule_create(A, 1, &o);
    assert_non_null(sch);
    Fixture local = { .A = A,
                      .c = { .sch = sch,
                             .s_scaled = ts_stage(sch, p1),
                             .s_mm = ts_stage(sch, s2),
                             .s_out = ts_stage(sch, o) } };
    Fixture *saved = F;
    F = &local;
    TsError err;
    accept(ts_compute_at(local.c.s_mm, local.c.s_scaled, j, &err), &err);
    EXPECT_REFUSED(F, inline_parent_of_attached, TS_ESCHEDULE,
                   "compute_inline: stage scaled2 is attached at plus1.j; inlining plus1 would "
                   "remove that loop");
    F = saved;
    ts_arena_destroy(A);
}

/* ---- cache_write ---- */

static TsStatus cache_write_scaled(TsError *err)
{
    return ts_cache_write(F->c.sch, F->c.scaled, NULL, err);
}

static TsStatus cache_write_mm(TsError *err)
{
    return ts_cache_write(F->c.sch, F->c.mm, NULL, err);
}

static void test_cache_write_after_compute_at(void **state)
{
    F = *state;
    TsError err;
    accept(ts_compute_at(F->c.s_scaled, F->c.s_mm, F->c.i, &err), &err);
    EXPECT_REFUSED(F, cache_write_scaled, TS_ESCHEDULE,
                   "cache_write on stage scaled: the stage is already attached");
}

static void test_cache_write_after_inline(void **state)
{
    F = *state;
    TsError err;
    accept(ts_compute_inline(F->c.s_scaled, &err), &err);
    EXPECT_REFUSED(F, cache_write_scaled, TS_ESCHEDULE,
                   "cache_write on stage scaled: the stage is already inlined");
}

static void test_cache_write_after_split(void **state)
{
    F = *state;
    TsError err;
    accept(ts_split(F->c.s_mm, F->c.k, 3, NULL, NULL, &err), &err);
    EXPECT_REFUSED(F, cache_write_mm, TS_ESCHEDULE,
                   "cache_write on stage mm: its loops were already split or fused");
}

static void test_cache_write_after_fuse(void **state)
{
    F = *state;
    TsError err;
    accept(ts_fuse(F->c.s_mm, F->c.i, F->c.j, NULL, &err), &err);
    EXPECT_REFUSED(F, cache_write_mm, TS_ESCHEDULE,
                   "cache_write on stage mm: its loops were already split or fused");
}

/* ---- cache_read ---- */

static TsStatus cache_read_b_for_out(TsError *err)
{
    return ts_cache_read(F->c.sch, F->c.b, 1, &F->c.s_out, NULL, err);
}

static void test_cache_read_for_a_non_reader(void **state)
{
    F = *state;
    EXPECT_REFUSED(F, cache_read_b_for_out, TS_ESCHEDULE,
                   "cache_read of b: stage out does not read it");
}

/* ---- storage_align ---- */

static TsStatus align_reduce_axis(TsError *err)
{
    return ts_storage_align(F->c.s_mm, F->c.k, 8, 1, err);
}

static TsStatus align_foreign_axis(TsError *err)
{
    return ts_storage_align(F->c.s_mm, F->c.si, 8, 1, err);
}

static TsStatus align_split_axis(TsError *err)
{
    return ts_storage_align(F->c.s_scaled, ts_stage_leaf(F->c.s_scaled, 0), 8, 1, err);
}

static TsStatus align_bad_offset(TsError *err)
{
    return ts_storage_align(F->c.s_mm, F->c.i, 8, 8, err);
}

static void test_storage_align_non_output_axis(void **state)
{
    F = *state;
    EXPECT_REFUSED(F, align_reduce_axis, TS_ESCHEDULE,
                   "storage_align on stage mm: k is not one of its output axes");
    EXPECT_REFUSED(F, align_foreign_axis, TS_ESCHEDULE,
                   "storage_align on stage mm: si is not one of its output axes");
    /* A leaf made by split is not an output axis either. */
    TsError err;
    accept(ts_split(F->c.s_scaled, F->c.si, 4, NULL, NULL, &err), &err);
    EXPECT_REFUSED(F, align_split_axis, TS_ESCHEDULE,
                   "storage_align on stage scaled: si.outer is not one of its output axes");
    EXPECT_REFUSED(F, align_bad_offset, TS_EINVAL,
                   "storage_align on stage mm, axis i: needs factor >= 1 and 0 <= offset < factor");
}

/* ---- errors found when lowering ---- */

static void test_attached_stage_read_outside_its_loop(void **state)
{
    (void)state;
    /* x2 = x * 2 feeds both y and z; attached inside y's loop, z (computed at the root)
     * cannot read it. */
    TsArena *A = ts_arena_create();
    TsTensor *x = ts_placeholder(A, "x", 1, (int64_t[]){ 6 }, TS_FLOAT32);
    TsAxis *a0 = ts_axis(A, "a0", 6), *a1 = ts_axis(A, "a1", 6), *a2 = ts_axis(A, "a2", 6),
           *a3 = ts_axis(A, "a3", 6);
    TsTensor *x2 = ts_compute(A, "x2", 1, &a0, ts_mul(A, ts_at(A, x, ts_var(a0)), ts_f32(A, 2)));
    TsTensor *y = ts_compute(A, "y", 1, &a1, ts_add(A, ts_at(A, x2, ts_var(a1)), ts_f32(A, 1)));
    TsTensor *z = ts_compute(A, "z", 1, &a2, ts_sub(A, ts_at(A, x2, ts_var(a2)), ts_f32(A, 1)));
    TsTensor *w =
        ts_compute(A, "w", 1, &a3, ts_add(A, ts_at(A, y, ts_var(a3)), ts_at(A, z, ts_var(a3))));
    TsSchedule *sch = ts_schedule_create(A, 1, &w);
    assert_non_null(sch);
    TsError err;
    accept(ts_compute_at(ts_stage(sch, x2), ts_stage(sch, y), a1, &err), &err);
    TsLoweredFunc *func = (TsLoweredFunc *)1;
    TsStatus got = ts_lower(sch, "f", &func, &err);
    if (got != TS_ESCHEDULE)
        fprintf(stderr, "ts_lower: %s: %s\n", ts_status_name(got), err.message);
    assert_int_equal(got, TS_ESCHEDULE);
    assert_null(func);
    assert_non_null(strstr(err.message, "lower: stage x2 is computed at y.a1 but stage z, which "
                                        "reads it, is computed outside that loop"));
    /* w reads x2 only through y and z, which are not inlined: refused at once. */
    got = ts_compute_at(ts_stage(sch, x2), ts_stage(sch, w), a3, &err);
    assert_int_equal(got, TS_ESCHEDULE);
    assert_non_null(strstr(err.message, "compute_at: stage w does not read x2"));
    ts_arena_destroy(A);
}

/* Splitting (or fusing) the leaf a stage is computed at leaves that stage without a loop
 * to live in. Either the split is refused, naming the attached stage, or lowering
 * refuses it, or the attached stage must still be computed (the values say which). */
static void check_moved_attach_point(bool fuse)
{
    TsArena *A = ts_arena_create();
    TsTensor *x = ts_placeholder(A, "x", 2, (int64_t[]){ 6, 8 }, TS_FLOAT32);
    TsAxis *a0 = ts_axis(A, "a0", 6), *a1 = ts_axis(A, "a1", 8);
    TsAxis *b0 = ts_axis(A, "b0", 6), *b1 = ts_axis(A, "b1", 8);
    TsTensor *x2 = ts_compute(A, "x2", 2, (TsAxis *[]){ a0, a1 },
                              ts_mul(A, ts_at(A, x, ts_var(a0), ts_var(a1)), ts_f32(A, 2)));
    TsTensor *y = ts_compute(A, "y", 2, (TsAxis *[]){ b0, b1 },
                             ts_add(A, ts_at(A, x2, ts_var(b0), ts_var(b1)), ts_f32(A, 1)));
    TsSchedule *sch = ts_schedule_create(A, 1, &y);
    assert_non_null(sch);
    TsStage *sx = ts_stage(sch, x2), *sy = ts_stage(sch, y);
    TsError err;
    accept(ts_compute_at(sx, sy, b0, &err), &err);
    TsStatus got = fuse ? ts_fuse(sy, b0, b1, NULL, &err) : ts_split(sy, b0, 4, NULL, NULL, &err);
    if (got != TS_OK) {
        if (got != TS_ESCHEDULE || !strstr(err.message, "x2") || !strstr(err.message, "b0"))
            fprintf(stderr, "refused with: %s: %s\n", ts_status_name(got), err.message);
        assert_int_equal(got, TS_ESCHEDULE);
        assert_non_null(strstr(err.message, "x2"));
        assert_non_null(strstr(err.message, "b0"));
        ts_arena_destroy(A);
        return;
    }
    TsLoweredFunc *func;
    got = ts_lower(sch, "f", &func, &err);
    if (got != TS_OK) {
        if (got != TS_ESCHEDULE || !strstr(err.message, "x2"))
            fprintf(stderr, "ts_lower: %s: %s\n", ts_status_name(got), err.message);
        assert_int_equal(got, TS_ESCHEDULE);
        assert_non_null(strstr(err.message, "x2"));
        ts_arena_destroy(A);
        return;
    }
    SchCheck check;
    if (sch_check_lowered(func, 1, &y, 7, &check) != TS_OK)
        fprintf(stderr, "%s accepted and lowered, but wrong: %s: %s\n%s", fuse ? "fuse" : "split",
                check.stage, check.message, ts_lowered_str(A, func));
    assert_int_equal(check.status, TS_OK);
    ts_arena_destroy(A);
}

static void test_split_of_an_attach_axis(void **state)
{
    (void)state;
    check_moved_attach_point(false);
}

static void test_fuse_of_an_attach_axis(void **state)
{
    (void)state;
    check_moved_attach_point(true);
}

/* The converse: legal requests are not refused. cache_read of a compute stage whose op
 * is rewritten afterwards (cache_read of one of its inputs, rfactor, cache_write) must
 * still lower, and compute the same values. */
static void check_cache_read_then_rewrite(int how)
{
    TsArena *A = ts_arena_create();
    TsTensor *a = ts_placeholder(A, "a", 2, (int64_t[]){ 4, 6 }, TS_FLOAT32);
    TsTensor *b = ts_placeholder(A, "b", 2, (int64_t[]){ 6, 5 }, TS_FLOAT32);
    TsTensor *bias = ts_placeholder(A, "bias", 1, (int64_t[]){ 5 }, TS_FLOAT32);
    TsTensor *mm = ts_op_matmul(A, a, b, false, false, ts_dtype(TS_TYPE_FLOAT, 0, 1));
    TsTensor *out = ts_op_add(A, mm, bias);
    TsSchedule *sch = ts_schedule_create(A, 1, &out);
    assert_non_null(sch);
    TsStage *sm = ts_stage(sch, mm), *so = ts_stage(sch, out);
    TsTensor *t;
    TsError err;
    accept(ts_cache_read(sch, b, 1, &sm, &t, &err), &err);
    accept(ts_cache_read(sch, mm, 1, &so, &t, &err), &err);
    if (how == 0)
        accept(ts_cache_read(sch, a, 1, &sm, &t, &err), &err);
    else if (how == 1)
        accept(ts_rfactor(sch, mm, ts_stage_root_axis(sm, 2), &t, &err), &err);
    else
        accept(ts_cache_write(sch, mm, &t, &err), &err);
    TsLoweredFunc *func;
    TsStatus got = ts_lower(sch, "f", &func, &err);
    if (got != TS_OK)
        fprintf(stderr, "a legal schedule was refused:\n%sts_lower: %s: %s\n",
                ts_schedule_str(A, sch), ts_status_name(got), err.message);
    assert_int_equal(got, TS_OK);
    SchCheck check;
    if (sch_check_lowered(func, 1, &out, 3, &check) != TS_OK)
        fprintf(stderr, "%s: %s\n", check.stage, check.message);
    assert_int_equal(check.status, TS_OK);
    ts_arena_destroy(A);
}

static void test_cache_read_then_cache_read_of_an_input(void **state)
{
    (void)state;
    check_cache_read_then_rewrite(0);
}

static void test_cache_read_then_rfactor(void **state)
{
    (void)state;
    check_cache_read_then_rewrite(1);
}

static void test_cache_read_then_cache_write(void **state)
{
    (void)state;
    check_cache_read_then_rewrite(2);
}

/* ---- a refusal changes nothing ---- */

static TsStatus refuse_many(TsError *err)
{
    /* Every one of these must be refused; the first status is returned. */
    TsStatus first = ts_split(F->c.s_mm, F->c.i, 0, NULL, NULL, err);
    TsError more;
    assert_int_not_equal(ts_reorder(F->c.s_mm, 2, (TsAxis *[]){ F->c.i, F->c.i }, &more), TS_OK);
    assert_int_not_equal(ts_fuse(F->c.s_mm, F->c.i, F->c.k, NULL, &more), TS_OK);
    assert_int_not_equal(ts_vectorize(F->c.s_mm, F->c.k, &more), TS_OK);
    assert_int_not_equal(ts_parallel(F->c.s_mm, F->c.k, &more), TS_OK);
    assert_int_not_equal(ts_compute_at(F->c.s_scaled, F->c.s_out, F->c.oi, &more), TS_OK);
    assert_int_not_equal(ts_compute_inline(F->c.s_mm, &more), TS_OK);
    assert_int_not_equal(ts_compute_inline(F->c.s_out, &more), TS_OK);
    assert_int_not_equal(ts_cache_write(F->c.sch, F->c.mm, NULL, &more), TS_OK);
    assert_int_not_equal(ts_storage_align(F->c.s_mm, F->c.k, 4, 0, &more), TS_OK);
    assert_int_not_equal(ts_tile(F->c.s_out, F->c.oi, F->c.oi, 2, 2, NULL, NULL, NULL, NULL, &more),
                         TS_OK);
    assert_int_not_equal(ts_rfactor(F->c.sch, F->c.mm, F->c.i, NULL, &more), TS_OK);
    assert_int_not_equal(ts_cache_read(F->c.sch, F->c.a, 1, &F->c.s_mm, NULL, &more), TS_OK);
    return first;
}

static const char *lowered_text(TsArena *arena, TsSchedule *sch)
{
    TsLoweredFunc *func;
    TsError err;
    TsStatus got = ts_lower(sch, "f", &func, &err);
    if (got != TS_OK)
        fprintf(stderr, "ts_lower: %s\n", err.message);
    assert_int_equal(got, TS_OK);
    const char *text = ts_lowered_str(arena, func);
    assert_non_null(text);
    return text;
}

static void test_refusal_leaves_schedule_unchanged(void **state)
{
    F = *state;
    TsError err;
    /* A schedule with some of everything first, so there is something to disturb. */
    TsAxis *io, *ii, *ko, *ki;
    accept(ts_split(F->c.s_mm, F->c.i, 4, &io, &ii, &err), &err);
    accept(ts_split(F->c.s_mm, F->c.k, 3, &ko, &ki, &err), &err);
    accept(ts_reorder(F->c.s_mm, 4, (TsAxis *[]){ ko, ii, ki, F->c.j }, &err), &err);
    accept(ts_vectorize(F->c.s_mm, F->c.j, &err), &err);
    accept(ts_compute_at(F->c.s_scaled, F->c.s_mm, ko, &err), &err);
    accept(ts_parallel(F->c.s_out, F->c.oi, &err), &err);
    const char *lowered_before = ts_arena_strdup(F->A, lowered_text(F->A, F->c.sch));
    /* The stale handles of split axes are refused too. */
    F->c.i = io;
    EXPECT_REFUSED(F, refuse_many, TS_EINVAL, "split on stage mm: factor 0 of axis i.outer");
    assert_string_equal(lowered_before, lowered_text(F->A, F->c.sch));
}

/* ---- NULL arguments ---- */

static void expect_einval(TsStatus got, const TsError *err, const char *what)
{
    if (got != TS_EINVAL || err->status != TS_EINVAL || err->message[0] == '\0')
        fprintf(stderr, "%s: got %s: \"%s\"; wanted TS_EINVAL with a message\n", what,
                ts_status_name(got), err->message);
    assert_int_equal(got, TS_EINVAL);
    assert_int_equal(err->status, TS_EINVAL);
    assert_true(err->message[0] != '\0');
}

static void test_null_arguments(void **state)
{
    F = *state;
    TsError err;
    TsAxis *ax;
    TsTensor *t;
    TsLoweredFunc *func;
    char *before = fixture_snapshot(F);
#define EXPECT_EINVAL(call) (ts_error_clear(&err), expect_einval((call), &err, #call))
    EXPECT_EINVAL(ts_split(NULL, F->c.i, 2, &ax, &ax, &err));
    EXPECT_EINVAL(ts_split(F->c.s_mm, NULL, 2, &ax, &ax, &err));
    EXPECT_EINVAL(ts_split_nparts(NULL, F->c.i, 2, &ax, &ax, &err));
    EXPECT_EINVAL(ts_split_nparts(F->c.s_mm, NULL, 2, &ax, &ax, &err));
    EXPECT_EINVAL(ts_tile(NULL, F->c.i, F->c.j, 2, 2, NULL, NULL, NULL, NULL, &err));
    EXPECT_EINVAL(ts_tile(F->c.s_mm, NULL, F->c.j, 2, 2, NULL, NULL, NULL, NULL, &err));
    EXPECT_EINVAL(ts_tile(F->c.s_mm, F->c.i, NULL, 2, 2, NULL, NULL, NULL, NULL, &err));
    EXPECT_EINVAL(ts_fuse(NULL, F->c.i, F->c.j, &ax, &err));
    EXPECT_EINVAL(ts_fuse(F->c.s_mm, NULL, F->c.j, &ax, &err));
    EXPECT_EINVAL(ts_fuse(F->c.s_mm, F->c.i, NULL, &ax, &err));
    EXPECT_EINVAL(ts_reorder(NULL, 2, (TsAxis *[]){ F->c.i, F->c.j }, &err));
    EXPECT_EINVAL(ts_reorder(F->c.s_mm, 2, NULL, &err));
    EXPECT_EINVAL(ts_reorder(F->c.s_mm, 2, (TsAxis *[]){ F->c.i, NULL }, &err));
    EXPECT_EINVAL(ts_vectorize(NULL, F->c.j, &err));
    EXPECT_EINVAL(ts_vectorize(F->c.s_mm, NULL, &err));
    EXPECT_EINVAL(ts_unroll(NULL, F->c.j, &err));
    EXPECT_EINVAL(ts_unroll(F->c.s_mm, NULL, &err));
    EXPECT_EINVAL(ts_parallel(NULL, F->c.i, &err));
    EXPECT_EINVAL(ts_parallel(F->c.s_mm, NULL, &err));
    EXPECT_EINVAL(ts_pragma(NULL, F->c.i, "unroll_max_extent", 4, &err));
    EXPECT_EINVAL(ts_pragma(F->c.s_mm, NULL, "unroll_max_extent", 4, &err));
    EXPECT_EINVAL(ts_pragma(F->c.s_mm, F->c.i, NULL, 4, &err));
    EXPECT_EINVAL(ts_compute_at(NULL, F->c.s_mm, F->c.i, &err));
    EXPECT_EINVAL(ts_compute_at(F->c.s_scaled, NULL, F->c.i, &err));
    EXPECT_EINVAL(ts_compute_at(F->c.s_scaled, F->c.s_mm, NULL, &err));
    EXPECT_EINVAL(ts_compute_inline(NULL, &err));
    EXPECT_EINVAL(ts_compute_root(NULL, &err));
    EXPECT_EINVAL(ts_storage_align(NULL, F->c.i, 4, 0, &err));
    EXPECT_EINVAL(ts_storage_align(F->c.s_mm, NULL, 4, 0, &err));
    EXPECT_EINVAL(ts_cache_read(NULL, F->c.a, 1, &F->c.s_scaled, &t, &err));
    EXPECT_EINVAL(ts_cache_read(F->c.sch, NULL, 1, &F->c.s_scaled, &t, &err));
    EXPECT_EINVAL(ts_cache_read(F->c.sch, F->c.a, 1, NULL, &t, &err));
    EXPECT_EINVAL(ts_cache_read(F->c.sch, F->c.a, 1, (TsStage *[]){ NULL }, &t, &err));
    EXPECT_EINVAL(ts_cache_write(NULL, F->c.mm, &t, &err));
    EXPECT_EINVAL(ts_cache_write(F->c.sch, NULL, &t, &err));
    EXPECT_EINVAL(ts_rfactor(NULL, F->c.mm, F->c.k, &t, &err));
    EXPECT_EINVAL(ts_rfactor(F->c.sch, NULL, F->c.k, &t, &err));
    EXPECT_EINVAL(ts_rfactor(F->c.sch, F->c.mm, NULL, &t, &err));
    EXPECT_EINVAL(ts_lower(NULL, "f", &func, &err));
    EXPECT_EINVAL(ts_lower(F->c.sch, "f", NULL, &err));
#undef EXPECT_EINVAL
    /* A NULL error record is allowed: the status still says what happened. */
    assert_int_equal(ts_split(F->c.s_mm, F->c.i, 0, NULL, NULL, NULL), TS_EINVAL);
    assert_int_equal(ts_compute_inline(F->c.s_mm, NULL), TS_ESCHEDULE);
    /* The accessors take NULL quietly. */
    assert_null(ts_stage(F->c.sch, NULL));
    assert_null(ts_stage(F->c.sch, F->c.a)); /* a placeholder has no stage */
    assert_null(ts_stage_name(NULL));
    assert_int_equal(ts_stage_num_leaves(NULL), 0);
    assert_null(ts_stage_leaf(F->c.s_mm, 3));
    assert_null(ts_stage_leaf(F->c.s_mm, -1));
    char *after = fixture_snapshot(F);
    assert_string_equal(before, after);
    free(before);
    free(after);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_split_of_a_split_axis),
        T(test_split_of_a_fused_axis),
        T(test_split_factor_zero),
        T(test_reorder_axis_of_another_stage),
        T(test_reorder_repeated_axis),
        T(test_reorder_axis_no_longer_a_leaf),
        T(test_fuse_non_adjacent),
        T(test_vectorize_reduction_axis),
        T(test_vectorize_more_than_1024_lanes),
        T(test_parallel_reduction_axis),
        T(test_annotate_axis_twice),
        T(test_compute_at_non_consumer),
        T(test_compute_at_cycle),
        T(test_compute_at_of_an_output),
        T(test_compute_at_axis_no_longer_a_leaf),
        T(test_inline_reduction),
        T(test_inline_output),
        T(test_inline_stage_with_attached_child),
        T(test_cache_write_after_compute_at),
        T(test_cache_write_after_inline),
        T(test_cache_write_after_split),
        T(test_cache_write_after_fuse),
        T(test_cache_read_for_a_non_reader),
        T(test_storage_align_non_output_axis),
        T(test_attached_stage_read_outside_its_loop),
        T(test_split_of_an_attach_axis),
        T(test_fuse_of_an_attach_axis),
        T(test_cache_read_then_cache_read_of_an_input),
        T(test_cache_read_then_rfactor),
        T(test_cache_read_then_cache_write),
        T(test_refusal_leaves_schedule_unchanged),
        T(test_null_arguments),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
