/* The quantized operators and bf16 conv2d/dense through codegen: each built with a plain
 * default schedule (and the elementwise ones also vectorized by 16, with a tail), JIT-
 * compiled for the host and compared with the reference interpreter on random inputs:
 * integer outputs bit for bit, float outputs (dequantize, bf16 products summed in
 * float32) within cg_testing.h's tolerance. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cg_testing.h"

/* Inputs by name: scales positive (some powers of two, so ties happen), shifts in
 * [-31, 3], multipliers in [2^30, 2^31), accumulators over all of int32 in part,
 * everything else the default. */
static void fill_quant(CgtRng *rng, const TsTensor *t, void *data)
{
    const char *name = ts_tensor_name(t);
    int64_t n = ts_tensor_num_elements(t);
    for (int64_t i = 0; i < n; i++) {
        if (strcmp(name, "scale") == 0)
            ((float *)data)[i] = i % 2 ? 0.5f : (float)cgt_rng_int(rng, 1, 1000) / 4096.0f;
        else if (strcmp(name, "shift") == 0)
            ((int32_t *)data)[i] = (int32_t)cgt_rng_int(rng, -31, 3);
        else if (strcmp(name, "mult") == 0)
            ((int32_t *)data)[i] = (int32_t)cgt_rng_int(rng, INT64_C(1) << 30, INT32_MAX);
        else if (strcmp(name, "acc") == 0)
            ((int32_t *)data)[i] = i % 4 ? (int32_t)cgt_rng_int(rng, INT32_MIN, INT32_MAX)
                                         : (int32_t)cgt_rng_int(rng, -3000, 3000);
        else if (strcmp(name, "x") == 0 && ts_dtype_eq(ts_tensor_dtype(t), TS_FLOAT32))
            ((float *)data)[i] = (float)cgt_rng_int(rng, -4000, 4000) / 64.0f;
        else {
            cgt_fill_default(rng, t, data);
            return;
        }
    }
}

/* The default schedule, and unless the output is a reduction, the innermost axis split
 * by 16 and vectorized. */
static void check(TsArena *A, TsTensor *out, const char *name, bool vectorize, uint64_t seed)
{
    assert_non_null(out);
    TsSchedule *sch = ts_schedule_create(A, 1, &out);
    cgt_check_schedule(sch, name, 1, &out, seed, fill_quant);
    if (!vectorize)
        return;
    TsSchedule *vec = ts_schedule_create(A, 1, &out);
    TsStage *s = ts_stage(vec, out);
    TsAxis *inner = ts_stage_root_axis(s, ts_stage_num_root_axes(s) - 1), *o, *v;
    TsError err;
    cgt_ok(ts_split(s, inner, 16, &o, &v, &err), &err);
    cgt_ok(ts_vectorize(s, v, &err), &err);
    char vname[64];
    snprintf(vname, sizeof vname, "%s_vec", name);
    cgt_check_schedule(vec, vname, 1, &out, seed + 1, fill_quant);
}

static void test_conv2d_integer(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    TsTensor *x = ts_placeholder(A, "data", 4, (int64_t[]){ 2, 19, 9, 8 }, TS_UINT8);
    TsTensor *w = ts_placeholder(A, "w", 4, (int64_t[]){ 21, 19, 3, 3 }, TS_INT8);
    TsTensor *xzp = ts_placeholder(A, "x_zp", 0, NULL, TS_UINT8);
    TsTensor *wzp = ts_placeholder(A, "w_zp", 1, (int64_t[]){ 21 }, TS_INT8);
    TsConv2dAttrs attrs = ts_conv2d_attrs_default();
    attrs.stride[0] = attrs.stride[1] = 2;
    attrs.padding[0] = attrs.padding[1] = attrs.padding[2] = attrs.padding[3] = 1;
    check(A, ts_op_conv2d_integer(A, x, w, xzp, wzp, &attrs), "conv2d_integer", false, 1);
    /* 7x7 with groups, no zero points */
    TsTensor *x2 = ts_placeholder(A, "data2", 4, (int64_t[]){ 1, 6, 13, 11 }, TS_INT8);
    TsTensor *w2 = ts_placeholder(A, "w2", 4, (int64_t[]){ 4, 3, 7, 7 }, TS_INT8);
    TsConv2dAttrs attrs2 = ts_conv2d_attrs_default();
    attrs2.groups = 2;
    attrs2.padding[0] = attrs2.padding[1] = attrs2.padding[2] = attrs2.padding[3] = 3;
    check(A, ts_op_conv2d_integer(A, x2, w2, NULL, NULL, &attrs2), "conv2d_integer_7x7", false, 2);
    ts_arena_destroy(A);
}

