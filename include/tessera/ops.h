/* The operator library: compute definitions of common neural-network operators.
 *
 * Each builder checks its shapes and attributes and returns a tensor whose stages are
 * plain compute ops (tagged with the operator's name), or NULL with a message naming
 * the operator and the culprit recorded in the arena. Schedules come separately.
 * Output tensors are named after the operator ("conv2d", "pad", ...) unless a name is
 * given where the builder takes one.
 */
#ifndef TESSERA_OPS_H
#define TESSERA_OPS_H

#include <stdbool.h>
#include <stdint.h>

#include "tessera/te.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum TsLayout {
    TS_LAYOUT_NCHW = 0, /* data NCHW, conv2d weight OIHW (O, I/groups, KH, KW) */
    TS_LAYOUT_NHWC = 1  /* data NHWC, conv2d weight HWIO (KH, KW, I/groups, O) */
} TsLayout;

/* ---- matrix products ---- */

/* C[m, n] = sum_k A[m, k] * B[k, n], with A given as [K, M] when trans_a and B as
 * [N, K] when trans_b. Operands of one dtype; the product accumulates in out_dtype
 * (e.g. int8 x int8 -> int32), or in the inputs' dtype when out_dtype.bits == 0.
 * bfloat16 operands need out_dtype float32: each operand is cast to float32 (exact), so
 * the products are exact and the sum is a float32 sum, as bf16 dot-product hardware
 * computes; float16 likewise. */
TsTensor *ts_op_matmul(TsArena *arena, TsTensor *a, TsTensor *b, bool trans_a, bool trans_b,
                       TsDType out_dtype);
/* TVM's dense: out[n, m] = sum_k data[n, k] * weight[m, k] (+ bias[m] when bias is
 * not NULL). */
TsTensor *ts_op_dense(TsArena *arena, TsTensor *data, TsTensor *weight, TsTensor *bias,
                      TsDType out_dtype);

/* ONNX MatMulInteger: a [..., M, K] times b [..., K, N] with numpy's matmul rules (a
 * 1-D a is [1, K] and a 1-D b is [K, 1], the added dimension dropped from the result;
 * batch dimensions broadcast), uint8 or int8 operands (they may differ), int32 output:
 *   out[..., m, n] = sum_k (a[..., m, k] - a_zp) * (b[..., k, n] - b_zp).
 * Zero points, of their operand's dtype, NULL for 0: one element (per tensor); for a a
 * 1-D tensor of M elements (per row) or a tensor of a's rank shaped [..., M, 1] whose
 * batch dimensions are 1 or a's; for b a 1-D tensor of N elements (per column) or one
 * shaped [..., 1, N]. Tagged "matmul_integer". */
TsTensor *ts_op_matmul_integer(TsArena *arena, TsTensor *a, TsTensor *b, TsTensor *a_zero_point,
                               TsTensor *b_zero_point);
/* Integer dense: out[n, m] = sum_k (data[n, k] - data_zp) * (weight[m, k] - weight_zp[m]),
 * data and weight uint8 or int8, int32 output; data_zero_point one element, weight's
 * one element or [M] (per output channel); NULL for 0. Tagged "dense_integer" (without
 * zero points the body is the plain int32 product, as ts_op_dense with out_dtype int32). */
TsTensor *ts_op_dense_integer(TsArena *arena, TsTensor *data, TsTensor *weight,
                              TsTensor *data_zero_point, TsTensor *weight_zero_point);

/* ---- quantization (ONNX QuantizeLinear / DequantizeLinear, and requantize) ----
 *
 * Per-tensor parameters are tensors of one element (any rank); per-channel ones are 1-D
 * with the extent of the data's dimension `axis` (negative counts from the end). Scales
 * and zero points are run-time data: a builder checks their dtypes and shapes; an
 * importer that holds their values checks them with ts_quant_check_scales. */

/* ONNX QuantizeLinear on float32 x: y = saturate(round_half_even(x / scale) + zero_point),
 * the division in float32 as ONNX's reference computes it; scale float32; zero_point
 * int8 or uint8 (NULL: 0 and uint8 output unless out_dtype says int8). out_dtype bits == 0
 * means the zero point's dtype; otherwise it must be int8 or uint8 and match it. A NaN
 * quotient gives the lowest value of the output type. Tagged "quantize_linear". */
