/* Pass fold_batch_norm: a BatchNormalization after Conv (groups, strides, pads, with and
 * without a bias), ConvTranspose (groups, stride), Gemm (transB, alpha, beta), MatMul + Add
 * and MatMul alone is folded into new constant weights and bias. Each model gets random
 * weights and statistics; a naive C evaluator of these operators runs the graph before
 * the pass (the unfused computation) and after it, on the same random input, and the
 * outputs must agree. A BatchNormalization whose producer has other readers stays. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "relay_lite/passes/passes.h"
#include "relay_testing.h"

enum { FLOAT = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT };

/* ---- a naive evaluator ---- */

enum { MAX_VALUES = 64 };

typedef struct Env {
    int count;
    const RlyValue *values[MAX_VALUES];
    float *data[MAX_VALUES];
} Env;

static const float *lookup(const Env *env, const RlyValue *v)
{
    if (v->constant)
        return v->constant->data;
    for (int k = 0; k < env->count; k++)
        if (env->values[k] == v)
            return env->data[k];
    fail_msg("value %s not computed", v->name);
    return NULL;
}

static float *define(Env *env, const RlyValue *v)
{
    assert_true(env->count < MAX_VALUES);
    env->values[env->count] = v;
    env->data[env->count] = calloc((size_t)rly_value_elements(v), sizeof(float));
    return env->data[env->count++];
}

static int64_t attr_int(const RlyNode *n, const char *name, int64_t def)
{
    const RlyAttr *a = rly_node_attr(n, name);
    return a ? a->i : def;
}

static double attr_float(const RlyNode *n, const char *name, double def)
{
    const RlyAttr *a = rly_node_attr(n, name);
    return a ? a->f : def;
}

static int64_t attr_at(const RlyNode *n, const char *name, int k, int64_t def)
{
    const RlyAttr *a = rly_node_attr(n, name);
    return a && k < a->num_values ? a->ints[k] : def;
}

/* 2-D Conv, batch 1: out[m, oh, ow] = b[m] + sum x[g*cg + c, oh*s - p + i, ow*s - p + j] w[m, c, i, j]. */
static void eval_conv(const Env *env, const RlyNode *n, float *out)
{
    const RlyValue *xv = rly_input(n, 0), *wv = rly_input(n, 1), *yv = rly_output(n, 0);
    const float *x = lookup(env, xv), *w = lookup(env, wv);
    const float *b = rly_input(n, 2) ? lookup(env, rly_input(n, 2)) : NULL;
    int64_t groups = attr_int(n, "group", 1), s = attr_at(n, "strides", 0, 1),
            p = attr_at(n, "pads", 0, 0);
    int64_t C = xv->dims[1], H = xv->dims[2], W = xv->dims[3], M = yv->dims[1], OH = yv->dims[2],
            OW = yv->dims[3], cg = wv->dims[1], KH = wv->dims[2], KW = wv->dims[3];
    (void)C;
    for (int64_t m = 0; m < M; m++)
        for (int64_t oh = 0; oh < OH; oh++)
            for (int64_t ow = 0; ow < OW; ow++) {
                double acc = b ? b[m] : 0;
                int64_t g = m / (M / groups);
                for (int64_t c = 0; c < cg; c++)
                    for (int64_t i = 0; i < KH; i++)
                        for (int64_t j = 0; j < KW; j++) {
                            int64_t h = oh * s - p + i, ww = ow * s - p + j;
                            if (h < 0 || h >= H || ww < 0 || ww >= W)
                                continue;
                            acc += x[((g * cg + c) * H + h) * W + ww] *
                                   w[((m * cg + c) * KH + i) * KW + j];
                        }
                out[(m * OH + oh) * OW + ow] = (float)acc;
            }
}

