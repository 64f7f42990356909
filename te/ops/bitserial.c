/* Extremely low-bit operators of the operator library: ts_op_bitpack (bit planes of an
 * integer tensor packed along one axis into unsigned words), the bitserial products
 * ts_op_bitserial_conv2d and ts_op_bitserial_dense over packed operands in three
 * encodings (0/1 x 0/1 AND-popcount, 0/1 x +-1, +-1 x +-1 XNOR-popcount), and their
 * output stages (scale and bias, ReLU or clip, int8, or thresholds packed straight into
 * the next layer's input).
 *
 * The products are plain compute definitions that the interpreters and the generic
 * schedule run and that the bitserial templates schedule: one reduction over (kernel
 * row, kernel column, activation plane, weight plane, word), the word innermost, each
 * term a popcount of two words times 2^(i + j) in an accumulator wide enough for every
 * partial sum (ts_bitserial_accum_dtype). Padded taps are guarded out of the sum, so a
 * padded position contributes 0 in every encoding; the word tails are 0 in both
 * operands, which the AND forms ignore and the XNOR form counts out (valid bits only).
 */
#include "ops_internal.h"

static const char *const op_pack = "bitpack";
static const char *const op_conv = "bitserial_conv2d";
static const char *const op_dense = "bitserial_dense";
static const char *const op_output = "bitserial_output";
static const char *const op_threshold = "bitserial_threshold_pack";

/* ---- shared rules ---- */

const char *ts_bitserial_encoding_name(TsBitserialEncoding encoding)
{
    switch (encoding) {
    case TS_BITSERIAL_01_01: return "01x01";
    case TS_BITSERIAL_01_PM1: return "01xpm1";
    case TS_BITSERIAL_PM1_PM1: return "pm1xpm1";
    }
    return NULL;
}

static bool word_ok(TsDType word)
{
    return ts_dtype_is_uint(word) && word.lanes == 1 &&
           (word.bits == 8 || word.bits == 16 || word.bits == 32 || word.bits == 64);
}

TsDType ts_bitserial_accum_dtype(int activation_bits, int weight_bits, int64_t reduction_length)
{
    if (activation_bits < 1 || activation_bits > TS_BITSERIAL_MAX_BITS || weight_bits < 1 ||
        weight_bits > TS_BITSERIAL_MAX_BITS || reduction_length < 1 ||
        reduction_length > TS_MAX_EXTENT * (int64_t)TS_MAX_EXTENT)
        return ts_dtype(TS_TYPE_INT, 0, 1);
    /* At most 2^62 * 255 * 255 / 2^62: the bound is checked without overflowing int64. */
    int64_t per_element = ((INT64_C(1) << activation_bits) - 1) * ((INT64_C(1) << weight_bits) - 1);
    if (reduction_length <= INT16_MAX / per_element)
        return TS_INT16;
    if (reduction_length <= INT32_MAX / per_element)
        return TS_INT32;
    return TS_INT64;
}

int64_t ts_bitserial_num_words(int64_t length, TsDType word)
{
    if (!word_ok(word) || length < 1)
        return 0;
    return (length + word.bits - 1) / word.bits;
}

static bool check_bits(TsArena *arena, const char *op, const char *what, int64_t bits)
{
    if (bits >= 1 && bits <= TS_BITSERIAL_MAX_BITS)
        return true;
    ts_arena_fail(arena, TS_EINVAL, "%s: %s %lld outside [1, %d]", op, what, (long long)bits,
                  TS_BITSERIAL_MAX_BITS);
    return false;
}

static bool check_word(TsArena *arena, const char *op, const char *what, TsDType word)
{
    char buf[TS_DTYPE_STR_MAX];

    if (word_ok(word))
        return true;
    ts_arena_fail(arena, TS_EINVAL,
                  "%s: %s %s is not an unsigned word (uint8, uint16, "
                  "uint32 or uint64)",
                  op, what, ts_dtype_str(word, buf));
    return false;
}

static bool check_encoding(TsArena *arena, const char *op, TsBitserialEncoding encoding)
{
    if (ts_bitserial_encoding_name(encoding) != NULL)
        return true;
    ts_arena_fail(arena, TS_EINVAL, "%s: encoding %d is not a TsBitserialEncoding", op,
                  (int)encoding);
    return false;
}

/* ---- packing ---- */

/* What a pack stage reads: the element at an index of the unpacked shape, whose packed
 * dimension holds the channel expression. */
typedef TsExpr *(*ElementFn)(TsArena *arena, const void *ctx, TsExpr *const *index);

