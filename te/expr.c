/* Expression builders with type checking at construction.
 *
 * Each builder allocates one immutable node in the arena. A NULL operand means an
 * earlier builder failed: the result is NULL and the arena keeps that first error.
 * Bad operands (mismatched dtypes, a float16 or bfloat16 in arithmetic, an index count that does
 * not match the tensor) record a message naming the operator and the operands. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "te_internal.h"

static const char *const expr_kind_names[] = {
#define X(kind, name) name,
#include "expr_kinds.def"
#undef X
};

static const char *const call_names[] = {
#define X(kind, name, arity) name,
#include "call_kinds.def"
#undef X
};

static const int call_arities[] = {
#define X(kind, name, arity) arity,
#include "call_kinds.def"
#undef X
};

const char *te_expr_kind_name(TeExprKind kind)
{
    return (unsigned)kind < TE_NUM_EXPR_KINDS ? expr_kind_names[kind] : "?";
}

const char *te_call_name(TeCallKind fn)
{
    return (unsigned)fn < TE_NUM_CALL_KINDS ? call_names[fn] : "?";
}

int te_call_arity(TeCallKind fn)
{
    return (unsigned)fn < TE_NUM_CALL_KINDS ? call_arities[fn] : 0;
}

bool te_const_int(const TsExpr *e, int64_t *value)
{
    if (!e || e->kind != TE_INT)
        return false;
    *value = e->u.int_value;
    return true;
}

static TsExpr *new_expr(TsArena *arena, TeExprKind kind, TsDType dtype)
{
    TsExpr *e = ts_arena_alloc(arena, sizeof *e);
    if (e) {
        e->kind = kind;
        e->dtype = dtype;
    }
    return e;
}

/* The dtype's name in a static-duration buffer of the caller's. */
#define DT(t, buf) ts_dtype_str((t), (buf))

/* ---- constants and variables ---- */

TsExpr *ts_int(TsArena *arena, TsDType dtype, int64_t value)
{
    char b[TS_DTYPE_STR_MAX];
    if (!ts_dtype_is_valid(dtype) || dtype.lanes != 1 ||
        !(ts_dtype_is_int(dtype) || ts_dtype_is_bool(dtype))) {
        ts_arena_fail(arena, TS_EINVAL, "int constant %lld: dtype %s is not a scalar integer "
                      "or bool", (long long)value, DT(dtype, b));
        return NULL;
    }
    if (te_wrap_int(dtype, value) != value || (ts_dtype_is_uint(dtype) && value < 0)) {
        ts_arena_fail(arena, TS_EINVAL, "int constant %lld does not fit in %s",
                      (long long)value, DT(dtype, b));
        return NULL;
    }
    TsExpr *e = new_expr(arena, TE_INT, dtype);
    if (e)
        e->u.int_value = value;
    return e;
}

TsExpr *ts_uint(TsArena *arena, TsDType dtype, uint64_t value)
{
    char b[TS_DTYPE_STR_MAX];
    if (!ts_dtype_is_valid(dtype) || dtype.lanes != 1 || !ts_dtype_is_uint(dtype)) {
        ts_arena_fail(arena, TS_EINVAL, "uint constant %llu: dtype %s is not a scalar unsigned "
                      "integer", (unsigned long long)value, DT(dtype, b));
        return NULL;
    }
    if (dtype.bits < 64 && value >> dtype.bits) {
        ts_arena_fail(arena, TS_EINVAL, "uint constant %llu does not fit in %s",
                      (unsigned long long)value, DT(dtype, b));
        return NULL;
    }
    TsExpr *e = new_expr(arena, TE_INT, dtype);
    if (e)
        e->u.int_value = (int64_t)value;
    return e;
}

TsExpr *ts_i32(TsArena *arena, int64_t value)
{
    return ts_int(arena, TS_INT32, value);
}

TsExpr *ts_bool(TsArena *arena, bool value)
{
    return ts_int(arena, TS_BOOL, value);
}

TsExpr *ts_float(TsArena *arena, TsDType dtype, double value)
{
    char b[TS_DTYPE_STR_MAX];
    if (!ts_dtype_is_valid(dtype) || dtype.lanes != 1 || !ts_dtype_is_float(dtype)) {
        ts_arena_fail(arena, TS_EINVAL, "float constant %g: dtype %s is not a scalar float",
                      value, DT(dtype, b));
        return NULL;
    }
    TsExpr *e = new_expr(arena, TE_FLOAT, dtype);
    if (e)
        e->u.float_value = te_round_float(dtype, value);
    return e;
}

TsExpr *ts_f32(TsArena *arena, double value)
{
    return ts_float(arena, TS_FLOAT32, value);
}

