/* The depthwise conv2d template (schedule/templates/depthwise_conv2d.c) against the
 * reference interpreter: odd shapes (channels that are no multiple of a vector, stride 1
 * and 2, pad 0, 1 and 2, 3x3, 5x5 and 5x3 kernels, batch 2), each with its default config
 * and configs spread over its space, JIT-compiled for this machine and compared with
 * ts_op_conv2d (groups = C) in NCHW, packed to the kernel's block, within 1e-5 of the
 * magnitude. The padding is no stage: the kernel allocates nothing but its accumulator
 * tile. The fused output stage (bias, a batch norm's scale and shift, ReLU6 as a clip)
 * both as blocked consumers (ts_template_schedule_dag) and as the graph builder hands it
 * over (through an NCHW view: unpack, the nodes, pack), computed on the accumulator. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tessera/ops.h"
#include "test_values.h"
#include "tmpl_testing.h"

enum { CONFIGS_PER_SHAPE = 5, MAX_T = TS_TEMPLATE_MAX_TENSORS };

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
    TsError err;
    snprintf(copy, sizeof copy, "%s", text);
    for (char *w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save))
        ok(ts_template_args_parse(&args, w, &err), &err);
    return args;
}

static int64_t arg(const TsTemplateArgs *args, const char *name)
{
    int64_t v = 0;
    TsError err;
    ok(ts_template_args_get(args, name, &v, &err), &err);
    return v;
}

typedef struct Host {
    TsTarget *target;
    TsTemplateTarget tt;
    const TsTemplate *tmpl;
} Host;

static Host host(void)
{
    Host h;
    TsError err;
    ok(ts_target_parse("llvm", &h.target, &err), &err);
    ok(ts_template_target_init(&h.tt, ts_target_arch(h.target), ts_target_features(h.target),
                               ts_target_str(h.target), 2, &err),
       &err);
    h.tmpl = ts_template_find("depthwise_conv2d_NCHWc");
    assert_non_null(h.tmpl);
    return h;
}

static double rtol(TsDType dtype)
{
    (void)dtype;
    return 1e-5;
}

/* The fused stage to test on top of the operator. */
typedef enum { PLAIN, BLOCKED_CHAIN, NCHW_VIEW_CHAIN } Stage;

/* The problem in NCHW: inputs x and w, and the expected blocked output of the kernel. */
typedef struct Problem {
    TsTensor *x, *w;        /* NCHW data, [C, 1, R, S] weight */
    TsTensor *bias, *scale; /* [C] each, for the fused stages */
    TsTensor *packed_x, *packed_w;
    TsTensor *want; /* the kernel's output, from the definitions */
} Problem;

/* want = pack(clip(conv(x, w) * scale + bias, 0, 6)) for the fused stages, or
 * pack(conv(x, w)). */
static void problem(TsArena *A, const TsTemplateArgs *args, int64_t cb, Stage stage, Problem *p)
{
    int64_t n = arg(args, "N"), c = arg(args, "C"), r = arg(args, "R"), s = arg(args, "S");
    p->x =
        ts_placeholder(A, "x", 4, (int64_t[]){ n, c, arg(args, "H"), arg(args, "W") }, TS_FLOAT32);
    p->w = ts_placeholder(A, "w", 4, (int64_t[]){ c, 1, r, s }, TS_FLOAT32);
    p->bias = ts_placeholder(A, "bias", 1, (int64_t[]){ c }, TS_FLOAT32);
    p->scale = ts_placeholder(A, "scale", 1, (int64_t[]){ c }, TS_FLOAT32);
    TsConv2dAttrs attrs = ts_conv2d_attrs_default();
    attrs.stride[0] = attrs.stride[1] = arg(args, "stride");
    for (int i = 0; i < 4; i++)
        attrs.padding[i] = arg(args, "pad");
    attrs.groups = c;
    TsTensor *y = ts_op_conv2d(A, p->x, p->w, &attrs);
    if (stage != PLAIN) {
        TsTensor *scale4 = ts_op_reshape(A, p->scale, 3, (int64_t[]){ c, 1, 1 });
        y = ts_op_clip(A, ts_op_bias_add(A, ts_op_mul(A, y, scale4), p->bias, 1), 0, 6);
    }
    p->want = ts_op_nchwc_pack(A, y, cb);
    p->packed_x = ts_op_nchwc_pack(A, p->x, cb);
    p->packed_w = ts_op_nchwc_pack_depthwise_weight(A, p->w, cb);
    TsError err;
    ok(ts_arena_check(A, &err), &err);
}

/* The chain on the operator's output op_out [N, CC, OH, OW, cb] that stage asks for, as
 * a DAG: blocked (per-channel constants [CC, 1, 1, cb] broadcast in the blocked layout)
 * or through the NCHW view the graph builder makes. */
