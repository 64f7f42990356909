/* Tests of ts_op_conv2d: the reference interpreter's result against a naive C
 * convolution and against im2col + OpenBLAS cblas_sgemm, in NCHW/OIHW and NHWC/HWIO,
 * on odd shapes (prime extents, 1x1 kernels, stride larger than the kernel, asymmetric
 * padding, dilation 2, groups 2, depthwise with and without a channel multiplier), int8
 * data accumulating exactly in int32, the stage structure (a "pad" stage only when
 * padding, the tag per kind), and the errors for bad shapes and attributes.
 *
 * Float tolerance: an output sums R = (in-channels per group) * KH * KW products in
 * float32, so it may differ from the exact (double) sum by (R + 1) * 2^-23 * sum |x * w|
 * (recursive summation bound); sgemm obeys the same bound, so interpreter and sgemm
 * may differ by twice that.
 */
#include "ops_testing.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct ConvCase {
    TsLayout layout;
    int64_t n, c, h, w; /* data */
    int64_t o, kh, kw;  /* weight: out-channels and kernel */
    int64_t stride[2], pad[4], dil[2], groups;
} ConvCase;

/* clang-format off */
static const ConvCase conv_cases[] = {
    /* layout          n  c   h   w   o kh kw  stride    pad (t,l,b,r)  dil    groups */
    { TS_LAYOUT_NCHW,  1, 3,  7,  7,  4, 3, 3, { 1, 1 }, { 0, 0, 0, 0 }, { 1, 1 }, 1 },
    { TS_LAYOUT_NCHW,  2, 5, 11, 13,  7, 3, 2, { 2, 3 }, { 1, 2, 0, 1 }, { 1, 1 }, 1 },
    { TS_LAYOUT_NCHW,  1, 4,  5,  5,  6, 1, 1, { 1, 1 }, { 0, 0, 0, 0 }, { 1, 1 }, 1 },
    { TS_LAYOUT_NCHW,  1, 2, 10,  9,  3, 2, 2, { 3, 3 }, { 0, 0, 0, 0 }, { 1, 1 }, 1 },
    { TS_LAYOUT_NCHW,  1, 3,  9,  8,  2, 3, 3, { 1, 1 }, { 2, 2, 2, 2 }, { 2, 2 }, 1 },
    { TS_LAYOUT_NCHW,  2, 4,  7,  6,  6, 3, 3, { 1, 2 }, { 1, 1, 1, 1 }, { 1, 1 }, 2 },
    { TS_LAYOUT_NCHW,  1, 3,  7,  7,  3, 3, 3, { 1, 1 }, { 1, 1, 1, 1 }, { 1, 1 }, 3 },
    { TS_LAYOUT_NCHW,  1, 3,  8,  7,  6, 3, 2, { 2, 1 }, { 0, 1, 2, 0 }, { 2, 1 }, 3 },
    { TS_LAYOUT_NCHW,  1, 1,  1,  1,  1, 1, 1, { 1, 1 }, { 0, 0, 0, 0 }, { 1, 1 }, 1 },
    { TS_LAYOUT_NCHW,  1, 2,  5,  4,  3, 5, 4, { 1, 1 }, { 0, 0, 0, 0 }, { 1, 1 }, 1 },
    { TS_LAYOUT_NHWC,  1, 3,  7,  7,  4, 3, 3, { 1, 1 }, { 0, 0, 0, 0 }, { 1, 1 }, 1 },
    { TS_LAYOUT_NHWC,  2, 5, 11, 13,  7, 3, 2, { 2, 3 }, { 1, 2, 0, 1 }, { 1, 1 }, 1 },
    { TS_LAYOUT_NHWC,  1, 3,  9,  8,  2, 3, 3, { 1, 1 }, { 2, 2, 2, 2 }, { 2, 2 }, 1 },
    { TS_LAYOUT_NHWC,  1, 4,  7,  6,  6, 3, 3, { 1, 2 }, { 1, 1, 1, 1 }, { 1, 1 }, 2 },
    { TS_LAYOUT_NHWC,  1, 3,  7,  7,  3, 3, 3, { 1, 1 }, { 1, 1, 1, 1 }, { 1, 1 }, 3 },
    { TS_LAYOUT_NHWC,  1, 3,  8,  7,  6, 3, 2, { 2, 1 }, { 0, 1, 2, 0 }, { 2, 1 }, 3 },
    { TS_LAYOUT_NHWC,  1, 2, 10,  9,  3, 1, 1, { 3, 2 }, { 0, 0, 0, 0 }, { 1, 1 }, 1 },
    /* layer-sized: reductions of 72 and 144 terms into 2 x 16 x 13 x 13 outputs */
    { TS_LAYOUT_NCHW,  2, 16, 13, 13, 16, 3, 3, { 1, 1 }, { 1, 1, 1, 1 }, { 1, 1 }, 2 },
    { TS_LAYOUT_NHWC,  2, 16, 13, 13, 16, 3, 3, { 1, 1 }, { 1, 1, 1, 1 }, { 1, 1 }, 1 },
};
/* clang-format on */

