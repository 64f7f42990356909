/* rfactor: splits a stage's reduction over one reduce leaf into a new ".rf" stage
 * where that leaf is a data-parallel axis, and makes the stage reduce the ".rf" tensor
 * over it, keeping what was said about the stage's data-parallel axes. The new stage
 * and the stage's new record are built aside and stored at the end. */
#include <stdio.h>
#include <string.h>

#include "sch_internal.h"

/* The value of each reduce root axis of st in terms of its reduce leaves, with the
 * conditions that keep split tails out (reduce domains do not depend on bounds, so the
 * extents recorded at split time hold). leaf_vars maps reduce leaves to replacements. */
static bool reduce_roots_in_leaves(const TsStage *st, int num_leaves, TsAxis *const *leaves,
                                   TsExpr *const *leaf_values, TsExpr **root_values,
                                   TsExpr **guard)
{
    TsArena *A = st->sch->arena;
    int n = st->num_axes;
    TsExpr **value = ts_arena_alloc(A, sizeof *value * (size_t)n);
    if (!value)
        return false;
    for (int i = 0; i < num_leaves; i++)
        value[sch_axis_info(st, leaves[i]) - st->axes] = leaf_values[i];
    *guard = NULL;
    for (int r = st->num_relations - 1; r >= 0; r--) {
        const SchRelation *rel = &st->relations[r];
        TsAxis *probe = rel->kind == SCH_REL_FUSE ? rel->fused : rel->parent;
        if (!probe->is_reduce)
            continue;
        int so = (int)(sch_axis_info(st, rel->outer) - st->axes);
        int si = (int)(sch_axis_info(st, rel->inner) - st->axes);
        int64_t inner_extent = ts_axis_extent(rel->inner);
        if (rel->kind == SCH_REL_FUSE) {
            TsExpr *f = value[sch_axis_info(st, rel->fused) - st->axes];
            value[so] = ts_floordiv(A, f, ts_i32(A, inner_extent));
            value[si] = ts_floormod(A, f, ts_i32(A, inner_extent));
            continue;
        }
        TsExpr *v = ts_add(A, ts_mul(A, value[so], ts_i32(A, inner_extent)), value[si]);
        value[sch_axis_info(st, rel->parent) - st->axes] = v;
        int64_t parent_extent = ts_axis_extent(rel->parent);
        if (ts_axis_extent(rel->outer) * inner_extent != parent_extent) {
            TsExpr *g = ts_lt(A, v, ts_i32(A, parent_extent));
            *guard = *guard ? ts_and(A, *guard, g) : g;
        }
    }
    for (int i = st->op->ndim; i < st->num_root; i++)
        if (!(root_values[i - st->op->ndim] = value[sch_axis_info(st, st->root[i]) - st->axes]))
            return false;
    return true;
}

