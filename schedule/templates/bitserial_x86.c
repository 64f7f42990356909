/* The x86-64 bitserial templates: conv2d and dense on bit-packed operands of 1-8 bits,
 * each product of bit planes a popcount of 32-bit words (vpopcntd on zmm with
 * AVX512-VPOPCNTDQ; the byte counts or nibble lookups LLVM makes of llvm.ctpop on other
 * targets, the AVX2 fallback). Arguments of bitserial_conv2d: N C H W K R S stride pad
 * abits wbits, and optionally encoding (0, the default), groups and dilation (1); of
 * bitserial_dense: M N K abits wbits, and optionally encoding. Both take the optional
 * output stage: output=0 (the accumulator, the default), 1 (float32) or 2 (int8), and
 * relu=1 (see below).
 *
 * Encodings (te/ops' definitions; an operand of b bits is the unsigned number u of its
 * bit planes u_0 .. u_{b-1}):
 *   0: 0/1 x 0/1, a = u and w = v: out = sum a * w, each plane pair an AND-popcount;
 *   1: 0/1 activations x +-1 weights, w = 2v - (2^wb - 1) (each plane +-1);
 *   2: +-1 x +-1, a = 2u - (2^ab - 1) as well (XNOR-popcount).
 * Zero padding contributes nothing in every encoding: for encoding 2 the padding stage
 * adds a plane of valid-channel masks (zero in the padding, the channel tail cleared),
 * and a pair counts the differing bits under the mask.
 *
 * Layouts (channels in 32-bit words, bit c % 32 of word c / 32; each group's channels
 * start a new word):
 *   data   [N, H, W, abits, G * CWG]                       uint32
 *   weight [G * KBG, CWG, R, S, wbits, ob]                  uint32  (ob = oc_bn)
 *   out    [N, G * KBG, OH, OW, ob]                         int32 or int64
 * with CWG = ceil(C / G / 32) words per group and KBG = ceil(K / G / ob) output blocks
 * per group; padded weight channels are zero, padded output channels the caller's to
 * ignore. The data is te/ops' ts_op_bitpack of NCHW or NHWC data into uint32 words,
 * which is also what ts_op_bitserial_threshold_pack gives the next layer. Dense is the
 * 1x1 convolution of one image of M positions: data [1, 1, M, abits, KW] (ts_op_bitpack's
 * [M, abits, KW]), weight [NB, KW, 1, 1, wbits, ob], out [1, NB, 1, M, ob].
 *
 * The expression. P_ij, the popcounts of plane pair (i, j) over the window and the words:
 *     P_ij[n, kb, oh, ow, ob] = sum over cw, kh, kw of popcount(t_ij)
 *     t_ij = a_i & w_j (encodings 0 and 1), (a_i ^ w_j) & mask (encoding 2)
 *     Q = sum over i, j of P_ij << (i + j)
 *     out = Q                                   (encoding 0)
 *           2Q - (2^wb - 1) * S,  S = sum of a over the window   (1)
 *           (2^ab - 1)(2^wb - 1) * S - 2Q,  S = valid elements of the window   (2)
 * S (channel-independent, [N, G, OH, OW]) is a small stage of its own. The sums are
 * int32 unless 2 (2^ab - 1)(2^wb - 1) C/G R S reaches 2^31, then int64, so no input
 * can overflow them, and out has the operator's type (ts_bitserial_accum_dtype: int16,
 * int32 or int64). Knob "pairs" picks the accumulation: 1 keeps one accumulator per
 * plane pair (stage "planes", int32; AND, popcount and add per step, the shifts once
 * per output in the output loop), 0 one accumulator shifted at every step (fewer
 * registers at high bit widths).
 *
 * The fused output stage, te/ops' ts_op_bitserial_output on the blocked layout, computed
 * in the output loop: with output=1 or 2 the kernel takes scale and bias [G * KBG, ob]
 * (float32, per output channel, blocked as out) after the weight, and gives
 *     y = float32(out) * scale + bias, then max(y, 0) with relu=1,
 * as float32 (output=1) or saturated to int8 with rounding half to even (output=2).
 * With output=0, relu=1 is max(out, 0) in the integer type.
 *
 * The schedule (as conv2d_NCHWc_int8's): the output in register blocks of reg_n
 * positions (tile_ow) by oh_bn rows (tile_oh), ob as vectors of 32-bit lanes (16 on
 * AVX-512, 8 on AVX2; oc_bn one or two vectors), n x output blocks parallel. The
 * accumulator is computed at the block with loops cw, kh, kw (unrolled with unroll_kw),
 * then the plane pairs, rows and positions unrolled and ob as vectors: a weight vector
 * is loaded once per (word, kh, kw, plane) and each data word broadcast once per
 * position and plane. Fused consumers (scale and bias, ReLU, requantization) are
 * computed where the block is stored (schedule_dag). */
#include <stdio.h>
#include <string.h>

#include "tessera/ops.h"
#include "tmpl_internal.h"

enum { WORD_BITS = 32, MAX_BITS = 8, ENC_AND = 0, ENC_PM1_WEIGHTS = 1, ENC_XNOR = 2 };

/* A bitserial problem; dense is the 1x1 convolution of one image of M positions. */
typedef struct Bitserial {
    const char *name;
    int64_t n, c, h, w, k, r, s, stride, pad, dilation, groups;
    int64_t abits, wbits, encoding, output, relu;
    int64_t oh, ow;
    int64_t cwg;       /* words per group */
    TsDType acc_dtype; /* of Q and the side sums */
    TsDType op_dtype;  /* the operator's: ts_bitserial_accum_dtype */
} Bitserial;

