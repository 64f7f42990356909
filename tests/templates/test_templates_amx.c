/* The AMX templates' config spaces and forms (schedule/templates/dense_amx.c and
 * conv2d_amx.c), where this CPU has AMX:
 *   - dense int8 and bf16 on shapes no tile divides (K not a multiple of 64, N not of 16,
 *     K deep enough for 16 and 32 tile steps): the default and configs spread evenly
 *     over the space (k_steps, blocks, order, panels, parallel) built and checked bit for bit
 *     (int8) or within the float tolerance (bf16) against the same expression under a
 *     fresh schedule;
 *   - the dense space is a real one (more than a hundred configs at 1024^3), and the
 *     default keeps the whole K of 1024 int8 elements in one region (one deep tile
 *     statement of 16 steps over 2 x 2 accumulator tiles), a smaller k_steps loops over
 *     regions that accumulate;
 *   - conv2d's flattened positions (rows 0, stride 1): every rows choice and loop order
 *     on 7x7 outputs with padding and batch 2, and without padding, against a naive
 *     convolution on the packed layouts (int8 bit for bit, bf16 within float rounding);
 *     the flattened data and the wide output hold no more than the tiles read (the 7x7
 *     layer of 512 channels: 84 positions of data, 64 of output, 4 tiles per block), and
 *     the default takes them where they save tiles (7x7), not where they do not (14x14).
 * Each template's space is sampled, not enumerated, to keep the time small. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "schedule/templates/tmpl_internal.h"
#include "test_values.h"
#include "tmpl_testing.h"

enum { SAMPLED = 5 };

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

static TsTemplateTarget template_target(const TsTarget *target, int num_cores)
{
    TsTemplateTarget tt;
    TsError err;
    ok(ts_template_target_init(&tt, ts_target_arch(target), ts_target_features(target),
                               ts_target_str(target), num_cores, &err),
       &err);
    return tt;
}

static bool host_has(const char *feature)
{
    TsTarget *host;
    TsError err;
    ok(ts_target_parse("llvm", &host, &err), &err);
    bool has = ts_target_has_feature(host, "amx-tile") && ts_target_has_feature(host, feature);
    ts_target_free(host);
    return has;
}

/* The space and default config of tmpl on shape, for a target of num_cores. */
typedef struct Setup {
    TsTarget *target;
    TsTemplateTarget tt;
    TsTemplateArgs args;
    TsConfigSpace *space;
    TsConfig config;
} Setup;

static void setup(Setup *s, const TsTemplate *tmpl, const char *shape, int num_cores)
{
    TsError err;
    ok(ts_target_parse("llvm", &s->target, &err), &err);
    s->tt = template_target(s->target, num_cores);
    s->args = parse_args(shape);
    s->space = ts_config_space_create();
    ok(tmpl->define_space(&s->args, &s->tt, s->space, &err), &err);
    ok(tmpl->default_config(&s->args, &s->tt, s->space, &s->config, &err), &err);
}

static void teardown(Setup *s)
{
    ts_config_space_free(s->space);
    ts_target_free(s->target);
}

static void check(const TsTemplate *tmpl, const Setup *s, const char *shape, uint64_t seed)
{
    TtResult r;
    assert_true(tt_check_config(tmpl, &s->args, &s->tt, s->target, &s->config, seed, 0, &r));
    if (r.status != TS_OK || !r.same)
        fail_msg("%s %s config %lld: %s %s %s", tmpl->name, shape, (long long)s->config.index,
                 r.stage ? r.stage : "", r.err.message, r.mismatch);
}

/* The default and SAMPLED configs spread evenly over the space, each built and checked. */
static void check_sampled(const TsTemplate *tmpl, const char *shape)
{
    Setup s;
    TsError err;
    setup(&s, tmpl, shape, 2);
    check(tmpl, &s, shape, 1);
    int64_t size = ts_space_size(s.space);
    for (int i = 0; i < SAMPLED && i < size; i++) {
        int64_t index = size <= SAMPLED ? i : (2 * i + 1) * size / (2 * SAMPLED);
        ok(ts_space_get(s.space, index, &s.config, &err), &err);
        check(tmpl, &s, shape, 10 + (uint64_t)i);
    }
    teardown(&s);
}

