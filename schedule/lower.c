/* Lowering: a schedule to a loop nest (the first step of ts_lower's pipeline).
 *
 * 1. Inlined stages are substituted into the bodies that read them.
 * 2. Bound inference, consumers before producers: a stage at the root (or an output)
 *    covers its whole tensor; a stage attached at P.a covers the region of its tensor
 *    that P's iterations inside loop a read (and the stages attached under P there):
 *    loops at or outside a are single points, inner ones range over their extents, and
 *    these domains pass up through the consumers' split and fuse relations to their
 *    root axes and through the access indices to the region (see the section below).
 *    A region is a symbolic min per dimension and a constant extent.
 * 3. The relations of each stage are replayed: extents down from the root axes (so a
 *    split's outer extent follows the region, not the tensor), values up from the
 *    leaves. A split part larger than its parent's extent (a region narrower than the
 *    factor) is cut to that extent. A split whose factor does not divide leaves a tail:
 *    the body is guarded by if (likely(parent < extent)), which loop partitioning later
 *    peels into a tail loop so the main loop stays guard-free and vectorizable. An
 *    attached stage is also guarded to its tensor's domain (simplification removes
 *    what it can prove). A reduction's condition guards its update the same way, unless
 *    it varies along a vectorized loop (cond_is_bound).
 * 4. Nests: one loop per leaf; a reduction's init store goes just before its first
 *    reduce loop; attached stages go inside their parent's loop with their buffer
 *    allocated there; accesses become loads from the producer's buffer, offset by its
 *    region's min. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "sch_internal.h"

typedef struct {
    TsStage *stage;
    TeBuffer *buffer;
    TsExpr *min[TS_MAX_DIMS];     /* region: int32 expressions in enclosing loop variables */
    int64_t extent[TS_MAX_DIMS];
    int64_t *axis_extent;         /* per stage->axes[i] */
    TsExpr **axis_value;          /* per stage->axes[i]: local value in leaf variables */
    bool *axis_guard;             /* per relation: the split leaves a tail */
    TsExpr *body;                 /* the op's body with inlined stages substituted */
} StageLower;

typedef struct {
    TsSchedule *sch;
    TsArena *arena;
    TsError *err;
    int num_stages;
    StageLower *stages;           /* parallel to sch->stages */
    int num_args;
    const TeBuffer **args;
} Lower;

static bool failed(Lower *L)
{
    if (ts_arena_ok(L->arena))
        ts_fail(L->err, TS_ENOMEM, "lower: out of memory");
    else
        ts_arena_check(L->arena, L->err);
    return false;
}

static StageLower *lowered(Lower *L, const TsTensor *t)
{
    for (int i = 0; i < L->num_stages; i++)
        if (L->stages[i].stage->tensor == t || L->stages[i].stage->op == t)
            return &L->stages[i];
    return NULL;
}

static int axis_slot(const TsStage *st, const TsAxis *ax)
{
    const SchAxisInfo *info = sch_axis_info(st, ax);
    return info ? (int)(info - st->axes) : -1;
}

static int leaf_position(const TsStage *st, const TsAxis *ax)
{
    for (int i = 0; i < st->num_leaves; i++)
        if (st->leaves[i] == ax)
            return i;
    return -1;
}

/* The leaf of st's parent that st is computed in. A stage attached at an axis that was
 * split or fused afterwards goes to the innermost leaf derived from it, which runs
 * inside every loop the axis became; bound inference sizes the region for that spot. */
static const TsAxis *attach_leaf(const TsStage *st)
{
    const TsStage *p = st->attach_parent;
    const TsAxis *ax = st->attach_axis;
    if (leaf_position(p, ax) >= 0)
        return ax;
    const TsAxis *best = NULL;
    int best_pos = -1;
    for (int i = 0; i < p->num_leaves; i++) {
        /* Walk up the relations from leaf i: is ax among its ancestors? */
        const TsAxis *cur = p->leaves[i];
        for (bool moved = true; moved && cur != ax;) {
            moved = false;
            for (int r = 0; r < p->num_relations && !moved; r++) {
                const SchRelation *rel = &p->relations[r];
                if (rel->kind == SCH_REL_FUSE && rel->fused == cur) {
                    cur = rel->outer == ax || rel->inner == ax ? ax : rel->outer;
                    moved = true;
                } else if (rel->kind != SCH_REL_FUSE && (rel->outer == cur || rel->inner == cur)) {
                    cur = rel->parent;
                    moved = true;
                }
            }
        }
        if (cur == ax && i > best_pos) {
            best = p->leaves[i];
            best_pos = i;
        }
    }
    return best;
}

/* ---- 1. inlining ---- */

static TsExpr *expand_access(void *ctx, TsArena *arena, TsExpr *e)
{
    Lower *L = ctx;
    if (e->kind != TE_ACCESS)
        return NULL;
    TsStage *st = sch_find_stage(L->sch, e->u.access.tensor);
    if (!st || st->attach != SCH_ATTACH_INLINE)
        return NULL;
    TeMutator m = { .expr = expand_access, .ctx = L };
    const TsExpr *vars[TS_MAX_DIMS];
    TsExpr *values[TS_MAX_DIMS];
    for (int i = 0; i < st->op->ndim; i++) {
        vars[i] = st->op->axes[i]->var;
        values[i] = te_mutate_expr(arena, e->u.access.indices[i], &m);
        if (!values[i])
            return TE_MUTATE_FAILED;
    }
    TsExpr *body = te_mutate_expr(arena, st->op->body, &m);
    TsExpr *x = body ? te_substitute(arena, body, st->op->ndim, vars, values) : NULL;
    return x ? x : TE_MUTATE_FAILED;
}

/* ---- 3. replaying relations ---- */

