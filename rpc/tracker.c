/* The tracker's event loop (`tessera tracker`): one process, one poll() over the
 * listening socket and every connection. Device servers register and send heartbeats,
 * clients ask for devices by key; what they ask is decided in tracker_pool.c.
 *
 * No peer can stall the loop: frames are read without blocking, a piece at a time, as
 * poll() reports bytes (a slow or silent peer only holds its own half-read frame); a new
 * connection gets its Welcome at once and must answer within RPC_TRACKER_HELLO_TIMEOUT_S;
 * sends are bounded by RPC_TRACKER_IO_TIMEOUT_S. A malformed, oversized or refused
 * message ends that connection, logged with the reason, never the tracker. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "rpc/tracker_internal.h"

/* More connections than this are refused at accept (a tracker serves a lab, not the
 * internet); each costs a pollfd and a few hundred bytes. */
#define MAX_CONNS 1000
/* The loop wakes at least this often to notice SIGINT and SIGTERM. */
#define MAX_POLL_S 0.25

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

TsTrackerOptions ts_tracker_options_default(void)
{
    TsTrackerOptions o = { 0 };
    o.host = "127.0.0.1";
    o.port = TS_RPC_DEFAULT_TRACKER_PORT;
    o.heartbeat_timeout_s = 10.0;
    return o;
}

double rpc_tracker_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void rpc_tracker_log(RpcTracker *t, const char *fmt, ...)
{
    char line[768];
    int n = snprintf(line, sizeof line, "tracker: ");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    if (t->options->log) {
        t->options->log(line, t->options->user);
    } else {
        fprintf(stderr, "%s\n", line);
        fflush(stderr);
    }
}

void rpc_tracker_close_later(RpcTrackerConn *c, const char *fmt, ...)
{
    if (c->closing)
        return;
    c->closing = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->close_reason, sizeof c->close_reason, fmt, ap);
    va_end(ap);
}

bool rpc_tracker_send(RpcTracker *t, RpcTrackerConn *c, const ProtobufCMessage *msg)
{
    (void)t;
    if (c->closing)
        return false;
    TsError err;
    if (rpc_send(&c->conn, msg, &err) != TS_OK) {
        rpc_tracker_close_later(c, "%s", err.message);
        return false;
    }
    return true;
}

bool rpc_tracker_send_status(RpcTracker *t, RpcTrackerConn *c, uint64_t id, TsStatus status,
                             const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    Tessera__Rpc__Reply reply = TESSERA__RPC__REPLY__INIT;
    reply.id = id;
    reply.status = (int32_t)status;
    reply.message = text;
    return rpc_tracker_send(t, c, &reply.base);
}

/* ---- reading frames without blocking ---- */

static void reader_reset(RpcFrameReader *r)
{
    free(r->body);
    memset(r, 0, sizeof *r);
}

/* Reads what the socket has now. Returns 1 when a whole frame is in r (body, len), 0
 * when more must come, -1 when the connection must end (c is marked with the reason). */
static int read_some(RpcTrackerConn *c)
{
    RpcFrameReader *r = &c->reader;
    for (;;) {
        uint8_t *dst;
        size_t want;
        if (r->prefix_got < RPC_PREFIX_BYTES) {
            dst = r->prefix + r->prefix_got;
            want = RPC_PREFIX_BYTES - r->prefix_got;
        } else {
            if (r->body_got == r->len)
                return 1;
            dst = r->body + r->body_got;
            want = r->len - r->body_got;
        }
        ssize_t got = recv(c->conn.fd, dst, want, MSG_DONTWAIT);
        if (got == 0) {
            rpc_tracker_close_later(c, "%s: connection closed%s", c->conn.peer,
                                    r->prefix_got ? " in the middle of a message" : "");
            return -1;
        }
        if (got < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            rpc_tracker_close_later(c, "%s: receiving failed: %s", c->conn.peer,
                                    strerror(errno));
            return -1;
        }
        if (r->prefix_got < RPC_PREFIX_BYTES) {
            r->prefix_got += (size_t)got;
            if (r->prefix_got < RPC_PREFIX_BYTES)
                continue;
            uint64_t len = 0;
            for (int i = 0; i < RPC_PREFIX_BYTES; i++)
                len |= (uint64_t)r->prefix[i] << (8 * i);
            if (len > c->conn.max_message) {
                rpc_tracker_close_later(c, "%s: announced a %llu-byte message, over the "
                                        "tracker's limit of %llu bytes", c->conn.peer,
                                        (unsigned long long)len,
                                        (unsigned long long)c->conn.max_message);
                return -1;
            }
            r->len = (size_t)len;
            r->body = malloc(r->len ? r->len : 1);
            if (!r->body) {
                rpc_tracker_close_later(c, "%s: no memory for a %zu-byte message",
                                        c->conn.peer, r->len);
                return -1;
            }
        } else {
            r->body_got += (size_t)got;
        }
    }
}

