/* The int8 conv2d template ("conv2d_NCHWc_int8"): uint8 data times int8 weights summed
 * exactly in int32 (ONNX ConvInteger with zero points 0, oneDNN's u8 x s8 -> s32), in the
 * layout of the 4-byte dot-product instructions. Arguments N C H W K R S stride pad, and
 * dtype=int8 (which selects it).
 *
 * Layouts (te/ops/dot_pack.c makes them from NCHW and OIHW; G is group below):
 *   data   [N, ceil(C / ic_bn), H, W, ic_bn]                        uint8
 *   weight [ceil(K / oc_bn), ceil(C / ic_bn), R, S, ic_bn / G, oc_bn, G] int8
 *   output [N, ceil(K / oc_bn), OH, OW, oc_bn]                       int32
 * Channels past C and K are padding: the packed weight is zero there, so whatever the
 * padded data holds adds nothing, and the padded output channels are zero. With G = 4
 * the innermost two weight axes, oc_bn x 4, are what VNNI's vpdpbusd (16 x 4 on
 * AVX-512), an AMX B tile's rows and AArch64's sdot (4 x 4) consume in one instruction.
 * This generic form takes G = 1: with the output channels contiguous, each step loads
 * one vector of weights and widens it (a stride-G load would be a gather; measured on
 * the 64-channel 56x56 layer, G = 4 ran at 13 GOPS where G = 1 ran at 76).
 *
 * The expression, with the input channels as three reduce axes (block, group, lane):
 *     conv[n, oc, oh, ow, ob] = sum over ic, kh, kw, ig, g of
 *         i32(data_pad[n, ic, oh*stride + kh, ow*stride + kw, ig*G + g])
 *           * i32(weight[oc, ic, kh, kw, ig, ob, g])
 *
 * The schedule follows conv2d_NCHWc's (conv2d_nchwc.c): register blocks of reg_n output
 * positions (tile_ow) by oh_bn rows (tile_oh); an accumulator per block, computed at
 * ow.outer, with loops ic, kh, then kw and ig in the order "reduce_order" picks, then
 * the block's positions (unrolled), the group lane g (unrolled) and ob (vectors of int32
 * lanes). It serves every target with integer vectors; the dot-product instructions
 * replace the (ob, g) nest of a G = 4 layout through tensorize.
 *
 * Knobs: ic_bn (multiples of 4 up to 64, no larger than C rounded up to 4), oc_bn (one,
 * two or four vectors of int32), tile_ow, tile_oh, unroll_kw, reduce_order, parallel.
 * The default: ic_bn 16 (or C rounded up to 4 when smaller), oc_bn one vector, the
 * register block of conv2d_NCHWc's rule, kw unrolled.
 *
 * The dot-product variants (VNNI, sdot, smull + sadalp) are register-blocked instead: the
 * block of reg_n output positions by oc_bn channels and its whole reduction (ic, kh, kw,
 * ig, g) are one intrinsic declared at the instance's shape (dot_block.c), whose code
 * keeps the reg_n x oc_bn / lanes accumulators in vector registers from the first
 * product to the store (one-vector intrinsics, called per product on an accumulator in
 * memory, loaded and stored it at every step: VNNI ran at 1.3-1.8x Tessera's fp32, sdot
 * at 0.9x fp32 NEON on llvm-mca's Cortex-A76). Their knobs: ic_bn, block (reg_n x 10 +
 * vectors, see block_choices) and parallel; default: the largest ic_bn, the block with
 * the most accumulator registers up to 24. */
#include <stdio.h>
#include <string.h>

#include "tmpl_internal.h"

#include "tessera/intrin.h"

enum { MIN_IC_BN = 4 };

/* One template of the family. group is G, the input channels one multiply-add step takes
 * per output lane (the innermost axis of the packed weight): 1 for the generic form (a
 * widening multiply and an add per channel, the weight's output channels contiguous), 4
 * for the dot-product instructions. intrin (NULL for the generic form) is the tensor
 * intrinsic (include/tessera/intrin.h) the (ob, g) nest becomes, lanes its output
 * lanes (ob is split by it). types says what is multiplied: uint8 data (x86: vpdpbusd
 * is u8 x s8) or int8 data (AArch64: sdot and smull are s8 x s8) with int8 weights into
 * int32, or bfloat16 data and weights into float32 (vdpbf16ps, G = 2). */
typedef enum VariantTypes { U8_S8_S32, S8_S8_S32, BF16_BF16_F32 } VariantTypes;

typedef struct Variant {
    const char *name;
    int64_t group, lanes;
    VariantTypes types;
    const char *intrin;
    /* The register-blocked form (dot_block.c), NULL for none: the product of codegen's
     * dot_block statement, the features it needs, and the vector registers one
     * accumulator takes (2 for the widening products, which keep two). */
    const char *block_product;
    const char *const *block_features;
    int regs_per_acc;
} Variant;

