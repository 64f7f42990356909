/* The reference interpreter: evaluates a tensor-expression DAG straight from its
 * definitions, one output element at a time, exactly per the semantics stated in te.h.
 *
 * It is the oracle every schedule, lowering and generated kernel is checked against,
 * so it is written to be obviously right, not fast: a tree walk over the body for each
 * point, integer arithmetic done in uint64 and wrapped to the dtype, float32 arithmetic
 * done in float, every access bounds-checked. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "te_internal.h"

/* A scalar value. Integers and bools are kept canonical (te_wrap_int); floats are
 * doubles already rounded to their dtype. The dtype is the expression's. */
typedef union {
    int64_t i;
    double f;
} Value;

typedef struct {
    const TsTensor *tensor;
    unsigned char *data;
    int64_t strides[TS_MAX_DIMS]; /* in elements */
    bool owned;
} Buffer;

enum { MAX_BOUND_VARS = 64 };

typedef struct {
    const TsExpr *var;
    Value value;
} Binding;

typedef struct {
    TsError *err;
    Buffer *buffers;
    int num_buffers;
    const TsTensor *stage;             /* being evaluated, for messages */
    int64_t point[TS_MAX_DIMS];        /* the output point being evaluated */
    Binding bound[MAX_BOUND_VARS];     /* axis and reducer variables in scope */
    int num_bound;
} Interp;

/* "C[3, 4]": the stage and point being evaluated, for error messages. */
static const char *where(Interp *in, char *buf, size_t size)
{
    int n = snprintf(buf, size, "%s[", in->stage->name);
    for (int i = 0; i < in->stage->ndim && n > 0 && (size_t)n < size; i++)
        n += snprintf(buf + n, size - (size_t)n, "%s%lld", i ? ", " : "",
                      (long long)in->point[i]);
    if (n > 0 && (size_t)n < size)
        snprintf(buf + n, size - (size_t)n, "]");
    return buf;
}

static bool eval_fail(Interp *in, const char *what)
{
    char at[128];
    ts_fail(in->err, TS_EINVAL, "evaluating %s: %s", where(in, at, sizeof at), what);
    return false;
}

/* ---- loads and stores of one element ---- */

static Value load(TsDType t, const unsigned char *p)
{
    Value v = { 0 };
    if (ts_dtype_is_float(t)) {
        if (t.bits == 16) {
            uint16_t h;
            memcpy(&h, p, 2);
            v.f = te_half_to_float(h);
        } else if (t.bits == 32) {
            float f;
            memcpy(&f, p, 4);
            v.f = f;
        } else {
            memcpy(&v.f, p, 8);
        }
        return v;
    }
    uint64_t u = 0;
    switch (t.bits) {
    case 8: { uint8_t x; memcpy(&x, p, 1); u = x; break; }
    case 16: { uint16_t x; memcpy(&x, p, 2); u = x; break; }
    case 32: { uint32_t x; memcpy(&x, p, 4); u = x; break; }
    default: memcpy(&u, p, 8); break;
    }
    v.i = te_wrap_int(t, (int64_t)u);
    return v;
}

