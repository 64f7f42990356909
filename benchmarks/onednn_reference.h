/* oneDNN as the benchmarks' reference for convolutions and matrix products in fp32, bf16
 * and int8 (u8 data times s8 weights into s32), the library x86 frameworks call for them.
 *
 * A case is one primitive of oneDNN's choosing: its memory descriptors use format_tag
 * any, so oneDNN picks the blocked layouts its fastest implementation wants (on this
 * machine the AMX ones for bf16 and int8), and the operands are reordered into them once,
 * when the case is made, as a framework does with weights at load time and with data kept
 * blocked between layers. What is timed is the primitive alone. The caller hands in and
 * gets back plain layouts: NCHW data, OIHW weights, NCHW output (batch 1) for conv2d;
 * row-major A [M, K], B [K, N], C [M, N] for matmul.
 *
 * Element types per precision: ONEDNN_F32 float in, float out; ONEDNN_BF16 bfloat16 in
 * (uint16_t bit patterns), float out (bf16 products accumulate in fp32); ONEDNN_INT8
 * uint8_t data, int8_t weights, int32_t out.
 *
 * Debian's oneDNN runs its parallel regions with OpenMP: onednn_use_one_thread() sets the
 * OpenMP pool to one thread before any case is made, so every primitive runs on one. */
#ifndef TESSERA_BENCH_ONEDNN_REFERENCE_H
#define TESSERA_BENCH_ONEDNN_REFERENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "benchmarks/bench_util.h"

typedef enum OnednnPrecision { ONEDNN_F32, ONEDNN_BF16, ONEDNN_INT8 } OnednnPrecision;

typedef enum OnednnOp { ONEDNN_CONV2D, ONEDNN_MATMUL } OnednnOp;

/* A problem: for conv2d, batch 1, c input channels of h x w, f filters of r x s, the
 * same stride and padding on both axes; for matmul, C[m, n] = A[m, k] B[k, n]. */
typedef struct OnednnProblem {
    OnednnOp op;
    int64_t c, h, w, f, r, s, stride, pad; /* conv2d */
    int64_t m, n, k;                       /* matmul */
} OnednnProblem;

typedef struct OnednnCase OnednnCase;

/* "f32", "bf16" or "int8". */
const char *onednn_precision_name(OnednnPrecision precision);

/* Sets OpenMP's thread count to one (before the first case); returns the count oneDNN's
 * parallel regions will now use. */
int onednn_use_one_thread(void);

/* Elements of the plain data (or A), weights (or B) and output (or C) of a problem. */
size_t onednn_src_count(const OnednnProblem *p);
size_t onednn_weight_count(const OnednnProblem *p);
size_t onednn_dst_count(const OnednnProblem *p);
/* Multiply-adds times two. */
double onednn_flops(const OnednnProblem *p);

/* Makes the primitive and reorders src and weights (plain layouts, element types of the
 * precision) into the layouts it chose. An unsupported problem or precision is an error
 * naming it and oneDNN's status. */
TsStatus onednn_case_create(const OnednnProblem *p, OnednnPrecision precision, const void *src,
                            const void *weights, OnednnCase **out, TsError *err);
void onednn_case_free(OnednnCase *c);

/* The implementation oneDNN chose, e.g. "brg:avx512_core_amx". */
const char *onednn_case_impl(const OnednnCase *c);
/* Runs the primitive once. */
TsStatus onednn_case_run(OnednnCase *c, TsError *err);
/* Copies the last run's output into dst in the plain layout. */
TsStatus onednn_case_output(OnednnCase *c, void *dst, TsError *err);
/* Times the primitive with the runtime's time evaluator (as bench_time does for Tessera's
 * kernels) and appends the costs. */
TsStatus onednn_case_time(OnednnCase *c, const TsTimeOptions *options, BenchCosts *costs,
                          TsError *err);

/* float -> bfloat16, rounding to nearest even (NaN stays NaN). */
uint16_t onednn_bf16_from_float(float x);
float onednn_float_from_bf16(uint16_t x);

#endif /* TESSERA_BENCH_ONEDNN_REFERENCE_H */
