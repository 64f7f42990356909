/* The reference dense of the benchmarks and the demo: OpenBLAS's
 * cblas_sgemm(NoTrans, Trans), out[M, N] = data[M, K] . weight[N, K]^T (TVM's dense), and
 * its OpenBLAS child process (bench_util.h). */
#ifndef TESSERA_BENCH_DENSE_REFERENCE_H
#define TESSERA_BENCH_DENSE_REFERENCE_H

#include <stdint.h>

#include "benchmarks/bench_util.h"

typedef struct DenseOperands {
    int64_t m, n, k;
    float *data, *weight, *out;
} DenseOperands;

/* Allocates the operands and fills data and weight with uniform numbers. */
void dense_operands_init(DenseOperands *d, int64_t m, int64_t n, int64_t k);
void dense_operands_free(DenseOperands *d);
void dense_reference(const DenseOperands *d);
/* The reference on |data| and |weight| into magnitude (bench_max_relative_error). */
void dense_reference_magnitude(const DenseOperands *d, float *magnitude);

/* The child: argv is { self, BENCH_CHILD_FLAG, M, N, K, repeat, min_repeat_ms }. */
int dense_reference_child(int argc, char **argv);
int dense_reference_child_args(const DenseOperands *d, int repeat, double min_repeat_ms,
                               char buf[5][24], const char *args[5]);

#endif /* TESSERA_BENCH_DENSE_REFERENCE_H */
