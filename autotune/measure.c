/* The measurer: builds a batch of candidates in the builder's worker processes, then
 * measures each on the local runner (a measuring process on this machine, which links
 * each candidate's object file with LLVM's JIT linker) or on a device over RPC (shared
 * objects), and gives one TsMeasureResult per candidate, failures included. With
 * check_correctness, each candidate's outputs are compared with the reference: the same
 * expression under a fresh schedule, JIT-compiled for the host and run on the same
 * deterministic inputs; references are kept per argument shapes, since knobs may change
 * the layouts. Also the data helpers every runner shares (argument specs, inputs,
 * output comparison).
 *
 * By default a batch is built first and measured after, not both at once: on a two-core
 * machine a compilation next to a measurement would slow the kernel it measures. With
 * options.overlap, each candidate is measured as soon as it is built while the other
 * workers go on building: faster, noisier. The builder's
 * workers are forked when the measurer is created, before anything is JIT-compiled here.
 *
 * Sits between the tuner (indices in) and the log (results out). */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "autotune/tune_internal.h"

enum { MAX_REFERENCES = 16 };

/* The reference outputs of one argument spec: outputs, then their magnitudes. */
typedef struct ReferenceEntry {
    TuneArgSpec spec;
    char *data;
    size_t output_bytes;
    char path[512];
} ReferenceEntry;

struct TsMeasurer {
    const TsTuneTask *task;
    TsMeasureOptions options;
    char dir[256];
    TuneBuilder *builder;
    TuneLocalRunner *local;
    TuneRpcRunner *rpc;
    TsTarget *host;
    int num_refs;
    int next_ref;
    ReferenceEntry refs[MAX_REFERENCES];
};

/* ---- small things ---- */

int tune_write_full(int fd, const void *data, size_t size)
{
    const char *p = data;
    while (size > 0) {
        ssize_t n = send(fd, p, size, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        size -= (size_t)n;
    }
    return 0;
}

int tune_read_full(int fd, void *data, size_t size)
{
    char *p = data;
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, p + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n == 0 && got == 0 ? 0 : -1;
        got += (size_t)n;
    }
    return 1;
}

void tune_child_default_signals(void)
{
    static const int crash_signals[] = {
        SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP, SIGSYS
    };
    for (size_t i = 0; i < sizeof crash_signals / sizeof crash_signals[0]; i++)
        signal(crash_signals[i], SIG_DFL);
}

void tune_child_close_fds(int keep)
{
    int fds[1024], n = 0;
    DIR *d = opendir("/proc/self/fd");
    struct dirent *entry;
    while (d && n < 1024 && (entry = readdir(d))) {
        int fd = atoi(entry->d_name);
        if (fd > 2 && fd != keep && fd != dirfd(d))
            fds[n++] = fd;
    }
    if (d)
        closedir(d);
    for (int i = 0; i < n; i++)
        close(fds[i]);
}

double tune_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double tune_unix_time(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void tune_result_message(TsMeasureResult *result, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(result->error_msg, sizeof result->error_msg, fmt, ap);
    va_end(ap);
}

const char *ts_measure_error_name(int error_no)
{
    switch (error_no) {
    case TS_MEASURE_OK: return "ok";
    case TS_MEASURE_INSTANTIATION_ERROR: return "instantiation error";
    case TS_MEASURE_BUILD_ERROR: return "build error";
    case TS_MEASURE_RUNTIME_ERROR: return "runtime error";
    case TS_MEASURE_WRONG_ANSWER: return "wrong answer";
    case TS_MEASURE_BUILD_TIMEOUT: return "build timeout";
    case TS_MEASURE_RUN_TIMEOUT: return "run timeout";
    case TS_MEASURE_UNKNOWN_ERROR: return "unknown error";
    case TS_MEASURE_DEVICE_LOST: return "device lost";
    }
    return "unknown error number";
}

double ts_measure_mean_cost(const TsMeasureResult *result)
{
    if (!result || result->error_no != TS_MEASURE_OK || result->num_costs < 1)
        return INFINITY;
    double sum = 0;
    for (int i = 0; i < result->num_costs && i < TS_MEASURE_MAX_REPEAT; i++)
        sum += result->costs[i];
    return sum / result->num_costs;
}

TsMeasureOptions ts_measure_options_default(void)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    TsMeasureOptions o;
    memset(&o, 0, sizeof o);
    o.number = 1;
    o.repeat = 3;
    o.build_timeout_s = 30;
    o.run_timeout_s = 10;
    o.n_parallel = cores < 1 ? 1 : cores > TUNE_MAX_WORKERS ? TUNE_MAX_WORKERS : (int)cores;
    return o;
}

