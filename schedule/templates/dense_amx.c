/* The AMX dense templates: out[M, N] = data[M, K] . weight[N, K]^T with the weight
 * pre-packed for the tiles, int8 ("dense_int8_amx": uint8 data x int8 weight -> int32,
 * tdpbusd) or bfloat16 ("dense_bf16_amx": -> float32, tdpbf16ps). Arguments M N K and
 * dtype; they need amx-tile and amx-int8 or amx-bf16.
 *
 * Layouts (those of dense_dot.c, so the vector forms and these share packed weights):
 * data [MP, KP], weight [NP / 16, KP / G, 16, G] (te/ops/dot_pack.c's
 * ts_op_dense_pack_weight_dot with n_bn 16), out [MP, NP]; G is 4 for int8 and 2 for
 * bf16, MP is M rounded up to 16 rows, NP is N rounded up to 16, KP is K rounded up to
 * one 64-byte tile row (64 int8 or 32 bf16 elements). A weight block of 16 columns is
 * then KP / (16 G) B tiles of 1 KiB one after the other, the VNNI layout the tile product
 * reads: the weight, a constant of the model, is packed once, outside the kernel.
 *
 * One tensorized region is a 16 x 16 output tile and "k_steps" tile steps of the
 * reduction (64 bytes of K each); the accumulator stays in a tile register across all the
 * steps of the region (the deep statement of codegen/amx.c), and is stored once. The
 * intrinsic, declared for each instance at its depth in the instance's arena:
 *   c[i, j] += sum over k < 16 k_steps, g < G of a[i, k, g] * b[k, j, g]
 * (the built-in x86.amx.{u8s8,bf16}.16x16x<K> of intrin_amx.c at any depth).
 *
 * Knobs:
 *   k_steps  tile steps per region: divisors of KP's steps up to 64, the largest three;
 *            the region loop over K (k.outer) reloads C between regions;
 *   order    0: row tiles outside column tiles (a strip of 16 data rows stays in L1 while
 *            the weight streams), 1: column tiles outside row tiles;
 *   m_panel, n_panel  tiles per panel of rows and of columns (divisors of the tile
 *            counts, up to 16): loops (panels in order), (tiles of a panel in order),
 *            k.outer, the tile;
 *   parallel (offered with more than one core) the outermost loop on the pool.
 * Default: the largest k_steps up to 32 (the whole K of 1024 int8 or 512 bf16 elements in
 * one region), order 0, panels of one tile. */
#include <stdio.h>

#include "tessera/intrin.h"
#include "tmpl_internal.h"

enum {
    TILE = 16,
    TILE_BYTES = 64,
    MAX_STEPS = 64,
    MAX_PANEL = 16,
    MAX_BLOCK = 2,
    NUM_STEP_CHOICES = 3
};

typedef struct Variant {
    const char *name;
    bool bf16;           /* bfloat16 -> float32, else uint8 x int8 -> int32 */
    const char *family;  /* the intrinsics' name prefix */
    const char *product; /* the tile statement (codegen/amx.c) */
    const char *feature; /* beside amx-tile */
} Variant;

static const Variant int8_amx = { "dense_int8_amx", false, "x86.amx.u8s8",
                                  "llvm.x86.tdpbusd.internal", "amx-int8" };
static const Variant bf16_amx = { "dense_bf16_amx", true, "x86.amx.bf16",
                                  "llvm.x86.tdpbf16ps.internal", "amx-bf16" };

static const char *const arg_names[] = { "M", "N", "K", NULL };
static const char *const int8_dtypes[] = { "int8", NULL };
static const char *const bf16_dtypes[] = { "bfloat16", NULL };

typedef struct Dense {
    int64_t m, n, k;
    int64_t group, k_step; /* G, and the elements of one tile step (a 64-byte row) */
    int64_t mp, np, kp;    /* the padded extents */
    int64_t m_tiles, n_tiles, k_tiles;
} Dense;

static TsDType served(const Variant *var)
{
    return var->bf16 ? TS_BFLOAT16 : TS_INT8;
}

