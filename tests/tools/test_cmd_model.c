/* Tests of the model forms of `tessera build` and `tessera run`: a small CNN written with
 * relay's model builder (symbolic batch fixed by --input-shape) is built into a shared
 * object, run on an input TensorProto file with --save-outputs, and the output file read
 * back and checked against naive C; random inputs without --input; and the command
 * lines' errors (a wrong number of inputs, an input of another shape, --input for a
 * kernel module, a missing -o). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmd_testing.h"
#include "model_builder.h"
#include "tessera/relay.h"

enum { FLOAT = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT };
enum { N = 2, C = 3, H = 8, K = 4, P = 4, CLASSES = 5 };

static char dir[1024], model_path[1100], so_path[1100], input_path[1100], bad_input[1100];
static float w[K][C][3][3], b[K], fc_w[CLASSES][K * P * P], fc_b[CLASSES];
static float x[N][C][H][H];

static float value(int i)
{
    return (float)((i * 37 % 101) - 50) / 100.0f;
}

static void fill(Onnx__ModelProto *m, const char *name, float *data, size_t n, int seed)
{
    for (size_t i = 0; i < n; i++)
        data[i] = value((int)i + seed);
    for (size_t k = 0; k < m->graph->n_initializer; k++)
        if (strcmp(m->graph->initializer[k]->name, name) == 0)
            memcpy(m->graph->initializer[k]->float_data, data, n * sizeof(float));
}

/* x[batch, 3, 8, 8] -> Conv(3x3, pads 1, bias) -> Relu -> MaxPool(2x2) -> Flatten -> Gemm */
static void write_model(void)
{
    snprintf(dir, sizeof dir, "%s/cmd_model", TESSERA_SCRATCH_DIR);
    snprintf(model_path, sizeof model_path, "%s.onnx", dir);
    snprintf(so_path, sizeof so_path, "%s.so", dir);
    snprintf(input_path, sizeof input_path, "%s_x.pb", dir);
    snprintf(bad_input, sizeof bad_input, "%s_bad.pb", dir);
    ModelBuilder *mb = mb_new(13);
    mb_input(mb, "x", FLOAT, 4, I64S(-1, C, H, H));
    mb_init_f32(mb, "w", 4, I64S(K, C, 3, 3));
    mb_init_f32(mb, "b", 1, I64S(K));
    mb_init_f32(mb, "fc_w", 2, I64S(CLASSES, K * P * P));
    mb_init_f32(mb, "fc_b", 1, I64S(CLASSES));
    fill(mb_model(mb), "w", &w[0][0][0][0], sizeof w / sizeof(float), 0);
    fill(mb_model(mb), "b", b, K, 7);
    fill(mb_model(mb), "fc_w", &fc_w[0][0], sizeof fc_w / sizeof(float), 3);
    fill(mb_model(mb), "fc_b", fc_b, CLASSES, 11);
    mb_attr_ints(mb, mb_node(mb, "Conv", "x,w,b", "c"), "pads", NV(1, 1, 1, 1));
    mb_node(mb, "Relu", "c", "r");
    Onnx__NodeProto *pool = mb_node(mb, "MaxPool", "r", "p");
    mb_attr_ints(mb, pool, "kernel_shape", NV(2, 2));
    mb_attr_ints(mb, pool, "strides", NV(2, 2));
    mb_node(mb, "Flatten", "p", "f");
    mb_attr_int(mb, mb_node(mb, "Gemm", "f,fc_w,fc_b", "y"), "transB", 1);
    mb_output(mb, "y");
    mb_save(mb, model_path);
    mb_free(mb);
    for (size_t i = 0; i < sizeof x / sizeof(float); i++)
        (&x[0][0][0][0])[i] = value((int)i * 3 + 1);
    TsError err;
    assert_int_equal(ts_tensor_file_write(input_path, "x", TS_FLOAT32, 4, I64S(N, C, H, H), x,
                                          sizeof x, &err),
                     TS_OK);
    assert_int_equal(ts_tensor_file_write(bad_input, "x", TS_FLOAT32, 2, I64S(2, 3), x,
                                          6 * sizeof(float), &err),
                     TS_OK);
}

