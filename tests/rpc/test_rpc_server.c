/* The device server and the client on loopback, with a hand-written module
 * (modules/fault_module.c): a whole session (upload, load, list, alloc, copy, call, copy
 * back, time with number and repeat honoured), then the faults: a kernel that reports an
 * error, one that segfaults, one that never returns, a module whose constructor
 * crashes, a client that disconnects mid-upload, an old protocol version, random
 * garbage, a length prefix of 4 GiB, file names that would leave the session directory,
 * sizes over the session's limits, a wrong or missing token. Each fault must give its
 * error (status and message) and leave the same server serving the next session; every
 * session directory must be gone when its session ends. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "rpc/rpc_internal.h"
#include "rpc/server_internal.h"
#include "rpc_testing.h"

static RptServer server;

static int start_server(void **state)
{
    (void)state;
    TsRpcServerOptions o = ts_rpc_server_options_default();
    o.call_timeout_s = 30;
    o.max_upload = (uint64_t)4 << 20;
    o.max_memory = (uint64_t)64 << 20;
    rpt_server_start(&server, &o);
    return 0;
}

static int stop_server(void **state)
{
    (void)state;
    rpt_server_stop(&server);
    return 0;
}

/* A session with the fault module uploaded and loaded. */
static TsRpcSession *session_with_module(TsRpcModule *module)
{
    TsRpcSession *session = rpt_connect(&server, NULL);
    TsError err;
    assert_ok(ts_rpc_upload(session, RPC_FAULT_MODULE, "faults.so", &err), err);
    assert_ok(ts_rpc_load_module(session, "faults.so", module, &err), err);
    return session;
}

static void test_whole_session(void **state)
{
    (void)state;
    TsRpcModule module;
    TsRpcSession *session = session_with_module(&module);
    TsError err;
    char names[8][128];
    int num = 0;
    assert_ok(ts_rpc_list_funcs(session, module, 8, names, &num, &err), err);
    assert_int_equal(num, 5);
    assert_string_equal(names[0], "add_one");
    assert_string_equal(names[4], "spin");

    enum { N = 1000 };
    int64_t n = N;
    TsRpcArray a, b;
    assert_ok(ts_rpc_alloc_array(session, 1, &n, TS_FLOAT32, &a, &err), err);
    assert_ok(ts_rpc_alloc_array(session, 1, &n, TS_FLOAT32, &b, &err), err);
    static float in[N], out[N];
    for (int i = 0; i < N; i++)
        in[i] = (float)i * 0.5f;
    assert_ok(ts_rpc_copy_to(session, a, in, sizeof in, &err), err);
    TsRpcArg args[2] = { { .kind = TS_RPC_ARG_ARRAY, .u.array = a },
                         { .kind = TS_RPC_ARG_ARRAY, .u.array = b } };
    assert_ok(ts_rpc_call(session, module, "add_one", 2, args, 0, &err), err);
    assert_ok(ts_rpc_copy_from(session, b, out, sizeof out, &err), err);
    for (int i = 0; i < N; i++)
        assert_true(out[i] == in[i] + 1.0f);

    TsTimeOptions options = ts_time_options_default();
    options.number = 3;
    options.repeat = 4;
    double costs[4] = { 0 };
    assert_ok(ts_rpc_time(session, module, "add_one", 2, args, &options, 0, costs, &err), err);
    for (int r = 0; r < 4; r++)
        assert_true(costs[r] > 0 && costs[r] < 1.0);
    assert_ok(ts_rpc_free_array(session, a, &err), err);
    assert_status(ts_rpc_free_array(session, a, &err), err, TS_EINVAL, "no array");
    assert_ok(ts_rpc_remove(session, "faults.so", &err), err);
    assert_status(ts_rpc_remove(session, "faults.so", &err), err, TS_EINVAL, "no such file");
    ts_rpc_close(session);
    assert_true(rpt_workdir_empty(&server));
}

