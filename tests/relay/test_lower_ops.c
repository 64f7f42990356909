/* Node lowering (rly_lower_node) of the operators and attribute forms the ONNX node tests
 * in ../shared do not cover, on small models built here: each model is imported, lowered
 * into one DAG and evaluated by the reference interpreter, and its output compared with
 * values from the ONNX operator specification's own examples where it gives them, and
 * otherwise with a naive C computation written from the specification's formulas (loops
 * over the output or scatters over the input, never the lowering's index arithmetic).
 * Also: inputs the importer lets through but the lowering cannot honour are refused with
 * a message naming the node. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lower_testing.h"
#include "relay_testing.h"

enum {
    FLOAT = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT,
    INT64 = ONNX__TENSOR_PROTO__DATA_TYPE__INT64,
    INT32 = ONNX__TENSOR_PROTO__DATA_TYPE__INT32
};

/* Deterministic data in [-2, 2). */
static float *random_data(int64_t n, uint32_t seed)
{
    float *p = malloc((size_t)n * sizeof *p);
    assert_non_null(p);
    for (int64_t k = 0; k < n; k++) {
        seed = seed * 1664525u + 1013904223u;
        p[k] = (float)((seed >> 8) & 0xffff) / 16384.0f - 2.0f;
    }
    return p;
}

static int64_t count_of(int ndim, const int64_t *dims)
{
    int64_t n = 1;
    for (int d = 0; d < ndim; d++)
        n *= dims[d];
    return n;
}

/* Imports the model, lowers it, evaluates output 0 on the graph inputs' data (in order)
 * and compares with expected (count elements of the output's dtype). */
static void check_model(ModelBuilder *mb, int num_inputs, void *const *inputs, int64_t count,
                        const void *expected)
{
    TsGraph *graph = import_model(mb, NULL);
    TsArena *arena = ts_arena_create();
    LoweredGraph lg;
    TsError err;
    if (lt_lower_graph(arena, graph, &lg, &err) != TS_OK)
        fail_msg("lowering failed: %s", err.message);
    assert_int_equal(graph->num_inputs, num_inputs);
    TsBinding bindings[LT_MAX_BINDINGS + LT_MAX_IO + 1];
    int n = 0;
    TsTensor **stages = NULL;
    int num_stages = ts_dag_stages(arena, 1, lg.outputs, &stages);
    assert_true(num_stages > 0);
    for (int k = 0; k < lg.num_bindings; k++)
        for (int s = 0; s < num_stages; s++)
            if (stages[s] == lg.bindings[k].tensor)
                bindings[n++] = lg.bindings[k];
    for (int k = 0; k < num_inputs; k++)
        for (int s = 0; s < num_stages; s++)
            if (stages[s] == lg.inputs[k])
                bindings[n++] = (TsBinding){ lg.inputs[k], inputs[k] };
    TsDType dtype = ts_tensor_dtype(lg.outputs[0]);
    assert_int_equal(ts_tensor_num_elements(lg.outputs[0]), count);
    void *got = calloc((size_t)count, ts_dtype_bytes(dtype));
    bindings[n++] = (TsBinding){ lg.outputs[0], got };
    if (ts_evaluate(1, lg.outputs, n, bindings, &err) != TS_OK)
        fail_msg("evaluation failed: %s", err.message);
    char message[256];
    if (!lt_compare(dtype, count, got, expected, message, sizeof message))
        fail_msg("%s", message);
    free(got);
    ts_arena_destroy(arena);
    ts_graph_free(graph);
}

/* The lowering refuses the model with a message holding needle and naming the node. */
static void refuse_lowering(ModelBuilder *mb, const char *needle)
{
    TsGraph *graph = import_model(mb, NULL);
    TsArena *arena = ts_arena_create();
    LoweredGraph lg;
    TsError err;
    if (lt_lower_graph(arena, graph, &lg, &err) == TS_OK)
        fail_msg("lowered; expected a refusal naming \"%s\"", needle);
    if (!strstr(err.message, needle) || !strstr(err.message, "node \""))
        fail_msg("message \"%s\" does not name the node and \"%s\"", err.message, needle);
    ts_arena_destroy(arena);
    ts_graph_free(graph);
}

/* ---- ConvTranspose ---- */

/* The scatter form of ONNX's ConvTranspose: every input point adds x * w at
 * y = i * stride - pad + k * dilation. */
static void conv_transpose_ref(const float *x, const float *w, const int64_t *xd, const int64_t *wd,
                               int64_t group, const int64_t *s, const int64_t *d,
                               const int64_t *pad, const int64_t *od, float *out)
{
    int64_t cg = xd[1] / group, mg = wd[1];
    memset(out, 0, (size_t)count_of(4, od) * sizeof *out);
    for (int64_t n = 0; n < xd[0]; n++)
        for (int64_t c = 0; c < xd[1]; c++)
            for (int64_t iy = 0; iy < xd[2]; iy++)
                for (int64_t ix = 0; ix < xd[3]; ix++)
                    for (int64_t m = 0; m < mg; m++)
                        for (int64_t kh = 0; kh < wd[2]; kh++)
                            for (int64_t kw = 0; kw < wd[3]; kw++) {
                                int64_t oy = iy * s[0] - pad[0] + kh * d[0];
                                int64_t ox = ix * s[1] - pad[1] + kw * d[1];
                                if (oy < 0 || oy >= od[2] || ox < 0 || ox >= od[3])
                                    continue;
                                int64_t om = (c / cg) * mg + m;
                                out[((n * od[1] + om) * od[2] + oy) * od[3] + ox] +=
                                    x[((n * xd[1] + c) * xd[2] + iy) * xd[3] + ix] *
                                    w[((c * wd[1] + m) * wd[2] + kh) * wd[3] + kw];
                            }
}

