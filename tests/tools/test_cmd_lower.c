/* Tests of the `tessera` command (tools/): runs the built executable, whose path CTest
 * passes as the first argument, and checks its exit status, what it prints on stdout
 * and the messages on stderr: `--version`, the subcommand dispatch, `tessera lower` on
 * the default and the named schedules, and each kind of bad command line. */
#include <fcntl.h>
#include <setjmp.h>
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

#include "cmd_testing.h"

/* ---- the command ---- */

static void test_version(void **state)
{
    (void)state;
    const CmdRun *r = cmd_run("--version");
    assert_run_succeeds(r);
    assert_string_equal(r->out, "tessera " TESSERA_VERSION "\n");
}

static void test_help_lists_subcommands(void **state)
{
    (void)state;
    const CmdRun *r = cmd_run("--help");
    assert_run_succeeds(r);
    assert_contains(r->out, "usage: tessera SUBCOMMAND");
    assert_contains(r->out, "  lower ");
}

static void test_unknown_subcommand(void **state)
{
    (void)state;
    const CmdRun *r = cmd_run("frobnicate");
    assert_run_fails(r, 2, "tessera: unknown subcommand 'frobnicate'");
    assert_contains(r->err, "usage: tessera SUBCOMMAND");
    assert_run_fails(cmd_run("--frobnicate"), 2, "tessera: unknown option '--frobnicate'");
    assert_run_fails(cmd_run_argv((const char *const[]){ NULL }), 2, "no subcommand given");
}

/* ---- tessera lower: listings ---- */

static void test_lower_help_lists_ops(void **state)
{
    (void)state;
    const CmdRun *r = cmd_run("lower", "--help");
    assert_run_succeeds(r);
    assert_contains(r->out, "usage: tessera lower OP");
    assert_contains(r->out, "\n  matmul ");
    assert_contains(r->out, "keys: M* N* K* trans_a=0 trans_b=0 bn=32\n");
    assert_contains(r->out, "schedules: default, blocked");
    assert_contains(r->out, "KH=3 KW=3 stride=1 pad=0 dilation=1 groups=1 layout=NCHW");
    assert_contains(r->out, "schedules: default, tiled, inline_pad");
    assert_contains(r->out, "\n  softmax ");
}

static void test_lower_without_op_is_usage_error(void **state)
{
    (void)state;
    const CmdRun *r = cmd_run("lower");
    assert_run_fails(r, 2, "tessera lower: no operator given");
    assert_contains(r->err, "\n  conv2d ");
}

static void test_lower_op_help(void **state)
{
    (void)state;
    const CmdRun *r = cmd_run("lower", "conv2d", "--help");
    assert_run_succeeds(r);
    assert_contains(r->out, "tessera lower conv2d:");
    assert_contains(r->out, "layout     data layout (conv2d weights OIHW or HWIO) (NCHW|NHWC, "
                            "default NCHW)");
    assert_contains(r->out, "inline_pad ");
}

/* ---- tessera lower: what it prints ---- */

static void test_lower_matmul_default(void **state)
{
    (void)state;
    const CmdRun *r = cmd_run("lower", "matmul", "M=64", "N=64", "K=64");
    assert_run_succeeds(r);
    assert_contains(r->out, "func matmul(A: float32[64, 64], B: float32[64, 64], "
                            "matmul: float32[64, 64]) {\n");
    assert_contains(r->out, "  for (i, 0, 64) {\n    for (j, 0, 64) {\n");
    assert_contains(r->out, "for (k, 0, 64) {\n");
    assert_int_equal(count_occurrences(r->out, "matmul["), 3); /* the init, the load and the store */
    assert_int_equal(count_occurrences(r->out, "parallel"), 0);
}

static void test_lower_matmul_shapes_follow_keys(void **state)
{
    (void)state;
    const CmdRun *r = cmd_run("lower", "matmul", "M=16", "N=8", "K=4", "trans_a=1");
    assert_run_succeeds(r);
    assert_contains(r->out, "func matmul(A: float32[4, 16], B: float32[4, 8], "
                            "matmul: float32[16, 8])");
    assert_contains(r->out, "for (i, 0, 16)");
    assert_contains(r->out, "for (j, 0, 8)");
    assert_contains(r->out, "for (k, 0, 4)");
}

