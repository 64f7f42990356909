/* What quantization costs (`tessera quantize --report`): the fp32 model and the QDQ model,
 * each with the quantized activations and the graph's first output made graph outputs,
 * built and run on the samples; per tensor the SQNR of the QDQ values against the fp32
 * ones, and the top-1 agreement of the output's rows (its last dimension the classes). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relay_lite/quantize/quant_internal.h"

typedef struct Side {
    Onnx__ModelProto *mp;
    uint8_t *bytes;
    size_t size;
    QuantRun run;
    bool open;
} Side;

static TsStatus open_side(Side *s, const uint8_t *bytes, size_t size, const char *path,
                          const TsQuantizeOptions *o, int num, const char *const *names,
                          int64_t input_elements, TsError *err)
{
    s->mp = onnx__model_proto__unpack(NULL, size, bytes);
    if (!s->mp || !s->mp->graph)
        return ts_fail(err, TS_EINVAL, "quantize: %s: cannot read the model back", path);
    TsStatus st = quant_observed_model(s->mp, num, names, &s->bytes, &s->size, err);
    if (st == TS_OK)
        st = quant_run_open(&s->run, s->bytes, s->size, path, o, num, names, NULL, input_elements,
                            err);
    s->open = st == TS_OK;
    return st;
}

static void close_side(Side *s)
{
    if (s->open)
        quant_run_close(&s->run);
    free(s->bytes);
    if (s->mp)
        onnx__model_proto__free_unpacked(s->mp, NULL);
}

/* Rows of the output (its last dimension the classes) whose argmax agree. */
static int64_t agreeing_rows(const float *a, const float *b, int64_t elements, int64_t classes,
                             int64_t *rows)
{
    int64_t agree = 0;
    for (int64_t r = 0; classes > 0 && r < elements / classes; r++, (*rows)++) {
        int64_t ia = 0, ib = 0;
        for (int64_t c = 1; c < classes; c++) {
            ia = a[r * classes + c] > a[r * classes + ia] ? c : ia;
            ib = b[r * classes + c] > b[r * classes + ib] ? c : ib;
        }
        agree += ia == ib;
    }
    return agree;
}

static int64_t last_dim(const Side *s, int output)
{
    int ndim;
    const int64_t *shape;
    TsError ignored;
    if (ts_graph_executor_output_info(s->run.ex, output, NULL, NULL, &ndim, &shape, &ignored) !=
            TS_OK ||
        ndim < 1)
        return 1;
    return shape[ndim - 1];
}

TsStatus quant_report(const uint8_t *fp32, size_t fp32_size, const char *model_path,
                      const TsQuantizeOptions *options, const QuantSamples *samples,
                      TsQuantizeResult *r, TsError *err)
{
    Side ref = { 0 }, quant = { 0 };
    const char **names = calloc((size_t)r->num_tensors + 2, sizeof *names);
    double *signal = calloc((size_t)r->num_tensors + 2, sizeof *signal);
    double *noise = calloc((size_t)r->num_tensors + 2, sizeof *noise);
    r->report = calloc((size_t)r->num_tensors + 2, sizeof *r->report);
    if (!names || !signal || !noise || !r->report) {
        free(names), free(signal), free(noise);
        return ts_fail(err, TS_ENOMEM, "quantize: no memory for the report");
    }
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, fp32_size, fp32);
    int num = 0;
    for (int t = 0; mp && t < r->num_tensors; t++)
        if (!quant_is_graph_input(mp->graph, r->tensors[t].name))
            names[num++] = r->tensors[t].name;
    if (mp && mp->graph->n_output > 0)
        names[num++] = mp->graph->output[0]->name;
    TsStatus st = mp ? TS_OK : ts_fail(err, TS_EINVAL, "quantize: %s: unreadable", model_path);
    if (st == TS_OK)
        st = open_side(&ref, fp32, fp32_size, model_path, options, num, names,
                       samples->sample_elements, err);
    if (st == TS_OK)
        st = open_side(&quant, r->model, r->model_size, "the QDQ model", options, num, names,
                       samples->sample_elements, err);
    int64_t agree = 0, rows = 0;
    for (int s = 0; st == TS_OK && s < samples->count; s++) {
        st = quant_run_sample(&ref.run, samples, s, err);
        if (st == TS_OK)
            st = quant_run_sample(&quant.run, samples, s, err);
        for (int i = 0; st == TS_OK && i < num; i++)
            for (int64_t k = 0; k < ref.run.elements[i]; k++) {
                double a = ref.run.buffers[i][k], b = quant.run.buffers[i][k];
                signal[i] += a * a;
                noise[i] += (a - b) * (a - b);
            }
        if (st == TS_OK)
            agree += agreeing_rows(ref.run.buffers[num - 1], quant.run.buffers[num - 1],
                                   ref.run.elements[num - 1],
                                   last_dim(&ref, ref.run.output_of[num - 1]), &rows);
    }
    for (int i = 0; st == TS_OK && i < num; i++) {
        snprintf(r->report[i].name, sizeof r->report[i].name, "%s", names[i]);
        r->report[i].sqnr_db = noise[i] > 0 ? 10 * log10(signal[i] / noise[i]) : INFINITY;
    }
    if (st == TS_OK) {
        r->num_report = num;
        r->report_rows = (int)rows;
        r->top1_agreement = rows ? 100.0 * (double)agree / (double)rows : 0;
    }
    close_side(&ref);
    close_side(&quant);
    if (mp)
        onnx__model_proto__free_unpacked(mp, NULL);
    free(names), free(signal), free(noise);
    return st;
}
