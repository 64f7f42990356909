/* libFuzzer target for what RPC peers send: arbitrary bytes go through the framing
 * decoder (rpc_recv in rpc/frame.c, over a socketpair, as a server, a client and a
 * tracker's peers would receive them) and protobuf-c's unpack of Request, Reply and
 * Welcome; the first Request is checked as a hello (rpc_handshake_check_hello), and every
 * Request is handed to the tracker's pool (rpc/tracker_pool.c) as if a greeted peer had
 * sent it. Every Request also goes through the device server's validators
 * (rpc/server_check.c): the file name of an upload, remove or load, and the dtype and
 * shape of an alloc; the raw bytes are tried as a file name too. Nothing may crash, leak
 * or read out of bounds (built with ASan and UBSan).
 *
 * The input is a stream of frames: an 8-byte little-endian length, then the body.
 * With FUZZ_WRITE_SEEDS=DIR set, the target writes a few valid streams into DIR and
 * exits (tests/rpc/run_fuzz.sh makes its seed corpus so). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rpc/server_internal.h"
#include "rpc/tracker_internal.h"

/* Inputs over this are cut (the socket buffer holds them whole). */
#define FUZZ_MAX_INPUT (64 << 10)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static void quiet(const char *line, void *user)
{
    (void)line;
    (void)user;
}

/* A connection whose peer has sent data and then closed: rpc_recv sees the bytes, then
 * the end, never a wait. */
static bool feed(const uint8_t *data, size_t size, RpcConn *conn)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        return false;
    int buf = FUZZ_MAX_INPUT * 4;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
    setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
    size_t off = 0;
    while (off < size) {
        ssize_t w = send(sv[0], data + off, size - off, MSG_NOSIGNAL);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    shutdown(sv[0], SHUT_WR);
    rpc_conn_init(conn, sv[1], "fuzz peer", 1.0, FUZZ_MAX_INPUT);
    close(sv[0]); /* replies to a closed peer fail, as they may in life */
    return true;
}

/* Every frame as desc, until the stream ends or breaks. */
static void decode_all(const uint8_t *data, size_t size, const ProtobufCMessageDescriptor *desc)
{
    RpcConn conn;
    if (!feed(data, size, &conn))
        return;
    for (;;) {
        ProtobufCMessage *msg;
        TsError err;
        if (rpc_recv(&conn, desc, "a fuzzed message", &msg, &err) != TS_OK)
            break;
        protobuf_c_message_free_unpacked(msg, NULL);
    }
    rpc_conn_close(&conn);
}

/* Requests as a tracker's peer would send them: the first one as the hello, the others
 * to the pool, which answers on a connection nobody reads. */
static void drive_tracker(const uint8_t *data, size_t size)
{
    TsTrackerOptions options = ts_tracker_options_default();
    options.log = quiet;
    options.token = "fuzz";
    RpcTracker t = { .options = &options, .listen_fd = -1 };
    RpcTrackerConn peer = { 0 };
    RpcTrackerConn *conns[1] = { &peer };
    t.conns = conns;
    t.num_conns = t.cap_conns = 1;
    if (!feed(data, size, &peer.conn))
        return;
    for (bool first = true;; first = false) {
        ProtobufCMessage *msg;
        TsError err;
        if (rpc_recv(&peer.conn, &tessera__rpc__request__descriptor, "a request", &msg, &err) !=
            TS_OK)
            break;
        Tessera__Rpc__Request *req = (Tessera__Rpc__Request *)msg;
        if (first)
            rpc_handshake_check_hello(&peer.conn, "tessera-tracker", options.token,
                                      peer.challenge, req, &err);
        peer.closing = false; /* keep going after failed sends */
        rpc_tracker_handle(&t, &peer, req);
        rpc_tracker_serve_waiters(&t);
        rpc_tracker_check_deadlines(&t, 1.0);
        protobuf_c_message_free_unpacked(msg, NULL);
    }
    rpc_tracker_forget_conn(&t, &peer);
    rpc_tracker_pool_free(&t);
    rpc_conn_close(&peer.conn);
}

/* The device server's checks of what a request names and sizes. A name that passes
 * must be a plain file name; a shape that passes must have a byte size that is a multiple
 * of its element size. */
