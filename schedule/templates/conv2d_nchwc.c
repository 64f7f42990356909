/* The conv2d template ("conv2d_NCHWc"): float32 2-D convolution in the blocked-channel
 * layout, as TVM's x86 conv2d_NCHWc. Arguments N C H W (input), K (output channels),
 * R S (kernel height and width), stride, pad (the same on every side).
 *
 * Layouts. The kernel takes its data already in NCHW[ic_bn]c, [N, C/ic_bn, H, W, ic_bn],
 * its weight pre-packed as OIHW[ic_bn]i[oc_bn]o, [K/oc_bn, C/ic_bn, R, S, ic_bn, oc_bn],
 * and writes NCHW[oc_bn]c, [N, K/oc_bn, OH, OW, oc_bn]. As in TVM, the weight transform
 * is done once when a model is built, and the data stays blocked from layer to layer;
 * the transforms are not part of this kernel. They are the operators of te/ops
 * (ts_op_nchwc_pack, ts_op_nchwc_pack_weight, ts_op_nchwc_unpack), through which the
 * tests check this kernel against ts_op_conv2d in NCHW. The knobs ic_bn and oc_bn
 * change the kernel's argument shapes (the instance reports them).
 *
 * The expression: data_pad (zero padding, its own stage when pad > 0), then
 *     conv[n, oc, oh, ow, ob] = sum over ic, kh, kw, ib of
 *         data_pad[n, ic, oh*stride + kh, ow*stride + kw, ib] * weight[oc, ic, kh, kw, ib, ob]
 * with the input channels as two reduce axes (block and lane), so no index divides.
 *
 * The schedule:
 * - conv's output row is split into register blocks of reg_n positions (tile_ow) and
 *   its rows into oh_bn rows (tile_oh); the loops are n, oc, oh.outer, ow.outer,
 *   oh.inner, ow.inner, ob, with ob vectorized (oc_bn / lanes vectors) and the register
 *   block unrolled.
 * - cache_write gives the accumulator conv.local, oh_bn x reg_n x oc_bn, computed at
 *   ow.outer; its loops are the register block's outer loops, the reduction (ic, kh,
 *   then ib and kw in the order "reduce_order" picks), then oh.inner, ow.inner
 *   (unrolled) and ob (vectors): each step loads oc_bn / lanes vectors of weight and
 *   broadcasts oh_bn * reg_n inputs into as many multiply-adds per vector; kw is
 *   unrolled when "unroll_kw" says so.
 * - data_pad is computed first, its channel lane vectorized.
 * - "parallel" (offered with more than one core) runs n x oc on the thread pool.
 * A reg_n or oh_bn that does not divide the output leaves a guarded tail.
 *
 * Over a given DAG (schedule_dag), the register-block schedule is that of the last fused
 * consumer (bias add, ReLU, ...): the consumers and the copy out of the accumulator are
 * inlined, so the chain is applied to the accumulator's registers as the block is
 * stored. */
#include <stdio.h>
#include <string.h>

#include "tmpl_internal.h"

static const char *const arg_names[] = { "N", "C", "H", "W", "K", "R", "S", "stride", "pad", NULL };

typedef struct Conv {
    int64_t n, c, h, w, k, r, s, stride, pad, oh, ow;
} Conv;

static TsStatus read_conv(const TsTemplateArgs *args, const TsTemplateTarget *target, Conv *cv,
                          TsError *err)
{
    static const int64_t min[] = { 1, 1, 1, 1, 1, 1, 1, 1, 0 };
    int64_t v[9] = { 0 };
    TsStatus st = sch_tmpl_read_args("conv2d", args, arg_names, min, v, err);
    if (st == TS_OK)
        st = sch_tmpl_check_target("conv2d", target, err);
    if (st == TS_OK)
        st = sch_tmpl_check_dtype("conv2d", args, err);
    if (st != TS_OK)
        return st;
    *cv = (Conv){ v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], 0, 0 };
    return sch_window_extents("conv2d", "kernel", cv->h, cv->w, cv->r, cv->s, cv->stride,
                              cv->pad, &cv->oh, &cv->ow, err);
}

/* ---- the space ---- */

static const int64_t reg_ns[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 14, 16, 28 };

