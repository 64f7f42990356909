/* bfloat16: the dtype's names and code, the float32 <-> bfloat16 conversions against a
 * table of known values (ties to even, NaN, infinities, float32 subnormals, overflow),
 * the expression rules (a storage type: arithmetic refused with a message), and casts
 * run by both interpreters (te/interp.c and te/loop_interp.c) on the same table. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "te/te_internal.h"
#include "test_util.h"

static float float_of_bits(uint32_t bits)
{
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static uint32_t bits_of_float(float f)
{
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    return bits;
}

/* float32 bits -> the bfloat16 bits of round to nearest even (NaN: quieted, sign and
 * top payload bits kept). */
static const struct {
    uint32_t in;
    uint16_t out;
} narrow_table[] = {
    { 0x3f800000, 0x3f80 }, /* 1 */
    { 0xbfc00000, 0xbfc0 }, /* -1.5 */
    { 0x40490fdb, 0x4049 }, /* pi -> 3.140625 */
    { 0x3f808000, 0x3f80 }, /* tie, kept bit even: down */
    { 0x3f818000, 0x3f82 }, /* tie, kept bit odd: up */
    { 0xbf818000, 0xbf82 }, /* the same, negative */
    { 0x3f808001, 0x3f81 }, /* just above the tie */
    { 0x3f807fff, 0x3f80 }, /* just below the tie */
    { 0x3fffffff, 0x4000 }, /* carry into the exponent */
    { 0x7f7f7fff, 0x7f7f }, /* below the tie under the largest finite */
    { 0x7f7f8000, 0x7f80 }, /* tie on the largest finite (odd): to infinity */
    { 0x7f7fffff, 0x7f80 }, /* FLT_MAX overflows */
    { 0xff7fffff, 0xff80 }, /* -FLT_MAX */
    { 0x7f800000, 0x7f80 }, /* +inf */
    { 0xff800000, 0xff80 }, /* -inf */
    { 0x7fc00000, 0x7fc0 }, /* quiet NaN */
    { 0xffc00000, 0xffc0 }, /* negative quiet NaN */
    { 0x7fc00001, 0x7fc0 }, /* payload below the kept bits: not rounded into */
    { 0x7fffffff, 0x7fff }, /* all-ones NaN: no carry into the sign */
    { 0x7f800001, 0x7fc0 }, /* signaling NaN, payload in the low bits: quieted */
    { 0x7f810000, 0x7fc1 }, /* signaling NaN, payload in the kept bits */
    { 0x00000000, 0x0000 }, /* +0 */
    { 0x80000000, 0x8000 }, /* -0 */
    { 0x00000001, 0x0000 }, /* smallest subnormal: below the tie */
    { 0x00008000, 0x0000 }, /* subnormal tie, even: down */
    { 0x00018000, 0x0002 }, /* subnormal tie, odd: up */
    { 0x00008001, 0x0001 }, /* just above a subnormal tie */
    { 0x807fffff, 0x8080 }, /* largest subnormal rounds up to the smallest normal */
    { 0x00800000, 0x0080 }, /* smallest normal */
};

enum { NUM_NARROW = sizeof narrow_table / sizeof narrow_table[0] };

static void test_dtype_names(void **state)
{
    (void)state;
    char buf[TS_DTYPE_STR_MAX];
    TsDType parsed;
    assert_int_equal(TS_TYPE_BFLOAT, 4); /* DLPack's kDLBfloat */
    assert_true(ts_dtype_is_valid(TS_BFLOAT16));
    assert_false(ts_dtype_is_valid(ts_dtype(TS_TYPE_BFLOAT, 32, 1)));
    assert_false(ts_dtype_is_valid(ts_dtype(TS_TYPE_BFLOAT, 8, 1)));
    assert_string_equal(ts_dtype_str(TS_BFLOAT16, buf), "bfloat16");
    assert_string_equal(ts_dtype_str(ts_dtype_with_lanes(TS_BFLOAT16, 32), buf), "bfloat16x32");
    assert_true(ts_dtype_parse("bfloat16", &parsed));
    assert_true(ts_dtype_eq(parsed, TS_BFLOAT16));
    assert_true(ts_dtype_parse("bfloat16x8", &parsed));
    assert_true(ts_dtype_eq(parsed, ts_dtype_with_lanes(TS_BFLOAT16, 8)));
    assert_false(ts_dtype_parse("bfloat32", &parsed));
    assert_false(ts_dtype_parse("bfloat", &parsed));
    assert_int_equal(ts_dtype_bytes(TS_BFLOAT16), 2);
    /* A floating type, but no arithmetic: like float16. */
    assert_true(ts_dtype_is_float(TS_BFLOAT16));
    assert_true(ts_dtype_is_bfloat(TS_BFLOAT16));
    assert_false(ts_dtype_is_bfloat(TS_FLOAT16));
    assert_true(ts_dtype_is_storage_only(TS_BFLOAT16));
    assert_true(ts_dtype_is_storage_only(TS_FLOAT16));
    assert_false(ts_dtype_is_storage_only(TS_FLOAT32));
    assert_false(ts_dtype_is_int(TS_BFLOAT16));
}