static bool pass_down(Lower *L, StageLower *sl)
{
    TsStage *st = sl->stage;
    int n = st->num_axes;
    sl->axis_extent = ts_arena_alloc(L->arena, sizeof *sl->axis_extent * (size_t)n);
    sl->axis_value = ts_arena_alloc(L->arena, sizeof *sl->axis_value * (size_t)n);
    sl->axis_guard = ts_arena_alloc(L->arena, sizeof *sl->axis_guard *
                                                  (size_t)(st->num_relations + 1));
    if (!sl->axis_extent || !sl->axis_value || !sl->axis_guard)
        return failed(L);
    for (int i = 0; i < st->num_root; i++)
        sl->axis_extent[axis_slot(st, st->root[i])] =
            i < st->op->ndim ? sl->extent[i] : ts_axis_extent(st->root[i]);
    for (int r = 0; r < st->num_relations; r++) {
        const SchRelation *rel = &st->relations[r];
        if (rel->kind == SCH_REL_FUSE) {
            sl->axis_extent[axis_slot(st, rel->fused)] =
                sl->axis_extent[axis_slot(st, rel->outer)] * sl->axis_extent[axis_slot(st, rel->inner)];
            continue;
        }
        /* A part larger than the parent (a region narrower than the split factor) is
         * cut to the parent's extent: the other part is then 1 and there is no tail. */
        int64_t parent = sl->axis_extent[axis_slot(st, rel->parent)];
        int64_t part = rel->factor < parent ? rel->factor : parent;
        int64_t other = (parent + part - 1) / part;
        int64_t outer = rel->kind == SCH_REL_SPLIT ? other : part;
        int64_t inner = rel->kind == SCH_REL_SPLIT ? part : other;
        sl->axis_extent[axis_slot(st, rel->outer)] = outer;
        sl->axis_extent[axis_slot(st, rel->inner)] = inner;
        sl->axis_guard[r] = outer * inner != parent;
    }
    return true;
}

static bool pass_up(Lower *L, StageLower *sl)
{
    TsStage *st = sl->stage;
    TsArena *A = L->arena;
    for (int i = 0; i < st->num_leaves; i++)
        sl->axis_value[axis_slot(st, st->leaves[i])] = ts_var(st->leaves[i]);
    for (int r = st->num_relations - 1; r >= 0; r--) {
        const SchRelation *rel = &st->relations[r];
        int so = axis_slot(st, rel->outer), si = axis_slot(st, rel->inner);
        if (rel->kind == SCH_REL_FUSE) {
            TsExpr *f = sl->axis_value[axis_slot(st, rel->fused)];
            TsExpr *n = ts_i32(A, sl->axis_extent[si]);
            sl->axis_value[so] = ts_floordiv(A, f, n);
            sl->axis_value[si] = ts_floormod(A, f, n);
        } else {
            TsExpr *o = ts_mul(A, sl->axis_value[so], ts_i32(A, sl->axis_extent[si]));
            sl->axis_value[axis_slot(st, rel->parent)] = ts_add(A, o, sl->axis_value[si]);
        }
    }
    for (int i = 0; i < st->num_root; i++)
        if (!sl->axis_value[axis_slot(st, st->root[i])])
            return failed(L);
    return true;
}

/* ---- 2. bound inference ----
 *
 * As TVM's InferBound: a stage attached at P.a is computed once per iteration of P's
 * loops at or outside a, so those loops (and every loop around P) are single points
 * there, while the loops inside a (and those of the stages attached inside them) range
 * over their extents. These domains are passed up through each consumer's relations to
 * its root axes: a root axis's value in the leaves (pass_up) is outer * factor + inner
 * for a split and floordiv / floormod of the fused variable for a fuse, and evaluating
 * it over the leaf domains gives the root axis a symbolic range: exact through splits,
 * and through a fuse whose fused variable is a single point (outer and inner are then
 * single points too) or ranges over whole multiples of the inner extent. The consumer's
 * access indices, evaluated the same way, give the producer's required region.
 *
 * A symbolic range is sum(coef * atom) + [lo, hi]. An atom is a loop variable fixed in
 * the scope or an integer expression of such variables only (floordiv(fused, OC) of a
 * fused parallel loop outside the attach point, say): one unknown point in the scope.
 * The region's min may use atoms, since their variables are bound where the producer's
 * buffer is allocated. Where the evaluation cannot bound an index (a product of ranging
 * terms, a data-dependent index), interval analysis over the whole ranges of the loops
 * (te_const_bounds) gives a sound constant over-approximation, and failing that the
 * region is the whole dimension. */

enum { MAX_TERMS = 48 };

/* The values sum(coef[i] * atom[i]) + [lo, hi]. */
typedef struct {
    int n;
    TsExpr *atom[MAX_TERMS];
    int64_t coef[MAX_TERMS];
    int64_t lo, hi;
} SymRange;

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

static int64_t floordiv64(int64_t a, int64_t c)
{
    int64_t q = a / c;
    return a % c != 0 && a < 0 ? q - 1 : q;
}

static bool sym_add_term(SymRange *s, TsExpr *atom, int64_t coef)
{
    for (int i = 0; i < s->n; i++)
        if (te_expr_equal(s->atom[i], atom))
            return !__builtin_add_overflow(s->coef[i], coef, &s->coef[i]);
    if (s->n == MAX_TERMS)
        return false;
    s->atom[s->n] = atom;
    s->coef[s->n++] = coef;
    return true;
}

static bool sym_has_terms(const SymRange *s)
{
    for (int i = 0; i < s->n; i++)
        if (s->coef[i] != 0)
            return true;
    return false;
}

/* Whether a and b have the same terms (their ranges may differ). */
static bool sym_same_terms(const SymRange *a, const SymRange *b)
{
    for (int pass = 0; pass < 2; pass++) {
        const SymRange *x = pass ? b : a, *y = pass ? a : b;
        for (int i = 0; i < x->n; i++) {
            int64_t other = 0;
            for (int j = 0; j < y->n; j++)
                if (te_expr_equal(x->atom[i], y->atom[j]))
                    other += y->coef[j];
            if (x->coef[i] != other)
                return false;
        }
    }
    return true;
}

