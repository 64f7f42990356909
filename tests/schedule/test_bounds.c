/* Bound inference: the region of a stage computed at an inner loop is the part its
 * readers use there, also after fuse + parallel (the templates' n x channel-block
 * loop), so no iteration recomputes the whole dimension. Each case checks the size of
 * the buffer allocated for the attached stage, the work done (scalar stores into that
 * buffer, counted in the lowered nest: loop extents times vector lanes), and, on
 * shapes the loop interpreter runs quickly, the values against the reference
 * interpreter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sch_testing.h"
#include "te/te_internal.h"
#include "tessera/template.h"

/* ---- walking the lowered nest ---- */

static const TeBuffer *find_allocation(const TeStmt *s, const char *name)
{
    if (!s)
        return NULL;
    const TeBuffer *b = NULL;
    switch (s->kind) {
    case TE_STMT_FOR: return find_allocation(s->u.loop.body, name);
    case TE_STMT_STORE:
    case TE_STMT_CALL: case TE_STMT_TENSORIZE: return NULL;
    case TE_STMT_ALLOCATE:
        if (strcmp(s->u.allocate.buffer->name, name) == 0)
            return s->u.allocate.buffer;
        return find_allocation(s->u.allocate.body, name);
    case TE_STMT_IF:
        b = find_allocation(s->u.if_then.then_case, name);
        return b ? b : find_allocation(s->u.if_then.else_case, name);
    case TE_STMT_LET: return find_allocation(s->u.let.body, name);
    case TE_STMT_SEQ:
        for (int i = 0; i < s->u.seq.num_stmts && !b; i++)
            b = find_allocation(s->u.seq.stmts[i], name);
        return b;
    case TE_NUM_STMT_KINDS: break;
    }
    return NULL;
}

/* Scalar elements stored into buffer name, times mult: loop extents multiply, a vector
 * store counts its lanes, both branches of an if count (an upper bound; the nests
 * checked here have no tails). -1 when a loop extent is not constant. */
static int64_t stores_into(const TeStmt *s, const char *name, int64_t mult)
{
    int64_t ext, a, b;
    if (!s)
        return 0;
    switch (s->kind) {
    case TE_STMT_FOR:
        if (!te_const_int(s->u.loop.extent, &ext))
            return -1;
        return stores_into(s->u.loop.body, name, mult * ext);
    case TE_STMT_STORE:
        return strcmp(s->u.store.buffer->name, name) == 0 ? mult * s->u.store.value->dtype.lanes
                                                          : 0;
    case TE_STMT_CALL: case TE_STMT_TENSORIZE: return 0; /* the nests checked here make no calls */
    case TE_STMT_ALLOCATE: return stores_into(s->u.allocate.body, name, mult);
    case TE_STMT_IF:
        a = stores_into(s->u.if_then.then_case, name, mult);
        b = stores_into(s->u.if_then.else_case, name, mult);
        return a < 0 || b < 0 ? -1 : a + b;
    case TE_STMT_LET: return stores_into(s->u.let.body, name, mult);
    case TE_STMT_SEQ:
        a = 0;
        for (int i = 0; i < s->u.seq.num_stmts && a >= 0; i++) {
            b = stores_into(s->u.seq.stmts[i], name, mult);
            a = b < 0 ? -1 : a + b;
        }
        return a;
    case TE_NUM_STMT_KINDS: break;
    }
    return -1;
}

/* The shape of the buffer allocated for name, which must exist: that shape, or a flat
 * buffer of as many elements (where loop partitioning cut the nest into parts, each
 * allocating it, storage_rewrite gives them one flat buffer). */
static void assert_allocated(const TsLoweredFunc *func, const char *name, int ndim,
                             const int64_t *shape)
{
    const TeBuffer *b = find_allocation(func->body, name);
    if (!b)
        fail_msg("no buffer %s is allocated", name);
    char got[128] = "", want[128] = "";
    int64_t elements = 1;
    for (int d = 0; d < b->ndim; d++)
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", d ? ", " : "",
                 (long long)b->shape[d]);
    for (int d = 0; d < ndim; d++) {
        snprintf(want + strlen(want), sizeof want - strlen(want), "%s%lld", d ? ", " : "",
                 (long long)shape[d]);
        elements *= shape[d];
    }
    if (strcmp(got, want) != 0 && !(b->ndim == 1 && b->shape[0] == elements))
        fail_msg("%s is allocated as [%s], expected [%s]", name, got, want);
}

