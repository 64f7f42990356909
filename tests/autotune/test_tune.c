/* The tuning loop: the trial budget, the log it writes, progress reports, resuming after
 * the tuning process is killed (no candidate measured twice, the total as if it had run
 * through), early stopping, the wall-clock limit, an exhausted space, transfer logs, and
 * a tuning run measured through an RPC device server on loopback. */
#include <math.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "autotune/tune_internal.h"
#include "tessera/tessera.h"
#include "tune_testing.h"

/* test_matmul 32^3: 5 x 5 x 3 = 75 points. */
static TsTuneTask *small_task(void)
{
    tt_register_templates();
    return tt_task("test_matmul", 32, 32, 32);
}

typedef struct Progress {
    int calls;
    int last_trial;
    bool finished;
    TsTuneProgress final;
} Progress;

static void on_progress(const TsTuneProgress *p, void *user)
{
    Progress *progress = user;
    assert_false(progress->finished); /* nothing after the final report */
    assert_true(p->trial >= progress->last_trial);
    progress->calls++;
    progress->last_trial = p->trial;
    progress->finished = p->finished;
    progress->final = *p;
}

static TsTuneOptions quick_options(const char *log_path)
{
    TsTuneOptions o = ts_tune_options_default();
    o.tuner = "random";
    o.seed = 7;
    o.log_path = log_path;
    o.measure.repeat = 1;
    o.measure.n_parallel = 2;
    return o;
}

typedef struct LogContents {
    int count;
    int64_t index[256];
    double cost[256];
} LogContents;

static bool collect(const TsTuneRecord *record, void *user)
{
    LogContents *log = user;
    if (log->count < 256) {
        log->index[log->count] = record->index;
        log->cost[log->count] = ts_measure_mean_cost(&record->result);
    }
    log->count++;
    return true;
}

static LogContents read_log(const char *path, int *damaged)
{
    LogContents log = { 0 };
    TsError err;
    assert_int_equal(ts_tune_log_read(path, collect, &log, NULL, NULL, damaged, &err), TS_OK);
    return log;
}

static void assert_distinct(const LogContents *log)
{
    for (int i = 0; i < log->count; i++)
        for (int j = 0; j < i; j++)
            if (log->index[i] == log->index[j])
                fail_msg("index %lld measured twice (records %d and %d)", (long long)log->index[i],
                         j + 1, i + 1);
}

static void test_budget(void **state)
{
    (void)state;
    TsTuneTask *task = small_task();
    char path[512];
    snprintf(path, sizeof path, "%s", tt_temp_path("budget.jsonl"));
    TsTuneOptions o = quick_options(path);
    o.n_trial = 20;
    o.batch_size = 8;
    o.measure.check_correctness = true;
    Progress progress = { 0 };
    o.progress = on_progress;
    o.user = &progress;
    TsTuneProgress final;
    TsError err;
    assert_int_equal(ts_tune(task, &o, &final, &err), TS_OK);
    assert_int_equal(final.trial, 20);
    assert_int_equal(final.n_trial, 20);
    assert_true(final.finished);
    assert_string_equal(final.stop_reason, "trials");
    assert_int_equal(final.num_errors, 0);
    assert_true(final.best_gflops > 0);
    assert_true(final.best_index >= 0);
    assert_int_equal(progress.calls, 3 + 1); /* batches of 8, 8, 4, then the final report */
    assert_true(progress.finished);
    LogContents log = read_log(path, NULL);
    assert_int_equal(log.count, 20);
    assert_distinct(&log);
    double best = INFINITY;
    for (int i = 0; i < log.count; i++)
        best = fmin(best, log.cost[i]);
    assert_true(fabs(best - final.best_cost) <= 1e-12 * best);
    assert_true(fabs(final.best_gflops - ts_tune_task_flop(task) / best * 1e-9) < 1e-6);
    ts_tune_task_free(task);
}

/* The first record is the template's default config, unless skip_default says not to
 * measure it (then a seeded random tuner's first point, which is not the default). */
static void test_default_measured_first(void **state)
{
    (void)state;
    TsTuneTask *task = small_task();
    TsConfig def;
    TsError err;
    assert_int_equal(ts_tune_task_default(task, &def, &err), TS_OK);
    char path[512];
    for (int skip = 0; skip < 2; skip++) {
        snprintf(path, sizeof path, "%s", tt_temp_path(skip ? "nodefault.jsonl" : "default.jsonl"));
        TsTuneOptions o = quick_options(path);
        o.n_trial = 4;
        o.batch_size = 4;
        o.skip_default = skip;
        assert_int_equal(ts_tune(task, &o, NULL, &err), TS_OK);
        LogContents log = read_log(path, NULL);
        assert_int_equal(log.count, 4);
        assert_distinct(&log);
        int found = -1;
        for (int i = 0; i < log.count; i++)
            if (log.index[i] == def.index)
                found = i;
        if (skip)
            assert_int_equal(found, -1);
        else
            assert_int_equal(found, 0);
    }
    ts_tune_task_free(task);
}

