/* bench_gemm: fp32 matrix products (1024^3 and 512^3) on one and on two threads, Tessera's
 * hand-written schedule (gemm_schedule.c) against OpenBLAS's cblas_sgemm at its best.
 *
 * Method. Both sides take A [M, K] and B [K, N] row-major and write C [M, N]; Tessera's
 * kernel packs B itself on every call, as sgemm does. Before any timing, each Tessera
 * kernel's C is checked against sgemm's: the largest |C - C_ref| relative to
 * (|A| |B|)[i, j] must stay below 1e-4. Then, round after round, every case is timed
 * once on each side, in turn: the Tessera kernel in this process, then sgemm in one
 * child process per OpenBLAS core type (COOPERLAKE, SKYLAKEX, HASWELL; OpenBLAS reads
 * OPENBLAS_CORETYPE only when it loads). Both sides are timed by the runtime's time
 * evaluator (a warm-up call, then repeats that each average enough calls to last
 * MIN_REPEAT_MS); a side's figure is the median of all its repeats over all rounds.
 * The OpenBLAS figure is its fastest core type, named in the table.
 *
 * Threads. One thread: Tessera's serial schedule (no parallel loop, so the pool never
 * starts) against OpenBLAS with OPENBLAS_NUM_THREADS=1. Two threads: the parallel
 * schedule on a pool of TS_NUM_THREADS=2 against OPENBLAS_NUM_THREADS=2.
 *
 * BENCH_GEMM_CONFIG="bn=32,mr=8,ku=4" in the environment overrides the schedule's knobs
 * (for trying others); BENCH_ROUNDS the number of rounds.
 *
 * The last line: RESULT bench=gemm ... ratio=R, R the worst case's Tessera GFLOPS over
 * OpenBLAS's best. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "benchmarks/bench_util.h"
#include "benchmarks/gemm_schedule.h"

enum { NUM_SIZES = 2, NUM_THREAD_COUNTS = 2, DEFAULT_ROUNDS = 5, REPEATS_PER_ROUND = 3 };
static const int64_t sizes[NUM_SIZES] = { 1024, 512 };
static const int thread_counts[NUM_THREAD_COUNTS] = { 1, 2 };
#define MIN_REPEAT_MS 40.0
#define MAX_RELATIVE_ERROR 1e-4
#define SEED_A 1
#define SEED_B 2

/* ---- the OpenBLAS side ---- */

/* One product's operands, as the packed wrapper of sgemm takes them. */
typedef struct Operands {
    int64_t m, n, k;
    float *a, *b, *c;
} Operands;

static void sgemm(const Operands *o)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)o->m, (int)o->n, (int)o->k, 1.0f,
                o->a, (int)o->k, o->b, (int)o->n, 0.0f, o->c, (int)o->n);
}

/* sgemm behind the packed ABI, so that the time evaluator can call it: args[0] is a
 * handle to the Operands. */
static int32_t sgemm_packed(const TsValue *args, const int32_t *type_codes, int32_t num_args)
{
    (void)type_codes;
    (void)num_args;
    sgemm(args[0].v_handle);
    return 0;
}

static void operands_init(Operands *o, int64_t m, int64_t n, int64_t k)
{
    *o = (Operands){ .m = m, .n = n, .k = k };
    o->a = bench_alloc_floats((size_t)(m * k));
    o->b = bench_alloc_floats((size_t)(k * n));
    o->c = bench_alloc_floats((size_t)(m * n));
    bench_fill_uniform(o->a, (size_t)(m * k), SEED_A);
    bench_fill_uniform(o->b, (size_t)(k * n), SEED_B);
}

static void operands_free(Operands *o)
{
    free(o->a);
    free(o->b);
    free(o->c);
}

/* The child: args are "M N K repeat"; OPENBLAS_NUM_THREADS sets the threads. */
static int child_main(int argc, char **argv)
{
    if (argc != 6)
        return 2;
    const char *corename = bench_child_setup();
    Operands o;
    operands_init(&o, atoll(argv[2]), atoll(argv[3]), atoll(argv[4]));
    TsTimeOptions options = bench_time_options(atoi(argv[5]), MIN_REPEAT_MS);
    TsValue arg = { .v_handle = &o };
    int32_t code = TS_ARG_HANDLE;
    BenchCosts costs = { .count = 0 };
    TsError err;
    if (bench_time(sgemm_packed, &arg, &code, 1, &options, &costs, &err) != TS_OK)
        return bench_report_error("OpenBLAS child", &err);
    bench_child_report(corename, &costs, NULL);
    operands_free(&o);
    return 0;
}

