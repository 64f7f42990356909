/* bench_tune_conv2d: the tuned 3x3 convolutions of ResNet-18 (stride 1, pad 1, batch 1,
 * fp32) on one and on two threads, against im2col + OpenBLAS's sgemm on one thread.
 *
 * Method. Each layer's conv2d template (NCHW[x]c, as TVM's x86 conv2d_NCHWc) is tuned on
 * this machine with the XGBoost tuner for BENCH_TUNE_TRIALS candidates (default 200),
 * once measured on one thread (TS_NUM_THREADS=1; log bench_tune_conv2d.log in the build
 * folder) and once on two (bench_tune_conv2d.2threads.log); the logs are reused by later
 * runs. The tuned kernel takes its data in NCHW[x]c and its weights pre-packed
 * (OIHW[x]i[y]o), as TVM's does: a model converts the weights once when it is built and
 * keeps its data blocked between layers, so neither conversion is timed. The reference
 * is timed whole, im2col included, as frameworks without a convolution kernel run it; the
 * table also shows sgemm alone. Before timing, each kernel's output, converted back to
 * NCHW, is checked against the reference's on the same operands. All sides are timed in
 * interleaved rounds by the runtime's time evaluator (medians): each Tessera kernel in a
 * child process whose thread pool has the thread count it was tuned for, OpenBLAS in one
 * child process per core type, the fastest taken.
 *
 * With --default-configs, nothing is tuned: the template's default config is built with
 * its knob "parallel" off and on, and each is timed on one and on two threads (the
 * parallel loop must not cost work on one thread, and must pay off on two).
 *
 * The last line: RESULT bench=tune_conv2d ... ratio=R, R the worst layer's one-thread
 * Tessera GFLOPS over the reference's (the issue's target: R >= 2.5 on every layer); the
 * keys cC_speedup_2t give the two-thread over one-thread speedup of the tuned kernels
 * (target >= 1.7). With --default-configs: RESULT bench=tune_conv2d_default ... ratio=R,
 * R the worst layer's parallel=1 over parallel=0 speed on one thread. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cblas.h>

#include "benchmarks/bench_util.h"
#include "benchmarks/conv_reference.h"
#include "benchmarks/tuned_kernel.h"

enum {
    NUM_LAYERS = 4,
    NUM_VARIANTS = 2, /* tuned: for 1 and 2 threads; default configs: parallel 0 and 1 */
    NUM_THREADS = 2,  /* thread counts timed: 1 and 2 */
    DEFAULT_TRIALS = 200,
    DEFAULT_ROUNDS = 3,
    REPEATS_PER_ROUND = 3
};
#define MIN_REPEAT_MS 40.0
#define MAX_RELATIVE_ERROR 1e-4

static const int64_t layer_dims[NUM_LAYERS][2] = {
    { 64, 56 }, { 128, 28 }, { 256, 14 }, { 512, 7 }
};

/* One kernel of a layer with its operands in the kernel's layouts. */
typedef struct Variant {
    TunedKernel tk;
    float *packed[3]; /* data, weight, output */
    BenchTensorArg tensors[3];
    TsValue values[3];
    int32_t codes[3];
    double max_error;
    BenchCosts costs[NUM_THREADS]; /* timed on 1 and on 2 threads */
} Variant;

typedef struct LayerCase {
    ConvShape shape;
    ConvOperands o;
    Variant v[NUM_VARIANTS];
    BenchCosts openblas[BENCH_NUM_CORETYPES];
    BenchCosts sgemm_only[BENCH_NUM_CORETYPES];
    char corename[BENCH_NUM_CORETYPES][64];
} LayerCase;

static bool default_configs; /* --default-configs */

/* Converts the operands into the kernel's layouts, runs it, and compares its output in
 * NCHW with the reference's. */
