/* Cross-compiled kernels that really run: kernels built for
 * "llvm -mtriple=aarch64-linux-gnu -mattr=+neon" into a shared object (linked with
 * aarch64-linux-gnu-gcc), loaded by cg_export_helper cross-built against an aarch64
 * libtessera_runtime, and run under qemu-aarch64 (run_aarch64_helper.sh). The outputs
 * must equal the reference interpreter's bit for bit, so the kernels are ones whose
 * results do not depend on rounding: an int8 matmul accumulating in int32 (blocked,
 * NEON vectors, parallel), integer division of every kind, max pooling with padding,
 * float16 conversions, bitserial conv2d and dense (packing, popcounts, padded taps);
 * and int8 dense kernels tensorized with the AArch64 dot-product
 * intrinsics (sdot and udot with +dotprod, smull/saddlp without it). Skipped when the cross compiler or qemu is missing
 * (scripts/install-deps.sh installs both). */
#include <setjmp.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_util.h"

#include "cg_testing.h"

extern char **environ;

enum { NUM_KERNELS = 6 };

static TsLoweredFunc *lower(TsSchedule *sch, const char *name)
{
    TsLoweredFunc *func;
    TsError err;
    cgt_ok(ts_lower(sch, name, &func, &err), &err);
    return func;
}

static TsLoweredFunc *int8_matmul(TsArena *A, TsTensor **out)
{
    return cgt_blocked_matmul(A, "matmul_int8", TS_INT8, TS_INT32, out);
}

/* An elementwise kernel over n, split by 4 and vectorized. */
static TsLoweredFunc *elementwise(TsArena *A, const char *name, TsTensor *out)
{
    TsSchedule *sch = ts_schedule_create(A, 1, &out);
    TsStage *s = ts_stage(sch, out);
    TsAxis *o, *i;
    TsError err;
    cgt_ok(ts_split(s, ts_stage_root_axis(s, 0), 4, &o, &i, &err), &err);
    cgt_ok(ts_vectorize(s, i, &err), &err);
    return lower(sch, name);
}

static TsLoweredFunc *division(TsArena *A, TsTensor **out)
{
    int64_t n = 99;
    TsTensor *a = ts_placeholder(A, "A", 1, &n, TS_INT32);
    TsTensor *b = ts_placeholder(A, "B", 1, &n, TS_INT32);
    TsAxis *i = ts_axis(A, "i", n);
    TsExpr *x = ts_at(A, a, ts_var(i)), *y = ts_at(A, b, ts_var(i));
    TsExpr *sum = ts_add(A, ts_add(A, ts_div(A, x, y), ts_mod(A, x, y)),
                         ts_add(A, ts_floordiv(A, x, y), ts_floormod(A, x, y)));
    sum = ts_bitxor(A, sum, ts_add(A, ts_floordiv(A, x, ts_i32(A, -7)), ts_shr(A, x, ts_i32(A, 3))));
    *out = ts_compute(A, "quotients", 1, &i, sum);
    assert_non_null(*out);
    return elementwise(A, "division", *out);
}

static TsLoweredFunc *half(TsArena *A, TsTensor **out)
{
    int64_t n = 70;
    TsTensor *a = ts_placeholder(A, "H", 1, &n, TS_FLOAT16);
    TsTensor *b = ts_placeholder(A, "I", 1, &n, TS_INT32);
    TsAxis *i = ts_axis(A, "i", n);
    TsExpr *x = ts_cast(A, TS_FLOAT32, ts_at(A, a, ts_var(i)));
    TsExpr *y = ts_add(A, ts_mul(A, x, ts_f32(A, 2.0)), ts_cast(A, TS_FLOAT32, ts_at(A, b, ts_var(i))));
    *out = ts_compute(A, "halves", 1, &i, ts_cast(A, TS_FLOAT16, y));
    assert_non_null(*out);
    return elementwise(A, "half", *out);
}

static TsLoweredFunc *max_pool(TsArena *A, TsTensor **out)
{
    TsTensor *data = ts_placeholder(A, "data", 4, (int64_t[]){ 1, 4, 9, 11 }, TS_FLOAT32);
    TsPool2dAttrs attrs = ts_pool2d_attrs_default(TS_POOL_MAX, 3, 3);
    attrs.stride[0] = attrs.stride[1] = 2;
    for (int k = 0; k < 4; k++)
        attrs.padding[k] = 1;
    *out = ts_op_pool2d(A, data, &attrs);
    assert_non_null(*out);
    TsSchedule *sch = ts_schedule_create(A, 1, out);
    TsError err;
    cgt_ok(ts_parallel(ts_stage(sch, *out), ts_stage_root_axis(ts_stage(sch, *out), 1), &err),
           &err);
    return lower(sch, "max_pool");
}

