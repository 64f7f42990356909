/* bench_defaults: the templates' default configs (what `tessera build` uses for a task the
 * tuning log has no record of) on every distinct conv2d, depthwise conv2d and dense layer
 * of ResNet-18, MobileNetV2 and SqueezeNet 1.1 (batch 1, fp32, 224 x 224 input).
 *
 * Method. Each layer's template instance with the default config is JIT-compiled for
 * this machine ("llvm") and timed by the runtime's time evaluator (medians of
 * BENCH_ROUNDS rounds) on one thread (TS_NUM_THREADS=1), on uniform random operands in
 * the kernel's own layouts (NCHW[x]c data, pre-packed weights; packing is not timed).
 * The table gives each layer's GFLOPS; then the worst layer and the geometric mean.
 * Arguments: a layer's name prefix keeps only the layers whose names start with it.
 * With BENCH_TUNE_TRIALS=T in the environment, each layer is also tuned (XGBoost, T
 * trials, log bench_defaults.log in the working folder, resumed) and its best record
 * timed the same way: the table then shows the tuned GFLOPS and tuned over default.
 *
 * The last line: RESULT bench=defaults worst=W geomean=G ratio=G (GFLOPS), with
 * worst_vs_tuned=R (the largest tuned over default) when tuned. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "benchmarks/bench_util.h"
#include "benchmarks/tuned_kernel.h"

enum { DEFAULT_ROUNDS = 3, REPEATS_PER_ROUND = 3 };
#define MIN_REPEAT_MS 20.0

/* A layer: op, then N C H W K R S stride pad for conv2d, N C H W R S stride pad for
 * depthwise_conv2d (K unused), M N K for dense (in c, h, w). */
typedef struct Layer {
    const char *name, *op;
    int64_t c, h, w, k, r, stride, pad;
} Layer;

#define CONV(name, c, h, k, r, s, p)        \
    {                                       \
        name, "conv2d", c, h, h, k, r, s, p \
    }
#define DW(name, c, h, s)                             \
    {                                                 \
        name, "depthwise_conv2d", c, h, h, 0, 3, s, 1 \
    }
#define FC(name, k, n)                     \
    {                                      \
        name, "dense", k, 0, 0, n, 0, 0, 0 \
    }

