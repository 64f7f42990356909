/* Whole models in the device runtime (libtessera_runtime, no LLVM): the serialized form a
 * model's shared object carries in its module table (version 3), and the graph executor
 * that runs it.
 *
 *   TsModule *module;
 *   TsGraphExecutor *ex;
 *   if (ts_module_load("resnet18.so", &module, &err) != TS_OK ||
 *       ts_graph_executor_create(module, &ex, &err) != TS_OK) ...
 *   ts_graph_executor_set_input(ex, 0, image, image_bytes, &err);
 *   ts_graph_executor_run(ex, &err);
 *   ts_graph_executor_get_output(ex, 0, logits, logits_bytes, &err);
 *   ts_graph_executor_free(ex);
 *   ts_module_release(module);
 *
 * The format. A model's table sets TS_MODULE_HAS_MODEL in flags and points at three
 * blobs, each with its size in bytes:
 *   - graph: a TsModelGraphHeader, then num_tensors TsModelTensor records, num_calls
 *     TsModelCall records, num_args uint32 tensor indices (the calls' arguments, in
 *     order), num_inputs and num_outputs uint32 tensor indices (the graph's inputs and
 *     outputs in the model's order), and strings_bytes bytes of NUL-terminated names that
 *     the records name by offset. The sizes add up to graph_bytes exactly.
 *   - weights: the constant tensors, each at a 64-byte-aligned offset, the blob itself
 *     64-byte aligned.
 *   - memory plan: a TsModelPlanHeader, then one uint64 offset per tensor: where an
 *     ARENA tensor lives in the arena (64-byte aligned, inside arena_bytes); other
 *     tensors have TS_MODEL_NO_OFFSET.
 * Integers are in the target's byte order. The loader checks every field (magic,
 * version, counts, offsets, dtypes, shapes, the kernels named and their signatures)
 * and refuses a malformed model naming the file and the field, so that running it
 * afterwards reads nothing out of bounds.
 */
#ifndef TESSERA_GRAPH_EXECUTOR_H
#define TESSERA_GRAPH_EXECUTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tessera/dtype.h"
#include "tessera/error.h"
#include "tessera/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the serialized model ---- */

#define TS_MODEL_GRAPH_MAGIC 0x4d475354u /* "TSGM" */
#define TS_MODEL_PLAN_MAGIC 0x504d5354u  /* "TSMP" */
#define TS_MODEL_FORMAT_VERSION 1u
#define TS_MODEL_MAX_DIMS 8
#define TS_MODEL_ALIGN 64
#define TS_MODEL_NO_OFFSET UINT64_MAX

/* Where a tensor's data live while the model runs. */
typedef enum TsModelStorage {
    TS_MODEL_INPUT = 1,  /* graph input `index`, set by the caller */
    TS_MODEL_OUTPUT = 2, /* graph output `index`, read by the caller */
    TS_MODEL_WEIGHT = 3, /* at `offset` in the weights blob */
    TS_MODEL_ARENA = 4   /* at the memory plan's offset in the arena */
} TsModelStorage;

typedef struct TsModelGraphHeader {
    uint32_t magic;   /* TS_MODEL_GRAPH_MAGIC */
    uint32_t version; /* TS_MODEL_FORMAT_VERSION */
    uint32_t num_tensors;
    uint32_t num_calls;
    uint32_t num_args;
    uint32_t num_inputs;
    uint32_t num_outputs;
    uint32_t strings_bytes;
} TsModelGraphHeader;

typedef struct TsModelTensor {
    uint32_t name;    /* offset of its name in the strings */
    uint32_t storage; /* a TsModelStorage */
    uint32_t index;   /* INPUT, OUTPUT: its position among the graph's; else 0 */
    TsDType dtype;
    int32_t ndim; /* 0..TS_MODEL_MAX_DIMS */
    uint32_t reserved;
    uint64_t offset; /* WEIGHT: byte offset in the weights; else 0 */
    int64_t shape[TS_MODEL_MAX_DIMS];
} TsModelTensor;