static TsStatus check_variant(LayerCase *lc, Variant *v, TsError *err)
{
    const TunedKernel *tk = &v->tk;
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
        v->packed[i] = bench_alloc_floats((size_t)ts_tensor_num_elements(tk->args[i]));
        bench_tensor_arg(&v->tensors[i], v->packed[i], ndim, shape);
        v->values[i].v_handle = &v->tensors[i].dl;
        v->codes[i] = TS_ARG_TENSOR;
    }
    conv_pack_data(s, ib, lc->o.data, v->packed[0]);
    conv_pack_weight(s, ib, ob, lc->o.weight, v->packed[1]);
    size_t n_out = (size_t)(s->f * s->oh * s->ow);
    float *magnitude = bench_alloc_floats(n_out), *got = bench_alloc_floats(n_out);
    conv_reference(&lc->o);
    conv_reference_magnitude(&lc->o, magnitude);
    TsStatus st = TS_OK;
    if (tk->kernel(v->values, v->codes, 3) != 0)
        st = ts_fail(err, TS_EDEVICE, "%s failed: %s", ts_tune_task_name(tk->task),
                     ts_runtime_last_error());
    conv_unpack_output(s, ob, v->packed[2], got);
    v->max_error = bench_max_relative_error(got, lc->o.out, magnitude, n_out);
    if (st == TS_OK && !(v->max_error <= MAX_RELATIVE_ERROR))
        st = ts_fail(err, TS_EDEVICE, "%s: max relative error %.3g > %g",
                     ts_tune_task_name(tk->task), v->max_error, MAX_RELATIVE_ERROR);
    free(magnitude);
    free(got);
    return st;
}

/* Variant i: tuned with i + 1 threads (TS_NUM_THREADS, read by the measuring
 * children), or the default config with parallel = i. */
static TsStatus build_variant(const TsTemplateArgs *args, int i, int trials, const TsTarget *target,
                              Variant *v, TsError *err)
{
    static const char *const logs[NUM_VARIANTS] = { "bench_tune_conv2d.log",
                                                    "bench_tune_conv2d.2threads.log" };
    if (default_configs)
        return tuned_kernel_build_default("conv2d", args, i, target, &v->tk, err);
    setenv("TS_NUM_THREADS", i == 0 ? "1" : "2", 1);
    return tuned_kernel_build("conv2d", args, trials, logs[i], target, &v->tk, err);
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
    for (int i = 0; i < NUM_VARIANTS; i++) {
        TsStatus st = build_variant(&args, i, trials, target, &lc->v[i], err);
        if (st == TS_OK)
            st = check_variant(lc, &lc->v[i], err);
        if (st != TS_OK)
            return st;
    }
    return TS_OK;
}

static void layer_free(LayerCase *lc)
{
    for (int i = 0; i < NUM_VARIANTS; i++) {
        tuned_kernel_free(&lc->v[i].tk);
        for (int k = 0; k < 3; k++)
            free(lc->v[i].packed[k]);
    }
    conv_operands_free(&lc->o);
}

/* What a timing child sends back. */
typedef struct ChildTiming {
    int32_t status;  /* TsStatus */
    int32_t threads; /* the pool's size in the child */
    char message[256];
    BenchCosts costs;
} ChildTiming;

static void time_child(const Variant *v, int threads, int fd)
{
    ChildTiming out = { 0 };
    char count[8];
    snprintf(count, sizeof count, "%d", threads);
    setenv("TS_NUM_THREADS", count, 1); /* the child's pool starts afresh and reads it */
    TsError err = { 0 };
    TsTimeOptions options = bench_time_options(REPEATS_PER_ROUND, MIN_REPEAT_MS);
    out.status = bench_time(v->tk.kernel, v->values, v->codes, 3, &options, &out.costs, &err);
    out.threads = ts_parallel_num_threads();
    snprintf(out.message, sizeof out.message, "%.200s", err.message);
    const char *p = (const char *)&out;
    for (size_t left = sizeof out; left > 0;) {
        ssize_t n = write(fd, p, left);
        if (n <= 0)
            break;
        p += n;
        left -= (size_t)n;
    }
    _exit(0);
}

/* Times v on a pool of `threads` threads, in a forked child (this process's pool keeps
 * the size it started with), and appends the costs to v->costs[threads - 1]. */
static TsStatus time_variant(Variant *v, int threads, TsError *err)
{
    int fd[2];
    if (pipe(fd) != 0)
        return ts_fail(err, TS_EDEVICE, "timing %s: pipe failed", ts_tune_task_name(v->tk.task));
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        time_child(v, threads, fd[1]);
    }
    close(fd[1]);
    ChildTiming got;
    size_t have = 0;
    while (pid > 0 && have < sizeof got) {
        ssize_t n = read(fd[0], (char *)&got + have, sizeof got - have);
        if (n <= 0)
            break;
        have += (size_t)n;
    }
    close(fd[0]);
    int wstatus = 0;
    if (pid > 0)
        waitpid(pid, &wstatus, 0);
    const char *name = ts_tune_task_name(v->tk.task);
    if (pid < 0 || have != sizeof got)
        return ts_fail(err, TS_EDEVICE, "timing %s on %d threads: the child died", name, threads);
    if (got.status != TS_OK)
        return ts_fail(err, (TsStatus)got.status, "timing %s: %s", name, got.message);
    if (got.threads != threads)
        return ts_fail(err, TS_EDEVICE, "timing %s: the child's pool has %d threads, not %d", name,
                       got.threads, threads);
    bench_costs_add(&v->costs[threads - 1], got.costs.values, got.costs.count);
    return TS_OK;
}

