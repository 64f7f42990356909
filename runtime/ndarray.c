/* Arrays on the device: dense row-major buffers, aligned to 64 bytes, described to
 * kernels as DLPack DLTensors (runtime.h's TsDLTensor). An array owns a reference to a
 * storage (the buffer); a view is another array (its own shape) over the same storage,
 * so the buffer lives until the last array over it is released. Both counts are C11
 * atomics, so arrays may be retained and released from any thread. */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tessera/runtime.h"

/* The alignment of every buffer: a cache line, and enough for AVX-512 aligned loads.
 * Kernels may rely on it (runtime.h). */
#define ARRAY_ALIGNMENT 64

typedef struct Storage {
    atomic_long refs;
    void *data;
} Storage;

struct TsNDArray {
    atomic_long refs;
    Storage *storage;
    TsDLTensor tensor; /* tensor.shape points at shape below; strides stay NULL (dense) */
    int64_t shape[];
};

/* "float32[2, 3]", for messages that name an array. */
static const char *describe(const TsDLTensor *tensor, char *buf, size_t size)
{
    char dtype[TS_DTYPE_STR_MAX];
    int used = snprintf(buf, size, "%s[", ts_dtype_str(tensor->dtype, dtype));
    for (int32_t d = 0; d < tensor->ndim && used > 0 && (size_t)used < size; d++)
        used += snprintf(buf + used, size - (size_t)used, "%s%lld", d ? ", " : "",
                         (long long)tensor->shape[d]);
    if (used > 0 && (size_t)used < size)
        snprintf(buf + used, size - (size_t)used, "]");
    return buf;
}

/* The element count of shape into *count; TS_EINVAL for a negative extent or a count
 * whose bytes would not fit in memory. */
static TsStatus element_count(const char *what, int ndim, const int64_t *shape,
                              size_t element_bytes, int64_t *count, TsError *err)
{
    int64_t product = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0)
            return ts_fail(err, TS_EINVAL, "%s: extent %lld of dimension %d is negative", what,
                           (long long)shape[d], d);
        if (shape[d] != 0 && product > (int64_t)(SIZE_MAX / 2 / element_bytes) / shape[d])
            return ts_fail(err, TS_EINVAL, "%s: shape too large (dimension %d overflows it)", what,
                           d);
        product *= shape[d];
    }
    *count = product;
    return TS_OK;
}

static TsStatus check_shape_args(const char *what, int ndim, const int64_t *shape, TsError *err)
{
    if (ndim < 0)
        return ts_fail(err, TS_EINVAL, "%s: ndim %d is negative", what, ndim);
    if (ndim > 0 && !shape)
        return ts_fail(err, TS_EINVAL, "%s: shape is NULL for %d dimensions", what, ndim);
    return TS_OK;
}

static Storage *storage_new(size_t nbytes)
{
    Storage *storage = malloc(sizeof *storage);
    if (!storage)
        return NULL;
    /* aligned_alloc wants a multiple of the alignment; an empty array still gets a
     * buffer, so that data is never NULL. */
    size_t padded = (nbytes + ARRAY_ALIGNMENT - 1) / ARRAY_ALIGNMENT * ARRAY_ALIGNMENT;
    storage->data = aligned_alloc(ARRAY_ALIGNMENT, padded ? padded : ARRAY_ALIGNMENT);
    if (!storage->data) {
        free(storage);
        return NULL;
    }
    atomic_init(&storage->refs, 1);
    return storage;
}

static void storage_release(Storage *storage)
{
    if (atomic_fetch_sub_explicit(&storage->refs, 1, memory_order_acq_rel) == 1) {
        free(storage->data);
        free(storage);
    }
}

/* A new array (one reference) over storage, which it takes over one reference of. */
static TsNDArray *array_new(Storage *storage, int ndim, const int64_t *shape, TsDType dtype,
                            TsDevice device)
{
    TsNDArray *array = malloc(sizeof *array + (size_t)ndim * sizeof array->shape[0]);
    if (!array)
        return NULL;
    atomic_init(&array->refs, 1);
    array->storage = storage;
    if (ndim > 0)
        memcpy(array->shape, shape, (size_t)ndim * sizeof array->shape[0]);
    array->tensor = (TsDLTensor){ .data = storage->data,
                                  .device = device,
                                  .ndim = ndim,
                                  .dtype = dtype,
                                  .shape = array->shape,
                                  .strides = NULL,
                                  .byte_offset = 0 };
    return array;
}

TsStatus ts_ndarray_empty(int ndim, const int64_t *shape, TsDType dtype, TsDevice device,
                          TsNDArray **out, TsError *err)
{
    const char *what = "ndarray_empty";
    if (!out)
        return ts_fail(err, TS_EINVAL, "%s: out is NULL", what);
    *out = NULL;
    TsStatus status = check_shape_args(what, ndim, shape, err);
    if (status != TS_OK)
        return status;
    char name[TS_DTYPE_STR_MAX];
    if (!ts_dtype_is_valid(dtype))
        return ts_fail(err, TS_EINVAL, "%s: dtype %s is not a Tessera type", what,
                       ts_dtype_str(dtype, name));
    if (device.device_type != TS_DEVICE_CPU || device.device_id != 0)
        return ts_fail(err, TS_EINVAL, "%s: device (%d, %d) is not the CPU (%d, 0)", what,
                       (int)device.device_type, (int)device.device_id, TS_DEVICE_CPU);
    int64_t count;
    status = element_count(what, ndim, shape, ts_dtype_bytes(dtype), &count, err);
    if (status != TS_OK)
        return status;
    size_t nbytes = (size_t)count * ts_dtype_bytes(dtype);
    Storage *storage = storage_new(nbytes);
    if (!storage)
        return ts_fail(err, TS_ENOMEM, "%s: out of memory for %zu bytes", what, nbytes);
    *out = array_new(storage, ndim, shape, dtype, device);
    if (!*out) {
        storage_release(storage);
        return ts_fail(err, TS_ENOMEM, "%s: out of memory for the array header", what);
    }
    return TS_OK;
}

