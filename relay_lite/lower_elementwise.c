/* Lowering of the elementwise operators: activations (Relu, LeakyRelu, Sigmoid, Tanh,
 * HardSigmoid, HardSwish, Erf, Gelu, Sqrt), Clip (bounds as attributes or as optional
 * scalar inputs), the binary operators with broadcasting (Add, Sub, Mul, Div, Pow), the
 * variadic Sum, Max, Min and Mean, Cast, Identity and Dropout (inference: a copy, and a
 * mask of ones), Constant and ConstantOfShape. Part of node lowering (lower_node.c). */
#include <float.h>
#include <inttypes.h>
#include <string.h>

#include "relay_lite/lower_rules.h"

static TsStatus attr_float(RlyLower *l, const char *name, double def, double *out)
{
    return rly_attr_float(l->graph, l->node, name, def, out, l->err);
}

TsStatus rly_lower_unary(RlyLower *l)
{
    TsTensor *x = rly_lower_input(l, 0), *y = NULL;
    double alpha = 0, beta = 0;
    const char *approximate = "none";
    TsStatus status = TS_OK;
    if (!x)
        return l->err->status;
    switch (l->node->op) {
    case RLY_OP_RELU: y = ts_op_relu(l->arena, x); break;
    case RLY_OP_SIGMOID: y = ts_op_sigmoid(l->arena, x); break;
    case RLY_OP_TANH: y = ts_op_tanh(l->arena, x); break;
    case RLY_OP_ERF: y = ts_op_erf(l->arena, x); break;
    case RLY_OP_SQRT: y = ts_op_sqrt(l->arena, x); break;
    case RLY_OP_HARD_SWISH: y = ts_op_hard_swish(l->arena, x); break;
    case RLY_OP_LEAKY_RELU:
        status = attr_float(l, "alpha", 0.01, &alpha);
        y = status == TS_OK ? ts_op_leaky_relu(l->arena, x, alpha) : NULL;
        break;
    case RLY_OP_HARD_SIGMOID:
        status = attr_float(l, "alpha", 0.2, &alpha);
        if (status == TS_OK)
            status = attr_float(l, "beta", 0.5, &beta);
        y = status == TS_OK ? ts_op_hard_sigmoid(l->arena, x, alpha, beta) : NULL;
        break;
    case RLY_OP_GELU:
        status = rly_attr_string(l->graph, l->node, "approximate", "none", &approximate, l->err);
        if (status == TS_OK && strcmp(approximate, "none") && strcmp(approximate, "tanh"))
            return rly_lower_fail(l, "attribute approximate = \"%s\" is not one of none, tanh",
                                  approximate);
        y = status == TS_OK ? ts_op_gelu(l->arena, x, strcmp(approximate, "tanh") == 0) : NULL;
        break;
    default: return rly_lower_fail(l, "is not a unary operator");
    }
    return status == TS_OK ? rly_lower_output(l, 0, y) : status;
}

/* Clip before opset 11: min and max attributes (default: the float range). */
static TsStatus clip_attributes(RlyLower *l, TsTensor *x)
{
    double lo, hi;
    TsStatus status = attr_float(l, "min", -FLT_MAX, &lo);
    if (status == TS_OK)
        status = attr_float(l, "max", FLT_MAX, &hi);
    if (status != TS_OK)
        return status;
    /* min(max(x, lo), hi) is hi everywhere when lo > hi; clip's bounds must be ordered. */
    return rly_lower_output(l, 0, ts_op_clip(l->arena, x, lo < hi ? lo : hi, hi));
}

TsStatus rly_lower_clip(RlyLower *l)
{
    TsTensor *x = rly_lower_input(l, 0);
    if (!x)
        return l->err->status;
    if (l->graph->opset < 11)
        return clip_attributes(l, x);
    TsTensor *lo = rly_input(l->node, 1) ? l->inputs[1] : NULL;
    TsTensor *hi = rly_input(l->node, 2) ? l->inputs[2] : NULL;
    return rly_lower_output(l, 0, ts_op_clamp(l->arena, x, lo, hi));
}

TsStatus rly_lower_binary(RlyLower *l)
{
    TsTensor *a = rly_lower_input(l, 0), *b = rly_lower_input(l, 1), *y = NULL;
    if (!a || !b)
        return l->err->status;
    switch (l->node->op) {
    case RLY_OP_ADD: y = ts_op_add(l->arena, a, b); break;
    case RLY_OP_SUB: y = ts_op_sub(l->arena, a, b); break;
    case RLY_OP_MUL: y = ts_op_mul(l->arena, a, b); break;
    case RLY_OP_DIV: y = ts_op_div(l->arena, a, b); break;
    case RLY_OP_POW: y = ts_op_pow(l->arena, a, b); break;
    default: return rly_lower_fail(l, "is not a binary operator");
    }
    return rly_lower_output(l, 0, y);
}

