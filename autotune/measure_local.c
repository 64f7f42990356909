/* The local runner: candidates measured on this machine in a measuring process, so that a
 * kernel that crashes or hangs costs one candidate and not the tuning run. The process
 * is forked once and persists: for each candidate it links the object file the builder
 * made with LLVM's JIT linker (ts_jit_load_object; about a millisecond, where linking a
 * shared object with the system's `cc -shared` costs some 20 ms of a core, and loading it
 * a dlopen), or loads a shared object (ts_module_load); fills the inputs with the
 * measurer's deterministic data (kept while the argument shapes stay the same), times the kernel
 * with ts_time_evaluate and, when asked, compares its outputs with the reference outputs the
 * measurer wrote to a file. A crash (reported with its signal) or a timeout (the process is killed)
 * ends it; the next candidate gets a fresh one.
 *
 * Sits after the builder: modules in, TsMeasureResults out. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "autotune/tune_internal.h"

struct TuneLocalRunner {
    pid_t pid;
    int fd; /* -1 when no measuring process runs */
};

/* ---- the measuring process ---- */

/* The arrays of the last argument spec, reused while candidates share it. */
typedef struct Arrays {
    bool valid;
    TuneArgSpec spec;
    TsNDArray *array[TUNE_MAX_ARGS];
} Arrays;

/* The reference outputs of the last reference file read. */
typedef struct Reference {
    char path[512];
    char *data;
    size_t size;
} Reference;

static void fail_result(TsMeasureResult *result, int error_no, const char *fmt, const char *what)
{
    result->error_no = error_no;
    result->num_costs = 0;
    tune_result_message(result, fmt, what);
}

static void free_arrays(Arrays *arrays)
{
    for (int i = 0; i < arrays->spec.num_args; i++)
        ts_ndarray_release(arrays->array[i]);
    memset(arrays, 0, sizeof *arrays);
}

/* Arrays for spec, inputs filled; reused when spec is the last one's. */
static TsStatus prepare_arrays(Arrays *arrays, const TuneArgSpec *spec, TsError *err)
{
    if (arrays->valid && memcmp(&arrays->spec, spec, sizeof *spec) == 0)
        return TS_OK;
    free_arrays(arrays);
    TsDevice cpu = { TS_DEVICE_CPU, 0 };
    for (int i = 0; i < spec->num_args; i++) {
        TsStatus status = ts_ndarray_empty(spec->ndim[i], spec->shape[i], spec->dtype[i], cpu,
                                           &arrays->array[i], err);
        if (status != TS_OK) {
            arrays->spec.num_args = i;
            free_arrays(arrays);
            return status;
        }
        if (i < spec->num_args - spec->num_outputs)
            tune_fill_input(spec, i, ts_ndarray_dltensor(arrays->array[i])->data);
    }
    arrays->spec = *spec;
    arrays->valid = true;
    return TS_OK;
}

static TsStatus load_reference(Reference *ref, const char *path, size_t size, TsError *err)
{
    if (ref->data && strcmp(ref->path, path) == 0 && ref->size == size)
        return TS_OK;
    free(ref->data);
    memset(ref, 0, sizeof *ref);
    FILE *f = fopen(path, "rb");
    char *data = f ? malloc(size ? size : 1) : NULL;
    size_t got = data ? fread(data, 1, size, f) : 0;
    if (f)
        fclose(f);
    if (!data || got != size) {
        free(data);
        return ts_fail(err, TS_EIO, "cannot read the reference outputs %s", path);
    }
    snprintf(ref->path, sizeof ref->path, "%s", path);
    ref->data = data;
    ref->size = size;
    return TS_OK;
}

/* Compares the outputs with the reference file: outputs, then their magnitudes. */
static void check_outputs(const TuneRunRequest *request, Arrays *arrays, Reference *ref,
                          TsMeasureResult *result)
{
    const TuneArgSpec *spec = &request->spec;
    size_t total = 0;
    for (int i = spec->num_args - spec->num_outputs; i < spec->num_args; i++)
        total += tune_arg_bytes(spec, i);
    TsError err;
    if (load_reference(ref, request->ref_path, 2 * total, &err) != TS_OK) {
        fail_result(result, TS_MEASURE_UNKNOWN_ERROR, "%s", err.message);
        return;
    }
    size_t offset = 0;
    for (int i = spec->num_args - spec->num_outputs; i < spec->num_args; i++) {
        const void *got = ts_ndarray_dltensor(arrays->array[i])->data;
        if (!tune_compare_output(spec, i, got, ref->data + offset, ref->data + total + offset,
                                 result->error_msg, sizeof result->error_msg)) {
            result->error_no = TS_MEASURE_WRONG_ANSWER;
            result->num_costs = 0;
            return;
        }
        offset += tune_arg_bytes(spec, i);
    }
}

