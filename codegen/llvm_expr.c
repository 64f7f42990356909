/* Expressions of the loop-nest IR as LLVM values, scalar or vector, with exactly the
 * semantics of te.h that te/loop_interp.c implements lane by lane:
 * - integers wrap (plain add/sub/mul, no nsw); truncating division is sdiv/udiv, floor
 *   division corrects the quotient when the remainder's sign differs from the divisor's;
 *   a divisor that is not a constant other than 0 and -1 is checked at run time: zero
 *   returns -1 with "integer division by zero in <expr>", and INT_MIN / -1 wraps
 *   instead of trapping (the divisor -1 is handled with a negation);
 * - a shift amount that is not a constant in range is checked: outside [0, bits) returns
 *   -1 with a message; right shifts are arithmetic on signed values;
 * - floats: one operation per IR node, except that a * b + c may contract into
 *   llvm.fmuladd (the interpreter rounds the product, so tests compare floats with a
 *   tolerance); min/max are llvm.minnum/maxnum (a NaN operand yields the other);
 * - casts: float to integer is llvm.fptosi.sat / fptoui.sat (toward zero, saturating,
 *   NaN to 0); integer to float16 goes through double, as the interpreter rounds;
 *   float16 is only loaded, stored and converted; bfloat16 is held as its i16 bits and
 *   converted with integer operations that vectorize (to float32: shift into the upper
 *   half; from float32: round to nearest even by adding 0x7fff plus the kept lowest
 *   bit, a NaN quieted instead), any other type going through float32 as te.h says;
 * - if_then_else is lazy: a scalar condition branches; a vector condition evaluates each
 *   branch under a lane mask, where loads become llvm.masked.load/gather and checks
 *   look only at active lanes, so an inactive lane reads nothing and fails nothing.
 * Vector accesses: a flat index ramp(base, 1, n) is one contiguous vector load or store
 * of n elements, an index that is the same in every lane is one scalar access, and any
 * other vector index is a gather or scatter. Accesses assume only element alignment. */
#include <stdio.h>
#include <string.h>

#include "cg_internal.h"

static LLVMValueRef fail_null(CgFunc *f, const char *what, const TsExpr *e)
{
    cg_fail(f->m, TS_ECODEGEN, "%s: cannot generate %s: %s", f->kernel, what,
            cg_expr_text(f->m, e, 0));
    return NULL;
}

static int lanes_of(LLVMValueRef v)
{
    LLVMTypeRef t = LLVMTypeOf(v);
    return LLVMGetTypeKind(t) == LLVMVectorTypeKind ? (int)LLVMGetVectorSize(t) : 1;
}

/* v with lanes lanes: a scalar is splatted. */
static LLVMValueRef widen(CgFunc *f, LLVMValueRef v, int lanes)
{
    if (!v || lanes <= 1 || lanes_of(v) == lanes)
        return v;
    return cg_splat(f, v, lanes);
}

/* A scalar child evaluated only when some lane of mask is active: the interpreter
 * evaluates a scalar operand for each active lane, so for none it evaluates nothing. */
static LLVMValueRef guarded_scalar(CgFunc *f, const TsExpr *e, LLVMValueRef mask)
{
    LLVMValueRef any = cg_any_lane(f, mask);
    if (!any)
        return NULL;
    LLVMBasicBlockRef before = LLVMGetInsertBlock(f->b);
    LLVMBasicBlockRef eval = cg_block(f, "active"), done = cg_block(f, "active_done");
    LLVMBuildCondBr(f->b, any, eval, done);
    LLVMPositionBuilderAtEnd(f->b, eval);
    LLVMValueRef value = cg_expr(f, e, NULL);
    if (!value)
        return NULL;
    LLVMBasicBlockRef end = LLVMGetInsertBlock(f->b);
    LLVMBuildBr(f->b, done);
    LLVMPositionBuilderAtEnd(f->b, done);
    LLVMValueRef phi = LLVMBuildPhi(f->b, LLVMTypeOf(value), "");
    LLVMValueRef values[] = { value, LLVMConstNull(LLVMTypeOf(value)) };
    LLVMBasicBlockRef blocks[] = { end, before };
    LLVMAddIncoming(phi, values, blocks, 2);
    return phi;
}

/* An operand under the parent's mask. */
static LLVMValueRef child(CgFunc *f, const TsExpr *c, LLVMValueRef mask)
{
    if (!mask || c->dtype.lanes > 1)
        return cg_expr(f, c, mask);
    if (!cg_expr_may_fail(c))
        return cg_expr(f, c, NULL);
    return guarded_scalar(f, c, mask);
}

LLVMValueRef cg_expr_masked(CgFunc *f, const TsExpr *e, LLVMValueRef mask)
{
    return child(f, e, mask);
}

/* Both operands of a binary node, with the lanes of the node. */
static bool operands(CgFunc *f, const TsExpr *a, const TsExpr *b, int lanes,
                     LLVMValueRef mask, LLVMValueRef *va, LLVMValueRef *vb)
{
    *va = widen(f, child(f, a, mask), lanes);
    *vb = *va ? widen(f, child(f, b, mask), lanes) : NULL;
    return *vb != NULL;
}

/* ---- constants ---- */

static LLVMValueRef constant(CgFunc *f, const TsExpr *e)
{
    TsDType scalar = ts_dtype_with_lanes(e->dtype, 1);
    LLVMTypeRef type = cg_type(f->m, scalar);
    LLVMValueRef c;
    if (e->kind == TE_FLOAT && ts_dtype_is_bfloat(scalar))
        c = LLVMConstInt(type, ts_float_to_bfloat16((float)e->u.float_value), false);
    else if (e->kind == TE_FLOAT)
        c = LLVMConstReal(type, e->u.float_value);
    else
        c = LLVMConstInt(type, (unsigned long long)e->u.int_value, false);
    if (e->dtype.lanes == 1)
        return c;
    LLVMValueRef lanes[1024];
    for (int i = 0; i < e->dtype.lanes; i++)
        lanes[i] = c;
    return LLVMConstVector(lanes, e->dtype.lanes);
}

