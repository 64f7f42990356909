/* The client's side of the tracker: lease a device by key (ts_rpc_connect_tracker) and
 * connect to it, notice when the tracker says the device is lost (rpc_lease_check, asked
 * by the session before and after its requests), give the lease back when the session
 * closes (rpc_lease_release), and ask the tracker for its status (ts_tracker_status).
 *
 * The tracker connection stays open for the whole lease: the tracker ends a lease whose
 * client disconnects, so a client that crashes never holds a device for ever. */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/rpc_internal.h"

/* A lease request may wait long (wait_s); everything else on the tracker connection is
 * one small message, answered at once. */
static TsStatus open_tracker(const char *host, int port, const TsRpcConnectOptions *o,
                             RpcConn *conn, TsError *err)
{
    if (!host || !*host || port < 1 || port > 65535)
        return ts_fail(err, TS_EINVAL, "tracker %s:%d: not a host and a port in [1, 65535]",
                       host ? host : "(null)", port);
    int fd;
    TsStatus st = rpc_connect_tcp(host, port, o->connect_timeout_s, &fd, err);
    if (st == TS_EIO && err && strstr(err->message, "connection refused"))
        return ts_fail(err, st, "tracker %s:%d: connection refused (is a tracker running "
                       "there?)", host, port);
    if (st != TS_OK) {
        /* rpc_connect_tcp names the peer "rpc HOST:PORT"; say it is the tracker. */
        char text[TS_ERROR_MESSAGE_MAX];
        snprintf(text, sizeof text, "%s", err ? err->message : "");
        return ts_fail(err, st, "tracker%s", strncmp(text, "rpc", 3) == 0 ? text + 3 : text);
    }
    char peer[160];
    snprintf(peer, sizeof peer, "tracker %s:%d", host, port);
    rpc_conn_init(conn, fd, peer, o->connect_timeout_s, o->max_message);
    st = rpc_handshake_connect(conn, o->token, o->client_name, NULL, NULL, err);
    if (st != TS_OK)
        rpc_conn_close(conn);
    return st;
}

/* Maps a status received on the wire to a TsStatus. */
static TsStatus wire_status(int32_t status)
{
    return status > TS_OK && status <= TS_EDEVICE ? (TsStatus)status : TS_EPROTO;
}

/* Sends req and waits up to conn's timeout for its reply, skipping unasked messages
 * (id 0). A failing reply is its status with "PEER: MESSAGE". */
static TsStatus tracker_request(RpcConn *conn, Tessera__Rpc__Request *req, const char *what,
                                Tessera__Rpc__Reply **out, TsError *err)
{
    *out = NULL;
    TsStatus st = rpc_send(conn, &req->base, err);
    while (st == TS_OK) {
        ProtobufCMessage *msg;
        st = rpc_recv(conn, &tessera__rpc__reply__descriptor, what, &msg, err);
        if (st != TS_OK)
            break;
        Tessera__Rpc__Reply *reply = (Tessera__Rpc__Reply *)msg;
        if (reply->id != req->id) {
            protobuf_c_message_free_unpacked(msg, NULL);
            continue;
        }
        if (reply->status != TS_OK) {
            st = ts_fail(err, wire_status(reply->status), "%s: %s", conn->peer, reply->message);
            protobuf_c_message_free_unpacked(msg, NULL);
            break;
        }
        *out = reply;
        break;
    }
    return st;
}

