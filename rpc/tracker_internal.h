/* rpc/: the tracker's state, shared by its event loop (tracker.c: connections, framing,
 * handshakes, signals) and its pool (tracker_pool.c: registered devices, waiting clients,
 * leases, and the order in which they meet). Private to those two files. */
#ifndef TESSERA_RPC_TRACKER_INTERNAL_H
#define TESSERA_RPC_TRACKER_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "rpc/rpc_internal.h"

/* Tracker messages are small: a registration, a request, a status of a few keys. */
#define RPC_TRACKER_MAX_MESSAGE ((uint64_t)64 << 10)
/* Bounds every send to one peer, and the time a new connection has to say hello. */
#define RPC_TRACKER_IO_TIMEOUT_S 5.0
#define RPC_TRACKER_HELLO_TIMEOUT_S 10.0
/* A device key is at most this long (the public structs hold 64 bytes). */
#define RPC_TRACKER_MAX_KEY 63

typedef struct RpcDevice RpcDevice;

/* A frame being read without blocking: the 8-byte prefix, then the body. */
typedef struct RpcFrameReader {
    uint8_t prefix[RPC_PREFIX_BYTES];
    size_t prefix_got;
    uint8_t *body; /* allocated once the prefix is in and its length checked */
    size_t len;
    size_t body_got;
} RpcFrameReader;

/* One accepted connection: a device server's registration link, a client, or a status
 * query; what it is follows from what it sends. */
typedef struct RpcTrackerConn {
    RpcConn conn;
    bool greeted; /* hello accepted */
    uint8_t challenge[RPC_CHALLENGE_BYTES];
    double accepted_at;
    double last_heard; /* monotonic seconds of the last whole message */
    RpcFrameReader reader;
    RpcDevice *device; /* the device this connection registered, or NULL */
    /* Set when the connection must end; the loop ends it between events, so that no
     * handler frees a connection another one still uses. */
    bool closing;
    char close_reason[256];
} RpcTrackerConn;

/* A registered device server, and its lease when one is held. */
struct RpcDevice {
    char key[RPC_TRACKER_MAX_KEY + 1];
    char host[128];
    int port;
    char server_id[32];
    RpcTrackerConn *server;
    RpcTrackerConn *lessee; /* NULL when free */
    char lease_id[40];
    char lost_reason[320]; /* why the server is being dropped, when not a plain close */
};

/* A client's RequestDevice, not yet answered. */
typedef struct RpcWaiter {
    RpcTrackerConn *client;
    uint64_t request_id;
    char key[RPC_TRACKER_MAX_KEY + 1];
    int32_t priority;
    uint64_t arrival; /* order of arrival, for first come first served */
    double wait_s;    /* 0: no limit */
    double deadline;  /* monotonic; meaningful when wait_s > 0 */
} RpcWaiter;

typedef struct RpcTracker {
    const TsTrackerOptions *options;
    int listen_fd;
    RpcTrackerConn **conns;
    int num_conns, cap_conns;
    RpcDevice **devices;
    int num_devices, cap_devices;
    RpcWaiter *waiters;
    int num_waiters, cap_waiters;
    uint64_t next_arrival;
    uint64_t next_server_id;
} RpcTracker;

/* Monotonic seconds. */
double rpc_tracker_now(void);
/* One log line, "tracker: ..." (options->log, else stderr). */
void rpc_tracker_log(RpcTracker *t, const char *fmt, ...) TS_PRINTF_LIKE(2, 3);
/* Marks c to be closed with reason (the first reason given is kept). */
void rpc_tracker_close_later(RpcTrackerConn *c, const char *fmt, ...) TS_PRINTF_LIKE(2, 3);
/* Sends msg to c; a failure closes c later (and is logged) and returns false. */
bool rpc_tracker_send(RpcTracker *t, RpcTrackerConn *c, const ProtobufCMessage *msg);
/* Sends a Reply with status and message (no body) to c, as rpc_tracker_send. */
bool rpc_tracker_send_status(RpcTracker *t, RpcTrackerConn *c, uint64_t id, TsStatus status,
                             const char *fmt, ...) TS_PRINTF_LIKE(5, 6);

/* ---- the pool (tracker_pool.c) ---- */

/* Handles one request of a greeted connection (owned by the caller). */
void rpc_tracker_handle(RpcTracker *t, RpcTrackerConn *c, const Tessera__Rpc__Request *req);
/* Leases free devices to waiting clients: higher priority first, then first come. */
void rpc_tracker_serve_waiters(RpcTracker *t);
/* Answers waiters whose wait_s ran out (TS_ETIMEOUT), and closes servers whose
 * heartbeats stopped. Returns the seconds until the next such deadline (capped). */
double rpc_tracker_check_deadlines(RpcTracker *t, double cap_s);
/* Before c is freed: drops its device (telling the lessee the device is lost), ends the
 * leases it holds (telling their servers) and forgets its waiting requests. */
void rpc_tracker_forget_conn(RpcTracker *t, RpcTrackerConn *c);
/* Frees every device and waiter (the tracker is stopping). */
void rpc_tracker_pool_free(RpcTracker *t);

#endif /* TESSERA_RPC_TRACKER_INTERNAL_H */