#define NUM_CASES (sizeof conv_cases / sizeof conv_cases[0])

typedef struct ConvDims {
    int64_t ig, og; /* channels per group: in, out */
    int64_t oh, ow;
} ConvDims;

static ConvDims conv_dims(const ConvCase *c)
{
    ConvDims d;
    d.ig = c->c / c->groups;
    d.og = c->o / c->groups;
    d.oh = (c->h + c->pad[0] + c->pad[2] - (c->kh - 1) * c->dil[0] - 1) / c->stride[0] + 1;
    d.ow = (c->w + c->pad[1] + c->pad[3] - (c->kw - 1) * c->dil[1] - 1) / c->stride[1] + 1;
    return d;
}

static bool nchw(const ConvCase *c)
{
    return c->layout == TS_LAYOUT_NCHW;
}

static size_t data_index(const ConvCase *c, int64_t n, int64_t ch, int64_t y, int64_t x)
{
    return (size_t)(nchw(c) ? ((n * c->c + ch) * c->h + y) * c->w + x
                            : ((n * c->h + y) * c->w + x) * c->c + ch);
}

static size_t weight_index(const ConvCase *c, int64_t o, int64_t i, int64_t ky, int64_t kx)
{
    int64_t ig = c->c / c->groups;
    return (size_t)(nchw(c) ? ((o * ig + i) * c->kh + ky) * c->kw + kx
                            : ((ky * c->kw + kx) * ig + i) * c->o + o);
}

static size_t out_index(const ConvCase *c, const ConvDims *d, int64_t n, int64_t o, int64_t y,
                        int64_t x)
{
    return (size_t)(nchw(c) ? ((n * c->o + o) * d->oh + y) * d->ow + x
                            : ((n * d->oh + y) * d->ow + x) * c->o + o);
}

/* The data element at a padded position, 0 in the padding. */
static double padded_at(const ConvCase *c, const float *data, int64_t n, int64_t ch, int64_t y,
                        int64_t x)
{
    y -= c->pad[0];
    x -= c->pad[1];
    if (y < 0 || y >= c->h || x < 0 || x >= c->w)
        return 0.0;
    return data[data_index(c, n, ch, y, x)];
}

static int64_t out_size(const ConvCase *c, const ConvDims *d)
{
    return c->n * c->o * d->oh * d->ow;
}

static int64_t data_size(const ConvCase *c)
{
    return c->n * c->c * c->h * c->w;
}

static int64_t weight_size(const ConvCase *c)
{
    return c->o * (c->c / c->groups) * c->kh * c->kw;
}

