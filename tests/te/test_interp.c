/* The reference interpreter against hand-written C for each rule of the IR's semantics
 * (te.h): integer wrap-around, truncating and floor division, shifts, casts, float32
 * rounding, float16 storage, lazy if_then_else, reductions with conditions and custom
 * combiners, and the errors of evaluation (bounds, division by zero, bindings). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "te/te_internal.h"
#include "test_util.h"

/* out[i] = op(a[i], b[i]) over n elements of dtype t. */
typedef TsExpr *(*BinaryBuilder)(TsArena *, TsExpr *, TsExpr *);

static TsStatus eval_binary(BinaryBuilder op, TsDType t, int n, void *a, void *b, void *out,
                            TsError *err)
{
    TsArena *A = ts_arena_create();
    TsTensor *ta = ts_placeholder(A, "a", 1, (int64_t[]){ n }, t);
    TsTensor *tb = ts_placeholder(A, "b", 1, (int64_t[]){ n }, t);
    TsAxis *i = ts_axis(A, "i", n);
    TsTensor *c = ts_compute(A, "c", 1, &i, op(A, ts_at(A, ta, ts_var(i)), ts_at(A, tb, ts_var(i))));
    TsStatus s = ts_arena_check(A, err);
    if (s == TS_OK)
        s = ts_evaluate(1, &c, 3, (TsBinding[]){ { ta, a }, { tb, b }, { c, out } }, err);
    ts_arena_destroy(A);
    return s;
}

static void test_integer_wrap_around(void **state)
{
    (void)state;
    TsError err = { 0 };
    int8_t a8[] = { 100, -100, 127, -128 }, b8[] = { 100, -100, 1, -1 }, c8[4];
    assert_int_equal(eval_binary(ts_add, TS_INT8, 4, a8, b8, c8, &err), TS_OK);
    int8_t want_add[] = { -56, 56, -128, 127 };
    assert_memory_equal(c8, want_add, sizeof c8);
    uint8_t ua[] = { 16, 255, 0, 200 }, ub[] = { 16, 2, 1, 3 }, uc[4];
    assert_int_equal(eval_binary(ts_mul, TS_UINT8, 4, ua, ub, uc, &err), TS_OK);
    uint8_t want_mul[] = { 0, 254, 0, 88 };
    assert_memory_equal(uc, want_mul, sizeof uc);
    assert_int_equal(eval_binary(ts_sub, TS_UINT8, 4, ub, ua, uc, &err), TS_OK);
    uint8_t want_sub[] = { 0, 3, 1, 59 };
    assert_memory_equal(uc, want_sub, sizeof uc);
    int32_t a32[] = { INT32_MAX, INT32_MIN }, b32[] = { 1, -1 }, c32[2];
    assert_int_equal(eval_binary(ts_add, TS_INT32, 2, a32, b32, c32, &err), TS_OK);
    assert_int_equal(c32[0], INT32_MIN);
    assert_int_equal(c32[1], INT32_MAX);
}

/* C's truncating division, and floor division written independently. */
static int64_t floordiv_ref(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (q * b != a && ((a < 0) ^ (b < 0))) ? q - 1 : q;
}

