/* The model forms of `tessera build` and `tessera run` (tools/cmd_model.c), called by
 * cmd_build.c and cmd_run.c when their command line names a model. */
#ifndef TESSERA_TOOLS_MODEL_TOOLS_H
#define TESSERA_TOOLS_MODEL_TOOLS_H

#include <stdbool.h>

#include "tessera/rpc.h"
#include "tessera/runtime.h"

enum { TOOL_MAX_MODEL_INPUTS = 64 };

/* `tessera run MODEL.so` as parsed by cmd_run.c. */
typedef struct ToolModelRun {
    const char *path;
    const char *inputs[TOOL_MAX_MODEL_INPUTS]; /* --input files, in the graph's input order */
    int num_inputs;
    const char *save_dir; /* --save-outputs, or NULL */
    TsTimeOptions time;
} ToolModelRun;

/* Whether a `tessera build` command line names an ONNX model (a word ending in .onnx
 * that is no option's value). */
bool tool_names_onnx_model(int argc, char **argv);
/* `tessera build MODEL.onnx ...`; argv[0] is "build". */
int tool_build_model(int argc, char **argv);
/* `tessera tune MODEL.onnx ...` (tools/cmd_tune_model.c); argv[0] is "tune". */
int tool_tune_model(int argc, char **argv);
/* Runs the model module carries (loaded from run->path). */
int tool_run_model(TsModule *module, const ToolModelRun *run);

/* Runs a model loaded on a device server, described there as described. */
int tool_run_model_remote(TsRpcSession *session, TsRpcModule module, const ToolModelRun *run,
                          const TsRpcGraphResult *described);

#endif /* TESSERA_TOOLS_MODEL_TOOLS_H */
