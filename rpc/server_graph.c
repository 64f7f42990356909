/* The device server's RunGraph request: a whole model's module (loaded with LoadModule)
 * described, or run by the graph executor on the inputs the client sent, its outputs
 * returned and its runs timed. The executor is made in the session process (that runs
 * no model code: it allocates and binds), the run and the timing in a forked child like
 * any kernel call (rpc_run_in_child), which writes the outputs into an anonymous shared
 * mapping the session then sends back. */
#define _GNU_SOURCE /* MAP_ANONYMOUS */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "rpc/server_internal.h"
#include "tessera/graph_executor.h"

typedef struct GraphWork {
    TsGraphExecutor *ex;
    const Tessera__Rpc__RunGraph *req;
    unsigned char *shared;
    TsTimeOptions time;
} GraphWork;

/* In the child: set the inputs, run, copy the outputs out, time. */
static void run_graph(void *ctx, ChildReport *report, double *costs)
{
    GraphWork *w = ctx;
    TsError err = { 0 };
    TsStatus st = TS_OK;
    for (size_t i = 0; st == TS_OK && i < w->req->n_inputs; i++)
        st = ts_graph_executor_set_input(w->ex, (int)i, w->req->inputs[i].data,
                                         w->req->inputs[i].len, &err);
    if (st == TS_OK)
        st = ts_graph_executor_run(w->ex, &err);
    size_t at = 0;
    for (int o = 0; st == TS_OK && o < ts_graph_executor_num_outputs(w->ex); o++) {
        size_t bytes = ts_graph_executor_output_bytes(w->ex, o);
        st = ts_graph_executor_get_output(w->ex, o, w->shared + at, bytes, &err);
        at += bytes;
    }
    if (st == TS_OK && w->time.repeat > 0)
        st = ts_graph_executor_time(w->ex, &w->time, costs, &err);
    report->status = st;
    if (st != TS_OK)
        memcpy(report->message, err.message, sizeof report->message);
}

/* One GraphTensor per input and output, in out->tensors. */
static TsStatus describe(const TsGraphExecutor *ex, RpcGraphReply *out, TsError *err)
{
    int ni = ts_graph_executor_num_inputs(ex), no = ts_graph_executor_num_outputs(ex);
    size_t n = (size_t)(ni + no) + 1;
    out->tensors = calloc(n, sizeof *out->tensors);
    out->tensor_ptrs = calloc(n, sizeof *out->tensor_ptrs);
    out->dtypes = calloc(n, sizeof *out->dtypes);
    out->shapes = calloc(n * TS_MODEL_MAX_DIMS, sizeof *out->shapes);
    if (!out->tensors || !out->tensor_ptrs || !out->dtypes || !out->shapes)
        return ts_fail(err, TS_ENOMEM, "run_graph: out of memory");
    for (int k = 0; k < ni + no; k++) {
        const char *name;
        TsDType dtype;
        int ndim;
        const int64_t *shape;
        TsStatus st = k < ni ? ts_graph_executor_input_info(ex, k, &name, &dtype, &ndim, &shape, err)
                             : ts_graph_executor_output_info(ex, k - ni, &name, &dtype, &ndim,
                                                             &shape, err);
        if (st != TS_OK)
            return st;
        Tessera__Rpc__GraphTensor *t = &out->tensors[k];
        tessera__rpc__graph_tensor__init(t);
        tessera__rpc__dtype__init(&out->dtypes[k]);
        out->dtypes[k].code = dtype.code;
        out->dtypes[k].bits = dtype.bits;
        out->dtypes[k].lanes = dtype.lanes;
        t->name = (char *)name;
        t->dtype = &out->dtypes[k];
        t->n_shape = (size_t)ndim;
        t->shape = out->shapes + (size_t)k * TS_MODEL_MAX_DIMS;
        memcpy(t->shape, shape, sizeof(int64_t) * (size_t)ndim);
        out->tensor_ptrs[k] = t;
    }
    out->reply.n_inputs = (size_t)ni;
    out->reply.inputs = out->tensor_ptrs;
    out->reply.n_outputs = (size_t)no;
    out->reply.outputs = out->tensor_ptrs + ni;
    return TS_OK;
}

