/* The built-in AMX tensor intrinsics (intrin.h): one 16 x 16 output tile per call, the
 * reduction 1, 2, 4, 8 or 16 tiles of A deep (64 bytes each), with B in the VNNI layout.
 * The declarations, for K = 64 s elements (int8) or 32 s (bf16), s the tile steps:
 *
 *   x86.amx.u8s8.16x16x<K>   c[i, j] int32   += sum u8 a[i, k, g] * s8 b[k, j, g]
 *   x86.amx.s8s8.16x16x<K>   c[i, j] int32   += sum s8 a[i, k, g] * s8 b[k, j, g]
 *                            (i, j < 16; k < 16 s, g < 4), K = 64, 128, 256, 512, 1024
 *   x86.amx.bf16.16x16x<K>   c[i, j] float32 += sum bf16 a[i, k, g] * bf16 b[k, j, g]
 *                            (k < 16 s, g < 2; products in float32), K = 32 ... 512
 *
 * a is A's 16 rows (any row stride; within a row, k steps by g elements and g by one: a
 * plain row-major A[m, K] with the reduction split by g matches), b is rows of 16 groups
 * of g contiguous elements, one row per k (any row stride: a packed B[K / g, N, g] or
 * B[N / 16, K / g, 16, g]), c is 16 rows (any row stride) of 16 contiguous elements.
 * They need amx-tile and amx-int8 or amx-bf16, so a target without those is never offered
 * them (ts_target_supports_intrin) and cannot build them.
 *
 * The code, through the statement forms of LLVM's tile intrinsics that codegen/amx.c
 * expands (tiles named by address and row stride): reset zeroes the C tile in memory;
 * update loads C, runs the s steps with C in a tile register (loading A and B tiles,
 * tdpbusd, tdpbssd or tdpbf16ps) and stores C; body does the same from a zero tile,
 * without loading C. A tile stored and loaded straight back waits for the store, so
 * the deeper intrinsics, which keep C in a register, are the fast ones: on this machine
 * (loaded by other jobs) a 1024^3 u8 dense took 11 ms with K = 64 per region, 0.8 ms with
 * K = 1024. LLVM configures the tiles (ldtilecfg) from the shapes; the kernel's entry
 * asks the runtime for the tile state first. */
#include <stdio.h>

#include "sch_internal.h"

enum { TILE_ROWS = 16, TILE_BYTES = 64 };

/* A tile's place as a statement takes it: its first element's address and its row
 * stride in bytes. */
static void tile_place(TsArena *A, const TsIntrinRegion *region, TsExpr **args)
{
    const TsTensor *t = ts_intrin_region_tensor(region);
    int64_t bytes = (int64_t)ts_dtype_bytes(t->dtype) * ts_intrin_region_stride(region, 0);
    args[0] = ts_intrin_region_address(A, region, NULL);
    args[1] = ts_int(A, TS_INT64, bytes);
}

static TsStmt *tile_zero(TsArena *A, const TsIntrin *intrin, const TsIntrinRegion *const *regions,
                         void *user)
{
    (void)user;
    TsExpr *args[4] = { ts_i32(A, TILE_ROWS), ts_i32(A, TILE_BYTES) };
    tile_place(A, regions[ts_intrin_num_inputs(intrin)], args + 2);
    return ts_intrin_call(A, "llvm.x86.tilezero.internal", 4, args);
}

/* What an intrinsic's emitters need: the LLVM name of the product and the tile steps its
 * reduction takes. */
typedef struct TileProduct {
    const char *product;
    int steps;
} TileProduct;

/* C = (accumulate ? C : 0) + the steps' products, in one statement (codegen/amx.c). */
static TsStmt *tile_product(TsArena *A, const TsIntrinRegion *const *regions, const TileProduct *p,
                            bool accumulate)
{
    TsExpr *args[13] = { ts_i32(A, TILE_ROWS), ts_i32(A, TILE_BYTES), ts_i32(A, TILE_BYTES) };
    tile_place(A, regions[2], args + 3);
    tile_place(A, regions[0], args + 5);
    tile_place(A, regions[1], args + 7);
    if (p->steps == 1 && accumulate)
        return ts_intrin_call(A, p->product, 9, args);
    const TsTensor *b = ts_intrin_region_tensor(regions[1]);
    int64_t b_row = (int64_t)ts_dtype_bytes(b->dtype) * ts_intrin_region_stride(regions[1], 0);
    args[9] = ts_i32(A, p->steps);
    args[10] = ts_int(A, TS_INT64, TILE_BYTES);
    args[11] = ts_int(A, TS_INT64, TILE_ROWS * b_row);
    args[12] = ts_i32(A, accumulate ? 1 : 0);
    return ts_intrin_call(A, p->product, 13, args);
}

static TsStmt *tile_update(TsArena *A, const TsIntrin *intrin, const TsIntrinRegion *const *regions,
                           void *user)
{
    (void)intrin;
    return tile_product(A, regions, user, true);
}