static void assert_stores(const TsLoweredFunc *func, const char *name, int64_t want)
{
    int64_t got = stores_into(func->body, name, 1);
    if (got != want)
        fail_msg("%lld elements are stored into %s, expected %lld", (long long)got, name,
                 (long long)want);
}

static void assert_values(const TsLoweredFunc *func, int num_outputs, TsTensor *const *outputs)
{
    SchCheck check;
    if (sch_check_lowered(func, num_outputs, outputs, 7, &check) != TS_OK)
        fail_msg("%s: %s", check.stage, check.message);
}

/* ---- the templates ---- */

typedef struct Lowered {
    TsArena *arena;
    TsTemplateInstance inst;
    TsLoweredFunc *func;
} Lowered;

static TsTemplateArgs parse_args(const char *text)
{
    TsTemplateArgs args = { 0 };
    TsError err = { 0 };
    char name[32];
    long long value;
    int used;
    while (sscanf(text, " %31[^=]=%lld%n", name, &value, &used) == 2) {
        assert_int_equal(ts_template_args_set(&args, name, value, &err), TS_OK);
        text += used;
    }
    return args;
}

/* Lowers the default config of template name on args for AVX-512 (16 lanes) on two
 * cores, with the knob "parallel" set as given. */
static void lower_default(const char *name, const char *args_text, int64_t parallel, Lowered *out)
{
    const TsTemplate *tmpl = ts_template_find(name);
    TsTemplateArgs args = parse_args(args_text);
    TsTemplateTarget tt;
    TsConfigSpace *space = ts_config_space_create();
    TsConfig config;
    TsError err = { 0 };
    assert_int_equal(ts_template_target_init(&tt, "x86_64", ",avx,avx2,avx512f,fma,",
                                             "avx512", 2, &err),
                     TS_OK);
    assert_non_null(tmpl);
    assert_non_null(space);
    assert_int_equal(tmpl->define_space(&args, &tt, space, &err), TS_OK);
    assert_int_equal(tmpl->default_config(&args, &tt, space, &config, &err), TS_OK);
    int knob = -1;
    for (int i = 0; i < ts_space_num_knobs(space); i++)
        if (strcmp(ts_space_knob_name(space, i), "parallel") == 0)
            knob = i;
    assert_true(knob >= 0);
    int64_t choice[TS_CONFIG_MAX_KNOBS];
    memcpy(choice, config.choice, sizeof choice);
    choice[knob] = parallel;
    assert_int_equal(ts_space_from_choices(space, choice, &config, &err), TS_OK);
    out->arena = ts_arena_create();
    assert_non_null(out->arena);
    TsStatus st = tmpl->instantiate(&args, &tt, &config, out->arena, &out->inst, &err);
    if (st == TS_OK)
        st = ts_lower(out->inst.sch, "kernel", &out->func, &err);
    if (st != TS_OK)
        fail_msg("%s %s: %s", name, args_text, err.message);
    ts_config_space_free(space);
}

static TsTensor *const *outputs_of(const Lowered *l)
{
    return l->inst.tensors + l->inst.num_tensors - l->inst.num_outputs;
}

/* One window template on args, both without and with "parallel": the accumulator's
 * buffer has shape acc_shape (one channel block, one register block) and acc_stores
 * elements are stored into it (init and updates of each output element, once). */
static void check_window(const char *name, const char *args, const char *acc,
                         const int64_t *acc_shape, int64_t acc_stores, bool values)
{
    for (int parallel = 0; parallel < 2; parallel++) {
        Lowered l;
        lower_default(name, args, parallel, &l);
        assert_allocated(l.func, acc, 5, acc_shape);
        assert_stores(l.func, acc, acc_stores);
        if (values)
            assert_values(l.func, l.inst.num_outputs, outputs_of(&l));
        ts_arena_destroy(l.arena);
    }
}

/* The stores into the accumulator of a window operator over channels x h x w with an
 * r x s window: an init per output element and an update per window point inside the
 * input (the padding is the reduction's condition, and its points are never visited). */
static int64_t window_stores(int64_t channels, int64_t h, int64_t w, int64_t r, int64_t s,
                             int64_t stride, int64_t pad)
{
    int64_t oh = (h + 2 * pad - r) / stride + 1, ow = (w + 2 * pad - s) / stride + 1;
    int64_t rows = 0, cols = 0;
    for (int64_t y = 0; y < oh; y++)
        for (int64_t k = 0; k < r; k++)
            rows += y * stride + k - pad >= 0 && y * stride + k - pad < h;
    for (int64_t x = 0; x < ow; x++)
        for (int64_t k = 0; k < s; k++)
            cols += x * stride + k - pad >= 0 && x * stride + k - pad < w;
    return channels * (oh * ow + rows * cols);
}