static void test_conv_transpose(void **state)
{
    (void)state;
    /* x [1, 4, 3, 4], w [4, 3, 3, 2], group 2 (6 outputs), stride (2, 3), dilation (2, 1),
     * pads (1, 0, 2, 1), output_padding (1, 2). H: 2*2 + 1 + 5 - 3 = 7; W: 3*3 + 2 + 2 - 1
     * = 12. */
    const int64_t xd[4] = { 1, 4, 3, 4 }, wd[4] = { 4, 3, 3, 2 }, od[4] = { 1, 6, 7, 12 };
    float *x = random_data(count_of(4, xd), 1), *w = random_data(count_of(4, wd), 2);
    float *want = malloc((size_t)count_of(4, od) * sizeof *want);
    conv_transpose_ref(x, w, xd, wd, 2, I64S(2, 3), I64S(2, 1), I64S(1, 0), od, want);
    ModelBuilder *mb = mb_new(13);
    mb_input(mb, "x", FLOAT, 4, xd);
    mb_input(mb, "w", FLOAT, 4, wd);
    mb_output(mb, "y");
    Onnx__NodeProto *n = mb_node(mb, "ConvTranspose", "x,w", "y");
    mb_attr_int(mb, n, "group", 2);
    mb_attr_ints(mb, n, "strides", NV(2, 3));
    mb_attr_ints(mb, n, "dilations", NV(2, 1));
    mb_attr_ints(mb, n, "pads", NV(1, 0, 2, 1));
    mb_attr_ints(mb, n, "output_padding", NV(1, 2));
    check_model(mb, 2, (void *[]){ x, w }, count_of(4, od), want);

    /* output_shape 8 x 9 with SAME_UPPER: total padding 2*2 + 0 + 5 - 8 = 1 along H (begin
     * 0), 3*3 + 0 + 2 - 9 = 2 along W (begin 1). */
    const int64_t od2[4] = { 1, 6, 8, 9 };
    conv_transpose_ref(x, w, xd, wd, 2, I64S(2, 3), I64S(2, 1), I64S(0, 1), od2, want);
    mb = mb_new(13);
    mb_input(mb, "x", FLOAT, 4, xd);
    mb_input(mb, "w", FLOAT, 4, wd);
    mb_output(mb, "y");
    n = mb_node(mb, "ConvTranspose", "x,w", "y");
    mb_attr_int(mb, n, "group", 2);
    mb_attr_ints(mb, n, "strides", NV(2, 3));
    mb_attr_ints(mb, n, "dilations", NV(2, 1));
    mb_attr_string(mb, n, "auto_pad", "SAME_UPPER");
    mb_attr_ints(mb, n, "output_shape", NV(8, 9));
    check_model(mb, 2, (void *[]){ x, w }, count_of(4, od2), want);
    free(x);
    free(w);
    free(want);
}

/* ONNX's example (test_convtranspose): x 3x3 of 0..8, two 3x3 kernels of ones. */
static void test_conv_transpose_spec_example(void **state)
{
    (void)state;
    float x[9], w[18];
    for (int k = 0; k < 9; k++)
        x[k] = (float)k;
    for (int k = 0; k < 18; k++)
        w[k] = 1.0f;
    static const float row[5][5] = { { 0, 1, 3, 3, 2 },
                                     { 3, 8, 15, 12, 7 },
                                     { 9, 21, 36, 27, 15 },
                                     { 9, 20, 33, 24, 13 },
                                     { 6, 13, 21, 15, 8 } };
    float want[50];
    for (int k = 0; k < 50; k++)
        want[k] = row[(k % 25) / 5][k % 5];
    ModelBuilder *mb = mb_new(11);
    mb_input(mb, "x", FLOAT, 4, I64S(1, 1, 3, 3));
    mb_input(mb, "w", FLOAT, 4, I64S(1, 2, 3, 3));
    mb_output(mb, "y");
    mb_node(mb, "ConvTranspose", "x,w", "y");
    check_model(mb, 2, (void *[]){ x, w }, 50, want);
}

/* ---- Conv 1-D with auto_pad, dilations and groups ---- */

static void test_conv1d_same_lower(void **state)
{
    (void)state;
    /* x [2, 4, 9], w [6, 2, 3], group 2, stride 2, dilation 2: out ceil(9/2) = 5; total pad
     * (5-1)*2 + 5 - 9 = 4, SAME_LOWER begin 2. */
    const int64_t xd[3] = { 2, 4, 9 }, wd[3] = { 6, 2, 3 };
    float *x = random_data(72, 3), *w = random_data(36, 4), b[6] = { 1, -1, 0.5f, 2, 0, -3 };
    float want[2 * 6 * 5];
    for (int n = 0; n < 2; n++)
        for (int m = 0; m < 6; m++)
            for (int o = 0; o < 5; o++) {
                float acc = b[m];
                for (int c = 0; c < 2; c++)
                    for (int k = 0; k < 3; k++) {
                        int i = o * 2 - 2 + k * 2;
                        if (i >= 0 && i < 9)
                            acc += x[(n * 4 + (m / 3) * 2 + c) * 9 + i] * w[(m * 2 + c) * 3 + k];
                    }
                want[(n * 6 + m) * 5 + o] = acc;
            }
    ModelBuilder *mb = mb_new(13);
    mb_input(mb, "x", FLOAT, 3, xd);
    mb_input(mb, "w", FLOAT, 3, wd);
    mb_output(mb, "y");
    mb_init_f32_values(mb, "b", 6, b);
    Onnx__NodeProto *n = mb_node(mb, "Conv", "x,w,b", "y");
    mb_attr_int(mb, n, "group", 2);
    mb_attr_ints(mb, n, "strides", NV(2));
    mb_attr_ints(mb, n, "dilations", NV(2));
    mb_attr_string(mb, n, "auto_pad", "SAME_LOWER");
    check_model(mb, 2, (void *[]){ x, w }, 60, want);
    free(x);
    free(w);
}

/* ---- Resize and Upsample ---- */

static ModelBuilder *resize_model(int64_t opset, const int64_t *xd)
{
    ModelBuilder *mb = mb_new(opset);
    mb_input(mb, "x", FLOAT, 4, xd);
    mb_output(mb, "y");
    return mb;
}

static void resize_node(ModelBuilder *mb, const char *inputs, const char *mode, const char *coord,
                        const char *nearest)
{
    Onnx__NodeProto *n = mb_node(mb, "Resize", inputs, "y");
    mb_attr_string(mb, n, "mode", mode);
    if (coord)
        mb_attr_string(mb, n, "coordinate_transformation_mode", coord);
    if (nearest)
        mb_attr_string(mb, n, "nearest_mode", nearest);
}

