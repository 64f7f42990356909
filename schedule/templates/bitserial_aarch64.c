/* The AArch64 templates of bitserial conv2d ("bitserial_conv2d_aarch64") and bitserial
 * dense ("bitserial_dense_aarch64"): activations of abits and weights of wbits bits
 * (1 to 8), summed exactly in int32, with one of three NEON schemes chosen by the widths.
 * Arguments N C H W K R S stride pad abits wbits (dense: M N K abits wbits).
 *
 * The encoding of the op (0/1 x 0/1, 0/1 x +-1, +-1 x +-1) is folded in before and after
 * these kernels: a +-1 value of b bits, sum 2^i (2 bit_i - 1), is 2 v - (2^b - 1) for the
 * 0/1 value v of the same bits, so every encoding is the 0/1 x 0/1 product plus terms
 * that depend on the activation window or the weights alone. The kernels here compute
 * that product, sum over c, kh, kw of a[c, y, x] * w[k, c, kh, kw], for unsigned a < 2^abits
 * and w < 2^wbits; spatial padding is zeros and so contributes nothing.
 *
 * The schemes (what the inner nest is tensorized into; the intrinsics are declared per
 * instance, since their step counts follow the widths):
 * - CNT (abits = wbits = 1): bits packed 8 to a byte, 128 channels to a 16-byte word.
 *       part[n, oc, oh, ow, ob, l] (uint16) = sum over ic, kh, kw, p < 2 of
 *           popcount(data[n, ic, y, x, 2l + p] & weight[oc, ic, kh, kw, ob, 2l + p])
 *   one word step is and, cnt (eight 1-bit products per byte) and uadalp (bytes summed in
 *   pairs into the 8 uint16 lanes); out = the sum of part's 8 lanes. A uint16 lane gains
 *   at most 16 a step, so the reduction is refused beyond 4095 steps (C R S > 524160).
 * - MLA (2^abits - 1)(2^wbits - 1) <= 255 / 4 (A2W1, A2W2, A3W1 ...): unpacked uint8
 *   values, 16 output channels a vector, one activation broadcast:
 *       out[n, oc, oh, ow, ob] = sum over ic, kh, kw, t of data[n, ic, y, x, t] * weight[oc, ic, kh, kw, t, ob]
 *   the chunk of T channels is T mla into uint8 lanes (T products of at most 255 / T each
 *   cannot wrap), then widened once into the int32 accumulators (SenseTime, ICPP 2020).
 * - UMLAL (wider): weights in pairs of channels g, [.., tt, ob, g], 8 output channels:
 *   T / 2 umull/umlal into uint16 lanes (each lane holds one channel of the pair; T / 2
 *   products of at most 65535 / (T / 2) cannot wrap), then uadalp folds each pair into
 *   its int32 lane. At A8W8 T is 2: umull then uadalp.
 *
 * Layouts (channels past C are zero in the weight; bits past C zero in the packed words):
 *   CNT:   data [N, ceil(C / 128), H, W, 16] uint8, weight [ceil(K / ob), ceil(C / 128), R, S, ob, 16]
 *   MLA:   data [N, ceil(C / T), H, W, T] uint8,   weight [ceil(K / ob), ceil(C / T), R, S, T, ob]
 *   UMLAL: data [N, ceil(C / T), H, W, T] uint8,   weight [ceil(K / ob), ceil(C / T), R, S, T / 2, ob, 2]
 *   output [N, ceil(K / ob), OH, OW, ob] int32.
 *
 * Knobs: oc_bn (output channels of a block: 1-8 words for CNT, 16 or 32 for MLA, 8, 16 or
 * 32 for UMLAL), chunk (T, MLA and UMLAL: powers of two within the wrap bound, at most
 * 64), tile_ow (register block of output positions), unroll_kw, parallel. The default:
 * a block of 4 x 4 words (CNT) or 4 positions of 32 (MLA) / 16 (UMLAL) channels, T 16. */
#include <stdio.h>
#include <string.h>

#include "tmpl_internal.h"

#include "tessera/intrin.h"

typedef enum Scheme { SCHEME_CNT, SCHEME_MLA, SCHEME_UMLAL } Scheme;

enum { CNT_WORD = 16, CNT_LANES = 8, MLA_LANES = 16, UMLAL_LANES = 8, MAX_CHUNK = 64 };
enum { CNT_MAX_STEPS = 65535 / (2 * 8) };

typedef struct Conv {
    int64_t n, c, h, w, k, r, s, stride, pad, oh, ow, abits, wbits;
} Conv;

typedef struct Knobs {
    int64_t oc_bn, chunk, reg_n, unroll_kw, parallel;
} Knobs;

static const char *const conv_arg_names[] = { "N",      "C",   "H",     "W",     "K", "R",
                                              "S",      "stride", "pad", "abits", "wbits", NULL };
static const char *const dense_arg_names[] = { "M", "N", "K", "abits", "wbits", NULL };

