/* relay_lite: the graph level. An ONNX model imported into a graph of typed tensors,
 * with shapes and types inferred, verified and printable.
 *
 *   TsGraph *graph;
 *   TsImportOptions options = { 0 };
 *   if (ts_graph_import_onnx("model.onnx", &options, &graph, &err) != TS_OK) ...
 *   puts(ts_graph_str(arena, graph));
 *   ts_graph_free(graph);
 *
 * The importer reads opsets 7 to 21 of the default operator domain. It refuses, with a
 * message naming the culprit, what it cannot run: an operator or attribute value it does
 * not handle (naming the node, op type, opset and attribute), external data, control flow,
 * and dynamic dimensions that no input shape fixes.
 */
#ifndef TESSERA_RELAY_H
#define TESSERA_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tessera/arena.h"
#include "tessera/dtype.h"
#include "tessera/error.h"
#include "tessera/template.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The opsets of the default ONNX domain the importer reads. */
#define TS_ONNX_MIN_OPSET 7
#define TS_ONNX_MAX_OPSET 21

/* Rank limit of a graph tensor (te.h's TS_MAX_DIMS). */
#define TS_GRAPH_MAX_DIMS 8
#define TS_GRAPH_NAME_MAX 256

/* The shape of one graph input, e.g. parsed from "data=1x3x224x224". */
typedef struct TsInputShape {
    char name[TS_GRAPH_NAME_MAX];
    int ndim;
    int64_t dims[TS_GRAPH_MAX_DIMS];
} TsInputShape;

/* Parses "NAME=D0xD1x..." (each D a positive integer; "NAME=" alone is a scalar). */
TsStatus ts_input_shape_parse(const char *text, TsInputShape *out, TsError *err);

/* A graph input bound to a constant: the TensorProto file (`--input-value NAME=FILE.pb`)
 * that holds its value, for inputs that decide shapes (a Reshape's target). */
typedef struct TsInputValue {
    char name[TS_GRAPH_NAME_MAX];
    const char *path;
} TsInputValue;

typedef struct TsImportOptions {
    /* Shapes that replace those the model declares for the named inputs: they fix
     * symbolic dimensions. A symbolic leading (batch) dimension without one is fixed to 1,
     * with a note; any other symbolic dimension without one is an error. */
    const TsInputShape *input_shapes;
    int num_input_shapes;
    /* Inputs that become constants, with a note each: they leave the graph's inputs. */
    const TsInputValue *input_values;
    int num_input_values;
} TsImportOptions;

typedef struct TsGraph TsGraph;

/* Reads an ONNX model, builds its graph, verifies it and infers every shape and type that
 * does not wait for constant folding. On failure *out is NULL and err names the file and
 * the culprit. options may be NULL. */
TsStatus ts_graph_import_onnx(const char *path, const TsImportOptions *options, TsGraph **out,
                              TsError *err);
/* The same from the bytes of a serialized ModelProto; name stands for the file in messages. */
TsStatus ts_graph_import_onnx_bytes(const void *bytes, size_t size, const char *name,
                                    const TsImportOptions *options, TsGraph **out, TsError *err);
void ts_graph_free(TsGraph *graph);

/* Infers shapes and types again, filling those that a pass has since made known (a
 * Reshape whose target shape was folded into a constant). Callable any number of times. */
TsStatus ts_graph_infer(TsGraph *graph, TsError *err);
/* Checks the graph: every input defined, no cycle, dtypes and ranks that the operators
 * accept. The message names the node at fault. */
TsStatus ts_graph_verify(const TsGraph *graph, TsError *err);

/* ---- graph passes (relay_lite/pipeline.c) ----
 *
 * The passes run in a fixed order: remove_identity, fold_constants, eliminate_dead,
 * fold_batch_norm, fuse (groups of nodes that become one kernel each), memory_plan (the
 * intermediate values' offsets in one arena). ts_graph_num_passes and ts_graph_pass_name
 * list them. TS_DUMP=all or TS_DUMP=name,name,... prints the graph to stderr after the
 * named passes. */
typedef struct TsGraphOptions {
    /* The last pass to run (NULL: all of them). */
    const char *stop_after;
    /* Passes not to run. */
    const char *const *disabled;
    int num_disabled;
} TsGraphOptions;

/* Runs the passes over the graph, in place; after each pass that rewrites nodes the graph
 * is inferred and verified again. A pass name that does not exist is TS_EINVAL with the
 * valid names listed. options may be NULL. */
TsStatus ts_graph_optimize(TsGraph *graph, const TsGraphOptions *options, TsError *err);
int ts_graph_num_passes(void);
/* Pass i's name and a one-line summary; NULL out of range. */
const char *ts_graph_pass_name(int i);
const char *ts_graph_pass_summary(int i);

/* The graph as text, in arena (with the fusion groups and the memory plan once the
 * passes have made them); NULL (the arena records why) when memory runs out. */