/* Asks for a device of key and waits for the lease (wait_s, or as long as it takes). */
static TsStatus request_lease(RpcConn *conn, const char *key, int priority, double wait_s,
                              Tessera__Rpc__Reply **out, TsError *err)
{
    Tessera__Rpc__RequestDevice rd = TESSERA__RPC__REQUEST_DEVICE__INIT;
    rd.device_key = (char *)key;
    rd.priority = priority;
    rd.wait_s = wait_s;
    Tessera__Rpc__Request req = TESSERA__RPC__REQUEST__INIT;
    req.id = 2;
    req.body_case = TESSERA__RPC__REQUEST__BODY_REQUEST_DEVICE;
    req.request_device = &rd;
    double saved = conn->timeout_s;
    /* The tracker answers by wait_s; allow it the connect timeout on top. */
    conn->timeout_s = wait_s > 0 ? wait_s + saved : 0;
    TsStatus st = tracker_request(conn, &req, "a device lease", out, err);
    conn->timeout_s = saved;
    if (st == TS_OK && ((*out)->body_case != TESSERA__RPC__REPLY__BODY_LEASE ||
                        !*(*out)->lease->lease_id || (*out)->lease->port == 0 ||
                        (*out)->lease->port > 65535)) {
        st = ts_fail(err, TS_EPROTO, "%s: the answer to a device request is not a lease",
                     conn->peer);
        protobuf_c_message_free_unpacked(&(*out)->base, NULL);
        *out = NULL;
    }
    return st;
}

/* Gives a lease back and closes the tracker connection (the tracker would end the lease
 * on the close alone; the release says it was deliberate, and is not waited for). */
static void release(RpcConn *conn, const char *lease_id)
{
    if (conn->fd < 0)
        return;
    Tessera__Rpc__ReleaseDevice rel = TESSERA__RPC__RELEASE_DEVICE__INIT;
    rel.lease_id = (char *)lease_id;
    Tessera__Rpc__Request req = TESSERA__RPC__REQUEST__INIT;
    req.id = 3;
    req.body_case = TESSERA__RPC__REQUEST__BODY_RELEASE_DEVICE;
    req.release_device = &rel;
    TsError ignored;
    double saved = conn->timeout_s;
    conn->timeout_s = 1.0;
    rpc_send(conn, &req.base, &ignored);
    conn->timeout_s = saved;
    rpc_conn_close(conn);
}

TsStatus ts_rpc_connect_tracker(const char *tracker_host, int tracker_port, const char *key,
                                int priority, double wait_s, const TsRpcConnectOptions *options,
                                TsRpcSession **out, TsError *err)
{
    *out = NULL;
    TsRpcConnectOptions o = options ? *options : ts_rpc_connect_options_default();
    if (!key || !*key || strlen(key) > 63)
        return ts_fail(err, TS_EINVAL, "tracker %s:%d: device key '%s' must be 1 to 63 "
                       "characters", tracker_host ? tracker_host : "(null)", tracker_port,
                       key ? key : "(null)");
    if (!(wait_s >= 0))
        return ts_fail(err, TS_EINVAL, "tracker %s:%d: wait_s %g for key '%s' must be >= 0",
                       tracker_host ? tracker_host : "(null)", tracker_port, wait_s, key);
    RpcConn tracker;
    TsStatus st = open_tracker(tracker_host, tracker_port, &o, &tracker, err);
    if (st != TS_OK)
        return st;
    Tessera__Rpc__Reply *reply;
    st = request_lease(&tracker, key, priority, wait_s, &reply, err);
    if (st != TS_OK)
        goto out_close;
    const Tessera__Rpc__DeviceLease *lease = reply->lease;
    TsRpcSession *session;
    st = rpc_session_open(lease->host, (int)lease->port, &o, lease->lease_id, &session, err);
    if (st != TS_OK) {
        release(&tracker, lease->lease_id);
        goto out_free_reply;
    }
    session->tracker = tracker;
    snprintf(session->lease_id, sizeof session->lease_id, "%s", lease->lease_id);
    session->device_lost = false;
    session->lost_reason[0] = '\0';
    *out = session;
    protobuf_c_message_free_unpacked(&reply->base, NULL);
    return TS_OK;

out_free_reply:
    protobuf_c_message_free_unpacked(&reply->base, NULL);
out_close:
    rpc_conn_close(&tracker);
    return st;
}

/* Reads one message the tracker sent on session's lease connection; marks the session
 * lost when it says so, or when the connection is gone. */
