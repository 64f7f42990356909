/* Pass fuse: puts every node into one RlyGroup, a kernel to be scheduled as one. As in
 * TVM's FuseOps, each node has a pattern:
 *
 *   anchor     Conv, ConvTranspose, Gemm, MatMul, MaxPool, AveragePool, GlobalAveragePool
 *   elementwise  activations, arithmetic with broadcasting, Cast, an unfolded
 *              BatchNormalization (one output)
 *   injective  data movement: Reshape, Transpose, Concat, Slice, Pad, Gather, Expand,
 *              Resize, ...
 *   opaque     Softmax, reductions, LayerNormalization, Split, and what is left of the
 *              shape computations (Shape of an unknown shape, ...)
 *
 * Visiting the nodes in topological order, a node joins the group of a producer when it
 * is that producer's single consumer (it reads every use of the producer's one output,
 * which is no graph output), and the group takes it: an anchored group takes an
 * elementwise node of the producer's output shape (bias add, batch norm, activation, a
 * residual Add whose other operand comes from elsewhere), an injective group takes
 * elementwise and injective nodes. Anchored groups are tried first. A node that joins
 * nothing starts its own group: ANCHORED for an anchor, INJECTIVE for an elementwise or
 * injective node, OPAQUE otherwise.
 *
 * A group's inputs are the values its nodes read from outside it; its outputs are the
 * values its nodes produce that something outside reads, that are graph outputs, or that
 * nothing reads (a Split piece: the kernel still writes it). The groups are then put in
 * an order that runs each after the groups it reads from (Kahn's algorithm, the earliest
 * first node first). Because a node only joins its producer's sole consumer, a group's
 * single exit cannot feed back into it; the sort still checks for a cycle. */
#include <stdlib.h>
#include <string.h>

#include "relay_lite/passes/passes.h"

typedef enum Pattern { ANCHOR, ELEMWISE, INJECTIVE, OPAQUE } Pattern;

static int present_outputs(const RlyNode *node)
{
    int count = 0;
    for (int k = 0; k < node->num_outputs; k++)
        count += node->outputs[k] != NULL;
    return count;
}

static Pattern pattern_of(const RlyNode *node)
{
    bool single = present_outputs(node) == 1;
    switch (node->op) {
    case RLY_OP_CONV:
    case RLY_OP_CONV_TRANSPOSE:
    case RLY_OP_GEMM:
    case RLY_OP_MATMUL:
    case RLY_OP_AVERAGE_POOL:
    case RLY_OP_GLOBAL_AVERAGE_POOL: return ANCHOR;
    case RLY_OP_MAX_POOL: return single ? ANCHOR : OPAQUE;
    case RLY_OP_BATCH_NORM:
    case RLY_OP_DROPOUT: return single ? ELEMWISE : OPAQUE;
    case RLY_OP_RELU:
    case RLY_OP_CLIP:
    case RLY_OP_LEAKY_RELU:
    case RLY_OP_SIGMOID:
    case RLY_OP_TANH:
    case RLY_OP_HARD_SIGMOID:
    case RLY_OP_HARD_SWISH:
    case RLY_OP_ERF:
    case RLY_OP_GELU:
    case RLY_OP_ADD:
    case RLY_OP_SUB:
    case RLY_OP_MUL:
    case RLY_OP_DIV:
    case RLY_OP_POW:
    case RLY_OP_SQRT:
    case RLY_OP_SUM:
    case RLY_OP_MAX:
    case RLY_OP_MIN:
    case RLY_OP_MEAN:
    case RLY_OP_CAST:
    case RLY_OP_IDENTITY: return ELEMWISE;
    case RLY_OP_CONCAT:
    case RLY_OP_SLICE:
    case RLY_OP_PAD:
    case RLY_OP_RESHAPE:
    case RLY_OP_FLATTEN:
    case RLY_OP_TRANSPOSE:
    case RLY_OP_SQUEEZE:
    case RLY_OP_UNSQUEEZE:
    case RLY_OP_GATHER:
    case RLY_OP_EXPAND:
    case RLY_OP_RESIZE:
    case RLY_OP_UPSAMPLE: return INJECTIVE;
    case RLY_OP_LAYER_NORM:
    case RLY_OP_SOFTMAX:
    case RLY_OP_REDUCE_MEAN:
    case RLY_OP_REDUCE_SUM:
    case RLY_OP_SPLIT:
    case RLY_OP_SHAPE:
    case RLY_OP_CONSTANT:
    case RLY_OP_CONSTANT_OF_SHAPE:
    case RLY_NUM_OPS: return OPAQUE;
    case RLY_OP_QUANTIZE_LINEAR:
    case RLY_OP_DEQUANTIZE_LINEAR:
    case RLY_OP_QLINEAR_ADD:
    case RLY_OP_QADD_REQUANT: return ELEMWISE;
    case RLY_OP_QLINEAR_CONV:
    case RLY_OP_QLINEAR_MATMUL:
    case RLY_OP_CONV_INTEGER:
    case RLY_OP_MATMUL_INTEGER:
    case RLY_OP_QCONV_REQUANT:
    case RLY_OP_QDENSE_REQUANT: return ANCHOR;
    }
    return OPAQUE;
}

