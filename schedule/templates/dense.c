/* The dense template ("dense_pack"): TVM's dense, out[M, N] = data[M, K] . weight[N, K]^T
 * in float32, scheduled as a blocked, register-tiled matrix product with the weight
 * packed into panels inside the kernel.
 *
 * One template serves x86-64 AVX2 and AVX-512 and AArch64 NEON: its knobs are built
 * from the target's vector width and register count, so a tuning log keeps one template
 * name per operator and the target string tells the spaces apart.
 *
 * The expression. The weight is packed into panels of bn rows of weight (bn columns of
 * out), packed[x, k, z] = weight[min(x * bn + z, N - 1), k], shape [ceil(N / bn), K, bn],
 * so that the product reads one panel row (bn contiguous floats, bn / lanes vectors) per
 * k step. The clamp keeps the last, partial panel's reads inside weight; the columns it
 * fills past N feed only output columns that are never stored. The packing is part of
 * every call, as OpenBLAS's own packing is part of sgemm's.
 *
 * The schedule (the model is benchmarks/gemm_schedule.c, whose 6 x 64 AVX-512 schedule
 * is this template's default there):
 * - out's rows are split into register tiles of mr rows, grouped mb tiles at a time
 *   (a row block of mb * mr rows of data that stays in L2 while the panels pass); its
 *   columns into panels of bn. The loops are panel, row block, tile (panels outermost:
 *   a panel stays in L2 while the rows stream) or row block, panel, tile ("order").
 * - cache_write gives the accumulator out.local, mr x bn, computed at the tile loop;
 *   its loops are k.outer, k.inner (ku, unrolled), rows (unrolled), columns (vectors),
 *   so the mr * bn / lanes accumulators have constant offsets and stay in registers.
 * - The copy-out is vectorized along the panel and unrolled along the rows; the
 *   packing is vectorized along z (reading weight with a stride) or runs with k
 *   innermost (contiguous reads of a weight row) ("pack").
 * - "parallel" runs the outermost loop of out and of the packing on the thread pool
 *   (offered when the target has more than one core).
 * Tails: mr need not divide M, nor ku K, nor bn N; lowering guards the partial tile and
 * loop partitioning peels it off, so the main tiles run unguarded.
 *
 * Vectors are one machine vector each: every bn-wide row (accumulator, copy-out, panel)
 * is split into bn / lanes vectors, unrolled, of lanes each. A vector of bn lanes is
 * what LLVM would otherwise get, and for a bn that is not a power of two (3 vectors: 48
 * on AVX-512, 24 on AVX2, 12 on NEON) its type legalization widens and shuffles it and
 * spills the accumulators: 1024^3 with bn 48 ran at 7-13 GFLOPS against 60 with bn 64.
 *
 * Over a given DAG (schedule_dag), the tile schedule is that of the last fused consumer
 * (bias add, ReLU, ...): the consumers and the copy out of the accumulator are inlined,
 * so the chain is applied to the accumulator's registers as the tile is stored. */
#include <stdio.h>
#include <string.h>

#include "tmpl_internal.h"

static const char *const arg_names[] = { "M", "N", "K", NULL };

typedef struct Dense {
    int64_t m, n, k;
} Dense;

static TsStatus read_dense(const TsTemplateArgs *args, const TsTemplateTarget *target, Dense *d,
                           TsError *err)
{
    static const int64_t min[] = { 1, 1, 1 };
    int64_t v[3];
    TsStatus st = sch_tmpl_read_args("dense", args, arg_names, min, v, err);
    if (st == TS_OK)
        st = sch_tmpl_check_target("dense", target, err);
    if (st == TS_OK)
        st = sch_tmpl_check_dtype("dense", args, err);
    *d = (Dense){ v[0], v[1], v[2] };
    return st;
}

/* ---- the space ---- */

static const int64_t row_tiles[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 14, 16 };
static const int64_t row_blocks[] = { 1, 2, 4, 8, 16, 32 };

/* tile_y: [-1, mb, mr] with mr a register-tile height the registers can hold (one
 * vector of weight and one broadcast besides at least one accumulator per row). */
