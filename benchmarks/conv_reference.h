/* The reference convolution of the benchmarks and the demo: im2col + OpenBLAS sgemm in
 * NCHW (batch 1, fp32), what frameworks without a convolution kernel do; its OpenBLAS
 * child process (bench_util.h); and the conversions between NCHW / OIHW and the
 * blocked-channel layouts of Tessera's conv2d template (NCHW[x]c data and output,
 * OIHW[x]i[y]o weights). */
#ifndef TESSERA_BENCH_CONV_REFERENCE_H
#define TESSERA_BENCH_CONV_REFERENCE_H

#include <stddef.h>
#include <stdint.h>

#include "benchmarks/bench_util.h"

typedef struct ConvShape {
    int64_t c, h, w, f, r, s, stride, pad;
    int64_t oh, ow; /* derived by conv_shape_init */
} ConvShape;

/* Fills oh and ow; false for a shape with no output. */
bool conv_shape_init(ConvShape *shape);
double conv_flops(const ConvShape *shape);

typedef struct ConvOperands {
    ConvShape shape;
    float *data;   /* [C, H, W] */
    float *weight; /* [F, C, R, S] */
    float *out;    /* [F, OH, OW] */
    float *col;    /* [C * R * S, OH * OW] */
} ConvOperands;

/* Allocates and fills data and weight with uniform numbers from the seeds. */
void conv_operands_init(ConvOperands *o, const ConvShape *shape, uint64_t data_seed,
                        uint64_t weight_seed);
void conv_operands_free(ConvOperands *o);

/* im2col into o->col, then sgemm into o->out. */
void conv_reference(const ConvOperands *o);
/* sgemm alone, on the columns im2col left. */
void conv_reference_sgemm(const ConvOperands *o);
/* The reference on |data| and |weight| into magnitude: the scale of each output's
 * rounding error (bench_max_relative_error). */
void conv_reference_magnitude(const ConvOperands *o, float *magnitude);

/* The OpenBLAS child of a conv benchmark: argv is { self, BENCH_CHILD_FLAG, C, H, W, F,
 * R, S, stride, pad, repeat, min_repeat_ms }; times the whole reference, then (the extra
 * series) sgemm alone. conv_reference_child_args writes the matching strings (each
 * buffer 24 bytes) and returns their count. */
int conv_reference_child(int argc, char **argv);
int conv_reference_child_args(const ConvShape *shape, int repeat, double min_repeat_ms,
                              char buf[10][24], const char *args[10]);

/* Layouts: data [C, H, W] -> [C/cb, H, W, cb]; weight [F, C, R, S] ->
 * [F/ob, C/ib, R, S, ib, ob]; output [F/ob, OH, OW, ob] -> [F, OH, OW]. */
void conv_pack_data(const ConvShape *shape, int64_t cb, const float *data, float *packed);
void conv_pack_weight(const ConvShape *shape, int64_t ib, int64_t ob, const float *weight,
                      float *packed);
void conv_unpack_output(const ConvShape *shape, int64_t ob, const float *packed, float *out);

#endif /* TESSERA_BENCH_CONV_REFERENCE_H */
