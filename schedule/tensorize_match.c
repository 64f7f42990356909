/* The tensorize matcher, called by lowering (lower.c) for a stage that ts_tensorize
 * marked: it checks that the loop nest from the tensorized leaf inwards computes what the
 * intrinsic declares, binds each declared buffer to a region of a real buffer, and
 * returns the TENSORIZE statements that replace the nest.
 *
 * The checks, in this order, stop at the first mismatch (its message names the stage,
 * the leaf, the intrinsic and the mismatch):
 * 1. reduction: both or neither are reductions, with the same combiner (and identity),
 *    and the same condition;
 * 2. loops: the region's data-parallel leaves, in order, are the declaration's output
 *    axes and its reduce leaves its reduce axes, with equal extents;
 * 3. guards: no guard of the stage (a split's tail, an attached region's edge) may
 *    depend on the region's loops: the intrinsic computes whole regions;
 * 4. the body, node for node: the same kinds, dtypes, constants, and in place of each
 *    declared access a load whose flat index (sum of index * stride over the buffer's
 *    dimensions) is affine in the region's loop variables: offset + sum(c_l * v_l), with
 *    constant c_l and offset free of them. Declared dimension d, indexed by the axis
 *    matched with loop l, gets stride c_l, which must be the declared stride when that
 *    is fixed; a loop that moves the load but indexes no dimension of the declared
 *    access is a mismatch. A declared tensor read twice must be the same region. The
 *    output is matched the same way through the stage's store.
 *
 * The statements: the declaration evaluated over the regions (what the interpreters
 * run) beside the emitter's code (what codegen emits), for each part the reduction
 * needs: body, or reset and update; on the first iteration of the reduce loops outside
 * the region, body (or reset then update), on the others update (TVM's rule). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sch_internal.h"

typedef struct {
    TsArena *A;
    const SchTensorizeSite *site;
    const TsIntrin *in;
    const TsAxis *decl_axis[SCH_MAX_REORDER]; /* the declared axis of each inner leaf */
    TsExpr *guard; /* the site's guard, simplified; NULL when proven true */
    TsIntrinRegion regions[TS_INTRIN_MAX_INPUTS + 1];
    bool bound[TS_INTRIN_MAX_INPUTS + 1];
} Match;

/* e simplified knowing the ranges of the nest's loops (floordiv(jo * 16 + ji, 16) is
 * jo when ji < 16 and jo >= 0). */
static TsExpr *simplified(Match *m, TsExpr *e)
{
    return e ? te_simplify_expr(m->A, e, m->site->num_ranges, m->site->ranges) : NULL;
}

static bool mismatch(Match *m, const char *fmt, ...) TS_PRINTF_LIKE(2, 3);

static bool mismatch(Match *m, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    const SchTensorizeSite *s = m->site;
    ts_arena_fail(m->A, TS_ESCHEDULE, "tensorize %s at %s with %s: %s", s->stage, s->axis->name,
                  m->in->name, text);
    return false;
}

static const char *text_of(Match *m, const TsExpr *e)
{
    const char *t = e ? te_expr_str(m->A, e) : NULL;
    return t ? t : "?";
}

/* ---- 1. reduction ---- */

static bool same_reducer(const TsReducer *a, const TsReducer *b)
{
    if (a->kind != b->kind)
        return false;
    if (a->kind != TE_REDUCER_CUSTOM || a == b)
        return true;
    if (!ts_dtype_eq(a->dtype, b->dtype) || !te_expr_equal(a->identity, b->identity))
        return false;
    /* b's combiner written with a's operands. */
    TsArena *scratch = ts_arena_create();
    TsExpr *renamed =
        scratch ? te_substitute(scratch, b->combined, 2, (const TsExpr *[]){ b->lhs, b->rhs },
                                (TsExpr *[]){ a->lhs, a->rhs })
                : NULL;
    bool same = renamed && te_expr_equal(renamed, a->combined);
    ts_arena_destroy(scratch);
    return same;
}

