/* Whole models built end to end: small ONNX models written here are imported, built into
 * one shared object (ts_graph_build: passes, fused kernels, the serialized model), loaded
 * (ts_module_load) and run by the graph executor, and every output is compared (rtol
 * 1e-4) with the reference interpreter's evaluation of the same graph before any pass
 * (every node lowered by rly_lower_node into one DAG, evaluated by ts_evaluate). The
 * models: a residual block with batch norm and a flatten -> gemm head (two outputs), and
 * pooling, concat, reshape and softmax. Also: the .so needs no LLVM (its NEEDED entries),
 * the memory plan's arena is smaller than one buffer per intermediate, a model whose
 * output is no kernel's is refused with a message naming the value, and a chain of
 * convs and pools keeps its data blocked between them (no pack between two of them), and
 * a depthwise conv + batch norm + ReLU6 between two convs is one kernel. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "relay_testing.h"
#include "tessera/graph_executor.h"
#include "tessera/runtime.h"

enum { FLOAT = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT };

static uint64_t rng = 0x1234567;

static float next_random(void)
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(rng >> 40) / (double)(1 << 24) * 2.0 - 1.0);
}

/* A float32 initializer of random values in [lo, lo + 2 * scale). */
static void init_random(ModelBuilder *mb, const char *name, int ndim, const int64_t *dims, float lo,
                        float scale)
{
    mb_init_f32(mb, name, ndim, dims);
    Onnx__GraphProto *g = mb_model(mb)->graph;
    Onnx__TensorProto *t = g->initializer[g->n_initializer - 1];
    for (size_t i = 0; i < t->n_float_data; i++)
        t->float_data[i] = lo + scale * (next_random() + 1.0f);
}

static const char *so_path(const char *tag)
{
    static char path[1024];
    snprintf(path, sizeof path, "%s/model_%s_%ld.so", TESSERA_SCRATCH_DIR, tag, (long)getpid());
    return path;
}

/* ---- the reference: the whole graph as one DAG, evaluated by the interpreter ---- */

typedef struct Reference {
    TsArena *arena;
    int num;
    const RlyValue *values[512];
    TsTensor *tensors[512];
} Reference;

static TsTensor *ref_tensor(Reference *r, const RlyValue *v)
{
    for (int i = 0; i < r->num; i++)
        if (r->values[i] == v)
            return r->tensors[i];
    assert_true(v->constant || v->kind == RLY_VALUE_INPUT);
    char name[32];
    snprintf(name, sizeof name, "v%d", r->num);
    TsTensor *t = ts_placeholder(r->arena, name, v->ndim, v->dims, v->dtype);
    assert_non_null(t);
    r->values[r->num] = v;
    r->tensors[r->num++] = t;
    return t;
}

/* Evaluates graph's outputs for inputs (one buffer per graph input) into outputs. */
static void evaluate_graph(const TsGraph *graph, void *const *inputs, void **outputs)
{
    Reference r = { .arena = ts_arena_create() };
    TsError err;
    for (int n = 0; n < graph->num_nodes; n++) {
        const RlyNode *node = graph->nodes[n];
        TsTensor *in[16] = { 0 }, *out[16] = { 0 };
        for (int k = 0; k < node->num_inputs; k++)
            in[k] = node->inputs[k] ? ref_tensor(&r, node->inputs[k]) : NULL;
        TsStatus st = rly_lower_node(r.arena, graph, node, in, out, &err);
        if (st != TS_OK)
            fail_msg("reference: %s", err.message);
        for (int k = 0; k < node->num_outputs; k++)
            if (node->outputs[k]) {
                r.values[r.num] = node->outputs[k];
                r.tensors[r.num++] = out[k];
            }
    }
    TsTensor *outs[8];
    TsBinding bindings[600];
    int nb = 0;
    for (int o = 0; o < graph->num_outputs; o++) {
        outs[o] = ref_tensor(&r, graph->outputs[o]);
        bindings[nb++] = (TsBinding){ outs[o], outputs[o] };
    }
    TsTensor **stages;
    int num_stages = ts_dag_stages(r.arena, graph->num_outputs, outs, &stages);
    assert_true(num_stages > 0);
    for (int s = 0; s < num_stages; s++) {
        if (!ts_tensor_is_placeholder(stages[s]))
            continue;
        for (int i = 0; i < r.num; i++)
            if (r.tensors[i] == stages[s]) {
                const RlyValue *v = r.values[i];
                int input = -1;
                for (int k = 0; k < graph->num_inputs; k++)
                    if (graph->inputs[k] == v)
                        input = k;
                bindings[nb++] = (TsBinding){ stages[s], input >= 0 ? inputs[input]
                                                                    : (void *)v->constant->data };
            }
    }
    if (ts_evaluate(graph->num_outputs, outs, nb, bindings, &err) != TS_OK)
        fail_msg("reference: %s", err.message);
    ts_arena_destroy(r.arena);
}

