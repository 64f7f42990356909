/* Register-blocked dot-product micro-kernels: the CALL statement
 * "tessera.dot_block.<product>" of the loop-nest IR becomes a loop nest whose
 * accumulators are LLVM values (phis), not memory. Loaded (or zeroed) once before the
 * reduction and stored once after it, they stay in vector registers for the whole
 * reduction; the loop body is only the loads of the operands and the products. The
 * register-blocked tensor intrinsics of schedule/intrin_dot_block.c emit it: the 4-byte
 * dot products of AVX512-VNNI and AArch64 NEON, which, called once per product on
 * accumulators in memory, would load and store them at every step.
 *
 * Products (the target must have what they need, or TS_ECODEGEN names the product, the
 * target and the missing feature):
 *   vpdpbusd  16 int32 lanes, u8 data x s8 weights   x86-64, avx512vnni
 *   sdot/udot  4 int32 lanes, s8 x s8 / u8 x u8        aarch64, dotprod
 *   smull/umull 4 int32 lanes, s8 x s8 / u8 x u8      aarch64 (NEON): smull(2) into 16
 *             bits and sadalp into two accumulators per output vector (the lower and upper
 *             two lanes' pairs of products), summed pairwise (addp) once at the end
 * Each lane j of an output vector sums, per step, the 4 products of the 4 data bytes (one
 * group, broadcast to every lane) with the weight bytes 4j .. 4j + 3.
 *
 * The statement, with byte strides (scalar integers) and constants where it says so:
 *   tessera.dot_block.P(rows, vecs, C, c_row, c_vec, A, a_row, B, b_vec, accumulate,
 *                       steps0, a_step0, b_step0, ..., steps3, a_step3, b_step3)
 *   for r < rows, v < vecs:  C(r, v) = (accumulate ? C(r, v) : 0)
 *       + sum over the steps s3, s2, s1, s0 (s0 innermost) of dot(A(r) + sum a_step_l s_l,
 *                                                              B(v) + sum b_step_l s_l)
 *   where C(r, v) is the vector at C + r c_row + v c_vec, A(r) the 4-byte group at
 *   A + r a_row and B(v) the weight vector at B + v b_vec. rows x vecs is at most 64,
 *   accumulate 0 or 1, every steps_l a constant >= 1 (a level of 1 step is no loop). */
#include <string.h>

#include "cg_internal.h"

enum { MAX_BLOCK = 64, LEVELS = 4, NUM_ARGS = 10 + 3 * LEVELS };

typedef enum Product { VPDPBUSD, SDOT, UDOT, SMULL, UMULL } Product;

static const struct {
    const char *name;
    CgArch arch;
    const char *feature; /* besides the architecture; NULL for none */
    int lanes;           /* int32 lanes of an output vector */
} products[] = {
    [VPDPBUSD] = { "vpdpbusd", CG_ARCH_X86_64, "avx512vnni", 16 },
    [SDOT] = { "sdot", CG_ARCH_AARCH64, "dotprod", 4 },
    [UDOT] = { "udot", CG_ARCH_AARCH64, "dotprod", 4 },
    [SMULL] = { "smull", CG_ARCH_AARCH64, "neon", 4 },
    [UMULL] = { "umull", CG_ARCH_AARCH64, "neon", 4 },
};

static const char prefix[] = "tessera.dot_block.";

bool cg_dot_block_is(const char *name)
{
    return strncmp(name, prefix, sizeof prefix - 1) == 0;
}

/* ---- the block ---- */

typedef struct Level {
    int64_t steps;
    LLVMValueRef a_step, b_step;
} Level;

typedef struct Block {
    Product product;
    int rows, vecs;
    bool accumulate;
    LLVMValueRef c, c_row, c_vec, a, a_row, b, b_vec;
    Level levels[LEVELS];
    /* per (r, v), r major; the widening products keep two (lower, upper) */
    LLVMValueRef acc[2][MAX_BLOCK];
} Block;