static bool check_reduction(Match *m)
{
    const TsReducer *mine = m->site->reducer, *decl = m->in->reducer;
    if (!mine && decl)
        return mismatch(m, "stage %s is not a reduction, the declaration is a reduction (%s)",
                        m->site->stage, decl->name);
    if (mine && !decl)
        return mismatch(m, "stage %s is a reduction (%s), the declaration is not", m->site->stage,
                        mine->name);
    if (mine && !same_reducer(mine, decl))
        return mismatch(m, "the stage combines with %s, the declaration with %s", mine->name,
                        decl->name);
    if (mine && (!m->site->cond) != (!m->in->cond))
        return mismatch(m, "the stage's reduction %s a condition, the declaration's %s",
                        m->site->cond ? "has" : "has no", m->in->cond ? "has" : "has none");
    return true;
}

/* ---- 2. loops ---- */

static bool map_loops(Match *m)
{
    const SchTensorizeSite *s = m->site;
    const TsTensor *out = m->in->output;
    int data = 0, reduce = 0;
    for (int i = 0; i < s->num_inner; i++) {
        if (s->inner[i]->is_reduce)
            reduce++;
        else
            data++;
    }
    if (data != out->ndim || reduce != m->in->num_reduce_axes)
        return mismatch(m,
                        "the region has %d data-parallel and %d reduce loops, the "
                        "declaration %d and %d",
                        data, reduce, out->ndim, m->in->num_reduce_axes);
    data = reduce = 0;
    for (int i = 0; i < s->num_inner; i++) {
        const TsAxis *decl =
            s->inner[i]->is_reduce ? m->in->reduce_axes[reduce++] : out->axes[data++];
        m->decl_axis[i] = decl;
        if (s->inner_extent[i] != ts_axis_extent(decl))
            return mismatch(m, "loop %s has extent %lld, the declaration's axis %s has %lld",
                            s->inner[i]->name, (long long)s->inner_extent[i], decl->name,
                            (long long)ts_axis_extent(decl));
    }
    return true;
}

/* ---- 3. guards ---- */

/* The guard, once what the loops' ranges prove is taken out (an attached stage's domain
 * guard often is), may not depend on the region's loops. */
static bool check_guard(Match *m)
{
    int64_t holds;
    m->guard = m->site->guard ? simplified(m, m->site->guard) : NULL;
    if (m->site->guard && !m->guard)
        return false;
    if (m->guard && te_const_int(m->guard, &holds) && holds)
        m->guard = NULL;
    for (int i = 0; m->guard && i < m->site->num_inner; i++)
        if (te_expr_uses_var(m->guard, m->site->inner[i]->var))
            return mismatch(m,
                            "the region has a tail or an edge: the guard %s depends on loop "
                            "%s (make the split factors divide the extents)",
                            text_of(m, m->guard), m->site->inner[i]->name);
    return true;
}

/* ---- 4. accesses ---- */

/* e with every inner loop variable replaced: loop one by 1 (-1: none), the rest by 0. */
static TsExpr *at_point(Match *m, TsExpr *e, int one)
{
    const TsExpr *vars[SCH_MAX_REORDER];
    TsExpr *values[SCH_MAX_REORDER];
    for (int i = 0; i < m->site->num_inner; i++) {
        vars[i] = m->site->inner[i]->var;
        values[i] = ts_i32(m->A, i == one ? 1 : 0);
    }
    return simplified(m, te_substitute(m->A, e, m->site->num_inner, vars, values));
}

/* The flat index of buffer[indices] as offset + sum(coef[l] * inner[l]); false (recorded)
 * when it is not affine so. what names the access for the message. */
