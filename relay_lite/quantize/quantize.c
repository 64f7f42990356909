/* ts_quantize_onnx: reads the model, lists the layers that can be quantized (Conv, Gemm
 * and MatMul with an initializer weight), settles each one's precision (default, JSON
 * file, command line), lists the activation tensors of the int8 layers, takes the user's
 * parameters for some of them and calibrates the others, and writes the QDQ model
 * (qdq.c). See tessera/quantize.h for the scheme. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relay_lite/quantize/quant_internal.h"

TsQuantizeOptions ts_quantize_options_default(void)
{
    return (TsQuantizeOptions){ .method = TS_CALIB_MINMAX,
                                .percentile = 99.99,
                                .default_precision = "int8" };
}

bool ts_calib_method_parse(const char *name, TsCalibMethod *out)
{
    static const char *const names[] = { "minmax", "percentile", "entropy" };
    for (int i = 0; i < 3; i++)
        if (strcmp(name, names[i]) == 0) {
            *out = (TsCalibMethod)i;
            return true;
        }
    return false;
}

const char *ts_calib_method_name(TsCalibMethod method)
{
    switch (method) {
    case TS_CALIB_MINMAX: return "minmax";
    case TS_CALIB_PERCENTILE: return "percentile";
    case TS_CALIB_ENTROPY: return "entropy";
    }
    return "?";
}

typedef struct Quantizer {
    const char *path;
    const TsQuantizeOptions *options;
    Onnx__ModelProto *mp;
    int64_t opset;
    int num_layers;
    QuantLayer *layers; /* as result->layers */
    TsQuantizeResult *result;
    QuantSamples samples; /* read once, when calibration or the report needs them */
    bool have_samples;
    /* The options of the calibration and report runs: the user's, with the input's batch
     * dimension 1 where the model allows it (statistics do not depend on the batch, and
     * samples then need not come in multiples of the build's batch). */
    TsQuantizeOptions runs;
    TsInputShape *run_shapes;
    TsError *err;
} Quantizer;

static const Onnx__AttributeProto *attr(const Onnx__NodeProto *n, const char *name)
{
    for (size_t i = 0; i < n->n_attribute; i++)
        if (strcmp(n->attribute[i]->name, name) == 0)
            return n->attribute[i];
    return NULL;
}

const Onnx__TensorProto *quant_initializer(const Onnx__GraphProto *g, const char *name)
{
    for (size_t i = 0; i < g->n_initializer; i++)
        if (strcmp(g->initializer[i]->name, name) == 0)
            return g->initializer[i];
    return NULL;
}

bool quant_is_graph_output(const Onnx__GraphProto *g, const char *name)
{
    for (size_t i = 0; i < g->n_output; i++)
        if (strcmp(g->output[i]->name, name) == 0)
            return true;
    return false;
}

bool quant_is_graph_input(const Onnx__GraphProto *g, const char *name)
{
    for (size_t i = 0; i < g->n_input; i++)
        if (strcmp(g->input[i]->name, name) == 0)
            return true;
    return false;
}

/* The weight's output-channel axis when node is a layer Tessera quantizes, else -1. */
static int weight_axis(const Onnx__GraphProto *g, const Onnx__NodeProto *n)
{
    if (n->domain && n->domain[0] && strcmp(n->domain, "ai.onnx") != 0)
        return -1;
    if (n->n_input < 2 || !n->input[0][0])
        return -1;
    const Onnx__TensorProto *w = quant_initializer(g, n->input[1]);
    if (!w || w->data_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT ||
        quant_initializer(g, n->input[0]))
        return -1;
    if (strcmp(n->op_type, "Conv") == 0)
        return w->n_dims >= 3 ? 0 : -1;
    if (strcmp(n->op_type, "MatMul") == 0)
        return w->n_dims == 2 ? 1 : -1;
    if (strcmp(n->op_type, "Gemm") == 0) {
        const Onnx__AttributeProto *a = attr(n, "alpha"), *b = attr(n, "beta");
        const Onnx__AttributeProto *ta = attr(n, "transA"), *tb = attr(n, "transB");
        if ((a && a->f != 1.0f) || (b && b->f != 1.0f) || (ta && ta->i != 0) || w->n_dims != 2)
            return -1;
        return tb && tb->i ? 0 : 1;
    }
    return -1;
}