/* The specification's examples (onnx/backend/test/case/node/resize.py). */
static void test_resize_spec_examples(void **state)
{
    (void)state;
    float x22[4] = { 1, 2, 3, 4 }, x24[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
    /* upsample_scales_linear: half_pixel, 2x2 -> 4x4 */
    static const float linear[16] = { 1,   1.25, 1.75, 2,   1.5, 1.75, 2.25, 2.5,
                                      2.5, 2.75, 3.25, 3.5, 3,   3.25, 3.75, 4 };
    ModelBuilder *mb = resize_model(13, I64S(1, 1, 2, 2));
    mb_init_f32_values(mb, "scales", 4, F32S(1, 1, 2, 2));
    resize_node(mb, "x,,scales", "linear", NULL, NULL);
    check_model(mb, 1, (void *[]){ x22 }, 16, linear);
    /* upsample_scales_linear_align_corners */
    static const float corners[16] = { 1,         1.333333f, 1.666667f, 2, 1.666667f, 2, 2.333333f,
                                       2.666667f, 2.333333f, 2.666667f, 3, 3.333333f, 3, 3.333333f,
                                       3.666667f, 4 };
    mb = resize_model(13, I64S(1, 1, 2, 2));
    mb_init_f32_values(mb, "scales", 4, F32S(1, 1, 2, 2));
    resize_node(mb, "x,,scales", "linear", "align_corners", NULL);
    check_model(mb, 1, (void *[]){ x22 }, 16, corners);
    /* downsample_scales_linear and its align_corners form: 2x4 at 0.6 */
    mb = resize_model(13, I64S(1, 1, 2, 4));
    mb_init_f32_values(mb, "scales", 4, F32S(1, 1, 0.6f, 0.6f));
    resize_node(mb, "x,,scales", "linear", NULL, NULL);
    check_model(mb, 1, (void *[]){ x24 }, 2, F32S(2.6666665f, 4.3333331f));
    mb = resize_model(13, I64S(1, 1, 2, 4));
    mb_init_f32_values(mb, "scales", 4, F32S(1, 1, 0.6f, 0.6f));
    resize_node(mb, "x,,scales", "linear", "align_corners", NULL);
    check_model(mb, 1, (void *[]){ x24 }, 2, F32S(1, 3.142857f));
    /* downsample_scales_nearest */
    mb = resize_model(13, I64S(1, 1, 2, 4));
    mb_init_f32_values(mb, "scales", 4, F32S(1, 1, 0.6f, 0.6f));
    resize_node(mb, "x,,scales", "nearest", NULL, NULL);
    check_model(mb, 1, (void *[]){ x24 }, 2, F32S(1, 3));
    /* upsample_scales_nearest: scales (2, 3) */
    float want[24];
    for (int k = 0; k < 24; k++)
        want[k] = x22[(k / 6 / 2) * 2 + (k % 6) / 3];
    mb = resize_model(13, I64S(1, 1, 2, 2));
    mb_init_f32_values(mb, "scales", 4, F32S(1, 1, 2, 3));
    resize_node(mb, "x,,scales", "nearest", NULL, NULL);
    check_model(mb, 1, (void *[]){ x22 }, 24, want);
    /* upsample_sizes_nearest: sizes (7, 8) */
    float want78[56];
    for (int k = 0; k < 56; k++)
        want78[k] = x22[(k / 8 < 4 ? 0 : 2) + (k % 8 < 4 ? 0 : 1)];
    mb = resize_model(13, I64S(1, 1, 2, 2));
    mb_init_i64(mb, "sizes", 4, I64S(1, 1, 7, 8));
    resize_node(mb, "x,,,sizes", "nearest", NULL, NULL);
    check_model(mb, 1, (void *[]){ x22 }, 56, want78);
}

/* The reference's 1-D coordinate, from the specification's formulas. */
static double ref_original(const char *coord, double x, int64_t in, int64_t out, double scale)
{
    if (!strcmp(coord, "asymmetric"))
        return x / scale;
    if (!strcmp(coord, "align_corners")) /* the reference's resized length is scale * in */
        return scale * (double)in == 1 ? 0 : x * (double)(in - 1) / (scale * (double)in - 1);
    if (!strcmp(coord, "pytorch_half_pixel"))
        return out > 1 ? (x + 0.5) / scale - 0.5 : 0;
    if (!strcmp(coord, "half_pixel_symmetric")) {
        double adjustment = (double)out / (scale * (double)in);
        double center = (double)in / 2;
        return center * (1 - adjustment) + (x + 0.5) / scale - 0.5;
    }
    return (x + 0.5) / scale - 0.5;
}

static int64_t ref_clamp(int64_t v, int64_t n)
{
    return v < 0 ? 0 : v >= n ? n - 1 : v;
}

static int64_t ref_nearest(const char *mode, double x)
{
    if (!strcmp(mode, "floor"))
        return (int64_t)floor(x);
    if (!strcmp(mode, "ceil"))
        return (int64_t)ceil(x);
    double f = floor(x);
    if (x - f == 0.5)
        return !strcmp(mode, "round_prefer_ceil") ? (int64_t)f + 1 : (int64_t)f;
    return (int64_t)round(x);
}

/* Separable resizing of a [1, 1, H, W] image: along W, then along H. */
static void ref_resize(const float *x, int64_t h, int64_t w, int64_t oh, int64_t ow, double sh,
                       double sw, bool linear, const char *coord, const char *nearest, float *out)
{
    double *tmp = malloc((size_t)(h * ow) * sizeof *tmp);
    for (int64_t r = 0; r < h; r++)
        for (int64_t c = 0; c < ow; c++) {
            double xo = ref_original(coord, (double)c, w, ow, sw);
            if (!linear) {
                tmp[r * ow + c] = x[r * w + ref_clamp(ref_nearest(nearest, xo), w)];
                continue;
            }
            int64_t x0 = (int64_t)floor(xo);
            double t = xo - (double)x0;
            tmp[r * ow + c] =
                (1 - t) * x[r * w + ref_clamp(x0, w)] + t * x[r * w + ref_clamp(x0 + 1, w)];
        }
    for (int64_t r = 0; r < oh; r++)
        for (int64_t c = 0; c < ow; c++) {
            double yo = ref_original(coord, (double)r, h, oh, sh);
            if (!linear) {
                out[r * ow + c] = (float)tmp[ref_clamp(ref_nearest(nearest, yo), h) * ow + c];
                continue;
            }
            int64_t y0 = (int64_t)floor(yo);
            double t = yo - (double)y0;
            out[r * ow + c] = (float)((1 - t) * tmp[ref_clamp(y0, h) * ow + c] +
                                      t * tmp[ref_clamp(y0 + 1, h) * ow + c]);
        }
    free(tmp);
}

static void test_resize_every_mode(void **state)
{
    (void)state;
    static const char *const coords[] = { "half_pixel", "half_pixel_symmetric",
                                          "pytorch_half_pixel", "align_corners", "asymmetric" };
    static const char *const nearests[] = { "round_prefer_floor", "round_prefer_ceil", "floor",
                                            "ceil" };
    /* 5 x 6 -> scales (1.7, 0.65): 8 x 3; and sizes 1 x 11 */
    float *x = random_data(30, 5), want[8 * 11];
    for (int c = 0; c < 5; c++)
        for (int m = 0; m < 5; m++) {
            bool linear = m == 4;
            const char *nearest = linear ? NULL : nearests[m];
            ref_resize(x, 5, 6, 8, 3, 1.7f, 0.65f, linear, coords[c], nearest ? nearest : "", want);
            ModelBuilder *mb = resize_model(19, I64S(1, 1, 5, 6));
            mb_init_f32_values(mb, "scales", 4, F32S(1, 1, 1.7f, 0.65f));
            resize_node(mb, "x,,scales", linear ? "linear" : "nearest", coords[c], nearest);
            check_model(mb, 1, (void *[]){ x }, 24, want);
            ref_resize(x, 5, 6, 1, 11, 1.0 / 5, 11.0 / 6, linear, coords[c], nearest ? nearest : "",
                       want);
            mb = resize_model(19, I64S(1, 1, 5, 6));
            mb_init_i64(mb, "sizes", 4, I64S(1, 1, 1, 11));
            resize_node(mb, "x,,,sizes", linear ? "linear" : "nearest", coords[c], nearest);
            check_model(mb, 1, (void *[]){ x }, 11, want);
        }
    free(x);
}

static void test_upsample_and_resize10(void **state)
{
    (void)state;
    float x[4] = { 1, 2, 3, 4 }, want[24];
    for (int k = 0; k < 24; k++)
        want[k] = x[(k / 6 / 2) * 2 + (k % 6) / 3];
    /* Upsample-7 (scales attribute), -9 (input), Resize-10: nearest repeats */
    ModelBuilder *mb = resize_model(7, I64S(1, 1, 2, 2));
    Onnx__NodeProto *n = mb_node(mb, "Upsample", "x", "y");
    mb_attr_floats(mb, n, "scales", 4, F32S(1, 1, 2, 3));
    check_model(mb, 1, (void *[]){ x }, 24, want);
    mb = resize_model(9, I64S(1, 1, 2, 2));
    mb_init_f32_values(mb, "s", 4, F32S(1, 1, 2, 3));
    mb_node(mb, "Upsample", "x,s", "y");
    check_model(mb, 1, (void *[]){ x }, 24, want);
    mb = resize_model(10, I64S(1, 1, 2, 2));
    mb_init_f32_values(mb, "s", 4, F32S(1, 1, 2, 3));
    mb_node(mb, "Resize", "x,s", "y");
    check_model(mb, 1, (void *[]){ x }, 24, want);
    /* Upsample-9 linear: the specification's example (asymmetric, edge-clamped) */
    static const float lin[16] = { 1, 1.5f, 2, 2, 2, 2.5f, 3, 3, 3, 3.5f, 4, 4, 3, 3.5f, 4, 4 };
    mb = resize_model(9, I64S(1, 1, 2, 2));
    mb_init_f32_values(mb, "s", 4, F32S(1, 1, 2, 2));
    n = mb_node(mb, "Upsample", "x,s", "y");
    mb_attr_string(mb, n, "mode", "linear");
    check_model(mb, 1, (void *[]){ x }, 16, lin);
}

/* ---- Pad ---- */

static void test_pad_spec_examples(void **state)
{
    (void)state;
    float x[6] = { 1.0f, 1.2f, 2.3f, 3.4f, 4.5f, 5.7f };
    static const char *const modes[] = { "constant", "reflect", "edge" };
    static const float want[3][12] = {
        { 0, 0, 1.0f, 1.2f, 0, 0, 2.3f, 3.4f, 0, 0, 4.5f, 5.7f },
        { 1.0f, 1.2f, 1.0f, 1.2f, 2.3f, 3.4f, 2.3f, 3.4f, 4.5f, 5.7f, 4.5f, 5.7f },
        { 1.0f, 1.0f, 1.0f, 1.2f, 2.3f, 2.3f, 2.3f, 3.4f, 4.5f, 4.5f, 4.5f, 5.7f },
    };
    for (int m = 0; m < 3; m++) {
        ModelBuilder *mb = mb_new(13);
        mb_input(mb, "x", FLOAT, 2, I64S(3, 2));
        mb_output(mb, "y");
        mb_init_i64(mb, "pads", 4, I64S(0, 2, 0, 0));
        Onnx__NodeProto *n = mb_node(mb, "Pad", "x,pads", "y");
        mb_attr_string(mb, n, "mode", modes[m]);
        check_model(mb, 1, (void *[]){ x }, 12, want[m]);
    }
}

/* numpy.pad's reflect and edge, one index at a time; negative pads crop. */
static int64_t ref_pad_index(const char *mode, int64_t i, int64_t n)
{
    if (!strcmp(mode, "edge"))
        return ref_clamp(i, n);
    while (i < 0 || i >= n)
        i = i < 0 ? -i : 2 * (n - 1) - i;
    return i;
}

static void test_pad_modes_wide_and_negative(void **state)
{
    (void)state;
    static const char *const modes[] = { "constant", "reflect", "edge" };
    float *x = random_data(12, 6);
    /* x [3, 4]; pads begin (5, -1), end (-2, 7): out [6, 10]; reflect wraps past both ends */
    for (int m = 0; m < 3; m++) {
        float want[60];
        for (int r = 0; r < 6; r++)
            for (int c = 0; c < 10; c++) {
                int64_t i = r - 5, j = c + 1;
                bool inside = i >= 0 && i < 3 && j >= 0 && j < 4;
                want[r * 10 + c] =
                    m == 0 ? (inside ? x[i * 4 + j] : 1.5f)
                           : x[ref_pad_index(modes[m], i, 3) * 4 + ref_pad_index(modes[m], j, 4)];
            }
        ModelBuilder *mb = mb_new(18);
        mb_input(mb, "x", FLOAT, 2, I64S(3, 4));
        mb_output(mb, "y");
        mb_init_i64(mb, "pads", 4, I64S(5, -1, -2, 7));
        mb_init_f32_values(mb, "v", 1, F32S(1.5f));
        Onnx__NodeProto *n = mb_node(mb, "Pad", "x,pads,v", "y");
        mb_attr_string(mb, n, "mode", modes[m]);
        check_model(mb, 1, (void *[]){ x }, 60, want);
    }
    /* Pad-2 (opset 7): pads and value as attributes, and opset 18's axes input */
    float want[3 * 7];
    for (int k = 0; k < 21; k++)
        want[k] = k % 7 < 1 || k % 7 >= 5 ? -2.0f : x[(k / 7) * 4 + k % 7 - 1];
    ModelBuilder *mb = mb_new(7);
    mb_input(mb, "x", FLOAT, 2, I64S(3, 4));
    mb_output(mb, "y");
    Onnx__NodeProto *n = mb_node(mb, "Pad", "x", "y");
    mb_attr_ints(mb, n, "pads", NV(0, 1, 0, 2));
    mb_attr_float(mb, n, "value", -2.0f);
    check_model(mb, 1, (void *[]){ x }, 21, want);
    for (int k = 0; k < 21; k++)
        want[k] = k % 7 < 1 || k % 7 >= 5 ? 0.0f : x[(k / 7) * 4 + k % 7 - 1];
    mb = mb_new(18);
    mb_input(mb, "x", FLOAT, 2, I64S(3, 4));
    mb_output(mb, "y");
    mb_init_i64(mb, "pads", 2, I64S(1, 2));
    mb_init_i64(mb, "axes", 1, I64S(-1));
    mb_node(mb, "Pad", "x,pads,,axes", "y");
    check_model(mb, 1, (void *[]){ x }, 21, want);
    free(x);
}

/* ---- Slice, Split, Gather, Transpose, Expand, shape operators ---- */

static void test_slice_negative_steps(void **state)
{
    (void)state;
    /* ONNX's test_slice_neg_steps: x [20, 10, 5], starts (20, 10, 4), ends (0, 0, 1), steps
     * (-1, -3, -2): x[20:0:-1, 10:0:-3, 4:1:-2], shape (19, 3, 2). */
    float *x = random_data(1000, 7), want[19 * 3 * 2];
    int k = 0;
    for (int i = 19; i > 0; i--)
        for (int j = 9; j > 0; j -= 3)
            for (int l = 4; l > 1; l -= 2)
                want[k++] = x[(i * 10 + j) * 5 + l];
    assert_int_equal(k, 114);
    ModelBuilder *mb = mb_new(13);
    mb_input(mb, "x", FLOAT, 3, I64S(20, 10, 5));
    mb_output(mb, "y");
    mb_init_i64(mb, "starts", 3, I64S(20, 10, 4));
    mb_init_i64(mb, "ends", 3, I64S(0, 0, 1));
    mb_init_i64(mb, "axes", 3, I64S(0, 1, 2));
    mb_init_i64(mb, "steps", 3, I64S(-1, -3, -2));
    mb_node(mb, "Slice", "x,starts,ends,axes,steps", "y");
    check_model(mb, 1, (void *[]){ x }, 114, want);
    /* negative starts and ends past the bounds, axes out of order: x[-100:-2, :, 3:-1:2]
     * would be x[0:18, :, 3:4]; here axes (2, 0). Slice-1 takes them as attributes. */
    float want2[18 * 10];
    k = 0;
    for (int i = 0; i < 18; i++)
        for (int j = 0; j < 10; j++)
            want2[k++] = x[(i * 10 + j) * 5 + 3];
    mb = mb_new(7);
    mb_input(mb, "x", FLOAT, 3, I64S(20, 10, 5));
    mb_output(mb, "y");
    Onnx__NodeProto *n = mb_node(mb, "Slice", "x", "y");
    mb_attr_ints(mb, n, "starts", NV(3, -100));
    mb_attr_ints(mb, n, "ends", NV(-1, -2));
    mb_attr_ints(mb, n, "axes", NV(2, 0));
    check_model(mb, 1, (void *[]){ x }, 180, want2);
    free(x);
}

static void test_split_gather_transpose(void **state)
{
    (void)state;
    float *x = random_data(2 * 7 * 3, 8);
    /* Split-13 with sizes (2, 5) on axis 1: the second output */
    float want[2 * 5 * 3];
    for (int k = 0; k < 30; k++)
        want[k] = x[(k / 15) * 21 + (2 + (k / 3) % 5) * 3 + k % 3];
    ModelBuilder *mb = mb_new(13);
    mb_input(mb, "x", FLOAT, 3, I64S(2, 7, 3));
    mb_output(mb, "b");
    mb_output(mb, "a");
    mb_init_i64(mb, "split", 2, I64S(2, 5));
    Onnx__NodeProto *n = mb_node(mb, "Split", "x,split", "a,b");
    mb_attr_int(mb, n, "axis", -2);
    check_model(mb, 1, (void *[]){ x }, 30, want);
    /* Split-18 num_outputs 3 over 7: (3, 3, 1); the last */
    float last[2 * 1 * 3];
    for (int k = 0; k < 6; k++)
        last[k] = x[(k / 3) * 21 + 6 * 3 + k % 3];
    mb = mb_new(18);
    mb_input(mb, "x", FLOAT, 3, I64S(2, 7, 3));
    mb_output(mb, "c");
    n = mb_node(mb, "Split", "x", "a,b,c");
    mb_attr_int(mb, n, "axis", 1);
    mb_attr_int(mb, n, "num_outputs", 3);
    check_model(mb, 1, (void *[]){ x }, 6, last);
    /* Gather on axis 1 with negative indices [[-1, 0], [3, -7]] (an int64 graph input) */
    int64_t idx[4] = { -1, 0, 3, -7 };
    float g[2 * 2 * 2 * 3];
    for (int a = 0; a < 2; a++)
        for (int i = 0; i < 4; i++)
            for (int c = 0; c < 3; c++)
                g[(a * 4 + i) * 3 + c] = x[a * 21 + ((idx[i] + 7) % 7) * 3 + c];
    mb = mb_new(13);
    mb_input(mb, "x", FLOAT, 3, I64S(2, 7, 3));
    mb_input(mb, "i", INT64, 2, I64S(2, 2));
    mb_output(mb, "y");
    n = mb_node(mb, "Gather", "x,i", "y");
    mb_attr_int(mb, n, "axis", 1);
    check_model(mb, 2, (void *[]){ x, idx }, 24, g);
    /* Gather of a scalar index on the last axis (a constant) */
    float s[2 * 7];
    for (int k = 0; k < 14; k++)
        s[k] = x[k * 3 + 1];
    mb = mb_new(13);
    mb_input(mb, "x", FLOAT, 3, I64S(2, 7, 3));
    mb_output(mb, "y");
    Onnx__NodeProto *c = mb_node(mb, "Constant", "", "i");
    mb_attr_tensor_i64(mb, c, "value", 1, I64S(-2));
    n = mb_node(mb, "Gather", "x,i", "y");
    mb_attr_int(mb, n, "axis", 2);
    check_model(mb, 1, (void *[]){ x }, 14, s);
    /* Transpose (2, 0, 1) and the default reversal */
    float t[42], r[42];
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 7; b++)
            for (int cc = 0; cc < 3; cc++) {
                t[(cc * 2 + a) * 7 + b] = x[(a * 7 + b) * 3 + cc];
                r[(cc * 7 + b) * 2 + a] = x[(a * 7 + b) * 3 + cc];
            }
    mb = mb_new(13);
    mb_input(mb, "x", FLOAT, 3, I64S(2, 7, 3));
    mb_output(mb, "y");
    n = mb_node(mb, "Transpose", "x", "y");
    mb_attr_ints(mb, n, "perm", NV(2, 0, 1));
    check_model(mb, 1, (void *[]){ x }, 42, t);
    mb = mb_new(13);
    mb_input(mb, "x", FLOAT, 3, I64S(2, 7, 3));
    mb_output(mb, "y");
    mb_node(mb, "Transpose", "x", "y");
    check_model(mb, 1, (void *[]){ x }, 42, r);
    free(x);
}

