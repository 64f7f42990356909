/* The x86 bitserial templates end to end (schedule/templates/bitserial_x86.c): random
 * integer activations and weights of each encoding and several bit widths, in NCHW and
 * OIHW, packed into the templates' words and bit planes, the kernel built for AVX-512
 * with VPOPCNTDQ ("llvm" on this CPU) and for the AVX2 fallback, run, and compared bit
 * for bit with the reference interpreter on the template's expression and with a naive
 * C convolution of the integer values. Odd shapes: channels not a multiple of the word,
 * stride 2, padding (exact in the +-1 encodings too), dilation, groups, batch 2. Also:
 * a ReLU fused after the operator; the largest values at 512 channels x 3x3 where an
 * int16 accumulator would overflow (and a reduction long enough for int64); dense, and
 * dense with N = 768 tuned for a few trials; the buffers a kernel allocates (no
 * unpacked intermediate: only the padded words, the side sums and the accumulators of
 * one register block). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "schedule/templates/tmpl_internal.h"
#include "tessera/autotune.h"
#include "tessera/ops.h"
#include "test_values.h"
#include "tmpl_testing.h"

static void ok(TsStatus status, const TsError *err)
{
    if (status != TS_OK)
        fprintf(stderr, "unexpected: %s: %s\n", ts_status_name(status), err->message);
    assert_int_equal(status, TS_OK);
}

static TsTemplateArgs parse_args(const char *text)
{
    TsTemplateArgs args = { 0 };
    char copy[256], *save = NULL;
    snprintf(copy, sizeof copy, "%s", text);
    for (char *tok = strtok_r(copy, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        TsError err;
        ok(ts_template_args_parse(&args, tok, &err), &err);
    }
    return args;
}

static int64_t arg_or(const TsTemplateArgs *args, const char *name, int64_t def)
{
    int64_t value;
    return ts_template_args_get(args, name, &value, NULL) == TS_OK ? value : def;
}

static TsTemplateTarget template_target(const TsTarget *target, int num_cores)
{
    TsTemplateTarget tt;
    TsError err;
    ok(ts_template_target_init(&tt, ts_target_arch(target), ts_target_features(target),
                               ts_target_str(target), num_cores, &err),
       &err);
    return tt;
}

/* A convolution in integer values; dense is N=1 H=1 W=M R=S=1. */
typedef struct Problem {
    int64_t n, c, h, w, k, r, s, stride, pad, dil, groups, abits, wbits, enc;
    int64_t oh, ow;
} Problem;

static Problem problem_of(const TsTemplateArgs *args, bool dense)
{
    Problem p;
    if (dense) {
        p = (Problem){ 1, arg_or(args, "K", 0), 1, arg_or(args, "M", 0), arg_or(args, "N", 0),
                       1, 1, 1, 0, 1, 1, 0, 0, 0, 0, 0 };
    } else {
        p = (Problem){ arg_or(args, "N", 0), arg_or(args, "C", 0), arg_or(args, "H", 0),
                       arg_or(args, "W", 0), arg_or(args, "K", 0), arg_or(args, "R", 0),
                       arg_or(args, "S", 0), arg_or(args, "stride", 1), arg_or(args, "pad", 0),
                       arg_or(args, "dilation", 1), arg_or(args, "groups", 1), 0, 0, 0, 0, 0 };
    }
    p.abits = arg_or(args, "abits", 1);
    p.wbits = arg_or(args, "wbits", 1);
    p.enc = arg_or(args, "encoding", 0);
    p.oh = (p.h + 2 * p.pad - (p.r - 1) * p.dil - 1) / p.stride + 1;
    p.ow = (p.w + 2 * p.pad - (p.s - 1) * p.dil - 1) / p.stride + 1;
    return p;
}

/* The value of unsigned code u of b bits: u, or 2u - (2^b - 1) for a +-1 operand. */
static int64_t value_of(uint32_t u, int64_t bits, bool pm1)
{
    return pm1 ? 2 * (int64_t)u - ((1 << bits) - 1) : (int64_t)u;
}

