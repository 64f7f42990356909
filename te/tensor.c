/* Tensors: placeholders and compute ops, the checks a compute body must pass, and the
 * topological order of a DAG of stages.
 *
 * A compute body is checked when the op is built, so that every later stage (schedule,
 * lowering, codegen) can rely on it: only its own axes and the reduce axes of its own
 * reduction appear in it, a reduction is the whole body, and an access whose index is
 * an exact affine function of axes stays inside the tensor unless a conditional guards
 * it. */
#include <string.h>

#include "te_internal.h"

/* ---- placeholders ---- */

static bool check_name(TsArena *arena, const char *what, const char *name)
{
    if (!name || !name[0]) {
        ts_arena_fail(arena, TS_EINVAL, "%s: the name is empty", what);
        return false;
    }
    return true;
}

TsTensor *ts_placeholder(TsArena *arena, const char *name, int ndim, const int64_t *shape,
                         TsDType dtype)
{
    char b[TS_DTYPE_STR_MAX];
    if (!check_name(arena, "placeholder", name))
        return NULL;
    if (!ts_dtype_is_valid(dtype) || dtype.lanes != 1) {
        ts_arena_fail(arena, TS_EINVAL, "placeholder %s: dtype %s is not a valid scalar type",
                      name, ts_dtype_str(dtype, b));
        return NULL;
    }
    if (ndim < 0 || ndim > TS_MAX_DIMS || (ndim > 0 && !shape)) {
        ts_arena_fail(arena, TS_EINVAL, "placeholder %s: %d dimensions (at most %d)", name, ndim,
                      TS_MAX_DIMS);
        return NULL;
    }
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 1 || shape[i] > TS_MAX_EXTENT) {
            ts_arena_fail(arena, TS_EINVAL, "placeholder %s: dimension %d has extent %lld, "
                          "outside [1, %lld]", name, i, (long long)shape[i],
                          (long long)TS_MAX_EXTENT);
            return NULL;
        }
    }
    TsTensor *t = ts_arena_alloc(arena, sizeof *t);
    TsExpr **dims = ts_arena_alloc(arena, sizeof *dims * (size_t)(ndim ? ndim : 1));
    if (!t || !dims)
        return NULL;
    for (int i = 0; i < ndim; i++)
        if (!(dims[i] = ts_i32(arena, shape[i])))
            return NULL;
    t->op = TE_OP_PLACEHOLDER;
    t->name = ts_arena_strdup(arena, name);
    t->tag = "";
    t->dtype = dtype;
    t->ndim = ndim;
    t->shape = dims;
    return t->name ? t : NULL;
}

/* ---- checking a compute body ---- */

typedef struct {
    TsArena *arena;
    const char *name;      /* the compute op's */
    int ndim;
    TsAxis *const *axes;   /* its data-parallel axes */
    const TsExpr *reduce;  /* the top-level reduction, or NULL */
    TsTensor **inputs;     /* distinct tensors read, in order of first use */
    int num_inputs;
    int inputs_cap;
} BodyCheck;

static bool own_axis(const BodyCheck *c, const TsAxis *ax)
{
    for (int i = 0; i < c->ndim; i++)
        if (c->axes[i] == ax)
            return true;
    if (c->reduce)
        for (int i = 0; i < c->reduce->u.reduce.num_axes; i++)
            if (c->reduce->u.reduce.axes[i] == ax)
                return true;
    return false;
}

static bool add_input(BodyCheck *c, TsTensor *t)
{
    for (int i = 0; i < c->num_inputs; i++)
        if (c->inputs[i] == t)
            return true;
    if (c->num_inputs == c->inputs_cap) {
        int cap = c->inputs_cap ? 2 * c->inputs_cap : 4;
        TsTensor **grown = ts_arena_alloc(c->arena, sizeof *grown * (size_t)cap);
        if (!grown)
            return false;
        if (c->num_inputs)
            memcpy(grown, c->inputs, sizeof *grown * (size_t)c->num_inputs);
        c->inputs = grown;
        c->inputs_cap = cap;
    }
    c->inputs[c->num_inputs++] = t;
    return true;
}

/* The exact range [lo, hi] of an index that is a sum of distinct axes times constants
 * plus a constant. Returns false for any other shape of index (nothing is claimed). */
typedef struct {
    const TsAxis *seen[2 * TS_MAX_DIMS + 8];
    int num_seen;
} AffineAxes;

