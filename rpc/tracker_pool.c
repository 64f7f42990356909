/* The tracker's pool: which device servers are registered under which key, which client
 * holds which device, and who waits. tracker.c's event loop hands it each request of a
 * greeted connection, asks it to serve waiting clients after every round of events, and
 * tells it when a connection ends.
 *
 * A device is leased to at most one client at a time. Waiting clients are served by
 * priority (higher first), then in order of arrival. A lease ends when its client
 * releases it or disconnects (the server is told ENDED), or when the server goes (the
 * client is told LOST, with the reason). A request for a key no server has registered
 * waits like any other: a server may register later, and status shows it pending. */
#include <math.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "rpc/tracker_internal.h"

/* Answers (and status lines) stay well inside RPC_TRACKER_MAX_MESSAGE. */
#define MAX_STATUS_KEYS 500
#define MAX_WAITERS 10000

static const char *request_name(const Tessera__Rpc__Request *req)
{
    const ProtobufCFieldDescriptor *field =
        protobuf_c_message_descriptor_get_field(&tessera__rpc__request__descriptor,
                                                (unsigned)req->body_case);
    return field ? field->name : "an empty request";
}

/* Keys and hosts go into logs and messages: printable ASCII, bounded. */
static bool printable(const char *text, size_t max_len)
{
    size_t n = 0;
    for (; text[n]; n++)
        if (n >= max_len || text[n] < 0x20 || text[n] > 0x7e)
            return false;
    return true;
}

static bool check_key(RpcTracker *t, RpcTrackerConn *c, uint64_t id, const char *key)
{
    if (*key && printable(key, RPC_TRACKER_MAX_KEY))
        return true;
    rpc_tracker_send_status(t, c, id, TS_EINVAL,
                            "device key '%.64s' must be 1 to %d printable characters", key,
                            RPC_TRACKER_MAX_KEY);
    return false;
}

static void send_event(RpcTracker *t, RpcTrackerConn *to, const char *lease_id,
                       Tessera__Rpc__LeaseEvent__Kind kind, const char *reason)
{
    Tessera__Rpc__LeaseEvent event = TESSERA__RPC__LEASE_EVENT__INIT;
    event.lease_id = (char *)lease_id;
    event.kind = kind;
    event.reason = (char *)reason;
    Tessera__Rpc__Reply reply = TESSERA__RPC__REPLY__INIT;
    reply.body_case = TESSERA__RPC__REPLY__BODY_LEASE_EVENT;
    reply.lease_event = &event;
    rpc_tracker_send(t, to, &reply.base);
}

/* The lease on d ends (released, or its client left); its server is told. */
static void end_lease(RpcTracker *t, RpcDevice *d, const char *why)
{
    rpc_tracker_log(t, "lease %s on server %s:%d (key '%s') ended: %s", d->lease_id, d->host,
                    d->port, d->key, why);
    send_event(t, d->server, d->lease_id, TESSERA__RPC__LEASE_EVENT__KIND__ENDED, why);
    d->lessee = NULL;
    d->lease_id[0] = '\0';
}

static void remove_device(RpcTracker *t, RpcDevice *d)
{
    for (int i = 0; i < t->num_devices; i++)
        if (t->devices[i] == d) {
            memmove(&t->devices[i], &t->devices[i + 1],
                    (size_t)(t->num_devices - i - 1) * sizeof *t->devices);
            t->num_devices--;
            break;
        }
    free(d);
}

static void remove_waiter(RpcTracker *t, int i)
{
    memmove(&t->waiters[i], &t->waiters[i + 1],
            (size_t)(t->num_waiters - i - 1) * sizeof *t->waiters);
    t->num_waiters--;
}

/* ---- Register and Heartbeat, from device servers ---- */

/* Where clients reach a server that registered without a host (or with a wildcard):
 * the address its connection came from. */
