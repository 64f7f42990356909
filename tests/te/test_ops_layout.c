/* Tests of the blocked-channel layout operators (te/ops/layout.c): NCHW -> NCHW[x]c and
 * back, conv2d weights OIHW -> OIHW[i]i[o]o and depthwise weights [C, 1, KH, KW] ->
 * [C / cb, KH, KW, cb], against naive C index arithmetic, bit for bit (they only move
 * elements), in float32 and int8; and the errors for blocks that do not divide, wrong
 * ranks and a depthwise weight with more than one input channel. */
#include "ops_testing.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { N = 2, C = 12, H = 3, W = 5, O = 8, KH = 3, KW = 2 };

static void test_pack_unpack_data(void **state)
{
    (void)state;
    OpsRng rng;
    ops_rng_seed(&rng, 11);
    static const int64_t blocks[] = { 1, 4, 12 };
    for (size_t k = 0; k < sizeof blocks / sizeof blocks[0]; k++) {
        int64_t cb = blocks[k];
        TsArena *arena = ts_arena_create();
        TsTensor *x = ops_placeholder(arena, "x", TS_FLOAT32, 4, (int64_t[]){ N, C, H, W });
        TsTensor *packed = ts_op_nchwc_pack(arena, x, cb);
        ops_expect_built(arena, packed);
        ops_expect_tag(packed, "data_nchwc", "layout_transform");
        ops_expect_shape(packed, 5, (int64_t[]){ N, C / cb, H, W, cb });
        float *dx = ops_random_buffer(&rng, x), *got = ops_buffer(packed);
        float *want = malloc(sizeof(float) * N * C * H * W);
        for (int n = 0; n < N; n++)
            for (int c = 0; c < C; c++)
                for (int y = 0; y < H; y++)
                    for (int i = 0; i < W; i++)
                        want[(((n * (C / cb) + c / cb) * H + y) * W + i) * cb + c % cb] =
                            dx[((n * C + c) * H + y) * W + i];
        ops_evaluate(packed, got, 1, (TsBinding[]){ { x, dx } });
        ops_expect_f32_equal(got, want, (size_t)N * C * H * W, "nchwc_pack");

        /* unpack(pack(x)) == x, through a placeholder of the packed shape. */
        TsTensor *p =
            ops_placeholder(arena, "p", TS_FLOAT32, 5, (int64_t[]){ N, C / cb, H, W, cb });
        TsTensor *unpacked = ts_op_nchwc_unpack(arena, p);
        ops_expect_built(arena, unpacked);
        ops_expect_shape(unpacked, 4, (int64_t[]){ N, C, H, W });
        float *back = ops_buffer(unpacked);
        ops_evaluate(unpacked, back, 1, (TsBinding[]){ { p, want } });
        ops_expect_f32_equal(back, dx, (size_t)N * C * H * W, "nchwc_unpack");
        free(dx), free(got), free(want), free(back);
        ts_arena_destroy(arena);
    }
}

static void test_pack_weight(void **state)
{
    (void)state;
    OpsRng rng;
    ops_rng_seed(&rng, 12);
    int64_t ic_bn = 4, oc_bn = 2;
    TsArena *arena = ts_arena_create();
    TsTensor *w = ops_placeholder(arena, "w", TS_INT8, 4, (int64_t[]){ O, C, KH, KW });
    TsTensor *packed = ts_op_nchwc_pack_weight(arena, w, ic_bn, oc_bn);
    ops_expect_built(arena, packed);
    ops_expect_shape(packed, 6, (int64_t[]){ O / oc_bn, C / ic_bn, KH, KW, ic_bn, oc_bn });
    int8_t *dw = ops_random_buffer(&rng, w), *got = ops_buffer(packed);
    int8_t want[O * C * KH * KW];
    for (int o = 0; o < O; o++)
        for (int i = 0; i < C; i++)
            for (int r = 0; r < KH; r++)
                for (int s = 0; s < KW; s++) {
                    size_t at = (((((size_t)(o / oc_bn) * (C / ic_bn) + (size_t)(i / ic_bn)) * KH +
                                   (size_t)r) *
                                      KW +
                                  (size_t)s) *
                                     ic_bn +
                                 (size_t)(i % ic_bn)) *
                                    oc_bn +
                                (size_t)(o % oc_bn);
                    want[at] = dw[((o * C + i) * KH + r) * KW + s];
                }
    ops_evaluate(packed, got, 1, (TsBinding[]){ { w, dw } });
    ops_expect_bytes_equal(got, want, sizeof want, "nchwc_pack_weight");
    free(dw), free(got);
    ts_arena_destroy(arena);
}