static void test_expand_squeeze_shape(void **state)
{
    (void)state;
    float x[3] = { 1, 2, 3 }, want[2 * 3 * 3];
    /* Expand [3, 1] to (2, 1, 3): [2, 3, 3] */
    for (int k = 0; k < 18; k++)
        want[k] = x[(k / 3) % 3];
    ModelBuilder *mb = mb_new(13);
    mb_input(mb, "x", FLOAT, 2, I64S(3, 1));
    mb_output(mb, "y");
    mb_init_i64(mb, "shape", 3, I64S(2, 1, 3));
    mb_node(mb, "Expand", "x,shape", "y");
    check_model(mb, 1, (void *[]){ x }, 18, want);
    /* Unsqueeze then Squeeze then Shape: [3, 1] -> [1, 3, 1] -> [3] -> (3) */
    mb = mb_new(13);
    mb_input(mb, "x", FLOAT, 2, I64S(3, 1));
    mb_output(mb, "s");
    mb_init_i64(mb, "a0", 1, I64S(0));
    mb_init_i64(mb, "a2", 1, I64S(2));
    mb_node(mb, "Unsqueeze", "x,a0", "u");
    mb_node(mb, "Squeeze", "u,a2", "q");
    mb_node(mb, "Shape", "u", "s");
    check_model(mb, 1, (void *[]){ x }, 3, I64S(1, 3, 1));
    /* Shape-15 with start and end */
    mb = mb_new(15);
    mb_input(mb, "x", FLOAT, 4, I64S(2, 3, 4, 5));
    mb_output(mb, "s");
    Onnx__NodeProto *n = mb_node(mb, "Shape", "x", "s");
    mb_attr_int(mb, n, "start", -3);
    mb_attr_int(mb, n, "end", -1);
    float *big = random_data(120, 9);
    check_model(mb, 1, (void *[]){ big }, 2, I64S(3, 4));
    free(big);
}