/* Tunes in a child, kills it once the log holds some records, resumes: no index is
 * measured twice and the log ends with the whole budget. */
static void test_resume_after_kill(void **state)
{
    (void)state;
    TsTuneTask *task = small_task();
    char path[512];
    snprintf(path, sizeof path, "%s", tt_temp_path("resume.jsonl"));
    TsTuneOptions o = quick_options(path);
    o.n_trial = 40;
    o.batch_size = 4;
    fflush(NULL);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        TsError err;
        o.seed = 1;
        /* The measurer's files, which the kill leaves behind, go where the test cleans. */
        char tmpdir[512];
        snprintf(tmpdir, sizeof tmpdir, "%s", tt_temp_path("killed"));
        mkdir(tmpdir, 0700);
        setenv("TMPDIR", tmpdir, 1);
        _exit(ts_tune(task, &o, NULL, &err) == TS_OK ? 0 : 1);
    }
    for (int waited = 0; tt_count_lines(path) < 10 && waited < 3000; waited++)
        nanosleep(&(struct timespec){ 0, 10000000 }, NULL);
    kill(child, SIGKILL);
    int status;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFSIGNALED(status));
    int damaged = 0;
    LogContents before = read_log(path, &damaged);
    assert_true(before.count >= 10 && before.count < 40);

    o.resume = true;
    Progress progress = { 0 };
    o.progress = on_progress;
    o.user = &progress;
    TsTuneProgress final;
    TsError err;
    assert_int_equal(ts_tune(task, &o, &final, &err), TS_OK);
    assert_int_equal(final.n_trial, 40 - before.count);
    assert_int_equal(final.trial, 40 - before.count);
    LogContents after = read_log(path, &damaged);
    assert_true(damaged <= 1); /* at most the line the kill cut */
    assert_int_equal(after.count, 40);
    assert_distinct(&after);
    /* Resuming a finished run measures nothing more. */
    assert_true(progress.finished);
    o.progress = NULL;
    assert_int_equal(ts_tune(task, &o, &final, &err), TS_OK);
    assert_int_equal(final.trial, 0);
    assert_int_equal(read_log(path, NULL).count, 40);
    ts_tune_task_free(task);
}

/* With batches of one, tuning stops exactly early_stopping trials after the best. */
static void test_early_stopping(void **state)
{
    (void)state;
    TsTuneTask *task = small_task();
    char path[512];
    snprintf(path, sizeof path, "%s", tt_temp_path("early.jsonl"));
    TsTuneOptions o = quick_options(path);
    o.tuner = "grid";
    o.n_trial = 75;
    o.batch_size = 1;
    o.early_stopping = 4;
    TsTuneProgress final;
    TsError err;
    assert_int_equal(ts_tune(task, &o, &final, &err), TS_OK);
    LogContents log = read_log(path, NULL);
    assert_int_equal(log.count, final.trial);
    if (strcmp(final.stop_reason, "early stopping") != 0)
        fail_msg("stopped for %s after %d trials", final.stop_reason, final.trial);
    int best = 0;
    for (int i = 1; i < log.count; i++)
        if (log.cost[i] < log.cost[best])
            best = i;
    assert_int_equal(log.count, best + 1 + 4);
    assert_int_equal(final.best_index, log.index[best]);
    ts_tune_task_free(task);
}

static void test_time_limit(void **state)
{
    (void)state;
    /* A space of 2700 points (30 factors of 720 on each tile, 3 inner orders), more than
     * a second can measure: small_task's 108 take less than that. */
    tt_register_templates();
    TsTuneTask *task = tt_task("test_matmul", 720, 720, 8);
    TsTuneOptions o = quick_options(NULL);
    o.n_trial = 10000;
    o.batch_size = 4;
    o.time_limit_s = 1.0;
    TsTuneProgress final;
    TsError err;
    double start = tune_now();
    assert_int_equal(ts_tune(task, &o, &final, &err), TS_OK);
    double took = tune_now() - start;
    assert_string_equal(final.stop_reason, "time limit");
    assert_true(final.elapsed_s >= 1.0);
    assert_true(took < 2.5);
    assert_true(final.trial > 0 && final.trial < 2700);
    ts_tune_task_free(task);
}