typedef struct Pack {
    const char *op, *name, *tag;
    TeOpShape in; /* the unpacked shape */
    int axis;     /* normalized */
    int bits;
    int64_t groups;
    TsDType word;
    ElementFn element;
    const void *ctx;
} Pack;

/* out[..., p, w] = sum over lanes l of ((element(c) >> p) & 1) << l, c the channel of
 * lane l of word w; lanes past the group's channels are 0 (the sum of distinct bits is
 * their OR). */
static TsTensor *pack_stage(TsArena *A, const Pack *pk)
{
    int64_t length = pk->in.dim[pk->axis], per_group = length / pk->groups;
    int64_t group_words = ts_bitserial_num_words(per_group, pk->word);
    static const char *const names[TS_MAX_DIMS] = {
        "i0", "i1", "i2", "i3", "i4", "i5", "i6", "i7"
    };
    TsAxis *axes[TS_MAX_DIMS + 1];
    TsExpr *index[TS_MAX_DIMS];
    int nd = 0;

    if (pk->in.ndim + 1 > TS_MAX_DIMS) {
        ts_arena_fail(A, TS_EINVAL, "%s: data of rank %d would pack to rank %d > %d", pk->op,
                      pk->in.ndim, pk->in.ndim + 1, TS_MAX_DIMS);
        return NULL;
    }
    if (pk->groups * group_words > TS_MAX_EXTENT) {
        ts_arena_fail(A, TS_EINVAL, "%s: %lld words exceed the largest extent", pk->op,
                      (long long)(pk->groups * group_words));
        return NULL;
    }
    for (int d = 0; d < pk->in.ndim; d++)
        if (d != pk->axis) {
            axes[nd] = ts_axis(A, names[d], pk->in.dim[d]);
            index[d] = ts_var(axes[nd++]);
        }
    TsAxis *plane = ts_axis(A, "plane", pk->bits);
    TsAxis *word = ts_axis(A, "word", pk->groups * group_words);
    TsAxis *lane = ts_reduce_axis(A, "lane", pk->word.bits);
    axes[nd++] = plane;
    axes[nd++] = word;

    /* the channel within the group, and in the whole axis */
    TsExpr *w = ts_var(word), *g = NULL;
    if (pk->groups > 1) {
        g = ts_floordiv(A, w, ts_i32(A, group_words));
        w = ts_floormod(A, w, ts_i32(A, group_words));
    }
    TsExpr *in_group = ts_add(A, te_op_scale(A, w, pk->word.bits), ts_var(lane));
    index[pk->axis] = g ? ts_add(A, te_op_scale(A, g, per_group), in_group) : in_group;

    TsExpr *value = ts_cast(A, pk->word, pk->element(A, pk->ctx, index));
    TsExpr *bit =
        ts_bitand(A, ts_shr(A, value, ts_cast(A, pk->word, ts_var(plane))), ts_int(A, pk->word, 1));
    TsExpr *placed = ts_shl(A, bit, ts_cast(A, pk->word, ts_var(lane)));
    TsExpr *zero = ts_int(A, pk->word, 0);
    if (per_group % pk->word.bits != 0)
        placed = ts_if_then_else(A, ts_lt(A, in_group, ts_i32(A, per_group)), placed, zero);
    return ts_compute_tagged(A, pk->name, pk->tag, nd, axes,
                             ts_sum(A, placed, 1, (TsAxis *[]){ lane }, NULL));
}

static TsExpr *tensor_element(TsArena *arena, const void *ctx, TsExpr *const *index)
{
    TsTensor *t = (TsTensor *)ctx;
    return ts_access(arena, t, ts_tensor_ndim(t), index);
}

/* Checks shared by the packing builders; fills the shape and the normalized axis. */
static bool check_pack(TsArena *arena, const char *op, TsTensor *data, int axis, int bits,
                       int64_t groups, TsDType word, Pack *pk)
{
    char buf[TS_DTYPE_STR_MAX];

    if (!te_op_tensor(arena, op, "data", data, &pk->in) ||
        !te_op_axis(arena, op, axis, pk->in.ndim, false, &pk->axis) ||
        !check_bits(arena, op, "bits", bits) || !check_word(arena, op, "word", word) ||
        !te_op_attr(arena, op, "groups", groups, 1))
        return false;
    TsDType dt = ts_tensor_dtype(data);
    if (!ts_dtype_is_int(dt) || dt.lanes != 1) {
        ts_arena_fail(arena, TS_EINVAL, "%s: data '%s' is %s, not an integer tensor", op,
                      ts_tensor_name(data), ts_dtype_str(dt, buf));
        return false;
    }
    if (pk->in.dim[pk->axis] % groups != 0) {
        ts_arena_fail(arena, TS_EINVAL,
                      "%s: groups %lld does not divide dimension %d (%lld) "
                      "of data '%s'",
                      op, (long long)groups, pk->axis, (long long)pk->in.dim[pk->axis],
                      ts_tensor_name(data));
        return false;
    }
    pk->op = op;
    pk->bits = bits;
    pk->groups = groups;
    pk->word = word;
    return true;
}

