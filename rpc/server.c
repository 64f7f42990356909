/* The device server's main process: listens (loopback unless told otherwise, and never
 * anywhere else without a token), accepts connections and serves each session in a
 * process of its own (server_session.c), at most max_sessions at a time; the others
 * wait in the listen backlog. Whatever a session does, crashing included, only that
 * process ends: the main process reaps it, logs how it ended and removes its session
 * directory. SIGINT or SIGTERM end the server: the sessions are stopped and awaited, and
 * ts_rpc_server_run returns TS_OK. */
#define _GNU_SOURCE /* strsignal-free signal names, MAP_ANONYMOUS elsewhere; nftw */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rpc/server_internal.h"

/* How often the accept loop looks at its children and the stop flag. */
#define POLL_MS 100
/* How long sessions get to end after SIGTERM when the server stops. */
#define STOP_GRACE_S 2.0

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

TsRpcServerOptions ts_rpc_server_options_default(void)
{
    return (TsRpcServerOptions){
        .host = "127.0.0.1",
        .port = TS_RPC_DEFAULT_PORT,
        .key = "local",
        .tracker_host = NULL,
        .tracker_port = TS_RPC_DEFAULT_TRACKER_PORT,
        .workdir = NULL,
        .token = NULL,
        .call_timeout_s = 60.0,
        .session_timeout_s = 0.0,
        .max_upload = (uint64_t)256 << 20,
        .max_memory = (uint64_t)4 << 30,
        .max_message = TS_RPC_DEFAULT_MAX_MESSAGE,
        .max_sessions = 4,
        .on_listening = NULL,
        .user = NULL,
        .log = NULL,
    };
}

void rpc_server_log(const TsRpcServerOptions *options, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (options->log)
        options->log(line, options->user);
    else
        fprintf(stderr, "tessera rpc-server: %s\n", line);
}

const char *rpc_signal_name(int sig, char buf[32])
{
    /* clang-format off */
    static const struct { int sig; const char *name; } names[] = {
        { SIGSEGV, "SIGSEGV" }, { SIGBUS, "SIGBUS" },   { SIGILL, "SIGILL" },
        { SIGFPE, "SIGFPE" },   { SIGABRT, "SIGABRT" }, { SIGKILL, "SIGKILL" },
        { SIGTERM, "SIGTERM" }, { SIGINT, "SIGINT" },   { SIGQUIT, "SIGQUIT" },
        { SIGHUP, "SIGHUP" },   { SIGPIPE, "SIGPIPE" }, { SIGALRM, "SIGALRM" },
        { SIGTRAP, "SIGTRAP" }, { SIGSYS, "SIGSYS" },   { SIGXCPU, "SIGXCPU" },
        { SIGXFSZ, "SIGXFSZ" }, { SIGUSR1, "SIGUSR1" }, { SIGUSR2, "SIGUSR2" },
    };
    /* clang-format on */
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].sig == sig)
            return names[i].name;
    snprintf(buf, 32, "signal %d", sig);
    return buf;
}

/* ---- session directories ---- */

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

