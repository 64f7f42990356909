/* The operators' shape and type rules, shared by the files of inference: infer_ops.c
 * dispatches on the op kind and holds the elementwise, activation, reduction and constant
 * rules; infer_nn.c the convolutions, pools, matrix products and normalizations;
 * infer_shape.c the shape and layout operators and resizing. */
#ifndef TESSERA_RELAY_INFER_RULES_H
#define TESSERA_RELAY_INFER_RULES_H

#include "relay_lite/onnx_loader.h"
#include "relay_lite/rly_internal.h"

/* The node has between lo and hi inputs, the first lo of them present with a dtype. */
TsStatus rly_need_inputs(const TsGraph *g, const RlyNode *n, int lo, int hi, TsError *err);
/* Input k is a floating-point tensor. */
TsStatus rly_need_float(const TsGraph *g, const RlyNode *n, int k, TsError *err);
/* Inputs a and b have one dtype. */
TsStatus rly_same_dtype(const TsGraph *g, const RlyNode *n, int a, int b, TsError *err);

TsStatus rly_infer_conv(TsGraph *g, RlyNode *n, bool transpose, TsError *err);
TsStatus rly_infer_pool(TsGraph *g, RlyNode *n, bool max, TsError *err);
TsStatus rly_infer_global_pool(TsGraph *g, RlyNode *n, TsError *err);
TsStatus rly_infer_gemm(TsGraph *g, RlyNode *n, TsError *err);
TsStatus rly_infer_matmul(TsGraph *g, RlyNode *n, TsError *err);
TsStatus rly_infer_batch_norm(TsGraph *g, RlyNode *n, TsError *err);
TsStatus rly_infer_layer_norm(TsGraph *g, RlyNode *n, TsError *err);

TsStatus rly_infer_concat(TsGraph *g, RlyNode *n, TsError *err);
TsStatus rly_infer_split(TsGraph *g, RlyNode *n, TsError *err);
TsStatus rly_infer_slice(TsGraph *g, RlyNode *n, TsError *err);
TsStatus rly_infer_pad(TsGraph *g, RlyNode *n, TsError *err);
TsStatus rly_infer_reshape(TsGraph *g, RlyNode *n, TsError *err);
TsStatus rly_infer_flatten(TsGraph *g, RlyNode *n, TsError *err);
TsStatus rly_infer_transpose(TsGraph *g, RlyNode *n, TsError *err);
TsStatus rly_infer_squeeze(TsGraph *g, RlyNode *n, TsError *err);
TsStatus rly_infer_unsqueeze(TsGraph *g, RlyNode *n, TsError *err);
TsStatus rly_infer_shape(TsGraph *g, RlyNode *n, TsError *err);
TsStatus rly_infer_gather(TsGraph *g, RlyNode *n, TsError *err);
TsStatus rly_infer_expand(TsGraph *g, RlyNode *n, TsError *err);
TsStatus rly_infer_resize(TsGraph *g, RlyNode *n, bool upsample, TsError *err);

/* infer_quant.c: QuantizeLinear, DequantizeLinear, ConvInteger, MatMulInteger, QLinearConv,
 * QLinearMatMul, QLinearAdd and the QDQ fusion's integer groups. */
TsStatus rly_infer_quant(TsGraph *g, RlyNode *n, TsError *err);

#endif /* TESSERA_RELAY_INFER_RULES_H */