TsTensor *ts_op_bitpack(TsArena *arena, TsTensor *data, int axis, int bits, int64_t groups,
                        TsDType word)
{
    Pack pk;

    if (arena == NULL || !check_pack(arena, op_pack, data, axis, bits, groups, word, &pk))
        return NULL;
    pk.name = op_pack;
    pk.tag = op_pack;
    pk.element = tensor_element;
    pk.ctx = data;
    return pack_stage(arena, &pk);
}

/* ---- the bitserial products ---- */

/* What one term of a product needs: the operands' words, the planes, the encoding. */
typedef struct Product {
    TsBitserialEncoding encoding;
    TsDType word, acc;
    int64_t per_group; /* real channels of a group (in_features for dense) */
    int64_t group_words;
} Product;

/* The accumulator: the rule's dtype, or a requested signed integer at least as wide. */
static bool accum_dtype(TsArena *arena, const char *op, int abits, int wbits, int64_t reduction,
                        TsDType requested, TsDType *out)
{
    char buf[TS_DTYPE_STR_MAX], rule_buf[TS_DTYPE_STR_MAX];
    TsDType rule = ts_bitserial_accum_dtype(abits, wbits, reduction);

    if (rule.bits == 0) {
        ts_arena_fail(arena, TS_EINVAL, "%s: reduction length %lld has no accumulator", op,
                      (long long)reduction);
        return false;
    }
    if (requested.bits == 0) {
        *out = rule;
        return true;
    }
    if (!ts_dtype_is_int(requested) || ts_dtype_is_uint(requested) || requested.lanes != 1 ||
        requested.bits < rule.bits) {
        ts_arena_fail(arena, TS_EINVAL,
                      "%s: out_dtype %s cannot hold the sum (A%dW%d over %lld "
                      "terms needs a signed integer of at least %s)",
                      op, ts_dtype_str(requested, buf), abits, wbits, (long long)reduction,
                      ts_dtype_str(rule, rule_buf));
        return false;
    }
    *out = requested;
    return true;
}

/* One term: the encoding's plane product of words a (plane i) and w (plane j), times
 * 2^(i + j), in the accumulator; word_index is the word's index within its group. */
static TsExpr *term(TsArena *A, const Product *p, TsExpr *a, TsExpr *w, TsExpr *i, TsExpr *j,
                    TsExpr *word_index)
{
    TsDType acc = p->acc;
    TsExpr *value = NULL;
    TsExpr *two = ts_int(A, acc, 2);

    switch (p->encoding) {
    case TS_BITSERIAL_01_01: value = ts_cast(A, acc, ts_popcount(A, ts_bitand(A, a, w))); break;
    case TS_BITSERIAL_01_PM1:
        /* popcount(a & w) - popcount(a & ~w) = 2 popcount(a & w) - popcount(a) */
        value = ts_sub(A, ts_mul(A, two, ts_cast(A, acc, ts_popcount(A, ts_bitand(A, a, w)))),
                       ts_cast(A, acc, ts_popcount(A, a)));
        break;
    case TS_BITSERIAL_PM1_PM1: {
        /* matches minus mismatches over the real channels of the word; the tails of a
         * and w are both 0, so a ^ w counts real mismatches only */
        int64_t bits = p->word.bits;
        TsExpr *valid = ts_int(A, acc, bits);
        if (p->per_group % bits != 0)
            valid = ts_cast(
                A, acc,
                ts_min(A, ts_i32(A, bits),
                       ts_sub(A, ts_i32(A, p->per_group), te_op_scale(A, word_index, bits))));
        value =
            ts_sub(A, valid, ts_mul(A, two, ts_cast(A, acc, ts_popcount(A, ts_bitxor(A, a, w)))));
        break;
    }
    }
    TsExpr *weight = ts_shl(A, ts_int(A, acc, 1), ts_cast(A, acc, ts_add(A, i, j)));
    return ts_mul(A, value, weight);
}

