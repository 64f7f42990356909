/* bench_lowbit: Tessera's bitserial (extremely low-bit) conv2d against its own fp32 and
 * int8 conv2d, one thread.
 *
 * Cases: the four 3x3 convolutions of ResNet-18 (stride 1, pad 1, batch 1: 64 channels
 * 56x56, 128 28x28, 256 14x14, 512 7x7), each as bitserial_conv2d at A1W1, A2W1, A2W2,
 * A4W4 and A8W8 (activation bits x weight bits, encoding 0: 0/1 x 0/1 planes), beside
 * conv2d in fp32 and in int8 (uint8 x int8 -> int32), each kernel the template the
 * registry picks for it on this machine.
 *
 * Method (as bench_lowp's). Every kernel is tuned on this machine with the XGBoost tuner
 * for at most BENCH_TUNE_TRIALS candidates per task (default 32; the log bench_lowbit.log
 * in the build folder is reused by later runs). Operands stay in the kernels' packed
 * layouts, packed once before timing, as a model keeps them. Each bitserial kernel's
 * output is checked against a naive C convolution of the integer values before timing.
 * All kernels of a layer are timed in interleaved rounds by the runtime's time evaluator
 * in this process, one thread (TS_NUM_THREADS=1), and reported as medians.
 *
 * Sections, one function each: the measured x86 section (x86_section), then the AArch64
 * estimates (bench_lowbit_aarch64.c: llvm-mca-16, not timings), whose fields join the
 * RESULT line (aarch64_ratio: the worst AArch64 target's estimate ratio over it); ratio=
 * stays the x86 one.
 *
 * Targets (x86, over Tessera's own fp32 on the same layer): A1W1 >= 6x, A2W1 >= 3x,
 * A2W2 >= 1.8x. The last line: RESULT bench=lowbit ... ratio=R, R the worst over the
 * layers and the three targets of (speed-up / target): 1.0 means every target is met. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "benchmarks/bench_lowbit_aarch64.h"
#include "benchmarks/bench_util.h"
#include "benchmarks/tuned_kernel.h"

enum {
    NUM_LAYERS = 4,
    NUM_WIDTHS = 5,
    NUM_KERNELS = NUM_WIDTHS + 2, /* the widths, then fp32 and int8 */
    KERNEL_FP32 = NUM_WIDTHS,
    KERNEL_INT8 = NUM_WIDTHS + 1,
    DEFAULT_TRIALS = 32,
    DEFAULT_ROUNDS = 3,
    REPEATS_PER_ROUND = 3
};
#define MIN_REPEAT_MS 40.0
#define LOG_PATH "bench_lowbit.log"

static const int64_t layer_dims[NUM_LAYERS][2] = {
    { 64, 56 }, { 128, 28 }, { 256, 14 }, { 512, 7 }
};
static const int widths[NUM_WIDTHS][2] = { { 1, 1 }, { 2, 1 }, { 2, 2 }, { 4, 4 }, { 8, 8 } };
/* The targets of the first three widths over fp32. */
static const double targets[3] = { 6.0, 3.0, 1.8 };

typedef struct Kernel {
    char name[16];
    TunedKernel tk;
    void *buffers[3];
    BenchTensorArg tensors[3];
    TsValue values[3];
    int32_t codes[3];
    BenchCosts costs;
} Kernel;

typedef struct Layer {
    int64_t ch, hw;
    Kernel k[NUM_KERNELS];
} Layer;

static TsStatus layer_args(const Layer *l, int kernel, TsTemplateArgs *args, TsError *err)
{
    memset(args, 0, sizeof *args);
    const char *names[] = { "N", "C", "H", "W", "K", "R", "S", "stride", "pad" };
    const int64_t values[] = { 1, l->ch, l->hw, l->hw, l->ch, 3, 3, 1, 1 };
    TsStatus st = TS_OK;
    for (int i = 0; st == TS_OK && i < 9; i++)
        st = ts_template_args_set(args, names[i], values[i], err);
    if (st == TS_OK && kernel < NUM_WIDTHS)
        st = ts_template_args_set(args, "abits", widths[kernel][0], err);
    if (st == TS_OK && kernel < NUM_WIDTHS)
        st = ts_template_args_set(args, "wbits", widths[kernel][1], err);
    if (st == TS_OK && kernel == KERNEL_INT8)
        st = ts_template_args_set_dtype(args, "dtype", TS_INT8, err);
    return st;
}