/* Packs codes[N][C][H][W] into data [N, H, W, abits, G * CWG]. */
static void pack_data(const Problem *p, const uint32_t *codes, uint32_t *data)
{
    int64_t cg = p->c / p->groups, cwg = (cg + 31) / 32, cw = cwg * p->groups;
    memset(data, 0, (size_t)(p->n * cw * p->h * p->w * p->abits) * 4);
    for (int64_t n = 0; n < p->n; n++)
        for (int64_t c = 0; c < p->c; c++)
            for (int64_t y = 0; y < p->h; y++)
                for (int64_t x = 0; x < p->w; x++) {
                    uint32_t u = codes[((n * p->c + c) * p->h + y) * p->w + x];
                    int64_t word = (c / cg) * cwg + (c % cg) / 32, bit = (c % cg) % 32;
                    for (int64_t i = 0; i < p->abits; i++)
                        data[(((n * p->h + y) * p->w + x) * p->abits + i) * cw + word] |=
                            ((u >> i) & 1u) << bit;
                }
}

/* Packs codes[K][C/G][R][S] into weight [G * KBG, CWG, R, S, wbits, ob]. */
static void pack_weight(const Problem *p, int64_t ob, const uint32_t *codes, uint32_t *weight,
                        size_t bytes)
{
    int64_t cg = p->c / p->groups, kg = p->k / p->groups, cwg = (cg + 31) / 32;
    int64_t kbg = (kg + ob - 1) / ob;
    memset(weight, 0, bytes);
    for (int64_t k = 0; k < p->k; k++)
        for (int64_t c = 0; c < cg; c++)
            for (int64_t r = 0; r < p->r; r++)
                for (int64_t s = 0; s < p->s; s++) {
                    uint32_t u = codes[((k * cg + c) * p->r + r) * p->s + s];
                    int64_t kb = (k / kg) * kbg + (k % kg) / ob, lane = (k % kg) % ob;
                    for (int64_t j = 0; j < p->wbits; j++)
                        weight[((((kb * cwg + c / 32) * p->r + r) * p->s + s) * p->wbits + j) *
                                   ob +
                               lane] |= ((u >> j) & 1u) << (c % 32);
                }
}

/* Element at of an integer output of 16, 32 or 64 bits. */
static int64_t element(const TsTensor *t, const void *data, size_t at)
{
    switch (ts_tensor_dtype(t).bits) {
    case 8: return ((const int8_t *)data)[at];
    case 16: return ((const int16_t *)data)[at];
    case 32: return ((const int32_t *)data)[at];
    default: return ((const int64_t *)data)[at];
    }
}

/* Naive convolution of the values, compared with out [N, G * KBG, OH, OW, ob]. */
static void expect_naive(const Problem *p, const uint32_t *act, const uint32_t *wgt,
                         const TsTensor *out_t, const void *out, const char *what)
{
    int64_t cg = p->c / p->groups, kg = p->k / p->groups, ob = ts_tensor_dim(out_t, 4);
    int64_t kbg = (kg + ob - 1) / ob, kb = kbg * p->groups;
    for (int64_t n = 0; n < p->n; n++)
        for (int64_t k = 0; k < p->k; k++)
            for (int64_t y = 0; y < p->oh; y++)
                for (int64_t x = 0; x < p->ow; x++) {
                    int64_t want = 0, g = k / kg;
                    for (int64_t c = 0; c < cg; c++)
                        for (int64_t r = 0; r < p->r; r++)
                            for (int64_t s = 0; s < p->s; s++) {
                                int64_t iy = y * p->stride - p->pad + r * p->dil;
                                int64_t ix = x * p->stride - p->pad + s * p->dil;
                                if (iy < 0 || iy >= p->h || ix < 0 || ix >= p->w)
                                    continue;
                                uint32_t a = act[((n * p->c + g * cg + c) * p->h + iy) * p->w + ix];
                                uint32_t w = wgt[((k * cg + c) * p->r + r) * p->s + s];
                                want += value_of(a, p->abits, p->enc == 2) *
                                        value_of(w, p->wbits, p->enc >= 1);
                            }
                    int64_t block = g * kbg + (k % kg) / ob, lane = (k % kg) % ob;
                    size_t at = (size_t)((((n * kb + block) * p->oh + y) * p->ow + x) * ob + lane);
                    int64_t got = element(out_t, out, at);
                    if (got != want)
                        fail_msg("%s: output n=%lld k=%lld y=%lld x=%lld is %lld, naive C says "
                                 "%lld",
                                 what, (long long)n, (long long)k, (long long)y, (long long)x,
                                 (long long)got, (long long)want);
                }
}