static TsStatus define_tile_y(const Dense *d, const TsTemplateTarget *target, TsConfigSpace *space,
                              TsError *err)
{
    int64_t rows[3 * 13 * 6];
    int n = 0;
    for (size_t a = 0; a < sizeof row_tiles / sizeof row_tiles[0]; a++) {
        int64_t mr = row_tiles[a];
        if (mr > d->m || mr > sch_tmpl_registers(target) - 2)
            continue;
        for (size_t b = 0; b < sizeof row_blocks / sizeof row_blocks[0]; b++) {
            int64_t mb = row_blocks[b];
            if (mb > 1 && mb * mr > d->m)
                continue;
            rows[3 * n] = -1;
            rows[3 * n + 1] = mb;
            rows[3 * n + 2] = mr;
            n++;
        }
    }
    TsSplitOptions opt = {
        .policy = TS_SPLIT_CANDIDATES, .num_outputs = 3, .candidates = rows, .num_candidates = n
    };
    return ts_space_define_split(space, "tile_y", d->m, &opt, err);
}

/* tile_x: [-1, bn], bn one to four vectors, no wider than N rounded up to a vector. */
static TsStatus define_tile_x(const Dense *d, const TsTemplateTarget *target, TsConfigSpace *space,
                              TsError *err)
{
    int64_t lanes = sch_tmpl_lanes(target), rows[8];
    int n = 0;
    for (int64_t v = 1; v <= 4; v++) {
        if (v > 1 && lanes * v > sch_ceil_div(d->n, lanes) * lanes)
            break;
        rows[2 * n] = -1;
        rows[2 * n + 1] = lanes * v;
        n++;
    }
    TsSplitOptions opt = {
        .policy = TS_SPLIT_CANDIDATES, .num_outputs = 2, .candidates = rows, .num_candidates = n
    };
    return ts_space_define_split(space, "tile_x", d->n, &opt, err);
}

static TsStatus dense_define_space(const TsTemplateArgs *args, const TsTemplateTarget *target,
                                   TsConfigSpace *space, TsError *err)
{
    Dense d;
    TsStatus st = read_dense(args, target, &d, err);
    if (st == TS_OK)
        st = define_tile_y(&d, target, space, err);
    if (st == TS_OK)
        st = define_tile_x(&d, target, space, err);
    TsSplitOptions k_opt = { .policy = TS_SPLIT_POWER2, .num_outputs = 2, .max_factor = 8 };
    if (st == TS_OK)
        st = ts_space_define_split(space, "tile_k", d.k, &k_opt, err);
    /* Loops of out: 0 row block, 1 panel, 2 tile. */
    static const int orders[] = { 1, 0, 2, 0, 1, 2 };
    if (st == TS_OK)
        st = ts_space_define_reorder(space, "order", 3, 2, orders, err);
    static const char *const pack_words[] = { "z_vec", "k_inner" };
    if (st == TS_OK)
        st = ts_space_define_annotate(space, "pack", 2, pack_words, err);
    static const int64_t parallel[] = { 0, 1 };
    if (st == TS_OK)
        st = ts_space_define_knob(space, "parallel", target->num_cores > 1 ? 2 : 1, parallel, err);
    return st;
}

/* The rule: the largest register tile that leaves room for the weight vectors and a
 * broadcast (6 x 4 vectors on AVX-512, as benchmarks/gemm_schedule.c measured; 6 x 2
 * on AVX2, the classic Haswell kernel; 6 x 4 on NEON's 32 registers), ku 4, panels
 * outermost, single row blocks, parallel when there are cores to use. A product of one
 * row (a batch-1 fully connected layer) is bound by the packing of the weight, not by
 * the registers: its panel is one vector, which reads fewer weight rows at a time, and
 * ku 1 (1000 x 512 on AVX-512, by the tuner's measure: 0.2 ms a call against 0.39 for
 * the 4-vector default, 0.4-1.2 for other 4-vector panels). */
static TsStatus dense_default_config(const TsTemplateArgs *args, const TsTemplateTarget *target,
                                     const TsConfigSpace *space, TsConfig *out, TsError *err)
{
    Dense d;
    TsStatus st = read_dense(args, target, &d, err);
    if (st != TS_OK)
        return st;
    int64_t lanes = sch_tmpl_lanes(target);
    int64_t vectors = sch_tmpl_registers(target) == 16 ? 2 : 4;
    int64_t ku = 4;
    if (d.m == 1) {
        vectors = 1;
        ku = 1;
    }
    int64_t tile_y[] = { 1, 6 }, tile_x[] = { lanes * vectors }, tile_k[] = { ku };
    sch_tmpl_config_init(space, out);
    st = sch_tmpl_want_split(out, "tile_y", tile_y, 2, err);
    if (st == TS_OK)
        st = sch_tmpl_want_split(out, "tile_x", tile_x, 1, err);
    if (st == TS_OK)
        st = sch_tmpl_want_split(out, "tile_k", tile_k, 1, err);
    if (st == TS_OK)
        st = sch_tmpl_want_word(out, "pack", "z_vec", err);
    if (st == TS_OK)
        st = sch_tmpl_want_knob(out, "parallel", target->num_cores > 1, err);
    if (st == TS_OK)
        st = sch_tmpl_config_finish(out, err);
    return st;
}

