/* Tensor intrinsics and the tensorize primitive, as TVM's decl_tensor_intrin and
 * s[C].tensorize: a loop nest of a stage is replaced by a micro-kernel (a VNNI dot
 * product, an AArch64 sdot, an AMX tile product) that was declared once.
 *
 * An intrinsic is
 * - a compute declaration: a small te compute op at fixed extents and dtypes over
 *   placeholders, e.g. the 16-lane u8 x s8 -> s32 dot product of vpdpbusd:
 *
 *       A = ts_placeholder(Ar, "a", 1, (int64_t[]){4}, TS_UINT8);
 *       B = ts_placeholder(Ar, "b", 2, (int64_t[]){16, 4}, TS_INT8);
 *       j = ts_axis(Ar, "j", 16); k = ts_reduce_axis(Ar, "k", 4);
 *       C = ts_compute(Ar, "c", 1, &j, ts_sum(Ar, ts_mul(Ar,
 *               ts_cast(Ar, TS_INT32, ts_at(Ar, A, ts_var(k))),
 *               ts_cast(Ar, TS_INT32, ts_at(Ar, B, ts_var(j), ts_var(k)))), 1, &k, NULL));
 *
 *   Every index of an access in the declaration is one of its axes' variables, each at
 *   most once per access; the body is an expression over accesses of the inputs, or one
 *   reduction of such an expression.
 * - strides per buffer (inputs and output), in elements: fixed values, which the matched
 *   buffer must have, or TS_INTRIN_STRIDE_ANY, which the emitter is told. By default a
 *   buffer's strides are fixed and dense row-major (its declared shape's).
 * - the target features the code needs, as ts_target_has_feature (codegen.h) names them
 *   ("avx512vnni", "avx512bf16", "dotprod", "neon").
 * - emitters: functions that return the statements of the code for the matched regions.
 *   A reduction has reset (store the reducer's identity into the output region) and
 *   update (output = combine(output, the reduction over the region)), and may have body
 *   (output = the reduction from scratch); any other intrinsic has body.
 *
 * Matching (at ts_lower): the leaves of the stage from the tensorized axis inwards must
 * be, in order, the declaration's data-parallel axes and its reduce axes (data-parallel
 * leaves matched with data-parallel axes in order, reduce leaves with reduce axes in
 * order), with equal extents; the stage's body must be the declaration's, node for node
 * and dtype for dtype (the same combiner and condition for a reduction), each access an
 * affine function of the region's loop variables whose coefficients are the strides the
 * declaration allows. The region may not hold a split's tail nor a stage computed at
 * one of its loops. Otherwise ts_lower fails with TS_ESCHEDULE, "tensorize C at
 * j.inner with vnni.u8s8.16x4: ..." naming the first mismatch.
 *
 * A reduction whose region covers only part of its reduce loops gets, as in TVM, body
 * (or reset then update, when there is no body) on the first iteration of the reduce
 * loops outside the region, and update on the others; one covering them all gets body
 * (or reset then update).
 *
 * Running it: the loop-nest interpreter (ts_lowered_run) evaluates the declaration over
 * the matched regions; codegen emits the emitter's statements. Building for a target
 * that lacks a feature the intrinsic needs fails with TS_ECODEGEN naming the intrinsic
 * and the feature (never an illegal instruction at run time). A template or tuner that
 * picks an intrinsic must ask first: for every i < ts_intrin_num_features(intrin),
 * ts_target_has_feature(target, ts_intrin_feature(intrin, i)), which is what
 * codegen.h's ts_target_supports_intrin does.
 *
 * Built-in intrinsics (ts_intrin_lookup):
 *   "x86.vnni.u8s8.16x4"      c[16] int32 += sum_k u8 a[4] * s8 b[16, 4]   vpdpbusd  avx512vnni
 *   "x86.avx512bf16.f32.16x2" c[16] f32 += sum_k bf16 a[2] * bf16 b[16, 2]  vdpbf16ps avx512bf16
 *   "aarch64.sdot.s8.4x4"     c[4] int32 += sum_k s8 a[4] * s8 b[4, 4]      sdot   neon, dotprod
 *   "aarch64.udot.u8.4x4"     c[4] int32 += sum_k u8 a[4] * u8 b[4, 4]      udot   neon, dotprod
 *   "aarch64.smull.s8.4x4"    as sdot, with smull/saddlp/addp (cores without dotprod)  neon
 *   "aarch64.umull.u8.4x4"    as udot, with umull/uaddlp/addp                          neon
 * (products are cast to the accumulator's type before they are summed; b is packed so
 * that the group of each output lane is contiguous, a is one contiguous group, and c is
 * contiguous: all strides fixed and dense. vdpbf16ps adds its two products in its own
 * order with denormals flushed: bf16 results match the declaration within float32
 * rounding, the integer ones bit for bit.)
 */
#ifndef TESSERA_INTRIN_H
#define TESSERA_INTRIN_H

#include <stdbool.h>
#include <stdint.h>

#include "tessera/arena.h"
#include "tessera/error.h"
#include "tessera/schedule.h"
#include "tessera/te.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct TsIntrin TsIntrin;
/* A buffer of the declaration as matched in a scheduled nest (inputs, then output). */
typedef struct TsIntrinRegion TsIntrinRegion;
/* A loop-nest statement, as emitters build them. */
typedef struct TeStmt TsStmt;

