/* Tests of the low-precision benchmark's oneDNN reference (benchmarks/onednn_reference.c)
 * against naive C, so that the benchmark's baseline computes what Tessera's kernels do:
 * a strided, padded conv2d with channel counts that fit no block and a matmul of prime
 * extents, each in fp32, bf16 (products of bf16 values summed in fp32) and int8 (u8 data
 * times s8 weights, summed exactly in int32: bit-exact); the reorders into and out of
 * oneDNN's chosen layouts are part of what is checked. Also: oneDNN runs on one thread,
 * names its implementation, and a problem with no output is refused with its name.
 *
 * Float tolerance: an output sums K products; summed in another order in fp32 it may
 * differ from the double sum by (K + 1) * 2^-23 * sum |x * w|; 4x that is allowed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "benchmarks/onednn_reference.h"

static const OnednnProblem small_conv = {
    .op = ONEDNN_CONV2D, .c = 5, .h = 9, .w = 7, .f = 6, .r = 3, .s = 3, .stride = 2, .pad = 1
};
static const OnednnProblem small_matmul = { .op = ONEDNN_MATMUL, .m = 13, .n = 17, .k = 19 };

static uint64_t next_random(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Naive sums of x * w over the reduction of each output, for conv2d (NCHW, OIHW, batch
 * 1) or matmul: x and w as doubles read through the getters, out[i] the sum and mag[i]
 * the sum of |x * w|. */
typedef double (*Getter)(const void *values, size_t i);

static void naive(const OnednnProblem *p, const void *x, Getter gx, const void *w, Getter gw,
                  double *out, double *mag)
{
    if (p->op == ONEDNN_MATMUL) {
        for (int64_t i = 0; i < p->m; i++)
            for (int64_t j = 0; j < p->n; j++) {
                double sum = 0, abs_sum = 0;
                for (int64_t k = 0; k < p->k; k++) {
                    double term = gx(x, (size_t)(i * p->k + k)) * gw(w, (size_t)(k * p->n + j));
                    sum += term;
                    abs_sum += fabs(term);
                }
                out[i * p->n + j] = sum;
                mag[i * p->n + j] = abs_sum;
            }
        return;
    }
    int64_t oh = (p->h + 2 * p->pad - p->r) / p->stride + 1;
    int64_t ow = (p->w + 2 * p->pad - p->s) / p->stride + 1;
    for (int64_t f = 0; f < p->f; f++)
        for (int64_t y = 0; y < oh; y++)
            for (int64_t xo = 0; xo < ow; xo++) {
                double sum = 0, abs_sum = 0;
                for (int64_t c = 0; c < p->c; c++)
                    for (int64_t r = 0; r < p->r; r++)
                        for (int64_t s = 0; s < p->s; s++) {
                            int64_t iy = y * p->stride - p->pad + r;
                            int64_t ix = xo * p->stride - p->pad + s;
                            if (iy < 0 || iy >= p->h || ix < 0 || ix >= p->w)
                                continue;
                            double term = gx(x, (size_t)((c * p->h + iy) * p->w + ix)) *
                                          gw(w, (size_t)(((f * p->c + c) * p->r + r) * p->s + s));
                            sum += term;
                            abs_sum += fabs(term);
                        }
                out[(f * oh + y) * ow + xo] = sum;
                mag[(f * oh + y) * ow + xo] = abs_sum;
            }
}

static double get_f32(const void *v, size_t i)
{
    return ((const float *)v)[i];
}
static double get_bf16(const void *v, size_t i)
{
    return onednn_float_from_bf16(((const uint16_t *)v)[i]);
}
static double get_u8(const void *v, size_t i)
{
    return ((const uint8_t *)v)[i];
}
static double get_s8(const void *v, size_t i)
{
    return ((const int8_t *)v)[i];
}

static int64_t reduction(const OnednnProblem *p)
{
    return p->op == ONEDNN_MATMUL ? p->k : p->c * p->r * p->s;
}

