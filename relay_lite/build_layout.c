/* Blocked activations kept between groups (the graph builder's layout step, before the
 * kernels are built): a conv, depthwise conv or pool group computes in NCHW[x]c, and
 * without this step each such group packs its NCHW input and unpacks its output. Here a
 * group's output value stays blocked when every group that reads it computes blocked
 * too, and every anchor that reads it (as its data) wants the same channel block, its
 * template instance's ic_bn under the config apply-best picks. A conv reading a blocked
 * producer takes the producer's output block as its ic_bn (the rest of its config the
 * record's), so that its data is kept in the block it is made in. Then:
 *   - the producer writes its result, bias and fused nodes included, in that block: a
 *     conv from its own kernel (build_template.c), others from their out kernel; where
 *     the block is not the one it computes in, a layout kernel repacks it;
 *   - a consumer anchor reads the blocked value as its template's data, no pack kernel;
 *   - a consumer's fused node (a residual add) reads it through an unpack inlined into
 *     its out kernel.
 * A depthwise group computes in the block its reader wants (depthwise_follows_readers),
 * so that its output stage stays in its kernel.
 * A graph output, a value read by a generic or dense group (flatten, gemm, concat), or
 * by anchors that disagree on the block stays NCHW, converted once where it is made.
 * The blocked value is a value of the build (rly_build_kept) with the graph value's
 * place in the memory plan: the blocks divide the channels (sch_channel_blocks picks
 * divisors), so both hold the same number of elements. */
#include <stdio.h>
#include <string.h>

#include "relay_lite/rly_build.h"
#include "tessera/autotune.h"

static void quiet(const char *message, void *user)
{
    (void)message;
    (void)user;
}

/* config with the inner factor of its split knob name set to block, when the space
 * offers that split. */
static bool with_inner_split(const TsConfig *config, const char *name, int64_t block, TsConfig *out)
{
    const TsConfigSpace *space = config->space;
    for (int k = 0; space && k < ts_space_num_knobs(space); k++) {
        if (strcmp(ts_space_knob_name(space, k), name) != 0)
            continue;
        int64_t choice[TS_CONFIG_MAX_KNOBS];
        memcpy(choice, config->choice, sizeof choice);
        for (int64_t c = 0; c < ts_space_knob_size(space, k); c++) {
            choice[k] = c;
            TsConfig candidate;
            TsError err;
            int64_t f[TS_KNOB_MAX_OUTPUTS];
            int n = 0;
            if (ts_space_from_choices(space, choice, &candidate, &err) == TS_OK &&
                ts_config_split(&candidate, name, f, TS_KNOB_MAX_OUTPUTS, &n, &err) == TS_OK &&
                n > 0 && f[n - 1] == block) {
                *out = candidate;
                return true;
            }
        }
    }
    return false;
}

/* The group whose output value v is, among the first n, or -1. */
static int producer_of(const RlyBuild *b, int n, const RlyValue *v)
{
    for (int i = 0; i < n; i++)
        for (int k = 0; k < b->groups[i]->num_outputs; k++)
            if (b->groups[i]->outputs[k] == v)
                return i;
    return -1;
}

/* A conv reading a blocked producer's output takes the producer's output block as its
 * input block (its tile_ic), so that the value stays blocked as it is made and no
 * layout kernel converts it between them; the rest of its config stays the record's.
 * Sets b->in_want[i]. */
static void agree_input_block(RlyBuild *b, int i, const RlyWorkload *w, TsConfig *config)
{
    b->in_want[i] = 0;
    if (strcmp(w->op, "conv2d") != 0)
        return;
    int p = producer_of(b, i, rly_input(b->groups[i]->anchor, 0));
    TsConfig agreed;
    if (p >= 0 && b->out_block[p] > 0 &&
        with_inner_split(config, "tile_ic", b->out_block[p], &agreed)) {
        *config = agreed;
        b->in_want[i] = b->out_block[p];
    }
}

void rly_build_agreed_config(const RlyBuild *b, const RlyGroup *group, TsConfig *config)
{
    for (int i = 0; b->in_want && i < b->num_groups; i++)
        if (b->groups[i] == group && b->in_want[i] > 0)
            with_inner_split(config, "tile_ic", b->in_want[i], config);
}

/* The input and output channel blocks of group i's template instance, 0 when the group
 * is no blocked-layout group a template serves. */
