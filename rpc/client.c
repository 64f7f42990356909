/* The RPC client (include/tessera/rpc.h): a session with one device server, reached
 * directly (here) or through a tracker's lease (client_tracker.c, which opens the
 * session with rpc_session_open). Each call is one Request and its Reply, in order;
 * every failure names the device ("rpc 127.0.0.1:9090 (local): call f: kernel 'f'
 * crashed with SIGSEGV"). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rpc/rpc_internal.h"

/* Bytes of one upload chunk. */
#define UPLOAD_CHUNK ((size_t)1 << 20)
/* How long ts_rpc_close waits for the server to acknowledge Shutdown. */
#define CLOSE_TIMEOUT_S 1.0
/* Extra wait for a call's reply past its kernel time limit: the reply's trip back. */
#define CALL_REPLY_MARGIN_S 10.0

TsRpcConnectOptions ts_rpc_connect_options_default(void)
{
    return (TsRpcConnectOptions){ .connect_timeout_s = 10.0,
                                  .timeout_s = 60.0,
                                  .token = NULL,
                                  .client_name = "tessera-client",
                                  .max_message = TS_RPC_DEFAULT_MAX_MESSAGE };
}

TsStatus ts_rpc_read_token(const char *path, char *token, TsError *err)
{
    if (!path || !token)
        return ts_fail(err, TS_EINVAL, "read_token: %s is NULL", path ? "token" : "the path");
    FILE *f = fopen(path, "r");
    if (!f)
        return ts_fail(err, TS_EIO, "token file %s: %s", path, strerror(errno));
    char line[TS_RPC_MAX_TOKEN + 2];
    size_t got = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[got] = '\0';
    size_t len = strcspn(line, "\r\n");
    if (len > TS_RPC_MAX_TOKEN)
        return ts_fail(err, TS_EINVAL, "token file %s: the token is longer than %d bytes", path,
                       TS_RPC_MAX_TOKEN);
    if (len == 0)
        return ts_fail(err, TS_EINVAL, "token file %s: the first line is empty", path);
    memcpy(token, line, len);
    token[len] = '\0';
    return TS_OK;
}

/* ---- sessions ---- */

TsStatus rpc_session_open(const char *host, int port, const TsRpcConnectOptions *options,
                          const char *lease_id, TsRpcSession **out, TsError *err)
{
    TsRpcConnectOptions defaults = ts_rpc_connect_options_default();
    if (!options)
        options = &defaults;
    *out = NULL;
    if (!host || !*host || port < 1 || port > 65535)
        return ts_fail(err, TS_EINVAL, "rpc %s:%d: not a host and port to connect to",
                       host ? host : "(null)", port);
    int fd;
    TsStatus st = rpc_connect_tcp(host, port, options->connect_timeout_s, &fd, err);
    if (st != TS_OK)
        return st;
    TsRpcSession *s = calloc(1, sizeof *s);
    if (!s) {
        close(fd);
        return ts_fail(err, TS_ENOMEM, "rpc %s:%d: out of memory", host, port);
    }
    char peer[128];
    snprintf(peer, sizeof peer, "rpc %s:%d", host, port);
    rpc_conn_init(&s->conn, fd, peer, options->connect_timeout_s, options->max_message);
    rpc_conn_init(&s->tracker, -1, "tracker", 0, 0);
    s->next_id = 2; /* 1 was the hello */
    s->timeout_s = options->timeout_s > 0 ? options->timeout_s : 60.0;
    Tessera__Rpc__Welcome *welcome;
    st = rpc_handshake_connect(&s->conn, options->token, options->client_name, lease_id,
                               &welcome, err);
    if (st != TS_OK) {
        rpc_conn_close(&s->conn);
        free(s);
        return st;
    }
    snprintf(s->device_key, sizeof s->device_key, "%s", welcome->device_key);
    snprintf(s->peer, sizeof s->peer, "rpc %s:%d (%s)", host, port, s->device_key);
    snprintf(s->conn.peer, sizeof s->conn.peer, "%.127s", s->peer);
    if (lease_id)
        snprintf(s->lease_id, sizeof s->lease_id, "%s", lease_id);
    protobuf_c_message_free_unpacked(&welcome->base, NULL);
    s->conn.timeout_s = s->timeout_s;
    *out = s;
    return TS_OK;
}

