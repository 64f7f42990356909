/* Reading module signatures: every field of a well-formed signature, and each kind of
 * damage refused with TS_EPROTO naming the part at fault. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "rt_testing.h"

static void test_reads_every_argument(void **state)
{
    (void)state;
    TsArgSpec args[4];
    int n = -1;
    TsError err;
    assert_int_equal(ts_signature_parse("A:float32[64,32];idx:int8x4[7];C:float64[1,2,3,4,5]", 4,
                                        args, &n, &err),
                     TS_OK);
    assert_int_equal(n, 3);
    assert_string_equal(args[0].name, "A");
    assert_true(ts_dtype_eq(args[0].dtype, TS_FLOAT32));
    assert_int_equal(args[0].ndim, 2);
    assert_int_equal(args[0].shape[0], 64);
    assert_int_equal(args[0].shape[1], 32);
    assert_string_equal(args[1].name, "idx");
    assert_true(ts_dtype_eq(args[1].dtype, ts_dtype(TS_TYPE_INT, 8, 4)));
    assert_int_equal(args[1].ndim, 1);
    assert_int_equal(args[1].shape[0], 7);
    assert_int_equal(args[2].ndim, 5);
    assert_int_equal(args[2].shape[4], 5);
    assert_int_equal(ts_signature_parse("", 4, args, &n, &err), TS_OK);
    assert_int_equal(n, 0);
}

/* bfloat16 (DLPack code 4) by its name, as the export writes it. */
static void test_reads_bfloat16(void **state)
{
    (void)state;
    TsArgSpec args[2];
    int n = -1;
    TsError err;
    assert_int_equal(ts_signature_parse("W:bfloat16[16,32];Y:float32[16]", 2, args, &n, &err),
                     TS_OK);
    assert_int_equal(n, 2);
    assert_true(ts_dtype_eq(args[0].dtype, TS_BFLOAT16));
    assert_int_equal(args[0].dtype.code, 4);
    assert_int_equal(args[0].shape[1], 32);
}

static void expect_refused(const char *signature, int max_args, const char *needle)
{
    TsArgSpec args[2];
    int n;
    TsError err;
    assert_status(ts_signature_parse(signature, max_args, args, &n, &err), err, TS_EPROTO,
                  needle);
}

static void test_refuses_damage(void **state)
{
    (void)state;
    expect_refused("A:float32", 2, "'A:float32' is not NAME:DTYPE[SHAPE]");
    expect_refused(":float32[4]", 2, "is not NAME:DTYPE[SHAPE]");
    expect_refused("A:bfloat32[4]", 2, "unknown dtype 'bfloat32'");
    expect_refused("A:float33[4]", 2, "unknown dtype 'float33'");
    expect_refused("A:float32[4,0]", 2, "bad shape '[4,0]'");
    expect_refused("A:float32[4,x]", 2, "bad shape");
    expect_refused("A:float32[4]x", 2, "is not NAME:DTYPE[SHAPE]");
    expect_refused("A:float32[1,1,1,1,1,1,1,1,1]", 2, "more than 8 dimensions");
    expect_refused("A:float32[1];B:float32[1];C:float32[1]", 2, "more than 2 arguments");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reads_every_argument),
        cmocka_unit_test(test_reads_bfloat16),
        cmocka_unit_test(test_refuses_damage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
