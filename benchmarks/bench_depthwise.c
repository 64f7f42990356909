/* bench_depthwise: the depthwise conv2d template on every depthwise layer of MobileNetV2
 * (batch 1, fp32, 3x3, pad 1, stride 1 and 2, 224 x 224 input), with its default config
 * and, with BENCH_TUNE_TRIALS=T in the environment, its best of T tuned configs (log
 * bench_depthwise.log in the working folder, resumed).
 *
 * Method. Each layer's template instance is JIT-compiled for this machine ("llvm"),
 * checked once against naive C on the same blocked operands (a wrong kernel's speed
 * means nothing), and timed by the runtime's time evaluator on one thread, on uniform
 * random operands in the kernel's own layouts (NCHW[x]c data, pre-packed weight):
 * BENCH_ROUNDS rounds of 10 repeats, each the mean of back-to-back calls over at least
 * 2 ms. The table's figures come from the fastest repeat, the median's GFLOPS beside
 * them: on a machine shared with other work the median measures the sharing, and the
 * fastest of many short repeats is the closest to what the kernel does when it has the
 * core (the FMA peak and the copy are taken the same way).
 *
 * Depthwise convolution does 2 R S = 18 flops per output element and reads about one
 * input element per output element (stride 1), so it is bound by memory, not by the
 * multiply-adds. Each layer is therefore reported three ways:
 *   GFLOPS and the fraction of one core's fp32 FMA peak, measured here (a loop of
 *     independent 512-bit FMAs, or 256-bit without AVX-512, the best of many short runs);
 *   GB/s over the bytes the layer must move at least (input, weight and output once)
 *     and the fraction of the copy bandwidth of the same working set: a plain C loop
 *     that reads as many bytes and writes as many as the layer, timed the same way.
 *     That copy is what the layer could at best run at if it were free of arithmetic.
 * The last line: RESULT bench=depthwise layers=L geomean_gflops=G worst_gflops=W
 * geomean_bw_fraction=B ratio=B (the layers' geometric mean of the fraction of the copy
 * bandwidth), with worst_vs_tuned=R when tuned. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "benchmarks/bench_util.h"
#include "benchmarks/tuned_kernel.h"

enum { DEFAULT_ROUNDS = 3, REPEATS_PER_ROUND = 10 };
#define MIN_REPEAT_MS 2.0

typedef struct Layer {
    const char *name;
    int64_t c, h, stride;
} Layer;

static const Layer layers[] = {
    { "mbv2.dw32", 32, 112, 1 },    { "mbv2.dw96s2", 96, 112, 2 }, { "mbv2.dw144", 144, 56, 1 },
    { "mbv2.dw144s2", 144, 56, 2 }, { "mbv2.dw192", 192, 28, 1 },  { "mbv2.dw192s2", 192, 28, 2 },
    { "mbv2.dw384", 384, 14, 1 },   { "mbv2.dw576", 576, 14, 1 },  { "mbv2.dw576s2", 576, 14, 2 },
    { "mbv2.dw960", 960, 7, 1 },
};
enum { NUM_LAYERS = sizeof layers / sizeof layers[0], R = 3, PAD = 1 };

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- the machine's peaks ---- */

#if defined(__x86_64__) && defined(__GNUC__)
typedef float V16 __attribute__((vector_size(64)));
typedef float V8 __attribute__((vector_size(32)));

/* 12 independent chains of multiply-adds, in registers: the FMA units' throughput, not
 * their latency (-std=c11 turns contraction off; the optimize attribute turns it on). */
