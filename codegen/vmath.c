/* Vector math in IR: exp, log, tanh and sigmoid on float32 vectors, for llvm_expr.c's
 * math calls.
 *
 * LLVM has no vector form of these: llvm.exp on <16 x float> becomes sixteen calls to
 * expf. Here they are the classic Cephes single-precision algorithms, written as
 * straight-line vector IR (range reduction, a minimax polynomial, scaling by a power
 * of two built from the exponent bits), about 1-2 ulp from the C library, with the
 * special values (NaN, infinities, zero, negative and subnormal inputs) handled by
 * selects. Scalars and float64 keep the C library's functions. */
#include <math.h>

#include "cg_internal.h"

typedef struct {
    CgFunc *f;
    int lanes;
    LLVMTypeRef ft; /* <lanes x float> */
    LLVMTypeRef it; /* <lanes x i32> */
} Vm;

static LLVMValueRef fc(const Vm *v, double c)
{
    return cg_splat(v->f, LLVMConstReal(LLVMFloatTypeInContext(v->f->m->ctx), c), v->lanes);
}

static LLVMValueRef ic(const Vm *v, int64_t c)
{
    return cg_splat(v->f, cg_i32(v->f->m, c), v->lanes);
}

static LLVMValueRef fmul(const Vm *v, LLVMValueRef a, LLVMValueRef b)
{
    return LLVMBuildFMul(v->f->b, a, b, "");
}

static LLVMValueRef fadd(const Vm *v, LLVMValueRef a, LLVMValueRef b)
{
    return LLVMBuildFAdd(v->f->b, a, b, "");
}

static LLVMValueRef fma3(const Vm *v, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c)
{
    LLVMTypeRef t = v->ft;
    return cg_intrinsic(v->f, "llvm.fma", 1, &t, 3, (LLVMValueRef[]){ a, b, c });
}

static LLVMValueRef unary(const Vm *v, const char *name, LLVMValueRef x)
{
    LLVMTypeRef t = v->ft;
    return cg_intrinsic(v->f, name, 1, &t, 1, &x);
}

static LLVMValueRef binary(const Vm *v, const char *name, LLVMValueRef a, LLVMValueRef b)
{
    LLVMTypeRef t = v->ft;
    return cg_intrinsic(v->f, name, 1, &t, 2, (LLVMValueRef[]){ a, b });
}

/* c[0] + x * (c[1] + x * (... c[n-1])), by Horner's rule with fused multiply-adds. */
static LLVMValueRef poly(const Vm *v, LLVMValueRef x, int n, const double *c)
{
    LLVMValueRef acc = fc(v, c[n - 1]);
    for (int i = n - 2; i >= 0; i--)
        acc = fma3(v, acc, x, fc(v, c[i]));
    return acc;
}

/* y * 2^n for integer lanes n in [-252, 254], scaled in two steps so that neither
 * factor overflows and a subnormal result is rounded once. */
static LLVMValueRef scale2(const Vm *v, LLVMValueRef y, LLVMValueRef n)
{
    LLVMBuilderRef b = v->f->b;
    LLVMValueRef half = LLVMBuildAShr(b, n, ic(v, 1), "");
    LLVMValueRef rest = LLVMBuildSub(b, n, half, "");
    LLVMValueRef s1 = LLVMBuildShl(b, LLVMBuildAdd(b, half, ic(v, 127), ""), ic(v, 23), "");
    LLVMValueRef s2 = LLVMBuildShl(b, LLVMBuildAdd(b, rest, ic(v, 127), ""), ic(v, 23), "");
    return fmul(v, fmul(v, y, LLVMBuildBitCast(b, s1, v->ft, "")),
                LLVMBuildBitCast(b, s2, v->ft, ""));
}

static LLVMValueRef is_nan(const Vm *v, LLVMValueRef x)
{
    return LLVMBuildFCmp(v->f->b, LLVMRealUNO, x, x, "");
}

/* e^x: x = n ln2 + r with |r| <= ln2 / 2, e^r by a degree-7 polynomial, times 2^n. */
static LLVMValueRef vexp(const Vm *v, LLVMValueRef x)
{
    static const double p[] = { 1.0, 1.0, 5.0000001201E-1, 1.6666665459E-1, 4.1665795894E-2,
                                8.3334519073E-3, 1.3981999507E-3, 1.9875691500E-4 };
    LLVMBuilderRef b = v->f->b;
    LLVMValueRef clamped = binary(v, "llvm.minnum", binary(v, "llvm.maxnum", x, fc(v, -104.0)),
                                  fc(v, 88.8));
    LLVMValueRef n = unary(v, "llvm.rint", fmul(v, clamped, fc(v, 1.44269504088896341)));
    LLVMValueRef r = fma3(v, n, fc(v, -0.693359375), clamped);
    r = fma3(v, n, fc(v, 2.12194440E-4), r);
    LLVMValueRef y = poly(v, r, 8, p);
    LLVMValueRef result = scale2(v, y, LLVMBuildFPToSI(b, n, v->it, ""));
    return LLVMBuildSelect(b, is_nan(v, x), x, result, "");
}