static void test_dense_int8_configs(void **state)
{
    (void)state;
    if (!host_has("amx-int8")) {
        fprintf(stderr, "skipped: this CPU lacks AMX-INT8\n");
        return;
    }
    check_sampled(&sch_template_dense_int8_amx, "M=20 N=40 K=1000 dtype=int8");
    check_sampled(&sch_template_dense_int8_amx, "M=50 N=33 K=300 dtype=int8");
    check_sampled(&sch_template_dense_int8_amx, "M=64 N=64 K=130 dtype=int8");
}

static void test_dense_bf16_configs(void **state)
{
    (void)state;
    if (!host_has("amx-bf16")) {
        fprintf(stderr, "skipped: this CPU lacks AMX-BF16\n");
        return;
    }
    check_sampled(&sch_template_dense_bf16_amx, "M=20 N=40 K=1000 dtype=bfloat16");
    check_sampled(&sch_template_dense_bf16_amx, "M=50 N=33 K=300 dtype=bfloat16");
    check_sampled(&sch_template_dense_bf16_amx, "M=64 N=64 K=130 dtype=bfloat16");
}

/* The lowered text of config (the default, or the point with these knob values). */
static const char *lowered(const TsTemplate *tmpl, Setup *s, TsArena *A, const char *const *knobs,
                           const int64_t *values, int num)
{
    TsError err;
    for (int k = 0; k < num; k++)
        ok(sch_tmpl_want_knob(&s->config, knobs[k], values[k], &err), &err);
    ok(sch_tmpl_config_finish(&s->config, &err), &err);
    TsTemplateInstance inst;
    TsLoweredFunc *func;
    ok(tmpl->instantiate(&s->args, &s->tt, &s->config, A, &inst, &err), &err);
    ok(ts_lower(inst.sch, "k", &func, &err), &err);
    return ts_lowered_str(A, func);
}

static void expect_in(const char *text, const char *want)
{
    if (!strstr(text, want))
        fail_msg("no \"%s\" in\n%s", want, text);
}

/* The whole K of 1024 in one deep statement over 2 x 2 tiles by default; k_steps 4 is
 * four regions that accumulate. */
static void test_dense_deep_regions(void **state)
{
    (void)state;
    Setup s;
    TsArena *A = ts_arena_create();
    setup(&s, &sch_template_dense_int8_amx, "M=1024 N=1024 K=1024 dtype=int8", 1);
    assert_true(ts_space_size(s.space) >= 100);
    teardown(&s);
    /* 2 x 2 tiles of 16 x 16 (each A and B tile loaded once for two products) */
    setup(&s, &sch_template_dense_int8_amx, "M=32 N=32 K=1024 dtype=int8", 1);
    const char *text = lowered(&sch_template_dense_int8_amx, &s, A, NULL, NULL, 0);
    expect_in(text, "tensorize x86.amx.u8s8.32x32x1024.body");
    /* 16 steps, A 64 bytes and B 1 KiB apart, C not loaded; blocks 2 x 2, the second
     * column 64 bytes further in out and 16 KiB (1024 x 16) in the weight */
    expect_in(text, ", 16, 64i64, 1024i64, 0, 1, 0i64, 0i64, 1, 0i64, 0i64, 2, 2, 64i64, "
                    "16384i64)");
    teardown(&s);
    /* 3 column tiles: blocks of one column */
    setup(&s, &sch_template_dense_int8_amx, "M=32 N=48 K=1024 dtype=int8", 1);
    text = lowered(&sch_template_dense_int8_amx, &s, A, NULL, NULL, 0);
    expect_in(text, "tensorize x86.amx.u8s8.32x16x1024.body");
    expect_in(text, "for (j.outer.outer.outer, 0, 3)");
    assert_null(strstr(text, "k.outer"));
    static const char *const knobs[] = { "k_steps", "block_m" };
    text = lowered(&sch_template_dense_int8_amx, &s, A, knobs, (int64_t[]){ 4, 1 }, 2);
    expect_in(text, "x86.amx.u8s8.16x16x256");
    expect_in(text, "for (i.outer.outer.outer, 0, 2)");
    expect_in(text, "for (k.outer, 0, 4)");
    expect_in(text, ", 4, 64i64, 1024i64, 1, 1, 0i64, 0i64, 1, 0i64, 0i64, 1, 1, ");
    teardown(&s);
    ts_arena_destroy(A);
}