/* Runs the graph in a child; the outputs come back in the shared mapping. */
static TsStatus run(RpcServerSession *s, TsGraphExecutor *ex, const Tessera__Rpc__RunGraph *req,
                    RpcGraphReply *out, TsError *err)
{
    int no = ts_graph_executor_num_outputs(ex);
    for (int o = 0; o < no; o++)
        out->shared_bytes += ts_graph_executor_output_bytes(ex, o);
    out->shared = mmap(NULL, out->shared_bytes ? out->shared_bytes : 1, PROT_READ | PROT_WRITE,
                       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    out->data = calloc((size_t)no + 1, sizeof *out->data);
    out->costs = calloc((size_t)(req->repeat > 0 ? req->repeat : 0) + 1, sizeof *out->costs);
    if (out->shared == MAP_FAILED || !out->data || !out->costs) {
        if (out->shared == MAP_FAILED)
            out->shared = NULL;
        return ts_fail(err, TS_ENOMEM, "run_graph: no memory for %zu bytes of outputs",
                       out->shared_bytes);
    }
    GraphWork w = { .ex = ex, .req = req, .shared = out->shared, .time = ts_time_options_default() };
    w.time.number = req->number > 0 ? req->number : 1;
    w.time.repeat = req->repeat;
    w.time.min_repeat_ms = req->min_repeat_ms;
    TsStatus st = rpc_run_in_child(s, "the model", rpc_time_limit(s, req->timeout_s), run_graph,
                                   &w, out->costs, req->repeat, err);
    if (st != TS_OK)
        return st;
    size_t at = 0;
    for (int o = 0; o < no; o++) {
        out->data[o].data = (uint8_t *)out->shared + at;
        out->data[o].len = ts_graph_executor_output_bytes(ex, o);
        at += out->data[o].len;
    }
    out->reply.n_output_data = (size_t)no;
    out->reply.output_data = out->data;
    out->reply.n_costs = (size_t)req->repeat;
    out->reply.costs = out->costs;
    return TS_OK;
}

TsStatus rpc_exec_graph(RpcServerSession *s, const Tessera__Rpc__RunGraph *req,
                        RpcGraphReply *out, TsError *err)
{
    memset(out, 0, sizeof *out);
    tessera__rpc__run_graph_reply__init(&out->reply);
    TsModule *module = rpc_find_module(s, req->module);
    if (!module)
        return ts_fail(err, TS_EINVAL, "run_graph: no module %llu in this session",
                       (unsigned long long)req->module);
    if (req->repeat < 0 || req->repeat > RPC_MAX_REPEAT)
        return ts_fail(err, TS_EINVAL, "run_graph: repeat %d is not in [0, %d]", (int)req->repeat,
                       RPC_MAX_REPEAT);
    TsGraphExecutor *ex;
    TsStatus st = ts_graph_executor_create(module, &ex, err);
    if (st != TS_OK)
        return st;
    st = describe(ex, out, err);
    if (st == TS_OK && req->n_inputs > 0 &&
        req->n_inputs != (size_t)ts_graph_executor_num_inputs(ex))
        st = ts_fail(err, TS_EINVAL, "run_graph: the model has %d inputs, %zu were sent",
                     ts_graph_executor_num_inputs(ex), req->n_inputs);
    if (st == TS_OK && req->n_inputs > 0)
        st = run(s, ex, req, out, err);
    /* The reply's names point into the module's strings, which outlive the executor. */
    ts_graph_executor_free(ex);
    return st;
}

void rpc_graph_reply_free(RpcGraphReply *out)
{
    free(out->tensors);
    free(out->tensor_ptrs);
    free(out->dtypes);
    free(out->shapes);
    free(out->data);
    free(out->costs);
    if (out->shared)
        munmap(out->shared, out->shared_bytes ? out->shared_bytes : 1);
    memset(out, 0, sizeof *out);
}
