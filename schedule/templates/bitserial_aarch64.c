/* The AArch64 templates of bitserial conv2d ("bitserial_conv2d_aarch64") and bitserial
 * dense ("bitserial_dense_aarch64"): activations of abits and weights of wbits bits
 * (1 to 8), summed exactly, with one of three NEON schemes chosen by the widths.
 * Arguments N C H W K R S stride pad abits wbits (dense: M N K abits wbits, the 1x1 conv
 * of one image of M positions), and optionally encoding (0, 1, 2 as te/ops'
 * TsBitserialEncoding: 0/1 x 0/1, 0/1 x +-1, +-1 x +-1; default 0), output (0: the
 * operator's accumulator, ts_bitserial_accum_dtype; 1: float32; 2: int8) and relu;
 * groups and dilation are taken only as 1.
 *
 * Encodings. A +-1 operand of b bits with 0/1 code u is 2u - (2^b - 1), so with
 * alpha = 2^abits - 1, beta = 2^wbits - 1 and D the 0/1 x 0/1 product the kernels compute,
 *     0: D;   1: 2D - beta Sa;   2: 4D - 2 beta Sa - 2 alpha Sw + alpha beta C V
 * Sa[n, oh, ow] the activation codes summed over the window ("side"), Sw[oc, oh, ow, ob]
 * the weight codes summed over the channels and the taps inside the data ("wside", from
 * "wsum" [oc, kh, kw, ob]), V the number of those taps. Spatial padding and channel tails
 * are zero codes, so they add nothing to D or Sa, and Sw and V count only real taps:
 * padding is exact in every encoding. The fold and the output stage (te/ops'
 * ts_op_bitserial_output formula on the blocked layout: float32(v) * scale[oc, ob] +
 * bias[oc, ob], ReLU, int8 rounded half to even and saturated; with output=0, ReLU in the
 * integer type) are computed in the output loop.
 *
 * The kernels compute D = sum over c, kh, kw of a[c, y, x] * w[k, c, kh, kw] for codes
 * a < 2^abits, w < 2^wbits, in int32 (reductions where 4 alpha beta C R S passes int32, or
 * whose operator type is int64, are refused), and the output has the operator's type.
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
 *       D[n, oc, oh, ow, ob] = sum over ic, kh, kw, t of
 *           data[n, ic, y, x, t] * weight[oc, ic, kh, kw, t, ob]
 *   the chunk of T channels is T mla into uint8 lanes (T products of at most 255 / T each
 *   cannot wrap), then widened once into the int32 accumulators (SenseTime, ICPP 2020).
 * - UMLAL (wider): weights in pairs of channels g, [.., tt, ob, g], 8 output channels:
 *   T / 2 umull/umlal into uint16 lanes (each lane holds one channel of the pair; T / 2
 *   products of at most 65535 / (T / 2) cannot wrap), then uadalp folds each pair into
 *   its int32 lane. At A8W8 T is 2: umull then uadalp.
 *
 * Layouts (codes past C are zero in the data and the weight, bits past C zero in the packed
 * words; the kernel takes scale and bias [ceil(K / ob), ob] after the weight with output
 * 1 or 2):
 *   CNT:   data [N, ceil(C / 128), H, W, 16] uint8, weight [ceil(K / ob), ceil(C / 128), R, S, ob, 16]
 *   MLA:   data [N, ceil(C / T), H, W, T] uint8,   weight [ceil(K / ob), ceil(C / T), R, S, T, ob]
 *   UMLAL: data [N, ceil(C / T), H, W, T] uint8,   weight [ceil(K / ob), ceil(C / T), R, S, T / 2, ob, 2]
 *   output [N, ceil(K / ob), OH, OW, ob], the operator's type (output=0), float32 or int8.
 *
 * Knobs: oc_bn (output channels of a block: 1-8 words for CNT, 16 or 32 for MLA, 8, 16 or
 * 32 for UMLAL), chunk (T, MLA and UMLAL: powers of two within the wrap bound, at most
 * 64), tile_ow (register block of output positions), unroll_kw, parallel. The default:
 * a block of 4 x 4 words (CNT) or 4 positions of 32 (MLA) / 16 (UMLAL) channels, T 16. */
