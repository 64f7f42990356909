/* Data-movement operators of the operator library: constant padding, row-major reshape
 * (ONNX's Reshape with -1 and 0), flatten and concatenation. Each is one compute op
 * tagged with the operator's name; reshape and flatten recompute the input index from
 * the output's row-major position with int32 floordiv/floormod, concat picks its input
 * with nested ts_if_then_else, which guards every access.
 */
#include <stdio.h>

#include "ops_internal.h"

TsTensor *ts_op_pad(TsArena *arena, TsTensor *data, const int64_t *pad_before,
                    const int64_t *pad_after, double pad_value)
{
    TeOpShape shape;
    char what[32];

    if (arena == NULL || !te_op_tensor(arena, "pad", "data", data, &shape))
        return NULL;
    if (pad_before == NULL || pad_after == NULL) {
        ts_arena_fail(arena, TS_EINVAL, "pad: %s is NULL", pad_before ? "pad_after" : "pad_before");
        return NULL;
    }
    for (int i = 0; i < shape.ndim; i++) {
        snprintf(what, sizeof what, "pad_before[%d]", i);
        if (!te_op_attr(arena, "pad", what, pad_before[i], 0))
            return NULL;
        snprintf(what, sizeof what, "pad_after[%d]", i);
        if (!te_op_attr(arena, "pad", what, pad_after[i], 0))
            return NULL;
    }
    TsExpr *value = te_op_const(arena, "pad", "pad_value", ts_tensor_dtype(data), pad_value);
    return te_op_pad(arena, "pad", data, &shape, pad_before, pad_after, value);
}

/* Checks one entry of new_shape and writes the extent it stands for, or 0 for -1. */
static bool shape_entry(TsArena *arena, const TeOpShape *in, const int64_t *new_shape, int i,
                        int *inferred, int64_t *extent)
{
    int64_t v = new_shape[i];

    if (v == -1 && *inferred < 0) {
        *inferred = i;
        *extent = 0;
    } else if (v == -1) {
        ts_arena_fail(arena, TS_EINVAL, "reshape: new_shape has more than one -1 (at %d and %d)",
                      *inferred, i);
        return false;
    } else if (v == 0 && i < in->ndim) {
        *extent = in->dim[i];
    } else if (v >= 1 && v <= TS_MAX_EXTENT) {
        *extent = v;
    } else {
        ts_arena_fail(arena, TS_EINVAL,
                      "reshape: new_shape[%d] = %lld is not -1, 0 (within the input's rank %d) "
                      "or in [1, %lld]",
                      i, (long long)v, in->ndim, (long long)TS_MAX_EXTENT);
        return false;
    }
    return true;
}

/* Fills -1 with the extent that makes the element counts equal. */
static bool infer_extent(TsArena *arena, int64_t total, int inferred, TeOpShape *out)
{
    int64_t known = 1;

    for (int i = 0; i < out->ndim; i++)
        if (i != inferred && (known = known * out->dim[i]) > total)
            break;
    if (known > total || total % known != 0) {
        ts_arena_fail(arena, TS_EINVAL,
                      "reshape: cannot infer new_shape[%d]: %lld elements do not divide into "
                      "the other extents",
                      inferred, (long long)total);
        return false;
    }
    out->dim[inferred] = total / known;
    return true;
}

/* The output shape of a reshape of `in` to new_shape. */
static bool resolve_shape(TsArena *arena, const TeOpShape *in, int64_t total, int ndim,
                          const int64_t *new_shape, TeOpShape *out)
{
    int inferred = -1;

    /* Rank 0 (a scalar, for a one-element input) needs no new_shape. */
    if (ndim < 0 || ndim > TS_MAX_DIMS || (ndim > 0 && new_shape == NULL)) {
        ts_arena_fail(arena, TS_EINVAL, "reshape: new_shape %s rank %d (must be in [0, %d])",
                      new_shape ? "has" : "is NULL with", ndim, TS_MAX_DIMS);
        return false;
    }
    out->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        if (!shape_entry(arena, in, new_shape, i, &inferred, &out->dim[i]))
            return false;
    if (inferred >= 0 && !infer_extent(arena, total, inferred, out))
        return false;
    int64_t count = te_op_num_elements(out->ndim, out->dim);
    if (count == total)
        return true;
    ts_arena_fail(arena, TS_EINVAL, "reshape: new shape has %lld elements, data has %lld",
                  (long long)count, (long long)total);
    return false;
}

