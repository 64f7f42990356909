/* tensorize end to end: an int8 dense (u8 x s8 -> s32, weights packed for the 4-byte dot
 * products) scheduled with ts_tensorize and the built-in VNNI intrinsic, JIT-compiled and
 * compared bit for bit with the reference interpreter and the loop interpreter (which
 * runs the intrinsic's declaration); the region covering the whole reduction and part of
 * it (reset on the first iteration of the outer reduce loop); the built-ins' registry;
 * and each refusal of the matcher and of codegen, with its message: wrong extent, stride,
 * dtype, a stage that is not a reduction, another combiner, a split's tail, a target
 * without the feature. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include <cmocka.h>

#include "cg_testing.h"
#include "tessera/intrin.h"

#define VNNI "x86.vnni.u8s8.16x4"
#define BF16 "x86.avx512bf16.f32.16x2"

static const TsIntrin *builtin(const char *name)
{
    const TsIntrin *in = ts_intrin_lookup(name);
    if (!in)
        fail_msg("no built-in intrinsic %s", name);
    return in;
}

static bool host_has(const char *feature)
{
    return ts_target_has_feature(cgt_host(), feature);
}

/* Lowers, runs the loop interpreter and the JIT on the same inputs, and compares both
 * with the reference interpreter bit for bit. */
static void check_dense(CgtDense *d, const char *name, uint64_t seed, bool jit)
{
    TsLoweredFunc *func;
    TsError err;
    cgt_ok(ts_lower(d->sch, name, &func, &err), &err);
    TsArena *scratch = ts_arena_create();
    const char *text = ts_lowered_str(scratch, func);
    if (!strstr(text, "tensorize "))
        fail_msg("no tensorized region in\n%s", text);
    CgtArgs args;
    cgt_args_init(&args, func, seed, NULL);
    TsBinding bindings[CGT_MAX_ARGS];
    for (int i = 0; i < args.num; i++)
        bindings[i] = (TsBinding){ args.tensors[i], args.data[i] };
    cgt_ok(ts_lowered_run(func, args.num, bindings, &err), &err);
    char message[512];
    if (!cgt_compare_with_oracle(&args, 1, &d->c, message, sizeof message))
        fail_msg("%s (loop interpreter): %s\n%s", name, message, text);
    cgt_args_free(&args);
    if (jit)
        cgt_check_schedule(d->sch, name, 1, &d->c, seed, NULL);
    ts_arena_destroy(scratch);
}

static void test_builtins_registered(void **state)
{
    (void)state;
    static const char *const names[] = { VNNI,
                                         BF16,
                                         "aarch64.sdot.s8.4x4",
                                         "aarch64.udot.u8.4x4",
                                         "aarch64.smull.s8.4x4",
                                         "aarch64.umull.u8.4x4" };
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        const TsIntrin *in = builtin(names[i]);
        assert_string_equal(ts_intrin_name(in), names[i]);
        assert_int_equal(ts_intrin_num_inputs(in), 2);
        assert_true(ts_intrin_num_features(in) >= 1);
    }
    assert_int_equal(ts_intrin_feature(builtin(VNNI), 0)[0], 'a');
    assert_string_equal(ts_intrin_feature(builtin(VNNI), 0), "avx512vnni");
    assert_null(ts_intrin_lookup("x86.no.such"));
    assert_true(ts_intrin_count() >= 6);
    TsError err;
    assert_int_equal(ts_intrin_register(builtin(VNNI), &err), TS_EINVAL);
    assert_non_null(strstr(err.message, "registered already"));
}

/* k = 64: the region covers part of the reduction (k.outer outside it), m = 5 rows. */
static void test_vnni_dense(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    CgtDense d;
    cgt_packed_dense(A, &d, 5, 48, 64, TS_UINT8, TS_INT8, TS_INT32, 16, 4);
    TsError err;
    cgt_ok(ts_tensorize(d.s, d.ji, builtin(VNNI), &err), &err);
    check_dense(&d, "dense_vnni", 11, host_has("avx512vnni"));
    ts_arena_destroy(A);
}

