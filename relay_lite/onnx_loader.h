/* Reads ONNX files: serialized onnx.TensorProto files (the inputs and outputs of the
 * ONNX backend node tests, `tessera run --input`) into dense buffers, and a serialized
 * onnx.ModelProto's first node with its inputs and initializers (enough to drive a
 * single-node test). The model importer proper is onnx_import.c, which shares the
 * TensorProto decoding (onnx_proto.h). protobuf-c stays out of this header.
 */
#ifndef TESSERA_RELAY_ONNX_LOADER_H
#define TESSERA_RELAY_ONNX_LOADER_H

#include <stdbool.h>
#include <stdint.h>

#include "tessera/dtype.h"
#include "tessera/error.h"
#include "tessera/te.h"

/* ONNX TensorProto.DataType codes that the loader converts. */
enum {
    ONNX_FLOAT = 1,
    ONNX_UINT8 = 2,
    ONNX_INT8 = 3,
    ONNX_UINT16 = 4,
    ONNX_INT16 = 5,
    ONNX_INT32 = 6,
    ONNX_INT64 = 7,
    ONNX_BOOL = 9,
    ONNX_FLOAT16 = 10,
    ONNX_DOUBLE = 11,
    ONNX_UINT32 = 12,
    ONNX_UINT64 = 13,
    ONNX_BFLOAT16 = 16
};

/* A tensor read from a TensorProto. data is a dense row-major buffer of
 * num_elements * ts_dtype_bytes(dtype) bytes in host byte order, with Tessera's
 * conventions (bool one byte 0 or 1, float16 and bfloat16 as their bits). */
typedef struct OnnxTensor {
    char *name;        /* the proto's name, "" when it has none */
    int32_t onnx_type; /* TensorProto.DataType */
    TsDType dtype;
    int ndim; /* 0 for a scalar */
    int64_t shape[TS_MAX_DIMS];
    int64_t num_elements; /* 1 for a scalar */
    void *data;
} OnnxTensor;

typedef enum OnnxAttrKind {
    ONNX_ATTR_FLOAT,
    ONNX_ATTR_INT,
    ONNX_ATTR_STRING,
    ONNX_ATTR_FLOATS,
    ONNX_ATTR_INTS
} OnnxAttrKind;

/* One node attribute; only the member its kind names is meaningful. */
typedef struct OnnxAttr {
    char *name;
    OnnxAttrKind kind;
    double f;       /* FLOAT (a float32 in the file) */
    int64_t i;      /* INT */
    char *s;        /* STRING, NUL-terminated */
    int num_values; /* FLOATS / INTS */
    double *floats;
    int64_t *ints;
} OnnxAttr;

typedef struct OnnxNode {
    char *op_type;
    char *domain; /* "" for the default operator set */
    char *name;
    int num_inputs;
    char **inputs; /* "" for an omitted optional input */
    int num_outputs;
    char **outputs;
    int num_attrs;
    OnnxAttr *attrs;
} OnnxNode;

typedef struct OnnxModel {
    int64_t opset; /* version of the default ("" / "ai.onnx") operator set */
    int num_nodes; /* nodes in the graph; only the first is kept */
    OnnxNode node;
    int num_graph_inputs; /* graph inputs in order, initializers among them */
    char **graph_inputs;
    int num_initializers;
    OnnxTensor *initializers;
} OnnxModel;

/* Reads a whole file into a malloc'ed buffer (*bytes, the caller frees it). what names
 * the file in the message when it cannot be opened ("%s: cannot open WHAT: reason"). */
TsStatus rly_read_file(const char *path, const char *what, uint8_t **bytes, size_t *size,
                       TsError *err);

/* Reads one serialized TensorProto. On failure (missing or unreadable file, bytes that
 * are not a TensorProto, data that do not match the shape, a data type Tessera lacks,
 * external data) *out is left empty and the message names the file. */
TsStatus onnx_load_tensor(const char *path, OnnxTensor *out, TsError *err);
void onnx_tensor_free(OnnxTensor *tensor);

/* Reads a serialized ModelProto: the opset, the graph's first node, the graph's input
 * names and its initializers. Failures as for onnx_load_tensor; an attribute of a kind
 * other than float, int, string, floats or ints is an error naming it. */
TsStatus onnx_load_model(const char *path, OnnxModel *out, TsError *err);
void onnx_model_free(OnnxModel *model);

/* The attribute called name, or NULL. */
const OnnxAttr *onnx_node_attr(const OnnxNode *node, const char *name);
/* The initializer called name, or NULL. */
const OnnxTensor *onnx_model_initializer(const OnnxModel *model, const char *name);
/* Tessera's dtype for an ONNX TensorProto.DataType; false for the types Tessera lacks. */
bool rly_dtype_of_onnx(int32_t onnx_type, TsDType *out);
/* "FLOAT", "UINT8", ... as ONNX spells the data types; "UNKNOWN" for other codes. */
const char *onnx_type_name(int32_t onnx_type);

#endif /* TESSERA_RELAY_ONNX_LOADER_H */
