/* The simplifier: interval analysis (te_const_bounds), proofs (te_prove), and the
 * rewriting of expressions (te_simplify_expr) and loop nests (te_simplify_stmt). It is
 * the "simplify" loop pass right after lowering, the engine under loop partitioning
 * (which relies on it to fold a tail's single iteration), and the way any pass gets a
 * canonical index.
 *
 * Soundness under the IR's semantics (te.h), which every rule below respects:
 * - Integers wrap modulo 2^bits. Signed scalar integer + - and products by constants
 *   are collected into a linear form: terms (variables or other subexpressions) times
 *   constant coefficients, plus a constant. Ring identities hold modulo 2^bits, so
 *   rewriting ((i*8 + j) - i*8) to j is exact whatever the values. Rules that depend
 *   on order (comparisons, division, min/max) need the exact, unwrapped value instead,
 *   so they fire only when interval analysis shows that the linear form's exact value
 *   fits the dtype: then it equals the wrapped value the program computes.
 * - Interval analysis gives bounds only where no intermediate result can wrap.
 * - A rule that drops a subexpression (x*0, x - x, select with a known condition,
 *   false && x) keeps it when it may fail at run time: integer division by anything but
 *   a nonzero constant, or a shift by anything but an in-range constant. Loads and
 *   tensor accesses count as safe: lowering guards every access that could leave its
 *   buffer, and guards are only removed when proven.
 * - Division by a constant zero and out-of-range constant shifts are never folded: the
 *   run-time error stays. Floats are folded only when both operands are constants, with
 *   the interpreter's float32 rounding, and only to finite results; x + 0.0 is not x
 *   (-0.0 + 0.0 is +0.0), so no identity rule touches floats.
 *
 * Canonical order: terms keep the order in which they first appear (with a positive
 * term moved first when there is one) and the constant comes last, so printed forms
 * and golden files are the same on every run; nothing is ordered by pointer value. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "te_internal.h"

/* ---- integer helpers ---- */

static bool add_ok(int64_t a, int64_t b, int64_t *r)
{
    return !__builtin_add_overflow(a, b, r);
}

static bool sub_ok(int64_t a, int64_t b, int64_t *r)
{
    return !__builtin_sub_overflow(a, b, r);
}