TsTensor *ts_op_quantize_linear(TsArena *arena, TsTensor *x, TsTensor *scale, TsTensor *zero_point,
                                int axis, TsDType out_dtype);
/* ONNX DequantizeLinear: y = float32(x - zero_point) * scale (float32), x int8, uint8 or
 * int32 (int32 takes no zero point, as in ONNX). Tagged "dequantize_linear". */
TsTensor *ts_op_dequantize_linear(TsArena *arena, TsTensor *x, TsTensor *scale,
                                  TsTensor *zero_point, int axis);

typedef struct TsRequantizeAttrs {
    TsDType out_dtype; /* int8 or uint8 */
    int axis;          /* the channel dimension per-channel parameters follow */
    bool relu;         /* y = max(y, zero_point): ReLU in the quantized domain */
    /* Clip in the quantized domain, applied last: out_dtype's range by default. */
    int64_t clip_min, clip_max;
} TsRequantizeAttrs;

/* int8 or uint8 output (relu off, clip the full range), channels on axis 1 (NCHW). */
TsRequantizeAttrs ts_requantize_attrs_default(TsDType out_dtype);
/* int32 data (an accumulator) to int8/uint8 with a float32 scale:
 *   acc = data + bias (int32, wrapping; bias NULL, one element or per channel)
 *   y = clip(saturate(round_half_even(float32(acc) / scale) + zero_point))
 * float32(acc) rounds to nearest even; the rest is ts_op_quantize_linear's arithmetic, so
 * the result equals QuantizeLinear of float32(acc). zero_point of out_dtype, or NULL.
 * Tagged "requantize". */
TsTensor *ts_op_requantize(TsArena *arena, TsTensor *data, TsTensor *bias, TsTensor *scale,
                           TsTensor *zero_point, const TsRequantizeAttrs *attrs);
/* The same with a fixed-point scale, as gemmlowp and TensorFlow Lite compute it
 * (MultiplyByQuantizedMultiplier): multiplier int32 (the scale's mantissa in Q0.31),
 * shift int32 (> 0 a left shift applied to acc first, wrapping; < 0 a rounding right
 * shift after), both one element or per channel:
 *   y = clip(saturate(RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(
 *           acc << max(shift, 0), multiplier), max(-shift, 0)) + zero_point))
 * A shift outside [-31, 31] is an evaluation error. Tagged "requantize". */
TsTensor *ts_op_requantize_fixed(TsArena *arena, TsTensor *data, TsTensor *bias,
                                 TsTensor *multiplier, TsTensor *shift, TsTensor *zero_point,
                                 const TsRequantizeAttrs *attrs);
/* TS_OK when every scale is finite and > 0; otherwise TS_EINVAL naming what, the index
 * and the value ("conv1.scale[3] = 0: a scale must be finite and > 0"). */
TsStatus ts_quant_check_scales(const float *scales, int64_t count, const char *what,
                               TsError *err);

/* ---- convolution and pooling ---- */

typedef struct TsConv2dAttrs {
    int64_t stride[2];   /* height, width; >= 1 */
    int64_t padding[4];  /* top, left, bottom, right; >= 0 */
    int64_t dilation[2]; /* height, width; >= 1 */
    int64_t groups;      /* divides in and out channels; == channels for depthwise */
    TsLayout layout;
    TsDType out_dtype;   /* accumulation and output type; bits == 0 means the input's;
                          * float32 for bfloat16 data (see ts_op_matmul) */
} TsConv2dAttrs;

/* Stride 1, no padding, dilation 1, one group, NCHW, output in the input's dtype. */
TsConv2dAttrs ts_conv2d_attrs_default(void);
/* Convolution (cross-correlation, as in every framework) of data with weight. Padding
 * is a separate "pad" stage feeding the convolution when any side is non-zero. */
TsTensor *ts_op_conv2d(TsArena *arena, TsTensor *data, TsTensor *weight,
                       const TsConv2dAttrs *attrs);