enum { OUTPUT_ACC = 0, OUTPUT_F32 = 1, OUTPUT_INT8 = 2 };

static const char *const conv_args[] = { "N", "C", "H", "W", "K", "R", "S", "stride", "pad",
                                         "abits", "wbits", NULL };
static const char *const dense_args[] = { "M", "N", "K", "abits", "wbits", NULL };

/* An optional integer argument in [lo, hi], def when absent. */
static TsStatus optional_arg(const char *op, const TsTemplateArgs *args, const char *name,
                             int64_t def, int64_t lo, int64_t hi, int64_t *out, TsError *err)
{
    *out = def;
    int64_t v;
    TsDType dt;
    if (ts_template_args_get_dtype(args, name, &dt, NULL) == TS_OK)
        return ts_fail(err, TS_EINVAL, "%s: argument %s must be an integer", op, name);
    if (ts_template_args_get(args, name, &v, NULL) != TS_OK)
        return TS_OK;
    if (v < lo || v > hi)
        return ts_fail(err, TS_EINVAL, "%s: argument %s=%lld must be in [%lld, %lld]", op, name,
                       (long long)v, (long long)lo, (long long)hi);
    *out = v;
    return TS_OK;
}

/* The accumulator: int32 while 2 (2^ab - 1)(2^wb - 1) C/G R S stays below 2^31. */
static TsDType accumulator_dtype(const Bitserial *b)
{
    double most = 2.0 * (double)((1 << b->abits) - 1) * (double)((1 << b->wbits) - 1) *
                  (double)(b->c / b->groups) * (double)b->r * (double)b->s;
    return most < 2147483648.0 ? TS_INT32 : TS_INT64;
}

static TsStatus finish_problem(Bitserial *b, TsError *err)
{
    if (b->abits < 1 || b->abits > MAX_BITS || b->wbits < 1 || b->wbits > MAX_BITS)
        return ts_fail(err, TS_EINVAL, "%s: abits=%lld and wbits=%lld must be in [1, %d]",
                       b->name, (long long)b->abits, (long long)b->wbits, MAX_BITS);
    if (b->c % b->groups || b->k % b->groups)
        return ts_fail(err, TS_EINVAL, "%s: groups=%lld must divide C=%lld and K=%lld", b->name,
                       (long long)b->groups, (long long)b->c, (long long)b->k);
    int64_t span_r = (b->r - 1) * b->dilation + 1, span_s = (b->s - 1) * b->dilation + 1;
    if (b->h + 2 * b->pad < span_r || b->w + 2 * b->pad < span_s)
        return ts_fail(err, TS_EINVAL, "%s: the kernel %lldx%lld (dilation %lld) does not fit "
                       "the padded input %lldx%lld", b->name, (long long)b->r, (long long)b->s,
                       (long long)b->dilation, (long long)(b->h + 2 * b->pad),
                       (long long)(b->w + 2 * b->pad));
    b->oh = (b->h + 2 * b->pad - span_r) / b->stride + 1;
    b->ow = (b->w + 2 * b->pad - span_s) / b->stride + 1;
    b->cwg = sch_ceil_div(b->c / b->groups, WORD_BITS);
    b->acc_dtype = accumulator_dtype(b);
    b->op_dtype = ts_bitserial_accum_dtype((int)b->abits, (int)b->wbits,
                                           b->c / b->groups * b->r * b->s);
    if (b->op_dtype.bits == 0)
        return ts_fail(err, TS_EINVAL, "%s: no accumulator for a reduction of %lld", b->name,
                       (long long)(b->c / b->groups * b->r * b->s));
    return TS_OK;
}

/* The optional arguments every bitserial template takes. */
static TsStatus read_common(const char *name, const TsTemplateArgs *args, Bitserial *b,
                            TsError *err)
{
    TsStatus st = optional_arg(name, args, "encoding", ENC_AND, ENC_AND, ENC_XNOR, &b->encoding,
                               err);
    if (st == TS_OK)
        st = optional_arg(name, args, "output", OUTPUT_ACC, OUTPUT_ACC, OUTPUT_INT8, &b->output,
                          err);
    if (st == TS_OK)
        st = optional_arg(name, args, "relu", 0, 0, 1, &b->relu, err);
    return st;
}

static TsStatus read_conv(const char *name, const TsTemplateArgs *args,
                          const TsTemplateTarget *target, Bitserial *b, TsError *err)
{
    static const int64_t min[] = { 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1 };
    int64_t v[11] = { 0 };
    TsStatus st = sch_tmpl_read_args(name, args, conv_args, min, v, err);
    if (st == TS_OK)
        st = sch_tmpl_check_target(name, target, err);
    *b = (Bitserial){ .name = name, .n = v[0], .c = v[1], .h = v[2], .w = v[3], .k = v[4],
                      .r = v[5], .s = v[6], .stride = v[7], .pad = v[8], .abits = v[9],
                      .wbits = v[10] };
    if (st == TS_OK)
        st = read_common(name, args, b, err);
    if (st == TS_OK)
        st = optional_arg(name, args, "groups", 1, 1, TS_MAX_EXTENT, &b->groups, err);
    if (st == TS_OK)
        st = optional_arg(name, args, "dilation", 1, 1, TS_MAX_EXTENT, &b->dilation, err);
    return st == TS_OK ? finish_problem(b, err) : st;
}