/* lane * stride for lanes 0 .. n-1, as an i32 vector constant (wrapping). */
static LLVMValueRef lane_offsets(CgFunc *f, int lanes, int64_t stride)
{
    LLVMValueRef offsets[1024];
    for (int i = 0; i < lanes; i++)
        offsets[i] = LLVMConstInt(f->m->t_i32, (unsigned long long)((uint64_t)stride * (uint64_t)i),
                                  false);
    return LLVMConstVector(offsets, (unsigned)lanes);
}

/* ramp(base, stride, n): base + stride * [0 .. n-1] in wrapping int32. */
static LLVMValueRef ramp(CgFunc *f, const TsExpr *e, LLVMValueRef mask)
{
    int lanes = e->u.ramp.lanes;
    int64_t stride;
    LLVMValueRef base = widen(f, child(f, e->u.ramp.base, mask), lanes);
    if (!base)
        return NULL;
    LLVMValueRef offsets = NULL;
    bool fits = cg_no_wrap(f, e);
    if (te_const_int(e->u.ramp.stride, &stride)) {
        offsets = lane_offsets(f, lanes, stride);
    } else {
        LLVMValueRef step = widen(f, child(f, e->u.ramp.stride, mask), lanes);
        if (!step)
            return NULL;
        LLVMValueRef k = lane_offsets(f, lanes, 1);
        offsets = fits ? LLVMBuildNSWMul(f->b, step, k, "") : LLVMBuildMul(f->b, step, k, "");
    }
    return fits ? LLVMBuildNSWAdd(f->b, base, offsets, "ramp")
                : LLVMBuildAdd(f->b, base, offsets, "ramp");
}

/* ---- arithmetic ---- */

/* a * b + c (or - c, or c - a * b) on floats as llvm.fmuladd. NULL when e is not such a
 * node; *failed tells a real failure apart. */
static LLVMValueRef try_fmuladd(CgFunc *f, const TsExpr *e, LLVMValueRef mask, bool *failed)
{
    *failed = false;
    if (!ts_dtype_is_float(e->dtype) || (e->kind != TE_ADD && e->kind != TE_SUB))
        return NULL;
    const TsExpr *a = e->u.op.a, *b = e->u.op.b;
    bool product_first = a->kind == TE_MUL;
    if (!product_first && b->kind != TE_MUL)
        return NULL;
    const TsExpr *product = product_first ? a : b, *addend = product_first ? b : a;
    int lanes = e->dtype.lanes;
    LLVMValueRef x, y, z;
    if (!operands(f, product->u.op.a, product->u.op.b, lanes, mask, &x, &y) ||
        !(z = widen(f, child(f, addend, mask), lanes))) {
        *failed = true;
        return NULL;
    }
    if (e->kind == TE_SUB && product_first)
        z = LLVMBuildFNeg(f->b, z, ""); /* a * b - c */
    else if (e->kind == TE_SUB)
        x = LLVMBuildFNeg(f->b, x, ""); /* c - a * b */
    LLVMTypeRef type = LLVMTypeOf(x);
    return cg_intrinsic(f, "llvm.fmuladd", 1, &type, 3, (LLVMValueRef[]){ x, y, z });
}

/* Integer add, sub or mul: wrapping, unless the bounds of the variables prove that the
 * value always fits its type; then nsw (signed) or nuw (unsigned), which lets LLVM widen
 * index arithmetic into addressing modes. */
static LLVMValueRef int_arith(CgFunc *f, const TsExpr *e, LLVMValueRef a, LLVMValueRef b)
{
    LLVMBuilderRef bld = f->b;
    bool fits = !ts_dtype_is_bool(e->dtype) && cg_no_wrap(f, e);
    bool is_unsigned = ts_dtype_is_uint(e->dtype);
    if (e->kind == TE_ADD)
        return !fits ? LLVMBuildAdd(bld, a, b, "")
               : is_unsigned ? LLVMBuildNUWAdd(bld, a, b, "") : LLVMBuildNSWAdd(bld, a, b, "");
    if (e->kind == TE_SUB)
        return !fits ? LLVMBuildSub(bld, a, b, "")
               : is_unsigned ? LLVMBuildNUWSub(bld, a, b, "") : LLVMBuildNSWSub(bld, a, b, "");
    return !fits ? LLVMBuildMul(bld, a, b, "")
           : is_unsigned ? LLVMBuildNUWMul(bld, a, b, "") : LLVMBuildNSWMul(bld, a, b, "");
}

static LLVMValueRef arith(CgFunc *f, const TsExpr *e, LLVMValueRef mask)
{
    bool failed;
    LLVMValueRef fused = try_fmuladd(f, e, mask, &failed);
    if (fused || failed)
        return fused;
    LLVMValueRef a, b;
    if (!operands(f, e->u.op.a, e->u.op.b, e->dtype.lanes, mask, &a, &b))
        return NULL;
    if (ts_dtype_is_float(e->dtype)) {
        if (e->kind == TE_ADD)
            return LLVMBuildFAdd(f->b, a, b, "");
        return e->kind == TE_SUB ? LLVMBuildFSub(f->b, a, b, "") : LLVMBuildFMul(f->b, a, b, "");
    }
    return int_arith(f, e, a, b);
}

/* Division by a constant that cannot fail (not 0, not -1 when signed); NULL for a signed
 * floor division or remainder by a constant that is not a power of two. */
static LLVMValueRef divide_by_constant(CgFunc *f, TeExprKind kind, bool is_signed,
                                       LLVMValueRef a, LLVMValueRef b, int64_t c)
{
    LLVMBuilderRef bld = f->b;
    if (!is_signed || kind == TE_DIV || kind == TE_MOD) {
        bool quotient = kind == TE_DIV || kind == TE_FLOORDIV;
        if (is_signed)
            return quotient ? LLVMBuildSDiv(bld, a, b, "") : LLVMBuildSRem(bld, a, b, "");
        return quotient ? LLVMBuildUDiv(bld, a, b, "") : LLVMBuildURem(bld, a, b, "");
    }
    if (c > 0 && (c & (c - 1)) == 0) { /* floor division by 2^s: a shift or a mask */
        int s = 0;
        while ((INT64_C(1) << s) != c)
            s++;
        LLVMTypeRef type = LLVMTypeOf(a);
        LLVMValueRef amount = LLVMConstInt(LLVMGetTypeKind(type) == LLVMVectorTypeKind
                                               ? LLVMGetElementType(type) : type, (unsigned)s,
                                           false);
        LLVMValueRef low = LLVMConstInt(LLVMTypeOf(amount), (unsigned long long)(c - 1), false);
        int lanes = lanes_of(a);
        if (kind == TE_FLOORDIV)
            return LLVMBuildAShr(bld, a, widen(f, amount, lanes), "");
        return LLVMBuildAnd(bld, a, widen(f, low, lanes), "");
    }
    return NULL; /* the general floor correction follows */
}

