/* bench_tune_conv2d: the tuned 3x3 convolutions of ResNet-18 (stride 1, pad 1, batch 1,
 * fp32, one thread) against im2col + OpenBLAS's sgemm.
 *
 * Method. Each layer's conv2d template (NCHW[x]c, as TVM's x86 conv2d_NCHWc) is tuned on
 * this machine with the XGBoost tuner for BENCH_TUNE_TRIALS candidates (default 200),
 * the log kept in the build folder (bench_tune_conv2d.log) and reused by later runs. The
 * tuned kernel takes its data in NCHW[x]c and its weights pre-packed (OIHW[x]i[y]o), as
 * TVM's does: a model converts the weights once when it is built and keeps its data
 * blocked between layers, so neither conversion is timed. The reference is timed whole,
 * im2col included, as frameworks without a convolution kernel run it; the table also shows
 * sgemm alone. Before timing, the tuned kernel's output, converted back to NCHW, is
 * checked against the reference's on the same operands. Both sides are timed in
 * interleaved rounds by the runtime's time evaluator (medians), OpenBLAS in one child
 * process per core type, the fastest taken.
 *
 * The last line: RESULT bench=tune_conv2d ... ratio=R, R the worst layer's Tessera GFLOPS
 * over the reference's (the issue's target: R >= 2.5 on every layer). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "benchmarks/bench_util.h"
#include "benchmarks/conv_reference.h"
#include "benchmarks/tuned_kernel.h"

enum { NUM_LAYERS = 4, DEFAULT_TRIALS = 200, DEFAULT_ROUNDS = 3, REPEATS_PER_ROUND = 3 };
#define MIN_REPEAT_MS 40.0
#define MAX_RELATIVE_ERROR 1e-4

static const int64_t layer_dims[NUM_LAYERS][2] = {
    { 64, 56 }, { 128, 28 }, { 256, 14 }, { 512, 7 }
};

typedef struct LayerCase {
    ConvShape shape;
    ConvOperands o;
    TunedKernel tk;
    float *packed[3]; /* data, weight, output in the kernel's layouts */
    BenchTensorArg tensors[3];
    TsValue values[3];
    int32_t codes[3];
    double max_error;
    BenchCosts tessera;
    BenchCosts openblas[BENCH_NUM_CORETYPES];
    BenchCosts sgemm_only[BENCH_NUM_CORETYPES];
    char corename[BENCH_NUM_CORETYPES][64];
} LayerCase;

/* Converts the operands into the kernel's layouts, runs it, and compares its output in
 * NCHW with the reference's. */
static TsStatus check_layer(LayerCase *lc, TsError *err)
{
    const TunedKernel *tk = &lc->tk;
    const ConvShape *s = &lc->shape;
    if (tk->num_args != 3 || ts_tensor_ndim(tk->args[0]) != 5 || ts_tensor_ndim(tk->args[1]) != 6 ||
        ts_tensor_ndim(tk->args[2]) != 5)
        return ts_fail(err, TS_EINVAL,
                       "%s: expected data [N,C/ib,H,W,ib], weight "
                       "[K/ob,C/ib,R,S,ib,ob], out [N,K/ob,OH,OW,ob]",
                       ts_tune_task_name(tk->task));
    int64_t ib = ts_tensor_dim(tk->args[0], 4), ob = ts_tensor_dim(tk->args[2], 4);
    for (int i = 0; i < 3; i++) {
        int64_t shape[TS_MAX_DIMS];
        int ndim = ts_tensor_ndim(tk->args[i]);
        for (int k = 0; k < ndim; k++)
            shape[k] = ts_tensor_dim(tk->args[i], k);
        lc->packed[i] = bench_alloc_floats((size_t)ts_tensor_num_elements(tk->args[i]));
        bench_tensor_arg(&lc->tensors[i], lc->packed[i], ndim, shape);
        lc->values[i].v_handle = &lc->tensors[i].dl;
        lc->codes[i] = TS_ARG_TENSOR;
    }
    conv_pack_data(s, ib, lc->o.data, lc->packed[0]);
    conv_pack_weight(s, ib, ob, lc->o.weight, lc->packed[1]);
    size_t n_out = (size_t)(s->f * s->oh * s->ow);
    float *magnitude = bench_alloc_floats(n_out), *got = bench_alloc_floats(n_out);
    conv_reference(&lc->o);
    conv_reference_magnitude(&lc->o, magnitude);
    TsStatus st = TS_OK;
    if (tk->kernel(lc->values, lc->codes, 3) != 0)
        st = ts_fail(err, TS_EDEVICE, "%s failed: %s", ts_tune_task_name(tk->task),
                     ts_runtime_last_error());
    conv_unpack_output(s, ob, lc->packed[2], got);
    lc->max_error = bench_max_relative_error(got, lc->o.out, magnitude, n_out);
    if (st == TS_OK && !(lc->max_error <= MAX_RELATIVE_ERROR))
        st = ts_fail(err, TS_EDEVICE, "%s: max relative error %.3g > %g",
                     ts_tune_task_name(tk->task), lc->max_error, MAX_RELATIVE_ERROR);
    free(magnitude);
    free(got);
    return st;
}

