/* AMX tiles end to end (codegen/amx.c, runtime/amx.c): a tile GEMM (tdpbusd u8.s8,
 * tdpbssd s8.s8, tdpbf16ps bf16) written with codegen's AMX builders behind a real
 * kernel's packed entry, JIT-compiled and compared bit for bit with naive C and with the
 * reference interpreter (the bf16 one with naive C in fp32, within a stated bound).
 * The kernel's entry asks the runtime for the tile state; in a child process whose
 * seccomp filter makes arch_prctl(ARCH_REQ_XCOMP_PERM) fail with EPERM, the JIT-compiled
 * kernel, the same kernel loaded from a shared object and linked from an object file (as
 * the local measurer runs candidates) return -1 with a message naming the kernel and the
 * feature, instead of dying of SIGILL. Targets without amx-int8 or
 * amx-bf16 are refused at build time, before LLVM sees a tile.
 *
 * The GEMM: C[M][N] = sum_k A[M][K] * B[K][N], with B in the VNNI layout Bv[K/g][N*g]
 * (g = 4 for int8, 2 for bf16), M = 32, N = 32, K = 128: 2 x 2 output tiles of 16 x 16,
 * each accumulated in a tile register over K / (64 / element bytes) steps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "cg_testing.h"
#include "codegen/cg_internal.h"
#include "te/te_internal.h"

enum { M = 32, N = 32, K = 128, TILE = 16 };

/* The product the hand-written compute function uses (read by build_gemm). */
static CgAmxProduct gemm_product;

static const TeBuffer *arg_named(const TsLoweredFunc *kernel, const char *name)
{
    for (int i = 0; i < kernel->num_args; i++)
        if (strcmp(kernel->args[i]->tensor->name, name) == 0)
            return kernel->args[i];
    return NULL;
}

/* The compute function of the kernel: 2 x 2 tiles of C, each a cg_amx_gemm over K. */
static bool fill_gemm(CgFunc *f, const TsLoweredFunc *kernel)
{
    CgModule *m = f->m;
    int element = gemm_product == CG_AMX_TDPBF16PS ? 2 : 1;
    int depth = 64 / element;
    LLVMValueRef a = cg_lookup_buf(f, arg_named(kernel, "A"), "A");
    LLVMValueRef b = cg_lookup_buf(f, arg_named(kernel, "B"), "B");
    LLVMValueRef c = cg_lookup_buf(f, arg_named(kernel, "C"), "C");
    for (int i0 = 0; i0 < M; i0 += TILE) {
        for (int j0 = 0; j0 < N; j0 += TILE) {
            LLVMValueRef c_off = cg_i64(m, ((int64_t)i0 * N + j0) * 4);
            LLVMValueRef a_off = cg_i64(m, (int64_t)i0 * K * element);
            LLVMValueRef b_off = cg_i64(m, (int64_t)j0 * 4);
            CgAmxGemm g = {
                .product = gemm_product,
                .rows = TILE,
                .cols = TILE,
                .depth = depth,
                .steps = K / depth,
                .accumulate = false,
                .c = LLVMBuildGEP2(f->b, m->t_i8, c, &c_off, 1, ""),
                .a = LLVMBuildGEP2(f->b, m->t_i8, a, &a_off, 1, ""),
                .b = LLVMBuildGEP2(f->b, m->t_i8, b, &b_off, 1, ""),
                .c_stride = cg_i64(m, N * 4),
                .a_stride = cg_i64(m, K * element),
                .b_stride = cg_i64(m, N * 4),
                .a_step = cg_i64(m, 64),
                .b_step = cg_i64(m, (int64_t)(depth * element / 4) * N * 4),
            };
            if (!cg_amx_gemm(f, &g))
                return false;
        }
    }
    return true;
}

static LLVMValueRef build_gemm(CgModule *m, const TsLoweredFunc *kernel)
{
    LLVMTypeRef params[CG_MAX_ARGS];
    for (int i = 0; i < kernel->num_args; i++)
        params[i] = m->t_ptr;
    LLVMValueRef fn =
        LLVMAddFunction(m->mod, "ts_compute.amx",
                        LLVMFunctionType(m->t_i32, params, (unsigned)kernel->num_args, false));
    LLVMSetLinkage(fn, LLVMInternalLinkage);
    CgFunc f;
    cg_func_begin(m, &f, fn, kernel->name);
    bool ok = true;
    for (int i = 0; ok && i < kernel->num_args; i++)
        ok = cg_push_buf(&f, kernel->args[i], LLVMGetParam(fn, (unsigned)i));
    ok = ok && fill_gemm(&f, kernel) && cg_func_end(&f);
    cg_func_dispose(&f);
    if (!ok)
        return NULL;
    cg_set_function_attributes(m, fn, 0);
    return fn;
}