/* The reduction wholly inside the region (k = 4), the rows parallel. */
static void test_vnni_whole_reduction_parallel(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    CgtDense d;
    cgt_packed_dense(A, &d, 7, 32, 4, TS_UINT8, TS_INT8, TS_INT32, 16, 4);
    TsError err;
    cgt_ok(ts_parallel(d.s, d.i, &err), &err);
    cgt_ok(ts_tensorize(d.s, d.ji, builtin(VNNI), &err), &err);
    check_dense(&d, "dense_vnni_k4", 12, host_has("avx512vnni"));
    ts_arena_destroy(A);
}

static TsStmt *no_code(TsArena *arena, const TsIntrin *intrin, const TsIntrinRegion *const *regions,
                       void *user)
{
    (void)intrin;
    (void)regions;
    (void)user;
    ts_arena_fail(arena, TS_EINVAL, "no code");
    return NULL;
}

/* A user intrinsic: declared (bad bodies refused with the culprit), registered once,
 * found by name; one without the emitters it needs is refused by the registry. */
static void test_user_intrinsic_registry(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    TsTensor *a = ts_placeholder(A, "a", 1, (int64_t[]){ 8 }, TS_INT32);
    TsAxis *j = ts_axis(A, "j", 4);
    TsTensor *bad = ts_compute(A, "c", 1, &j, ts_at(A, a, ts_add(A, ts_var(j), ts_i32(A, 1))));
    TsIntrin *in = NULL;
    TsError err;
    assert_int_equal(ts_intrin_declare(A, "user.bad", bad, 1, &a, &in, &err), TS_EINVAL);
    assert_non_null(strstr(err.message, "intrinsic user.bad: its declaration has an access "
                                        "index that is not one of the declaration's axis"));
    assert_int_equal(ts_intrin_declare(A, "user.bad", bad, 0, NULL, &in, &err), TS_EINVAL);
    assert_non_null(strstr(err.message, "reads a, which is not among the declared inputs"));
    TsTensor *unused = ts_placeholder(A, "u", 1, (int64_t[]){ 8 }, TS_INT32);
    TsAxis *j2 = ts_axis(A, "j", 4);
    TsTensor *twice = ts_compute(A, "c2", 1, &j2, ts_mul(A, ts_at(A, a, ts_var(j2)), ts_i32(A, 2)));
    assert_int_equal(
        ts_intrin_declare(A, "user.twice", twice, 2, (TsTensor *[]){ a, unused }, &in, &err),
        TS_EINVAL);
    assert_non_null(strstr(err.message, "the output never reads input u"));
    cgt_ok(ts_intrin_declare(A, "user.twice", twice, 1, &a, &in, &err), &err);
    assert_int_equal(ts_intrin_register(in, &err), TS_EINVAL);
    assert_non_null(strstr(err.message, "intrinsic user.twice: no body emitter"));
    assert_null(ts_intrin_lookup("user.twice"));
    cgt_ok(ts_intrin_set_emitters(in, no_code, NULL, NULL, NULL, &err), &err);
    cgt_ok(ts_intrin_register(in, &err), &err);
    assert_ptr_equal(ts_intrin_lookup("user.twice"), in);
    assert_int_equal(ts_intrin_register(in, &err), TS_EINVAL);
    /* An emitter that fails: lowering reports its error. */
    TsTensor *x = ts_placeholder(A, "X", 1, (int64_t[]){ 8 }, TS_INT32);
    TsAxis *i = ts_axis(A, "i", 8);
    TsTensor *y = ts_compute(A, "Y", 1, &i, ts_mul(A, ts_at(A, x, ts_var(i)), ts_i32(A, 2)));
    TsSchedule *sch = ts_schedule_create(A, 1, &y);
    TsStage *s = ts_stage(sch, y);
    TsAxis *io, *ii;
    cgt_ok(ts_split(s, i, 4, &io, &ii, &err), &err);
    cgt_ok(ts_tensorize(s, ii, in, &err), &err);
    TsLoweredFunc *func;
    assert_int_equal(ts_lower(sch, "twice", &func, &err), TS_EINVAL);
    assert_non_null(strstr(err.message, "no code"));
    cgt_ok(ts_intrin_unregister("user.twice", &err), &err);
    assert_null(ts_intrin_lookup("user.twice"));
    assert_int_equal(ts_intrin_unregister(VNNI, &err), TS_EINVAL);
    assert_non_null(ts_intrin_lookup(VNNI));
    ts_arena_destroy(A);
}