/* The largest 0/1 x 0/1 product. */
static int64_t max_product(const Conv *cv)
{
    return ((INT64_C(1) << cv->abits) - 1) * ((INT64_C(1) << cv->wbits) - 1);
}

static Scheme scheme_of(const Conv *cv)
{
    if (cv->abits == 1 && cv->wbits == 1)
        return SCHEME_CNT;
    return max_product(cv) <= 255 / 4 ? SCHEME_MLA : SCHEME_UMLAL;
}

/* The largest chunk T the scheme allows for the widths (a power of two). */
static int64_t chunk_bound(const Conv *cv)
{
    int64_t capacity = scheme_of(cv) == SCHEME_MLA ? 255 / max_product(cv)
                                                   : 2 * (65535 / max_product(cv));
    int64_t t = 2;
    while (2 * t <= capacity && 2 * t <= MAX_CHUNK)
        t *= 2;
    return t;
}

static TsStatus check_conv(const char *op, Conv *cv, TsError *err)
{
    if (cv->abits > 8 || cv->wbits > 8)
        return ts_fail(err, TS_EINVAL, "%s: abits %lld and wbits %lld must be 1 to 8", op,
                       (long long)cv->abits, (long long)cv->wbits);
    TsStatus st = sch_window_extents(op, "kernel", cv->h, cv->w, cv->r, cv->s, cv->stride,
                                     cv->pad, &cv->oh, &cv->ow, err);
    if (st != TS_OK)
        return st;
    double most = (double)max_product(cv) * (double)cv->c * (double)cv->r * (double)cv->s;
    if (most > 2147483647.0)
        return ts_fail(err, TS_EINVAL, "%s: C %lld x R %lld x S %lld at A%lldW%lld can sum "
                       "past int32 (these kernels accumulate in int32)", op, (long long)cv->c,
                       (long long)cv->r, (long long)cv->s, (long long)cv->abits,
                       (long long)cv->wbits);
    int64_t steps = sch_ceil_div(cv->c, 8 * CNT_WORD) * cv->r * cv->s;
    if (scheme_of(cv) == SCHEME_CNT && steps > CNT_MAX_STEPS)
        return ts_fail(err, TS_EINVAL, "%s: %lld word steps (C %lld, R %lld, S %lld) would "
                       "overflow the uint16 popcount lanes (at most %d)", op, (long long)steps,
                       (long long)cv->c, (long long)cv->r, (long long)cv->s, CNT_MAX_STEPS);
    return TS_OK;
}

static TsStatus read_conv(const char *op, bool dense, const TsTemplateArgs *args,
                          const TsTemplateTarget *target, Conv *cv, TsError *err)
{
    int64_t v[11] = { 0 };
    static const int64_t conv_min[] = { 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1 };
    static const int64_t dense_min[] = { 1, 1, 1, 1, 1 };
    TsStatus st = sch_tmpl_read_args(op, args, dense ? dense_arg_names : conv_arg_names,
                                     dense ? dense_min : conv_min, v, err);
    if (st == TS_OK)
        st = sch_tmpl_check_target(op, target, err);
    if (st != TS_OK)
        return st;
    /* dense: out[m, n] = sum_k a[m, k] w[n, k], a conv of 1 x 1 over M images of K channels. */
    *cv = dense ? (Conv){ v[0], v[2], 1, 1, v[1], 1, 1, 1, 0, 0, 0, v[3], v[4] }
                : (Conv){ v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], 0, 0, v[9], v[10] };
    return check_conv(op, cv, err);
}

/* ---- the intrinsics ---- */

/* CNT: c[8] uint16 += sum_p popcount(a[l, p] & b[l, p]), a and b 16 bytes. */
static TsStmt *cnt_update(TsArena *A, const TsIntrin *intrin, const TsIntrinRegion *const *r,
                          void *user)
{
    (void)intrin, (void)user;
    TsExpr *bits = ts_bitand(A, ts_intrin_region_load(A, r[0], NULL, 16),
                             ts_intrin_region_load(A, r[1], NULL, 16));
    TsExpr *counts = ts_popcount(A, bits);
    TsExpr *pairs = ts_call_intrinsic(A, "llvm.aarch64.neon.uaddlp.v8i16.v16i8",
                                      ts_dtype(TS_TYPE_UINT, 16, 8), 1, &counts);
    TsExpr *acc = ts_intrin_region_load(A, r[2], NULL, 8);
    return ts_intrin_region_store(A, r[2], NULL, ts_add(A, acc, pairs));
}

