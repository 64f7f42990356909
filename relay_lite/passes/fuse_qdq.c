/* Pass fuse_qdq: the QDQ form of a pre-quantized model (float operators between
 * DequantizeLinear and QuantizeLinear) becomes integer operators with requantization, as
 * ONNX Runtime's QDQ transformer turns it into QLinearConv, QLinearMatMul and QLinearAdd:
 *
 *   DQ(x) -> Conv(DQ(w), [DQ(b)]) -> [Relu | Clip] -> Q    =>  tessera.QConv
 *   DQ(x) -> Gemm(DQ(w), [DQ(b)]) / MatMul(DQ(w)) -> [Relu | Clip] -> Q  =>  tessera.QDense
 *   DQ(a), DQ(b) -> Add -> [Relu | Clip] -> Q                =>  tessera.QAdd
 *
 * Conditions (anything else is left as it is, and its DQ and Q run as operators):
 * - every scale and zero point is a constant; x's, the output's and Add's operands' are
 *   per tensor; the weight's per tensor or per output channel (DequantizeLinear's axis on
 *   the weight's output-channel dimension); the weight is a constant;
 * - a bias is DQ of an int32 constant whose scale is x_scale * w_scale (to 1e-6
 *   relative) and zero point 0: it is added in int32, as QLinearConv adds it;
 * - each intermediate float value has the next node of the pattern as its only reader;
 * - Gemm has alpha = beta = 1 and transA = 0, MatMul and Gemm a 2-D input; a [K, N] weight
 *   (MatMul, Gemm with transB = 0) is transposed here into a [N, K] int8 constant.
 * A Relu or Clip between the operator and Q is folded into the requantization's clamp
 * (attributes qmin, qmax): rounding is monotonic, so clamping the float value to
 * [lo, hi] before quantizing equals clamping the quantized value to [Q(lo), Q(hi)], and
 * Relu is the clamp from Q(0) = the zero point. The pass runs before constant folding,
 * which would otherwise fold the weights' DequantizeLinear into float constants. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "relay_lite/passes/passes.h"

/* A DequantizeLinear read: its quantized input, scale, zero point (NULL: none) and axis. */
typedef struct Dq {
    RlyNode *node;
    RlyValue *q, *scale, *zp;
    int axis;
} Dq;

static bool is_int8(const RlyValue *v)
{
    return v && v->has_dtype && (ts_dtype_eq(v->dtype, TS_INT8) || ts_dtype_eq(v->dtype, TS_UINT8));
}

static bool is_f32_const(const RlyValue *v)
{
    return v && v->constant && ts_dtype_eq(v->constant->dtype, TS_FLOAT32);
}

static bool one_element(const RlyValue *v)
{
    return v && rly_value_known(v) && rly_value_elements(v) == 1;
}

/* v is the output of a DequantizeLinear whose parameters are constants. */
static bool read_dq(const TsGraph *g, const RlyValue *v, Dq *out)
{
    if (!v || !v->producer || v->producer->op != RLY_OP_DEQUANTIZE_LINEAR)
        return false;
    RlyNode *n = v->producer;
    int64_t axis = 1;
    TsError err;
    out->node = n;
    out->q = rly_input(n, 0);
    out->scale = rly_input(n, 1);
    out->zp = rly_input(n, 2);
    if (g->opset >= 13 && rly_attr_int(g, n, "axis", 1, &axis, &err) != TS_OK)
        return false;
    int rank = out->q ? out->q->ndim : 0;
    out->axis = (int)(axis < 0 ? axis + rank : axis);
    return out->q && is_f32_const(out->scale) && (!out->zp || out->zp->constant);
}

/* The node reading v, when it is v's only reader (and v no graph output). */
static bool single_reader(const TsGraph *g, const RlyValue *v, const RlyNode *reader)
{
    return !rly_is_graph_output(g, v) && rly_count_uses(g, v) == 1 && reader;
}

static double f32_at(const RlyValue *v, int64_t i)
{
    const float *data = v->constant->data;
    return data[v->constant->num_elements == 1 ? 0 : i];
}