/* A +-1 x +-1 A2W2 bitserial conv2d, NHWC, padded, 19 channels in uint64 words (a tail),
 * two groups: popcounts of packed words, guarded padded taps and the tail count. */
static TsLoweredFunc *bitserial_conv(TsArena *A, TsTensor **out)
{
    TsTensor *data = ts_placeholder(A, "codes", 4, (int64_t[]){ 2, 6, 5, 38 }, TS_UINT8);
    TsTensor *weight = ts_placeholder(A, "wcodes", 4, (int64_t[]){ 3, 3, 19, 4 }, TS_UINT8);
    TsBitserialConv2dAttrs attrs = ts_bitserial_conv2d_attrs_default(38);
    attrs.layout = TS_LAYOUT_NHWC;
    attrs.encoding = TS_BITSERIAL_PM1_PM1;
    attrs.groups = 2;
    for (int k = 0; k < 4; k++)
        attrs.padding[k] = 1;
    *out = ts_op_bitserial_conv2d(A, ts_op_bitpack(A, data, 3, 2, 2, TS_UINT64),
                                  ts_op_bitpack(A, weight, 2, 2, 1, TS_UINT64), &attrs);
    assert_non_null(*out);
    return lower(ts_schedule_create(A, 1, out), "bitserial_conv");
}

/* A 0/1 x +-1 A3W1 bitserial dense of 900 units over 100 features in uint32 words. */
static TsLoweredFunc *bitserial_dense(TsArena *A, TsTensor **out)
{
    TsTensor *data = ts_placeholder(A, "x", 2, (int64_t[]){ 2, 100 }, TS_UINT8);
    TsTensor *weight = ts_placeholder(A, "wx", 2, (int64_t[]){ 900, 100 }, TS_UINT8);
    TsBitserialDenseAttrs attrs = ts_bitserial_dense_attrs_default(100);
    attrs.encoding = TS_BITSERIAL_01_PM1;
    *out = ts_op_bitserial_dense(A, ts_op_bitpack(A, data, 1, 3, 1, TS_UINT32),
                                 ts_op_bitpack(A, weight, 1, 1, 1, TS_UINT32), &attrs);
    assert_non_null(*out);
    return lower(ts_schedule_create(A, 1, out), "bitserial_dense");
}

/* Divisors (the int32 B) without zeros. */
static void fill(CgtRng *rng, const TsTensor *t, void *data)
{
    cgt_fill_default(rng, t, data);
    if (strcmp(ts_tensor_name(t), "B") == 0 && ts_dtype_eq(ts_tensor_dtype(t), TS_INT32))
        for (int64_t k = 0; k < ts_tensor_num_elements(t); k++)
            if (((int32_t *)data)[k] == 0)
                ((int32_t *)data)[k] = 3;
}

/* DIR/NAME.bin for cg_export_helper: random inputs, the oracle's output. */
static void write_case(const char *dir, const char *name, const TsLoweredFunc *func,
                       TsTensor *out, uint64_t seed)
{
    CgtArgs args;
    cgt_args_init(&args, func, seed, fill);
    TsBinding bindings[CGT_MAX_ARGS];
    for (int i = 0; i < args.num; i++)
        bindings[i] = (TsBinding){ args.tensors[i], args.data[i] };
    TsError err;
    cgt_ok(ts_evaluate(1, &out, args.num, bindings, &err), &err);
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.bin", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    int32_t outputs = 1;
    assert_int_equal(fwrite(&outputs, sizeof outputs, 1, f), 1);
    for (int i = 0; i < args.num; i++)
        assert_int_equal(fwrite(args.data[i], 1, args.bytes[i], f), args.bytes[i]);
    assert_int_equal(fclose(f), 0);
    cgt_args_free(&args);
}