/* The time evaluator calls the kernel once to warm up and number * repeat times after. */
static void test_time_counts_calls(void **state)
{
    (void)state;
    TsRpcModule module;
    TsRpcSession *session = session_with_module(&module);
    TsError err;
    int64_t one = 1, zero = 0, calls = -1;
    TsRpcArray counter;
    assert_ok(ts_rpc_alloc_array(session, 1, &one, TS_INT64, &counter, &err), err);
    assert_ok(ts_rpc_copy_to(session, counter, &zero, sizeof zero, &err), err);
    TsRpcArg arg = { .kind = TS_RPC_ARG_ARRAY, .u.array = counter };
    TsTimeOptions options = ts_time_options_default();
    options.number = 5;
    options.repeat = 3;
    double costs[3];
    assert_ok(ts_rpc_time(session, module, "count", 1, &arg, &options, 0, costs, &err), err);
    assert_ok(ts_rpc_copy_from(session, counter, &calls, sizeof calls, &err), err);
    assert_int_equal(calls, 1 + 5 * 3);
    for (int r = 0; r < 3; r++)
        assert_true(costs[r] > 0);
    ts_rpc_close(session);
}

/* An unloaded module's handle is no longer valid; its file stays until removed, and the
 * slot serves the next load. */
static void test_unload_module(void **state)
{
    (void)state;
    TsRpcModule module;
    TsRpcSession *session = session_with_module(&module);
    TsError err;
    assert_ok(ts_rpc_unload_module(session, module, &err), err);
    int64_t n = 4;
    TsRpcArray a;
    assert_ok(ts_rpc_alloc_array(session, 1, &n, TS_FLOAT32, &a, &err), err);
    TsRpcArg args[2] = { { .kind = TS_RPC_ARG_ARRAY, .u.array = a },
                         { .kind = TS_RPC_ARG_ARRAY, .u.array = a } };
    assert_status(ts_rpc_call(session, module, "add_one", 2, args, 0, &err), err, TS_EINVAL,
                  "no module");
    assert_status(ts_rpc_unload_module(session, module, &err), err, TS_EINVAL, "no module");
    assert_status(ts_rpc_unload_module(session, 0, &err), err, TS_EINVAL, "no module 0");
    TsRpcModule again;
    assert_ok(ts_rpc_load_module(session, "faults.so", &again, &err), err);
    assert_ok(ts_rpc_call(session, again, "add_one", 2, args, 0, &err), err);
    ts_rpc_close(session);
    rpt_check_serves(&server, NULL);
}

/* The process of the server's only session, once the sessions before it have ended. */
static pid_t session_pid(void)
{
    pid_t pid = 0;
    for (int tries = 0; tries < 1000 && rpt_server_sessions(&server, &pid) != 1; tries++)
        poll(NULL, 0, 10);
    assert_int_equal(rpt_server_sessions(&server, &pid), 1);
    return pid;
}

/* The session's resident set (VmRSS, KiB) and the mappings of files named candidate-*. */
static void session_memory(pid_t pid, long *rss_kib, int *module_maps)
{
    char path[64], line[4096];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    *rss_kib = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", rss_kib) == 1)
            break;
    fclose(f);
    assert_true(*rss_kib > 0);
    snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    f = fopen(path, "r");
    assert_non_null(f);
    *module_maps = 0;
    while (fgets(line, sizeof line, f))
        if (strstr(line, "/candidate-"))
            (*module_maps)++;
    fclose(f);
}

/* One tuning candidate as the RPC runner measures it: upload, load, time, unload,
 * remove. */
static void measure_candidate(TsRpcSession *session, int i, const TsRpcArg *args)
{
    char name[64];
    snprintf(name, sizeof name, "candidate-%d.so", i);
    TsError err;
    TsRpcModule module;
    assert_ok(ts_rpc_upload(session, RPC_FAULT_MODULE, name, &err), err);
    assert_ok(ts_rpc_load_module(session, name, &module, &err), err);
    TsTimeOptions options = ts_time_options_default();
    double cost = 0;
    assert_ok(ts_rpc_time(session, module, "add_one", 2, args, &options, 0, &cost, &err), err);
    assert_true(cost > 0);
    assert_ok(ts_rpc_unload_module(session, module, &err), err);
    assert_ok(ts_rpc_remove(session, name, &err), err);
}

