/* Small ONNX models written from tests: a ModelProto built with the parser the build
 * generates from relay_lite/onnx.proto3, saved to a file for the importer. Everything a
 * builder allocates is freed by mb_free. */
#ifndef TESSERA_TESTS_RELAY_MODEL_BUILDER_H
#define TESSERA_TESTS_RELAY_MODEL_BUILDER_H

#include <stdint.h>

#include "onnx.proto3.pb-c.h"

typedef struct ModelBuilder ModelBuilder;

/* A model of the default domain at opset, IR version 8, graph "g". */
ModelBuilder *mb_new(int64_t opset);
void mb_free(ModelBuilder *mb);
Onnx__ModelProto *mb_model(ModelBuilder *mb);

/* A graph input of ONNX elem_type; a dim < 0 is symbolic ("N"); ndim -1 leaves out the shape. */
void mb_input(ModelBuilder *mb, const char *name, int32_t elem_type, int ndim, const int64_t *dims);
/* An output without a declared type, or with one. */
void mb_output(ModelBuilder *mb, const char *name);
void mb_output_typed(ModelBuilder *mb, const char *name, int32_t elem_type, int ndim,
                     const int64_t *dims);
/* Initializers. */
void mb_init_i64(ModelBuilder *mb, const char *name, int n, const int64_t *values);
/* A rank-0 int64 initializer. */
void mb_init_i64_scalar(ModelBuilder *mb, const char *name, int64_t value);
void mb_init_f32(ModelBuilder *mb, const char *name, int ndim, const int64_t *dims);
void mb_init_f32_values(ModelBuilder *mb, const char *name, int n, const float *values);
/* A node; inputs and outputs are comma-separated names ("x,,w" leaves input 1 out). */
Onnx__NodeProto *mb_node(ModelBuilder *mb, const char *op, const char *inputs, const char *outputs);
void mb_attr_int(ModelBuilder *mb, Onnx__NodeProto *node, const char *name, int64_t value);
void mb_attr_float(ModelBuilder *mb, Onnx__NodeProto *node, const char *name, float value);
void mb_attr_string(ModelBuilder *mb, Onnx__NodeProto *node, const char *name, const char *value);
void mb_attr_ints(ModelBuilder *mb, Onnx__NodeProto *node, const char *name, int n,
                  const int64_t *values);
void mb_attr_floats(ModelBuilder *mb, Onnx__NodeProto *node, const char *name, int n,
                    const float *values);
/* A TENSOR attribute holding int64 values (rank 1) or one float (rank 0, elem FLOAT). */
void mb_attr_tensor_i64(ModelBuilder *mb, Onnx__NodeProto *node, const char *name, int n,
                        const int64_t *values);
/* A GRAPH attribute (the body of If/Loop/Scan). */
void mb_attr_graph(ModelBuilder *mb, Onnx__NodeProto *node, const char *name);

/* Writes the model to path. */
void mb_save(ModelBuilder *mb, const char *path);

#define I64S(...)     \
    (const int64_t[]) \
    {                 \
        __VA_ARGS__   \
    }
#define F32S(...)   \
    (const float[]) \
    {               \
        __VA_ARGS__ \
    }
#define NV(...) (int)(sizeof((const int64_t[]){ __VA_ARGS__ }) / sizeof(int64_t)), I64S(__VA_ARGS__)

#endif /* TESSERA_TESTS_RELAY_MODEL_BUILDER_H */