static bool affine(Match *m, const TeBuffer *buffer, int n, TsExpr *const *indices, bool flat,
                   const char *what, TsExpr **offset, int64_t *coef)
{
    TsArena *A = m->A;
    TsExpr *flat_index = flat ? indices[0] : NULL;
    for (int d = 0; !flat && d < n; d++) {
        TsExpr *term = ts_mul(A, indices[d], ts_i32(A, buffer->strides[d]));
        flat_index = flat_index ? ts_add(A, flat_index, term) : term;
    }
    *offset = flat_index ? at_point(m, flat_index, -1) : NULL;
    if (!*offset)
        return false;
    TsExpr *rest = ts_sub(A, flat_index, *offset);
    for (int l = 0; l < m->site->num_inner; l++) {
        TsExpr *at_one = at_point(m, flat_index, l);
        TsExpr *c = at_one ? simplified(m, ts_sub(A, at_one, *offset)) : NULL;
        if (!c)
            return false;
        if (!te_const_int(c, &coef[l]))
            return mismatch(m, "the index of %s moves with loop %s by %s, not by a constant", what,
                            m->site->inner[l]->name, text_of(m, c));
        rest = ts_sub(A, rest, ts_mul(A, m->site->inner[l]->var, ts_i32(A, coef[l])));
    }
    int64_t zero;
    TsExpr *left = simplified(m, rest);
    if (!left)
        return false;
    if (!te_const_int(left, &zero) || zero != 0)
        return mismatch(m, "the index of %s is not affine in the region's loops", what);
    return true;
}

/* The region of declared tensor decl (indexed by the axis variables decl_idx) that the
 * access buffer[indices] covers. */
static bool region_of(Match *m, const TsTensor *decl, TsExpr *const *decl_idx,
                      const TeBuffer *buffer, int n, TsExpr *const *indices, bool flat,
                      TsIntrinRegion *r)
{
    const char *what = buffer->name;
    int64_t coef[SCH_MAX_REORDER];
    bool used[SCH_MAX_REORDER] = { false };
    *r = (TsIntrinRegion){ .tensor = decl, .buffer = buffer, .ndim = decl->ndim };
    if (!affine(m, buffer, n, indices, flat, what, &r->offset, coef))
        return false;
    const int64_t *fixed = m->in->strides[sch_intrin_slot(m->in, decl)];
    for (int d = 0; d < decl->ndim; d++) {
        int l = 0;
        while (l < m->site->num_inner && m->decl_axis[l] != decl_idx[d]->u.var.axis)
            l++;
        r->strides[d] = coef[l];
        used[l] = true;
        if (fixed[d] != TS_INTRIN_STRIDE_ANY && fixed[d] != coef[l])
            return mismatch(m,
                            "stride: dimension %d of %s (axis %s, loop %s) is matched in "
                            "buffer %s with stride %lld, the declaration fixes %lld",
                            d, decl->name, decl_idx[d]->u.var.name, m->site->inner[l]->name, what,
                            (long long)coef[l], (long long)fixed[d]);
    }
    for (int l = 0; l < m->site->num_inner; l++)
        if (!used[l] && coef[l] != 0)
            return mismatch(m,
                            "the access of %s moves with loop %s, which indexes no "
                            "dimension of the declaration's %s",
                            what, m->site->inner[l]->name, decl->name);
    return true;
}

/* Binds declared tensor slot to r, or checks r against its earlier binding. */
static bool bind(Match *m, int slot, const TsIntrinRegion *r)
{
    TsIntrinRegion *had = &m->regions[slot];
    if (!m->bound[slot]) {
        *had = *r;
        m->bound[slot] = true;
        return true;
    }
    bool same = had->buffer == r->buffer && te_expr_equal(had->offset, r->offset) &&
                memcmp(had->strides, r->strides, sizeof had->strides) == 0;
    return same || mismatch(m,
                            "the declaration reads %s twice as one region, the stage "
                            "reads two different ones of %s",
                            r->tensor->name, r->buffer->name);
}

static bool match(Match *m, const TsExpr *d, const TsExpr *g);