/* Fills inputs of the precision, runs oneDNN, and compares with naive C. */
static void check_problem(const OnednnProblem *p, OnednnPrecision precision)
{
    size_t ns = onednn_src_count(p), nw = onednn_weight_count(p), nd = onednn_dst_count(p);
    float *src_f = malloc(ns * sizeof *src_f), *wei_f = malloc(nw * sizeof *wei_f);
    uint16_t *src_b = malloc(ns * sizeof *src_b), *wei_b = malloc(nw * sizeof *wei_b);
    uint8_t *src_u = malloc(ns);
    int8_t *wei_s = malloc(nw);
    double *want = malloc(nd * sizeof *want), *mag = malloc(nd * sizeof *mag);
    void *got = malloc(nd * 4);
    uint64_t state = 42;
    for (size_t i = 0; i < ns; i++) {
        uint64_t r = next_random(&state);
        src_f[i] = (float)((double)(r >> 11) * 0x1p-53 * 2 - 1);
        src_b[i] = onednn_bf16_from_float(src_f[i]);
        src_u[i] = (uint8_t)r; /* the whole range 0..255 */
    }
    for (size_t i = 0; i < nw; i++) {
        uint64_t r = next_random(&state);
        wei_f[i] = (float)((double)(r >> 11) * 0x1p-53 * 2 - 1);
        wei_b[i] = onednn_bf16_from_float(wei_f[i]);
        wei_s[i] = (int8_t)(uint8_t)r; /* -128..127 */
    }
    const void *src = src_f, *wei = wei_f;
    if (precision == ONEDNN_BF16) {
        src = src_b;
        wei = wei_b;
        naive(p, src_b, get_bf16, wei_b, get_bf16, want, mag);
    } else if (precision == ONEDNN_INT8) {
        src = src_u;
        wei = wei_s;
        naive(p, src_u, get_u8, wei_s, get_s8, want, mag);
    } else {
        naive(p, src_f, get_f32, wei_f, get_f32, want, mag);
    }
    OnednnCase *c = NULL;
    TsError err = { 0 };
    TsStatus st = onednn_case_create(p, precision, src, wei, &c, &err);
    if (st != TS_OK)
        fail_msg("%s", err.message);
    assert_true(strlen(onednn_case_impl(c)) > 0);
    assert_int_equal(onednn_case_run(c, &err), TS_OK);
    memset(got, 0xa5, nd * 4);
    assert_int_equal(onednn_case_output(c, got, &err), TS_OK);
    double bound = 4.0 * (double)(reduction(p) + 1) * 0x1p-23;
    for (size_t i = 0; i < nd; i++) {
        if (precision == ONEDNN_INT8) {
            if (((const int32_t *)got)[i] != (int32_t)want[i])
                fail_msg("%s element %zu: %d, want %.0f", onednn_case_impl(c), i,
                         ((const int32_t *)got)[i], want[i]);
        } else {
            double value = ((const float *)got)[i];
            if (!(fabs(value - want[i]) <= bound * mag[i] + 1e-30))
                fail_msg("%s %s element %zu: %.9g, want %.9g (bound %.3g)", onednn_case_impl(c),
                         onednn_precision_name(precision), i, value, want[i], bound * mag[i]);
        }
    }
    onednn_case_free(c);
    free(src_f), free(wei_f), free(src_b), free(wei_b), free(src_u), free(wei_s);
    free(want), free(mag), free(got);
}

static void test_conv_f32(void **state)
{
    (void)state;
    check_problem(&small_conv, ONEDNN_F32);
}

static void test_conv_bf16(void **state)
{
    (void)state;
    check_problem(&small_conv, ONEDNN_BF16);
}

static void test_conv_int8(void **state)
{
    (void)state;
    check_problem(&small_conv, ONEDNN_INT8);
}

static void test_matmul_f32(void **state)
{
    (void)state;
    check_problem(&small_matmul, ONEDNN_F32);
}

static void test_matmul_bf16(void **state)
{
    (void)state;
    check_problem(&small_matmul, ONEDNN_BF16);
}

static void test_matmul_int8(void **state)
{
    (void)state;
    check_problem(&small_matmul, ONEDNN_INT8);
}

/* A 1x1 convolution with stride 1 and no padding of a 64-channel block: the shape oneDNN
 * serves with its AMX kernels on this machine's kind of CPU. */
static void test_conv_int8_blocked(void **state)
{
    (void)state;
    OnednnProblem p = {
        .op = ONEDNN_CONV2D, .c = 64, .h = 6, .w = 6, .f = 32, .r = 1, .s = 1, .stride = 1
    };
    check_problem(&p, ONEDNN_INT8);
    check_problem(&p, ONEDNN_BF16);
}

static void test_one_thread(void **state)
{
    (void)state;
    assert_int_equal(onednn_use_one_thread(), 1);
}

static void test_no_output_refused(void **state)
{
    (void)state;
    OnednnProblem p = small_conv;
    p.r = 12; /* a 12-row kernel over 9 rows padded by 1 */
    OnednnCase *c = (OnednnCase *)&p;
    TsError err = { 0 };
    assert_int_equal(onednn_case_create(&p, ONEDNN_F32, NULL, NULL, &c, &err), TS_EINVAL);
    assert_null(c);
    assert_non_null(strstr(err.message, "conv2d f32 c5 9x7 f6 12x3 s2 p1"));
    assert_non_null(strstr(err.message, "no output"));
}

static void test_bf16_rounding(void **state)
{
    (void)state;
    assert_int_equal(onednn_bf16_from_float(1.0f), 0x3f80);
    /* 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: to even (1). */
    assert_int_equal(onednn_bf16_from_float(1.00390625f), 0x3f80);
    /* 1 + 3 * 2^-8 lies halfway between 1 + 2^-7 and 1 + 2^-6: to even (1 + 2^-6). */
    assert_int_equal(onednn_bf16_from_float(1.01171875f), 0x3f82);
    assert_true(isnan(onednn_float_from_bf16(onednn_bf16_from_float(NAN))));
}

int main(void)
{
    onednn_use_one_thread();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_thread),        cmocka_unit_test(test_bf16_rounding),
        cmocka_unit_test(test_conv_f32),          cmocka_unit_test(test_conv_bf16),
        cmocka_unit_test(test_conv_int8),         cmocka_unit_test(test_matmul_f32),
        cmocka_unit_test(test_matmul_bf16),       cmocka_unit_test(test_matmul_int8),
        cmocka_unit_test(test_conv_int8_blocked), cmocka_unit_test(test_no_output_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