/* A reply's status as a TsStatus (an unknown value from a peer is a protocol error). */
static TsStatus reply_status(int32_t status)
{
    return status > 0 && status <= TS_EDEVICE ? (TsStatus)status : TS_EPROTO;
}

/* Receives the reply to request id, skipping unasked messages (id 0). */
static TsStatus receive_reply(TsRpcSession *s, uint64_t id, const char *what,
                              Tessera__Rpc__Reply **out, TsError *err)
{
    char awaited[96];
    snprintf(awaited, sizeof awaited, "the reply to %s", what);
    for (;;) {
        ProtobufCMessage *msg;
        TsStatus st = rpc_recv(&s->conn, &tessera__rpc__reply__descriptor, awaited, &msg, err);
        if (st != TS_OK)
            return st;
        Tessera__Rpc__Reply *reply = (Tessera__Rpc__Reply *)msg;
        if (reply->id == id) {
            *out = reply;
            return TS_OK;
        }
        uint64_t got = reply->id;
        protobuf_c_message_free_unpacked(msg, NULL);
        if (got != 0)
            return ts_fail(err, TS_EPROTO, "%s: %s: a reply to request %llu came instead of "
                           "%llu", s->peer, what, (unsigned long long)got,
                           (unsigned long long)id);
    }
}

TsStatus rpc_session_request(TsRpcSession *session, Tessera__Rpc__Request *req,
                             const char *what, double timeout_s, Tessera__Rpc__Reply **reply,
                             TsError *err)
{
    *reply = NULL;
    if (session->device_lost)
        return ts_fail(err, TS_EDEVICE, "%s: %s: device lost: %s", session->peer, what,
                       session->lost_reason);
    if (session->conn.fd < 0)
        return ts_fail(err, TS_EIO, "%s: %s: the connection is closed (an earlier request "
                       "failed)", session->peer, what);
    req->id = session->next_id++;
    session->conn.timeout_s = timeout_s > 0 ? timeout_s : session->timeout_s;
    TsStatus st = rpc_send(&session->conn, &req->base, err);
    Tessera__Rpc__Reply *got = NULL;
    if (st == TS_OK)
        st = receive_reply(session, req->id, what, &got, err);
    session->conn.timeout_s = session->timeout_s;
    if (st != TS_OK) {
        /* The stream is out of step now (a late reply would answer the wrong request). */
        rpc_conn_close(&session->conn);
        if (session->tracker.fd >= 0) {
            TsError lost;
            if (rpc_lease_check(session, &lost) != TS_OK) {
                st = lost.status;
                if (err)
                    *err = lost;
            }
        }
        return st;
    }
    if (got->status != TS_OK) {
        st = ts_fail(err, reply_status(got->status), "%s: %s: %s", session->peer, what,
                     got->message);
        protobuf_c_message_free_unpacked(&got->base, NULL);
        return st;
    }
    *reply = got;
    return TS_OK;
}

TsStatus ts_rpc_connect(const char *host, int port, const TsRpcConnectOptions *options,
                        TsRpcSession **out, TsError *err)
{
    if (!out)
        return ts_fail(err, TS_EINVAL, "rpc_connect: out is NULL");
    return rpc_session_open(host, port, options, NULL, out, err);
}

void ts_rpc_close(TsRpcSession *session)
{
    if (!session)
        return;
    if (session->conn.fd >= 0 && !session->device_lost) {
        Tessera__Rpc__Shutdown shutdown = TESSERA__RPC__SHUTDOWN__INIT;
        Tessera__Rpc__Request req = TESSERA__RPC__REQUEST__INIT;
        req.body_case = TESSERA__RPC__REQUEST__BODY_SHUTDOWN;
        req.shutdown = &shutdown;
        Tessera__Rpc__Reply *reply;
        TsError ignored;
        session->timeout_s = CLOSE_TIMEOUT_S;
        if (rpc_session_request(session, &req, "shutdown", CLOSE_TIMEOUT_S, &reply,
                                &ignored) == TS_OK)
            protobuf_c_message_free_unpacked(&reply->base, NULL);
    }
    rpc_conn_close(&session->conn);
    if (session->tracker.fd >= 0)
        rpc_lease_release(session);
    free(session);
}

