/* rpc/: shared between the RPC files (frame.c, auth.c, server, client, tracker). The
 * framing and the handshake are written once here, so the server, the client and the
 * tracker speak them identically; rpc.pb-c.h is generated from rpc/rpc.proto. */
#ifndef TESSERA_RPC_INTERNAL_H
#define TESSERA_RPC_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rpc.pb-c.h"
#include "tessera/error.h"
#include "tessera/rpc.h"

/* Bytes of the length prefix: a little-endian uint64. */
#define RPC_PREFIX_BYTES 8
#define RPC_CHALLENGE_BYTES 32
#define RPC_PROOF_BYTES 32

/* One side of a TCP connection. peer names the other side in every message
 * ("rpc 127.0.0.1:9090"); timeout_s bounds each read and write (0: none). */
typedef struct RpcConn {
    int fd;
    char peer[128];
    double timeout_s;
    uint64_t max_message;
} RpcConn;

/* Fills conn for fd; peer is copied. */
void rpc_conn_init(RpcConn *conn, int fd, const char *peer, double timeout_s,
                   uint64_t max_message);
/* Closes the socket (idempotent). */
void rpc_conn_close(RpcConn *conn);

/* Sends one framed message. TS_EIO naming the peer when the connection fails,
 * TS_ETIMEOUT after conn->timeout_s. */
TsStatus rpc_send(RpcConn *conn, const ProtobufCMessage *msg, TsError *err);
/* Receives one framed message of type desc into *out (free with
 * protobuf_c_message_free_unpacked). A length above conn->max_message is TS_EPROTO
 * before any allocation; an undecodable body is TS_EPROTO; the peer closing the
 * connection is TS_EIO "connection closed by ..."; a timeout is TS_ETIMEOUT "timed out
 * after N s". what names the awaited message in those messages ("the reply to call"). */
TsStatus rpc_recv(RpcConn *conn, const ProtobufCMessageDescriptor *desc, const char *what,
                  ProtobufCMessage **out, TsError *err);
/* Waits until fd is readable (or timeout_s passes; < 0 waits forever). Returns 1 when
 * readable, 0 on timeout, -1 on error (errno set). */
int rpc_wait_readable(int fd, double timeout_s);

/* ---- sockets ---- */

/* Listens on host:port (port 0 picks one; *bound_port gets it). */
TsStatus rpc_listen(const char *host, int port, int *fd_out, int *bound_port, TsError *err);
/* Connects to host:port within timeout_s: TS_EIO "connection refused", TS_ETIMEOUT, or
 * TS_EINVAL for a host that does not resolve. */
TsStatus rpc_connect_tcp(const char *host, int port, double timeout_s, int *fd_out,
                         TsError *err);
/* True for "localhost", 127.0.0.0/8 and ::1. */
bool rpc_host_is_loopback(const char *host);

/* ---- authentication (auth.c) ---- */

/* Cryptographically random bytes (getrandom). */
TsStatus rpc_random_bytes(void *buf, size_t n, TsError *err);
/* proof = HMAC-SHA256(token, challenge). */
void rpc_proof(const char *token, const uint8_t *challenge, size_t challenge_len,
               uint8_t proof[RPC_PROOF_BYTES]);
/* Constant-time comparison of a received proof with the expected one. */
bool rpc_proof_ok(const char *token, const uint8_t *challenge, size_t challenge_len,
                  const uint8_t *proof, size_t proof_len);

/* ---- the handshake (auth.c) ---- */

/* Accepting side: sends Welcome, reads Request{hello}, checks the version and (when
 * token is not NULL) the proof, and sends the Reply. On success *hello_out is the
 * received request (caller frees); on failure the peer has been told why. */
TsStatus rpc_handshake_accept(RpcConn *conn, const char *server_name, const char *device_key,
                              const char *token, Tessera__Rpc__Request **hello_out,
                              TsError *err);
