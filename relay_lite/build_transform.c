/* Layout transforms as kernels of their own (the graph builder): a value converted
 * between NCHW and the blocked NCHW[x]c where it enters or leaves the blocked layers
 * (the model's input packed for the first conv, a conv's blocked result unpacked for a
 * graph output or an NCHW reader, or repacked into another block).
 *
 * The generic schedule walks the output's dimensions in order, so an unpack to NCHW
 * walks channels outside rows and reads the blocked input with a stride of a whole
 * block per element. Here the loops follow the blocked side instead:
 *   unpack [N, C/cb, H, W, cb] -> [N, C, H, W]:
 *     n, c.outer, h, w.outer, c.inner, w.inner (vectorized): a tile of cb channels x one
 *     vector of columns reads one contiguous stretch of the blocked row, and each
 *     channel's vector of columns is one contiguous store;
 *   pack [N, C, H, W] -> [N, C/cb, H, W, cb] (and a repack between blocks):
 *     n, c.outer, h, w, c.inner (vectorized): each position stores its block of
 *     channels contiguously, reading the same column of cb rows that stay in cache as w
 *     moves on.
 * n x c.outer runs on the thread pool when there are cores and work enough. */
#include <stdio.h>
#include <string.h>

#include "relay_lite/rly_build.h"
#include "tessera/ops.h"

enum { PARALLEL_MIN_ELEMENTS = 4096 };

static int64_t vector_lanes(const RlyBuild *b, const TsTensor *t)
{
    int bits = ts_tensor_dtype(t).bits;
    int64_t lanes = b->isa.vector_bits / (bits ? bits : 8);
    return lanes > 16 ? 16 : lanes;
}

static TsStatus parallel_outer(RlyBuild *b, TsStage *stage, const TsTensor *out, TsAxis *n,
                               TsAxis *c_outer, TsError *err)
{
    if (b->isa.num_cores < 2 || ts_tensor_num_elements(out) < PARALLEL_MIN_ELEMENTS)
        return TS_OK;
    TsAxis *fused;
    TsStatus st = ts_fuse(stage, n, c_outer, &fused, err);
    return st == TS_OK ? ts_parallel(stage, fused, err) : st;
}

/* out: [N, C, H, W] from a blocked input of block cb. */
static TsStatus schedule_unpack(RlyBuild *b, TsStage *stage, const TsTensor *out, int64_t cb,
                                TsError *err)
{
    TsAxis *n = ts_stage_root_axis(stage, 0), *y = ts_stage_root_axis(stage, 2);
    TsAxis *co, *ci, *xo, *xi;
    int64_t lanes = vector_lanes(b, out);
    TsStatus st = ts_split(stage, ts_stage_root_axis(stage, 1), cb, &co, &ci, err);
    if (st == TS_OK)
        st = ts_split(stage, ts_stage_root_axis(stage, 3), lanes, &xo, &xi, err);
    if (st == TS_OK)
        st = ts_reorder(stage, 6, (TsAxis *[]){ n, co, y, xo, ci, xi }, err);
    if (st == TS_OK && lanes >= 2)
        st = ts_vectorize(stage, xi, err);
    if (st == TS_OK)
        st = parallel_outer(b, stage, out, n, co, err);
    return st;
}

/* out: [N, C/kb, H, W, kb] from in, NCHW (ib 0) or blocked by ib. Where one block
 * divides the other, the loops split so that no index divides: kb = m * ib splits the
 * lane axis by ib, ib = m * kb the block axis by m. A lane axis of at least 4 is
 * vectorized (contiguous on both sides when the blocks nest); narrower blocks take the
 * unpack's tile, a vector of columns. */