/* ONNX ConvInteger: data and weight uint8 or int8 (they may differ), int32 output,
 *   out[n, f, y, x] = sum over (c, ky, kx) of (data - data_zp) * (weight[f] - weight_zp[f])
 * accumulated in int32 (wrapping). The padding holds data_zp, so a padded position adds
 * nothing (ONNX's reference pads the zero-point-shifted data with zeros). Zero points:
 * NULL for 0; data_zero_point one element (any rank: [] or [1]) of data's dtype;
 * weight_zero_point one element or a 1-D tensor of out_channels elements of weight's
 * dtype. attrs->out_dtype must be int32 or bits == 0; both layouts are accepted (ONNX
 * has NCHW). Without zero points the body is plain cast(int32, data) * cast(int32,
 * weight), the form ts_op_conv2d gives int8 data with out_dtype int32; the convolution is
 * tagged "conv2d_integer_nchw" (or _nhwc; "group_"/"depthwise_" prefixes as for conv2d)
 * when a zero point is given. */
TsTensor *ts_op_conv2d_integer(TsArena *arena, TsTensor *data, TsTensor *weight,
                               TsTensor *data_zero_point, TsTensor *weight_zero_point,
                               const TsConv2dAttrs *attrs);

typedef enum TsPoolKind { TS_POOL_MAX = 0, TS_POOL_AVG = 1 } TsPoolKind;

typedef struct TsPool2dAttrs {
    TsPoolKind kind;
    int64_t kernel[2];   /* height, width; >= 1 */
    int64_t stride[2];   /* >= 1 */
    int64_t dilation[2]; /* >= 1 */
    int64_t padding[4];  /* top, left, bottom, right; each < the dilated kernel */
    /* Output size rounds up, as in ONNX and PyTorch; a window that would start in the
     * bottom or right padding is dropped. */
    bool ceil_mode;
    /* Average pooling only: divide by the window size clipped to the padded input
     * (true) or by the number of input elements in the window (false). */
    bool count_include_pad;
    TsLayout layout;
} TsPool2dAttrs;

/* A kind x kernel window with stride = kernel, no padding, dilation 1, NCHW. */
TsPool2dAttrs ts_pool2d_attrs_default(TsPoolKind kind, int64_t kernel_h, int64_t kernel_w);
/* Max or average pooling of a float (max also integer) tensor. Padded elements never
 * win a max. */
TsTensor *ts_op_pool2d(TsArena *arena, TsTensor *data, const TsPool2dAttrs *attrs);
/* Mean over the spatial dimensions, keeping them as 1 x 1. */
TsTensor *ts_op_global_avg_pool2d(TsArena *arena, TsTensor *data, TsLayout layout);

/* ---- data movement ---- */

/* Constant padding: out has shape[i] + before[i] + after[i] per dimension (all >= 0);
 * pad_value is converted to the data's dtype and must be representable in it. */
TsTensor *ts_op_pad(TsArena *arena, TsTensor *data, const int64_t *pad_before,
                    const int64_t *pad_after, double pad_value);
/* Row-major reshape. new_shape may hold one -1 (inferred) and zeros (copy the input's
 * dimension at that position), as ONNX's Reshape does. */
TsTensor *ts_op_reshape(TsArena *arena, TsTensor *data, int ndim, const int64_t *new_shape);
/* ONNX's Flatten: to 2-D [prod(shape[:axis]), prod(shape[axis:])]; axis in
 * [-ndim, ndim]. */
TsTensor *ts_op_flatten(TsArena *arena, TsTensor *data, int axis);
/* Joins tensors of one dtype and rank along axis (negative counts from the end); the
 * other dimensions must match. */
TsTensor *ts_op_concat(TsArena *arena, int num_inputs, TsTensor *const *inputs, int axis);

/* ---- blocked-channel layouts (NCHW[x]c, as the conv2d, depthwise conv2d and pooling
 * templates compute in) ---- */

/* NCHW [N, C, H, W] -> NCHW[cb]c [N, C / cb, H, W, cb]; cb must divide C. */
TsTensor *ts_op_nchwc_pack(TsArena *arena, TsTensor *data, int64_t cb);
/* NCHW[cb]c [N, CC, H, W, cb] -> NCHW [N, CC * cb, H, W]. */
TsTensor *ts_op_nchwc_unpack(TsArena *arena, TsTensor *data);
/* conv2d weight OIHW [O, I, KH, KW] -> OIHW[ic_bn]i[oc_bn]o
 * [O / oc_bn, I / ic_bn, KH, KW, ic_bn, oc_bn]; the blocks must divide O and I. */