static bool affine_range(const TsExpr *e, AffineAxes *seen, int64_t *lo, int64_t *hi)
{
    int64_t a_lo, a_hi, b_lo, b_hi, k;
    switch (e->kind) {
    case TE_INT:
        *lo = *hi = e->u.int_value;
        return true;
    case TE_VAR: {
        const TsAxis *ax = e->u.var.axis;
        if (!ax || seen->num_seen == (int)(sizeof seen->seen / sizeof seen->seen[0]))
            return false;
        for (int i = 0; i < seen->num_seen; i++)
            if (seen->seen[i] == ax)
                return false; /* an axis used twice: the range would not be exact */
        seen->seen[seen->num_seen++] = ax;
        *lo = 0;
        *hi = ts_axis_extent(ax) - 1;
        return *hi >= 0;
    }
    case TE_ADD:
    case TE_SUB:
        if (!affine_range(e->u.op.a, seen, &a_lo, &a_hi) ||
            !affine_range(e->u.op.b, seen, &b_lo, &b_hi))
            return false;
        *lo = e->kind == TE_ADD ? a_lo + b_lo : a_lo - b_hi;
        *hi = e->kind == TE_ADD ? a_hi + b_hi : a_hi - b_lo;
        return true;
    case TE_MUL: {
        const TsExpr *term = e->u.op.a;
        if (te_const_int(e->u.op.a, &k))
            term = e->u.op.b;
        else if (!te_const_int(e->u.op.b, &k))
            return false;
        if (!affine_range(term, seen, &a_lo, &a_hi))
            return false;
        *lo = k >= 0 ? a_lo * k : a_hi * k;
        *hi = k >= 0 ? a_hi * k : a_lo * k;
        return true;
    }
    default:
        return false;
    }
}

static bool check_access_bounds(BodyCheck *c, const TsExpr *e)
{
    const TsTensor *t = e->u.access.tensor;
    for (int i = 0; i < e->u.access.num_indices; i++) {
        AffineAxes seen = { .num_seen = 0 };
        int64_t lo, hi, dim;
        if (!te_const_int(t->shape[i], &dim) ||
            !affine_range(e->u.access.indices[i], &seen, &lo, &hi))
            continue;
        if (lo < 0 || hi >= dim) {
            ts_arena_fail(c->arena, TS_EINVAL, "compute %s: index %d of %s (%s) ranges over "
                          "[%lld, %lld], outside [0, %lld); guard it with ts_if_then_else",
                          c->name, i, t->name, te_expr_str(c->arena, e->u.access.indices[i]),
                          (long long)lo, (long long)hi, (long long)dim);
            return false;
        }
    }
    return true;
}

/* Walks the body. guarded is true below an if_then_else branch or a conditional
 * reduction, where an out-of-range index may be legal. */
static bool check_body(BodyCheck *c, const TsExpr *e, bool guarded)
{
    switch (e->kind) {
    case TE_INT:
    case TE_FLOAT:
        return true;
    case TE_VAR: {
        const TsAxis *ax = e->u.var.axis;
        if (!ax) {
            ts_arena_fail(c->arena, TS_EINVAL, "compute %s: variable %s is not an axis of this "
                          "compute op (free variables are not allowed in a body)", c->name,
                          e->u.var.name);
            return false;
        }
        if (own_axis(c, ax))
            return true;
        if (ax->is_reduce)
            ts_arena_fail(c->arena, TS_EINVAL, "compute %s: reduce axis %s is used outside its "
                          "reduction", c->name, ax->name);
        else
            ts_arena_fail(c->arena, TS_EINVAL, "compute %s: axis %s is not one of its output "
                          "axes", c->name, ax->name);
        return false;
    }
    case TE_LOAD:
    case TE_RAMP:
    case TE_BROADCAST:
    case TE_ADDRESS:
        ts_arena_fail(c->arena, TS_EINVAL, "compute %s: %s is a loop-nest node, not part of a "
                      "tensor expression", c->name, te_expr_str(c->arena, e));
        return false;
    case TE_REDUCE:
        ts_arena_fail(c->arena, TS_EINVAL, "compute %s: a reduction must be the whole body "
                      "(found %s nested inside it); compute it as a stage of its own",
                      c->name, te_expr_str(c->arena, e));
        return false;
    case TE_ACCESS:
        if (!add_input(c, e->u.access.tensor))
            return false;
        for (int i = 0; i < e->u.access.num_indices; i++)
            if (!check_body(c, e->u.access.indices[i], guarded))
                return false;
        return guarded || check_access_bounds(c, e);
    case TE_SELECT:
        return check_body(c, e->u.select.cond, guarded) &&
               check_body(c, e->u.select.then_value, guarded) &&
               check_body(c, e->u.select.else_value, guarded);
    case TE_IF_THEN_ELSE:
        return check_body(c, e->u.select.cond, guarded) &&
               check_body(c, e->u.select.then_value, true) &&
               check_body(c, e->u.select.else_value, true);
    case TE_CAST:
    case TE_REINTERPRET:
        return check_body(c, e->u.cast.value, guarded);
    case TE_INTRINSIC:
        for (int i = 0; i < e->u.intrinsic.num_args; i++)
            if (!check_body(c, e->u.intrinsic.args[i], guarded))
                return false;
        return true;
    case TE_CALL:
        return check_body(c, e->u.call.args[0], guarded) &&
               (!e->u.call.args[1] || check_body(c, e->u.call.args[1], guarded));
    case TE_ADD: case TE_SUB: case TE_MUL: case TE_DIV: case TE_MOD: case TE_FLOORDIV:
    case TE_FLOORMOD: case TE_MIN: case TE_MAX: case TE_EQ: case TE_NE: case TE_LT: case TE_LE:
    case TE_GT: case TE_GE: case TE_AND: case TE_OR: case TE_NOT: case TE_BITAND: case TE_BITOR:
    case TE_BITXOR: case TE_BITNOT: case TE_SHL: case TE_SHR: case TE_POPCOUNT:
        return check_body(c, e->u.op.a, guarded) &&
               (!e->u.op.b || check_body(c, e->u.op.b, guarded));
    case TE_NUM_EXPR_KINDS:
        break;
    }
    return false;
}

