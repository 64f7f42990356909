/* Bad arguments to a generated kernel: each returns -1 with a message naming the kernel,
 * the argument and the mismatch (ts_runtime_last_error), and touches no memory it should
 * not. Good variants next to them (explicit dense strides, a byte_offset, a dimension of
 * extent 1 with an odd stride) must still run and give the right answer. The kernel is
 * matmul A[32, 24] x B[24, 16] -> C[32, 16], float32, with a vectorized and parallel
 * schedule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cg_testing.h"

typedef struct Fixture {
    TsArena *arena;
    TsTensor *c;
    TsLoweredFunc *func;
    TsJitModule *module;
    TsPackedFunc fn;
    CgtArgs args;
} Fixture;

static int setup(void **state)
{
    Fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    fx->arena = ts_arena_create();
    TsArena *A = fx->arena;
    TsTensor *a = ts_placeholder(A, "A", 2, (int64_t[]){ 32, 24 }, TS_FLOAT32);
    TsTensor *b = ts_placeholder(A, "B", 2, (int64_t[]){ 24, 16 }, TS_FLOAT32);
    fx->c = ts_op_matmul(A, a, b, false, false, ts_dtype(TS_TYPE_FLOAT, 0, 1));
    assert_non_null(fx->c);
    TsSchedule *sch = ts_schedule_create(A, 1, &fx->c);
    TsStage *s = ts_stage(sch, fx->c);
    TsError err;
    cgt_ok(ts_vectorize(s, ts_stage_root_axis(s, 1), &err), &err);
    TsAxis *k = ts_stage_root_axis(s, 2);
    cgt_ok(ts_reorder(s, 2, (TsAxis *[]){ k, ts_stage_root_axis(s, 1) }, &err), &err);
    cgt_ok(ts_parallel(s, ts_stage_root_axis(s, 0), &err), &err);
    cgt_ok(ts_lower(sch, "matmul", &fx->func, &err), &err);
    fx->module = cgt_jit(fx->func, &fx->fn);
    cgt_args_init(&fx->args, fx->func, 7, NULL);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    Fixture *fx = *state;
    cgt_args_free(&fx->args);
    ts_jit_release(fx->module);
    ts_arena_destroy(fx->arena);
    free(fx);
    return 0;
}

/* Calls the kernel with num arguments and expects -1 and needle in the message. */
static void expect_failure(Fixture *fx, int num, const char *needle)
{
    ts_runtime_set_error("");
    int32_t rc = fx->fn(fx->args.values, fx->args.codes, num);
    const char *message = ts_runtime_last_error();
    if (rc != -1 || !strstr(message, needle))
        fprintf(stderr, "rc %d, message \"%s\", expected \"%s\"\n", rc, message, needle);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(message, needle));
}

/* The call succeeds and C is right. */
static void expect_success(Fixture *fx)
{
    memset(fx->args.data[2], 0xA5, fx->args.bytes[2]);
    int32_t rc = cgt_call(fx->fn, &fx->args);
    if (rc != 0)
        fprintf(stderr, "unexpected failure: %s\n", ts_runtime_last_error());
    assert_int_equal(rc, 0);
    char message[512];
    bool same = cgt_compare_with_oracle(&fx->args, 1, &fx->c, message, sizeof message);
    if (!same)
        fprintf(stderr, "%s\n", message);
    assert_true(same);
}

static void test_good_call(void **state)
{
    expect_success(*state);
}

static void test_wrong_count(void **state)
{
    Fixture *fx = *state;
    expect_failure(fx, 2, "matmul: expected 3 arguments, got 2");
    expect_failure(fx, 0, "matmul: expected 3 arguments, got 0");
}

static void test_wrong_type_code(void **state)
{
    Fixture *fx = *state;
    fx->args.codes[1] = TS_ARG_HANDLE;
    expect_failure(fx, 3, "matmul: argument 1 (B) has type code 3, expected a tensor (7)");
    fx->args.codes[1] = TS_ARG_TENSOR;
    expect_success(fx);
}

static void test_null_tensor(void **state)
{
    Fixture *fx = *state;
    fx->args.values[0].v_handle = NULL;
    expect_failure(fx, 3, "matmul: argument 0 (A) is a NULL tensor");
    fx->args.values[0].v_handle = &fx->args.dl[0];
}

static void test_wrong_dtype(void **state)
{
    Fixture *fx = *state;
    fx->args.dl[2].dtype = TS_FLOAT64;
    expect_failure(fx, 3, "matmul: argument 2 (matmul) has dtype code 2 bits 64 lanes 1, "
                          "expected float32 (code 2 bits 32 lanes 1)");
    fx->args.dl[2].dtype = ts_dtype(TS_TYPE_FLOAT, 32, 4);
    expect_failure(fx, 3, "lanes 4, expected float32");
    fx->args.dl[2].dtype = TS_INT32;
    expect_failure(fx, 3, "has dtype code 0 bits 32 lanes 1");
    fx->args.dl[2].dtype = TS_FLOAT32;
}

static void test_wrong_ndim(void **state)
{
    Fixture *fx = *state;
    fx->args.dl[1].ndim = 3;
    expect_failure(fx, 3, "matmul: argument 1 (B) has 3 dimensions, expected 2");
    fx->args.dl[1].ndim = 2;
}

