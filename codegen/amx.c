/* AMX tiles through LLVM 16's C API: the x86_amx type and the shape-carrying ".internal"
 * intrinsics (tilezero, tileloadd64, tdpbusd, tdpbssd, tdpbf16ps, tilestored64). Their
 * row and column operands let LLVM's pre-tile-config passes (X86PreTileConfig at -O1 and
 * up, X86FastPreTileConfig at -O0) write the tile configuration and insert ldtilecfg at
 * the function's entry, and the epilogue gets tilerelease; an accumulator tile carried
 * around a loop is a phi of x86_amx, which the same passes allocate to one tile register.
 * This works with both pipelines module.c runs (the kernel pipeline and default<O0>).
 *
 * What is checked here, before LLVM sees anything (its own checks are assertions, and a
 * tile intrinsic on a CPU without AMX aborts the process in instruction selection):
 *   - the target is x86-64 and has amx-tile and the product's feature (amx-int8 for
 *     tdpbusd and tdpbssd, amx-bf16 for tdpbf16ps); otherwise TS_ECODEGEN naming the
 *     kernel, the product, the target and the missing feature;
 *   - the shapes fit the tiles: at most 16 rows of at most 64 bytes, the reduction a
 *     whole number of 4-byte groups.
 * A kernel that emits tiles has its packed entry call ts_runtime_amx_enter (entry.c)
 * before the compute function runs, so Linux is asked for the tile state first and a
 * refusal is an error naming the kernel and the features (runtime/amx.c), not a SIGILL.
 *
 * The tile product, for M <= 16 rows, N <= 16 columns and a step of K elements:
 *   C[M][N] (int32 or float32) += A[M][K] . B[K][N], where B is in the VNNI layout:
 *   K/g rows of N*g elements, g = 4 for int8 (u8.s8 tdpbusd, s8.s8 tdpbssd) and 2 for
 *   bf16, so that B[k][n] sits at row k/g, element n*g + k%g. */
#include <stdio.h>
#include <string.h>

#include "cg_internal.h"

enum { AMX_MAX_ROWS = 16, AMX_MAX_ROW_BYTES = 64 };

static const struct {
    const char *instruction; /* for messages */
    const char *intrinsic;
    const char *feature;  /* beside amx-tile */
    int element_bytes;    /* of A and B */
    unsigned feature_bit; /* in CgModule.amx_features */
} products[] = {
    [CG_AMX_TDPBUSD] = { "tdpbusd", "llvm.x86.tdpbusd.internal", "amx-int8", 1, CG_AMX_INT8 },
    [CG_AMX_TDPBSSD] = { "tdpbssd", "llvm.x86.tdpbssd.internal", "amx-int8", 1, CG_AMX_INT8 },
    [CG_AMX_TDPBF16PS] = { "tdpbf16ps", "llvm.x86.tdpbf16ps.internal", "amx-bf16", 2, CG_AMX_BF16 },
};

const char *cg_amx_product_name(CgAmxProduct product)
{
    return products[product].instruction;
}

int cg_amx_group(CgAmxProduct product)
{
    return 4 / products[product].element_bytes;
}

/* Whether the target has amx-tile and, when feature is not NULL, feature; else the first
 * missing one in *missing. */
static bool target_has(const TsTarget *target, const char *feature, const char **missing)
{
    const char *need[] = { "amx-tile", feature };
    for (int i = 0; i < (feature ? 2 : 1); i++) {
        if (target->arch != CG_ARCH_X86_64 || !ts_target_has_feature(target, need[i])) {
            if (missing)
                *missing = need[i];
            return false;
        }
    }
    return true;
}

bool cg_amx_target_supports(const TsTarget *target, CgAmxProduct product, const char **missing)
{
    return target_has(target, products[product].feature, missing);
}

bool cg_amx_require(CgFunc *f, CgAmxProduct product)
{
    const char *missing = NULL;
    if (!cg_amx_target_supports(f->m->target, product, &missing))
        return cg_fail(f->m, TS_ECODEGEN,
                       "%s: the AMX tile product %s needs %s, which target %s lacks", f->kernel,
                       products[product].instruction, missing, f->m->target->text);
    f->m->amx_features |= CG_AMX_TILE | products[product].feature_bit;
    return true;
}

