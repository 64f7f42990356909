/* Register-blocked dot-product intrinsics for the int8 conv2d templates (conv2d_int8.c):
 * one output block of rows positions by oc_bn channels (vectors of lanes int32 lanes)
 * with its whole reduction, over input channel blocks, kernel rows, kernel columns and
 * groups of 4 input channels, in one intrinsic, declared per instance at its shape:
 *
 *   c[i, j] += sum over ic, kh, kw, k, g of a[ic, kh, kw, i, k, g] * b[ic, kh, kw, k, j, g]
 *   (i < rows, j < oc_bn, k < depth, g < 4; a the data, b the packed weights)
 *
 * a's and b's outer four dimensions, and c's rows, may have any stride; a group of 4 is
 * contiguous, b's output channels 4 elements apart, c's channels contiguous. The code is
 * codegen's "tessera.dot_block.<product>" statement (codegen/dot_block.c), which keeps
 * the rows x vectors accumulators in registers from the first product to the store: per
 * step of the reduction, only the loads of the data groups (broadcast) and of the weight
 * vectors, and the products. Called once per product instead, as the 16 x 4 and 4 x 4
 * intrinsics of intrin_x86.c and intrin_aarch64.c are, the accumulator is loaded and
 * stored at every step. */
#include <stdio.h>

#include "tmpl_internal.h"

#include "tessera/intrin.h"

enum { GROUP = 4 };

static TsExpr *i64(TsArena *A, int64_t v)
{
    return ts_int(A, TS_INT64, v);
}

/* A region's dimension dim's stride in bytes, its elements of bytes bytes. */
static TsExpr *stride_bytes(TsArena *A, const TsIntrinRegion *region, int dim, int64_t bytes)
{
    return i64(A, bytes * ts_intrin_region_stride(region, dim));
}

static TsStmt *block_call(TsArena *A, const TsIntrinRegion *const *regions, const SchDotBlock *d,
                          bool accumulate)
{
    const TsIntrinRegion *a = regions[0], *b = regions[1], *c = regions[2];
    int64_t eb = ts_dtype_bytes(ts_tensor_dtype(ts_intrin_region_tensor(b)));
    TsExpr *args[22] = { ts_i32(A, d->rows), ts_i32(A, (int32_t)(d->oc_bn / d->lanes)) };
    args[2] = ts_intrin_region_address(A, c, NULL);
    args[3] = stride_bytes(A, c, 0, 4);
    args[4] = i64(A, 4 * (int64_t)d->lanes);
    args[5] = ts_intrin_region_address(A, a, NULL);
    args[6] = stride_bytes(A, a, 3, 1);
    args[7] = ts_intrin_region_address(A, b, NULL);
    args[8] = i64(A, eb * GROUP * d->lanes);
    args[9] = ts_i32(A, accumulate ? 1 : 0);
    /* levels, innermost first: k (a dim 4, b dim 3), kw, kh, ic */
    const int64_t steps[4] = { d->depth, d->s, d->r, d->icb };
    const int a_dim[4] = { 4, 2, 1, 0 }, b_dim[4] = { 3, 2, 1, 0 };
    for (int l = 0; l < 4; l++) {
        args[10 + 3 * l] = ts_i32(A, (int32_t)steps[l]);
        args[11 + 3 * l] = stride_bytes(A, a, a_dim[l], 1);
        args[12 + 3 * l] = stride_bytes(A, b, b_dim[l], eb);
    }
    char name[64];
    snprintf(name, sizeof name, "tessera.dot_block.%s", d->product);
    return ts_intrin_call(A, ts_arena_strdup(A, name), 22, args);
}

static TsStmt *block_body(TsArena *A, const TsIntrin *intrin, const TsIntrinRegion *const *regions,
                          void *user)
{
    (void)intrin;
    return block_call(A, regions, user, false);
}

static TsStmt *block_update(TsArena *A, const TsIntrin *intrin,
                            const TsIntrinRegion *const *regions, void *user)
{
    (void)intrin;
    return block_call(A, regions, user, true);
}