static bool check_axes(TsArena *arena, const char *name, int ndim, TsAxis *const *axes)
{
    if (ndim < 0 || ndim > TS_MAX_DIMS || (ndim > 0 && !axes)) {
        ts_arena_fail(arena, TS_EINVAL, "compute %s: %d output axes (at most %d)", name, ndim,
                      TS_MAX_DIMS);
        return false;
    }
    for (int i = 0; i < ndim; i++) {
        if (!axes[i])
            return false;
        if (axes[i]->is_reduce) {
            ts_arena_fail(arena, TS_EINVAL, "compute %s: output axis %s is a reduce axis", name,
                          axes[i]->name);
            return false;
        }
        if (axes[i]->owner) {
            ts_arena_fail(arena, TS_EINVAL, "compute %s: axis %s already belongs to compute %s; "
                          "make new axes for each compute op", name, axes[i]->name,
                          axes[i]->owner->name);
            return false;
        }
        for (int j = 0; j < i; j++) {
            if (axes[j] == axes[i]) {
                ts_arena_fail(arena, TS_EINVAL, "compute %s: axis %s is listed twice", name,
                              axes[i]->name);
                return false;
            }
        }
    }
    return true;
}

/* Checks body against axes and builds the op. bind_axes marks the axes as owned by
 * the new op (ts_compute); a rewrite of an existing op keeps them (te_compute_rewrite). */
static TsTensor *build_compute(TsArena *arena, const char *name, const char *tag, int ndim,
                               TsAxis *const *axes, TsExpr *body, bool bind_axes)
{
    BodyCheck c = { .arena = arena, .name = name, .ndim = ndim, .axes = axes };
    bool ok;
    if (body->kind == TE_REDUCE) {
        c.reduce = body;
        ok = check_body(&c, body->u.reduce.source, body->u.reduce.cond != NULL) &&
             (!body->u.reduce.cond || check_body(&c, body->u.reduce.cond, false));
    } else {
        ok = check_body(&c, body, false);
    }
    if (!ok)
        return NULL;
    TsTensor *t = ts_arena_alloc(arena, sizeof *t);
    TsExpr **dims = ts_arena_alloc(arena, sizeof *dims * (size_t)(ndim ? ndim : 1));
    TsAxis **axes_copy = ts_arena_alloc(arena, sizeof *axes_copy * (size_t)(ndim ? ndim : 1));
    if (!t || !dims || !axes_copy)
        return NULL;
    for (int i = 0; i < ndim; i++) {
        dims[i] = axes[i]->extent;
        axes_copy[i] = axes[i];
        if (bind_axes)
            axes[i]->owner = t; /* binding the axis is the last step of building the op */
    }
    t->op = TE_OP_COMPUTE;
    t->name = ts_arena_strdup(arena, name);
    t->tag = tag ? ts_arena_strdup(arena, tag) : "";
    t->dtype = body->dtype;
    t->ndim = ndim;
    t->shape = dims;
    t->axes = axes_copy;
    t->body = body;
    t->num_inputs = c.num_inputs;
    t->inputs = c.inputs;
    return t->name && t->tag ? t : NULL;
}

