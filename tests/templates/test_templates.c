/* Every built-in template, end to end: on small shapes (some that no block divides),
 * for x86-64 AVX2 ("llvm -mcpu=haswell") and AVX-512 ("llvm", when this CPU has it),
 * the default config and a random sample of configs are instantiated, lowered,
 * JIT-compiled, run on random inputs and compared with the same instance under a fresh
 * schedule (tmpl_testing.h). A config the schedule language refuses must say so with
 * TS_ESCHEDULE or TS_ECODEGEN and a message, and such configs must be rare. The NCHW[x]c
 * templates are also checked against the NCHW operators of te/ops through the layout
 * transforms of schedule/templates/nchwc.c. For AArch64 NEON, sampled configs must
 * instantiate and lower, and the default one cross-compile to an object file. */
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

enum { RANDOM_CONFIGS = 30, NEON_CONFIGS = 12, NCHW_CONFIGS = 3, MAX_SHAPES = 3 };
/* At most this fraction of sampled configs may be refused. */
#define MAX_REFUSED_FRACTION 0.1

typedef struct OpShapes {
    const char *op;
    const char *shapes[MAX_SHAPES];
} OpShapes;

/* clang-format off */
static const OpShapes op_shapes[] = {
    { "dense", { "M=37 N=50 K=23", "M=64 N=48 K=64", "M=5 N=3 K=7" } },
    { "conv2d", { "N=1 C=16 H=10 W=9 K=32 R=3 S=3 stride=1 pad=1",
                  "N=2 C=6 H=9 W=11 K=10 R=3 S=2 stride=2 pad=1",
                  "N=1 C=3 H=7 W=7 K=16 R=1 S=1 stride=1 pad=0" } },
    { "depthwise_conv2d", { "N=1 C=32 H=10 W=13 R=3 S=3 stride=1 pad=1",
                            "N=1 C=12 H=9 W=9 R=5 S=3 stride=2 pad=2" } },
    { "pool2d", { "N=1 C=32 H=9 W=10 R=3 S=3 stride=2 pad=1 kind=0",
                  "N=2 C=12 H=8 W=7 R=2 S=3 stride=1 pad=1 kind=1",
                  "N=1 C=16 H=6 W=6 R=2 S=2 stride=2 pad=0 kind=1" } },
};
/* clang-format on */

typedef struct HostIsa {
    const char *name;
    const char *target;
    TsTemplateTarget tt;
} HostIsa;

/* tt is filled from the parsed target (its features), with 2 cores for parallel knobs. */
static HostIsa host_isas[] = {
    { "AVX2", "llvm -mcpu=haswell", { 0 } },
    { "AVX-512", "llvm", { 0 } },
};

static bool isa_runs_here(const HostIsa *isa)
{
#if defined(__x86_64__)
    if (strcmp(isa->name, "AVX-512") == 0)
        return __builtin_cpu_supports("avx512f");
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    (void)isa;
    return false;
#endif
}

static void ok(TsStatus status, const TsError *err)
{
    if (status != TS_OK)
        fprintf(stderr, "unexpected: %s: %s\n", ts_status_name(status), err->message);
    assert_int_equal(status, TS_OK);
}

/* The template target of a parsed target, as a tuning task makes it. */
static TsTemplateTarget template_target(const TsTarget *target, int num_cores)
{
    TsTemplateTarget tt;
    TsError err;
    ok(ts_template_target_init(&tt, ts_target_arch(target), ts_target_features(target),
                               ts_target_str(target), num_cores, &err), &err);
    return tt;
}


