/* The "simplify" loop pass: te_simplify_stmt (te/simplify.c) over a lowered function's
 * body. pipeline.c runs it right after lowering, so that loop partitioning sees
 * canonical indices and guards, and again last ("final_simplify") to fold what
 * unrolling and vectorization left behind (min + k in the copies' indices). */
#include "sch_internal.h"

TsLoweredFunc *sch_pass_simplify(TsArena *arena, TsLoweredFunc *func,
                                 const SchLowerOptions *options, TsError *err)
{
    (void)options;
    if (!func) {
        ts_fail(err, TS_EINVAL, "simplify: no lowered function");
        return NULL;
    }
    TeStmt *body = te_simplify_stmt(arena, func->body);
    TsLoweredFunc *simplified = body ? sch_func_with_body(arena, func, body) : NULL;
    if (!simplified && ts_arena_check(arena, err) == TS_OK)
        ts_fail(err, TS_ENOMEM, "simplify %s: out of memory", func->name);
    return simplified;
}
