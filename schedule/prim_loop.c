/* The loop primitives: split, split_nparts, tile, fuse and reorder rewrite a stage's
 * leaf axes and log the relations; vectorize, unroll, parallel and pragma tag a leaf;
 * compute_at, compute_inline and compute_root say where a stage is computed, and
 * storage_align pads its buffer. Lowering (lower.c) replays what they record. */
#include <stdio.h>
#include <string.h>

#include "sch_internal.h"

/* ---- split, tile, fuse, reorder ---- */

static TsStatus do_split(TsStage *stage, TsAxis *axis, int64_t value, bool nparts,
                         TsAxis **outer, TsAxis **inner, TsError *err)
{
    const char *what = nparts ? "split_nparts" : "split";
    if (!stage)
        return ts_fail(err, TS_EINVAL, "%s: the stage is NULL", what);
    TsStatus st = sch_check_leaf(stage, axis, what, err);
    if (st != TS_OK)
        return st;
    if (value < 1 || value > TS_MAX_EXTENT)
        return ts_fail(err, TS_EINVAL, "%s on stage %s: %s %lld of axis %s must be >= 1", what,
                       stage->op->name, nparts ? "nparts" : "factor", (long long)value,
                       axis->name);
    int64_t extent = ts_axis_extent(axis);
    int64_t other = (extent + value - 1) / value;
    char name[256];
    snprintf(name, sizeof name, "%s.outer", axis->name);
    TsAxis *o = sch_new_axis(stage, name, nparts ? value : other, axis->is_reduce);
    snprintf(name, sizeof name, "%s.inner", axis->name);
    TsAxis *in = sch_new_axis(stage, name, nparts ? other : value, axis->is_reduce);
    SchRelation rel = { .kind = nparts ? SCH_REL_SPLIT_NPARTS : SCH_REL_SPLIT, .parent = axis,
                        .outer = o, .inner = in, .factor = value };
    if (!o || !in || !sch_add_relation(stage, &rel) ||
        !sch_replace_leaf(stage, sch_leaf_index(stage, axis), 2, (TsAxis *[]){ o, in }, 1))
        return sch_no_memory(err, stage);
    sch_add_log(stage->sch, "%s %s %s %s=%lld -> %s, %s", what, stage->op->name, axis->name,
                nparts ? "nparts" : "factor", (long long)value, o->name, in->name);
    if (outer)
        *outer = o;
    if (inner)
        *inner = in;
    return TS_OK;
}

TsStatus ts_split(TsStage *stage, TsAxis *axis, int64_t factor, TsAxis **outer, TsAxis **inner,
                  TsError *err)
{
    return do_split(stage, axis, factor, false, outer, inner, err);
}

TsStatus ts_split_nparts(TsStage *stage, TsAxis *axis, int64_t nparts, TsAxis **outer,
                         TsAxis **inner, TsError *err)
{
    return do_split(stage, axis, nparts, true, outer, inner, err);
}

TsStatus ts_tile(TsStage *stage, TsAxis *x, TsAxis *y, int64_t x_factor, int64_t y_factor,
                 TsAxis **x_outer, TsAxis **y_outer, TsAxis **x_inner, TsAxis **y_inner,
                 TsError *err)
{
    if (!stage)
        return ts_fail(err, TS_EINVAL, "tile: the stage is NULL");
    TsStatus st = sch_check_leaf(stage, x, "tile", err);
    if (st == TS_OK)
        st = sch_check_leaf(stage, y, "tile", err);
    if (st != TS_OK)
        return st;
    if (x == y)
        return ts_fail(err, TS_ESCHEDULE, "tile on stage %s: both axes are %s", stage->op->name,
                       x->name);
    if (x_factor < 1 || y_factor < 1)
        return ts_fail(err, TS_EINVAL, "tile on stage %s: factors %lld and %lld must be >= 1",
                       stage->op->name, (long long)x_factor, (long long)y_factor);
    TsAxis *xo, *xi, *yo, *yi;
    if ((st = ts_split(stage, x, x_factor, &xo, &xi, err)) != TS_OK ||
        (st = ts_split(stage, y, y_factor, &yo, &yi, err)) != TS_OK ||
        (st = ts_reorder(stage, 4, (TsAxis *[]){ xo, yo, xi, yi }, err)) != TS_OK)
        return st;
    if (x_outer)
        *x_outer = xo;
    if (y_outer)
        *y_outer = yo;
    if (x_inner)
        *x_inner = xi;
    if (y_inner)
        *y_inner = yi;
    return TS_OK;
}

