/* The low-bit operators (te/ops/bitserial.c) against naive C: bitpack's words bit for
 * bit, and bitserial conv2d and dense, each built on operands packed by bitpack from
 * integer codes, against an unpacked integer convolution of the decoded values (0/1 or
 * +-1 per encoding, padding adding nothing), through the reference interpreter and
 * through the loop interpreter after the default schedule. Every encoding and bit width
 * 1..8, odd shapes (channels not a multiple of the word, stride 2, padding, dilation,
 * groups, batch 2), the widest values at the longest reductions, the output stages, and
 * the errors builders report. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops_testing.h"

/* ---- naive C ---- */

static int64_t decode(int64_t code, int bits, bool pm1)
{
    return pm1 ? 2 * code - ((INT64_C(1) << bits) - 1) : code;
}

static bool activations_pm1(TsBitserialEncoding e)
{
    return e == TS_BITSERIAL_PM1_PM1;
}

static bool weights_pm1(TsBitserialEncoding e)
{
    return e == TS_BITSERIAL_01_PM1 || e == TS_BITSERIAL_PM1_PM1;
}

/* A convolution case: extents of the unpacked operands and the attributes. */
typedef struct Case {
    int64_t n, c, h, w, o, kh, kw;
    int64_t stride, dilation, groups;
    int64_t pad[4];
    TsLayout layout;
    TsBitserialEncoding encoding;
    int abits, wbits;
    TsDType word;
} Case;

static Case base_case(int64_t n, int64_t c, int64_t h, int64_t w, int64_t o, int64_t k)
{
    Case cs = { .n = n,
                .c = c,
                .h = h,
                .w = w,
                .o = o,
                .kh = k,
                .kw = k,
                .stride = 1,
                .dilation = 1,
                .groups = 1,
                .pad = { 0, 0, 0, 0 },
                .layout = TS_LAYOUT_NCHW,
                .encoding = TS_BITSERIAL_01_01,
                .abits = 1,
                .wbits = 1,
                .word = TS_UINT32 };
    return cs;
}

static int64_t out_extent(int64_t in, int64_t lo, int64_t hi, int64_t k, int64_t d, int64_t s)
{
    return (in + lo + hi - (k - 1) * d - 1) / s + 1;
}

/* Index of data code (n, c, y, x) and weight code (f, c, ky, kx) in their layouts. */
static size_t data_at(const Case *cs, int64_t n, int64_t c, int64_t y, int64_t x)
{
    if (cs->layout == TS_LAYOUT_NCHW)
        return (size_t)(((n * cs->c + c) * cs->h + y) * cs->w + x);
    return (size_t)(((n * cs->h + y) * cs->w + x) * cs->c + c);
}

static size_t weight_at(const Case *cs, int64_t f, int64_t c, int64_t ky, int64_t kx)
{
    int64_t cg = cs->c / cs->groups;
    if (cs->layout == TS_LAYOUT_NCHW)
        return (size_t)(((f * cg + c) * cs->kh + ky) * cs->kw + kx);
    return (size_t)(((ky * cs->kw + kx) * cg + c) * cs->o + f);
}

/* The convolution of the decoded codes, in the op's output layout. */
static int64_t *naive_conv(const Case *cs, const uint8_t *data, const uint8_t *weight)
{
    int64_t oh = out_extent(cs->h, cs->pad[0], cs->pad[2], cs->kh, cs->dilation, cs->stride);
    int64_t ow = out_extent(cs->w, cs->pad[1], cs->pad[3], cs->kw, cs->dilation, cs->stride);
    int64_t cg = cs->c / cs->groups, og = cs->o / cs->groups;
    int64_t *out = calloc((size_t)(cs->n * cs->o * oh * ow), sizeof *out);
    bool nchw = cs->layout == TS_LAYOUT_NCHW;

    for (int64_t n = 0; n < cs->n; n++)
        for (int64_t f = 0; f < cs->o; f++)
            for (int64_t y = 0; y < oh; y++)
                for (int64_t x = 0; x < ow; x++) {
                    int64_t sum = 0;
                    for (int64_t rc = 0; rc < cg; rc++)
                        for (int64_t ky = 0; ky < cs->kh; ky++)
                            for (int64_t kx = 0; kx < cs->kw; kx++) {
                                int64_t iy = y * cs->stride + ky * cs->dilation - cs->pad[0];
                                int64_t ix = x * cs->stride + kx * cs->dilation - cs->pad[1];
                                if (iy < 0 || iy >= cs->h || ix < 0 || ix >= cs->w)
                                    continue;
                                int64_t c = f / og * cg + rc;
                                sum += decode(data[data_at(cs, n, c, iy, ix)], cs->abits,
                                              activations_pm1(cs->encoding)) *
                                       decode(weight[weight_at(cs, f, rc, ky, kx)], cs->wbits,
                                              weights_pm1(cs->encoding));
                            }
                    size_t at = nchw ? (size_t)(((n * cs->o + f) * oh + y) * ow + x)
                                     : (size_t)(((n * oh + y) * ow + x) * cs->o + f);
                    out[at] = sum;
                }
    return out;
}

/* ---- building and running ---- */

typedef struct Built {
    TsTensor *data, *weight, *out;
} Built;

static TsBitserialConv2dAttrs conv_attrs(const Case *cs)
{
    TsBitserialConv2dAttrs attrs = ts_bitserial_conv2d_attrs_default(cs->c);
    attrs.stride[0] = attrs.stride[1] = cs->stride;
    attrs.dilation[0] = attrs.dilation[1] = cs->dilation;
    memcpy(attrs.padding, cs->pad, sizeof attrs.padding);
    attrs.groups = cs->groups;
    attrs.layout = cs->layout;
    attrs.encoding = cs->encoding;
    return attrs;
}