/* The GEMM as a tensor expression (its lowered loop nest gives the kernel's arguments
 * and the oracle): C[i, j] = sum_k cast(A[i, k]) * cast(B[k / g, j * g + k % g]). For
 * bf16 the tensors are uint16 (the bits) and only naive C checks the values. */
static TsLoweredFunc *gemm_kernel(TsArena *A, const char *name, TsDType a_type, TsDType b_type,
                                  TsDType c_type, int group, TsTensor **out)
{
    int64_t a_shape[] = { M, K }, b_shape[] = { K / group, N * group };
    TsTensor *a = ts_placeholder(A, "A", 2, a_shape, a_type);
    TsTensor *b = ts_placeholder(A, "B", 2, b_shape, b_type);
    TsAxis *i = ts_axis(A, "i", M), *j = ts_axis(A, "j", N), *k = ts_reduce_axis(A, "k", K);
    TsExpr *g = ts_i32(A, group);
    TsExpr *ai[] = { ts_var(i), ts_var(k) };
    TsExpr *bi[] = { ts_floordiv(A, ts_var(k), g),
                     ts_add(A, ts_mul(A, ts_var(j), g), ts_floormod(A, ts_var(k), g)) };
    TsExpr *product = ts_mul(A, ts_cast(A, c_type, ts_access(A, a, 2, ai)),
                             ts_cast(A, c_type, ts_access(A, b, 2, bi)));
    TsAxis *axes[] = { i, j };
    TsTensor *c = ts_compute(A, "C", 2, axes, ts_sum(A, product, 1, &k, NULL));
    assert_non_null(c);
    TsSchedule *sch = ts_schedule_create(A, 1, &c);
    TsLoweredFunc *func = NULL;
    TsError err;
    cgt_ok(ts_lower(sch, name, &func, &err), &err);
    *out = c;
    return func;
}

static bool host_has(const char *feature)
{
    return ts_target_has_feature(cgt_host(), feature);
}

/* Builds kernel for target with the AMX compute function. */
static TsStatus build_amx_jit(const TsLoweredFunc *kernel, const TsTarget *target,
                              CgAmxProduct product, TsJitModule **module, TsError *err)
{
    gemm_product = product;
    cg_compute_builder = build_gemm;
    TsStatus status = ts_build_jit(1, &kernel, target, module, err);
    cg_compute_builder = NULL;
    return status;
}

static TsPackedFunc jit_gemm(const TsLoweredFunc *kernel, CgAmxProduct product,
                             TsJitModule **module)
{
    TsError err;
    cgt_ok(build_amx_jit(kernel, cgt_host(), product, module, &err), &err);
    TsPackedFunc fn = NULL;
    cgt_ok(ts_jit_get_func(*module, kernel->name, &fn, &err), &err);
    return fn;
}

/* ---- integer products ---- */

static void naive_int8(const CgtArgs *args, bool a_signed, int32_t *want)
{
    const uint8_t *a = args->data[0];
    const int8_t *b = args->data[1];
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            int32_t sum = 0;
            for (int k = 0; k < K; k++) {
                int32_t x = a_signed ? (int8_t)a[i * K + k] : a[i * K + k];
                sum += x * b[(k / 4) * N * 4 + j * 4 + k % 4];
            }
            want[i * N + j] = sum;
        }
}