static const char *const vnni_features[] = { "avx512vnni", NULL };
static const char *const sdot_features[] = { "neon", "dotprod", NULL };
static const char *const smlal_features[] = { "neon", NULL };
static const char *const bf16_features[] = { "avx512bf16", NULL };

static const Variant generic = { "conv2d_NCHWc_int8", 1, 0, U8_S8_S32, NULL, NULL, NULL, 0 };
static const Variant vnni = { "conv2d_NCHWc_int8_vnni", 4, 16, U8_S8_S32, "x86.vnni.u8s8.16x4",
                              "vpdpbusd", vnni_features, 1 };
static const Variant sdot = { "conv2d_NCHWc_int8_sdot", 4, 4, S8_S8_S32, "aarch64.sdot.s8.4x4",
                              "sdot", sdot_features, 1 };
static const Variant smlal = { "conv2d_NCHWc_int8_smlal", 4, 4, S8_S8_S32, "aarch64.smull.s8.4x4",
                               "smull", smlal_features, 2 };
static const Variant bf16 = { "conv2d_NCHWc_bf16_avx512", 2, 16, BF16_BF16_F32,
                              "x86.avx512bf16.f32.16x2", NULL, NULL, 0 };

/* The dtypes of the data, the weight and the output of a variant. */
static void variant_dtypes(const Variant *var, TsDType *data, TsDType *weight, TsDType *out)
{
    switch (var->types) {
    case U8_S8_S32:
    case S8_S8_S32:
        *data = var->types == U8_S8_S32 ? TS_UINT8 : TS_INT8;
        *weight = TS_INT8;
        *out = TS_INT32;
        return;
    case BF16_BF16_F32:
        *data = *weight = TS_BFLOAT16;
        *out = TS_FLOAT32;
        return;
    }
}

/* The "dtype" argument that selects a variant. */
static TsDType served_dtype(const Variant *var)
{
    return var->types == BF16_BF16_F32 ? TS_BFLOAT16 : TS_INT8;
}

static const char *const arg_names[] = { "N", "C", "H", "W", "K", "R", "S", "stride", "pad", NULL };
static const char *const dtypes[] = { "int8", NULL };
static const char *const bf16_dtypes[] = { "bfloat16", NULL };

typedef struct Conv {
    int64_t n, c, h, w, k, r, s, stride, pad, oh, ow;
} Conv;

static TsStatus check_dtype(const Variant *var, const TsTemplateArgs *args, TsError *err)
{
    TsDType dtype;
    char name[TS_DTYPE_STR_MAX], served[TS_DTYPE_STR_MAX];
    ts_dtype_str(served_dtype(var), served);
    if (ts_template_args_get_dtype(args, "dtype", &dtype, NULL) != TS_OK)
        return ts_fail(err, TS_EINVAL, "%s: argument dtype=%s is missing", var->name, served);
    if (!ts_dtype_eq(dtype, served_dtype(var)))
        return ts_fail(err, TS_EINVAL, "%s: dtype %s is not served (%s only)", var->name,
                       ts_dtype_str(dtype, name), served);
    return TS_OK;
}

/* The intrinsic of a variant that has one, registered (the built-ins always are). */
static TsStatus check_intrin(const Variant *var, TsError *err)
{
    if (var->intrin && !ts_intrin_lookup(var->intrin))
        return ts_fail(err, TS_EINVAL, "%s: the tensor intrinsic %s is not registered", var->name,
                       var->intrin);
    return TS_OK;
}

static TsStatus read_conv(const Variant *var, const TsTemplateArgs *args,
                          const TsTemplateTarget *target, Conv *cv, TsError *err)
{
    static const int64_t min[] = { 1, 1, 1, 1, 1, 1, 1, 1, 0 };
    int64_t v[9] = { 0 };
    TsStatus st = sch_tmpl_read_args(var->name, args, arg_names, min, v, err);
    if (st == TS_OK)
        st = sch_tmpl_check_target(var->name, target, err);
    if (st == TS_OK)
        st = check_dtype(var, args, err);
    if (st == TS_OK)
        st = check_intrin(var, err);
    if (st != TS_OK)
        return st;
    *cv = (Conv){ v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], 0, 0 };
    return sch_window_extents(var->name, "kernel", cv->h, cv->w, cv->r, cv->s, cv->stride, cv->pad,
                              &cv->oh, &cv->ow, err);
}

/* The output channels one step of the inner nest covers: the intrinsic's lanes, or one
 * vector of int32 of the target. */
static int64_t step_lanes(const Variant *var, const TsTemplateTarget *target)
{
    return var->lanes ? var->lanes : sch_tmpl_lanes(target);
}

/* ---- the space ---- */

static const int64_t reg_ns[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 14, 16, 28 };

/* ic_bn: 4, 8, 16, 32, 64, those no larger than C rounded up to 4 (at least 4). */
static int input_blocks(int64_t c, int64_t *out)
{
    int n = 0;
    int64_t most = sch_ceil_div(c, MIN_IC_BN) * MIN_IC_BN;
    for (int64_t b = MIN_IC_BN; b <= 64 && (b <= most || n == 0); b *= 2)
        out[n++] = b;
    return n;
}