#include <stdio.h>
#include <string.h>

#include "tmpl_internal.h"

#include "tessera/intrin.h"
#include "tessera/ops.h"

typedef enum Scheme { SCHEME_CNT, SCHEME_MLA, SCHEME_UMLAL } Scheme;

enum { CNT_WORD = 16, CNT_LANES = 8, MLA_LANES = 16, UMLAL_LANES = 8, MAX_CHUNK = 64 };
enum { CNT_MAX_STEPS = 65535 / (2 * 8) };

enum { ENC_01_01 = 0, ENC_01_PM1 = 1, ENC_PM1_PM1 = 2 };
enum { OUTPUT_ACC = 0, OUTPUT_F32 = 1, OUTPUT_INT8 = 2 };

typedef struct Conv {
    int64_t n, c, h, w, k, r, s, stride, pad, oh, ow, abits, wbits;
    int64_t encoding, output, relu;
    TsDType op_dtype; /* the operator's accumulator (ts_bitserial_accum_dtype) */
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
    if (cv->abits > TS_BITSERIAL_MAX_BITS || cv->wbits > TS_BITSERIAL_MAX_BITS)
        return ts_fail(err, TS_EINVAL, "%s: abits %lld and wbits %lld must be 1 to 8", op,
                       (long long)cv->abits, (long long)cv->wbits);
    TsStatus st = sch_window_extents(op, "kernel", cv->h, cv->w, cv->r, cv->s, cv->stride,
                                     cv->pad, &cv->oh, &cv->ow, err);
    if (st != TS_OK)
        return st;
    double most = 4.0 * (double)max_product(cv) * (double)cv->c * (double)cv->r * (double)cv->s;
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

/* An optional integer argument in [lo, hi], def when absent. */
static TsStatus optional_arg(const char *op, const TsTemplateArgs *args, const char *name,
                             int64_t def, int64_t lo, int64_t hi, int64_t *out, TsError *err)
{
    *out = def;
    if (ts_template_args_get(args, name, out, NULL) != TS_OK)
        *out = def;
    if (*out < lo || *out > hi)
        return ts_fail(err, TS_EINVAL, "%s: %s=%lld must be in [%lld, %lld]", op, name,
                       (long long)*out, (long long)lo, (long long)hi);
    return TS_OK;
}

/* encoding, output, relu; groups and dilation, which these kernels take only as 1. */
static TsStatus read_options(const char *op, bool dense, const TsTemplateArgs *args, Conv *cv,
                             TsError *err)
{
    int64_t groups = 1, dilation = 1;
    TsStatus st = optional_arg(op, args, "encoding", ENC_01_01, ENC_01_01, ENC_PM1_PM1,
                               &cv->encoding, err);
    if (st == TS_OK)
        st = optional_arg(op, args, "output", OUTPUT_ACC, OUTPUT_ACC, OUTPUT_INT8, &cv->output, err);
    if (st == TS_OK)
        st = optional_arg(op, args, "relu", 0, 0, 1, &cv->relu, err);
    if (st == TS_OK && !dense)
        st = optional_arg(op, args, "groups", 1, 1, 1, &groups, err);
    if (st == TS_OK && !dense)
        st = optional_arg(op, args, "dilation", 1, 1, 1, &dilation, err);
    return st;
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
    /* dense: out[m, n] = sum_k a[m, k] w[n, k], the 1x1 conv of one image of M positions
     * and K channels. */
    *cv = dense ? (Conv){ 1, v[2], 1, v[0], v[1], 1, 1, 1, 0, 0, 0, v[3], v[4], 0, 0, 0, { 0 } }
                : (Conv){ v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], 0, 0, v[9], v[10],
                          0, 0, 0, { 0 } };
    st = read_options(op, dense, args, cv, err);
    if (st != TS_OK)
        return st;
    st = check_conv(op, cv, err);
    if (st == TS_OK) {
        cv->op_dtype = ts_bitserial_accum_dtype((int)cv->abits, (int)cv->wbits,
                                                cv->c * cv->r * cv->s);
        if (cv->op_dtype.bits == 0 || cv->op_dtype.bits > 32)
            st = ts_fail(err, TS_EINVAL, "%s: the operator's accumulator for C %lld x R %lld "
                         "x S %lld at A%lldW%lld is wider than int32, which these kernels "
                         "sum in", op, (long long)cv->c, (long long)cv->r, (long long)cv->s,
                         (long long)cv->abits, (long long)cv->wbits);
    }
    return st;
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
    TsTensor *data, *weight, *scale, *bias, *pad;
    TsTensor *acc;          /* the tensorized reduction */
    TsTensor *prod;         /* the 0/1 x 0/1 product, int32 (acc itself but for CNT) */
    TsTensor *side;         /* encodings 1 and 2: the activations summed over the window */
    TsTensor *wsum, *wside; /* encoding 2: weights summed over channels, then valid taps */
    TsTensor *out;
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

/* CNT: acc (uint16 lanes) and prod, its lanes summed. */
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
    t->prod = ts_compute_tagged(A, "bitserial_product", "bitserial_product", 5,
                                (TsAxis *[]){ n, oc, oh, ow, ob2 },
                                ts_sum(A, ts_cast(A, TS_INT32, lane), 1, &lr, NULL));
}