static void check_int8(CgAmxProduct product, bool a_signed, const char *name)
{
    if (!host_has("amx-int8")) {
        skip();
        return;
    }
    TsArena *A = ts_arena_create();
    TsDType i32 = ts_dtype(TS_TYPE_INT, 32, 1);
    TsDType a_type = ts_dtype(a_signed ? TS_TYPE_INT : TS_TYPE_UINT, 8, 1);
    TsTensor *c = NULL;
    TsLoweredFunc *kernel = gemm_kernel(A, name, a_type, ts_dtype(TS_TYPE_INT, 8, 1), i32, 4, &c);
    /* both of codegen's pipelines: the kernel pipeline, and -opt-level=0 (LLVM's fast
     * tile configuration and register allocation) */
    const TsTarget *targets[2] = { cgt_host(), NULL };
    TsTarget *unoptimized = NULL;
    TsError err;
    cgt_ok(ts_target_parse("llvm -opt-level=0", &unoptimized, &err), &err);
    targets[1] = unoptimized;
    for (int t = 0; t < 2; t++) {
        TsJitModule *module = NULL;
        cgt_ok(build_amx_jit(kernel, targets[t], product, &module, &err), &err);
        TsPackedFunc fn = NULL;
        cgt_ok(ts_jit_get_func(module, kernel->name, &fn, &err), &err);
        CgtArgs args;
        cgt_args_init(&args, kernel, 11 + (uint64_t)t, NULL);
        assert_string_equal(args.tensors[2]->name, "C");
        int32_t rc = cgt_call(fn, &args);
        if (rc != 0)
            fprintf(stderr, "%s: %s\n", name, ts_runtime_last_error());
        assert_int_equal(rc, 0);
        static int32_t want[M * N];
        naive_int8(&args, a_signed, want);
        assert_memory_equal(args.data[2], want, sizeof want);
        char message[512];
        bool same = cgt_compare_with_oracle(&args, 1, &c, message, sizeof message);
        if (!same)
            fprintf(stderr, "%s (%s): %s\n", name, ts_target_str(targets[t]), message);
        assert_true(same);
        cgt_args_free(&args);
        ts_jit_release(module);
    }
    /* the entry asked for the tile state, and the runtime remembers the answer */
    assert_int_equal(ts_runtime_request_amx(&err), TS_OK);
    ts_target_free(unoptimized);
    ts_arena_destroy(A);
}

static void test_tdpbusd_gemm(void **state)
{
    (void)state;
    check_int8(CG_AMX_TDPBUSD, false, "amx_gemm_u8");
}

static void test_tdpbssd_gemm(void **state)
{
    (void)state;
    check_int8(CG_AMX_TDPBSSD, true, "amx_gemm_s8");
}

/* ---- bf16 ---- */

static float bf16_to_float(uint16_t bits)
{
    uint32_t word = (uint32_t)bits << 16;
    float value;
    memcpy(&value, &word, sizeof value);
    return value;
}

/* Random bf16 values n / 128, n in [-256, 255]: at most 8 significant bits, so exact in
 * bf16. */
static void fill_bf16(CgtRng *rng, const TsTensor *t, void *data)
{
    if (t->dtype.code == TS_TYPE_FLOAT) {
        cgt_fill_default(rng, t, data);
        return;
    }
    uint16_t *bits = data;
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++)
        n *= ts_tensor_dim(t, d);
    for (int64_t i = 0; i < n; i++) {
        float value = (float)cgt_rng_int(rng, -256, 255) / 128.0f;
        uint32_t word;
        memcpy(&word, &value, sizeof word);
        bits[i] = (uint16_t)(word >> 16);
    }
}

/* The bf16 GEMM against naive C. tdpbf16ps multiplies bf16 pairs exactly and adds in
 * fp32, in its own order, so in general it may differ from another order by the rounding
 * of the K additions. With these inputs it may not differ at all: every product is a
 * multiple of 2^-14 of magnitude at most 4, every partial sum a multiple of 2^-14 below
 * 2^10 in magnitude, which fp32's 24 bits hold exactly whatever the order. So the result
 * must equal the exact sum bit for bit. */
static void test_tdpbf16ps_gemm(void **state)
{
    (void)state;
    if (!host_has("amx-bf16")) {
        skip();
        return;
    }
    TsArena *A = ts_arena_create();
    TsDType u16 = ts_dtype(TS_TYPE_UINT, 16, 1), f32 = ts_dtype(TS_TYPE_FLOAT, 32, 1);
    TsTensor *c = NULL;
    TsLoweredFunc *kernel = gemm_kernel(A, "amx_gemm_bf16", u16, u16, f32, 2, &c);
    TsJitModule *module = NULL;
    TsPackedFunc fn = jit_gemm(kernel, CG_AMX_TDPBF16PS, &module);
    CgtArgs args;
    cgt_args_init(&args, kernel, 12, fill_bf16);
    assert_int_equal(cgt_call(fn, &args), 0);
    const uint16_t *a = args.data[0], *b = args.data[1];
    const float *got = args.data[2];
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double want = 0;
            for (int k = 0; k < K; k++)
                want += (double)bf16_to_float(a[i * K + k]) *
                        bf16_to_float(b[(k / 2) * N * 2 + j * 2 + k % 2]);
            if (got[i * N + j] != want)
                fail_msg("C[%d][%d] = %.9g, want %.9g", i, j, got[i * N + j], want);
        }
    cgt_args_free(&args);
    ts_jit_release(module);
    ts_arena_destroy(A);
}