static TsStatus read_dense(const char *name, const TsTemplateArgs *args,
                           const TsTemplateTarget *target, Bitserial *b, TsError *err)
{
    static const int64_t min[] = { 1, 1, 1, 1, 1 };
    int64_t v[5] = { 0 };
    TsStatus st = sch_tmpl_read_args(name, args, dense_args, min, v, err);
    if (st == TS_OK)
        st = sch_tmpl_check_target(name, target, err);
    *b = (Bitserial){ .name = name, .n = 1, .c = v[2], .h = 1, .w = v[0], .k = v[1], .r = 1,
                      .s = 1, .stride = 1, .pad = 0, .dilation = 1, .groups = 1, .abits = v[3],
                      .wbits = v[4] };
    if (st == TS_OK)
        st = read_common(name, args, b, err);
    return st == TS_OK ? finish_problem(b, err) : st;
}

typedef TsStatus (*ReadProblem)(const char *name, const TsTemplateArgs *args,
                                const TsTemplateTarget *target, Bitserial *b, TsError *err);

/* 32-bit lanes of one vector. */
static int64_t word_lanes(const TsTemplateTarget *target)
{
    return sch_tmpl_lanes(target);
}

/* ---- the space ---- */

static const int64_t reg_ns[] = { 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 28 };

static TsStatus define_register_block(const Bitserial *b, TsConfigSpace *space, TsError *err)
{
    int64_t rows[2 * 16];
    int n = 0;
    for (size_t i = 0; i < sizeof reg_ns / sizeof reg_ns[0]; i++) {
        if (reg_ns[i] > b->ow && i > 0)
            break;
        rows[2 * n] = -1;
        rows[2 * n + 1] = reg_ns[i];
        n++;
    }
    TsSplitOptions opt = {
        .policy = TS_SPLIT_CANDIDATES, .num_outputs = 2, .candidates = rows, .num_candidates = n
    };
    TsStatus st = ts_space_define_split(space, "tile_ow", b->ow, &opt, err);
    TsSplitOptions oh_opt = { .policy = TS_SPLIT_POWER2, .num_outputs = 2, .max_factor = 2 };
    if (st == TS_OK)
        st = ts_space_define_split(space, "tile_oh", b->oh, &oh_opt, err);
    return st;
}

static TsStatus define_space(ReadProblem read, const char *name, const TsTemplateArgs *args,
                             const TsTemplateTarget *target, TsConfigSpace *space, TsError *err)
{
    Bitserial b;
    TsStatus st = read(name, args, target, &b, err);
    int64_t lanes = word_lanes(target);
    const int64_t oc[] = { lanes, 2 * lanes };
    static const int64_t on_off[] = { 0, 1 };
    if (st == TS_OK)
        st = ts_space_define_knob(space, "oc_bn", 2, oc, err);
    if (st == TS_OK)
        st = define_register_block(&b, space, err);
    if (st == TS_OK)
        st = ts_space_define_knob(space, "pairs", 2, on_off, err);
    if (st == TS_OK)
        st = ts_space_define_knob(space, "unroll_kw", b.s > 1 ? 2 : 1, on_off, err);
    if (st == TS_OK)
        st = ts_space_define_knob(space, "parallel", target->num_cores > 1 ? 2 : 1, on_off, err);
    return st;
}

/* A register block of at most max output positions, preferring one that divides the
 * row (no tail) down to max / 2. */
static int64_t register_block(int64_t ow, int64_t max)
{
    if (ow <= max)
        return ow;
    for (int64_t r = max; r >= (max + 1) / 2; r--)
        if (ow % r == 0)
            return r;
    return max;
}

/* One vector of output channels; one accumulator per plane pair up to four pairs; as
 * many positions as keep the accumulators within 24 registers (12 on AVX2), at most 8. */
static TsStatus default_config(ReadProblem read, const char *name, const TsTemplateArgs *args,
                               const TsTemplateTarget *target, const TsConfigSpace *space,
                               TsConfig *out, TsError *err)
{
    Bitserial b;
    TsStatus st = read(name, args, target, &b, err);
    if (st != TS_OK)
        return st;
    int64_t pairs = b.abits * b.wbits <= 4, per_position = pairs ? b.abits * b.wbits : 1;
    int64_t budget = sch_tmpl_registers(target) == 16 ? 12 : 24;
    int64_t most = budget / per_position < 8 ? budget / per_position : 8;
    int64_t ow[] = { register_block(b.ow, most < 1 ? 1 : most) }, oh[] = { 1 };
    sch_tmpl_config_init(space, out);
    st = sch_tmpl_want_knob(out, "oc_bn", word_lanes(target), err);
    if (st == TS_OK)
        st = sch_tmpl_want_split(out, "tile_ow", ow, 1, err);
    if (st == TS_OK)
        st = sch_tmpl_want_split(out, "tile_oh", oh, 1, err);
    if (st == TS_OK)
        st = sch_tmpl_want_knob(out, "pairs", pairs, err);
    if (st == TS_OK)
        st = sch_tmpl_want_knob(out, "unroll_kw", 1, err);
    if (st == TS_OK)
        st = sch_tmpl_want_knob(out, "parallel", target->num_cores > 1, err);
    if (st == TS_OK)
        st = sch_tmpl_config_finish(out, err);
    return st;
}

/* ---- the expression ---- */

typedef struct Knobs {
    int64_t oc_bn, reg_n, oh_bn, pairs, unroll_kw, parallel;
} Knobs;