static Built build_conv(TsArena *A, const Case *cs)
{
    bool nchw = cs->layout == TS_LAYOUT_NCHW;
    int64_t cg = cs->c / cs->groups;
    int64_t dshape[4] = { cs->n, cs->c, cs->h, cs->w }, wshape[4] = { cs->o, cg, cs->kh, cs->kw };
    if (!nchw) {
        memcpy(dshape, (int64_t[]){ cs->n, cs->h, cs->w, cs->c }, sizeof dshape);
        memcpy(wshape, (int64_t[]){ cs->kh, cs->kw, cg, cs->o }, sizeof wshape);
    }
    Built b;
    b.data = ops_placeholder(A, "data", TS_UINT8, 4, dshape);
    b.weight = ops_placeholder(A, "weight", TS_UINT8, 4, wshape);
    TsTensor *pa = ts_op_bitpack(A, b.data, nchw ? 1 : 3, cs->abits, cs->groups, cs->word);
    ops_expect_built(A, pa);
    TsTensor *pw = ts_op_bitpack(A, b.weight, nchw ? 1 : 2, cs->wbits, 1, cs->word);
    ops_expect_built(A, pw);
    TsBitserialConv2dAttrs attrs = conv_attrs(cs);
    b.out = ts_op_bitserial_conv2d(A, pa, pw, &attrs);
    ops_expect_built(A, b.out);
    return b;
}

/* An integer buffer of t's dtype as int64. */
static int64_t get_int(const TsTensor *t, const void *buf, size_t i)
{
    TsDType dt = ts_tensor_dtype(t);
    bool u = ts_dtype_is_uint(dt);
    switch (dt.bits) {
    case 8: return u ? (int64_t)((const uint8_t *)buf)[i] : (int64_t)((const int8_t *)buf)[i];
    case 16: return u ? (int64_t)((const uint16_t *)buf)[i] : (int64_t)((const int16_t *)buf)[i];
    case 32: return u ? (int64_t)((const uint32_t *)buf)[i] : (int64_t)((const int32_t *)buf)[i];
    default: return ((const int64_t *)buf)[i];
    }
}

static void expect_ints(const TsTensor *t, const void *got, const int64_t *want, const char *what)
{
    int64_t n = ts_tensor_num_elements(t);
    for (int64_t i = 0; i < n; i++)
        if (get_int(t, got, (size_t)i) != want[i]) {
            fail_msg("%s: element %lld is %lld, expected %lld", what, (long long)i,
                     (long long)get_int(t, got, (size_t)i), (long long)want[i]);
        }
}

/* Runs out on the bound inputs through the default schedule and the loop interpreter. */
static void run_lowered(TsArena *A, TsTensor *out, void *out_data, int num_inputs,
                        const TsBinding *inputs)
{
    TsSchedule *sch = ts_schedule_create(A, 1, &out);
    TsLoweredFunc *func = NULL;
    TsError err;
    TsBinding bind[8];

    assert_non_null(sch);
    if (ts_lower(sch, "bitserial", &func, &err) != TS_OK)
        fail_msg("ts_lower: %s", err.message);
    memcpy(bind, inputs, (size_t)num_inputs * sizeof *bind);
    bind[num_inputs] = (TsBinding){ out, out_data };
    if (ts_lowered_run(func, num_inputs + 1, bind, &err) != TS_OK)
        fail_msg("ts_lowered_run: %s", err.message);
}

/* Random codes in [0, 2^bits) (max: all 2^bits - 1; min: all 0). */
typedef enum { FILL_RANDOM, FILL_MAX, FILL_MIN } Fill;

static uint8_t *codes(OpsRng *rng, const TsTensor *t, int bits, Fill fill)
{
    int64_t n = ts_tensor_num_elements(t);
    uint8_t *buf = malloc((size_t)n);
    for (int64_t i = 0; i < n; i++)
        buf[i] = fill == FILL_MAX   ? (uint8_t)((1 << bits) - 1)
                 : fill == FILL_MIN ? 0
                                    : (uint8_t)ops_rand_int(rng, 0, (1 << bits) - 1);
    return buf;
}

/* Builds the case, checks its accumulator dtype, and compares the interpreters with the
 * naive convolution on codes filled as asked. */
static void check_conv_fill(const Case *cs, uint64_t seed, Fill data_fill, Fill weight_fill,
                            bool lowered)
{
    TsArena *A = ts_arena_create();
    OpsRng rng;
    char what[160];

    ops_rng_seed(&rng, seed);
    Built b = build_conv(A, cs);
    TsDType want_acc =
        ts_bitserial_accum_dtype(cs->abits, cs->wbits, cs->c / cs->groups * cs->kh * cs->kw);
    assert_true(ts_dtype_eq(ts_tensor_dtype(b.out), want_acc));
    uint8_t *data = codes(&rng, b.data, cs->abits, data_fill);
    uint8_t *weight = codes(&rng, b.weight, cs->wbits, weight_fill);
    int64_t *want = naive_conv(cs, data, weight);
    void *got = ops_buffer(b.out);
    TsBinding in[2] = { { b.data, data }, { b.weight, weight } };
    snprintf(what, sizeof what, "%s A%dW%d %s c=%lld groups=%lld stride=%lld",
             ts_bitserial_encoding_name(cs->encoding), cs->abits, cs->wbits,
             cs->layout == TS_LAYOUT_NCHW ? "NCHW" : "NHWC", (long long)cs->c,
             (long long)cs->groups, (long long)cs->stride);
    ops_evaluate(b.out, got, 2, in);
    expect_ints(b.out, got, want, what);
    if (lowered) {
        memset(got, 0xA5, (size_t)ts_tensor_num_elements(b.out) * ts_tensor_dtype(b.out).bits / 8);
        run_lowered(A, b.out, got, 2, in);
        expect_ints(b.out, got, want, what);
    }
    free(got);
    free(want);
    free(weight);
    free(data);
    ts_arena_destroy(A);
}