const char *ts_rpc_peer(const TsRpcSession *session)
{
    if (!session)
        return "(no session)";
    /* peer is "rpc HOST:PORT (key)"; the public name leaves out the "rpc ". */
    return strncmp(session->peer, "rpc ", 4) == 0 ? session->peer + 4 : session->peer;
}

/* Sends req and, on success, hands back the reply (free with free_reply). */
static TsStatus request(TsRpcSession *session, Tessera__Rpc__Request *req,
                        Tessera__Rpc__Request__BodyCase kind, const char *what,
                        double timeout_s, Tessera__Rpc__Reply **reply, TsError *err)
{
    if (!session)
        return ts_fail(err, TS_EINVAL, "rpc %s: the session is NULL", what);
    req->body_case = kind;
    return rpc_session_request(session, req, what, timeout_s, reply, err);
}

static void free_reply(Tessera__Rpc__Reply *reply)
{
    if (reply)
        protobuf_c_message_free_unpacked(&reply->base, NULL);
}

/* A successful reply must carry the body its request asks for. */
static TsStatus expect_body(TsRpcSession *session, Tessera__Rpc__Reply *reply,
                            Tessera__Rpc__Reply__BodyCase kind, const char *what, TsError *err)
{
    if (reply->body_case == kind)
        return TS_OK;
    return ts_fail(err, TS_EPROTO, "%s: %s: the reply lacks its body", session->peer, what);
}

/* The same request with no result but the status. */
static TsStatus request_status(TsRpcSession *session, Tessera__Rpc__Request *req,
                               Tessera__Rpc__Request__BodyCase kind, const char *what,
                               TsError *err)
{
    Tessera__Rpc__Reply *reply;
    TsStatus st = request(session, req, kind, what, 0, &reply, err);
    if (st == TS_OK)
        free_reply(reply);
    return st;
}

static void copy_text(char *dst, size_t size, const char *src)
{
    snprintf(dst, size, "%s", src ? src : "");
}

/* Space-separated features, cut at a word that does not fit. */
static void join_features(char *dst, size_t size, char **features, size_t n)
{
    size_t used = 0;
    dst[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(features[i]);
        if (used + len + 2 > size)
            break;
        used += (size_t)snprintf(dst + used, size - used, "%s%s", used ? " " : "", features[i]);
    }
}

TsStatus ts_rpc_device_info(TsRpcSession *session, TsRpcDeviceInfo *out, TsError *err)
{
    if (!out)
        return ts_fail(err, TS_EINVAL, "rpc device_info: out is NULL");
    Tessera__Rpc__DeviceInfo body = TESSERA__RPC__DEVICE_INFO__INIT;
    Tessera__Rpc__Request req = TESSERA__RPC__REQUEST__INIT;
    req.device_info = &body;
    Tessera__Rpc__Reply *reply;
    TsStatus st = request(session, &req, TESSERA__RPC__REQUEST__BODY_DEVICE_INFO, "device_info",
                          0, &reply, err);
    if (st != TS_OK)
        return st;
    st = expect_body(session, reply, TESSERA__RPC__REPLY__BODY_DEVICE_INFO, "device_info", err);
    if (st == TS_OK) {
        const Tessera__Rpc__DeviceInfoReply *info = reply->device_info;
        memset(out, 0, sizeof *out);
        copy_text(out->triple, sizeof out->triple, info->triple);
        copy_text(out->cpu, sizeof out->cpu, info->cpu);
        join_features(out->features, sizeof out->features, info->features, info->n_features);
        out->num_cores = info->num_cores;
        out->protocol_version = info->protocol_version;
        copy_text(out->device_key, sizeof out->device_key, info->device_key);
    }
    free_reply(reply);
    return st;
}

/* ---- files ---- */

static TsStatus send_chunk(TsRpcSession *session, const char *name, uint64_t total,
                           uint64_t offset, const void *data, size_t len, TsError *err)
{
    Tessera__Rpc__Upload up = TESSERA__RPC__UPLOAD__INIT;
    up.name = (char *)name;
    up.total_size = total;
    up.offset = offset;
    up.data.data = (uint8_t *)data;
    up.data.len = len;
    Tessera__Rpc__Request req = TESSERA__RPC__REQUEST__INIT;
    req.upload = &up;
    char what[192];
    snprintf(what, sizeof what, "upload %.160s", name);
    return request_status(session, &req, TESSERA__RPC__REQUEST__BODY_UPLOAD, what, err);
}