/* A long tuning session: its memory stays flat over 1000 candidates (each one loaded,
 * timed, unloaded and removed). Without the unload every candidate stays mapped. */
static void test_session_memory_flat(void **state)
{
    (void)state;
    enum { WARM_UP = 50, CANDIDATES = 1000, MAX_GROWTH_KIB = 4096 };
    TsRpcSession *session = rpt_connect(&server, NULL);
    TsError err;
    int64_t n = 256;
    TsRpcArray a, b;
    assert_ok(ts_rpc_alloc_array(session, 1, &n, TS_FLOAT32, &a, &err), err);
    assert_ok(ts_rpc_alloc_array(session, 1, &n, TS_FLOAT32, &b, &err), err);
    TsRpcArg args[2] = { { .kind = TS_RPC_ARG_ARRAY, .u.array = a },
                         { .kind = TS_RPC_ARG_ARRAY, .u.array = b } };
    pid_t pid = session_pid();
    for (int i = 0; i < WARM_UP; i++)
        measure_candidate(session, i, args);
    long rss_before, rss_after;
    int maps_before, maps_after;
    session_memory(pid, &rss_before, &maps_before);
    for (int i = WARM_UP; i < WARM_UP + CANDIDATES; i++)
        measure_candidate(session, i, args);
    session_memory(pid, &rss_after, &maps_after);
    print_message("session %d: VmRSS %ld KiB -> %ld KiB over %d candidates; candidate "
                  "mappings %d -> %d\n",
                  (int)pid, rss_before, rss_after, CANDIDATES, maps_before, maps_after);
    assert_int_equal(maps_before, 0);
    assert_int_equal(maps_after, 0);
#if defined(__SANITIZE_ADDRESS__)
    /* AddressSanitizer holds freed memory in its quarantine (256 MiB by default), so the
     * resident set of a sanitized session grows with what it frees: only the mappings
     * are checked there. */
    (void)MAX_GROWTH_KIB;
#else
    assert_true(rss_after - rss_before < MAX_GROWTH_KIB);
#endif
    ts_rpc_close(session);
    assert_true(rpt_workdir_empty(&server));
}

static void test_kernel_error(void **state)
{
    (void)state;
    TsRpcModule module;
    TsRpcSession *session = session_with_module(&module);
    TsError err;
    assert_status(ts_rpc_call(session, module, "fail", 0, NULL, 0, &err), err, TS_EDEVICE,
                  "fail: the input is not what this kernel wants");
    assert_status(ts_rpc_call(session, module, "missing", 0, NULL, 0, &err), err, TS_EINVAL,
                  "missing");
    /* The session goes on after a kernel's error. */
    assert_status(ts_rpc_call(session, module, "add_one", 0, NULL, 0, &err), err, TS_EDEVICE,
                  "not a tensor");
    ts_rpc_close(session);
}

static void test_segfault(void **state)
{
    (void)state;
    TsRpcModule module;
    TsRpcSession *session = session_with_module(&module);
    TsError err;
    assert_status(ts_rpc_call(session, module, "segfault", 0, NULL, 0, &err), err, TS_EDEVICE,
                  "kernel 'segfault' crashed with SIGSEGV");
    assert_non_null(strstr(err.message, "127.0.0.1"));
    double cost;
    assert_status(ts_rpc_time(session, module, "segfault", 0, NULL, NULL, 0, &cost, &err), err,
                  TS_EDEVICE, "crashed with SIGSEGV");
    /* The session lives on, and so does the server. */
    int64_t one = 1;
    TsRpcArray counter;
    assert_ok(ts_rpc_alloc_array(session, 1, &one, TS_INT64, &counter, &err), err);
    ts_rpc_close(session);
    rpt_check_serves(&server, NULL);
}