/* ---- activations, elementwise, variadic, Cast ---- */

typedef double (*Fn)(double x);
static double sigmoid(double x)
{
    return 1 / (1 + exp(-x));
}
static double hard_sigmoid(double x)
{
    return fmax(0, fmin(1, 0.3 * x + 0.4));
}
static double hard_swish(double x)
{
    return x * fmax(0, fmin(1, x / 6 + 0.5));
}
static double leaky(double x)
{
    return x < 0 ? 0.2 * x : x;
}
static double gelu(double x)
{
    return 0.5 * x * (1 + erf(x / sqrt(2)));
}
static double gelu_tanh(double x)
{
    return 0.5 * x * (1 + tanh(sqrt(2 / 3.14159265358979323846) * (x + 0.044715 * x * x * x)));
}
static double relu(double x)
{
    return x > 0 ? x : 0;
}

static void unary_case(int64_t opset, const char *op, Fn fn, const char *attr, float value,
                       const char *word)
{
    float *x = random_data(64, 10), want[64];
    for (int k = 0; k < 64; k++) {
        x[k] *= 2.0f; /* [-4, 4) */
        if (!strcmp(op, "Sqrt"))
            x[k] = fabsf(x[k]);
        want[k] = (float)fn(x[k]);
    }
    ModelBuilder *mb = mb_new(opset);
    mb_input(mb, "x", FLOAT, 3, I64S(2, 4, 8));
    mb_output(mb, "y");
    Onnx__NodeProto *n = mb_node(mb, op, "x", "y");
    if (attr && word)
        mb_attr_string(mb, n, attr, word);
    else if (attr)
        mb_attr_float(mb, n, attr, value);
    check_model(mb, 1, (void *[]){ x }, 64, want);
    free(x);
}