/* As cg_amx_require, for tile operations other than products (amx-tile alone). */
static bool require_tiles(CgFunc *f, const char *what)
{
    if (!target_has(f->m->target, NULL, NULL))
        return cg_fail(f->m, TS_ECODEGEN, "%s: the AMX %s needs amx-tile, which target %s lacks",
                       f->kernel, what, f->m->target->text);
    f->m->amx_features |= CG_AMX_TILE;
    return true;
}

const char *cg_amx_features_text(unsigned features)
{
    if ((features & CG_AMX_INT8) && (features & CG_AMX_BF16))
        return "amx-int8, amx-bf16";
    if (features & CG_AMX_BF16)
        return "amx-bf16";
    return features & CG_AMX_INT8 ? "amx-int8" : "amx-tile";
}

/* ---- the intrinsics ---- */

static LLVMValueRef i16_const(CgModule *m, int value)
{
    return LLVMConstInt(m->t_i16, (unsigned long long)value, false);
}

/* A call of a non-overloaded tile intrinsic. */
static LLVMValueRef tile_call(CgFunc *f, const char *name, int num_args, LLVMValueRef *args)
{
    unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
    if (id == 0) {
        cg_fail(f->m, TS_ECODEGEN, "%s: LLVM has no intrinsic %s", f->kernel, name);
        return NULL;
    }
    CgCallee callee;
    callee.fn = LLVMGetIntrinsicDeclaration(f->m->mod, id, NULL, 0);
    callee.type = LLVMIntrinsicGetType(f->m->ctx, id, NULL, 0);
    return cg_call(f, callee, num_args, args);
}

static bool shape_ok(CgFunc *f, const char *what, int rows, int row_bytes)
{
    if (rows >= 1 && rows <= AMX_MAX_ROWS && row_bytes >= 1 && row_bytes <= AMX_MAX_ROW_BYTES)
        return true;
    return cg_fail(f->m, TS_ECODEGEN,
                   "%s: AMX tile %s is %d rows of %d bytes; a tile holds 1 to %d rows of 1 to "
                   "%d bytes",
                   f->kernel, what, rows, row_bytes, AMX_MAX_ROWS, AMX_MAX_ROW_BYTES);
}

LLVMValueRef cg_amx_tile_zero(CgFunc *f, int rows, int row_bytes)
{
    if (!require_tiles(f, "tile zero") || !shape_ok(f, "zero", rows, row_bytes))
        return NULL;
    LLVMValueRef args[] = { i16_const(f->m, rows), i16_const(f->m, row_bytes) };
    return tile_call(f, "llvm.x86.tilezero.internal", 2, args);
}

LLVMValueRef cg_amx_tile_load(CgFunc *f, int rows, int row_bytes, LLVMValueRef ptr,
                              LLVMValueRef stride)
{
    if (!require_tiles(f, "tile load") || !shape_ok(f, "load", rows, row_bytes))
        return NULL;
    LLVMValueRef args[] = { i16_const(f->m, rows), i16_const(f->m, row_bytes), ptr, stride };
    return tile_call(f, "llvm.x86.tileloadd64.internal", 4, args);
}

bool cg_amx_tile_store(CgFunc *f, int rows, int row_bytes, LLVMValueRef ptr, LLVMValueRef stride,
                       LLVMValueRef tile)
{
    if (!require_tiles(f, "tile store") || !shape_ok(f, "store", rows, row_bytes))
        return false;
    LLVMValueRef args[] = { i16_const(f->m, rows), i16_const(f->m, row_bytes), ptr, stride, tile };
    return tile_call(f, "llvm.x86.tilestored64.internal", 5, args) != NULL;
}