/* ---- building and running ---- */

static void expect_close(const float *got, const float *want, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++)
        if (!(fabsf(got[i] - want[i]) <= 1e-4f * fabsf(want[i]) + 1e-5f))
            fail_msg("%s[%zu]: got %.7g, want %.7g", what, i, (double)got[i], (double)want[i]);
}

/* Imports the model twice (one graph for the reference, one to build), builds with
 * options, loads, runs it on random inputs and compares every output; returns the
 * build's stats. */
static TsBuildStats build_with(ModelBuilder *mb, const char *tag, const TsBuildOptions *options,
                               TsGraphExecutor **keep)
{
    mb_save(mb, scratch_model_path());
    mb_free(mb);
    TsError err;
    TsGraph *reference = NULL, *graph = NULL;
    assert_int_equal(ts_graph_import_onnx(scratch_model_path(), NULL, &reference, &err), TS_OK);
    assert_int_equal(ts_graph_import_onnx(scratch_model_path(), NULL, &graph, &err), TS_OK);
    TsBuildStats stats;
    if (ts_graph_build(graph, options, so_path(tag), &stats, &err) != TS_OK)
        fail_msg("build: %s", err.message);
    TsModule *module;
    TsGraphExecutor *ex;
    if (ts_module_load(so_path(tag), &module, &err) != TS_OK ||
        ts_graph_executor_create(module, &ex, &err) != TS_OK)
        fail_msg("load: %s", err.message);
    ts_module_release(module);
    assert_int_equal(ts_graph_executor_num_inputs(ex), ts_graph_num_inputs(reference));
    assert_int_equal(ts_graph_executor_num_outputs(ex), ts_graph_num_outputs(reference));
    void *inputs[8], *want[8];
    for (int i = 0; i < ts_graph_executor_num_inputs(ex); i++) {
        size_t bytes = ts_graph_executor_input_bytes(ex, i);
        float *x = malloc(bytes);
        for (size_t k = 0; k < bytes / sizeof(float); k++)
            x[k] = next_random();
        assert_int_equal(ts_graph_executor_set_input(ex, i, x, bytes, &err), TS_OK);
        inputs[i] = x;
    }
    for (int o = 0; o < ts_graph_executor_num_outputs(ex); o++)
        want[o] = malloc(ts_graph_executor_output_bytes(ex, o));
    evaluate_graph(reference, inputs, want);
    if (ts_graph_executor_run(ex, &err) != TS_OK)
        fail_msg("run: %s", err.message);
    for (int o = 0; o < ts_graph_executor_num_outputs(ex); o++) {
        size_t bytes = ts_graph_executor_output_bytes(ex, o);
        float *got = malloc(bytes);
        assert_int_equal(ts_graph_executor_get_output(ex, o, got, bytes, &err), TS_OK);
        const char *name;
        assert_int_equal(ts_graph_executor_output_info(ex, o, &name, NULL, NULL, NULL, &err),
                         TS_OK);
        expect_close(got, want[o], bytes / sizeof(float), name);
        free(got);
        free(want[o]);
    }
    for (int i = 0; i < ts_graph_executor_num_inputs(ex); i++)
        free(inputs[i]);
    if (keep)
        *keep = ex;
    else
        ts_graph_executor_free(ex);
    ts_graph_free(reference);
    ts_graph_free(graph);
    return stats;
}