TsTensor *ts_compute_tagged(TsArena *arena, const char *name, const char *tag, int ndim,
                            TsAxis *const *axes, TsExpr *body)
{
    if (!check_name(arena, "compute", name) || !check_axes(arena, name, ndim, axes) || !body)
        return NULL;
    return build_compute(arena, name, tag, ndim, axes, body, true);
}

TsTensor *te_compute_rewrite(TsArena *arena, const TsTensor *op, const char *name, TsExpr *body)
{
    if (!op || !body || op->op != TE_OP_COMPUTE)
        return NULL;
    return build_compute(arena, name ? name : op->name, op->tag, op->ndim, op->axes, body, false);
}

TsTensor *ts_compute(TsArena *arena, const char *name, int ndim, TsAxis *const *axes,
                     TsExpr *body)
{
    return ts_compute_tagged(arena, name, NULL, ndim, axes, body);
}

/* ---- accessors ---- */

const char *ts_tensor_name(const TsTensor *t) { return t ? t->name : NULL; }
const char *ts_tensor_tag(const TsTensor *t) { return t ? t->tag : NULL; }
TsDType ts_tensor_dtype(const TsTensor *t) { return t ? t->dtype : ts_dtype(0, 0, 0); }
int ts_tensor_ndim(const TsTensor *t) { return t ? t->ndim : -1; }
bool ts_tensor_is_placeholder(const TsTensor *t) { return t && t->op == TE_OP_PLACEHOLDER; }

int64_t ts_tensor_dim(const TsTensor *t, int i)
{
    int64_t v;
    if (!t || i < 0 || i >= t->ndim || !te_const_int(t->shape[i], &v))
        return -1;
    return v;
}

TsExpr *ts_tensor_shape_expr(const TsTensor *t, int i)
{
    return t && i >= 0 && i < t->ndim ? t->shape[i] : NULL;
}

int64_t ts_tensor_num_elements(const TsTensor *t)
{
    if (!t)
        return -1;
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) {
        int64_t d = ts_tensor_dim(t, i);
        if (d < 0)
            return -1;
        if (n > INT64_MAX / d)
            return -1;
        n *= d;
    }
    return n;
}

TsAxis *ts_tensor_axis(const TsTensor *t, int i)
{
    return t && t->op == TE_OP_COMPUTE && i >= 0 && i < t->ndim ? t->axes[i] : NULL;
}

TsExpr *ts_tensor_body(const TsTensor *t)
{
    return t && t->op == TE_OP_COMPUTE ? t->body : NULL;
}

int ts_tensor_num_inputs(const TsTensor *t)
{
    return t && t->op == TE_OP_COMPUTE ? t->num_inputs : 0;
}

TsTensor *ts_tensor_input(const TsTensor *t, int i)
{
    return t && t->op == TE_OP_COMPUTE && i >= 0 && i < t->num_inputs ? t->inputs[i] : NULL;
}

/* ---- the DAG ---- */

typedef struct {
    TsArena *arena;
    TsTensor **order;
    int count;
    int cap;
} Topo;

static bool topo_seen(const Topo *topo, const TsTensor *t)
{
    for (int i = 0; i < topo->count; i++)
        if (topo->order[i] == t)
            return true;
    return false;
}

/* Depth-first, inputs before the tensor. Compute ops can only read tensors that existed
 * when they were built, so the graph has no cycles and the depth is the DAG's. */
static bool topo_visit(Topo *topo, TsTensor *t)
{
    if (topo_seen(topo, t))
        return true;
    for (int i = 0; i < ts_tensor_num_inputs(t); i++)
        if (!topo_visit(topo, t->inputs[i]))
            return false;
    if (topo->count == topo->cap) {
        int cap = topo->cap ? 2 * topo->cap : 8;
        TsTensor **grown = ts_arena_alloc(topo->arena, sizeof *grown * (size_t)cap);
        if (!grown)
            return false;
        if (topo->count)
            memcpy(grown, topo->order, sizeof *grown * (size_t)topo->count);
        topo->order = grown;
        topo->cap = cap;
    }
    topo->order[topo->count++] = t;
    return true;
}

int ts_dag_stages(TsArena *arena, int num_outputs, TsTensor *const *outputs, TsTensor ***stages)
{
    if (num_outputs < 1 || !outputs) {
        ts_arena_fail(arena, TS_EINVAL, "DAG: no output tensors given");
        return -1;
    }
    Topo topo = { .arena = arena };
    for (int i = 0; i < num_outputs; i++) {
        if (!outputs[i]) {
            ts_arena_fail(arena, TS_EINVAL, "DAG: output %d is NULL", i);
            return -1;
        }
        if (!topo_visit(&topo, outputs[i]))
            return -1;
    }
    *stages = topo.order;
    return topo.count;
}
