/* Templates over a given DAG: the checks ts_template_schedule_dag makes before a
 * template schedules the operator it built together with the elementwise consumers a
 * graph fused after it (bias add, ReLU, requantize; for a blocked-layout operator, the
 * unpack to NCHW, the fused nodes there and the pack back, which cancel), and the part
 * of that schedule every template shares: the consumers before the last are inlined,
 * so the whole chain is computed where the last one stores, at the template's register
 * tile. */
#include <string.h>

#include "tmpl_internal.h"

static bool same_shape(const TsTensor *a, const TsTensor *b)
{
    if (ts_tensor_ndim(a) != ts_tensor_ndim(b))
        return false;
    for (int i = 0; i < ts_tensor_ndim(a); i++)
        if (ts_tensor_dim(a, i) != ts_tensor_dim(b, i))
            return false;
    return true;
}

static bool listed(const TsTemplateDag *dag, const TsTensor *t)
{
    for (int i = 0; i < dag->num_inputs; i++)
        if (dag->inputs[i] == t)
            return true;
    return false;
}

/* The index of t among the consumers before i, -1 when it is none of them. */
static int earlier_consumer(const TsTemplateDag *dag, int i, const TsTensor *t)
{
    for (int k = 0; k < i; k++)
        if (dag->consumers[k] == t)
            return k;
    return -1;
}

/* Consumer i reads the operator's output or earlier consumers, and otherwise only listed
 * placeholders (sch_dag_begin refuses one that reduces). The last consumer (the
 * kernel's output) has the operator's shape; the ones before it are inlined into it, so
 * they may have another (an unpack to NCHW and the fused nodes over it, packed back by
 * the last): the chain stays a function of one output position. *reaches says whether the consumer reads the
 * operator's output, directly or through earlier consumers. */
static TsStatus check_consumer(const char *name, const TsTemplateDag *dag, const TsTensor *op,
                               int i, bool *reaches, TsError *err)
{
    const TsTensor *c = dag->consumers[i];
    const TsTensor *prev = i > 0 ? dag->consumers[i - 1] : op;
    if (!c || ts_tensor_is_placeholder(c))
        return ts_fail(err, TS_EINVAL, "template %s: DAG consumer %d is %s, not a compute op", name,
                       i, c ? ts_tensor_name(c) : "NULL");
    if (i == dag->num_consumers - 1 && !same_shape(c, op))
        return ts_fail(err, TS_EINVAL,
                       "template %s: DAG consumer %s does not have the shape of "
                       "%s: a fused consumer must be elementwise",
                       name, ts_tensor_name(c), ts_tensor_name(op));
    reaches[i] = false;
    for (int k = 0; k < ts_tensor_num_inputs(c); k++) {
        const TsTensor *in = ts_tensor_input(c, k);
        int j = earlier_consumer(dag, i, in);
        if (in == op || j >= 0)
            reaches[i] = reaches[i] || in == op || reaches[j];
        else if (!listed(dag, in))
            return ts_fail(err, TS_EINVAL,
                           "template %s: DAG consumer %s reads %s, which is "
                           "neither %s nor one of the DAG's inputs (nor a consumer before it)",
                           name, ts_tensor_name(c), ts_tensor_name(in), ts_tensor_name(prev));
    }
    if (i == dag->num_consumers - 1 && !reaches[i])
        return ts_fail(err, TS_EINVAL, "template %s: DAG consumer %s does not read %s", name,
                       ts_tensor_name(c), ts_tensor_name(op));
    return TS_OK;
}

