/* Integer analysis shared by the interval analysis (bounds.c) and the simplifier
 * (simplify.c): checked int64 arithmetic, the value ranges of integer dtypes, linear
 * forms, and the decision of conditions under variable ranges. Private to te/; other
 * modules use the entry points in te_internal.h (te_const_bounds, te_prove,
 * te_simplify_expr, te_simplify_stmt). */
#ifndef TESSERA_TE_ARITH_H
#define TESSERA_TE_ARITH_H

#include <stdbool.h>
#include <stdint.h>

#include "te_internal.h"

/* ---- integer helpers ---- */

static inline bool te_add_ok(int64_t a, int64_t b, int64_t *r)
{
    return !__builtin_add_overflow(a, b, r);
}

static inline bool te_sub_ok(int64_t a, int64_t b, int64_t *r)
{
    return !__builtin_sub_overflow(a, b, r);
}

static inline bool te_mul_ok(int64_t a, int64_t b, int64_t *r)
{
    return !__builtin_mul_overflow(a, b, r);
}

static inline int64_t te_min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

static inline int64_t te_max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

/* Division of int64 values rounding toward -inf (floor) or toward zero; false for a
 * zero divisor or INT64_MIN / -1. */
static inline bool te_div64(bool floored, int64_t a, int64_t b, int64_t *q)
{
    if (b == 0 || (a == INT64_MIN && b == -1))
        return false;
    *q = a / b;
    if (floored && a % b != 0 && ((a % b < 0) != (b < 0)))
        *q -= 1;
    return true;
}

static inline int64_t te_floormod64(int64_t a, int64_t b)
{
    int64_t r = a % b;
    return r != 0 && ((r < 0) != (b < 0)) ? r + b : r;
}

static inline int64_t te_wrap_add(TsDType t, int64_t a, int64_t b)
{
    return te_wrap_int(t, (int64_t)((uint64_t)a + (uint64_t)b));
}

static inline int64_t te_wrap_mul(TsDType t, int64_t a, int64_t b)
{
    return te_wrap_int(t, (int64_t)((uint64_t)a * (uint64_t)b));
}

static inline int64_t te_wrap_neg(TsDType t, int64_t a)
{
    return te_wrap_int(t, (int64_t)(0 - (uint64_t)a));
}

static inline bool te_is_signed_scalar(TsDType t)
{
    return t.code == TS_TYPE_INT && t.lanes == 1;
}

static inline bool te_is_integral(TsDType t)
{
    return ts_dtype_is_int(t) || ts_dtype_is_bool(t);
}

/* The values of an integer or bool dtype that int64 bounds describe exactly (uint64
 * values above INT64_MAX are left out). */
static inline bool te_type_range(TsDType t, int64_t *lo, int64_t *hi)
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

static inline bool te_fits(TsDType t, int64_t lo, int64_t hi)
{
    int64_t tlo, thi;
    return te_type_range(t, &tlo, &thi) && lo >= tlo && hi <= thi && lo <= hi;
}

/* ---- ranges and structural equality ---- */

/* The ranges known while analysing an expression, innermost last. */
typedef struct TeRanges {
    const TeRange *items;
    int n;
} TeRanges;

/* The innermost range of var, or NULL. */
const TeRange *te_find_range(const TeRanges *rs, const TsExpr *var);


/* ---- linear forms ---- */

enum { TE_LINEAR_MAX_TERMS = 32 };

typedef struct TeTerm {
    TsExpr *expr;  /* a variable or a subexpression that is not + - or * constant */
    int64_t coeff; /* wrapped to the dtype; 0 once terms cancelled */
} TeTerm;

/* sum(coeff * expr) + constant in a signed scalar integer dtype. too_big is set when a
 * form would need more than TE_LINEAR_MAX_TERMS terms; callers then leave the expression alone. */
typedef struct TeLinear {
    TsDType dtype;
    int num_terms;
    bool too_big;
    int64_t constant;
    TeTerm terms[TE_LINEAR_MAX_TERMS];
} TeLinear;

void te_linear_init(TeLinear *f, TsDType dtype);
/* Adds coeff * e, merging e with an equal term. */
void te_linear_add(TeLinear *f, TsExpr *e, int64_t coeff);
/* Adds scale * e to f, looking through + - and products by constants. */
void te_linear_collect(TeLinear *f, TsExpr *e, int64_t scale);
/* Whether some term has a nonzero coefficient. */
bool te_linear_has_terms(const TeLinear *f);
/* Bounds of the form's exact (unwrapped) value. */
bool te_linear_bounds(const TeRanges *rs, const TeLinear *f, int64_t *lo, int64_t *hi);
/* Whether the form's exact value always fits its dtype, so that it equals the value
 * the program computes. */
bool te_linear_fits(const TeRanges *rs, const TeLinear *f);
/* The exact difference a - b of two signed scalar integer expressions as a linear form
 * (coefficients not wrapped), when both sides provably do not wrap. */
bool te_linear_difference(const TeRanges *rs, TsExpr *a, TsExpr *b, TeLinear *d);
/* Bounds of the exact a - b for integer scalars a and b. */
bool te_diff_bounds(const TeRanges *rs, TsExpr *a, TsExpr *b, int64_t *lo, int64_t *hi);

/* ---- deciding conditions and bounding values ---- */

typedef enum TeTruth { TE_TRUTH_UNKNOWN, TE_TRUTH_FALSE, TE_TRUTH_TRUE } TeTruth;

static inline bool te_is_compare(TeExprKind k)
{
    return k == TE_EQ || k == TE_NE || k == TE_LT || k == TE_LE || k == TE_GT || k == TE_GE;
}

/* The two-operand operators (ADD ... SHR), the ones te_value_binary applies. */
static inline bool te_is_binary_kind(TeExprKind k)
{
    switch (k) {
    case TE_ADD: case TE_SUB: case TE_MUL: case TE_DIV: case TE_MOD: case TE_FLOORDIV:
    case TE_FLOORMOD: case TE_MIN: case TE_MAX: case TE_EQ: case TE_NE: case TE_LT: case TE_LE:
    case TE_GT: case TE_GE: case TE_AND: case TE_OR: case TE_BITAND: case TE_BITOR:
    case TE_BITXOR: case TE_SHL: case TE_SHR:
        return true;
    case TE_INT: case TE_FLOAT: case TE_VAR: case TE_NOT: case TE_BITNOT: case TE_POPCOUNT:
    case TE_SELECT: case TE_IF_THEN_ELSE: case TE_CAST: case TE_CALL: case TE_ACCESS:
    case TE_REDUCE: case TE_LOAD: case TE_RAMP: case TE_BROADCAST: case TE_REINTERPRET:
    case TE_INTRINSIC: case TE_ADDRESS: case TE_NUM_EXPR_KINDS:
        return false;
    }
    return false;
}

/* x op y for a comparison op, as the interpreter compares floats. */
bool te_compare_floats(TeExprKind kind, double x, double y);
/* A comparison of scalars decided for every value of the variables, or unknown. */
TeTruth te_decide_compare(const TeRanges *rs, const TsExpr *e);
/* Whether a bool expression is true (or false) for every value of the variables. */
TeTruth te_decide(const TeRanges *rs, const TsExpr *cond);
/* Bounds of an integer or bool expression over all lanes, valid only when they fit the
 * dtype (te_const_bounds with a range list). */
bool te_bounds(const TeRanges *rs, const TsExpr *e, int64_t *lo, int64_t *hi);

#endif /* TESSERA_TE_ARITH_H */