static TsStatus time_round(LayerCase *lc, TsError *err)
{
    TsStatus st = TS_OK;
    for (int i = 0; st == TS_OK && i < NUM_VARIANTS; i++)
        for (int t = 1; st == TS_OK && t <= NUM_THREADS; t++)
            if (default_configs || t == i + 1) /* a tuned kernel on the count it was tuned for */
                st = time_variant(&lc->v[i], t, err);
    if (default_configs)
        return st;
    char buf[10][24];
    const char *args[10];
    int n = conv_reference_child_args(&lc->shape, REPEATS_PER_ROUND, MIN_REPEAT_MS, buf, args);
    for (int k = 0; st == TS_OK && k < BENCH_NUM_CORETYPES; k++)
        st = bench_openblas_child(bench_coretypes[k], 1, n, args, &lc->openblas[k],
                                  &lc->sgemm_only[k], lc->corename[k], sizeof lc->corename[k], err);
    return st;
}

static double variant_gflops(const LayerCase *lc, int i, int threads)
{
    return bench_gflops(&lc->v[i].costs[threads - 1], conv_flops(&lc->shape));
}

/* Prints the table and the RESULT line of the tuned kernels. */
static void report_tuned(LayerCase *cases, int rounds)
{
    printf("\nlayer            trials  1 thread GFLOPS | trials 2 threads GFLOPS  speedup | "
           "im2col+sgemm best GFLOPS |  ratio | sgemm alone  ratio\n");
    double worst = INFINITY, worst_speedup = INFINITY;
    char result[2048];
    int used = 0;
    for (int i = 0; i < NUM_LAYERS; i++) {
        LayerCase *lc = &cases[i];
        double flop = conv_flops(&lc->shape);
        double one = variant_gflops(lc, 0, 1), two = variant_gflops(lc, 1, 2);
        double speedup = one > 0 ? two / one : 0;
        int core, alone_core;
        double ref = bench_best_gflops(lc->openblas, flop, &core);
        double alone = bench_best_gflops(lc->sgemm_only, flop, &alone_core);
        double ratio = ref > 0 ? one / ref : 0;
        worst = fmin(worst, ratio);
        worst_speedup = fmin(worst_speedup, speedup);
        printf("%3lldx%2lldx%2lld->%3lld  %6d %6.3f ms %6.1f | %6d %6.3f ms %6.1f  %6.2fx | "
               "%-10s        %6.1f | %6.3f | %6.1f      %6.3f\n",
               (long long)lc->shape.c, (long long)lc->shape.h, (long long)lc->shape.w,
               (long long)lc->shape.f, lc->v[0].tk.trials, bench_median(&lc->v[0].costs[0]) * 1e3,
               one, lc->v[1].tk.trials, bench_median(&lc->v[1].costs[1]) * 1e3, two, speedup,
               bench_coretypes[core], ref, ratio, alone, alone > 0 ? one / alone : 0);
        used += snprintf(result + used, sizeof result - (size_t)used,
                         " c%lld_tessera_gflops=%.1f c%lld_tessera_2t_gflops=%.1f "
                         "c%lld_speedup_2t=%.2f c%lld_openblas_gflops=%.1f c%lld_ratio=%.3f",
                         (long long)lc->shape.c, one, (long long)lc->shape.c, two,
                         (long long)lc->shape.c, speedup, (long long)lc->shape.c, ref,
                         (long long)lc->shape.c, ratio);
    }
    printf("\nmedians of %d rounds x %d repeats per side and layer, each the mean of >= %.0f ms "
           "of calls; OpenBLAS on one thread\n",
           rounds, REPEATS_PER_ROUND, MIN_REPEAT_MS);
    printf("RESULT bench=tune_conv2d threads=1,2%s min_speedup_2t=%.2f ratio=%.3f\n", result,
           worst_speedup, worst);
}

