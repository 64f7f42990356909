/* The templates' default configs (what a model build uses for a task with no tuning
 * record) over a sweep of odd shapes: channels 3, 24, 40, 1000, images of 7x7 and 13x13,
 * stride 2, 1x1 kernels. For AVX2, AVX-512 and NEON, every default must be a config of
 * its space (its index gives back its choices) and keep the micro-kernel in machine
 * vectors: its vectorized channel block a power-of-two count of vectors, or a
 * power-of-two part of one (a block of 24, 40 or 48 lanes is what LLVM widens, shuffles
 * and spills: 2 GFLOPS where 100 was due), and conv2d's accumulators within the
 * registers. On the ISAs this host runs, the defaults of some of these shapes are
 * compiled and their values compared with the reference (tmpl_testing.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "schedule/templates/tmpl_internal.h"
#include "tmpl_testing.h"

typedef struct Shape {
    const char *op, *args;
    bool run; /* also compiled and checked against the reference */
} Shape;

/* clang-format off */
static const Shape shapes[] = {
    { "conv2d", "N=1 C=512 H=13 W=13 K=1000 R=1 S=1 stride=1 pad=0", false },
    { "conv2d", "N=1 C=24 H=13 W=13 K=40 R=1 S=1 stride=1 pad=0", true },
    { "conv2d", "N=1 C=256 H=13 W=13 K=48 R=1 S=1 stride=1 pad=0", true },
    { "conv2d", "N=1 C=96 H=14 W=14 K=24 R=1 S=1 stride=1 pad=0", true },
    { "conv2d", "N=1 C=3 H=15 W=15 K=64 R=7 S=7 stride=2 pad=3", true },
    { "conv2d", "N=1 C=3 H=7 W=7 K=3 R=3 S=3 stride=1 pad=1", true },
    { "conv2d", "N=1 C=64 H=14 W=14 K=128 R=1 S=1 stride=2 pad=0", true },
    { "conv2d", "N=1 C=512 H=7 W=7 K=512 R=3 S=3 stride=1 pad=1", false },
    { "conv2d", "N=1 C=16 H=55 W=55 K=64 R=3 S=3 stride=1 pad=1", false },
    { "conv2d", "N=1 C=32 H=112 W=112 K=16 R=1 S=1 stride=1 pad=0", false },
    { "depthwise_conv2d", "N=1 C=24 H=9 W=9 R=3 S=3 stride=2 pad=1", true },
    { "depthwise_conv2d", "N=1 C=40 H=7 W=7 R=3 S=3 stride=1 pad=1", true },
    { "depthwise_conv2d", "N=1 C=960 H=7 W=7 R=3 S=3 stride=1 pad=1", false },
    { "depthwise_conv2d", "N=1 C=3 H=13 W=13 R=3 S=3 stride=2 pad=1", true },
    { "pool2d", "N=1 C=1000 H=13 W=13 R=13 S=13 stride=1 pad=0 kind=1", false },
    { "pool2d", "N=1 C=40 H=13 W=13 R=3 S=3 stride=2 pad=0 kind=0", true },
    { "pool2d", "N=1 C=3 H=7 W=7 R=3 S=3 stride=2 pad=1 kind=1", true },
    { "dense", "M=1 N=1000 K=512", true },
    { "dense", "M=1 N=40 K=24", true },
    { "dense", "M=7 N=3 K=1000", true },
};
/* clang-format on */
enum { NUM_SHAPES = sizeof shapes / sizeof shapes[0] };

typedef struct Isa {
    const char *name, *arch, *features, *target; /* target: NULL when it cannot run here */
} Isa;

static const Isa isas[] = {
    { "AVX2", "x86_64", ",avx,avx2,fma,", "llvm -mcpu=haswell" },
    { "AVX-512", "x86_64", ",avx,avx2,fma,avx512f,", "llvm" },
    { "NEON", "aarch64", ",neon,", NULL },
};

static void ok(TsStatus status, const TsError *err)
{
    if (status != TS_OK)
        fprintf(stderr, "unexpected: %s: %s\n", ts_status_name(status), err->message);
    assert_int_equal(status, TS_OK);
}

static bool runs_here(const Isa *isa)
{
#if defined(__x86_64__)
    if (!isa->target)
        return false;
    if (strcmp(isa->name, "AVX-512") == 0)
        return __builtin_cpu_supports("avx512f");
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    (void)isa;
    return false;
#endif
}

