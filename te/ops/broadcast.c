/* Elementwise operators with numpy broadcasting over any number of operands, for the
 * graph level: division, power (the exponent of any numeric dtype), the variadic sum, max,
 * min and mean, clamping by scalar tensors, broadcasting to a shape, and the generic unary
 * stage that activation.c builds on. Each is one compute op tagged with its name.
 */
#include "ops_internal.h"

bool te_op_broadcast_shape(TsArena *arena, const char *op, int n, const TeOpShape *shapes,
                           TeOpShape *out)
{
    out->ndim = 0;
    for (int k = 0; k < n; k++)
        out->ndim = shapes[k].ndim > out->ndim ? shapes[k].ndim : out->ndim;
    for (int i = 0; i < out->ndim; i++) {
        out->dim[i] = 1;
        for (int k = 0; k < n; k++) {
            int at = i - (out->ndim - shapes[k].ndim);
            int64_t d = at >= 0 ? shapes[k].dim[at] : 1;
            if (d != 1 && out->dim[i] != 1 && d != out->dim[i]) {
                ts_arena_fail(arena, TS_EINVAL,
                              "%s: operand %d (extent %lld) does not broadcast with extent %lld "
                              "in aligned dimension %d",
                              op, k, (long long)d, (long long)out->dim[i], i);
                return false;
            }
            if (d != 1)
                out->dim[i] = d;
        }
    }
    return true;
}

TsExpr *te_op_broadcast_access(TsArena *arena, TsTensor *t, const TeOpShape *shape, int out_ndim,
                               TsExpr *const *vars)
{
    TsExpr *index[TS_MAX_DIMS];
    int offset = out_ndim - shape->ndim;

    for (int i = 0; i < shape->ndim; i++)
        index[i] = shape->dim[i] == 1 ? ts_i32(arena, 0) : vars[offset + i];
    return ts_access(arena, t, shape->ndim, index);
}

TsTensor *te_op_unary(TsArena *arena, const char *op, TsTensor *data, bool need_float,
                      TeOpUnaryFn fn, const void *ctx)
{
    TeOpShape shape;

    if (arena == NULL || !te_op_tensor(arena, op, "data", data, &shape) ||
        !(need_float ? te_op_float(arena, op, "data", data) : te_op_arith(arena, op, "data", data)))
        return NULL;
    TsAxis **axes = te_op_axes(arena, &shape, NULL);
    TsExpr **vars = axes ? te_op_vars(arena, shape.ndim, axes) : NULL;
    if (vars == NULL)
        return NULL;
    TsExpr *body = fn(arena, ts_access(arena, data, shape.ndim, vars), ts_tensor_dtype(data), ctx);
    return ts_compute_tagged(arena, op, op, shape.ndim, axes, body);
}

/* The operands' shapes and the broadcast shape, with the loop variables over it. */
typedef struct Operands {
    int n;
    TeOpShape shapes[TS_MAX_OPERANDS];
    TeOpShape out;
    TsAxis **axes;
    TsExpr **vars;
} Operands;

static bool operands(TsArena *arena, const char *op, int n, TsTensor *const *inputs,
                     bool same_dtype, Operands *o)
{
    if (n < 1 || n > TS_MAX_OPERANDS) {
        ts_arena_fail(arena, TS_EINVAL, "%s: %d operands (1 to %d are supported)", op, n,
                      TS_MAX_OPERANDS);
        return false;
    }
    o->n = n;
    for (int k = 0; k < n; k++) {
        if (!te_op_tensor(arena, op, "operand", inputs[k], &o->shapes[k]) ||
            !te_op_arith(arena, op, "operand", inputs[k]))
            return false;
        if (same_dtype &&
            !te_op_same_dtype(arena, op, "operand 0", inputs[0], "operand", inputs[k]))
            return false;
    }
    if (!te_op_broadcast_shape(arena, op, n, o->shapes, &o->out))
        return false;
    o->axes = te_op_axes(arena, &o->out, NULL);
    o->vars = o->axes ? te_op_vars(arena, o->out.ndim, o->axes) : NULL;
    return o->vars != NULL;
}

static TsExpr *operand(TsArena *arena, const Operands *o, TsTensor *const *inputs, int k)
{
    return te_op_broadcast_access(arena, inputs[k], &o->shapes[k], o->out.ndim, o->vars);
}

TsTensor *ts_op_div(TsArena *arena, TsTensor *a, TsTensor *b)
{
    Operands o;
    TsTensor *in[2] = { a, b };

    if (arena == NULL || !operands(arena, "div", 2, in, true, &o))
        return NULL;
    TsExpr *body = ts_div(arena, operand(arena, &o, in, 0), operand(arena, &o, in, 1));
    return ts_compute_tagged(arena, "div", "div", o.out.ndim, o.axes, body);
}

TsTensor *ts_op_pow(TsArena *arena, TsTensor *base, TsTensor *exponent)
{
    Operands o;
    TsTensor *in[2] = { base, exponent };

    if (arena == NULL || !operands(arena, "pow", 2, in, false, &o))
        return NULL;
    TsDType dtype = ts_tensor_dtype(base), exp_dtype = ts_tensor_dtype(exponent);
    /* An integer base is raised in float64, exact for every result an int64 holds up to
     * 2^53, and truncated back as ONNX's reference does. */
    TsDType work = ts_dtype_is_float(dtype) ? dtype : TS_FLOAT64;
    TsExpr *x = te_op_cast(arena, work, operand(arena, &o, in, 0), dtype);
    TsExpr *y = te_op_cast(arena, work, operand(arena, &o, in, 1), exp_dtype);
    TsExpr *body = te_op_cast(arena, dtype, ts_pow(arena, x, y), work);
    return ts_compute_tagged(arena, "pow", "pow", o.out.ndim, o.axes, body);
}