/* MLA: c[16] int32 += sum_t a[t] * b[t, j]: T mla into uint8 lanes, then widened. */
static TsStmt *mla_update(TsArena *A, const TsIntrin *intrin, const TsIntrinRegion *const *r,
                          void *user)
{
    (void)user;
    int64_t chunk = ts_tensor_dim(ts_intrin_input(intrin, 0), 0);
    TsExpr *sum = NULL;
    for (int64_t t = 0; t < chunk; t++) {
        TsExpr *a = ts_intrin_broadcast(A, ts_intrin_region_load(A, r[0], ts_i32(A, t), 1), 16);
        int64_t step = ts_intrin_region_stride(r[1], 0);
        TsExpr *prod = ts_mul(A, ts_intrin_region_load(A, r[1], ts_i32(A, step * t), 16), a);
        sum = sum ? ts_add(A, sum, prod) : prod;
    }
    TsExpr *acc = ts_intrin_region_load(A, r[2], NULL, 16);
    TsExpr *wide = ts_cast(A, ts_dtype(TS_TYPE_INT, 32, 16), sum);
    return ts_intrin_region_store(A, r[2], NULL, ts_add(A, acc, wide));
}

/* UMLAL: one half (4 output channels x 2) of c[8] int32 += sum_t,g a[t, g] * b[t, j, g]:
 * T / 2 umull/umlal of 8 weight bytes by the repeated pair into uint16 lanes, then
 * uadalp into the half's 4 int32 lanes. */
static TsExpr *umlal_half(TsArena *A, const TsIntrin *intrin, const TsIntrinRegion *const *r,
                          int half)
{
    int64_t pairs = ts_tensor_dim(ts_intrin_input(intrin, 0), 0);
    TsDType u16x8 = ts_dtype(TS_TYPE_UINT, 16, 8);
    TsExpr *sum = NULL;
    for (int64_t t = 0; t < pairs; t++) {
        TsExpr *pair = ts_reinterpret(A, TS_UINT16, ts_intrin_region_load(A, r[0], ts_i32(A, 2 * t), 2));
        TsExpr *rep = ts_reinterpret(A, ts_dtype(TS_TYPE_UINT, 8, 8),
                                     ts_intrin_broadcast(A, pair, 4));
        int64_t step = ts_intrin_region_stride(r[1], 0);
        TsExpr *w = ts_intrin_region_load(A, r[1], ts_i32(A, step * t + 8 * half), 8);
        TsExpr *prod = ts_mul(A, ts_cast(A, u16x8, w), ts_cast(A, u16x8, rep));
        sum = sum ? ts_add(A, sum, prod) : prod;
    }
    TsExpr *wide = ts_call_intrinsic(A, "llvm.aarch64.neon.uaddlp.v4i32.v8i16",
                                     ts_dtype(TS_TYPE_INT, 32, 4), 1, &sum);
    return ts_add(A, ts_intrin_region_load(A, r[2], ts_i32(A, 4 * half), 4), wide);
}

static TsStmt *umlal_update(TsArena *A, const TsIntrin *intrin, const TsIntrinRegion *const *r,
                            void *user)
{
    (void)user;
    TsStmt *halves[2];
    for (int h = 0; h < 2; h++)
        halves[h] = ts_intrin_region_store(A, r[2], ts_i32(A, 4 * h), umlal_half(A, intrin, r, h));
    return ts_intrin_seq(A, 2, halves);
}

static TsStmt *zero_output(TsArena *A, const TsIntrin *intrin, const TsIntrinRegion *const *r,
                           void *user)
{
    (void)user;
    const TsTensor *out = ts_intrin_output(intrin);
    int n = (int)ts_tensor_num_elements(out);
    TsExpr *zero = ts_int(A, ts_tensor_dtype(out), 0);
    return ts_intrin_region_store(A, r[ts_intrin_num_inputs(intrin)], NULL,
                                  n > 1 ? ts_intrin_broadcast(A, zero, n) : zero);
}

/* The product of a and b as the kernels' expressions write it (int32 of uint8). */
static TsExpr *product(TsArena *A, TsExpr *a, TsExpr *b)
{
    return ts_mul(A, ts_cast(A, TS_INT32, a), ts_cast(A, TS_INT32, b));
}

static TsExpr *popcount_and(TsArena *A, TsExpr *a, TsExpr *b)
{
    return ts_cast(A, TS_UINT16, ts_popcount(A, ts_bitand(A, a, b)));
}

/* The intrinsic, b's outermost stride left to the match (the weight block's channels
 * between two steps). */
static TsStatus finish_intrin(TsArena *A, const char *name, TsTensor *c, int num_inputs,
                              TsTensor **inputs, TsIntrinEmitter update, const TsIntrin **out,
                              TsError *err)
{
    TsIntrin *in = NULL;
    TsStatus st = c ? TS_OK : ts_arena_check(A, err);
    if (st == TS_OK)
        st = ts_intrin_declare(A, name, c, num_inputs, inputs, &in, err);
    int nd = ts_tensor_ndim(inputs[1]);
    int64_t strides[3] = { TS_INTRIN_STRIDE_ANY, nd == 3 ? 2 : 1, 1 };
    if (st == TS_OK && strcmp(name, "aarch64.cnt.and.u8x16") != 0)
        st = ts_intrin_set_strides(in, inputs[1], strides, err);
    if (st == TS_OK)
        st = ts_intrin_require(in, "neon", err);
    if (st == TS_OK)
        st = ts_intrin_set_emitters(in, NULL, zero_output, update, NULL, err);
    *out = in;
    return st;
}

