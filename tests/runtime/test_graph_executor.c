/* The graph executor on a model written by hand in the version-3 table format
 * (modules/model_module.c: y = relu(x + w)): inputs and outputs listed with their names
 * and shapes, a run checked against naive C, a failing kernel named, timing; and
 * copies of that shared object with one field of the model corrupted on disk (a .so is
 * input like any file), each refused at load time with a message naming the file and
 * the field. The module's path comes from CMake (RT_MODEL_MODULE). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#include "rt_testing.h"
#include "tessera/graph_executor.h"

static void test_run_model(void **state)
{
    (void)state;
    TsError err;
    TsModule *module = NULL;
    TsGraphExecutor *ex = NULL;
    assert_ok(ts_module_load(RT_MODEL_MODULE, &module, &err), err);
    assert_ok(ts_graph_executor_create(module, &ex, &err), err);
    ts_module_release(module); /* the executor holds its own reference */
    assert_int_equal(ts_graph_executor_num_inputs(ex), 1);
    assert_int_equal(ts_graph_executor_num_outputs(ex), 1);
    assert_int_equal(ts_graph_executor_num_calls(ex), 2);
    assert_int_equal(ts_graph_executor_arena_bytes(ex), 128);
    const char *name;
    TsDType dtype;
    int ndim;
    const int64_t *shape;
    assert_ok(ts_graph_executor_input_info(ex, 0, &name, &dtype, &ndim, &shape, &err), err);
    assert_string_equal(name, "x");
    assert_int_equal(dtype.code, TS_TYPE_FLOAT);
    assert_int_equal(ndim, 2);
    assert_int_equal(shape[0], 2);
    assert_int_equal(shape[1], 3);
    assert_ok(ts_graph_executor_output_info(ex, 0, &name, NULL, NULL, NULL, &err), err);
    assert_string_equal(name, "y");
    assert_int_equal(ts_graph_executor_input_index(ex, "x"), 0);
    assert_int_equal(ts_graph_executor_input_index(ex, "y"), -1);
    assert_int_equal(ts_graph_executor_output_bytes(ex, 0), 24);

    const float x[6] = { 1, 2, 3, -4, 5, -6 }, w[3] = { 1, -2, 0.5f };
    float y[6];
    assert_ok(ts_graph_executor_set_input_by_name(ex, "x", x, sizeof x, &err), err);
    assert_ok(ts_graph_executor_run(ex, &err), err);
    assert_ok(ts_graph_executor_get_output(ex, 0, y, sizeof y, &err), err);
    for (int i = 0; i < 6; i++) {
        float want = x[i] + w[i % 3];
        assert_true(y[i] == (want > 0 ? want : 0));
    }
    double costs[3];
    TsTimeOptions options = ts_time_options_default();
    options.repeat = 3;
    assert_ok(ts_graph_executor_time(ex, &options, costs, &err), err);
    for (int i = 0; i < 3; i++)
        assert_true(costs[i] > 0);
    ts_graph_executor_free(ex);
}

static void test_executor_errors(void **state)
{
    (void)state;
    TsError err;
    TsModule *module = NULL;
    TsGraphExecutor *ex = NULL;
    assert_ok(ts_module_load(RT_MODEL_MODULE, &module, &err), err);
    assert_ok(ts_graph_executor_create(module, &ex, &err), err);
    float x[6] = { 0, 0, 99, 0, 0, 0 }, y[6];
    assert_status(ts_graph_executor_set_input(ex, 0, x, 20, &err), err, TS_EINVAL,
                  "input 0 (x) takes 24 bytes, not 20");
    assert_status(ts_graph_executor_set_input(ex, 1, x, 24, &err), err, TS_EINVAL,
                  "no such input");
    assert_status(ts_graph_executor_set_input_by_name(ex, "z", x, 24, &err), err, TS_EINVAL,
                  "no input called z");
    assert_status(ts_graph_executor_get_output(ex, 0, y, 4, &err), err, TS_EINVAL,
                  "output 0 (y) has 24 bytes, not 4");
    assert_ok(ts_graph_executor_set_input(ex, 0, x, sizeof x, &err), err);
    assert_status(ts_graph_executor_run(ex, &err), err, TS_EDEVICE,
                  "call 0 (kernel add_row) failed: add_row: the input holds 99");
    assert_non_null(strstr(err.message, RT_MODEL_MODULE));
    ts_graph_executor_free(ex);
    ts_module_release(module);

    assert_ok(ts_module_load(RT_GOOD_MODULE, &module, &err), err);
    assert_status(ts_graph_executor_create(module, &ex, &err), err, TS_EINVAL,
                  "holds kernels only");
    assert_null(ex);
    ts_module_release(module);
}

/* ---- corrupted copies ---- */

static unsigned char *read_all(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *size = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *data = malloc(*size);
    assert_non_null(data);
    assert_int_equal(fread(data, 1, *size, f), *size);
    fclose(f);
    return data;
}

