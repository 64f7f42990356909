/* One fused group becomes one kernel (the graph builder's middle step, after the passes
 * and before the model is serialized): a tensor-expression DAG with a placeholder for
 * each value the group reads from outside and rly_lower_node's compute for each of its
 * nodes, scheduled and lowered.
 *
 * The generic schedule, for injective and opaque groups (and anchored ones that no
 * template serves): every intermediate stage without a reduction is inlined into its
 * consumers, so an elementwise chain is one loop nest; each output's data-parallel axes
 * are fused into one loop, split by the target's vector width, its inner part
 * vectorized and its outer part run on the thread pool when the output is large enough
 * to pay for a launch. A stage with a reduction keeps its reduce loops inside the fused
 * data-parallel loop, which then runs in parallel but is not vectorized. An output whose
 * last dimension holds at least one vector is vectorized along that dimension alone (the
 * tail masked) and its other dimensions fused into the parallel loop, so that stores are
 * contiguous and no lane divides its index back into coordinates. A vector loop
 * the vectorizer cannot handle (a varying condition, say) stays a scalar loop, with a
 * note (ts_lower's scalar fallback). */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "relay_lite/rly_build.h"
#include "tessera/schedule.h"

/* Outputs with fewer elements than this run on one thread. */
#define PARALLEL_MIN_ELEMENTS 4096

TsStatus rly_map_init(RlyBuild *b, RlyValueMap *map, int capacity, TsError *err)
{
    map->num = 0;
    map->capacity = capacity;
    map->values = ts_arena_alloc(b->arena, sizeof *map->values * (size_t)(capacity + 1));
    map->tensors = ts_arena_alloc(b->arena, sizeof *map->tensors * (size_t)(capacity + 1));
    return map->values && map->tensors ? TS_OK : ts_arena_check(b->arena, err);
}

/* Entries a group's kernel may need: its inputs, its nodes' outputs, copies of its
 * outputs, and a few the caller adds. */
int rly_group_map_capacity(const RlyGroup *group)
{
    int capacity = group->num_inputs + group->num_outputs + 8;
    for (int n = 0; n < group->num_nodes; n++)
        capacity += group->nodes[n]->num_outputs;
    return capacity;
}

TsTensor *rly_map_find(const RlyValueMap *map, const RlyValue *value)
{
    for (int i = 0; i < map->num; i++)
        if (map->values[i] == value)
            return map->tensors[i];
    return NULL;
}

void rly_map_add(RlyValueMap *map, const RlyValue *value, TsTensor *tensor)
{
    assert(map->num < map->capacity);
    map->values[map->num] = value;
    map->tensors[map->num++] = tensor;
}

/* A placeholder for each input of the group that the map does not hold yet. */
TsStatus rly_group_placeholders(RlyBuild *b, const RlyGroup *group, RlyValueMap *map,
                                TsError *err)
{
    for (int i = 0; i < group->num_inputs; i++) {
        const RlyValue *v = group->inputs[i];
        if (rly_map_find(map, v))
            continue;
        if (!rly_value_known(v) || !v->has_dtype)
            return ts_fail(err, TS_EINVAL, "build: value %s (input of group %d) has no known "
                           "shape or type", v->name, group->id);
        char name[32];
        snprintf(name, sizeof name, "in%d", i);
        TsTensor *t = ts_placeholder(b->arena, name, v->ndim, v->dims, v->dtype);
        if (!t)
            return ts_arena_check(b->arena, err);
        rly_map_add(map, v, t);
    }
    return TS_OK;
}