static bool sym_scale(SymRange *s, int64_t k)
{
    for (int i = 0; i < s->n; i++)
        if (__builtin_mul_overflow(s->coef[i], k, &s->coef[i]))
            return false;
    int64_t lo, hi;
    if (__builtin_mul_overflow(s->lo, k, &lo) || __builtin_mul_overflow(s->hi, k, &hi))
        return false;
    s->lo = k < 0 ? hi : lo;
    s->hi = k < 0 ? lo : hi;
    return true;
}

/* s += sign * b (sign 1 or -1). */
static bool sym_accumulate(SymRange *s, const SymRange *b, int64_t sign)
{
    for (int i = 0; i < b->n; i++)
        if (!sym_add_term(s, b->atom[i], sign * b->coef[i]))
            return false;
    int64_t blo = sign > 0 ? b->lo : -b->hi, bhi = sign > 0 ? b->hi : -b->lo;
    return !__builtin_add_overflow(s->lo, blo, &s->lo) &&
           !__builtin_add_overflow(s->hi, bhi, &s->hi);
}

/* sum(coef * atom) + constant as an int32 expression; NULL when out of memory. */
static TsExpr *sym_expr(TsArena *A, const SymRange *s, int64_t constant)
{
    TsExpr *e = NULL;
    for (int i = 0; i < s->n; i++) {
        if (s->coef[i] == 0)
            continue;
        TsExpr *term = s->coef[i] == 1 ? s->atom[i] : ts_mul(A, s->atom[i], ts_i32(A, s->coef[i]));
        e = e ? ts_add(A, e, term) : term;
    }
    if (!e)
        return ts_i32(A, constant);
    return constant ? ts_add(A, e, ts_i32(A, constant)) : e;
}

/* floordiv(s, c) (or floormod when mod) for c > 0. A term whose coefficient c divides
 * passes through floordiv exactly and vanishes under floormod. The other terms plus lo
 * become one atom; floordiv of it plus [0, hi - lo] lies within
 * [atom, atom + ceil((hi - lo) / c)], and floormod is the atom when lo == hi. */
static bool sym_divide(TsArena *A, SymRange *s, int64_t c, bool mod)
{
    SymRange rest = { 0 }, q = { 0 };
    for (int i = 0; i < s->n; i++) {
        if (s->coef[i] % c != 0) {
            if (!sym_add_term(&rest, s->atom[i], s->coef[i]))
                return false;
        } else if (!mod && s->coef[i] != 0 && !sym_add_term(&q, s->atom[i], s->coef[i] / c)) {
            return false;
        }
    }
    int64_t lo = s->lo, hi = s->hi, qlo = floordiv64(lo, c), qhi = floordiv64(hi, c);
    if (!sym_has_terms(&rest) || (mod && lo != hi)) {
        bool one_block = qlo == qhi && !sym_has_terms(&rest);
        q.lo = !mod ? qlo : one_block ? lo - qlo * c : 0;
        q.hi = !mod ? qhi : one_block ? hi - qhi * c : c - 1;
        *s = q;
        return true;
    }
    TsExpr *base = sym_expr(A, &rest, lo);
    TsExpr *atom = !base ? NULL
                   : mod ? ts_floormod(A, base, ts_i32(A, c))
                         : ts_floordiv(A, base, ts_i32(A, c));
    if (!atom || !sym_add_term(&q, atom, 1))
        return false;
    q.lo = 0;
    q.hi = mod ? 0 : (hi - lo + c - 1) / c;
    *s = q;
    return true;
}

/* How a variable behaves inside the attach scope of the stage being bounded. */
typedef struct {
    const TsStage *parent;
    int attach_pos;
} Scope;

/* True when stage st is computed inside parent's loop at position >= pos. */
static bool inside_scope(const TsStage *st, const Scope *sc)
{
    for (const TsStage *s = st; s && s->attach == SCH_ATTACH_AT; s = s->attach_parent)
        if (s->attach_parent == sc->parent)
            return leaf_position(sc->parent, attach_leaf(s)) >= sc->attach_pos;
    return false;
}

/* The extent over which var ranges inside the scope, or 0 when it is fixed there. */
static int64_t ranging_extent(Lower *L, const TsExpr *var, const Scope *sc)
{
    const TsAxis *ax = var->u.var.axis;
    for (int i = 0; ax && i < L->num_stages; i++) {
        const TsStage *st = L->stages[i].stage;
        int pos = leaf_position(st, ax);
        if (pos < 0)
            continue;
        bool ranging = st == sc->parent ? pos > sc->attach_pos : inside_scope(st, sc);
        return ranging ? L->stages[i].axis_extent[axis_slot(st, ax)] : 0;
    }
    return 0;
}

typedef struct {
    Lower *L;
    const Scope *scope;
    bool varies; /* a variable ranges in the scope, or a value is read from memory */
} Invariance;

static TeVisit note_variance(void *ctx, const TsExpr *e)
{
    Invariance *inv = ctx;
    if (e->kind == TE_ACCESS || e->kind == TE_LOAD || e->kind == TE_REDUCE || e->kind == TE_CALL ||
        e->kind == TE_INTRINSIC ||
        (e->kind == TE_VAR && ranging_extent(inv->L, e, inv->scope) > 0)) {
        inv->varies = true;
        return TE_VISIT_STOP;
    }
    return TE_VISIT_CHILDREN;
}

/* e as one atom: an integer computed from variables fixed in the scope only. */
static bool sym_opaque(Lower *L, const Scope *sc, TsExpr *e, SymRange *out)
{
    Invariance inv = { .L = L, .scope = sc };
    TeVisitor v = { .expr = note_variance, .ctx = &inv };
    if (!ts_dtype_is_int(e->dtype))
        return false;
    te_visit_expr(e, &v);
    return !inv.varies && sym_add_term(out, e, 1);
}

/* The symbolic range of the int32 expression e inside the scope; false when it cannot
 * be bounded so. */
