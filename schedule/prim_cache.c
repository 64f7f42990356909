/* The caching primitives: cache_read adds a stage copying a tensor that chosen readers
 * read instead; cache_write moves a stage's computation into a new ".local" stage and
 * leaves the stage a copy of it. Both rewrite ops, never the tensors users hold, and
 * change the schedule only once every new op, stage and array is built. */
#include <stdio.h>
#include <string.h>

#include "sch_internal.h"

/* ---- cache_read and cache_write ---- */

typedef struct {
    const TsTensor *from;
    TsTensor *to;
} Retarget;

static TsExpr *retarget_access(void *ctx, TsArena *arena, TsExpr *e)
{
    const Retarget *r = ctx;
    if (e->kind != TE_ACCESS || e->u.access.tensor != r->from)
        return NULL;
    TsExpr **indices = ts_arena_alloc(arena, sizeof *indices * (size_t)e->u.access.num_indices);
    if (!indices)
        return TE_MUTATE_FAILED;
    TeMutator m = { .expr = retarget_access, .ctx = ctx };
    for (int i = 0; i < e->u.access.num_indices; i++)
        if (!(indices[i] = te_mutate_expr(arena, e->u.access.indices[i], &m)))
            return TE_MUTATE_FAILED;
    TsExpr *x = ts_access(arena, r->to, e->u.access.num_indices, indices);
    return x ? x : TE_MUTATE_FAILED;
}

/* "<base>.<suffix>", or "<base>.<suffix>2", ... when a stage already has that name. */

/* A compute op copying src over fresh axes: name[i...] = src[i...]. */
static TsTensor *copy_op(TsArena *arena, const char *name, const TsTensor *src, const char *tag)
{
    TsAxis *axes[TS_MAX_DIMS];
    TsExpr *idx[TS_MAX_DIMS];
    for (int i = 0; i < src->ndim; i++) {
        const char *axis_name = src->op == TE_OP_COMPUTE ? src->axes[i]->name : NULL;
        char fallback[16];
        snprintf(fallback, sizeof fallback, "ax%d", i);
        axes[i] = ts_axis(arena, axis_name ? axis_name : fallback, ts_tensor_dim(src, i));
        idx[i] = ts_var(axes[i]);
    }
    return ts_compute_tagged(arena, name, tag, src->ndim, axes,
                             ts_access(arena, (TsTensor *)src, src->ndim, idx));
}

/* The op of reader with its reads of source (and of tensor, when the stage of tensor
 * computes source) going to copy instead; NULL when a builder failed. */
static TsTensor *read_from_copy(TsArena *arena, const TsStage *reader, const TsTensor *source,
                                const TsTensor *tensor, TsTensor *copy)
{
    Retarget rt = { source, copy };
    TeMutator m = { .expr = retarget_access, .ctx = &rt };
    TsExpr *body = te_mutate_expr(arena, reader->op->body, &m);
    if (source != tensor && body) {
        rt.from = tensor;
        body = te_mutate_expr(arena, body, &m);
    }
    return body ? te_compute_rewrite(arena, reader->op, NULL, body) : NULL;
}

TsStatus ts_cache_read(TsSchedule *sch, TsTensor *tensor, int num_readers,
                       TsStage *const *readers, TsTensor **cache, TsError *err)
{
    if (!sch || !tensor)
        return ts_fail(err, TS_EINVAL, "cache_read: the schedule or the tensor is NULL");
    if (num_readers < 1 || !readers)
        return ts_fail(err, TS_EINVAL, "cache_read of %s: no readers given", tensor->name);
    TsStage *own = sch_find_stage(sch, tensor);
    const TsTensor *source = own ? own->op : tensor;
    if (!own && !ts_tensor_is_placeholder(tensor))
        return ts_fail(err, TS_EINVAL, "cache_read: %s is not part of this schedule",
                       tensor->name);
    int first = sch->num_stages;
    for (int i = 0; i < num_readers; i++) {
        if (!readers[i])
            return ts_fail(err, TS_EINVAL, "cache_read of %s: reader %d is NULL", tensor->name, i);
        bool direct = false;
        for (int k = 0; k < readers[i]->op->num_inputs; k++)
            direct = direct || readers[i]->op->inputs[k] == source ||
                     readers[i]->op->inputs[k] == tensor;
        if (!direct)
            return ts_fail(err, TS_ESCHEDULE, "cache_read of %s: stage %s does not read it",
                           tensor->name, readers[i]->op->name);
        int pos = sch_stage_position(sch, readers[i]);
        if (pos < 0)
            return ts_fail(err, TS_EINVAL, "cache_read of %s: reader %d (stage %s) is not a "
                           "stage of this schedule", tensor->name, i, readers[i]->op->name);
        first = pos < first ? pos : first;
    }
    TsArena *arena = sch->arena;
    char name[256];
    sch_unique_name(sch, tensor->name, "cache", name, sizeof name);
    /* The copy reads the stage by its lasting identity, not by its current op, which a
     * later cache_write or rfactor may replace. */
    TsTensor *copy = copy_op(arena, name, own ? own->tensor : tensor, "cache_read");
    TsStage *st = copy ? sch_new_stage(sch, copy, copy) : NULL;
    TsStage **stages = st ? sch_stages_with(sch, st, first) : NULL;
    TsTensor **ops = ts_arena_alloc(arena, sizeof *ops * (size_t)num_readers);
    if (!stages || !ops)
        return sch_builder_failed(arena, err, "cache_read");
    for (int i = 0; i < num_readers; i++)
        if (!(ops[i] = read_from_copy(arena, readers[i], source, tensor, copy)))
            return sch_builder_failed(arena, err, "cache_read");
    if (!sch_log(sch, "cache_read %s -> %s for %d reader(s)", tensor->name, copy->name,
                 num_readers))
        return ts_fail(err, TS_ENOMEM, "cache_read of %s: out of memory", tensor->name);
    sch->stages = stages;
    sch->num_stages++;
    for (int i = 0; i < num_readers; i++)
        readers[i]->op = ops[i];
    if (cache)
        *cache = copy;
    return TS_OK;
}