/* The plane extents of packed operands, their word dtype and word counts. */
static bool check_planes(TsArena *arena, const char *op, TsTensor *data, const TeOpShape *sd,
                         TsTensor *weight, const TeOpShape *sw, int *abits, int *wbits)
{
    char buf[TS_DTYPE_STR_MAX];
    TsDType dw = ts_tensor_dtype(data);

    if (!check_word(arena, op, "data's word", dw) ||
        !check_word(arena, op, "weight's word", ts_tensor_dtype(weight)))
        return false;
    if (!ts_dtype_eq(dw, ts_tensor_dtype(weight))) {
        ts_arena_fail(arena, TS_EINVAL,
                      "%s: data '%s' and weight '%s' are packed in different "
                      "words (%s and %s)",
                      op, ts_tensor_name(data), ts_tensor_name(weight), ts_dtype_str(dw, buf),
                      ts_dtype_str(ts_tensor_dtype(weight), buf));
        return false;
    }
    *abits = (int)sd->dim[sd->ndim - 2];
    *wbits = (int)sw->dim[sw->ndim - 2];
    return check_bits(arena, op, "data's bit planes", sd->dim[sd->ndim - 2]) &&
           check_bits(arena, op, "weight's bit planes", sw->dim[sw->ndim - 2]);
}

/* The packed word count `have` of an operand matches `length` channels. */
static bool check_words(TsArena *arena, const char *op, const char *what, const TsTensor *t,
                        int64_t have, int64_t want, const char *length_what, int64_t length)
{
    if (have == want)
        return true;
    ts_arena_fail(arena, TS_EINVAL, "%s: %s '%s' has %lld words; %s %lld packs into %lld", op, what,
                  ts_tensor_name(t), (long long)have, length_what, (long long)length,
                  (long long)want);
    return false;
}

/* ---- conv2d ---- */

typedef struct BConv {
    int64_t batch, in_h, in_w, words; /* data [N, H, W, abits, words] */
    int64_t out_c, kern_h, kern_w;    /* weight */
    int64_t out_h, out_w;
    int abits, wbits;
    Product p;
} BConv;

TsBitserialConv2dAttrs ts_bitserial_conv2d_attrs_default(int64_t in_channels)
{
    TsBitserialConv2dAttrs attrs = {
        .stride = { 1, 1 },
        .padding = { 0, 0, 0, 0 },
        .dilation = { 1, 1 },
        .groups = 1,
        .layout = TS_LAYOUT_NCHW,
        .encoding = TS_BITSERIAL_01_01,
        .in_channels = in_channels,
        .out_dtype = { 0, 0, 0 },
    };
    return attrs;
}

static bool check_conv_attrs(TsArena *arena, const TsBitserialConv2dAttrs *attrs)
{
    static const char *const pad_names[4] = { "padding[0] (top)", "padding[1] (left)",
                                              "padding[2] (bottom)", "padding[3] (right)" };

    if (attrs == NULL) {
        ts_arena_fail(arena, TS_EINVAL, "%s: attrs is NULL", op_conv);
        return false;
    }
    if (!te_op_layout(arena, op_conv, attrs->layout) ||
        !check_encoding(arena, op_conv, attrs->encoding) ||
        !te_op_attr(arena, op_conv, "stride[0] (height)", attrs->stride[0], 1) ||
        !te_op_attr(arena, op_conv, "stride[1] (width)", attrs->stride[1], 1) ||
        !te_op_attr(arena, op_conv, "dilation[0] (height)", attrs->dilation[0], 1) ||
        !te_op_attr(arena, op_conv, "dilation[1] (width)", attrs->dilation[1], 1) ||
        !te_op_attr(arena, op_conv, "groups", attrs->groups, 1) ||
        !te_op_attr(arena, op_conv, "in_channels", attrs->in_channels, 1))
        return false;
    for (int i = 0; i < 4; i++)
        if (!te_op_attr(arena, op_conv, pad_names[i], attrs->padding[i], 0))
            return false;
    if (attrs->in_channels % attrs->groups != 0) {
        ts_arena_fail(arena, TS_EINVAL, "%s: groups %lld does not divide in_channels %lld", op_conv,
                      (long long)attrs->groups, (long long)attrs->in_channels);
        return false;
    }
    return true;
}