TsStatus ts_ndarray_view(TsNDArray *array, int ndim, const int64_t *shape, TsNDArray **out,
                         TsError *err)
{
    const char *what = "ndarray_view";
    if (!out)
        return ts_fail(err, TS_EINVAL, "%s: out is NULL", what);
    *out = NULL;
    if (!array)
        return ts_fail(err, TS_EINVAL, "%s: array is NULL", what);
    TsStatus status = check_shape_args(what, ndim, shape, err);
    if (status != TS_OK)
        return status;
    size_t element_bytes = ts_dtype_bytes(array->tensor.dtype);
    int64_t count;
    status = element_count(what, ndim, shape, element_bytes, &count, err);
    if (status != TS_OK)
        return status;
    if ((size_t)count * element_bytes != ts_ndarray_nbytes(array)) {
        char from[160];
        return ts_fail(err, TS_EINVAL, "%s: %s has %zu elements, the view's shape has %lld", what,
                       describe(&array->tensor, from, sizeof from),
                       ts_ndarray_nbytes(array) / element_bytes, (long long)count);
    }
    atomic_fetch_add_explicit(&array->storage->refs, 1, memory_order_relaxed);
    *out = array_new(array->storage, ndim, shape, array->tensor.dtype, array->tensor.device);
    if (!*out) {
        storage_release(array->storage);
        return ts_fail(err, TS_ENOMEM, "%s: out of memory for the array header", what);
    }
    (*out)->tensor.byte_offset = array->tensor.byte_offset;
    return TS_OK;
}

/* TS_OK when nbytes is exactly what array holds; the message names the array. */
static TsStatus check_bytes(const char *what, const TsNDArray *array, size_t nbytes, TsError *err)
{
    if (!array)
        return ts_fail(err, TS_EINVAL, "%s: array is NULL", what);
    if (ts_ndarray_nbytes(array) != nbytes) {
        char name[160];
        return ts_fail(err, TS_EINVAL, "%s: %s holds %zu bytes, given %zu", what,
                       describe(&array->tensor, name, sizeof name), ts_ndarray_nbytes(array),
                       nbytes);
    }
    return TS_OK;
}

static char *array_bytes(const TsNDArray *array)
{
    return (char *)array->tensor.data + array->tensor.byte_offset;
}

TsStatus ts_ndarray_copy_from_bytes(TsNDArray *array, const void *data, size_t nbytes, TsError *err)
{
    TsStatus status = check_bytes("ndarray_copy_from_bytes", array, nbytes, err);
    if (status != TS_OK)
        return status;
    if (nbytes > 0 && !data)
        return ts_fail(err, TS_EINVAL, "ndarray_copy_from_bytes: data is NULL");
    if (nbytes > 0)
        memmove(array_bytes(array), data, nbytes);
    return TS_OK;
}

TsStatus ts_ndarray_copy_to_bytes(const TsNDArray *array, void *data, size_t nbytes, TsError *err)
{
    TsStatus status = check_bytes("ndarray_copy_to_bytes", array, nbytes, err);
    if (status != TS_OK)
        return status;
    if (nbytes > 0 && !data)
        return ts_fail(err, TS_EINVAL, "ndarray_copy_to_bytes: data is NULL");
    if (nbytes > 0)
        memmove(data, array_bytes(array), nbytes);
    return TS_OK;
}

/* Like TVM's CopyFromTo: the same dtype and byte size; the shapes may differ (a copy into
 * a view of another shape). memmove, since from and to may share a storage. */
TsStatus ts_ndarray_copy(const TsNDArray *from, TsNDArray *to, TsError *err)
{
    const char *what = "ndarray_copy";
    if (!from || !to)
        return ts_fail(err, TS_EINVAL, "%s: %s array is NULL", what, from ? "to" : "from");
    char from_name[160], to_name[160];
    if (!ts_dtype_eq(from->tensor.dtype, to->tensor.dtype) ||
        ts_ndarray_nbytes(from) != ts_ndarray_nbytes(to))
        return ts_fail(
            err, TS_EINVAL, "%s: from %s (%zu bytes) to %s (%zu bytes): dtype or size differs",
            what, describe(&from->tensor, from_name, sizeof from_name), ts_ndarray_nbytes(from),
            describe(&to->tensor, to_name, sizeof to_name), ts_ndarray_nbytes(to));
    if (ts_ndarray_nbytes(from) > 0)
        memmove(array_bytes(to), array_bytes(from), ts_ndarray_nbytes(from));
    return TS_OK;
}

TsDLTensor *ts_ndarray_dltensor(TsNDArray *array)
{
    return array ? &array->tensor : NULL;
}

size_t ts_ndarray_nbytes(const TsNDArray *array)
{
    if (!array)
        return 0;
    size_t nbytes = ts_dtype_bytes(array->tensor.dtype);
    for (int32_t d = 0; d < array->tensor.ndim; d++)
        nbytes *= (size_t)array->shape[d];
    return nbytes;
}

void ts_ndarray_retain(TsNDArray *array)
{
    if (array)
        atomic_fetch_add_explicit(&array->refs, 1, memory_order_relaxed);
}

void ts_ndarray_release(TsNDArray *array)
{
    if (!array)
        return;
    if (atomic_fetch_sub_explicit(&array->refs, 1, memory_order_acq_rel) == 1) {
        storage_release(array->storage);
        free(array);
    }
}
