/* Tuning for an AArch64 board stood in by qemu: a few trials each of a small dense, an
 * NCHWc conv2d, a depthwise conv2d and a pooling for
 * "llvm -mtriple=aarch64-linux-gnu -mattr=+neon" (their NEON configs), built on the host,
 * measured by the runtime-only `tessera rpc-server` cross-built for aarch64 (tests/rpc's
 * run_rpc_aarch64_build.sh) under qemu-aarch64, each checked against the reference
 * computed on the host. Exits 77 (skipped) only when the cross compiler or qemu is
 * missing (scripts/install-deps.sh installs both). */
#include <math.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_util.h"

#include "tessera/tessera.h"
#include "tune_testing.h"

extern char **environ;

static void run_and_wait(char **argv)
{
    pid_t pid;
    int status;
    assert_int_equal(posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ), 0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* Starts the board's server under qemu; its port from the "listening on" line. */
static pid_t start_board(const char *tessera, const char *workdir, int *port)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    char *argv[] = { "sh", TESSERA_SOURCE_DIR "/scripts/qemu-aarch64.sh", (char *)tessera,
                     "rpc-server", "--host", "127.0.0.1", "--port", "0", "--key", "qemu-arm64",
                     "--workdir", (char *)workdir, NULL };
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    pid_t pid;
    assert_int_equal(posix_spawnp(&pid, "sh", &actions, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
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
    *port = atoi(strstr(line, prefix) + strlen(prefix));
    assert_true(*port > 0);
    return pid;
}

/* "NAME=VALUE ..." into args. */
static void parse_args(const char *text, TsTemplateArgs *args)
{
    *args = (TsTemplateArgs){ 0 };
    char copy[256];
    snprintf(copy, sizeof copy, "%s", text);
    for (char *save = NULL, *word = strtok_r(copy, " ", &save); word;
         word = strtok_r(NULL, " ", &save)) {
        TsError err;
        if (ts_template_args_parse(args, word, &err) != TS_OK)
            fail_msg("%s: %s", word, err.message);
    }
}

/* A few trials of op on the board, every one checked against the host's reference. */
static void tune_on_board(const char *op, const char *args_text, int port, int number)
{
    TsTemplateArgs args;
    parse_args(args_text, &args);
    TsTuneTask *task;
    TsError err;
    if (ts_tune_task_create(op, &args, "llvm -mtriple=aarch64-linux-gnu -mattr=+neon", &task,
                            &err) != TS_OK)
        fail_msg("%s %s: %s", op, args_text, err.message);
    assert_int_equal(ts_tune_task_isa(task)->vector_bits, 128);
    assert_true(ts_template_target_has(ts_tune_task_isa(task), "neon"));
    char name[64], log[512];
    snprintf(name, sizeof name, "aarch64-%d.jsonl", number);
    snprintf(log, sizeof log, "%s", tt_temp_path(name));
    remove(log);
    TsTuneOptions o = ts_tune_options_default();
    o.tuner = "random";
    o.n_trial = 4;
    o.batch_size = 2;
    o.log_path = log;
    o.measure.rpc_host = "127.0.0.1";
    o.measure.rpc_port = port;
    o.measure.repeat = 1;
    o.measure.check_correctness = true;
    o.measure.run_timeout_s = 60;
    TsTuneProgress final;
    TsStatus st = ts_tune(task, &o, &final, &err);
    if (st != TS_OK)
        fail_msg("tune %s %s on qemu: %s", op, args_text, err.message);
    fprintf(stderr, "%s %s: %d trials on the board, %d errors, best %.3f GFLOPS\n", op, args_text,
            final.trial, final.num_errors, final.best_gflops);
    assert_int_equal(final.trial, 4);
    assert_int_equal(final.num_errors, 0);
    assert_true(final.best_gflops > 0);
    assert_int_equal(tt_count_lines(log), 4);
    ts_tune_task_free(task);
}

static void test_tune_on_qemu(void **state)
{
    (void)state;
    char *build[] = { "sh",           TESSERA_SOURCE_DIR "/tests/rpc/run_rpc_aarch64_build.sh",
                      TT_CMAKE,       TESSERA_SOURCE_DIR,
                      TT_AARCH64_DIR, NULL };
    run_and_wait(build);
    char workdir[512];
    snprintf(workdir, sizeof workdir, "%s", tt_temp_path("board"));
    char *mk[] = { "mkdir", "-p", workdir, NULL };
    run_and_wait(mk);
    int port;
    pid_t board = start_board(TT_AARCH64_DIR "/tools/tessera", workdir, &port);

    /* The operators' NEON templates on small layers (padding, strides, a channel count
     * that is not a multiple of the block, both pooling kinds). */
    static const struct {
        const char *op;
        const char *args;
    } layers[] = {
        { "dense", "M=24 N=32 K=16" },
        { "conv2d", "N=1 C=8 H=8 W=7 K=16 R=3 S=3 stride=1 pad=1" },
        { "conv2d", "N=1 C=6 H=9 W=9 K=10 R=3 S=2 stride=2 pad=1" },
        { "depthwise_conv2d", "N=1 C=16 H=9 W=10 R=3 S=3 stride=1 pad=1" },
        { "pool2d", "N=1 C=16 H=9 W=10 R=3 S=3 stride=2 pad=1 kind=0" },
        { "pool2d", "N=1 C=12 H=8 W=7 R=2 S=3 stride=1 pad=1 kind=1" },
    };
    for (size_t l = 0; l < sizeof layers / sizeof layers[0]; l++)
        tune_on_board(layers[l].op, layers[l].args, port, (int)l);

    int status;
    assert_int_equal(kill(board, SIGTERM), 0);
    assert_int_equal(waitpid(board, &status, 0), board);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
    if (!test_on_path("aarch64-linux-gnu-gcc") || !test_on_path("qemu-aarch64")) {
        fprintf(stderr, "test_tune_aarch64: skipped: aarch64-linux-gnu-gcc or qemu-aarch64 is "
                        "missing (scripts/install-deps.sh installs them)\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tune_on_qemu),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