/* Naive convolution in double, with the sum of |terms| per output for the bound. */
static void naive_conv(const ConvCase *c, const float *data, const float *weight, double *want,
                       double *abs_sum)
{
    ConvDims d = conv_dims(c);
    for (int64_t n = 0; n < c->n; n++)
        for (int64_t o = 0; o < c->o; o++)
            for (int64_t y = 0; y < d.oh; y++)
                for (int64_t x = 0; x < d.ow; x++) {
                    double sum = 0.0, abs = 0.0;
                    int64_t g = o / d.og;
                    for (int64_t i = 0; i < d.ig; i++)
                        for (int64_t ky = 0; ky < c->kh; ky++)
                            for (int64_t kx = 0; kx < c->kw; kx++) {
                                double v = padded_at(c, data, n, g * d.ig + i,
                                                     y * c->stride[0] + ky * c->dil[0],
                                                     x * c->stride[1] + kx * c->dil[1]);
                                double p = v * weight[weight_index(c, o, i, ky, kx)];
                                sum += p;
                                abs += fabs(p);
                            }
                    want[out_index(c, &d, n, o, y, x)] = sum;
                    abs_sum[out_index(c, &d, n, o, y, x)] = abs;
                }
}

/* The im2col column of output point (y, x) for group g: its R = ig * kh * kw inputs,
 * ordered as the weight's reduction index ((i, ky, kx) in OIHW, (ky, kx, i) in HWIO). */
static void im2col_point(const ConvCase *c, const float *data, int64_t n, int64_t g, int64_t y,
                         int64_t x, float *col, int64_t col_stride)
{
    ConvDims d = conv_dims(c);
    for (int64_t i = 0; i < d.ig; i++)
        for (int64_t ky = 0; ky < c->kh; ky++)
            for (int64_t kx = 0; kx < c->kw; kx++) {
                int64_t r = nchw(c) ? (i * c->kh + ky) * c->kw + kx : (ky * c->kw + kx) * d.ig + i;
                col[r * col_stride] =
                    (float)padded_at(c, data, n, g * d.ig + i, y * c->stride[0] + ky * c->dil[0],
                                     x * c->stride[1] + kx * c->dil[1]);
            }
}

/* The convolution as one sgemm per (image, group) over im2col matrices. NCHW:
 * out_g[og, P] = W_g[og, R] x col[R, P]; NHWC: out_g[P, og] = col[P, R] x W_g[R, og]
 * with the weight's and the output's rows strided by the out-channel count. */
static void sgemm_conv(const ConvCase *c, const float *data, const float *weight, float *out)
{
    ConvDims d = conv_dims(c);
    int64_t p_count = d.oh * d.ow, r = d.ig * c->kh * c->kw;
    float *col = calloc((size_t)(p_count * r), sizeof *col);
    for (int64_t n = 0; n < c->n; n++) {
        for (int64_t g = 0; g < c->groups; g++) {
            for (int64_t p = 0; p < p_count; p++)
                im2col_point(c, data, n, g, p / d.ow, p % d.ow, nchw(c) ? col + p : col + p * r,
                             nchw(c) ? p_count : 1);
            if (nchw(c))
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)d.og, (int)p_count,
                            (int)r, 1.0f, weight + g * d.og * r, (int)r, col, (int)p_count, 0.0f,
                            out + (n * c->o + g * d.og) * p_count, (int)p_count);
            else
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)p_count, (int)d.og,
                            (int)r, 1.0f, col, (int)r, weight + g * d.og, (int)c->o, 0.0f,
                            out + n * p_count * c->o + g * d.og, (int)c->o);
        }
    }
    free(col);
}

static TsConv2dAttrs case_attrs(const ConvCase *c)
{
    TsConv2dAttrs attrs = ts_conv2d_attrs_default();
    attrs.layout = c->layout;
    memcpy(attrs.stride, c->stride, sizeof attrs.stride);
    memcpy(attrs.padding, c->pad, sizeof attrs.padding);
    memcpy(attrs.dilation, c->dil, sizeof attrs.dilation);
    attrs.groups = c->groups;
    return attrs;
}

