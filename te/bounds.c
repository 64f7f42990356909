/* Interval analysis and decisions under variable ranges, the knowledge the simplifier
 * (simplify.c) and loop partitioning rest on: constant bounds of integer expressions
 * (te_const_bounds), linear forms (sum of terms times constant coefficients, plus a
 * constant) with the bounds of their exact values, and the decision of comparisons.
 *
 * Wrap-around (te.h: integers wrap modulo 2^bits) is what makes this delicate. Bounds
 * are computed in int64 with overflow checks, and a result is given only when every
 * value provably fits the expression's dtype: then nothing wrapped and the bounds are
 * those of the value the program computes. A linear form collected from an expression
 * is equal to it modulo 2^bits; its exact value is the expression's only when its
 * bounds fit the dtype, which every decision based on order checks, and differences of
 * two forms are taken exactly, without wrapping (the difference of two int32 values
 * need not fit int32). */
#include <string.h>

#include "arith.h"

/* ---- structural equality ---- */

static bool exprs_equal(int n, TsExpr *const *a, TsExpr *const *b)
{
    for (int i = 0; i < n; i++)
        if (!te_expr_equal(a[i], b[i]))
            return false;
    return true;
}

bool te_expr_equal(const TsExpr *a, const TsExpr *b)
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
        return te_expr_equal(a->u.op.a, b->u.op.a) && te_expr_equal(a->u.op.b, b->u.op.b);
    case TE_SELECT:
    case TE_IF_THEN_ELSE:
        return te_expr_equal(a->u.select.cond, b->u.select.cond) &&
               te_expr_equal(a->u.select.then_value, b->u.select.then_value) &&
               te_expr_equal(a->u.select.else_value, b->u.select.else_value);
    case TE_CAST: case TE_REINTERPRET: return te_expr_equal(a->u.cast.value, b->u.cast.value);
    case TE_INTRINSIC:
        return strcmp(a->u.intrinsic.name, b->u.intrinsic.name) == 0 &&
               a->u.intrinsic.num_args == b->u.intrinsic.num_args &&
               exprs_equal(a->u.intrinsic.num_args, a->u.intrinsic.args, b->u.intrinsic.args);
    case TE_CALL:
        return a->u.call.fn == b->u.call.fn &&
               te_expr_equal(a->u.call.args[0], b->u.call.args[0]) &&
               te_expr_equal(a->u.call.args[1], b->u.call.args[1]);
    case TE_ACCESS:
        return a->u.access.tensor == b->u.access.tensor &&
               exprs_equal(a->u.access.num_indices, a->u.access.indices, b->u.access.indices);
    case TE_REDUCE:
        return a->u.reduce.reducer == b->u.reduce.reducer &&
               a->u.reduce.num_axes == b->u.reduce.num_axes &&
               memcmp(a->u.reduce.axes, b->u.reduce.axes,
                      sizeof(TsAxis *) * (size_t)a->u.reduce.num_axes) == 0 &&
               te_expr_equal(a->u.reduce.source, b->u.reduce.source) &&
               te_expr_equal(a->u.reduce.cond, b->u.reduce.cond);
    case TE_LOAD: case TE_ADDRESS:
        return a->u.load.buffer == b->u.load.buffer && a->u.load.flat == b->u.load.flat &&
               a->u.load.num_indices == b->u.load.num_indices &&
               exprs_equal(a->u.load.num_indices, a->u.load.indices, b->u.load.indices);
    case TE_RAMP:
        return a->u.ramp.lanes == b->u.ramp.lanes &&
               te_expr_equal(a->u.ramp.base, b->u.ramp.base) &&
               te_expr_equal(a->u.ramp.stride, b->u.ramp.stride);
    case TE_BROADCAST:
        return a->u.broadcast.lanes == b->u.broadcast.lanes &&
               te_expr_equal(a->u.broadcast.value, b->u.broadcast.value);
    case TE_NUM_EXPR_KINDS:
        break;
    }
    return false;
}

/* ---- linear forms ---- */

void te_linear_init(TeLinear *f, TsDType dtype)
{
    f->dtype = dtype;
    f->num_terms = 0;
    f->too_big = false;
    f->constant = 0;
}

