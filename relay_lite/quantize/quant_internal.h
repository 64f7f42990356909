/* What the files of relay_lite/quantize/ share: calibration samples (samples.c), the
 * calibration runs and their statistics (calibrate.c), the parameters and the user's
 * JSON file (params.c), the QDQ rewrite of the ModelProto (qdq.c); quantize.c drives
 * them (ts_quantize_onnx). */
#ifndef TESSERA_RELAY_QUANT_INTERNAL_H
#define TESSERA_RELAY_QUANT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "relay_lite/onnx_proto.h"
#include "tessera/quantize.h"

#define QUANT_HIST_BINS 2048

/* Calibration samples of the model's input: count samples of sample_elements floats. */
typedef struct QuantSamples {
    int count;
    int64_t sample_elements;
    float *data;
} QuantSamples;

/* Reads options->samples for an input of shape [ndim] (its batch included): each file
 * holds a multiple of the input's elements with the same trailing dimensions. */
TsStatus quant_read_samples(const TsQuantizeOptions *options, int ndim, const int64_t *shape,
                            QuantSamples *out, TsError *err);
void quant_samples_free(QuantSamples *samples);

/* What calibration saw of one tensor. */
typedef struct QuantStats {
    double min, max;
    double hist[QUANT_HIST_BINS]; /* over [min, max] (percentile) or [0, max |x|] */
    int64_t count;
} QuantStats;

/* Builds the model (bytes, a ModelProto whose graph outputs include every name but the
 * graph's input, is_input[i]) and runs it on every sample; fills stats[i] for names[i]:
 * min and max, then, for the percentile and entropy methods, the histogram of a second
 * pass. The input's statistics are the samples'. */
TsStatus quant_calibrate(const uint8_t *bytes, size_t size, const char *model_path,
                         const TsQuantizeOptions *options, const QuantSamples *samples,
                         int num_names, const char *const *names, const bool *is_input,
                         QuantStats *stats, TsError *err);

/* The clipping range of a tensor from its statistics by the method. */
void quant_clip_range(const QuantStats *stats, const TsQuantizeOptions *options, double *lo,
                      double *hi);

/* The user's JSON file, in two phases: first its precisions and default precision (the
 * keys checked), applied to result's layers; then (tensors_phase) its tensors'
 * parameters, to result's tensors. An unknown key, node or tensor name is an error
 * naming it. */
TsStatus quant_apply_params_file(const char *path, TsQuantizeResult *result, bool tensors_phase,
                                 TsError *err);
/* "NODE=PRECISION" entries of the command line. */
TsStatus quant_apply_node_precisions(const TsQuantizeOptions *options, TsQuantizeResult *result,
                                     TsError *err);
/* Checks a precision name: "int8" and "fp32" are accepted; "bf16" and low-bit names are
 * refused as not written yet; where names the source in the message. */
TsStatus quant_check_precision(const char *precision, const char *where, TsError *err);

/* A quantized layer of the model, as the QDQ writer needs it. */
typedef struct QuantLayer {
    int node;          /* index in graph->node */
    const char *input; /* the activation input */
    const char *weight;
    const char *bias;   /* NULL: none (or not a 1-D initializer: left float) */
    int weight_axis;    /* the output-channel axis of the weight */
    const char *output; /* the output point (the Relu's or Clip's when it follows), or NULL
                           when it is a graph output */
    int input_tensor, output_tensor; /* indices in result->tensors, -1 for none */
} QuantLayer;

/* Rewrites mp in place into the QDQ form of the int8 layers; per_channel false gives
 * per-tensor weight scales. */
TsStatus quant_write_qdq(Onnx__ModelProto *mp, const QuantLayer *layers, int num_layers,
                         const TsQuantizeResult *result, bool per_channel, TsError *err);

#endif /* TESSERA_RELAY_QUANT_INTERNAL_H */