static void test_activations(void **state)
{
    (void)state;
    unary_case(13, "Sigmoid", sigmoid, NULL, 0, NULL);
    unary_case(13, "Tanh", tanh, NULL, 0, NULL);
    unary_case(13, "Erf", erf, NULL, 0, NULL);
    unary_case(13, "Sqrt", sqrt, NULL, 0, NULL);
    unary_case(13, "Relu", relu, NULL, 0, NULL);
    unary_case(14, "HardSwish", hard_swish, NULL, 0, NULL);
    unary_case(13, "LeakyRelu", leaky, "alpha", 0.2f, NULL);
    unary_case(20, "Gelu", gelu, NULL, 0, NULL);
    unary_case(20, "Gelu", gelu_tanh, "approximate", 0, "tanh");
    /* HardSigmoid with both attributes */
    float *x = random_data(64, 11), want[64];
    for (int k = 0; k < 64; k++)
        want[k] = (float)hard_sigmoid(x[k] * 2);
    for (int k = 0; k < 64; k++)
        x[k] *= 2;
    ModelBuilder *mb = mb_new(13);
    mb_input(mb, "x", FLOAT, 1, I64S(64));
    mb_output(mb, "y");
    Onnx__NodeProto *n = mb_node(mb, "HardSigmoid", "x", "y");
    mb_attr_float(mb, n, "alpha", 0.3f);
    mb_attr_float(mb, n, "beta", 0.4f);
    check_model(mb, 1, (void *[]){ x }, 64, want);
    free(x);
}