static int run_script(const char *module, const char *dir, const char *out)
{
    char build[1024];
    snprintf(build, sizeof build, "%s/runtime", dir);
    char *argv[] = { "sh", TESSERA_SOURCE_DIR "/tests/codegen/run_aarch64_helper.sh", CG_CMAKE,
                     TESSERA_SOURCE_DIR, build, (char *)module, (char *)dir, NULL };
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out, O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    pid_t pid;
    int rc = posix_spawnp(&pid, "sh", &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    assert_int_equal(rc, 0);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_aarch64_round_trip(void **state)
{
    (void)state;
    if (!test_on_path("aarch64-linux-gnu-gcc") || !test_on_path("qemu-aarch64")) {
        fprintf(stderr, "note: aarch64-linux-gnu-gcc or qemu-aarch64 missing: skipped\n");
        skip();
    }
    const char *dir = CG_AARCH64_DIR;
    mkdir(dir, 0755);
    TsArena *A = ts_arena_create();
    TsTensor *outs[NUM_KERNELS];
    static const char *const names[NUM_KERNELS] = { "matmul_int8",    "division",
                                                    "half",           "max_pool",
                                                    "bitserial_conv", "bitserial_dense" };
    const TsLoweredFunc *funcs[NUM_KERNELS] = { int8_matmul(A, &outs[0]),
                                                division(A, &outs[1]),
                                                half(A, &outs[2]),
                                                max_pool(A, &outs[3]),
                                                bitserial_conv(A, &outs[4]),
                                                bitserial_dense(A, &outs[5]) };
    TsTarget *target;
    TsError err;
    cgt_ok(ts_target_parse("llvm -mtriple=aarch64-linux-gnu -mattr=+neon", &target, &err), &err);
    char module[1024], out[1024];
    snprintf(module, sizeof module, "%s/kernels.so", dir);
    snprintf(out, sizeof out, "%s/helper.out", dir);
    cgt_ok(ts_build_shared(NUM_KERNELS, funcs, target, module, &err), &err);
    for (int k = 0; k < NUM_KERNELS; k++)
        write_case(dir, names[k], funcs[k], outs[k], 200 + (uint64_t)k);
    int status = run_script(module, dir, out);
    FILE *f = fopen(out, "rb");
    assert_non_null(f);
    static char listing[1 << 14];
    listing[fread(listing, 1, sizeof listing - 1, f)] = '\0';
    fclose(f);
    if (status != 0)
        fprintf(stderr, "run_aarch64_helper.sh exited with %d after:\n%s", status, listing);
    assert_int_equal(status, 0);
    for (int k = 0; k < NUM_KERNELS; k++) {
        char ok[64];
        snprintf(ok, sizeof ok, "ok %s\n", names[k]);
        assert_non_null(strstr(listing, ok));
    }
    ts_target_free(target);
    ts_arena_destroy(A);
}

/* An int8 dense tensorized with intrin, built for target into DIR/NAME.so with its case,
 * and run under qemu: the outputs must equal the oracle's bit for bit. */
static void run_tensorized(const char *name, const char *intrin, const char *target_text,
                           TsDType dtype)
{
    const char *dir = CG_AARCH64_DIR;
    TsArena *A = ts_arena_create();
    CgtDense d;
    cgt_packed_dense(A, &d, 3, 16, 24, dtype, dtype, TS_INT32, 4, 4);
    TsError err;
    const TsIntrin *in = ts_intrin_lookup(intrin);
    assert_non_null(in);
    cgt_ok(ts_tensorize(d.s, d.ji, in, &err), &err);
    const TsLoweredFunc *func = lower(d.sch, name);
    TsTarget *target;
    cgt_ok(ts_target_parse(target_text, &target, &err), &err);
    char module[1024], out[1024];
    snprintf(module, sizeof module, "%s/%s.so", dir, name);
    snprintf(out, sizeof out, "%s/%s.out", dir, name);
    cgt_ok(ts_build_shared(1, &func, target, module, &err), &err);
    write_case(dir, name, func, d.c, 300);
    int status = run_script(module, dir, out);
    FILE *f = fopen(out, "rb");
    assert_non_null(f);
    static char listing[1 << 14];
    listing[fread(listing, 1, sizeof listing - 1, f)] = '\0';
    fclose(f);
    if (status != 0)
        fprintf(stderr, "run_aarch64_helper.sh exited with %d after:\n%s", status, listing);
    assert_int_equal(status, 0);
    char ok[128];
    snprintf(ok, sizeof ok, "ok %s\n", name);
    assert_non_null(strstr(listing, ok));
    ts_target_free(target);
    ts_arena_destroy(A);
}

/* sdot and udot with the dotprod feature; smull/sadalp and umull/uadalp without it. */
static void test_aarch64_tensorized(void **state)
{
    (void)state;
    if (!test_on_path("aarch64-linux-gnu-gcc") || !test_on_path("qemu-aarch64")) {
        fprintf(stderr, "note: aarch64-linux-gnu-gcc or qemu-aarch64 missing: skipped\n");
        skip();
    }
    mkdir(CG_AARCH64_DIR, 0755);
    const char *dotprod = "llvm -mtriple=aarch64-linux-gnu -mattr=+neon,+dotprod";
    const char *neon = "llvm -mtriple=aarch64-linux-gnu -mattr=+neon,-dotprod";
    run_tensorized("dense_sdot", "aarch64.sdot.s8.4x4", dotprod, TS_INT8);
    run_tensorized("dense_udot", "aarch64.udot.u8.4x4", dotprod, TS_UINT8);
    run_tensorized("dense_smull", "aarch64.smull.s8.4x4", neon, TS_INT8);
    run_tensorized("dense_umull", "aarch64.umull.u8.4x4", neon, TS_UINT8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_aarch64_round_trip),
        cmocka_unit_test(test_aarch64_tensorized),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
