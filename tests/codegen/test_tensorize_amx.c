/* tensorize with the built-in AMX intrinsics (schedule/intrin_amx.c): an int8 dense
 * (u8 x s8 and s8 x s8 -> s32) and a bf16 dense (-> float32) with the weights packed for
 * the tiles, scheduled into 16 x 16 output tiles with ts_tensorize, JIT-compiled and
 * compared with the reference interpreter and the loop interpreter (which runs the
 * intrinsic's declaration): the integer ones bit for bit, the bf16 one within the float32
 * tolerance of cg_testing.h (see test_bf16_dense for why that bound holds); one tile step
 * per region and the deeper intrinsics (the accumulator kept in a tile over 4 or 16
 * steps), the region covering part of the reduction or all of it. Targets
 * without amx-int8 or amx-bf16 are not offered the intrinsics and refuse to build them,
 * with a message; a tile intrinsic statement that is not one of the memory forms is
 * refused by codegen. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cg_testing.h"
#include "te/te_internal.h"
#include "tessera/intrin.h"

#define AMX_U8S8 "x86.amx.u8s8.16x16x64"
#define AMX_S8S8 "x86.amx.s8s8.16x16x64"
#define AMX_BF16 "x86.amx.bf16.16x16x32"

enum { TILE = 16 };

/* dense: C[i, j] = sum_k A[i, k] * W[j, k], with W packed by a stage of its own as
 * Wp[j / 16, k / g, j % 16, k % g] (16 rows of the B tile are 16 consecutive k / g, each
 * of 16 j by g contiguous elements). The stage is split and reordered to
 * i.outer, j.outer, k.outer.outer, i.inner, j.inner, k.outer.inner, k.inner with extents
 * 16, 16, depth, g in the tile: the intrinsic's i, j, k, g. */
typedef struct Dense {
    TsTensor *a, *w, *packed, *c;
    TsSchedule *sch;
    TsStage *s;
    TsAxis *io, *ii;
} Dense;

static TsTensor *pack(TsArena *A, TsTensor *w, int64_t n, int64_t k, int group)
{
    TsAxis *ax[4] = { ts_axis(A, "jo", n / TILE), ts_axis(A, "ko", k / group),
                      ts_axis(A, "ji", TILE), ts_axis(A, "ki", group) };
    TsExpr *row = ts_add(A, ts_mul(A, ts_var(ax[0]), ts_i32(A, TILE)), ts_var(ax[2]));
    TsExpr *col = ts_add(A, ts_mul(A, ts_var(ax[1]), ts_i32(A, group)), ts_var(ax[3]));
    return ts_compute(A, "Wp", 4, ax, ts_at(A, w, row, col));
}

static void dense(TsArena *A, Dense *d, int64_t m, int64_t n, int64_t k, TsDType adt, TsDType wdt,
                  TsDType cdt, int group, int depth)
{
    d->a = ts_placeholder(A, "A", 2, (int64_t[]){ m, k }, adt);
    d->w = ts_placeholder(A, "W", 2, (int64_t[]){ n, k }, wdt);
    d->packed = pack(A, d->w, n, k, group);
    TsAxis *i = ts_axis(A, "i", m), *j = ts_axis(A, "j", n), *r = ts_reduce_axis(A, "k", k);
    TsExpr *l = ts_i32(A, TILE), *g = ts_i32(A, group);
    TsExpr *w = ts_at(A, d->packed, ts_floordiv(A, ts_var(j), l), ts_floordiv(A, ts_var(r), g),
                      ts_floormod(A, ts_var(j), l), ts_floormod(A, ts_var(r), g));
    TsExpr *prod =
        ts_mul(A, ts_cast(A, cdt, ts_at(A, d->a, ts_var(i), ts_var(r))), ts_cast(A, cdt, w));
    d->c = ts_compute(A, "C", 2, (TsAxis *[]){ i, j }, ts_sum(A, prod, 1, &r, NULL));
    assert_non_null(d->c);
    d->sch = ts_schedule_create(A, 1, &d->c);
    d->s = ts_stage(d->sch, d->c);
    TsError err;
    TsAxis *jo, *ji, *ko, *ki, *koo, *koi;
    cgt_ok(ts_split(d->s, ts_stage_root_axis(d->s, 0), TILE, &d->io, &d->ii, &err), &err);
    cgt_ok(ts_split(d->s, ts_stage_root_axis(d->s, 1), TILE, &jo, &ji, &err), &err);
    cgt_ok(ts_split(d->s, ts_stage_root_axis(d->s, 2), group, &ko, &ki, &err), &err);
    cgt_ok(ts_split(d->s, ko, depth, &koo, &koi, &err), &err);
    cgt_ok(ts_reorder(d->s, 7, (TsAxis *[]){ d->io, jo, koo, d->ii, ji, koi, ki }, &err), &err);
}

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

