/* Lowering: a schedule to a loop nest (the first step of ts_lower's pipeline).
 *
 * 1. Inlined stages are substituted into the bodies that read them.
 * 2. Bound inference, consumers before producers: a stage at the root (or an output)
 *    covers its whole tensor; a stage attached at P.a covers the region of its tensor
 *    that P's iterations inside loop a read (and the stages attached under P there),
 *    found by exact interval arithmetic on index expressions that are linear in the
 *    loop variables: variables of loops at or outside a are fixed, inner ones range.
 *    A region is a symbolic min per dimension and a constant extent; an index that is
 *    not linear gives the whole dimension.
 * 3. The relations of each stage are replayed: extents down from the root axes (so a
 *    split's outer extent follows the region, not the tensor), values up from the
 *    leaves. A split whose factor does not divide leaves a tail: the body is guarded by
 *    if (likely(parent < extent)), which loop partitioning later peels into a tail loop
 *    so the main loop stays guard-free and vectorizable. An attached stage is also
 *    guarded to its tensor's domain (simplification removes what it can prove).
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
        int64_t parent = sl->axis_extent[axis_slot(st, rel->parent)];
        int64_t other = (parent + rel->factor - 1) / rel->factor;
        int64_t outer = rel->kind == SCH_REL_SPLIT ? other : rel->factor;
        int64_t inner = rel->kind == SCH_REL_SPLIT ? rel->factor : other;
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

/* ---- 2. bound inference ---- */

enum { MAX_TERMS = 48 };

typedef struct {
    int n;
    const TsExpr *var[MAX_TERMS];
    int64_t coef[MAX_TERMS];
    int64_t constant;
} Linear;

static bool linear_add(Linear *out, const TsExpr *var, int64_t coef)
{
    for (int i = 0; i < out->n; i++) {
        if (out->var[i] == var) {
            out->coef[i] += coef;
            return true;
        }
    }
    if (out->n == MAX_TERMS)
        return false;
    out->var[out->n] = var;
    out->coef[out->n++] = coef;
    return true;
}

