/* ts_lower: the lowering pipeline, one flat table read top to bottom.
 *
 * sch_lower turns the schedule into a loop nest; each pass then rewrites it. With
 * TS_DUMP=name,name,... (or TS_DUMP=all) in the environment, the IR after each named
 * step is printed to stderr, which is how a wrong step is found. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sch_internal.h"

typedef struct {
    const char *name;
    SchPass run;
} Pass;

static const Pass passes[] = {
    { "simplify", sch_pass_simplify },
    { "loop_partition", sch_pass_loop_partition },
    { "storage_flatten", sch_pass_storage_flatten },
    { "vectorize", sch_pass_vectorize },
    { "unroll", sch_pass_unroll },
    { "storage_rewrite", sch_pass_storage_rewrite },
    { "final_simplify", sch_pass_simplify },
};

TsLoweredFunc *sch_func(TsArena *arena, const char *name, int num_args, const TeBuffer **args,
                        TeStmt *body)
{
    TsLoweredFunc *f = ts_arena_alloc(arena, sizeof *f);
    if (!f || !body)
        return NULL;
    f->name = ts_arena_strdup(arena, name ? name : "main");
    f->num_args = num_args;
    f->args = args;
    f->body = body;
    return f->name ? f : NULL;
}

TsLoweredFunc *sch_func_with_body(TsArena *arena, const TsLoweredFunc *func, TeStmt *body)
{
    if (!body)
        return NULL;
    if (body == func->body)
        return (TsLoweredFunc *)func;
    TsLoweredFunc *f = ts_arena_alloc(arena, sizeof *f);
    if (f) {
        *f = *func;
        f->body = body;
    }
    return f;
}

static void dump(TsArena *arena, const char *step, const TsLoweredFunc *f)
{
    const char *text = ts_lowered_str(arena, f);
    fprintf(stderr, "// ---- after %s ----\n%s", step, text ? text : "(cannot print)\n");
}

TsStatus ts_lower(TsSchedule *sch, const char *name, TsLoweredFunc **func, TsError *err)
{
    return ts_lower_with_options(sch, name, NULL, func, err);
}

TsStatus ts_lower_with_options(TsSchedule *sch, const char *name, const TsLowerOptions *opts,
                               TsLoweredFunc **func, TsError *err)
{
    if (!sch || !func)
        return ts_fail(err, TS_EINVAL, "lower: the schedule or the result pointer is NULL");
    *func = NULL;
    if (opts && opts->auto_unroll_max_extent < 0)
        return ts_fail(err, TS_EINVAL, "lower: auto_unroll_max_extent %lld must be >= 0",
                       (long long)opts->auto_unroll_max_extent);
    TsLoweredFunc *f = sch_lower(sch, name, err);
    if (!f)
        return err ? err->status : TS_ESCHEDULE;
    if (te_dump_wanted("lower"))
        dump(sch->arena, "lower", f);
    SchLowerOptions options = {
        .allow_scalar_fallback = opts && opts->allow_scalar_fallback,
        .auto_unroll_max_extent = opts ? opts->auto_unroll_max_extent : 0,
    };
    for (size_t i = 0; i < sizeof passes / sizeof passes[0]; i++) {
        f = passes[i].run(sch->arena, f, &options, err);
        if (!f)
            return err ? err->status : TS_ESCHEDULE;
        if (te_dump_wanted(passes[i].name))
            dump(sch->arena, passes[i].name, f);
    }
    *func = f;
    return TS_OK;
}
