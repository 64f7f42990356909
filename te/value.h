/* Scalar values and the operations on them, exactly per the semantics stated in te.h.
 * Shared by the two interpreters of te/: interp.c (tensor expressions) and loop_interp.c
 * (loop nests, which applies them lane by lane), so the two oracles cannot disagree on
 * what an operator means. */
#ifndef TESSERA_TE_VALUE_H
#define TESSERA_TE_VALUE_H

#include <stdint.h>

#include "te_internal.h"

/* One scalar (one lane) of a dtype its holder knows. Integers and bools are canonical
 * (te_wrap_int); floats are doubles already rounded to their dtype. */
typedef union TeValue {
    int64_t i;
    double f;
} TeValue;

/* Reads or writes one element of t's element type at p, in a buffer's layout (bool one
 * byte, 0 or 1; float16 the IEEE half's bits, bfloat16 the upper half of a float32's). Only t's code and bits matter. */
TeValue te_value_load(TsDType t, const void *p);
void te_value_store(TsDType t, void *p, TeValue v);

/* a <op> b for a binary operator kind (ADD ... SHR) on values of dtype t, the operands'
 * dtype (comparisons and logical operators give bool). On an evaluation error (integer
 * division by zero, a shift out of range, an operator the dtype does not have) returns
 * TS_EINVAL with the reason in why, for the caller to say where it happened. */
TsStatus te_value_binary(TeExprKind kind, TsDType t, TeValue a, TeValue b, TeValue *out,
                         TsError *why);
/* NOT, BITNOT or POPCOUNT of a value of dtype t; TS_EINVAL for other kinds. */
TsStatus te_value_unary(TeExprKind kind, TsDType t, TeValue a, TeValue *out, TsError *why);
/* A value of dtype from converted to dtype to (saturating float to integer, one rounding;
 * to bfloat16 first to float32, then to nearest even, as dtype.h says). */
TeValue te_value_cast(TsDType from, TsDType to, TeValue v);
/* The bits of from.lanes values of dtype from (in) read as to.lanes values of dtype to
 * (out): lanes laid out as in memory, little-endian, as LLVM's bitcast does on x86-64 and
 * aarch64. The total bits must be equal and neither dtype bool (ts_reinterpret checks).
 * Floats pass through doubles, so a signaling NaN comes out quieted. */
void te_value_reinterpret(TsDType from, const TeValue *in, TsDType to, TeValue *out);
/* A math function on float32 or float64 values of dtype t; b is the second operand of
 * binary functions (pow), ignored by unary ones. */
TeValue te_value_call(TeCallKind fn, TsDType t, TeValue a, TeValue b);

#endif /* TESSERA_TE_VALUE_H */
