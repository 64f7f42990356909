/* Shared pieces of the operator library (te/ops/): the argument checks every builder
 * runs before it writes its compute definition, representable constants, axes over a
 * shape, and the constant-padding stage (used by ts_op_pad and by conv2d).
 *
 * The checks report the first bad argument through the arena with a message that
 * starts with the operator's name, so a user who chained several builders learns
 * which operator and which argument were at fault.
 */
#include <float.h>
#include <math.h>

#include "ops_internal.h"

static const char *const default_axis_names[TS_MAX_DIMS] = { "i0", "i1", "i2", "i3",
                                                             "i4", "i5", "i6", "i7" };

bool te_op_tensor(TsArena *arena, const char *op, const char *what, const TsTensor *t,
                  TeOpShape *shape)
{
    if (t == NULL) {
        ts_arena_fail(arena, TS_EINVAL, "%s: %s is NULL", op, what);
        return false;
    }
    shape->ndim = ts_tensor_ndim(t);
    if (shape->ndim < 0 || shape->ndim > TS_MAX_DIMS) {
        ts_arena_fail(arena, TS_EINVAL, "%s: %s '%s' has rank %d, outside [0, %d]", op, what,
                      ts_tensor_name(t), shape->ndim, TS_MAX_DIMS);
        return false;
    }
    for (int i = 0; i < shape->ndim; i++) {
        shape->dim[i] = ts_tensor_dim(t, i);
        if (shape->dim[i] < 1) {
            ts_arena_fail(arena, TS_EINVAL, "%s: %s '%s' has a non-constant extent at dimension %d",
                          op, what, ts_tensor_name(t), i);
            return false;
        }
    }
    return true;
}

bool te_op_rank(TsArena *arena, const char *op, const char *what, const TsTensor *t,
                const TeOpShape *shape, int ndim)
{
    if (shape->ndim == ndim)
        return true;
    ts_arena_fail(arena, TS_EINVAL, "%s: %s '%s' has rank %d, expected %d", op, what,
                  ts_tensor_name(t), shape->ndim, ndim);
    return false;
}

/* Arithmetic works on scalar integers and on float32/float64 (float16 and bfloat16 are
 * storage). */
static bool computable(TsDType t)
{
    if (t.lanes != 1)
        return false;
    if (ts_dtype_is_int(t))
        return true;
    return ts_dtype_is_float(t) && !ts_dtype_is_storage_only(t);
}

bool te_op_arith(TsArena *arena, const char *op, const char *what, const TsTensor *t)
{
    char buf[TS_DTYPE_STR_MAX];
    TsDType dtype = ts_tensor_dtype(t);

    if (computable(dtype))
        return true;
    ts_arena_fail(arena, TS_EINVAL,
                  "%s: %s '%s' has dtype %s; the operator needs an integer, float32 or float64", op,
                  what, ts_tensor_name(t), ts_dtype_str(dtype, buf));
    return false;
}

bool te_op_float(TsArena *arena, const char *op, const char *what, const TsTensor *t)
{
    char buf[TS_DTYPE_STR_MAX];
    TsDType dtype = ts_tensor_dtype(t);

    if (ts_dtype_is_float(dtype) && !ts_dtype_is_storage_only(dtype) && dtype.lanes == 1)
        return true;
    ts_arena_fail(arena, TS_EINVAL,
                  "%s: %s '%s' has dtype %s; the operator needs float32 or float64", op, what,
                  ts_tensor_name(t), ts_dtype_str(dtype, buf));
    return false;
}

bool te_op_same_dtype(TsArena *arena, const char *op, const char *what_a, const TsTensor *a,
                      const char *what_b, const TsTensor *b)
{
    char buf_a[TS_DTYPE_STR_MAX], buf_b[TS_DTYPE_STR_MAX];
    TsDType ta = ts_tensor_dtype(a), tb = ts_tensor_dtype(b);

    if (ts_dtype_eq(ta, tb))
        return true;
    ts_arena_fail(arena, TS_EINVAL, "%s: %s '%s' has dtype %s but %s '%s' has dtype %s", op, what_a,
                  ts_tensor_name(a), ts_dtype_str(ta, buf_a), what_b, ts_tensor_name(b),
                  ts_dtype_str(tb, buf_b));
    return false;
}