/* The model in naive C. */
static void expected(float y[N][CLASSES])
{
    static float r[N][K][H][H], p[N][K * P * P];
    for (int n = 0; n < N; n++)
        for (int k = 0; k < K; k++)
            for (int i = 0; i < H; i++)
                for (int j = 0; j < H; j++) {
                    float s = b[k];
                    for (int c = 0; c < C; c++)
                        for (int di = 0; di < 3; di++)
                            for (int dj = 0; dj < 3; dj++) {
                                int ii = i + di - 1, jj = j + dj - 1;
                                if (ii >= 0 && ii < H && jj >= 0 && jj < H)
                                    s += x[n][c][ii][jj] * w[k][c][di][dj];
                            }
                    r[n][k][i][j] = s > 0 ? s : 0;
                }
    for (int n = 0; n < N; n++)
        for (int k = 0; k < K; k++)
            for (int i = 0; i < P; i++)
                for (int j = 0; j < P; j++) {
                    float m = r[n][k][2 * i][2 * j];
                    m = fmaxf(m, r[n][k][2 * i][2 * j + 1]);
                    m = fmaxf(m, r[n][k][2 * i + 1][2 * j]);
                    m = fmaxf(m, r[n][k][2 * i + 1][2 * j + 1]);
                    p[n][(k * P + i) * P + j] = m;
                }
    for (int n = 0; n < N; n++)
        for (int o = 0; o < CLASSES; o++) {
            float s = fc_b[o];
            for (int i = 0; i < K * P * P; i++)
                s += p[n][i] * fc_w[o][i];
            y[n][o] = s;
        }
}

static void build_model(void)
{
    const CmdRun *r = cmd_run("build", model_path, "--input-shape", "x=2x3x8x8", "-o", so_path);
    assert_run_ok(r);
    assert_contains(r->out, so_path);
    assert_contains(r->out, "kernels: ");
    assert_contains(r->out, "values kept blocked between layers: 1"); /* relu -> pool */
}

static void check_output_file(const char *path);

static void test_build_run_save_outputs(void **state)
{
    (void)state;
    build_model();
    char out_dir[1200];
    snprintf(out_dir, sizeof out_dir, "%s_outputs", dir);
    const CmdRun *r = cmd_run("run", so_path, "--input", input_path, "--save-outputs", out_dir,
                              "--repeat", "2", "--min-repeat-ms", "1");
    assert_run_ok(r);
    assert_contains(r->out, "1 inputs, 1 outputs");
    assert_contains(r->out, "output 0 (y): ");
    assert_contains(r->out, "latency: median ");
    char path[1300];
    snprintf(path, sizeof path, "%s/output_0.pb", out_dir);
    check_output_file(path);
}

/* --keep-nchw: the conv's output is unpacked to NCHW and the pool packs it again; the
 * same answer. */
static void test_build_keep_nchw(void **state)
{
    (void)state;
    const CmdRun *r = cmd_run("build", model_path, "--input-shape", "x=2x3x8x8", "--keep-nchw",
                              "-o", so_path);
    assert_run_ok(r);
    assert_contains(r->out, "values kept blocked between layers: 0");
    char out_dir[1200];
    snprintf(out_dir, sizeof out_dir, "%s_nchw_outputs", dir);
    r = cmd_run("run", so_path, "--input", input_path, "--save-outputs", out_dir, "--repeat", "1");
    assert_run_ok(r);
    char path[1300];
    snprintf(path, sizeof path, "%s/output_0.pb", out_dir);
    check_output_file(path);
}

/* The output file holds y of the model as naive C computes it. */
static void check_output_file(const char *path)
{
    TsTensorFile got;
    TsError err;
    assert_int_equal(ts_tensor_file_read(path, &got, &err), TS_OK);
    assert_int_equal(got.ndim, 2);
    assert_int_equal(got.shape[0], N);
    assert_int_equal(got.shape[1], CLASSES);
    float want[N][CLASSES];
    expected(want);
    const float *y = got.data;
    for (int i = 0; i < N * CLASSES; i++) {
        float e = (&want[0][0])[i];
        if (!(fabsf(y[i] - e) <= 1e-4f * fabsf(e) + 1e-5f))
            fail_msg("y[%d]: got %.7g, want %.7g", i, (double)y[i], (double)e);
    }
    ts_tensor_file_free(&got);
}

/* ---- on a device server ---- */

extern char **environ;
static const char *tessera;

/* Starts `tessera rpc-server --port 0` and reads its port from its first line. */
static pid_t start_server(int *port)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    char *argv[] = { (char *)tessera, "rpc-server", "--host", "127.0.0.1", "--port", "0", NULL };
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    pid_t pid;
    assert_int_equal(posix_spawn(&pid, tessera, &actions, NULL, argv, environ), 0);
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
    const char *at = strstr(line, "listening on 127.0.0.1:");
    assert_non_null(at);
    *port = atoi(at + strlen("listening on 127.0.0.1:"));
    return pid;
}