static bool mul_ok(int64_t a, int64_t b, int64_t *r)
{
    return !__builtin_mul_overflow(a, b, r);
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

/* Division of int64 values rounding toward -inf (floor) or toward zero; false for a
 * zero divisor or INT64_MIN / -1. */
static bool div64(bool floored, int64_t a, int64_t b, int64_t *q)
{
    if (b == 0 || (a == INT64_MIN && b == -1))
        return false;
    *q = a / b;
    if (floored && a % b != 0 && ((a % b < 0) != (b < 0)))
        *q -= 1;
    return true;
}

static int64_t floormod64(int64_t a, int64_t b)
{
    int64_t r = a % b;
    return r != 0 && ((r < 0) != (b < 0)) ? r + b : r;
}

static int64_t wrap_add(TsDType t, int64_t a, int64_t b)
{
    return te_wrap_int(t, (int64_t)((uint64_t)a + (uint64_t)b));
}

static int64_t wrap_mul(TsDType t, int64_t a, int64_t b)
{
    return te_wrap_int(t, (int64_t)((uint64_t)a * (uint64_t)b));
}

static int64_t wrap_neg(TsDType t, int64_t a)
{
    return te_wrap_int(t, (int64_t)(0 - (uint64_t)a));
}

static bool is_signed_scalar(TsDType t)
{
    return t.code == TS_TYPE_INT && t.lanes == 1;
}

static bool is_integral(TsDType t)
{
    return ts_dtype_is_int(t) || ts_dtype_is_bool(t);
}

/* The values of an integer or bool dtype that int64 bounds describe exactly (uint64
 * values above INT64_MAX are left out). */
static bool type_range(TsDType t, int64_t *lo, int64_t *hi)
{
    if (ts_dtype_is_bool(t)) {
        *lo = 0;
        *hi = 1;
    } else if (ts_dtype_is_uint(t)) {
        *lo = 0;
        *hi = t.bits >= 64 ? INT64_MAX : (int64_t)((UINT64_C(1) << t.bits) - 1);
    } else if (ts_dtype_is_int(t)) {
        *lo = t.bits >= 64 ? INT64_MIN : -(int64_t)(UINT64_C(1) << (t.bits - 1));
        *hi = t.bits >= 64 ? INT64_MAX : (int64_t)((UINT64_C(1) << (t.bits - 1)) - 1);
    } else {
        return false;
    }
    return true;
}

static bool fits(TsDType t, int64_t lo, int64_t hi)
{
    int64_t tlo, thi;
    return type_range(t, &tlo, &thi) && lo >= tlo && hi <= thi && lo <= hi;
}

/* ---- structural equality and traps ---- */

static bool expr_equal(const TsExpr *a, const TsExpr *b);

static bool exprs_equal(int n, TsExpr *const *a, TsExpr *const *b)
{
    for (int i = 0; i < n; i++)
        if (!expr_equal(a[i], b[i]))
            return false;
    return true;
}

/* Same kind, dtype and operands all the way down; variables are equal only to
 * themselves (two variables may share a name). */
static bool expr_equal(const TsExpr *a, const TsExpr *b)
{
    if (a == b)
        return true;
    if (!a || !b || a->kind != b->kind || !ts_dtype_eq(a->dtype, b->dtype))
        return false;
    switch (a->kind) {
    case TE_INT: return a->u.int_value == b->u.int_value;
    case TE_FLOAT: return memcmp(&a->u.float_value, &b->u.float_value, sizeof(double)) == 0;
    case TE_VAR: return false;
    case TE_ADD: case TE_SUB: case TE_MUL: case TE_DIV: case TE_MOD: case TE_FLOORDIV:
    case TE_FLOORMOD: case TE_MIN: case TE_MAX: case TE_EQ: case TE_NE: case TE_LT: case TE_LE:
    case TE_GT: case TE_GE: case TE_AND: case TE_OR: case TE_NOT: case TE_BITAND: case TE_BITOR:
    case TE_BITXOR: case TE_BITNOT: case TE_SHL: case TE_SHR: case TE_POPCOUNT:
        return expr_equal(a->u.op.a, b->u.op.a) && expr_equal(a->u.op.b, b->u.op.b);
    case TE_SELECT:
    case TE_IF_THEN_ELSE:
        return expr_equal(a->u.select.cond, b->u.select.cond) &&
               expr_equal(a->u.select.then_value, b->u.select.then_value) &&
               expr_equal(a->u.select.else_value, b->u.select.else_value);
    case TE_CAST: return expr_equal(a->u.cast.value, b->u.cast.value);
    case TE_CALL:
        return a->u.call.fn == b->u.call.fn && expr_equal(a->u.call.args[0], b->u.call.args[0]) &&
               expr_equal(a->u.call.args[1], b->u.call.args[1]);
    case TE_ACCESS:
        return a->u.access.tensor == b->u.access.tensor &&
               exprs_equal(a->u.access.num_indices, a->u.access.indices, b->u.access.indices);
    case TE_REDUCE:
        return a->u.reduce.reducer == b->u.reduce.reducer &&
               a->u.reduce.num_axes == b->u.reduce.num_axes &&
               memcmp(a->u.reduce.axes, b->u.reduce.axes,
                      sizeof(TsAxis *) * (size_t)a->u.reduce.num_axes) == 0 &&
               expr_equal(a->u.reduce.source, b->u.reduce.source) &&
               expr_equal(a->u.reduce.cond, b->u.reduce.cond);
    case TE_LOAD:
        return a->u.load.buffer == b->u.load.buffer && a->u.load.flat == b->u.load.flat &&
               a->u.load.num_indices == b->u.load.num_indices &&
               exprs_equal(a->u.load.num_indices, a->u.load.indices, b->u.load.indices);
    case TE_RAMP:
        return a->u.ramp.lanes == b->u.ramp.lanes && expr_equal(a->u.ramp.base, b->u.ramp.base) &&
               expr_equal(a->u.ramp.stride, b->u.ramp.stride);
    case TE_BROADCAST:
        return a->u.broadcast.lanes == b->u.broadcast.lanes &&
               expr_equal(a->u.broadcast.value, b->u.broadcast.value);
    case TE_NUM_EXPR_KINDS:
        break;
    }
    return false;
}

static bool any_can_trap(int n, TsExpr *const *items);

/* Whether evaluating e may fail at run time with an arithmetic error: integer division
 * by anything but a nonzero constant, a shift by anything but an in-range constant, or
 * a nested reduction. A rule may drop a subexpression only when this is false. */
static bool can_trap(const TsExpr *e)
{
    int64_t v;
    if (!e)
        return false;
    switch (e->kind) {
    case TE_INT: case TE_FLOAT: case TE_VAR:
        return false;
    case TE_DIV: case TE_MOD: case TE_FLOORDIV: case TE_FLOORMOD:
        if (ts_dtype_is_int(e->dtype) && !(te_const_int(e->u.op.b, &v) && v != 0))
            return true;
        return can_trap(e->u.op.a) || can_trap(e->u.op.b);
    case TE_SHL: case TE_SHR:
        if (!te_const_int(e->u.op.b, &v) || v < 0 || v >= e->dtype.bits)
            return true;
        return can_trap(e->u.op.a);
    case TE_ADD: case TE_SUB: case TE_MUL: case TE_MIN: case TE_MAX: case TE_EQ: case TE_NE:
    case TE_LT: case TE_LE: case TE_GT: case TE_GE: case TE_AND: case TE_OR: case TE_NOT:
    case TE_BITAND: case TE_BITOR: case TE_BITXOR: case TE_BITNOT: case TE_POPCOUNT:
        return can_trap(e->u.op.a) || can_trap(e->u.op.b);
    case TE_SELECT: case TE_IF_THEN_ELSE:
        return can_trap(e->u.select.cond) || can_trap(e->u.select.then_value) ||
               can_trap(e->u.select.else_value);
    case TE_CAST: return can_trap(e->u.cast.value);
    case TE_CALL: return can_trap(e->u.call.args[0]) || can_trap(e->u.call.args[1]);
    case TE_ACCESS: return any_can_trap(e->u.access.num_indices, e->u.access.indices);
    case TE_LOAD: return any_can_trap(e->u.load.num_indices, e->u.load.indices);
    case TE_RAMP: return can_trap(e->u.ramp.base) || can_trap(e->u.ramp.stride);
    case TE_BROADCAST: return can_trap(e->u.broadcast.value);
    case TE_REDUCE: case TE_NUM_EXPR_KINDS:
        return true;
    }
    return true;
}

static bool any_can_trap(int n, TsExpr *const *items)
{
    for (int i = 0; i < n; i++)
        if (can_trap(items[i]))
            return true;
    return false;
}

/* ---- linear forms ---- */

enum { MAX_TERMS = 32 };

typedef struct Term {
    TsExpr *expr;  /* a variable or a subexpression that is not + - or * constant */
    int64_t coeff; /* wrapped to the dtype; 0 once terms cancelled */
} Term;

/* sum(coeff * expr) + constant in a signed scalar integer dtype. too_big is set when a
 * form would need more than MAX_TERMS terms; callers then leave the expression alone. */
typedef struct Linear {
    TsDType dtype;
    int num_terms;
    bool too_big;
    int64_t constant;
    Term terms[MAX_TERMS];
} Linear;

static void lin_init(Linear *f, TsDType dtype)
{
    f->dtype = dtype;
    f->num_terms = 0;
    f->too_big = false;
    f->constant = 0;
}

static void lin_add_term(Linear *f, TsExpr *e, int64_t coeff)
{
    for (int i = 0; i < f->num_terms; i++) {
        if (expr_equal(f->terms[i].expr, e)) {
            f->terms[i].coeff = wrap_add(f->dtype, f->terms[i].coeff, coeff);
            return;
        }
    }
    if (f->num_terms == MAX_TERMS) {
        f->too_big = true;
        return;
    }
    f->terms[f->num_terms].expr = e;
    f->terms[f->num_terms].coeff = te_wrap_int(f->dtype, coeff);
    f->num_terms++;
}

/* Adds scale * e to f, looking through + - and products by constants. */
static void lin_collect(Linear *f, TsExpr *e, int64_t scale)
{
    int64_t k;
    if (te_const_int(e, &k)) {
        f->constant = wrap_add(f->dtype, f->constant, wrap_mul(f->dtype, scale, k));
    } else if (e->kind == TE_ADD || e->kind == TE_SUB) {
        lin_collect(f, e->u.op.a, scale);
        lin_collect(f, e->u.op.b, e->kind == TE_ADD ? scale : wrap_neg(f->dtype, scale));
    } else if (e->kind == TE_MUL && te_const_int(e->u.op.b, &k)) {
        lin_collect(f, e->u.op.a, wrap_mul(f->dtype, scale, k));
    } else if (e->kind == TE_MUL && te_const_int(e->u.op.a, &k)) {
        lin_collect(f, e->u.op.b, wrap_mul(f->dtype, scale, k));
    } else {
        lin_add_term(f, e, scale);
    }
}

static bool has_terms(const Linear *f)
{
    for (int i = 0; i < f->num_terms; i++)
        if (f->terms[i].coeff != 0)
            return true;
    return false;
}

typedef struct Ranges {
    const TeRange *items;
    int n;
} Ranges;

static bool bounds(const Ranges *rs, const TsExpr *e, int64_t *lo, int64_t *hi);

/* Bounds of the form's exact (unwrapped) value. */
static bool lin_bounds(const Ranges *rs, const Linear *f, int64_t *lo, int64_t *hi)
{
    if (f->too_big)
        return false;
    int64_t l = f->constant, h = f->constant;
    for (int i = 0; i < f->num_terms; i++) {
        int64_t k = f->terms[i].coeff, tlo, thi, p, q;
        if (k == 0)
            continue;
        if (!bounds(rs, f->terms[i].expr, &tlo, &thi) || !mul_ok(k, tlo, &p) ||
            !mul_ok(k, thi, &q) || !add_ok(l, min64(p, q), &l) || !add_ok(h, max64(p, q), &h))
            return false;
    }
    *lo = l;
    *hi = h;
    return true;
}

/* Whether the form's exact value always fits its dtype, so that it equals the value
 * the program computes. */
static bool lin_fits(const Ranges *rs, const Linear *f)
{
    int64_t lo, hi;
    return lin_bounds(rs, f, &lo, &hi) && fits(f->dtype, lo, hi);
}

/* d = fa - fb with exact coefficients and constant, not wrapped to the dtype: the
 * difference of two values that fit int32 may not. False when one overflows int64. */
static bool lin_exact_diff(Linear *d, const Linear *fa, const Linear *fb)
{
    *d = *fa;
    d->too_big = fa->too_big || fb->too_big;
    if (!sub_ok(fa->constant, fb->constant, &d->constant))
        return false;
    for (int i = 0; i < fb->num_terms && !d->too_big; i++) {
        int k = 0;
        while (k < d->num_terms && !expr_equal(d->terms[k].expr, fb->terms[i].expr))
            k++;
        if (k == MAX_TERMS) {
            d->too_big = true;
        } else if (k == d->num_terms) {
            if (fb->terms[i].coeff == INT64_MIN)
                return false;
            d->terms[k].expr = fb->terms[i].expr;
            d->terms[k].coeff = -fb->terms[i].coeff;
            d->num_terms++;
        } else if (!sub_ok(d->terms[k].coeff, fb->terms[i].coeff, &d->terms[k].coeff)) {
            return false;
        }
    }
    return !d->too_big;
}

/* The exact difference a - b of two signed scalar integer expressions as a linear form,
 * when both sides provably do not wrap (so their forms' exact values are theirs). */
static bool exact_difference(const Ranges *rs, TsExpr *a, TsExpr *b, Linear *d)
{
    Linear fa, fb;
    lin_init(&fa, a->dtype);
    lin_init(&fb, a->dtype);
    lin_collect(&fa, a, 1);
    lin_collect(&fb, b, 1);
    return lin_fits(rs, &fa) && lin_fits(rs, &fb) && lin_exact_diff(d, &fa, &fb);
}

/* Bounds of a - b for integer scalars a and b, both exact: through linear forms (so
 * that common terms cancel) when both sides provably do not wrap, else from the bounds
 * of each side. */
static bool diff_bounds(const Ranges *rs, TsExpr *a, TsExpr *b, int64_t *lo, int64_t *hi)
{
    Linear d;
    if (is_signed_scalar(a->dtype) && exact_difference(rs, a, b, &d) &&
        lin_bounds(rs, &d, lo, hi))
        return true;
    int64_t alo, ahi, blo, bhi;
    return bounds(rs, a, &alo, &ahi) && bounds(rs, b, &blo, &bhi) && sub_ok(alo, bhi, lo) &&
           sub_ok(ahi, blo, hi);
}

/* ---- deciding conditions ---- */

typedef enum Tri { TRI_UNKNOWN, TRI_FALSE, TRI_TRUE } Tri;

static Tri tri(bool v)
{
    return v ? TRI_TRUE : TRI_FALSE;
}

static bool is_compare(TeExprKind k)
{
    return k == TE_EQ || k == TE_NE || k == TE_LT || k == TE_LE || k == TE_GT || k == TE_GE;
}

static bool compare_doubles(TeExprKind kind, double x, double y)
{
    if (kind == TE_EQ)
        return x == y;
    if (kind == TE_NE)
        return x != y;
    if (kind == TE_LT)
        return x < y;
    if (kind == TE_LE)
        return x <= y;
    return kind == TE_GT ? x > y : x >= y;
}

/* Decides a comparison from the bounds [lo, hi] of (a - b). */
static Tri compare_by_diff(TeExprKind kind, int64_t lo, int64_t hi)
{
    if (kind == TE_LT)
        return hi < 0 ? TRI_TRUE : lo >= 0 ? TRI_FALSE : TRI_UNKNOWN;
    if (kind == TE_LE)
        return hi <= 0 ? TRI_TRUE : lo > 0 ? TRI_FALSE : TRI_UNKNOWN;
    if (kind == TE_GT)
        return lo > 0 ? TRI_TRUE : hi <= 0 ? TRI_FALSE : TRI_UNKNOWN;
    if (kind == TE_GE)
        return lo >= 0 ? TRI_TRUE : hi < 0 ? TRI_FALSE : TRI_UNKNOWN;
    bool eq = lo == 0 && hi == 0, ne = lo > 0 || hi < 0;
    if (kind == TE_EQ)
        return eq ? TRI_TRUE : ne ? TRI_FALSE : TRI_UNKNOWN;
    return eq ? TRI_FALSE : ne ? TRI_TRUE : TRI_UNKNOWN;
}

static Tri decide_compare(const Ranges *rs, const TsExpr *e)
{
    TsExpr *a = e->u.op.a, *b = e->u.op.b;
    if (a->dtype.lanes != 1 || !is_integral(a->dtype)) {
        if (a->kind != TE_FLOAT || b->kind != TE_FLOAT)
            return TRI_UNKNOWN;
        return tri(compare_doubles(e->kind, a->u.float_value, b->u.float_value));
    }
    if (is_signed_scalar(a->dtype) && (e->kind == TE_EQ || e->kind == TE_NE)) {
        /* Equality is modular: a - b that is a constant decides it without bounds. */
        Linear d;
        lin_init(&d, a->dtype);
        lin_collect(&d, a, 1);
        lin_collect(&d, b, -1);
        if (!d.too_big && !has_terms(&d))
            return tri((d.constant == 0) == (e->kind == TE_EQ));
    }
    int64_t lo, hi;
    if (!diff_bounds(rs, a, b, &lo, &hi))
        return TRI_UNKNOWN;
    return compare_by_diff(e->kind, lo, hi);
}

/* Whether a bool expression is true (or false) for every value of the variables. */
static Tri decide(const Ranges *rs, const TsExpr *cond)
{
    if (cond->kind == TE_INT)
        return tri(cond->u.int_value != 0);
    if (is_compare(cond->kind))
        return decide_compare(rs, cond);
    if (cond->kind == TE_NOT) {
        Tri t = decide(rs, cond->u.op.a);
        return t == TRI_UNKNOWN ? t : tri(t == TRI_FALSE);
    }
    if (cond->kind == TE_AND || cond->kind == TE_OR) {
        Tri short_value = cond->kind == TE_AND ? TRI_FALSE : TRI_TRUE;
        Tri a = decide(rs, cond->u.op.a);
        if (a == short_value)
            return a;
        Tri b = decide(rs, cond->u.op.b);
        if (b == short_value || (a != TRI_UNKNOWN && a == b))
            return b;
    }
    return TRI_UNKNOWN;
}

/* ---- interval analysis ---- */

static bool arith_bounds(TeExprKind kind, int64_t alo, int64_t ahi, int64_t blo, int64_t bhi,
                         int64_t *lo, int64_t *hi)
{
    if (kind == TE_ADD)
        return add_ok(alo, blo, lo) && add_ok(ahi, bhi, hi);
    if (kind == TE_SUB)
        return sub_ok(alo, bhi, lo) && sub_ok(ahi, blo, hi);
    if (kind == TE_MIN || kind == TE_MAX) {
        *lo = kind == TE_MIN ? min64(alo, blo) : max64(alo, blo);
        *hi = kind == TE_MIN ? min64(ahi, bhi) : max64(ahi, bhi);
        return true;
    }
    int64_t p[4];
    if (!mul_ok(alo, blo, &p[0]) || !mul_ok(alo, bhi, &p[1]) || !mul_ok(ahi, blo, &p[2]) ||
        !mul_ok(ahi, bhi, &p[3]))
        return false;
    *lo = min64(min64(p[0], p[1]), min64(p[2], p[3]));
    *hi = max64(max64(p[0], p[1]), max64(p[2], p[3]));
    return true;
}

/* Truncating or floor division: monotone in each operand while the divisor keeps its
 * sign, so the extremes are at the corners. */
static bool division_bounds(const Ranges *rs, const TsExpr *e, int64_t *lo, int64_t *hi)
{
    int64_t alo, ahi, blo, bhi, q[4];
    bool floored = e->kind == TE_FLOORDIV;
    if (!bounds(rs, e->u.op.a, &alo, &ahi) || !bounds(rs, e->u.op.b, &blo, &bhi) ||
        (blo <= 0 && bhi >= 0))
        return false;
    if (!div64(floored, alo, blo, &q[0]) || !div64(floored, alo, bhi, &q[1]) ||
        !div64(floored, ahi, blo, &q[2]) || !div64(floored, ahi, bhi, &q[3]))
        return false;
    *lo = min64(min64(q[0], q[1]), min64(q[2], q[3]));
    *hi = max64(max64(q[0], q[1]), max64(q[2], q[3]));
    return true;
}

/* Remainders: exact when a constant divisor gives one quotient over the dividend's
 * range; otherwise the remainder's sign rule (the dividend's for %, the divisor's for
 * floormod) and |r| < |divisor|, which hold even for an unbounded dividend. */
static bool remainder_bounds(const Ranges *rs, const TsExpr *e, int64_t *lo, int64_t *hi)
{
    int64_t alo = 0, ahi = 0, blo, bhi, qlo, qhi, qb;
    bool floored = e->kind == TE_FLOORMOD;
    if (!bounds(rs, e->u.op.b, &blo, &bhi) || (blo <= 0 && bhi >= 0) || blo == INT64_MIN)
        return false;
    bool have_a = bounds(rs, e->u.op.a, &alo, &ahi);
    if (have_a && blo == bhi && div64(floored, alo, blo, &qlo) &&
        div64(floored, ahi, blo, &qhi) && qlo == qhi && mul_ok(qlo, blo, &qb) &&
        sub_ok(alo, qb, lo) && sub_ok(ahi, qb, hi))
        return true;
    int64_t m = max64(blo < 0 ? -blo : blo, bhi < 0 ? -bhi : bhi) - 1;
    bool nonneg = floored ? blo > 0 : have_a && alo >= 0;
    bool nonpos = floored ? bhi < 0 : have_a && ahi <= 0;
    *lo = nonneg ? 0 : -m;
    *hi = nonpos ? 0 : m;
    if (have_a && alo >= 0 && nonneg)
        *hi = min64(*hi, ahi);
    if (have_a && ahi <= 0 && nonpos)
        *lo = max64(*lo, alo);
    return true;
}

static int bit_length(int64_t v)
{
    int n = 0;
    for (; v > 0; v >>= 1)
        n++;
    return n;
}

static bool bitwise_bounds(const Ranges *rs, const TsExpr *e, int64_t *lo, int64_t *hi)
{
    int64_t alo, ahi, blo, bhi;
    bool have_a = bounds(rs, e->u.op.a, &alo, &ahi) && alo >= 0;
    bool have_b = bounds(rs, e->u.op.b, &blo, &bhi) && blo >= 0;
    *lo = 0;
    if (e->kind == TE_BITAND && (have_a || have_b)) {
        /* x & m with m >= 0 keeps only bits of m. */
        *hi = have_a && have_b ? min64(ahi, bhi) : have_a ? ahi : bhi;
        return true;
    }
    if (!have_a || !have_b)
        return false;
    int n = bit_length(max64(ahi, bhi));
    *hi = n >= 63 ? INT64_MAX : (int64_t)((UINT64_C(1) << n) - 1);
    return true;
}

static bool shift_bounds(const Ranges *rs, const TsExpr *e, int64_t *lo, int64_t *hi)
{
    int64_t alo, ahi, s;
    if (!te_const_int(e->u.op.b, &s) || s < 0 || s >= e->dtype.bits || s >= 62 ||
        !bounds(rs, e->u.op.a, &alo, &ahi))
        return false;
    int64_t scale = INT64_C(1) << s;
    if (e->kind == TE_SHL)
        return mul_ok(alo, scale, lo) && mul_ok(ahi, scale, hi);
    return div64(true, alo, scale, lo) && div64(true, ahi, scale, hi);
}

static bool bitnot_bounds(const Ranges *rs, const TsExpr *e, int64_t *lo, int64_t *hi)
{
    int64_t alo, ahi, tlo, thi;
    if (!bounds(rs, e->u.op.a, &alo, &ahi) || !type_range(e->dtype, &tlo, &thi))
        return false;
    if (ts_dtype_is_uint(e->dtype)) /* ~x = max - x */
        return sub_ok(thi, ahi, lo) && sub_ok(thi, alo, hi);
    *lo = -1 - ahi; /* ~x = -1 - x, and -1 - x cannot overflow int64 */
    *hi = -1 - alo;
    return true;
}

static bool select_bounds(const Ranges *rs, const TsExpr *e, int64_t *lo, int64_t *hi)
{
    int64_t alo, ahi, blo, bhi;
    Tri t = decide(rs, e->u.select.cond);
    if (t == TRI_TRUE)
        return bounds(rs, e->u.select.then_value, lo, hi);
    if (t == TRI_FALSE)
        return bounds(rs, e->u.select.else_value, lo, hi);
    if (!bounds(rs, e->u.select.then_value, &alo, &ahi) ||
        !bounds(rs, e->u.select.else_value, &blo, &bhi))
        return false;
    *lo = min64(alo, blo);
    *hi = max64(ahi, bhi);
    return true;
}

/* An integer-to-integer cast keeps the value when it fits the target (checked by the
 * caller); a cast to bool is "!= 0". */
static bool cast_bounds(const Ranges *rs, const TsExpr *e, int64_t *lo, int64_t *hi)
{
    int64_t alo, ahi;
    const TsExpr *v = e->u.cast.value;
    if (!is_integral(v->dtype) || !bounds(rs, v, &alo, &ahi))
        return false;
    if (!ts_dtype_is_bool(e->dtype)) {
        *lo = alo;
        *hi = ahi;
    } else {
        bool never_zero = alo > 0 || ahi < 0, always_zero = alo == 0 && ahi == 0;
        *lo = never_zero;
        *hi = !always_zero;
    }
    return true;
}

static bool ramp_bounds(const Ranges *rs, const TsExpr *e, int64_t *lo, int64_t *hi)
{
    int64_t blo, bhi, slo, shi, a, b;
    int64_t last = e->u.ramp.lanes - 1;
    if (!bounds(rs, e->u.ramp.base, &blo, &bhi) || !bounds(rs, e->u.ramp.stride, &slo, &shi) ||
        !mul_ok(slo, last, &a) || !mul_ok(shi, last, &b))
        return false;
    return add_ok(blo, min64(0, a), lo) && add_ok(bhi, max64(0, b), hi);
}

static const TeRange *find_range(const Ranges *rs, const TsExpr *var)
{
    for (int i = rs->n - 1; i >= 0; i--)
        if (rs->items[i].var == var)
            return &rs->items[i];
    return NULL;
}

static bool raw_bounds(const Ranges *rs, const TsExpr *e, int64_t *lo, int64_t *hi)
{
    int64_t alo, ahi, blo, bhi;
    const TeRange *r;
    switch (e->kind) {
    case TE_INT:
        *lo = *hi = e->u.int_value;
        return !(ts_dtype_is_uint(e->dtype) && e->u.int_value < 0);
    case TE_VAR:
        r = find_range(rs, e);
        if (r) {
            *lo = r->min;
            *hi = r->max;
        }
        return r != NULL;
    case TE_ADD: case TE_SUB: case TE_MUL: case TE_MIN: case TE_MAX:
        return bounds(rs, e->u.op.a, &alo, &ahi) && bounds(rs, e->u.op.b, &blo, &bhi) &&
               arith_bounds(e->kind, alo, ahi, blo, bhi, lo, hi);
    case TE_DIV: case TE_FLOORDIV: return division_bounds(rs, e, lo, hi);
    case TE_MOD: case TE_FLOORMOD: return remainder_bounds(rs, e, lo, hi);
    case TE_EQ: case TE_NE: case TE_LT: case TE_LE: case TE_GT: case TE_GE: case TE_AND:
    case TE_OR: case TE_NOT: {
        Tri t = e->dtype.lanes == 1 ? decide(rs, e) : TRI_UNKNOWN;
        *lo = t == TRI_TRUE;
        *hi = t != TRI_FALSE;
        return true;
    }
    case TE_BITAND: case TE_BITOR: case TE_BITXOR: return bitwise_bounds(rs, e, lo, hi);
    case TE_BITNOT: return bitnot_bounds(rs, e, lo, hi);
    case TE_SHL: case TE_SHR: return shift_bounds(rs, e, lo, hi);
    case TE_POPCOUNT:
        *lo = 0;
        *hi = e->dtype.bits;
        return true;
    case TE_SELECT: case TE_IF_THEN_ELSE: return select_bounds(rs, e, lo, hi);
    case TE_CAST: return cast_bounds(rs, e, lo, hi);
    case TE_RAMP: return ramp_bounds(rs, e, lo, hi);
    case TE_BROADCAST: return bounds(rs, e->u.broadcast.value, lo, hi);
    case TE_FLOAT: case TE_CALL: case TE_ACCESS: case TE_REDUCE: case TE_LOAD:
    case TE_NUM_EXPR_KINDS:
        return false;
    }
    return false;
}

/* Bounds of an integer or bool expression (over all lanes of a vector), valid only when
 * they fit the dtype: a result outside it would have wrapped. A narrow type (bool, 8 or
 * 16 bits) is always bounded by its own range. */
static bool bounds(const Ranges *rs, const TsExpr *e, int64_t *lo, int64_t *hi)
{
    if (!is_integral(e->dtype))
        return false;
    if (raw_bounds(rs, e, lo, hi) && fits(e->dtype, *lo, *hi))
        return true;
    return e->dtype.bits <= 16 && type_range(e->dtype, lo, hi);
}

bool te_const_bounds(const TsExpr *e, int num_ranges, const TeRange *ranges, int64_t *lo,
                     int64_t *hi)
{
    Ranges rs = { ranges, num_ranges };
    int64_t l, h;
    if (!e || num_ranges < 0 || (num_ranges > 0 && !ranges) || !bounds(&rs, e, &l, &h))
        return false;
    *lo = l;
    *hi = h;
    return true;
}

/* ---- constant folding ---- */

static bool int_less(TsDType t, int64_t a, int64_t b)
{
    return ts_dtype_is_uint(t) ? (uint64_t)a < (uint64_t)b : a < b;
}

/* Integer or bool division and remainder with the interpreter's semantics, for a
 * nonzero divisor. */
static int64_t fold_division(TeExprKind kind, TsDType t, int64_t a, int64_t b)
{
    if (ts_dtype_is_uint(t))
        return (int64_t)(kind == TE_DIV || kind == TE_FLOORDIV ? (uint64_t)a / (uint64_t)b
                                                                : (uint64_t)a % (uint64_t)b);
    if (a == INT64_MIN && b == -1) /* wraps */
        return kind == TE_DIV || kind == TE_FLOORDIV ? INT64_MIN : 0;
    int64_t q;
    div64(kind == TE_FLOORDIV || kind == TE_FLOORMOD, a, b, &q);
    if (kind == TE_DIV || kind == TE_FLOORDIV)
        return q;
    return kind == TE_MOD ? a % b : floormod64(a, b);
}

static bool fold_shift(TeExprKind kind, TsDType t, int64_t a, int64_t b, int64_t *out)
{
    if ((!ts_dtype_is_uint(t) && b < 0) || (uint64_t)b >= t.bits)
        return false; /* a run-time error: leave it to the run time */
    uint64_t ua = (uint64_t)a;
    if (kind == TE_SHL)
        *out = (int64_t)(ua << b);
    else if (ts_dtype_is_uint(t) || a >= 0)
        *out = (int64_t)(ua >> b);
    else
        *out = (int64_t)~(~ua >> b);
    return true;
}

/* a op b for constants of the integer or bool dtype t, as the interpreter computes it;
 * false when it would fail at run time or op is not an integer operation. */
static bool fold_int(TeExprKind kind, TsDType t, int64_t a, int64_t b, int64_t *out)
{
    uint64_t ua = (uint64_t)a, ub = (uint64_t)b;
    int64_t raw = 0;
    switch (kind) {
    case TE_ADD: raw = (int64_t)(ua + ub); break;
    case TE_SUB: raw = (int64_t)(ua - ub); break;
    case TE_MUL: raw = (int64_t)(ua * ub); break;
    case TE_DIV: case TE_MOD: case TE_FLOORDIV: case TE_FLOORMOD:
        if (b == 0)
            return false;
        raw = fold_division(kind, t, a, b);
        break;
    case TE_MIN: raw = int_less(t, b, a) ? b : a; break;
    case TE_MAX: raw = int_less(t, a, b) ? b : a; break;
    case TE_EQ: *out = a == b; return true;
    case TE_NE: *out = a != b; return true;
    case TE_LT: *out = int_less(t, a, b); return true;
    case TE_LE: *out = !int_less(t, b, a); return true;
    case TE_GT: *out = int_less(t, b, a); return true;
    case TE_GE: *out = !int_less(t, a, b); return true;
    case TE_AND: *out = a && b; return true;
    case TE_OR: *out = a || b; return true;
    case TE_BITAND: raw = (int64_t)(ua & ub); break;
    case TE_BITOR: raw = (int64_t)(ua | ub); break;
    case TE_BITXOR: raw = (int64_t)(ua ^ ub); break;
    case TE_SHL: case TE_SHR:
        if (!fold_shift(kind, t, a, b, &raw))
            return false;
        break;
    case TE_INT: case TE_FLOAT: case TE_VAR: case TE_NOT: case TE_BITNOT: case TE_POPCOUNT:
    case TE_SELECT: case TE_IF_THEN_ELSE: case TE_CAST: case TE_CALL: case TE_ACCESS:
    case TE_REDUCE: case TE_LOAD: case TE_RAMP: case TE_BROADCAST: case TE_NUM_EXPR_KINDS:
        return false;
    }
    *out = te_wrap_int(t, raw);
    return true;
}

/* a op b for float constants with the interpreter's rounding; false for other
 * operators and for results that are not finite. Comparisons set *is_bool. */
static bool fold_float(TeExprKind kind, TsDType t, double a, double b, double *out,
                       bool *is_bool)
{
    bool f32 = t.bits == 32;
    float fa = (float)a, fb = (float)b;
    *is_bool = is_compare(kind);
    if (*is_bool)
        *out = compare_doubles(kind, a, b);
    else if (kind == TE_ADD)
        *out = f32 ? (double)(fa + fb) : a + b;
    else if (kind == TE_SUB)
        *out = f32 ? (double)(fa - fb) : a - b;
    else if (kind == TE_MUL)
        *out = f32 ? (double)(fa * fb) : a * b;
    else if (kind == TE_DIV)
        *out = f32 ? (double)(fa / fb) : a / b;
    else if (kind == TE_MIN || kind == TE_MAX)
        *out = kind == TE_MIN ? fmin(a, b) : fmax(a, b);
    else
        return false;
    return isfinite(*out);
}

/* Float to integer as the interpreter casts: toward zero, saturating, NaN to 0. */
static int64_t float_to_int(TsDType to, double v)
{
    if (isnan(v))
        return 0;
    if (ts_dtype_is_uint(to)) {
        double limit = ldexp(1.0, to.bits);
        if (v <= -1.0)
            return 0;
        if (v >= limit)
            return te_wrap_int(to, -1);
        return te_wrap_int(to, (int64_t)(uint64_t)v);
    }
    double limit = ldexp(1.0, to.bits - 1);
    if (v >= limit)
        return (int64_t)((UINT64_C(1) << (to.bits - 1)) - 1);
    if (v < -limit)
        return te_wrap_int(to, (int64_t)(UINT64_C(1) << (to.bits - 1)));
    return (int64_t)v;
}

/* ---- the simplifier's state ---- */

/* What is known while simplifying: the caller's ranges, then facts of the enclosing
 * loops, lets and branches, innermost last (lookups search from the end). */
typedef struct Simplifier {
    TsArena *arena;
    TeRange *ranges;
    int num_ranges;
    int cap;
} Simplifier;

static Ranges view(const Simplifier *s)
{
    Ranges rs = { s->ranges, s->num_ranges };
    return rs;
}

static bool push_range(Simplifier *s, const TsExpr *var, int64_t lo, int64_t hi)
{
    if (s->num_ranges == s->cap) {
        int cap = s->cap ? 2 * s->cap : 16;
        TeRange *grown = realloc(s->ranges, sizeof *grown * (size_t)cap);
        if (!grown) {
            ts_arena_fail(s->arena, TS_ENOMEM, "simplify: out of memory for %d variable ranges",
                          cap);
            return false;
        }
        s->ranges = grown;
        s->cap = cap;
    }
    s->ranges[s->num_ranges].var = var;
    s->ranges[s->num_ranges].min = lo;
    s->ranges[s->num_ranges].max = hi;
    s->num_ranges++;
    return true;
}

static TsExpr *make_int(Simplifier *s, TsDType t, int64_t v)
{
    return ts_dtype_is_uint(t) ? ts_uint(s->arena, t, (uint64_t)v) : ts_int(s->arena, t, v);
}

/* A node of e's kind (a binary operator) with other operands, checked as the builders
 * check: the result dtype follows from the operands. */
static TsExpr *with_operands(Simplifier *s, const TsExpr *e, TsExpr *a, TsExpr *b)
{
    if (!a || !b)
        return NULL;
    TsExpr *n = ts_arena_alloc(s->arena, sizeof *n);
    if (n) {
        *n = *e;
        n->u.op.a = a;
        n->u.op.b = b;
    }
    return n;
}

/* ---- building linear forms back into expressions ---- */

static TsExpr *scaled_term(Simplifier *s, const Linear *f, TsExpr *term, int64_t k)
{
    return k == 1 ? term : ts_mul(s->arena, term, ts_int(s->arena, f->dtype, k));
}

/* The canonical expression of a form: a positive term first when there is one, the
 * other terms in order of first appearance, the constant last ("(5 - i)" when every
 * term is negative). A term that cancelled but may fail at run time stays as t*0. */
static TsExpr *lin_build(Simplifier *s, const Linear *f)
{
    int first = -1;
    for (int i = 0; i < f->num_terms && first < 0; i++)
        if (f->terms[i].coeff > 0)
            first = i;
    TsExpr *sum = first >= 0 ? scaled_term(s, f, f->terms[first].expr, f->terms[first].coeff)
                             : NULL;
    bool constant_used = false;
    for (int i = 0; i < f->num_terms; i++) {
        int64_t k = f->terms[i].coeff;
        if (i == first || (k == 0 && !can_trap(f->terms[i].expr)))
            continue;
        TsExpr *term = k < 0 ? scaled_term(s, f, f->terms[i].expr, wrap_neg(f->dtype, k))
                             : scaled_term(s, f, f->terms[i].expr, k);
        if (!sum && k < 0) {
            constant_used = true;
            sum = ts_int(s->arena, f->dtype, f->constant);
        }
        sum = !sum ? term : k < 0 ? ts_sub(s->arena, sum, term) : ts_add(s->arena, sum, term);
    }
    if (!sum)
        return ts_int(s->arena, f->dtype, f->constant);
    if (constant_used || f->constant == 0)
        return sum;
    if (f->constant < 0 && f->constant != wrap_neg(f->dtype, f->constant))
        return ts_sub(s->arena, sum, ts_int(s->arena, f->dtype, -f->constant));
    return ts_add(s->arena, sum, ts_int(s->arena, f->dtype, f->constant));
}

/* ---- expressions ---- */

static TsExpr *simp(Simplifier *s, TsExpr *e);

typedef struct ChildSimp {
    Simplifier *s;
    const TsExpr *root;
} ChildSimp;

static TsExpr *simplify_child(void *ctx, TsArena *arena, TsExpr *x)
{
    ChildSimp *cs = ctx;
    (void)arena;
    if (x == cs->root)
        return NULL; /* rebuild the root from its simplified children */
    TsExpr *r = simp(cs->s, x);
    return r ? r : TE_MUTATE_FAILED;
}

/* e with every child simplified (e itself when none changed). */
static TsExpr *with_simplified_children(Simplifier *s, TsExpr *e)
{
    ChildSimp cs = { s, e };
    TeMutator m = { .expr = simplify_child, .ctx = &cs };
    return te_mutate_expr(s->arena, e, &m);
}

static TsExpr *simp_var(Simplifier *s, TsExpr *e)
{
    Ranges rs = view(s);
    const TeRange *r = find_range(&rs, e);
    if (r && r->min == r->max && is_integral(e->dtype) && e->dtype.lanes == 1 &&
        fits(e->dtype, r->min, r->max))
        return make_int(s, e->dtype, r->min);
    return e;
}

/* Adds scale * e to f, simplifying the leaves of e's + - * tree exactly once. Returns
 * false on failure (with the error in the arena). */
static bool collect_simplified(Simplifier *s, Linear *f, TsExpr *e, int64_t scale)
{
    int64_t k;
    if (e->kind == TE_ADD || e->kind == TE_SUB) {
        int64_t scale_b = e->kind == TE_ADD ? scale : wrap_neg(f->dtype, scale);
        return collect_simplified(s, f, e->u.op.a, scale) &&
               collect_simplified(s, f, e->u.op.b, scale_b);
    }
    TsExpr *a = e->kind == TE_MUL ? simp(s, e->u.op.a) : simp(s, e);
    if (!a)
        return false;
    if (e->kind != TE_MUL) {
        lin_collect(f, a, scale);
        return true;
    }
    TsExpr *b = simp(s, e->u.op.b);
    if (!b)
        return false;
    if (te_const_int(b, &k)) {
        lin_collect(f, a, wrap_mul(f->dtype, scale, k));
    } else if (te_const_int(a, &k)) {
        lin_collect(f, b, wrap_mul(f->dtype, scale, k));
    } else {
        TsExpr *product = a == e->u.op.a && b == e->u.op.b ? e : ts_mul(s->arena, a, b);
        if (!product)
            return false;
        lin_add_term(f, product, scale);
    }
    return true;
}

/* Identities of + - * that hold for every integer type (scalars only: constants are
 * scalar), and folding of two constants of any type. */
static TsExpr *arith_rules(Simplifier *s, TsExpr *n)
{
    TsExpr *a = n->u.op.a, *b = n->u.op.b;
    int64_t x, y, v;
    double f;
    bool is_bool;
    bool ca = te_const_int(a, &x), cb = te_const_int(b, &y);
    if (ca && cb && fold_int(n->kind, n->dtype, x, y, &v))
        return make_int(s, n->dtype, v);
    if (a->kind == TE_FLOAT && b->kind == TE_FLOAT &&
        fold_float(n->kind, n->dtype, a->u.float_value, b->u.float_value, &f, &is_bool))
        return ts_float(s->arena, n->dtype, f);
    if (!ts_dtype_is_int(n->dtype))
        return n;
    if ((n->kind == TE_ADD || n->kind == TE_SUB) && cb && y == 0)
        return a;
    if (n->kind == TE_ADD && ca && x == 0)
        return b;
    if (n->kind == TE_MUL && ((cb && y == 1) || (ca && x == 1)))
        return cb && y == 1 ? a : b;
    if (n->kind == TE_MUL && ((cb && y == 0) || (ca && x == 0)) && !can_trap(n))
        return make_int(s, n->dtype, 0);
    return n;
}

static TsExpr *simp_arith(Simplifier *s, TsExpr *e)
{
    if (is_signed_scalar(e->dtype)) {
        Linear f;
        lin_init(&f, e->dtype);
        if (!collect_simplified(s, &f, e, 1))
            return NULL;
        if (!f.too_big)
            return lin_build(s, &f);
    }
    TsExpr *n = with_simplified_children(s, e);
    return n ? arith_rules(s, n) : NULL;
}

static bool is_div_kind(TeExprKind k)
{
    return k == TE_DIV || k == TE_FLOORDIV;
}

static TsExpr *division_rules(Simplifier *s, TsExpr *n);

/* a - q*c as a canonical expression. */
static TsExpr *minus_multiple(Simplifier *s, TsExpr *a, int64_t qc)
{
    if (qc == 0)
        return a;
    if (!is_signed_scalar(a->dtype))
        return ts_sub(s->arena, a, make_int(s, a->dtype, qc));
    Linear f;
    lin_init(&f, a->dtype);
    lin_collect(&f, a, 1);
    f.constant = wrap_add(f.dtype, f.constant, wrap_neg(f.dtype, qc));
    return f.too_big ? ts_sub(s->arena, a, ts_int(s->arena, a->dtype, qc)) : lin_build(s, &f);
}

/* When a's bounds give one quotient by the constant c, the quotient is that constant and
 * the remainder is a - q*c: floordiv(e, c) = 0 and floormod(e, c) = e for 0 <= e < c.
 * Returns NULL when the rule does not apply (*failed tells an allocation failure). */
static TsExpr *one_quotient(Simplifier *s, TsExpr *n, int64_t c, bool *failed)
{
    Ranges rs = view(s);
    TsExpr *a = n->u.op.a;
    int64_t lo, hi, qlo, qhi, qc;
    bool floored = n->kind == TE_FLOORDIV || n->kind == TE_FLOORMOD;
    if (!bounds(&rs, a, &lo, &hi) || !div64(floored, lo, c, &qlo) ||
        !div64(floored, hi, c, &qhi) ||
        qlo != qhi || !mul_ok(qlo, c, &qc))
        return NULL;
    if (is_div_kind(n->kind) && can_trap(a))
        return NULL;
    TsExpr *r = is_div_kind(n->kind) ? make_int(s, n->dtype, qlo) : minus_multiple(s, a, qc);
    *failed = !r;
    return r;
}

/* floordiv(floordiv(x, a), b) = floordiv(x, a*b) for a, b > 0 (also truncating), and
 * floormod(floormod(x, a), b) = floormod(x, b) when b divides a (also truncating). */
static TsExpr *nested_division(Simplifier *s, TsExpr *n, int64_t c, bool *failed)
{
    TsExpr *a = n->u.op.a;
    int64_t inner, product;
    if (a->kind != n->kind || !te_const_int(a->u.op.b, &inner) || inner <= 0 || c <= 0)
        return NULL;
    TsExpr *x = a->u.op.a, *r;
    if (is_div_kind(n->kind)) {
        if (!mul_ok(inner, c, &product) || !fits(n->dtype, product, product))
            return NULL;
        r = with_operands(s, n, x, make_int(s, n->dtype, product));
    } else if (inner % c == 0) {
        r = with_operands(s, n, x, n->u.op.b);
    } else {
        return NULL;
    }
    r = r ? division_rules(s, r) : NULL;
    *failed = !r;
    return r;
}

/* Splits the linear dividend x*c + y of a division by c > 0 into the quotient part x
 * and the rest y: floordiv(x*c + y, c) = x + floordiv(y, c), floormod(x*c + y, c) =
 * floormod(y, c), and the same for truncating division when x*c + y and y are >= 0.
 * This holds for exact integers, so the dividend and y must provably not wrap, except
 * for floormod by a power of two, which wrap-around modulo 2^bits preserves. */
static TsExpr *split_division(Simplifier *s, TsExpr *n, int64_t c, bool *failed)
{
    Ranges rs = view(s);
    Linear f, q, r;
    lin_init(&f, n->dtype);
    lin_init(&q, n->dtype);
    lin_init(&r, n->dtype);
    lin_collect(&f, n->u.op.a, 1);
    if (f.too_big || c <= 0)
        return NULL;
    for (int i = 0; i < f.num_terms; i++) {
        if (f.terms[i].coeff % c == 0)
            lin_add_term(&q, f.terms[i].expr, f.terms[i].coeff / c);
        else
            lin_add_term(&r, f.terms[i].expr, f.terms[i].coeff);
    }
    div64(true, f.constant, c, &q.constant);
    r.constant = floormod64(f.constant, c);
    if (!has_terms(&q))
        return NULL;
    int64_t flo, fhi, rlo, rhi;
    bool pow2_mod = n->kind == TE_FLOORMOD && (c & (c - 1)) == 0;
    bool exact = lin_bounds(&rs, &f, &flo, &fhi) && fits(n->dtype, flo, fhi) &&
                 lin_bounds(&rs, &r, &rlo, &rhi) && fits(n->dtype, rlo, rhi);
    bool truncating = n->kind == TE_DIV || n->kind == TE_MOD;
    if (!pow2_mod && !(exact && (!truncating || (flo >= 0 && rlo >= 0))))
        return NULL;
    *failed = true;
    TsExpr *rest = lin_build(s, &r);
    TsExpr *inner = rest ? with_operands(s, n, rest, n->u.op.b) : NULL;
    inner = inner ? division_rules(s, inner) : NULL;
    if (!inner)
        return NULL;
    *failed = false;
    if (!is_div_kind(n->kind))
        return inner;
    lin_collect(&q, inner, 1);
    TsExpr *sum = q.too_big ? NULL : lin_build(s, &q);
    *failed = !sum && !q.too_big;
    return sum;
}

/* Rules of / % floordiv floormod on a node whose operands are simplified. */
static TsExpr *division_rules(Simplifier *s, TsExpr *n)
{
    TsExpr *a = n->u.op.a, *b = n->u.op.b;
    int64_t x, c, v;
    double f;
    bool is_bool, failed = false;
    if (a->kind == TE_FLOAT && b->kind == TE_FLOAT &&
        fold_float(n->kind, n->dtype, a->u.float_value, b->u.float_value, &f, &is_bool))
        return ts_float(s->arena, n->dtype, f);
    if (!te_const_int(b, &c) || c == 0) /* a zero divisor fails at run time */
        return n;
    if (te_const_int(a, &x) && fold_int(n->kind, n->dtype, x, c, &v))
        return make_int(s, n->dtype, v);
    if (c == 1)
        return is_div_kind(n->kind) ? a : can_trap(a) ? n : make_int(s, n->dtype, 0);
    TsExpr *r = one_quotient(s, n, c, &failed);
    if (!r && !failed && is_signed_scalar(n->dtype))
        r = nested_division(s, n, c, &failed);
    if (!r && !failed && is_signed_scalar(n->dtype))
        r = split_division(s, n, c, &failed);
    return failed ? NULL : r ? r : n;
}

/* min and max: folded, or decided by the bounds of a - b. */
static TsExpr *minmax_rules(Simplifier *s, TsExpr *n)
{
    Ranges rs = view(s);
    TsExpr *a = n->u.op.a, *b = n->u.op.b;
    int64_t x, y, v, lo, hi;
    double f;
    bool is_bool, is_min = n->kind == TE_MIN;
    if (te_const_int(a, &x) && te_const_int(b, &y) && fold_int(n->kind, n->dtype, x, y, &v))
        return make_int(s, n->dtype, v);
    if (a->kind == TE_FLOAT && b->kind == TE_FLOAT &&
        fold_float(n->kind, n->dtype, a->u.float_value, b->u.float_value, &f, &is_bool))
        return ts_float(s->arena, n->dtype, f);
    if (expr_equal(a, b))
        return a;
    if (is_integral(n->dtype) && n->dtype.lanes == 1 && diff_bounds(&rs, a, b, &lo, &hi)) {
        if (hi <= 0 && !can_trap(is_min ? b : a))
            return is_min ? a : b; /* a <= b */
        if (lo >= 0 && !can_trap(is_min ? a : b))
            return is_min ? b : a; /* a >= b */
    }
    /* min(min(x, c1), c2) = min(x, min(c1, c2)) */
    if (a->kind == n->kind && te_const_int(b, &y) && te_const_int(a->u.op.b, &x) &&
        fold_int(n->kind, n->dtype, x, y, &v)) {
        TsExpr *r = with_operands(s, n, a->u.op.a, make_int(s, n->dtype, v));
        return r ? minmax_rules(s, r) : NULL;
    }
    return n;
}

/* Rewrites an integer comparison of linear forms as (positive terms) op (negated
 * negative terms) with the constant on one side, e.g. (ii + 16) < 20 to ii < 4.
 * Equality is modular and always allows this; order needs both sides' exact values to
 * fit the dtype before and after. */
static TsExpr *canonical_compare(Simplifier *s, TsExpr *n)
{
    Ranges rs = view(s);
    TsExpr *a = n->u.op.a, *b = n->u.op.b;
    Linear d, left, right;
    bool ordered = n->kind != TE_EQ && n->kind != TE_NE;
    lin_init(&d, a->dtype);
    lin_init(&left, a->dtype);
    lin_init(&right, a->dtype);
    if (ordered && !exact_difference(&rs, a, b, &d))
        return n;
    if (!ordered) {
        lin_collect(&d, a, 1);
        lin_collect(&d, b, -1);
    }
    if (d.too_big || !has_terms(&d))
        return n;
    for (int i = 0; i < d.num_terms; i++) {
        int64_t k = d.terms[i].coeff;
        if (k == 0 && can_trap(d.terms[i].expr))
            return n;
        /* An exact coefficient or constant outside the dtype cannot be written. */
        if (ordered && (k == INT64_MIN || !fits(a->dtype, k < 0 ? -k : k, k < 0 ? -k : k)))
            return n;
        if (k > 0)
            lin_add_term(&left, d.terms[i].expr, k);
        else if (k < 0)
            lin_add_term(&right, d.terms[i].expr, wrap_neg(a->dtype, k));
    }
    int64_t constant = has_terms(&left) ? -d.constant : d.constant;
    if (ordered && (d.constant == INT64_MIN || !fits(a->dtype, constant, constant)))
        return n;
    if (has_terms(&left))
        right.constant = te_wrap_int(a->dtype, constant);
    else
        left.constant = te_wrap_int(a->dtype, constant);
    if (ordered && (!lin_fits(&rs, &left) || !lin_fits(&rs, &right)))
        return n;
    TsExpr *l = lin_build(s, &left), *r = lin_build(s, &right);
    return with_operands(s, n, l, r);
}

static TsExpr *compare_rules(Simplifier *s, TsExpr *n)
{
    Ranges rs = view(s);
    TsExpr *a = n->u.op.a;
    TsExpr *b = n->u.op.b;
    int64_t x, y, v;
    if (te_const_int(a, &x) && te_const_int(b, &y) && fold_int(n->kind, a->dtype, x, y, &v))
        return ts_bool(s->arena, v);
    if (a->dtype.lanes != 1)
        return n;
    Tri t = decide_compare(&rs, n);
    if (t != TRI_UNKNOWN && !can_trap(n))
        return ts_bool(s->arena, t == TRI_TRUE);
    return is_signed_scalar(a->dtype) ? canonical_compare(s, n) : n;
}

static TeExprKind negated_compare(TeExprKind k)
{
    if (k == TE_EQ || k == TE_NE)
        return k == TE_EQ ? TE_NE : TE_EQ;
    if (k == TE_LT || k == TE_LE)
        return k == TE_LT ? TE_GE : TE_GT;
    return k == TE_GT ? TE_LE : TE_LT;
}

static TsExpr *logic_rules(Simplifier *s, TsExpr *n)
{
    TsExpr *a = n->u.op.a, *b = n->u.op.b;
    int64_t x, y;
    if (n->kind == TE_NOT) {
        if (te_const_int(a, &x))
            return ts_bool(s->arena, !x);
        if (a->kind == TE_NOT)
            return a->u.op.a;
        if (is_compare(a->kind) && !ts_dtype_is_float(a->u.op.a->dtype) && a->dtype.lanes == 1) {
            TsExpr *r = with_operands(s, a, a->u.op.a, a->u.op.b);
            if (r)
                r->kind = negated_compare(a->kind);
            return r ? compare_rules(s, r) : NULL;
        }
        return n;
    }
    bool ca = te_const_int(a, &x), cb = te_const_int(b, &y);
    bool absorbing = n->kind == TE_OR; /* the value that decides: true for ||, false for && */
    if (ca && (x != 0) != absorbing)
        return b;
    if (cb && (y != 0) != absorbing)
        return a;
    if ((ca && (x != 0) == absorbing && !can_trap(b)) || (cb && (y != 0) == absorbing &&
                                                          !can_trap(a)))
        return ts_bool(s->arena, absorbing);
    return expr_equal(a, b) ? a : n;
}

static TsExpr *bits_rules(Simplifier *s, TsExpr *n)
{
    TsExpr *a = n->u.op.a, *b = n->u.op.b;
    int64_t x, y, v;
    if (n->kind == TE_BITNOT || n->kind == TE_POPCOUNT) {
        if (!te_const_int(a, &x))
            return n;
        uint64_t bits = (uint64_t)x;
        if (n->dtype.bits < 64)
            bits &= (UINT64_C(1) << n->dtype.bits) - 1;
        int64_t count = 0;
        for (; bits; bits >>= 1)
            count += (int64_t)(bits & 1);
        v = n->kind == TE_POPCOUNT ? count : te_wrap_int(n->dtype, (int64_t)~(uint64_t)x);
        return make_int(s, n->dtype, v);
    }
    bool ca = te_const_int(a, &x), cb = te_const_int(b, &y);
    if (ca && cb && fold_int(n->kind, n->dtype, x, y, &v))
        return make_int(s, n->dtype, v);
    if (cb && y == 0 && n->kind != TE_BITAND) /* x | 0, x ^ 0, x << 0, x >> 0 */
        return a;
    return n;
}

static TsExpr *cast_rules(Simplifier *s, TsExpr *n)
{
    TsExpr *v = n->u.cast.value;
    TsDType to = n->dtype, from = v->dtype;
    int64_t x;
    if (te_const_int(v, &x)) {
        if (is_integral(to))
            return make_int(s, to, ts_dtype_is_bool(to) ? x != 0 : te_wrap_int(to, x));
        if (to.bits == 32) /* one rounding, straight from the integer */
            return ts_float(s->arena, to, ts_dtype_is_uint(from) ? (double)(float)(uint64_t)x
                                                                  : (double)(float)x);
        return ts_float(s->arena, to, ts_dtype_is_uint(from) ? (double)(uint64_t)x : (double)x);
    }
    if (v->kind == TE_FLOAT) {
        double f = v->u.float_value;
        if (ts_dtype_is_bool(to))
            return ts_bool(s->arena, f != 0.0);
        if (ts_dtype_is_int(to))
            return make_int(s, to, float_to_int(to, f));
        return isfinite(te_round_float(to, f)) ? ts_float(s->arena, to, f) : n;
    }
    /* Widening an integer and narrowing it back gives it back. */
    if (v->kind == TE_CAST && ts_dtype_is_int(to) && ts_dtype_is_int(from) &&
        ts_dtype_eq(v->u.cast.value->dtype, to) && from.bits >= to.bits)
        return v->u.cast.value;
    return n;
}

static int assume(Simplifier *s, const TsExpr *cond, bool truth);

/* Simplifies a select or if_then_else: each branch knowing what its condition says
 * about single variables; a decided condition picks a branch. */
static TsExpr *simp_select(Simplifier *s, TsExpr *e)
{
    TsExpr *cond = simp(s, e->u.select.cond), *t = NULL, *f = NULL;
    int saved = s->num_ranges;
    if (cond && assume(s, cond, true) >= 0)
        t = simp(s, e->u.select.then_value);
    s->num_ranges = saved;
    if (t && assume(s, cond, false) >= 0)
        f = simp(s, e->u.select.else_value);
    s->num_ranges = saved;
    if (!f)
        return NULL;
    Ranges rs = view(s);
    Tri d = decide(&rs, cond);
    bool lazy = e->kind == TE_IF_THEN_ELSE;
    if (d == TRI_TRUE && (lazy || !can_trap(f)) && !can_trap(cond))
        return t;
    if (d == TRI_FALSE && (lazy || !can_trap(t)) && !can_trap(cond))
        return f;
    if (expr_equal(t, f) && !can_trap(cond))
        return t;
    if (cond == e->u.select.cond && t == e->u.select.then_value && f == e->u.select.else_value)
        return e;
    return lazy ? ts_if_then_else(s->arena, cond, t, f) : ts_select(s->arena, cond, t, f);
}

static TsExpr *simp_children_then(Simplifier *s, TsExpr *e, TsExpr *(*rules)(Simplifier *,
                                                                                TsExpr *))
{
    TsExpr *n = with_simplified_children(s, e);
    return n ? rules(s, n) : NULL;
}

static TsExpr *simp(Simplifier *s, TsExpr *e)
{
    TsExpr *r = e;
    switch (e->kind) {
    case TE_INT: case TE_FLOAT:
        return e;
    case TE_VAR: r = simp_var(s, e); break;
    case TE_ADD: case TE_SUB: case TE_MUL: r = simp_arith(s, e); break;
    case TE_DIV: case TE_MOD: case TE_FLOORDIV: case TE_FLOORMOD:
        r = simp_children_then(s, e, division_rules);
        break;
    case TE_MIN: case TE_MAX: r = simp_children_then(s, e, minmax_rules); break;
    case TE_EQ: case TE_NE: case TE_LT: case TE_LE: case TE_GT: case TE_GE:
        r = simp_children_then(s, e, compare_rules);
        break;
    case TE_AND: case TE_OR: case TE_NOT: r = simp_children_then(s, e, logic_rules); break;
    case TE_BITAND: case TE_BITOR: case TE_BITXOR: case TE_BITNOT: case TE_SHL: case TE_SHR:
    case TE_POPCOUNT:
        r = simp_children_then(s, e, bits_rules);
        break;
    case TE_SELECT: case TE_IF_THEN_ELSE: r = simp_select(s, e); break;
    case TE_CAST: r = simp_children_then(s, e, cast_rules); break;
    case TE_CALL: case TE_ACCESS: case TE_REDUCE: case TE_LOAD: case TE_RAMP: case TE_BROADCAST:
        r = with_simplified_children(s, e);
        break;
    case TE_NUM_EXPR_KINDS:
        return e;
    }
    /* Same shape as before: hand back the original so callers see "unchanged". */
    return r && r != e && expr_equal(r, e) ? e : r;
}

/* ---- facts from conditions ---- */

/* Narrows var's known range to [lo, hi]; an empty result (unreachable code) is not
 * recorded. Returns 1 when pushed, 0 when not, -1 on failure. */
static int narrow(Simplifier *s, const TsExpr *var, int64_t lo, int64_t hi)
{
    Ranges rs = view(s);
    const TeRange *r = find_range(&rs, var);
    int64_t tlo, thi;
    if (!type_range(var->dtype, &tlo, &thi))
        return 0;
    lo = max64(lo, r ? r->min : tlo);
    hi = min64(hi, r ? r->max : thi);
    if (lo > hi || (r && lo == r->min && hi == r->max))
        return 0;
    return push_range(s, var, lo, hi) ? 1 : -1;
}

/* Records what cond being `truth` says about single variables (v op constant, in
 * conjunctions), for the code it guards. Returns the number of ranges pushed, -1 on
 * failure. */
static int assume(Simplifier *s, const TsExpr *cond, bool truth)
{
    if (cond->kind == TE_NOT)
        return assume(s, cond->u.op.a, !truth);
    if ((cond->kind == TE_AND && truth) || (cond->kind == TE_OR && !truth)) {
        int a = assume(s, cond->u.op.a, truth);
        int b = a >= 0 ? assume(s, cond->u.op.b, truth) : -1;
        return b >= 0 ? a + b : -1;
    }
    if (!is_compare(cond->kind) || !is_integral(cond->u.op.a->dtype) ||
        cond->u.op.a->dtype.lanes != 1)
        return 0;
    const TsExpr *var = cond->u.op.a, *other = cond->u.op.b;
    TeExprKind k = cond->kind;
    int64_t c;
    if (var->kind != TE_VAR) { /* c op v is v op' c */
        var = cond->u.op.b;
        other = cond->u.op.a;
        k = k == TE_LT ? TE_GT : k == TE_GT ? TE_LT : k == TE_LE ? TE_GE : k == TE_GE ? TE_LE : k;
    }
    if (var->kind != TE_VAR || !te_const_int(other, &c))
        return 0;
    if (!truth)
        k = negated_compare(k);
    if ((k == TE_LT && c == INT64_MIN) || (k == TE_GT && c == INT64_MAX) || k == TE_NE)
        return 0;
    int64_t lo = INT64_MIN, hi = INT64_MAX;
    if (k == TE_LT || k == TE_LE || k == TE_EQ)
        hi = k == TE_LT ? c - 1 : c;
    if (k == TE_GT || k == TE_GE || k == TE_EQ)
        lo = k == TE_GT ? c + 1 : c;
    return narrow(s, var, lo, hi);
}

/* ---- the public expression entry points ---- */

static bool simplifier_init(Simplifier *s, TsArena *arena, int n, const TeRange *ranges)
{
    s->arena = arena;
    s->ranges = NULL;
    s->num_ranges = 0;
    s->cap = 0;
    for (int i = 0; i < n; i++)
        if (!push_range(s, ranges[i].var, ranges[i].min, ranges[i].max))
            return false;
    return true;
}

TsExpr *te_simplify_expr(TsArena *arena, TsExpr *e, int num_ranges, const TeRange *ranges)
{
    Simplifier s;
    if (!e)
        return NULL;
    TsExpr *r = simplifier_init(&s, arena, num_ranges > 0 && ranges ? num_ranges : 0, ranges)
                    ? simp(&s, e)
                    : NULL;
    free(s.ranges);
    return r;
}

bool te_prove(TsArena *arena, const TsExpr *cond, int num_ranges, const TeRange *ranges)
{
    Ranges rs = { ranges, num_ranges > 0 && ranges ? num_ranges : 0 };
    if (!cond || !ts_dtype_is_bool(cond->dtype) || cond->dtype.lanes != 1)
        return false;
    Tri t = decide(&rs, cond);
    if (t != TRI_UNKNOWN || !arena)
        return t == TRI_TRUE;
    /* Simplification finds more (floordiv(i*8 + j, 8) == i); it only allocates. */
    TsExpr *simplified = te_simplify_expr(arena, (TsExpr *)cond, rs.n, ranges);
    return simplified && simplified->kind == TE_INT && simplified->u.int_value != 0;
}

/* ---- statements ---- */

static TeStmt *simp_stmt(Simplifier *s, TeStmt *st);

static TeStmt *empty_stmt(Simplifier *s)
{
    return te_seq(s->arena, 0, NULL);
}

static bool is_empty(const TeStmt *st)
{
    return st->kind == TE_STMT_SEQ && st->u.seq.num_stmts == 0;
}

/* Pushes the loop variable's range: [min, min + extent - 1] from the bounds of min and
 * extent, when they exist and fit int32. */
static bool push_loop_range(Simplifier *s, const TeStmt *loop, TsExpr *min, TsExpr *extent)
{
    Ranges rs = view(s);
    int64_t mlo, mhi, elo, ehi, hi;
    if (!bounds(&rs, min, &mlo, &mhi) || !bounds(&rs, extent, &elo, &ehi) || ehi < 1 ||
        !add_ok(mhi, ehi - 1, &hi) || !fits(loop->u.loop.var->dtype, mlo, hi))
        return true; /* nothing known: not a failure */
    return push_range(s, loop->u.loop.var, mlo, hi);
}

/* A loop of extent <= 0 disappears, one of extent 1 becomes its body at var = min;
 * other bodies are simplified knowing the variable's range. */
static TeStmt *simp_for(Simplifier *s, TeStmt *st)
{
    TsExpr *min = simp(s, st->u.loop.min), *extent = min ? simp(s, st->u.loop.extent) : NULL;
    int64_t ext;
    if (!extent)
        return NULL;
    if (te_const_int(extent, &ext) && ext <= 0)
        return empty_stmt(s);
    if (te_const_int(extent, &ext) && ext == 1) {
        const TsExpr *var = st->u.loop.var;
        TeStmt *body = te_substitute_stmt(s->arena, st->u.loop.body, 1, &var, &min);
        return body ? simp_stmt(s, body) : NULL;
    }
    int saved = s->num_ranges;
    TeStmt *body = push_loop_range(s, st, min, extent) ? simp_stmt(s, st->u.loop.body) : NULL;
    s->num_ranges = saved;
    if (!body || is_empty(body))
        return body;
    if (min == st->u.loop.min && extent == st->u.loop.extent && body == st->u.loop.body)
        return st;
    TeStmt *copy = ts_arena_alloc(s->arena, sizeof *copy);
    if (copy) {
        *copy = *st;
        copy->u.loop.min = min;
        copy->u.loop.extent = extent;
        copy->u.loop.body = body;
    }
    return copy;
}

/* One branch of an if, simplified knowing the condition's value there. */
static TeStmt *simp_branch(Simplifier *s, TeStmt *branch, const TsExpr *cond, bool truth)
{
    int saved = s->num_ranges;
    TeStmt *r = assume(s, cond, truth) >= 0 ? simp_stmt(s, branch) : NULL;
    s->num_ranges = saved;
    return r;
}

static TeStmt *simp_if(Simplifier *s, TeStmt *st)
{
    TsExpr *cond = simp(s, st->u.if_then.cond);
    TeStmt *else_case = st->u.if_then.else_case;
    int64_t v;
    if (!cond)
        return NULL;
    if (te_const_int(cond, &v))
        return v ? simp_stmt(s, st->u.if_then.then_case)
                 : else_case ? simp_stmt(s, else_case) : empty_stmt(s);
    TeStmt *then_case = simp_branch(s, st->u.if_then.then_case, cond, true);
    if (then_case && else_case)
        else_case = simp_branch(s, else_case, cond, false);
    if (!then_case || (st->u.if_then.else_case && !else_case))
        return NULL;
    if (else_case && is_empty(else_case))
        else_case = NULL;
    if (is_empty(then_case) && !else_case && !can_trap(cond))
        return empty_stmt(s);
    if (is_empty(then_case) && else_case) { /* if (c) {} else S is if (!c) S */
        TsExpr *negated = ts_not(s->arena, cond);
        negated = negated ? simp(s, negated) : NULL;
        return negated ? te_if(s->arena, negated, else_case, NULL, false) : NULL;
    }
    if (cond == st->u.if_then.cond && then_case == st->u.if_then.then_case &&
        else_case == st->u.if_then.else_case)
        return st;
    return te_if(s->arena, cond, then_case, else_case, st->u.if_then.likely);
}

static TeStmt *simp_let(Simplifier *s, TeStmt *st)
{
    TsExpr *value = simp(s, st->u.let.value);
    Ranges rs = view(s);
    int64_t lo, hi;
    if (!value)
        return NULL;
    int saved = s->num_ranges;
    bool ok = !bounds(&rs, value, &lo, &hi) || push_range(s, st->u.let.var, lo, hi);
    TeStmt *body = ok ? simp_stmt(s, st->u.let.body) : NULL;
    s->num_ranges = saved;
    if (!body)
        return NULL;
    if (is_empty(body) && !can_trap(value))
        return body;
    if (value == st->u.let.value && body == st->u.let.body)
        return st;
    return te_let(s->arena, st->u.let.var, value, body);
}

static TeStmt *simp_seq(Simplifier *s, TeStmt *st)
{
    int n = st->u.seq.num_stmts, kept = 0;
    bool changed = false;
    TeStmt **items = ts_arena_alloc(s->arena, sizeof *items * (size_t)(n ? n : 1));
    if (!items)
        return NULL;
    for (int i = 0; i < n; i++) {
        TeStmt *x = simp_stmt(s, st->u.seq.stmts[i]);
        if (!x)
            return NULL;
        changed = changed || x != st->u.seq.stmts[i];
        if (!is_empty(x))
            items[kept++] = x;
    }
    return changed ? te_seq(s->arena, kept, items) : st;
}

static TeStmt *simp_allocate(Simplifier *s, TeStmt *st)
{
    TeStmt *body = simp_stmt(s, st->u.allocate.body);
    if (!body || is_empty(body)) /* nothing uses the buffer any more */
        return body;
    if (body == st->u.allocate.body)
        return st;
    return te_allocate(s->arena, st->u.allocate.buffer, body);
}

static TsExpr *stmt_expr(void *ctx, TsArena *arena, TsExpr *e)
{
    (void)arena;
    TsExpr *r = simp(ctx, e);
    return r ? r : TE_MUTATE_FAILED;
}

static TeStmt *stmt_node(void *ctx, TsArena *arena, TeStmt *st)
{
    Simplifier *s = ctx;
    TeStmt *r = NULL;
    (void)arena;
    switch (st->kind) {
    case TE_STMT_FOR: r = simp_for(s, st); break;
    case TE_STMT_IF: r = simp_if(s, st); break;
    case TE_STMT_LET: r = simp_let(s, st); break;
    case TE_STMT_SEQ: r = simp_seq(s, st); break;
    case TE_STMT_ALLOCATE: r = simp_allocate(s, st); break;
    case TE_STMT_STORE: return NULL; /* the engine simplifies indices and value */
    case TE_NUM_STMT_KINDS: return st;
    }
    return r ? r : TE_MUTATE_STMT_FAILED;
}

static TeStmt *simp_stmt(Simplifier *s, TeStmt *st)
{
    TeMutator m = { .expr = stmt_expr, .stmt = stmt_node, .ctx = s };
    return te_mutate_stmt(s->arena, st, &m);
}

TeStmt *te_simplify_stmt(TsArena *arena, TeStmt *st)
{
    Simplifier s;
    if (!st)
        return NULL;
    simplifier_init(&s, arena, 0, NULL);
    TeStmt *r = simp_stmt(&s, st);
    free(s.ranges);
    return r;
}
