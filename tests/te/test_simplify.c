/* The simplifier (te/simplify.c): printed results of constant folding with the IR's
 * exact semantics, canonical linear forms, the floordiv/floormod rules, comparisons and
 * proofs under variable ranges, interval analysis; a randomized equivalence test that
 * evaluates random int32 expressions before and after simplification with the reference
 * interpreter on every point of their ranges; and loop nests through te_simplify_stmt. */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "te/te_internal.h"
#include "test_util.h"

/* ---- helpers ---- */

static TsExpr *c32(TsArena *A, int64_t v)
{
    return ts_i32(A, v);
}

/* The printed form of e simplified under ranges. */
static const char *simplified(TsArena *A, TsExpr *e, int n, const TeRange *ranges)
{
    assert_non_null(e);
    TsExpr *s = te_simplify_expr(A, e, n, ranges);
    if (!s)
        fprintf(stderr, "simplify failed: %s\n", ts_arena_error(A)->message);
    assert_non_null(s);
    return te_expr_str(A, s);
}

#define assert_simplifies(A, e, n, ranges, want)                                              \
    do {                                                                                   \
        const char *got_ = simplified((A), (e), (n), (ranges));                               \
        if (strcmp(got_, (want)) != 0)                                                      \
            fprintf(stderr, "%s:%d: simplified %s\n  got  %s\n  want %s\n", __FILE__, __LINE__, \
                    te_expr_str((A), (e)), got_, (want));                                     \
        assert_string_equal(got_, (want));                                                  \
    } while (0)

/* Free int32 variables i, j (ranges [0, 3] and [0, 7]) and x, y (no range). */
typedef struct Vars {
    TsExpr *i, *j, *x, *y;
    TeRange ranges[2];
} Vars;

static Vars make_vars(TsArena *A)
{
    Vars v;
    v.i = ts_variable(A, "i", TS_INT32);
    v.j = ts_variable(A, "j", TS_INT32);
    v.x = ts_variable(A, "x", TS_INT32);
    v.y = ts_variable(A, "y", TS_INT32);
    v.ranges[0] = (TeRange){ v.i, 0, 3 };
    v.ranges[1] = (TeRange){ v.j, 0, 7 };
    return v;
}

/* ---- (a) unit cases ---- */

static void test_constant_folding(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    assert_simplifies(A, ts_mul(A, ts_add(A, c32(A, 3), c32(A, 4)), c32(A, 2)), 0, NULL, "14");
    assert_simplifies(A, ts_add(A, c32(A, INT32_MAX), c32(A, 1)), 0, NULL, "-2147483648");
    assert_simplifies(A, ts_floordiv(A, c32(A, -7), c32(A, 2)), 0, NULL, "-4");
    assert_simplifies(A, ts_floormod(A, c32(A, -7), c32(A, 2)), 0, NULL, "1");
    assert_simplifies(A, ts_floormod(A, c32(A, 7), c32(A, -2)), 0, NULL, "-1");
    assert_simplifies(A, ts_div(A, c32(A, -7), c32(A, 2)), 0, NULL, "-3");
    assert_simplifies(A, ts_mod(A, c32(A, -7), c32(A, 2)), 0, NULL, "-1");
    assert_simplifies(A, ts_div(A, c32(A, INT32_MIN), c32(A, -1)), 0, NULL, "-2147483648");
    /* Division by zero and out-of-range shifts stay for the run time to report. */
    assert_simplifies(A, ts_div(A, c32(A, 7), c32(A, 0)), 0, NULL, "(7 / 0)");
    assert_simplifies(A, ts_floormod(A, c32(A, 7), c32(A, 0)), 0, NULL, "floormod(7, 0)");
    assert_simplifies(A, ts_shl(A, c32(A, 1), c32(A, 32)), 0, NULL, "(1 << 32)");
    assert_simplifies(A, ts_shl(A, c32(A, 1), c32(A, 31)), 0, NULL, "-2147483648");
    assert_simplifies(A, ts_shr(A, c32(A, -8), c32(A, 1)), 0, NULL, "-4");
    /* Other widths keep their dtype and wrap at their width. */
    assert_simplifies(A, ts_add(A, ts_int(A, TS_INT8, 100), ts_int(A, TS_INT8, 100)), 0, NULL,
                      "-56i8");
    assert_simplifies(A, ts_mul(A, ts_uint(A, TS_UINT8, 200), ts_uint(A, TS_UINT8, 3)), 0, NULL,
                      "88u8");
    assert_simplifies(A, ts_sub(A, ts_uint(A, TS_UINT32, 1), ts_uint(A, TS_UINT32, 2)), 0, NULL,
                      "4294967295u32");
    assert_simplifies(A, ts_lt(A, ts_uint(A, TS_UINT64, UINT64_MAX), ts_uint(A, TS_UINT64, 1)),
                      0, NULL, "false");
    assert_simplifies(A, ts_popcount(A, ts_int(A, TS_INT16, -1)), 0, NULL, "16i16");
    assert_simplifies(A, ts_bitnot(A, c32(A, 5)), 0, NULL, "-6");
    /* Casts as the interpreter casts. */
    assert_simplifies(A, ts_cast(A, TS_INT8, c32(A, 300)), 0, NULL, "44i8");
    assert_simplifies(A, ts_cast(A, TS_INT32, ts_f32(A, -3.7)), 0, NULL, "-3");
    assert_simplifies(A, ts_cast(A, TS_INT8, ts_f32(A, 1000.0)), 0, NULL, "127i8");
    assert_simplifies(A, ts_cast(A, TS_FLOAT32, c32(A, 16777217)), 0, NULL, "16777216.0f");
    assert_simplifies(A, ts_cast(A, TS_BOOL, c32(A, 2)), 0, NULL, "true");
    /* Floats: two constants fold with float32 rounding; nothing else. */
    assert_simplifies(A, ts_add(A, ts_f32(A, 0.1), ts_f32(A, 0.2)), 0, NULL, "0.300000012f");
    assert_simplifies(A, ts_div(A, ts_f32(A, 1.0), ts_f32(A, 0.0)), 0, NULL, "(1.0f / 0.0f)");
    TsExpr *f = ts_variable(A, "f", TS_FLOAT32);
    assert_simplifies(A, ts_add(A, f, ts_f32(A, 0.0)), 0, NULL, "(f + 0.0f)");
    assert_simplifies(A, ts_mul(A, f, ts_f32(A, 1.0)), 0, NULL, "(f * 1.0f)");
    assert_simplifies(A, ts_lt(A, f, f), 0, NULL, "(f < f)");
    ts_arena_destroy(A);
}

