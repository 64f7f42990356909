/* Tests of the dot-product layouts (te/ops/dot_pack.c) against naive C index arithmetic,
 * bit for bit: uint8 data NCHW -> NCHW[cb]c with the channels past C set to the zero
 * point; int8 conv2d weights OIHW -> [O/oc_bn, I/ic_bn, KH, KW, ic_bn/4, oc_bn, 4] (VNNI,
 * AMX, sdot) on channel counts no block divides; dense weights [N, K] -> AMX B-tile
 * groups [N/16, K/4, 16, 4] and bf16 pairs [.., 2]; and the errors (a group that does not
 * divide ic_bn, a fill the dtype cannot hold, a block of 0, wrong ranks). */
#include "ops_testing.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int64_t ceil_div(int64_t a, int64_t b)
{
    return (a + b - 1) / b;
}

static void test_pack_data_fill(void **state)
{
    (void)state;
    enum { N = 2, C = 7, H = 3, W = 4 };
    static const int64_t blocks[] = { 4, 7, 16 };
    OpsRng rng;
    ops_rng_seed(&rng, 21);
    uint8_t dx[N * C * H * W];
    for (size_t i = 0; i < sizeof dx; i++)
        dx[i] = (uint8_t)ops_rand_int(&rng, 0, 255);
    for (size_t k = 0; k < sizeof blocks / sizeof blocks[0]; k++) {
        int64_t cb = blocks[k], cc = ceil_div(C, cb);
        TsArena *arena = ts_arena_create();
        TsTensor *x = ops_placeholder(arena, "x", TS_UINT8, 4, (int64_t[]){ N, C, H, W });
        TsTensor *packed = ts_op_nchwc_pack_fill(arena, x, cb, 131);
        ops_expect_built(arena, packed);
        ops_expect_tag(packed, "data_nchwc", "layout_transform");
        ops_expect_shape(packed, 5, (int64_t[]){ N, cc, H, W, cb });
        size_t count = (size_t)(N * cc * H * W * cb);
        uint8_t *got = ops_buffer(packed), *want = malloc(count);
        for (int64_t n = 0; n < N; n++)
            for (int64_t c = 0; c < cc * cb; c++)
                for (int64_t y = 0; y < H; y++)
                    for (int64_t i = 0; i < W; i++)
                        want[(((n * cc + c / cb) * H + y) * W + i) * cb + c % cb] =
                            c < C ? dx[((n * C + c) * H + y) * W + i] : 131;
        ops_evaluate(packed, got, 1, (TsBinding[]){ { x, dx } });
        char what[64];
        snprintf(what, sizeof what, "nchwc_pack_fill cb=%lld", (long long)cb);
        ops_expect_bytes_equal(got, want, count, what);
        free(got), free(want);
        ts_arena_destroy(arena);
    }
}

/* O = 10 and I = 6 over oc_bn 16 / ic_bn 8 (both padded), and 4 / 4 (I padded). */
static void test_pack_conv_weight(void **state)
{
    (void)state;
    enum { O = 10, I = 6, KH = 3, KW = 2, G = 4 };
    static const int64_t blocks[][2] = { { 8, 16 }, { 4, 4 }, { 4, 2 } }; /* ic_bn, oc_bn */
    OpsRng rng;
    ops_rng_seed(&rng, 22);
    int8_t dw[O * I * KH * KW];
    ops_fill_i8(&rng, dw, sizeof dw);
    for (size_t k = 0; k < sizeof blocks / sizeof blocks[0]; k++) {
        int64_t ic_bn = blocks[k][0], oc_bn = blocks[k][1];
        int64_t ob = ceil_div(O, oc_bn), ib = ceil_div(I, ic_bn);
        TsArena *arena = ts_arena_create();
        TsTensor *w = ops_placeholder(arena, "w", TS_INT8, 4, (int64_t[]){ O, I, KH, KW });
        TsTensor *packed = ts_op_conv2d_pack_weight_dot(arena, w, ic_bn, oc_bn, G);
        ops_expect_built(arena, packed);
        ops_expect_tag(packed, "weight_packed", "layout_transform");
        ops_expect_shape(packed, 7, (int64_t[]){ ob, ib, KH, KW, ic_bn / G, oc_bn, G });
        size_t count = (size_t)(ob * oc_bn * ib * ic_bn * KH * KW);
        int8_t *got = ops_buffer(packed), *want = malloc(count);
        for (int64_t o = 0; o < ob * oc_bn; o++)
            for (int64_t i = 0; i < ib * ic_bn; i++)
                for (int64_t r = 0; r < KH; r++)
                    for (int64_t s = 0; s < KW; s++) {
                        int64_t at =
                            (((((o / oc_bn * ib + i / ic_bn) * KH + r) * KW + s) * (ic_bn / G) +
                              i % ic_bn / G) *
                                 oc_bn +
                             o % oc_bn) *
                                G +
                            i % G;
                        want[at] = o < O && i < I ? dw[((o * I + i) * KH + r) * KW + s] : 0;
                    }
        ops_evaluate(packed, got, 1, (TsBinding[]){ { w, dw } });
        char what[64];
        snprintf(what, sizeof what, "conv2d_pack_weight_dot ic_bn=%lld oc_bn=%lld",
                 (long long)ic_bn, (long long)oc_bn);
        ops_expect_bytes_equal(got, want, count, what);
        free(got), free(want);
        ts_arena_destroy(arena);
    }
}

