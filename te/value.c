/* Scalar semantics of the IR, stated once in te.h and implemented once here: integer
 * wrap-around done in uint64 and wrapped to the dtype, truncating and floor division,
 * shift range errors, float32 rounding after every operation, saturating float to
 * integer casts, float16 and bfloat16 storage, NaN rules of min and max, popcount and math calls.
 *
 * Both interpreters (interp.c for tensor expressions, loop_interp.c for loop nests, lane
 * by lane) call these, so a lowering checked against one oracle and a kernel checked
 * against the other see the same arithmetic. Errors come back as a status with a reason
 * that does not say where; the interpreters add the stage, statement and point. */
#include <math.h>
#include <string.h>

#include "value.h"

/* ---- loads and stores of one element ---- */

static TeValue load_float(TsDType t, const void *p)
{
    TeValue v = { 0 };
    if (t.bits == 16) {
        uint16_t h;
        memcpy(&h, p, 2);
        v.f = ts_dtype_is_bfloat(t) ? ts_bfloat16_to_float(h) : te_half_to_float(h);
    } else if (t.bits == 32) {
        float f;
        memcpy(&f, p, 4);
        v.f = f;
    } else {
        memcpy(&v.f, p, 8);
    }
    return v;
}

TeValue te_value_load(TsDType t, const void *p)
{
    if (ts_dtype_is_float(t))
        return load_float(t, p);
    uint64_t u = 0;
    switch (t.bits) {
    case 8: { uint8_t x; memcpy(&x, p, 1); u = x; break; }
    case 16: { uint16_t x; memcpy(&x, p, 2); u = x; break; }
    case 32: { uint32_t x; memcpy(&x, p, 4); u = x; break; }
    default: memcpy(&u, p, 8); break;
    }
    TeValue v = { .i = te_wrap_int(t, (int64_t)u) };
    return v;
}

static void store_float(TsDType t, void *p, TeValue v)
{
    if (t.bits == 16) {
        /* A value of a bfloat16 expression is already a bfloat16, so (float) is exact. */
        uint16_t h = ts_dtype_is_bfloat(t) ? ts_float_to_bfloat16((float)v.f)
                                           : te_double_to_half(v.f);
        memcpy(p, &h, 2);
    } else if (t.bits == 32) {
        float f = (float)v.f;
        memcpy(p, &f, 4);
    } else {
        memcpy(p, &v.f, 8);
    }
}

void te_value_store(TsDType t, void *p, TeValue v)
{
    if (ts_dtype_is_float(t)) {
        store_float(t, p, v);
        return;
    }
    uint64_t u = (uint64_t)v.i;
    switch (t.bits) {
    case 8: { uint8_t x = (uint8_t)u; memcpy(p, &x, 1); break; }
    case 16: { uint16_t x = (uint16_t)u; memcpy(p, &x, 2); break; }
    case 32: { uint32_t x = (uint32_t)u; memcpy(p, &x, 4); break; }
    default: memcpy(p, &u, 8); break;
    }
}

/* ---- binary operators ---- */

static bool is_f32(TsDType t) { return ts_dtype_is_float(t) && t.bits == 32; }

/* One float operation in t's precision: float32 is computed in float, so it rounds to
 * float32 after the operation and never contracts. */
static double float_arith(TeExprKind kind, bool f32, double a, double b)
{
    if (f32) {
        float fa = (float)a, fb = (float)b;
        return kind == TE_ADD ? (double)(fa + fb) : kind == TE_SUB ? (double)(fa - fb)
               : kind == TE_MUL ? (double)(fa * fb) : (double)(fa / fb);
    }
    return kind == TE_ADD ? a + b : kind == TE_SUB ? a - b : kind == TE_MUL ? a * b : a / b;
}

