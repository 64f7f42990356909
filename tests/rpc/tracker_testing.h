/* Helpers of the tracker tests: a tracker in a child process on a free loopback port,
 * its log in a file the test can read, and connections to it made by hand over RpcConn
 * (hand-made device servers and clients). */
#ifndef TESSERA_TESTS_RPC_TRACKER_TESTING_H
#define TESSERA_TESTS_RPC_TRACKER_TESTING_H

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rpc/rpc_internal.h"

typedef struct TestTracker {
    pid_t pid;
    int port;
    char log_path[64];
} TestTracker;

static inline double test_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline void test_sleep(double seconds)
{
    struct timespec rest = { (time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9) };
    while (nanosleep(&rest, &rest) != 0 && errno == EINTR)
        continue;
}

static inline void test_tracker_listening(int port, void *user)
{
    int fd = *(int *)user;
    ssize_t w = write(fd, &port, sizeof port);
    (void)w;
    close(fd);
}

/* Starts a tracker on 127.0.0.1:port (0: a free port); returns false when it did not
 * come up. */
static inline bool test_tracker_start_on(TestTracker *tr, const char *token, double heartbeat_s,
                                         int port)
{
    snprintf(tr->log_path, sizeof tr->log_path, "/tmp/tessera-tracker-log-XXXXXX");
    int log_fd = mkstemp(tr->log_path);
    int fds[2];
    if (log_fd < 0 || pipe(fds) != 0)
        return false;
    fflush(NULL);
    tr->pid = fork();
    if (tr->pid == 0) {
        /* The tracker logs to stderr (options->log NULL), here the log file. */
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* a failed test leaves nothing behind */
        close(fds[0]);
        dup2(log_fd, STDERR_FILENO);
        TsTrackerOptions o = ts_tracker_options_default();
        o.port = port;
        o.token = token;
        o.heartbeat_timeout_s = heartbeat_s;
        o.on_listening = test_tracker_listening;
        o.user = &fds[1];
        TsError err;
        TsStatus st = ts_tracker_run(&o, &err);
        if (st != TS_OK)
            fprintf(stderr, "tracker failed: %s\n", err.message);
        exit(st == TS_OK ? 0 : 1); /* exit, not _exit: a sanitizer build checks for leaks */
    }
    close(log_fd);
    close(fds[1]);
    tr->port = 0;
    bool ok = tr->pid > 0 && rpc_wait_readable(fds[0], 10.0) == 1 &&
              read(fds[0], &tr->port, sizeof tr->port) == (ssize_t)sizeof tr->port;
    close(fds[0]);
    return ok;
}

/* Starts a tracker on 127.0.0.1, port 0; returns false when it did not come up. */
static inline bool test_tracker_start(TestTracker *tr, const char *token, double heartbeat_s)
{
    return test_tracker_start_on(tr, token, heartbeat_s, 0);
}

/* Stops the tracker with SIGTERM; returns its exit status (0: it returned TS_OK). */
static inline int test_tracker_stop(TestTracker *tr)
{
    int status = -1;
    if (tr->pid > 0) {
        kill(tr->pid, SIGTERM);
        waitpid(tr->pid, &status, 0);
    }
    tr->pid = 0;
    unlink(tr->log_path);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The tracker's log so far (static buffer). */
static inline const char *test_tracker_log_text(const TestTracker *tr)
{
    static char text[1 << 16];
    FILE *f = fopen(tr->log_path, "r");
    size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    text[n] = '\0';
    if (f)
        fclose(f);
    return text;
}

/* Connects to the tracker and shakes hands. */
static inline TsStatus test_connect(const TestTracker *tr, const char *token, RpcConn *conn,
                                    TsError *err)
{
    int fd;
    TsStatus st = rpc_connect_tcp("127.0.0.1", tr->port, 5.0, &fd, err);
    if (st != TS_OK)
        return st;
    rpc_conn_init(conn, fd, "test tracker", 5.0, 0);
    st = rpc_handshake_connect(conn, token, "test", NULL, NULL, err);
    if (st != TS_OK)
        rpc_conn_close(conn);
    return st;
}

/* Receives one Reply (NULL on failure, with err set). */
static inline Tessera__Rpc__Reply *test_recv(RpcConn *conn, double timeout_s, TsError *err)
{
    ProtobufCMessage *msg = NULL;
    double saved = conn->timeout_s;
    conn->timeout_s = timeout_s;
    TsStatus st = rpc_recv(conn, &tessera__rpc__reply__descriptor, "a test reply", &msg, err);
    conn->timeout_s = saved;
    return st == TS_OK ? (Tessera__Rpc__Reply *)msg : NULL;
}

static inline void test_free_reply(Tessera__Rpc__Reply *reply)
{
    if (reply)
        protobuf_c_message_free_unpacked(&reply->base, NULL);
}

#endif /* TESSERA_TESTS_RPC_TRACKER_TESTING_H */
