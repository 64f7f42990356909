/* Shared by the graph builder's files (build.c, build_kernel.c, build_model.c): a model
 * being built, the kernels of its groups, and the serialized model they become. */
#ifndef TESSERA_RELAY_RLY_BUILD_H
#define TESSERA_RELAY_RLY_BUILD_H

#include <stdbool.h>
#include <stdint.h>

#include "relay_lite/rly_internal.h"
#include "tessera/autotune.h"
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
    /* Scratch values (rly_build_value without data): after the memory plan's arena, one
     * region every group reuses, since they live within one group's kernels. */
    int num_scratch;
    const RlyValue **scratch;
    int64_t *scratch_offset;
    int64_t scratch_bytes;
    int64_t scratch_cursor; /* the current group's use so far */
    /* build_layout.c: per group (as in groups), its template's input and output channel
     * blocks (0: no blocked-layout group); the values kept blocked between groups and
     * their blocked values. */
    int64_t *in_block, *out_block;
    int64_t *in_want; /* per group: the input block a conv takes from its producer, or 0 */
    /* Per group: the channel block a depthwise group computes in instead of its
     * config's, to match the block its reader wants (0: its config's). */
    int64_t *depthwise_block;
    int num_kept;
    const RlyValue **kept;
    RlyValue **kept_blocked;
    TsBuildStats stats;
} RlyBuild;

/* workload.c: the template workload of a node (an anchored group's anchor). */
typedef struct RlyWorkload {
    char op[32]; /* "conv2d", "depthwise_conv2d", "dense", "pool2d" */
    TsTemplateArgs args;
    double flop;            /* one call */
    bool transposed_weight; /* dense: the graph's weight is [K, N] (MatMul, Gemm transB 0) */
} RlyWorkload;

/* False when no template serves node (its group keeps the generic schedule). */
bool rly_node_workload(const TsGraph *graph, const RlyNode *node, RlyWorkload *out);

/* ---- build_kernel.c: a group's DAG and the generic schedule ---- */

/* The graph values of a kernel being built and the te tensors that stand for them. */
typedef struct RlyValueMap {
    int num, capacity;
    const RlyValue **values;
    TsTensor **tensors;
} RlyValueMap;

TsStatus rly_map_init(RlyBuild *b, RlyValueMap *map, int capacity, TsError *err);
int rly_group_map_capacity(const RlyGroup *group);
TsTensor *rly_map_find(const RlyValueMap *map, const RlyValue *value);
void rly_map_add(RlyValueMap *map, const RlyValue *value, TsTensor *tensor);
/* Placeholders for the group's inputs the map lacks. */
TsStatus rly_group_placeholders(RlyBuild *b, const RlyGroup *group, RlyValueMap *map, TsError *err);
/* rly_lower_node for the group's nodes (but skip), their outputs added to the map. */
TsStatus rly_group_lower_nodes(RlyBuild *b, const RlyGroup *group, const RlyNode *skip,
                               RlyValueMap *map, TsError *err);
/* The tensors of the group's outputs (copies where one is a placeholder or repeated). */
TsStatus rly_group_outputs(RlyBuild *b, const RlyGroup *group, RlyValueMap *map, TsTensor **outputs,
                           TsError *err);
/* The generic schedule (see build_kernel.c) of the DAG of outputs. */
TsStatus rly_schedule_generic(RlyBuild *b, TsSchedule *sch, int num_outputs,
                              TsTensor *const *outputs, TsError *err);
/* Lowers sch as kernel name and binds its arguments to the map's values. */
TsStatus rly_lower_kernel(RlyBuild *b, TsSchedule *sch, const RlyGroup *group,
                          const RlyValueMap *map, const char *name, RlyKernel *out, TsError *err);
/* The group's outputs from the map, generically scheduled, lowered and bound. */
TsStatus rly_generic_kernel(RlyBuild *b, const RlyGroup *group, RlyValueMap *map, const char *name,
                            RlyKernel *out, TsError *err);
