/* Pass fold_batch_norm: an inference BatchNormalization whose input is computed by a
 * Conv, ConvTranspose, Gemm, or MatMul of a constant matrix (alone or followed by the Add
 * of a constant bias), read by nothing else, is folded into that node's constants:
 *
 *   s[c] = scale[c] / sqrt(var[c] + epsilon)
 *   W'   = W * s           (along the weight's output-channel axis)
 *   b'   = (b - mean) * s + bias
 *
 * and the producer writes the BatchNormalization's output directly. A Gemm's alpha and
 * beta go into W' and b' (the new Gemm has them at 1). A MatMul without a bias Add gets
 * one: the BatchNormalization becomes the Add of b'. Only float32 constants fold; a
 * BatchNormalization that does not qualify stays, for fusion to fuse as elementwise. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "relay_lite/passes/passes.h"

/* What a fold needs: the channel count and the per-channel factor and shift. */
typedef struct Norm {
    int64_t channels;
    float *factor; /* s */
    const float *mean, *bias;
} Norm;

static const RlyConst *f32_const(const RlyValue *value)
{
    const RlyConst *c = value ? value->constant : NULL;
    return c && ts_dtype_eq(c->dtype, TS_FLOAT32) ? c : NULL;
}

/* The BatchNormalization's constants, when it qualifies; false otherwise. */
static bool read_norm(TsGraph *graph, const RlyNode *bn, Norm *norm)
{
    const RlyValue *x = rly_input(bn, 0);
    const RlyConst *scale = f32_const(rly_input(bn, 1)), *bias = f32_const(rly_input(bn, 2));
    const RlyConst *mean = f32_const(rly_input(bn, 3)), *var = f32_const(rly_input(bn, 4));
    double epsilon = 1e-5;
    for (int k = 1; k < bn->num_outputs; k++)
        if (bn->outputs[k])
            return false;
    if (!scale || !bias || !mean || !var || !x || x->ndim < 2 || x->dims[1] <= 0 ||
        rly_attr_float(graph, bn, "epsilon", 1e-5, &epsilon, NULL) != TS_OK)
        return false;
    norm->channels = x->dims[1];
    if (scale->num_elements != norm->channels || bias->num_elements != norm->channels ||
        mean->num_elements != norm->channels || var->num_elements != norm->channels)
        return false;
    norm->factor = ts_arena_alloc(graph->arena, (size_t)norm->channels * sizeof(float));
    if (!norm->factor)
        return false;
    for (int64_t c = 0; c < norm->channels; c++)
        norm->factor[c] = (float)(((const float *)scale->data)[c] /
                                  sqrt((double)((const float *)var->data)[c] + epsilon));
    norm->mean = mean->data;
    norm->bias = bias->data;
    return true;
}

/* ---- new constants ---- */

/* A constant named after the BatchNormalization ("bn1.weight"). */
static RlyValue *folded_value(TsGraph *graph, const RlyNode *bn, const char *what,
                              const RlyConst *c, TsError *err)
{
    char name[TS_GRAPH_NAME_MAX + 16];
    snprintf(name, sizeof name, "%s.%s", bn->label, what);
    return rly_const_value(graph, name, c, err);
}

/* b'[c] = (b_scale * b[c] - mean[c]) * s[c] + bias[c]; b is absent (0), one value or one
 * per channel. */
static RlyConst *fold_bias(TsGraph *graph, const Norm *norm, const RlyConst *b, double b_scale)
{
    RlyConst *out = rly_const_new(graph, TS_FLOAT32, 1, &norm->channels);
    if (!out)
        return NULL;
    for (int64_t c = 0; c < norm->channels; c++) {
        double old = !b ? 0.0 : b->num_elements == 1 ? ((const float *)b->data)[0]
                                                     : ((const float *)b->data)[c];
        ((float *)out->data)[c] =
            (float)((b_scale * old - norm->mean[c]) * norm->factor[c] + norm->bias[c]);
    }
    return out;
}