/* ---- the expression ---- */

static TsTensor *dense_expression(TsArena *A, const Dense *d, int64_t bn, TsTensor **data,
                                  TsTensor **weight, TsTensor **packed)
{
    *data = ts_placeholder(A, "data", 2, (int64_t[]){ d->m, d->k }, TS_FLOAT32);
    *weight = ts_placeholder(A, "weight", 2, (int64_t[]){ d->n, d->k }, TS_FLOAT32);
    TsAxis *x = ts_axis(A, "x", sch_ceil_div(d->n, bn)), *y = ts_axis(A, "k", d->k);
    TsAxis *z = ts_axis(A, "z", bn);
    TsExpr *row = ts_add(A, ts_mul(A, ts_var(x), ts_i32(A, bn)), ts_var(z));
    if (d->n % bn)
        row = ts_min(A, row, ts_i32(A, d->n - 1));
    *packed = ts_compute(A, "packed_weight", 3, (TsAxis *[]){ x, y, z },
                         ts_at(A, *weight, row, ts_var(y)));
    TsAxis *i = ts_axis(A, "i", d->m), *j = ts_axis(A, "j", d->n);
    TsAxis *r = ts_reduce_axis(A, "k", d->k);
    TsExpr *panel = ts_floordiv(A, ts_var(j), ts_i32(A, bn));
    TsExpr *lane = ts_floormod(A, ts_var(j), ts_i32(A, bn));
    TsExpr *prod =
        ts_mul(A, ts_at(A, *data, ts_var(i), ts_var(r)), ts_at(A, *packed, panel, ts_var(r), lane));
    return ts_compute_tagged(A, "dense", "dense", 2, (TsAxis *[]){ i, j },
                             ts_sum(A, prod, 1, (TsAxis *[]){ r }, NULL));
}

/* ---- the schedule ---- */

typedef struct DenseKnobs {
    int64_t mb, mr, bn, ku, parallel;
    int64_t lanes; /* of the target's vectors; bn is a multiple */
    int order[3];
    const char *pack;
} DenseKnobs;

static TsStatus read_knobs(const TsConfig *config, DenseKnobs *kn, TsError *err)
{
    int64_t f[TS_KNOB_MAX_OUTPUTS];
    int n;
    TsStatus st = ts_config_split(config, "tile_y", f, TS_KNOB_MAX_OUTPUTS, &n, err);
    kn->mb = f[1];
    kn->mr = f[2];
    if (st == TS_OK)
        st = ts_config_split(config, "tile_x", f, TS_KNOB_MAX_OUTPUTS, &n, err);
    kn->bn = f[1];
    if (st == TS_OK)
        st = ts_config_split(config, "tile_k", f, TS_KNOB_MAX_OUTPUTS, &n, err);
    kn->ku = f[1];
    if (st == TS_OK)
        st = ts_config_reorder(config, "order", kn->order, 3, &n, err);
    if (st == TS_OK)
        st = ts_config_annotate(config, "pack", &kn->pack, err);
    kn->parallel = sch_tmpl_knob(config, "parallel", err, &st);
    return st;
}

/* Vectorizes a loop of bn iterations as bn / lanes unrolled vectors of lanes each. */
static TsStatus vectorize_row(TsStage *st, TsAxis *row, int64_t lanes, TsError *err)
{
    TsAxis *vectors, *lane;
    TsStatus s = ts_split(st, row, lanes, &vectors, &lane, err);
    if (s == TS_OK)
        s = ts_unroll(st, vectors, err);
    if (s == TS_OK)
        s = ts_vectorize(st, lane, err);
    return s;
}

