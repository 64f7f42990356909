/* The conv2d templates on AMX tiles: "conv2d_NCHWc_int8_amx" (uint8 data times int8
 * weights summed exactly in int32, tdpbusd) and "conv2d_NCHWc_bf16_amx" (bfloat16 into
 * float32, tdpbf16ps), in conv2d_NCHWc_int8's packed layouts (conv2d_int8.c) with G the
 * elements of a 4-byte group (4 for int8, 2 for bf16), ic_bn input channels (4 up to a
 * 64-byte tile row: 64 int8, 32 bf16) and oc_bn = 16 output channels:
 *   data   [N, ceil(C / ic_bn), H, W, ic_bn]
 *   weight [ceil(K / 16), ceil(C / ic_bn), R, S, ic_bn / G, 16, G]
 *   output [N, ceil(K / 16), OH, OW, 16]                 int32 or float32
 * Arguments N C H W K R S stride pad, and dtype=int8 or dtype=bfloat16; they need
 * amx-tile and amx-int8 or amx-bf16.
 *
 * One output tile is M consecutive output columns (rows of the tile, M dividing OW and
 * at most 16: 14 for widths 56, 28 and 14, 7 for 7) by the 16 channels of an output
 * block. Its A tiles are M rows of ic_bn data channels, stride x ic_bn elements apart in
 * the padded data; its B tiles are the ic_bn / G rows of 16 x G weights of one (ic, kh,
 * kw). The whole reduction, over ic blocks, kernel rows and kernel columns, is one
 * tensorized region, so the accumulator stays in a tile register from the first step to
 * the store (the nested form of the tile statements, codegen/amx.c): per tile,
 * ceil(C / ic_bn) x R x S tile products. The intrinsic, x86.amx.u8s8.<M>x16x<K> or
 * x86.amx.bf16.<M>x16x<K> (K the reduction's elements), is declared for each instance at
 * its shape in the instance's arena:
 *   c[i, j] += sum over ic, kh, kw, k, g of a[ic, kh, kw, i, k, g] * b[ic, kh, kw, k, j, g]
 *
 * Knobs: ic_bn (4, 8, ... up to a tile row, no larger than C rounded up to 4), rows (the
 * divisors of OW up to 16), loop_order (0: n, oc, oh, ow blocks, each weight block
 * reused over the image; 1: n, oh, ow blocks, oc, each data block reused over the
 * weights). Default: the largest ic_bn and rows, loop_order 0. One thread (no parallel
 * knob yet). */
#include <stdio.h>

#include "tmpl_internal.h"

#include "tessera/intrin.h"

enum { OC_BN = 16, MIN_IC_BN = 4, MAX_ROWS = 16, TILE_BYTES = 64 };

static const char *const arg_names[] = { "N", "C", "H", "W", "K", "R", "S", "stride", "pad", NULL };
static const char *const int8_dtypes[] = { "int8", NULL };
static const char *const bf16_dtypes[] = { "bfloat16", NULL };
static const char *const int8_features[] = { "amx-tile", "amx-int8", NULL };
static const char *const bf16_features[] = { "amx-tile", "amx-bf16", NULL };

/* One template of the family: what is multiplied (data, weight) into what (acc), the
 * elements of a 4-byte group, the tile product and the intrinsics' name prefix. */
typedef struct Variant {
    const char *name, *dtype_name;
    TsDType data, weight, acc;
    int group;
    const char *product, *family;
    const char *const *features;
} Variant;

static const Variant int8_amx = { "conv2d_NCHWc_int8_amx",
                                  "int8",
                                  { TS_TYPE_UINT, 8, 1 },
                                  { TS_TYPE_INT, 8, 1 },
                                  { TS_TYPE_INT, 32, 1 },
                                  4,
                                  "llvm.x86.tdpbusd.internal",
                                  "x86.amx.u8s8",
                                  int8_features };
static const Variant bf16_amx = { "conv2d_NCHWc_bf16_amx",
                                  "bfloat16",
                                  { TS_TYPE_BFLOAT, 16, 1 },
                                  { TS_TYPE_BFLOAT, 16, 1 },
                                  { TS_TYPE_FLOAT, 32, 1 },
                                  2,
                                  "llvm.x86.tdpbf16ps.internal",
                                  "x86.amx.bf16",
                                  bf16_features };