static void store(TsDType t, unsigned char *p, Value v)
{
    if (ts_dtype_is_float(t)) {
        if (t.bits == 16) {
            uint16_t h = te_double_to_half(v.f);
            memcpy(p, &h, 2);
        } else if (t.bits == 32) {
            float f = (float)v.f;
            memcpy(p, &f, 4);
        } else {
            memcpy(p, &v.f, 8);
        }
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

/* ---- arithmetic ---- */

static bool is_f32(TsDType t) { return ts_dtype_is_float(t) && t.bits == 32; }

static bool int_less(TsDType t, int64_t a, int64_t b)
{
    return ts_dtype_is_uint(t) ? (uint64_t)a < (uint64_t)b : a < b;
}

/* Integer division and remainder, truncating toward zero, for canonical operands. */
static void int_divmod(TsDType t, int64_t a, int64_t b, int64_t *q, int64_t *r)
{
    if (ts_dtype_is_uint(t)) {
        *q = (int64_t)((uint64_t)a / (uint64_t)b);
        *r = (int64_t)((uint64_t)a % (uint64_t)b);
    } else if (a == INT64_MIN && b == -1) {
        *q = INT64_MIN; /* wraps, as stated */
        *r = 0;
    } else {
        *q = a / b;
        *r = a % b;
    }
}

static bool float_binary(TeExprKind kind, TsDType t, double a, double b, Value *out)
{
    bool f32 = is_f32(t);
    float fa = (float)a, fb = (float)b;
    switch (kind) {
    case TE_ADD: out->f = f32 ? (double)(fa + fb) : a + b; return true;
    case TE_SUB: out->f = f32 ? (double)(fa - fb) : a - b; return true;
    case TE_MUL: out->f = f32 ? (double)(fa * fb) : a * b; return true;
    case TE_DIV: out->f = f32 ? (double)(fa / fb) : a / b; return true;
    case TE_MIN: out->f = fmin(a, b); return true;
    case TE_MAX: out->f = fmax(a, b); return true;
    case TE_EQ: out->i = a == b; return true;
    case TE_NE: out->i = a != b; return true;
    case TE_LT: out->i = a < b; return true;
    case TE_LE: out->i = a <= b; return true;
    case TE_GT: out->i = a > b; return true;
    case TE_GE: out->i = a >= b; return true;
    default: return false;
    }
}

/* Applies a binary operator to canonical values of dtype t (the operands'). */
static bool binary_op(Interp *in, TeExprKind kind, TsDType t, Value a, Value b, Value *out)
{
    if (ts_dtype_is_float(t)) {
        if (!float_binary(kind, t, a.f, b.f, out))
            return eval_fail(in, "operator not defined on floats");
        return true;
    }
    uint64_t ua = (uint64_t)a.i, ub = (uint64_t)b.i;
    int64_t q, r, raw;
    switch (kind) {
    case TE_ADD: raw = (int64_t)(ua + ub); break;
    case TE_SUB: raw = (int64_t)(ua - ub); break;
    case TE_MUL: raw = (int64_t)(ua * ub); break;
    case TE_DIV: case TE_MOD: case TE_FLOORDIV: case TE_FLOORMOD:
        if (b.i == 0)
            return eval_fail(in, "integer division by zero");
        int_divmod(t, a.i, b.i, &q, &r);
        if (kind == TE_FLOORDIV && !ts_dtype_is_uint(t) && r != 0 && ((r < 0) != (b.i < 0)))
            q -= 1;
        if (kind == TE_FLOORMOD && !ts_dtype_is_uint(t) && r != 0 && ((r < 0) != (b.i < 0)))
            r += b.i;
        raw = kind == TE_DIV || kind == TE_FLOORDIV ? q : r;
        break;
    case TE_MIN: raw = int_less(t, b.i, a.i) ? b.i : a.i; break;
    case TE_MAX: raw = int_less(t, a.i, b.i) ? b.i : a.i; break;
    case TE_EQ: out->i = a.i == b.i; return true;
    case TE_NE: out->i = a.i != b.i; return true;
    case TE_LT: out->i = int_less(t, a.i, b.i); return true;
    case TE_LE: out->i = !int_less(t, b.i, a.i); return true;
    case TE_GT: out->i = int_less(t, b.i, a.i); return true;
    case TE_GE: out->i = !int_less(t, a.i, b.i); return true;
    case TE_AND: out->i = a.i && b.i; return true;
    case TE_OR: out->i = a.i || b.i; return true;
    case TE_BITAND: raw = (int64_t)(ua & ub); break;
    case TE_BITOR: raw = (int64_t)(ua | ub); break;
    case TE_BITXOR: raw = (int64_t)(ua ^ ub); break;
    case TE_SHL: case TE_SHR: {
        bool negative = !ts_dtype_is_uint(t) && b.i < 0;
        if (negative || (uint64_t)b.i >= t.bits) {
            char msg[96];
            snprintf(msg, sizeof msg, "shift by %lld is outside [0, %u)",
                     (long long)b.i, t.bits);
            return eval_fail(in, msg);
        }
        if (kind == TE_SHL)
            raw = (int64_t)(ua << b.i);
        else if (ts_dtype_is_uint(t) || a.i >= 0)
            raw = (int64_t)(ua >> b.i);
        else
            raw = (int64_t)~(~ua >> b.i); /* arithmetic shift of a negative value */
        break;
    }
    default:
        return eval_fail(in, "operator not defined on integers");
    }
    out->i = te_wrap_int(t, raw);
    return true;
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

static Value cast_value(TsDType from, TsDType to, Value v)
{
    Value out = { 0 };
    if (ts_dtype_is_bool(to)) {
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

/* ---- evaluating expressions ---- */

static Buffer *find_buffer(Interp *in, const TsTensor *t)
{
    for (int i = 0; i < in->num_buffers; i++)
        if (in->buffers[i].tensor == t)
            return &in->buffers[i];
    return NULL;
}

static bool eval(Interp *in, const TsExpr *e, Value *out);

static bool eval_access(Interp *in, const TsExpr *e, Value *out)
{
    const TsTensor *t = e->u.access.tensor;
    Buffer *buf = find_buffer(in, t);
    if (!buf || !buf->data) {
        char msg[160];
        snprintf(msg, sizeof msg, "tensor %s has no data (it is not bound, or not computed "
                 "before this stage)", t->name);
        return eval_fail(in, msg);
    }
    int64_t offset = 0;
    for (int i = 0; i < e->u.access.num_indices; i++) {
        Value ix;
        if (!eval(in, e->u.access.indices[i], &ix))
            return false;
        int64_t dim = ts_tensor_dim(t, i);
        if (ix.i < 0 || ix.i >= dim) {
            char msg[200];
            snprintf(msg, sizeof msg, "index %lld of dimension %d of %s is outside [0, %lld)",
                     (long long)ix.i, i, t->name, (long long)dim);
            return eval_fail(in, msg);
        }
        offset += ix.i * buf->strides[i];
    }
    *out = load(t->dtype, buf->data + (size_t)offset * ts_dtype_bytes(t->dtype));
    return true;
}

static bool lookup(Interp *in, const TsExpr *var, Value *out)
{
    for (int i = in->num_bound - 1; i >= 0; i--) {
        if (in->bound[i].var == var) {
            *out = in->bound[i].value;
            return true;
        }
    }
    char msg[128];
    snprintf(msg, sizeof msg, "variable %s has no value here", var->u.var.name);
    return eval_fail(in, msg);
}

static bool eval(Interp *in, const TsExpr *e, Value *out)
{
    Value a, b, c;
    switch (e->kind) {
    case TE_INT:
        out->i = e->u.int_value;
        return true;
    case TE_FLOAT:
        out->f = e->u.float_value;
        return true;
    case TE_VAR:
        return lookup(in, e, out);
    case TE_ADD: case TE_SUB: case TE_MUL: case TE_DIV: case TE_MOD: case TE_FLOORDIV:
    case TE_FLOORMOD: case TE_MIN: case TE_MAX: case TE_EQ: case TE_NE: case TE_LT: case TE_LE:
    case TE_GT: case TE_GE: case TE_AND: case TE_OR: case TE_BITAND: case TE_BITOR:
    case TE_BITXOR: case TE_SHL: case TE_SHR:
        return eval(in, e->u.op.a, &a) && eval(in, e->u.op.b, &b) &&
               binary_op(in, e->kind, e->u.op.a->dtype, a, b, out);
    case TE_NOT:
        if (!eval(in, e->u.op.a, &a))
            return false;
        out->i = !a.i;
        return true;
    case TE_BITNOT:
        if (!eval(in, e->u.op.a, &a))
            return false;
        out->i = te_wrap_int(e->dtype, (int64_t)~(uint64_t)a.i);
        return true;
    case TE_POPCOUNT: {
        if (!eval(in, e->u.op.a, &a))
            return false;
        uint64_t bits = (uint64_t)a.i;
        if (e->dtype.bits < 64)
            bits &= (UINT64_C(1) << e->dtype.bits) - 1;
        int64_t count = 0;
        for (; bits; bits >>= 1)
            count += (int64_t)(bits & 1);
        out->i = count;
        return true;
    }
    case TE_SELECT:
        if (!eval(in, e->u.select.cond, &c) || !eval(in, e->u.select.then_value, &a) ||
            !eval(in, e->u.select.else_value, &b))
            return false;
        *out = c.i ? a : b;
        return true;
    case TE_IF_THEN_ELSE:
        if (!eval(in, e->u.select.cond, &c))
            return false;
        return eval(in, c.i ? e->u.select.then_value : e->u.select.else_value, out);
    case TE_CAST:
        if (!eval(in, e->u.cast.value, &a))
            return false;
        *out = cast_value(e->u.cast.value->dtype, e->dtype, a);
        return true;
    case TE_CALL: {
        const TsExpr *arg1 = e->u.call.args[1];
        if (!eval(in, e->u.call.args[0], &a) || (arg1 && !eval(in, arg1, &b)))
            return false;
        if (!arg1)
            b.f = 0.0;
        if (is_f32(e->dtype))
            out->f = call_f32(e->u.call.fn, (float)a.f, (float)b.f);
        else
            out->f = call_f64(e->u.call.fn, a.f, b.f);
        return true;
    }
    case TE_ACCESS:
        return eval_access(in, e, out);
    case TE_REDUCE:
        return eval_fail(in, "a reduction nested inside an expression (construction should "
                             "have refused it)");
    case TE_LOAD:
    case TE_RAMP:
    case TE_BROADCAST:
        return eval_fail(in, "a loop-nest node in a tensor expression");
    case TE_NUM_EXPR_KINDS:
        break;
    }
    return eval_fail(in, "unknown expression kind");
}

/* ---- reductions ---- */

static bool push_binding(Interp *in, const TsExpr *var, Value v)
{
    if (in->num_bound == MAX_BOUND_VARS)
        return eval_fail(in, "too many nested variables");
    in->bound[in->num_bound].var = var;
    in->bound[in->num_bound].value = v;
    in->num_bound++;
    return true;
}

static Value reducer_identity(const TsReducer *r, TsDType t)
{
    Value v = { 0 };
    bool is_float = ts_dtype_is_float(t);
    switch (r->kind) {
    case TE_REDUCER_SUM:
        break;
    case TE_REDUCER_PROD:
        if (is_float)
            v.f = 1.0;
        else
            v.i = 1;
        break;
    case TE_REDUCER_MAX: /* the lowest value of t */
        if (is_float)
            v.f = -INFINITY;
        else
            v.i = ts_dtype_is_uint(t) ? 0 : te_wrap_int(t, (int64_t)(UINT64_C(1) << (t.bits - 1)));
        break;
    case TE_REDUCER_MIN: /* the highest value of t */
        if (is_float)
            v.f = INFINITY;
        else
            v.i = ts_dtype_is_uint(t) ? te_wrap_int(t, -1)
                                      : (int64_t)((UINT64_C(1) << (t.bits - 1)) - 1);
        break;
    case TE_REDUCER_CUSTOM:
        if (is_float)
            v.f = r->identity->u.float_value;
        else
            v.i = r->identity->u.int_value;
        break;
    }
    return v;
}

static bool combine(Interp *in, const TsReducer *r, TsDType t, Value acc, Value x, Value *out)
{
    switch (r->kind) {
    case TE_REDUCER_SUM: return binary_op(in, TE_ADD, t, acc, x, out);
    case TE_REDUCER_PROD: return binary_op(in, TE_MUL, t, acc, x, out);
    case TE_REDUCER_MAX: return binary_op(in, TE_MAX, t, acc, x, out);
    case TE_REDUCER_MIN: return binary_op(in, TE_MIN, t, acc, x, out);
    case TE_REDUCER_CUSTOM: {
        int mark = in->num_bound;
        bool ok = push_binding(in, r->lhs, acc) && push_binding(in, r->rhs, x) &&
                  eval(in, r->combined, out);
        in->num_bound = mark;
        return ok;
    }
    }
    return false;
}

/* Visits every point of the reduce axes (row-major, first axis outermost). */
static bool eval_reduce(Interp *in, const TsExpr *e, Value *out)
{
    const TsReducer *r = e->u.reduce.reducer;
    int n = e->u.reduce.num_axes;
    int mark = in->num_bound;
    Value acc = reducer_identity(r, e->dtype);
    for (int i = 0; i < n; i++)
        if (!push_binding(in, e->u.reduce.axes[i]->var, (Value){ .i = 0 }))
            return false;
    for (;;) {
        Value cond = { .i = 1 }, x;
        if (e->u.reduce.cond && !eval(in, e->u.reduce.cond, &cond))
            return false;
        if (cond.i) {
            if (!eval(in, e->u.reduce.source, &x) || !combine(in, r, e->dtype, acc, x, &acc))
                return false;
        }
        /* Advance the odometer: the last axis fastest. */
        int k = n - 1;
        for (; k >= 0; k--) {
            Binding *b = &in->bound[mark + k];
            if (++b->value.i < ts_axis_extent(e->u.reduce.axes[k]))
                break;
            b->value.i = 0;
        }
        if (k < 0)
            break;
    }
    in->num_bound = mark;
    *out = acc;
    return true;
}

/* ---- stages ---- */

static bool eval_stage(Interp *in, const TsTensor *t, Buffer *buf)
{
    in->stage = t;
    in->num_bound = 0;
    for (int i = 0; i < t->ndim; i++) {
        in->point[i] = 0;
        if (!push_binding(in, t->axes[i]->var, (Value){ .i = 0 }))
            return false;
    }
    size_t elem = ts_dtype_bytes(t->dtype);
    for (int64_t flat = 0;; flat++) {
        Value v;
        bool ok = t->body->kind == TE_REDUCE ? eval_reduce(in, t->body, &v)
                                             : eval(in, t->body, &v);
        if (!ok)
            return false;
        store(t->dtype, buf->data + (size_t)flat * elem, v);
        int k = t->ndim - 1;
        for (; k >= 0; k--) {
            if (++in->point[k] < ts_tensor_dim(t, k))
                break;
            in->point[k] = 0;
        }
        if (k < 0)
            break;
        for (int i = 0; i < t->ndim; i++)
            in->bound[i].value.i = in->point[i];
    }
    return true;
}

static void set_strides(Buffer *buf)
{
    int64_t stride = 1;
    for (int i = buf->tensor->ndim - 1; i >= 0; i--) {
        buf->strides[i] = stride;
        stride *= ts_tensor_dim(buf->tensor, i);
    }
}

/* Matches the caller's bindings to the DAG's stages; every placeholder and output must
 * be bound, and nothing may be bound twice or be foreign to the DAG. */
static TsStatus bind_buffers(Interp *in, TsTensor **stages, int num_stages, int num_outputs,
                             TsTensor *const *outputs, int num_bindings,
                             const TsBinding *bindings)
{
    for (int b = 0; b < num_bindings; b++) {
        const TsTensor *t = bindings[b].tensor;
        if (!t || !bindings[b].data)
            return ts_fail(in->err, TS_EINVAL, "evaluate: binding %d has a NULL %s", b,
                           t ? "data pointer" : "tensor");
        Buffer *buf = find_buffer(in, t);
        if (!buf)
            return ts_fail(in->err, TS_EINVAL, "evaluate: tensor %s is bound but is not part of "
                           "the DAG of the outputs", t->name);
        if (buf->data)
            return ts_fail(in->err, TS_EINVAL, "evaluate: tensor %s is bound twice", t->name);
        buf->data = bindings[b].data;
    }
    for (int i = 0; i < num_stages; i++) {
        Buffer *buf = &in->buffers[i];
        if (buf->data)
            continue;
        if (stages[i]->op == TE_OP_PLACEHOLDER)
            return ts_fail(in->err, TS_EINVAL, "evaluate: placeholder %s is not bound",
                           stages[i]->name);
        for (int o = 0; o < num_outputs; o++)
            if (outputs[o] == stages[i])
                return ts_fail(in->err, TS_EINVAL, "evaluate: output %s is not bound",
                               stages[i]->name);
        int64_t n = ts_tensor_num_elements(stages[i]);
        if (n < 0)
            return ts_fail(in->err, TS_EINVAL, "evaluate: %s has a shape that is not constant",
                           stages[i]->name);
        buf->data = calloc((size_t)n, ts_dtype_bytes(stages[i]->dtype));
        if (!buf->data)
            return ts_fail(in->err, TS_ENOMEM, "evaluate: no memory for %lld elements of %s",
                           (long long)n, stages[i]->name);
        buf->owned = true;
    }
    return TS_OK;
}

TsStatus ts_evaluate(int num_outputs, TsTensor *const *outputs, int num_bindings,
                     const TsBinding *bindings, TsError *err)
{
    TsStatus status;
    if (num_bindings < 0 || (num_bindings > 0 && !bindings))
        return ts_fail(err, TS_EINVAL, "evaluate: %d bindings but no array", num_bindings);
    TsArena *scratch = ts_arena_create();
    if (!scratch)
        return ts_fail(err, TS_ENOMEM, "evaluate: out of memory");
    TsTensor **stages;
    int num_stages = ts_dag_stages(scratch, num_outputs, outputs, &stages);
    if (num_stages < 0) {
        status = ts_arena_check(scratch, err);
        goto out_free_arena;
    }
    Interp in = { .err = err, .num_buffers = num_stages };
    in.buffers = calloc((size_t)num_stages, sizeof *in.buffers);
    if (!in.buffers) {
        status = ts_fail(err, TS_ENOMEM, "evaluate: out of memory");
        goto out_free_arena;
    }
    for (int i = 0; i < num_stages; i++) {
        in.buffers[i].tensor = stages[i];
        set_strides(&in.buffers[i]);
    }
    status = bind_buffers(&in, stages, num_stages, num_outputs, outputs, num_bindings, bindings);
    for (int i = 0; i < num_stages && status == TS_OK; i++)
        if (stages[i]->op == TE_OP_COMPUTE && !eval_stage(&in, stages[i], &in.buffers[i]))
            status = err ? err->status : TS_EINVAL;
    for (int i = 0; i < num_stages; i++)
        if (in.buffers[i].owned)
            free(in.buffers[i].data);
    free(in.buffers);
out_free_arena:
    ts_arena_destroy(scratch);
    return status;
}