/* rly_lower_node for each node but skip, in order, reading what the group's map holds. */
TsStatus rly_group_lower_nodes(RlyBuild *b, const RlyGroup *group, const RlyNode *skip,
                               RlyValueMap *map, TsError *err)
{
    for (int n = 0; n < group->num_nodes; n++) {
        const RlyNode *node = group->nodes[n];
        if (node == skip)
            continue;
        TsTensor **inputs = ts_arena_alloc(b->arena, sizeof *inputs * (size_t)(node->num_inputs + 1));
        TsTensor **outputs =
            ts_arena_alloc(b->arena, sizeof *outputs * (size_t)(node->num_outputs + 1));
        if (!inputs || !outputs)
            return ts_arena_check(b->arena, err);
        for (int k = 0; k < node->num_inputs; k++) {
            const RlyValue *v = node->inputs[k];
            inputs[k] = v ? rly_map_find(map, v) : NULL;
            if (v && !inputs[k] && !v->constant)
                return rly_node_fail(b->graph, node, err, TS_EINVAL,
                                     "build: input %s is neither a group input nor computed "
                                     "earlier in group %d", v->name, group->id);
        }
        TsStatus st = rly_lower_node(b->arena, b->graph, node, inputs, outputs, err);
        if (st != TS_OK)
            return st;
        for (int k = 0; k < node->num_outputs; k++)
            if (node->outputs[k] && outputs[k])
                rly_map_add(map, node->outputs[k], outputs[k]);
    }
    return TS_OK;
}

static bool has_reduction(const TsStage *stage, int ndim)
{
    return ts_stage_num_root_axes(stage) > ndim;
}

/* Fuses the leaves of dims [from, ndim) of stage into one axis, returned in *fused. */
static TsStatus fuse_leaves(TsStage *stage, int from, int ndim, TsAxis **fused, TsError *err)
{
    *fused = ts_stage_leaf(stage, from);
    for (int d = from + 1; d < ndim; d++) {
        TsStatus st = ts_fuse(stage, *fused, ts_stage_leaf(stage, from + 1), fused, err);
        if (st != TS_OK)
            return st;
    }
    return TS_OK;
}

/* Vectorizes an output stage along its last dimension alone (a tail, if any, is masked):
 * the outer dimensions are fused into one parallel loop, and no lane divides its index
 * back into coordinates. */
static TsStatus schedule_innermost(TsStage *stage, int ndim, int64_t lanes, bool parallel,
                                   TsError *err)
{
    TsAxis *last = ts_stage_leaf(stage, ndim - 1), *outer, *inner;
    TsStatus st = ts_split(stage, last, lanes, &outer, &inner, err);
    if (st == TS_OK)
        st = ts_vectorize(stage, inner, err);
    if (st != TS_OK || ndim == 1 || !parallel)
        return st;
    TsAxis *fused;
    st = fuse_leaves(stage, 0, ndim - 1, &fused, err);
    return st == TS_OK ? ts_parallel(stage, fused, err) : st;
}

/* A reduction (an NCHW pool, say) whose last dimension holds a vector: that dimension
 * split into vectors, the reduction's loops moved outside the vector, so each step of
 * the window updates a vector of outputs; the outer dimensions fused into the parallel
 * loop. */
static TsStatus schedule_reduction_rows(TsStage *stage, int ndim, int64_t lanes, bool parallel,
                                        TsError *err)
{
    int num_roots = ts_stage_num_root_axes(stage);
    TsAxis *order[2 * TS_MAX_DIMS + 2], *outer, *inner;
    if (num_roots + 1 > (int)(sizeof order / sizeof order[0]))
        return TS_OK;
    TsStatus st = ts_split(stage, ts_stage_root_axis(stage, ndim - 1), lanes, &outer, &inner, err);
    int n = 0;
    for (int d = 0; d + 1 < ndim; d++)
        order[n++] = ts_stage_root_axis(stage, d);
    order[n++] = outer;
    for (int r = ndim; r < num_roots; r++)
        order[n++] = ts_stage_root_axis(stage, r);
    order[n++] = inner;
    if (st == TS_OK)
        st = ts_reorder(stage, n, order, err);
    if (st == TS_OK)
        st = ts_vectorize(stage, inner, err);
    if (st != TS_OK || ndim == 1 || !parallel)
        return st;
    TsAxis *fused;
    st = fuse_leaves(stage, 0, ndim - 1, &fused, err);
    return st == TS_OK ? ts_parallel(stage, fused, err) : st;
}

/* Vectorizes and parallelizes an output stage: along its last dimension when that holds
 * at least one vector (a reduction too), else over its data-parallel leaves fused into
 * one loop. */