static void test_division_rules(void **state)
{
    (void)state;
    enum { N = 13 * 12 };
    int32_t a[N], b[N], q[N], r[N], fq[N], fr[N];
    int n = 0;
    for (int x = -6; x <= 6; x++)
        for (int y = -6; y <= 6; y++)
            if (y != 0) {
                a[n] = x;
                b[n] = y;
                n++;
            }
    assert_int_equal(n, N);
    TsError err = { 0 };
    assert_int_equal(eval_binary(ts_div, TS_INT32, N, a, b, q, &err), TS_OK);
    assert_int_equal(eval_binary(ts_mod, TS_INT32, N, a, b, r, &err), TS_OK);
    assert_int_equal(eval_binary(ts_floordiv, TS_INT32, N, a, b, fq, &err), TS_OK);
    assert_int_equal(eval_binary(ts_floormod, TS_INT32, N, a, b, fr, &err), TS_OK);
    for (int i = 0; i < N; i++) {
        assert_int_equal(q[i], a[i] / b[i]);
        assert_int_equal(r[i], a[i] % b[i]);
        assert_int_equal(fq[i], floordiv_ref(a[i], b[i]));
        assert_int_equal(fr[i], a[i] - floordiv_ref(a[i], b[i]) * b[i]);
        /* The floor remainder has the divisor's sign. */
        assert_true(fr[i] == 0 || (fr[i] < 0) == (b[i] < 0));
    }
    /* INT_MIN / -1 wraps; INT_MIN % -1 is 0. */
    int32_t m[] = { INT32_MIN }, neg1[] = { -1 }, out[1];
    assert_int_equal(eval_binary(ts_div, TS_INT32, 1, m, neg1, out, &err), TS_OK);
    assert_int_equal(out[0], INT32_MIN);
    assert_int_equal(eval_binary(ts_floormod, TS_INT32, 1, m, neg1, out, &err), TS_OK);
    assert_int_equal(out[0], 0);
    /* Unsigned division is unsigned: 0xFFFFFFFF / 2. */
    uint32_t ua[] = { 0xFFFFFFFFu }, ub[] = { 2 }, uo[1];
    assert_int_equal(eval_binary(ts_floordiv, TS_UINT32, 1, ua, ub, uo, &err), TS_OK);
    assert_int_equal(uo[0], 0x7FFFFFFFu);
}

static void test_division_by_zero_is_an_error(void **state)
{
    (void)state;
    int32_t a[] = { 1, 2, 3 }, b[] = { 1, 0, 1 }, c[3];
    TsError err = { 0 };
    assert_int_equal(eval_binary(ts_floordiv, TS_INT32, 3, a, b, c, &err), TS_EINVAL);
    assert_non_null(strstr(err.message, "evaluating c[1]: integer division by zero"));
}

static void test_shifts(void **state)
{
    (void)state;
    TsError err = { 0 };
    int8_t a[] = { -128, -3, 5, 1 }, b[] = { 7, 1, 1, 7 }, c[4];
    assert_int_equal(eval_binary(ts_shr, TS_INT8, 4, a, b, c, &err), TS_OK);
    int8_t want_shr[] = { -1, -2, 2, 0 }; /* arithmetic */
    assert_memory_equal(c, want_shr, sizeof c);
    assert_int_equal(eval_binary(ts_shl, TS_INT8, 4, a, b, c, &err), TS_OK);
    int8_t want_shl[] = { 0, -6, 10, -128 };
    assert_memory_equal(c, want_shl, sizeof c);
    uint8_t ua[] = { 0x80 }, ub[] = { 7 }, uc[1];
    assert_int_equal(eval_binary(ts_shr, TS_UINT8, 1, ua, ub, uc, &err), TS_OK);
    assert_int_equal(uc[0], 1); /* logical */
    int8_t big[] = { 8 };
    assert_int_equal(eval_binary(ts_shl, TS_INT8, 1, a, big, c, &err), TS_EINVAL);
    assert_non_null(strstr(err.message, "shift by 8 is outside [0, 8)"));
    int8_t negative[] = { -1 };
    assert_int_equal(eval_binary(ts_shr, TS_INT8, 1, a, negative, c, &err), TS_EINVAL);
    assert_non_null(strstr(err.message, "shift by -1 is outside [0, 8)"));
}

