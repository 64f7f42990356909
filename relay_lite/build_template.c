/* Anchored groups scheduled by their template (the graph builder's tuned path): the
 * anchor's workload (workload.c) names a task; apply-best picks the fastest record of the
 * logs, or the template's default config with a note ("no record for task ...").
 *
 * Dense (Gemm, MatMul): the template's instance computes data . weight^T (a MatMul's or
 * transB=0 Gemm's [K, N] weight is transposed once, here, into a constant); the Gemm's
 * alpha and beta * C and the group's fused nodes (rly_lower_node) become the DAG's
 * consumers, which the template's schedule_dag computes on the product's register
 * tiles: one kernel.
 *
 * Blocked layouts (conv2d, depthwise conv2d, pool2d compute in NCHW[x]c):
 *   pack:     the NCHW input into NCHW[ic]c (a layout kernel, build_transform.c), a
 *             scratch buffer; none when the input is kept blocked (build_layout.c);
 *   conv2d and depthwise conv2d:
 *             one kernel, the template's over a DAG: its weight packed once, here, into a
 *             constant; the conv's bias and the group's fused nodes (batch norm,
 *             activation, residual add; inputs kept blocked read through an inlined
 *             unpack) written over the NCHW view of the conv's blocked output and packed
 *             back into its block, which the simplifier cancels, so the template's
 *             schedule_dag computes them on the accumulator's register block before the
 *             store. It writes the output kept blocked in place; a graph output or NCHW
 *             reader (or readers wanting another block) get a layout kernel after it;
 *   others:   the template's kernel into a scratch value, then the out kernel: unpack to
 *             NCHW, the group's fused nodes with the generic schedule (packed again when
 *             the output is kept blocked); an anchor alone (a pool) writes its kept
 *             output in place or is followed by a layout kernel only.
 * Scratch buffers live within one group's kernels, so every group reuses one region
 * after the memory plan's arena.
 *
 * A template that cannot take a group (schedule_dag refusing a consumer that is not
 * elementwise, say) leaves it to the generic schedule, with a note naming the group and
 * the reason. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relay_lite/rly_build.h"
#include "tessera/autotune.h"
#include "tessera/ops.h"

static int64_t align64(int64_t n)
{
    return (n + 63) / 64 * 64;
}

RlyValue *rly_build_value(RlyBuild *b, const char *name, TsDType dtype, int ndim,
                          const int64_t *dims, const void *data)
{
    RlyValue *v = ts_arena_alloc(b->arena, sizeof *v);
    RlyConst *c = data ? ts_arena_alloc(b->arena, sizeof *c) : NULL;
    if (!v || (data && !c))
        return NULL;
    memset(v, 0, sizeof *v);
    v->name = ts_arena_strdup(b->arena, name);
    v->kind = data ? RLY_VALUE_INITIALIZER : RLY_VALUE_NODE;
    v->has_dtype = true;
    v->dtype = dtype;
    v->ndim = ndim;
    memcpy(v->dims, dims, sizeof(int64_t) * (size_t)ndim);
    if (c) {
        *c = (RlyConst){
            .dtype = dtype, .ndim = ndim, .data = data, .num_elements = rly_value_elements(v)
        };
        memcpy(c->shape, dims, sizeof(int64_t) * (size_t)ndim);
        v->constant = c;
        return v;
    }
    b->scratch[b->num_scratch] = v;
    b->scratch_offset[b->num_scratch++] = b->scratch_cursor;
    b->scratch_cursor += align64(rly_value_elements(v) * (int64_t)ts_dtype_bytes(dtype));
    if (b->scratch_cursor > b->scratch_bytes)
        b->scratch_bytes = b->scratch_cursor;
    return v;
}

static RlyValue *scratch_of(RlyBuild *b, const RlyGroup *group, const char *what, const TsTensor *t)
{
    char name[64];
    snprintf(name, sizeof name, "group%d.%s", group->id, what);
    int64_t dims[TS_MAX_DIMS];
    for (int d = 0; d < ts_tensor_ndim(t); d++)
        dims[d] = ts_tensor_dim(t, d);
    return rly_build_value(b, name, ts_tensor_dtype(t), ts_tensor_ndim(t), dims, NULL);
}

/* A constant computed from another by a te expression (a weight packed or transposed),
 * evaluated once, here, by the reference interpreter. */