/* The reduce loop outside the region unrolled (the first-iteration test folds away) and
 * the column blocks parallel. */
static void test_vnni_unrolled_outer_reduce(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    CgtDense d;
    cgt_packed_dense(A, &d, 4, 32, 16, TS_UINT8, TS_INT8, TS_INT32, 16, 4);
    TsError err;
    cgt_ok(ts_reorder(d.s, 2, (TsAxis *[]){ d.jo, d.i }, &err), &err);
    cgt_ok(ts_parallel(d.s, d.jo, &err), &err);
    cgt_ok(ts_unroll(d.s, d.ko, &err), &err);
    cgt_ok(ts_tensorize(d.s, d.ji, builtin(VNNI), &err), &err);
    TsLoweredFunc *func;
    cgt_ok(ts_lower(d.sch, "dense_vnni_unrolled", &func, &err), &err);
    const char *text = ts_lowered_str(A, func);
    /* Four copies of the update, one reset, no test of k.outer left. */
    int updates = 0;
    for (const char *p = text; (p = strstr(p, "tensorize " VNNI ".update")); p++)
        updates++;
    assert_int_equal(updates, 4);
    assert_non_null(strstr(text, "tensorize " VNNI ".reset"));
    assert_null(strstr(text, "k.outer"));
    check_dense(&d, "dense_vnni_unrolled", 14, host_has("avx512vnni"));
    ts_arena_destroy(A);
}

/* The accumulation in a local buffer (cache_write) computed per row block of the output
 * and tensorized there, as templates do: the region's offsets are relative to the local
 * buffer's region. */
static void test_vnni_cache_write(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    TsTensor *a = ts_placeholder(A, "A", 2, (int64_t[]){ 6, 32 }, TS_UINT8);
    TsTensor *w = ts_placeholder(A, "W", 4, (int64_t[]){ 3, 8, 16, 4 }, TS_INT8);
    TsAxis *i = ts_axis(A, "i", 6), *j = ts_axis(A, "j", 48), *r = ts_reduce_axis(A, "k", 32);
    TsExpr *l = ts_i32(A, 16), *g = ts_i32(A, 4);
    TsExpr *wv = ts_at(A, w, ts_floordiv(A, ts_var(j), l), ts_floordiv(A, ts_var(r), g),
                       ts_floormod(A, ts_var(j), l), ts_floormod(A, ts_var(r), g));
    TsExpr *prod = ts_mul(A, ts_cast(A, TS_INT32, ts_at(A, a, ts_var(i), ts_var(r))),
                          ts_cast(A, TS_INT32, wv));
    TsTensor *c = ts_compute(A, "C", 2, (TsAxis *[]){ i, j }, ts_sum(A, prod, 1, &r, NULL));
    TsSchedule *sch = ts_schedule_create(A, 1, &c);
    TsTensor *local;
    TsError err;
    cgt_ok(ts_cache_write(sch, c, &local, &err), &err);
    TsStage *out = ts_stage(sch, c), *acc = ts_stage(sch, local);
    TsAxis *io, *ii, *jo, *ji, *ko, *ki;
    cgt_ok(ts_tile(out, ts_stage_root_axis(out, 0), ts_stage_root_axis(out, 1), 2, 16, &io, &jo,
                   &ii, &ji, &err),
           &err);
    cgt_ok(ts_compute_at(acc, out, jo, &err), &err);
    TsAxis *ai = ts_stage_root_axis(acc, 0), *aj = ts_stage_root_axis(acc, 1);
    cgt_ok(ts_split(acc, ts_stage_root_axis(acc, 2), 4, &ko, &ki, &err), &err);
    cgt_ok(ts_reorder(acc, 4, (TsAxis *[]){ ko, ai, aj, ki }, &err), &err);
    cgt_ok(ts_tensorize(acc, aj, builtin(VNNI), &err), &err);
    CgtDense d = { .a = a, .w = w, .c = c, .sch = sch };
    check_dense(&d, "dense_vnni_local", 15, host_has("avx512vnni"));
    ts_arena_destroy(A);
}

