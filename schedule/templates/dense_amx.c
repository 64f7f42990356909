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

enum { TILE = 16, TILE_BYTES = 64, MAX_STEPS = 64, MAX_PANEL = 16, NUM_STEP_CHOICES = 3 };

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

static TsStatus dense_define_space(const Variant *var, const TsTemplateArgs *args,
                                   const TsTemplateTarget *target, TsConfigSpace *space,
                                   TsError *err)
{
    Dense d;
    int64_t steps[NUM_STEP_CHOICES], m_panel[8], n_panel[8];
    static const int64_t on_off[] = { 0, 1 };
    TsStatus st = read_dense(var, args, target, &d, err);
    if (st == TS_OK)
        st = ts_space_define_knob(space, "k_steps", step_choices(d.k_tiles, steps), steps, err);
    if (st == TS_OK)
        st = ts_space_define_knob(space, "order", 2, on_off, err);
    if (st == TS_OK)
        st =
            ts_space_define_knob(space, "m_panel", panel_choices(d.m_tiles, m_panel), m_panel, err);
    if (st == TS_OK)
        st =
            ts_space_define_knob(space, "n_panel", panel_choices(d.n_tiles, n_panel), n_panel, err);
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
        st = sch_tmpl_want_knob(out, "parallel", target->num_cores > 1, err);
    if (st == TS_OK)
        st = sch_tmpl_config_finish(out, err);
    return st;
}

/* ---- the intrinsic ---- */

/* What the emitters need: the variant and the tile steps of a region. */
typedef struct TileShape {
    const Variant *var;
    int64_t steps;
} TileShape;

/* A tile's place as a statement takes it: its first element's address and its row
 * stride in bytes. */
static void tile_place(TsArena *A, const TsIntrinRegion *region, TsExpr **args)
{
    const TsTensor *t = ts_intrin_region_tensor(region);
    int64_t bytes =
        (int64_t)ts_dtype_bytes(ts_tensor_dtype(t)) * ts_intrin_region_stride(region, 0);
    args[0] = ts_intrin_region_address(A, region, NULL);
    args[1] = ts_int(A, TS_INT64, bytes);
}

/* C = (accumulate ? C : 0) + the steps' products, one deep statement: A steps 64 bytes
 * along its rows, B 16 rows (one tile) down. */