/* Zeros in every output vector. */
static TsStmt *block_reset(TsArena *A, const TsIntrin *intrin, const TsIntrinRegion *const *regions,
                           void *user)
{
    const SchDotBlock *d = user;
    const TsIntrinRegion *c = regions[ts_intrin_num_inputs(intrin)];
    int vecs = d->oc_bn / d->lanes, n = d->rows * vecs;
    TsStmt **stores = ts_arena_alloc(A, sizeof *stores * (size_t)n);
    if (!stores)
        return NULL;
    for (int r = 0; r < d->rows; r++)
        for (int v = 0; v < vecs; v++) {
            int64_t off = r * ts_intrin_region_stride(c, 0) + (int64_t)v * d->lanes;
            stores[r * vecs + v] = ts_intrin_region_store(
                A, c, ts_i32(A, (int32_t)off), ts_intrin_broadcast(A, ts_i32(A, 0), d->lanes));
        }
    return ts_intrin_seq(A, n, stores);
}

TsStatus sch_dot_block_declare(TsArena *A, const SchDotBlock *shape, const TsIntrin **out,
                               TsError *err)
{
    SchDotBlock *d = ts_arena_alloc(A, sizeof *d);
    if (d)
        *d = *shape;
    char name[96];
    snprintf(name, sizeof name, "dot_block.%s.%dx%dx%lld", shape->product, shape->rows,
             shape->oc_bn, (long long)(shape->icb * shape->r * shape->s * shape->depth * GROUP));
    TsTensor *ta = ts_placeholder(
        A, "a", 6, (int64_t[]){ shape->icb, shape->r, shape->s, shape->rows, shape->depth, GROUP },
        shape->data);
    TsTensor *tb = ts_placeholder(
        A, "b", 6, (int64_t[]){ shape->icb, shape->r, shape->s, shape->depth, shape->oc_bn, GROUP },
        shape->weight);
    TsAxis *i = ts_axis(A, "i", shape->rows), *j = ts_axis(A, "j", shape->oc_bn);
    TsAxis *ic = ts_reduce_axis(A, "ic", shape->icb), *kh = ts_reduce_axis(A, "kh", shape->r);
    TsAxis *kw = ts_reduce_axis(A, "kw", shape->s), *k = ts_reduce_axis(A, "k", shape->depth);
    TsAxis *g = ts_reduce_axis(A, "g", GROUP);
    TsExpr *va = ts_at(A, ta, ts_var(ic), ts_var(kh), ts_var(kw), ts_var(i), ts_var(k), ts_var(g));
    TsExpr *vb = ts_at(A, tb, ts_var(ic), ts_var(kh), ts_var(kw), ts_var(k), ts_var(j), ts_var(g));
    TsExpr *prod = ts_mul(A, ts_cast(A, TS_INT32, va), ts_cast(A, TS_INT32, vb));
    TsTensor *c = ts_compute(A, "c", 2, (TsAxis *[]){ i, j },
                             ts_sum(A, prod, 5, (TsAxis *[]){ ic, kh, kw, k, g }, NULL));
    TsStatus st = ts_arena_check(A, err);
    TsIntrin *in = NULL;
    if (st == TS_OK)
        st = ts_intrin_declare(A, name, c, 2, (TsTensor *[]){ ta, tb }, &in, err);
    const int64_t any = TS_INTRIN_STRIDE_ANY;
    if (st == TS_OK)
        st = ts_intrin_set_strides(in, ta, (int64_t[]){ any, any, any, any, GROUP, 1 }, err);
    if (st == TS_OK)
        st = ts_intrin_set_strides(in, tb, (int64_t[]){ any, any, any, any, GROUP, 1 }, err);
    if (st == TS_OK)
        st = ts_intrin_set_strides(in, c, (int64_t[]){ any, 1 }, err);
    for (int f = 0; shape->features[f] && st == TS_OK; f++)
        st = ts_intrin_require(in, shape->features[f], err);
    if (st == TS_OK)
        st = ts_intrin_set_emitters(in, block_body, block_reset, block_update, d, err);
    *out = in;
    return st;
}