/* Binds the kernel's arguments to fresh buffers of its shapes and dtypes, filled with
 * random bits (any bits are valid packed codes, fp32 values or int8 values). */
static void bind_kernel(Kernel *k, uint64_t seed)
{
    for (int i = 0; i < 3; i++) {
        const TsTensor *t = k->tk.args[i];
        int ndim = ts_tensor_ndim(t);
        int64_t shape[TS_MAX_DIMS];
        for (int d = 0; d < ndim; d++)
            shape[d] = ts_tensor_dim(t, d);
        size_t bytes = (size_t)ts_tensor_num_elements(t) * ts_tensor_dtype(t).bits / 8;
        k->buffers[i] = aligned_alloc(64, (bytes + 63) / 64 * 64);
        if (ts_dtype_is_float(ts_tensor_dtype(t)))
            bench_fill_uniform(k->buffers[i], bytes / 4, seed + (uint64_t)i);
        else
            for (size_t b = 0; b < bytes; b++) {
                seed = seed * 6364136223846793005ull + 1442695040888963407ull;
                ((uint8_t *)k->buffers[i])[b] = (uint8_t)(seed >> 56);
            }
        bench_tensor_arg(&k->tensors[i], k->buffers[i], ndim, shape);
        k->tensors[i].dl.dtype = ts_tensor_dtype(t);
        k->values[i].v_handle = &k->tensors[i].dl;
        k->codes[i] = TS_ARG_TENSOR;
    }
}

/* ---- the bitserial check ---- */

/* Bit p of the code of data channel c at (y, x), from the packed data
 * [1, H, W, abits, CW]; of weight (k, c, r, s) from [KB, CW, 3, 3, wbits, ob]. */
static uint32_t data_code(const Layer *l, const uint32_t *d, int abits, int64_t c, int64_t y,
                          int64_t x)
{
    int64_t cw = (l->ch + 31) / 32;
    uint32_t u = 0;
    for (int p = 0; p < abits; p++)
        u |= ((d[((y * l->hw + x) * abits + p) * cw + c / 32] >> (c % 32)) & 1u) << p;
    return u;
}

static uint32_t weight_code(const Layer *l, const uint32_t *w, int wbits, int64_t ob, int64_t k,
                            int64_t c, int64_t r, int64_t s)
{
    int64_t cw = (l->ch + 31) / 32;
    uint32_t u = 0;
    for (int p = 0; p < wbits; p++)
        u |= ((w[((((k / ob * cw + c / 32) * 3 + r) * 3 + s) * wbits + p) * ob + k % ob] >>
               (c % 32)) &
              1u)
             << p;
    return u;
}

/* The packed operands' integer codes through a naive convolution, against the output
 * [1, KB, OH, OW, ob] (the operator's type, int16 or int32 here). */