/* Floor division from the truncating quotient q and remainder r of a / b (signed):
 * step down when the remainder is non-zero and its sign differs from the divisor's. */
static LLVMValueRef floor_correct(CgFunc *f, TeExprKind kind, LLVMValueRef b, LLVMValueRef q,
                                  LLVMValueRef r)
{
    LLVMValueRef zero = LLVMConstNull(LLVMTypeOf(r));
    LLVMValueRef nonzero = LLVMBuildICmp(f->b, LLVMIntNE, r, zero, "");
    LLVMValueRef signs = LLVMBuildICmp(f->b, LLVMIntSLT, LLVMBuildXor(f->b, r, b, ""), zero, "");
    LLVMValueRef adjust = LLVMBuildAnd(f->b, nonzero, signs, "");
    if (kind == TE_FLOORDIV)
        return LLVMBuildSub(f->b, q, LLVMBuildZExt(f->b, adjust, LLVMTypeOf(q), ""), "");
    return LLVMBuildAdd(f->b, r, LLVMBuildSelect(f->b, adjust, b, zero, ""), "");
}

/* A division whose divisor is checked at run time: zero in an active lane fails; the
 * divisor -1 (signed) is computed as a negation so that INT_MIN / -1 wraps. */
static LLVMValueRef divide_checked(CgFunc *f, const TsExpr *e, bool is_signed, LLVMValueRef a,
                                   LLVMValueRef b, LLVMValueRef mask)
{
    LLVMBuilderRef bld = f->b;
    LLVMTypeRef type = LLVMTypeOf(b);
    LLVMValueRef zero = LLVMConstNull(type);
    LLVMValueRef one = widen(f, LLVMConstInt(LLVMGetTypeKind(type) == LLVMVectorTypeKind
                                                 ? LLVMGetElementType(type) : type, 1, false),
                             lanes_of(b));
    LLVMValueRef minus_one = LLVMConstAllOnes(type);
    LLVMValueRef is_zero = LLVMBuildICmp(bld, LLVMIntEQ, b, zero, "");
    LLVMValueRef failing = mask ? LLVMBuildAnd(bld, is_zero, mask, "") : is_zero;
    char message[TS_ERROR_MESSAGE_MAX];
    snprintf(message, sizeof message, "integer division by zero in %s",
             cg_expr_text(f->m, e, 0));
    if (!cg_check(f, failing, message))
        return NULL;
    LLVMValueRef is_minus_one = is_signed ? LLVMBuildICmp(bld, LLVMIntEQ, b, minus_one, "")
                                          : LLVMConstNull(LLVMTypeOf(is_zero));
    LLVMValueRef unsafe = LLVMBuildOr(bld, is_zero, is_minus_one, "");
    LLVMValueRef safe = LLVMBuildSelect(bld, unsafe, one, b, "divisor");
    LLVMValueRef q = is_signed ? LLVMBuildSDiv(bld, a, safe, "") : LLVMBuildUDiv(bld, a, safe, "");
    LLVMValueRef r = is_signed ? LLVMBuildSRem(bld, a, safe, "") : LLVMBuildURem(bld, a, safe, "");
    if (is_signed) {
        q = LLVMBuildSelect(bld, is_minus_one, LLVMBuildNeg(bld, a, ""), q, "");
        r = LLVMBuildSelect(bld, is_minus_one, zero, r, "");
    }
    if (e->kind == TE_DIV || (!is_signed && e->kind == TE_FLOORDIV))
        return q;
    if (e->kind == TE_MOD || !is_signed)
        return r;
    return floor_correct(f, e->kind, b, q, r);
}

static LLVMValueRef divide(CgFunc *f, const TsExpr *e, LLVMValueRef mask)
{
    LLVMValueRef a, b;
    if (!operands(f, e->u.op.a, e->u.op.b, e->dtype.lanes, mask, &a, &b))
        return NULL;
    if (ts_dtype_is_float(e->dtype)) {
        if (e->kind == TE_DIV)
            return LLVMBuildFDiv(f->b, a, b, "");
        return fail_null(f, "a float remainder or floor division", e);
    }
    bool is_signed = !ts_dtype_is_uint(e->dtype) && !ts_dtype_is_bool(e->dtype);
    int64_t c;
    if (!cg_const_operand(e->u.op.b, &c) || c == 0 || (is_signed && c == -1))
        return divide_checked(f, e, is_signed, a, b, mask);
    LLVMValueRef fast = divide_by_constant(f, e->kind, is_signed, a, b, c);
    if (fast)
        return fast;
    /* signed floor division or remainder by a constant other than a power of two */
    LLVMValueRef q = LLVMBuildSDiv(f->b, a, b, ""), r = LLVMBuildSRem(f->b, a, b, "");
    return floor_correct(f, e->kind, b, q, r);
}

static LLVMValueRef min_max(CgFunc *f, const TsExpr *e, LLVMValueRef mask)
{
    LLVMValueRef a, b;
    if (!operands(f, e->u.op.a, e->u.op.b, e->dtype.lanes, mask, &a, &b))
        return NULL;
    bool is_max = e->kind == TE_MAX;
    const char *name;
    if (ts_dtype_is_float(e->dtype))
        name = is_max ? "llvm.maxnum" : "llvm.minnum";
    else if (ts_dtype_is_uint(e->dtype) || ts_dtype_is_bool(e->dtype))
        name = is_max ? "llvm.umax" : "llvm.umin";
    else
        name = is_max ? "llvm.smax" : "llvm.smin";
    LLVMTypeRef type = LLVMTypeOf(a);
    return cg_intrinsic(f, name, 1, &type, 2, (LLVMValueRef[]){ a, b });
}

