/* The device server's untrusted work, each piece in a child forked from the session
 * process: probing that an uploaded module loads, and calling or timing a kernel. The
 * child reports its status, its message and any costs through a pipe; the session waits
 * up to the time limit, kills the child when it runs past it, and turns a child killed
 * by a signal into an error naming the signal. Kernels write their outputs into the
 * session's arrays, which are shared mappings, so the session sees them after the child
 * is gone. Also here: device_info, which describes this machine. */
#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#if defined(__aarch64__)
#include <sys/auxv.h>
#endif

#include "rpc/server_internal.h"


static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

static void child_main(RpcServerSession *s, int fd, ChildWork work, void *ctx, double *costs,
                       int num_costs)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    close(s->conn.fd);
    /* A crash must kill the child, so that the session can name the signal, even where
     * the host program (a sanitizer, say) installed handlers of its own. */
    static const int fatal[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP, SIGSYS };
    for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++)
        signal(fatal[i], SIG_DFL);
    ChildReport report = { .status = TS_OK, .num_costs = num_costs };
    work(ctx, &report, costs);
    write_all(fd, &report, sizeof report);
    if (report.status == TS_OK && num_costs > 0)
        write_all(fd, costs, (size_t)num_costs * sizeof *costs);
    close(fd);
    _exit(0);
}

/* Reads the child's report until the pipe closes or the deadline (< 0: none) passes.
 * Returns the bytes read, or -1 on timeout. */
static ssize_t read_report(int fd, char *buf, size_t size, double deadline)
{
    size_t got = 0;
    for (;;) {
        int timeout_ms = -1;
        if (deadline >= 0) {
            double left = deadline - now_s();
            if (left <= 0)
                return -1;
            timeout_ms = (int)(left * 1000.0) + 1;
        }
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int n = poll(&p, 1, timeout_ms);
        if (n < 0 && errno != EINTR)
            return (ssize_t)got;
        if (n <= 0)
            continue;
        char scratch[256];
        bool full = got >= size;
        ssize_t r = read(fd, full ? scratch : buf + got, full ? sizeof scratch : size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return (ssize_t)got;
        if (!full)
            got += (size_t)r;
    }
}

/* Waits for pid until the deadline; kills it then. Returns true when it ended in time. */
static bool await_child(pid_t pid, double deadline, int *status)
{
    for (;;) {
        pid_t r = waitpid(pid, status, deadline < 0 ? 0 : WNOHANG);
        if (r == pid)
            return true;
        if (r < 0 && errno != EINTR)
            return true;
        if (deadline >= 0 && now_s() >= deadline)
            break;
        if (deadline >= 0)
            poll(NULL, 0, 2);
    }
    kill(pid, SIGKILL);
    while (waitpid(pid, status, 0) < 0 && errno == EINTR)
        continue;
    return false;
}

/* How the child ended, as the session's error (or TS_OK with its report). */
static TsStatus judge_child(const char *what, double timeout_s, bool in_time, int status,
                            const ChildReport *report, ssize_t got, size_t want, TsError *err)
{
    char buf[32];
    if (!in_time)
        return ts_fail(err, TS_ETIMEOUT, "%s timed out after %g s", what, timeout_s);
    if (WIFSIGNALED(status))
        return ts_fail(err, TS_EDEVICE, "%s crashed with %s", what,
                       rpc_signal_name(WTERMSIG(status), buf));
    if (got < (ssize_t)sizeof *report || (report->status == TS_OK && (size_t)got < want))
        return ts_fail(err, TS_EDEVICE, "%s ended (exit status %d) without reporting a result",
                       what, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    if (report->status != TS_OK) {
        TsStatus st = report->status > 0 && report->status <= TS_EDEVICE
                          ? (TsStatus)report->status : TS_EDEVICE;
        char message[TS_ERROR_MESSAGE_MAX];
        memcpy(message, report->message, sizeof message);
        message[sizeof message - 1] = '\0';
        return ts_fail(err, st, "%s", message);
    }
    return TS_OK;
}

/* Runs work in a child with a time limit (timeout_s 0: none). what names the work in
 * messages ("kernel 'f'"). */
TsStatus rpc_run_in_child(RpcServerSession *s, const char *what, double timeout_s,
                          ChildWork work, void *ctx, double *costs, int num_costs, TsError *err)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return ts_fail(err, TS_EIO, "%s: cannot make a pipe: %s", what, strerror(errno));
    double deadline = timeout_s > 0 ? now_s() + timeout_s : -1.0;
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        child_main(s, fds[1], work, ctx, costs, num_costs);
    }
    close(fds[1]);
    if (pid < 0) {
        close(fds[0]);
        return ts_fail(err, TS_EIO, "%s: cannot fork: %s", what, strerror(errno));
    }
    size_t want = sizeof(ChildReport) + (size_t)num_costs * sizeof(double);
    char *buf = malloc(want);
    ssize_t got = buf ? read_report(fds[0], buf, want, deadline) : 0;
    close(fds[0]);
    int status = 0;
    bool in_time = got >= 0 && await_child(pid, deadline, &status);
    if (got < 0)
        await_child(pid, 0, &status); /* a deadline in the past: kill it now */
    ChildReport report = { .status = TS_EDEVICE };
    if (buf && got >= (ssize_t)sizeof report)
        memcpy(&report, buf, sizeof report);
    TsStatus st = judge_child(what, timeout_s, in_time, status, &report, got, want, err);
    if (st == TS_OK && num_costs > 0)
        memcpy(costs, buf + sizeof report, (size_t)num_costs * sizeof *costs);
    free(buf);
    if (!buf)
        return ts_fail(err, TS_ENOMEM, "%s: out of memory", what);
    return st;
}

