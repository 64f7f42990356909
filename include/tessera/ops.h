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
 * (e.g. int8 x int8 -> int32), or in the inputs' dtype when out_dtype.bits == 0. */
TsTensor *ts_op_matmul(TsArena *arena, TsTensor *a, TsTensor *b, bool trans_a, bool trans_b,
                       TsDType out_dtype);
/* TVM's dense: out[n, m] = sum_k data[n, k] * weight[m, k] (+ bias[m] when bias is
 * not NULL). */
TsTensor *ts_op_dense(TsArena *arena, TsTensor *data, TsTensor *weight, TsTensor *bias,
                      TsDType out_dtype);

/* ---- convolution and pooling ---- */

typedef struct TsConv2dAttrs {
    int64_t stride[2];   /* height, width; >= 1 */
    int64_t padding[4];  /* top, left, bottom, right; >= 0 */
    int64_t dilation[2]; /* height, width; >= 1 */
    int64_t groups;      /* divides in and out channels; == channels for depthwise */
    TsLayout layout;
    TsDType out_dtype;   /* accumulation and output type; bits == 0 means the input's */
} TsConv2dAttrs;

/* Stride 1, no padding, dilation 1, one group, NCHW, output in the input's dtype. */
TsConv2dAttrs ts_conv2d_attrs_default(void);
/* Convolution (cross-correlation, as in every framework) of data with weight. Padding
 * is a separate "pad" stage feeding the convolution when any side is non-zero. */
TsTensor *ts_op_conv2d(TsArena *arena, TsTensor *data, TsTensor *weight,
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

#ifdef __cplusplus
}
#endif

#endif /* TESSERA_OPS_H */