TsTensor *ts_op_nchwc_pack_weight(TsArena *arena, TsTensor *weight, int64_t ic_bn,
                                  int64_t oc_bn);
/* depthwise conv2d weight [C, 1, KH, KW] -> [C / cb, KH, KW, cb]. */
TsTensor *ts_op_nchwc_pack_depthwise_weight(TsArena *arena, TsTensor *weight, int64_t cb);

/* ---- layouts of the dot-product kernels (VNNI, AMX, sdot; te/ops/dot_pack.c) ----
 * The reduction is split into groups of `group` elements that sit innermost, beside the
 * output channels; blocks that do not divide a channel count pad it. */

/* NCHW [N, C, H, W] -> [N, ceil(C / cb), H, W, cb]; the channels past C are fill (the
 * data's zero point, or 0), which must be representable in the data's dtype. */
TsTensor *ts_op_nchwc_pack_fill(TsArena *arena, TsTensor *data, int64_t cb, double fill);
/* conv2d weight OIHW [O, I, KH, KW] ->
 * [ceil(O / oc_bn), ceil(I / ic_bn), KH, KW, ic_bn / group, oc_bn, group], zero past O
 * and I; group divides ic_bn (4 for int8 VNNI, AMX and sdot; 2 for bf16). */
TsTensor *ts_op_conv2d_pack_weight_dot(TsArena *arena, TsTensor *weight, int64_t ic_bn,
                                       int64_t oc_bn, int64_t group);
/* dense weight [N, K] -> [ceil(N / n_bn), ceil(K / group), n_bn, group], zero past N and
 * K: with n_bn 16, 16 consecutive K groups of one N block form an AMX B tile. */
TsTensor *ts_op_dense_pack_weight_dot(TsArena *arena, TsTensor *weight, int64_t n_bn,
                                      int64_t group);

/* ---- extremely low-bit operators: bit packing and bitserial products (bitserial.c) ----
 *
 * A low-bit value is a sum of bit planes, x = sum_i 2^i x_i, each plane packed along the
 * reduction (the channels) into unsigned words (uint8, 16, 32 or 64), channel c of a word
 * in bit c % word_bits (least significant first). A product of two packed operands sums
 * popcounts of whole words, plane by plane, weighted by 2^(i + j).
 *
 * Encodings say what a plane's bit means (B the operand's bit width):
 * - 0/1: the bit is 0 or 1; the operand is the unsigned integer u in [0, 2^B - 1].
 * - +-1: the bit b stands for 2b - 1, so the operand is sum_i 2^i (2 b_i - 1) =
 *   2u - (2^B - 1), u its bits as an unsigned integer: one bit gives -1 and +1, two bits
 *   -3, -1, +1, +3, eight bits the odd integers in [-255, 255]. To pack a value x of this
 *   kind, pack its code u = (x + 2^B - 1) / 2.
 * Every bitserial product equals the integer product of the decoded values summed over
 * the real (unpadded) reduction: padded positions (spatial padding and the word tail past
 * the channel count) contribute exactly 0 in every encoding, the +-1 ones included. */
typedef enum TsBitserialEncoding {
    /* 0/1 activations x 0/1 weights: sum_{i,j} 2^(i+j) popcount(a_i & w_j). */
    TS_BITSERIAL_01_01 = 0,
    /* 0/1 activations x +-1 weights (TVM's "unipolar"):
     * sum_{i,j} 2^(i+j) (popcount(a_i & w_j) - popcount(a_i & ~w_j)). */
    TS_BITSERIAL_01_PM1 = 1,
    /* +-1 activations x +-1 weights (XNOR-popcount):
     * sum_{i,j} 2^(i+j) (valid - 2 popcount(a_i ^ w_j)), valid the number of real
     * channels in the word (padded positions are left out of the sum altogether). */
    TS_BITSERIAL_PM1_PM1 = 2
} TsBitserialEncoding;

/* Bit widths of activations and weights lie in [1, TS_BITSERIAL_MAX_BITS]. */
#define TS_BITSERIAL_MAX_BITS 8

