/* The lowering rules of the graph's operators, shared by the files of node lowering:
 * lower_node.c dispatches on the op kind and holds the helpers below; lower_nn.c has the
 * convolutions, matrix products, normalizations and pools; lower_elementwise.c the
 * elementwise operators, activations, casts and constants; lower_shape.c the shape and
 * layout operators; lower_resize.c Resize and Upsample; lower_reduce.c Softmax and the
 * reductions. */
#ifndef TESSERA_RELAY_LOWER_RULES_H
#define TESSERA_RELAY_LOWER_RULES_H

#include "relay_lite/infer_rules.h"
#include "tessera/ops.h"

/* One node being lowered. */
typedef struct RlyLower {
    TsArena *arena;
    const TsGraph *graph;
    const RlyNode *node;
    TsTensor *const *inputs;
    TsTensor **outputs;
    TsError *err;
    /* float16 is storage only in te: the node's float16 inputs were widened to float32,
     * and rly_lower_output narrows float32 results to the float16 outputs. */
    bool widened;
} RlyLower;

/* Fails naming the node (rly_node_fail). */
TsStatus rly_lower_fail(RlyLower *l, const char *fmt, ...) TS_PRINTF_LIKE(2, 3);
/* The tensor of input k, or NULL (with the error) when it is required and missing. */
TsTensor *rly_lower_input(RlyLower *l, int k);
/* Records t as output k: t must have the dtype and shape inference gave the output. A
 * NULL t fails with the operator library's message (recorded in the arena). */
TsStatus rly_lower_output(RlyLower *l, int k, TsTensor *t);
/* t reshaped to the (known) shape of output k, or t itself when it has it already. */
TsTensor *rly_lower_reshape_to(RlyLower *l, TsTensor *t, int k);
/* The ints or floats of input k, a constant (rank 0 or 1); false (no error) when the
 * input is omitted; an error naming it when it is not a constant. */
TsStatus rly_lower_const_ints(RlyLower *l, int k, const char *what, int64_t *out, int max,
                              int *count);

TsStatus rly_lower_conv(RlyLower *l);
/* The node's Conv attributes (group, kernel_shape, strides, dilations, pads, auto_pad)
 * for data x and weight w of rank 3 or 4, as te's 2-D attributes; *spatial gets 1 or 2.
 * A 1-D convolution is the 2-D one over a height of 1: rly_lower_as_2d reshapes x and w
 * (spatial 2: t itself). */
TsStatus rly_lower_conv_attrs(RlyLower *l, TsTensor *x, TsTensor *w, TsConv2dAttrs *attrs,
                              int *spatial);
TsTensor *rly_lower_as_2d(RlyLower *l, TsTensor *t, int spatial);
TsStatus rly_lower_conv_transpose(RlyLower *l);
TsStatus rly_lower_gemm(RlyLower *l);
TsStatus rly_lower_matmul(RlyLower *l);
TsStatus rly_lower_batch_norm(RlyLower *l);
TsStatus rly_lower_layer_norm(RlyLower *l);
TsStatus rly_lower_pool(RlyLower *l, bool max);
TsStatus rly_lower_global_pool(RlyLower *l);

/* The operator library's builders of one and two operands. */
typedef TsTensor *(*RlyUnaryBuilder)(TsArena *arena, TsTensor *x);
typedef TsTensor *(*RlyBinaryBuilder)(TsArena *arena, TsTensor *a, TsTensor *b);

TsStatus rly_lower_unary(RlyLower *l, RlyUnaryBuilder build);
TsStatus rly_lower_leaky_relu(RlyLower *l);
TsStatus rly_lower_hard_sigmoid(RlyLower *l);
TsStatus rly_lower_gelu(RlyLower *l);
TsStatus rly_lower_clip(RlyLower *l);
TsStatus rly_lower_binary(RlyLower *l, RlyBinaryBuilder build);
TsStatus rly_lower_variadic(RlyLower *l, TsVariadicKind kind);
TsStatus rly_lower_cast(RlyLower *l);
TsStatus rly_lower_identity(RlyLower *l);
TsStatus rly_lower_constant(RlyLower *l);
TsStatus rly_lower_constant_of_shape(RlyLower *l);

TsStatus rly_lower_concat(RlyLower *l);
TsStatus rly_lower_split(RlyLower *l);
TsStatus rly_lower_slice(RlyLower *l);
TsStatus rly_lower_pad(RlyLower *l);
TsStatus rly_lower_reshape(RlyLower *l);
TsStatus rly_lower_transpose(RlyLower *l);
TsStatus rly_lower_shape(RlyLower *l);
TsStatus rly_lower_gather(RlyLower *l);
TsStatus rly_lower_expand(RlyLower *l);

TsStatus rly_lower_resize(RlyLower *l, bool upsample);

TsStatus rly_lower_softmax(RlyLower *l);
TsStatus rly_lower_reduce(RlyLower *l, TsReduceKind kind, int input_form_since);

/* lower_quant.c: QuantizeLinear, DequantizeLinear, ConvInteger, MatMulInteger,
 * QLinearConv, QLinearMatMul, QLinearAdd and the QDQ fusion's integer groups. */
TsStatus rly_lower_quantize(RlyLower *l);
TsStatus rly_lower_dequantize(RlyLower *l);
TsStatus rly_lower_conv_integer(RlyLower *l);
TsStatus rly_lower_matmul_integer(RlyLower *l);
TsStatus rly_lower_qlinear_conv(RlyLower *l);
TsStatus rly_lower_qlinear_matmul(RlyLower *l);
TsStatus rly_lower_qlinear_add(RlyLower *l);

#endif /* TESSERA_RELAY_LOWER_RULES_H */