static TsStatus schedule_pack(RlyBuild *b, TsStage *stage, const TsTensor *out, int64_t ib,
                              TsError *err)
{
    int64_t kb = ts_tensor_dim(out, 4), lanes = vector_lanes(b, out);
    TsAxis *n = ts_stage_root_axis(stage, 0), *cc = ts_stage_root_axis(stage, 1);
    TsAxis *y = ts_stage_root_axis(stage, 2), *x = ts_stage_root_axis(stage, 3);
    TsAxis *lane = ts_stage_root_axis(stage, 4), *co = cc, *ci = NULL, *xo, *xi, *lo;
    TsStatus st = TS_OK;
    bool nested = ib >= 4 && kb > ib && kb % ib == 0;
    if (nested)
        st = ts_split(stage, lane, ib, &lo, &lane, err);
    else if (ib > kb && ib % kb == 0)
        st = ts_split(stage, cc, ib / kb, &co, &ci, err);
    int64_t width = nested ? ib : kb;
    if (st == TS_OK && width >= 4) {
        if (width > lanes && width % lanes == 0)
            st = ts_split(stage, lane, lanes, &lo, &lane, err);
        if (st == TS_OK)
            st = ts_vectorize(stage, lane, err);
    } else if (st == TS_OK && lanes >= 2) {
        st = ts_split(stage, x, lanes, &xo, &xi, err);
        TsAxis *with_ci[] = { n, co, y, xo, ci, lane, xi }, *without[] = { n, co, y, xo, lane, xi };
        if (st == TS_OK)
            st = ci ? ts_reorder(stage, 7, with_ci, err) : ts_reorder(stage, 6, without, err);
        if (st == TS_OK)
            st = ts_vectorize(stage, xi, err);
    }
    if (st == TS_OK)
        st = parallel_outer(b, stage, out, n, co, err);
    return st;
}

TsStatus rly_schedule_layout(RlyBuild *b, TsSchedule *sch, TsTensor *out, const TsTensor *in,
                             TsError *err)
{
    TsTensor **stages;
    int num_stages = ts_dag_stages(b->arena, 1, &out, &stages);
    if (num_stages < 0)
        return ts_arena_check(b->arena, err);
    for (int i = 0; i < num_stages; i++) {
        if (stages[i] == out || ts_tensor_is_placeholder(stages[i]))
            continue;
        TsStatus st = ts_compute_inline(ts_stage(sch, stages[i]), err);
        if (st != TS_OK)
            return st;
    }
    TsStage *stage = ts_stage(sch, out);
    int in_ndim = ts_tensor_ndim(in), out_ndim = ts_tensor_ndim(out);
    if (out_ndim == 4 && in_ndim == 5)
        return schedule_unpack(b, stage, out, ts_tensor_dim(in, 4), err);
    if (out_ndim == 5)
        return schedule_pack(b, stage, out, in_ndim == 5 ? ts_tensor_dim(in, 4) : 0, err);
    return ts_fail(err, TS_EINVAL, "build: %s is no layout transform between NCHW and NCHW[x]c",
                   ts_tensor_name(out));
}

TsStatus rly_layout_kernel(RlyBuild *b, const RlyGroup *group, const RlyValue *from,
                           const RlyValue *to, const char *suffix, TsError *err)
{
    RlyValueMap map;
    TsStatus st = rly_map_init(b, &map, 2, err);
    if (st != TS_OK)
        return st;
    TsTensor *in = ts_placeholder(b->arena, "in", from->ndim, from->dims, from->dtype);
    TsTensor *out = in;
    if (out && from->ndim == 5)
        out = ts_op_nchwc_unpack(b->arena, out);
    if (out && to->ndim == 5)
        out = ts_op_nchwc_pack(b->arena, out, to->dims[4]);
    if (!out || out == in)
        return out ? ts_fail(err, TS_EINVAL, "build: %s to %s is no layout transform", from->name,
                             to->name)
                   : ts_arena_check(b->arena, err);
    rly_map_add(&map, from, in);
    rly_map_add(&map, to, out);
    TsSchedule *sch = ts_schedule_create(b->arena, 1, &out);
    if (!sch)
        return ts_arena_check(b->arena, err);
    st = rly_schedule_layout(b, sch, out, in, err);
    RlyKernel *k = &b->kernels[b->num_kernels];
    memset(k, 0, sizeof *k);
    if (st == TS_OK)
        st = rly_lower_kernel(b, sch, group, &map, rly_kernel_name(b, group, suffix), k, err);
    b->num_kernels += st == TS_OK;
    return st;
}