static void test_linear_forms(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    Vars v = make_vars(A);
    TsExpr *i8 = ts_mul(A, v.i, c32(A, 8));
    assert_simplifies(A, ts_sub(A, ts_add(A, i8, v.j), i8), 0, NULL, "j");
    assert_simplifies(A, ts_add(A, ts_add(A, v.i, c32(A, 1)), ts_mul(A, v.i, c32(A, 2))), 0, NULL,
                      "((i * 3) + 1)");
    assert_simplifies(A, ts_sub(A, ts_mul(A, c32(A, 2), ts_add(A, v.i, c32(A, 3))), v.i), 0,
                      NULL, "(i + 6)");
    assert_simplifies(A, ts_add(A, ts_sub(A, c32(A, 0), v.i), v.j), 0, NULL, "(j - i)");
    assert_simplifies(A, ts_sub(A, c32(A, 5), ts_add(A, v.i, c32(A, 2))), 0, NULL, "(3 - i)");
    assert_simplifies(A, ts_sub(A, ts_sub(A, v.i, c32(A, 1)), ts_sub(A, v.i, c32(A, 1))), 0,
                      NULL, "0");
    assert_simplifies(A, ts_add(A, v.x, c32(A, -4)), 0, NULL, "(x - 4)");
    assert_simplifies(A, ts_mul(A, v.x, c32(A, 0)), 0, NULL, "0");
    assert_simplifies(A, ts_mul(A, c32(A, 1), v.x), 0, NULL, "x");
    TsExpr *xy = ts_mul(A, v.x, v.y);
    assert_simplifies(A, ts_add(A, xy, ts_mul(A, v.x, v.y)), 0, NULL, "((x * y) * 2)");
    /* Coefficients wrap like the values: x*2^31 + x*2^31 is x*2^32 = 0. */
    TsExpr *big = ts_mul(A, v.x, c32(A, INT32_MIN));
    assert_simplifies(A, ts_add(A, big, big), 0, NULL, "0");
    /* A cancelled term that may fail at run time stays. */
    TsExpr *q = ts_div(A, v.x, v.y);
    assert_simplifies(A, ts_sub(A, q, ts_div(A, v.x, v.y)), 0, NULL, "((x / y) * 0)");
    assert_simplifies(A, ts_mul(A, q, c32(A, 0)), 0, NULL, "((x / y) * 0)");
    /* Other integer types keep their dtype. */
    TsExpr *w = ts_variable(A, "w", TS_INT64);
    assert_simplifies(A, ts_sub(A, ts_add(A, w, ts_int(A, TS_INT64, 5)), ts_int(A, TS_INT64, 2)),
                      0, NULL, "(w + 3i64)");
    TsExpr *u = ts_variable(A, "u", TS_UINT8);
    assert_simplifies(A, ts_add(A, u, ts_uint(A, TS_UINT8, 0)), 0, NULL, "u");
    /* Already canonical: the very same node comes back. */
    TsExpr *canonical = ts_add(A, ts_mul(A, v.i, c32(A, 8)), v.j);
    assert_ptr_equal(te_simplify_expr(A, canonical, 0, NULL), canonical);
    assert_ptr_equal(te_simplify_expr(A, v.x, 0, NULL), v.x);
    ts_arena_destroy(A);
}

static void test_division_rules(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    Vars v = make_vars(A);
    const TeRange *r = v.ranges;
    TsExpr *c8 = c32(A, 8);
    TsExpr *fused = ts_add(A, ts_mul(A, v.i, c8), v.j); /* in [0, 31] */
    assert_simplifies(A, ts_floordiv(A, fused, c8), 2, r, "i");
    assert_simplifies(A, ts_floormod(A, fused, c8), 2, r, "j");
    assert_simplifies(A, ts_div(A, fused, c8), 2, r, "i");
    assert_simplifies(A, ts_mod(A, fused, c8), 2, r, "j");
    assert_simplifies(A, ts_floordiv(A, v.j, c8), 2, r, "0");
    assert_simplifies(A, ts_floormod(A, v.j, c8), 2, r, "j");
    assert_simplifies(A, ts_floordiv(A, ts_add(A, fused, c8), c8), 2, r, "(i + 1)");
    assert_simplifies(A, ts_floormod(A, ts_add(A, fused, c32(A, 16)), c8), 2, r, "j");
    assert_simplifies(A, ts_floordiv(A, ts_add(A, ts_mul(A, v.i, c32(A, 16)), v.j), c8), 2, r,
                      "(i * 2)");
    assert_simplifies(A, ts_floordiv(A, ts_sub(A, v.j, c32(A, 8)), c8), 2, r, "-1");
    assert_simplifies(A, ts_floormod(A, ts_sub(A, v.j, c32(A, 8)), c8), 2, r, "j");
    assert_simplifies(A, ts_floordiv(A, ts_floordiv(A, v.x, c32(A, 4)), c32(A, 2)), 0, NULL,
                      "floordiv(x, 8)");
    assert_simplifies(A, ts_floormod(A, ts_floormod(A, v.x, c32(A, 12)), c32(A, 4)), 0, NULL,
                      "floormod(x, 4)");
    assert_simplifies(A, ts_floordiv(A, v.x, c32(A, 1)), 0, NULL, "x");
    assert_simplifies(A, ts_floormod(A, v.x, c32(A, 1)), 0, NULL, "0");
    /* Without bounds only floormod by a power of two survives wrap-around. */
    TsExpr *xy = ts_add(A, ts_mul(A, v.x, c8), v.y);
    assert_simplifies(A, ts_floordiv(A, xy, c8), 0, NULL, "floordiv(((x * 8) + y), 8)");
    assert_simplifies(A, ts_floormod(A, xy, c8), 0, NULL, "floormod(y, 8)");
    TsExpr *x6 = ts_add(A, ts_mul(A, v.x, c32(A, 6)), v.y);
    assert_simplifies(A, ts_floormod(A, x6, c32(A, 6)), 0, NULL, "floormod(((x * 6) + y), 6)");
    /* A dividend that may wrap: i*8 reaches 2^32 here, so nothing is split. */
    TeRange wide[2] = { { v.i, 0, INT64_C(1) << 29 }, { v.j, 0, 7 } };
    assert_simplifies(A, ts_floordiv(A, fused, c8), 2, wide, "floordiv(((i * 8) + j), 8)");
    /* Truncating division needs a non-negative dividend. */
    TeRange signed_j[2] = { { v.i, 0, 3 }, { v.j, -7, 7 } };
    assert_simplifies(A, ts_div(A, fused, c8), 2, signed_j, "(((i * 8) + j) / 8)");
    assert_simplifies(A, ts_floordiv(A, fused, c8), 2, signed_j, "(i + floordiv(j, 8))");
    ts_arena_destroy(A);
}