TsStatus ts_fuse(TsStage *stage, TsAxis *outer, TsAxis *inner, TsAxis **fused, TsError *err)
{
    if (!stage)
        return ts_fail(err, TS_EINVAL, "fuse: the stage is NULL");
    TsStatus st = sch_check_leaf(stage, outer, "fuse", err);
    if (st == TS_OK)
        st = sch_check_leaf(stage, inner, "fuse", err);
    if (st != TS_OK)
        return st;
    int po = sch_leaf_index(stage, outer), pi = sch_leaf_index(stage, inner);
    if (pi != po + 1)
        return ts_fail(err, TS_ESCHEDULE, "fuse on stage %s: %s must be the loop directly "
                       "inside %s (they are leaves %d and %d)", stage->op->name, inner->name,
                       outer->name, po, pi);
    if (outer->is_reduce != inner->is_reduce)
        return ts_fail(err, TS_ESCHEDULE, "fuse on stage %s: %s and %s are not both "
                       "data-parallel or both reduce axes", stage->op->name, outer->name,
                       inner->name);
    int64_t extent = ts_axis_extent(outer) * ts_axis_extent(inner);
    if (extent > TS_MAX_EXTENT)
        return ts_fail(err, TS_ESCHEDULE, "fuse on stage %s: %s x %s has extent %lld, too "
                       "large for int32 loops", stage->op->name, outer->name, inner->name,
                       (long long)extent);
    char name[256];
    snprintf(name, sizeof name, "%s.%s.fused", outer->name, inner->name);
    TsAxis *f = sch_new_axis(stage, name, extent, outer->is_reduce);
    SchRelation rel = { .kind = SCH_REL_FUSE, .outer = outer, .inner = inner, .fused = f };
    if (!f || !sch_add_relation(stage, &rel) || !sch_replace_leaf(stage, po, 1, &f, 2))
        return sch_no_memory(err, stage);
    sch_add_log(stage->sch, "fuse %s %s, %s -> %s", stage->op->name, outer->name, inner->name,
                f->name);
    if (fused)
        *fused = f;
    return TS_OK;
}

TsStatus ts_reorder(TsStage *stage, int num_axes, TsAxis *const *order, TsError *err)
{
    if (!stage)
        return ts_fail(err, TS_EINVAL, "reorder: the stage is NULL");
    if (num_axes < 1 || !order || num_axes > stage->num_leaves)
        return ts_fail(err, TS_EINVAL, "reorder on stage %s: %d axes given, the stage has %d "
                       "leaves", stage->op->name, num_axes, stage->num_leaves);
    int positions[64];
    if (num_axes > 64)
        return ts_fail(err, TS_EINVAL, "reorder on stage %s: too many axes", stage->op->name);
    for (int i = 0; i < num_axes; i++) {
        TsStatus st = sch_check_leaf(stage, order[i], "reorder", err);
        if (st != TS_OK)
            return st;
        for (int j = 0; j < i; j++)
            if (order[j] == order[i])
                return ts_fail(err, TS_ESCHEDULE, "reorder on stage %s: axis %s is listed "
                               "twice", stage->op->name, order[i]->name);
        positions[i] = sch_leaf_index(stage, order[i]);
    }
    /* The positions the given axes hold, in increasing order, receive them in order. */
    for (int i = 1; i < num_axes; i++)
        for (int j = i; j > 0 && positions[j - 1] > positions[j]; j--) {
            int t = positions[j];
            positions[j] = positions[j - 1];
            positions[j - 1] = t;
        }
    TsAxis **leaves = ts_arena_alloc(stage->sch->arena, sizeof *leaves * (size_t)stage->num_leaves);
    if (!leaves)
        return sch_no_memory(err, stage);
    memcpy(leaves, stage->leaves, sizeof *leaves * (size_t)stage->num_leaves);
    for (int i = 0; i < num_axes; i++)
        leaves[positions[i]] = order[i];
    stage->leaves = leaves;
    char text[400];
    int n = snprintf(text, sizeof text, "reorder %s", stage->op->name);
    for (int i = 0; i < num_axes && n > 0 && (size_t)n < sizeof text; i++)
        n += snprintf(text + n, sizeof text - (size_t)n, "%s%s", i ? ", " : " ", order[i]->name);
    sch_add_log(stage->sch, "%s", text);
    return TS_OK;
}

/* ---- annotations ---- */

