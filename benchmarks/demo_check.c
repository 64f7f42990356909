/* demo_check KERNEL.so OP KEY=VALUE ...: the last step of `make demo`. It loads an exported
 * kernel the way a deployment would (ts_module_load, the module table, the signature),
 * runs it on the operator's operands and checks the result against OpenBLAS, then times
 * it beside OpenBLAS in the same run (the reference in one child process per OpenBLAS
 * core type, the fastest taken; one thread on both sides).
 *
 * OP is dense (out = data . weight^T, against cblas_sgemm) or conv2d (NCHW[x]c, against
 * im2col + cblas_sgemm in NCHW; the operands are converted into the kernel's layouts,
 * which its signature gives, and the output back). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "benchmarks/bench_util.h"
#include "benchmarks/conv_reference.h"
#include "benchmarks/dense_reference.h"

enum { MAX_ARGS = 8, ROUNDS = 3, REPEATS = 3 };
#define MIN_REPEAT_MS 40.0
#define MAX_RELATIVE_ERROR 1e-4

typedef struct Check {
    const char *op;
    TsArgSpec spec[MAX_ARGS];
    int num_args;
    float *buffers[MAX_ARGS];
    BenchTensorArg tensors[MAX_ARGS];
    TsValue values[MAX_ARGS];
    int32_t codes[MAX_ARGS];
    double flop;
    char child_buf[10][24];
    const char *child_args[10];
    int num_child_args;
} Check;

static bool arg_value(int argc, char **argv, const char *name, int64_t *value)
{
    size_t len = strlen(name);
    for (int i = 0; i < argc; i++)
        if (strncmp(argv[i], name, len) == 0 && argv[i][len] == '=') {
            char *end;
            errno = 0;
            long long v = strtoll(argv[i] + len + 1, &end, 10);
            if (errno || *end)
                return false;
            *value = v;
            return true;
        }
    return false;
}

static void bind(Check *c)
{
    for (int i = 0; i < c->num_args; i++) {
        size_t n = 1;
        for (int d = 0; d < c->spec[i].ndim; d++)
            n *= (size_t)c->spec[i].shape[d];
        c->buffers[i] = bench_alloc_floats(n);
        bench_tensor_arg(&c->tensors[i], c->buffers[i], c->spec[i].ndim, c->spec[i].shape);
        c->values[i].v_handle = &c->tensors[i].dl;
        c->codes[i] = TS_ARG_TENSOR;
    }
}

static TsStatus run_kernel(const TsFuncEntry *entry, Check *c, TsError *err)
{
    if (entry->func(c->values, c->codes, c->num_args) != 0)
        return ts_fail(err, TS_EDEVICE, "%s failed: %s", entry->name, ts_runtime_last_error());
    return TS_OK;
}

static TsStatus compare(const float *got, const float *want, const float *magnitude, size_t n,
                        TsError *err)
{
    double error = bench_max_relative_error(got, want, magnitude, n);
    printf("check: max relative error against OpenBLAS %.2e (limit %g): %s\n", error,
           MAX_RELATIVE_ERROR, error <= MAX_RELATIVE_ERROR ? "ok" : "WRONG");
    return error <= MAX_RELATIVE_ERROR
               ? TS_OK
               : ts_fail(err, TS_EDEVICE, "the kernel's output differs from OpenBLAS's");
}

static TsStatus check_dense(const TsFuncEntry *entry, Check *c, int argc, char **argv, TsError *err)
{
    int64_t m, n, k;
    if (!arg_value(argc, argv, "M", &m) || !arg_value(argc, argv, "N", &n) ||
        !arg_value(argc, argv, "K", &k))
        return ts_fail(err, TS_EINVAL, "dense needs M=, N= and K=");
    if (c->num_args != 3 || c->spec[0].shape[0] != m || c->spec[0].shape[1] != k ||
        c->spec[1].shape[0] != n || c->spec[2].shape[1] != n)
        return ts_fail(err, TS_EINVAL, "%s: signature '%s' is not a %lldx%lldx%lld dense",
                       entry->name, entry->signature, (long long)m, (long long)n, (long long)k);
    DenseOperands d;
    dense_operands_init(&d, m, n, k);
    memcpy(c->buffers[0], d.data, (size_t)(m * k) * sizeof(float));
    memcpy(c->buffers[1], d.weight, (size_t)(n * k) * sizeof(float));
    float *magnitude = bench_alloc_floats((size_t)(m * n));
    dense_reference(&d);
    dense_reference_magnitude(&d, magnitude);
    TsStatus st = run_kernel(entry, c, err);
    if (st == TS_OK)
        st = compare(c->buffers[2], d.out, magnitude, (size_t)(m * n), err);
    c->flop = 2.0 * (double)m * (double)n * (double)k;
    c->num_child_args =
        dense_reference_child_args(&d, REPEATS, MIN_REPEAT_MS, c->child_buf, c->child_args);
    free(magnitude);
    dense_operands_free(&d);
    return st;
}

static TsStatus check_conv(const TsFuncEntry *entry, Check *c, int argc, char **argv, TsError *err)
{
    ConvShape s = { 0 };
    int64_t batch = 1;
    if (!arg_value(argc, argv, "C", &s.c) || !arg_value(argc, argv, "H", &s.h) ||
        !arg_value(argc, argv, "W", &s.w) || !arg_value(argc, argv, "K", &s.f) ||
        !arg_value(argc, argv, "R", &s.r) || !arg_value(argc, argv, "S", &s.s) ||
        !arg_value(argc, argv, "stride", &s.stride) || !arg_value(argc, argv, "pad", &s.pad) ||
        (arg_value(argc, argv, "N", &batch) && batch != 1) || !conv_shape_init(&s))
        return ts_fail(err, TS_EINVAL, "conv2d needs N=1 C= H= W= K= R= S= stride= pad=");
    if (c->num_args != 3 || c->spec[0].ndim != 5 || c->spec[1].ndim != 6 || c->spec[2].ndim != 5)
        return ts_fail(err, TS_EINVAL, "%s: signature '%s' is not a conv2d in NCHW[x]c",
                       entry->name, entry->signature);
    int64_t ib = c->spec[0].shape[4], ob = c->spec[2].shape[4];
    ConvOperands o;
    conv_operands_init(&o, &s, 11, 12);
    conv_pack_data(&s, ib, o.data, c->buffers[0]);
    conv_pack_weight(&s, ib, ob, o.weight, c->buffers[1]);
    size_t n_out = (size_t)(s.f * s.oh * s.ow);
    float *magnitude = bench_alloc_floats(n_out), *got = bench_alloc_floats(n_out);
    conv_reference(&o);
    conv_reference_magnitude(&o, magnitude);
    TsStatus st = run_kernel(entry, c, err);
    if (st == TS_OK) {
        conv_unpack_output(&s, ob, c->buffers[2], got);
        st = compare(got, o.out, magnitude, n_out, err);
    }
    c->flop = conv_flops(&s);
    c->num_child_args =
        conv_reference_child_args(&s, REPEATS, MIN_REPEAT_MS, c->child_buf, c->child_args);
    free(magnitude);
    free(got);
    conv_operands_free(&o);
    return st;
}

static TsStatus compare_speed(const TsFuncEntry *entry, Check *c, TsError *err)
{
    BenchCosts ours = { .count = 0 }, theirs[BENCH_NUM_CORETYPES] = { { .count = 0 } };
    char corename[BENCH_NUM_CORETYPES][64];
    TsTimeOptions options = bench_time_options(REPEATS, MIN_REPEAT_MS);
    for (int r = 0; r < ROUNDS; r++) {
        TsStatus st =
            bench_time(entry->func, c->values, c->codes, c->num_args, &options, &ours, err);
        for (int k = 0; st == TS_OK && k < BENCH_NUM_CORETYPES; k++)
            st = bench_openblas_child(bench_coretypes[k], 1, c->num_child_args, c->child_args,
                                      &theirs[k], NULL, corename[k], sizeof corename[k], err);
        if (st != TS_OK)
            return st;
    }
    int core;
    double best = bench_best_gflops(theirs, c->flop, &core);
    double mine = bench_gflops(&ours, c->flop);
    printf("speed, one thread: Tessera %.1f GFLOPS (%.3f ms), OpenBLAS%s %.1f GFLOPS (%s, its "
           "fastest core type): %.2fx\n",
           mine, bench_median(&ours) * 1e3, strcmp(c->op, "conv2d") == 0 ? " im2col+sgemm" : "",
           best, bench_coretypes[core], best > 0 ? mine / best : 0);
    return TS_OK;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], BENCH_CHILD_FLAG) == 0)
        return argc == 7 ? dense_reference_child(argc, argv) : conv_reference_child(argc, argv);
    if (argc < 3 || (strcmp(argv[2], "dense") != 0 && strcmp(argv[2], "conv2d") != 0)) {
        fputs("usage: demo_check KERNEL.so dense|conv2d KEY=VALUE ...\n", stderr);
        return 2;
    }
    setenv("TS_NUM_THREADS", "1", 1);
    openblas_set_num_threads(1);
    Check *c = calloc(1, sizeof *c);
    TsModule *module = NULL;
    TsError err;
    int status = 1;
    if (!c) {
        fputs("demo_check: out of memory\n", stderr);
        return 1;
    }
    c->op = argv[2];
    if (ts_module_load(argv[1], &module, &err) != TS_OK)
        goto out_fail;
    if (ts_module_num_funcs(module) < 1) {
        ts_fail(&err, TS_EINVAL, "%s has no function", argv[1]);
        goto out_fail;
    }
    const TsFuncEntry *entry = ts_module_func(module, 0);
    printf("%s: loaded %s(%s)\n", argv[1], entry->name, entry->signature);
    if (ts_signature_parse(entry->signature, MAX_ARGS, c->spec, &c->num_args, &err) != TS_OK)
        goto out_fail;
    bind(c);
    TsStatus st = strcmp(c->op, "dense") == 0 ? check_dense(entry, c, argc - 3, argv + 3, &err)
                                              : check_conv(entry, c, argc - 3, argv + 3, &err);
    if (st != TS_OK || compare_speed(entry, c, &err) != TS_OK)
        goto out_fail;
    status = 0;
    goto out_free;
out_fail:
    fprintf(stderr, "demo_check: %s\n", err.message);
out_free:
    for (int i = 0; i < c->num_args; i++)
        free(c->buffers[i]);
    free(c);
    if (module)
        ts_module_release(module);
    return status;
}