/* The accepting side in two steps, for an event loop that must not wait on one peer
 * (the tracker): rpc_handshake_welcome sends Welcome with a fresh challenge, which the
 * caller keeps; rpc_handshake_check_hello checks the peer's first request against it
 * (hello, version, proof) and sends the Reply. rpc_handshake_accept is the two with a
 * blocking read between them. */
TsStatus rpc_handshake_welcome(RpcConn *conn, const char *server_name, const char *device_key,
                               const char *token, uint8_t challenge[RPC_CHALLENGE_BYTES],
                               TsError *err);
TsStatus rpc_handshake_check_hello(RpcConn *conn, const char *server_name, const char *token,
                                   const uint8_t challenge[RPC_CHALLENGE_BYTES],
                                   const Tessera__Rpc__Request *req, TsError *err);
/* Connecting side: reads Welcome, sends hello (with the proof when token is not NULL),
 * reads the Reply. A server that requires a token the client lacks, a wrong token or a
 * version mismatch fail with the server's message. *welcome_out (may be NULL) receives
 * the Welcome (caller frees). */
TsStatus rpc_handshake_connect(RpcConn *conn, const char *token, const char *client_name,
                               const char *lease_id, Tessera__Rpc__Welcome **welcome_out,
                               TsError *err);

/* Sends a Reply with id, status and message (no body). */
TsStatus rpc_send_status(RpcConn *conn, uint64_t id, TsStatus status, const char *message,
                         TsError *err);

/* ---- the client's session (client.c; the tracker parts in client_tracker.c) ---- */

struct TsRpcSession {
    RpcConn conn;           /* to the device server */
    uint64_t next_id;       /* of the next request */
    char peer[160];         /* "rpc HOST:PORT (key)", for messages */
    char device_key[64];
    double timeout_s;       /* default wait for a reply */
    /* When the device came from the tracker: the connection that holds the lease
     * (fd -1 otherwise), and what the tracker said about it. */
    RpcConn tracker;
    char lease_id[64];
    bool device_lost;
    char lost_reason[256];
};

/* Connects to a device server and shakes hands; lease_id is sent in the hello (NULL or
 * "" for a direct connection). The tracker fields are left empty (fd -1). */
TsStatus rpc_session_open(const char *host, int port, const TsRpcConnectOptions *options,
                          const char *lease_id, TsRpcSession **out, TsError *err);
/* Sends req (its id is set here) and waits up to timeout_s (0: the session's default)
 * for the reply, returned in *reply (caller frees) when its status is TS_OK. A failing
 * reply becomes the reply's status with "PEER: what: MESSAGE". A transport failure on
 * a leased session asks rpc_lease_check whether the device was lost. */
TsStatus rpc_session_request(TsRpcSession *session, Tessera__Rpc__Request *req,
                             const char *what, double timeout_s, Tessera__Rpc__Reply **reply,
                             TsError *err);
/* Leased sessions only (client_tracker.c): reads any LeaseEvent the tracker sent; when
 * the lease was lost, marks the session and returns TS_EDEVICE "PEER: device lost: ...",
 * else TS_OK. */
TsStatus rpc_lease_check(TsRpcSession *session, TsError *err);
/* Leased sessions only (client_tracker.c): gives the lease back and closes the tracker
 * connection. */
void rpc_lease_release(TsRpcSession *session);

/* ---- a device server's registration with a tracker (tracker_link.c) ---- */

typedef struct RpcTrackerLink RpcTrackerLink;

/* Registers the server (reachable at advertise_host:port under key) with the tracker
 * and keeps the registration alive by heartbeat until rpc_tracker_link_stop; if the
 * server process dies, the tracker notices and drops it. log receives one line per
 * event (NULL: stderr). */
TsStatus rpc_tracker_link_start(const char *tracker_host, int tracker_port, const char *token,
                                const char *key, const char *advertise_host, int port,
                                void (*log)(const char *line, void *user), void *user,
                                RpcTrackerLink **out, TsError *err);
void rpc_tracker_link_stop(RpcTrackerLink *link);

#endif /* TESSERA_RPC_INTERNAL_H */