static bool match_access(Match *m, const TsExpr *d, const TsExpr *g)
{
    if (g->kind != TE_LOAD || g->dtype.lanes != 1)
        return mismatch(m, "the declaration reads %s where the stage computes %s", text_of(m, d),
                        text_of(m, g));
    const TsTensor *t = d->u.access.tensor;
    TsIntrinRegion r;
    return region_of(m, t, d->u.access.indices, g->u.load.buffer, g->u.load.num_indices,
                     g->u.load.indices, g->u.load.flat, &r) &&
           bind(m, sch_intrin_slot(m->in, t), &r);
}

static bool match_list(Match *m, int n, TsExpr *const *d, TsExpr *const *g)
{
    for (int i = 0; i < n; i++)
        if (!match(m, d[i], g[i]))
            return false;
    return true;
}

/* Declared expression d against the stage's lowered g. */
static bool match(Match *m, const TsExpr *d, const TsExpr *g)
{
    char dt[TS_DTYPE_STR_MAX], gt[TS_DTYPE_STR_MAX];
    if (!ts_dtype_eq(d->dtype, g->dtype))
        return mismatch(m, "dtype: the stage computes %s as %s, the declaration %s as %s",
                        text_of(m, g), ts_dtype_str(g->dtype, gt), text_of(m, d),
                        ts_dtype_str(d->dtype, dt));
    if (d->kind == TE_ACCESS)
        return match_access(m, d, g);
    if (d->kind != g->kind)
        return mismatch(m, "the stage computes %s where the declaration has %s", text_of(m, g),
                        text_of(m, d));
    switch (d->kind) {
    case TE_INT:
        return d->u.int_value == g->u.int_value ||
               mismatch(m, "constant %s where the declaration has %s", text_of(m, g),
                        text_of(m, d));
    case TE_FLOAT:
        return d->u.float_value == g->u.float_value ||
               mismatch(m, "constant %s where the declaration has %s", text_of(m, g),
                        text_of(m, d));
    case TE_ADD:
    case TE_SUB:
    case TE_MUL:
    case TE_DIV:
    case TE_MOD:
    case TE_FLOORDIV:
    case TE_FLOORMOD:
    case TE_MIN:
    case TE_MAX:
    case TE_EQ:
    case TE_NE:
    case TE_LT:
    case TE_LE:
    case TE_GT:
    case TE_GE:
    case TE_AND:
    case TE_OR:
    case TE_BITAND:
    case TE_BITOR:
    case TE_BITXOR:
    case TE_SHL:
    case TE_SHR: return match(m, d->u.op.a, g->u.op.a) && match(m, d->u.op.b, g->u.op.b);
    case TE_NOT:
    case TE_BITNOT:
    case TE_POPCOUNT: return match(m, d->u.op.a, g->u.op.a);
    case TE_SELECT:
    case TE_IF_THEN_ELSE:
        return match(m, d->u.select.cond, g->u.select.cond) &&
               match(m, d->u.select.then_value, g->u.select.then_value) &&
               match(m, d->u.select.else_value, g->u.select.else_value);
    case TE_CAST:
    case TE_REINTERPRET: return match(m, d->u.cast.value, g->u.cast.value);
    case TE_CALL:
        return (d->u.call.fn == g->u.call.fn ||
                mismatch(m, "the stage calls %s where the declaration calls %s",
                         te_call_name(g->u.call.fn), te_call_name(d->u.call.fn))) &&
               match_list(m, te_call_arity(d->u.call.fn), d->u.call.args, g->u.call.args);
    case TE_INTRINSIC:
        return ((strcmp(d->u.intrinsic.name, g->u.intrinsic.name) == 0 &&
                 d->u.intrinsic.num_args == g->u.intrinsic.num_args) ||
                mismatch(m, "the stage calls %s where the declaration calls %s",
                         g->u.intrinsic.name, d->u.intrinsic.name)) &&
               match_list(m, d->u.intrinsic.num_args, d->u.intrinsic.args, g->u.intrinsic.args);
    case TE_VAR:
    case TE_ACCESS:
    case TE_REDUCE:
    case TE_LOAD:
    case TE_RAMP:
    case TE_BROADCAST:
    case TE_ADDRESS:
    case TE_NUM_EXPR_KINDS: break; /* not in a checked declaration */
    }
    return mismatch(m, "the declaration's %s cannot be matched", text_of(m, d));
}