static TsStatus check_dtype(const Variant *var, const TsTemplateArgs *args, TsError *err)
{
    TsDType dtype;
    char name[TS_DTYPE_STR_MAX], want[TS_DTYPE_STR_MAX];
    ts_dtype_str(served(var), want);
    if (ts_template_args_get_dtype(args, "dtype", &dtype, NULL) != TS_OK)
        return ts_fail(err, TS_EINVAL, "%s: argument dtype=%s is missing", var->name, want);
    if (!ts_dtype_eq(dtype, served(var)))
        return ts_fail(err, TS_EINVAL, "%s: dtype %s is not served (%s only)", var->name,
                       ts_dtype_str(dtype, name), want);
    return TS_OK;
}

static TsStatus read_dense(const Variant *var, const TsTemplateArgs *args,
                           const TsTemplateTarget *target, Dense *d, TsError *err)
{
    static const int64_t min[] = { 1, 1, 1 };
    int64_t v[3] = { 0 };
    TsStatus st = sch_tmpl_read_args(var->name, args, arg_names, min, v, err);
    if (st == TS_OK)
        st = sch_tmpl_check_target(var->name, target, err);
    if (st == TS_OK)
        st = check_dtype(var, args, err);
    if (st != TS_OK)
        return st;
    d->m = v[0], d->n = v[1], d->k = v[2];
    d->group = var->bf16 ? 2 : 4;
    d->k_step = TILE_BYTES / (var->bf16 ? 2 : 1);
    d->m_tiles = sch_ceil_div(d->m, TILE);
    d->n_tiles = sch_ceil_div(d->n, TILE);
    d->k_tiles = sch_ceil_div(d->k, d->k_step);
    d->mp = d->m_tiles * TILE, d->np = d->n_tiles * TILE, d->kp = d->k_tiles * d->k_step;
    if (d->mp * d->kp > TS_MAX_EXTENT || d->mp * d->np > TS_MAX_EXTENT ||
        d->np * d->kp > TS_MAX_EXTENT)
        return ts_fail(err, TS_EINVAL, "%s: M=%lld N=%lld K=%lld padded exceed %lld elements",
                       var->name, (long long)d->m, (long long)d->n, (long long)d->k,
                       (long long)TS_MAX_EXTENT);
    return TS_OK;
}

/* ---- the space ---- */

/* k_steps: the divisors of the tile steps of K up to 64, the largest NUM_STEP_CHOICES,
 * ascending. */
static int step_choices(int64_t k_tiles, int64_t *out)
{
    int64_t all[MAX_STEPS];
    int n = 0;
    for (int64_t s = 1; s <= MAX_STEPS && s <= k_tiles; s++)
        if (k_tiles % s == 0)
            all[n++] = s;
    int first = n > NUM_STEP_CHOICES ? n - NUM_STEP_CHOICES : 0;
    for (int i = first; i < n; i++)
        out[i - first] = all[i];
    return n - first;
}

/* Panels: the powers of two up to 16 that divide the tile count, ascending. */
static int panel_choices(int64_t tiles, int64_t *out)
{
    int n = 0;
    for (int64_t p = 1; p <= MAX_PANEL && p <= tiles; p *= 2)
        if (tiles % p == 0)
            out[n++] = p;
    return n;
}

/* block_m or block_n: 1, and 2 where the tiles are even. */
static int block_choices(int64_t tiles, int64_t *out)
{
    out[0] = 1, out[1] = MAX_BLOCK;
    return tiles % MAX_BLOCK == 0 ? 2 : 1;
}