LLVMValueRef cg_amx_tile_product(CgFunc *f, CgAmxProduct product, int rows, int cols, int depth,
                                 LLVMValueRef c, LLVMValueRef a, LLVMValueRef b)
{
    int depth_bytes = depth * products[product].element_bytes;
    if (!cg_amx_require(f, product) || !shape_ok(f, "C", rows, cols * 4) ||
        !shape_ok(f, "A", rows, depth_bytes) ||
        !shape_ok(f, "B", depth_bytes / 4 ? depth_bytes / 4 : 1, cols * 4))
        return NULL;
    if (depth_bytes % 4 != 0) {
        cg_fail(f->m, TS_ECODEGEN,
                "%s: AMX %s reduces over %d elements, not a whole number of %d-element groups",
                f->kernel, products[product].instruction, depth, cg_amx_group(product));
        return NULL;
    }
    LLVMValueRef args[] = {
        i16_const(f->m, rows), i16_const(f->m, cols * 4), i16_const(f->m, depth_bytes), c, a, b
    };
    return tile_call(f, products[product].intrinsic, 6, args);
}

/* ---- a tile GEMM ---- */

/* One step: the A and B tiles at step k, multiplied into acc. */
static LLVMValueRef gemm_step(CgFunc *f, const CgAmxGemm *g, LLVMValueRef k, LLVMValueRef acc)
{
    CgModule *m = f->m;
    int depth_bytes = g->depth * products[g->product].element_bytes;
    LLVMValueRef a_off = LLVMBuildMul(f->b, k, g->a_step, "");
    LLVMValueRef b_off = LLVMBuildMul(f->b, k, g->b_step, "");
    LLVMValueRef a_ptr = LLVMBuildGEP2(f->b, m->t_i8, g->a, &a_off, 1, "amx.a");
    LLVMValueRef b_ptr = LLVMBuildGEP2(f->b, m->t_i8, g->b, &b_off, 1, "amx.b");
    LLVMValueRef a = cg_amx_tile_load(f, g->rows, depth_bytes, a_ptr, g->a_stride);
    LLVMValueRef b =
        a ? cg_amx_tile_load(f, depth_bytes / 4, g->cols * 4, b_ptr, g->b_stride) : NULL;
    return b ? cg_amx_tile_product(f, g->product, g->rows, g->cols, g->depth, acc, a, b) : NULL;
}

bool cg_amx_gemm(CgFunc *f, const CgAmxGemm *g)
{
    CgModule *m = f->m;
    if (!cg_amx_require(f, g->product))
        return false;
    LLVMValueRef acc = g->accumulate ? cg_amx_tile_load(f, g->rows, g->cols * 4, g->c, g->c_stride)
                                     : cg_amx_tile_zero(f, g->rows, g->cols * 4);
    if (!acc)
        return false;
    if (g->steps < 1)
        return cg_fail(m, TS_ECODEGEN, "%s: AMX %s with %lld reduction steps", f->kernel,
                       products[g->product].instruction, (long long)g->steps);
    LLVMBasicBlockRef before = LLVMGetInsertBlock(f->b);
    LLVMBasicBlockRef loop = cg_block(f, "amx.loop"), done = cg_block(f, "amx.done");
    LLVMBuildBr(f->b, loop);
    LLVMPositionBuilderAtEnd(f->b, loop);
    LLVMValueRef k = LLVMBuildPhi(f->b, m->t_i64, "amx.k");
    LLVMValueRef tile = LLVMBuildPhi(f->b, LLVMX86AMXTypeInContext(m->ctx), "amx.acc");
    LLVMValueRef next_tile = gemm_step(f, g, k, tile);
    if (!next_tile)
        return false;
    LLVMValueRef next_k = LLVMBuildNUWAdd(f->b, k, cg_i64(m, 1), "");
    LLVMBasicBlockRef latch = LLVMGetInsertBlock(f->b);
    LLVMValueRef k_in[] = { cg_i64(m, 0), next_k }, tile_in[] = { acc, next_tile };
    LLVMBasicBlockRef from[] = { before, latch };
    LLVMAddIncoming(k, k_in, from, 2);
    LLVMAddIncoming(tile, tile_in, from, 2);
    LLVMBuildCondBr(f->b, LLVMBuildICmp(f->b, LLVMIntEQ, next_k, cg_i64(m, g->steps), ""), done,
                    loop);
    LLVMPositionBuilderAtEnd(f->b, done);
    return cg_amx_tile_store(f, g->rows, g->cols * 4, g->c, g->c_stride, next_tile);
}

