/* Loop partitioning, the loop pass after simplify (pipeline.c): a loop whose body holds
 * an if (likely(cond)) guard (lowering's guard for a split factor that does not divide
 * an extent, or for padding) is cut into a main part, where the guard is proven true
 * and removed, and a head and/or tail that keep it:
 *
 *     for (io, 0, 3) { for (ii, 0, 8) { if (likely(io*8 + ii < 20)) S } }
 * becomes
 *     for (io, 0, 2) { for (ii, 0, 8) { S } }
 *     for (ii, 0, 4) { S[io := 2] }
 *
 * Partitioning, not masking: the main loop, where nearly all iterations run, is
 * guard-free, so vectorize can turn it into plain vector code and LLVM sees straight-line
 * bodies; the tail is a shorter loop of constant extent instead of a full loop of
 * masked lanes. The price is a copy of the body per part, which unroll and codegen
 * already accept for tails.
 *
 * How the main part is found. For the loop variable v over [min, max], each conjunct of
 * the guard is checked with te_prove under the ranges of the enclosing loops and lets
 * and of the loops between the candidate loop and the guard (their ranges are taken
 * over v's whole range, which only weakens proofs). A guard linear in v holds on a
 * prefix or a suffix of the range, found by binary search; the conjunction holds on
 * the intersection, which is proven once more as a whole before the loop is cut, so
 * the result rests on te_prove alone whatever the guard's shape. When no part is
 * proven true, a prefix or suffix proven false is cut off the same way: those
 * iterations do nothing (or only the else branch), as in the last outer iterations of
 * a two-level split, and cutting them leaves the one partial iteration on its own.
 *
 * Order. Outermost loops first: for io*8 + ii < 20 the outer loop io has a main part
 * [0, 2); the inner loop ii would only give a main part inside each io. After each
 * round of cuts the whole body is simplified (so a tail of extent 1 becomes its body
 * and its guards become ii < 4, which the next round cuts) until nothing changes, or
 * MAX_PARTITIONS cuts were made: the bound keeps compile time in check, and loops left
 * uncut are still correct because their guards stay. Loop kinds and pragmas are kept
 * on every part. */
#include <stdlib.h>

#include "sch_internal.h"

enum { MAX_PARTITIONS = 256 };

typedef struct Partitioner {
    TsArena *arena;
    TeRange *ranges; /* enclosing loops and lets, innermost last */
    int num_ranges;
    int cap;
    bool failed;     /* out of memory (recorded in the arena) */
    int partitions;  /* loops cut so far */
    TeMutator self;
} Partitioner;

/* A part of a loop's range where a guard is decided. */
typedef struct Guard {
    const TeStmt *stmt; /* the if (likely(...)) */
    int64_t lo, hi;
    bool value;         /* proven true there, or proven false */
} Guard;

static bool push_range(Partitioner *p, const TsExpr *var, int64_t lo, int64_t hi)
{
    if (p->num_ranges == p->cap) {
        int cap = p->cap ? 2 * p->cap : 16;
        TeRange *grown = realloc(p->ranges, sizeof *grown * (size_t)cap);
        if (!grown) {
            ts_arena_fail(p->arena, TS_ENOMEM, "loop_partition: out of memory for %d ranges",
                          cap);
            p->failed = true;
            return false;
        }
        p->ranges = grown;
        p->cap = cap;
    }
    p->ranges[p->num_ranges++] = (TeRange){ var, lo, hi };
    return true;
}

/* Pushes what is known of a loop's variable, [min, min + extent - 1] over the bounds
 * of min and extent; nothing when they are unbounded (not a failure). */
static bool push_loop(Partitioner *p, const TeStmt *loop)
{
    int64_t mlo, mhi, elo, ehi;
    if (!te_const_bounds(loop->u.loop.min, p->num_ranges, p->ranges, &mlo, &mhi) ||
        !te_const_bounds(loop->u.loop.extent, p->num_ranges, p->ranges, &elo, &ehi) ||
        ehi < 1 || mhi > INT32_MAX - (ehi - 1))
        return true;
    return push_range(p, loop->u.loop.var, mlo, mhi + ehi - 1);
}