/* The node's output, or that of the Relu or Clip that is its only reader. */
static const char *output_point(const Onnx__GraphProto *g, const Onnx__NodeProto *n)
{
    const char *out = n->output[0];
    if (quant_is_graph_output(g, out))
        return out;
    const Onnx__NodeProto *reader = NULL;
    int readers = 0;
    for (size_t i = 0; i < g->n_node; i++)
        for (size_t k = 0; k < g->node[i]->n_input; k++)
            if (strcmp(g->node[i]->input[k], out) == 0) {
                readers++;
                reader = g->node[i];
            }
    if (readers == 1 &&
        (strcmp(reader->op_type, "Relu") == 0 || strcmp(reader->op_type, "Clip") == 0))
        return reader->output[0];
    return out;
}

static int add_tensor(TsQuantizeResult *r, const char *name)
{
    for (int i = 0; i < r->num_tensors; i++)
        if (strcmp(r->tensors[i].name, name) == 0)
            return i;
    TsQuantTensor *t = &r->tensors[r->num_tensors];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    return r->num_tensors++;
}

static char *copy(const char *s)
{
    char *c = s ? malloc(strlen(s) + 1) : NULL;
    if (c)
        strcpy(c, s);
    return c;
}

static TsStatus find_layers(Quantizer *q)
{
    const Onnx__GraphProto *g = q->mp->graph;
    TsQuantizeResult *r = q->result;
    r->layers = calloc(g->n_node + 1, sizeof *r->layers);
    q->layers = calloc(g->n_node + 1, sizeof *q->layers);
    r->tensors = calloc(2 * g->n_node + 1, sizeof *r->tensors);
    if (!r->layers || !q->layers || !r->tensors)
        return ts_fail(q->err, TS_ENOMEM, "quantize: no memory for the plan");
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *n = g->node[i];
        int axis = weight_axis(g, n);
        if (axis < 0)
            continue;
        TsQuantLayer *l = &r->layers[r->num_layers];
        if (n->name && n->name[0])
            snprintf(l->node, sizeof l->node, "%s", n->name);
        else
            snprintf(l->node, sizeof l->node, "#%zu", i);
        snprintf(l->op, sizeof l->op, "%s", n->op_type);
        snprintf(l->precision, sizeof l->precision, "%s", q->options->default_precision);
        snprintf(l->why, sizeof l->why, "default");
        QuantLayer *ql = &q->layers[r->num_layers++];
        q->num_layers = r->num_layers;
        ql->node = (int)i;
        ql->weight_axis = axis;
        ql->input = copy(n->input[0]);
        ql->weight = copy(n->input[1]);
        const Onnx__TensorProto *b =
            n->n_input > 2 && n->input[2][0] ? quant_initializer(g, n->input[2]) : NULL;
        ql->bias = b && b->n_dims == 1 && b->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT
                       ? copy(n->input[2])
                       : NULL;
        const char *out = output_point(g, n);
        ql->output = quant_is_graph_output(g, out) ? NULL : copy(out);
        if (!ql->input || !ql->weight || (out && !quant_is_graph_output(g, out) && !ql->output))
            return ts_fail(q->err, TS_ENOMEM, "quantize: no memory for the plan");
    }
    if (r->num_layers == 0)
        return ts_fail(q->err, TS_EINVAL,
                       "quantize: %s has no layer to quantize (Conv, Gemm or MatMul with an "
                       "initializer weight)",
                       q->path);
    return TS_OK;
}

