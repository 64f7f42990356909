/* Tests of ts_op_pool2d and ts_op_global_avg_pool2d: the reference interpreter's result
 * against brute-force C pooling in NCHW and NHWC, with stride larger than the kernel,
 * asymmetric padding, dilation 2, ceil_mode on and off (including a case where ceil
 * mode drops the window that would start in the padding), count_include_pad on and
 * off, integer max pooling (padding never wins, even against the most negative
 * values), the stage structure and tags, and the errors for bad attributes.
 *
 * The expected output extents are written out per case (worked by hand from the
 * PyTorch/ONNX formula) rather than recomputed with the builder's formula.
 *
 * Float tolerance: max pooling is exact. Average pooling sums at most KH * KW float32
 * values, then divides: |got - want| <= (KH * KW + 2) * 2^-23 * sum |x| / count.
 */
#include "ops_testing.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct PoolCase {
    TsLayout layout;
    int64_t n, c, h, w;
    int64_t kernel[2], stride[2], dil[2], pad[4];
    bool ceil_mode;
    int64_t out_h, out_w; /* expected */
} PoolCase;

/* clang-format off */
static const PoolCase pool_cases[] = {
    /* layout         n  c   h   w  kernel    stride    dil       pad (t,l,b,r)  ceil  oh ow */
    { TS_LAYOUT_NCHW, 1, 2,  6,  6, { 2, 2 }, { 2, 2 }, { 1, 1 }, { 0, 0, 0, 0 }, false, 3, 3 },
    { TS_LAYOUT_NCHW, 2, 3,  7,  7, { 3, 3 }, { 2, 2 }, { 1, 1 }, { 1, 1, 1, 1 }, false, 4, 4 },
    { TS_LAYOUT_NCHW, 1, 2,  5,  5, { 2, 2 }, { 2, 2 }, { 1, 1 }, { 0, 0, 0, 0 }, true,  3, 3 },
    { TS_LAYOUT_NCHW, 1, 2,  5,  5, { 2, 2 }, { 2, 2 }, { 1, 1 }, { 0, 0, 0, 0 }, false, 2, 2 },
    /* ceil mode would add a window starting in the bottom/right padding: dropped */
    { TS_LAYOUT_NCHW, 1, 1,  5,  5, { 2, 2 }, { 2, 2 }, { 1, 1 }, { 1, 1, 1, 1 }, true,  3, 3 },
    { TS_LAYOUT_NCHW, 1, 2, 11, 13, { 3, 2 }, { 4, 5 }, { 1, 1 }, { 0, 1, 2, 0 }, true,  3, 3 },
    { TS_LAYOUT_NCHW, 1, 2,  6,  6, { 3, 3 }, { 2, 2 }, { 1, 1 }, { 1, 1, 1, 1 }, true,  4, 4 },
    /* stride > kernel; in ceil mode the last window runs past the padded input */
    { TS_LAYOUT_NCHW, 1, 2, 12, 15, { 3, 2 }, { 4, 5 }, { 1, 1 }, { 1, 1, 0, 0 }, false, 3, 3 },
    { TS_LAYOUT_NCHW, 1, 2, 12, 15, { 3, 2 }, { 4, 5 }, { 1, 1 }, { 1, 1, 0, 0 }, true,  4, 4 },
    { TS_LAYOUT_NCHW, 1, 2,  9,  8, { 3, 3 }, { 1, 2 }, { 2, 2 }, { 2, 1, 2, 3 }, false, 9, 4 },
    { TS_LAYOUT_NCHW, 1, 2,  9,  8, { 3, 2 }, { 2, 3 }, { 2, 2 }, { 1, 0, 2, 1 }, true,  5, 3 },
    { TS_LAYOUT_NCHW, 1, 1,  1,  1, { 1, 1 }, { 1, 1 }, { 1, 1 }, { 0, 0, 0, 0 }, false, 1, 1 },
    { TS_LAYOUT_NHWC, 2, 3,  7,  7, { 3, 3 }, { 2, 2 }, { 1, 1 }, { 1, 1, 1, 1 }, false, 4, 4 },
    { TS_LAYOUT_NHWC, 1, 2, 12, 15, { 3, 2 }, { 4, 5 }, { 1, 1 }, { 1, 1, 0, 0 }, true,  4, 4 },
    { TS_LAYOUT_NHWC, 1, 3,  9,  8, { 3, 2 }, { 2, 3 }, { 2, 2 }, { 1, 0, 2, 1 }, true,  5, 3 },
};
/* clang-format on */