/* The input channels of a 64-byte tile row. */
static int64_t max_ic_bn(const Variant *var)
{
    return TILE_BYTES / (int64_t)ts_dtype_bytes(var->data);
}

typedef struct Conv {
    int64_t n, c, h, w, k, r, s, stride, pad, oh, ow;
} Conv;

static TsStatus read_conv(const Variant *var, const TsTemplateArgs *args,
                          const TsTemplateTarget *target, Conv *cv, TsError *err)
{
    const char *name = var->name;
    static const int64_t min[] = { 1, 1, 1, 1, 1, 1, 1, 1, 0 };
    int64_t v[9] = { 0 };
    TsDType dtype;
    TsStatus st = sch_tmpl_read_args(name, args, arg_names, min, v, err);
    if (st == TS_OK)
        st = sch_tmpl_check_target(name, target, err);
    TsDType served = var->acc.code == TS_TYPE_FLOAT ? TS_BFLOAT16 : TS_INT8;
    if (st == TS_OK && (ts_template_args_get_dtype(args, "dtype", &dtype, NULL) != TS_OK ||
                        !ts_dtype_eq(dtype, served)))
        st = ts_fail(err, TS_EINVAL, "%s: argument dtype=%s is missing (%s only)", name,
                     var->dtype_name, var->dtype_name);
    if (st != TS_OK)
        return st;
    *cv = (Conv){ v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], 0, 0 };
    return sch_window_extents(name, "kernel", cv->h, cv->w, cv->r, cv->s, cv->stride, cv->pad,
                              &cv->oh, &cv->ow, err);
}

/* ---- the space ---- */

/* ic_bn: 4, 8, ... up to a tile row (64 for int8, 32 for bf16), those no larger than C
 * rounded up to 4 (at least 4). */
static int input_blocks(const Variant *var, int64_t c, int64_t *out)
{
    int n = 0;
    int64_t most = sch_ceil_div(c, MIN_IC_BN) * MIN_IC_BN;
    for (int64_t b = MIN_IC_BN; b <= max_ic_bn(var) && (b <= most || n == 0); b *= 2)
        out[n++] = b;
    return n;
}

/* The tile's rows: the divisors of ow up to 16, ascending. */
static int row_choices(int64_t ow, int64_t *out)
{
    int n = 0;
    for (int64_t m = 1; m <= MAX_ROWS && m <= ow; m++)
        if (ow % m == 0)
            out[n++] = m;
    return n;
}

static TsStatus amx_define_space(const Variant *var, const TsTemplateArgs *args,
                                 const TsTemplateTarget *target, TsConfigSpace *space, TsError *err)
{
    Conv cv;
    int64_t ic[8], rows[MAX_ROWS];
    static const int64_t orders[] = { 0, 1 };
    TsStatus st = read_conv(var, args, target, &cv, err);
    if (st == TS_OK)
        st = ts_space_define_knob(space, "ic_bn", input_blocks(var, cv.c, ic), ic, err);
    if (st == TS_OK)
        st = ts_space_define_knob(space, "rows", row_choices(cv.ow, rows), rows, err);
    if (st == TS_OK)
        st = ts_space_define_knob(space, "loop_order", 2, orders, err);
    return st;
}

static TsStatus amx_default_config(const Variant *var, const TsTemplateArgs *args,
                                   const TsTemplateTarget *target, const TsConfigSpace *space,
                                   TsConfig *out, TsError *err)
{
    Conv cv;
    int64_t ic[8], rows[MAX_ROWS];
    TsStatus st = read_conv(var, args, target, &cv, err);
    if (st != TS_OK)
        return st;
    int num_ic = input_blocks(var, cv.c, ic), num_rows = row_choices(cv.ow, rows);
    sch_tmpl_config_init(space, out);
    st = sch_tmpl_want_knob(out, "ic_bn", ic[num_ic - 1], err);
    if (st == TS_OK)
        st = sch_tmpl_want_knob(out, "rows", rows[num_rows - 1], err);
    if (st == TS_OK)
        st = sch_tmpl_want_knob(out, "loop_order", 0, err);
    if (st == TS_OK)
        st = sch_tmpl_config_finish(out, err);
    return st;
}