static TsBuildStats build_and_check(ModelBuilder *mb, const char *tag, TsGraphExecutor **keep)
{
    return build_with(mb, tag, NULL, keep);
}

/* x -> conv3x3+bias -> bn -> relu -> conv3x3 -> + x -> relu (output "r") -> global
 * average pool -> flatten -> gemm (output "y"). */
static ModelBuilder *residual_model(void)
{
    ModelBuilder *mb = mb_new(13);
    mb_input(mb, "x", FLOAT, 4, I64S(1, 8, 10, 10));
    init_random(mb, "w1", 4, I64S(8, 8, 3, 3), -0.3f, 0.3f);
    init_random(mb, "b1", 1, I64S(8), -0.5f, 0.5f);
    init_random(mb, "gamma", 1, I64S(8), 0.5f, 0.25f);
    init_random(mb, "beta", 1, I64S(8), -0.5f, 0.5f);
    init_random(mb, "mean", 1, I64S(8), -0.5f, 0.5f);
    init_random(mb, "var", 1, I64S(8), 0.5f, 0.5f);
    init_random(mb, "w2", 4, I64S(8, 8, 3, 3), -0.3f, 0.3f);
    init_random(mb, "fc_w", 2, I64S(10, 8), -1, 1);
    init_random(mb, "fc_b", 1, I64S(10), -1, 1);
    Onnx__NodeProto *c1 = mb_node(mb, "Conv", "x,w1,b1", "c1");
    mb_attr_ints(mb, c1, "pads", NV(1, 1, 1, 1));
    mb_attr_ints(mb, c1, "kernel_shape", NV(3, 3));
    mb_node(mb, "BatchNormalization", "c1,gamma,beta,mean,var", "bn");
    mb_node(mb, "Relu", "bn", "a1");
    Onnx__NodeProto *c2 = mb_node(mb, "Conv", "a1,w2", "c2");
    mb_attr_ints(mb, c2, "pads", NV(1, 1, 1, 1));
    mb_node(mb, "Add", "c2,x", "s");
    mb_node(mb, "Relu", "s", "r");
    mb_node(mb, "GlobalAveragePool", "r", "p");
    mb_node(mb, "Flatten", "p", "f");
    Onnx__NodeProto *fc = mb_node(mb, "Gemm", "f,fc_w,fc_b", "y");
    mb_attr_int(mb, fc, "transB", 1);
    mb_output(mb, "y");
    mb_output(mb, "r");
    return mb;
}

static void test_residual_block(void **state)
{
    (void)state;
    TsGraphExecutor *ex;
    TsBuildStats stats = build_and_check(residual_model(), "residual", &ex);
    assert_true(stats.num_kernels >= 3);
    assert_true(stats.weights_bytes >= (int64_t)sizeof(float) * (2 * 8 * 8 * 9 + 80));
    /* The model's output order is y, r. */
    const char *name;
    TsError err;
    assert_int_equal(ts_graph_executor_output_info(ex, 0, &name, NULL, NULL, NULL, &err), TS_OK);
    assert_string_equal(name, "y");
    assert_int_equal(ts_graph_executor_input_index(ex, "x"), 0);
    double costs[2];
    TsTimeOptions options = ts_time_options_default();
    options.repeat = 2;
    assert_int_equal(ts_graph_executor_time(ex, &options, costs, &err), TS_OK);
    assert_true(costs[0] > 0 && costs[1] > 0);
    ts_graph_executor_free(ex);
}