TsStatus ts_cache_write(TsSchedule *sch, TsTensor *tensor, TsTensor **cache, TsError *err)
{
    if (!sch || !tensor)
        return ts_fail(err, TS_EINVAL, "cache_write: the schedule or the tensor is NULL");
    TsStage *st = sch_find_stage(sch, tensor);
    if (!st)
        return ts_fail(err, TS_EINVAL, "cache_write: %s is not a compute stage of this schedule",
                       tensor->name);
    const char *sname = st->op->name;
    if (st->attach != SCH_ATTACH_ROOT)
        return ts_fail(err, TS_ESCHEDULE, "cache_write on stage %s: the stage is already %s; "
                       "cache_write must come before compute_at and compute_inline", sname,
                       st->attach == SCH_ATTACH_AT ? "attached" : "inlined");
    if (st->num_relations > 0 || st->num_axes > st->num_root)
        return ts_fail(err, TS_ESCHEDULE, "cache_write on stage %s: its loops were already "
                       "split or fused; cache_write must come first", sname);
    const TsStage *inside = sch_attached_at_reduce(st);
    if (inside)
        return ts_fail(err, TS_ESCHEDULE, "cache_write on stage %s: stage %s is computed at its "
                       "reduce loop %s, which cache_write moves to a new stage; attach %s "
                       "elsewhere first", sname, inside->op->name, inside->attach_axis->name,
                       inside->op->name);
    TsArena *arena = sch->arena;
    const TsTensor *op = st->op;
    /* The new stage computes the body over fresh output axes, keeping the reduce axes. */
    TsAxis *axes[TS_MAX_DIMS];
    const TsExpr *vars[TS_MAX_DIMS];
    TsExpr *values[TS_MAX_DIMS];
    for (int i = 0; i < op->ndim; i++) {
        char axis_name[256];
        snprintf(axis_name, sizeof axis_name, "%s.c", op->axes[i]->name);
        axes[i] = ts_axis(arena, axis_name, ts_tensor_dim(op, i));
        vars[i] = op->axes[i]->var;
        values[i] = ts_var(axes[i]);
    }
    char name[256];
    sch_unique_name(sch, sname, "local", name, sizeof name);
    TsExpr *body = te_substitute(arena, op->body, op->ndim, vars, values);
    TsTensor *local = body ? ts_compute_tagged(arena, name, op->tag, op->ndim, axes, body) : NULL;
    TsTensor *copy = NULL;
    if (local) {
        TsExpr *idx[TS_MAX_DIMS];
        for (int i = 0; i < op->ndim; i++)
            idx[i] = op->axes[i]->var;
        copy = te_compute_rewrite(arena, op, NULL, ts_access(arena, local, op->ndim, idx));
    }
    TsStage *local_stage = copy ? sch_new_stage(sch, local, local) : NULL;
    /* The original stage becomes a copy: its root axes are the output axes alone. */
    TsStage *fresh = local_stage ? sch_new_stage(sch, copy, st->tensor) : NULL;
    TsStage **stages = fresh ? sch_stages_with(sch, local_stage, sch_stage_position(sch, st))
                             : NULL;
    if (!stages)
        return sch_builder_failed(arena, err, "cache_write");
    fresh->is_output = st->is_output;
    if (!sch_log(sch, "cache_write %s -> %s", sname, local->name))
        return sch_no_memory(err, st);
    sch->stages = stages;
    sch->num_stages++;
    *st = *fresh;
    if (cache)
        *cache = local;
    return TS_OK;
}