static void test_lower_matmul_blocked(void **state)
{
    (void)state;
    const CmdRun *r = cmd_run("lower", "matmul", "M=64", "N=64", "K=64", "--schedule", "blocked");
    assert_run_succeeds(r);
    assert_contains(r->out, "parallel (i.outer, 0, 2)");
    assert_contains(r->out, "for (j.outer, 0, 2)");
    assert_contains(r->out, "for (k.outer, 0, 16)");
    assert_contains(r->out, "ramp(");
    assert_int_equal(count_occurrences(r->out, "for (k.inner, 0, 4)"), 1);
}

/* A tile larger than the matrix is clamped to it, so the vector width follows N. */
static void test_lower_matmul_blocked_small(void **state)
{
    (void)state;
    const CmdRun *r = cmd_run("lower", "matmul", "M=8", "N=8", "K=3", "--schedule", "blocked");
    assert_run_succeeds(r);
    assert_contains(r->out, "matmul[ramp((i.inner * 8), 1, 8)] = broadcast(0.0f, 8)");
    assert_contains(r->out, "for (k.inner, 0, 3)");
    r = cmd_run("lower", "matmul", "M=8", "N=8", "K=3", "--schedule", "blocked", "--show", "schedule");
    assert_run_succeeds(r);
    assert_contains(r->out, "split matmul i factor=8 -> i.outer, i.inner\n");
    assert_contains(r->out, "split matmul k factor=3 -> k.outer, k.inner\n");
    assert_contains(r->out, "vectorize matmul j.inner\nparallel matmul i.outer\n");
}

static void test_lower_show_all(void **state)
{
    (void)state;
    const CmdRun *r =
        cmd_run("lower", "matmul", "M=64", "N=32", "K=16", "--schedule=blocked", "--show", "all");
    assert_run_succeeds(r);
    const char *dag = strstr(r->out, "// ---- dag ----\nplaceholder A: float32[64, 16]\n"
                                     "placeholder B: float32[16, 32]\ncompute matmul[i, j]: "
                                     "float32[64, 32] = sum((A[i, k] * B[k, j]), axis=[k:16])"
                                     "  # matmul\n");
    const char *sch = strstr(r->out, "// ---- schedule ----\n");
    const char *loops = strstr(r->out, "// ---- loop nest ----\nfunc matmul(");
    assert_non_null(dag);
    assert_non_null(sch);
    assert_non_null(loops);
    assert_true(dag < sch && sch < loops);
    assert_contains(sch, "vectorize");
    assert_contains(sch, "parallel");
}

static void test_lower_show_dag_and_schedule(void **state)
{
    (void)state;
    const CmdRun *r = cmd_run("lower", "relu", "size=100", "--show", "dag");
    assert_run_succeeds(r);
    assert_string_equal(r->out, "placeholder data: float32[100]\n"
                                "compute relu[i0]: float32[100] = max(data[i0], 0.0f)  # relu\n");
    r = cmd_run("lower", "relu", "size=100", "--show", "schedule");
    assert_run_succeeds(r);
    assert_string_equal(r->out, "// default: no primitives\n");
}

static void test_lower_conv2d_schedules(void **state)
{
    (void)state;
    const CmdRun *r = cmd_run("lower", "conv2d", "N=1", "C=3", "H=32", "W=32", "O=8", "pad=1");
    assert_run_succeeds(r);
    assert_contains(r->out, "allocate pad: float32[1, 3, 34, 34]");
    r = cmd_run("lower", "conv2d", "N=1", "C=3", "H=32", "W=32", "O=8", "pad=1", "--schedule", "tiled");
    assert_run_succeeds(r);
    assert_contains(r->out, "for (y.outer, 0, 8)");
    assert_contains(r->out, "for (x.outer, 0, 4)");
    /* The pad stage per tile: 4 + 2 rows by 8 + 2 columns of every channel. */
    assert_contains(r->out, "allocate pad: float32[1, 3, 6, 10]");
    r = cmd_run("lower", "conv2d", "N=1", "C=3", "H=32", "W=32", "O=8", "pad=1", "--schedule",
            "inline_pad");
    assert_run_succeeds(r);
    assert_int_equal(count_occurrences(r->out, "allocate pad"), 0);
}