/* log x: x = 2^e m with m in [sqrt(1/2), sqrt(2)), log m by a polynomial in m - 1. */
static LLVMValueRef vlog(const Vm *v, LLVMValueRef x)
{
    static const double p[] = { 3.3333331174E-1,  -2.4999993993E-1, 2.0000714765E-1,
                                -1.6668057665E-1, 1.4249322787E-1,  -1.2420140846E-1,
                                1.1676998740E-1,  -1.1514610310E-1, 7.0376836292E-2 };
    LLVMBuilderRef b = v->f->b;
    /* Subnormals: scale into the normal range first. */
    LLVMValueRef tiny = LLVMBuildFCmp(b, LLVMRealOLT, x, fc(v, 1.17549435e-38), "");
    LLVMValueRef xs = LLVMBuildSelect(b, tiny, fmul(v, x, fc(v, 8388608.0)), x, "");
    LLVMValueRef bits = LLVMBuildBitCast(b, xs, v->it, "");
    LLVMValueRef e = LLVMBuildSub(b, LLVMBuildLShr(b, bits, ic(v, 23), ""), ic(v, 127), "");
    e = LLVMBuildSelect(b, tiny, LLVMBuildSub(b, e, ic(v, 23), ""), e, "");
    LLVMValueRef mbits = LLVMBuildOr(b, LLVMBuildAnd(b, bits, ic(v, 0x7fffff), ""),
                                     ic(v, 0x3f800000), "");
    LLVMValueRef m = LLVMBuildBitCast(b, mbits, v->ft, "");
    LLVMValueRef big = LLVMBuildFCmp(b, LLVMRealOGT, m, fc(v, 1.41421356237309505), "");
    m = LLVMBuildSelect(b, big, fmul(v, m, fc(v, 0.5)), m, "");
    e = LLVMBuildSelect(b, big, LLVMBuildAdd(b, e, ic(v, 1), ""), e, "");
    LLVMValueRef fe = LLVMBuildSIToFP(b, e, v->ft, "");
    LLVMValueRef t = LLVMBuildFSub(b, m, fc(v, 1.0), "");
    LLVMValueRef z = fmul(v, t, t);
    LLVMValueRef y = fmul(v, fmul(v, poly(v, t, 9, p), t), z);
    y = fma3(v, fe, fc(v, -2.12194440e-4), y);
    y = fma3(v, z, fc(v, -0.5), y);
    LLVMValueRef result = fma3(v, fe, fc(v, 0.693359375), fadd(v, t, y));
    /* log 0 = -inf, log(-x) = NaN, log inf = inf, log NaN = NaN. */
    LLVMValueRef zero = LLVMBuildFCmp(b, LLVMRealOEQ, x, fc(v, 0.0), "");
    LLVMValueRef bad = LLVMBuildFCmp(b, LLVMRealULT, x, fc(v, 0.0), "");
    LLVMValueRef inf = LLVMBuildFCmp(b, LLVMRealOEQ, x, fc(v, INFINITY), "");
    result = LLVMBuildSelect(b, inf, x, result, "");
    result = LLVMBuildSelect(b, zero, fc(v, -INFINITY), result, "");
    return LLVMBuildSelect(b, bad, fc(v, NAN), result, "");
}

/* tanh x: an odd polynomial for |x| < 0.625, (1 - e^-2|x|) / (1 + e^-2|x|) above. */
static LLVMValueRef vtanh(const Vm *v, LLVMValueRef x)
{
    static const double p[] = { -3.33332819422E-1, 1.33314422036E-1, -5.37397155531E-2,
                                2.06390887954E-2, -5.70498872745E-3 };
    LLVMBuilderRef b = v->f->b;
    LLVMValueRef a = unary(v, "llvm.fabs", x);
    LLVMValueRef z = fmul(v, x, x);
    LLVMValueRef small = fma3(v, fmul(v, poly(v, z, 5, p), z), x, x);
    LLVMValueRef e = vexp(v, fmul(v, a, fc(v, -2.0)));
    LLVMValueRef large = LLVMBuildFDiv(b, LLVMBuildFSub(b, fc(v, 1.0), e, ""),
                                       fadd(v, fc(v, 1.0), e), "");
    large = binary(v, "llvm.copysign", large, x);
    LLVMValueRef is_small = LLVMBuildFCmp(b, LLVMRealOLT, a, fc(v, 0.625), "");
    return LLVMBuildSelect(b, is_nan(v, x), x, LLVMBuildSelect(b, is_small, small, large, ""), "");
}

bool cg_vmath_applies(TeCallKind fn, TsDType t)
{
    return t.code == TS_TYPE_FLOAT && t.bits == 32 && t.lanes > 1 &&
           (fn == TE_CALL_EXP || fn == TE_CALL_LOG || fn == TE_CALL_TANH ||
            fn == TE_CALL_SIGMOID);
}

LLVMValueRef cg_vmath(CgFunc *f, TeCallKind fn, LLVMValueRef x, int lanes)
{
    Vm v = { f, lanes, LLVMTypeOf(x), LLVMVectorType(LLVMInt32TypeInContext(f->m->ctx),
                                                      (unsigned)lanes) };
    switch (fn) {
    case TE_CALL_EXP: return vexp(&v, x);
    case TE_CALL_LOG: return vlog(&v, x);
    case TE_CALL_TANH: return vtanh(&v, x);
    case TE_CALL_SIGMOID: /* 1 / (1 + e^-x) */
        return LLVMBuildFDiv(f->b, fc(&v, 1.0),
                             fadd(&v, fc(&v, 1.0), vexp(&v, LLVMBuildFNeg(f->b, x, ""))), "");
    case TE_CALL_SQRT: case TE_CALL_FABS: case TE_CALL_FLOOR: case TE_CALL_CEIL:
    case TE_CALL_POW: case TE_NUM_CALL_KINDS:
        break;
    }
    return NULL;
}