/* The loop interpreter and the JIT on the same inputs, each against the reference
 * interpreter (bit for bit for integers; cg_testing.h's tolerance for floats). */
static void check_dense(Dense *d, const char *name, uint64_t seed)
{
    TsLoweredFunc *func;
    TsError err;
    cgt_ok(ts_lower(d->sch, name, &func, &err), &err);
    TsArena *scratch = ts_arena_create();
    const char *text = ts_lowered_str(scratch, func);
    if (!strstr(text, "tensorize x86.amx."))
        fail_msg("no AMX region in\n%s", text);
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
    cgt_check_schedule(d->sch, name, 1, &d->c, seed, NULL);
    ts_arena_destroy(scratch);
}

static void test_builtins_registered(void **state)
{
    (void)state;
    static const struct {
        const char *name, *feature;
    } amx[] = { { AMX_U8S8, "amx-int8" }, { AMX_S8S8, "amx-int8" }, { AMX_BF16, "amx-bf16" } };
    for (size_t i = 0; i < sizeof amx / sizeof *amx; i++) {
        const TsIntrin *in = builtin(amx[i].name);
        assert_int_equal(ts_intrin_num_inputs(in), 2);
        assert_int_equal(ts_intrin_num_features(in), 2);
        assert_string_equal(ts_intrin_feature(in, 0), "amx-tile");
        assert_string_equal(ts_intrin_feature(in, 1), amx[i].feature);
        assert_int_equal(ts_tensor_dim(ts_intrin_output(in), 0), 16);
        assert_int_equal(ts_tensor_dim(ts_intrin_output(in), 1), 16);
    }
    /* every family in 1, 2, 4, 8 and 16 tile steps */
    static const char *const deep[] = { "x86.amx.u8s8.16x16x128", "x86.amx.u8s8.16x16x1024",
                                        "x86.amx.s8s8.16x16x512", "x86.amx.bf16.16x16x64",
                                        "x86.amx.bf16.16x16x512" };
    for (size_t i = 0; i < sizeof deep / sizeof *deep; i++)
        assert_string_equal(ts_intrin_name(builtin(deep[i])), deep[i]);
    assert_null(ts_intrin_lookup("x86.amx.u8s8.16x16x2048"));
}

/* Three row tiles, two column tiles, K = 128: two tile steps of the reduction outside
 * the region (reset on the first, update on both). */
static void test_u8s8_dense(void **state)
{
    (void)state;
    if (!host_has("amx-int8")) {
        skip();
        return;
    }
    TsArena *A = ts_arena_create();
    Dense d;
    dense(A, &d, 48, 32, 128, TS_UINT8, TS_INT8, TS_INT32, 4, 16);
    TsError err;
    cgt_ok(ts_tensorize(d.s, d.ii, builtin(AMX_U8S8), &err), &err);
    check_dense(&d, "amx_dense_u8s8", 21);
    ts_arena_destroy(A);
}

/* The row tiles in parallel: each pool thread configures its own tiles (the outlined
 * task has its own ldtilecfg); the permission is the process's. */