/* The activation tensors of the int8 layers. */
static void list_tensors(Quantizer *q)
{
    TsQuantizeResult *r = q->result;
    for (int l = 0; l < r->num_layers; l++) {
        QuantLayer *ql = &q->layers[l];
        ql->input_tensor = ql->output_tensor = -1;
        if (strcmp(r->layers[l].precision, "int8") != 0)
            continue;
        ql->input_tensor = add_tensor(r, ql->input);
        if (ql->output)
            ql->output_tensor = add_tensor(r, ql->output);
    }
}

static TsStatus serialize(Onnx__ModelProto *mp, uint8_t **bytes, size_t *size, TsError *err)
{
    *size = onnx__model_proto__get_packed_size(mp);
    *bytes = malloc(*size ? *size : 1);
    if (!*bytes)
        return ts_fail(err, TS_ENOMEM, "quantize: no memory to serialize the model");
    onnx__model_proto__pack(mp, *bytes);
    return TS_OK;
}

TsStatus quant_observed_model(Onnx__ModelProto *mp, int num, const char *const *names,
                              uint8_t **bytes, size_t *size, TsError *err)
{
    Onnx__GraphProto *g = mp->graph;
    size_t old = g->n_output;
    Onnx__ValueInfoProto **outputs = malloc((old + (size_t)num) * sizeof *outputs);
    Onnx__ValueInfoProto *extra = calloc((size_t)num + 1, sizeof *extra);
    if (!outputs || !extra) {
        free(outputs);
        free(extra);
        return ts_fail(err, TS_ENOMEM, "quantize: no memory for the calibration model");
    }
    memcpy(outputs, g->output, old * sizeof *outputs);
    size_t n = old;
    for (int i = 0; i < num; i++) {
        if (quant_is_graph_output(g, names[i]) || quant_is_graph_input(g, names[i]))
            continue;
        onnx__value_info_proto__init(&extra[i]);
        extra[i].name = (char *)names[i];
        outputs[n++] = &extra[i];
    }
    Onnx__ValueInfoProto **saved = g->output;
    g->output = outputs;
    g->n_output = n;
    TsStatus st = serialize(mp, bytes, size, err);
    g->output = saved;
    g->n_output = old;
    free(outputs);
    free(extra);
    return st;
}

/* The one input's shape under import; its name into input (when not NULL). */
static TsStatus input_shape(Quantizer *q, const TsImportOptions *import, const uint8_t *bytes,
                            size_t size, char input[TS_GRAPH_NAME_MAX], int *ndim, int64_t *dims)
{
    TsGraph *graph;
    TsStatus st = ts_graph_import_onnx_bytes(bytes, size, q->path, import, &graph, q->err);
    if (st != TS_OK)
        return st;
    const char *name;
    TsDType dtype;
    if (ts_graph_num_inputs(graph) != 1)
        st = ts_fail(q->err, TS_EINVAL, "quantize: %s has %d inputs; calibration feeds one",
                     q->path, ts_graph_num_inputs(graph));
    else if (!ts_graph_input_type(graph, 0, &name, &dtype, ndim, dims) ||
             !ts_dtype_eq(dtype, TS_FLOAT32))
        st = ts_fail(q->err, TS_EINVAL,
                     "quantize: %s: input \"%s\" is not a float32 tensor of "
                     "known shape",
                     q->path, name);
    if (st == TS_OK && input)
        snprintf(input, TS_GRAPH_NAME_MAX, "%s", name);
    ts_graph_free(graph);
    return st;
}

/* q->runs: the user's options with the input's batch dimension 1, when the model imports
 * so (a model whose batch is fixed keeps it). */