typedef enum Fill { FILL_RANDOM, FILL_MAX } Fill;

static uint32_t *codes(TvRng *rng, int64_t count, int64_t bits, Fill fill)
{
    uint32_t *c = malloc((size_t)count * 4);
    assert_non_null(c);
    for (int64_t i = 0; i < count; i++)
        c[i] = fill == FILL_MAX ? (uint32_t)((1 << bits) - 1)
                                : (uint32_t)tv_rng_int(rng, 0, (1 << bits) - 1);
    return c;
}

/* te/ops' operator on the same codes: bitpack of the NCHW (dense: [M, K]) codes, which
 * must be the template's data bit for bit, and the bitserial operator, its NCHW output
 * ([M, N] for dense) through ts_op_bitserial_output when the template fuses one. */
typedef struct OpsReference {
    TsTensor *act, *wgt, *packed_data, *out, *scale, *bias;
} OpsReference;

static OpsReference ops_reference(TsArena *A, const Problem *p, bool dense, int64_t output,
                                  bool relu)
{
    OpsReference r = { 0 };
    int64_t cg = p->c / p->groups;
    if (dense) {
        r.act = ts_placeholder(A, "act", 2, (int64_t[]){ p->w, p->c }, TS_INT32);
        r.wgt = ts_placeholder(A, "wgt", 2, (int64_t[]){ p->k, p->c }, TS_INT32);
    } else {
        r.act = ts_placeholder(A, "act", 4, (int64_t[]){ p->n, p->c, p->h, p->w }, TS_INT32);
        r.wgt = ts_placeholder(A, "wgt", 4, (int64_t[]){ p->k, cg, p->r, p->s }, TS_INT32);
    }
    r.packed_data = ts_op_bitpack(A, r.act, 1, (int)p->abits, p->groups, TS_UINT32);
    TsTensor *packed_weight = ts_op_bitpack(A, r.wgt, 1, (int)p->wbits, 1, TS_UINT32);
    if (dense) {
        TsBitserialDenseAttrs attrs = ts_bitserial_dense_attrs_default(p->c);
        attrs.encoding = (TsBitserialEncoding)p->enc;
        r.out = ts_op_bitserial_dense(A, r.packed_data, packed_weight, &attrs);
    } else {
        TsBitserialConv2dAttrs attrs = ts_bitserial_conv2d_attrs_default(p->c);
        attrs.stride[0] = attrs.stride[1] = p->stride;
        for (int i = 0; i < 4; i++)
            attrs.padding[i] = p->pad;
        attrs.dilation[0] = attrs.dilation[1] = p->dil;
        attrs.groups = p->groups;
        attrs.encoding = (TsBitserialEncoding)p->enc;
        r.out = ts_op_bitserial_conv2d(A, r.packed_data, packed_weight, &attrs);
    }
    if (output > 0) {
        r.scale = ts_placeholder(A, "scale", 1, &p->k, TS_FLOAT32);
        r.bias = ts_placeholder(A, "bias", 1, &p->k, TS_FLOAT32);
        TsBitserialOutputAttrs attrs = ts_bitserial_output_attrs_default(1);
        attrs.relu = relu;
        attrs.out_dtype = output == 2 ? TS_INT8 : TS_FLOAT32;
        r.out = ts_op_bitserial_output(A, r.out, r.scale, r.bias, &attrs);
    }
    return r;
}

/* The template's output (blocked [N, G * KBG, OH, OW, ob]) against te/ops' (NCHW, or
 * [M, N] for dense). */
static void expect_ops(const Problem *p, bool dense, bool int_relu, const TsTensor *out_t,
                       const void *got, const TsTensor *ref_t, const void *want, const char *what)
{
    int64_t kg = p->k / p->groups, ob = ts_tensor_dim(out_t, 4), kbg = (kg + ob - 1) / ob;
    bool f32 = ts_dtype_is_float(ts_tensor_dtype(out_t));
    assert_true(ts_dtype_eq(ts_tensor_dtype(out_t), ts_tensor_dtype(ref_t)));
    for (int64_t n = 0; n < p->n; n++)
        for (int64_t k = 0; k < p->k; k++)
            for (int64_t y = 0; y < p->oh * p->ow; y++) {
                int64_t block = k / kg * kbg + k % kg / ob;
                size_t at = (size_t)(((n * kbg * p->groups + block) * p->oh * p->ow + y) * ob +
                                     k % kg % ob);
                size_t ref = dense ? (size_t)(y * p->k + k)
                                   : (size_t)((n * p->k + k) * p->oh * p->ow + y);
                int64_t w = f32 ? 0 : element(ref_t, want, ref);
                if (int_relu && w < 0)
                    w = 0;
                if (f32 ? ((const float *)got)[at] != ((const float *)want)[ref]
                        : element(out_t, got, at) != w)
                    fail_msg("%s: output n=%lld k=%lld position %lld differs from te/ops' "
                             "operator",
                             what, (long long)n, (long long)k, (long long)y);
            }
}

