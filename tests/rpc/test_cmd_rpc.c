/* `tessera rpc-server` and `tessera rpc-info` as a user runs them: the test starts the
 * built command (its path is the argument) with --port 0, reads the port from the
 * "listening on" line, asks rpc-info about it, and checks the exit statuses and
 * messages: a closed port (exit 1, "refused"), usage errors (exit 2), a public address
 * without a token (exit 1). SIGTERM must stop the server with exit status 0. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmd_testing.h"

extern char **environ;

static const char *tessera;

typedef struct Server {
    pid_t pid;
    int port;
} Server;

/* Starts `tessera SUBCOMMAND --host 127.0.0.1 --port 0 [more]` and reads its port from
 * its first line, "tessera SUBCOMMAND: listening on 127.0.0.1:PORT ...". */
static void start_listener(Server *server, const char *subcommand, const char *more_name,
                           const char *more_value)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    char *argv[] = { (char *)tessera, (char *)subcommand, "--host", "127.0.0.1", "--port", "0",
                     (char *)more_name, (char *)more_value, NULL };
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    assert_int_equal(posix_spawn(&server->pid, tessera, &actions, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    char line[256] = { 0 };
    size_t got = 0;
    while (got < sizeof line - 1 && !strchr(line, '\n')) {
        struct pollfd p = { .fd = fds[0], .events = POLLIN };
        assert_int_equal(poll(&p, 1, 10000), 1);
        ssize_t r = read(fds[0], line + got, sizeof line - 1 - got);
        assert_true(r > 0);
        got += (size_t)r;
    }
    close(fds[0]);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "tessera %s: listening on 127.0.0.1:", subcommand);
    assert_non_null(strstr(line, prefix));
    server->port = atoi(strstr(line, prefix) + strlen(prefix));
    assert_true(server->port > 0);
}

static void start_server(Server *server)
{
    start_listener(server, "rpc-server", "--key", "cmdtest");
}