void te_linear_add(TeLinear *f, TsExpr *e, int64_t coeff)
{
    for (int i = 0; i < f->num_terms; i++) {
        if (te_expr_equal(f->terms[i].expr, e)) {
            f->terms[i].coeff = te_wrap_add(f->dtype, f->terms[i].coeff, coeff);
            return;
        }
    }
    if (f->num_terms == TE_LINEAR_MAX_TERMS) {
        f->too_big = true;
        return;
    }
    f->terms[f->num_terms].expr = e;
    f->terms[f->num_terms].coeff = te_wrap_int(f->dtype, coeff);
    f->num_terms++;
}

void te_linear_collect(TeLinear *f, TsExpr *e, int64_t scale)
{
    int64_t k;
    if (te_const_int(e, &k)) {
        f->constant = te_wrap_add(f->dtype, f->constant, te_wrap_mul(f->dtype, scale, k));
    } else if (e->kind == TE_ADD || e->kind == TE_SUB) {
        te_linear_collect(f, e->u.op.a, scale);
        te_linear_collect(f, e->u.op.b, e->kind == TE_ADD ? scale : te_wrap_neg(f->dtype, scale));
    } else if (e->kind == TE_MUL && te_const_int(e->u.op.b, &k)) {
        te_linear_collect(f, e->u.op.a, te_wrap_mul(f->dtype, scale, k));
    } else if (e->kind == TE_MUL && te_const_int(e->u.op.a, &k)) {
        te_linear_collect(f, e->u.op.b, te_wrap_mul(f->dtype, scale, k));
    } else {
        te_linear_add(f, e, scale);
    }
}

bool te_linear_has_terms(const TeLinear *f)
{
    for (int i = 0; i < f->num_terms; i++)
        if (f->terms[i].coeff != 0)
            return true;
    return false;
}

bool te_linear_bounds(const TeRanges *rs, const TeLinear *f, int64_t *lo, int64_t *hi)
{
    if (f->too_big)
        return false;
    int64_t l = f->constant, h = f->constant;
    for (int i = 0; i < f->num_terms; i++) {
        int64_t k = f->terms[i].coeff, tlo, thi, p, q;
        if (k == 0)
            continue;
        if (!te_bounds(rs, f->terms[i].expr, &tlo, &thi) || !te_mul_ok(k, tlo, &p) ||
            !te_mul_ok(k, thi, &q) || !te_add_ok(l, te_min64(p, q), &l) ||
            !te_add_ok(h, te_max64(p, q), &h))
            return false;
    }
    *lo = l;
    *hi = h;
    return true;
}

bool te_linear_fits(const TeRanges *rs, const TeLinear *f)
{
    int64_t lo, hi;
    return te_linear_bounds(rs, f, &lo, &hi) && te_fits(f->dtype, lo, hi);
}

/* d = fa - fb with exact coefficients and constant, not wrapped to the dtype: the
 * difference of two values that fit int32 may not. False when one overflows int64. */
static bool lin_exact_diff(TeLinear *d, const TeLinear *fa, const TeLinear *fb)
{
    *d = *fa;
    d->too_big = fa->too_big || fb->too_big;
    if (!te_sub_ok(fa->constant, fb->constant, &d->constant))
        return false;
    for (int i = 0; i < fb->num_terms && !d->too_big; i++) {
        int k = 0;
        while (k < d->num_terms && !te_expr_equal(d->terms[k].expr, fb->terms[i].expr))
            k++;
        if (k == TE_LINEAR_MAX_TERMS) {
            d->too_big = true;
        } else if (k == d->num_terms) {
            if (fb->terms[i].coeff == INT64_MIN)
                return false;
            d->terms[k].expr = fb->terms[i].expr;
            d->terms[k].coeff = -fb->terms[i].coeff;
            d->num_terms++;
        } else if (!te_sub_ok(d->terms[k].coeff, fb->terms[i].coeff, &d->terms[k].coeff)) {
            return false;
        }
    }
    return !d->too_big;
}