static const Layer layers[] = {
    /* ResNet-18 */
    CONV("resnet18.conv1", 3, 224, 64, 7, 2, 3),
    CONV("resnet18.l1.3x3", 64, 56, 64, 3, 1, 1),
    CONV("resnet18.l2.3x3s2", 64, 56, 128, 3, 2, 1),
    CONV("resnet18.l2.1x1s2", 64, 56, 128, 1, 2, 0),
    CONV("resnet18.l2.3x3", 128, 28, 128, 3, 1, 1),
    CONV("resnet18.l3.3x3s2", 128, 28, 256, 3, 2, 1),
    CONV("resnet18.l3.1x1s2", 128, 28, 256, 1, 2, 0),
    CONV("resnet18.l3.3x3", 256, 14, 256, 3, 1, 1),
    CONV("resnet18.l4.3x3s2", 256, 14, 512, 3, 2, 1),
    CONV("resnet18.l4.1x1s2", 256, 14, 512, 1, 2, 0),
    CONV("resnet18.l4.3x3", 512, 7, 512, 3, 1, 1),
    FC("resnet18.fc", 512, 1000),
    /* MobileNetV2 */
    CONV("mbv2.conv1", 3, 224, 32, 3, 2, 1),
    DW("mbv2.dw32", 32, 112, 1),
    CONV("mbv2.pw32-16", 32, 112, 16, 1, 1, 0),
    CONV("mbv2.pw16-96", 16, 112, 96, 1, 1, 0),
    DW("mbv2.dw96s2", 96, 112, 2),
    CONV("mbv2.pw96-24", 96, 56, 24, 1, 1, 0),
    CONV("mbv2.pw24-144", 24, 56, 144, 1, 1, 0),
    DW("mbv2.dw144", 144, 56, 1),
    CONV("mbv2.pw144-24", 144, 56, 24, 1, 1, 0),
    DW("mbv2.dw144s2", 144, 56, 2),
    CONV("mbv2.pw144-32", 144, 28, 32, 1, 1, 0),
    CONV("mbv2.pw32-192", 32, 28, 192, 1, 1, 0),
    DW("mbv2.dw192", 192, 28, 1),
    CONV("mbv2.pw192-32", 192, 28, 32, 1, 1, 0),
    DW("mbv2.dw192s2", 192, 28, 2),
    CONV("mbv2.pw192-64", 192, 14, 64, 1, 1, 0),
    CONV("mbv2.pw64-384", 64, 14, 384, 1, 1, 0),
    DW("mbv2.dw384", 384, 14, 1),
    CONV("mbv2.pw384-64", 384, 14, 64, 1, 1, 0),
    CONV("mbv2.pw384-96", 384, 14, 96, 1, 1, 0),
    CONV("mbv2.pw96-576", 96, 14, 576, 1, 1, 0),
    DW("mbv2.dw576", 576, 14, 1),
    CONV("mbv2.pw576-96", 576, 14, 96, 1, 1, 0),
    DW("mbv2.dw576s2", 576, 14, 2),
    CONV("mbv2.pw576-160", 576, 7, 160, 1, 1, 0),
    CONV("mbv2.pw160-960", 160, 7, 960, 1, 1, 0),
    DW("mbv2.dw960", 960, 7, 1),
    CONV("mbv2.pw960-160", 960, 7, 160, 1, 1, 0),
    CONV("mbv2.pw960-320", 960, 7, 320, 1, 1, 0),
    CONV("mbv2.pw320-1280", 320, 7, 1280, 1, 1, 0),
    FC("mbv2.fc", 1280, 1000),
    /* SqueezeNet 1.1 */
    CONV("sqz.conv1", 3, 224, 64, 3, 2, 0),
    CONV("sqz.fire2.squeeze", 64, 55, 16, 1, 1, 0),
    CONV("sqz.fire2.e1x1", 16, 55, 64, 1, 1, 0),
    CONV("sqz.fire2.e3x3", 16, 55, 64, 3, 1, 1),
    CONV("sqz.fire3.squeeze", 128, 55, 16, 1, 1, 0),
    CONV("sqz.fire4.squeeze", 128, 27, 32, 1, 1, 0),
    CONV("sqz.fire4.e1x1", 32, 27, 128, 1, 1, 0),
    CONV("sqz.fire4.e3x3", 32, 27, 128, 3, 1, 1),
    CONV("sqz.fire5.squeeze", 256, 27, 32, 1, 1, 0),
    CONV("sqz.fire6.squeeze", 256, 13, 48, 1, 1, 0),
    CONV("sqz.fire6.e1x1", 48, 13, 192, 1, 1, 0),
    CONV("sqz.fire6.e3x3", 48, 13, 192, 3, 1, 1),
    CONV("sqz.fire7.squeeze", 384, 13, 48, 1, 1, 0),
    CONV("sqz.fire8.squeeze", 384, 13, 64, 1, 1, 0),
    CONV("sqz.fire8.e1x1", 64, 13, 256, 1, 1, 0),
    CONV("sqz.fire8.e3x3", 64, 13, 256, 3, 1, 1),
    CONV("sqz.fire9.squeeze", 512, 13, 64, 1, 1, 0),
    CONV("sqz.conv10", 512, 13, 1000, 1, 1, 0),
};
enum { NUM_LAYERS = sizeof layers / sizeof layers[0] };

static TsStatus layer_args(const Layer *l, TsTemplateArgs *args, TsError *err)
{
    memset(args, 0, sizeof *args);
    const char *dense[] = { "M", "N", "K" },
               *conv[] = { "N", "C", "H", "W", "K", "R", "S", "stride", "pad" };
    int64_t dv[] = { 1, l->k, l->c },
            cv[] = { 1, l->c, l->h, l->w, l->k, l->r, l->r, l->stride, l->pad };
    bool is_dense = strcmp(l->op, "dense") == 0, is_dw = strcmp(l->op, "depthwise_conv2d") == 0;
    TsStatus st = TS_OK;
    for (int i = 0; st == TS_OK && i < (is_dense ? 3 : 9); i++) {
        if (is_dw && i == 4)
            continue;
        st = is_dense ? ts_template_args_set(args, dense[i], dv[i], err)
                      : ts_template_args_set(args, conv[i], cv[i], err);
    }
    return st;
}