static void test_pack_depthwise_weight(void **state)
{
    (void)state;
    OpsRng rng;
    ops_rng_seed(&rng, 13);
    int64_t cb = 4;
    TsArena *arena = ts_arena_create();
    TsTensor *w = ops_placeholder(arena, "w", TS_FLOAT32, 4, (int64_t[]){ C, 1, KH, KW });
    TsTensor *packed = ts_op_nchwc_pack_depthwise_weight(arena, w, cb);
    ops_expect_built(arena, packed);
    ops_expect_shape(packed, 4, (int64_t[]){ C / cb, KH, KW, cb });
    float *dw = ops_random_buffer(&rng, w), *got = ops_buffer(packed);
    float want[C * KH * KW];
    for (int c = 0; c < C; c++)
        for (int r = 0; r < KH; r++)
            for (int s = 0; s < KW; s++)
                want[(((c / cb) * KH + r) * KW + s) * cb + c % cb] = dw[(c * KH + r) * KW + s];
    ops_evaluate(packed, got, 1, (TsBinding[]){ { w, dw } });
    ops_expect_f32_equal(got, want, C * KH * KW, "nchwc_pack_depthwise_weight");
    free(dw), free(got);
    ts_arena_destroy(arena);
}

static void expect_refused(TsArena *arena, const TsTensor *t, const char *needle)
{
    assert_null(t);
    TsError err;
    assert_int_equal(ts_arena_check(arena, &err), TS_EINVAL);
    if (!strstr(err.message, needle))
        fprintf(stderr, "got \"%s\", wanted \"%s\"\n", err.message, needle);
    assert_non_null(strstr(err.message, needle));
}

static void test_layout_errors(void **state)
{
    (void)state;
    struct {
        const char *needle;
        int which;
    } cases[] = {
        { "nchwc_pack: channel block 5 does not divide data's dimension 1 (12)", 0 },
        { "nchwc_pack: channel block 0 does not divide", 1 },
        { "nchwc_unpack: data 'x' has rank 4, expected 5", 2 },
        { "nchwc_pack_weight: ic_bn 5 does not divide weight's dimension 1 (12)", 3 },
        { "nchwc_pack_weight: oc_bn 3 does not divide weight's dimension 0 (8)", 4 },
        { "nchwc_pack_depthwise_weight: weight must be [C, 1, KH, KW], has 12 input", 5 },
        { "nchwc_pack: data 'data_nchwc' has rank 5, expected 4", 6 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        TsArena *arena = ts_arena_create();
        TsTensor *x = ops_placeholder(arena, "x", TS_FLOAT32, 4, (int64_t[]){ N, C, H, W });
        TsTensor *w = ops_placeholder(arena, "w", TS_FLOAT32, 4, (int64_t[]){ O, C, KH, KW });
        TsTensor *t = NULL;
        switch (cases[i].which) {
        case 0: t = ts_op_nchwc_pack(arena, x, 5); break;
        case 1: t = ts_op_nchwc_pack(arena, x, 0); break;
        case 2: t = ts_op_nchwc_unpack(arena, x); break;
        case 3: t = ts_op_nchwc_pack_weight(arena, w, 5, 2); break;
        case 4: t = ts_op_nchwc_pack_weight(arena, w, 4, 3); break;
        case 5: t = ts_op_nchwc_pack_depthwise_weight(arena, w, 4); break;
        case 6: t = ts_op_nchwc_pack(arena, ts_op_nchwc_pack(arena, x, 4), 4); break;
        }
        expect_refused(arena, t, cases[i].needle);
        ts_arena_destroy(arena);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pack_unpack_data),
        cmocka_unit_test(test_pack_weight),
        cmocka_unit_test(test_pack_depthwise_weight),
        cmocka_unit_test(test_layout_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