static TsExpr *new_var(TsArena *arena, const char *name, TsDType dtype, const TsAxis *axis)
{
    TsExpr *e = new_expr(arena, TE_VAR, dtype);
    if (!e)
        return NULL;
    e->u.var.name = ts_arena_strdup(arena, name);
    e->u.var.axis = axis;
    return e->u.var.name ? e : NULL;
}

TsExpr *ts_variable(TsArena *arena, const char *name, TsDType dtype)
{
    char b[TS_DTYPE_STR_MAX];
    if (!name || !name[0]) {
        ts_arena_fail(arena, TS_EINVAL, "variable: the name is empty");
        return NULL;
    }
    if (!ts_dtype_is_valid(dtype)) {
        ts_arena_fail(arena, TS_EINVAL, "variable %s: invalid dtype %s", name, DT(dtype, b));
        return NULL;
    }
    return new_var(arena, name, dtype, NULL);
}

/* ---- axes ---- */

static TsAxis *new_axis(TsArena *arena, const char *name, int64_t extent, bool is_reduce)
{
    const char *what = is_reduce ? "reduce axis" : "axis";
    if (!name || !name[0]) {
        ts_arena_fail(arena, TS_EINVAL, "%s: the name is empty", what);
        return NULL;
    }
    if (extent < 1 || extent > TS_MAX_EXTENT) {
        ts_arena_fail(arena, TS_EINVAL, "%s %s: extent %lld is outside [1, %lld]", what, name,
                      (long long)extent, (long long)TS_MAX_EXTENT);
        return NULL;
    }
    TsAxis *ax = ts_arena_alloc(arena, sizeof *ax);
    if (!ax)
        return NULL;
    ax->name = ts_arena_strdup(arena, name);
    ax->var = new_var(arena, name, TS_INT32, ax);
    ax->extent = ts_i32(arena, extent);
    ax->is_reduce = is_reduce;
    return ax->name && ax->var && ax->extent ? ax : NULL;
}

TsAxis *ts_axis(TsArena *arena, const char *name, int64_t extent)
{
    return new_axis(arena, name, extent, false);
}

TsAxis *ts_reduce_axis(TsArena *arena, const char *name, int64_t extent)
{
    return new_axis(arena, name, extent, true);
}

TsExpr *ts_var(const TsAxis *axis)
{
    return axis ? axis->var : NULL;
}

const char *ts_axis_name(const TsAxis *axis)
{
    return axis ? axis->name : NULL;
}

int64_t ts_axis_extent(const TsAxis *axis)
{
    int64_t v;
    return axis && te_const_int(axis->extent, &v) ? v : -1;
}

bool ts_axis_is_reduce(const TsAxis *axis)
{
    return axis && axis->is_reduce;
}

/* ---- operators ---- */

/* What a binary operator accepts. */
typedef enum {
    ACCEPT_ARITH,   /* int, uint, float32/64 */
    ACCEPT_INT,     /* int, uint */
    ACCEPT_ORDERED, /* comparisons <, <=, >, >=: arith types */
    ACCEPT_EQUAL,   /* ==, !=: arith types and bool */
    ACCEPT_BOOL,    /* logical and/or */
    ACCEPT_BITS     /* bitwise and/or/xor: int, uint, bool */
} Accept;

static bool accepts(Accept accept, TsDType t)
{
    bool arith = ts_dtype_is_int(t) || (ts_dtype_is_float(t) && !ts_dtype_is_storage_only(t));
    switch (accept) {
    case ACCEPT_ARITH:
    case ACCEPT_ORDERED: return arith;
    case ACCEPT_INT: return ts_dtype_is_int(t);
    case ACCEPT_EQUAL: return arith || ts_dtype_is_bool(t);
    case ACCEPT_BOOL: return ts_dtype_is_bool(t);
    case ACCEPT_BITS: return ts_dtype_is_int(t) || ts_dtype_is_bool(t);
    }
    return false;
}

static const char *accept_text(Accept accept)
{
    switch (accept) {
    case ACCEPT_ARITH:
    case ACCEPT_ORDERED: return "integer or float32/float64 operands";
    case ACCEPT_INT: return "integer operands";
    case ACCEPT_EQUAL: return "integer, float32/float64 or bool operands";
    case ACCEPT_BOOL: return "bool operands";
    case ACCEPT_BITS: return "integer or bool operands";
    }
    return "?";
}