static void check_conv(const Case *cs, uint64_t seed, bool lowered)
{
    check_conv_fill(cs, seed, FILL_RANDOM, FILL_RANDOM, lowered);
}

/* ---- tests ---- */

/* bitpack's words against packing by hand: 13 values of 3 bits along the middle axis,
 * in uint8 words (two words, the second's tail zero), and in 2 groups. */
static void test_bitpack_words(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    TsTensor *x = ops_placeholder(A, "x", TS_INT8, 3, (int64_t[]){ 2, 14, 3 });
    TsTensor *p = ts_op_bitpack(A, x, 1, 3, 1, TS_UINT8);
    ops_expect_built(A, p);
    ops_expect_shape(p, 4, (int64_t[]){ 2, 3, 3, 2 });
    ops_expect_tag(p, "bitpack", "bitpack");
    TsTensor *pg = ts_op_bitpack(A, x, -2, 3, 2, TS_UINT8);
    ops_expect_built(A, pg);
    ops_expect_shape(pg, 4, (int64_t[]){ 2, 3, 3, 2 });
    TsTensor *p64 = ts_op_bitpack(A, x, 1, 2, 1, TS_UINT64);
    ops_expect_built(A, p64);
    ops_expect_shape(p64, 4, (int64_t[]){ 2, 3, 2, 1 });

    int8_t data[2 * 14 * 3];
    OpsRng rng;
    ops_rng_seed(&rng, 7);
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (int8_t)ops_rand_int(&rng, -128, 127);
    uint8_t got[2 * 3 * 3 * 2], got_g[2 * 3 * 3 * 2],
        want[2 * 3 * 3 * 2] = { 0 }, want_g[2 * 3 * 3 * 2] = { 0 };
    uint64_t got64[2 * 3 * 2], want64[2 * 3 * 2] = { 0 };
    for (int a = 0; a < 2; a++)
        for (int c = 0; c < 14; c++)
            for (int b = 0; b < 3; b++) {
                uint8_t v = (uint8_t)data[(a * 14 + c) * 3 + b];
                for (int plane = 0; plane < 3; plane++) {
                    int bit = (v >> plane) & 1;
                    want[((a * 3 + b) * 3 + plane) * 2 + c / 8] |= (uint8_t)(bit << (c % 8));
                    /* groups of 7: group g's channel c % 7 in word g */
                    want_g[((a * 3 + b) * 3 + plane) * 2 + c / 7] |= (uint8_t)(bit << (c % 7));
                    if (plane < 2)
                        want64[(a * 3 + b) * 2 + plane] |= (uint64_t)bit << c;
                }
            }
    TsBinding in = { x, data };
    ops_evaluate(p, got, 1, &in);
    ops_expect_bytes_equal(got, want, sizeof want, "bitpack uint8");
    ops_evaluate(pg, got_g, 1, &in);
    ops_expect_bytes_equal(got_g, want_g, sizeof want_g, "bitpack groups=2");
    ops_evaluate(p64, got64, 1, &in);
    ops_expect_bytes_equal(got64, want64, sizeof want64, "bitpack uint64");
    memset(got, 0, sizeof got);
    run_lowered(A, p, got, 1, &in);
    ops_expect_bytes_equal(got, want, sizeof want, "bitpack uint8, lowered");
    ts_arena_destroy(A);
}

/* A first value check of each encoding: A2W2, 11 channels in uint8 words (a tail of 3),
 * 3x3 with padding 1, both interpreters. */
static void test_conv_encodings(void **state)
{
    (void)state;
    for (int e = 0; e < 3; e++)
        for (int layout = 0; layout < 2; layout++) {
            Case cs = base_case(1, 11, 5, 6, 3, 3);
            cs.encoding = (TsBitserialEncoding)e;
            cs.layout = (TsLayout)layout;
            cs.abits = cs.wbits = 2;
            cs.word = TS_UINT8;
            for (int i = 0; i < 4; i++)
                cs.pad[i] = 1;
            check_conv(&cs, 100 + (uint64_t)e, true);
        }
}