static TsStatus check_bitserial(const Layer *l, const Kernel *k, int width, TsError *err)
{
    int abits = widths[width][0], wbits = widths[width][1];
    const uint32_t *d = k->buffers[0], *w = k->buffers[1];
    int64_t ob = ts_tensor_dim(k->tk.args[2], 4), hw = l->hw;
    int out_bits = ts_tensor_dtype(k->tk.args[2]).bits;
    if (out_bits != 16 && out_bits != 32)
        return ts_fail(err, TS_EINVAL, "%s: output is int%d, not int16 or int32", k->name,
                       out_bits);
    uint32_t *codes = malloc((size_t)(l->ch * hw * hw) * 4);
    for (int64_t c = 0; c < l->ch; c++)
        for (int64_t y = 0; y < hw; y++)
            for (int64_t x = 0; x < hw; x++)
                codes[(c * hw + y) * hw + x] = data_code(l, d, abits, c, y, x);
    TsStatus st = TS_OK;
    for (int64_t kk = 0; st == TS_OK && kk < l->ch; kk++) {
        uint32_t wc[512 * 9];
        for (int64_t c = 0; c < l->ch; c++)
            for (int r = 0; r < 9; r++)
                wc[c * 9 + r] = weight_code(l, w, wbits, ob, kk, c, r / 3, r % 3);
        for (int64_t y = 0; st == TS_OK && y < hw; y++)
            for (int64_t x = 0; x < hw; x++) {
                int64_t want = 0;
                for (int64_t c = 0; c < l->ch; c++)
                    for (int r = 0; r < 9; r++) {
                        int64_t iy = y - 1 + r / 3, ix = x - 1 + r % 3;
                        if (iy >= 0 && iy < hw && ix >= 0 && ix < hw)
                            want += (int64_t)codes[(c * hw + iy) * hw + ix] * wc[c * 9 + r];
                    }
                size_t at = (size_t)(((kk / ob * hw + y) * hw + x) * ob + kk % ob);
                int32_t got = out_bits == 16 ? ((const int16_t *)k->buffers[2])[at]
                                             : ((const int32_t *)k->buffers[2])[at];
                if (got != want) {
                    st = ts_fail(err, TS_EDEVICE,
                                 "%s: output k=%lld y=%lld x=%lld is %d, "
                                 "naive C says %lld",
                                 k->name, (long long)kk, (long long)y, (long long)x, got,
                                 (long long)want);
                    break;
                }
            }
    }
    free(codes);
    return st;
}

/* ---- the x86 section ---- */

static TsStatus make_kernel(Layer *l, int kernel, int trials, const TsTarget *target, TsError *err)
{
    Kernel *k = &l->k[kernel];
    if (kernel < NUM_WIDTHS)
        snprintf(k->name, sizeof k->name, "A%dW%d", widths[kernel][0], widths[kernel][1]);
    else
        snprintf(k->name, sizeof k->name, "%s", kernel == KERNEL_FP32 ? "fp32" : "int8");
    TsTemplateArgs args;
    TsStatus st = layer_args(l, kernel, &args, err);
    if (st == TS_OK)
        st = tuned_kernel_build(kernel < NUM_WIDTHS ? "bitserial_conv2d" : "conv2d", &args, trials,
                                LOG_PATH, target, &k->tk, err);
    if (st == TS_OK && k->tk.num_args != 3)
        st = ts_fail(err, TS_EINVAL, "%s: %d arguments, expected 3", ts_tune_task_name(k->tk.task),
                     k->tk.num_args);
    if (st != TS_OK)
        return st;
    bind_kernel(k, 1000 + (uint64_t)kernel);
    if (k->tk.kernel(k->values, k->codes, 3) != 0)
        return ts_fail(err, TS_EDEVICE, "%s failed: %s", ts_tune_task_name(k->tk.task),
                       ts_runtime_last_error());
    return kernel < NUM_WIDTHS ? check_bitserial(l, k, kernel, err) : TS_OK;
}

static void layer_free(Layer *l)
{
    for (int i = 0; i < NUM_KERNELS; i++) {
        for (int b = 0; b < 3; b++)
            free(l->k[i].buffers[b]);
        tuned_kernel_free(&l->k[i].tk);
    }
}

static TsStatus time_round(Layer *l, TsError *err)
{
    TsTimeOptions options = bench_time_options(REPEATS_PER_ROUND, MIN_REPEAT_MS);
    TsStatus st = TS_OK;
    for (int i = 0; st == TS_OK && i < NUM_KERNELS; i++)
        st = bench_time(l->k[i].tk.kernel, l->k[i].values, l->k[i].codes, 3, &options,
                        &l->k[i].costs, err);
    return st;
}

/* Prints the table and appends key=value pairs to result; returns the worst of
 * (speed-up over fp32) / target. */