static void test_min_max_compare(void **state)
{
    (void)state;
    TsError err = { 0 };
    uint64_t a[] = { UINT64_MAX, 1 }, b[] = { 2, 3 }, c[2];
    assert_int_equal(eval_binary(ts_max, TS_UINT64, 2, a, b, c, &err), TS_OK);
    assert_true(c[0] == UINT64_MAX && c[1] == 3);
    assert_int_equal(eval_binary(ts_min, TS_UINT64, 2, a, b, c, &err), TS_OK);
    assert_true(c[0] == 2 && c[1] == 1);
    float fa[] = { NAN, 1.0f, -0.5f }, fb[] = { 2.0f, NAN, 0.25f }, fc[3];
    assert_int_equal(eval_binary(ts_min, TS_FLOAT32, 3, fa, fb, fc, &err), TS_OK);
    assert_true(fc[0] == 2.0f && fc[1] == 1.0f && fc[2] == -0.5f);
    /* Comparisons give bool bytes 0/1; NaN compares false. */
    unsigned char lt[3];
    assert_int_equal(eval_binary(ts_lt, TS_FLOAT32, 3, fa, fb, lt, &err), TS_OK);
    assert_true(lt[0] == 0 && lt[1] == 0 && lt[2] == 1);
    int8_t sa[] = { -1 }, sb[] = { 1 };
    unsigned char slt[1];
    assert_int_equal(eval_binary(ts_lt, TS_INT8, 1, sa, sb, slt, &err), TS_OK);
    assert_int_equal(slt[0], 1);
}

/* out[i] = cast<to>(in[i]) */
static void eval_cast(TsDType from, TsDType to, int n, void *in, void *out)
{
    TsArena *A = ts_arena_create();
    TsTensor *x = ts_placeholder(A, "x", 1, (int64_t[]){ n }, from);
    TsAxis *i = ts_axis(A, "i", n);
    TsTensor *y = ts_compute(A, "y", 1, &i, ts_cast(A, to, ts_at(A, x, ts_var(i))));
    TsError err = { 0 };
    assert_non_null(y);
    assert_int_equal(ts_evaluate(1, &y, 2, (TsBinding[]){ { x, in }, { y, out } }, &err), TS_OK);
    ts_arena_destroy(A);
}

static void test_casts(void **state)
{
    (void)state;
    float f[] = { 1.9f, -1.9f, 300.0f, -300.0f, NAN, 127.5f };
    int8_t i8[6];
    eval_cast(TS_FLOAT32, TS_INT8, 6, f, i8);
    int8_t want_i8[] = { 1, -1, 127, -128, 0, 127 }; /* toward zero, saturating */
    assert_memory_equal(i8, want_i8, sizeof i8);
    uint8_t u8[6];
    eval_cast(TS_FLOAT32, TS_UINT8, 6, f, u8);
    uint8_t want_u8[] = { 1, 0, 255, 0, 0, 127 };
    assert_memory_equal(u8, want_u8, sizeof u8);
    double big[] = { 1e300, -1e300, 9223372036854775807.0 };
    int64_t i64[3];
    eval_cast(TS_FLOAT64, TS_INT64, 3, big, i64);
    assert_true(i64[0] == INT64_MAX && i64[1] == INT64_MIN && i64[2] == INT64_MAX);
    int32_t wide[] = { 300, -129, 65535 };
    int8_t narrow[3];
    eval_cast(TS_INT32, TS_INT8, 3, wide, narrow);
    int8_t want_narrow[] = { 44, 127, -1 }; /* truncation */
    assert_memory_equal(narrow, want_narrow, sizeof narrow);
    int8_t s[] = { -1 };
    uint32_t u32[1];
    eval_cast(TS_INT8, TS_UINT32, 1, s, u32);
    assert_int_equal(u32[0], 0xFFFFFFFFu); /* sign extension, then wrap */
    double d[] = { 0.1, 1.0 / 3.0 };
    float d32[2];
    eval_cast(TS_FLOAT64, TS_FLOAT32, 2, d, d32);
    assert_true(d32[0] == (float)0.1 && d32[1] == (float)(1.0 / 3.0));
    int64_t exact[] = { (INT64_C(1) << 53) + 1 }; /* needs one rounding, not two */
    float e32[1];
    eval_cast(TS_INT64, TS_FLOAT32, 1, exact, e32);
    assert_true(e32[0] == (float)exact[0]);
    float to_bool_in[] = { 0.0f, -0.0f, 0.5f, NAN };
    unsigned char bools[4];
    eval_cast(TS_FLOAT32, TS_BOOL, 4, to_bool_in, bools);
    unsigned char want_bools[] = { 0, 0, 1, 1 };
    assert_memory_equal(bools, want_bools, sizeof bools);
}