/* The first request of a connection must be a good hello (auth.c checks it and answers). */
static void greet(RpcTracker *t, RpcTrackerConn *c, const Tessera__Rpc__Request *req)
{
    TsError err;
    if (rpc_handshake_check_hello(&c->conn, "tessera-tracker", t->options->token,
                                  c->challenge, req, &err) != TS_OK) {
        rpc_tracker_close_later(c, "%s (refused)", err.message);
        return;
    }
    c->greeted = true;
}

/* Reads and handles every whole frame c has sent so far. */
static void on_readable(RpcTracker *t, RpcTrackerConn *c)
{
    while (!c->closing) {
        int got = read_some(c);
        if (got <= 0)
            return;
        RpcFrameReader *r = &c->reader;
        Tessera__Rpc__Request *req =
            tessera__rpc__request__unpack(NULL, r->len, r->body);
        size_t len = r->len;
        reader_reset(r);
        if (!req) {
            rpc_tracker_close_later(c, "%s: a %zu-byte message is not a valid Request",
                                    c->conn.peer, len);
            return;
        }
        c->last_heard = rpc_tracker_now();
        if (c->greeted)
            rpc_tracker_handle(t, c, req);
        else
            greet(t, c, req);
        tessera__rpc__request__free_unpacked(req, NULL);
    }
}

/* ---- connections ---- */

static void peer_name(int fd, char *out, size_t size)
{
    struct sockaddr_storage addr;
    socklen_t len = sizeof addr;
    char host[64] = "?", port[16] = "?";
    if (getpeername(fd, (struct sockaddr *)&addr, &len) == 0)
        getnameinfo((struct sockaddr *)&addr, len, host, sizeof host, port, sizeof port,
                    NI_NUMERICHOST | NI_NUMERICSERV);
    snprintf(out, size, "%s:%s", host, port);
}

static void add_conn(RpcTracker *t, int fd)
{
    char peer[96], name[128];
    peer_name(fd, peer, sizeof peer);
    snprintf(name, sizeof name, "peer %s", peer);
    if (t->num_conns >= MAX_CONNS) {
        rpc_tracker_log(t, "%s: refused, %d connections already open", name, MAX_CONNS);
        close(fd);
        return;
    }
    if (t->num_conns == t->cap_conns) {
        int cap = t->cap_conns ? 2 * t->cap_conns : 16;
        RpcTrackerConn **grown = realloc(t->conns, (size_t)cap * sizeof *grown);
        if (!grown) {
            rpc_tracker_log(t, "%s: refused, out of memory", name);
            close(fd);
            return;
        }
        t->conns = grown;
        t->cap_conns = cap;
    }
    RpcTrackerConn *c = calloc(1, sizeof *c);
    if (!c) {
        rpc_tracker_log(t, "%s: refused, out of memory", name);
        close(fd);
        return;
    }
    rpc_conn_init(&c->conn, fd, name, RPC_TRACKER_IO_TIMEOUT_S, RPC_TRACKER_MAX_MESSAGE);
    c->accepted_at = c->last_heard = rpc_tracker_now();
    t->conns[t->num_conns++] = c;
    TsError err;
    if (rpc_handshake_welcome(&c->conn, "tessera-tracker", "", t->options->token,
                              c->challenge, &err) != TS_OK)
        rpc_tracker_close_later(c, "%s", err.message);
}

static void accept_all(RpcTracker *t)
{
    for (;;) {
        int fd = accept(t->listen_fd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                rpc_tracker_log(t, "accept failed: %s", strerror(errno));
            return;
        }
        fcntl(fd, F_SETFD, FD_CLOEXEC);
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        add_conn(t, fd);
    }
}

/* A greeted client or status query that closes between messages has simply left: the
 * log keeps to what an operator needs (servers, leases, refusals, broken messages). */
static bool left_quietly(const RpcTrackerConn *c)
{
    return c->greeted && !c->device && c->reader.prefix_got == 0 &&
           strstr(c->close_reason, ": connection closed") != NULL;
}

/* Ends the connections marked closing, with what they held. Returns how many. */
static int sweep(RpcTracker *t)
{
    int swept = 0;
    for (int i = 0; i < t->num_conns;) {
        RpcTrackerConn *c = t->conns[i];
        if (!c->closing) {
            i++;
            continue;
        }
        if (!left_quietly(c))
            rpc_tracker_log(t, "%s", c->close_reason);
        rpc_tracker_forget_conn(t, c);
        rpc_conn_close(&c->conn);
        reader_reset(&c->reader);
        free(c);
        t->conns[i] = t->conns[--t->num_conns];
        swept++;
    }
    return swept;
}

