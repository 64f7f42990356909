/* The reference convolution (im2col + sgemm), its OpenBLAS child, and the NCHW[x]c
 * layout conversions; see conv_reference.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "benchmarks/conv_reference.h"

bool conv_shape_init(ConvShape *s)
{
    if (s->c < 1 || s->h < 1 || s->w < 1 || s->f < 1 || s->r < 1 || s->s < 1 || s->stride < 1 ||
        s->pad < 0 || s->h + 2 * s->pad < s->r || s->w + 2 * s->pad < s->s)
        return false;
    s->oh = (s->h + 2 * s->pad - s->r) / s->stride + 1;
    s->ow = (s->w + 2 * s->pad - s->s) / s->stride + 1;
    return true;
}

double conv_flops(const ConvShape *s)
{
    return 2.0 * (double)s->f * (double)s->c * (double)(s->r * s->s) * (double)(s->oh * s->ow);
}

void conv_operands_init(ConvOperands *o, const ConvShape *shape, uint64_t data_seed,
                        uint64_t weight_seed)
{
    const ConvShape *s = shape;
    *o = (ConvOperands){ .shape = *shape };
    size_t nd = (size_t)(s->c * s->h * s->w), nw = (size_t)(s->f * s->c * s->r * s->s);
    o->data = bench_alloc_floats(nd);
    o->weight = bench_alloc_floats(nw);
    o->out = bench_alloc_floats((size_t)(s->f * s->oh * s->ow));
    o->col = bench_alloc_floats((size_t)(s->c * s->r * s->s * s->oh * s->ow));
    bench_fill_uniform(o->data, nd, data_seed);
    bench_fill_uniform(o->weight, nw, weight_seed);
}

void conv_operands_free(ConvOperands *o)
{
    free(o->data);
    free(o->weight);
    free(o->out);
    free(o->col);
}

/* The output columns x in [lo, hi) whose input column x * stride + kx - pad is inside. */
static void valid_columns(const ConvShape *s, int64_t kx, int64_t *lo, int64_t *hi)
{
    int64_t first = s->pad - kx; /* x * stride >= first */
    *lo = first <= 0 ? 0 : (first + s->stride - 1) / s->stride;
    int64_t last = s->w - 1 + s->pad - kx; /* x * stride <= last */
    *hi = last < 0 ? 0 : last / s->stride + 1;
    if (*hi > s->ow)
        *hi = s->ow;
    if (*lo > *hi)
        *lo = *hi;
}

/* col[(c * R + ky) * S + kx, y * OW + x] = data[c, y*stride + ky - pad, x*stride + kx - pad],
 * 0 outside the image. */
static void im2col(const ConvOperands *o)
{
    const ConvShape *s = &o->shape;
    for (int64_t c = 0; c < s->c; c++)
        for (int64_t ky = 0; ky < s->r; ky++)
            for (int64_t kx = 0; kx < s->s; kx++) {
                float *row = o->col + ((c * s->r + ky) * s->s + kx) * s->oh * s->ow;
                int64_t lo, hi;
                valid_columns(s, kx, &lo, &hi);
                for (int64_t y = 0; y < s->oh; y++) {
                    float *dst = row + y * s->ow;
                    int64_t sy = y * s->stride + ky - s->pad;
                    if (sy < 0 || sy >= s->h) {
                        memset(dst, 0, (size_t)s->ow * sizeof(float));
                        continue;
                    }
                    const float *src = o->data + (c * s->h + sy) * s->w + kx - s->pad;
                    for (int64_t x = 0; x < lo; x++)
                        dst[x] = 0.0f;
                    if (s->stride == 1)
                        memcpy(dst + lo, src + lo, (size_t)(hi - lo) * sizeof(float));
                    else
                        for (int64_t x = lo; x < hi; x++)
                            dst[x] = src[x * s->stride];
                    for (int64_t x = hi; x < s->ow; x++)
                        dst[x] = 0.0f;
                }
            }
}

void conv_reference_sgemm(const ConvOperands *o)
{
    const ConvShape *s = &o->shape;
    int64_t k = s->c * s->r * s->s, pixels = s->oh * s->ow;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)s->f, (int)pixels, (int)k, 1.0f,
                o->weight, (int)k, o->col, (int)pixels, 0.0f, o->out, (int)pixels);
}

void conv_reference(const ConvOperands *o)
{
    im2col(o);
    conv_reference_sgemm(o);
}