/* Element i of a uint8, int8 or bfloat16 buffer. */
static double element(const void *data, TsDType dtype, int64_t i)
{
    if (dtype.code == TS_TYPE_UINT)
        return ((const uint8_t *)data)[i];
    if (dtype.code == TS_TYPE_INT)
        return ((const int8_t *)data)[i];
    uint32_t word = (uint32_t)((const uint16_t *)data)[i] << 16;
    float value;
    memcpy(&value, &word, sizeof value);
    return value;
}

static int64_t arg(const TsTemplateArgs *args, const char *name)
{
    int64_t value = 0;
    TsError err;
    ok(ts_template_args_get(args, name, &value, &err), &err);
    return value;
}

/* Naive conv2d straight on the packed layouts (every lane of the blocks, padding
 * included, as the template sums them): data [N, ICB, H, W, icb], weight [OCB, ICB, R,
 * S, icb / G, 16, G], out [N, OCB, OH, OW, 16]; int32 exactly, float32 within 1e-5 of the
 * sum of the products' magnitudes. */
static void expect_naive(const TsTemplateArgs *args, TsTensor *const *t, void *const *data,
                         const char *what)
{
    int64_t stride = arg(args, "stride"), pad = arg(args, "pad");
    int64_t n_ = ts_tensor_dim(t[0], 0), icb = ts_tensor_dim(t[0], 1);
    int64_t h = ts_tensor_dim(t[0], 2), w = ts_tensor_dim(t[0], 3), bn = ts_tensor_dim(t[0], 4);
    int64_t ocb = ts_tensor_dim(t[1], 0), r_ = ts_tensor_dim(t[1], 2), s_ = ts_tensor_dim(t[1], 3);
    int64_t g_ = ts_tensor_dim(t[1], 6), oh = ts_tensor_dim(t[2], 2), ow = ts_tensor_dim(t[2], 3);
    bool exact = ts_tensor_dtype(t[2]).code == TS_TYPE_INT;
    for (int64_t o = 0; o < n_ * ocb * oh * ow * 16; o++) {
        int64_t ob = o % 16, x = o / 16 % ow, y = o / 16 / ow % oh, oc = o / 16 / ow / oh % ocb;
        int64_t n = o / 16 / ow / oh / ocb;
        double want = 0, mag = 0;
        for (int64_t c = 0; c < icb * bn; c++)
            for (int64_t kh = 0; kh < r_; kh++)
                for (int64_t kw = 0; kw < s_; kw++) {
                    int64_t iy = y * stride - pad + kh, ix = x * stride - pad + kw;
                    if (iy < 0 || iy >= h || ix < 0 || ix >= w)
                        continue;
                    int64_t cb = c / bn, lane = c % bn;
                    double a = element(data[0], ts_tensor_dtype(t[0]),
                                       (((n * icb + cb) * h + iy) * w + ix) * bn + lane);
                    int64_t wi =
                        (((((oc * icb + cb) * r_ + kh) * s_ + kw) * (bn / g_) + lane / g_) * 16 +
                         ob) *
                            g_ +
                        lane % g_;
                    double b = element(data[1], ts_tensor_dtype(t[1]), wi);
                    want += a * b, mag += a * b < 0 ? -a * b : a * b;
                }
        double got = exact ? ((const int32_t *)data[2])[o] : ((const float *)data[2])[o];
        if (exact ? got != want : got - want > 1e-5 * mag + 1e-6 || want - got > 1e-5 * mag + 1e-6)
            fail_msg("%s: output %lld (n %lld oc %lld y %lld x %lld lane %lld) is %g, naive C "
                     "says %g",
                     what, (long long)o, (long long)n, (long long)oc, (long long)y, (long long)x,
                     (long long)ob, got, want);
    }
}

