/* Layouts of the low-precision kernels, whose hardware multiplies groups of narrow
 * elements and adds each group into one 32-bit lane: AVX-512 VNNI vpdpbusd and AArch64
 * sdot/udot take 4 int8 products per lane, AVX512-BF16 vdpbf16ps 2 bf16 products, and
 * AMX's B tiles are rows of such groups (4 int8 or 2 bf16 per 32-bit column). The
 * reduction axis is therefore split into groups that sit innermost, beside the output
 * channels a vector holds:
 *
 * - data NCHW -> NCHW[cb]c, [N, ceil(C / cb), H, W, cb], the channels past C set to a
 *   fill value (the data's zero point in a quantized convolution, so that they add
 *   nothing once the zero point is subtracted; 0 otherwise);
 * - conv2d weight OIHW -> [ceil(O / oc_bn), ceil(I / ic_bn), KH, KW, ic_bn / g, oc_bn, g]
 *   (TVM's OIHW[ic_bn/4]i[oc_bn]o4i for VNNI with g = 4), channels past O or I zero;
 * - dense weight [N, K] -> [ceil(N / n_bn), ceil(K / g), n_bn, g], rows past N and
 *   columns past K zero: with n_bn = 16 and g = 4 (int8) or 2 (bf16), a run of 16
 *   consecutive K-groups of one N block is an AMX B tile of 16 rows x 64 bytes.
 *
 * Channel counts that no block divides are padded, not refused: the kernels then run
 * whole vectors and tiles, and the padding multiplies by zero. Each op is one compute
 * stage tagged "layout_transform" that only moves elements (any dtype). */
#include "ops_internal.h"

/* ceil(n / block) * block stays an int32 extent. */
static bool padded_extent(TsArena *arena, const char *op, const char *what, int64_t n,
                          int64_t block, const char *block_name)
{
    if (block < 1 || block > TS_MAX_EXTENT) {
        ts_arena_fail(arena, TS_EINVAL, "%s: %s %lld must be in [1, %lld]", op, block_name,
                      (long long)block, (long long)TS_MAX_EXTENT);
        return false;
    }
    if ((n + block - 1) / block * block > TS_MAX_EXTENT) {
        ts_arena_fail(arena, TS_EINVAL, "%s: %s %lld padded to blocks of %lld exceeds %lld", op,
                      what, (long long)n, (long long)block, (long long)TS_MAX_EXTENT);
        return false;
    }
    return true;
}

/* outer * block + inner. */
static TsExpr *join(TsArena *arena, TsExpr *outer, int64_t block, TsExpr *inner)
{
    return ts_add(arena, te_op_scale(arena, outer, block), inner);
}

/* cond && (index < extent), where index < extent is needed only when padded > extent. */
static TsExpr *and_inside(TsArena *arena, TsExpr *cond, TsExpr *index, int64_t extent,
                          int64_t padded)
{
    if (padded == extent)
        return cond;
    TsExpr *inside = ts_lt(arena, index, ts_i32(arena, extent));
    return cond ? ts_and(arena, cond, inside) : inside;
}

static TsExpr *guarded(TsArena *arena, TsExpr *cond, TsExpr *load, TsExpr *fill)
{
    return cond ? ts_if_then_else(arena, cond, load, fill) : load;
}

TsTensor *ts_op_nchwc_pack_fill(TsArena *arena, TsTensor *data, int64_t cb, double fill)
{
    const char *op = "nchwc_pack_fill";
    TeOpShape s;
    if (!arena || !te_op_tensor(arena, op, "data", data, &s) ||
        !te_op_rank(arena, op, "data", data, &s, 4) ||
        !padded_extent(arena, op, "channels", s.dim[1], cb, "channel block"))
        return NULL;
    TsExpr *fill_value = te_op_const(arena, op, "fill", ts_tensor_dtype(data), fill);
    if (!fill_value)
        return NULL;
    int64_t blocks = (s.dim[1] + cb - 1) / cb;
    TsAxis *n = ts_axis(arena, "n", s.dim[0]), *cc = ts_axis(arena, "cc", blocks);
    TsAxis *y = ts_axis(arena, "y", s.dim[2]), *x = ts_axis(arena, "x", s.dim[3]);
    TsAxis *b = ts_axis(arena, "cb", cb);
    TsExpr *c = join(arena, ts_var(cc), cb, ts_var(b));
    TsExpr *load = ts_at(arena, data, ts_var(n), c, ts_var(y), ts_var(x));
    TsExpr *cond = and_inside(arena, NULL, c, s.dim[1], blocks * cb);
    return ts_compute_tagged(arena, "data_nchwc", "layout_transform", 5,
                             (TsAxis *[]){ n, cc, y, x, b },
                             guarded(arena, cond, load, fill_value));
}