static void connection_host(const RpcTrackerConn *c, char *host, size_t size)
{
    struct sockaddr_storage addr;
    socklen_t len = sizeof addr;
    snprintf(host, size, "127.0.0.1");
    if (getpeername(c->conn.fd, (struct sockaddr *)&addr, &len) == 0)
        getnameinfo((struct sockaddr *)&addr, len, host, (socklen_t)size, NULL, 0,
                    NI_NUMERICHOST);
}

/* A server that registers again from a new connection (it restarted, or its old link
 * broke unnoticed) replaces its old registration. */
static void drop_same_address(RpcTracker *t, const RpcDevice *fresh)
{
    for (int i = 0; i < t->num_devices; i++) {
        RpcDevice *d = t->devices[i];
        if (d == fresh || d->port != fresh->port || strcmp(d->host, fresh->host) != 0)
            continue;
        snprintf(d->lost_reason, sizeof d->lost_reason,
                 "server %s:%d (key '%s') registered again from a new connection", d->host,
                 d->port, d->key);
        rpc_tracker_close_later(d->server, "%s", d->lost_reason);
    }
}

static bool grow_devices(RpcTracker *t)
{
    if (t->num_devices < t->cap_devices)
        return true;
    int cap = t->cap_devices ? 2 * t->cap_devices : 8;
    RpcDevice **grown = realloc(t->devices, (size_t)cap * sizeof *grown);
    if (!grown)
        return false;
    t->devices = grown;
    t->cap_devices = cap;
    return true;
}

static void on_register(RpcTracker *t, RpcTrackerConn *c, uint64_t id,
                        const Tessera__Rpc__Register *reg)
{
    if (c->device) {
        rpc_tracker_send_status(t, c, id, TS_EINVAL, "this connection already registered %s",
                                c->device->server_id);
        return;
    }
    if (!check_key(t, c, id, reg->device_key))
        return;
    if (reg->port == 0 || reg->port > 65535 || !printable(reg->host, 127)) {
        rpc_tracker_send_status(t, c, id, TS_EINVAL, "cannot register '%.127s:%u': not a "
                                "host name and a port in [1, 65535]", reg->host, reg->port);
        return;
    }
    RpcDevice *d = calloc(1, sizeof *d);
    if (!d || !grow_devices(t)) {
        free(d);
        rpc_tracker_send_status(t, c, id, TS_ENOMEM, "the tracker is out of memory");
        return;
    }
    snprintf(d->key, sizeof d->key, "%s", reg->device_key);
    if (!*reg->host || strcmp(reg->host, "0.0.0.0") == 0 || strcmp(reg->host, "::") == 0)
        connection_host(c, d->host, sizeof d->host);
    else
        snprintf(d->host, sizeof d->host, "%s", reg->host);
    d->port = (int)reg->port;
    snprintf(d->server_id, sizeof d->server_id, "server-%llu",
             (unsigned long long)++t->next_server_id);
    d->server = c;
    c->device = d;
    t->devices[t->num_devices++] = d;
    drop_same_address(t, d);

    Tessera__Rpc__RegisterReply body = TESSERA__RPC__REGISTER_REPLY__INIT;
    body.server_id = d->server_id;
    Tessera__Rpc__Reply reply = TESSERA__RPC__REPLY__INIT;
    reply.id = id;
    reply.body_case = TESSERA__RPC__REPLY__BODY_REGISTER;
    reply.register_ = &body;
    rpc_tracker_send(t, c, &reply.base);
    rpc_tracker_log(t, "server %s:%d registered under key '%s' as %s", d->host, d->port,
                    d->key, d->server_id);
}

/* ---- RequestDevice and ReleaseDevice, from clients ---- */

