/* The quantized operators (te/ops/conv2d.c's ts_op_conv2d_integer, te/ops/matmul_int.c,
 * te/ops/quantize.c) and bf16 conv2d/dense, against naive C written here, in both
 * interpreters: the reference interpreter (ts_evaluate) and the loop interpreter on the
 * default lowering (ts_lowered_run). Integer results must be equal bit for bit.
 *
 * Shapes are odd on purpose (channels not a multiple of 16, stride 2, padding,
 * dilation, 1x1 and 7x7 kernels, batch 2, groups), and values reach the extremes:
 * zero points at the ends of their range, saturation, ties at .5, INT32_MIN in the
 * fixed-point path. Bad input is refused with a message naming the culprit. */
#include <fenv.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops_testing.h"

/* ---- running both interpreters ---- */

/* Evaluates out with ts_evaluate and with ts_lowered_run of the default schedule, and
 * checks that both equal want (bytes). */
static void run_both(TsTensor *out, int num_inputs, const TsBinding *inputs, const void *want,
                     const char *what)
{
    size_t bytes = (size_t)ts_tensor_num_elements(out) * ts_dtype_bytes(ts_tensor_dtype(out));
    void *ref = ops_buffer(out), *loop = ops_buffer(out);
    ops_evaluate(out, ref, num_inputs, inputs);
    ops_expect_bytes_equal(ref, want, bytes, what);

    TsArena *A = ts_arena_create();
    TsSchedule *sch = ts_schedule_create(A, 1, &out);
    TsLoweredFunc *func = NULL;
    TsError err;
    TsStatus status = ts_lower(sch, "quant", &func, &err);
    if (status != TS_OK)
        fail_msg("%s: lower: %s", what, err.message);
    TsBinding bind[16];
    assert_true(num_inputs < 16);
    memcpy(bind, inputs, (size_t)num_inputs * sizeof *bind);
    bind[num_inputs] = (TsBinding){ out, loop };
    status = ts_lowered_run(func, num_inputs + 1, bind, &err);
    if (status != TS_OK)
        fail_msg("%s: loop interpreter: %s", what, err.message);
    ops_expect_bytes_equal(loop, want, bytes, what);
    ts_arena_destroy(A);
    free(ref);
    free(loop);
}

static void fill_bytes(OpsRng *rng, uint8_t *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (uint8_t)ops_rand_int(rng, 0, 255);
}

/* An 8-bit element as an int. */
static int at8(const void *p, size_t i, bool is_signed)
{
    return is_signed ? ((const int8_t *)p)[i] : ((const uint8_t *)p)[i];
}

/* ---- conv2d_integer ---- */

typedef struct ConvCase {
    int64_t n, c, h, w, f, kh, kw;
    int64_t stride[2], pad[4], dilation[2], groups;
    bool data_signed, weight_signed;
    int data_zp;              /* < -1000: no data zero point */
    int weight_zp_mode;       /* 0 none, 1 per tensor, 2 per channel */
    int weight_zp_value;      /* per tensor, or the first channel's */
} ConvCase;

/* The ConvInteger definition, straight from the ONNX reference: shift by the zero points,
 * pad the shifted data with zeros, convolve in int32 (wrapping through uint32). */
static void naive_conv(const ConvCase *k, const void *x, const void *wt, int xzp,
                       const int *wzp, int64_t oh, int64_t ow, int32_t *out)
{
    int64_t gin = k->c / k->groups, gout = k->f / k->groups;
    for (int64_t n = 0; n < k->n; n++)
        for (int64_t f = 0; f < k->f; f++)
            for (int64_t y = 0; y < oh; y++)
                for (int64_t xo = 0; xo < ow; xo++) {
                    uint32_t acc = 0;
                    int64_t g = f / gout;
                    for (int64_t rc = 0; rc < gin; rc++)
                        for (int64_t ry = 0; ry < k->kh; ry++)
                            for (int64_t rx = 0; rx < k->kw; rx++) {
                                int64_t iy = y * k->stride[0] + ry * k->dilation[0] - k->pad[0];
                                int64_t ix = xo * k->stride[1] + rx * k->dilation[1] - k->pad[1];
                                int64_t c = g * gin + rc;
                                int xv = 0;
                                if (iy >= 0 && iy < k->h && ix >= 0 && ix < k->w)
                                    xv = at8(x, (size_t)(((n * k->c + c) * k->h + iy) * k->w + ix),
                                             k->data_signed) - xzp;
                                int wv = at8(wt, (size_t)(((f * gin + rc) * k->kh + ry) * k->kw + rx),
                                             k->weight_signed) - wzp[f];
                                acc += (uint32_t)(xv * wv);
                            }
                    out[((n * k->f + f) * oh + y) * ow + xo] = (int32_t)acc;
                }
}

