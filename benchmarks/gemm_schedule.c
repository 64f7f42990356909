/* The matrix product of the benchmarks: its tensor expression and a hand-written
 * schedule in the manner of TVM's "How to optimize GEMM on CPU", taken further for
 * AVX-512.
 *
 * The expression packs B into panels of bn columns, packedB[x, y, z] = B[y, x*bn + z]
 * (shape [N/bn, K, bn]), so that the product reads one panel row after another
 * contiguously; the packing is part of the kernel and of every timed call, as OpenBLAS's
 * own packing is part of sgemm's.
 *
 * The schedule:
 * - C is tiled into mr x bn register tiles; the panel loop j.outer is outermost and the
 *   row-block loop i.outer inside it, so one packed panel (K x bn floats: 256 KiB for
 *   K = 1024, bn = 64) stays in L2 while the rows of A stream past it.
 * - cache_write gives the accumulator C.local (mr x bn floats), computed at i.outer:
 *   k is split by ku, and the loops k.outer, k.inner, i.c, j.c are ordered so that the
 *   innermost j.c is one vector of bn floats (bn / 16 zmm registers), i.c and k.inner
 *   are unrolled. Every access to C.local then has a constant offset, so LLVM keeps the
 *   mr * bn / 16 accumulators in registers across k.outer (checked with TS_DUMP=asm:
 *   vfmadd231ps on zmm registers with no spill in the k loop).
 * - When mr does not divide M (6 and 1024), the last row block is a partial tile, which
 *   lowering guards and loop partitioning peels off the main loop.
 * - The copy-out of C.local into C is vectorized and unrolled.
 * - Parallel: j.outer runs on the thread pool, and so does the packing's panel loop.
 */
#include "benchmarks/gemm_schedule.h"

GemmConfig gemm_config_default(bool parallel)
{
    /* 6 x 64 tiles: 24 of the 32 zmm registers hold accumulators; each k step loads 4
     * vectors of B and broadcasts 6 elements of A for 24 multiply-adds. Measured against
     * 8 x 32, 12 x 32, 5/7 x 64 and ku 2/8 on this machine (bench_gemm with
     * BENCH_GEMM_CONFIG): the fastest at one thread, by 5-10%. */
    return (GemmConfig){ .bn = 64, .mr = 6, .ku = 4, .parallel = parallel };
}

/* packedB and C as compute ops over the placeholders A [m, k] and B [k, n]. */
static TsTensor *gemm_expression(TsArena *arena, int64_t m, int64_t n, int64_t k, int64_t bn,
                                 TsTensor **packed)
{
    TsTensor *a = ts_placeholder(arena, "A", 2, (int64_t[]){ m, k }, TS_FLOAT32);
    TsTensor *b = ts_placeholder(arena, "B", 2, (int64_t[]){ k, n }, TS_FLOAT32);
    TsAxis *x = ts_axis(arena, "x", n / bn), *y = ts_axis(arena, "y", k);
    TsAxis *z = ts_axis(arena, "z", bn);
    TsExpr *column = ts_add(arena, ts_mul(arena, ts_var(x), ts_i32(arena, bn)), ts_var(z));
    *packed = ts_compute(arena, "packedB", 3, (TsAxis *[]){ x, y, z },
                         ts_at(arena, b, ts_var(y), column));
    TsAxis *i = ts_axis(arena, "i", m), *j = ts_axis(arena, "j", n);
    TsAxis *r = ts_reduce_axis(arena, "k", k);
    TsExpr *panel = ts_floordiv(arena, ts_var(j), ts_i32(arena, bn));
    TsExpr *lane = ts_floormod(arena, ts_var(j), ts_i32(arena, bn));
    TsExpr *prod = ts_mul(arena, ts_at(arena, a, ts_var(i), ts_var(r)),
                          ts_at(arena, *packed, panel, ts_var(r), lane));
    return ts_compute(arena, "C", 2, (TsAxis *[]){ i, j },
                      ts_sum(arena, prod, 1, (TsAxis *[]){ r }, NULL));
}

/* The copy C <- C.local: tiles, panel loop outermost, the accumulator attached at the
 * row-block loop. */
