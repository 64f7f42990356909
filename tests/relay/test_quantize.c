/* Post-training quantization (tessera/quantize.h): the int8 arithmetic on known ranges;
 * the percentile and entropy thresholds on known histograms; a small model (Conv -> Relu
 * -> Flatten -> Gemm) calibrated on numpy samples and rewritten into QDQ form, checked node
 * by node and value by value (the calibrated ranges are the samples' own, the weights
 * symmetric per output channel with 127 reached in every channel, the int32 biases
 * b / (sx * sw)); the user's JSON parameters replacing calibration; fp32 layers left alone;
 * and every kind of bad input refused with a message naming it. ONNX Runtime runs the QDQ
 * models of a real data set in tests/models/test_digits_int8.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model_builder.h"
#include "tessera/quantize.h"

enum { FLOAT = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, SAMPLES = 5, C = 2, H = 6, W = 6, K = 4 };

static char dir[] = "/tmp/tessera-test-quantize-XXXXXX";
static char model_path[256], npy_path[256], json_path[256];
static float samples[SAMPLES * C * H * W];

static void write_npy(const char *path, const char *descr, int ndim, const int64_t *dims,
                      const void *data, size_t nbytes)
{
    char header[256];
    int n = snprintf(header, sizeof header, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                     descr);
    for (int d = 0; d < ndim; d++)
        n += snprintf(header + n, sizeof header - (size_t)n, "%lld, ", (long long)dims[d]);
    n += snprintf(header + n, sizeof header - (size_t)n, "), }");
    while ((10 + n + 1) % 16)
        header[n++] = ' ';
    header[n++] = '\n';
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    uint8_t pre[10] = { 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (uint8_t)n, 0 };
    fwrite(pre, 1, 10, f);
    fwrite(header, 1, (size_t)n, f);
    fwrite(data, 1, nbytes, f);
    fclose(f);
}

/* Deterministic values in [-1, 1) for every float initializer of the builder's model. */
static void fill_weights(ModelBuilder *mb)
{
    Onnx__GraphProto *g = mb_model(mb)->graph;
    uint64_t s = 11;
    for (size_t i = 0; i < g->n_initializer; i++)
        for (size_t k = 0; k < g->initializer[i]->n_float_data; k++) {
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            g->initializer[i]->float_data[k] = (float)((double)(s >> 11) / 4503599627370496.0 - 1);
        }
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* x [1, 2, 6, 6] -> Conv(w [4, 2, 3, 3], b [4], pad 1) -> Relu -> Flatten ->
 * Gemm(W [3, 144], transB 1, bias [3]) -> y. */
static int setup(void **state)
{
    (void)state;
    if (!mkdtemp(dir))
        return -1;
    snprintf(model_path, sizeof model_path, "%s/m.onnx", dir);
    snprintf(npy_path, sizeof npy_path, "%s/calib.npy", dir);
    snprintf(json_path, sizeof json_path, "%s/params.json", dir);
    ModelBuilder *mb = mb_new(13);
    mb_input(mb, "x", FLOAT, 4, (int64_t[]){ 1, C, H, W });
    mb_init_f32(mb, "w", 4, (int64_t[]){ K, C, 3, 3 });
    mb_init_f32(mb, "b", 1, (int64_t[]){ K });
    mb_init_f32(mb, "W", 2, (int64_t[]){ 3, K * H * W });
    mb_init_f32(mb, "B", 1, (int64_t[]){ 3 });
    Onnx__NodeProto *conv = mb_node(mb, "Conv", "x,w,b", "c");
    mb_attr_ints(mb, conv, "pads", 4, (int64_t[]){ 1, 1, 1, 1 });
    conv->name = "conv";
    mb_node(mb, "Relu", "c", "r")->name = "relu";
    mb_node(mb, "Flatten", "r", "f");
    Onnx__NodeProto *gemm = mb_node(mb, "Gemm", "f,W,B", "y");
    mb_attr_int(mb, gemm, "transB", 1);
    gemm->name = "fc";
    mb_output(mb, "y");
    fill_weights(mb);
    mb_save(mb, model_path);
    mb_free(mb);
    uint64_t s = 7;
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        samples[i] = (float)((double)(s >> 11) / 9007199254740992.0 * 4.0 - 1.5);
    }
    write_npy(npy_path, "<f4", 4, (int64_t[]){ SAMPLES, C, H, W }, samples, sizeof samples);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_activation_params(void **state)
{
    (void)state;
    double scale;
    int32_t zp;
    ts_quant_activation_params(0, 1, &scale, &zp);
    assert_float_equal(scale, (float)(1.0 / 255), 1e-12);
    assert_int_equal(zp, 0);
    ts_quant_activation_params(-0.5, 1.5, &scale, &zp); /* 63.75 */
    assert_float_equal(scale, (float)(2.0 / 255), 1e-12);
    assert_int_equal(zp, 64);
    ts_quant_activation_params(2, 5, &scale, &zp); /* widened to hold 0 */
    assert_float_equal(scale, (float)(5.0 / 255), 1e-12);
    assert_int_equal(zp, 0);
    ts_quant_activation_params(-3, -1, &scale, &zp);
    assert_float_equal(scale, (float)(3.0 / 255), 1e-12);
    assert_int_equal(zp, 255);
    ts_quant_activation_params(0, 0, &scale, &zp);
    assert_true(scale > 0);
}

static void test_thresholds(void **state)
{
    (void)state;
    double hist[2048];
    for (int b = 0; b < 100; b++)
        hist[b] = 1;
    assert_float_equal(ts_quant_histogram_percentile(hist, 100, 0, 100, 50), 50, 1e-9);
    assert_float_equal(ts_quant_histogram_percentile(hist, 100, 0, 100, 99), 99, 1e-9);
    assert_float_equal(ts_quant_histogram_percentile(hist, 100, -10, 90, 100), 90, 1e-9);
    /* Uniform over [0, 10]: nothing to clip. */
    for (int b = 0; b < 2048; b++)
        hist[b] = 100;
    assert_true(ts_quant_entropy_threshold(hist, 2048, 10, 128) > 9.9);
    /* Everything in the first 200 bins but one far outlier: clipped near 200 bins. */
    memset(hist, 0, sizeof hist);
    for (int b = 0; b < 200; b++)
        hist[b] = 1000 - 4 * b;
    hist[2047] = 1;
    double t = ts_quant_entropy_threshold(hist, 2048, 10, 128);
    assert_true(t > 0.6 && t < 1.5);
}

static Onnx__ModelProto *unpack(const TsQuantizeResult *r)
{
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, r->model_size, r->model);
    assert_non_null(mp);
    return mp;
}

