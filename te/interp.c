/* The reference interpreter: evaluates a tensor-expression DAG straight from its
 * definitions, one output element at a time, exactly per the semantics stated in te.h.
 *
 * It is the oracle every schedule, lowering and generated kernel is checked against,
 * so it is written to be obviously right, not fast: a tree walk over the body for each
 * point, every access bounds-checked. The arithmetic of each operator is value.c's,
 * shared with the loop-nest interpreter (loop_interp.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "te_internal.h"
#include "value.h"

typedef struct {
    const TsTensor *tensor;
    unsigned char *data;
    int64_t strides[TS_MAX_DIMS]; /* in elements */
    bool owned;
} Buffer;

enum { MAX_BOUND_VARS = 64 };

typedef struct {
    const TsExpr *var;
    TeValue value;
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

/* Applies a binary operator to canonical values of dtype t (the operands'), putting an
 * evaluation error (division by zero, a shift out of range) in context. */
static bool binary_op(Interp *in, TeExprKind kind, TsDType t, TeValue a, TeValue b, TeValue *out)
{
    TsError why;
    if (te_value_binary(kind, t, a, b, out, &why) != TS_OK)
        return eval_fail(in, why.message);
    return true;
}

static bool unary_op(Interp *in, TeExprKind kind, TsDType t, TeValue a, TeValue *out)
{
    TsError why;
    if (te_value_unary(kind, t, a, out, &why) != TS_OK)
        return eval_fail(in, why.message);
    return true;
}

/* ---- evaluating expressions ---- */

static Buffer *find_buffer(Interp *in, const TsTensor *t)
{
    for (int i = 0; i < in->num_buffers; i++)
        if (in->buffers[i].tensor == t)
            return &in->buffers[i];
    return NULL;
}

static bool eval(Interp *in, const TsExpr *e, TeValue *out);

static bool eval_access(Interp *in, const TsExpr *e, TeValue *out)
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
        TeValue ix;
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
    *out = te_value_load(t->dtype, buf->data + (size_t)offset * ts_dtype_bytes(t->dtype));
    return true;
}

static bool lookup(Interp *in, const TsExpr *var, TeValue *out)
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

static bool eval(Interp *in, const TsExpr *e, TeValue *out)
{
    TeValue a, b, c;
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
    case TE_BITNOT:
    case TE_POPCOUNT:
        return eval(in, e->u.op.a, &a) && unary_op(in, e->kind, e->u.op.a->dtype, a, out);
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
        *out = te_value_cast(e->u.cast.value->dtype, e->dtype, a);
        return true;
    case TE_REINTERPRET:
        if (e->dtype.lanes != 1 || e->u.cast.value->dtype.lanes != 1)
            return eval_fail(in, "a reinterpret between vector dtypes in a tensor expression "
                                 "(the reference interpreter evaluates scalars)");
        if (!eval(in, e->u.cast.value, &a))
            return false;
        te_value_reinterpret(e->u.cast.value->dtype, &a, e->dtype, out);
        return true;
    case TE_INTRINSIC: {
        char msg[200];
        snprintf(msg, sizeof msg, "cannot run the target intrinsic %s: only generated code "
                 "can call it", e->u.intrinsic.name);
        return eval_fail(in, msg);
    }
    case TE_CALL: {
        const TsExpr *arg1 = e->u.call.args[1];
        if (!eval(in, e->u.call.args[0], &a) || (arg1 && !eval(in, arg1, &b)))
            return false;
        if (!arg1)
            b.f = 0.0;
        *out = te_value_call(e->u.call.fn, e->dtype, a, b);
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
    case TE_ADDRESS:
        return eval_fail(in, "a loop-nest node in a tensor expression");
    case TE_NUM_EXPR_KINDS:
        break;
    }
    return eval_fail(in, "unknown expression kind");
}

/* ---- reductions ---- */

static bool push_binding(Interp *in, const TsExpr *var, TeValue v)
{
    if (in->num_bound == MAX_BOUND_VARS)
        return eval_fail(in, "too many nested variables");
    in->bound[in->num_bound].var = var;
    in->bound[in->num_bound].value = v;
    in->num_bound++;
    return true;
}

static TeValue reducer_identity(const TsReducer *r, TsDType t)
{
    TeValue v = { 0 };
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

static bool combine(Interp *in, const TsReducer *r, TsDType t, TeValue acc, TeValue x, TeValue *out)
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
static bool eval_reduce(Interp *in, const TsExpr *e, TeValue *out)
{
    const TsReducer *r = e->u.reduce.reducer;
    int n = e->u.reduce.num_axes;
    int mark = in->num_bound;
    TeValue acc = reducer_identity(r, e->dtype);
    for (int i = 0; i < n; i++)
        if (!push_binding(in, e->u.reduce.axes[i]->var, (TeValue){ .i = 0 }))
            return false;
    for (;;) {
        TeValue cond = { .i = 1 }, x;
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
        if (!push_binding(in, t->axes[i]->var, (TeValue){ .i = 0 }))
            return false;
    }
    size_t elem = ts_dtype_bytes(t->dtype);
    for (int64_t flat = 0;; flat++) {
        TeValue v;
        bool ok = t->body->kind == TE_REDUCE ? eval_reduce(in, t->body, &v)
                                             : eval(in, t->body, &v);
        if (!ok)
            return false;
        te_value_store(t->dtype, buf->data + (size_t)flat * elem, v);
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