static LLVMValueRef compare(CgFunc *f, const TsExpr *e, LLVMValueRef mask)
{
    static const LLVMRealPredicate real[] = { LLVMRealOEQ, LLVMRealUNE, LLVMRealOLT,
                                              LLVMRealOLE, LLVMRealOGT, LLVMRealOGE };
    static const LLVMIntPredicate sint[] = { LLVMIntEQ,  LLVMIntNE,  LLVMIntSLT,
                                             LLVMIntSLE, LLVMIntSGT, LLVMIntSGE };
    static const LLVMIntPredicate uint[] = { LLVMIntEQ,  LLVMIntNE,  LLVMIntULT,
                                             LLVMIntULE, LLVMIntUGT, LLVMIntUGE };
    LLVMValueRef a, b;
    if (!operands(f, e->u.op.a, e->u.op.b, e->dtype.lanes, mask, &a, &b))
        return NULL;
    TsDType t = e->u.op.a->dtype;
    int k = (int)e->kind - (int)TE_EQ; /* EQ NE LT LE GT GE, in that order */
    if (ts_dtype_is_float(t))
        return LLVMBuildFCmp(f->b, real[k], a, b, "");
    bool is_unsigned = ts_dtype_is_uint(t) || ts_dtype_is_bool(t);
    return LLVMBuildICmp(f->b, is_unsigned ? uint[k] : sint[k], a, b, "");
}

static LLVMValueRef bitwise(CgFunc *f, const TsExpr *e, LLVMValueRef mask)
{
    LLVMValueRef a, b;
    if (!operands(f, e->u.op.a, e->u.op.b, e->dtype.lanes, mask, &a, &b))
        return NULL;
    if (e->kind == TE_AND || e->kind == TE_BITAND)
        return LLVMBuildAnd(f->b, a, b, "");
    if (e->kind == TE_OR || e->kind == TE_BITOR)
        return LLVMBuildOr(f->b, a, b, "");
    return LLVMBuildXor(f->b, a, b, "");
}

/* a << b or a >> b; an amount outside [0, bits) in an active lane fails. */
static LLVMValueRef shift(CgFunc *f, const TsExpr *e, LLVMValueRef mask)
{
    LLVMValueRef a, b;
    if (!operands(f, e->u.op.a, e->u.op.b, e->dtype.lanes, mask, &a, &b))
        return NULL;
    int bits = e->dtype.bits;
    int64_t c;
    if (!(cg_const_operand(e->u.op.b, &c) && c >= 0 && c < bits)) {
        LLVMTypeRef scalar = cg_type(f->m, ts_dtype_with_lanes(e->dtype, 1));
        LLVMValueRef limit = widen(f, LLVMConstInt(scalar, (unsigned)bits, false), e->dtype.lanes);
        LLVMValueRef bad = LLVMBuildICmp(f->b, LLVMIntUGE, b, limit, "");
        if (mask)
            bad = LLVMBuildAnd(f->b, bad, mask, "");
        char message[TS_ERROR_MESSAGE_MAX];
        snprintf(message, sizeof message, "shift amount outside [0, %d) in %s", bits,
                 cg_expr_text(f->m, e, 0));
        if (!cg_check(f, bad, message))
            return NULL;
    }
    if (e->kind == TE_SHL)
        return LLVMBuildShl(f->b, a, b, "");
    if (ts_dtype_is_uint(e->dtype))
        return LLVMBuildLShr(f->b, a, b, "");
    return LLVMBuildAShr(f->b, a, b, "");
}

static LLVMValueRef unary(CgFunc *f, const TsExpr *e, LLVMValueRef mask)
{
    LLVMValueRef a = widen(f, child(f, e->u.op.a, mask), e->dtype.lanes);
    if (!a)
        return NULL;
    if (e->kind == TE_POPCOUNT) {
        LLVMTypeRef type = LLVMTypeOf(a);
        return cg_intrinsic(f, "llvm.ctpop", 1, &type, 1, &a);
    }
    return LLVMBuildNot(f->b, a, ""); /* NOT on i1, BITNOT on integers */
}

/* ---- conditionals ---- */

static LLVMValueRef select_values(CgFunc *f, const TsExpr *e, LLVMValueRef mask)
{
    int lanes = e->dtype.lanes;
    LLVMValueRef cond = child(f, e->u.select.cond, mask);
    LLVMValueRef t = cond ? widen(f, child(f, e->u.select.then_value, mask), lanes) : NULL;
    LLVMValueRef v = t ? widen(f, child(f, e->u.select.else_value, mask), lanes) : NULL;
    return v ? LLVMBuildSelect(f->b, cond, t, v, "") : NULL;
}

/* if_then_else with a scalar condition: only the chosen branch runs. */
static LLVMValueRef branch_values(CgFunc *f, const TsExpr *e, LLVMValueRef cond,
                                  LLVMValueRef mask)
{
    int lanes = e->dtype.lanes;
    LLVMBasicBlockRef then_block = cg_block(f, "then"), else_block = cg_block(f, "else");
    LLVMBasicBlockRef done = cg_block(f, "endif");
    LLVMBuildCondBr(f->b, cond, then_block, else_block);
    LLVMPositionBuilderAtEnd(f->b, then_block);
    LLVMValueRef t = widen(f, child(f, e->u.select.then_value, mask), lanes);
    if (!t)
        return NULL;
    LLVMBasicBlockRef then_end = LLVMGetInsertBlock(f->b);
    LLVMBuildBr(f->b, done);
    LLVMPositionBuilderAtEnd(f->b, else_block);
    LLVMValueRef v = widen(f, child(f, e->u.select.else_value, mask), lanes);
    if (!v)
        return NULL;
    LLVMBasicBlockRef else_end = LLVMGetInsertBlock(f->b);
    LLVMBuildBr(f->b, done);
    LLVMPositionBuilderAtEnd(f->b, done);
    LLVMValueRef phi = LLVMBuildPhi(f->b, LLVMTypeOf(t), "");
    LLVMAddIncoming(phi, (LLVMValueRef[]){ t, v }, (LLVMBasicBlockRef[]){ then_end, else_end },
                    2);
    return phi;
}

