/* Vectorization, the loop pass after storage flatten (pipeline.c): a loop marked
 * vectorized, of constant extent n, becomes straight-line vector code of n lanes, as in
 * TVM. The loop variable becomes ramp(min, 1, n); an expression that depends on it
 * becomes an n-lane vector (the scalar side of an operator is broadcast); a loop-
 * invariant expression stays scalar; loads and stores with vector indices move all
 * lanes at once. Integer arithmetic on ramps keeps the closed form (ramp + x, ramp * c),
 * so a flat index i * 16 + j with j vectorized becomes ramp(i * 16, 1, n), which
 * codegen emits as one contiguous vector access. A serial loop inside the vectorized
 * one stays a loop with a vector body when its bounds do not depend on the lanes (the
 * reduction loop of a matmul whose vectorized axis is outside it). An if_then_else whose
 * condition depends on the lanes stays lazy per lane: its condition becomes a lane mask
 * and the loads of its branches masked loads, so padded reads (an inlined pad stage)
 * vectorize without reading outside their buffers. An if statement whose condition
 * depends on the lanes runs its branches under lane masks: their stores become masked
 * stores (only the active lanes evaluate and write), and lets and conditions inside that
 * could read memory or fail are computed under the mask, so a guarded store (a loop
 * partition's tail guard, a reduction's where= condition, padding) vectorizes without
 * touching memory in lanes whose condition is false.
 *
 * Inner vectorized loops go first, so two nested vectorized loops leave the outer one
 * with vector code inside, which it refuses. A loop cannot be vectorized when
 *   - its extent is not a constant (after simplification) or exceeds 1024 lanes;
 *   - the bounds of an inner loop depend on the lanes, or, under an if whose condition
 *     depends on them, read memory;
 *   - a store to an address that does not vary with the lanes gets a varying value (a
 *     reduction across lanes), or writes a buffer the loop also reads;
 *   - lanes could see or overwrite each other's writes: a buffer written with a
 *     varying index is accessed elsewhere in the loop through a different index, or
 *     through an index that is not a ramp of nonzero constant stride, or the index of
 *     a varying store moves with an inner loop so that one lane could reach another
 *     lane's element in a later iteration.
 * The last two rules make the statement order that vectorization changes (every lane
 * of one statement before the next statement) unobservable; lowered code, where only
 * data-parallel axes are vectorized, normally meets them. Otherwise the pass fails with
 * TS_ECODEGEN naming the loop and the reason, or, with options->allow_scalar_fallback,
 * keeps the loop as a serial loop and says so on stderr. A loop of extent 1 becomes its
 * body with the variable replaced by min; extent 0 or less, nothing. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sch_internal.h"

enum { MAX_LANES = 1024 };

/* One load or store found in the loop body before vectorization. */
typedef struct Access {
    const TeBuffer *buffer;
    bool is_store;
    int num_indices;
    TsExpr *const *indices;
} Access;

/* A let variable of the loop body whose value varies, and the vector variable that
 * replaces it inside the let's body. */
typedef struct Rebind {
    const TsExpr *scalar;
    TsExpr *vector;
    const struct Rebind *next;
} Rebind;

typedef struct Vectorizer {
    TsArena *arena;
    const TsExpr *var; /* the loop variable */
    TsExpr *ramp;      /* what it becomes */
    int lanes;
    const Rebind *rebinds;
    /* NULL, or the lanes that run the statement at hand (a bool vector): inside an if
     * whose condition varies, its condition (and those of the ifs around it). */
    TsExpr *mask;
    /* What the loop body holds: its accesses and the variables bound inside it. */
    int num_accesses, cap_accesses;
    Access *accesses;
    int num_bound, cap_bound;
    const TeStmt **bound; /* the loops and lets inside, binding their variables */
    bool scan_failed;
    /* Why the loop cannot be vectorized; has_reason is false while it can. */
    bool has_reason;
    char reason[320];
} Vectorizer;

/* Records why the loop cannot be vectorized (the first reason wins). Returns false so a
 * caller can write `return cannot(...), NULL`. */
static bool cannot(Vectorizer *v, const char *fmt, ...) TS_PRINTF_LIKE(2, 3);

static bool cannot(Vectorizer *v, const char *fmt, ...)
{
    if (v->has_reason)
        return false;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->reason, sizeof v->reason, fmt, ap);
    va_end(ap);
    v->has_reason = true;
    return false;
}

static const char *str(Vectorizer *v, const TsExpr *e)
{
    const char *text = te_expr_str(v->arena, e);
    return text ? text : "?";
}

static bool list_equal(int n, TsExpr *const *a, TsExpr *const *b)
{
    for (int i = 0; i < n; i++)
        if (!te_expr_equal(a[i], b[i]))
            return false;
    return true;
}

/* ---- the scan of the loop body ---- */

static bool grow(TsArena *arena, void **items, int *cap, int count, size_t size)
{
    if (count < *cap)
        return true;
    int new_cap = *cap ? 2 * *cap : 16;
    void *grown = ts_arena_alloc(arena, size * (size_t)new_cap);
    if (!grown)
        return false;
    if (count)
        memcpy(grown, *items, size * (size_t)count);
    *items = grown;
    *cap = new_cap;
    return true;
}