static void case_placeholders(TsArena *arena, const ConvCase *c, TsDType dtype, TsTensor **data,
                              TsTensor **weight)
{
    int64_t ig = c->c / c->groups;
    int64_t sd[4] = { c->n, c->c, c->h, c->w }, sw[4] = { c->o, ig, c->kh, c->kw };
    if (!nchw(c)) {
        int64_t sd_nhwc[4] = { c->n, c->h, c->w, c->c }, sw_hwio[4] = { c->kh, c->kw, ig, c->o };
        memcpy(sd, sd_nhwc, sizeof sd);
        memcpy(sw, sw_hwio, sizeof sw);
    }
    *data = ops_placeholder(arena, "data", dtype, 4, sd);
    *weight = ops_placeholder(arena, "weight", dtype, 4, sw);
}

static const char *expected_tag(const ConvCase *c)
{
    if (c->groups == 1)
        return nchw(c) ? "conv2d_nchw" : "conv2d_nhwc";
    if (c->groups == c->c)
        return nchw(c) ? "depthwise_conv2d_nchw" : "depthwise_conv2d_nhwc";
    return nchw(c) ? "group_conv2d_nchw" : "group_conv2d_nhwc";
}

/* Shape, tag and the pad stage (present exactly when some side is padded). */
static void check_structure(const ConvCase *c, const TsTensor *out, const TsTensor *data)
{
    ConvDims d = conv_dims(c);
    int64_t shape[4] = { c->n, c->o, d.oh, d.ow };
    if (!nchw(c)) {
        int64_t nhwc[4] = { c->n, d.oh, d.ow, c->o };
        memcpy(shape, nhwc, sizeof shape);
    }
    ops_expect_shape(out, 4, shape);
    ops_expect_tag(out, "conv2d", expected_tag(c));
    bool padded = c->pad[0] || c->pad[1] || c->pad[2] || c->pad[3];
    const TsTensor *src = ts_tensor_input(out, 0);
    if (padded) {
        ops_expect_tag(src, "pad", "pad");
        assert_ptr_equal(ts_tensor_input(src, 0), data);
    } else {
        assert_ptr_equal(src, data);
    }
}

static void check_conv_f32(const ConvCase *c, OpsRng *rng)
{
    TsArena *arena = ts_arena_create();
    TsTensor *data, *weight;
    case_placeholders(arena, c, TS_FLOAT32, &data, &weight);
    TsConv2dAttrs attrs = case_attrs(c);
    TsTensor *out = ts_op_conv2d(arena, data, weight, &attrs);
    ops_expect_built(arena, out);
    check_structure(c, out, data);

    ConvDims d = conv_dims(c);
    size_t n_out = (size_t)out_size(c, &d);
    float *dd = ops_random_buffer(rng, data), *dw = ops_random_buffer(rng, weight);
    float *got = ops_buffer(out), *blas = calloc(n_out, sizeof *blas);
    double *want = calloc(n_out, sizeof *want), *bound = calloc(n_out, sizeof *bound);
    double *blas_d = calloc(n_out, sizeof *blas_d);
    naive_conv(c, dd, dw, want, bound);
    double r = (double)(d.ig * c->kh * c->kw);
    for (size_t i = 0; i < n_out; i++)
        bound[i] *= (r + 1) * OPS_F32_EPS;
    ops_evaluate(out, got, 2, (TsBinding[]){ { data, dd }, { weight, dw } });
    ops_expect_f32_within(got, want, bound, n_out, "conv2d vs naive C");

    sgemm_conv(c, dd, dw, blas);
    for (size_t i = 0; i < n_out; i++) {
        blas_d[i] = blas[i];
        bound[i] *= 2;
    }
    ops_expect_f32_within(got, blas_d, bound, n_out, "conv2d vs im2col + sgemm");
    free(dd), free(dw), free(got), free(blas), free(want), free(bound), free(blas_d);
    ts_arena_destroy(arena);
}