/* bitserial_dense against naive C, every encoding, K a tail of the word. */
static void test_dense(void **state)
{
    (void)state;
    for (int e = 0; e < 3; e++) {
        TsArena *A = ts_arena_create();
        OpsRng rng;
        int64_t m = 3, n = 5, k = 37;
        int abits = 3, wbits = 2;
        TsBitserialEncoding enc = (TsBitserialEncoding)e;
        ops_rng_seed(&rng, 200 + (uint64_t)e);
        TsTensor *x = ops_placeholder(A, "x", TS_UINT8, 2, (int64_t[]){ m, k });
        TsTensor *w = ops_placeholder(A, "w", TS_UINT8, 2, (int64_t[]){ n, k });
        TsBitserialDenseAttrs attrs = ts_bitserial_dense_attrs_default(k);
        attrs.encoding = enc;
        TsTensor *out = ts_op_bitserial_dense(A, ts_op_bitpack(A, x, 1, abits, 1, TS_UINT16),
                                              ts_op_bitpack(A, w, 1, wbits, 1, TS_UINT16), &attrs);
        ops_expect_built(A, out);
        ops_expect_tag(out, "bitserial_dense", "bitserial_dense");
        uint8_t *xc = codes(&rng, x, abits, FILL_RANDOM), *wc = codes(&rng, w, wbits, FILL_RANDOM);
        int64_t want[3 * 5];
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                want[i * n + j] = 0;
                for (int64_t r = 0; r < k; r++)
                    want[i * n + j] += decode(xc[i * k + r], abits, activations_pm1(enc)) *
                                       decode(wc[j * k + r], wbits, weights_pm1(enc));
            }
        void *got = ops_buffer(out);
        TsBinding in[2] = { { x, xc }, { w, wc } };
        ops_evaluate(out, got, 2, in);
        expect_ints(out, got, want, "bitserial_dense");
        run_lowered(A, out, got, 2, in);
        expect_ints(out, got, want, "bitserial_dense, lowered");
        free(got);
        free(xc);
        free(wc);
        ts_arena_destroy(A);
    }
}

/* Every encoding and every pair of widths 1..8 on one small padded shape (10 channels:
 * a tail in uint8 words, none in the others), layouts and words alternating; one in
 * seven also through the loop interpreter. */
static void test_conv_width_grid(void **state)
{
    (void)state;
    static const TsDType words[4] = { { TS_TYPE_UINT, 8, 1 },
                                      { TS_TYPE_UINT, 16, 1 },
                                      { TS_TYPE_UINT, 32, 1 },
                                      { TS_TYPE_UINT, 64, 1 } };
    int k = 0;
    for (int e = 0; e < 3; e++)
        for (int ab = 1; ab <= TS_BITSERIAL_MAX_BITS; ab++)
            for (int wb = 1; wb <= TS_BITSERIAL_MAX_BITS; wb++, k++) {
                Case cs = base_case(1, 10, 3, 3, 2, 3);
                cs.encoding = (TsBitserialEncoding)e;
                cs.abits = ab;
                cs.wbits = wb;
                cs.layout = (TsLayout)(k % 2);
                cs.word = words[k % 4];
                for (int i = 0; i < 4; i++)
                    cs.pad[i] = 1;
                check_conv(&cs, 1000 + (uint64_t)k, k % 7 == 0);
            }
}

/* Odd shapes in every encoding: stride 2 with asymmetric padding, dilation with groups
 * of channels that straddle words, depthwise, 1x1 stride 2 over two uint64 words with a
 * tail, a non-square kernel; batch 2 throughout. */
static void test_conv_odd_shapes(void **state)
{
    (void)state;
    for (int e = 0; e < 3; e++) {
        Case a = base_case(2, 37, 7, 8, 5, 3);
        a.stride = 2;
        memcpy(a.pad, (int64_t[]){ 1, 0, 2, 1 }, sizeof a.pad);
        a.abits = 3, a.wbits = 2, a.layout = TS_LAYOUT_NHWC;
        Case b = base_case(2, 21, 8, 7, 6, 3);
        b.dilation = 2, b.groups = 3, b.abits = 2, b.wbits = 3, b.word = TS_UINT8;
        for (int i = 0; i < 4; i++)
            b.pad[i] = 2;
        Case c = base_case(2, 6, 5, 5, 6, 3);
        c.groups = 6, c.abits = 1, c.wbits = 2, c.word = TS_UINT16, c.layout = TS_LAYOUT_NHWC;
        memcpy(c.pad, (int64_t[]){ 1, 1, 1, 1 }, sizeof c.pad);
        Case d = base_case(2, 70, 5, 5, 3, 1);
        d.stride = 2, d.abits = 4, d.wbits = 4, d.word = TS_UINT64;
        Case f = base_case(2, 9, 6, 5, 4, 1);
        f.kh = 2, f.kw = 3, f.abits = 2, f.wbits = 1, f.word = TS_UINT8;
        memcpy(f.pad, (int64_t[]){ 0, 2, 1, 0 }, sizeof f.pad);
        Case *cases[5] = { &a, &b, &c, &d, &f };
        for (int i = 0; i < 5; i++) {
            cases[i]->encoding = (TsBitserialEncoding)e;
            check_conv(cases[i], 300 + (uint64_t)(e * 5 + i), true);
        }
    }
}