TsStatus ts_rpc_upload_bytes(TsRpcSession *session, const void *data, size_t size,
                             const char *name, TsError *err)
{
    if (!name || (size > 0 && !data))
        return ts_fail(err, TS_EINVAL, "rpc upload: %s is NULL", name ? "data" : "the name");
    const uint8_t *bytes = data;
    size_t offset = 0;
    do {
        size_t len = size - offset < UPLOAD_CHUNK ? size - offset : UPLOAD_CHUNK;
        TsStatus st = send_chunk(session, name, size, offset, bytes + offset, len, err);
        if (st != TS_OK)
            return st;
        offset += len;
    } while (offset < size);
    return TS_OK;
}

TsStatus ts_rpc_upload(TsRpcSession *session, const char *local_path, const char *name,
                       TsError *err)
{
    if (!local_path)
        return ts_fail(err, TS_EINVAL, "rpc upload: the local path is NULL");
    FILE *f = fopen(local_path, "rb");
    if (!f)
        return ts_fail(err, TS_EIO, "rpc upload: cannot open %s: %s", local_path,
                       strerror(errno));
    TsStatus st = TS_OK;
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0)
        size = ftell(f);
    uint8_t *chunk = malloc(UPLOAD_CHUNK);
    if (size < 0 || fseek(f, 0, SEEK_SET) != 0)
        st = ts_fail(err, TS_EIO, "rpc upload: cannot size %s", local_path);
    else if (!chunk)
        st = ts_fail(err, TS_ENOMEM, "rpc upload %s: out of memory", local_path);
    uint64_t offset = 0;
    while (st == TS_OK) {
        size_t len = fread(chunk, 1, UPLOAD_CHUNK, f);
        if (ferror(f) || (len == 0 && offset < (uint64_t)size)) {
            st = ts_fail(err, TS_EIO, "rpc upload: reading %s failed", local_path);
            break;
        }
        st = send_chunk(session, name ? name : "", (uint64_t)size, offset, chunk, len, err);
        offset += len;
        if (offset >= (uint64_t)size)
            break;
    }
    free(chunk);
    fclose(f);
    return st;
}

TsStatus ts_rpc_remove(TsRpcSession *session, const char *name, TsError *err)
{
    Tessera__Rpc__Remove body = TESSERA__RPC__REMOVE__INIT;
    body.name = (char *)(name ? name : "");
    Tessera__Rpc__Request req = TESSERA__RPC__REQUEST__INIT;
    req.remove = &body;
    return request_status(session, &req, TESSERA__RPC__REQUEST__BODY_REMOVE, "remove", err);
}

/* ---- modules ---- */

TsStatus ts_rpc_load_module(TsRpcSession *session, const char *name, TsRpcModule *out,
                            TsError *err)
{
    if (!out)
        return ts_fail(err, TS_EINVAL, "rpc load_module: out is NULL");
    Tessera__Rpc__LoadModule body = TESSERA__RPC__LOAD_MODULE__INIT;
    body.name = (char *)(name ? name : "");
    Tessera__Rpc__Request req = TESSERA__RPC__REQUEST__INIT;
    req.load_module = &body;
    char what[192];
    snprintf(what, sizeof what, "load_module %.160s", body.name);
    Tessera__Rpc__Reply *reply;
    TsStatus st = request(session, &req, TESSERA__RPC__REQUEST__BODY_LOAD_MODULE, what, 0,
                          &reply, err);
    if (st != TS_OK)
        return st;
    st = expect_body(session, reply, TESSERA__RPC__REPLY__BODY_LOAD_MODULE, what, err);
    if (st == TS_OK)
        *out = reply->load_module->module;
    free_reply(reply);
    return st;
}

TsStatus ts_rpc_unload_module(TsRpcSession *session, TsRpcModule module, TsError *err)
{
    Tessera__Rpc__UnloadModule body = TESSERA__RPC__UNLOAD_MODULE__INIT;
    body.module = module;
    Tessera__Rpc__Request req = TESSERA__RPC__REQUEST__INIT;
    req.unload_module = &body;
    return request_status(session, &req, TESSERA__RPC__REQUEST__BODY_UNLOAD_MODULE, "unload_module",
                          err);
}