static void group_blocks(RlyBuild *b, int i, int64_t *in, int64_t *out)
{
    const RlyGroup *group = b->groups[i];
    *in = *out = 0;
    RlyWorkload w;
    if (group->kind != RLY_GROUP_ANCHORED || !group->anchor || group->num_outputs != 1 ||
        !rly_node_workload(b->graph, group->anchor, &w) || !strcmp(w.op, "dense"))
        return;
    const char *target = b->options->target ? b->options->target : "llvm";
    TsError why;
    TsTuneTask *task = NULL;
    TsConfig config;
    TsTuneRecord best;
    bool found = false;
    TsTemplateInstance inst = { 0 };
    TsStatus st = ts_tune_task_create(w.op, &w.args, target, &task, &why);
    if (st == TS_OK)
        st = ts_tune_apply_best(task, b->options->num_logs, b->options->logs, quiet, NULL, &config,
                                &found, &best, &why);
    if (st == TS_OK)
        agree_input_block(b, i, &w, &config);
    if (st == TS_OK)
        st = ts_tune_task_template(task)->instantiate(&w.args, ts_tune_task_isa(task), &config,
                                                      b->arena, &inst, &why);
    if (st == TS_OK && inst.num_tensors >= 2 && inst.num_outputs == 1 &&
        ts_tensor_ndim(inst.tensors[0]) == 5 &&
        ts_tensor_ndim(inst.tensors[inst.num_tensors - 1]) == 5) {
        *in = ts_tensor_dim(inst.tensors[0], 4);
        *out = ts_tensor_dim(inst.tensors[inst.num_tensors - 1], 4);
    }
    ts_tune_task_free(task);
}

static bool is_graph_output(const TsGraph *g, const RlyValue *v)
{
    for (int o = 0; o < g->num_outputs; o++)
        if (g->outputs[o] == v)
            return true;
    return false;
}

/* The block every reader of v (the output of groups[producer]) wants, 0 when some
 * reader needs NCHW, anchors disagree, or no anchor reads v as its data. */
static int64_t wanted_block(const RlyBuild *b, int producer, const RlyValue *v)
{
    int64_t block = 0;
    for (int i = 0; i < b->num_groups; i++) {
        const RlyGroup *h = b->groups[i];
        for (int n = 0; n < h->num_nodes; n++) {
            const RlyNode *node = h->nodes[n];
            for (int k = 0; k < node->num_inputs; k++) {
                if (node->inputs[k] != v || i == producer)
                    continue;
                if (b->in_block[i] == 0 || i < producer)
                    return 0;
                if (node != h->anchor)
                    continue; /* a fused node: reads it through an inlined unpack */
                if (k != 0 || (block && block != b->in_block[i]))
                    return 0;
                block = b->in_block[i];
            }
        }
    }
    return block;
}

bool rly_depthwise_block_config(const TsTuneTask *task, const TsConfig *config, int64_t block,
                                TsConfig *out)
{
    const TsConfigSpace *space = ts_tune_task_space(task);
    int knob = 0, n = ts_space_num_knobs(space);
    while (knob < n && strcmp(ts_space_knob_name(space, knob), "tile_c") != 0)
        knob++;
    if (knob == n)
        return false;
    int64_t choice[TS_CONFIG_MAX_KNOBS];
    memcpy(choice, config->choice, sizeof choice);
    for (int64_t c = 0; c < ts_space_knob_size(space, knob); c++) {
        int64_t f[TS_KNOB_MAX_OUTPUTS] = { 0 };
        int count;
        choice[knob] = c;
        if (ts_space_from_choices(space, choice, out, NULL) != TS_OK ||
            ts_config_split(out, "tile_c", f, TS_KNOB_MAX_OUTPUTS, &count, NULL) != TS_OK ||
            f[1] != block)
            continue;
        /* The template may refuse it (its register budget): try it. */
        TsArena *arena = ts_arena_create();
        TsTemplateInstance inst;
        const TsTemplate *tmpl = ts_tune_task_template(task);
        bool built = arena && tmpl->instantiate(ts_tune_task_args(task), ts_tune_task_isa(task),
                                                out, arena, &inst, NULL) == TS_OK;
        ts_arena_destroy(arena);
        return built;
    }
    return false;
}

/* A depthwise conv is bound by memory, and its block costs little either way, while an
 * output kept in another block than the template's leaves it two kernels (build_template.c
 * fuses its output stage only into its own block): a depthwise group whose readers want
 * another block computes in that block. Readers first (last group first), so that a
 * reader's block is settled when its producer follows it. */