static TsTemplateDag chain(TsArena *A, const Problem *p, TsTensor *op_out, Stage stage,
                           TsTensor **bias_arg, TsTensor **scale_arg)
{
    TsTemplateDag dag = { 0 };
    int64_t cc = ts_tensor_dim(op_out, 1), cb = ts_tensor_dim(op_out, 4);
    if (stage == BLOCKED_CHAIN) {
        *bias_arg = ts_placeholder(A, "bias_b", 4, (int64_t[]){ cc, 1, 1, cb }, TS_FLOAT32);
        *scale_arg = ts_placeholder(A, "scale_b", 4, (int64_t[]){ cc, 1, 1, cb }, TS_FLOAT32);
        TsTensor *scaled = ts_op_mul(A, op_out, *scale_arg);
        TsTensor *biased = ts_op_add(A, scaled, *bias_arg);
        dag = (TsTemplateDag){ .num_inputs = 2,
                               .inputs = { *scale_arg, *bias_arg },
                               .num_consumers = 3,
                               .consumers = { scaled, biased, ts_op_clip(A, biased, 0, 6) } };
    } else {
        *bias_arg = p->bias;
        *scale_arg = p->scale;
        TsTensor *y = ts_op_nchwc_unpack(A, op_out);
        TsTensor *scale4 = ts_op_reshape(A, p->scale, 3, (int64_t[]){ ts_tensor_dim(y, 1), 1, 1 });
        TsTensor *scaled = ts_op_mul(A, y, scale4);
        TsTensor *biased = ts_op_bias_add(A, scaled, p->bias, 1);
        TsTensor *clipped = ts_op_clip(A, biased, 0, 6);
        dag = (TsTemplateDag){ .num_inputs = 2,
                               .inputs = { p->scale, p->bias },
                               .num_consumers = 6,
                               .consumers = { y, scale4, scaled, biased, clipped,
                                              ts_op_nchwc_pack(A, clipped, cb) } };
    }
    TsError err;
    ok(ts_arena_check(A, &err), &err);
    return dag;
}

/* The kernel allocates its accumulator tile and nothing else (once in each part loop
 * partitioning cut the row into): no padded copy of the data, no intermediate of the
 * output's size. */
static void check_allocations(TsArena *A, const TsLoweredFunc *func, const TsTensor *out,
                              const char *shape)
{
    const char *text = ts_lowered_str(A, func);
    int allocations = 0;
    /* at most a row of positions of two channel blocks (tile_cc) */
    int64_t tile = 2 * ts_tensor_dim(out, 3) * ts_tensor_dim(out, 4);
    assert_null(strstr(text, "data_pad"));
    for (const char *p = strstr(text, "allocate "); p; p = strstr(p + 1, "allocate ")) {
        int64_t elements = 1;
        const char *dims = strchr(p, '[');
        assert_non_null(dims);
        for (const char *q = dims + 1; q && *q != ']';) {
            char *end;
            elements *= strtoll(q, &end, 10);
            q = end + strspn(end, ", ");
        }
        if (elements > tile || !strstr(p, ".local"))
            fprintf(stderr, "%s: allocates %.60s (%lld elements, a tile holds at most %lld)\n",
                    shape, p, (long long)elements, (long long)tile);
        assert_true(elements <= tile);
        assert_non_null(strstr(p, ".local"));
        allocations++;
    }
    assert_true(allocations >= 1); /* one per part of the partitioned row */
}

/* Builds config (with stage's chain), runs it on random data and compares with want.
 * False when the template refused the config for its register budget. */
