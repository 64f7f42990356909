/* ts_graph_optimize: the graph passes, one flat table read top to bottom.
 *
 * Each pass edits the graph in place (passes.h says why). After a pass that rewrites
 * nodes, the graph is compacted (removed nodes squeezed out, unused constants dropped,
 * nodes renumbered in topological order), shapes and types are inferred again (a folded
 * Reshape target makes its output known) and the graph is verified, so that a wrong pass
 * is caught at the pass. Fusion groups and the memory plan describe the nodes as they
 * are: a rewriting pass drops them. With TS_DUMP=all or TS_DUMP=name,name,... in the
 * environment, the graph after each named pass is printed to stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relay_lite/passes/passes.h"

typedef struct Pass {
    const char *name;
    const char *summary;
    TsStatus (*run)(TsGraph *graph, TsError *err);
    bool rewrites; /* changes nodes: compact, infer and verify afterwards */
} Pass;

static const Pass passes[] = {
    { "remove_identity", "Identity and Dropout (inference) replaced by their input",
      rly_pass_remove_identity, true },
    { "fuse_qdq",
      "DequantizeLinear -> Conv/Gemm/MatMul/Add -> [Relu|Clip] -> QuantizeLinear "
      "fused into integer operators with requantization",
      rly_pass_fuse_qdq, true },
    { "fold_constants", "nodes of constant inputs, and Shape of known shapes, computed on the host",
      rly_pass_fold_constants, true },
    { "eliminate_dead", "nodes whose outputs reach no graph output removed",
      rly_pass_eliminate_dead, true },
    { "fold_batch_norm", "BatchNormalization folded into the weights of Conv, Gemm, MatMul+Add",
      rly_pass_fold_batch_norm, true },
    { "fuse", "nodes grouped into kernels: an anchor with its elementwise consumers", rly_pass_fuse,
      false },
    { "memory_plan", "intermediate values placed in one arena, reused by liveness",
      rly_pass_memory_plan, false },
};

enum { NUM_PASSES = sizeof passes / sizeof passes[0] };

int ts_graph_num_passes(void)
{
    return NUM_PASSES;
}

const char *ts_graph_pass_name(int i)
{
    return i >= 0 && i < NUM_PASSES ? passes[i].name : NULL;
}

const char *ts_graph_pass_summary(int i)
{
    return i >= 0 && i < NUM_PASSES ? passes[i].summary : NULL;
}

static int pass_index(const char *name)
{
    for (int k = 0; k < NUM_PASSES; k++)
        if (strcmp(passes[k].name, name) == 0)
            return k;
    return -1;
}

static TsStatus unknown_pass(const char *what, const char *name, TsError *err)
{
    char list[512] = "";
    for (int k = 0; k < NUM_PASSES; k++) {
        strncat(list, k ? ", " : "", sizeof list - strlen(list) - 1);
        strncat(list, passes[k].name, sizeof list - strlen(list) - 1);
    }
    return ts_fail(err, TS_EINVAL, "%s: no graph pass is called \"%s\"; the passes are: %s", what,
                   name, list);
}

/* True when TS_DUMP (all, or a comma-separated list) names the pass. */
static bool dump_wanted(const char *name)
{
    const char *dump = getenv("TS_DUMP");
    if (!dump || !dump[0])
        return false;
    if (strcmp(dump, "all") == 0)
        return true;
    size_t n = strlen(name);
    for (const char *p = dump; (p = strstr(p, name)) != NULL; p += n)
        if ((p == dump || p[-1] == ',') && (p[n] == '\0' || p[n] == ','))
            return true;
    return false;
}

static void dump(const TsGraph *graph, const char *name)
{
    TsArena *arena = ts_arena_create();
    const char *text = arena ? ts_graph_str(arena, graph) : NULL;
    fprintf(stderr, "// ---- graph after %s ----\n%s", name, text ? text : "(cannot print)\n");
    ts_arena_destroy(arena);
}

static TsStatus check_options(const TsGraphOptions *options, bool *disabled, int *last,
                              TsError *err)
{
    *last = NUM_PASSES - 1;
    if (!options)
        return TS_OK;
    if (options->stop_after) {
        *last = pass_index(options->stop_after);
        if (*last < 0)
            return unknown_pass("stop after", options->stop_after, err);
    }
    if (options->num_disabled < 0 || (options->num_disabled > 0 && !options->disabled))
        return ts_fail(err, TS_EINVAL, "optimize: %d passes to turn off, but no list of them",
                       options->num_disabled);
    for (int k = 0; k < options->num_disabled; k++) {
        int index = pass_index(options->disabled[k]);
        if (index < 0)
            return unknown_pass("turn off", options->disabled[k], err);
        disabled[index] = true;
    }
    return TS_OK;
}

static TsStatus run_pass(TsGraph *graph, const Pass *pass, TsError *err)
{
    TsStatus status = pass->run(graph, err);
    if (status == TS_OK && pass->rewrites) {
        graph->groups = NULL;
        graph->num_groups = 0;
        graph->plan = NULL;
        status = rly_graph_compact(graph, err);
        if (status == TS_OK)
            status = ts_graph_infer(graph, err);
        if (status == TS_OK)
            status = ts_graph_verify(graph, err);
    }
    return status;
}

TsStatus ts_graph_optimize(TsGraph *graph, const TsGraphOptions *options, TsError *err)
{
    bool disabled[NUM_PASSES] = { false };
    int last = 0;
    if (!graph)
        return ts_fail(err, TS_EINVAL, "optimize: the graph is NULL");
    TsStatus status = check_options(options, disabled, &last, err);
    for (int k = 0; status == TS_OK && k <= last; k++) {
        if (disabled[k])
            continue;
        status = run_pass(graph, &passes[k], err);
        if (status == TS_OK && dump_wanted(passes[k].name))
            dump(graph, passes[k].name);
    }
    return status;
}