#define NUM_CASES (sizeof pool_cases / sizeof pool_cases[0])

static bool nchw(const PoolCase *c)
{
    return c->layout == TS_LAYOUT_NCHW;
}

static size_t at(const PoolCase *c, int64_t h, int64_t w, int64_t n, int64_t ch, int64_t y,
                 int64_t x)
{
    return (size_t)(nchw(c) ? ((n * c->c + ch) * h + y) * w + x
                            : ((n * h + y) * w + x) * c->c + ch);
}

/* One output point of the brute-force reference: the max, the sum and |sum| of the
 * input elements in the window, and the two divisors. */
typedef struct Window {
    double max, sum, abs_sum;
    int64_t count_real, count_padded;
} Window;

static Window window_at(const PoolCase *c, const float *data, int64_t n, int64_t ch, int64_t oy,
                        int64_t ox)
{
    Window win = { -INFINITY, 0.0, 0.0, 0, 0 };
    int64_t rows_padded = 0, cols_padded = 0;
    for (int64_t ky = 0; ky < c->kernel[0]; ky++) {
        int64_t y = oy * c->stride[0] - c->pad[0] + ky * c->dil[0];
        rows_padded += y >= -c->pad[0] && y < c->h + c->pad[2];
    }
    for (int64_t kx = 0; kx < c->kernel[1]; kx++) {
        int64_t x = ox * c->stride[1] - c->pad[1] + kx * c->dil[1];
        cols_padded += x >= -c->pad[1] && x < c->w + c->pad[3];
    }
    win.count_padded = rows_padded * cols_padded;
    for (int64_t ky = 0; ky < c->kernel[0]; ky++) {
        for (int64_t kx = 0; kx < c->kernel[1]; kx++) {
            int64_t y = oy * c->stride[0] - c->pad[0] + ky * c->dil[0];
            int64_t x = ox * c->stride[1] - c->pad[1] + kx * c->dil[1];
            if (y < 0 || y >= c->h || x < 0 || x >= c->w)
                continue;
            double v = data[at(c, c->h, c->w, n, ch, y, x)];
            win.max = v > win.max ? v : win.max;
            win.sum += v;
            win.abs_sum += fabs(v);
            win.count_real++;
        }
    }
    return win;
}

static TsPool2dAttrs case_attrs(const PoolCase *c, TsPoolKind kind, bool include_pad)
{
    TsPool2dAttrs attrs = ts_pool2d_attrs_default(kind, c->kernel[0], c->kernel[1]);
    memcpy(attrs.stride, c->stride, sizeof attrs.stride);
    memcpy(attrs.dilation, c->dil, sizeof attrs.dilation);
    memcpy(attrs.padding, c->pad, sizeof attrs.padding);
    attrs.ceil_mode = c->ceil_mode;
    attrs.count_include_pad = include_pad;
    attrs.layout = c->layout;
    return attrs;
}

static TsTensor *case_data(TsArena *arena, const PoolCase *c, TsDType dtype)
{
    int64_t s_nchw[4] = { c->n, c->c, c->h, c->w }, s_nhwc[4] = { c->n, c->h, c->w, c->c };
    return ops_placeholder(arena, "data", dtype, 4, nchw(c) ? s_nchw : s_nhwc);
}

static void expect_out_shape(const PoolCase *c, const TsTensor *out)
{
    int64_t s_nchw[4] = { c->n, c->c, c->out_h, c->out_w };
    int64_t s_nhwc[4] = { c->n, c->out_h, c->out_w, c->c };
    ops_expect_shape(out, 4, nchw(c) ? s_nchw : s_nhwc);
}