/* MLA and UMLAL: acc (= prod), the products of uint8 values summed in int32. */
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
    t->acc = ts_compute_tagged(A, "bitserial_product", "bitserial_product", 5,
                               (TsAxis *[]){ spatial[0], spatial[1], spatial[2], spatial[3], ob },
                               ts_sum(A, product(A, in, w), pairs > 1 ? 5 : 4, reduce, NULL));
    t->prod = t->acc;
}

/* An operand element as an int32 0/1 value sum: the value, or its byte's popcount. */
static TsExpr *element_sum(TsArena *A, Scheme scheme, TsExpr *element)
{
    return ts_cast(A, TS_INT32, scheme == SCHEME_CNT ? ts_popcount(A, element) : element);
}

/* side[n, oh, ow]: the activations summed over the window (padding and the channel tail
 * are zero). */
static void side_stage(TsArena *A, Scheme scheme, const Conv *cv, const Knobs *kn, ConvTensors *t)
{
    TsAxis *n = ts_axis(A, "n", cv->n), *oh = ts_axis(A, "oh", cv->oh), *ow = ts_axis(A, "ow", cv->ow);
    TsAxis *ic = ts_reduce_axis(A, "ic", channel_blocks(scheme, cv, kn));
    TsAxis *kh = ts_reduce_axis(A, "kh", cv->r), *kw = ts_reduce_axis(A, "kw", cv->s);
    TsAxis *lane = ts_reduce_axis(A, "lane", data_lanes(scheme, kn));
    TsExpr *y = ts_add(A, ts_mul(A, ts_var(oh), ts_i32(A, cv->stride)), ts_var(kh));
    TsExpr *x = ts_add(A, ts_mul(A, ts_var(ow), ts_i32(A, cv->stride)), ts_var(kw));
    TsExpr *v = element_sum(A, scheme, ts_at(A, t->pad, ts_var(n), ts_var(ic), y, x, ts_var(lane)));
    t->side = ts_compute_tagged(A, "side", "bitserial_side", 3, (TsAxis *[]){ n, oh, ow },
                                ts_sum(A, v, 4, (TsAxis *[]){ ic, kh, kw, lane }, NULL));
}

/* The taps of a window along one dimension that fall inside the data: kh in
 * [max(0, pad - o s), min(R, H + pad - o s)). */
static TsExpr *valid_taps(TsArena *A, TsExpr *o, int64_t stride, int64_t pad, int64_t extent,
                          int64_t taps)
{
    TsExpr *start = ts_sub(A, ts_i32(A, pad), ts_mul(A, o, ts_i32(A, stride)));
    TsExpr *lo = ts_max(A, start, ts_i32(A, 0));
    TsExpr *hi = ts_min(A, ts_add(A, start, ts_i32(A, extent)), ts_i32(A, taps));
    return ts_max(A, ts_sub(A, hi, lo), ts_i32(A, 0));
}

/* wsum[oc, kh, kw, ob]: the weights summed over the channels; wside[oc, oh, ow, ob]: wsum
 * summed over the taps inside the data. */
