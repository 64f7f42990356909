/* Golden dumps of the lowered loop nest (after every pass of ts_lower) for canonical
 * schedules: the default schedule of a matmul, TVM's "How to optimize GEMM on CPU"
 * blocked and packed matmul (with and without cache_write), and a tiled conv2d whose
 * pad stage is computed inside the output row loop or inlined, and an int8 dense
 * tensorized with the VNNI dot product.
 *
 * Each golden file starts with the schedule's text as comments, then the IR. Every test
 * also runs the lowered nest with the loop-nest interpreter on random inputs and
 * compares it with the reference interpreter (sch_testing.h), so a golden file cannot
 * bless a wrong loop nest. Refresh the .expected files with scripts/update-golden.sh
 * after an intended change to lowering or a pass, and read the diff. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sch_testing.h"
#include "test_util.h"

#define GOLDEN(name) TESSERA_SOURCE_DIR "/tests/schedule/golden/" name ".expected"

static void ok(TsStatus status, const TsError *err)
{
    if (status != TS_OK)
        fprintf(stderr, "unexpected error: %s: %s\n", ts_status_name(status), err->message);
    assert_int_equal(status, TS_OK);
}

/* The schedule's lines as "// " comments, then the lowered IR. */
static const char *golden_text(TsArena *A, const TsSchedule *sch, const TsLoweredFunc *func)
{
    const char *schedule = ts_schedule_str(A, sch), *ir = ts_lowered_str(A, func);
    assert_non_null(schedule);
    assert_non_null(ir);
    size_t cap = 2 * strlen(schedule) + strlen(ir) + 64, n = 0;
    char *text = ts_arena_alloc(A, cap);
    assert_non_null(text);
    n += (size_t)snprintf(text + n, cap - n, "// schedule:%s\n", schedule[0] ? "" : " (default)");
    for (const char *line = schedule; *line;) {
        size_t len = strcspn(line, "\n");
        n += (size_t)snprintf(text + n, cap - n, "//   %.*s\n", (int)len, line);
        line += len + (line[len] == '\n');
    }
    snprintf(text + n, cap - n, "%s", ir);
    return text;
}

/* Lowers sch, checks its values against the oracle, then its text against the file. */
static void check_lowering(TsArena *A, TsSchedule *sch, int num_outputs, TsTensor *const *outputs,
                           const char *name, const char *golden)
{
    TsLoweredFunc *func = NULL;
    TsError err;
    ok(ts_lower(sch, name, &func, &err), &err);
    SchCheck check;
    if (sch_check_lowered(func, num_outputs, outputs, 42, &check) != TS_OK)
        fprintf(stderr, "%s: %s: %s\n%s", name, check.stage, check.message,
                ts_lowered_str(A, func));
    assert_int_equal(check.status, TS_OK);
    assert_true(check.elements > 0);
    assert_true(golden_matches(golden, golden_text(A, sch, func)));
}

/* ---- matmul ---- */

static void test_matmul_default(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    TsTensor *a = ts_placeholder(A, "A", 2, (int64_t[]){ 64, 64 }, TS_FLOAT32);
    TsTensor *b = ts_placeholder(A, "B", 2, (int64_t[]){ 64, 64 }, TS_FLOAT32);
    TsTensor *c = ts_op_matmul(A, a, b, false, false, ts_dtype(TS_TYPE_FLOAT, 0, 1));
    assert_non_null(c);
    TsSchedule *sch = ts_schedule_create(A, 1, &c);
    assert_non_null(sch);
    check_lowering(A, sch, 1, &c, "matmul", GOLDEN("matmul_default"));
    ts_arena_destroy(A);
}

/* TVM's tutorial: B repacked as packedB[N/bn, K, bn] so that the innermost loop of C
 * reads it contiguously. */
enum { GEMM_M = 64, GEMM_N = 64, GEMM_K = 64, GEMM_BN = 32 };

typedef struct Gemm {
    TsTensor *a, *b, *packed, *c;
    TsAxis *m, *n, *k;    /* C's axes */
    TsAxis *px, *py, *pz; /* packedB's axes */
} Gemm;

static Gemm packed_gemm(TsArena *A)
{
    Gemm g;
    g.a = ts_placeholder(A, "A", 2, (int64_t[]){ GEMM_M, GEMM_K }, TS_FLOAT32);
    g.b = ts_placeholder(A, "B", 2, (int64_t[]){ GEMM_K, GEMM_N }, TS_FLOAT32);
    g.px = ts_axis(A, "x", GEMM_N / GEMM_BN);
    g.py = ts_axis(A, "y", GEMM_K);
    g.pz = ts_axis(A, "z", GEMM_BN);
    TsExpr *col = ts_add(A, ts_mul(A, ts_var(g.px), ts_i32(A, GEMM_BN)), ts_var(g.pz));
    g.packed = ts_compute(A, "packedB", 3, (TsAxis *[]){ g.px, g.py, g.pz },
                          ts_at(A, g.b, ts_var(g.py), col));
    g.m = ts_axis(A, "m", GEMM_M);
    g.n = ts_axis(A, "n", GEMM_N);
    g.k = ts_reduce_axis(A, "k", GEMM_K);
    TsExpr *bn = ts_i32(A, GEMM_BN);
    TsExpr *prod = ts_mul(A, ts_at(A, g.a, ts_var(g.m), ts_var(g.k)),
                          ts_at(A, g.packed, ts_floordiv(A, ts_var(g.n), bn), ts_var(g.k),
                                ts_floormod(A, ts_var(g.n), bn)));
    g.c = ts_compute(A, "C", 2, (TsAxis *[]){ g.m, g.n }, ts_sum(A, prod, 1, &g.k, NULL));
    assert_non_null(g.c);
    return g;
}