#define FMA_STEP(a) a = a * b + c
#define FMA_PEAK(NAME, V, ATTR)                                                                  \
    __attribute__((target(ATTR), optimize("fp-contract=fast"), noinline)) static double NAME(    \
        long iters)                                                                              \
    {                                                                                            \
        V b = (V){ 0 } + 0.999f, c = (V){ 0 } + 0.001f;                                          \
        V a0 = b, a1 = c, a2 = b + c, a3 = b - c, a4 = b * c, a5 = c * c;                        \
        V a6 = a0 + a1, a7 = a2 + a3, a8 = a4 + a5, a9 = a6 + a7, a10 = a8 + a9, a11 = a10 + a0; \
        __asm__ volatile(""                                                                      \
                         : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5), "+v"(a6), \
                           "+v"(a7), "+v"(a8), "+v"(a9), "+v"(a10),                              \
                           "+v"(a11)); /* 12 values the compiler cannot merge */                 \
        double t0 = now();                                                                       \
        for (long k = 0; k < iters; k++) {                                                       \
            FMA_STEP(a0);                                                                        \
            FMA_STEP(a1);                                                                        \
            FMA_STEP(a2);                                                                        \
            FMA_STEP(a3);                                                                        \
            FMA_STEP(a4);                                                                        \
            FMA_STEP(a5);                                                                        \
            FMA_STEP(a6);                                                                        \
            FMA_STEP(a7);                                                                        \
            FMA_STEP(a8);                                                                        \
            FMA_STEP(a9);                                                                        \
            FMA_STEP(a10);                                                                       \
            FMA_STEP(a11);                                                                       \
        }                                                                                        \
        double t = now() - t0;                                                                   \
        V sum = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11;                     \
        __asm__ volatile("" : : "g"(sum[0]));                                                    \
        return 2.0 * 12 * (double)(sizeof(V) / 4) * (double)iters / t / 1e9;                     \
    }
FMA_PEAK(fma_peak_512, V16, "avx512f,fma")
FMA_PEAK(fma_peak_256, V8, "avx2,fma")
#endif

/* One core's fp32 multiply-add peak in GFLOPS: the best of many short runs (each about
 * 1 ms), as the kernels are timed. */
static double fma_peak(void)
{
    double best = 0;
#if defined(__x86_64__) && defined(__GNUC__)
    bool avx512 = __builtin_cpu_supports("avx512f");
    for (int r = 0; r < 200; r++)
        best = fmax(best, avx512 ? fma_peak_512(100000) : fma_peak_256(100000));
#endif
    return best;
}

/* Reads in_count floats and writes out_count, each output vector the sum of the
 * ratio = in_count / out_count input vectors that map to it: the bytes of a layer in
 * vector loads and stores, and no other work. */
#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx512f")))
#endif
static void
copy_once_512(const float *in, size_t in_count, float *out, size_t out_count)
{
    size_t ratio = in_count / out_count ? in_count / out_count : 1, vectors = out_count / 16;
#if defined(__x86_64__) && defined(__GNUC__)
    typedef float U16 __attribute__((vector_size(64), aligned(4)));
    const U16 *vin = (const U16 *)(const void *)in;
    U16 *vout = (U16 *)(void *)out;
    for (size_t i = 0; i < vectors; i++) {
        U16 s = vin[i * ratio];
        for (size_t k = 1; k < ratio; k++)
            s += vin[i * ratio + k];
        vout[i] = s;
    }
#else
    vectors = 0;
#endif
    for (size_t i = vectors * 16; i < out_count; i++) {
        float s = 0;
        for (size_t k = 0; k < ratio && i * ratio + k < in_count; k++)
            s += in[i * ratio + k];
        out[i] = s;
    }
}

static void copy_once(const float *in, size_t in_count, float *out, size_t out_count)
{
#if defined(__x86_64__) && defined(__GNUC__)
    if (!__builtin_cpu_supports("avx512f")) {
        float *scalar_out = out; /* a plain loop: the copy without 512-bit vectors */
        size_t ratio = in_count / out_count ? in_count / out_count : 1;
        for (size_t i = 0; i < out_count; i++) {
            float s = 0;
            for (size_t k = 0; k < ratio; k++)
                s += in[i * ratio + k];
            scalar_out[i] = s;
        }
        return;
    }
#endif
    copy_once_512(in, in_count, out, out_count);
}

/* The copy's fastest time over a few timings (as the kernel's, see above). */
static double copy_seconds(const float *in, size_t in_count, float *out, size_t out_count)
{
    double best = INFINITY;
    for (int r = 0; r < 3 * REPEATS_PER_ROUND; r++) {
        double t0 = now();
        int reps = 0;
        do {
            copy_once(in, in_count, out, out_count);
            __asm__ volatile("" : : "r"(out) : "memory");
            reps++;
        } while (now() - t0 < MIN_REPEAT_MS / 1e3);
        best = fmin(best, (now() - t0) / reps);
    }
    return best;
}

/* ---- one layer ---- */

static TsStatus layer_args(const Layer *l, TsTemplateArgs *args, TsError *err)
{
    memset(args, 0, sizeof *args);
    const char *names[] = { "N", "C", "H", "W", "R", "S", "stride", "pad" };
    int64_t values[] = { 1, l->c, l->h, l->h, R, R, l->stride, PAD };
    TsStatus st = TS_OK;
    for (int i = 0; st == TS_OK && i < 8; i++)
        st = ts_template_args_set(args, names[i], values[i], err);
    return st;
}

