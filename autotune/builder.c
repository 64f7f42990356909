/* The builder: candidates compiled in parallel worker processes. The measurer forks
 * n_workers workers once, when it is created, and feeds them candidate indices through
 * socket pairs; each worker instantiates the template with the candidate's config,
 * lowers it and compiles it, into an object file for the local runner (ts_build_object:
 * LLVM alone) or a shared object for a device (ts_build_shared: LLVM and the system
 * linker), and answers with the kernel's argument shapes or the error. A worker that runs past the
 * build timeout is killed (SIGKILL) and replaced, a worker that dies is replaced, and the search
 * goes on.
 *
 * Workers are processes, not threads, so that a template or codegen bug that crashes or
 * hangs costs one candidate, not the tuning run; they persist across candidates, so that
 * a candidate costs its compilation and not a fork (about 20 candidates a second is the
 * aim on two cores). Forking a process that has LLVM initialized is fine as long as no
 * other thread holds a lock at that moment: the measurer forks before it JITs anything,
 * and a replacement is forked from the measurer's thread between builds.
 *
 * Sits between the tuner and the runner: indices in, modules out. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "autotune/tune_internal.h"

typedef struct BuildRequest {
    int64_t index;
    TuneModuleKind kind;
    char path[512];
} BuildRequest;

typedef struct Worker {
    pid_t pid;
    int fd;       /* the measurer's end of the socket pair; -1 when not running */
    int slot;     /* position of the candidate being built, or -1 when idle */
    double start; /* when that build was sent */
    char path[512];
} Worker;

struct TuneBuilder {
    const TsTuneTask *task;
    const TsTarget *target;
    TuneModuleKind kind;
    int n_workers;
    double timeout_s;
    char dir[400];
    int next_file;
    Worker *workers;
};

/* ---- the worker process ---- */

/* Writes result's error message, cut to fit (a deep lowering failure's can be long). */
static void build_message(TuneBuildResult *result, const char *fmt, ...) TS_PRINTF_LIKE(2, 3);
static void build_message(TuneBuildResult *result, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(result->error_msg, sizeof result->error_msg, fmt, ap);
    va_end(ap);
}

static void set_error(TuneBuildResult *result, int error_no, const TsError *err)
{
    result->error_no = error_no;
    build_message(result, "%s: %s", ts_status_name(err->status), err->message);
}

static TsStatus compile(const TsLoweredFunc *func, const TsTarget *target,
                        const BuildRequest *request, TsError *err)
{
    const TsLoweredFunc *const *funcs = &func;
    switch (request->kind) {
    case TUNE_MODULE_OBJECT: return ts_build_object(1, funcs, target, request->path, err);
    case TUNE_MODULE_SHARED: return ts_build_shared(1, funcs, target, request->path, err);
    }
    return ts_fail(err, TS_EINVAL, "builder: unknown module kind %d", (int)request->kind);
}

/* Instantiate, lower, compile: the stage that fails decides the error class. */
static void build_one(const TsTuneTask *task, const TsTarget *target, const BuildRequest *request,
                      TuneBuildResult *result)
{
    double start = tune_now();
    memset(result, 0, sizeof *result);
    result->index = request->index;
    snprintf(result->path, sizeof result->path, "%s", request->path);
    TsError err;
    ts_error_clear(&err);
    TsArena *arena = ts_arena_create();
    TsTemplateInstance inst;
    TsLoweredFunc *func = NULL;
    if (!arena)
        set_error(result, TS_MEASURE_BUILD_ERROR, &(TsError){ TS_ENOMEM, "out of memory" });
    else if (tune_task_instantiate(task, request->index, arena, &inst, &err) != TS_OK)
        set_error(result, TS_MEASURE_INSTANTIATION_ERROR, &err);
    else if (tune_task_lower_instance(task, &inst, false, arena, &func, &err) != TS_OK ||
             tune_arg_spec(func, inst.num_outputs, &result->spec, &err) != TS_OK ||
             compile(func, target, request, &err) != TS_OK)
        set_error(result, TS_MEASURE_BUILD_ERROR, &err);
    ts_arena_destroy(arena);
    result->build_s = tune_now() - start;
}