/* The accumulator rule at its boundaries. */
static void test_accum_dtype(void **state)
{
    (void)state;
    assert_true(ts_dtype_eq(ts_bitserial_accum_dtype(1, 1, 32767), TS_INT16));
    assert_true(ts_dtype_eq(ts_bitserial_accum_dtype(1, 1, 32768), TS_INT32));
    assert_true(ts_dtype_eq(ts_bitserial_accum_dtype(2, 2, 3640), TS_INT16)); /* 32760 */
    assert_true(ts_dtype_eq(ts_bitserial_accum_dtype(2, 2, 3641), TS_INT32));
    assert_true(ts_dtype_eq(ts_bitserial_accum_dtype(2, 2, 512 * 9), TS_INT32));
    assert_true(ts_dtype_eq(ts_bitserial_accum_dtype(8, 8, 1), TS_INT32)); /* 65025 */
    assert_true(ts_dtype_eq(ts_bitserial_accum_dtype(8, 8, 33025), TS_INT32));
    assert_true(ts_dtype_eq(ts_bitserial_accum_dtype(8, 8, 33026), TS_INT64));
    assert_true(ts_dtype_eq(ts_bitserial_accum_dtype(1, 1, INT32_MAX), TS_INT32));
    assert_true(ts_dtype_eq(ts_bitserial_accum_dtype(1, 1, INT64_C(1) << 31), TS_INT64));
    assert_int_equal(ts_bitserial_accum_dtype(0, 1, 10).bits, 0);
    assert_int_equal(ts_bitserial_accum_dtype(1, 9, 10).bits, 0);
    assert_int_equal(ts_bitserial_accum_dtype(1, 1, 0).bits, 0);
    assert_int_equal(ts_bitserial_num_words(65, TS_UINT64), 2);
    assert_int_equal(ts_bitserial_num_words(64, TS_UINT64), 1);
    assert_int_equal(ts_bitserial_num_words(9, TS_UINT8), 2);
    assert_int_equal(ts_bitserial_num_words(9, TS_INT8), 0);
}

/* A bitserial dense of K features with every code at fill_a / fill_w against the sum
 * naive C computes, both interpreters; returns the accumulator's dtype. */
static TsDType check_dense_fill(TsBitserialEncoding enc, int abits, int wbits, int64_t k,
                                Fill fill_a, Fill fill_w, TsDType word)
{
    TsArena *A = ts_arena_create();
    OpsRng rng;
    ops_rng_seed(&rng, (uint64_t)(abits * 16 + wbits));
    TsTensor *x = ops_placeholder(A, "x", TS_UINT8, 2, (int64_t[]){ 2, k });
    TsTensor *w = ops_placeholder(A, "w", TS_UINT8, 2, (int64_t[]){ 2, k });
    TsBitserialDenseAttrs attrs = ts_bitserial_dense_attrs_default(k);
    attrs.encoding = enc;
    TsTensor *out = ts_op_bitserial_dense(A, ts_op_bitpack(A, x, 1, abits, 1, word),
                                          ts_op_bitpack(A, w, 1, wbits, 1, word), &attrs);
    ops_expect_built(A, out);
    uint8_t *xc = codes(&rng, x, abits, fill_a), *wc = codes(&rng, w, wbits, fill_w);
    int64_t want[4];
    for (int64_t i = 0; i < 2; i++)
        for (int64_t j = 0; j < 2; j++) {
            want[i * 2 + j] = 0;
            for (int64_t r = 0; r < k; r++)
                want[i * 2 + j] += decode(xc[i * k + r], abits, activations_pm1(enc)) *
                                   decode(wc[j * k + r], wbits, weights_pm1(enc));
        }
    void *got = ops_buffer(out);
    TsBinding in[2] = { { x, xc }, { w, wc } };
    char what[96];
    snprintf(what, sizeof what, "dense %s A%dW%d K=%lld", ts_bitserial_encoding_name(enc), abits,
             wbits, (long long)k);
    ops_evaluate(out, got, 2, in);
    expect_ints(out, got, want, what);
    run_lowered(A, out, got, 2, in);
    expect_ints(out, got, want, what);
    TsDType acc = ts_tensor_dtype(out);
    free(got);
    free(xc);
    free(wc);
    ts_arena_destroy(A);
    return acc;
}

/* Every pair of widths at its largest values and the longest reduction its int16
 * accumulator allows (and one more, which takes int32), the largest positive sums and,
 * in the +-1 encodings, the most negative; then past int32 into int64. */
static void test_widest_values(void **state)
{
    (void)state;
    for (int ab = 1; ab <= TS_BITSERIAL_MAX_BITS; ab++)
        for (int wb = 1; wb <= TS_BITSERIAL_MAX_BITS; wb++) {
            int64_t per = ((INT64_C(1) << ab) - 1) * ((INT64_C(1) << wb) - 1);
            int64_t longest = INT16_MAX / per;
            if (longest < 1)
                continue;
            TsDType word = ab % 2 ? TS_UINT64 : TS_UINT32;
            assert_true(ts_dtype_eq(
                check_dense_fill(TS_BITSERIAL_01_01, ab, wb, longest, FILL_MAX, FILL_MAX, word),
                TS_INT16));
            assert_true(ts_dtype_eq(
                check_dense_fill(TS_BITSERIAL_01_PM1, ab, wb, longest, FILL_MAX, FILL_MIN, word),
                TS_INT16));
            assert_true(ts_dtype_eq(
                check_dense_fill(TS_BITSERIAL_PM1_PM1, ab, wb, longest, FILL_MIN, FILL_MAX, word),
                TS_INT16));
            assert_true(ts_dtype_eq(check_dense_fill(TS_BITSERIAL_PM1_PM1, ab, wb, longest + 1,
                                                     FILL_MAX, FILL_MAX, word),
                                    TS_INT32));
        }
    /* 33026 x 255 x 255 > INT32_MAX */
    assert_true(ts_dtype_eq(
        check_dense_fill(TS_BITSERIAL_PM1_PM1, 8, 8, 33026, FILL_MAX, FILL_MIN, TS_UINT64),
        TS_INT64));
    assert_true(ts_dtype_eq(
        check_dense_fill(TS_BITSERIAL_01_01, 8, 8, 33026, FILL_MAX, FILL_MAX, TS_UINT64),
        TS_INT64));
}

/* A2W2 and A8W8 at 512 channels x 3x3 with the largest sums, where int16 would
 * overflow, every encoding, padded borders included. */