/* ---- load probe ---- */

static void probe_load(void *ctx, ChildReport *report, double *costs)
{
    (void)costs;
    TsModule *module;
    TsError err;
    TsStatus st = ts_module_load(ctx, &module, &err);
    report->status = (int32_t)st;
    if (st != TS_OK)
        snprintf(report->message, sizeof report->message, "%s", err.message);
    else
        ts_module_release(module);
}

TsStatus rpc_exec_probe_load(RpcServerSession *s, const char *path, const char *name,
                             TsError *err)
{
    char what[RPC_MAX_FILE_NAME + 32];
    snprintf(what, sizeof what, "loading module '%s'", name);
    return rpc_run_in_child(s, what, s->options->call_timeout_s, probe_load, (void *)path, NULL, 0,
                        err);
}

/* ---- call and time ---- */

typedef struct CallWork {
    const char *func_name;
    TsPackedFunc func;
    TsValue *values;
    int32_t *codes;
    int32_t num_args;
    const Tessera__Rpc__TimeFunc *time; /* NULL: one call */
    TsDLTensor *tensors;
} CallWork;

static void call_kernel(void *ctx, ChildReport *report, double *costs)
{
    CallWork *w = ctx;
    if (!w->time) {
        ts_runtime_set_error(NULL);
        if (w->func(w->values, w->codes, w->num_args) != 0) {
            const char *why = ts_runtime_last_error();
            report->status = TS_EDEVICE;
            snprintf(report->message, sizeof report->message, "kernel '%.100s' failed: %.380s",
                     w->func_name, *why ? why : "(the kernel gave no message)");
        }
        return;
    }
    TsTimeOptions options = { .number = w->time->number,
                              .repeat = w->time->repeat,
                              .min_repeat_ms = w->time->min_repeat_ms,
                              .cooldown_ms = w->time->cooldown_ms,
                              .flush_cache = w->time->flush_cache };
    TsError err;
    TsStatus st = ts_time_evaluate(w->func, w->values, w->codes, w->num_args, &options, costs,
                                   &err);
    report->status = (int32_t)st;
    if (st != TS_OK)
        snprintf(report->message, sizeof report->message, "kernel '%.100s': %.380s", w->func_name,
                 err.message);
}