static TsStatus read_knobs(const TsConfig *config, Knobs *kn, TsError *err)
{
    int64_t f[TS_KNOB_MAX_OUTPUTS] = { 0 };
    int n;
    TsStatus st = TS_OK;
    kn->oc_bn = sch_tmpl_knob(config, "oc_bn", err, &st);
    if (st == TS_OK)
        st = ts_config_split(config, "tile_ow", f, TS_KNOB_MAX_OUTPUTS, &n, err);
    kn->reg_n = f[1];
    if (st == TS_OK)
        st = ts_config_split(config, "tile_oh", f, TS_KNOB_MAX_OUTPUTS, &n, err);
    kn->oh_bn = f[1];
    kn->pairs = sch_tmpl_knob(config, "pairs", err, &st);
    kn->unroll_kw = 0;
    if (st == TS_OK && ts_config_knob(config, "unroll_kw", &kn->unroll_kw, NULL) != TS_OK)
        kn->unroll_kw = 0;
    kn->parallel = sch_tmpl_knob(config, "parallel", err, &st);
    return st;
}

typedef struct Tensors {
    TsTensor *data, *weight, *scale, *bias, *pad, *side, *acc, *out;
} Tensors;

static TsExpr *i32(TsArena *A, int64_t v)
{
    return ts_i32(A, v);
}

/* The valid-channel mask of word cw (all ones but the group's last word's tail). */
static TsExpr *channel_mask(TsArena *A, const Bitserial *b, TsExpr *cw)
{
    int64_t tail = (b->c / b->groups) % WORD_BITS;
    TsExpr *full = ts_uint(A, TS_UINT32, 0xffffffffu);
    if (tail == 0)
        return full;
    TsExpr *last = ts_eq(A, ts_floormod(A, cw, i32(A, b->cwg)), i32(A, b->cwg - 1));
    return ts_select(A, last, ts_uint(A, TS_UINT32, (1u << tail) - 1u), full);
}

/* data padded with zero words, and for encoding 2 a last plane of channel masks (zero in
 * the padding); data itself when neither is needed. */
static TsTensor *pad_stage(TsArena *A, const Bitserial *b, TsTensor *data)
{
    bool mask = b->encoding == ENC_XNOR;
    if (b->pad == 0 && !mask)
        return data;
    int64_t cw = ts_tensor_dim(data, 4), p = b->pad;
    TsAxis *an = ts_axis(A, "n", b->n), *ac = ts_axis(A, "cw", cw);
    TsAxis *ay = ts_axis(A, "y", b->h + 2 * p), *ax = ts_axis(A, "x", b->w + 2 * p);
    TsAxis *ap = ts_axis(A, "plane", b->abits + mask);
    TsExpr *y = ts_sub(A, ts_var(ay), i32(A, p)), *x = ts_sub(A, ts_var(ax), i32(A, p));
    TsExpr *inside = ts_and(A, ts_and(A, ts_ge(A, y, i32(A, 0)), ts_lt(A, y, i32(A, b->h))),
                            ts_and(A, ts_ge(A, x, i32(A, 0)), ts_lt(A, x, i32(A, b->w))));
    TsExpr *plane = ts_var(ap);
    TsExpr *value = ts_at(A, data, ts_var(an), y, x,
                          mask ? ts_min(A, plane, i32(A, b->abits - 1)) : plane, ts_var(ac));
    if (mask)
        value = ts_select(A, ts_lt(A, plane, i32(A, b->abits)), value,
                          channel_mask(A, b, ts_var(ac)));
    return ts_compute_tagged(A, "data_pad", "pad", 5, (TsAxis *[]){ an, ay, ax, ap, ac },
                             ts_if_then_else(A, inside, value, ts_uint(A, TS_UINT32, 0)));
}

/* Where an output position reads the padded data. */
typedef struct Window {
    TsExpr *n, *word, *y, *x;
} Window;

static Window window(TsArena *A, const Bitserial *b, TsExpr *n, TsExpr *group, TsAxis *cw,
                     TsAxis *oh, TsAxis *ow, TsAxis *kh, TsAxis *kw)
{
    TsExpr *word = ts_var(cw);
    if (b->groups > 1)
        word = ts_add(A, ts_mul(A, group, i32(A, b->cwg)), word);
    TsExpr *dil = i32(A, b->dilation), *stride = i32(A, b->stride);
    return (Window){ n, word, ts_add(A, ts_mul(A, ts_var(oh), stride), ts_mul(A, ts_var(kh), dil)),
                     ts_add(A, ts_mul(A, ts_var(ow), stride), ts_mul(A, ts_var(kw), dil)) };
}

/* int32 popcount of plane pair (i, j) at one step of the reduction. */
static TsExpr *pair_count(TsArena *A, const Bitserial *b, const Tensors *t, const Window *win,
                          TsExpr *i, TsExpr *j, TsExpr *kb, TsAxis *cw, TsAxis *kh, TsAxis *kw,
                          TsExpr *ob)
{
    TsExpr *a = ts_at(A, t->pad, win->n, win->y, win->x, i, win->word);
    TsExpr *w = ts_at(A, t->weight, kb, ts_var(cw), ts_var(kh), ts_var(kw), j, ob);
    TsExpr *bits = ts_bitand(A, a, w);
    if (b->encoding == ENC_XNOR)
        bits = ts_bitand(A, ts_bitxor(A, a, w),
                         ts_at(A, t->pad, win->n, win->y, win->x, i32(A, b->abits),
                               win->word));
    return ts_cast(A, TS_INT32, ts_popcount(A, bits));
}

/* The output's axes n, kb, oh, ow, ob and the reduction's cw, kh, kw. */
typedef struct Axes {
    TsAxis *n, *kb, *oh, *ow, *ob, *cw, *kh, *kw;
} Axes;

static Axes make_axes(TsArena *A, const Bitserial *b, int64_t kb, int64_t oc_bn)
{
    return (Axes){ ts_axis(A, "n", b->n), ts_axis(A, "kb", kb), ts_axis(A, "oh", b->oh),
                   ts_axis(A, "ow", b->ow), ts_axis(A, "ob", oc_bn),
                   ts_reduce_axis(A, "cw", b->cwg), ts_reduce_axis(A, "kh", b->r),
                   ts_reduce_axis(A, "kw", b->s) };
}