/* Lanes active in mask (NULL: all) where cond is (or, negated, is not) true. */
static LLVMValueRef sub_mask(CgFunc *f, LLVMValueRef mask, LLVMValueRef cond, bool negate)
{
    LLVMValueRef lanes = negate ? LLVMBuildNot(f->b, cond, "") : cond;
    return mask ? LLVMBuildAnd(f->b, mask, lanes, "") : lanes;
}

static LLVMValueRef if_then_else(CgFunc *f, const TsExpr *e, LLVMValueRef mask)
{
    const TsExpr *then_value = e->u.select.then_value, *else_value = e->u.select.else_value;
    bool lazy = cg_expr_may_fail(then_value) || cg_expr_may_fail(else_value);
    if (!lazy) /* both branches are pure and cannot fail: evaluating both is the same */
        return select_values(f, e, mask);
    int lanes = e->dtype.lanes;
    LLVMValueRef cond = child(f, e->u.select.cond, mask);
    if (!cond)
        return NULL;
    if (e->u.select.cond->dtype.lanes == 1)
        return branch_values(f, e, cond, mask);
    LLVMValueRef t = widen(f, child(f, then_value, sub_mask(f, mask, cond, false)), lanes);
    LLVMValueRef v = t ? widen(f, child(f, else_value, sub_mask(f, mask, cond, true)), lanes)
                       : NULL;
    return v ? LLVMBuildSelect(f->b, cond, t, v, "") : NULL;
}

/* ---- casts ---- */

static LLVMValueRef float_to_int(CgFunc *f, LLVMValueRef v, TsDType from, TsDType to)
{
    LLVMTypeRef to_type = cg_type(f->m, to);
    if (from.bits == 16) /* float16 is converted through float */
        v = LLVMBuildFPExt(f->b, v, cg_type(f->m, ts_dtype_with_lanes(TS_FLOAT32, to.lanes)),
                           "");
    LLVMTypeRef types[] = { to_type, LLVMTypeOf(v) };
    const char *name = ts_dtype_is_uint(to) ? "llvm.fptoui.sat" : "llvm.fptosi.sat";
    return cg_intrinsic(f, name, 2, types, 1, &v);
}

static LLVMValueRef int_to_float(CgFunc *f, LLVMValueRef v, TsDType from, TsDType to)
{
    bool from_unsigned = ts_dtype_is_uint(from) || ts_dtype_is_bool(from);
    LLVMTypeRef to_type = cg_type(f->m, to);
    LLVMTypeRef via = to.bits == 16 ? cg_type(f->m, ts_dtype_with_lanes(TS_FLOAT64, to.lanes))
                                    : to_type;
    LLVMValueRef x = from_unsigned ? LLVMBuildUIToFP(f->b, v, via, "")
                                   : LLVMBuildSIToFP(f->b, v, via, "");
    return to.bits == 16 ? LLVMBuildFPTrunc(f->b, x, to_type, "") : x;
}

/* bfloat16 bits (i16 lanes) to float32: exact, the bits become the upper half. */
static LLVMValueRef bfloat_to_float(CgFunc *f, LLVMValueRef v, int lanes)
{
    LLVMTypeRef i32 = cg_type(f->m, ts_dtype_with_lanes(TS_INT32, lanes));
    LLVMValueRef wide = LLVMBuildZExt(f->b, v, i32, "");
    LLVMValueRef shifted = LLVMBuildShl(f->b, wide, widen(f, cg_i32(f->m, 16), lanes), "");
    return LLVMBuildBitCast(f->b, shifted, cg_type(f->m, ts_dtype_with_lanes(TS_FLOAT32, lanes)),
                            "");
}

/* float32 to bfloat16 bits, exactly as ts_float_to_bfloat16: round to nearest even
 * with integer operations (x + 0x7fff + bit 16 of x, the upper half kept), a NaN
 * becoming its upper half with the quiet bit set. */
static LLVMValueRef float_to_bfloat(CgFunc *f, LLVMValueRef v, int lanes)
{
    LLVMTypeRef i32 = cg_type(f->m, ts_dtype_with_lanes(TS_INT32, lanes));
    LLVMValueRef c16 = widen(f, cg_i32(f->m, 16), lanes);
    LLVMValueRef x = LLVMBuildBitCast(f->b, v, i32, "");
    LLVMValueRef upper = LLVMBuildLShr(f->b, x, c16, "");
    LLVMValueRef lowest = LLVMBuildAnd(f->b, upper, widen(f, cg_i32(f->m, 1), lanes), "");
    LLVMValueRef bias = LLVMBuildAdd(f->b, lowest, widen(f, cg_i32(f->m, 0x7fff), lanes), "");
    LLVMValueRef rounded = LLVMBuildLShr(f->b, LLVMBuildAdd(f->b, x, bias, ""), c16, "");
    LLVMValueRef quiet = LLVMBuildOr(f->b, upper, widen(f, cg_i32(f->m, 0x40), lanes), "");
    LLVMValueRef is_nan = LLVMBuildFCmp(f->b, LLVMRealUNO, v, v, "");
    LLVMValueRef bits = LLVMBuildSelect(f->b, is_nan, quiet, rounded, "");
    return LLVMBuildTrunc(f->b, bits, cg_type(f->m, ts_dtype_with_lanes(TS_BFLOAT16, lanes)), "");
}

static LLVMValueRef plain_cast(CgFunc *f, LLVMValueRef v, TsDType from, TsDType to);

/* A cast from or to bfloat16: through float32 on the bfloat16 side. */
static LLVMValueRef bfloat_cast(CgFunc *f, LLVMValueRef v, TsDType from, TsDType to)
{
    TsDType f32 = ts_dtype_with_lanes(TS_FLOAT32, to.lanes);
    if (ts_dtype_is_bfloat(from) && ts_dtype_is_bfloat(to))
        return v;
    if (ts_dtype_is_bfloat(from)) {
        LLVMValueRef x = bfloat_to_float(f, v, to.lanes);
        return ts_dtype_eq(to, f32) ? x : plain_cast(f, x, f32, to);
    }
    LLVMValueRef x = ts_dtype_eq(from, f32) ? v : plain_cast(f, v, from, f32);
    return x ? float_to_bfloat(f, x, to.lanes) : NULL;
}

