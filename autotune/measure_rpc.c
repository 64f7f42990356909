/* The RPC runner: candidates measured on a device through a device server (rpc.h),
 * reached directly or leased from a tracker by key. For each candidate it uploads the
 * shared object, loads it, allocates the arguments on the device and fills the inputs
 * with the measurer's deterministic data, times the kernel with the device's time
 * evaluator, and, when checking, copies the outputs back to compare them with the
 * reference computed on the host. Then the device unloads the module and removes its
 * file, so that a session's memory stays flat however many candidates it measures.
 *
 * Errors are classified by what still works afterwards: a call that timed out is
 * RUN_TIMEOUT; a failed call after which the session still answers is the kernel's
 * failure (RUNTIME_ERROR: the server runs kernels in a child process, so a crash is an
 * error reply); a session that no longer answers is DEVICE_LOST. The next candidate then
 * reconnects, once; if that fails the device is gone and every later candidate is
 * DEVICE_LOST without waiting.
 *
 * Sits after the builder, in place of the local runner. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autotune/tune_internal.h"
#include "tessera/rpc.h"

struct TuneRpcRunner {
    TsMeasureOptions options; /* its strings point into the fields below */
    char host[256];
    char key[128];
    char token[TS_RPC_MAX_TOKEN + 1];
    TsRpcSession *session;
    bool gone;
    int next_name;
};

static TsStatus connect_device(TuneRpcRunner *runner, TsError *err)
{
    const TsMeasureOptions *o = &runner->options;
    TsRpcConnectOptions copts = ts_rpc_connect_options_default();
    copts.token = o->token;
    copts.client_name = "tessera-measure";
    if (o->tracker_host)
        return ts_rpc_connect_tracker(o->tracker_host, o->tracker_port, o->key, o->priority,
                                      o->run_timeout_s * 10 + 60, &copts, &runner->session, err);
    return ts_rpc_connect(o->rpc_host, o->rpc_port, &copts, &runner->session, err);
}

TsStatus tune_rpc_runner_create(const TsMeasureOptions *options, TuneRpcRunner **out, TsError *err)
{
    *out = NULL;
    TuneRpcRunner *runner = calloc(1, sizeof *runner);
    if (!runner)
        return ts_fail(err, TS_ENOMEM, "rpc runner: out of memory");
    runner->options = *options;
    const char *host = options->tracker_host ? options->tracker_host : options->rpc_host;
    snprintf(runner->host, sizeof runner->host, "%s", host ? host : "");
    snprintf(runner->key, sizeof runner->key, "%s", options->key ? options->key : "");
    snprintf(runner->token, sizeof runner->token, "%s", options->token ? options->token : "");
    runner->options.rpc_host = options->rpc_host ? runner->host : NULL;
    runner->options.tracker_host = options->tracker_host ? runner->host : NULL;
    runner->options.key = options->key ? runner->key : NULL;
    runner->options.token = options->token ? runner->token : NULL;
    TsStatus status = connect_device(runner, err);
    if (status != TS_OK) {
        free(runner);
        return status;
    }
    *out = runner;
    return TS_OK;
}

void tune_rpc_runner_free(TuneRpcRunner *runner)
{
    if (!runner)
        return;
    ts_rpc_close(runner->session);
    free(runner);
}

/* The device arrays of one candidate. */
typedef struct DeviceArgs {
    int num;
    TsRpcArg args[TUNE_MAX_ARGS];
} DeviceArgs;

static void free_device_args(TuneRpcRunner *runner, DeviceArgs *dev)
{
    for (int i = 0; i < dev->num && runner->session; i++)
        ts_rpc_free_array(runner->session, dev->args[i].u.array, NULL);
    dev->num = 0;
}

/* Allocates the arguments on the device: inputs filled, outputs all ones (NaN). */
static TsStatus upload_args(TuneRpcRunner *runner, const TuneArgSpec *spec, DeviceArgs *dev,
                            TsError *err)
{
    TsStatus status = TS_OK;
    for (int i = 0; status == TS_OK && i < spec->num_args; i++) {
        size_t bytes = tune_arg_bytes(spec, i);
        char *data = malloc(bytes ? bytes : 1);
        if (!data)
            return ts_fail(err, TS_ENOMEM, "rpc runner: out of memory");
        if (i < spec->num_args - spec->num_outputs)
            tune_fill_input(spec, i, data);
        else
            memset(data, 0xff, bytes);
        dev->args[i].kind = TS_RPC_ARG_ARRAY;
        status = ts_rpc_alloc_array(runner->session, spec->ndim[i], spec->shape[i], spec->dtype[i],
                                    &dev->args[i].u.array, err);
        if (status == TS_OK) {
            dev->num = i + 1;
            status = ts_rpc_copy_to(runner->session, dev->args[i].u.array, data, bytes, err);
        }
        free(data);
    }
    return status;
}