static TsStatus annotate(TsStage *stage, TsAxis *axis, SchLoopKind kind, const char *what,
                         TsError *err)
{
    if (!stage)
        return ts_fail(err, TS_EINVAL, "%s: the stage is NULL", what);
    TsStatus st = sch_check_leaf(stage, axis, what, err);
    if (st != TS_OK)
        return st;
    if (axis->is_reduce && (kind == SCH_LOOP_VECTORIZED || kind == SCH_LOOP_PARALLEL))
        return ts_fail(err, TS_ESCHEDULE, "%s on stage %s: axis %s is a reduction axis; "
                       "vectorize or parallelize a data-parallel axis (or rfactor the "
                       "reduction first)", what, stage->op->name, axis->name);
    if (kind != SCH_LOOP_PARALLEL && ts_axis_extent(axis) < 0)
        return ts_fail(err, TS_ESCHEDULE, "%s on stage %s: axis %s has an extent that is not "
                       "constant", what, stage->op->name, axis->name);
    if (kind == SCH_LOOP_VECTORIZED && ts_axis_extent(axis) > 1024)
        return ts_fail(err, TS_ESCHEDULE, "vectorize on stage %s: axis %s has extent %lld, more "
                       "than 1024 lanes; split it first", stage->op->name, axis->name,
                       (long long)ts_axis_extent(axis));
    SchAxisInfo *info = sch_axis_info(stage, axis);
    if (info->loop_kind != SCH_LOOP_SERIAL && info->loop_kind != kind)
        return ts_fail(err, TS_ESCHEDULE, "%s on stage %s: axis %s is already %s", what,
                       stage->op->name, axis->name,
                       info->loop_kind == SCH_LOOP_VECTORIZED ? "vectorized"
                       : info->loop_kind == SCH_LOOP_UNROLLED ? "unrolled"
                                                              : "parallel");
    info->loop_kind = kind;
    sch_add_log(stage->sch, "%s %s %s", what, stage->op->name, axis->name);
    return TS_OK;
}

TsStatus ts_vectorize(TsStage *stage, TsAxis *axis, TsError *err)
{
    return annotate(stage, axis, SCH_LOOP_VECTORIZED, "vectorize", err);
}

TsStatus ts_unroll(TsStage *stage, TsAxis *axis, TsError *err)
{
    return annotate(stage, axis, SCH_LOOP_UNROLLED, "unroll", err);
}

TsStatus ts_parallel(TsStage *stage, TsAxis *axis, TsError *err)
{
    return annotate(stage, axis, SCH_LOOP_PARALLEL, "parallel", err);
}

TsStatus ts_pragma(TsStage *stage, TsAxis *axis, const char *key, int64_t value, TsError *err)
{
    if (!stage)
        return ts_fail(err, TS_EINVAL, "pragma: the stage is NULL");
    TsStatus st = sch_check_leaf(stage, axis, "pragma", err);
    if (st != TS_OK)
        return st;
    if (!key || !key[0])
        return ts_fail(err, TS_EINVAL, "pragma on stage %s, axis %s: the key is empty",
                       stage->op->name, axis->name);
    SchAxisInfo *info = sch_axis_info(stage, axis);
    int slot = 0;
    while (slot < info->num_pragmas && strcmp(info->pragmas[slot].key, key) != 0)
        slot++;
    if (slot == SCH_MAX_PRAGMAS)
        return ts_fail(err, TS_ESCHEDULE, "pragma on stage %s, axis %s: at most %d pragmas per "
                       "axis", stage->op->name, axis->name, SCH_MAX_PRAGMAS);
    const char *copy = ts_arena_strdup(stage->sch->arena, key);
    if (!copy)
        return sch_no_memory(err, stage);
    info->pragmas[slot] = (TePragma){ copy, value };
    if (slot == info->num_pragmas)
        info->num_pragmas++;
    sch_add_log(stage->sch, "pragma %s %s %s=%lld", stage->op->name, axis->name, key,
                (long long)value);
    return TS_OK;
}

/* ---- attachment ---- */

/* True when stage's op reads tensor t, directly or through stages inlined into it. */
static bool reads(const TsSchedule *sch, const TsTensor *op, const TsTensor *t, int depth)
{
    if (depth > sch->num_stages)
        return false;
    for (int i = 0; i < op->num_inputs; i++) {
        const TsTensor *in = op->inputs[i];
        if (in == t)
            return true;
        TsStage *s = sch_find_stage(sch, in);
        if (s && s->attach == SCH_ATTACH_INLINE && reads(sch, s->op, t, depth + 1))
            return true;
    }
    return false;
}