static bool widening(Product p)
{
    return p == SMULL || p == UMULL;
}

static LLVMTypeRef vec(LLVMTypeRef elem, unsigned lanes)
{
    return LLVMVectorType(elem, lanes);
}

/* The declaration of intrinsic name, overloaded on types. */
static CgCallee intrinsic(CgFunc *f, const char *name, int num_types, LLVMTypeRef *types)
{
    unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
    CgCallee callee = { 0 };
    if (id == 0) {
        cg_fail(f->m, TS_ECODEGEN, "%s: LLVM has no intrinsic %s", f->kernel, name);
        return callee;
    }
    callee.fn = LLVMGetIntrinsicDeclaration(f->m->mod, id, types, (size_t)num_types);
    callee.type = LLVMIntrinsicGetType(f->m->ctx, id, types, (size_t)num_types);
    return callee;
}

static LLVMValueRef call(CgFunc *f, const char *name, int num_types, LLVMTypeRef *types,
                         int num_args, LLVMValueRef *args)
{
    CgCallee callee = intrinsic(f, name, num_types, types);
    return callee.fn ? cg_call(f, callee, num_args, args) : NULL;
}

static LLVMValueRef at(CgFunc *f, LLVMValueRef base, LLVMValueRef offset)
{
    return LLVMBuildGEP2(f->b, f->m->t_i8, base, &offset, 1, "");
}

static LLVMValueRef load(CgFunc *f, LLVMTypeRef type, LLVMValueRef ptr, unsigned align)
{
    LLVMValueRef v = LLVMBuildLoad2(f->b, type, ptr, "");
    LLVMSetAlignment(v, align);
    return v;
}

/* base + i * stride bytes. */
static LLVMValueRef nth(CgFunc *f, LLVMValueRef base, int i, LLVMValueRef stride)
{
    return i == 0 ? base : at(f, base, LLVMBuildMul(f->b, cg_i64(f->m, i), stride, ""));
}

static LLVMTypeRef acc_type(CgFunc *f, const Block *k)
{
    return vec(f->m->t_i32, (unsigned)products[k->product].lanes);
}

/* A's group at a (4 bytes) repeated over bytes bytes, as a vector of i8 (NEON) or the 16
 * int32 lanes vpdpbusd takes. */
static LLVMValueRef group(CgFunc *f, const Block *k, LLVMValueRef a, int bytes)
{
    CgModule *m = f->m;
    LLVMValueRef word = load(f, m->t_i32, a, 1);
    LLVMTypeRef words = vec(m->t_i32, (unsigned)bytes / 4);
    LLVMValueRef one = LLVMBuildInsertElement(f->b, LLVMGetUndef(words), word, cg_i32(m, 0), "");
    LLVMValueRef all = LLVMBuildShuffleVector(
        f->b, one, LLVMGetUndef(words), LLVMConstNull(vec(m->t_i32, (unsigned)bytes / 4)), "");
    return k->product == VPDPBUSD ? all : LLVMBuildBitCast(f->b, all, vec(m->t_i8, bytes), "");
}

/* The lower or upper 8 bytes of a 16-byte vector. */
static LLVMValueRef half(CgFunc *f, LLVMValueRef v, int which)
{
    LLVMValueRef idx[8];
    for (int i = 0; i < 8; i++)
        idx[i] = cg_i32(f->m, 8 * which + i);
    return LLVMBuildShuffleVector(f->b, v, LLVMGetUndef(LLVMTypeOf(v)), LLVMConstVector(idx, 8),
                                  "");
}

/* acc + the pairwise sums of the widened products of the halves which of b and a16 (both
 * halves of 16 bytes, so that LLVM selects smull2 for the upper ones, without moves). */