static TsStatus float_binary(TeExprKind kind, TsDType t, double a, double b, TeValue *out,
                             TsError *why)
{
    switch (kind) {
    case TE_ADD: case TE_SUB: case TE_MUL: case TE_DIV:
        out->f = float_arith(kind, is_f32(t), a, b);
        return TS_OK;
    case TE_MIN: out->f = fmin(a, b); return TS_OK; /* fmin/fmax skip a NaN operand */
    case TE_MAX: out->f = fmax(a, b); return TS_OK;
    case TE_EQ: out->i = a == b; return TS_OK;
    case TE_NE: out->i = a != b; return TS_OK;
    case TE_LT: out->i = a < b; return TS_OK;
    case TE_LE: out->i = a <= b; return TS_OK;
    case TE_GT: out->i = a > b; return TS_OK;
    case TE_GE: out->i = a >= b; return TS_OK;
    case TE_INT: case TE_FLOAT: case TE_VAR: case TE_MOD: case TE_FLOORDIV: case TE_FLOORMOD:
    case TE_AND: case TE_OR: case TE_NOT: case TE_BITAND: case TE_BITOR: case TE_BITXOR:
    case TE_BITNOT: case TE_SHL: case TE_SHR: case TE_POPCOUNT: case TE_SELECT:
    case TE_IF_THEN_ELSE: case TE_CAST: case TE_CALL: case TE_ACCESS: case TE_REDUCE:
    case TE_LOAD: case TE_RAMP: case TE_BROADCAST: case TE_REINTERPRET: case TE_INTRINSIC:
    case TE_ADDRESS: case TE_NUM_EXPR_KINDS:
        break;
    }
    return ts_fail(why, TS_EINVAL, "operator not defined on floats");
}

static bool int_less(TsDType t, int64_t a, int64_t b)
{
    return ts_dtype_is_uint(t) ? (uint64_t)a < (uint64_t)b : a < b;
}

/* DIV, MOD, FLOORDIV or FLOORMOD of canonical operands, b != 0; the result unwrapped. */
static int64_t int_divide(TeExprKind kind, TsDType t, int64_t a, int64_t b)
{
    int64_t q, r;
    if (ts_dtype_is_uint(t)) {
        q = (int64_t)((uint64_t)a / (uint64_t)b);
        r = (int64_t)((uint64_t)a % (uint64_t)b);
    } else if (a == INT64_MIN && b == -1) {
        q = INT64_MIN; /* wraps, as stated */
        r = 0;
    } else {
        q = a / b;
        r = a % b;
    }
    /* Floor division: when the remainder and the divisor differ in sign, step down. */
    bool adjust = !ts_dtype_is_uint(t) && r != 0 && ((r < 0) != (b < 0));
    if (kind == TE_FLOORDIV && adjust)
        q -= 1;
    if (kind == TE_FLOORMOD && adjust)
        r += b;
    return kind == TE_DIV || kind == TE_FLOORDIV ? q : r;
}

/* SHL or SHR; a shift by a negative amount or by the width or more is an error. */
static TsStatus int_shift(TeExprKind kind, TsDType t, int64_t a, int64_t b, TeValue *out,
                          TsError *why)
{
    bool negative = !ts_dtype_is_uint(t) && b < 0;
    if (negative || (uint64_t)b >= t.bits)
        return ts_fail(why, TS_EINVAL, "shift by %lld is outside [0, %u)", (long long)b,
                       t.bits);
    uint64_t ua = (uint64_t)a;
    int64_t raw;
    if (kind == TE_SHL)
        raw = (int64_t)(ua << b);
    else if (ts_dtype_is_uint(t) || a >= 0)
        raw = (int64_t)(ua >> b);
    else
        raw = (int64_t)~(~ua >> b); /* arithmetic shift of a negative value */
    out->i = te_wrap_int(t, raw);
    return TS_OK;
}