static void stop_server(Server *server)
{
    assert_int_equal(kill(server->pid, SIGTERM), 0);
    int status;
    assert_int_equal(waitpid(server->pid, &status, 0), server->pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* `tessera tracker` and `tessera tracker status`: a device server registers with the
 * tracker by --tracker, and the status table shows its key free; usage errors. */
static void test_tracker_command(void **state)
{
    (void)state;
    Server tracker, server;
    start_listener(&tracker, "tracker", NULL, NULL);
    char address[64];
    snprintf(address, sizeof address, "127.0.0.1:%d", tracker.port);
    start_listener(&server, "rpc-server", "--tracker", address);
    const CmdRun *r = NULL;
    for (int tries = 0; tries < 100; tries++) { /* registration is asynchronous */
        r = cmd_run("tracker", "status", "--tracker", address);
        if (r->status == 0 && strstr(r->out, "local"))
            break;
        nanosleep(&(struct timespec){ .tv_nsec = 50 * 1000 * 1000 }, NULL);
    }
    assert_int_equal(r->status, 0);
    assert_non_null(strstr(r->out, "key"));
    assert_non_null(strstr(r->out, "free"));
    assert_non_null(strstr(r->out, "local")); /* the server's default key */
    stop_server(&server);
    stop_server(&tracker);
    r = cmd_run("tracker", "status", "--tracker", address);
    assert_int_equal(r->status, 1);
    assert_non_null(strstr(r->err, "refused"));
    r = cmd_run("tracker", "status");
    assert_int_equal(r->status, 2);
    r = cmd_run("tracker", "--port", "99999");
    assert_int_equal(r->status, 2);
}

/* `tessera run KERNEL.so --rpc HOST:PORT`: a kernel exported by `tessera build` runs and
 * is timed on the device server; a closed port is an error naming it. */
static void test_run_on_device(void **state)
{
    (void)state;
    char dir[] = "/tmp/tessera-cmd-run-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char so[64], log[64];
    snprintf(so, sizeof so, "%s/dense.so", dir);
    snprintf(log, sizeof log, "%s/none.log", dir);
    const CmdRun *r = cmd_run("build", "dense", "M=16", "N=16", "K=16", "-o", so);
    if (r->status != 0)
        fprintf(stderr, "build: %s", r->err);
    assert_int_equal(r->status, 0);
    Server server;
    start_server(&server);
    char address[64];
    snprintf(address, sizeof address, "127.0.0.1:%d", server.port);
    /* The runs' results are checked once the server is stopped, so that a failed check
     * leaves no server behind. */
    r = cmd_run("run", so, "--rpc", address, "--repeat", "2", "--min-repeat-ms", "1");
    if (r->status != 0)
        fprintf(stderr, "run: %s", r->err);
    char on_device[96];
    snprintf(on_device, sizeof on_device, "dense.so on 127.0.0.1:%d (cmdtest): dense_pack(",
             server.port);
    bool ran = r->status == 0 && strstr(r->out, on_device) &&
               strstr(r->out, "(data:float32[16,16];weight:float32[16,16];") &&
               strstr(r->out, "median");
    r = cmd_run("run", so, "--rpc", address, "--func", "nosuch");
    bool refused_func = r->status == 1 && strstr(r->err, "no function 'nosuch'");
    stop_server(&server);
    assert_true(ran);
    assert_true(refused_func);
    r = cmd_run("run", so, "--rpc", address);
    assert_int_equal(r->status, 1);
    assert_non_null(strstr(r->err, "refused"));
    r = cmd_run("run", so, "--token-file", "t");
    assert_int_equal(r->status, 2);
    unlink(so);
    rmdir(dir);
}

static void test_rpc_info(void **state)
{
    (void)state;
    Server server;
    start_server(&server);
    char address[64];
    snprintf(address, sizeof address, "127.0.0.1:%d", server.port);
    const CmdRun *r = cmd_run("rpc-info", address, "--timeout", "10");
    if (r->status != 0)
        fprintf(stderr, "rpc-info: %s", r->err);
    assert_int_equal(r->status, 0);
#if defined(__x86_64__)
    assert_non_null(strstr(r->out, "x86_64-linux-gnu"));
#elif defined(__aarch64__)
    assert_non_null(strstr(r->out, "aarch64-linux-gnu"));
#endif
    assert_non_null(strstr(r->out, "key       cmdtest"));
    assert_non_null(strstr(r->out, "protocol  2"));
    stop_server(&server);
}

static void test_rpc_info_refused(void **state)
{
    (void)state;
    /* A port nobody listens on: bind one, learn it, close it. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof addr;
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
    close(fd);
    char address[64];
    snprintf(address, sizeof address, "127.0.0.1:%d", ntohs(addr.sin_port));
    const CmdRun *r = cmd_run("rpc-info", address);
    assert_int_equal(r->status, 1);
    assert_non_null(strstr(r->err, "tessera rpc-info: "));
    assert_non_null(strstr(r->err, "refused"));
    assert_non_null(strstr(r->err, address));
}

static void test_usage_errors(void **state)
{
    (void)state;
    const CmdRun *r = cmd_run("rpc-info");
    assert_int_equal(r->status, 2);
    assert_non_null(strstr(r->err, "HOST:PORT"));
    r = cmd_run("rpc-info", "nohost");
    assert_int_equal(r->status, 2);
    assert_non_null(strstr(r->err, "'nohost' is not HOST:PORT"));
    r = cmd_run("rpc-server", "--port", "99999");
    assert_int_equal(r->status, 2);
    assert_non_null(strstr(r->err, "--port: '99999'"));
    r = cmd_run("rpc-server", "--frobnicate", "1");
    assert_int_equal(r->status, 2);
    assert_non_null(strstr(r->err, "unknown option '--frobnicate'"));
    r = cmd_run("rpc-server", "--host", "0.0.0.0", "--port", "0");
    assert_int_equal(r->status, 1);
    assert_non_null(strstr(r->err, "refusing to listen on 0.0.0.0 without a token"));
    r = cmd_run("rpc-server", "--token-file", "/nonexistent/token");
    assert_int_equal(r->status, 1);
    assert_non_null(strstr(r->err, "/nonexistent/token"));
    r = cmd_run("rpc-server", "--help");
    assert_int_equal(r->status, 0);
    assert_non_null(strstr(r->out, "--token-file"));
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s PATH-OF-TESSERA\n", argv[0]);
        return 2;
    }
    tessera = argv[1];
    cmd_testing_init(tessera);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rpc_info),
        cmocka_unit_test(test_tracker_command),
        cmocka_unit_test(test_run_on_device),
        cmocka_unit_test(test_rpc_info_refused),
        cmocka_unit_test(test_usage_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
