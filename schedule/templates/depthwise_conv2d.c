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
 * The schedule: the output row is split into register blocks of reg_n positions
 * ("tile_ow"); cache_write gives an accumulator of reg_n x cb computed at the block,
 * with loops kh, kw (unrolled when "unroll_kw"), positions (unrolled), cb (vectors).
 * data_pad is computed first with its lane vectorized; "parallel" runs n x channel
 * blocks on the thread pool. */
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
    TsTensor *data, *weight, *pad, *out;
} DwTensors;

static void dw_expression(TsArena *A, const Depthwise *d, int64_t cb, DwTensors *t)
{
    t->data =
        ts_placeholder(A, "data", 5, (int64_t[]){ d->n, d->c / cb, d->h, d->w, cb }, TS_FLOAT32);
    t->weight =
        ts_placeholder(A, "weight", 4, (int64_t[]){ d->c / cb, d->r, d->s, cb }, TS_FLOAT32);
    t->pad = sch_nchwc_pad(A, t->data, d->pad);
    TsAxis *n = ts_axis(A, "n", d->n), *cc = ts_axis(A, "cc", d->c / cb);
    TsAxis *oh = ts_axis(A, "oh", d->oh), *ow = ts_axis(A, "ow", d->ow);
    TsAxis *b = ts_axis(A, "cb", cb);
    TsAxis *kh = ts_reduce_axis(A, "kh", d->r), *kw = ts_reduce_axis(A, "kw", d->s);
    TsExpr *y = ts_add(A, ts_mul(A, ts_var(oh), ts_i32(A, d->stride)), ts_var(kh));
    TsExpr *x = ts_add(A, ts_mul(A, ts_var(ow), ts_i32(A, d->stride)), ts_var(kw));
    TsExpr *prod = ts_mul(A, ts_at(A, t->pad, ts_var(n), ts_var(cc), y, x, ts_var(b)),
                          ts_at(A, t->weight, ts_var(cc), ts_var(kh), ts_var(kw), ts_var(b)));
    t->out = ts_compute_tagged(A, "depthwise_conv2d_NCHWc", "depthwise_conv2d_NCHWc", 5,
                               (TsAxis *[]){ n, cc, oh, ow, b },
                               ts_sum(A, prod, 2, (TsAxis *[]){ kh, kw }, NULL));
}

static TsStatus dw_instantiate(const TsTemplateArgs *args, const TsTemplateTarget *target,
                               const TsConfig *config, TsArena *arena, TsTemplateInstance *out,
                               TsError *err)
{
    Depthwise d;
    SchWindowKnobs kn;
    TsStatus st = read_depthwise(args, target, &d, err);
    if (st == TS_OK)
        st = sch_read_window_knobs(config, &kn, err);
    if (st != TS_OK)
        return st;
    if (d.c % kn.cb)
        return ts_fail(err, TS_EINVAL, "depthwise_conv2d: channel block %lld must divide C=%lld",
                       (long long)kn.cb, (long long)d.c);
    DwTensors t;
    dw_expression(arena, &d, kn.cb, &t);
    if ((st = ts_arena_check(arena, err)) != TS_OK)
        return st;
    TsSchedule *sch = ts_schedule_create(arena, 1, &t.out);
    if (!sch)
        return ts_arena_check(arena, err);
    TsTensor *acc;
    st = ts_cache_write(sch, t.out, &acc, err);
    if (st == TS_OK)
        st = sch_schedule_window_op(sch, t.out, acc, &kn, err);
    if (st == TS_OK && t.pad != t.data) {
        TsStage *ps = ts_stage(sch, t.pad);
        st = ts_vectorize(ps, ts_stage_root_axis(ps, 4), err);
    }
    if (st != TS_OK)
        return st;
    *out = (TsTemplateInstance){
        .sch = sch, .num_tensors = 3, .num_outputs = 1, .tensors = { t.data, t.weight, t.out }
    };
    return TS_OK;
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
               "register blocks of output positions; any x86-64 or AArch64 target (knobs follow its vector width)",
    .dtypes = sch_dtypes_f32,
    .arg_names = arg_names,
    .define_space = dw_define_space,
    .default_config = dw_default_config,
    .instantiate = dw_instantiate,
    .flop = dw_flop,
};