/* test_isolation has 4 points, 3 of which fail (abort, hang, refused). */
static void test_space_exhausted(void **state)
{
    (void)state;
    tt_register_templates();
    TsTuneTask *task = tt_task("test_isolation", 0, 64, 0);
    char path[512];
    snprintf(path, sizeof path, "%s", tt_temp_path("exhausted.jsonl"));
    TsTuneOptions o = quick_options(path);
    o.n_trial = 10;
    o.measure.build_timeout_s = 1;
    TsTuneProgress final;
    TsError err;
    assert_int_equal(ts_tune(task, &o, &final, &err), TS_OK);
    assert_string_equal(final.stop_reason, "space exhausted");
    assert_int_equal(final.trial, 4);
    assert_int_equal(final.num_errors, 3);
    assert_int_equal(final.best_index, 0);
    assert_int_equal(read_log(path, NULL).count, 4);
    ts_tune_task_free(task);
}

/* A transfer log of this very task: its points are not measured again. */
static void test_transfer(void **state)
{
    (void)state;
    TsTuneTask *task = small_task();
    char first[512], second[512];
    snprintf(first, sizeof first, "%s", tt_temp_path("transfer1.jsonl"));
    snprintf(second, sizeof second, "%s", tt_temp_path("transfer2.jsonl"));
    TsTuneOptions o = quick_options(first);
    o.n_trial = 12;
    TsError err;
    assert_int_equal(ts_tune(task, &o, NULL, &err), TS_OK);
    const char *logs[] = { first };
    o.log_path = second;
    o.num_transfer_logs = 1;
    o.transfer_logs = logs;
    o.seed = 7; /* the same seed: without the history it would propose the same points */
    assert_int_equal(ts_tune(task, &o, NULL, &err), TS_OK);
    LogContents a = read_log(first, NULL), b = read_log(second, NULL);
    assert_int_equal(b.count, 12);
    for (int i = 0; i < a.count; i++)
        for (int j = 0; j < b.count; j++)
            assert_true(a.index[i] != b.index[j]);
    ts_tune_task_free(task);
}

static void test_option_errors(void **state)
{
    (void)state;
    TsTuneTask *task = small_task();
    TsTuneOptions o = quick_options(NULL);
    TsError err;
    o.resume = true;
    assert_int_equal(ts_tune(task, &o, NULL, &err), TS_EINVAL);
    assert_non_null(strstr(err.message, "log_path"));
    o = quick_options(NULL);
    o.batch_size = 0;
    assert_int_equal(ts_tune(task, &o, NULL, &err), TS_EINVAL);
    o = quick_options(NULL);
    o.tuner = "annealing";
    assert_int_equal(ts_tune(task, &o, NULL, &err), TS_EINVAL);
    assert_non_null(strstr(err.message, "annealing"));
    ts_tune_task_free(task);
}

/* ---- RPC ---- */

static int listening_fd = -1;

static void send_port(int port, void *user)
{
    (void)user;
    if (write(listening_fd, &port, sizeof port) != (ssize_t)sizeof port)
        _exit(3);
}

/* A device server on loopback in a child (registered with the tracker at
 * tracker_port, when not 0); its port. */
static pid_t start_server_with(int tracker_port, int *port)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        setpgid(0, 0); /* its session processes with it, for test_rpc_device_lost */
        tune_child_default_signals();
        listening_fd = fds[1];
        TsRpcServerOptions so = ts_rpc_server_options_default();
        so.port = 0;
        so.on_listening = send_port;
        if (tracker_port) {
            so.tracker_host = "127.0.0.1";
            so.tracker_port = tracker_port;
            so.key = "tune-test";
        }
        TsError err;
        _exit(ts_rpc_server_run(&so, &err) == TS_OK ? 0 : 2);
    }
    close(fds[1]);
    struct pollfd p = { .fd = fds[0], .events = POLLIN };
    assert_int_equal(poll(&p, 1, 10000), 1);
    assert_int_equal(read(fds[0], port, sizeof *port), (ssize_t)sizeof *port);
    close(fds[0]);
    return pid;
}

static pid_t start_server(int *port)
{
    return start_server_with(0, port);
}

/* A tracker on loopback in a child; its port. */
static pid_t start_tracker(int *port)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        tune_child_default_signals();
        listening_fd = fds[1];
        TsTrackerOptions to = ts_tracker_options_default();
        to.port = 0;
        to.on_listening = send_port;
        TsError err;
        _exit(ts_tracker_run(&to, &err) == TS_OK ? 0 : 2);
    }
    close(fds[1]);
    struct pollfd p = { .fd = fds[0], .events = POLLIN };
    assert_int_equal(poll(&p, 1, 10000), 1);
    assert_int_equal(read(fds[0], port, sizeof *port), (ssize_t)sizeof *port);
    close(fds[0]);
    return pid;
}