static TsStatus int_binary(TeExprKind kind, TsDType t, int64_t a, int64_t b, TeValue *out,
                           TsError *why)
{
    uint64_t ua = (uint64_t)a, ub = (uint64_t)b;
    int64_t raw = 0;
    switch (kind) {
    case TE_ADD: raw = (int64_t)(ua + ub); break;
    case TE_SUB: raw = (int64_t)(ua - ub); break;
    case TE_MUL: raw = (int64_t)(ua * ub); break;
    case TE_DIV: case TE_MOD: case TE_FLOORDIV: case TE_FLOORMOD:
        if (b == 0)
            return ts_fail(why, TS_EINVAL, "integer division by zero");
        raw = int_divide(kind, t, a, b);
        break;
    case TE_MIN: raw = int_less(t, b, a) ? b : a; break;
    case TE_MAX: raw = int_less(t, a, b) ? b : a; break;
    case TE_EQ: out->i = a == b; return TS_OK;
    case TE_NE: out->i = a != b; return TS_OK;
    case TE_LT: out->i = int_less(t, a, b); return TS_OK;
    case TE_LE: out->i = !int_less(t, b, a); return TS_OK;
    case TE_GT: out->i = int_less(t, b, a); return TS_OK;
    case TE_GE: out->i = !int_less(t, a, b); return TS_OK;
    case TE_AND: out->i = a && b; return TS_OK;
    case TE_OR: out->i = a || b; return TS_OK;
    case TE_BITAND: raw = (int64_t)(ua & ub); break;
    case TE_BITOR: raw = (int64_t)(ua | ub); break;
    case TE_BITXOR: raw = (int64_t)(ua ^ ub); break;
    case TE_SHL: case TE_SHR:
        return int_shift(kind, t, a, b, out, why);
    case TE_INT: case TE_FLOAT: case TE_VAR: case TE_NOT: case TE_BITNOT: case TE_POPCOUNT:
    case TE_SELECT: case TE_IF_THEN_ELSE: case TE_CAST: case TE_CALL: case TE_ACCESS:
    case TE_REDUCE: case TE_LOAD: case TE_RAMP: case TE_BROADCAST: case TE_REINTERPRET:
    case TE_INTRINSIC: case TE_ADDRESS: case TE_NUM_EXPR_KINDS:
        return ts_fail(why, TS_EINVAL, "operator not defined on integers");
    }
    out->i = te_wrap_int(t, raw);
    return TS_OK;
}

TsStatus te_value_binary(TeExprKind kind, TsDType t, TeValue a, TeValue b, TeValue *out,
                         TsError *why)
{
    if (ts_dtype_is_float(t))
        return float_binary(kind, t, a.f, b.f, out, why);
    return int_binary(kind, t, a.i, b.i, out, why);
}

/* ---- unary operators, casts and calls ---- */

static int64_t popcount(TsDType t, int64_t a)
{
    uint64_t bits = (uint64_t)a;
    if (t.bits < 64)
        bits &= (UINT64_C(1) << t.bits) - 1;
    int64_t count = 0;
    for (; bits; bits >>= 1)
        count += (int64_t)(bits & 1);
    return count;
}

TsStatus te_value_unary(TeExprKind kind, TsDType t, TeValue a, TeValue *out, TsError *why)
{
    switch (kind) {
    case TE_NOT: out->i = !a.i; return TS_OK;
    case TE_BITNOT: out->i = te_wrap_int(t, (int64_t)~(uint64_t)a.i); return TS_OK;
    case TE_POPCOUNT: out->i = popcount(t, a.i); return TS_OK;
    case TE_INT: case TE_FLOAT: case TE_VAR: case TE_ADD: case TE_SUB: case TE_MUL:
    case TE_DIV: case TE_MOD: case TE_FLOORDIV: case TE_FLOORMOD: case TE_MIN: case TE_MAX:
    case TE_EQ: case TE_NE: case TE_LT: case TE_LE: case TE_GT: case TE_GE: case TE_AND:
    case TE_OR: case TE_BITAND: case TE_BITOR: case TE_BITXOR: case TE_SHL: case TE_SHR:
    case TE_SELECT: case TE_IF_THEN_ELSE: case TE_CAST: case TE_CALL: case TE_ACCESS:
    case TE_REDUCE: case TE_LOAD: case TE_RAMP: case TE_BROADCAST: case TE_REINTERPRET:
    case TE_INTRINSIC: case TE_ADDRESS: case TE_NUM_EXPR_KINDS:
        break;
    }
    return ts_fail(why, TS_EINVAL, "'%s' is not a unary operator", te_expr_kind_name(kind));
}