/* The config built, run on random inputs and checked against naive C. */
static void check_naive(const TsTemplate *tmpl, const Setup *s, const char *shape, uint64_t seed)
{
    TsArena *A = ts_arena_create();
    TsTemplateInstance inst;
    TsLoweredFunc *func;
    TsJitModule *module = NULL;
    TsPackedFunc fn;
    TsError err;
    char what[300], message[512];
    snprintf(what, sizeof what, "%s %s config %lld", tmpl->name, shape, (long long)s->config.index);
    if (tt_build(tmpl, &s->args, &s->tt, s->target, &s->config, A, &inst, &func, &module, &fn,
                 &err) != TS_OK)
        fail_msg("%s: %s", what, err.message);
    void *data[3];
    TvRng rng = { seed };
    for (int i = 0; i < 3; i++) {
        data[i] = calloc(1, tv_num_bytes(inst.tensors[i]));
        assert_non_null(data[i]);
        if (i < 2)
            tv_fill_random(&rng, inst.tensors[i], data[i]);
    }
    if (!tt_call(fn, func, 3, inst.tensors, data, message, sizeof message))
        fail_msg("%s: %s", what, message);
    expect_naive(&s->args, inst.tensors, data, what);
    for (int i = 0; i < 3; i++)
        free(data[i]);
    ts_jit_release(module);
    ts_arena_destroy(A);
}

/* Every rows choice, flattened (0) and along output rows, of a 7x7 output. */
static void check_every_rows(const TsTemplate *tmpl, const char *shape)
{
    Setup s;
    TsError err;
    setup(&s, tmpl, shape, 1);
    int64_t rows;
    ok(ts_config_knob(&s.config, "rows", &rows, &err), &err);
    assert_int_equal(rows, 0); /* flattened by default at 7x7 */
    TsConfig base = s.config;
    for (int64_t choice = 0;; choice++) {
        s.config = base;
        s.config.choice[1] = choice; /* knobs: ic_bn, rows, loop_order */
        if (ts_space_from_choices(s.space, s.config.choice, &s.config, &err) != TS_OK)
            break;
        for (int order = 0; order < 2; order++) {
            s.config.choice[2] = order;
            ok(ts_space_from_choices(s.space, s.config.choice, &s.config, &err), &err);
            check_naive(tmpl, &s, shape, 40 + (uint64_t)choice);
        }
    }
    teardown(&s);
}

static void test_conv_flat_int8(void **state)
{
    (void)state;
    if (!host_has("amx-int8")) {
        fprintf(stderr, "skipped: this CPU lacks AMX-INT8\n");
        return;
    }
    check_every_rows(&sch_template_conv2d_int8_amx,
                     "N=2 C=70 H=7 W=7 K=20 R=3 S=3 stride=1 pad=1 dtype=int8");
    check_every_rows(&sch_template_conv2d_int8_amx,
                     "N=1 C=20 H=9 W=9 K=17 R=3 S=3 stride=1 pad=0 dtype=int8");
    /* blocks, loop orders and parallel (two cores) sampled, against the reference */
    check_sampled(&sch_template_conv2d_int8_amx,
                  "N=2 C=70 H=14 W=14 K=64 R=3 S=3 stride=1 pad=1 dtype=int8");
}

