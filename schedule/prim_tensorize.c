/* The tensorize primitive (intrin.h's ts_tensorize): records that the loops of a stage
 * from one leaf inwards become a tensor intrinsic. Like every primitive it checks first
 * and commits a copy of the stage's record with its line of text, so a refusal changes
 * nothing. What it can check here is the request itself; whether the loop nest matches
 * the declaration depends on the extents bound inference finds and on the primitives
 * applied later, so lowering checks that (tensorize_match.c). */
#include "sch_internal.h"

TsStatus ts_tensorize(TsStage *stage, TsAxis *axis, const TsIntrin *intrin, TsError *err)
{
    if (!stage)
        return ts_fail(err, TS_EINVAL, "tensorize: the stage is NULL");
    TsStatus st = sch_check_leaf(stage, axis, "tensorize", err);
    if (st != TS_OK)
        return st;
    if (!intrin)
        return ts_fail(err, TS_EINVAL, "tensorize on stage %s, axis %s: the intrinsic is NULL",
                       stage->op->name, axis->name);
    bool complete = intrin->reducer ? intrin->reset && intrin->update : intrin->body != NULL;
    if (!complete)
        return ts_fail(err, TS_EINVAL,
                       "tensorize on stage %s, axis %s: intrinsic %s has no "
                       "emitters for its code (ts_intrin_set_emitters)",
                       stage->op->name, axis->name, intrin->name);
    if (stage->tensorize_intrin)
        return ts_fail(err, TS_ESCHEDULE,
                       "tensorize on stage %s, axis %s: the stage is "
                       "tensorized at %s with %s already",
                       stage->op->name, axis->name, stage->tensorize_axis->name,
                       stage->tensorize_intrin->name);
    if (stage->attach == SCH_ATTACH_INLINE)
        return ts_fail(err, TS_ESCHEDULE, "tensorize on stage %s: the stage is inlined",
                       stage->op->name);
    TsStage edit = *stage;
    edit.tensorize_axis = axis;
    edit.tensorize_intrin = intrin;
    return sch_commit(stage, &edit, err, "tensorize %s %s intrin=%s", stage->op->name, axis->name,
                      intrin->name);
}
