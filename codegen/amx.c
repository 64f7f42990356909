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
/* The byte offsets of A and B at flat step k of the nest (k's digits in the radices
 * steps, levels[0].steps, levels[1].steps times the steps of each level). */
static void step_offsets(CgFunc *f, const CgAmxGemm *g, LLVMValueRef k, LLVMValueRef *a_off,
                         LLVMValueRef *b_off)
{
    CgModule *m = f->m;
    LLVMValueRef digit = k, rest = NULL;
    bool nested = g->levels[0].steps > 1 || g->levels[1].steps > 1;
    if (nested) {
        digit = LLVMBuildURem(f->b, k, cg_i64(m, g->steps), "");
        rest = LLVMBuildUDiv(f->b, k, cg_i64(m, g->steps), "");
    }
    *a_off = LLVMBuildMul(f->b, digit, g->a_step, "");
    *b_off = LLVMBuildMul(f->b, digit, g->b_step, "");
    for (int l = 0; l < 2 && nested; l++) {
        int64_t steps = g->levels[l].steps;
        if (steps <= 1)
            continue;
        digit = l == 1 ? rest : LLVMBuildURem(f->b, rest, cg_i64(m, steps), "");
        if (l == 0)
            rest = LLVMBuildUDiv(f->b, rest, cg_i64(m, steps), "");
        *a_off = LLVMBuildAdd(f->b, *a_off, LLVMBuildMul(f->b, digit, g->levels[l].a_step, ""), "");
        *b_off = LLVMBuildAdd(f->b, *b_off, LLVMBuildMul(f->b, digit, g->levels[l].b_step, ""), "");
    }
}

static int64_t total_steps(const CgAmxGemm *g)
{
    int64_t total = g->steps;
    for (int l = 0; l < 2; l++)
        total *= g->levels[l].steps > 1 ? g->levels[l].steps : 1;
    return total;
}

enum { MAX_ACCUMULATORS = 4, TILE_REGISTERS = 8 };

/* The blocks of dimension d (0 rows, 1 columns) of g. */
static int block_count(const CgAmxGemm *g, int d)
{
    return g->blocks[d].count > 1 ? g->blocks[d].count : 1;
}

/* base plus index times step bytes (base itself for index 0). */
static LLVMValueRef block_ptr(CgFunc *f, LLVMValueRef base, int index, LLVMValueRef step)
{
    if (index == 0)
        return base;
    LLVMValueRef off = LLVMBuildMul(f->b, cg_i64(f->m, index), step, "");
    return LLVMBuildGEP2(f->b, f->m->t_i8, base, &off, 1, "");
}

/* C's tile of row block r and column block s. */
static LLVMValueRef c_block(CgFunc *f, const CgAmxGemm *g, int r, int s)
{
    LLVMValueRef ptr = r ? block_ptr(f, g->c, r, g->blocks[0].c_step) : g->c;
    return s ? block_ptr(f, ptr, s, g->blocks[1].c_step) : ptr;
}

/* One step: each A and B tile at step k loaded once, multiplied into the accumulators. */
static bool gemm_step(CgFunc *f, const CgAmxGemm *g, LLVMValueRef k, LLVMValueRef *acc,
                      LLVMValueRef *next)
{
    CgModule *m = f->m;
    int depth_bytes = g->depth * products[g->product].element_bytes;
    int mb = block_count(g, 0), nb = block_count(g, 1);
    LLVMValueRef a_off, b_off, a[MAX_ACCUMULATORS], b[MAX_ACCUMULATORS];
    step_offsets(f, g, k, &a_off, &b_off);
    LLVMValueRef a_ptr = LLVMBuildGEP2(f->b, m->t_i8, g->a, &a_off, 1, "amx.a");
    LLVMValueRef b_ptr = LLVMBuildGEP2(f->b, m->t_i8, g->b, &b_off, 1, "amx.b");
    for (int r = 0; r < mb; r++)
        if (!(a[r] = cg_amx_tile_load(f, g->rows, depth_bytes,
                                      block_ptr(f, a_ptr, r, g->blocks[0].ab_step), g->a_stride)))
            return false;
    for (int s = 0; s < nb; s++)
        if (!(b[s] = cg_amx_tile_load(f, depth_bytes / 4, g->cols * 4,
                                      block_ptr(f, b_ptr, s, g->blocks[1].ab_step), g->b_stride)))
            return false;
    for (int r = 0; r < mb; r++)
        for (int s = 0; s < nb; s++)
            if (!(next[r * nb + s] = cg_amx_tile_product(f, g->product, g->rows, g->cols, g->depth,
                                                         acc[r * nb + s], a[r], b[s])))
                return false;
    return true;
}

