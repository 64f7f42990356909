/* Schedules and their primitives: the data a researcher or a tuning template writes,
 * before any lowering.
 *
 * Each primitive checks its request against the stage as it is now, then records it:
 * relations (split, fuse) append to the stage's log and change its leaf list;
 * annotations tag an axis; attachment says where the stage is computed; cache_read,
 * cache_write and rfactor add stages and rewrite the ops that read them. A refused
 * request returns TS_ESCHEDULE or TS_EINVAL with a message naming the stage and axes
 * and leaves the schedule unchanged. Every accepted one adds a line to the schedule's
 * text (ts_schedule_str). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sch_internal.h"

/* ---- small helpers ---- */

static void add_log(TsSchedule *sch, const char *fmt, ...) TS_PRINTF_LIKE(2, 3);

static void add_log(TsSchedule *sch, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    const char **grown = ts_arena_alloc(sch->arena, sizeof *grown * (size_t)(sch->num_log + 1));
    if (!grown)
        return;
    if (sch->num_log)
        memcpy(grown, sch->log, sizeof *grown * (size_t)sch->num_log);
    grown[sch->num_log] = ts_arena_strdup(sch->arena, line);
    sch->log = grown;
    sch->num_log++;
}

/* Appends item to a growable array in the arena (arrays here are short). */
static void *append(TsArena *arena, void *items, int count, size_t size, const void *item)
{
    unsigned char *grown = ts_arena_alloc(arena, size * (size_t)(count + 1));
    if (!grown)
        return NULL;
    if (count)
        memcpy(grown, items, size * (size_t)count);
    memcpy(grown + size * (size_t)count, item, size);
    return grown;
}

static TsStatus no_memory(TsError *err, const TsStage *stage)
{
    return ts_fail(err, TS_ENOMEM, "stage %s: out of memory", stage->op->name);
}

/* The error a builder recorded in the arena, or TS_ENOMEM when none was recorded. */
static TsStatus builder_failed(TsArena *arena, TsError *err, const char *what)
{
    TsStatus st = ts_arena_check(arena, err);
    return st != TS_OK ? st : ts_fail(err, TS_ENOMEM, "%s: out of memory", what);
}

TsStage *sch_find_stage(const TsSchedule *sch, const TsTensor *t)
{
    for (int i = 0; sch && i < sch->num_stages; i++)
        if (sch->stages[i]->tensor == t || sch->stages[i]->op == t)
            return sch->stages[i];
    return NULL;
}

SchAxisInfo *sch_axis_info(const TsStage *stage, const TsAxis *axis)
{
    for (int i = 0; stage && i < stage->num_axes; i++)
        if (stage->axes[i].axis == axis)
            return &stage->axes[i];
    return NULL;
}

static int leaf_index(const TsStage *stage, const TsAxis *axis)
{
    for (int i = 0; i < stage->num_leaves; i++)
        if (stage->leaves[i] == axis)
            return i;
    return -1;
}

/* The relation that consumed axis (made it stop being a leaf), or NULL. */
static const SchRelation *consumer_of(const TsStage *stage, const TsAxis *axis)
{
    for (int i = 0; i < stage->num_relations; i++) {
        const SchRelation *r = &stage->relations[i];
        if (r->kind == SCH_REL_FUSE ? (r->outer == axis || r->inner == axis) : r->parent == axis)
            return r;
    }
    return NULL;
}

/* axis is a current leaf of stage; otherwise says why not. */
static TsStatus check_leaf(const TsStage *stage, const TsAxis *axis, const char *what,
                           TsError *err)
{
    const char *sname = stage->op->name;
    if (!axis)
        return ts_fail(err, TS_EINVAL, "%s on stage %s: the axis is NULL", what, sname);
    if (leaf_index(stage, axis) >= 0)
        return TS_OK;
    const SchRelation *r = consumer_of(stage, axis);
    if (r && r->kind == SCH_REL_FUSE)
        return ts_fail(err, TS_ESCHEDULE, "%s on stage %s: axis %s is no longer a leaf (it was "
                       "fused into %s)", what, sname, axis->name, r->fused->name);
    if (r)
        return ts_fail(err, TS_ESCHEDULE, "%s on stage %s: axis %s is no longer a leaf (it was "
                       "split into %s and %s)", what, sname, axis->name, r->outer->name,
                       r->inner->name);
    if (axis->owner && axis->owner != stage->tensor && axis->owner != stage->op)
        return ts_fail(err, TS_ESCHEDULE, "%s on stage %s: axis %s belongs to stage %s", what,
                       sname, axis->name, axis->owner->name);
    return ts_fail(err, TS_ESCHEDULE, "%s on stage %s: axis %s is not an axis of this stage",
                   what, sname, axis->name);
}