static void test_pool_concat_softmax(void **state)
{
    (void)state;
    ModelBuilder *mb = mb_new(13);
    mb_input(mb, "x", FLOAT, 4, I64S(1, 3, 8, 8));
    init_random(mb, "w", 4, I64S(5, 3, 1, 1), -1, 1);
    mb_init_i64(mb, "shape", 2, I64S(1, -1));
    Onnx__NodeProto *mp = mb_node(mb, "MaxPool", "x", "p");
    mb_attr_ints(mb, mp, "kernel_shape", NV(2, 2));
    mb_attr_ints(mb, mp, "strides", NV(2, 2));
    mb_node(mb, "Conv", "p,w", "c");
    Onnx__NodeProto *cat = mb_node(mb, "Concat", "p,c", "k");
    mb_attr_int(mb, cat, "axis", 1);
    mb_node(mb, "Sigmoid", "k", "g");
    mb_node(mb, "Reshape", "g,shape", "f");
    mb_node(mb, "Softmax", "f", "y");
    mb_output(mb, "y");
    build_and_check(mb, "softmax", NULL);
}

/* Dense in its other forms: MatMul and a transB=0 Gemm (their [K, N] weights transposed
 * at build time) with alpha, beta and a row-broadcast C, fused with a Relu. */
static void test_dense_forms(void **state)
{
    (void)state;
    ModelBuilder *mb = mb_new(13);
    mb_input(mb, "x", FLOAT, 2, I64S(4, 8));
    init_random(mb, "w1", 2, I64S(8, 6), -1, 1);
    init_random(mb, "w2", 2, I64S(6, 5), -1, 1);
    init_random(mb, "c", 2, I64S(1, 5), -1, 1);
    mb_node(mb, "MatMul", "x,w1", "m");
    mb_node(mb, "Relu", "m", "h");
    Onnx__NodeProto *g = mb_node(mb, "Gemm", "h,w2,c", "y");
    mb_attr_float(mb, g, "alpha", 0.5f);
    mb_attr_float(mb, g, "beta", 2.0f);
    mb_output(mb, "y");
    TsBuildStats stats = build_and_check(mb, "dense", NULL);
    assert_int_equal(stats.num_default, 2);
    assert_int_equal(stats.num_kernels, 2);
}

/* The memory plan reuses buffers: a chain of convolutions needs two live at a time, and
 * the blocked-layout scratch buffers (packed input, blocked output) are one region that
 * every group reuses. Without reuse the arena would take 4 intermediates + 2 scratch.
 * The blocked intermediates kept between the convs take their values' places. */
static void test_arena_reuse(void **state)
{
    (void)state;
    ModelBuilder *mb = mb_new(13);
    mb_input(mb, "x", FLOAT, 4, I64S(1, 4, 8, 8));
    char in[16] = "x", out[16], w[16];
    for (int k = 0; k < 5; k++) {
        snprintf(w, sizeof w, "w%d", k);
        snprintf(out, sizeof out, "c%d", k);
        init_random(mb, w, 4, I64S(4, 4, 1, 1), -0.5f, 0.5f);
        char inputs[40];
        snprintf(inputs, sizeof inputs, "%s,%s", in, w);
        mb_node(mb, "Conv", inputs, out);
        memcpy(in, out, sizeof in);
    }
    mb_output(mb, "c4");
    TsBuildStats stats = build_and_check(mb, "chain", NULL);
    int64_t one = 4 * 8 * 8 * (int64_t)sizeof(float);
    /* x packed once; each conv one kernel that writes the blocked value the next reads
     * (4 channels: every block is 4); c4 unpacked once. */
    assert_int_equal(stats.num_kernels, 7);
    assert_int_equal(stats.num_kept_blocked, 4);
    assert_int_equal(stats.num_default, 5);
    assert_true(stats.arena_bytes <= 4 * one);
}