/* ---- tile intrinsics as loop-nest statements ---- */

/* The loop-nest IR has no x86_amx values, so a CALL statement of a tile intrinsic names
 * its tiles by their place in memory, each an ADDRESS and a byte stride between rows
 * (integer expressions); shapes are integer constants, in bytes as LLVM's are:
 *   llvm.x86.tilezero.internal(rows, row_bytes, C, c_stride)
 *       C's rows x row_bytes tile = 0;
 *   llvm.x86.tdpbusd.internal(rows, c_row_bytes, a_row_bytes, C, c_stride, A, a_stride,
 *                             B, b_stride)   (and tdpbssd, tdpbf16ps)
 *       C += A . B: tiles C (rows x c_row_bytes), A (rows x a_row_bytes) and B
 *       (a_row_bytes / 4 rows x c_row_bytes, the VNNI layout) loaded, multiplied, C
 *       stored back.
 * These are what the tensor intrinsics x86.amx.* (schedule/intrin_amx.c) emit. Every
 * other tile intrinsic (loads, stores, configuration, the forms with tile register
 * numbers) is refused: it would need a tile value, or a tile configuration of its own. */

static const char *const memory_forms[] = { "llvm.x86.tilezero.internal",
                                            "llvm.x86.tdpbusd.internal",
                                            "llvm.x86.tdpbssd.internal",
                                            "llvm.x86.tdpbf16ps.internal" };

bool cg_amx_is_tile_intrinsic(const char *name)
{
    static const char *const prefixes[] = { "llvm.x86.tile", "llvm.x86.tdp", "llvm.x86.ldtilecfg",
                                            "llvm.x86.sttilecfg", "llvm.x86.cast.tile" };
    for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++)
        if (strncmp(name, prefixes[i], strlen(prefixes[i])) == 0)
            return true;
    return false;
}

/* A constant shape argument (in [1, 64]), or -1 after recording the error. */
static int shape_arg(CgFunc *f, const char *name, const TsExpr *e, int i)
{
    int64_t value;
    if (cg_const_operand(e, &value) && e->dtype.lanes == 1 && value >= 1 && value <= 64)
        return (int)value;
    cg_fail(f->m, TS_ECODEGEN,
            "%s: intrinsic %s: argument %d (%s) must be an integer constant in [1, 64], a "
            "tile's rows or bytes per row",
            f->kernel, name, i, cg_expr_text(f->m, e, 0));
    return -1;
}

/* A tile's place: the ADDRESS args[i] and the stride args[i + 1], as a pointer and an i64. */
static bool place_args(CgFunc *f, const char *name, TsExpr *const *args, int i, LLVMValueRef *ptr,
                       LLVMValueRef *stride)
{
    const TsExpr *stride_expr = args[i + 1];
    if (args[i]->kind != TE_ADDRESS || !ts_dtype_is_int(stride_expr->dtype) ||
        stride_expr->dtype.lanes != 1)
        return cg_fail(f->m, TS_ECODEGEN,
                       "%s: intrinsic %s: arguments %d and %d must be a tile's address and its "
                       "row stride in bytes (a scalar integer), not %s and %s",
                       f->kernel, name, i, i + 1, cg_expr_text(f->m, args[i], 60),
                       cg_expr_text(f->m, stride_expr, 60));
    *ptr = cg_address(f, args[i]);
    LLVMValueRef value = *ptr ? cg_expr(f, stride_expr, NULL) : NULL;
    if (!value)
        return false;
    *stride =
        LLVMBuildIntCast2(f->b, value, f->m->t_i64, !ts_dtype_is_uint(stride_expr->dtype), "");
    return true;
}