static bool sym_eval(Lower *L, const Scope *sc, TsExpr *e, SymRange *out)
{
    int64_t k;
    memset(out, 0, sizeof *out);
    if (te_const_int(e, &k)) {
        out->lo = out->hi = k;
        return true;
    }
    if (e->kind == TE_VAR) {
        int64_t ext = ranging_extent(L, e, sc);
        out->hi = ext > 0 ? ext - 1 : 0;
        return ext > 0 || sym_add_term(out, e, 1);
    }
    SymRange b;
    if (e->kind == TE_ADD || e->kind == TE_SUB) {
        if (sym_eval(L, sc, e->u.op.a, out) && sym_eval(L, sc, e->u.op.b, &b))
            return sym_accumulate(out, &b, e->kind == TE_ADD ? 1 : -1);
        memset(out, 0, sizeof *out);
    } else if (e->kind == TE_MUL && te_const_int(e->u.op.b, &k)) {
        return sym_eval(L, sc, e->u.op.a, out) && sym_scale(out, k);
    } else if (e->kind == TE_MUL && te_const_int(e->u.op.a, &k)) {
        return sym_eval(L, sc, e->u.op.b, out) && sym_scale(out, k);
    } else if ((e->kind == TE_FLOORDIV || e->kind == TE_FLOORMOD) && te_const_int(e->u.op.b, &k) &&
               k > 0) {
        return sym_eval(L, sc, e->u.op.a, out) &&
               sym_divide(L->arena, out, k, e->kind == TE_FLOORMOD);
    } else if (e->kind == TE_MIN || e->kind == TE_MAX) {
        if (sym_eval(L, sc, e->u.op.a, out) && sym_eval(L, sc, e->u.op.b, &b) &&
            sym_same_terms(out, &b)) {
            bool is_min = e->kind == TE_MIN;
            out->lo = is_min ? min64(out->lo, b.lo) : max64(out->lo, b.lo);
            out->hi = is_min ? min64(out->hi, b.hi) : max64(out->hi, b.hi);
            return true;
        }
        memset(out, 0, sizeof *out);
    }
    return sym_opaque(L, sc, e, out);
}

/* The bounds of one access index: symbolic in the scope, and constant over the whole
 * ranges of the loops. */
typedef struct {
    bool symbolic, bounded;
    SymRange sym;
    int64_t lo, hi;
} IndexBound;

/* Every loop variable of the lowered stages with its whole range. */
typedef struct {
    int n;
    TeRange *items;
} LoopRanges;

static bool loop_ranges(Lower *L, LoopRanges *out)
{
    int n = 0;
    for (int i = 0; i < L->num_stages; i++)
        n += L->stages[i].axis_extent ? L->stages[i].stage->num_leaves : 0;
    out->n = 0;
    out->items = ts_arena_alloc(L->arena, sizeof *out->items * (size_t)(n ? n : 1));
    if (!out->items)
        return false;
    for (int i = 0; i < L->num_stages; i++) {
        const StageLower *sl = &L->stages[i];
        for (int j = 0; sl->axis_extent && j < sl->stage->num_leaves; j++) {
            const TsAxis *ax = sl->stage->leaves[j];
            out->items[out->n++] = (TeRange){
                .var = ts_var(ax), .min = 0, .max = sl->axis_extent[axis_slot(sl->stage, ax)] - 1
            };
        }
    }
    return true;
}

static void bound_index(Lower *L, TsExpr *idx, const Scope *sc, const LoopRanges *lr, IndexBound *b)
{
    memset(b, 0, sizeof *b);
    b->symbolic = sym_eval(L, sc, idx, &b->sym);
    b->bounded = te_const_bounds(idx, lr->n, lr->items, &b->lo, &b->hi);
}

/* An access index in terms of loop variables: the consumer's root variables replaced by
 * its region min plus their value in its leaves. */
typedef struct {
    Lower *L;
    const TsTensor *target;
    const StageLower *consumer;
    const Scope *scope;
    LoopRanges ranges;
    IndexBound *bounds; /* [num_found][ndim] */
    int num_found, cap;
    bool failed;
} Collect;

static TsExpr *root_in_leaves(Lower *L, const StageLower *c, TsExpr *e)
{
    const TsStage *st = c->stage;
    const TsExpr **vars = ts_arena_alloc(L->arena, sizeof *vars * (size_t)(st->num_root + 1));
    TsExpr **values = ts_arena_alloc(L->arena, sizeof *values * (size_t)(st->num_root + 1));
    int n = 0;
    if (!vars || !values)
        return NULL;
    for (int i = 0; i < st->num_root; i++) {
        TsExpr *v = c->axis_value[axis_slot(st, st->root[i])];
        vars[n] = st->root[i]->var;
        values[n++] = i < st->op->ndim ? ts_add(L->arena, c->min[i], v) : v;
    }
    return te_substitute(L->arena, e, n, vars, values);
}

static TeVisit collect_access(void *ctx, const TsExpr *e)
{
    Collect *c = ctx;
    if (e->kind != TE_ACCESS || lowered(c->L, e->u.access.tensor) == NULL ||
        (e->u.access.tensor != c->target &&
         lowered(c->L, e->u.access.tensor) != lowered(c->L, c->target)))
        return TE_VISIT_CHILDREN;
    int ndim = e->u.access.num_indices;
    if (c->num_found == c->cap) {
        int cap = c->cap ? 2 * c->cap : 4;
        IndexBound *grown = ts_arena_alloc(c->L->arena, sizeof *grown * (size_t)cap * TS_MAX_DIMS);
        if (!grown) {
            c->failed = true;
            return TE_VISIT_STOP;
        }
        if (c->num_found)
            memcpy(grown, c->bounds, sizeof *grown * (size_t)c->num_found * TS_MAX_DIMS);
        c->bounds = grown;
        c->cap = cap;
    }
    for (int d = 0; d < ndim; d++) {
        TsExpr *idx = root_in_leaves(c->L, c->consumer, e->u.access.indices[d]);
        if (!idx) {
            c->failed = true;
            return TE_VISIT_STOP;
        }
        bound_index(c->L, idx, c->scope, &c->ranges, &c->bounds[c->num_found * TS_MAX_DIMS + d]);
    }
    c->num_found++;
    return TE_VISIT_CHILDREN; /* indices may read the target too */
}