/* A new axis of the stage, recorded with default annotations. */
static TsAxis *new_axis(TsStage *stage, const char *name, int64_t extent, bool is_reduce)
{
    TsArena *arena = stage->sch->arena;
    TsAxis *ax = is_reduce ? ts_reduce_axis(arena, name, extent) : ts_axis(arena, name, extent);
    if (!ax)
        return NULL;
    ax->owner = stage->op;
    SchAxisInfo info = { .axis = ax, .loop_kind = SCH_LOOP_SERIAL };
    SchAxisInfo *grown = append(arena, stage->axes, stage->num_axes, sizeof info, &info);
    if (!grown)
        return NULL;
    stage->axes = grown;
    stage->num_axes++;
    return ax;
}

/* Replaces leaf at position pos by the given axes (one or two). */
static bool replace_leaf(TsStage *stage, int pos, int n, TsAxis *const *with, int remove)
{
    int count = stage->num_leaves - remove + n;
    TsAxis **leaves = ts_arena_alloc(stage->sch->arena, sizeof *leaves * (size_t)count);
    if (!leaves)
        return false;
    int k = 0;
    for (int i = 0; i < pos; i++)
        leaves[k++] = stage->leaves[i];
    for (int i = 0; i < n; i++)
        leaves[k++] = with[i];
    for (int i = pos + remove; i < stage->num_leaves; i++)
        leaves[k++] = stage->leaves[i];
    stage->leaves = leaves;
    stage->num_leaves = count;
    return true;
}

static bool add_relation(TsStage *stage, const SchRelation *rel)
{
    SchRelation *grown = append(stage->sch->arena, stage->relations, stage->num_relations,
                                sizeof *rel, rel);
    if (!grown)
        return false;
    stage->relations = grown;
    stage->num_relations++;
    return true;
}

/* ---- creating a schedule ---- */

static TsStage *new_stage(TsSchedule *sch, TsTensor *op, const TsTensor *tensor)
{
    TsArena *arena = sch->arena;
    TsStage *st = ts_arena_alloc(arena, sizeof *st);
    if (!st)
        return NULL;
    st->sch = sch;
    st->tensor = tensor;
    st->op = op;
    const TsExpr *body = op->body;
    int num_reduce = body->kind == TE_REDUCE ? body->u.reduce.num_axes : 0;
    st->num_root = op->ndim + num_reduce;
    st->root = ts_arena_alloc(arena, sizeof *st->root * (size_t)(st->num_root ? st->num_root : 1));
    st->leaves = ts_arena_alloc(arena, sizeof *st->leaves * (size_t)(st->num_root ? st->num_root : 1));
    st->axes = ts_arena_alloc(arena, sizeof *st->axes * (size_t)(st->num_root ? st->num_root : 1));
    if (!st->root || !st->leaves || !st->axes)
        return NULL;
    for (int i = 0; i < st->num_root; i++) {
        TsAxis *ax = i < op->ndim ? op->axes[i] : body->u.reduce.axes[i - op->ndim];
        st->root[i] = st->leaves[i] = ax;
        st->axes[i] = (SchAxisInfo){ .axis = ax, .loop_kind = SCH_LOOP_SERIAL };
    }
    st->num_leaves = st->num_axes = st->num_root;
    st->attach = SCH_ATTACH_ROOT;
    return st;
}