static void check_conv(const ConvCase *k, uint64_t seed)
{
    TsArena *A = ts_arena_create();
    OpsRng rng;
    ops_rng_seed(&rng, seed);
    TsDType dt = k->data_signed ? TS_INT8 : TS_UINT8, wdt = k->weight_signed ? TS_INT8 : TS_UINT8;
    TsTensor *x = ops_placeholder(A, "x", dt, 4, (int64_t[]){ k->n, k->c, k->h, k->w });
    TsTensor *w = ops_placeholder(A, "w", wdt, 4,
                                  (int64_t[]){ k->f, k->c / k->groups, k->kh, k->kw });
    TsTensor *xzp = k->data_zp < -1000 ? NULL : ops_placeholder(A, "x_zp", dt, 0, NULL);
    TsTensor *wzp = k->weight_zp_mode == 0   ? NULL
                    : k->weight_zp_mode == 1 ? ops_placeholder(A, "w_zp", wdt, 1, (int64_t[]){ 1 })
                                             : ops_placeholder(A, "w_zp", wdt, 1, &k->f);
    TsConv2dAttrs attrs = ts_conv2d_attrs_default();
    memcpy(attrs.stride, k->stride, sizeof attrs.stride);
    memcpy(attrs.padding, k->pad, sizeof attrs.padding);
    memcpy(attrs.dilation, k->dilation, sizeof attrs.dilation);
    attrs.groups = k->groups;
    TsTensor *out = ts_op_conv2d_integer(A, x, w, xzp, wzp, &attrs);
    ops_expect_built(A, out);
    assert_true(ts_dtype_eq(ts_tensor_dtype(out), TS_INT32));
    int64_t oh = ts_tensor_dim(out, 2), ow = ts_tensor_dim(out, 3);

    uint8_t *xd = ops_buffer(x), *wd = ops_buffer(w);
    fill_bytes(&rng, xd, (size_t)ts_tensor_num_elements(x));
    fill_bytes(&rng, wd, (size_t)ts_tensor_num_elements(w));
    uint8_t xzp_byte = (uint8_t)k->data_zp, wzp_bytes[512];
    int wzp_int[512];
    assert_true(k->f <= 512);
    for (int64_t f = 0; f < k->f; f++) {
        int v = k->weight_zp_mode == 0 ? 0
                : k->weight_zp_mode == 1 ? k->weight_zp_value
                : f == 0 ? k->weight_zp_value
                         : ops_rand_int(&rng, k->weight_signed ? -128 : 0, k->weight_signed ? 127 : 255);
        wzp_bytes[f] = (uint8_t)v;
        wzp_int[f] = v;
    }
    TsBinding in[4] = { { x, xd }, { w, wd } };
    int num = 2;
    if (xzp)
        in[num++] = (TsBinding){ xzp, &xzp_byte };
    if (wzp)
        in[num++] = (TsBinding){ wzp, wzp_bytes };
    int32_t *want = ops_buffer(out);
    naive_conv(k, xd, wd, xzp ? k->data_zp : 0, wzp_int, oh, ow, want);
    char what[96];
    snprintf(what, sizeof what, "conv2d_integer %lldx%lld k%lld s%lld g%lld", (long long)k->c,
             (long long)k->f, (long long)k->kh, (long long)k->stride[0], (long long)k->groups);
    run_both(out, num, in, want, what);
    free(xd);
    free(wd);
    free(want);
    ts_arena_destroy(A);
}

