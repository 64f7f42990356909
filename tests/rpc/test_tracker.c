/* The tracker on its own (rpc/tracker.c, rpc/tracker_pool.c), driven by hand-made device
 * servers and clients over RpcConn on loopback: registration and status counts, leases
 * with GRANTED/ENDED events to the server, priority then arrival order, wait_s running
 * out, a server that disconnects or stops its heartbeats (its client hears LOST), wrong
 * tokens, bad requests, and malformed, oversized or stalled peers that must not stop
 * it. Each test starts its own tracker on port 0 and stops it with SIGTERM, which must
 * return TS_OK. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "tracker_testing.h"

static TestTracker tracker;

static int setup_open(void **state)
{
    (void)state;
    return test_tracker_start(&tracker, NULL, 10.0) ? 0 : -1;
}

static int setup_token(void **state)
{
    (void)state;
    return test_tracker_start(&tracker, "sesame", 10.0) ? 0 : -1;
}

static int setup_fast_heartbeat(void **state)
{
    (void)state;
    return test_tracker_start(&tracker, NULL, 0.6) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return test_tracker_stop(&tracker) == 0 ? 0 : -1;
}

static void connect_ok(RpcConn *conn)
{
    TsError err;
    TsStatus st = test_connect(&tracker, NULL, conn, &err);
    if (st != TS_OK)
        fail_msg("%s", err.message);
}

/* Sends req with id and returns the reply to it (skipping unasked messages). */
static Tessera__Rpc__Reply *ask(RpcConn *conn, Tessera__Rpc__Request *req, uint64_t id)
{
    TsError err;
    req->id = id;
    assert_int_equal(rpc_send(conn, &req->base, &err), TS_OK);
    for (;;) {
        Tessera__Rpc__Reply *reply = test_recv(conn, 5.0, &err);
        if (!reply)
            fail_msg("%s", err.message);
        if (reply->id == id)
            return reply;
        test_free_reply(reply);
    }
}

/* A hand-made device server: connects and registers key at 127.0.0.1:port. */
static void fake_server(RpcConn *conn, const char *key, uint32_t port)
{
    connect_ok(conn);
    Tessera__Rpc__Register reg = TESSERA__RPC__REGISTER__INIT;
    reg.device_key = (char *)key;
    reg.host = "";
    reg.port = port;
    Tessera__Rpc__Request req = TESSERA__RPC__REQUEST__INIT;
    req.body_case = TESSERA__RPC__REQUEST__BODY_REGISTER;
    req.register_ = &reg;
    Tessera__Rpc__Reply *reply = ask(conn, &req, 2);
    assert_int_equal(reply->status, TS_OK);
    assert_int_equal(reply->body_case, TESSERA__RPC__REPLY__BODY_REGISTER);
    assert_true(strncmp(reply->register_->server_id, "server-", 7) == 0);
    test_free_reply(reply);
}

static void send_request_device(RpcConn *conn, uint64_t id, const char *key, int priority,
                                double wait_s)
{
    Tessera__Rpc__RequestDevice rd = TESSERA__RPC__REQUEST_DEVICE__INIT;
    rd.device_key = (char *)key;
    rd.priority = priority;
    rd.wait_s = wait_s;
    Tessera__Rpc__Request req = TESSERA__RPC__REQUEST__INIT;
    req.id = id;
    req.body_case = TESSERA__RPC__REQUEST__BODY_REQUEST_DEVICE;
    req.request_device = &rd;
    TsError err;
    assert_int_equal(rpc_send(conn, &req.base, &err), TS_OK);
}

/* Waits for the lease answering request id; copies its id (and port) out. */
static void expect_lease(RpcConn *conn, uint64_t id, char *lease_id, uint32_t *port)
{
    TsError err;
    Tessera__Rpc__Reply *reply = test_recv(conn, 5.0, &err);
    if (!reply)
        fail_msg("%s", err.message);
    assert_int_equal(reply->id, id);
    assert_int_equal(reply->status, TS_OK);
    assert_int_equal(reply->body_case, TESSERA__RPC__REPLY__BODY_LEASE);
    assert_string_equal(reply->lease->host, "127.0.0.1");
    assert_int_equal(strlen(reply->lease->lease_id), 32);
    snprintf(lease_id, 40, "%s", reply->lease->lease_id);
    if (port)
        *port = reply->lease->port;
    test_free_reply(reply);
}