static TsStatus define_blocks(const Conv *cv, const TsTemplateTarget *target, TsConfigSpace *space,
                              TsError *err)
{
    int64_t lanes = sch_tmpl_lanes(target);
    TsStatus st = sch_define_channel_split(space, "tile_ic", cv->c, 1, 64, err);
    if (st == TS_OK)
        st = sch_define_channel_split(space, "tile_oc", cv->k, lanes, 4 * lanes, err);
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

static TsStatus conv_define_space(const TsTemplateArgs *args, const TsTemplateTarget *target,
                                  TsConfigSpace *space, TsError *err)
{
    Conv cv;
    TsStatus st = read_conv(args, target, &cv, err);
    if (st == TS_OK)
        st = define_blocks(&cv, target, space, err);
    if (st == TS_OK)
        st = define_register_block(&cv, space, err);
    static const int64_t on_off[] = { 0, 1 };
    if (st == TS_OK)
        st = ts_space_define_knob(space, "unroll_kw", 2, on_off, err);
    /* The inner reduction loops: 0 = ib, 1 = kw. */
    static const int orders[] = { 0, 1, 1, 0 };
    if (st == TS_OK)
        st = ts_space_define_reorder(space, "reduce_order", 2, 2, orders, err);
    if (st == TS_OK)
        st = ts_space_define_knob(space, "parallel", target->num_cores > 1 ? 2 : 1, on_off, err);
    return st;
}

/* The register block of the output row: among the offered reg_ns of at most max
 * positions, the one with the fewest blocks per row, then the least wasted tail (the
 * tail block is peeled off by loop partitioning, not scalarized), then the largest. */
static int64_t register_block(int64_t ow, int64_t max)
{
    int64_t best = 1;
    for (size_t i = 0; i < sizeof reg_ns / sizeof reg_ns[0]; i++) {
        int64_t r = reg_ns[i];
        if (r > max || r > ow)
            break;
        int64_t blocks = sch_ceil_div(ow, r), waste = blocks * r - ow;
        int64_t best_blocks = sch_ceil_div(ow, best), best_waste = best_blocks * best - ow;
        if (blocks < best_blocks || (blocks == best_blocks && waste <= best_waste))
            best = r;
    }
    return best;
}

/* Accumulator vectors the micro-kernel keeps in registers besides its weight vectors and
 * a broadcast: measured on ResNet-18's 3x3 layers on AVX-512, 8 positions x 2 vectors
 * (16) ran at 150-185 GFLOPS where 14 x 2 (28) spilled and ran at 85; 12 of AVX2's 16
 * registers (6 x 2, the classic Haswell kernel); 24 of NEON's 32. */
static int64_t accumulator_budget(const TsTemplateTarget *target)
{
    if (sch_tmpl_registers(target) == 16)
        return 12;
    return target->vector_bits == 512 ? 16 : 24;
}

/* The rule, from the shape and the target (as TVM's x86 _get_default_config): oc_bn up to
 * two vectors, a power-of-two count of them dividing K (else a power-of-two part of one
 * vector: sch_vector_block), ic_bn one vector's lanes (or the nearest divisor of C), a
 * register block of as many positions as the accumulator budget leaves for oc_bn's
 * vectors (register_block), one output row; ib outer and kw inner, kw unrolled; n x oc
 * parallel when there are cores. */
static TsStatus conv_default_config(const TsTemplateArgs *args, const TsTemplateTarget *target,
                                    const TsConfigSpace *space, TsConfig *out, TsError *err)
{
    Conv cv;
    TsStatus st = read_conv(args, target, &cv, err);
    if (st != TS_OK)
        return st;
    int64_t lanes = sch_tmpl_lanes(target), oc_bn = sch_vector_block(cv.k, lanes, 2);
    int64_t max = accumulator_budget(target) / sch_ceil_div(oc_bn, lanes);
    int64_t ic[] = { lanes }, oc[] = { oc_bn };
    int64_t ow[] = { register_block(cv.ow, max) }, oh[] = { 1 };
    sch_tmpl_config_init(space, out);
    st = sch_tmpl_want_split(out, "tile_ic", ic, 1, err);
    if (st == TS_OK)
        st = sch_tmpl_want_split(out, "tile_oc", oc, 1, err);
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

static void conv_expression(TsArena *A, const Conv *cv, int64_t ic_bn, int64_t oc_bn,
                            ConvTensors *t)
{
    t->data = ts_placeholder(A, "data", 5, (int64_t[]){ cv->n, cv->c / ic_bn, cv->h, cv->w, ic_bn },
                             TS_FLOAT32);
    t->weight = ts_placeholder(
        A, "weight", 6, (int64_t[]){ cv->k / oc_bn, cv->c / ic_bn, cv->r, cv->s, ic_bn, oc_bn },
        TS_FLOAT32);
    t->pad = sch_nchwc_pad(A, t->data, cv->pad);
    TsAxis *n = ts_axis(A, "n", cv->n), *oc = ts_axis(A, "oc", cv->k / oc_bn);
    TsAxis *oh = ts_axis(A, "oh", cv->oh), *ow = ts_axis(A, "ow", cv->ow);
    TsAxis *ob = ts_axis(A, "ob", oc_bn);
    TsAxis *ic = ts_reduce_axis(A, "ic", cv->c / ic_bn), *kh = ts_reduce_axis(A, "kh", cv->r);
    TsAxis *kw = ts_reduce_axis(A, "kw", cv->s), *ib = ts_reduce_axis(A, "ib", ic_bn);
    TsExpr *y = ts_add(A, ts_mul(A, ts_var(oh), ts_i32(A, cv->stride)), ts_var(kh));
    TsExpr *x = ts_add(A, ts_mul(A, ts_var(ow), ts_i32(A, cv->stride)), ts_var(kw));
    TsExpr *prod = ts_mul(A, ts_at(A, t->pad, ts_var(n), ts_var(ic), y, x, ts_var(ib)),
                          ts_at(A, t->weight, ts_var(oc), ts_var(ic), ts_var(kh), ts_var(kw),
                                ts_var(ib), ts_var(ob)));
    t->out =
        ts_compute_tagged(A, "conv2d_NCHWc", "conv2d_NCHWc", 5, (TsAxis *[]){ n, oc, oh, ow, ob },
                          ts_sum(A, prod, 4, (TsAxis *[]){ ic, kh, kw, ib }, NULL));
}

/* ---- the schedule ---- */

typedef struct ConvKnobs {
    int64_t ic_bn, oc_bn, reg_n, oh_bn, unroll_kw, parallel;
    int reduce_order[2];
} ConvKnobs;

static TsStatus read_knobs(const TsConfig *config, ConvKnobs *kn, TsError *err)
{
    int64_t f[TS_KNOB_MAX_OUTPUTS] = { 0 };
    int n, m;
    TsStatus st = ts_config_split(config, "tile_ic", f, TS_KNOB_MAX_OUTPUTS, &n, err);
    kn->ic_bn = f[1];
    if (st == TS_OK)
        st = ts_config_split(config, "tile_oc", f, TS_KNOB_MAX_OUTPUTS, &n, err);
    kn->oc_bn = f[1];
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

/* The accumulator: block loops, ic, kh, (ib, kw), oh.inner, ow.inner, ob. */
static TsStatus schedule_accumulator(TsSchedule *sch, TsTensor *acc, const ConvKnobs *kn,
                                     TsError *err)
{
    TsStage *st = ts_stage(sch, acc);
    TsAxis *root[9];
    for (int i = 0; i < 9; i++)
        root[i] = ts_stage_root_axis(st, i);
    /* n oc oh ow ob | ic kh kw ib */
    TsAxis *oho, *ohi, *owo, *owi;
    TsStatus s = ts_split(st, root[2], kn->oh_bn, &oho, &ohi, err);
    if (s == TS_OK)
        s = ts_split(st, root[3], kn->reg_n, &owo, &owi, err);
    TsAxis *inner[2] = { root[8], root[7] };
    TsAxis *order[11] = { root[0],
                          root[1],
                          oho,
                          owo,
                          root[5],
                          root[6],
                          inner[kn->reduce_order[0]],
                          inner[kn->reduce_order[1]],
                          ohi,
                          owi,
                          root[4] };
    if (s == TS_OK)
        s = ts_reorder(st, 11, order, err);
    if (s == TS_OK && kn->unroll_kw)
        s = ts_unroll(st, root[7], err);
    if (s == TS_OK && kn->oh_bn > 1)
        s = ts_unroll(st, ohi, err);
    if (s == TS_OK)
        s = ts_unroll(st, owi, err);
    if (s == TS_OK)
        s = ts_vectorize(st, root[4], err);
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

static TsStatus conv_prepare(const TsTemplateArgs *args, const TsTemplateTarget *target,
                             const TsConfig *config, Conv *cv, ConvKnobs *kn, TsError *err)
{
    TsStatus st = read_conv(args, target, cv, err);
    if (st == TS_OK)
        st = read_knobs(config, kn, err);
    if (st == TS_OK && (cv->c % kn->ic_bn || cv->k % kn->oc_bn))
        st = ts_fail(err, TS_EINVAL, "conv2d: ic_bn %lld must divide C=%lld and oc_bn %lld K=%lld",
                     (long long)kn->ic_bn, (long long)cv->c, (long long)kn->oc_bn,
                     (long long)cv->k);
    return st;
}

/* The schedule of t->out computed into itself or, with a DAG, into its last fused
 * consumer: the accumulator at the register block, the chain inlined into its store. */
static TsStatus schedule_conv(TsArena *arena, const ConvKnobs *kn, const ConvTensors *t,
                              const TsTemplateDag *dag, TsSchedule **sch, TsTensor **final,
                              TsError *err)
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
        st = schedule_accumulator(*sch, acc, kn, err);
    if (st == TS_OK)
        st = schedule_padding(*sch, t, kn, err);
    return st;
}

static TsStatus conv_instantiate(const TsTemplateArgs *args, const TsTemplateTarget *target,
                                 const TsConfig *config, TsArena *arena, TsTemplateInstance *out,
                                 TsError *err)
{
    Conv cv;
    ConvKnobs kn;
    TsStatus st = conv_prepare(args, target, config, &cv, &kn, err);
    if (st != TS_OK)
        return st;
    ConvTensors t;
    conv_expression(arena, &cv, kn.ic_bn, kn.oc_bn, &t);
    if ((st = ts_arena_check(arena, err)) != TS_OK)
        return st;
    TsSchedule *sch;
    TsTensor *final;
    st = schedule_conv(arena, &kn, &t, NULL, &sch, &final, err);
    if (st != TS_OK)
        return st;
    *out = (TsTemplateInstance){
        .sch = sch, .num_tensors = 3, .num_outputs = 1, .tensors = { t.data, t.weight, t.out }
    };
    return TS_OK;
}

/* The DAG's operator is an instance's output: the conv2d_NCHWc stage, reading the
 * padding stage (or the data) and the weight. */
static TsStatus conv_schedule_dag(const TsTemplateArgs *args, const TsTemplateTarget *target,
                                  const TsConfig *config, TsArena *arena,
                                  const TsTemplateDag *dag, TsTemplateInstance *inst,
                                  TsError *err)
{
    Conv cv;
    ConvKnobs kn;
    TsStatus st = conv_prepare(args, target, config, &cv, &kn, err);
    if (st != TS_OK)
        return st;
    ConvTensors t = { .data = inst->tensors[0], .weight = inst->tensors[1],
                      .out = inst->tensors[inst->num_tensors - 1] };
    t.pad = t.data;
    for (int i = 0; i < ts_tensor_num_inputs(t.out); i++)
        if (strcmp(ts_tensor_tag(ts_tensor_input(t.out, i)), "pad") == 0)
            t.pad = ts_tensor_input(t.out, i);
    if (strcmp(ts_tensor_tag(t.out), "conv2d_NCHWc") != 0 || inst->num_tensors != 3 ||
        ts_tensor_dim(t.out, 4) != kn.oc_bn || ts_tensor_dim(t.data, 4) != kn.ic_bn)
        return ts_fail(err, TS_EINVAL, "conv2d: the DAG's operator %s is not the output of a "
                       "conv2d_NCHWc instance for this config", ts_tensor_name(t.out));
    TsSchedule *sch;
    TsTensor *final;
    st = schedule_conv(arena, &kn, &t, dag, &sch, &final, err);
    if (st == TS_OK)
        sch_dag_finish(dag, sch, final, inst);
    return st;
}

static double conv_flop(const TsTemplateArgs *args)
{
    Conv cv;
    if (read_conv(args, &sch_any_target, &cv, NULL) != TS_OK)
        return 0;
    return 2.0 * (double)cv.n * (double)cv.k * (double)cv.oh * (double)cv.ow * (double)cv.c *
           (double)cv.r * (double)cv.s;
}

const TsTemplate sch_template_conv2d_nchwc = {
    .name = "conv2d_NCHWc",
    .op = "conv2d",
    .summary = "conv2d on NCHW[x]c data and OIHW[x]i[y]o weights: channel blocks, register "
               "blocks of output positions, vectorized output channels; any x86-64 or AArch64 target (knobs follow its vector width)",
    .dtypes = sch_dtypes_f32,
    .arg_names = arg_names,
    .define_space = conv_define_space,
    .default_config = conv_default_config,
    .instantiate = conv_instantiate,
    .flop = conv_flop,
    .schedule_dag = conv_schedule_dag,
};