/* "k<group id>_<op><suffix>". */
const char *rly_kernel_name(RlyBuild *b, const RlyGroup *group, const char *suffix);
/* The kernel of group with the generic schedule. */
TsStatus rly_build_kernel(RlyBuild *b, const RlyGroup *group, RlyKernel *out, TsError *err);

/* ---- build_template.c: anchored groups scheduled by their template ---- */

/* Builds group's kernels (one to three) with the template of its anchor's workload and
 * the best config of the logs, appending them to b->kernels. *handled false (no
 * kernel added) when no template serves the group; a template that cannot take the
 * group's fused nodes leaves it to the generic schedule with a note. */
TsStatus rly_build_anchored(RlyBuild *b, const RlyGroup *group, bool *handled, TsError *err);
/* build_qconv.c: an integer convolution group (tessera.QConv, QLinearConv) on the int8
 * conv2d templates, the activation zero point folded into the bias; *handled false (with
 * a note) when the group keeps the generic schedule. */
TsStatus rly_build_qconv(RlyBuild *b, const RlyGroup *group, bool *handled, TsError *err);
/* A value the build makes (a packed weight, a blocked intermediate): a constant when data
 * is not NULL, else a scratch buffer in the arena, live within its group's kernels. */
RlyValue *rly_build_value(RlyBuild *b, const char *name, TsDType dtype, int ndim,
                          const int64_t *dims, const void *data);

/* ---- build_transform.c: layout transforms as kernels of their own ---- */

/* Schedules out, a pack, unpack or repack (te/ops' nchwc transforms, inlined into one
 * stage) of in, along the blocked side's order. */
TsStatus rly_schedule_layout(RlyBuild *b, TsSchedule *sch, TsTensor *out, const TsTensor *in,
                             TsError *err);
/* Appends group's kernel "k<id>_<op><suffix>" that converts value from into to (NCHW and
 * NCHW[x]c either way, or between two blocks). */
TsStatus rly_layout_kernel(RlyBuild *b, const RlyGroup *group, const RlyValue *from,
                           const RlyValue *to, const char *suffix, TsError *err);

/* ---- build_layout.c: blocked values kept between groups ---- */

/* Decides which group outputs stay blocked (after the groups exist, before kernels). */
TsStatus rly_plan_layouts(RlyBuild *b, TsError *err);
/* The config apply-best picked for group, with the input block agreed with its
 * producer's output block (b->in_want), as the layout plan assumed. */
void rly_build_agreed_config(const RlyBuild *b, const RlyGroup *group, TsConfig *config);
/* The blocked value ([N, C / cb, H, W, cb]) standing for v, or NULL when v is NCHW. */
RlyValue *rly_build_kept(const RlyBuild *b, const RlyValue *v);
/* The graph value whose storage v has: the graph value of a blocked value, else v. */
const RlyValue *rly_build_home(const RlyBuild *b, const RlyValue *v);
/* config with its depthwise channel block ("tile_c") set to block, into out; false when
 * the task's space has no such block or the template refuses the result. */
bool rly_depthwise_block_config(const TsTuneTask *task, const TsConfig *config, int64_t block,
                                TsConfig *out);
/* Whether group reads or writes a value kept blocked. */
bool rly_group_touches_kept(const RlyBuild *b, const RlyGroup *group);

/* build_model.c: the serialized model of b's kernels (graph_executor.h's format), in
 * malloc'ed blobs that rly_model_blobs_free releases. */
TsStatus rly_serialize_model(const RlyBuild *b, TsModelBlobs *out, TsError *err);
void rly_model_blobs_free(TsModelBlobs *blobs);

/* Prints a note through the options' handler (stderr without one). */
void rly_build_note(const RlyBuild *b, const char *fmt, ...) TS_PRINTF_LIKE(2, 3);

#endif /* TESSERA_RELAY_RLY_BUILD_H */