static void test_float16_storage(void **state)
{
    (void)state;
    /* y = half(float(x) * 3) */
    TsArena *A = ts_arena_create();
    enum { N = 5 };
    TsTensor *x = ts_placeholder(A, "x", 1, (int64_t[]){ N }, TS_FLOAT16);
    TsAxis *i = ts_axis(A, "i", N);
    TsExpr *body = ts_cast(A, TS_FLOAT16, ts_mul(A, ts_cast(A, TS_FLOAT32, ts_at(A, x, ts_var(i))),
                                                 ts_f32(A, 3.0)));
    TsTensor *y = ts_compute(A, "y", 1, &i, body);
    assert_non_null(y);
    float in[N] = { 1.0f, 0.1f, -2.5f, 30000.0f, 1e-5f };
    uint16_t xh[N], yh[N];
    for (int k = 0; k < N; k++)
        xh[k] = te_float_to_half(in[k]);
    TsError err = { 0 };
    assert_int_equal(ts_evaluate(1, &y, 2, (TsBinding[]){ { x, xh }, { y, yh } }, &err), TS_OK);
    for (int k = 0; k < N; k++)
        assert_int_equal(yh[k], te_float_to_half(te_half_to_float(xh[k]) * 3.0f));
    assert_int_equal(yh[3], 0x7c00); /* 90000 overflows to infinity */
    ts_arena_destroy(A);
}

static void test_float32_rounding_matches_c(void **state)
{
    (void)state;
    /* s = sum_k a[k] * b[k] + sqrt/exp terms, accumulated in float in k order. */
    enum { K = 97 };
    TsArena *A = ts_arena_create();
    TsTensor *a = ts_placeholder(A, "a", 1, (int64_t[]){ K }, TS_FLOAT32);
    TsTensor *b = ts_placeholder(A, "b", 1, (int64_t[]){ K }, TS_FLOAT32);
    TsAxis *k = ts_reduce_axis(A, "k", K);
    TsExpr *ak = ts_at(A, a, ts_var(k)), *bk = ts_at(A, b, ts_var(k));
    TsExpr *term = ts_add(A, ts_mul(A, ak, bk),
                          ts_add(A, ts_sqrt(A, ts_fabs(A, ak)),
                                 ts_add(A, ts_exp(A, bk), ts_sigmoid(A, ak))));
    TsTensor *s = ts_compute(A, "s", 0, NULL, ts_sum(A, term, 1, &k, NULL));
    assert_non_null(s);
    float av[K], bv[K], got;
    for (int n = 0; n < K; n++) {
        av[n] = (float)((n * 37) % 23) / 7.0f - 1.5f;
        bv[n] = (float)((n * 11) % 17) / 13.0f - 0.5f;
    }
    TsError err = { 0 };
    assert_int_equal(ts_evaluate(1, &s, 3, (TsBinding[]){ { a, av }, { b, bv }, { s, &got } },
                                 &err), TS_OK);
    float want = 0.0f;
    for (int n = 0; n < K; n++) {
        float sig = 1.0f / (1.0f + expf(-av[n]));
        want = want + (av[n] * bv[n] + (sqrtf(fabsf(av[n])) + (expf(bv[n]) + sig)));
    }
    assert_true(got == want);
    ts_arena_destroy(A);
}

static void test_if_then_else_guards_padding(void **state)
{
    (void)state;
    /* p[i] = i in [1, 5) ? x[i - 1] : -1, over i in [0, 6) */
    TsArena *A = ts_arena_create();
    TsTensor *x = ts_placeholder(A, "x", 1, (int64_t[]){ 4 }, TS_INT32);
    TsAxis *i = ts_axis(A, "i", 6);
    TsExpr *in = ts_and(A, ts_ge(A, ts_var(i), ts_i32(A, 1)), ts_lt(A, ts_var(i), ts_i32(A, 5)));
    TsExpr *body = ts_if_then_else(A, in, ts_at(A, x, ts_sub(A, ts_var(i), ts_i32(A, 1))),
                                   ts_i32(A, -1));
    TsTensor *p = ts_compute(A, "p", 1, &i, body);
    assert_non_null(p);
    int32_t xv[] = { 10, 20, 30, 40 }, pv[6];
    TsError err = { 0 };
    assert_int_equal(ts_evaluate(1, &p, 2, (TsBinding[]){ { x, xv }, { p, pv } }, &err), TS_OK);
    int32_t want[] = { -1, 10, 20, 30, 40, -1 };
    assert_memory_equal(pv, want, sizeof pv);
    ts_arena_destroy(A);
}

