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
 * block, or (below) 16 flattened positions. Its A tiles are M rows of ic_bn data
 * channels, stride x ic_bn elements apart in the padded data; its B tiles are the
 * ic_bn / G rows of 16 x G weights of one (ic, kh, kw). The whole reduction, over ic
 * blocks, kernel rows and kernel columns, is one
 * tensorized region, so the accumulator stays in a tile register from the first step to
 * the store (the nested form of the tile statements, codegen/amx.c): per tile,
 * ceil(C / ic_bn) x R x S tile products. The intrinsic, x86.amx.u8s8.<M>x16x<K> or
 * x86.amx.bf16.<M>x16x<K> (K the reduction's elements), is declared for each instance at
 * its shape in the instance's arena:
 *   c[i, j] += sum over ic, kh, kw, k, g of a[ic, kh, kw, i, k, g] * b[ic, kh, kw, k, j, g]
 *
 * With stride 1 a tile can instead be 16 consecutive positions of the flattened output
 * (rows 0), oneDNN's width-padded form: the output is computed over rows as wide as the
 * padded input (Wp = W + 2 pad), so position p = oh Wp + ow reads the flattened padded
 * data at p + kh Wp + kw, one constant stride for the A tile's rows even across output
 * rows; the Wp - OW columns past each row are computed and dropped by a copy into the
 * output. A 7x7 layer (Wp 9) is then 4 tiles of 16 positions (61 used) instead of 7
 * tiles of 7 rows. The data are flattened into [N, ICB, L, ic_bn] with zeros around and
 * past the image, L = P + (R - 1) Wp + S - 1 for P the positions, (OH - 1) Wp + OW,
 * rounded up to 16.
 *
 * A region holds block_pos x block_oc accumulator tiles (codegen/amx.c's block form: 2
 * x 2 is 4 of the 8 tile registers, with 2 A and 2 B tiles, each loaded once per step for
 * two products): block_pos consecutive tiles of positions (the next rows of the A and C
 * tiles) by block_oc output channel blocks.
 *
 * Knobs: ic_bn (4, 8, ... up to a tile row, no larger than C rounded up to 4), rows (0,
 * the flattened positions, with stride 1; then the divisors of OW up to 16), loop_order
 * (0: n, oc, then the output's tiles, each weight block reused over the image; 1: n, the
 * tiles, oc, each data block reused over the weights), block_pos (1 or 2; with rows that
 * leave an odd number of tiles in an output row, 1), block_oc (1, or 2 with an even
 * number of output channel blocks), parallel (offered with more than one core: the loop
 * after n on the pool). Default: the largest ic_bn, the flattened positions where their
 * tiles are fewer than the row tiles by more than a tenth or no more and the row tiles
 * cannot pair, else the largest rows; loop_order 0, blocks of 2 x 2, parallel with more
 * than one core. */
#include <stdio.h>

#include "tmpl_internal.h"

#include "tessera/intrin.h"

enum { OC_BN = 16, MIN_IC_BN = 4, MAX_ROWS = 16, TILE_BYTES = 64, FLAT = 0, MAX_BLOCK = 2 };

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

/* The flattened positions of a stride-1 convolution (rows 0): output rows as
 * wide as the padded input (wp), so that position p = oh * wp + ow reads the flattened
 * padded input at p + kh * wp + kw for every p, across rows too; the columns ow >= OW
 * of each wide row are computed and dropped. positions is the last valid one plus one,
 * rounded up to whole tiles of rows; the flattened input holds len positions, zero past
 * the padded image. */
typedef struct Flat {
    int64_t wp, positions, len;
} Flat;

static Flat flat_extents(const Conv *cv, int64_t rows)
{
    Flat f;
    f.wp = cv->w + 2 * cv->pad;
    f.positions = sch_ceil_div((cv->oh - 1) * f.wp + cv->ow, rows) * rows;
    f.len = f.positions + (cv->r - 1) * f.wp + cv->s - 1;
    return f;
}

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

/* The tile's rows: 0 (16 flattened positions) with stride 1, then the divisors of ow up
 * to 16 (columns of one output row), ascending. */
static int row_choices(const Conv *cv, int64_t *out)
{
    int n = 0;
    if (cv->stride == 1)
        out[n++] = FLAT;
    for (int64_t m = 1; m <= MAX_ROWS && m <= cv->ow; m++)
        if (cv->ow % m == 0)
            out[n++] = m;
    return n;
}

/* The largest row tile that divides ow (tiles along output rows). */
static int64_t largest_row_tile(int64_t ow)
{
    int64_t best = 1;
    for (int64_t m = 1; m <= MAX_ROWS && m <= ow; m++)
        if (ow % m == 0)
            best = m;
    return best;
}

/* Flattened positions by default where their 16-row tiles are fewer than the row tiles
 * by more than a tenth (the 7x7 layers: 4 tiles for 7 rows of 7), or no more where the
 * row tiles cannot pair into blocks (14x14: one tile per row). */
static bool flat_by_default(const Conv *cv)
{
    if (cv->stride != 1)
        return false;
    int64_t flat_tiles = flat_extents(cv, MAX_ROWS).positions / MAX_ROWS;
    int64_t per_row = cv->ow / largest_row_tile(cv->ow), row_tiles = cv->oh * per_row;
    return flat_tiles * 10 < row_tiles * 9 || (flat_tiles <= row_tiles && per_row % MAX_BLOCK != 0);
}

static TsStatus amx_define_space(const Variant *var, const TsTemplateArgs *args,
                                 const TsTemplateTarget *target, TsConfigSpace *space, TsError *err)
{
    Conv cv;
    int64_t ic[8], rows[MAX_ROWS + 1];
    static const int64_t orders[] = { 0, 1 }, blocks[] = { 1, MAX_BLOCK };
    TsStatus st = read_conv(var, args, target, &cv, err);
    bool oc_even = st == TS_OK && sch_ceil_div(cv.k, OC_BN) % MAX_BLOCK == 0;
    if (st == TS_OK)
        st = ts_space_define_knob(space, "ic_bn", input_blocks(var, cv.c, ic), ic, err);
    if (st == TS_OK)
        st = ts_space_define_knob(space, "rows", row_choices(&cv, rows), rows, err);
    if (st == TS_OK)
        st = ts_space_define_knob(space, "loop_order", 2, orders, err);
    if (st == TS_OK)
        st = ts_space_define_knob(space, "block_pos", 2, blocks, err);
    if (st == TS_OK)
        st = ts_space_define_knob(space, "block_oc", oc_even ? 2 : 1, blocks, err);
    if (st == TS_OK)
        st = ts_space_define_knob(space, "parallel", target->num_cores > 1 ? 2 : 1, orders, err);
    return st;
}

static TsStatus amx_default_config(const Variant *var, const TsTemplateArgs *args,
                                   const TsTemplateTarget *target, const TsConfigSpace *space,
                                   TsConfig *out, TsError *err)
{
    Conv cv;
    int64_t ic[8];
    TsStatus st = read_conv(var, args, target, &cv, err);
    if (st != TS_OK)
        return st;
    int num_ic = input_blocks(var, cv.c, ic);
    bool flat = flat_by_default(&cv);
    sch_tmpl_config_init(space, out);
    st = sch_tmpl_want_knob(out, "ic_bn", ic[num_ic - 1], err);
    if (st == TS_OK)
        st = sch_tmpl_want_knob(out, "rows", flat ? FLAT : largest_row_tile(cv.ow), err);
    if (st == TS_OK)
        st = sch_tmpl_want_knob(out, "loop_order", 0, err);
    int64_t per_row = cv.ow / largest_row_tile(cv.ow);
    if (st == TS_OK)
        st = sch_tmpl_want_knob(out, "block_pos", flat || per_row % MAX_BLOCK == 0 ? 2 : 1, err);
    if (st == TS_OK)
        st = sch_tmpl_want_knob(out, "block_oc", MAX_BLOCK, err);
    if (st == TS_OK)
        st = sch_tmpl_want_knob(out, "parallel", target->num_cores > 1, err);
    if (st == TS_OK)
        st = sch_tmpl_config_finish(out, err);
    return st;
}

/* ---- the expression ---- */

typedef struct ConvTensors {
    TsTensor *data, *weight, *pad, *out;
    TsTensor *wide; /* flat: the output over the wide rows' positions, else NULL */
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
    t->wide = NULL;
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

/* The flattened padded data [N, ICB, len, ic_bn]: position q is padded row q / wp and
 * column q % wp, zero outside the image and past it. */
static TsTensor *flat_pad(TsArena *A, TsTensor *data, const Conv *cv, const Flat *f)
{
    TsAxis *n = ts_axis(A, "n", ts_tensor_dim(data, 0));
    TsAxis *cc = ts_axis(A, "cc", ts_tensor_dim(data, 1)), *q = ts_axis(A, "q", f->len);
    TsAxis *cb = ts_axis(A, "cb", ts_tensor_dim(data, 4));
    TsExpr *wp = ts_i32(A, (int32_t)f->wp), *pad = ts_i32(A, (int32_t)cv->pad);
    TsExpr *y = ts_sub(A, ts_floordiv(A, ts_var(q), wp), pad);
    TsExpr *x = ts_sub(A, ts_floormod(A, ts_var(q), wp), pad);
    TsExpr *zero = ts_i32(A, 0);
    TsExpr *inside = ts_and(A, ts_and(A, ts_ge(A, y, zero), ts_lt(A, y, ts_i32(A, (int32_t)cv->h))),
                            ts_and(A, ts_ge(A, x, zero), ts_lt(A, x, ts_i32(A, (int32_t)cv->w))));
    TsExpr *value = ts_at(A, data, ts_var(n), ts_var(cc), y, x, ts_var(cb));
    return ts_compute_tagged(
        A, "data_flat", "pad", 4, (TsAxis *[]){ n, cc, q, cb },
        ts_if_then_else(A, inside, value, ts_cast(A, ts_tensor_dtype(data), zero)));
}

/* The flat form: the wide output [N, OCB, positions, 16] from the flattened data, and
 * the output its valid columns. */
static void flat_expression(TsArena *A, const Variant *var, const Conv *cv, int64_t ic_bn,
                            const Flat *f, ConvTensors *t)
{
    const int64_t group = var->group;
    int64_t icb = sch_ceil_div(cv->c, ic_bn), ocb = sch_ceil_div(cv->k, OC_BN);
    t->data =
        ts_placeholder(A, "data", 5, (int64_t[]){ cv->n, icb, cv->h, cv->w, ic_bn }, var->data);
    t->weight = ts_placeholder(A, "weight", 7,
                               (int64_t[]){ ocb, icb, cv->r, cv->s, ic_bn / group, OC_BN, group },
                               var->weight);
    t->pad = flat_pad(A, t->data, cv, f);
    TsAxis *n = ts_axis(A, "n", cv->n), *oc = ts_axis(A, "oc", ocb);
    TsAxis *p = ts_axis(A, "p", f->positions), *ob = ts_axis(A, "ob", OC_BN);
    TsAxis *ic = ts_reduce_axis(A, "ic", icb), *kh = ts_reduce_axis(A, "kh", cv->r);
    TsAxis *kw = ts_reduce_axis(A, "kw", cv->s), *ig = ts_reduce_axis(A, "ig", ic_bn / group);
    TsAxis *g = ts_reduce_axis(A, "g", group);
    TsExpr *q = ts_add(A, ts_add(A, ts_var(p), ts_mul(A, ts_var(kh), ts_i32(A, (int32_t)f->wp))),
                       ts_var(kw));
    TsExpr *lane = ts_add(A, ts_mul(A, ts_var(ig), ts_i32(A, (int32_t)group)), ts_var(g));
    TsExpr *in = ts_at(A, t->pad, ts_var(n), ts_var(ic), q, lane);
    TsExpr *w = ts_at(A, t->weight, ts_var(oc), ts_var(ic), ts_var(kh), ts_var(kw), ts_var(ig),
                      ts_var(ob), ts_var(g));
    TsExpr *prod = ts_mul(A, ts_cast(A, var->acc, in), ts_cast(A, var->acc, w));
    t->wide =
        ts_compute_tagged(A, "conv2d_wide", "conv2d_NCHWc_int8", 4, (TsAxis *[]){ n, oc, p, ob },
                          ts_sum(A, prod, 5, (TsAxis *[]){ ic, kh, kw, ig, g }, NULL));
    TsAxis *on = ts_axis(A, "n", cv->n), *ooc = ts_axis(A, "oc", ocb);
    TsAxis *oh = ts_axis(A, "oh", cv->oh), *ow = ts_axis(A, "ow", cv->ow);
    TsAxis *oob = ts_axis(A, "ob", OC_BN);
    TsExpr *pos = ts_add(A, ts_mul(A, ts_var(oh), ts_i32(A, (int32_t)f->wp)), ts_var(ow));
    t->out = ts_compute_tagged(A, "conv2d_NCHWc_int8", "conv2d_NCHWc_int8", 5,
                               (TsAxis *[]){ on, ooc, oh, ow, oob },
                               ts_at(A, t->wide, ts_var(on), ts_var(ooc), pos, ts_var(oob)));
}

/* ---- the intrinsic ---- */

/* What the emitters need beyond the regions: the tile's rows, the nest's extents and
 * the blocks of accumulator tiles (positions x output channel blocks). */
typedef struct TileShape {
    const Variant *var;
    int rows, ic_bn;
    int64_t icb, r, s, block_pos, block_oc;
} TileShape;

static TsExpr *i64(TsArena *A, int64_t v)
{
    return ts_int(A, TS_INT64, v);
}

/* A region's dimension dim's stride in bytes (elements of bytes bytes). */
static int64_t stride_bytes(const TsIntrinRegion *region, int dim, int64_t bytes)
{
    return bytes * ts_intrin_region_stride(region, dim);
}

/* C = (accumulate ? C : 0) + the whole reduction, one statement (codegen/amx.c's nested
 * form with blocks): the kw steps innermost, then kh, then ic; block_pos x block_oc
 * accumulator tiles, position blocks the next rows of C and A. a is [bp, ic, kh, kw, i,
 * k, g], b is [bo, ic, kh, kw, k, j, g], c is [bp, i, bo, j]. */
static TsStmt *tile_conv(TsArena *A, const TsIntrinRegion *const *regions, const TileShape *t,
                         bool accumulate)
{
    const TsIntrinRegion *a = regions[0], *b = regions[1], *c = regions[2];
    int64_t e = ts_dtype_bytes(t->var->data); /* data and weight alike */
    if (stride_bytes(a, 0, e) != t->rows * stride_bytes(a, 4, e) ||
        stride_bytes(c, 0, 4) != t->rows * stride_bytes(c, 1, 4)) {
        ts_arena_fail(A, TS_EINVAL, "%s: position blocks are not the next %d rows of the tiles",
                      t->var->name, t->rows);
        return NULL;
    }
    TsExpr *args[23] = { ts_i32(A, t->rows), ts_i32(A, OC_BN * 4),
                         ts_i32(A, (int32_t)(t->ic_bn * e)) };
    args[3] = ts_intrin_region_address(A, c, NULL);
    args[4] = i64(A, stride_bytes(c, 1, 4));
    args[5] = ts_intrin_region_address(A, a, NULL);
    args[6] = i64(A, stride_bytes(a, 4, e));
    args[7] = ts_intrin_region_address(A, b, NULL);
    args[8] = i64(A, stride_bytes(b, 4, e));
    args[9] = ts_i32(A, (int32_t)t->s);
    args[10] = i64(A, stride_bytes(a, 3, e));
    args[11] = i64(A, stride_bytes(b, 3, e));
    args[12] = ts_i32(A, accumulate ? 1 : 0);
    args[13] = ts_i32(A, (int32_t)t->r);
    args[14] = i64(A, stride_bytes(a, 2, e));
    args[15] = i64(A, stride_bytes(b, 2, e));
    args[16] = ts_i32(A, (int32_t)t->icb);
    args[17] = i64(A, stride_bytes(a, 1, e));
    args[18] = i64(A, stride_bytes(b, 1, e));
    args[19] = ts_i32(A, (int32_t)t->block_pos);
    args[20] = ts_i32(A, (int32_t)t->block_oc);
    args[21] = i64(A, stride_bytes(c, 2, 4));
    args[22] = i64(A, stride_bytes(b, 0, e));
    return ts_intrin_call(A, t->var->product, 23, args);
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

/* Every accumulator tile of the block zeroed. */
static TsStmt *tile_reset(TsArena *A, const TsIntrin *intrin, const TsIntrinRegion *const *regions,
                          void *user)
{
    const TileShape *t = user;
    const TsIntrinRegion *c = regions[ts_intrin_num_inputs(intrin)];
    TsStmt *zero[MAX_BLOCK * MAX_BLOCK];
    int n = 0;
    for (int64_t p = 0; p < t->block_pos; p++)
        for (int64_t o = 0; o < t->block_oc; o++) {
            int64_t offset = p * ts_intrin_region_stride(c, 0) + o * ts_intrin_region_stride(c, 2);
            TsExpr *args[4] = { ts_i32(A, t->rows), ts_i32(A, OC_BN * 4),
                                ts_intrin_region_address(A, c, ts_i32(A, (int32_t)offset)),
                                i64(A, stride_bytes(c, 1, 4)) };
            zero[n++] = ts_intrin_call(A, "llvm.x86.tilezero.internal", 4, args);
        }
    return ts_intrin_seq(A, n, zero);
}

/* The tile convolution at this instance's shape, in arena. */
static TsStatus declare_intrin(TsArena *A, const TileShape *t, const TsIntrin **out, TsError *err)
{
    const Variant *var = t->var;
    const int64_t group = var->group, depth = t->ic_bn / group;
    const int64_t bp = t->block_pos, bo = t->block_oc;
    char intrin_name[64];
    snprintf(intrin_name, sizeof intrin_name, "%s.%lldx%lldx%lld", var->family,
             (long long)(t->rows * bp), (long long)(OC_BN * bo),
             (long long)(t->icb * t->r * t->s * t->ic_bn));
    TsTensor *ta = ts_placeholder(
        A, "a", 7, (int64_t[]){ bp, t->icb, t->r, t->s, t->rows, depth, group }, var->data);
    TsTensor *tb = ts_placeholder(
        A, "b", 7, (int64_t[]){ bo, t->icb, t->r, t->s, depth, OC_BN, group }, var->weight);
    TsAxis *p = ts_axis(A, "p", bp), *i = ts_axis(A, "i", t->rows);
    TsAxis *o = ts_axis(A, "o", bo), *j = ts_axis(A, "j", OC_BN);
    TsAxis *ic = ts_reduce_axis(A, "ic", t->icb), *kh = ts_reduce_axis(A, "kh", t->r);
    TsAxis *kw = ts_reduce_axis(A, "kw", t->s), *k = ts_reduce_axis(A, "k", depth);
    TsAxis *g = ts_reduce_axis(A, "g", group);
    TsExpr *va = ts_at(A, ta, ts_var(p), ts_var(ic), ts_var(kh), ts_var(kw), ts_var(i), ts_var(k),
                       ts_var(g));
    TsExpr *vb = ts_at(A, tb, ts_var(o), ts_var(ic), ts_var(kh), ts_var(kw), ts_var(k), ts_var(j),
                       ts_var(g));
    TsExpr *prod = ts_mul(A, ts_cast(A, var->acc, va), ts_cast(A, var->acc, vb));
    TsTensor *c = ts_compute(A, "c", 4, (TsAxis *[]){ p, i, o, j },
                             ts_sum(A, prod, 5, (TsAxis *[]){ ic, kh, kw, k, g }, NULL));
    TsStatus st = ts_arena_check(A, err);
    TsIntrin *in = NULL;
    if (st == TS_OK)
        st = ts_intrin_declare(A, intrin_name, c, 2, (TsTensor *[]){ ta, tb }, &in, err);
    const int64_t any = TS_INTRIN_STRIDE_ANY;
    if (st == TS_OK)
        st = ts_intrin_set_strides(in, ta, (int64_t[]){ any, any, any, any, any, group, 1 }, err);
    if (st == TS_OK)
        st = ts_intrin_set_strides(in, tb, (int64_t[]){ any, any, any, any, any, group, 1 }, err);
    if (st == TS_OK)
        st = ts_intrin_set_strides(in, c, (int64_t[]){ any, any, any, 1 }, err);
    for (int f = 0; var->features[f] && st == TS_OK; f++)
        st = ts_intrin_require(in, var->features[f], err);
    if (st == TS_OK)
        st = ts_intrin_set_emitters(in, tile_body, tile_reset, tile_update, (void *)t, err);
    *out = in;
    return st;
}

/* ---- the schedule ---- */

typedef struct ConvKnobs {
    int64_t ic_bn, rows, loop_order, flat, block_pos, block_oc, parallel;
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
    kn->block_pos = sch_tmpl_knob(config, "block_pos", err, &st);
    kn->block_oc = sch_tmpl_knob(config, "block_oc", err, &st);
    kn->parallel = sch_tmpl_knob(config, "parallel", err, &st);
    kn->flat = kn->rows == FLAT && cv->stride == 1;
    bool rows_ok = kn->flat || (kn->rows >= 1 && kn->rows <= MAX_ROWS && cv->ow % kn->rows == 0);
    if (st == TS_OK &&
        (kn->ic_bn < MIN_IC_BN || kn->ic_bn > max_ic_bn(var) || kn->ic_bn % MIN_IC_BN || !rows_ok ||
         (kn->loop_order != 0 && kn->loop_order != 1)))
        st =
            ts_fail(err, TS_EINVAL,
                    "%s: ic_bn %lld must be a multiple of 4 up to %lld, rows %lld a divisor "
                    "of the output width %lld up to 16 (or 0 with stride 1, stride is %lld), "
                    "loop_order %lld 0 or 1",
                    var->name, (long long)kn->ic_bn, (long long)max_ic_bn(var), (long long)kn->rows,
                    (long long)cv->ow, (long long)cv->stride, (long long)kn->loop_order);
    if (kn->flat)
        kn->rows = MAX_ROWS;
    if (st == TS_OK && (kn->block_pos < 1 || kn->block_pos > MAX_BLOCK || kn->block_oc < 1 ||
                        kn->block_oc > MAX_BLOCK || sch_ceil_div(cv->k, OC_BN) % kn->block_oc))
        st = ts_fail(err, TS_EINVAL,
                     "%s: block_pos %lld must be 1 or 2, block_oc %lld 1 or 2 dividing the %lld "
                     "output channel blocks",
                     var->name, (long long)kn->block_pos, (long long)kn->block_oc,
                     (long long)sch_ceil_div(cv->k, OC_BN));
    /* the tiles of one output row that do not pair up are blocks of one */
    if (st == TS_OK && !kn->flat && (cv->ow / kn->rows) % kn->block_pos)
        kn->block_pos = 1;
    return st;
}

/* The region's axes: oc split into blocks of block_oc (co, cm), the tiles' axis into
 * blocks of block_pos tiles of rows (to, tm, ti). */
typedef struct Blocked {
    TsAxis *co, *cm, *to, *tm, *ti;
} Blocked;

static TsStatus split_blocks(TsStage *st, TsAxis *oc, TsAxis *tiles, const ConvKnobs *kn,
                             Blocked *b, TsError *err)
{
    TsAxis *t16;
    TsStatus s = ts_split(st, oc, kn->block_oc, &b->co, &b->cm, err);
    if (s == TS_OK)
        s = ts_split(st, tiles, kn->rows, &t16, &b->ti, err);
    if (s == TS_OK)
        s = ts_split(st, t16, kn->block_pos, &b->to, &b->tm, err);
    return s;
}

/* The loops in order (n, then the outer ones in the knob's order), parallel after n,
 * the region tensorized. */
static TsStatus order_and_tensorize(TsStage *st, TsAxis **order, int num, int num_outer,
                                    const ConvKnobs *kn, const TsIntrin *intrin, TsError *err)
{
    if (kn->loop_order == 1) { /* the tiles outside the output channel blocks */
        TsAxis *co = order[1];
        for (int i = 1; i < num_outer - 1; i++)
            order[i] = order[i + 1];
        order[num_outer - 1] = co;
    }
    TsStatus s = ts_reorder(st, num, order, err);
    if (s == TS_OK && kn->parallel)
        s = ts_parallel(st, order[1], err);
    if (s == TS_OK)
        s = ts_tensorize(st, order[num_outer], intrin, err);
    return s;
}

/* The output: n, oc blocks, oh, ow blocks (or oh, ow blocks, oc blocks), then the
 * tensorized region (ow tiles of the block, ow.inner, oc of the block, ob, ic, kh, kw,
 * ig, g). */
static TsStatus schedule_output(TsSchedule *sch, const ConvTensors *t, const ConvKnobs *kn,
                                const TsIntrin *intrin, TsError *err)
{
    TsStage *st = ts_stage(sch, t->out);
    TsAxis *root[10];
    Blocked b;
    for (int i = 0; i < 10; i++)
        root[i] = ts_stage_root_axis(st, i);
    TsStatus s = split_blocks(st, root[1], root[3], kn, &b, err);
    TsAxis *order[13] = { root[0], b.co,    root[2], b.to,    b.tm,    b.ti,   b.cm,
                          root[4], root[5], root[6], root[7], root[8], root[9] };
    if (s == TS_OK)
        s = order_and_tensorize(st, order, 13, 4, kn, intrin, err);
    if (s == TS_OK && t->pad != t->data)
        s = ts_vectorize(ts_stage(sch, t->pad), ts_stage_root_axis(ts_stage(sch, t->pad), 4), err);
    return s;
}

/* The flat form: n, oc blocks and position blocks in the knob's order, then the
 * tensorized region (position tiles of the block, p.inner, oc of the block, ob, ic, kh,
 * kw, ig, g); the output copies the valid columns of the wide rows, a vector of 16
 * channels at a time. */
static TsStatus schedule_flat(TsSchedule *sch, const ConvTensors *t, const ConvKnobs *kn,
                              const TsIntrin *intrin, TsError *err)
{
    TsStage *st = ts_stage(sch, t->wide);
    TsAxis *root[9];
    Blocked b;
    for (int i = 0; i < 9; i++)
        root[i] = ts_stage_root_axis(st, i);
    TsStatus s = split_blocks(st, root[1], root[2], kn, &b, err);
    TsAxis *order[12] = { root[0], b.co,    b.to,    b.tm,    b.ti,    b.cm,
                          root[3], root[4], root[5], root[6], root[7], root[8] };
    if (s == TS_OK)
        s = order_and_tensorize(st, order, 12, 3, kn, intrin, err);
    TsStage *out = ts_stage(sch, t->out), *pad = ts_stage(sch, t->pad);
    if (s == TS_OK)
        s = ts_vectorize(out, ts_stage_root_axis(out, 4), err);
    if (s == TS_OK)
        s = ts_vectorize(pad, ts_stage_root_axis(pad, 3), err);
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
    Flat flat = flat_extents(&cv, kn.rows * kn.block_pos);
    if (kn.flat)
        flat_expression(arena, var, &cv, kn.ic_bn, &flat, &t);
    else
        conv_expression(arena, var, &cv, kn.ic_bn, &t);
    TileShape *shape = ts_arena_alloc(arena, sizeof *shape);
    if ((st = ts_arena_check(arena, err)) != TS_OK)
        return st;
    *shape = (TileShape){ var,  (int)kn.rows, (int)kn.ic_bn, sch_ceil_div(cv.c, kn.ic_bn),
                          cv.r, cv.s,         kn.block_pos,  kn.block_oc };
    const TsIntrin *intrin;
    st = declare_intrin(arena, shape, &intrin, err);
    TsSchedule *sch = st == TS_OK ? ts_schedule_create(arena, 1, &t.out) : NULL;
    if (st == TS_OK)
        st = ts_arena_check(arena, err);
    if (st == TS_OK)
        st = kn.flat ? schedule_flat(sch, &t, &kn, intrin, err)
                     : schedule_output(sch, &t, &kn, intrin, err);
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
