/* bfloat16 through codegen: cast kernels JIT-compiled for the host, scalar and
 * vectorized (16 and 8 lanes, and a tail the lanes do not divide), compared bit for bit
 * with the reference interpreter: float32 -> bfloat16 on random float32 bit patterns
 * (NaNs, infinities, subnormals and ties included), every bfloat16 bit pattern ->
 * float32, and casts from integers and float64 (through float32) and to saturating
 * integers. The kernel's argument check takes the bfloat16 dtype (code 4) and refuses
 * a float16 buffer in its place. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cg_testing.h"

/* Random float32 bit patterns, one in four replaced by a special value (a tie, a NaN,
 * an infinity, a subnormal, a near-overflow). */
static void fill_float_bits(CgtRng *rng, const TsTensor *t, void *data)
{
    static const uint32_t special[] = {
        0x3f808000, 0x3f818000, 0xbf818000, 0x7f7f8000, 0x7f7fffff, 0x7f800000, 0xff800000,
        0x7fc00000, 0xffc00001, 0x7fffffff, 0x00008000, 0x00018000, 0x807fffff, 0x00000001,
        0x80000000, 0x3fffffff,
    };
    if (!ts_dtype_eq(ts_tensor_dtype(t), TS_FLOAT32)) {
        cgt_fill_default(rng, t, data);
        return;
    }
    int64_t n = ts_tensor_num_elements(t);
    for (int64_t i = 0; i < n; i++) {
        uint64_t r = cgt_rng_next(rng);
        uint32_t bits = (r & 3) == 0 ? special[(r >> 2) % (sizeof special / sizeof special[0])]
                                     : (uint32_t)(r >> 32);
        /* A signaling NaN is quieted on its way through the interpreter's doubles and
         * kept by the kernel's bit operations (both then quiet it the same way when
         * narrowing); the table above has the signaling cases of the conversion. */
        if ((bits & 0x7f800000u) == 0x7f800000u && (bits & 0x007fffffu) != 0)
            bits |= 0x00400000u;
        memcpy((uint32_t *)data + i, &bits, 4);
    }
}

/* Every bfloat16 bit pattern in order (signaling NaNs quieted, as above). */
static void fill_all_bfloat(CgtRng *rng, const TsTensor *t, void *data)
{
    (void)rng;
    int64_t n = ts_tensor_num_elements(t);
    for (int64_t i = 0; i < n; i++) {
        uint16_t bits = (uint16_t)i;
        if ((bits & 0x7f80) == 0x7f80 && (bits & 0x7f) != 0)
            bits |= 0x40;
        ((uint16_t *)data)[i] = bits;
    }
}

typedef TsExpr *(*BodyBuilder)(TsArena *A, TsExpr *i, TsTensor *in);

/* out[i] = body(in[i]) over n, scalar, and split by 16 and by 8 with the inner axis
 * vectorized; each kernel against the oracle. */
static void check_cast(const char *name, TsDType in_dtype, int64_t n, BodyBuilder body,
                       CgtFill fill)
{
    static const int lanes[] = { 1, 16, 8 };
    for (size_t k = 0; k < sizeof lanes / sizeof lanes[0]; k++) {
        TsArena *A = ts_arena_create();
        TsTensor *in = ts_placeholder(A, "in", 1, &n, in_dtype);
        TsAxis *i = ts_axis(A, "i", n);
        TsTensor *out = ts_compute(A, "out", 1, &i, body(A, ts_var(i), in));
        assert_non_null(out);
        TsSchedule *sch = ts_schedule_create(A, 1, &out);
        if (lanes[k] > 1) {
            TsError err;
            TsAxis *o, *v;
            cgt_ok(ts_split(ts_stage(sch, out), i, lanes[k], &o, &v, &err), &err);
            cgt_ok(ts_vectorize(ts_stage(sch, out), v, &err), &err);
        }
        char kernel[64];
        snprintf(kernel, sizeof kernel, "%s_x%d", name, lanes[k]);
        cgt_check_schedule(sch, kernel, 1, &out, 40 + k, fill);
        ts_arena_destroy(A);
    }
}

static TsExpr *narrow_body(TsArena *A, TsExpr *i, TsTensor *in)
{
    return ts_cast(A, TS_BFLOAT16, ts_at(A, in, i));
}

