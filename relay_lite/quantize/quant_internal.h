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
#include "tessera/graph_executor.h"
#include "tessera/quantize.h"
#include "tessera/runtime.h"

#define QUANT_HIST_BINS 2048

/* A note to the user (options->note, else stderr). */
void quant_note(const TsQuantizeOptions *options, const char *fmt, ...) TS_PRINTF_LIKE(2, 3);

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

/* A model built and run for quantization's own measurements (run.c): bytes, a ModelProto
 * whose graph outputs include every name but the graph's input (is_input[i], may be NULL),
 * built into a scratch shared object and loaded; after quant_run_sample, buffers[i] holds
 * names[i]'s elements[i] floats for that sample. */
typedef struct QuantRun {
    TsModule *module;
    TsGraphExecutor *ex;
    int num_names;
    int *output_of; /* names[i]'s output index; -1 for the graph's input */
    float **buffers;
    int64_t *elements;
} QuantRun;

TsStatus quant_run_open(QuantRun *run, const uint8_t *bytes, size_t size, const char *model_path,
                        const TsQuantizeOptions *options, int num_names, const char *const *names,
                        const bool *is_input, int64_t input_elements, TsError *err);
TsStatus quant_run_sample(QuantRun *run, const QuantSamples *samples, int s, TsError *err);
void quant_run_close(QuantRun *run);

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

/* mp serialized with names (but the graph's inputs and outputs) appended to its graph
 * outputs; mp is left as it was. */
TsStatus quant_observed_model(Onnx__ModelProto *mp, int num, const char *const *names,
                              uint8_t **bytes, size_t *size, TsError *err);
bool quant_is_graph_input(const Onnx__GraphProto *g, const char *name);
bool quant_is_graph_output(const Onnx__GraphProto *g, const char *name);
/* The initializer called name, or NULL. */
const Onnx__TensorProto *quant_initializer(const Onnx__GraphProto *g, const char *name);

/* The report (report.c): the fp32 model (its bytes) and result's QDQ model run on the
 * samples; per activation tensor (the graph's input left out) and for the graph's first
 * output, the SQNR of the QDQ model's values against the fp32 model's, and the top-1
 * agreement of that output's rows. */
TsStatus quant_report(const uint8_t *fp32, size_t fp32_size, const char *model_path,
                      const TsQuantizeOptions *options, const QuantSamples *samples,
                      TsQuantizeResult *result, TsError *err);

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