/* Times tk's kernel on random operands; *gflops its median speed. */
static TsStatus time_kernel(TunedKernel *tk, int rounds, double *gflops, TsError *err)
{
    TsStatus st = TS_OK;
    float *buf[TUNED_MAX_ARGS] = { 0 };
    BenchTensorArg tensors[TUNED_MAX_ARGS];
    TsValue values[TUNED_MAX_ARGS];
    int32_t codes[TUNED_MAX_ARGS];
    for (int i = 0; i < tk->num_args; i++) {
        int ndim = ts_tensor_ndim(tk->args[i]);
        int64_t shape[TS_MAX_DIMS];
        for (int d = 0; d < ndim; d++)
            shape[d] = ts_tensor_dim(tk->args[i], d);
        size_t count = (size_t)ts_tensor_num_elements(tk->args[i]);
        buf[i] = bench_alloc_floats(count);
        bench_fill_uniform(buf[i], count, 17 + (uint64_t)i);
        bench_tensor_arg(&tensors[i], buf[i], ndim, shape);
        values[i].v_handle = &tensors[i].dl;
        codes[i] = TS_ARG_TENSOR;
    }
    BenchCosts costs = { .count = 0 };
    TsTimeOptions opt = bench_time_options(REPEATS_PER_ROUND, MIN_REPEAT_MS);
    for (int r = 0; st == TS_OK && r < rounds; r++)
        st = bench_time(tk->kernel, values, codes, tk->num_args, &opt, &costs, err);
    if (st == TS_OK)
        *gflops = bench_gflops(&costs, ts_tune_task_flop(tk->task));
    for (int i = 0; i < TUNED_MAX_ARGS; i++)
        free(buf[i]);
    return st;
}

/* Builds l's default config (trials 0) or its best of trials tuned ones, and times it;
 * config gets the config's entity. */
static TsStatus measure(const Layer *l, const TsTarget *target, int rounds, int trials,
                        double *gflops, char *config, size_t config_size, TsError *err)
{
    TsTemplateArgs args;
    TunedKernel tk;
    TsStatus st = layer_args(l, &args, err);
    if (st != TS_OK)
        return st;
    memset(&tk, 0, sizeof tk);
    if (trials > 0)
        st = tuned_kernel_build(l->op, &args, trials, "bench_defaults.log", target, &tk, err);
    else
        st = tuned_kernel_build_default(l->op, &args, 0, target, &tk, err);
    if (st == TS_OK)
        st = time_kernel(&tk, rounds, gflops, err);
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
    const char *tune = getenv("BENCH_TUNE_TRIALS");
    int rounds = bench_rounds(DEFAULT_ROUNDS), trials = tune ? atoi(tune) : 0, measured = 0;
    int worst = -1;
    double log_sum = 0, worst_gflops = INFINITY, worst_ratio = 0;
    printf("%-22s %-17s %9s %9s %7s  %s\n", "layer", "op", "GFLOPS", "tuned", "ratio",
           "default config");
    for (int i = 0; i < NUM_LAYERS; i++) {
        if (argc > 1 && strncmp(layers[i].name, argv[1], strlen(argv[1])) != 0)
            continue;
        double gflops = 0, tuned = 0;
        char config[512], tuned_config[512];
        TsStatus st = measure(&layers[i], target, rounds, 0, &gflops, config, sizeof config, &err);
        if (st == TS_OK && trials > 0)
            st = measure(&layers[i], target, rounds, trials, &tuned, tuned_config,
                         sizeof tuned_config, &err);
        if (st != TS_OK) {
            ts_target_free(target);
            return bench_report_error(layers[i].name, &err);
        }
        printf("%-22s %-17s %9.2f %9.2f %7.2f  %s\n", layers[i].name, layers[i].op, gflops, tuned,
               tuned / gflops, config);
        fflush(stdout);
        log_sum += log(gflops);
        measured++;
        worst_ratio = fmax(worst_ratio, tuned / gflops);
        if (gflops < worst_gflops) {
            worst_gflops = gflops;
            worst = i;
        }
    }
    ts_target_free(target);
    if (measured == 0)
        return fprintf(stderr, "bench_defaults: no layer named %s\n", argv[1]), 1;
    double geomean = exp(log_sum / measured);
    printf("worst: %s %.2f GFLOPS; geometric mean over %d layers: %.2f GFLOPS (one thread)\n",
           layers[worst].name, worst_gflops, measured, geomean);
    printf("RESULT bench=defaults layers=%d worst=%.3f geomean=%.3f worst_vs_tuned=%.3f "
           "ratio=%.3f\n",
           measured, worst_gflops, geomean, worst_ratio, geomean);
    return 0;
}