static const Onnx__TensorProto *init(const Onnx__GraphProto *g, const char *name)
{
    for (size_t i = 0; i < g->n_initializer; i++)
        if (strcmp(g->initializer[i]->name, name) == 0)
            return g->initializer[i];
    return NULL;
}

static const Onnx__NodeProto *producer(const Onnx__GraphProto *g, const char *name)
{
    for (size_t i = 0; i < g->n_node; i++)
        if (strcmp(g->node[i]->output[0], name) == 0)
            return g->node[i];
    return NULL;
}

static const TsQuantTensor *tensor(const TsQuantizeResult *r, const char *name)
{
    for (int i = 0; i < r->num_tensors; i++)
        if (strcmp(r->tensors[i].name, name) == 0)
            return &r->tensors[i];
    fail_msg("no tensor %s", name);
    return NULL;
}

static TsStatus quantize(TsQuantizeOptions *o, TsQuantizeResult *r, TsError *err)
{
    o->samples = (const char *[]){ npy_path };
    if (o->num_samples == 0)
        o->num_samples = 1;
    o->work_dir = dir;
    return ts_quantize_onnx(model_path, o, r, err);
}

/* The symmetric weight of a layer: a DequantizeLinear of int8 values with per-channel
 * scales along axis 0, every channel reaching +-127, within half a step of the float. */
static void check_weight(const Onnx__GraphProto *g, const Onnx__ModelProto *orig_mp,
                         const char *layer_input, const char *orig_name, int channels)
{
    const Onnx__NodeProto *dq = producer(g, layer_input);
    assert_non_null(dq);
    assert_string_equal(dq->op_type, "DequantizeLinear");
    assert_int_equal(dq->n_attribute, 1);
    assert_int_equal(dq->attribute[0]->i, 0);
    const Onnx__TensorProto *q = init(g, dq->input[0]), *s = init(g, dq->input[1]);
    const Onnx__TensorProto *f = init(orig_mp->graph, orig_name);
    assert_non_null(q);
    assert_non_null(s);
    assert_int_equal(q->data_type, ONNX__TENSOR_PROTO__DATA_TYPE__INT8);
    assert_int_equal(s->n_dims, 1);
    assert_int_equal(s->dims[0], channels);
    const int8_t *qv = (const int8_t *)q->raw_data.data;
    const float *sv = (const float *)s->raw_data.data;
    size_t per = q->raw_data.len / (size_t)channels;
    assert_int_equal(f->n_float_data, q->raw_data.len);
    for (int c = 0; c < channels; c++) {
        int peak = 0;
        for (size_t i = 0; i < per; i++) {
            int v = qv[(size_t)c * per + i];
            peak = abs(v) > peak ? abs(v) : peak;
            float want = f->float_data[(size_t)c * per + i];
            assert_true(fabsf(v * sv[c] - want) <= sv[c] * 0.5f + 1e-7f);
        }
        assert_int_equal(peak, 127);
    }
    assert_null(init(g, orig_name)); /* the float weight is gone */
}