static void test_hang(void **state)
{
    (void)state;
    TsRpcModule module;
    TsRpcSession *session = session_with_module(&module);
    TsError err;
    assert_status(ts_rpc_call(session, module, "spin", 0, NULL, 1, &err), err, TS_ETIMEOUT,
                  "kernel 'spin' timed out after 1 s");
    ts_rpc_close(session);
    rpt_check_serves(&server, NULL);
}

static void test_constructor_crash(void **state)
{
    (void)state;
    TsRpcSession *session = rpt_connect(&server, NULL);
    TsError err;
    TsRpcModule module;
    assert_ok(ts_rpc_upload(session, RPC_CTOR_CRASH_MODULE, "ctor.so", &err), err);
    assert_status(ts_rpc_load_module(session, "ctor.so", &module, &err), err, TS_EDEVICE,
                  "loading module 'ctor.so' crashed with SIGSEGV");
    assert_status(ts_rpc_load_module(session, "absent.so", &module, &err), err, TS_EINVAL,
                  "no such file");
    ts_rpc_close(session);
    rpt_check_serves(&server, NULL);
}

static void test_file_names(void **state)
{
    (void)state;
    TsRpcSession *session = rpt_connect(&server, NULL);
    TsError err;
    const char *bad[] = { "../../x", "a/b", "..", ".", "" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        TsStatus st = ts_rpc_upload_bytes(session, "x", 1, bad[i], &err);
        assert_status(st, err, TS_EINVAL, bad[i][0] ? "is not a plain file name" : "empty");
    }
    char long_name[300];
    memset(long_name, 'n', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    assert_status(ts_rpc_upload_bytes(session, "x", 1, long_name, &err), err, TS_EINVAL,
                  "longer than");
    TsRpcModule module;
    assert_status(ts_rpc_load_module(session, "../../x", &module, &err), err, TS_EINVAL,
                  "not a plain file name");
    assert_status(ts_rpc_remove(session, "a/b", &err), err, TS_EINVAL, "not a plain file name");
    ts_rpc_close(session);
    rpt_check_serves(&server, NULL);
}

/* The validators the session runs on every name and shape a peer sends (server_check.c),
 * called directly. */
static void test_check_file_name(void **state)
{
    (void)state;
    TsError err;
    const char *good[] = { "kernel.so", "candidate-17.so", "...", "a b", "\xc3\xa9t\xc3\xa9.so" };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_ok(rpc_check_file_name(good[i], &err), err);
    assert_status(rpc_check_file_name(NULL, &err), err, TS_EINVAL, "empty");
    assert_status(rpc_check_file_name("", &err), err, TS_EINVAL, "empty");
    const char *escaping[] = { ".", "..", "/", "a/b", "../x", "/etc/passwd", "x/" };
    for (size_t i = 0; i < sizeof escaping / sizeof escaping[0]; i++)
        assert_status(rpc_check_file_name(escaping[i], &err), err, TS_EINVAL,
                      "is not a plain file name");
    assert_status(rpc_check_file_name("a\nb", &err), err, TS_EINVAL, "control character");
    assert_status(rpc_check_file_name("\x1f", &err), err, TS_EINVAL, "control character");
    char name[RPC_MAX_FILE_NAME + 2];
    memset(name, 'n', sizeof name - 1);
    name[RPC_MAX_FILE_NAME] = '\0';
    assert_ok(rpc_check_file_name(name, &err), err); /* exactly the limit */
    name[RPC_MAX_FILE_NAME] = 'n';
    name[RPC_MAX_FILE_NAME + 1] = '\0';
    assert_status(rpc_check_file_name(name, &err), err, TS_EINVAL, "longer than 128 bytes");
}

static TsStatus check_shape(uint32_t code, uint32_t bits, uint32_t lanes, size_t ndim,
                            const int64_t *shape, uint64_t *nbytes, TsError *err)
{
    Tessera__Rpc__DType dt = TESSERA__RPC__DTYPE__INIT;
    dt.code = code;
    dt.bits = bits;
    dt.lanes = lanes;
    Tessera__Rpc__AllocArray req = TESSERA__RPC__ALLOC_ARRAY__INIT;
    req.dtype = &dt;
    req.n_shape = ndim;
    req.shape = (int64_t *)shape;
    TsDType dtype;
    *nbytes = 0;
    return rpc_check_array_shape(&req, &dtype, nbytes, err);
}

static void test_check_array_shape(void **state)
{
    (void)state;
    TsError err;
    uint64_t nbytes;
    int64_t shape[RPC_MAX_DIMS + 1];
    for (int d = 0; d <= RPC_MAX_DIMS; d++)
        shape[d] = 2;
    int64_t s3[3] = { 4, 5, 6 };
    assert_ok(check_shape(TS_TYPE_FLOAT, 32, 1, 3, s3, &nbytes, &err), err);
    assert_int_equal(nbytes, 4 * 5 * 6 * 4);
    assert_ok(check_shape(TS_TYPE_FLOAT, 32, 1, 0, NULL, &nbytes, &err), err);
    assert_int_equal(nbytes, 4); /* a scalar */
    int64_t empty[2] = { 0, 1000 };
    assert_ok(check_shape(TS_TYPE_INT, 8, 1, 2, empty, &nbytes, &err), err);
    assert_int_equal(nbytes, 0);
    assert_ok(check_shape(TS_TYPE_FLOAT, 32, 1, RPC_MAX_DIMS, shape, &nbytes, &err), err);
    assert_int_equal(nbytes, (uint64_t)4 << RPC_MAX_DIMS);
    assert_status(check_shape(TS_TYPE_FLOAT, 32, 1, RPC_MAX_DIMS + 1, shape, &nbytes, &err), err,
                  TS_EINVAL, "17 dimensions, at most 16");
    int64_t negative[2] = { 3, -1 };
    assert_status(check_shape(TS_TYPE_FLOAT, 32, 1, 2, negative, &nbytes, &err), err, TS_EINVAL,
                  "dimension 1 has a negative extent -1");
    int64_t huge[2] = { INT64_MAX, 4 };
    assert_status(check_shape(TS_TYPE_FLOAT, 32, 1, 2, huge, &nbytes, &err), err, TS_EINVAL,
                  "overflows");
    assert_status(check_shape(TS_TYPE_FLOAT, 7, 1, 3, s3, &nbytes, &err), err, TS_EINVAL,
                  "dtype (2, 7, 1) is not a Tessera data type");
    assert_status(check_shape(1000, 32, 1, 3, s3, &nbytes, &err), err, TS_EINVAL,
                  "not a Tessera data type");
    assert_status(check_shape(TS_TYPE_FLOAT, 32, 70000, 3, s3, &nbytes, &err), err, TS_EINVAL,
                  "not a Tessera data type");
    Tessera__Rpc__AllocArray no_dtype = TESSERA__RPC__ALLOC_ARRAY__INIT;
    TsDType dtype;
    assert_status(rpc_check_array_shape(&no_dtype, &dtype, &nbytes, &err), err, TS_EINVAL,
                  "dtype (0, 0, 0)");
}

static void test_limits(void **state)
{
    (void)state;
    TsRpcSession *session = rpt_connect(&server, NULL);
    TsError err;
    size_t big = (size_t)5 << 20;
    char *bytes = calloc(big, 1);
    assert_non_null(bytes);
    assert_status(ts_rpc_upload_bytes(session, bytes, big, "big.bin", &err), err, TS_EINVAL,
                  "over the server's limit of 4194304 bytes");
    free(bytes);
    TsRpcArray array;
    int64_t huge[2] = { (int64_t)1 << 40, (int64_t)1 << 40 };
    assert_status(ts_rpc_alloc_array(session, 2, huge, TS_FLOAT32, &array, &err), err, TS_EINVAL,
                  "overflows");
    int64_t large = (int64_t)65 << 20;
    assert_status(ts_rpc_alloc_array(session, 1, &large, TS_UINT8, &array, &err), err,
                  TS_ENOMEM, "session's limit");
    int64_t negative = -3;
    assert_status(ts_rpc_alloc_array(session, 1, &negative, TS_UINT8, &array, &err), err,
                  TS_EINVAL, "negative extent");
    int64_t four = 4;
    assert_status(ts_rpc_alloc_array(session, 1, &four, ts_dtype(TS_TYPE_FLOAT, 7, 1), &array,
                                     &err),
                  err, TS_EINVAL, "not a Tessera data type");
    assert_ok(ts_rpc_alloc_array(session, 1, &four, TS_FLOAT32, &array, &err), err);
    float values[3] = { 0 };
    assert_status(ts_rpc_copy_to(session, array, values, sizeof values, &err), err, TS_EINVAL,
                  "12 bytes given, the array has 16");
    assert_status(ts_rpc_copy_from(session, 99, values, sizeof values, &err), err, TS_EINVAL,
                  "no array 99");
    ts_rpc_close(session);
}

/* Handshakes by hand and returns the connection. */
static void raw_session(RpcConn *conn)
{
    rpc_conn_init(conn, rpt_connect_raw(&server), "test", 10, 0);
    TsError err;
    assert_ok(rpc_handshake_connect(conn, NULL, "raw test", NULL, NULL, &err), err);
}

static void test_disconnect_mid_upload(void **state)
{
    (void)state;
    RpcConn conn;
    raw_session(&conn);
    static uint8_t chunk[1 << 20];
    Tessera__Rpc__Upload up = TESSERA__RPC__UPLOAD__INIT;
    up.name = "half.so";
    up.total_size = (uint64_t)3 << 20;
    up.data.data = chunk;
    up.data.len = sizeof chunk;
    Tessera__Rpc__Request req = TESSERA__RPC__REQUEST__INIT;
    req.id = 2;
    req.body_case = TESSERA__RPC__REQUEST__BODY_UPLOAD;
    req.upload = &up;
    TsError err;
    assert_ok(rpc_send(&conn, &req.base, &err), err);
    /* Half of the next chunk's frame, then gone. */
    uint8_t prefix[8] = { 0, 0, 0x10, 0 };
    assert_int_equal(send(conn.fd, prefix, sizeof prefix, 0), 8);
    assert_int_equal(send(conn.fd, chunk, 1000, 0), 1000);
    rpc_conn_close(&conn);
    assert_true(rpt_workdir_empty(&server));
    rpt_check_serves(&server, NULL);
}

static void test_old_version(void **state)
{
    (void)state;
    RpcConn conn;
    rpc_conn_init(&conn, rpt_connect_raw(&server), "test", 10, 0);
    ProtobufCMessage *msg;
    TsError err;
    assert_ok(rpc_recv(&conn, &tessera__rpc__welcome__descriptor, "welcome", &msg, &err), err);
    protobuf_c_message_free_unpacked(msg, NULL);
    Tessera__Rpc__Hello hello = TESSERA__RPC__HELLO__INIT;
    hello.protocol_version = 0;
    Tessera__Rpc__Request req = TESSERA__RPC__REQUEST__INIT;
    req.id = 1;
    req.body_case = TESSERA__RPC__REQUEST__BODY_HELLO;
    req.hello = &hello;
    assert_ok(rpc_send(&conn, &req.base, &err), err);
    assert_ok(rpc_recv(&conn, &tessera__rpc__reply__descriptor, "reply", &msg, &err), err);
    Tessera__Rpc__Reply *reply = (Tessera__Rpc__Reply *)msg;
    assert_int_equal(reply->status, TS_EPROTO);
    assert_non_null(strstr(reply->message, "protocol version mismatch"));
    assert_non_null(strstr(reply->message, "client 0"));
    protobuf_c_message_free_unpacked(msg, NULL);
    assert_true(rpt_wait_closed(conn.fd));
    rpc_conn_close(&conn);
    rpt_check_serves(&server, NULL);
}

static void test_garbage(void **state)
{
    (void)state;
    /* Random bytes straight after the welcome, and in the middle of a session. */
    for (int round = 0; round < 2; round++) {
        RpcConn conn;
        if (round == 0)
            rpc_conn_init(&conn, rpt_connect_raw(&server), "test", 10, 0);
        else
            raw_session(&conn);
        uint8_t noise[4096];
        uint64_t x = 0x9E3779B97F4A7C15ull + (uint64_t)round;
        for (size_t i = 0; i < sizeof noise; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            noise[i] = (uint8_t)x;
        }
        noise[1] &= 0x0f; /* a length under 4088, all of which is sent: the body is read */
        noise[2] = 0;     /* and rejected */
        noise[3] = noise[4] = noise[5] = noise[6] = noise[7] = 0;
        assert_int_equal(send(conn.fd, noise, sizeof noise, MSG_NOSIGNAL), sizeof noise);
        assert_true(rpt_wait_closed(conn.fd));
        rpc_conn_close(&conn);
    }
    rpt_check_serves(&server, NULL);
}

static void test_huge_length_prefix(void **state)
{
    (void)state;
    RpcConn conn;
    raw_session(&conn);
    uint8_t prefix[8] = { 0, 0, 0, 0, 1, 0, 0, 0 }; /* 4 GiB */
    assert_int_equal(send(conn.fd, prefix, sizeof prefix, 0), 8);
    assert_true(rpt_wait_closed(conn.fd));
    rpc_conn_close(&conn);
    rpt_check_serves(&server, NULL);
}

static void test_tracker_requests_refused(void **state)
{
    (void)state;
    RpcConn conn;
    raw_session(&conn);
    Tessera__Rpc__Register body = TESSERA__RPC__REGISTER__INIT;
    Tessera__Rpc__Request req = TESSERA__RPC__REQUEST__INIT;
    req.id = 7;
    req.body_case = TESSERA__RPC__REQUEST__BODY_REGISTER;
    req.register_ = &body;
    TsError err;
    assert_ok(rpc_send(&conn, &req.base, &err), err);
    ProtobufCMessage *msg;
    assert_ok(rpc_recv(&conn, &tessera__rpc__reply__descriptor, "reply", &msg, &err), err);
    Tessera__Rpc__Reply *reply = (Tessera__Rpc__Reply *)msg;
    assert_int_equal(reply->id, 7);
    assert_int_equal(reply->status, TS_EINVAL);
    assert_non_null(strstr(reply->message, "tracker"));
    protobuf_c_message_free_unpacked(msg, NULL);
    rpc_conn_close(&conn);
}

static void test_device_info(void **state)
{
    (void)state;
    TsRpcSession *session = rpt_connect(&server, NULL);
    TsRpcDeviceInfo info;
    TsError err;
    assert_ok(ts_rpc_device_info(session, &info, &err), err);
#if defined(__x86_64__)
    assert_string_equal(info.triple, "x86_64-linux-gnu");
    assert_non_null(strstr(info.features, "sse2"));
#elif defined(__aarch64__)
    assert_string_equal(info.triple, "aarch64-linux-gnu");
#endif
    assert_true(info.num_cores >= 1);
    assert_string_equal(info.device_key, "local");
    assert_true(info.cpu[0] != '\0');
    assert_non_null(strstr(ts_rpc_peer(session), "(local)"));
    ts_rpc_close(session);
}

static void test_tokens(void **state)
{
    (void)state;
    RptServer secured;
    TsRpcServerOptions o = ts_rpc_server_options_default();
    o.token = "s3cret";
    rpt_server_start(&secured, &o);
    TsRpcConnectOptions c = ts_rpc_connect_options_default();
    TsRpcSession *session = NULL;
    TsError err;
    c.token = "wrong";
    assert_status(ts_rpc_connect("127.0.0.1", secured.port, &c, &session, &err), err, TS_EINVAL,
                  "bad token");
    assert_null(session);
    c.token = NULL;
    assert_status(ts_rpc_connect("127.0.0.1", secured.port, &c, &session, &err), err, TS_EINVAL,
                  "requires a token");
    /* A client that skips the client-side check and sends no proof at all. */
    RpcConn conn;
    rpc_conn_init(&conn, rpt_connect_raw(&secured), "test", 10, 0);
    ProtobufCMessage *msg;
    assert_ok(rpc_recv(&conn, &tessera__rpc__welcome__descriptor, "welcome", &msg, &err), err);
    protobuf_c_message_free_unpacked(msg, NULL);
    Tessera__Rpc__Hello hello = TESSERA__RPC__HELLO__INIT;
    hello.protocol_version = TS_RPC_PROTOCOL_VERSION;
    Tessera__Rpc__Request req = TESSERA__RPC__REQUEST__INIT;
    req.body_case = TESSERA__RPC__REQUEST__BODY_HELLO;
    req.hello = &hello;
    assert_ok(rpc_send(&conn, &req.base, &err), err);
    assert_ok(rpc_recv(&conn, &tessera__rpc__reply__descriptor, "reply", &msg, &err), err);
    assert_int_equal(((Tessera__Rpc__Reply *)msg)->status, TS_EINVAL);
    assert_non_null(strstr(((Tessera__Rpc__Reply *)msg)->message, "token is required"));
    protobuf_c_message_free_unpacked(msg, NULL);
    rpc_conn_close(&conn);
    rpt_check_serves(&secured, "s3cret");
    rpt_server_stop(&secured);
}

static void test_refused_and_options(void **state)
{
    (void)state;
    /* A port nobody listens on: bind one, learn it, close it. */
    int fd, port;
    TsError err;
    assert_ok(rpc_listen("127.0.0.1", 0, &fd, &port, &err), err);
    close(fd);
    TsRpcSession *session = NULL;
    assert_status(ts_rpc_connect("127.0.0.1", port, NULL, &session, &err), err, TS_EIO,
                  "connection refused");
    TsRpcServerOptions o = ts_rpc_server_options_default();
    o.host = "0.0.0.0";
    assert_status(ts_rpc_server_run(&o, &err), err, TS_EINVAL, "refusing to listen on 0.0.0.0");
    o.host = "127.0.0.1";
    o.workdir = "/nonexistent/tessera";
    assert_status(ts_rpc_server_run(&o, &err), err, TS_EINVAL, "does not exist");
    char token[TS_RPC_MAX_TOKEN + 1];
    assert_status(ts_rpc_read_token("/nonexistent/token", token, &err), err, TS_EIO,
                  "/nonexistent/token");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole_session),
        cmocka_unit_test(test_time_counts_calls),
        cmocka_unit_test(test_unload_module),
        cmocka_unit_test(test_session_memory_flat),
        cmocka_unit_test(test_kernel_error),
        cmocka_unit_test(test_segfault),
        cmocka_unit_test(test_hang),
        cmocka_unit_test(test_constructor_crash),
        cmocka_unit_test(test_file_names),
        cmocka_unit_test(test_check_file_name),
        cmocka_unit_test(test_check_array_shape),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_disconnect_mid_upload),
        cmocka_unit_test(test_old_version),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_huge_length_prefix),
        cmocka_unit_test(test_tracker_requests_refused),
        cmocka_unit_test(test_device_info),
        cmocka_unit_test(test_tokens),
        cmocka_unit_test(test_refused_and_options),
    };
    return cmocka_run_group_tests(tests, start_server, stop_server);
}
