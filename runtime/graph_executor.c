/* The graph executor: runs the whole model a module carries (graph_executor.h), on the
 * device, without LLVM. Creating one allocates the graph's inputs and outputs and the
 * arena the memory plan lays the intermediates out in, and binds every kernel call's
 * arguments once (a DLTensor per tensor, pointing into the inputs, outputs, weights or
 * arena), so that a run is the calls in order and nothing else. Kernels run their
 * parallel loops on the runtime's thread pool. The model was checked when the module
 * was loaded (model_table.c), so binding trusts its offsets and shapes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/rt_internal.h"
#include "tessera/graph_executor.h"

struct TsGraphExecutor {
    TsModule *module;
    const RtModel *model;
    unsigned char *arena;
    unsigned char **inputs;  /* per graph input */
    unsigned char **outputs; /* per graph output */
    TsDLTensor *tensors;     /* per tensor */
    int64_t *shapes;         /* per tensor, TS_MODEL_MAX_DIMS each */
    TsValue *values;         /* per call argument */
    int32_t *type_codes;
};

/* 64-byte-aligned zeroed storage of at least one byte. */
static unsigned char *alloc_aligned(uint64_t bytes)
{
    size_t size = (size_t)((bytes + TS_MODEL_ALIGN - 1) / TS_MODEL_ALIGN * TS_MODEL_ALIGN);
    unsigned char *p = aligned_alloc(TS_MODEL_ALIGN, size ? size : TS_MODEL_ALIGN);
    if (p)
        memset(p, 0, size ? size : TS_MODEL_ALIGN);
    return p;
}

static unsigned char *storage_of(TsGraphExecutor *ex, uint32_t i)
{
    const RtModel *m = ex->model;
    const TsModelTensor *t = &m->tensors[i];
    switch ((TsModelStorage)t->storage) {
    case TS_MODEL_INPUT: return ex->inputs[t->index];
    case TS_MODEL_OUTPUT: return ex->outputs[t->index];
    case TS_MODEL_WEIGHT: return (unsigned char *)m->weights + t->offset;
    case TS_MODEL_ARENA: return ex->arena + m->arena_offsets[i];
    }
    return NULL; /* unreachable: the loader checked the storage */
}

static TsStatus allocate(TsGraphExecutor *ex, TsError *err)
{
    const RtModel *m = ex->model;
    const TsModelGraphHeader *h = m->header;
    ex->arena = alloc_aligned(m->arena_bytes);
    ex->inputs = calloc((size_t)h->num_inputs + 1, sizeof *ex->inputs);
    ex->outputs = calloc((size_t)h->num_outputs + 1, sizeof *ex->outputs);
    ex->tensors = calloc((size_t)h->num_tensors + 1, sizeof *ex->tensors);
    ex->shapes = calloc((size_t)h->num_tensors * TS_MODEL_MAX_DIMS + 1, sizeof *ex->shapes);
    ex->values = calloc((size_t)h->num_args + 1, sizeof *ex->values);
    ex->type_codes = calloc((size_t)h->num_args + 1, sizeof *ex->type_codes);
    bool ok = ex->arena && ex->inputs && ex->outputs && ex->tensors && ex->shapes && ex->values &&
              ex->type_codes;
    for (uint32_t k = 0; ok && k < h->num_inputs; k++)
        ok = (ex->inputs[k] = alloc_aligned(m->tensor_bytes[m->inputs[k]])) != NULL;
    for (uint32_t k = 0; ok && k < h->num_outputs; k++)
        ok = (ex->outputs[k] = alloc_aligned(m->tensor_bytes[m->outputs[k]])) != NULL;
    if (!ok)
        return ts_fail(err, TS_ENOMEM, "graph executor %s: out of memory (arena of %llu bytes)",
                       rt_module_path(ex->module), (unsigned long long)m->arena_bytes);
    return TS_OK;
}

/* One DLTensor per tensor, and every call's packed arguments. */
static void bind(TsGraphExecutor *ex)
{
    const RtModel *m = ex->model;
    for (uint32_t i = 0; i < m->header->num_tensors; i++) {
        const TsModelTensor *t = &m->tensors[i];
        int64_t *shape = ex->shapes + (size_t)i * TS_MODEL_MAX_DIMS;
        memcpy(shape, t->shape, sizeof(int64_t) * (size_t)t->ndim);
        ex->tensors[i] = (TsDLTensor){ .data = storage_of(ex, i),
                                       .device = { TS_DEVICE_CPU, 0 },
                                       .ndim = t->ndim,
                                       .dtype = t->dtype,
                                       .shape = shape,
                                       .strides = NULL,
                                       .byte_offset = 0 };
    }
    for (uint32_t a = 0; a < m->header->num_args; a++) {
        ex->values[a].v_handle = &ex->tensors[m->args[a]];
        ex->type_codes[a] = TS_ARG_TENSOR;
    }
}