/* A conv node "out" = Conv(in, w<out>[, b<out>]) with random weights. */
static void conv_node(ModelBuilder *mb, const char *in, const char *out, int64_t c, int64_t k,
                      int64_t kernel, int64_t stride, int64_t group, bool bias)
{
    char w[32], b[32], inputs[96];
    snprintf(w, sizeof w, "w_%s", out);
    snprintf(b, sizeof b, "b_%s", out);
    init_random(mb, w, 4, I64S(k, c / group, kernel, kernel), -0.3f, 0.3f);
    if (bias)
        init_random(mb, b, 1, I64S(k), -0.5f, 0.5f);
    snprintf(inputs, sizeof inputs, bias ? "%s,%s,%s" : "%s,%s", in, w, b);
    Onnx__NodeProto *node = mb_node(mb, "Conv", inputs, out);
    int64_t pad = kernel / 2;
    mb_attr_ints(mb, node, "pads", NV(pad, pad, pad, pad));
    mb_attr_ints(mb, node, "strides", NV(stride, stride));
    if (group > 1)
        mb_attr_int(mb, node, "group", group);
}

/* Convs, a depthwise conv and pools in a row, with 6, 12 and 10 channels:
 *   x -> conv 6->12 +b, relu (a) -> conv 3x3 stride 2 +b, relu (s) and conv 1x1 stride 2
 *   (d: a read by two anchors); s -> conv +b, + d, relu (r: d read by a fused add alone)
 *   -> conv +b, + r, relu (r2: r read by an anchor and a residual add) -> depthwise 3x3
 *   +b, relu (dw) -> max pool 3x3 stride 2 (p) -> conv 1x1 12->10 +b (e, a graph output
 *   too) -> conv 3x3 (f) -> global average pool -> flatten -> gemm (y). */
static ModelBuilder *layout_chain_model(void)
{
    ModelBuilder *mb = mb_new(13);
    mb_input(mb, "x", FLOAT, 4, I64S(1, 6, 14, 14));
    conv_node(mb, "x", "ca", 6, 12, 3, 1, 1, true);
    mb_node(mb, "Relu", "ca", "a");
    conv_node(mb, "a", "cs", 12, 12, 3, 2, 1, true);
    mb_node(mb, "Relu", "cs", "s");
    conv_node(mb, "a", "d", 12, 12, 1, 2, 1, false);
    conv_node(mb, "s", "cr", 12, 12, 3, 1, 1, true);
    mb_node(mb, "Add", "cr,d", "sr");
    mb_node(mb, "Relu", "sr", "r");
    conv_node(mb, "r", "cr2", 12, 12, 3, 1, 1, true);
    mb_node(mb, "Add", "cr2,r", "sr2");
    mb_node(mb, "Relu", "sr2", "r2");
    conv_node(mb, "r2", "cdw", 12, 12, 3, 1, 12, true);
    mb_node(mb, "Relu", "cdw", "dw");
    Onnx__NodeProto *pool = mb_node(mb, "MaxPool", "dw", "p");
    mb_attr_ints(mb, pool, "kernel_shape", NV(3, 3));
    mb_attr_ints(mb, pool, "strides", NV(2, 2));
    mb_attr_ints(mb, pool, "pads", NV(1, 1, 1, 1));
    conv_node(mb, "p", "e", 12, 10, 1, 1, 1, true);
    conv_node(mb, "e", "f", 10, 10, 3, 1, 1, false);
    mb_node(mb, "GlobalAveragePool", "f", "g");
    mb_node(mb, "Flatten", "g", "fl");
    init_random(mb, "fc_w", 2, I64S(7, 10), -1, 1);
    init_random(mb, "fc_b", 1, I64S(7), -1, 1);
    Onnx__NodeProto *fc = mb_node(mb, "Gemm", "fl,fc_w,fc_b", "y");
    mb_attr_int(mb, fc, "transB", 1);
    mb_output(mb, "y");
    mb_output(mb, "e");
    return mb;
}

static int calls_ending(const TsGraphExecutor *ex, const char *suffix)
{
    int count = 0;
    size_t n = strlen(suffix);
    for (int i = 0; i < ts_graph_executor_num_calls(ex); i++) {
        const char *name = ts_graph_executor_call_name(ex, i);
        size_t len = strlen(name);
        count += len >= n && !strcmp(name + len - n, suffix);
    }
    return count;
}

