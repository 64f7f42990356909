/* Helpers shared by the files of the operator library (te/ops/): argument checks whose
 * messages name the operator and the culprit, constants that must be representable in a
 * dtype, axes over a shape, and the constant-padding stage that conv2d reuses.
 *
 * Every check returns true when the argument is good, or records the first error in
 * the arena and returns false, so a builder reads as a list of checks followed by the
 * compute definition.
 */
#ifndef TESSERA_TE_OPS_INTERNAL_H
#define TESSERA_TE_OPS_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "tessera/ops.h"

/* A tensor's constant shape. */
typedef struct TeOpShape {
    int ndim;
    int64_t dim[TS_MAX_DIMS];
} TeOpShape;

/* The tensor exists and has a constant shape; fills *shape. `what` names the argument
 * ("data", "weight"). */
bool te_op_tensor(TsArena *arena, const char *op, const char *what, const TsTensor *t,
                  TeOpShape *shape);
/* The tensor (already checked with te_op_tensor) has rank ndim. */
bool te_op_rank(TsArena *arena, const char *op, const char *what, const TsTensor *t,
                const TeOpShape *shape, int ndim);
/* Arithmetic accepts the tensor's dtype: a scalar integer or float32/float64. */
bool te_op_arith(TsArena *arena, const char *op, const char *what, const TsTensor *t);
/* The tensor's dtype is float32 or float64. */
bool te_op_float(TsArena *arena, const char *op, const char *what, const TsTensor *t);
/* Both tensors have one dtype. */
bool te_op_same_dtype(TsArena *arena, const char *op, const char *what_a, const TsTensor *a,
                      const char *what_b, const TsTensor *b);
/* The dtype a product of `in` operands accumulates in: `requested`, or `in` when
 * requested.bits == 0. Checks that `in` is numeric and the result computable. */
bool te_op_accum_dtype(TsArena *arena, const char *op, TsDType in, TsDType requested, TsDType *out);
/* A 1-D parameter tensor (bias, gamma, ...) of `dtype` with `extent` elements. */
bool te_op_vector(TsArena *arena, const char *op, const char *what, const TsTensor *t,
                  TsDType dtype, int64_t extent);
/* Normalizes axis in [-ndim, ndim) (or [-ndim, ndim] when allow_end) into *out. */
bool te_op_axis(TsArena *arena, const char *op, int axis, int ndim, bool allow_end, int *out);
/* An attribute lies in [lo, TS_MAX_EXTENT]; `what` is e.g. "stride[0]". */
bool te_op_attr(TsArena *arena, const char *op, const char *what, int64_t value, int64_t lo);
/* The layout is one of TsLayout's values. */
bool te_op_layout(TsArena *arena, const char *op, TsLayout layout);

/* Product of extents, or -1 when it exceeds TS_MAX_EXTENT (int32 index arithmetic). */
int64_t te_op_num_elements(int ndim, const int64_t *dim);

/* A constant of dtype with the given value, or NULL with an error naming op and what
 * when the value is not representable (not integral, out of range, not 0/1 for bool).
 * float16 constants are float32 constants cast to float16. */
TsExpr *te_op_const(TsArena *arena, const char *op, const char *what, TsDType dtype, double value);
/* e converted to dtype; e itself when it already has that dtype. */
TsExpr *te_op_cast(TsArena *arena, TsDType dtype, TsExpr *e, TsDType from);
/* i * factor, or i when factor is 1 (keeps index expressions small). */
TsExpr *te_op_scale(TsArena *arena, TsExpr *i, int64_t factor);

/* Data-parallel axes over shape, named from names (or "i0", "i1", ... when NULL), in
 * the arena; NULL on failure. */
TsAxis **te_op_axes(TsArena *arena, const TeOpShape *shape, const char *const *names);
/* Loop variables of axes[0..n), in the arena; NULL on failure. */
TsExpr **te_op_vars(TsArena *arena, int n, TsAxis *const *axes);

/* The "pad" stage: out[i] = data[i - before] inside the data and pad_value (of data's
 * dtype) outside. Extents (already checked >= 0) must keep the output within
 * TS_MAX_EXTENT; the error names op. */
TsTensor *te_op_pad(TsArena *arena, const char *op, TsTensor *data, const TeOpShape *shape,
                    const int64_t *before, const int64_t *after, TsExpr *pad_value);


/* ---- shared by the graph-level builders (broadcast.c and the files after it) ---- */

/* The numpy broadcast of n shapes into *out: aligned at the last dimension, each set of
 * extents equal or 1. The error names op and the dimension. */
bool te_op_broadcast_shape(TsArena *arena, const char *op, int n, const TeOpShape *shapes,
                           TeOpShape *out);
/* t at the output point vars (out_ndim of them) of a broadcast, index 0 where t's extent
 * is 1. */
TsExpr *te_op_broadcast_access(TsArena *arena, TsTensor *t, const TeOpShape *shape, int out_ndim,
                               TsExpr *const *vars);
/* An elementwise stage over shape whose body is body(arena, x, ctx) with x the data at the
 * output point. */
typedef TsExpr *(*TeOpUnaryFn)(TsArena *arena, TsExpr *x, TsDType dtype, const void *ctx);
TsTensor *te_op_unary(TsArena *arena, const char *op, TsTensor *data, bool need_float,
                      TeOpUnaryFn fn, const void *ctx);
/* erf(x) for a float32 or float64 expression (Abramowitz and Stegun 7.1.26, absolute
 * error below 1.5e-7, evaluated in float64). */
TsExpr *te_op_erf_expr(TsArena *arena, TsExpr *x, TsDType dtype);

#endif /* TESSERA_TE_OPS_INTERNAL_H */
