/* The simplifier: expression rewriting (te_simplify_expr), proofs (te_prove) and the
 * simplification of loop nests (te_simplify_stmt), on top of the interval analysis and
 * linear forms of bounds.c. It is the "simplify" loop pass right after lowering, the
 * engine under loop partitioning (which relies on it to fold a tail's single iteration),
 * and the way any pass gets a canonical index.
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
 * Rules for what lowering leaves behind a split and a fuse: a quotient and remainder
 * pair, floordiv(x, c)*c + floormod(x, c), is x again (fold_division_pairs);
 * floordiv(x, c) op K is a comparison of x (quotient_compare); and of two conditions in
 * an && or ||, one that implies the other decides (chained_condition).
 *
 * Canonical order: terms keep the order in which they first appear (with a positive
 * term moved first when there is one) and the constant comes last, so printed forms
 * and golden files are the same on every run; nothing is ordered by pointer value. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "arith.h"
#include "value.h"

/* ---- run-time errors ---- */

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
    case TE_CAST: case TE_REINTERPRET: return can_trap(e->u.cast.value);
    case TE_CALL: return can_trap(e->u.call.args[0]) || can_trap(e->u.call.args[1]);
    case TE_ADDRESS: return any_can_trap(e->u.load.num_indices, e->u.load.indices);
    case TE_ACCESS: return any_can_trap(e->u.access.num_indices, e->u.access.indices);
    case TE_LOAD: return any_can_trap(e->u.load.num_indices, e->u.load.indices);
    case TE_RAMP: return can_trap(e->u.ramp.base) || can_trap(e->u.ramp.stride);
    case TE_BROADCAST: return can_trap(e->u.broadcast.value);
    case TE_REDUCE: case TE_INTRINSIC: case TE_NUM_EXPR_KINDS:
        return true; /* an intrinsic is opaque: never dropped, as if it could fail */
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

/* ---- constant folding ----
 *
 * Folding computes exactly what the interpreters compute, with their own scalar
 * operations (value.c), so the simplifier cannot change a program's meaning. */

/* a op b for constants of the integer or bool dtype t; false when the operation would
 * fail at run time (which is left to the run time) or is not a binary operator. */
static bool fold_int(TeExprKind kind, TsDType t, int64_t a, int64_t b, int64_t *out)
{
    if (!te_is_binary_kind(kind))
        return false;
    TeValue r, va = { .i = a }, vb = { .i = b };
    if (te_value_binary(kind, t, va, vb, &r, NULL) != TS_OK)
        return false;
    *out = r.i;
    return true;
}

/* a op b for float constants with the interpreter's rounding; false for operators
 * floats do not have and for results that are not finite. Comparisons set *is_bool. */