TsSchedule *ts_schedule_create(TsArena *arena, int num_outputs, TsTensor *const *outputs)
{
    TsTensor **dag;
    int n = ts_dag_stages(arena, num_outputs, outputs, &dag);
    if (n < 0)
        return NULL;
    TsSchedule *sch = ts_arena_alloc(arena, sizeof *sch);
    TsTensor **outs = ts_arena_alloc(arena, sizeof *outs * (size_t)num_outputs);
    TsStage **stages = ts_arena_alloc(arena, sizeof *stages * (size_t)n);
    if (!sch || !outs || !stages)
        return NULL;
    for (int i = 0; i < num_outputs; i++) {
        if (ts_tensor_is_placeholder(outputs[i])) {
            ts_arena_fail(arena, TS_EINVAL, "schedule: output %s is a placeholder, not a "
                          "compute op", outputs[i]->name);
            return NULL;
        }
        for (int j = 0; j < i; j++) {
            if (outputs[j] == outputs[i]) {
                ts_arena_fail(arena, TS_EINVAL, "schedule: output %s is listed twice",
                              outputs[i]->name);
                return NULL;
            }
        }
        outs[i] = outputs[i];
    }
    sch->arena = arena;
    sch->num_outputs = num_outputs;
    sch->outputs = outs;
    sch->stages = stages;
    for (int i = 0; i < n; i++) {
        if (dag[i]->op != TE_OP_COMPUTE)
            continue;
        TsStage *st = new_stage(sch, dag[i], dag[i]);
        if (!st)
            return NULL;
        for (int o = 0; o < num_outputs; o++)
            st->is_output = st->is_output || outputs[o] == dag[i];
        stages[sch->num_stages++] = st;
    }
    return sch;
}

TsStage *ts_stage(TsSchedule *sch, const TsTensor *tensor)
{
    return sch_find_stage(sch, tensor);
}

const char *ts_stage_name(const TsStage *stage) { return stage ? stage->op->name : NULL; }
int ts_stage_num_leaves(const TsStage *stage) { return stage ? stage->num_leaves : 0; }
int ts_stage_num_root_axes(const TsStage *stage) { return stage ? stage->num_root : 0; }

TsAxis *ts_stage_leaf(const TsStage *stage, int i)
{
    return stage && i >= 0 && i < stage->num_leaves ? stage->leaves[i] : NULL;
}

TsAxis *ts_stage_root_axis(const TsStage *stage, int i)
{
    return stage && i >= 0 && i < stage->num_root ? stage->root[i] : NULL;
}

/* ---- split, tile, fuse, reorder ---- */