/* The group of output block kb (per-group blocks kbg). */
static TsExpr *group_of(TsArena *A, const Bitserial *b, TsExpr *kb, int64_t kbg)
{
    return b->groups > 1 ? ts_floordiv(A, kb, i32(A, kbg)) : i32(A, 0);
}

/* planes[n, kb, oh, ow, i, j, ob] = P_ij (int32). */
static TsTensor *planes_stage(TsArena *A, const Bitserial *b, const Tensors *t, int64_t kb,
                              int64_t kbg, int64_t oc_bn)
{
    Axes x = make_axes(A, b, kb, oc_bn);
    TsAxis *ai = ts_axis(A, "i", b->abits), *aj = ts_axis(A, "j", b->wbits);
    Window win = window(A, b, ts_var(x.n), group_of(A, b, ts_var(x.kb), kbg), x.cw, x.oh, x.ow,
                        x.kh, x.kw);
    TsExpr *count = pair_count(A, b, t, &win, ts_var(ai), ts_var(aj), ts_var(x.kb), x.cw, x.kh,
                               x.kw, ts_var(x.ob));
    return ts_compute_tagged(A, "planes", "bitserial_planes", 7,
                             (TsAxis *[]){ x.n, x.kb, x.oh, x.ow, ai, aj, x.ob },
                             ts_sum(A, count, 3, (TsAxis *[]){ x.cw, x.kh, x.kw }, NULL));
}

/* q[n, kb, oh, ow, ob] = Q, each pair's count shifted at every step. */
static TsTensor *shifted_stage(TsArena *A, const Bitserial *b, const Tensors *t, int64_t kb,
                               int64_t kbg, int64_t oc_bn)
{
    Axes x = make_axes(A, b, kb, oc_bn);
    TsAxis *ri = ts_reduce_axis(A, "i", b->abits), *rj = ts_reduce_axis(A, "j", b->wbits);
    Window win = window(A, b, ts_var(x.n), group_of(A, b, ts_var(x.kb), kbg), x.cw, x.oh, x.ow,
                        x.kh, x.kw);
    TsExpr *count = ts_cast(A, b->acc_dtype,
                            pair_count(A, b, t, &win, ts_var(ri), ts_var(rj), ts_var(x.kb), x.cw,
                                       x.kh, x.kw, ts_var(x.ob)));
    TsExpr *shift = ts_cast(A, b->acc_dtype, ts_add(A, ts_var(ri), ts_var(rj)));
    return ts_compute_tagged(
        A, "q", "bitserial_q", 5, (TsAxis *[]){ x.n, x.kb, x.oh, x.ow, x.ob },
        ts_sum(A, ts_shl(A, count, shift), 5, (TsAxis *[]){ x.cw, x.kh, x.kw, ri, rj }, NULL));
}

/* side[n, g, oh, ow]: the sum of the activations over the window (encoding 1), or the
 * number of valid elements (encoding 2); NULL for encoding 0. */
static TsTensor *side_stage(TsArena *A, const Bitserial *b, const Tensors *t)
{
    if (b->encoding == ENC_AND)
        return NULL;
    TsAxis *an = ts_axis(A, "n", b->n), *ag = ts_axis(A, "g", b->groups);
    TsAxis *oh = ts_axis(A, "oh", b->oh), *ow = ts_axis(A, "ow", b->ow);
    TsAxis *cw = ts_reduce_axis(A, "cw", b->cwg), *kh = ts_reduce_axis(A, "kh", b->r);
    TsAxis *kw = ts_reduce_axis(A, "kw", b->s);
    Window win = window(A, b, ts_var(an), ts_var(ag), cw, oh, ow, kh, kw);
    TsAxis *axes[] = { an, ag, oh, ow };
    if (b->encoding == ENC_XNOR) {
        TsExpr *m = ts_at(A, t->pad, win.n, win.y, win.x, i32(A, b->abits), win.word);
        TsExpr *count = ts_cast(A, b->acc_dtype, ts_popcount(A, m));
        return ts_compute_tagged(A, "side", "bitserial_side", 4, axes,
                                 ts_sum(A, count, 3, (TsAxis *[]){ cw, kh, kw }, NULL));
    }
    TsAxis *ri = ts_reduce_axis(A, "i", b->abits);
    TsExpr *a = ts_at(A, t->pad, win.n, win.y, win.x, ts_var(ri), win.word);
    TsExpr *count = ts_cast(A, b->acc_dtype, ts_popcount(A, a));
    TsExpr *weighted = ts_shl(A, count, ts_cast(A, b->acc_dtype, ts_var(ri)));
    return ts_compute_tagged(A, "side", "bitserial_side", 4, axes,
                             ts_sum(A, weighted, 4, (TsAxis *[]){ cw, kh, kw, ri }, NULL));
}

static TsExpr *acc_int(TsArena *A, const Bitserial *b, int64_t v)
{
    return ts_int(A, b->acc_dtype, v);
}

/* out from Q and the side sum, by encoding. */
static TsExpr *combine(TsArena *A, const Bitserial *b, const Tensors *t, TsExpr *q, TsAxis *n,
                       TsExpr *group, TsAxis *oh, TsAxis *ow)
{
    if (b->encoding == ENC_AND)
        return q;
    TsExpr *side = ts_at(A, t->side, ts_var(n), group, ts_var(oh), ts_var(ow));
    int64_t wmax = (1 << b->wbits) - 1, amax = (1 << b->abits) - 1;
    TsExpr *twice = ts_add(A, q, q);
    if (b->encoding == ENC_PM1_WEIGHTS)
        return ts_sub(A, twice, ts_mul(A, side, acc_int(A, b, wmax)));
    return ts_sub(A, ts_mul(A, side, acc_int(A, b, amax * wmax)), twice);
}