static bool conv_out_extent(TsArena *arena, const char *dim, int64_t in, int64_t pad_lo,
                            int64_t pad_hi, int64_t kernel, int64_t dilation, int64_t stride,
                            int64_t *out)
{
    int64_t padded = in + pad_lo + pad_hi, dilated = (kernel - 1) * dilation + 1;

    if (dilated > padded) {
        ts_arena_fail(arena, TS_EINVAL,
                      "%s: dilated kernel %s %lld exceeds padded input %s "
                      "%lld",
                      op_conv, dim, (long long)dilated, dim, (long long)padded);
        return false;
    }
    *out = (padded - dilated) / stride + 1;
    return true;
}

/* Reads the packed shapes and checks that they agree with the attributes. */
static bool read_conv(TsArena *arena, TsTensor *data, TsTensor *weight,
                      const TsBitserialConv2dAttrs *attrs, BConv *s)
{
    TeOpShape sd, sw;
    bool nchw = attrs->layout == TS_LAYOUT_NCHW;
    int64_t groups = attrs->groups;

    if (!te_op_tensor(arena, op_conv, "data", data, &sd) ||
        !te_op_tensor(arena, op_conv, "weight", weight, &sw) ||
        !te_op_rank(arena, op_conv, "data", data, &sd, 5) ||
        !te_op_rank(arena, op_conv, "weight", weight, &sw, 5) ||
        !check_planes(arena, op_conv, data, &sd, weight, &sw, &s->abits, &s->wbits))
        return false;
    s->batch = sd.dim[0], s->in_h = sd.dim[1], s->in_w = sd.dim[2], s->words = sd.dim[4];
    s->out_c = sw.dim[nchw ? 0 : 2];
    s->kern_h = sw.dim[nchw ? 1 : 0];
    s->kern_w = sw.dim[nchw ? 2 : 1];
    s->p.encoding = attrs->encoding;
    s->p.word = ts_tensor_dtype(data);
    s->p.per_group = attrs->in_channels / groups;
    s->p.group_words = ts_bitserial_num_words(s->p.per_group, s->p.word);
    if (s->out_c % groups != 0) {
        ts_arena_fail(arena, TS_EINVAL,
                      "%s: groups %lld does not divide weight '%s' "
                      "out-channels %lld",
                      op_conv, (long long)groups, ts_tensor_name(weight), (long long)s->out_c);
        return false;
    }
    if (!check_words(arena, op_conv, "data", data, s->words, groups * s->p.group_words,
                     "in_channels", attrs->in_channels) ||
        !check_words(arena, op_conv, "weight", weight, sw.dim[4], s->p.group_words,
                     "in_channels / groups", s->p.per_group))
        return false;
    return conv_out_extent(arena, "height", s->in_h, attrs->padding[0], attrs->padding[2],
                           s->kern_h, attrs->dilation[0], attrs->stride[0], &s->out_h) &&
           conv_out_extent(arena, "width", s->in_w, attrs->padding[1], attrs->padding[3], s->kern_w,
                           attrs->dilation[1], attrs->stride[1], &s->out_w) &&
           accum_dtype(arena, op_conv, s->abits, s->wbits, s->p.per_group * s->kern_h * s->kern_w,
                       attrs->out_dtype, &s->p.acc);
}

/* The input coordinate of output o and tap r along one dimension, and whether it lies
 * inside [0, extent) (NULL when it always does). */
static TsExpr *input_coord(TsArena *A, TsExpr *o, TsExpr *r, int64_t stride, int64_t dilation,
                           int64_t pad_lo, int64_t pad_hi, int64_t extent, TsExpr **inside)
{
    TsExpr *at = ts_add(A, te_op_scale(A, o, stride), te_op_scale(A, r, dilation));
    *inside = NULL;
    if (pad_lo == 0 && pad_hi == 0)
        return at;
    if (pad_lo != 0)
        at = ts_sub(A, at, ts_i32(A, pad_lo));
    *inside = ts_and(A, ts_ge(A, at, ts_i32(A, 0)), ts_lt(A, at, ts_i32(A, extent)));
    return at;
}

