/* Schedules, stages and axes: creating a schedule, the helpers every primitive uses to
 * check and record its request (sch_internal.h), the schedule's text and its copies.
 *
 * The primitives live by concern in prim_loop.c (split, tile, fuse, reorder,
 * annotations, attachment, storage_align), prim_cache.c (cache_read, cache_write) and
 * rfactor.c. Each checks its request against the stage as it is now, then records it:
 * relations (split, fuse) append to the stage's log and change its leaf list;
 * annotations tag an axis; attachment says where the stage is computed; cache_read,
 * cache_write and rfactor add stages and rewrite the ops that read them. A refused
 * request returns TS_ESCHEDULE or TS_EINVAL with a message naming the stage and axes
 * and leaves the schedule unchanged, even when it fails for want of memory: the
 * primitive builds its new state aside and commits it at the end (sch_internal.h).
 * Every accepted one adds a line to the schedule's text (ts_schedule_str). */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "sch_internal.h"

/* ---- small helpers ---- */

/* Appends lines to the schedule's text, all or none: false (the text as it was) when
 * out of memory. */
static bool append_log(TsSchedule *sch, int num_lines, const char *const *lines)
{
    TsArena *arena = sch->arena;
    const char **grown = ts_arena_alloc(arena, sizeof *grown * (size_t)(sch->num_log + num_lines));
    if (!grown)
        return false;
    if (sch->num_log)
        memcpy(grown, sch->log, sizeof *grown * (size_t)sch->num_log);
    for (int i = 0; i < num_lines; i++)
        if (!(grown[sch->num_log + i] = ts_arena_strdup(arena, lines[i])))
            return false;
    sch->log = grown;
    sch->num_log += num_lines;
    return true;
}

bool sch_log(TsSchedule *sch, const char *fmt, ...)
{
    char line[SCH_LOG_LINE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    return append_log(sch, 1, (const char *const[]){ line });
}

TsStatus sch_commit(TsStage *stage, const TsStage *edit, TsError *err, const char *fmt, ...)
{
    char line[SCH_LOG_LINE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    return sch_commit_lines(stage, edit, 1, (const char *const[]){ line }, err);
}

TsStatus sch_commit_lines(TsStage *stage, const TsStage *edit, int num_lines,
                          const char *const *lines, TsError *err)
{
    if (!append_log(stage->sch, num_lines, lines))
        return sch_no_memory(err, stage);
    *stage = *edit;
    return TS_OK;
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

TsStatus sch_no_memory(TsError *err, const TsStage *stage)
{
    return ts_fail(err, TS_ENOMEM, "stage %s: out of memory", stage->op->name);
}

/* The error a builder recorded in the arena, or TS_ENOMEM when none was recorded. */
TsStatus sch_builder_failed(TsArena *arena, TsError *err, const char *what)
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

int sch_leaf_index(const TsStage *stage, const TsAxis *axis)
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
TsStatus sch_check_leaf(const TsStage *stage, const TsAxis *axis, const char *what,
                        TsError *err)
{
    const char *sname = stage->op->name;
    if (!axis)
        return ts_fail(err, TS_EINVAL, "%s on stage %s: the axis is NULL", what, sname);
    if (sch_leaf_index(stage, axis) >= 0)
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

TsAxis *sch_new_axis(TsStage *stage, const char *name, int64_t extent, bool is_reduce)
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

bool sch_replace_leaf(TsStage *stage, int pos, int n, TsAxis *const *with, int remove)
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

bool sch_add_relation(TsStage *stage, const SchRelation *rel)
{
    SchRelation *grown = append(stage->sch->arena, stage->relations, stage->num_relations,
                                sizeof *rel, rel);
    if (!grown)
        return false;
    stage->relations = grown;
    stage->num_relations++;
    return true;
}

const TsStage *sch_attached_at_reduce(const TsStage *stage)
{
    const TsSchedule *sch = stage->sch;
    for (int i = 0; i < sch->num_stages; i++) {
        const TsStage *other = sch->stages[i];
        if (other->attach == SCH_ATTACH_AT && other->attach_parent == stage &&
            other->attach_axis->is_reduce)
            return other;
    }
    return NULL;
}

SchAxisInfo *sch_edit_axis_info(TsStage *edit, const TsAxis *axis)
{
    const SchAxisInfo *info = sch_axis_info(edit, axis);
    if (!info)
        return NULL;
    size_t size = sizeof *edit->axes * (size_t)edit->num_axes;
    SchAxisInfo *axes = ts_arena_alloc(edit->sch->arena, size);
    if (!axes)
        return NULL;
    memcpy(axes, edit->axes, size);
    ptrdiff_t at = info - edit->axes;
    edit->axes = axes;
    return &axes[at];
}

/* ---- creating a schedule ---- */

TsStage *sch_new_stage(TsSchedule *sch, TsTensor *op, const TsTensor *tensor)
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
        TsStage *st = sch_new_stage(sch, dag[i], dag[i]);
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

void sch_unique_name(const TsSchedule *sch, const char *base, const char *suffix, char *out,
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

TsStage **sch_stages_with(const TsSchedule *sch, TsStage *st, int pos)
{
    TsStage **stages = ts_arena_alloc(sch->arena, sizeof *stages * (size_t)(sch->num_stages + 1));
    if (!stages)
        return NULL;
    memcpy(stages, sch->stages, sizeof *stages * (size_t)pos);
    stages[pos] = st;
    memcpy(stages + pos + 1, sch->stages + pos, sizeof *stages * (size_t)(sch->num_stages - pos));
    return stages;
}

int sch_stage_position(const TsSchedule *sch, const TsStage *st)
{
    for (int i = 0; i < sch->num_stages; i++)
        if (sch->stages[i] == st)
            return i;
    return -1;
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

/* ---- copies ---- */

/* A schedule's mutable parts are its stage records, their arrays of leaves, axis
 * records and relations, and the log; ops, tensors and axes are immutable IR nodes and
 * are shared. Primitives replace arrays rather than write into them (sch_internal.h),
 * so the arrays could be shared too; they are copied so that a copy does not rest on
 * that rule. */
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