static TsTemplateArgs parse_args(const char *text)
{
    TsTemplateArgs args = { 0 };
    char copy[256], *save = NULL;
    snprintf(copy, sizeof copy, "%s", text);
    for (char *tok = strtok_r(copy, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        char *eq = strchr(tok, '=');
        assert_non_null(eq);
        *eq = '\0';
        TsError err;
        ok(ts_template_args_set(&args, tok, atoll(eq + 1), &err), &err);
    }
    return args;
}

static const OpShapes *shapes_of(const char *op)
{
    for (size_t i = 0; i < sizeof op_shapes / sizeof op_shapes[0]; i++)
        if (strcmp(op_shapes[i].op, op) == 0)
            return &op_shapes[i];
    return NULL;
}

static int num_shapes(const OpShapes *s)
{
    int n = 0;
    while (n < MAX_SHAPES && s->shapes[n])
        n++;
    return n;
}

typedef struct Tally {
    int checked, refused;
    int over_budget; /* refused by the template's register budget, by design */
} Tally;

/* One config end to end; a refusal is counted, a wrong answer fails the test. */
static void check_one(const TsTemplate *tmpl, const char *shape, const HostIsa *isa,
                      const TsTarget *target, const TsConfig *config, Tally *tally)
{
    TsTemplateArgs args = parse_args(shape);
    TtResult r;
    char entity[1024];
    TsError err;
    ok(ts_config_entity(config, entity, sizeof entity, &err), &err);
    bool harness =
        tt_check_config(tmpl, &args, &isa->tt, target, config, 1234 + config->index, 0, &r);
    if (!harness)
        fprintf(stderr, "%s %s: harness failed at %s: %s %s\n", tmpl->name, shape, r.stage,
                r.err.message, r.mismatch);
    assert_true(harness);
    tally->checked++;
    if (r.status != TS_OK) {
        fprintf(stderr, "note: %s %s %s refused at %s: %s: %s\n  %s\n", tmpl->name, isa->name,
                shape, r.stage, ts_status_name(r.status), r.err.message, entity);
        assert_true(r.status == TS_ESCHEDULE || r.status == TS_ECODEGEN);
        assert_true(strlen(r.err.message) > 0);
        if (r.status == TS_ESCHEDULE && strstr(r.err.message, "vector registers"))
            tally->over_budget++;
        else
            tally->refused++;
        return;
    }
    if (!r.same)
        fprintf(stderr, "%s %s %s config %lld %s: %s\n", tmpl->name, isa->name, shape,
                (long long)config->index, entity, r.mismatch);
    assert_true(r.same);
}

static void sample_configs(const TsTemplate *tmpl, const HostIsa *isa, const TsTarget *target,
                           const OpShapes *shapes, Tally *tally)
{
    TvRng rng = { 42 + (uint64_t)isa->tt.vector_bits };
    int n = num_shapes(shapes);
    TsError err;
    for (int s = 0; s < n; s++) {
        TsTemplateArgs args = parse_args(shapes->shapes[s]);
        TsConfigSpace *space = ts_config_space_create();
        ok(tmpl->define_space(&args, &isa->tt, space, &err), &err);
        TsConfig config;
        ok(tmpl->default_config(&args, &isa->tt, space, &config, &err), &err);
        Tally defaults = { 0, 0, 0 };
        check_one(tmpl, shapes->shapes[s], isa, target, &config, &defaults);
        /* the default config always builds */
        assert_int_equal(defaults.refused + defaults.over_budget, 0);
        for (int i = s; i < RANDOM_CONFIGS; i += n) {
            int64_t index = tv_rng_int(&rng, 0, ts_space_size(space) - 1);
            ok(ts_space_get(space, index, &config, &err), &err);
            check_one(tmpl, shapes->shapes[s], isa, target, &config, tally);
        }
        ts_config_space_free(space);
    }
}

/* ---- against the NCHW operators ---- */

typedef struct Nchw {
    TsTensor *data, *weight; /* NCHW placeholders (weight NULL for pooling) */
    TsTensor *reference;     /* the te/ops operator */
    TsTensor *packed_data, *packed_weight;
} Nchw;

static void nchw_expressions(TsArena *A, const char *op, const TsTemplateArgs *args,
                             const TsTemplateInstance *inst, Nchw *e)
{
    int64_t v[10] = { 0 };
    static const char *const names[] = {
        "N", "C", "H", "W", "K", "R", "S", "stride", "pad", "kind"
    };
    for (int i = 0; i < 10; i++)
        ts_template_args_get(args, names[i], &v[i], NULL);
    int64_t cb = ts_tensor_dim(inst->tensors[0], 4);
    e->data = ts_placeholder(A, "nchw_data", 4, (int64_t[]){ v[0], v[1], v[2], v[3] }, TS_FLOAT32);
    e->packed_data = ts_op_nchwc_pack(A, e->data, cb);
    e->weight = e->packed_weight = NULL;
    if (strcmp(op, "pool2d") == 0) {
        TsPool2dAttrs attrs = ts_pool2d_attrs_default((TsPoolKind)v[9], v[5], v[6]);
        attrs.stride[0] = attrs.stride[1] = v[7];
        for (int i = 0; i < 4; i++)
            attrs.padding[i] = v[8];
        attrs.count_include_pad = false;
        e->reference = ts_op_pool2d(A, e->data, &attrs);
        return;
    }
    TsConv2dAttrs attrs = ts_conv2d_attrs_default();
    attrs.stride[0] = attrs.stride[1] = v[7];
    for (int i = 0; i < 4; i++)
        attrs.padding[i] = v[8];
    if (strcmp(op, "conv2d") == 0) {
        e->weight = ts_placeholder(A, "oihw", 4, (int64_t[]){ v[4], v[1], v[5], v[6] }, TS_FLOAT32);
        e->packed_weight =
            ts_op_nchwc_pack_weight(A, e->weight, cb, ts_tensor_dim(inst->tensors[2], 4));
    } else {
        attrs.groups = v[1];
        e->weight = ts_placeholder(A, "oihw", 4, (int64_t[]){ v[1], 1, v[5], v[6] }, TS_FLOAT32);
        e->packed_weight = ts_op_nchwc_pack_depthwise_weight(A, e->weight, cb);
    }
    e->reference = ts_op_conv2d(A, e->data, e->weight, &attrs);
}

static double float_rtol(TsDType dtype)
{
    return dtype.bits == 32 ? 1e-4 : 1e-10;
}

static void *buffer(const TsTensor *t)
{
    void *p = calloc(1, tv_num_bytes(t));
    assert_non_null(p);
    return p;
}

/* Runs the candidate on packed NCHW inputs, unpacks its output and compares with the
 * NCHW operator (both through the reference interpreter). */
static void check_against_nchw(const TsTemplate *tmpl, const char *shape, const HostIsa *isa,
                               const TsTarget *target, const TsConfig *config)
{
    TsTemplateArgs args = parse_args(shape);
    TsArena *A = ts_arena_create();
    TsTemplateInstance inst;
    TsLoweredFunc *func;
    TsJitModule *module = NULL;
    TsPackedFunc fn;
    TsError err;
    TsStatus st =
        tt_build(tmpl, &args, &isa->tt, target, config, A, &inst, &func, &module, &fn, &err);
    if (st != TS_OK) { /* refusals are counted by sample_configs */
        if (module)
            ts_jit_release(module);
        ts_arena_destroy(A);
        return;
    }
    Nchw e;
    nchw_expressions(A, tmpl->op, &args, &inst, &e);
    ok(ts_arena_check(A, &err), &err);
    TvRng rng = { 99 };
    void *data = buffer(e.data), *weight = e.weight ? buffer(e.weight) : NULL;
    void *want = buffer(e.reference), *mag = buffer(e.reference), *got = buffer(e.reference);
    void *packed[TS_TEMPLATE_MAX_TENSORS] = { 0 };
    for (int i = 0; i < inst.num_tensors; i++)
        packed[i] = buffer(inst.tensors[i]);
    tv_fill_random(&rng, e.data, data);
    if (weight)
        tv_fill_random(&rng, e.weight, weight);
    TsBinding b[6] = { { e.data, data }, { e.reference, want }, { e.packed_data, packed[0] } };
    int nb = 3;
    if (weight) {
        b[nb++] = (TsBinding){ e.weight, weight };
        b[nb++] = (TsBinding){ e.packed_weight, packed[1] };
    }
    TsTensor *outs[3] = { e.reference, e.packed_data, e.packed_weight };
    ok(ts_evaluate(weight ? 3 : 2, outs, nb, b, &err), &err);
    char message[512];
    bool ran = tt_call(fn, func, inst.num_tensors, inst.tensors, packed, message, sizeof message);
    if (!ran)
        fprintf(stderr, "%s: %s\n", tmpl->name, message);
    assert_true(ran);
    TsTensor *out5 = inst.tensors[inst.num_tensors - 1];
    TsTensor *result = ts_placeholder(A, "result", 5,
                                      (int64_t[]){ ts_tensor_dim(out5, 0), ts_tensor_dim(out5, 1),
                                                   ts_tensor_dim(out5, 2), ts_tensor_dim(out5, 3),
                                                   ts_tensor_dim(out5, 4) },
                                      TS_FLOAT32);
    TsTensor *unpacked = ts_op_nchwc_unpack(A, result);
    TsBinding ub[2] = { { result, packed[inst.num_tensors - 1] }, { unpacked, got } };
    ok(ts_evaluate(1, &unpacked, 2, ub, &err), &err);
    tv_make_magnitude(e.data, data);
    if (weight)
        tv_make_magnitude(e.weight, weight);
    TsBinding mb[3] = { { e.data, data }, { e.reference, mag }, { e.weight, weight } };
    ok(ts_evaluate(1, &e.reference, weight ? 3 : 2, mb, &err), &err);
    bool same =
        tv_compare_output(e.reference, got, want, mag, float_rtol, NULL, message, sizeof message);
    if (!same)
        fprintf(stderr, "%s %s %s config %lld against NCHW: %s\n", tmpl->name, isa->name, shape,
                (long long)config->index, message);
    assert_true(same);
    for (int i = 0; i < inst.num_tensors; i++)
        free(packed[i]);
    free(data), free(weight), free(want), free(mag), free(got);
    ts_jit_release(module);
    ts_arena_destroy(A);
}

static void nchw_configs(const TsTemplate *tmpl, const HostIsa *isa, const TsTarget *target,
                         const OpShapes *shapes)
{
    if (strcmp(tmpl->op, "dense") == 0)
        return;
    TsError err;
    TvRng rng = { 7 };
    for (int s = 0; s < num_shapes(shapes); s++) {
        TsTemplateArgs args = parse_args(shapes->shapes[s]);
        TsConfigSpace *space = ts_config_space_create();
        ok(tmpl->define_space(&args, &isa->tt, space, &err), &err);
        TsConfig config;
        ok(tmpl->default_config(&args, &isa->tt, space, &config, &err), &err);
        check_against_nchw(tmpl, shapes->shapes[s], isa, target, &config);
        for (int i = 0; i < NCHW_CONFIGS; i++) {
            ok(ts_space_get(space, tv_rng_int(&rng, 0, ts_space_size(space) - 1), &config, &err),
               &err);
            check_against_nchw(tmpl, shapes->shapes[s], isa, target, &config);
        }
        ts_config_space_free(space);
    }
}

/* ---- AArch64 NEON: lowering of samples, cross-compiling the default ---- */

static void check_neon(const TsTemplate *tmpl, const OpShapes *shapes, Tally *tally)
{
    TsTarget *target;
    TsError err;
    ok(ts_target_parse("llvm -mtriple=aarch64-linux-gnu -mattr=+neon", &target, &err), &err);
    TsTemplateTarget neon = template_target(target, 1);
    if (!ts_template_applies(tmpl, TS_FLOAT32, &neon)) {
        ts_target_free(target);
        return;
    }
    TvRng rng = { 5 };
    TsTemplateArgs args = parse_args(shapes->shapes[0]);
    TsConfigSpace *space = ts_config_space_create();
    ok(tmpl->define_space(&args, &neon, space, &err), &err);
    TsConfig config;
    ok(tmpl->default_config(&args, &neon, space, &config, &err), &err);
    TsArena *A = ts_arena_create();
    TsLoweredFunc *func;
    ok(tt_lower_config(tmpl, &args, &neon, &config, A, &func, &err), &err);
    char path[] = "/tmp/tessera_tmpl_neon_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    ok(ts_build_object(1, (const TsLoweredFunc *const *)&func, target, path, &err), &err);
    struct stat info;
    assert_int_equal(stat(path, &info), 0);
    assert_true(info.st_size > 0);
    unlink(path);
    ts_arena_destroy(A);
    for (int i = 0; i < NEON_CONFIGS; i++) {
        ok(ts_space_get(space, tv_rng_int(&rng, 0, ts_space_size(space) - 1), &config, &err), &err);
        A = ts_arena_create();
        TsStatus st = tt_lower_config(tmpl, &args, &neon, &config, A, &func, &err);
        tally->checked++;
        if (st != TS_OK) {
            fprintf(stderr, "note: %s NEON refused: %s\n", tmpl->name, err.message);
            assert_true(st == TS_ESCHEDULE || st == TS_ECODEGEN);
            if (st == TS_ESCHEDULE && strstr(err.message, "vector registers"))
                tally->over_budget++;
            else
                tally->refused++;
        }
        ts_arena_destroy(A);
    }
    ts_config_space_free(space);
    ts_target_free(target);
}

/* ---- one cmocka test per operator ---- */

static void check_op(const char *op)
{
    const OpShapes *shapes = shapes_of(op);
    assert_non_null(shapes);
    int templates = 0;
    for (int t = 0; t < ts_template_count(); t++) {
        const TsTemplate *tmpl = ts_template_at(t);
        if (strcmp(tmpl->op, op) != 0)
            continue;
        templates++;
        Tally tally = { 0, 0, 0 };
        for (size_t i = 0; i < sizeof host_isas / sizeof host_isas[0]; i++) {
            HostIsa *isa = &host_isas[i];
            if (!isa_runs_here(isa))
                continue;
            TsTarget *target;
            TsError err;
            ok(ts_target_parse(isa->target, &target, &err), &err);
            isa->tt = template_target(target, 2);
            if (!ts_template_applies(tmpl, TS_FLOAT32, &isa->tt)) {
                ts_target_free(target);
                continue;
            }
            sample_configs(tmpl, isa, target, shapes, &tally);
            nchw_configs(tmpl, isa, target, shapes);
            ts_target_free(target);
        }
        check_neon(tmpl, shapes, &tally);
        fprintf(stderr, "%s: %d sampled configs, %d refused, %d over the register budget\n",
                tmpl->name, tally.checked, tally.refused, tally.over_budget);
        assert_true(tally.refused <= MAX_REFUSED_FRACTION * tally.checked);
    }
    assert_true(templates >= 1);
}

static void test_dense(void **state)
{
    (void)state;
    check_op("dense");
}

static void test_conv2d(void **state)
{
    (void)state;
    check_op("conv2d");
}

static void test_depthwise_conv2d(void **state)
{
    (void)state;
    check_op("depthwise_conv2d");
}

static void test_pool2d(void **state)
{
    (void)state;
    check_op("pool2d");
}

/* The arguments a template names are the ones it checks. */
/* Checks that no vector node called what ("ramp(", "broadcast(") in the lowered text is
 * wider than lanes (its last argument; the tail's may be narrower); returns how many
 * have lanes exactly. */
static int vector_lanes(const char *text, const char *what, int64_t lanes, const char *isa)
{
    int count = 0;
    for (const char *p = strstr(text, what); p; p = strstr(p + 1, what)) {
        const char *last_comma = NULL, *q = p + strlen(what);
        for (int depth = 1; *q && depth > 0; q++) {
            depth += *q == '(';
            depth -= *q == ')';
            if (*q == ',' && depth == 1)
                last_comma = q;
        }
        assert_non_null(last_comma);
        long long got = strtoll(last_comma + 1, NULL, 10);
        if (got > lanes)
            fail_msg("%s: a vector of %lld lanes, more than %lld: %.80s", isa, got,
                     (long long)lanes, p);
        count += got == lanes;
    }
    return count;
}

/* dense: a panel of three vectors that does not divide N (48 of 100 on AVX-512) runs as
 * machine vectors: every vectorized loop, in the accumulator, the copy-out and the
 * packing, is one vector of the target's lanes, never a 3-vector one that LLVM's type
 * legalization shuffles and spills (the 1024^3 dense at 7-13 GFLOPS). Its values are
 * checked on the ISAs this host runs. */
static void test_dense_panel_of_three_vectors(void **state)
{
    (void)state;
    const TsTemplate *tmpl = ts_template_find("dense_pack");
    assert_non_null(tmpl);
    /* (tt keeps the parsed targets' feature strings by pointer: they live to the end) */
    HostIsa all[] = { host_isas[0], host_isas[1], { "NEON", NULL, { 0 } } };
    TsTarget *parsed[2];
    for (int i = 0; i < 2; i++) {
        TsError err;
        ok(ts_target_parse(all[i].target, &parsed[i], &err), &err);
        all[i].tt = template_target(parsed[i], 2);
    }
    TsError init_err;
    ok(ts_template_target_init(&all[2].tt, "aarch64", ",neon,", "neon", 1, &init_err),
       &init_err);
    const HostIsa *isas[] = { &all[0], &all[1], &all[2] };
    const char *shape = "M=20 N=100 K=12";
    TsTemplateArgs args = parse_args(shape);
    for (size_t i = 0; i < sizeof isas / sizeof isas[0]; i++) {
        const HostIsa *isa = isas[i];
        int64_t lanes = isa->tt.vector_bits / 32;
        TsConfigSpace *space = ts_config_space_create();
        TsError err;
        ok(tmpl->define_space(&args, &isa->tt, space, &err), &err);
        /* The first config with three-vector panels and two-row tiles. */
        TsConfig config;
        bool found = false;
        for (int64_t c = 0; c < ts_space_size(space) && !found; c++) {
            int64_t x[4], y[4];
            int n;
            ok(ts_space_get(space, c, &config, &err), &err);
            ok(ts_config_split(&config, "tile_x", x, 4, &n, &err), &err);
            ok(ts_config_split(&config, "tile_y", y, 4, &n, &err), &err);
            found = x[1] == 3 * lanes && y[2] == 2;
        }
        assert_true(found);
        TsArena *A = ts_arena_create();
        TsLoweredFunc *func;
        ok(tt_lower_config(tmpl, &args, &isa->tt, &config, A, &func, &err), &err);
        const char *text = ts_lowered_str(A, func);
        assert_non_null(text);
        int ramps = vector_lanes(text, "ramp(", lanes, isa->name);
        vector_lanes(text, "broadcast(", lanes, isa->name);
        if (ramps < 4) /* packing, zeroing, product, copy-out */
            fail_msg("%s: %d vector accesses in\n%s", isa->name, ramps, text);
        ts_arena_destroy(A);
        if (isa->target && isa_runs_here(isa)) {
            TsTarget *target;
            ok(ts_target_parse(isa->target, &target, &err), &err);
            Tally tally = { 0, 0, 0 };
            check_one(tmpl, shape, isa, target, &config, &tally);
            assert_int_equal(tally.refused + tally.over_budget, 0);
            ts_target_free(target);
        }
        ts_config_space_free(space);
    }
    ts_target_free(parsed[0]);
    ts_target_free(parsed[1]);
}

static void test_argument_errors(void **state)
{
    (void)state;
    TsTemplateTarget avx512;
    TsError init_err;
    ok(ts_template_target_init(&avx512, "x86_64", ",avx,avx2,avx512f,fma,", "avx512", 1,
                               &init_err), &init_err);
    for (int t = 0; t < ts_template_count(); t++) {
        const TsTemplate *tmpl = ts_template_at(t);
        const OpShapes *shapes = shapes_of(tmpl->op);
        if (!shapes)
            continue;
        for (int a = 0; tmpl->arg_names[a]; a++) {
            TsTemplateArgs full = parse_args(shapes->shapes[0]), partial = { 0 };
            for (int i = 0; i < full.num; i++)
                if (strcmp(full.name[i], tmpl->arg_names[a]) != 0)
                    ts_template_args_set(&partial, full.name[i], full.value[i], NULL);
            TsConfigSpace *space = ts_config_space_create();
            TsError err;
            TsStatus st = tmpl->define_space(&partial, &avx512, space, &err);
            assert_int_equal(st, TS_EINVAL);
            char want[64];
            snprintf(want, sizeof want, "missing argument %s", tmpl->arg_names[a]);
            if (!strstr(err.message, want))
                fprintf(stderr, "%s: '%s' lacks '%s'\n", tmpl->name, err.message, want);
            assert_non_null(strstr(err.message, want));
            ts_config_space_free(space);
        }
    }
    TsTemplateArgs bad = parse_args("N=1 C=8 H=8 W=8 R=3 S=3 stride=1 pad=3 kind=0");
    const TsTemplate *pool = ts_template_find("pool2d_NCHWc");
    assert_non_null(pool);
    TsConfigSpace *space = ts_config_space_create();
    TsError err;
    assert_int_equal(pool->define_space(&bad, &avx512, space, &err), TS_EINVAL);
    assert_non_null(strstr(err.message, "pad=3"));
    ts_template_args_set(&bad, "pad", 1, NULL);
    ts_template_args_set(&bad, "kind", 2, NULL);
    assert_int_equal(pool->define_space(&bad, &avx512, space, &err), TS_EINVAL);
    assert_non_null(strstr(err.message, "kind=2"));
    ts_config_space_free(space);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_argument_errors), cmocka_unit_test(test_dense),
        cmocka_unit_test(test_conv2d),          cmocka_unit_test(test_depthwise_conv2d),
        cmocka_unit_test(test_pool2d),          cmocka_unit_test(test_dense_panel_of_three_vectors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