/* Dimension d of the region read by the accesses found: min and extent, or false for
 * the whole dimension. The symbolic region needs every access to share its terms; the
 * constant one is the fallback. The smaller one is taken. */
static bool region_dim(Lower *L, const Collect *c, int d, int64_t dim, TsExpr **min,
                       int64_t *extent)
{
    const IndexBound *first = &c->bounds[d];
    bool sym = c->num_found > 0, con = c->num_found > 0;
    int64_t slo = 0, shi = 0, clo = 0, chi = 0;
    for (int k = 0; k < c->num_found; k++) {
        const IndexBound *b = &c->bounds[k * TS_MAX_DIMS + d];
        sym = sym && b->symbolic && sym_same_terms(&b->sym, &first->sym);
        con = con && b->bounded;
        slo = k == 0 || b->sym.lo < slo ? b->sym.lo : slo;
        shi = k == 0 || b->sym.hi > shi ? b->sym.hi : shi;
        clo = k == 0 || b->lo < clo ? b->lo : clo;
        chi = k == 0 || b->hi > chi ? b->hi : chi;
    }
    if (sym && !sym_has_terms(&first->sym)) { /* a constant region is clipped to the tensor */
        slo = max64(slo, 0);
        shi = min64(shi, dim - 1);
    }
    clo = max64(clo, 0);
    chi = min64(chi, dim - 1);
    sym = sym && shi >= slo && shi - slo + 1 < dim;
    con = con && chi >= clo && chi - clo + 1 < dim;
    if (sym && (!con || shi - slo <= chi - clo)) {
        *min = sym_expr(L->arena, &first->sym, slo);
        *extent = shi - slo + 1;
    } else if (con) {
        *min = ts_i32(L->arena, clo);
        *extent = chi - clo + 1;
    }
    return sym || con;
}

/* The region of sl's tensor read inside its attach scope. */
static bool infer_region(Lower *L, StageLower *sl)
{
    TsStage *st = sl->stage;
    const TsTensor *op = st->op;
    Scope sc = { st->attach_parent, leaf_position(st->attach_parent, attach_leaf(st)) };
    if (sc.attach_pos < 0) {
        ts_fail(L->err, TS_ESCHEDULE,
                "lower: stage %s is computed at %s.%s, which is no longer "
                "a loop of %s",
                op->name, sc.parent->op->name, st->attach_axis->name, sc.parent->op->name);
        return false;
    }
    Collect c = { .L = L, .target = st->tensor, .scope = &sc };
    if (!loop_ranges(L, &c.ranges))
        return failed(L);
    for (int i = 0; i < L->num_stages; i++) {
        StageLower *other = &L->stages[i];
        if (other == sl || other->stage->attach == SCH_ATTACH_INLINE)
            continue;
        int before = c.num_found;
        c.consumer = other;
        TeVisitor v = { .expr = collect_access, .ctx = &c };
        te_visit_expr(other->body, &v);
        if (c.failed)
            return failed(L);
        if (c.num_found > before && other->stage != sc.parent && !inside_scope(other->stage, &sc)) {
            ts_fail(L->err, TS_ESCHEDULE,
                    "lower: stage %s is computed at %s.%s but stage %s, "
                    "which reads it, is computed outside that loop",
                    op->name, sc.parent->op->name, st->attach_axis->name, other->stage->op->name);
            return false;
        }
    }
    for (int d = 0; d < op->ndim; d++) {
        if (!region_dim(L, &c, d, ts_tensor_dim(op, d), &sl->min[d], &sl->extent[d])) {
            sl->min[d] = ts_i32(L->arena, 0);
            sl->extent[d] = ts_tensor_dim(op, d);
        }
        if (!sl->min[d])
            return failed(L);
    }
    return true;
}

/* ---- buffers ---- */

static TeBuffer *stage_buffer(Lower *L, StageLower *sl)
{
    TsStage *st = sl->stage;
    if (st->is_output)
        return te_buffer(L->arena, st->tensor->name, st->tensor, st->tensor->ndim, NULL,
                         TE_SCOPE_GLOBAL);
    TeBuffer *b = te_buffer(L->arena, st->op->name, st->op, st->op->ndim, sl->extent,
                            TE_SCOPE_LOCAL);
    if (!b)
        return NULL;
    /* storage_align: pad the stride of a dimension to factor * k + offset. */
    int64_t stride = 1;
    for (int d = b->ndim - 1; d >= 0; d--) {
        int64_t f = st->align_factor[d];
        if (f > 0)
            stride += ((st->align_offset[d] - stride % f) % f + f) % f;
        b->strides[d] = stride;
        stride *= b->shape[d];
    }
    if (stride > TS_MAX_EXTENT) {
        ts_arena_fail(L->arena, TS_EINVAL, "lower: buffer %s needs %lld elements", b->name,
                      (long long)stride);
        return NULL;
    }
    b->num_elements = stride;
    return b;
}

static bool make_args(Lower *L)
{
    TsTensor **dag;
    int n = ts_dag_stages(L->arena, L->sch->num_outputs, L->sch->outputs, &dag);
    if (n < 0)
        return failed(L);
    L->args = ts_arena_alloc(L->arena, sizeof *L->args * (size_t)(n + L->sch->num_outputs));
    if (!L->args)
        return failed(L);
    for (int i = 0; i < n; i++) {
        if (dag[i]->op != TE_OP_PLACEHOLDER)
            continue;
        const TeBuffer *b = te_buffer(L->arena, dag[i]->name, dag[i], dag[i]->ndim, NULL,
                                      TE_SCOPE_GLOBAL);
        if (!b)
            return failed(L);
        L->args[L->num_args++] = b;
    }
    for (int o = 0; o < L->sch->num_outputs; o++)
        L->args[L->num_args++] = lowered(L, L->sch->outputs[o])->buffer;
    return true;
}

/* ---- 4. loop nests ---- */

