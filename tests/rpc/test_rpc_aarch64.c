/* An AArch64 board stood in by qemu: a blocked int8 matmul (NEON vectors, parallel rows)
 * compiled on the host for "llvm -mtriple=aarch64-linux-gnu -mattr=+neon", uploaded to
 * the runtime-only `tessera rpc-server` cross-built for aarch64 (run_rpc_aarch64_build.sh)
 * and run under qemu-aarch64, called on int8 inputs and compared with a naive int32 C
 * matmul bit for bit, then timed. The server's device_info must say aarch64. Exits 77
 * (skipped) only when the cross compiler or qemu is missing (scripts/install-deps.sh
 * installs both). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_util.h"

#include "cg_testing.h"
#include "rpc_testing.h"
#include "tessera/rpc.h"

extern char **environ;

enum { M = 64, K = 32, N = 48 };

static void build_server(const char *build_dir)
{
    char *argv[] = { "sh", TESSERA_SOURCE_DIR "/tests/rpc/run_rpc_aarch64_build.sh", RPC_CMAKE,
                     TESSERA_SOURCE_DIR, (char *)build_dir, NULL };
    pid_t pid;
    assert_int_equal(posix_spawnp(&pid, "sh", NULL, NULL, argv, environ), 0);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

typedef struct Board {
    pid_t pid;
    int port;
} Board;

/* The running board, killed by the teardown when a check fails. */
static pid_t board_pid;

static int kill_board(void **state)
{
    (void)state;
    if (board_pid > 0) {
        kill(board_pid, SIGKILL);
        waitpid(board_pid, NULL, 0);
    }
    return 0;
}

/* Starts the aarch64 `tessera rpc-server --port 0` under qemu-aarch64 and reads the
 * port from its "listening on" line. */