static TsStatus check_dag(const TsTemplate *tmpl, const TsTemplateDag *dag,
                          const TsTemplateInstance *inst, TsError *err)
{
    if (!inst || inst->num_outputs != 1 || inst->num_tensors < 1 || !inst->sch)
        return ts_fail(err, TS_EINVAL, "template %s: a DAG needs an instance with one output",
                       tmpl->name);
    if (dag->num_consumers < 1 || dag->num_consumers > TS_TEMPLATE_MAX_TENSORS ||
        dag->num_inputs < 0 || inst->num_tensors + dag->num_inputs > TS_TEMPLATE_MAX_TENSORS)
        return ts_fail(err, TS_EINVAL,
                       "template %s: a DAG of %d consumers and %d inputs "
                       "(1..%d consumers, at most %d kernel arguments)",
                       tmpl->name, dag->num_consumers, dag->num_inputs, TS_TEMPLATE_MAX_TENSORS,
                       TS_TEMPLATE_MAX_TENSORS);
    for (int i = 0; i < dag->num_inputs; i++)
        if (!dag->inputs[i] || !ts_tensor_is_placeholder(dag->inputs[i]))
            return ts_fail(err, TS_EINVAL, "template %s: DAG input %d (%s) is not a placeholder",
                           tmpl->name, i, dag->inputs[i] ? ts_tensor_name(dag->inputs[i]) : "NULL");
    const TsTensor *op = inst->tensors[inst->num_tensors - 1];
    bool reaches[TS_TEMPLATE_MAX_TENSORS];
    for (int i = 0; i < dag->num_consumers; i++) {
        TsStatus st = check_consumer(tmpl->name, dag, op, i, reaches, err);
        if (st != TS_OK)
            return st;
    }
    return TS_OK;
}

TsStatus ts_template_schedule_dag(const TsTemplate *tmpl, const TsTemplateArgs *args,
                                  const TsTemplateTarget *target, const TsConfig *config,
                                  TsArena *arena, const TsTemplateDag *dag,
                                  TsTemplateInstance *inst, TsError *err)
{
    if (!tmpl || !args || !target || !config || !arena || !dag || !inst)
        return ts_fail(err, TS_EINVAL, "template schedule DAG: NULL argument");
    if (!tmpl->schedule_dag)
        return ts_fail(err, TS_EINVAL, "template %s cannot schedule a DAG (no schedule_dag)",
                       tmpl->name);
    TsStatus st = check_dag(tmpl, dag, inst, err);
    if (st != TS_OK)
        return st;
    TsTemplateInstance fused = *inst;
    st = tmpl->schedule_dag(args, target, config, arena, dag, &fused, err);
    if (st != TS_OK)
        return st;
    *inst = fused;
    return TS_OK;
}

TsStatus sch_dag_begin(TsArena *arena, const TsTemplateDag *dag, TsTensor *op_output,
                       TsSchedule **sch, TsTensor **final, TsError *err)
{
    *final = dag && dag->num_consumers > 0 ? dag->consumers[dag->num_consumers - 1] : op_output;
    *sch = ts_schedule_create(arena, 1, final);
    if (!*sch)
        return ts_arena_check(arena, err);
    for (int c = 0; dag && c < dag->num_consumers; c++) {
        TsTensor *t = dag->consumers[c];
        TsStage *stage = ts_stage(*sch, t);
        for (int i = ts_tensor_ndim(t); stage && i < ts_stage_num_root_axes(stage); i++)
            if (ts_axis_is_reduce(ts_stage_root_axis(stage, i)))
                return ts_fail(err, TS_EINVAL,
                               "DAG consumer %s reduces: a fused consumer must be "
                               "elementwise",
                               ts_tensor_name(t));
    }
    for (int i = 0; dag && i + 1 < dag->num_consumers; i++) {
        TsStatus st = ts_compute_inline(ts_stage(*sch, dag->consumers[i]), err);
        if (st != TS_OK)
            return st;
    }
    return TS_OK;
}

void sch_dag_finish(const TsTemplateDag *dag, TsSchedule *sch, TsTensor *final,
                    TsTemplateInstance *inst)
{
    int n = inst->num_tensors - 1; /* the operator's inputs */
    for (int i = 0; dag && i < dag->num_inputs; i++)
        inst->tensors[n++] = dag->inputs[i];
    inst->tensors[n++] = final;
    inst->num_tensors = n;
    inst->num_outputs = 1;
    inst->sch = sch;
}