/* group >= 1 divides the block it splits. */
static bool group_divides(TsArena *arena, const char *op, int64_t group, int64_t block,
                          const char *block_name)
{
    if (group < 1 || block % group != 0) {
        ts_arena_fail(arena, TS_EINVAL, "%s: group %lld must be >= 1 and divide %s %lld", op,
                      (long long)group, block_name, (long long)block);
        return false;
    }
    return true;
}

TsTensor *ts_op_conv2d_pack_weight_dot(TsArena *arena, TsTensor *weight, int64_t ic_bn,
                                       int64_t oc_bn, int64_t group)
{
    const char *op = "conv2d_pack_weight_dot";
    TeOpShape s;
    if (!arena || !te_op_tensor(arena, op, "weight", weight, &s) ||
        !te_op_rank(arena, op, "weight", weight, &s, 4) ||
        !padded_extent(arena, op, "output channels", s.dim[0], oc_bn, "oc_bn") ||
        !padded_extent(arena, op, "input channels", s.dim[1], ic_bn, "ic_bn") ||
        !group_divides(arena, op, group, ic_bn, "ic_bn"))
        return NULL;
    TsExpr *zero = te_op_const(arena, op, "zero", ts_tensor_dtype(weight), 0);
    if (!zero)
        return NULL;
    int64_t oblocks = (s.dim[0] + oc_bn - 1) / oc_bn, iblocks = (s.dim[1] + ic_bn - 1) / ic_bn;
    TsAxis *o = ts_axis(arena, "oc", oblocks), *i = ts_axis(arena, "ic", iblocks);
    TsAxis *r = ts_axis(arena, "r", s.dim[2]), *t = ts_axis(arena, "s", s.dim[3]);
    TsAxis *ig = ts_axis(arena, "ig", ic_bn / group), *ob = ts_axis(arena, "ob", oc_bn);
    TsAxis *g = ts_axis(arena, "g", group);
    TsExpr *oc = join(arena, ts_var(o), oc_bn, ts_var(ob));
    TsExpr *ic = join(arena, ts_var(i), ic_bn, join(arena, ts_var(ig), group, ts_var(g)));
    TsExpr *cond = and_inside(arena, NULL, oc, s.dim[0], oblocks * oc_bn);
    cond = and_inside(arena, cond, ic, s.dim[1], iblocks * ic_bn);
    TsExpr *load = ts_at(arena, weight, oc, ic, ts_var(r), ts_var(t));
    return ts_compute_tagged(arena, "weight_packed", "layout_transform", 7,
                             (TsAxis *[]){ o, i, r, t, ig, ob, g },
                             guarded(arena, cond, load, zero));
}

TsTensor *ts_op_dense_pack_weight_dot(TsArena *arena, TsTensor *weight, int64_t n_bn, int64_t group)
{
    const char *op = "dense_pack_weight_dot";
    TeOpShape s;
    if (!arena || !te_op_tensor(arena, op, "weight", weight, &s) ||
        !te_op_rank(arena, op, "weight", weight, &s, 2) ||
        !padded_extent(arena, op, "rows", s.dim[0], n_bn, "n_bn") ||
        !padded_extent(arena, op, "columns", s.dim[1], group, "group"))
        return NULL;
    TsExpr *zero = te_op_const(arena, op, "zero", ts_tensor_dtype(weight), 0);
    if (!zero)
        return NULL;
    int64_t nblocks = (s.dim[0] + n_bn - 1) / n_bn, kgroups = (s.dim[1] + group - 1) / group;
    TsAxis *no = ts_axis(arena, "no", nblocks), *kg = ts_axis(arena, "kg", kgroups);
    TsAxis *ni = ts_axis(arena, "ni", n_bn), *g = ts_axis(arena, "g", group);
    TsExpr *row = join(arena, ts_var(no), n_bn, ts_var(ni));
    TsExpr *col = join(arena, ts_var(kg), group, ts_var(g));
    TsExpr *cond = and_inside(arena, NULL, row, s.dim[0], nblocks * n_bn);
    cond = and_inside(arena, cond, col, s.dim[1], kgroups * group);
    TsExpr *load = ts_at(arena, weight, row, col);
    return ts_compute_tagged(arena, "weight_packed", "layout_transform", 4,
                             (TsAxis *[]){ no, kg, ni, g }, guarded(arena, cond, load, zero));
}