static int64_t int_at(const RlyValue *v)
{
    if (!v)
        return 0;
    return ts_dtype_eq(v->constant->dtype, TS_INT8) ? ((const int8_t *)v->constant->data)[0]
                                                    : ((const uint8_t *)v->constant->data)[0];
}

/* What the pattern matched. */
typedef struct Match {
    RlyNode *op, *act, *quant; /* the float operator, the folded activation, Q */
    Dq x, w, b;                /* Conv/Gemm/MatMul: input, weight, bias (b.node NULL: none) */
    bool transpose;            /* a [K, N] weight to transpose */
    int64_t qmin, qmax;
} Match;

/* Q's value of a float v: saturate(round_half_even(v / scale) + zp), in float32. */
static int64_t quantize(double v, float scale, int64_t zp, int64_t lo, int64_t hi)
{
    float q = nearbyintf((float)v / scale);
    double r = (double)q + (double)zp;
    return r < (double)lo ? lo : r > (double)hi ? hi : (int64_t)r;
}

/* The clamp of a Relu or Clip (constant bounds) before Q; false when it cannot fold. */
static bool read_activation(const TsGraph *g, const RlyNode *act, const RlyNode *quant, Match *m)
{
    const RlyValue *qzp = rly_input(quant, 2), *qs = rly_input(quant, 1);
    bool int8 = qzp && ts_dtype_eq(qzp->dtype, TS_INT8);
    int64_t zp = int_at(qzp);
    float scale = (float)f32_at(qs, 0);
    m->qmin = int8 ? -128 : 0;
    m->qmax = int8 ? 127 : 255;
    if (!act)
        return true;
    if (act->op == RLY_OP_RELU) {
        m->qmin = zp > m->qmin ? zp : m->qmin;
        return true;
    }
    double lo = -INFINITY, hi = INFINITY;
    if (g->opset < 11) {
        TsError err;
        if (rly_attr_float(g, act, "min", -INFINITY, &lo, &err) != TS_OK ||
            rly_attr_float(g, act, "max", INFINITY, &hi, &err) != TS_OK)
            return false;
    } else {
        int count = 0;
        if ((rly_input(act, 1) && !rly_const_floats(rly_input(act, 1), &lo, 1, &count)) ||
            (rly_input(act, 2) && !rly_const_floats(rly_input(act, 2), &hi, 1, &count)))
            return false;
    }
    if (lo > -INFINITY)
        m->qmin = quantize(lo, scale, zp, m->qmin, m->qmax);
    if (hi < INFINITY)
        m->qmax = quantize(hi, scale, zp, m->qmin, m->qmax);
    return m->qmin <= m->qmax;
}

/* Q's parameters: constant, per tensor. */
static bool read_quant(const RlyNode *quant)
{
    const RlyValue *s = rly_input(quant, 1), *zp = rly_input(quant, 2);
    return is_f32_const(s) && one_element(s) && (!zp || (zp->constant && one_element(zp))) &&
           is_int8(rly_output(quant, 0));
}

/* The weight: a constant, per tensor or per channel along out_dim. */
static bool weight_ok(const Dq *w, int out_dim)
{
    if (!w->q->constant || !is_int8(w->q) || w->q->ndim < 2)
        return false;
    if (one_element(w->scale))
        return true;
    return w->axis == out_dim && w->scale->ndim == 1 && w->scale->dims[0] == w->q->dims[out_dim];
}

/* The bias: DQ of int32 with scale x_scale * w_scale[c] and no zero point (or 0). */
static bool bias_ok(const TsGraph *g, const RlyValue *bias, const Match *m, int64_t channels, Dq *b)
{
    memset(b, 0, sizeof *b);
    if (!bias)
        return true;
    if (!read_dq(g, bias, b) || !b->q->constant || !ts_dtype_eq(b->q->dtype, TS_INT32) ||
        b->q->ndim != 1 || b->q->dims[0] != channels || !single_reader(g, bias, m->op))
        return false;
    if (b->zp && int_at(b->zp) != 0)
        return false;
    int64_t n = b->scale->constant->num_elements;
    if (n != 1 && n != channels)
        return false;
    for (int64_t c = 0; c < channels; c++) {
        double want = (float)(f32_at(m->x.scale, 0) * f32_at(m->w.scale, c));
        if (fabs(f32_at(b->scale, c) - want) > 1e-6 * fabs(want))
            return false;
    }
    return true;
}