static TsExpr *binary(TsArena *arena, TeExprKind kind, Accept accept, TsExpr *a, TsExpr *b)
{
    char ba[TS_DTYPE_STR_MAX], bb[TS_DTYPE_STR_MAX];
    if (!a || !b)
        return NULL;
    const char *op = te_expr_kind_name(kind);
    if (!ts_dtype_eq(a->dtype, b->dtype)) {
        ts_arena_fail(arena, TS_EINVAL, "'%s': mismatched dtypes %s (%s) and %s (%s); cast "
                      "one operand", op, DT(a->dtype, ba), te_expr_str(arena, a),
                      DT(b->dtype, bb), te_expr_str(arena, b));
        return NULL;
    }
    if (!accepts(accept, a->dtype)) {
        bool storage = ts_dtype_is_storage_only(a->dtype);
        ts_arena_fail(arena, TS_EINVAL, "'%s' needs %s, got %s (%s)%s%s%s", op,
                      accept_text(accept), DT(a->dtype, ba), te_expr_str(arena, a),
                      storage ? ": " : "", storage ? DT(a->dtype, bb) : "",
                      storage ? " is a storage type, cast it to float32 first" : "");
        return NULL;
    }
    bool is_compare = accept == ACCEPT_ORDERED || accept == ACCEPT_EQUAL;
    TsDType result = is_compare ? ts_dtype_with_lanes(TS_BOOL, a->dtype.lanes) : a->dtype;
    TsExpr *e = new_expr(arena, kind, result);
    if (e) {
        e->u.op.a = a;
        e->u.op.b = b;
    }
    return e;
}

static TsExpr *unary(TsArena *arena, TeExprKind kind, Accept accept, TsExpr *a)
{
    char ba[TS_DTYPE_STR_MAX];
    if (!a)
        return NULL;
    if (!accepts(accept, a->dtype)) {
        ts_arena_fail(arena, TS_EINVAL, "'%s' needs %s, got %s (%s)", te_expr_kind_name(kind),
                      accept_text(accept), DT(a->dtype, ba), te_expr_str(arena, a));
        return NULL;
    }
    TsExpr *e = new_expr(arena, kind, a->dtype);
    if (e)
        e->u.op.a = a;
    return e;
}

TsExpr *ts_add(TsArena *A, TsExpr *a, TsExpr *b) { return binary(A, TE_ADD, ACCEPT_ARITH, a, b); }
TsExpr *ts_sub(TsArena *A, TsExpr *a, TsExpr *b) { return binary(A, TE_SUB, ACCEPT_ARITH, a, b); }
TsExpr *ts_mul(TsArena *A, TsExpr *a, TsExpr *b) { return binary(A, TE_MUL, ACCEPT_ARITH, a, b); }
TsExpr *ts_div(TsArena *A, TsExpr *a, TsExpr *b) { return binary(A, TE_DIV, ACCEPT_ARITH, a, b); }
TsExpr *ts_mod(TsArena *A, TsExpr *a, TsExpr *b) { return binary(A, TE_MOD, ACCEPT_INT, a, b); }
TsExpr *ts_floordiv(TsArena *A, TsExpr *a, TsExpr *b)
{
    return binary(A, TE_FLOORDIV, ACCEPT_INT, a, b);
}
TsExpr *ts_floormod(TsArena *A, TsExpr *a, TsExpr *b)
{
    return binary(A, TE_FLOORMOD, ACCEPT_INT, a, b);
}
TsExpr *ts_min(TsArena *A, TsExpr *a, TsExpr *b) { return binary(A, TE_MIN, ACCEPT_ARITH, a, b); }
TsExpr *ts_max(TsArena *A, TsExpr *a, TsExpr *b) { return binary(A, TE_MAX, ACCEPT_ARITH, a, b); }

TsExpr *ts_neg(TsArena *A, TsExpr *a)
{
    if (!a)
        return NULL;
    bool arith_float = ts_dtype_is_float(a->dtype) && !ts_dtype_is_storage_only(a->dtype);
    TsExpr *zero = arith_float                ? ts_float(A, a->dtype, 0.0)
                   : ts_dtype_is_int(a->dtype) ? ts_int(A, a->dtype, 0)
                                               : NULL;
    if (!zero) {
        char b[TS_DTYPE_STR_MAX];
        ts_arena_fail(A, TS_EINVAL, "'-' needs an integer or float32/float64 operand, got %s (%s)",
                      DT(a->dtype, b), te_expr_str(A, a));
        return NULL;
    }
    return binary(A, TE_SUB, ACCEPT_ARITH, zero, a);
}