static void worker_main(const TsTuneTask *task, const TsTarget *target, int fd)
{
    BuildRequest request;
    TuneBuildResult result;
    while (tune_read_full(fd, &request, sizeof request) == 1) {
        build_one(task, target, &request, &result);
        if (tune_write_full(fd, &result, sizeof result) != 0)
            break;
    }
    _exit(0);
}

/* ---- the measurer's side ---- */

static TsStatus start_worker(TuneBuilder *builder, int w, TsError *err)
{
    int fds[2];
    Worker *worker = &builder->workers[w];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
        return ts_fail(err, TS_EIO, "builder: cannot create a socket pair: %s", strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return ts_fail(err, TS_EIO, "builder: cannot fork a worker: %s", strerror(errno));
    }
    if (pid == 0) {
        close(fds[0]);
        /* A group of its own: a kill takes the linker it may be running along. */
        setpgid(0, 0);
        tune_child_default_signals();
        tune_child_close_fds(fds[1]);
        worker_main(builder->task, builder->target, fds[1]);
    }
    close(fds[1]);
    worker->pid = pid;
    worker->fd = fds[0];
    worker->slot = -1;
    return TS_OK;
}

static void stop_worker(Worker *worker)
{
    if (worker->fd < 0)
        return;
    close(worker->fd);
    kill(-worker->pid, SIGKILL);
    kill(worker->pid, SIGKILL);
    waitpid(worker->pid, NULL, 0);
    worker->fd = -1;
    worker->slot = -1;
}

TsStatus tune_builder_create(const TsTuneTask *task, const TsTarget *target, TuneModuleKind kind,
                             int n_workers, double timeout_s, const char *dir, TuneBuilder **out,
                             TsError *err)
{
    *out = NULL;
    TuneBuilder *builder = calloc(1, sizeof *builder);
    if (!builder || n_workers < 1 || n_workers > TUNE_MAX_WORKERS ||
        !(builder->workers = calloc((size_t)n_workers, sizeof *builder->workers))) {
        free(builder);
        return ts_fail(err, n_workers < 1 ? TS_EINVAL : TS_ENOMEM,
                       "builder: cannot start %d workers", n_workers);
    }
    builder->task = task;
    builder->target = target;
    builder->kind = kind;
    builder->n_workers = n_workers;
    builder->timeout_s = timeout_s;
    snprintf(builder->dir, sizeof builder->dir, "%s", dir);
    for (int w = 0; w < n_workers; w++)
        builder->workers[w].fd = -1;
    for (int w = 0; w < n_workers; w++) {
        TsStatus status = start_worker(builder, w, err);
        if (status != TS_OK) {
            tune_builder_free(builder);
            return status;
        }
    }
    *out = builder;
    return TS_OK;
}

void tune_builder_free(TuneBuilder *builder)
{
    if (!builder)
        return;
    for (int w = 0; w < builder->n_workers; w++)
        stop_worker(&builder->workers[w]);
    free(builder->workers);
    free(builder);
}

/* One round of the build loop: the state shared by its steps. */
typedef struct BuildRound {
    TuneBuilder *builder;
    int n;
    const int64_t *indices;
    TuneBuildResult *results;
    TuneBuiltFn on_built;
    void *user;
    int next; /* the next candidate to send */
    int done;
} BuildRound;

static void finish(BuildRound *round, int slot)
{
    round->done++;
    if (round->on_built)
        round->on_built(slot, &round->results[slot], round->user);
}

/* A candidate whose worker died or ran out of time: the worker is replaced. */
static TsStatus fail_worker(BuildRound *round, Worker *worker, int error_no, const char *what,
                            TsError *err)
{
    int slot = worker->slot;
    TuneBuildResult *result = &round->results[slot];
    int wstatus = 0;
    close(worker->fd);
    worker->fd = -1;
    if (error_no == TS_MEASURE_BUILD_TIMEOUT) {
        kill(-worker->pid, SIGKILL);
        kill(worker->pid, SIGKILL);
    }
    waitpid(worker->pid, &wstatus, 0);
    memset(result, 0, sizeof *result);
    result->index = round->indices[slot];
    /* Whatever the worker left there is removed with the others. */
    memcpy(result->path, worker->path, sizeof result->path);
    result->error_no = error_no;
    result->build_s = tune_now() - worker->start;
    if (error_no == TS_MEASURE_BUILD_TIMEOUT)
        build_message(result, "build timed out after %g s (worker killed)",
                      round->builder->timeout_s);
    else if (WIFSIGNALED(wstatus))
        build_message(result, "build worker %s with signal %d (%s)", what, WTERMSIG(wstatus),
                      strsignal(WTERMSIG(wstatus)));
    else
        build_message(result, "build worker %s (exit status %d)", what,
                      WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1);
    worker->slot = -1;
    finish(round, slot);
    return start_worker(round->builder, (int)(worker - round->builder->workers), err);
}