void ts_graph_executor_free(TsGraphExecutor *ex)
{
    if (!ex)
        return;
    if (ex->model) {
        for (uint32_t k = 0; ex->inputs && k < ex->model->header->num_inputs; k++)
            free(ex->inputs[k]);
        for (uint32_t k = 0; ex->outputs && k < ex->model->header->num_outputs; k++)
            free(ex->outputs[k]);
    }
    free(ex->inputs);
    free(ex->outputs);
    free(ex->arena);
    free(ex->tensors);
    free(ex->shapes);
    free(ex->values);
    free(ex->type_codes);
    ts_module_release(ex->module);
    free(ex);
}

bool ts_module_has_model(const TsModule *module)
{
    return rt_module_model(module) != NULL;
}

TsStatus ts_graph_executor_create(TsModule *module, TsGraphExecutor **out, TsError *err)
{
    if (!out)
        return ts_fail(err, TS_EINVAL, "graph executor: out is NULL");
    *out = NULL;
    if (!module)
        return ts_fail(err, TS_EINVAL, "graph executor: the module is NULL");
    const RtModel *model = rt_module_model(module);
    if (!model)
        return ts_fail(err, TS_EINVAL,
                       "graph executor: module %s holds kernels only, no model (build it with "
                       "`tessera build MODEL.onnx`)",
                       rt_module_path(module));
    TsGraphExecutor *ex = calloc(1, sizeof *ex);
    if (!ex)
        return ts_fail(err, TS_ENOMEM, "graph executor: out of memory");
    ts_module_retain(module);
    ex->module = module;
    ex->model = model;
    TsStatus st = allocate(ex, err);
    if (st != TS_OK) {
        ts_graph_executor_free(ex);
        return st;
    }
    bind(ex);
    *out = ex;
    return TS_OK;
}

int ts_graph_executor_num_inputs(const TsGraphExecutor *ex)
{
    return ex ? (int)ex->model->header->num_inputs : 0;
}

int ts_graph_executor_num_outputs(const TsGraphExecutor *ex)
{
    return ex ? (int)ex->model->header->num_outputs : 0;
}

int ts_graph_executor_num_calls(const TsGraphExecutor *ex)
{
    return ex ? (int)ex->model->header->num_calls : 0;
}

uint64_t ts_graph_executor_arena_bytes(const TsGraphExecutor *ex)
{
    return ex ? ex->model->arena_bytes : 0;
}

/* The tensor of input (or output) i, or NULL when i is out of range. */
static const TsModelTensor *io_tensor(const TsGraphExecutor *ex, int i, bool input, uint32_t *id)
{
    if (!ex)
        return NULL;
    const RtModel *m = ex->model;
    uint32_t count = input ? m->header->num_inputs : m->header->num_outputs;
    if (i < 0 || (uint32_t)i >= count)
        return NULL;
    *id = input ? m->inputs[i] : m->outputs[i];
    return &m->tensors[*id];
}

static TsStatus io_info(const TsGraphExecutor *ex, int i, bool input, const char **name,
                        TsDType *dtype, int *ndim, const int64_t **shape, TsError *err)
{
    uint32_t id;
    const TsModelTensor *t = io_tensor(ex, i, input, &id);
    if (!t)
        return ts_fail(err, TS_EINVAL, "graph executor: no %s %d (it has %d)",
                       input ? "input" : "output", i,
                       input ? ts_graph_executor_num_inputs(ex) : ts_graph_executor_num_outputs(ex));
    if (name)
        *name = rt_model_string(ex->model, t->name);
    if (dtype)
        *dtype = t->dtype;
    if (ndim)
        *ndim = t->ndim;
    if (shape)
        *shape = ex->shapes + (size_t)id * TS_MODEL_MAX_DIMS;
    return TS_OK;
}

TsStatus ts_graph_executor_input_info(const TsGraphExecutor *ex, int i, const char **name,
                                      TsDType *dtype, int *ndim, const int64_t **shape,
                                      TsError *err)
{
    return io_info(ex, i, true, name, dtype, ndim, shape, err);
}

TsStatus ts_graph_executor_output_info(const TsGraphExecutor *ex, int i, const char **name,
                                       TsDType *dtype, int *ndim, const int64_t **shape,
                                       TsError *err)
{
    return io_info(ex, i, false, name, dtype, ndim, shape, err);
}

int ts_graph_executor_input_index(const TsGraphExecutor *ex, const char *name)
{
    for (int i = 0; name && i < ts_graph_executor_num_inputs(ex); i++) {
        const TsModelTensor *t = &ex->model->tensors[ex->model->inputs[i]];
        if (strcmp(rt_model_string(ex->model, t->name), name) == 0)
            return i;
    }
    return -1;
}