static void test_u8s8_dense_parallel(void **state)
{
    (void)state;
    if (!host_has("amx-int8")) {
        skip();
        return;
    }
    TsArena *A = ts_arena_create();
    Dense d;
    dense(A, &d, 64, 32, 128, TS_UINT8, TS_INT8, TS_INT32, 4, 16);
    TsError err;
    cgt_ok(ts_tensorize(d.s, d.ii, builtin(AMX_U8S8), &err), &err);
    cgt_ok(ts_parallel(d.s, d.io, &err), &err);
    check_dense(&d, "amx_dense_parallel", 24);
    ts_arena_destroy(A);
}

/* Deeper intrinsics: four tile steps per region (K = 256 in the region, 512 in all: body
 * on the first outer step, no C loaded, update on the second), and sixteen steps
 * covering the whole reduction of s8 x s8 (body alone). */
static void test_deep_dense(void **state)
{
    (void)state;
    if (!host_has("amx-int8")) {
        skip();
        return;
    }
    TsArena *A = ts_arena_create();
    Dense d;
    dense(A, &d, 32, 32, 512, TS_UINT8, TS_INT8, TS_INT32, 4, 64);
    TsError err;
    cgt_ok(ts_tensorize(d.s, d.ii, builtin("x86.amx.u8s8.16x16x256"), &err), &err);
    check_dense(&d, "amx_dense_u8s8_deep", 25);
    Dense e;
    dense(A, &e, 16, 32, 1024, TS_INT8, TS_INT8, TS_INT32, 4, 256);
    cgt_ok(ts_tensorize(e.s, e.ii, builtin("x86.amx.s8s8.16x16x1024"), &err), &err);
    check_dense(&e, "amx_dense_s8s8_whole", 26);
    ts_arena_destroy(A);
}

/* One step of the reduction (K = 64) and s8 x s8. */
static void test_s8s8_dense(void **state)
{
    (void)state;
    if (!host_has("amx-int8")) {
        skip();
        return;
    }
    TsArena *A = ts_arena_create();
    Dense d;
    dense(A, &d, 16, 48, 64, TS_INT8, TS_INT8, TS_INT32, 4, 16);
    TsError err;
    cgt_ok(ts_tensorize(d.s, d.ii, builtin(AMX_S8S8), &err), &err);
    check_dense(&d, "amx_dense_s8s8", 22);
    ts_arena_destroy(A);
}

/* bf16 against the reference interpreter, which accumulates the float32 products of
 * bf16 in float32, k in order. tdpbf16ps also forms every product exactly in float32 and
 * adds in float32, one rounding per addition, but in its own order (and flushes
 * denormals, which these inputs in [-4, 4) do not produce in the sums). Two orders of K
 * float32 additions differ by at most about 2 K 2^-24 sum|a b|: 1.5e-5 of the magnitude
 * for K = 128, inside cg_testing.h's float32 bound 1e-4 (1 + sum|a b|). */
static void test_bf16_dense(void **state)
{
    (void)state;
    if (!host_has("amx-bf16")) {
        skip();
        return;
    }
    TsArena *A = ts_arena_create();
    Dense d;
    dense(A, &d, 32, 32, 128, TS_BFLOAT16, TS_BFLOAT16, TS_FLOAT32, 2, 16);
    TsError err;
    cgt_ok(ts_tensorize(d.s, d.ii, builtin(AMX_BF16), &err), &err);
    check_dense(&d, "amx_dense_bf16", 23);
    Dense e; /* four steps, the whole reduction */
    dense(A, &e, 16, 16, 128, TS_BFLOAT16, TS_BFLOAT16, TS_FLOAT32, 2, 64);
    cgt_ok(ts_tensorize(e.s, e.ii, builtin("x86.amx.bf16.16x16x128"), &err), &err);
    check_dense(&e, "amx_dense_bf16_deep", 27);
    ts_arena_destroy(A);
}

