/* Data movement of the operator library, for the graph level: transpose, strided slices
 * (negative steps included; Split is slices), gather along any axis with negative
 * indices, and padding in every ONNX mode (constant, reflect, edge) with negative pads
 * that crop. Each is one compute op whose body is an index computation and one read.
 */
#include "ops_internal.h"

static TsTensor *stage(TsArena *arena, const char *op, const TeOpShape *out, TsTensor *data,
                       int ndim, TsExpr *const *index, TsAxis **axes)
{
    return ts_compute_tagged(arena, op, op, out->ndim, axes, ts_access(arena, data, ndim, index));
}

TsTensor *ts_op_transpose(TsArena *arena, TsTensor *data, const int *perm)
{
    TeOpShape in, out;
    bool used[TS_MAX_DIMS] = { false };

    if (arena == NULL || !te_op_tensor(arena, "transpose", "data", data, &in))
        return NULL;
    out.ndim = in.ndim;
    for (int i = 0; i < in.ndim; i++) {
        if (perm == NULL || perm[i] < 0 || perm[i] >= in.ndim || used[perm[i]]) {
            ts_arena_fail(arena, TS_EINVAL, "transpose: perm is not a permutation of 0..%d",
                          in.ndim - 1);
            return NULL;
        }
        used[perm[i]] = true;
        out.dim[i] = in.dim[perm[i]];
    }
    TsAxis **axes = te_op_axes(arena, &out, NULL);
    TsExpr **vars = axes ? te_op_vars(arena, out.ndim, axes) : NULL;
    TsExpr *index[TS_MAX_DIMS];
    if (vars == NULL)
        return NULL;
    for (int i = 0; i < in.ndim; i++)
        index[perm[i]] = vars[i];
    return stage(arena, "transpose", &out, data, in.ndim, index, axes);
}

TsTensor *ts_op_strided_slice(TsArena *arena, TsTensor *data, const int64_t *begin,
                              const int64_t *step, const int64_t *out_shape)
{
    TeOpShape in, out;

    if (arena == NULL || !te_op_tensor(arena, "strided_slice", "data", data, &in))
        return NULL;
    out.ndim = in.ndim;
    for (int i = 0; i < in.ndim; i++) {
        int64_t last = begin[i] + (out_shape[i] - 1) * step[i];
        if (!te_op_attr(arena, "strided_slice", "out_shape", out_shape[i], 1))
            return NULL;
        if (step[i] == 0 || begin[i] < 0 || begin[i] >= in.dim[i] || last < 0 ||
            last >= in.dim[i]) {
            ts_arena_fail(arena, TS_EINVAL,
                          "strided_slice: dimension %d: begin %lld, step %lld, %lld elements "
                          "leave [0, %lld)",
                          i, (long long)begin[i], (long long)step[i], (long long)out_shape[i],
                          (long long)in.dim[i]);
            return NULL;
        }
        out.dim[i] = out_shape[i];
    }
    TsAxis **axes = te_op_axes(arena, &out, NULL);
    TsExpr **vars = axes ? te_op_vars(arena, out.ndim, axes) : NULL;
    TsExpr *index[TS_MAX_DIMS];
    if (vars == NULL)
        return NULL;
    for (int i = 0; i < in.ndim; i++) {
        index[i] = te_op_scale(arena, vars[i], step[i]);
        if (begin[i] != 0)
            index[i] = ts_add(arena, index[i], ts_i32(arena, begin[i]));
    }
    return stage(arena, "strided_slice", &out, data, in.ndim, index, axes);
}

TsTensor *ts_op_gather(TsArena *arena, TsTensor *data, TsTensor *indices, int axis)
{
    TeOpShape in, idx, out;
    int at;

    if (arena == NULL || !te_op_tensor(arena, "gather", "data", data, &in) ||
        !te_op_tensor(arena, "gather", "indices", indices, &idx) ||
        !te_op_axis(arena, "gather", axis, in.ndim, false, &at))
        return NULL;
    TsDType idx_dtype = ts_tensor_dtype(indices);
    if (!ts_dtype_is_int(idx_dtype) || idx_dtype.lanes != 1) {
        ts_arena_fail(arena, TS_EINVAL, "gather: indices '%s' are not integers",
                      ts_tensor_name(indices));
        return NULL;
    }
    out.ndim = in.ndim - 1 + idx.ndim;
    if (out.ndim > TS_MAX_DIMS) {
        ts_arena_fail(arena, TS_EINVAL, "gather: the result has rank %d, above %d", out.ndim,
                      TS_MAX_DIMS);
        return NULL;
    }
    for (int i = 0, o = 0; i < in.ndim; i++) {
        if (i != at)
            out.dim[o++] = in.dim[i];
        else
            for (int j = 0; j < idx.ndim; j++)
                out.dim[o++] = idx.dim[j];
    }
    TsAxis **axes = te_op_axes(arena, &out, NULL);
    TsExpr **vars = axes ? te_op_vars(arena, out.ndim, axes) : NULL;
    TsExpr *index[TS_MAX_DIMS];
    if (vars == NULL)
        return NULL;
    /* A negative index counts from the end; one outside [-n, n) is a read out of bounds,
     * which the interpreter reports and a kernel's argument checks cannot see. */
    TsExpr *raw = ts_cast(arena, TS_INT32, ts_access(arena, indices, idx.ndim, vars + at));
    TsExpr *n = ts_i32(arena, in.dim[at]);
    TsExpr *fixed =
        ts_select(arena, ts_lt(arena, raw, ts_i32(arena, 0)), ts_add(arena, raw, n), raw);
    for (int i = 0, o = 0; i < in.ndim; i++) {
        if (i == at) {
            index[i] = fixed;
            o += idx.ndim;
        } else {
            index[i] = vars[o++];
        }
    }
    return stage(arena, "gather", &out, data, in.ndim, index, axes);
}