/* "01x01", "01xpm1", "pm1xpm1"; NULL for a value outside the enum. */
const char *ts_bitserial_encoding_name(TsBitserialEncoding encoding);
/* The accumulator of a bitserial product, the narrowest of int16, int32 and int64 that
 * holds R (2^abits - 1) (2^wbits - 1) (R the reduction length: in-channels per group x
 * kernel height x kernel width for conv2d, features for dense), which bounds the sum and
 * every partial sum of every encoding, whatever the order of summation. Templates use it
 * so that they accumulate in the operator's type. A dtype with bits == 0 for bit widths
 * outside [1, TS_BITSERIAL_MAX_BITS] or R < 1. */
TsDType ts_bitserial_accum_dtype(int activation_bits, int weight_bits, int64_t reduction_length);
/* Words of `word` (uint8..uint64) that hold length channels: ceil(length / word bits);
 * 0 for a word that is not an unsigned scalar integer or length < 1. */
int64_t ts_bitserial_num_words(int64_t length, TsDType word);

/* Packs the low `bits` bits (1..8) of an integer tensor (two's complement: int8 -1 with
 * bits 2 is 3) along dimension axis into words of dtype word (uint8, uint16, uint32 or
 * uint64). The packed dimension leaves its place and two dimensions are appended,
 * [..., bits, words]: bit plane p, then the words, the innermost, contiguous, so that a
 * popcount reduction over words reads consecutive memory whatever the data's layout:
 *   NCHW data [N, C, H, W] (axis 1) and NHWC data [N, H, W, C] (axis 3) -> [N, H, W, B, CW]
 *   OIHW weight [O, I, KH, KW] (axis 1) -> [O, KH, KW, B, IW]
 *   HWIO weight [KH, KW, I, O] (axis 2) -> [KH, KW, O, B, IW]
 *   dense data [M, K] and weight [N, K] (axis 1) -> [M, B, KW], [N, B, KW]
 * groups (>= 1, dividing the axis's extent L) packs each of its runs of L / groups
 * elements into words of its own: CW = groups * ceil(L / groups / word bits), group g in
 * words [g CW / groups, (g + 1) CW / groups). The tail of each group's last word is 0.
 * Tagged "bitpack"; the output is named "bitpack". */
TsTensor *ts_op_bitpack(TsArena *arena, TsTensor *data, int axis, int bits, int64_t groups,
                        TsDType word);

typedef struct TsBitserialConv2dAttrs {
    int64_t stride[2];   /* height, width; >= 1 */
    int64_t padding[4];  /* top, left, bottom, right; >= 0 */
    int64_t dilation[2]; /* height, width; >= 1 */
    int64_t groups;      /* divides in_channels and the out-channels */
    /* NCHW: weight packed from OIHW, output [N, O, OH, OW]; NHWC: weight packed from HWIO,
     * output [N, OH, OW, O]. The packed data is [N, H, W, abits, CW] in both. */
    TsLayout layout;
    TsBitserialEncoding encoding;
    int64_t in_channels; /* C, the data's channels before packing (all groups) */
    /* The accumulator and output: bits == 0 for ts_bitserial_accum_dtype's, or a signed
     * integer at least as wide. */
    TsDType out_dtype;
} TsBitserialConv2dAttrs;

/* Stride 1, no padding, dilation 1, one group, NCHW, 0/1 x 0/1, in_channels C. */
TsBitserialConv2dAttrs ts_bitserial_conv2d_attrs_default(int64_t in_channels);
/* Bitserial 2-D convolution (cross-correlation) of packed operands, both packed with
 * ts_op_bitpack into one word dtype (or given in its layout):
 *   data   [N, H, W, abits, CW]  (CW = groups * ceil(in_channels / groups / word bits))
 *   weight NCHW [O, KH, KW, wbits, CWg], NHWC [KH, KW, O, wbits, CWg] (CWg = CW / groups)
 * out[n, f, y, x] = sum over the real in-channels c of f's group and the taps (ky, kx)
 * whose input point lies inside the data of dec(a[n, c, y s + ky d - pt, x s + kx d - pl])
 * * dec(w[f, c, ky, kx]), dec the encoding's decoded value; abits, wbits (<= 8) are the
 * plane dimensions. The sum is one reduction over (ky, kx, activation plane, weight
 * plane, word), the word innermost, with the padded taps guarded out. Tagged
 * "bitserial_conv2d_nchw" or "bitserial_conv2d_nhwc", named "bitserial_conv2d". */
