/* The tracker with real device servers (ts_rpc_server_run in child processes, registered
 * through rpc/tracker_link.c) and real clients (ts_rpc_connect_tracker): two servers and
 * three competing clients, each device leased to one client at a time and every client
 * served; a server killed with SIGKILL while leased (the tracker drops it, the client's
 * next call fails with TS_EDEVICE "device lost", the key's counts drop); a wait that
 * runs out; a tracker killed and started again on its port (its servers register
 * again, and a client gets a lease); wrong tokens, at the tracker, from a client and
 * from a server. */
#include <pthread.h>
#include <sys/prctl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tracker_testing.h"

typedef struct TestServer {
    pid_t pid;
    int port;
} TestServer;

static TestTracker tracker;
/* Servers still running, stopped by teardown when a test fails half way. */
static TestServer *live_servers[4];

static void server_listening(int port, void *user)
{
    int fd = *(int *)user;
    ssize_t w = write(fd, &port, sizeof port);
    (void)w;
    close(fd);
}

static void quiet_log(const char *line, void *user)
{
    (void)line;
    (void)user;
}

/* Forks a device server registered under key with the tracker; port 0. */
static bool server_start(TestServer *srv, const char *key, const char *token)
{
    int fds[2];
    if (pipe(fds) != 0)
        return false;
    fflush(NULL);
    srv->pid = fork();
    if (srv->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* a failed test leaves nothing behind */
        close(fds[0]);
        TsRpcServerOptions o = ts_rpc_server_options_default();
        o.port = 0;
        o.key = key;
        o.token = token;
        o.tracker_host = "127.0.0.1";
        o.tracker_port = tracker.port;
        o.on_listening = server_listening;
        o.user = &fds[1];
        o.log = quiet_log;
        TsError err;
        TsStatus st = ts_rpc_server_run(&o, &err);
        if (st != TS_OK)
            fprintf(stderr, "server: %s\n", err.message);
        _exit(st == TS_OK ? 0 : 10 + (int)st);
    }
    close(fds[1]);
    for (int i = 0; i < 4; i++)
        if (!live_servers[i]) {
            live_servers[i] = srv;
            break;
        }
    srv->port = 0;
    bool ok = srv->pid > 0 && rpc_wait_readable(fds[0], 10.0) == 1 &&
              read(fds[0], &srv->port, sizeof srv->port) == (ssize_t)sizeof srv->port;
    close(fds[0]);
    return ok;
}

static void server_stop(TestServer *srv)
{
    if (srv->pid > 0) {
        kill(srv->pid, SIGTERM);
        waitpid(srv->pid, NULL, 0);
    }
    srv->pid = 0;
    for (int i = 0; i < 4; i++)
        if (live_servers[i] == srv)
            live_servers[i] = NULL;
}

static TsTrackerKeyStatus status_of(const char *key)
{
    TsTrackerKeyStatus keys[16], none = { "", 0, 0, 0 };
    int num = 0;
    TsError err;
    if (ts_tracker_status("127.0.0.1", tracker.port, NULL, 16, keys, &num, &err) != TS_OK)
        fail_msg("%s", err.message);
    for (int i = 0; i < num; i++)
        if (strcmp(keys[i].key, key) == 0)
            return keys[i];
    return none;
}

/* Waits up to 10 s for key's free and leased counts. */
static void wait_counts(const char *key, int free_count, int leased)
{
    TsTrackerKeyStatus ks;
    for (double end = test_now() + 10;; test_sleep(0.02)) {
        ks = status_of(key);
        if (ks.free == free_count && ks.leased == leased)
            return;
        if (test_now() > end)
            fail_msg("key %s: free %d leased %d, expected %d and %d", key, ks.free, ks.leased,
                     free_count, leased);
    }
}

static int setup(void **state)
{
    (void)state;
    return test_tracker_start(&tracker, NULL, 10.0) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    for (int i = 0; i < 4; i++)
        if (live_servers[i])
            server_stop(live_servers[i]);
    return test_tracker_stop(&tracker) == 0 ? 0 : -1;
}