static void add_access(Vectorizer *v, const TeBuffer *buffer, bool is_store, int n,
                       TsExpr *const *indices)
{
    void *items = v->accesses;
    if (!grow(v->arena, &items, &v->cap_accesses, v->num_accesses, sizeof(Access))) {
        v->scan_failed = true;
        return;
    }
    v->accesses = items;
    v->accesses[v->num_accesses++] = (Access){ buffer, is_store, n, indices };
}

static void add_bound(Vectorizer *v, const TeStmt *binder)
{
    void *items = (void *)v->bound;
    if (!grow(v->arena, &items, &v->cap_bound, v->num_bound, sizeof(const TeStmt *))) {
        v->scan_failed = true;
        return;
    }
    v->bound = items;
    v->bound[v->num_bound++] = binder;
}

static TsExpr *bound_var(const TeStmt *binder)
{
    return binder->kind == TE_STMT_FOR ? binder->u.loop.var : binder->u.let.var;
}

static TeVisit scan_expr(void *ctx, const TsExpr *e)
{
    if (e->kind == TE_LOAD)
        add_access(ctx, e->u.load.buffer, false, e->u.load.num_indices, e->u.load.indices);
    return TE_VISIT_CHILDREN;
}

static TeVisit scan_stmt(void *ctx, const TeStmt *s)
{
    if (s->kind == TE_STMT_STORE)
        add_access(ctx, s->u.store.buffer, true, s->u.store.num_indices, s->u.store.indices);
    else if (s->kind == TE_STMT_FOR || s->kind == TE_STMT_LET)
        add_bound(ctx, s);
    return TE_VISIT_CHILDREN;
}

/* Collects the accesses and bound variables of the loop body. */
static bool scan_body(Vectorizer *v, TeStmt *body)
{
    TeVisitor visitor = { .expr = scan_expr, .stmt = scan_stmt, .ctx = v };
    te_visit_stmt(body, &visitor);
    return !v->scan_failed;
}

static bool buffer_is_read(const Vectorizer *v, const TeBuffer *buffer)
{
    for (int i = 0; i < v->num_accesses; i++)
        if (v->accesses[i].buffer == buffer && !v->accesses[i].is_store)
            return true;
    return false;
}

/* ---- int32 ramp arithmetic with constant folding ---- */

static TsExpr *fold(Vectorizer *v, TeExprKind kind, TsExpr *a, TsExpr *b)
{
    int64_t x = 0, y = 0;
    bool a_const = te_const_int(a, &x), b_const = te_const_int(b, &y);
    if (kind == TE_ADD) {
        if (a_const && b_const)
            return ts_i32(v->arena, te_wrap_int(TS_INT32, x + y));
        if (a_const && x == 0)
            return b;
        if (b_const && y == 0)
            return a;
        return ts_add(v->arena, a, b);
    }
    if (kind == TE_SUB) {
        if (a_const && b_const)
            return ts_i32(v->arena, te_wrap_int(TS_INT32, x - y));
        if (b_const && y == 0)
            return a;
        return ts_sub(v->arena, a, b);
    }
    if (a_const && b_const)
        return ts_i32(v->arena, te_wrap_int(TS_INT32, x * y));
    if ((a_const && x == 0) || (b_const && y == 1))
        return a;
    if ((b_const && y == 0) || (a_const && x == 1))
        return b;
    return ts_mul(v->arena, a, b);
}

/* a op b where one side is a ramp and the result is a ramp again (+, -, * by a scalar),
 * or NULL when the operation has no closed form. */
static TsExpr *ramp_arith(Vectorizer *v, TeExprKind kind, TsExpr *a, TsExpr *b)
{
    if (kind != TE_ADD && kind != TE_SUB && kind != TE_MUL)
        return NULL;
    bool a_ramp = a->kind == TE_RAMP, b_ramp = b->kind == TE_RAMP;
    if ((!a_ramp && a->dtype.lanes > 1) || (!b_ramp && b->dtype.lanes > 1))
        return NULL;
    TsExpr *zero = ts_i32(v->arena, 0);
    TsExpr *a_base = a_ramp ? a->u.ramp.base : a, *a_stride = a_ramp ? a->u.ramp.stride : zero;
    TsExpr *b_base = b_ramp ? b->u.ramp.base : b, *b_stride = b_ramp ? b->u.ramp.stride : zero;
    if (kind == TE_MUL) {
        if (a_ramp && b_ramp)
            return NULL;
        TsExpr *ramp = a_ramp ? a : b, *scale = a_ramp ? b : a;
        return te_ramp(v->arena, fold(v, TE_MUL, ramp->u.ramp.base, scale),
                       fold(v, TE_MUL, ramp->u.ramp.stride, scale), v->lanes);
    }
    return te_ramp(v->arena, fold(v, kind, a_base, b_base), fold(v, kind, a_stride, b_stride),
                   v->lanes);
}

/* ---- expressions ---- */

typedef TsExpr *(*BinaryBuilder)(TsArena *, TsExpr *, TsExpr *);
typedef TsExpr *(*UnaryBuilder)(TsArena *, TsExpr *);