/* The output stage of te/ops' ts_op_bitserial_output (its formula, on the blocked
 * layout) or, with output=0, the operator's type (with relu, clamped at 0). */
static TsExpr *output_value(TsArena *A, const Bitserial *b, const Tensors *t, TsExpr *v,
                            TsAxis *kb, TsAxis *ob)
{
    if (b->output == OUTPUT_ACC) {
        v = ts_cast(A, b->op_dtype, v);
        return b->relu ? ts_max(A, v, ts_int(A, b->op_dtype, 0)) : v;
    }
    TsExpr *y = ts_cast(A, TS_FLOAT32, v);
    y = ts_mul(A, y, ts_at(A, t->scale, ts_var(kb), ts_var(ob)));
    y = ts_add(A, y, ts_at(A, t->bias, ts_var(kb), ts_var(ob)));
    if (b->relu)
        y = ts_max(A, y, ts_f32(A, 0.0));
    if (b->output == OUTPUT_F32)
        return y;
    y = ts_min(A, ts_max(A, y, ts_f32(A, -128.0)), ts_f32(A, 127.0));
    TsExpr *r = ts_floor(A, y), *half = ts_f32(A, 0.5);
    TsExpr *frac = ts_sub(A, y, r);
    TsExpr *odd = ts_ne(A, ts_mul(A, ts_floor(A, ts_mul(A, r, half)), ts_f32(A, 2.0)), r);
    TsExpr *up = ts_or(A, ts_gt(A, frac, half), ts_and(A, ts_eq(A, frac, half), odd));
    return ts_cast(A, TS_INT8, ts_add(A, r, ts_select(A, up, ts_f32(A, 1.0), ts_f32(A, 0.0))));
}

/* The operator's output: from the plane accumulators (pairs) or from q. */
static TsTensor *output_stage(TsArena *A, const Bitserial *b, const Tensors *t, int64_t kb,
                              int64_t kbg, int64_t oc_bn, bool pairs, const char *tag)
{
    TsAxis *n = ts_axis(A, "n", b->n), *akb = ts_axis(A, "kb", kb);
    TsAxis *oh = ts_axis(A, "oh", b->oh), *ow = ts_axis(A, "ow", b->ow);
    TsAxis *ob = ts_axis(A, "ob", oc_bn);
    TsExpr *q = NULL;
    if (pairs) {
        for (int64_t i = 0; i < b->abits; i++)
            for (int64_t j = 0; j < b->wbits; j++) {
                TsExpr *p = ts_cast(A, b->acc_dtype,
                                    ts_at(A, t->acc, ts_var(n), ts_var(akb), ts_var(oh),
                                          ts_var(ow), i32(A, i), i32(A, j), ts_var(ob)));
                if (i + j > 0)
                    p = ts_shl(A, p, acc_int(A, b, i + j));
                q = q ? ts_add(A, q, p) : p;
            }
    } else {
        q = ts_at(A, t->acc, ts_var(n), ts_var(akb), ts_var(oh), ts_var(ow), ts_var(ob));
    }
    TsExpr *value = combine(A, b, t, q, n, group_of(A, b, ts_var(akb), kbg), oh, ow);
    value = output_value(A, b, t, value, akb, ob);
    return ts_compute_tagged(A, tag, tag, 5, (TsAxis *[]){ n, akb, oh, ow, ob }, value);
}

static void build_expression(TsArena *A, const Bitserial *b, const Knobs *kn, bool dense,
                             Tensors *t)
{
    int64_t kbg = sch_ceil_div(b->k / b->groups, kn->oc_bn), kb = kbg * b->groups;
    int64_t cw = b->cwg * b->groups;
    t->data = ts_placeholder(A, "data", 5, (int64_t[]){ b->n, b->h, b->w, b->abits, cw },
                             TS_UINT32);
    t->weight = ts_placeholder(A, "weight", 6,
                               (int64_t[]){ kb, b->cwg, b->r, b->s, b->wbits, kn->oc_bn },
                               TS_UINT32);
    t->scale = t->bias = NULL;
    if (b->output != OUTPUT_ACC) {
        t->scale = ts_placeholder(A, "scale", 2, (int64_t[]){ kb, kn->oc_bn }, TS_FLOAT32);
        t->bias = ts_placeholder(A, "bias", 2, (int64_t[]){ kb, kn->oc_bn }, TS_FLOAT32);
    }
    t->pad = pad_stage(A, b, t->data);
    t->side = side_stage(A, b, t);
    t->acc = kn->pairs ? planes_stage(A, b, t, kb, kbg, kn->oc_bn)
                       : shifted_stage(A, b, t, kb, kbg, kn->oc_bn);
    t->out = output_stage(A, b, t, kb, kbg, kn->oc_bn, kn->pairs != 0,
                          dense ? "bitserial_dense" : "bitserial_conv2d");
}

/* ---- the schedule ---- */

/* The accumulator at the output's block: block loops, cw, kh, kw, then the plane pairs,
 * rows and positions unrolled, ob as vectors. */