static void test_lower_elementwise_vectorized(void **state)
{
    (void)state;
    const CmdRun *r = cmd_run("lower", "add", "N=1", "C=4", "H=8", "W=16", "--schedule", "vectorized");
    assert_run_succeeds(r);
    assert_contains(r->out, "for (i3.outer, 0, 2)");
    assert_contains(r->out, "ramp(");
}

/* The padding condition of pad varies across the vectorized lanes and guards a load: it
 * stays an if_then_else of vectors (masked loads in codegen), with or without
 * --scalar-fallback, and no loop is kept scalar. */
static void test_lower_pad_vectorized(void **state)
{
    (void)state;
    for (int fallback = 0; fallback < 2; fallback++) {
        const CmdRun *r = fallback ? cmd_run("lower", "pad", "size=20", "--schedule",
                                             "vectorized", "--scalar-fallback")
                                   : cmd_run("lower", "pad", "size=20", "--schedule",
                                             "vectorized");
        assert_run_succeeds(r);
        assert_null(strstr(r->err, "vectorize:"));
        assert_contains(r->out, "for (i0.outer, 0, 2) {\n"
                                "    pad[ramp((i0.outer * 8), 1, 8)] = if_then_else((ramp("
                                "(i0.outer * 8), 1, 8) >= broadcast(1, 8)), data[ramp(((i0.outer "
                                "* 8) - 1), 1, 8)], broadcast(0.0f, 8))\n"
                                "  }\n");
        assert_contains(r->out, "pad[ramp(16, 1, 6)] = if_then_else((ramp(0, 1, 6) < "
                                "broadcast(5, 6)), data[ramp(15, 1, 6)], broadcast(0.0f, 6))");
        assert_null(strstr(r->out, "i0.inner"));
    }
}

/* TS_DUMP names the steps whose IR goes to stderr; the loop nest still goes to stdout. */
static void test_lower_ts_dump(void **state)
{
    (void)state;
    setenv("TS_DUMP", "lower,vectorize", 1);
    const CmdRun *r = cmd_run("lower", "relu", "size=64", "--schedule", "vectorized");
    unsetenv("TS_DUMP");
    assert_int_equal(r->status, 0);
    assert_contains(r->err, "// ---- after lower ----");
    assert_contains(r->err, "vectorized (i0.inner, 0, 8)");
    assert_contains(r->err, "// ---- after vectorize ----");
    assert_null(strstr(r->err, "after unroll"));
    assert_contains(r->out, "ramp((i0.outer * 8), 1, 8)");
}

static void test_lower_other_ops(void **state)
{
    (void)state;
    static const char *const ops[][8] = {
        { "dense", "N=4", "M=16", "K=8", "bias=1", NULL },
        { "maxpool", "N=1", "C=2", "H=8", "W=8", NULL },
        { "pool2d", "N=1", "C=2", "H=8", "W=8", "kind=avg", "stride=1", NULL },
        { "softmax", "M=4", "N=10", NULL },
        { "pad", "size=10", "pad=2", NULL },
    };
    static const char *const expect[] = { "func dense(data: float32[4, 8], weight: "
                                          "float32[16, 8], bias: float32[16], dense: "
                                          "float32[4, 16])",
                                          "max_pool2d: float32[1, 2, 4, 4])",
                                          "avg_pool2d: float32[1, 2, 7, 7])",
                                          "softmax: float32[4, 10])", "pad: float32[14])" };
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        const char *args[10] = { "lower" };
        for (int a = 0; a < 8 && ops[i][a]; a++)
            args[a + 1] = ops[i][a];
        const CmdRun *r = cmd_run_argv(args);
        assert_run_succeeds(r);
        assert_contains(r->out, expect[i]);
    }
}

/* The bitserial operators: integer codes packed by bitpack stages, the accumulator of
 * the bit widths, and bad widths or encodings refused naming the culprit. */
