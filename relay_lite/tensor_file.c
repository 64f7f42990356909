/* ONNX TensorProto files for users of the public API (`tessera run --input FILE.pb
 * --save-outputs DIR`, tests and scripts that feed a model and read what it returns):
 * reading goes through the node tests' loader (onnx_loader.c, which checks every field);
 * writing packs one TensorProto with the name, the data type, the dims and the elements
 * as raw_data (fixed-width little-endian, as ONNX specifies), which ONNX Runtime and
 * onnx.numpy_helper read back. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relay_lite/onnx_proto.h"
#include "tessera/relay.h"

TsStatus ts_tensor_file_read(const char *path, TsTensorFile *out, TsError *err)
{
    if (!out)
        return ts_fail(err, TS_EINVAL, "tensor file: out is NULL");
    memset(out, 0, sizeof *out);
    OnnxTensor t;
    TsStatus st = onnx_load_tensor(path, &t, err);
    if (st != TS_OK)
        return st;
    out->dtype = t.dtype;
    out->ndim = t.ndim;
    memcpy(out->shape, t.shape, sizeof(int64_t) * (size_t)t.ndim);
    out->nbytes = (size_t)t.num_elements * ts_dtype_bytes(t.dtype);
    out->data = t.data;
    t.data = NULL;
    onnx_tensor_free(&t);
    return TS_OK;
}

void ts_tensor_file_free(TsTensorFile *tensor)
{
    if (!tensor)
        return;
    free(tensor->data);
    memset(tensor, 0, sizeof *tensor);
}

/* ONNX's TensorProto.DataType of dtype; false for one ONNX lacks. */
static bool onnx_type_of(TsDType dtype, int32_t *out)
{
    static const int32_t codes[] = { ONNX_FLOAT,  ONNX_UINT8,  ONNX_INT8,   ONNX_UINT16,
                                     ONNX_INT16,  ONNX_INT32,  ONNX_INT64,  ONNX_BOOL,
                                     ONNX_FLOAT16, ONNX_DOUBLE, ONNX_UINT32, ONNX_UINT64 };
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        TsDType d;
        if (rly_dtype_of_onnx(codes[i], &d) && ts_dtype_eq(d, dtype)) {
            *out = codes[i];
            return true;
        }
    }
    return false;
}

TsStatus ts_tensor_file_write(const char *path, const char *name, TsDType dtype, int ndim,
                              const int64_t *shape, const void *data, size_t nbytes,
                              TsError *err)
{
    int32_t type;
    if (!path || !data || ndim < 0 || ndim > TS_GRAPH_MAX_DIMS || !onnx_type_of(dtype, &type))
        return ts_fail(err, TS_EINVAL, "tensor file %s: %s", path ? path : "(NULL)",
                       !path || !data ? "the path or data are NULL"
                       : ndim < 0 || ndim > TS_GRAPH_MAX_DIMS ? "bad rank"
                                                              : "a dtype ONNX lacks");
    size_t elements = 1;
    for (int d = 0; d < ndim; d++)
        elements *= (size_t)shape[d];
    if (elements * ts_dtype_bytes(dtype) != nbytes)
        return ts_fail(err, TS_EINVAL, "tensor file %s: %zu bytes for %zu elements", path, nbytes,
                       elements);
    Onnx__TensorProto tp = ONNX__TENSOR_PROTO__INIT;
    tp.name = (char *)(name ? name : "");
    tp.data_type = type;
    tp.n_dims = (size_t)ndim;
    tp.dims = (int64_t *)shape;
    tp.raw_data.data = (uint8_t *)data;
    tp.raw_data.len = nbytes;
    size_t size = onnx__tensor_proto__get_packed_size(&tp);
    uint8_t *bytes = malloc(size ? size : 1);
    if (!bytes)
        return ts_fail(err, TS_ENOMEM, "tensor file %s: out of memory", path);
    onnx__tensor_proto__pack(&tp, bytes);
    FILE *f = fopen(path, "wb");
    TsStatus st = TS_OK;
    if (!f) {
        st = ts_fail(err, TS_EIO, "tensor file %s: cannot create: %s", path, strerror(errno));
    } else {
        bool wrote = fwrite(bytes, 1, size, f) == size;
        if (fclose(f) != 0 || !wrote)
            st = ts_fail(err, TS_EIO, "tensor file %s: cannot write: %s", path, strerror(errno));
    }
    free(bytes);
    return st;
}
