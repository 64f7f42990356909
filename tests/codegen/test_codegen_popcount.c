/* Popcount over vectors of words, the inner step of bitserial (binary) convolution:
 * out[j] = sum over k of popcount(a[k] & w[k, j]), j vectorized. With avx512vpopcntdq
 * the vector popcount must be one vpopcntq (64-bit words) or vpopcntd (32-bit words)
 * on zmm registers; without it LLVM counts bytes (vpopcntb, with avx512bitalg) or
 * expands llvm.ctpop into nibble lookups (vpshufb), and no vpopcntd/vpopcntq may
 * appear, or the kernel would raise SIGILL on a machine without the feature. The
 * assembly is what TS_DUMP=asm prints while an object is built for each target; the
 * kernels that run here are checked bit for bit against the reference interpreter. */
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

#ifndef CG_OUTPUT_DIR
#define CG_OUTPUT_DIR "."
#endif

/* out[j] (int32) = sum over k of popcount(a[k] & w[k, j]) with words of word_dt, j split
 * by lanes and vectorized. */
static TsLoweredFunc *popcount_kernel(TsArena *A, const char *name, TsDType word_dt, int lanes,
                                      TsTensor **out)
{
    int64_t k = 7, n = 4 * lanes;
    TsTensor *a = ts_placeholder(A, "a", 1, &k, word_dt);
    TsTensor *w = ts_placeholder(A, "w", 2, (int64_t[]){ k, n }, word_dt);
    TsAxis *j = ts_axis(A, "j", n), *r = ts_reduce_axis(A, "k", k);
    TsExpr *bits = ts_bitand(A, ts_at(A, a, ts_var(r)), ts_at(A, w, ts_var(r), ts_var(j)));
    TsExpr *count = ts_cast(A, TS_INT32, ts_popcount(A, bits));
    *out = ts_compute(A, "out", 1, &j, ts_sum(A, count, 1, &r, NULL));
    assert_non_null(*out);
    TsSchedule *sch = ts_schedule_create(A, 1, out);
    TsStage *s = ts_stage(sch, *out);
    TsAxis *jo, *ji;
    TsError err;
    cgt_ok(ts_split(s, ts_stage_root_axis(s, 0), lanes, &jo, &ji, &err), &err);
    cgt_ok(ts_reorder(s, 3, (TsAxis *[]){ jo, r, ji }, &err), &err);
    cgt_ok(ts_vectorize(s, ji, &err), &err);
    TsLoweredFunc *func;
    cgt_ok(ts_lower(sch, name, &func, &err), &err);
    return func;
}

/* The assembly of func built for target_text, in a malloc'ed string. */
static char *assembly_for(const TsLoweredFunc *func, const char *target_text)
{
    TsTarget *target;
    TsError err;
    cgt_ok(ts_target_parse(target_text, &target, &err), &err);
    char path[] = "/tmp/tessera-popcount-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_true(dup2(fd, STDERR_FILENO) >= 0);
    setenv("TS_DUMP", "asm", 1);
    TsStatus status = ts_build_object(1, &func, target, CG_OUTPUT_DIR "/popcount.o", &err);
    unsetenv("TS_DUMP");
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    cgt_ok(status, &err);
    ts_target_free(target);
    off_t size = lseek(fd, 0, SEEK_END);
    char *text = malloc((size_t)size + 1);
    assert_non_null(text);
    assert_int_equal(pread(fd, text, (size_t)size, 0), size);
    text[size] = '\0';
    close(fd);
    unlink(path);
    return text;
}

/* Whether some line of the assembly holds both mnemonic and operand. */
static bool has_instruction(const char *assembly, const char *mnemonic, const char *operand)
{
    for (const char *p = assembly; (p = strstr(p, mnemonic)); p++) {
        const char *end = strchr(p, '\n');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *o = strstr(p, operand);
        if (o && (size_t)(o - p) < len)
            return true;
    }
    return false;
}