static void weight_side(TsArena *A, Scheme scheme, const Conv *cv, const Knobs *kn,
                        ConvTensors *t)
{
    int64_t ocb = sch_ceil_div(cv->k, kn->oc_bn);
    TsAxis *oc = ts_axis(A, "oc", ocb), *kh = ts_axis(A, "kh", cv->r), *kw = ts_axis(A, "kw", cv->s);
    TsAxis *ob = ts_axis(A, "ob", kn->oc_bn), *ic = ts_reduce_axis(A, "ic", channel_blocks(scheme, cv, kn));
    int nd = ts_tensor_ndim(t->weight);
    TsAxis *lanes[2] = { ts_reduce_axis(A, "lane", ts_tensor_dim(t->weight, scheme == SCHEME_CNT ? 5 : 4)),
                         ts_reduce_axis(A, "g", 2) };
    TsExpr *idx[7] = { ts_var(oc), ts_var(ic), ts_var(kh), ts_var(kw), ts_var(lanes[0]), ts_var(ob),
                       ts_var(lanes[1]) };
    if (scheme == SCHEME_CNT)
        idx[4] = ts_var(ob), idx[5] = ts_var(lanes[0]);
    TsExpr *w = ts_access(A, t->weight, nd, idx);
    t->wsum = ts_compute_tagged(A, "wsum", "bitserial_wsum", 4, (TsAxis *[]){ oc, kh, kw, ob },
                                ts_sum(A, element_sum(A, scheme, w), nd == 7 ? 3 : 2,
                                       (TsAxis *[]){ ic, lanes[0], lanes[1] }, NULL));
    TsAxis *oc2 = ts_axis(A, "oc", ocb), *oh = ts_axis(A, "oh", cv->oh), *ow = ts_axis(A, "ow", cv->ow);
    TsAxis *ob2 = ts_axis(A, "ob", kn->oc_bn);
    TsAxis *rh = ts_reduce_axis(A, "kh", cv->r), *rw = ts_reduce_axis(A, "kw", cv->s);
    TsExpr *y = ts_sub(A, ts_add(A, ts_mul(A, ts_var(oh), ts_i32(A, cv->stride)), ts_var(rh)),
                       ts_i32(A, cv->pad));
    TsExpr *x = ts_sub(A, ts_add(A, ts_mul(A, ts_var(ow), ts_i32(A, cv->stride)), ts_var(rw)),
                       ts_i32(A, cv->pad));
    TsExpr *inside = ts_and(A, ts_and(A, ts_ge(A, y, ts_i32(A, 0)), ts_lt(A, y, ts_i32(A, cv->h))),
                            ts_and(A, ts_ge(A, x, ts_i32(A, 0)), ts_lt(A, x, ts_i32(A, cv->w))));
    TsExpr *v = ts_select(A, inside, ts_at(A, t->wsum, ts_var(oc2), ts_var(rh), ts_var(rw), ts_var(ob2)),
                          ts_i32(A, 0));
    t->wside = ts_compute_tagged(A, "wside", "bitserial_wside", 4, (TsAxis *[]){ oc2, oh, ow, ob2 },
                                 ts_sum(A, v, 2, (TsAxis *[]){ rh, rw }, NULL));
}

/* The encoding's value from the 0/1 x 0/1 product d (int32), alpha = 2^abits - 1,
 * beta = 2^wbits - 1: d; 2d - beta side; 4d - 2 beta side - 2 alpha wside + alpha beta
 * valid, valid the real channels times the taps inside the data. */
static TsExpr *fold(TsArena *A, const Conv *cv, const ConvTensors *t, TsExpr *d, TsAxis *const *ax)
{
    int64_t alpha = (INT64_C(1) << cv->abits) - 1, beta = (INT64_C(1) << cv->wbits) - 1;
    if (cv->encoding == ENC_01_01)
        return d;
    TsExpr *side = ts_at(A, t->side, ts_var(ax[0]), ts_var(ax[2]), ts_var(ax[3]));
    if (cv->encoding == ENC_01_PM1)
        return ts_sub(A, ts_mul(A, d, ts_i32(A, 2)), ts_mul(A, side, ts_i32(A, beta)));
    TsExpr *wside = ts_at(A, t->wside, ts_var(ax[1]), ts_var(ax[2]), ts_var(ax[3]), ts_var(ax[4]));
    TsExpr *valid = ts_mul(A, valid_taps(A, ts_var(ax[2]), cv->stride, cv->pad, cv->h, cv->r),
                           valid_taps(A, ts_var(ax[3]), cv->stride, cv->pad, cv->w, cv->s));
    TsExpr *v = ts_sub(A, ts_mul(A, d, ts_i32(A, 4)), ts_mul(A, side, ts_i32(A, 2 * beta)));
    v = ts_sub(A, v, ts_mul(A, wside, ts_i32(A, 2 * alpha)));
    return ts_add(A, v, ts_mul(A, valid, ts_i32(A, alpha * beta * cv->c)));
}