/* clang-format off */
static const BinaryBuilder binary_builders[TE_NUM_EXPR_KINDS] = {
    [TE_ADD] = ts_add, [TE_SUB] = ts_sub, [TE_MUL] = ts_mul, [TE_DIV] = ts_div,
    [TE_MOD] = ts_mod, [TE_FLOORDIV] = ts_floordiv, [TE_FLOORMOD] = ts_floormod,
    [TE_MIN] = ts_min, [TE_MAX] = ts_max, [TE_EQ] = ts_eq, [TE_NE] = ts_ne, [TE_LT] = ts_lt,
    [TE_LE] = ts_le, [TE_GT] = ts_gt, [TE_GE] = ts_ge, [TE_AND] = ts_and, [TE_OR] = ts_or,
    [TE_BITAND] = ts_bitand, [TE_BITOR] = ts_bitor, [TE_BITXOR] = ts_bitxor,
    [TE_SHL] = ts_shl, [TE_SHR] = ts_shr,
};
static const UnaryBuilder unary_builders[TE_NUM_EXPR_KINDS] = {
    [TE_NOT] = ts_not, [TE_BITNOT] = ts_bitnot, [TE_POPCOUNT] = ts_popcount,
};
/* clang-format on */

/* x with v->lanes lanes: broadcast when scalar. */
static TsExpr *widen(Vectorizer *v, TsExpr *x)
{
    return x && x->dtype.lanes == 1 ? te_broadcast(v->arena, x, v->lanes) : x;
}

static TsExpr *vec_expr(Vectorizer *v, TsExpr *e);

static TsExpr *vec_binary(Vectorizer *v, TsExpr *e)
{
    TsExpr *a = vec_expr(v, e->u.op.a);
    TsExpr *b = a ? vec_expr(v, e->u.op.b) : NULL;
    if (!b)
        return NULL;
    if (a == e->u.op.a && b == e->u.op.b)
        return e;
    if (a->dtype.lanes == 1 && b->dtype.lanes == 1)
        return binary_builders[e->kind](v->arena, a, b);
    TsExpr *ramp = ramp_arith(v, e->kind, a, b);
    if (ramp || !ts_arena_ok(v->arena))
        return ramp;
    return binary_builders[e->kind](v->arena, widen(v, a), widen(v, b));
}

static TsExpr *vec_unary(Vectorizer *v, TsExpr *e)
{
    TsExpr *a = vec_expr(v, e->u.op.a);
    if (!a || a == e->u.op.a)
        return a ? e : NULL;
    return unary_builders[e->kind](v->arena, a);
}

static TsExpr *vec_select(Vectorizer *v, TsExpr *e)
{
    TsExpr *cond = vec_expr(v, e->u.select.cond);
    TsExpr *t = cond ? vec_expr(v, e->u.select.then_value) : NULL;
    TsExpr *f = t ? vec_expr(v, e->u.select.else_value) : NULL;
    if (!f)
        return NULL;
    if (cond == e->u.select.cond && t == e->u.select.then_value && f == e->u.select.else_value)
        return e;
    if (t->dtype.lanes == 1 && f->dtype.lanes == 1 && cond->dtype.lanes == 1)
        return ts_select(v->arena, cond, t, f);
    return ts_select(v->arena, cond, widen(v, t), widen(v, f));
}

/* if_then_else evaluates only the chosen branch. With a scalar condition the vector
 * branches are chosen whole. With a varying one it stays an if_then_else of vectors,
 * which evaluates each branch only in the lanes that choose it (te.h): the condition is
 * a lane mask, a load under it is a masked load or gather that reads nothing in the
 * other lanes (codegen/llvm_expr.c), so a padded read never touches memory outside its
 * buffer. The branches are widened, and the result is chosen per lane. */
static TsExpr *vec_if_then_else(Vectorizer *v, TsExpr *e)
{
    TsExpr *cond = vec_expr(v, e->u.select.cond);
    TsExpr *t = cond ? vec_expr(v, e->u.select.then_value) : NULL;
    TsExpr *f = t ? vec_expr(v, e->u.select.else_value) : NULL;
    if (!f)
        return NULL;
    if (cond == e->u.select.cond && t == e->u.select.then_value && f == e->u.select.else_value)
        return e;
    if (cond->dtype.lanes == 1 && t->dtype.lanes == 1 && f->dtype.lanes == 1)
        return ts_if_then_else(v->arena, cond, t, f);
    return ts_if_then_else(v->arena, cond, widen(v, t), widen(v, f));
}

static TsExpr *vec_call(Vectorizer *v, TsExpr *e)
{
    TsExpr *a = vec_expr(v, e->u.call.args[0]);
    TsExpr *b = e->u.call.args[1] && a ? vec_expr(v, e->u.call.args[1]) : NULL;
    if (!a || (e->u.call.args[1] && !b))
        return NULL;
    if (a == e->u.call.args[0] && b == e->u.call.args[1])
        return e;
    if (b && (a->dtype.lanes > 1 || b->dtype.lanes > 1)) {
        a = widen(v, a);
        b = widen(v, b);
    }
    switch (e->u.call.fn) {
    case TE_CALL_EXP: return ts_exp(v->arena, a);
    case TE_CALL_LOG: return ts_log(v->arena, a);
    case TE_CALL_SQRT: return ts_sqrt(v->arena, a);
    case TE_CALL_TANH: return ts_tanh(v->arena, a);
    case TE_CALL_SIGMOID: return ts_sigmoid(v->arena, a);
    case TE_CALL_FABS: return ts_fabs(v->arena, a);
    case TE_CALL_FLOOR: return ts_floor(v->arena, a);
    case TE_CALL_CEIL: return ts_ceil(v->arena, a);
    case TE_CALL_POW: return ts_pow(v->arena, a, b);
    case TE_NUM_CALL_KINDS: break;
    }
    return cannot(v, "unknown call %s", str(v, e)), NULL;
}

