/* The loop primitives: split, split_nparts, tile, fuse and reorder rewrite a stage's
 * leaf axes and log the relations; vectorize, unroll, parallel and pragma tag a leaf;
 * compute_at, compute_inline and compute_root say where a stage is computed, and
 * storage_align pads its buffer. Lowering (lower.c) replays what they record. Each
 * checks its whole request first, then edits a copy of the stage's record and commits it
 * with its line of text (sch_commit), so a refusal or a failure changes nothing; tile
 * commits its two splits and its reorder together. */
#include <stdio.h>
#include <string.h>

#include "sch_internal.h"

/* ---- split, tile, fuse, reorder ---- */

/* A split of axis by value (a factor, or with nparts the outer extent) can be made. */
static TsStatus check_split(const TsStage *stage, const TsAxis *axis, int64_t value, bool nparts,
                            const char *what, TsError *err)
{
    TsStatus st = sch_check_leaf(stage, axis, what, err);
    if (st != TS_OK)
        return st;
    const char *value_name = nparts ? "nparts" : "factor";
    if (value < 1)
        return ts_fail(err, TS_EINVAL, "%s on stage %s: %s %lld of axis %s must be >= 1", what,
                       stage->op->name, value_name, (long long)value, axis->name);
    if (value > TS_MAX_EXTENT)
        return ts_fail(err, TS_EINVAL, "%s on stage %s: %s %lld of axis %s is too large (loop "
                       "extents are at most %lld)", what, stage->op->name, value_name,
                       (long long)value, axis->name, (long long)TS_MAX_EXTENT);
    return TS_OK;
}

/* Splits axis (checked) in the record edit; line receives the schedule's text for it.
 * False when out of memory. */
static bool split_edit(TsStage *edit, TsAxis *axis, int64_t value, bool nparts, TsAxis **outer,
                       TsAxis **inner, char line[SCH_LOG_LINE])
{
    int64_t extent = ts_axis_extent(axis);
    int64_t other = (extent + value - 1) / value;
    char name[256];
    snprintf(name, sizeof name, "%s.outer", axis->name);
    TsAxis *o = sch_new_axis(edit, name, nparts ? value : other, axis->is_reduce);
    snprintf(name, sizeof name, "%s.inner", axis->name);
    TsAxis *in = o ? sch_new_axis(edit, name, nparts ? other : value, axis->is_reduce) : NULL;
    SchRelation rel = { .kind = nparts ? SCH_REL_SPLIT_NPARTS : SCH_REL_SPLIT, .parent = axis,
                        .outer = o, .inner = in, .factor = value };
    if (!in || !sch_add_relation(edit, &rel) ||
        !sch_replace_leaf(edit, sch_leaf_index(edit, axis), 2, (TsAxis *[]){ o, in }, 1))
        return false;
    snprintf(line, SCH_LOG_LINE, "%s %s %s %s=%lld -> %s, %s", nparts ? "split_nparts" : "split",
             edit->op->name, axis->name, nparts ? "nparts" : "factor", (long long)value, o->name,
             in->name);
    *outer = o;
    *inner = in;
    return true;
}