static TsStatus dense_define_space(const Variant *var, const TsTemplateArgs *args,
                                   const TsTemplateTarget *target, TsConfigSpace *space,
                                   TsError *err)
{
    Dense d;
    int64_t steps[NUM_STEP_CHOICES], bm[2], bn[2], m_panel[8], n_panel[8];
    static const int64_t on_off[] = { 0, 1 };
    TsStatus st = read_dense(var, args, target, &d, err);
    if (st != TS_OK)
        return st;
    int num_bm = block_choices(d.m_tiles, bm), num_bn = block_choices(d.n_tiles, bn);
    /* panels of blocks, whichever block is chosen */
    int num_mp = panel_choices(d.m_tiles / bm[num_bm - 1], m_panel);
    int num_np = panel_choices(d.n_tiles / bn[num_bn - 1], n_panel);
    st = ts_space_define_knob(space, "k_steps", step_choices(d.k_tiles, steps), steps, err);
    if (st == TS_OK)
        st = ts_space_define_knob(space, "block_m", num_bm, bm, err);
    if (st == TS_OK)
        st = ts_space_define_knob(space, "block_n", num_bn, bn, err);
    if (st == TS_OK)
        st = ts_space_define_knob(space, "order", 2, on_off, err);
    if (st == TS_OK)
        st = ts_space_define_knob(space, "m_panel", num_mp, m_panel, err);
    if (st == TS_OK)
        st = ts_space_define_knob(space, "n_panel", num_np, n_panel, err);
    if (st == TS_OK)
        st = ts_space_define_knob(space, "parallel", target->num_cores > 1 ? 2 : 1, on_off, err);
    return st;
}

static TsStatus dense_default_config(const Variant *var, const TsTemplateArgs *args,
                                     const TsTemplateTarget *target, const TsConfigSpace *space,
                                     TsConfig *out, TsError *err)
{
    Dense d;
    int64_t steps[NUM_STEP_CHOICES];
    TsStatus st = read_dense(var, args, target, &d, err);
    if (st != TS_OK)
        return st;
    int num_steps = step_choices(d.k_tiles, steps), pick = 0;
    for (int i = 0; i < num_steps; i++)
        if (steps[i] <= 32)
            pick = i;
    sch_tmpl_config_init(space, out);
    st = sch_tmpl_want_knob(out, "k_steps", steps[pick], err);
    if (st == TS_OK)
        st = sch_tmpl_want_knob(out, "block_m", MAX_BLOCK, err);
    if (st == TS_OK)
        st = sch_tmpl_want_knob(out, "block_n", MAX_BLOCK, err);
    if (st == TS_OK)
        st = sch_tmpl_want_knob(out, "parallel", target->num_cores > 1, err);
    if (st == TS_OK)
        st = sch_tmpl_config_finish(out, err);
    return st;
}

/* ---- the intrinsic ---- */

/* What the emitters need: the variant, the tile steps of a region and its blocks of
 * accumulator tiles. */
typedef struct TileShape {
    const Variant *var;
    int64_t steps, block_m, block_n;
} TileShape;

/* Dimension dim's stride in bytes in region. */
static int64_t stride_bytes(const TsIntrinRegion *region, int dim)
{
    const TsTensor *t = ts_intrin_region_tensor(region);
    return (int64_t)ts_dtype_bytes(ts_tensor_dtype(t)) * ts_intrin_region_stride(region, dim);
}

static TsExpr *i64(TsArena *A, int64_t v)
{
    return ts_int(A, TS_INT64, v);
}

/* C = (accumulate ? C : 0) + the steps' products, one deep statement over the block of
 * block_m x block_n accumulator tiles (codegen/amx.c's block form; row blocks are the
 * next 16 rows of data and out): A steps 64 bytes along its rows, B 16 rows (one tile)
 * down. Regions: a [bm, 16, depth, G], b [bn, depth, 16, G], c [bm, 16, bn, 16]. */
