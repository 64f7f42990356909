/* Golden printer output for canonical DAGs: a matmul, a padded convolution written by
 * hand, a custom conditional reduction, and every kind of expression once. Refresh the
 * .expected files with scripts/update-golden.sh after an intended change. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "test_util.h"

#define GOLDEN(name) TESSERA_SOURCE_DIR "/tests/te/golden/" name ".expected"

static void test_matmul(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    TsTensor *a = ts_placeholder(A, "A", 2, (int64_t[]){ 64, 32 }, TS_FLOAT32);
    TsTensor *b = ts_placeholder(A, "B", 2, (int64_t[]){ 32, 16 }, TS_FLOAT32);
    TsAxis *i = ts_axis(A, "i", 64), *j = ts_axis(A, "j", 16), *k = ts_reduce_axis(A, "k", 32);
    TsExpr *prod = ts_mul(A, ts_at(A, a, ts_var(i), ts_var(k)), ts_at(A, b, ts_var(k), ts_var(j)));
    TsTensor *c = ts_compute_tagged(A, "C", "matmul", 2, (TsAxis *[]){ i, j },
                                    ts_sum(A, prod, 1, &k, NULL));
    assert_non_null(c);
    assert_true(golden_matches(GOLDEN("matmul"), ts_dag_str(A, 1, &c)));
    ts_arena_destroy(A);
}

static void test_padded_conv1d(void **state)
{
    (void)state;
    /* pad[c, x] = 0 <= x-1 < 10 ? data[c, x-1] : 0; out[o, x] = sum_{c,r} pad[c, x+r] * w[o, c, r] */
    TsArena *A = ts_arena_create();
    TsTensor *data = ts_placeholder(A, "data", 2, (int64_t[]){ 3, 10 }, TS_FLOAT32);
    TsTensor *w = ts_placeholder(A, "w", 3, (int64_t[]){ 4, 3, 3 }, TS_FLOAT32);
    TsAxis *c = ts_axis(A, "c", 3), *x = ts_axis(A, "x", 12);
    TsExpr *src = ts_sub(A, ts_var(x), ts_i32(A, 1));
    TsExpr *inside = ts_and(A, ts_ge(A, src, ts_i32(A, 0)), ts_lt(A, src, ts_i32(A, 10)));
    TsTensor *pad = ts_compute_tagged(A, "pad", "pad", 2, (TsAxis *[]){ c, x },
                                      ts_if_then_else(A, inside, ts_at(A, data, ts_var(c), src),
                                                      ts_f32(A, 0)));
    TsAxis *o = ts_axis(A, "o", 4), *x2 = ts_axis(A, "x", 10);
    TsAxis *rc = ts_reduce_axis(A, "rc", 3), *r = ts_reduce_axis(A, "r", 3);
    TsExpr *prod = ts_mul(A, ts_at(A, pad, ts_var(rc), ts_add(A, ts_var(x2), ts_var(r))),
                          ts_at(A, w, ts_var(o), ts_var(rc), ts_var(r)));
    TsTensor *out = ts_compute_tagged(A, "conv", "conv1d", 2, (TsAxis *[]){ o, x2 },
                                      ts_sum(A, prod, 2, (TsAxis *[]){ rc, r }, NULL));
    assert_non_null(out);
    assert_true(golden_matches(GOLDEN("padded_conv1d"), ts_dag_str(A, 1, &out)));
    ts_arena_destroy(A);
}