static TsTemplateArgs parse_args(const char *text)
{
    TsTemplateArgs args = { 0 };
    TsError err;
    char copy[256], *save = NULL;
    snprintf(copy, sizeof copy, "%s", text);
    for (char *tok = strtok_r(copy, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
        ok(ts_template_args_parse(&args, tok, &err), &err);
    return args;
}

static const TsTemplate *template_of(const char *op)
{
    for (int t = 0; t < ts_template_count(); t++)
        if (strcmp(ts_template_at(t)->op, op) == 0)
            return ts_template_at(t);
    fail_msg("no template serves %s", op);
    return NULL;
}

static int64_t split_inner(const TsConfig *config, const char *name)
{
    int64_t f[TS_KNOB_MAX_OUTPUTS];
    int n;
    TsError err;
    ok(ts_config_split(config, name, f, TS_KNOB_MAX_OUTPUTS, &n, &err), &err);
    return f[n - 1];
}

static bool power_of_two(int64_t v)
{
    return v > 0 && (v & (v - 1)) == 0;
}

/* A vectorized block of lanes: a power-of-two count of vectors or of lanes below one. */
static void check_vector_block(int64_t block, int64_t lanes, const char *what, const char *isa,
                               const char *args)
{
    bool fits = block % lanes == 0 ? power_of_two(block / lanes) : power_of_two(block);
    if (!fits)
        fail_msg("%s %s: default %s %lld is no power-of-two count of %lld-lane vectors", isa, args,
                 what, (long long)block, (long long)lanes);
}

/* The register budget of conv2d's micro-kernel: accumulators, the weight vectors and a
 * broadcast within the target's vector registers. */
static void check_conv(const TsConfig *config, const TsTemplateTarget *tt, const char *isa,
                       const char *args)
{
    int64_t lanes = sch_tmpl_lanes(tt), oc_bn = split_inner(config, "tile_oc");
    check_vector_block(oc_bn, lanes, "oc_bn", isa, args);
    int64_t vectors = sch_ceil_div(oc_bn, lanes);
    int64_t acc = vectors * split_inner(config, "tile_ow") * split_inner(config, "tile_oh");
    if (acc + vectors + 1 > sch_tmpl_registers(tt))
        fail_msg("%s %s: %lld accumulators and %lld weight vectors spill", isa, args,
                 (long long)acc, (long long)vectors);
}

/* dense: its panel is cut into machine vectors; with one row (a batch-1 fully connected
 * layer) it is one vector, as the weight's packing, not the registers, bounds it. */
static void check_dense(const TsConfig *config, const TsTemplateArgs *args, int64_t lanes)
{
    int64_t m, bn = split_inner(config, "tile_x");
    TsError err;
    ok(ts_template_args_get(args, "M", &m, &err), &err);
    assert_int_equal(bn % lanes, 0);
    if (m == 1)
        assert_int_equal(bn, lanes);
}

/* The default config of shape for isa: built, a config of its space, and checked. */
static void check_default(const Shape *shape, const Isa *isa, TsConfigSpace **space,
                          TsConfig *config, TsTemplateTarget *tt)
{
    TsError err;
    TsTemplateArgs args = parse_args(shape->args);
    const TsTemplate *tmpl = template_of(shape->op);
    ok(ts_template_target_init(tt, isa->arch, isa->features, isa->name, 2, &err), &err);
    *space = ts_config_space_create();
    assert_non_null(*space);
    ok(tmpl->define_space(&args, tt, *space, &err), &err);
    ok(tmpl->default_config(&args, tt, *space, config, &err), &err);
    TsConfig again;
    ok(ts_space_get(*space, config->index, &again, &err), &err);
    for (int k = 0; k < ts_space_num_knobs(*space); k++)
        assert_int_equal(again.choice[k], config->choice[k]);
    int64_t lanes = sch_tmpl_lanes(tt);
    if (strcmp(shape->op, "conv2d") == 0)
        check_conv(config, tt, isa->name, shape->args);
    else if (strcmp(shape->op, "dense") == 0)
        check_dense(config, &args, lanes);
    else
        check_vector_block(split_inner(config, "tile_c"), lanes, "cb", isa->name, shape->args);
}

static void test_defaults_are_configs_in_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof isas / sizeof isas[0]; i++)
        for (int s = 0; s < NUM_SHAPES; s++) {
            TsConfigSpace *space;
            TsConfig config;
            TsTemplateTarget tt;
            check_default(&shapes[s], &isas[i], &space, &config, &tt);
            ts_config_space_free(space);
        }
}

/* The rule's channel blocks, on the channel counts of common models. */
static void test_vector_block(void **state)
{
    (void)state;
    assert_int_equal(sch_vector_block(1000, 16, 2), 8);
    assert_int_equal(sch_vector_block(48, 16, 2), 16);
    assert_int_equal(sch_vector_block(64, 16, 2), 32);
    assert_int_equal(sch_vector_block(24, 8, 2), 8);
    assert_int_equal(sch_vector_block(3, 16, 2), 1);
    assert_int_equal(sch_vector_block(40, 4, 2), 8);
    assert_int_equal(sch_vector_block(96, 16, 1), 16);
}

static void test_default_values(void **state)
{
    (void)state;
    int checked = 0;
    for (size_t i = 0; i < sizeof isas / sizeof isas[0]; i++) {
        if (!runs_here(&isas[i]))
            continue;
        TsTarget *target;
        TsError err;
        ok(ts_target_parse(isas[i].target, &target, &err), &err);
        for (int s = 0; s < NUM_SHAPES; s++) {
            if (!shapes[s].run)
                continue;
            TsConfigSpace *space;
            TsConfig config;
            TsTemplateTarget tt;
            check_default(&shapes[s], &isas[i], &space, &config, &tt);
            TsTemplateArgs args = parse_args(shapes[s].args);
            TtResult r;
            assert_true(tt_check_config(template_of(shapes[s].op), &args, &tt, target, &config,
                                        99 + (uint64_t)s, 0, &r));
            if (r.status != TS_OK)
                fail_msg("%s %s: the default config failed at %s: %s", isas[i].name, shapes[s].args,
                         r.stage, r.err.message);
            if (!r.same)
                fail_msg("%s %s: %s", isas[i].name, shapes[s].args, r.mismatch);
            checked++;
            ts_config_space_free(space);
        }
        ts_target_free(target);
    }
    if (checked == 0)
        skip();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vector_block),
        cmocka_unit_test(test_defaults_are_configs_in_vectors),
        cmocka_unit_test(test_default_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
