/* The tensor-expression IR: expressions, axes, tensors, compute ops, reductions, the
 * printer and the reference interpreter.
 *
 * An operator is written as compute ops over placeholders:
 *
 *     TsAxis *i = ts_axis(A, "i", M), *j = ts_axis(A, "j", N);
 *     TsAxis *k = ts_reduce_axis(A, "k", K);
 *     TsExpr *prod = ts_mul(A, ts_at(A, a, ts_var(i), ts_var(k)),
 *                              ts_at(A, b, ts_var(k), ts_var(j)));
 *     TsTensor *c = ts_compute(A, "C", 2, (TsAxis *[]){i, j},
 *                              ts_sum(A, prod, 1, (TsAxis *[]){k}, NULL));
 *
 * Every builder takes the arena the node lives in, checks its operands (dtypes, index
 * counts, axes, constant bounds) and returns NULL on bad input with the reason recorded
 * in the arena (see arena.h). A NULL operand gives NULL and keeps the first error.
 *
 * Semantics, stated once (the interpreter implements exactly these):
 * - Integers wrap around modulo 2^bits (two's complement); shifts by a negative amount
 *   or by bits or more are an evaluation error; right shift of a signed value is
 *   arithmetic.
 * - ts_div / ts_mod on integers truncate toward zero (C's / and %); ts_floordiv /
 *   ts_floormod round toward negative infinity (the remainder has the divisor's sign).
 *   Integer division or modulo by zero is an evaluation error; INT_MIN / -1 wraps.
 * - float32 arithmetic rounds to float32 after every operation (no contraction);
 *   float64 likewise. min/max return the other operand when one is NaN.
 * - Casts: integer to integer truncates or extends; float to integer rounds toward
 *   zero and saturates to the target's range (NaN gives 0); to bool is "!= 0";
 *   float64 to float32 and float to float16 round to nearest even; anything to
 *   bfloat16 converts to float32 first, then rounds to nearest even (dtype.h).
 * - float16 and bfloat16 are storage types: they can be loaded, stored, selected and
 *   cast, not computed with. Cast to float32 first: a product of two bfloat16 values is
 *   exact in float32, so a bf16 dot product is float32 products summed in float32.
 * - ts_select evaluates both branches; ts_if_then_else evaluates only the chosen one,
 *   so it can guard an access that would be out of bounds (padding).
 * - A reduction must be the whole body of its compute op. Its condition, when given,
 *   guards the source like ts_if_then_else.
 */
#ifndef TESSERA_TE_H
#define TESSERA_TE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tessera/arena.h"
#include "tessera/dtype.h"
#include "tessera/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct TsExpr TsExpr;       /* an immutable expression node */
typedef struct TsAxis TsAxis;       /* an iteration axis: a variable with a range */
typedef struct TsTensor TsTensor;   /* a placeholder or the output of a compute op */
typedef struct TsReducer TsReducer; /* a commutative combiner with its identity */

/* Shapes and extents must lie in [1, TS_MAX_EXTENT]; tensors have at most
 * TS_MAX_DIMS dimensions. */
#define TS_MAX_DIMS 8
#define TS_MAX_EXTENT ((int64_t)INT32_MAX)

/* ---- constants and variables ---- */

/* An integer constant of an integer or bool dtype; the value must fit the dtype. */
TsExpr *ts_int(TsArena *arena, TsDType dtype, int64_t value);
/* An unsigned constant (for uint64 values above INT64_MAX). */
TsExpr *ts_uint(TsArena *arena, TsDType dtype, uint64_t value);
/* An int32 constant: the dtype of axes and index arithmetic. */
TsExpr *ts_i32(TsArena *arena, int64_t value);
TsExpr *ts_float(TsArena *arena, TsDType dtype, double value);
TsExpr *ts_f32(TsArena *arena, double value);
TsExpr *ts_bool(TsArena *arena, bool value);
/* A free variable, e.g. an operand of a user-defined reducer. */
TsExpr *ts_variable(TsArena *arena, const char *name, TsDType dtype);

/* ---- axes ---- */