/* The module's functions as the device lists them (*reply to be freed on success). */
static TsStatus list_funcs_reply(TsRpcSession *session, TsRpcModule module,
                                 Tessera__Rpc__Reply **reply, TsError *err)
{
    Tessera__Rpc__ListFuncs body = TESSERA__RPC__LIST_FUNCS__INIT;
    body.module = module;
    Tessera__Rpc__Request req = TESSERA__RPC__REQUEST__INIT;
    req.list_funcs = &body;
    TsStatus st = request(session, &req, TESSERA__RPC__REQUEST__BODY_LIST_FUNCS, "list_funcs",
                          0, reply, err);
    if (st != TS_OK)
        return st;
    st = expect_body(session, *reply, TESSERA__RPC__REPLY__BODY_LIST_FUNCS, "list_funcs", err);
    if (st != TS_OK)
        free_reply(*reply);
    return st;
}

TsStatus ts_rpc_func_signature(TsRpcSession *session, TsRpcModule module, const char *func,
                               char *buf, size_t size, TsError *err)
{
    if (!func || !buf || size == 0)
        return ts_fail(err, TS_EINVAL, "rpc func_signature: %s", !func ? "func is NULL"
                       : "no buffer for the signature");
    Tessera__Rpc__Reply *reply;
    TsStatus st = list_funcs_reply(session, module, &reply, err);
    if (st != TS_OK)
        return st;
    const Tessera__Rpc__ListFuncsReply *list = reply->list_funcs;
    const char *sig = NULL;
    for (size_t i = 0; i < list->n_funcs && !sig; i++)
        if (strcmp(list->funcs[i]->name, func) == 0)
            sig = list->funcs[i]->signature ? list->funcs[i]->signature : "";
    if (!sig)
        st = ts_fail(err, TS_EINVAL, "%s: module %llu has no function '%s'", session->peer,
                     (unsigned long long)module, func);
    else if (strlen(sig) >= size)
        st = ts_fail(err, TS_EINVAL, "%s: the signature of '%s' is longer than %zu bytes",
                     session->peer, func, size - 1);
    else
        memcpy(buf, sig, strlen(sig) + 1);
    free_reply(reply);
    return st;
}

TsStatus ts_rpc_list_funcs(TsRpcSession *session, TsRpcModule module, int max_names,
                           char (*names)[128], int *num, TsError *err)
{
    if (!num || (max_names > 0 && !names))
        return ts_fail(err, TS_EINVAL, "rpc list_funcs: %s is NULL", num ? "names" : "num");
    Tessera__Rpc__Reply *reply;
    TsStatus st = list_funcs_reply(session, module, &reply, err);
    if (st != TS_OK)
        return st;
    const Tessera__Rpc__ListFuncsReply *list = reply->list_funcs;
    *num = (int)list->n_funcs;
    for (size_t i = 0; i < list->n_funcs && (int)i < max_names; i++)
        copy_text(names[i], 128, list->funcs[i]->name);
    free_reply(reply);
    return TS_OK;
}

/* ---- arrays ---- */

TsStatus ts_rpc_alloc_array(TsRpcSession *session, int ndim, const int64_t *shape,
                            TsDType dtype, TsRpcArray *out, TsError *err)
{
    if (!out || ndim < 0 || (ndim > 0 && !shape))
        return ts_fail(err, TS_EINVAL, "rpc alloc_array: %s", !out ? "out is NULL"
                       : ndim < 0 ? "ndim is negative" : "shape is NULL");
    Tessera__Rpc__DType dt = TESSERA__RPC__DTYPE__INIT;
    dt.code = dtype.code;
    dt.bits = dtype.bits;
    dt.lanes = dtype.lanes;
    Tessera__Rpc__AllocArray body = TESSERA__RPC__ALLOC_ARRAY__INIT;
    body.n_shape = (size_t)ndim;
    body.shape = (int64_t *)shape;
    body.dtype = &dt;
    Tessera__Rpc__Request req = TESSERA__RPC__REQUEST__INIT;
    req.alloc_array = &body;
    Tessera__Rpc__Reply *reply;
    TsStatus st = request(session, &req, TESSERA__RPC__REQUEST__BODY_ALLOC_ARRAY, "alloc_array",
                          0, &reply, err);
    if (st != TS_OK)
        return st;
    st = expect_body(session, reply, TESSERA__RPC__REPLY__BODY_ALLOC_ARRAY, "alloc_array", err);
    if (st == TS_OK)
        *out = reply->alloc_array->array;
    free_reply(reply);
    return st;
}