static void call_kernel(const TuneRunRequest *request, TsPackedFunc func, Arrays *arrays,
                        TsMeasureResult *result)
{
    const TuneArgSpec *spec = &request->spec;
    TsValue args[TUNE_MAX_ARGS];
    int32_t codes[TUNE_MAX_ARGS];
    for (int i = 0; i < spec->num_args; i++) {
        args[i].v_handle = ts_ndarray_dltensor(arrays->array[i]);
        codes[i] = TS_ARG_TENSOR;
    }
    /* Outputs start as NaN (all ones), so a kernel that leaves one unwritten is caught. */
    for (int i = spec->num_args - spec->num_outputs; i < spec->num_args; i++)
        memset(((TsDLTensor *)args[i].v_handle)->data, 0xff, tune_arg_bytes(spec, i));
    TsError err;
    if (ts_time_evaluate(func, args, codes, spec->num_args, &request->time, result->costs, &err) !=
        TS_OK) {
        fail_result(result, TS_MEASURE_RUNTIME_ERROR, "%s", err.message);
        return;
    }
    result->num_costs = request->time.repeat;
}

/* A candidate's module, loaded: a JIT-linked object file or a shared object. */
typedef struct Loaded {
    TsJitModule *jit;
    TsModule *module;
} Loaded;

static void unload(Loaded *loaded)
{
    ts_jit_release(loaded->jit);
    ts_module_release(loaded->module);
}

/* Loads the request's module and finds its kernel (of a shared object, the first one
 * when none is named). */
static TsStatus load_kernel(const TuneRunRequest *request, Loaded *loaded, TsPackedFunc *func,
                            TsError *err)
{
    *func = NULL;
    TsStatus status;
    switch (request->kind) {
    case TUNE_MODULE_OBJECT:
        status = ts_jit_load_object(request->path, &loaded->jit, err);
        if (status == TS_OK)
            status = ts_jit_get_func(loaded->jit, request->kernel, func, err);
        return status;
    case TUNE_MODULE_SHARED:
        status = ts_module_load(request->path, &loaded->module, err);
        if (status == TS_OK && request->kernel[0])
            status = ts_module_get_func(loaded->module, request->kernel, func, err);
        else if (status == TS_OK && ts_module_num_funcs(loaded->module) > 0)
            *func = ts_module_func(loaded->module, 0)->func;
        if (status == TS_OK && !*func)
            status = ts_fail(err, TS_EPROTO, "%s has no kernel", request->path);
        return status;
    }
    return ts_fail(err, TS_EINVAL, "local runner: unknown module kind %d", (int)request->kind);
}

static void measure_one(const TuneRunRequest *request, Arrays *arrays, Reference *ref,
                        TsMeasureResult *result)
{
    memset(result, 0, sizeof *result);
    TsError err;
    Loaded loaded = { 0 };
    TsPackedFunc func = NULL;
    TsStatus status = load_kernel(request, &loaded, &func, &err);
    if (status == TS_OK)
        status = prepare_arrays(arrays, &request->spec, &err);
    if (status != TS_OK) {
        fail_result(result, TS_MEASURE_RUNTIME_ERROR, "%s", err.message);
        goto out_unload;
    }
    call_kernel(request, func, arrays, result);
    if (result->error_no == TS_MEASURE_OK && request->ref_path[0])
        check_outputs(request, arrays, ref, result);
    /* A kernel that failed may have written where it should not: fresh inputs next time. */
    if (result->error_no != TS_MEASURE_OK)
        free_arrays(arrays);
out_unload:
    unload(&loaded);
}

static void runner_main(int fd)
{
    TuneRunRequest request;
    TsMeasureResult result;
    Arrays arrays = { 0 };
    Reference ref = { 0 };
    while (tune_read_full(fd, &request, sizeof request) == 1) {
        measure_one(&request, &arrays, &ref, &result);
        if (tune_write_full(fd, &result, sizeof result) != 0)
            break;
    }
    _exit(0);
}

/* ---- the measurer's side ---- */

static TsStatus start(TuneLocalRunner *runner, TsError *err)
{
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
        return ts_fail(err, TS_EIO, "local runner: cannot create a socket pair: %s",
                       strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return ts_fail(err, TS_EIO, "local runner: cannot fork: %s", strerror(errno));
    }
    if (pid == 0) {
        close(fds[0]);
        tune_child_default_signals();
        tune_child_close_fds(fds[1]);
        runner_main(fds[1]);
    }
    close(fds[1]);
    runner->pid = pid;
    runner->fd = fds[0];
    return TS_OK;
}