static TsStmt *tile_product(TsArena *A, const TsIntrinRegion *const *regions, const TileShape *t,
                            bool accumulate)
{
    const TsIntrinRegion *a = regions[0], *b = regions[1], *c = regions[2];
    if (stride_bytes(a, 0) != TILE * stride_bytes(a, 1) ||
        stride_bytes(c, 0) != TILE * stride_bytes(c, 1)) {
        ts_arena_fail(A, TS_EINVAL,
                      "%s: the row blocks of data and out are not the next 16 rows (%lld and "
                      "%lld bytes apart, rows %lld and %lld)",
                      t->var->name, (long long)stride_bytes(a, 0), (long long)stride_bytes(c, 0),
                      (long long)stride_bytes(a, 1), (long long)stride_bytes(c, 1));
        return NULL;
    }
    TsExpr *args[23] = { ts_i32(A, TILE), ts_i32(A, TILE_BYTES), ts_i32(A, TILE_BYTES) };
    args[3] = ts_intrin_region_address(A, c, NULL);
    args[4] = i64(A, stride_bytes(c, 1));
    args[5] = ts_intrin_region_address(A, a, NULL);
    args[6] = i64(A, stride_bytes(a, 1));
    args[7] = ts_intrin_region_address(A, b, NULL);
    args[8] = i64(A, stride_bytes(b, 1));
    args[9] = ts_i32(A, (int32_t)t->steps);
    args[10] = i64(A, TILE_BYTES);
    args[11] = i64(A, TILE * stride_bytes(b, 1));
    args[12] = ts_i32(A, accumulate ? 1 : 0);
    for (int l = 0; l < 2; l++) /* no outer levels */
        args[13 + 3 * l] = ts_i32(A, 1), args[14 + 3 * l] = i64(A, 0), args[15 + 3 * l] = i64(A, 0);
    args[19] = ts_i32(A, (int32_t)t->block_m);
    args[20] = ts_i32(A, (int32_t)t->block_n);
    args[21] = i64(A, stride_bytes(c, 2));
    args[22] = i64(A, stride_bytes(b, 0));
    return ts_intrin_call(A, t->var->product, 23, args);
}

static TsStmt *tile_body(TsArena *A, const TsIntrin *intrin, const TsIntrinRegion *const *regions,
                         void *user)
{
    (void)intrin;
    return tile_product(A, regions, user, false);
}

static TsStmt *tile_update(TsArena *A, const TsIntrin *intrin, const TsIntrinRegion *const *regions,
                           void *user)
{
    (void)intrin;
    return tile_product(A, regions, user, true);
}

/* Every accumulator tile of the block zeroed. */
static TsStmt *tile_zero(TsArena *A, const TsIntrin *intrin, const TsIntrinRegion *const *regions,
                         void *user)
{
    const TileShape *t = user;
    const TsIntrinRegion *c = regions[ts_intrin_num_inputs(intrin)];
    TsStmt *zero[MAX_BLOCK * MAX_BLOCK];
    int n = 0;
    for (int64_t r = 0; r < t->block_m; r++)
        for (int64_t s = 0; s < t->block_n; s++) {
            int64_t offset = r * ts_intrin_region_stride(c, 0) + s * ts_intrin_region_stride(c, 2);
            TsExpr *args[4] = { ts_i32(A, TILE), ts_i32(A, TILE_BYTES),
                                ts_intrin_region_address(A, c, ts_i32(A, (int32_t)offset)),
                                i64(A, stride_bytes(c, 1)) };
            zero[n++] = ts_intrin_call(A, "llvm.x86.tilezero.internal", 4, args);
        }
    return ts_intrin_seq(A, n, zero);
}