static LLVMValueRef widening_step(CgFunc *f, const Block *k, LLVMValueRef acc, LLVMValueRef b,
                                  LLVMValueRef a16, int which)
{
    CgModule *m = f->m;
    bool is_signed = k->product == SMULL;
    LLVMTypeRef v8i16 = vec(m->t_i16, 8), v4i32 = vec(m->t_i32, 4);
    LLVMValueRef mul_args[] = { half(f, b, which), half(f, a16, which) };
    LLVMValueRef prod = call(f, is_signed ? "llvm.aarch64.neon.smull" : "llvm.aarch64.neon.umull",
                             1, &v8i16, 2, mul_args);
    LLVMTypeRef add_types[] = { v4i32, v8i16 };
    LLVMValueRef sums =
        prod ? call(f, is_signed ? "llvm.aarch64.neon.saddlp" : "llvm.aarch64.neon.uaddlp", 2,
                    add_types, 1, &prod)
             : NULL;
    return sums ? LLVMBuildAdd(f->b, acc, sums, "") : NULL;
}

/* One step of the reduction at a and b: every accumulator updated. */
static bool step(CgFunc *f, Block *k, LLVMValueRef a, LLVMValueRef b)
{
    CgModule *m = f->m;
    int lanes = products[k->product].lanes;
    LLVMTypeRef bt = k->product == VPDPBUSD ? acc_type(f, k) : vec(m->t_i8, 16);
    LLVMValueRef w[MAX_BLOCK];
    for (int v = 0; v < k->vecs; v++)
        w[v] = load(f, bt, nth(f, b, v, k->b_vec), 1);
    for (int r = 0; r < k->rows; r++) {
        LLVMValueRef ar = nth(f, a, r, k->a_row);
        LLVMValueRef g = group(f, k, ar, 4 * lanes);
        for (int v = 0; v < k->vecs; v++) {
            int i = r * k->vecs + v;
            LLVMValueRef *acc = &k->acc[0][i];
            switch (k->product) {
            case VPDPBUSD:
                *acc = call(f, "llvm.x86.avx512.vpdpbusd.512", 0, NULL, 3,
                            (LLVMValueRef[]){ *acc, g, w[v] });
                break;
            case SDOT:
            case UDOT: {
                LLVMTypeRef types[] = { acc_type(f, k), vec(m->t_i8, 16) };
                *acc = call(
                    f, k->product == SDOT ? "llvm.aarch64.neon.sdot" : "llvm.aarch64.neon.udot", 2,
                    types, 3, (LLVMValueRef[]){ *acc, w[v], g });
                break;
            }
            case SMULL:
            case UMULL:
                *acc = widening_step(f, k, *acc, w[v], g, 0);
                k->acc[1][i] = *acc ? widening_step(f, k, k->acc[1][i], w[v], g, 1) : NULL;
                if (!k->acc[1][i])
                    return false;
                break;
            }
            if (!*acc)
                return false;
        }
    }
    return true;
}

static int num_accs(const Block *k)
{
    return k->rows * k->vecs;
}

/* Levels level and inside, from a and b: a loop per level of more than one step, the
 * accumulators carried by phis; k->acc holds their values after it. */