TsStatus ts_rpc_free_array(TsRpcSession *session, TsRpcArray array, TsError *err)
{
    Tessera__Rpc__FreeArray body = TESSERA__RPC__FREE_ARRAY__INIT;
    body.array = array;
    Tessera__Rpc__Request req = TESSERA__RPC__REQUEST__INIT;
    req.free_array = &body;
    return request_status(session, &req, TESSERA__RPC__REQUEST__BODY_FREE_ARRAY, "free_array",
                          err);
}

TsStatus ts_rpc_copy_to(TsRpcSession *session, TsRpcArray array, const void *data,
                        size_t nbytes, TsError *err)
{
    if (nbytes > 0 && !data)
        return ts_fail(err, TS_EINVAL, "rpc copy_to: data is NULL");
    Tessera__Rpc__CopyTo body = TESSERA__RPC__COPY_TO__INIT;
    body.array = array;
    body.data.data = (uint8_t *)data;
    body.data.len = nbytes;
    Tessera__Rpc__Request req = TESSERA__RPC__REQUEST__INIT;
    req.copy_to = &body;
    return request_status(session, &req, TESSERA__RPC__REQUEST__BODY_COPY_TO, "copy_to", err);
}

TsStatus ts_rpc_copy_from(TsRpcSession *session, TsRpcArray array, void *data, size_t nbytes,
                          TsError *err)
{
    if (nbytes > 0 && !data)
        return ts_fail(err, TS_EINVAL, "rpc copy_from: data is NULL");
    Tessera__Rpc__CopyFrom body = TESSERA__RPC__COPY_FROM__INIT;
    body.array = array;
    Tessera__Rpc__Request req = TESSERA__RPC__REQUEST__INIT;
    req.copy_from = &body;
    Tessera__Rpc__Reply *reply;
    TsStatus st = request(session, &req, TESSERA__RPC__REQUEST__BODY_COPY_FROM, "copy_from", 0,
                          &reply, err);
    if (st != TS_OK)
        return st;
    st = expect_body(session, reply, TESSERA__RPC__REPLY__BODY_COPY_FROM, "copy_from", err);
    if (st == TS_OK && reply->copy_from->data.len != nbytes)
        st = ts_fail(err, TS_EINVAL, "%s: copy_from array %llu: the array has %zu bytes, not %zu",
                     session->peer, (unsigned long long)array, reply->copy_from->data.len,
                     nbytes);
    if (st == TS_OK && nbytes)
        memcpy(data, reply->copy_from->data.data, nbytes);
    free_reply(reply);
    return st;
}

/* ---- calls ---- */

/* The Call message for func and args; arg_msgs and arg_ptrs hold num_args each. */
static TsStatus build_call(TsRpcModule module, const char *func, int num_args,
                           const TsRpcArg *args, double timeout_s, Tessera__Rpc__Call *call,
                           Tessera__Rpc__Arg *arg_msgs, Tessera__Rpc__Arg **arg_ptrs,
                           TsError *err)
{
    tessera__rpc__call__init(call);
    call->module = module;
    call->func = (char *)func;
    call->timeout_s = timeout_s;
    for (int i = 0; i < num_args; i++) {
        Tessera__Rpc__Arg *a = &arg_msgs[i];
        tessera__rpc__arg__init(a);
        switch (args[i].kind) {
        case TS_RPC_ARG_INT:
            a->value_case = TESSERA__RPC__ARG__VALUE_INT_VALUE;
            a->int_value = args[i].u.v_int;
            break;
        case TS_RPC_ARG_FLOAT:
            a->value_case = TESSERA__RPC__ARG__VALUE_FLOAT_VALUE;
            a->float_value = args[i].u.v_float;
            break;
        case TS_RPC_ARG_ARRAY:
            a->value_case = TESSERA__RPC__ARG__VALUE_ARRAY;
            a->array = args[i].u.array;
            break;
        default:
            return ts_fail(err, TS_EINVAL, "rpc call %s: argument %d has an unknown kind %d",
                           func, i, (int)args[i].kind);
        }
        arg_ptrs[i] = a;
    }
    call->n_args = (size_t)num_args;
    call->args = arg_ptrs;
    return TS_OK;
}

