/* rpc/: shared between the device server's files only. server.c is the main process
 * (listen, accept, one process per session, reaping, logging); server_session.c is a
 * session process (handshake, session directory, files, modules, arrays, the request
 * loop); server_exec.c runs the work that touches uploaded code in a forked child (the
 * load probe, call and time) and answers device_info; server_check.c checks the file
 * names and array shapes a peer sends. */
#ifndef TESSERA_RPC_SERVER_INTERNAL_H
#define TESSERA_RPC_SERVER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "rpc/rpc_internal.h"

/* Limits the server holds every session to, besides the configurable ones. */
#define RPC_MAX_FILE_NAME 128  /* bytes of an uploaded file's name */
#define RPC_MAX_DIMS 16        /* dimensions of an array */
#define RPC_MAX_CALL_ARGS 256  /* arguments of one call */
#define RPC_MAX_REPEAT 100000  /* repeats of one time request */
#define RPC_IO_TIMEOUT_S 60.0  /* reading or writing one message once it has started */

/* ---- what a peer names and sizes (server_check.c) ---- */

/* A name is a plain file name in the session directory: not empty, no '/', not "." or
 * "..", no control characters, at most RPC_MAX_FILE_NAME bytes. TS_EINVAL naming it
 * otherwise. */
TsStatus rpc_check_file_name(const char *name, TsError *err);
/* An array request's dtype (a valid Tessera data type) and shape (at most RPC_MAX_DIMS
 * extents, none negative) and its byte size, computed without overflow. TS_EINVAL naming
 * the dtype or the dimension otherwise; nothing is allocated. */
TsStatus rpc_check_array_shape(const Tessera__Rpc__AllocArray *req, TsDType *dtype,
                               uint64_t *nbytes, TsError *err);

/* One line to options->log (or stderr), formatted like printf. */
void rpc_server_log(const TsRpcServerOptions *options, const char *fmt, ...)
    TS_PRINTF_LIKE(2, 3);
/* "SIGSEGV" for SIGSEGV and so on; "signal N" (in buf) for one without a name here. */
const char *rpc_signal_name(int sig, char buf[32]);

/* An array of the session: anonymous shared memory, so that a forked call child's
 * writes land in the session's copy. */
typedef struct RpcArray {
    bool live;
    void *data;    /* mmap'd, page aligned (so 64-byte aligned) */
    size_t nbytes; /* the array's size */
    size_t mapped; /* the mapping's size (at least one byte is mapped) */
    int32_t ndim;
    int64_t shape[RPC_MAX_DIMS];
    TsDType dtype;
} RpcArray;

typedef struct RpcLoadedModule {
    TsModule *module; /* NULL once the slot is free */
    char name[RPC_MAX_FILE_NAME + 1];
} RpcLoadedModule;

/* A file arriving in chunks. */
typedef struct RpcUpload {
    int fd; /* -1: no upload in progress */
    char name[RPC_MAX_FILE_NAME + 1];
    uint64_t total_size;
    uint64_t next_offset;
} RpcUpload;

/* The state of one session process. Handles given to the client are slot index + 1. */
typedef struct RpcServerSession {
    const TsRpcServerOptions *options;
    int number; /* the session's number in the server's log */
    RpcConn conn;
    char dir[4096]; /* the session directory */
    int dir_fd;
    RpcArray *arrays;
    size_t num_arrays, cap_arrays;
    uint64_t memory_used;
    RpcLoadedModule *modules;
    size_t num_modules, cap_modules;
    RpcUpload upload;
} RpcServerSession;

/* Serves one accepted connection in this (forked) process and returns the process's
 * exit status: 0 after a normal end, 1 when the session ended on an error (logged). */
int rpc_serve_session(const TsRpcServerOptions *options, int number, int fd, const char *peer,
                      const char *dir);

/* What a child writes to its pipe: this header, then num_costs doubles. */
typedef struct ChildReport {
    int32_t status;
    int32_t num_costs;
    char message[TS_ERROR_MESSAGE_MAX];
} ChildReport;

/* The work a child does; it fills report (and costs). */
typedef void (*ChildWork)(void *ctx, ChildReport *report, double *costs);

/* Runs work in a child with a time limit (timeout_s 0: none); what names the work in
 * messages ("kernel 'f'"). A crash, a hang past the limit or a failure reported by the
 * work is the error; num_costs doubles come back into costs. */
TsStatus rpc_run_in_child(RpcServerSession *s, const char *what, double timeout_s,
                          ChildWork work, void *ctx, double *costs, int num_costs, TsError *err);
/* The limit of a call: the client's timeout_s or the server's, the smaller. */
double rpc_time_limit(const RpcServerSession *s, double timeout_s);
/* The module of a handle, or NULL. */
TsModule *rpc_find_module(RpcServerSession *s, uint64_t handle);

/* The reply of a RunGraph request (server_graph.c), and what it holds, freed after the
 * reply is sent. */
typedef struct RpcGraphReply {
    Tessera__Rpc__RunGraphReply reply;
    Tessera__Rpc__GraphTensor *tensors;
    Tessera__Rpc__GraphTensor **tensor_ptrs;
    Tessera__Rpc__DType *dtypes;
    int64_t *shapes;
    ProtobufCBinaryData *data;
    double *costs;
    void *shared; /* the outputs, written by the child */
    size_t shared_bytes;
} RpcGraphReply;

TsStatus rpc_exec_graph(RpcServerSession *s, const Tessera__Rpc__RunGraph *req,
                        RpcGraphReply *out, TsError *err);
void rpc_graph_reply_free(RpcGraphReply *out);

/* The function and arguments of a call request, looked up in the session. */
TsStatus rpc_exec_call(RpcServerSession *s, const Tessera__Rpc__Call *call,
                       const Tessera__Rpc__TimeFunc *time, double *costs, TsError *err);
/* Loads the module at path in a forked child first, so that a crashing or hanging
 * constructor is an error (naming name) and not the end of the session. */
TsStatus rpc_exec_probe_load(RpcServerSession *s, const char *path, const char *name,
                             TsError *err);

/* The device's description (strings owned by static storage or *features_out; free with
 * rpc_device_info_free). */
TsStatus rpc_device_info(const char *key, Tessera__Rpc__DeviceInfoReply *out, TsError *err);
void rpc_device_info_free(Tessera__Rpc__DeviceInfoReply *info);

#endif /* TESSERA_RPC_SERVER_INTERNAL_H */
