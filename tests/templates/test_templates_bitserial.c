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

/* Naive convolution of the values, compared with out [N, G * KBG, OH, OW, ob]. */
static void expect_naive(const Problem *p, const uint32_t *act, const uint32_t *wgt,
                         const TsTensor *out_t, const void *out, const char *what)
{
    int64_t cg = p->c / p->groups, kg = p->k / p->groups, ob = ts_tensor_dim(out_t, 4);
    int64_t kbg = (kg + ob - 1) / ob, kb = kbg * p->groups;
    bool wide = ts_tensor_dtype(out_t).bits == 64;
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
                    int64_t got = wide ? ((const int64_t *)out)[at] : ((const int32_t *)out)[at];
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

/* Builds config on target, runs it on packed random codes, and compares with the
 * reference interpreter and with naive C. */
static void check_config(const TsTemplate *tmpl, const char *shape, const TsTemplateTarget *tt,
                         const TsTarget *target, const TsConfig *config, uint64_t seed, Fill fill)
{
    bool dense = strcmp(tmpl->op, "bitserial_dense") == 0;
    TsTemplateArgs args = parse_args(shape);
    Problem p = problem_of(&args, dense);
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
    TsTensor *out_t = inst.tensors[2];
    int64_t ob = ts_tensor_dim(out_t, 4);
    TvRng rng = { seed };
    uint32_t *act = codes(&rng, p.n * p.c * p.h * p.w, p.abits, fill);
    uint32_t *wgt = codes(&rng, p.k * (p.c / p.groups) * p.r * p.s, p.wbits, fill);
    uint32_t *data = calloc(1, tv_num_bytes(inst.tensors[0]));
    uint32_t *weight = calloc(1, tv_num_bytes(inst.tensors[1]));
    void *want = calloc(1, tv_num_bytes(out_t)), *got = calloc(1, tv_num_bytes(out_t));
    assert_true(data && weight && want && got);
    pack_data(&p, act, data);
    pack_weight(&p, ob, wgt, weight, tv_num_bytes(inst.tensors[1]));
    TsBinding rb[3] = { { inst.tensors[0], data }, { inst.tensors[1], weight }, { out_t, want } };
    ok(ts_evaluate(1, &out_t, 3, rb, &err), &err);
    void *args_data[3] = { data, weight, got };
    char message[512];
    if (!tt_call(fn, func, 3, inst.tensors, args_data, message, sizeof message))
        fail_msg("%s: %s", what, message);
    if (memcmp(got, want, tv_num_bytes(out_t)) != 0)
        fail_msg("%s: the kernel differs from the reference interpreter", what);
    expect_naive(&p, act, wgt, out_t, got, what);
    free(act), free(wgt), free(data), free(weight), free(want), free(got);
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

enum { RANDOM_CONFIGS = 2 };

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
                 sizeof conv_shapes / sizeof conv_shapes[0], 1);
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