static TsStatus define_blocks(const Variant *var, const Conv *cv, const TsTemplateTarget *target,
                              TsConfigSpace *space, TsError *err)
{
    int64_t ic[8], lanes = step_lanes(var, target);
    int n = input_blocks(cv->c, ic);
    const int64_t oc[] = { lanes, 2 * lanes, 4 * lanes };
    TsStatus st = ts_space_define_knob(space, "ic_bn", n, ic, err);
    if (st == TS_OK)
        st = ts_space_define_knob(space, "oc_bn", 3, oc, err);
    return st;
}

static TsStatus define_register_block(const Conv *cv, TsConfigSpace *space, TsError *err)
{
    int64_t rows[2 * 16];
    int n = 0;
    for (size_t i = 0; i < sizeof reg_ns / sizeof reg_ns[0]; i++) {
        if (reg_ns[i] > cv->ow && i > 0)
            break;
        rows[2 * n] = -1;
        rows[2 * n + 1] = reg_ns[i];
        n++;
    }
    TsSplitOptions opt = {
        .policy = TS_SPLIT_CANDIDATES, .num_outputs = 2, .candidates = rows, .num_candidates = n
    };
    TsStatus st = ts_space_define_split(space, "tile_ow", cv->ow, &opt, err);
    TsSplitOptions oh_opt = { .policy = TS_SPLIT_POWER2, .num_outputs = 2, .max_factor = 2 };
    if (st == TS_OK)
        st = ts_space_define_split(space, "tile_oh", cv->oh, &oh_opt, err);
    return st;
}

/* ---- the register-blocked space (variants with a block_product) ----
 *
 * One knob, "block", says the block: rows output positions (a divisor of the output
 * width, at most 28, so that no block has a tail) by vecs vectors of output channels
 * (1, 2 or 4; oc_bn = vecs x lanes), written rows x 10 + vecs (142: 14 positions by 2
 * vectors), only those whose accumulators, weight vectors and data registers fit the
 * 32 vector registers. */

enum { MAX_BLOCK_ROWS = 28, MAX_BLOCKS = 64, VECTOR_REGISTERS = 32 };

static bool block_fits(const Variant *var, int64_t rows, int64_t vecs)
{
    int64_t r = var->regs_per_acc; /* 2: also two products in flight per weight vector */
    return rows * vecs * r + vecs * r + 2 * r <= VECTOR_REGISTERS;
}

static int block_choices(const Variant *var, const Conv *cv, int64_t *out)
{
    static const int64_t vecs[] = { 1, 2, 4 };
    int n = 0;
    for (int64_t rows = 1; rows <= MAX_BLOCK_ROWS && rows <= cv->ow; rows++)
        for (int v = 0; v < 3 && cv->ow % rows == 0; v++)
            if (block_fits(var, rows, vecs[v]) && n < MAX_BLOCKS)
                out[n++] = rows * 10 + vecs[v];
    return n;
}

static TsStatus block_define_space(const Variant *var, const Conv *cv,
                                   const TsTemplateTarget *target, TsConfigSpace *space,
                                   TsError *err)
{
    int64_t ic[8], blocks[MAX_BLOCKS];
    static const int64_t on_off[] = { 0, 1 };
    TsStatus st = ts_space_define_knob(space, "ic_bn", input_blocks(cv->c, ic), ic, err);
    if (st == TS_OK)
        st = ts_space_define_knob(space, "block", block_choices(var, cv, blocks), blocks, err);
    if (st == TS_OK)
        st = ts_space_define_knob(space, "parallel", target->num_cores > 1 ? 2 : 1, on_off, err);
    return st;
}

/* The default block: the most accumulator registers up to 24 (no more vectors than the output
 * channels fill), more vectors first (fewer broadcasts per product); ic_bn the largest
 * up to 64, the reduction's innermost loop as long as it can be. */
static TsStatus block_default_config(const Variant *var, const Conv *cv,
                                     const TsTemplateTarget *target, const TsConfigSpace *space,
                                     TsConfig *out, TsError *err)
{
    int64_t ic[8], blocks[MAX_BLOCKS], best = -1;
    int num_ic = input_blocks(cv->c, ic), n = block_choices(var, cv, blocks);
    int64_t max_vecs = sch_ceil_div(cv->k, var->lanes);
    for (int i = 0; i < n; i++) {
        int64_t rows = blocks[i] / 10, vecs = blocks[i] % 10;
        if (rows * vecs * var->regs_per_acc > 24 || (vecs > max_vecs && vecs > 1))
            continue;
        int64_t acc = rows * vecs, best_acc = (best / 10) * (best % 10);
        if (best < 0 || acc > best_acc || (acc == best_acc && vecs > best % 10))
            best = blocks[i];
    }
    sch_tmpl_config_init(space, out);
    TsStatus st = sch_tmpl_want_knob(out, "ic_bn", ic[num_ic - 1], err);
    if (st == TS_OK)
        st = sch_tmpl_want_knob(out, "block", best < 0 ? blocks[0] : best, err);
    if (st == TS_OK)
        st = sch_tmpl_want_knob(out, "parallel", target->num_cores > 1, err);
    if (st == TS_OK)
        st = sch_tmpl_config_finish(out, err);
    return st;
}