/* out: tiles, loop order, the accumulator attached at the tile loop. */
static TsStatus schedule_output(TsSchedule *sch, TsTensor *out, TsTensor *acc, const DenseKnobs *kn,
                                TsError *err)
{
    TsStage *st = ts_stage(sch, out);
    TsAxis *io, *ii, *yo, *ym, *jo, *ji;
    TsStatus s = ts_split(st, ts_stage_root_axis(st, 0), kn->mr, &io, &ii, err);
    if (s == TS_OK)
        s = ts_split(st, io, kn->mb, &yo, &ym, err);
    if (s == TS_OK)
        s = ts_split(st, ts_stage_root_axis(st, 1), kn->bn, &jo, &ji, err);
    TsAxis *loops[3] = { yo, jo, ym };
    TsAxis *order[5] = { loops[kn->order[0]], loops[kn->order[1]], loops[kn->order[2]], ii, ji };
    if (s == TS_OK)
        s = ts_reorder(st, 5, order, err);
    if (s == TS_OK)
        s = vectorize_row(st, ji, kn->lanes, err);
    if (s == TS_OK)
        s = ts_unroll(st, ii, err);
    if (s == TS_OK && kn->parallel)
        s = ts_parallel(st, order[0], err);
    if (s == TS_OK)
        s = ts_compute_at(ts_stage(sch, acc), st, ym, err);
    return s;
}

/* The accumulator: k.outer, k.inner (unrolled), rows (unrolled), columns (vectors). */
static TsStatus schedule_accumulator(TsSchedule *sch, TsTensor *acc, const DenseKnobs *kn,
                                     TsError *err)
{
    TsStage *st = ts_stage(sch, acc);
    TsAxis *ci = ts_stage_root_axis(st, 0), *cj = ts_stage_root_axis(st, 1);
    TsAxis *ko, *ki, *cjo, *cji;
    TsStatus s = ts_split(st, ts_stage_root_axis(st, 2), kn->ku, &ko, &ki, err);
    /* ts_vectorize checks the extent before compute_at narrows it: split by bn first. */
    if (s == TS_OK)
        s = ts_split(st, cj, kn->bn, &cjo, &cji, err);
    if (s == TS_OK)
        s = ts_reorder(st, 5, (TsAxis *[]){ cjo, ko, ki, ci, cji }, err);
    if (s == TS_OK && kn->ku > 1)
        s = ts_unroll(st, ki, err);
    if (s == TS_OK)
        s = ts_unroll(st, ci, err);
    if (s == TS_OK)
        s = vectorize_row(st, cji, kn->lanes, err);
    return s;
}

static TsStatus schedule_packing(TsSchedule *sch, TsTensor *packed, const DenseKnobs *kn,
                                 TsError *err)
{
    TsStage *st = ts_stage(sch, packed);
    TsAxis *x = ts_stage_root_axis(st, 0), *y = ts_stage_root_axis(st, 1);
    TsAxis *z = ts_stage_root_axis(st, 2);
    TsStatus s = TS_OK;
    if (kn->pack[0] == 'z')
        s = vectorize_row(st, z, kn->lanes, err);
    else
        s = ts_reorder(st, 3, (TsAxis *[]){ x, z, y }, err);
    if (s == TS_OK && kn->parallel)
        s = ts_parallel(st, x, err);
    return s;
}

/* The arguments and knobs of config, with tiles that do not fit the registers refused. */
static TsStatus dense_prepare(const TsTemplateArgs *args, const TsTemplateTarget *target,
                              const TsConfig *config, Dense *d, DenseKnobs *kn, TsError *err)
{
    TsStatus st = read_dense(args, target, d, err);
    if (st == TS_OK)
        st = read_knobs(config, kn, err);
    if (st != TS_OK)
        return st;
    kn->lanes = sch_tmpl_lanes(target);
    if (kn->bn % kn->lanes)
        kn->lanes = kn->bn; /* a hand-made config: one vector of bn */
    /* The knobs choose the tile's height and width independently; a tile whose
     * accumulators, weight vectors and broadcast do not fit the registers spills in the
     * k loop, runs slowly and takes LLVM's register allocator up to seconds. Refused here,
     * before any code is built, so that a search spends no compile time on it. */
    int64_t vectors = sch_ceil_div(kn->bn, sch_tmpl_lanes(target));
    int64_t needed = kn->mr * vectors + vectors + 1;
    if (needed > sch_tmpl_registers(target))
        return ts_fail(err, TS_ESCHEDULE,
                       "dense: a %lld x %lld register tile needs %lld vector registers "
                       "(accumulators, weight vectors and a broadcast); the target has %d",
                       (long long)kn->mr, (long long)kn->bn, (long long)needed,
                       sch_tmpl_registers(target));
    return TS_OK;
}

