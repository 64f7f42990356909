/* The built-in AMX tensor intrinsics (intrin.h): one 16 x 16 output tile per call, the
 * reduction one tile of A deep (64 bytes), with B in the VNNI layout. The declarations:
 *
 *   x86.amx.u8s8.16x16x64    c[i, j] int32   += sum u8 a[i, k, g] * s8 b[k, j, g]
 *   x86.amx.s8s8.16x16x64    c[i, j] int32   += sum s8 a[i, k, g] * s8 b[k, j, g]
 *                            (i, j < 16; k < 16, g < 4: 64 elements of A's row)
 *   x86.amx.bf16.16x16x32    c[i, j] float32 += sum bf16 a[i, k, g] * bf16 b[k, j, g]
 *                            (k < 16, g < 2: 32 elements; products in float32)
 *
 * a is A's 16 rows (any row stride; within a row, k steps by g elements and g by one: a
 * plain row-major A[m, K] with the reduction split by g matches), b is 16 rows (any row
 * stride) of 16 groups of g contiguous elements (a packed B[K / g, N, g]), c is 16 rows
 * (any row stride) of 16 contiguous elements. They need amx-tile and amx-int8 or
 * amx-bf16, so a target without those is never offered them (ts_target_supports_intrin)
 * and cannot build them.
 *
 * The code: reset zeroes the C tile in memory (tilezero, tilestored), update loads C, A
 * and B into tiles, multiplies (tdpbusd, tdpbssd, tdpbf16ps) and stores C, through the
 * statement forms of LLVM's tile intrinsics that codegen/amx.c expands (tiles named by
 * address and row stride). LLVM configures the tiles (ldtilecfg) from the shapes; the
 * kernel's entry asks the runtime for the tile state first. */
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

/* user: the LLVM name of the product. */
static TsStmt *tile_update(TsArena *A, const TsIntrin *intrin, const TsIntrinRegion *const *regions,
                           void *user)
{
    (void)intrin;
    TsExpr *args[9] = { ts_i32(A, TILE_ROWS), ts_i32(A, TILE_BYTES), ts_i32(A, TILE_BYTES) };
    tile_place(A, regions[2], args + 3);
    tile_place(A, regions[0], args + 5);
    tile_place(A, regions[1], args + 7);
    return ts_intrin_call(A, user, 9, args);
}

static bool declare_tile(TsArena *A, const char *name, TsDType a, TsDType b, TsDType acc, int group,
                         const char *feature, const char *product, TsError *err)
{
    int64_t depth = TILE_BYTES / (int64_t)ts_dtype_bytes(a) / group;
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
    int64_t out_strides[] = { TS_INTRIN_STRIDE_ANY, 1 };
    return ts_intrin_set_strides(in, ta, in_strides, err) == TS_OK &&
           ts_intrin_set_strides(in, tb, in_strides, err) == TS_OK &&
           ts_intrin_set_strides(in, c, out_strides, err) == TS_OK &&
           ts_intrin_require(in, "amx-tile", err) == TS_OK &&
           ts_intrin_require(in, feature, err) == TS_OK &&
           ts_intrin_set_emitters(in, NULL, tile_zero, tile_update, (void *)product, err) ==
               TS_OK &&
           sch_intrin_add_builtin(in, err);
}

bool sch_intrin_register_amx(TsArena *arena, TsError *err)
{
    return declare_tile(arena, "x86.amx.u8s8.16x16x64", TS_UINT8, TS_INT8, TS_INT32, 4, "amx-int8",
                        "llvm.x86.tdpbusd.internal", err) &&
           declare_tile(arena, "x86.amx.s8s8.16x16x64", TS_INT8, TS_INT8, TS_INT32, 4, "amx-int8",
                        "llvm.x86.tdpbssd.internal", err) &&
           declare_tile(arena, "x86.amx.bf16.16x16x32", TS_BFLOAT16, TS_BFLOAT16, TS_FLOAT32, 2,
                        "amx-bf16", "llvm.x86.tdpbf16ps.internal", err);
}
