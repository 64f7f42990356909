/* The depthwise conv2d template ("depthwise_conv2d_NCHWc"): float32 depthwise
 * convolution (channel multiplier 1) in the blocked-channel layout. Arguments N C H W,
 * R S (kernel), stride, pad (every side).
 *
 * Layouts, as for conv2d_NCHWc (see conv2d_nchwc.c): data in NCHW[cb]c, [N, C/cb, H,
 * W, cb]; weight pre-packed from [C, 1, R, S] into [C/cb, R, S, cb]; output NCHW[cb]c.
 * The conversions are te/ops's ts_op_nchwc_pack, ts_op_nchwc_pack_depthwise_weight
 * and ts_op_nchwc_unpack (the tests check against ts_op_conv2d with groups = C through
 * them). Blocking the channels makes the channel lane the vector: every multiply-add is
 * a full vector, whatever the stride, where vectorizing NCHW along the width would need
 * strided loads for stride 2.
 *
 * No padding stage. Depthwise convolution does 2 R S flops per output element, so it is
 * bound by memory, and a padded copy of the input (written, then read again) cost more
 * than the convolution itself. The padding is the reduction's condition instead: a tap
 * outside the input is skipped, as pool2d skips it. Lowering makes that condition a
 * likely guard, and loop partitioning (schedule/pass_loop_partition.c) cuts the rows
 * and the register blocks of the output row into a guard-free interior and the few
 * border parts where the guard is decided tap by tap; after unrolling, the interior is
 * R x S x reg_n straight vector multiply-adds on the accumulators, reading the data
 * where it lies.
 *
 * The schedule (schedule_row): the output row in register blocks of reg_n positions
 * ("tile_ow") and the channel blocks in steps of 1 or 2 ("tile_cc"), the channel block cb
 * ("tile_c": the layout's block, one vector or two to four) as vectors; cache_write gives
 * the accumulator of tile_cc x reg_n x cb computed at the block, with loops kh (unrolled
 * when "unroll_kh"), kw (unrolled when "unroll_kw"), then the step's blocks and
 * positions (unrolled) and cb (vectors): each tap's weight vectors are loaded once for
 * the step's multiply-adds. "parallel" runs n x steps of channel blocks on the thread
 * pool. A step whose accumulators do not fit the vector registers is refused.
 *
 * Over a given DAG (schedule_dag): the graph's bias, folded batch norm and activation
 * (ReLU6 is a Clip) as elementwise consumers of the output in its blocked layout; they
 * are inlined into the store of the accumulator, so a depthwise group is one kernel
 * from blocked input to blocked output. */
#include <string.h>

#include "tmpl_internal.h"

static const char *const arg_names[] = { "N", "C", "H", "W", "R", "S", "stride", "pad", NULL };

typedef struct Depthwise {
    int64_t n, c, h, w, r, s, stride, pad, oh, ow;
} Depthwise;

static TsStatus read_depthwise(const TsTemplateArgs *args, const TsTemplateTarget *target,
                               Depthwise *d, TsError *err)
{
    static const int64_t min[] = { 1, 1, 1, 1, 1, 1, 1, 0 };
    int64_t v[8] = { 0 };
    TsStatus st = sch_tmpl_read_args("depthwise_conv2d", args, arg_names, min, v, err);
    if (st == TS_OK)
        st = sch_tmpl_check_target("depthwise_conv2d", target, err);
    if (st == TS_OK)
        st = sch_tmpl_check_dtype("depthwise_conv2d", args, err);
    if (st != TS_OK)
        return st;
    *d = (Depthwise){ v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], 0, 0 };
    return sch_window_extents("depthwise_conv2d", "kernel", d->h, d->w, d->r, d->s, d->stride,
                              d->pad, &d->oh, &d->ow, err);
}

/* The window knobs (tile_c, tile_ow, unroll_kw, parallel) and two of depthwise's own:
 * "tile_cc", the channel blocks one step computes (1 or 2: each step's multiply-adds
 * that many vectors wide without changing the layout's block, twice the accumulators
 * and the loads in flight), and "unroll_kh". */