/* ---- the expression ---- */

typedef struct ConvTensors {
    TsTensor *data, *weight, *pad, *out;
} ConvTensors;

static void conv_expression(TsArena *A, const Variant *var, const Conv *cv, int64_t ic_bn,
                            ConvTensors *t)
{
    const int64_t group = var->group;
    int64_t icb = sch_ceil_div(cv->c, ic_bn), ocb = sch_ceil_div(cv->k, OC_BN);
    t->data =
        ts_placeholder(A, "data", 5, (int64_t[]){ cv->n, icb, cv->h, cv->w, ic_bn }, var->data);
    t->weight = ts_placeholder(A, "weight", 7,
                               (int64_t[]){ ocb, icb, cv->r, cv->s, ic_bn / group, OC_BN, group },
                               var->weight);
    t->pad = sch_nchwc_pad(A, t->data, cv->pad);
    TsAxis *n = ts_axis(A, "n", cv->n), *oc = ts_axis(A, "oc", ocb);
    TsAxis *oh = ts_axis(A, "oh", cv->oh), *ow = ts_axis(A, "ow", cv->ow);
    TsAxis *ob = ts_axis(A, "ob", OC_BN);
    TsAxis *ic = ts_reduce_axis(A, "ic", icb), *kh = ts_reduce_axis(A, "kh", cv->r);
    TsAxis *kw = ts_reduce_axis(A, "kw", cv->s), *ig = ts_reduce_axis(A, "ig", ic_bn / group);
    TsAxis *g = ts_reduce_axis(A, "g", group);
    TsExpr *y = ts_add(A, ts_mul(A, ts_var(oh), ts_i32(A, cv->stride)), ts_var(kh));
    TsExpr *x = ts_add(A, ts_mul(A, ts_var(ow), ts_i32(A, cv->stride)), ts_var(kw));
    TsExpr *lane = ts_add(A, ts_mul(A, ts_var(ig), ts_i32(A, (int32_t)group)), ts_var(g));
    TsExpr *in = ts_at(A, t->pad, ts_var(n), ts_var(ic), y, x, lane);
    TsExpr *w = ts_at(A, t->weight, ts_var(oc), ts_var(ic), ts_var(kh), ts_var(kw), ts_var(ig),
                      ts_var(ob), ts_var(g));
    TsExpr *prod = ts_mul(A, ts_cast(A, var->acc, in), ts_cast(A, var->acc, w));
    t->out = ts_compute_tagged(A, "conv2d_NCHWc_int8", "conv2d_NCHWc_int8", 5,
                               (TsAxis *[]){ n, oc, oh, ow, ob },
                               ts_sum(A, prod, 5, (TsAxis *[]){ ic, kh, kw, ig, g }, NULL));
}

/* ---- the intrinsic ---- */

/* What the emitters need beyond the regions: the tile's rows and the nest's extents. */
typedef struct TileShape {
    const Variant *var;
    int rows, ic_bn;
    int64_t icb, r, s;
} TileShape;

static TsExpr *i64(TsArena *A, int64_t v)
{
    return ts_int(A, TS_INT64, v);
}

/* A region's dimension dim's stride in bytes (elements of bytes bytes). */
static TsExpr *stride_bytes(TsArena *A, const TsIntrinRegion *region, int dim, int64_t bytes)
{
    return i64(A, bytes * ts_intrin_region_stride(region, dim));
}

/* C = (accumulate ? C : 0) + the whole reduction, one statement (codegen/amx.c's nested
 * form): the kw steps innermost, then kh, then ic. a is [ic, kh, kw, i, k, g], b is
 * [ic, kh, kw, k, j, g], c is [i, j]. */