/* ---- refusals at build time ---- */

static void expect_build_refused(const char *target_text, CgAmxProduct product, const char *needle)
{
    TsArena *A = ts_arena_create();
    TsTarget *target = NULL;
    TsError err;
    cgt_ok(ts_target_parse(target_text, &target, &err), &err);
    TsTensor *c = NULL;
    TsLoweredFunc *kernel =
        gemm_kernel(A, "amx_refused", ts_dtype(TS_TYPE_UINT, 8, 1), ts_dtype(TS_TYPE_INT, 8, 1),
                    ts_dtype(TS_TYPE_INT, 32, 1), 4, &c);
    TsJitModule *module = NULL;
    TsStatus status = build_amx_jit(kernel, target, product, &module, &err);
    if (status != TS_ECODEGEN || !strstr(err.message, needle))
        fail_msg("%s: status %d, message \"%s\"; want \"%s\"", target_text, status,
                 status ? err.message : "", needle);
    assert_null(module);
    ts_target_free(target);
    ts_arena_destroy(A);
}

static void test_targets_without_amx(void **state)
{
    (void)state;
    expect_build_refused("llvm -mcpu=sapphirerapids -mattr=-amx-int8", CG_AMX_TDPBUSD,
                         "amx_refused: the AMX tile product tdpbusd needs amx-int8, which "
                         "target llvm -mtriple=");
    expect_build_refused("llvm -mcpu=sapphirerapids -mattr=-amx-bf16", CG_AMX_TDPBF16PS,
                         "tdpbf16ps needs amx-bf16");
    expect_build_refused("llvm -mcpu=skylake-avx512", CG_AMX_TDPBSSD, "needs amx-tile");
    /* the same kernel without the removed feature's product builds */
    if (host_has("amx-int8")) {
        TsArena *A = ts_arena_create();
        TsTarget *target = NULL;
        TsError err;
        cgt_ok(ts_target_parse("llvm -mcpu=sapphirerapids -mattr=-amx-bf16", &target, &err), &err);
        TsTensor *c = NULL;
        TsLoweredFunc *kernel =
            gemm_kernel(A, "amx_int8_only", ts_dtype(TS_TYPE_UINT, 8, 1),
                        ts_dtype(TS_TYPE_INT, 8, 1), ts_dtype(TS_TYPE_INT, 32, 1), 4, &c);
        TsJitModule *module = NULL;
        cgt_ok(build_amx_jit(kernel, target, CG_AMX_TDPBUSD, &module, &err), &err);
        ts_jit_release(module);
        ts_target_free(target);
        ts_arena_destroy(A);
    }
}

/* ---- refusal by the operating system ---- */

static const char refused_message[] =
    "kernel \"amx_gemm_u8\": needs AMX tiles (amx-int8); the operating system refused the "
    "tile state: Operation not permitted";

/* Runs the kernel fn (from where) and checks that it refuses with refused_message. */
static int expect_refused(TsPackedFunc fn, const TsLoweredFunc *kernel, const char *where)
{
    CgtArgs args;
    cgt_args_init(&args, kernel, 13, NULL);
    int32_t rc = cgt_call(fn, &args);
    const char *got = ts_runtime_last_error();
    bool ok = rc == -1 && strcmp(got, refused_message) == 0;
    if (!ok)
        fprintf(stderr, "%s: returned %d, message \"%s\"\nwant \"%s\"\n", where, rc, got,
                refused_message);
    cgt_args_free(&args);
    return ok ? 0 : 1;
}

/* The child, exec'ed under the filter (a fresh process: nothing asked for tiles yet):
 * the kernel JIT-compiled here, loaded from the shared object and linked from the object
 * file (as the local measurer runs candidates) that the parent built in dir. */