static bool nest(CgFunc *f, Block *k, int level, LLVMValueRef a, LLVMValueRef b)
{
    if (level < 0)
        return step(f, k, a, b);
    const Level *l = &k->levels[level];
    if (l->steps == 1)
        return nest(f, k, level - 1, a, b);
    CgModule *m = f->m;
    int n = num_accs(k), halves = widening(k->product) ? 2 : 1;
    LLVMBasicBlockRef before = LLVMGetInsertBlock(f->b);
    LLVMBasicBlockRef loop = cg_block(f, "dot.loop"), done = cg_block(f, "dot.done");
    LLVMBuildBr(f->b, loop);
    LLVMPositionBuilderAtEnd(f->b, loop);
    LLVMValueRef i = LLVMBuildPhi(f->b, m->t_i64, "dot.i");
    LLVMValueRef pa = LLVMBuildPhi(f->b, m->t_ptr, "dot.a"),
                 pb = LLVMBuildPhi(f->b, m->t_ptr, "dot.b");
    LLVMValueRef phis[2][MAX_BLOCK], init[2][MAX_BLOCK];
    for (int h = 0; h < halves; h++)
        for (int j = 0; j < n; j++) {
            init[h][j] = k->acc[h][j];
            phis[h][j] = k->acc[h][j] = LLVMBuildPhi(f->b, acc_type(f, k), "dot.acc");
        }
    if (!nest(f, k, level - 1, pa, pb))
        return false;
    LLVMValueRef next_i = LLVMBuildNUWAdd(f->b, i, cg_i64(m, 1), "");
    LLVMValueRef next_a = at(f, pa, l->a_step), next_b = at(f, pb, l->b_step);
    LLVMBasicBlockRef latch = LLVMGetInsertBlock(f->b);
    LLVMBasicBlockRef from[] = { before, latch };
    LLVMAddIncoming(i, (LLVMValueRef[]){ cg_i64(m, 0), next_i }, from, 2);
    LLVMAddIncoming(pa, (LLVMValueRef[]){ a, next_a }, from, 2);
    LLVMAddIncoming(pb, (LLVMValueRef[]){ b, next_b }, from, 2);
    for (int h = 0; h < halves; h++)
        for (int j = 0; j < n; j++)
            LLVMAddIncoming(phis[h][j], (LLVMValueRef[]){ init[h][j], k->acc[h][j] }, from, 2);
    LLVMBuildCondBr(f->b, LLVMBuildICmp(f->b, LLVMIntEQ, next_i, cg_i64(m, l->steps), ""), done,
                    loop);
    LLVMPositionBuilderAtEnd(f->b, done);
    return true;
}

/* The accumulators' first values, the nest, and the stores. */
static bool emit(CgFunc *f, Block *k)
{
    LLVMTypeRef t = acc_type(f, k);
    for (int r = 0; r < k->rows; r++)
        for (int v = 0; v < k->vecs; v++) {
            int i = r * k->vecs + v;
            LLVMValueRef p = nth(f, nth(f, k->c, r, k->c_row), v, k->c_vec);
            k->acc[0][i] =
                k->accumulate && !widening(k->product) ? load(f, t, p, 4) : LLVMConstNull(t);
            k->acc[1][i] = LLVMConstNull(t);
        }
    if (!nest(f, k, LEVELS - 1, k->a, k->b))
        return false;
    for (int r = 0; r < k->rows; r++)
        for (int v = 0; v < k->vecs; v++) {
            int i = r * k->vecs + v;
            LLVMValueRef p = nth(f, nth(f, k->c, r, k->c_row), v, k->c_vec);
            LLVMValueRef sum = k->acc[0][i];
            if (widening(k->product)) {
                sum = call(f, "llvm.aarch64.neon.addp", 1, &t, 2,
                           (LLVMValueRef[]){ k->acc[0][i], k->acc[1][i] });
                if (sum && k->accumulate)
                    sum = LLVMBuildAdd(f->b, load(f, t, p, 4), sum, "");
            }
            if (!sum)
                return false;
            LLVMSetAlignment(LLVMBuildStore(f->b, sum, p), 4);
        }
    return true;
}

/* ---- the statement's arguments ---- */

static bool const_arg(CgFunc *f, const char *name, TsExpr *const *args, int i, int64_t lo,
                      int64_t hi, const char *what, int64_t *out)
{
    if (cg_const_operand(args[i], out) && args[i]->dtype.lanes == 1 && *out >= lo && *out <= hi)
        return true;
    return cg_fail(f->m, TS_ECODEGEN,
                   "%s: intrinsic %s: argument %d (%s), %s, must be an integer constant in "
                   "[%lld, %lld]",
                   f->kernel, name, i, cg_expr_text(f->m, args[i], 60), what, (long long)lo,
                   (long long)hi);
}

