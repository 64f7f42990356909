/* Arrays of the device runtime: allocation (alignment, shapes, the DLTensor a kernel
 * sees), views sharing a storage, reference counts across threads, copies, and the
 * errors for bad shapes, dtypes, devices and sizes. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "rt_testing.h"

static const TsDevice cpu = { TS_DEVICE_CPU, 0 };

static TsNDArray *new_array(int ndim, const int64_t *shape, TsDType dtype)
{
    TsError err;
    TsNDArray *array = NULL;
    assert_ok(ts_ndarray_empty(ndim, shape, dtype, cpu, &array, &err), err);
    assert_non_null(array);
    return array;
}

static void test_empty_layout(void **state)
{
    (void)state;
    int64_t shape[3] = { 2, 3, 5 };
    TsNDArray *array = new_array(3, shape, TS_FLOAT32);
    shape[1] = 99; /* the array keeps its own copy */
    TsDLTensor *t = ts_ndarray_dltensor(array);
    assert_int_equal((uintptr_t)t->data % 64, 0);
    assert_int_equal(t->ndim, 3);
    assert_int_equal(t->shape[0], 2);
    assert_int_equal(t->shape[1], 3);
    assert_int_equal(t->shape[2], 5);
    assert_null(t->strides);
    assert_int_equal(t->byte_offset, 0);
    assert_int_equal(t->device.device_type, TS_DEVICE_CPU);
    assert_int_equal(t->device.device_id, 0);
    assert_true(ts_dtype_eq(t->dtype, TS_FLOAT32));
    assert_int_equal(ts_ndarray_nbytes(array), 2 * 3 * 5 * 4);
    /* the whole buffer is writable */
    float *data = t->data;
    for (int i = 0; i < 30; i++)
        data[i] = (float)i;
    assert_true(data[29] == 29.0f);
    ts_ndarray_release(array);
}

static void test_empty_alignment_of_odd_sizes(void **state)
{
    (void)state;
    TsDType dtypes[] = { TS_INT8, TS_UINT16, TS_FLOAT64, TS_BOOL, ts_dtype(TS_TYPE_FLOAT, 32, 4) };
    size_t element_bytes[] = { 1, 2, 8, 1, 16 };
    TsNDArray *arrays[5 * 4];
    int n = 0;
    for (int d = 0; d < 5; d++)
        for (int64_t extent = 1; extent <= 7; extent += 2) {
            arrays[n] = new_array(1, &extent, dtypes[d]);
            assert_int_equal((uintptr_t)ts_ndarray_dltensor(arrays[n])->data % 64, 0);
            assert_int_equal(ts_ndarray_nbytes(arrays[n]), (size_t)extent * element_bytes[d]);
            n++;
        }
    for (int i = 0; i < n; i++)
        ts_ndarray_release(arrays[i]);
}

static void test_empty_scalar_and_zero_size(void **state)
{
    (void)state;
    TsNDArray *scalar = new_array(0, NULL, TS_INT64);
    assert_int_equal(ts_ndarray_dltensor(scalar)->ndim, 0);
    assert_int_equal(ts_ndarray_nbytes(scalar), 8);
    assert_non_null(ts_ndarray_dltensor(scalar)->data);

    int64_t shape[2] = { 4, 0 };
    TsNDArray *empty = new_array(2, shape, TS_FLOAT32);
    assert_int_equal(ts_ndarray_nbytes(empty), 0);
    assert_non_null(ts_ndarray_dltensor(empty)->data);
    assert_int_equal((uintptr_t)ts_ndarray_dltensor(empty)->data % 64, 0);
    ts_ndarray_release(scalar);
    ts_ndarray_release(empty);
}