/* Between two blocked groups the data stays blocked: only the convs that read a graph
 * input (x) or a graph output (e) pack; every value an anchor reads as its data and that
 * no NCHW reader needs is kept (a, s, r, r2, dw, p, f); the results match the reference
 * either way. Converting at every group costs a pack and an unpack (or out kernel) per
 * blocked group (10 of them); kept, a group has its own kernel and converts its output
 * only where its readers want another block than it computes in (or NCHW). */
static void test_blocked_layout_kept(void **state)
{
    (void)state;
    TsGraphExecutor *ex;
    TsBuildStats kept = build_with(layout_chain_model(), "kept", NULL, &ex);
    assert_int_equal(calls_ending(ex, "_pack"), 2);
    assert_int_equal(kept.num_kept_blocked, 7);
    int conversions =
        calls_ending(ex, "_repack") + calls_ending(ex, "_unpack") + calls_ending(ex, "_out");
    assert_int_equal(kept.num_kernels, 2 + 10 + conversions + 2);
    ts_graph_executor_free(ex);
    TsBuildOptions nchw = { .keep_nchw = true };
    TsBuildStats converted = build_with(layout_chain_model(), "nchw", &nchw, &ex);
    assert_int_equal(calls_ending(ex, "_pack"), 10);
    assert_int_equal(converted.num_kept_blocked, 0);
    assert_int_equal(converted.num_kernels, 3 * 10 + 2);
    ts_graph_executor_free(ex);
}

static void init_scalar(ModelBuilder *mb, const char *name, float value)
{
    mb_init_f32(mb, name, 0, NULL);
    Onnx__GraphProto *g = mb_model(mb)->graph;
    g->initializer[g->n_initializer - 1]->float_data[0] = value;
}

/* MobileNetV2's block: x -> conv 1x1 +b, relu (a) -> depthwise 3x3 stride 2 +b -> batch
 * norm -> clip(0, 6) (dw) -> conv 1x1 +b (y); c channels, batch 2. With dw_output, dw is
 * a graph output too. */
static ModelBuilder *depthwise_block_model(int64_t c, bool dw_output)
{
    ModelBuilder *mb = mb_new(13);
    mb_input(mb, "x", FLOAT, 4, I64S(2, c, 13, 10));
    conv_node(mb, "x", "ca", c, c, 1, 1, 1, true);
    mb_node(mb, "Relu", "ca", "a");
    conv_node(mb, "a", "cdw", c, c, 3, 2, c, true);
    init_random(mb, "gamma", 1, I64S(c), 0.5f, 0.25f);
    init_random(mb, "beta", 1, I64S(c), -0.5f, 0.5f);
    init_random(mb, "mean", 1, I64S(c), -0.5f, 0.5f);
    init_random(mb, "var", 1, I64S(c), 0.5f, 0.5f);
    mb_node(mb, "BatchNormalization", "cdw,gamma,beta,mean,var", "bn");
    init_scalar(mb, "lo", 0);
    init_scalar(mb, "hi", 6);
    mb_node(mb, "Clip", "bn,lo,hi", "dw");
    conv_node(mb, "dw", "y", c, 16, 1, 1, 1, true);
    mb_output(mb, "y");
    if (dw_output)
        mb_output(mb, "dw");
    return mb;
}

/* A depthwise group (conv, folded batch norm, ReLU6) between two blocked layers is one
 * kernel: its bias, batch norm and clip computed on the template's accumulator, from the
 * blocked input to the blocked output, no out kernel and no blocked scratch copy between
 * them (the padding was never a buffer of the build; the template tests check that the
 * kernel allocates nothing but its accumulator). Kernels: the first conv packs x and
 * runs (2), with 32 channels a repack into the depthwise conv's block (1); the depthwise
 * group (1); the last conv and its unpack to the NCHW output (2). With 24 channels the
 * depthwise group computes in its reader's block. When dw is a graph output its kernel
 * is followed by an unpack, and the last conv packs dw again: the values match the
 * reference every time. */
static int calls_named(const TsGraphExecutor *ex, const char *name);
static int calls_starting(const TsGraphExecutor *ex, const char *prefix);