static void test_qdq_model(void **state)
{
    (void)state;
    TsQuantizeOptions o = ts_quantize_options_default();
    TsQuantizeResult r;
    TsError err;
    TsStatus st = quantize(&o, &r, &err);
    if (st != TS_OK)
        fail_msg("%s", err.message);
    assert_int_equal(r.num_samples, SAMPLES);
    assert_int_equal(r.num_layers, 2);
    assert_string_equal(r.layers[0].node, "conv");
    assert_string_equal(r.layers[1].node, "fc");
    assert_int_equal(r.num_tensors, 3); /* x, r (after the Relu), f; y is a graph output */
    const TsQuantTensor *x = tensor(&r, "x");
    float lo = samples[0], hi = samples[0];
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        lo = fminf(lo, samples[i]);
        hi = fmaxf(hi, samples[i]);
    }
    assert_float_equal(x->min, lo, 0);
    assert_float_equal(x->max, hi, 0);
    assert_true(tensor(&r, "r")->min >= 0);
    assert_float_equal(tensor(&r, "f")->max, tensor(&r, "r")->max, 0);

    Onnx__ModelProto *mp = unpack(&r);
    ModelBuilder *mb = mb_new(13); /* the original weights, for comparison */
    mb_init_f32(mb, "w", 4, (int64_t[]){ K, C, 3, 3 });
    mb_init_f32(mb, "b", 1, (int64_t[]){ K });
    mb_init_f32(mb, "W", 2, (int64_t[]){ 3, K * H * W });
    mb_init_f32(mb, "B", 1, (int64_t[]){ 3 });
    fill_weights(mb);
    Onnx__ModelProto *orig = mb_model(mb);
    const Onnx__GraphProto *g = mp->graph;
    const Onnx__NodeProto *conv = NULL, *fc = NULL;
    for (size_t i = 0; i < g->n_node; i++) {
        if (strcmp(g->node[i]->op_type, "Conv") == 0)
            conv = g->node[i];
        if (strcmp(g->node[i]->op_type, "Gemm") == 0)
            fc = g->node[i];
    }
    assert_non_null(conv);
    assert_non_null(fc);
    /* Activations: Q -> DQ of x before the conv, of r before the Flatten. */
    const Onnx__NodeProto *xdq = producer(g, conv->input[0]);
    assert_string_equal(xdq->op_type, "DequantizeLinear");
    const Onnx__NodeProto *xq = producer(g, xdq->input[0]);
    assert_string_equal(xq->op_type, "QuantizeLinear");
    assert_string_equal(xq->input[0], "x");
    const Onnx__TensorProto *xs = init(g, xq->input[1]), *xz = init(g, xq->input[2]);
    assert_float_equal(*(const float *)xs->raw_data.data, (float)x->scale, 0);
    assert_int_equal(xz->data_type, ONNX__TENSOR_PROTO__DATA_TYPE__UINT8);
    assert_int_equal(*(const uint8_t *)xz->raw_data.data, x->zero_point);
    check_weight(g, orig, conv->input[1], "w", K);
    check_weight(g, orig, fc->input[1], "W", 3);
    /* The conv's bias: int32, scale sx * sw[c]. */
    const Onnx__NodeProto *bdq = producer(g, conv->input[2]);
    const Onnx__TensorProto *bq = init(g, bdq->input[0]), *bs = init(g, bdq->input[1]);
    const Onnx__TensorProto *ws = init(g, producer(g, conv->input[1])->input[1]);
    const Onnx__TensorProto *bf = init(orig->graph, "b");
    assert_int_equal(bq->data_type, ONNX__TENSOR_PROTO__DATA_TYPE__INT32);
    for (int c = 0; c < K; c++) {
        float want_scale = (float)x->scale * ((const float *)ws->raw_data.data)[c];
        assert_float_equal(((const float *)bs->raw_data.data)[c], want_scale, 0);
        assert_int_equal(((const int32_t *)bq->raw_data.data)[c],
                         (int32_t)nearbyint(bf->float_data[c] / (double)want_scale));
    }
    /* The graph output stays float, straight from the Gemm. */
    assert_string_equal(fc->output[0], "y");
    mb_free(mb);
    onnx__model_proto__free_unpacked(mp, NULL);
    ts_quantize_result_free(&r);
}