/* Evaluates one float pooling and compares with the brute-force windows. */
static void check_pool_f32(const PoolCase *c, TsPoolKind kind, bool include_pad, OpsRng *rng)
{
    TsArena *arena = ts_arena_create();
    TsTensor *data = case_data(arena, c, TS_FLOAT32);
    TsPool2dAttrs attrs = case_attrs(c, kind, include_pad);
    TsTensor *out = ts_op_pool2d(arena, data, &attrs);
    ops_expect_built(arena, out);
    expect_out_shape(c, out);
    if (kind == TS_POOL_MAX) {
        ops_expect_tag(out, "max_pool2d", "pool_max");
    } else {
        ops_expect_tag(out, "avg_pool2d", "pool_avg");
        ops_expect_tag(ts_tensor_input(out, 0), "avg_pool2d_sum", "pool_sum");
    }

    size_t n_out = (size_t)ts_tensor_num_elements(out);
    float *dd = ops_random_buffer(rng, data), *got = ops_buffer(out);
    double *want = calloc(n_out, sizeof *want), *bound = calloc(n_out, sizeof *bound);
    double k = (double)(c->kernel[0] * c->kernel[1]);
    for (int64_t n = 0; n < c->n; n++)
        for (int64_t ch = 0; ch < c->c; ch++)
            for (int64_t y = 0; y < c->out_h; y++)
                for (int64_t x = 0; x < c->out_w; x++) {
                    Window win = window_at(c, dd, n, ch, y, x);
                    size_t i = at(c, c->out_h, c->out_w, n, ch, y, x);
                    double count = (double)(include_pad ? win.count_padded : win.count_real);
                    want[i] = kind == TS_POOL_MAX ? win.max : win.sum / count;
                    bound[i] =
                        kind == TS_POOL_MAX ? 0.0 : (k + 2) * OPS_F32_EPS * win.abs_sum / count;
                }
    ops_evaluate(out, got, 1, (TsBinding[]){ { data, dd } });
    ops_expect_f32_within(got, want, bound, n_out, kind == TS_POOL_MAX ? "max pool" : "avg pool");
    free(dd), free(got), free(want), free(bound);
    ts_arena_destroy(arena);
}

static void test_max_pool_f32(void **state)
{
    (void)state;
    OpsRng rng;
    ops_rng_seed(&rng, 21);
    for (size_t i = 0; i < NUM_CASES; i++)
        check_pool_f32(&pool_cases[i], TS_POOL_MAX, false, &rng);
}

static void test_avg_pool_exclude_pad(void **state)
{
    (void)state;
    OpsRng rng;
    ops_rng_seed(&rng, 22);
    for (size_t i = 0; i < NUM_CASES; i++)
        check_pool_f32(&pool_cases[i], TS_POOL_AVG, false, &rng);
}

static void test_avg_pool_include_pad(void **state)
{
    (void)state;
    OpsRng rng;
    ops_rng_seed(&rng, 23);
    for (size_t i = 0; i < NUM_CASES; i++)
        check_pool_f32(&pool_cases[i], TS_POOL_AVG, true, &rng);
}

/* Integer max pooling on all-negative data: a padded zero must never win. */
static void test_max_pool_int8_padding_never_wins(void **state)
{
    (void)state;
    const PoolCase *c = &pool_cases[10]; /* dilation 2, padding, ceil mode */
    TsArena *arena = ts_arena_create();
    TsTensor *data = case_data(arena, c, TS_INT8);
    TsPool2dAttrs attrs = case_attrs(c, TS_POOL_MAX, false);
    TsTensor *out = ts_op_pool2d(arena, data, &attrs);
    ops_expect_built(arena, out);
    expect_out_shape(c, out);

    OpsRng rng;
    ops_rng_seed(&rng, 24);
    size_t n_in = (size_t)ts_tensor_num_elements(data), n_out = (size_t)ts_tensor_num_elements(out);
    int8_t *dd = ops_buffer(data), *got = ops_buffer(out);
    float *as_float = calloc(n_in, sizeof *as_float);
    int32_t *got32 = calloc(n_out, sizeof *got32);
    int64_t *want = calloc(n_out, sizeof *want);
    for (size_t i = 0; i < n_in; i++) {
        dd[i] = (int8_t)ops_rand_int(&rng, -128, -1);
        as_float[i] = dd[i];
    }
    for (int64_t ch = 0; ch < c->c; ch++)
        for (int64_t y = 0; y < c->out_h; y++)
            for (int64_t x = 0; x < c->out_w; x++) {
                size_t i = at(c, c->out_h, c->out_w, 0, ch, y, x);
                want[i] = (int64_t)window_at(c, as_float, 0, ch, y, x).max;
            }
    ops_evaluate(out, got, 1, (TsBinding[]){ { data, dd } });
    for (size_t i = 0; i < n_out; i++)
        got32[i] = got[i];
    ops_expect_i32_equal(got32, want, n_out, "int8 max pool");
    free(dd), free(got), free(as_float), free(got32), free(want);
    ts_arena_destroy(arena);
}