static void release(RpcConn *conn, const char *lease_id, TsStatus expected)
{
    Tessera__Rpc__ReleaseDevice rel = TESSERA__RPC__RELEASE_DEVICE__INIT;
    rel.lease_id = (char *)lease_id;
    Tessera__Rpc__Request req = TESSERA__RPC__REQUEST__INIT;
    req.body_case = TESSERA__RPC__REQUEST__BODY_RELEASE_DEVICE;
    req.release_device = &rel;
    Tessera__Rpc__Reply *reply = ask(conn, &req, 77);
    assert_int_equal(reply->status, expected);
    test_free_reply(reply);
}

/* Expects an unasked LeaseEvent of kind for lease_id; returns its reason (static). */
static const char *expect_event(RpcConn *conn, Tessera__Rpc__LeaseEvent__Kind kind,
                                const char *lease_id, double timeout_s)
{
    static char reason[256];
    TsError err;
    Tessera__Rpc__Reply *reply = test_recv(conn, timeout_s, &err);
    if (!reply)
        fail_msg("no lease event: %s", err.message);
    assert_int_equal(reply->id, 0);
    assert_int_equal(reply->body_case, TESSERA__RPC__REPLY__BODY_LEASE_EVENT);
    assert_int_equal(reply->lease_event->kind, kind);
    assert_string_equal(reply->lease_event->lease_id, lease_id);
    snprintf(reason, sizeof reason, "%s", reply->lease_event->reason);
    test_free_reply(reply);
    return reason;
}

static bool nothing_to_read(RpcConn *conn, double seconds)
{
    return rpc_wait_readable(conn->fd, seconds) == 0;
}

/* The counts of key in the tracker's status (all -1 when the key is not listed). */
static TsTrackerKeyStatus status_of(const char *key, const char *token)
{
    TsTrackerKeyStatus keys[16], none = { "", -1, -1, -1 };
    int num = -1;
    TsError err;
    if (ts_tracker_status("127.0.0.1", tracker.port, token, 16, keys, &num, &err) != TS_OK)
        fail_msg("%s", err.message);
    for (int i = 0; i < num; i++)
        if (strcmp(keys[i].key, key) == 0)
            return keys[i];
    return none;
}

#define assert_counts(key, f, l, p)                                                            \
    do {                                                                                       \
        TsTrackerKeyStatus ks_ = status_of(key, NULL);                                         \
        assert_int_equal(ks_.free, f);                                                         \
        assert_int_equal(ks_.leased, l);                                                       \
        assert_int_equal(ks_.pending, p);                                                      \
    } while (0)

/* ---- tests ---- */

static void test_status_and_leases(void **state)
{
    (void)state;
    RpcConn a1, a2, b1, client, other;
    fake_server(&a1, "alpha", 1001);
    fake_server(&a2, "alpha", 1002);
    fake_server(&b1, "beta", 1003);
    assert_counts("alpha", 2, 0, 0);
    assert_counts("beta", 1, 0, 0);

    connect_ok(&client);
    char lease[40];
    uint32_t port;
    send_request_device(&client, 5, "alpha", 0, 0);
    expect_lease(&client, 5, lease, &port);
    assert_true(port == 1001 || port == 1002);
    RpcConn *leased = port == 1001 ? &a1 : &a2;
    expect_event(leased, TESSERA__RPC__LEASE_EVENT__KIND__GRANTED, lease, 5.0);
    assert_counts("alpha", 1, 1, 0);

    /* A key no server has: the request waits and shows as pending. */
    connect_ok(&other);
    send_request_device(&other, 9, "gamma", 0, 0);
    test_sleep(0.1);
    assert_counts("gamma", 0, 0, 1);

    /* Only the holder can release; then the server hears ENDED. */
    release(&other, lease, TS_EINVAL);
    release(&client, lease, TS_OK);
    assert_string_equal(expect_event(leased, TESSERA__RPC__LEASE_EVENT__KIND__ENDED, lease, 5.0),
                        "released by the client");
    assert_counts("alpha", 2, 0, 0);

    /* A server going away leaves the pool; a waiting client going away stops pending. */
    rpc_conn_close(&b1);
    rpc_conn_close(&other);
    test_sleep(0.2);
    assert_counts("beta", -1, -1, -1);
    assert_counts("gamma", -1, -1, -1);
    rpc_conn_close(&client);
    rpc_conn_close(&a1);
    rpc_conn_close(&a2);
}