TsExpr *ts_eq(TsArena *A, TsExpr *a, TsExpr *b) { return binary(A, TE_EQ, ACCEPT_EQUAL, a, b); }
TsExpr *ts_ne(TsArena *A, TsExpr *a, TsExpr *b) { return binary(A, TE_NE, ACCEPT_EQUAL, a, b); }
TsExpr *ts_lt(TsArena *A, TsExpr *a, TsExpr *b) { return binary(A, TE_LT, ACCEPT_ORDERED, a, b); }
TsExpr *ts_le(TsArena *A, TsExpr *a, TsExpr *b) { return binary(A, TE_LE, ACCEPT_ORDERED, a, b); }
TsExpr *ts_gt(TsArena *A, TsExpr *a, TsExpr *b) { return binary(A, TE_GT, ACCEPT_ORDERED, a, b); }
TsExpr *ts_ge(TsArena *A, TsExpr *a, TsExpr *b) { return binary(A, TE_GE, ACCEPT_ORDERED, a, b); }
TsExpr *ts_and(TsArena *A, TsExpr *a, TsExpr *b) { return binary(A, TE_AND, ACCEPT_BOOL, a, b); }
TsExpr *ts_or(TsArena *A, TsExpr *a, TsExpr *b) { return binary(A, TE_OR, ACCEPT_BOOL, a, b); }
TsExpr *ts_not(TsArena *A, TsExpr *a) { return unary(A, TE_NOT, ACCEPT_BOOL, a); }

TsExpr *ts_bitand(TsArena *A, TsExpr *a, TsExpr *b)
{
    return binary(A, TE_BITAND, ACCEPT_BITS, a, b);
}
TsExpr *ts_bitor(TsArena *A, TsExpr *a, TsExpr *b) { return binary(A, TE_BITOR, ACCEPT_BITS, a, b); }
TsExpr *ts_bitxor(TsArena *A, TsExpr *a, TsExpr *b)
{
    return binary(A, TE_BITXOR, ACCEPT_BITS, a, b);
}
TsExpr *ts_bitnot(TsArena *A, TsExpr *a) { return unary(A, TE_BITNOT, ACCEPT_INT, a); }
TsExpr *ts_shl(TsArena *A, TsExpr *a, TsExpr *b) { return binary(A, TE_SHL, ACCEPT_INT, a, b); }
TsExpr *ts_shr(TsArena *A, TsExpr *a, TsExpr *b) { return binary(A, TE_SHR, ACCEPT_INT, a, b); }
TsExpr *ts_popcount(TsArena *A, TsExpr *a) { return unary(A, TE_POPCOUNT, ACCEPT_INT, a); }

static TsExpr *conditional(TsArena *arena, TeExprKind kind, TsExpr *cond, TsExpr *t, TsExpr *f)
{
    char b1[TS_DTYPE_STR_MAX], b2[TS_DTYPE_STR_MAX];
    const char *op = te_expr_kind_name(kind);
    if (!cond || !t || !f)
        return NULL;
    if (!ts_dtype_is_bool(cond->dtype) ||
        (cond->dtype.lanes != 1 && cond->dtype.lanes != t->dtype.lanes)) {
        ts_arena_fail(arena, TS_EINVAL, "%s: the condition %s is %s, not bool", op,
                      te_expr_str(arena, cond), DT(cond->dtype, b1));
        return NULL;
    }
    if (!ts_dtype_eq(t->dtype, f->dtype)) {
        ts_arena_fail(arena, TS_EINVAL, "%s: mismatched dtypes of the branches, %s (%s) and %s "
                      "(%s)", op, DT(t->dtype, b1), te_expr_str(arena, t), DT(f->dtype, b2),
                      te_expr_str(arena, f));
        return NULL;
    }
    TsExpr *e = new_expr(arena, kind, t->dtype);
    if (e) {
        e->u.select.cond = cond;
        e->u.select.then_value = t;
        e->u.select.else_value = f;
    }
    return e;
}

TsExpr *ts_select(TsArena *A, TsExpr *cond, TsExpr *t, TsExpr *f)
{
    return conditional(A, TE_SELECT, cond, t, f);
}

TsExpr *ts_if_then_else(TsArena *A, TsExpr *cond, TsExpr *t, TsExpr *f)
{
    return conditional(A, TE_IF_THEN_ELSE, cond, t, f);
}

TsExpr *ts_cast(TsArena *arena, TsDType dtype, TsExpr *a)
{
    char b1[TS_DTYPE_STR_MAX], b2[TS_DTYPE_STR_MAX];
    if (!a)
        return NULL;
    if (!ts_dtype_is_valid(dtype) || dtype.lanes != a->dtype.lanes) {
        ts_arena_fail(arena, TS_EINVAL, "cast of %s (%s) to %s: %s", te_expr_str(arena, a),
                      DT(a->dtype, b1), DT(dtype, b2),
                      ts_dtype_is_valid(dtype) ? "the lane counts differ" : "invalid dtype");
        return NULL;
    }
    if (ts_dtype_eq(dtype, a->dtype))
        return a;
    TsExpr *e = new_expr(arena, TE_CAST, dtype);
    if (e)
        e->u.cast.value = a;
    return e;
}

