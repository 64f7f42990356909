/* The blocked-channel layout NCHW[x]c that the conv2d, depthwise conv2d and pooling
 * templates compute in, as TVM's x86 conv2d_NCHWc does: the zero padding stage, the
 * choice of channel blocks, and the schedule and knobs the window operators share. The
 * conversions from and to NCHW (and of the weights from OIHW) are operators of te/ops
 * (ts_op_nchwc_pack and its kin in ops.h), where a graph pass can use them too. */
#include "tmpl_internal.h"

static TsExpr *i32(TsArena *A, int64_t v)
{
    return ts_i32(A, v);
}

/* 0 in dtype: the padding of float data and of the integer data of the int8 kernels. */
static TsExpr *zero_of(TsArena *A, TsDType dtype)
{
    if (ts_dtype_is_float(dtype))
        return ts_float(A, dtype, 0.0);
    return ts_dtype_is_uint(dtype) ? ts_uint(A, dtype, 0) : ts_int(A, dtype, 0);
}

TsTensor *sch_nchwc_pad(TsArena *A, TsTensor *data, int64_t pad)
{
    if (pad == 0 || !data)
        return data;
    int64_t h = ts_tensor_dim(data, 2), w = ts_tensor_dim(data, 3);
    TsAxis *an = ts_axis(A, "n", ts_tensor_dim(data, 0));
    TsAxis *ac = ts_axis(A, "cc", ts_tensor_dim(data, 1));
    TsAxis *ay = ts_axis(A, "y", h + 2 * pad), *ax = ts_axis(A, "x", w + 2 * pad);
    TsAxis *ab = ts_axis(A, "cb", ts_tensor_dim(data, 4));
    TsExpr *y = ts_sub(A, ts_var(ay), i32(A, pad)), *x = ts_sub(A, ts_var(ax), i32(A, pad));
    TsExpr *inside = ts_and(A, ts_and(A, ts_ge(A, y, i32(A, 0)), ts_lt(A, y, i32(A, h))),
                            ts_and(A, ts_ge(A, x, i32(A, 0)), ts_lt(A, x, i32(A, w))));
    TsExpr *value = ts_at(A, data, ts_var(an), ts_var(ac), y, x, ts_var(ab));
    return ts_compute_tagged(A, "data_pad", "pad", 5, (TsAxis *[]){ an, ac, ay, ax, ab },
                             ts_if_then_else(A, inside, value, zero_of(A, ts_tensor_dtype(data))));
}

TsStatus sch_define_channel_split(TsConfigSpace *space, const char *name, int64_t n, int64_t lanes,
                                  int64_t max, TsError *err)
{
    int64_t blocks[64], rows[128];
    int count = sch_channel_blocks(n, lanes, max, blocks, 64);
    for (int i = 0; i < count; i++) {
        rows[2 * i] = -1;
        rows[2 * i + 1] = blocks[i];
    }
    TsSplitOptions opt = {
        .policy = TS_SPLIT_CANDIDATES, .num_outputs = 2, .candidates = rows, .num_candidates = count
    };
    return ts_space_define_split(space, name, n, &opt, err);
}

TsStatus sch_window_extents(const char *op, const char *window, int64_t h, int64_t w, int64_t r,
                            int64_t s, int64_t stride, int64_t pad, int64_t *oh, int64_t *ow,
                            TsError *err)
{
    if (pad >= r || pad >= s)
        return ts_fail(err, TS_EINVAL, "%s: pad=%lld must be smaller than the %s %lldx%lld", op,
                       (long long)pad, window, (long long)r, (long long)s);
    if (h + 2 * pad < r || w + 2 * pad < s)
        return ts_fail(
            err, TS_EINVAL, "%s: %s R=%lld S=%lld is larger than the padded input %lldx%lld", op,
            window, (long long)r, (long long)s, (long long)(h + 2 * pad), (long long)(w + 2 * pad));
    *oh = (h + 2 * pad - r) / stride + 1;
    *ow = (w + 2 * pad - s) / stride + 1;
    return TS_OK;
}

TsStatus sch_define_window_space(TsConfigSpace *space, const TsTemplateTarget *target, int64_t c,
                                 int64_t ow, int64_t max_reg_n, TsError *err)
{
    int64_t lanes = sch_tmpl_lanes(target);
    TsStatus st = sch_define_channel_split(space, "tile_c", c, lanes, 4 * lanes, err);
    TsSplitOptions ow_opt = { .policy = TS_SPLIT_POWER2,
                              .num_outputs = 2,
                              .max_factor = max_reg_n };
    if (st == TS_OK)
        st = ts_space_define_split(space, "tile_ow", ow, &ow_opt, err);
    static const int64_t on_off[] = { 0, 1 };
    if (st == TS_OK)
        st = ts_space_define_knob(space, "unroll_kw", 2, on_off, err);
    if (st == TS_OK)
        st = ts_space_define_knob(space, "parallel", target->num_cores > 1 ? 2 : 1, on_off, err);
    return st;
}

TsStatus sch_read_window_knobs(const TsConfig *config, SchWindowKnobs *kn, TsError *err)
{
    int64_t f[TS_KNOB_MAX_OUTPUTS] = { 0 };
    int n;
    TsStatus st = ts_config_split(config, "tile_c", f, TS_KNOB_MAX_OUTPUTS, &n, err);
    kn->cb = f[1];
    if (st == TS_OK)
        st = ts_config_split(config, "tile_ow", f, TS_KNOB_MAX_OUTPUTS, &n, err);
    kn->reg_n = f[1];
    kn->unroll_kw = sch_tmpl_knob(config, "unroll_kw", err, &st);
    kn->parallel = sch_tmpl_knob(config, "parallel", err, &st);
    return st;
}