/* Accesses become loads from the producer's buffer, relative to its region. */
static TsExpr *lower_access(void *ctx, TsArena *arena, TsExpr *e)
{
    Lower *L = ctx;
    if (e->kind != TE_ACCESS)
        return NULL;
    TeMutator m = { .expr = lower_access, .ctx = L };
    const TsTensor *t = e->u.access.tensor;
    const StageLower *producer = lowered(L, t);
    const TeBuffer *buffer = producer ? producer->buffer : NULL;
    for (int i = 0; !producer && i < L->num_args; i++)
        if (L->args[i]->tensor == t)
            buffer = L->args[i];
    if (!buffer) {
        ts_arena_fail(arena, TS_ESCHEDULE, "lower: no buffer holds %s", t->name);
        return TE_MUTATE_FAILED;
    }
    TsExpr *idx[TS_MAX_DIMS];
    for (int d = 0; d < e->u.access.num_indices; d++) {
        idx[d] = te_mutate_expr(arena, e->u.access.indices[d], &m);
        if (idx[d] && producer)
            idx[d] = ts_sub(arena, idx[d], producer->min[d]);
        if (!idx[d])
            return TE_MUTATE_FAILED;
    }
    TsExpr *load = te_load(arena, buffer, e->u.access.num_indices, idx, false);
    return load ? load : TE_MUTATE_FAILED;
}

/* a && b, where either may be absent (NULL: no condition). */
static TsExpr *and_all(TsArena *A, TsExpr *a, TsExpr *b)
{
    if (!a)
        return b;
    return b ? ts_and(A, a, b) : a;
}

/* Guards of the stage: split tails (on data or reduce axes) and, for an attached stage,
 * its tensor's domain. */
static void stage_guards(Lower *L, const StageLower *sl, TsExpr **data, TsExpr **reduce)
{
    TsArena *A = L->arena;
    const TsStage *st = sl->stage;
    *data = *reduce = NULL;
    for (int r = 0; r < st->num_relations; r++) {
        const SchRelation *rel = &st->relations[r];
        if (!sl->axis_guard[r])
            continue;
        int sp = axis_slot(st, rel->parent);
        TsExpr *g = ts_lt(A, sl->axis_value[sp], ts_i32(A, sl->axis_extent[sp]));
        if (rel->parent->is_reduce)
            *reduce = and_all(A, *reduce, g);
        else
            *data = and_all(A, *data, g);
    }
    if (st->attach != SCH_ATTACH_AT)
        return;
    for (int d = 0; d < st->op->ndim; d++) {
        if (sl->extent[d] == ts_tensor_dim(st->op, d))
            continue; /* min is 0: the region is the whole dimension */
        TsExpr *global = ts_add(A, sl->min[d], sl->axis_value[axis_slot(st, st->root[d])]);
        *data = and_all(A, *data, ts_and(A, ts_ge(A, global, ts_i32(A, 0)),
                                      ts_lt(A, global, ts_i32(A, ts_tensor_dim(st->op, d)))));
    }
}

TsExpr *sch_reducer_identity(TsArena *A, const TsReducer *r, TsDType t)
{
    bool f = ts_dtype_is_float(t);
    switch (r->kind) {
    case TE_REDUCER_SUM: return f ? ts_float(A, t, 0.0) : ts_int(A, t, 0);
    case TE_REDUCER_PROD: return f ? ts_float(A, t, 1.0) : ts_int(A, t, 1);
    case TE_REDUCER_MAX:
        if (f)
            return ts_float(A, t, -INFINITY);
        return ts_dtype_is_uint(t) ? ts_int(A, t, 0)
                                   : ts_int(A, t, te_wrap_int(t, (int64_t)(UINT64_C(1) << (t.bits - 1))));
    case TE_REDUCER_MIN:
        if (f)
            return ts_float(A, t, INFINITY);
        return ts_dtype_is_uint(t) ? ts_uint(A, t, t.bits == 64 ? UINT64_MAX
                                                                : (UINT64_C(1) << t.bits) - 1)
                                   : ts_int(A, t, (int64_t)((UINT64_C(1) << (t.bits - 1)) - 1));
    case TE_REDUCER_CUSTOM: return r->identity;
    }
    return NULL;
}

TsExpr *sch_reducer_combine(TsArena *A, const TsReducer *r, TsExpr *acc, TsExpr *x)
{
    switch (r->kind) {
    case TE_REDUCER_SUM: return ts_add(A, acc, x);
    case TE_REDUCER_PROD: return ts_mul(A, acc, x);
    case TE_REDUCER_MAX: return ts_max(A, acc, x);
    case TE_REDUCER_MIN: return ts_min(A, acc, x);
    case TE_REDUCER_CUSTOM:
        return te_substitute(A, r->combined, 2, (const TsExpr *[]){ r->lhs, r->rhs },
                             (TsExpr *[]){ acc, x });
    }
    return NULL;
}

static TeForKind for_kind(SchLoopKind k)
{
    switch (k) {
    case SCH_LOOP_SERIAL: return TE_FOR_SERIAL;
    case SCH_LOOP_VECTORIZED: return TE_FOR_VECTORIZED;
    case SCH_LOOP_UNROLLED: return TE_FOR_UNROLLED;
    case SCH_LOOP_PARALLEL: return TE_FOR_PARALLEL;
    }
    return TE_FOR_SERIAL;
}

static TeStmt *leaf_loop(Lower *L, const StageLower *sl, int pos, TeStmt *body)
{
    const TsStage *st = sl->stage;
    const TsAxis *ax = st->leaves[pos];
    const SchAxisInfo *info = sch_axis_info(st, ax);
    int slot = axis_slot(st, ax);
    return te_for(L->arena, ax->var, ts_i32(L->arena, 0), ts_i32(L->arena, sl->axis_extent[slot]),
                  for_kind(info->loop_kind), info->num_pragmas, info->pragmas, body);
}

static TeStmt *guarded(TsArena *A, TsExpr *cond, TeStmt *s, bool likely)
{
    return cond ? te_if(A, cond, s, NULL, likely) : s;
}

static TeStmt *stage_nest(Lower *L, StageLower *sl);