/* ---- two servers, three competing clients ---- */

enum { NUM_CLIENTS = 3, ROUNDS = 4, MAX_INTERVALS = NUM_CLIENTS * ROUNDS };

typedef struct Interval {
    char device[160];
    double start, end;
    int client;
} Interval;

typedef struct Competition {
    pthread_mutex_t lock;
    Interval intervals[MAX_INTERVALS];
    int num;
    char failure[TS_ERROR_MESSAGE_MAX];
} Competition;

typedef struct Client {
    Competition *comp;
    int index;
} Client;

static void record_failure(Competition *comp, const char *message)
{
    pthread_mutex_lock(&comp->lock);
    if (!comp->failure[0])
        snprintf(comp->failure, sizeof comp->failure, "%s", message);
    pthread_mutex_unlock(&comp->lock);
}

/* One round: lease, use the device for a while, give it back. The interval recorded lies
 * inside the lease (after the lease came, before it is released). */
static bool one_round(Client *c)
{
    TsRpcSession *s;
    TsError err;
    if (ts_rpc_connect_tracker("127.0.0.1", tracker.port, "pool", 0, 30, NULL, &s, &err) != TS_OK) {
        record_failure(c->comp, err.message);
        return false;
    }
    Interval iv = { .start = test_now(), .client = c->index };
    snprintf(iv.device, sizeof iv.device, "%s", ts_rpc_peer(s));
    TsRpcDeviceInfo info;
    bool ok = ts_rpc_device_info(s, &info, &err) == TS_OK;
    test_sleep(0.03);
    ok = ok && ts_rpc_device_info(s, &info, &err) == TS_OK;
    iv.end = test_now();
    if (ok && strcmp(info.device_key, "pool") != 0) {
        snprintf(err.message, sizeof err.message, "device key %s, not pool", info.device_key);
        ok = false;
    }
    ts_rpc_close(s);
    if (!ok) {
        record_failure(c->comp, err.message);
        return false;
    }
    pthread_mutex_lock(&c->comp->lock);
    c->comp->intervals[c->comp->num++] = iv;
    pthread_mutex_unlock(&c->comp->lock);
    return true;
}

static void *client_main(void *arg)
{
    Client *c = arg;
    for (int r = 0; r < ROUNDS && one_round(c); r++)
        continue;
    return NULL;
}

static int compare_start(const void *a, const void *b)
{
    const Interval *x = a, *y = b;
    int by_device = strcmp(x->device, y->device);
    if (by_device)
        return by_device;
    return x->start < y->start ? -1 : x->start > y->start;
}

static void test_two_servers_three_clients(void **state)
{
    (void)state;
    static TestServer servers[2]; /* static: teardown may stop them */
    assert_true(server_start(&servers[0], "pool", NULL));
    assert_true(server_start(&servers[1], "pool", NULL));
    wait_counts("pool", 2, 0);

    static Competition comp;
    memset(&comp, 0, sizeof comp);
    pthread_mutex_init(&comp.lock, NULL);
    Client clients[NUM_CLIENTS];
    pthread_t threads[NUM_CLIENTS];
    for (int i = 0; i < NUM_CLIENTS; i++) {
        clients[i] = (Client){ &comp, i };
        assert_int_equal(pthread_create(&threads[i], NULL, client_main, &clients[i]), 0);
    }
    for (int i = 0; i < NUM_CLIENTS; i++)
        pthread_join(threads[i], NULL);
    if (comp.failure[0])
        fail_msg("a client failed: %s", comp.failure);

    /* Every client was served every round, on both devices, never two at once. */
    assert_int_equal(comp.num, MAX_INTERVALS);
    int per_client[NUM_CLIENTS] = { 0 };
    for (int i = 0; i < comp.num; i++)
        per_client[comp.intervals[i].client]++;
    for (int i = 0; i < NUM_CLIENTS; i++)
        assert_int_equal(per_client[i], ROUNDS);
    qsort(comp.intervals, (size_t)comp.num, sizeof *comp.intervals, compare_start);
    int devices = 1;
    for (int i = 1; i < comp.num; i++) {
        const Interval *prev = &comp.intervals[i - 1], *cur = &comp.intervals[i];
        if (strcmp(prev->device, cur->device) != 0) {
            devices++;
            continue;
        }
        if (cur->start < prev->end)
            fail_msg("%s leased twice at once: clients %d and %d", cur->device, prev->client,
                     cur->client);
    }
    assert_int_equal(devices, 2);
    wait_counts("pool", 2, 0);
    server_stop(&servers[0]);
    server_stop(&servers[1]);
    pthread_mutex_destroy(&comp.lock);
}