static void read_lease_event(TsRpcSession *session)
{
    ProtobufCMessage *msg;
    TsError err;
    if (rpc_recv(&session->tracker, &tessera__rpc__reply__descriptor, "a lease event", &msg,
                 &err) != TS_OK) {
        session->device_lost = true;
        snprintf(session->lost_reason, sizeof session->lost_reason,
                 "the tracker connection that holds the lease broke (%.190s)", err.message);
        rpc_conn_close(&session->tracker);
        return;
    }
    const Tessera__Rpc__Reply *reply = (const Tessera__Rpc__Reply *)msg;
    if (reply->body_case == TESSERA__RPC__REPLY__BODY_LEASE_EVENT &&
        reply->lease_event->kind == TESSERA__RPC__LEASE_EVENT__KIND__LOST &&
        strcmp(reply->lease_event->lease_id, session->lease_id) == 0) {
        session->device_lost = true;
        snprintf(session->lost_reason, sizeof session->lost_reason, "%s",
                 *reply->lease_event->reason ? reply->lease_event->reason
                                             : "the tracker dropped the device");
    }
    protobuf_c_message_free_unpacked(msg, NULL);
}

/* When the device connection has already broken (rpc_session_request closes it before it
 * asks), the likeliest cause is the server's death, and the tracker's word on it may still
 * be on its way (loopback or not, another connection's bytes are not ordered with ours):
 * wait this long for it before the transport error is all the caller learns. */
#define LOST_GRACE_S 1.5

TsStatus rpc_lease_check(TsRpcSession *session, TsError *err)
{
    if (!session->lease_id[0])
        return TS_OK;
    double grace = session->conn.fd < 0 ? LOST_GRACE_S : 0;
    while (!session->device_lost && session->tracker.fd >= 0 &&
           rpc_wait_readable(session->tracker.fd, grace) == 1)
        read_lease_event(session);
    if (session->device_lost)
        return ts_fail(err, TS_EDEVICE, "%s: device lost: %s", session->peer,
                       session->lost_reason);
    return TS_OK;
}

void rpc_lease_release(TsRpcSession *session)
{
    if (session->tracker.fd >= 0)
        release(&session->tracker, session->lease_id);
    session->tracker.fd = -1;
}

/* ---- tracker status ---- */

static void copy_status(const Tessera__Rpc__TrackerStatusReply *body, int max_keys,
                        TsTrackerKeyStatus *keys, int *num_keys)
{
    int n = 0;
    for (size_t i = 0; i < body->n_keys && n < max_keys; i++) {
        const Tessera__Rpc__KeyStatus *k = body->keys[i];
        snprintf(keys[n].key, sizeof keys[n].key, "%s", k->device_key);
        keys[n].free = k->free;
        keys[n].leased = k->leased;
        keys[n].pending = k->pending;
        n++;
    }
    *num_keys = n;
}

TsStatus ts_tracker_status(const char *tracker_host, int tracker_port, const char *token,
                           int max_keys, TsTrackerKeyStatus *keys, int *num_keys, TsError *err)
{
    *num_keys = 0;
    TsRpcConnectOptions o = ts_rpc_connect_options_default();
    o.token = token;
    o.client_name = "tessera-tracker-status";
    RpcConn tracker;
    TsStatus st = open_tracker(tracker_host, tracker_port, &o, &tracker, err);
    if (st != TS_OK)
        return st;
    Tessera__Rpc__TrackerStatus body = TESSERA__RPC__TRACKER_STATUS__INIT;
    Tessera__Rpc__Request req = TESSERA__RPC__REQUEST__INIT;
    req.id = 2;
    req.body_case = TESSERA__RPC__REQUEST__BODY_TRACKER_STATUS;
    req.tracker_status = &body;
    Tessera__Rpc__Reply *reply;
    st = tracker_request(&tracker, &req, "the tracker status", &reply, err);
    if (st == TS_OK) {
        if (reply->body_case == TESSERA__RPC__REPLY__BODY_TRACKER_STATUS)
            copy_status(reply->tracker_status, max_keys, keys, num_keys);
        else
            st = ts_fail(err, TS_EPROTO, "%s: the answer to a status request has no status",
                         tracker.peer);
        protobuf_c_message_free_unpacked(&reply->base, NULL);
    }
    rpc_conn_close(&tracker);
    return st;
}