static bool check_config(const Host *h, const char *shape, const TsConfig *config, Stage stage,
                         uint64_t seed)
{
    TsTemplateArgs args = parse_args(shape);
    TsArena *A = ts_arena_create();
    TsTemplateInstance inst;
    TsError err;
    TsStatus refused = h->tmpl->instantiate(&args, &h->tt, config, A, &inst, &err);
    if (refused == TS_ESCHEDULE && strstr(err.message, "vector registers")) {
        ts_arena_destroy(A);
        return false;
    }
    ok(refused, &err);
    assert_int_equal(inst.num_tensors, 3);
    TsTensor *op_out = inst.tensors[2];
    Problem p;
    problem(A, &args, ts_tensor_dim(op_out, 4), stage, &p);
    TsTensor *bias_arg = NULL, *scale_arg = NULL;
    if (stage != PLAIN) {
        TsTemplateDag dag = chain(A, &p, op_out, stage, &bias_arg, &scale_arg);
        /* The graph builder's chain leaves the operator's shape and comes back: it goes
         * to the template's schedule_dag as the builder hands it over. */
        ok(stage == BLOCKED_CHAIN
               ? ts_template_schedule_dag(h->tmpl, &args, &h->tt, config, A, &dag, &inst, &err)
               : h->tmpl->schedule_dag(&args, &h->tt, config, A, &dag, &inst, &err),
           &err);
        assert_int_equal(inst.num_tensors, 5);
        assert_ptr_equal(inst.tensors[4], dag.consumers[dag.num_consumers - 1]);
    }
    TsLoweredFunc *func;
    TsJitModule *module = NULL;
    TsPackedFunc fn;
    ok(ts_lower(inst.sch, "depthwise", &func, &err), &err);
    check_allocations(A, func, op_out, shape);
    ok(ts_build_jit(1, (const TsLoweredFunc *const *)&func, h->target, &module, &err), &err);
    ok(ts_jit_get_func(module, "depthwise", &fn, &err), &err);

    /* NCHW inputs, packed by the interpreter; the expected output and its magnitude. */
    TvRng rng = { seed };
    TsTensor *nchw[4] = { p.x, p.w, p.bias, p.scale };
    void *in[4], *in_mag[4];
    TsBinding bind[6], bind_mag[6];
    for (int i = 0; i < 4; i++) {
        in[i] = malloc(tv_num_bytes(nchw[i]));
        in_mag[i] = malloc(tv_num_bytes(nchw[i]));
        tv_fill_random(&rng, nchw[i], in[i]);
        memcpy(in_mag[i], in[i], tv_num_bytes(nchw[i]));
        tv_make_magnitude(nchw[i], in_mag[i]);
        bind[i] = (TsBinding){ nchw[i], in[i] };
        bind_mag[i] = (TsBinding){ nchw[i], in_mag[i] };
    }
    void *want = malloc(tv_num_bytes(p.want)), *mag = malloc(tv_num_bytes(p.want));
    int used = stage == PLAIN ? 2 : 4; /* the inputs the expected output reads */
    bind[used] = (TsBinding){ p.want, want };
    bind_mag[used] = (TsBinding){ p.want, mag };
    ok(ts_evaluate(1, &p.want, used + 1, bind, &err), &err);
    ok(ts_evaluate(1, &p.want, used + 1, bind_mag, &err), &err);
    /* The kernel's arguments: packed data and weight, the chain's constants, the output. */
    void *data[MAX_T] = { 0 };
    data[0] = malloc(tv_num_bytes(inst.tensors[0]));
    data[1] = malloc(tv_num_bytes(inst.tensors[1]));
    TsBinding packs[2] = { bind[0], { p.packed_x, data[0] } };
    ok(ts_evaluate(1, &p.packed_x, 2, packs, &err), &err);
    packs[0] = bind[1];
    packs[1] = (TsBinding){ p.packed_w, data[1] };
    ok(ts_evaluate(1, &p.packed_w, 2, packs, &err), &err);
    TsTensor *args_t[MAX_T] = { inst.tensors[0], inst.tensors[1] };
    int num = 2;
    if (stage != PLAIN) {
        /* dag inputs in the order schedule_dag appended them: scale, bias */
        for (int k = 2; k < 4; k++) {
            TsTensor *t = inst.tensors[k];
            args_t[num] = t;
            data[num] = malloc(tv_num_bytes(t));
            const float *from = t == scale_arg || t == p.scale ? in[3] : in[2];
            memcpy(data[num], from, tv_num_bytes(t)); /* [CC,1,1,cb] is [C] in order */
            num++;
        }
    }
    args_t[num] = inst.tensors[inst.num_tensors - 1];
    data[num] = calloc(1, tv_num_bytes(args_t[num]));
    num++;
    char message[512];
    bool called = tt_call(fn, func, num, args_t, data, message, sizeof message);
    if (!called)
        fprintf(stderr, "%s\n", message);
    assert_true(called);
    char entity[1024];
    ok(ts_config_entity(config, entity, sizeof entity, &err), &err);
    bool same =
        tv_compare_output(p.want, data[num - 1], want, mag, rtol, NULL, message, sizeof message);
    if (!same)
        fprintf(stderr, "%s (stage %d) %s: %s\n", shape, (int)stage, entity, message);
    assert_true(same);
    for (int i = 0; i < 4; i++)
        free(in[i]), free(in_mag[i]);
    for (int i = 0; i < MAX_T; i++)
        free(data[i]);
    free(want);
    free(mag);
    ts_jit_release(module);
    ts_arena_destroy(A);
    return true;
}

static int two_blocks_per_step; /* configs checked with tile_cc = 2 */

/* The default config and CONFIGS_PER_SHAPE configs spread over the space (past the ones
 * the register budget refuses). */