/* W' = w_scale * W * s[of(W, k)], of giving the output channel of element k as the
 * weight's layout says (how: its parameter, the groups or the transposition). */
typedef int64_t (*ChannelOf)(const RlyConst *w, int64_t k, const void *how);

static RlyConst *fold_weight(TsGraph *graph, const Norm *norm, const RlyConst *w, ChannelOf of,
                             const void *how, double w_scale)
{
    RlyConst *out = rly_const_new(graph, TS_FLOAT32, w->ndim, w->shape);
    if (!out)
        return NULL;
    for (int64_t k = 0; k < w->num_elements; k++)
        ((float *)out->data)[k] =
            (float)(w_scale * ((const float *)w->data)[k] * norm->factor[of(w, k, how)]);
    return out;
}

static int64_t inner_of(const RlyConst *w, int from)
{
    int64_t inner = 1;
    for (int d = from; d < w->ndim; d++)
        inner *= w->shape[d];
    return inner;
}

/* Conv: W[m, c/g, k...], channel m. */
static int64_t conv_channel(const RlyConst *w, int64_t k, const void *how)
{
    (void)how;
    return k / inner_of(w, 1);
}

/* ConvTranspose: W[c_in, m/g, k...]; channel (c_in / (C_in/g)) * (m/g) + j. */
static int64_t conv_transpose_channel(const RlyConst *w, int64_t k, const void *how)
{
    int64_t groups = *(const int64_t *)how, spatial = inner_of(w, 2);
    int64_t j = k / spatial % w->shape[1], c_in = k / (spatial * w->shape[1]);
    return c_in / (w->shape[0] / groups) * w->shape[1] + j;
}

/* A matrix [K, N] (channel n) or, transposed, [N, K] (channel row). */
static int64_t matrix_channel(const RlyConst *w, int64_t k, const void *how)
{
    bool transposed = *(const bool *)how;
    return transposed ? k / w->shape[1] : k % w->shape[1];
}

/* ---- the producers ---- */

/* The producer cloned to write the BatchNormalization's output y, with room for inputs. */
static RlyNode *rewire(TsGraph *graph, const RlyNode *producer, RlyValue *y, int min_inputs)
{
    RlyNode *copy = rly_node_clone(graph, producer);
    if (!copy)
        return NULL;
    if (copy->num_inputs < min_inputs) {
        RlyValue **inputs = ts_arena_alloc(graph->arena, (size_t)min_inputs * sizeof *inputs);
        if (!inputs)
            return NULL;
        memset(inputs, 0, (size_t)min_inputs * sizeof *inputs);
        memcpy(inputs, copy->inputs, (size_t)copy->num_inputs * sizeof *inputs);
        copy->inputs = inputs;
        copy->num_inputs = min_inputs;
    }
    copy->outputs[0] = y;
    return copy;
}

static TsStatus fold_conv(TsGraph *graph, const RlyNode *bn, const RlyNode *conv,
                          const Norm *norm, bool *done, TsError *err)
{
    const RlyConst *w = f32_const(rly_input(conv, 1)), *b = f32_const(rly_input(conv, 2));
    int64_t groups = 1;
    bool transpose = conv->op == RLY_OP_CONV_TRANSPOSE;
    if (!w || (rly_input(conv, 2) && !b) || w->ndim < 2 ||
        rly_attr_int(graph, conv, "group", 1, &groups, NULL) != TS_OK || groups < 1 ||
        w->shape[0] % groups != 0 ||
        (transpose ? w->shape[1] * groups : w->shape[0]) != norm->channels ||
        (b && b->num_elements != norm->channels))
        return TS_OK;
    RlyConst *new_w = fold_weight(graph, norm, w, transpose ? conv_transpose_channel : conv_channel,
                                  &groups, 1.0);
    RlyConst *new_b = fold_bias(graph, norm, b, 1.0);
    RlyNode *copy = rewire(graph, conv, rly_output(bn, 0), 3);
    if (!new_w || !new_b || !copy)
        return rly_node_fail(graph, bn, err, TS_ENOMEM, "out of memory folding into \"%s\"",
                             conv->label);
    copy->inputs[1] = folded_value(graph, bn, "weight", new_w, err);
    copy->inputs[2] = folded_value(graph, bn, "bias", new_b, err);
    if (!copy->inputs[1] || !copy->inputs[2])
        return err ? err->status : TS_ENOMEM;
    rly_replace_node(graph, conv, copy);
    *done = true;
    return TS_OK;
}