static TsStatus constant_of(RlyBuild *b, const RlyGroup *group, const char *what,
                            TsTensor *placeholder, const RlyValue *from, TsTensor *expr,
                            RlyValue **out, TsError *err)
{
    if (!expr)
        return ts_arena_check(b->arena, err);
    size_t bytes = (size_t)ts_tensor_num_elements(expr) * ts_dtype_bytes(ts_tensor_dtype(expr));
    void *data = ts_arena_alloc(b->arena, bytes ? bytes : 1);
    if (!data)
        return ts_arena_check(b->arena, err);
    TsBinding bindings[] = { { placeholder, (void *)from->constant->data }, { expr, data } };
    TsStatus st = ts_evaluate(1, &expr, 2, bindings, err);
    if (st != TS_OK)
        return st;
    char name[64];
    snprintf(name, sizeof name, "group%d.%s", group->id, what);
    int64_t dims[TS_MAX_DIMS];
    for (int d = 0; d < ts_tensor_ndim(expr); d++)
        dims[d] = ts_tensor_dim(expr, d);
    *out = rly_build_value(b, name, ts_tensor_dtype(expr), ts_tensor_ndim(expr), dims, data);
    return *out ? TS_OK : ts_arena_check(b->arena, err);
}

static TsTensor *placeholder_of(RlyBuild *b, const char *name, const RlyValue *v)
{
    return ts_placeholder(b->arena, name, v->ndim, v->dims, v->dtype);
}

static RlyKernel *next_kernel(RlyBuild *b)
{
    RlyKernel *k = &b->kernels[b->num_kernels];
    memset(k, 0, sizeof *k);
    return k;
}

/* ---- dense ---- */

/* alpha * prod + beta * C (C broadcast to prod's [M, N]); prod when there is nothing to
 * add. */
static TsStatus gemm_epilogue(RlyBuild *b, const RlyNode *anchor, TsTensor *prod, RlyValueMap *map,
                              TsTensor **out, TsError *err)
{
    double alpha = 1, beta = 1;
    const RlyValue *c = rly_input(anchor, 2);
    *out = prod;
    if (anchor->op != RLY_OP_GEMM)
        return TS_OK;
    TsStatus st = rly_attr_float(b->graph, anchor, "alpha", 1, &alpha, err);
    if (st == TS_OK)
        st = rly_attr_float(b->graph, anchor, "beta", 1, &beta, err);
    if (st != TS_OK || (alpha == 1 && (!c || beta == 0)))
        return st;
    TsAxis *i = ts_axis(b->arena, "i", ts_tensor_dim(prod, 0));
    TsAxis *j = ts_axis(b->arena, "j", ts_tensor_dim(prod, 1));
    TsExpr *body = ts_access(b->arena, prod, 2, (TsExpr *[]){ ts_var(i), ts_var(j) });
    if (alpha != 1)
        body = ts_mul(b->arena, ts_f32(b->arena, alpha), body);
    if (c && beta != 0) {
        TsTensor *ct = rly_map_find(map, c);
        if (!ct) {
            ct = placeholder_of(b, "bias", c);
            rly_map_add(map, c, ct);
        }
        TsExpr *index[2];
        for (int d = 0; d < c->ndim; d++) {
            int from_end = c->ndim - d; /* 1: columns, 2: rows */
            int64_t extent = ts_tensor_dim(prod, 2 - from_end);
            index[d] = c->dims[d] == extent && extent > 1 ? ts_var(from_end == 1 ? j : i)
                                                          : ts_i32(b->arena, 0);
        }
        TsExpr *term = ts_access(b->arena, ct, c->ndim, index);
        if (beta != 1)
            term = ts_mul(b->arena, ts_f32(b->arena, beta), term);
        body = ts_add(b->arena, body, term);
    }
    *out = ts_compute(b->arena, "gemm_out", 2, (TsAxis *[]){ i, j }, body);
    return *out ? TS_OK : ts_arena_check(b->arena, err);
}

static bool contains(TsTensor *const *list, int n, const TsTensor *t)
{
    for (int i = 0; i < n; i++)
        if (list[i] == t)
            return true;
    return false;
}

