/* Blocked-channel layouts of the operator library: data NCHW <-> NCHW[x]c
 * ([N, C / cb, H, W, cb], as TVM's x86 conv2d_NCHWc computes in), and the weights'
 * OIHW -> OIHW[i]i[o]o ([O / oc_bn, I / ic_bn, KH, KW, ic_bn, oc_bn]) for conv2d and
 * OIHW [C, 1, KH, KW] -> [C / cb, KH, KW, cb] for depthwise conv2d. Each is one compute op
 * tagged "layout_transform" that only moves elements (any dtype), so the conv2d,
 * depthwise and pooling templates can be fed and checked through them, and a graph pass
 * can keep data in NCHW[x]c between layers and convert only at its edges. */
#include "ops_internal.h"

/* The tensor is checked, of rank ndim, and its dimension dim divisible by block >= 1. */
static bool blocked(TsArena *arena, const char *op, const char *what, const TsTensor *t,
                    TeOpShape *shape, int ndim, int dim, int64_t block, const char *block_name)
{
    if (!te_op_tensor(arena, op, what, t, shape) || !te_op_rank(arena, op, what, t, shape, ndim))
        return false;
    if (block < 1 || block > TS_MAX_EXTENT || shape->dim[dim] % block != 0) {
        ts_arena_fail(arena, TS_EINVAL, "%s: %s %lld does not divide %s's dimension %d (%lld)", op,
                      block_name, (long long)block, what, dim, (long long)shape->dim[dim]);
        return false;
    }
    return true;
}

/* outer * block + inner. */
static TsExpr *join(TsArena *arena, TsAxis *outer, int64_t block, TsAxis *inner)
{
    return ts_add(arena, te_op_scale(arena, ts_var(outer), block), ts_var(inner));
}

TsTensor *ts_op_nchwc_pack(TsArena *arena, TsTensor *data, int64_t cb)
{
    TeOpShape s;
    if (!arena || !blocked(arena, "nchwc_pack", "data", data, &s, 4, 1, cb, "channel block"))
        return NULL;
    TsAxis *n = ts_axis(arena, "n", s.dim[0]), *cc = ts_axis(arena, "cc", s.dim[1] / cb);
    TsAxis *y = ts_axis(arena, "y", s.dim[2]), *x = ts_axis(arena, "x", s.dim[3]);
    TsAxis *b = ts_axis(arena, "cb", cb);
    return ts_compute_tagged(
        arena, "data_nchwc", "layout_transform", 5, (TsAxis *[]){ n, cc, y, x, b },
        ts_at(arena, data, ts_var(n), join(arena, cc, cb, b), ts_var(y), ts_var(x)));
}

TsTensor *ts_op_nchwc_unpack(TsArena *arena, TsTensor *data)
{
    TeOpShape s;
    if (!arena || !te_op_tensor(arena, "nchwc_unpack", "data", data, &s) ||
        !te_op_rank(arena, "nchwc_unpack", "data", data, &s, 5))
        return NULL;
    int64_t cb = s.dim[4];
    if (s.dim[1] * cb > TS_MAX_EXTENT) {
        ts_arena_fail(arena, TS_EINVAL, "nchwc_unpack: %lld x %lld channels exceed %lld",
                      (long long)s.dim[1], (long long)cb, (long long)TS_MAX_EXTENT);
        return NULL;
    }
    TsAxis *n = ts_axis(arena, "n", s.dim[0]), *c = ts_axis(arena, "c", s.dim[1] * cb);
    TsAxis *y = ts_axis(arena, "y", s.dim[2]), *x = ts_axis(arena, "x", s.dim[3]);
    TsExpr *block = ts_i32(arena, cb);
    return ts_compute_tagged(arena, "data_nchw", "layout_transform", 4, (TsAxis *[]){ n, c, y, x },
                             ts_at(arena, data, ts_var(n), ts_floordiv(arena, ts_var(c), block),
                                   ts_var(y), ts_var(x), ts_floormod(arena, ts_var(c), block)));
}

TsTensor *ts_op_nchwc_pack_weight(TsArena *arena, TsTensor *weight, int64_t ic_bn, int64_t oc_bn)
{
    TeOpShape s;
    const char *op = "nchwc_pack_weight";
    if (!arena || !blocked(arena, op, "weight", weight, &s, 4, 0, oc_bn, "oc_bn") ||
        !blocked(arena, op, "weight", weight, &s, 4, 1, ic_bn, "ic_bn"))
        return NULL;
    TsAxis *o = ts_axis(arena, "oc", s.dim[0] / oc_bn), *i = ts_axis(arena, "ic", s.dim[1] / ic_bn);
    TsAxis *r = ts_axis(arena, "r", s.dim[2]), *t = ts_axis(arena, "s", s.dim[3]);
    TsAxis *ib = ts_axis(arena, "ib", ic_bn), *ob = ts_axis(arena, "ob", oc_bn);
    return ts_compute_tagged(arena, "weight_packed", "layout_transform", 6,
                             (TsAxis *[]){ o, i, r, t, ib, ob },
                             ts_at(arena, weight, join(arena, o, oc_bn, ob),
                                   join(arena, i, ic_bn, ib), ts_var(r), ts_var(t)));
}

TsTensor *ts_op_nchwc_pack_depthwise_weight(TsArena *arena, TsTensor *weight, int64_t cb)
{
    TeOpShape s;
    const char *op = "nchwc_pack_depthwise_weight";
    if (!arena || !blocked(arena, op, "weight", weight, &s, 4, 0, cb, "channel block"))
        return NULL;
    if (s.dim[1] != 1) {
        ts_arena_fail(arena, TS_EINVAL,
                      "%s: weight must be [C, 1, KH, KW], has %lld input "
                      "channels per group",
                      op, (long long)s.dim[1]);
        return NULL;
    }
    TsAxis *c = ts_axis(arena, "cc", s.dim[0] / cb), *r = ts_axis(arena, "r", s.dim[2]);
    TsAxis *t = ts_axis(arena, "s", s.dim[3]), *b = ts_axis(arena, "cb", cb);
    return ts_compute_tagged(
        arena, "weight_packed", "layout_transform", 4, (TsAxis *[]){ c, r, t, b },
        ts_at(arena, weight, join(arena, c, cb, b), ts_i32(arena, 0), ts_var(r), ts_var(t)));
}