static bool fold_float(TeExprKind kind, TsDType t, double a, double b, double *out,
                       bool *is_bool)
{
    *is_bool = te_is_compare(kind);
    if (!te_is_binary_kind(kind))
        return false;
    TeValue r, va = { .f = a }, vb = { .f = b };
    if (te_value_binary(kind, t, va, vb, &r, NULL) != TS_OK)
        return false;
    *out = *is_bool ? (double)r.i : r.f;
    return *is_bool || isfinite(*out);
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

static TeRanges view(const Simplifier *s)
{
    TeRanges rs = { s->ranges, s->num_ranges };
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

static TsExpr *scaled_term(Simplifier *s, const TeLinear *f, TsExpr *term, int64_t k)
{
    return k == 1 ? term : ts_mul(s->arena, term, ts_int(s->arena, f->dtype, k));
}

/* The canonical expression of a form: a positive term first when there is one, the
 * other terms in order of first appearance, the constant last ("(5 - i)" when every
 * term is negative). A term that cancelled but may fail at run time stays as t*0. */
static TsExpr *lin_build(Simplifier *s, const TeLinear *f)
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
        TsExpr *term = k < 0 ? scaled_term(s, f, f->terms[i].expr, te_wrap_neg(f->dtype, k))
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
    if (f->constant < 0 && f->constant != te_wrap_neg(f->dtype, f->constant))
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
    TeRanges rs = view(s);
    const TeRange *r = te_find_range(&rs, e);
    if (r && r->min == r->max && te_is_integral(e->dtype) && e->dtype.lanes == 1 &&
        te_fits(e->dtype, r->min, r->max))
        return make_int(s, e->dtype, r->min);
    return e;
}

/* Adds scale * e to f, simplifying the leaves of e's + - * tree exactly once. Returns
 * false on failure (with the error in the arena). */
static bool collect_simplified(Simplifier *s, TeLinear *f, TsExpr *e, int64_t scale)
{
    int64_t k;
    if (e->kind == TE_ADD || e->kind == TE_SUB) {
        int64_t scale_b = e->kind == TE_ADD ? scale : te_wrap_neg(f->dtype, scale);
        return collect_simplified(s, f, e->u.op.a, scale) &&
               collect_simplified(s, f, e->u.op.b, scale_b);
    }
    TsExpr *a = e->kind == TE_MUL ? simp(s, e->u.op.a) : simp(s, e);
    if (!a)
        return false;
    if (e->kind != TE_MUL) {
        te_linear_collect(f, a, scale);
        return true;
    }
    TsExpr *b = simp(s, e->u.op.b);
    if (!b)
        return false;
    if (te_const_int(b, &k)) {
        te_linear_collect(f, a, te_wrap_mul(f->dtype, scale, k));
    } else if (te_const_int(a, &k)) {
        te_linear_collect(f, b, te_wrap_mul(f->dtype, scale, k));
    } else {
        TsExpr *product = a == e->u.op.a && b == e->u.op.b ? e : ts_mul(s->arena, a, b);
        if (!product)
            return false;
        te_linear_add(f, product, scale);
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

/* Whether floormod(y, c) equals the remainder r = floormod(x, c) (or y % c equals
 * x % c): y is x, or, for floormod with c > 0, y is floormod(x, m) with c dividing m > 0
 * (which the nested-division rule has already turned into floormod(x, c)). */
static bool same_remainder(const TsExpr *y, const TsExpr *r, int64_t c)
{
    int64_t m;
    if (te_expr_equal(y, r->u.op.a))
        return true;
    return r->kind == TE_FLOORMOD && c > 0 && y->kind == TE_FLOORMOD &&
           te_const_int(y->u.op.b, &m) && m > 0 && m % c == 0 &&
           te_expr_equal(y->u.op.a, r->u.op.a);
}

/* The index of a term k*q of f that pairs with the remainder term f->terms[m], k*r where
 * r = floormod(x, c) (or x % c): q = floordiv(y, c) (or y / c) with the coefficient
 * k*c, where floormod(y, c) = r (same_remainder); -1 when there is none. */
static int quotient_partner(const TeLinear *f, int m)
{
    const TsExpr *r = f->terms[m].expr;
    int64_t c, k = f->terms[m].coeff;
    if ((r->kind != TE_FLOORMOD && r->kind != TE_MOD) || !te_const_int(r->u.op.b, &c) ||
        c == 0 || k == 0)
        return -1;
    TeExprKind quotient = r->kind == TE_FLOORMOD ? TE_FLOORDIV : TE_DIV;
    for (int i = 0; i < f->num_terms; i++) {
        const TsExpr *q = f->terms[i].expr;
        if (q->kind == quotient && te_expr_equal(q->u.op.b, r->u.op.b) &&
            same_remainder(q->u.op.a, r, c) && f->terms[i].coeff == te_wrap_mul(f->dtype, k, c))
            return i;
    }
    return -1;
}

/* floordiv(x, c)*c + floormod(x, c) = x, times any k, for a constant c != 0 (and the
 * same with / and %, which truncate): an identity of exact integers, so of integers
 * modulo 2^bits too, and a division by a nonzero constant cannot fail, so dropping the
 * pair loses no run-time error (x itself stays). The remainder may also be of a
 * remainder: floordiv(floormod(x, 8), 4)*4 + floormod(x, 4) = floormod(x, 8). This is
 * what a split and then a fuse of its two parts leave in indices and guards. Applied
 * until no pair is left, as x may pair again (a fuse of a split of a fused axis).
 * Returns false on failure. */
static bool fold_division_pairs(Simplifier *s, TeLinear *f)
{
    for (int round = 0; round < TE_LINEAR_MAX_TERMS && !f->too_big; round++) {
        int m = 0, q = -1;
        for (; m < f->num_terms && q < 0; m++)
            q = quotient_partner(f, m);
        if (q < 0)
            return true;
        m--;
        TeLinear g;
        te_linear_init(&g, f->dtype);
        g.constant = f->constant;
        for (int i = 0; i < f->num_terms; i++)
            if (i != m && i != q)
                te_linear_add(&g, f->terms[i].expr, f->terms[i].coeff);
        /* y (the quotient's dividend) simplified again: it may combine with the rest. */
        TsExpr *x = simp(s, f->terms[q].expr->u.op.a);
        if (!x)
            return false;
        te_linear_collect(&g, x, f->terms[m].coeff);
        *f = g;
    }
    return true;
}

static TsExpr *simp_arith(Simplifier *s, TsExpr *e)
{
    if (te_is_signed_scalar(e->dtype)) {
        TeLinear f;
        te_linear_init(&f, e->dtype);
        if (!collect_simplified(s, &f, e, 1) || !fold_division_pairs(s, &f))
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
    if (!te_is_signed_scalar(a->dtype))
        return ts_sub(s->arena, a, make_int(s, a->dtype, qc));
    TeLinear f;
    te_linear_init(&f, a->dtype);
    te_linear_collect(&f, a, 1);
    f.constant = te_wrap_add(f.dtype, f.constant, te_wrap_neg(f.dtype, qc));
    return f.too_big ? ts_sub(s->arena, a, ts_int(s->arena, a->dtype, qc)) : lin_build(s, &f);
}

/* When a's bounds give one quotient by the constant c, the quotient is that constant and
 * the remainder is a - q*c: floordiv(e, c) = 0 and floormod(e, c) = e for 0 <= e < c.
 * Returns NULL when the rule does not apply (*failed tells an allocation failure). */
static TsExpr *one_quotient(Simplifier *s, TsExpr *n, int64_t c, bool *failed)
{
    TeRanges rs = view(s);
    TsExpr *a = n->u.op.a;
    int64_t lo, hi, qlo, qhi, qc;
    bool floored = n->kind == TE_FLOORDIV || n->kind == TE_FLOORMOD;
    if (!te_bounds(&rs, a, &lo, &hi) || !te_div64(floored, lo, c, &qlo) ||
        !te_div64(floored, hi, c, &qhi) ||
        qlo != qhi || !te_mul_ok(qlo, c, &qc))
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
        if (!te_mul_ok(inner, c, &product) || !te_fits(n->dtype, product, product))
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
    TeRanges rs = view(s);
    TeLinear f, q, r;
    te_linear_init(&f, n->dtype);
    te_linear_init(&q, n->dtype);
    te_linear_init(&r, n->dtype);
    te_linear_collect(&f, n->u.op.a, 1);
    if (f.too_big || c <= 0)
        return NULL;
    for (int i = 0; i < f.num_terms; i++) {
        if (f.terms[i].coeff % c == 0)
            te_linear_add(&q, f.terms[i].expr, f.terms[i].coeff / c);
        else
            te_linear_add(&r, f.terms[i].expr, f.terms[i].coeff);
    }
    te_div64(true, f.constant, c, &q.constant);
    r.constant = te_floormod64(f.constant, c);
    if (!te_linear_has_terms(&q))
        return NULL;
    int64_t flo, fhi, rlo, rhi;
    bool pow2_mod = n->kind == TE_FLOORMOD && (c & (c - 1)) == 0;
    bool exact = te_linear_bounds(&rs, &f, &flo, &fhi) && te_fits(n->dtype, flo, fhi) &&
                 te_linear_bounds(&rs, &r, &rlo, &rhi) && te_fits(n->dtype, rlo, rhi);
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
    te_linear_collect(&q, inner, 1);
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
    if (!r && !failed && te_is_signed_scalar(n->dtype))
        r = nested_division(s, n, c, &failed);
    if (!r && !failed && te_is_signed_scalar(n->dtype))
        r = split_division(s, n, c, &failed);
    return failed ? NULL : r ? r : n;
}

/* min and max: folded, or decided by the bounds of a - b. */
static TsExpr *minmax_rules(Simplifier *s, TsExpr *n)
{
    TeRanges rs = view(s);
    TsExpr *a = n->u.op.a, *b = n->u.op.b;
    int64_t x, y, v, lo, hi;
    double f;
    bool is_bool, is_min = n->kind == TE_MIN;
    if (te_const_int(a, &x) && te_const_int(b, &y) && fold_int(n->kind, n->dtype, x, y, &v))
        return make_int(s, n->dtype, v);
    if (a->kind == TE_FLOAT && b->kind == TE_FLOAT &&
        fold_float(n->kind, n->dtype, a->u.float_value, b->u.float_value, &f, &is_bool))
        return ts_float(s->arena, n->dtype, f);
    if (te_expr_equal(a, b))
        return a;
    if (te_is_integral(n->dtype) && n->dtype.lanes == 1 && te_diff_bounds(&rs, a, b, &lo, &hi)) {
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
    TeRanges rs = view(s);
    TsExpr *a = n->u.op.a, *b = n->u.op.b;
    TeLinear d, left, right;
    bool ordered = n->kind != TE_EQ && n->kind != TE_NE;
    te_linear_init(&d, a->dtype);
    te_linear_init(&left, a->dtype);
    te_linear_init(&right, a->dtype);
    if (ordered && !te_linear_difference(&rs, a, b, &d))
        return n;
    if (!ordered) {
        te_linear_collect(&d, a, 1);
        te_linear_collect(&d, b, -1);
    }
    if (d.too_big || !te_linear_has_terms(&d))
        return n;
    for (int i = 0; i < d.num_terms; i++) {
        int64_t k = d.terms[i].coeff;
        if (k == 0 && can_trap(d.terms[i].expr))
            return n;
        /* An exact coefficient or constant outside the dtype cannot be written. */
        if (ordered && (k == INT64_MIN || !te_fits(a->dtype, k < 0 ? -k : k, k < 0 ? -k : k)))
            return n;
        if (k > 0)
            te_linear_add(&left, d.terms[i].expr, k);
        else if (k < 0)
            te_linear_add(&right, d.terms[i].expr, te_wrap_neg(a->dtype, k));
    }
    int64_t constant = te_linear_has_terms(&left) ? -d.constant : d.constant;
    if (ordered && (d.constant == INT64_MIN || !te_fits(a->dtype, constant, constant)))
        return n;
    if (te_linear_has_terms(&left))
        right.constant = te_wrap_int(a->dtype, constant);
    else
        left.constant = te_wrap_int(a->dtype, constant);
    if (ordered && (!te_linear_fits(&rs, &left) || !te_linear_fits(&rs, &right)))
        return n;
    TsExpr *l = lin_build(s, &left), *r = lin_build(s, &right);
    return with_operands(s, n, l, r);
}

static TsExpr *compare_rules(Simplifier *s, TsExpr *n);

static TeExprKind mirrored_compare(TeExprKind k)
{
    return k == TE_LT ? TE_GT : k == TE_GT ? TE_LT : k == TE_LE ? TE_GE : k == TE_GE ? TE_LE : k;
}

/* floordiv(x, c) op K for a constant c > 0 as a comparison of x, which loop partition
 * can cut (a guard of a fused axis, floordiv(f, 10) < 1, is f < 10): floordiv(x, c) < K
 * is x < K*c, <= K is x <= K*c + c - 1, > K is x > K*c + c - 1, >= K is x >= K*c. Exact
 * for every value x holds, as long as the new constant fits the dtype (otherwise the
 * comparison is decided by x's type range, which te_decide_compare does). Truncating
 * division and (in)equality, which are not one interval of x, are left alone. NULL when
 * the rule does not apply. */
static TsExpr *quotient_compare(Simplifier *s, TsExpr *n)
{
    TsExpr *q = n->u.op.a, *other = n->u.op.b;
    TeExprKind k = n->kind;
    int64_t c, bound, low, high;
    if (q->kind != TE_FLOORDIV) {
        q = n->u.op.b;
        other = n->u.op.a;
        k = mirrored_compare(k);
    }
    if (q->kind != TE_FLOORDIV || !te_is_signed_scalar(q->dtype) || k == TE_EQ || k == TE_NE ||
        !te_const_int(q->u.op.b, &c) || c <= 0 || !te_const_int(other, &bound))
        return NULL;
    if (!te_mul_ok(bound, c, &low) || !te_add_ok(low, c - 1, &high) ||
        !te_fits(q->dtype, low, high))
        return NULL;
    int64_t limit = k == TE_LT || k == TE_GE ? low : high;
    TsExpr *r = with_operands(s, n, q->u.op.a, make_int(s, q->dtype, limit));
    if (r)
        r->kind = k;
    return r ? compare_rules(s, r) : NULL;
}

static TsExpr *compare_rules(Simplifier *s, TsExpr *n)
{
    TeRanges rs = view(s);
    TsExpr *a = n->u.op.a;
    TsExpr *b = n->u.op.b;
    int64_t x, y, v;
    if (te_const_int(a, &x) && te_const_int(b, &y) && fold_int(n->kind, a->dtype, x, y, &v))
        return ts_bool(s->arena, v);
    if (a->dtype.lanes != 1)
        return n;
    TeTruth t = te_decide_compare(&rs, n);
    if (t != TE_TRUTH_UNKNOWN && !can_trap(n))
        return ts_bool(s->arena, t == TE_TRUTH_TRUE);
    if (!te_is_signed_scalar(a->dtype))
        return n;
    TsExpr *r = quotient_compare(s, n);
    return r ? r : ts_arena_ok(s->arena) ? canonical_compare(s, n) : NULL;
}

static TeExprKind negated_compare(TeExprKind k)
{
    if (k == TE_EQ || k == TE_NE)
        return k == TE_EQ ? TE_NE : TE_EQ;
    if (k == TE_LT || k == TE_LE)
        return k == TE_LT ? TE_GE : TE_GT;
    return k == TE_GT ? TE_LE : TE_LT;
}

static int assume(Simplifier *s, const TsExpr *cond, bool truth);

/* Whether p being true proves q true, from what p says about single variables (v op c,
 * in conjunctions) on top of the known ranges: 1 yes, 0 not proven, -1 failure. */
static int implies(Simplifier *s, const TsExpr *p, const TsExpr *q)
{
    int saved = s->num_ranges;
    int pushed = assume(s, p, true);
    TeRanges rs = view(s);
    bool proven = pushed > 0 && te_decide(&rs, q) == TE_TRUTH_TRUE;
    s->num_ranges = saved;
    return pushed < 0 ? -1 : proven;
}

/* cond as e in [*lo, *hi] when it compares a signed integer scalar e with a constant
 * (either side); false for anything else, != included. */
static bool cond_interval(const TsExpr *cond, const TsExpr **e, int64_t *lo, int64_t *hi)
{
    TeExprKind k = cond->kind;
    int64_t c;
    if (!te_is_compare(k) || k == TE_NE || !te_is_signed_scalar(cond->u.op.a->dtype))
        return false;
    *e = cond->u.op.a;
    if (!te_const_int(cond->u.op.b, &c)) {
        *e = cond->u.op.b;
        k = mirrored_compare(k);
        if (!te_const_int(cond->u.op.a, &c))
            return false;
    }
    if (!te_type_range((*e)->dtype, lo, hi) || (k == TE_LT && c == INT64_MIN) ||
        (k == TE_GT && c == INT64_MAX))
        return false;
    if (k == TE_LT || k == TE_LE || k == TE_EQ)
        *hi = te_min64(*hi, k == TE_LT ? c - 1 : c);
    if (k == TE_GT || k == TE_GE || k == TE_EQ)
        *lo = te_max64(*lo, k == TE_GT ? c + 1 : c);
    return true;
}

/* Two comparisons of one expression with constants, e < 6 && e < 7: where one interval
 * holds the other, && is the inner one and || the outer one. NULL when they are not
 * such a pair or neither interval holds the other. */
static TsExpr *same_subject(TsExpr *n)
{
    const TsExpr *ea, *eb;
    int64_t alo, ahi, blo, bhi;
    TsExpr *a = n->u.op.a, *b = n->u.op.b;
    if (!cond_interval(a, &ea, &alo, &ahi) || !cond_interval(b, &eb, &blo, &bhi) ||
        !te_expr_equal(ea, eb))
        return NULL;
    bool a_in_b = blo <= alo && ahi <= bhi, b_in_a = alo <= blo && bhi <= ahi;
    if (n->kind == TE_AND)
        return a_in_b ? a : b_in_a ? b : NULL;
    return a_in_b ? b : b_in_a ? a : NULL;
}

/* a && b where one conjunct implies the other is the stronger one (k < 3 && k < 1 is
 * k < 1, i < 1 && i + 6 < 9 over i >= 0 is i < 1); a || b where one implies the other is
 * the weaker one. A dropped operand must not be able to fail at run time. Scalars only:
 * the facts are about scalar variables. */
static TsExpr *chained_condition(Simplifier *s, TsExpr *n)
{
    TsExpr *a = n->u.op.a, *b = n->u.op.b;
    if (n->dtype.lanes != 1)
        return n;
    TsExpr *kept = same_subject(n);
    if (kept) /* the dropped comparison has the kept one's operands: it cannot fail alone */
        return kept;
    bool is_and = n->kind == TE_AND;
    for (int side = 0; side < 2; side++) {
        TsExpr *p = side ? b : a, *q = side ? a : b;
        if (can_trap(is_and ? q : p))
            continue;
        int r = implies(s, p, q); /* p implies q: p && q is p, p || q is q */
        if (r < 0)
            return NULL;
        if (r)
            return is_and ? p : q;
    }
    return n;
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
        if (te_is_compare(a->kind) && !ts_dtype_is_float(a->u.op.a->dtype) && a->dtype.lanes == 1) {
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
    if (te_expr_equal(a, b))
        return a;
    return chained_condition(s, n);
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
    if (v->kind == TE_INT || v->kind == TE_FLOAT) {
        TeValue in, out;
        if (v->kind == TE_INT)
            in.i = v->u.int_value;
        else
            in.f = v->u.float_value;
        out = te_value_cast(from, to, in);
        if (te_is_integral(to))
            return make_int(s, to, out.i);
        return isfinite(out.f) ? ts_float(s->arena, to, out.f) : n;
    }
    /* Widening an integer and narrowing it back gives it back. */
    if (v->kind == TE_CAST && ts_dtype_is_int(to) && ts_dtype_is_int(from) &&
        ts_dtype_eq(v->u.cast.value->dtype, to) && from.bits >= to.bits)
        return v->u.cast.value;
    return n;
}

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
    TeRanges rs = view(s);
    TeTruth d = te_decide(&rs, cond);
    bool lazy = e->kind == TE_IF_THEN_ELSE;
    if (d == TE_TRUTH_TRUE && (lazy || !can_trap(f)) && !can_trap(cond))
        return t;
    if (d == TE_TRUTH_FALSE && (lazy || !can_trap(t)) && !can_trap(cond))
        return f;
    if (te_expr_equal(t, f) && !can_trap(cond))
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
    case TE_REINTERPRET: case TE_INTRINSIC: case TE_ADDRESS:
        r = with_simplified_children(s, e);
        break;
    case TE_NUM_EXPR_KINDS:
        return e;
    }
    /* Same shape as before: hand back the original so callers see "unchanged". */
    return r && r != e && te_expr_equal(r, e) ? e : r;
}

/* ---- facts from conditions ---- */

/* Narrows var's known range to [lo, hi]; an empty result (unreachable code) is not
 * recorded. Returns 1 when pushed, 0 when not, -1 on failure. */
static int narrow(Simplifier *s, const TsExpr *var, int64_t lo, int64_t hi)
{
    TeRanges rs = view(s);
    const TeRange *r = te_find_range(&rs, var);
    int64_t tlo, thi;
    if (!te_type_range(var->dtype, &tlo, &thi))
        return 0;
    lo = te_max64(lo, r ? r->min : tlo);
    hi = te_min64(hi, r ? r->max : thi);
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
    if (!te_is_compare(cond->kind) || !te_is_integral(cond->u.op.a->dtype) ||
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
    TeRanges rs = { ranges, num_ranges > 0 && ranges ? num_ranges : 0 };
    if (!cond || !ts_dtype_is_bool(cond->dtype) || cond->dtype.lanes != 1)
        return false;
    TeTruth t = te_decide(&rs, cond);
    if (t != TE_TRUTH_UNKNOWN || !arena)
        return t == TE_TRUTH_TRUE;
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
    TeRanges rs = view(s);
    int64_t mlo, mhi, elo, ehi, hi;
    if (!te_bounds(&rs, min, &mlo, &mhi) || !te_bounds(&rs, extent, &elo, &ehi) || ehi < 1 ||
        !te_add_ok(mhi, ehi - 1, &hi) || !te_fits(loop->u.loop.var->dtype, mlo, hi))
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
    TeRanges rs = view(s);
    int64_t lo, hi;
    if (!value)
        return NULL;
    int saved = s->num_ranges;
    bool ok = !te_bounds(&rs, value, &lo, &hi) || push_range(s, st->u.let.var, lo, hi);
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

/* The value of a mask that is the same constant in every lane, as v (true), else false. */
static bool uniform_mask(const TsExpr *mask, int64_t *v)
{
    return te_const_int(mask, v) ||
           (mask->kind == TE_BROADCAST && te_const_int(mask->u.broadcast.value, v));
}

/* A masked store: a mask true in every lane drops, false in every lane drops the store;
 * otherwise the store's indices and value are simplified and the mask kept. */
static TeStmt *simp_store(Simplifier *s, TeStmt *st)
{
    TsExpr *mask = simp(s, st->u.store.mask);
    int64_t v;
    if (!mask)
        return NULL;
    if (uniform_mask(mask, &v) && !v)
        return empty_stmt(s);
    TeStmt *plain = te_store_with_mask(s->arena, st, NULL);
    TeStmt *body = plain ? simp_stmt(s, plain) : NULL;
    if (!body || (uniform_mask(mask, &v) && v))
        return body;
    return te_store_with_mask(s->arena, body, mask);
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
    case TE_STMT_STORE:
        if (st->u.store.mask) {
            r = simp_store(s, st);
            break;
        }
        return NULL;                /* the engine simplifies indices and values */
    case TE_STMT_CALL: return NULL; /* the engine simplifies arguments */
    case TE_STMT_TENSORIZE: return NULL; /* the engine simplifies both statements */
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