/* The source index along one dimension of a reflect or edge pad: pos = out - before,
 * reflected about the ends (period 2 (n - 1)) or clamped to them. */
static TsExpr *mode_index(TsArena *arena, TsPadMode mode, TsExpr *pos, int64_t n)
{
    if (n == 1)
        return ts_i32(arena, 0);
    if (mode == TS_PAD_EDGE)
        return ts_max(arena, ts_i32(arena, 0), ts_min(arena, pos, ts_i32(arena, n - 1)));
    TsExpr *m = ts_floormod(arena, pos, ts_i32(arena, 2 * (n - 1)));
    return ts_select(arena, ts_lt(arena, m, ts_i32(arena, n)), m,
                     ts_sub(arena, ts_i32(arena, 2 * (n - 1)), m));
}

TsTensor *ts_op_pad_mode(TsArena *arena, TsTensor *data, const int64_t *before,
                         const int64_t *after, TsPadMode mode, TsExpr *pad_value)
{
    TeOpShape in, out;

    if (arena == NULL || !te_op_tensor(arena, "pad", "data", data, &in))
        return NULL;
    if (mode != TS_PAD_CONSTANT && mode != TS_PAD_REFLECT && mode != TS_PAD_EDGE) {
        ts_arena_fail(arena, TS_EINVAL, "pad: mode %d is not a TsPadMode", (int)mode);
        return NULL;
    }
    TsDType dtype = ts_tensor_dtype(data);
    if (mode == TS_PAD_CONSTANT && pad_value == NULL)
        pad_value = te_op_const(arena, "pad", "value", dtype, 0.0);
    out.ndim = in.ndim;
    for (int i = 0; i < in.ndim; i++) {
        out.dim[i] = in.dim[i] + before[i] + after[i];
        if (out.dim[i] < 1 || out.dim[i] > TS_MAX_EXTENT || before[i] < -in.dim[i] ||
            after[i] < -in.dim[i] || before[i] > TS_MAX_EXTENT || after[i] > TS_MAX_EXTENT) {
            ts_arena_fail(arena, TS_EINVAL,
                          "pad: dimension %d of extent %lld padded by %lld and %lld gives %lld", i,
                          (long long)in.dim[i], (long long)before[i], (long long)after[i],
                          (long long)out.dim[i]);
            return NULL;
        }
    }
    TsAxis **axes = te_op_axes(arena, &out, NULL);
    TsExpr **vars = axes ? te_op_vars(arena, out.ndim, axes) : NULL;
    TsExpr *index[TS_MAX_DIMS], *inside = NULL;
    if (vars == NULL || (mode == TS_PAD_CONSTANT && pad_value == NULL))
        return NULL;
    for (int i = 0; i < in.ndim; i++) {
        TsExpr *pos = before[i] ? ts_sub(arena, vars[i], ts_i32(arena, before[i])) : vars[i];
        if (mode != TS_PAD_CONSTANT) {
            index[i] =
                before[i] > 0 || after[i] > 0 ? mode_index(arena, mode, pos, in.dim[i]) : pos;
            continue;
        }
        index[i] = pos;
        if (before[i] > 0) {
            TsExpr *c = ts_ge(arena, pos, ts_i32(arena, 0));
            inside = inside ? ts_and(arena, inside, c) : c;
        }
        if (after[i] > 0) {
            TsExpr *c = ts_lt(arena, pos, ts_i32(arena, in.dim[i]));
            inside = inside ? ts_and(arena, inside, c) : c;
        }
    }
    TsExpr *body = ts_access(arena, data, in.ndim, index);
    if (inside)
        body = ts_if_then_else(arena, inside, body, pad_value);
    return ts_compute_tagged(arena, "pad", "pad", out.ndim, axes, body);
}
