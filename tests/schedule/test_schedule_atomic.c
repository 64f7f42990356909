/* A refused primitive changes nothing (schedule.h). For every public primitive, each
 * refusal the API can reach is provoked on a schedule that already holds some of
 * everything (splits, a reorder, annotations, a pragma, attachments, an alignment, a
 * cache stage), and the test checks:
 *   - the status and a piece of the message;
 *   - the schedule's whole state, read from its records (every stage's op, leaves,
 *     axes with their annotations and pragmas, relations, attachment and alignment,
 *     the stage list and the text), is what it was;
 *   - the lowered loop nest is the same text;
 *   - a valid primitive afterwards is accepted, and the schedule still lowers to a loop
 *     nest that computes what the reference interpreter computes.
 * A few refusals need a schedule of their own (more than 64 leaves, a tensor of the most
 * dimensions, a loop too long to fuse, more than 1024 lanes). Last, every primitive is
 * made to run out of memory at each of its allocations in turn, and must fail with
 * TS_ENOMEM without changing anything (te_arena_fail_after).
 *
 * The fixture's DAG (sch_chain_build, sch_testing.h):
 *     scaled[si, sk] = a[si, sk] * 2                      (elementwise, intermediate)
 *     mm[i, j]       = sum_k scaled[i, k] * b[k, j]       (reduction, intermediate)
 *     out[oi, oj]    = mm[oi, oj] + 1                     (the output) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sch_testing.h"
#include "schedule/sch_internal.h"
#include "te/te_internal.h"
#include "test_util.h"

typedef struct Fixture {
    TsArena *A;
    SchChain c; /* sch_testing.h */
    TsTensor *a_cache, *b_cache;
    TsAxis *io, *ii, *ko, *ki;
    TsStage *s_a_cache;
    /* What lowering is checked against: the schedule's outputs. */
    int num_outputs;
    TsTensor *outputs[2];
} Fixture;

static Fixture *F; /* the running test's fixture, for the requests below */

static void accept(TsStatus got, const TsError *err)
{
    if (got != TS_OK)
        fprintf(stderr, "unexpected refusal: %s\n", err->message);
    assert_int_equal(got, TS_OK);
}

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
    f->num_outputs = 1;
    f->outputs[0] = f->c.out;
    /* Some of everything, so that a refusal has something to disturb. */
    TsError err;
    accept(ts_cache_read(f->c.sch, f->c.b, 1, &f->c.s_mm, &f->b_cache, &err), &err);
    accept(ts_cache_read(f->c.sch, f->c.a, 1, &f->c.s_scaled, &f->a_cache, &err), &err);
    f->s_a_cache = ts_stage(f->c.sch, f->a_cache);
    accept(ts_split(f->c.s_mm, f->c.i, 4, &f->io, &f->ii, &err), &err);
    accept(ts_split(f->c.s_mm, f->c.k, 2, &f->ko, &f->ki, &err), &err);
    accept(ts_reorder(f->c.s_mm, 5, (TsAxis *[]){ f->io, f->ko, f->ii, f->ki, f->c.j }, &err),
           &err);
    accept(ts_vectorize(f->c.s_mm, f->c.j, &err), &err);
    accept(ts_unroll(f->c.s_mm, f->ki, &err), &err);
    accept(ts_pragma(f->c.s_mm, f->io, "unroll_max_extent", 4, &err), &err);
    accept(ts_compute_at(f->c.s_scaled, f->c.s_mm, f->ko, &err), &err);
    accept(ts_storage_align(f->c.s_scaled, f->c.sk, 4, 1, &err), &err);
    accept(ts_parallel(f->c.s_out, f->c.oi, &err), &err);
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

/* ---- the schedule's state as text ---- */

typedef struct Text {
    char *s;
    size_t len, cap;
} Text;

static void put(Text *t, const char *fmt, ...) TS_PRINTF_LIKE(2, 3);