static LLVMValueRef address_arg(CgFunc *f, const char *name, TsExpr *const *args, int i)
{
    if (args[i]->kind == TE_ADDRESS)
        return cg_address(f, args[i]);
    cg_fail(f->m, TS_ECODEGEN, "%s: intrinsic %s: argument %d (%s) must be an address", f->kernel,
            name, i, cg_expr_text(f->m, args[i], 60));
    return NULL;
}

/* A byte stride: a scalar integer, as an i64. */
static LLVMValueRef stride_arg(CgFunc *f, const char *name, TsExpr *const *args, int i)
{
    const TsExpr *e = args[i];
    if (!ts_dtype_is_int(e->dtype) || e->dtype.lanes != 1) {
        cg_fail(f->m, TS_ECODEGEN,
                "%s: intrinsic %s: argument %d (%s) must be a scalar integer, a stride in bytes",
                f->kernel, name, i, cg_expr_text(f->m, e, 60));
        return NULL;
    }
    LLVMValueRef v = cg_expr(f, e, NULL);
    return v ? LLVMBuildIntCast2(f->b, v, f->m->t_i64, !ts_dtype_is_uint(e->dtype), "") : NULL;
}

static bool product_of(CgFunc *f, const char *name, Product *out)
{
    const char *suffix = name + sizeof prefix - 1;
    for (int p = 0; p < (int)(sizeof products / sizeof *products); p++) {
        if (strcmp(suffix, products[p].name) != 0)
            continue;
        const TsTarget *t = f->m->target;
        bool arch = t->arch == products[p].arch;
        if (!arch || (products[p].feature && !ts_target_has_feature(t, products[p].feature)))
            return cg_fail(f->m, TS_ECODEGEN,
                           "%s: the dot product %s needs %s, which target %s lacks", f->kernel,
                           products[p].name,
                           !arch ? (products[p].arch == CG_ARCH_X86_64 ? "x86-64" : "aarch64")
                                 : products[p].feature,
                           t->text);
        *out = (Product)p;
        return true;
    }
    return cg_fail(f->m, TS_ECODEGEN,
                   "%s: intrinsic %s: no such dot product (vpdpbusd, sdot, udot, smull, umull)",
                   f->kernel, name);
}

bool cg_dot_block_call(CgFunc *f, const char *name, int num_args, TsExpr *const *args,
                       const TsExpr *result)
{
    Block k = { 0 };
    if (result || num_args != NUM_ARGS)
        return cg_fail(f->m, TS_ECODEGEN,
                       "%s: intrinsic %s is a statement of %d arguments; the call %s %d", f->kernel,
                       name, NUM_ARGS, result ? "wants a value and gives" : "gives", num_args);
    int64_t rows, vecs, accumulate;
    if (!product_of(f, name, &k.product) ||
        !const_arg(f, name, args, 0, 1, MAX_BLOCK, "the rows", &rows) ||
        !const_arg(f, name, args, 1, 1, MAX_BLOCK / rows, "the vectors", &vecs) ||
        !const_arg(f, name, args, 9, 0, 1, "whether C accumulates", &accumulate))
        return false;
    k.rows = (int)rows;
    k.vecs = (int)vecs;
    k.accumulate = accumulate == 1;
    if (!(k.c = address_arg(f, name, args, 2)) || !(k.c_row = stride_arg(f, name, args, 3)) ||
        !(k.c_vec = stride_arg(f, name, args, 4)) || !(k.a = address_arg(f, name, args, 5)) ||
        !(k.a_row = stride_arg(f, name, args, 6)) || !(k.b = address_arg(f, name, args, 7)) ||
        !(k.b_vec = stride_arg(f, name, args, 8)))
        return false;
    for (int l = 0; l < LEVELS; l++) {
        int i = 10 + 3 * l;
        Level *lv = &k.levels[l];
        if (!const_arg(f, name, args, i, 1, 1 << 24, "a level's steps", &lv->steps) ||
            !(lv->a_step = stride_arg(f, name, args, i + 1)) ||
            !(lv->b_step = stride_arg(f, name, args, i + 2)))
            return false;
    }
    return emit(f, &k);
}