/* Working state: per node (by position) its group and per value slot its readers. */
typedef struct Fusion {
    TsGraph *graph;
    int num_groups;
    int *group_of;       /* node position -> group (creation order) */
    RlyGroupKind *kinds; /* group -> kind */
    int *first;          /* group -> position of its first node */
    int *use_base;       /* node position -> index of its output 0 in uses */
    int *uses;           /* readers of each node output (graph outputs count one) */
    bool *outside;       /* read by a node of another group, or a graph output */
} Fusion;

static int slot(const Fusion *f, const RlyValue *v)
{
    return f->use_base[v->producer->id] + v->producer_output;
}

static void count_uses(Fusion *f)
{
    const TsGraph *g = f->graph;
    for (int k = 0; k < g->num_nodes; k++)
        for (int i = 0; i < g->nodes[k]->num_inputs; i++) {
            const RlyValue *v = g->nodes[k]->inputs[i];
            if (v && v->producer)
                f->uses[slot(f, v)]++;
        }
    for (int k = 0; k < g->num_outputs; k++)
        if (g->outputs[k]->producer) {
            f->uses[slot(f, g->outputs[k])]++;
            f->outside[slot(f, g->outputs[k])] = true;
        }
}

static bool same_shape(const RlyValue *a, const RlyValue *b)
{
    if (!rly_value_known(a) || !rly_value_known(b) || a->ndim != b->ndim)
        return false;
    return memcmp(a->dims, b->dims, (size_t)a->ndim * sizeof a->dims[0]) == 0;
}

/* The group node may join through input v: node reads every use of v, v is its
 * producer's one output, and v's group takes node's pattern. -1 when it may not. */
static int joinable(const Fusion *f, const RlyNode *node, Pattern pattern, const RlyValue *v,
                    RlyGroupKind want)
{
    if (!v || !v->producer || present_outputs(v->producer) != 1)
        return -1;
    int reads = 0;
    for (int i = 0; i < node->num_inputs; i++)
        reads += node->inputs[i] == v;
    int group = f->group_of[v->producer->id];
    if (reads != f->uses[slot(f, v)] || f->kinds[group] != want)
        return -1;
    if (want == RLY_GROUP_ANCHORED)
        return pattern == ELEMWISE && same_shape(v, rly_output(node, 0)) ? group : -1;
    return want == RLY_GROUP_INJECTIVE ? group : -1;
}

