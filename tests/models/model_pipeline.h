/* A whole ONNX model through Tessera's pipeline from a test, by the public C API, as
 * `tessera build` and `tessera run` do it: import (ts_graph_import_onnx), build one shared
 * object (ts_graph_build: passes, kernels, graph, weights, memory plan), load it
 * (ts_module_load), run it in the graph executor on inputs from TensorProto files, and save
 * every output as output_N.pb for the comparison with the reference (tensor_compare.h).
 * Used by the node-test pipeline and the whole-model tests. */
#ifndef TESSERA_TESTS_MODELS_MODEL_PIPELINE_H
#define TESSERA_TESTS_MODELS_MODEL_PIPELINE_H

#include <stdbool.h>

#include "tessera/tessera.h"

/* Where a model stopped. */
typedef enum MpStage {
    MP_OK,
    MP_IMPORT, /* the importer refused it */
    MP_BUILD,  /* the build refused it */
    MP_LOAD,   /* the built object did not load, or the executor refused it */
    MP_INPUT,  /* an input file is missing, unreadable or of the wrong size */
    MP_RUN,    /* the run failed */
    MP_OUTPUT  /* an output could not be written */
} MpStage;

typedef struct MpModel {
    const char *model;          /* the .onnx file */
    const TsInputValue *values; /* inputs bound to constants at import (may be NULL) */
    int num_values;
    const char *so;            /* where the shared object goes */
    const char *const *inputs; /* TensorProto files, in the executor's input order */
    int num_inputs;
    const char *out_dir; /* output_N.pb go here (created) */
} MpModel;

typedef struct MpResult {
    MpStage stage;
    TsError err;        /* why it stopped, when stage != MP_OK */
    TsBuildStats stats; /* what the build made */
    int num_notes;      /* the build's notes (defaults chosen, ...) */
    int num_outputs;
} MpResult;

const char *mp_stage_name(MpStage stage);

/* Imports, builds, loads, runs and saves the outputs. Returns true when every step
 * succeeded; otherwise result says which step stopped and why. */
bool mp_run_model(const MpModel *m, MpResult *result);

#endif /* TESSERA_TESTS_MODELS_MODEL_PIPELINE_H */