static TsStmt *tile_body(TsArena *A, const TsIntrin *intrin, const TsIntrinRegion *const *regions,
                         void *user)
{
    (void)intrin;
    return tile_product(A, regions, user, false);
}

/* One intrinsic: name's prefix, then "16x16x<K>" for the steps' elements K. */
static bool declare_tile(TsArena *A, const char *family, TsDType a, TsDType b, TsDType acc,
                         int group, const char *feature, const TileProduct *product, TsError *err)
{
    int64_t depth = TILE_ROWS * (int64_t)product->steps; /* groups of the reduction */
    char name[64];
    snprintf(name, sizeof name, "%s.16x16x%lld", family, (long long)(depth * group));
    TsTensor *ta = ts_placeholder(A, "a", 3, (int64_t[]){ TILE_ROWS, depth, group }, a);
    TsTensor *tb = ts_placeholder(A, "b", 3, (int64_t[]){ depth, TILE_ROWS, group }, b);
    TsAxis *i = ts_axis(A, "i", TILE_ROWS), *j = ts_axis(A, "j", TILE_ROWS);
    TsAxis *k = ts_reduce_axis(A, "k", depth), *g = ts_reduce_axis(A, "g", group);
    TsExpr *prod = ts_mul(A, ts_cast(A, acc, ts_at(A, ta, ts_var(i), ts_var(k), ts_var(g))),
                          ts_cast(A, acc, ts_at(A, tb, ts_var(k), ts_var(j), ts_var(g))));
    TsTensor *c =
        ts_compute(A, "c", 2, (TsAxis *[]){ i, j }, ts_sum(A, prod, 2, (TsAxis *[]){ k, g }, NULL));
    TsIntrin *in;
    if (!c)
        return ts_arena_check(A, err), false;
    if (ts_intrin_declare(A, name, c, 2, (TsTensor *[]){ ta, tb }, &in, err) != TS_OK)
        return false;
    int64_t in_strides[] = { TS_INTRIN_STRIDE_ANY, group, 1 };
    int64_t b_strides[] = { TS_INTRIN_STRIDE_ANY, group, 1 };
    int64_t out_strides[] = { TS_INTRIN_STRIDE_ANY, 1 };
    return ts_intrin_set_strides(in, ta, in_strides, err) == TS_OK &&
           ts_intrin_set_strides(in, tb, b_strides, err) == TS_OK &&
           ts_intrin_set_strides(in, c, out_strides, err) == TS_OK &&
           ts_intrin_require(in, "amx-tile", err) == TS_OK &&
           ts_intrin_require(in, feature, err) == TS_OK &&
           ts_intrin_set_emitters(in, tile_body, tile_zero, tile_update, (void *)product, err) ==
               TS_OK &&
           sch_intrin_add_builtin(in, err);
}

enum { NUM_DEPTHS = 5 };

static const TileProduct tdpbusd[NUM_DEPTHS] = { { "llvm.x86.tdpbusd.internal", 1 },
                                                 { "llvm.x86.tdpbusd.internal", 2 },
                                                 { "llvm.x86.tdpbusd.internal", 4 },
                                                 { "llvm.x86.tdpbusd.internal", 8 },
                                                 { "llvm.x86.tdpbusd.internal", 16 } };
static const TileProduct tdpbssd[NUM_DEPTHS] = { { "llvm.x86.tdpbssd.internal", 1 },
                                                 { "llvm.x86.tdpbssd.internal", 2 },
                                                 { "llvm.x86.tdpbssd.internal", 4 },
                                                 { "llvm.x86.tdpbssd.internal", 8 },
                                                 { "llvm.x86.tdpbssd.internal", 16 } };
static const TileProduct tdpbf16ps[NUM_DEPTHS] = { { "llvm.x86.tdpbf16ps.internal", 1 },
                                                   { "llvm.x86.tdpbf16ps.internal", 2 },
                                                   { "llvm.x86.tdpbf16ps.internal", 4 },
                                                   { "llvm.x86.tdpbf16ps.internal", 8 },
                                                   { "llvm.x86.tdpbf16ps.internal", 16 } };

bool sch_intrin_register_amx(TsArena *arena, TsError *err)
{
    for (int d = 0; d < NUM_DEPTHS; d++)
        if (!declare_tile(arena, "x86.amx.u8s8", TS_UINT8, TS_INT8, TS_INT32, 4, "amx-int8",
                          &tdpbusd[d], err) ||
            !declare_tile(arena, "x86.amx.s8s8", TS_INT8, TS_INT8, TS_INT32, 4, "amx-int8",
                          &tdpbssd[d], err) ||
            !declare_tile(arena, "x86.amx.bf16", TS_BFLOAT16, TS_BFLOAT16, TS_FLOAT32, 2,
                          "amx-bf16", &tdpbf16ps[d], err))
            return false;
    return true;
}
