/* Post-training quantization of an fp32 ONNX model (relay_lite/quantize*.c, `tessera
 * quantize`).
 *
 *   TsQuantizeOptions options = ts_quantize_options_default();
 *   options.samples = (const char *[]){ "calib/" };   // .pb and .npy files, or folders
 *   options.num_samples = 1;
 *   TsQuantizeResult result;
 *   if (ts_quantize_onnx("model.onnx", &options, &result, &err) != TS_OK) ...
 *   puts(ts_quantize_plan_str(arena, &result));
 *   // result.model, result.model_size: the QDQ model's bytes
 *   ts_quantize_result_free(&result);
 *
 * Calibration. The model is built with every tensor to be quantized made an output of the
 * graph, and run on each sample; the ranges seen give each tensor its clipping range:
 *   minmax      the smallest and largest values seen;
 *   percentile  the given percentile of the values at the top (and 100 minus it at the
 *               bottom), over a histogram of 2048 bins;
 *   entropy     the threshold that keeps the Kullback-Leibler divergence between the
 *               histogram of |values| and its quantized form smallest (TensorRT's method).
 * Scheme (the TFLite specification's, 8 bits):
 *   activations asymmetric per tensor: scale = (max - min) / 255 over a range holding 0,
 *               zero point = round(-min / scale) in [0, 255], stored as uint8 (TFLite's
 *               int8 values plus 128: the same arithmetic, in the form ONNX Runtime's
 *               QDQ models and the x86 u8 x s8 instructions, VNNI and AMX, take);
 *   weights     symmetric per output channel: scale = max |w| / 127, zero point 0, values
 *               in [-127, 127] (per tensor for models of opsets 10 to 12, which have no
 *               per-axis DequantizeLinear, with a note);
 *   biases      int32 with scale = activation scale * weight scale, zero point 0.
 * Rounding is half to even, as QuantizeLinear's.
 *
 * What is quantized: Conv, Gemm and MatMul whose weight is an initializer. Each one's
 * activation input, and its output (or the output of the Relu or Clip that is its only
 * consumer, so that the activation folds into the requantization), gets one
 * QuantizeLinear -> DequantizeLinear pair; its weight and bias become integer
 * initializers behind a DequantizeLinear. Graph outputs stay float.
 *
 * The user's own parameters: a JSON file (options.params_path)
 *   { "tensors":   { "NAME": { "scale": S, "zero_point": Z } | { "min": A, "max": B } },
 *     "precision": { "NODE": "int8" | "fp32" },
 *     "default_precision": "int8" | "fp32" }
 * Its tensors override calibration (a tensor it names must be one that is quantized); its
 * precisions override the default. Unknown keys, names and values are errors naming them.
 *
 * Precisions: int8 or fp32 per layer (a node named by its ONNX name, or "#INDEX" for an
 * unnamed one). bf16 and low-bit layers are not in this writer yet: asking for one is an
 * error that says so.
 */
#ifndef TESSERA_QUANTIZE_H
#define TESSERA_QUANTIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tessera/arena.h"
#include "tessera/error.h"
#include "tessera/relay.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum TsCalibMethod { TS_CALIB_MINMAX, TS_CALIB_PERCENTILE, TS_CALIB_ENTROPY } TsCalibMethod;

/* "minmax", "percentile", "entropy"; false for another name. */
bool ts_calib_method_parse(const char *name, TsCalibMethod *out);
const char *ts_calib_method_name(TsCalibMethod method);

