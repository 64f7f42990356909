/* Storage rewrite, the last loop pass before the final simplify (pipeline.c): temporary
 * buffers whose lifetimes cannot overlap share one allocation, so a kernel with many
 * intermediate stages needs less stack.
 *
 * Conservative by design: only allocations that are siblings in one sequence are
 * merged, because an allocation lives exactly as long as its body and the bodies of
 * two statements of a sequence run one after the other. In
 *
 *     allocate a: float32[4, 4] { ... }   allocate b: float32[32] { ... }
 *
 * b reuses a's memory: the two become one allocation of max(num_elements) elements,
 * named after the first, one-dimensional, around everything from the first member to
 * the last (statements in between cannot see either buffer), and every load and store
 * of a member is redirected to it. Members share a dtype and are local; every access to
 * a member must already be flat, since a flat index means the same element whichever
 * buffer it lands in while a multi-dimensional one depends on the buffer's shape and
 * strides. The pass therefore runs after storage_flatten and leaves a buffer with any
 * multi-dimensional access alone. Merging is repeated inside the merged body, where
 * allocations nested in the members have become siblings. Initial contents are
 * undefined either way, so reuse changes no defined result. A buffer whose address an
 * intrinsic call takes is not merged. */
#include <string.h>

#include "sch_internal.h"

/* ---- which allocations may be merged ---- */

/* A multi-dimensional load of the buffer, or its address handed to an intrinsic (which
 * may assume its layout), keeps it out of a merge. */
static TeVisit check_load(void *ctx, const TsExpr *e)
{
    bool bad = (e->kind == TE_LOAD && !e->u.load.flat) || e->kind == TE_ADDRESS;
    return bad && e->u.load.buffer == ctx ? TE_VISIT_STOP : TE_VISIT_CHILDREN;
}

static TeVisit check_stmt(void *ctx, const TeStmt *s)
{
    if ((s->kind == TE_STMT_STORE && s->u.store.buffer == ctx && !s->u.store.flat) ||
        (s->kind == TE_STMT_ALLOCATE && s->u.allocate.buffer == ctx))
        return TE_VISIT_STOP;
    return TE_VISIT_CHILDREN;
}

/* True for a local allocation whose body accesses it only flat and does not allocate
 * the same buffer again. */
static bool mergeable(const TeStmt *s)
{
    if (s->kind != TE_STMT_ALLOCATE || s->u.allocate.buffer->scope != TE_SCOPE_LOCAL)
        return false;
    TeVisitor v = { .expr = check_load, .stmt = check_stmt,
                    .ctx = (void *)s->u.allocate.buffer };
    return !te_visit_stmt(s->u.allocate.body, &v);
}

/* ---- redirecting accesses ---- */

typedef struct {
    const TeBuffer *from, *to;
    TeMutator self;
} Redirect;

static TsExpr *redirect_load(void *ctx, TsArena *arena, TsExpr *e)
{
    Redirect *r = ctx;
    if (e->kind != TE_LOAD || e->u.load.buffer != r->from)
        return NULL;
    TsExpr *index = te_mutate_expr(arena, e->u.load.indices[0], &r->self);
    TsExpr *out = index ? te_load(arena, r->to, 1, &index, true) : NULL;
    return out ? out : TE_MUTATE_FAILED;
}

static TeStmt *redirect_store(void *ctx, TsArena *arena, TeStmt *s)
{
    Redirect *r = ctx;
    if (s->kind != TE_STMT_STORE || s->u.store.buffer != r->from)
        return NULL;
    TsExpr *index = te_mutate_expr(arena, s->u.store.indices[0], &r->self);
    TsExpr *value = index ? te_mutate_expr(arena, s->u.store.value, &r->self) : NULL;
    TsExpr *mask =
        value && s->u.store.mask ? te_mutate_expr(arena, s->u.store.mask, &r->self) : NULL;
    TeStmt *out = value && (mask || !s->u.store.mask)
                      ? te_store_masked(arena, r->to, 1, &index, value, true, mask)
                      : NULL;
    return out ? out : TE_MUTATE_STMT_FAILED;
}

/* body with every (flat) access to from made to to. */
static TeStmt *redirect(TsArena *arena, TeStmt *body, const TeBuffer *from, const TeBuffer *to)
{
    Redirect r = { from, to, { .expr = redirect_load, .stmt = redirect_store } };
    r.self.ctx = &r;
    return te_mutate_stmt(arena, body, &r.self);
}

/* ---- merging siblings ---- */

static TeStmt *merge_siblings(TsArena *arena, TeStmt *seq);

/* One buffer for the members (items[first], and every later item with member[] set):
 * the first's name, dtype and tensor, one dimension of the largest member's size. */