static bool match_conv_dense(const TsGraph *g, Match *m)
{
    const RlyNode *op = m->op;
    bool conv = op->op == RLY_OP_CONV;
    int64_t trans_a = 0, trans_b = 0;
    double alpha = 1, beta = 1;
    TsError err;
    if (op->op == RLY_OP_GEMM && (rly_attr_int(g, op, "transA", 0, &trans_a, &err) != TS_OK ||
                                  rly_attr_int(g, op, "transB", 0, &trans_b, &err) != TS_OK ||
                                  rly_attr_float(g, op, "alpha", 1, &alpha, &err) != TS_OK ||
                                  rly_attr_float(g, op, "beta", 1, &beta, &err) != TS_OK ||
                                  trans_a || alpha != 1 || beta != 1))
        return false;
    if (!read_dq(g, rly_input(op, 0), &m->x) || !read_dq(g, rly_input(op, 1), &m->w) ||
        !is_int8(m->x.q) || !one_element(m->x.scale) || (m->x.zp && !one_element(m->x.zp)) ||
        !single_reader(g, rly_input(op, 1), op))
        return false;
    m->transpose = !conv && !trans_b;
    int out_dim = m->transpose ? 1 : 0;
    if (!weight_ok(&m->w, out_dim) || (!conv && (m->x.q->ndim != 2 || m->w.q->ndim != 2)))
        return false;
    const RlyValue *bias = op->op == RLY_OP_MATMUL ? NULL : rly_input(op, 2);
    if (bias && !conv && bias->ndim != 1)
        return false;
    return bias_ok(g, bias, m, m->w.q->dims[out_dim], &m->b);
}

static bool match_add(const TsGraph *g, Match *m)
{
    const RlyNode *op = m->op;
    return read_dq(g, rly_input(op, 0), &m->x) && read_dq(g, rly_input(op, 1), &m->w) &&
           is_int8(m->x.q) && ts_dtype_eq(m->x.q->dtype, m->w.q->dtype) &&
           ts_dtype_eq(m->x.q->dtype, rly_output(m->quant, 0)->dtype) && one_element(m->x.scale) &&
           one_element(m->w.scale) && (!m->x.zp || one_element(m->x.zp)) &&
           (!m->w.zp || one_element(m->w.zp));
}

/* Q's producer chain: [activation] <- operator, each the only reader of its input. */
static bool match(const TsGraph *g, RlyNode *quant, Match *m)
{
    memset(m, 0, sizeof *m);
    m->quant = quant;
    const RlyValue *v = rly_input(quant, 0);
    if (!read_quant(quant) || !v || !v->producer || !single_reader(g, v, quant))
        return false;
    RlyNode *p = v->producer;
    if (p->op == RLY_OP_RELU || p->op == RLY_OP_CLIP) {
        m->act = p;
        v = rly_input(p, 0);
        if (!v || !v->producer || !single_reader(g, v, p))
            return false;
        p = v->producer;
    }
    m->op = p;
    if (!ts_dtype_eq(v->dtype, TS_FLOAT32) || !read_activation(g, m->act, quant, m))
        return false;
    if (p->op == RLY_OP_CONV || p->op == RLY_OP_GEMM || p->op == RLY_OP_MATMUL)
        return match_conv_dense(g, m);
    return p->op == RLY_OP_ADD && match_add(g, m);
}

/* A zero point's value, or a new constant 0 of dtype when the DQ or Q has none. */
static RlyValue *zero_point_of(TsGraph *g, RlyValue *zp, TsDType dtype, TsError *err)
{
    if (zp)
        return zp;
    RlyConst *c = rly_const_new(g, dtype, 0, NULL);
    if (!c) {
        ts_fail(err, TS_ENOMEM, "%s: out of memory", g->source);
        return NULL;
    }
    return rly_const_value(g, "zero_point", c, err);
}