/* 2-D ConvTranspose, batch 1, no pads: out[g*mg + j, h*s + i, w*s + jj] += x[c, h, w] w[c, j, i, jj]. */
static void eval_conv_transpose(const Env *env, const RlyNode *n, float *out)
{
    const RlyValue *xv = rly_input(n, 0), *wv = rly_input(n, 1), *yv = rly_output(n, 0);
    const float *x = lookup(env, xv), *w = lookup(env, wv);
    const float *b = rly_input(n, 2) ? lookup(env, rly_input(n, 2)) : NULL;
    int64_t groups = attr_int(n, "group", 1), s = attr_at(n, "strides", 0, 1);
    int64_t C = xv->dims[1], H = xv->dims[2], W = xv->dims[3], M = yv->dims[1], OH = yv->dims[2],
            OW = yv->dims[3], mg = wv->dims[1], KH = wv->dims[2], KW = wv->dims[3];
    for (int64_t k = 0; k < M * OH * OW; k++)
        out[k] = b ? b[k / (OH * OW)] : 0;
    for (int64_t c = 0; c < C; c++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t ww = 0; ww < W; ww++)
                for (int64_t j = 0; j < mg; j++)
                    for (int64_t i = 0; i < KH; i++)
                        for (int64_t jj = 0; jj < KW; jj++) {
                            int64_t m = c / (C / groups) * mg + j;
                            out[(m * OH + h * s + i) * OW + ww * s + jj] +=
                                x[(c * H + h) * W + ww] * w[((c * mg + j) * KH + i) * KW + jj];
                        }
}

/* Gemm (transA 0) and MatMul of matrices; Add of a [N] or [1] bias or equal shapes. */
static void eval_matrix(const Env *env, const RlyNode *n, float *out)
{
    const RlyValue *av = rly_input(n, 0), *bv = rly_input(n, 1), *yv = rly_output(n, 0);
    const float *a = lookup(env, av), *b = lookup(env, bv);
    bool gemm = n->op == RLY_OP_GEMM;
    const float *c = gemm && rly_input(n, 2) ? lookup(env, rly_input(n, 2)) : NULL;
    int64_t c_count = c ? rly_input(n, 2)->constant->num_elements : 0;
    bool tb = gemm && attr_int(n, "transB", 0);
    double alpha = gemm ? attr_float(n, "alpha", 1) : 1, beta = gemm ? attr_float(n, "beta", 1) : 1;
    int64_t M = yv->dims[0], N = yv->dims[1], K = av->dims[1];
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double acc = 0;
            for (int64_t k = 0; k < K; k++)
                acc += a[i * K + k] * b[tb ? j * K + k : k * N + j];
            out[i * N + j] = (float)(alpha * acc + (c ? beta * c[c_count == 1 ? 0 : j] : 0));
        }
}

static void eval_add(const Env *env, const RlyNode *n, float *out)
{
    const RlyValue *av = rly_input(n, 0), *bv = rly_input(n, 1), *yv = rly_output(n, 0);
    const float *a = lookup(env, av), *b = lookup(env, bv);
    int64_t total = rly_value_elements(yv), nb = rly_value_elements(bv);
    for (int64_t k = 0; k < total; k++)
        out[k] = a[k] + b[k % nb];
}

static void eval_batch_norm(const Env *env, const RlyNode *n, float *out)
{
    const RlyValue *xv = rly_input(n, 0);
    const float *x = lookup(env, xv), *scale = lookup(env, rly_input(n, 1)),
                *bias = lookup(env, rly_input(n, 2)), *mean = lookup(env, rly_input(n, 3)),
                *var = lookup(env, rly_input(n, 4));
    double eps = attr_float(n, "epsilon", 1e-5);
    int64_t C = xv->dims[1], inner = rly_value_elements(xv) / xv->dims[0] / C;
    for (int64_t k = 0; k < rly_value_elements(xv); k++) {
        int64_t c = k / inner % C;
        out[k] = (float)((x[k] - mean[c]) / sqrt(var[c] + eps) * scale[c] + bias[c]);
    }
}

/* Runs the graph on input x; returns the (malloc'd) output 0. */
static float *run_graph(const TsGraph *graph, const float *x)
{
    Env env = { 0 };
    float *in = define(&env, graph->inputs[0]);
    memcpy(in, x, (size_t)rly_value_elements(graph->inputs[0]) * sizeof(float));
    for (int k = 0; k < graph->num_nodes; k++) {
        const RlyNode *n = graph->nodes[k];
        float *out = define(&env, rly_output(n, 0));
        switch (n->op) {
        case RLY_OP_CONV: eval_conv(&env, n, out); break;
        case RLY_OP_CONV_TRANSPOSE: eval_conv_transpose(&env, n, out); break;
        case RLY_OP_GEMM:
        case RLY_OP_MATMUL: eval_matrix(&env, n, out); break;
        case RLY_OP_ADD: eval_add(&env, n, out); break;
        case RLY_OP_BATCH_NORM: eval_batch_norm(&env, n, out); break;
        default: fail_msg("the evaluator has no %s", n->op_type);
        }
    }
    int64_t count = rly_value_elements(graph->outputs[0]);
    float *result = malloc((size_t)count * sizeof(float));
    memcpy(result, lookup(&env, graph->outputs[0]), (size_t)count * sizeof(float));
    for (int k = 0; k < env.count; k++)
        free(env.data[k]);
    return result;
}