static TeBuffer *shared_buffer(TsArena *arena, TeStmt *const *items, const bool *member,
                               int first, int last)
{
    const TeBuffer *base = items[first]->u.allocate.buffer;
    int64_t size = 0;
    for (int t = first; t <= last; t++)
        if (member[t] && items[t]->u.allocate.buffer->num_elements > size)
            size = items[t]->u.allocate.buffer->num_elements;
    TeBuffer *b = ts_arena_alloc(arena, sizeof *b);
    if (!b)
        return NULL;
    b->name = base->name;
    b->dtype = base->dtype;
    b->ndim = 1;
    b->shape[0] = size;
    b->strides[0] = 1;
    b->num_elements = size;
    b->tensor = base->tensor;
    b->scope = TE_SCOPE_LOCAL;
    return b;
}

/* Merges items[first] with the later mergeable allocations of its dtype, if any, into
 * one allocation around items[first..*last]. NULL on failure; items[first] itself (and
 * *last == first) when it has no partner. */
static TeStmt *merge_from(TsArena *arena, TeStmt *const *items, const bool *mergeable_item,
                          int n, int first, int *last)
{
    const TeBuffer *lead = items[first]->u.allocate.buffer;
    bool *member = ts_arena_alloc(arena, sizeof *member * (size_t)n);
    if (!member)
        return NULL;
    *last = first;
    for (int t = first; t < n; t++) {
        member[t] = mergeable_item[t] && ts_dtype_eq(items[t]->u.allocate.buffer->dtype,
                                                     lead->dtype);
        if (member[t])
            *last = t;
    }
    if (*last == first)
        return items[first];
    TeBuffer *shared = shared_buffer(arena, items, member, first, *last);
    int count = *last - first + 1;
    TeStmt **parts = ts_arena_alloc(arena, sizeof *parts * (size_t)count);
    if (!shared || !parts)
        return NULL;
    for (int t = first; t <= *last; t++) {
        TeStmt *s = items[t];
        parts[t - first] = member[t] ? redirect(arena, s->u.allocate.body,
                                                s->u.allocate.buffer, shared)
                                     : s;
        if (!parts[t - first])
            return NULL;
    }
    TeStmt *body = te_seq(arena, count, parts);
    if (body && body->kind == TE_STMT_SEQ)
        body = merge_siblings(arena, body);
    return body ? te_allocate(arena, shared, body) : NULL;
}

/* The sequence with its mergeable sibling allocations merged; its items have been
 * rewritten already. */
static TeStmt *merge_siblings(TsArena *arena, TeStmt *seq)
{
    int n = seq->u.seq.num_stmts;
    TeStmt *const *items = seq->u.seq.stmts;
    bool *ok = ts_arena_alloc(arena, sizeof *ok * (size_t)(n ? n : 1));
    TeStmt **out = ts_arena_alloc(arena, sizeof *out * (size_t)(n ? n : 1));
    if (!ok || !out)
        return NULL;
    for (int i = 0; i < n; i++)
        ok[i] = mergeable(items[i]);
    int count = 0;
    bool changed = false;
    for (int i = 0; i < n; i++) {
        int last = i;
        TeStmt *s = ok[i] ? merge_from(arena, items, ok, n, i, &last) : items[i];
        if (!s)
            return NULL;
        changed = changed || last != i;
        out[count++] = s;
        i = last;
    }
    return changed ? te_seq(arena, count, out) : seq;
}

static TeStmt *visit_seq(void *ctx, TsArena *arena, TeStmt *s)
{
    const TeMutator *self = ctx;
    if (s->kind != TE_STMT_SEQ)
        return NULL;
    int n = s->u.seq.num_stmts;
    TeStmt **items = s->u.seq.stmts;
    for (int i = 0; i < n; i++) {
        TeStmt *x = te_mutate_stmt(arena, s->u.seq.stmts[i], self);
        if (!x)
            return TE_MUTATE_STMT_FAILED;
        if (x != s->u.seq.stmts[i] && items == s->u.seq.stmts) {
            items = ts_arena_alloc(arena, sizeof *items * (size_t)n);
            if (!items)
                return TE_MUTATE_STMT_FAILED;
            memcpy(items, s->u.seq.stmts, sizeof *items * (size_t)n);
        }
        items[i] = x;
    }
    TeStmt *rebuilt = items == s->u.seq.stmts ? s : te_seq(arena, n, items);
    TeStmt *out = rebuilt && rebuilt->kind == TE_STMT_SEQ ? merge_siblings(arena, rebuilt)
                                                          : rebuilt;
    return out ? out : TE_MUTATE_STMT_FAILED;
}

TsLoweredFunc *sch_pass_storage_rewrite(TsArena *arena, TsLoweredFunc *func,
                                        const SchLowerOptions *options, TsError *err)
{
    (void)options;
    TeMutator m = { .stmt = visit_seq };
    m.ctx = &m;
    TeStmt *body = te_mutate_stmt(arena, func->body, &m);
    TsLoweredFunc *out = !body ? NULL : body == func->body ? func
                                                           : sch_func_with_body(arena, func, body);
    if (!out && ts_arena_check(arena, err) == TS_OK)
        ts_fail(err, TS_ENOMEM, "storage_rewrite of %s failed", func->name);
    return out;
}