/* The indices of an access, vectorized into out[]; *varies tells whether any index has
 * lanes. NULL on failure. */
static bool vec_indices(Vectorizer *v, int n, TsExpr *const *indices, TsExpr **out,
                        bool *varies)
{
    *varies = false;
    for (int i = 0; i < n; i++) {
        out[i] = vec_expr(v, indices[i]);
        if (!out[i])
            return false;
        *varies = *varies || out[i]->dtype.lanes > 1;
    }
    return true;
}

static TsExpr *vec_load(Vectorizer *v, TsExpr *e)
{
    TsExpr *indices[TS_MAX_DIMS];
    bool varies;
    if (!vec_indices(v, e->u.load.num_indices, e->u.load.indices, indices, &varies))
        return NULL;
    if (!varies && memcmp(indices, e->u.load.indices,
                          sizeof *indices * (size_t)e->u.load.num_indices) == 0)
        return e;
    return te_load(v->arena, e->u.load.buffer, e->u.load.num_indices, indices, e->u.load.flat);
}

/* The expression over all lanes: a vector of v->lanes lanes when it depends on the loop
 * variable, else scalar (e itself when nothing inside changed). NULL when the loop
 * cannot be vectorized (v->has_reason) or a builder failed (the arena's error). */
static TsExpr *vec_expr(Vectorizer *v, TsExpr *e)
{
    if (e->dtype.lanes != 1)
        return cannot(v, "it already holds the vector expression %s (nested vectorized loops)",
                      str(v, e)), NULL;
    switch (e->kind) {
    case TE_INT:
    case TE_FLOAT:
        return e;
    case TE_VAR:
        if (e == v->var)
            return v->ramp;
        for (const Rebind *r = v->rebinds; r; r = r->next)
            if (r->scalar == e)
                return r->vector;
        return e;
    case TE_ADD: case TE_SUB: case TE_MUL: case TE_DIV: case TE_MOD: case TE_FLOORDIV:
    case TE_FLOORMOD: case TE_MIN: case TE_MAX: case TE_EQ: case TE_NE: case TE_LT: case TE_LE:
    case TE_GT: case TE_GE: case TE_AND: case TE_OR: case TE_BITAND: case TE_BITOR:
    case TE_BITXOR: case TE_SHL: case TE_SHR:
        return vec_binary(v, e);
    case TE_NOT: case TE_BITNOT: case TE_POPCOUNT:
        return vec_unary(v, e);
    case TE_SELECT: return vec_select(v, e);
    case TE_IF_THEN_ELSE: return vec_if_then_else(v, e);
    case TE_CAST: {
        TsExpr *a = vec_expr(v, e->u.cast.value);
        if (!a || a == e->u.cast.value)
            return a ? e : NULL;
        return ts_cast(v->arena, ts_dtype_with_lanes(e->dtype, a->dtype.lanes), a);
    }
    case TE_REINTERPRET: {
        TsExpr *a = vec_expr(v, e->u.cast.value);
        if (!a || a == e->u.cast.value)
            return a ? e : NULL;
        return ts_reinterpret(v->arena, ts_dtype_with_lanes(e->dtype, a->dtype.lanes), a);
    }
    case TE_INTRINSIC: case TE_ADDRESS:
        /* Kept when no operand varies with the loop; never widened: an intrinsic's lanes
         * are its own business, and an address names one element. */
        if (!te_expr_uses_var(e, v->var)) {
            bool rebound = false;
            for (const Rebind *r = v->rebinds; r && !rebound; r = r->next)
                rebound = te_expr_uses_var(e, r->scalar);
            if (!rebound)
                return e;
        }
        return cannot(v, "%s %s depends on %s and cannot be widened (a target intrinsic's "
                      "lanes are its own)", e->kind == TE_INTRINSIC ? "the intrinsic call" :
                      "the address", str(v, e), v->var->u.var.name), NULL;
    case TE_CALL: return vec_call(v, e);
    case TE_LOAD: return vec_load(v, e);
    case TE_ACCESS:
    case TE_REDUCE:
    case TE_RAMP:
    case TE_BROADCAST:
    case TE_NUM_EXPR_KINDS:
        break;
    }
    return cannot(v, "it holds %s, which has no place in a loop nest", str(v, e)), NULL;
}

/* ---- statements ---- */

/* True when some (vectorized) index is a ramp of nonzero constant stride, which gives
 * every lane its own element. */
static bool one_element_per_lane(int n, TsExpr *const *indices)
{
    for (int i = 0; i < n; i++) {
        int64_t stride;
        if (indices[i]->kind == TE_RAMP && te_const_int(indices[i]->u.ramp.stride, &stride) &&
            stride != 0)
            return true;
    }
    return false;
}

/* A variable bound inside the loop that one of the indices uses, or NULL. */
static const TsExpr *inner_variable(const Vectorizer *v, int n, TsExpr *const *indices)
{
    for (int b = 0; b < v->num_bound; b++)
        for (int i = 0; i < n; i++)
            if (te_expr_uses_var(indices[i], bound_var(v->bound[b])))
                return bound_var(v->bound[b]);
    return NULL;
}