/* ---- the Tessera side ---- */

/* One size: the operands, sgemm's reference result, and the serial and parallel kernels. */
typedef struct SizeCase {
    int64_t size;
    Operands o;
    float *reference, *magnitude;
    TsArena *arena;
    TsJitModule *jit[NUM_THREAD_COUNTS];
    TsPackedFunc kernel[NUM_THREAD_COUNTS];
    double max_error[NUM_THREAD_COUNTS];
    BenchTensorArg tensors[3];
    TsValue values[3];
    int32_t codes[3];
} SizeCase;

/* One timed comparison: a size and a thread count. */
typedef struct Comparison {
    BenchCosts tessera;
    BenchCosts openblas[BENCH_NUM_CORETYPES];
    char corename[BENCH_NUM_CORETYPES][64];
} Comparison;

static GemmConfig config_for(bool parallel)
{
    GemmConfig config = gemm_config_default(parallel);
    const char *text = getenv("BENCH_GEMM_CONFIG");
    if (!text)
        return config;
    long long value;
    const char *p = text;
    while (*p) {
        if (sscanf(p, "bn=%lld", &value) == 1)
            config.bn = value;
        else if (sscanf(p, "mr=%lld", &value) == 1)
            config.mr = value;
        else if (sscanf(p, "ku=%lld", &value) == 1)
            config.ku = value;
        p += strcspn(p, ",");
        p += *p == ',';
    }
    return config;
}

/* |A| |B| with sgemm: the scale of each element's rounding error. */
static void magnitude_of(const Operands *o, float *magnitude)
{
    size_t na = (size_t)(o->m * o->k), nb = (size_t)(o->k * o->n);
    Operands abs_o = *o;
    abs_o.a = bench_alloc_floats(na);
    abs_o.b = bench_alloc_floats(nb);
    abs_o.c = magnitude;
    for (size_t i = 0; i < na; i++)
        abs_o.a[i] = fabsf(o->a[i]);
    for (size_t i = 0; i < nb; i++)
        abs_o.b[i] = fabsf(o->b[i]);
    sgemm(&abs_o);
    free(abs_o.a);
    free(abs_o.b);
}

/* The values and codes of a SizeCase pass A, B, C in this order. */
static bool arguments_are_a_b_c(const TsLoweredFunc *func)
{
    static const char *const names[3] = { "A", "B", "C" };
    if (ts_lowered_num_args(func) != 3)
        return false;
    for (int i = 0; i < 3; i++)
        if (strcmp(ts_tensor_name(ts_lowered_arg(func, i)), names[i]) != 0)
            return false;
    return true;
}