/* A client disconnecting ends its lease, and the next waiting client gets the device. */
static void test_disconnect_frees_device(void **state)
{
    (void)state;
    RpcConn server, first, second;
    fake_server(&server, "solo", 2001);
    connect_ok(&first);
    connect_ok(&second);
    char lease1[40], lease2[40];
    send_request_device(&first, 3, "solo", 0, 0);
    expect_lease(&first, 3, lease1, NULL);
    send_request_device(&second, 4, "solo", 0, 0);
    assert_true(nothing_to_read(&second, 0.2)); /* exclusive: second waits */
    assert_counts("solo", 0, 1, 1);
    rpc_conn_close(&first);
    expect_lease(&second, 4, lease2, NULL);
    assert_string_not_equal(lease1, lease2);
    expect_event(&server, TESSERA__RPC__LEASE_EVENT__KIND__GRANTED, lease1, 5.0);
    assert_string_equal(expect_event(&server, TESSERA__RPC__LEASE_EVENT__KIND__ENDED, lease1, 5.0),
                        "the client disconnected");
    expect_event(&server, TESSERA__RPC__LEASE_EVENT__KIND__GRANTED, lease2, 5.0);
    rpc_conn_close(&second);
    rpc_conn_close(&server);
}

/* Waiting clients are served by priority, then in order of arrival. */
static void test_priority_order(void **state)
{
    (void)state;
    RpcConn server, holder, waiters[4];
    /* arrival order: low, high, high2 (same priority as high, later), mid */
    const int priority[4] = { 0, 5, 5, 2 };
    const int served_order[4] = { 1, 2, 3, 0 };
    fake_server(&server, "prio", 3001);
    connect_ok(&holder);
    char lease[40];
    send_request_device(&holder, 2, "prio", 0, 0);
    expect_lease(&holder, 2, lease, NULL);
    for (int i = 0; i < 4; i++) {
        connect_ok(&waiters[i]);
        send_request_device(&waiters[i], 10 + (uint64_t)i, "prio", priority[i], 0);
        /* the tracker has queued it before the next one arrives */
        for (double end = test_now() + 5; status_of("prio", NULL).pending != i + 1;)
            assert_true(test_now() < end);
    }
    release(&holder, lease, TS_OK);
    for (int k = 0; k < 4; k++) {
        int w = served_order[k];
        expect_lease(&waiters[w], 10 + (uint64_t)w, lease, NULL);
        for (int j = k + 1; j < 4; j++)
            assert_true(nothing_to_read(&waiters[served_order[j]], 0));
        assert_counts("prio", 0, 1, 3 - k);
        release(&waiters[w], lease, TS_OK);
    }
    for (int i = 0; i < 4; i++)
        rpc_conn_close(&waiters[i]);
    rpc_conn_close(&holder);
    rpc_conn_close(&server);
}

static void expect_timeout(RpcConn *conn, uint64_t id, const char *part1, const char *part2)
{
    TsError err;
    Tessera__Rpc__Reply *reply = test_recv(conn, 5.0, &err);
    if (!reply)
        fail_msg("%s", err.message);
    assert_int_equal(reply->id, id);
    assert_int_equal(reply->status, TS_ETIMEOUT);
    if (!strstr(reply->message, part1) || !strstr(reply->message, part2))
        fail_msg("unexpected message: %s", reply->message);
    test_free_reply(reply);
}

static void test_wait_timeout(void **state)
{
    (void)state;
    RpcConn server, holder, waiter;
    fake_server(&server, "busy", 4001);
    connect_ok(&holder);
    connect_ok(&waiter);
    char lease[40];
    send_request_device(&holder, 2, "busy", 0, 0);
    expect_lease(&holder, 2, lease, NULL);

    double start = test_now();
    send_request_device(&waiter, 3, "busy", 0, 0.3);
    expect_timeout(&waiter, 3, "no device of key 'busy' became free", "within 0.3 s");
    double took = test_now() - start;
    assert_true(took >= 0.29 && took < 2.0);
    assert_counts("busy", 0, 1, 0);

    send_request_device(&waiter, 4, "nosuchkey", 0, 0.2);
    expect_timeout(&waiter, 4, "key 'nosuchkey'", "no server is registered under that key");
    rpc_conn_close(&waiter);
    rpc_conn_close(&holder);
    rpc_conn_close(&server);
}

/* The server holding a lease disconnects: its client is told, with the reason. */
static void test_server_gone_while_leased(void **state)
{
    (void)state;
    RpcConn server, spare, client;
    fake_server(&server, "fragile", 5001);
    fake_server(&spare, "other", 5002);
    connect_ok(&client);
    char lease[40];
    send_request_device(&client, 2, "fragile", 0, 0);
    expect_lease(&client, 2, lease, NULL);
    assert_counts("fragile", 0, 1, 0);
    rpc_conn_close(&server);
    const char *reason =
        expect_event(&client, TESSERA__RPC__LEASE_EVENT__KIND__LOST, lease, 5.0);
    assert_non_null(strstr(reason, "server 127.0.0.1:5001 (key 'fragile') disconnected"));
    assert_counts("fragile", -1, -1, -1);
    assert_counts("other", 1, 0, 0);
    /* The lost lease cannot be released any more; the connection still works. */
    release(&client, lease, TS_EINVAL);
    rpc_conn_close(&client);
    rpc_conn_close(&spare);
}

