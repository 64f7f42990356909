/* The pool2d template ("pool2d_NCHWc"): float32 max or average pooling in the
 * blocked-channel layout. Arguments N C H W, R S (window), stride, pad (every side,
 * smaller than the window), kind (0 max, 1 average).
 *
 * Layout: data NCHW[cb]c in, NCHW[cb]c out (cb the "tile_c" knob); nchwc.c converts
 * from and to NCHW, and the tests check against ts_op_pool2d through it. Padding is not
 * a stage: the reduction's condition skips the window's points outside the input, so a
 * padded point never wins a max, and the average divides by the number of points inside
 * (ONNX's count_include_pad = 0).
 *
 * The expression: pool_acc (the max or the sum over the window, under the condition),
 * then pool (a copy for max, the division by the window's count for average). The
 * schedule: pool's output row is split into blocks of reg_n positions ("tile_ow"), the
 * channel lane vectorized; pool_acc is computed at the block, its loops kh, kw
 * (unrolled when "unroll_kw"), positions (unrolled), lanes (vectors); "parallel" runs
 * n x channel blocks on the thread pool. Pooling is bound by memory: the knobs mostly
 * choose how many vectors are in flight. */
#include "tmpl_internal.h"

static const char *const arg_names[] = {
    "N", "C", "H", "W", "R", "S", "stride", "pad", "kind", NULL
};

typedef struct Pool {
    int64_t n, c, h, w, r, s, stride, pad, kind, oh, ow;
} Pool;

static TsStatus read_pool(const TsTemplateArgs *args, const TsTemplateTarget *target, Pool *p,
                          TsError *err)
{
    static const int64_t min[] = { 1, 1, 1, 1, 1, 1, 1, 0, 0 };
    int64_t v[9] = { 0 };
    TsStatus st = sch_tmpl_read_args("pool2d", args, arg_names, min, v, err);
    if (st == TS_OK)
        st = sch_tmpl_check_target("pool2d", target, err);
    if (st == TS_OK)
        st = sch_tmpl_check_dtype("pool2d", args, err);
    if (st != TS_OK)
        return st;
    *p = (Pool){ v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], 0, 0 };
    if (p->kind != 0 && p->kind != 1)
        return ts_fail(err, TS_EINVAL, "pool2d: kind=%lld must be 0 (max) or 1 (average)",
                       (long long)p->kind);
    return sch_window_extents("pool2d", "window", p->h, p->w, p->r, p->s, p->stride, p->pad, &p->oh,
                              &p->ow, err);
}

static TsStatus pool_define_space(const TsTemplateArgs *args, const TsTemplateTarget *target,
                                  TsConfigSpace *space, TsError *err)
{
    Pool p;
    TsStatus st = read_pool(args, target, &p, err);
    if (st != TS_OK)
        return st;
    return sch_define_window_space(space, target, p.c, p.ow, 8, err);
}

/* The rule: one vector of channels (or a power-of-two part of one), 4 positions, the
 * window's row unrolled. */
static TsStatus pool_default_config(const TsTemplateArgs *args, const TsTemplateTarget *target,
                                    const TsConfigSpace *space, TsConfig *out, TsError *err)
{
    Pool p;
    TsStatus st = read_pool(args, target, &p, err);
    if (st != TS_OK)
        return st;
    return sch_window_default(space, target, p.c, 4, out, err);
}

/* The number of input points in the window along one dimension: min(start + k, size) -
 * max(start, 0) with start = o * stride - pad. */
static TsExpr *window_count(TsArena *A, TsExpr *o, int64_t stride, int64_t pad, int64_t k,
                            int64_t size)
{
    TsExpr *start = ts_sub(A, ts_mul(A, o, ts_i32(A, stride)), ts_i32(A, pad));
    return ts_sub(A, ts_min(A, ts_add(A, start, ts_i32(A, k)), ts_i32(A, size)),
                  ts_max(A, start, ts_i32(A, 0)));
}

typedef struct PoolTensors {
    TsTensor *data, *acc, *out;
} PoolTensors;

