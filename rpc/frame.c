/* Framing and sockets for every RPC connection: a message is an 8-byte little-endian
 * length and that many bytes of protobuf. Lengths are checked against the receiver's
 * limit before memory is allocated; every read and write is bounded by the connection's
 * timeout; failures name the peer. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "rpc/rpc_internal.h"

void rpc_conn_init(RpcConn *conn, int fd, const char *peer, double timeout_s,
                   uint64_t max_message)
{
    conn->fd = fd;
    snprintf(conn->peer, sizeof conn->peer, "%s", peer ? peer : "rpc peer");
    conn->timeout_s = timeout_s;
    conn->max_message = max_message ? max_message : TS_RPC_DEFAULT_MAX_MESSAGE;
}

void rpc_conn_close(RpcConn *conn)
{
    if (conn->fd >= 0)
        close(conn->fd);
    conn->fd = -1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Waits for events on fd until deadline (< 0: forever). 1 ready, 0 timeout, -1 error.
 * A deadline already past still looks once (rpc_wait_readable(fd, 0) is a check). */
static int wait_fd(int fd, short events, double deadline)
{
    for (;;) {
        int timeout_ms = -1;
        if (deadline >= 0) {
            double left = deadline - now_s();
            timeout_ms = left > 0 ? (int)(left * 1000.0) + 1 : 0;
        }
        struct pollfd p = { .fd = fd, .events = events };
        int n = poll(&p, 1, timeout_ms);
        if (n > 0)
            return 1;
        if (n == 0 && timeout_ms == 0)
            return 0;
        if (n == 0)
            continue; /* re-check the deadline */
        if (errno != EINTR)
            return -1;
    }
}

int rpc_wait_readable(int fd, double timeout_s)
{
    return wait_fd(fd, POLLIN, timeout_s < 0 ? -1.0 : now_s() + timeout_s);
}

static TsStatus write_all(RpcConn *conn, const uint8_t *buf, size_t n, double deadline,
                          TsError *err)
{
    while (n > 0) {
        int ready = wait_fd(conn->fd, POLLOUT, deadline);
        if (ready == 0)
            return ts_fail(err, TS_ETIMEOUT, "%s: timed out after %g s sending a message",
                           conn->peer, conn->timeout_s);
        if (ready < 0)
            return ts_fail(err, TS_EIO, "%s: %s", conn->peer, strerror(errno));
        ssize_t w = send(conn->fd, buf, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
                continue;
            return ts_fail(err, TS_EIO, "%s: sending failed: %s", conn->peer, strerror(errno));
        }
        buf += w;
        n -= (size_t)w;
    }
    return TS_OK;
}

/* Reads exactly n bytes. *got counts what arrived (0 with TS_EIO means a clean close
 * before the first byte). */
static TsStatus read_all(RpcConn *conn, uint8_t *buf, size_t n, double deadline,
                         const char *what, size_t *got, TsError *err)
{
    *got = 0;
    while (*got < n) {
        int ready = wait_fd(conn->fd, POLLIN, deadline);
        if (ready == 0)
            return ts_fail(err, TS_ETIMEOUT, "%s: timed out after %g s waiting for %s",
                           conn->peer, conn->timeout_s, what);
        if (ready < 0)
            return ts_fail(err, TS_EIO, "%s: %s", conn->peer, strerror(errno));
        ssize_t r = recv(conn->fd, buf + *got, n - *got, 0);
        if (r == 0)
            return ts_fail(err, TS_EIO, "%s: connection closed by the peer while waiting for %s%s",
                           conn->peer, what, *got ? " (message cut short)" : "");
        if (r < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
                continue;
            return ts_fail(err, TS_EIO, "%s: receiving %s failed: %s", conn->peer, what,
                           strerror(errno));
        }
        *got += (size_t)r;
    }
    return TS_OK;
}

TsStatus rpc_send(RpcConn *conn, const ProtobufCMessage *msg, TsError *err)
{
    size_t size = protobuf_c_message_get_packed_size(msg);
    if ((uint64_t)size > conn->max_message)
        return ts_fail(err, TS_EINVAL, "%s: a %s of %zu bytes is over the message limit of %llu bytes",
                       conn->peer, msg->descriptor->short_name, size,
                       (unsigned long long)conn->max_message);
    uint8_t *buf = malloc(RPC_PREFIX_BYTES + size);
    if (!buf)
        return ts_fail(err, TS_ENOMEM, "%s: no memory for a %zu-byte message", conn->peer, size);
    uint64_t len = size;
    for (int i = 0; i < RPC_PREFIX_BYTES; i++)
        buf[i] = (uint8_t)(len >> (8 * i));
    protobuf_c_message_pack(msg, buf + RPC_PREFIX_BYTES);
    double deadline = conn->timeout_s > 0 ? now_s() + conn->timeout_s : -1.0;
    TsStatus st = write_all(conn, buf, RPC_PREFIX_BYTES + size, deadline, err);
    free(buf);
    return st;
}

