/* The built-in tensor intrinsics of AArch64 (intrin.h): declarations and the code that
 * emits them, as loop-nest statements calling LLVM's aarch64 NEON intrinsics.
 *
 * All compute c[4] int32 += sum_k a[k] * b[j, k] for k < 4: b's 16 bytes hold 4 lanes of
 * 4 (dense), a's 4 bytes are repeated for every lane.
 * - aarch64.sdot.s8.4x4 / aarch64.udot.u8.4x4: one sdot / udot (the dotprod feature,
 *   ARMv8.2 and later cores such as Cortex-A55 and A76);
 * - aarch64.smull.s8.4x4 / aarch64.umull.u8.4x4: for cores without it (Cortex-A53,
 *   A72): two widening multiplies (smull, 8 x 8 -> 16 bits: a product of two bytes always
 *   fits), two pairwise widening adds (saddlp, 16 -> 32 bits) and one pairwise add (addp)
 *   that leaves each lane's four products summed; the add into the accumulator fuses
 *   into sadalp where LLVM sees it. No 16-bit sum is formed, so nothing overflows. */
#include "sch_internal.h"

/* a's 4 bytes repeated to bytes bytes, as the vector dtype of a's element type. */
static TsExpr *repeated_group(TsArena *A, const TsIntrinRegion *a, int bytes)
{
    TsExpr *four = ts_intrin_region_load(A, a, NULL, 4);
    TsExpr *words = te_broadcast(A, ts_reinterpret(A, TS_INT32, four), bytes / 4);
    TsDType elem = ts_tensor_dtype(ts_intrin_region_tensor(a));
    return ts_reinterpret(A, ts_dtype_with_lanes(elem, bytes), words);
}

static TsStmt *dot_update(TsArena *A, const TsIntrin *intrin, const TsIntrinRegion *const *regions,
                          void *user)
{
    (void)intrin;
    const char *name = user;
    const TsIntrinRegion *a = regions[0], *b = regions[1], *c = regions[2];
    TsExpr *acc = ts_intrin_region_load(A, c, NULL, 4);
    TsExpr *sum = ts_call_intrinsic(
        A, name, ts_dtype(TS_TYPE_INT, 32, 4), 3,
        (TsExpr *[]){ acc, ts_intrin_region_load(A, b, NULL, 16), repeated_group(A, a, 16) });
    return ts_intrin_region_store(A, c, NULL, sum);
}

/* The four products of each lane summed, from 8 bytes of b (two lanes) at offset. */
static TsExpr *half_sums(TsArena *A, const TsIntrinRegion *const *regions, bool is_signed,
                         int offset)
{
    TsExpr *b = ts_intrin_region_load(A, regions[1], ts_i32(A, offset), 8);
    TsExpr *prod = ts_call_intrinsic(
        A, is_signed ? "llvm.aarch64.neon.smull.v8i16" : "llvm.aarch64.neon.umull.v8i16",
        ts_dtype(TS_TYPE_INT, 16, 8), 2, (TsExpr *[]){ b, repeated_group(A, regions[0], 8) });
    return ts_call_intrinsic(A,
                             is_signed ? "llvm.aarch64.neon.saddlp.v4i32.v8i16"
                                       : "llvm.aarch64.neon.uaddlp.v4i32.v8i16",
                             ts_dtype(TS_TYPE_INT, 32, 4), 1, &prod);
}

static TsStmt *widening_update(TsArena *A, const TsIntrin *intrin,
                               const TsIntrinRegion *const *regions, void *user)
{
    (void)user;
    bool is_signed = !ts_dtype_is_uint(ts_tensor_dtype(intrin->inputs[0]));
    const TsIntrinRegion *c = regions[2];
    TsDType v4 = ts_dtype(TS_TYPE_INT, 32, 4);
    TsExpr *lanes = ts_call_intrinsic(
        A, "llvm.aarch64.neon.addp.v4i32", v4, 2,
        (TsExpr *[]){ half_sums(A, regions, is_signed, 0), half_sums(A, regions, is_signed, 8) });
    TsExpr *acc = ts_intrin_region_load(A, c, NULL, 4);
    return ts_intrin_region_store(A, c, NULL, ts_add(A, acc, lanes));
}

bool sch_intrin_register_aarch64(TsArena *arena, TsError *err)
{
    static const char *const dotprod[] = { "neon", "dotprod", NULL };
    static const char *const neon[] = { "neon", NULL };
    static char sdot[] = "llvm.aarch64.neon.sdot.v4i32.v16i8";
    static char udot[] = "llvm.aarch64.neon.udot.v4i32.v16i8";
    TsIntrinEmitter zero = sch_intrin_zero_output;
    return sch_intrin_dot(arena, "aarch64.sdot.s8.4x4", 4, 4, TS_INT8, TS_INT8, TS_INT32, dotprod,
                          zero, dot_update, sdot, err) &&
           sch_intrin_dot(arena, "aarch64.udot.u8.4x4", 4, 4, TS_UINT8, TS_UINT8, TS_INT32, dotprod,
                          zero, dot_update, udot, err) &&
           sch_intrin_dot(arena, "aarch64.smull.s8.4x4", 4, 4, TS_INT8, TS_INT8, TS_INT32, neon,
                          zero, widening_update, NULL, err) &&
           sch_intrin_dot(arena, "aarch64.umull.u8.4x4", 4, 4, TS_UINT8, TS_UINT8, TS_INT32, neon,
                          zero, widening_update, NULL, err);
}
