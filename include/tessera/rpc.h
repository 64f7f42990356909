/* Tessera's RPC: a client on the host drives a device server (a board, or a process on
 * this machine) to upload compiled modules, allocate and fill arrays, call and time
 * kernels; a tracker pools device servers by key and leases them to clients one at a
 * time. The protocol is rpc/rpc.proto; all of it lives in libtessera_runtime (no LLVM),
 * so a board runs the same server.
 *
 * Every failure is a status and a message that says what happened on which device:
 * "rpc 127.0.0.1:9090: connection refused", "... timed out after 10 s waiting for the
 * reply to call", "... kernel crashed with SIGSEGV", "... protocol version mismatch
 * (server 2, client 1)", "... bad token". */
#ifndef TESSERA_RPC_H
#define TESSERA_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tessera/dtype.h"
#include "tessera/error.h"
#include "tessera/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 2: UnloadModule. */
#define TS_RPC_PROTOCOL_VERSION 2u
#define TS_RPC_DEFAULT_PORT 9090
#define TS_RPC_DEFAULT_TRACKER_PORT 9190
/* Largest message either side accepts unless configured otherwise (64 MiB). */
#define TS_RPC_DEFAULT_MAX_MESSAGE ((uint64_t)64 << 20)
/* A token file holds the shared secret; at most this many bytes are read from it. */
#define TS_RPC_MAX_TOKEN 256

/* Parses "HOST:PORT" (the last colon splits, so an IPv6 host needs no brackets) into
 * host (size bytes) and *port in [1, 65535]; TS_EINVAL naming text otherwise. */
TsStatus ts_rpc_parse_endpoint(const char *text, char *host, size_t size, int *port,
                               TsError *err);

/* ---- the client ---- */

typedef struct TsRpcSession TsRpcSession;

typedef struct TsRpcConnectOptions {
    double connect_timeout_s; /* TCP connect and handshake; default 10 */
    double timeout_s;         /* waiting for any one reply; default 60 */
    const char *token;        /* the shared secret, or NULL; see ts_rpc_read_token */
    const char *client_name;  /* logged by the server; default "tessera-client" */
    uint64_t max_message;     /* default TS_RPC_DEFAULT_MAX_MESSAGE */
} TsRpcConnectOptions;

TsRpcConnectOptions ts_rpc_connect_options_default(void);

/* Reads a token file: its first line, without the newline; empty or unreadable is
 * TS_EINVAL / TS_EIO naming the file. token must hold TS_RPC_MAX_TOKEN + 1 bytes. */
TsStatus ts_rpc_read_token(const char *path, char *token, TsError *err);

/* Connects to a device server directly. options NULL means the defaults. */
TsStatus ts_rpc_connect(const char *host, int port, const TsRpcConnectOptions *options,
                        TsRpcSession **out, TsError *err);
/* Asks the tracker at tracker_host:tracker_port for a device of this key, waits up to
 * wait_s (0: as long as it takes) for one to be free, and connects to it. The lease is
 * held until ts_rpc_close; if the device's server dies, calls fail with TS_EDEVICE
 * ("device lost"). */
TsStatus ts_rpc_connect_tracker(const char *tracker_host, int tracker_port, const char *key,
                                int priority, double wait_s, const TsRpcConnectOptions *options,
                                TsRpcSession **out, TsError *err);
/* Ends the session (the server removes its directory) and frees it. NULL is a no-op. */
void ts_rpc_close(TsRpcSession *session);
/* "host:port (key)", for messages. */
const char *ts_rpc_peer(const TsRpcSession *session);

typedef struct TsRpcDeviceInfo {
    char triple[64];
    char cpu[128];
    char features[1024]; /* space-separated */
    int num_cores;
    uint32_t protocol_version;
    char device_key[64];
} TsRpcDeviceInfo;

TsStatus ts_rpc_device_info(TsRpcSession *session, TsRpcDeviceInfo *out, TsError *err);