static void test_matmul_and_dense_integer(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    TsTensor *a = ts_placeholder(A, "a", 4, (int64_t[]){ 2, 1, 7, 37 }, TS_UINT8);
    TsTensor *b = ts_placeholder(A, "b", 3, (int64_t[]){ 3, 37, 19 }, TS_INT8);
    TsTensor *azp = ts_placeholder(A, "a_zp", 1, (int64_t[]){ 7 }, TS_UINT8);
    TsTensor *bzp = ts_placeholder(A, "b_zp", 3, (int64_t[]){ 3, 1, 19 }, TS_INT8);
    check(A, ts_op_matmul_integer(A, a, b, azp, bzp), "matmul_integer", false, 3);
    TsTensor *d = ts_placeholder(A, "d", 2, (int64_t[]){ 5, 67 }, TS_UINT8);
    TsTensor *wt = ts_placeholder(A, "wt", 2, (int64_t[]){ 33, 67 }, TS_INT8);
    TsTensor *dzp = ts_placeholder(A, "d_zp", 1, (int64_t[]){ 1 }, TS_UINT8);
    TsTensor *wzp = ts_placeholder(A, "w_zp", 1, (int64_t[]){ 33 }, TS_INT8);
    check(A, ts_op_dense_integer(A, d, wt, dzp, wzp), "dense_integer", false, 4);
    ts_arena_destroy(A);
}

static void test_quantize_dequantize(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    int64_t shape[3] = { 2, 5, 37 }, C = 5;
    TsTensor *x = ts_placeholder(A, "x", 3, shape, TS_FLOAT32);
    TsTensor *scale = ts_placeholder(A, "scale", 1, &C, TS_FLOAT32);
    TsTensor *zp = ts_placeholder(A, "zp", 1, &C, TS_INT8);
    check(A, ts_op_quantize_linear(A, x, scale, zp, 1, (TsDType){ 0, 0, 0 }), "quantize", true, 5);
    TsTensor *s1 = ts_placeholder(A, "scale", 0, NULL, TS_FLOAT32);
    check(A, ts_op_quantize_linear(A, x, s1, NULL, 1, (TsDType){ 0, 0, 0 }), "quantize_u8", true,
          7);
    TsTensor *q = ts_placeholder(A, "q", 3, shape, TS_UINT8);
    TsTensor *qzp = ts_placeholder(A, "qzp", 1, &C, TS_UINT8);
    check(A, ts_op_dequantize_linear(A, q, scale, qzp, 1), "dequantize", true, 9);
    ts_arena_destroy(A);
}

static void test_requantize(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    int64_t shape[4] = { 2, 19, 3, 5 }, C = 19;
    TsTensor *acc = ts_placeholder(A, "acc", 4, shape, TS_INT32);
    TsTensor *bias = ts_placeholder(A, "bias", 1, &C, TS_INT32);
    TsTensor *scale = ts_placeholder(A, "scale", 1, &C, TS_FLOAT32);
    TsTensor *zp = ts_placeholder(A, "zp", 1, &C, TS_UINT8);
    TsRequantizeAttrs attrs = ts_requantize_attrs_default(TS_UINT8);
    attrs.relu = true;
    attrs.clip_max = 250;
    check(A, ts_op_requantize(A, acc, bias, scale, zp, &attrs), "requantize", true, 11);

    TsTensor *mult = ts_placeholder(A, "mult", 1, &C, TS_INT32);
    TsTensor *shift = ts_placeholder(A, "shift", 1, &C, TS_INT32);
    TsTensor *zp8 = ts_placeholder(A, "zp8", 0, NULL, TS_INT8);
    TsRequantizeAttrs fixed = ts_requantize_attrs_default(TS_INT8);
    check(A, ts_op_requantize_fixed(A, acc, bias, mult, shift, zp8, &fixed), "requantize_fixed",
          true, 13);
    ts_arena_destroy(A);
}

static void test_bfloat16_conv2d_and_dense(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    TsTensor *x = ts_placeholder(A, "data", 4, (int64_t[]){ 2, 17, 9, 7 }, TS_BFLOAT16);
    TsTensor *w = ts_placeholder(A, "w", 4, (int64_t[]){ 6, 17, 3, 3 }, TS_BFLOAT16);
    TsConv2dAttrs attrs = ts_conv2d_attrs_default();
    attrs.padding[0] = attrs.padding[1] = attrs.padding[2] = attrs.padding[3] = 1;
    attrs.stride[0] = attrs.stride[1] = 2;
    attrs.out_dtype = TS_FLOAT32;
    check(A, ts_op_conv2d(A, x, w, &attrs), "conv2d_bf16", false, 15);
    TsTensor *d = ts_placeholder(A, "d", 2, (int64_t[]){ 5, 67 }, TS_BFLOAT16);
    TsTensor *wt = ts_placeholder(A, "wt", 2, (int64_t[]){ 33, 67 }, TS_BFLOAT16);
    check(A, ts_op_dense(A, d, wt, NULL, TS_FLOAT32), "dense_bf16", false, 16);
    ts_arena_destroy(A);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv2d_integer),
        cmocka_unit_test(test_matmul_and_dense_integer),
        cmocka_unit_test(test_quantize_dequantize),
        cmocka_unit_test(test_requantize),
        cmocka_unit_test(test_bfloat16_conv2d_and_dense),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