static bool match_output(Match *m)
{
    const SchTensorizeSite *s = m->site;
    const TsTensor *out = m->in->output;
    char dt[TS_DTYPE_STR_MAX], gt[TS_DTYPE_STR_MAX];
    if (s->out->dtype.code != out->dtype.code || s->out->dtype.bits != out->dtype.bits)
        return mismatch(m, "dtype: stage %s stores %s, the declaration's %s is %s", s->stage,
                        ts_dtype_str(s->out->dtype, gt), out->name, ts_dtype_str(out->dtype, dt));
    TsExpr *idx[TS_MAX_DIMS];
    for (int d = 0; d < out->ndim; d++)
        idx[d] = out->axes[d]->var;
    TsIntrinRegion r;
    return region_of(m, out, idx, s->out, s->out_ndim, s->out_indices, false, &r) &&
           bind(m, m->in->num_inputs, &r);
}

/* ---- the statements ---- */

/* The declaration's axes renamed to fresh loop variables, per instance. */
typedef struct {
    Match *m;
    int n;
    const TsExpr *decl[SCH_MAX_REORDER];
    TsExpr *fresh[SCH_MAX_REORDER];
    int64_t extent[SCH_MAX_REORDER];
} Fresh;

static bool fresh_axes(Match *m, Fresh *f)
{
    const TsTensor *out = m->in->output;
    f->m = m;
    f->n = 0;
    for (int i = 0; i < out->ndim + m->in->num_reduce_axes; i++) {
        const TsAxis *ax = i < out->ndim ? out->axes[i] : m->in->reduce_axes[i - out->ndim];
        TsAxis *copy = ts_axis(m->A, ax->name, ts_axis_extent(ax));
        if (!copy)
            return false;
        f->decl[f->n] = ax->var;
        f->extent[f->n] = ts_axis_extent(ax);
        f->fresh[f->n++] = copy->var;
    }
    return true;
}

static TsExpr *fresh_of(const Fresh *f, const TsExpr *var)
{
    for (int i = 0; i < f->n; i++)
        if (f->decl[i] == var)
            return f->fresh[i];
    return NULL;
}

/* The flat element index in region r of the declared element at indices. */
static TsExpr *region_index(const Fresh *f, const TsIntrinRegion *r, TsExpr *const *indices)
{
    TsArena *A = f->m->A;
    TsExpr *index = r->offset;
    for (int d = 0; d < r->ndim && index; d++)
        index = ts_add(A, index, ts_mul(A, fresh_of(f, indices[d]), ts_i32(A, r->strides[d])));
    return index;
}

static TsExpr *to_region_load(void *ctx, TsArena *arena, TsExpr *e)
{
    const Fresh *f = ctx;
    if (e->kind != TE_ACCESS)
        return NULL;
    const TsIntrinRegion *r = &f->m->regions[sch_intrin_slot(f->m->in, e->u.access.tensor)];
    TsExpr *index = region_index(f, r, e->u.access.indices);
    TsExpr *load = index ? te_load(arena, r->buffer, 1, &index, true) : NULL;
    return load ? load : TE_MUTATE_FAILED;
}