static void test_depthwise_group_one_kernel(void **state)
{
    (void)state;
    static const int64_t channels[] = { 32, 24 };
    static const int kernels[] = { 6, 5 }; /* 32: the first conv's block is not the dw's */
    for (int i = 0; i < 2; i++) {
        TsGraphExecutor *ex;
        TsBuildStats fused = build_with(depthwise_block_model(channels[i], false), "dw", NULL, &ex);
        assert_int_equal(fused.num_kernels, kernels[i]);
        assert_int_equal(ts_graph_executor_num_calls(ex), kernels[i]);
        assert_int_equal(calls_starting(ex, "k1_"), 1); /* the depthwise group */
        assert_int_equal(calls_named(ex, "k1_conv"), 1);
        assert_int_equal(calls_ending(ex, "_out"), 0);
        assert_int_equal(calls_ending(ex, "_pack"), 1);
        assert_int_equal(calls_ending(ex, "_repack"), kernels[i] - 5);
        assert_int_equal(fused.num_kept_blocked, 2);
        ts_graph_executor_free(ex);
    }
    TsGraphExecutor *ex;
    TsBuildStats unfused = build_with(depthwise_block_model(32, true), "dw_out", NULL, &ex);
    /* dw: its kernel and the unpack of the graph output; the last conv packs it again. */
    assert_int_equal(unfused.num_kernels, 8);
    assert_int_equal(calls_named(ex, "k1_conv_unpack"), 1);
    assert_int_equal(calls_named(ex, "k2_conv_pack"), 1);
    assert_int_equal(calls_ending(ex, "_out"), 0);
    ts_graph_executor_free(ex);
}

static int calls_named(const TsGraphExecutor *ex, const char *name)
{
    int count = 0;
    for (int i = 0; i < ts_graph_executor_num_calls(ex); i++)
        count += !strcmp(ts_graph_executor_call_name(ex, i), name);
    return count;
}

static int calls_starting(const TsGraphExecutor *ex, const char *prefix)
{
    int count = 0;
    for (int i = 0; i < ts_graph_executor_num_calls(ex); i++)
        count += !strncmp(ts_graph_executor_call_name(ex, i), prefix, strlen(prefix));
    return count;
}

/* A conv group computes its bias, activation and residual add in the conv's own kernel,
 * on the register block before the store: between blocked layers one kernel per group.
 *   x -> conv 3x3 +b, relu (a) -> conv 3x3 +b, + a, relu (r) -> conv 1x1 (y)
 * With 8 channels every default config blocks by 8, so a and r stay blocked in the
 * block their producer computes: x packed once, y unpacked once, and no out kernel. */
static void test_conv_group_one_kernel(void **state)
{
    (void)state;
    ModelBuilder *mb = mb_new(13);
    mb_input(mb, "x", FLOAT, 4, I64S(1, 8, 10, 10));
    conv_node(mb, "x", "ca", 8, 8, 3, 1, 1, true);
    mb_node(mb, "Relu", "ca", "a");
    conv_node(mb, "a", "cr", 8, 8, 3, 1, 1, true);
    mb_node(mb, "Add", "cr,a", "sr");
    mb_node(mb, "Relu", "sr", "r");
    conv_node(mb, "r", "y", 8, 8, 1, 1, 1, false);
    mb_output(mb, "y");
    TsGraphExecutor *ex;
    TsBuildStats stats = build_with(mb, "onekernel", NULL, &ex);
    assert_int_equal(stats.num_kept_blocked, 2);
    /* The residual group: the conv, its bias, the add and the ReLU in one kernel. */
    assert_int_equal(calls_starting(ex, "k1_"), 1);
    assert_int_equal(calls_named(ex, "k1_conv"), 1);
    assert_int_equal(calls_ending(ex, "_out"), 0);
    /* pack x, three convs, unpack y. */
    assert_int_equal(stats.num_kernels, 5);
    assert_int_equal(calls_ending(ex, "_pack"), 1);
    assert_int_equal(calls_ending(ex, "_unpack"), 1);
    ts_graph_executor_free(ex);
}