/* The conv2d NCHWc default config on a ResNet-18 layer: oc_bn = 32, reg_n = 7. With
 * "parallel" the n x oc loop is fused; each of its iterations computes one channel
 * block, not all four. */
static void test_conv2d_nchwc_parallel(void **state)
{
    (void)state;
    int64_t out = 1 * 128 * 28 * 28;
    check_window("conv2d_NCHWc", "N=1 C=128 H=28 W=28 K=128 R=3 S=3 stride=1 pad=1",
                 "conv2d_NCHWc.local", (int64_t[]){ 1, 1, 1, 7, 32 }, out * (128 * 9 + 1), false);
}

static void test_depthwise_parallel(void **state)
{
    (void)state;
    check_window("depthwise_conv2d_NCHWc", "N=1 C=128 H=28 W=28 R=3 S=3 stride=1 pad=1",
                 "depthwise_conv2d_NCHWc.local", (int64_t[]){ 1, 1, 1, 8, 16 },
                 window_stores(128, 28, 28, 3, 3, 1, 1), false);
}

static void test_pool2d_parallel(void **state)
{
    (void)state;
    check_window("pool2d_NCHWc", "N=1 C=128 H=28 W=28 R=3 S=3 stride=1 pad=1 kind=0", "pool_acc",
                 (int64_t[]){ 1, 1, 1, 4, 16 }, window_stores(128, 28, 28, 3, 3, 1, 1), false);
}

/* Two images, so the fused loop's floordiv and floormod stay in the region's min, and
 * shapes small enough for the loop interpreter: sizes, work and values. */
static void test_templates_two_images(void **state)
{
    (void)state;
    check_window("conv2d_NCHWc", "N=2 C=32 H=6 W=7 K=64 R=3 S=3 stride=1 pad=1",
                 "conv2d_NCHWc.local", (int64_t[]){ 1, 1, 1, 7, 32 }, 2 * 64 * 6 * 7 * (32 * 9 + 1),
                 true);
    check_window("depthwise_conv2d_NCHWc", "N=2 C=48 H=5 W=8 R=3 S=3 stride=1 pad=1",
                 "depthwise_conv2d_NCHWc.local", (int64_t[]){ 1, 1, 1, 8, 16 },
                 window_stores(2 * 48, 5, 8, 3, 3, 1, 1), true);
    check_window("pool2d_NCHWc", "N=2 C=32 H=8 W=8 R=2 S=2 stride=2 pad=0 kind=1", "pool_acc",
                 (int64_t[]){ 1, 1, 1, 4, 16 }, window_stores(2 * 32, 8, 8, 2, 2, 2, 0), true);
}

/* ---- schedules written by hand ---- */

/* b = a * 2 over [4, 6, 8] and c = b + 1, c's i and j fused into a parallel loop. */
typedef struct Chain {
    TsArena *arena;
    TsTensor *b, *c;
    TsSchedule *sch;
    TsStage *sb, *sc;
    TsAxis *fused;
} Chain;

static void chain(Chain *ch)
{
    TsArena *A = ch->arena = ts_arena_create();
    TsError err = { 0 };
    TsTensor *a = ts_placeholder(A, "a", 3, (int64_t[]){ 4, 6, 8 }, TS_FLOAT32);
    TsAxis *i = ts_axis(A, "i", 4), *j = ts_axis(A, "j", 6), *k = ts_axis(A, "k", 8);
    ch->b = ts_compute(A, "b", 3, (TsAxis *[]){ i, j, k },
                       ts_mul(A, ts_at(A, a, ts_var(i), ts_var(j), ts_var(k)), ts_f32(A, 2.0)));
    TsAxis *ci = ts_axis(A, "i", 4), *cj = ts_axis(A, "j", 6), *ck = ts_axis(A, "k", 8);
    ch->c =
        ts_compute(A, "c", 3, (TsAxis *[]){ ci, cj, ck },
                   ts_add(A, ts_at(A, ch->b, ts_var(ci), ts_var(cj), ts_var(ck)), ts_f32(A, 1.0)));
    ch->sch = ts_schedule_create(A, 1, &ch->c);
    assert_non_null(ch->sch);
    ch->sb = ts_stage(ch->sch, ch->b);
    ch->sc = ts_stage(ch->sch, ch->c);
    assert_int_equal(ts_fuse(ch->sc, ts_stage_root_axis(ch->sc, 0), ts_stage_root_axis(ch->sc, 1),
                             &ch->fused, &err),
                     TS_OK);
    assert_int_equal(ts_parallel(ch->sc, ch->fused, &err), TS_OK);
}