typedef struct TsQuantizeOptions {
    /* Input shapes (a symbolic batch fixed, say). */
    TsImportOptions import;
    /* Calibration samples for the model's one input: TensorProto (.pb) and numpy (.npy,
     * float32, C order) files, or folders of them (read in name order). A file holds
     * one sample of the input's shape, or several stacked along the first dimension. */
    const char *const *samples;
    int num_samples;
    TsCalibMethod method;
    double percentile;             /* for TS_CALIB_PERCENTILE, in [50, 100]; default 99.99 */
    const char *params_path;       /* the user's JSON file, or NULL */
    const char *default_precision; /* "int8" (the default) or "fp32" */
    /* "NODE=PRECISION" entries, applied after the JSON file's. */
    const char *const *node_precisions;
    int num_node_precisions;
    /* Where the calibration build goes (NULL: $TMPDIR, else /tmp); removed afterwards. */
    const char *work_dir;
    /* After writing the QDQ model, build it and the fp32 model and run both on the
     * samples: the SQNR of every quantized activation and of the output, and the output's
     * top-1 agreement (TsQuantizeResult's report). */
    bool report;
    TsBuildNoteFn note; /* NULL: notes go to stderr */
    void *note_user;
} TsQuantizeOptions;

TsQuantizeOptions ts_quantize_options_default(void);

/* One layer of the precision plan. */
typedef struct TsQuantLayer {
    char node[TS_GRAPH_NAME_MAX];
    char op[32];
    char precision[8]; /* "int8" or "fp32" */
    char why[96];      /* what chose it: "default", "--node-precision", the JSON file */
} TsQuantLayer;

/* The quantization parameters of one activation tensor. */
typedef struct TsQuantTensor {
    char name[TS_GRAPH_NAME_MAX];
    double min, max; /* the range calibration saw (min <= max) */
    double lo, hi;   /* the clipping range the method chose */
    double scale;
    int32_t zero_point;
    bool user; /* given by the JSON file */
} TsQuantTensor;

/* What quantization costs at one tensor: the signal-to-quantization-noise ratio of the QDQ
 * model's values against the fp32 model's, 10 log10(sum ref^2 / sum (ref - q)^2) over
 * every sample, in dB (INFINITY where they are equal). */
typedef struct TsQuantReport {
    char name[TS_GRAPH_NAME_MAX];
    double sqnr_db;
} TsQuantReport;

typedef struct TsQuantizeResult {
    int num_layers;
    TsQuantLayer *layers;
    int num_tensors;
    TsQuantTensor *tensors;
    int num_samples; /* calibration runs */
    uint8_t *model;  /* the QDQ model, a serialized ModelProto */
    size_t model_size;
    /* With options.report: one entry per quantized activation (the graph's input left
     * out), then the graph's first output; top1_agreement is the percentage of that
     * output's rows (over every sample and batch row) whose largest element is at the
     * same place in both models. */
    int num_report;
    TsQuantReport *report;
    double top1_agreement;
    int report_rows;
} TsQuantizeResult;

/* Calibrates the model at model_path on the samples, chooses the parameters and writes
 * the QDQ model into out (free it with ts_quantize_result_free). Every failure names its
 * culprit: the model, a sample file, the JSON file and its key, a node. */
TsStatus ts_quantize_onnx(const char *model_path, const TsQuantizeOptions *options,
                          TsQuantizeResult *out, TsError *err);
void ts_quantize_result_free(TsQuantizeResult *result);

/* The plan as text: one line a layer, then one a tensor. NULL when the arena fails. */
const char *ts_quantize_plan_str(TsArena *arena, const TsQuantizeResult *result);

/* ---- the arithmetic, for tests and for users who bring their own ranges ---- */

/* Asymmetric uint8 parameters of the range [lo, hi] (widened to hold 0). */
void ts_quant_activation_params(double lo, double hi, double *scale, int32_t *zero_point);
/* The clipping threshold of |x| by the entropy method, from a histogram of |x| of
 * num_bins bins over [0, max_abs], for num_levels quantized levels (128 for a signed
 * range, 256 for a range of one sign). */
double ts_quant_entropy_threshold(const double *hist, int num_bins, double max_abs, int num_levels);
/* The value below which percent % of a histogram of num_bins bins over [lo, hi] lies. */
double ts_quant_histogram_percentile(const double *hist, int num_bins, double lo, double hi,
                                     double percent);

#ifdef __cplusplus
}
#endif

#endif /* TESSERA_QUANTIZE_H */