static void on_request_device(RpcTracker *t, RpcTrackerConn *c, uint64_t id,
                              const Tessera__Rpc__RequestDevice *rd)
{
    if (!check_key(t, c, id, rd->device_key))
        return;
    if (!isfinite(rd->wait_s) || rd->wait_s < 0 || rd->wait_s > 1e9) {
        rpc_tracker_send_status(t, c, id, TS_EINVAL, "wait_s %g for key '%s' must be in "
                                "[0, 1e9] seconds", rd->wait_s, rd->device_key);
        return;
    }
    if (t->num_waiters == t->cap_waiters) {
        int cap = t->cap_waiters ? 2 * t->cap_waiters : 16;
        RpcWaiter *grown = cap > MAX_WAITERS ? NULL
                                             : realloc(t->waiters, (size_t)cap * sizeof *grown);
        if (!grown) {
            rpc_tracker_send_status(t, c, id, TS_ENOMEM, "the tracker cannot queue more than "
                                    "%d requests", t->num_waiters);
            return;
        }
        t->waiters = grown;
        t->cap_waiters = cap;
    }
    RpcWaiter *w = &t->waiters[t->num_waiters++];
    memset(w, 0, sizeof *w);
    w->client = c;
    w->request_id = id;
    snprintf(w->key, sizeof w->key, "%s", rd->device_key);
    w->priority = rd->priority;
    w->arrival = t->next_arrival++;
    w->wait_s = rd->wait_s;
    w->deadline = rpc_tracker_now() + rd->wait_s;
}

static void on_release(RpcTracker *t, RpcTrackerConn *c, uint64_t id, const char *lease_id)
{
    for (int i = 0; i < t->num_devices; i++) {
        RpcDevice *d = t->devices[i];
        if (d->lessee == c && strcmp(d->lease_id, lease_id) == 0) {
            end_lease(t, d, "released by the client");
            rpc_tracker_send_status(t, c, id, TS_OK, "%s", "");
            return;
        }
    }
    rpc_tracker_send_status(t, c, id, TS_EINVAL,
                            "lease '%.64s' is not held on this connection (lost or released)",
                            lease_id);
}

/* ---- TrackerStatus ---- */

static int compare_status(const void *a, const void *b)
{
    return strcmp(((const Tessera__Rpc__KeyStatus *)a)->device_key,
                  ((const Tessera__Rpc__KeyStatus *)b)->device_key);
}

/* The entry for key in keys[0..*num), added when missing (NULL when full). */
static Tessera__Rpc__KeyStatus *status_of(Tessera__Rpc__KeyStatus *keys, size_t *num,
                                          const char *key)
{
    for (size_t i = 0; i < *num; i++)
        if (strcmp(keys[i].device_key, key) == 0)
            return &keys[i];
    if (*num == MAX_STATUS_KEYS)
        return NULL;
    Tessera__Rpc__KeyStatus *k = &keys[(*num)++];
    tessera__rpc__key_status__init(k);
    k->device_key = (char *)key;
    return k;
}

static void on_status(RpcTracker *t, RpcTrackerConn *c, uint64_t id)
{
    Tessera__Rpc__KeyStatus *keys = calloc(MAX_STATUS_KEYS, sizeof *keys);
    Tessera__Rpc__KeyStatus **ptrs = calloc(MAX_STATUS_KEYS, sizeof *ptrs);
    if (!keys || !ptrs) {
        rpc_tracker_send_status(t, c, id, TS_ENOMEM, "the tracker is out of memory");
        goto out_free;
    }
    size_t num = 0;
    for (int i = 0; i < t->num_devices; i++) {
        Tessera__Rpc__KeyStatus *k = status_of(keys, &num, t->devices[i]->key);
        if (k && t->devices[i]->lessee)
            k->leased++;
        else if (k)
            k->free++;
    }
    for (int i = 0; i < t->num_waiters; i++) {
        Tessera__Rpc__KeyStatus *k = status_of(keys, &num, t->waiters[i].key);
        if (k)
            k->pending++;
    }
    qsort(keys, num, sizeof *keys, compare_status);
    for (size_t i = 0; i < num; i++)
        ptrs[i] = &keys[i];
    Tessera__Rpc__TrackerStatusReply body = TESSERA__RPC__TRACKER_STATUS_REPLY__INIT;
    body.n_keys = num;
    body.keys = ptrs;
    Tessera__Rpc__Reply reply = TESSERA__RPC__REPLY__INIT;
    reply.id = id;
    reply.body_case = TESSERA__RPC__REPLY__BODY_TRACKER_STATUS;
    reply.tracker_status = &body;
    rpc_tracker_send(t, c, &reply.base);
out_free:
    free(ptrs);
    free(keys);
}

