/* The reference dense (cblas_sgemm with the weight transposed) and its OpenBLAS child;
 * see dense_reference.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <cblas.h>

#include "benchmarks/dense_reference.h"

void dense_operands_init(DenseOperands *d, int64_t m, int64_t n, int64_t k)
{
    *d = (DenseOperands){ m, n, k, bench_alloc_floats((size_t)(m * k)),
                          bench_alloc_floats((size_t)(n * k)), bench_alloc_floats((size_t)(m * n)) };
    bench_fill_uniform(d->data, (size_t)(m * k), 1);
    bench_fill_uniform(d->weight, (size_t)(n * k), 2);
}

void dense_operands_free(DenseOperands *d)
{
    free(d->data);
    free(d->weight);
    free(d->out);
}

void dense_reference(const DenseOperands *d)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)d->m, (int)d->n, (int)d->k, 1.0f,
                d->data, (int)d->k, d->weight, (int)d->k, 0.0f, d->out, (int)d->n);
}

void dense_reference_magnitude(const DenseOperands *d, float *magnitude)
{
    DenseOperands abs_d = *d;
    abs_d.data = bench_alloc_floats((size_t)(d->m * d->k));
    abs_d.weight = bench_alloc_floats((size_t)(d->n * d->k));
    abs_d.out = magnitude;
    for (int64_t i = 0; i < d->m * d->k; i++)
        abs_d.data[i] = fabsf(d->data[i]);
    for (int64_t i = 0; i < d->n * d->k; i++)
        abs_d.weight[i] = fabsf(d->weight[i]);
    dense_reference(&abs_d);
    free(abs_d.data);
    free(abs_d.weight);
}

static int32_t reference_packed(const TsValue *args, const int32_t *type_codes, int32_t num_args)
{
    (void)type_codes;
    (void)num_args;
    dense_reference(args[0].v_handle);
    return 0;
}

int dense_reference_child(int argc, char **argv)
{
    if (argc != 7)
        return 2;
    const char *corename = bench_child_setup();
    DenseOperands d;
    dense_operands_init(&d, atoll(argv[2]), atoll(argv[3]), atoll(argv[4]));
    TsTimeOptions options = bench_time_options(atoi(argv[5]), atof(argv[6]));
    TsValue arg = { .v_handle = &d };
    int32_t code = TS_ARG_HANDLE;
    BenchCosts costs = { .count = 0 };
    TsError err;
    int status = 0;
    if (bench_time(reference_packed, &arg, &code, 1, &options, &costs, &err) != TS_OK)
        status = bench_report_error("OpenBLAS child", &err);
    else
        bench_child_report(corename, &costs, NULL);
    dense_operands_free(&d);
    return status;
}

int dense_reference_child_args(const DenseOperands *d, int repeat, double min_repeat_ms,
                               char buf[5][24], const char *args[5])
{
    snprintf(buf[0], 24, "%lld", (long long)d->m);
    snprintf(buf[1], 24, "%lld", (long long)d->n);
    snprintf(buf[2], 24, "%lld", (long long)d->k);
    snprintf(buf[3], 24, "%d", repeat);
    snprintf(buf[4], 24, "%g", min_repeat_ms);
    for (int i = 0; i < 5; i++)
        args[i] = buf[i];
    return 5;
}