/* Gemm's attributes without alpha and beta (folded in, so both 1). */
static void drop_alpha_beta(TsGraph *graph, RlyNode *gemm)
{
    RlyAttr *attrs = ts_arena_alloc(graph->arena, (size_t)(gemm->num_attrs + 1) * sizeof *attrs);
    int kept = 0;
    for (int k = 0; attrs && k < gemm->num_attrs; k++)
        if (strcmp(gemm->attrs[k].name, "alpha") != 0 && strcmp(gemm->attrs[k].name, "beta") != 0)
            attrs[kept++] = gemm->attrs[k];
    if (attrs) {
        gemm->attrs = attrs;
        gemm->num_attrs = kept;
    }
}

static TsStatus fold_gemm(TsGraph *graph, const RlyNode *bn, const RlyNode *gemm,
                          const Norm *norm, bool *done, TsError *err)
{
    const RlyConst *w = f32_const(rly_input(gemm, 1)), *c = f32_const(rly_input(gemm, 2));
    const RlyValue *y = rly_output(gemm, 0);
    int64_t trans_b = 0;
    double alpha = 1.0, beta = 1.0;
    if (!w || w->ndim != 2 || (rly_input(gemm, 2) && !c) || y->ndim != 2 ||
        rly_attr_int(graph, gemm, "transB", 0, &trans_b, NULL) != TS_OK ||
        rly_attr_float(graph, gemm, "alpha", 1.0, &alpha, NULL) != TS_OK ||
        rly_attr_float(graph, gemm, "beta", 1.0, &beta, NULL) != TS_OK ||
        w->shape[trans_b ? 0 : 1] != norm->channels ||
        (c && c->num_elements != 1 && c->num_elements != norm->channels))
        return TS_OK; /* a bias per row and column stays unfolded */
    bool transposed = trans_b != 0;
    RlyConst *new_w = fold_weight(graph, norm, w, matrix_channel, &transposed, alpha);
    RlyConst *new_b = fold_bias(graph, norm, c, beta);
    RlyNode *copy = rewire(graph, gemm, rly_output(bn, 0), 3);
    if (!new_w || !new_b || !copy)
        return rly_node_fail(graph, bn, err, TS_ENOMEM, "out of memory folding into \"%s\"",
                             gemm->label);
    copy->inputs[1] = folded_value(graph, bn, "weight", new_w, err);
    copy->inputs[2] = folded_value(graph, bn, "bias", new_b, err);
    if (!copy->inputs[1] || !copy->inputs[2])
        return err ? err->status : TS_ENOMEM;
    drop_alpha_beta(graph, copy);
    rly_replace_node(graph, gemm, copy);
    *done = true;
    return TS_OK;
}

/* A MatMul of a constant [K, N] matrix whose [M, N] output x is read once. */
static const RlyNode *matmul_of(const TsGraph *graph, const RlyValue *x, const Norm *norm)
{
    const RlyNode *mm = x ? x->producer : NULL;
    if (!mm || mm->op != RLY_OP_MATMUL || x->ndim != 2 || rly_count_uses(graph, x) != 1)
        return NULL;
    const RlyConst *w = f32_const(rly_input(mm, 1));
    return w && w->ndim == 2 && w->shape[1] == norm->channels ? mm : NULL;
}

