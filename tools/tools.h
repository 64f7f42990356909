/* The `tessera` command's private header: the subcommands main.c dispatches to, and the
 * operator and schedule tables of `tessera lower` (tools/lower_ops.c,
 * tools/lower_schedules.c), which tools/cmd_lower.c reads to parse a command line, list
 * what exists, build the operator and schedule it. */
#ifndef TESSERA_TOOLS_H
#define TESSERA_TOOLS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#ifdef TESSERA_COMMAND_RUNTIME_ONLY
/* A board's runtime-only `tessera` (no compiler): the runtime's headers alone. */
#include "tessera/rpc.h"
#else
#include "tessera/tessera.h"
#endif

/* A subcommand: argv[0] is its own name. Returns the process's exit status: 0 on
 * success, 1 when the request failed, 2 for a command line that cannot be parsed. */
typedef int (*ToolCommand)(int argc, char **argv);

enum { TOOL_EXIT_OK = 0, TOOL_EXIT_FAILED = 1, TOOL_EXIT_USAGE = 2 };

int tool_lower(int argc, char **argv);
/* `tessera graph MODEL.onnx`: import and print a model's graph (tools/cmd_graph.c). */
int tool_graph(int argc, char **argv);
/* `tessera quantize MODEL.onnx`: post-training quantization (tools/cmd_quantize.c). */
int tool_quantize(int argc, char **argv);
/* The runtime subcommands (also in the runtime-only build). */
int tool_rpc_server(int argc, char **argv);
int tool_rpc_info(int argc, char **argv);
int tool_tracker(int argc, char **argv);

#ifndef TESSERA_COMMAND_RUNTIME_ONLY

/* ---- tessera lower: operators and their keys ---- */

typedef enum ToolKeyKind {
    TOOL_KEY_POSITIVE, /* an integer in [1, TS_MAX_EXTENT] */
    TOOL_KEY_COUNT,    /* an integer in [0, TS_MAX_EXTENT] (padding) */
    TOOL_KEY_FLAG,     /* 0 or 1 */
    TOOL_KEY_WORD      /* one of `words`; the value is the word's index */
} ToolKeyKind;

enum { TOOL_MAX_KEYS = 16, TOOL_MAX_WORDS = 4, TOOL_MAX_SCHEDULES = 4 };

/* One key=value argument an operator takes. */
typedef struct ToolKey {
    const char *name;
    ToolKeyKind kind;
    bool required;
    int64_t def;                       /* the value when the key is not given */
    const char *def_text;              /* shown instead of def when not NULL */
    const char *words[TOOL_MAX_WORDS]; /* TOOL_KEY_WORD: the allowed words */
    const char *help;
} ToolKey;

/* The keys' values on one command line, parallel to the operator's key list. */
typedef struct ToolArgs {
    int64_t value[TOOL_MAX_KEYS];
    bool given[TOOL_MAX_KEYS];
} ToolArgs;

typedef struct ToolOp ToolOp;

/* Builds the operator from its arguments in dtype. Returns the output tensor, or NULL
 * with a message naming the operator and the culprit recorded in the arena. */
typedef TsTensor *(*ToolBuild)(TsArena *arena, const ToolOp *op, const ToolArgs *args,
                               TsDType dtype);

struct ToolOp {
    const char *name;
    const char *summary;
    ToolBuild build;
    ToolKey keys[TOOL_MAX_KEYS]; /* ends at the first key without a name */
    /* The named schedules that apply, besides "default" (which applies to every op). */
    const char *schedules[TOOL_MAX_SCHEDULES];
};

/* The operator named name, or NULL. */
const ToolOp *tool_find_op(const char *name);
int tool_num_ops(void);
const ToolOp *tool_op(int i);
int tool_num_keys(const ToolOp *op);
/* The index of key name in op's list, or -1. */
int tool_find_key(const ToolOp *op, const char *name);
/* The value of key name: the given one or its default. The name must be one of op's
 * keys (the tables are written together with their builders and schedules). */
int64_t tool_arg(const ToolOp *op, const ToolArgs *args, const char *name);
bool tool_arg_given(const ToolOp *op, const ToolArgs *args, const char *name);

/* ---- tessera lower: schedules ---- */

/* What a schedule works on: the operator, its arguments and the built DAG. */
typedef struct ToolJob {
    const ToolOp *op;
    const ToolArgs *args;
    TsTensor *output;
    TsSchedule *sch;
} ToolJob;

/* Applies a schedule's primitives; on failure returns the primitive's status with its
 * message in err. */
typedef TsStatus (*ToolApply)(const ToolJob *job, TsError *err);

typedef struct ToolSchedule {
    const char *name;
    const char *summary;
    ToolApply apply;
} ToolSchedule;

/* The schedule named name, or NULL. "default" applies no primitive. */
const ToolSchedule *tool_find_schedule(const char *name);
/* True when op offers schedule name ("default" is offered by every op). */
bool tool_op_has_schedule(const ToolOp *op, const char *name);

#endif /* !TESSERA_COMMAND_RUNTIME_ONLY */

#endif /* TESSERA_TOOLS_H */