static void heartbeat(RpcConn *conn)
{
    Tessera__Rpc__Heartbeat hb = TESSERA__RPC__HEARTBEAT__INIT;
    Tessera__Rpc__Request req = TESSERA__RPC__REQUEST__INIT;
    req.body_case = TESSERA__RPC__REQUEST__BODY_HEARTBEAT;
    req.heartbeat = &hb;
    Tessera__Rpc__Reply *reply = ask(conn, &req, 50);
    assert_int_equal(reply->status, TS_OK);
    test_free_reply(reply);
}

/* Heartbeat timeout 0.6 s: a silent server is dropped, a beating one stays. */
static void test_missed_heartbeats(void **state)
{
    (void)state;
    RpcConn silent, beating, client;
    fake_server(&silent, "quiet", 6001);
    fake_server(&beating, "alive", 6002);
    connect_ok(&client);
    char lease[40];
    send_request_device(&client, 2, "quiet", 0, 0);
    expect_lease(&client, 2, lease, NULL);
    for (int i = 0; i < 6; i++) {
        heartbeat(&beating);
        test_sleep(0.2);
    }
    const char *reason =
        expect_event(&client, TESSERA__RPC__LEASE_EVENT__KIND__LOST, lease, 0.1);
    assert_non_null(strstr(reason, "server 127.0.0.1:6001 (key 'quiet') missed heartbeats"));
    assert_counts("quiet", -1, -1, -1);
    assert_counts("alive", 1, 0, 0);
    assert_non_null(strstr(test_tracker_log_text(&tracker), "missed heartbeats for"));
    rpc_conn_close(&client);
    rpc_conn_close(&silent);
    rpc_conn_close(&beating);
}

static void test_token(void **state)
{
    (void)state;
    RpcConn conn;
    TsError err;
    assert_int_equal(test_connect(&tracker, "open sesame", &conn, &err), TS_EINVAL);
    assert_non_null(strstr(err.message, "refused: bad token"));
    assert_int_equal(test_connect(&tracker, NULL, &conn, &err), TS_EINVAL);
    assert_non_null(strstr(err.message, "requires a token"));

    TsTrackerKeyStatus keys[4];
    int num;
    assert_int_equal(ts_tracker_status("127.0.0.1", tracker.port, "wrong", 4, keys, &num, &err),
                     TS_EINVAL);
    assert_non_null(strstr(err.message, "bad token"));
    assert_int_equal(ts_tracker_status("127.0.0.1", tracker.port, "sesame", 4, keys, &num, &err),
                     TS_OK);
    assert_int_equal(num, 0);
    assert_int_equal(test_connect(&tracker, "sesame", &conn, &err), TS_OK);
    rpc_conn_close(&conn);
    assert_non_null(strstr(test_tracker_log_text(&tracker), "bad token (refused)"));
}

static void expect_refusal(RpcConn *conn, Tessera__Rpc__Request *req, const char *part)
{
    Tessera__Rpc__Reply *reply = ask(conn, req, 31);
    assert_int_equal(reply->status, TS_EINVAL);
    if (!strstr(reply->message, part))
        fail_msg("unexpected message: %s", reply->message);
    test_free_reply(reply);
}