static void test_broadcast_and_variadic(void **state)
{
    (void)state;
    float *a = random_data(2 * 3 * 4, 12), *b = random_data(3 * 1, 13), *c = random_data(4, 14);
    float want[24];
    static const char *const ops[] = { "Sum", "Max", "Min", "Mean" };
    for (int o = 0; o < 4; o++) {
        for (int k = 0; k < 24; k++) {
            float x = a[k], y = b[(k / 4) % 3], z = c[k % 4];
            want[k] = o == 0   ? x + y + z
                      : o == 1 ? fmaxf(x, fmaxf(y, z))
                      : o == 2 ? fminf(x, fminf(y, z))
                               : (x + y + z) / 3;
        }
        ModelBuilder *mb = mb_new(13);
        mb_input(mb, "a", FLOAT, 3, I64S(2, 3, 4));
        mb_input(mb, "b", FLOAT, 2, I64S(3, 1));
        mb_input(mb, "c", FLOAT, 1, I64S(4));
        mb_output(mb, "y");
        mb_node(mb, ops[o], "a,b,c", "y");
        check_model(mb, 3, (void *[]){ a, b, c }, 24, want);
    }
    /* Div and Sub with broadcast, Pow with an int64 exponent (opset 15) */
    for (int k = 0; k < 24; k++)
        want[k] = (a[k] - c[k % 4]) / (b[(k / 4) % 3] + 3.0f);
    ModelBuilder *mb = mb_new(13);
    mb_input(mb, "a", FLOAT, 3, I64S(2, 3, 4));
    mb_input(mb, "b", FLOAT, 2, I64S(3, 1));
    mb_input(mb, "c", FLOAT, 1, I64S(4));
    mb_output(mb, "y");
    mb_init_f32_values(mb, "three", 1, F32S(3));
    mb_node(mb, "Sub", "a,c", "d");
    mb_node(mb, "Add", "b,three", "e");
    mb_node(mb, "Div", "d,e", "y");
    check_model(mb, 3, (void *[]){ a, b, c }, 24, want);
    int64_t e[4] = { 0, 1, 2, 3 };
    for (int k = 0; k < 24; k++)
        want[k] = powf(a[k], (float)e[k % 4]);
    mb = mb_new(15);
    mb_input(mb, "a", FLOAT, 3, I64S(2, 3, 4));
    mb_input(mb, "e", INT64, 1, I64S(4));
    mb_output(mb, "y");
    mb_node(mb, "Pow", "a,e", "y");
    check_model(mb, 2, (void *[]){ a, e }, 24, want);
    free(a);
    free(b);
    free(c);
}

static void test_cast_constants_identity(void **state)
{
    (void)state;
    float x[6] = { -2.7f, -0.5f, 0.0f, 0.9f, 3.5f, 1e10f };
    int32_t want[6] = { -2, 0, 0, 0, 3, INT32_MAX }; /* toward zero, saturating */
    ModelBuilder *mb = mb_new(13);
    mb_input(mb, "x", FLOAT, 1, I64S(6));
    mb_output(mb, "y");
    Onnx__NodeProto *n = mb_node(mb, "Cast", "x", "y");
    mb_attr_int(mb, n, "to", INT32);
    check_model(mb, 1, (void *[]){ x }, 6, want);
    /* ConstantOfShape (a float value of 0 by default) plus Identity plus Dropout */
    float zeros_plus_x[6];
    for (int k = 0; k < 6; k++)
        zeros_plus_x[k] = x[k];
    mb = mb_new(13);
    mb_input(mb, "x", FLOAT, 2, I64S(2, 3));
    mb_output(mb, "y");
    mb_init_i64(mb, "shape", 2, I64S(2, 3));
    mb_node(mb, "ConstantOfShape", "shape", "z");
    mb_node(mb, "Identity", "x", "i");
    mb_node(mb, "Dropout", "i", "d");
    mb_node(mb, "Add", "z,d", "y");
    check_model(mb, 1, (void *[]){ x }, 6, zeros_plus_x);
}

/* ---- reductions, softmax, layer norm ---- */

static void test_reductions(void **state)
{
    (void)state;
    float *x = random_data(2 * 3 * 4, 15);
    float sum_keep[2 * 1 * 4], mean_all[1];
    double total = 0;
    for (int a = 0; a < 2; a++)
        for (int c = 0; c < 4; c++) {
            float s = 0;
            for (int b = 0; b < 3; b++)
                s += x[(a * 3 + b) * 4 + c];
            sum_keep[a * 4 + c] = s;
        }
    for (int k = 0; k < 24; k++)
        total += x[k];
    mean_all[0] = (float)(total / 24);
    /* ReduceSum-13: axes input (-2), keepdims */
    ModelBuilder *mb = mb_new(13);
    mb_input(mb, "x", FLOAT, 3, I64S(2, 3, 4));
    mb_output(mb, "y");
    mb_init_i64(mb, "axes", 1, I64S(-2));
    mb_node(mb, "ReduceSum", "x,axes", "y");
    check_model(mb, 1, (void *[]){ x }, 8, sum_keep);
    /* ReduceSum-11: axes attribute, keepdims 0 */
    mb = mb_new(11);
    mb_input(mb, "x", FLOAT, 3, I64S(2, 3, 4));
    mb_output(mb, "y");
    Onnx__NodeProto *n = mb_node(mb, "ReduceSum", "x", "y");
    mb_attr_ints(mb, n, "axes", NV(1));
    mb_attr_int(mb, n, "keepdims", 0);
    check_model(mb, 1, (void *[]){ x }, 8, sum_keep);
    /* ReduceMean-13 without axes: every one, keepdims 0 (a scalar) */
    mb = mb_new(13);
    mb_input(mb, "x", FLOAT, 3, I64S(2, 3, 4));
    mb_output(mb, "y");
    n = mb_node(mb, "ReduceMean", "x", "y");
    mb_attr_int(mb, n, "keepdims", 0);
    check_model(mb, 1, (void *[]){ x }, 1, mean_all);
    /* ReduceMean-18 with noop_with_empty_axes: the input unchanged */
    mb = mb_new(18);
    mb_input(mb, "x", FLOAT, 3, I64S(2, 3, 4));
    mb_output(mb, "y");
    n = mb_node(mb, "ReduceMean", "x", "y");
    mb_attr_int(mb, n, "noop_with_empty_axes", 1);
    check_model(mb, 1, (void *[]){ x }, 24, x);
    /* ReduceMean-18 over axes (0, 2) given as an input */
    float m02[3];
    for (int b = 0; b < 3; b++) {
        float s = 0;
        for (int a = 0; a < 2; a++)
            for (int c = 0; c < 4; c++)
                s += x[(a * 3 + b) * 4 + c];
        m02[b] = s / 8;
    }
    mb = mb_new(18);
    mb_input(mb, "x", FLOAT, 3, I64S(2, 3, 4));
    mb_output(mb, "y");
    mb_init_i64(mb, "axes", 2, I64S(0, 2));
    mb_node(mb, "ReduceMean", "x,axes", "y");
    check_model(mb, 1, (void *[]){ x }, 3, m02);
    free(x);
}