static TsExpr *call(TsArena *arena, TeCallKind fn, TsExpr *a, TsExpr *b)
{
    char b1[TS_DTYPE_STR_MAX], b2[TS_DTYPE_STR_MAX];
    if (!a || (te_call_arity(fn) == 2 && !b))
        return NULL;
    if (!ts_dtype_is_float(a->dtype) || ts_dtype_is_storage_only(a->dtype)) {
        ts_arena_fail(arena, TS_EINVAL, "%s needs a float32 or float64 operand, got %s (%s)",
                      te_call_name(fn), DT(a->dtype, b1), te_expr_str(arena, a));
        return NULL;
    }
    if (b && !ts_dtype_eq(a->dtype, b->dtype)) {
        ts_arena_fail(arena, TS_EINVAL, "%s: mismatched dtypes %s (%s) and %s (%s)",
                      te_call_name(fn), DT(a->dtype, b1), te_expr_str(arena, a),
                      DT(b->dtype, b2), te_expr_str(arena, b));
        return NULL;
    }
    TsExpr *e = new_expr(arena, TE_CALL, a->dtype);
    if (e) {
        e->u.call.fn = fn;
        e->u.call.args[0] = a;
        e->u.call.args[1] = b;
    }
    return e;
}

TsExpr *ts_exp(TsArena *A, TsExpr *a) { return call(A, TE_CALL_EXP, a, NULL); }
TsExpr *ts_log(TsArena *A, TsExpr *a) { return call(A, TE_CALL_LOG, a, NULL); }
TsExpr *ts_sqrt(TsArena *A, TsExpr *a) { return call(A, TE_CALL_SQRT, a, NULL); }
TsExpr *ts_tanh(TsArena *A, TsExpr *a) { return call(A, TE_CALL_TANH, a, NULL); }
TsExpr *ts_sigmoid(TsArena *A, TsExpr *a) { return call(A, TE_CALL_SIGMOID, a, NULL); }
TsExpr *ts_fabs(TsArena *A, TsExpr *a) { return call(A, TE_CALL_FABS, a, NULL); }
TsExpr *ts_floor(TsArena *A, TsExpr *a) { return call(A, TE_CALL_FLOOR, a, NULL); }
TsExpr *ts_ceil(TsArena *A, TsExpr *a) { return call(A, TE_CALL_CEIL, a, NULL); }
TsExpr *ts_pow(TsArena *A, TsExpr *a, TsExpr *b) { return call(A, TE_CALL_POW, a, b); }

/* ---- target intrinsics and bit reinterpretation ---- */

/* An LLVM intrinsic's name: "llvm." and then letters, digits, dots and underscores; or
 * one of codegen's own statements, "tessera." and the same (codegen/dot_block.c). */
static bool intrinsic_name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    size_t p = n > 8 && strncmp(name, "tessera.", 8) == 0 ? 8 : 5;
    if (n <= p || n > 128 || (p == 5 && strncmp(name, "llvm.", 5) != 0))
        return false;
    for (size_t i = p; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_'))
            return false;
    }
    return true;
}

/* Checks what an intrinsic call (expression or statement) is given; the caller copies. */
bool te_intrinsic_args_ok(TsArena *arena, const char *name, int num_args, TsExpr *const *args)
{
    char b[TS_DTYPE_STR_MAX];
    if (!intrinsic_name_ok(name)) {
        ts_arena_fail(arena, TS_EINVAL, "intrinsic call: \"%s\" is not an LLVM intrinsic name "
                      "(llvm.<name>, letters, digits, dots, underscores)", name ? name : "(null)");
        return false;
    }
    if (num_args < 0 || num_args > TE_MAX_INTRINSIC_ARGS || (num_args > 0 && !args)) {
        ts_arena_fail(arena, TS_EINVAL, "intrinsic %s: %d arguments, outside [0, %d]", name,
                      num_args, TE_MAX_INTRINSIC_ARGS);
        return false;
    }
    for (int i = 0; i < num_args; i++) {
        if (!args[i])
            return false;
        if (!ts_dtype_is_valid(args[i]->dtype)) {
            ts_arena_fail(arena, TS_EINVAL, "intrinsic %s: argument %d (%s) has the invalid "
                          "dtype %s", name, i, te_expr_str(arena, args[i]),
                          DT(args[i]->dtype, b));
            return false;
        }
    }
    return true;
}

