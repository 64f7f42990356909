/* Helpers shared by the RPC tests (tests/rpc/): a device server on loopback in a forked
 * child (port 0, the bound port sent back through a pipe), and the assertions of the
 * runtime tests. Every server a test starts is stopped with SIGTERM and must exit 0. */
#ifndef TESSERA_TESTS_RPC_TESTING_H
#define TESSERA_TESTS_RPC_TESTING_H

#include <stdbool.h>
#include <sys/types.h>

#include "rt_testing.h" /* assert_status, assert_ok (tests/runtime/) */
#include "tessera/rpc.h"

typedef struct RptServer {
    pid_t pid;
    int port;
    char workdir[256]; /* a fresh directory for the server's sessions */
} RptServer;

/* Starts ts_rpc_server_run(options with host 127.0.0.1, port 0, workdir a fresh
 * directory) in a child and waits until it listens. options NULL: the defaults. */
void rpt_server_start(RptServer *server, const TsRpcServerOptions *options);
/* SIGTERM, and asserts that the server returned TS_OK (exit status 0). Removes the work
 * directory. */
void rpt_server_stop(RptServer *server);
/* Waits (up to 10 s) until the server's work directory is empty: every session
 * directory removed. Returns false if it never became empty. */
bool rpt_workdir_empty(const RptServer *server);

/* A session with the defaults (and token, when not NULL); asserts success. */
TsRpcSession *rpt_connect(const RptServer *server, const char *token);
/* Connects, uploads add_one's module... : checks that server serves a whole session
 * (connect, device_info, alloc, copy, copy back). */
void rpt_check_serves(const RptServer *server, const char *token);

/* A raw TCP connection to the server (no handshake). */
int rpt_connect_raw(const RptServer *server);
/* Reads from fd until the peer closes it (true) or 10 s pass (false). */
bool rpt_wait_closed(int fd);
/* The server's session processes (the children of its main process, read from /proc):
 * how many, and one of them in *session. */
int rpt_server_sessions(const RptServer *server, pid_t *session);

#endif /* TESSERA_TESTS_RPC_TESTING_H */