static bool push_let(Partitioner *p, const TeStmt *let)
{
    int64_t lo, hi;
    if (!te_const_bounds(let->u.let.value, p->num_ranges, p->ranges, &lo, &hi))
        return true;
    return push_range(p, let->u.let.var, lo, hi);
}

/* Whether cond holds for every value when ranges[slot] (the loop variable) is
 * narrowed to [lo, hi]. */
static bool proven_on(Partitioner *p, const TsExpr *cond, int slot, int64_t lo, int64_t hi)
{
    TeRange full = p->ranges[slot];
    p->ranges[slot].min = lo;
    p->ranges[slot].max = hi;
    bool proven = te_prove(p->arena, cond, p->num_ranges, p->ranges);
    p->ranges[slot] = full;
    return proven;
}

/* Whether cond is built from comparisons of integers a op b where a - b changes by a
 * constant when var steps by one: linear in var, so each comparison is monotone in it
 * and holds on a prefix or a suffix. (Other guards could be proven on scattered
 * iterations, and cutting those off one at a time would only copy the body.) */
static bool linear_in(Partitioner *p, const TsExpr *cond, const TsExpr *var)
{
    if (cond->kind == TE_NOT)
        return linear_in(p, cond->u.op.a, var);
    if (cond->kind == TE_AND || cond->kind == TE_OR)
        return linear_in(p, cond->u.op.a, var) && linear_in(p, cond->u.op.b, var);
    bool compare = cond->kind == TE_LT || cond->kind == TE_LE || cond->kind == TE_GT ||
                   cond->kind == TE_GE || cond->kind == TE_EQ || cond->kind == TE_NE;
    if (!compare || !ts_dtype_eq(cond->u.op.a->dtype, TS_INT32))
        return false;
    TsArena *A = p->arena;
    TsExpr *diff = ts_sub(A, cond->u.op.a, cond->u.op.b);
    TsExpr *next = ts_add(A, (TsExpr *)var, ts_i32(A, 1));
    TsExpr *shifted = diff && next ? te_substitute(A, diff, 1, &var, &next) : NULL;
    TsExpr *step = shifted ? te_simplify_expr(A, ts_sub(A, shifted, diff), 0, NULL) : NULL;
    p->failed = p->failed || !step;
    return step && step->kind == TE_INT;
}

/* Narrows [*lo, *hi] to where one conjunct is proven: all of the range, a prefix (the
 * largest one proven) or a suffix (the largest one proven); false when it is proven
 * at neither end or is not linear in the loop variable. */
static bool conjunct_part(Partitioner *p, const TsExpr *cond, int slot, int64_t *lo,
                          int64_t *hi)
{
    int64_t vmin = p->ranges[slot].min, vmax = p->ranges[slot].max;
    if (!linear_in(p, cond, p->ranges[slot].var))
        return false;
    if (proven_on(p, cond, slot, vmin, vmax))
        return true;
    if (proven_on(p, cond, slot, vmin, vmin)) {
        int64_t yes = vmin, no = vmax; /* proven on [vmin, yes], not on [vmin, no] */
        while (no - yes > 1) {
            int64_t mid = yes + (no - yes) / 2;
            *(proven_on(p, cond, slot, vmin, mid) ? &yes : &no) = mid;
        }
        *hi = yes < *hi ? yes : *hi;
        return true;
    }
    if (proven_on(p, cond, slot, vmax, vmax)) {
        int64_t no = vmin, yes = vmax; /* proven on [yes, vmax], not on [no, vmax] */
        while (yes - no > 1) {
            int64_t mid = no + (yes - no) / 2;
            *(proven_on(p, cond, slot, mid, vmax) ? &yes : &no) = mid;
        }
        *lo = yes > *lo ? yes : *lo;
        return true;
    }
    return false;
}

static bool conjunction_part(Partitioner *p, const TsExpr *cond, int slot, int64_t *lo,
                             int64_t *hi)
{
    if (cond->kind == TE_AND)
        return conjunction_part(p, cond->u.op.a, slot, lo, hi) &&
               conjunction_part(p, cond->u.op.b, slot, lo, hi);
    return conjunct_part(p, cond, slot, lo, hi);
}