TsExpr *ts_call_intrinsic(TsArena *arena, const char *name, TsDType dtype, int num_args,
                          TsExpr *const *args)
{
    char b[TS_DTYPE_STR_MAX];
    if (!te_intrinsic_args_ok(arena, name, num_args, args))
        return NULL;
    if (!ts_dtype_is_valid(dtype)) {
        ts_arena_fail(arena, TS_EINVAL, "intrinsic %s: the result dtype %s is invalid", name,
                      DT(dtype, b));
        return NULL;
    }
    TsExpr *e = new_expr(arena, TE_INTRINSIC, dtype);
    TsExpr **copy = ts_arena_alloc(arena, sizeof *copy * (size_t)(num_args ? num_args : 1));
    const char *saved = ts_arena_strdup(arena, name);
    if (!e || !copy || !saved)
        return NULL;
    if (num_args)
        memcpy(copy, args, sizeof *copy * (size_t)num_args);
    e->u.intrinsic.name = saved;
    e->u.intrinsic.num_args = num_args;
    e->u.intrinsic.args = copy;
    return e;
}

TsExpr *ts_reinterpret(TsArena *arena, TsDType dtype, TsExpr *a)
{
    char b1[TS_DTYPE_STR_MAX], b2[TS_DTYPE_STR_MAX];
    if (!a)
        return NULL;
    const char *why = NULL;
    if (!ts_dtype_is_valid(dtype))
        why = "invalid dtype";
    else if (ts_dtype_is_bool(dtype) || ts_dtype_is_bool(a->dtype))
        why = "bool has no bit pattern of its own";
    else if ((int)dtype.bits * dtype.lanes != (int)a->dtype.bits * a->dtype.lanes)
        why = "the total bits (lanes * bits) differ";
    if (why) {
        ts_arena_fail(arena, TS_EINVAL, "reinterpret of %s (%s) as %s: %s",
                      te_expr_str(arena, a), DT(a->dtype, b1), DT(dtype, b2), why);
        return NULL;
    }
    if (ts_dtype_eq(dtype, a->dtype))
        return a;
    TsExpr *e = new_expr(arena, TE_REINTERPRET, dtype);
    if (e)
        e->u.cast.value = a;
    return e;
}

/* ---- tensor access ---- */

TsExpr *ts_access(TsArena *arena, TsTensor *tensor, int num_indices, TsExpr *const *indices)
{
    char b[TS_DTYPE_STR_MAX];
    if (!tensor)
        return NULL;
    if (num_indices != tensor->ndim || (num_indices > 0 && !indices)) {
        ts_arena_fail(arena, TS_EINVAL, "access to %s: %d indices for a %d-dimensional tensor",
                      tensor->name, num_indices, tensor->ndim);
        return NULL;
    }
    for (int i = 0; i < num_indices; i++) {
        TsExpr *ix = indices[i];
        if (!ix)
            return NULL;
        if (ix->dtype.code != TS_TYPE_INT || ix->dtype.lanes != 1 ||
            (ix->dtype.bits != 32 && ix->dtype.bits != 64)) {
            ts_arena_fail(arena, TS_EINVAL, "access to %s: index %d (%s) is %s, not int32 or "
                          "int64", tensor->name, i, te_expr_str(arena, ix), DT(ix->dtype, b));
            return NULL;
        }
        int64_t v, dim;
        if (te_const_int(ix, &v) && te_const_int(tensor->shape[i], &dim) && (v < 0 || v >= dim)) {
            ts_arena_fail(arena, TS_EINVAL, "access to %s: constant index %lld of dimension %d "
                          "is outside [0, %lld)", tensor->name, (long long)v, i, (long long)dim);
            return NULL;
        }
    }
    TsExpr *e = new_expr(arena, TE_ACCESS, tensor->dtype);
    TsExpr **copy = ts_arena_alloc(arena, sizeof *copy * (size_t)(num_indices ? num_indices : 1));
    if (!e || !copy)
        return NULL;
    memcpy(copy, indices, sizeof *copy * (size_t)num_indices);
    e->u.access.tensor = tensor;
    e->u.access.num_indices = num_indices;
    e->u.access.indices = copy;
    return e;
}

/* ---- reductions ---- */

static bool reducer_free_vars_ok(TsArena *arena, const char *name, const TsExpr *e,
                                 const TsExpr *lhs, const TsExpr *rhs);