/* The [K, N] int8 weight as a new [N, K] constant. */
static RlyValue *transposed(TsGraph *g, const RlyValue *w, TsError *err)
{
    int64_t k = w->dims[0], n = w->dims[1];
    RlyConst *c = rly_const_new(g, w->dtype, 2, (const int64_t[]){ n, k });
    if (!c) {
        ts_fail(err, TS_ENOMEM, "%s: out of memory", g->source);
        return NULL;
    }
    const uint8_t *from = w->constant->data;
    uint8_t *to = (uint8_t *)c->data;
    for (int64_t i = 0; i < k; i++)
        for (int64_t j = 0; j < n; j++)
            to[j * k + i] = from[i * n + j];
    char name[TS_GRAPH_NAME_MAX];
    snprintf(name, sizeof name, "%s_t", w->name);
    return rly_const_value(g, name, c, err);
}

/* The op's attributes, with qmin and qmax appended (Gemm's and MatMul's dropped). */
static RlyAttr *fused_attrs(TsGraph *g, const Match *m, int *count)
{
    bool keep = m->op->op == RLY_OP_CONV;
    int n = keep ? m->op->num_attrs : 0;
    RlyAttr *attrs = ts_arena_alloc(g->arena, (size_t)(n + 2) * sizeof *attrs);
    if (!attrs)
        return NULL;
    if (n)
        memcpy(attrs, m->op->attrs, (size_t)n * sizeof *attrs);
    attrs[n] = (RlyAttr){ .name = "qmin", .kind = RLY_ATTR_INT, .i = m->qmin };
    attrs[n + 1] = (RlyAttr){ .name = "qmax", .kind = RLY_ATTR_INT, .i = m->qmax };
    *count = n + 2;
    return attrs;
}

static TsStatus rewrite(TsGraph *g, const Match *m, TsError *err)
{
    RlyNode *fused = rly_node_clone(g, m->op);
    RlyValue **in = ts_arena_alloc(g->arena, 9 * sizeof *in);
    RlyValue *out = rly_output(m->quant, 0);
    if (!fused || !in)
        return rly_node_fail(g, m->op, err, TS_ENOMEM, "out of memory");
    RlyOpKind op = m->op->op == RLY_OP_CONV  ? RLY_OP_QCONV_REQUANT
                   : m->op->op == RLY_OP_ADD ? RLY_OP_QADD_REQUANT
                                             : RLY_OP_QDENSE_REQUANT;
    RlyValue *qzp = rly_input(m->quant, 2);
    in[0] = m->x.q;
    in[1] = m->x.scale;
    in[2] = zero_point_of(g, m->x.zp, m->x.q->dtype, err);
    in[3] = m->transpose ? transposed(g, m->w.q, err) : m->w.q;
    in[4] = m->w.scale;
    in[5] = zero_point_of(g, m->w.zp, m->w.q->dtype, err);
    in[6] = rly_input(m->quant, 1);
    in[7] = zero_point_of(g, qzp, out->dtype, err);
    in[8] = m->b.node ? m->b.q : NULL;
    for (int k = 0; k < 8; k++)
        if (!in[k])
            return err->status;
    fused->op = op;
    fused->op_type = rly_op_name(op);
    fused->inputs = in;
    fused->num_inputs = m->b.node ? 9 : 8;
    fused->outputs[0] = out;
    fused->num_outputs = 1;
    fused->attrs = fused_attrs(g, m, &fused->num_attrs);
    if (!fused->attrs)
        return rly_node_fail(g, m->op, err, TS_ENOMEM, "out of memory");
    for (int k = 0; k < g->num_nodes; k++)
        if (g->nodes[k] == m->op || (m->act && g->nodes[k] == m->act))
            rly_remove_node_at(g, k);
    rly_replace_node(g, m->quant, fused);
    return TS_OK;
}

TsStatus rly_pass_fuse_qdq(TsGraph *graph, TsError *err)
{
    int fused = 0;
    for (int k = 0; k < graph->num_nodes; k++) {
        RlyNode *node = graph->nodes[k];
        Match m;
        if (!node || node->op != RLY_OP_QUANTIZE_LINEAR || !match(graph, node, &m))
            continue;
        TsStatus status = rewrite(graph, &m, err);
        if (status != TS_OK)
            return status;
        fused++;
    }
    if (fused)
        return rly_graph_note(graph, err, "%d QDQ pattern%s fused into integer operators", fused,
                              fused == 1 ? "" : "s");
    return TS_OK;
}