static void test_comparisons_and_selects(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    Vars v = make_vars(A);
    const TeRange *r = v.ranges;
    TsExpr *fused = ts_add(A, ts_mul(A, v.i, c32(A, 8)), v.j);
    assert_simplifies(A, ts_lt(A, fused, c32(A, 32)), 2, r, "true");
    assert_simplifies(A, ts_ge(A, fused, c32(A, 32)), 2, r, "false");
    assert_simplifies(A, ts_lt(A, fused, c32(A, 31)), 2, r, "(((i * 8) + j) < 31)");
    assert_simplifies(A, ts_lt(A, ts_add(A, v.j, c32(A, 16)), c32(A, 20)), 2, r, "(j < 4)");
    assert_simplifies(A, ts_le(A, ts_add(A, v.i, c32(A, 1)), ts_add(A, v.j, c32(A, 3))), 2, r,
                      "(i <= (j + 2))");
    assert_simplifies(A, ts_lt(A, v.i, ts_add(A, v.i, c32(A, 1))), 2, r, "true");
    /* Unbounded: x + 1 wraps at INT32_MAX, so order is not decided... */
    assert_simplifies(A, ts_lt(A, v.x, ts_add(A, v.x, c32(A, 1))), 0, NULL, "(x < (x + 1))");
    assert_simplifies(A, ts_lt(A, ts_add(A, v.x, c32(A, 1)), c32(A, 5)), 0, NULL,
                      "((x + 1) < 5)");
    /* ...but equality is modular. */
    assert_simplifies(A, ts_eq(A, v.x, ts_add(A, v.x, c32(A, 1))), 0, NULL, "false");
    assert_simplifies(A, ts_eq(A, ts_add(A, v.x, c32(A, 1)), c32(A, 5)), 0, NULL, "(x == 4)");
    assert_simplifies(A, ts_not(A, ts_lt(A, v.x, v.y)), 0, NULL, "(x >= y)");
    assert_simplifies(A, ts_and(A, ts_lt(A, v.i, c32(A, 4)), ts_lt(A, v.x, v.y)), 2, r,
                      "(x < y)");
    assert_simplifies(A, ts_or(A, ts_lt(A, v.x, v.y), ts_ge(A, v.j, c32(A, 0))), 2, r, "true");
    assert_simplifies(A, ts_min(A, v.i, ts_add(A, v.i, c32(A, 1))), 2, r, "i");
    assert_simplifies(A, ts_max(A, v.j, c32(A, 7)), 2, r, "7");
    assert_simplifies(A, ts_min(A, v.x, ts_add(A, v.x, c32(A, 1))), 0, NULL,
                      "min(x, (x + 1))");
    assert_simplifies(A, ts_min(A, ts_min(A, v.x, c32(A, 9)), c32(A, 4)), 0, NULL,
                      "min(x, 4)");
    /* Selects: a decided condition picks a branch; the branches know the condition. */
    TsExpr *pick = ts_select(A, ts_lt(A, v.j, c32(A, 8)), v.x, v.y);
    assert_simplifies(A, pick, 2, r, "x");
    TsExpr *guarded = ts_if_then_else(A, ts_lt(A, v.x, c32(A, 4)),
                                      ts_min(A, v.x, c32(A, 10)), c32(A, 0));
    assert_simplifies(A, guarded, 0, NULL, "if_then_else((x < 4), x, 0)");
    /* A select evaluates both branches: one that may fail stays. */
    TsExpr *risky = ts_select(A, ts_lt(A, v.j, c32(A, 8)), v.x, ts_div(A, v.x, v.y));
    assert_simplifies(A, risky, 2, r, "select(true, x, (x / y))");
    TsExpr *lazy = ts_if_then_else(A, ts_lt(A, v.j, c32(A, 8)), v.x, ts_div(A, v.x, v.y));
    assert_simplifies(A, lazy, 2, r, "x");
    ts_arena_destroy(A);
}

/* floordiv(x, c) * c + floormod(x, c) is x (a split fused back), in every form a split
 * and a fuse leave; pairs that do not match stay. */
static void test_split_then_fuse(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    Vars v = make_vars(A);
    const TeRange *r = v.ranges;
    TsExpr *c4 = c32(A, 4), *c7 = c32(A, 7);
    /* No range needed: the identity holds modulo 2^32, wrap-around included. */
    TsExpr *pair = ts_add(A, ts_mul(A, ts_floordiv(A, v.x, c4), c4), ts_floormod(A, v.x, c4));
    assert_simplifies(A, pair, 0, NULL, "x");
    assert_simplifies(A, ts_add(A, ts_floormod(A, v.x, c4), ts_mul(A, c4, ts_floordiv(A, v.x, c4))),
                      0, NULL, "x");
    assert_simplifies(A, ts_add(A, ts_mul(A, ts_div(A, v.x, c7), c7), ts_mod(A, v.x, c7)), 0,
                      NULL, "x");
    /* A negative divisor: floor division still gives x back. */
    TsExpr *m3 = c32(A, -3);
    assert_simplifies(A, ts_add(A, ts_mul(A, ts_floordiv(A, v.x, m3), m3), ts_floormod(A, v.x, m3)),
                      0, NULL, "x");
    /* Scaled (a flat index: the pair times a stride) and with other terms. */
    TsExpr *scaled = ts_add(A, ts_add(A, ts_mul(A, pair, c32(A, 5)), v.y), c32(A, 3));
    assert_simplifies(A, scaled, 0, NULL, "(((x * 5) + y) + 3)");
    /* The pair of a linear dividend, as a fused split of i*8 + j leaves it. */
    TsExpr *fused = ts_add(A, ts_mul(A, v.i, c32(A, 8)), v.y);
    TsExpr *fused_pair = ts_add(A, ts_mul(A, ts_floordiv(A, fused, c7), c7),
                                ts_floormod(A, fused, c7));
    assert_simplifies(A, fused_pair, 0, NULL, "((i * 8) + y)");
    /* Nested: a fuse of a split of a fused axis. */
    TsExpr *inner = ts_floormod(A, v.x, c32(A, 8));
    TsExpr *nested = ts_add(A, ts_mul(A, ts_floordiv(A, v.x, c32(A, 8)), c32(A, 8)),
                            ts_add(A, ts_mul(A, ts_floordiv(A, inner, c4), c4),
                                   ts_floormod(A, inner, c4)));
    assert_simplifies(A, nested, 0, NULL, "x");
    /* In a guard: the tail guard of a split fused back, then its comparison. */
    assert_simplifies(A, ts_lt(A, pair, c32(A, 5)), 0, NULL, "(x < 5)");
    /* Must not fire: another divisor, another dividend, a coefficient that is not c. */
    assert_simplifies(A, ts_add(A, ts_mul(A, ts_floordiv(A, v.x, c4), c4), ts_floormod(A, v.x, c7)),
                      0, NULL, "((floordiv(x, 4) * 4) + floormod(x, 7))");
    assert_simplifies(A, ts_add(A, ts_mul(A, ts_floordiv(A, v.x, c4), c4), ts_floormod(A, v.y, c4)),
                      0, NULL, "((floordiv(x, 4) * 4) + floormod(y, 4))");
    assert_simplifies(A, ts_add(A, ts_mul(A, ts_floordiv(A, v.x, c4), c7), ts_floormod(A, v.x, c4)),
                      0, NULL, "((floordiv(x, 4) * 7) + floormod(x, 4))");
    /* Floor quotient with a truncating remainder: not an identity for negative x. */
    assert_simplifies(A, ts_add(A, ts_mul(A, ts_floordiv(A, v.x, c4), c4), ts_mod(A, v.x, c4)), 0,
                      NULL, "((floordiv(x, 4) * 4) + (x % 4))");
    /* A zero divisor fails at run time: the pair stays. */
    TsExpr *c0 = c32(A, 0);
    assert_simplifies(A, ts_add(A, ts_mul(A, ts_floordiv(A, v.x, c0), c0), ts_floormod(A, v.x, c0)),
                      0, NULL, "(floormod(x, 0) + (floordiv(x, 0) * 0))");
    /* A divisor that is not a constant may be zero: the pair stays. */
    assert_simplifies(A, ts_add(A, ts_mul(A, ts_floordiv(A, v.x, v.y), v.y),
                                ts_floormod(A, v.x, v.y)),
                      0, NULL, "((floordiv(x, y) * y) + floormod(x, y))");
    (void)r;
    ts_arena_destroy(A);
}