/* The consumers of prod on the way to out, and the placeholders they read. */
static TsStatus make_dag(RlyBuild *b, TsTensor *prod, TsTensor *out, TsTemplateDag *dag,
                         TsError *err)
{
    TsTensor **all, **base;
    int n = ts_dag_stages(b->arena, 1, &out, &all);
    int nb = ts_dag_stages(b->arena, 1, &prod, &base);
    if (n < 0 || nb < 0)
        return ts_arena_check(b->arena, err);
    memset(dag, 0, sizeof *dag);
    for (int s = 0; s < n; s++) {
        if (contains(base, nb, all[s]))
            continue;
        bool input = ts_tensor_is_placeholder(all[s]);
        int *count = input ? &dag->num_inputs : &dag->num_consumers;
        if (*count == TS_TEMPLATE_MAX_TENSORS)
            return ts_fail(err, TS_EINVAL, "more than %d fused stages", TS_TEMPLATE_MAX_TENSORS);
        (input ? dag->inputs : dag->consumers)[(*count)++] = all[s];
    }
    return TS_OK;
}

static TsStatus dense_kernels(RlyBuild *b, const RlyGroup *group, const RlyWorkload *w,
                              const TsTuneTask *task, const TsConfig *config, TsError *err)
{
    const RlyNode *anchor = group->anchor;
    const TsTemplate *tmpl = ts_tune_task_template(task);
    const TsTemplateTarget *isa = ts_tune_task_isa(task);
    TsTemplateInstance inst = { 0 };
    RlyValueMap map;
    TsStatus st = tmpl->instantiate(&w->args, isa, config, b->arena, &inst, err);
    if (st == TS_OK)
        st = rly_map_init(b, &map, rly_group_map_capacity(group), err);
    if (st != TS_OK)
        return st;
    const RlyValue *weight = rly_input(anchor, 1);
    if (w->transposed_weight) {
        TsTensor *ph = placeholder_of(b, "weight", weight);
        RlyValue *t;
        st = constant_of(b, group, "weight_t", ph, weight,
                         ts_op_transpose(b->arena, ph, (const int[]){ 1, 0 }), &t, err);
        weight = t;
    }
    TsTensor *prod = inst.tensors[inst.num_tensors - 1], *y, *out;
    if (st == TS_OK) {
        rly_map_add(&map, rly_input(anchor, 0), inst.tensors[0]);
        rly_map_add(&map, weight, inst.tensors[1]);
        st = gemm_epilogue(b, anchor, prod, &map, &y, err);
    }
    if (st == TS_OK) {
        rly_map_add(&map, rly_output(anchor, 0), y);
        st = rly_group_placeholders(b, group, &map, err);
    }
    if (st == TS_OK)
        st = rly_group_lower_nodes(b, group, anchor, &map, err);
    if (st == TS_OK)
        st = rly_group_outputs(b, group, &map, &out, err);
    if (st == TS_OK && out != prod) {
        TsTemplateDag dag;
        st = make_dag(b, prod, out, &dag, err);
        if (st == TS_OK)
            st = ts_template_schedule_dag(tmpl, &w->args, isa, config, b->arena, &dag, &inst, err);
    }
    if (st == TS_OK)
        st = rly_lower_kernel(b, inst.sch, group, &map, rly_kernel_name(b, group, ""),
                              next_kernel(b), err);
    b->num_kernels += st == TS_OK;
    return st;
}

static bool same_dims(const RlyValue *v, const TsTensor *t)
{
    if (v->ndim != ts_tensor_ndim(t))
        return false;
    for (int d = 0; d < v->ndim; d++)
        if (v->dims[d] != ts_tensor_dim(t, d))
            return false;
    return true;
}

/* A group of its anchor alone and no bias (a pool, say): its out kernel only converts. */
static bool anchor_alone(const RlyGroup *group)
{
    return group->num_nodes == 1 && group->num_outputs == 1 &&
           !(group->anchor->op == RLY_OP_CONV && rly_input(group->anchor, 2));
}

/* ---- blocked layouts ---- */

