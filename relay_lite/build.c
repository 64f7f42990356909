/* The graph builder (ts_graph_build): a whole model into one shared object. The flat
 * sequence:
 *   graph passes (fusion groups, memory plan)
 *     -> the values kept blocked between groups (build_layout.c)
 *     -> one kernel per group (build_kernel.c: te DAG, schedule, lowering)
 *     -> the serialized graph, weights and memory plan (build_model.c)
 *     -> every kernel and the model's table into one shared object (codegen)
 * Before the fusion pass has run on a graph (TsGraph.groups NULL), each node that
 * computes something is a group of its own, and without a memory plan each intermediate
 * gets a buffer of its own. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "relay_lite/rly_build.h"

void rly_build_note(const RlyBuild *b, const char *fmt, ...)
{
    char message[TS_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    if (b->options->note)
        b->options->note(message, b->options->note_user);
    else
        fprintf(stderr, "tessera build: %s\n", message);
}

/* Whether every output of node is a known constant (folded, or a Constant node): its
 * values go into the weights and it needs no kernel. */
static bool is_constant_node(const RlyNode *node)
{
    for (int k = 0; k < node->num_outputs; k++)
        if (node->outputs[k] && !node->outputs[k]->constant)
            return false;
    return true;
}

/* A group of node alone: its present inputs that are not repeated, its present outputs. */
static RlyGroup *single_group(TsArena *arena, RlyNode *node, int id)
{
    RlyGroup *g = ts_arena_alloc(arena, sizeof *g);
    RlyValue **inputs = ts_arena_alloc(arena, sizeof *inputs * (size_t)(node->num_inputs + 1));
    RlyValue **outputs = ts_arena_alloc(arena, sizeof *outputs * (size_t)(node->num_outputs + 1));
    RlyNode **nodes = ts_arena_alloc(arena, sizeof *nodes);
    if (!g || !inputs || !outputs || !nodes)
        return NULL;
    *g = (RlyGroup){ .id = id, .kind = RLY_GROUP_OPAQUE, .num_nodes = 1, .nodes = nodes,
                     .inputs = inputs, .outputs = outputs };
    nodes[0] = node;
    for (int k = 0; k < node->num_inputs; k++) {
        bool seen = !node->inputs[k];
        for (int j = 0; j < g->num_inputs && !seen; j++)
            seen = inputs[j] == node->inputs[k];
        if (!seen)
            inputs[g->num_inputs++] = node->inputs[k];
    }
    for (int k = 0; k < node->num_outputs; k++)
        if (node->outputs[k])
            outputs[g->num_outputs++] = node->outputs[k];
    return g;
}

/* The graph's fusion groups (the passes run first when they have not), or one group per
 * computing node when the pipeline leaves none. */
static TsStatus make_groups(RlyBuild *b, TsError *err)
{
    TsGraph *graph = b->graph;
    if (!graph->groups) {
        TsStatus st = ts_graph_optimize(graph, NULL, err);
        if (st != TS_OK)
            return st;
    }
    if (graph->groups) {
        b->num_groups = graph->num_groups;
        b->groups = graph->groups;
        return TS_OK;
    }
    b->groups = ts_arena_alloc(b->arena, sizeof *b->groups * (size_t)(graph->num_nodes + 1));
    if (!b->groups)
        return ts_arena_check(b->arena, err);
    for (int n = 0; n < graph->num_nodes; n++) {
        if (is_constant_node(graph->nodes[n]))
            continue;
        RlyGroup *g = single_group(b->arena, graph->nodes[n], b->num_groups);
        if (!g)
            return ts_arena_check(b->arena, err);
        b->groups[b->num_groups++] = g;
    }
    return TS_OK;
}

static TsStatus make_target(RlyBuild *b, TsError *err)
{
    const char *text = b->options->target ? b->options->target : "llvm";
    TsStatus st = ts_target_parse(text, &b->target, err);
    if (st != TS_OK)
        return st;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int num_cores = ts_target_is_host(b->target) && cores > 1 ? (int)cores : 1;
    return ts_template_target_init(&b->isa, ts_target_arch(b->target),
                                   ts_target_features(b->target), text, num_cores, err);
}

/* Each group's kernels: an anchored group's template kernels when a template serves it,
 * else one kernel with the generic schedule. */
static TsStatus build_kernels(RlyBuild *b, TsError *err)
{
    size_t most = 3 * (size_t)b->num_groups + 1; /* kernels, and scratch values */
    b->kernels = ts_arena_alloc(b->arena, sizeof *b->kernels * most);
    b->scratch = ts_arena_alloc(b->arena, sizeof *b->scratch * most);
    b->scratch_offset = ts_arena_alloc(b->arena, sizeof *b->scratch_offset * most);
    if (!b->kernels || !b->scratch || !b->scratch_offset)
        return ts_arena_check(b->arena, err);
    for (int i = 0; i < b->num_groups; i++) {
        bool handled = false;
        TsStatus st = rly_build_qconv(b, b->groups[i], &handled, err);
        if (st == TS_OK && !handled)
            st = rly_build_anchored(b, b->groups[i], &handled, err);
        if (st == TS_OK && !handled) {
            st = rly_build_kernel(b, b->groups[i], &b->kernels[b->num_kernels], err);
            b->num_kernels += st == TS_OK;
        }
        if (st != TS_OK)
            return st;
    }
    if (b->num_kernels == 0)
        return ts_fail(err, TS_EINVAL, "build: graph %s computes nothing", b->graph->name);
    return TS_OK;
}

static TsStatus emit(RlyBuild *b, const char *out_path, TsError *err)
{
    TsModelBlobs blobs;
    TsStatus st = rly_serialize_model(b, &blobs, err);
    if (st != TS_OK)
        return st;
    const TsLoweredFunc **funcs = ts_arena_alloc(b->arena, sizeof *funcs * (size_t)b->num_kernels);
    if (!funcs) {
        rly_model_blobs_free(&blobs);
        return ts_arena_check(b->arena, err);
    }
    for (int i = 0; i < b->num_kernels; i++)
        funcs[i] = b->kernels[i].func;
    st = ts_build_shared_model(b->num_kernels, funcs, &blobs, b->target, out_path, err);
    const TsModelPlanHeader *plan = blobs.memory_plan;
    b->stats.arena_bytes = (int64_t)plan->arena_bytes;
    b->stats.weights_bytes = (int64_t)blobs.weights_bytes;
    b->stats.num_kernels = b->num_kernels;
    b->stats.num_kept_blocked = b->num_kept;
    rly_model_blobs_free(&blobs);
    return st;
}

TsStatus ts_graph_build(TsGraph *graph, const TsBuildOptions *options, const char *out_path,
                        TsBuildStats *stats, TsError *err)
{
    if (!graph || !out_path)
        return ts_fail(err, TS_EINVAL, "build: the %s is NULL", graph ? "output path" : "graph");
    TsBuildOptions defaults = { 0 };
    RlyBuild b = { .graph = graph, .options = options ? options : &defaults };
    b.arena = ts_arena_create();
    if (!b.arena)
        return ts_fail(err, TS_ENOMEM, "build: out of memory");
    TsStatus st = make_target(&b, err);
    if (st == TS_OK)
        st = make_groups(&b, err);
    if (st == TS_OK)
        st = rly_plan_layouts(&b, err);
    if (st == TS_OK)
        st = build_kernels(&b, err);
    if (st == TS_OK)
        st = emit(&b, out_path, err);
    if (st == TS_OK && stats)
        *stats = b.stats;
    ts_target_free(b.target);
    ts_arena_destroy(b.arena);
    return st;
}