static void start_board(Board *board, const char *tessera, const char *workdir)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    char *argv[] = { "sh", TESSERA_SOURCE_DIR "/scripts/qemu-aarch64.sh", (char *)tessera,
                     "rpc-server", "--host", "127.0.0.1", "--port", "0", "--key", "qemu-arm64",
                     "--workdir", (char *)workdir, NULL };
    /* Kernels run in a child the server forks, and qemu-user cannot always start threads
     * in a forked child: the kernels' parallel loops run in the calling thread. */
    setenv("TS_NUM_THREADS", "1", 1);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    assert_int_equal(posix_spawnp(&board->pid, "sh", &actions, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    board_pid = board->pid;
    char line[256] = { 0 };
    size_t got = 0;
    while (got < sizeof line - 1 && !strchr(line, '\n')) {
        struct pollfd p = { .fd = fds[0], .events = POLLIN };
        assert_int_equal(poll(&p, 1, 60000), 1);
        ssize_t r = read(fds[0], line + got, sizeof line - 1 - got);
        assert_true(r > 0);
        got += (size_t)r;
    }
    close(fds[0]);
    const char *prefix = "listening on 127.0.0.1:";
    assert_non_null(strstr(line, prefix));
    board->port = atoi(strstr(line, prefix) + strlen(prefix));
    assert_true(board->port > 0);
}

static void stop_board(Board *board)
{
    assert_int_equal(kill(board->pid, SIGTERM), 0);
    int status;
    assert_int_equal(waitpid(board->pid, &status, 0), board->pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    board_pid = 0;
}

static int arg_index(const CgtArgs *args, const char *name)
{
    for (int i = 0; i < args->num; i++)
        if (strcmp(ts_tensor_name(args->tensors[i]), name) == 0)
            return i;
    return -1;
}

/* Calls the matmul on the board and checks C against naive C, bit for bit. */
static void run_matmul(TsRpcSession *session, TsRpcModule module, CgtArgs *args)
{
    int ia = arg_index(args, "A"), ib = arg_index(args, "B"), ic = 3 - ia - ib;
    assert_true(ia >= 0 && ib >= 0 && args->num == 3);
    int64_t shapes[3][2] = { { M, K }, { K, N }, { M, N } };
    TsDType dtypes[3] = { TS_INT8, TS_INT8, TS_INT32 };
    int order[3] = { ia, ib, ic };
    TsRpcArg rargs[3];
    TsError err;
    for (int t = 0; t < 3; t++) {
        TsRpcArray array;
        assert_ok(ts_rpc_alloc_array(session, 2, shapes[t], dtypes[t], &array, &err), err);
        rargs[order[t]] = (TsRpcArg){ .kind = TS_RPC_ARG_ARRAY, .u.array = array };
        if (t < 2)
            assert_ok(ts_rpc_copy_to(session, array, args->data[order[t]],
                                     args->bytes[order[t]], &err), err);
    }
    assert_ok(ts_rpc_call(session, module, "matmul_int8", 3, rargs, 30, &err), err);
    static int32_t got[M * N];
    assert_ok(ts_rpc_copy_from(session, rargs[ic].u.array, got, sizeof got, &err), err);
    const int8_t *a = args->data[ia], *b = args->data[ib];
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            int32_t want = 0;
            for (int k = 0; k < K; k++)
                want += (int32_t)a[i * K + k] * (int32_t)b[k * N + j];
            if (got[i * N + j] != want)
                fail_msg("C[%d, %d] is %d on the aarch64 server, %d by naive C", i, j,
                         (int)got[i * N + j], (int)want);
        }
    TsTimeOptions options = ts_time_options_default();
    options.number = 2;
    options.repeat = 3;
    double costs[3] = { 0 };
    assert_ok(ts_rpc_time(session, module, "matmul_int8", 3, rargs, &options, 0, costs, &err),
              err);
    for (int r = 0; r < 3; r++)
        assert_true(costs[r] > 0);
}

static void test_aarch64_server(void **state)
{
    (void)state;
    const char *dir = RPC_AARCH64_DIR;
    mkdir(dir, 0755);
    char build_dir[1024], tessera[1100], module_path[1100], workdir[1100];
    snprintf(build_dir, sizeof build_dir, "%s/build", dir);
    snprintf(tessera, sizeof tessera, "%s/tools/tessera", build_dir);
    snprintf(module_path, sizeof module_path, "%s/matmul_int8.so", dir);
    snprintf(workdir, sizeof workdir, "%s/sessions", dir);
    mkdir(workdir, 0755);

    TsArena *A = ts_arena_create();
    TsTensor *out;
    const TsLoweredFunc *funcs[1] = { cgt_blocked_matmul(A, "matmul_int8", TS_INT8, TS_INT32,
                                                         &out) };
    TsTarget *target;
    TsError err;
    assert_ok(ts_target_parse("llvm -mtriple=aarch64-linux-gnu -mattr=+neon", &target, &err),
              err);
    assert_ok(ts_build_shared(1, funcs, target, module_path, &err), err);
    build_server(build_dir);

    Board board;
    start_board(&board, tessera, workdir);
    TsRpcConnectOptions options = ts_rpc_connect_options_default();
    options.timeout_s = 120; /* emulated */
    TsRpcSession *session;
    assert_ok(ts_rpc_connect("127.0.0.1", board.port, &options, &session, &err), err);
    TsRpcDeviceInfo info;
    assert_ok(ts_rpc_device_info(session, &info, &err), err);
    assert_string_equal(info.triple, "aarch64-linux-gnu");
    assert_string_equal(info.device_key, "qemu-arm64");
    assert_non_null(strstr(info.features, "asimd"));
    TsRpcModule module;
    assert_ok(ts_rpc_upload(session, module_path, "matmul_int8.so", &err), err);
    assert_ok(ts_rpc_load_module(session, "matmul_int8.so", &module, &err), err);
    CgtArgs args;
    cgt_args_init(&args, funcs[0], 11, NULL);
    run_matmul(session, module, &args);
    ts_rpc_close(session);
    stop_board(&board);
    cgt_args_free(&args);
    ts_target_free(target);
    ts_arena_destroy(A);
}

int main(void)
{
    if (!test_on_path("aarch64-linux-gnu-gcc") || !test_on_path("qemu-aarch64")) {
        fprintf(stderr, "test_rpc_aarch64: skipped: aarch64-linux-gnu-gcc or qemu-aarch64 is "
                        "missing (scripts/install-deps.sh installs them)\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_aarch64_server, kill_board),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