static LLVMValueRef cast(CgFunc *f, const TsExpr *e, LLVMValueRef mask)
{
    TsDType from = e->u.cast.value->dtype, to = e->dtype;
    LLVMValueRef v = widen(f, child(f, e->u.cast.value, mask), to.lanes);
    if (!v)
        return NULL;
    from = ts_dtype_with_lanes(from, to.lanes);
    if (ts_dtype_is_bfloat(from) || ts_dtype_is_bfloat(to))
        return bfloat_cast(f, v, from, to);
    return plain_cast(f, v, from, to);
}

/* A cast between types other than bfloat16, lanes already matched. */
static LLVMValueRef plain_cast(CgFunc *f, LLVMValueRef v, TsDType from, TsDType to)
{
    LLVMTypeRef to_type = cg_type(f->m, to);
    bool from_float = ts_dtype_is_float(from), to_float = ts_dtype_is_float(to);
    if (ts_dtype_is_bool(to))
        return from_float ? LLVMBuildFCmp(f->b, LLVMRealUNE, v, LLVMConstNull(LLVMTypeOf(v)), "")
                          : LLVMBuildICmp(f->b, LLVMIntNE, v, LLVMConstNull(LLVMTypeOf(v)), "");
    if (from_float && to_float) {
        if (from.bits == to.bits)
            return v;
        return from.bits < to.bits ? LLVMBuildFPExt(f->b, v, to_type, "")
                                   : LLVMBuildFPTrunc(f->b, v, to_type, "");
    }
    if (from_float)
        return float_to_int(f, v, from, to);
    if (to_float)
        return int_to_float(f, v, from, to);
    bool from_signed = !ts_dtype_is_uint(from) && !ts_dtype_is_bool(from);
    return LLVMBuildIntCast2(f->b, v, to_type, from_signed, "");
}

/* ---- math calls ---- */

/* fn(x) on every lane through the C library (math without an LLVM intrinsic). */
static LLVMValueRef libm_per_lane(CgFunc *f, const char *f32_name, const char *f64_name,
                                  LLVMValueRef x, TsDType t)
{
    LLVMTypeRef scalar = cg_type(f->m, ts_dtype_with_lanes(t, 1));
    const char *name = t.bits == 32 ? f32_name : f64_name;
    CgCallee callee = { LLVMFunctionType(scalar, &scalar, 1, false), NULL };
    callee.fn = LLVMGetNamedFunction(f->m->mod, name);
    if (!callee.fn)
        callee.fn = LLVMAddFunction(f->m->mod, name, callee.type);
    if (t.lanes == 1)
        return cg_call(f, callee, 1, &x);
    LLVMValueRef out = LLVMGetPoison(LLVMTypeOf(x));
    for (int i = 0; i < t.lanes; i++) {
        LLVMValueRef lane = LLVMBuildExtractElement(f->b, x, cg_i32(f->m, i), "");
        LLVMValueRef y = cg_call(f, callee, 1, &lane);
        out = LLVMBuildInsertElement(f->b, out, y, cg_i32(f->m, i), "");
    }
    return out;
}

static LLVMValueRef call(CgFunc *f, const TsExpr *e, LLVMValueRef mask)
{
    static const char *const intrinsics[TE_NUM_CALL_KINDS] = {
        [TE_CALL_EXP] = "llvm.exp",     [TE_CALL_LOG] = "llvm.log",
        [TE_CALL_SQRT] = "llvm.sqrt",   [TE_CALL_FABS] = "llvm.fabs",
        [TE_CALL_FLOOR] = "llvm.floor", [TE_CALL_CEIL] = "llvm.ceil",
        [TE_CALL_POW] = "llvm.pow",
    };
    int lanes = e->dtype.lanes;
    if (!ts_dtype_is_float(e->dtype) || ts_dtype_is_storage_only(e->dtype))
        return fail_null(f, "a math call on a type other than float32 or float64", e);
    LLVMValueRef x = widen(f, child(f, e->u.call.args[0], mask), lanes), y = NULL;
    if (!x || (e->u.call.args[1] && !(y = widen(f, child(f, e->u.call.args[1], mask), lanes))))
        return NULL;
    LLVMTypeRef type = LLVMTypeOf(x);
    if (cg_vmath_applies(e->u.call.fn, e->dtype))
        return cg_vmath(f, e->u.call.fn, x, lanes);
    switch (e->u.call.fn) {
    case TE_CALL_TANH:
        return libm_per_lane(f, "tanhf", "tanh", x, e->dtype);
    case TE_CALL_SIGMOID: { /* 1 / (1 + exp(-x)) */
        LLVMValueRef neg = LLVMBuildFNeg(f->b, x, "");
        LLVMValueRef ex = cg_intrinsic(f, "llvm.exp", 1, &type, 1, &neg);
        LLVMValueRef one = widen(f, LLVMConstReal(cg_type(f->m, ts_dtype_with_lanes(e->dtype, 1)),
                                                  1.0), lanes);
        return ex ? LLVMBuildFDiv(f->b, one, LLVMBuildFAdd(f->b, one, ex, ""), "") : NULL;
    }
    case TE_CALL_EXP: case TE_CALL_LOG: case TE_CALL_SQRT: case TE_CALL_FABS:
    case TE_CALL_FLOOR: case TE_CALL_CEIL: case TE_CALL_POW:
        return cg_intrinsic(f, intrinsics[e->u.call.fn], 1, &type, y ? 2 : 1,
                            (LLVMValueRef[]){ x, y });
    case TE_NUM_CALL_KINDS:
        break;
    }
    return fail_null(f, "an unknown call", e);
}

/* ---- memory ---- */