static TsStatus dw_define_space(const TsTemplateArgs *args, const TsTemplateTarget *target,
                                TsConfigSpace *space, TsError *err)
{
    Depthwise d;
    TsStatus st = read_depthwise(args, target, &d, err);
    if (st == TS_OK)
        st = sch_define_window_space(space, target, d.c, d.ow, 16, err);
    static const int64_t steps[] = { 1, 2 }, on_off[] = { 0, 1 };
    if (st == TS_OK)
        st = ts_space_define_knob(space, "tile_cc", 2, steps, err);
    if (st == TS_OK)
        st = ts_space_define_knob(space, "unroll_kh", 2, on_off, err);
    return st;
}

/* The rule: one vector of channels (or a power-of-two part of one) and one block per
 * step, 8 positions (4 on AVX2's 16 registers), kw unrolled, kh not (bench_depthwise:
 * the layers are bound by memory, and a longer body only costs code). */
static TsStatus dw_default_config(const TsTemplateArgs *args, const TsTemplateTarget *target,
                                  const TsConfigSpace *space, TsConfig *out, TsError *err)
{
    Depthwise d;
    TsStatus st = read_depthwise(args, target, &d, err);
    if (st != TS_OK)
        return st;
    st = sch_window_default(space, target, d.c, sch_tmpl_registers(target) == 16 ? 4 : 8, out, err);
    /* sch_window_default finished the config; the two knobs of its own stay at choice 0
     * (1 block per step, kh rolled), so the index it computed holds. */
    return st;
}

typedef struct DwTensors {
    TsTensor *data, *weight, *out;
} DwTensors;

/* out[n, cc, oh, ow, b] = sum over the taps (kh, kw) inside the input of
 *     data[n, cc, oh*stride + kh - pad, ow*stride + kw - pad, b] * weight[cc, kh, kw, b]. */
static void dw_expression(TsArena *A, const Depthwise *d, int64_t cb, DwTensors *t)
{
    t->data =
        ts_placeholder(A, "data", 5, (int64_t[]){ d->n, d->c / cb, d->h, d->w, cb }, TS_FLOAT32);
    t->weight =
        ts_placeholder(A, "weight", 4, (int64_t[]){ d->c / cb, d->r, d->s, cb }, TS_FLOAT32);
    TsAxis *n = ts_axis(A, "n", d->n), *cc = ts_axis(A, "cc", d->c / cb);
    TsAxis *oh = ts_axis(A, "oh", d->oh), *ow = ts_axis(A, "ow", d->ow);
    TsAxis *b = ts_axis(A, "cb", cb);
    TsAxis *kh = ts_reduce_axis(A, "kh", d->r), *kw = ts_reduce_axis(A, "kw", d->s);
    TsExpr *y = ts_sub(A, ts_add(A, ts_mul(A, ts_var(oh), ts_i32(A, d->stride)), ts_var(kh)),
                       ts_i32(A, d->pad));
    TsExpr *x = ts_sub(A, ts_add(A, ts_mul(A, ts_var(ow), ts_i32(A, d->stride)), ts_var(kw)),
                       ts_i32(A, d->pad));
    TsExpr *inside = NULL;
    if (d->pad > 0)
        inside = ts_and(A, ts_and(A, ts_ge(A, y, ts_i32(A, 0)), ts_lt(A, y, ts_i32(A, d->h))),
                        ts_and(A, ts_ge(A, x, ts_i32(A, 0)), ts_lt(A, x, ts_i32(A, d->w))));
    TsExpr *prod = ts_mul(A, ts_at(A, t->data, ts_var(n), ts_var(cc), y, x, ts_var(b)),
                          ts_at(A, t->weight, ts_var(cc), ts_var(kh), ts_var(kw), ts_var(b)));
    t->out = ts_compute_tagged(A, "depthwise_conv2d_NCHWc", "depthwise_conv2d_NCHWc", 5,
                               (TsAxis *[]){ n, cc, oh, ow, b },
                               ts_sum(A, prod, 2, (TsAxis *[]){ kh, kw }, inside));
}

typedef struct DwKnobs {
    SchWindowKnobs w;
    int64_t cc_step, unroll_kh;
} DwKnobs;