/* The layer in naive C on the kernel's blocked operands: data [CC, H, W, cb], weight
 * [CC, R, R, cb], out [CC, OH, OW, cb]. */
static void naive(const Layer *l, int64_t cb, const float *data, const float *weight, float *out)
{
    int64_t h = l->h, oh = (h + 2 * PAD - R) / l->stride + 1;
    for (int64_t cc = 0; cc < l->c / cb; cc++)
        for (int64_t y = 0; y < oh; y++)
            for (int64_t x = 0; x < oh; x++)
                for (int64_t b = 0; b < cb; b++) {
                    float s = 0;
                    for (int kh = 0; kh < R; kh++)
                        for (int kw = 0; kw < R; kw++) {
                            int64_t iy = y * l->stride + kh - PAD, ix = x * l->stride + kw - PAD;
                            if (iy >= 0 && iy < h && ix >= 0 && ix < h)
                                s += data[((cc * h + iy) * h + ix) * cb + b] *
                                     weight[((cc * R + kh) * R + kw) * cb + b];
                        }
                    out[((cc * oh + y) * oh + x) * cb + b] = s;
                }
}

typedef struct Timing {
    double gflops, gbps, copy_gbps; /* from the fastest repeat */
    double median_gflops;
    double max_error;
} Timing;

/* Checks tk's kernel against naive C, then times it and the copy of its bytes. */
static TsStatus time_kernel(const Layer *l, TunedKernel *tk, int rounds, Timing *out, TsError *err)
{
    TsStatus st = TS_OK;
    float *buf[3] = { 0 };
    size_t count[3];
    BenchTensorArg tensors[3];
    TsValue values[3];
    int32_t codes[3];
    if (tk->num_args != 3)
        return ts_fail(err, TS_EINVAL, "%s: a kernel of %d arguments, not 3", l->name,
                       tk->num_args);
    for (int i = 0; i < 3; i++) {
        int ndim = ts_tensor_ndim(tk->args[i]);
        int64_t shape[TS_MAX_DIMS];
        for (int d = 0; d < ndim; d++)
            shape[d] = ts_tensor_dim(tk->args[i], d);
        count[i] = (size_t)ts_tensor_num_elements(tk->args[i]);
        buf[i] = bench_alloc_floats(count[i]);
        bench_fill_uniform(buf[i], count[i], 17 + (uint64_t)i);
        bench_tensor_arg(&tensors[i], buf[i], ndim, shape);
        values[i].v_handle = &tensors[i].dl;
        codes[i] = TS_ARG_TENSOR;
    }
    int64_t cb = ts_tensor_dim(tk->args[0], 4);
    float *want = bench_alloc_floats(count[2]);
    naive(l, cb, buf[0], buf[1], want);
    int rc = tk->kernel(values, codes, 3);
    out->max_error = 0;
    for (size_t i = 0; i < count[2]; i++)
        out->max_error = fmax(out->max_error, fabs(buf[2][i] - want[i]) / (1 + fabs(want[i])));
    if (rc != 0 || out->max_error > 1e-4)
        st = ts_fail(err, TS_EINVAL, "%s: the kernel disagrees with naive C (rc %d, error %g)",
                     l->name, rc, out->max_error);
    BenchCosts costs = { .count = 0 };
    TsTimeOptions opt = bench_time_options(REPEATS_PER_ROUND, MIN_REPEAT_MS);
    for (int r = 0; st == TS_OK && r < rounds; r++)
        st = bench_time(tk->kernel, values, codes, 3, &opt, &costs, err);
    double bytes = 4.0 * (double)(count[0] + count[1] + count[2]);
    if (st == TS_OK) {
        double seconds = INFINITY;
        for (int i = 0; i < costs.count; i++)
            seconds = fmin(seconds, costs.values[i]);
        out->gflops = ts_tune_task_flop(tk->task) / seconds / 1e9;
        out->median_gflops = ts_tune_task_flop(tk->task) / bench_median(&costs) / 1e9;
        out->gbps = bytes / seconds / 1e9;
        out->copy_gbps = bytes / copy_seconds(buf[0], count[0], want, count[2]) / 1e9;
    }
    free(want);
    for (int i = 0; i < 3; i++)
        free(buf[i]);
    return st;
}