/* Builds config on target, runs it on packed random codes, and compares with the
 * reference interpreter on the template's expression, with te/ops' operator (and its
 * output stage) on the same codes, and (without an output stage) with naive C. */
static void check_config(const TsTemplate *tmpl, const char *shape, const TsTemplateTarget *tt,
                         const TsTarget *target, const TsConfig *config, uint64_t seed, Fill fill)
{
    bool dense = strcmp(tmpl->op, "bitserial_dense") == 0;
    TsTemplateArgs args = parse_args(shape);
    Problem p = problem_of(&args, dense);
    int64_t output = arg_or(&args, "output", 0);
    TsArena *A = ts_arena_create();
    TsTemplateInstance inst;
    TsLoweredFunc *func;
    TsJitModule *module = NULL;
    TsPackedFunc fn = NULL;
    TsError err;
    char what[400];
    snprintf(what, sizeof what, "%s %s on %.50s, config %lld", tmpl->name, shape, tt->name,
             (long long)config->index);
    if (tt_build(tmpl, &args, tt, target, config, A, &inst, &func, &module, &fn, &err) != TS_OK)
        fail_msg("%s: refused: %s", what, err.message);
    int num = inst.num_tensors;
    TsTensor *out_t = inst.tensors[num - 1];
    int64_t ob = ts_tensor_dim(out_t, 4), kb = ts_tensor_dim(out_t, 1);
    TvRng rng = { seed };
    uint32_t *act = codes(&rng, p.n * p.c * p.h * p.w, p.abits, fill);
    uint32_t *act_nchw = act;
    if (dense) { /* te/ops takes [M, K]; the packing and naive C read [1, K, 1, M] */
        act_nchw = malloc((size_t)(p.c * p.w) * 4);
        for (int64_t m = 0; m < p.w; m++)
            for (int64_t c = 0; c < p.c; c++)
                act_nchw[c * p.w + m] = act[m * p.c + c];
    }
    uint32_t *wgt = codes(&rng, p.k * (p.c / p.groups) * p.r * p.s, p.wbits, fill);
    void *bufs[5] = { 0 };
    for (int i = 0; i < num; i++) {
        bufs[i] = calloc(1, tv_num_bytes(inst.tensors[i]));
        assert_non_null(bufs[i]);
    }
    void *want = calloc(1, tv_num_bytes(out_t));
    pack_data(&p, act_nchw, bufs[0]);
    pack_weight(&p, ob, wgt, bufs[1], tv_num_bytes(inst.tensors[1]));
    OpsReference ops = ops_reference(A, &p, dense, output, arg_or(&args, "relu", 0) != 0);
    ok(ts_arena_check(A, &err), &err);
    float *scale = calloc((size_t)p.k, 4), *bias = calloc((size_t)p.k, 4);
    if (output > 0) {
        /* per channel, into the blocked [KB, ob] too (padded channels 0) */
        int64_t kg = p.k / p.groups, kbg = kb / p.groups;
        for (int64_t k = 0; k < p.k; k++) {
            scale[k] = (float)tv_rng_int(&rng, -64, 64) / 256.0f;
            bias[k] = (float)tv_rng_int(&rng, -512, 512) / 8.0f + 0.5f;
            int64_t at = (k / kg * kbg + k % kg / ob) * ob + k % kg % ob;
            ((float *)bufs[2])[at] = scale[k];
            ((float *)bufs[3])[at] = bias[k];
        }
    }
    TsBinding rb[6];
    for (int i = 0; i < num - 1; i++)
        rb[i] = (TsBinding){ inst.tensors[i], bufs[i] };
    rb[num - 1] = (TsBinding){ out_t, want };
    ok(ts_evaluate(1, &out_t, num, rb, &err), &err);
    char message[512];
    if (!tt_call(fn, func, num, inst.tensors, bufs, message, sizeof message))
        fail_msg("%s: %s", what, message);
    if (memcmp(bufs[num - 1], want, tv_num_bytes(out_t)) != 0)
        fail_msg("%s: the kernel differs from the reference interpreter", what);
    /* te/ops: the same packed data, and the same output */
    void *ops_data = calloc(1, tv_num_bytes(ops.packed_data));
    void *ops_out = calloc(1, tv_num_bytes(ops.out));
    TsBinding ob_[6] = { { ops.act, act }, { ops.packed_data, ops_data }, { ops.wgt, wgt },
                         { ops.out, ops_out }, { ops.scale, scale }, { ops.bias, bias } };
    assert_int_equal(tv_num_bytes(ops.packed_data), tv_num_bytes(inst.tensors[0]));
    ok(ts_evaluate(1, &ops.packed_data, 2, ob_, &err), &err);
    if (memcmp(ops_data, bufs[0], tv_num_bytes(inst.tensors[0])) != 0)
        fail_msg("%s: the packed data differs from te/ops' bitpack", what);
    TsBinding eb[5] = { ob_[0], ob_[2], ob_[3], ob_[4], ob_[5] };
    ok(ts_evaluate(1, &ops.out, output > 0 ? 5 : 3, eb, &err), &err);
    expect_ops(&p, dense, output == 0 && arg_or(&args, "relu", 0), out_t, bufs[num - 1], ops.out, ops_out, what);
    if (output == 0 && arg_or(&args, "relu", 0) == 0)
        expect_naive(&p, act_nchw, wgt, out_t, bufs[num - 1], what);
    if (act_nchw != act)
        free(act_nchw);
    for (int i = 0; i < num; i++)
        free(bufs[i]);
    free(act), free(wgt), free(want), free(ops_data), free(ops_out), free(scale), free(bias);
    ts_jit_release(module);
    ts_arena_destroy(A);
}