TsTensor *ts_op_bitserial_conv2d(TsArena *arena, TsTensor *data, TsTensor *weight,
                                 const TsBitserialConv2dAttrs *attrs);

typedef struct TsBitserialDenseAttrs {
    TsBitserialEncoding encoding;
    int64_t in_features; /* K before packing */
    TsDType out_dtype;   /* as for conv2d */
} TsBitserialDenseAttrs;

/* 0/1 x 0/1, in_features K. */
TsBitserialDenseAttrs ts_bitserial_dense_attrs_default(int64_t in_features);
/* out[m, n] = sum_k dec(data[m, k]) dec(weight[n, k]) with data packed [M, abits, KW] and
 * weight [N, wbits, KW] (ts_op_bitpack along axis 1), one reduction over (activation
 * plane, weight plane, word). Tagged "bitserial_dense". */
TsTensor *ts_op_bitserial_dense(TsArena *arena, TsTensor *data, TsTensor *weight,
                                const TsBitserialDenseAttrs *attrs);

/* The output stage of a bitserial layer, elementwise on its accumulator, so a template
 * computes it in its output loop:
 *   y = float32(acc) * scale[c] + bias[c]     (a folded batch norm; c along axis)
 *   y = max(y, 0) with relu, then min(max(y, clip_min), clip_max) with clip
 *   out = y (float32), or int8: saturate(round_half_even(y)) (the requantized value).
 * scale and bias float32, one element or [C], NULL for 1 and 0. Tagged
 * "bitserial_output". */
typedef struct TsBitserialOutputAttrs {
    int axis; /* the channel dimension of the accumulator (1 for NCHW, -1 for NHWC) */
    bool relu;
    bool clip;
    double clip_min, clip_max;
    TsDType out_dtype; /* float32 or int8 */
} TsBitserialOutputAttrs;

/* Channels on axis, no ReLU, no clip, float32 output. */
TsBitserialOutputAttrs ts_bitserial_output_attrs_default(int axis);
TsTensor *ts_op_bitserial_output(TsArena *arena, TsTensor *acc, TsTensor *scale, TsTensor *bias,
                                 const TsBitserialOutputAttrs *attrs);
/* Thresholds an accumulator straight into the next layer's packed input: the level of
 * channel c is q = the number of k with acc >= thresholds[c, k] (thresholds [C, 2^bits -
 * 1] of acc's dtype, ascending for a monotone quantizer; a folded batch norm with a
 * negative scale negates that channel's weights instead), and q is packed along axis as
 * ts_op_bitpack packs it (bits planes, word, groups): NCHW or NHWC [N, C, H, W] ->
 * [N, H, W, bits, CW]. Two stages: "bitserial_threshold" (uint8 levels, a reduction over
 * k) and the pack, tagged "bitserial_threshold_pack". */
TsTensor *ts_op_bitserial_threshold_pack(TsArena *arena, TsTensor *acc, TsTensor *thresholds,
                                         int axis, int bits, int64_t groups, TsDType word);

/* ---- elementwise ---- */

/* Numpy-style broadcasting: shapes are aligned at the last dimension, and each pair of
 * dimensions must be equal or one of them 1. */
TsTensor *ts_op_add(TsArena *arena, TsTensor *a, TsTensor *b);
TsTensor *ts_op_sub(TsArena *arena, TsTensor *a, TsTensor *b);
TsTensor *ts_op_mul(TsArena *arena, TsTensor *a, TsTensor *b);
TsTensor *ts_op_relu(TsArena *arena, TsTensor *data);
/* min(max(data, lo), hi); lo <= hi, both representable in data's dtype. */
TsTensor *ts_op_clip(TsArena *arena, TsTensor *data, double lo, double hi);
/* data + bias broadcast along axis (bias is 1-D with data's extent at axis; negative
 * axis counts from the end). */
