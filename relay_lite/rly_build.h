/* Shared by the graph builder's files (build.c, build_kernel.c, build_model.c): a model
 * being built, the kernels of its groups, and the serialized model they become. */
#ifndef TESSERA_RELAY_RLY_BUILD_H
#define TESSERA_RELAY_RLY_BUILD_H

#include <stdbool.h>
#include <stdint.h>

#include "relay_lite/rly_internal.h"
#include "tessera/codegen.h"
#include "tessera/graph_executor.h"
#include "tessera/template.h"

/* One group's kernel: the lowered function and, per argument, the graph value it reads
 * or writes. */
typedef struct RlyKernel {
    const RlyGroup *group;
    TsLoweredFunc *func;
    int num_args;
    const RlyValue **args;
} RlyKernel;

typedef struct RlyBuild {
    TsArena *arena; /* everything of the build: DAGs, schedules, kernels */
    TsGraph *graph;
    const TsBuildOptions *options;
    TsTarget *target;
    TsTemplateTarget isa;
    int num_groups;
    RlyGroup **groups; /* the graph's fusion groups, or one per node before fusion exists */
    int num_kernels;
    RlyKernel *kernels;
    TsBuildStats stats;
} RlyBuild;

/* build_kernel.c: the kernel of group (a DAG of placeholders for its inputs and
 * rly_lower_node for its nodes, scheduled) into *out. */
TsStatus rly_build_kernel(RlyBuild *b, const RlyGroup *group, RlyKernel *out, TsError *err);

/* build_model.c: the serialized model of b's kernels (graph_executor.h's format), in
 * malloc'ed blobs that rly_model_blobs_free releases. */
TsStatus rly_serialize_model(const RlyBuild *b, TsModelBlobs *out, TsError *err);
void rly_model_blobs_free(TsModelBlobs *blobs);

/* Prints a note through the options' handler (stderr without one). */
void rly_build_note(const RlyBuild *b, const char *fmt, ...) TS_PRINTF_LIKE(2, 3);

#endif /* TESSERA_RELAY_RLY_BUILD_H */