/* The exact difference a - b of two signed scalar integer expressions as a linear form,
 * when both sides provably do not wrap (so their forms' exact values are theirs). */
bool te_linear_difference(const TeRanges *rs, TsExpr *a, TsExpr *b, TeLinear *d)
{
    TeLinear fa, fb;
    te_linear_init(&fa, a->dtype);
    te_linear_init(&fb, a->dtype);
    te_linear_collect(&fa, a, 1);
    te_linear_collect(&fb, b, 1);
    return te_linear_fits(rs, &fa) && te_linear_fits(rs, &fb) && lin_exact_diff(d, &fa, &fb);
}

/* Bounds of a - b for integer scalars a and b, both exact: through linear forms (so
 * that common terms cancel) when both sides provably do not wrap, else from the bounds
 * of each side. */
bool te_diff_bounds(const TeRanges *rs, TsExpr *a, TsExpr *b, int64_t *lo, int64_t *hi)
{
    TeLinear d;
    if (te_is_signed_scalar(a->dtype) && te_linear_difference(rs, a, b, &d) &&
        te_linear_bounds(rs, &d, lo, hi))
        return true;
    int64_t alo, ahi, blo, bhi;
    return te_bounds(rs, a, &alo, &ahi) && te_bounds(rs, b, &blo, &bhi) &&
           te_sub_ok(alo, bhi, lo) && te_sub_ok(ahi, blo, hi);
}

/* ---- deciding conditions ---- */

static TeTruth truth(bool v)
{
    return v ? TE_TRUTH_TRUE : TE_TRUTH_FALSE;
}

bool te_compare_floats(TeExprKind kind, double x, double y)
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
static TeTruth compare_by_diff(TeExprKind kind, int64_t lo, int64_t hi)
{
    if (kind == TE_LT)
        return hi < 0 ? TE_TRUTH_TRUE : lo >= 0 ? TE_TRUTH_FALSE : TE_TRUTH_UNKNOWN;
    if (kind == TE_LE)
        return hi <= 0 ? TE_TRUTH_TRUE : lo > 0 ? TE_TRUTH_FALSE : TE_TRUTH_UNKNOWN;
    if (kind == TE_GT)
        return lo > 0 ? TE_TRUTH_TRUE : hi <= 0 ? TE_TRUTH_FALSE : TE_TRUTH_UNKNOWN;
    if (kind == TE_GE)
        return lo >= 0 ? TE_TRUTH_TRUE : hi < 0 ? TE_TRUTH_FALSE : TE_TRUTH_UNKNOWN;
    bool eq = lo == 0 && hi == 0, ne = lo > 0 || hi < 0;
    if (kind == TE_EQ)
        return eq ? TE_TRUTH_TRUE : ne ? TE_TRUTH_FALSE : TE_TRUTH_UNKNOWN;
    return eq ? TE_TRUTH_FALSE : ne ? TE_TRUTH_TRUE : TE_TRUTH_UNKNOWN;
}

TeTruth te_decide_compare(const TeRanges *rs, const TsExpr *e)
{
    TsExpr *a = e->u.op.a, *b = e->u.op.b;
    if (a->dtype.lanes != 1 || !te_is_integral(a->dtype)) {
        if (a->kind != TE_FLOAT || b->kind != TE_FLOAT)
            return TE_TRUTH_UNKNOWN;
        return truth(te_compare_floats(e->kind, a->u.float_value, b->u.float_value));
    }
    if (te_is_signed_scalar(a->dtype) && (e->kind == TE_EQ || e->kind == TE_NE)) {
        /* Equality is modular: a - b that is a constant decides it without bounds. */
        TeLinear d;
        te_linear_init(&d, a->dtype);
        te_linear_collect(&d, a, 1);
        te_linear_collect(&d, b, -1);
        if (!d.too_big && !te_linear_has_terms(&d))
            return truth((d.constant == 0) == (e->kind == TE_EQ));
    }
    int64_t lo, hi;
    if (!te_diff_bounds(rs, a, b, &lo, &hi))
        return TE_TRUTH_UNKNOWN;
    return compare_by_diff(e->kind, lo, hi);
}

