/* The int8 conv2d templates end to end (schedule/templates/conv2d_int8.c: generic,
 * VNNI, sdot, smull+sadalp; conv2d_amx.c: AMX tiles, where this CPU has them, also
 * on more than one 64-channel input block): on odd
 * shapes (channels no block divides, stride 2, padding, 1x1 and 7x7 kernels, batch 2),
 * the default config and a sample of configs are built for AVX-512 ("llvm" on this CPU)
 * and AVX2 ("llvm -mcpu=haswell"), run on random uint8 data and int8 weights packed from
 * NCHW / OIHW by te/ops (ts_op_nchwc_pack_fill, ts_op_conv2d_pack_weight_dot), and
 * compared bit for bit with the reference interpreter on the template's own expression
 * and with a naive C convolution in NCHW (the padded output channels must be zero). For
 * AArch64 (NEON, and NEON with dotprod) the default config must lower and cross-compile
 * to an object file, and the sdot and smull+sadalp variants run in the loop interpreter
 * (tensorized nests through their intrinsics' declarations). Also: the registry picks an
 * int8 template for dtype=int8 by the target's features (VNNI only with avx512vnni, sdot
 * only with dotprod), the float32 template refuses int8, and the int8 one float32. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "schedule/templates/tmpl_internal.h"
#include "test_values.h"
#include "tmpl_testing.h"

enum { RANDOM_CONFIGS = 4 };

/* clang-format off */
static const char *const conv_shapes[] = {
    "N=2 C=5 H=9 W=11 K=10 R=3 S=3 stride=2 pad=1 dtype=int8",
    "N=1 C=13 H=7 W=6 K=20 R=1 S=1 stride=1 pad=0 dtype=int8",
    "N=1 C=3 H=12 W=11 K=17 R=7 S=7 stride=2 pad=3 dtype=int8",
    "N=1 C=24 H=8 W=8 K=32 R=3 S=3 stride=1 pad=1 dtype=int8",
};

/* More for AMX: input channels past one 64-channel block, 14-row tiles. */
static const char *const amx_shapes[] = {
    "N=2 C=70 H=14 W=14 K=33 R=3 S=3 stride=1 pad=1 dtype=int8",
    "N=1 C=130 H=7 W=7 K=20 R=1 S=1 stride=1 pad=0 dtype=int8",
};
/* clang-format on */

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