static void test_lower_bitserial(void **state)
{
    (void)state;
    const CmdRun *r = cmd_run("lower", "bitserial_conv2d", "N=1", "C=10", "H=5", "W=5", "O=4",
                              "pad=1", "abits=2", "encoding=pm1xpm1", "word=uint8");
    assert_run_succeeds(r);
    assert_contains(r->out, "func bitserial_conv2d(data: uint8[1, 10, 5, 5], weight: uint8[4, 10, "
                            "3, 3], bitserial_conv2d: int16[1, 4, 5, 5])");
    assert_contains(r->out, "allocate bitpack: uint8[1, 5, 5, 2, 2]");
    assert_contains(r->out, "popcount(");
    r = cmd_run("lower", "bitserial_dense", "N=2", "M=768", "K=600", "abits=8", "wbits=8");
    assert_run_succeeds(r);
    assert_contains(r->out, "bitserial_dense: int32[2, 768])");
    assert_run_fails(cmd_run("lower", "bitserial_conv2d", "N=1", "C=8", "H=5", "W=5", "O=4",
                             "wbits=9"),
                     1, "bitpack: bits 9 outside [1, 8]");
    assert_run_fails(cmd_run("lower", "bitserial_dense", "N=1", "M=8", "K=8", "encoding=xor"), 1,
                     "bitserial_dense: encoding=xor: must be 01x01, 01xpm1 or pm1xpm1");
}

/* ---- tessera lower: errors ---- */

static void test_lower_unknown_op(void **state)
{
    (void)state;
    assert_run_fails(cmd_run("lower", "conv3d", "N=1"), 1,
                 "tessera lower: unknown operator 'conv3d' (operators: matmul, dense,");
}

static void test_lower_unknown_key(void **state)
{
    (void)state;
    assert_run_fails(cmd_run("lower", "matmul", "M=64", "N=64", "K=64", "Q=3"), 1,
                 "tessera lower: matmul has no key 'Q' (keys: M, N, K, trans_a, trans_b, bn)");
}

static void test_lower_bad_values(void **state)
{
    (void)state;
    assert_run_fails(cmd_run("lower", "matmul", "M=abc", "N=64", "K=64"), 1,
                 "tessera lower: matmul: M=abc: not a positive integer");
    assert_run_fails(cmd_run("lower", "matmul", "M=0", "N=64", "K=64"), 1,
                 "tessera lower: matmul: M=0: must be a positive integer");
    assert_run_fails(cmd_run("lower", "matmul", "M=-4", "N=64", "K=64"), 1, "matmul: M=-4: not a");
    assert_run_fails(cmd_run("lower", "matmul", "M=", "N=64", "K=64"), 1, "matmul: M=: not a");
    assert_run_fails(cmd_run("lower", "matmul", "M=99999999999999999999", "N=64", "K=64"), 1,
                 "M=99999999999999999999: larger than the largest extent 2147483647");
    assert_run_fails(cmd_run("lower", "matmul", "M=2147483648", "N=64", "K=64"), 1,
                 "M=2147483648: larger than the largest extent");
    assert_run_fails(cmd_run("lower", "matmul", "M=8", "N=8", "K=8", "trans_a=2"), 1,
                 "matmul: trans_a=2: must be 0 or 1");
    assert_run_fails(cmd_run("lower", "conv2d", "N=1", "C=3", "H=8", "W=8", "O=4", "layout=NCWH"), 1,
                 "conv2d: layout=NCWH: must be NCHW or NHWC");
    assert_run_fails(cmd_run("lower", "conv2d", "N=1", "C=3", "H=8", "W=8", "O=4", "pad=-1"), 1,
                 "conv2d: pad=-1: not a non-negative integer");
}

static void test_lower_missing_key(void **state)
{
    (void)state;
    assert_run_fails(cmd_run("lower", "matmul", "M=64", "N=64"), 1,
                 "tessera lower: matmul: missing required key K");
    assert_run_fails(cmd_run("lower", "relu", "N=1", "C=3"), 1, "relu: missing required key H");
    assert_run_fails(cmd_run("lower", "relu", "size=4", "N=1"), 1, "not both");
}