static TsStatus dw_prepare(const TsTemplateArgs *args, const TsTemplateTarget *target,
                           const TsConfig *config, Depthwise *d, DwKnobs *kn, TsError *err)
{
    TsStatus st = read_depthwise(args, target, d, err);
    if (st == TS_OK)
        st = sch_read_window_knobs(config, &kn->w, err);
    kn->cc_step = sch_tmpl_knob(config, "tile_cc", err, &st);
    kn->unroll_kh = sch_tmpl_knob(config, "unroll_kh", err, &st);
    if (st == TS_OK && d->c % kn->w.cb)
        st = ts_fail(err, TS_EINVAL, "depthwise_conv2d: channel block %lld must divide C=%lld",
                     (long long)kn->w.cb, (long long)d->c);
    if (st != TS_OK)
        return st;
    /* Accumulators beyond the registers spill on every multiply-add: refused before any
     * code is built (a weight vector and an input vector stay in registers too). */
    int64_t lanes = sch_tmpl_lanes(target);
    int64_t positions = kn->w.reg_n < d->ow ? kn->w.reg_n : d->ow;
    int64_t needed = positions * kn->cc_step * sch_ceil_div(kn->w.cb, lanes) + 2;
    if (needed > sch_tmpl_registers(target))
        return ts_fail(err, TS_ESCHEDULE,
                       "depthwise_conv2d: %lld positions x %lld channel blocks of %lld need %lld "
                       "vector registers (accumulators, a weight and an input); the target has %d",
                       (long long)positions, (long long)kn->cc_step, (long long)kn->w.cb,
                       (long long)needed, sch_tmpl_registers(target));
    return TS_OK;
}

/* final [N, CC, OH, OW, cb] (the operator's output or its last fused consumer): the
 * channel blocks split by cc_step and the output row by reg_n, loops n, cc.outer, oh,
 * ow.outer, cc.inner, ow.inner, cb with the inner ones unrolled and cb as vectors;
 * n x cc.outer parallel when asked. The accumulator acc is computed at ow.outer with
 * loops kh (unrolled when unroll_kh), kw (unrolled when unroll_kw), cc.inner, ow.inner
 * (unrolled) and cb (vectors): each tap's weight vectors are loaded once for the step's
 * cc_step x reg_n multiply-adds. */
static TsStatus schedule_row(TsSchedule *sch, TsTensor *final, TsTensor *acc, const DwKnobs *kn,
                             TsError *err)
{
    TsStage *st = ts_stage(sch, final), *sa = ts_stage(sch, acc);
    TsAxis *r[5], *cco, *cci, *owo, *owi, *fused;
    for (int i = 0; i < 5; i++)
        r[i] = ts_stage_root_axis(st, i);
    TsStatus s = ts_split(st, r[1], kn->cc_step, &cco, &cci, err);
    if (s == TS_OK)
        s = ts_split(st, r[3], kn->w.reg_n, &owo, &owi, err);
    if (s == TS_OK)
        s = ts_reorder(st, 7, (TsAxis *[]){ r[0], cco, r[2], owo, cci, owi, r[4] }, err);
    if (s == TS_OK)
        s = ts_vectorize(st, r[4], err);
    if (s == TS_OK)
        s = ts_unroll(st, owi, err);
    if (s == TS_OK)
        s = ts_unroll(st, cci, err);
    if (s == TS_OK && kn->w.parallel) {
        s = ts_fuse(st, r[0], cco, &fused, err);
        if (s == TS_OK)
            s = ts_parallel(st, fused, err);
    }
    if (s == TS_OK)
        s = ts_compute_at(sa, st, owo, err);
    /* acc's root axes: n cc oh ow cb kh kw */
    TsAxis *a[7], *acco, *acci, *aowo, *aowi;
    for (int i = 0; i < 7; i++)
        a[i] = ts_stage_root_axis(sa, i);
    if (s == TS_OK)
        s = ts_split(sa, a[1], kn->cc_step, &acco, &acci, err);
    if (s == TS_OK)
        s = ts_split(sa, a[3], kn->w.reg_n, &aowo, &aowi, err);
    if (s == TS_OK)
        s = ts_reorder(sa, 9, (TsAxis *[]){ a[0], acco, a[2], aowo, a[5], a[6], acci, aowi, a[4] },
                       err);
    if (s == TS_OK && kn->unroll_kh)
        s = ts_unroll(sa, a[5], err);
    if (s == TS_OK && kn->w.unroll_kw)
        s = ts_unroll(sa, a[6], err);
    if (s == TS_OK)
        s = ts_unroll(sa, acci, err);
    if (s == TS_OK)
        s = ts_unroll(sa, aowi, err);
    if (s == TS_OK)
        s = ts_vectorize(sa, a[4], err);
    return s;
}