static void send_next(BuildRound *round, Worker *worker)
{
    TuneBuilder *builder = round->builder;
    BuildRequest request;
    memset(&request, 0, sizeof request);
    request.index = round->indices[round->next];
    request.kind = builder->kind;
    snprintf(request.path, sizeof request.path, "%s/candidate-%d.%s", builder->dir,
             builder->next_file++, builder->kind == TUNE_MODULE_OBJECT ? "o" : "so");
    worker->slot = round->next++;
    worker->start = tune_now();
    memcpy(worker->path, request.path, sizeof worker->path);
    if (tune_write_full(worker->fd, &request, sizeof request) != 0)
        worker->start = -1; /* dead: found at the next poll as end of file */
}

static TsStatus receive(BuildRound *round, Worker *worker, TsError *err)
{
    int slot = worker->slot;
    TuneBuildResult *result = &round->results[slot];
    if (tune_read_full(worker->fd, result, sizeof *result) != 1)
        return fail_worker(round, worker, TS_MEASURE_BUILD_ERROR, "died", err);
    worker->slot = -1;
    finish(round, slot);
    return TS_OK;
}

/* Waits for the busy workers until one answers or the earliest deadline passes; a
 * worker is timed out only when it has not answered (the measurer may have been busy
 * measuring while an answer waited). */
static TsStatus wait_step(BuildRound *round, TsError *err)
{
    TuneBuilder *builder = round->builder;
    struct pollfd fds[TUNE_MAX_WORKERS];
    int map[TUNE_MAX_WORKERS], nfds = 0;
    double now = tune_now(), wait_s = builder->timeout_s;
    for (int w = 0; w < builder->n_workers && nfds < TUNE_MAX_WORKERS; w++) {
        Worker *worker = &builder->workers[w];
        if (worker->slot < 0)
            continue;
        double left = worker->start + builder->timeout_s - now;
        wait_s = left < wait_s ? left : wait_s;
        fds[nfds] = (struct pollfd){ .fd = worker->fd, .events = POLLIN };
        map[nfds++] = w;
    }
    int ready = poll(fds, (nfds_t)nfds, wait_s > 0 ? (int)(wait_s * 1000) + 1 : 0);
    if (ready < 0 && errno != EINTR)
        return ts_fail(err, TS_EIO, "builder: poll failed: %s", strerror(errno));
    now = tune_now();
    TsStatus status = TS_OK;
    for (int i = 0; status == TS_OK && i < nfds; i++) {
        Worker *worker = &builder->workers[map[i]];
        if (ready > 0 && (fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
            status = receive(round, worker, err);
        else if (now >= worker->start + builder->timeout_s)
            status = fail_worker(round, worker, TS_MEASURE_BUILD_TIMEOUT, "timed out", err);
    }
    return status;
}

TsStatus tune_builder_run(TuneBuilder *builder, int n, const int64_t *indices,
                          TuneBuildResult *results, TuneBuiltFn on_built, void *user, TsError *err)
{
    BuildRound round = { builder, n, indices, results, on_built, user, 0, 0 };
    while (round.done < n) {
        for (int w = 0; w < builder->n_workers && round.next < n; w++) {
            Worker *worker = &builder->workers[w];
            if (worker->fd < 0) {
                TsStatus status = start_worker(builder, w, err);
                if (status != TS_OK)
                    return status;
            }
            if (worker->slot < 0)
                send_next(&round, worker);
        }
        TsStatus status = wait_step(&round, err);
        if (status != TS_OK)
            return status;
    }
    return TS_OK;
}