static void test_float_to_bfloat(void **state)
{
    (void)state;
    check_cast("f32_to_bf16", TS_FLOAT32, 4099, narrow_body, fill_float_bits);
}

/* The float32 result as its bits (int32), so the comparison is exact. */
static TsExpr *widen_body(TsArena *A, TsExpr *i, TsTensor *in)
{
    return ts_reinterpret(A, TS_INT32, ts_cast(A, TS_FLOAT32, ts_at(A, in, i)));
}

static void test_bfloat_to_float(void **state)
{
    (void)state;
    check_cast("bf16_to_f32", TS_BFLOAT16, 65536, widen_body, fill_all_bfloat);
}

/* int32 -> bfloat16 (through float32), bfloat16 -> int8 and uint8 (saturating),
 * float64 -> bfloat16 -> float32, packed into one int64 so every part is exact. */
static TsExpr *mixed_body(TsArena *A, TsExpr *i, TsTensor *in)
{
    TsExpr *x = ts_at(A, in, i);
    TsExpr *bf = ts_cast(A, TS_BFLOAT16, x);
    TsExpr *back = ts_cast(A, TS_INT64, bf);
    TsExpr *s8 = ts_cast(A, TS_INT64, ts_cast(A, TS_INT8, bf));
    TsExpr *u8 = ts_cast(A, TS_INT64, ts_cast(A, TS_UINT8, bf));
    TsExpr *f64 = ts_mul(A, ts_cast(A, TS_FLOAT64, x), ts_float(A, TS_FLOAT64, 1.0000001));
    TsExpr *via = ts_cast(A, TS_INT64, ts_cast(A, TS_FLOAT32, ts_cast(A, TS_BFLOAT16, f64)));
    TsExpr *k = ts_int(A, TS_INT64, 1000);
    return ts_add(A, ts_mul(A, ts_add(A, ts_mul(A, back, k), s8), k),
                  ts_add(A, ts_mul(A, u8, ts_int(A, TS_INT64, 7)), ts_sub(A, via, back)));
}

static void fill_ints(CgtRng *rng, const TsTensor *t, void *data)
{
    int64_t n = ts_tensor_num_elements(t);
    for (int64_t i = 0; i < n; i++) {
        int shift = (int)cgt_rng_int(rng, 0, 26);
        ((int32_t *)data)[i] = (int32_t)cgt_rng_int(rng, -(INT64_C(1) << shift), INT64_C(1) << shift);
    }
    ((int32_t *)data)[0] = 16842753; /* 2^24 + 2^16 + 1: through float32 gives 2^24 */
    ((int32_t *)data)[1] = 301;      /* a bfloat16 tie: 300 */
    ((int32_t *)data)[2] = -129;
}

static void test_mixed_casts(void **state)
{
    (void)state;
    check_cast("bf16_mixed", TS_INT32, 1000, mixed_body, fill_ints);
}

/* The entry's argument check takes code 4 and refuses float16 (code 2, 16 bits). */
static void test_argument_check(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    int64_t n = 32;
    TsTensor *in = ts_placeholder(A, "in", 1, &n, TS_FLOAT32);
    TsAxis *i = ts_axis(A, "i", n);
    TsTensor *out = ts_compute(A, "out", 1, &i, narrow_body(A, ts_var(i), in));
    TsSchedule *sch = ts_schedule_create(A, 1, &out);
    TsLoweredFunc *func = NULL;
    TsError err;
    cgt_ok(ts_lower(sch, "bf16_args", &func, &err), &err);
    TsPackedFunc fn = NULL;
    TsJitModule *module = cgt_jit(func, &fn);
    CgtArgs args;
    cgt_args_init(&args, func, 3, NULL);
    assert_int_equal(args.dl[1].dtype.code, 4);
    assert_int_equal(cgt_call(fn, &args), 0);
    args.dl[1].dtype = TS_FLOAT16;
    assert_int_not_equal(cgt_call(fn, &args), 0);
    const char *message = ts_runtime_last_error();
    if (!strstr(message, "bfloat16"))
        fprintf(stderr, "message: %s\n", message);
    assert_non_null(strstr(message, "bfloat16"));
    cgt_args_free(&args);
    ts_jit_release(module);
    ts_arena_destroy(A);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_float_to_bfloat),
        cmocka_unit_test(test_bfloat_to_float),
        cmocka_unit_test(test_mixed_casts),
        cmocka_unit_test(test_argument_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
