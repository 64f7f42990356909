/* A whole model through import, build, load and the graph executor, for the model tests
 * (model_pipeline.h). Each step's failure is kept with the step's name, so that a test can
 * tell a refusal (import, build) from a fault (a model the build accepted that then does
 * not load or run). */
#include "model_pipeline.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char *mp_stage_name(MpStage stage)
{
    switch (stage) {
    case MP_OK: return "ok";
    case MP_IMPORT: return "import";
    case MP_BUILD: return "build";
    case MP_LOAD: return "load";
    case MP_INPUT: return "input";
    case MP_RUN: return "run";
    case MP_OUTPUT: return "output";
    }
    return "?";
}

static void count_note(const char *message, void *user)
{
    (void)message;
    ((MpResult *)user)->num_notes++;
}

static bool stop(MpResult *r, MpStage stage)
{
    r->stage = stage;
    return false;
}

/* Sets input i from its TensorProto file, which must match the input's dtype and size. */
static bool set_input(TsGraphExecutor *ex, int i, const char *path, MpResult *r)
{
    TsTensorFile t;
    if (ts_tensor_file_read(path, &t, &r->err) != TS_OK)
        return stop(r, MP_INPUT);
    TsDType dtype;
    const char *name;
    bool ok = ts_graph_executor_input_info(ex, i, &name, &dtype, NULL, NULL, &r->err) == TS_OK;
    if (ok && !ts_dtype_eq(dtype, t.dtype)) {
        char a[TS_DTYPE_STR_MAX], b[TS_DTYPE_STR_MAX];
        ts_fail(&r->err, TS_EINVAL, "%s: %s, but input %d (\"%s\") is %s", path,
                ts_dtype_str(t.dtype, a), i, name, ts_dtype_str(dtype, b));
        ok = false;
    }
    ok = ok && ts_graph_executor_set_input(ex, i, t.data, t.nbytes, &r->err) == TS_OK;
    ts_tensor_file_free(&t);
    return ok || stop(r, MP_INPUT);
}

/* Writes output i to out_dir/output_i.pb. */
static bool save_output(const TsGraphExecutor *ex, int i, const char *out_dir, MpResult *r)
{
    const char *name;
    TsDType dtype;
    int ndim;
    const int64_t *shape;
    if (ts_graph_executor_output_info(ex, i, &name, &dtype, &ndim, &shape, &r->err) != TS_OK)
        return stop(r, MP_OUTPUT);
    size_t nbytes = ts_graph_executor_output_bytes(ex, i);
    void *data = malloc(nbytes ? nbytes : 1);
    if (!data) {
        ts_fail(&r->err, TS_ENOMEM, "output %d: %zu bytes", i, nbytes);
        return stop(r, MP_OUTPUT);
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/output_%d.pb", out_dir, i);
    bool ok = ts_graph_executor_get_output(ex, i, data, nbytes, &r->err) == TS_OK &&
              ts_tensor_file_write(path, name, dtype, ndim, shape, data, nbytes, &r->err) == TS_OK;
    free(data);
    return ok || stop(r, MP_OUTPUT);
}

/* Loads the built object, feeds the inputs, runs, saves the outputs. */
static bool run_built(const MpModel *m, MpResult *r)
{
    TsModule *module;
    TsGraphExecutor *ex = NULL;
    bool ok = false;
    if (ts_module_load(m->so, &module, &r->err) != TS_OK)
        return stop(r, MP_LOAD);
    if (ts_graph_executor_create(module, &ex, &r->err) != TS_OK) {
        stop(r, MP_LOAD);
        goto out_release_module;
    }
    if (ts_graph_executor_num_inputs(ex) != m->num_inputs) {
        ts_fail(&r->err, TS_EINVAL, "%s takes %d inputs, %d files given", m->so,
                ts_graph_executor_num_inputs(ex), m->num_inputs);
        stop(r, MP_INPUT);
        goto out_free_executor;
    }
    for (int i = 0; i < m->num_inputs; i++)
        if (!set_input(ex, i, m->inputs[i], r))
            goto out_free_executor;
    if (ts_graph_executor_run(ex, &r->err) != TS_OK) {
        stop(r, MP_RUN);
        goto out_free_executor;
    }
    if (mkdir(m->out_dir, 0777) != 0 && errno != EEXIST) {
        ts_fail(&r->err, TS_EIO, "%s: %s", m->out_dir, strerror(errno));
        stop(r, MP_OUTPUT);
        goto out_free_executor;
    }
    r->num_outputs = ts_graph_executor_num_outputs(ex);
    ok = true;
    for (int i = 0; ok && i < r->num_outputs; i++)
        ok = save_output(ex, i, m->out_dir, r);
out_free_executor:
    ts_graph_executor_free(ex);
out_release_module:
    ts_module_release(module);
    return ok;
}

bool mp_run_model(const MpModel *m, MpResult *r)
{
    memset(r, 0, sizeof *r);
    TsImportOptions import = { .input_values = m->values, .num_input_values = m->num_values };
    TsGraph *graph;
    if (ts_graph_import_onnx(m->model, &import, &graph, &r->err) != TS_OK)
        return stop(r, MP_IMPORT);
    TsBuildOptions build = { .note = count_note, .note_user = r };
    TsStatus status = ts_graph_build(graph, &build, m->so, &r->stats, &r->err);
    ts_graph_free(graph);
    if (status != TS_OK)
        return stop(r, MP_BUILD);
    if (!run_built(m, r))
        return false;
    r->stage = MP_OK;
    return true;
}