static TsStmt *tile_conv(TsArena *A, const TsIntrinRegion *const *regions, const TileShape *t,
                         bool accumulate)
{
    const TsIntrinRegion *a = regions[0], *b = regions[1], *c = regions[2];
    int64_t e = ts_dtype_bytes(t->var->data); /* data and weight alike */
    TsExpr *args[19] = { ts_i32(A, t->rows), ts_i32(A, OC_BN * 4),
                         ts_i32(A, (int32_t)(t->ic_bn * e)) };
    args[3] = ts_intrin_region_address(A, c, NULL);
    args[4] = stride_bytes(A, c, 0, 4);
    args[5] = ts_intrin_region_address(A, a, NULL);
    args[6] = stride_bytes(A, a, 3, e);
    args[7] = ts_intrin_region_address(A, b, NULL);
    args[8] = stride_bytes(A, b, 3, e);
    args[9] = ts_i32(A, (int32_t)t->s);
    args[10] = stride_bytes(A, a, 2, e);
    args[11] = stride_bytes(A, b, 2, e);
    args[12] = ts_i32(A, accumulate ? 1 : 0);
    args[13] = ts_i32(A, (int32_t)t->r);
    args[14] = stride_bytes(A, a, 1, e);
    args[15] = stride_bytes(A, b, 1, e);
    args[16] = ts_i32(A, (int32_t)t->icb);
    args[17] = stride_bytes(A, a, 0, e);
    args[18] = stride_bytes(A, b, 0, e);
    return ts_intrin_call(A, t->var->product, 19, args);
}

static TsStmt *tile_body(TsArena *A, const TsIntrin *intrin, const TsIntrinRegion *const *regions,
                         void *user)
{
    (void)intrin;
    return tile_conv(A, regions, user, false);
}

static TsStmt *tile_update(TsArena *A, const TsIntrin *intrin, const TsIntrinRegion *const *regions,
                           void *user)
{
    (void)intrin;
    return tile_conv(A, regions, user, true);
}

static TsStmt *tile_reset(TsArena *A, const TsIntrin *intrin, const TsIntrinRegion *const *regions,
                          void *user)
{
    const TileShape *t = user;
    TsExpr *args[4] = { ts_i32(A, t->rows), ts_i32(A, OC_BN * 4),
                        ts_intrin_region_address(A, regions[ts_intrin_num_inputs(intrin)], NULL),
                        stride_bytes(A, regions[ts_intrin_num_inputs(intrin)], 0, 4) };
    return ts_intrin_call(A, "llvm.x86.tilezero.internal", 4, args);
}

/* The tile convolution at this instance's shape, in arena. */
static TsStatus declare_intrin(TsArena *A, const TileShape *t, const TsIntrin **out, TsError *err)
{
    const Variant *var = t->var;
    const int64_t group = var->group, depth = t->ic_bn / group;
    char intrin_name[64];
    snprintf(intrin_name, sizeof intrin_name, "%s.%dx16x%lld", var->family, t->rows,
             (long long)(t->icb * t->r * t->s * t->ic_bn));
    TsTensor *ta = ts_placeholder(
        A, "a", 6, (int64_t[]){ t->icb, t->r, t->s, t->rows, depth, group }, var->data);
    TsTensor *tb = ts_placeholder(A, "b", 6, (int64_t[]){ t->icb, t->r, t->s, depth, OC_BN, group },
                                  var->weight);
    TsAxis *i = ts_axis(A, "i", t->rows), *j = ts_axis(A, "j", OC_BN);
    TsAxis *ic = ts_reduce_axis(A, "ic", t->icb), *kh = ts_reduce_axis(A, "kh", t->r);
    TsAxis *kw = ts_reduce_axis(A, "kw", t->s), *k = ts_reduce_axis(A, "k", depth);
    TsAxis *g = ts_reduce_axis(A, "g", group);
    TsExpr *va = ts_at(A, ta, ts_var(ic), ts_var(kh), ts_var(kw), ts_var(i), ts_var(k), ts_var(g));
    TsExpr *vb = ts_at(A, tb, ts_var(ic), ts_var(kh), ts_var(kw), ts_var(k), ts_var(j), ts_var(g));
    TsExpr *prod = ts_mul(A, ts_cast(A, var->acc, va), ts_cast(A, var->acc, vb));
    TsTensor *c = ts_compute(A, "c", 2, (TsAxis *[]){ i, j },
                             ts_sum(A, prod, 5, (TsAxis *[]){ ic, kh, kw, k, g }, NULL));
    TsStatus st = ts_arena_check(A, err);
    TsIntrin *in = NULL;
    if (st == TS_OK)
        st = ts_intrin_declare(A, intrin_name, c, 2, (TsTensor *[]){ ta, tb }, &in, err);
    const int64_t any = TS_INTRIN_STRIDE_ANY;
    if (st == TS_OK)
        st = ts_intrin_set_strides(in, ta, (int64_t[]){ any, any, any, any, group, 1 }, err);
    if (st == TS_OK)
        st = ts_intrin_set_strides(in, tb, (int64_t[]){ any, any, any, any, group, 1 }, err);
    if (st == TS_OK)
        st = ts_intrin_set_strides(in, c, (int64_t[]){ any, 1 }, err);
    for (int f = 0; var->features[f] && st == TS_OK; f++)
        st = ts_intrin_require(in, var->features[f], err);
    if (st == TS_OK)
        st = ts_intrin_set_emitters(in, tile_body, tile_reset, tile_update, (void *)t, err);
    *out = in;
    return st;
}