static void test_conv_512_channels(void **state)
{
    (void)state;
    static const int widths[2] = { 2, 8 };
    for (int wi = 0; wi < 2; wi++)
        for (int e = 0; e < 3; e++) {
            Case cs = base_case(1, 512, 3, 3, 2, 3);
            cs.encoding = (TsBitserialEncoding)e;
            cs.abits = cs.wbits = widths[wi];
            cs.word = TS_UINT64;
            cs.layout = (TsLayout)(e % 2);
            for (int i = 0; i < 4; i++)
                cs.pad[i] = 1;
            check_conv_fill(&cs, 400, FILL_MAX, e == 0 ? FILL_MAX : FILL_MIN, true);
        }
}

/* The output stage against naive C in float32: scale and bias per channel, ReLU, and
 * int8 with a clip, on an NHWC accumulator. */
static void test_output_stage(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    OpsRng rng;
    ops_rng_seed(&rng, 500);
    TsTensor *acc = ops_placeholder(A, "acc", TS_INT32, 4, (int64_t[]){ 2, 3, 3, 5 });
    TsTensor *scale = ops_placeholder(A, "scale", TS_FLOAT32, 1, (int64_t[]){ 5 });
    TsTensor *bias = ops_placeholder(A, "bias", TS_FLOAT32, 1, (int64_t[]){ 5 });
    TsBitserialOutputAttrs attrs = ts_bitserial_output_attrs_default(-1);
    attrs.relu = true;
    TsTensor *y = ts_op_bitserial_output(A, acc, scale, bias, &attrs);
    ops_expect_built(A, y);
    ops_expect_tag(y, "bitserial_output", "bitserial_output");
    attrs.relu = false;
    attrs.clip = true;
    attrs.clip_min = -50.0;
    attrs.clip_max = 300.0;
    attrs.out_dtype = TS_INT8;
    TsTensor *q = ts_op_bitserial_output(A, acc, scale, NULL, &attrs);
    ops_expect_built(A, q);

    int32_t accv[90];
    float sv[5], bv[5], got_y[90], want_y[90];
    int8_t got_q[90], want_q[90];
    for (int i = 0; i < 90; i++)
        accv[i] = ops_rand_int(&rng, -400, 400);
    for (int c = 0; c < 5; c++) {
        sv[c] = (float)ops_rand_int(&rng, 1, 8) * 0.25f; /* ties at .5 happen */
        bv[c] = ops_rand_f32(&rng) * 10.0f;
    }
    for (int i = 0; i < 90; i++) {
        int c = i % 5;
        float v = (float)accv[i] * sv[c] + bv[c];
        want_y[i] = v > 0.0f ? v : 0.0f;
        float u = (float)accv[i] * sv[c];
        u = u < -50.0f ? -50.0f : u > 300.0f ? 300.0f : u;
        u = u < -128.0f ? -128.0f : u > 127.0f ? 127.0f : u;
        float r = floorf(u), frac = u - r;
        if (frac > 0.5f || (frac == 0.5f && fmodf(r, 2.0f) != 0.0f))
            r += 1.0f;
        want_q[i] = (int8_t)r;
    }
    TsBinding in[3] = { { acc, accv }, { scale, sv }, { bias, bv } };
    ops_evaluate(y, got_y, 3, in);
    ops_expect_f32_equal(got_y, want_y, 90, "bitserial_output relu");
    ops_evaluate(q, got_q, 2, in);
    ops_expect_bytes_equal(got_q, want_q, 90, "bitserial_output int8");
    memset(got_q, 0, sizeof got_q);
    run_lowered(A, q, got_q, 2, in);
    ops_expect_bytes_equal(got_q, want_q, 90, "bitserial_output int8, lowered");
    ts_arena_destroy(A);
}

/* Thresholds into packed bits against naive C, and the packed result feeding a second
 * bitserial conv: the same as the conv of the levels packed by bitpack. */