bool te_op_accum_dtype(TsArena *arena, const char *op, TsDType in, TsDType requested, TsDType *out)
{
    char buf[TS_DTYPE_STR_MAX];
    bool numeric = in.lanes == 1 && (ts_dtype_is_int(in) || ts_dtype_is_float(in));

    if (!numeric) {
        ts_arena_fail(arena, TS_EINVAL, "%s: input dtype %s is not a scalar number", op,
                      ts_dtype_str(in, buf));
        return false;
    }
    *out = requested.bits == 0 ? in : requested;
    if (ts_dtype_is_valid(*out) && computable(*out))
        return true;
    ts_arena_fail(arena, TS_EINVAL,
                  "%s: cannot accumulate in %s; out_dtype must be an integer, float32 or float64",
                  op, ts_dtype_str(*out, buf));
    return false;
}

bool te_op_vector(TsArena *arena, const char *op, const char *what, const TsTensor *t,
                  TsDType dtype, int64_t extent)
{
    TeOpShape shape;
    char buf_t[TS_DTYPE_STR_MAX], buf_want[TS_DTYPE_STR_MAX];

    if (!te_op_tensor(arena, op, what, t, &shape) || !te_op_rank(arena, op, what, t, &shape, 1))
        return false;
    if (shape.dim[0] != extent) {
        ts_arena_fail(arena, TS_EINVAL, "%s: %s '%s' has %lld elements, expected %lld", op, what,
                      ts_tensor_name(t), (long long)shape.dim[0], (long long)extent);
        return false;
    }
    if (ts_dtype_eq(ts_tensor_dtype(t), dtype))
        return true;
    ts_arena_fail(arena, TS_EINVAL, "%s: %s '%s' has dtype %s, expected %s", op, what,
                  ts_tensor_name(t), ts_dtype_str(ts_tensor_dtype(t), buf_t),
                  ts_dtype_str(dtype, buf_want));
    return false;
}

bool te_op_axis(TsArena *arena, const char *op, int axis, int ndim, bool allow_end, int *out)
{
    int hi = allow_end ? ndim : ndim - 1;

    if (axis >= -ndim && axis <= hi) {
        *out = axis < 0 ? axis + ndim : axis;
        return true;
    }
    ts_arena_fail(arena, TS_EINVAL, "%s: axis %d is outside [%d, %d] for rank %d", op, axis, -ndim,
                  hi, ndim);
    return false;
}

bool te_op_attr(TsArena *arena, const char *op, const char *what, int64_t value, int64_t lo)
{
    if (value >= lo && value <= TS_MAX_EXTENT)
        return true;
    ts_arena_fail(arena, TS_EINVAL, "%s: %s = %lld is outside [%lld, %lld]", op, what,
                  (long long)value, (long long)lo, (long long)TS_MAX_EXTENT);
    return false;
}

bool te_op_layout(TsArena *arena, const char *op, TsLayout layout)
{
    if (layout == TS_LAYOUT_NCHW || layout == TS_LAYOUT_NHWC)
        return true;
    ts_arena_fail(arena, TS_EINVAL, "%s: layout %d is neither NCHW (%d) nor NHWC (%d)", op,
                  (int)layout, (int)TS_LAYOUT_NCHW, (int)TS_LAYOUT_NHWC);
    return false;
}

int64_t te_op_num_elements(int ndim, const int64_t *dim)
{
    int64_t total = 1;

    for (int i = 0; i < ndim; i++) {
        if (dim[i] < 1 || dim[i] > TS_MAX_EXTENT / total)
            return -1;
        total *= dim[i];
    }
    return total;
}

/* Whether an integral value lies in the range of the integer or bool dtype t. */
static bool int_in_range(TsDType t, double value)
{
    double lo, hi; /* inclusive lower, exclusive upper bound */

    if (ts_dtype_is_bool(t)) {
        lo = 0.0;
        hi = 2.0;
    } else if (ts_dtype_is_uint(t)) {
        lo = 0.0;
        hi = ldexp(1.0, t.bits);
    } else {
        lo = -ldexp(1.0, t.bits - 1);
        hi = ldexp(1.0, t.bits - 1);
    }
    return value >= lo && value < hi;
}

static TsExpr *int_const(TsArena *arena, TsDType dtype, double value)
{
    if (ts_dtype_is_bool(dtype))
        return ts_bool(arena, value != 0.0);
    if (ts_dtype_is_uint(dtype) && value >= ldexp(1.0, 63))
        return ts_uint(arena, dtype, (uint64_t)value);
    return ts_int(arena, dtype, (int64_t)value);
}

static TsExpr *float_const(TsArena *arena, TsDType dtype, double value)
{
    if (ts_dtype_is_storage_only(dtype))
        return ts_cast(arena, dtype, ts_f32(arena, value));
    return ts_float(arena, dtype, value);
}