TsReducer *ts_reducer(TsArena *arena, const char *name, TsExpr *lhs, TsExpr *rhs,
                      TsExpr *combined, TsExpr *identity)
{
    char b1[TS_DTYPE_STR_MAX], b2[TS_DTYPE_STR_MAX];
    if (!lhs || !rhs || !combined || !identity)
        return NULL;
    if (!name || !name[0]) {
        ts_arena_fail(arena, TS_EINVAL, "reducer: the name is empty");
        return NULL;
    }
    if (lhs->kind != TE_VAR || rhs->kind != TE_VAR || lhs == rhs || lhs->u.var.axis ||
        rhs->u.var.axis) {
        ts_arena_fail(arena, TS_EINVAL, "reducer %s: lhs and rhs must be two distinct "
                      "variables made with ts_variable", name);
        return NULL;
    }
    TsDType t = lhs->dtype;
    if (!ts_dtype_eq(t, rhs->dtype) || !ts_dtype_eq(t, combined->dtype) ||
        !ts_dtype_eq(t, identity->dtype)) {
        ts_arena_fail(arena, TS_EINVAL, "reducer %s: lhs, rhs, combined and identity must share "
                      "one dtype (lhs is %s, combined is %s)", name, DT(t, b1),
                      DT(combined->dtype, b2));
        return NULL;
    }
    if (identity->kind != TE_INT && identity->kind != TE_FLOAT) {
        ts_arena_fail(arena, TS_EINVAL, "reducer %s: the identity %s is not a constant", name,
                      te_expr_str(arena, identity));
        return NULL;
    }
    if (!reducer_free_vars_ok(arena, name, combined, lhs, rhs))
        return NULL;
    TsReducer *r = ts_arena_alloc(arena, sizeof *r);
    if (!r)
        return NULL;
    r->kind = TE_REDUCER_CUSTOM;
    r->name = ts_arena_strdup(arena, name);
    r->dtype = t;
    r->lhs = lhs;
    r->rhs = rhs;
    r->combined = combined;
    r->identity = identity;
    return r->name ? r : NULL;
}

/* The combiner may use only lhs, rhs and constants: no axes, tensors or reductions. */
static bool reducer_free_vars_ok(TsArena *arena, const char *name, const TsExpr *e,
                                 const TsExpr *lhs, const TsExpr *rhs)
{
    switch (e->kind) {
    case TE_INT:
    case TE_FLOAT:
        return true;
    case TE_VAR:
        if (e == lhs || e == rhs)
            return true;
        ts_arena_fail(arena, TS_EINVAL, "reducer %s: the combiner uses %s, which is neither "
                      "lhs nor rhs", name, e->u.var.name);
        return false;
    case TE_ACCESS:
    case TE_REDUCE:
    case TE_LOAD:
    case TE_RAMP:
    case TE_BROADCAST:
    case TE_ADDRESS:
        ts_arena_fail(arena, TS_EINVAL, "reducer %s: the combiner may not contain %s", name,
                      te_expr_str(arena, e));
        return false;
    case TE_SELECT:
    case TE_IF_THEN_ELSE:
        return reducer_free_vars_ok(arena, name, e->u.select.cond, lhs, rhs) &&
               reducer_free_vars_ok(arena, name, e->u.select.then_value, lhs, rhs) &&
               reducer_free_vars_ok(arena, name, e->u.select.else_value, lhs, rhs);
    case TE_CAST:
    case TE_REINTERPRET:
        return reducer_free_vars_ok(arena, name, e->u.cast.value, lhs, rhs);
    case TE_INTRINSIC:
        for (int i = 0; i < e->u.intrinsic.num_args; i++)
            if (!reducer_free_vars_ok(arena, name, e->u.intrinsic.args[i], lhs, rhs))
                return false;
        return true;
    case TE_CALL:
        return reducer_free_vars_ok(arena, name, e->u.call.args[0], lhs, rhs) &&
               (!e->u.call.args[1] ||
                reducer_free_vars_ok(arena, name, e->u.call.args[1], lhs, rhs));
    case TE_ADD: case TE_SUB: case TE_MUL: case TE_DIV: case TE_MOD: case TE_FLOORDIV:
    case TE_FLOORMOD: case TE_MIN: case TE_MAX: case TE_EQ: case TE_NE: case TE_LT: case TE_LE:
    case TE_GT: case TE_GE: case TE_AND: case TE_OR: case TE_NOT: case TE_BITAND: case TE_BITOR:
    case TE_BITXOR: case TE_BITNOT: case TE_SHL: case TE_SHR: case TE_POPCOUNT:
        return reducer_free_vars_ok(arena, name, e->u.op.a, lhs, rhs) &&
               (!e->u.op.b || reducer_free_vars_ok(arena, name, e->u.op.b, lhs, rhs));
    case TE_NUM_EXPR_KINDS:
        break;
    }
    return false;
}