static TsTensor *bitserial_conv(TsArena *A, TsTensor *data, TsTensor *weight, const BConv *s,
                                const TsBitserialConv2dAttrs *attrs)
{
    bool nchw = attrs->layout == TS_LAYOUT_NCHW;
    const int64_t *pad = attrs->padding;
    TsAxis *n = ts_axis(A, "n", s->batch), *f = ts_axis(A, "f", s->out_c);
    TsAxis *y = ts_axis(A, "y", s->out_h), *x = ts_axis(A, "x", s->out_w);
    TsAxis *ry = ts_reduce_axis(A, "ry", s->kern_h), *rx = ts_reduce_axis(A, "rx", s->kern_w);
    TsAxis *ri = ts_reduce_axis(A, "ri", s->abits), *rj = ts_reduce_axis(A, "rj", s->wbits);
    TsAxis *rw = ts_reduce_axis(A, "rw", s->p.group_words);
    TsExpr *in_y, *in_x;
    TsExpr *row = input_coord(A, ts_var(y), ts_var(ry), attrs->stride[0], attrs->dilation[0],
                              pad[0], pad[2], s->in_h, &in_y);
    TsExpr *col = input_coord(A, ts_var(x), ts_var(rx), attrs->stride[1], attrs->dilation[1],
                              pad[1], pad[3], s->in_w, &in_x);
    TsExpr *word = ts_var(rw);
    if (attrs->groups > 1) {
        TsExpr *group = ts_floordiv(A, ts_var(f), ts_i32(A, s->out_c / attrs->groups));
        word = ts_add(A, te_op_scale(A, group, s->p.group_words), word);
    }
    TsExpr *a = ts_at(A, data, ts_var(n), row, col, ts_var(ri), word);
    TsExpr *w = nchw ? ts_at(A, weight, ts_var(f), ts_var(ry), ts_var(rx), ts_var(rj), ts_var(rw))
                     : ts_at(A, weight, ts_var(ry), ts_var(rx), ts_var(f), ts_var(rj), ts_var(rw));
    TsExpr *t = term(A, &s->p, a, w, ts_var(ri), ts_var(rj), ts_var(rw));
    TsExpr *inside = in_y && in_x ? ts_and(A, in_y, in_x) : in_y ? in_y : in_x;
    if (inside)
        t = ts_if_then_else(A, inside, t, ts_int(A, s->p.acc, 0));
    TsExpr *sum = ts_sum(A, t, 5, (TsAxis *[]){ ry, rx, ri, rj, rw }, NULL);
    TsAxis *out_axes[4] = { n, f, y, x };
    if (!nchw)
        out_axes[1] = y, out_axes[2] = x, out_axes[3] = f;
    return ts_compute_tagged(A, op_conv, nchw ? "bitserial_conv2d_nchw" : "bitserial_conv2d_nhwc",
                             4, out_axes, sum);
}

TsTensor *ts_op_bitserial_conv2d(TsArena *arena, TsTensor *data, TsTensor *weight,
                                 const TsBitserialConv2dAttrs *attrs)
{
    BConv s;

    if (arena == NULL || !check_conv_attrs(arena, attrs) ||
        !read_conv(arena, data, weight, attrs, &s))
        return NULL;
    return bitserial_conv(arena, data, weight, &s, attrs);
}

/* ---- dense ---- */

TsBitserialDenseAttrs ts_bitserial_dense_attrs_default(int64_t in_features)
{
    TsBitserialDenseAttrs attrs = {
        .encoding = TS_BITSERIAL_01_01,
        .in_features = in_features,
        .out_dtype = { 0, 0, 0 },
    };
    return attrs;
}

TsTensor *ts_op_bitserial_dense(TsArena *arena, TsTensor *data, TsTensor *weight,
                                const TsBitserialDenseAttrs *attrs)
{
    TeOpShape sd, sw;
    Product p;
    int abits, wbits;

    if (arena == NULL)
        return NULL;
    if (attrs == NULL) {
        ts_arena_fail(arena, TS_EINVAL, "%s: attrs is NULL", op_dense);
        return NULL;
    }
    if (!check_encoding(arena, op_dense, attrs->encoding) ||
        !te_op_attr(arena, op_dense, "in_features", attrs->in_features, 1) ||
        !te_op_tensor(arena, op_dense, "data", data, &sd) ||
        !te_op_tensor(arena, op_dense, "weight", weight, &sw) ||
        !te_op_rank(arena, op_dense, "data", data, &sd, 3) ||
        !te_op_rank(arena, op_dense, "weight", weight, &sw, 3) ||
        !check_planes(arena, op_dense, data, &sd, weight, &sw, &abits, &wbits))
        return NULL;
    p.encoding = attrs->encoding;
    p.word = ts_tensor_dtype(data);
    p.per_group = attrs->in_features;
    p.group_words = ts_bitserial_num_words(p.per_group, p.word);
    if (!check_words(arena, op_dense, "data", data, sd.dim[2], p.group_words, "in_features",
                     p.per_group) ||
        !check_words(arena, op_dense, "weight", weight, sw.dim[2], p.group_words, "in_features",
                     p.per_group) ||
        !accum_dtype(arena, op_dense, abits, wbits, p.per_group, attrs->out_dtype, &p.acc))
        return NULL;
    TsAxis *m = ts_axis(arena, "m", sd.dim[0]), *n = ts_axis(arena, "n", sw.dim[0]);
    TsAxis *ri = ts_reduce_axis(arena, "ri", abits), *rj = ts_reduce_axis(arena, "rj", wbits);
    TsAxis *rw = ts_reduce_axis(arena, "rw", p.group_words);
    TsExpr *a = ts_at(arena, data, ts_var(m), ts_var(ri), ts_var(rw));
    TsExpr *w = ts_at(arena, weight, ts_var(n), ts_var(rj), ts_var(rw));
    TsExpr *t = term(arena, &p, a, w, ts_var(ri), ts_var(rj), ts_var(rw));
    return ts_compute_tagged(arena, op_dense, op_dense, 2, (TsAxis *[]){ m, n },
                             ts_sum(arena, t, 3, (TsAxis *[]){ ri, rj, rw }, NULL));
}