static const char *const with_vpopcnt = "llvm -mcpu=sapphirerapids";
/* avx512bitalg alone: byte counts (vpopcntb), summed; neither: nibble lookups. */
static const char *const bitalg_only = "llvm -mcpu=sapphirerapids -mattr=-avx512vpopcntdq";
static const char *const no_vpopcnt =
    "llvm -mcpu=sapphirerapids -mattr=-avx512vpopcntdq,-avx512bitalg";
static const char *const avx2 = "llvm -mcpu=haswell";

static void test_vpopcntq_on_zmm(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    TsTensor *out;
    const TsLoweredFunc *f64 = popcount_kernel(A, "pop64", TS_UINT64, 8, &out);
    char *assembly = assembly_for(f64, with_vpopcnt);
    assert_true(has_instruction(assembly, "vpopcntq\t", "%zmm"));
    free(assembly);
    const TsLoweredFunc *f32 = popcount_kernel(A, "pop32", TS_UINT32, 16, &out);
    assembly = assembly_for(f32, with_vpopcnt);
    assert_true(has_instruction(assembly, "vpopcntd\t", "%zmm"));
    free(assembly);
    ts_arena_destroy(A);
}

static void test_fallbacks_without_vpopcntdq(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    TsTensor *out;
    const TsLoweredFunc *f64 = popcount_kernel(A, "pop64", TS_UINT64, 8, &out);
    const TsLoweredFunc *f32 = popcount_kernel(A, "pop32", TS_UINT32, 16, &out);
    const char *targets[] = { bitalg_only, no_vpopcnt, avx2 };
    for (int t = 0; t < 3; t++) {
        for (int f = 0; f < 2; f++) {
            char *assembly = assembly_for(f ? f32 : f64, targets[t]);
            assert_null(strstr(assembly, "vpopcntq\t"));
            assert_null(strstr(assembly, "vpopcntd\t"));
            if (t == 0)
                assert_true(has_instruction(assembly, "vpopcntb\t", "%zmm"));
            else
                assert_non_null(strstr(assembly, "vpshufb\t"));
            if (t == 2)
                assert_null(strstr(assembly, "%zmm"));
            free(assembly);
        }
    }
    ts_arena_destroy(A);
}

/* Both forms compute the same counts as the oracle, where this machine runs them. */
static void check_on_host(const char *target_text, TsDType word_dt, int lanes)
{
    TsTarget *target;
    TsError err;
    cgt_ok(ts_target_parse(target_text, &target, &err), &err);
    if (!ts_target_is_host(target) || !ts_target_has_feature(cgt_host(), "avx2")) {
        ts_target_free(target);
        return;
    }
    TsArena *A = ts_arena_create();
    TsTensor *out;
    const TsLoweredFunc *func = popcount_kernel(A, "pop", word_dt, lanes, &out);
    TsJitModule *module;
    cgt_ok(ts_build_jit(1, &func, target, &module, &err), &err);
    TsPackedFunc fn;
    cgt_ok(ts_jit_get_func(module, "pop", &fn, &err), &err);
    CgtArgs args;
    cgt_args_init(&args, func, 7, NULL);
    assert_int_equal(cgt_call(fn, &args), 0);
    char message[512];
    if (!cgt_compare_with_oracle(&args, 1, &out, message, sizeof message))
        fail_msg("%s: %s", target_text, message);
    cgt_args_free(&args);
    ts_jit_release(module);
    ts_arena_destroy(A);
    ts_target_free(target);
}

static void test_values_on_host(void **state)
{
    (void)state;
    if (ts_target_has_feature(cgt_host(), "avx512vpopcntdq")) {
        check_on_host("llvm", TS_UINT64, 8);
        check_on_host("llvm", TS_UINT32, 16);
    }
    check_on_host("llvm -mattr=-avx512vpopcntdq", TS_UINT64, 8);
    check_on_host("llvm -mattr=-avx512vpopcntdq,-avx512bitalg", TS_UINT32, 16);
    check_on_host("llvm -mcpu=haswell", TS_UINT64, 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vpopcntq_on_zmm),
        cmocka_unit_test(test_fallbacks_without_vpopcntdq),
        cmocka_unit_test(test_values_on_host),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