/* The tile product of t->steps steps, in arena. */
static TsStatus declare_intrin(TsArena *A, const Dense *d, const TileShape *t, const TsIntrin **out,
                               TsError *err)
{
    const Variant *var = t->var;
    TsDType a_dt = var->bf16 ? TS_BFLOAT16 : TS_UINT8, b_dt = var->bf16 ? TS_BFLOAT16 : TS_INT8;
    TsDType acc = var->bf16 ? TS_FLOAT32 : TS_INT32;
    int64_t depth = TILE * t->steps; /* groups of the reduction */
    int64_t bm = t->block_m, bn = t->block_n;
    char name[64];
    snprintf(name, sizeof name, "%s.%lldx%lldx%lld", var->family, (long long)(TILE * bm),
             (long long)(TILE * bn), (long long)(depth * d->group));
    TsTensor *ta = ts_placeholder(A, "a", 4, (int64_t[]){ bm, TILE, depth, d->group }, a_dt);
    TsTensor *tb = ts_placeholder(A, "b", 4, (int64_t[]){ bn, depth, TILE, d->group }, b_dt);
    TsAxis *r = ts_axis(A, "r", bm), *i = ts_axis(A, "i", TILE);
    TsAxis *s = ts_axis(A, "s", bn), *j = ts_axis(A, "j", TILE);
    TsAxis *k = ts_reduce_axis(A, "k", depth), *g = ts_reduce_axis(A, "g", d->group);
    TsExpr *va = ts_at(A, ta, ts_var(r), ts_var(i), ts_var(k), ts_var(g));
    TsExpr *vb = ts_at(A, tb, ts_var(s), ts_var(k), ts_var(j), ts_var(g));
    TsExpr *prod = ts_mul(A, ts_cast(A, acc, va), ts_cast(A, acc, vb));
    TsTensor *c = ts_compute(A, "c", 4, (TsAxis *[]){ r, i, s, j },
                             ts_sum(A, prod, 2, (TsAxis *[]){ k, g }, NULL));
    TsStatus st = ts_arena_check(A, err);
    TsIntrin *in = NULL;
    if (st == TS_OK)
        st = ts_intrin_declare(A, name, c, 2, (TsTensor *[]){ ta, tb }, &in, err);
    const int64_t any = TS_INTRIN_STRIDE_ANY;
    if (st == TS_OK)
        st = ts_intrin_set_strides(in, ta, (int64_t[]){ any, any, d->group, 1 }, err);
    if (st == TS_OK)
        st = ts_intrin_set_strides(in, tb, (int64_t[]){ any, any, d->group, 1 }, err);
    if (st == TS_OK)
        st = ts_intrin_set_strides(in, c, (int64_t[]){ any, any, any, 1 }, err);
    if (st == TS_OK)
        st = ts_intrin_require(in, "amx-tile", err);
    if (st == TS_OK)
        st = ts_intrin_require(in, var->feature, err);
    if (st == TS_OK)
        st = ts_intrin_set_emitters(in, tile_body, tile_zero, tile_update, (void *)t, err);
    *out = in;
    return st;
}

/* ---- the expression and the schedule ---- */

typedef struct DenseTensors {
    TsTensor *data, *weight, *out;
} DenseTensors;

static void dense_expression(TsArena *A, const Variant *var, const Dense *d, DenseTensors *t)
{
    TsDType in_dt = var->bf16 ? TS_BFLOAT16 : TS_UINT8, w_dt = var->bf16 ? TS_BFLOAT16 : TS_INT8;
    TsDType acc_dt = var->bf16 ? TS_FLOAT32 : TS_INT32;
    t->data = ts_placeholder(A, "data", 2, (int64_t[]){ d->mp, d->kp }, in_dt);
    t->weight = ts_placeholder(A, "weight", 4,
                               (int64_t[]){ d->n_tiles, d->kp / d->group, TILE, d->group }, w_dt);
    TsAxis *i = ts_axis(A, "i", d->mp), *j = ts_axis(A, "j", d->np);
    TsAxis *k = ts_reduce_axis(A, "k", d->kp);
    TsExpr *nb = ts_i32(A, TILE), *g = ts_i32(A, (int32_t)d->group);
    TsExpr *w = ts_at(A, t->weight, ts_floordiv(A, ts_var(j), nb), ts_floordiv(A, ts_var(k), g),
                      ts_floormod(A, ts_var(j), nb), ts_floormod(A, ts_var(k), g));
    TsExpr *prod = ts_mul(A, ts_cast(A, acc_dt, ts_at(A, t->data, ts_var(i), ts_var(k))),
                          ts_cast(A, acc_dt, w));
    t->out = ts_compute_tagged(A, "dense", "dense_dot", 2, (TsAxis *[]){ i, j },
                               ts_sum(A, prod, 1, &k, NULL));
}

typedef struct Knobs {
    int64_t k_steps, block_m, block_n, order, m_panel, n_panel, parallel;
} Knobs;