static void put(Text *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    assert_true(n >= 0);
    if (t->len + (size_t)n + 1 > t->cap) {
        t->cap = (t->len + (size_t)n + 1) * 2;
        t->s = realloc(t->s, t->cap);
        assert_non_null(t->s);
    }
    va_start(ap, fmt);
    vsnprintf(t->s + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    t->len += (size_t)n;
}

static const char *axis_name(const TsAxis *axis)
{
    return axis ? ts_axis_name(axis) : "-";
}

static void put_stage(Text *t, const TsStage *st)
{
    static const char *const attach[] = { "root", "inline", "at" };
    static const char *const loop[] = { "serial", "vectorized", "unrolled", "parallel" };
    static const char *const rel[] = { "split", "split_nparts", "fuse" };
    put(t, "stage %s (op %p, tensor %s %p, sch %p)%s: %s %s.%s\n", st->op->name, (void *)st->op,
        st->tensor->name, (const void *)st->tensor, (void *)st->sch, st->is_output ? " output" : "",
        attach[st->attach], st->attach_parent ? st->attach_parent->op->name : "-",
        axis_name(st->attach_axis));
    put(t, "  root:");
    for (int i = 0; i < st->num_root; i++)
        put(t, " %s", axis_name(st->root[i]));
    put(t, "\n  leaves:");
    for (int i = 0; i < st->num_leaves; i++)
        put(t, " %s(%lld)", axis_name(st->leaves[i]), (long long)ts_axis_extent(st->leaves[i]));
    put(t, "\n  axes:");
    for (int i = 0; i < st->num_axes; i++) {
        const SchAxisInfo *info = &st->axes[i];
        put(t, " %s %p %s", axis_name(info->axis), (void *)info->axis, loop[info->loop_kind]);
        for (int p = 0; p < info->num_pragmas; p++)
            put(t, " %s=%lld", info->pragmas[p].key, (long long)info->pragmas[p].value);
        put(t, ";");
    }
    put(t, "\n  relations:");
    for (int i = 0; i < st->num_relations; i++) {
        const SchRelation *r = &st->relations[i];
        put(t, " %s(%s, %s, %s, %s, %lld)", rel[r->kind], axis_name(r->parent), axis_name(r->outer),
            axis_name(r->inner), axis_name(r->fused), (long long)r->factor);
    }
    put(t, "\n  align:");
    for (int d = 0; d < TS_MAX_DIMS; d++)
        put(t, " %lld/%lld", (long long)st->align_factor[d], (long long)st->align_offset[d]);
    put(t, "\n");
}

/* Everything a primitive could change, stage by stage, then the schedule's text. */
static char *state_str(const TsSchedule *sch)
{
    Text t = { 0 };
    put(&t, "%d outputs, %d stages (%p)\n", sch->num_outputs, sch->num_stages, (void *)sch->stages);
    for (int i = 0; i < sch->num_stages; i++)
        put_stage(&t, sch->stages[i]);
    put(&t, "%d lines of text:\n", sch->num_log);
    for (int i = 0; i < sch->num_log; i++)
        put(&t, "%s\n", sch->log[i]);
    return t.s;
}

/* The lowered loop nest as text (malloc'd); with check, also run against the oracle. */
static char *lowered_str(bool check)
{
    TsLoweredFunc *func = NULL;
    TsError err = { TS_OK, "" };
    TsStatus got = ts_lower(F->c.sch, "f", &func, &err);
    if (got != TS_OK)
        fprintf(stderr, "ts_lower: %s\n", err.message);
    assert_int_equal(got, TS_OK);
    if (check) {
        SchCheck result;
        if (sch_check_lowered(func, F->num_outputs, F->outputs, 11, &result) != TS_OK)
            fprintf(stderr, "%s: %s\n", result.stage, result.message);
        assert_int_equal(result.status, TS_OK);
    }
    TsArena *scratch = ts_arena_create();
    const char *text = ts_lowered_str(scratch, func);
    assert_non_null(text);
    char *copy = strdup(text);
    ts_arena_destroy(scratch);
    return copy;
}

/* ---- the check ---- */

typedef TsStatus (*Request)(TsError *err);

/* request is refused with want and a message holding needle, and neither the
 * schedule's state nor its lowering moved. With lower false, the loop nest is not
 * compared (a schedule too big to lower). */
static void refused_as(Request request, TsStatus want, const char *needle, bool lower)
{
    char *state = state_str(F->c.sch);
    char *loops = lower ? lowered_str(false) : NULL;
    TsError err = { TS_OK, "" };
    TsStatus got = request(&err);
    if (got != want || err.status != want || !strstr(err.message, needle))
        fprintf(stderr, "got %s: \"%s\"; wanted %s containing \"%s\"\n", ts_status_name(got),
                err.message, ts_status_name(want), needle);
    /* The promise first: nothing moved, whatever the status. */
    char *state_after = state_str(F->c.sch);
    assert_string_equal(state, state_after);
    assert_int_equal(got, want);
    assert_int_equal(err.status, want);
    assert_non_null(strstr(err.message, needle));
    if (lower) {
        char *loops_after = lowered_str(false);
        assert_string_equal(loops, loops_after);
        free(loops_after);
    }
    free(state);
    free(state_after);
    free(loops);
}

static void refused(Request request, TsStatus want, const char *needle)
{
    refused_as(request, want, needle, true);
}

/* A valid primitive after the refusals is accepted, and the fixture's schedule still
 * computes the right values. */
static void still_works(void)
{
    TsError err;
    TsAxis *outer, *inner;
    accept(ts_split(F->c.s_out, F->c.oj, 4, &outer, &inner, &err), &err);
    accept(ts_vectorize(F->c.s_out, inner, &err), &err);
    free(lowered_str(true));
}

/* ---- split and split_nparts ---- */

static TsStatus split_null_stage(TsError *err)
{
    return ts_split(NULL, F->c.j, 2, NULL, NULL, err);
}
static TsStatus split_null_axis(TsError *err)
{
    return ts_split(F->c.s_mm, NULL, 2, NULL, NULL, err);
}
static TsStatus split_split_axis(TsError *err)
{
    return ts_split(F->c.s_mm, F->c.i, 2, NULL, NULL, err);
}
static TsStatus split_foreign_axis(TsError *err)
{
    return ts_split(F->c.s_mm, F->c.oj, 2, NULL, NULL, err);
}
static TsStatus split_loose_axis(TsError *err)
{
    return ts_split(F->c.s_mm, ts_axis(F->A, "loose", 4), 2, NULL, NULL, err);
}
static TsStatus split_factor_0(TsError *err)
{
    return ts_split(F->c.s_mm, F->c.j, 0, NULL, NULL, err);
}
static TsStatus split_factor_huge(TsError *err)
{
    return ts_split(F->c.s_mm, F->c.j, (int64_t)INT32_MAX + 1, NULL, NULL, err);
}
static TsStatus split_factor_int64_max(TsError *err)
{
    return ts_split(F->c.s_mm, F->ii, INT64_MAX, NULL, NULL, err);
}

static void test_split(void **state)
{
    F = *state;
    refused(split_null_stage, TS_EINVAL, "split: the stage is NULL");
    refused(split_null_axis, TS_EINVAL, "split on stage mm: the axis is NULL");
    refused(split_split_axis, TS_ESCHEDULE, "split on stage mm: axis i is no longer a leaf");
    refused(split_foreign_axis, TS_ESCHEDULE, "split on stage mm: axis oj belongs to stage out");
    refused(split_loose_axis, TS_ESCHEDULE, "axis loose is not an axis of this stage");
    refused(split_factor_0, TS_EINVAL, "split on stage mm: factor 0 of axis j must be >= 1");
    refused(split_factor_huge, TS_EINVAL,
            "split on stage mm: factor 2147483648 of axis j is too large (loop extents are at "
            "most 2147483647)");
    refused(split_factor_int64_max, TS_EINVAL,
            "factor 9223372036854775807 of axis i.inner is "
            "too large");
    /* The largest factor is allowed: one outer iteration (in a copy, not to be run). */
    TsError err;
    TsAxis *outer, *inner;
    TsSchedule *copy = ts_schedule_copy(F->A, F->c.sch);
    assert_non_null(copy);
    accept(ts_split(ts_stage(copy, F->c.mm), F->c.j, INT32_MAX, &outer, &inner, &err), &err);
    assert_int_equal(ts_axis_extent(outer), 1);
    assert_int_equal(ts_axis_extent(inner), INT32_MAX);
    still_works();
}

static TsStatus nparts_null_stage(TsError *err)
{
    return ts_split_nparts(NULL, F->c.j, 2, NULL, NULL, err);
}
static TsStatus nparts_fused_axis(TsError *err)
{
    return ts_split_nparts(F->c.s_out, F->c.oi, 2, NULL, NULL, err);
}
static TsStatus nparts_0(TsError *err)
{
    return ts_split_nparts(F->c.s_mm, F->c.j, 0, NULL, NULL, err);
}
static TsStatus nparts_huge(TsError *err)
{
    return ts_split_nparts(F->c.s_mm, F->c.j, INT64_MAX / 2, NULL, NULL, err);
}

static void test_split_nparts(void **state)
{
    F = *state;
    TsError err;
    accept(ts_fuse(F->c.s_out, F->c.oi, F->c.oj, NULL, &err), &err);
    refused(nparts_null_stage, TS_EINVAL, "split_nparts: the stage is NULL");
    refused(nparts_fused_axis, TS_ESCHEDULE,
            "split_nparts on stage out: axis oi is no longer a leaf (it was fused into "
            "oi.oj.fused)");
    refused(nparts_0, TS_EINVAL, "split_nparts on stage mm: nparts 0 of axis j must be >= 1");
    refused(nparts_huge, TS_EINVAL,
            "split_nparts on stage mm: nparts 4611686018427387903 of axis j is too large");
    TsAxis *outer, *inner;
    accept(ts_split_nparts(F->c.s_mm, F->c.j, 5, &outer, &inner, &err), &err);
    assert_int_equal(ts_axis_extent(outer), 5);
    assert_int_equal(ts_axis_extent(inner), 3);
    free(lowered_str(true));
}

/* ---- tile ---- */

static TsStatus tile_null_stage(TsError *err)
{
    return ts_tile(NULL, F->c.oi, F->c.oj, 2, 2, NULL, NULL, NULL, NULL, err);
}
static TsStatus tile_null_x(TsError *err)
{
    return ts_tile(F->c.s_out, NULL, F->c.oj, 2, 2, NULL, NULL, NULL, NULL, err);
}
static TsStatus tile_null_y(TsError *err)
{
    return ts_tile(F->c.s_out, F->c.oi, NULL, 2, 2, NULL, NULL, NULL, NULL, err);
}
static TsStatus tile_stale_x(TsError *err)
{
    return ts_tile(F->c.s_mm, F->c.i, F->c.j, 2, 2, NULL, NULL, NULL, NULL, err);
}
static TsStatus tile_stale_y(TsError *err)
{
    return ts_tile(F->c.s_mm, F->ii, F->c.k, 2, 2, NULL, NULL, NULL, NULL, err);
}
static TsStatus tile_same_axis(TsError *err)
{
    return ts_tile(F->c.s_out, F->c.oi, F->c.oi, 2, 2, NULL, NULL, NULL, NULL, err);
}
static TsStatus tile_x_factor_0(TsError *err)
{
    return ts_tile(F->c.s_out, F->c.oi, F->c.oj, 0, 2, NULL, NULL, NULL, NULL, err);
}
static TsStatus tile_y_factor_negative(TsError *err)
{
    return ts_tile(F->c.s_out, F->c.oi, F->c.oj, 2, -4, NULL, NULL, NULL, NULL, err);
}
static TsStatus tile_x_factor_huge(TsError *err)
{
    return ts_tile(F->c.s_out, F->c.oi, F->c.oj, (int64_t)INT32_MAX + 1, 2, NULL, NULL, NULL, NULL,
                   err);
}
/* The refusal that used to leave oi split: the second factor is the bad one. */
static TsStatus tile_y_factor_huge(TsError *err)
{
    return ts_tile(F->c.s_out, F->c.oi, F->c.oj, 2, (int64_t)INT32_MAX + 1, NULL, NULL, NULL, NULL,
                   err);
}

static void test_tile(void **state)
{
    F = *state;
    refused(tile_null_stage, TS_EINVAL, "tile: the stage is NULL");
    refused(tile_null_x, TS_EINVAL, "tile on stage out: the axis is NULL");
    refused(tile_null_y, TS_EINVAL, "tile on stage out: the axis is NULL");
    refused(tile_stale_x, TS_ESCHEDULE, "tile on stage mm: axis i is no longer a leaf");
    refused(tile_stale_y, TS_ESCHEDULE, "tile on stage mm: axis k is no longer a leaf");
    refused(tile_same_axis, TS_ESCHEDULE, "tile on stage out: both axes are oi");
    refused(tile_x_factor_0, TS_EINVAL, "tile on stage out: factors 0 and 2 must be >= 1");
    refused(tile_y_factor_negative, TS_EINVAL, "tile on stage out: factors 2 and -4");
    refused(tile_y_factor_huge, TS_EINVAL,
            "tile on stage out: factor 2147483648 of axis oj is too large");
    refused(tile_x_factor_huge, TS_EINVAL,
            "tile on stage out: factor 2147483648 of axis oi is too large");
    TsError err;
    TsAxis *xo, *yo, *xi, *yi;
    accept(ts_tile(F->c.s_out, F->c.oi, F->c.oj, 4, 3, &xo, &yo, &xi, &yi, &err), &err);
    assert_ptr_equal(ts_stage_leaf(F->c.s_out, 0), xo);
    assert_ptr_equal(ts_stage_leaf(F->c.s_out, 1), yo);
    assert_ptr_equal(ts_stage_leaf(F->c.s_out, 2), xi);
    assert_ptr_equal(ts_stage_leaf(F->c.s_out, 3), yi);
    assert_non_null(strstr(ts_schedule_str(F->A, F->c.sch),
                           "split out oi factor=4 -> oi.outer, oi.inner\n"
                           "split out oj factor=3 -> oj.outer, oj.inner\n"
                           "reorder out oi.outer, oj.outer, oi.inner, oj.inner\n"));
    free(lowered_str(true));
}

/* ---- fuse ---- */

static TsStatus fuse_null_stage(TsError *err)
{
    return ts_fuse(NULL, F->c.oi, F->c.oj, NULL, err);
}
static TsStatus fuse_null_outer(TsError *err)
{
    return ts_fuse(F->c.s_out, NULL, F->c.oj, NULL, err);
}
static TsStatus fuse_null_inner(TsError *err)
{
    return ts_fuse(F->c.s_out, F->c.oi, NULL, NULL, err);
}
static TsStatus fuse_stale_outer(TsError *err)
{
    return ts_fuse(F->c.s_mm, F->c.i, F->c.j, NULL, err);
}
static TsStatus fuse_stale_inner(TsError *err)
{
    return ts_fuse(F->c.s_mm, F->ki, F->c.k, NULL, err);
}
static TsStatus fuse_not_adjacent(TsError *err)
{
    return ts_fuse(F->c.s_mm, F->io, F->ii, NULL, err);
}
static TsStatus fuse_wrong_order(TsError *err)
{
    return ts_fuse(F->c.s_out, F->c.oj, F->c.oi, NULL, err);
}
static TsStatus fuse_mixed(TsError *err)
{
    return ts_fuse(F->c.s_mm, F->ii, F->ki, NULL, err);
}

static void test_fuse(void **state)
{
    F = *state;
    refused(fuse_null_stage, TS_EINVAL, "fuse: the stage is NULL");
    refused(fuse_null_outer, TS_EINVAL, "fuse on stage out: the axis is NULL");
    refused(fuse_null_inner, TS_EINVAL, "fuse on stage out: the axis is NULL");
    refused(fuse_stale_outer, TS_ESCHEDULE, "fuse on stage mm: axis i is no longer a leaf");
    refused(fuse_stale_inner, TS_ESCHEDULE, "fuse on stage mm: axis k is no longer a leaf");
    refused(fuse_not_adjacent, TS_ESCHEDULE,
            "fuse on stage mm: i.inner must be the loop directly inside i.outer (they are "
            "leaves 0 and 2)");
    refused(fuse_wrong_order, TS_ESCHEDULE,
            "fuse on stage out: oi must be the loop directly "
            "inside oj");
    refused(fuse_mixed, TS_ESCHEDULE,
            "fuse on stage mm: i.inner and k.inner are not both data-parallel or both reduce");
    TsError err;
    TsAxis *fused;
    accept(ts_fuse(F->c.s_out, F->c.oi, F->c.oj, &fused, &err), &err);
    assert_int_equal(ts_axis_extent(fused), 192);
    free(lowered_str(true));
}

/* y[i, j] = x[i, j] + 1 with i split so that its inner loop is as long as a loop may be:
 * fusing it with j would make a loop too long. */
static TsStatus fuse_too_long(TsError *err)
{
    return ts_fuse(ts_stage(F->c.sch, F->c.out), ts_stage_leaf(ts_stage(F->c.sch, F->c.out), 1),
                   ts_stage_leaf(ts_stage(F->c.sch, F->c.out), 2), NULL, err);
}

static void test_fuse_too_long(void **state)
{
    (void)state;
    Fixture local = { .A = ts_arena_create() };
    TsArena *A = local.A;
    TsTensor *x = ts_placeholder(A, "x", 2, (int64_t[]){ 4, 3 }, TS_FLOAT32);
    TsAxis *i = ts_axis(A, "i", 4), *j = ts_axis(A, "j", 3);
    local.c.out = ts_compute(A, "y", 2, (TsAxis *[]){ i, j },
                             ts_add(A, ts_at(A, x, ts_var(i), ts_var(j)), ts_f32(A, 1)));
    local.c.sch = ts_schedule_create(A, 1, &local.c.out);
    assert_non_null(local.c.sch);
    local.num_outputs = 1;
    local.outputs[0] = local.c.out;
    F = &local;
    TsError err;
    accept(ts_split(ts_stage(local.c.sch, local.c.out), i, INT32_MAX, NULL, NULL, &err), &err);
    refused_as(fuse_too_long, TS_ESCHEDULE,
               "fuse on stage y: i.inner x j has extent 6442450941, too large for int32 loops",
               false);
    /* The outer loop (one iteration) and the inner one fuse. */
    TsStage *st = ts_stage(local.c.sch, local.c.out);
    accept(ts_fuse(st, ts_stage_leaf(st, 0), ts_stage_leaf(st, 1), NULL, &err), &err);
    ts_arena_destroy(A);
}

/* ---- reorder ---- */

static TsStatus reorder_null_stage(TsError *err)
{
    return ts_reorder(NULL, 2, (TsAxis *[]){ F->c.oi, F->c.oj }, err);
}
static TsStatus reorder_null_list(TsError *err)
{
    return ts_reorder(F->c.s_out, 2, NULL, err);
}
static TsStatus reorder_none(TsError *err)
{
    return ts_reorder(F->c.s_out, 0, (TsAxis *[]){ F->c.oi }, err);
}
static TsStatus reorder_too_many(TsError *err)
{
    return ts_reorder(F->c.s_out, 3, (TsAxis *[]){ F->c.oj, F->c.oi, F->c.oi }, err);
}
static TsStatus reorder_null_axis(TsError *err)
{
    return ts_reorder(F->c.s_mm, 2, (TsAxis *[]){ F->c.j, NULL }, err);
}
static TsStatus reorder_stale(TsError *err)
{
    return ts_reorder(F->c.s_mm, 3, (TsAxis *[]){ F->c.j, F->ii, F->c.k }, err);
}
static TsStatus reorder_foreign(TsError *err)
{
    return ts_reorder(F->c.s_mm, 2, (TsAxis *[]){ F->c.j, F->c.oi }, err);
}
static TsStatus reorder_twice(TsError *err)
{
    return ts_reorder(F->c.s_mm, 3, (TsAxis *[]){ F->c.j, F->ii, F->c.j }, err);
}

static void test_reorder(void **state)
{
    F = *state;
    refused(reorder_null_stage, TS_EINVAL, "reorder: the stage is NULL");
    refused(reorder_null_list, TS_EINVAL, "reorder on stage out: 2 axes given");
    refused(reorder_none, TS_EINVAL, "reorder on stage out: 0 axes given, the stage has 2 leaves");
    refused(reorder_too_many, TS_EINVAL, "reorder on stage out: 3 axes given, the stage has 2");
    refused(reorder_null_axis, TS_EINVAL, "reorder on stage mm: the axis is NULL");
    refused(reorder_stale, TS_ESCHEDULE, "reorder on stage mm: axis k is no longer a leaf");
    refused(reorder_foreign, TS_ESCHEDULE, "reorder on stage mm: axis oi belongs to stage out");
    refused(reorder_twice, TS_ESCHEDULE, "reorder on stage mm: axis j is listed twice");
    TsError err;
    accept(ts_reorder(F->c.s_mm, 2, (TsAxis *[]){ F->ki, F->ii }, &err), &err);
    still_works();
}

/* Splits axis of st by 1, breadth first (so names stay short), until it has become
 * count leaves. */
static void split_into_leaves(TsStage *st, TsAxis *axis, int count)
{
    TsAxis *queue[256];
    assert_true(2 * count <= 256);
    int head = 0, tail = 0;
    queue[tail++] = axis;
    TsError err;
    for (int n = 1; n < count; n++) {
        TsAxis *next = queue[head++];
        accept(ts_split(st, next, 1, &queue[tail], &queue[tail + 1], &err), &err);
        tail += 2;
    }
}

/* A stage with more leaves than one reorder may name: x[i] + 1 with i split into 66. */
static TsAxis *many[80];

static TsStatus reorder_65(TsError *err)
{
    return ts_reorder(F->c.s_out, 65, many, err);
}

static void test_reorder_more_than_64_axes(void **state)
{
    (void)state;
    Fixture local = { .A = ts_arena_create() };
    TsArena *A = local.A;
    TsTensor *x = ts_placeholder(A, "x", 1, (int64_t[]){ 3 }, TS_FLOAT32);
    TsAxis *i = ts_axis(A, "i", 3);
    local.c.out = ts_compute(A, "y", 1, &i, ts_add(A, ts_at(A, x, ts_var(i)), ts_f32(A, 1)));
    local.c.sch = ts_schedule_create(A, 1, &local.c.out);
    assert_non_null(local.c.sch);
    local.c.s_out = ts_stage(local.c.sch, local.c.out);
    local.num_outputs = 1;
    local.outputs[0] = local.c.out;
    F = &local;
    split_into_leaves(local.c.s_out, i, 66);
    assert_int_equal(ts_stage_num_leaves(local.c.s_out), 66);
    for (int n = 0; n < 66; n++)
        many[n] = ts_stage_leaf(local.c.s_out, n);
    refused(reorder_65, TS_EINVAL, "reorder on stage y: 65 axes given, at most 64");
    TsError err;
    accept(ts_reorder(local.c.s_out, 2, (TsAxis *[]){ many[65], many[0] }, &err), &err);
    free(lowered_str(true));
    ts_arena_destroy(A);
}

/* ---- vectorize, unroll, parallel ---- */

static TsStatus vectorize_null_stage(TsError *err)
{
    return ts_vectorize(NULL, F->c.j, err);
}
static TsStatus unroll_null_stage(TsError *err)
{
    return ts_unroll(NULL, F->c.j, err);
}
static TsStatus parallel_null_stage(TsError *err)
{
    return ts_parallel(NULL, F->c.j, err);
}
static TsStatus vectorize_null_axis(TsError *err)
{
    return ts_vectorize(F->c.s_mm, NULL, err);
}
static TsStatus unroll_stale(TsError *err)
{
    return ts_unroll(F->c.s_mm, F->c.k, err);
}
static TsStatus parallel_foreign(TsError *err)
{
    return ts_parallel(F->c.s_mm, F->c.oi, err);
}
static TsStatus vectorize_reduce(TsError *err)
{
    return ts_vectorize(F->c.s_mm, F->ko, err);
}
static TsStatus parallel_reduce(TsError *err)
{
    return ts_parallel(F->c.s_mm, F->ki, err);
}
static TsStatus vectorize_parallel(TsError *err)
{
    return ts_vectorize(F->c.s_out, F->c.oi, err);
}
static TsStatus unroll_vectorized(TsError *err)
{
    return ts_unroll(F->c.s_mm, F->c.j, err);
}

static void test_annotations(void **state)
{
    F = *state;
    refused(vectorize_null_stage, TS_EINVAL, "vectorize: the stage is NULL");
    refused(unroll_null_stage, TS_EINVAL, "unroll: the stage is NULL");
    refused(parallel_null_stage, TS_EINVAL, "parallel: the stage is NULL");
    refused(vectorize_null_axis, TS_EINVAL, "vectorize on stage mm: the axis is NULL");
    refused(unroll_stale, TS_ESCHEDULE, "unroll on stage mm: axis k is no longer a leaf");
    refused(parallel_foreign, TS_ESCHEDULE, "parallel on stage mm: axis oi belongs to stage out");
    refused(vectorize_reduce, TS_ESCHEDULE, "vectorize on stage mm: axis k.outer is a reduction");
    refused(parallel_reduce, TS_ESCHEDULE, "parallel on stage mm: axis k.inner is a reduction");
    refused(vectorize_parallel, TS_ESCHEDULE,
            "vectorize on stage out: axis oi is already parallel");
    refused(unroll_vectorized, TS_ESCHEDULE, "unroll on stage mm: axis j is already vectorized");
    /* Asking again for what an axis already is is accepted. */
    TsError err;
    accept(ts_vectorize(F->c.s_mm, F->c.j, &err), &err);
    accept(ts_unroll(F->c.s_mm, F->ii, &err), &err);
    still_works();
}

static TsStatus unroll_parallel_oi(TsError *err)
{
    return ts_unroll(F->c.s_out, F->c.oi, err);
}
static TsStatus parallel_unrolled_oj(TsError *err)
{
    return ts_parallel(F->c.s_out, F->c.oj, err);
}
static TsStatus vectorize_unrolled_oj(TsError *err)
{
    return ts_vectorize(F->c.s_out, F->c.oj, err);
}

static void test_annotation_conflicts(void **state)
{
    F = *state;
    TsError err;
    accept(ts_unroll(F->c.s_out, F->c.oj, &err), &err);
    refused(unroll_parallel_oi, TS_ESCHEDULE, "unroll on stage out: axis oi is already parallel");
    refused(parallel_unrolled_oj, TS_ESCHEDULE,
            "parallel on stage out: axis oj is already "
            "unrolled");
    refused(vectorize_unrolled_oj, TS_ESCHEDULE,
            "vectorize on stage out: axis oj is already "
            "unrolled");
    free(lowered_str(true));
}

static TsStatus vectorize_2000(TsError *err)
{
    return ts_vectorize(F->c.s_out, ts_stage_leaf(F->c.s_out, 0), err);
}

static void test_vectorize_more_than_1024_lanes(void **state)
{
    (void)state;
    Fixture local = { .A = ts_arena_create() };
    TsArena *A = local.A;
    TsTensor *x = ts_placeholder(A, "x", 1, (int64_t[]){ 2000 }, TS_FLOAT32);
    TsAxis *i = ts_axis(A, "i", 2000);
    local.c.out = ts_compute(A, "y", 1, &i, ts_add(A, ts_at(A, x, ts_var(i)), ts_f32(A, 1)));
    local.c.sch = ts_schedule_create(A, 1, &local.c.out);
    assert_non_null(local.c.sch);
    local.c.s_out = ts_stage(local.c.sch, local.c.out);
    local.num_outputs = 1;
    local.outputs[0] = local.c.out;
    F = &local;
    refused(vectorize_2000, TS_ESCHEDULE,
            "vectorize on stage y: axis i has extent 2000, more "
            "than 1024 lanes");
    TsError err;
    TsAxis *inner;
    accept(ts_split(local.c.s_out, i, 1024, NULL, &inner, &err), &err);
    accept(ts_vectorize(local.c.s_out, inner, &err), &err);
    free(lowered_str(true));
    ts_arena_destroy(A);
}

/* ---- pragma ---- */

static TsStatus pragma_null_stage(TsError *err)
{
    return ts_pragma(NULL, F->c.j, "p", 1, err);
}
static TsStatus pragma_null_axis(TsError *err)
{
    return ts_pragma(F->c.s_mm, NULL, "p", 1, err);
}
static TsStatus pragma_stale(TsError *err)
{
    return ts_pragma(F->c.s_mm, F->c.i, "p", 1, err);
}
static TsStatus pragma_null_key(TsError *err)
{
    return ts_pragma(F->c.s_mm, F->io, NULL, 1, err);
}
static TsStatus pragma_empty_key(TsError *err)
{
    return ts_pragma(F->c.s_mm, F->io, "", 1, err);
}
static TsStatus pragma_fifth(TsError *err)
{
    return ts_pragma(F->c.s_mm, F->io, "p5", 1, err);
}

static void test_pragma(void **state)
{
    F = *state;
    refused(pragma_null_stage, TS_EINVAL, "pragma: the stage is NULL");
    refused(pragma_null_axis, TS_EINVAL, "pragma on stage mm: the axis is NULL");
    refused(pragma_stale, TS_ESCHEDULE, "pragma on stage mm: axis i is no longer a leaf");
    refused(pragma_null_key, TS_EINVAL, "pragma on stage mm, axis i.outer: the key is empty");
    refused(pragma_empty_key, TS_EINVAL, "pragma on stage mm, axis i.outer: the key is empty");
    TsError err;
    accept(ts_pragma(F->c.s_mm, F->io, "p2", 2, &err), &err);
    accept(ts_pragma(F->c.s_mm, F->io, "p3", 3, &err), &err);
    accept(ts_pragma(F->c.s_mm, F->io, "p4", 4, &err), &err);
    refused(pragma_fifth, TS_ESCHEDULE, "pragma on stage mm, axis i.outer: at most 4 pragmas");
    /* A key already there takes a new value. */
    accept(ts_pragma(F->c.s_mm, F->io, "unroll_max_extent", 2, &err), &err);
    const SchAxisInfo *info = sch_axis_info(F->c.s_mm, F->io);
    assert_int_equal(info->num_pragmas, 4);
    assert_string_equal(info->pragmas[0].key, "unroll_max_extent");
    assert_int_equal(info->pragmas[0].value, 2);
    still_works();
}

/* ---- compute_at, compute_inline, compute_root ---- */

static TsStatus at_null_stage(TsError *err)
{
    return ts_compute_at(NULL, F->c.s_mm, F->c.j, err);
}
static TsStatus at_null_parent(TsError *err)
{
    return ts_compute_at(F->c.s_scaled, NULL, F->c.j, err);
}
static TsStatus at_null_axis(TsError *err)
{
    return ts_compute_at(F->c.s_scaled, F->c.s_mm, NULL, err);
}
static TsStatus at_itself(TsError *err)
{
    return ts_compute_at(F->c.s_mm, F->c.s_mm, F->c.j, err);
}
static TsStatus at_output(TsError *err)
{
    return ts_compute_at(F->c.s_out, F->c.s_mm, F->c.j, err);
}
static TsStatus at_stale_axis(TsError *err)
{
    return ts_compute_at(F->c.s_scaled, F->c.s_mm, F->c.i, err);
}
static TsStatus at_foreign_axis(TsError *err)
{
    return ts_compute_at(F->c.s_scaled, F->c.s_mm, F->c.oi, err);
}
static TsStatus at_non_reader(TsError *err)
{
    return ts_compute_at(F->c.s_scaled, F->c.s_out, F->c.oj, err);
}
static TsStatus at_inlined_parent(TsError *err)
{
    return ts_compute_at(F->s_a_cache, F->c.s_scaled, F->c.si, err);
}

static void test_compute_at(void **state)
{
    F = *state;
    refused(at_null_stage, TS_EINVAL, "compute_at: the stage or the parent is NULL");
    refused(at_null_parent, TS_EINVAL, "compute_at: the stage or the parent is NULL");
    refused(at_null_axis, TS_EINVAL, "compute_at on stage mm: the axis is NULL");
    refused(at_itself, TS_ESCHEDULE, "compute_at: stage mm cannot be attached to itself");
    refused(at_output, TS_ESCHEDULE, "compute_at: stage out is an output of the schedule");
    refused(at_stale_axis, TS_ESCHEDULE, "compute_at on stage mm: axis i is no longer a leaf");
    refused(at_foreign_axis, TS_ESCHEDULE, "compute_at on stage mm: axis oi belongs to stage out");
    refused(at_non_reader, TS_ESCHEDULE, "compute_at: stage out does not read scaled");
    TsError err;
    accept(ts_compute_inline(F->c.s_scaled, &err), &err);
    refused(at_inlined_parent, TS_ESCHEDULE,
            "compute_at: stage scaled is inlined and has no loops to compute a.cache in");
    /* mm reads a.cache through the inlined scaled. */
    accept(ts_compute_at(F->s_a_cache, F->c.s_mm, F->ko, &err), &err);
    still_works();
}

static TsStatus inline_null(TsError *err)
{
    return ts_compute_inline(NULL, err);
}
static TsStatus inline_reduction(TsError *err)
{
    return ts_compute_inline(F->c.s_mm, err);
}
static TsStatus inline_output(TsError *err)
{
    return ts_compute_inline(F->c.s_out, err);
}
static TsStatus inline_parent(TsError *err)
{
    return ts_compute_inline(F->c.s_scaled, err);
}
static TsStatus root_null(TsError *err)
{
    return ts_compute_root(NULL, err);
}

static void test_compute_inline_and_root(void **state)
{
    F = *state;
    refused(inline_null, TS_EINVAL, "compute_inline: the stage is NULL");
    refused(inline_reduction, TS_ESCHEDULE, "compute_inline: stage mm is a reduction");
    refused(inline_output, TS_ESCHEDULE, "compute_inline: stage out is an output");
    TsError err;
    accept(ts_compute_at(F->s_a_cache, F->c.s_scaled, F->c.sk, &err), &err);
    refused(inline_parent, TS_ESCHEDULE,
            "compute_inline: stage a.cache is attached at scaled.sk; inlining scaled would "
            "remove that loop");
    refused(root_null, TS_EINVAL, "compute_root: the stage is NULL");
    accept(ts_compute_root(F->s_a_cache, &err), &err);
    accept(ts_compute_inline(F->c.s_scaled, &err), &err);
    still_works();
}

/* ---- storage_align ---- */

static TsStatus align_null_stage(TsError *err)
{
    return ts_storage_align(NULL, F->c.si, 4, 0, err);
}
static TsStatus align_null_axis(TsError *err)
{
    return ts_storage_align(F->c.s_scaled, NULL, 4, 0, err);
}
static TsStatus align_reduce_axis(TsError *err)
{
    return ts_storage_align(F->c.s_mm, F->c.k, 4, 0, err);
}
static TsStatus align_split_axis(TsError *err)
{
    return ts_storage_align(F->c.s_mm, F->ii, 4, 0, err);
}
static TsStatus align_foreign_axis(TsError *err)
{
    return ts_storage_align(F->c.s_scaled, F->c.j, 4, 0, err);
}
static TsStatus align_factor_0(TsError *err)
{
    return ts_storage_align(F->c.s_scaled, F->c.si, 0, 0, err);
}
static TsStatus align_offset_negative(TsError *err)
{
    return ts_storage_align(F->c.s_scaled, F->c.si, 4, -1, err);
}
static TsStatus align_offset_factor(TsError *err)
{
    return ts_storage_align(F->c.s_scaled, F->c.si, 4, 4, err);
}
static TsStatus align_factor_huge(TsError *err)
{
    return ts_storage_align(F->c.s_scaled, F->c.si, INT64_MAX, 1, err);
}
static TsStatus align_output(TsError *err)
{
    return ts_storage_align(F->c.s_out, F->c.oj, 4, 0, err);
}

static void test_storage_align(void **state)
{
    F = *state;
    refused(align_null_stage, TS_EINVAL, "storage_align: the stage is NULL");
    refused(align_null_axis, TS_EINVAL, "storage_align on stage scaled: the axis is NULL");
    refused(align_reduce_axis, TS_ESCHEDULE,
            "storage_align on stage mm: k is not one of its "
            "output axes");
    refused(align_split_axis, TS_ESCHEDULE, "storage_align on stage mm: i.inner is not one");
    refused(align_foreign_axis, TS_ESCHEDULE, "storage_align on stage scaled: j is not one");
    refused(align_factor_0, TS_EINVAL,
            "storage_align on stage scaled, axis si: needs factor "
            ">= 1 and 0 <= offset < factor (got 0, 0)");
    refused(align_offset_negative, TS_EINVAL, "(got 4, -1)");
    refused(align_offset_factor, TS_EINVAL, "(got 4, 4)");
    refused(align_factor_huge, TS_EINVAL,
            "storage_align on stage scaled, axis si: factor 9223372036854775807 is too large "
            "(at most 2147483647)");
    refused(align_output, TS_ESCHEDULE, "storage_align on stage out: an output's buffer");
    TsError err;
    accept(ts_storage_align(F->c.s_mm, F->c.j, 8, 3, &err), &err);
    still_works();
}

/* ---- cache_read ---- */

static TsSchedule *other_sch; /* a copy of the fixture's schedule */
static TsTensor *stranger;    /* a compute op in no schedule */

static TsStatus cr_null_sch(TsError *err)
{
    return ts_cache_read(NULL, F->c.a, 1, &F->s_a_cache, NULL, err);
}
static TsStatus cr_null_tensor(TsError *err)
{
    return ts_cache_read(F->c.sch, NULL, 1, &F->s_a_cache, NULL, err);
}
static TsStatus cr_no_readers(TsError *err)
{
    return ts_cache_read(F->c.sch, F->c.mm, 0, &F->c.s_out, NULL, err);
}
static TsStatus cr_null_readers(TsError *err)
{
    return ts_cache_read(F->c.sch, F->c.mm, 1, NULL, NULL, err);
}
static TsStatus cr_null_reader(TsError *err)
{
    return ts_cache_read(F->c.sch, F->c.mm, 2, (TsStage *[]){ F->c.s_out, NULL }, NULL, err);
}
static TsStatus cr_stranger(TsError *err)
{
    return ts_cache_read(F->c.sch, stranger, 1, &F->c.s_out, NULL, err);
}
static TsStatus cr_non_reader(TsError *err)
{
    return ts_cache_read(F->c.sch, F->c.scaled, 2, (TsStage *[]){ F->c.s_mm, F->c.s_out }, NULL,
                         err);
}
/* out of the copy reads mm too, but is not a stage of this schedule. */
static TsStatus cr_foreign_reader(TsError *err)
{
    return ts_cache_read(F->c.sch, F->c.mm, 1, (TsStage *[]){ ts_stage(other_sch, F->c.out) }, NULL,
                         err);
}

static void test_cache_read(void **state)
{
    F = *state;
    other_sch = ts_schedule_copy(F->A, F->c.sch);
    assert_non_null(other_sch);
    TsAxis *t = ts_axis(F->A, "t", 3);
    stranger = ts_compute(F->A, "stranger", 1, &t, ts_f32(F->A, 1));
    assert_non_null(stranger);
    refused(cr_null_sch, TS_EINVAL, "cache_read: the schedule or the tensor is NULL");
    refused(cr_null_tensor, TS_EINVAL, "cache_read: the schedule or the tensor is NULL");
    refused(cr_no_readers, TS_EINVAL, "cache_read of mm: no readers given");
    refused(cr_null_readers, TS_EINVAL, "cache_read of mm: no readers given");
    refused(cr_null_reader, TS_EINVAL, "cache_read of mm: reader 1 is NULL");
    refused(cr_stranger, TS_EINVAL, "cache_read: stranger is not part of this schedule");
    refused(cr_non_reader, TS_ESCHEDULE, "cache_read of scaled: stage out does not read it");
    refused(cr_foreign_reader, TS_EINVAL,
            "cache_read of mm: reader 0 (stage out) is not a stage of this schedule");
    TsError err;
    TsTensor *cache;
    accept(ts_cache_read(F->c.sch, F->c.mm, 1, &F->c.s_out, &cache, &err), &err);
    assert_string_equal(cache->name, "mm.cache");
    still_works();
}

/* ---- cache_write ---- */

static TsStatus cw_null_sch(TsError *err)
{
    return ts_cache_write(NULL, F->c.mm, NULL, err);
}
static TsStatus cw_null_tensor(TsError *err)
{
    return ts_cache_write(F->c.sch, NULL, NULL, err);
}
static TsStatus cw_placeholder(TsError *err)
{
    return ts_cache_write(F->c.sch, F->c.a, NULL, err);
}
static TsStatus cw_stranger(TsError *err)
{
    return ts_cache_write(F->c.sch, stranger, NULL, err);
}
static TsStatus cw_attached(TsError *err)
{
    return ts_cache_write(F->c.sch, F->c.scaled, NULL, err);
}
static TsStatus cw_inlined(TsError *err)
{
    return ts_cache_write(F->c.sch, F->a_cache, NULL, err);
}
static TsStatus cw_split(TsError *err)
{
    return ts_cache_write(F->c.sch, F->c.mm, NULL, err);
}
static TsStatus cw_fused(TsError *err)
{
    return ts_cache_write(F->c.sch, F->c.out, NULL, err);
}

static void test_cache_write(void **state)
{
    F = *state;
    TsAxis *t = ts_axis(F->A, "t", 3);
    stranger = ts_compute(F->A, "stranger", 1, &t, ts_f32(F->A, 1));
    TsError err;
    accept(ts_compute_inline(F->s_a_cache, &err), &err);
    refused(cw_null_sch, TS_EINVAL, "cache_write: the schedule or the tensor is NULL");
    refused(cw_null_tensor, TS_EINVAL, "cache_write: the schedule or the tensor is NULL");
    refused(cw_placeholder, TS_EINVAL, "cache_write: a is not a compute stage of this schedule");
    refused(cw_stranger, TS_EINVAL, "cache_write: stranger is not a compute stage");
    refused(cw_attached, TS_ESCHEDULE,
            "cache_write on stage scaled: the stage is already "
            "attached");
    refused(cw_inlined, TS_ESCHEDULE,
            "cache_write on stage a.cache: the stage is already "
            "inlined");
    refused(cw_split, TS_ESCHEDULE,
            "cache_write on stage mm: its loops were already split or "
            "fused");
    TsAxis *fused;
    accept(ts_fuse(F->c.s_out, F->c.oi, F->c.oj, &fused, &err), &err);
    refused(cw_fused, TS_ESCHEDULE, "cache_write on stage out: its loops were already split");
    accept(ts_compute_root(F->c.s_scaled, &err), &err);
    TsTensor *local;
    accept(ts_cache_write(F->c.sch, F->c.scaled, &local, &err), &err);
    assert_string_equal(local->name, "scaled.local");
    accept(ts_compute_at(ts_stage(F->c.sch, local), F->c.s_scaled, F->c.si, &err), &err);
    free(lowered_str(true));
}

/* A fresh schedule of the fixture's DAG (no primitive applied yet) as F. */
static void fresh_schedule(Fixture *local, Fixture *from)
{
    *local = *from;
    local->c.sch = ts_schedule_create(from->A, 1, &from->c.out);
    assert_non_null(local->c.sch);
    local->c.s_scaled = ts_stage(local->c.sch, from->c.scaled);
    local->c.s_mm = ts_stage(local->c.sch, from->c.mm);
    local->c.s_out = ts_stage(local->c.sch, from->c.out);
    F = local;
}

static TsStatus cw_holds_attached(TsError *err)
{
    return ts_cache_write(F->c.sch, F->c.mm, NULL, err);
}

static void test_cache_write_of_a_stage_holding_another(void **state)
{
    Fixture local;
    fresh_schedule(&local, *state);
    TsError err;
    accept(ts_compute_at(F->c.s_scaled, F->c.s_mm, F->c.k, &err), &err);
    refused(cw_holds_attached, TS_ESCHEDULE,
            "cache_write on stage mm: stage scaled is computed at its reduce loop k, which "
            "cache_write moves to a new stage; attach scaled elsewhere first");
    /* At a data-parallel loop, scaled stays where it was; mm.local, which reads it, is
     * computed inside that loop too. */
    accept(ts_compute_at(F->c.s_scaled, F->c.s_mm, F->c.i, &err), &err);
    TsTensor *mm_local;
    accept(ts_cache_write(F->c.sch, F->c.mm, &mm_local, &err), &err);
    accept(ts_compute_at(ts_stage(F->c.sch, mm_local), F->c.s_mm, F->c.j, &err), &err);
    free(lowered_str(true));
}

/* ---- rfactor ---- */

static TsStatus rf_null_sch(TsError *err)
{
    return ts_rfactor(NULL, F->c.mm, F->ki, NULL, err);
}
static TsStatus rf_null_tensor(TsError *err)
{
    return ts_rfactor(F->c.sch, NULL, F->ki, NULL, err);
}
static TsStatus rf_null_axis(TsError *err)
{
    return ts_rfactor(F->c.sch, F->c.mm, NULL, NULL, err);
}
static TsStatus rf_placeholder(TsError *err)
{
    return ts_rfactor(F->c.sch, F->c.b, F->ki, NULL, err);
}
static TsStatus rf_stale(TsError *err)
{
    return ts_rfactor(F->c.sch, F->c.mm, F->c.k, NULL, err);
}
static TsStatus rf_foreign(TsError *err)
{
    return ts_rfactor(F->c.sch, F->c.mm, F->c.oi, NULL, err);
}
static TsStatus rf_data_axis(TsError *err)
{
    return ts_rfactor(F->c.sch, F->c.mm, F->ii, NULL, err);
}
static TsStatus rf_not_reduction(TsError *err)
{
    return ts_rfactor(F->c.sch, F->c.out, F->c.oi, NULL, err);
}
static TsStatus rf_attached(TsError *err)
{
    return ts_rfactor(F->c.sch, F->c.mm, F->ko, NULL, err);
}
static TsStatus rf_holds_attached(TsError *err)
{
    return ts_rfactor(F->c.sch, F->c.mm, F->ki, NULL, err);
}

static void test_rfactor(void **state)
{
    F = *state;
    refused(rf_null_sch, TS_EINVAL, "rfactor: the schedule or the tensor is NULL");
    refused(rf_null_tensor, TS_EINVAL, "rfactor: the schedule or the tensor is NULL");
    refused(rf_null_axis, TS_EINVAL, "rfactor on stage mm: the axis is NULL");
    refused(rf_placeholder, TS_EINVAL, "rfactor: b is not a compute stage of this schedule");
    refused(rf_stale, TS_ESCHEDULE, "rfactor on stage mm: axis k is no longer a leaf");
    refused(rf_foreign, TS_ESCHEDULE, "rfactor on stage mm: axis oi belongs to stage out");
    refused(rf_data_axis, TS_ESCHEDULE, "rfactor on stage mm: axis i.inner is not a reduction");
    refused(rf_not_reduction, TS_ESCHEDULE, "rfactor on stage out: axis oi is not a reduction");
    TsError err;
    /* Attached, mm cannot be factored; at the root again, it can. */
    accept(ts_compute_at(F->c.s_mm, F->c.s_out, F->c.oi, &err), &err);
    refused(rf_attached, TS_ESCHEDULE, "rfactor on stage mm: the stage is attached");
    accept(ts_compute_root(F->c.s_mm, &err), &err);
    /* scaled is computed inside mm's loop over k.outer, which rfactor would replace. */
    refused(rf_holds_attached, TS_ESCHEDULE,
            "rfactor on stage mm: stage scaled is computed at its reduce loop k.outer, which "
            "rfactor replaces; attach scaled elsewhere first");
    accept(ts_compute_root(F->c.s_scaled, &err), &err);
    TsTensor *rf;
    accept(ts_rfactor(F->c.sch, F->c.mm, F->ko, &rf, &err), &err);
    assert_string_equal(rf->name, "mm.rf");
    TsStage *s_rf = ts_stage(F->c.sch, rf);
    accept(ts_compute_at(F->c.s_scaled, s_rf, ts_stage_leaf(s_rf, 0), &err), &err);
    still_works();
}

/* y[i] = sum over k of x[k], with i split 64 times: more loops than rfactor takes. */
static TsAxis *rf_axis;

static TsStatus rf_many_loops(TsError *err)
{
    return ts_rfactor(F->c.sch, F->c.out, rf_axis, NULL, err);
}

static void test_rfactor_more_than_64_loops(void **state)
{
    (void)state;
    Fixture local = { .A = ts_arena_create() };
    TsArena *A = local.A;
    TsTensor *x = ts_placeholder(A, "x", 1, (int64_t[]){ 6 }, TS_FLOAT32);
    TsAxis *i = ts_axis(A, "i", 2), *k = ts_reduce_axis(A, "k", 6);
    local.c.out = ts_compute(A, "y", 1, &i, ts_sum(A, ts_at(A, x, ts_var(k)), 1, &k, NULL));
    local.c.sch = ts_schedule_create(A, 1, &local.c.out);
    assert_non_null(local.c.sch);
    local.c.s_out = ts_stage(local.c.sch, local.c.out);
    local.num_outputs = 1;
    local.outputs[0] = local.c.out;
    F = &local;
    split_into_leaves(local.c.s_out, i, 65);
    assert_int_equal(ts_stage_num_leaves(local.c.s_out), 66);
    rf_axis = k;
    refused(rf_many_loops, TS_ESCHEDULE, "rfactor on stage y: more than 64 loops");
    TsError err;
    while (ts_stage_num_leaves(local.c.s_out) > 64)
        accept(ts_fuse(local.c.s_out, ts_stage_leaf(local.c.s_out, 0),
                       ts_stage_leaf(local.c.s_out, 1), NULL, &err),
               &err);
    TsTensor *rf;
    accept(ts_rfactor(local.c.sch, local.c.out, k, &rf, &err), &err);
    free(lowered_str(true));
    ts_arena_destroy(A);
}

/* A reduction into a tensor of the most dimensions: the factored tensor would need one
 * more. */
static void test_rfactor_too_many_dimensions(void **state)
{
    (void)state;
    Fixture local = { .A = ts_arena_create() };
    TsArena *A = local.A;
    TsTensor *x = ts_placeholder(A, "x", 1, (int64_t[]){ 4 }, TS_FLOAT32);
    TsAxis *axes[TS_MAX_DIMS];
    for (int d = 0; d < TS_MAX_DIMS; d++) {
        char name[16];
        snprintf(name, sizeof name, "d%d", d);
        axes[d] = ts_axis(A, name, 2);
    }
    TsAxis *k = ts_reduce_axis(A, "k", 4);
    local.c.out =
        ts_compute(A, "y", TS_MAX_DIMS, axes, ts_sum(A, ts_at(A, x, ts_var(k)), 1, &k, NULL));
    local.c.sch = ts_schedule_create(A, 1, &local.c.out);
    assert_non_null(local.c.sch);
    local.c.s_out = ts_stage(local.c.sch, local.c.out);
    local.num_outputs = 1;
    local.outputs[0] = local.c.out;
    F = &local;
    rf_axis = k;
    refused(rf_many_loops, TS_ESCHEDULE,
            "rfactor on stage y: the factored tensor would have "
            "more than 8 dimensions");
    TsError err;
    accept(ts_unroll(local.c.s_out, k, &err), &err);
    free(lowered_str(true));
    ts_arena_destroy(A);
}

/* ---- out of memory ---- */

/* request, valid on the fixture, is tried with the arena failing after 0, 16, 32, ...
 * more bytes (allocations are rounded to 16), so that each of its allocations fails in
 * turn, until it succeeds: every failure is TS_ENOMEM and leaves the state and the loop
 * nest as they were. Returns the number of failed attempts. */
static int accepted_despite_oom(Request request)
{
    char *state = state_str(F->c.sch);
    char *loops = lowered_str(false);
    int failures = 0;
    for (size_t budget = 0;; budget += 16) {
        TsError err = { TS_OK, "" };
        te_arena_fail_after(F->A, budget);
        TsStatus got = request(&err);
        te_arena_fail_after(F->A, SIZE_MAX);
        ts_arena_clear_error(F->A);
        if (got == TS_OK)
            break;
        char *state_after = state_str(F->c.sch);
        assert_string_equal(state, state_after);
        free(state_after);
        if (got != TS_ENOMEM)
            fprintf(stderr, "with %zu bytes: %s: %s\n", budget, ts_status_name(got), err.message);
        assert_int_equal(got, TS_ENOMEM);
        assert_int_equal(err.status, TS_ENOMEM);
        char *loops_after = lowered_str(false);
        assert_string_equal(loops, loops_after);
        free(loops_after);
        failures++;
        assert_true(budget < (size_t)1 << 20);
    }
    free(state);
    free(loops);
    return failures;
}

static TsAxis *ojo, *oji, *fused_o, *xo, *yo, *xi, *yi, *jo, *ji;
static TsTensor *mm_cache, *mm_rf, *b_local;

static TsStatus oom_split(TsError *err)
{
    return ts_split(F->c.s_out, F->c.oj, 4, &ojo, &oji, err);
}
static TsStatus oom_vectorize(TsError *err)
{
    return ts_vectorize(F->c.s_out, oji, err);
}
static TsStatus oom_tile(TsError *err)
{
    return ts_tile(F->c.s_scaled, F->c.si, F->c.sk, 2, 4, &xo, &yo, &xi, &yi, err);
}
static TsStatus oom_fuse(TsError *err)
{
    return ts_fuse(F->c.s_out, F->c.oi, ojo, &fused_o, err);
}
static TsStatus oom_parallel(TsError *err)
{
    return ts_parallel(F->c.s_out, fused_o, err);
}
static TsStatus oom_reorder(TsError *err)
{
    return ts_reorder(F->c.s_mm, 2, (TsAxis *[]){ F->ki, F->ii }, err);
}
static TsStatus oom_unroll(TsError *err)
{
    return ts_unroll(F->c.s_mm, F->ii, err);
}
static TsStatus oom_pragma(TsError *err)
{
    return ts_pragma(F->c.s_mm, F->io, "p2", 2, err);
}
static TsStatus oom_nparts(TsError *err)
{
    return ts_split_nparts(F->c.s_mm, F->c.j, 3, &jo, &ji, err);
}
static TsStatus oom_inline(TsError *err)
{
    return ts_compute_inline(F->s_a_cache, err);
}
static TsStatus oom_align(TsError *err)
{
    return ts_storage_align(F->c.s_mm, F->c.j, 8, 1, err);
}
static TsStatus oom_cache_read(TsError *err)
{
    return ts_cache_read(F->c.sch, F->c.mm, 1, &F->c.s_out, &mm_cache, err);
}
static TsStatus oom_compute_at(TsError *err)
{
    return ts_compute_at(ts_stage(F->c.sch, mm_cache), F->c.s_out, fused_o, err);
}
static TsStatus oom_compute_root(TsError *err)
{
    return ts_compute_root(F->c.s_scaled, err);
}
static TsStatus oom_rfactor(TsError *err)
{
    return ts_rfactor(F->c.sch, F->c.mm, F->ko, &mm_rf, err);
}
static TsStatus oom_cache_write(TsError *err)
{
    return ts_cache_write(F->c.sch, F->b_cache, &b_local, err);
}

/* Every primitive, made to run out of memory at each of its allocations in turn, changes
 * nothing until it succeeds; the schedule built that way computes the right values. */
static void test_out_of_memory(void **state)
{
    F = *state;
    static const struct {
        const char *name;
        Request request;
    } steps[] = {
        { "split", oom_split },
        { "vectorize", oom_vectorize },
        { "tile", oom_tile },
        { "fuse", oom_fuse },
        { "parallel", oom_parallel },
        { "reorder", oom_reorder },
        { "unroll", oom_unroll },
        { "pragma", oom_pragma },
        { "split_nparts", oom_nparts },
        { "compute_inline", oom_inline },
        { "storage_align", oom_align },
        { "cache_read", oom_cache_read },
        { "compute_at", oom_compute_at },
        { "compute_root", oom_compute_root },
        { "rfactor", oom_rfactor },
        { "cache_write", oom_cache_write },
    };
    for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
        int failures = accepted_despite_oom(steps[s].request);
        /* Each records at least a line of text, so each can run out of memory. */
        if (failures < 1)
            fprintf(stderr, "%s never ran out of memory\n", steps[s].name);
        assert_true(failures >= 1);
    }
    assert_non_null(
        strstr(ts_schedule_str(F->A, F->c.sch), "cache_write b.cache -> b.cache.local"));
    free(lowered_str(true));
}

/* The fixture as set up lowers to the right values (the base every test disturbs). */
static void test_fixture_lowers(void **state)
{
    F = *state;
    char *state_text = state_str(F->c.sch);
    assert_non_null(strstr(state_text, "unroll_max_extent=4"));
    assert_non_null(strstr(state_text, "at mm.k.outer"));
    free(state_text);
    free(lowered_str(true));
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_fixture_lowers),
        T(test_split),
        T(test_split_nparts),
        T(test_tile),
        T(test_fuse),
        T(test_fuse_too_long),
        T(test_reorder),
        T(test_reorder_more_than_64_axes),
        T(test_annotations),
        T(test_annotation_conflicts),
        T(test_vectorize_more_than_1024_lanes),
        T(test_pragma),
        T(test_compute_at),
        T(test_compute_inline_and_root),
        T(test_storage_align),
        T(test_cache_read),
        T(test_cache_write),
        T(test_cache_write_of_a_stage_holding_another),
        T(test_rfactor),
        T(test_rfactor_more_than_64_loops),
        T(test_rfactor_too_many_dimensions),
        T(test_out_of_memory),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