static void test_conv2d_f32(void **state)
{
    (void)state;
    OpsRng rng;
    ops_rng_seed(&rng, 11);
    for (size_t i = 0; i < NUM_CASES; i++)
        check_conv_f32(&conv_cases[i], &rng);
}

/* int8 data and weights, out_dtype int32: exact against a naive int64 sum. */
static void check_conv_i8(const ConvCase *c, OpsRng *rng)
{
    TsArena *arena = ts_arena_create();
    TsTensor *data, *weight;
    case_placeholders(arena, c, TS_INT8, &data, &weight);
    TsConv2dAttrs attrs = case_attrs(c);
    attrs.out_dtype = TS_INT32;
    TsTensor *out = ts_op_conv2d(arena, data, weight, &attrs);
    ops_expect_built(arena, out);
    check_structure(c, out, data);
    assert_true(ts_dtype_eq(ts_tensor_dtype(out), TS_INT32));

    ConvDims d = conv_dims(c);
    size_t n_out = (size_t)out_size(c, &d);
    int8_t *dd = ops_random_buffer(rng, data), *dw = ops_random_buffer(rng, weight);
    int32_t *got = ops_buffer(out);
    float *fd = calloc((size_t)data_size(c), sizeof *fd),
          *fw = calloc((size_t)weight_size(c), sizeof *fw);
    double *want_d = calloc(n_out, sizeof *want_d), *abs_sum = calloc(n_out, sizeof *abs_sum);
    int64_t *want = calloc(n_out, sizeof *want);
    /* Small integers are exact in float and double, so the float reference is exact. */
    for (int64_t i = 0; i < data_size(c); i++)
        fd[i] = dd[i];
    for (int64_t i = 0; i < weight_size(c); i++)
        fw[i] = dw[i];
    naive_conv(c, fd, fw, want_d, abs_sum);
    for (size_t i = 0; i < n_out; i++)
        want[i] = (int64_t)want_d[i];
    ops_evaluate(out, got, 2, (TsBinding[]){ { data, dd }, { weight, dw } });
    ops_expect_i32_equal(got, want, n_out, "conv2d int8->int32");
    free(dd), free(dw), free(got), free(fd), free(fw), free(want_d), free(abs_sum), free(want);
    ts_arena_destroy(arena);
}

static void test_conv2d_int8(void **state)
{
    (void)state;
    OpsRng rng;
    ops_rng_seed(&rng, 12);
    for (size_t i = 0; i < NUM_CASES; i++)
        check_conv_i8(&conv_cases[i], &rng);
}

static void test_conv2d_defaults(void **state)
{
    (void)state;
    TsConv2dAttrs attrs = ts_conv2d_attrs_default();
    assert_int_equal(attrs.stride[0], 1);
    assert_int_equal(attrs.stride[1], 1);
    assert_int_equal(attrs.dilation[0], 1);
    assert_int_equal(attrs.dilation[1], 1);
    for (int i = 0; i < 4; i++)
        assert_int_equal(attrs.padding[i], 0);
    assert_int_equal(attrs.groups, 1);
    assert_int_equal(attrs.layout, TS_LAYOUT_NCHW);
    assert_int_equal(attrs.out_dtype.bits, 0);
}

