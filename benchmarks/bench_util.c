/* What the benchmarks share: see bench_util.h. */
#include "benchmarks/bench_util.h"

#include <errno.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cblas.h>

extern char **environ;

const char *const bench_coretypes[BENCH_NUM_CORETYPES] = { "COOPERLAKE", "SKYLAKEX", "HASWELL" };

/* ---- costs ---- */

void bench_costs_add(BenchCosts *costs, const double *values, int count)
{
    for (int i = 0; i < count && costs->count < BENCH_MAX_COSTS; i++)
        costs->values[costs->count++] = values[i];
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_gflops(const BenchCosts *costs, double flop)
{
    double median = bench_median(costs);
    return median > 0 ? flop / median * 1e-9 : 0;
}

double bench_best_gflops(const BenchCosts series[BENCH_NUM_CORETYPES], double flop, int *best)
{
    double top = 0.0;
    *best = 0;
    for (int k = 0; k < BENCH_NUM_CORETYPES; k++) {
        double g = bench_gflops(&series[k], flop);
        if (g > top) {
            top = g;
            *best = k;
        }
    }
    return top;
}

int bench_rounds(int default_rounds)
{
    const char *text = getenv("BENCH_ROUNDS");
    int rounds = text ? atoi(text) : default_rounds;
    return rounds >= 1 ? rounds : default_rounds;
}

double bench_median(const BenchCosts *costs)
{
    if (costs->count == 0)
        return 0.0;
    double sorted[BENCH_MAX_COSTS];
    memcpy(sorted, costs->values, (size_t)costs->count * sizeof sorted[0]);
    qsort(sorted, (size_t)costs->count, sizeof sorted[0], compare_doubles);
    int mid = costs->count / 2;
    return costs->count % 2 ? sorted[mid] : 0.5 * (sorted[mid - 1] + sorted[mid]);
}

TsTimeOptions bench_time_options(int repeat, double min_repeat_ms)
{
    TsTimeOptions options = ts_time_options_default();
    options.repeat = repeat;
    options.min_repeat_ms = min_repeat_ms;
    return options;
}

TsStatus bench_time(TsPackedFunc func, const TsValue *args, const int32_t *type_codes,
                    int32_t num_args, const TsTimeOptions *options, BenchCosts *costs, TsError *err)
{
    double values[BENCH_MAX_COSTS];
    if (options->repeat > BENCH_MAX_COSTS)
        return ts_fail(err, TS_EINVAL, "bench_time: %d repeats (at most %d)", options->repeat,
                       BENCH_MAX_COSTS);
    TsStatus status = ts_time_evaluate(func, args, type_codes, num_args, options, values, err);
    if (status == TS_OK)
        bench_costs_add(costs, values, options->repeat);
    return status;
}

/* ---- the OpenBLAS children ---- */

/* environ with OPENBLAS_CORETYPE and OPENBLAS_NUM_THREADS replaced; the strings live in
 * the two buffers and environ. NULL when out of memory. */
static char **child_environment(char *coretype_var, char *threads_var)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = calloc(n + 3, sizeof *env);
    if (!env)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "OPENBLAS_CORETYPE=", 18) != 0 &&
            strncmp(environ[i], "OPENBLAS_NUM_THREADS=", 21) != 0)
            env[k++] = environ[i];
    env[k++] = coretype_var;
    env[k++] = threads_var;
    env[k] = NULL;
    return env;
}

/* Reads all of fd into buf (NUL-terminated, cut at size - 1). */
static void read_all(int fd, char *buf, size_t size)
{
    size_t used = 0;
    for (;;) {
        char scratch[256];
        ssize_t got = read(fd, used + 1 < size ? buf + used : scratch,
                           used + 1 < size ? size - 1 - used : sizeof scratch);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        if (used + 1 < size)
            used += (size_t)got;
    }
    buf[used] = '\0';
}

/* Appends the comma-separated costs after key= in text; false when there are none or
 * one is not a positive number. */
static bool parse_costs(const char *text, const char *key, BenchCosts *costs)
{
    const char *p = strstr(text, key);
    if (!p)
        return false;
    p += strlen(key);
    int before = costs->count;
    while (*p && *p != ' ' && *p != '\n') {
        char *end;
        double value = strtod(p, &end);
        if (end == p || !(value > 0.0))
            return false;
        bench_costs_add(costs, &value, 1);
        p = *end == ',' ? end + 1 : end;
    }
    return costs->count > before;
}

/* The report line: "corename=NAME costs=C1,C2,... [extra=E1,E2,...]". */
static TsStatus parse_report(const char *coretype, const char *text, BenchCosts *costs,
                             BenchCosts *extra, char *corename, size_t corename_size, TsError *err)
{
    const char *name = strstr(text, "corename=");
    if (!name)
        return ts_fail(err, TS_EPROTO, "OpenBLAS child (%s) printed no report: \"%.80s\"", coretype,
                       text);
    name += strlen("corename=");
    snprintf(corename, corename_size, "%.*s", (int)strcspn(name, " \n"), name);
    if (!parse_costs(text, " costs=", costs))
        return ts_fail(err, TS_EPROTO, "OpenBLAS child (%s): no costs in \"%.80s\"", coretype,
                       text);
    if (extra && !parse_costs(text, " extra=", extra))
        return ts_fail(err, TS_EPROTO, "OpenBLAS child (%s): no extra costs in \"%.80s\"", coretype,
                       text);
    return TS_OK;
}