/* One kernel call: the module table's function called `func`, with the tensors
 * args[first_arg .. first_arg + num_args) in order. */
typedef struct TsModelCall {
    uint32_t func; /* offset of the kernel's name in the strings */
    uint32_t first_arg;
    uint32_t num_args;
    uint32_t reserved;
} TsModelCall;

typedef struct TsModelPlanHeader {
    uint32_t magic;   /* TS_MODEL_PLAN_MAGIC */
    uint32_t version; /* TS_MODEL_FORMAT_VERSION */
    uint32_t num_tensors; /* the graph's */
    uint32_t reserved;
    uint64_t arena_bytes;
} TsModelPlanHeader;

/* ---- the graph executor ---- */

typedef struct TsGraphExecutor TsGraphExecutor;

/* Whether module carries a whole model (else kernels alone). */
bool ts_module_has_model(const TsModule *module);

/* An executor for the model of module (retained): its inputs, outputs and arena
 * allocated, every call's arguments bound. TS_EINVAL when the module holds no model. */
TsStatus ts_graph_executor_create(TsModule *module, TsGraphExecutor **out, TsError *err);
void ts_graph_executor_free(TsGraphExecutor *ex);

int ts_graph_executor_num_inputs(const TsGraphExecutor *ex);
int ts_graph_executor_num_outputs(const TsGraphExecutor *ex);
/* Name, dtype and shape (valid while ex lives) of input or output i; TS_EINVAL for an i
 * out of range. Any of name, dtype, ndim, shape may be NULL. */
TsStatus ts_graph_executor_input_info(const TsGraphExecutor *ex, int i, const char **name,
                                      TsDType *dtype, int *ndim, const int64_t **shape,
                                      TsError *err);
TsStatus ts_graph_executor_output_info(const TsGraphExecutor *ex, int i, const char **name,
                                       TsDType *dtype, int *ndim, const int64_t **shape,
                                       TsError *err);
/* The index of the input called name, or -1. */
int ts_graph_executor_input_index(const TsGraphExecutor *ex, const char *name);
/* The byte size of input or output i (0 for an i out of range). */
size_t ts_graph_executor_input_bytes(const TsGraphExecutor *ex, int i);
size_t ts_graph_executor_output_bytes(const TsGraphExecutor *ex, int i);

/* Copies nbytes (exactly the input's size, dense row-major) into input i. */
TsStatus ts_graph_executor_set_input(TsGraphExecutor *ex, int i, const void *data, size_t nbytes,
                                     TsError *err);
TsStatus ts_graph_executor_set_input_by_name(TsGraphExecutor *ex, const char *name,
                                             const void *data, size_t nbytes, TsError *err);
/* Runs every call in order on the runtime's thread pool (the kernels' parallel loops).
 * A failing kernel stops the run with TS_EDEVICE naming the call, the kernel and its
 * message. */
TsStatus ts_graph_executor_run(TsGraphExecutor *ex, TsError *err);
/* Copies output i (exactly its byte size) to data. */
TsStatus ts_graph_executor_get_output(const TsGraphExecutor *ex, int i, void *data, size_t nbytes,
                                      TsError *err);
/* Times whole runs with the time evaluator (ts_time_evaluate): options->repeat costs,
 * in seconds, to costs. */
TsStatus ts_graph_executor_time(TsGraphExecutor *ex, const TsTimeOptions *options, double *costs,
                                TsError *err);
/* The arena's size in bytes (what the memory plan reuses across intermediates). */
uint64_t ts_graph_executor_arena_bytes(const TsGraphExecutor *ex);
int ts_graph_executor_num_calls(const TsGraphExecutor *ex);

#ifdef __cplusplus
}
#endif

#endif /* TESSERA_GRAPH_EXECUTOR_H */