static void check_shape(const Host *h, const char *shape, Stage stage)
{
    TsTemplateArgs args = parse_args(shape);
    TsConfigSpace *space = ts_config_space_create();
    TsError err;
    ok(h->tmpl->define_space(&args, &h->tt, space, &err), &err);
    TsConfig config;
    ok(h->tmpl->default_config(&args, &h->tt, space, &config, &err), &err);
    assert_true(check_config(h, shape, &config, stage, 11));
    int64_t size = ts_space_size(space);
    int checked = 0, tries = 4 * CONFIGS_PER_SHAPE;
    for (int i = 0; i < tries && checked < CONFIGS_PER_SHAPE; i++) {
        ok(ts_space_get(space, ((int64_t)i * 7919 + 13) % size, &config, &err), &err);
        bool built = check_config(h, shape, &config, stage, 100 + (uint64_t)i);
        char entity[1024];
        ok(ts_config_entity(&config, entity, sizeof entity, &err), &err);
        two_blocks_per_step += built && strstr(entity, "[\"tile_cc\",\"ot\",2]") != NULL;
        checked += built;
    }
    assert_int_equal(checked, CONFIGS_PER_SHAPE);
    ts_config_space_free(space);
}

/* clang-format off */
static const char *const odd_shapes[] = {
    "N=2 C=24 H=11 W=9 R=3 S=3 stride=1 pad=1",   /* batch 2, 24 = 16 + 8 channels */
    "N=1 C=40 H=13 W=10 R=3 S=3 stride=2 pad=1",  /* stride 2, odd height */
    "N=1 C=20 H=9 W=12 R=5 S=5 stride=1 pad=2",   /* 5x5, pad 2 */
    "N=2 C=12 H=10 W=11 R=5 S=5 stride=2 pad=2",
    "N=1 C=48 H=8 W=7 R=3 S=3 stride=2 pad=0",    /* no padding */
    "N=1 C=7 H=6 W=9 R=3 S=3 stride=1 pad=2",     /* 7 channels, pad 2 on a 3x3 */
    "N=1 C=32 H=5 W=19 R=5 S=3 stride=1 pad=1",   /* a 5x3 kernel */
};
/* clang-format on */

static void test_odd_shapes(void **state)
{
    (void)state;
    Host h = host();
    for (size_t i = 0; i < sizeof odd_shapes / sizeof odd_shapes[0]; i++)
        check_shape(&h, odd_shapes[i], PLAIN);
    assert_true(two_blocks_per_step > 0);
    ts_target_free(h.target);
}

static void test_fused_blocked_chain(void **state)
{
    (void)state;
    Host h = host();
    check_shape(&h, "N=1 C=24 H=9 W=10 R=3 S=3 stride=2 pad=1", BLOCKED_CHAIN);
    ts_target_free(h.target);
}

static void test_fused_nchw_view_chain(void **state)
{
    (void)state;
    Host h = host();
    check_shape(&h, "N=2 C=40 H=7 W=11 R=3 S=3 stride=1 pad=1", NCHW_VIEW_CHAIN);
    check_shape(&h, "N=1 C=12 H=10 W=9 R=5 S=5 stride=2 pad=2", NCHW_VIEW_CHAIN);
    ts_target_free(h.target);
}

/* schedule_dag refuses an operator that is not its instance's output. */
static void test_dag_of_another_operator(void **state)
{
    (void)state;
    Host h = host();
    TsTemplateArgs args = parse_args("N=1 C=16 H=8 W=8 R=3 S=3 stride=1 pad=1");
    TsConfigSpace *space = ts_config_space_create();
    TsError err;
    ok(h.tmpl->define_space(&args, &h.tt, space, &err), &err);
    TsConfig config;
    ok(h.tmpl->default_config(&args, &h.tt, space, &config, &err), &err);
    TsArena *A = ts_arena_create();
    TsTemplateInstance inst;
    ok(h.tmpl->instantiate(&args, &h.tt, &config, A, &inst, &err), &err);
    TsTensor *other = ts_op_relu(A, inst.tensors[0]); /* reads the data, not the output */
    inst.tensors[2] = other;
    TsTemplateDag dag = { .num_consumers = 1, .consumers = { ts_op_relu(A, other) } };
    TsStatus st = h.tmpl->schedule_dag(&args, &h.tt, &config, A, &dag, &inst, &err);
    assert_int_equal(st, TS_EINVAL);
    assert_non_null(strstr(err.message, "is not the output of a depthwise_conv2d_NCHWc"));
    ts_arena_destroy(A);
    ts_config_space_free(space);
    ts_target_free(h.target);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_odd_shapes),
        cmocka_unit_test(test_fused_blocked_chain),
        cmocka_unit_test(test_fused_nchw_view_chain),
        cmocka_unit_test(test_dag_of_another_operator),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