/* ---- a server killed while leased ---- */

static void test_server_killed_while_leased(void **state)
{
    (void)state;
    static TestServer servers[2]; /* static: teardown may stop them */
    assert_true(server_start(&servers[0], "doomed", NULL));
    assert_true(server_start(&servers[1], "doomed", NULL));
    wait_counts("doomed", 2, 0);
    TsRpcSession *s;
    TsError err;
    assert_int_equal(ts_rpc_connect_tracker("127.0.0.1", tracker.port, "doomed", 0, 10, NULL,
                                            &s, &err), TS_OK);
    TsRpcDeviceInfo info;
    assert_int_equal(ts_rpc_device_info(s, &info, &err), TS_OK);
    wait_counts("doomed", 1, 1);

    char port_text[16];
    snprintf(port_text, sizeof port_text, ":%d ", servers[1].port);
    TestServer *victim = strstr(ts_rpc_peer(s), port_text) ? &servers[1] : &servers[0];
    kill(victim->pid, SIGKILL);
    waitpid(victim->pid, NULL, 0);
    victim->pid = 0;
    wait_counts("doomed", 1, 0); /* dropped at once, not after the heartbeat timeout */

    if (ts_rpc_device_info(s, &info, &err) != TS_EDEVICE)
        fail_msg("expected TS_EDEVICE: %s\ntracker log:\n%s", err.message,
                 test_tracker_log_text(&tracker));
    if (!strstr(err.message, "device lost") || !strstr(err.message, "(key 'doomed') disconnected"))
        fail_msg("unexpected message: %s", err.message);
    /* and it stays lost */
    assert_int_equal(ts_rpc_device_info(s, &info, &err), TS_EDEVICE);
    assert_non_null(strstr(err.message, "device lost"));
    ts_rpc_close(s);

    /* The surviving server is leased next. */
    assert_int_equal(ts_rpc_connect_tracker("127.0.0.1", tracker.port, "doomed", 0, 10, NULL,
                                            &s, &err), TS_OK);
    assert_int_equal(ts_rpc_device_info(s, &info, &err), TS_OK);
    ts_rpc_close(s);
    server_stop(&servers[0]);
    server_stop(&servers[1]);
}

static void test_wait_runs_out(void **state)
{
    (void)state;
    TsRpcSession *s = (TsRpcSession *)&s;
    TsError err;
    double start = test_now();
    assert_int_equal(ts_rpc_connect_tracker("127.0.0.1", tracker.port, "absent", 3, 0.3, NULL,
                                            &s, &err), TS_ETIMEOUT);
    assert_null(s);
    assert_true(test_now() - start < 3.0);
    char expected[128];
    snprintf(expected, sizeof expected,
             "tracker 127.0.0.1:%d: no device of key 'absent' became free within 0.3 s",
             tracker.port);
    if (!strstr(err.message, expected))
        fail_msg("unexpected message: %s", err.message);
    assert_int_equal(ts_rpc_connect_tracker("127.0.0.1", tracker.port, "", 0, 0.3, NULL, &s,
                                            &err), TS_EINVAL);
    assert_non_null(strstr(err.message, "device key '' must be 1 to 63 characters"));
}

/* The tracker dies (SIGKILL, so it says goodbye to no one) and a new one starts on the
 * same port: the device servers register with it again by themselves, and a client
 * leases one of them. */