static void check_global_avg(TsLayout layout, int64_t n, int64_t c, int64_t h, int64_t w,
                             OpsRng *rng)
{
    bool is_nchw = layout == TS_LAYOUT_NCHW;
    TsArena *arena = ts_arena_create();
    int64_t shape[4] = { n, is_nchw ? c : h, is_nchw ? h : w, is_nchw ? w : c };
    TsTensor *data = ops_placeholder(arena, "data", TS_FLOAT32, 4, shape);
    TsTensor *out = ts_op_global_avg_pool2d(arena, data, layout);
    ops_expect_built(arena, out);
    int64_t out_shape[4] = { n, is_nchw ? c : 1, 1, is_nchw ? 1 : c };
    ops_expect_shape(out, 4, out_shape);
    ops_expect_tag(out, "global_avg_pool2d", "global_pool_avg");

    float *dd = ops_random_buffer(rng, data), *got = ops_buffer(out);
    double want[16], bound[16];
    assert_true(n * c <= 16);
    for (int64_t b = 0; b < n; b++) {
        for (int64_t ch = 0; ch < c; ch++) {
            double sum = 0.0, abs_sum = 0.0;
            for (int64_t y = 0; y < h; y++) {
                for (int64_t x = 0; x < w; x++) {
                    int64_t i =
                        is_nchw ? ((b * c + ch) * h + y) * w + x : ((b * h + y) * w + x) * c + ch;
                    sum += dd[i];
                    abs_sum += fabs(dd[i]);
                }
            }
            want[b * c + ch] = sum / (double)(h * w);
            bound[b * c + ch] = (double)(h * w + 2) * OPS_F32_EPS * abs_sum / (double)(h * w);
        }
    }
    ops_evaluate(out, got, 1, (TsBinding[]){ { data, dd } });
    ops_expect_f32_within(got, want, bound, (size_t)(n * c), "global avg pool");
    free(dd), free(got);
    ts_arena_destroy(arena);
}

static void test_global_avg_pool(void **state)
{
    (void)state;
    OpsRng rng;
    ops_rng_seed(&rng, 25);
    check_global_avg(TS_LAYOUT_NCHW, 2, 3, 7, 5, &rng);
    check_global_avg(TS_LAYOUT_NHWC, 2, 3, 7, 5, &rng);
    check_global_avg(TS_LAYOUT_NCHW, 1, 1, 1, 1, &rng);
    check_global_avg(TS_LAYOUT_NHWC, 1, 5, 13, 1, &rng);
}

static void test_pool_defaults(void **state)
{
    (void)state;
    TsPool2dAttrs a = ts_pool2d_attrs_default(TS_POOL_AVG, 3, 2);
    assert_int_equal(a.kind, TS_POOL_AVG);
    assert_int_equal(a.kernel[0], 3);
    assert_int_equal(a.kernel[1], 2);
    assert_int_equal(a.stride[0], 3);
    assert_int_equal(a.stride[1], 2);
    assert_int_equal(a.dilation[0], 1);
    assert_int_equal(a.dilation[1], 1);
    for (int i = 0; i < 4; i++)
        assert_int_equal(a.padding[i], 0);
    assert_false(a.ceil_mode);
    assert_int_equal(a.layout, TS_LAYOUT_NCHW);
}