/* --rpc: the model runs on a device server, its outputs come back into the files. */
static void test_run_over_rpc(void **state)
{
    (void)state;
    build_model();
    int port;
    pid_t server = start_server(&port);
    char address[64], out_dir[1200], path[1300];
    snprintf(address, sizeof address, "127.0.0.1:%d", port);
    snprintf(out_dir, sizeof out_dir, "%s_rpc_outputs", dir);
    const CmdRun *r = cmd_run("run", so_path, "--rpc", address, "--input", input_path,
                              "--save-outputs", out_dir, "--repeat", "2", "--min-repeat-ms", "1");
    assert_run_ok(r);
    assert_contains(r->out, "a model of 1 inputs, 1 outputs");
    assert_contains(r->out, "latency: median ");
    snprintf(path, sizeof path, "%s/output_0.pb", out_dir);
    check_output_file(path);
    r = cmd_run("run", so_path, "--rpc", address, "--input", bad_input);
    assert_int_equal(r->status, 1);
    assert_contains(r->err, "is not input 0's (x)");
    assert_int_equal(kill(server, SIGTERM), 0);
    int status;
    assert_int_equal(waitpid(server, &status, 0), server);
}

static void test_run_random_inputs(void **state)
{
    (void)state;
    build_model();
    const CmdRun *r = cmd_run("run", so_path, "--repeat", "1", "--min-repeat-ms", "1");
    assert_run_ok(r);
    assert_contains(r->out, "over 1 repeats");
    r = cmd_run("run", so_path, "--repeat", "2", "--profile");
    assert_run_ok(r);
    assert_contains(r->out, "%  call 0  k0_conv_pack\n"); /* every call listed, by kernel */
    assert_contains(r->out, "_gemm\n");
}

/* tune MODEL.onnx writes records for every task (conv2d, pool2d, dense), largest share
 * first; build --log then uses them: no default config is left. --resume adds nothing
 * when the log already holds the budget. */
static void test_tune_then_build(void **state)
{
    (void)state;
    char log[1200];
    snprintf(log, sizeof log, "%s_tune.log", dir);
    remove(log);
    const CmdRun *r = cmd_run("tune", model_path, "--input-shape", "x=2x3x8x8", "--log", log,
                              "--trials-per-task", "2");
    assert_run_ok(r);
    assert_contains(r->out, "3 tuning tasks");
    assert_contains(r->out, "   1. conv2d N=2 C=3 H=8 W=8 K=4 R=3 S=3 stride=1 pad=1  x1");
    assert_contains(r->err, "[task 3/3 ");
    assert_contains(r->err, "model: 6/6 trials");
    r = cmd_run("build", model_path, "--input-shape", "x=2x3x8x8", "--log", log, "-o", so_path);
    assert_run_ok(r);
    assert_contains(r->out, "(3 tuned, 0 default config");
    assert_int_equal(count_occurrences(r->err, "no record for task"), 0);
    char out_dir[1200], path[1300];
    snprintf(out_dir, sizeof out_dir, "%s_tuned_outputs", dir);
    r = cmd_run("run", so_path, "--input", input_path, "--save-outputs", out_dir, "--repeat", "1",
                "--min-repeat-ms", "1");
    assert_run_ok(r);
    snprintf(path, sizeof path, "%s/output_0.pb", out_dir);
    check_output_file(path); /* the tuned configs compute the same model */
    r = cmd_run("build", model_path, "--input-shape", "x=2x3x8x8", "-o", so_path);
    assert_run_ok(r);
    assert_contains(r->out, "(0 tuned, 3 default config");
    assert_int_equal(count_occurrences(r->err, "no record for task"), 3);
    r = cmd_run("tune", model_path, "--input-shape", "x=2x3x8x8", "--log", log,
                "--trials-per-task", "2", "--resume");
    assert_run_ok(r);
    r = cmd_run("tune", model_path, "--log", log, "--trials-per-task", "2", "--time-limit", "3");
    assert_run_fails(r, 2, "not both");
}

static void test_errors(void **state)
{
    (void)state;
    build_model();
    const CmdRun *r = cmd_run("run", so_path, "--input", input_path, "--input", input_path);
    assert_run_fails(r, 1, "the model has 1 inputs but 2 --input files were given");
    r = cmd_run("run", so_path, "--input", bad_input);
    assert_run_fails(r, 1, "is float32 of rank 4");
    r = cmd_run("build", model_path, "--input-shape", "x=2x3x8x8");
    assert_run_fails(r, 2, "-o MODEL.so is required");
    r = cmd_run("run", so_path, "--input", "/nonexistent.pb");
    assert_run_fails(r, 1, "/nonexistent.pb");
}

int main(int argc, char **argv)
{
    assert_true(argc == 2);
    cmd_testing_init(argv[1]);
    tessera = argv[1];
    write_model();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_run_save_outputs),
        cmocka_unit_test(test_build_keep_nchw),
        cmocka_unit_test(test_run_random_inputs),
        cmocka_unit_test(test_tune_then_build),
        cmocka_unit_test(test_run_over_rpc),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