LLVMValueRef cg_flat_index(CgFunc *f, const TeBuffer *buffer, int num_indices,
                           TsExpr *const *indices, bool flat, LLVMValueRef mask)
{
    if (flat || num_indices == 1) {
        LLVMValueRef index = child(f, indices[0], mask);
        if (!index || flat)
            return index;
        return buffer->strides[0] == 1
                   ? index
                   : LLVMBuildMul(f->b, index,
                                  widen(f, cg_i32(f->m, buffer->strides[0]), lanes_of(index)), "");
    }
    int lanes = 1;
    for (int d = 0; d < num_indices; d++)
        lanes = indices[d]->dtype.lanes > lanes ? indices[d]->dtype.lanes : lanes;
    LLVMValueRef sum = NULL;
    for (int d = 0; d < num_indices; d++) { /* sum(index_d * stride_d) in int32 */
        LLVMValueRef index = widen(f, child(f, indices[d], mask), lanes);
        if (!index)
            return NULL;
        LLVMValueRef term = LLVMBuildMul(f->b, index,
                                         widen(f, cg_i32(f->m, buffer->strides[d]), lanes), "");
        sum = sum ? LLVMBuildAdd(f->b, sum, term, "") : term;
    }
    return sum;
}

LLVMValueRef cg_element_ptr(CgFunc *f, const TeBuffer *buffer, LLVMValueRef base,
                            LLVMValueRef index)
{
    int lanes = lanes_of(index);
    LLVMTypeRef wide = lanes > 1 ? LLVMVectorType(f->m->t_i64, (unsigned)lanes) : f->m->t_i64;
    LLVMValueRef offset = LLVMBuildSExt(f->b, index, wide, "");
    return LLVMBuildInBoundsGEP2(f->b, cg_mem_type(f->m, buffer->dtype), base, &offset, 1, "");
}

/* A loaded element (or vector) in register form: bool bytes become i1. */
static LLVMValueRef from_memory(CgFunc *f, const TeBuffer *buffer, LLVMValueRef v)
{
    if (!ts_dtype_is_bool(buffer->dtype))
        return v;
    return LLVMBuildICmp(f->b, LLVMIntNE, v, LLVMConstNull(LLVMTypeOf(v)), "");
}

static unsigned element_align(const TeBuffer *buffer)
{
    return ts_dtype_is_bool(buffer->dtype) ? 1u : (unsigned)buffer->dtype.bits / 8u;
}

/* Whether an access's single index counts elements: flat, or one dimension of stride 1. */
static bool single_dense_index(const TeBuffer *buffer, bool flat, int num_indices)
{
    return flat || (num_indices == 1 && buffer->strides[0] == 1);
}

/* The index of an access when it is ramp(base, 1, n) over elements: base, else NULL. */
static const TsExpr *contiguous_base(const TeBuffer *buffer, const TsExpr *index, bool flat,
                                     int num_indices)
{
    int64_t stride;
    if (!single_dense_index(buffer, flat, num_indices) || index->kind != TE_RAMP ||
        !te_const_int(index->u.ramp.stride, &stride) || stride != 1)
        return NULL;
    return index->u.ramp.base;
}

/* The index when it is the same in every lane (a broadcast or a ramp of stride 0). */
static const TsExpr *uniform_index(const TeBuffer *buffer, const TsExpr *index, bool flat,
                                   int num_indices)
{
    int64_t stride;
    if (!single_dense_index(buffer, flat, num_indices))
        return NULL;
    if (index->kind == TE_BROADCAST)
        return index->u.broadcast.value;
    if (index->kind == TE_RAMP && te_const_int(index->u.ramp.stride, &stride) && stride == 0)
        return index->u.ramp.base;
    return NULL;
}

static LLVMValueRef load_contiguous(CgFunc *f, const TsExpr *e, const TsExpr *base_index,
                                    LLVMValueRef base, LLVMValueRef mask)
{
    const TeBuffer *buffer = e->u.load.buffer;
    int lanes = e->dtype.lanes;
    LLVMValueRef index = child(f, base_index, mask);
    if (!index)
        return NULL;
    LLVMValueRef ptr = cg_element_ptr(f, buffer, base, index);
    LLVMTypeRef vector = LLVMVectorType(cg_mem_type(f->m, buffer->dtype), (unsigned)lanes);
    if (!mask) {
        LLVMValueRef load = LLVMBuildLoad2(f->b, vector, ptr, "");
        LLVMSetAlignment(load, element_align(buffer));
        return load;
    }
    LLVMTypeRef types[] = { vector, f->m->t_ptr };
    LLVMValueRef args[] = { ptr, cg_i32(f->m, element_align(buffer)), mask,
                            LLVMConstNull(vector) };
    return cg_intrinsic(f, "llvm.masked.load", 2, types, 4, args);
}

static LLVMValueRef load_gather(CgFunc *f, const TsExpr *e, LLVMValueRef base,
                                LLVMValueRef mask)
{
    const TeBuffer *buffer = e->u.load.buffer;
    int lanes = e->dtype.lanes;
    LLVMValueRef index = cg_flat_index(f, buffer, e->u.load.num_indices, e->u.load.indices,
                                       e->u.load.flat, mask);
    if (!index)
        return NULL;
    LLVMValueRef ptrs = cg_element_ptr(f, buffer, base, widen(f, index, lanes));
    LLVMTypeRef vector = LLVMVectorType(cg_mem_type(f->m, buffer->dtype), (unsigned)lanes);
    LLVMValueRef all = widen(f, LLVMConstInt(f->m->t_i1, 1, false), lanes);
    LLVMTypeRef types[] = { vector, LLVMTypeOf(ptrs) };
    LLVMValueRef args[] = { ptrs, cg_i32(f->m, element_align(buffer)), mask ? mask : all,
                            LLVMConstNull(vector) };
    return cg_intrinsic(f, "llvm.masked.gather", 2, types, 4, args);
}

static LLVMValueRef load_scalar(CgFunc *f, const TeBuffer *buffer, LLVMValueRef base,
                                LLVMValueRef index)
{
    LLVMValueRef ptr = cg_element_ptr(f, buffer, base, index);
    LLVMValueRef load = LLVMBuildLoad2(f->b, cg_mem_type(f->m, buffer->dtype), ptr, "");
    LLVMSetAlignment(load, element_align(buffer));
    return load;
}

/* A vector load whose lanes all read one element: that element read once (when any lane
 * is active), splatted. */