/* ---- output stages ---- */

TsBitserialOutputAttrs ts_bitserial_output_attrs_default(int axis)
{
    TsBitserialOutputAttrs attrs = {
        .axis = axis,
        .relu = false,
        .clip = false,
        .clip_min = 0.0,
        .clip_max = 0.0,
        .out_dtype = TS_FLOAT32,
    };
    return attrs;
}

/* An integer accumulator tensor (the output of a bitserial product, or any). */
static bool check_accumulator(TsArena *arena, const char *op, TsTensor *acc, TeOpShape *shape)
{
    char buf[TS_DTYPE_STR_MAX];
    TsDType dt;

    if (!te_op_tensor(arena, op, "acc", acc, shape))
        return false;
    dt = ts_tensor_dtype(acc);
    if (!ts_dtype_is_int(dt) || dt.lanes != 1) {
        ts_arena_fail(arena, TS_EINVAL, "%s: acc '%s' is %s, not an integer accumulator", op,
                      ts_tensor_name(acc), ts_dtype_str(dt, buf));
        return false;
    }
    return true;
}

/* round half to even of a float32 v whose magnitude is below 2^23 (float32(int) is exact
 * there, and so is every step). */
static TsExpr *round_half_even(TsArena *A, TsExpr *v)
{
    TsExpr *r = ts_floor(A, v);
    TsExpr *frac = ts_sub(A, v, r);
    TsExpr *half = ts_f32(A, 0.5);
    TsExpr *odd = ts_ne(A, ts_mul(A, ts_floor(A, ts_mul(A, r, half)), ts_f32(A, 2.0)), r);
    TsExpr *up = ts_or(A, ts_gt(A, frac, half), ts_and(A, ts_eq(A, frac, half), odd));
    return ts_add(A, r, ts_select(A, up, ts_f32(A, 1.0), ts_f32(A, 0.0)));
}

static bool check_output_attrs(TsArena *arena, const TsBitserialOutputAttrs *attrs)
{
    char buf[TS_DTYPE_STR_MAX];

    if (attrs == NULL) {
        ts_arena_fail(arena, TS_EINVAL, "%s: attrs is NULL", op_output);
        return false;
    }
    if (!ts_dtype_eq(attrs->out_dtype, TS_FLOAT32) && !ts_dtype_eq(attrs->out_dtype, TS_INT8)) {
        ts_arena_fail(arena, TS_EINVAL, "%s: out_dtype %s is neither float32 nor int8", op_output,
                      ts_dtype_str(attrs->out_dtype, buf));
        return false;
    }
    if (attrs->clip && !(attrs->clip_min <= attrs->clip_max)) {
        ts_arena_fail(arena, TS_EINVAL, "%s: clip_min %g > clip_max %g", op_output, attrs->clip_min,
                      attrs->clip_max);
        return false;
    }
    return true;
}

/* The output stage's value at one point: acc as float32, scaled, shifted, clamped. */
static TsExpr *output_value(TsArena *A, TsExpr *v, TsExpr *scale, TsExpr *bias,
                            const TsBitserialOutputAttrs *attrs)
{
    TsExpr *y = ts_cast(A, TS_FLOAT32, v);

    if (scale)
        y = ts_mul(A, y, scale);
    if (bias)
        y = ts_add(A, y, bias);
    if (attrs->relu)
        y = ts_max(A, y, ts_f32(A, 0.0));
    if (attrs->clip)
        y = ts_min(A, ts_max(A, y, ts_f32(A, attrs->clip_min)), ts_f32(A, attrs->clip_max));
    if (ts_dtype_eq(attrs->out_dtype, TS_FLOAT32))
        return y;
    /* saturate first: past +-2^23 round_half_even would not be exact, and the result
     * saturates either way (NaN compares false and goes to 0 through the cast) */
    y = ts_min(A, ts_max(A, y, ts_f32(A, -128.0)), ts_f32(A, 127.0));
    return ts_cast(A, TS_INT8, round_half_even(A, y));
}