TsExpr *te_op_const(TsArena *arena, const char *op, const char *what, TsDType dtype, double value)
{
    char buf[TS_DTYPE_STR_MAX];
    bool ok;

    if (dtype.lanes != 1 || !ts_dtype_is_valid(dtype)) {
        ok = false;
    } else if (ts_dtype_is_float(dtype)) {
        double max = ts_dtype_is_bfloat(dtype) ? 0x1.fep127 /* bfloat16's largest */
                     : dtype.bits == 16         ? 65504.0
                     : dtype.bits == 32         ? FLT_MAX
                                                : DBL_MAX;
        ok = !isfinite(value) || fabs(value) <= max;
    } else {
        ok = isfinite(value) && value == floor(value) && int_in_range(dtype, value);
    }
    if (!ok) {
        ts_arena_fail(arena, TS_EINVAL, "%s: %s %g is not representable in %s", op, what, value,
                      ts_dtype_str(dtype, buf));
        return NULL;
    }
    return ts_dtype_is_float(dtype) ? float_const(arena, dtype, value)
                                    : int_const(arena, dtype, value);
}

TsExpr *te_op_cast(TsArena *arena, TsDType dtype, TsExpr *e, TsDType from)
{
    return ts_dtype_eq(dtype, from) ? e : ts_cast(arena, dtype, e);
}

TsExpr *te_op_scale(TsArena *arena, TsExpr *i, int64_t factor)
{
    return factor == 1 ? i : ts_mul(arena, i, ts_i32(arena, factor));
}

TsAxis **te_op_axes(TsArena *arena, const TeOpShape *shape, const char *const *names)
{
    TsAxis **axes = ts_arena_alloc(arena, (size_t)shape->ndim * sizeof *axes);

    if (axes == NULL)
        return NULL;
    for (int i = 0; i < shape->ndim; i++) {
        axes[i] = ts_axis(arena, names ? names[i] : default_axis_names[i], shape->dim[i]);
        if (axes[i] == NULL)
            return NULL;
    }
    return axes;
}

TsExpr **te_op_vars(TsArena *arena, int n, TsAxis *const *axes)
{
    TsExpr **vars = ts_arena_alloc(arena, (size_t)n * sizeof *vars);

    if (vars == NULL)
        return NULL;
    for (int i = 0; i < n; i++)
        vars[i] = ts_var(axes[i]);
    return vars;
}

/* ANDs b into a, where a NULL a means "true so far". */
static TsExpr *and_cond(TsArena *arena, TsExpr *a, TsExpr *b)
{
    return a == NULL ? b : ts_and(arena, a, b);
}

/* The padded shape, or false with an error when an extent leaves int32. */
static bool padded_shape(TsArena *arena, const char *op, const TeOpShape *shape,
                         const int64_t *before, const int64_t *after, TeOpShape *out)
{
    out->ndim = shape->ndim;
    for (int i = 0; i < shape->ndim; i++) {
        out->dim[i] = shape->dim[i] + before[i] + after[i];
        if (out->dim[i] > TS_MAX_EXTENT) {
            ts_arena_fail(arena, TS_EINVAL, "%s: padded extent %lld of dimension %d exceeds %lld",
                          op, (long long)out->dim[i], i, (long long)TS_MAX_EXTENT);
            return false;
        }
    }
    return true;
}

TsTensor *te_op_pad(TsArena *arena, const char *op, TsTensor *data, const TeOpShape *shape,
                    const int64_t *before, const int64_t *after, TsExpr *pad_value)
{
    TeOpShape out_shape;
    TsAxis **axes;
    TsExpr **index, *inside = NULL;

    if (pad_value == NULL) /* its builder recorded why */
        return NULL;
    if (!padded_shape(arena, op, shape, before, after, &out_shape))
        return NULL;
    axes = te_op_axes(arena, &out_shape, NULL);
    index = axes ? te_op_vars(arena, shape->ndim, axes) : NULL;
    if (index == NULL)
        return NULL;
    for (int i = 0; i < shape->ndim; i++) {
        TsExpr *var = index[i];
        if (before[i] > 0) {
            inside = and_cond(arena, inside, ts_ge(arena, var, ts_i32(arena, before[i])));
            index[i] = ts_sub(arena, var, ts_i32(arena, before[i]));
        }
        if (after[i] > 0)
            inside = and_cond(arena, inside,
                              ts_lt(arena, var, ts_i32(arena, before[i] + shape->dim[i])));
    }
    TsExpr *body = ts_access(arena, data, shape->ndim, index);
    if (inside != NULL)
        body = ts_if_then_else(arena, inside, body, pad_value);
    return ts_compute_tagged(arena, "pad", "pad", shape->ndim, axes, body);
}