static void test_conv_flat_bf16(void **state)
{
    (void)state;
    if (!host_has("amx-bf16")) {
        fprintf(stderr, "skipped: this CPU lacks AMX-BF16\n");
        return;
    }
    check_every_rows(&sch_template_conv2d_bf16_amx,
                     "N=2 C=40 H=7 W=7 K=20 R=3 S=3 stride=1 pad=1 dtype=bfloat16");
}

/* Buffers and trip counts of the flattened form at the 7x7 and 14x14 layers; the 28x28
 * layer keeps tiles of 14 columns of one row; stride 2 has no flat choice. */
static void test_conv_flat_extents(void **state)
{
    (void)state;
    Setup s;
    TsArena *A = ts_arena_create();
    setup(&s, &sch_template_conv2d_int8_amx,
          "N=1 C=512 H=7 W=7 K=512 R=3 S=3 stride=1 pad=1 dtype=int8", 1);
    const char *text = lowered(&sch_template_conv2d_int8_amx, &s, A, NULL, NULL, 0);
    /* 61 positions (6 rows of 9, then 7) in 4 tiles of 16; 64 + 2 rows of 9 + 2 read */
    expect_in(text, "allocate data_flat: uint8[1, 8, 84, 64]");
    expect_in(text, "allocate conv2d_wide: int32[1, 32, 64, 16]");
    /* blocks of 2 x 2 tiles: 2 blocks of 32 positions, 16 of 2 output channel blocks */
    expect_in(text, "for (p.outer.outer, 0, 2)");
    expect_in(text, "for (oc.outer, 0, 16)");
    expect_in(text, "tensorize x86.amx.u8s8.32x32x4608.body");
    expect_in(text, ", 2, 2, 4096i64, 73728i64)"); /* blocks; C and B oc block strides */
    teardown(&s);
    /* 14x14: 14 tiles either way, paired only when flattened (224 positions; data 224 + 2
     * rows of 16 + 2) */
    setup(&s, &sch_template_conv2d_int8_amx,
          "N=1 C=256 H=14 W=14 K=256 R=3 S=3 stride=1 pad=1 dtype=int8", 1);
    text = lowered(&sch_template_conv2d_int8_amx, &s, A, NULL, NULL, 0);
    expect_in(text, "allocate data_flat: uint8[1, 4, 258, 64]");
    expect_in(text, "allocate conv2d_wide: int32[1, 16, 224, 16]");
    expect_in(text, "for (p.outer.outer, 0, 7)");
    teardown(&s);
    /* 28x28: 2 tiles of 14 per row, paired, along the rows */
    setup(&s, &sch_template_conv2d_int8_amx,
          "N=1 C=128 H=28 W=28 K=128 R=3 S=3 stride=1 pad=1 dtype=int8", 1);
    text = lowered(&sch_template_conv2d_int8_amx, &s, A, NULL, NULL, 0);
    assert_null(strstr(text, "data_flat"));
    expect_in(text, "tensorize x86.amx.u8s8.28x32x1152.body");
    teardown(&s);
    setup(&s, &sch_template_conv2d_int8_amx,
          "N=1 C=16 H=14 W=14 K=16 R=3 S=3 stride=2 pad=1 dtype=int8", 1);
    static const char *const knobs[] = { "rows" };
    text = lowered(&sch_template_conv2d_int8_amx, &s, A, knobs, (int64_t[]){ 0 }, 1);
    assert_null(strstr(text, "data_flat")); /* 0 is not a choice: the nearest, 1 */
    teardown(&s);
    ts_arena_destroy(A);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dense_deep_regions), cmocka_unit_test(test_conv_flat_extents),
        cmocka_unit_test(test_dense_int8_configs), cmocka_unit_test(test_dense_bf16_configs),
        cmocka_unit_test(test_conv_flat_int8),     cmocka_unit_test(test_conv_flat_bf16),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