static TsStatus schedule_output(RlyBuild *b, TsSchedule *sch, TsTensor *out, TsError *err)
{
    TsStage *stage = ts_stage(sch, out);
    int ndim = ts_tensor_ndim(out);
    if (!stage || ndim == 0)
        return TS_OK;
    int64_t elements = ts_tensor_num_elements(out);
    bool parallel = elements >= PARALLEL_MIN_ELEMENTS && b->isa.num_cores > 1;
    int bits = ts_tensor_dtype(out).bits;
    int64_t lanes = b->isa.vector_bits / (bits ? bits : 8);
    if (lanes > 16)
        lanes = 16;
    if (has_reduction(stage, ndim) && lanes >= 2 && ts_tensor_dim(out, ndim - 1) >= lanes)
        return schedule_reduction_rows(stage, ndim, lanes, parallel, err);
    bool vector = !has_reduction(stage, ndim) && lanes >= 2 && elements >= 2 * lanes;
    if (vector && ts_tensor_dim(out, ndim - 1) >= lanes)
        return schedule_innermost(stage, ndim, lanes, parallel, err);
    TsAxis *fused;
    TsStatus st = fuse_leaves(stage, 0, ndim, &fused, err);
    if (st != TS_OK)
        return st;
    if (!vector)
        return parallel ? ts_parallel(stage, fused, err) : TS_OK;
    TsAxis *outer, *inner;
    st = ts_split(stage, fused, lanes, &outer, &inner, err);
    if (st == TS_OK)
        st = ts_vectorize(stage, inner, err);
    if (st == TS_OK && parallel)
        st = ts_parallel(stage, outer, err);
    return st;
}

static bool is_output(TsTensor *const *outputs, int num_outputs, const TsTensor *t)
{
    for (int i = 0; i < num_outputs; i++)
        if (outputs[i] == t)
            return true;
    return false;
}

TsStatus rly_schedule_generic(RlyBuild *b, TsSchedule *sch, int num_outputs,
                              TsTensor *const *outputs, TsError *err)
{
    TsTensor **stages;
    int num_stages = ts_dag_stages(b->arena, num_outputs, outputs, &stages);
    if (num_stages < 0)
        return ts_arena_check(b->arena, err);
    for (int i = 0; i < num_stages; i++) {
        TsStage *stage = ts_stage(sch, stages[i]);
        if (!stage || is_output(outputs, num_outputs, stages[i]) ||
            has_reduction(stage, ts_tensor_ndim(stages[i])))
            continue;
        TsStatus st = ts_compute_inline(stage, err);
        if (st != TS_OK)
            return st;
    }
    for (int i = 0; i < num_outputs; i++) {
        TsStatus st = schedule_output(b, sch, outputs[i], err);
        if (st != TS_OK)
            return st;
    }
    return TS_OK;
}

/* Which graph value each of the kernel's arguments is. */
static TsStatus bind_args(RlyBuild *b, const RlyGroup *group, const RlyValueMap *map,
                          RlyKernel *out, TsError *err)
{
    out->group = group;
    out->num_args = ts_lowered_num_args(out->func);
    out->args = ts_arena_alloc(b->arena, sizeof *out->args * (size_t)(out->num_args + 1));
    if (!out->args)
        return ts_arena_check(b->arena, err);
    for (int a = 0; a < out->num_args; a++) {
        const TsTensor *t = ts_lowered_arg(out->func, a);
        out->args[a] = NULL;
        for (int i = 0; i < map->num && !out->args[a]; i++)
            if (map->tensors[i] == t)
                out->args[a] = map->values[i];
        if (!out->args[a])
            return ts_fail(err, TS_EINVAL, "build: group %d: kernel argument %d (%s) is no "
                           "value of the graph", group->id, a, ts_tensor_name(t));
    }
    return TS_OK;
}