/* Kernel 1: the NCHW input packed into the template's NCHW[cb]c, a scratch value. */
static TsStatus pack_kernel(RlyBuild *b, const RlyGroup *group, const TsTensor *data,
                            RlyValue **packed, TsError *err)
{
    *packed = scratch_of(b, group, "data_nchwc", data);
    if (!*packed)
        return ts_arena_check(b->arena, err);
    return rly_layout_kernel(b, group, rly_input(group->anchor, 0), *packed, "_pack", err);
}

/* The anchor's weight in the template's blocked layout, packed once into a constant. */
static TsStatus packed_weight(RlyBuild *b, const RlyGroup *group, const RlyWorkload *w,
                              const TsTensor *weight, RlyValue **out, TsError *err)
{
    const RlyValue *from = rly_input(group->anchor, 1);
    TsTensor *ph = placeholder_of(b, "weight", from);
    if (!ph)
        return ts_arena_check(b->arena, err);
    TsTensor *expr =
        !strcmp(w->op, "conv2d")
            ? ts_op_nchwc_pack_weight(b->arena, ph, ts_tensor_dim(weight, 4),
                                      ts_tensor_dim(weight, 5))
            : ts_op_nchwc_pack_depthwise_weight(b->arena, ph, ts_tensor_dim(weight, 3));
    return constant_of(b, group, "weight_nchwc", ph, from, expr, out, err);
}

/* Kernel 2: the template's kernel on the scratch values. */
static TsStatus template_kernel(RlyBuild *b, const RlyGroup *group, const RlyWorkload *w,
                                const TsTemplateInstance *inst, RlyValue *packed,
                                RlyValue **blocked, TsError *err)
{
    RlyValueMap map;
    TsStatus st = rly_map_init(b, &map, 3, err);
    if (st != TS_OK)
        return st;
    TsTensor *out = inst->tensors[inst->num_tensors - 1];
    rly_map_add(&map, packed, inst->tensors[0]);
    if (inst->num_tensors == 3) {
        RlyValue *weight;
        st = packed_weight(b, group, w, inst->tensors[1], &weight, err);
        if (st != TS_OK)
            return st;
        rly_map_add(&map, weight, inst->tensors[1]);
    }
    RlyValue *kept = rly_build_kept(b, group->outputs[0]);
    *blocked = kept && anchor_alone(group) && same_dims(kept, out)
                   ? kept
                   : scratch_of(b, group, "out_nchwc", out);
    if (!*blocked)
        return ts_arena_check(b->arena, err);
    rly_map_add(&map, *blocked, out);
    st = rly_lower_kernel(b, inst->sch, group, &map, rly_kernel_name(b, group, ""), next_kernel(b),
                          err);
    b->num_kernels += st == TS_OK;
    return st;
}

/* The group's inputs kept blocked: each graph value read through an unpack of its
 * blocked value's placeholder (inlined into the reader). */
static TsStatus blocked_inputs(RlyBuild *b, const RlyGroup *group, RlyValueMap *map, TsError *err)
{
    for (int i = 0; i < group->num_inputs; i++) {
        RlyValue *kept = rly_build_kept(b, group->inputs[i]);
        if (!kept || rly_map_find(map, group->inputs[i]))
            continue;
        TsTensor *ph = placeholder_of(b, "in_nchwc", kept);
        TsTensor *nchw = ph ? ts_op_nchwc_unpack(b->arena, ph) : NULL;
        if (!nchw)
            return ts_arena_check(b->arena, err);
        rly_map_add(map, kept, ph);
        rly_map_add(map, group->inputs[i], nchw);
    }
    return TS_OK;
}

/* The kernel of the group's output packed into the block its readers want (the
 * output kept blocked). */
static TsStatus packed_out_kernel(RlyBuild *b, const RlyGroup *group, RlyValueMap *map,
                                  RlyValue *kept, TsError *err)
{
    TsTensor *y = rly_map_find(map, group->outputs[0]);
    TsTensor *out = y ? ts_op_nchwc_pack(b->arena, y, kept->dims[4]) : NULL;
    if (!out)
        return y ? ts_arena_check(b->arena, err)
                 : ts_fail(err, TS_EINVAL, "build: group %d does not compute its output %s",
                           group->id, group->outputs[0]->name);
    rly_map_add(map, kept, out);
    TsSchedule *sch = ts_schedule_create(b->arena, 1, &out);
    if (!sch)
        return ts_arena_check(b->arena, err);
    TsStatus st = rly_schedule_generic(b, sch, 1, &out, err);
    if (st == TS_OK)
        st = rly_lower_kernel(b, sch, group, map, rly_kernel_name(b, group, "_out"), next_kernel(b),
                              err);
    return st;
}