static void check_request(const Tessera__Rpc__Request *req)
{
    TsError err;
    const char *name = NULL;
    switch (req->body_case) {
    case TESSERA__RPC__REQUEST__BODY_UPLOAD: name = req->upload->name; break;
    case TESSERA__RPC__REQUEST__BODY_REMOVE: name = req->remove->name; break;
    case TESSERA__RPC__REQUEST__BODY_LOAD_MODULE: name = req->load_module->name; break;
    case TESSERA__RPC__REQUEST__BODY_ALLOC_ARRAY: {
        TsDType dtype;
        uint64_t nbytes;
        if (rpc_check_array_shape(req->alloc_array, &dtype, &nbytes, &err) == TS_OK &&
            nbytes % ts_dtype_bytes(dtype) != 0)
            abort();
        return;
    }
    default: return;
    }
    if (rpc_check_file_name(name, &err) == TS_OK && (strchr(name, '/') || !strcmp(name, "..")))
        abort();
}

static void check_all(const uint8_t *data, size_t size)
{
    RpcConn conn;
    if (!feed(data, size, &conn))
        return;
    ProtobufCMessage *msg;
    TsError err;
    while (rpc_recv(&conn, &tessera__rpc__request__descriptor, "a request", &msg, &err) == TS_OK) {
        check_request((const Tessera__Rpc__Request *)msg);
        protobuf_c_message_free_unpacked(msg, NULL);
    }
    rpc_conn_close(&conn);
    char name[RPC_MAX_FILE_NAME + 8];
    size_t len = size < sizeof name - 1 ? size : sizeof name - 1;
    memcpy(name, data, len);
    name[len] = '\0';
    rpc_check_file_name(name, &err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_MAX_INPUT)
        size = FUZZ_MAX_INPUT;
    decode_all(data, size, &tessera__rpc__request__descriptor);
    decode_all(data, size, &tessera__rpc__reply__descriptor);
    decode_all(data, size, &tessera__rpc__welcome__descriptor);
    drive_tracker(data, size);
    check_all(data, size);
    /* The bytes as one bare message, no framing. */
    ProtobufCMessage *msg = protobuf_c_message_unpack(&tessera__rpc__reply__descriptor, NULL,
                                                      size, data);
    if (msg)
        protobuf_c_message_free_unpacked(msg, NULL);
    return 0;
}

/* ---- the seed corpus ---- */

static size_t append_frame(uint8_t *out, size_t at, const ProtobufCMessage *msg)
{
    size_t len = protobuf_c_message_get_packed_size(msg);
    for (int i = 0; i < RPC_PREFIX_BYTES; i++)
        out[at + (size_t)i] = (uint8_t)((uint64_t)len >> (8 * i));
    protobuf_c_message_pack(msg, out + at + RPC_PREFIX_BYTES);
    return at + RPC_PREFIX_BYTES + len;
}

static void write_seed(const char *dir, const char *name, const uint8_t *bytes, size_t n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(bytes, 1, n, f);
        fclose(f);
    }
}

/* A tracker conversation (hello, register, heartbeat, request, release, status), a
 * device session's requests (alloc, upload, load, unload, remove), and a reply stream
 * with a lease and an event. */
