/* bench_tune_gemm: the tuned fp32 1024^3 dense against OpenBLAS at its best, one thread.
 *
 * Method. The dense template (TVM's dense: out[M, N] = data[M, K] . weight[N, K]^T, the
 * weight packed inside the kernel on every call) is tuned on this machine with the XGBoost
 * tuner for BENCH_TUNE_TRIALS candidates (default 300), the log kept in the build folder
 * (bench_tune_gemm.log): a second run reuses it and measures nothing new. The best
 * config is JIT-compiled, its output checked against cblas_sgemm(NoTrans, Trans) on the
 * same operands, and then both are timed in interleaved rounds with the runtime's time
 * evaluator (medians of all repeats), sgemm in one child process per OpenBLAS core type
 * (bench_util.h), the fastest taken. Both sides run on one thread.
 *
 * The last line: RESULT bench=tune_gemm ... ratio=R, R Tessera's GFLOPS over OpenBLAS's
 * best (the target: R >= 1.25). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "benchmarks/bench_util.h"
#include "benchmarks/dense_reference.h"
#include "benchmarks/tuned_kernel.h"

enum { SIZE = 1024, DEFAULT_TRIALS = 300, DEFAULT_ROUNDS = 5, REPEATS_PER_ROUND = 3 };
#define MIN_REPEAT_MS 40.0
#define MAX_RELATIVE_ERROR 1e-4

/* Binds the kernel's arguments (data, weight, out by their order) and checks its output
 * against sgemm's. */