TsStatus ts_rfactor(TsSchedule *sch, TsTensor *tensor, TsAxis *axis, TsTensor **factored,
                    TsError *err)
{
    if (!sch || !tensor)
        return ts_fail(err, TS_EINVAL, "rfactor: the schedule or the tensor is NULL");
    TsStage *st = sch_find_stage(sch, tensor);
    if (!st)
        return ts_fail(err, TS_EINVAL, "rfactor: %s is not a compute stage of this schedule",
                       tensor->name);
    const TsTensor *op = st->op;
    const char *sname = op->name;
    TsStatus status = sch_check_leaf(st, axis, "rfactor", err);
    if (status != TS_OK)
        return status;
    if (op->body->kind != TE_REDUCE || !axis->is_reduce)
        return ts_fail(err, TS_ESCHEDULE, "rfactor on stage %s: axis %s is not a reduction axis",
                       sname, axis->name);
    if (st->attach != SCH_ATTACH_ROOT)
        return ts_fail(err, TS_ESCHEDULE, "rfactor on stage %s: the stage is attached; rfactor "
                       "must come before compute_at", sname);
    const TsStage *inside = sch_attached_at_reduce(st);
    if (inside)
        return ts_fail(err, TS_ESCHEDULE, "rfactor on stage %s: stage %s is computed at its "
                       "reduce loop %s, which rfactor replaces; attach %s elsewhere first",
                       sname, inside->op->name, inside->attach_axis->name, inside->op->name);
    const TsExpr *body = op->body;
    TsArena *A = sch->arena;
    /* rf[a, data...] = reduce over the other reduce leaves of the source. */
    TsAxis *rf_axes[TS_MAX_DIMS + 1], *rf_reduce[64], *leaves[64];
    TsExpr *leaf_values[64];
    const TsExpr *data_vars[TS_MAX_DIMS];
    TsExpr *data_values[TS_MAX_DIMS];
    int num_reduce = 0, num_leaves = 0;
    if (st->num_leaves > 64 || st->num_root - op->ndim > 64)
        return ts_fail(err, TS_ESCHEDULE, "rfactor on stage %s: more than 64 loops", sname);
    if (op->ndim + 1 > TS_MAX_DIMS)
        return ts_fail(err, TS_ESCHEDULE, "rfactor on stage %s: the factored tensor would have "
                       "more than %d dimensions", sname, TS_MAX_DIMS);
    rf_axes[0] = ts_axis(A, axis->name, ts_axis_extent(axis));
    for (int d = 0; d < op->ndim; d++) {
        rf_axes[d + 1] = ts_axis(A, op->axes[d]->name, ts_tensor_dim(op, d));
        data_vars[d] = op->axes[d]->var;
        data_values[d] = ts_var(rf_axes[d + 1]);
    }
    for (int i = 0; i < st->num_leaves; i++) {
        TsAxis *leaf = st->leaves[i];
        if (!leaf->is_reduce)
            continue;
        leaves[num_leaves] = leaf;
        if (leaf == axis) {
            leaf_values[num_leaves++] = ts_var(rf_axes[0]);
            continue;
        }
        rf_reduce[num_reduce] = ts_reduce_axis(A, leaf->name, ts_axis_extent(leaf));
        leaf_values[num_leaves++] = ts_var(rf_reduce[num_reduce++]);
    }
    int num_roots = st->num_root - op->ndim;
    TsExpr *root_values[64], *guard;
    const TsExpr *root_vars[64];
    for (int i = 0; i < num_roots; i++)
        root_vars[i] = st->root[op->ndim + i]->var;
    if (!reduce_roots_in_leaves(st, num_leaves, leaves, leaf_values, root_values, &guard))
        return sch_builder_failed(A, err, "rfactor");
    TsExpr *source = te_substitute(A, body->u.reduce.source, num_roots, root_vars, root_values);
    source = te_substitute(A, source, op->ndim, data_vars, data_values);
    TsExpr *cond = body->u.reduce.cond
                       ? te_substitute(A, te_substitute(A, body->u.reduce.cond, num_roots,
                                                        root_vars, root_values),
                                       op->ndim, data_vars, data_values)
                       : NULL;
    cond = cond && guard ? ts_and(A, guard, cond) : cond ? cond : guard;
    TsExpr *rf_body;
    if (num_reduce > 0) {
        rf_body = ts_reduce(A, body->u.reduce.reducer, source, num_reduce, rf_reduce, cond);
    } else {
        /* Only the factored axis was reduced: rf is the source where the guard holds and
         * the reducer's identity elsewhere. */
        TsAxis *one = ts_reduce_axis(A, "rf.unit", 1);
        rf_body = ts_reduce(A, body->u.reduce.reducer, source, 1, &one, cond);
    }
    char name[256];
    sch_unique_name(sch, sname, "rf", name, sizeof name);
    TsTensor *rf = ts_compute_tagged(A, name, op->tag, op->ndim + 1, rf_axes, rf_body);
    /* The stage now reduces rf over a new axis of the factored extent. */
    TsAxis *k = ts_reduce_axis(A, axis->name, ts_axis_extent(axis));
    TsExpr *idx[TS_MAX_DIMS + 1];
    idx[0] = ts_var(k);
    for (int d = 0; d < op->ndim; d++)
        idx[d + 1] = op->axes[d]->var;
    TsExpr *sum = rf ? ts_reduce(A, body->u.reduce.reducer, ts_access(A, rf, op->ndim + 1, idx),
                                 1, &k, NULL)
                     : NULL;
    TsTensor *new_op = sum ? te_compute_rewrite(A, op, NULL, sum) : NULL;
    TsStage *rf_stage = new_op ? sch_new_stage(sch, rf, rf) : NULL;
    TsStage *fresh = rf_stage ? sch_new_stage(sch, new_op, st->tensor) : NULL;
    TsStage **stages = fresh ? sch_stages_with(sch, rf_stage, sch_stage_position(sch, st))
                             : NULL;
    if (!stages)
        return sch_builder_failed(A, err, "rfactor");
    /* Keep what was said about the data axes: their relations, order and annotations. */
    fresh->is_output = st->is_output;
    memcpy(fresh->align_factor, st->align_factor, sizeof st->align_factor);
    memcpy(fresh->align_offset, st->align_offset, sizeof st->align_offset);
    for (int r = 0; r < st->num_relations; r++) {
        const SchRelation *rel = &st->relations[r];
        TsAxis *probe = rel->kind == SCH_REL_FUSE ? rel->fused : rel->parent;
        if (!probe->is_reduce && !sch_add_relation(fresh, rel))
            return sch_no_memory(err, st);
    }
    int n = 0;
    for (int i = 0; i < st->num_axes; i++)
        if (!st->axes[i].axis->is_reduce)
            n++;
    SchAxisInfo *infos = ts_arena_alloc(A, sizeof *infos * (size_t)(n + 1));
    TsAxis **new_leaves = ts_arena_alloc(A, sizeof *new_leaves * (size_t)(st->num_leaves + 1));
    if (!infos || !new_leaves)
        return sch_no_memory(err, st);
    n = 0;
    for (int i = 0; i < st->num_axes; i++)
        if (!st->axes[i].axis->is_reduce)
            infos[n++] = st->axes[i];
    infos[n++] = (SchAxisInfo){ .axis = k, .loop_kind = SCH_LOOP_SERIAL };
    int m = 0;
    for (int i = 0; i < st->num_leaves; i++)
        if (!st->leaves[i]->is_reduce)
            new_leaves[m++] = st->leaves[i];
    new_leaves[m++] = k;
    fresh->axes = infos;
    fresh->num_axes = n;
    fresh->leaves = new_leaves;
    fresh->num_leaves = m;
    if (!sch_log(sch, "rfactor %s %s -> %s", sname, axis->name, rf->name))
        return sch_no_memory(err, st);
    sch->stages = stages;
    sch->num_stages++;
    *st = *fresh;
    if (factored)
        *factored = rf;
    return TS_OK;
}