/* Ends the measuring process (killed when kill_it) and says how it ended. */
static void stop(TuneLocalRunner *runner, bool kill_it, char *how, size_t size)
{
    int wstatus = 0;
    if (runner->fd < 0)
        return;
    close(runner->fd);
    runner->fd = -1;
    if (kill_it)
        kill(runner->pid, SIGKILL);
    waitpid(runner->pid, &wstatus, 0);
    if (!how)
        return;
    if (WIFSIGNALED(wstatus))
        snprintf(how, size, "the kernel crashed with signal %d (%s)", WTERMSIG(wstatus),
                 strsignal(WTERMSIG(wstatus)));
    else
        snprintf(how, size, "the measuring process exited with status %d",
                 WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1);
}

TsStatus tune_local_runner_create(TuneLocalRunner **out, TsError *err)
{
    TuneLocalRunner *runner = calloc(1, sizeof *runner);
    *out = NULL;
    if (!runner)
        return ts_fail(err, TS_ENOMEM, "local runner: out of memory");
    runner->fd = -1;
    TsStatus status = start(runner, err);
    if (status != TS_OK) {
        free(runner);
        return status;
    }
    *out = runner;
    return TS_OK;
}

void tune_local_runner_free(TuneLocalRunner *runner)
{
    if (!runner)
        return;
    stop(runner, true, NULL, 0);
    free(runner);
}

/* Waits up to timeout_s for the answer: 1 answered, 0 timed out, -1 the process ended. */
static int wait_answer(TuneLocalRunner *runner, double timeout_s, TsMeasureResult *result)
{
    double deadline = tune_now() + timeout_s;
    for (;;) {
        double left = deadline - tune_now();
        if (left <= 0)
            return 0;
        struct pollfd pfd = { .fd = runner->fd, .events = POLLIN };
        int ready = poll(&pfd, 1, (int)(left * 1000) + 1);
        if (ready < 0 && errno != EINTR)
            return -1;
        if (ready > 0)
            return tune_read_full(runner->fd, result, sizeof *result) == 1 ? 1 : -1;
    }
}

void tune_local_runner_run(TuneLocalRunner *runner, const TuneRunRequest *request, double timeout_s,
                           TsMeasureResult *result)
{
    TsError err;
    memset(result, 0, sizeof *result);
    if (runner->fd < 0 && start(runner, &err) != TS_OK) {
        fail_result(result, TS_MEASURE_UNKNOWN_ERROR, "%s", err.message);
        return;
    }
    int answered = tune_write_full(runner->fd, request, sizeof *request) == 0
                       ? wait_answer(runner, timeout_s, result)
                       : -1;
    if (answered == 1)
        return;
    char how[200];
    stop(runner, answered == 0, how, sizeof how);
    memset(result, 0, sizeof *result);
    if (answered == 0) {
        result->error_no = TS_MEASURE_RUN_TIMEOUT;
        tune_result_message(result, "run timed out after %g s (measuring process killed)",
                            timeout_s);
    } else {
        fail_result(result, TS_MEASURE_RUNTIME_ERROR, "%s", how);
    }
}

/* ---- the test hook ---- */

TsStatus tune_measure_module(const char *path, TuneModuleKind kind, const char *kernel,
                             const TuneArgSpec *spec, const TsMeasureOptions *options,
                             TsMeasureResult *result, TsError *err)
{
    TuneRunRequest request;
    memset(&request, 0, sizeof request);
    snprintf(request.path, sizeof request.path, "%s", path);
    request.kind = kind;
    snprintf(request.kernel, sizeof request.kernel, "%s", kernel ? kernel : "");
    request.spec = *spec;
    request.time = ts_time_options_default();
    request.time.number = options->number;
    request.time.repeat = options->repeat;
    request.time.min_repeat_ms = options->min_repeat_ms;
    request.time.cooldown_ms = options->cooldown_ms;
    request.time.flush_cache = options->flush_cache;
    TuneLocalRunner *runner;
    TsStatus status = tune_local_runner_create(&runner, err);
    if (status != TS_OK)
        return status;
    double start_time = tune_now();
    tune_local_runner_run(runner, &request, options->run_timeout_s, result);
    result->all_cost = tune_now() - start_time;
    result->timestamp = tune_unix_time();
    tune_local_runner_free(runner);
    return TS_OK;
}