void rpc_tracker_handle(RpcTracker *t, RpcTrackerConn *c, const Tessera__Rpc__Request *req)
{
    switch (req->body_case) {
    case TESSERA__RPC__REQUEST__BODY_REGISTER:
        on_register(t, c, req->id, req->register_);
        return;
    case TESSERA__RPC__REQUEST__BODY_HEARTBEAT:
        if (c->device)
            rpc_tracker_send_status(t, c, req->id, TS_OK, "%s", "");
        else
            rpc_tracker_send_status(t, c, req->id, TS_EINVAL, "a heartbeat before Register");
        return;
    case TESSERA__RPC__REQUEST__BODY_REQUEST_DEVICE:
        on_request_device(t, c, req->id, req->request_device);
        return;
    case TESSERA__RPC__REQUEST__BODY_RELEASE_DEVICE:
        on_release(t, c, req->id, req->release_device->lease_id);
        return;
    case TESSERA__RPC__REQUEST__BODY_TRACKER_STATUS:
        on_status(t, c, req->id);
        return;
    default:
        /* hello again, or a device server's request sent to the tracker by mistake */
        rpc_tracker_send_status(t, c, req->id, TS_EINVAL, "'%s' is not a tracker request",
                                request_name(req));
        return;
    }
}

/* ---- matching waiters with devices ---- */

/* Higher priority first, then earlier arrival. */
static int compare_waiters(const void *a, const void *b)
{
    const RpcWaiter *x = a, *y = b;
    if (x->priority != y->priority)
        return x->priority > y->priority ? -1 : 1;
    return x->arrival < y->arrival ? -1 : x->arrival > y->arrival;
}

static RpcDevice *free_device(RpcTracker *t, const char *key)
{
    for (int i = 0; i < t->num_devices; i++) {
        RpcDevice *d = t->devices[i];
        if (!d->lessee && !d->server->closing && strcmp(d->key, key) == 0)
            return d;
    }
    return NULL;
}

/* Leases d to w's client: the server hears GRANTED, the client gets the DeviceLease. */
static void grant(RpcTracker *t, const RpcWaiter *w, RpcDevice *d)
{
    uint8_t raw[16];
    TsError err;
    if (rpc_random_bytes(raw, sizeof raw, &err) != TS_OK) {
        rpc_tracker_send_status(t, w->client, w->request_id, TS_EIO, "%s", err.message);
        return;
    }
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(d->lease_id + 2 * i, 3, "%02x", raw[i]);
    d->lessee = w->client;
    rpc_tracker_log(t, "lease %s: server %s:%d (key '%s') to %s (priority %d)", d->lease_id,
                    d->host, d->port, d->key, w->client->conn.peer, (int)w->priority);
    send_event(t, d->server, d->lease_id, TESSERA__RPC__LEASE_EVENT__KIND__GRANTED,
               w->client->conn.peer);

    Tessera__Rpc__DeviceLease lease = TESSERA__RPC__DEVICE_LEASE__INIT;
    lease.lease_id = d->lease_id;
    lease.host = d->host;
    lease.port = (uint32_t)d->port;
    lease.device_key = d->key;
    Tessera__Rpc__Reply reply = TESSERA__RPC__REPLY__INIT;
    reply.id = w->request_id;
    reply.body_case = TESSERA__RPC__REPLY__BODY_LEASE;
    reply.lease = &lease;
    /* When this fails the client is closing, and its lease ends as it goes. */
    rpc_tracker_send(t, w->client, &reply.base);
}