/* The number of elements, which must fit int32 index arithmetic. */
static bool count_elements(TsArena *arena, const char *op, const TsTensor *data,
                           const TeOpShape *shape, int64_t *total)
{
    *total = te_op_num_elements(shape->ndim, shape->dim);
    if (*total > 0)
        return true;
    ts_arena_fail(arena, TS_EINVAL, "%s: data '%s' has more than %lld elements", op,
                  ts_tensor_name(data), (long long)TS_MAX_EXTENT);
    return false;
}

static bool same_shape(const TeOpShape *a, const TeOpShape *b)
{
    if (a->ndim != b->ndim)
        return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->dim[i] != b->dim[i])
            return false;
    return true;
}

/* The input index of dimension i at row-major position linear (0 <= linear < total). */
static TsExpr *unravel(TsArena *arena, const TeOpShape *in, int i, TsExpr *linear)
{
    int64_t stride = 1;

    if (in->dim[i] == 1)
        return ts_i32(arena, 0);
    for (int j = i + 1; j < in->ndim; j++)
        stride *= in->dim[j];
    TsExpr *index = stride == 1 ? linear : ts_floordiv(arena, linear, ts_i32(arena, stride));
    if (i == 0)
        return index; /* linear / stride < dim[0] already */
    return ts_floormod(arena, index, ts_i32(arena, in->dim[i]));
}

/* out[j...] = data[the same row-major position], the stage of reshape and flatten. */
static TsTensor *reshape_stage(TsArena *arena, const char *op, TsTensor *data, const TeOpShape *in,
                               const TeOpShape *out)
{
    TsAxis **axes = te_op_axes(arena, out, NULL);
    TsExpr **vars = axes ? te_op_vars(arena, out->ndim, axes) : NULL;
    TsExpr *index[TS_MAX_DIMS], *linear = NULL;

    if (vars == NULL)
        return NULL;
    if (same_shape(in, out))
        return ts_compute_tagged(arena, op, op, out->ndim, axes,
                                 ts_access(arena, data, in->ndim, vars));
    for (int i = 0; i < out->ndim; i++) {
        if (out->dim[i] == 1)
            continue;
        linear = linear ? ts_add(arena, te_op_scale(arena, linear, out->dim[i]), vars[i]) : vars[i];
    }
    if (linear == NULL)
        linear = ts_i32(arena, 0);
    for (int i = 0; i < in->ndim; i++)
        index[i] = unravel(arena, in, i, linear);
    return ts_compute_tagged(arena, op, op, out->ndim, axes,
                             ts_access(arena, data, in->ndim, index));
}

TsTensor *ts_op_reshape(TsArena *arena, TsTensor *data, int ndim, const int64_t *new_shape)
{
    TeOpShape in, out;
    int64_t total;

    if (arena == NULL || !te_op_tensor(arena, "reshape", "data", data, &in) ||
        !count_elements(arena, "reshape", data, &in, &total) ||
        !resolve_shape(arena, &in, total, ndim, new_shape, &out))
        return NULL;
    return reshape_stage(arena, "reshape", data, &in, &out);
}

TsTensor *ts_op_flatten(TsArena *arena, TsTensor *data, int axis)
{
    TeOpShape in, out = { 2, { 1, 1 } };
    int64_t total;
    int at;

    if (arena == NULL || !te_op_tensor(arena, "flatten", "data", data, &in) ||
        !count_elements(arena, "flatten", data, &in, &total) ||
        !te_op_axis(arena, "flatten", axis, in.ndim, true, &at))
        return NULL;
    for (int i = 0; i < in.ndim; i++)
        out.dim[i < at ? 0 : 1] *= in.dim[i];
    return reshape_stage(arena, "flatten", data, &in, &out);
}