TsTensor *ts_op_bias_add(TsArena *arena, TsTensor *data, TsTensor *bias, int axis);
/* Inference batch normalization along axis (1 for NCHW):
 * (x - mean) / sqrt(var + epsilon) * gamma + beta, with 1-D float parameters. */
TsTensor *ts_op_batch_norm(TsArena *arena, TsTensor *data, TsTensor *gamma, TsTensor *beta,
                           TsTensor *mean, TsTensor *var, int axis, double epsilon);
/* exp(x - max) / sum(exp(x - max)) along axis, on float tensors. */
TsTensor *ts_op_softmax(TsArena *arena, TsTensor *data, int axis);


/* ---- graph-level operators (ONNX semantics, for relay_lite's lowering) ---- */

/* The most operands a variadic elementwise operator takes. */
#define TS_MAX_OPERANDS 64

/* Numpy's matmul: batched over leading dimensions with broadcasting; a 1-D a is a row and
 * a 1-D b a column, the promoted dimension dropped from the result. */
TsTensor *ts_op_batch_matmul(TsArena *arena, TsTensor *a, TsTensor *b);

typedef struct TsConvTranspose2dAttrs {
    int64_t stride[2];   /* height, width; >= 1 */
    int64_t dilation[2]; /* >= 1 */
    int64_t pad[2];      /* begin pads (top, left); may be negative */
    int64_t groups;      /* divides the data's channels */
    int64_t out_size[2]; /* the output's height and width */
} TsConvTranspose2dAttrs;

/* Transposed convolution of NCHW data with weight [C, M / groups, KH, KW]:
 * out[n, m, y, x] sums data[n, c, iy, ix] * weight[c, m % (M/groups), kh, kw] over the c of
 * m's group and the taps with iy * stride + kh * dilation = y + pad. */
TsTensor *ts_op_conv_transpose2d(TsArena *arena, TsTensor *data, TsTensor *weight,
                                 const TsConvTranspose2dAttrs *attrs);

/* Elementwise with numpy broadcasting. a / b (integers truncate, as C). */
TsTensor *ts_op_div(TsArena *arena, TsTensor *a, TsTensor *b);
/* base ^ exponent in base's dtype; the exponent may have any numeric dtype. */
TsTensor *ts_op_pow(TsArena *arena, TsTensor *base, TsTensor *exponent);

typedef enum TsVariadicKind {
    TS_VARIADIC_SUM = 0,
    TS_VARIADIC_MAX = 1,
    TS_VARIADIC_MIN = 2,
    TS_VARIADIC_MEAN = 3
} TsVariadicKind;

/* Sum, max, min or mean of 1 to TS_MAX_OPERANDS tensors of one dtype, broadcast. */
TsTensor *ts_op_variadic(TsArena *arena, TsVariadicKind kind, int num_inputs,
                         TsTensor *const *inputs);
/* min(max(data, lo), hi) where lo and hi (each may be NULL) are one-element tensors of the
 * data's dtype; hi wins when lo > hi. */
TsTensor *ts_op_clamp(TsArena *arena, TsTensor *data, TsTensor *lo, TsTensor *hi);
/* data broadcast (numpy) to exactly shape. */
TsTensor *ts_op_broadcast_to(TsArena *arena, TsTensor *data, int ndim, const int64_t *shape);

/* Activations on float tensors. */
TsTensor *ts_op_sigmoid(TsArena *arena, TsTensor *data);
TsTensor *ts_op_tanh(TsArena *arena, TsTensor *data);
TsTensor *ts_op_sqrt(TsArena *arena, TsTensor *data);
/* erf, as a rational approximation with absolute error below 1.5e-7. */
TsTensor *ts_op_erf(TsArena *arena, TsTensor *data);
/* x Phi(x) exactly (through erf), or its tanh approximation. */
TsTensor *ts_op_gelu(TsArena *arena, TsTensor *data, bool tanh_approximation);
/* max(0, min(1, alpha x + beta)) */
TsTensor *ts_op_hard_sigmoid(TsArena *arena, TsTensor *data, double alpha, double beta);
/* x * hard_sigmoid(x, 1/6, 1/2) */
TsTensor *ts_op_hard_swish(TsArena *arena, TsTensor *data);
/* x < 0 ? alpha x : x */
TsTensor *ts_op_leaky_relu(TsArena *arena, TsTensor *data, double alpha);
/* data converted to dtype (te.h's cast rules; float16 goes through float32). */
TsTensor *ts_op_cast(TsArena *arena, TsTensor *data, TsDType dtype);