/* clang-format off */
static const char *const conv_shapes[] = {
    "N=2 C=37 H=9 W=11 K=21 R=3 S=3 stride=2 pad=1 abits=2 wbits=1",
    "N=1 C=64 H=8 W=7 K=16 R=3 S=3 stride=1 pad=1 abits=1 wbits=1",
    "N=1 C=70 H=6 W=9 K=40 R=3 S=3 stride=1 pad=1 abits=2 wbits=2 groups=2",
    "N=2 C=5 H=7 W=7 K=9 R=3 S=3 stride=1 pad=2 abits=3 wbits=2 dilation=2",
    "N=1 C=33 H=5 W=6 K=17 R=1 S=1 stride=2 pad=0 abits=4 wbits=4",
    "N=1 C=20 H=6 W=5 K=18 R=3 S=3 stride=1 pad=1 abits=8 wbits=8",
};
/* clang-format on */

enum { RANDOM_CONFIGS = 1 };

/* Every shape in every encoding: the default config and a few sampled ones. */
static void check_shapes(const TsTemplate *tmpl, const char *target_str,
                         const char *const *shapes, size_t num_shapes, int random_configs)
{
    TsTarget *target;
    TsError err;
    ok(ts_target_parse(target_str, &target, &err), &err);
    TsTemplateTarget tt = template_target(target, 2);
    assert_true(ts_template_applies(tmpl, TS_FLOAT32, &tt));
    TvRng rng = { 91 };
    for (size_t s = 0; s < num_shapes; s++)
        for (int enc = 0; enc < 3; enc++) {
            char shape[256];
            snprintf(shape, sizeof shape, "%s encoding=%d", shapes[s], enc);
            TsTemplateArgs args = parse_args(shape);
            TsConfigSpace *space = ts_config_space_create();
            ok(tmpl->define_space(&args, &tt, space, &err), &err);
            TsConfig config;
            ok(tmpl->default_config(&args, &tt, space, &config, &err), &err);
            check_config(tmpl, shape, &tt, target, &config, 100 + s * 3 + enc, FILL_RANDOM);
            for (int i = 0; i < random_configs; i++) {
                ok(ts_space_get(space, tv_rng_int(&rng, 0, ts_space_size(space) - 1), &config,
                                &err),
                   &err);
                check_config(tmpl, shape, &tt, target, &config, 200 + s * 10 + i, FILL_RANDOM);
            }
            ts_config_space_free(space);
        }
    ts_target_free(target);
}