TsStatus ts_compute_at(TsStage *stage, TsStage *parent, TsAxis *axis, TsError *err)
{
    if (!stage || !parent)
        return ts_fail(err, TS_EINVAL, "compute_at: the stage or the parent is NULL");
    const char *sname = stage->op->name, *pname = parent->op->name;
    if (stage == parent)
        return ts_fail(err, TS_ESCHEDULE, "compute_at: stage %s cannot be attached to itself",
                       sname);
    if (stage->is_output)
        return ts_fail(err, TS_ESCHEDULE, "compute_at: stage %s is an output of the schedule "
                       "and is computed at the root", sname);
    if (parent->attach == SCH_ATTACH_INLINE)
        return ts_fail(err, TS_ESCHEDULE, "compute_at: stage %s is inlined and has no loops to "
                       "compute %s in", pname, sname);
    TsStatus st = sch_check_leaf(parent, axis, "compute_at", err);
    if (st != TS_OK)
        return st;
    if (!reads(stage->sch, parent->op, stage->op, 0) && !reads(stage->sch, parent->op, stage->tensor, 0))
        return ts_fail(err, TS_ESCHEDULE, "compute_at: stage %s does not read %s, so %s cannot "
                       "be computed inside its loops", pname, sname, sname);
    for (const TsStage *p = parent; p; p = p->attach == SCH_ATTACH_AT ? p->attach_parent : NULL)
        if (p == stage)
            return ts_fail(err, TS_ESCHEDULE, "compute_at: attaching %s at %s.%s would create a "
                           "cycle (%s is computed inside %s)", sname, pname, axis->name, pname,
                           sname);
    stage->attach = SCH_ATTACH_AT;
    stage->attach_parent = parent;
    stage->attach_axis = axis;
    sch_add_log(stage->sch, "compute_at %s %s %s", sname, pname, axis->name);
    return TS_OK;
}

TsStatus ts_compute_inline(TsStage *stage, TsError *err)
{
    if (!stage)
        return ts_fail(err, TS_EINVAL, "compute_inline: the stage is NULL");
    const char *sname = stage->op->name;
    if (stage->op->body->kind == TE_REDUCE)
        return ts_fail(err, TS_ESCHEDULE, "compute_inline: stage %s is a reduction and cannot "
                       "be inlined", sname);
    if (stage->is_output)
        return ts_fail(err, TS_ESCHEDULE, "compute_inline: stage %s is an output of the "
                       "schedule", sname);
    for (int i = 0; i < stage->sch->num_stages; i++) {
        const TsStage *other = stage->sch->stages[i];
        if (other->attach == SCH_ATTACH_AT && other->attach_parent == stage)
            return ts_fail(err, TS_ESCHEDULE, "compute_inline: stage %s is attached at %s.%s; "
                           "inlining %s would remove that loop", other->op->name, sname,
                           other->attach_axis->name, sname);
    }
    stage->attach = SCH_ATTACH_INLINE;
    sch_add_log(stage->sch, "compute_inline %s", sname);
    return TS_OK;
}

TsStatus ts_compute_root(TsStage *stage, TsError *err)
{
    if (!stage)
        return ts_fail(err, TS_EINVAL, "compute_root: the stage is NULL");
    stage->attach = SCH_ATTACH_ROOT;
    stage->attach_parent = NULL;
    stage->attach_axis = NULL;
    sch_add_log(stage->sch, "compute_root %s", stage->op->name);
    return TS_OK;
}

TsStatus ts_storage_align(TsStage *stage, TsAxis *axis, int64_t factor, int64_t offset,
                          TsError *err)
{
    if (!stage)
        return ts_fail(err, TS_EINVAL, "storage_align: the stage is NULL");
    const char *sname = stage->op->name;
    if (!axis)
        return ts_fail(err, TS_EINVAL, "storage_align on stage %s: the axis is NULL", sname);
    int dim = -1;
    for (int i = 0; i < stage->op->ndim; i++)
        if (stage->op->axes[i] == axis)
            dim = i;
    if (dim < 0)
        return ts_fail(err, TS_ESCHEDULE, "storage_align on stage %s: %s is not one of its "
                       "output axes", sname, axis->name);
    if (factor < 1 || offset < 0 || offset >= factor)
        return ts_fail(err, TS_EINVAL, "storage_align on stage %s, axis %s: needs factor >= 1 "
                       "and 0 <= offset < factor (got %lld, %lld)", sname, axis->name,
                       (long long)factor, (long long)offset);
    if (stage->is_output)
        return ts_fail(err, TS_ESCHEDULE, "storage_align on stage %s: an output's buffer is "
                       "the caller's, dense", sname);
    stage->align_factor[dim] = factor;
    stage->align_offset[dim] = offset;
    sch_add_log(stage->sch, "storage_align %s %s factor=%lld offset=%lld", sname, axis->name,
                (long long)factor, (long long)offset);
    return TS_OK;
}