/* Kernel 3: unpack, the conv's bias and the group's fused nodes (inputs kept blocked
 * unpacked on the fly); packed again into its readers' block when the output is kept
 * blocked. */
static TsStatus out_kernel(RlyBuild *b, const RlyGroup *group, const RlyValue *blocked,
                           TsError *err)
{
    const RlyNode *anchor = group->anchor;
    RlyValueMap map;
    TsStatus st =
        rly_map_init(b, &map, rly_group_map_capacity(group) + 2 * group->num_inputs + 2, err);
    if (st != TS_OK)
        return st;
    TsTensor *ph = placeholder_of(b, "blocked", blocked);
    TsTensor *y = ph ? ts_op_nchwc_unpack(b->arena, ph) : NULL;
    const RlyValue *bias = anchor->op == RLY_OP_CONV ? rly_input(anchor, 2) : NULL;
    if (y && bias) {
        TsTensor *bt = placeholder_of(b, "bias", bias);
        rly_map_add(&map, bias, bt);
        y = bt ? ts_op_bias_add(b->arena, y, bt, 1) : NULL;
    }
    if (!y)
        return ts_arena_check(b->arena, err);
    rly_map_add(&map, blocked, ph);
    rly_map_add(&map, rly_output(anchor, 0), y);
    st = blocked_inputs(b, group, &map, err);
    if (st == TS_OK)
        st = rly_group_placeholders(b, group, &map, err);
    if (st == TS_OK)
        st = rly_group_lower_nodes(b, group, anchor, &map, err);
    RlyValue *kept = rly_build_kept(b, group->outputs[0]);
    if (st == TS_OK && kept)
        st = packed_out_kernel(b, group, &map, kept, err);
    else if (st == TS_OK)
        st = rly_generic_kernel(b, group, &map, rly_kernel_name(b, group, "_out"), next_kernel(b),
                                err);
    b->num_kernels += st == TS_OK;
    return st;
}

/* The out kernel of an anchor alone: a layout kernel into what its readers want, or
 * nothing when they want the template's block (template_kernel wrote it in place). */
static TsStatus layout_out_kernel(RlyBuild *b, const RlyGroup *group, RlyValue *blocked,
                                  TsError *err)
{
    RlyValue *kept = rly_build_kept(b, group->outputs[0]);
    if (kept == blocked)
        return TS_OK;
    return rly_layout_kernel(b, group, blocked, kept ? kept : group->outputs[0],
                             kept ? "_repack" : "_unpack", err);
}

/* ---- conv2d: the group in one kernel ---- */

/* The group's output over the conv's blocked output: unpacked to NCHW, the bias and the
 * group's fused nodes there (inputs kept blocked unpacked on the fly), packed back into
 * the conv's block. The pack of the unpack cancels in the simplifier, so each output
 * position reads its own accumulator lane and the chain runs on the register block. */
static TsStatus fused_chain(RlyBuild *b, const RlyGroup *group, TsTensor *conv, RlyValueMap *map,
                            TsTensor **final, TsError *err)
{
    const RlyNode *anchor = group->anchor;
    const RlyValue *bias = rly_input(anchor, 2);
    TsTensor *y = ts_op_nchwc_unpack(b->arena, conv), *out = NULL;
    if (y && bias) {
        TsTensor *bt = placeholder_of(b, "bias", bias);
        rly_map_add(map, bias, bt);
        y = bt ? ts_op_bias_add(b->arena, y, bt, 1) : NULL;
    }
    if (!y)
        return ts_arena_check(b->arena, err);
    rly_map_add(map, rly_output(anchor, 0), y);
    TsStatus st = blocked_inputs(b, group, map, err);
    if (st == TS_OK)
        st = rly_group_placeholders(b, group, map, err);
    if (st == TS_OK)
        st = rly_group_lower_nodes(b, group, anchor, map, err);
    if (st == TS_OK)
        st = rly_group_outputs(b, group, map, &out, err);
    if (st != TS_OK)
        return st;
    for (int d = 0; d < 4; d++)
        if (ts_tensor_ndim(out) != 4 || ts_tensor_dim(out, d) != ts_tensor_dim(y, d))
            return ts_fail(err, TS_EINVAL, "group %d: its output %s is not of its conv's shape",
                           group->id, group->outputs[0]->name);
    *final = ts_op_nchwc_pack(b->arena, out, ts_tensor_dim(conv, 4));
    return *final ? TS_OK : ts_arena_check(b->arena, err);
}

