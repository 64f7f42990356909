/* A device server's registration with its tracker (`tessera rpc-server --tracker`): a
 * child process connects, shakes hands, sends Register, then a Heartbeat every second,
 * logging the leases the tracker grants and ends; when the tracker goes away it
 * reconnects with a growing backoff.
 *
 * Why a child process and not a thread: the server forks a process per session, and a
 * thread's socket would be inherited by every one of them, so a killed server would keep
 * its registration open through its sessions. The child holds the only copy of the
 * socket and dies with the server (PR_SET_PDEATHSIG), so the tracker sees the connection
 * close at once. The log callback therefore runs in the child. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rpc/rpc_internal.h"

#define HEARTBEAT_PERIOD_S 1.0
#define LINK_TIMEOUT_S 10.0
#define MAX_BACKOFF_S 30.0

struct RpcTrackerLink {
    pid_t pid;
};

/* What the child needs, copied before the fork. */
typedef struct LinkConfig {
    const char *tracker_host;
    int tracker_port;
    const char *token;
    const char *key;
    const char *advertise_host;
    int port;
    void (*log)(const char *line, void *user);
    void *user;
} LinkConfig;

/* The first attempt's outcome, sent from the child to rpc_tracker_link_start. */
typedef struct LinkReport {
    int status; /* a TsStatus */
    char message[TS_ERROR_MESSAGE_MAX];
} LinkReport;