static TsLoweredFunc *lower_chain(Chain *ch)
{
    TsLoweredFunc *func = NULL;
    TsError err = { 0 };
    if (ts_lower(ch->sch, "chain", &func, &err) != TS_OK)
        fail_msg("lower: %s", err.message);
    return func;
}

/* b computed at the fused loop: one row of b per iteration. */
static void test_fuse_parallel_compute_at(void **state)
{
    (void)state;
    Chain ch;
    TsError err = { 0 };
    chain(&ch);
    assert_int_equal(ts_compute_at(ch.sb, ch.sc, ch.fused, &err), TS_OK);
    TsLoweredFunc *func = lower_chain(&ch);
    assert_allocated(func, "b", 3, (int64_t[]){ 1, 1, 8 });
    assert_stores(func, "b", 4 * 6 * 8);
    assert_values(func, 1, &ch.c);
    ts_arena_destroy(ch.arena);
}

/* The fused loop split by 12, b computed at the outer part: its 12 fused values are two
 * whole rows of i (floordiv(12 * o + [0, 11], 6) = 2 * o + [0, 1], exactly). */
static void test_fuse_split_compute_at(void **state)
{
    (void)state;
    Chain ch;
    TsError err = { 0 };
    TsAxis *outer, *inner;
    chain(&ch);
    assert_int_equal(ts_split(ch.sc, ch.fused, 12, &outer, &inner, &err), TS_OK);
    assert_int_equal(ts_compute_at(ch.sb, ch.sc, outer, &err), TS_OK);
    TsLoweredFunc *func = lower_chain(&ch);
    assert_allocated(func, "b", 3, (int64_t[]){ 2, 6, 8 });
    assert_stores(func, "b", 4 * 6 * 8);
    assert_values(func, 1, &ch.c);
    ts_arena_destroy(ch.arena);
}

/* Split by 4, which does not divide a row of 6: the 4 fused values of an iteration
 * may straddle two rows, so the region is two rows by a whole row (a sound
 * over-approximation), not the whole of b. */
static void test_fuse_split_straddling(void **state)
{
    (void)state;
    Chain ch;
    TsError err = { 0 };
    TsAxis *outer, *inner;
    chain(&ch);
    assert_int_equal(ts_split(ch.sc, ch.fused, 4, &outer, &inner, &err), TS_OK);
    assert_int_equal(ts_compute_at(ch.sb, ch.sc, outer, &err), TS_OK);
    TsLoweredFunc *func = lower_chain(&ch);
    assert_allocated(func, "b", 3, (int64_t[]){ 2, 6, 8 });
    /* Six iterations of two rows, but the second row of the last one (i = 4) lies
     * outside b and is not computed. */
    assert_stores(func, "b", (6 * 2 - 1) * 6 * 8);
    assert_values(func, 1, &ch.c);
    ts_arena_destroy(ch.arena);
}

/* b's j (one value in the region) split by 4 and vectorized innermost: the vector loop
 * must come out without a tail guard (the vectorizer refuses lane-varying guards). */
static void test_split_wider_than_region(void **state)
{
    (void)state;
    Chain ch;
    TsError err = { 0 };
    TsAxis *outer, *inner;
    chain(&ch);
    assert_int_equal(ts_compute_at(ch.sb, ch.sc, ch.fused, &err), TS_OK);
    TsAxis *i = ts_stage_root_axis(ch.sb, 0), *k = ts_stage_root_axis(ch.sb, 2);
    assert_int_equal(ts_split(ch.sb, ts_stage_root_axis(ch.sb, 1), 4, &outer, &inner, &err), TS_OK);
    assert_int_equal(ts_reorder(ch.sb, 4, (TsAxis *[]){ i, k, outer, inner }, &err), TS_OK);
    assert_int_equal(ts_vectorize(ch.sb, inner, &err), TS_OK);
    TsLoweredFunc *func = lower_chain(&ch);
    assert_allocated(func, "b", 3, (int64_t[]){ 1, 1, 8 });
    assert_stores(func, "b", 4 * 6 * 8);
    assert_values(func, 1, &ch.c);
    ts_arena_destroy(ch.arena);
}