/* ---- the schedule ---- */

typedef struct ConvKnobs {
    int64_t ic_bn, rows, loop_order;
} ConvKnobs;

static TsStatus conv_prepare(const Variant *var, const TsTemplateArgs *args,
                             const TsTemplateTarget *target, const TsConfig *config, Conv *cv,
                             ConvKnobs *kn, TsError *err)
{
    TsStatus st = read_conv(var, args, target, cv, err);
    if (st != TS_OK)
        return st;
    kn->ic_bn = sch_tmpl_knob(config, "ic_bn", err, &st);
    kn->rows = sch_tmpl_knob(config, "rows", err, &st);
    kn->loop_order = sch_tmpl_knob(config, "loop_order", err, &st);
    if (st == TS_OK && (kn->ic_bn < MIN_IC_BN || kn->ic_bn > max_ic_bn(var) ||
                        kn->ic_bn % MIN_IC_BN || kn->rows < 1 || kn->rows > MAX_ROWS ||
                        cv->ow % kn->rows || (kn->loop_order != 0 && kn->loop_order != 1)))
        st = ts_fail(err, TS_EINVAL,
                     "%s: ic_bn %lld must be a multiple of 4 up to %lld, rows %lld a divisor "
                     "of the output width %lld up to 16, loop_order %lld 0 or 1",
                     var->name, (long long)kn->ic_bn, (long long)max_ic_bn(var),
                     (long long)kn->rows, (long long)cv->ow, (long long)kn->loop_order);
    return st;
}

/* The output: n, oc and oh blocks in the knob's order, the ow blocks, then the tensorized
 * region (ow.inner, ob, ic, kh, kw, ig, g). */
static TsStatus schedule_output(TsSchedule *sch, const ConvTensors *t, const ConvKnobs *kn,
                                const TsIntrin *intrin, TsError *err)
{
    TsStage *st = ts_stage(sch, t->out);
    TsAxis *root[10], *owo, *owi;
    for (int i = 0; i < 10; i++)
        root[i] = ts_stage_root_axis(st, i);
    TsStatus s = ts_split(st, root[3], kn->rows, &owo, &owi, err);
    TsAxis *order[11] = { root[0], root[1], root[2], owo,     owi,    root[4],
                          root[5], root[6], root[7], root[8], root[9] };
    if (kn->loop_order == 1) {
        order[1] = root[2];
        order[2] = owo;
        order[3] = root[1];
    }
    if (s == TS_OK)
        s = ts_reorder(st, 11, order, err);
    if (s == TS_OK)
        s = ts_tensorize(st, owi, intrin, err);
    if (s == TS_OK && t->pad != t->data)
        s = ts_vectorize(ts_stage(sch, t->pad), ts_stage_root_axis(ts_stage(sch, t->pad), 4), err);
    return s;
}