/* e as sum(coef * var) + constant, scaled by scale; false when e is not linear. */
static bool linear_form(const TsExpr *e, int64_t scale, Linear *out)
{
    int64_t k;
    switch (e->kind) {
    case TE_INT:
        out->constant += scale * e->u.int_value;
        return true;
    case TE_VAR:
        return linear_add(out, e, scale);
    case TE_ADD:
        return linear_form(e->u.op.a, scale, out) && linear_form(e->u.op.b, scale, out);
    case TE_SUB:
        return linear_form(e->u.op.a, scale, out) && linear_form(e->u.op.b, -scale, out);
    case TE_MUL:
        if (te_const_int(e->u.op.a, &k))
            return linear_form(e->u.op.b, scale * k, out);
        if (te_const_int(e->u.op.b, &k))
            return linear_form(e->u.op.a, scale * k, out);
        return false;
    default:
        return false;
    }
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

/* The bounds of one access index: fixed part, and the range [lo, hi] of the rest. */
typedef struct {
    bool linear;
    Linear fixed;
    int64_t lo, hi;
} IndexBound;

static void bound_index(Lower *L, const TsExpr *idx, const Scope *sc, IndexBound *b)
{
    Linear lf = { 0 };
    memset(b, 0, sizeof *b);
    b->linear = linear_form(idx, 1, &lf);
    if (!b->linear)
        return;
    b->lo = b->hi = lf.constant;
    for (int i = 0; i < lf.n; i++) {
        if (lf.coef[i] == 0)
            continue;
        int64_t ext = ranging_extent(L, lf.var[i], sc);
        if (ext == 0) {
            linear_add(&b->fixed, lf.var[i], lf.coef[i]);
            continue;
        }
        int64_t span = lf.coef[i] * (ext - 1);
        b->lo += span < 0 ? span : 0;
        b->hi += span > 0 ? span : 0;
    }
}

static bool same_fixed(const Linear *a, const Linear *b)
{
    if (a->n != b->n)
        return false;
    for (int i = 0; i < a->n; i++) {
        bool found = false;
        for (int j = 0; j < b->n && !found; j++)
            found = a->var[i] == b->var[j] && a->coef[i] == b->coef[j];
        if (!found)
            return false;
    }
    return true;
}

/* An access index in terms of loop variables: the consumer's root variables replaced by
 * its region min plus their value in its leaves. */
typedef struct {
    Lower *L;
    const TsTensor *target;
    const StageLower *consumer;
    const Scope *scope;
    IndexBound *bounds;       /* [num_found][ndim] */
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

static TsExpr *collect_access(void *ctx, TsArena *arena, TsExpr *e)
{
    Collect *c = ctx;
    (void)arena;
    if (e->kind != TE_ACCESS || lowered(c->L, e->u.access.tensor) == NULL ||
        (e->u.access.tensor != c->target &&
         lowered(c->L, e->u.access.tensor) != lowered(c->L, c->target)))
        return NULL;
    int ndim = e->u.access.num_indices;
    if (c->num_found == c->cap) {
        int cap = c->cap ? 2 * c->cap : 4;
        IndexBound *grown = ts_arena_alloc(c->L->arena, sizeof *grown * (size_t)cap * TS_MAX_DIMS);
        if (!grown) {
            c->failed = true;
            return e;
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
            return e;
        }
        bound_index(c->L, idx, c->scope, &c->bounds[c->num_found * TS_MAX_DIMS + d]);
    }
    c->num_found++;
    return NULL; /* indices may read the target too */
}

static TsExpr *linear_expr(TsArena *A, const Linear *lf, int64_t constant)
{
    TsExpr *e = NULL;
    for (int i = 0; i < lf->n; i++) {
        if (lf->coef[i] == 0)
            continue;
        TsExpr *term = lf->coef[i] == 1 ? (TsExpr *)lf->var[i]
                                        : ts_mul(A, (TsExpr *)lf->var[i], ts_i32(A, lf->coef[i]));
        e = e ? ts_add(A, e, term) : term;
    }
    if (!e)
        return ts_i32(A, constant);
    return constant ? ts_add(A, e, ts_i32(A, constant)) : e;
}

/* The region of sl's tensor read inside its attach scope. */
static bool infer_region(Lower *L, StageLower *sl)
{
    TsStage *st = sl->stage;
    const TsTensor *op = st->op;
    Scope sc = { st->attach_parent, leaf_position(st->attach_parent, attach_leaf(st)) };
    if (sc.attach_pos < 0) {
        ts_fail(L->err, TS_ESCHEDULE, "lower: stage %s is computed at %s.%s, which is no longer "
                "a loop of %s", op->name, sc.parent->op->name, st->attach_axis->name,
                sc.parent->op->name);
        return false;
    }
    Collect c = { .L = L, .target = st->tensor, .scope = &sc };
    for (int i = 0; i < L->num_stages; i++) {
        StageLower *other = &L->stages[i];
        if (other == sl || other->stage->attach == SCH_ATTACH_INLINE)
            continue;
        int before = c.num_found;
        c.consumer = other;
        TeMutator m = { .expr = collect_access, .ctx = &c };
        te_mutate_expr(L->arena, other->body, &m);
        if (c.failed)
            return failed(L);
        if (c.num_found > before && other->stage != sc.parent && !inside_scope(other->stage, &sc)) {
            ts_fail(L->err, TS_ESCHEDULE, "lower: stage %s is computed at %s.%s but stage %s, "
                    "which reads it, is computed outside that loop", op->name,
                    sc.parent->op->name, st->attach_axis->name, other->stage->op->name);
            return false;
        }
    }
    for (int d = 0; d < op->ndim; d++) {
        int64_t dim = ts_tensor_dim(op, d), lo = 0, hi = dim - 1;
        bool full = c.num_found == 0;
        for (int k = 0; k < c.num_found && !full; k++) {
            const IndexBound *b = &c.bounds[k * TS_MAX_DIMS + d];
            full = !b->linear || !same_fixed(&b->fixed, &c.bounds[d].fixed);
            lo = k == 0 || b->lo < lo ? b->lo : lo;
            hi = k == 0 || b->hi > hi ? b->hi : hi;
        }
        if (!full && c.bounds[d].fixed.n == 0) {
            lo = lo < 0 ? 0 : lo; /* a constant region is clipped to the tensor */
            hi = hi >= dim ? dim - 1 : hi;
        }
        if (full || hi - lo + 1 >= dim || hi < lo) {
            sl->min[d] = ts_i32(L->arena, 0);
            sl->extent[d] = dim;
        } else {
            sl->min[d] = linear_expr(L->arena, &c.bounds[d].fixed, lo);
            sl->extent[d] = hi - lo + 1;
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

static TsExpr *identity_of(TsArena *A, const TsReducer *r, TsDType t)
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

static TsExpr *combine(TsArena *A, const TsReducer *r, TsExpr *acc, TsExpr *x)
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

static TeStmt *stage_nest(Lower *L, StageLower *sl)
{
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
        update = te_store(A, sl->buffer, op->ndim, local, combine(A, r, acc, source), false);
        update = guarded(A, cond, update, false);
        update = guarded(A, and_all(A, data_guard, reduce_guard), update, true);
        init = guarded(A, data_guard,
                       te_store(A, sl->buffer, op->ndim, local, identity_of(A, r, body->dtype),
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
