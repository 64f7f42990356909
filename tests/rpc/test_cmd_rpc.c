/* `tessera rpc-server` and `tessera rpc-info` as a user runs them: the test starts the
 * built command (its path is the argument) with --port 0, reads the port from the
 * "listening on" line, asks rpc-info about it, and checks the exit statuses and
 * messages: a closed port (exit 1, "refused"), usage errors (exit 2), a public address
 * without a token (exit 1). SIGTERM must stop the server with exit status 0. */
#include <setjmp.h>
#include <stdarg.h>
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
#include <unistd.h>

#include <cmocka.h>

extern char **environ;

static const char *tessera;

typedef struct Run {
    int status; /* exit status, or -1 when killed */
    char out[8192];
    char err[8192];
} Run;

/* Reads fd to the end into buf. */
static void slurp(int fd, char *buf, size_t size)
{
    size_t got = 0;
    ssize_t r;
    while ((r = read(fd, buf + got, size - 1 - got)) > 0 && got + (size_t)r < size - 1)
        got += (size_t)r;
    if (r > 0)
        got += (size_t)r;
    buf[got] = '\0';
}

/* Runs tessera with argv (NULL-terminated, without the program) and collects its
 * outputs (each through a temporary file, so neither pipe can fill up). */
static void run(Run *result, const char *const *args)
{
    char *argv[16] = { (char *)tessera };
    for (int i = 0; args[i]; i++)
        argv[i + 1] = (char *)args[i];
    char out_path[] = "/tmp/tessera-cmd-rpc-XXXXXX", err_path[] = "/tmp/tessera-cmd-rpc-XXXXXX";
    int out = mkstemp(out_path), err = mkstemp(err_path);
    assert_true(out >= 0 && err >= 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out, STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, err, STDERR_FILENO);
    pid_t pid;
    assert_int_equal(posix_spawn(&pid, tessera, &actions, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&actions);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    result->status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    lseek(out, 0, SEEK_SET);
    lseek(err, 0, SEEK_SET);
    slurp(out, result->out, sizeof result->out);
    slurp(err, result->err, sizeof result->err);
    close(out);
    close(err);
    unlink(out_path);
    unlink(err_path);
}

typedef struct Server {
    pid_t pid;
    int port;
} Server;

/* Starts `tessera rpc-server --port 0 ...` and reads its port from the first line. */
static void start_server(Server *server)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    char *argv[] = { (char *)tessera, "rpc-server", "--host", "127.0.0.1", "--port", "0",
                     "--key", "cmdtest", NULL };
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
    const char *prefix = "tessera rpc-server: listening on 127.0.0.1:";
    assert_non_null(strstr(line, prefix));
    server->port = atoi(strstr(line, prefix) + strlen(prefix));
    assert_true(server->port > 0);
    assert_non_null(strstr(line, "(key cmdtest)"));
}

static void stop_server(Server *server)
{
    assert_int_equal(kill(server->pid, SIGTERM), 0);
    int status;
    assert_int_equal(waitpid(server->pid, &status, 0), server->pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_rpc_info(void **state)
{
    (void)state;
    Server server;
    start_server(&server);
    char address[64];
    snprintf(address, sizeof address, "127.0.0.1:%d", server.port);
    Run r;
    run(&r, (const char *[]){ "rpc-info", address, "--timeout", "10", NULL });
    if (r.status != 0)
        fprintf(stderr, "rpc-info: %s", r.err);
    assert_int_equal(r.status, 0);
#if defined(__x86_64__)
    assert_non_null(strstr(r.out, "x86_64-linux-gnu"));
#elif defined(__aarch64__)
    assert_non_null(strstr(r.out, "aarch64-linux-gnu"));
#endif
    assert_non_null(strstr(r.out, "key       cmdtest"));
    assert_non_null(strstr(r.out, "protocol  1"));
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
    Run r;
    run(&r, (const char *[]){ "rpc-info", address, NULL });
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "tessera rpc-info: "));
    assert_non_null(strstr(r.err, "refused"));
    assert_non_null(strstr(r.err, address));
}

static void test_usage_errors(void **state)
{
    (void)state;
    Run r;
    run(&r, (const char *[]){ "rpc-info", NULL });
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "HOST:PORT"));
    run(&r, (const char *[]){ "rpc-info", "nohost", NULL });
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "'nohost' is not HOST:PORT"));
    run(&r, (const char *[]){ "rpc-server", "--port", "99999", NULL });
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "--port: '99999'"));
    run(&r, (const char *[]){ "rpc-server", "--frobnicate", "1", NULL });
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "unknown option '--frobnicate'"));
    run(&r, (const char *[]){ "rpc-server", "--host", "0.0.0.0", "--port", "0", NULL });
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "refusing to listen on 0.0.0.0 without a token"));
    run(&r, (const char *[]){ "rpc-server", "--token-file", "/nonexistent/token", NULL });
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "/nonexistent/token"));
    run(&r, (const char *[]){ "rpc-server", "--help", NULL });
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "--token-file"));
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s PATH-OF-TESSERA\n", argv[0]);
        return 2;
    }
    tessera = argv[1];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rpc_info),
        cmocka_unit_test(test_rpc_info_refused),
        cmocka_unit_test(test_usage_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