static TsStmt *tile_product(TsArena *A, const TsIntrinRegion *const *regions, const TileShape *t,
                            bool accumulate)
{
    TsExpr *args[13] = { ts_i32(A, TILE), ts_i32(A, TILE_BYTES), ts_i32(A, TILE_BYTES) };
    tile_place(A, regions[2], args + 3);
    tile_place(A, regions[0], args + 5);
    tile_place(A, regions[1], args + 7);
    const TsTensor *b = ts_intrin_region_tensor(regions[1]);
    int64_t b_row =
        (int64_t)ts_dtype_bytes(ts_tensor_dtype(b)) * ts_intrin_region_stride(regions[1], 0);
    args[9] = ts_i32(A, (int32_t)t->steps);
    args[10] = ts_int(A, TS_INT64, TILE_BYTES);
    args[11] = ts_int(A, TS_INT64, TILE * b_row);
    args[12] = ts_i32(A, accumulate ? 1 : 0);
    return ts_intrin_call(A, t->var->product, 13, args);
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

static TsStmt *tile_zero(TsArena *A, const TsIntrin *intrin, const TsIntrinRegion *const *regions,
                         void *user)
{
    (void)user;
    TsExpr *args[4] = { ts_i32(A, TILE), ts_i32(A, TILE_BYTES) };
    tile_place(A, regions[ts_intrin_num_inputs(intrin)], args + 2);
    return ts_intrin_call(A, "llvm.x86.tilezero.internal", 4, args);
}

/* The tile product of t->steps steps, in arena. */
static TsStatus declare_intrin(TsArena *A, const Dense *d, const TileShape *t, const TsIntrin **out,
                               TsError *err)
{
    const Variant *var = t->var;
    TsDType a_dt = var->bf16 ? TS_BFLOAT16 : TS_UINT8, b_dt = var->bf16 ? TS_BFLOAT16 : TS_INT8;
    TsDType acc = var->bf16 ? TS_FLOAT32 : TS_INT32;
    int64_t depth = TILE * t->steps; /* groups of the reduction */
    char name[64];
    snprintf(name, sizeof name, "%s.16x16x%lld", var->family, (long long)(depth * d->group));
    TsTensor *ta = ts_placeholder(A, "a", 3, (int64_t[]){ TILE, depth, d->group }, a_dt);
    TsTensor *tb = ts_placeholder(A, "b", 3, (int64_t[]){ depth, TILE, d->group }, b_dt);
    TsAxis *i = ts_axis(A, "i", TILE), *j = ts_axis(A, "j", TILE);
    TsAxis *k = ts_reduce_axis(A, "k", depth), *g = ts_reduce_axis(A, "g", d->group);
    TsExpr *prod = ts_mul(A, ts_cast(A, acc, ts_at(A, ta, ts_var(i), ts_var(k), ts_var(g))),
                          ts_cast(A, acc, ts_at(A, tb, ts_var(k), ts_var(j), ts_var(g))));
    TsTensor *c =
        ts_compute(A, "c", 2, (TsAxis *[]){ i, j }, ts_sum(A, prod, 2, (TsAxis *[]){ k, g }, NULL));
    TsStatus st = ts_arena_check(A, err);
    TsIntrin *in = NULL;
    if (st == TS_OK)
        st = ts_intrin_declare(A, name, c, 2, (TsTensor *[]){ ta, tb }, &in, err);
    const int64_t any = TS_INTRIN_STRIDE_ANY;
    if (st == TS_OK)
        st = ts_intrin_set_strides(in, ta, (int64_t[]){ any, d->group, 1 }, err);
    if (st == TS_OK)
        st = ts_intrin_set_strides(in, tb, (int64_t[]){ any, d->group, 1 }, err);
    if (st == TS_OK)
        st = ts_intrin_set_strides(in, c, (int64_t[]){ any, 1 }, err);
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
    int64_t k_steps, order, m_panel, n_panel, parallel;
} Knobs;

static TsStatus read_knobs(const Variant *var, const Dense *d, const TsConfig *config, Knobs *kn,
                           TsError *err)
{
    TsStatus st = TS_OK;
    kn->k_steps = sch_tmpl_knob(config, "k_steps", err, &st);
    kn->order = sch_tmpl_knob(config, "order", err, &st);
    kn->m_panel = sch_tmpl_knob(config, "m_panel", err, &st);
    kn->n_panel = sch_tmpl_knob(config, "n_panel", err, &st);
    kn->parallel = sch_tmpl_knob(config, "parallel", err, &st);
    if (st != TS_OK)
        return st;
    if (kn->k_steps < 1 || kn->k_steps > MAX_STEPS || d->k_tiles % kn->k_steps || kn->m_panel < 1 ||
        d->m_tiles % kn->m_panel || kn->n_panel < 1 || d->n_tiles % kn->n_panel ||
        (kn->order != 0 && kn->order != 1))
        return ts_fail(err, TS_EINVAL,
                       "%s: k_steps %lld must divide the %lld tile steps of K (at most %d), "
                       "m_panel %lld and n_panel %lld the %lld row and %lld column tiles, "
                       "order %lld be 0 or 1",
                       var->name, (long long)kn->k_steps, (long long)d->k_tiles, MAX_STEPS,
                       (long long)kn->m_panel, (long long)kn->n_panel, (long long)d->m_tiles,
                       (long long)d->n_tiles, (long long)kn->order);
    return TS_OK;
}

/* Loops: the panels and the tiles of a panel, rows first (order 0) or columns first,
 * k.outer, then the tile (i.inner 16, j.inner 16, k steps, k group) tensorized. */
static TsStatus schedule_tiles(const Dense *d, const Knobs *kn, const TsIntrin *intrin, TsStage *st,
                               TsError *err)
{
    TsAxis *io, *ii, *jo, *ji, *ko, *kr, *kt, *kg, *ip, *it, *jp, *jt;
    TsStatus s = ts_split(st, ts_stage_root_axis(st, 0), TILE, &io, &ii, err);
    if (s == TS_OK)
        s = ts_split(st, ts_stage_root_axis(st, 1), TILE, &jo, &ji, err);
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
    TsAxis *order[10] = { ip, jp, it, jt, ko, ii, ji, kt, kg };
    if (kn->order == 1)
        order[0] = jp, order[1] = ip, order[2] = jt, order[3] = it;
    s = ts_reorder(st, 9, order, err);
    if (s == TS_OK && kn->parallel)
        s = ts_parallel(st, order[0], err);
    if (s == TS_OK)
        s = ts_tensorize(st, ii, intrin, err);
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
    *shape = (TileShape){ var, kn.k_steps };
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

/* Multiply-adds times two over the real extents (not the padding). */
static double dense_flop(const TsTemplateArgs *args)
{
    static const int64_t min[] = { 1, 1, 1 };
    int64_t v[3] = { 0 };
    if (sch_tmpl_read_args("dense", args, arg_names, min, v, NULL) != TS_OK)
        return 0;
    return 2.0 * (double)v[0] * (double)v[1] * (double)v[2];
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
    .flop = dense_flop,
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
    .flop = dense_flop,
};