/* ---- argument specs and data ---- */

TsStatus tune_arg_spec(const TsLoweredFunc *func, int num_outputs, TuneArgSpec *out, TsError *err)
{
    memset(out, 0, sizeof *out);
    int n = ts_lowered_num_args(func);
    if (n > TUNE_MAX_ARGS || num_outputs < 1 || num_outputs > n)
        return ts_fail(err, TS_EINVAL,
                       "kernel with %d arguments (%d outputs): the measurer "
                       "takes 1 to %d",
                       n, num_outputs, TUNE_MAX_ARGS);
    out->num_args = n;
    out->num_outputs = num_outputs;
    for (int i = 0; i < n; i++) {
        const TsTensor *t = ts_lowered_arg(func, i);
        out->ndim[i] = ts_tensor_ndim(t);
        out->dtype[i] = ts_tensor_dtype(t);
        if (out->ndim[i] > TUNE_MAX_DIMS)
            return ts_fail(err, TS_EINVAL, "argument %s has %d dimensions (at most %d)",
                           ts_tensor_name(t), out->ndim[i], TUNE_MAX_DIMS);
        for (int d = 0; d < out->ndim[i]; d++) {
            out->shape[i][d] = ts_tensor_dim(t, d);
            if (out->shape[i][d] < 0)
                return ts_fail(err, TS_EINVAL, "argument %s has a shape that is not constant",
                               ts_tensor_name(t));
        }
    }
    return TS_OK;
}

size_t tune_arg_bytes(const TuneArgSpec *spec, int i)
{
    size_t n = ts_dtype_bytes(spec->dtype[i]);
    for (int d = 0; d < spec->ndim[i]; d++)
        n *= (size_t)spec->shape[i][d];
    return n;
}

static size_t arg_elements(const TuneArgSpec *spec, int i)
{
    return tune_arg_bytes(spec, i) / ts_dtype_bytes(spec->dtype[i]);
}

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* The IEEE half of k / 1024 for |k| < 1024 (exact: 11 significant bits suffice). */
static uint16_t half_of_fraction(int k)
{
    if (k == 0)
        return 0;
    uint16_t sign = k < 0 ? 0x8000 : 0;
    unsigned m = (unsigned)(k < 0 ? -k : k);
    int e = 0;
    while ((m >> e) > 1)
        e++;
    /* value = m * 2^-10 = 1.f * 2^(e - 10) */
    unsigned mantissa = (m << (10 - e)) & 0x3ff;
    return (uint16_t)(sign | (unsigned)(e - 10 + 15) << 10 | mantissa);
}

static double half_to_double(uint16_t h)
{
    int e = (h >> 10) & 0x1f;
    double m = h & 0x3ff;
    double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(m + 1024, e - 25);
    return (h & 0x8000) ? -v : v;
}

void tune_fill_input(const TuneArgSpec *spec, int i, void *data)
{
    uint64_t state = UINT64_C(0x7E55E7A) + (uint64_t)i * UINT64_C(0x100000001B3);
    TsDType dt = spec->dtype[i];
    size_t n = arg_elements(spec, i);
    for (size_t j = 0; j < n; j++) {
        uint64_t r = splitmix64(&state);
        double unit = (double)(r >> 11) * (2.0 / 9007199254740992.0) - 1.0; /* [-1, 1) */
        if (dt.code == TS_TYPE_BFLOAT)
            ((uint16_t *)data)[j] = ts_float_to_bfloat16((float)unit);
        else if (dt.code == TS_TYPE_FLOAT && dt.bits == 16)
            ((uint16_t *)data)[j] = half_of_fraction((int)(r % 2047) - 1023);
        else if (dt.code == TS_TYPE_FLOAT && dt.bits == 32)
            ((float *)data)[j] = (float)unit;
        else if (dt.code == TS_TYPE_FLOAT)
            ((double *)data)[j] = unit;
        else if (dt.code == TS_TYPE_BOOL)
            ((uint8_t *)data)[j] = (uint8_t)(r & 1);
        else if (dt.bits == 8)
            ((uint8_t *)data)[j] = (uint8_t)r;
        else if (dt.bits == 16)
            ((uint16_t *)data)[j] = (uint16_t)r;
        else if (dt.bits == 32)
            ((int32_t *)data)[j] = (int32_t)(r % 2001) - 1000;
        else
            ((int64_t *)data)[j] = (int64_t)(r % 2001) - 1000;
    }
}