static void test_every_expression_kind(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    TsTensor *x = ts_placeholder(A, "x", 1, (int64_t[]){ 8 }, TS_INT16);
    TsTensor *f = ts_placeholder(A, "f", 1, (int64_t[]){ 8 }, TS_FLOAT64);
    TsTensor *h = ts_placeholder(A, "h", 1, (int64_t[]){ 8 }, TS_FLOAT16);
    TsAxis *i = ts_axis(A, "i", 8);
    TsExpr *xi = ts_at(A, x, ts_var(i));
    TsExpr *fi = ts_at(A, f, ts_var(i));
    TsExpr *ints = ts_add(A, ts_sub(A, ts_mul(A, xi, ts_int(A, TS_INT16, 3)),
                                    ts_div(A, xi, ts_int(A, TS_INT16, -2))),
                          ts_add(A, ts_mod(A, xi, ts_int(A, TS_INT16, 5)),
                                 ts_add(A, ts_floordiv(A, xi, ts_int(A, TS_INT16, 4)),
                                        ts_floormod(A, xi, ts_int(A, TS_INT16, 7)))));
    TsExpr *bits = ts_bitor(A, ts_bitand(A, ts_shl(A, xi, ts_int(A, TS_INT16, 1)),
                                         ts_shr(A, xi, ts_int(A, TS_INT16, 2))),
                            ts_bitxor(A, ts_bitnot(A, xi), ts_popcount(A, xi)));
    TsExpr *cmp = ts_or(A, ts_and(A, ts_eq(A, xi, ts_int(A, TS_INT16, 0)),
                                  ts_ne(A, ts_var(i), ts_i32(A, 1))),
                        ts_not(A, ts_and(A, ts_le(A, fi, ts_float(A, TS_FLOAT64, 0.5)),
                                         ts_gt(A, fi, ts_float(A, TS_FLOAT64, -1e-3)))));
    TsExpr *math = ts_add(A, ts_add(A, ts_exp(A, fi), ts_log(A, fi)),
                          ts_add(A, ts_add(A, ts_sqrt(A, fi), ts_tanh(A, fi)),
                                 ts_add(A, ts_sigmoid(A, fi),
                                        ts_pow(A, ts_fabs(A, fi), ts_floor(A, ts_ceil(A, fi))))));
    TsExpr *mixed = ts_max(A, ts_min(A, ts_cast(A, TS_FLOAT64, ints), math),
                           ts_cast(A, TS_FLOAT64, ts_cast(A, TS_FLOAT32, ts_at(A, h, ts_var(i)))));
    TsExpr *body = ts_select(A, ts_and(A, cmp, ts_ge(A, bits, ts_int(A, TS_INT16, 0))),
                             ts_if_then_else(A, ts_lt(A, fi, ts_neg(A, fi)), mixed,
                                             ts_float(A, TS_FLOAT64, 2.0)),
                             ts_cast(A, TS_FLOAT64, ts_uint(A, TS_UINT8, 255)));
    TsTensor *y = ts_compute(A, "y", 1, &i, body);
    assert_non_null(y);
    assert_true(golden_matches(GOLDEN("every_kind"), ts_dag_str(A, 1, &y)));
    ts_arena_destroy(A);
}

static void test_conditional_custom_reduction(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    TsTensor *x = ts_placeholder(A, "x", 2, (int64_t[]){ 5, 5 }, TS_INT64);
    TsExpr *l = ts_variable(A, "l", TS_INT64), *r = ts_variable(A, "r", TS_INT64);
    TsReducer *gcdish = ts_reducer(A, "bitor", l, r, ts_bitor(A, l, r), ts_int(A, TS_INT64, 0));
    TsAxis *i = ts_axis(A, "i", 5), *k = ts_reduce_axis(A, "k", 5);
    TsTensor *y = ts_compute_tagged(A, "y", "tri_or", 1, &i,
                                    ts_reduce(A, gcdish, ts_at(A, x, ts_var(i), ts_var(k)), 1, &k,
                                              ts_le(A, ts_var(k), ts_var(i))));
    TsAxis *j = ts_axis(A, "j", 5);
    TsTensor *z = ts_compute(A, "z", 1, &j, ts_mul(A, ts_at(A, y, ts_var(j)),
                                                  ts_int(A, TS_INT64, 2)));
    assert_non_null(z);
    /* Two outputs sharing a stage: each stage is printed once, inputs first. */
    assert_true(golden_matches(GOLDEN("custom_reduction"), ts_dag_str(A, 2, (TsTensor *[]){ z, y })));
    ts_arena_destroy(A);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matmul),
        cmocka_unit_test(test_padded_conv1d),
        cmocka_unit_test(test_every_expression_kind),
        cmocka_unit_test(test_conditional_custom_reduction),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