static TsStatus schedule_accumulator(TsSchedule *sch, const Tensors *t, const Knobs *kn,
                                     TsError *err)
{
    TsStage *st = ts_stage(sch, t->acc);
    TsAxis *r[10];
    for (int i = 0; i < 10; i++)
        r[i] = ts_stage_root_axis(st, i);
    /* pairs: n kb oh ow i j ob | cw kh kw;  shifted: n kb oh ow ob | cw kh kw i j */
    TsAxis *ai = kn->pairs ? r[4] : r[8], *aj = kn->pairs ? r[5] : r[9];
    TsAxis *ob = kn->pairs ? r[6] : r[4];
    TsAxis *cw = kn->pairs ? r[7] : r[5], *kh = kn->pairs ? r[8] : r[6];
    TsAxis *kw = kn->pairs ? r[9] : r[7];
    TsAxis *oho, *ohi, *owo, *owi;
    TsStatus s = ts_split(st, r[2], kn->oh_bn, &oho, &ohi, err);
    if (s == TS_OK)
        s = ts_split(st, r[3], kn->reg_n, &owo, &owi, err);
    if (s == TS_OK)
        s = ts_reorder(st, 12,
                       (TsAxis *[]){ r[0], r[1], oho, owo, cw, kh, kw, aj, ai, ohi, owi, ob },
                       err);
    TsAxis *unrolled[] = { aj, ai, ohi, owi };
    for (int i = 0; i < 4 && s == TS_OK; i++)
        s = ts_unroll(st, unrolled[i], err);
    if (s == TS_OK && kn->unroll_kw)
        s = ts_unroll(st, kw, err);
    if (s == TS_OK)
        s = ts_vectorize(st, ob, err);
    return s;
}

/* The padding and side stages at the root, the two outer loops fused and parallel when
 * asked. */
static TsStatus schedule_root_stage(TsSchedule *sch, TsTensor *t, const Knobs *kn, TsError *err)
{
    if (!t || !kn->parallel || ts_tensor_is_placeholder(t))
        return TS_OK;
    TsStage *st = ts_stage(sch, t);
    TsAxis *fused;
    TsStatus s = ts_fuse(st, ts_stage_root_axis(st, 0), ts_stage_root_axis(st, 1), &fused, err);
    return s == TS_OK ? ts_parallel(st, fused, err) : s;
}

static TsStatus schedule_bitserial(TsArena *arena, const Knobs *kn, const Tensors *t,
                                   const TsTemplateDag *dag, TsSchedule **sch, TsTensor **final,
                                   TsError *err)
{
    TsStatus st = sch_dag_begin(arena, dag, t->out, sch, final, err);
    if (st == TS_OK && *final != t->out)
        st = ts_compute_inline(ts_stage(*sch, t->out), err);
    if (st == TS_OK)
        st = sch_schedule_conv_output(*sch, *final, t->acc, kn->oh_bn, kn->reg_n,
                                      kn->parallel != 0, err);
    if (st == TS_OK)
        st = schedule_accumulator(*sch, t, kn, err);
    if (st == TS_OK && t->pad != t->data)
        st = schedule_root_stage(*sch, t->pad, kn, err);
    if (st == TS_OK)
        st = schedule_root_stage(*sch, t->side, kn, err);
    return st;
}

static TsStatus prepare(ReadProblem read, const char *name, const TsTemplateArgs *args,
                        const TsTemplateTarget *target, const TsConfig *config, Bitserial *b,
                        Knobs *kn, TsError *err)
{
    TsStatus st = read(name, args, target, b, err);
    if (st == TS_OK)
        st = read_knobs(config, kn, err);
    int64_t lanes = word_lanes(target);
    if (st == TS_OK && (kn->oc_bn < 1 || kn->oc_bn % lanes || kn->reg_n < 1 || kn->oh_bn < 1))
        st = ts_fail(err, TS_EINVAL, "%s: oc_bn %lld must be a multiple of %lld", name,
                     (long long)kn->oc_bn, (long long)lanes);
    return st;
}

static TsStatus instantiate(ReadProblem read, const char *name, bool dense,
                            const TsTemplateArgs *args, const TsTemplateTarget *target,
                            const TsConfig *config, TsArena *arena, TsTemplateInstance *out,
                            TsError *err)
{
    Bitserial b;
    Knobs kn;
    TsStatus st = prepare(read, name, args, target, config, &b, &kn, err);
    if (st != TS_OK)
        return st;
    Tensors t;
    build_expression(arena, &b, &kn, dense, &t);
    if ((st = ts_arena_check(arena, err)) != TS_OK)
        return st;
    TsSchedule *sch;
    TsTensor *final;
    st = schedule_bitserial(arena, &kn, &t, NULL, &sch, &final, err);
    if (st != TS_OK)
        return st;
    *out = (TsTemplateInstance){ .sch = sch, .num_outputs = 1, .tensors = { t.data, t.weight } };
    out->num_tensors = 2;
    if (t.scale) {
        out->tensors[out->num_tensors++] = t.scale;
        out->tensors[out->num_tensors++] = t.bias;
    }
    out->tensors[out->num_tensors++] = t.out;
    return TS_OK;
}

/* Finds a stage by tag among the inputs of t and theirs (the DAG's operator is an
 * instance's output). */
static TsTensor *find_tagged(TsTensor *t, const char *tag, int depth)
{
    if (!t || ts_tensor_is_placeholder(t))
        return NULL;
    if (strcmp(ts_tensor_tag(t), tag) == 0)
        return t;
    for (int i = 0; depth > 0 && i < ts_tensor_num_inputs(t); i++) {
        TsTensor *found = find_tagged(ts_tensor_input(t, i), tag, depth - 1);
        if (found)
            return found;
    }
    return NULL;
}