/* One argument of the call as the packed ABI takes it. */
static TsStatus build_arg(RpcServerSession *s, const Tessera__Rpc__Arg *arg, int i,
                          CallWork *w, TsError *err)
{
    switch (arg->value_case) {
    case TESSERA__RPC__ARG__VALUE_INT_VALUE:
        w->values[i].v_int64 = arg->int_value;
        w->codes[i] = TS_ARG_INT;
        return TS_OK;
    case TESSERA__RPC__ARG__VALUE_FLOAT_VALUE:
        w->values[i].v_float64 = arg->float_value;
        w->codes[i] = TS_ARG_FLOAT;
        return TS_OK;
    case TESSERA__RPC__ARG__VALUE_ARRAY: {
        uint64_t h = arg->array;
        if (h == 0 || h > s->num_arrays || !s->arrays[h - 1].live)
            return ts_fail(err, TS_EINVAL, "call %s: argument %d names no array of this "
                           "session (%llu)", w->func_name, i, (unsigned long long)h);
        RpcArray *a = &s->arrays[h - 1];
        w->tensors[i] = (TsDLTensor){ .data = a->data,
                                      .device = { TS_DEVICE_CPU, 0 },
                                      .ndim = a->ndim,
                                      .dtype = a->dtype,
                                      .shape = a->shape,
                                      .strides = NULL,
                                      .byte_offset = 0 };
        w->values[i].v_handle = &w->tensors[i];
        w->codes[i] = TS_ARG_TENSOR;
        return TS_OK;
    }
    default:
        return ts_fail(err, TS_EINVAL, "call %s: argument %d has no value", w->func_name, i);
    }
}

static TsStatus find_func(RpcServerSession *s, const Tessera__Rpc__Call *call,
                          TsPackedFunc *func, TsError *err)
{
    uint64_t h = call->module;
    if (h == 0 || h > s->num_modules || !s->modules[h - 1].module)
        return ts_fail(err, TS_EINVAL, "call %s: no module %llu in this session", call->func,
                       (unsigned long long)h);
    return ts_module_get_func(s->modules[h - 1].module, call->func, func, err);
}

/* The call's time limit: the request's, within the server's (0: none). */
double rpc_time_limit(const RpcServerSession *s, double timeout_s)
{
    double server = s->options->call_timeout_s;
    double asked = timeout_s > 0 ? timeout_s : 0.0;
    if (asked > 0 && (server <= 0 || asked < server))
        return asked;
    return server;
}

TsStatus rpc_exec_call(RpcServerSession *s, const Tessera__Rpc__Call *call,
                       const Tessera__Rpc__TimeFunc *time, double *costs, TsError *err)
{
    if (!call->func || call->n_args > RPC_MAX_CALL_ARGS)
        return ts_fail(err, TS_EINVAL, "call %s: %zu arguments, at most %d",
                       call->func ? call->func : "", call->n_args, RPC_MAX_CALL_ARGS);
    CallWork w = { .func_name = call->func, .num_args = (int32_t)call->n_args, .time = time };
    TsStatus st = find_func(s, call, &w.func, err);
    if (st != TS_OK)
        return st;
    size_t n = call->n_args ? call->n_args : 1;
    w.values = calloc(n, sizeof *w.values);
    w.codes = calloc(n, sizeof *w.codes);
    w.tensors = calloc(n, sizeof *w.tensors);
    if (!w.values || !w.codes || !w.tensors) {
        st = ts_fail(err, TS_ENOMEM, "call %s: out of memory for the arguments", call->func);
        goto out_free;
    }
    for (size_t i = 0; i < call->n_args && st == TS_OK; i++)
        st = build_arg(s, call->args[i], (int)i, &w, err);
    if (st != TS_OK)
        goto out_free;
    char what[160];
    snprintf(what, sizeof what, "kernel '%.120s'", call->func);
    st = rpc_run_in_child(s, what, rpc_time_limit(s, call->timeout_s), call_kernel, &w, costs,
                      time ? time->repeat : 0, err);

out_free:
    free(w.values);
    free(w.codes);
    free(w.tensors);
    return st;
}

/* ---- device_info ---- */

#if defined(__x86_64__)
#define DEVICE_TRIPLE "x86_64-linux-gnu"
#elif defined(__aarch64__)
#define DEVICE_TRIPLE "aarch64-linux-gnu"
#elif defined(__riscv) && __riscv_xlen == 64
#define DEVICE_TRIPLE "riscv64-linux-gnu"
#else
#define DEVICE_TRIPLE "unknown-linux-gnu"
#endif

/* The value of the first "key : value" line of /proc/cpuinfo, or NULL. */
static char *cpuinfo_value(const char *key)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return NULL;
    char line[8192];
    char *value = NULL;
    size_t key_len = strlen(key);
    while (!value && fgets(line, sizeof line, f)) {
        if (strncmp(line, key, key_len) != 0 || (line[key_len] != ' ' && line[key_len] != '\t' &&
                                                 line[key_len] != ':'))
            continue;
        char *colon = strchr(line, ':');
        if (!colon)
            continue;
        char *start = colon + 1 + strspn(colon + 1, " \t");
        start[strcspn(start, "\n")] = '\0';
        value = strdup(start);
    }
    fclose(f);
    return value;
}

