/* Modules of the device runtime: loading a shared object with a hand-written function
 * table (modules/good_module.c), listing and calling its kernels with arrays, a module
 * with the older version-1 table, and the errors for a missing file, a file that is not
 * a shared object, a shared object without a table, a table of an unknown ABI version,
 * one that sets the fields reserved for a whole model, a broken table entry, and an
 * unknown kernel.
 * The modules' paths come from CMake (RT_*_MODULE). */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#include "rt_testing.h"

static const TsDevice cpu = { TS_DEVICE_CPU, 0 };

static TsModule *load_good(void)
{
    TsError err;
    TsModule *module = NULL;
    assert_ok(ts_module_load(RT_GOOD_MODULE, &module, &err), err);
    assert_non_null(module);
    return module;
}

static void test_list_functions(void **state)
{
    (void)state;
    TsModule *module = load_good();
    assert_int_equal(ts_module_num_funcs(module), 2);
    const TsFuncEntry *first = ts_module_func(module, 0);
    assert_non_null(first);
    assert_string_equal(first->name, "add_one");
    assert_int_equal(first->num_args, 2);
    assert_string_equal(first->signature, "A:float32[n];B:float32[n]");
    assert_string_equal(ts_module_func(module, 1)->name, "scale");
    assert_null(ts_module_func(module, 2));
    assert_null(ts_module_func(module, -1));
    ts_module_release(module);
}

static TsNDArray *array_of(int ndim, const int64_t *shape, const float *values, size_t n)
{
    TsError err;
    TsNDArray *array = NULL;
    assert_ok(ts_ndarray_empty(ndim, shape, TS_FLOAT32, cpu, &array, &err), err);
    assert_ok(ts_ndarray_copy_from_bytes(array, values, n * sizeof *values, &err), err);
    return array;
}

/* add_one(A, B) through the table, with arrays: B = A + 1, element by element. */
static void test_call_add_one(void **state)
{
    (void)state;
    TsError err;
    TsModule *module = load_good();
    TsPackedFunc add_one = NULL;
    assert_ok(ts_module_get_func(module, "add_one", &add_one, &err), err);
    assert_ptr_equal(add_one, ts_module_func(module, 0)->func);

    int64_t n = 5;
    const float a_values[5] = { 0, 1.5f, -2, 100, 7 };
    const float zeros[5] = { 0 };
    TsNDArray *a = array_of(1, &n, a_values, 5);
    TsNDArray *b = array_of(1, &n, zeros, 5);
    TsValue args[2] = { { .v_handle = ts_ndarray_dltensor(a) },
                        { .v_handle = ts_ndarray_dltensor(b) } };
    int32_t codes[2] = { TS_ARG_TENSOR, TS_ARG_TENSOR };
    assert_int_equal(add_one(args, codes, 2), 0);
    float out[5];
    assert_ok(ts_ndarray_copy_to_bytes(b, out, sizeof out, &err), err);
    for (int i = 0; i < 5; i++)
        assert_true(out[i] == a_values[i] + 1.0f);
    ts_ndarray_release(a);
    ts_ndarray_release(b);
    ts_module_release(module);
}

/* scale(X, factor) with a float argument, in place on a 2-D array. */
static void test_call_scale(void **state)
{
    (void)state;
    TsError err;
    TsModule *module = load_good();
    TsPackedFunc scale = NULL;
    assert_ok(ts_module_get_func(module, "scale", &scale, &err), err);
    int64_t shape[2] = { 2, 2 };
    const float values[4] = { 1, 2, -3, 0.5f };
    TsNDArray *x = array_of(2, shape, values, 4);
    TsValue args[2] = { { .v_handle = ts_ndarray_dltensor(x) }, { .v_float64 = -2.0 } };
    int32_t codes[2] = { TS_ARG_TENSOR, TS_ARG_FLOAT };
    assert_int_equal(scale(args, codes, 2), 0);
    float out[4];
    assert_ok(ts_ndarray_copy_to_bytes(x, out, sizeof out, &err), err);
    assert_true(out[0] == -2.0f && out[1] == -4.0f && out[2] == 6.0f && out[3] == -1.0f);
    ts_ndarray_release(x);
    ts_module_release(module);
}

/* A kernel's error message crosses from the module into the caller's error slot. */
static void test_kernel_reports_bad_arguments(void **state)
{
    (void)state;
    TsError err;
    TsModule *module = load_good();
    TsPackedFunc add_one = NULL;
    assert_ok(ts_module_get_func(module, "add_one", &add_one, &err), err);
    TsValue args[2] = { { .v_int64 = 3 }, { .v_int64 = 4 } };
    int32_t codes[2] = { TS_ARG_INT, TS_ARG_INT };
    assert_int_equal(add_one(args, codes, 1), -1);
    assert_last_error("add_one: expected 2 arguments, got 1");
    assert_int_equal(add_one(args, codes, 2), -1);
    assert_last_error("add_one: argument 0 has type code 0, not a tensor");
    ts_module_release(module);
}

/* Two loads of one file are two references to one library: the first release leaves the
 * second usable. */