static int64_t arg(const TsTemplateArgs *args, const char *name)
{
    int64_t value = 0;
    TsError err;
    ok(ts_template_args_get(args, name, &value, &err), &err);
    return value;
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

static void *buffer(const TsTensor *t)
{
    void *p = calloc(1, tv_num_bytes(t));
    assert_non_null(p);
    return p;
}

/* Naive conv2d, NCHW uint8 data x OIHW int8 weight -> int32, compared with the blocked
 * output out [N, KB, OH, OW, ob]; channels past K must be 0. */
static void expect_naive(const TsTemplateArgs *args, const uint8_t *data, bool signed_data,
                         const int8_t *weight, const TsTensor *out_t, const int32_t *out,
                         const char *what)
{
    int64_t n_ = arg(args, "N"), c_ = arg(args, "C"), h_ = arg(args, "H"), w_ = arg(args, "W");
    int64_t k_ = arg(args, "K"), r_ = arg(args, "R"), s_ = arg(args, "S");
    int64_t stride = arg(args, "stride"), pad = arg(args, "pad");
    int64_t kb = ts_tensor_dim(out_t, 1), oh = ts_tensor_dim(out_t, 2);
    int64_t ow = ts_tensor_dim(out_t, 3), ob = ts_tensor_dim(out_t, 4);
    for (int64_t n = 0; n < n_; n++)
        for (int64_t k = 0; k < kb * ob; k++)
            for (int64_t y = 0; y < oh; y++)
                for (int64_t x = 0; x < ow; x++) {
                    int32_t want = 0;
                    for (int64_t c = 0; k < k_ && c < c_; c++)
                        for (int64_t r = 0; r < r_; r++)
                            for (int64_t s = 0; s < s_; s++) {
                                int64_t iy = y * stride - pad + r, ix = x * stride - pad + s;
                                if (iy < 0 || iy >= h_ || ix < 0 || ix >= w_)
                                    continue;
                                uint8_t byte = data[((n * c_ + c) * h_ + iy) * w_ + ix];
                                int32_t v = signed_data ? (int32_t)(int8_t)byte : (int32_t)byte;
                                want += v * (int32_t)weight[((k * c_ + c) * r_ + r) * s_ + s];
                            }
                    int32_t got = out[(((n * kb + k / ob) * oh + y) * ow + x) * ob + k % ob];
                    if (got != want)
                        fail_msg("%s: output n=%lld k=%lld y=%lld x=%lld is %d, naive C says %d",
                                 what, (long long)n, (long long)k, (long long)y, (long long)x, got,
                                 want);
                }
}

/* Builds config, packs random NCHW operands through te/ops, runs the kernel and checks
 * it against the reference interpreter and naive C. With run_here false (a target this
 * CPU cannot run) the lowered nest runs in the loop interpreter instead, which runs a
 * tensorized nest through its intrinsic's declaration. */
static void check_config(const TsTemplate *tmpl, const char *shape, const TsTemplateTarget *tt,
                         const TsTarget *target, bool run_here, const TsConfig *config,
                         uint64_t seed)
{
    TsTemplateArgs args = parse_args(shape);
    TsArena *A = ts_arena_create();
    TsTemplateInstance inst;
    TsLoweredFunc *func;
    TsJitModule *module = NULL;
    TsPackedFunc fn = NULL;
    TsError err;
    char what[400];
    snprintf(what, sizeof what, "%s %s on %.60s, config %lld", tmpl->name, shape, tt->name,
             (long long)config->index);
    TsStatus st =
        run_here ? tt_build(tmpl, &args, tt, target, config, A, &inst, &func, &module, &fn, &err)
                 : tt_lower_config(tmpl, &args, tt, config, A, &func, &err);
    if (st == TS_OK && !run_here)
        st = tmpl->instantiate(&args, tt, config, A, &inst, &err);
    if (st != TS_OK)
        fail_msg("%s: refused: %s", what, err.message);
    TsTensor *out_t = inst.tensors[2];
    int64_t ic_bn = ts_tensor_dim(inst.tensors[0], 4), oc_bn = ts_tensor_dim(out_t, 4);
    int64_t group = ts_tensor_dim(inst.tensors[1], 6);
    TsTensor *nchw = ts_placeholder(
        A, "nchw", 4,
        (int64_t[]){ arg(&args, "N"), arg(&args, "C"), arg(&args, "H"), arg(&args, "W") },
        ts_tensor_dtype(inst.tensors[0]));
    TsTensor *oihw = ts_placeholder(
        A, "oihw", 4,
        (int64_t[]){ arg(&args, "K"), arg(&args, "C"), arg(&args, "R"), arg(&args, "S") }, TS_INT8);
    TsTensor *packed_data = ts_op_nchwc_pack_fill(A, nchw, ic_bn, 0);
    TsTensor *packed_weight = ts_op_conv2d_pack_weight_dot(A, oihw, ic_bn, oc_bn, group);
    ok(ts_arena_check(A, &err), &err);
    TvRng rng = { seed };
    uint8_t *data = buffer(nchw);
    int8_t *weight = buffer(oihw);
    void *pd = buffer(packed_data), *pw = buffer(packed_weight);
    int32_t *want = buffer(out_t), *got = buffer(out_t);
    tv_fill_random(&rng, nchw, data);
    tv_fill_random(&rng, oihw, weight);
    TsTensor *packs[2] = { packed_data, packed_weight };
    TsBinding pb[4] = {
        { nchw, data }, { oihw, weight }, { packed_data, pd }, { packed_weight, pw }
    };
    ok(ts_evaluate(2, packs, 4, pb, &err), &err);
    TsBinding rb[3] = { { inst.tensors[0], pd }, { inst.tensors[1], pw }, { out_t, want } };
    ok(ts_evaluate(1, &out_t, 3, rb, &err), &err);
    if (run_here) {
        void *args_data[3] = { pd, pw, got };
        char message[512];
        if (!tt_call(fn, func, 3, inst.tensors, args_data, message, sizeof message))
            fail_msg("%s: %s", what, message);
    } else {
        /* The lowered function's own argument tensors, in the instance's order. */
        TsBinding lb[3];
        void *bufs[3] = { pd, pw, got };
        for (int i = 0; i < 3; i++)
            lb[i] = (TsBinding){ (TsTensor *)ts_lowered_arg(func, i), bufs[i] };
        ok(ts_lowered_run(func, 3, lb, &err), &err);
    }
    if (memcmp(got, want, tv_num_bytes(out_t)) != 0) {
        size_t count = tv_num_bytes(out_t) / 4, i = 0;
        while (got[i] == want[i])
            i++;
        fail_msg("%s: element %zu of %zu is %d, the reference interpreter says %d", what, i, count,
                 got[i], want[i]);
    }
    expect_naive(&args, data, ts_dtype_eq(ts_tensor_dtype(nchw), TS_INT8), weight, out_t, got,
                 what);
    free(data), free(weight), free(pd), free(pw), free(want), free(got);
    if (module)
        ts_jit_release(module);
    ts_arena_destroy(A);
}

/* The default config and RANDOM_CONFIGS sampled ones of every shape. */
static void check_shapes_on_target(const TsTemplate *tmpl, const char *target_str, bool run_here,
                                   const char *const *shapes, size_t num_shapes)
{
    TsTarget *target;
    TsError err;
    ok(ts_target_parse(target_str, &target, &err), &err);
    TsTemplateTarget tt = template_target(target, 2);
    assert_true(ts_template_applies(tmpl, TS_INT8, &tt));
    TvRng rng = { 77 };
    for (size_t s = 0; s < num_shapes; s++) {
        TsTemplateArgs args = parse_args(shapes[s]);
        TsConfigSpace *space = ts_config_space_create();
        ok(tmpl->define_space(&args, &tt, space, &err), &err);
        TsConfig config;
        ok(tmpl->default_config(&args, &tt, space, &config, &err), &err);
        check_config(tmpl, shapes[s], &tt, target, run_here, &config, 100 + s);
        for (int i = 0; i < RANDOM_CONFIGS; i++) {
            ok(ts_space_get(space, tv_rng_int(&rng, 0, ts_space_size(space) - 1), &config, &err),
               &err);
            check_config(tmpl, shapes[s], &tt, target, run_here, &config, 200 + s * 10 + i);
        }
        ts_config_space_free(space);
    }
    ts_target_free(target);
}

static void check_on_target(const TsTemplate *tmpl, const char *target_str, bool run_here)
{
    check_shapes_on_target(tmpl, target_str, run_here, conv_shapes,
                           sizeof conv_shapes / sizeof conv_shapes[0]);
}

static void test_conv2d_int8_avx512(void **state)
{
    (void)state;
    if (!__builtin_cpu_supports("avx512f")) {
        fprintf(stderr, "skipped: this CPU lacks AVX-512\n");
        return;
    }
    check_on_target(&sch_template_conv2d_int8, "llvm", true);
}

/* vpdpbusd on this CPU ("llvm": AVX-512 with AMX here) and on a VNNI-only target (a
 * Cascade Lake has avx512vnni and no AMX). */
static void test_conv2d_int8_vnni(void **state)
{
    (void)state;
    if (!__builtin_cpu_supports("avx512vnni")) {
        fprintf(stderr, "skipped: this CPU lacks AVX512-VNNI\n");
        return;
    }
    check_on_target(&sch_template_conv2d_int8_vnni, "llvm", true);
    check_on_target(&sch_template_conv2d_int8_vnni, "llvm -mcpu=cascadelake", true);
}

/* AMX tiles (conv2d_amx.c), where this CPU has them: the whole reduction of an
 * output tile in one tile register, tiles of the output width's divisors as rows. */
static void test_conv2d_int8_amx(void **state)
{
    (void)state;
    TsTarget *host;
    TsError err;
    ok(ts_target_parse("llvm", &host, &err), &err);
    bool have = ts_target_has_feature(host, "amx-tile") && ts_target_has_feature(host, "amx-int8");
    ts_target_free(host);
    if (!have) {
        fprintf(stderr, "skipped: this CPU lacks AMX-INT8\n");
        return;
    }
    check_on_target(&sch_template_conv2d_int8_amx, "llvm", true);
    check_shapes_on_target(&sch_template_conv2d_int8_amx, "llvm", true, amx_shapes,
                           sizeof amx_shapes / sizeof amx_shapes[0]);
}

/* bfloat16 (vdpbf16ps, or tdpbf16ps on AMX tiles) on shapes: against the same
 * expression under a fresh schedule (tmpl_testing.h: floats within 1e-4 of the
 * magnitude; the products are exact in fp32, only the order of the sums differs). */
static void check_bf16(const TsTemplate *tmpl, const char *const *shapes, size_t num_shapes)
{
    TsTarget *target;
    TsError err;
    ok(ts_target_parse("llvm", &target, &err), &err);
    TsTemplateTarget tt = template_target(target, 2);
    TvRng rng = { 78 };
    for (size_t s = 0; s < num_shapes; s++) {
        char shape[256];
        snprintf(shape, sizeof shape, "%.*s dtype=bfloat16",
                 (int)(strstr(shapes[s], " dtype=") - shapes[s]), shapes[s]);
        TsTemplateArgs args = parse_args(shape);
        TsConfigSpace *space = ts_config_space_create();
        ok(tmpl->define_space(&args, &tt, space, &err), &err);
        TsConfig config;
        ok(tmpl->default_config(&args, &tt, space, &config, &err), &err);
        for (int i = 0; i <= RANDOM_CONFIGS; i++) {
            if (i > 0)
                ok(ts_space_get(space, tv_rng_int(&rng, 0, ts_space_size(space) - 1), &config,
                                &err),
                   &err);
            TtResult r;
            assert_true(tt_check_config(tmpl, &args, &tt, target, &config, 300 + s, 0, &r));
            if (r.status != TS_OK || !r.same)
                fail_msg("%s %s config %lld: %s %s", tmpl->name, shape, (long long)config.index,
                         r.err.message, r.mismatch);
        }
        ts_config_space_free(space);
    }
    ts_target_free(target);
}

static void test_conv2d_bf16(void **state)
{
    (void)state;
    if (!__builtin_cpu_supports("avx512bf16")) {
        fprintf(stderr, "skipped: this CPU lacks AVX512-BF16\n");
        return;
    }
    check_bf16(&sch_template_conv2d_bf16, conv_shapes, sizeof conv_shapes / sizeof conv_shapes[0]);
}

/* tdpbf16ps, where this CPU has AMX-BF16: the registry's choice for bfloat16 here. */
static void test_conv2d_bf16_amx(void **state)
{
    (void)state;
    TsTarget *host;
    TsError err;
    ok(ts_target_parse("llvm", &host, &err), &err);
    bool have = ts_target_has_feature(host, "amx-tile") && ts_target_has_feature(host, "amx-bf16");
    if (!have) {
        ts_target_free(host);
        fprintf(stderr, "skipped: this CPU lacks AMX-BF16\n");
        return;
    }
    TsTemplateTarget tt = template_target(host, 1);
    const TsTemplate *tmpl;
    ok(ts_template_for_op("conv2d", TS_BFLOAT16, &tt, &tmpl, &err), &err);
    assert_string_equal(tmpl->name, "conv2d_NCHWc_bf16_amx");
    ts_target_free(host);
    check_bf16(&sch_template_conv2d_bf16_amx, conv_shapes,
               sizeof conv_shapes / sizeof conv_shapes[0]);
    check_bf16(&sch_template_conv2d_bf16_amx, amx_shapes, sizeof amx_shapes / sizeof amx_shapes[0]);
}

/* AArch64 sdot and smull + sadalp: the loop interpreter runs the tensorized nests
 * through the intrinsics' declarations (no AArch64 CPU here). */
static void test_conv2d_int8_aarch64_run(void **state)
{
    (void)state;
    check_on_target(&sch_template_conv2d_int8_sdot,
                    "llvm -mtriple=aarch64-linux-gnu -mattr=+neon,+dotprod", false);
    check_on_target(&sch_template_conv2d_int8_smlal, "llvm -mtriple=aarch64-linux-gnu -mattr=+neon",
                    false);
}

static void test_conv2d_int8_avx2(void **state)
{
    (void)state;
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
        fprintf(stderr, "skipped: this CPU lacks AVX2\n");
        return;
    }
    check_on_target(&sch_template_conv2d_int8, "llvm -mcpu=haswell", true);
}