static bool host_has(const char *feature)
{
    TsTarget *host;
    TsError err;
    ok(ts_target_parse("llvm", &host, &err), &err);
    bool has = ts_target_has_feature(host, feature);
    ts_target_free(host);
    return has;
}

static void test_conv2d_vpopcntdq(void **state)
{
    (void)state;
    if (!host_has("avx512vpopcntdq")) {
        fprintf(stderr, "note: no avx512vpopcntdq here; the AVX-512 form not run\n");
        return;
    }
    check_shapes(&sch_template_bitserial_conv2d_x86, "llvm", conv_shapes,
                 sizeof conv_shapes / sizeof conv_shapes[0], RANDOM_CONFIGS);
}

static void test_conv2d_avx2_fallback(void **state)
{
    (void)state;
    if (!host_has("avx2"))
        return;
    check_shapes(&sch_template_bitserial_conv2d_x86, "llvm -mcpu=haswell", conv_shapes,
                 sizeof conv_shapes / sizeof conv_shapes[0], 0);
    check_shapes(&sch_template_bitserial_conv2d_x86,
                 "llvm -mattr=-avx512vpopcntdq,-avx512bitalg", conv_shapes, 2, 0);
}

/* ---- the accumulator ---- */

/* The largest codes at 512 channels x 3x3, where an int16 accumulator would overflow
 * (A2W2: 9 * 512 * 9 = 41472; A8W8 needs 29 bits), in every encoding; and a reduction
 * long enough that int32 does not suffice. */
static void test_largest_values(void **state)
{
    (void)state;
    TsTarget *target;
    TsError err;
    ok(ts_target_parse("llvm", &target, &err), &err);
    TsTemplateTarget tt = template_target(target, 1);
    const TsTemplate *tmpl = &sch_template_bitserial_conv2d_x86;
    const char *shapes[] = {
        "N=1 C=512 H=4 W=4 K=16 R=3 S=3 stride=1 pad=1 abits=2 wbits=2",
        "N=1 C=512 H=4 W=4 K=16 R=3 S=3 stride=1 pad=1 abits=8 wbits=8",
        "N=1 C=4096 H=3 W=3 K=16 R=3 S=3 stride=1 pad=1 abits=8 wbits=8",
    };
    for (int s = 0; s < 3; s++)
        for (int enc = 0; enc < 3; enc++) {
            char shape[256];
            snprintf(shape, sizeof shape, "%s encoding=%d", shapes[s], enc);
            TsTemplateArgs args = parse_args(shape);
            TsConfigSpace *space = ts_config_space_create();
            ok(tmpl->define_space(&args, &tt, space, &err), &err);
            TsConfig config;
            ok(tmpl->default_config(&args, &tt, space, &config, &err), &err);
            TsArena *A = ts_arena_create();
            TsTemplateInstance inst;
            ok(tmpl->instantiate(&args, &tt, &config, A, &inst, &err), &err);
            assert_int_equal(ts_tensor_dtype(inst.tensors[2]).bits, s == 2 ? 64 : 32);
            ts_arena_destroy(A);
            check_config(tmpl, shape, &tt, target, &config, 7, FILL_MAX);
            ts_config_space_free(space);
        }
    ts_target_free(target);
}

/* ---- fused output stages ---- */

/* The output stage in the template's output loop: scale and bias, ReLU (TVM #7909: the
 * bitserial conv broke when fused with ReLU), int8 or float32; in every encoding. */
static const char *const fused_shapes[] = {
    "N=2 C=37 H=6 W=7 K=21 R=3 S=3 stride=1 pad=1 abits=2 wbits=1 output=2 relu=1",
    "N=1 C=40 H=5 W=5 K=16 R=3 S=3 stride=2 pad=1 abits=1 wbits=1 output=1 relu=1",
    "N=1 C=24 H=5 W=6 K=16 R=3 S=3 stride=1 pad=1 abits=2 wbits=2 output=0 relu=1",
};

static void test_fused_output(void **state)
{
    (void)state;
    check_shapes(&sch_template_bitserial_conv2d_x86, "llvm", fused_shapes,
                 sizeof fused_shapes / sizeof fused_shapes[0], 1);
}