/* Well-formed but wrong requests are answered with TS_EINVAL; the connection goes on. */
static void test_bad_requests(void **state)
{
    (void)state;
    RpcConn conn;
    connect_ok(&conn);
    Tessera__Rpc__Request req = TESSERA__RPC__REQUEST__INIT;
    Tessera__Rpc__Register reg = TESSERA__RPC__REGISTER__INIT;
    req.body_case = TESSERA__RPC__REQUEST__BODY_REGISTER;
    req.register_ = &reg;
    reg.port = 80;
    expect_refusal(&conn, &req, "device key '' must be 1 to 63 printable characters");
    reg.device_key = "tab\tkey";
    expect_refusal(&conn, &req, "must be 1 to 63 printable characters");
    reg.device_key = "k";
    reg.port = 70000;
    expect_refusal(&conn, &req, "not a host name and a port in [1, 65535]");

    Tessera__Rpc__Heartbeat hb = TESSERA__RPC__HEARTBEAT__INIT;
    req.body_case = TESSERA__RPC__REQUEST__BODY_HEARTBEAT;
    req.heartbeat = &hb;
    expect_refusal(&conn, &req, "a heartbeat before Register");

    Tessera__Rpc__RequestDevice rd = TESSERA__RPC__REQUEST_DEVICE__INIT;
    rd.device_key = "k";
    rd.wait_s = -1;
    req.body_case = TESSERA__RPC__REQUEST__BODY_REQUEST_DEVICE;
    req.request_device = &rd;
    expect_refusal(&conn, &req, "wait_s -1 for key 'k' must be in [0, 1e9] seconds");

    Tessera__Rpc__Upload upload = TESSERA__RPC__UPLOAD__INIT;
    req.body_case = TESSERA__RPC__REQUEST__BODY_UPLOAD;
    req.upload = &upload;
    expect_refusal(&conn, &req, "'upload' is not a tracker request");

    req.body_case = TESSERA__RPC__REQUEST__BODY_REGISTER;
    req.register_ = &reg; /* the oneof's members share storage */
    reg.port = 7001;
    Tessera__Rpc__Reply *reply = ask(&conn, &req, 32);
    if (reply->status != TS_OK)
        fail_msg("register failed: %s", reply->message);
    test_free_reply(reply);
    expect_refusal(&conn, &req, "this connection already registered server-");
    assert_counts("k", 1, 0, 0);
    rpc_conn_close(&conn);
}

static int raw_connect(void)
{
    int fd;
    TsError err;
    if (rpc_connect_tcp("127.0.0.1", tracker.port, 5.0, &fd, &err) != TS_OK)
        fail_msg("%s", err.message);
    return fd;
}

/* The tracker closes fd (reads end with EOF) within 5 s. */
static void expect_closed(int fd)
{
    char buf[256];
    for (double end = test_now() + 5;;) {
        assert_true(rpc_wait_readable(fd, end - test_now()) == 1);
        ssize_t got = recv(fd, buf, sizeof buf, 0);
        if (got <= 0)
            break;
    }
    close(fd);
}

static void send_bytes(int fd, const void *bytes, size_t n)
{
    assert_int_equal(send(fd, bytes, n, MSG_NOSIGNAL), (ssize_t)n);
}

static void drain(int fd)
{
    char buf[256];
    while (recv(fd, buf, sizeof buf, MSG_DONTWAIT) > 0)
        continue;
}

/* Garbage, a 4 GiB length prefix and a truncated stream end only their connection;
 * silent and half-sent peers do not hold the tracker up. */
static void test_malformed_peers(void **state)
{
    (void)state;
    RpcConn server;
    fake_server(&server, "sturdy", 8001);

    int stalled = raw_connect(); /* never says hello */
    int half = raw_connect();    /* three bytes of a prefix, then nothing */
    send_bytes(half, "\x05\x00\x00", 3);
    assert_counts("sturdy", 1, 0, 0); /* answered while both wait */

    int garbage = raw_connect();
    send_bytes(garbage, "\x04\x00\x00\x00\x00\x00\x00\x00\xff\xff\xff\xff", 12);
    expect_closed(garbage);

    int huge = raw_connect();
    send_bytes(huge, "\x00\x00\x00\x00\x01\x00\x00\x00", 8); /* 4 GiB */
    expect_closed(huge);

    /* A greeted peer sending garbage is closed too. */
    RpcConn greeted;
    connect_ok(&greeted);
    send_bytes(greeted.fd, "\x02\x00\x00\x00\x00\x00\x00\x00\x08\xff", 10);
    expect_closed(greeted.fd);

    const char *log = test_tracker_log_text(&tracker);
    assert_non_null(strstr(log, "is not a valid Request"));
    assert_non_null(strstr(log, "announced a 4294967296-byte message, over the tracker's limit"));
    assert_counts("sturdy", 1, 0, 0);
    drain(stalled); /* the unread Welcome: a close would reset the connection */
    drain(half);
    close(stalled);
    close(half);
    test_sleep(0.1);
    if (!strstr(test_tracker_log_text(&tracker), "connection closed in the middle"))
        fail_msg("log: %s", test_tracker_log_text(&tracker));
    rpc_conn_close(&server);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_status_and_leases, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_disconnect_frees_device, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_priority_order, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_wait_timeout, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_server_gone_while_leased, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_missed_heartbeats, setup_fast_heartbeat, teardown),
        cmocka_unit_test_setup_teardown(test_token, setup_token, teardown),
        cmocka_unit_test_setup_teardown(test_bad_requests, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_peers, setup_open, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
