/* Tests of `tessera tune`, `tessera build` and `tessera run` (tools/cmd_tune.c,
 * cmd_build.c, cmd_run.c, tune_report.c): a short tuning run of a small dense on this
 * machine writes its log and reports the best config; the log's summary and plot; the
 * tuned kernel exported and run; and each kind of bad command line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmd_testing.h"

static char dir[64];
static char log_path[128], svg_path[128], so_path[128], missing_log[128];

static int make_dir(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/tessera-cmd-tune-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(log_path, sizeof log_path, "%s/tune.log", dir);
    snprintf(svg_path, sizeof svg_path, "%s/curve.svg", dir);
    snprintf(so_path, sizeof so_path, "%s/dense.so", dir);
    snprintf(missing_log, sizeof missing_log, "%s/none.log", dir);
    return 0;
}

static int remove_dir(void **state)
{
    (void)state;
    unlink(log_path);
    unlink(svg_path);
    unlink(so_path);
    return rmdir(dir);
}

static int count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    int n = 0, c;
    if (!f)
        return -1;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

/* The tests run in order: tune, then report on and build from its log. The grid tuner's
 * first 12 points (the first knob, tile_y, varies fastest: one-vector tiles of every
 * height) all fit the registers, so none fails. */
static void test_tune_writes_log_and_reports_best(void **state)
{
    (void)state;
    const CmdRun *r = cmd_run("tune", "dense", "M=32", "N=32", "K=32", "--trials", "12",
                              "--tuner", "grid", "--batch", "4", "--check", "--log", log_path);
    assert_run_ok(r);
    assert_contains(r->err, "dense_pack M=32 N=32 K=32 on 'llvm'");
    assert_contains(r->err, "trial 12/12");
    assert_contains(r->out, "task:    dense_pack M=32 N=32 K=32");
    assert_contains(r->out, "trials:  12 (0 errors)");
    assert_contains(r->out, "GFLOPS");
    assert_contains(r->out, "config:  [[\"tile_y\",\"sp\"");
    assert_int_equal(count_lines(log_path), 12);

    /* --resume: the log holds the budget already, so nothing more is measured. */
    r = cmd_run("tune", "dense", "M=32", "N=32", "K=32", "--trials", "12", "--tuner", "grid",
                "--resume", "--log", log_path);
    assert_run_ok(r);
    assert_int_equal(count_lines(log_path), 12);
    /* Records without a dtype argument are float32's: dtype=float32 resumes them too. */
    r = cmd_run("tune", "dense", "M=32", "N=32", "K=32", "dtype=float32", "--trials", "12",
                "--tuner", "grid", "--resume", "--log", log_path);
    assert_run_ok(r);
    assert_int_equal(count_lines(log_path), 12);
}

static void test_summary_and_plot(void **state)
{
    (void)state;
    const CmdRun *r = cmd_run("tune", "--summary", log_path);
    assert_run_succeeds(r);
    assert_contains(r->out, "1 task");
    assert_contains(r->out, "dense_pack M=32 N=32 K=32 (llvm)");
    assert_contains(r->out, "trials 12, errors 0");
    assert_contains(r->out, "best: ");
    r = cmd_run("tune", "--plot", log_path, "-o", svg_path);
    assert_run_succeeds(r);
    FILE *f = fopen(svg_path, "r");
    assert_non_null(f);
    static char svg[1 << 16];
    size_t n = fread(svg, 1, sizeof svg - 1, f);
    svg[n] = '\0';
    fclose(f);
    assert_contains(svg, "<svg");
    assert_contains(svg, "<polyline");
    assert_contains(svg, "dense_pack M=32 N=32 K=32 (llvm)");
    assert_contains(svg, "</svg>");
    /* One point per trial: "x,y " pairs in the polyline's points. */
    char *points = strstr(svg, "points='");
    assert_non_null(points);
    char *end = strchr(points + 8, '\'');
    assert_non_null(end);
    *end = '\0';
    assert_int_equal(count_occurrences(points, ","), 12);
}