static TsStatus read_knobs(const Variant *var, const Dense *d, const TsConfig *config, Knobs *kn,
                           TsError *err)
{
    TsStatus st = TS_OK;
    kn->k_steps = sch_tmpl_knob(config, "k_steps", err, &st);
    kn->block_m = sch_tmpl_knob(config, "block_m", err, &st);
    kn->block_n = sch_tmpl_knob(config, "block_n", err, &st);
    kn->order = sch_tmpl_knob(config, "order", err, &st);
    kn->m_panel = sch_tmpl_knob(config, "m_panel", err, &st);
    kn->n_panel = sch_tmpl_knob(config, "n_panel", err, &st);
    kn->parallel = sch_tmpl_knob(config, "parallel", err, &st);
    if (st != TS_OK)
        return st;
    if (kn->k_steps < 1 || kn->k_steps > MAX_STEPS || d->k_tiles % kn->k_steps || kn->order < 0 ||
        kn->order > 1)
        return ts_fail(err, TS_EINVAL,
                       "%s: k_steps %lld must divide the %lld tile steps of K (at most %d), order "
                       "%lld be 0 or 1",
                       var->name, (long long)kn->k_steps, (long long)d->k_tiles, MAX_STEPS,
                       (long long)kn->order);
    if (kn->block_m < 1 || kn->block_m > MAX_BLOCK || d->m_tiles % kn->block_m || kn->block_n < 1 ||
        kn->block_n > MAX_BLOCK || d->n_tiles % kn->block_n || kn->m_panel < 1 ||
        (d->m_tiles / kn->block_m) % kn->m_panel || kn->n_panel < 1 ||
        (d->n_tiles / kn->block_n) % kn->n_panel)
        return ts_fail(err, TS_EINVAL,
                       "%s: block_m %lld and block_n %lld (1 or 2) must divide the %lld row and "
                       "%lld column tiles, m_panel %lld and n_panel %lld the blocks",
                       var->name, (long long)kn->block_m, (long long)kn->block_n,
                       (long long)d->m_tiles, (long long)d->n_tiles, (long long)kn->m_panel,
                       (long long)kn->n_panel);
    return TS_OK;
}

/* Loops: the panels and the blocks of a panel, rows first (order 0) or columns first,
 * k.outer, then the block (block_m row tiles of 16, block_n column tiles of 16, k steps,
 * k group) tensorized. */
static TsStatus schedule_tiles(const Dense *d, const Knobs *kn, const TsIntrin *intrin, TsStage *st,
                               TsError *err)
{
    TsAxis *i16, *ii, *j16, *ji, *ko, *kr, *kt, *kg, *ip, *it, *jp, *jt, *io, *im, *jo, *jm;
    TsStatus s = ts_split(st, ts_stage_root_axis(st, 0), TILE, &i16, &ii, err);
    if (s == TS_OK)
        s = ts_split(st, ts_stage_root_axis(st, 1), TILE, &j16, &ji, err);
    if (s == TS_OK)
        s = ts_split(st, i16, kn->block_m, &io, &im, err);
    if (s == TS_OK)
        s = ts_split(st, j16, kn->block_n, &jo, &jm, err);
    if (s == TS_OK)
        s = ts_split(st, ts_stage_root_axis(st, 2), d->k_step * kn->k_steps, &ko, &kr, err);
    if (s == TS_OK)
        s = ts_split(st, kr, d->group, &kt, &kg, err);
    if (s == TS_OK)
        s = ts_split(st, io, kn->m_panel, &ip, &it, err);
    if (s == TS_OK)
        s = ts_split(st, jo, kn->n_panel, &jp, &jt, err);
    if (s != TS_OK)
        return s;
    TsAxis *order[11] = { ip, jp, it, jt, ko, im, ii, jm, ji, kt, kg };
    if (kn->order == 1)
        order[0] = jp, order[1] = ip, order[2] = jt, order[3] = it;
    s = ts_reorder(st, 11, order, err);
    if (s == TS_OK && kn->parallel)
        s = ts_parallel(st, order[0], err);
    if (s == TS_OK)
        s = ts_tensorize(st, im, intrin, err);
    return s;
}