/* |x| of float data in place. */
static void make_magnitude(const TuneArgSpec *spec, int i, void *data)
{
    TsDType dt = spec->dtype[i];
    size_t n = arg_elements(spec, i);
    for (size_t j = 0; ts_dtype_is_float(dt) && j < n; j++) {
        if (dt.bits == 16) /* float16 and bfloat16 both keep the sign in the top bit */
            ((uint16_t *)data)[j] &= 0x7fff;
        else if (dt.bits == 32)
            ((float *)data)[j] = fabsf(((float *)data)[j]);
        else
            ((double *)data)[j] = fabs(((double *)data)[j]);
    }
}

static double float_at(TsDType dt, const void *data, size_t j)
{
    if (ts_dtype_is_bfloat(dt))
        return ts_bfloat16_to_float(((const uint16_t *)data)[j]);
    if (dt.bits == 16)
        return half_to_double(((const uint16_t *)data)[j]);
    return dt.bits == 32 ? (double)((const float *)data)[j] : ((const double *)data)[j];
}

bool tune_compare_output(const TuneArgSpec *spec, int i, const void *got, const void *want,
                         const void *magnitude, char *message, size_t size)
{
    TsDType dt = spec->dtype[i];
    size_t n = arg_elements(spec, i), width = ts_dtype_bytes(dt);
    double rtol = ts_dtype_is_bfloat(dt) ? 1.6e-2 : dt.bits == 16 ? 2e-3
                  : dt.bits == 32            ? 1e-4
                                             : 1e-10;
    for (size_t j = 0; j < n; j++) {
        if (!ts_dtype_is_float(dt)) {
            if (memcmp((const char *)got + j * width, (const char *)want + j * width, width) == 0)
                continue;
            snprintf(message, size,
                     "output %d element %zu differs from the reference (exact "
                     "comparison)",
                     i, j);
            return false;
        }
        double a = float_at(dt, got, j), b = float_at(dt, want, j);
        double bound = rtol * (1.0 + fabs(float_at(dt, magnitude, j)));
        if (a == b || (isnan(a) && isnan(b)) || fabs(a - b) <= bound)
            continue;
        snprintf(message, size, "output %d element %zu: got %.9g, want %.9g (|diff| %.3g > %.3g)",
                 i, j, a, b, fabs(a - b), bound);
        return false;
    }
    return true;
}

/* ---- references ---- */

/* Calls the reference kernel on inputs (their magnitudes when magnitude) into out. */
static TsStatus run_reference(TsPackedFunc func, const TuneArgSpec *spec, void **buffers,
                              bool magnitude, char *out, TsError *err)
{
    TsDLTensor tensors[TUNE_MAX_ARGS];
    TsValue args[TUNE_MAX_ARGS];
    int32_t codes[TUNE_MAX_ARGS];
    int num_inputs = spec->num_args - spec->num_outputs;
    for (int i = 0; i < spec->num_args; i++) {
        if (i < num_inputs)
            tune_fill_input(spec, i, buffers[i]);
        if (i < num_inputs && magnitude)
            make_magnitude(spec, i, buffers[i]);
        tensors[i] = (TsDLTensor){ buffers[i],
                                   { TS_DEVICE_CPU, 0 },
                                   spec->ndim[i],
                                   spec->dtype[i],
                                   (int64_t *)spec->shape[i],
                                   NULL,
                                   0 };
        args[i].v_handle = &tensors[i];
        codes[i] = TS_ARG_TENSOR;
    }
    if (func(args, codes, spec->num_args) != 0)
        return ts_fail(err, TS_EDEVICE, "the reference kernel failed: %s", ts_runtime_last_error());
    for (int i = num_inputs; i < spec->num_args; i++) {
        memcpy(out, buffers[i], tune_arg_bytes(spec, i));
        out += tune_arg_bytes(spec, i);
    }
    return TS_OK;
}