static TsStatus batch_one(Quantizer *q, const uint8_t *bytes, size_t size, int *ndim, int64_t *dims)
{
    q->runs = *q->options;
    char input[TS_GRAPH_NAME_MAX];
    TsStatus st = input_shape(q, &q->options->import, bytes, size, input, ndim, dims);
    if (st != TS_OK || *ndim < 1 || dims[0] == 1)
        return st;
    int n = q->options->import.num_input_shapes;
    q->run_shapes = calloc((size_t)n + 1, sizeof *q->run_shapes);
    if (!q->run_shapes)
        return ts_fail(q->err, TS_ENOMEM, "quantize: no memory");
    int k = 0;
    for (int i = 0; i < n; i++)
        if (strcmp(q->options->import.input_shapes[i].name, input) != 0)
            q->run_shapes[k++] = q->options->import.input_shapes[i];
    TsInputShape *one = &q->run_shapes[k++];
    snprintf(one->name, sizeof one->name, "%s", input);
    one->ndim = *ndim;
    memcpy(one->dims, dims, (size_t)*ndim * sizeof *dims);
    one->dims[0] = 1;
    TsImportOptions import = q->options->import;
    import.input_shapes = q->run_shapes;
    import.num_input_shapes = k;
    int ndim1;
    int64_t dims1[TS_GRAPH_MAX_DIMS];
    TsError ignored;
    TsError *saved = q->err;
    q->err = &ignored;
    st = input_shape(q, &import, bytes, size, NULL, &ndim1, dims1);
    q->err = saved;
    if (st == TS_OK) {
        q->runs.import = import;
        *ndim = ndim1;
        memcpy(dims, dims1, (size_t)ndim1 * sizeof *dims);
    }
    return TS_OK;
}

static TsStatus need_samples(Quantizer *q, const uint8_t *bytes, size_t size)
{
    if (q->have_samples)
        return TS_OK;
    int ndim;
    int64_t dims[TS_GRAPH_MAX_DIMS];
    TsStatus st = batch_one(q, bytes, size, &ndim, dims);
    if (st == TS_OK)
        st = quant_read_samples(q->options, ndim, dims, &q->samples, q->err);
    q->have_samples = st == TS_OK;
    return st;
}

static TsStatus calibrate(Quantizer *q, const uint8_t *bytes, size_t size)
{
    TsQuantizeResult *r = q->result;
    const char **names = calloc((size_t)r->num_tensors + 1, sizeof *names);
    int *which = calloc((size_t)r->num_tensors + 1, sizeof *which);
    bool *is_input = calloc((size_t)r->num_tensors + 1, sizeof *is_input);
    QuantStats *stats = NULL;
    uint8_t *observed = NULL;
    size_t observed_size = 0;
    TsStatus st =
        names && which && is_input ? TS_OK : ts_fail(q->err, TS_ENOMEM, "quantize: no memory");
    int num = 0;
    for (int t = 0; st == TS_OK && t < r->num_tensors; t++)
        if (!r->tensors[t].user) {
            which[num] = t;
            is_input[num] = quant_is_graph_input(q->mp->graph, r->tensors[t].name);
            names[num++] = r->tensors[t].name;
        }
    if (st == TS_OK && num > 0) {
        st = need_samples(q, bytes, size);
        if (st == TS_OK)
            st = quant_observed_model(q->mp, num, names, &observed, &observed_size, q->err);
        stats = st == TS_OK ? calloc((size_t)num, sizeof *stats) : NULL;
        if (st == TS_OK && !stats)
            st = ts_fail(q->err, TS_ENOMEM, "quantize: no memory for the statistics");
        if (st == TS_OK)
            st = quant_calibrate(observed, observed_size, q->path, &q->runs, &q->samples, num,
                                 names, is_input, stats, q->err);
        r->num_samples = q->samples.count;
    }
    for (int i = 0; st == TS_OK && i < num; i++) {
        TsQuantTensor *t = &r->tensors[which[i]];
        t->min = stats[i].min;
        t->max = stats[i].max;
        quant_clip_range(&stats[i], q->options, &t->lo, &t->hi);
        ts_quant_activation_params(t->lo, t->hi, &t->scale, &t->zero_point);
    }
    free(observed);
    free(stats);
    free(names);
    free(which);
    free(is_input);
    return st;
}