/* A target without the feature is not offered the intrinsic, and cannot build it. */
static void expect_refused(const char *target_text, const char *intrin, TsDType adt, TsDType cdt,
                           int group, const char *missing_feature)
{
    TsTarget *target = NULL;
    TsError err;
    cgt_ok(ts_target_parse(target_text, &target, &err), &err);
    const char *missing = NULL;
    assert_false(ts_target_supports_intrin(target, builtin(intrin), &missing));
    assert_string_equal(missing, missing_feature);
    TsArena *A = ts_arena_create();
    Dense d;
    dense(A, &d, 16, 16, 64, adt, adt.code == TS_TYPE_UINT ? TS_INT8 : adt, cdt, group,
          64 / (int)ts_dtype_bytes(adt) / group);
    cgt_ok(ts_tensorize(d.s, d.ii, builtin(intrin), &err), &err);
    TsLoweredFunc *func;
    cgt_ok(ts_lower(d.sch, "amx_refused", &func, &err), &err);
    TsJitModule *module = NULL;
    TsStatus status =
        ts_build_jit(1, (const TsLoweredFunc *const[]){ func }, target, &module, &err);
    char want[200];
    snprintf(want, sizeof want, "amx_refused: intrinsic %s needs the target feature %s", intrin,
             missing_feature);
    if (status != TS_ECODEGEN || !strstr(err.message, want))
        fail_msg("%s: status %d, \"%s\"; want \"%s\"", target_text, status,
                 status ? err.message : "", want);
    assert_null(module);
    ts_arena_destroy(A);
    ts_target_free(target);
}

static void test_targets_without_amx(void **state)
{
    (void)state;
    expect_refused("llvm -mcpu=sapphirerapids -mattr=-amx-int8", AMX_U8S8, TS_UINT8, TS_INT32, 4,
                   "amx-int8");
    expect_refused("llvm -mcpu=sapphirerapids -mattr=-amx-bf16", AMX_BF16, TS_BFLOAT16, TS_FLOAT32,
                   2, "amx-bf16");
    /* VNNI without AMX: cascadelake has avx512vnni and no tiles */
    expect_refused("llvm -mcpu=cascadelake", AMX_S8S8, TS_INT8, TS_INT32, 4, "amx-tile");
    TsTarget *spr = NULL;
    TsError err;
    cgt_ok(ts_target_parse("llvm -mcpu=sapphirerapids", &spr, &err), &err);
    assert_true(ts_target_supports_intrin(spr, builtin(AMX_U8S8), NULL));
    assert_true(ts_target_supports_intrin(spr, builtin(AMX_BF16), NULL));
    ts_target_free(spr);
}

/* Tile intrinsics as statements: only the memory forms, with constant shapes. */
static void expect_call_refused(const char *name, int num_args, TsExpr *const *args,
                                const char *needle)
{
    TsArena *A = ts_arena_create();
    int64_t n = 256;
    TsTensor *t = ts_placeholder(A, "T", 1, &n, TS_INT32);
    TeBuffer *buf = te_buffer(A, "T", t, 1, NULL, TE_SCOPE_GLOBAL);
    TsExpr *all[TE_MAX_INTRINSIC_ARGS];
    for (int i = 0; i < num_args; i++)
        all[i] = args[i] ? args[i] : te_address(A, buf, 1, (TsExpr *[]){ ts_i32(A, 0) }, true);
    TeStmt *body = te_call_stmt(A, name, num_args, all);
    assert_non_null(body);
    TsLoweredFunc func = {
        .name = "tiles", .num_args = 1, .args = (const TeBuffer *[]){ buf }, .body = body
    };
    TsJitModule *module = NULL;
    TsError err;
    TsStatus status =
        ts_build_jit(1, (const TsLoweredFunc *const[]){ &func }, cgt_host(), &module, &err);
    if (status != TS_ECODEGEN || !strstr(err.message, needle))
        fail_msg("%s: status %d, \"%s\"; want \"%s\"", name, status, status ? err.message : "",
                 needle);
    ts_arena_destroy(A);
}