/* A data-parallel axis over [0, extent), for the output dimensions of a compute op. */
TsAxis *ts_axis(TsArena *arena, const char *name, int64_t extent);
/* A reduction axis over [0, extent). */
TsAxis *ts_reduce_axis(TsArena *arena, const char *name, int64_t extent);
/* The axis's int32 loop variable, for use in expressions. NULL for a NULL axis. */
TsExpr *ts_var(const TsAxis *axis);
const char *ts_axis_name(const TsAxis *axis);
int64_t ts_axis_extent(const TsAxis *axis);
bool ts_axis_is_reduce(const TsAxis *axis);

/* ---- arithmetic: operands must have the same dtype ---- */

TsExpr *ts_add(TsArena *arena, TsExpr *a, TsExpr *b);
TsExpr *ts_sub(TsArena *arena, TsExpr *a, TsExpr *b);
TsExpr *ts_mul(TsArena *arena, TsExpr *a, TsExpr *b);
TsExpr *ts_div(TsArena *arena, TsExpr *a, TsExpr *b);      /* float division, or truncating */
TsExpr *ts_mod(TsArena *arena, TsExpr *a, TsExpr *b);      /* integers: truncating remainder */
TsExpr *ts_floordiv(TsArena *arena, TsExpr *a, TsExpr *b); /* integers */
TsExpr *ts_floormod(TsArena *arena, TsExpr *a, TsExpr *b); /* integers */
TsExpr *ts_min(TsArena *arena, TsExpr *a, TsExpr *b);
TsExpr *ts_max(TsArena *arena, TsExpr *a, TsExpr *b);
TsExpr *ts_neg(TsArena *arena, TsExpr *a);

/* Comparisons give bool. */
TsExpr *ts_eq(TsArena *arena, TsExpr *a, TsExpr *b);
TsExpr *ts_ne(TsArena *arena, TsExpr *a, TsExpr *b);
TsExpr *ts_lt(TsArena *arena, TsExpr *a, TsExpr *b);
TsExpr *ts_le(TsArena *arena, TsExpr *a, TsExpr *b);
TsExpr *ts_gt(TsArena *arena, TsExpr *a, TsExpr *b);
TsExpr *ts_ge(TsArena *arena, TsExpr *a, TsExpr *b);

/* Logical operators take and give bool. */
TsExpr *ts_and(TsArena *arena, TsExpr *a, TsExpr *b);
TsExpr *ts_or(TsArena *arena, TsExpr *a, TsExpr *b);
TsExpr *ts_not(TsArena *arena, TsExpr *a);

/* Bitwise operators take integers (and bool for and/or/xor). */
TsExpr *ts_bitand(TsArena *arena, TsExpr *a, TsExpr *b);
TsExpr *ts_bitor(TsArena *arena, TsExpr *a, TsExpr *b);
TsExpr *ts_bitxor(TsArena *arena, TsExpr *a, TsExpr *b);
TsExpr *ts_bitnot(TsArena *arena, TsExpr *a);
TsExpr *ts_shl(TsArena *arena, TsExpr *a, TsExpr *b);
TsExpr *ts_shr(TsArena *arena, TsExpr *a, TsExpr *b);
/* Number of set bits of an integer, in the operand's dtype. */
TsExpr *ts_popcount(TsArena *arena, TsExpr *a);

/* cond is bool; then_value and else_value have one dtype. */
TsExpr *ts_select(TsArena *arena, TsExpr *cond, TsExpr *then_value, TsExpr *else_value);
TsExpr *ts_if_then_else(TsArena *arena, TsExpr *cond, TsExpr *then_value,
                        TsExpr *else_value);
TsExpr *ts_cast(TsArena *arena, TsDType dtype, TsExpr *a);

/* Math on float32 or float64. */
TsExpr *ts_exp(TsArena *arena, TsExpr *a);
TsExpr *ts_log(TsArena *arena, TsExpr *a);
TsExpr *ts_sqrt(TsArena *arena, TsExpr *a);
TsExpr *ts_tanh(TsArena *arena, TsExpr *a);
TsExpr *ts_sigmoid(TsArena *arena, TsExpr *a); /* 1 / (1 + exp(-a)) */
TsExpr *ts_fabs(TsArena *arena, TsExpr *a);
TsExpr *ts_floor(TsArena *arena, TsExpr *a);
TsExpr *ts_ceil(TsArena *arena, TsExpr *a);
TsExpr *ts_pow(TsArena *arena, TsExpr *a, TsExpr *b);

/* ---- target intrinsics and bit reinterpretation ---- */