/* Chained comparisons: floordiv(x, c) against a constant as a comparison of x, two
 * comparisons of one subject, and a conjunct implied by the other. */
static void test_chained_comparisons(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    Vars v = make_vars(A);
    const TeRange *r = v.ranges;
    TsExpr *q = ts_floordiv(A, v.x, c32(A, 10));
    assert_simplifies(A, ts_lt(A, q, c32(A, 1)), 0, NULL, "(x < 10)");
    assert_simplifies(A, ts_le(A, q, c32(A, 1)), 0, NULL, "(x <= 19)");
    assert_simplifies(A, ts_gt(A, q, c32(A, -2)), 0, NULL, "(x > -11)");
    assert_simplifies(A, ts_ge(A, q, c32(A, 2)), 0, NULL, "(x >= 20)");
    assert_simplifies(A, ts_gt(A, c32(A, 1), q), 0, NULL, "(x < 10)"); /* 1 > q is q < 1 */
    assert_simplifies(A, ts_not(A, ts_lt(A, q, c32(A, 3))), 0, NULL, "(x >= 30)");
    /* Must not fire: a negative divisor, truncating division, (in)equality, a bound
     * beyond int32 (decided by the type range instead, or left alone). */
    TsExpr *neg = ts_floordiv(A, v.x, c32(A, -10));
    assert_simplifies(A, ts_lt(A, neg, c32(A, 1)), 0, NULL, "(floordiv(x, -10) < 1)");
    assert_simplifies(A, ts_lt(A, ts_div(A, v.x, c32(A, 10)), c32(A, 1)), 0, NULL,
                      "((x / 10) < 1)");
    assert_simplifies(A, ts_eq(A, q, c32(A, 1)), 0, NULL, "(floordiv(x, 10) == 1)");
    assert_simplifies(A, ts_lt(A, q, c32(A, 300000000)), 0, NULL,
                      "(floordiv(x, 10) < 300000000)");
    assert_simplifies(A, ts_lt(A, ts_floordiv(A, v.x, c32(A, 3)), c32(A, 715827883)), 0, NULL,
                      "(floordiv(x, 3) < 715827883)");
    /* A division by zero stays, with its comparison. */
    assert_simplifies(A, ts_lt(A, ts_floordiv(A, v.x, c32(A, 0)), c32(A, 1)), 0, NULL,
                      "(floordiv(x, 0) < 1)");
    /* Two comparisons of one subject with constants: && keeps the inner interval, ||
     * the outer one; either order, either side of the comparison. */
    TsExpr *m = ts_floormod(A, v.x, c32(A, 8));
    assert_simplifies(A, ts_and(A, ts_lt(A, m, c32(A, 6)), ts_lt(A, m, c32(A, 7))), 0, NULL,
                      "(floormod(x, 8) < 6)");
    assert_simplifies(A, ts_and(A, ts_lt(A, v.x, c32(A, 3)),
                                ts_and(A, ts_lt(A, v.x, c32(A, 2)), ts_lt(A, v.x, c32(A, 1)))),
                      0, NULL, "(x < 1)");
    assert_simplifies(A, ts_or(A, ts_gt(A, c32(A, 5), v.y), ts_le(A, v.y, c32(A, 9))), 0, NULL,
                      "(y <= 9)");
    assert_simplifies(A, ts_and(A, ts_ge(A, v.x, c32(A, 2)), ts_eq(A, v.x, c32(A, 4))), 0, NULL,
                      "(x == 4)");
    /* Unsigned constants are not compared as int64: 2^64 - 1 is not -1. */
    TsExpr *u = ts_variable(A, "u", TS_UINT64);
    assert_simplifies(A, ts_and(A, ts_lt(A, u, ts_uint(A, TS_UINT64, 5)),
                                ts_lt(A, u, ts_uint(A, TS_UINT64, UINT64_MAX))),
                      0, NULL, "((u < 5u64) && (u < 18446744073709551615u64))");
    /* Overlapping intervals neither of which holds the other stay. */
    assert_simplifies(A, ts_and(A, ts_ge(A, v.x, c32(A, 2)), ts_lt(A, v.x, c32(A, 7))), 0, NULL,
                      "((x >= 2) && (x < 7))");
    assert_simplifies(A, ts_and(A, ts_ne(A, v.x, c32(A, 2)), ts_lt(A, v.x, c32(A, 7))), 0, NULL,
                      "((x != 2) && (x < 7))");
    /* One conjunct implies the other under the known ranges: i < 1 && i + j < 9 over
     * j <= 7 is i < 1; the other way round too. */
    TsExpr *small = ts_lt(A, v.i, c32(A, 1));
    TsExpr *sum = ts_lt(A, ts_add(A, v.i, v.j), c32(A, 9));
    assert_simplifies(A, ts_and(A, small, sum), 2, r, "(i < 1)");
    assert_simplifies(A, ts_and(A, sum, small), 2, r, "(i < 1)");
    assert_simplifies(A, ts_or(A, small, sum), 2, r, "((i + j) < 9)");
    /* Not implied without the range of j. */
    assert_simplifies(A, ts_and(A, small, sum), 1, r, "((i < 1) && ((i + j) < 9))");
    /* A conjunct that may fail at run time is not dropped. */
    TsExpr *risky = ts_lt(A, ts_add(A, v.i, ts_div(A, v.j, v.y)), c32(A, 100));
    assert_simplifies(A, ts_and(A, small, risky), 2, r, "((i < 1) && ((i + (j / y)) < 100))");
    ts_arena_destroy(A);
}