static void test_pool_errors(void **state)
{
    (void)state;
    TsArena *arena = ts_arena_create();
    TsTensor *x = ops_placeholder(arena, "x", TS_FLOAT32, 4, (int64_t[]){ 1, 2, 4, 4 });
    TsTensor *xi = ops_placeholder(arena, "xi", TS_INT32, 4, (int64_t[]){ 1, 2, 4, 4 });
    TsTensor *x3 = ops_placeholder(arena, "x3", TS_FLOAT32, 3, (int64_t[]){ 2, 4, 4 });
    TsTensor *xh = ops_placeholder(arena, "xh", TS_FLOAT16, 4, (int64_t[]){ 1, 2, 4, 4 });
    TsPool2dAttrs a = ts_pool2d_attrs_default(TS_POOL_MAX, 3, 3);

    a.padding[2] = 3;
    ops_expect_error(arena, ts_op_pool2d(arena, x, &a),
                     "pool2d: padding[2] (bottom) = 3 must be < the dilated kernel height 3");
    a.dilation[0] = 2; /* dilated kernel 5: padding 3 is fine now */
    a.padding[1] = 1;
    a.padding[3] = 5;
    ops_expect_error(arena, ts_op_pool2d(arena, x, &a), "pool2d: padding[3] (right) = 5");
    a = ts_pool2d_attrs_default(TS_POOL_MAX, 5, 2);
    ops_expect_error(arena, ts_op_pool2d(arena, x, &a),
                     "pool2d: dilated kernel height 5 exceeds padded input height 4");
    a = ts_pool2d_attrs_default(TS_POOL_MAX, 0, 2);
    ops_expect_error(arena, ts_op_pool2d(arena, x, &a), "pool2d: kernel[0] (height) = 0");
    a = ts_pool2d_attrs_default(TS_POOL_MAX, 2, 2);
    a.stride[1] = -2;
    ops_expect_error(arena, ts_op_pool2d(arena, x, &a), "pool2d: stride[1] (width) = -2");
    a = ts_pool2d_attrs_default(TS_POOL_MAX, 2, 2);
    a.padding[0] = -1;
    ops_expect_error(arena, ts_op_pool2d(arena, x, &a), "pool2d: padding[0] (top) = -1");
    a = ts_pool2d_attrs_default((TsPoolKind)5, 2, 2);
    ops_expect_error(arena, ts_op_pool2d(arena, x, &a), "pool2d: kind 5");
    a = ts_pool2d_attrs_default(TS_POOL_MAX, 2, 2);
    a.layout = (TsLayout)9;
    ops_expect_error(arena, ts_op_pool2d(arena, x, &a), "pool2d: layout 9");
    a = ts_pool2d_attrs_default(TS_POOL_AVG, 2, 2);
    ops_expect_error(
        arena, ts_op_pool2d(arena, xi, &a),
        "avg pool2d: data 'xi' has dtype int32; the operator needs float32 or float64");
    a.kind = TS_POOL_MAX;
    ops_expect_error(arena, ts_op_pool2d(arena, xh, &a), "max pool2d: data 'xh' has dtype float16");
    ops_expect_error(arena, ts_op_pool2d(arena, x3, &a),
                     "pool2d: data 'x3' has rank 3, expected 4");
    ops_expect_error(arena, ts_op_pool2d(arena, x, NULL), "pool2d: attrs is NULL");
    ops_expect_error(arena, ts_op_pool2d(arena, NULL, &a), "pool2d: data is NULL");
    ops_expect_error(arena, ts_op_global_avg_pool2d(arena, xi, TS_LAYOUT_NCHW),
                     "global_avg_pool2d: data 'xi' has dtype int32");
    ops_expect_error(arena, ts_op_global_avg_pool2d(arena, x3, TS_LAYOUT_NHWC),
                     "global_avg_pool2d: data 'x3' has rank 3");
    ops_expect_error(arena, ts_op_global_avg_pool2d(arena, x, (TsLayout)3),
                     "global_avg_pool2d: layout 3");
    ts_arena_destroy(arena);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_max_pool_f32),
        cmocka_unit_test(test_avg_pool_exclude_pad),
        cmocka_unit_test(test_avg_pool_include_pad),
        cmocka_unit_test(test_max_pool_int8_padding_never_wins),
        cmocka_unit_test(test_global_avg_pool),
        cmocka_unit_test(test_pool_defaults),
        cmocka_unit_test(test_pool_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