/* A stride an intrinsic takes as it comes (the emitter reads it from the region). */
#define TS_INTRIN_STRIDE_ANY INT64_MIN
/* At most this many inputs and required features. */
#define TS_INTRIN_MAX_INPUTS 8
#define TS_INTRIN_MAX_FEATURES 8

/* Returns the statements of the code for the matched regions (regions[i] for input i,
 * regions[num_inputs] for the output), allocated in arena; NULL with the error recorded
 * in the arena (ts_arena_fail) when it cannot. user is ts_intrin_set_emitters's. */
typedef TsStmt *(*TsIntrinEmitter)(TsArena *arena, const TsIntrin *intrin,
                                   const TsIntrinRegion *const *regions, void *user);

/* ---- declaring ---- */

/* An intrinsic named name computing output (a compute op) from inputs (placeholders, the
 * only tensors output reads, in the order emitters get their regions). It lives in
 * arena, which must outlive every use (a registered intrinsic: the process). TS_EINVAL
 * naming the culprit for a body the matcher cannot use (see above). */
TsStatus ts_intrin_declare(TsArena *arena, const char *name, TsTensor *output, int num_inputs,
                           TsTensor *const *inputs, TsIntrin **out, TsError *err);
/* The strides (elements, one per dimension; TS_INTRIN_STRIDE_ANY for any) that tensor (an
 * input or the output of the declaration) must be matched with. */
TsStatus ts_intrin_set_strides(TsIntrin *intrin, const TsTensor *tensor, const int64_t *strides,
                               TsError *err);
/* Adds a target feature the code needs. */
TsStatus ts_intrin_require(TsIntrin *intrin, const char *feature, TsError *err);
/* The emitters (NULL for those the intrinsic has not: see above) and their user data. */
TsStatus ts_intrin_set_emitters(TsIntrin *intrin, TsIntrinEmitter body, TsIntrinEmitter reset,
                                TsIntrinEmitter update, void *user, TsError *err);

const char *ts_intrin_name(const TsIntrin *intrin);
TsTensor *ts_intrin_output(const TsIntrin *intrin);
int ts_intrin_num_inputs(const TsIntrin *intrin);
TsTensor *ts_intrin_input(const TsIntrin *intrin, int i);
int ts_intrin_num_features(const TsIntrin *intrin);
const char *ts_intrin_feature(const TsIntrin *intrin, int i);

/* ---- the registry (thread-safe; the built-ins are registered on first use) ---- */

/* Makes a complete intrinsic (emitters set) findable by its name; TS_EINVAL when the name
 * is taken or the intrinsic lacks an emitter it needs. */
TsStatus ts_intrin_register(const TsIntrin *intrin, TsError *err);
/* Removes the user intrinsic registered as name, before its arena goes (built-ins stay);
 * TS_EINVAL when there is none. */
TsStatus ts_intrin_unregister(const char *name, TsError *err);
/* The intrinsic registered as name, or NULL. */
const TsIntrin *ts_intrin_lookup(const char *name);
/* Registered intrinsics, built-ins first, for listing. */
int ts_intrin_count(void);
const TsIntrin *ts_intrin_at(int i);

/* ---- the primitive ---- */

/* The loops of stage from axis (a leaf) inwards become intrin. Checked here: the axis is
 * a leaf, the intrinsic is complete, the stage has no tensorized axis yet; the match
 * itself is checked by ts_lower (see above). Refused: nothing changes. */
TsStatus ts_tensorize(TsStage *stage, TsAxis *axis, const TsIntrin *intrin, TsError *err);

/* ---- what emitters build with ---- */

/* The declared tensor the region stands for. */
const TsTensor *ts_intrin_region_tensor(const TsIntrinRegion *region);
/* The stride, in elements, of the declared dimension dim in the matched buffer. */
int64_t ts_intrin_region_stride(const TsIntrinRegion *region, int dim);
/* The element offset (int32) of the region's first element in its buffer. */
TsExpr *ts_intrin_region_offset(const TsIntrinRegion *region);
/* The address (uint64, an intrinsic's pointer argument) of the element offset elements
 * after the region's first (offset an int32 expression; NULL for 0). */
TsExpr *ts_intrin_region_address(TsArena *arena, const TsIntrinRegion *region, TsExpr *offset);
/* lanes consecutive elements (a scalar for 1) from offset elements after the first. */
TsExpr *ts_intrin_region_load(TsArena *arena, const TsIntrinRegion *region, TsExpr *offset,
                              int lanes);
/* Stores value's lanes into consecutive elements from offset elements after the first. */
TsStmt *ts_intrin_region_store(TsArena *arena, const TsIntrinRegion *region, TsExpr *offset,
                               TsExpr *value);
/* value (a scalar) in lanes lanes. */
TsExpr *ts_intrin_broadcast(TsArena *arena, TsExpr *value, int lanes);
/* A call of an LLVM intrinsic for its effect on memory (see ts_call_intrinsic). */
TsStmt *ts_intrin_call(TsArena *arena, const char *name, int num_args, TsExpr *const *args);
/* The statements in order. */
TsStmt *ts_intrin_seq(TsArena *arena, int num_stmts, TsStmt *const *stmts);

#ifdef __cplusplus
}
#endif

#endif /* TESSERA_INTRIN_H */