static void test_out_of_bounds_read_is_an_error(void **state)
{
    (void)state;
    /* g[i] = x[idx[i]]: a data-dependent index that leaves x. */
    TsArena *A = ts_arena_create();
    TsTensor *x = ts_placeholder(A, "x", 1, (int64_t[]){ 4 }, TS_FLOAT32);
    TsTensor *idx = ts_placeholder(A, "idx", 1, (int64_t[]){ 3 }, TS_INT32);
    TsAxis *i = ts_axis(A, "i", 3);
    TsTensor *g = ts_compute(A, "g", 1, &i, ts_at(A, x, ts_at(A, idx, ts_var(i))));
    assert_non_null(g);
    float xv[4] = { 1, 2, 3, 4 }, gv[3];
    int32_t iv[3] = { 3, 0, 10 };
    TsError err = { 0 };
    assert_int_equal(ts_evaluate(1, &g, 3, (TsBinding[]){ { x, xv }, { idx, iv }, { g, gv } },
                                 &err), TS_EINVAL);
    assert_non_null(strstr(err.message, "evaluating g[2]: index 10 of dimension 0 of x is "
                                        "outside [0, 4)"));
    ts_arena_destroy(A);
}

static void test_reductions(void **state)
{
    (void)state;
    enum { N = 5 };
    TsArena *A = ts_arena_create();
    TsTensor *x = ts_placeholder(A, "x", 2, (int64_t[]){ N, N }, TS_INT8);
    /* Lower-triangular row sums in int32: t[i] = sum_{k <= i} x[i, k]. */
    TsAxis *i = ts_axis(A, "i", N);
    TsAxis *k = ts_reduce_axis(A, "k", N);
    TsExpr *src = ts_cast(A, TS_INT32, ts_at(A, x, ts_var(i), ts_var(k)));
    TsTensor *t = ts_compute(A, "t", 1, &i, ts_sum(A, src, 1, &k, ts_le(A, ts_var(k), ts_var(i))));
    /* Column max and min in int8, and the product of a column in int8 (wraps). */
    TsAxis *j = ts_axis(A, "j", N), *r = ts_reduce_axis(A, "r", N);
    TsTensor *mx = ts_compute(A, "mx", 1, &j, ts_reduce_max(A, ts_at(A, x, ts_var(r), ts_var(j)),
                                                            1, &r, NULL));
    TsAxis *j2 = ts_axis(A, "j", N), *r2 = ts_reduce_axis(A, "r", N);
    TsTensor *mn = ts_compute(A, "mn", 1, &j2,
                              ts_reduce_min(A, ts_at(A, x, ts_var(r2), ts_var(j2)), 1, &r2, NULL));
    TsAxis *j3 = ts_axis(A, "j", N), *r3 = ts_reduce_axis(A, "r", N);
    TsTensor *pr = ts_compute(A, "pr", 1, &j3,
                              ts_prod(A, ts_at(A, x, ts_var(r3), ts_var(j3)), 1, &r3, NULL));
    /* A condition that never holds leaves the identity: max of nothing is INT8_MIN. */
    TsAxis *j4 = ts_axis(A, "j", N), *r4 = ts_reduce_axis(A, "r", N);
    TsTensor *none = ts_compute(A, "none", 1, &j4,
                                ts_reduce_max(A, ts_at(A, x, ts_var(r4), ts_var(j4)), 1, &r4,
                                              ts_bool(A, false)));
    assert_true(ts_arena_ok(A));
    int8_t xv[N * N];
    for (int n = 0; n < N * N; n++)
        xv[n] = (int8_t)((n * 53) % 251 - 125);
    int32_t tv[N];
    int8_t mxv[N], mnv[N], prv[N], nonev[N];
    TsTensor *outs[] = { t, mx, mn, pr, none };
    TsError err = { 0 };
    assert_int_equal(ts_evaluate(5, outs, 6,
                                 (TsBinding[]){ { x, xv }, { t, tv }, { mx, mxv }, { mn, mnv },
                                                { pr, prv }, { none, nonev } },
                                 &err), TS_OK);
    for (int a = 0; a < N; a++) {
        int32_t sum = 0;
        int8_t hi = INT8_MIN, lo = INT8_MAX;
        uint8_t prod = 1;
        for (int b = 0; b <= a; b++)
            sum += xv[a * N + b];
        for (int b = 0; b < N; b++) {
            int8_t v = xv[b * N + a];
            hi = v > hi ? v : hi;
            lo = v < lo ? v : lo;
            prod = (uint8_t)(prod * (uint8_t)v);
        }
        assert_int_equal(tv[a], sum);
        assert_int_equal(mxv[a], hi);
        assert_int_equal(mnv[a], lo);
        assert_int_equal(prv[a], (int8_t)prod);
        assert_int_equal(nonev[a], INT8_MIN);
    }
    ts_arena_destroy(A);
}