static TsStatus declare_intrin(TsArena *A, Scheme scheme, int64_t chunk, const TsIntrin **out,
                               TsError *err)
{
    TsTensor *a, *b, *c;
    switch (scheme) {
    case SCHEME_CNT: {
        a = ts_placeholder(A, "a", 2, (int64_t[]){ CNT_LANES, 2 }, TS_UINT8);
        b = ts_placeholder(A, "b", 2, (int64_t[]){ CNT_LANES, 2 }, TS_UINT8);
        TsAxis *l = ts_axis(A, "l", CNT_LANES), *p = ts_reduce_axis(A, "p", 2);
        TsExpr *v = popcount_and(A, ts_at(A, a, ts_var(l), ts_var(p)), ts_at(A, b, ts_var(l), ts_var(p)));
        c = ts_compute(A, "c", 1, &l, ts_sum(A, v, 1, &p, NULL));
        return finish_intrin(A, "aarch64.cnt.and.u8x16", c, 2, (TsTensor *[]){ a, b }, cnt_update,
                             out, err);
    }
    case SCHEME_MLA: {
        a = ts_placeholder(A, "a", 1, (int64_t[]){ chunk }, TS_UINT8);
        b = ts_placeholder(A, "b", 2, (int64_t[]){ chunk, MLA_LANES }, TS_UINT8);
        TsAxis *j = ts_axis(A, "j", MLA_LANES), *t = ts_reduce_axis(A, "t", chunk);
        TsExpr *v = product(A, ts_at(A, a, ts_var(t)), ts_at(A, b, ts_var(t), ts_var(j)));
        c = ts_compute(A, "c", 1, &j, ts_sum(A, v, 1, &t, NULL));
        return finish_intrin(A, "aarch64.mla.u8.16xT", c, 2, (TsTensor *[]){ a, b }, mla_update,
                             out, err);
    }
    case SCHEME_UMLAL: {
        a = ts_placeholder(A, "a", 2, (int64_t[]){ chunk / 2, 2 }, TS_UINT8);
        b = ts_placeholder(A, "b", 3, (int64_t[]){ chunk / 2, UMLAL_LANES, 2 }, TS_UINT8);
        TsAxis *j = ts_axis(A, "j", UMLAL_LANES), *t = ts_reduce_axis(A, "t", chunk / 2);
        TsAxis *g = ts_reduce_axis(A, "g", 2);
        TsExpr *v = product(A, ts_at(A, a, ts_var(t), ts_var(g)),
                            ts_at(A, b, ts_var(t), ts_var(j), ts_var(g)));
        c = ts_compute(A, "c", 1, &j, ts_sum(A, v, 2, (TsAxis *[]){ t, g }, NULL));
        return finish_intrin(A, "aarch64.umlal.u8.8x2xT", c, 2, (TsTensor *[]){ a, b },
                             umlal_update, out, err);
    }
    }
    return ts_fail(err, TS_EINVAL, "bitserial aarch64: unknown scheme %d", (int)scheme);
}

/* ---- the expression ---- */

typedef struct ConvTensors {
    TsTensor *data, *weight, *pad, *acc, *out;
} ConvTensors;

/* The channel lanes of one data block: 16 bytes of bits, or a chunk of values. */
static int64_t data_lanes(Scheme scheme, const Knobs *kn)
{
    return scheme == SCHEME_CNT ? CNT_WORD : kn->chunk;
}

static int64_t channel_blocks(Scheme scheme, const Conv *cv, const Knobs *kn)
{
    return sch_ceil_div(cv->c, scheme == SCHEME_CNT ? 8 * CNT_WORD : kn->chunk);
}