/* Whether a reduction's condition is a likely guard: it is how a window skips the points
 * outside its input (padding without a padded copy, pooling's borders), true but at the
 * edges, and loop partitioning then cuts the edges off the loops it depends on. Not when
 * it depends on a vectorized loop: cutting that loop would leave vectors of odd lengths,
 * where a mask over the lanes (vectorize's masked loads and stores) keeps one vector. */
static bool cond_is_bound(const TsStage *st, const TsExpr *cond)
{
    for (int i = 0; cond && i < st->num_leaves; i++)
        if (sch_axis_info(st, st->leaves[i])->loop_kind == SCH_LOOP_VECTORIZED &&
            te_expr_uses_var(cond, st->leaves[i]->var))
            return false;
    return true;
}

/* Stages attached at st's leaf pos, allocated around body and computed before it. */
static TeStmt *with_children(Lower *L, const TsStage *st, int pos, TeStmt *body)
{
    enum { MAX_CHILDREN = 63 };
    TeStmt *parts[MAX_CHILDREN + 1];
    const TeBuffer *buffers[MAX_CHILDREN];
    int n = 0;
    for (int i = 0; i < L->num_stages; i++) {
        StageLower *c = &L->stages[i];
        if (c->stage->attach != SCH_ATTACH_AT || c->stage->attach_parent != st ||
            attach_leaf(c->stage) != st->leaves[pos])
            continue;
        if (n == MAX_CHILDREN) {
            ts_arena_fail(L->arena, TS_ESCHEDULE, "lower: more than %d stages are computed at "
                          "%s.%s", MAX_CHILDREN, st->op->name, st->leaves[pos]->name);
            return NULL;
        }
        buffers[n] = c->buffer;
        if (!(parts[n++] = stage_nest(L, c)))
            return NULL;
    }
    if (n == 0)
        return body;
    parts[n] = body;
    TeStmt *s = te_seq(L->arena, n + 1, parts);
    for (int i = n - 1; i >= 0 && s; i--)
        s = te_allocate(L->arena, buffers[i], s);
    return s;
}

static TeStmt *tensorized_nest(Lower *L, StageLower *sl);

static TeStmt *stage_nest(Lower *L, StageLower *sl)
{
    if (sl->stage->tensorize_intrin)
        return tensorized_nest(L, sl);
    TsArena *A = L->arena;
    const TsStage *st = sl->stage;
    const TsTensor *op = st->op;
    TeMutator m = { .expr = lower_access, .ctx = L };
    TsExpr *local[TS_MAX_DIMS];
    for (int d = 0; d < op->ndim; d++)
        local[d] = sl->axis_value[axis_slot(st, st->root[d])];
    /* The body over root variables = region min + local value. */
    TsExpr *body = root_in_leaves(L, sl, sl->body);
    TsExpr *data_guard, *reduce_guard;
    stage_guards(L, sl, &data_guard, &reduce_guard);
    TeStmt *update, *init = NULL;
    int first_reduce = st->num_leaves;
    if (body && body->kind == TE_REDUCE) {
        const TsReducer *r = body->u.reduce.reducer;
        TsExpr *source = te_mutate_expr(A, body->u.reduce.source, &m);
        TsExpr *acc = te_load(A, sl->buffer, op->ndim, local, false);
        TsExpr *cond = body->u.reduce.cond ? te_mutate_expr(A, body->u.reduce.cond, &m) : NULL;
        update = te_store(A, sl->buffer, op->ndim, local, sch_reducer_combine(A, r, acc, source), false);
        update = guarded(A, cond, update, cond_is_bound(st, cond));
        update = guarded(A, and_all(A, data_guard, reduce_guard), update, true);
        init = guarded(A, data_guard,
                       te_store(A, sl->buffer, op->ndim, local, sch_reducer_identity(A, r, body->dtype),
                                false), true);
        for (int i = 0; i < st->num_leaves; i++)
            if (st->leaves[i]->is_reduce && first_reduce == st->num_leaves)
                first_reduce = i;
        /* The init runs over the data-parallel leaves inside the first reduce loop. */
        for (int i = st->num_leaves - 1; i > first_reduce && init; i--)
            if (!st->leaves[i]->is_reduce)
                init = leaf_loop(L, sl, i, init);
    } else {
        TsExpr *value = body ? te_mutate_expr(A, body, &m) : NULL;
        update = value ? te_store(A, sl->buffer, op->ndim, local, value, false) : NULL;
        update = guarded(A, data_guard, update, true);
    }
    TeStmt *s = update;
    for (int k = st->num_leaves - 1; k >= 0 && s; k--) {
        if (init && k + 1 == first_reduce)
            s = te_seq(A, 2, (TeStmt *[]){ init, s });
        s = s ? with_children(L, st, k, s) : NULL;
        s = s ? leaf_loop(L, sl, k, s) : NULL;
    }
    if (s && init && first_reduce == 0)
        s = te_seq(A, 2, (TeStmt *[]){ init, s });
    return s;
}

/* ---- tensorized stages ---- */