/* A call of the LLVM intrinsic name ("llvm.ctpop.v16i32", "llvm.fshl.i32",
 * "llvm.x86.avx512.vpdpbusd.512") on up to 16 arguments, giving dtype (scalar or
 * vector). An overloaded intrinsic names its overload types in LLVM's mangling
 * ("llvm.ctpop.v16i32"); a bare overloaded name is tried with the result's type and
 * then the first argument's. The call is opaque: passes keep it as written, the
 * vectorizer refuses to widen it (its lanes are the intrinsic's business), and the
 * interpreters refuse to run it (TS_EINVAL naming the intrinsic). Codegen checks the name,
 * the argument count and every type against LLVM's declaration (TS_ECODEGEN). The target
 * must have what the intrinsic needs (codegen's ts_target_has_feature tells). */
TsExpr *ts_call_intrinsic(TsArena *arena, const char *name, TsDType dtype, int num_args,
                          TsExpr *const *args);
/* The bits of a read as dtype (LLVM's bitcast): int32x16 <-> int8x64, float32 <->
 * int32. The total bits (lanes * bits) must be equal; bool is refused (its storage is
 * not its value's width). The interpreters evaluate it exactly. */
TsExpr *ts_reinterpret(TsArena *arena, TsDType dtype, TsExpr *a);

/* ---- tensor access ---- */

/* tensor[indices...]: one int32 index per dimension. A constant index, or an index
 * that is a sum of distinct axes times constants plus a constant, must stay inside
 * the tensor's shape unless it is guarded by ts_if_then_else or a reduction's
 * condition. */
TsExpr *ts_access(TsArena *arena, TsTensor *tensor, int num_indices, TsExpr *const *indices);
/* ts_at(A, t, i, j) is ts_access with the index count taken from the list. */
#define ts_at(arena, tensor, ...)                                                          \
    ts_access((arena), (tensor), (int)(sizeof((TsExpr *[]){__VA_ARGS__}) / sizeof(TsExpr *)), \
              (TsExpr *[]){__VA_ARGS__})

/* ---- reductions ---- */

/* A user-defined combiner: lhs and rhs are variables (ts_variable) of the reduction's
 * dtype; combined uses only them; identity is a constant with combined(identity, x) ==
 * x. */
TsReducer *ts_reducer(TsArena *arena, const char *name, TsExpr *lhs, TsExpr *rhs,
                      TsExpr *combined, TsExpr *identity);
/* Reduces source over the given reduce axes, visiting only points where cond (bool,
 * may be NULL) holds. The result has source's dtype. */
TsExpr *ts_reduce(TsArena *arena, const TsReducer *reducer, TsExpr *source, int num_axes,
                  TsAxis *const *axes, TsExpr *cond);
TsExpr *ts_sum(TsArena *arena, TsExpr *source, int num_axes, TsAxis *const *axes,
               TsExpr *cond);
TsExpr *ts_prod(TsArena *arena, TsExpr *source, int num_axes, TsAxis *const *axes,
                TsExpr *cond);
TsExpr *ts_reduce_max(TsArena *arena, TsExpr *source, int num_axes, TsAxis *const *axes,
                      TsExpr *cond);
TsExpr *ts_reduce_min(TsArena *arena, TsExpr *source, int num_axes, TsAxis *const *axes,
                      TsExpr *cond);

/* ---- tensors ---- */

/* An input of the DAG. Names must be non-empty. */
TsTensor *ts_placeholder(TsArena *arena, const char *name, int ndim, const int64_t *shape,
                         TsDType dtype);
/* A compute op: out[axes...] = body. The axes are distinct data-parallel axes, one per
 * output dimension (their extents are the shape); body may use only them, the reduce
 * axes of its own reduction, and tensors. The tensor's dtype is body's. */
TsTensor *ts_compute(TsArena *arena, const char *name, int ndim, TsAxis *const *axes,
                     TsExpr *body);
/* The same with a tag naming the operator kind ("conv2d_nchw"), which schedule
 * templates match on. */
TsTensor *ts_compute_tagged(TsArena *arena, const char *name, const char *tag, int ndim,
                            TsAxis *const *axes, TsExpr *body);