static void test_build_and_run(void **state)
{
    (void)state;
    const CmdRun *r = cmd_run("build", "dense", "M=32", "N=32", "K=32", "--log", log_path,
                              "-o", so_path);
    assert_run_succeeds(r);
    assert_contains(r->out, "from the log");
    r = cmd_run("run", so_path, "--repeat", "2", "--min-repeat-ms", "1", "--flop", "65536");
    assert_run_succeeds(r);
    assert_contains(r->out, "dense_pack(data:float32[32,32];weight:float32[32,32];");
    assert_contains(r->out, "median");
    assert_contains(r->out, "GFLOPS");
}

static void test_build_without_record_warns(void **state)
{
    (void)state;
    const CmdRun *r = cmd_run("build", "dense", "M=48", "N=32", "K=32", "--log", log_path,
                              "-o", so_path);
    assert_run_ok(r);
    assert_contains(r->err, "no tuning record for dense_pack M=48 N=32 K=32");
    assert_contains(r->out, "the template's default");
}

static void test_usage_errors(void **state)
{
    (void)state;
    assert_run_fails(cmd_run("tune", "dense", "M=8", "N=8", "K=8"), 2, "--log FILE is required");
    assert_run_fails(cmd_run("tune"), 2, "no operator given");
    assert_run_fails(cmd_run("tune", "dense", "M8", "--log", log_path), 2,
                     "'M8' is not NAME=VALUE");
    assert_run_fails(cmd_run("tune", "dense", "M=x", "--log", log_path), 2,
                     "the value of M is neither an integer nor a dtype");
    assert_run_fails(cmd_run("tune", "dense", "M=8", "N=8", "K=8", "dtype=float33", "--log",
                             log_path),
                     2, "'dtype=float33': the value of dtype is neither an integer nor a dtype");
    assert_run_fails(cmd_run("tune", "dense", "--trials", "0", "--log", log_path), 2,
                     "--trials '0'");
    assert_run_fails(cmd_run("tune", "dense", "--rpc", "nohost", "--log", log_path), 2,
                     "is not HOST:PORT");
    assert_run_fails(cmd_run("tune", "dense", "--tracker", "h:1", "--log", log_path), 2,
                     "--tracker needs --key");
    assert_run_fails(cmd_run("tune", "dense", "--bogus", "--log", log_path), 2,
                     "unknown option '--bogus'");
    assert_run_fails(cmd_run("tune", "--plot", log_path), 2, "--plot needs -o");
    assert_run_fails(cmd_run("build", "dense", "M=8", "N=8", "K=8"), 2, "-o KERNEL.so");
    assert_run_fails(cmd_run("run"), 2, "exactly one KERNEL.so");
}

static void test_request_errors(void **state)
{
    (void)state;
    const CmdRun *r = cmd_run("tune", "nosuchop", "M=8", "--log", log_path);
    assert_int_equal(r->status, 1);
    assert_contains(r->err, "nosuchop");
    r = cmd_run("tune", "dense", "M=8", "N=8", "--log", log_path);
    assert_int_equal(r->status, 1);
    assert_contains(r->err, "K");
    r = cmd_run("tune", "dense", "M=8", "N=8", "K=8", "dtype=int16", "--log", log_path);
    assert_int_equal(r->status, 1);
    assert_contains(r->err, "no template for op dense with dtype int16 on target llvm");
    assert_contains(r->err, "dense_pack (float32)");
    r = cmd_run("tune", "--list");
    assert_run_ok(r);
    assert_contains(r->out, "dense_pack             op dense              M N K  dtypes float32  "
                            "needs nothing  priority 0");
    assert_contains(r->out, "conv2d_NCHWc");
    r = cmd_run("tune", "--summary", missing_log);
    assert_int_equal(r->status, 1);
    assert_contains(r->err, missing_log);
    r = cmd_run("run", missing_log);
    assert_int_equal(r->status, 1);
    assert_contains(r->err, missing_log);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PATH-TO-tessera\n", argv[0]);
        return 2;
    }
    cmd_testing_init(argv[1]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tune_writes_log_and_reports_best),
        cmocka_unit_test(test_summary_and_plot),
        cmocka_unit_test(test_build_and_run),
        cmocka_unit_test(test_build_without_record_warns),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_request_errors),
    };
    return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