/* ---- random weights ---- */

static float uniform(unsigned *seed, float lo, float hi)
{
    *seed = *seed * 1103515245u + 12345u;
    return lo + (hi - lo) * (float)((*seed >> 8) & 0xffff) / 65535.0f;
}

/* Every float initializer random in [-1, 1]; those called "var" in [0.5, 1.5]. */
static void randomize(TsGraph *graph, unsigned seed)
{
    for (int k = 0; k < graph->num_initializers; k++) {
        RlyValue *v = graph->initializers[k];
        if (!ts_dtype_eq(v->dtype, TS_FLOAT32))
            continue;
        RlyConst *c = rly_const_new(graph, TS_FLOAT32, v->constant->ndim, v->constant->shape);
        assert_non_null(c);
        bool var = strcmp(v->name, "var") == 0;
        for (int64_t i = 0; i < c->num_elements; i++)
            ((float *)c->data)[i] = var ? uniform(&seed, 0.5f, 1.5f) : uniform(&seed, -1, 1);
        v->constant = c;
    }
}

/* Adds BatchNormalization(y) -> z with its four [channels] constants. */
static void add_batch_norm(ModelBuilder *mb, int64_t channels)
{
    mb_init_f32(mb, "scale", 1, I64S(channels));
    mb_init_f32(mb, "beta", 1, I64S(channels));
    mb_init_f32(mb, "mean", 1, I64S(channels));
    mb_init_f32(mb, "var", 1, I64S(channels));
    mb_attr_float(mb, mb_node(mb, "BatchNormalization", "y,scale,beta,mean,var", "z"), "epsilon",
                  1e-3f);
    mb_output(mb, "z");
}

/* Imports, randomizes, evaluates, folds, evaluates again; expects the node count after the
 * pass, no BatchNormalization left, and equal outputs. */
static void check_fold(ModelBuilder *mb, int nodes_after, unsigned seed)
{
    TsGraph *graph = import_model(mb, NULL);
    randomize(graph, seed);
    int64_t n = rly_value_elements(graph->inputs[0]);
    float *x = malloc((size_t)n * sizeof(float));
    for (int64_t k = 0; k < n; k++)
        x[k] = uniform(&seed, -1, 1);
    float *before = run_graph(graph, x);
    run_passes(graph, "fold_batch_norm");
    assert_int_equal(count_op(graph, RLY_OP_BATCH_NORM), 0);
    assert_int_equal(graph->num_nodes, nodes_after);
    assert_string_equal(graph->outputs[0]->name, "z");
    float *after = run_graph(graph, x);
    int64_t count = rly_value_elements(graph->outputs[0]);
    for (int64_t k = 0; k < count; k++)
        assert_float_equal(after[k], before[k], 1e-4 + 1e-4 * fabs(before[k]));
    free(after);
    free(before);
    free(x);
    ts_graph_free(graph);
}

static ModelBuilder *with_input(int ndim, const int64_t *dims)
{
    ModelBuilder *mb = mb_new(13);
    mb_input(mb, "x", FLOAT, ndim, dims);
    return mb;
}

static void test_fold_into_conv(void **state)
{
    (void)state;
    for (int bias = 0; bias < 2; bias++) {
        ModelBuilder *mb = with_input(4, I64S(1, 4, 7, 7));
        mb_init_f32(mb, "w", 4, I64S(6, 2, 3, 3));
        if (bias)
            mb_init_f32(mb, "b", 1, I64S(6));
        Onnx__NodeProto *n = mb_node(mb, "Conv", bias ? "x,w,b" : "x,w", "y");
        mb_attr_int(mb, n, "group", 2);
        mb_attr_ints(mb, n, "strides", NV(2, 2));
        mb_attr_ints(mb, n, "pads", NV(1, 1, 1, 1));
        add_batch_norm(mb, 6);
        check_fold(mb, 1, 11u + (unsigned)bias);
    }
}