static TsStatus size_case_init(SizeCase *sc, int64_t size, const TsTarget *target, TsError *err)
{
    memset(sc, 0, sizeof *sc);
    sc->size = size;
    operands_init(&sc->o, size, size, size);
    size_t nc = (size_t)(size * size);
    sc->reference = bench_alloc_floats(nc);
    sc->magnitude = bench_alloc_floats(nc);
    Operands ref = sc->o;
    ref.c = sc->reference;
    sgemm(&ref);
    magnitude_of(&sc->o, sc->magnitude);

    bench_tensor_arg(&sc->tensors[0], sc->o.a, 2, (int64_t[]){ size, size });
    bench_tensor_arg(&sc->tensors[1], sc->o.b, 2, (int64_t[]){ size, size });
    bench_tensor_arg(&sc->tensors[2], sc->o.c, 2, (int64_t[]){ size, size });
    for (int i = 0; i < 3; i++) {
        sc->values[i].v_handle = &sc->tensors[i].dl;
        sc->codes[i] = TS_ARG_TENSOR;
    }
    sc->arena = ts_arena_create();
    if (!sc->arena)
        return ts_fail(err, TS_ENOMEM, "gemm %lld: no arena", (long long)size);
    for (int t = 0; t < NUM_THREAD_COUNTS; t++) {
        GemmConfig config = config_for(thread_counts[t] > 1);
        const char *name = thread_counts[t] > 1 ? "gemm_parallel" : "gemm_serial";
        TsLoweredFunc *func;
        TsStatus status = gemm_build(sc->arena, size, size, size, &config, name, NULL, &func, err);
        if (status == TS_OK && !arguments_are_a_b_c(func))
            status = ts_fail(err, TS_EINVAL, "%s: arguments are not (A, B, C)", name);
        if (status == TS_OK)
            status = ts_build_jit(1, (const TsLoweredFunc *const *)&func, target, &sc->jit[t], err);
        if (status == TS_OK)
            status = ts_jit_get_func(sc->jit[t], name, &sc->kernel[t], err);
        if (status != TS_OK)
            return status;
        memset(sc->o.c, 0xff, nc * sizeof(float)); /* NaNs: every element must be written */
        if (sc->kernel[t](sc->values, sc->codes, 3) != 0)
            return ts_fail(err, TS_EDEVICE, "%s: %s", name, ts_runtime_last_error());
        sc->max_error[t] = bench_max_relative_error(sc->o.c, sc->reference, sc->magnitude, nc);
        if (!(sc->max_error[t] <= MAX_RELATIVE_ERROR))
            return ts_fail(err, TS_EDEVICE, "%s %lld^3: max relative error %.3g > %g", name,
                           (long long)size, sc->max_error[t], MAX_RELATIVE_ERROR);
    }
    return TS_OK;
}

static void size_case_free(SizeCase *sc)
{
    for (int t = 0; t < NUM_THREAD_COUNTS; t++)
        if (sc->jit[t])
            ts_jit_release(sc->jit[t]);
    ts_arena_destroy(sc->arena);
    operands_free(&sc->o);
    free(sc->reference);
    free(sc->magnitude);
}

/* One round of one comparison: Tessera, then each OpenBLAS core type. */
static TsStatus time_round(SizeCase *sc, int t, Comparison *cmp, TsError *err)
{
    TsTimeOptions options = bench_time_options(REPEATS_PER_ROUND, MIN_REPEAT_MS);
    TsStatus status =
        bench_time(sc->kernel[t], sc->values, sc->codes, 3, &options, &cmp->tessera, err);
    char size[32], repeat[32];
    snprintf(size, sizeof size, "%lld", (long long)sc->size);
    snprintf(repeat, sizeof repeat, "%d", REPEATS_PER_ROUND);
    const char *args[] = { size, size, size, repeat };
    for (int c = 0; status == TS_OK && c < BENCH_NUM_CORETYPES; c++)
        status =
            bench_openblas_child(bench_coretypes[c], thread_counts[t], 4, args, &cmp->openblas[c],
                                 NULL, cmp->corename[c], sizeof cmp->corename[c], err);
    return status;
}

static double gflops(int64_t size, double seconds)
{
    return seconds > 0.0 ? 2.0 * (double)size * (double)size * (double)size / seconds * 1e-9 : 0.0;
}