static void test_narrow_table(void **state)
{
    (void)state;
    for (int i = 0; i < NUM_NARROW; i++) {
        uint16_t got = ts_float_to_bfloat16(float_of_bits(narrow_table[i].in));
        if (got != narrow_table[i].out)
            fprintf(stderr, "0x%08x -> 0x%04x, want 0x%04x\n", narrow_table[i].in, got,
                    narrow_table[i].out);
        assert_int_equal(got, narrow_table[i].out);
    }
}

/* Widening is exact (the bits become the upper half); every non-NaN bfloat16 survives
 * the round trip, and the nearest-even rounding agrees with a slow reference (the
 * nearer of the two neighbours, the even one on a tie) on a sweep of float32 values. */
static void test_widen_and_round_trip(void **state)
{
    (void)state;
    assert_true(ts_bfloat16_to_float(0x3f80) == 1.0f);
    assert_true(ts_bfloat16_to_float(0xc040) == -3.0f);
    assert_true(ts_bfloat16_to_float(0x0001) == ldexpf(1.0f, -133)); /* subnormal */
    assert_true(isinf(ts_bfloat16_to_float(0xff80)) && ts_bfloat16_to_float(0xff80) < 0);
    assert_true(isnan(ts_bfloat16_to_float(0x7fc1)));
    for (uint32_t b = 0; b <= 0xffff; b++) {
        float f = ts_bfloat16_to_float((uint16_t)b);
        assert_int_equal(bits_of_float(f), b << 16);
        if (!isnan(f))
            assert_int_equal(ts_float_to_bfloat16(f), b);
    }
    for (uint32_t x = 0x00000007; x < 0x7f800000; x += 0x00012345) {
        float f = float_of_bits(x);
        uint32_t down = x & 0xffff0000u, up = down + 0x10000u;
        double d_down = fabs((double)f - (double)float_of_bits(down));
        double d_up = up >= 0x7f800000u ? INFINITY : fabs((double)float_of_bits(up) - (double)f);
        uint32_t want = d_down < d_up ? down : d_up < d_down ? up : ((down >> 16) & 1) ? up : down;
        if (up == 0x7f800000u && d_down >= ldexp(1.0, 127 - 8)) /* past the largest: inf */
            want = up;
        assert_int_equal(ts_float_to_bfloat16(f), want >> 16);
    }
}

static void test_expression_rules(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    TsTensor *x = ts_placeholder(A, "x", 1, (int64_t[]){ 4 }, TS_BFLOAT16);
    TsAxis *i = ts_axis(A, "i", 4);
    TsExpr *v = ts_at(A, x, ts_var(i));
    assert_non_null(v);
    assert_null(ts_add(A, v, v));
    assert_arena_error(A, TS_EINVAL, "bfloat16 is a storage type, cast it to float32 first");
    assert_null(ts_mul(A, v, v));
    assert_arena_error(A, TS_EINVAL, "storage type");
    assert_null(ts_neg(A, v));
    assert_arena_error(A, TS_EINVAL, "bfloat16");
    assert_null(ts_lt(A, v, v));
    assert_arena_error(A, TS_EINVAL, "storage type");
    assert_null(ts_exp(A, v));
    assert_arena_error(A, TS_EINVAL, "bfloat16");
    /* Mixing with float32 needs a cast; the cast is the way in. */
    assert_null(ts_add(A, v, ts_f32(A, 1.0)));
    assert_arena_error(A, TS_EINVAL, "mismatched dtypes");
    TsExpr *w = ts_mul(A, ts_cast(A, TS_FLOAT32, v), ts_cast(A, TS_FLOAT32, v));
    assert_non_null(w);
    /* A select of bfloat16 values moves bits: allowed. */
    assert_non_null(ts_select(A, ts_bool(A, true), v, v));
    /* A constant rounds to bfloat16 and prints with its suffix. */
    TsExpr *c = ts_float(A, TS_BFLOAT16, 1.0 / 3.0);
    assert_non_null(c);
    assert_true(c->u.float_value == (double)ts_bfloat16_to_float(0x3eab));
    assert_string_equal(te_expr_str(A, c), "0.333984375bf");
    ts_arena_destroy(A);
}

/* out[i] = body(in[i]) run by the reference interpreter and by the loop interpreter on
 * the default lowering; both results are returned. */