/* The value the fused kernel writes: the output kept blocked in the conv's block, else a
 * scratch value that a layout kernel converts (*convert) into what the readers want. */
static RlyValue *fused_target(RlyBuild *b, const RlyGroup *group, const TsTensor *final,
                              bool *convert)
{
    RlyValue *kept = rly_build_kept(b, group->outputs[0]);
    *convert = !kept || !same_dims(kept, final);
    return *convert ? scratch_of(b, group, "out_nchwc", final) : kept;
}

static TsStatus fused_conv_kernels(RlyBuild *b, const RlyGroup *group, const RlyWorkload *w,
                                   const TsTemplate *tmpl, const TsTemplateTarget *isa,
                                   const TsConfig *config, TsTemplateInstance *inst,
                                   RlyValue *packed, TsError *err)
{
    RlyValueMap map;
    TsStatus st =
        rly_map_init(b, &map, rly_group_map_capacity(group) + 2 * group->num_inputs + 4, err);
    RlyValue *weight = NULL, *target = NULL;
    TsTensor *conv = inst->tensors[inst->num_tensors - 1], *final = NULL;
    if (st == TS_OK)
        st = packed_weight(b, group, w, inst->tensors[1], &weight, err);
    if (st == TS_OK) {
        rly_map_add(&map, packed, inst->tensors[0]);
        rly_map_add(&map, weight, inst->tensors[1]);
        st = fused_chain(b, group, conv, &map, &final, err);
    }
    bool convert = false;
    if (st == TS_OK && !(target = fused_target(b, group, final, &convert)))
        st = ts_arena_check(b->arena, err);
    TsTemplateDag dag;
    if (st == TS_OK) {
        rly_map_add(&map, target, final);
        st = make_dag(b, conv, final, &dag, err);
    }
    if (st == TS_OK)
        st = ts_template_schedule_dag(tmpl, &w->args, isa, config, b->arena, &dag, inst, err);
    if (st == TS_OK)
        st = rly_lower_kernel(b, inst->sch, group, &map, rly_kernel_name(b, group, ""),
                              next_kernel(b), err);
    b->num_kernels += st == TS_OK;
    if (st != TS_OK || !convert)
        return st;
    RlyValue *kept = rly_build_kept(b, group->outputs[0]);
    return rly_layout_kernel(b, group, target, kept ? kept : group->outputs[0],
                             kept ? "_repack" : "_unpack", err);
}

static bool fuses_in_template(const RlyWorkload *w, const TsTemplate *tmpl,
                              const TsTemplateInstance *inst)
{
    return (!strcmp(w->op, "conv2d") || !strcmp(w->op, "depthwise_conv2d")) && tmpl->schedule_dag &&
           inst->num_tensors == 3;
}