TeTruth te_decide(const TeRanges *rs, const TsExpr *cond)
{
    if (cond->kind == TE_INT)
        return truth(cond->u.int_value != 0);
    if (te_is_compare(cond->kind))
        return te_decide_compare(rs, cond);
    if (cond->kind == TE_NOT) {
        TeTruth t = te_decide(rs, cond->u.op.a);
        return t == TE_TRUTH_UNKNOWN ? t : truth(t == TE_TRUTH_FALSE);
    }
    if (cond->kind == TE_AND || cond->kind == TE_OR) {
        TeTruth short_value = cond->kind == TE_AND ? TE_TRUTH_FALSE : TE_TRUTH_TRUE;
        TeTruth a = te_decide(rs, cond->u.op.a);
        if (a == short_value)
            return a;
        TeTruth b = te_decide(rs, cond->u.op.b);
        if (b == short_value || (a != TE_TRUTH_UNKNOWN && a == b))
            return b;
    }
    return TE_TRUTH_UNKNOWN;
}

/* ---- interval analysis ---- */

static bool arith_bounds(TeExprKind kind, int64_t alo, int64_t ahi, int64_t blo, int64_t bhi,
                         int64_t *lo, int64_t *hi)
{
    if (kind == TE_ADD)
        return te_add_ok(alo, blo, lo) && te_add_ok(ahi, bhi, hi);
    if (kind == TE_SUB)
        return te_sub_ok(alo, bhi, lo) && te_sub_ok(ahi, blo, hi);
    if (kind == TE_MIN || kind == TE_MAX) {
        *lo = kind == TE_MIN ? te_min64(alo, blo) : te_max64(alo, blo);
        *hi = kind == TE_MIN ? te_min64(ahi, bhi) : te_max64(ahi, bhi);
        return true;
    }
    int64_t p[4];
    if (!te_mul_ok(alo, blo, &p[0]) || !te_mul_ok(alo, bhi, &p[1]) || !te_mul_ok(ahi, blo, &p[2]) ||
        !te_mul_ok(ahi, bhi, &p[3]))
        return false;
    *lo = te_min64(te_min64(p[0], p[1]), te_min64(p[2], p[3]));
    *hi = te_max64(te_max64(p[0], p[1]), te_max64(p[2], p[3]));
    return true;
}

/* Truncating or floor division: monotone in each operand while the divisor keeps its
 * sign, so the extremes are at the corners. */
static bool division_bounds(const TeRanges *rs, const TsExpr *e, int64_t *lo, int64_t *hi)
{
    int64_t alo, ahi, blo, bhi, q[4];
    bool floored = e->kind == TE_FLOORDIV;
    if (!te_bounds(rs, e->u.op.a, &alo, &ahi) || !te_bounds(rs, e->u.op.b, &blo, &bhi) ||
        (blo <= 0 && bhi >= 0))
        return false;
    if (!te_div64(floored, alo, blo, &q[0]) || !te_div64(floored, alo, bhi, &q[1]) ||
        !te_div64(floored, ahi, blo, &q[2]) || !te_div64(floored, ahi, bhi, &q[3]))
        return false;
    *lo = te_min64(te_min64(q[0], q[1]), te_min64(q[2], q[3]));
    *hi = te_max64(te_max64(q[0], q[1]), te_max64(q[2], q[3]));
    return true;
}

/* Remainders: exact when a constant divisor gives one quotient over the dividend's
 * range; otherwise the remainder's sign rule (the dividend's for %, the divisor's for
 * floormod) and |r| < |divisor|, which hold even for an unbounded dividend. */
