/* Loop unrolling, the loop pass after vectorize (pipeline.c): a loop marked unrolled
 * becomes a sequence of copies of its body, copy k with the loop variable replaced by
 * min + k. Serial loops are unrolled too when their constant extent is at most N, where
 * N is the value of pragma "unroll_max_extent" on the nearest enclosing loop (the loop
 * carrying the pragma is not itself affected), or options->auto_unroll_max_extent when
 * no enclosing loop has the pragma; N = 0 unrolls nothing automatically. Parallel
 * loops are never unrolled automatically.
 *
 * The pass works innermost first: a loop's body is unrolled before the loop is, so
 * unrolling an outer loop copies bodies that are already straight-line code. The copies
 * are not simplified here (the final simplify folds min + k into the indices). An
 * unrolled loop whose extent is not a constant after simplification, or whose copies
 * would hold more than MAX_UNROLLED_STMTS statements, is an error (TS_ECODEGEN) naming
 * the loop; an automatic candidate that large is left as a loop. */
#include <string.h>

#include "sch_internal.h"

/* How many statements one unrolling may produce: a bound on the memory an unroll
 * request (say, a tuning candidate's) can make the compiler use. */
enum { MAX_UNROLLED_STMTS = 1 << 16 };

typedef struct Unroller {
    int64_t max_auto_extent; /* in force for the loops being visited; 0: none */
    TsError *err;
    bool failed; /* err holds an unroll error */
    TeMutator self;
} Unroller;

static bool find_pragma(const TeStmt *loop, const char *key, int64_t *value)
{
    for (int i = 0; i < loop->u.loop.num_pragmas; i++) {
        if (strcmp(loop->u.loop.pragmas[i].key, key) == 0) {
            *value = loop->u.loop.pragmas[i].value;
            return true;
        }
    }
    return false;
}

/* The loop's extent as a constant, after simplification; false when it is not one. */
static bool const_extent(TsArena *arena, TsExpr *extent, int64_t *value)
{
    if (te_const_int(extent, value))
        return true;
    TsExpr *simplified = te_simplify_expr(arena, extent, 0, NULL);
    return simplified && te_const_int(simplified, value);
}

static TeVisit count_stmt(void *ctx, const TeStmt *s)
{
    (void)s;
    ++*(int64_t *)ctx;
    return TE_VISIT_CHILDREN;
}

/* Statements in s, counting every node of the tree. */
static int64_t stmt_count(TeStmt *s)
{
    int64_t count = 0;
    TeVisitor v = { .stmt = count_stmt, .ctx = &count };
    te_visit_stmt(s, &v);
    return count;
}

/* min + k, folded when min is a constant. */
static TsExpr *offset(TsArena *arena, TsExpr *min, int64_t k)
{
    int64_t base;
    if (te_const_int(min, &base))
        return ts_i32(arena, te_wrap_int(TS_INT32, base + k));
    return k == 0 ? min : ts_add(arena, min, ts_i32(arena, k));
}

/* The copies of body for var = min, min + 1, ..., min + extent - 1. */
static TeStmt *unroll(TsArena *arena, const TeStmt *loop, TeStmt *body, int64_t extent)
{
    if (extent <= 0)
        return te_seq(arena, 0, NULL);
    TeStmt **copies = ts_arena_alloc(arena, sizeof *copies * (size_t)extent);
    if (!copies)
        return NULL;
    const TsExpr *vars[1] = { loop->u.loop.var };
    for (int64_t k = 0; k < extent; k++) {
        TsExpr *value = offset(arena, loop->u.loop.min, k);
        copies[k] = value ? te_substitute_stmt(arena, body, 1, vars, &value) : NULL;
        if (!copies[k])
            return NULL;
    }
    return te_seq(arena, (int)extent, copies);
}

/* The loop with its rewritten body. */
static TeStmt *keep_loop(TsArena *arena, TeStmt *s, TeStmt *body)
{
    if (body == s->u.loop.body)
        return s;
    TeStmt *out = te_for(arena, s->u.loop.var, s->u.loop.min, s->u.loop.extent,
                         s->u.loop.for_kind, s->u.loop.num_pragmas, s->u.loop.pragmas, body);
    return out ? out : TE_MUTATE_STMT_FAILED;
}

static TeStmt *unroll_failed(Unroller *u)
{
    u->failed = true;
    return TE_MUTATE_STMT_FAILED;
}

static TeStmt *visit_loop(void *ctx, TsArena *arena, TeStmt *s)
{
    Unroller *u = ctx;
    if (s->kind != TE_STMT_FOR)
        return NULL;
    const char *name = s->u.loop.var->u.var.name;
    int64_t outer_max = u->max_auto_extent, pragma;
    if (find_pragma(s, "unroll_max_extent", &pragma))
        u->max_auto_extent = pragma;
    TeStmt *body = te_mutate_stmt(arena, s->u.loop.body, &u->self);
    u->max_auto_extent = outer_max;
    if (!body)
        return TE_MUTATE_STMT_FAILED;

    int64_t extent = 0;
    bool is_const = const_extent(arena, s->u.loop.extent, &extent);
    bool marked = s->u.loop.for_kind == TE_FOR_UNROLLED;
    bool automatic = !marked && s->u.loop.for_kind == TE_FOR_SERIAL && is_const &&
                     outer_max > 0 && extent <= outer_max;
    if (!marked && !automatic)
        return keep_loop(arena, s, body);
    if (!is_const) {
        ts_fail(u->err, TS_ECODEGEN, "unroll: loop %s has extent %s, not a constant", name,
                te_expr_str(arena, s->u.loop.extent));
        return unroll_failed(u);
    }
    bool too_big = extent > 0 && stmt_count(body) > MAX_UNROLLED_STMTS / extent;
    if (too_big && automatic)
        return keep_loop(arena, s, body);
    if (too_big) {
        ts_fail(u->err, TS_ECODEGEN, "unroll: unrolling loop %s (extent %lld) would make more "
                "than %d statements", name, (long long)extent, MAX_UNROLLED_STMTS);
        return unroll_failed(u);
    }
    TeStmt *copies = unroll(arena, s, body, extent);
    return copies ? copies : TE_MUTATE_STMT_FAILED;
}

TsLoweredFunc *sch_pass_unroll(TsArena *arena, TsLoweredFunc *func,
                               const SchLowerOptions *options, TsError *err)
{
    Unroller u = { .err = err };
    u.max_auto_extent = options ? options->auto_unroll_max_extent : 0;
    u.self = (TeMutator){ .stmt = visit_loop, .ctx = &u };
    TeStmt *body = te_mutate_stmt(arena, func->body, &u.self);
    TsLoweredFunc *out = !body ? NULL : body == func->body ? func
                                                           : sch_func_with_body(arena, func, body);
    if (!out && !u.failed && ts_arena_check(arena, err) == TS_OK)
        ts_fail(err, TS_ENOMEM, "unroll of %s failed", func->name);
    return out;
}