static void assign(Fusion *f, const RlyNode *node)
{
    Pattern pattern = pattern_of(node);
    int group = -1;
    for (int i = 0; group < 0 && pattern == ELEMWISE && i < node->num_inputs; i++)
        group = joinable(f, node, pattern, node->inputs[i], RLY_GROUP_ANCHORED);
    for (int i = 0; group < 0 && pattern != ANCHOR && pattern != OPAQUE && i < node->num_inputs;
         i++)
        group = joinable(f, node, pattern, node->inputs[i], RLY_GROUP_INJECTIVE);
    if (group < 0) {
        group = f->num_groups++;
        f->kinds[group] = pattern == ANCHOR   ? RLY_GROUP_ANCHORED
                          : pattern == OPAQUE ? RLY_GROUP_OPAQUE
                                              : RLY_GROUP_INJECTIVE;
        f->first[group] = node->id;
    }
    f->group_of[node->id] = group;
}

/* Marks the values read across groups. */
static void mark_outside(Fusion *f)
{
    const TsGraph *g = f->graph;
    for (int k = 0; k < g->num_nodes; k++)
        for (int i = 0; i < g->nodes[k]->num_inputs; i++) {
            const RlyValue *v = g->nodes[k]->inputs[i];
            if (v && v->producer && f->group_of[v->producer->id] != f->group_of[k])
                f->outside[slot(f, v)] = true;
        }
}

/* ---- building the groups ---- */

static bool contains(RlyValue *const *list, int count, const RlyValue *v)
{
    for (int k = 0; k < count; k++)
        if (list[k] == v)
            return true;
    return false;
}

static TsStatus build_group(const Fusion *f, int group, RlyGroup *out, TsError *err)
{
    TsGraph *g = f->graph;
    int nodes = 0, reads = 0, writes = 0;
    for (int k = 0; k < g->num_nodes; k++)
        if (f->group_of[k] == group) {
            nodes++;
            reads += g->nodes[k]->num_inputs;
            writes += g->nodes[k]->num_outputs;
        }
    out->kind = f->kinds[group];
    out->nodes = ts_arena_alloc(g->arena, (size_t)nodes * sizeof *out->nodes);
    out->inputs = ts_arena_alloc(g->arena, (size_t)(reads + 1) * sizeof *out->inputs);
    out->outputs = ts_arena_alloc(g->arena, (size_t)(writes + 1) * sizeof *out->outputs);
    if (!out->nodes || !out->inputs || !out->outputs)
        return ts_fail(err, TS_ENOMEM, "%s: out of memory building fusion groups", g->source);
    for (int k = 0; k < g->num_nodes; k++) {
        RlyNode *node = g->nodes[k];
        if (f->group_of[k] != group)
            continue;
        out->nodes[out->num_nodes++] = node;
        if (out->kind == RLY_GROUP_ANCHORED && pattern_of(node) == ANCHOR)
            out->anchor = node;
        for (int i = 0; i < node->num_inputs; i++) {
            RlyValue *v = node->inputs[i];
            bool inside = v && v->producer && f->group_of[v->producer->id] == group;
            if (v && !inside && !contains(out->inputs, out->num_inputs, v))
                out->inputs[out->num_inputs++] = v;
        }
        for (int i = 0; i < node->num_outputs; i++) {
            RlyValue *v = node->outputs[i];
            if (v && (f->outside[slot(f, v)] || f->uses[slot(f, v)] == 0))
                out->outputs[out->num_outputs++] = v;
        }
    }
    return TS_OK;
}

/* The groups in an order that runs each after those it reads (Kahn's algorithm, the
 * ready group whose first node comes earliest first). order[k] is a group index. */