static TsStatus amx_instantiate(const Variant *var, const TsTemplateArgs *args,
                                const TsTemplateTarget *target, const TsConfig *config,
                                TsArena *arena, TsTemplateInstance *out, TsError *err)
{
    Conv cv;
    ConvKnobs kn;
    TsStatus st = conv_prepare(var, args, target, config, &cv, &kn, err);
    if (st != TS_OK)
        return st;
    ConvTensors t;
    conv_expression(arena, var, &cv, kn.ic_bn, &t);
    TileShape *shape = ts_arena_alloc(arena, sizeof *shape);
    if ((st = ts_arena_check(arena, err)) != TS_OK)
        return st;
    *shape =
        (TileShape){ var, (int)kn.rows, (int)kn.ic_bn, sch_ceil_div(cv.c, kn.ic_bn), cv.r, cv.s };
    const TsIntrin *intrin;
    st = declare_intrin(arena, shape, &intrin, err);
    TsSchedule *sch = st == TS_OK ? ts_schedule_create(arena, 1, &t.out) : NULL;
    if (st == TS_OK)
        st = ts_arena_check(arena, err);
    if (st == TS_OK)
        st = schedule_output(sch, &t, &kn, intrin, err);
    if (st != TS_OK)
        return st;
    *out = (TsTemplateInstance){
        .sch = sch, .num_tensors = 3, .num_outputs = 1, .tensors = { t.data, t.weight, t.out }
    };
    return TS_OK;
}

/* Multiply-adds times two, over the real channels. */
static double amx_flop(const TsTemplateArgs *args)
{
    return sch_template_conv2d_int8.flop(args);
}

/* The variants' functions (the template's function pointers take no variant). */
static TsStatus int8_define_space(const TsTemplateArgs *args, const TsTemplateTarget *target,
                                  TsConfigSpace *space, TsError *err)
{
    return amx_define_space(&int8_amx, args, target, space, err);
}

static TsStatus int8_default_config(const TsTemplateArgs *args, const TsTemplateTarget *target,
                                    const TsConfigSpace *space, TsConfig *out, TsError *err)
{
    return amx_default_config(&int8_amx, args, target, space, out, err);
}

static TsStatus int8_instantiate(const TsTemplateArgs *args, const TsTemplateTarget *target,
                                 const TsConfig *config, TsArena *arena, TsTemplateInstance *out,
                                 TsError *err)
{
    return amx_instantiate(&int8_amx, args, target, config, arena, out, err);
}

static TsStatus bf16_define_space(const TsTemplateArgs *args, const TsTemplateTarget *target,
                                  TsConfigSpace *space, TsError *err)
{
    return amx_define_space(&bf16_amx, args, target, space, err);
}

static TsStatus bf16_default_config(const TsTemplateArgs *args, const TsTemplateTarget *target,
                                    const TsConfigSpace *space, TsConfig *out, TsError *err)
{
    return amx_default_config(&bf16_amx, args, target, space, out, err);
}

static TsStatus bf16_instantiate(const TsTemplateArgs *args, const TsTemplateTarget *target,
                                 const TsConfig *config, TsArena *arena, TsTemplateInstance *out,
                                 TsError *err)
{
    return amx_instantiate(&bf16_amx, args, target, config, arena, out, err);
}

const TsTemplate sch_template_conv2d_int8_amx = {
    .name = "conv2d_NCHWc_int8_amx",
    .op = "conv2d",
    .summary = "int8 conv2d (uint8 x int8 -> int32) on AMX tiles: output tiles of up to 16 "
               "columns by 16 channels, the whole reduction in one tile register (tdpbusd)",
    .dtypes = int8_dtypes,
    .features = int8_features,
    .priority = 20,
    .arg_names = arg_names,
    .define_space = int8_define_space,
    .default_config = int8_default_config,
    .instantiate = int8_instantiate,
    .flop = amx_flop,
};

const TsTemplate sch_template_conv2d_bf16_amx = {
    .name = "conv2d_NCHWc_bf16_amx",
    .op = "conv2d",
    .summary = "bfloat16 conv2d (bf16 x bf16 -> float32) on AMX tiles: output tiles of up to "
               "16 columns by 16 channels, the whole reduction in one tile register (tdpbf16ps)",
    .dtypes = bf16_dtypes,
    .features = bf16_features,
    .priority = 20,
    .arg_names = arg_names,
    .define_space = bf16_define_space,
    .default_config = bf16_default_config,
    .instantiate = bf16_instantiate,
    .flop = amx_flop,
};