void conv_reference_magnitude(const ConvOperands *o, float *magnitude)
{
    const ConvShape *s = &o->shape;
    ConvOperands abs_o = *o;
    size_t nd = (size_t)(s->c * s->h * s->w), nw = (size_t)(s->f * s->c * s->r * s->s);
    abs_o.data = bench_alloc_floats(nd);
    abs_o.weight = bench_alloc_floats(nw);
    abs_o.col = bench_alloc_floats((size_t)(s->c * s->r * s->s * s->oh * s->ow));
    abs_o.out = magnitude;
    for (size_t i = 0; i < nd; i++)
        abs_o.data[i] = fabsf(o->data[i]);
    for (size_t i = 0; i < nw; i++)
        abs_o.weight[i] = fabsf(o->weight[i]);
    conv_reference(&abs_o);
    free(abs_o.data);
    free(abs_o.weight);
    free(abs_o.col);
}

static int32_t reference_packed(const TsValue *args, const int32_t *type_codes, int32_t num_args)
{
    (void)type_codes;
    (void)num_args;
    conv_reference(args[0].v_handle);
    return 0;
}

static int32_t sgemm_packed(const TsValue *args, const int32_t *type_codes, int32_t num_args)
{
    (void)type_codes;
    (void)num_args;
    conv_reference_sgemm(args[0].v_handle);
    return 0;
}

int conv_reference_child(int argc, char **argv)
{
    if (argc != 12)
        return 2;
    const char *corename = bench_child_setup();
    ConvShape s = { atoll(argv[2]), atoll(argv[3]), atoll(argv[4]), atoll(argv[5]),
                    atoll(argv[6]), atoll(argv[7]), atoll(argv[8]), atoll(argv[9]), 0, 0 };
    if (!conv_shape_init(&s))
        return 2;
    ConvOperands o;
    conv_operands_init(&o, &s, 11, 12);
    TsTimeOptions options = bench_time_options(atoi(argv[10]), atof(argv[11]));
    TsValue arg = { .v_handle = &o };
    int32_t code = TS_ARG_HANDLE;
    BenchCosts costs = { .count = 0 }, sgemm_costs = { .count = 0 };
    TsError err;
    int status = 0;
    if (bench_time(reference_packed, &arg, &code, 1, &options, &costs, &err) != TS_OK ||
        bench_time(sgemm_packed, &arg, &code, 1, &options, &sgemm_costs, &err) != TS_OK)
        status = bench_report_error("OpenBLAS child", &err);
    else
        bench_child_report(corename, &costs, &sgemm_costs);
    conv_operands_free(&o);
    return status;
}

int conv_reference_child_args(const ConvShape *s, int repeat, double min_repeat_ms,
                              char buf[10][24], const char *args[10])
{
    const long long values[8] = { s->c, s->h, s->w, s->f, s->r, s->s, s->stride, s->pad };
    for (int i = 0; i < 8; i++)
        snprintf(buf[i], 24, "%lld", values[i]);
    snprintf(buf[8], 24, "%d", repeat);
    snprintf(buf[9], 24, "%g", min_repeat_ms);
    for (int i = 0; i < 10; i++)
        args[i] = buf[i];
    return 10;
}

void conv_pack_data(const ConvShape *s, int64_t cb, const float *data, float *packed)
{
    int64_t hw = s->h * s->w;
    for (int64_t c = 0; c < s->c; c++)
        for (int64_t p = 0; p < hw; p++)
            packed[((c / cb) * hw + p) * cb + c % cb] = data[c * hw + p];
}

void conv_pack_weight(const ConvShape *s, int64_t ib, int64_t ob, const float *weight,
                      float *packed)
{
    int64_t rs = s->r * s->s;
    for (int64_t f = 0; f < s->f; f++)
        for (int64_t c = 0; c < s->c; c++)
            for (int64_t t = 0; t < rs; t++) {
                int64_t block = ((f / ob) * (s->c / ib) + c / ib) * rs + t;
                packed[(block * ib + c % ib) * ob + f % ob] = weight[(f * s->c + c) * rs + t];
            }
}

void conv_unpack_output(const ConvShape *s, int64_t ob, const float *packed, float *out)
{
    int64_t hw = s->oh * s->ow;
    for (int64_t f = 0; f < s->f; f++)
        for (int64_t p = 0; p < hw; p++)
            out[f * hw + p] = packed[((f / ob) * hw + p) * ob + f % ob];
}