/* bfloat16 x bfloat16 -> float32 with vdpbf16ps; k = 38 (19 pairs), floats compared
 * within the float32 tolerance of cg_testing.h. */
static void test_bf16_dense(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    CgtDense d;
    cgt_packed_dense(A, &d, 3, 32, 38, TS_BFLOAT16, TS_BFLOAT16, TS_FLOAT32, 16, 2);
    TsError err;
    cgt_ok(ts_tensorize(d.s, d.ji, builtin(BF16), &err), &err);
    check_dense(&d, "dense_bf16", 13, host_has("avx512bf16"));
    ts_arena_destroy(A);
}

/* ---- refusals ---- */

static void expect_lower_error(TsSchedule *sch, const char *const *pieces)
{
    TsLoweredFunc *func = NULL;
    TsError err;
    TsStatus st = ts_lower(sch, "refused", &func, &err);
    if (st != TS_ESCHEDULE)
        fail_msg("ts_lower gave %d, expected TS_ESCHEDULE", (int)st);
    for (int i = 0; pieces[i]; i++)
        if (!strstr(err.message, pieces[i]))
            fail_msg("message \"%s\" lacks \"%s\"", err.message, pieces[i]);
}

static void test_refuses_wrong_extent(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    CgtDense d;
    cgt_packed_dense(A, &d, 3, 32, 16, TS_UINT8, TS_INT8, TS_INT32, 8, 4);
    TsError err;
    cgt_ok(ts_tensorize(d.s, d.ji, builtin(VNNI), &err), &err);
    expect_lower_error(d.sch,
                       (const char *[]){ "tensorize C at j.inner with " VNNI,
                                         "loop j.inner has extent 8", "axis j has 16", NULL });
    ts_arena_destroy(A);
}

/* W read in place (not packed): j.inner moves the load by 16 elements, not 4. */
static void test_refuses_wrong_stride(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    TsTensor *a = ts_placeholder(A, "A", 2, (int64_t[]){ 2, 16 }, TS_UINT8);
    TsTensor *w = ts_placeholder(A, "W", 2, (int64_t[]){ 32, 16 }, TS_INT8);
    TsAxis *i = ts_axis(A, "i", 2), *j = ts_axis(A, "j", 32), *r = ts_reduce_axis(A, "k", 16);
    TsExpr *prod = ts_mul(A, ts_cast(A, TS_INT32, ts_at(A, a, ts_var(i), ts_var(r))),
                          ts_cast(A, TS_INT32, ts_at(A, w, ts_var(j), ts_var(r))));
    TsTensor *c = ts_compute(A, "C", 2, (TsAxis *[]){ i, j }, ts_sum(A, prod, 1, &r, NULL));
    TsSchedule *sch = ts_schedule_create(A, 1, &c);
    TsStage *s = ts_stage(sch, c);
    TsAxis *jo, *ji, *ko, *ki;
    TsError err;
    cgt_ok(ts_split(s, ts_stage_root_axis(s, 1), 16, &jo, &ji, &err), &err);
    cgt_ok(ts_split(s, ts_stage_root_axis(s, 2), 4, &ko, &ki, &err), &err);
    cgt_ok(ts_reorder(s, 5, (TsAxis *[]){ i, jo, ko, ji, ki }, &err), &err);
    cgt_ok(ts_tensorize(s, ji, builtin(VNNI), &err), &err);
    expect_lower_error(sch, (const char *[]){ "tensorize C at j.inner", "stride: dimension 0 of b",
                                              "buffer W with stride 16", "the declaration fixes 4",
                                              NULL });
    ts_arena_destroy(A);
}