static void test_custom_reducer_and_two_axes(void **state)
{
    (void)state;
    /* The element of largest magnitude (keeping its sign) over a 3 x 4 window. */
    TsArena *A = ts_arena_create();
    TsTensor *x = ts_placeholder(A, "x", 2, (int64_t[]){ 3, 4 }, TS_FLOAT64);
    TsExpr *l = ts_variable(A, "l", TS_FLOAT64), *r = ts_variable(A, "r", TS_FLOAT64);
    TsExpr *pick = ts_select(A, ts_ge(A, ts_fabs(A, l), ts_fabs(A, r)), l, r);
    TsReducer *absmax = ts_reducer(A, "absmax", l, r, pick, ts_float(A, TS_FLOAT64, 0.0));
    TsAxis *a = ts_reduce_axis(A, "a", 3), *b = ts_reduce_axis(A, "b", 4);
    TsTensor *m = ts_compute(A, "m", 0, NULL,
                             ts_reduce(A, absmax, ts_at(A, x, ts_var(a), ts_var(b)), 2,
                                       (TsAxis *[]){ a, b }, NULL));
    assert_non_null(m);
    assert_string_equal(ts_dag_str(A, 1, &m),
                        "placeholder x: float64[3, 4]\n"
                        "compute m[]: float64[] = absmax(x[a, b], axis=[a:3, b:4])\n");
    double xv[12] = { 1, -2, 3, 0.5, -7.25, 4, 2, 1, 6, -1, 0, 7 }, mv;
    TsError err = { 0 };
    assert_int_equal(ts_evaluate(1, &m, 2, (TsBinding[]){ { x, xv }, { m, &mv } }, &err), TS_OK);
    assert_true(mv == -7.25);
    ts_arena_destroy(A);
}

static void test_bool_and_popcount(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    TsTensor *x = ts_placeholder(A, "x", 1, (int64_t[]){ 4 }, TS_INT8);
    TsTensor *m = ts_placeholder(A, "m", 1, (int64_t[]){ 4 }, TS_BOOL);
    TsAxis *i = ts_axis(A, "i", 4);
    /* y = m ? popcount(x) : popcount(~x ^ 0x0f) */
    TsExpr *xi = ts_at(A, x, ts_var(i));
    TsExpr *alt = ts_popcount(A, ts_bitxor(A, ts_bitnot(A, xi), ts_int(A, TS_INT8, 0x0f)));
    TsTensor *y = ts_compute(A, "y", 1, &i,
                             ts_select(A, ts_at(A, m, ts_var(i)), ts_popcount(A, xi), alt));
    assert_non_null(y);
    int8_t xv[] = { -1, 0, 0x55, -128 }, yv[4];
    unsigned char mv[] = { 1, 0, 2 /* any non-zero byte is true */, 0 };
    TsError err = { 0 };
    assert_int_equal(ts_evaluate(1, &y, 3, (TsBinding[]){ { x, xv }, { m, mv }, { y, yv } }, &err),
                     TS_OK);
    int8_t want[] = { 8, 4, 4, 3 }; /* ~0 ^ 0x0f = 0xf0; ~0x80 ^ 0x0f = 0x70 */
    assert_memory_equal(yv, want, sizeof yv);
    ts_arena_destroy(A);
}