void rpc_tracker_serve_waiters(RpcTracker *t)
{
    if (t->num_waiters > 1)
        qsort(t->waiters, (size_t)t->num_waiters, sizeof *t->waiters, compare_waiters);
    for (int i = 0; i < t->num_waiters;) {
        RpcWaiter w = t->waiters[i];
        RpcDevice *d = w.client->closing ? NULL : free_device(t, w.key);
        if (!d) {
            i++;
            continue;
        }
        remove_waiter(t, i);
        grant(t, &w, d);
    }
}

/* ---- deadlines and departures ---- */

static bool key_registered(const RpcTracker *t, const char *key)
{
    for (int i = 0; i < t->num_devices; i++)
        if (strcmp(t->devices[i]->key, key) == 0)
            return true;
    return false;
}

static double expire_waiters(RpcTracker *t, double now, double next_s)
{
    for (int i = 0; i < t->num_waiters;) {
        RpcWaiter *w = &t->waiters[i];
        double left = w->deadline - now;
        if (w->wait_s <= 0 || w->client->closing || left > 0) {
            if (w->wait_s > 0 && left < next_s)
                next_s = left;
            i++;
            continue;
        }
        rpc_tracker_send_status(t, w->client, w->request_id, TS_ETIMEOUT,
                                "no device of key '%s' became free within %g s%s", w->key,
                                w->wait_s,
                                key_registered(t, w->key) ? ""
                                                          : " (no server is registered "
                                                            "under that key)");
        remove_waiter(t, i);
    }
    return next_s;
}

double rpc_tracker_check_deadlines(RpcTracker *t, double cap_s)
{
    double now = rpc_tracker_now();
    double next_s = expire_waiters(t, now, cap_s);
    double limit = t->options->heartbeat_timeout_s;
    for (int i = 0; i < t->num_devices; i++) {
        RpcDevice *d = t->devices[i];
        if (d->server->closing)
            continue;
        double silent = now - d->server->last_heard;
        if (silent < limit) {
            if (limit - silent < next_s)
                next_s = limit - silent;
            continue;
        }
        snprintf(d->lost_reason, sizeof d->lost_reason,
                 "server %s:%d (key '%s') missed heartbeats for %.0f s", d->host, d->port,
                 d->key, silent);
        rpc_tracker_close_later(d->server, "%s", d->lost_reason);
    }
    return next_s > 0 ? next_s : 0;
}

/* c registered a device and is going: the device leaves the pool; its client hears LOST. */
static void drop_device(RpcTracker *t, RpcDevice *d)
{
    char reason[sizeof d->lost_reason];
    if (d->lost_reason[0])
        snprintf(reason, sizeof reason, "%s", d->lost_reason);
    else
        snprintf(reason, sizeof reason, "server %s:%d (key '%s') disconnected", d->host,
                 d->port, d->key);
    if (d->lessee) {
        rpc_tracker_log(t, "lease %s lost by %s: %s", d->lease_id, d->lessee->conn.peer,
                        reason);
        send_event(t, d->lessee, d->lease_id, TESSERA__RPC__LEASE_EVENT__KIND__LOST, reason);
    }
    rpc_tracker_log(t, "dropped %s: %s", d->server_id, reason);
    remove_device(t, d);
}

void rpc_tracker_forget_conn(RpcTracker *t, RpcTrackerConn *c)
{
    if (c->device) {
        drop_device(t, c->device);
        c->device = NULL;
    }
    for (int i = 0; i < t->num_devices; i++)
        if (t->devices[i]->lessee == c)
            end_lease(t, t->devices[i], "the client disconnected");
    for (int i = 0; i < t->num_waiters;) {
        if (t->waiters[i].client == c)
            remove_waiter(t, i);
        else
            i++;
    }
}

void rpc_tracker_pool_free(RpcTracker *t)
{
    for (int i = 0; i < t->num_devices; i++)
        free(t->devices[i]);
    free(t->devices);
    free(t->waiters);
    t->devices = NULL;
    t->waiters = NULL;
    t->num_devices = t->num_waiters = 0;
}