size_t ts_graph_executor_input_bytes(const TsGraphExecutor *ex, int i)
{
    uint32_t id;
    return io_tensor(ex, i, true, &id) ? (size_t)ex->model->tensor_bytes[id] : 0;
}

size_t ts_graph_executor_output_bytes(const TsGraphExecutor *ex, int i)
{
    uint32_t id;
    return io_tensor(ex, i, false, &id) ? (size_t)ex->model->tensor_bytes[id] : 0;
}

TsStatus ts_graph_executor_set_input(TsGraphExecutor *ex, int i, const void *data, size_t nbytes,
                                     TsError *err)
{
    uint32_t id;
    const TsModelTensor *t = io_tensor(ex, i, true, &id);
    if (!t || !data)
        return ts_fail(err, TS_EINVAL, "graph executor: set_input %d: %s", i,
                       t ? "the data are NULL" : "no such input");
    if (nbytes != ex->model->tensor_bytes[id])
        return ts_fail(err, TS_EINVAL, "graph executor: input %d (%s) takes %llu bytes, not %zu",
                       i, rt_model_string(ex->model, t->name),
                       (unsigned long long)ex->model->tensor_bytes[id], nbytes);
    memcpy(ex->inputs[i], data, nbytes);
    return TS_OK;
}

TsStatus ts_graph_executor_set_input_by_name(TsGraphExecutor *ex, const char *name,
                                             const void *data, size_t nbytes, TsError *err)
{
    int i = ts_graph_executor_input_index(ex, name);
    if (i < 0)
        return ts_fail(err, TS_EINVAL, "graph executor: the model has no input called %s",
                       name ? name : "(NULL)");
    return ts_graph_executor_set_input(ex, i, data, nbytes, err);
}

TsStatus ts_graph_executor_get_output(const TsGraphExecutor *ex, int i, void *data, size_t nbytes,
                                      TsError *err)
{
    uint32_t id;
    const TsModelTensor *t = io_tensor(ex, i, false, &id);
    if (!t || !data)
        return ts_fail(err, TS_EINVAL, "graph executor: get_output %d: %s", i,
                       t ? "the buffer is NULL" : "no such output");
    if (nbytes != ex->model->tensor_bytes[id])
        return ts_fail(err, TS_EINVAL, "graph executor: output %d (%s) has %llu bytes, not %zu", i,
                       rt_model_string(ex->model, t->name),
                       (unsigned long long)ex->model->tensor_bytes[id], nbytes);
    memcpy(data, ex->outputs[i], nbytes);
    return TS_OK;
}

/* The calls in order; on a failure, -1 with the runtime's error slot naming the call. */
static int32_t run_calls(TsGraphExecutor *ex)
{
    const RtModel *m = ex->model;
    for (uint32_t c = 0; c < m->header->num_calls; c++) {
        const TsModelCall *call = &m->calls[c];
        rt_clear_error();
        if (m->funcs[c](ex->values + call->first_arg, ex->type_codes + call->first_arg,
                        (int32_t)call->num_args) != 0) {
            char why[TS_ERROR_MESSAGE_MAX];
            snprintf(why, sizeof why, "%s", ts_runtime_last_error());
            rt_set_errorf("call %u (kernel %s) failed: %s", (unsigned)c,
                          rt_model_string(m, call->func), why[0] ? why : "no message");
            return -1;
        }
    }
    return 0;
}

TsStatus ts_graph_executor_run(TsGraphExecutor *ex, TsError *err)
{
    if (!ex)
        return ts_fail(err, TS_EINVAL, "graph executor: run: the executor is NULL");
    if (run_calls(ex) != 0)
        return ts_fail(err, TS_EDEVICE, "graph executor %s: %s", rt_module_path(ex->module),
                       ts_runtime_last_error());
    return TS_OK;
}

/* The whole graph as one packed function, for the time evaluator: args[0] is the
 * executor. */
static int32_t run_packed(const TsValue *args, const int32_t *type_codes, int32_t num_args)
{
    (void)type_codes;
    (void)num_args;
    return run_calls(args[0].v_handle);
}

TsStatus ts_graph_executor_time(TsGraphExecutor *ex, const TsTimeOptions *options, double *costs,
                                TsError *err)
{
    if (!ex || !costs)
        return ts_fail(err, TS_EINVAL, "graph executor: time: the %s is NULL",
                       ex ? "cost array" : "executor");
    TsValue arg = { .v_handle = ex };
    int32_t code = TS_ARG_HANDLE;
    TsStatus st = ts_time_evaluate(run_packed, &arg, &code, 1, options, costs, err);
    if (st != TS_OK && err) {
        char why[TS_ERROR_MESSAGE_MAX];
        snprintf(why, sizeof why, "%s", err->message);
        return ts_fail(err, st, "graph executor %s: %s", rt_module_path(ex->module), why);
    }
    return st;
}