enum { MAX_INNER_RANGES = 16 };

static int64_t gcd(int64_t a, int64_t b)
{
    a = a < 0 ? -a : a;
    b = b < 0 ? -b : b;
    while (b) {
        int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* One term of a linear form: coef * var (var NULL for the lanes), var in a range of
 * extent values. */
typedef struct Term {
    const TsExpr *var;
    int64_t coef, extent;
} Term;

enum { MAX_TERMS = MAX_INNER_RANGES + 1 };

/* Adds scale * e to the linear form terms[] (one term per variable, constants
 * dropped); false when e is not linear in its variables. */
static bool linear_terms(const TsExpr *e, int64_t scale, Term *terms, int *num_terms)
{
    int64_t c;
    if (scale > INT32_MAX || scale < -(int64_t)INT32_MAX)
        return false;
    if (e->kind == TE_INT)
        return true;
    if (e->kind == TE_VAR) {
        int t = 0;
        while (t < *num_terms && terms[t].var != e)
            t++;
        if (t == *num_terms) {
            if (t == MAX_TERMS)
                return false;
            terms[(*num_terms)++] = (Term){ e, 0, 0 };
        }
        terms[t].coef += scale;
        return true;
    }
    if (e->kind == TE_ADD || e->kind == TE_SUB)
        return linear_terms(e->u.op.a, scale, terms, num_terms) &&
               linear_terms(e->u.op.b, e->kind == TE_SUB ? -scale : scale, terms, num_terms);
    if (e->kind != TE_MUL)
        return false;
    const TsExpr *term = te_const_int(e->u.op.b, &c)   ? e->u.op.a
                         : te_const_int(e->u.op.a, &c) ? e->u.op.b
                                                       : NULL;
    return term && linear_terms(term, scale * c, terms, num_terms);
}

/* Whether lane offsets stride * l (l < v->lanes) and the moves of a linear base never
 * coincide for different lanes: either every move is a multiple of a step larger than
 * stride * (lanes - 1), or the terms, lanes included, form a mixed radix (each weight
 * beyond the reach of all smaller ones together, as the strides of a dense buffer
 * are), which makes every (lane, iteration) pair its own element. */
static bool lanes_apart(const Vectorizer *v, int64_t stride, Term *terms, int num_terms,
                        const TeRange *ranges, int num_ranges)
{
    int64_t step = 0;
    for (int t = 0; t < num_terms; t++)
        step = gcd(step, terms[t].coef);
    if (step > stride * (v->lanes - 1))
        return true;
    int n = 0;
    Term sorted[MAX_TERMS + 1];
    for (int t = 0; t < num_terms; t++) {
        if (terms[t].coef == 0)
            continue;
        int r = 0;
        while (r < num_ranges && ranges[r].var != terms[t].var)
            r++;
        if (r == num_ranges)
            return false; /* an outer variable that did not cancel */
        sorted[n++] = (Term){ terms[t].var, terms[t].coef < 0 ? -terms[t].coef : terms[t].coef,
                              ranges[r].max - ranges[r].min + 1 };
    }
    sorted[n++] = (Term){ NULL, stride, v->lanes };
    for (int i = 1; i < n; i++) /* insertion sort by weight: a handful of terms */
        for (int j = i; j > 0 && sorted[j].coef < sorted[j - 1].coef; j--) {
            Term swap = sorted[j];
            sorted[j] = sorted[j - 1];
            sorted[j - 1] = swap;
        }
    int64_t reach = 0; /* the largest offset the smaller weights reach together */
    for (int i = 0; i < n; i++) {
        if (sorted[i].coef <= reach || reach > ((int64_t)1 << 40))
            return false;
        reach += sorted[i].coef * (sorted[i].extent - 1);
    }
    return true;
}

/* True when index is ramp(base, s, n) with a constant s != 0 and no lane can reach
 * another lane's element in any iteration of the loops inside the vectorized one: base
 * spans less than |s| (C[i * 8 + k] over a vectorized i and an inner k < 8), or
 * lanes_apart holds for its moves (C[(n * 6 + y) * 10 + x] over a vectorized y and
 * inner n, x). Both are judged on base minus base at the inner loops' mins, simplified
 * with their ranges so the outer variables cancel; a let variable or an inner loop of
 * non-constant bounds in base gives false. */
static bool base_keeps_lanes_apart(Vectorizer *v, const TsExpr *index)
{
    int64_t stride, lo, hi;
    if (index->kind != TE_RAMP || !te_const_int(index->u.ramp.stride, &stride) || stride == 0)
        return false;
    stride = stride < 0 ? -stride : stride;
    TsExpr *base = index->u.ramp.base, *base_at_mins = base;
    TeRange ranges[MAX_INNER_RANGES];
    int num_ranges = 0;
    for (int b = 0; b < v->num_bound; b++) {
        const TeStmt *binder = v->bound[b];
        TsExpr *var = bound_var(binder);
        int64_t min, extent;
        if (!te_expr_uses_var(base, var))
            continue;
        if (binder->kind != TE_STMT_FOR || !te_const_int(binder->u.loop.min, &min) ||
            !te_const_int(binder->u.loop.extent, &extent) || extent < 1 ||
            num_ranges == MAX_INNER_RANGES)
            return false;
        ranges[num_ranges++] = (TeRange){ var, min, min + extent - 1 };
        base_at_mins = te_substitute(v->arena, base_at_mins, 1, (const TsExpr *const[]){ var },
                                     (TsExpr *const[]){ binder->u.loop.min });
    }
    TsExpr *moved = te_simplify_expr(v->arena, ts_sub(v->arena, base, base_at_mins),
                                     num_ranges, ranges);
    if (!moved)
        return false;
    if (te_const_bounds(moved, num_ranges, ranges, &lo, &hi) && hi - lo < stride)
        return true;
    Term terms[MAX_TERMS];
    int num_terms = 0;
    return linear_terms(moved, 1, terms, &num_terms) &&
           lanes_apart(v, stride, terms, num_terms, ranges, num_ranges);
}

/* The index gives each lane elements no other lane touches, in every iteration of the
 * loops inside: see base_keeps_lanes_apart. */
static bool private_across_iterations(Vectorizer *v, int n, TsExpr *const *indices)
{
    for (int i = 0; i < n; i++)
        if (base_keeps_lanes_apart(v, indices[i]))
            return true;
    return false;
}

/* The rules that keep the order of lanes unobservable (see the file comment). A buffer
 * the loop writes at a varying index is written by one store and read nowhere, or
 * accessed everywhere through that store's index, which gives each lane its own
 * elements; in both cases the index may move with an inner loop only by less than its
 * stride. A store to a fixed address writes the same value from every lane to a buffer
 * the loop does not read, so doing it once is the same. */
static bool check_store(Vectorizer *v, TeStmt *s, TsExpr *const *indices, bool index_varies,
                        bool value_varies)
{
    const TeBuffer *buffer = s->u.store.buffer;
    const char *name = v->var->u.var.name;
    if (!index_varies) {
        if (value_varies)
            return cannot(v, "the store to %s at an address that does not depend on %s gets "
                          "a value that does (a reduction across lanes)", buffer->name, name);
        if (buffer_is_read(v, buffer))
            return cannot(v, "the store to %s at an address that does not depend on %s writes "
                          "a buffer the loop reads", buffer->name, name);
        return true;
    }
    const TsExpr *inner = inner_variable(v, s->u.store.num_indices, indices);
    if (inner && !private_across_iterations(v, s->u.store.num_indices, indices))
        return cannot(v, "the index of the store to %s depends on %s, which is bound inside "
                      "the loop, so lanes of %s may write each other's elements", buffer->name,
                      inner->u.var.name, name);
    int uses = 0;
    for (int i = 0; i < v->num_accesses; i++) {
        const Access *a = &v->accesses[i];
        if (a->buffer != buffer)
            continue;
        uses++;
        if (a->num_indices != s->u.store.num_indices ||
            !list_equal(a->num_indices, a->indices, s->u.store.indices))
            return cannot(v, "%s is written and also accessed at another index in the loop, so "
                          "lanes of %s may depend on each other", buffer->name, name);
    }
    if (uses > 1 && !one_element_per_lane(s->u.store.num_indices, indices))
        return cannot(v, "%s is written and accessed again in the loop at an index that is not "
                      "one address per lane of %s", buffer->name, name);
    return true;
}

/* Whether evaluating e can read memory or fail (a load, a division or shift by a
 * non-constant), so that under a mask it must be evaluated only in active lanes. */
static TeVisit find_hazard(void *ctx, const TsExpr *e)
{
    bool hazard = e->kind == TE_LOAD || e->kind == TE_INTRINSIC;
    if (e->kind == TE_DIV || e->kind == TE_MOD || e->kind == TE_FLOORDIV ||
        e->kind == TE_FLOORMOD || e->kind == TE_SHL || e->kind == TE_SHR) {
        const TsExpr *b = e->u.op.b;
        if (b->kind == TE_BROADCAST)
            b = b->u.broadcast.value;
        hazard = !ts_dtype_is_float(e->dtype) && b->kind != TE_INT;
    }
    if (hazard)
        *(bool *)ctx = true;
    return hazard ? TE_VISIT_STOP : TE_VISIT_CHILDREN;
}

static bool has_hazard(const TsExpr *e)
{
    bool hazard = false;
    TeVisitor visitor = { .expr = find_hazard, .ctx = &hazard };
    te_visit_expr(e, &visitor);
    return hazard;
}

/* x (vectorized) evaluated only in the lanes of v->mask when it could read memory or
 * fail: if_then_else(mask, x, zero), whose loads codegen makes masked. */
static TsExpr *under_mask(Vectorizer *v, TsExpr *x)
{
    if (!x || !v->mask || !has_hazard(x))
        return x;
    TsDType scalar = ts_dtype_with_lanes(x->dtype, 1);
    TsExpr *zero = ts_cast(v->arena, scalar, ts_i32(v->arena, 0));
    return zero ? ts_if_then_else(v->arena, v->mask, widen(v, x), widen(v, zero)) : NULL;
}

static TeStmt *vec_stmt(Vectorizer *v, TeStmt *s);

static TeStmt *vec_store(Vectorizer *v, TeStmt *s)
{
    TsExpr *indices[TS_MAX_DIMS];
    bool index_varies;
    if (!vec_indices(v, s->u.store.num_indices, s->u.store.indices, indices, &index_varies))
        return NULL;
    TsExpr *value = vec_expr(v, s->u.store.value);
    if (!value)
        return NULL;
    bool value_varies = value->dtype.lanes > 1;
    if (!check_store(v, s, indices, index_varies, value_varies))
        return NULL;
    if (!index_varies && !v->mask)
        return s; /* the same value to the same place in every lane: once is enough */
    if (!index_varies) /* ... but only if some lane runs it: a masked scatter to one place */
        indices[s->u.store.num_indices - 1] = widen(v, indices[s->u.store.num_indices - 1]);
    return te_store_masked(v->arena, s->u.store.buffer, s->u.store.num_indices, indices,
                           widen(v, value), s->u.store.flat, v->mask);
}

static TeStmt *vec_for(Vectorizer *v, TeStmt *s)
{
    TsExpr *min = vec_expr(v, s->u.loop.min);
    TsExpr *extent = min ? vec_expr(v, s->u.loop.extent) : NULL;
    if (!extent)
        return NULL;
    if (min != s->u.loop.min || extent != s->u.loop.extent)
        return cannot(v, "the bounds of the inner loop %s depend on %s",
                      s->u.loop.var->u.var.name, v->var->u.var.name), NULL;
    if (v->mask && (has_hazard(min) || has_hazard(extent)))
        return cannot(v,
                      "the bounds of the inner loop %s, under a condition that depends on "
                      "%s, read memory or may fail",
                      s->u.loop.var->u.var.name, v->var->u.var.name),
               NULL;
    TeStmt *body = vec_stmt(v, s->u.loop.body);
    if (!body || body == s->u.loop.body)
        return body ? s : NULL;
    return te_for(v->arena, s->u.loop.var, s->u.loop.min, s->u.loop.extent, s->u.loop.for_kind,
                  s->u.loop.num_pragmas, s->u.loop.pragmas, body);
}

/* One branch of an if whose condition varies, run under mask. */
static TeStmt *vec_masked(Vectorizer *v, TeStmt *branch, TsExpr *mask)
{
    TsExpr *outer = v->mask;
    v->mask = mask;
    TeStmt *out = mask ? vec_stmt(v, branch) : NULL;
    v->mask = outer;
    return out;
}

/* An if whose condition varies with the lanes runs both branches, each under a lane
 * mask (its condition, or its negation, and the mask around it): their stores become
 * masked stores, and what they compute that could read memory or fail is evaluated only
 * in the active lanes, so a lane whose condition is false touches no memory. */
static TeStmt *vec_if(Vectorizer *v, TeStmt *s)
{
    TsExpr *cond = under_mask(v, vec_expr(v, s->u.if_then.cond));
    if (!cond)
        return NULL;
    if (cond->dtype.lanes > 1) {
        TsExpr *then_mask = v->mask ? ts_and(v->arena, v->mask, cond) : cond;
        TeStmt *then_case = vec_masked(v, s->u.if_then.then_case, then_mask);
        if (!then_case || !s->u.if_then.else_case)
            return then_case;
        TsExpr *not_cond = ts_not(v->arena, cond);
        TsExpr *else_mask = v->mask && not_cond ? ts_and(v->arena, v->mask, not_cond) : not_cond;
        TeStmt *else_case = vec_masked(v, s->u.if_then.else_case, else_mask);
        return else_case ? te_seq(v->arena, 2, (TeStmt *const[]){ then_case, else_case }) : NULL;
    }
    TeStmt *then_case = vec_stmt(v, s->u.if_then.then_case);
    TeStmt *else_case = NULL;
    if (!then_case)
        return NULL;
    if (s->u.if_then.else_case && !(else_case = vec_stmt(v, s->u.if_then.else_case)))
        return NULL;
    if (cond == s->u.if_then.cond && then_case == s->u.if_then.then_case &&
        else_case == s->u.if_then.else_case)
        return s;
    return te_if(v->arena, cond, then_case, else_case, s->u.if_then.likely);
}

/* A let whose value varies binds a vector variable of the same name in its body. */
static TeStmt *vec_let(Vectorizer *v, TeStmt *s)
{
    TsExpr *value = under_mask(v, vec_expr(v, s->u.let.value));
    if (!value)
        return NULL;
    TsExpr *var = s->u.let.var;
    Rebind rebind = { var, NULL, v->rebinds };
    if (value->dtype.lanes > 1) {
        var = ts_variable(v->arena, var->u.var.name, value->dtype);
        if (!var)
            return NULL;
        rebind.vector = var;
        v->rebinds = &rebind;
    }
    TeStmt *body = vec_stmt(v, s->u.let.body);
    v->rebinds = rebind.next;
    if (!body)
        return NULL;
    if (value == s->u.let.value && body == s->u.let.body)
        return s;
    return te_let(v->arena, var, value, body);
}

static TeStmt *vec_seq(Vectorizer *v, TeStmt *s)
{
    int n = s->u.seq.num_stmts;
    TeStmt **items = s->u.seq.stmts;
    for (int i = 0; i < n; i++) {
        TeStmt *x = vec_stmt(v, s->u.seq.stmts[i]);
        if (!x)
            return NULL;
        if (x != s->u.seq.stmts[i] && items == s->u.seq.stmts) {
            items = ts_arena_alloc(v->arena, sizeof *items * (size_t)n);
            if (!items)
                return NULL;
            memcpy(items, s->u.seq.stmts, sizeof *items * (size_t)n);
        }
        items[i] = x;
    }
    return items == s->u.seq.stmts ? s : te_seq(v->arena, n, items);
}

/* The statement over all lanes; NULL as for vec_expr. */
static TeStmt *vec_stmt(Vectorizer *v, TeStmt *s)
{
    switch (s->kind) {
    case TE_STMT_FOR: return vec_for(v, s);
    case TE_STMT_STORE: return vec_store(v, s);
    case TE_STMT_ALLOCATE: {
        TeStmt *body = vec_stmt(v, s->u.allocate.body);
        if (!body || body == s->u.allocate.body)
            return body ? s : NULL;
        return te_allocate(v->arena, s->u.allocate.buffer, body);
    }
    case TE_STMT_IF: return vec_if(v, s);
    case TE_STMT_LET: return vec_let(v, s);
    case TE_STMT_SEQ: return vec_seq(v, s);
    case TE_STMT_CALL:
        return cannot(v, "it calls the target intrinsic %s for its effect, once per "
                      "iteration; the call cannot be widened", s->u.call.name), NULL;
    case TE_STMT_TENSORIZE:
        return cannot(v, "it holds the tensorized region %s: an intrinsic's lanes are its "
                      "own business", s->u.tensorize.name), NULL;
    case TE_NUM_STMT_KINDS: break;
    }
    return cannot(v, "it holds a statement of unknown kind %d", (int)s->kind), NULL;
}

/* ---- the pass ---- */

typedef struct Walk {
    const SchLowerOptions *options;
    TsError *err;
    bool failed; /* err holds a vectorization failure */
    TeMutator self;
} Walk;

/* The loop's extent as a constant, after simplification; false when it is not one. */
static bool const_extent(TsArena *arena, TsExpr *extent, int64_t *value)
{
    if (te_const_int(extent, value))
        return true;
    TsExpr *simplified = te_simplify_expr(arena, extent, 0, NULL);
    return simplified && te_const_int(simplified, value);
}

/* The loop as vector code, or NULL with v->has_reason set or an arena error. */
static TeStmt *vectorize_loop(TsArena *arena, TeStmt *loop, TeStmt *body, Vectorizer *v)
{
    int64_t extent;
    if (!const_extent(arena, loop->u.loop.extent, &extent))
        return cannot(v, "its extent %s is not a constant", str(v, loop->u.loop.extent)), NULL;
    if (extent <= 0)
        return te_seq(arena, 0, NULL);
    if (extent == 1)
        return te_substitute_stmt(arena, body, 1, (const TsExpr *const[]){ loop->u.loop.var },
                                  (TsExpr *const[]){ loop->u.loop.min });
    if (extent > MAX_LANES)
        return cannot(v, "its extent %lld exceeds %d lanes", (long long)extent, MAX_LANES),
               NULL;
    v->var = loop->u.loop.var;
    v->lanes = (int)extent;
    v->ramp = te_ramp(arena, loop->u.loop.min, ts_i32(arena, 1), v->lanes);
    if (!v->ramp || !scan_body(v, body))
        return NULL;
    return vec_stmt(v, body);
}

static TeStmt *visit_loop(void *ctx, TsArena *arena, TeStmt *s)
{
    Walk *p = ctx;
    if (s->kind != TE_STMT_FOR || s->u.loop.for_kind != TE_FOR_VECTORIZED)
        return NULL;
    /* Inner vectorized loops first. */
    TeStmt *body = te_mutate_stmt(arena, s->u.loop.body, &p->self);
    if (!body)
        return TE_MUTATE_STMT_FAILED;
    Vectorizer v = { .arena = arena };
    TeStmt *out = vectorize_loop(arena, s, body, &v);
    if (out)
        return out;
    if (!v.has_reason)
        return TE_MUTATE_STMT_FAILED; /* a builder failed: the arena has the error */
    const char *name = s->u.loop.var->u.var.name;
    if (!p->options || !p->options->allow_scalar_fallback) {
        ts_fail(p->err, TS_ECODEGEN, "vectorize: cannot vectorize loop %s: %s", name, v.reason);
        p->failed = true;
        return TE_MUTATE_STMT_FAILED;
    }
    fprintf(stderr, "vectorize: keeping loop %s scalar: %s\n", name, v.reason);
    out = te_for(arena, s->u.loop.var, s->u.loop.min, s->u.loop.extent, TE_FOR_SERIAL,
                 s->u.loop.num_pragmas, s->u.loop.pragmas, body);
    return out ? out : TE_MUTATE_STMT_FAILED;
}

TsLoweredFunc *sch_pass_vectorize(TsArena *arena, TsLoweredFunc *func,
                                  const SchLowerOptions *options, TsError *err)
{
    Walk p = { .options = options, .err = err };
    p.self = (TeMutator){ .stmt = visit_loop, .ctx = &p };
    TeStmt *body = te_mutate_stmt(arena, func->body, &p.self);
    TsLoweredFunc *out = !body ? NULL : body == func->body ? func
                                                           : sch_func_with_body(arena, func, body);
    if (!out && !p.failed && ts_arena_check(arena, err) == TS_OK)
        ts_fail(err, TS_ENOMEM, "vectorize of %s failed", func->name);
    return out;
}