/* Uploads a local file into the session directory under name (a plain file name). */
TsStatus ts_rpc_upload(TsRpcSession *session, const char *local_path, const char *name,
                       TsError *err);
/* Uploads bytes from memory. */
TsStatus ts_rpc_upload_bytes(TsRpcSession *session, const void *data, size_t size,
                             const char *name, TsError *err);
TsStatus ts_rpc_remove(TsRpcSession *session, const char *name, TsError *err);

/* A module loaded on the device, and its functions. */
typedef uint64_t TsRpcModule;
TsStatus ts_rpc_load_module(TsRpcSession *session, const char *name, TsRpcModule *out,
                            TsError *err);
/* Unloads a module on the device (dlclose there): module is no longer valid. The
 * uploaded file stays until ts_rpc_remove. A long session unloads what it no longer
 * calls, so that its memory does not grow with every module it has loaded. */
TsStatus ts_rpc_unload_module(TsRpcSession *session, TsRpcModule module, TsError *err);
/* Function names of a loaded module, written to names (each up to 127 bytes); the count
 * to *num. */
TsStatus ts_rpc_list_funcs(TsRpcSession *session, TsRpcModule module, int max_names,
                           char (*names)[128], int *num, TsError *err);

/* The argument signature of func ("A:float32[64,32];...", see TsFuncEntry) into buf;
 * TS_EINVAL when the module has no such function or buf is too small. */
TsStatus ts_rpc_func_signature(TsRpcSession *session, TsRpcModule module, const char *func,
                               char *buf, size_t size, TsError *err);

/* An array on the device. */
typedef uint64_t TsRpcArray;
TsStatus ts_rpc_alloc_array(TsRpcSession *session, int ndim, const int64_t *shape,
                            TsDType dtype, TsRpcArray *out, TsError *err);
TsStatus ts_rpc_free_array(TsRpcSession *session, TsRpcArray array, TsError *err);
/* nbytes must be the array's size. */
TsStatus ts_rpc_copy_to(TsRpcSession *session, TsRpcArray array, const void *data,
                        size_t nbytes, TsError *err);
TsStatus ts_rpc_copy_from(TsRpcSession *session, TsRpcArray array, void *data, size_t nbytes,
                          TsError *err);

/* One argument of a remote call. */
typedef enum TsRpcArgKind { TS_RPC_ARG_INT, TS_RPC_ARG_FLOAT, TS_RPC_ARG_ARRAY } TsRpcArgKind;
typedef struct TsRpcArg {
    TsRpcArgKind kind;
    union {
        int64_t v_int;
        double v_float;
        TsRpcArray array;
    } u;
} TsRpcArg;

/* Calls func of module with args. timeout_s 0 means the server's limit. A kernel that
 * returns an error gives TS_EDEVICE with the kernel's message; one that crashes gives
 * TS_EDEVICE naming the signal; one that runs too long gives TS_ETIMEOUT. */
TsStatus ts_rpc_call(TsRpcSession *session, TsRpcModule module, const char *func,
                     int num_args, const TsRpcArg *args, double timeout_s, TsError *err);
/* The time evaluator on the device (see TsTimeOptions); writes options->repeat costs in
 * seconds. */
TsStatus ts_rpc_time(TsRpcSession *session, TsRpcModule module, const char *func, int num_args,
                     const TsRpcArg *args, const TsTimeOptions *options, double timeout_s,
                     double *costs, TsError *err);

/* ---- whole models on the device ---- */

enum { TS_RPC_GRAPH_MAX_TENSORS = 64, TS_RPC_GRAPH_MAX_DIMS = 8, TS_RPC_GRAPH_MAX_COSTS = 64 };

/* An input or output of a model run on the device; data (outputs after a run) is
 * malloc'ed, freed by ts_rpc_graph_result_free. */
typedef struct TsRpcGraphTensor {
    char name[128];
    TsDType dtype;
    int ndim;
    int64_t shape[TS_RPC_GRAPH_MAX_DIMS];
    size_t nbytes;
    void *data;
} TsRpcGraphTensor;