static void stop_server(pid_t pid)
{
    int status;
    kill(pid, SIGTERM);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_rpc_loopback(void **state)
{
    (void)state;
    int port = 0;
    pid_t server = start_server(&port);
    TsTuneTask *task = tt_task("dense", 32, 32, 32);
    char path[512];
    snprintf(path, sizeof path, "%s", tt_temp_path("rpc.jsonl"));
    TsTuneOptions o = quick_options(path);
    o.n_trial = 6;
    o.batch_size = 3;
    o.measure.rpc_host = "127.0.0.1";
    o.measure.rpc_port = port;
    o.measure.check_correctness = true;
    o.measure.repeat = 2;
    TsTuneProgress final;
    TsError err;
    TsStatus st = ts_tune(task, &o, &final, &err);
    if (st != TS_OK)
        fail_msg("tune over RPC: %s", err.message);
    assert_int_equal(final.trial, 6);
    assert_int_equal(final.num_errors, 0);
    assert_true(final.best_gflops > 0);
    LogContents log = read_log(path, NULL);
    assert_int_equal(log.count, 6);
    for (int i = 0; i < log.count; i++)
        assert_true(log.cost[i] > 0 && isfinite(log.cost[i]));
    ts_tune_task_free(task);
    stop_server(server);

    /* No server there: the measurer cannot start. */
    task = tt_task("dense", 32, 32, 32);
    o.measure.rpc_port = port;
    assert_int_not_equal(ts_tune(task, &o, &final, &err), TS_OK);
    assert_non_null(strstr(err.message, "127.0.0.1"));
    ts_tune_task_free(task);
}

/* The device dies between batches: its candidates are DEVICE_LOST, reconnecting fails,
 * and measuring cannot go on. */
static void test_rpc_device_lost(void **state)
{
    (void)state;
    int port = 0;
    pid_t server = start_server(&port);
    TsTuneTask *task = tt_task("dense", 16, 16, 16);
    TsMeasureOptions o = ts_measure_options_default();
    o.rpc_host = "127.0.0.1";
    o.rpc_port = port;
    o.n_parallel = 2;
    TsMeasurer *m;
    TsError err;
    assert_int_equal(ts_measurer_create(task, &o, &m, &err), TS_OK);
    const int64_t indices[] = { 0, 1 };
    TsMeasureResult results[2];
    assert_int_equal(ts_measurer_run(m, 2, indices, results, &err), TS_OK);
    assert_int_equal(results[0].error_no, TS_MEASURE_OK);
    assert_int_equal(results[1].error_no, TS_MEASURE_OK);
    kill(-server, SIGKILL);
    waitpid(server, NULL, 0);
    assert_int_equal(ts_measurer_run(m, 2, indices, results, &err), TS_EDEVICE);
    assert_int_equal(results[0].error_no, TS_MEASURE_DEVICE_LOST);
    assert_int_equal(results[1].error_no, TS_MEASURE_DEVICE_LOST);
    assert_non_null(strstr(results[1].error_msg, "reconnecting failed"));
    assert_non_null(strstr(err.message, "device is lost"));
    ts_measurer_free(m);
    ts_tune_task_free(task);
}

/* A device leased from a tracker by key. */
static void test_rpc_tracker(void **state)
{
    (void)state;
    int tracker_port = 0, port = 0;
    pid_t tracker = start_tracker(&tracker_port);
    pid_t server = start_server_with(tracker_port, &port);
    TsTrackerKeyStatus keys[4];
    int num = 0;
    TsError err;
    for (int tries = 0; tries < 500; tries++) {
        if (ts_tracker_status("127.0.0.1", tracker_port, NULL, 4, keys, &num, &err) == TS_OK &&
            num > 0 && keys[0].free > 0)
            break;
        nanosleep(&(struct timespec){ 0, 20000000 }, NULL);
    }
    assert_true(num > 0 && keys[0].free > 0);
    TsTuneTask *task = tt_task("dense", 16, 32, 16);
    TsTuneOptions o = quick_options(NULL);
    o.n_trial = 3;
    o.measure.tracker_host = "127.0.0.1";
    o.measure.tracker_port = tracker_port;
    o.measure.key = "tune-test";
    o.measure.check_correctness = true;
    TsTuneProgress final;
    TsStatus st = ts_tune(task, &o, &final, &err);
    if (st != TS_OK)
        fail_msg("tune through the tracker: %s", err.message);
    assert_int_equal(final.trial, 3);
    assert_int_equal(final.num_errors, 0);
    ts_tune_task_free(task);
    stop_server(server);
    stop_server(tracker);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_budget),          cmocka_unit_test(test_default_measured_first),
        cmocka_unit_test(test_resume_after_kill),
        cmocka_unit_test(test_early_stopping),  cmocka_unit_test(test_time_limit),
        cmocka_unit_test(test_space_exhausted), cmocka_unit_test(test_transfer),
        cmocka_unit_test(test_option_errors),   cmocka_unit_test(test_rpc_loopback),
        cmocka_unit_test(test_rpc_device_lost),
        cmocka_unit_test(test_rpc_tracker),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