/* Float to integer: toward zero, saturating, NaN to 0. */
static int64_t float_to_int(TsDType to, double v)
{
    if (isnan(v))
        return 0;
    if (ts_dtype_is_uint(to)) {
        double limit = ldexp(1.0, to.bits); /* 2^bits, exact */
        if (v <= -1.0)
            return 0;
        if (v >= limit)
            return te_wrap_int(to, -1); /* all ones */
        return te_wrap_int(to, (int64_t)(uint64_t)v);
    }
    double limit = ldexp(1.0, to.bits - 1);
    if (v >= limit)
        return (int64_t)((UINT64_C(1) << (to.bits - 1)) - 1);
    if (v < -limit)
        return te_wrap_int(to, (int64_t)(UINT64_C(1) << (to.bits - 1)));
    return (int64_t)v;
}

TeValue te_value_cast(TsDType from, TsDType to, TeValue v)
{
    TeValue out = { 0 };
    if (ts_dtype_is_bfloat(to)) { /* through float32, as the hardware converts */
        out = ts_dtype_is_float(from) && from.bits == 32 ? v : te_value_cast(from, TS_FLOAT32, v);
        out.f = te_round_float(to, out.f);
    } else if (ts_dtype_is_bool(to)) {
        out.i = ts_dtype_is_float(from) ? v.f != 0.0 : v.i != 0;
    } else if (ts_dtype_is_int(to)) {
        out.i = ts_dtype_is_float(from) ? float_to_int(to, v.f) : te_wrap_int(to, v.i);
    } else if (ts_dtype_is_float(from)) {
        out.f = te_round_float(to, v.f);
    } else if (to.bits == 32) {
        /* One rounding, straight from the integer. */
        out.f = ts_dtype_is_uint(from) ? (double)(float)(uint64_t)v.i : (double)(float)v.i;
    } else {
        double d = ts_dtype_is_uint(from) ? (double)(uint64_t)v.i : (double)v.i;
        out.f = te_round_float(to, d);
    }
    return out;
}

void te_value_reinterpret(TsDType from, const TeValue *in, TsDType to, TeValue *out)
{
    unsigned char bytes[1024 * 8]; /* the most bits a dtype holds: 1024 lanes of 64 */
    size_t from_bytes = from.bits / 8, to_bytes = to.bits / 8;
    for (int k = 0; k < from.lanes; k++)
        te_value_store(from, bytes + (size_t)k * from_bytes, in[k]);
    for (int k = 0; k < to.lanes; k++)
        out[k] = te_value_load(to, bytes + (size_t)k * to_bytes);
}

static double call_f64(TeCallKind fn, double a, double b)
{
    switch (fn) {
    case TE_CALL_EXP: return exp(a);
    case TE_CALL_LOG: return log(a);
    case TE_CALL_SQRT: return sqrt(a);
    case TE_CALL_TANH: return tanh(a);
    case TE_CALL_SIGMOID: return 1.0 / (1.0 + exp(-a));
    case TE_CALL_FABS: return fabs(a);
    case TE_CALL_FLOOR: return floor(a);
    case TE_CALL_CEIL: return ceil(a);
    case TE_CALL_POW: return pow(a, b);
    case TE_NUM_CALL_KINDS: break;
    }
    return NAN;
}

static float call_f32(TeCallKind fn, float a, float b)
{
    switch (fn) {
    case TE_CALL_EXP: return expf(a);
    case TE_CALL_LOG: return logf(a);
    case TE_CALL_SQRT: return sqrtf(a);
    case TE_CALL_TANH: return tanhf(a);
    case TE_CALL_SIGMOID: return 1.0f / (1.0f + expf(-a));
    case TE_CALL_FABS: return fabsf(a);
    case TE_CALL_FLOOR: return floorf(a);
    case TE_CALL_CEIL: return ceilf(a);
    case TE_CALL_POW: return powf(a, b);
    case TE_NUM_CALL_KINDS: break;
    }
    return NAN;
}

TeValue te_value_call(TeCallKind fn, TsDType t, TeValue a, TeValue b)
{
    double second = te_call_arity(fn) == 2 ? b.f : 0.0;
    TeValue out;
    if (is_f32(t))
        out.f = call_f32(fn, (float)a.f, (float)second);
    else
        out.f = call_f64(fn, a.f, second);
    return out;
}