/* packedB: vectorize the inner z, parallel over the outer x. */
static void schedule_packing(TsSchedule *sch, const Gemm *g)
{
    TsError err;
    TsStage *p = ts_stage(sch, g->packed);
    ok(ts_vectorize(p, g->pz, &err), &err);
    ok(ts_parallel(p, g->px, &err), &err);
}

static void test_gemm_blocked_packed(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    Gemm g = packed_gemm(A);
    TsSchedule *sch = ts_schedule_create(A, 1, &g.c);
    assert_non_null(sch);
    TsStage *s = ts_stage(sch, g.c);
    TsAxis *mo, *no, *mi, *ni, *ko, *ki;
    TsError err;
    ok(ts_tile(s, g.m, g.n, GEMM_BN, GEMM_BN, &mo, &no, &mi, &ni, &err), &err);
    ok(ts_split(s, g.k, 4, &ko, &ki, &err), &err);
    ok(ts_reorder(s, 6, (TsAxis *[]){ mo, no, ko, mi, ki, ni }, &err), &err);
    ok(ts_vectorize(s, ni, &err), &err);
    ok(ts_parallel(s, mo, &err), &err);
    schedule_packing(sch, &g);
    check_lowering(A, sch, 1, &g.c, "gemm_packed", GOLDEN("gemm_blocked_packed"));
    ts_arena_destroy(A);
}

static void test_gemm_blocked_packed_cache_write(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    Gemm g = packed_gemm(A);
    TsSchedule *sch = ts_schedule_create(A, 1, &g.c);
    assert_non_null(sch);
    TsError err;
    TsTensor *cc;
    ok(ts_cache_write(sch, g.c, &cc, &err), &err);
    TsStage *s = ts_stage(sch, g.c), *sc = ts_stage(sch, cc);
    assert_non_null(sc);
    assert_string_equal(ts_stage_name(sc), "C.local");
    TsAxis *mo, *no, *mi, *ni, *ko, *ki;
    ok(ts_tile(s, g.m, g.n, GEMM_BN, GEMM_BN, &mo, &no, &mi, &ni, &err), &err);
    ok(ts_compute_at(sc, s, no, &err), &err);
    assert_int_equal(ts_stage_num_root_axes(sc), 3);
    TsAxis *mc = ts_stage_root_axis(sc, 0), *nc = ts_stage_root_axis(sc, 1);
    TsAxis *kc = ts_stage_root_axis(sc, 2);
    ok(ts_split(sc, kc, 4, &ko, &ki, &err), &err);
    ok(ts_reorder(sc, 4, (TsAxis *[]){ ko, mc, ki, nc }, &err), &err);
    ok(ts_vectorize(sc, nc, &err), &err);
    ok(ts_unroll(sc, ki, &err), &err);
    ok(ts_vectorize(s, ni, &err), &err);
    ok(ts_parallel(s, mo, &err), &err);
    schedule_packing(sch, &g);
    check_lowering(A, sch, 1, &g.c, "gemm_cache_write", GOLDEN("gemm_blocked_packed_cache_write"));
    ts_arena_destroy(A);
}

/* ---- conv2d ---- */

typedef struct Conv {
    TsTensor *data, *weight, *pad, *conv;
} Conv;

/* data [1, 4, 10, 10] * weight [8, 4, 3, 3], padding 1 on every side: out [1, 8, 10, 10]. */
static Conv padded_conv(TsArena *A)
{
    Conv c;
    c.data = ts_placeholder(A, "data", 4, (int64_t[]){ 1, 4, 10, 10 }, TS_FLOAT32);
    c.weight = ts_placeholder(A, "weight", 4, (int64_t[]){ 8, 4, 3, 3 }, TS_FLOAT32);
    TsConv2dAttrs attrs = ts_conv2d_attrs_default();
    for (int i = 0; i < 4; i++)
        attrs.padding[i] = 1;
    c.conv = ts_op_conv2d(A, c.data, c.weight, &attrs);
    assert_non_null(c.conv);
    c.pad = ts_tensor_input(c.conv, 0);
    assert_string_equal(ts_tensor_name(c.pad), "pad");
    return c;
}

