/* Loop partitioning, the loop pass after simplify (pipeline.c): a loop whose body holds
 * an if (likely(cond)) guard (lowering's guard for a split factor that does not divide
 * an extent, or for an attached region) is cut into a main part, where the guard is
 * proven true and removed, and a head and/or tail that keep it:
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
 * How the parts are found. The guard's conjuncts are taken one at a time: in
 * (i < 20 && j < 20) the loop over i decides the first and the loop over j the second,
 * and where a cut proves a conjunct true it is replaced by true (the guard goes away
 * once all are). For the loop variable v over [min, max], a conjunct is checked with
 * te_prove under the ranges of the enclosing loops and lets and of the loops between
 * the candidate loop and the guard (their ranges are taken over v's whole range, which
 * only weakens proofs). A conjunct monotone in v (built from + - min max and products
 * and divisions by constants) holds on a prefix or a suffix of the range, found by
 * binary search and proven once more as a whole before the loop is cut, so the result
 * rests on te_prove alone. When no part is proven true, a prefix or suffix where the
 * conjunct is proven false is cut off the same way, and there the guard takes its else
 * branch: those iterations skip the guarded statement, as in the last outer iterations
 * of a two-level split, and cutting them leaves the one partial iteration on its own.
 *
 * Order. Outermost loops first: for io*8 + ii < 20 the outer loop io has a main part
 * [0, 2); the inner loop ii would only give a main part inside each io. After each
 * round of cuts the whole body is simplified (so a tail of extent 1 becomes its body
 * and its guards become ii < 4, which the next round cuts) until nothing changes, or
 * MAX_PARTITIONS cuts were made: the bound keeps compile time in check, and loops left
 * uncut are still correct because their guards stay. Loop kinds and pragmas are kept
 * on every part. A parallel loop is not cut into several loops, which would leave the
 * thread pool short pieces; its parts become the branches of an if on its variable.
 * Inside the branches of an if on a loop variable (v < c, v >= c, in conjunctions), the
 * loops below are examined with the range the branch allows, so a tail left in the
 * else branch of a cut parallel loop is cut too. */
#include <stdlib.h>
#include <string.h>

#include "sch_internal.h"

enum { MAX_PARTITIONS = 256 };

enum { MAX_DEPTH = 256 }; /* guards nested deeper inside a loop are not looked at */

typedef struct Partitioner {
    TsArena *arena;
    TeRange *ranges; /* enclosing loops and lets, innermost last */
    int num_ranges;
    int cap;
    bool failed;     /* out of memory (recorded in the arena) */
    int partitions;  /* loops cut so far */
    int path[MAX_DEPTH]; /* child indices from the candidate loop's body to the statement
                          * being examined (see child_stmt) */
    int depth;
    /* The variable of the loop being examined when it is parallel: its parts are the
     * branches of an if on it (see cut_loop), which the search for guards must not
     * enter, or it would find the guard the cut kept in the other branch and cut the
     * loop again in every round until MAX_PARTITIONS, leaving inner loops uncut. */
    const TsExpr *parallel_var;
    TeMutator self;
} Partitioner;

/* A part of a loop's range where one conjunct of a guard is decided. The guard is named
 * by its path from the loop's body, not by its pointer: an unchanged subtree is shared
 * by the copies a cut makes, so one node can sit in several places with different
 * ranges around it, and the proof holds in the place it was made. */