/* --report: the fp32 and the QDQ model built and run on the samples; the SQNR of r, f and
 * the output y (x, the graph's input, left out), and the output's top-1 agreement over
 * the 5 samples. */
static void test_report(void **state)
{
    (void)state;
    TsQuantizeOptions o = ts_quantize_options_default();
    o.report = true;
    TsQuantizeResult r;
    TsError err;
    TsStatus st = quantize(&o, &r, &err);
    if (st != TS_OK)
        fail_msg("%s", err.message);
    assert_int_equal(r.num_report, 3);
    assert_string_equal(r.report[0].name, "r");
    assert_string_equal(r.report[1].name, "f");
    assert_string_equal(r.report[2].name, "y");
    for (int i = 0; i < 3; i++) {
        print_message("%s: %.2f dB\n", r.report[i].name, r.report[i].sqnr_db);
        assert_true(r.report[i].sqnr_db > 20 && r.report[i].sqnr_db < 80);
    }
    /* f is the Flatten of r's dequantized value: r's noise and its quantization's. */
    assert_true(r.report[1].sqnr_db < r.report[0].sqnr_db);
    assert_int_equal(r.report_rows, SAMPLES);
    assert_true(r.top1_agreement >= 0 && r.top1_agreement <= 100);
    TsArena *A = ts_arena_create();
    const char *text = ts_quantize_plan_str(A, &r);
    assert_non_null(strstr(text, "output top-1 agreement: "));
    ts_arena_destroy(A);
    ts_quantize_result_free(&r);
}

/* The JSON file gives every tensor: no calibration, no samples needed. */
static void test_user_params(void **state)
{
    (void)state;
    write_file(json_path, "{\"tensors\": {\"x\": {\"scale\": 0.02, \"zero_point\": 3},"
                          " \"r\": {\"min\": 0, \"max\": 6}, \"f\": {\"min\": 0, \"max\": 6}}}");
    TsQuantizeOptions o = ts_quantize_options_default();
    o.params_path = json_path;
    o.num_samples = -1; /* none */
    o.work_dir = dir;
    TsQuantizeResult r;
    TsError err;
    TsStatus st = ts_quantize_onnx(model_path, &o, &r, &err);
    if (st != TS_OK)
        fail_msg("%s", err.message);
    assert_int_equal(r.num_samples, 0);
    assert_true(tensor(&r, "x")->user);
    assert_float_equal(tensor(&r, "x")->scale, 0.02, 0);
    assert_int_equal(tensor(&r, "x")->zero_point, 3);
    assert_float_equal(tensor(&r, "r")->scale, (float)(6.0 / 255), 1e-12);
    ts_quantize_result_free(&r);
}

/* The conv in fp32: its weight stays float, only the Gemm's input is calibrated. */
static void test_fp32_layer(void **state)
{
    (void)state;
    TsQuantizeOptions o = ts_quantize_options_default();
    o.node_precisions = (const char *[]){ "conv=fp32" };
    o.num_node_precisions = 1;
    TsQuantizeResult r;
    TsError err;
    TsStatus st = quantize(&o, &r, &err);
    if (st != TS_OK)
        fail_msg("%s", err.message);
    assert_string_equal(r.layers[0].precision, "fp32");
    assert_string_equal(r.layers[0].why, "--node-precision");
    assert_int_equal(r.num_tensors, 1);
    assert_string_equal(r.tensors[0].name, "f");
    Onnx__ModelProto *mp = unpack(&r);
    assert_non_null(init(mp->graph, "w"));
    assert_null(init(mp->graph, "W"));
    onnx__model_proto__free_unpacked(mp, NULL);
    ts_quantize_result_free(&r);
}

static void expect_error(TsQuantizeOptions *o, const char *needle)
{
    TsQuantizeResult r;
    TsError err;
    TsStatus st = quantize(o, &r, &err);
    if (st == TS_OK || !strstr(err.message, needle))
        fail_msg("wanted an error containing \"%s\", got %s: %s", needle,
                 st == TS_OK ? "success" : "", st == TS_OK ? "" : err.message);
    assert_null(r.model);
}

static void expect_json_error(const char *json, const char *needle)
{
    write_file(json_path, json);
    TsQuantizeOptions o = ts_quantize_options_default();
    o.params_path = json_path;
    expect_error(&o, needle);
}