static void depthwise_follows_readers(RlyBuild *b)
{
    const char *target = b->options->target ? b->options->target : "llvm";
    for (int i = b->num_groups - 1; i >= 0; i--) {
        const RlyGroup *group = b->groups[i];
        RlyWorkload w;
        b->depthwise_block[i] = 0;
        if (b->out_block[i] == 0 || !rly_node_workload(b->graph, group->anchor, &w) ||
            strcmp(w.op, "depthwise_conv2d") != 0 || is_graph_output(b->graph, group->outputs[0]))
            continue;
        int64_t block = wanted_block(b, i, group->outputs[0]);
        if (block == 0 || block == b->out_block[i])
            continue;
        TsError why;
        TsTuneTask *task = NULL;
        TsConfig config, moved;
        TsTuneRecord best;
        bool found = false;
        if (ts_tune_task_create(w.op, &w.args, target, &task, &why) == TS_OK &&
            ts_tune_apply_best(task, b->options->num_logs, b->options->logs, quiet, NULL, &config,
                               &found, &best, &why) == TS_OK &&
            rly_depthwise_block_config(task, &config, block, &moved))
            b->depthwise_block[i] = b->in_block[i] = b->out_block[i] = block;
        ts_tune_task_free(task);
    }
}

static TsStatus keep(RlyBuild *b, const RlyValue *v, int64_t block, TsError *err)
{
    int64_t dims[5] = { v->dims[0], v->dims[1] / block, v->dims[2], v->dims[3], block };
    char name[256];
    snprintf(name, sizeof name, "%s.nchw%lldc", v->name, (long long)block);
    /* Not a scratch value: made as a constant-less value outside rly_build_value. */
    RlyValue *alias = ts_arena_alloc(b->arena, sizeof *alias);
    if (!alias)
        return ts_arena_check(b->arena, err);
    memset(alias, 0, sizeof *alias);
    alias->name = ts_arena_strdup(b->arena, name);
    alias->kind = RLY_VALUE_NODE;
    alias->has_dtype = true;
    alias->dtype = v->dtype;
    alias->ndim = 5;
    memcpy(alias->dims, dims, sizeof dims);
    b->kept[b->num_kept] = v;
    b->kept_blocked[b->num_kept++] = alias;
    return alias->name ? TS_OK : ts_arena_check(b->arena, err);
}

TsStatus rly_plan_layouts(RlyBuild *b, TsError *err)
{
    size_t n = (size_t)b->num_groups + 1;
    b->in_block = ts_arena_alloc(b->arena, sizeof *b->in_block * n);
    b->out_block = ts_arena_alloc(b->arena, sizeof *b->out_block * n);
    b->kept = ts_arena_alloc(b->arena, sizeof *b->kept * n);
    b->kept_blocked = ts_arena_alloc(b->arena, sizeof *b->kept_blocked * n);
    b->in_want = ts_arena_alloc(b->arena, sizeof *b->in_want * n);
    b->depthwise_block = ts_arena_alloc(b->arena, sizeof *b->depthwise_block * n);
    if (!b->in_block || !b->out_block || !b->kept || !b->kept_blocked || !b->in_want ||
        !b->depthwise_block)
        return ts_arena_check(b->arena, err);
    memset(b->in_want, 0, sizeof *b->in_want * n);
    memset(b->depthwise_block, 0, sizeof *b->depthwise_block * n);
    b->num_kept = 0;
    if (!b->graph->plan || b->options->keep_nchw)
        return TS_OK;
    for (int i = 0; i < b->num_groups; i++)
        group_blocks(b, i, &b->in_block[i], &b->out_block[i]);
    depthwise_follows_readers(b);
    for (int i = 0; i < b->num_groups; i++) {
        const RlyValue *v = b->groups[i]->outputs[0];
        if (b->out_block[i] == 0 || is_graph_output(b->graph, v) || v->ndim != 4 || v->constant ||
            !rly_value_known(v))
            continue;
        int64_t block = wanted_block(b, i, v);
        if (block == 0 || v->dims[1] % block != 0)
            continue;
        TsStatus st = keep(b, v, block, err);
        if (st != TS_OK)
            return st;
    }
    return TS_OK;
}

RlyValue *rly_build_kept(const RlyBuild *b, const RlyValue *v)
{
    for (int i = 0; i < b->num_kept; i++)
        if (b->kept[i] == v)
            return b->kept_blocked[i];
    return NULL;
}

const RlyValue *rly_build_home(const RlyBuild *b, const RlyValue *v)
{
    for (int i = 0; i < b->num_kept; i++)
        if (b->kept_blocked[i] == v)
            return b->kept[i];
    return v;
}

bool rly_group_touches_kept(const RlyBuild *b, const RlyGroup *group)
{
    for (int i = 0; i < group->num_inputs; i++)
        if (rly_build_kept(b, group->inputs[i]))
            return true;
    for (int i = 0; i < group->num_outputs; i++)
        if (rly_build_kept(b, group->outputs[i]))
            return true;
    return false;
}