TsStatus sch_window_default(const TsConfigSpace *space, const TsTemplateTarget *target,
                            int64_t channels, int64_t reg_n, TsConfig *out, TsError *err)
{
    int64_t c[] = { sch_vector_block(channels, sch_tmpl_lanes(target), 1) };
    int64_t ow[] = { reg_n };
    sch_tmpl_config_init(space, out);
    TsStatus st = sch_tmpl_want_split(out, "tile_c", c, 1, err);
    if (st == TS_OK)
        st = sch_tmpl_want_split(out, "tile_ow", ow, 1, err);
    if (st == TS_OK)
        st = sch_tmpl_want_knob(out, "unroll_kw", 1, err);
    if (st == TS_OK)
        st = sch_tmpl_want_knob(out, "parallel", target->num_cores > 1, err);
    if (st == TS_OK)
        st = sch_tmpl_config_finish(out, err);
    return st;
}

TsStatus sch_schedule_window_op(TsSchedule *sch, TsTensor *out, TsTensor *acc,
                                const SchWindowKnobs *kn, TsError *err)
{
    int64_t reg_n = kn->reg_n;
    TsStage *st = ts_stage(sch, out), *sa = ts_stage(sch, acc);
    TsAxis *owo, *owi, *fused, *aowo, *aowi;
    TsStatus s = ts_split(st, ts_stage_root_axis(st, 3), reg_n, &owo, &owi, err);
    if (s == TS_OK)
        s = ts_vectorize(st, ts_stage_root_axis(st, 4), err);
    if (s == TS_OK)
        s = ts_unroll(st, owi, err);
    if (s == TS_OK && kn->parallel) {
        s = ts_fuse(st, ts_stage_root_axis(st, 0), ts_stage_root_axis(st, 1), &fused, err);
        if (s == TS_OK)
            s = ts_parallel(st, fused, err);
    }
    if (s == TS_OK)
        s = ts_compute_at(sa, st, owo, err);
    /* acc's loops: n cc oh ow.outer kh kw ow.inner cb */
    TsAxis *root[7];
    for (int i = 0; i < 7; i++)
        root[i] = ts_stage_root_axis(sa, i);
    if (s == TS_OK)
        s = ts_split(sa, root[3], reg_n, &aowo, &aowi, err);
    if (s == TS_OK)
        s = ts_reorder(
            sa, 8, (TsAxis *[]){ root[0], root[1], root[2], aowo, root[5], root[6], aowi, root[4] },
            err);
    if (s == TS_OK && kn->unroll_kw)
        s = ts_unroll(sa, root[6], err);
    if (s == TS_OK)
        s = ts_unroll(sa, aowi, err);
    if (s == TS_OK)
        s = ts_vectorize(sa, root[4], err);
    return s;
}

int64_t sch_vector_block(int64_t n, int64_t lanes, int64_t max_vectors)
{
    int64_t best = 0;
    for (int64_t v = 1; v <= max_vectors; v *= 2)
        if (n % (lanes * v) == 0)
            best = lanes * v;
    if (best > 0)
        return best;
    best = 1;
    for (int64_t d = 2; d < lanes; d *= 2)
        if (n % d == 0)
            best = d;
    return best;
}

int sch_channel_blocks(int64_t n, int64_t lanes, int64_t max, int64_t *out, int cap)
{
    int count = 0;
    for (int64_t d = lanes; d <= n && d <= max && count < cap; d += lanes)
        if (n % d == 0)
            out[count++] = d;
    if (count > 0)
        return count;
    for (int64_t d = 1; d <= n && d <= max && count < cap; d++)
        if (n % d == 0)
            out[count++] = d;
    return count;
}

TsStatus sch_schedule_conv_output(TsSchedule *sch, TsTensor *final, TsTensor *acc, int64_t oh_bn,
                                  int64_t reg_n, bool parallel, TsError *err)
{
    TsStage *st = ts_stage(sch, final);
    TsAxis *n = ts_stage_root_axis(st, 0), *oc = ts_stage_root_axis(st, 1);
    TsAxis *ob = ts_stage_root_axis(st, 4), *oho, *ohi, *owo, *owi, *fused;
    TsStatus s = ts_split(st, ts_stage_root_axis(st, 2), oh_bn, &oho, &ohi, err);
    if (s == TS_OK)
        s = ts_split(st, ts_stage_root_axis(st, 3), reg_n, &owo, &owi, err);
    if (s == TS_OK)
        s = ts_reorder(st, 7, (TsAxis *[]){ n, oc, oho, owo, ohi, owi, ob }, err);
    if (s == TS_OK)
        s = ts_vectorize(st, ob, err);
    if (s == TS_OK)
        s = ts_unroll(st, owi, err);
    if (s == TS_OK && oh_bn > 1)
        s = ts_unroll(st, ohi, err);
    if (s == TS_OK && parallel) {
        s = ts_fuse(st, n, oc, &fused, err);
        if (s == TS_OK)
            s = ts_parallel(st, fused, err);
    }
    if (s == TS_OK)
        s = ts_compute_at(ts_stage(sch, acc), st, owo, err);
    return s;
}