static void test_threshold_pack(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    OpsRng rng;
    ops_rng_seed(&rng, 600);
    int64_t n = 2, c = 11, h = 3, w = 2, bits = 2, levels = 3;
    TsTensor *acc = ops_placeholder(A, "acc", TS_INT16, 4, (int64_t[]){ n, c, h, w });
    TsTensor *thr = ops_placeholder(A, "thr", TS_INT16, 2, (int64_t[]){ c, levels });
    TsTensor *p = ts_op_bitserial_threshold_pack(A, acc, thr, 1, (int)bits, 1, TS_UINT8);
    ops_expect_built(A, p);
    ops_expect_shape(p, 5, (int64_t[]){ n, h, w, bits, 2 });
    ops_expect_tag(p, "bitserial_threshold_pack", "bitserial_threshold_pack");

    int16_t accv[2 * 11 * 3 * 2], thrv[11 * 3];
    uint8_t level[2 * 11 * 3 * 2], got[2 * 3 * 2 * 2 * 2], want[2 * 3 * 2 * 2 * 2] = { 0 };
    for (size_t i = 0; i < sizeof accv / sizeof accv[0]; i++)
        accv[i] = (int16_t)ops_rand_int(&rng, -20, 20);
    for (int64_t i = 0; i < c * levels; i++)
        thrv[i] = (int16_t)(ops_rand_int(&rng, -3, 3) + 8 * (i % levels) - 8);
    for (int64_t b = 0; b < n; b++)
        for (int64_t ch = 0; ch < c; ch++)
            for (int64_t y = 0; y < h; y++)
                for (int64_t x = 0; x < w; x++) {
                    int64_t at = ((b * c + ch) * h + y) * w + x, q = 0;
                    for (int64_t k = 0; k < levels; k++)
                        q += accv[at] >= thrv[ch * levels + k];
                    level[at] = (uint8_t)q;
                    for (int64_t pl = 0; pl < bits; pl++)
                        want[(((b * h + y) * w + x) * bits + pl) * 2 + ch / 8] |=
                            (uint8_t)(((q >> pl) & 1) << (ch % 8));
                }
    TsBinding in[2] = { { acc, accv }, { thr, thrv } };
    ops_evaluate(p, got, 2, in);
    ops_expect_bytes_equal(got, want, sizeof want, "threshold pack");
    memset(got, 0, sizeof got);
    run_lowered(A, p, got, 2, in);
    ops_expect_bytes_equal(got, want, sizeof want, "threshold pack, lowered");

    /* the next layer reads the packed levels as its data */
    TsTensor *wt = ops_placeholder(A, "w2", TS_UINT8, 4, (int64_t[]){ 3, c, 3, 3 });
    TsBitserialConv2dAttrs attrs = ts_bitserial_conv2d_attrs_default(c);
    attrs.encoding = TS_BITSERIAL_01_PM1;
    for (int i = 0; i < 4; i++)
        attrs.padding[i] = 1;
    TsTensor *next = ts_op_bitserial_conv2d(A, p, ts_op_bitpack(A, wt, 1, 1, 1, TS_UINT8), &attrs);
    ops_expect_built(A, next);
    Case cs = base_case(n, c, h, w, 3, 3);
    cs.encoding = TS_BITSERIAL_01_PM1;
    cs.abits = (int)bits;
    for (int i = 0; i < 4; i++)
        cs.pad[i] = 1;
    uint8_t *wc = codes(&rng, wt, 1, FILL_RANDOM);
    int64_t *want_next = naive_conv(&cs, level, wc);
    void *got_next = ops_buffer(next);
    TsBinding in3[3] = { { acc, accv }, { thr, thrv }, { wt, wc } };
    ops_evaluate(next, got_next, 3, in3);
    expect_ints(next, got_next, want_next, "conv of threshold-packed levels");
    free(got_next);
    free(want_next);
    free(wc);
    ts_arena_destroy(A);
}