static TsStatus check(const TunedKernel *tk, DenseOperands *d, BenchTensorArg *tensors,
                      TsValue *values, int32_t *codes, double *max_error, TsError *err)
{
    if (tk->num_args != 3)
        return ts_fail(err, TS_EINVAL, "the dense kernel has %d arguments, expected 3",
                       tk->num_args);
    float *buffers[3] = { d->data, d->weight, d->out };
    for (int i = 0; i < 3; i++) {
        int64_t shape[2] = { ts_tensor_dim(tk->args[i], 0), ts_tensor_dim(tk->args[i], 1) };
        bench_tensor_arg(&tensors[i], buffers[i], 2, shape);
        values[i].v_handle = &tensors[i].dl;
        codes[i] = TS_ARG_TENSOR;
    }
    size_t n_out = (size_t)(d->m * d->n);
    float *want = bench_alloc_floats(n_out), *magnitude = bench_alloc_floats(n_out);
    DenseOperands ref = *d;
    ref.out = want;
    dense_reference(&ref);
    dense_reference_magnitude(d, magnitude);
    memset(d->out, 0xff, n_out * sizeof(float));
    TsStatus st = TS_OK;
    if (tk->kernel(values, codes, 3) != 0)
        st = ts_fail(err, TS_EDEVICE, "the tuned dense kernel failed: %s", ts_runtime_last_error());
    *max_error = bench_max_relative_error(d->out, want, magnitude, n_out);
    if (st == TS_OK && !(*max_error <= MAX_RELATIVE_ERROR))
        st = ts_fail(err, TS_EDEVICE, "tuned dense: max relative error %.3g > %g", *max_error,
                     MAX_RELATIVE_ERROR);
    free(want);
    free(magnitude);
    return st;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], BENCH_CHILD_FLAG) == 0)
        return dense_reference_child(argc, argv);
    setenv("TS_NUM_THREADS", "1", 1);
    openblas_set_num_threads(1);
    int rounds = bench_rounds(DEFAULT_ROUNDS);
    int trials = tuned_kernel_trials(DEFAULT_TRIALS);
    TsError err;
    TsTarget *target;
    if (ts_target_parse("llvm", &target, &err) != TS_OK)
        return bench_report_error("bench_tune_gemm: target", &err);
    printf("bench_tune_gemm: tuned fp32 dense %dx%dx%d (out = data . weight^T), one thread, vs "
           "OpenBLAS cblas_sgemm(NoTrans, Trans)\n",
           SIZE, SIZE, SIZE);
    bench_print_machine(target);
    fflush(stdout);

    TsTemplateArgs args = { 0 };
    TunedKernel tk = { 0 };
    DenseOperands d;
    dense_operands_init(&d, SIZE, SIZE, SIZE);
    int status = 1;
    if (ts_template_args_set(&args, "M", SIZE, &err) != TS_OK ||
        ts_template_args_set(&args, "N", SIZE, &err) != TS_OK ||
        ts_template_args_set(&args, "K", SIZE, &err) != TS_OK ||
        tuned_kernel_build("dense", &args, trials, "bench_tune_gemm.log", target, &tk, &err) !=
            TS_OK) {
        status = bench_report_error("bench_tune_gemm: tuning", &err);
        goto out_free_kernel;
    }
    BenchTensorArg tensors[3];
    TsValue values[3];
    int32_t codes[3];
    double max_error = 0;
    if (check(&tk, &d, tensors, values, codes, &max_error, &err) != TS_OK) {
        status = bench_report_error("bench_tune_gemm: check", &err);
        goto out_free_kernel;
    }
    char entity[TS_RECORD_MAX_ENTITY];
    if (ts_config_entity(&tk.config, entity, sizeof entity, &err) != TS_OK)
        snprintf(entity, sizeof entity, "?");
    printf("tuning: %d trials in the log (%.0f s measured in this run); best config %lld: %s\n",
           tk.trials, tk.tuning_seconds, (long long)tk.config.index, entity);
    printf("check: max relative error vs sgemm %.2e (limit %g)\n", max_error, MAX_RELATIVE_ERROR);
    fflush(stdout);

    BenchCosts tessera = { .count = 0 }, openblas[BENCH_NUM_CORETYPES] = { { .count = 0 } };
    char corename[BENCH_NUM_CORETYPES][64];
    char buf[5][24];
    const char *child_args[5];
    int num_child_args =
        dense_reference_child_args(&d, REPEATS_PER_ROUND, MIN_REPEAT_MS, buf, child_args);
    TsTimeOptions options = bench_time_options(REPEATS_PER_ROUND, MIN_REPEAT_MS);
    for (int r = 0; r < rounds; r++) {
        fprintf(stderr, "round %d/%d\n", r + 1, rounds);
        if (bench_time(tk.kernel, values, codes, 3, &options, &tessera, &err) != TS_OK)
            goto out_timing;
        for (int c = 0; c < BENCH_NUM_CORETYPES; c++)
            if (bench_openblas_child(bench_coretypes[c], 1, num_child_args, child_args,
                                     &openblas[c], NULL, corename[c], sizeof corename[c],
                                     &err) != TS_OK)
                goto out_timing;
    }
    double flop = 2.0 * SIZE * SIZE * SIZE, ours = bench_gflops(&tessera, flop);
    for (int c = 0; c < BENCH_NUM_CORETYPES; c++)
        printf("OpenBLAS %-10s (%s): %.1f GFLOPS\n", bench_coretypes[c], corename[c],
               bench_gflops(&openblas[c], flop));
    int best_core;
    double best = bench_best_gflops(openblas, flop, &best_core);
    printf("Tessera tuned:             %.1f GFLOPS (%.3f ms median)\n", ours,
           bench_median(&tessera) * 1e3);
    printf("medians of %d rounds x %d repeats per side, each the mean of >= %.0f ms of calls\n",
           rounds, REPEATS_PER_ROUND, MIN_REPEAT_MS);
    printf("RESULT bench=tune_gemm size=%d threads=1 trials=%d tessera_gflops=%.1f "
           "openblas_gflops=%.1f openblas_core=%s ratio=%.3f\n",
           SIZE, tk.trials, ours, best, bench_coretypes[best_core], best > 0 ? ours / best : 0);
    status = 0;
    goto out_free_kernel;
out_timing:
    status = bench_report_error("bench_tune_gemm: timing", &err);
out_free_kernel:
    tuned_kernel_free(&tk);
    dense_operands_free(&d);
    ts_target_free(target);
    return status;
}