/* s8 x s8: the activations are signed where vpdpbusd's are unsigned. */
static void test_refuses_wrong_dtype(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    CgtDense d;
    cgt_packed_dense(A, &d, 2, 16, 8, TS_INT8, TS_INT8, TS_INT32, 16, 4);
    TsError err;
    cgt_ok(ts_tensorize(d.s, d.ji, builtin(VNNI), &err), &err);
    expect_lower_error(
        d.sch, (const char *[]){ "tensorize C at j.inner", "dtype:", "as int8", "as uint8", NULL });
    ts_arena_destroy(A);
}

/* An elementwise product: no reduction to match the declaration's. */
static void test_refuses_not_a_reduction(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    TsTensor *a = ts_placeholder(A, "A", 2, (int64_t[]){ 16, 4 }, TS_INT32);
    TsAxis *j = ts_axis(A, "j", 16), *k = ts_axis(A, "k", 4);
    TsTensor *c = ts_compute(A, "E", 2, (TsAxis *[]){ j, k },
                             ts_mul(A, ts_at(A, a, ts_var(j), ts_var(k)), ts_i32(A, 3)));
    TsSchedule *sch = ts_schedule_create(A, 1, &c);
    TsError err;
    cgt_ok(ts_tensorize(ts_stage(sch, c), j, builtin(VNNI), &err), &err);
    expect_lower_error(
        sch, (const char *[]){ "tensorize E at j with " VNNI, "stage E is not a reduction", NULL });
    ts_arena_destroy(A);
}

/* A max-reduction where the declaration sums. */
static void test_refuses_wrong_combiner(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    TsTensor *a = ts_placeholder(A, "A", 1, (int64_t[]){ 4 }, TS_UINT8);
    TsTensor *w = ts_placeholder(A, "W", 2, (int64_t[]){ 16, 4 }, TS_INT8);
    TsAxis *j = ts_axis(A, "j", 16), *r = ts_reduce_axis(A, "k", 4);
    TsExpr *prod = ts_mul(A, ts_cast(A, TS_INT32, ts_at(A, a, ts_var(r))),
                          ts_cast(A, TS_INT32, ts_at(A, w, ts_var(j), ts_var(r))));
    TsTensor *c = ts_compute(A, "M", 1, &j, ts_reduce_max(A, prod, 1, &r, NULL));
    TsSchedule *sch = ts_schedule_create(A, 1, &c);
    TsError err;
    cgt_ok(ts_tensorize(ts_stage(sch, c), j, builtin(VNNI), &err), &err);
    expect_lower_error(sch, (const char *[]){ "tensorize M at j", "the stage combines with max",
                                              "the declaration with sum", NULL });
    ts_arena_destroy(A);
}

/* n = 40 split by 16: the last j.outer has a tail the intrinsic cannot compute. */
static void test_refuses_tail(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    TsTensor *a = ts_placeholder(A, "A", 1, (int64_t[]){ 4 }, TS_UINT8);
    TsTensor *w = ts_placeholder(A, "W", 2, (int64_t[]){ 40, 4 }, TS_INT8);
    TsAxis *j = ts_axis(A, "j", 40), *r = ts_reduce_axis(A, "k", 4);
    TsExpr *prod = ts_mul(A, ts_cast(A, TS_INT32, ts_at(A, a, ts_var(r))),
                          ts_cast(A, TS_INT32, ts_at(A, w, ts_var(j), ts_var(r))));
    TsTensor *c = ts_compute(A, "C", 1, &j, ts_sum(A, prod, 1, &r, NULL));
    TsSchedule *sch = ts_schedule_create(A, 1, &c);
    TsStage *s = ts_stage(sch, c);
    TsAxis *jo, *ji;
    TsError err;
    cgt_ok(ts_split(s, j, 16, &jo, &ji, &err), &err);
    cgt_ok(ts_tensorize(s, ji, builtin(VNNI), &err), &err);
    expect_lower_error(sch, (const char *[]){ "tensorize C at j.inner", "has a tail",
                                              "depends on loop j.inner", NULL });
    ts_arena_destroy(A);
}