static TsStatus dense_instantiate(const Variant *var, const TsTemplateArgs *args,
                                  const TsTemplateTarget *target, const TsConfig *config,
                                  TsArena *arena, TsTemplateInstance *out, TsError *err)
{
    Dense d;
    Knobs kn;
    TsStatus st = read_dense(var, args, target, &d, err);
    if (st == TS_OK)
        st = read_knobs(var, &d, config, &kn, err);
    if (st != TS_OK)
        return st;
    DenseTensors t;
    dense_expression(arena, var, &d, &t);
    TileShape *shape = ts_arena_alloc(arena, sizeof *shape);
    if ((st = ts_arena_check(arena, err)) != TS_OK)
        return st;
    *shape = (TileShape){ var, kn.k_steps, kn.block_m, kn.block_n };
    const TsIntrin *intrin = NULL;
    st = declare_intrin(arena, &d, shape, &intrin, err);
    TsSchedule *sch = st == TS_OK ? ts_schedule_create(arena, 1, &t.out) : NULL;
    if (st == TS_OK)
        st = ts_arena_check(arena, err);
    if (st == TS_OK)
        st = schedule_tiles(&d, &kn, intrin, ts_stage(sch, t.out), err);
    if (st != TS_OK)
        return st;
    *out = (TsTemplateInstance){
        .sch = sch, .num_tensors = 3, .num_outputs = 1, .tensors = { t.data, t.weight, t.out }
    };
    return TS_OK;
}

/* ---- the templates ---- */

/* The functions of variant V's template, whose function pointers take no variant. */
#define VARIANT_FUNCTIONS(V)                                                                       \
    static TsStatus V##_define_space(const TsTemplateArgs *args, const TsTemplateTarget *target,   \
                                     TsConfigSpace *space, TsError *err)                           \
    {                                                                                              \
        return dense_define_space(&V, args, target, space, err);                                   \
    }                                                                                              \
    static TsStatus V##_default_config(const TsTemplateArgs *args, const TsTemplateTarget *target, \
                                       const TsConfigSpace *space, TsConfig *out, TsError *err)    \
    {                                                                                              \
        return dense_default_config(&V, args, target, space, out, err);                            \
    }                                                                                              \
    static TsStatus V##_instantiate(const TsTemplateArgs *args, const TsTemplateTarget *target,    \
                                    const TsConfig *config, TsArena *arena,                        \
                                    TsTemplateInstance *out, TsError *err)                         \
    {                                                                                              \
        return dense_instantiate(&V, args, target, config, arena, out, err);                       \
    }

VARIANT_FUNCTIONS(int8_amx)
VARIANT_FUNCTIONS(bf16_amx)

static const char *const amx_int8_features[] = { "amx-tile", "amx-int8", NULL };
static const char *const amx_bf16_features[] = { "amx-tile", "amx-bf16", NULL };

const TsTemplate sch_template_dense_int8_amx = {
    .name = "dense_int8_amx",
    .op = "dense",
    .summary = "int8 dense (uint8 x int8 -> int32), weight packed [N/16, K/4, 16, 4], "
               "16 x 16 output tiles kept in a tile register across k_steps tdpbusd steps",
    .dtypes = int8_dtypes,
    .features = amx_int8_features,
    .priority = 20,
    .arg_names = arg_names,
    .define_space = int8_amx_define_space,
    .default_config = int8_amx_default_config,
    .instantiate = int8_amx_instantiate,
    .flop = sch_dense_flop,
};

const TsTemplate sch_template_dense_bf16_amx = {
    .name = "dense_bf16_amx",
    .op = "dense",
    .summary = "bfloat16 dense (-> float32), weight packed [N/16, K/2, 16, 2], 16 x 16 "
               "output tiles kept in a tile register across k_steps tdpbf16ps steps",
    .dtypes = bf16_dtypes,
    .features = amx_bf16_features,
    .priority = 20,
    .arg_names = arg_names,
    .define_space = bf16_amx_define_space,
    .default_config = bf16_amx_default_config,
    .instantiate = bf16_amx_instantiate,
    .flop = sch_dense_flop,
};