/* Input k agrees with input 0 in dtype, rank and every extent but the axis. */
static bool concat_input(TsArena *arena, TsTensor *const *inputs, int k, const TeOpShape *first,
                         int at, TeOpShape *shape)
{
    char what[32];

    snprintf(what, sizeof what, "input %d", k);
    if (!te_op_tensor(arena, "concat", what, inputs[k], shape) ||
        !te_op_rank(arena, "concat", what, inputs[k], shape, first->ndim) ||
        !te_op_same_dtype(arena, "concat", what, inputs[k], "input 0", inputs[0]))
        return false;
    for (int i = 0; i < shape->ndim; i++) {
        if (i != at && shape->dim[i] != first->dim[i]) {
            ts_arena_fail(arena, TS_EINVAL,
                          "concat: %s '%s' has extent %lld at dimension %d, input 0 '%s' has %lld",
                          what, ts_tensor_name(inputs[k]), (long long)shape->dim[i], i,
                          ts_tensor_name(inputs[0]), (long long)first->dim[i]);
            return false;
        }
    }
    return true;
}

/* Checks the inputs and writes the output shape and each input's offset on the axis. */
static bool concat_shape(TsArena *arena, int num_inputs, TsTensor *const *inputs, int axis, int *at,
                         TeOpShape *out, int64_t *offsets)
{
    TeOpShape shape;

    if (num_inputs < 1 || inputs == NULL) {
        ts_arena_fail(arena, TS_EINVAL, "concat: needs at least one input, got %d", num_inputs);
        return false;
    }
    if (!te_op_tensor(arena, "concat", "input 0", inputs[0], out) ||
        !te_op_axis(arena, "concat", axis, out->ndim, false, at))
        return false;
    out->dim[*at] = 0;
    for (int k = 0; k < num_inputs; k++) {
        if (!concat_input(arena, inputs, k, out, *at, &shape))
            return false;
        offsets[k] = out->dim[*at];
        out->dim[*at] += shape.dim[*at];
        if (out->dim[*at] > TS_MAX_EXTENT) {
            ts_arena_fail(arena, TS_EINVAL, "concat: output extent on axis %d exceeds %lld", *at,
                          (long long)TS_MAX_EXTENT);
            return false;
        }
    }
    return true;
}

/* inputs[k] at the output point, shifted back by its offset on the axis. */
static TsExpr *concat_access(TsArena *arena, TsTensor *input, TsExpr **vars, int ndim, int at,
                             int64_t offset)
{
    TsExpr *saved = vars[at], *e;

    if (offset > 0)
        vars[at] = ts_sub(arena, saved, ts_i32(arena, offset));
    e = ts_access(arena, input, ndim, vars);
    vars[at] = saved;
    return e;
}

TsTensor *ts_op_concat(TsArena *arena, int num_inputs, TsTensor *const *inputs, int axis)
{
    TeOpShape out;
    int at;

    if (arena == NULL)
        return NULL;
    int64_t *offsets =
        ts_arena_alloc(arena, (size_t)(num_inputs > 0 ? num_inputs : 1) * sizeof *offsets);
    if (offsets == NULL || !concat_shape(arena, num_inputs, inputs, axis, &at, &out, offsets))
        return NULL;
    TsAxis **axes = te_op_axes(arena, &out, NULL);
    TsExpr **vars = axes ? te_op_vars(arena, out.ndim, axes) : NULL;
    if (vars == NULL)
        return NULL;
    int last = num_inputs - 1;
    TsExpr *body = concat_access(arena, inputs[last], vars, out.ndim, at, offsets[last]);
    for (int k = last - 1; k >= 0; k--) {
        TsExpr *in_k = ts_lt(arena, vars[at], ts_i32(arena, offsets[k + 1]));
        body = ts_if_then_else(
            arena, in_k, concat_access(arena, inputs[k], vars, out.ndim, at, offsets[k]), body);
    }
    return ts_compute_tagged(arena, "concat", "concat", out.ndim, axes, body);
}