/* int8 [N=20, K=37] in AMX B-tile groups (16 x 4), and bf16 bit patterns (uint16) in
 * pairs (16 x 2): a layout op moves elements of any dtype. */
static void test_pack_dense_weight(void **state)
{
    (void)state;
    enum { NR = 20, K = 37, NBN = 16 };
    OpsRng rng;
    ops_rng_seed(&rng, 23);
    static const int64_t groups[] = { 4, 2 };
    for (size_t k = 0; k < 2; k++) {
        int64_t g = groups[k], nb = ceil_div(NR, NBN), kg = ceil_div(K, g);
        TsDType dtype = g == 4 ? TS_INT8 : TS_UINT16;
        size_t elem = g == 4 ? 1 : 2;
        unsigned char dw[NR * K * 2];
        for (size_t i = 0; i < sizeof dw; i++)
            dw[i] = (unsigned char)ops_rand_int(&rng, 1, 255); /* no zeros: padding shows */
        TsArena *arena = ts_arena_create();
        TsTensor *w = ops_placeholder(arena, "w", dtype, 2, (int64_t[]){ NR, K });
        TsTensor *packed = ts_op_dense_pack_weight_dot(arena, w, NBN, g);
        ops_expect_built(arena, packed);
        ops_expect_shape(packed, 4, (int64_t[]){ nb, kg, NBN, g });
        size_t count = (size_t)(nb * kg * NBN * g);
        unsigned char *got = ops_buffer(packed), *want = calloc(count, elem);
        for (int64_t n = 0; n < NR; n++)
            for (int64_t c = 0; c < K; c++) {
                int64_t at = ((n / NBN * kg + c / g) * NBN + n % NBN) * g + c % g;
                memcpy(want + (size_t)at * elem, dw + (size_t)(n * K + c) * elem, elem);
            }
        ops_evaluate(packed, got, 1, (TsBinding[]){ { w, dw } });
        ops_expect_bytes_equal(got, want, count * elem,
                               g == 4 ? "dense_pack_weight_dot int8"
                                      : "dense_pack_weight_dot bf16");
        free(got), free(want);
        ts_arena_destroy(arena);
    }
}

static void test_errors(void **state)
{
    (void)state;
    TsArena *arena = ts_arena_create();
    TsTensor *x = ops_placeholder(arena, "x", TS_UINT8, 4, (int64_t[]){ 1, 5, 3, 3 });
    TsTensor *w = ops_placeholder(arena, "w", TS_INT8, 4, (int64_t[]){ 8, 5, 3, 3 });
    TsTensor *d = ops_placeholder(arena, "d", TS_INT8, 2, (int64_t[]){ 8, 5 });
    ops_expect_error(arena, ts_op_nchwc_pack_fill(arena, x, 4, 300), "fill");
    ops_expect_error(arena, ts_op_nchwc_pack_fill(arena, x, 0, 0), "channel block 0");
    ops_expect_error(arena, ts_op_nchwc_pack_fill(arena, d, 4, 0), "data");
    ops_expect_error(arena, ts_op_conv2d_pack_weight_dot(arena, w, 6, 16, 4),
                     "group 4 must be >= 1 and divide ic_bn 6");
    ops_expect_error(arena, ts_op_conv2d_pack_weight_dot(arena, w, 4, 0, 4), "oc_bn 0");
    ops_expect_error(arena, ts_op_conv2d_pack_weight_dot(arena, d, 4, 16, 4), "weight");
    ops_expect_error(arena, ts_op_dense_pack_weight_dot(arena, w, 16, 4), "weight");
    ops_expect_error(arena, ts_op_dense_pack_weight_dot(arena, d, 16, 0), "group 0");
    ts_arena_destroy(arena);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pack_data_fill),
        cmocka_unit_test(test_pack_conv_weight),
        cmocka_unit_test(test_pack_dense_weight),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