static void test_bad_input(void **state)
{
    (void)state;
    expect_json_error("{\"tensor\": {}}", "unknown key \"tensor\"");
    expect_json_error("{\"tensors\": {\"c\": {\"min\": 0, \"max\": 1}}}",
                      "tensors.\"c\": not a tensor this model quantizes");
    expect_json_error("{\"precision\": {\"relu\": \"fp32\"}}", "node \"relu\" is not a layer");
    expect_json_error("{\"precision\": {\"conv\": \"bf16\"}}", "not written yet");
    expect_json_error("{\"precision\": {\"conv\": \"int4\"}}", "unknown precision \"int4\"");
    expect_json_error("{\"tensors\": {\"x\": {\"scale\": 0, \"zero_point\": 0}}}",
                      "scale must be > 0");
    expect_json_error("{\"tensors\": {\"x\": {\"min\": 2, \"max\": 1}}}", "min 2 is above max 1");
    expect_json_error("{\"tensors\": {\"x\": {\"scale\": 1}}}", "give scale and zero_point");
    expect_json_error("{\"tensors\": ", "params.json:1");

    TsQuantizeOptions o = ts_quantize_options_default();
    o.node_precisions = (const char *[]){ "conv" };
    o.num_node_precisions = 1;
    expect_error(&o, "--node-precision conv: not NODE=PRECISION");

    char path[300];
    snprintf(path, sizeof path, "%s/wrong.npy", dir);
    write_npy(path, "<f4", 4, (int64_t[]){ 1, 3, H, W }, samples, sizeof(float) * 3 * H * W);
    o = ts_quantize_options_default();
    o.samples = (const char *[]){ path };
    o.num_samples = 1;
    o.work_dir = dir;
    TsQuantizeResult r;
    TsError err;
    assert_int_equal(ts_quantize_onnx(model_path, &o, &r, &err), TS_EINVAL);
    assert_non_null(strstr(err.message, "wrong.npy: shape [1, 3, 6, 6] does not hold whole "
                                        "samples of the model input's [1, 2, 6, 6]"));
    write_npy(path, "<f8", 1, (int64_t[]){ 2 }, samples, 16);
    assert_int_equal(ts_quantize_onnx(model_path, &o, &r, &err), TS_EINVAL);
    assert_non_null(strstr(err.message, "wrong.npy: numpy dtype '<f8'"));
    write_file(path, "not numpy");
    assert_int_equal(ts_quantize_onnx(model_path, &o, &r, &err), TS_EINVAL);
    assert_non_null(strstr(err.message, "wrong.npy: not a numpy file"));
    o.samples = (const char *[]){ "/nonexistent/calib" };
    assert_int_equal(ts_quantize_onnx(model_path, &o, &r, &err), TS_EINVAL);
    assert_non_null(strstr(err.message, "/nonexistent/calib: no such sample file or folder"));
    o.num_samples = 0;
    assert_int_equal(ts_quantize_onnx(model_path, &o, &r, &err), TS_EINVAL);
    assert_non_null(strstr(err.message, "no calibration samples"));
    o = ts_quantize_options_default();
    o.method = TS_CALIB_PERCENTILE;
    o.percentile = 20;
    assert_int_equal(ts_quantize_onnx(model_path, &o, &r, &err), TS_EINVAL);
    assert_non_null(strstr(err.message, "percentile 20 is not in [50, 100]"));
    assert_int_equal(ts_quantize_onnx(npy_path, NULL, &r, &err), TS_EINVAL);
    assert_non_null(strstr(err.message, "calib.npy: not an ONNX model"));
}

/* A model without a Conv, Gemm or MatMul of constant weight. */
static void test_nothing_to_quantize(void **state)
{
    (void)state;
    char path[300];
    snprintf(path, sizeof path, "%s/relu.onnx", dir);
    ModelBuilder *mb = mb_new(13);
    mb_input(mb, "x", FLOAT, 2, (int64_t[]){ 1, 4 });
    mb_node(mb, "Relu", "x", "y");
    mb_output(mb, "y");
    mb_save(mb, path);
    mb_free(mb);
    TsQuantizeResult r;
    TsError err;
    assert_int_equal(ts_quantize_onnx(path, NULL, &r, &err), TS_EINVAL);
    assert_non_null(strstr(err.message, "relu.onnx has no layer to quantize"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_activation_params), cmocka_unit_test(test_thresholds),
        cmocka_unit_test(test_qdq_model),         cmocka_unit_test(test_report),
        cmocka_unit_test(test_user_params),       cmocka_unit_test(test_fp32_layer),
        cmocka_unit_test(test_bad_input),         cmocka_unit_test(test_nothing_to_quantize),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