static void test_conv2d_integer(void **state)
{
    (void)state;
    const ConvCase cases[] = {
        /* 3x3, padding 1, batch 2, u8 x s8, zero points per tensor at the range ends */
        { 2, 19, 9, 8, 21, 3, 3, { 1, 1 }, { 1, 1, 1, 1 }, { 1, 1 }, 1, false, true, 255, 1, -128 },
        /* stride 2, asymmetric padding, per-channel weight zero points, s8 x s8 */
        { 1, 17, 11, 10, 5, 3, 3, { 2, 2 }, { 1, 0, 2, 1 }, { 1, 1 }, 1, true, true, -128, 2, 127 },
        /* 1x1, no zero points (the plain int32 product) */
        { 2, 33, 5, 6, 18, 1, 1, { 1, 1 }, { 0, 0, 0, 0 }, { 1, 1 }, 1, false, true, -2000, 0, 0 },
        /* 7x7, stride 2, padding 3 (a ResNet stem), u8 x u8 */
        { 1, 3, 15, 13, 7, 7, 7, { 2, 2 }, { 3, 3, 3, 3 }, { 1, 1 }, 1, false, false, 0, 1, 255 },
        /* groups 3 and dilation 2 */
        { 2, 9, 9, 9, 6, 3, 3, { 1, 1 }, { 2, 2, 2, 2 }, { 2, 2 }, 3, false, true, 128, 2, -1 },
        /* depthwise, stride 2 */
        { 1, 5, 8, 7, 5, 3, 3, { 2, 2 }, { 1, 1, 1, 1 }, { 1, 1 }, 5, true, true, 127, 2, -128 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_conv(&cases[i], 100 + i);
}

/* The padding holds the data's zero point: ONNX's own example
 * (test_convinteger_with_padding in the ONNX operator docs). */
static void test_conv2d_integer_onnx_padding(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    TsTensor *x = ops_placeholder(A, "x", TS_UINT8, 4, (int64_t[]){ 1, 1, 3, 3 });
    TsTensor *w = ops_placeholder(A, "w", TS_UINT8, 4, (int64_t[]){ 1, 1, 2, 2 });
    TsTensor *xzp = ops_placeholder(A, "x_zp", TS_UINT8, 0, NULL);
    TsConv2dAttrs attrs = ts_conv2d_attrs_default();
    for (int i = 0; i < 4; i++)
        attrs.padding[i] = 1;
    TsTensor *out = ts_op_conv2d_integer(A, x, w, xzp, NULL, &attrs);
    ops_expect_built(A, out);
    ops_expect_tag(out, "conv2d", "conv2d_integer_nchw");
    uint8_t xd[9] = { 2, 3, 4, 5, 6, 7, 8, 9, 10 }, wd[4] = { 1, 1, 1, 1 }, zp = 1;
    int32_t want[16] = { 1, 3, 5, 3, 5, 12, 16, 9, 11, 24, 28, 15, 7, 15, 17, 9 };
    TsBinding in[3] = { { x, xd }, { w, wd }, { xzp, &zp } };
    run_both(out, 3, in, want, "convinteger_with_padding");
    ts_arena_destroy(A);
}

/* ---- matmul_integer and dense_integer ---- */

/* numpy matmul of uint8/int8 with zero points given per element of a [.., M, K] (a_zp
 * indexed by (batch, m)) and b [.., K, N] (b_zp by (batch, n)), shapes already
 * broadcast by the caller through index functions. */
typedef struct MatCase {
    int ra, rb;
    int64_t ashape[4], bshape[4];
    bool a_signed, b_signed;
    int a_zp_form, b_zp_form; /* 0 none, 1 per tensor, 2 vector, 3 full rank */
} MatCase;

static int64_t numel(int nd, const int64_t *s)
{
    int64_t n = 1;
    for (int i = 0; i < nd; i++)
        n *= s[i];
    return n;
}

static void check_matmul(const MatCase *k, uint64_t seed)
{
    TsArena *A = ts_arena_create();
    OpsRng rng;
    ops_rng_seed(&rng, seed);
    TsDType adt = k->a_signed ? TS_INT8 : TS_UINT8, bdt = k->b_signed ? TS_INT8 : TS_UINT8;
    TsTensor *a = ops_placeholder(A, "a", adt, k->ra, k->ashape);
    TsTensor *b = ops_placeholder(A, "b", bdt, k->rb, k->bshape);
    int64_t M = k->ra == 1 ? 1 : k->ashape[k->ra - 2], K = k->ashape[k->ra - 1];
    int64_t N = k->rb == 1 ? 1 : k->bshape[k->rb - 1];
    /* The batch: at most 2 dimensions here, broadcast by hand. */
    int abn = k->ra > 2 ? k->ra - 2 : 0, bbn = k->rb > 2 ? k->rb - 2 : 0;
    int bn = abn > bbn ? abn : bbn;
    int64_t batch[2] = { 1, 1 }, astr[2] = { 0, 0 }, bstr[2] = { 0, 0 };
    for (int i = 0; i < bn; i++) {
        int ia = abn - bn + i, ib = bbn - bn + i;
        int64_t da = ia >= 0 ? k->ashape[ia] : 1, db = ib >= 0 ? k->bshape[ib] : 1;
        batch[i] = da > db ? da : db;
    }
    /* Strides (in matrices) of each operand's batch dimensions, 0 where broadcast. */
    for (int i = bn - 1, sa = 1, sb = 1; i >= 0; i--) {
        int ia = abn - bn + i, ib = bbn - bn + i;
        int64_t da = ia >= 0 ? k->ashape[ia] : 1, db = ib >= 0 ? k->bshape[ib] : 1;
        astr[i] = da == 1 ? 0 : sa;
        bstr[i] = db == 1 ? 0 : sb;
        sa *= (int)da;
        sb *= (int)db;
    }
    /* Zero points. a's full-rank form is [abatch..., M, 1]; b's [bbatch..., 1, N]. */
    TsTensor *azp = NULL, *bzp = NULL;
    int64_t zshape[4];
    if (k->a_zp_form == 1)
        azp = ops_placeholder(A, "a_zp", adt, 0, NULL);
    else if (k->a_zp_form == 2)
        azp = ops_placeholder(A, "a_zp", adt, 1, &M);
    else if (k->a_zp_form == 3) {
        memcpy(zshape, k->ashape, sizeof zshape);
        zshape[k->ra - 1] = 1;
        azp = ops_placeholder(A, "a_zp", adt, k->ra, zshape);
    }
    if (k->b_zp_form == 1)
        bzp = ops_placeholder(A, "b_zp", bdt, 1, (int64_t[]){ 1 });
    else if (k->b_zp_form == 2)
        bzp = ops_placeholder(A, "b_zp", bdt, 1, &N);
    else if (k->b_zp_form == 3) {
        memcpy(zshape, k->bshape, sizeof zshape);
        zshape[k->rb - 2] = 1;
        bzp = ops_placeholder(A, "b_zp", bdt, k->rb, zshape);
    }
    TsTensor *out = ts_op_matmul_integer(A, a, b, azp, bzp);
    ops_expect_built(A, out);
    uint8_t *ad = ops_buffer(a), *bd = ops_buffer(b), azd[256] = { 0 }, bzd[256] = { 0 };
    fill_bytes(&rng, ad, (size_t)numel(k->ra, k->ashape));
    fill_bytes(&rng, bd, (size_t)numel(k->rb, k->bshape));
    fill_bytes(&rng, azd, sizeof azd);
    fill_bytes(&rng, bzd, sizeof bzd);
    azd[0] = k->a_signed ? 0x80 : 0xff; /* a range end */
    TsBinding in[4] = { { a, ad }, { b, bd } };
    int num = 2;
    if (azp)
        in[num++] = (TsBinding){ azp, azd };
    if (bzp)
        in[num++] = (TsBinding){ bzp, bzd };
    int64_t total = batch[0] * batch[1] * M * N;
    int32_t *want = malloc((size_t)total * sizeof *want);
    for (int64_t b0 = 0; b0 < batch[0]; b0++)
        for (int64_t b1 = 0; b1 < batch[1]; b1++)
            for (int64_t m = 0; m < M; m++)
                for (int64_t n = 0; n < N; n++) {
                    int64_t bi[2] = { b0, b1 };
                    int64_t am = 0, bm = 0;
                    for (int i = 0; i < bn; i++) {
                        am += bi[i] * astr[i];
                        bm += bi[i] * bstr[i];
                    }
                    /* Zero points: full-rank ones are indexed like their operand's matrix. */
                    int za = k->a_zp_form == 0   ? 0
                             : k->a_zp_form == 1 ? at8(azd, 0, k->a_signed)
                             : k->a_zp_form == 2 ? at8(azd, (size_t)m, k->a_signed)
                                                 : at8(azd, (size_t)(am * M + m), k->a_signed);
                    int zb = k->b_zp_form == 0   ? 0
                             : k->b_zp_form == 1 ? at8(bzd, 0, k->b_signed)
                             : k->b_zp_form == 2 ? at8(bzd, (size_t)n, k->b_signed)
                                                 : at8(bzd, (size_t)(bm * N + n), k->b_signed);
                    uint32_t acc = 0;
                    for (int64_t kk = 0; kk < K; kk++) {
                        int av = at8(ad, (size_t)((am * M + m) * K + kk), k->a_signed) - za;
                        int bv = at8(bd, (size_t)((bm * K + kk) * N + n), k->b_signed) - zb;
                        acc += (uint32_t)(av * bv);
                    }
                    want[((b0 * batch[1] + b1) * M + m) * N + n] = (int32_t)acc;
                }
    assert_int_equal(ts_tensor_num_elements(out), total);
    run_both(out, num, in, want, "matmul_integer");
    free(ad);
    free(bd);
    free(want);
    ts_arena_destroy(A);
}

static void test_matmul_integer(void **state)
{
    (void)state;
    const MatCase cases[] = {
        { 2, 2, { 7, 37 }, { 37, 19 }, false, true, 1, 1 },          /* per tensor */
        { 2, 2, { 5, 16 }, { 16, 3 }, true, true, 2, 2 },             /* per row, per column */
        { 4, 3, { 2, 1, 3, 9 }, { 3, 9, 5 }, false, false, 3, 3 },    /* broadcast, full-rank */
        { 3, 2, { 2, 4, 6 }, { 6, 17 }, true, false, 0, 2 },          /* batch x matrix */
        { 1, 3, { 11 }, { 2, 11, 4 }, false, true, 1, 0 },            /* vector a */
        { 2, 1, { 6, 13 }, { 13 }, true, true, 2, 1 },                /* vector b */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_matmul(&cases[i], 200 + i);
}

static void test_dense_integer(void **state)
{
    (void)state;
    for (int per_channel = 0; per_channel < 2; per_channel++) {
        TsArena *A = ts_arena_create();
        OpsRng rng;
        ops_rng_seed(&rng, 300 + (uint64_t)per_channel);
        int64_t N = 3, M = 23, K = 41;
        TsTensor *d = ops_placeholder(A, "d", TS_UINT8, 2, (int64_t[]){ N, K });
        TsTensor *w = ops_placeholder(A, "w", TS_INT8, 2, (int64_t[]){ M, K });
        TsTensor *dzp = ops_placeholder(A, "d_zp", TS_UINT8, 1, (int64_t[]){ 1 });
        TsTensor *wzp = ops_placeholder(A, "w_zp", TS_INT8, 1, per_channel ? &M : (int64_t[]){ 1 });
        TsTensor *out = ts_op_dense_integer(A, d, w, dzp, wzp);
        ops_expect_built(A, out);
        ops_expect_tag(out, "dense_integer", "dense_integer");
        uint8_t dd[3 * 41], wd[23 * 41], dz = 255, wz[23];
        fill_bytes(&rng, dd, sizeof dd);
        fill_bytes(&rng, wd, sizeof wd);
        fill_bytes(&rng, wz, sizeof wz);
        wz[0] = 0x80;
        int32_t want[3 * 23];
        for (int64_t i = 0; i < N; i++)
            for (int64_t j = 0; j < M; j++) {
                int z = (int8_t)wz[per_channel ? j : 0];
                uint32_t acc = 0;
                for (int64_t kk = 0; kk < K; kk++)
                    acc += (uint32_t)((dd[i * K + kk] - dz) * ((int8_t)wd[j * K + kk] - z));
                want[i * M + j] = (int32_t)acc;
            }
        TsBinding in[4] = { { d, dd }, { w, wd }, { dzp, &dz }, { wzp, wz } };
        run_both(out, 4, in, want, "dense_integer");
        ts_arena_destroy(A);
    }
}

/* ---- quantize_linear, dequantize_linear ---- */

/* QuantizeLinear by the book: rintf (the default rounding mode is to nearest even) of
 * the float32 quotient, plus the zero point, saturated; NaN to the lowest value. */
static int quantize_ref(float x, float scale, int zp, int lo, int hi)
{
    float q = x / scale;
    if (isnan(q))
        return lo;
    double r = (double)rintf(q) + zp;
    return r < lo ? lo : r > hi ? hi : (int)r;
}

static void test_quantize_linear(void **state)
{
    (void)state;
    assert_int_equal(fegetround(), FE_TONEAREST);
    for (int is_signed = 0; is_signed < 2; is_signed++) {
        for (int per_axis = 0; per_axis < 2; per_axis++) {
            TsArena *A = ts_arena_create();
            OpsRng rng;
            ops_rng_seed(&rng, 400 + (uint64_t)(2 * is_signed + per_axis));
            int64_t shape[3] = { 2, 5, 37 }, C = 5;
            TsDType dt = is_signed ? TS_INT8 : TS_UINT8;
            int lo = is_signed ? -128 : 0, hi = is_signed ? 127 : 255;
            TsTensor *x = ops_placeholder(A, "x", TS_FLOAT32, 3, shape);
            TsTensor *s = ops_placeholder(A, "s", TS_FLOAT32, 1, per_axis ? &C : (int64_t[]){ 1 });
            TsTensor *z = ops_placeholder(A, "z", dt, per_axis ? 1 : 0, &C);
            TsTensor *out = ts_op_quantize_linear(A, x, s, z, 1, (TsDType){ 0, 0, 0 });
            ops_expect_built(A, out);
            assert_true(ts_dtype_eq(ts_tensor_dtype(out), dt));
            float xd[2 * 5 * 37], sd[5] = { 0.5f, 0.1f, 2.0f, 0.0078125f, 3.0f };
            uint8_t zd[5] = { (uint8_t)lo, (uint8_t)hi, 0, 7, (uint8_t)(is_signed ? -3 : 128) };
            for (size_t i = 0; i < 370; i++) {
                int c = (int)(i / 37 % 5);
                float sc = sd[per_axis ? c : 0];
                switch (i % 7) {
                case 0: xd[i] = sc * ((float)ops_rand_int(&rng, -300, 300) + 0.5f); break; /* ties */
                case 1: xd[i] = 1000.0f * ops_rand_f32(&rng); break; /* saturation */
                case 2: xd[i] = -sc * 0.5f; break;                     /* -0.5: to -0 */
                default: xd[i] = 100.0f * ops_rand_f32(&rng); break;
                }
            }
            xd[3] = INFINITY;
            xd[4] = -INFINITY;
            xd[5] = NAN;
            xd[6] = 1e30f;
            uint8_t want[370];
            for (size_t i = 0; i < 370; i++) {
                int c = per_axis ? (int)(i / 37 % 5) : 0;
                int zp = is_signed ? (int8_t)zd[c] : zd[c];
                want[i] = (uint8_t)quantize_ref(xd[i], sd[c], zp, lo, hi);
            }
            TsBinding in[3] = { { x, xd }, { s, sd }, { z, zd } };
            run_both(out, 3, in, want, "quantize_linear");
            ts_arena_destroy(A);
        }
    }
}

static void test_dequantize_linear(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    int64_t shape[2] = { 3, 7 }, C = 7;
    TsTensor *x = ops_placeholder(A, "x", TS_INT8, 2, shape);
    TsTensor *s = ops_placeholder(A, "s", TS_FLOAT32, 1, &C);
    TsTensor *z = ops_placeholder(A, "z", TS_INT8, 1, &C);
    TsTensor *out = ts_op_dequantize_linear(A, x, s, z, -1);
    ops_expect_built(A, out);
    int8_t xd[21], zd[7] = { -128, 127, 0, 5, -5, 1, -1 };
    float sd[7] = { 0.1f, 3.0f, 1e-3f, 0.5f, 7.25f, 1e20f, 0.3f };
    float want[21];
    for (int i = 0; i < 21; i++) {
        xd[i] = (int8_t)(i * 37 - 128);
        want[i] = (float)(xd[i] - zd[i % 7]) * sd[i % 7];
    }
    TsBinding in[3] = { { x, xd }, { s, sd }, { z, zd } };
    run_both(out, 3, in, want, "dequantize_linear");

    /* int32 input, no zero point; the conversion to float32 rounds (2^24 + 1). */
    TsTensor *xi = ops_placeholder(A, "xi", TS_INT32, 1, (int64_t[]){ 3 });
    TsTensor *si = ops_placeholder(A, "si", TS_FLOAT32, 0, NULL);
    TsTensor *outi = ts_op_dequantize_linear(A, xi, si, NULL, 0);
    ops_expect_built(A, outi);
    int32_t xid[3] = { 16777217, INT32_MIN, -3 };
    float sid = 0.25f, wanti[3] = { 4194304.0f, -536870912.0f, -0.75f };
    TsBinding ini[2] = { { xi, xid }, { si, &sid } };
    run_both(outi, 2, ini, wanti, "dequantize_linear int32");
    ts_arena_destroy(A);
}

/* ---- requantize ---- */

static int clampi(int64_t v, int64_t lo, int64_t hi)
{
    return (int)(v < lo ? lo : v > hi ? hi : v);
}

static void test_requantize_float(void **state)
{
    (void)state;
    for (int relu = 0; relu < 2; relu++) {
        TsArena *A = ts_arena_create();
        OpsRng rng;
        ops_rng_seed(&rng, 500 + (uint64_t)relu);
        int64_t shape[4] = { 2, 19, 3, 5 }, C = 19;
        TsTensor *acc = ops_placeholder(A, "acc", TS_INT32, 4, shape);
        TsTensor *bias = ops_placeholder(A, "bias", TS_INT32, 1, &C);
        TsTensor *scale = ops_placeholder(A, "scale", TS_FLOAT32, 1, &C);
        TsTensor *zp = ops_placeholder(A, "zp", TS_UINT8, 1, (int64_t[]){ 1 });
        TsRequantizeAttrs attrs = ts_requantize_attrs_default(TS_UINT8);
        attrs.relu = relu;
        attrs.clip_max = relu ? 200 : 255;
        TsTensor *out = ts_op_requantize(A, acc, bias, scale, zp, &attrs);
        ops_expect_built(A, out);
        ops_expect_tag(out, "requantize", "requantize");
        int32_t ad[2 * 19 * 15], bd[19];
        float sd[19];
        uint8_t zd = 100, want[2 * 19 * 15];
        for (int c = 0; c < 19; c++) {
            bd[c] = ops_rand_int(&rng, -5000, 5000);
            sd[c] = c == 0 ? 2.0f : c == 1 ? 1.0f : (float)ops_rand_int(&rng, 1, 4000) / 64.0f;
        }
        bd[2] = INT32_MAX; /* wraps with a positive accumulator */
        for (size_t i = 0; i < sizeof ad / sizeof ad[0]; i++) {
            int c = (int)(i / 15 % 19);
            /* Every fifth: a small sum (ties at scale 2), wrapping like the operator. */
            uint32_t small = (uint32_t)ops_rand_int(&rng, -300, 300) - (uint32_t)bd[c];
            ad[i] = i % 5 == 0 ? (int32_t)small : ops_rand_int(&rng, -2000000, 2000000);
        }
        ad[0] = INT32_MIN;
        ad[1] = (int32_t)((uint32_t)INT32_MAX - (uint32_t)bd[0]); /* the sum is INT32_MAX */
        ad[2] = -bd[0] + 1; /* 1 / 2: a tie, to 0 */
        ad[3] = -bd[0] + 3; /* 3 / 2: a tie, to 2 */
        ad[4] = -bd[0] - 5; /* -5 / 2: a tie, to -2 */
        for (size_t i = 0; i < sizeof ad / sizeof ad[0]; i++) {
            int c = (int)(i / 15 % 19);
            int32_t sum = (int32_t)((uint32_t)ad[i] + (uint32_t)bd[c]);
            int q = quantize_ref((float)sum, sd[c], zd, 0, 255);
            if (relu)
                q = q < zd ? zd : q;
            want[i] = (uint8_t)clampi(q, 0, attrs.clip_max);
        }
        TsBinding in[4] = { { acc, ad }, { bias, bd }, { scale, sd }, { zp, &zd } };
        run_both(out, 4, in, want, relu ? "requantize relu" : "requantize");
        ts_arena_destroy(A);
    }
}

/* gemmlowp's fixed-point primitives, verbatim in C. */
static int32_t srdhm(int32_t a, int32_t b)
{
    bool overflow = a == b && a == INT32_MIN;
    int64_t ab = (int64_t)a * (int64_t)b;
    int32_t nudge = ab >= 0 ? (1 << 30) : (1 - (1 << 30));
    int32_t high = (int32_t)((ab + nudge) / (INT64_C(1) << 31));
    return overflow ? INT32_MAX : high;
}

static int32_t rdbp(int32_t x, int exponent)
{
    int32_t mask = (int32_t)((UINT32_C(1) << exponent) - 1);
    int32_t remainder = x & mask;
    int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

static int32_t multiply_by_quantized_multiplier(int32_t x, int32_t multiplier, int shift)
{
    int left = shift > 0 ? shift : 0, right = shift > 0 ? 0 : -shift;
    return rdbp(srdhm((int32_t)((uint32_t)x << left), multiplier), right);
}

/* The float multiplier form (ONNX Runtime's MlasRequantizeOutput): round(acc * m), with
 * ties (m = 0.5 on odd sums), a clip range and int8 output, against naive C. */
static void test_requantize_mul(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    OpsRng rng;
    ops_rng_seed(&rng, 900);
    int64_t shape[2] = { 7, 11 }, C = 11;
    TsTensor *acc = ops_placeholder(A, "acc", TS_INT32, 2, shape);
    TsTensor *bias = ops_placeholder(A, "bias", TS_INT32, 1, &C);
    TsTensor *mult = ops_placeholder(A, "mult", TS_FLOAT32, 1, &C);
    TsTensor *zp = ops_placeholder(A, "zp", TS_INT8, 0, NULL);
    TsRequantizeAttrs attrs = ts_requantize_attrs_default(TS_INT8);
    attrs.clip_min = -100;
    attrs.clip_max = 90;
    TsTensor *out = ts_op_requantize_mul(A, acc, bias, mult, zp, &attrs);
    ops_expect_built(A, out);
    ops_expect_tag(out, "requantize", "requantize");
    int32_t ad[7 * 11], bd[11];
    float md[11];
    int8_t zd = -7, want[7 * 11];
    for (int c = 0; c < 11; c++) {
        bd[c] = ops_rand_int(&rng, -300, 300);
        md[c] = c == 0 ? 0.5f : (float)ops_rand_int(&rng, 1, 1000) / 4096.0f;
    }
    for (int i = 0; i < 7 * 11; i++)
        ad[i] = i % 11 == 0 ? 2 * (i / 11) + 1 - bd[0] : ops_rand_int(&rng, -40000, 40000);
    for (int i = 0; i < 7 * 11; i++) {
        int c = i % 11;
        float v = (float)(ad[i] + bd[c]) * md[c];
        double r = (double)rintf(v) + zd;
        want[i] = (int8_t)clampi((int64_t)(r < -128 ? -128 : r > 127 ? 127 : r), -100, 90);
    }
    TsBinding in[4] = { { acc, ad }, { bias, bd }, { mult, md }, { zp, &zd } };
    run_both(out, 4, in, want, "requantize_mul");
    ts_arena_destroy(A);
}

static void test_requantize_fixed(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    OpsRng rng;
    ops_rng_seed(&rng, 600);
    int64_t shape[2] = { 37, 13 }, C = 13;
    TsTensor *acc = ops_placeholder(A, "acc", TS_INT32, 2, shape);
    TsTensor *mult = ops_placeholder(A, "mult", TS_INT32, 1, &C);
    TsTensor *shift = ops_placeholder(A, "shift", TS_INT32, 1, &C);
    TsTensor *zp = ops_placeholder(A, "zp", TS_INT8, 1, &C);
    TsRequantizeAttrs attrs = ts_requantize_attrs_default(TS_INT8);
    attrs.axis = 1;
    attrs.clip_min = -100;
    TsTensor *out = ts_op_requantize_fixed(A, acc, NULL, mult, shift, zp, &attrs);
    ops_expect_built(A, out);
    int32_t ad[37 * 13], md[13], sd[13];
    int8_t zd[13], want[37 * 13];
    for (int c = 0; c < 13; c++) {
        md[c] = (int32_t)((UINT32_C(1) << 30) + (uint32_t)ops_rand_int(&rng, 0, (1 << 30) - 1));
        sd[c] = ops_rand_int(&rng, -31, 3);
        zd[c] = (int8_t)ops_rand_int(&rng, -128, 127);
    }
    md[0] = INT32_MIN; /* with INT32_MIN data: the one saturating case */
    sd[0] = 0;
    sd[1] = -31;
    sd[2] = 30;
    zd[3] = -128;
    zd[4] = 127;
    md[5] = INT32_MAX;
    sd[5] = -1; /* ties of the rounding right shift */
    for (int i = 0; i < 37 * 13; i++)
        ad[i] = i % 3 == 0 ? ops_rand_int(&rng, -1000, 1000)
                           : (int32_t)(uint32_t)((uint64_t)ops_rand_int(&rng, 0, 65535) << 16 |
                                                 (uint64_t)ops_rand_int(&rng, 0, 65535));
    ad[0] = INT32_MIN;
    ad[13] = INT32_MAX;
    ad[26 + 5] = 3;
    ad[39 + 5] = -3;
    for (int i = 0; i < 37 * 13; i++) {
        int c = i % 13;
        int64_t y = (int64_t)multiply_by_quantized_multiplier(ad[i], md[c], sd[c]) + zd[c];
        want[i] = (int8_t)clampi(y, -100, 127);
    }
    TsBinding in[4] = { { acc, ad }, { mult, md }, { shift, sd }, { zp, zd } };
    run_both(out, 4, in, want, "requantize_fixed");
    ts_arena_destroy(A);
}

/* ---- bf16 conv2d and dense: float32 products, float32 sums ---- */

static float bf(uint16_t b)
{
    return ts_bfloat16_to_float(b);
}

static void test_bfloat16_conv2d_and_dense(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    OpsRng rng;
    ops_rng_seed(&rng, 700);
    int64_t N = 2, C = 5, H = 7, W = 6, F = 3;
    TsTensor *x = ops_placeholder(A, "x", TS_BFLOAT16, 4, (int64_t[]){ N, C, H, W });
    TsTensor *w = ops_placeholder(A, "w", TS_BFLOAT16, 4, (int64_t[]){ F, C, 3, 3 });
    TsConv2dAttrs attrs = ts_conv2d_attrs_default();
    attrs.stride[0] = attrs.stride[1] = 2;
    attrs.padding[0] = attrs.padding[1] = attrs.padding[2] = attrs.padding[3] = 1;
    attrs.out_dtype = TS_FLOAT32;
    TsTensor *out = ts_op_conv2d(A, x, w, &attrs);
    ops_expect_built(A, out);
    assert_true(ts_dtype_eq(ts_tensor_dtype(out), TS_FLOAT32));
    uint16_t xd[2 * 5 * 7 * 6], wd[3 * 5 * 9];
    for (size_t i = 0; i < sizeof xd / 2; i++)
        xd[i] = ts_float_to_bfloat16(8.0f * ops_rand_f32(&rng));
    for (size_t i = 0; i < sizeof wd / 2; i++)
        wd[i] = ts_float_to_bfloat16(ops_rand_f32(&rng));
    int64_t OH = 4, OW = 3;
    assert_int_equal(ts_tensor_dim(out, 2), OH);
    float want[2 * 3 * 4 * 3];
    for (int64_t n = 0; n < N; n++)
        for (int64_t f = 0; f < F; f++)
            for (int64_t y = 0; y < OH; y++)
                for (int64_t xo = 0; xo < OW; xo++) {
                    float acc = 0.0f;
                    for (int64_t c = 0; c < C; c++)
                        for (int64_t ry = 0; ry < 3; ry++)
                            for (int64_t rx = 0; rx < 3; rx++) {
                                int64_t iy = y * 2 + ry - 1, ix = xo * 2 + rx - 1;
                                float xv = iy >= 0 && iy < H && ix >= 0 && ix < W
                                               ? bf(xd[((n * C + c) * H + iy) * W + ix])
                                               : 0.0f;
                                float p = xv * bf(wd[((f * C + c) * 3 + ry) * 3 + rx]);
                                acc = acc + p; /* the product is exact: no contraction issue */
                            }
                    want[((n * F + f) * OH + y) * OW + xo] = acc;
                }
    TsBinding in[2] = { { x, xd }, { w, wd } };
    run_both(out, 2, in, want, "bf16 conv2d");

    /* dense; without out_dtype the accumulation would be bfloat16: refused. */
    TsTensor *d = ops_placeholder(A, "d", TS_BFLOAT16, 2, (int64_t[]){ 3, 17 });
    TsTensor *wt = ops_placeholder(A, "wt", TS_BFLOAT16, 2, (int64_t[]){ 5, 17 });
    ops_expect_error(A, ts_op_dense(A, d, wt, NULL, (TsDType){ 0, 0, 0 }),
                     "cannot accumulate in bfloat16");
    TsTensor *dense = ts_op_dense(A, d, wt, NULL, TS_FLOAT32);
    ops_expect_built(A, dense);
    uint16_t dd[51], wtd[85];
    for (int i = 0; i < 51; i++)
        dd[i] = ts_float_to_bfloat16(ops_rand_f32(&rng) * 100.0f);
    for (int i = 0; i < 85; i++)
        wtd[i] = ts_float_to_bfloat16(ops_rand_f32(&rng));
    float dwant[15];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 5; j++) {
            float acc = 0.0f;
            for (int k = 0; k < 17; k++)
                acc = acc + bf(dd[i * 17 + k]) * bf(wtd[j * 17 + k]);
            dwant[i * 5 + j] = acc;
        }
    TsBinding din[2] = { { d, dd }, { wt, wtd } };
    run_both(dense, 2, din, dwant, "bf16 dense");
    ts_arena_destroy(A);
}

/* ---- refusals ---- */

static void test_errors(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    TsTensor *x8 = ops_placeholder(A, "x8", TS_UINT8, 4, (int64_t[]){ 1, 4, 5, 5 });
    TsTensor *w8 = ops_placeholder(A, "w8", TS_INT8, 4, (int64_t[]){ 6, 4, 3, 3 });
    TsTensor *xf = ops_placeholder(A, "xf", TS_FLOAT32, 4, (int64_t[]){ 1, 4, 5, 5 });
    TsTensor *zs8 = ops_placeholder(A, "zs8", TS_INT8, 0, NULL);
    TsTensor *zu8 = ops_placeholder(A, "zu8", TS_UINT8, 0, NULL);
    TsTensor *z5 = ops_placeholder(A, "z5", TS_INT8, 1, (int64_t[]){ 5 });
    TsConv2dAttrs attrs = ts_conv2d_attrs_default();

    ops_expect_error(A, ts_op_conv2d_integer(A, xf, w8, NULL, NULL, &attrs),
                     "data 'xf' has dtype float32; expected uint8 or int8");
    ops_expect_error(A, ts_op_conv2d_integer(A, x8, w8, zs8, NULL, &attrs),
                     "data_zero_point 'zs8' has dtype int8, expected uint8");
    ops_expect_error(A, ts_op_conv2d_integer(A, x8, w8, zu8, z5, &attrs),
                     "weight_zero_point 'z5' has shape [5]; expected one element or [6]");
    ops_expect_error(A, ts_op_conv2d_integer(A, x8, w8, z5, NULL, &attrs),
                     "data_zero_point 'z5' has dtype int8");
    attrs.out_dtype = TS_FLOAT32;
    ops_expect_error(A, ts_op_conv2d_integer(A, x8, w8, NULL, NULL, &attrs),
                     "accumulates in int32, out_dtype float32 given");

    TsTensor *a = ops_placeholder(A, "a", TS_INT8, 2, (int64_t[]){ 4, 6 });
    TsTensor *b = ops_placeholder(A, "b", TS_UINT8, 2, (int64_t[]){ 7, 3 });
    TsTensor *b6 = ops_placeholder(A, "b6", TS_UINT8, 3, (int64_t[]){ 2, 6, 3 });
    TsTensor *a3 = ops_placeholder(A, "a3", TS_INT8, 3, (int64_t[]){ 3, 4, 6 });
    ops_expect_error(A, ts_op_matmul_integer(A, a, b, NULL, NULL),
                     "a 'a' has 6 columns but b 'b' has 7 rows");
    ops_expect_error(A, ts_op_matmul_integer(A, a3, b6, NULL, NULL),
                     "batch dimension 0 of a 'a3' (3) and b 'b6' (2) do not broadcast");
    ops_expect_error(A, ts_op_matmul_integer(A, a, b6, zu8, NULL),
                     "a_zero_point 'zu8' has dtype uint8, expected int8");
    ops_expect_error(A, ts_op_matmul_integer(A, a, b6, z5, NULL),
                     "a_zero_point 'z5' has shape [5]; expected one element or [4]");
    ops_expect_error(A, ts_op_dense_integer(A, a, b, NULL, NULL),
                     "weight 'b' in-features 3 != data 'a' features 6");

    TsTensor *acc = ops_placeholder(A, "acc", TS_INT32, 2, (int64_t[]){ 4, 6 });
    TsTensor *s6 = ops_placeholder(A, "s6", TS_FLOAT32, 1, (int64_t[]){ 6 });
    TsTensor *s4 = ops_placeholder(A, "s4", TS_FLOAT32, 1, (int64_t[]){ 4 });
    TsTensor *i6 = ops_placeholder(A, "i6", TS_INT32, 1, (int64_t[]){ 6 });
    TsRequantizeAttrs rq = ts_requantize_attrs_default(TS_INT8);
    ops_expect_error(A, ts_op_requantize(A, acc, NULL, s4, NULL, &rq),
                     "scale 's4' has shape [4]; expected one element or [6]");
    ops_expect_error(A, ts_op_requantize(A, acc, NULL, i6, NULL, &rq),
                     "scale 'i6' has dtype int32, expected float32");
    ops_expect_error(A, ts_op_requantize(A, acc, s6, s6, NULL, &rq),
                     "bias 's6' has dtype float32, expected int32");
    ops_expect_error(A, ts_op_requantize(A, acc, NULL, s6, zu8, &rq),
                     "zero_point 'zu8' has dtype uint8, expected int8");
    ops_expect_error(A, ts_op_requantize(A, a, NULL, s6, NULL, &rq),
                     "data 'a' has dtype int8, expected int32");
    ops_expect_error(A, ts_op_requantize_fixed(A, acc, NULL, i6, s6, NULL, &rq),
                     "shift 's6' has dtype float32, expected int32");
    rq.clip_min = 10;
    rq.clip_max = 5;
    ops_expect_error(A, ts_op_requantize(A, acc, NULL, s6, NULL, &rq), "clip [10, 5]");
    rq = ts_requantize_attrs_default(TS_INT32);
    ops_expect_error(A, ts_op_requantize(A, acc, NULL, s6, NULL, &rq),
                     "out_dtype int32 is not int8 or uint8");
    rq = ts_requantize_attrs_default(TS_INT8);
    rq.axis = 2;
    ops_expect_error(A, ts_op_requantize(A, acc, NULL, s6, NULL, &rq),
                     "per-channel scale 's6' needs axis in [-2, 2), got 2");

    ops_expect_error(A, ts_op_quantize_linear(A, acc, s6, NULL, 1, (TsDType){ 0, 0, 0 }),
                     "x 'acc' has dtype int32, expected float32");
    TsTensor *xq = ops_placeholder(A, "xq", TS_FLOAT32, 2, (int64_t[]){ 4, 6 });
    ops_expect_error(A, ts_op_quantize_linear(A, xq, s6, zs8, 1, TS_UINT8),
                     "zero_point 'zs8' has dtype int8 but the output is uint8");
    ops_expect_error(A, ts_op_quantize_linear(A, xq, NULL, NULL, 1, TS_UINT8), "scale is NULL");
    ops_expect_error(A, ts_op_dequantize_linear(A, acc, s6, zs8, 1),
                     "int32 x 'acc' takes no zero_point ('zs8' given)");

    TsError err;
    const float good[2] = { 0.5f, 1e-3f }, zero[3] = { 1.0f, 0.0f, 2.0f }, neg[1] = { -1.0f };
    assert_int_equal(ts_quant_check_scales(good, 2, "conv1.scale", &err), TS_OK);
    assert_int_equal(ts_quant_check_scales(zero, 3, "conv1.scale", &err), TS_EINVAL);
    assert_non_null(strstr(err.message, "conv1.scale[1] = 0: a scale must be finite and > 0"));
    assert_int_equal(ts_quant_check_scales(neg, 1, "fc.scale", &err), TS_EINVAL);
    assert_non_null(strstr(err.message, "fc.scale[0] = -1"));
    const float nan_scale[1] = { NAN };
    assert_int_equal(ts_quant_check_scales(nan_scale, 1, "s", &err), TS_EINVAL);
    ts_arena_destroy(A);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv2d_integer),
        cmocka_unit_test(test_conv2d_integer_onnx_padding),
        cmocka_unit_test(test_matmul_integer),
        cmocka_unit_test(test_dense_integer),
        cmocka_unit_test(test_quantize_linear),
        cmocka_unit_test(test_dequantize_linear),
        cmocka_unit_test(test_requantize_float),
        cmocka_unit_test(test_requantize_mul),
        cmocka_unit_test(test_requantize_fixed),
        cmocka_unit_test(test_bfloat16_conv2d_and_dense),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
