/* What relay_lite's ONNX readers share behind the public headers: the parser generated
 * from onnx.proto3 and the decoding of one TensorProto (onnx_loader.c). Only relay_lite's
 * own files include this header; protobuf-c never reaches include/tessera/. */
#ifndef TESSERA_RELAY_ONNX_PROTO_H
#define TESSERA_RELAY_ONNX_PROTO_H

#include "onnx.proto3.pb-c.h"
#include "relay_lite/onnx_loader.h"

/* Converts a TensorProto into a dense tensor; where names it in messages (the file, plus
 * the initializer or node). External or segmented data, a type Tessera lacks and data
 * that disagree with the shape are errors. On failure *t is left empty. */
TsStatus rly_tensor_from_proto(const Onnx__TensorProto *tp, const char *where, OnnxTensor *t,
                               TsError *err);

#endif /* TESSERA_RELAY_ONNX_PROTO_H */