/* A loop of the region that is vectorized, and a stage computed inside the region. */
static void test_refuses_annotation_and_attached_stage(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    CgtDense d;
    cgt_packed_dense(A, &d, 2, 16, 8, TS_UINT8, TS_INT8, TS_INT32, 16, 4);
    TsError err;
    cgt_ok(ts_vectorize(d.s, d.ji, &err), &err);
    cgt_ok(ts_tensorize(d.s, d.ji, builtin(VNNI), &err), &err);
    expect_lower_error(
        d.sch, (const char *[]){ "tensorize C at j.inner", "loop j.inner is vectorized", NULL });
    ts_arena_destroy(A); /* it holds the first error */
    A = ts_arena_create();
    CgtDense e;
    cgt_packed_dense(A, &e, 2, 16, 8, TS_UINT8, TS_INT8, TS_INT32, 16, 4);
    cgt_ok(ts_compute_at(ts_stage(e.sch, e.packed), e.s, e.ki, &err), &err);
    cgt_ok(ts_tensorize(e.s, e.ji, builtin(VNNI), &err), &err);
    expect_lower_error(e.sch, (const char *[]){ "tensorize C at j.inner",
                                                "stage Wp is computed "
                                                "at loop k.inner, inside the region",
                                                NULL });
    ts_arena_destroy(A);
}

/* A copy of a schedule tensorized leaves the original as it was, and both lower. */
static void test_tensorize_on_a_copy(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    CgtDense d;
    cgt_packed_dense(A, &d, 2, 16, 8, TS_UINT8, TS_INT8, TS_INT32, 16, 4);
    TsSchedule *copy = ts_schedule_copy(A, d.sch);
    assert_non_null(copy);
    TsError err;
    cgt_ok(ts_tensorize(ts_stage(copy, d.c), d.ji, builtin(VNNI), &err), &err);
    TsLoweredFunc *plain, *tensorized;
    cgt_ok(ts_lower(d.sch, "plain", &plain, &err), &err);
    cgt_ok(ts_lower(copy, "tensorized", &tensorized, &err), &err);
    assert_null(strstr(ts_lowered_str(A, plain), "tensorize"));
    assert_non_null(strstr(ts_lowered_str(A, tensorized), "tensorize " VNNI ".update"));
    ts_arena_destroy(A);
}

/* The primitive's own checks leave the schedule as it was. */
static void test_primitive_refusals(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    CgtDense d;
    cgt_packed_dense(A, &d, 2, 16, 8, TS_UINT8, TS_INT8, TS_INT32, 16, 4);
    TsError err;
    const char *before = ts_schedule_str(A, d.sch);
    assert_int_equal(ts_tensorize(d.s, d.ji, NULL, &err), TS_EINVAL);
    assert_non_null(strstr(err.message, "the intrinsic is NULL"));
    assert_int_equal(ts_tensorize(d.s, ts_stage_root_axis(d.s, 1), builtin(VNNI), &err),
                     TS_ESCHEDULE);
    assert_string_equal(before, ts_schedule_str(A, d.sch));
    cgt_ok(ts_tensorize(d.s, d.ji, builtin(VNNI), &err), &err);
    assert_int_equal(ts_tensorize(d.s, d.ki, builtin(VNNI), &err), TS_ESCHEDULE);
    assert_non_null(strstr(err.message, "tensorized at j.inner"));
    assert_non_null(strstr(ts_schedule_str(A, d.sch), "tensorize C j.inner intrin=" VNNI));
    ts_arena_destroy(A);
}