/* MatMul (+ Add of a constant bias of one or N values): the weight scaled in the MatMul;
 * the Add (the existing one, or the BatchNormalization turned into one) adds b'. */
static TsStatus fold_matmul(TsGraph *graph, const RlyNode *bn, const RlyNode *producer,
                            const Norm *norm, bool *done, TsError *err)
{
    const RlyNode *add = producer->op == RLY_OP_ADD ? producer : NULL;
    const RlyNode *mm = matmul_of(graph, add ? rly_input(add, 0) : rly_output(producer, 0), norm);
    const RlyConst *b = add ? f32_const(rly_input(add, 1)) : NULL;
    if (!mm || (add && (!b || (b->num_elements != 1 && b->num_elements != norm->channels) ||
                        b->ndim > 2 || (b->ndim == 2 && b->shape[0] != 1))))
        return TS_OK;
    bool transposed = false;
    RlyConst *new_w = fold_weight(graph, norm, rly_input(mm, 1)->constant, matrix_channel,
                                  &transposed, 1.0);
    RlyConst *new_b = fold_bias(graph, norm, b, 1.0);
    RlyNode *new_mm = rly_node_clone(graph, mm);
    RlyNode *new_add = add ? rewire(graph, add, rly_output(bn, 0), 2) : rly_node_clone(graph, bn);
    if (!new_w || !new_b || !new_mm || !new_add)
        return rly_node_fail(graph, bn, err, TS_ENOMEM, "out of memory folding into \"%s\"",
                             mm->label);
    new_mm->inputs[1] = folded_value(graph, bn, "weight", new_w, err);
    if (!new_mm->inputs[1])
        return err ? err->status : TS_ENOMEM;
    if (!add) { /* the BatchNormalization becomes Add(x, b') */
        new_add->op = RLY_OP_ADD;
        new_add->op_type = rly_op_name(RLY_OP_ADD);
        new_add->num_inputs = 2;
        new_add->num_attrs = 0;
        new_add->num_outputs = 1;
    }
    new_add->inputs[1] = folded_value(graph, bn, "bias", new_b, err);
    if (!new_add->inputs[1])
        return err ? err->status : TS_ENOMEM;
    rly_replace_node(graph, mm, new_mm);
    rly_replace_node(graph, add ? add : bn, new_add);
    *done = !!add; /* without an Add, the node at bn's place is the new Add */
    return TS_OK;
}

static TsStatus fold_one(TsGraph *graph, const RlyNode *bn, bool *done, TsError *err)
{
    const RlyValue *x = rly_input(bn, 0);
    const RlyNode *producer = x ? x->producer : NULL;
    Norm norm;
    *done = false;
    if (!producer || rly_count_uses(graph, x) != 1 || !read_norm(graph, bn, &norm))
        return TS_OK;
    if (producer->op == RLY_OP_CONV || producer->op == RLY_OP_CONV_TRANSPOSE)
        return fold_conv(graph, bn, producer, &norm, done, err);
    if (producer->op == RLY_OP_GEMM)
        return fold_gemm(graph, bn, producer, &norm, done, err);
    if (producer->op == RLY_OP_MATMUL || producer->op == RLY_OP_ADD)
        return fold_matmul(graph, bn, producer, &norm, done, err);
    return TS_OK; /* nothing else has weights to fold into */
}

TsStatus rly_pass_fold_batch_norm(TsGraph *graph, TsError *err)
{
    for (int k = 0; k < graph->num_nodes; k++) {
        if (graph->nodes[k]->op != RLY_OP_BATCH_NORM)
            continue;
        bool done = false;
        TsStatus status = fold_one(graph, graph->nodes[k], &done, err);
        if (status != TS_OK)
            return status;
        if (done)
            rly_remove_node_at(graph, k);
    }
    return TS_OK;
}