static TsStatus do_split(TsStage *stage, TsAxis *axis, int64_t value, bool nparts,
                         TsAxis **outer, TsAxis **inner, TsError *err)
{
    const char *what = nparts ? "split_nparts" : "split";
    if (!stage)
        return ts_fail(err, TS_EINVAL, "%s: the stage is NULL", what);
    TsStatus st = check_split(stage, axis, value, nparts, what, err);
    if (st != TS_OK)
        return st;
    TsStage edit = *stage;
    TsAxis *o, *in;
    char line[SCH_LOG_LINE];
    if (!split_edit(&edit, axis, value, nparts, &o, &in, line))
        return sch_no_memory(err, stage);
    if ((st = sch_commit_lines(stage, &edit, 1, (const char *const[]){ line }, err)) != TS_OK)
        return st;
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

/* The leaves of order (distinct current leaves of stage) can be reordered. */
static TsStatus check_reorder(const TsStage *stage, int num_axes, TsAxis *const *order,
                              TsError *err)
{
    if (num_axes < 1 || !order || num_axes > stage->num_leaves)
        return ts_fail(err, TS_EINVAL, "reorder on stage %s: %d axes given, the stage has %d "
                       "leaves", stage->op->name, num_axes, stage->num_leaves);
    if (num_axes > SCH_MAX_REORDER)
        return ts_fail(err, TS_EINVAL, "reorder on stage %s: %d axes given, at most %d",
                       stage->op->name, num_axes, SCH_MAX_REORDER);
    for (int i = 0; i < num_axes; i++) {
        TsStatus st = sch_check_leaf(stage, order[i], "reorder", err);
        if (st != TS_OK)
            return st;
        for (int j = 0; j < i; j++)
            if (order[j] == order[i])
                return ts_fail(err, TS_ESCHEDULE, "reorder on stage %s: axis %s is listed "
                               "twice", stage->op->name, order[i]->name);
    }
    return TS_OK;
}

/* Reorders (checked) in the record edit; line receives the schedule's text for it. False
 * when out of memory. */
static bool reorder_edit(TsStage *edit, int num_axes, TsAxis *const *order,
                         char line[SCH_LOG_LINE])
{
    int positions[SCH_MAX_REORDER];
    for (int i = 0; i < num_axes; i++)
        positions[i] = sch_leaf_index(edit, order[i]);
    /* The positions the given axes hold, in increasing order, receive them in order. */
    for (int i = 1; i < num_axes; i++)
        for (int j = i; j > 0 && positions[j - 1] > positions[j]; j--) {
            int t = positions[j];
            positions[j] = positions[j - 1];
            positions[j - 1] = t;
        }
    TsAxis **leaves = ts_arena_alloc(edit->sch->arena, sizeof *leaves * (size_t)edit->num_leaves);
    if (!leaves)
        return false;
    memcpy(leaves, edit->leaves, sizeof *leaves * (size_t)edit->num_leaves);
    for (int i = 0; i < num_axes; i++)
        leaves[positions[i]] = order[i];
    edit->leaves = leaves;
    int n = snprintf(line, SCH_LOG_LINE, "reorder %s", edit->op->name);
    for (int i = 0; i < num_axes && n > 0 && n < SCH_LOG_LINE; i++)
        n += snprintf(line + n, SCH_LOG_LINE - (size_t)n, "%s%s", i ? ", " : " ", order[i]->name);
    return true;
}

TsStatus ts_reorder(TsStage *stage, int num_axes, TsAxis *const *order, TsError *err)
{
    if (!stage)
        return ts_fail(err, TS_EINVAL, "reorder: the stage is NULL");
    TsStatus st = check_reorder(stage, num_axes, order, err);
    if (st != TS_OK)
        return st;
    TsStage edit = *stage;
    char line[SCH_LOG_LINE];
    if (!reorder_edit(&edit, num_axes, order, line))
        return sch_no_memory(err, stage);
    return sch_commit_lines(stage, &edit, 1, (const char *const[]){ line }, err);
}

/* Splits x and y, then reorders: every check is made before the first split, and the
 * three steps are committed together (and logged as three lines, as if made one by one). */
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
    if ((st = check_split(stage, x, x_factor, false, "tile", err)) != TS_OK ||
        (st = check_split(stage, y, y_factor, false, "tile", err)) != TS_OK)
        return st;
    TsStage edit = *stage;
    TsAxis *xo, *xi, *yo, *yi;
    char lines[3][SCH_LOG_LINE];
    if (!split_edit(&edit, x, x_factor, false, &xo, &xi, lines[0]) ||
        !split_edit(&edit, y, y_factor, false, &yo, &yi, lines[1]) ||
        !reorder_edit(&edit, 4, (TsAxis *[]){ xo, yo, xi, yi }, lines[2]))
        return sch_no_memory(err, stage);
    st = sch_commit_lines(stage, &edit, 3, (const char *const[]){ lines[0], lines[1], lines[2] },
                          err);
    if (st != TS_OK)
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
    TsStage edit = *stage;
    char name[256];
    snprintf(name, sizeof name, "%s.%s.fused", outer->name, inner->name);
    TsAxis *f = sch_new_axis(&edit, name, extent, outer->is_reduce);
    SchRelation rel = { .kind = SCH_REL_FUSE, .outer = outer, .inner = inner, .fused = f };
    if (!f || !sch_add_relation(&edit, &rel) || !sch_replace_leaf(&edit, po, 1, &f, 2))
        return sch_no_memory(err, stage);
    st = sch_commit(stage, &edit, err, "fuse %s %s, %s -> %s", stage->op->name, outer->name,
                    inner->name, f->name);
    if (st == TS_OK && fused)
        *fused = f;
    return st;
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
    const SchAxisInfo *info = sch_axis_info(stage, axis);
    if (info->loop_kind != SCH_LOOP_SERIAL && info->loop_kind != kind)
        return ts_fail(err, TS_ESCHEDULE, "%s on stage %s: axis %s is already %s", what,
                       stage->op->name, axis->name,
                       info->loop_kind == SCH_LOOP_VECTORIZED ? "vectorized"
                       : info->loop_kind == SCH_LOOP_UNROLLED ? "unrolled"
                                                              : "parallel");
    TsStage edit = *stage;
    SchAxisInfo *edited = sch_edit_axis_info(&edit, axis);
    if (!edited)
        return sch_no_memory(err, stage);
    edited->loop_kind = kind;
    return sch_commit(stage, &edit, err, "%s %s %s", what, stage->op->name, axis->name);
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
    const SchAxisInfo *info = sch_axis_info(stage, axis);
    int slot = 0;
    while (slot < info->num_pragmas && strcmp(info->pragmas[slot].key, key) != 0)
        slot++;
    if (slot == SCH_MAX_PRAGMAS)
        return ts_fail(err, TS_ESCHEDULE, "pragma on stage %s, axis %s: at most %d pragmas per "
                       "axis", stage->op->name, axis->name, SCH_MAX_PRAGMAS);
    TsStage edit = *stage;
    SchAxisInfo *edited = sch_edit_axis_info(&edit, axis);
    const char *copy = ts_arena_strdup(stage->sch->arena, key);
    if (!edited || !copy)
        return sch_no_memory(err, stage);
    edited->pragmas[slot] = (TePragma){ copy, value };
    if (slot == edited->num_pragmas)
        edited->num_pragmas++;
    return sch_commit(stage, &edit, err, "pragma %s %s %s=%lld", stage->op->name, axis->name,
                      key, (long long)value);
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
    TsStage edit = *stage;
    edit.attach = SCH_ATTACH_AT;
    edit.attach_parent = parent;
    edit.attach_axis = axis;
    return sch_commit(stage, &edit, err, "compute_at %s %s %s", sname, pname, axis->name);
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
    TsStage edit = *stage;
    edit.attach = SCH_ATTACH_INLINE;
    return sch_commit(stage, &edit, err, "compute_inline %s", sname);
}

TsStatus ts_compute_root(TsStage *stage, TsError *err)
{
    if (!stage)
        return ts_fail(err, TS_EINVAL, "compute_root: the stage is NULL");
    TsStage edit = *stage;
    edit.attach = SCH_ATTACH_ROOT;
    edit.attach_parent = NULL;
    edit.attach_axis = NULL;
    return sch_commit(stage, &edit, err, "compute_root %s", stage->op->name);
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
    if (factor > TS_MAX_EXTENT)
        return ts_fail(err, TS_EINVAL, "storage_align on stage %s, axis %s: factor %lld is too "
                       "large (at most %lld)", sname, axis->name, (long long)factor,
                       (long long)TS_MAX_EXTENT);
    if (stage->is_output)
        return ts_fail(err, TS_ESCHEDULE, "storage_align on stage %s: an output's buffer is "
                       "the caller's, dense", sname);
    TsStage edit = *stage;
    edit.align_factor[dim] = factor;
    edit.align_offset[dim] = offset;
    return sch_commit(stage, &edit, err, "storage_align %s %s factor=%lld offset=%lld", sname,
                      axis->name, (long long)factor, (long long)offset);
}