/* Bad input: a status and a message naming the operator and the culprit. */
static void test_errors(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    TsTensor *x = ops_placeholder(A, "x", TS_UINT8, 4, (int64_t[]){ 1, 10, 4, 4 });
    TsTensor *xf = ops_placeholder(A, "xf", TS_FLOAT32, 2, (int64_t[]){ 2, 10 });
    TsTensor *w = ops_placeholder(A, "w", TS_UINT8, 4, (int64_t[]){ 4, 10, 3, 3 });
    ops_expect_error(A, ts_op_bitpack(A, x, 1, 0, 1, TS_UINT8), "bitpack: bits 0 outside [1, 8]");
    ops_expect_error(A, ts_op_bitpack(A, x, 1, 9, 1, TS_UINT8), "bitpack: bits 9 outside [1, 8]");
    ops_expect_error(A, ts_op_bitpack(A, x, 1, 2, 1, TS_INT32),
                     "bitpack: word int32 is not an unsigned word");
    ops_expect_error(A, ts_op_bitpack(A, x, 1, 2, 1, TS_FLOAT32), "word float32");
    ops_expect_error(A, ts_op_bitpack(A, x, 1, 2, 3, TS_UINT8),
                     "bitpack: groups 3 does not divide dimension 1 (10)");
    ops_expect_error(A, ts_op_bitpack(A, x, 4, 2, 1, TS_UINT8), "bitpack");
    ops_expect_error(A, ts_op_bitpack(A, xf, 1, 2, 1, TS_UINT8), "data 'xf' is float32");

    TsTensor *pa = ts_op_bitpack(A, x, 1, 2, 1, TS_UINT8);
    TsTensor *pw = ts_op_bitpack(A, w, 1, 2, 1, TS_UINT8);
    TsTensor *pw16 = ts_op_bitpack(A, w, 1, 2, 1, TS_UINT16);
    TsBitserialConv2dAttrs attrs = ts_bitserial_conv2d_attrs_default(10);
    ops_expect_built(A, ts_op_bitserial_conv2d(A, pa, pw, &attrs));
    ops_expect_error(A, ts_op_bitserial_conv2d(A, pa, pw16, &attrs),
                     "packed in different words (uint8 and uint16)");
    ops_expect_error(A, ts_op_bitserial_conv2d(A, x, pw, &attrs), "bitserial_conv2d: data 'x'");
    ops_expect_error(A, ts_op_bitserial_conv2d(A, pa, pw, NULL), "bitserial_conv2d: attrs is NULL");
    attrs.encoding = (TsBitserialEncoding)7;
    ops_expect_error(A, ts_op_bitserial_conv2d(A, pa, pw, &attrs),
                     "bitserial_conv2d: encoding 7 is not a TsBitserialEncoding");
    attrs = ts_bitserial_conv2d_attrs_default(10);
    attrs.groups = 3;
    ops_expect_error(A, ts_op_bitserial_conv2d(A, pa, pw, &attrs),
                     "bitserial_conv2d: groups 3 does not divide in_channels 10");
    attrs.groups = 2;
    ops_expect_error(A, ts_op_bitserial_conv2d(A, pa, pw, &attrs),
                     "bitserial_conv2d: weight 'bitpack' has 2 words; in_channels / groups 5 packs "
                     "into 1");
    attrs = ts_bitserial_conv2d_attrs_default(17);
    ops_expect_error(A, ts_op_bitserial_conv2d(A, pa, pw, &attrs), "in_channels 17 packs into 3");
    attrs = ts_bitserial_conv2d_attrs_default(10);
    attrs.out_dtype = TS_INT16;
    ops_expect_built(A, ts_op_bitserial_conv2d(A, pa, pw, &attrs)); /* 90 x 9 fits */
    TsTensor *pa8 = ts_op_bitpack(A, x, 1, 8, 1, TS_UINT8);
    TsTensor *pw8 = ts_op_bitpack(A, w, 1, 8, 1, TS_UINT8);
    ops_expect_error(A, ts_op_bitserial_conv2d(A, pa8, pw8, &attrs),
                     "bitserial_conv2d: out_dtype int16 cannot hold the sum (A8W8 over 90 terms "
                     "needs a signed integer of at least int32)");
    attrs.out_dtype = TS_UINT32;
    ops_expect_error(A, ts_op_bitserial_conv2d(A, pa8, pw8, &attrs), "out_dtype uint32");
    attrs = ts_bitserial_conv2d_attrs_default(10);
    attrs.padding[2] = -1;
    ops_expect_error(A, ts_op_bitserial_conv2d(A, pa, pw, &attrs), "padding[2] (bottom)");
    attrs = ts_bitserial_conv2d_attrs_default(10);
    attrs.stride[1] = 0;
    ops_expect_error(A, ts_op_bitserial_conv2d(A, pa, pw, &attrs), "stride[1] (width)");

    /* weight out-channels that groups do not divide */
    TsTensor *w5 = ops_placeholder(A, "w5", TS_UINT8, 4, (int64_t[]){ 5, 5, 3, 3 });
    TsTensor *pg = ts_op_bitpack(A, x, 1, 2, 2, TS_UINT8);
    attrs = ts_bitserial_conv2d_attrs_default(10);
    attrs.groups = 2;
    ops_expect_error(A,
                     ts_op_bitserial_conv2d(A, pg, ts_op_bitpack(A, w5, 1, 2, 1, TS_UINT8), &attrs),
                     "groups 2 does not divide weight 'bitpack' out-channels 5");

    TsTensor *d = ops_placeholder(A, "d", TS_UINT8, 2, (int64_t[]){ 2, 30 });
    TsTensor *dw = ops_placeholder(A, "dw", TS_UINT8, 2, (int64_t[]){ 3, 40 });
    TsBitserialDenseAttrs dattrs = ts_bitserial_dense_attrs_default(30);
    ops_expect_error(A,
                     ts_op_bitserial_dense(A, ts_op_bitpack(A, d, 1, 1, 1, TS_UINT8),
                                           ts_op_bitpack(A, dw, 1, 1, 1, TS_UINT8), &dattrs),
                     "bitserial_dense: weight 'bitpack' has 5 words; in_features 30 packs into 4");
    dattrs.in_features = 0;
    ops_expect_error(A,
                     ts_op_bitserial_dense(A, ts_op_bitpack(A, d, 1, 1, 1, TS_UINT8),
                                           ts_op_bitpack(A, d, 1, 1, 1, TS_UINT8), &dattrs),
                     "bitserial_dense: in_features");
    ops_expect_error(A, ts_op_bitserial_dense(A, d, d, &dattrs), "bitserial_dense");

    TsTensor *acc = ops_placeholder(A, "acc", TS_INT32, 4, (int64_t[]){ 1, 4, 2, 2 });
    TsBitserialOutputAttrs oattrs = ts_bitserial_output_attrs_default(1);
    oattrs.out_dtype = TS_UINT8;
    ops_expect_error(A, ts_op_bitserial_output(A, acc, NULL, NULL, &oattrs),
                     "bitserial_output: out_dtype uint8 is neither float32 nor int8");
    oattrs = ts_bitserial_output_attrs_default(1);
    TsTensor *bad_scale = ops_placeholder(A, "bad_scale", TS_FLOAT32, 1, (int64_t[]){ 3 });
    ops_expect_error(A, ts_op_bitserial_output(A, acc, bad_scale, NULL, &oattrs), "bad_scale");
    ops_expect_error(A, ts_op_bitserial_output(A, xf, NULL, NULL, &oattrs),
                     "bitserial_output: acc 'xf' is float32");
    TsTensor *thr = ops_placeholder(A, "thr", TS_INT32, 2, (int64_t[]){ 4, 2 });
    ops_expect_error(A, ts_op_bitserial_threshold_pack(A, acc, thr, 1, 2, 1, TS_UINT8),
                     "bitserial_threshold_pack: thresholds 'thr' must be int32[4, 3]");
    ops_expect_error(A, ts_op_bitserial_threshold_pack(A, acc, thr, 1, 0, 1, TS_UINT8),
                     "bitserial_threshold_pack: bits 0");
    ts_arena_destroy(A);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bitpack_words),   cmocka_unit_test(test_conv_encodings),
        cmocka_unit_test(test_dense),           cmocka_unit_test(test_conv_width_grid),
        cmocka_unit_test(test_conv_odd_shapes), cmocka_unit_test(test_accum_dtype),
        cmocka_unit_test(test_widest_values),   cmocka_unit_test(test_conv_512_channels),
        cmocka_unit_test(test_output_stage),    cmocka_unit_test(test_threshold_pack),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