static TsStatus add_feature(Tessera__Rpc__DeviceInfoReply *out, size_t *cap, const char *name,
                            size_t len, TsError *err)
{
    if (out->n_features == *cap) {
        size_t new_cap = *cap ? *cap * 2 : 32;
        char **grown = realloc(out->features, new_cap * sizeof *grown);
        if (!grown)
            return ts_fail(err, TS_ENOMEM, "device_info: out of memory");
        out->features = grown;
        *cap = new_cap;
    }
    char *copy = strndup(name, len);
    if (!copy)
        return ts_fail(err, TS_ENOMEM, "device_info: out of memory");
    out->features[out->n_features++] = copy;
    return TS_OK;
}

#if defined(__aarch64__)
/* The kernel's names of the AT_HWCAP bits (arch/arm64/include/uapi/asm/hwcap.h). */
static TsStatus hwcap_features(Tessera__Rpc__DeviceInfoReply *out, size_t *cap, TsError *err)
{
    static const char *const names[32] = {
        "fp",      "asimd", "evtstrm", "aes",      "pmull",  "sha1",   "sha2",  "crc32",
        "atomics", "fphp",  "asimdhp", "cpuid",    "asimdrdm", "jscvt", "fcma", "lrcpc",
        "dcpop",   "sha3",  "sm3",     "sm4",      "asimddp", "sha512", "sve",  "asimdfhm",
        "dit",     "uscat", "ilrcpc",  "flagm",    "ssbs",   "sb",     "paca",  "pacg",
    };
    unsigned long hwcap = getauxval(AT_HWCAP);
    TsStatus st = TS_OK;
    for (int bit = 0; bit < 32 && st == TS_OK; bit++)
        if (hwcap & (1ul << bit))
            st = add_feature(out, cap, names[bit], strlen(names[bit]), err);
    return st;
}
#else
/* The "flags" line of /proc/cpuinfo, word by word. */
static TsStatus flag_features(Tessera__Rpc__DeviceInfoReply *out, size_t *cap, TsError *err)
{
    char *flags = cpuinfo_value("flags");
    TsStatus st = TS_OK;
    for (const char *p = flags; p && *p && st == TS_OK;) {
        p += strspn(p, " \t");
        size_t len = strcspn(p, " \t");
        if (len)
            st = add_feature(out, cap, p, len, err);
        p += len;
    }
    free(flags);
    return st;
}
#endif

/* "model name" (x86), or the Arm implementer and part numbers, or "unknown". */
static char *cpu_name(void)
{
#if defined(__aarch64__)
    char *part = cpuinfo_value("CPU part");
    char *implementer = cpuinfo_value("CPU implementer");
    char *name = NULL;
    if (part) {
        size_t size = strlen(part) + (implementer ? strlen(implementer) : 1) + 48;
        name = malloc(size);
        if (name)
            snprintf(name, size, "Arm CPU part %s (implementer %s)", part,
                     implementer ? implementer : "?");
    }
    free(part);
    free(implementer);
#else
    char *name = cpuinfo_value("model name");
#endif
    return name ? name : strdup("unknown");
}

TsStatus rpc_device_info(const char *key, Tessera__Rpc__DeviceInfoReply *out, TsError *err)
{
    tessera__rpc__device_info_reply__init(out);
    out->triple = (char *)DEVICE_TRIPLE;
    out->device_key = (char *)(key ? key : "local");
    out->protocol_version = TS_RPC_PROTOCOL_VERSION;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    out->num_cores = cores > 0 ? (int32_t)cores : 1;
    out->cpu = cpu_name();
    size_t cap = 0;
#if defined(__aarch64__)
    TsStatus st = hwcap_features(out, &cap, err);
#else
    TsStatus st = flag_features(out, &cap, err);
#endif
    if (st == TS_OK && !out->cpu)
        st = ts_fail(err, TS_ENOMEM, "device_info: out of memory");
    if (st != TS_OK)
        rpc_device_info_free(out);
    return st;
}

void rpc_device_info_free(Tessera__Rpc__DeviceInfoReply *info)
{
    free(info->cpu);
    info->cpu = NULL;
    for (size_t i = 0; i < info->n_features; i++)
        free(info->features[i]);
    free(info->features);
    info->features = NULL;
    info->n_features = 0;
}