static LLVMValueRef load_uniform(CgFunc *f, const TsExpr *e, const TsExpr *index,
                                 LLVMValueRef mask)
{
    TsExpr *flat_index = (TsExpr *)index;
    TsExpr *scalar = te_load(f->m->scratch, e->u.load.buffer, 1, &flat_index, true);
    if (!scalar)
        return fail_null(f, "a load (out of memory)", e);
    LLVMValueRef v = mask ? guarded_scalar(f, scalar, mask) : cg_expr(f, scalar, NULL);
    return widen(f, v, e->dtype.lanes);
}

static LLVMValueRef load(CgFunc *f, const TsExpr *e, LLVMValueRef mask)
{
    const TeBuffer *buffer = e->u.load.buffer;
    LLVMValueRef base = cg_lookup_buf(f, buffer, "load from");
    if (!base)
        return NULL;
    int n = e->u.load.num_indices;
    bool flat = e->u.load.flat;
    const TsExpr *first = e->u.load.indices[0];
    const TsExpr *contiguous = contiguous_base(buffer, first, flat, n);
    const TsExpr *uniform = uniform_index(buffer, first, flat, n);
    LLVMValueRef v;
    if (e->dtype.lanes > 1 && uniform)
        return load_uniform(f, e, uniform, mask); /* already in register form */
    if (e->dtype.lanes > 1 && contiguous) {
        v = load_contiguous(f, e, contiguous, base, mask);
    } else if (e->dtype.lanes > 1) {
        v = load_gather(f, e, base, mask);
    } else {
        LLVMValueRef index = cg_flat_index(f, buffer, n, e->u.load.indices, flat, NULL);
        v = index ? load_scalar(f, buffer, base, index) : NULL;
    }
    return v ? from_memory(f, buffer, v) : NULL;
}

/* ---- reinterpretation and target intrinsics ---- */

/* The mask of x's lanes for reinterpret(x) under mask (lanes of the result): a lane of x
 * is active when any result lane sharing its bits is. */
static LLVMValueRef reinterpret_mask(CgFunc *f, LLVMValueRef mask, int out_lanes, int in_lanes)
{
    if (!mask || in_lanes == out_lanes)
        return mask;
    LLVMValueRef poison = LLVMGetPoison(LLVMTypeOf(mask)), merged = NULL;
    int ratio = in_lanes > out_lanes ? in_lanes / out_lanes : out_lanes / in_lanes;
    for (int t = 0; t < (in_lanes > out_lanes ? 1 : ratio); t++) {
        LLVMValueRef picks[1024];
        for (int j = 0; j < in_lanes; j++)
            picks[j] = cg_i32(f->m, in_lanes > out_lanes ? j / ratio : j * ratio + t);
        LLVMValueRef part = LLVMBuildShuffleVector(f->b, mask, poison,
                                                   LLVMConstVector(picks, (unsigned)in_lanes), "");
        merged = merged ? LLVMBuildOr(f->b, merged, part, "") : part;
    }
    return merged;
}

static LLVMValueRef reinterpret(CgFunc *f, const TsExpr *e, LLVMValueRef mask)
{
    const TsExpr *x = e->u.cast.value;
    LLVMValueRef inner = x->dtype.lanes > 1
                             ? reinterpret_mask(f, mask, e->dtype.lanes, x->dtype.lanes)
                             : mask;
    LLVMValueRef v = child(f, x, inner);
    return v ? LLVMBuildBitCast(f->b, v, cg_type(f->m, e->dtype), "") : NULL;
}

/* An intrinsic call is opaque: under a lane mask it is made whole when any lane is
 * active (its arguments' lanes need not be its result's). */
static LLVMValueRef intrinsic(CgFunc *f, const TsExpr *e, LLVMValueRef mask)
{
    if (mask)
        return guarded_scalar(f, e, mask);
    return cg_intrinsic_call(f, e->u.intrinsic.name, e->u.intrinsic.num_args,
                             e->u.intrinsic.args, e);
}

/* ---- the dispatcher ---- */

LLVMValueRef cg_expr(CgFunc *f, const TsExpr *e, LLVMValueRef mask)
{
    if (f->m->status != TS_OK)
        return NULL;
    if (e->dtype.lanes == 1)
        mask = NULL; /* a scalar is evaluated under control flow, never under a mask */
    switch (e->kind) {
    case TE_INT: case TE_FLOAT:
        return constant(f, e);
    case TE_VAR:
        return cg_lookup_var(f, e);
    case TE_ADD: case TE_SUB: case TE_MUL:
        return arith(f, e, mask);
    case TE_DIV: case TE_MOD: case TE_FLOORDIV: case TE_FLOORMOD:
        return divide(f, e, mask);
    case TE_MIN: case TE_MAX:
        return min_max(f, e, mask);
    case TE_EQ: case TE_NE: case TE_LT: case TE_LE: case TE_GT: case TE_GE:
        return compare(f, e, mask);
    case TE_AND: case TE_OR: case TE_BITAND: case TE_BITOR: case TE_BITXOR:
        return bitwise(f, e, mask);
    case TE_SHL: case TE_SHR:
        return shift(f, e, mask);
    case TE_NOT: case TE_BITNOT: case TE_POPCOUNT:
        return unary(f, e, mask);
    case TE_SELECT:
        return select_values(f, e, mask);
    case TE_IF_THEN_ELSE:
        return if_then_else(f, e, mask);
    case TE_CAST:
        return cast(f, e, mask);
    case TE_CALL:
        return call(f, e, mask);
    case TE_REINTERPRET:
        return reinterpret(f, e, mask);
    case TE_INTRINSIC:
        return intrinsic(f, e, mask);
    case TE_ADDRESS: {
        LLVMValueRef p = cg_address(f, e);
        return p ? LLVMBuildPtrToInt(f->b, p, f->m->t_i64, "") : NULL;
    }
    case TE_ACCESS: case TE_REDUCE:
        return fail_null(f, "a tensor-expression node that lowering should have replaced", e);
    case TE_LOAD:
        return load(f, e, mask);
    case TE_RAMP:
        return ramp(f, e, mask);
    case TE_BROADCAST:
        return widen(f, child(f, e->u.broadcast.value, mask), e->u.broadcast.lanes);
    case TE_NUM_EXPR_KINDS:
        break;
    }
    return fail_null(f, "an expression of unknown kind", e);
}