static void link_log(const LinkConfig *cfg, const char *fmt, ...) TS_PRINTF_LIKE(2, 3);
static void link_log(const LinkConfig *cfg, const char *fmt, ...)
{
    char line[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (cfg->log) {
        cfg->log(line, cfg->user);
    } else {
        fprintf(stderr, "%s\n", line);
        fflush(stderr);
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void sleep_s(double seconds)
{
    struct timespec rest = { (time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9) };
    while (nanosleep(&rest, &rest) != 0 && errno == EINTR)
        continue;
}

/* Connects, shakes hands and registers; conn is open on success. */
static TsStatus link_register(const LinkConfig *cfg, RpcConn *conn, TsError *err)
{
    int fd;
    TsStatus st = rpc_connect_tcp(cfg->tracker_host, cfg->tracker_port, LINK_TIMEOUT_S, &fd, err);
    if (st != TS_OK)
        return st;
    char peer[160];
    snprintf(peer, sizeof peer, "tracker %s:%d", cfg->tracker_host, cfg->tracker_port);
    rpc_conn_init(conn, fd, peer, LINK_TIMEOUT_S, 0);
    st = rpc_handshake_connect(conn, cfg->token, "tessera-rpc-server", NULL, NULL, err);
    if (st != TS_OK)
        goto out_close;
    Tessera__Rpc__Register reg = TESSERA__RPC__REGISTER__INIT;
    reg.device_key = (char *)cfg->key;
    reg.host = (char *)(cfg->advertise_host ? cfg->advertise_host : "");
    reg.port = (uint32_t)cfg->port;
    Tessera__Rpc__Request req = TESSERA__RPC__REQUEST__INIT;
    req.id = 2;
    req.body_case = TESSERA__RPC__REQUEST__BODY_REGISTER;
    req.register_ = &reg;
    st = rpc_send(conn, &req.base, err);
    if (st != TS_OK)
        goto out_close;
    ProtobufCMessage *msg;
    st = rpc_recv(conn, &tessera__rpc__reply__descriptor, "the reply to register", &msg, err);
    if (st != TS_OK)
        goto out_close;
    const Tessera__Rpc__Reply *reply = (const Tessera__Rpc__Reply *)msg;
    if (reply->status != TS_OK)
        st = ts_fail(err, reply->status > 0 && reply->status <= TS_EDEVICE
                              ? (TsStatus)reply->status : TS_EPROTO,
                     "%s: refused the registration: %s", conn->peer, reply->message);
    protobuf_c_message_free_unpacked(msg, NULL);
    if (st == TS_OK)
        return TS_OK;
out_close:
    rpc_conn_close(conn);
    return st;
}

/* Logs one message from the tracker: a lease event, or a failed heartbeat. */
static void on_tracker_message(const LinkConfig *cfg, const RpcConn *conn,
                               const Tessera__Rpc__Reply *reply)
{
    if (reply->body_case == TESSERA__RPC__REPLY__BODY_LEASE_EVENT) {
        const Tessera__Rpc__LeaseEvent *ev = reply->lease_event;
        const char *kind = ev->kind == TESSERA__RPC__LEASE_EVENT__KIND__GRANTED ? "granted"
                           : ev->kind == TESSERA__RPC__LEASE_EVENT__KIND__ENDED ? "ended"
                                                                                 : "lost";
        link_log(cfg, "%s: lease %s %s (%s)", conn->peer, ev->lease_id, kind, ev->reason);
    } else if (reply->status != TS_OK) {
        link_log(cfg, "%s: %s", conn->peer, reply->message);
    }
}

/* Heartbeats until the connection fails; returns that failure. */
static TsStatus heartbeat_loop(const LinkConfig *cfg, RpcConn *conn, TsError *err)
{
    Tessera__Rpc__Heartbeat hb = TESSERA__RPC__HEARTBEAT__INIT;
    Tessera__Rpc__Request req = TESSERA__RPC__REQUEST__INIT;
    req.body_case = TESSERA__RPC__REQUEST__BODY_HEARTBEAT;
    req.heartbeat = &hb;
    for (uint64_t id = 3;; id++) {
        req.id = id;
        TsStatus st = rpc_send(conn, &req.base, err);
        if (st != TS_OK)
            return st;
        double next = now_s() + HEARTBEAT_PERIOD_S;
        for (double left; (left = next - now_s()) > 0;) {
            int ready = rpc_wait_readable(conn->fd, left);
            if (ready == 0)
                break;
            if (ready < 0)
                return ts_fail(err, TS_EIO, "%s: %s", conn->peer, strerror(errno));
            ProtobufCMessage *msg;
            st = rpc_recv(conn, &tessera__rpc__reply__descriptor, "a tracker message", &msg,
                          err);
            if (st != TS_OK)
                return st;
            on_tracker_message(cfg, conn, (const Tessera__Rpc__Reply *)msg);
            protobuf_c_message_free_unpacked(msg, NULL);
        }
    }
}

static void write_report(int fd, TsStatus status, const char *message)
{
    LinkReport report = { .status = (int)status };
    snprintf(report.message, sizeof report.message, "%s", message);
    ssize_t ignored = write(fd, &report, sizeof report);
    (void)ignored;
    close(fd);
}

/* The child: registers (reporting the first outcome on report_fd), heartbeats, and
 * registers again whenever the link breaks. Never returns. */
static void link_main(const LinkConfig *cfg, int report_fd)
{
    double backoff = 1.0;
    for (bool first = true;; first = false) {
        RpcConn conn;
        TsError err;
        TsStatus st = link_register(cfg, &conn, &err);
        if (first)
            write_report(report_fd, st, st == TS_OK ? "" : err.message);
        if (st == TS_OK) {
            link_log(cfg, "%s: registered %s:%d under key '%s'", conn.peer,
                     cfg->advertise_host && *cfg->advertise_host ? cfg->advertise_host
                                                                 : "(this address)",
                     cfg->port, cfg->key);
            backoff = 1.0;
            heartbeat_loop(cfg, &conn, &err);
            rpc_conn_close(&conn);
        } else if (first && (st == TS_EINVAL || st == TS_EPROTO)) {
            _exit(1); /* refused: the parent reports it */
        }
        link_log(cfg, "%s; registering again in %g s", err.message, backoff);
        sleep_s(backoff);
        backoff = backoff * 2 > MAX_BACKOFF_S ? MAX_BACKOFF_S : backoff * 2;
    }
}

/* In the child, before anything else: die with the parent, and undo the parent's signal
 * set-up (the server catches SIGINT and SIGTERM to stop; the link just ends). */
static void child_setup(pid_t parent)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(0); /* the parent died before prctl */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGCHLD, SIG_DFL);
    signal(SIGPIPE, SIG_IGN);
}

/* Waits for the child's first report. */
static TsStatus read_report(int fd, const LinkConfig *cfg, TsError *err)
{
    LinkReport report;
    int ready = rpc_wait_readable(fd, 4 * LINK_TIMEOUT_S);
    ssize_t got = ready == 1 ? read(fd, &report, sizeof report) : -1;
    if (got != (ssize_t)sizeof report)
        return ts_fail(err, TS_EIO, "tracker %s:%d: the registration process %s",
                       cfg->tracker_host, cfg->tracker_port,
                       ready == 0 ? "did not answer" : "ended without a word");
    report.message[sizeof report.message - 1] = '\0';
    if (report.status == TS_EINVAL || report.status == TS_EPROTO)
        return ts_fail(err, (TsStatus)report.status, "%s", report.message);
    if (report.status != TS_OK)
        link_log(cfg, "%s; the server keeps trying to register", report.message);
    return TS_OK;
}

TsStatus rpc_tracker_link_start(const char *tracker_host, int tracker_port, const char *token,
                                const char *key, const char *advertise_host, int port,
                                void (*log)(const char *line, void *user), void *user,
                                RpcTrackerLink **out, TsError *err)
{
    *out = NULL;
    if (!tracker_host || !*tracker_host || tracker_port < 1 || tracker_port > 65535)
        return ts_fail(err, TS_EINVAL, "tracker %s:%d: not a host and a port in [1, 65535]",
                       tracker_host ? tracker_host : "(null)", tracker_port);
    if (!key || !*key || port < 1 || port > 65535)
        return ts_fail(err, TS_EINVAL, "tracker %s:%d: cannot register key '%s' on port %d",
                       tracker_host, tracker_port, key ? key : "(null)", port);
    LinkConfig cfg = { tracker_host, tracker_port, token, key, advertise_host, port, log, user };
    RpcTrackerLink *link = calloc(1, sizeof *link);
    if (!link)
        return ts_fail(err, TS_ENOMEM, "tracker %s:%d: out of memory", tracker_host,
                       tracker_port);
    int pipe_fds[2];
    if (pipe(pipe_fds) != 0) {
        free(link);
        return ts_fail(err, TS_EIO, "tracker %s:%d: pipe: %s", tracker_host, tracker_port,
                       strerror(errno));
    }
    pid_t parent = getpid();
    fflush(NULL);
    link->pid = fork();
    if (link->pid == 0) {
        close(pipe_fds[0]);
        child_setup(parent);
        link_main(&cfg, pipe_fds[1]);
    }
    close(pipe_fds[1]);
    TsStatus st = link->pid < 0 ? ts_fail(err, TS_EIO, "tracker %s:%d: fork: %s", tracker_host,
                                          tracker_port, strerror(errno))
                                : read_report(pipe_fds[0], &cfg, err);
    close(pipe_fds[0]);
    if (st != TS_OK) {
        rpc_tracker_link_stop(link);
        return st;
    }
    *out = link;
    return TS_OK;
}

void rpc_tracker_link_stop(RpcTrackerLink *link)
{
    if (!link)
        return;
    if (link->pid > 0) {
        kill(link->pid, SIGKILL);
        while (waitpid(link->pid, NULL, 0) < 0 && errno == EINTR)
            continue;
    }
    free(link);
}