static TsStatus conv_define_space(const Variant *var, const TsTemplateArgs *args,
                                  const TsTemplateTarget *target, TsConfigSpace *space,
                                  TsError *err)
{
    Conv cv;
    TsStatus st = read_conv(var, args, target, &cv, err);
    if (st == TS_OK && var->block_product)
        return block_define_space(var, &cv, target, space, err);
    if (st == TS_OK)
        st = define_blocks(var, &cv, target, space, err);
    if (st == TS_OK)
        st = define_register_block(&cv, space, err);
    static const int64_t on_off[] = { 0, 1 };
    if (st == TS_OK)
        st = ts_space_define_knob(space, "unroll_kw", 2, on_off, err);
    /* The inner reduction loops: 0 = ig, 1 = kw. */
    static const int orders[] = { 0, 1, 1, 0 };
    if (st == TS_OK)
        st = ts_space_define_reorder(space, "reduce_order", 2, 2, orders, err);
    if (st == TS_OK)
        st = ts_space_define_knob(space, "parallel", target->num_cores > 1 ? 2 : 1, on_off, err);
    return st;
}

/* A register block of at most max output positions, preferring one that divides the
 * row (no tail) down to max / 2. */
static int64_t register_block(int64_t ow, int64_t max)
{
    if (ow <= max)
        return ow;
    for (int64_t r = max; r >= (max + 1) / 2; r--)
        if (ow % r == 0)
            return r;
    return max;
}

/* As conv2d_NCHWc's rule, with the accumulators int32 vectors: up to 8 positions of one
 * vector each on AVX-512 (the data broadcasts and the widened weights take the other
 * registers), 6 on AVX2, 12 on NEON; ic_bn 16. */
static TsStatus conv_default_config(const Variant *var, const TsTemplateArgs *args,
                                    const TsTemplateTarget *target, const TsConfigSpace *space,
                                    TsConfig *out, TsError *err)
{
    Conv cv;
    TsStatus st = read_conv(var, args, target, &cv, err);
    if (st != TS_OK)
        return st;
    if (var->block_product)
        return block_default_config(var, &cv, target, space, out, err);
    int64_t max = target->vector_bits == 512 ? 8 : sch_tmpl_registers(target) == 16 ? 6 : 12;
    int64_t ow[] = { register_block(cv.ow, max) }, oh[] = { 1 };
    sch_tmpl_config_init(space, out);
    st = sch_tmpl_want_knob(out, "ic_bn", 16, err);
    if (st == TS_OK)
        st = sch_tmpl_want_knob(out, "oc_bn", sch_tmpl_lanes(target), err);
    if (st == TS_OK)
        st = sch_tmpl_want_split(out, "tile_ow", ow, 1, err);
    if (st == TS_OK)
        st = sch_tmpl_want_split(out, "tile_oh", oh, 1, err);
    if (st == TS_OK)
        st = sch_tmpl_want_knob(out, "unroll_kw", 1, err);
    if (st == TS_OK)
        st = sch_tmpl_want_knob(out, "parallel", target->num_cores > 1, err);
    if (st == TS_OK)
        st = sch_tmpl_config_finish(out, err);
    return st;
}

/* ---- the expression ---- */

typedef struct ConvTensors {
    TsTensor *data, *weight, *pad, *out;
} ConvTensors;

static void conv_expression(TsArena *A, const Variant *var, const Conv *cv, int64_t ic_bn,
                            int64_t oc_bn, ConvTensors *t)
{
    const int64_t group = var->group;
    TsDType data_dt, weight_dt, acc_dt;
    variant_dtypes(var, &data_dt, &weight_dt, &acc_dt);
    int64_t icb = sch_ceil_div(cv->c, ic_bn), ocb = sch_ceil_div(cv->k, oc_bn);
    t->data = ts_placeholder(A, "data", 5, (int64_t[]){ cv->n, icb, cv->h, cv->w, ic_bn }, data_dt);
    t->weight = ts_placeholder(A, "weight", 7,
                               (int64_t[]){ ocb, icb, cv->r, cv->s, ic_bn / group, oc_bn, group },
                               weight_dt);
    t->pad = sch_nchwc_pad(A, t->data, cv->pad);
    TsAxis *n = ts_axis(A, "n", cv->n), *oc = ts_axis(A, "oc", ocb);
    TsAxis *oh = ts_axis(A, "oh", cv->oh), *ow = ts_axis(A, "ow", cv->ow);
    TsAxis *ob = ts_axis(A, "ob", oc_bn);
    TsAxis *ic = ts_reduce_axis(A, "ic", icb), *kh = ts_reduce_axis(A, "kh", cv->r);
    TsAxis *kw = ts_reduce_axis(A, "kw", cv->s), *ig = ts_reduce_axis(A, "ig", ic_bn / group);
    TsAxis *g = ts_reduce_axis(A, "g", group);
    TsExpr *y = ts_add(A, ts_mul(A, ts_var(oh), ts_i32(A, cv->stride)), ts_var(kh));
    TsExpr *x = ts_add(A, ts_mul(A, ts_var(ow), ts_i32(A, cv->stride)), ts_var(kw));
    TsExpr *lane = ts_add(A, ts_mul(A, ts_var(ig), ts_i32(A, group)), ts_var(g));
    TsExpr *in = ts_at(A, t->pad, ts_var(n), ts_var(ic), y, x, lane);
    TsExpr *w = ts_at(A, t->weight, ts_var(oc), ts_var(ic), ts_var(kh), ts_var(kw), ts_var(ig),
                      ts_var(ob), ts_var(g));
    TsExpr *prod = ts_mul(A, ts_cast(A, acc_dt, in), ts_cast(A, acc_dt, w));
    t->out = ts_compute_tagged(A, "conv2d_NCHWc_int8", "conv2d_NCHWc_int8", 5,
                               (TsAxis *[]){ n, oc, oh, ow, ob },
                               ts_sum(A, prod, 5, (TsAxis *[]){ ic, kh, kw, ig, g }, NULL));
}