/* The schedule of t->out computed into itself or, with a DAG, into its last fused
 * consumer: the accumulator at the register block, the chain inlined into its store. */
static TsStatus dw_schedule(TsArena *arena, const DwKnobs *kn, const DwTensors *t,
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
        st = schedule_row(*sch, *final, acc, kn, err);
    return st;
}

static TsStatus dw_instantiate(const TsTemplateArgs *args, const TsTemplateTarget *target,
                               const TsConfig *config, TsArena *arena, TsTemplateInstance *out,
                               TsError *err)
{
    Depthwise d;
    DwKnobs kn;
    TsStatus st = dw_prepare(args, target, config, &d, &kn, err);
    if (st != TS_OK)
        return st;
    DwTensors t;
    dw_expression(arena, &d, kn.w.cb, &t);
    if ((st = ts_arena_check(arena, err)) != TS_OK)
        return st;
    TsSchedule *sch;
    TsTensor *final;
    st = dw_schedule(arena, &kn, &t, NULL, &sch, &final, err);
    if (st != TS_OK)
        return st;
    *out = (TsTemplateInstance){
        .sch = sch, .num_tensors = 3, .num_outputs = 1, .tensors = { t.data, t.weight, t.out }
    };
    return TS_OK;
}

/* The DAG's operator is an instance's output, the depthwise_conv2d_NCHWc stage. */
static TsStatus dw_schedule_dag(const TsTemplateArgs *args, const TsTemplateTarget *target,
                                const TsConfig *config, TsArena *arena, const TsTemplateDag *dag,
                                TsTemplateInstance *inst, TsError *err)
{
    Depthwise d;
    DwKnobs kn;
    TsStatus st = dw_prepare(args, target, config, &d, &kn, err);
    if (st != TS_OK)
        return st;
    DwTensors t = { .data = inst->tensors[0],
                    .weight = inst->tensors[1],
                    .out = inst->tensors[inst->num_tensors - 1] };
    if (strcmp(ts_tensor_tag(t.out), "depthwise_conv2d_NCHWc") != 0 || inst->num_tensors != 3 ||
        ts_tensor_dim(t.out, 4) != kn.w.cb)
        return ts_fail(err, TS_EINVAL,
                       "depthwise_conv2d: the DAG's operator %s is not the "
                       "output of a depthwise_conv2d_NCHWc instance for this config",
                       ts_tensor_name(t.out));
    TsSchedule *sch;
    TsTensor *final;
    st = dw_schedule(arena, &kn, &t, dag, &sch, &final, err);
    if (st == TS_OK)
        sch_dag_finish(dag, sch, final, inst);
    return st;
}

static double dw_flop(const TsTemplateArgs *args)
{
    Depthwise d;
    if (read_depthwise(args, &sch_any_target, &d, NULL) != TS_OK)
        return 0;
    return 2.0 * (double)d.n * (double)d.c * (double)d.oh * (double)d.ow * (double)d.r *
           (double)d.s;
}

const TsTemplate sch_template_depthwise_conv2d = {
    .name = "depthwise_conv2d_NCHWc",
    .op = "depthwise_conv2d",
    .summary = "depthwise conv2d (multiplier 1) on NCHW[x]c data: channel lanes as vectors, "
               "register blocks of output positions, borders by loop partitioning (no padded "
               "copy); any x86-64 or AArch64 target (knobs follow its vector width)",
    .dtypes = sch_dtypes_f32,
    .arg_names = arg_names,
    .define_space = dw_define_space,
    .default_config = dw_default_config,
    .instantiate = dw_instantiate,
    .flop = dw_flop,
    .schedule_dag = dw_schedule_dag,
};