static void test_conv2d_tiled_pad_at_row(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    Conv c = padded_conv(A);
    TsSchedule *sch = ts_schedule_create(A, 1, &c.conv);
    assert_non_null(sch);
    TsStage *s = ts_stage(sch, c.conv), *sp = ts_stage(sch, c.pad);
    assert_int_equal(ts_stage_num_root_axes(s), 7);
    TsAxis *n = ts_stage_root_axis(s, 0), *f = ts_stage_root_axis(s, 1);
    TsAxis *y = ts_stage_root_axis(s, 2), *x = ts_stage_root_axis(s, 3);
    TsAxis *rc = ts_stage_root_axis(s, 4), *ry = ts_stage_root_axis(s, 5);
    TsAxis *rx = ts_stage_root_axis(s, 6);
    TsAxis *fo, *fi, *xo, *xi;
    TsError err;
    ok(ts_split(s, f, 4, &fo, &fi, &err), &err);
    ok(ts_split(s, x, 4, &xo, &xi, &err), &err); /* 10 = 2 * 4 + a tail of 2 */
    ok(ts_reorder(s, 9, (TsAxis *[]){ n, fo, y, xo, rc, ry, rx, fi, xi }, &err), &err);
    ok(ts_vectorize(s, xi, &err), &err);
    ok(ts_parallel(s, fo, &err), &err);
    /* The pad rows one output row needs: pad[0, 0:4, y:y+3, 0:12]. */
    ok(ts_compute_at(sp, s, y, &err), &err);
    check_lowering(A, sch, 1, &c.conv, "conv2d_pad_at_row", GOLDEN("conv2d_tiled_pad_at_row"));
    ts_arena_destroy(A);
}

static void test_conv2d_pad_inlined(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    Conv c = padded_conv(A);
    TsSchedule *sch = ts_schedule_create(A, 1, &c.conv);
    assert_non_null(sch);
    TsStage *s = ts_stage(sch, c.conv);
    TsAxis *f = ts_stage_root_axis(s, 1), *fo, *fi;
    TsError err;
    ok(ts_compute_inline(ts_stage(sch, c.pad), &err), &err);
    ok(ts_split(s, f, 4, &fo, &fi, &err), &err);
    check_lowering(A, sch, 1, &c.conv, "conv2d_pad_inlined", GOLDEN("conv2d_pad_inlined"));
    ts_arena_destroy(A);
}

/* ---- an int8 dense tensorized with the VNNI dot product ---- */

/* C[i, j] = sum_k A[i, k] * Wp[j / 16, k / 4, j % 16, k % 4] (weights packed for the
 * 4-byte dot products), j and k split by 16 and 4, the inner pair tensorized: the reset
 * on the first k.outer, the update after it, each beside its declaration. */
static void test_dense_vnni_tensorized(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    TsTensor *a = ts_placeholder(A, "A", 2, (int64_t[]){ 2, 8 }, TS_UINT8);
    TsTensor *w = ts_placeholder(A, "Wp", 4, (int64_t[]){ 2, 2, 16, 4 }, TS_INT8);
    TsAxis *i = ts_axis(A, "i", 2), *j = ts_axis(A, "j", 32), *k = ts_reduce_axis(A, "k", 8);
    TsExpr *l = ts_i32(A, 16), *g = ts_i32(A, 4);
    TsExpr *wv = ts_at(A, w, ts_floordiv(A, ts_var(j), l), ts_floordiv(A, ts_var(k), g),
                       ts_floormod(A, ts_var(j), l), ts_floormod(A, ts_var(k), g));
    TsExpr *prod = ts_mul(A, ts_cast(A, TS_INT32, ts_at(A, a, ts_var(i), ts_var(k))),
                          ts_cast(A, TS_INT32, wv));
    TsTensor *c = ts_compute(A, "C", 2, (TsAxis *[]){ i, j }, ts_sum(A, prod, 1, &k, NULL));
    TsSchedule *sch = ts_schedule_create(A, 1, &c);
    TsStage *s = ts_stage(sch, c);
    TsAxis *jo, *ji, *ko, *ki;
    TsError err;
    ok(ts_split(s, j, 16, &jo, &ji, &err), &err);
    ok(ts_split(s, k, 4, &ko, &ki, &err), &err);
    ok(ts_reorder(s, 5, (TsAxis *[]){ i, jo, ko, ji, ki }, &err), &err);
    ok(ts_tensorize(s, ji, ts_intrin_lookup("x86.vnni.u8s8.16x4"), &err), &err);
    check_lowering(A, sch, 1, &c, "dense_vnni", GOLDEN("dense_vnni_tensorized"));
    ts_arena_destroy(A);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matmul_default),
        cmocka_unit_test(test_gemm_blocked_packed),
        cmocka_unit_test(test_gemm_blocked_packed_cache_write),
        cmocka_unit_test(test_conv2d_tiled_pad_at_row),
        cmocka_unit_test(test_conv2d_pad_inlined),
        cmocka_unit_test(test_dense_vnni_tensorized),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