static int64_t default_opset(const Onnx__ModelProto *mp)
{
    for (size_t i = 0; i < mp->n_opset_import; i++) {
        const char *d = mp->opset_import[i]->domain;
        if (!d || !d[0] || strcmp(d, "ai.onnx") == 0)
            return mp->opset_import[i]->version;
    }
    return 1;
}

void quant_note(const TsQuantizeOptions *o, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (o->note)
        o->note(buf, o->note_user);
    else
        fprintf(stderr, "tessera quantize: %s\n", buf);
}

static TsStatus check_options(const TsQuantizeOptions *o, TsError *err)
{
    if (o->method != TS_CALIB_MINMAX && o->method != TS_CALIB_PERCENTILE &&
        o->method != TS_CALIB_ENTROPY)
        return ts_fail(err, TS_EINVAL, "quantize: unknown calibration method %d", (int)o->method);
    if (o->method == TS_CALIB_PERCENTILE && !(o->percentile >= 50 && o->percentile <= 100))
        return ts_fail(err, TS_EINVAL, "quantize: percentile %g is not in [50, 100]",
                       o->percentile);
    return quant_check_precision(o->default_precision ? o->default_precision : "",
                                 "quantize: the default precision", err);
}

static TsStatus run(Quantizer *q, const uint8_t *bytes, size_t size)
{
    TsStatus st = find_layers(q);
    if (st == TS_OK && q->options->params_path)
        st = quant_apply_params_file(q->options->params_path, q->result, false, q->err);
    if (st == TS_OK)
        st = quant_apply_node_precisions(q->options, q->result, q->err);
    if (st != TS_OK)
        return st;
    list_tensors(q);
    if (q->options->params_path)
        st = quant_apply_params_file(q->options->params_path, q->result, true, q->err);
    if (st == TS_OK)
        st = calibrate(q, bytes, size);
    bool per_channel = q->opset >= 13;
    if (st == TS_OK && !per_channel)
        quant_note(q->options, "opset below 13 has no per-axis DequantizeLinear: weights are "
                               "quantized per tensor");
    int num_int8 = 0;
    QuantLayer *int8 = st == TS_OK ? calloc((size_t)q->num_layers + 1, sizeof *int8) : NULL;
    if (st == TS_OK && !int8)
        st = ts_fail(q->err, TS_ENOMEM, "quantize: no memory");
    for (int l = 0; st == TS_OK && l < q->num_layers; l++)
        if (q->layers[l].input_tensor >= 0)
            int8[num_int8++] = q->layers[l];
    if (st == TS_OK)
        st = quant_write_qdq(q->mp, int8, num_int8, q->result, per_channel, q->err);
    free(int8);
    if (st == TS_OK)
        st = serialize(q->mp, &q->result->model, &q->result->model_size, q->err);
    if (st == TS_OK && q->options->report)
        st = need_samples(q, bytes, size);
    if (st == TS_OK && q->options->report)
        st = quant_report(bytes, size, q->path, &q->runs, &q->samples, q->result, q->err);
    return st;
}