const char *ts_tensor_name(const TsTensor *t);
const char *ts_tensor_tag(const TsTensor *t); /* "" when untagged */
TsDType ts_tensor_dtype(const TsTensor *t);
int ts_tensor_ndim(const TsTensor *t);
/* The extent of dimension i, or -1 when it is not a constant or i is out of range. */
int64_t ts_tensor_dim(const TsTensor *t, int i);
/* The extent of dimension i as an expression (room for symbolic shapes). */
TsExpr *ts_tensor_shape_expr(const TsTensor *t, int i);
/* Number of elements, or -1 when the shape is not constant. */
int64_t ts_tensor_num_elements(const TsTensor *t);
bool ts_tensor_is_placeholder(const TsTensor *t);
/* For compute ops: the output axes, the body, and the distinct tensors the body reads
 * (in order of first use). */
TsAxis *ts_tensor_axis(const TsTensor *t, int i);
TsExpr *ts_tensor_body(const TsTensor *t);
int ts_tensor_num_inputs(const TsTensor *t);
TsTensor *ts_tensor_input(const TsTensor *t, int i);

/* ---- the DAG ---- */

/* The stages (placeholders and compute ops) that the outputs depend on, in an order
 * where every tensor comes after its inputs. Returns the count and sets *stages to an
 * array in the arena, or returns -1 with the error in the arena. */
int ts_dag_stages(TsArena *arena, int num_outputs, TsTensor *const *outputs,
                  TsTensor ***stages);

/* ---- printing ---- */

/* Text of an expression, e.g. "(A[i, k] * B[k, j])", in the arena. */
const char *ts_expr_str(TsArena *arena, const TsExpr *e);
/* One line per stage, inputs first, e.g.
 *   placeholder A: float32[64, 32]
 *   compute C[i, j]: float32[64, 16] = sum((A[i, k] * B[k, j]), axis=[k:32])  # matmul
 * The text lives in the arena; NULL with the error in the arena on failure. */
const char *ts_dag_str(TsArena *arena, int num_outputs, TsTensor *const *outputs);

/* ---- the reference interpreter ---- */

/* A tensor's data: a dense row-major buffer of its dtype (bool is one byte, 0 or 1;
 * float16 is the IEEE half's bits, bfloat16 the upper 16 bits of a float32). */
typedef struct TsBinding {
    const TsTensor *tensor;
    void *data;
} TsBinding;

/* Evaluates the DAG of outputs straight from its definitions. Every placeholder it
 * reads and every output must be bound; an intermediate compute op that is bound is
 * written too, others get temporary buffers. Reading outside a tensor, dividing an
 * integer by zero or shifting out of range is an error that names the stage and the
 * point. */
TsStatus ts_evaluate(int num_outputs, TsTensor *const *outputs, int num_bindings,
                     const TsBinding *bindings, TsError *err);

/* ---- lowered loop nests ---- */

/* A kernel lowered from a schedule (schedule.h's ts_lower): arguments are buffers of
 * the placeholders and outputs, the body a loop nest. */
typedef struct TsLoweredFunc TsLoweredFunc;

/* The loop nest as text, one statement per line, as tvm.lower(simple_mode=True) shows. */
const char *ts_lowered_str(TsArena *arena, const TsLoweredFunc *func);
/* The kernel's name (ts_lower's name argument). */
const char *ts_lowered_name(const TsLoweredFunc *func);
/* Number of arguments and the tensor of argument i. */
int ts_lowered_num_args(const TsLoweredFunc *func);
const TsTensor *ts_lowered_arg(const TsLoweredFunc *func, int i);

/* Vector code in a loop nest (after the vectorize pass) follows the scalar rules lane by
 * lane: ts_if_then_else is lazy per lane (a lane whose condition is false reads
 * nothing), a scalar index next to vector ones is the same for every lane, and a vector
 * store whose lanes hit one address leaves the last lane's value. */

/* The loop-nest interpreter: runs the lowered IR on the caller's buffers (bound as for
 * ts_evaluate: every argument's tensor to a dense row-major buffer), so a wrong
 * lowering is caught before any code is generated. Reads and writes outside a buffer,
 * integer division by zero and out-of-range shifts are errors naming the statement. */
TsStatus ts_lowered_run(const TsLoweredFunc *func, int num_bindings, const TsBinding *bindings,
                        TsError *err);

#ifdef __cplusplus
}
#endif

#endif /* TESSERA_TE_H */