/* out[i, j, ...] = data[perm[0]-th index = i, ...]: out's dimension d is data's perm[d]. */
TsTensor *ts_op_transpose(TsArena *arena, TsTensor *data, const int *perm);
/* out[i...] = data[begin + i * step] per dimension; every read inside data. */
TsTensor *ts_op_strided_slice(TsArena *arena, TsTensor *data, const int64_t *begin,
                              const int64_t *step, const int64_t *out_shape);
/* ONNX's Gather: data's dimension axis replaced by indices' dimensions; a negative index
 * counts from the end. */
TsTensor *ts_op_gather(TsArena *arena, TsTensor *data, TsTensor *indices, int axis);

typedef enum TsPadMode { TS_PAD_CONSTANT = 0, TS_PAD_REFLECT = 1, TS_PAD_EDGE = 2 } TsPadMode;

/* Padding in ONNX's modes; a negative pad crops. pad_value (constant mode; NULL for 0)
 * has the data's dtype. */
TsTensor *ts_op_pad_mode(TsArena *arena, TsTensor *data, const int64_t *pad_before,
                         const int64_t *pad_after, TsPadMode mode, TsExpr *pad_value);

typedef enum TsReduceKind { TS_REDUCE_SUM = 0, TS_REDUCE_MEAN = 1 } TsReduceKind;

/* Sum or mean over the listed axes (distinct; negative counts from the end), the reduced
 * dimensions kept as 1 or dropped. */
TsTensor *ts_op_reduce(TsArena *arena, TsTensor *data, TsReduceKind kind, int num_axes,
                       const int *axes, bool keepdims);
/* Layer normalization over dimensions axis.. of float data, statistics in float32:
 * (x - mean) / sqrt(var + epsilon) * scale + bias (bias may be NULL; scale and bias
 * broadcast to the data). *mean_out and *inv_std_out (each may be NULL) receive the
 * statistics, shaped as the data with 1 from axis on. */
TsTensor *ts_op_layer_norm(TsArena *arena, TsTensor *data, TsTensor *scale, TsTensor *bias,
                           int axis, double epsilon, TsTensor **mean_out,
                           TsTensor **inv_std_out);

typedef enum TsResizeMode { TS_RESIZE_NEAREST = 0, TS_RESIZE_LINEAR = 1 } TsResizeMode;
typedef enum TsResizeCoord {
    TS_RESIZE_HALF_PIXEL = 0,
    TS_RESIZE_HALF_PIXEL_SYMMETRIC = 1,
    TS_RESIZE_PYTORCH_HALF_PIXEL = 2,
    TS_RESIZE_ALIGN_CORNERS = 3,
    TS_RESIZE_ASYMMETRIC = 4
} TsResizeCoord;
typedef enum TsResizeNearest {
    TS_RESIZE_ROUND_PREFER_FLOOR = 0,
    TS_RESIZE_ROUND_PREFER_CEIL = 1,
    TS_RESIZE_FLOOR = 2,
    TS_RESIZE_CEIL = 3,
    /* floor where the dimension is enlarged (scale >= 1), ceiling where it shrinks: ONNX
     * Runtime's rule for Resize-10 and Upsample, which have no nearest_mode */
    TS_RESIZE_FLOOR_UP_CEIL_DOWN = 4
} TsResizeNearest;

typedef struct TsResizeAttrs {
    TsResizeMode mode;
    TsResizeCoord coord;
    TsResizeNearest nearest;          /* nearest mode only */
    int64_t out_shape[TS_MAX_DIMS];   /* the output's extents */
    double scale[TS_MAX_DIMS];        /* the scales the coordinates use (> 0) */
} TsResizeAttrs;

/* ONNX's Resize of any rank (linear in at most 4 dimensions at once). */
TsTensor *ts_op_resize(TsArena *arena, TsTensor *data, const TsResizeAttrs *attrs);

#ifdef __cplusplus
}
#endif

#endif /* TESSERA_OPS_H */