static void test_empty_errors(void **state)
{
    (void)state;
    TsError err;
    TsNDArray *array = (TsNDArray *)&err; /* must be reset to NULL on failure */
    int64_t shape[2] = { 2, -3 };
    assert_status(ts_ndarray_empty(2, shape, TS_FLOAT32, cpu, &array, &err), err, TS_EINVAL,
                  "extent -3 of dimension 1 is negative");
    assert_null(array);
    assert_status(ts_ndarray_empty(-1, shape, TS_FLOAT32, cpu, &array, &err), err, TS_EINVAL,
                  "ndim -1 is negative");
    assert_status(ts_ndarray_empty(2, NULL, TS_FLOAT32, cpu, &array, &err), err, TS_EINVAL,
                  "shape is NULL");
    int64_t ok_shape[1] = { 4 };
    assert_status(ts_ndarray_empty(1, ok_shape, ts_dtype(TS_TYPE_FLOAT, 7, 1), cpu, &array, &err),
                  err, TS_EINVAL, "dtype invalid(2,7,1) is not a Tessera type");
    TsDevice gpu = { 2, 0 };
    assert_status(ts_ndarray_empty(1, ok_shape, TS_FLOAT32, gpu, &array, &err), err, TS_EINVAL,
                  "device (2, 0) is not the CPU");
    int64_t huge[3] = { INT64_C(1) << 30, INT64_C(1) << 30, INT64_C(1) << 30 };
    assert_status(ts_ndarray_empty(3, huge, TS_FLOAT32, cpu, &array, &err), err, TS_EINVAL,
                  "shape too large");
    assert_status(ts_ndarray_empty(1, ok_shape, TS_FLOAT32, cpu, NULL, &err), err, TS_EINVAL,
                  "out is NULL");
    assert_null(array);
}

/* A view shares the storage: writes through one show in the other, and the storage
 * outlives the array it was made from. */
static void test_view_shares_storage(void **state)
{
    (void)state;
    TsError err;
    int64_t shape[2] = { 2, 6 };
    TsNDArray *base = new_array(2, shape, TS_INT32);
    int32_t values[12];
    for (int i = 0; i < 12; i++)
        values[i] = 100 + i;
    assert_ok(ts_ndarray_copy_from_bytes(base, values, sizeof values, &err), err);

    int64_t view_shape[3] = { 3, 2, 2 };
    TsNDArray *view = NULL;
    assert_ok(ts_ndarray_view(base, 3, view_shape, &view, &err), err);
    TsDLTensor *vt = ts_ndarray_dltensor(view);
    assert_int_equal(vt->ndim, 3);
    assert_int_equal(vt->shape[0], 3);
    assert_int_equal(vt->shape[2], 2);
    assert_ptr_equal(vt->data, ts_ndarray_dltensor(base)->data);
    assert_true(ts_dtype_eq(vt->dtype, TS_INT32));

    ((int32_t *)ts_ndarray_dltensor(base)->data)[7] = -7;
    assert_int_equal(((int32_t *)vt->data)[7], -7);

    /* a view of the view, then the base goes: the data stays */
    int64_t flat = 12;
    TsNDArray *flat_view = NULL;
    assert_ok(ts_ndarray_view(view, 1, &flat, &flat_view, &err), err);
    ts_ndarray_release(base);
    ts_ndarray_release(view);
    int32_t out[12];
    assert_ok(ts_ndarray_copy_to_bytes(flat_view, out, sizeof out, &err), err);
    assert_int_equal(out[0], 100);
    assert_int_equal(out[7], -7);
    assert_int_equal(out[11], 111);
    ts_ndarray_release(flat_view);
}

static void test_view_errors(void **state)
{
    (void)state;
    TsError err;
    int64_t shape[2] = { 2, 3 };
    TsNDArray *base = new_array(2, shape, TS_FLOAT32);
    int64_t wrong[2] = { 5, 1 };
    TsNDArray *view = (TsNDArray *)&err;
    assert_status(ts_ndarray_view(base, 2, wrong, &view, &err), err, TS_EINVAL,
                  "float32[2, 3] has 6 elements, the view's shape has 5");
    assert_null(view);
    int64_t negative[2] = { -2, -3 };
    assert_status(ts_ndarray_view(base, 2, negative, &view, &err), err, TS_EINVAL,
                  "extent -2 of dimension 0 is negative");
    assert_status(ts_ndarray_view(NULL, 2, shape, &view, &err), err, TS_EINVAL, "array is NULL");
    ts_ndarray_release(base);
}

/* Retains and releases from several threads at once; the count must come out exact
 * (the data is intact afterwards, and the sanitizer build sees no leak or early free). */
typedef struct RefWorker {
    TsNDArray *array;
    int rounds;
} RefWorker;

static void *retain_release_rounds(void *arg)
{
    RefWorker *worker = arg;
    for (int i = 0; i < worker->rounds; i++) {
        ts_ndarray_retain(worker->array);
        ts_ndarray_release(worker->array);
    }
    return NULL;
}

