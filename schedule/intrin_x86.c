/* The built-in tensor intrinsics of x86 (intrin.h): declarations and the code that
 * emits them, as loop-nest statements calling LLVM's x86 intrinsics (codegen turns them
 * into instructions; nothing here needs LLVM).
 *
 * x86.vnni.u8s8.16x4: c[16] int32 += sum_k u8 a[k] * s8 b[j, k] for k < 4, one
 * vpdpbusd (AVX512-VNNI): the 4 bytes of a are broadcast to the 16 lanes, b's 64 bytes
 * (16 lanes of 4, dense) are the signed operand. The unsigned-by-signed product is the
 * instruction's; a schedule with s8 x s8 data shifts one operand by 128 (and corrects
 * with the zero point) or uses another intrinsic.
 *
 * x86.avx512bf16.f32.16x2: c[16] float32 += sum_k f32(a[k]) * f32(b[j, k]) for k < 2 over
 * bfloat16 a and b, one vdpbf16ps (AVX512-BF16): a's pair broadcast, b's 32 values (16
 * lanes of 2). The products are exact in float32; the instruction adds them to the
 * accumulator in its own order (k = 1, then k = 0) with denormals flushed, so results may
 * differ from the declaration's (k = 0 first) by float32 rounding. */
#include "sch_internal.h"

/* a's 4 bytes as one int32, in lanes lanes. */
static TsExpr *broadcast_group(TsArena *A, const TsIntrinRegion *a, int lanes)
{
    TsExpr *four = ts_intrin_region_load(A, a, NULL, 4);
    return te_broadcast(A, ts_reinterpret(A, TS_INT32, four), lanes);
}

static TsStmt *vnni_update(TsArena *A, const TsIntrin *intrin, const TsIntrinRegion *const *regions,
                           void *user)
{
    (void)intrin;
    (void)user;
    const TsIntrinRegion *a = regions[0], *b = regions[1], *c = regions[2];
    TsDType v16 = ts_dtype(TS_TYPE_INT, 32, 16);
    TsExpr *acc = ts_intrin_region_load(A, c, NULL, 16);
    TsExpr *bytes = ts_reinterpret(A, v16, ts_intrin_region_load(A, b, NULL, 64));
    TsExpr *sum = ts_call_intrinsic(A, "llvm.x86.avx512.vpdpbusd.512", v16, 3,
                                    (TsExpr *[]){ acc, broadcast_group(A, a, 16), bytes });
    return ts_intrin_region_store(A, c, NULL, sum);
}

static TsStmt *bf16_update(TsArena *A, const TsIntrin *intrin, const TsIntrinRegion *const *regions,
                           void *user)
{
    (void)intrin;
    (void)user;
    const TsIntrinRegion *a = regions[0], *b = regions[1], *c = regions[2];
    TsDType f32x16 = ts_dtype(TS_TYPE_FLOAT, 32, 16);
    TsExpr *pair = ts_reinterpret(A, TS_INT32, ts_intrin_region_load(A, a, NULL, 2));
    TsExpr *pairs =
        ts_reinterpret(A, ts_dtype_with_lanes(TS_BFLOAT16, 32), te_broadcast(A, pair, 16));
    TsExpr *acc = ts_intrin_region_load(A, c, NULL, 16);
    TsExpr *values = ts_intrin_region_load(A, b, NULL, 32);
    TsExpr *sum = ts_call_intrinsic(A, "llvm.x86.avx512bf16.dpbf16ps.512", f32x16, 3,
                                    (TsExpr *[]){ acc, values, pairs });
    return ts_intrin_region_store(A, c, NULL, sum);
}

bool sch_intrin_register_x86(TsArena *arena, TsError *err)
{
    static const char *const vnni[] = { "avx512vnni", NULL };
    static const char *const bf16[] = { "avx512bf16", NULL };
    return sch_intrin_dot(arena, "x86.vnni.u8s8.16x4", 16, 4, TS_UINT8, TS_INT8, TS_INT32, vnni,
                          sch_intrin_zero_output, vnni_update, NULL, err) &&
           sch_intrin_dot(arena, "x86.avx512bf16.f32.16x2", 16, 2, TS_BFLOAT16, TS_BFLOAT16,
                          TS_FLOAT32, bf16, sch_intrin_zero_output, bf16_update, NULL, err);
}