static TsStatus measure(const Layer *l, const TsTarget *target, int rounds, int trials,
                        Timing *timing, char *config, size_t config_size, TsError *err)
{
    TsTemplateArgs args;
    TunedKernel tk;
    TsStatus st = layer_args(l, &args, err);
    if (st != TS_OK)
        return st;
    memset(&tk, 0, sizeof tk);
    if (trials > 0)
        st = tuned_kernel_build("depthwise_conv2d", &args, trials, "bench_depthwise.log", target,
                                &tk, err);
    else
        st = tuned_kernel_build_default("depthwise_conv2d", &args, 0, target, &tk, err);
    if (st == TS_OK)
        st = time_kernel(l, &tk, rounds, timing, err);
    if (st == TS_OK)
        st = ts_config_entity(&tk.config, config, config_size, err);
    tuned_kernel_free(&tk);
    return st;
}

int main(int argc, char **argv)
{
    setenv("TS_NUM_THREADS", "1", 1);
    TsError err = { 0 };
    TsTarget *target;
    if (ts_target_parse("llvm", &target, &err) != TS_OK)
        return bench_report_error("target", &err);
    bench_print_machine(target);
    double peak = fma_peak();
    printf("one core's fp32 FMA peak, measured: %.1f GFLOPS\n", peak);
    const char *tune = getenv("BENCH_TUNE_TRIALS");
    int rounds = bench_rounds(DEFAULT_ROUNDS), trials = tune ? atoi(tune) : 0, measured = 0;
    double log_gflops = 0, log_bw = 0, worst = INFINITY, worst_ratio = 0, total_ms = 0;
    printf("%-14s %8s %6s %8s %8s %6s %8s %8s %8s  %s\n", "layer", "GFLOPS", "%peak", "GB/s",
           "copyGB/s", "%copy", "us", "median", "tuned", "default config");
    for (int i = 0; i < NUM_LAYERS; i++) {
        const Layer *l = &layers[i];
        if (argc > 1 && strncmp(l->name, argv[1], strlen(argv[1])) != 0)
            continue;
        Timing t, tuned = { 0 };
        char config[512], tuned_config[512];
        TsStatus st = measure(l, target, rounds, 0, &t, config, sizeof config, &err);
        if (st == TS_OK && trials > 0)
            st =
                measure(l, target, rounds, trials, &tuned, tuned_config, sizeof tuned_config, &err);
        if (st != TS_OK) {
            ts_target_free(target);
            return bench_report_error(l->name, &err);
        }
        int64_t oh = (l->h + 2 * PAD - R) / l->stride + 1;
        double us = 2.0 * R * R * (double)(l->c * oh * oh) / t.gflops / 1e3;
        total_ms += us / 1e3;
        printf("%-14s %8.2f %5.1f%% %8.2f %8.2f %5.1f%% %8.1f %8.2f %8.2f  %s\n", l->name, t.gflops,
               100 * t.gflops / peak, t.gbps, t.copy_gbps, 100 * t.gbps / t.copy_gbps, us,
               t.median_gflops, tuned.gflops, config);
        if (trials > 0)
            printf("%-14s tuned: %s\n", "", tuned_config);
        fflush(stdout);
        log_gflops += log(t.gflops);
        log_bw += log(t.gbps / t.copy_gbps);
        worst = fmin(worst, t.gflops);
        worst_ratio = fmax(worst_ratio, tuned.gflops / t.gflops);
        measured++;
    }
    ts_target_free(target);
    if (measured == 0)
        return fprintf(stderr, "bench_depthwise: no layer named %s\n", argv[1]), 1;
    double geomean = exp(log_gflops / measured), bw = exp(log_bw / measured);
    printf("sum of the layers' default times: %.3f ms (one thread); geometric means: %.2f "
           "GFLOPS (%.1f%% of the FMA peak), %.1f%% of the copy bandwidth\n",
           total_ms, geomean, 100 * geomean / peak, 100 * bw);
    printf("RESULT bench=depthwise layers=%d geomean_gflops=%.3f worst_gflops=%.3f "
           "total_ms=%.3f geomean_bw_fraction=%.3f worst_vs_tuned=%.3f ratio=%.3f\n",
           measured, geomean, worst, total_ms, bw, worst_ratio, bw);
    return 0;
}