static TsStatus write_reference(ReferenceEntry *ref, TsError *err)
{
    FILE *f = fopen(ref->path, "wb");
    size_t wrote = f ? fwrite(ref->data, 1, 2 * ref->output_bytes, f) : 0;
    if (!f || fclose(f) != 0 || wrote != 2 * ref->output_bytes)
        return ts_fail(err, TS_EIO, "cannot write the reference outputs %s: %s", ref->path,
                       strerror(errno));
    return TS_OK;
}

/* Computes the reference of candidate index, whose arguments are spec, into ref. */
static TsStatus compute_reference(TsMeasurer *m, int64_t index, const TuneArgSpec *spec,
                                  ReferenceEntry *ref, TsError *err)
{
    void *buffers[TUNE_MAX_ARGS] = { 0 };
    TsJitModule *jit = NULL;
    TsPackedFunc func;
    TsLoweredFunc *lowered;
    TuneArgSpec ref_spec;
    TsArena *arena = ts_arena_create();
    TsStatus status = arena ? TS_OK : ts_fail(err, TS_ENOMEM, "reference: out of memory");
    if (status == TS_OK)
        status = ts_tune_task_lower(m->task, index, true, arena, &lowered, err);
    if (status == TS_OK)
        status = tune_arg_spec(lowered, spec->num_outputs, &ref_spec, err);
    if (status == TS_OK && memcmp(&ref_spec, spec, sizeof *spec) != 0)
        status = ts_fail(err, TS_EINVAL,
                         "the reference of %s index %lld has other arguments "
                         "than the candidate",
                         ts_tune_task_name(m->task), (long long)index);
    if (status == TS_OK)
        status = ts_build_jit(1, (const TsLoweredFunc *const *)&lowered, m->host, &jit, err);
    if (status == TS_OK)
        status = ts_jit_get_func(jit, tune_task_kernel_name(m->task), &func, err);
    ref->spec = *spec;
    ref->output_bytes = 0;
    for (int i = spec->num_args - spec->num_outputs; i < spec->num_args; i++)
        ref->output_bytes += tune_arg_bytes(spec, i);
    ref->data = status == TS_OK ? malloc(2 * ref->output_bytes + 1) : NULL;
    for (int i = 0; status == TS_OK && i < spec->num_args; i++)
        buffers[i] = aligned_alloc(64, (tune_arg_bytes(spec, i) + 64) / 64 * 64);
    for (int i = 0; status == TS_OK && i < spec->num_args; i++)
        if (!buffers[i] || !ref->data)
            status = ts_fail(err, TS_ENOMEM, "reference: out of memory");
    if (status == TS_OK)
        status = run_reference(func, spec, buffers, false, ref->data, err);
    if (status == TS_OK)
        status = run_reference(func, spec, buffers, true, ref->data + ref->output_bytes, err);
    if (status == TS_OK)
        status = write_reference(ref, err);
    for (int i = 0; i < spec->num_args; i++)
        free(buffers[i]);
    ts_jit_release(jit);
    ts_arena_destroy(arena);
    return status;
}

/* The reference for spec, computed on first use (from candidate index). */
static TsStatus find_reference(TsMeasurer *m, int64_t index, const TuneArgSpec *spec,
                               const ReferenceEntry **out, TsError *err)
{
    for (int i = 0; i < m->num_refs; i++) {
        if (memcmp(&m->refs[i].spec, spec, sizeof *spec) == 0) {
            *out = &m->refs[i];
            return TS_OK;
        }
    }
    int slot = m->num_refs < MAX_REFERENCES ? m->num_refs++ : (int)(index % MAX_REFERENCES);
    ReferenceEntry *ref = &m->refs[slot];
    free(ref->data);
    if (ref->path[0])
        unlink(ref->path);
    memset(ref, 0, sizeof *ref);
    /* A new name for every reference: the measuring process keeps the last one it read
     * by name. */
    snprintf(ref->path, sizeof ref->path, "%s/reference-%d.bin", m->dir, m->next_ref++);
    TsStatus status = compute_reference(m, index, spec, ref, err);
    if (status != TS_OK) {
        free(ref->data);
        memset(ref, 0, sizeof *ref); /* all-zero spec: never matches a real one */
        return status;
    }
    *out = ref;
    return TS_OK;
}

/* ---- the measurer ---- */