/* Prints the table and the RESULT line of the default configs. */
static void report_defaults(LayerCase *cases, int rounds)
{
    printf("\nlayer            parallel=0 GFLOPS      | parallel=1 GFLOPS      | p1/p0 "
           "1 thread  2 threads\n"
           "                  1 thread   2 threads  |  1 thread   2 threads  |\n");
    double worst = INFINITY;
    char result[2048];
    int used = 0;
    for (int i = 0; i < NUM_LAYERS; i++) {
        LayerCase *lc = &cases[i];
        double p0t1 = variant_gflops(lc, 0, 1), p0t2 = variant_gflops(lc, 0, 2);
        double p1t1 = variant_gflops(lc, 1, 1), p1t2 = variant_gflops(lc, 1, 2);
        double r1 = p0t1 > 0 ? p1t1 / p0t1 : 0, r2 = p0t2 > 0 ? p1t2 / p0t2 : 0;
        worst = fmin(worst, r1);
        printf("%3lldx%2lldx%2lld->%3lld  %8.1f   %8.1f    | %8.1f   %8.1f    | %6.2fx   "
               "%6.2fx\n",
               (long long)lc->shape.c, (long long)lc->shape.h, (long long)lc->shape.w,
               (long long)lc->shape.f, p0t1, p0t2, p1t1, p1t2, r1, r2);
        used += snprintf(result + used, sizeof result - (size_t)used,
                         " c%lld_p0_1t=%.1f c%lld_p0_2t=%.1f c%lld_p1_1t=%.1f c%lld_p1_2t=%.1f",
                         (long long)lc->shape.c, p0t1, (long long)lc->shape.c, p0t2,
                         (long long)lc->shape.c, p1t1, (long long)lc->shape.c, p1t2);
    }
    printf("\nmedians of %d rounds x %d repeats per kernel and thread count, each the mean of "
           ">= %.0f ms of calls\n",
           rounds, REPEATS_PER_ROUND, MIN_REPEAT_MS);
    printf("RESULT bench=tune_conv2d_default%s ratio=%.3f\n", result, worst);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], BENCH_CHILD_FLAG) == 0)
        return conv_reference_child(argc, argv);
    default_configs = argc > 1 && strcmp(argv[1], "--default-configs") == 0;
    setenv("TS_NUM_THREADS", "1", 1);
    openblas_set_num_threads(1);
    int rounds = bench_rounds(DEFAULT_ROUNDS);
    int trials = tuned_kernel_trials(DEFAULT_TRIALS);
    TsError err;
    TsTarget *target;
    if (ts_target_parse("llvm", &target, &err) != TS_OK)
        return bench_report_error("bench_tune_conv2d: target", &err);
    if (default_configs)
        printf("bench_tune_conv2d --default-configs: ResNet-18 3x3 convolutions (NCHW[x]c), "
               "the default config with parallel off and on, on one and two threads\n");
    else
        printf("bench_tune_conv2d: tuned ResNet-18 3x3 convolutions (NCHW[x]c) on one and two "
               "threads vs im2col + OpenBLAS cblas_sgemm (NCHW) on one\n");
    bench_print_machine(target);
    fflush(stdout);
    static LayerCase cases[NUM_LAYERS];
    int status = 0, ready = 0;
    for (; ready < NUM_LAYERS; ready++) {
        if (layer_init(&cases[ready], ready, trials, target, &err) != TS_OK) {
            status = bench_report_error("bench_tune_conv2d: building", &err);
            ready++;
            goto out_free;
        }
        for (int i = 0; i < NUM_VARIANTS; i++) {
            const TunedKernel *tk = &cases[ready].v[i].tk;
            if (default_configs)
                printf("%s, default config, parallel=%d: max relative error vs the reference "
                       "%.2e\n",
                       ts_tune_task_name(tk->task), i, cases[ready].v[i].max_error);
            else
                printf("%s, %d thread(s): %d trials in the log (%.0f s measured in this run); "
                       "max relative error vs the reference %.2e\n",
                       ts_tune_task_name(tk->task), i + 1, tk->trials, tk->tuning_seconds,
                       cases[ready].v[i].max_error);
        }
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
    if (default_configs)
        report_defaults(cases, rounds);
    else
        report_tuned(cases, rounds);
out_free:
    for (int i = 0; i < ready; i++)
        layer_free(&cases[i]);
    ts_target_free(target);
    return status;
}