static void test_refcounts(void **state)
{
    (void)state;
    TsError err;
    TsModule *first = load_good();
    TsModule *second = load_good();
    ts_module_retain(first);
    ts_module_release(first);
    ts_module_release(first); /* closes first; second keeps the library loaded */
    TsPackedFunc scale = NULL;
    assert_ok(ts_module_get_func(second, "scale", &scale, &err), err);
    int64_t shape[2] = { 1, 1 };
    const float one = 3.0f;
    TsNDArray *x = array_of(2, shape, &one, 1);
    TsValue args[2] = { { .v_handle = ts_ndarray_dltensor(x) }, { .v_float64 = 2.0 } };
    int32_t codes[2] = { TS_ARG_TENSOR, TS_ARG_FLOAT };
    assert_int_equal(scale(args, codes, 2), 0);
    assert_true(*(float *)ts_ndarray_dltensor(x)->data == 6.0f);
    ts_ndarray_release(x);
    ts_module_release(second);
    ts_module_release(NULL); /* harmless */
}

/* A path without a slash names a file in the current directory, not a library to look
 * for on the search path. */
static void test_relative_path(void **state)
{
    (void)state;
    TsError err;
    char cwd[PATH_MAX];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(RT_MODULE_DIR), 0);
    TsModule *module = NULL;
    TsStatus status = ts_module_load(RT_GOOD_MODULE_NAME, &module, &err);
    assert_int_equal(chdir(cwd), 0);
    assert_ok(status, err);
    assert_int_equal(ts_module_num_funcs(module), 2);
    ts_module_release(module);
}

/* Stands in for a kernel pointer that a failed look-up must reset. */
static int32_t stale_kernel(const TsValue *args, const int32_t *type_codes, int32_t num_args)
{
    (void)args;
    (void)type_codes;
    (void)num_args;
    return 0;
}

static void test_unknown_function(void **state)
{
    (void)state;
    TsError err;
    TsModule *module = load_good();
    TsPackedFunc func = stale_kernel;
    assert_status(ts_module_get_func(module, "mul", &func, &err), err, TS_EINVAL,
                  "has no function mul; it has: add_one, scale");
    assert_non_null(strstr(err.message, RT_GOOD_MODULE));
    assert_null(func);
    assert_status(ts_module_get_func(module, NULL, &func, &err), err, TS_EINVAL,
                  "the name is NULL");
    ts_module_release(module);
}

/* Each bad file fails with the status given and a message naming the file. */
static void expect_load_error(const char *path, TsStatus want, const char *needle)
{
    TsError err;
    TsModule *module = (TsModule *)&err;
    assert_status(ts_module_load(path, &module, &err), err, want, needle);
    assert_non_null(strstr(err.message, path));
    assert_null(module);
}

/* A module exported with the version-1 table (three fields) loads, lists and calls. */
static void test_version_1_table(void **state)
{
    (void)state;
    TsModule *module = NULL;
    TsError err;
    assert_ok(ts_module_load(RT_V1_TABLE_MODULE, &module, &err), err);
    assert_int_equal(ts_module_num_funcs(module), 2);
    assert_string_equal(ts_module_func(module, 1)->name, "fails");
    TsPackedFunc f;
    assert_ok(ts_module_get_func(module, "one", &f, &err), err);
    assert_int_equal(f(NULL, NULL, 0), 0);
    assert_ok(ts_module_get_func(module, "fails", &f, &err), err);
    assert_int_equal(f(NULL, NULL, 0), -1);
    assert_string_equal(ts_runtime_last_error(), "fails: as written");
    ts_module_release(module);
}

static void test_load_errors(void **state)
{
    (void)state;
    expect_load_error(RT_MODULE_DIR "/no_such_module.so", TS_EIO, "cannot load");
    expect_load_error(TESSERA_SOURCE_DIR "/tests/runtime/modules/good_module.c", TS_EIO,
                      "cannot load");
    expect_load_error(RT_NO_TABLE_MODULE, TS_EPROTO, "no tessera_module_table symbol");
    expect_load_error(RT_BAD_ABI_MODULE, TS_EPROTO,
                      "table ABI version 42, but this runtime reads versions 1 to 3");
    expect_load_error(RT_MODEL_TABLE_MODULE, TS_EPROTO,
                      "table version 2 sets fields reserved for a whole model");
    expect_load_error(RT_BAD_ENTRY_MODULE, TS_EPROTO,
                      "function table entry 1 (broken) has a NULL function pointer");
    TsError err;
    TsModule *module = NULL;
    assert_status(ts_module_load(NULL, &module, &err), err, TS_EINVAL, "the path is NULL");
    assert_status(ts_module_load("", &module, &err), err, TS_EINVAL, "the path is empty");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_functions),
        cmocka_unit_test(test_call_add_one),
        cmocka_unit_test(test_call_scale),
        cmocka_unit_test(test_kernel_reports_bad_arguments),
        cmocka_unit_test(test_refcounts),
        cmocka_unit_test(test_relative_path),
        cmocka_unit_test(test_unknown_function),
        cmocka_unit_test(test_version_1_table),
        cmocka_unit_test(test_load_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