/* CNT: part (uint16 lanes) and out, its lanes summed. */
static void cnt_expression(TsArena *A, const Conv *cv, const Knobs *kn, ConvTensors *t,
                           TsAxis *const *spatial, TsExpr *y, TsExpr *x)
{
    int64_t icb = channel_blocks(SCHEME_CNT, cv, kn), ocb = sch_ceil_div(cv->k, kn->oc_bn);
    t->weight = ts_placeholder(A, "weight", 6,
                               (int64_t[]){ ocb, icb, cv->r, cv->s, kn->oc_bn, CNT_WORD }, TS_UINT8);
    TsAxis *ob = ts_axis(A, "ob", kn->oc_bn), *l = ts_axis(A, "l", CNT_LANES);
    TsAxis *ic = ts_reduce_axis(A, "ic", icb), *kh = ts_reduce_axis(A, "kh", cv->r);
    TsAxis *kw = ts_reduce_axis(A, "kw", cv->s), *p = ts_reduce_axis(A, "p", 2);
    y = ts_add(A, y, ts_var(kh));
    x = ts_add(A, x, ts_var(kw));
    TsExpr *byte = ts_add(A, ts_mul(A, ts_var(l), ts_i32(A, 2)), ts_var(p));
    TsExpr *in = ts_at(A, t->pad, ts_var(spatial[0]), ts_var(ic), y, x, byte);
    TsExpr *w = ts_at(A, t->weight, ts_var(spatial[1]), ts_var(ic), ts_var(kh), ts_var(kw),
                      ts_var(ob), byte);
    t->acc = ts_compute_tagged(A, "bitserial_popcount", "bitserial_popcount", 6,
                               (TsAxis *[]){ spatial[0], spatial[1], spatial[2], spatial[3], ob, l },
                               ts_sum(A, popcount_and(A, in, w), 4,
                                      (TsAxis *[]){ ic, kh, kw, p }, NULL));
    TsAxis *n = ts_axis(A, "n", cv->n), *oc = ts_axis(A, "oc", ocb), *oh = ts_axis(A, "oh", cv->oh);
    TsAxis *ow = ts_axis(A, "ow", cv->ow), *ob2 = ts_axis(A, "ob", kn->oc_bn);
    TsAxis *lr = ts_reduce_axis(A, "l", CNT_LANES);
    TsExpr *lane = ts_at(A, t->acc, ts_var(n), ts_var(oc), ts_var(oh), ts_var(ow), ts_var(ob2),
                         ts_var(lr));
    t->out = ts_compute_tagged(A, "bitserial_conv2d", "bitserial_conv2d", 5,
                               (TsAxis *[]){ n, oc, oh, ow, ob2 },
                               ts_sum(A, ts_cast(A, TS_INT32, lane), 1, &lr, NULL));
}

/* MLA and UMLAL: out itself, the products of uint8 values summed in int32. */
static void value_expression(TsArena *A, Scheme scheme, const Conv *cv, const Knobs *kn,
                             ConvTensors *t, TsAxis *const *spatial, TsExpr *y, TsExpr *x)
{
    int64_t icb = channel_blocks(scheme, cv, kn), ocb = sch_ceil_div(cv->k, kn->oc_bn);
    int64_t pairs = scheme == SCHEME_UMLAL ? 2 : 1, steps = kn->chunk / pairs;
    int64_t shape[7] = { ocb, icb, cv->r, cv->s, steps, kn->oc_bn, 2 };
    t->weight = ts_placeholder(A, "weight", pairs > 1 ? 7 : 6, shape, TS_UINT8);
    TsAxis *ob = ts_axis(A, "ob", kn->oc_bn);
    TsAxis *ic = ts_reduce_axis(A, "ic", icb), *kh = ts_reduce_axis(A, "kh", cv->r);
    TsAxis *kw = ts_reduce_axis(A, "kw", cv->s), *tt = ts_reduce_axis(A, "t", steps);
    TsAxis *g = ts_reduce_axis(A, "g", 2);
    y = ts_add(A, y, ts_var(kh));
    x = ts_add(A, x, ts_var(kw));
    TsExpr *lane = pairs > 1 ? ts_add(A, ts_mul(A, ts_var(tt), ts_i32(A, 2)), ts_var(g)) : ts_var(tt);
    TsExpr *in = ts_at(A, t->pad, ts_var(spatial[0]), ts_var(ic), y, x, lane);
    TsExpr *w = pairs > 1 ? ts_at(A, t->weight, ts_var(spatial[1]), ts_var(ic), ts_var(kh),
                                  ts_var(kw), ts_var(tt), ts_var(ob), ts_var(g))
                          : ts_at(A, t->weight, ts_var(spatial[1]), ts_var(ic), ts_var(kh),
                                  ts_var(kw), ts_var(tt), ts_var(ob));
    TsAxis *reduce[] = { ic, kh, kw, tt, g };
    t->acc = NULL;
    t->out = ts_compute_tagged(A, "bitserial_conv2d", "bitserial_conv2d", 5,
                               (TsAxis *[]){ spatial[0], spatial[1], spatial[2], spatial[3], ob },
                               ts_sum(A, product(A, in, w), pairs > 1 ? 5 : 4, reduce, NULL));
}

static void conv_expression(TsArena *A, Scheme scheme, const Conv *cv, const Knobs *kn,
                            ConvTensors *t)
{
    int64_t icb = channel_blocks(scheme, cv, kn), lanes = data_lanes(scheme, kn);
    t->data = ts_placeholder(A, "data", 5, (int64_t[]){ cv->n, icb, cv->h, cv->w, lanes }, TS_UINT8);
    t->pad = sch_nchwc_pad(A, t->data, cv->pad);
    TsAxis *spatial[4] = { ts_axis(A, "n", cv->n), ts_axis(A, "oc", sch_ceil_div(cv->k, kn->oc_bn)),
                           ts_axis(A, "oh", cv->oh), ts_axis(A, "ow", cv->ow) };
    TsExpr *y = ts_mul(A, ts_var(spatial[2]), ts_i32(A, cv->stride));
    TsExpr *x = ts_mul(A, ts_var(spatial[3]), ts_i32(A, cv->stride));
    if (scheme == SCHEME_CNT)
        cnt_expression(A, cv, kn, t, spatial, y, x);
    else
        value_expression(A, scheme, cv, kn, t, spatial, y, x);
}