TsStatus rpc_recv(RpcConn *conn, const ProtobufCMessageDescriptor *desc, const char *what,
                  ProtobufCMessage **out, TsError *err)
{
    *out = NULL;
    double deadline = conn->timeout_s > 0 ? now_s() + conn->timeout_s : -1.0;
    uint8_t prefix[RPC_PREFIX_BYTES];
    size_t got;
    TsStatus st = read_all(conn, prefix, sizeof prefix, deadline, what, &got, err);
    if (st != TS_OK)
        return st;
    uint64_t len = 0;
    for (int i = 0; i < RPC_PREFIX_BYTES; i++)
        len |= (uint64_t)prefix[i] << (8 * i);
    if (len > conn->max_message)
        return ts_fail(err, TS_EPROTO,
                       "%s: announced a %llu-byte message (%s), over the limit of %llu bytes",
                       conn->peer, (unsigned long long)len, what,
                       (unsigned long long)conn->max_message);
    uint8_t *body = malloc(len ? (size_t)len : 1);
    if (!body)
        return ts_fail(err, TS_ENOMEM, "%s: no memory for a %llu-byte message", conn->peer,
                       (unsigned long long)len);
    st = read_all(conn, body, (size_t)len, deadline, what, &got, err);
    if (st == TS_OK) {
        *out = protobuf_c_message_unpack(desc, NULL, (size_t)len, body);
        if (!*out)
            st = ts_fail(err, TS_EPROTO, "%s: %s is not a valid %s message (%llu bytes)",
                         conn->peer, what, desc->short_name, (unsigned long long)len);
    }
    free(body);
    return st;
}

/* ---- sockets ---- */

bool rpc_host_is_loopback(const char *host)
{
    if (!host)
        return false;
    if (strcmp(host, "localhost") == 0 || strcmp(host, "::1") == 0)
        return true;
    return strncmp(host, "127.", 4) == 0;
}

TsStatus ts_rpc_parse_endpoint(const char *text, char *host, size_t size, int *port,
                               TsError *err)
{
    const char *colon = text ? strrchr(text, ':') : NULL;
    if (!colon || colon == text || (size_t)(colon - text) >= size)
        return ts_fail(err, TS_EINVAL, "'%s' is not HOST:PORT", text ? text : "(null)");
    char *end;
    errno = 0;
    long value = strtol(colon + 1, &end, 10);
    if (errno || end == colon + 1 || *end || value < 1 || value > 65535)
        return ts_fail(err, TS_EINVAL, "'%s': the port must be a number in [1, 65535]", text);
    memcpy(host, text, (size_t)(colon - text));
    host[colon - text] = '\0';
    *port = (int)value;
    return TS_OK;
}

static TsStatus resolve(const char *host, int port, int flags, struct addrinfo **out,
                        TsError *err)
{
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                              .ai_flags = flags };
    int rc = getaddrinfo(host, service, &hints, out);
    if (rc != 0)
        return ts_fail(err, TS_EINVAL, "rpc %s:%d: cannot resolve the host: %s", host, port,
                       gai_strerror(rc));
    return TS_OK;
}

TsStatus rpc_listen(const char *host, int port, int *fd_out, int *bound_port, TsError *err)
{
    struct addrinfo *ai;
    TsStatus st = resolve(host, port, AI_PASSIVE, &ai, err);
    if (st != TS_OK)
        return st;
    int fd = -1, saved = 0;
    for (struct addrinfo *a = ai; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, 64) == 0)
            break;
        saved = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    if (fd < 0)
        return ts_fail(err, TS_EIO, "rpc: cannot listen on %s:%d: %s", host, port,
                       strerror(saved));
    struct sockaddr_storage addr;
    socklen_t len = sizeof addr;
    int bound = port;
    if (getsockname(fd, (struct sockaddr *)&addr, &len) == 0) {
        if (addr.ss_family == AF_INET)
            bound = ntohs(((struct sockaddr_in *)&addr)->sin_port);
        else if (addr.ss_family == AF_INET6)
            bound = ntohs(((struct sockaddr_in6 *)&addr)->sin6_port);
    }
    *fd_out = fd;
    if (bound_port)
        *bound_port = bound;
    return TS_OK;
}

static int connect_one(const struct addrinfo *a, double timeout_s, int *saved)
{
    int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
        *saved = errno;
        return -1;
    }
    int flags = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    int rc = connect(fd, a->ai_addr, a->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
        int ready = wait_fd(fd, POLLOUT, timeout_s > 0 ? now_s() + timeout_s : -1.0);
        if (ready <= 0) {
            *saved = ready == 0 ? ETIMEDOUT : errno;
            close(fd);
            return -1;
        }
        int so_error = 0;
        socklen_t len = sizeof so_error;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len);
        rc = so_error ? -1 : 0;
        errno = so_error;
    }
    if (rc != 0) {
        *saved = errno;
        close(fd);
        return -1;
    }
    fcntl(fd, F_SETFL, flags);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

TsStatus rpc_connect_tcp(const char *host, int port, double timeout_s, int *fd_out,
                         TsError *err)
{
    struct addrinfo *ai;
    TsStatus st = resolve(host, port, 0, &ai, err);
    if (st != TS_OK)
        return st;
    int fd = -1, saved = 0;
    for (struct addrinfo *a = ai; a && fd < 0; a = a->ai_next)
        fd = connect_one(a, timeout_s, &saved);
    freeaddrinfo(ai);
    if (fd >= 0) {
        *fd_out = fd;
        return TS_OK;
    }
    if (saved == ETIMEDOUT)
        return ts_fail(err, TS_ETIMEOUT, "rpc %s:%d: connecting timed out after %g s", host,
                       port, timeout_s);
    if (saved == ECONNREFUSED)
        return ts_fail(err, TS_EIO, "rpc %s:%d: connection refused (is a server running there?)",
                       host, port);
    return ts_fail(err, TS_EIO, "rpc %s:%d: cannot connect: %s", host, port, strerror(saved));
}