TsTensor *ts_op_bitserial_output(TsArena *arena, TsTensor *acc, TsTensor *scale, TsTensor *bias,
                                 const TsBitserialOutputAttrs *attrs)
{
    TeOpShape shape;
    int axis;
    bool scale_pc, bias_pc;

    if (arena == NULL || !check_output_attrs(arena, attrs) ||
        !check_accumulator(arena, op_output, acc, &shape) ||
        !te_op_axis(arena, op_output, attrs->axis, shape.ndim, false, &axis) ||
        !te_op_quant_param(arena, op_output, "scale", scale, TS_FLOAT32, shape.dim[axis],
                           &scale_pc) ||
        !te_op_quant_param(arena, op_output, "bias", bias, TS_FLOAT32, shape.dim[axis], &bias_pc))
        return NULL;
    TsAxis **axes = te_op_axes(arena, &shape, NULL);
    TsExpr **vars = axes ? te_op_vars(arena, shape.ndim, axes) : NULL;
    if (vars == NULL)
        return NULL;
    TsExpr *c = vars[axis];
    TsExpr *s = scale ? te_op_quant_at(arena, scale, scale_pc, c) : NULL;
    TsExpr *b = bias ? te_op_quant_at(arena, bias, bias_pc, c) : NULL;
    TsExpr *v = output_value(arena, ts_access(arena, acc, shape.ndim, vars), s, b, attrs);
    return ts_compute_tagged(arena, op_output, op_output, shape.ndim, axes, v);
}

/* The "bitserial_threshold" stage: q[...] = number of k with acc[...] >= thr[c, k]. */
static TsTensor *threshold_levels(TsArena *A, TsTensor *acc, const TeOpShape *shape, int axis,
                                  TsTensor *thresholds, int64_t levels)
{
    TsAxis **axes = te_op_axes(A, shape, NULL);
    TsExpr **vars = axes ? te_op_vars(A, shape->ndim, axes) : NULL;
    if (vars == NULL)
        return NULL;
    TsAxis *k = ts_reduce_axis(A, "k", levels);
    TsExpr *above =
        ts_ge(A, ts_access(A, acc, shape->ndim, vars), ts_at(A, thresholds, vars[axis], ts_var(k)));
    TsExpr *one = ts_select(A, above, ts_int(A, TS_UINT8, 1), ts_int(A, TS_UINT8, 0));
    return ts_compute_tagged(A, "bitserial_threshold", "bitserial_threshold", shape->ndim, axes,
                             ts_sum(A, one, 1, (TsAxis *[]){ k }, NULL));
}

TsTensor *ts_op_bitserial_threshold_pack(TsArena *arena, TsTensor *acc, TsTensor *thresholds,
                                         int axis, int bits, int64_t groups, TsDType word)
{
    TeOpShape shape, st;
    Pack pk;
    char buf[TS_DTYPE_STR_MAX];

    if (arena == NULL || !check_accumulator(arena, op_threshold, acc, &shape) ||
        !check_pack(arena, op_threshold, acc, axis, bits, groups, word, &pk) ||
        !te_op_tensor(arena, op_threshold, "thresholds", thresholds, &st))
        return NULL;
    int64_t levels = (INT64_C(1) << bits) - 1;
    if (st.ndim != 2 || st.dim[0] != shape.dim[pk.axis] || st.dim[1] != levels ||
        !ts_dtype_eq(ts_tensor_dtype(thresholds), ts_tensor_dtype(acc))) {
        ts_arena_fail(arena, TS_EINVAL,
                      "%s: thresholds '%s' must be %s[%lld, %lld] (channels x "
                      "2^bits - 1, acc's dtype)",
                      op_threshold, ts_tensor_name(thresholds),
                      ts_dtype_str(ts_tensor_dtype(acc), buf), (long long)shape.dim[pk.axis],
                      (long long)levels);
        return NULL;
    }
    TsTensor *q = threshold_levels(arena, acc, &shape, pk.axis, thresholds, levels);
    if (q == NULL)
        return NULL;
    pk.name = op_threshold;
    pk.tag = op_threshold;
    pk.element = tensor_element;
    pk.ctx = q;
    return pack_stage(arena, &pk);
}