/* ---- the schedule ---- */

/* The accumulator: block loops n, oc, oh, ow.outer, then ic, kh, kw, the block's
 * positions and channel vectors (unrolled), then the tensorized nest. */
static TsStatus schedule_accumulator(Scheme scheme, TsStage *st, const Knobs *kn,
                                     const TsIntrin *intrin, TsError *err)
{
    TsAxis *root[11];
    int num = ts_stage_num_root_axes(st);
    for (int i = 0; i < num; i++)
        root[i] = ts_stage_root_axis(st, i);
    TsAxis *owo, *owi, *obo = NULL, *obi = root[4];
    TsStatus s = ts_split(st, root[3], kn->reg_n, &owo, &owi, err);
    if (s == TS_OK && scheme != SCHEME_CNT)
        s = ts_split(st, root[4], scheme == SCHEME_MLA ? MLA_LANES : UMLAL_LANES, &obo, &obi, err);
    /* value schemes: n oc oh ow ob | ic kh kw t [g]; CNT: n oc oh ow ob l | ic kh kw p */
    TsAxis *order[12];
    int n = 0;
    for (int i = 0; i < 3; i++)
        order[n++] = root[i];
    order[n++] = owo;
    order[n++] = root[scheme == SCHEME_CNT ? 6 : 5];
    order[n++] = root[scheme == SCHEME_CNT ? 7 : 6];
    order[n++] = root[scheme == SCHEME_CNT ? 8 : 7];
    order[n++] = owi;
    order[n++] = scheme == SCHEME_CNT ? root[4] : obo;
    TsAxis *tensorized = scheme == SCHEME_CNT ? root[5] : obi;
    order[n++] = tensorized;
    order[n++] = root[scheme == SCHEME_CNT ? 9 : 8];
    if (scheme == SCHEME_UMLAL)
        order[n++] = root[9];
    if (s == TS_OK)
        s = ts_reorder(st, n, order, err);
    if (s == TS_OK)
        s = ts_unroll(st, owi, err);
    if (s == TS_OK)
        s = ts_unroll(st, order[8], err);
    if (s == TS_OK && kn->unroll_kw)
        s = ts_unroll(st, order[6], err);
    if (s == TS_OK)
        s = ts_tensorize(st, tensorized, intrin, err);
    return s;
}

/* CNT's output: the lanes of each position's words summed, in the block of positions the
 * accumulator is computed at. */
static TsStatus schedule_cnt_output(TsSchedule *sch, const ConvTensors *t, const Knobs *kn,
                                    TsError *err)
{
    TsStage *st = ts_stage(sch, t->out);
    TsAxis *n = ts_stage_root_axis(st, 0), *oc = ts_stage_root_axis(st, 1), *owo, *owi, *fused;
    TsStatus s = ts_split(st, ts_stage_root_axis(st, 3), kn->reg_n, &owo, &owi, err);
    if (s == TS_OK)
        s = ts_unroll(st, ts_stage_root_axis(st, 5), err);
    if (s == TS_OK && kn->parallel) {
        s = ts_fuse(st, n, oc, &fused, err);
        if (s == TS_OK)
            s = ts_parallel(st, fused, err);
    }
    if (s == TS_OK)
        s = ts_compute_at(ts_stage(sch, t->acc), st, owo, err);
    return s;
}