static TsStatus do_split(TsStage *stage, TsAxis *axis, int64_t value, bool nparts,
                         TsAxis **outer, TsAxis **inner, TsError *err)
{
    const char *what = nparts ? "split_nparts" : "split";
    if (!stage)
        return ts_fail(err, TS_EINVAL, "%s: the stage is NULL", what);
    TsStatus st = check_leaf(stage, axis, what, err);
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
    TsAxis *o = new_axis(stage, name, nparts ? value : other, axis->is_reduce);
    snprintf(name, sizeof name, "%s.inner", axis->name);
    TsAxis *in = new_axis(stage, name, nparts ? other : value, axis->is_reduce);
    SchRelation rel = { .kind = nparts ? SCH_REL_SPLIT_NPARTS : SCH_REL_SPLIT, .parent = axis,
                        .outer = o, .inner = in, .factor = value };
    if (!o || !in || !add_relation(stage, &rel) ||
        !replace_leaf(stage, leaf_index(stage, axis), 2, (TsAxis *[]){ o, in }, 1))
        return no_memory(err, stage);
    add_log(stage->sch, "%s %s %s %s=%lld -> %s, %s", what, stage->op->name, axis->name,
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
    TsStatus st = check_leaf(stage, x, "tile", err);
    if (st == TS_OK)
        st = check_leaf(stage, y, "tile", err);
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
    TsStatus st = check_leaf(stage, outer, "fuse", err);
    if (st == TS_OK)
        st = check_leaf(stage, inner, "fuse", err);
    if (st != TS_OK)
        return st;
    int po = leaf_index(stage, outer), pi = leaf_index(stage, inner);
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
    TsAxis *f = new_axis(stage, name, extent, outer->is_reduce);
    SchRelation rel = { .kind = SCH_REL_FUSE, .outer = outer, .inner = inner, .fused = f };
    if (!f || !add_relation(stage, &rel) || !replace_leaf(stage, po, 1, &f, 2))
        return no_memory(err, stage);
    add_log(stage->sch, "fuse %s %s, %s -> %s", stage->op->name, outer->name, inner->name,
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
        TsStatus st = check_leaf(stage, order[i], "reorder", err);
        if (st != TS_OK)
            return st;
        for (int j = 0; j < i; j++)
            if (order[j] == order[i])
                return ts_fail(err, TS_ESCHEDULE, "reorder on stage %s: axis %s is listed "
                               "twice", stage->op->name, order[i]->name);
        positions[i] = leaf_index(stage, order[i]);
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
        return no_memory(err, stage);
    memcpy(leaves, stage->leaves, sizeof *leaves * (size_t)stage->num_leaves);
    for (int i = 0; i < num_axes; i++)
        leaves[positions[i]] = order[i];
    stage->leaves = leaves;
    char text[400];
    int n = snprintf(text, sizeof text, "reorder %s", stage->op->name);
    for (int i = 0; i < num_axes && n > 0 && (size_t)n < sizeof text; i++)
        n += snprintf(text + n, sizeof text - (size_t)n, "%s%s", i ? ", " : " ", order[i]->name);
    add_log(stage->sch, "%s", text);
    return TS_OK;
}

/* ---- annotations ---- */

static TsStatus annotate(TsStage *stage, TsAxis *axis, SchLoopKind kind, const char *what,
                         TsError *err)
{
    if (!stage)
        return ts_fail(err, TS_EINVAL, "%s: the stage is NULL", what);
    TsStatus st = check_leaf(stage, axis, what, err);
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
    add_log(stage->sch, "%s %s %s", what, stage->op->name, axis->name);
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
    TsStatus st = check_leaf(stage, axis, "pragma", err);
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
        return no_memory(err, stage);
    info->pragmas[slot] = (TePragma){ copy, value };
    if (slot == info->num_pragmas)
        info->num_pragmas++;
    add_log(stage->sch, "pragma %s %s %s=%lld", stage->op->name, axis->name, key,
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
    TsStatus st = check_leaf(parent, axis, "compute_at", err);
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
    add_log(stage->sch, "compute_at %s %s %s", sname, pname, axis->name);
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
    add_log(stage->sch, "compute_inline %s", sname);
    return TS_OK;
}

TsStatus ts_compute_root(TsStage *stage, TsError *err)
{
    if (!stage)
        return ts_fail(err, TS_EINVAL, "compute_root: the stage is NULL");
    stage->attach = SCH_ATTACH_ROOT;
    stage->attach_parent = NULL;
    stage->attach_axis = NULL;
    add_log(stage->sch, "compute_root %s", stage->op->name);
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
    add_log(stage->sch, "storage_align %s %s factor=%lld offset=%lld", sname, axis->name,
            (long long)factor, (long long)offset);
    return TS_OK;
}

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
static void unique_name(const TsSchedule *sch, const char *base, const char *suffix, char *out,
                        size_t size)
{
    for (int n = 1;; n++) {
        if (n == 1)
            snprintf(out, size, "%s.%s", base, suffix);
        else
            snprintf(out, size, "%s.%s%d", base, suffix, n);
        bool taken = false;
        for (int i = 0; i < sch->num_stages && !taken; i++)
            taken = strcmp(sch->stages[i]->op->name, out) == 0;
        if (!taken)
            return;
    }
}

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

static bool insert_stage(TsSchedule *sch, TsStage *st, int pos)
{
    TsStage **stages = ts_arena_alloc(sch->arena, sizeof *stages * (size_t)(sch->num_stages + 1));
    if (!stages)
        return false;
    memcpy(stages, sch->stages, sizeof *stages * (size_t)pos);
    stages[pos] = st;
    memcpy(stages + pos + 1, sch->stages + pos, sizeof *stages * (size_t)(sch->num_stages - pos));
    sch->stages = stages;
    sch->num_stages++;
    return true;
}

static int stage_position(const TsSchedule *sch, const TsStage *st)
{
    for (int i = 0; i < sch->num_stages; i++)
        if (sch->stages[i] == st)
            return i;
    return -1;
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
        int pos = stage_position(sch, readers[i]);
        first = pos < first ? pos : first;
    }
    TsArena *arena = sch->arena;
    char name[256];
    unique_name(sch, tensor->name, "cache", name, sizeof name);
    /* The copy reads the stage by its lasting identity, not by its current op, which a
     * later cache_write or rfactor may replace. */
    TsTensor *copy = copy_op(arena, name, own ? own->tensor : tensor, "cache_read");
    TsStage *st = copy ? new_stage(sch, copy, copy) : NULL;
    if (!st || !insert_stage(sch, st, first))
        return builder_failed(arena, err, "cache_read");
    for (int i = 0; i < num_readers; i++) {
        TsStage *r = readers[i];
        Retarget rt = { source, copy };
        TeMutator m = { .expr = retarget_access, .ctx = &rt };
        TsExpr *body = te_mutate_expr(arena, r->op->body, &m);
        if (source != tensor && body) {
            rt.from = tensor;
            body = te_mutate_expr(arena, body, &m);
        }
        TsTensor *op = body ? te_compute_rewrite(arena, r->op, NULL, body) : NULL;
        if (!op)
            return builder_failed(arena, err, "cache_read");
        r->op = op;
    }
    add_log(sch, "cache_read %s -> %s for %d reader(s)", tensor->name, copy->name, num_readers);
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
    unique_name(sch, sname, "local", name, sizeof name);
    TsExpr *body = te_substitute(arena, op->body, op->ndim, vars, values);
    TsTensor *local = body ? ts_compute_tagged(arena, name, op->tag, op->ndim, axes, body) : NULL;
    TsTensor *copy = NULL;
    if (local) {
        TsExpr *idx[TS_MAX_DIMS];
        for (int i = 0; i < op->ndim; i++)
            idx[i] = op->axes[i]->var;
        copy = te_compute_rewrite(arena, op, NULL, ts_access(arena, local, op->ndim, idx));
    }
    TsStage *local_stage = copy ? new_stage(sch, local, local) : NULL;
    if (!local_stage || !insert_stage(sch, local_stage, stage_position(sch, st)))
        return builder_failed(arena, err, "cache_write");
    /* The original stage is now a copy: its root axes are the output axes alone. */
    TsStage *fresh = new_stage(sch, copy, st->tensor);
    if (!fresh)
        return ts_fail(err, TS_ENOMEM, "cache_write: out of memory");
    fresh->is_output = st->is_output;
    *st = *fresh;
    add_log(sch, "cache_write %s -> %s", sname, local->name);
    if (cache)
        *cache = local;
    return TS_OK;
}

/* ---- text ---- */

const char *ts_schedule_str(TsArena *arena, const TsSchedule *sch)
{
    if (!sch) {
        ts_arena_fail(arena, TS_EINVAL, "schedule: NULL");
        return NULL;
    }
    size_t total = 1;
    for (int i = 0; i < sch->num_log; i++)
        total += strlen(sch->log[i]) + 1;
    char *text = ts_arena_alloc(arena, total);
    if (!text)
        return NULL;
    size_t n = 0;
    for (int i = 0; i < sch->num_log; i++) {
        size_t len = strlen(sch->log[i]);
        memcpy(text + n, sch->log[i], len);
        n += len;
        text[n++] = '\n';
    }
    text[n] = '\0';
    return text;
}

/* ---- rfactor ---- */

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
    TsStatus status = check_leaf(st, axis, "rfactor", err);
    if (status != TS_OK)
        return status;
    if (op->body->kind != TE_REDUCE || !axis->is_reduce)
        return ts_fail(err, TS_ESCHEDULE, "rfactor on stage %s: axis %s is not a reduction axis",
                       sname, axis->name);
    if (st->attach != SCH_ATTACH_ROOT)
        return ts_fail(err, TS_ESCHEDULE, "rfactor on stage %s: the stage is attached; rfactor "
                       "must come before compute_at", sname);
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
        return builder_failed(A, err, "rfactor");
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
    unique_name(sch, sname, "rf", name, sizeof name);
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
    TsStage *rf_stage = new_op ? new_stage(sch, rf, rf) : NULL;
    TsStage *fresh = rf_stage ? new_stage(sch, new_op, st->tensor) : NULL;
    if (!fresh || !insert_stage(sch, rf_stage, stage_position(sch, st)))
        return builder_failed(A, err, "rfactor");
    /* Keep what was said about the data axes: their relations, order and annotations. */
    fresh->is_output = st->is_output;
    memcpy(fresh->align_factor, st->align_factor, sizeof st->align_factor);
    memcpy(fresh->align_offset, st->align_offset, sizeof st->align_offset);
    for (int r = 0; r < st->num_relations; r++) {
        const SchRelation *rel = &st->relations[r];
        TsAxis *probe = rel->kind == SCH_REL_FUSE ? rel->fused : rel->parent;
        if (!probe->is_reduce && !add_relation(fresh, rel))
            return no_memory(err, st);
    }
    int n = 0;
    for (int i = 0; i < st->num_axes; i++)
        if (!st->axes[i].axis->is_reduce)
            n++;
    SchAxisInfo *infos = ts_arena_alloc(A, sizeof *infos * (size_t)(n + 1));
    TsAxis **new_leaves = ts_arena_alloc(A, sizeof *new_leaves * (size_t)(st->num_leaves + 1));
    if (!infos || !new_leaves)
        return no_memory(err, st);
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
    *st = *fresh;
    add_log(sch, "rfactor %s %s -> %s", sname, axis->name, rf->name);
    if (factored)
        *factored = rf;
    return TS_OK;
}

/* ---- copies ---- */

/* A schedule's mutable parts are its stage records, their arrays of leaves, axis
 * records and relations, and the log; ops, tensors and axes are immutable IR nodes and
 * are shared. Arrays that primitives replace wholesale (leaves, relations, log) could be
 * shared too, but axis records are updated in place, so every array is copied. */
static void *copy_array(TsArena *arena, const void *items, int count, size_t size)
{
    void *copy = ts_arena_alloc(arena, size * (size_t)(count > 0 ? count : 1));
    if (copy && count > 0)
        memcpy(copy, items, size * (size_t)count);
    return copy;
}

TsSchedule *ts_schedule_copy(TsArena *arena, const TsSchedule *sch)
{
    if (!sch) {
        ts_arena_fail(arena, TS_EINVAL, "schedule copy: the schedule is NULL");
        return NULL;
    }
    TsSchedule *copy = ts_arena_alloc(arena, sizeof *copy);
    if (!copy)
        return NULL;
    *copy = *sch;
    copy->arena = arena;
    copy->outputs = copy_array(arena, sch->outputs, sch->num_outputs, sizeof *sch->outputs);
    copy->stages = copy_array(arena, sch->stages, sch->num_stages, sizeof *sch->stages);
    copy->log = copy_array(arena, sch->log, sch->num_log, sizeof *sch->log);
    if (!copy->outputs || !copy->stages || !copy->log)
        return NULL;
    for (int i = 0; i < sch->num_stages; i++) {
        const TsStage *old = sch->stages[i];
        TsStage *st = copy_array(arena, old, 1, sizeof *old);
        if (!st)
            return NULL;
        st->sch = copy;
        st->root = copy_array(arena, old->root, old->num_root, sizeof *old->root);
        st->leaves = copy_array(arena, old->leaves, old->num_leaves, sizeof *old->leaves);
        st->axes = copy_array(arena, old->axes, old->num_axes, sizeof *old->axes);
        st->relations = copy_array(arena, old->relations, old->num_relations,
                                   sizeof *old->relations);
        if (!st->root || !st->leaves || !st->axes || !st->relations)
            return NULL;
        copy->stages[i] = st;
    }
    /* Attachments point at the copy's stages. */
    for (int i = 0; i < copy->num_stages; i++) {
        TsStage *st = copy->stages[i];
        for (int j = 0; st->attach_parent && j < sch->num_stages; j++)
            if (sch->stages[j] == st->attach_parent) {
                st->attach_parent = copy->stages[j];
                break;
            }
    }
    return copy;
}