static TsStatus blocked_kernels(RlyBuild *b, const RlyGroup *group, const RlyWorkload *w,
                                const TsTuneTask *task, const TsConfig *config, TsError *err)
{
    const TsTemplate *tmpl = ts_tune_task_template(task);
    TsTemplateInstance inst = { 0 };
    TsStatus st = tmpl->instantiate(&w->args, ts_tune_task_isa(task), config, b->arena, &inst, err);
    if (st == TS_OK &&
        (inst.num_tensors < 2 || inst.num_outputs != 1 || ts_tensor_ndim(inst.tensors[0]) != 5))
        st = ts_fail(err, TS_EINVAL, "template %s: an instance of another layout", tmpl->name);
    RlyValue *packed = rly_build_kept(b, rly_input(group->anchor, 0)), *blocked = NULL;
    if (st == TS_OK && packed && !same_dims(packed, inst.tensors[0]))
        st = ts_fail(err, TS_EINVAL, "value %s is kept in another block than the template's",
                     packed->name);
    if (st == TS_OK && !packed)
        st = pack_kernel(b, group, inst.tensors[0], &packed, err);
    if (st == TS_OK && fuses_in_template(w, tmpl, &inst)) {
        int kernels = b->num_kernels, scratch = b->num_scratch;
        int64_t cursor = b->scratch_cursor;
        st = fused_conv_kernels(b, group, w, tmpl, ts_tune_task_isa(task), config, &inst, packed,
                                err);
        if (st != TS_EINVAL)
            return st;
        rly_build_note(b,
                       "group %d (node %s): its fused nodes stay out of the conv's kernel "
                       "(%s)",
                       group->id, group->anchor->label, err->message);
        b->num_kernels = kernels;
        b->num_scratch = scratch;
        b->scratch_cursor = cursor;
        st = TS_OK;
    }
    if (st == TS_OK)
        st = template_kernel(b, group, w, &inst, packed, &blocked, err);
    if (st == TS_OK && anchor_alone(group))
        return layout_out_kernel(b, group, blocked, err);
    if (st == TS_OK)
        st = out_kernel(b, group, blocked, err);
    return st;
}

/* ---- the task and its config ---- */

typedef struct Notes {
    RlyBuild *b;
    const RlyGroup *group;
} Notes;

/* apply-best's warnings, with the message the user looks for when a record is missing. */
static void forward_warning(const char *message, void *user)
{
    const Notes *n = user;
    const char *tail = strstr(message, ": using the default config");
    if (strncmp(message, "no tuning record for ", 21) == 0 && tail)
        rly_build_note(n->b, "no record for task %.*s, using the default config (node %s)",
                       (int)(tail - message - 21), message + 21, n->group->anchor->label);
    else
        rly_build_note(n->b, "%s", message);
}

TsStatus rly_build_anchored(RlyBuild *b, const RlyGroup *group, bool *handled, TsError *err)
{
    *handled = false;
    RlyWorkload w;
    if (group->kind != RLY_GROUP_ANCHORED || !group->anchor || group->num_outputs != 1 ||
        !rly_node_workload(b->graph, group->anchor, &w))
        return TS_OK;
    TsError why;
    TsTuneTask *task = NULL;
    TsConfig config;
    bool found = false;
    TsTuneRecord best;
    Notes notes = { b, group };
    const char *target = b->options->target ? b->options->target : "llvm";
    TsStatus st = ts_tune_task_create(w.op, &w.args, target, &task, &why);
    if (st == TS_OK)
        st = ts_tune_apply_best(task, b->options->num_logs, b->options->logs, forward_warning,
                                &notes, &config, &found, &best, &why);
    if (st == TS_OK)
        rly_build_agreed_config(b, group, &config);
    for (int i = 0; st == TS_OK && i < b->num_groups && b->depthwise_block; i++)
        if (b->groups[i] == group && b->depthwise_block[i] > 0 &&
            !rly_depthwise_block_config(task, &config, b->depthwise_block[i], &config))
            st = ts_fail(&why, TS_EINVAL, "no config of block %lld", /* planned, so found */
                         (long long)b->depthwise_block[i]);
    int kernels_before = b->num_kernels, scratch_before = b->num_scratch;
    b->scratch_cursor = 0;
    if (st == TS_OK)
        st = !strcmp(w.op, "dense") ? dense_kernels(b, group, &w, task, &config, &why)
                                    : blocked_kernels(b, group, &w, task, &config, &why);
    ts_tune_task_free(task);
    if (st == TS_ENOMEM)
        return ts_fail(err, st, "%s", why.message);
    if (st != TS_OK && rly_group_touches_kept(b, group))
        return ts_fail(err, TS_EINVAL,
                       "build: group %d (node %s) reads or writes a value kept "
                       "blocked, and its template kernel failed: %s",
                       group->id, group->anchor->label, why.message);
    if (st != TS_OK) {
        b->num_kernels = kernels_before;
        b->num_scratch = scratch_before;
        rly_build_note(b, "group %d (node %s): no template kernel (%s); generic schedule",
                       group->id, group->anchor->label, why.message);
        return TS_OK;
    }
    *handled = true;
    if (found)
        b->stats.num_tuned++;
    else
        b->stats.num_default++;
    return TS_OK;
}