TsTensor *ts_op_variadic(TsArena *arena, TsVariadicKind kind, int num_inputs,
                         TsTensor *const *inputs)
{
    static const char *const names[] = { "sum", "max", "min", "mean" };
    Operands o;

    if (arena == NULL)
        return NULL;
    if (kind < TS_VARIADIC_SUM || kind > TS_VARIADIC_MEAN) {
        ts_arena_fail(arena, TS_EINVAL, "variadic: kind %d is not a TsVariadicKind", (int)kind);
        return NULL;
    }
    const char *op = names[kind];
    if (!operands(arena, op, num_inputs, inputs, true, &o))
        return NULL;
    TsExpr *acc = operand(arena, &o, inputs, 0);
    for (int k = 1; k < num_inputs; k++) {
        TsExpr *x = operand(arena, &o, inputs, k);
        acc = kind == TS_VARIADIC_MAX   ? ts_max(arena, acc, x)
              : kind == TS_VARIADIC_MIN ? ts_min(arena, acc, x)
                                        : ts_add(arena, acc, x);
    }
    if (kind == TS_VARIADIC_MEAN)
        acc = ts_div(arena, acc,
                     te_op_const(arena, op, "count", ts_tensor_dtype(inputs[0]), num_inputs));
    return ts_compute_tagged(arena, op, op, o.out.ndim, o.axes, acc);
}

/* The single element of a bound tensor (any rank, one element), or NULL. */
static TsExpr *scalar_of(TsArena *arena, const char *what, TsTensor *t, TsDType dtype)
{
    TeOpShape shape;
    TsExpr *zeros[TS_MAX_DIMS];

    if (!te_op_tensor(arena, "clamp", what, t, &shape))
        return NULL;
    if (te_op_num_elements(shape.ndim, shape.dim) != 1 || !ts_dtype_eq(ts_tensor_dtype(t), dtype)) {
        ts_arena_fail(arena, TS_EINVAL, "clamp: %s '%s' must be one element of the data's dtype",
                      what, ts_tensor_name(t));
        return NULL;
    }
    for (int i = 0; i < shape.ndim; i++)
        zeros[i] = ts_i32(arena, 0);
    return ts_access(arena, t, shape.ndim, zeros);
}

TsTensor *ts_op_clamp(TsArena *arena, TsTensor *data, TsTensor *lo, TsTensor *hi)
{
    TeOpShape shape;

    if (arena == NULL || !te_op_tensor(arena, "clamp", "data", data, &shape) ||
        !te_op_arith(arena, "clamp", "data", data))
        return NULL;
    TsDType dtype = ts_tensor_dtype(data);
    TsExpr *lo_value = lo ? scalar_of(arena, "lo", lo, dtype) : NULL;
    TsExpr *hi_value = hi ? scalar_of(arena, "hi", hi, dtype) : NULL;
    TsAxis **axes = te_op_axes(arena, &shape, NULL);
    TsExpr **vars = axes ? te_op_vars(arena, shape.ndim, axes) : NULL;
    if (vars == NULL || (lo && !lo_value) || (hi && !hi_value))
        return NULL;
    /* min(max(x, lo), hi): hi wins when lo > hi, as numpy's clip and ONNX's Clip. */
    TsExpr *body = ts_access(arena, data, shape.ndim, vars);
    if (lo_value)
        body = ts_max(arena, body, lo_value);
    if (hi_value)
        body = ts_min(arena, body, hi_value);
    return ts_compute_tagged(arena, "clamp", "clamp", shape.ndim, axes, body);
}

TsTensor *ts_op_broadcast_to(TsArena *arena, TsTensor *data, int ndim, const int64_t *shape)
{
    TeOpShape in, target = { .ndim = ndim }, out;

    if (arena == NULL || !te_op_tensor(arena, "broadcast_to", "data", data, &in))
        return NULL;
    if (ndim < in.ndim || ndim > TS_MAX_DIMS) {
        ts_arena_fail(arena, TS_EINVAL, "broadcast_to: rank %d is below the data's %d or above %d",
                      ndim, in.ndim, TS_MAX_DIMS);
        return NULL;
    }
    for (int i = 0; i < ndim; i++) {
        if (!te_op_attr(arena, "broadcast_to", "shape", shape[i], 1))
            return NULL;
        target.dim[i] = shape[i];
    }
    if (!te_op_broadcast_shape(arena, "broadcast_to", 2, (TeOpShape[]){ in, target }, &out))
        return NULL;
    for (int i = 0; i < ndim; i++)
        if (out.dim[i] != shape[i]) {
            ts_arena_fail(
                arena, TS_EINVAL,
                "broadcast_to: data extent %lld does not broadcast to %lld (dimension %d)",
                (long long)out.dim[i], (long long)shape[i], i);
            return NULL;
        }
    TsAxis **axes = te_op_axes(arena, &out, NULL);
    TsExpr **vars = axes ? te_op_vars(arena, out.ndim, axes) : NULL;
    if (vars == NULL)
        return NULL;
    return ts_compute_tagged(arena, "broadcast_to", "broadcast_to", out.ndim, axes,
                             te_op_broadcast_access(arena, data, &in, out.ndim, vars));
}