static void test_wrong_shape(void **state)
{
    Fixture *fx = *state;
    fx->args.shapes[1][1] = 15;
    expect_failure(fx, 3, "matmul: argument 1 (B) has shape [24, 15], expected [24, 16]");
    fx->args.shapes[1][1] = 16;
    fx->args.shapes[0][0] = 1LL << 40;
    expect_failure(fx, 3, "argument 0 (A) has shape [1099511627776, 24], expected [32, 24]");
    fx->args.shapes[0][0] = 32;
    fx->args.dl[0].shape = NULL;
    expect_failure(fx, 3, "matmul: argument 0 (A) has a NULL shape");
    fx->args.dl[0].shape = fx->args.shapes[0];
}

static void test_strides(void **state)
{
    Fixture *fx = *state;
    int64_t transposed[] = { 1, 32 }, dense[] = { 24, 1 };
    fx->args.dl[0].strides = transposed;
    expect_failure(fx, 3, "matmul: argument 0 (A) has strides [1, 32], expected NULL or "
                          "[24, 1] (dense row-major)");
    fx->args.dl[0].strides = dense;
    expect_success(fx);
    fx->args.dl[0].strides = NULL;
}

/* A dimension of extent 1 may have any stride: DLPack producers leave odd ones there. */
static void test_unit_dimension_stride(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    TsTensor *x = ts_placeholder(A, "x", 2, (int64_t[]){ 1, 8 }, TS_FLOAT32);
    TsTensor *y = ts_op_relu(A, x);
    assert_non_null(y);
    TsSchedule *sch = ts_schedule_create(A, 1, &y);
    TsLoweredFunc *func;
    TsError err;
    cgt_ok(ts_lower(sch, "relu", &func, &err), &err);
    TsPackedFunc fn;
    TsJitModule *module = cgt_jit(func, &fn);
    CgtArgs args;
    cgt_args_init(&args, func, 3, NULL);
    int64_t odd[] = { 12345, 1 };
    args.dl[0].strides = odd;
    assert_int_equal(cgt_call(fn, &args), 0);
    char message[256];
    assert_true(cgt_compare_with_oracle(&args, 1, &y, message, sizeof message));
    odd[1] = 2;
    assert_int_equal(cgt_call(fn, &args), -1);
    assert_non_null(strstr(ts_runtime_last_error(), "relu: argument 0 (x) has strides "
                                                    "[12345, 2], expected NULL or [8, 1]"));
    cgt_args_free(&args);
    ts_jit_release(module);
    ts_arena_destroy(A);
}

static void test_null_data(void **state)
{
    Fixture *fx = *state;
    fx->args.dl[2].data = NULL;
    expect_failure(fx, 3, "matmul: argument 2 (matmul) has NULL data");
    fx->args.dl[2].data = fx->args.data[2];
}

static void test_device(void **state)
{
    Fixture *fx = *state;
    fx->args.dl[1].device.device_type = 2; /* DLPack's CUDA */
    expect_failure(fx, 3, "matmul: argument 1 (B) is on device type 2, expected the CPU (1)");
    fx->args.dl[1].device.device_type = TS_DEVICE_CPU;
}

/* byte_offset: honoured when aligned, refused when it splits an element. */
static void test_byte_offset(void **state)
{
    Fixture *fx = *state;
    size_t bytes = fx->args.bytes[1];
    unsigned char *shifted = aligned_alloc(64, bytes + 64);
    assert_non_null(shifted);
    memcpy(shifted + 8, fx->args.data[1], bytes);
    fx->args.dl[1].data = shifted;
    fx->args.dl[1].byte_offset = 8;
    expect_success(fx);
    fx->args.dl[1].byte_offset = 6;
    expect_failure(fx, 3, "matmul: argument 1 (B) has data + byte_offset 0x");
    expect_failure(fx, 3, "not aligned to 4 bytes");
    fx->args.dl[1].data = fx->args.data[1];
    fx->args.dl[1].byte_offset = 0;
    free(shifted);
}

/* The output may not share memory with an input (its pointers are noalias); two inputs
 * may. */
static void test_overlap(void **state)
{
    Fixture *fx = *state;
    fx->args.dl[2].data = (unsigned char *)fx->args.data[0] + 64;
    expect_failure(fx, 3, "matmul: argument 2 (matmul) overlaps argument 0 (A); the kernel "
                          "writes matmul");
    fx->args.dl[2].data = fx->args.data[2];
    expect_success(fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_call),
        cmocka_unit_test(test_wrong_count),
        cmocka_unit_test(test_wrong_type_code),
        cmocka_unit_test(test_null_tensor),
        cmocka_unit_test(test_wrong_dtype),
        cmocka_unit_test(test_wrong_ndim),
        cmocka_unit_test(test_wrong_shape),
        cmocka_unit_test(test_strides),
        cmocka_unit_test(test_unit_dimension_stride),
        cmocka_unit_test(test_null_data),
        cmocka_unit_test(test_device),
        cmocka_unit_test(test_byte_offset),
        cmocka_unit_test(test_overlap),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