static TsStatus schedule_padding(TsSchedule *sch, const ConvTensors *t, const Knobs *kn,
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

static TsStatus schedule_conv(TsArena *A, Scheme scheme, const Knobs *kn, ConvTensors *t,
                              TsSchedule **sch, TsError *err)
{
    const TsIntrin *intrin;
    TsStatus st = declare_intrin(A, scheme, kn->chunk, &intrin, err);
    if (st != TS_OK)
        return st;
    *sch = ts_schedule_create(A, 1, &t->out);
    if (!*sch)
        return ts_arena_check(A, err);
    if (scheme == SCHEME_CNT) {
        st = schedule_cnt_output(*sch, t, kn, err);
    } else {
        st = ts_cache_write(*sch, t->out, &t->acc, err);
        if (st == TS_OK)
            st = sch_schedule_conv_output(*sch, t->out, t->acc, 1, kn->reg_n, kn->parallel != 0,
                                          err);
    }
    if (st == TS_OK)
        st = schedule_accumulator(scheme, ts_stage(*sch, t->acc), kn, intrin, err);
    if (st == TS_OK)
        st = schedule_padding(*sch, t, kn, err);
    return st;
}

/* ---- the space and the default ---- */

typedef struct Family {
    const char *name;
    bool dense;
} Family;

static const Family conv_family = { "bitserial_conv2d_aarch64", false };
static const Family dense_family = { "bitserial_dense_aarch64", true };

static const int64_t reg_ns[] = { 1, 2, 3, 4, 5, 6, 7, 8 };

static int output_blocks(Scheme scheme, int64_t *out)
{
    switch (scheme) {
    case SCHEME_CNT:
        out[0] = 1, out[1] = 2, out[2] = 4, out[3] = 8;
        return 4;
    case SCHEME_MLA:
        out[0] = 16, out[1] = 32;
        return 2;
    case SCHEME_UMLAL:
        out[0] = 8, out[1] = 16, out[2] = 32;
        return 3;
    }
    return 0;
}

static TsStatus define_space(const Family *fam, const TsTemplateArgs *args,
                             const TsTemplateTarget *target, TsConfigSpace *space, TsError *err)
{
    Conv cv;
    TsStatus st = read_conv(fam->name, fam->dense, args, target, &cv, err);
    if (st != TS_OK)
        return st;
    Scheme scheme = scheme_of(&cv);
    int64_t blocks[4], chunks[8], rows[2 * 8];
    int nb = output_blocks(scheme, blocks), nc = 0, nr = 0;
    for (int64_t t = 2; scheme != SCHEME_CNT && t <= chunk_bound(&cv); t *= 2)
        if (t >= 4 || scheme == SCHEME_UMLAL)
            chunks[nc++] = t;
    if (nc == 0)
        chunks[nc++] = CNT_WORD;
    for (size_t i = 0; i < sizeof reg_ns / sizeof reg_ns[0] && (reg_ns[i] <= cv.ow || i == 0); i++) {
        rows[2 * nr] = -1;
        rows[2 * nr + 1] = reg_ns[i];
        nr++;
    }
    static const int64_t on_off[] = { 0, 1 };
    TsSplitOptions opt = {
        .policy = TS_SPLIT_CANDIDATES, .num_outputs = 2, .candidates = rows, .num_candidates = nr
    };
    st = ts_space_define_knob(space, "oc_bn", nb, blocks, err);
    if (st == TS_OK)
        st = ts_space_define_knob(space, "chunk", nc, chunks, err);
    if (st == TS_OK)
        st = ts_space_define_split(space, "tile_ow", cv.ow, &opt, err);
    if (st == TS_OK)
        st = ts_space_define_knob(space, "unroll_kw", 2, on_off, err);
    if (st == TS_OK)
        st = ts_space_define_knob(space, "parallel", target->num_cores > 1 ? 2 : 1, on_off, err);
    return st;
}

/* 4 positions of 4 words (CNT: 16 uint16 accumulators, 8 operand registers), of two
 * vectors (MLA: 8 int32 x 4 accumulators) or of 16 channels (UMLAL); T 16 where allowed. */
static TsStatus default_config(const Family *fam, const TsTemplateArgs *args,
                               const TsTemplateTarget *target, const TsConfigSpace *space,
                               TsConfig *out, TsError *err)
{
    Conv cv;
    TsStatus st = read_conv(fam->name, fam->dense, args, target, &cv, err);
    if (st != TS_OK)
        return st;
    Scheme scheme = scheme_of(&cv);
    int64_t block = scheme == SCHEME_CNT ? 4 : scheme == SCHEME_MLA ? 32 : 16;
    int64_t ow[] = { cv.ow < 4 ? cv.ow : 4 };
    sch_tmpl_config_init(space, out);
    st = sch_tmpl_want_knob(out, "oc_bn", block, err);
    if (st == TS_OK)
        st = sch_tmpl_want_knob(out, "chunk", scheme == SCHEME_CNT ? CNT_WORD : 16, err);
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

static TsStatus read_knobs(const TsConfig *config, Knobs *kn, TsError *err)
{
    int64_t f[TS_KNOB_MAX_OUTPUTS] = { 0 };
    int n;
    TsStatus st = TS_OK;
    kn->oc_bn = sch_tmpl_knob(config, "oc_bn", err, &st);
    kn->chunk = sch_tmpl_knob(config, "chunk", err, &st);
    if (st == TS_OK)
        st = ts_config_split(config, "tile_ow", f, TS_KNOB_MAX_OUTPUTS, &n, err);
    kn->reg_n = f[1];
    kn->unroll_kw = sch_tmpl_knob(config, "unroll_kw", err, &st);
    kn->parallel = sch_tmpl_knob(config, "parallel", err, &st);
    return st;
}

/* A config's knobs checked against the widths: a chunk past the wrap bound would give
 * wrong sums, so it is refused even from a hand-written record. */
static TsStatus prepare(const Family *fam, const TsTemplateArgs *args,
                        const TsTemplateTarget *target, const TsConfig *config, Conv *cv,
                        Knobs *kn, TsError *err)
{
    TsStatus st = read_conv(fam->name, fam->dense, args, target, cv, err);
    if (st == TS_OK)
        st = read_knobs(config, kn, err);
    if (st != TS_OK)
        return st;
    Scheme scheme = scheme_of(cv);
    int64_t lanes = scheme == SCHEME_CNT ? 1 : scheme == SCHEME_MLA ? MLA_LANES : UMLAL_LANES;
    if (kn->oc_bn < lanes || kn->oc_bn % lanes)
        return ts_fail(err, TS_EINVAL, "%s: oc_bn %lld must be a multiple of %lld", fam->name,
                       (long long)kn->oc_bn, (long long)lanes);
    if (scheme == SCHEME_CNT)
        kn->chunk = CNT_WORD;
    else if (kn->chunk < 2 || kn->chunk > chunk_bound(cv) || kn->chunk & (kn->chunk - 1))
        return ts_fail(err, TS_EINVAL, "%s: chunk %lld at A%lldW%lld must be a power of two "
                       "from 2 to %lld (more would wrap the narrow lanes)", fam->name,
                       (long long)kn->chunk, (long long)cv->abits, (long long)cv->wbits,
                       (long long)chunk_bound(cv));
    return TS_OK;
}

static TsStatus instantiate(const Family *fam, const TsTemplateArgs *args,
                            const TsTemplateTarget *target, const TsConfig *config, TsArena *A,
                            TsTemplateInstance *out, TsError *err)
{
    Conv cv;
    Knobs kn;
    TsStatus st = prepare(fam, args, target, config, &cv, &kn, err);
    if (st != TS_OK)
        return st;
    ConvTensors t;
    conv_expression(A, scheme_of(&cv), &cv, &kn, &t);
    if ((st = ts_arena_check(A, err)) != TS_OK)
        return st;
    TsSchedule *sch;
    st = schedule_conv(A, scheme_of(&cv), &kn, &t, &sch, err);
    if (st != TS_OK)
        return st;
    *out = (TsTemplateInstance){
        .sch = sch, .num_tensors = 3, .num_outputs = 1, .tensors = { t.data, t.weight, t.out }
    };
    return TS_OK;
}

/* Two operations per multiply-add of the real channels, as for the other conv2d. */
static double flop(const Family *fam, const TsTemplateArgs *args)
{
    Conv cv;
    if (read_conv(fam->name, fam->dense, args, &sch_any_target, &cv, NULL) != TS_OK)
        return 0;
    return 2.0 * (double)cv.n * (double)cv.k * (double)cv.oh * (double)cv.ow * (double)cv.c *
           (double)cv.r * (double)cv.s;
}

#define FAMILY_FUNCTIONS(F)                                                                        \
    static TsStatus F##_define_space(const TsTemplateArgs *args, const TsTemplateTarget *target,   \
                                     TsConfigSpace *space, TsError *err)                           \
    {                                                                                              \
        return define_space(&F##_family, args, target, space, err);                                \
    }                                                                                              \
    static TsStatus F##_default_config(const TsTemplateArgs *args, const TsTemplateTarget *target, \
                                       const TsConfigSpace *space, TsConfig *out, TsError *err)    \
    {                                                                                              \
        return default_config(&F##_family, args, target, space, out, err);                         \
    }                                                                                              \
    static TsStatus F##_instantiate(const TsTemplateArgs *args, const TsTemplateTarget *target,    \
                                    const TsConfig *config, TsArena *arena,                        \
                                    TsTemplateInstance *out, TsError *err)                         \
    {                                                                                              \
        return instantiate(&F##_family, args, target, config, arena, out, err);                    \
    }                                                                                              \
    static double F##_flop(const TsTemplateArgs *args) { return flop(&F##_family, args); }

FAMILY_FUNCTIONS(conv)
FAMILY_FUNCTIONS(dense)

static const char *const neon_features[] = { "neon", NULL };

const TsTemplate sch_template_bitserial_conv2d_aarch64 = {
    .name = "bitserial_conv2d_aarch64",
    .op = "bitserial_conv2d",
    .summary = "bitserial conv2d, abits x wbits of 1-8 summed in int32, on AArch64 NEON: "
               "and + cnt + uadalp at 1 bit, mla with periodic widening at the lowest widths, "
               "umlal + uadalp above",
    .features = neon_features,
    .priority = 10,
    .arg_names = conv_arg_names,
    .define_space = conv_define_space,
    .default_config = conv_default_config,
    .instantiate = conv_instantiate,
    .flop = conv_flop,
};

const TsTemplate sch_template_bitserial_dense_aarch64 = {
    .name = "bitserial_dense_aarch64",
    .op = "bitserial_dense",
    .summary = "bitserial dense, abits x wbits of 1-8 summed in int32, on AArch64 NEON "
               "(the conv2d kernels at 1 x 1 over M rows)",
    .features = neon_features,
    .priority = 10,
    .arg_names = dense_arg_names,
    .define_space = dense_define_space,
    .default_config = dense_default_config,
    .instantiate = dense_instantiate,
    .flop = dense_flop,
};