/* The schedule of result (with its packed weight), computed into result itself or, with
 * a DAG, into its last fused consumer: the accumulator at the tile, the chain inlined
 * into the tile's store. */
static TsStatus schedule_dense(TsArena *arena, const DenseKnobs *kn, TsTensor *result,
                               TsTensor *packed, const TsTemplateDag *dag, TsSchedule **sch,
                               TsTensor **final, TsError *err)
{
    TsTensor *acc;
    TsStatus st = sch_dag_begin(arena, dag, result, sch, final, err);
    if (st == TS_OK)
        st = ts_cache_write(*sch, result, &acc, err);
    if (st == TS_OK && *final != result)
        st = ts_compute_inline(ts_stage(*sch, result), err);
    if (st == TS_OK)
        st = schedule_output(*sch, *final, acc, kn, err);
    if (st == TS_OK)
        st = schedule_accumulator(*sch, acc, kn, err);
    if (st == TS_OK)
        st = schedule_packing(*sch, packed, kn, err);
    return st;
}

static TsStatus dense_instantiate(const TsTemplateArgs *args, const TsTemplateTarget *target,
                                  const TsConfig *config, TsArena *arena, TsTemplateInstance *out,
                                  TsError *err)
{
    Dense d;
    DenseKnobs kn;
    TsStatus st = dense_prepare(args, target, config, &d, &kn, err);
    if (st != TS_OK)
        return st;
    TsTensor *data, *weight, *packed;
    TsTensor *result = dense_expression(arena, &d, kn.bn, &data, &weight, &packed);
    if ((st = ts_arena_check(arena, err)) != TS_OK)
        return st;
    TsSchedule *sch;
    TsTensor *final;
    st = schedule_dense(arena, &kn, result, packed, NULL, &sch, &final, err);
    if (st != TS_OK)
        return st;
    *out = (TsTemplateInstance){
        .sch = sch, .num_tensors = 3, .num_outputs = 1, .tensors = { data, weight, result }
    };
    return TS_OK;
}

/* The DAG's operator is an instance's output: the "dense" stage reading packed_weight. */
static TsStatus dense_schedule_dag(const TsTemplateArgs *args, const TsTemplateTarget *target,
                                   const TsConfig *config, TsArena *arena, const TsTemplateDag *dag,
                                   TsTemplateInstance *inst, TsError *err)
{
    Dense d;
    DenseKnobs kn;
    TsStatus st = dense_prepare(args, target, config, &d, &kn, err);
    if (st != TS_OK)
        return st;
    TsTensor *result = inst->tensors[inst->num_tensors - 1], *packed = NULL;
    for (int i = 0; i < ts_tensor_num_inputs(result); i++)
        if (strcmp(ts_tensor_name(ts_tensor_input(result, i)), "packed_weight") == 0)
            packed = ts_tensor_input(result, i);
    if (strcmp(ts_tensor_tag(result), "dense") != 0 || !packed || inst->num_tensors != 3 ||
        ts_tensor_dim(packed, 2) != kn.bn)
        return ts_fail(err, TS_EINVAL,
                       "dense: the DAG's operator %s is not the output of a "
                       "dense_pack instance for this config",
                       ts_tensor_name(result));
    TsSchedule *sch;
    TsTensor *final;
    st = schedule_dense(arena, &kn, result, packed, dag, &sch, &final, err);
    if (st == TS_OK)
        sch_dag_finish(dag, sch, final, inst);
    return st;
}

double sch_dense_flop(const TsTemplateArgs *args)
{
    int64_t m = 0, n = 0, k = 0;
    ts_template_args_get(args, "M", &m, NULL);
    ts_template_args_get(args, "N", &n, NULL);
    ts_template_args_get(args, "K", &k, NULL);
    return 2.0 * (double)m * (double)n * (double)k;
}

const TsTemplate sch_template_dense = {
    .name = "dense_pack",
    .op = "dense",
    .summary = "dense (data . weight^T) with the weight packed into panels, register tiles, "
               "row blocking and k unrolling; any x86-64 or AArch64 target (knobs follow its "
               "vector width)",
    .dtypes = sch_dtypes_f32,
    .arg_names = arg_names,
    .define_space = dense_define_space,
    .default_config = dense_default_config,
    .instantiate = dense_instantiate,
    .flop = sch_dense_flop,
    .schedule_dag = dense_schedule_dag,
};