static void test_softmax_coercion(void **state)
{
    (void)state;
    /* Softmax-11 on [2, 3, 4] with axis 1: over the 12 values of each batch row. */
    float *x = random_data(24, 16), want[24];
    for (int a = 0; a < 2; a++) {
        double mx = -1e30, s = 0;
        for (int k = 0; k < 12; k++)
            mx = fmax(mx, x[a * 12 + k]);
        for (int k = 0; k < 12; k++)
            s += exp(x[a * 12 + k] - mx);
        for (int k = 0; k < 12; k++)
            want[a * 12 + k] = (float)(exp(x[a * 12 + k] - mx) / s);
    }
    ModelBuilder *mb = mb_new(11);
    mb_input(mb, "x", FLOAT, 3, I64S(2, 3, 4));
    mb_output(mb, "y");
    Onnx__NodeProto *n = mb_node(mb, "Softmax", "x", "y");
    mb_attr_int(mb, n, "axis", 1);
    check_model(mb, 1, (void *[]){ x }, 24, want);
    free(x);
}

static void test_layer_norm(void **state)
{
    (void)state;
    /* x [2, 3, 4], axis 1: statistics over 12 values; scale [3, 4], bias [4] (broadcast) */
    float *x = random_data(24, 17), *scale = random_data(12, 18), *bias = random_data(4, 19);
    float want[24];
    for (int a = 0; a < 2; a++) {
        double mean = 0, var = 0;
        for (int k = 0; k < 12; k++)
            mean += x[a * 12 + k];
        mean /= 12;
        for (int k = 0; k < 12; k++)
            var += (x[a * 12 + k] - mean) * (x[a * 12 + k] - mean);
        var /= 12;
        for (int k = 0; k < 12; k++)
            want[a * 12 + k] =
                (float)((x[a * 12 + k] - mean) / sqrt(var + 1e-3) * scale[k] + bias[k % 4]);
    }
    ModelBuilder *mb = mb_new(17);
    mb_input(mb, "x", FLOAT, 3, I64S(2, 3, 4));
    mb_input(mb, "s", FLOAT, 2, I64S(3, 4));
    mb_input(mb, "b", FLOAT, 1, I64S(4));
    mb_output(mb, "y");
    Onnx__NodeProto *n = mb_node(mb, "LayerNormalization", "x,s,b", "y");
    mb_attr_int(mb, n, "axis", 1);
    mb_attr_float(mb, n, "epsilon", 1e-3f);
    check_model(mb, 3, (void *[]){ x, scale, bias }, 24, want);
    free(x);
    free(scale);
    free(bias);
}

/* ---- refusals the importer lets through ---- */

static void test_lowering_refusals(void **state)
{
    (void)state;
    /* a constant index out of range */
    ModelBuilder *mb = mb_new(13);
    mb_input(mb, "x", FLOAT, 2, I64S(3, 4));
    mb_output(mb, "y");
    mb_init_i64(mb, "i", 2, I64S(0, 3));
    mb_node(mb, "Gather", "x,i", "y");
    refuse_lowering(mb, "index 3");
    /* an empty output (Slice to nothing) */
    mb = mb_new(13);
    mb_input(mb, "x", FLOAT, 2, I64S(3, 4));
    mb_output(mb, "y");
    mb_init_i64(mb, "s", 1, I64S(2));
    mb_init_i64(mb, "e", 1, I64S(1));
    mb_node(mb, "Slice", "x,s,e", "y");
    refuse_lowering(mb, "empty");
    /* a pool whose padding reaches past the kernel */
    mb = mb_new(13);
    mb_input(mb, "x", FLOAT, 4, I64S(1, 1, 5, 5));
    mb_output(mb, "y");
    Onnx__NodeProto *n = mb_node(mb, "MaxPool", "x", "y");
    mb_attr_ints(mb, n, "kernel_shape", NV(2, 2));
    mb_attr_ints(mb, n, "pads", NV(2, 0, 0, 0));
    refuse_lowering(mb, "padding");
    /* tensors that do not stand for the node's inputs */
    mb = mb_new(13);
    mb_input(mb, "x", FLOAT, 2, I64S(3, 4));
    mb_output(mb, "y");
    mb_node(mb, "Relu", "x", "y");
    TsGraph *graph = import_model(mb, NULL);
    TsArena *arena = ts_arena_create();
    TsTensor *wrong = ts_placeholder(arena, "x", 2, I64S(4, 3), TS_FLOAT32), *out = NULL;
    TsTensor *none = NULL;
    TsError err;
    assert_int_equal(rly_lower_node(arena, graph, graph->nodes[0], &wrong, &out, &err), TS_EINVAL);
    assert_non_null(strstr(err.message, "another dtype or shape"));
    assert_non_null(strstr(err.message, "node \"Relu_0\""));
    assert_null(out);
    assert_int_equal(rly_lower_node(arena, graph, graph->nodes[0], &none, &out, &err), TS_EINVAL);
    assert_non_null(strstr(err.message, "has no tensor"));
    ts_arena_destroy(arena);
    ts_graph_free(graph);
    /* linear resizing of integers */
    mb = mb_new(13);
    mb_input(mb, "x", INT32, 4, I64S(1, 1, 2, 2));
    mb_output(mb, "y");
    mb_init_f32_values(mb, "scales", 4, F32S(1, 1, 2, 2));
    n = mb_node(mb, "Resize", "x,,scales", "y");
    mb_attr_string(mb, n, "mode", "linear");
    refuse_lowering(mb, "linear");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_transpose),
        cmocka_unit_test(test_conv_transpose_spec_example),
        cmocka_unit_test(test_conv1d_same_lower),
        cmocka_unit_test(test_resize_spec_examples),
        cmocka_unit_test(test_resize_every_mode),
        cmocka_unit_test(test_upsample_and_resize10),
        cmocka_unit_test(test_pad_spec_examples),
        cmocka_unit_test(test_pad_modes_wide_and_negative),
        cmocka_unit_test(test_slice_negative_steps),
        cmocka_unit_test(test_split_gather_transpose),
        cmocka_unit_test(test_expand_squeeze_shape),
        cmocka_unit_test(test_activations),
        cmocka_unit_test(test_broadcast_and_variadic),
        cmocka_unit_test(test_cast_constants_identity),
        cmocka_unit_test(test_reductions),
        cmocka_unit_test(test_softmax_coercion),
        cmocka_unit_test(test_layer_norm),
        cmocka_unit_test(test_lowering_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