/* te/ops' ts_op_bitserial_output on the blocked layout (scale and bias [oc, ob]), or with
 * output=0 the operator's type (with relu, clamped at 0). */
static TsExpr *output_value(TsArena *A, const Conv *cv, const ConvTensors *t, TsExpr *v,
                            TsAxis *oc, TsAxis *ob)
{
    if (cv->output == OUTPUT_ACC) {
        v = ts_cast(A, cv->op_dtype, v);
        return cv->relu ? ts_max(A, v, ts_int(A, cv->op_dtype, 0)) : v;
    }
    TsExpr *y = ts_mul(A, ts_cast(A, TS_FLOAT32, v), ts_at(A, t->scale, ts_var(oc), ts_var(ob)));
    y = ts_add(A, y, ts_at(A, t->bias, ts_var(oc), ts_var(ob)));
    if (cv->relu)
        y = ts_max(A, y, ts_f32(A, 0.0));
    if (cv->output == OUTPUT_F32)
        return y;
    y = ts_min(A, ts_max(A, y, ts_f32(A, -128.0)), ts_f32(A, 127.0));
    TsExpr *r = ts_floor(A, y), *half = ts_f32(A, 0.5);
    TsExpr *frac = ts_sub(A, y, r);
    TsExpr *odd = ts_ne(A, ts_mul(A, ts_floor(A, ts_mul(A, r, half)), ts_f32(A, 2.0)), r);
    TsExpr *up = ts_or(A, ts_gt(A, frac, half), ts_and(A, ts_eq(A, frac, half), odd));
    return ts_cast(A, TS_INT8, ts_add(A, r, ts_select(A, up, ts_f32(A, 1.0), ts_f32(A, 0.0))));
}

