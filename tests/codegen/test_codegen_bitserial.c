/* The low-bit operators (te/ops/bitserial.c) through codegen: bitpack, bitserial conv2d
 * and dense in every encoding, on odd shapes, with their output stages, each built with
 * the default schedule (and a few with compute_at, parallel and vectorized output
 * stages), JIT-compiled for the host and compared bit for bit with the reference
 * interpreter. The inputs are uint8 codes of any value (bitpack keeps the low bits), or
 * all ones for the widest values at the longest reductions. TVM's failures are here as
 * regression cases: a bitserial conv fused with ReLU, a bitserial dense with N >= 768,
 * and A2W2 and A8W8 at 512 channels x 3x3, where an int16 accumulator would overflow. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cg_testing.h"

/* Codes all ones ("max" in a name), the largest value of every width and encoding, or
 * all zeros ("min"), the most negative +-1 value;
 * positive floats for scales; the rest the default (uint8 codes over the whole range). */
static void fill_codes(CgtRng *rng, const TsTensor *t, void *data)
{
    const char *name = ts_tensor_name(t);
    int64_t n = ts_tensor_num_elements(t);
    if (strstr(name, "max") != NULL || strstr(name, "min") != NULL) {
        memset(data, strstr(name, "max") ? 0xFF : 0x00, (size_t)n);
        return;
    }
    if (strcmp(name, "scale") == 0) {
        for (int64_t i = 0; i < n; i++)
            ((float *)data)[i] = (float)cgt_rng_int(rng, 1, 64) / 16.0f;
        return;
    }
    if (strcmp(name, "thresholds") == 0) {
        /* ascending per channel, around the accumulator's small values */
        int64_t levels = ts_tensor_dim(t, 1);
        for (int64_t i = 0; i < n; i++)
            ((int16_t *)data)[i] = (int16_t)(cgt_rng_int(rng, -4, 4) + 6 * (i % levels) - 6);
        return;
    }
    cgt_fill_default(rng, t, data);
}

static void check(TsTensor *out, const char *name, uint64_t seed)
{
    assert_non_null(out);
    TsArena *A = ts_arena_create();
    TsSchedule *sch = ts_schedule_create(A, 1, &out);
    cgt_check_schedule(sch, name, 1, &out, seed, fill_codes);
    ts_arena_destroy(A);
}

typedef struct Conv {
    int64_t n, c, h, w, o, kh, kw, stride, pad, dilation, groups;
    TsLayout layout;
    TsBitserialEncoding encoding;
    int abits, wbits;
    TsDType word;
    const char *data_name, *weight_name;
} Conv;

static TsTensor *conv(TsArena *A, const Conv *cv)
{
    bool nchw = cv->layout == TS_LAYOUT_NCHW;
    int64_t cg = cv->c / cv->groups;
    int64_t ds[4] = { cv->n, cv->c, cv->h, cv->w }, ws[4] = { cv->o, cg, cv->kh, cv->kw };
    if (!nchw) {
        memcpy(ds, (int64_t[]){ cv->n, cv->h, cv->w, cv->c }, sizeof ds);
        memcpy(ws, (int64_t[]){ cv->kh, cv->kw, cg, cv->o }, sizeof ws);
    }
    TsTensor *data = ts_placeholder(A, cv->data_name ? cv->data_name : "data", 4, ds, TS_UINT8);
    TsTensor *weight =
        ts_placeholder(A, cv->weight_name ? cv->weight_name : "weight", 4, ws, TS_UINT8);
    TsBitserialConv2dAttrs attrs = ts_bitserial_conv2d_attrs_default(cv->c);
    attrs.stride[0] = attrs.stride[1] = cv->stride;
    attrs.dilation[0] = attrs.dilation[1] = cv->dilation;
    for (int i = 0; i < 4; i++)
        attrs.padding[i] = cv->pad;
    attrs.groups = cv->groups;
    attrs.layout = cv->layout;
    attrs.encoding = cv->encoding;
    TsTensor *out = ts_op_bitserial_conv2d(
        A, ts_op_bitpack(A, data, nchw ? 1 : 3, cv->abits, cv->groups, cv->word),
        ts_op_bitpack(A, weight, nchw ? 1 : 2, cv->wbits, 1, cv->word), &attrs);
    if (out == NULL)
        fail_msg("bitserial_conv2d: %s", ts_arena_error(A)->message);
    return out;
}

/* Every encoding and layout on odd shapes: channels off the word, stride 2, padding,
 * dilation, groups, batch 2. */