/* Runs a call (time NULL) or a time request and, for time, copies the costs. */
static TsStatus remote_call(TsRpcSession *session, TsRpcModule module, const char *func,
                            int num_args, const TsRpcArg *args, const TsTimeOptions *options,
                            double timeout_s, double *costs, TsError *err)
{
    if (!func || num_args < 0 || (num_args > 0 && !args) || !(timeout_s >= 0))
        return ts_fail(err, TS_EINVAL, "rpc call %s: bad arguments (func, args or timeout)",
                       func ? func : "(null)");
    size_t n = num_args ? (size_t)num_args : 1;
    Tessera__Rpc__Arg *arg_msgs = calloc(n, sizeof *arg_msgs);
    Tessera__Rpc__Arg **arg_ptrs = calloc(n, sizeof *arg_ptrs);
    Tessera__Rpc__Call call;
    TsStatus st = arg_msgs && arg_ptrs ? TS_OK
                  : ts_fail(err, TS_ENOMEM, "rpc call %s: out of memory", func);
    if (st == TS_OK)
        st = build_call(module, func, num_args, args, timeout_s, &call, arg_msgs, arg_ptrs, err);
    Tessera__Rpc__TimeFunc time = TESSERA__RPC__TIME_FUNC__INIT;
    Tessera__Rpc__Request req = TESSERA__RPC__REQUEST__INIT;
    if (options) {
        time.call = &call;
        time.number = options->number;
        time.repeat = options->repeat;
        time.min_repeat_ms = options->min_repeat_ms;
        time.cooldown_ms = options->cooldown_ms;
        time.flush_cache = options->flush_cache;
        req.time_func = &time;
    } else {
        req.call = &call;
    }
    char what[192];
    snprintf(what, sizeof what, "%s %.160s", options ? "time" : "call", func);
    double wait = timeout_s > 0 ? timeout_s + CALL_REPLY_MARGIN_S : 0;
    Tessera__Rpc__Reply *reply = NULL;
    if (st == TS_OK)
        st = request(session, &req, options ? TESSERA__RPC__REQUEST__BODY_TIME_FUNC
                                            : TESSERA__RPC__REQUEST__BODY_CALL,
                     what, wait > session->timeout_s ? wait : 0, &reply, err);
    if (st == TS_OK && options)
        st = expect_body(session, reply, TESSERA__RPC__REPLY__BODY_TIME_FUNC, what, err);
    if (st == TS_OK && options && reply->time_func->n_costs != (size_t)options->repeat)
        st = ts_fail(err, TS_EPROTO, "%s: %s: %zu costs came back for %d repeats",
                     session->peer, what, reply->time_func->n_costs, options->repeat);
    if (st == TS_OK && options)
        memcpy(costs, reply->time_func->costs, (size_t)options->repeat * sizeof *costs);
    free_reply(reply);
    free(arg_msgs);
    free(arg_ptrs);
    return st;
}

TsStatus ts_rpc_call(TsRpcSession *session, TsRpcModule module, const char *func,
                     int num_args, const TsRpcArg *args, double timeout_s, TsError *err)
{
    return remote_call(session, module, func, num_args, args, NULL, timeout_s, NULL, err);
}

TsStatus ts_rpc_time(TsRpcSession *session, TsRpcModule module, const char *func, int num_args,
                     const TsRpcArg *args, const TsTimeOptions *options, double timeout_s,
                     double *costs, TsError *err)
{
    TsTimeOptions defaults = ts_time_options_default();
    if (!options)
        options = &defaults;
    if (!costs)
        return ts_fail(err, TS_EINVAL, "rpc time %s: costs is NULL", func ? func : "(null)");
    if (options->repeat < 1)
        return ts_fail(err, TS_EINVAL, "rpc time %s: repeat %d must be >= 1",
                       func ? func : "(null)", options->repeat);
    return remote_call(session, module, func, num_args, args, options, timeout_s, costs, err);
}