static void test_tile_statement_errors(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    TsExpr *stride = ts_int(A, TS_INT64, 64), *sixteen = ts_i32(A, 16);
    expect_call_refused("llvm.x86.tileloadd64.internal", 4,
                        (TsExpr *[]){ sixteen, sixteen, NULL, stride },
                        "tiles: intrinsic llvm.x86.tileloadd64.internal: AMX tiles are reached "
                        "only through the statements");
    expect_call_refused("llvm.x86.tilezero.internal", 3, (TsExpr *[]){ sixteen, sixteen, NULL },
                        "llvm.x86.tilezero.internal takes 4 arguments as a statement");
    expect_call_refused("llvm.x86.tilezero.internal", 4,
                        (TsExpr *[]){ sixteen, ts_i32(A, 65), NULL, stride },
                        "argument 1 (65) must be an integer constant in [1, 64]");
    expect_call_refused("llvm.x86.tdpbusd.internal", 9,
                        (TsExpr *[]){ sixteen, ts_i32(A, 64), ts_i32(A, 62), NULL, stride, NULL,
                                      stride, NULL, stride },
                        "rows of 64 and 62 bytes; C's and A's rows are whole 4-byte groups");
    expect_call_refused("llvm.x86.tdpbusd.internal", 9,
                        (TsExpr *[]){ sixteen, ts_i32(A, 64), ts_i32(A, 64), stride, stride, NULL,
                                      stride, NULL, stride },
                        "arguments 3 and 4 must be a tile's address and its row stride");
    TsExpr *deep[13] = { sixteen, ts_i32(A, 64), ts_i32(A, 64), NULL,   stride, NULL,        stride,
                         NULL,    stride,        ts_i32(A, 4),  stride, stride, ts_i32(A, 2) };
    expect_call_refused("llvm.x86.tdpbusd.internal", 13, deep,
                        "argument 12 (2), whether C accumulates, must be the constant 0 or 1");
    deep[9] = ts_variable(A, "n", TS_INT32);
    deep[12] = ts_i32(A, 0);
    expect_call_refused("llvm.x86.tdpbusd.internal", 13, deep,
                        "argument 9 (n), the steps, must be an integer constant");
    expect_call_refused("llvm.x86.tdpbusd.internal", 10, deep,
                        "llvm.x86.tdpbusd.internal takes 9, 13, 19 or 23 arguments as a statement");
    TsExpr *nested[19] = { sixteen, ts_i32(A, 64), ts_i32(A, 64), NULL,   stride,
                           NULL,    stride,        NULL,          stride, ts_i32(A, 3),
                           stride,  stride,        ts_i32(A, 0),  ts_i32(A, 3), stride,
                           stride,  ts_variable(A, "n", TS_INT32), stride, stride };
    expect_call_refused("llvm.x86.tdpbusd.internal", 19, nested,
                        "argument 16 (n), a level's steps, must be an integer constant");
    nested[16] = ts_i32(A, 1 << 19);
    expect_call_refused("llvm.x86.tdpbusd.internal", 19, nested,
                        "all levels' steps at most 2^20");
    /* the block form: 2 x 3 accumulators and their 5 A and B tiles exceed the 8 registers */
    nested[16] = ts_i32(A, 1);
    TsExpr *blocks[23];
    memcpy(blocks, nested, sizeof nested);
    blocks[19] = ts_i32(A, 2), blocks[20] = ts_i32(A, 3), blocks[21] = stride, blocks[22] = stride;
    expect_call_refused("llvm.x86.tdpbusd.internal", 23, blocks,
                        "over 2 x 3 accumulator tiles; at most 4");
    blocks[20] = ts_i32(A, 0);
    expect_call_refused("llvm.x86.tdpbusd.internal", 23, blocks,
                        "argument 20 (0), a count of blocks, must be an integer constant in [1, 4]");
    ts_arena_destroy(A);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builtins_registered), cmocka_unit_test(test_u8s8_dense),
        cmocka_unit_test(test_u8s8_dense_parallel), cmocka_unit_test(test_deep_dense),
        cmocka_unit_test(test_s8s8_dense),          cmocka_unit_test(test_bf16_dense),
        cmocka_unit_test(test_targets_without_amx), cmocka_unit_test(test_tile_statement_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
