/* The RPC tests' helpers (rpc_testing.h): servers in forked children on loopback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "rpc_testing.h"

static void send_port(int port, void *user)
{
    int fd = *(int *)user;
    ssize_t w = write(fd, &port, sizeof port);
    (void)w;
    close(fd);
}

void rpt_server_start(RptServer *server, const TsRpcServerOptions *options)
{
    snprintf(server->workdir, sizeof server->workdir, "/tmp/tessera-rpc-test-XXXXXX");
    assert_non_null(mkdtemp(server->workdir));
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        TsRpcServerOptions o = options ? *options : ts_rpc_server_options_default();
        o.host = "127.0.0.1";
        o.port = 0;
        o.workdir = server->workdir;
        o.on_listening = send_port;
        o.user = &fds[1];
        TsError err;
        TsStatus st = ts_rpc_server_run(&o, &err);
        if (st != TS_OK)
            fprintf(stderr, "test server: %s\n", err.message);
        _exit(st == TS_OK ? 0 : 1);
    }
    close(fds[1]);
    server->pid = pid;
    server->port = 0;
    struct pollfd p = { .fd = fds[0], .events = POLLIN };
    assert_int_equal(poll(&p, 1, 10000), 1);
    assert_int_equal(read(fds[0], &server->port, sizeof server->port), sizeof server->port);
    close(fds[0]);
    assert_true(server->port > 0);
}

static void remove_workdir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    char path[512];
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
    closedir(d);
    rmdir(dir);
}

void rpt_server_stop(RptServer *server)
{
    assert_int_equal(kill(server->pid, SIGTERM), 0);
    int status;
    assert_int_equal(waitpid(server->pid, &status, 0), server->pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fprintf(stderr, "the server ended with wait status %#x\n", (unsigned)status);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    remove_workdir(server->workdir);
}

bool rpt_workdir_empty(const RptServer *server)
{
    for (int attempt = 0; attempt < 1000; attempt++) {
        DIR *d = opendir(server->workdir);
        assert_non_null(d);
        int entries = 0;
        struct dirent *e;
        while ((e = readdir(d)))
            if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
                entries++;
        closedir(d);
        if (entries == 0)
            return true;
        poll(NULL, 0, 10);
    }
    return false;
}

TsRpcSession *rpt_connect(const RptServer *server, const char *token)
{
    TsRpcConnectOptions options = ts_rpc_connect_options_default();
    options.token = token;
    options.timeout_s = 30;
    TsRpcSession *session = NULL;
    TsError err;
    assert_ok(ts_rpc_connect("127.0.0.1", server->port, &options, &session, &err), err);
    return session;
}

void rpt_check_serves(const RptServer *server, const char *token)
{
    TsRpcSession *session = rpt_connect(server, token);
    TsRpcDeviceInfo info;
    TsError err;
    assert_ok(ts_rpc_device_info(session, &info, &err), err);
    assert_int_equal(info.protocol_version, TS_RPC_PROTOCOL_VERSION);
    TsRpcArray array;
    int64_t n = 5;
    assert_ok(ts_rpc_alloc_array(session, 1, &n, TS_INT32, &array, &err), err);
    int32_t in[5] = { 1, -2, 3, -4, 5 }, out[5] = { 0 };
    assert_ok(ts_rpc_copy_to(session, array, in, sizeof in, &err), err);
    assert_ok(ts_rpc_copy_from(session, array, out, sizeof out, &err), err);
    assert_memory_equal(in, out, sizeof in);
    ts_rpc_close(session);
}

int rpt_connect_raw(const RptServer *server)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)server->port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    return fd;
}

bool rpt_wait_closed(int fd)
{
    char buf[4096];
    for (int i = 0; i < 1000; i++) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll(&p, 1, 10) <= 0)
            continue;
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        if (r == 0 || (r < 0 && errno == ECONNRESET))
            return true;
    }
    return false;
}

int rpt_server_sessions(const RptServer *server, pid_t *session)
{
    DIR *proc = opendir("/proc");
    assert_non_null(proc);
    int count = 0;
    struct dirent *e;
    while ((e = readdir(proc))) {
        char path[300], line[512];
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        int pid = 0, ppid = 0;
        /* pid (comm) state ppid ...: comm may hold spaces and parentheses */
        char *close_paren = fgets(line, sizeof line, f) ? strrchr(line, ')') : NULL;
        if (close_paren && sscanf(line, "%d", &pid) == 1 &&
            sscanf(close_paren + 1, " %*c %d", &ppid) == 1 && ppid == server->pid) {
            *session = pid;
            count++;
        }
        fclose(f);
    }
    closedir(proc);
    return count;
}