static void run_both(TsTensor *in, TsTensor *out, void *in_data, void *ref, void *loop)
{
    TsError err;
    TsBinding bind[2] = { { in, in_data }, { out, ref } };
    TsStatus status = ts_evaluate(1, &out, 2, bind, &err);
    if (status != TS_OK)
        fprintf(stderr, "ts_evaluate: %s\n", err.message);
    assert_int_equal(status, TS_OK);
    TsArena *A = ts_arena_create();
    TsSchedule *sch = ts_schedule_create(A, 1, &out);
    TsLoweredFunc *func = NULL;
    assert_int_equal(ts_lower(sch, "bf16", &func, &err), TS_OK);
    bind[1].data = loop;
    status = ts_lowered_run(func, 2, bind, &err);
    if (status != TS_OK)
        fprintf(stderr, "ts_lowered_run: %s\n", err.message);
    assert_int_equal(status, TS_OK);
    ts_arena_destroy(A);
}

/* float32 -> bfloat16 in both interpreters, on the table: stores round as the
 * conversion does. */
static void test_interpreters_narrow(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    int64_t n = NUM_NARROW;
    TsTensor *in = ts_placeholder(A, "in", 1, &n, TS_FLOAT32);
    TsAxis *i = ts_axis(A, "i", n);
    TsTensor *out = ts_compute(A, "out", 1, &i, ts_cast(A, TS_BFLOAT16, ts_at(A, in, ts_var(i))));
    assert_non_null(out);
    float data[NUM_NARROW];
    uint16_t ref[NUM_NARROW], loop[NUM_NARROW];
    for (int k = 0; k < NUM_NARROW; k++)
        data[k] = float_of_bits(narrow_table[k].in);
    run_both(in, out, data, ref, loop);
    for (int k = 0; k < NUM_NARROW; k++) {
        if (ref[k] != narrow_table[k].out || loop[k] != narrow_table[k].out)
            fprintf(stderr, "0x%08x: interp 0x%04x loop 0x%04x want 0x%04x\n",
                    narrow_table[k].in, ref[k], loop[k], narrow_table[k].out);
        assert_int_equal(ref[k], narrow_table[k].out);
        assert_int_equal(loop[k], narrow_table[k].out);
    }
    ts_arena_destroy(A);
}

/* Casts from integers and float64 go through float32 first (two roundings, as the
 * hardware's float32 conversions do); casts to integers saturate. */
static void test_interpreters_other_casts(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    int64_t n = 4;
    TsTensor *in = ts_placeholder(A, "in", 1, &n, TS_INT32);
    TsAxis *i = ts_axis(A, "i", n);
    TsExpr *x = ts_at(A, in, ts_var(i));
    /* bf(int) back to an integer, times 1000, plus bf(float64(int)) to int8 (saturating). */
    TsExpr *through = ts_cast(A, TS_INT64, ts_cast(A, TS_BFLOAT16, x));
    TsExpr *bf64 = ts_cast(A, TS_BFLOAT16, ts_cast(A, TS_FLOAT64, x));
    TsExpr *narrow = ts_cast(A, TS_INT64, ts_cast(A, TS_INT8, bf64));
    TsExpr *both = ts_add(A, ts_mul(A, through, ts_int(A, TS_INT64, 1000)), narrow);
    TsTensor *out = ts_compute(A, "out", 1, &i, both);
    assert_non_null(out);
    /* 2^24 + 2^16 + 1: straight to bfloat16 would round up to 2^24 + 2^17; through
     * float32 it is 2^24 + 2^16 (a float32 tie to even), then a bfloat16 tie to even:
     * 2^24. 1000 and -129 fit in 8 significant bits; 301 = 0b100101101 is a tie: 300. */
    int32_t data[4] = { 16842753, 1000, -129, 301 };
    int64_t ref[4], loop[4];
    run_both(in, out, data, ref, loop);
    int64_t want[4] = { INT64_C(16777216000) + 127, 1000000 + 127, -129000 - 128, 300000 + 127 };
    for (int k = 0; k < 4; k++) {
        if (ref[k] != want[k] || loop[k] != want[k])
            fprintf(stderr, "%d: interp %lld loop %lld want %lld\n", data[k], (long long)ref[k],
                    (long long)loop[k], (long long)want[k]);
        assert_int_equal(ref[k], want[k]);
        assert_int_equal(loop[k], want[k]);
    }
    ts_arena_destroy(A);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dtype_names),
        cmocka_unit_test(test_narrow_table),
        cmocka_unit_test(test_widen_and_round_trip),
        cmocka_unit_test(test_expression_rules),
        cmocka_unit_test(test_interpreters_narrow),
        cmocka_unit_test(test_interpreters_other_casts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
