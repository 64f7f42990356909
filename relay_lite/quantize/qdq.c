/* The QDQ rewrite of a ModelProto (the form ONNX Runtime's quantizer writes and loads):
 *   - each quantized activation tensor t gets QuantizeLinear(t) -> DequantizeLinear right
 *     after the node that makes it (or first, for a graph input), and every node reading
 *     t reads the dequantized value instead (a graph output stays t, float);
 *   - each int8 layer's weight becomes an int8 initializer (symmetric, per output channel
 *     or per tensor) behind a DequantizeLinear, its 1-D bias an int32 initializer with
 *     scale = activation scale * weight scale.
 * New names are the old ones with a suffix, made unique against every name of the graph.
 * Messages are built with malloc, as protobuf-c's unpacker builds them, so that the
 * caller frees the whole model with onnx__model_proto__free_unpacked. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relay_lite/quantize/quant_internal.h"

typedef struct Writer {
    Onnx__GraphProto *g;
    Onnx__NodeProto **nodes; /* the new node list */
    size_t num_nodes, cap_nodes;
    TsError *err;
    bool oom;
} Writer;

static char *str_printf(Writer *w, const char *fmt, ...) TS_PRINTF_LIKE(2, 3);
static char *str_printf(Writer *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (!s) {
        w->oom = true;
        return NULL;
    }
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

static bool name_taken(const Writer *w, const char *name)
{
    const Onnx__GraphProto *g = w->g;
    for (size_t i = 0; i < w->num_nodes; i++)
        if (strcmp(w->nodes[i]->output[0], name) == 0 || strcmp(w->nodes[i]->name, name) == 0)
            return true;
    if (quant_initializer(g, name) || quant_is_graph_input(g, name))
        return true;
    for (size_t i = 0; i < g->n_node; i++)
        for (size_t k = 0; k < g->node[i]->n_output; k++)
            if (strcmp(g->node[i]->output[k], name) == 0)
                return true;
    return false;
}

/* base + suffix, with "_1", "_2", ... until no name of the graph is the same. */
static char *unique_name(Writer *w, const char *base, const char *suffix)
{
    char *name = str_printf(w, "%s%s", base, suffix);
    for (int k = 1; name && name_taken(w, name); k++) {
        free(name);
        name = str_printf(w, "%s%s_%d", base, suffix, k);
    }
    return name;
}

static Onnx__TensorProto *add_initializer(Writer *w, char *name, int32_t data_type, int ndim,
                                          const int64_t *dims, const void *data, size_t nbytes)
{
    Onnx__TensorProto *t = malloc(sizeof *t);
    Onnx__TensorProto **grown =
        realloc(w->g->initializer, (w->g->n_initializer + 1) * sizeof *grown);
    int64_t *d = malloc((size_t)(ndim ? ndim : 1) * sizeof *d);
    uint8_t *bytes = malloc(nbytes ? nbytes : 1);
    if (grown)
        w->g->initializer = grown;
    if (!name || !t || !grown || !d || !bytes) {
        free(name);
        free(t);
        free(d);
        free(bytes);
        w->oom = true;
        return NULL;
    }
    onnx__tensor_proto__init(t);
    t->name = name;
    t->data_type = data_type;
    t->n_dims = (size_t)ndim;
    if (ndim > 0)
        memcpy(d, dims, (size_t)ndim * sizeof *d);
    t->dims = d;
    memcpy(bytes, data, nbytes);
    t->raw_data.data = bytes;
    t->raw_data.len = nbytes;
    w->g->initializer[w->g->n_initializer++] = t;
    return t;
}

/* A node op(inputs) -> output, with an axis attribute when axis >= 0. Takes the strings. */
static void append_node(Writer *w, const char *op, char *name, int num_inputs, char **inputs,
                        char *output, int axis)
{
    Onnx__NodeProto *n = malloc(sizeof *n);
    char **in = malloc((size_t)num_inputs * sizeof *in), **out = malloc(sizeof *out);
    char *op_type = str_printf(w, "%s", op);
    Onnx__AttributeProto *attr = axis >= 0 ? malloc(sizeof *attr) : NULL;
    Onnx__AttributeProto **attrs = axis >= 0 ? malloc(sizeof *attrs) : NULL;
    char *attr_name = axis >= 0 ? str_printf(w, "axis") : NULL;
    bool ok =
        n && in && out && op_type && name && output && (axis < 0 || (attr && attrs && attr_name));
    for (int i = 0; i < num_inputs; i++)
        ok = ok && inputs[i];
    if (ok && w->num_nodes == w->cap_nodes) {
        size_t cap = w->cap_nodes ? 2 * w->cap_nodes : 64;
        Onnx__NodeProto **grown = realloc(w->nodes, cap * sizeof *grown);
        ok = grown != NULL;
        if (grown) {
            w->nodes = grown;
            w->cap_nodes = cap;
        }
    }
    if (!ok) {
        for (int i = 0; i < num_inputs; i++)
            free(inputs[i]);
        free(n), free(in), free(out), free(op_type), free(attr), free(attrs), free(attr_name);
        free(name), free(output);
        w->oom = true;
        return;
    }
    onnx__node_proto__init(n);
    memcpy(in, inputs, (size_t)num_inputs * sizeof *in);
    out[0] = output;
    n->name = name;
    n->op_type = op_type;
    n->n_input = (size_t)num_inputs;
    n->input = in;
    n->n_output = 1;
    n->output = out;
    if (attr) {
        onnx__attribute_proto__init(attr);
        attr->name = attr_name;
        attr->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
        attr->i = axis;
        attrs[0] = attr;
        n->n_attribute = 1;
        n->attribute = attrs;
    }
    w->nodes[w->num_nodes++] = n;
}

/* Every input of the original nodes that reads from is made to read to. */
static bool rename_inputs(Writer *w, size_t num_original, Onnx__NodeProto **original,
                          const char *from, const char *to)
{
    for (size_t i = 0; i < num_original; i++)
        for (size_t k = 0; k < original[i]->n_input; k++)
            if (strcmp(original[i]->input[k], from) == 0) {
                char *s = str_printf(w, "%s", to);
                if (!s)
                    return false;
                free(original[i]->input[k]);
                original[i]->input[k] = s;
            }
    return true;
}

/* QuantizeLinear -> DequantizeLinear of activation tensor t; returns the dequantized
 * value's name (owned by the new node). */
static const char *append_activation_pair(Writer *w, const TsQuantTensor *t)
{
    uint8_t zp = (uint8_t)t->zero_point;
    float scale = (float)t->scale;
    char *scale_name = unique_name(w, t->name, "_scale");
    Onnx__TensorProto *s = add_initializer(w, scale_name, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 0,
                                           NULL, &scale, sizeof scale);
    char *zp_name = unique_name(w, t->name, "_zero_point");
    Onnx__TensorProto *z =
        add_initializer(w, zp_name, ONNX__TENSOR_PROTO__DATA_TYPE__UINT8, 0, NULL, &zp, sizeof zp);
    if (!s || !z)
        return NULL;
    char *q = unique_name(w, t->name, "_quantized");
    append_node(w, "QuantizeLinear", unique_name(w, t->name, "_QuantizeLinear"), 3,
                (char *[]){ str_printf(w, "%s", t->name), str_printf(w, "%s", s->name),
                            str_printf(w, "%s", z->name) },
                q, -1);
    char *dq = unique_name(w, t->name, "_dequantized");
    append_node(w, "DequantizeLinear", unique_name(w, t->name, "_DequantizeLinear"), 3,
                (char *[]){ str_printf(w, "%s", q ? q : ""), str_printf(w, "%s", s->name),
                            str_printf(w, "%s", z->name) },
                dq, -1);
    return w->oom ? NULL : dq;
}

/* A float initializer's values (malloc'ed) and shape. */
static TsStatus float_values(Writer *w, const Onnx__TensorProto *tp, OnnxTensor *out)
{
    TsStatus st = rly_tensor_from_proto(tp, "quantize", out, w->err);
    if (st == TS_OK && out->onnx_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT) {
        onnx_tensor_free(out);
        return ts_fail(w->err, TS_EINVAL, "quantize: initializer \"%s\" is not float32", tp->name);
    }
    return st;
}

/* Symmetric int8 weights along axis (per_channel) or for the whole tensor; scales[c]. */
static TsStatus quantize_weight(Writer *w, const QuantLayer *layer, bool per_channel, int8_t **q,
                                float **scales, int *num_scales, OnnxTensor *wt)
{
    const Onnx__TensorProto *tp = quant_initializer(w->g, layer->weight);
    TsStatus st = tp ? float_values(w, tp, wt)
                     : ts_fail(w->err, TS_EINVAL, "quantize: no initializer \"%s\"", layer->weight);
    if (st != TS_OK)
        return st;
    int64_t channels = per_channel ? wt->shape[layer->weight_axis] : 1, inner = 1;
    for (int d = layer->weight_axis + 1; per_channel && d < wt->ndim; d++)
        inner *= wt->shape[d];
    *q = malloc((size_t)wt->num_elements);
    *scales = calloc((size_t)channels, sizeof **scales);
    if (!*q || !*scales)
        return ts_fail(w->err, TS_ENOMEM, "quantize: no memory for weight \"%s\"", layer->weight);
    const float *x = wt->data;
    for (int64_t i = 0; i < wt->num_elements; i++) {
        int64_t c = per_channel ? (i / inner) % channels : 0;
        (*scales)[c] = fmaxf((*scales)[c], fabsf(x[i]));
    }
    for (int64_t c = 0; c < channels; c++)
        (*scales)[c] = (*scales)[c] > 0 ? (*scales)[c] / 127.0f : 1.0f;
    for (int64_t i = 0; i < wt->num_elements; i++) {
        int64_t c = per_channel ? (i / inner) % channels : 0;
        float v = nearbyintf(x[i] / (*scales)[c]);
        (*q)[i] = (int8_t)(v < -127 ? -127 : v > 127 ? 127 : v);
    }
    *num_scales = (int)channels;
    return TS_OK;
}

/* Whether a node, or the graph's outputs or inputs, still name it. */
static bool still_named(const Onnx__GraphProto *g, const char *name)
{
    for (size_t i = 0; i < g->n_node; i++)
        for (size_t k = 0; k < g->node[i]->n_input; k++)
            if (strcmp(g->node[i]->input[k], name) == 0)
                return true;
    return quant_is_graph_output(g, name) || quant_is_graph_input(g, name);
}

/* The weight (and bias) of one layer: integer initializers behind DequantizeLinear nodes
 * appended now (before the layer's node), the layer's inputs renamed. */
static TsStatus quantize_layer(Writer *w, Onnx__NodeProto **original, const QuantLayer *layer,
                               const TsQuantizeResult *result, bool per_channel)
{
    OnnxTensor wt = { 0 };
    int8_t *q = NULL;
    float *scales = NULL;
    int num_scales = 0;
    TsStatus st = quantize_weight(w, layer, per_channel, &q, &scales, &num_scales, &wt);
    Onnx__NodeProto *node = original[layer->node];
    if (st == TS_OK) {
        int64_t cdims[1] = { num_scales };
        int sdim = per_channel ? 1 : 0;
        int8_t *zeros = calloc((size_t)num_scales, 1);
        Onnx__TensorProto *wq = add_initializer(w, unique_name(w, layer->weight, "_quantized"),
                                                ONNX__TENSOR_PROTO__DATA_TYPE__INT8, wt.ndim,
                                                wt.shape, q, (size_t)wt.num_elements);
        Onnx__TensorProto *ws = add_initializer(w, unique_name(w, layer->weight, "_scale"),
                                                ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, sdim, cdims,
                                                scales, (size_t)num_scales * sizeof(float));
        Onnx__TensorProto *wz =
            zeros ? add_initializer(w, unique_name(w, layer->weight, "_zero_point"),
                                    ONNX__TENSOR_PROTO__DATA_TYPE__INT8, sdim, cdims, zeros,
                                    (size_t)num_scales)
                  : NULL;
        free(zeros);
        if (wq && ws && wz) {
            char *dq = unique_name(w, layer->weight, "_dequantized");
            append_node(w, "DequantizeLinear", unique_name(w, layer->weight, "_DequantizeLinear"),
                        3,
                        (char *[]){ str_printf(w, "%s", wq->name), str_printf(w, "%s", ws->name),
                                    str_printf(w, "%s", wz->name) },
                        dq, per_channel ? layer->weight_axis : -1);
            if (!w->oom) {
                free(node->input[1]);
                node->input[1] = str_printf(w, "%s", dq);
            }
        }
    }
    const TsQuantTensor *x = &result->tensors[layer->input_tensor];
    const Onnx__TensorProto *bp =
        layer->bias && st == TS_OK && !w->oom ? quant_initializer(w->g, layer->bias) : NULL;
    OnnxTensor bt = { 0 };
    if (bp && (st = float_values(w, bp, &bt)) == TS_OK && bt.ndim == 1 &&
        (bt.shape[0] == num_scales || num_scales == 1)) {
        int64_t n = bt.shape[0];
        int32_t *bq = malloc((size_t)n * sizeof *bq);
        float *bs = malloc((size_t)n * sizeof *bs);
        if (bq && bs) {
            for (int64_t c = 0; c < n; c++) {
                bs[c] = (float)x->scale * scales[num_scales == 1 ? 0 : c];
                double v = nearbyint(((const float *)bt.data)[c] / (double)bs[c]);
                bq[c] = (int32_t)fmax(fmin(v, 2147483647.0), -2147483648.0);
            }
            int sdim = per_channel ? 1 : 0;
            int64_t bdims[1] = { n };
            /* Per tensor, one scale serves every element of the bias. */
            Onnx__TensorProto *q1 = add_initializer(w, unique_name(w, layer->bias, "_quantized"),
                                                    ONNX__TENSOR_PROTO__DATA_TYPE__INT32, 1, bdims,
                                                    bq, (size_t)n * sizeof *bq);
            Onnx__TensorProto *s1 = add_initializer(w, unique_name(w, layer->bias, "_scale"),
                                                    ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, sdim,
                                                    bdims, bs, (sdim ? (size_t)n : 1) * sizeof *bs);
            if (q1 && s1) { /* int32 takes no zero point: it is 0 */
                char *dq = unique_name(w, layer->bias, "_dequantized");
                append_node(
                    w, "DequantizeLinear", unique_name(w, layer->bias, "_DequantizeLinear"), 2,
                    (char *[]){ str_printf(w, "%s", q1->name), str_printf(w, "%s", s1->name) }, dq,
                    per_channel ? 0 : -1);
                if (!w->oom) {
                    free(node->input[2]);
                    node->input[2] = str_printf(w, "%s", dq);
                }
            }
        } else {
            w->oom = true;
        }
        free(bq), free(bs);
    }
    onnx_tensor_free(&bt);
    onnx_tensor_free(&wt);
    free(q);
    free(scales);
    if (st == TS_OK && w->oom)
        st = ts_fail(w->err, TS_ENOMEM, "quantize: no memory for layer \"%s\"", node->name);
    return st;
}

/* Drops the float initializers that no node reads any more. */
static void drop_unused_initializers(Onnx__GraphProto *g)
{
    size_t kept = 0;
    for (size_t i = 0; i < g->n_initializer; i++) {
        Onnx__TensorProto *t = g->initializer[i];
        if (still_named(g, t->name))
            g->initializer[kept++] = t;
        else
            onnx__tensor_proto__free_unpacked(t, NULL);
    }
    g->n_initializer = kept;
}

static bool produces(const Onnx__NodeProto *n, const char *name)
{
    for (size_t k = 0; k < n->n_output; k++)
        if (strcmp(n->output[k], name) == 0)
            return true;
    return false;
}

static void pairs_after(Writer *w, size_t num_original, Onnx__NodeProto **original,
                        const TsQuantizeResult *result, const Onnx__NodeProto *producer)
{
    for (int t = 0; t < result->num_tensors && !w->oom; t++) {
        const TsQuantTensor *qt = &result->tensors[t];
        bool here = false; /* after its producer, or first for a graph input */
        if (producer)
            here = produces(producer, qt->name);
        if (!producer)
            here = quant_is_graph_input(w->g, qt->name);
        if (!here)
            continue;
        const char *dq = append_activation_pair(w, qt);
        if (dq && !rename_inputs(w, num_original, original, qt->name, dq))
            w->oom = true;
    }
}

TsStatus quant_write_qdq(Onnx__ModelProto *mp, const QuantLayer *layers, int num_layers,
                         const TsQuantizeResult *result, bool per_channel, TsError *err)
{
    Onnx__GraphProto *g = mp->graph;
    Writer w = { .g = g, .err = err };
    size_t num_original = g->n_node;
    Onnx__NodeProto **original = g->node;
    TsStatus st = TS_OK;
    pairs_after(&w, num_original, original, result, NULL);
    for (size_t i = 0; st == TS_OK && !w.oom && i < num_original; i++) {
        for (int l = 0; st == TS_OK && l < num_layers; l++)
            if (layers[l].node == (int)i)
                st = quantize_layer(&w, original, &layers[l], result, per_channel);
        if (st != TS_OK || w.oom)
            break;
        if (w.num_nodes == w.cap_nodes) {
            size_t cap = w.cap_nodes ? 2 * w.cap_nodes : 64;
            Onnx__NodeProto **grown = realloc(w.nodes, cap * sizeof *grown);
            if (!grown) {
                w.oom = true;
                break;
            }
            w.nodes = grown;
            w.cap_nodes = cap;
        }
        w.nodes[w.num_nodes++] = original[i];
        pairs_after(&w, num_original, original, result, original[i]);
    }
    if (st == TS_OK && w.oom)
        st = ts_fail(err, TS_ENOMEM, "quantize: no memory for the QDQ model");
    if (st != TS_OK) {
        /* The original nodes stay the graph's; the new ones go. */
        for (size_t i = 0; i < w.num_nodes; i++) {
            bool old = false;
            for (size_t k = 0; k < num_original; k++)
                old |= w.nodes[i] == original[k];
            if (!old)
                onnx__node_proto__free_unpacked(w.nodes[i], NULL);
        }
        free(w.nodes);
        return st;
    }
    g->node = w.nodes;
    g->n_node = w.num_nodes;
    free(original);
    drop_unused_initializers(g);
    return TS_OK;
}