static TsStatus order_groups(const Fusion *f, RlyGroup *groups, int *order, TsError *err)
{
    int n = f->num_groups;
    int *waiting = calloc((size_t)n + 1, sizeof *waiting);
    bool *placed = calloc((size_t)n + 1, sizeof *placed);
    TsStatus status = TS_OK;
    if (!waiting || !placed)
        status = ts_fail(err, TS_ENOMEM, "%s: out of memory ordering groups", f->graph->source);
    for (int k = 0; status == TS_OK && k < n; k++)
        for (int i = 0; i < groups[k].num_inputs; i++)
            waiting[k] += groups[k].inputs[i]->producer != NULL;
    for (int done = 0; status == TS_OK && done < n; done++) {
        int best = -1;
        for (int k = 0; k < n; k++)
            if (!placed[k] && waiting[k] == 0 && (best < 0 || f->first[k] < f->first[best]))
                best = k;
        if (best < 0) {
            status = ts_fail(err, TS_EINVAL, "%s: fusion made a cycle of groups (at node \"%s\")",
                             f->graph->source, f->graph->nodes[f->first[0]]->label);
            break;
        }
        placed[best] = true;
        order[done] = best;
        for (int k = 0; k < n; k++)
            for (int i = 0; !placed[k] && i < groups[k].num_inputs; i++) {
                const RlyValue *v = groups[k].inputs[i];
                waiting[k] -= v->producer && f->group_of[v->producer->id] == best;
            }
    }
    free(placed);
    free(waiting);
    return status;
}

static TsStatus publish(Fusion *f, TsError *err)
{
    TsGraph *g = f->graph;
    int n = f->num_groups;
    RlyGroup *groups = ts_arena_alloc(g->arena, (size_t)(n + 1) * sizeof *groups);
    RlyGroup **list = ts_arena_alloc(g->arena, (size_t)(n + 1) * sizeof *list);
    int *order = calloc((size_t)n + 1, sizeof *order);
    TsStatus status =
        groups && list && order ? TS_OK : ts_fail(err, TS_ENOMEM, "%s: out of memory", g->source);
    if (groups)
        memset(groups, 0, (size_t)(n + 1) * sizeof *groups);
    for (int k = 0; status == TS_OK && k < n; k++)
        status = build_group(f, k, &groups[k], err);
    if (status == TS_OK)
        status = order_groups(f, groups, order, err);
    for (int k = 0; status == TS_OK && k < n; k++) {
        list[k] = &groups[order[k]];
        list[k]->id = k;
    }
    if (status == TS_OK) {
        g->groups = list;
        g->num_groups = n;
    }
    free(order);
    return status;
}

TsStatus rly_pass_fuse(TsGraph *graph, TsError *err)
{
    int n = graph->num_nodes, slots = 0;
    for (int k = 0; k < n; k++)
        slots += graph->nodes[k]->num_outputs;
    Fusion f = { .graph = graph };
    graph->plan = NULL; /* a plan describes the groups it was made for */
    f.group_of = calloc((size_t)n + 1, sizeof *f.group_of);
    f.kinds = calloc((size_t)n + 1, sizeof *f.kinds);
    f.first = calloc((size_t)n + 1, sizeof *f.first);
    f.use_base = calloc((size_t)n + 1, sizeof *f.use_base);
    f.uses = calloc((size_t)slots + 1, sizeof *f.uses);
    f.outside = calloc((size_t)slots + 1, sizeof *f.outside);
    TsStatus status = TS_OK;
    if (!f.group_of || !f.kinds || !f.first || !f.use_base || !f.uses || !f.outside)
        status = ts_fail(err, TS_ENOMEM, "%s: out of memory fusing", graph->source);
    for (int k = 0, base = 0; status == TS_OK && k < n; k++) {
        graph->nodes[k]->id = k;
        f.use_base[k] = base;
        base += graph->nodes[k]->num_outputs;
    }
    if (status == TS_OK) {
        count_uses(&f);
        for (int k = 0; k < n; k++)
            assign(&f, graph->nodes[k]);
        mark_outside(&f);
        status = publish(&f, err);
    }
    free(f.outside);
    free(f.uses);
    free(f.use_base);
    free(f.first);
    free(f.kinds);
    free(f.group_of);
    return status;
}