static void test_intermediates_and_binding_errors(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    TsTensor *x = ts_placeholder(A, "x", 1, (int64_t[]){ 3 }, TS_FLOAT32);
    TsAxis *i = ts_axis(A, "i", 3), *j = ts_axis(A, "j", 3);
    TsTensor *sq = ts_compute(A, "sq", 1, &i, ts_mul(A, ts_at(A, x, ts_var(i)),
                                                       ts_at(A, x, ts_var(i))));
    TsTensor *y = ts_compute(A, "y", 1, &j, ts_add(A, ts_at(A, sq, ts_var(j)), ts_f32(A, 1)));
    TsTensor *unrelated = ts_placeholder(A, "z", 1, (int64_t[]){ 3 }, TS_FLOAT32);
    assert_non_null(y);
    float xv[3] = { 1, 2, 3 }, sqv[3], yv[3], zv[3];
    TsError err = { 0 };
    /* Unbound intermediate: computed in a temporary. */
    assert_int_equal(ts_evaluate(1, &y, 2, (TsBinding[]){ { x, xv }, { y, yv } }, &err), TS_OK);
    assert_true(yv[0] == 2 && yv[1] == 5 && yv[2] == 10);
    /* Bound intermediate: written too. */
    assert_int_equal(ts_evaluate(1, &y, 3, (TsBinding[]){ { x, xv }, { sq, sqv }, { y, yv } },
                                 &err), TS_OK);
    assert_true(sqv[0] == 1 && sqv[1] == 4 && sqv[2] == 9);
    assert_int_equal(ts_evaluate(1, &y, 1, (TsBinding[]){ { y, yv } }, &err), TS_EINVAL);
    assert_string_equal(err.message, "evaluate: placeholder x is not bound");
    assert_int_equal(ts_evaluate(1, &y, 1, (TsBinding[]){ { x, xv } }, &err), TS_EINVAL);
    assert_string_equal(err.message, "evaluate: output y is not bound");
    assert_int_equal(ts_evaluate(1, &y, 3, (TsBinding[]){ { x, xv }, { y, yv }, { unrelated, zv } },
                                 &err), TS_EINVAL);
    assert_string_equal(err.message, "evaluate: tensor z is bound but is not part of the DAG of "
                                     "the outputs");
    assert_int_equal(ts_evaluate(1, &y, 3, (TsBinding[]){ { x, xv }, { y, yv }, { x, xv } }, &err),
                     TS_EINVAL);
    assert_string_equal(err.message, "evaluate: tensor x is bound twice");
    assert_int_equal(ts_evaluate(1, &y, 2, (TsBinding[]){ { x, NULL }, { y, yv } }, &err),
                     TS_EINVAL);
    assert_string_equal(err.message, "evaluate: binding 0 has a NULL data pointer");
    assert_int_equal(ts_evaluate(0, NULL, 0, NULL, &err), TS_EINVAL);
    assert_string_equal(err.message, "DAG: no output tensors given");
    ts_arena_destroy(A);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_integer_wrap_around),
        cmocka_unit_test(test_division_rules),
        cmocka_unit_test(test_division_by_zero_is_an_error),
        cmocka_unit_test(test_shifts),
        cmocka_unit_test(test_min_max_compare),
        cmocka_unit_test(test_casts),
        cmocka_unit_test(test_float16_storage),
        cmocka_unit_test(test_float32_rounding_matches_c),
        cmocka_unit_test(test_if_then_else_guards_padding),
        cmocka_unit_test(test_out_of_bounds_read_is_an_error),
        cmocka_unit_test(test_reductions),
        cmocka_unit_test(test_custom_reducer_and_two_axes),
        cmocka_unit_test(test_bool_and_popcount),
        cmocka_unit_test(test_intermediates_and_binding_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