static void test_lower_unknown_schedule(void **state)
{
    (void)state;
    assert_run_fails(cmd_run("lower", "matmul", "M=64", "N=64", "K=64", "--schedule", "tiled"), 1,
                 "tessera lower: matmul has no schedule 'tiled' (schedules: default, blocked)");
    assert_run_fails(cmd_run("lower", "relu", "size=8", "--schedule", "fastest"), 1,
                 "relu has no schedule 'fastest'");
}

static void test_lower_refused_schedule_and_bad_shapes(void **state)
{
    (void)state;
    /* Without padding there is no pad stage to inline. */
    assert_run_fails(
        cmd_run("lower", "conv2d", "N=1", "C=3", "H=8", "W=8", "O=4", "--schedule", "inline_pad"), 1,
        "tessera lower: schedule inline_pad: conv2d has no pad stage to inline");
    /* The library's own check, passed through. */
    assert_run_fails(cmd_run("lower", "conv2d", "N=1", "C=3", "H=2", "W=2", "O=4"), 1,
                 "tessera lower: conv2d: dilated kernel height 3 exceeds padded input height 2");
    assert_run_fails(cmd_run("lower", "conv2d", "N=1", "C=3", "H=8", "W=8", "O=4", "groups=2"), 1,
                 "conv2d: groups=2 does not divide C=3");
    assert_run_fails(cmd_run("lower", "softmax", "M=4", "N=4", "--dtype", "int32"), 1,
                 "tessera lower: softmax:");
    assert_run_fails(cmd_run("lower", "relu", "size=4", "--dtype", "float33"), 1,
                 "--dtype 'float33': not a scalar type");
}

static void test_lower_usage_errors(void **state)
{
    (void)state;
    assert_run_fails(cmd_run("lower", "matmul", "M=64", "N=64", "K=64", "--frob"), 2,
                 "tessera lower: unknown option '--frob'");
    assert_run_fails(cmd_run("lower", "matmul", "M=64", "64"), 2, "argument '64' is not KEY=VALUE");
    assert_run_fails(cmd_run("lower", "matmul", "M=64", "N=64", "K=64", "--schedule"), 2,
                 "option --schedule needs a value");
    assert_run_fails(cmd_run("lower", "matmul", "M=64", "N=64", "K=64", "--show", "ir"), 2,
                 "--show 'ir': must be loops, dag, schedule or all");
    assert_run_fails(cmd_run("lower", "matmul", "M=64", "M=32", "N=64", "K=64"), 2,
                 "matmul: key M given twice");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PATH-TO-tessera\n", argv[0]);
        return 2;
    }
    cmd_testing_init(argv[1]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_help_lists_subcommands),
        cmocka_unit_test(test_unknown_subcommand),
        cmocka_unit_test(test_lower_help_lists_ops),
        cmocka_unit_test(test_lower_without_op_is_usage_error),
        cmocka_unit_test(test_lower_op_help),
        cmocka_unit_test(test_lower_matmul_default),
        cmocka_unit_test(test_lower_matmul_shapes_follow_keys),
        cmocka_unit_test(test_lower_matmul_blocked),
        cmocka_unit_test(test_lower_matmul_blocked_small),
        cmocka_unit_test(test_lower_show_all),
        cmocka_unit_test(test_lower_show_dag_and_schedule),
        cmocka_unit_test(test_lower_conv2d_schedules),
        cmocka_unit_test(test_lower_pad_vectorized),
        cmocka_unit_test(test_lower_ts_dump),
        cmocka_unit_test(test_lower_elementwise_vectorized),
        cmocka_unit_test(test_lower_bitserial),
        cmocka_unit_test(test_lower_other_ops),
        cmocka_unit_test(test_lower_unknown_op),
        cmocka_unit_test(test_lower_unknown_key),
        cmocka_unit_test(test_lower_bad_values),
        cmocka_unit_test(test_lower_missing_key),
        cmocka_unit_test(test_lower_unknown_schedule),
        cmocka_unit_test(test_lower_refused_schedule_and_bad_shapes),
        cmocka_unit_test(test_lower_usage_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