static TsStatus schedule_dag(ReadProblem read, const char *name, bool dense,
                             const TsTemplateArgs *args, const TsTemplateTarget *target,
                             const TsConfig *config, TsArena *arena, const TsTemplateDag *dag,
                             TsTemplateInstance *inst, TsError *err)
{
    Bitserial b;
    Knobs kn;
    TsStatus st = prepare(read, name, args, target, config, &b, &kn, err);
    if (st != TS_OK)
        return st;
    const char *tag = dense ? "bitserial_dense" : "bitserial_conv2d";
    Tensors t = { .data = inst->tensors[0], .weight = inst->tensors[1],
                  .out = inst->tensors[inst->num_tensors - 1] };
    int want_tensors = b.output == OUTPUT_ACC ? 3 : 5;
    t.acc = find_tagged(t.out, kn.pairs ? "bitserial_planes" : "bitserial_q", 1);
    t.pad = find_tagged(t.acc, "pad", 1);
    t.side = find_tagged(t.out, "bitserial_side", 1);
    if (!t.pad)
        t.pad = t.data;
    if (strcmp(ts_tensor_tag(t.out), tag) != 0 || inst->num_tensors != want_tensors || !t.acc ||
        ts_tensor_dim(t.out, 4) != kn.oc_bn || (b.encoding != ENC_AND && !t.side))
        return ts_fail(err, TS_EINVAL, "%s: the DAG's operator %s is not the output of a %s "
                       "instance for this config", name, ts_tensor_name(t.out), tag);
    TsSchedule *sch;
    TsTensor *final;
    st = schedule_bitserial(arena, &kn, &t, dag, &sch, &final, err);
    if (st == TS_OK)
        sch_dag_finish(dag, sch, final, inst);
    return st;
}

/* Multiply-adds times two of the real (unpacked) operation, as for the other integer
 * operators: comparable across bit widths and with fp32. */
static double bitserial_flop(const Bitserial *b)
{
    return 2.0 * (double)b->n * (double)b->k * (double)b->oh * (double)b->ow *
           (double)(b->c / b->groups) * (double)b->r * (double)b->s;
}

static double conv_flop(const TsTemplateArgs *args)
{
    Bitserial b;
    return read_conv("bitserial_conv2d", args, &sch_any_target, &b, NULL) == TS_OK
               ? bitserial_flop(&b)
               : 0;
}

static double dense_flop(const TsTemplateArgs *args)
{
    Bitserial b;
    return read_dense("bitserial_dense", args, &sch_any_target, &b, NULL) == TS_OK
               ? bitserial_flop(&b)
               : 0;
}

/* ---- the templates ---- */

#define BITSERIAL_FUNCTIONS(V, READ, DENSE)                                                        \
    static TsStatus V##_define_space(const TsTemplateArgs *args, const TsTemplateTarget *target,   \
                                     TsConfigSpace *space, TsError *err)                           \
    {                                                                                              \
        return define_space(READ, #V, args, target, space, err);                                   \
    }                                                                                              \
    static TsStatus V##_default_config(const TsTemplateArgs *args, const TsTemplateTarget *target, \
                                       const TsConfigSpace *space, TsConfig *out, TsError *err)    \
    {                                                                                              \
        return default_config(READ, #V, args, target, space, out, err);                            \
    }                                                                                              \
    static TsStatus V##_instantiate(const TsTemplateArgs *args, const TsTemplateTarget *target,    \
                                    const TsConfig *config, TsArena *arena,                        \
                                    TsTemplateInstance *out, TsError *err)                         \
    {                                                                                              \
        return instantiate(READ, #V, DENSE, args, target, config, arena, out, err);                \
    }                                                                                              \
    static TsStatus V##_schedule_dag(                                                              \
        const TsTemplateArgs *args, const TsTemplateTarget *target, const TsConfig *config,        \
        TsArena *arena, const TsTemplateDag *dag, TsTemplateInstance *inst, TsError *err)          \
    {                                                                                              \
        return schedule_dag(READ, #V, DENSE, args, target, config, arena, dag, inst, err);         \
    }

BITSERIAL_FUNCTIONS(bitserial_conv2d_x86, read_conv, false)
BITSERIAL_FUNCTIONS(bitserial_dense_x86, read_dense, true)

static const char *const avx2_features[] = { "avx2", NULL };

const TsTemplate sch_template_bitserial_conv2d_x86 = {
    .name = "bitserial_conv2d_x86",
    .op = "bitserial_conv2d",
    .summary = "bitserial conv2d of 1-8 bit activations and weights packed in 32-bit words "
               "(encodings 0/1, +-1 weights, XNOR), popcounts over vectors of output channels "
               "(vpopcntd with avx512vpopcntdq, else LLVM's expansion)",
    .features = avx2_features,
    .priority = 10,
    .arg_names = conv_args,
    .define_space = bitserial_conv2d_x86_define_space,
    .default_config = bitserial_conv2d_x86_default_config,
    .instantiate = bitserial_conv2d_x86_instantiate,
    .flop = conv_flop,
    .schedule_dag = bitserial_conv2d_x86_schedule_dag,
};

const TsTemplate sch_template_bitserial_dense_x86 = {
    .name = "bitserial_dense_x86",
    .op = "bitserial_dense",
    .summary = "bitserial dense of 1-8 bit operands packed in 32-bit words, the 1x1 "
               "convolution of the bitserial_conv2d template over the rows",
    .features = avx2_features,
    .priority = 10,
    .arg_names = dense_args,
    .define_space = bitserial_dense_x86_define_space,
    .default_config = bitserial_dense_x86_default_config,
    .instantiate = bitserial_dense_x86_instantiate,
    .flop = dense_flop,
    .schedule_dag = bitserial_dense_x86_schedule_dag,
};