/* Whether cond is proven on a non-empty part of the loop's range that is not all of it
 * (all of it: simplify removes the guard without a cut). */
static bool proven_part(Partitioner *p, const TsExpr *cond, int slot, int64_t *lo, int64_t *hi)
{
    int64_t vmin = p->ranges[slot].min, vmax = p->ranges[slot].max;
    *lo = vmin;
    *hi = vmax;
    return conjunction_part(p, cond, slot, lo, hi) && *lo <= *hi &&
           !(*lo == vmin && *hi == vmax) && proven_on(p, cond, slot, *lo, *hi);
}

/* Where the guard is proven true (the main part), or else proven false: iterations that
 * do nothing, as in the last outer iterations of a two-level split, which the cut
 * separates from the one partial iteration. */
static bool guard_part(Partitioner *p, const TeStmt *guard, int slot, Guard *g)
{
    TsExpr *cond = guard->u.if_then.cond, *negated;
    g->stmt = guard;
    g->value = true;
    if (proven_part(p, cond, slot, &g->lo, &g->hi))
        return true;
    g->value = false;
    negated = ts_not(p->arena, cond);
    if (!negated) {
        p->failed = true;
        return false;
    }
    return proven_part(p, negated, slot, &g->lo, &g->hi);
}

static bool find_guard(Partitioner *p, const TeStmt *s, int slot, Guard *g);

static bool find_guard_in_scope(Partitioner *p, const TeStmt *scope, const TeStmt *body,
                                int slot, Guard *g)
{
    int saved = p->num_ranges;
    bool pushed = scope->kind == TE_STMT_FOR ? push_loop(p, scope) : push_let(p, scope);
    bool found = pushed && find_guard(p, body, slot, g);
    p->num_ranges = saved;
    return found;
}

/* The first likely guard inside s (pre-order) that gives the loop of ranges[slot] a
 * main part. */
static bool find_guard(Partitioner *p, const TeStmt *s, int slot, Guard *g)
{
    switch (s->kind) {
    case TE_STMT_FOR: return find_guard_in_scope(p, s, s->u.loop.body, slot, g);
    case TE_STMT_LET: return find_guard_in_scope(p, s, s->u.let.body, slot, g);
    case TE_STMT_ALLOCATE: return find_guard(p, s->u.allocate.body, slot, g);
    case TE_STMT_IF:
        if (s->u.if_then.likely && guard_part(p, s, slot, g))
            return true;
        return !p->failed && (find_guard(p, s->u.if_then.then_case, slot, g) ||
                              (s->u.if_then.else_case &&
                               find_guard(p, s->u.if_then.else_case, slot, g)));
    case TE_STMT_SEQ:
        for (int i = 0; i < s->u.seq.num_stmts && !p->failed; i++)
            if (find_guard(p, s->u.seq.stmts[i], slot, g))
                return true;
        return false;
    case TE_STMT_STORE: case TE_NUM_STMT_KINDS:
        return false;
    }
    return false;
}

/* Replaces the guard by the branch its proven value takes. */
static TeStmt *decide_guard(void *ctx, TsArena *arena, TeStmt *s)
{
    const Guard *g = ctx;
    if (s != g->stmt)
        return NULL;
    if (g->value)
        return s->u.if_then.then_case;
    return s->u.if_then.else_case ? s->u.if_then.else_case : te_seq(arena, 0, NULL);
}

static TeStmt *loop_part(Partitioner *p, const TeStmt *loop, int64_t lo, int64_t hi,
                         TeStmt *body)
{
    return te_for(p->arena, loop->u.loop.var, ts_i32(p->arena, lo),
                  ts_i32(p->arena, hi - lo + 1), loop->u.loop.for_kind, loop->u.loop.num_pragmas,
                  loop->u.loop.pragmas, body);
}

/* The loop over [vmin, vmax] as head (guard kept), the part where the guard is decided
 * (guard replaced by its branch), and tail (guard kept). */