static void test_tracker_restart(void **state)
{
    (void)state;
    static TestServer servers[2];
    assert_true(server_start(&servers[0], "phoenix", NULL));
    assert_true(server_start(&servers[1], "phoenix", NULL));
    wait_counts("phoenix", 2, 0);

    int port = tracker.port;
    kill(tracker.pid, SIGKILL);
    waitpid(tracker.pid, NULL, 0);
    unlink(tracker.log_path);
    tracker.pid = 0;
    TsRpcSession *s = (TsRpcSession *)&s;
    TsError err;
    assert_int_not_equal(ts_rpc_connect_tracker("127.0.0.1", port, "phoenix", 0, 1, NULL, &s, &err),
                         TS_OK);
    assert_null(s);

    assert_true(test_tracker_start_on(&tracker, NULL, 10.0, port));
    assert_int_equal(tracker.port, port);
    wait_counts("phoenix", 2, 0); /* both registered again */
    const char *log = test_tracker_log_text(&tracker);
    for (int i = 0; i < 2; i++) {
        char registered[96];
        snprintf(registered, sizeof registered,
                 "server 127.0.0.1:%d registered under key "
                 "'phoenix'",
                 servers[i].port);
        if (!strstr(log, registered))
            fail_msg("no '%s' in the new tracker's log:\n%s", registered, log);
    }

    assert_int_equal(ts_rpc_connect_tracker("127.0.0.1", port, "phoenix", 0, 10, NULL, &s, &err),
                     TS_OK);
    TsRpcDeviceInfo info;
    assert_int_equal(ts_rpc_device_info(s, &info, &err), TS_OK);
    assert_string_equal(info.device_key, "phoenix");
    wait_counts("phoenix", 1, 1);
    ts_rpc_close(s);
    wait_counts("phoenix", 2, 0);
    server_stop(&servers[0]);
    server_stop(&servers[1]);
}

/* ---- tokens ---- */

static int setup_token(void **state)
{
    (void)state;
    return test_tracker_start(&tracker, "sesame", 10.0) ? 0 : -1;
}

static void test_wrong_token(void **state)
{
    (void)state;
    TsRpcConnectOptions o = ts_rpc_connect_options_default();
    o.token = "open sesame";
    TsRpcSession *s;
    TsError err;
    assert_int_equal(ts_rpc_connect_tracker("127.0.0.1", tracker.port, "k", 0, 1, &o, &s, &err),
                     TS_EINVAL);
    char expected[96];
    snprintf(expected, sizeof expected, "tracker 127.0.0.1:%d: refused: bad token", tracker.port);
    if (!strstr(err.message, expected))
        fail_msg("unexpected message: %s", err.message);
    assert_int_equal(ts_rpc_connect_tracker("127.0.0.1", tracker.port, "k", 0, 1, NULL, &s, &err),
                     TS_EINVAL);
    assert_non_null(strstr(err.message, "requires a token and none was given"));

    /* A server with the wrong token is refused by the tracker and does not start. */
    static TestServer srv;
    server_start(&srv, "k", "wrong"); /* it may listen before it registers */
    int status;
    assert_int_equal(waitpid(srv.pid, &status, 0), srv.pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 10 + TS_EINVAL);
    /* With the right one it registers, and a client with the token gets it. */
    assert_true(server_start(&srv, "k", "sesame"));
    o.token = "sesame";
    for (double end = test_now() + 10;; test_sleep(0.02)) {
        TsTrackerKeyStatus keys[4];
        int num = 0;
        assert_int_equal(ts_tracker_status("127.0.0.1", tracker.port, "sesame", 4, keys, &num,
                                           &err), TS_OK);
        if (num == 1 && keys[0].free == 1)
            break;
        assert_true(test_now() < end);
    }
    assert_int_equal(ts_rpc_connect_tracker("127.0.0.1", tracker.port, "k", 0, 5, &o, &s, &err),
                     TS_OK);
    TsRpcDeviceInfo info;
    assert_int_equal(ts_rpc_device_info(s, &info, &err), TS_OK);
    assert_string_equal(info.device_key, "k");
    ts_rpc_close(s);
    server_stop(&srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_two_servers_three_clients, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_killed_while_leased, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wait_runs_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tracker_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_token, setup_token, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