/* The tensorized region's leaves and what the stage computes there, for the matcher. */
static bool tensorize_site(Lower *L, StageLower *sl, int pos, SchTensorizeSite *site)
{
    TsArena *A = L->arena;
    const TsStage *st = sl->stage;
    *site = (SchTensorizeSite){ .stage = st->op->name, .axis = st->tensorize_axis,
                                .intrin = st->tensorize_intrin, .out = sl->buffer,
                                .out_ndim = st->op->ndim };
    for (int i = 0; i < st->num_leaves; i++) {
        const TsAxis *ax = st->leaves[i];
        if (i >= pos && sch_axis_info(st, ax)->loop_kind != SCH_LOOP_SERIAL) {
            ts_arena_fail(A, TS_ESCHEDULE, "tensorize %s at %s with %s: loop %s is %s; the "
                          "loops of a tensorized region are the intrinsic's and take no "
                          "annotation", st->op->name, st->tensorize_axis->name,
                          st->tensorize_intrin->name, ax->name,
                          te_for_kind_name(for_kind(sch_axis_info(st, ax)->loop_kind)));
            return false;
        }
        if (i >= pos) {
            site->inner[site->num_inner] = ax;
            site->inner_extent[site->num_inner++] = sl->axis_extent[axis_slot(st, ax)];
            continue;
        }
        if (ax->is_reduce)
            site->outer_reduce[site->num_outer_reduce++] = ax->var;
    }
    for (int i = 0; i < L->num_stages; i++) {
        const TsStage *c = L->stages[i].stage;
        if (c->attach == SCH_ATTACH_AT && c->attach_parent == st &&
            leaf_position(st, attach_leaf(c)) >= pos) {
            ts_arena_fail(A, TS_ESCHEDULE, "tensorize %s at %s with %s: stage %s is computed "
                          "at loop %s, inside the region", st->op->name, st->tensorize_axis->name,
                          st->tensorize_intrin->name, c->op->name, attach_leaf(c)->name);
            return false;
        }
    }
    LoopRanges ranges;
    if (!loop_ranges(L, &ranges))
        return false;
    site->num_ranges = ranges.n;
    site->ranges = ranges.items;
    TeMutator m = { .expr = lower_access, .ctx = L };
    for (int d = 0; d < st->op->ndim; d++)
        site->out_indices[d] = sl->axis_value[axis_slot(st, st->root[d])];
    TsExpr *body = root_in_leaves(L, sl, sl->body), *data_guard, *reduce_guard;
    if (!body)
        return false;
    stage_guards(L, sl, &data_guard, &reduce_guard);
    site->guard = and_all(A, data_guard, reduce_guard);
    if (body->kind == TE_REDUCE) {
        site->reducer = body->u.reduce.reducer;
        site->value = te_mutate_expr(A, body->u.reduce.source, &m);
        if (body->u.reduce.cond && !(site->cond = te_mutate_expr(A, body->u.reduce.cond, &m)))
            return false;
    } else {
        site->value = te_mutate_expr(A, body, &m);
    }
    return site->value != NULL;
}

/* The nest of a tensorized stage: the loops outside the region, with the stages attached
 * there, around the matcher's statements (tensorize_match.c). */
static TeStmt *tensorized_nest(Lower *L, StageLower *sl)
{
    const TsStage *st = sl->stage;
    int pos = leaf_position(st, st->tensorize_axis);
    if (pos < 0) {
        ts_arena_fail(L->arena, TS_ESCHEDULE, "tensorize %s at %s with %s: %s is no longer a "
                      "loop of %s (split, fused or reordered away after ts_tensorize)",
                      st->op->name, st->tensorize_axis->name, st->tensorize_intrin->name,
                      st->tensorize_axis->name, st->op->name);
        return NULL;
    }
    SchTensorizeSite site;
    if (!tensorize_site(L, sl, pos, &site))
        return NULL;
    TeStmt *s = sch_tensorize_site(L->arena, &site);
    for (int k = pos - 1; k >= 0 && s; k--) {
        s = with_children(L, st, k, s);
        s = s ? leaf_loop(L, sl, k, s) : NULL;
    }
    return s;
}

/* ---- the whole function ---- */

static bool prepare(Lower *L)
{
    TsSchedule *sch = L->sch;
    TeMutator m = { .expr = expand_access, .ctx = L };
    L->num_stages = sch->num_stages;
    L->stages = ts_arena_alloc(L->arena, sizeof *L->stages * (size_t)(sch->num_stages ? sch->num_stages : 1));
    if (!L->stages)
        return failed(L);
    for (int i = 0; i < sch->num_stages; i++) {
        StageLower *sl = &L->stages[i];
        sl->stage = sch->stages[i];
        sl->body = te_mutate_expr(L->arena, sl->stage->op->body, &m);
        if (!sl->body)
            return failed(L);
    }
    /* Consumers before producers, so a consumer's region is known when it is read. */
    for (int i = sch->num_stages - 1; i >= 0; i--) {
        StageLower *sl = &L->stages[i];
        TsStage *st = sl->stage;
        if (st->attach == SCH_ATTACH_INLINE)
            continue;
        if (st->attach == SCH_ATTACH_AT) {
            if (!infer_region(L, sl))
                return false;
        } else {
            for (int d = 0; d < st->op->ndim; d++) {
                sl->min[d] = ts_i32(L->arena, 0);
                sl->extent[d] = ts_tensor_dim(st->op, d);
            }
        }
        if (!pass_down(L, sl) || !pass_up(L, sl) || !(sl->buffer = stage_buffer(L, sl)))
            return failed(L);
    }
    return make_args(L);
}

TsLoweredFunc *sch_lower(TsSchedule *sch, const char *name, TsError *err)
{
    if (!sch)
        return ts_fail(err, TS_EINVAL, "lower: the schedule is NULL"), NULL;
    Lower L = { .sch = sch, .arena = sch->arena, .err = err };
    if (!ts_arena_ok(sch->arena)) {
        ts_arena_check(sch->arena, err);
        return NULL;
    }
    if (!prepare(&L))
        return NULL;
    TeStmt **parts = ts_arena_alloc(L.arena, sizeof *parts * (size_t)(L.num_stages + 1));
    const TeBuffer **roots = ts_arena_alloc(L.arena, sizeof *roots * (size_t)(L.num_stages + 1));
    int n = 0, num_roots = 0;
    if (!parts || !roots) {
        failed(&L);
        return NULL;
    }
    for (int i = 0; i < L.num_stages; i++) {
        StageLower *sl = &L.stages[i];
        if (sl->stage->attach != SCH_ATTACH_ROOT)
            continue;
        if (!(parts[n++] = stage_nest(&L, sl))) {
            failed(&L);
            return NULL;
        }
        if (!sl->stage->is_output)
            roots[num_roots++] = sl->buffer;
    }
    TeStmt *body = te_seq(L.arena, n, parts);
    for (int i = num_roots - 1; i >= 0 && body; i--)
        body = te_allocate(L.arena, roots[i], body);
    TsLoweredFunc *f = body ? sch_func(L.arena, name, L.num_args, L.args, body) : NULL;
    if (!f)
        failed(&L);
    return f;
}