/* AArch64: the default config of every shape lowers and cross-compiles. */
static void test_conv2d_int8_aarch64_compiles(void **state)
{
    (void)state;
    static const char *const targets[] = {
        "llvm -mtriple=aarch64-linux-gnu -mattr=+neon",
        "llvm -mtriple=aarch64-linux-gnu -mattr=+neon,+dotprod",
    };
    for (size_t t = 0; t < 2; t++) {
        TsTarget *target;
        TsError err;
        ok(ts_target_parse(targets[t], &target, &err), &err);
        TsTemplateTarget tt = template_target(target, 1);
        const TsTemplate *tmpl;
        ok(ts_template_for_op("conv2d", TS_INT8, &tt, &tmpl, &err), &err);
        for (size_t s = 0; s < sizeof conv_shapes / sizeof conv_shapes[0]; s++) {
            TsTemplateArgs args = parse_args(conv_shapes[s]);
            TsConfigSpace *space = ts_config_space_create();
            ok(tmpl->define_space(&args, &tt, space, &err), &err);
            TsConfig config;
            ok(tmpl->default_config(&args, &tt, space, &config, &err), &err);
            TsArena *A = ts_arena_create();
            TsLoweredFunc *func;
            ok(tt_lower_config(tmpl, &args, &tt, &config, A, &func, &err), &err);
            char path[] = "/tmp/tessera_int8_neon_XXXXXX";
            int fd = mkstemp(path);
            assert_true(fd >= 0);
            close(fd);
            ok(ts_build_object(1, (const TsLoweredFunc *const *)&func, target, path, &err), &err);
            struct stat info;
            assert_int_equal(stat(path, &info), 0);
            assert_true(info.st_size > 0);
            unlink(path);
            ts_arena_destroy(A);
            ts_config_space_free(space);
        }
        ts_target_free(target);
    }
}

