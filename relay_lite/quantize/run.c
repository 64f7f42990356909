/* A model run for quantization's own measurements (calibrate.c, report.c): the model's
 * bytes, some of its tensors made graph outputs, built with the default configurations
 * into a scratch shared object (removed once loaded), and run by the graph executor on
 * one sample at a time, the named tensors copied out after each run. */
#define _GNU_SOURCE /* mkstemps */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "relay_lite/quantize/quant_internal.h"
#include "tessera/graph_executor.h"
#include "tessera/runtime.h"

static void quiet(const char *message, void *user)
{
    (void)message;
    (void)user;
}

static TsStatus build(const uint8_t *bytes, size_t size, const char *model_path,
                      const TsQuantizeOptions *options, const char *so_path, TsError *err)
{
    TsGraph *graph;
    TsStatus st =
        ts_graph_import_onnx_bytes(bytes, size, model_path, &options->import, &graph, err);
    if (st != TS_OK)
        return st;
    /* These builds' notes (default configurations) ask nothing of the user. */
    TsBuildOptions build = { .note = quiet };
    st = ts_graph_build(graph, &build, so_path, NULL, err);
    ts_graph_free(graph);
    return st;
}

static TsStatus scratch_path(const TsQuantizeOptions *options, char *out, size_t size, TsError *err)
{
    const char *dir = options->work_dir;
    if (!dir || !*dir)
        dir = getenv("TMPDIR");
    if (!dir || !*dir)
        dir = "/tmp";
    if ((size_t)snprintf(out, size, "%s/tessera-quantize-XXXXXX.so", dir) >= size)
        return ts_fail(err, TS_EINVAL, "quantize: the work folder's path is too long");
    int fd = mkstemps(out, 3);
    if (fd < 0)
        return ts_fail(err, TS_EINVAL, "quantize: cannot create a file in %s", dir);
    close(fd);
    return TS_OK;
}

static TsStatus bind_outputs(QuantRun *r, const char *const *names, const bool *is_input,
                             int64_t input_elements, TsError *err)
{
    r->output_of = calloc((size_t)r->num_names + 1, sizeof *r->output_of);
    r->buffers = calloc((size_t)r->num_names + 1, sizeof *r->buffers);
    r->elements = calloc((size_t)r->num_names + 1, sizeof *r->elements);
    if (!r->output_of || !r->buffers || !r->elements)
        return ts_fail(err, TS_ENOMEM, "quantize: no memory for the run's outputs");
    int n = ts_graph_executor_num_outputs(r->ex);
    for (int i = 0; i < r->num_names; i++) {
        r->output_of[i] = -1;
        if (is_input && is_input[i]) {
            r->elements[i] = input_elements;
            r->buffers[i] = malloc((size_t)input_elements * sizeof(float));
            if (!r->buffers[i])
                return ts_fail(err, TS_ENOMEM, "quantize: no memory for tensor \"%s\"", names[i]);
            continue;
        }
        for (int o = 0; o < n; o++) {
            const char *name;
            TsDType dtype;
            if (ts_graph_executor_output_info(r->ex, o, &name, &dtype, NULL, NULL, err) != TS_OK)
                return err->status;
            if (strcmp(name, names[i]) == 0 && ts_dtype_eq(dtype, TS_FLOAT32))
                r->output_of[i] = o;
        }
        if (r->output_of[i] < 0)
            return ts_fail(err, TS_EINVAL,
                           "quantize: tensor \"%s\" is not a float32 output of the model's "
                           "build",
                           names[i]);
        size_t bytes = ts_graph_executor_output_bytes(r->ex, r->output_of[i]);
        r->elements[i] = (int64_t)(bytes / sizeof(float));
        r->buffers[i] = malloc(bytes ? bytes : 1);
        if (!r->buffers[i])
            return ts_fail(err, TS_ENOMEM, "quantize: no memory for tensor \"%s\"", names[i]);
    }
    return TS_OK;
}

TsStatus quant_run_open(QuantRun *r, const uint8_t *bytes, size_t size, const char *model_path,
                        const TsQuantizeOptions *options, int num_names, const char *const *names,
                        const bool *is_input, int64_t input_elements, TsError *err)
{
    memset(r, 0, sizeof *r);
    r->num_names = num_names;
    char so_path[4096];
    TsStatus st = scratch_path(options, so_path, sizeof so_path, err);
    if (st != TS_OK)
        return st;
    st = build(bytes, size, model_path, options, so_path, err);
    if (st == TS_OK)
        st = ts_module_load(so_path, &r->module, err);
    unlink(so_path);
    if (st == TS_OK)
        st = ts_graph_executor_create(r->module, &r->ex, err);
    if (st == TS_OK && ts_graph_executor_num_inputs(r->ex) != 1)
        st = ts_fail(err, TS_EINVAL, "quantize: %s has %d inputs; the samples feed one", model_path,
                     ts_graph_executor_num_inputs(r->ex));
    if (st == TS_OK &&
        ts_graph_executor_input_bytes(r->ex, 0) != (size_t)input_elements * sizeof(float))
        st = ts_fail(err, TS_EINVAL, "quantize: %s: the samples do not have the input's size",
                     model_path);
    if (st == TS_OK)
        st = bind_outputs(r, names, is_input, input_elements, err);
    if (st != TS_OK)
        quant_run_close(r);
    return st;
}

TsStatus quant_run_sample(QuantRun *r, const QuantSamples *samples, int s, TsError *err)
{
    const float *x = samples->data + (size_t)s * (size_t)samples->sample_elements;
    size_t bytes = (size_t)samples->sample_elements * sizeof(float);
    TsStatus st = ts_graph_executor_set_input(r->ex, 0, x, bytes, err);
    if (st == TS_OK)
        st = ts_graph_executor_run(r->ex, err);
    for (int i = 0; st == TS_OK && i < r->num_names; i++) {
        if (r->output_of[i] < 0)
            memcpy(r->buffers[i], x, bytes);
        else
            st = ts_graph_executor_get_output(r->ex, r->output_of[i], r->buffers[i],
                                              (size_t)r->elements[i] * sizeof(float), err);
    }
    return st;
}

void quant_run_close(QuantRun *r)
{
    for (int i = 0; r->buffers && i < r->num_names; i++)
        free(r->buffers[i]);
    free(r->buffers);
    free(r->elements);
    free(r->output_of);
    if (r->ex)
        ts_graph_executor_free(r->ex);
    if (r->module)
        ts_module_release(r->module);
    memset(r, 0, sizeof *r);
}