static bool remainder_bounds(const TeRanges *rs, const TsExpr *e, int64_t *lo, int64_t *hi)
{
    int64_t alo = 0, ahi = 0, blo, bhi, qlo, qhi, qb;
    bool floored = e->kind == TE_FLOORMOD;
    if (!te_bounds(rs, e->u.op.b, &blo, &bhi) || (blo <= 0 && bhi >= 0) || blo == INT64_MIN)
        return false;
    bool have_a = te_bounds(rs, e->u.op.a, &alo, &ahi);
    if (have_a && blo == bhi && te_div64(floored, alo, blo, &qlo) &&
        te_div64(floored, ahi, blo, &qhi) && qlo == qhi && te_mul_ok(qlo, blo, &qb) &&
        te_sub_ok(alo, qb, lo) && te_sub_ok(ahi, qb, hi))
        return true;
    int64_t m = te_max64(blo < 0 ? -blo : blo, bhi < 0 ? -bhi : bhi) - 1;
    bool nonneg = floored ? blo > 0 : have_a && alo >= 0;
    bool nonpos = floored ? bhi < 0 : have_a && ahi <= 0;
    *lo = nonneg ? 0 : -m;
    *hi = nonpos ? 0 : m;
    if (have_a && alo >= 0 && nonneg)
        *hi = te_min64(*hi, ahi);
    if (have_a && ahi <= 0 && nonpos)
        *lo = te_max64(*lo, alo);
    return true;
}

static int bit_length(int64_t v)
{
    int n = 0;
    for (; v > 0; v >>= 1)
        n++;
    return n;
}

static bool bitwise_bounds(const TeRanges *rs, const TsExpr *e, int64_t *lo, int64_t *hi)
{
    int64_t alo, ahi, blo, bhi;
    bool have_a = te_bounds(rs, e->u.op.a, &alo, &ahi) && alo >= 0;
    bool have_b = te_bounds(rs, e->u.op.b, &blo, &bhi) && blo >= 0;
    *lo = 0;
    if (e->kind == TE_BITAND && (have_a || have_b)) {
        /* x & m with m >= 0 keeps only bits of m. */
        *hi = have_a && have_b ? te_min64(ahi, bhi) : have_a ? ahi : bhi;
        return true;
    }
    if (!have_a || !have_b)
        return false;
    int n = bit_length(te_max64(ahi, bhi));
    *hi = n >= 63 ? INT64_MAX : (int64_t)((UINT64_C(1) << n) - 1);
    return true;
}

static bool shift_bounds(const TeRanges *rs, const TsExpr *e, int64_t *lo, int64_t *hi)
{
    int64_t alo, ahi, s;
    if (!te_const_int(e->u.op.b, &s) || s < 0 || s >= e->dtype.bits || s >= 62 ||
        !te_bounds(rs, e->u.op.a, &alo, &ahi))
        return false;
    int64_t scale = INT64_C(1) << s;
    if (e->kind == TE_SHL)
        return te_mul_ok(alo, scale, lo) && te_mul_ok(ahi, scale, hi);
    return te_div64(true, alo, scale, lo) && te_div64(true, ahi, scale, hi);
}

static bool bitnot_bounds(const TeRanges *rs, const TsExpr *e, int64_t *lo, int64_t *hi)
{
    int64_t alo, ahi, tlo, thi;
    if (!te_bounds(rs, e->u.op.a, &alo, &ahi) || !te_type_range(e->dtype, &tlo, &thi))
        return false;
    if (ts_dtype_is_uint(e->dtype)) /* ~x = max - x */
        return te_sub_ok(thi, ahi, lo) && te_sub_ok(thi, alo, hi);
    *lo = -1 - ahi; /* ~x = -1 - x, and -1 - x cannot overflow int64 */
    *hi = -1 - alo;
    return true;
}

static bool select_bounds(const TeRanges *rs, const TsExpr *e, int64_t *lo, int64_t *hi)
{
    int64_t alo, ahi, blo, bhi;
    TeTruth t = te_decide(rs, e->u.select.cond);
    if (t == TE_TRUTH_TRUE)
        return te_bounds(rs, e->u.select.then_value, lo, hi);
    if (t == TE_TRUTH_FALSE)
        return te_bounds(rs, e->u.select.else_value, lo, hi);
    if (!te_bounds(rs, e->u.select.then_value, &alo, &ahi) ||
        !te_bounds(rs, e->u.select.else_value, &blo, &bhi))
        return false;
    *lo = te_min64(alo, blo);
    *hi = te_max64(ahi, bhi);
    return true;
}

/* An integer-to-integer cast keeps the value when it fits the target (checked by the
 * caller); a cast to bool is "!= 0". */