static void test_refcount_across_threads(void **state)
{
    (void)state;
    int64_t extent = 16;
    TsNDArray *array = new_array(1, &extent, TS_FLOAT64);
    double *data = ts_ndarray_dltensor(array)->data;
    data[15] = 2.5;
    enum { THREADS = 4 };
    pthread_t threads[THREADS];
    RefWorker worker = { array, 20000 };
    for (int i = 0; i < THREADS; i++) {
        ts_ndarray_retain(array); /* one reference per thread, dropped after the join */
        assert_int_equal(pthread_create(&threads[i], NULL, retain_release_rounds, &worker), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        ts_ndarray_release(array);
    }
    assert_true(((double *)ts_ndarray_dltensor(array)->data)[15] == 2.5);
    ts_ndarray_release(array);
    ts_ndarray_release(NULL); /* harmless */
}

static void test_copies(void **state)
{
    (void)state;
    TsError err;
    int64_t shape[2] = { 2, 3 };
    TsNDArray *a = new_array(2, shape, TS_FLOAT32);
    float in[6] = { 1.5f, -2, 3, 4, 5, 6.25f };
    assert_ok(ts_ndarray_copy_from_bytes(a, in, sizeof in, &err), err);

    int64_t flat = 6;
    TsNDArray *b = new_array(1, &flat, TS_FLOAT32); /* another shape, same size */
    assert_ok(ts_ndarray_copy(a, b, &err), err);
    float out[6] = { 0 };
    assert_ok(ts_ndarray_copy_to_bytes(b, out, sizeof out, &err), err);
    for (int i = 0; i < 6; i++)
        assert_true(out[i] == in[i]);
    ts_ndarray_release(a);
    ts_ndarray_release(b);
}

static void test_copy_errors(void **state)
{
    (void)state;
    TsError err;
    int64_t shape[2] = { 2, 3 };
    TsNDArray *a = new_array(2, shape, TS_FLOAT32);
    float bytes[5];
    assert_status(ts_ndarray_copy_from_bytes(a, bytes, sizeof bytes, &err), err, TS_EINVAL,
                  "float32[2, 3] holds 24 bytes, given 20");
    assert_status(ts_ndarray_copy_to_bytes(a, bytes, sizeof bytes, &err), err, TS_EINVAL,
                  "ndarray_copy_to_bytes: float32[2, 3] holds 24 bytes, given 20");
    assert_status(ts_ndarray_copy_from_bytes(a, NULL, 24, &err), err, TS_EINVAL, "data is NULL");

    int64_t five = 5;
    TsNDArray *smaller = new_array(1, &five, TS_FLOAT32);
    assert_status(ts_ndarray_copy(a, smaller, &err), err, TS_EINVAL,
                  "from float32[2, 3] (24 bytes) to float32[5] (20 bytes)");
    int64_t six = 6;
    TsNDArray *ints = new_array(1, &six, TS_INT32);
    assert_status(ts_ndarray_copy(a, ints, &err), err, TS_EINVAL, "to int32[6] (24 bytes)");
    assert_status(ts_ndarray_copy(NULL, ints, &err), err, TS_EINVAL, "from array is NULL");
    ts_ndarray_release(a);
    ts_ndarray_release(smaller);
    ts_ndarray_release(ints);
}

/* bfloat16 arrays: 2-byte elements, DLPack code 4 in the DLTensor a kernel sees, and a
 * copy to a float16 array of the same size refused (the dtypes differ). */
static void test_bfloat16(void **state)
{
    (void)state;
    TsError err;
    int64_t shape[2] = { 3, 5 };
    TsNDArray *a = new_array(2, shape, TS_BFLOAT16);
    assert_int_equal(ts_ndarray_nbytes(a), 30);
    TsDLTensor *t = ts_ndarray_dltensor(a);
    assert_int_equal(t->dtype.code, 4);
    assert_int_equal(t->dtype.bits, 16);
    TsNDArray *half = new_array(2, shape, TS_FLOAT16);
    assert_status(ts_ndarray_copy(a, half, &err), err, TS_EINVAL,
                  "from bfloat16[3, 5] (30 bytes) to float16[3, 5] (30 bytes)");
    uint16_t bytes[15] = { 0x3f80 };
    assert_ok(ts_ndarray_copy_from_bytes(a, bytes, sizeof bytes, &err), err);
    ts_ndarray_release(a);
    ts_ndarray_release(half);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_layout),
        cmocka_unit_test(test_bfloat16),
        cmocka_unit_test(test_empty_alignment_of_odd_sizes),
        cmocka_unit_test(test_empty_scalar_and_zero_size),
        cmocka_unit_test(test_empty_errors),
        cmocka_unit_test(test_view_shares_storage),
        cmocka_unit_test(test_view_errors),
        cmocka_unit_test(test_refcount_across_threads),
        cmocka_unit_test(test_copies),
        cmocka_unit_test(test_copy_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