const char *ts_graph_str(TsArena *arena, const TsGraph *graph);

/* What the importer chose on the user's behalf (a batch dimension fixed to 1 ...). */
int ts_graph_num_notes(const TsGraph *graph);
const char *ts_graph_note(const TsGraph *graph, int i);

int64_t ts_graph_opset(const TsGraph *graph);
int ts_graph_num_nodes(const TsGraph *graph);
const char *ts_graph_node_op(const TsGraph *graph, int i);

/* The graph's inputs (initializers excluded) and outputs, in the model's order. */
int ts_graph_num_inputs(const TsGraph *graph);
int ts_graph_num_outputs(const TsGraph *graph);
/* The name, dtype and shape of input or output i. Returns false when the shape is not
 * known yet (it waits for constant folding); ndim is then -1 or dims hold -1. */
bool ts_graph_input_type(const TsGraph *graph, int i, const char **name, TsDType *dtype, int *ndim,
                         int64_t dims[TS_GRAPH_MAX_DIMS]);
bool ts_graph_output_type(const TsGraph *graph, int i, const char **name, TsDType *dtype, int *ndim,
                          int64_t dims[TS_GRAPH_MAX_DIMS]);

/* ---- ONNX TensorProto files (relay_lite/tensor_file.c) ---- */

/* A dense tensor of a TensorProto file, data row-major in host order (malloc'ed). */
typedef struct TsTensorFile {
    TsDType dtype;
    int ndim;
    int64_t shape[TS_GRAPH_MAX_DIMS];
    void *data;
    size_t nbytes;
} TsTensorFile;

/* Reads a serialized TensorProto; the message names the file and what is wrong. */
TsStatus ts_tensor_file_read(const char *path, TsTensorFile *out, TsError *err);
void ts_tensor_file_free(TsTensorFile *tensor);
/* Writes one TensorProto (raw_data) named name, of nbytes of dense data. */
TsStatus ts_tensor_file_write(const char *path, const char *name, TsDType dtype, int ndim,
                              const int64_t *shape, const void *data, size_t nbytes,
                              TsError *err);

/* ---- tuning tasks of a model (relay_lite/tasks.c) ---- */

/* One distinct workload of the model's anchored groups: a template's operator and its
 * arguments (what `tessera tune OP KEY=VALUE...` takes), with its share of the model. */
typedef struct TsGraphTask {
    char op[32]; /* "conv2d", "depthwise_conv2d", "dense", "pool2d" */
    TsTemplateArgs args;
    double flop;  /* floating-point operations of one call */
    int count;    /* groups of the model with this workload */
    char node[TS_GRAPH_NAME_MAX]; /* the first node with it, for messages */
} TsGraphTask;

/* Runs the graph passes (when they have not run) and lists every distinct conv, dense,
 * depthwise and pool workload, in decreasing order of estimated time (flop * count).
 * *tasks is malloc'ed (free it); a model with none gives 0 tasks. */
TsStatus ts_graph_extract_tasks(TsGraph *graph, TsGraphTask **tasks, int *num_tasks,
                                TsError *err);

/* ---- building a whole model (relay_lite/build.c) ---- */

/* Reports what the builder chose on the user's behalf ("no record for task ..., using the
 * default config"). */
typedef void (*TsBuildNoteFn)(const char *message, void *user);

typedef struct TsBuildOptions {
    const char *target;       /* a target string; NULL means "llvm" */
    const char *const *logs;  /* tuning logs whose best records schedule the anchored groups */
    int num_logs;
    TsBuildNoteFn note;       /* NULL: notes go to stderr */
    void *note_user;
    bool keep_nchw;           /* convert every blocked group's data from and to NCHW (no
                                 blocked values kept between groups) */
} TsBuildOptions;

/* What a build made (may be NULL). */
typedef struct TsBuildStats {
    int num_kernels;
    int num_tuned;    /* anchored groups scheduled by a template with a tuning record */
    int num_default;  /* anchored groups scheduled by a template's default config */
    int num_generic;  /* groups with the generic schedule */
    int num_kept_blocked; /* values kept in a blocked layout between groups */
    int64_t arena_bytes;
    int64_t weights_bytes;
} TsBuildStats;

/* Compiles graph into one shared object at out_path: the graph passes run (fusion and
 * memory planning), each fused group becomes a kernel (an anchored conv or dense group
 * scheduled by its template with the best config of the logs, or the default config
 * with a note; other groups by a generic schedule), and the kernels, the serialized
 * graph, the weights and the memory plan go into one module table that
 * ts_module_load and the graph executor (graph_executor.h) read. options may be NULL. */
TsStatus ts_graph_build(TsGraph *graph, const TsBuildOptions *options, const char *out_path,
                        TsBuildStats *stats, TsError *err);

#ifdef __cplusplus
}
#endif

#endif /* TESSERA_RELAY_H */