/* ---- the schedule ---- */

typedef struct ConvKnobs {
    int64_t ic_bn, oc_bn, reg_n, oh_bn, unroll_kw, parallel;
    int reduce_order[2];
} ConvKnobs;

/* The register-blocked variants' knobs: block gives reg_n (its rows) and oc_bn. */
static TsStatus read_block_knobs(const Variant *var, const TsConfig *config, ConvKnobs *kn,
                                 TsError *err)
{
    TsStatus st = TS_OK;
    kn->ic_bn = sch_tmpl_knob(config, "ic_bn", err, &st);
    int64_t block = sch_tmpl_knob(config, "block", err, &st);
    kn->parallel = sch_tmpl_knob(config, "parallel", err, &st);
    kn->reg_n = block / 10;
    kn->oc_bn = (block % 10) * var->lanes;
    kn->oh_bn = 1;
    kn->unroll_kw = 0;
    return st;
}

static TsStatus read_knobs(const Variant *var, const TsConfig *config, ConvKnobs *kn,
                           TsError *err)
{
    int64_t f[TS_KNOB_MAX_OUTPUTS] = { 0 };
    int n, m;
    TsStatus st = TS_OK;
    if (var->block_product)
        return read_block_knobs(var, config, kn, err);
    kn->ic_bn = sch_tmpl_knob(config, "ic_bn", err, &st);
    kn->oc_bn = sch_tmpl_knob(config, "oc_bn", err, &st);
    if (st == TS_OK)
        st = ts_config_split(config, "tile_ow", f, TS_KNOB_MAX_OUTPUTS, &n, err);
    kn->reg_n = f[1];
    if (st == TS_OK)
        st = ts_config_split(config, "tile_oh", f, TS_KNOB_MAX_OUTPUTS, &n, err);
    kn->oh_bn = f[1];
    if (st == TS_OK)
        st = ts_config_reorder(config, "reduce_order", kn->reduce_order, 2, &m, err);
    kn->unroll_kw = sch_tmpl_knob(config, "unroll_kw", err, &st);
    kn->parallel = sch_tmpl_knob(config, "parallel", err, &st);
    return st;
}

/* The innermost loops of the accumulator: g unrolled and ob vectorized (the generic
 * form), or ob split by the intrinsic's lanes, the outer part unrolled and the inner
 * (ob.inner, g) nest tensorized. Writes the loops in order into order, their count in *n. */
static TsStatus schedule_inner(const Variant *var, TsStage *st, TsAxis *ob, TsAxis *g,
                               TsAxis **order, int *n, TsError *err)
{
    if (!var->intrin) {
        order[0] = g;
        order[1] = ob;
        *n = 2;
        TsStatus s = ts_unroll(st, g, err);
        return s == TS_OK ? ts_vectorize(st, ob, err) : s;
    }
    TsAxis *obo, *obi;
    TsStatus s = ts_split(st, ob, var->lanes, &obo, &obi, err);
    order[0] = obo;
    order[1] = obi;
    order[2] = g;
    *n = 3;
    return s == TS_OK ? ts_unroll(st, obo, err) : s;
}

/* The register-blocked accumulator: n, oc, oh, ow.outer, then ow.inner (the block's
 * positions), ob and the whole reduction (ic, kh, kw, ig, g) as one intrinsic at this
 * shape (dot_block.c). */