static double x86_report(Layer *layers, int rounds, int trials, char *result, size_t size)
{
    size_t used = strlen(result);
    double worst = INFINITY;
    printf("\nlayer          kernel  template                 ms      GOPS   over fp32  over int8"
           "  target\n");
    for (int li = 0; li < NUM_LAYERS; li++) {
        Layer *l = &layers[li];
        double flop = 2.0 * (double)(l->ch * l->ch * 9 * l->hw * l->hw);
        double fp32 = bench_median(&l->k[KERNEL_FP32].costs);
        double int8 = bench_median(&l->k[KERNEL_INT8].costs);
        for (int i = 0; i < NUM_KERNELS; i++) {
            double t = bench_median(&l->k[i].costs);
            double over_fp32 = fp32 / t, over_int8 = int8 / t;
            char target_text[32] = "";
            if (i < 3) {
                snprintf(target_text, sizeof target_text, ">= %.1fx%s", targets[i],
                         over_fp32 >= targets[i] ? "" : " (missed)");
                worst = fmin(worst, over_fp32 / targets[i]);
            }
            printf("%3lldch %2lldx%-2lld   %-6s  %-22s %8.4f %8.1f %9.2fx %9.2fx  %s\n",
                   (long long)l->ch, (long long)l->hw, (long long)l->hw, l->k[i].name,
                   ts_tune_task_template(l->k[i].tk.task)->name, t * 1e3, flop / t * 1e-9,
                   over_fp32, over_int8, target_text);
            if (used < size)
                used +=
                    (size_t)snprintf(result + used, size - used, " c%lld_%s=%.2f", (long long)l->ch,
                                     l->k[i].name, i < NUM_WIDTHS ? over_fp32 : t * 1e3);
        }
    }
    printf("\n(ms: median time of one call; GOPS: 2 x multiply-adds of the unpacked "
           "convolution per second; over fp32 / int8: that kernel's time over this one's)\n"
           "medians of %d rounds x %d repeats per kernel, each the mean of >= %.0f ms of "
           "calls; one thread; tuning budget %d trials per task; a shared, loaded machine\n",
           rounds, REPEATS_PER_ROUND, MIN_REPEAT_MS, trials);
    return worst;
}

/* The measured x86 section: builds, checks and times every kernel of every layer. */
static TsStatus x86_section(const TsTarget *target, int trials, int rounds, char *result,
                            size_t size, double *worst, TsError *err)
{
    static Layer layers[NUM_LAYERS];
    int ready = 0;
    TsStatus st = TS_OK;
    for (; st == TS_OK && ready < NUM_LAYERS; ready++) {
        Layer *l = &layers[ready];
        memset(l, 0, sizeof *l);
        l->ch = layer_dims[ready][0];
        l->hw = layer_dims[ready][1];
        for (int i = 0; st == TS_OK && i < NUM_KERNELS; i++)
            st = make_kernel(l, i, trials, target, err);
        if (st == TS_OK)
            printf("%lldch %lldx%lld: kernels built, bitserial outputs checked against naive C\n",
                   (long long)l->ch, (long long)l->hw, (long long)l->hw);
        fflush(stdout);
    }
    for (int r = 0; st == TS_OK && r < rounds; r++) {
        fprintf(stderr, "round %d/%d\n", r + 1, rounds);
        for (int i = 0; st == TS_OK && i < NUM_LAYERS; i++)
            st = time_round(&layers[i], err);
    }
    if (st == TS_OK)
        *worst = x86_report(layers, rounds, trials, result, size);
    for (int i = 0; i < ready; i++)
        layer_free(&layers[i]);
    return st;
}

int main(void)
{
    setenv("TS_NUM_THREADS", "1", 1);
    int rounds = bench_rounds(DEFAULT_ROUNDS);
    int trials = tuned_kernel_trials(DEFAULT_TRIALS);
    TsError err;
    TsTarget *target;
    if (ts_target_parse("llvm", &target, &err) != TS_OK)
        return bench_report_error("bench_lowbit: target", &err);
    printf("bench_lowbit: ResNet-18 3x3 convolutions, bitserial A1W1..A8W8 against Tessera's "
           "fp32 and int8 conv2d (tuned, <= %d trials per task), one thread\n",
           trials);
    bench_print_machine(target);
    fflush(stdout);
    char result[2048] = "";
    double worst = 0;
    int status = 0;
    if (x86_section(target, trials, rounds, result, sizeof result, &worst, &err) != TS_OK) {
        status = bench_report_error("bench_lowbit: x86", &err);
    } else {
        bench_lowbit_aarch64_section(result, sizeof result);
        printf("RESULT bench=lowbit threads=1 trials=%d%s ratio=%.3f\n", trials, result, worst);
    }
    ts_target_free(target);
    return status;
}