static TeStmt *cut_loop(Partitioner *p, const TeStmt *loop, int64_t vmin, int64_t vmax,
                        const Guard *g)
{
    TeMutator decide = { .stmt = decide_guard, .ctx = (void *)g };
    TeStmt *main_body = te_mutate_stmt(p->arena, loop->u.loop.body, &decide);
    TeStmt *parts[3];
    int n = 0;
    if (g->lo > vmin)
        parts[n++] = loop_part(p, loop, vmin, g->lo - 1, loop->u.loop.body);
    parts[n++] = main_body ? loop_part(p, loop, g->lo, g->hi, main_body) : NULL;
    if (g->hi < vmax)
        parts[n++] = loop_part(p, loop, g->hi + 1, vmax, loop->u.loop.body);
    p->partitions++;
    return te_seq(p->arena, n, parts);
}

static TeStmt *visit_for(Partitioner *p, TeStmt *s)
{
    int64_t min, extent;
    int saved = p->num_ranges, slot = p->num_ranges;
    bool candidate = te_const_int(s->u.loop.min, &min) && te_const_int(s->u.loop.extent, &extent) &&
                     extent >= 2 && p->partitions < MAX_PARTITIONS;
    TeStmt *r = NULL, *body = NULL;
    Guard g;
    if (push_loop(p, s)) {
        if (candidate && p->num_ranges > slot && find_guard(p, s->u.loop.body, slot, &g))
            r = cut_loop(p, s, min, min + extent - 1, &g);
        else if (!p->failed)
            body = te_mutate_stmt(p->arena, s->u.loop.body, &p->self);
    }
    p->num_ranges = saved;
    if (r || !body || body == s->u.loop.body)
        return r ? r : body ? s : NULL;
    TeStmt *copy = ts_arena_alloc(p->arena, sizeof *copy);
    if (copy) {
        *copy = *s;
        copy->u.loop.body = body;
    }
    return copy;
}

static TeStmt *visit_let(Partitioner *p, TeStmt *s)
{
    int saved = p->num_ranges;
    TeStmt *body = push_let(p, s) ? te_mutate_stmt(p->arena, s->u.let.body, &p->self) : NULL;
    p->num_ranges = saved;
    if (!body || body == s->u.let.body)
        return body ? s : NULL;
    return te_let(p->arena, s->u.let.var, s->u.let.value, body);
}

static TeStmt *visit(void *ctx, TsArena *arena, TeStmt *s)
{
    Partitioner *p = ctx;
    TeStmt *r = NULL;
    (void)arena;
    switch (s->kind) {
    case TE_STMT_FOR: r = visit_for(p, s); break;
    case TE_STMT_LET: r = visit_let(p, s); break;
    case TE_STMT_IF: case TE_STMT_SEQ: case TE_STMT_ALLOCATE:
        return NULL; /* the engine descends */
    case TE_STMT_STORE: case TE_NUM_STMT_KINDS:
        return s;
    }
    return r ? r : TE_MUTATE_STMT_FAILED;
}

/* Rounds of cuts, each followed by simplification, until a round cuts nothing. */
static TeStmt *partition(Partitioner *p, TeStmt *body)
{
    for (;;) {
        int before = p->partitions;
        TeStmt *cut = te_mutate_stmt(p->arena, body, &p->self);
        if (!cut || p->partitions == before)
            return cut;
        body = te_simplify_stmt(p->arena, cut);
        if (!body)
            return NULL;
    }
}

TsLoweredFunc *sch_pass_loop_partition(TsArena *arena, TsLoweredFunc *func,
                                       const SchLowerOptions *options, TsError *err)
{
    (void)options;
    if (!func) {
        ts_fail(err, TS_EINVAL, "loop_partition: no lowered function");
        return NULL;
    }
    Partitioner p = { .arena = arena };
    p.self = (TeMutator){ .stmt = visit, .ctx = &p };
    TeStmt *body = partition(&p, func->body);
    free(p.ranges);
    TsLoweredFunc *out = body ? sch_func_with_body(arena, func, body) : NULL;
    if (!out && ts_arena_check(arena, err) == TS_OK)
        ts_fail(err, TS_ENOMEM, "loop_partition %s: out of memory", func->name);
    return out;
}