/* The same through a DAG: te/ops' output stage (ReLU, int8) after the operator, inlined
 * into the output loop by schedule_dag, against the reference interpreter. */
static void test_relu_dag(void **state)
{
    (void)state;
    TsTarget *target;
    TsError err;
    ok(ts_target_parse("llvm", &target, &err), &err);
    TsTemplateTarget tt = template_target(target, 1);
    const TsTemplate *tmpl = &sch_template_bitserial_conv2d_x86;
    for (int enc = 0; enc < 3; enc++) {
        char shape[160];
        snprintf(shape, sizeof shape,
                 "N=1 C=37 H=6 W=7 K=21 R=3 S=3 stride=1 pad=1 abits=2 wbits=1 encoding=%d", enc);
        TsTemplateArgs args = parse_args(shape);
        TsConfigSpace *space = ts_config_space_create();
        ok(tmpl->define_space(&args, &tt, space, &err), &err);
        TsConfig config;
        ok(tmpl->default_config(&args, &tt, space, &config, &err), &err);
        TsArena *A = ts_arena_create();
        TsTemplateInstance inst;
        ok(tmpl->instantiate(&args, &tt, &config, A, &inst, &err), &err);
        TsBitserialOutputAttrs attrs = ts_bitserial_output_attrs_default(1);
        attrs.relu = true;
        attrs.out_dtype = TS_INT8;
        TsTemplateDag dag = { .num_consumers = 1 };
        dag.consumers[0] = ts_op_bitserial_output(A, inst.tensors[2], NULL, NULL, &attrs);
        ok(ts_arena_check(A, &err), &err);
        ok(ts_template_schedule_dag(tmpl, &args, &tt, &config, A, &dag, &inst, &err), &err);
        TsLoweredFunc *func;
        ok(ts_lower(inst.sch, "relu_dag", &func, &err), &err);
        TsJitModule *module;
        ok(ts_build_jit(1, (const TsLoweredFunc *const *)&func, target, &module, &err), &err);
        TsPackedFunc fn;
        ok(ts_jit_get_func(module, "relu_dag", &fn, &err), &err);
        TvRng rng = { 5 + (uint64_t)enc };
        void *bufs[3];
        for (int i = 0; i < 3; i++) {
            bufs[i] = calloc(1, tv_num_bytes(inst.tensors[i]));
            if (i < 2)
                tv_fill_random(&rng, inst.tensors[i], bufs[i]);
        }
        void *want = calloc(1, tv_num_bytes(inst.tensors[2]));
        TsBinding rb[3] = { { inst.tensors[0], bufs[0] }, { inst.tensors[1], bufs[1] },
                            { inst.tensors[2], want } };
        ok(ts_evaluate(1, &inst.tensors[2], 3, rb, &err), &err);
        char message[512];
        if (!tt_call(fn, func, 3, inst.tensors, bufs, message, sizeof message))
            fail_msg("%s", message);
        assert_true(ts_dtype_eq(ts_tensor_dtype(inst.tensors[2]), TS_INT8));
        assert_memory_equal(bufs[2], want, tv_num_bytes(inst.tensors[2]));
        int negative = 0;
        for (size_t i = 0; i < tv_num_bytes(inst.tensors[2]); i++)
            negative += ((int8_t *)bufs[2])[i] < 0;
        assert_int_equal(negative, 0);
        for (int i = 0; i < 3; i++)
            free(bufs[i]);
        free(want);
        ts_jit_release(module);
        ts_arena_destroy(A);
        ts_config_space_free(space);
    }
    ts_target_free(target);
}

/* ---- dense ---- */

static const char *const dense_shapes[] = {
    "M=3 N=40 K=100 abits=2 wbits=1",
    "M=8 N=16 K=64 abits=1 wbits=1",
    "M=5 N=24 K=33 abits=4 wbits=2",
};

static void test_dense(void **state)
{
    (void)state;
    check_shapes(&sch_template_bitserial_dense_x86, "llvm", dense_shapes,
                 sizeof dense_shapes / sizeof dense_shapes[0], RANDOM_CONFIGS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv2d_vpopcntdq),
        cmocka_unit_test(test_conv2d_avx2_fallback),
        cmocka_unit_test(test_largest_values),
        cmocka_unit_test(test_dense),
        cmocka_unit_test(test_fused_output),
        cmocka_unit_test(test_relu_dag),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