/* c[i, j] = b[index(i, j), j] with b = a * 2 over [4, 8], b computed at c.i. */
static void indexed(TsArena *A, TsExpr *(*row)(TsArena *, TsExpr *, TsExpr *),
                    TsExpr *(*col)(TsArena *, TsExpr *, TsExpr *), TsTensor **out,
                    TsSchedule **sch_out)
{
    TsError err = { 0 };
    TsTensor *a = ts_placeholder(A, "a", 2, (int64_t[]){ 4, 8 }, TS_FLOAT32);
    TsAxis *i = ts_axis(A, "i", 4), *j = ts_axis(A, "j", 8);
    TsTensor *b = ts_compute(A, "b", 2, (TsAxis *[]){ i, j },
                             ts_mul(A, ts_at(A, a, ts_var(i), ts_var(j)), ts_f32(A, 2.0)));
    TsAxis *ci = ts_axis(A, "i", 4), *cj = ts_axis(A, "j", 8);
    TsExpr *x = ts_var(ci), *y = ts_var(cj);
    *out = ts_compute(A, "c", 2, (TsAxis *[]){ ci, cj }, ts_at(A, b, row(A, x, y), col(A, x, y)));
    TsSchedule *sch = *sch_out = ts_schedule_create(A, 1, out);
    assert_non_null(sch);
    TsStage *sb = ts_stage(sch, b), *sc = ts_stage(sch, *out);
    assert_int_equal(ts_compute_at(sb, sc, ts_stage_root_axis(sc, 0), &err), TS_OK);
}

static TsExpr *square_mod_4(TsArena *A, TsExpr *i, TsExpr *j)
{
    (void)j;
    return ts_floormod(A, ts_mul(A, i, i), ts_i32(A, 4));
}

static TsExpr *column(TsArena *A, TsExpr *i, TsExpr *j)
{
    (void)A;
    (void)i;
    return j;
}

static TsExpr *row(TsArena *A, TsExpr *i, TsExpr *j)
{
    (void)A;
    (void)j;
    return i;
}

static TsExpr *square_div_8(TsArena *A, TsExpr *i, TsExpr *j)
{
    (void)i;
    return ts_floordiv(A, ts_mul(A, j, j), ts_i32(A, 8));
}

/* An index that is not linear in the fixed loop (i * i mod 4) is one opaque point
 * inside c.i: one row of b, not four. */
static void test_invariant_term_is_a_point(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    TsTensor *c;
    TsSchedule *sch;
    TsError err = { 0 };
    TsLoweredFunc *func = NULL;
    indexed(A, square_mod_4, column, &c, &sch);
    assert_int_equal(ts_lower(sch, "c", &func, &err), TS_OK);
    assert_allocated(func, "b", 2, (int64_t[]){ 1, 8 });
    assert_stores(func, "b", 4 * 8);
    assert_values(func, 1, &c);
    ts_arena_destroy(A);
}

/* An index that is not linear in a ranging loop (j * j / 8 over j < 8, at most 6) is
 * bounded by interval analysis: columns 0..6 of b, not all 8. */
static void test_nonlinear_range_is_bounded(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    TsTensor *c;
    TsSchedule *sch;
    TsError err = { 0 };
    TsLoweredFunc *func = NULL;
    indexed(A, row, square_div_8, &c, &sch);
    assert_int_equal(ts_lower(sch, "c", &func, &err), TS_OK);
    assert_allocated(func, "b", 2, (int64_t[]){ 1, 7 });
    assert_stores(func, "b", 4 * 7);
    assert_values(func, 1, &c);
    ts_arena_destroy(A);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv2d_nchwc_parallel),
        cmocka_unit_test(test_depthwise_parallel),
        cmocka_unit_test(test_pool2d_parallel),
        cmocka_unit_test(test_templates_two_images),
        cmocka_unit_test(test_fuse_parallel_compute_at),
        cmocka_unit_test(test_fuse_split_compute_at),
        cmocka_unit_test(test_fuse_split_straddling),
        cmocka_unit_test(test_split_wider_than_region),
        cmocka_unit_test(test_invariant_term_is_a_point),
        cmocka_unit_test(test_nonlinear_range_is_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