static TsStatus layer_init(LayerCase *lc, int layer, int trials, const TsTarget *target,
                           TsError *err)
{
    memset(lc, 0, sizeof *lc);
    int64_t c = layer_dims[layer][0], hw = layer_dims[layer][1];
    lc->shape =
        (ConvShape){ .c = c, .h = hw, .w = hw, .f = c, .r = 3, .s = 3, .stride = 1, .pad = 1 };
    conv_shape_init(&lc->shape);
    conv_operands_init(&lc->o, &lc->shape, 11, 12);
    TsTemplateArgs args = { 0 };
    const char *names[] = { "N", "C", "H", "W", "K", "R", "S", "stride", "pad" };
    const int64_t values[] = { 1, c, hw, hw, c, 3, 3, 1, 1 };
    for (int i = 0; i < 9; i++) {
        TsStatus st = ts_template_args_set(&args, names[i], values[i], err);
        if (st != TS_OK)
            return st;
    }
    TsStatus st =
        tuned_kernel_build("conv2d", &args, trials, "bench_tune_conv2d.log", target, &lc->tk, err);
    return st == TS_OK ? check_layer(lc, err) : st;
}

static void layer_free(LayerCase *lc)
{
    tuned_kernel_free(&lc->tk);
    conv_operands_free(&lc->o);
    for (int i = 0; i < 3; i++)
        free(lc->packed[i]);
}

static TsStatus time_round(LayerCase *lc, TsError *err)
{
    TsTimeOptions options = bench_time_options(REPEATS_PER_ROUND, MIN_REPEAT_MS);
    TsStatus st = bench_time(lc->tk.kernel, lc->values, lc->codes, 3, &options, &lc->tessera, err);
    char buf[10][24];
    const char *args[10];
    int n = conv_reference_child_args(&lc->shape, REPEATS_PER_ROUND, MIN_REPEAT_MS, buf, args);
    for (int k = 0; st == TS_OK && k < BENCH_NUM_CORETYPES; k++)
        st = bench_openblas_child(bench_coretypes[k], 1, n, args, &lc->openblas[k],
                                  &lc->sgemm_only[k], lc->corename[k], sizeof lc->corename[k], err);
    return st;
}

/* Prints the table and the RESULT line. */
static void report(LayerCase *cases, int rounds)
{
    printf("\nlayer            trials  Tessera  GFLOPS | im2col+sgemm best GFLOPS |  ratio | "
           "sgemm alone  ratio\n");
    double worst = INFINITY;
    char result[2048];
    int used = 0;
    for (int i = 0; i < NUM_LAYERS; i++) {
        LayerCase *lc = &cases[i];
        double flop = conv_flops(&lc->shape), ours = bench_gflops(&lc->tessera, flop);
        int core, alone_core;
        double ref = bench_best_gflops(lc->openblas, flop, &core);
        double alone = bench_best_gflops(lc->sgemm_only, flop, &alone_core);
        double ratio = ref > 0 ? ours / ref : 0;
        worst = fmin(worst, ratio);
        printf("%3lldx%2lldx%2lld->%3lld  %6d %6.3f ms %6.1f | %-10s        %6.1f | %6.3f | %6.1f "
               "     %6.3f\n",
               (long long)lc->shape.c, (long long)lc->shape.h, (long long)lc->shape.w,
               (long long)lc->shape.f, lc->tk.trials, bench_median(&lc->tessera) * 1e3, ours,
               bench_coretypes[core], ref, ratio, alone, alone > 0 ? ours / alone : 0);
        used += snprintf(result + used, sizeof result - (size_t)used,
                         " c%lld_tessera_gflops=%.1f c%lld_openblas_gflops=%.1f c%lld_ratio=%.3f",
                         (long long)lc->shape.c, ours, (long long)lc->shape.c, ref,
                         (long long)lc->shape.c, ratio);
    }
    printf("\nmedians of %d rounds x %d repeats per side and layer, each the mean of >= %.0f ms "
           "of calls, one thread\n",
           rounds, REPEATS_PER_ROUND, MIN_REPEAT_MS);
    printf("RESULT bench=tune_conv2d threads=1%s ratio=%.3f\n", result, worst);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], BENCH_CHILD_FLAG) == 0)
        return conv_reference_child(argc, argv);
    setenv("TS_NUM_THREADS", "1", 1);
    openblas_set_num_threads(1);
    int rounds = bench_rounds(DEFAULT_ROUNDS);
    int trials = tuned_kernel_trials(DEFAULT_TRIALS);
    TsError err;
    TsTarget *target;
    if (ts_target_parse("llvm", &target, &err) != TS_OK)
        return bench_report_error("bench_tune_conv2d: target", &err);
    printf("bench_tune_conv2d: tuned ResNet-18 3x3 convolutions (NCHW[x]c), one thread, vs "
           "im2col + OpenBLAS cblas_sgemm (NCHW)\n");
    bench_print_machine(target);
    fflush(stdout);
    static LayerCase cases[NUM_LAYERS];
    int status = 0, ready = 0;
    for (; ready < NUM_LAYERS; ready++) {
        if (layer_init(&cases[ready], ready, trials, target, &err) != TS_OK) {
            status = bench_report_error("bench_tune_conv2d: tuning", &err);
            ready++;
            goto out_free;
        }
        printf("%s: %d trials in the log (%.0f s measured in this run); max relative error vs "
               "the reference %.2e\n",
               ts_tune_task_name(cases[ready].tk.task), cases[ready].tk.trials,
               cases[ready].tk.tuning_seconds, cases[ready].max_error);
        fflush(stdout);
    }
    for (int r = 0; r < rounds; r++) {
        fprintf(stderr, "round %d/%d\n", r + 1, rounds);
        for (int i = 0; i < NUM_LAYERS; i++)
            if (time_round(&cases[i], &err) != TS_OK) {
                status = bench_report_error("bench_tune_conv2d: timing", &err);
                goto out_free;
            }
    }
    report(cases, rounds);
out_free:
    for (int i = 0; i < ready; i++)
        layer_free(&cases[i]);
    ts_target_free(target);
    return status;
}