static TsStatus schedule_block(const Variant *var, const Conv *cv, TsArena *arena, TsSchedule *sch,
                               TsTensor *acc, const ConvKnobs *kn, TsError *err)
{
    TsDType data, weight, out;
    variant_dtypes(var, &data, &weight, &out);
    SchDotBlock shape = { var->block_product,
                          data,
                          weight,
                          (int)var->lanes,
                          (int)kn->reg_n,
                          (int)kn->oc_bn,
                          sch_ceil_div(cv->c, kn->ic_bn),
                          cv->r,
                          cv->s,
                          kn->ic_bn / var->group,
                          var->block_features };
    const TsIntrin *intrin;
    TsStatus s = sch_dot_block_declare(arena, &shape, &intrin, err);
    TsStage *st = ts_stage(sch, acc);
    TsAxis *root[10], *owo, *owi;
    for (int i = 0; i < 10; i++)
        root[i] = ts_stage_root_axis(st, i);
    if (s == TS_OK)
        s = ts_split(st, root[3], kn->reg_n, &owo, &owi, err);
    TsAxis *order[11] = { root[0], root[1], root[2], owo,     owi,    root[4],
                          root[5], root[6], root[7], root[8], root[9] };
    if (s == TS_OK)
        s = ts_reorder(st, 11, order, err);
    if (s == TS_OK)
        s = ts_tensorize(st, owi, intrin, err);
    return s;
}

/* The accumulator: block loops, ic, kh, (ig, kw), oh.inner, ow.inner, then the loops of
 * schedule_inner; the tensorized nest last, once the order is set. */
static TsStatus schedule_accumulator(const Variant *var, TsSchedule *sch, TsTensor *acc,
                                     const ConvKnobs *kn, TsError *err)
{
    TsStage *st = ts_stage(sch, acc);
    TsAxis *root[10];
    for (int i = 0; i < 10; i++)
        root[i] = ts_stage_root_axis(st, i);
    /* n oc oh ow ob | ic kh kw ig g */
    TsAxis *oho, *ohi, *owo, *owi;
    TsStatus s = ts_split(st, root[2], kn->oh_bn, &oho, &ohi, err);
    if (s == TS_OK)
        s = ts_split(st, root[3], kn->reg_n, &owo, &owi, err);
    TsAxis *inner[2] = { root[8], root[7] };
    TsAxis *order[13] = { root[0],
                          root[1],
                          oho,
                          owo,
                          root[5],
                          root[6],
                          inner[kn->reduce_order[0]],
                          inner[kn->reduce_order[1]],
                          ohi,
                          owi };
    int n = 0;
    if (s == TS_OK)
        s = schedule_inner(var, st, root[4], root[9], order + 10, &n, err);
    if (s == TS_OK)
        s = ts_reorder(st, 10 + n, order, err);
    if (s == TS_OK && kn->unroll_kw)
        s = ts_unroll(st, root[7], err);
    if (s == TS_OK && kn->oh_bn > 1)
        s = ts_unroll(st, ohi, err);
    if (s == TS_OK)
        s = ts_unroll(st, owi, err);
    if (s == TS_OK && var->intrin)
        s = ts_tensorize(st, order[11], ts_intrin_lookup(var->intrin), err);
    return s;
}

static TsStatus schedule_padding(TsSchedule *sch, const ConvTensors *t, const ConvKnobs *kn,
                                 TsError *err)
{
    if (t->pad == t->data)
        return TS_OK;
    TsStage *st = ts_stage(sch, t->pad);
    TsStatus s = ts_vectorize(st, ts_stage_root_axis(st, 4), err);
    if (s == TS_OK && kn->parallel) {
        TsAxis *fused;
        s = ts_fuse(st, ts_stage_root_axis(st, 0), ts_stage_root_axis(st, 1), &fused, err);
        if (s == TS_OK)
            s = ts_parallel(st, fused, err);
    }
    return s;
}

static TsStatus conv_prepare(const Variant *var, const TsTemplateArgs *args,
                             const TsTemplateTarget *target, const TsConfig *config, Conv *cv,
                             ConvKnobs *kn, TsError *err)
{
    TsStatus st = read_conv(var, args, target, cv, err);
    if (st == TS_OK)
        st = read_knobs(var, config, kn, err);
    int64_t lanes = step_lanes(var, target);
    if (st == TS_OK && (kn->ic_bn < MIN_IC_BN || kn->ic_bn % MIN_IC_BN || kn->ic_bn % var->group ||
                        kn->oc_bn < lanes || kn->oc_bn % lanes))
        st = ts_fail(err, TS_EINVAL,
                     "%s: ic_bn %lld must be a multiple of %d and of %lld, oc_bn %lld one "
                     "of %lld",
                     var->name, (long long)kn->ic_bn, MIN_IC_BN, (long long)var->group,
                     (long long)kn->oc_bn, (long long)lanes);
    if (st == TS_OK && var->block_product &&
        (kn->reg_n < 1 || cv->ow % kn->reg_n || !block_fits(var, kn->reg_n, kn->oc_bn / lanes)))
        st = ts_fail(err, TS_EINVAL,
                     "%s: a block of %lld positions by %lld vectors must divide the output width "
                     "%lld and fit the vector registers",
                     var->name, (long long)kn->reg_n, (long long)(kn->oc_bn / lanes),
                     (long long)cv->ow);
    return st;
}