TsStatus ts_quantize_onnx(const char *model_path, const TsQuantizeOptions *options,
                          TsQuantizeResult *out, TsError *err)
{
    memset(out, 0, sizeof *out);
    TsQuantizeOptions defaults = ts_quantize_options_default();
    if (!options)
        options = &defaults;
    TsStatus st = check_options(options, err);
    if (st != TS_OK)
        return st;
    uint8_t *bytes;
    size_t size;
    st = rly_read_file(model_path, "the model", &bytes, &size, err);
    if (st != TS_OK)
        return st;
    Quantizer q = { .path = model_path, .options = options, .result = out, .err = err };
    q.mp = onnx__model_proto__unpack(NULL, size, bytes);
    if (!q.mp || !q.mp->graph)
        st = ts_fail(err, TS_EINVAL, "%s: not an ONNX model (no ModelProto with a graph)",
                     model_path);
    if (st == TS_OK) {
        q.opset = default_opset(q.mp);
        if (q.opset < 10)
            st = ts_fail(err, TS_EINVAL,
                         "%s: opset %lld has no QuantizeLinear (it came in opset 10)", model_path,
                         (long long)q.opset);
    }
    if (st == TS_OK)
        st = run(&q, bytes, size);
    for (int l = 0; q.layers && l < q.num_layers; l++) {
        free((char *)q.layers[l].input);
        free((char *)q.layers[l].weight);
        free((char *)q.layers[l].bias);
        free((char *)q.layers[l].output);
    }
    free(q.layers);
    quant_samples_free(&q.samples);
    free(q.run_shapes);
    if (q.mp)
        onnx__model_proto__free_unpacked(q.mp, NULL);
    free(bytes);
    if (st != TS_OK)
        ts_quantize_result_free(out);
    return st;
}

void ts_quantize_result_free(TsQuantizeResult *result)
{
    free(result->report);
    free(result->layers);
    free(result->tensors);
    free(result->model);
    memset(result, 0, sizeof *result);
}

const char *ts_quantize_plan_str(TsArena *arena, const TsQuantizeResult *r)
{
    size_t cap = 512 + (size_t)r->num_layers * (TS_GRAPH_NAME_MAX + 160) +
                 (size_t)r->num_tensors * (TS_GRAPH_NAME_MAX + 200) +
                 (size_t)r->num_report * (TS_GRAPH_NAME_MAX + 64);
    char *s = ts_arena_alloc(arena, cap);
    if (!s)
        return NULL;
    size_t n = 0;
    int int8 = 0;
    for (int i = 0; i < r->num_layers; i++)
        int8 += strcmp(r->layers[i].precision, "int8") == 0;
    n += (size_t)snprintf(s + n, cap - n, "precision plan: %d layers, %d int8, %d fp32\n",
                          r->num_layers, int8, r->num_layers - int8);
    for (int i = 0; i < r->num_layers && n < cap; i++)
        n += (size_t)snprintf(s + n, cap - n, "  %-40s %-7s %-5s (%s)\n", r->layers[i].node,
                              r->layers[i].op, r->layers[i].precision, r->layers[i].why);
    if (n < cap)
        n += (size_t)snprintf(s + n, cap - n, "activations: %d tensors (%d calibration samples)\n",
                              r->num_tensors, r->num_samples);
    for (int i = 0; i < r->num_tensors && n < cap; i++) {
        const TsQuantTensor *t = &r->tensors[i];
        if (t->user)
            n += (size_t)snprintf(s + n, cap - n,
                                  "  %-40s scale %.6g zero point %4d (the JSON file)\n", t->name,
                                  t->scale, t->zero_point);
        else
            n += (size_t)snprintf(s + n, cap - n,
                                  "  %-40s scale %.6g zero point %4d  seen [%.4g, %.4g] "
                                  "clipped to [%.4g, %.4g]\n",
                                  t->name, t->scale, t->zero_point, t->min, t->max, t->lo, t->hi);
    }
    if (r->num_report > 0 && n < cap)
        n += (size_t)snprintf(s + n, cap - n, "report: SQNR of the QDQ model against fp32\n");
    for (int i = 0; i < r->num_report && n < cap; i++)
        n += (size_t)snprintf(s + n, cap - n, "  %-40s %7.2f dB%s\n", r->report[i].name,
                              r->report[i].sqnr_db, i == r->num_report - 1 ? "  (output)" : "");
    if (r->num_report > 0 && n < cap)
        snprintf(s + n, cap - n, "output top-1 agreement: %.2f%% of %d rows\n", r->top1_agreement,
                 r->report_rows);
    return s;
}