/* MaxPool with ceil_mode 1 (SqueezeNet's pools) where the windows step exactly onto the
 * input's end: the same output as ceil_mode 0, so the pool template serves it and the
 * conv's output stays blocked for it. Where they do not (10 columns), a window is cut
 * and the pool keeps the generic schedule, whose reduction runs on vectors of columns;
 * both match the reference. */
static ModelBuilder *ceil_pool_model(int64_t size)
{
    ModelBuilder *mb = mb_new(13);
    mb_input(mb, "x", FLOAT, 4, I64S(1, 8, size, size));
    conv_node(mb, "x", "c", 8, 8, 3, 1, 1, true);
    mb_node(mb, "Relu", "c", "a");
    Onnx__NodeProto *pool = mb_node(mb, "MaxPool", "a", "p");
    mb_attr_ints(mb, pool, "kernel_shape", NV(3, 3));
    mb_attr_ints(mb, pool, "strides", NV(2, 2));
    mb_attr_int(mb, pool, "ceil_mode", 1);
    conv_node(mb, "p", "y", 8, 8, 1, 1, 1, false);
    mb_output(mb, "y");
    return mb;
}

static void test_ceil_mode_pool(void **state)
{
    (void)state;
    TsBuildStats exact = build_and_check(ceil_pool_model(9), "ceil_exact", NULL);
    assert_int_equal(exact.num_generic, 0);
    assert_int_equal(exact.num_kept_blocked, 2);
    TsBuildStats cut = build_and_check(ceil_pool_model(10), "ceil_cut", NULL);
    assert_int_equal(cut.num_generic, 1);
    assert_int_equal(cut.num_kept_blocked, 0);
}

/* The model's shared object links no LLVM (nor anything but the C library's parts). */
static void test_no_llvm_needed(void **state)
{
    (void)state;
    ModelBuilder *mb = mb_new(13);
    mb_input(mb, "x", FLOAT, 2, I64S(2, 3));
    mb_node(mb, "Relu", "x", "y");
    mb_output(mb, "y");
    build_and_check(mb, "relu", NULL);
    char command[2048];
    snprintf(command, sizeof command, "readelf -d '%s' 2>&1", so_path("relu"));
    FILE *p = popen(command, "r");
    assert_non_null(p);
    char line[512];
    int needed = 0, dynamic = 0;
    while (fgets(line, sizeof line, p)) {
        dynamic += strstr(line, "Dynamic section") != NULL;
        if (strstr(line, "(NEEDED)")) {
            needed++;
            if (strstr(line, "LLVM") || strstr(line, "tessera"))
                fail_msg("the model needs %s", line);
        }
    }
    assert_int_equal(pclose(p), 0);
    assert_int_equal(dynamic, 1);
    assert_true(needed <= 2);
}

static void test_output_of_no_kernel(void **state)
{
    (void)state;
    ModelBuilder *mb = mb_new(13);
    mb_input(mb, "x", FLOAT, 2, I64S(2, 3));
    mb_node(mb, "Relu", "x", "y");
    mb_output(mb, "y");
    mb_output(mb, "x");
    TsGraph *graph = import_model(mb, NULL);
    TsError err;
    assert_int_equal(ts_graph_build(graph, NULL, so_path("bad"), NULL, &err), TS_EINVAL);
    assert_non_null(strstr(err.message, "graph output x"));
    ts_graph_free(graph);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_residual_block),
        cmocka_unit_test(test_pool_concat_softmax),
        cmocka_unit_test(test_arena_reuse),
        cmocka_unit_test(test_dense_forms),
        cmocka_unit_test(test_no_llvm_needed),
        cmocka_unit_test(test_output_of_no_kernel),
        cmocka_unit_test(test_blocked_layout_kept),
        cmocka_unit_test(test_conv_group_one_kernel),
        cmocka_unit_test(test_ceil_mode_pool),
        cmocka_unit_test(test_depthwise_group_one_kernel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