TsStatus bench_openblas_child(const char *coretype, int threads, int num_args,
                              const char *const *args, BenchCosts *costs, BenchCosts *extra,
                              char *corename, size_t corename_size, TsError *err)
{
    enum { MAX_CHILD_ARGS = 32 };
    if (num_args > MAX_CHILD_ARGS)
        return ts_fail(err, TS_EINVAL, "OpenBLAS child: %d arguments (at most %d)", num_args,
                       MAX_CHILD_ARGS);
    char coretype_var[64], threads_var[64];
    snprintf(coretype_var, sizeof coretype_var, "OPENBLAS_CORETYPE=%s", coretype);
    snprintf(threads_var, sizeof threads_var, "OPENBLAS_NUM_THREADS=%d", threads);
    char *argv[MAX_CHILD_ARGS + 3];
    argv[0] = "/proc/self/exe";
    argv[1] = BENCH_CHILD_FLAG;
    for (int i = 0; i < num_args; i++)
        argv[2 + i] = (char *)args[i];
    argv[2 + num_args] = NULL;

    TsStatus status = TS_OK;
    char **env = child_environment(coretype_var, threads_var);
    if (!env)
        return ts_fail(err, TS_ENOMEM, "OpenBLAS child (%s): out of memory", coretype);
    int pipe_fds[2];
    if (pipe(pipe_fds) != 0) {
        status = ts_fail(err, TS_EIO, "OpenBLAS child (%s): pipe: %s", coretype, strerror(errno));
        goto out_free_env;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, pipe_fds[0]);
    pid_t pid;
    int spawned = posix_spawn(&pid, "/proc/self/exe", &actions, NULL, argv, env);
    posix_spawn_file_actions_destroy(&actions);
    close(pipe_fds[1]);
    if (spawned != 0) {
        status = ts_fail(err, TS_EIO, "OpenBLAS child (%s): posix_spawn: %s", coretype,
                         strerror(spawned));
        goto out_close_pipe;
    }
    char report[8192];
    read_all(pipe_fds[0], report, sizeof report);
    int wstatus = 0;
    while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0)
        status = ts_fail(err, TS_EDEVICE, "OpenBLAS child (%s) failed (wait status %d)", coretype,
                         wstatus);
    else
        status = parse_report(coretype, report, costs, extra, corename, corename_size, err);
out_close_pipe:
    close(pipe_fds[0]);
out_free_env:
    free(env);
    return status;
}

const char *bench_child_setup(void)
{
    const char *threads = getenv("OPENBLAS_NUM_THREADS");
    if (threads && atoi(threads) > 0)
        openblas_set_num_threads(atoi(threads));
    return openblas_get_corename();
}

static void print_costs(const char *key, const BenchCosts *costs)
{
    printf(" %s=", key);
    for (int i = 0; i < costs->count; i++)
        printf("%s%.9g", i ? "," : "", costs->values[i]);
}

void bench_child_report(const char *corename, const BenchCosts *costs, const BenchCosts *extra)
{
    printf("corename=%s", corename);
    print_costs("costs", costs);
    if (extra)
        print_costs("extra", extra);
    printf("\n");
    fflush(stdout);
}

/* ---- data and checks ---- */

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

void bench_fill_uniform(float *data, size_t count, uint64_t seed)
{
    uint64_t state = seed;
    for (size_t i = 0; i < count; i++)
        data[i] = (float)((double)(splitmix64(&state) >> 11) * (2.0 / 9007199254740992.0) - 1.0);
}

double bench_max_relative_error(const float *got, const float *want, const float *magnitude,
                                size_t count)
{
    double worst = 0.0;
    for (size_t i = 0; i < count; i++) {
        double diff = fabs((double)got[i] - (double)want[i]);
        double scale = magnitude[i] > 0.0f ? (double)magnitude[i] : 1.0;
        double relative = diff / scale;
        if (!(relative <= worst)) /* NaN counts as the worst */
            worst = isnan(relative) ? INFINITY : relative;
    }
    return worst;
}

void bench_tensor_arg(BenchTensorArg *arg, void *data, int ndim, const int64_t *shape)
{
    memset(arg, 0, sizeof *arg);
    for (int d = 0; d < ndim; d++)
        arg->shape[d] = shape[d];
    arg->dl = (TsDLTensor){ .data = data,
                            .device = { TS_DEVICE_CPU, 0 },
                            .ndim = ndim,
                            .dtype = TS_FLOAT32,
                            .shape = arg->shape,
                            .strides = NULL,
                            .byte_offset = 0 };
}

float *bench_alloc_floats(size_t count)
{
    size_t bytes = (count * sizeof(float) + 63) / 64 * 64;
    float *p = aligned_alloc(64, bytes ? bytes : 64);
    if (!p) {
        fprintf(stderr, "benchmark: out of memory (%zu floats)\n", count);
        exit(1);
    }
    return p;
}

int bench_report_error(const char *what, const TsError *err)
{
    fprintf(stderr, "%s: %s: %s\n", what, ts_status_name(err->status), err->message);
    return 1;
}

void bench_print_machine(const TsTarget *target)
{
    char model[256] = "unknown CPU";
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[512];
        while (fgets(line, sizeof line, f))
            if (strncmp(line, "model name", 10) == 0) {
                const char *colon = strchr(line, ':');
                if (colon)
                    snprintf(model, sizeof model, "%.*s", (int)strcspn(colon + 2, "\n"), colon + 2);
                break;
            }
        fclose(f);
    }
    printf("machine: %s, %ld online CPUs\n", model, sysconf(_SC_NPROCESSORS_ONLN));
    const char *text = ts_target_str(target);
    const char *cpu = strstr(text, "-mcpu=");
    int cpu_len = cpu ? (int)strcspn(cpu, " ") : 0;
    printf("target: llvm (the host: %.*s, AVX-512 %s)\n", cpu_len, cpu ? cpu : "",
           strstr(text, "+avx512f") ? "on" : "off");
}