typedef struct Guard {
    const TsExpr *conjunct;  /* a conjunct of the guard's condition (or all of it) */
    int64_t lo, hi;
    bool value;              /* the conjunct is proven true there, or proven false */
    int path[MAX_DEPTH];
    int depth;
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

/* How an int32 expression moves as a variable grows. */
typedef enum Direction { FLAT, RISING, FALLING, UNKNOWN } Direction;

static Direction flip(Direction d)
{
    return d == RISING ? FALLING : d == FALLING ? RISING : d;
}

static Direction combine(Direction a, Direction b)
{
    if (a == FLAT || a == b)
        return b;
    return b == FLAT ? a : UNKNOWN;
}

/* The direction of e in var, from + - min max, products and floor or truncating
 * divisions by constants (wrap-around aside: the proofs check exactness). */
static Direction direction(const TsExpr *e, const TsExpr *var)
{
    int64_t c;
    if (!te_expr_uses_var(e, var))
        return FLAT;
    if (e == var)
        return RISING;
    TeExprKind k = e->kind;
    if (k == TE_ADD || k == TE_MIN || k == TE_MAX)
        return combine(direction(e->u.op.a, var), direction(e->u.op.b, var));
    if (k == TE_SUB)
        return combine(direction(e->u.op.a, var), flip(direction(e->u.op.b, var)));
    if (k == TE_MUL && (te_const_int(e->u.op.b, &c) || te_const_int(e->u.op.a, &c))) {
        Direction d = direction(te_const_int(e->u.op.b, &c) ? e->u.op.a : e->u.op.b, var);
        return c > 0 ? d : c < 0 ? flip(d) : FLAT;
    }
    if ((k == TE_FLOORDIV || k == TE_DIV) && te_const_int(e->u.op.b, &c) && c != 0)
        return c > 0 ? direction(e->u.op.a, var) : flip(direction(e->u.op.a, var));
    return UNKNOWN;
}

/* Whether cond is built from comparisons of int32 values a op b where a - b only rises
 * or only falls with var, so that each comparison holds on a prefix or a suffix of the
 * loop. (Other guards could be proven on scattered iterations, and cutting those off
 * one at a time would only copy the body.) */
static bool monotone_in(const TsExpr *cond, const TsExpr *var)
{
    if (cond->kind == TE_NOT)
        return monotone_in(cond->u.op.a, var);
    if (cond->kind == TE_AND || cond->kind == TE_OR)
        return monotone_in(cond->u.op.a, var) && monotone_in(cond->u.op.b, var);
    bool compare = cond->kind == TE_LT || cond->kind == TE_LE || cond->kind == TE_GT ||
                   cond->kind == TE_GE || cond->kind == TE_EQ || cond->kind == TE_NE;
    if (!compare || !ts_dtype_eq(cond->u.op.a->dtype, TS_INT32))
        return false;
    Direction a = direction(cond->u.op.a, var), b = direction(cond->u.op.b, var);
    return combine(a, flip(b)) != UNKNOWN;
}

/* Narrows [*lo, *hi] to where one conjunct is proven: all of the range, a prefix (the
 * largest one proven) or a suffix (the largest one proven); false when it is proven
 * at neither end or is not monotone in the loop variable. */
static bool conjunct_part(Partitioner *p, const TsExpr *cond, int slot, int64_t *lo,
                          int64_t *hi)
{
    int64_t vmin = p->ranges[slot].min, vmax = p->ranges[slot].max;
    if (!monotone_in(cond, p->ranges[slot].var))
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

/* Whether cond is proven on a non-empty part of the loop's range that is not all of it
 * (all of it: simplify removes it without a cut). */
static bool proven_part(Partitioner *p, const TsExpr *cond, int slot, int64_t *lo, int64_t *hi)
{
    int64_t vmin = p->ranges[slot].min, vmax = p->ranges[slot].max;
    *lo = vmin;
    *hi = vmax;
    return conjunct_part(p, cond, slot, lo, hi) && *lo <= *hi &&
           !(*lo == vmin && *hi == vmax) && proven_on(p, cond, slot, *lo, *hi);
}

/* Where one conjunct is proven true (the main part), or else proven false: iterations
 * that skip the guarded statement, as in the last outer iterations of a two-level split,
 * which the cut separates from the one partial iteration. */
static bool conjunct_decided(Partitioner *p, TsExpr *conjunct, int slot, Guard *g)
{
    g->conjunct = conjunct;
    g->value = true;
    if (proven_part(p, conjunct, slot, &g->lo, &g->hi))
        return true;
    g->value = false;
    TsExpr *negated = ts_not(p->arena, conjunct);
    if (!negated) {
        p->failed = true;
        return false;
    }
    return proven_part(p, negated, slot, &g->lo, &g->hi);
}

/* The first conjunct of cond decided on part of the loop. Conjuncts are taken one at a
 * time: in (i < 20 && j < 20) only the first is decided by the loop over i, the second
 * by the loop over j, and each cut removes its own. */
static bool conjunction_part(Partitioner *p, TsExpr *cond, int slot, Guard *g)
{
    if (cond->kind == TE_AND)
        return conjunction_part(p, cond->u.op.a, slot, g) ||
               (!p->failed && conjunction_part(p, cond->u.op.b, slot, g));
    return conjunct_decided(p, cond, slot, g);
}

/* The same for the guard at the current path, which the result records. */
static bool guard_part(Partitioner *p, const TeStmt *guard, int slot, Guard *g)
{
    if (!conjunction_part(p, guard->u.if_then.cond, slot, g))
        return false;
    memcpy(g->path, p->path, sizeof p->path[0] * (size_t)p->depth);
    g->depth = p->depth;
    return true;
}

/* Child i of s: the body of a loop, let or allocation (i = 0), the then (0) or else
 * (1) branch of an if, statement i of a sequence; NULL when there is none. */
static TeStmt *child_stmt(const TeStmt *s, int i)
{
    switch (s->kind) {
    case TE_STMT_FOR: return i == 0 ? s->u.loop.body : NULL;
    case TE_STMT_LET: return i == 0 ? s->u.let.body : NULL;
    case TE_STMT_ALLOCATE: return i == 0 ? s->u.allocate.body : NULL;
    case TE_STMT_IF:
        return i == 0 ? s->u.if_then.then_case : i == 1 ? s->u.if_then.else_case : NULL;
    case TE_STMT_SEQ: return i < s->u.seq.num_stmts ? s->u.seq.stmts[i] : NULL;
    case TE_STMT_STORE: case TE_STMT_CALL: case TE_STMT_TENSORIZE: case TE_NUM_STMT_KINDS:
        return NULL;
    }
    return NULL;
}

static bool find_guard(Partitioner *p, const TeStmt *s, int slot, Guard *g);

/* Looks for a guard in each child of s, with the ranges s binds. */
static bool find_guard_below(Partitioner *p, const TeStmt *s, int slot, Guard *g)
{
    int saved = p->num_ranges;
    if (p->depth == MAX_DEPTH)
        return false;
    if (s->kind == TE_STMT_IF && !s->u.if_then.likely && p->parallel_var &&
        te_expr_uses_var(s->u.if_then.cond, p->parallel_var))
        return false;
    bool found = false, pushed = s->kind == TE_STMT_FOR   ? push_loop(p, s)
                                 : s->kind == TE_STMT_LET ? push_let(p, s)
                                                          : true;
    if (!pushed)
        return false;
    TeStmt *child;
    for (int i = 0; !found && !p->failed && (child = child_stmt(s, i)) != NULL; i++) {
        p->path[p->depth++] = i;
        found = find_guard(p, child, slot, g);
        p->depth--;
    }
    p->num_ranges = saved;
    return found;
}

/* The first likely guard inside s (pre-order) that gives the loop of ranges[slot] a
 * part where one of its conjuncts is decided. */
static bool find_guard(Partitioner *p, const TeStmt *s, int slot, Guard *g)
{
    if (s->kind == TE_STMT_IF && s->u.if_then.likely && guard_part(p, s, slot, g))
        return true;
    return !p->failed && find_guard_below(p, s, slot, g);
}

static TsExpr *conjunct_true(void *ctx, TsArena *arena, TsExpr *e)
{
    const Guard *g = ctx;
    if (e != g->conjunct)
        return NULL;
    TsExpr *t = ts_bool(arena, true);
    return t ? t : TE_MUTATE_FAILED;
}

/* The guard in the part where its conjunct is decided: a false conjunct makes it take
 * its else branch; a true one is replaced by true (the simplification after the cut
 * folds the && it leaves). */
static TeStmt *decided_guard(Partitioner *p, const TeStmt *s, const Guard *g)
{
    if (!g->value)
        return s->u.if_then.else_case ? s->u.if_then.else_case : te_seq(p->arena, 0, NULL);
    if (g->conjunct == s->u.if_then.cond)
        return s->u.if_then.then_case;
    TeMutator m = { .expr = conjunct_true, .ctx = (void *)g };
    TsExpr *cond = te_mutate_expr(p->arena, s->u.if_then.cond, &m);
    return cond ? te_if(p->arena, cond, s->u.if_then.then_case, s->u.if_then.else_case,
                        s->u.if_then.likely)
                : NULL;
}

/* s with child i replaced. */
static TeStmt *with_child(Partitioner *p, const TeStmt *s, int i, TeStmt *child)
{
    if (s->kind == TE_STMT_SEQ) {
        int n = s->u.seq.num_stmts;
        TeStmt **items = ts_arena_alloc(p->arena, sizeof *items * (size_t)n);
        if (!items)
            return NULL;
        memcpy(items, s->u.seq.stmts, sizeof *items * (size_t)n);
        items[i] = child;
        return te_seq(p->arena, n, items);
    }
    TeStmt *copy = ts_arena_alloc(p->arena, sizeof *copy);
    if (!copy)
        return NULL;
    *copy = *s;
    if (s->kind == TE_STMT_FOR)
        copy->u.loop.body = child;
    else if (s->kind == TE_STMT_LET)
        copy->u.let.body = child;
    else if (s->kind == TE_STMT_ALLOCATE)
        copy->u.allocate.body = child;
    else if (i == 0)
        copy->u.if_then.then_case = child;
    else
        copy->u.if_then.else_case = child;
    return copy;
}

/* s with the guard at the end of path (child indices from s) decided. */
static TeStmt *decide_at(Partitioner *p, const TeStmt *s, const int *path, int depth,
                         const Guard *g)
{
    if (depth == 0)
        return decided_guard(p, s, g);
    TeStmt *child = decide_at(p, child_stmt(s, path[0]), path + 1, depth - 1, g);
    return child ? with_child(p, s, path[0], child) : NULL;
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
    TeStmt *main_body = decide_at(p, loop->u.loop.body, g->path, g->depth, g);
    TeStmt *parts[3];
    int n = 0;
    if (loop->u.loop.for_kind == TE_FOR_PARALLEL && main_body) {
        /* A parallel loop keeps all its iterations in one loop, so the thread pool still
         * gets them all: the parts become branches on the loop variable. */
        TsArena *A = p->arena;
        TsExpr *v = loop->u.loop.var, *in_main = NULL;
        if (g->lo > vmin)
            in_main = ts_ge(A, v, ts_i32(A, g->lo));
        if (g->hi < vmax) {
            TsExpr *below = ts_le(A, v, ts_i32(A, g->hi));
            in_main = in_main ? ts_and(A, in_main, below) : below;
        }
        TeStmt *body = te_if(A, in_main, main_body, loop->u.loop.body, false);
        p->partitions++;
        return loop_part(p, loop, vmin, vmax, body);
    }
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
        p->depth = 0; /* paths start at the body of the loop being examined */
        p->parallel_var = s->u.loop.for_kind == TE_FOR_PARALLEL ? s->u.loop.var : NULL;
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

/* Narrows the ranges by what cond being `truth` says about single loop variables (v op
 * c, in conjunctions when true): inside the branches of an if on a loop variable, as a
 * cut parallel loop leaves them, the loops below are examined over the iterations
 * that reach them. Returns false on failure. */
static bool push_condition(Partitioner *p, const TsExpr *cond, bool truth)
{
    if (cond->kind == TE_NOT)
        return push_condition(p, cond->u.op.a, !truth);
    if (cond->kind == TE_AND && truth)
        return push_condition(p, cond->u.op.a, true) && push_condition(p, cond->u.op.b, true);
    TeExprKind k = cond->kind;
    int64_t c;
    if ((k != TE_LT && k != TE_LE && k != TE_GT && k != TE_GE && k != TE_EQ) ||
        cond->u.op.a->kind != TE_VAR || !te_const_int(cond->u.op.b, &c))
        return true;
    const TsExpr *var = cond->u.op.a;
    const TeRange *known = NULL;
    for (int i = p->num_ranges - 1; i >= 0 && !known; i--)
        known = p->ranges[i].var == var ? &p->ranges[i] : NULL;
    if (!known || (!truth && k == TE_EQ))
        return true;
    if (!truth)
        k = k == TE_LT ? TE_GE : k == TE_LE ? TE_GT : k == TE_GT ? TE_LE : TE_LT;
    if ((k == TE_LT && c == INT64_MIN) || (k == TE_GT && c == INT64_MAX))
        return true;
    int64_t lo = known->min, hi = known->max;
    int64_t upper = k == TE_LT ? c - 1 : c, lower = k == TE_GT ? c + 1 : c;
    if ((k == TE_LT || k == TE_LE || k == TE_EQ) && upper < hi)
        hi = upper;
    if ((k == TE_GT || k == TE_GE || k == TE_EQ) && lower > lo)
        lo = lower;
    return lo > hi || push_range(p, var, lo, hi);
}

/* The branches of an if, each examined under what it knows of the loop variables. */
static TeStmt *visit_if(Partitioner *p, TeStmt *s)
{
    int saved = p->num_ranges;
    TeStmt *then_case = NULL, *else_case = s->u.if_then.else_case;
    if (push_condition(p, s->u.if_then.cond, true))
        then_case = te_mutate_stmt(p->arena, s->u.if_then.then_case, &p->self);
    p->num_ranges = saved;
    if (then_case && else_case)
        else_case = push_condition(p, s->u.if_then.cond, false)
                        ? te_mutate_stmt(p->arena, else_case, &p->self)
                        : NULL;
    p->num_ranges = saved;
    if (!then_case || (s->u.if_then.else_case && !else_case))
        return NULL;
    if (then_case == s->u.if_then.then_case && else_case == s->u.if_then.else_case)
        return s;
    return te_if(p->arena, s->u.if_then.cond, then_case, else_case, s->u.if_then.likely);
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
    case TE_STMT_IF: r = visit_if(p, s); break;
    case TE_STMT_SEQ: case TE_STMT_ALLOCATE:
        return NULL; /* the engine descends */
    case TE_STMT_STORE: case TE_STMT_CALL: case TE_STMT_TENSORIZE: case TE_NUM_STMT_KINDS:
        return s; /* a tensorized region is matched whole: nothing inside is cut */
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