static void test_conv_odd_shapes(void **state)
{
    (void)state;
    static const Conv cases[] = {
        { 2,
          11,
          7,
          6,
          5,
          3,
          3,
          2,
          1,
          1,
          1,
          TS_LAYOUT_NCHW,
          TS_BITSERIAL_01_01,
          2,
          1,
          { TS_TYPE_UINT, 8, 1 },
          NULL,
          NULL },
        { 1,
          37,
          6,
          7,
          4,
          3,
          3,
          1,
          1,
          1,
          1,
          TS_LAYOUT_NHWC,
          TS_BITSERIAL_01_PM1,
          3,
          2,
          { TS_TYPE_UINT, 32, 1 },
          NULL,
          NULL },
        { 2,
          21,
          8,
          8,
          6,
          3,
          3,
          1,
          2,
          2,
          3,
          TS_LAYOUT_NCHW,
          TS_BITSERIAL_PM1_PM1,
          2,
          2,
          { TS_TYPE_UINT, 8, 1 },
          NULL,
          NULL },
        { 1,
          70,
          5,
          5,
          3,
          1,
          1,
          2,
          0,
          1,
          1,
          TS_LAYOUT_NHWC,
          TS_BITSERIAL_PM1_PM1,
          1,
          1,
          { TS_TYPE_UINT, 64, 1 },
          NULL,
          NULL },
        { 2,
          12,
          5,
          6,
          12,
          3,
          3,
          2,
          1,
          1,
          12,
          TS_LAYOUT_NHWC,
          TS_BITSERIAL_01_01,
          4,
          4,
          { TS_TYPE_UINT, 16, 1 },
          NULL,
          NULL },
        { 1,
          19,
          6,
          6,
          4,
          3,
          3,
          1,
          1,
          1,
          1,
          TS_LAYOUT_NCHW,
          TS_BITSERIAL_PM1_PM1,
          8,
          8,
          { TS_TYPE_UINT, 16, 1 },
          NULL,
          NULL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        TsArena *A = ts_arena_create();
        char name[64];
        snprintf(name, sizeof name, "bitserial_conv_%zu", i);
        check(conv(A, &cases[i]), name, 10 + i);
        ts_arena_destroy(A);
    }
}

/* TVM #7909: the conv fused with ReLU. The output stage (scale, bias, ReLU) with the
 * convolution computed at its rows, and the same into int8 with a clip, parallel. */
static void test_conv_fused_relu(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    Conv cv = { 1, 13, 6,         6,    8,   3, 3, 1, 1, 1, 1, TS_LAYOUT_NCHW, TS_BITSERIAL_01_PM1,
                2, 1,  TS_UINT32, NULL, NULL };
    TsTensor *acc = conv(A, &cv);
    TsTensor *scale = ts_placeholder(A, "scale", 1, (int64_t[]){ 8 }, TS_FLOAT32);
    TsTensor *bias = ts_placeholder(A, "bias", 1, (int64_t[]){ 8 }, TS_FLOAT32);
    TsBitserialOutputAttrs attrs = ts_bitserial_output_attrs_default(1);
    attrs.relu = true;
    TsTensor *out = ts_op_bitserial_output(A, acc, scale, bias, &attrs);
    assert_non_null(out);
    check(out, "bitserial_relu", 30);

    TsSchedule *sch = ts_schedule_create(A, 1, &out);
    TsError err;
    TsStage *s = ts_stage(sch, out);
    cgt_ok(ts_compute_at(ts_stage(sch, acc), s, ts_stage_root_axis(s, 2), &err), &err);
    cgt_ok(ts_parallel(s, ts_stage_root_axis(s, 1), &err), &err);
    cgt_check_schedule(sch, "bitserial_relu_fused", 1, &out, 31, fill_codes);

    attrs.out_dtype = TS_INT8;
    attrs.clip = true;
    attrs.clip_min = -20.0;
    attrs.clip_max = 90.5;
    TsTensor *q = ts_op_bitserial_output(A, acc, scale, bias, &attrs);
    assert_non_null(q);
    TsSchedule *qs = ts_schedule_create(A, 1, &q);
    TsStage *st = ts_stage(qs, q);
    TsAxis *o, *v;
    cgt_ok(ts_compute_at(ts_stage(qs, acc), st, ts_stage_root_axis(st, 2), &err), &err);
    cgt_ok(ts_split(st, ts_stage_root_axis(st, 3), 4, &o, &v, &err), &err);
    cgt_ok(ts_vectorize(st, v, &err), &err);
    cgt_check_schedule(qs, "bitserial_int8", 1, &q, 32, fill_codes);
    ts_arena_destroy(A);
}

/* TVM #6894: bitserial dense at N >= 768 (here 1024), every encoding; the batch axis
 * parallel. */
static void test_dense_wide(void **state)
{
    (void)state;
    for (int e = 0; e < 3; e++) {
        TsArena *A = ts_arena_create();
        TsTensor *x = ts_placeholder(A, "data", 2, (int64_t[]){ 3, 200 }, TS_UINT8);
        TsTensor *w = ts_placeholder(A, "weight", 2, (int64_t[]){ 1024, 200 }, TS_UINT8);
        TsBitserialDenseAttrs attrs = ts_bitserial_dense_attrs_default(200);
        attrs.encoding = (TsBitserialEncoding)e;
        TsTensor *out = ts_op_bitserial_dense(A, ts_op_bitpack(A, x, 1, 2, 1, TS_UINT64),
                                              ts_op_bitpack(A, w, 1, 1 + e, 1, TS_UINT64), &attrs);
        assert_non_null(out);
        char name[64];
        snprintf(name, sizeof name, "bitserial_dense_%d", e);
        TsSchedule *sch = ts_schedule_create(A, 1, &out);
        TsError err;
        cgt_ok(ts_parallel(ts_stage(sch, out), ts_stage_root_axis(ts_stage(sch, out), 1), &err),
               &err);
        cgt_check_schedule(sch, name, 1, &out, 40 + (uint64_t)e, fill_codes);
        ts_arena_destroy(A);
    }
}

/* A2W2 and A8W8 at 512 channels x 3x3 with the largest sums (int16 would overflow: 4608
 * x 3 x 3 and 4608 x 255 x 255): the largest codes in 0/1 x 0/1, the largest activations
 * times the most negative weights in the +-1 encodings. */
static void test_widest_values(void **state)
{
    (void)state;
    static const int widths[2] = { 2, 8 };
    for (int wi = 0; wi < 2; wi++)
        for (int e = 0; e < 3; e++) {
            TsArena *A = ts_arena_create();
            Conv cv = { 1,
                        512,
                        3,
                        3,
                        2,
                        3,
                        3,
                        1,
                        1,
                        1,
                        1,
                        TS_LAYOUT_NHWC,
                        (TsBitserialEncoding)e,
                        widths[wi],
                        widths[wi],
                        TS_UINT64,
                        "data_max",
                        e == 0 ? "weight_max" : "weight_min" };
            TsTensor *out = conv(A, &cv);
            assert_true(ts_dtype_eq(ts_tensor_dtype(out), TS_INT32));
            char name[64];
            snprintf(name, sizeof name, "bitserial_a%dw%d_%d", widths[wi], widths[wi], e);
            check(out, name, 50 + (uint64_t)(wi * 3 + e));
            ts_arena_destroy(A);
        }
}

/* Thresholds straight into the packed input of a second bitserial conv: activations stay
 * packed between the layers. */
static void test_threshold_chain(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    Conv cv = { 2, 9, 5,        5,    10,  3, 3, 1, 1, 1, 1, TS_LAYOUT_NCHW, TS_BITSERIAL_PM1_PM1,
                1, 1, TS_UINT8, NULL, NULL };
    TsTensor *acc = conv(A, &cv);
    assert_true(ts_dtype_eq(ts_tensor_dtype(acc), TS_INT16));
    TsTensor *thr = ts_placeholder(A, "thresholds", 2, (int64_t[]){ 10, 3 }, TS_INT16);
    TsTensor *packed = ts_op_bitserial_threshold_pack(A, acc, thr, 1, 2, 1, TS_UINT8);
    assert_non_null(packed);
    check(packed, "bitserial_threshold", 60);
    TsTensor *w2 = ts_placeholder(A, "weight2", 4, (int64_t[]){ 3, 10, 3, 3 }, TS_UINT8);
    TsBitserialConv2dAttrs attrs = ts_bitserial_conv2d_attrs_default(10);
    attrs.encoding = TS_BITSERIAL_01_PM1;
    TsTensor *out =
        ts_op_bitserial_conv2d(A, packed, ts_op_bitpack(A, w2, 1, 1, 1, TS_UINT8), &attrs);
    assert_non_null(out);
    check(out, "bitserial_chain", 61);
    ts_arena_destroy(A);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_odd_shapes), cmocka_unit_test(test_conv_fused_relu),
        cmocka_unit_test(test_dense_wide),      cmocka_unit_test(test_widest_values),
        cmocka_unit_test(test_threshold_chain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