/* The one place in data where the 4-byte magic is. */
static size_t find_magic(const unsigned char *data, size_t size, uint32_t magic)
{
    size_t at = SIZE_MAX;
    for (size_t i = 0; i + 4 <= size; i++) {
        uint32_t word;
        memcpy(&word, data + i, 4);
        if (word == magic) {
            assert_true(at == SIZE_MAX);
            at = i;
        }
    }
    assert_true(at != SIZE_MAX);
    return at;
}

/* Writes the model module with the bytes at (magic + offset) replaced by value (width
 * bytes) and checks that loading it fails with a message naming the file and needle. */
static void expect_corrupt(uint32_t magic, size_t offset, uint64_t value, int width,
                           const char *needle)
{
    size_t size;
    unsigned char *data = read_all(RT_MODEL_MODULE, &size);
    size_t at = find_magic(data, size, magic) + offset;
    assert_true(at + (size_t)width <= size);
    memcpy(data + at, &value, (size_t)width); /* little-endian hosts and boards */
    char path[256];
    const char *tmp = getenv("TMPDIR");
    static int serial;
    snprintf(path, sizeof path, "%s/rt_corrupt_model_%ld_%d.so", tmp && *tmp ? tmp : "/tmp",
             (long)getpid(), serial++);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, size, f), size);
    fclose(f);
    free(data);
    TsError err;
    TsModule *module = (TsModule *)&err;
    TsStatus st = ts_module_load(path, &module, &err);
    unlink(path);
    assert_status(st, err, TS_EPROTO, needle);
    assert_non_null(strstr(err.message, path));
    assert_null(module);
}

enum {
    HEADER = sizeof(TsModelGraphHeader),
    TENSOR = sizeof(TsModelTensor),
    CALLS = HEADER + 4 * TENSOR,
    ARGS = CALLS + 2 * sizeof(TsModelCall),
};

static void test_corrupt_models(void **state)
{
    (void)state;
    const uint32_t g = TS_MODEL_GRAPH_MAGIC, p = TS_MODEL_PLAN_MAGIC;
    expect_corrupt(g, 4, 7, 4, "graph version 0x7");
    expect_corrupt(g, offsetof(TsModelGraphHeader, num_tensors), 5, 4,
                   "(truncated or padded data)");
    expect_corrupt(g, offsetof(TsModelGraphHeader, num_calls), 0xffffffffu, 4,
                   "graph field num_calls is absurd");
    expect_corrupt(g, HEADER + offsetof(TsModelTensor, name), 1000, 4,
                   "tensor 0: field name 1000 is outside the strings");
    expect_corrupt(g, HEADER + TENSOR + offsetof(TsModelTensor, storage), 9, 4,
                   "tensor 1 (w): unknown field storage 9");
    expect_corrupt(g, HEADER + TENSOR + offsetof(TsModelTensor, offset), 64, 8,
                   "tensor 1 (w): field offset 64 (+12 bytes) is outside the 64 bytes of weights");
    expect_corrupt(g, HEADER + 2 * TENSOR + offsetof(TsModelTensor, shape) + 8, 4, 8,
                   "call 0 (add_row): argument 2 (t) has a dtype or shape other than the "
                   "kernel's t");
    expect_corrupt(g, HEADER + 2 * TENSOR + offsetof(TsModelTensor, shape), -2, 8,
                   "tensor 2 (t): bad dtype or shape");
    expect_corrupt(g, HEADER + 3 * TENSOR + offsetof(TsModelTensor, dtype), 0x0100072a, 4,
                   "tensor 3 (y): bad dtype or shape");
    expect_corrupt(g, CALLS + sizeof(TsModelCall) + offsetof(TsModelCall, func), 0, 4,
                   "call 1: unknown kernel x");
    expect_corrupt(g, CALLS + offsetof(TsModelCall, first_arg), 4, 4,
                   "call 0 (add_row): fields first_arg 4, num_args 3 do not fit");
    expect_corrupt(g, ARGS + 4, 9, 4, "call 0 (add_row): argument 1 names tensor 9 of 4");
    expect_corrupt(g, ARGS + 5 * 4, 1, 4, "graph inputs entry 0 names tensor 1");
    expect_corrupt(p, offsetof(TsModelPlanHeader, arena_bytes), 32, 8,
                   "tensor 2 (t): memory plan offset 64 (+24 bytes) is outside the arena of 32");
    expect_corrupt(p, sizeof(TsModelPlanHeader) + 2 * 8, 72, 8,
                   "memory plan offset 72 (+24 bytes) is outside the arena of 128 bytes or "
                   "unaligned");
    expect_corrupt(p, sizeof(TsModelPlanHeader) + 1 * 8, 0, 8,
                   "tensor 1 (w): memory plan offset set for a tensor not in the arena");
    expect_corrupt(p, offsetof(TsModelPlanHeader, num_tensors), 3, 4,
                   "memory plan field num_tensors does not match");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_run_model),
        cmocka_unit_test(test_executor_errors),
        cmocka_unit_test(test_corrupt_models),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