static TsStatus check_options(const TsMeasureOptions *o, TsError *err)
{
    if (o->number < 1 || o->repeat < 1 || o->repeat > TS_MEASURE_MAX_REPEAT)
        return ts_fail(err, TS_EINVAL,
                       "measure options: number %d must be >= 1 and repeat %d "
                       "in 1..%d",
                       o->number, o->repeat, TS_MEASURE_MAX_REPEAT);
    if (o->n_parallel > TUNE_MAX_WORKERS)
        return ts_fail(err, TS_EINVAL,
                       "measure options: n_parallel %d is more than %d build "
                       "workers",
                       o->n_parallel, TUNE_MAX_WORKERS);
    if (!(o->build_timeout_s > 0) || !(o->run_timeout_s > 0))
        return ts_fail(err, TS_EINVAL,
                       "measure options: build_timeout_s %g and run_timeout_s "
                       "%g must be > 0",
                       o->build_timeout_s, o->run_timeout_s);
    if (o->min_repeat_ms < 0 || o->cooldown_ms < 0)
        return ts_fail(err, TS_EINVAL,
                       "measure options: min_repeat_ms %g and cooldown_ms %g "
                       "must be >= 0",
                       o->min_repeat_ms, o->cooldown_ms);
    if ((o->rpc_host && o->tracker_host) || (o->tracker_host && !o->key))
        return ts_fail(err, TS_EINVAL,
                       "measure options: give rpc_host or tracker_host with a "
                       "key, not both");
    return TS_OK;
}

static TsStatus make_temp_dir(TsMeasurer *m, TsError *err)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(m->dir, sizeof m->dir, "%s/tessera-measure-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (!mkdtemp(m->dir)) {
        TsStatus status =
            ts_fail(err, TS_EIO, "measurer: cannot create %s: %s", m->dir, strerror(errno));
        m->dir[0] = '\0';
        return status;
    }
    return TS_OK;
}

/* Removes the measurer's directory with whatever a killed worker left in it. */
static void remove_temp_dir(const char *dir)
{
    DIR *d = dir[0] ? opendir(dir) : NULL;
    struct dirent *entry;
    char path[512];
    while (d && (entry = readdir(d))) {
        if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%.200s", dir, entry->d_name);
        unlink(path);
    }
    if (d) {
        closedir(d);
        rmdir(dir);
    }
}

static TsStatus measurer_init(TsMeasurer *m, TsError *err)
{
    bool remote = m->options.rpc_host || m->options.tracker_host;
    const TsTarget *target = tune_task_parsed_target(m->task);
    if (!remote && !ts_target_is_host(target))
        return ts_fail(err, TS_EINVAL,
                       "measure %s: the target '%s' is not this machine's; "
                       "measure it on a device (rpc_host or tracker_host)",
                       ts_tune_task_name(m->task), ts_tune_task_target(m->task));
    TsStatus status = make_temp_dir(m, err);
    /* Workers first: forked before this process JITs anything or talks to a device. */
    if (status == TS_OK)
        status = tune_builder_create(
            m->task, target, remote ? TUNE_MODULE_SHARED : TUNE_MODULE_OBJECT,
            m->options.n_parallel, m->options.build_timeout_s, m->dir, &m->builder, err);
    if (status == TS_OK && !remote)
        status = tune_local_runner_create(&m->local, err);
    if (status == TS_OK && remote)
        status = tune_rpc_runner_create(&m->options, &m->rpc, err);
    if (status == TS_OK && m->options.check_correctness)
        status = ts_target_parse("llvm", &m->host, err);
    return status;
}

TsStatus ts_measurer_create(const TsTuneTask *task, const TsMeasureOptions *options,
                            TsMeasurer **out, TsError *err)
{
    if (!out)
        return ts_fail(err, TS_EINVAL, "measurer: out must not be NULL");
    *out = NULL;
    if (!task || !options)
        return ts_fail(err, TS_EINVAL, "measurer: task and options must not be NULL");
    TsStatus status = check_options(options, err);
    if (status != TS_OK)
        return status;
    TsMeasurer *m = calloc(1, sizeof *m);
    if (!m)
        return ts_fail(err, TS_ENOMEM, "measurer: out of memory");
    m->task = task;
    m->options = *options;
    if (m->options.n_parallel < 1)
        m->options.n_parallel = ts_measure_options_default().n_parallel;
    status = measurer_init(m, err);
    if (status != TS_OK) {
        ts_measurer_free(m);
        return status;
    }
    *out = m;
    return TS_OK;
}