typedef struct TsRpcGraphResult {
    int num_inputs, num_outputs;
    TsRpcGraphTensor inputs[TS_RPC_GRAPH_MAX_TENSORS];
    TsRpcGraphTensor outputs[TS_RPC_GRAPH_MAX_TENSORS];
    int num_costs;
    double costs[TS_RPC_GRAPH_MAX_COSTS]; /* seconds, one mean per repeat */
} TsRpcGraphResult;

/* The model of module (a loaded whole-model module, tessera build MODEL.onnx) on the
 * device: with num_inputs 0 only described (its inputs' and outputs' names, dtypes and
 * shapes); with every input (in the graph's order, each exactly its size) run once by
 * the device's graph executor, its outputs returned, and, when time->repeat > 0, timed.
 * The run happens in a child of the device's session, as a kernel call does. */
TsStatus ts_rpc_run_graph(TsRpcSession *session, TsRpcModule module, int num_inputs,
                          const void *const *inputs, const size_t *sizes,
                          const TsTimeOptions *time, TsRpcGraphResult *out, TsError *err);
void ts_rpc_graph_result_free(TsRpcGraphResult *result);

/* ---- the device server ---- */

typedef struct TsRpcServerOptions {
    const char *host;         /* default "127.0.0.1" */
    int port;                 /* default TS_RPC_DEFAULT_PORT; 0 picks a free port */
    const char *key;          /* device key; default "local" */
    const char *tracker_host; /* register with this tracker, or NULL */
    int tracker_port;
    const char *workdir;      /* session directories go under it; default $TMPDIR or /tmp */
    const char *token;        /* required when host is not loopback */
    double call_timeout_s;    /* default 60: a call or time request running longer is killed */
    double session_timeout_s; /* default 0 (none): a session idle this long is ended */
    uint64_t max_upload;      /* bytes per file; default 256 MiB */
    uint64_t max_memory;      /* bytes of arrays per session; default 4 GiB */
    uint64_t max_message;     /* default TS_RPC_DEFAULT_MAX_MESSAGE */
    int max_sessions;         /* served at once; default 4 (more wait in the backlog) */
    /* Called with the bound port once listening (useful with port 0), or NULL. */
    void (*on_listening)(int port, void *user);
    void *user;
    /* Log lines (one per session start/end, refusal, crash) go here; NULL: stderr. */
    void (*log)(const char *line, void *user);
} TsRpcServerOptions;

TsRpcServerOptions ts_rpc_server_options_default(void);

/* Serves until SIGINT or SIGTERM (then returns TS_OK) or until it cannot listen. Each
 * session is served in its own process. */
TsStatus ts_rpc_server_run(const TsRpcServerOptions *options, TsError *err);

/* ---- the tracker ---- */

typedef struct TsTrackerOptions {
    const char *host;           /* default "127.0.0.1" */
    int port;                   /* default TS_RPC_DEFAULT_TRACKER_PORT; 0 picks one */
    const char *token;          /* required of servers and clients when set */
    double heartbeat_timeout_s; /* a server silent this long is dropped; default 10 */
    void (*on_listening)(int port, void *user);
    void *user;
    void (*log)(const char *line, void *user);
} TsTrackerOptions;

TsTrackerOptions ts_tracker_options_default(void);
/* Serves until SIGINT or SIGTERM. */
TsStatus ts_tracker_run(const TsTrackerOptions *options, TsError *err);

typedef struct TsTrackerKeyStatus {
    char key[64];
    int free;
    int leased;
    int pending;
} TsTrackerKeyStatus;

/* Each key's counts, up to max_keys of them; the number to *num_keys. */
TsStatus ts_tracker_status(const char *tracker_host, int tracker_port, const char *token,
                           int max_keys, TsTrackerKeyStatus *keys, int *num_keys,
                           TsError *err);

#ifdef __cplusplus
}
#endif

#endif /* TESSERA_RPC_H */