static void test_fold_into_conv_transpose(void **state)
{
    (void)state;
    ModelBuilder *mb = with_input(4, I64S(1, 4, 3, 3));
    mb_init_f32(mb, "w", 4, I64S(4, 3, 2, 2));
    mb_init_f32(mb, "b", 1, I64S(6));
    Onnx__NodeProto *n = mb_node(mb, "ConvTranspose", "x,w,b", "y");
    mb_attr_int(mb, n, "group", 2);
    mb_attr_ints(mb, n, "strides", NV(2, 2));
    add_batch_norm(mb, 6);
    check_fold(mb, 1, 5);
}

static void test_fold_into_gemm(void **state)
{
    (void)state;
    ModelBuilder *mb = with_input(2, I64S(3, 5));
    mb_init_f32(mb, "w", 2, I64S(4, 5));
    mb_init_f32(mb, "c", 1, I64S(4));
    Onnx__NodeProto *n = mb_node(mb, "Gemm", "x,w,c", "y");
    mb_attr_int(mb, n, "transB", 1);
    mb_attr_float(mb, n, "alpha", 0.5f);
    mb_attr_float(mb, n, "beta", 2.0f);
    add_batch_norm(mb, 4);
    check_fold(mb, 1, 7);
}

static void test_fold_into_matmul(void **state)
{
    (void)state;
    ModelBuilder *mb = with_input(2, I64S(3, 5));
    mb_init_f32(mb, "w", 2, I64S(5, 4));
    mb_init_f32(mb, "bias", 1, I64S(4));
    mb_node(mb, "MatMul", "x,w", "mm");
    mb_node(mb, "Add", "mm,bias", "y");
    add_batch_norm(mb, 4);
    check_fold(mb, 2, 9);
    /* Without an Add, the BatchNormalization becomes the Add of the folded bias. */
    mb = with_input(2, I64S(3, 5));
    mb_init_f32(mb, "w", 2, I64S(5, 4));
    mb_node(mb, "MatMul", "x,w", "y");
    add_batch_norm(mb, 4);
    check_fold(mb, 2, 13);
}

/* The producer's output read by another node too: folding would change that reader. */
static void test_shared_producer_not_folded(void **state)
{
    (void)state;
    ModelBuilder *mb = with_input(4, I64S(1, 2, 4, 4));
    mb_init_f32(mb, "w", 4, I64S(2, 2, 1, 1));
    mb_node(mb, "Conv", "x,w", "y");
    add_batch_norm(mb, 2);
    mb_output(mb, "y");
    TsGraph *graph = import_model(mb, NULL);
    run_passes(graph, "fold_batch_norm");
    assert_int_equal(count_op(graph, RLY_OP_BATCH_NORM), 1);
    assert_int_equal(graph->num_nodes, 2);
    ts_graph_free(graph);
}

/* The folded constants are named after the BatchNormalization, never reusing a name the
 * model has (PyTorch calls a batch norm's scale "bn1.weight"). */
static void test_folded_names_are_unique(void **state)
{
    (void)state;
    ModelBuilder *mb = with_input(4, I64S(1, 2, 4, 4));
    mb_init_f32(mb, "w", 4, I64S(2, 2, 1, 1));
    mb_node(mb, "Conv", "x,w", "y");
    mb_init_f32(mb, "bn1.weight", 1, I64S(2));
    mb_init_f32(mb, "beta", 1, I64S(2));
    mb_init_f32(mb, "mean", 1, I64S(2));
    mb_init_f32(mb, "var", 1, I64S(2));
    Onnx__NodeProto *n = mb_node(mb, "BatchNormalization", "y,bn1.weight,beta,mean,var", "z");
    n->name = (char *)"bn1";
    mb_output(mb, "z");
    TsGraph *graph = import_model(mb, NULL);
    run_passes(graph, "fold_batch_norm");
    assert_int_equal(graph->num_nodes, 1);
    assert_string_equal(graph->nodes[0]->inputs[1]->name, "bn1.weight_1");
    assert_string_equal(graph->nodes[0]->inputs[2]->name, "bn1.bias");
    ts_graph_free(graph);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_fold_into_conv),
    cmocka_unit_test(test_fold_into_conv_transpose),
    cmocka_unit_test(test_fold_into_gemm),
    cmocka_unit_test(test_fold_into_matmul),
    cmocka_unit_test(test_shared_producer_not_folded),
    cmocka_unit_test(test_folded_names_are_unique),
};

int main(void)
{
    return cmocka_run_group_tests(tests, NULL, NULL);
}