static void pool_expression(TsArena *A, const Pool *p, int64_t cb, PoolTensors *t)
{
    t->data =
        ts_placeholder(A, "data", 5, (int64_t[]){ p->n, p->c / cb, p->h, p->w, cb }, TS_FLOAT32);
    TsAxis *n = ts_axis(A, "n", p->n), *cc = ts_axis(A, "cc", p->c / cb);
    TsAxis *oh = ts_axis(A, "oh", p->oh), *ow = ts_axis(A, "ow", p->ow);
    TsAxis *b = ts_axis(A, "cb", cb);
    TsAxis *kh = ts_reduce_axis(A, "kh", p->r), *kw = ts_reduce_axis(A, "kw", p->s);
    TsExpr *y = ts_sub(A, ts_add(A, ts_mul(A, ts_var(oh), ts_i32(A, p->stride)), ts_var(kh)),
                       ts_i32(A, p->pad));
    TsExpr *x = ts_sub(A, ts_add(A, ts_mul(A, ts_var(ow), ts_i32(A, p->stride)), ts_var(kw)),
                       ts_i32(A, p->pad));
    TsExpr *inside = ts_and(A, ts_and(A, ts_ge(A, y, ts_i32(A, 0)), ts_lt(A, y, ts_i32(A, p->h))),
                            ts_and(A, ts_ge(A, x, ts_i32(A, 0)), ts_lt(A, x, ts_i32(A, p->w))));
    TsExpr *value = ts_at(A, t->data, ts_var(n), ts_var(cc), y, x, ts_var(b));
    TsAxis *window[2] = { kh, kw };
    TsExpr *reduced = p->kind == 0 ? ts_reduce_max(A, value, 2, window, inside)
                                   : ts_sum(A, value, 2, window, inside);
    t->acc = ts_compute(A, "pool_acc", 5, (TsAxis *[]){ n, cc, oh, ow, b }, reduced);
    TsAxis *n2 = ts_axis(A, "n", p->n), *cc2 = ts_axis(A, "cc", p->c / cb);
    TsAxis *oh2 = ts_axis(A, "oh", p->oh), *ow2 = ts_axis(A, "ow", p->ow);
    TsAxis *b2 = ts_axis(A, "cb", cb);
    TsExpr *result =
        ts_at(A, t->acc, ts_var(n2), ts_var(cc2), ts_var(oh2), ts_var(ow2), ts_var(b2));
    if (p->kind == 1) {
        TsExpr *count = ts_mul(A, window_count(A, ts_var(oh2), p->stride, p->pad, p->r, p->h),
                               window_count(A, ts_var(ow2), p->stride, p->pad, p->s, p->w));
        result = ts_div(A, result, ts_cast(A, TS_FLOAT32, count));
    }
    t->out = ts_compute_tagged(A, "pool2d_NCHWc", "pool2d_NCHWc", 5,
                               (TsAxis *[]){ n2, cc2, oh2, ow2, b2 }, result);
}

static TsStatus pool_instantiate(const TsTemplateArgs *args, const TsTemplateTarget *target,
                                 const TsConfig *config, TsArena *arena, TsTemplateInstance *out,
                                 TsError *err)
{
    Pool p;
    SchWindowKnobs kn;
    TsStatus st = read_pool(args, target, &p, err);
    if (st == TS_OK)
        st = sch_read_window_knobs(config, &kn, err);
    if (st != TS_OK)
        return st;
    if (p.c % kn.cb)
        return ts_fail(err, TS_EINVAL, "pool2d: channel block %lld must divide C=%lld",
                       (long long)kn.cb, (long long)p.c);
    PoolTensors t;
    pool_expression(arena, &p, kn.cb, &t);
    if ((st = ts_arena_check(arena, err)) != TS_OK)
        return st;
    TsSchedule *sch = ts_schedule_create(arena, 1, &t.out);
    if (!sch)
        return ts_arena_check(arena, err);
    st = sch_schedule_window_op(sch, t.out, t.acc, &kn, err);
    if (st != TS_OK)
        return st;
    *out = (TsTemplateInstance){
        .sch = sch, .num_tensors = 2, .num_outputs = 1, .tensors = { t.data, t.out }
    };
    return TS_OK;
}

/* One operation per window point (a comparison or an addition), plus the division. */
static double pool_flop(const TsTemplateArgs *args)
{
    Pool p;
    if (read_pool(args, &sch_any_target, &p, NULL) != TS_OK)
        return 0;
    return (double)p.n * (double)p.c * (double)p.oh * (double)p.ow *
           ((double)p.r * (double)p.s + (double)p.kind);
}

const TsTemplate sch_template_pool2d = {
    .name = "pool2d_NCHWc",
    .op = "pool2d",
    .summary = "max or average pooling on NCHW[x]c data: channel lanes as vectors, blocks "
               "of output positions; any x86-64 or AArch64 target (knobs follow its vector width)",
    .dtypes = sch_dtypes_f32,
    .arg_names = arg_names,
    .define_space = pool_define_space,
    .default_config = pool_default_config,
    .instantiate = pool_instantiate,
    .flop = pool_flop,
};