static bool cast_bounds(const TeRanges *rs, const TsExpr *e, int64_t *lo, int64_t *hi)
{
    int64_t alo, ahi;
    const TsExpr *v = e->u.cast.value;
    if (!te_is_integral(v->dtype) || !te_bounds(rs, v, &alo, &ahi))
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

static bool ramp_bounds(const TeRanges *rs, const TsExpr *e, int64_t *lo, int64_t *hi)
{
    int64_t blo, bhi, slo, shi, a, b;
    int64_t last = e->u.ramp.lanes - 1;
    if (!te_bounds(rs, e->u.ramp.base, &blo, &bhi) ||
        !te_bounds(rs, e->u.ramp.stride, &slo, &shi) || !te_mul_ok(slo, last, &a) ||
        !te_mul_ok(shi, last, &b))
        return false;
    return te_add_ok(blo, te_min64(0, a), lo) && te_add_ok(bhi, te_max64(0, b), hi);
}

const TeRange *te_find_range(const TeRanges *rs, const TsExpr *var)
{
    for (int i = rs->n - 1; i >= 0; i--)
        if (rs->items[i].var == var)
            return &rs->items[i];
    return NULL;
}

static bool raw_bounds(const TeRanges *rs, const TsExpr *e, int64_t *lo, int64_t *hi)
{
    int64_t alo, ahi, blo, bhi;
    const TeRange *r;
    switch (e->kind) {
    case TE_INT:
        *lo = *hi = e->u.int_value;
        return !(ts_dtype_is_uint(e->dtype) && e->u.int_value < 0);
    case TE_VAR:
        r = te_find_range(rs, e);
        if (r) {
            *lo = r->min;
            *hi = r->max;
        }
        return r != NULL;
    case TE_ADD: case TE_SUB: case TE_MUL: case TE_MIN: case TE_MAX:
        return te_bounds(rs, e->u.op.a, &alo, &ahi) && te_bounds(rs, e->u.op.b, &blo, &bhi) &&
               arith_bounds(e->kind, alo, ahi, blo, bhi, lo, hi);
    case TE_DIV: case TE_FLOORDIV: return division_bounds(rs, e, lo, hi);
    case TE_MOD: case TE_FLOORMOD: return remainder_bounds(rs, e, lo, hi);
    case TE_EQ: case TE_NE: case TE_LT: case TE_LE: case TE_GT: case TE_GE: case TE_AND:
    case TE_OR: case TE_NOT: {
        TeTruth t = e->dtype.lanes == 1 ? te_decide(rs, e) : TE_TRUTH_UNKNOWN;
        *lo = t == TE_TRUTH_TRUE;
        *hi = t != TE_TRUTH_FALSE;
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
    case TE_BROADCAST: return te_bounds(rs, e->u.broadcast.value, lo, hi);
    case TE_FLOAT: case TE_CALL: case TE_ACCESS: case TE_REDUCE: case TE_LOAD:
    case TE_REINTERPRET: case TE_INTRINSIC: case TE_ADDRESS: case TE_NUM_EXPR_KINDS:
        return false;
    }
    return false;
}

/* Bounds of an integer or bool expression (over all lanes of a vector), valid only when
 * they fit the dtype: a result outside it would have wrapped. A narrow type (bool, 8 or
 * 16 bits) is always bounded by its own range. */
bool te_bounds(const TeRanges *rs, const TsExpr *e, int64_t *lo, int64_t *hi)
{
    if (!te_is_integral(e->dtype))
        return false;
    if (raw_bounds(rs, e, lo, hi) && te_fits(e->dtype, *lo, *hi))
        return true;
    return e->dtype.bits <= 16 && te_type_range(e->dtype, lo, hi);
}

bool te_const_bounds(const TsExpr *e, int num_ranges, const TeRange *ranges, int64_t *lo,
                     int64_t *hi)
{
    TeRanges rs = { ranges, num_ranges };
    int64_t l, h;
    if (!e || num_ranges < 0 || (num_ranges > 0 && !ranges) || !te_bounds(&rs, e, &l, &h))
        return false;
    *lo = l;
    *hi = h;
    return true;
}