static TsStatus schedule_output(TsSchedule *sch, TsTensor *c, TsTensor *acc,
                                const GemmConfig *config, TsError *err)
{
    TsStage *st = ts_stage(sch, c);
    TsAxis *io, *jo, *ii, *ji;
    TsStatus status = ts_tile(st, ts_stage_root_axis(st, 0), ts_stage_root_axis(st, 1), config->mr,
                              config->bn, &io, &jo, &ii, &ji, err);
    if (status == TS_OK)
        status = ts_reorder(st, 2, (TsAxis *[]){ jo, io }, err);
    if (status == TS_OK)
        status = ts_vectorize(st, ji, err);
    if (status == TS_OK)
        status = ts_unroll(st, ii, err);
    if (status == TS_OK && config->parallel)
        status = ts_parallel(st, jo, err);
    if (status == TS_OK)
        status = ts_compute_at(ts_stage(sch, acc), st, io, err);
    return status;
}

/* The accumulator's loops: k.outer, k.inner (unrolled), i.c (unrolled), j.c (vector). */
static TsStatus schedule_accumulator(TsSchedule *sch, TsTensor *acc, const GemmConfig *config,
                                     TsError *err)
{
    TsStage *st = ts_stage(sch, acc);
    TsAxis *ci = ts_stage_root_axis(st, 0), *cj = ts_stage_root_axis(st, 1);
    TsAxis *ko, *ki, *cjo, *cji;
    TsStatus status = ts_split(st, ts_stage_root_axis(st, 2), config->ku, &ko, &ki, err);
    /* ts_vectorize checks an axis's extent (at most 1024 lanes) before compute_at narrows
     * it to the tile, so j.c is split by the tile width first (j.c.outer has extent 1). */
    if (status == TS_OK)
        status = ts_split(st, cj, config->bn, &cjo, &cji, err);
    if (status == TS_OK)
        status = ts_reorder(st, 5, (TsAxis *[]){ cjo, ko, ki, ci, cji }, err);
    if (status == TS_OK)
        status = ts_unroll(st, ki, err);
    if (status == TS_OK)
        status = ts_unroll(st, ci, err);
    if (status == TS_OK)
        status = ts_vectorize(st, cji, err);
    return status;
}

/* The packing: one vector of bn floats per row of a panel. */
static TsStatus schedule_packing(TsSchedule *sch, TsTensor *packed, const GemmConfig *config,
                                 TsError *err)
{
    TsStage *st = ts_stage(sch, packed);
    TsStatus status = ts_vectorize(st, ts_stage_root_axis(st, 2), err);
    if (status == TS_OK && config->parallel)
        status = ts_parallel(st, ts_stage_root_axis(st, 0), err);
    return status;
}

TsStatus gemm_build(TsArena *arena, int64_t m, int64_t n, int64_t k, const GemmConfig *config,
                    const char *name, TsTensor **output, TsLoweredFunc **func, TsError *err)
{
    if (config->bn < 1 || config->mr < 1 || config->ku < 1 || n % config->bn != 0 ||
        k % config->ku != 0)
        return ts_fail(err, TS_EINVAL,
                       "gemm %lldx%lldx%lld: bn %lld must divide N and ku %lld K (mr %lld may "
                       "leave a tail of rows)",
                       (long long)m, (long long)n, (long long)k, (long long)config->bn,
                       (long long)config->ku, (long long)config->mr);
    TsTensor *packed = NULL;
    TsTensor *c = gemm_expression(arena, m, n, k, config->bn, &packed);
    TsStatus status = ts_arena_check(arena, err);
    if (status != TS_OK)
        return status;
    TsSchedule *sch = ts_schedule_create(arena, 1, &c);
    if (!sch)
        return ts_arena_check(arena, err);
    TsTensor *acc;
    status = ts_cache_write(sch, c, &acc, err);
    if (status == TS_OK)
        status = schedule_output(sch, c, acc, config, err);
    if (status == TS_OK)
        status = schedule_accumulator(sch, acc, config, err);
    if (status == TS_OK)
        status = schedule_packing(sch, packed, config, err);
    if (status == TS_OK)
        status = ts_lower(sch, name, func, err);
    if (status == TS_OK && output)
        *output = c;
    return status;
}