/* The schedule of t->out computed into itself or, with a DAG, into its last fused
 * consumer: the accumulator at the register block, the chain inlined into its store. */
static TsStatus schedule_conv(const Variant *var, const Conv *cv, TsArena *arena, const ConvKnobs *kn,
                              const ConvTensors *t, const TsTemplateDag *dag, TsSchedule **sch,
                              TsTensor **final, TsError *err)
{
    TsTensor *acc;
    TsStatus st = sch_dag_begin(arena, dag, t->out, sch, final, err);
    if (st == TS_OK)
        st = ts_cache_write(*sch, t->out, &acc, err);
    if (st == TS_OK && *final != t->out)
        st = ts_compute_inline(ts_stage(*sch, t->out), err);
    if (st == TS_OK)
        st = sch_schedule_conv_output(*sch, *final, acc, kn->oh_bn, kn->reg_n, kn->parallel != 0,
                                          err);
    if (st == TS_OK)
        st = var->block_product ? schedule_block(var, cv, arena, *sch, acc, kn, err)
                                : schedule_accumulator(var, *sch, acc, kn, err);
    if (st == TS_OK)
        st = schedule_padding(*sch, t, kn, err);
    return st;
}

static TsStatus conv_instantiate(const Variant *var, const TsTemplateArgs *args,
                                 const TsTemplateTarget *target, const TsConfig *config,
                                 TsArena *arena, TsTemplateInstance *out, TsError *err)
{
    Conv cv;
    ConvKnobs kn;
    TsStatus st = conv_prepare(var, args, target, config, &cv, &kn, err);
    if (st != TS_OK)
        return st;
    ConvTensors t;
    conv_expression(arena, var, &cv, kn.ic_bn, kn.oc_bn, &t);
    if ((st = ts_arena_check(arena, err)) != TS_OK)
        return st;
    TsSchedule *sch;
    TsTensor *final;
    st = schedule_conv(var, &cv, arena, &kn, &t, NULL, &sch, &final, err);
    if (st != TS_OK)
        return st;
    *out = (TsTemplateInstance){
        .sch = sch, .num_tensors = 3, .num_outputs = 1, .tensors = { t.data, t.weight, t.out }
    };
    return TS_OK;
}

/* The DAG's operator is an instance's output: the conv2d_NCHWc_int8 stage, reading the
 * padding stage (or the data) and the weight. */
static TsStatus conv_schedule_dag(const Variant *var, const TsTemplateArgs *args,
                                  const TsTemplateTarget *target, const TsConfig *config,
                                  TsArena *arena, const TsTemplateDag *dag,
                                  TsTemplateInstance *inst, TsError *err)
{
    Conv cv;
    ConvKnobs kn;
    TsStatus st = conv_prepare(var, args, target, config, &cv, &kn, err);
    if (st != TS_OK)
        return st;
    ConvTensors t = { .data = inst->tensors[0],
                      .weight = inst->tensors[1],
                      .out = inst->tensors[inst->num_tensors - 1] };
    t.pad = t.data;
    for (int i = 0; i < ts_tensor_num_inputs(t.out); i++)
        if (strcmp(ts_tensor_tag(ts_tensor_input(t.out, i)), "pad") == 0)
            t.pad = ts_tensor_input(t.out, i);
    if (strcmp(ts_tensor_tag(t.out), "conv2d_NCHWc_int8") != 0 || inst->num_tensors != 3 ||
        ts_tensor_dim(t.out, 4) != kn.oc_bn || ts_tensor_dim(t.data, 4) != kn.ic_bn)
        return ts_fail(err, TS_EINVAL,
                       "%s: the DAG's operator %s is not the output of a conv2d_NCHWc_int8 "
                       "instance for this config",
                       var->name, ts_tensor_name(t.out));
    TsSchedule *sch;
    TsTensor *final;
    st = schedule_conv(var, &cv, arena, &kn, &t, dag, &sch, &final, err);
    if (st == TS_OK)
        sch_dag_finish(dag, sch, final, inst);
    return st;
}

/* Multiply-adds times two, over the real channels (not the padding): the figure that
 * compares with other libraries' GOPS. */
static double conv_flop(const TsTemplateArgs *args)
{
    Conv cv;
    int64_t v[9] = { 0 };
    static const int64_t min[] = { 1, 1, 1, 1, 1, 1, 1, 1, 0 };
    if (sch_tmpl_read_args("conv2d", args, arg_names, min, v, NULL) != TS_OK ||
        sch_window_extents("conv2d", "kernel", v[2], v[3], v[5], v[6], v[7], v[8], &cv.oh, &cv.ow,
                           NULL) != TS_OK)
        return 0;
    cv = (Conv){ v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], cv.oh, cv.ow };
    return 2.0 * (double)cv.n * (double)cv.k * (double)cv.oh * (double)cv.ow * (double)cv.c *
           (double)cv.r * (double)cv.s;
}

/* ---- the templates: one per variant ---- */