static bool zero_in_memory(CgFunc *f, const char *name, TsExpr *const *args)
{
    int rows = shape_arg(f, name, args[0], 0), bytes = shape_arg(f, name, args[1], 1);
    LLVMValueRef ptr, stride;
    if (rows < 0 || bytes < 0 || !place_args(f, name, args, 2, &ptr, &stride))
        return false;
    LLVMValueRef zero = cg_amx_tile_zero(f, rows, bytes);
    return zero && cg_amx_tile_store(f, rows, bytes, ptr, stride, zero);
}

static bool product_in_memory(CgFunc *f, const char *name, CgAmxProduct product,
                              TsExpr *const *args)
{
    int rows = shape_arg(f, name, args[0], 0), c_bytes = shape_arg(f, name, args[1], 1);
    int a_bytes = shape_arg(f, name, args[2], 2);
    if (rows < 0 || c_bytes < 0 || a_bytes < 0)
        return false;
    if (c_bytes % 4 || a_bytes % 4)
        return cg_fail(f->m, TS_ECODEGEN,
                       "%s: intrinsic %s: rows of %d and %d bytes; C's and A's rows are whole "
                       "4-byte groups",
                       f->kernel, name, c_bytes, a_bytes);
    LLVMValueRef place[3][2];
    for (int t = 0; t < 3; t++)
        if (!place_args(f, name, args, 3 + 2 * t, &place[t][0], &place[t][1]))
            return false;
    if (!cg_amx_require(f, product))
        return false;
    LLVMValueRef c = cg_amx_tile_load(f, rows, c_bytes, place[0][0], place[0][1]);
    LLVMValueRef a = c ? cg_amx_tile_load(f, rows, a_bytes, place[1][0], place[1][1]) : NULL;
    LLVMValueRef b = a ? cg_amx_tile_load(f, a_bytes / 4, c_bytes, place[2][0], place[2][1]) : NULL;
    int depth = a_bytes / products[product].element_bytes;
    LLVMValueRef sum =
        b ? cg_amx_tile_product(f, product, rows, c_bytes / 4, depth, c, a, b) : NULL;
    return sum && cg_amx_tile_store(f, rows, c_bytes, place[0][0], place[0][1], sum);
}

bool cg_amx_call(CgFunc *f, const char *name, int num_args, TsExpr *const *args,
                 const TsExpr *result)
{
    int form = -1;
    for (int i = 0; i < (int)(sizeof memory_forms / sizeof *memory_forms); i++)
        if (strcmp(name, memory_forms[i]) == 0)
            form = i;
    if (form < 0 || result)
        return cg_fail(f->m, TS_ECODEGEN,
                       "%s: intrinsic %s: AMX tiles are reached only through the statements "
                       "llvm.x86.tilezero.internal, llvm.x86.tdpbusd.internal, "
                       "llvm.x86.tdpbssd.internal and llvm.x86.tdpbf16ps.internal, with "
                       "tiles in memory",
                       f->kernel, name);
    int want = form == 0 ? 4 : 9;
    if (num_args != want)
        return cg_fail(f->m, TS_ECODEGEN,
                       "%s: intrinsic %s takes %d arguments as a statement, the call gives %d",
                       f->kernel, name, want, num_args);
    if (form == 0)
        return zero_in_memory(f, name, args);
    return product_in_memory(f, name, (CgAmxProduct)(form - 1), args);
}

/* ---- the entry's request ---- */

bool cg_amx_entry_check(CgFunc *f, unsigned features)
{
    CgModule *m = f->m;
    LLVMValueRef args[] = {
        LLVMBuildGlobalStringPtr(f->b, f->kernel, "amx.kernel"),
        LLVMBuildGlobalStringPtr(f->b, cg_amx_features_text(features), "amx.features"),
    };
    LLVMValueRef rc = cg_call(f, m->amx_enter, 2, args);
    LLVMBasicBlockRef granted = cg_block(f, "amx.granted");
    LLVMValueRef br = LLVMBuildCondBr(f->b, LLVMBuildICmp(f->b, LLVMIntNE, rc, cg_i32(m, 0), ""),
                                      f->error_block, granted);
    cg_set_branch_weights(m, br, 1, 100000);
    LLVMPositionBuilderAtEnd(f->b, granted);
    return true;
}