/* Copies the outputs back and compares them with the reference. */
static TsStatus check_outputs(TuneRpcRunner *runner, const TuneArgSpec *spec, const DeviceArgs *dev,
                              const char *ref_outputs, const char *ref_magnitude,
                              TsMeasureResult *result, TsError *err)
{
    size_t offset = 0;
    for (int i = spec->num_args - spec->num_outputs; i < spec->num_args; i++) {
        size_t bytes = tune_arg_bytes(spec, i);
        char *got = malloc(bytes ? bytes : 1);
        if (!got)
            return ts_fail(err, TS_ENOMEM, "rpc runner: out of memory");
        TsStatus status = ts_rpc_copy_from(runner->session, dev->args[i].u.array, got, bytes, err);
        bool same = status == TS_OK &&
                    tune_compare_output(spec, i, got, ref_outputs + offset, ref_magnitude + offset,
                                        result->error_msg, sizeof result->error_msg);
        free(got);
        if (status != TS_OK)
            return status;
        if (!same) {
            result->error_no = TS_MEASURE_WRONG_ANSWER;
            result->num_costs = 0;
            return TS_OK;
        }
        offset += bytes;
    }
    return TS_OK;
}

static TsStatus measure_remote(TuneRpcRunner *runner, const TuneRunRequest *request,
                               const void *ref_outputs, const void *ref_magnitude, double timeout_s,
                               TsMeasureResult *result, TsError *err)
{
    char name[64];
    snprintf(name, sizeof name, "candidate-%d.so", runner->next_name++);
    TsRpcModule module = 0;
    DeviceArgs dev = { 0 };
    TsStatus status = ts_rpc_upload(runner->session, request->path, name, err);
    if (status == TS_OK)
        status = ts_rpc_load_module(runner->session, name, &module, err);
    bool loaded = status == TS_OK;
    if (status == TS_OK)
        status = upload_args(runner, &request->spec, &dev, err);
    if (status == TS_OK)
        status = ts_rpc_time(runner->session, module, request->kernel, dev.num, dev.args,
                             &request->time, timeout_s, result->costs, err);
    if (status == TS_OK) {
        result->num_costs = request->time.repeat;
        if (ref_outputs)
            status = check_outputs(runner, &request->spec, &dev, ref_outputs, ref_magnitude, result,
                                   err);
    }
    free_device_args(runner, &dev);
    /* The candidate is measured: the device forgets its code and its file, so that a
     * long tuning session's memory does not grow with every candidate. */
    if (runner->session && loaded)
        ts_rpc_unload_module(runner->session, module, NULL);
    if (runner->session)
        ts_rpc_remove(runner->session, name, NULL);
    return status;
}

/* Whether the session still answers. */
static bool session_alive(TuneRpcRunner *runner)
{
    TsRpcDeviceInfo info;
    return runner->session && ts_rpc_device_info(runner->session, &info, NULL) == TS_OK;
}

static void classify_failure(TuneRpcRunner *runner, TsStatus status, const TsError *err,
                             TsMeasureResult *result)
{
    bool alive = session_alive(runner);
    result->num_costs = 0;
    if (status == TS_ETIMEOUT)
        result->error_no = TS_MEASURE_RUN_TIMEOUT;
    else if (alive)
        result->error_no = TS_MEASURE_RUNTIME_ERROR;
    else
        result->error_no = TS_MEASURE_DEVICE_LOST;
    tune_result_message(result, "%s", err->message);
    if (!alive) {
        ts_rpc_close(runner->session);
        runner->session = NULL;
    }
}

/* A session for the next candidate: reconnects once after a loss. */
static bool ensure_session(TuneRpcRunner *runner, TsMeasureResult *result)
{
    if (runner->session)
        return true;
    TsError err;
    if (!runner->gone) {
        if (connect_device(runner, &err) == TS_OK)
            return true;
        runner->gone = true;
        tune_result_message(result,
                            "device lost; reconnecting "
                            "failed: %s",
                            err.message);
    } else {
        tune_result_message(result, "device lost (%s%s%s)", runner->host,
                            runner->key[0] ? ", key " : "", runner->key);
    }
    result->error_no = TS_MEASURE_DEVICE_LOST;
    return false;
}

void tune_rpc_runner_run(TuneRpcRunner *runner, const TuneRunRequest *request,
                         const void *ref_outputs, const void *ref_magnitude, double timeout_s,
                         TsMeasureResult *result)
{
    memset(result, 0, sizeof *result);
    if (!ensure_session(runner, result))
        return;
    TsError err;
    ts_error_clear(&err);
    TsStatus status =
        measure_remote(runner, request, ref_outputs, ref_magnitude, timeout_s, result, &err);
    if (status != TS_OK)
        classify_failure(runner, status, &err, result);
}

bool tune_rpc_runner_gone(const TuneRpcRunner *runner)
{
    return runner && runner->gone;
}