/* The declaration's reset, update or body, evaluated over the regions. */
static TeStmt *declared(Match *m, const char *part)
{
    TsArena *A = m->A;
    const TsIntrin *in = m->in;
    const TsTensor *out = in->output;
    const TsIntrinRegion *r = &m->regions[in->num_inputs];
    Fresh f;
    if (!fresh_axes(m, &f))
        return NULL;
    TsExpr *out_idx[TS_MAX_DIMS];
    for (int d = 0; d < out->ndim; d++)
        out_idx[d] = out->axes[d]->var;
    TsExpr *index = region_index(&f, r, out_idx);
    TeMutator mut = { .expr = to_region_load, .ctx = &f };
    TsExpr *value = te_mutate_expr(A, in->source, &mut);
    TeStmt *s;
    int loops = out->ndim;
    if (!index || !value)
        return NULL;
    if (!in->reducer) {
        s = te_store(A, r->buffer, 1, &index, value, true);
    } else if (strcmp(part, "reset") == 0) {
        s = te_store(A, r->buffer, 1, &index, sch_reducer_identity(A, in->reducer, out->dtype),
                     true);
    } else {
        TsExpr *acc = te_load(A, r->buffer, 1, &index, true);
        TsExpr *cond = in->cond ? te_mutate_expr(A, in->cond, &mut) : NULL;
        s = te_store(A, r->buffer, 1, &index, sch_reducer_combine(A, in->reducer, acc, value),
                     true);
        s = cond && s ? te_if(A, cond, s, NULL, false) : s;
        loops = f.n;
    }
    for (int i = loops - 1; i >= 0 && s; i--)
        s = te_for(A, f.fresh[i], ts_i32(A, 0), ts_i32(A, f.extent[i]), TE_FOR_SERIAL, 0, NULL, s);
    if (s && in->reducer && strcmp(part, "body") == 0)
        s = te_seq(A, 2, (TeStmt *[]){ declared(m, "reset"), s });
    return s;
}

/* One part as a TENSORIZE statement: the declaration beside the emitter's code. */
static TeStmt *part_stmt(Match *m, const char *part, TsIntrinEmitter emit)
{
    const TsIntrinRegion *regions[TS_INTRIN_MAX_INPUTS + 1];
    for (int i = 0; i <= m->in->num_inputs; i++)
        regions[i] = &m->regions[i];
    TeStmt *decl = declared(m, part);
    TeStmt *code = decl ? emit(m->A, m->in, regions, m->in->user) : NULL;
    if (decl && !code && ts_arena_ok(m->A))
        mismatch(m, "the intrinsic's %s emitter made no statement", part);
    return code ? te_tensorize_stmt(m->A, m->in->name, part, m->in->num_features, m->in->features,
                                    decl, code)
                : NULL;
}

/* True on the first iteration of the reduce loops outside the region; NULL when there
 * are none. */
static TsExpr *first_iteration(Match *m)
{
    TsExpr *first = NULL;
    for (int i = 0; i < m->site->num_outer_reduce; i++) {
        TsExpr *is_zero = ts_eq(m->A, m->site->outer_reduce[i], ts_i32(m->A, 0));
        first = first ? ts_and(m->A, first, is_zero) : is_zero;
    }
    return first;
}

static TeStmt *statements(Match *m)
{
    TsArena *A = m->A;
    const TsIntrin *in = m->in;
    TeStmt *body = in->body ? part_stmt(m, "body", in->body) : NULL;
    if (!in->reducer || (in->body && !body))
        return body;
    TeStmt *reset = part_stmt(m, "reset", in->reset);
    TeStmt *update = reset ? part_stmt(m, "update", in->update) : NULL;
    TsExpr *first = first_iteration(m);
    if (!update)
        return NULL;
    if (!first)
        return body ? body : te_seq(A, 2, (TeStmt *[]){ reset, update });
    if (body)
        return te_if(A, first, body, update, false);
    return te_seq(A, 2, (TeStmt *[]){ te_if(A, first, reset, NULL, false), update });
}

TeStmt *sch_tensorize_site(TsArena *arena, const SchTensorizeSite *site)
{
    Match m = { .A = arena, .site = site, .in = site->intrin };
    if (!check_reduction(&m) || !map_loops(&m) || !check_guard(&m))
        return NULL;
    if (!match(&m, m.in->source, site->value) ||
        (m.in->cond && !match(&m, m.in->cond, site->cond)) || !match_output(&m))
        return NULL;
    TeStmt *s = statements(&m);
    if (s && m.guard)
        s = te_if(arena, m.guard, s, NULL, true);
    return s;
}