/* The table and the RESULT line. */
static void report(SizeCase *cases, Comparison cmp[NUM_SIZES][NUM_THREAD_COUNTS], int rounds)
{
    printf("\n%-8s %-7s %11s %11s | %-40s | %-10s %11s | %6s\n", "size", "threads", "Tessera ms",
           "GFLOPS", "OpenBLAS GFLOPS: COOPERLAKE SKYLAKEX HASWELL", "best", "GFLOPS", "ratio");
    double worst = INFINITY;
    char keys[2048] = "";
    size_t used = 0;
    for (int s = 0; s < NUM_SIZES; s++)
        for (int t = 0; t < NUM_THREAD_COUNTS; t++) {
            Comparison *c = &cmp[s][t];
            int64_t n = cases[s].size;
            double ts = bench_median(&c->tessera);
            double blas[BENCH_NUM_CORETYPES];
            int best = 0;
            for (int k = 0; k < BENCH_NUM_CORETYPES; k++) {
                blas[k] = gflops(n, bench_median(&c->openblas[k]));
                if (blas[k] > blas[best])
                    best = k;
            }
            double ratio = gflops(n, ts) / blas[best];
            if (ratio < worst)
                worst = ratio;
            char ob[64];
            snprintf(ob, sizeof ob, "%.1f %.1f %.1f", blas[0], blas[1], blas[2]);
            printf("%-8s %-7d %11.3f %11.1f | %-40s | %-10s %11.1f | %6.3f\n",
                   n == 1024 ? "1024^3" : "512^3", thread_counts[t], ts * 1e3, gflops(n, ts), ob,
                   bench_coretypes[best], blas[best], ratio);
            used += (size_t)snprintf(keys + used, sizeof keys - used,
                                     " n%lld_t%d_tessera_gflops=%.1f n%lld_t%d_openblas_gflops=%.1f"
                                     " n%lld_t%d_openblas_core=%s n%lld_t%d_ratio=%.3f",
                                     (long long)n, thread_counts[t], gflops(n, ts), (long long)n,
                                     thread_counts[t], blas[best], (long long)n, thread_counts[t],
                                     bench_coretypes[best], (long long)n, thread_counts[t], ratio);
        }
    printf("\nmedians of %d repeats per side and case (%d rounds x %d, each the mean of >= %.0f "
           "ms of calls); OpenBLAS children reported core names:",
           cmp[0][0].tessera.count, rounds, REPEATS_PER_ROUND, MIN_REPEAT_MS);
    for (int k = 0; k < BENCH_NUM_CORETYPES; k++)
        printf(" %s=%s", bench_coretypes[k], cmp[0][0].corename[k]);
    printf("\nRESULT bench=gemm%s ratio=%.3f\n", keys, worst);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], BENCH_CHILD_FLAG) == 0)
        return child_main(argc, argv);
    setenv("TS_NUM_THREADS", "2", 1); /* read when the pool starts, on the first launch */
    openblas_set_num_threads(1);      /* the reference results only */
    int rounds = bench_rounds(DEFAULT_ROUNDS);

    TsError err;
    TsTarget *target;
    if (ts_target_parse("llvm", &target, &err) != TS_OK)
        return bench_report_error("bench_gemm: target", &err);
    printf("bench_gemm: fp32 C = A B, row-major, Tessera (JIT) vs OpenBLAS cblas_sgemm\n");
    bench_print_machine(target);
    GemmConfig serial = config_for(false);
    printf("schedule: B packed into [N/%lld, K, %lld] panels, %lld x %lld register tiles "
           "(cache_write accumulator at the row-block loop), k unrolled by %lld, panel loop "
           "outermost (parallel on 2 threads)\n",
           (long long)serial.bn, (long long)serial.bn, (long long)serial.mr, (long long)serial.bn,
           (long long)serial.ku);

    SizeCase cases[NUM_SIZES];
    static Comparison cmp[NUM_SIZES][NUM_THREAD_COUNTS];
    int status = 0;
    int ready = 0;
    for (; ready < NUM_SIZES; ready++) {
        if (size_case_init(&cases[ready], sizes[ready], target, &err) != TS_OK) {
            status = bench_report_error("bench_gemm: check", &err);
            ready++;
            goto out_free_cases;
        }
        for (int t = 0; t < NUM_THREAD_COUNTS; t++)
            printf("check %lld^3, %d thread(s): max relative error vs sgemm %.2e (limit %g)\n",
                   (long long)sizes[ready], thread_counts[t], cases[ready].max_error[t],
                   MAX_RELATIVE_ERROR);
    }
    fflush(stdout); /* the progress lines below go to stderr */
    for (int r = 0; r < rounds; r++) {
        for (int s = 0; s < NUM_SIZES; s++)
            for (int t = 0; t < NUM_THREAD_COUNTS; t++)
                if (time_round(&cases[s], t, &cmp[s][t], &err) != TS_OK) {
                    status = bench_report_error("bench_gemm: timing", &err);
                    goto out_free_cases;
                }
        fprintf(stderr, "bench_gemm: round %d of %d done\n", r + 1, rounds);
    }
    report(cases, cmp, rounds);
out_free_cases:
    for (int s = 0; s < ready; s++)
        size_case_free(&cases[s]);
    ts_target_free(target);
    return status;
}