void ts_measurer_free(TsMeasurer *m)
{
    if (!m)
        return;
    tune_builder_free(m->builder);
    tune_local_runner_free(m->local);
    tune_rpc_runner_free(m->rpc);
    ts_target_free(m->host);
    for (int i = 0; i < m->num_refs; i++) {
        free(m->refs[i].data);
        if (m->refs[i].path[0])
            unlink(m->refs[i].path);
    }
    remove_temp_dir(m->dir);
    free(m);
}

static TsTimeOptions time_options(const TsMeasureOptions *o)
{
    TsTimeOptions t = ts_time_options_default();
    t.number = o->number;
    t.repeat = o->repeat;
    t.min_repeat_ms = o->min_repeat_ms;
    t.cooldown_ms = o->cooldown_ms;
    t.flush_cache = o->flush_cache;
    return t;
}

/* Measures one built candidate into result. */
static void run_candidate(TsMeasurer *m, const TuneBuildResult *built, TsMeasureResult *result)
{
    TuneRunRequest request;
    memset(&request, 0, sizeof request);
    snprintf(request.path, sizeof request.path, "%s", built->path);
    request.kind = m->local ? TUNE_MODULE_OBJECT : TUNE_MODULE_SHARED;
    snprintf(request.kernel, sizeof request.kernel, "%s", tune_task_kernel_name(m->task));
    request.spec = built->spec;
    request.time = time_options(&m->options);
    const ReferenceEntry *ref = NULL;
    if (m->options.check_correctness) {
        TsError err;
        if (find_reference(m, built->index, &built->spec, &ref, &err) != TS_OK) {
            memset(result, 0, sizeof *result);
            result->error_no = TS_MEASURE_UNKNOWN_ERROR;
            tune_result_message(result, "no reference to check against: %s", err.message);
            return;
        }
        snprintf(request.ref_path, sizeof request.ref_path, "%s", ref->path);
    }
    if (m->local)
        tune_local_runner_run(m->local, &request, m->options.run_timeout_s, result);
    else
        tune_rpc_runner_run(m->rpc, &request, ref ? ref->data : NULL,
                            ref ? ref->data + ref->output_bytes : NULL, m->options.run_timeout_s,
                            result);
}

/* Measures built candidate i (or gives its build error) into results[i]. */
static void finish_candidate(TsMeasurer *m, const TuneBuildResult *built, TsMeasureResult *result)
{
    double start = tune_now();
    if (built->error_no == TS_MEASURE_OK) {
        run_candidate(m, built, result);
    } else {
        memset(result, 0, sizeof *result);
        result->error_no = built->error_no;
        memcpy(result->error_msg, built->error_msg, sizeof result->error_msg);
    }
    result->all_cost = built->build_s + (tune_now() - start);
    result->timestamp = tune_unix_time();
    if (built->path[0])
        unlink(built->path);
}

typedef struct Overlap {
    TsMeasurer *m;
    TsMeasureResult *results;
} Overlap;

/* With options.overlap: each candidate measured as soon as its worker answers. That
 * worker waits meanwhile, so at most n_parallel - 1 builds run next to the measurement. */
static void measure_built(int i, TuneBuildResult *built, void *user)
{
    Overlap *o = user;
    finish_candidate(o->m, built, &o->results[i]);
}

TsStatus ts_measurer_run(TsMeasurer *m, int n, const int64_t *indices, TsMeasureResult *results,
                         TsError *err)
{
    if (!m || n < 0 || (n > 0 && (!indices || !results)))
        return ts_fail(err, TS_EINVAL, "measurer run: bad arguments");
    if (n == 0)
        return TS_OK;
    TuneBuildResult *built = calloc((size_t)n, sizeof *built);
    if (!built)
        return ts_fail(err, TS_ENOMEM, "measurer run: out of memory");
    Overlap overlap = { m, results };
    TsStatus status = tune_builder_run(m->builder, n, indices, built,
                                       m->options.overlap ? measure_built : NULL, &overlap, err);
    for (int i = 0; status == TS_OK && !m->options.overlap && i < n; i++)
        finish_candidate(m, &built[i], &results[i]);
    free(built);
    if (status == TS_OK && tune_rpc_runner_gone(m->rpc))
        status = ts_fail(err, TS_EDEVICE,
                         "measure %s: the device is lost and reconnecting "
                         "failed",
                         ts_tune_task_name(m->task));
    return status;
}