TsStatus rly_lower_variadic(RlyLower *l)
{
    TsTensor *in[TS_MAX_OPERANDS];
    int n = l->node->num_inputs;
    if (n > TS_MAX_OPERANDS)
        return rly_lower_fail(l, "%d inputs; at most %d are supported", n, TS_MAX_OPERANDS);
    for (int k = 0; k < n; k++)
        if (!(in[k] = rly_lower_input(l, k)))
            return l->err->status;
    TsVariadicKind kind = l->node->op == RLY_OP_MAX    ? TS_VARIADIC_MAX
                          : l->node->op == RLY_OP_MIN  ? TS_VARIADIC_MIN
                          : l->node->op == RLY_OP_MEAN ? TS_VARIADIC_MEAN
                                                       : TS_VARIADIC_SUM;
    return rly_lower_output(l, 0, ts_op_variadic(l->arena, kind, n, in));
}

TsStatus rly_lower_cast(RlyLower *l)
{
    TsTensor *x = rly_lower_input(l, 0);
    const RlyValue *out = rly_output(l->node, 0);
    if (!x)
        return l->err->status;
    return rly_lower_output(l, 0, out ? ts_op_cast(l->arena, x, out->dtype) : x);
}

/* A copy stage of x: the output must be a tensor of its own (the graph names it). */
static TsTensor *copy(RlyLower *l, TsTensor *x, const char *name)
{
    TsAxis *axes[TS_MAX_DIMS];
    TsExpr *vars[TS_MAX_DIMS];
    for (int d = 0; d < ts_tensor_ndim(x); d++) {
        axes[d] = ts_axis(l->arena, "i", ts_tensor_dim(x, d));
        vars[d] = ts_var(axes[d]);
    }
    return ts_compute_tagged(l->arena, name, "copy", ts_tensor_ndim(x), axes,
                             ts_access(l->arena, x, ts_tensor_ndim(x), vars));
}

/* A tensor of shape value's filled with fill (an expression of value's dtype). */
static TsTensor *filled(RlyLower *l, const RlyValue *value, TsExpr *fill, const char *name)
{
    TsAxis *axes[TS_MAX_DIMS];
    for (int d = 0; d < value->ndim; d++)
        axes[d] = ts_axis(l->arena, "i", value->dims[d]);
    return ts_compute_tagged(l->arena, name, "fill", value->ndim, axes, fill);
}

TsStatus rly_lower_identity(RlyLower *l)
{
    TsTensor *x = rly_lower_input(l, 0);
    if (!x)
        return l->err->status;
    TsStatus status = rly_lower_output(l, 0, copy(l, x, "identity"));
    if (status == TS_OK && rly_output(l->node, 1)) /* Dropout's mask: nothing dropped */
        status = rly_lower_output(
            l, 1, filled(l, rly_output(l->node, 1), ts_bool(l->arena, true), "dropout_mask"));
    return status;
}

/* A Constant is data the caller binds: a placeholder named after its value, like the
 * placeholders of initializers (the graph builder folds Constant nodes into them). */
TsStatus rly_lower_constant(RlyLower *l)
{
    const RlyValue *v = rly_output(l->node, 0);
    if (!v)
        return TS_OK;
    if (!v->constant)
        return rly_lower_fail(l, "output \"%s\" has no constant value", v->name);
    return rly_lower_output(l, 0, ts_placeholder(l->arena, v->name, v->ndim, v->dims, v->dtype));
}

/* The one value of a constant tensor as an expression of its dtype. */
static TsExpr *const_scalar(RlyLower *l, const RlyConst *c)
{
    TsDType t = c->dtype;
    const void *p = c->data;
    if (ts_dtype_is_bool(t))
        return ts_bool(l->arena, *(const uint8_t *)p != 0);
    if (ts_dtype_is_float(t) && t.bits == 32)
        return ts_float(l->arena, t, *(const float *)p);
    if (ts_dtype_is_float(t) && t.bits == 64)
        return ts_float(l->arena, t, *(const double *)p);
    if (ts_dtype_is_uint(t) && t.bits == 64)
        return ts_uint(l->arena, t, *(const uint64_t *)p);
    if (ts_dtype_is_int(t)) {
        int64_t v = 0;
        switch (t.bits) {
        case 8: v = ts_dtype_is_uint(t) ? *(const uint8_t *)p : *(const int8_t *)p; break;
        case 16: v = ts_dtype_is_uint(t) ? *(const uint16_t *)p : *(const int16_t *)p; break;
        case 32:
            v = ts_dtype_is_uint(t) ? (int64_t) * (const uint32_t *)p : *(const int32_t *)p;
            break;
        default: v = *(const int64_t *)p; break;
        }
        return ts_int(l->arena, t, v);
    }
    return NULL;
}

TsStatus rly_lower_constant_of_shape(RlyLower *l)
{
    const RlyValue *v = rly_output(l->node, 0);
    const RlyAttr *value = rly_node_attr(l->node, "value");
    if (!v)
        return TS_OK;
    TsExpr *fill = value ? const_scalar(l, value->tensor) : ts_f32(l->arena, 0.0);
    if (!fill)
        return rly_lower_fail(l, "attribute value has a data type that cannot be computed with");
    return rly_lower_output(l, 0, filled(l, v, fill, "constant_of_shape"));
}