/* The functions of variant V's template, whose function pointers take no variant: four
 * one-line forwarders per variant, written out by this macro rather than by hand. */
#define VARIANT_FUNCTIONS(V)                                                                       \
    static TsStatus V##_define_space(const TsTemplateArgs *args, const TsTemplateTarget *target,   \
                                     TsConfigSpace *space, TsError *err)                           \
    {                                                                                              \
        return conv_define_space(&V, args, target, space, err);                                    \
    }                                                                                              \
    static TsStatus V##_default_config(const TsTemplateArgs *args, const TsTemplateTarget *target, \
                                       const TsConfigSpace *space, TsConfig *out, TsError *err)    \
    {                                                                                              \
        return conv_default_config(&V, args, target, space, out, err);                             \
    }                                                                                              \
    static TsStatus V##_instantiate(const TsTemplateArgs *args, const TsTemplateTarget *target,    \
                                    const TsConfig *config, TsArena *arena,                        \
                                    TsTemplateInstance *out, TsError *err)                         \
    {                                                                                              \
        return conv_instantiate(&V, args, target, config, arena, out, err);                        \
    }                                                                                              \
    static TsStatus V##_schedule_dag(                                                              \
        const TsTemplateArgs *args, const TsTemplateTarget *target, const TsConfig *config,        \
        TsArena *arena, const TsTemplateDag *dag, TsTemplateInstance *inst, TsError *err)          \
    {                                                                                              \
        return conv_schedule_dag(&V, args, target, config, arena, dag, inst, err);                 \
    }

VARIANT_FUNCTIONS(generic)
VARIANT_FUNCTIONS(vnni)
VARIANT_FUNCTIONS(sdot)
VARIANT_FUNCTIONS(smlal)
VARIANT_FUNCTIONS(bf16)

const TsTemplate sch_template_conv2d_int8 = {
    .name = "conv2d_NCHWc_int8",
    .op = "conv2d",
    .summary = "int8 conv2d (uint8 data x int8 weights -> int32) on NCHW[x]c data and "
               "OIHW[x]i[y]o weights; any x86-64 or AArch64 target, generic integer vectors",
    .dtypes = dtypes,
    .arg_names = arg_names,
    .define_space = generic_define_space,
    .default_config = generic_default_config,
    .instantiate = generic_instantiate,
    .flop = conv_flop,
    .schedule_dag = generic_schedule_dag,
};

const TsTemplate sch_template_conv2d_int8_vnni = {
    .name = "conv2d_NCHWc_int8_vnni",
    .op = "conv2d",
    .summary = "int8 conv2d (uint8 x int8 -> int32), weights in groups of 4 input channels, "
               "the inner 16 x 4 nest as AVX512-VNNI vpdpbusd",
    .dtypes = dtypes,
    .features = vnni_features,
    .priority = 10,
    .arg_names = arg_names,
    .define_space = vnni_define_space,
    .default_config = vnni_default_config,
    .instantiate = vnni_instantiate,
    .flop = conv_flop,
    .schedule_dag = vnni_schedule_dag,
};

const TsTemplate sch_template_conv2d_int8_sdot = {
    .name = "conv2d_NCHWc_int8_sdot",
    .op = "conv2d",
    .summary = "int8 conv2d (int8 x int8 -> int32), weights in groups of 4 input channels, "
               "the inner 4 x 4 nest as AArch64 sdot (dotprod)",
    .dtypes = dtypes,
    .features = sdot_features,
    .priority = 10,
    .arg_names = arg_names,
    .define_space = sdot_define_space,
    .default_config = sdot_default_config,
    .instantiate = sdot_instantiate,
    .flop = conv_flop,
    .schedule_dag = sdot_schedule_dag,
};

const TsTemplate sch_template_conv2d_int8_smlal = {
    .name = "conv2d_NCHWc_int8_smlal",
    .op = "conv2d",
    .summary = "int8 conv2d (int8 x int8 -> int32), weights in groups of 4 input channels, "
               "the inner 4 x 4 nest as AArch64 smull + sadalp (NEON without dotprod)",
    .dtypes = dtypes,
    .features = smlal_features,
    .priority = 5,
    .arg_names = arg_names,
    .define_space = smlal_define_space,
    .default_config = smlal_default_config,
    .instantiate = smlal_instantiate,
    .flop = conv_flop,
    .schedule_dag = smlal_schedule_dag,
};

const TsTemplate sch_template_conv2d_bf16 = {
    .name = "conv2d_NCHWc_bf16_avx512",
    .op = "conv2d",
    .summary = "bfloat16 conv2d (bf16 x bf16 -> float32), weights in pairs of input channels, "
               "the inner 16 x 2 nest as AVX512-BF16 vdpbf16ps",
    .dtypes = bf16_dtypes,
    .features = bf16_features,
    .priority = 10,
    .arg_names = arg_names,
    .define_space = bf16_define_space,
    .default_config = bf16_default_config,
    .instantiate = bf16_instantiate,
    .flop = conv_flop,
    .schedule_dag = bf16_schedule_dag,
};