static bool blocks_fit(CgFunc *f, const CgAmxGemm *g)
{
    int mb = block_count(g, 0), nb = block_count(g, 1);
    if (mb * nb <= MAX_ACCUMULATORS && mb * nb + mb + nb <= TILE_REGISTERS)
        return true;
    return cg_fail(f->m, TS_ECODEGEN,
                   "%s: AMX %s over %d x %d accumulator tiles; at most %d, which with their A "
                   "and B tiles fit the %d tile registers",
                   f->kernel, products[g->product].instruction, mb, nb, MAX_ACCUMULATORS,
                   TILE_REGISTERS);
}

bool cg_amx_gemm(CgFunc *f, const CgAmxGemm *g)
{
    CgModule *m = f->m;
    if (!cg_amx_require(f, g->product) || !blocks_fit(f, g))
        return false;
    if (g->steps < 1)
        return cg_fail(m, TS_ECODEGEN, "%s: AMX %s with %lld reduction steps", f->kernel,
                       products[g->product].instruction, (long long)g->steps);
    int num = block_count(g, 0) * block_count(g, 1), nb = block_count(g, 1);
    LLVMValueRef init[MAX_ACCUMULATORS], acc[MAX_ACCUMULATORS], next[MAX_ACCUMULATORS];
    for (int i = 0; i < num; i++) {
        init[i] = g->accumulate ? cg_amx_tile_load(f, g->rows, g->cols * 4,
                                                   c_block(f, g, i / nb, i % nb), g->c_stride)
                                : cg_amx_tile_zero(f, g->rows, g->cols * 4);
        if (!init[i])
            return false;
    }
    LLVMBasicBlockRef before = LLVMGetInsertBlock(f->b);
    LLVMBasicBlockRef loop = cg_block(f, "amx.loop"), done = cg_block(f, "amx.done");
    LLVMBuildBr(f->b, loop);
    LLVMPositionBuilderAtEnd(f->b, loop);
    LLVMValueRef k = LLVMBuildPhi(f->b, m->t_i64, "amx.k");
    for (int i = 0; i < num; i++)
        acc[i] = LLVMBuildPhi(f->b, LLVMX86AMXTypeInContext(m->ctx), "amx.acc");
    if (!gemm_step(f, g, k, acc, next))
        return false;
    LLVMValueRef next_k = LLVMBuildNUWAdd(f->b, k, cg_i64(m, 1), "");
    LLVMBasicBlockRef latch = LLVMGetInsertBlock(f->b);
    LLVMBasicBlockRef from[] = { before, latch };
    LLVMValueRef k_in[] = { cg_i64(m, 0), next_k };
    LLVMAddIncoming(k, k_in, from, 2);
    for (int i = 0; i < num; i++)
        LLVMAddIncoming(acc[i], (LLVMValueRef[]){ init[i], next[i] }, from, 2);
    LLVMBuildCondBr(f->b, LLVMBuildICmp(f->b, LLVMIntEQ, next_k, cg_i64(m, total_steps(g)), ""),
                    done, loop);
    LLVMPositionBuilderAtEnd(f->b, done);
    for (int i = 0; i < num; i++)
        if (!cg_amx_tile_store(f, g->rows, g->cols * 4, c_block(f, g, i / nb, i % nb), g->c_stride,
                               next[i]))
            return false;
    return true;
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
 *       stored back;
 *   the same with four more arguments (steps, a_step, b_step, accumulate):
 *       C = (accumulate ? C : 0) + sum over s < steps of A_s . B_s, where A_s and B_s are
 *       a_step and b_step bytes after A_(s-1) and B_(s-1); C stays in a tile register
 *       for the whole loop, loaded (when accumulating) and stored once. steps and
 *       accumulate are constants;
 *   the same with six more (steps1, a_step1, b_step1, steps2, a_step2, b_step2): the
 *       steps above repeated steps1 times, each a_step1 and b_step1 bytes further, and
 *       that repeated steps2 times (a convolution's kernel columns, rows and input
 *       channel blocks, in one accumulation); steps1 and steps2 are constants;
 *   the same with four more (row_blocks, col_blocks, c_col_step, b_col_step): C is
 *       row_blocks x col_blocks tiles (constants, at most 4 tiles, with their A and B
 *       tiles at most 8); row block r is the rows r * rows further down C and A, column
 *       block s's C and B are s c_col_step and s b_col_step bytes further; every step
 *       loads each A and B tile once.
 * A tile stored and loaded again at once waits for the store, so a deep reduction is
 * much faster in one statement than in many.
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

/* An integer expression argument as an i64. */
static LLVMValueRef i64_arg(CgFunc *f, const char *name, const TsExpr *e, int i)
{
    if (!ts_dtype_is_int(e->dtype) || e->dtype.lanes != 1) {
        cg_fail(f->m, TS_ECODEGEN, "%s: intrinsic %s: argument %d (%s) must be a scalar integer",
                f->kernel, name, i, cg_expr_text(f->m, e, 60));
        return NULL;
    }
    LLVMValueRef value = cg_expr(f, e, NULL);
    return value ? LLVMBuildIntCast2(f->b, value, f->m->t_i64, !ts_dtype_is_uint(e->dtype), "")
                 : NULL;
}

/* The deep form's steps, a_step, b_step and accumulate (args 9 to 12) into g. */
static bool deep_args(CgFunc *f, const char *name, TsExpr *const *args, CgAmxGemm *g)
{
    int64_t steps, accumulate;
    if (!cg_const_operand(args[9], &steps) || steps < 1 || steps > (1 << 20))
        return cg_fail(f->m, TS_ECODEGEN,
                       "%s: intrinsic %s: argument 9 (%s), the steps, must be an integer "
                       "constant in [1, 2^20]",
                       f->kernel, name, cg_expr_text(f->m, args[9], 60));
    if (!cg_const_operand(args[12], &accumulate) || (accumulate != 0 && accumulate != 1))
        return cg_fail(f->m, TS_ECODEGEN,
                       "%s: intrinsic %s: argument 12 (%s), whether C accumulates, must be the "
                       "constant 0 or 1",
                       f->kernel, name, cg_expr_text(f->m, args[12], 60));
    g->steps = steps;
    g->accumulate = accumulate == 1;
    g->a_step = i64_arg(f, name, args[10], 10);
    g->b_step = g->a_step ? i64_arg(f, name, args[11], 11) : NULL;
    return g->b_step != NULL;
}

/* A constant count of blocks in [1, MAX_ACCUMULATORS] (args[i]), or 0 after the error. */
static int block_count_arg(CgFunc *f, const char *name, TsExpr *const *args, int i)
{
    int64_t count;
    if (cg_const_operand(args[i], &count) && count >= 1 && count <= MAX_ACCUMULATORS)
        return (int)count;
    cg_fail(f->m, TS_ECODEGEN,
            "%s: intrinsic %s: argument %d (%s), a count of blocks, must be an integer constant "
            "in [1, %d]",
            f->kernel, name, i, cg_expr_text(f->m, args[i], 60), MAX_ACCUMULATORS);
    return 0;
}

/* The block form's blocks (args 19 to 22) into g: row blocks follow one another (the
 * next rows of C and A), column blocks are c_col_step and b_col_step bytes apart. */
static bool block_args(CgFunc *f, const char *name, TsExpr *const *args, CgAmxGemm *g)
{
    g->blocks[0].count = block_count_arg(f, name, args, 19);
    g->blocks[1].count = g->blocks[0].count ? block_count_arg(f, name, args, 20) : 0;
    if (!g->blocks[1].count)
        return false;
    LLVMValueRef rows = cg_i64(f->m, g->rows);
    g->blocks[0].c_step = LLVMBuildMul(f->b, rows, g->c_stride, "");
    g->blocks[0].ab_step = LLVMBuildMul(f->b, rows, g->a_stride, "");
    g->blocks[1].c_step = i64_arg(f, name, args[21], 21);
    g->blocks[1].ab_step = g->blocks[1].c_step ? i64_arg(f, name, args[22], 22) : NULL;
    return g->blocks[1].ab_step != NULL;
}

/* The nested form's two outer levels (args 13 to 18) into g. */
static bool level_args(CgFunc *f, const char *name, TsExpr *const *args, CgAmxGemm *g)
{
    int64_t total = g->steps;
    for (int l = 0; l < 2; l++) {
        int i = 13 + 3 * l;
        int64_t steps;
        if (!cg_const_operand(args[i], &steps) || steps < 1 || steps > (1 << 20) ||
            total * steps > (1 << 20))
            return cg_fail(f->m, TS_ECODEGEN,
                           "%s: intrinsic %s: argument %d (%s), a level's steps, must be an "
                           "integer constant in [1, 2^20], all levels' steps at most 2^20",
                           f->kernel, name, i, cg_expr_text(f->m, args[i], 60));
        total *= steps;
        g->levels[l].steps = steps;
        g->levels[l].a_step = i64_arg(f, name, args[i + 1], i + 1);
        g->levels[l].b_step = g->levels[l].a_step ? i64_arg(f, name, args[i + 2], i + 2) : NULL;
        if (!g->levels[l].b_step)
            return false;
    }
    return true;
}

static bool product_in_memory(CgFunc *f, const char *name, CgAmxProduct product, int num_args,
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
    CgAmxGemm g = { .product = product,
                    .rows = rows,
                    .cols = c_bytes / 4,
                    .depth = a_bytes / products[product].element_bytes,
                    .steps = 1,
                    .accumulate = true,
                    .a_step = cg_i64(f->m, 0),
                    .b_step = cg_i64(f->m, 0) };
    if (!place_args(f, name, args, 3, &g.c, &g.c_stride) ||
        !place_args(f, name, args, 5, &g.a, &g.a_stride) ||
        !place_args(f, name, args, 7, &g.b, &g.b_stride))
        return false;
    if (num_args >= 13 && !deep_args(f, name, args, &g))
        return false;
    if (num_args >= 19 && !level_args(f, name, args, &g))
        return false;
    if (num_args == 23 && !block_args(f, name, args, &g))
        return false;
    return cg_amx_gemm(f, &g);
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
    if (form == 0 ? num_args != 4
                  : num_args != 9 && num_args != 13 && num_args != 19 && num_args != 23)
        return cg_fail(f->m, TS_ECODEGEN,
                       "%s: intrinsic %s takes %s arguments as a statement, the call gives %d",
                       f->kernel, name, form == 0 ? "4" : "9, 13, 19 or 23", num_args);
    if (form == 0)
        return zero_in_memory(f, name, args);
    return product_in_memory(f, name, (CgAmxProduct)(form - 1), num_args, args);
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