static void test_prove(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    Vars v = make_vars(A);
    const TeRange *r = v.ranges;
    TsExpr *fused = ts_add(A, ts_mul(A, v.i, c32(A, 8)), v.j);
    assert_true(te_prove(A, ts_lt(A, fused, c32(A, 32)), 2, r));
    assert_false(te_prove(A, ts_lt(A, fused, c32(A, 31)), 2, r));
    assert_true(te_prove(A, ts_eq(A, ts_floordiv(A, fused, c32(A, 8)), v.i), 2, r));
    assert_true(te_prove(A, ts_and(A, ts_lt(A, v.i, c32(A, 4)), ts_ge(A, v.j, c32(A, 0))), 2, r));
    assert_true(te_prove(A, ts_not(A, ts_ge(A, v.i, c32(A, 4))), 2, r));
    assert_true(te_prove(A, ts_or(A, ts_lt(A, v.x, v.y), ts_lt(A, v.i, c32(A, 4))), 2, r));
    assert_false(te_prove(A, ts_lt(A, v.x, ts_add(A, v.x, c32(A, 1))), 0, NULL));
    assert_true(te_prove(A, ts_ne(A, v.x, ts_add(A, v.x, c32(A, 1))), 0, NULL));
    assert_true(te_prove(A, ts_le(A, ts_floormod(A, v.x, c32(A, 8)), c32(A, 7)), 0, NULL));
    /* Only bool conditions are proven. */
    assert_false(te_prove(A, c32(A, 1), 0, NULL));
    ts_arena_destroy(A);
}

static void check_bounds(TsArena *A, TsExpr *e, int n, const TeRange *r, int64_t want_lo,
                         int64_t want_hi, int line)
{
    int64_t lo = 0, hi = 0;
    assert_non_null(e);
    bool known = te_const_bounds(e, n, r, &lo, &hi);
    if (!known || lo != want_lo || hi != want_hi)
        fprintf(stderr, "line %d: bounds of %s: %s [%lld, %lld], want [%lld, %lld]\n", line,
                te_expr_str(A, e), known ? "got" : "none, not", (long long)lo, (long long)hi,
                (long long)want_lo, (long long)want_hi);
    assert_true(known);
    assert_int_equal(lo, want_lo);
    assert_int_equal(hi, want_hi);
}

#define assert_bounds(e, n, r, lo, hi) check_bounds(A, (e), (n), (r), (lo), (hi), __LINE__)

static void test_const_bounds(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    Vars v = make_vars(A);
    const TeRange *r = v.ranges;
    int64_t lo, hi;
    assert_bounds(ts_add(A, ts_mul(A, v.i, c32(A, 8)), v.j), 2, r, 0, 31);
    assert_bounds(ts_sub(A, v.i, v.j), 2, r, -7, 3);
    TeRange signed_r[2] = { { v.i, -2, 3 }, { v.j, -5, 4 } };
    assert_bounds(ts_mul(A, v.i, v.j), 2, signed_r, -15, 12);
    assert_bounds(ts_floordiv(A, v.j, c32(A, 3)), 2, signed_r, -2, 1);
    assert_bounds(ts_div(A, v.j, c32(A, 3)), 2, signed_r, -1, 1);
    assert_bounds(ts_floormod(A, v.x, c32(A, 8)), 0, NULL, 0, 7);
    assert_bounds(ts_floormod(A, v.x, c32(A, -8)), 0, NULL, -7, 0);
    assert_bounds(ts_mod(A, v.x, c32(A, 8)), 0, NULL, -7, 7);
    assert_bounds(ts_mod(A, v.j, c32(A, 8)), 2, r, 0, 7);
    assert_bounds(ts_floormod(A, ts_add(A, v.j, c32(A, 8)), c32(A, 16)), 2, r, 8, 15);
    assert_bounds(ts_min(A, v.i, v.j), 2, r, 0, 3);
    assert_bounds(ts_max(A, v.i, c32(A, 5)), 2, r, 5, 5);
    assert_bounds(ts_select(A, ts_lt(A, v.x, v.y), v.i, ts_add(A, v.j, c32(A, 10))), 2, r, 0, 17);
    assert_bounds(ts_select(A, ts_lt(A, v.i, c32(A, 9)), v.i, v.x), 2, r, 0, 3);
    assert_bounds(ts_cast(A, TS_INT8, v.j), 2, r, 0, 7);
    assert_bounds(ts_bitand(A, v.x, c32(A, 12)), 0, NULL, 0, 12);
    assert_bounds(ts_shl(A, v.j, c32(A, 2)), 2, r, 0, 28);
    assert_bounds(te_ramp(A, v.i, c32(A, 2), 4), 2, r, 0, 9);
    assert_bounds(te_broadcast(A, v.j, 8), 2, r, 0, 7);
    assert_bounds(ts_lt(A, v.i, c32(A, 4)), 2, r, 1, 1);
    TsTensor *bytes = ts_placeholder(A, "bytes", 1, (int64_t[]){ 4 }, TS_UINT8);
    assert_bounds(ts_at(A, bytes, c32(A, 0)), 0, NULL, 0, 255);
    /* Unbounded, or a result that would wrap around int32: no bounds. */
    assert_false(te_const_bounds(v.x, 0, NULL, &lo, &hi));
    assert_false(te_const_bounds(ts_add(A, v.i, v.x), 2, r, &lo, &hi));
    TeRange huge[1] = { { v.i, 0, 4096 } };
    assert_false(te_const_bounds(ts_mul(A, v.i, c32(A, 1 << 20)), 1, huge, &lo, &hi));
    assert_false(te_const_bounds(ts_floordiv(A, v.i, v.j), 2, r, &lo, &hi)); /* j may be 0 */
    assert_false(te_const_bounds(ts_f32(A, 1.0), 0, NULL, &lo, &hi));
    ts_arena_destroy(A);
}