static void write_seeds(const char *dir)
{
    static uint8_t buf[4096];
    size_t n = 0;
    Tessera__Rpc__Hello hello = TESSERA__RPC__HELLO__INIT;
    hello.protocol_version = TS_RPC_PROTOCOL_VERSION;
    hello.client_name = "seed";
    Tessera__Rpc__Request req = TESSERA__RPC__REQUEST__INIT;
    req.id = 1;
    req.body_case = TESSERA__RPC__REQUEST__BODY_HELLO;
    req.hello = &hello;
    n = append_frame(buf, n, &req.base);
    size_t after_hello = n;
    Tessera__Rpc__Register reg = TESSERA__RPC__REGISTER__INIT;
    reg.device_key = "seed";
    reg.port = 9090;
    req.id = 2;
    req.body_case = TESSERA__RPC__REQUEST__BODY_REGISTER;
    req.register_ = &reg;
    n = append_frame(buf, n, &req.base);
    Tessera__Rpc__Heartbeat hb = TESSERA__RPC__HEARTBEAT__INIT;
    req.id = 3;
    req.body_case = TESSERA__RPC__REQUEST__BODY_HEARTBEAT;
    req.heartbeat = &hb;
    n = append_frame(buf, n, &req.base);
    Tessera__Rpc__RequestDevice rd = TESSERA__RPC__REQUEST_DEVICE__INIT;
    rd.device_key = "seed";
    rd.priority = 1;
    req.id = 4;
    req.body_case = TESSERA__RPC__REQUEST__BODY_REQUEST_DEVICE;
    req.request_device = &rd;
    n = append_frame(buf, n, &req.base);
    Tessera__Rpc__ReleaseDevice rel = TESSERA__RPC__RELEASE_DEVICE__INIT;
    rel.lease_id = "00000000000000000000000000000000";
    req.id = 5;
    req.body_case = TESSERA__RPC__REQUEST__BODY_RELEASE_DEVICE;
    req.release_device = &rel;
    n = append_frame(buf, n, &req.base);
    Tessera__Rpc__TrackerStatus ts = TESSERA__RPC__TRACKER_STATUS__INIT;
    req.id = 6;
    req.body_case = TESSERA__RPC__REQUEST__BODY_TRACKER_STATUS;
    req.tracker_status = &ts;
    n = append_frame(buf, n, &req.base);
    write_seed(dir, "tracker_conversation", buf, n);

    n = after_hello;
    int64_t shape[2] = { 4, 8 };
    Tessera__Rpc__DType dtype = TESSERA__RPC__DTYPE__INIT;
    dtype.code = 2;
    dtype.bits = 32;
    dtype.lanes = 1;
    Tessera__Rpc__AllocArray alloc = TESSERA__RPC__ALLOC_ARRAY__INIT;
    alloc.n_shape = 2;
    alloc.shape = shape;
    alloc.dtype = &dtype;
    req.id = 2;
    req.body_case = TESSERA__RPC__REQUEST__BODY_ALLOC_ARRAY;
    req.alloc_array = &alloc;
    n = append_frame(buf, n, &req.base);
    Tessera__Rpc__Upload up = TESSERA__RPC__UPLOAD__INIT;
    up.name = "kernel.so";
    up.total_size = 3;
    up.data.data = (uint8_t *)"abc";
    up.data.len = 3;
    req.id = 3;
    req.body_case = TESSERA__RPC__REQUEST__BODY_UPLOAD;
    req.upload = &up;
    n = append_frame(buf, n, &req.base);
    Tessera__Rpc__LoadModule load = TESSERA__RPC__LOAD_MODULE__INIT;
    load.name = "kernel.so";
    req.id = 4;
    req.body_case = TESSERA__RPC__REQUEST__BODY_LOAD_MODULE;
    req.load_module = &load;
    n = append_frame(buf, n, &req.base);
    Tessera__Rpc__UnloadModule unload = TESSERA__RPC__UNLOAD_MODULE__INIT;
    unload.module = 1;
    req.id = 5;
    req.body_case = TESSERA__RPC__REQUEST__BODY_UNLOAD_MODULE;
    req.unload_module = &unload;
    n = append_frame(buf, n, &req.base);
    Tessera__Rpc__Remove rm = TESSERA__RPC__REMOVE__INIT;
    rm.name = "../kernel.so";
    req.id = 6;
    req.body_case = TESSERA__RPC__REQUEST__BODY_REMOVE;
    req.remove = &rm;
    n = append_frame(buf, n, &req.base);
    write_seed(dir, "device_session", buf, n);

    n = 0;
    Tessera__Rpc__DeviceLease lease = TESSERA__RPC__DEVICE_LEASE__INIT;
    lease.lease_id = "0123456789abcdef0123456789abcdef";
    lease.host = "127.0.0.1";
    lease.port = 9090;
    lease.device_key = "seed";
    Tessera__Rpc__Reply reply = TESSERA__RPC__REPLY__INIT;
    reply.id = 4;
    reply.body_case = TESSERA__RPC__REPLY__BODY_LEASE;
    reply.lease = &lease;
    n = append_frame(buf, n, &reply.base);
    Tessera__Rpc__LeaseEvent ev = TESSERA__RPC__LEASE_EVENT__INIT;
    ev.lease_id = lease.lease_id;
    ev.kind = TESSERA__RPC__LEASE_EVENT__KIND__LOST;
    ev.reason = "server gone";
    reply.id = 0;
    reply.status = TS_EDEVICE;
    reply.body_case = TESSERA__RPC__REPLY__BODY_LEASE_EVENT;
    reply.lease_event = &ev;
    n = append_frame(buf, n, &reply.base);
    write_seed(dir, "reply_stream", buf, n);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *dir = getenv("FUZZ_WRITE_SEEDS");
    if (dir) {
        write_seeds(dir);
        exit(0);
    }
    return 0;
}