/* A kernel name: "k<group id>_<op of its anchor or first node><suffix>", lower case. */
const char *rly_kernel_name(RlyBuild *b, const RlyGroup *group, const char *suffix)
{
    const RlyNode *node = group->anchor ? group->anchor : group->nodes[0];
    char name[96];
    int n = snprintf(name, sizeof name, "k%d_", group->id);
    for (const char *p = rly_op_name(node->op); *p && n < (int)sizeof name - 1; p++)
        name[n++] = (char)((*p >= 'A' && *p <= 'Z') ? *p - 'A' + 'a' : *p);
    snprintf(name + n, sizeof name - (size_t)n, "%s", suffix);
    return ts_arena_strdup(b->arena, name);
}

/* A copy of t: a group output that is no compute of its own (an Identity returns its
 * input's tensor) or that another output already is. */
static TsTensor *copy_of(TsArena *arena, TsTensor *t)
{
    int ndim = ts_tensor_ndim(t);
    TsAxis *axes[TS_MAX_DIMS];
    TsExpr *index[TS_MAX_DIMS];
    for (int d = 0; d < ndim; d++) {
        char name[16];
        snprintf(name, sizeof name, "i%d", d);
        axes[d] = ts_axis(arena, name, ts_tensor_dim(t, d));
        index[d] = ts_var(axes[d]);
    }
    return ts_compute(arena, "copy", ndim, axes, ts_access(arena, t, ndim, index));
}

/* The tensor of each group output, copied where it is a placeholder or repeated. */
TsStatus rly_group_outputs(RlyBuild *b, const RlyGroup *group, RlyValueMap *map,
                              TsTensor **outputs, TsError *err)
{
    for (int i = 0; i < group->num_outputs; i++) {
        TsTensor *t = rly_map_find(map, group->outputs[i]);
        if (!t)
            return ts_fail(err, TS_EINVAL, "build: group %d does not compute its output %s",
                           group->id, group->outputs[i]->name);
        if (ts_tensor_is_placeholder(t) || is_output(outputs, i, t)) {
            if (!(t = copy_of(b->arena, t)))
                return ts_arena_check(b->arena, err);
            rly_map_add(map, group->outputs[i], t);
        }
        outputs[i] = t;
    }
    return TS_OK;
}

TsStatus rly_lower_kernel(RlyBuild *b, TsSchedule *sch, const RlyGroup *group,
                          const RlyValueMap *map, const char *name, RlyKernel *out,
                          TsError *err)
{
    TsLowerOptions lower = { .allow_scalar_fallback = true, .auto_unroll_max_extent = 0 };
    TsStatus st = ts_lower_with_options(sch, name, &lower, &out->func, err);
    return st == TS_OK ? bind_args(b, group, map, out, err) : st;
}

TsStatus rly_generic_kernel(RlyBuild *b, const RlyGroup *group, RlyValueMap *map,
                            const char *name, RlyKernel *out, TsError *err)
{
    TsTensor **outputs =
        ts_arena_alloc(b->arena, sizeof *outputs * (size_t)(group->num_outputs + 1));
    if (!outputs)
        return ts_arena_check(b->arena, err);
    TsStatus st = rly_group_outputs(b, group, map, outputs, err);
    if (st != TS_OK)
        return st;
    TsSchedule *sch = ts_schedule_create(b->arena, group->num_outputs, outputs);
    if (!sch)
        return ts_arena_check(b->arena, err);
    st = rly_schedule_generic(b, sch, group->num_outputs, outputs, err);
    if (st == TS_OK)
        st = rly_lower_kernel(b, sch, group, map, name, out, err);
    return st;
}

TsStatus rly_build_kernel(RlyBuild *b, const RlyGroup *group, RlyKernel *out, TsError *err)
{
    memset(out, 0, sizeof *out);
    RlyValueMap map;
    TsStatus st = rly_map_init(b, &map, rly_group_map_capacity(group), err);
    if (st == TS_OK)
        st = rly_group_placeholders(b, group, &map, err);
    if (st == TS_OK)
        st = rly_group_lower_nodes(b, group, NULL, &map, err);
    if (st == TS_OK)
        st = rly_generic_kernel(b, group, &map, rly_kernel_name(b, group, ""), out, err);
    b->stats.num_generic += st == TS_OK;
    return st;
}