static void conv_expression(TsArena *A, Scheme scheme, const Conv *cv, const Knobs *kn,
                            const char *tag, ConvTensors *t)
{
    int64_t icb = channel_blocks(scheme, cv, kn), lanes = data_lanes(scheme, kn);
    int64_t ocb = sch_ceil_div(cv->k, kn->oc_bn);
    t->data = ts_placeholder(A, "data", 5, (int64_t[]){ cv->n, icb, cv->h, cv->w, lanes }, TS_UINT8);
    t->scale = t->bias = t->side = t->wsum = t->wside = NULL;
    if (cv->output != OUTPUT_ACC) {
        t->scale = ts_placeholder(A, "scale", 2, (int64_t[]){ ocb, kn->oc_bn }, TS_FLOAT32);
        t->bias = ts_placeholder(A, "bias", 2, (int64_t[]){ ocb, kn->oc_bn }, TS_FLOAT32);
    }
    t->pad = sch_nchwc_pad(A, t->data, cv->pad);
    TsAxis *spatial[4] = { ts_axis(A, "n", cv->n), ts_axis(A, "oc", ocb), ts_axis(A, "oh", cv->oh),
                           ts_axis(A, "ow", cv->ow) };
    TsExpr *y = ts_mul(A, ts_var(spatial[2]), ts_i32(A, cv->stride));
    TsExpr *x = ts_mul(A, ts_var(spatial[3]), ts_i32(A, cv->stride));
    if (scheme == SCHEME_CNT)
        cnt_expression(A, cv, kn, t, spatial, y, x);
    else
        value_expression(A, scheme, cv, kn, t, spatial, y, x);
    if (cv->encoding != ENC_01_01)
        side_stage(A, scheme, cv, kn, t);
    if (cv->encoding == ENC_PM1_PM1)
        weight_side(A, scheme, cv, kn, t);
    TsAxis *ax[5] = { ts_axis(A, "n", cv->n), ts_axis(A, "oc", ocb), ts_axis(A, "oh", cv->oh),
                      ts_axis(A, "ow", cv->ow), ts_axis(A, "ob", kn->oc_bn) };
    TsExpr *d = ts_at(A, t->prod, ts_var(ax[0]), ts_var(ax[1]), ts_var(ax[2]), ts_var(ax[3]),
                      ts_var(ax[4]));
    TsExpr *v = output_value(A, cv, t, fold(A, cv, t, d, ax), ax[1], ax[4]);
    t->out = ts_compute_tagged(A, tag, tag, 5, ax, v);
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

/* CNT's product: each position's lanes summed, in the block the accumulator fills. */
static TsStatus schedule_cnt_product(TsSchedule *sch, const ConvTensors *t, TsError *err)
{
    TsStage *st = ts_stage(sch, t->prod);
    TsStatus s = ts_unroll(st, ts_stage_root_axis(st, 5), err);
    if (s == TS_OK)
        s = ts_unroll(st, ts_stage_root_axis(st, 4), err);
    return s;
}

/* A stage computed at the root: its two outer loops fused and parallel when asked. */
static TsStatus schedule_root_stage(TsSchedule *sch, TsTensor *tensor, const Knobs *kn,
                                    TsError *err)
{
    if (!tensor || !kn->parallel)
        return TS_OK;
    TsStage *st = ts_stage(sch, tensor);
    TsAxis *fused;
    TsStatus s = ts_fuse(st, ts_stage_root_axis(st, 0), ts_stage_root_axis(st, 1), &fused, err);
    return s == TS_OK ? ts_parallel(st, fused, err) : s;
}

static TsStatus schedule_padding(TsSchedule *sch, const ConvTensors *t, const Knobs *kn,
                                 TsError *err)
{
    if (t->pad == t->data)
        return TS_OK;
    TsStage *st = ts_stage(sch, t->pad);
    TsStatus s = ts_vectorize(st, ts_stage_root_axis(st, 4), err);
    return s == TS_OK ? schedule_root_stage(sch, t->pad, kn, err) : s;
}

/* The output in register blocks (sch_schedule_conv_output: ob as vectors, n x oc
 * parallel), the product and the accumulator computed at the block; the side stages at
 * the root. */
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
    st = sch_schedule_conv_output(*sch, t->out, t->prod, 1, kn->reg_n, kn->parallel != 0, err);
    if (st == TS_OK && scheme == SCHEME_CNT) {
        /* the product's outermost loop inside the block: the block's lanes at once */
        TsStage *prod = ts_stage(*sch, t->prod);
        st = ts_compute_at(ts_stage(*sch, t->acc), prod, ts_stage_root_axis(prod, 2), err);
        if (st == TS_OK)
            st = schedule_cnt_product(*sch, t, err);
    }
    if (st == TS_OK)
        st = schedule_accumulator(scheme, ts_stage(*sch, t->acc), kn, intrin, err);
    if (st == TS_OK)
        st = schedule_padding(*sch, t, kn, err);
    if (st == TS_OK)
        st = schedule_root_stage(*sch, t->side, kn, err);
    if (st == TS_OK)
        st = schedule_root_stage(*sch, t->wside, kn, err);
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
    conv_expression(A, scheme_of(&cv), &cv, &kn, fam->dense ? "bitserial_dense" : "bitserial_conv2d",
                    &t);
    if ((st = ts_arena_check(A, err)) != TS_OK)
        return st;
    TsSchedule *sch;
    st = schedule_conv(A, scheme_of(&cv), &kn, &t, &sch, err);
    if (st != TS_OK)
        return st;
    *out = (TsTemplateInstance){ .sch = sch, .num_outputs = 1 };
    out->tensors[out->num_tensors++] = t.data;
    out->tensors[out->num_tensors++] = t.weight;
    if (t.scale) {
        out->tensors[out->num_tensors++] = t.scale;
        out->tensors[out->num_tensors++] = t.bias;
    }
    out->tensors[out->num_tensors++] = t.out;
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