/* ---- (b) randomized equivalence ---- */

typedef struct Rng {
    uint64_t state;
} Rng;

static uint64_t rng_next(Rng *g)
{
    uint64_t z = (g->state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static int64_t rng_int(Rng *g, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(rng_next(g) % (uint64_t)(hi - lo + 1));
}

enum { NUM_VARS = 3 };

typedef struct Gen {
    TsArena *arena;
    Rng *rng;
    TsExpr *vars[NUM_VARS];
} Gen;

/* Mostly small constants, sometimes large ones that make int32 arithmetic wrap. */
static int64_t random_constant(Rng *g)
{
    static const int64_t large[] = { INT32_MAX, INT32_MIN, 1 << 30, -(1 << 30), 65536, 123457 };
    if (rng_int(g, 0, 9) == 0)
        return large[rng_int(g, 0, 5)];
    return rng_int(g, -9, 9);
}

static int64_t random_divisor(Rng *g)
{
    static const int64_t divisors[] = { 1, 2, 3, 4, 8, 16, 5, -2, -3, -4, 7, 65536 };
    return divisors[rng_int(g, 0, 11)];
}

static TsExpr *random_expr(Gen *g, int depth);

/* What a split fused back leaves: floordiv(a, c) * c + floormod(a, c), scaled, with the
 * remainder sometimes of a remainder, or (to check that the rule does not fire) of
 * another divisor, a truncating remainder, or a quotient of the wrong weight. */
static TsExpr *split_then_fuse(Gen *g, TsExpr *a)
{
    TsArena *A = g->arena;
    Rng *r = g->rng;
    int64_t c = random_divisor(r), k = rng_int(r, -3, 3);
    TsExpr *quotient = ts_mul(A, ts_floordiv(A, a, c32(A, c)), c32(A, c));
    TsExpr *remainder = ts_floormod(A, a, c32(A, c));
    switch (rng_int(r, 0, 5)) {
    case 0: remainder = ts_floormod(A, a, c32(A, random_divisor(r))); break;
    case 1: remainder = ts_mod(A, a, c32(A, c)); break;
    case 2: quotient = ts_mul(A, ts_floordiv(A, a, c32(A, c)), c32(A, c + 1)); break;
    case 3: /* floordiv(floormod(a, m), c) * c + floormod(a, c) with c | m */
        quotient = ts_mul(A, ts_floordiv(A, ts_floormod(A, a, c32(A, 4 * c)), c32(A, c)),
                          c32(A, c));
        break;
    default: break;
    }
    TsExpr *pair = rng_int(r, 0, 1) ? ts_add(A, quotient, remainder)
                                    : ts_add(A, remainder, quotient);
    return ts_add(A, ts_mul(A, pair, c32(A, k)), random_expr(g, 0));
}

/* Comparisons the chained rules look at: a quotient against a constant, and two
 * comparisons of one subject with constants. */
static TsExpr *random_chained_cond(Gen *g, int depth)
{
    TsArena *A = g->arena;
    Rng *r = g->rng;
    TsExpr *a = random_expr(g, depth);
    TsExpr *subject = rng_int(r, 0, 1) ? ts_floordiv(A, a, c32(A, random_divisor(r))) : a;
    TsExpr *(*const compares[])(TsArena *, TsExpr *, TsExpr *) = { ts_lt, ts_le, ts_gt, ts_ge,
                                                                    ts_eq, ts_ne };
    TsExpr *first = compares[rng_int(r, 0, 5)](A, subject, c32(A, random_constant(r)));
    if (rng_int(r, 0, 2) == 0)
        return first;
    TsExpr *second = compares[rng_int(r, 0, 5)](A, c32(A, random_constant(r)), subject);
    return rng_int(r, 0, 1) ? ts_and(A, first, second) : ts_or(A, first, second);
}

static TsExpr *random_cond(Gen *g, int depth)
{
    TsArena *A = g->arena;
    if (rng_int(g->rng, 0, 3) == 0)
        return random_chained_cond(g, depth);
    int pick = (int)rng_int(g->rng, 0, 8);
    if (pick == 7 && depth > 0)
        return ts_and(A, random_cond(g, depth - 1), random_cond(g, depth - 1));
    if (pick == 8 && depth > 0)
        return ts_not(A, random_cond(g, depth - 1));
    TsExpr *a = random_expr(g, depth), *b = random_expr(g, depth);
    switch (pick % 6) {
    case 0: return ts_lt(A, a, b);
    case 1: return ts_le(A, a, b);
    case 2: return ts_gt(A, a, b);
    case 3: return ts_ge(A, a, b);
    case 4: return ts_eq(A, a, b);
    default: return ts_ne(A, a, b);
    }
}

static TsExpr *random_expr(Gen *g, int depth)
{
    TsArena *A = g->arena;
    Rng *r = g->rng;
    if (depth == 0 || rng_int(r, 0, 5) == 0) {
        int leaf = (int)rng_int(r, 0, 5);
        if (leaf < 3)
            return g->vars[leaf];
        if (leaf == 3) /* a variable with an offset, so values go negative */
            return ts_add(A, g->vars[rng_int(r, 0, NUM_VARS - 1)], c32(A, rng_int(r, -6, 6)));
        return c32(A, random_constant(r));
    }
    TsExpr *a = random_expr(g, depth - 1);
    switch (rng_int(r, 0, 13)) {
    case 0: return ts_add(A, a, random_expr(g, depth - 1));
    case 1: return ts_sub(A, a, random_expr(g, depth - 1));
    case 2: return ts_mul(A, a, c32(A, random_constant(r)));
    case 3: return ts_mul(A, a, random_expr(g, depth - 1));
    case 4: return ts_floordiv(A, a, c32(A, random_divisor(r)));
    case 5: return ts_floormod(A, a, c32(A, random_divisor(r)));
    case 6: return ts_div(A, a, c32(A, random_divisor(r)));
    case 7: return ts_mod(A, a, c32(A, random_divisor(r)));
    case 8: return ts_min(A, a, random_expr(g, depth - 1));
    case 9: return ts_max(A, a, random_expr(g, depth - 1));
    case 10: return ts_select(A, random_cond(g, depth - 1), a, random_expr(g, depth - 1));
    case 11:
        return ts_if_then_else(A, random_cond(g, depth - 1), a, random_expr(g, depth - 1));
    case 12: return split_then_fuse(g, a);
    default: return ts_add(A, ts_mul(A, a, c32(A, rng_int(r, 1, 8))), random_expr(g, 0));
    }
}

/* Evaluates body over the axes' full ranges into out (row-major). */
static TsStatus evaluate(TsArena *A, const char *name, TsAxis **axes, TsExpr *body, int32_t *out,
                         TsError *err)
{
    TsTensor *t = ts_compute(A, name, NUM_VARS, axes, body);
    if (!t)
        return ts_arena_check(A, err);
    return ts_evaluate(1, &t, 1, (TsBinding[]){ { t, out } }, err);
}

/* One random expression: original and simplified must agree at every point, and the
 * bounds te_const_bounds gives for either must hold, and simplifying the result again
 * must give it back unchanged. Returns false after printing the seed and the
 * expression. */
static bool check_one(uint64_t seed, int trial, int64_t *simplified_count)
{
    TsArena *A = ts_arena_create();
    Rng rng = { seed };
    TsAxis *axes[NUM_VARS], *fresh[NUM_VARS];
    TeRange ranges[NUM_VARS];
    Gen g = { A, &rng, { NULL } };
    int points = 1;
    for (int v = 0; v < NUM_VARS; v++) {
        int64_t extent = rng_int(&rng, 1, 6);
        char name[2] = { (char)('i' + v), 0 };
        axes[v] = ts_axis(A, name, extent);
        fresh[v] = ts_axis(A, name, extent);
        g.vars[v] = ts_var(axes[v]);
        ranges[v] = (TeRange){ g.vars[v], 0, extent - 1 };
        points *= (int)extent;
    }
    TsExpr *e = random_expr(&g, (int)rng_int(&rng, 1, 5));
    TsExpr *s = te_simplify_expr(A, e, NUM_VARS, ranges);
    TsExpr *moved = s ? te_substitute(A, s, NUM_VARS, (const TsExpr *const *)g.vars,
                                      (TsExpr *[]){ ts_var(fresh[0]), ts_var(fresh[1]),
                                                    ts_var(fresh[2]) })
                      : NULL;
    int32_t want[216], got[216];
    TsError err = { 0 };
    const char *failure = NULL;
    if (!moved)
        failure = ts_arena_error(A)->message;
    else if (evaluate(A, "original", axes, e, want, &err) != TS_OK ||
             evaluate(A, "simplified", fresh, moved, got, &err) != TS_OK)
        failure = err.message;
    for (int p = 0; !failure && p < points; p++)
        if (want[p] != got[p])
            failure = "values differ";
    /* A simplified expression is a fixed point: the same node comes back. */
    if (!failure && te_simplify_expr(A, s, NUM_VARS, ranges) != s)
        failure = "simplifying the result again changes it";
    int64_t lo, hi;
    for (int side = 0; !failure && side < 2; side++) {
        if (!te_const_bounds(side ? s : e, NUM_VARS, ranges, &lo, &hi))
            continue;
        for (int p = 0; !failure && p < points; p++)
            if (want[p] < lo || want[p] > hi)
                failure = side ? "a value lies outside the simplified expression's bounds"
                               : "a value lies outside the expression's bounds";
    }
    if (failure) {
        fprintf(stderr, "trial %d, seed %" PRIu64 ": %s\n  expression  %s\n  simplified  %s\n",
                trial, seed, failure, te_expr_str(A, e), s ? te_expr_str(A, s) : "(failed)");
        for (int p = 0; p < points && moved; p++)
            if (want[p] != got[p]) {
                fprintf(stderr, "  point %d: %d vs %d\n", p, want[p], got[p]);
                break;
            }
    }
    *simplified_count += s != e;
    ts_arena_destroy(A);
    return failure == NULL;
}

static void test_random_equivalence(void **state)
{
    (void)state;
    uint64_t base = 20261122;
    const char *env = getenv("TESSERA_SIMPLIFY_SEED");
    if (env)
        base = strtoull(env, NULL, 10);
    fprintf(stderr, "random equivalence: base seed %" PRIu64 " (TESSERA_SIMPLIFY_SEED)\n", base);
    clock_t start = clock();
    int64_t changed = 0;
    int failures = 0;
    const int trials = 5000;
    for (int t = 0; t < trials && failures < 5; t++)
        failures += !check_one(base + (uint64_t)t * 7919, t, &changed);
    double seconds = (double)(clock() - start) / CLOCKS_PER_SEC;
    fprintf(stderr, "random equivalence: %d expressions, %lld simplified, %.2f s\n", trials,
            (long long)changed, seconds);
    assert_int_equal(failures, 0);
    /* The test must exercise the simplifier, not only the identity. */
    assert_true(changed > trials / 2);
}

/* Proofs must be sound: when te_prove says yes, the condition holds everywhere. */
static void test_random_proofs(void **state)
{
    (void)state;
    int proven = 0;
    for (uint64_t seed = 1; seed <= 3000; seed++) {
        TsArena *A = ts_arena_create();
        Rng rng = { seed * 104729 };
        TsAxis *axes[NUM_VARS];
        TeRange ranges[NUM_VARS];
        Gen g = { A, &rng, { NULL } };
        for (int v = 0; v < NUM_VARS; v++) {
            int64_t extent = rng_int(&rng, 1, 6);
            char name[2] = { (char)('i' + v), 0 };
            axes[v] = ts_axis(A, name, extent);
            g.vars[v] = ts_var(axes[v]);
            ranges[v] = (TeRange){ g.vars[v], 0, extent - 1 };
        }
        TsExpr *cond = random_cond(&g, (int)rng_int(&rng, 0, 3));
        if (te_prove(A, cond, NUM_VARS, ranges)) {
            int32_t values[216];
            TsError err = { 0 };
            TsStatus st = evaluate(A, "cond", axes, ts_cast(A, TS_INT32, cond), values, &err);
            assert_int_equal(st, TS_OK);
            int points = 1;
            for (int v = 0; v < NUM_VARS; v++)
                points *= (int)ranges[v].max + 1;
            for (int p = 0; p < points; p++) {
                if (values[p] != 1)
                    fprintf(stderr, "seed %" PRIu64 ": proved %s, false at point %d\n", seed,
                            te_expr_str(A, cond), p);
                assert_int_equal(values[p], 1);
            }
            proven++;
        }
        ts_arena_destroy(A);
    }
    assert_true(proven > 100);
}

/* ---- (c) statements ---- */

typedef struct Nest {
    TsArena *arena;
    const TeBuffer *a, *b;
} Nest;

static Nest make_nest(TsArena *A)
{
    Nest n = { A, NULL, NULL };
    TsTensor *ta = ts_placeholder(A, "A", 1, (int64_t[]){ 64 }, TS_FLOAT32);
    TsTensor *tb = ts_placeholder(A, "B", 1, (int64_t[]){ 64 }, TS_FLOAT32);
    n.a = te_buffer(A, "A", ta, 1, NULL, TE_SCOPE_GLOBAL);
    n.b = te_buffer(A, "B", tb, 1, NULL, TE_SCOPE_GLOBAL);
    return n;
}

/* B[index] = A[index] */
static TeStmt *copy_at(Nest *n, TsExpr *index)
{
    TsExpr *load = te_load(n->arena, n->a, 1, &index, false);
    return te_store(n->arena, n->b, 1, &index, load, false);
}

static TeStmt *loop(TsArena *A, TsExpr *var, int64_t min, int64_t extent, TeStmt *body)
{
    return te_for(A, var, c32(A, min), c32(A, extent), TE_FOR_SERIAL, 0, NULL, body);
}

static const char *simplified_stmt(TsArena *A, TeStmt *s)
{
    assert_non_null(s);
    TeStmt *r = te_simplify_stmt(A, s);
    assert_non_null(r);
    return te_stmt_str(A, r);
}

static void test_stmt_guards(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    Nest n = make_nest(A);
    TsExpr *i = ts_variable(A, "i", TS_INT32), *j = ts_variable(A, "j", TS_INT32);
    TsExpr *fused = ts_add(A, ts_mul(A, i, c32(A, 8)), j);
    /* A guard the loop ranges prove is removed; the index is canonical already. */
    TeStmt *proven = loop(A, i, 0, 4, loop(A, j, 0, 8, te_if(A, ts_lt(A, fused, c32(A, 32)),
                                                             copy_at(&n, fused), NULL, true)));
    assert_string_equal(simplified_stmt(A, proven), "for (i, 0, 4) {\n"
                                                    "  for (j, 0, 8) {\n"
                                                    "    B[((i * 8) + j)] = A[((i * 8) + j)]\n"
                                                    "  }\n"
                                                    "}\n");
    /* A guard that is not decided stays, and the nest comes back as the same pointer. */
    TeStmt *open = loop(A, i, 0, 3, loop(A, j, 0, 8, te_if(A, ts_lt(A, fused, c32(A, 20)),
                                                           copy_at(&n, fused), NULL, true)));
    assert_ptr_equal(te_simplify_stmt(A, open), open);
    /* A guard that is always false removes the statement, then the loops. */
    TeStmt *dead = loop(A, i, 0, 4, te_if(A, ts_gt(A, i, c32(A, 5)), copy_at(&n, i), NULL, false));
    assert_string_equal(simplified_stmt(A, dead), "");
    /* else branches; an inner guard implied by the outer one. */
    TeStmt *branches = loop(A, i, 0, 8, te_if(A, ts_lt(A, i, c32(A, 4)),
                                              te_if(A, ts_lt(A, i, c32(A, 6)), copy_at(&n, i),
                                                    NULL, false),
                                              te_if(A, ts_ge(A, i, c32(A, 4)),
                                                    copy_at(&n, ts_add(A, i, c32(A, 1))), NULL,
                                                    false),
                                              false));
    assert_string_equal(simplified_stmt(A, branches), "for (i, 0, 8) {\n"
                                                      "  if ((i < 4)) {\n"
                                                      "    B[i] = A[i]\n"
                                                      "  }\n"
                                                      "  else {\n"
                                                      "    B[(i + 1)] = A[(i + 1)]\n"
                                                      "  }\n"
                                                      "}\n");
    ts_arena_destroy(A);
}

static void test_stmt_loops_and_lets(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    Nest n = make_nest(A);
    TsExpr *i = ts_variable(A, "i", TS_INT32), *j = ts_variable(A, "j", TS_INT32);
    TsExpr *x = ts_variable(A, "x", TS_INT32);
    /* Extent 1: the body at i = 2, with the index folded. */
    TeStmt *single = loop(A, i, 2, 1, loop(A, j, 0, 4, copy_at(&n, ts_add(A, ts_mul(A, i,
                                                                                      c32(A, 8)),
                                                                            j))));
    assert_string_equal(simplified_stmt(A, single), "for (j, 0, 4) {\n"
                                                    "  B[(j + 16)] = A[(j + 16)]\n"
                                                    "}\n");
    /* Extent 0 and negative extents disappear, in a sequence too. */
    TeStmt *parts[] = { loop(A, i, 0, 0, copy_at(&n, i)), copy_at(&n, c32(A, 1)),
                        loop(A, j, 3, -2, copy_at(&n, j)) };
    assert_string_equal(simplified_stmt(A, te_seq(A, 3, parts)), "B[1] = A[1]\n");
    /* A let's value bounds its variable. */
    TeStmt *let = loop(A, i, 0, 16,
                       te_let(A, x, ts_floormod(A, i, c32(A, 4)),
                              te_if(A, ts_lt(A, x, c32(A, 4)), copy_at(&n, ts_add(A, x, c32(A, 0))),
                                    NULL, false)));
    assert_string_equal(simplified_stmt(A, let), "for (i, 0, 16) {\n"
                                                 "  let x = floormod(i, 4)\n"
                                                 "  B[x] = A[x]\n"
                                                 "}\n");
    /* Loop bounds are simplified too; a loop keeps its kind and pragmas. */
    TePragma pragma = { "unroll_max_extent", 16 };
    TeStmt *kinds = te_for(A, i, ts_sub(A, c32(A, 5), c32(A, 5)), ts_add(A, c32(A, 2), c32(A, 2)),
                           TE_FOR_VECTORIZED, 1, &pragma, copy_at(&n, i));
    assert_string_equal(simplified_stmt(A, kinds), "vectorized (i, 0, 4) [unroll_max_extent=16] {\n"
                                                   "  B[i] = A[i]\n"
                                                   "}\n");
    ts_arena_destroy(A);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_constant_folding),
        cmocka_unit_test(test_linear_forms),
        cmocka_unit_test(test_division_rules),
        cmocka_unit_test(test_comparisons_and_selects),
        cmocka_unit_test(test_split_then_fuse),
        cmocka_unit_test(test_chained_comparisons),
        cmocka_unit_test(test_prove),
        cmocka_unit_test(test_const_bounds),
        cmocka_unit_test(test_random_equivalence),
        cmocka_unit_test(test_random_proofs),
        cmocka_unit_test(test_stmt_guards),
        cmocka_unit_test(test_stmt_loops_and_lets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