/* Which int8 template the registry picks for each target: never one whose instruction
 * the target lacks. */
static void test_selection_by_features(void **state)
{
    (void)state;
    static const struct {
        const char *target, *want;
    } cases[] = {
        { "llvm -mcpu=haswell", "conv2d_NCHWc_int8" },
        { "llvm -mcpu=skylake-avx512", "conv2d_NCHWc_int8" },
        { "llvm -mcpu=cascadelake", "conv2d_NCHWc_int8_vnni" },
        { "llvm -mcpu=sapphirerapids", "conv2d_NCHWc_int8_amx" },
        { "llvm -mcpu=sapphirerapids -mattr=-amx-int8", "conv2d_NCHWc_int8_vnni" },
        { "llvm -mcpu=sapphirerapids -mattr=-amx-tile,-avx512vnni", "conv2d_NCHWc_int8" },
        { "llvm -mtriple=aarch64-linux-gnu -mattr=+neon", "conv2d_NCHWc_int8_smlal" },
        { "llvm -mtriple=aarch64-linux-gnu -mattr=+neon,+dotprod", "conv2d_NCHWc_int8_sdot" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        TsTarget *target;
        TsError err;
        ok(ts_target_parse(cases[i].target, &target, &err), &err);
        TsTemplateTarget tt = template_target(target, 1);
        const TsTemplate *found;
        ok(ts_template_for_op("conv2d", TS_INT8, &tt, &found, &err), &err);
        if (strcmp(found->name, cases[i].want) != 0)
            fail_msg("%s: picked %s, want %s", cases[i].target, found->name, cases[i].want);
        ts_target_free(target);
    }
}

/* The registry: dtype=int8 selects an int8 template on x86 and AArch64; float32 the
 * float one; each template refuses the other's dtype with a message naming it. */
static void test_selection_by_dtype(void **state)
{
    (void)state;
    TsError err;
    static const struct {
        const char *arch, *features;
    } targets[] = { { "x86_64", ",avx,avx2,fma,avx512f,avx512bw," }, { "aarch64", ",neon," } };
    for (size_t i = 0; i < 2; i++) {
        TsTemplateTarget tt;
        ok(ts_template_target_init(&tt, targets[i].arch, targets[i].features, targets[i].arch, 1,
                                   &err),
           &err);
        const TsTemplate *found;
        ok(ts_template_for_op("conv2d", TS_INT8, &tt, &found, &err), &err);
        assert_string_equal(found->name, i == 0 ? "conv2d_NCHWc_int8" : "conv2d_NCHWc_int8_smlal");
        ok(ts_template_for_op("conv2d", TS_FLOAT32, &tt, &found, &err), &err);
        assert_string_equal(found->name, "conv2d_NCHWc");
    }
    TsConfigSpace *space = ts_config_space_create();
    TsTemplateArgs f32 = parse_args("N=1 C=8 H=5 W=5 K=8 R=3 S=3 stride=1 pad=1 dtype=float32");
    assert_int_equal(sch_template_conv2d_int8.define_space(&f32, &sch_any_target, space, &err),
                     TS_EINVAL);
    assert_non_null(strstr(err.message, "dtype float32 is not served (int8 only)"));
    TsTemplateArgs i8 = parse_args("N=1 C=8 H=5 W=5 K=8 R=3 S=3 stride=1 pad=1 dtype=int8");
    assert_int_equal(sch_template_conv2d_nchwc.define_space(&i8, &sch_any_target, space, &err),
                     TS_EINVAL);
    assert_non_null(strstr(err.message, "int8"));
    TsTemplateArgs none = parse_args("N=1 C=8 H=5 W=5 K=8 R=3 S=3 stride=1 pad=1");
    assert_int_equal(sch_template_conv2d_int8.define_space(&none, &sch_any_target, space, &err),
                     TS_EINVAL);
    assert_non_null(strstr(err.message, "dtype=int8 is missing"));
    ts_config_space_free(space);
}

/* Channels no block divides are padded, not refused, and the weight is the smallest
 * that holds the blocks: ceil(C / ic_bn) x ceil(K / oc_bn) blocks. */
static void test_padded_shapes(void **state)
{
    (void)state;
    TsError err;
    TsTemplateArgs args = parse_args("N=1 C=5 H=6 W=6 K=10 R=3 S=3 stride=1 pad=1 dtype=int8");
    TsConfigSpace *space = ts_config_space_create();
    ok(sch_template_conv2d_int8.define_space(&args, &sch_any_target, space, &err), &err);
    TsConfig config;
    ok(sch_template_conv2d_int8.default_config(&args, &sch_any_target, space, &config, &err), &err);
    TsArena *A = ts_arena_create();
    TsTemplateInstance inst;
    ok(sch_template_conv2d_int8.instantiate(&args, &sch_any_target, &config, A, &inst, &err), &err);
    int64_t ic_bn = ts_tensor_dim(inst.tensors[0], 4), oc_bn = ts_tensor_dim(inst.tensors[2], 4);
    assert_int_equal(ic_bn, 8); /* 16 wanted; C = 5 rounds up to 8 */
    assert_int_equal(ts_tensor_dim(inst.tensors[0], 1), 1);
    assert_int_equal(ts_tensor_dim(inst.tensors[1], 0), (10 + oc_bn - 1) / oc_bn);
    assert_int_equal(ts_tensor_dim(inst.tensors[2], 1), (10 + oc_bn - 1) / oc_bn);
    ts_arena_destroy(A);
    ts_config_space_free(space);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_selection_by_dtype),
        cmocka_unit_test(test_selection_by_features),
        cmocka_unit_test(test_conv2d_int8_vnni),
        cmocka_unit_test(test_conv2d_int8_amx),
        cmocka_unit_test(test_conv2d_int8_aarch64_run),
        cmocka_unit_test(test_conv2d_bf16),
        cmocka_unit_test(test_conv2d_bf16_amx),
        cmocka_unit_test(test_padded_shapes),
        cmocka_unit_test(test_conv2d_int8_avx512),
        cmocka_unit_test(test_conv2d_int8_avx2),
        cmocka_unit_test(test_conv2d_int8_aarch64_compiles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