/* Building for a target without avx512vnni: a codegen error naming the intrinsic and the
 * feature, and ts_target_supports_intrin says so first. */
static void test_missing_feature(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    CgtDense d;
    cgt_packed_dense(A, &d, 2, 16, 8, TS_UINT8, TS_INT8, TS_INT32, 16, 4);
    TsError err;
    cgt_ok(ts_tensorize(d.s, d.ji, builtin(VNNI), &err), &err);
    TsLoweredFunc *func;
    cgt_ok(ts_lower(d.sch, "dense_no_vnni", &func, &err), &err);
    TsTarget *target;
    cgt_ok(ts_target_parse("llvm -mcpu=skylake-avx512", &target, &err), &err);
    const char *missing = NULL;
    assert_false(ts_target_supports_intrin(target, builtin(VNNI), &missing));
    assert_string_equal(missing, "avx512vnni");
    TsJitModule *module = NULL;
    assert_int_equal(ts_build_jit(1, (const TsLoweredFunc *[]){ func }, target, &module, &err),
                     TS_ECODEGEN);
    assert_null(module);
    assert_non_null(strstr(err.message, "intrinsic " VNNI " needs the target feature avx512vnni"));
    ts_target_free(target);
    cgt_ok(ts_target_parse("llvm -mcpu=icelake-server", &target, &err), &err);
    assert_true(ts_target_supports_intrin(target, builtin(VNNI), NULL));
    ts_target_free(target);
    ts_arena_destroy(A);
}

/* The sdot kernel built for an AArch64 core without dotprod: refused the same way. */
static void test_missing_feature_aarch64(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    CgtDense d;
    cgt_packed_dense(A, &d, 2, 8, 8, TS_INT8, TS_INT8, TS_INT32, 4, 4);
    TsError err;
    cgt_ok(ts_tensorize(d.s, d.ji, builtin("aarch64.sdot.s8.4x4"), &err), &err);
    TsLoweredFunc *func;
    cgt_ok(ts_lower(d.sch, "dense_sdot", &func, &err), &err);
    TsTarget *target;
    cgt_ok(ts_target_parse("llvm -mtriple=aarch64-linux-gnu -mcpu=cortex-a53", &target, &err),
           &err);
    char path[256];
    snprintf(path, sizeof path, "/tmp/tessera-tensorize-%d.o", (int)getpid());
    assert_int_equal(ts_build_object(1, (const TsLoweredFunc *[]){ func }, target, path, &err),
                     TS_ECODEGEN);
    assert_non_null(strstr(err.message, "intrinsic aarch64.sdot.s8.4x4 needs the target "
                                        "feature dotprod"));
    assert_int_equal(access(path, F_OK), -1);
    ts_target_free(target);
    ts_arena_destroy(A);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builtins_registered),
        cmocka_unit_test(test_user_intrinsic_registry),
        cmocka_unit_test(test_vnni_dense),
        cmocka_unit_test(test_vnni_whole_reduction_parallel),
        cmocka_unit_test(test_vnni_unrolled_outer_reduce),
        cmocka_unit_test(test_vnni_cache_write),
        cmocka_unit_test(test_bf16_dense),
        cmocka_unit_test(test_refuses_wrong_extent),
        cmocka_unit_test(test_refuses_wrong_stride),
        cmocka_unit_test(test_refuses_wrong_dtype),
        cmocka_unit_test(test_refuses_not_a_reduction),
        cmocka_unit_test(test_refuses_wrong_combiner),
        cmocka_unit_test(test_refuses_tail),
        cmocka_unit_test(test_refuses_annotation_and_attached_stage),
        cmocka_unit_test(test_tensorize_on_a_copy),
        cmocka_unit_test(test_primitive_refusals),
        cmocka_unit_test(test_missing_feature),
        cmocka_unit_test(test_missing_feature_aarch64),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