/* Connections that never said hello in time are closed. */
static double check_hellos(RpcTracker *t, double now, double next_s)
{
    for (int i = 0; i < t->num_conns; i++) {
        RpcTrackerConn *c = t->conns[i];
        if (c->greeted || c->closing)
            continue;
        double left = c->accepted_at + RPC_TRACKER_HELLO_TIMEOUT_S - now;
        if (left <= 0)
            rpc_tracker_close_later(c, "%s: no hello within %g s", c->conn.peer,
                                    RPC_TRACKER_HELLO_TIMEOUT_S);
        else if (left < next_s)
            next_s = left;
    }
    return next_s;
}

/* Deadlines, then ends what must end and hands freed devices to waiting clients, until
 * nothing more changes (telling a client may fail and close it, which frees a device).
 * Returns the seconds until the next deadline. */
static double settle(RpcTracker *t)
{
    double next_s = rpc_tracker_check_deadlines(t, MAX_POLL_S);
    next_s = check_hellos(t, rpc_tracker_now(), next_s);
    do {
        rpc_tracker_serve_waiters(t);
    } while (sweep(t) > 0);
    return next_s;
}

static TsStatus poll_once(RpcTracker *t, struct pollfd **fds, int *cap, double wait_s,
                          TsError *err)
{
    int n = t->num_conns + 1;
    if (n > *cap) {
        struct pollfd *grown = realloc(*fds, (size_t)n * 2 * sizeof *grown);
        if (!grown)
            return ts_fail(err, TS_ENOMEM, "tracker: no memory to poll %d connections", n);
        *fds = grown;
        *cap = n * 2;
    }
    struct pollfd *p = *fds;
    p[0] = (struct pollfd){ .fd = t->listen_fd, .events = POLLIN };
    for (int i = 0; i < t->num_conns; i++)
        p[i + 1] = (struct pollfd){ .fd = t->conns[i]->conn.fd, .events = POLLIN };
    int ready = poll(p, (nfds_t)n, (int)(wait_s * 1000.0) + 1);
    if (ready < 0) {
        if (errno == EINTR)
            return TS_OK;
        return ts_fail(err, TS_EIO, "tracker: poll failed: %s", strerror(errno));
    }
    /* Connections are only added (at the end) by accept_all, and only removed by
     * sweep, so p[i + 1] is still conns[i] here. */
    for (int i = 0; i < n - 1; i++)
        if (p[i + 1].revents & (POLLIN | POLLHUP | POLLERR))
            on_readable(t, t->conns[i]);
    if (p[0].revents & POLLIN)
        accept_all(t);
    return TS_OK;
}

static TsStatus serve(RpcTracker *t, TsError *err)
{
    struct pollfd *fds = NULL;
    int cap = 0;
    TsStatus st = TS_OK;
    double wait_s = 0;
    while (!stop_requested) {
        st = poll_once(t, &fds, &cap, wait_s, err);
        if (st != TS_OK)
            break;
        wait_s = settle(t);
    }
    free(fds);
    return st;
}

static void free_tracker(RpcTracker *t)
{
    for (int i = 0; i < t->num_conns; i++) {
        rpc_conn_close(&t->conns[i]->conn);
        reader_reset(&t->conns[i]->reader);
        free(t->conns[i]);
    }
    free(t->conns);
    rpc_tracker_pool_free(t);
}

TsStatus ts_tracker_run(const TsTrackerOptions *options, TsError *err)
{
    TsTrackerOptions defaults = ts_tracker_options_default();
    const TsTrackerOptions *o = options ? options : &defaults;
    if (!(o->heartbeat_timeout_s > 0))
        return ts_fail(err, TS_EINVAL, "tracker: the heartbeat timeout must be > 0 s, not %g",
                       o->heartbeat_timeout_s);
    if (o->token && !*o->token)
        return ts_fail(err, TS_EINVAL, "tracker: the token is empty");
    const char *host = o->host ? o->host : "127.0.0.1";
    RpcTracker t = { .options = o, .listen_fd = -1 };
    int port;
    TsStatus st = rpc_listen(host, o->port, &t.listen_fd, &port, err);
    if (st != TS_OK)
        return st;
    fcntl(t.listen_fd, F_SETFL, fcntl(t.listen_fd, F_GETFL) | O_NONBLOCK);

    struct sigaction stop = { .sa_handler = on_stop_signal }, old_int, old_term;
    sigemptyset(&stop.sa_mask);
    stop_requested = 0;
    sigaction(SIGINT, &stop, &old_int);
    sigaction(SIGTERM, &stop, &old_term);

    rpc_tracker_log(&t, "listening on %s:%d%s", host, port,
                    o->token ? " (token required)" : "");
    if (o->on_listening)
        o->on_listening(port, o->user);
    st = serve(&t, err);
    if (st == TS_OK)
        rpc_tracker_log(&t, "stopping");

    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    free_tracker(&t);
    close(t.listen_fd);
    return st;
}
