/* Data types: names, parsing, sizes, DLPack codes, and the value conversions shared by
 * the interpreter (integer wrap-around, float16 rounding). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "te/te_internal.h"
#include "test_util.h"

static void test_names_round_trip(void **state)
{
    (void)state;
    const struct { TsDType t; const char *name; size_t bytes; } cases[] = {
        { TS_BOOL, "bool", 1 },       { TS_INT8, "int8", 1 },       { TS_INT16, "int16", 2 },
        { TS_INT32, "int32", 4 },     { TS_INT64, "int64", 8 },     { TS_UINT8, "uint8", 1 },
        { TS_UINT16, "uint16", 2 },   { TS_UINT32, "uint32", 4 },   { TS_UINT64, "uint64", 8 },
        { TS_FLOAT16, "float16", 2 }, { TS_FLOAT32, "float32", 4 }, { TS_FLOAT64, "float64", 8 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[TS_DTYPE_STR_MAX];
        TsDType parsed;
        assert_true(ts_dtype_is_valid(cases[i].t));
        assert_string_equal(ts_dtype_str(cases[i].t, buf), cases[i].name);
        assert_true(ts_dtype_parse(cases[i].name, &parsed));
        assert_true(ts_dtype_eq(parsed, cases[i].t));
        assert_int_equal(ts_dtype_bytes(cases[i].t), cases[i].bytes);
    }
}

static void test_lanes(void **state)
{
    (void)state;
    char buf[TS_DTYPE_STR_MAX];
    TsDType v = ts_dtype_with_lanes(TS_FLOAT32, 16), parsed;
    assert_string_equal(ts_dtype_str(v, buf), "float32x16");
    assert_int_equal(ts_dtype_bytes(v), 64);
    assert_true(ts_dtype_parse("int8x64", &parsed));
    assert_true(ts_dtype_eq(parsed, ts_dtype_with_lanes(TS_INT8, 64)));
    assert_true(ts_dtype_parse("boolx4", &parsed));
    assert_int_equal(parsed.lanes, 4);
}

static void test_dlpack_codes(void **state)
{
    (void)state;
    /* DLPack: kDLInt = 0, kDLUInt = 1, kDLFloat = 2, kDLBool = 6. */
    assert_int_equal(TS_INT32.code, 0);
    assert_int_equal(TS_UINT8.code, 1);
    assert_int_equal(TS_FLOAT32.code, 2);
    assert_int_equal(TS_BOOL.code, 6);
}

static void test_invalid(void **state)
{
    (void)state;
    char buf[TS_DTYPE_STR_MAX];
    TsDType parsed;
    assert_false(ts_dtype_is_valid(ts_dtype(TS_TYPE_INT, 7, 1)));
    assert_false(ts_dtype_is_valid(ts_dtype(TS_TYPE_FLOAT, 8, 1)));
    assert_false(ts_dtype_is_valid(ts_dtype(TS_TYPE_BOOL, 1, 1)));
    assert_false(ts_dtype_is_valid(ts_dtype(5, 32, 1)));
    assert_false(ts_dtype_is_valid(ts_dtype(TS_TYPE_FLOAT, 32, 0)));
    assert_string_equal(ts_dtype_str(ts_dtype(9, 3, 1), buf), "invalid(9,3,1)");
    const char *bad[] = { "", "int", "int7", "float8", "floatx4", "int32x", "int32x0",
                          "uint32 ", "bool8", "complex64", "int32x2000" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(ts_dtype_parse(bad[i], &parsed));
    assert_false(ts_dtype_parse(NULL, &parsed));
}

static void test_wrap_int(void **state)
{
    (void)state;
    assert_int_equal(te_wrap_int(TS_INT8, 128), -128);
    assert_int_equal(te_wrap_int(TS_INT8, 255), -1);
    assert_int_equal(te_wrap_int(TS_UINT8, -1), 255);
    assert_int_equal(te_wrap_int(TS_INT16, 40000), 40000 - 65536);
    assert_int_equal(te_wrap_int(TS_UINT32, -1), 4294967295LL);
    assert_int_equal(te_wrap_int(TS_INT32, 2147483648LL), -2147483648LL);
    assert_int_equal(te_wrap_int(TS_BOOL, 7), 1);
    assert_int_equal(te_wrap_int(TS_INT64, INT64_MIN), INT64_MIN);
}

static void test_half(void **state)
{
    (void)state;
    static const struct { float f; uint16_t h; } exact[] = {
        { 0.0f, 0x0000 },  { -0.0f, 0x8000 },         { 1.0f, 0x3c00 },  { -2.0f, 0xc000 },
        { 65504.0f, 0x7bff }, { 6.103515625e-05f, 0x0400 }, /* smallest normal */
        { 5.9604644775390625e-08f, 0x0001 },          /* smallest subnormal */
        { 0.5f, 0x3800 },
    };
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++) {
        assert_int_equal(te_float_to_half(exact[i].f), exact[i].h);
        assert_true(te_half_to_float(exact[i].h) == exact[i].f);
    }
    /* Round to nearest even: 1 + 2^-11 is halfway between 1 and 1 + 2^-10. */
    assert_int_equal(te_float_to_half(1.0f + 0x1p-11f), 0x3c00);
    assert_int_equal(te_float_to_half(1.0f + 3 * 0x1p-11f), 0x3c02);
    assert_int_equal(te_float_to_half(1.0f + 0x1p-11f + 0x1p-20f), 0x3c01);
    /* A double just above a tie must round up, which rounding through float would miss. */
    assert_int_equal(te_double_to_half(1.0 + 0x1p-11 + 0x1p-40), 0x3c01);
    assert_int_equal(te_float_to_half(65520.0f), 0x7c00); /* overflow to infinity */
    assert_int_equal(te_float_to_half(1e-9f), 0x0000);    /* underflow to zero */
    assert_true(isnan(te_half_to_float(te_float_to_half(NAN))));
    assert_true(isinf(te_half_to_float(0x7c00)));
    /* Every half survives half -> float -> half. */
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff))
            continue; /* NaN payloads are not preserved */
        assert_int_equal(te_float_to_half(te_half_to_float((uint16_t)h)), h);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_round_trip), cmocka_unit_test(test_lanes),
        cmocka_unit_test(test_dlpack_codes),     cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_wrap_int),         cmocka_unit_test(test_half),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