/* Removes dir and everything under it (not following symbolic links). */
static void remove_tree(const char *dir)
{
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- the children: one per session ---- */

typedef struct Child {
    pid_t pid;
    int number;
    char peer[96];
    char dir[4096];
} Child;

typedef struct Server {
    const TsRpcServerOptions *options;
    char workdir[4000]; /* leaves room for a session directory's name in Child.dir */
    int listen_fd;
    int port;
    Child *children; /* max_sessions slots; pid 0 is free */
    int num_children;
    int next_number;
    RpcTrackerLink *tracker;
    bool stopping; /* the sessions still running are being stopped */
} Server;

/* Logs how child c ended, removes its directory and frees its slot. */
static void child_ended(Server *server, Child *c, int status)
{
    char buf[32];
    if (server->stopping && WIFSIGNALED(status))
        rpc_server_log(server->options, "session %d (%s) stopped with the server", c->number,
                       c->peer);
    else if (WIFSIGNALED(status))
        rpc_server_log(server->options, "session %d (%s) crashed with %s", c->number, c->peer,
                       rpc_signal_name(WTERMSIG(status), buf));
    else
        rpc_server_log(server->options, "session %d (%s) ended%s", c->number, c->peer,
                       WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "" : " on an error");
    remove_tree(c->dir);
    c->pid = 0;
    server->num_children--;
}

/* Reaps every child that has ended (waiting for none). */
static void reap_children(Server *server)
{
    for (int i = 0; i < server->options->max_sessions; i++) {
        Child *c = &server->children[i];
        int status;
        if (c->pid > 0 && waitpid(c->pid, &status, WNOHANG) == c->pid)
            child_ended(server, c, status);
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* On the way out: asks every session to end, then kills what is left after a grace
 * period, and reaps them all. */
static void stop_children(Server *server)
{
    server->stopping = true;
    for (int i = 0; i < server->options->max_sessions; i++)
        if (server->children[i].pid > 0)
            kill(server->children[i].pid, SIGTERM);
    double deadline = now_s() + STOP_GRACE_S;
    while (server->num_children > 0 && now_s() < deadline) {
        reap_children(server);
        if (server->num_children > 0)
            poll(NULL, 0, 10);
    }
    for (int i = 0; i < server->options->max_sessions; i++) {
        Child *c = &server->children[i];
        if (c->pid <= 0)
            continue;
        kill(c->pid, SIGKILL);
        int status;
        while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR)
            continue;
        child_ended(server, c, status);
    }
}

static void format_peer(const struct sockaddr_storage *addr, socklen_t len, char *out,
                        size_t size)
{
    char host[64], port[16];
    if (getnameinfo((const struct sockaddr *)addr, len, host, sizeof host, port, sizeof port,
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
        snprintf(out, size, "an unknown peer");
    else
        snprintf(out, size, "%s:%s", host, port);
}

/* In the session process: the main process's signal handlers and sockets are not its. */
static void become_session(Server *server, int fd, const Child *c)
{
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    close(server->listen_fd);
    int code = rpc_serve_session(server->options, c->number, fd, c->peer, c->dir);
    _exit(code);
}

/* Accepts one connection and starts its session process. */
static void accept_session(Server *server)
{
    struct sockaddr_storage addr;
    socklen_t len = sizeof addr;
    int fd = accept(server->listen_fd, (struct sockaddr *)&addr, &len);
    if (fd < 0)
        return; /* EINTR, or the peer gave up already */
    Child *c = NULL;
    for (int i = 0; i < server->options->max_sessions && !c; i++)
        if (server->children[i].pid == 0)
            c = &server->children[i];
    c->number = ++server->next_number;
    format_peer(&addr, len, c->peer, sizeof c->peer);
    snprintf(c->dir, sizeof c->dir, "%s/tessera-session-XXXXXX", server->workdir);
    if (!mkdtemp(c->dir)) {
        rpc_server_log(server->options, "session %d (%s) refused: cannot create a directory "
                       "under %s: %s", c->number, c->peer, server->workdir, strerror(errno));
        close(fd);
        return;
    }
    pid_t pid = fork();
    if (pid == 0)
        become_session(server, fd, c);
    close(fd);
    if (pid < 0) {
        rpc_server_log(server->options, "session %d (%s) refused: cannot fork: %s", c->number,
                       c->peer, strerror(errno));
        remove_tree(c->dir);
        return;
    }
    c->pid = pid;
    server->num_children++;
    rpc_server_log(server->options, "session %d from %s started", c->number, c->peer);
}

static void serve(Server *server)
{
    while (!stop_requested) {
        reap_children(server);
        bool room = server->num_children < server->options->max_sessions;
        struct pollfd p = { .fd = room ? server->listen_fd : -1, .events = POLLIN };
        int n = poll(&p, 1, POLL_MS);
        if (n > 0 && (p.revents & POLLIN) && !stop_requested)
            accept_session(server);
    }
}

/* ---- options and the whole run ---- */

static TsStatus check_options(const TsRpcServerOptions *o, TsError *err)
{
    if (!o->host || !*o->host)
        return ts_fail(err, TS_EINVAL, "rpc-server: no host to listen on");
    if (!rpc_host_is_loopback(o->host) && !(o->token && *o->token))
        return ts_fail(err, TS_EINVAL,
                       "rpc-server: refusing to listen on %s without a token: anyone who "
                       "can reach it could run code here (give one with --token-file, or "
                       "listen on 127.0.0.1)",
                       o->host);
    if (o->port < 0 || o->port > 65535)
        return ts_fail(err, TS_EINVAL, "rpc-server: port %d is not in [0, 65535]", o->port);
    if (o->max_sessions < 1)
        return ts_fail(err, TS_EINVAL, "rpc-server: max_sessions %d must be >= 1",
                       o->max_sessions);
    if (!(o->call_timeout_s >= 0) || !(o->session_timeout_s >= 0))
        return ts_fail(err, TS_EINVAL, "rpc-server: the %s timeout %g must be >= 0",
                       o->call_timeout_s >= 0 ? "session" : "call",
                       o->call_timeout_s >= 0 ? o->session_timeout_s : o->call_timeout_s);
    if (o->key && strlen(o->key) >= 64)
        return ts_fail(err, TS_EINVAL, "rpc-server: the key '%.20s...' is longer than 63 bytes",
                       o->key);
    if (o->tracker_host && (o->tracker_port < 1 || o->tracker_port > 65535))
        return ts_fail(err, TS_EINVAL, "rpc-server: tracker port %d is not in [1, 65535]",
                       o->tracker_port);
    return TS_OK;
}

static TsStatus find_workdir(const TsRpcServerOptions *o, char *out, size_t size,
                             TsError *err)
{
    const char *dir = o->workdir;
    if (!dir || !*dir)
        dir = getenv("TMPDIR");
    if (!dir || !*dir)
        dir = "/tmp";
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return ts_fail(err, TS_EINVAL, "rpc-server: the work directory %s %s", dir,
                       errno == ENOENT ? "does not exist" : "is not a directory");
    if ((size_t)snprintf(out, size, "%s", dir) >= size - 32)
        return ts_fail(err, TS_EINVAL, "rpc-server: the work directory's path is too long");
    return TS_OK;
}

static void tracker_log(const char *line, void *user)
{
    rpc_server_log(user, "tracker: %s", line);
}

/* Listens, tells on_listening and registers with the tracker. */
static TsStatus start(Server *server, TsError *err)
{
    const TsRpcServerOptions *o = server->options;
    TsStatus st = rpc_listen(o->host, o->port, &server->listen_fd, &server->port, err);
    if (st != TS_OK)
        return st;
    rpc_server_log(o, "listening on %s:%d (key %s)%s", o->host, server->port,
                   o->key ? o->key : "local", o->token ? ", token required" : "");
    if (o->on_listening)
        o->on_listening(server->port, o->user);
    if (o->tracker_host) {
        st = rpc_tracker_link_start(o->tracker_host, o->tracker_port, o->token,
                                    o->key ? o->key : "local", o->host, server->port,
                                    tracker_log, (void *)o, &server->tracker, err);
        if (st != TS_OK) {
            close(server->listen_fd);
            return st;
        }
    }
    return TS_OK;
}

TsStatus ts_rpc_server_run(const TsRpcServerOptions *options, TsError *err)
{
    TsRpcServerOptions defaults = ts_rpc_server_options_default();
    if (!options)
        options = &defaults;
    Server server = { .options = options, .listen_fd = -1 };
    TsStatus st = check_options(options, err);
    if (st == TS_OK)
        st = find_workdir(options, server.workdir, sizeof server.workdir, err);
    if (st != TS_OK)
        return st;
    server.children = calloc((size_t)options->max_sessions, sizeof *server.children);
    if (!server.children)
        return ts_fail(err, TS_ENOMEM, "rpc-server: no memory for %d sessions",
                       options->max_sessions);

    struct sigaction stop = { .sa_handler = on_stop_signal }, old_int, old_term;
    sigemptyset(&stop.sa_mask);
    stop_requested = 0;
    sigaction(SIGINT, &stop, &old_int);
    sigaction(SIGTERM, &stop, &old_term);
    st = start(&server, err);
    if (st != TS_OK)
        goto out_restore_signals;
    serve(&server);
    rpc_server_log(options, "stopping");
    stop_children(&server);
    if (server.tracker)
        rpc_tracker_link_stop(server.tracker);
    close(server.listen_fd);

out_restore_signals:
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    free(server.children);
    return st;
}