static int refused_child(const char *dir)
{
    TsError err;
    TsStatus status = ts_runtime_request_amx(&err);
    if (status != TS_EDEVICE ||
        strcmp(err.message, "AMX: the operating system refused the tile state: "
                            "Operation not permitted") != 0) {
        fprintf(stderr, "request: status %d, \"%s\"\n", status, status ? err.message : "");
        return 1;
    }
    TsArena *A = ts_arena_create();
    TsTensor *c = NULL;
    TsLoweredFunc *kernel =
        gemm_kernel(A, "amx_gemm_u8", ts_dtype(TS_TYPE_UINT, 8, 1), ts_dtype(TS_TYPE_INT, 8, 1),
                    ts_dtype(TS_TYPE_INT, 32, 1), 4, &c);
    TsJitModule *jit = NULL;
    if (build_amx_jit(kernel, cgt_host(), CG_AMX_TDPBUSD, &jit, &err) != TS_OK) {
        fprintf(stderr, "jit: %s\n", err.message);
        return 1;
    }
    TsPackedFunc fn = NULL;
    int failures = ts_jit_get_func(jit, "amx_gemm_u8", &fn, &err) != TS_OK ||
                   expect_refused(fn, kernel, "JIT");
    char path[128];
    snprintf(path, sizeof path, "%s/amx_gemm_u8.so", dir);
    TsModule *module = NULL;
    if (ts_module_load(path, &module, &err) != TS_OK ||
        ts_module_get_func(module, "amx_gemm_u8", &fn, &err) != TS_OK) {
        fprintf(stderr, "module: %s\n", err.message);
        return 1;
    }
    failures += expect_refused(fn, kernel, "shared object");
    snprintf(path, sizeof path, "%s/amx_gemm_u8.o", dir);
    TsJitModule *object = NULL;
    if (ts_jit_load_object(path, &object, &err) != TS_OK ||
        ts_jit_get_func(object, "amx_gemm_u8", &fn, &err) != TS_OK) {
        fprintf(stderr, "object: %s\n", err.message);
        return 1;
    }
    failures += expect_refused(fn, kernel, "object file");
    ts_jit_release(object);
    ts_module_release(module);
    ts_jit_release(jit);
    ts_arena_destroy(A);
    return failures;
}

static void test_refused_by_the_kernel(void **state)
{
    (void)state;
    if (!host_has("amx-int8")) {
        skip();
        return;
    }
    /* the shared object and the object file, built here, are loaded by the child */
    TsArena *A = ts_arena_create();
    TsTensor *c = NULL;
    TsLoweredFunc *kernel =
        gemm_kernel(A, "amx_gemm_u8", ts_dtype(TS_TYPE_UINT, 8, 1), ts_dtype(TS_TYPE_INT, 8, 1),
                    ts_dtype(TS_TYPE_INT, 32, 1), 4, &c);
    char dir[] = "/tmp/tessera_amx_XXXXXX", path[64], object_path[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/amx_gemm_u8.so", dir);
    snprintf(object_path, sizeof object_path, "%s/amx_gemm_u8.o", dir);
    TsError err;
    gemm_product = CG_AMX_TDPBUSD;
    cg_compute_builder = build_gemm;
    const TsLoweredFunc *const funcs[] = { kernel };
    TsStatus status = ts_build_shared(1, funcs, cgt_host(), path, &err);
    if (status == TS_OK)
        status = ts_build_object(1, funcs, cgt_host(), object_path, &err);
    cg_compute_builder = NULL;
    cgt_ok(status, &err);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        if (cgt_refuse_amx_tile_state() != 0)
            _exit(3);
        execl("/proc/self/exe", "test_codegen_amx", "--refused-child", dir, (char *)NULL);
        _exit(4);
    }
    int wstatus = 0;
    assert_int_equal(waitpid(child, &wstatus, 0), child);
    unlink(path);
    unlink(object_path);
    rmdir(dir);
    if (WIFSIGNALED(wstatus))
        fail_msg("the child died of signal %d", WTERMSIG(wstatus));
    assert_true(WIFEXITED(wstatus));
    assert_int_equal(WEXITSTATUS(wstatus), 0);
    ts_arena_destroy(A);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--refused-child") == 0)
        return refused_child(argv[2]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tdpbusd_gemm),          cmocka_unit_test(test_tdpbssd_gemm),
        cmocka_unit_test(test_tdpbf16ps_gemm),        cmocka_unit_test(test_targets_without_amx),
        cmocka_unit_test(test_refused_by_the_kernel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