/* Each attribute and shape error, with the message naming the culprit. */
static void test_conv2d_errors(void **state)
{
    (void)state;
    TsArena *arena = ts_arena_create();
    TsTensor *data = ops_placeholder(arena, "x", TS_FLOAT32, 4, (int64_t[]){ 1, 4, 4, 4 });
    TsTensor *w = ops_placeholder(arena, "w", TS_FLOAT32, 4, (int64_t[]){ 6, 4, 3, 3 });
    TsTensor *w_g2 = ops_placeholder(arena, "w_g2", TS_FLOAT32, 4, (int64_t[]){ 6, 3, 3, 3 });
    TsTensor *w_big = ops_placeholder(arena, "w_big", TS_FLOAT32, 4, (int64_t[]){ 6, 4, 5, 1 });
    TsTensor *w_i8 = ops_placeholder(arena, "w_i8", TS_INT8, 4, (int64_t[]){ 6, 4, 3, 3 });
    TsTensor *x3 = ops_placeholder(arena, "x3", TS_FLOAT32, 3, (int64_t[]){ 4, 4, 4 });
    TsConv2dAttrs a = ts_conv2d_attrs_default();

    a.groups = 2;
    ops_expect_error(arena, ts_op_conv2d(arena, data, w_g2, &a),
                     "conv2d: weight in-channels 3 != data channels 4 / groups 2");
    a.groups = 3;
    ops_expect_error(arena, ts_op_conv2d(arena, data, w, &a),
                     "conv2d: groups 3 does not divide data channels 4");
    a = ts_conv2d_attrs_default();
    ops_expect_error(arena, ts_op_conv2d(arena, data, w_big, &a),
                     "conv2d: dilated kernel height 5 exceeds padded input height 4");
    a.dilation[1] = 2;
    ops_expect_error(arena, ts_op_conv2d(arena, data, w, &a),
                     "conv2d: dilated kernel width 5 exceeds padded input width 4");
    a = ts_conv2d_attrs_default();
    a.stride[0] = 0;
    ops_expect_error(arena, ts_op_conv2d(arena, data, w, &a), "conv2d: stride[0] (height) = 0");
    a = ts_conv2d_attrs_default();
    a.padding[3] = -1;
    ops_expect_error(arena, ts_op_conv2d(arena, data, w, &a), "conv2d: padding[3] (right) = -1");
    a = ts_conv2d_attrs_default();
    a.dilation[0] = 0;
    ops_expect_error(arena, ts_op_conv2d(arena, data, w, &a), "conv2d: dilation[0] (height) = 0");
    a = ts_conv2d_attrs_default();
    a.groups = 0;
    ops_expect_error(arena, ts_op_conv2d(arena, data, w, &a), "conv2d: groups = 0");
    a = ts_conv2d_attrs_default();
    a.layout = (TsLayout)7;
    ops_expect_error(arena, ts_op_conv2d(arena, data, w, &a), "conv2d: layout 7");
    a = ts_conv2d_attrs_default();
    ops_expect_error(arena, ts_op_conv2d(arena, x3, w, &a), "conv2d: data 'x3' has rank 3");
    ops_expect_error(arena, ts_op_conv2d(arena, data, w_i8, &a),
                     "conv2d: data 'x' has dtype float32 but weight 'w_i8' has dtype int8");
    ops_expect_error(arena, ts_op_conv2d(arena, data, w, NULL), "conv2d: attrs is NULL");
    ops_expect_error(arena, ts_op_conv2d(arena, data, NULL, &a), "conv2d: weight is NULL");
    a.out_dtype = TS_FLOAT16;
    ops_expect_error(arena, ts_op_conv2d(arena, data, w, &a),
                     "conv2d: cannot accumulate in float16");
    /* Out-channels must split into the groups too. */
    TsTensor *x6 = ops_placeholder(arena, "x6", TS_FLOAT32, 4, (int64_t[]){ 1, 6, 4, 4 });
    TsTensor *w5 = ops_placeholder(arena, "w5", TS_FLOAT32, 4, (int64_t[]){ 5, 2, 3, 3 });
    a = ts_conv2d_attrs_default();
    a.groups = 3;
    ops_expect_error(arena, ts_op_conv2d(arena, x6, w5, &a),
                     "conv2d: groups 3 does not divide weight out-channels 5");
    ts_arena_destroy(arena);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv2d_f32),
        cmocka_unit_test(test_conv2d_int8),
        cmocka_unit_test(test_conv2d_defaults),
        cmocka_unit_test(test_conv2d_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