static const TsReducer builtin_reducers[] = {
    [TE_REDUCER_SUM] = { TE_REDUCER_SUM, "sum", { 0, 0, 0 }, NULL, NULL, NULL, NULL },
    [TE_REDUCER_PROD] = { TE_REDUCER_PROD, "prod", { 0, 0, 0 }, NULL, NULL, NULL, NULL },
    [TE_REDUCER_MAX] = { TE_REDUCER_MAX, "max", { 0, 0, 0 }, NULL, NULL, NULL, NULL },
    [TE_REDUCER_MIN] = { TE_REDUCER_MIN, "min", { 0, 0, 0 }, NULL, NULL, NULL, NULL },
};

TsExpr *ts_reduce(TsArena *arena, const TsReducer *reducer, TsExpr *source, int num_axes,
                  TsAxis *const *axes, TsExpr *cond)
{
    char b1[TS_DTYPE_STR_MAX], b2[TS_DTYPE_STR_MAX];
    if (!reducer || !source)
        return NULL;
    const char *name = reducer->name;
    if (reducer->kind == TE_REDUCER_CUSTOM && !ts_dtype_eq(reducer->dtype, source->dtype)) {
        ts_arena_fail(arena, TS_EINVAL, "reduction %s: the reducer is %s but the source %s is "
                      "%s", name, DT(reducer->dtype, b1), te_expr_str(arena, source),
                      DT(source->dtype, b2));
        return NULL;
    }
    if (reducer->kind != TE_REDUCER_CUSTOM && !accepts(ACCEPT_ARITH, source->dtype)) {
        ts_arena_fail(arena, TS_EINVAL, "reduction %s needs an integer or float32/float64 "
                      "source, got %s (%s)", name, DT(source->dtype, b1),
                      te_expr_str(arena, source));
        return NULL;
    }
    if (num_axes < 1 || !axes) {
        ts_arena_fail(arena, TS_EINVAL, "reduction %s of %s: no reduce axes", name,
                      te_expr_str(arena, source));
        return NULL;
    }
    for (int i = 0; i < num_axes; i++) {
        if (!axes[i])
            return NULL;
        if (!axes[i]->is_reduce) {
            ts_arena_fail(arena, TS_EINVAL, "reduction %s: axis %s is a data-parallel axis; "
                          "make it with ts_reduce_axis", name, axes[i]->name);
            return NULL;
        }
        for (int j = 0; j < i; j++) {
            if (axes[j] == axes[i]) {
                ts_arena_fail(arena, TS_EINVAL, "reduction %s: reduce axis %s is listed twice",
                              name, axes[i]->name);
                return NULL;
            }
        }
    }
    if (cond && (!ts_dtype_is_bool(cond->dtype) || cond->dtype.lanes != 1)) {
        ts_arena_fail(arena, TS_EINVAL, "reduction %s: the condition %s is %s, not bool", name,
                      te_expr_str(arena, cond), DT(cond->dtype, b1));
        return NULL;
    }
    TsExpr *e = new_expr(arena, TE_REDUCE, source->dtype);
    TsAxis **copy = ts_arena_alloc(arena, sizeof *copy * (size_t)num_axes);
    if (!e || !copy)
        return NULL;
    memcpy(copy, axes, sizeof *copy * (size_t)num_axes);
    e->u.reduce.reducer = reducer;
    e->u.reduce.source = source;
    e->u.reduce.num_axes = num_axes;
    e->u.reduce.axes = copy;
    e->u.reduce.cond = cond;
    return e;
}

TsExpr *ts_sum(TsArena *A, TsExpr *source, int n, TsAxis *const *axes, TsExpr *cond)
{
    return ts_reduce(A, &builtin_reducers[TE_REDUCER_SUM], source, n, axes, cond);
}

TsExpr *ts_prod(TsArena *A, TsExpr *source, int n, TsAxis *const *axes, TsExpr *cond)
{
    return ts_reduce(A, &builtin_reducers[TE_REDUCER_PROD], source, n, axes, cond);
}

TsExpr *ts_reduce_max(TsArena *A, TsExpr *source, int n, TsAxis *const *axes, TsExpr *cond)
{
    return ts_reduce(A, &builtin_reducers[TE_REDUCER_MAX], source, n, axes, cond);
}

TsExpr *ts_reduce_min(TsArena *A, TsExpr *source, int n, TsAxis *const *axes, TsExpr *cond)
{
    return ts_reduce(A, &builtin_reducers[TE_REDUCER_MIN], source, n, axes, cond);
}
