/* `tessera tune` and `tessera build` of the bitserial operators (tools/tune_report.c's
 * encoding names, schedule/templates/bitserial_x86.c): bitserial_conv2d at abits=2
 * wbits=1 with the XNOR encoding by name is tuned for a few trials (every candidate
 * checked against the reference), built from its log into a shared object that runs;
 * bitserial_dense at N=768 tunes without a failed candidate (TVM #6894 crashed there);
 * the default encoding needs no argument; an unknown encoding name is refused naming it. */
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
static char log_path[128], so_path[128];

static int make_dir(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/tessera-cmd-bitserial-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(log_path, sizeof log_path, "%s/tune.log", dir);
    snprintf(so_path, sizeof so_path, "%s/k.so", dir);
    return 0;
}

static int remove_dir(void **state)
{
    (void)state;
    unlink(log_path);
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

#define CONV                                                                                    \
    "bitserial_conv2d", "N=1", "C=40", "H=9", "W=9", "K=32", "R=3", "S=3", "stride=1", "pad=1", \
        "abits=2", "wbits=1"

static void test_tune_build_run_conv2d(void **state)
{
    (void)state;
    const CmdRun *r = cmd_run("tune", CONV, "encoding=pm1xpm1", "--trials", "6", "--batch", "3",
                              "--tuner", "random", "--check", "--log", log_path);
    assert_run_ok(r);
    assert_contains(r->err, "bitserial_conv2d_x86 N=1 C=40");
    assert_contains(r->out, "trials:  6 (0 errors)");
    assert_int_equal(count_lines(log_path), 6);
    r = cmd_run("build", CONV, "encoding=pm1xpm1", "--log", log_path, "-o", so_path);
    assert_run_succeeds(r);
    assert_contains(r->out, "from the log");
    assert_contains(r->out, "encoding=2");
    r = cmd_run("run", so_path, "--repeat", "2", "--min-repeat-ms", "1");
    assert_run_succeeds(r);
    /* the weight's and output's blocks follow the tuned oc_bn (16 or 32) */
    assert_contains(r->out, "bitserial_conv2d_x86(data:uint32[1,9,9,2,2];weight:uint32[");
    assert_contains(r->out, ",2,3,3,1,");
    assert_contains(r->out, "bitserial_conv2d:int16[1,");
    /* The default encoding (0/1 x 0/1) has no record in the log: the default config. */
    r = cmd_run("build", CONV, "--log", log_path, "-o", so_path);
    assert_run_ok(r);
    assert_contains(r->out, "the template's default");
}

static void test_dense_768_tunes(void **state)
{
    (void)state;
    const CmdRun *r = cmd_run("tune", "bitserial_dense", "M=4", "N=768", "K=256", "abits=2",
                              "wbits=2", "encoding=01xpm1", "--trials", "4", "--batch", "2",
                              "--tuner", "random", "--check", "--log", log_path);
    assert_run_ok(r);
    assert_contains(r->err, "bitserial_dense_x86 M=4 N=768");
    assert_contains(r->out, "trials:  4 (0 errors)");
    assert_int_equal(count_lines(log_path), 10);
}

static void test_bad_encoding(void **state)
{
    (void)state;
    const CmdRun *r = cmd_run("tune", CONV, "encoding=xnor", "--log", log_path);
    assert_int_equal(r->status, 2);
    assert_contains(r->err, "encoding=xnor");
    r = cmd_run("tune", CONV, "encoding=7", "--trials", "1", "--log", log_path);
    assert_int_equal(r->status, 1);
    assert_contains(r->err, "argument encoding=7 must be in [0, 2]");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PATH-TO-tessera\n", argv[0]);
        return 2;
    }
    cmd_testing_init(argv[1]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tune_build_run_conv2d),
        cmocka_unit_test(test_dense_768_tunes),
        cmocka_unit_test(test_bad_encoding),
    };
    return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
