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
 * The schedule (sch_schedule_window_op, shared with pool2d): the output row in register
 * blocks of reg_n positions ("tile_ow"), the channel block cb ("tile_c": one vector, or
 * two to four, each step's multiply-adds then that many vectors wide) as vectors;
 * cache_write gives the accumulator of reg_n x cb computed at the block, with loops kh,
 * kw (unrolled when "unroll_kw"), positions (unrolled), cb (vectors): the weight vector
 * of a tap is loaded once for the block's reg_n multiply-adds. "parallel" runs n x
 * channel blocks on the thread pool.
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

static TsStatus dw_define_space(const TsTemplateArgs *args, const TsTemplateTarget *target,
                                TsConfigSpace *space, TsError *err)
{
    Depthwise d;
    TsStatus st = read_depthwise(args, target, &d, err);
    if (st != TS_OK)
        return st;
    return sch_define_window_space(space, target, d.c, d.ow, 16, err);
}

/* The rule: one vector of channels (or a power-of-two part of one), 8 positions (4 on
 * AVX2's 16 registers), kw unrolled. */
static TsStatus dw_default_config(const TsTemplateArgs *args, const TsTemplateTarget *target,
                                  const TsConfigSpace *space, TsConfig *out, TsError *err)
{
    Depthwise d;
    TsStatus st = read_depthwise(args, target, &d, err);
    if (st != TS_OK)
        return st;
    return sch_window_default(space, target, d.c, sch_tmpl_registers(target) == 16 ? 4 : 8, out,
                              err);
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

static TsStatus dw_prepare(const TsTemplateArgs *args, const TsTemplateTarget *target,
                           const TsConfig *config, Depthwise *d, SchWindowKnobs *kn, TsError *err)
{
    TsStatus st = read_depthwise(args, target, d, err);
    if (st == TS_OK)
        st = sch_read_window_knobs(config, kn, err);
    if (st == TS_OK && d->c % kn->cb)
        st = ts_fail(err, TS_EINVAL, "depthwise_conv2d: channel block %lld must divide C=%lld",
                     (long long)kn->cb, (long long)d->c);
    return st;
}

/* The schedule of t->out computed into itself or, with a DAG, into its last fused
 * consumer: the accumulator at the register block, the chain inlined into its store. */
static TsStatus dw_schedule(TsArena *arena, const SchWindowKnobs *kn, const DwTensors *t,
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
        st = sch_schedule_window_op(*sch, *final, acc, kn, err);
    return st;
}

static TsStatus dw_instantiate(const TsTemplateArgs *args, const TsTemplateTarget *target,
                               const TsConfig *config, TsArena *arena, TsTemplateInstance *out,
                               TsError *err)
{
    Depthwise d;
    SchWindowKnobs kn;
    TsStatus st = dw_prepare(args, target, config, &d, &kn, err);
    if (st != TS_OK)
        return st;
    DwTensors t;
    dw_expression(arena, &d, kn.cb, &t);
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
    SchWindowKnobs kn;
    TsStatus st = dw_prepare(args, target, config, &d, &kn, err);
    if (st != TS_OK)
        return st;
    DwTensors t = { .data = inst->tensors[0],
                    .weight = inst->tensors[1],
                    .out = inst->tensors[inst->num_tensors - 1] };
    if (strcmp(ts_tensor_tag(t.out), "depthwise_conv2d_NCHWc") != 0 || inst->num_tensors != 3 ||
        ts_tensor_dim(t.out, 4) != kn.cb)
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
