/* The low-bit operators (te/ops/bitserial.c) against naive C: bitpack's words bit for
 * bit, and bitserial conv2d and dense, each built on operands packed by bitpack from
 * integer codes, against an unpacked integer convolution of the decoded values (0/1 or
 * +-1 per encoding, padding adding nothing), through the reference interpreter and
 * through the loop interpreter after the default schedule. Every encoding and bit width
 * 1..8, odd shapes (channels not a multiple of the word, stride 2, padding, dilation,
 * groups, batch 2), the widest values at the longest reductions, the output stages, and
 * the errors builders report. */
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bitpack_words),
        cmocka_unit_test(test_conv_encodings),
        cmocka_unit_test(test_dense),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
