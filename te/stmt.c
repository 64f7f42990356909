/* Builders of the loop-nest IR: buffers, loads, addresses, ramps and broadcasts, and the
 * statements (for, store, allocate, if, let, sequence, intrinsic call) that lowering
 * produces and the loop passes rewrite. Each builder checks what later passes and codegen rely on: int32 indices and
 * loop bounds, index counts, value and buffer dtypes, matching vector lanes. */
#include <string.h>

#include "te_internal.h"

static const char *const stmt_kind_names[] = {
#define X(kind, name) name,
#include "stmt_kinds.def"
#undef X
};

const char *te_stmt_kind_name(TeStmtKind kind)
{
    return (unsigned)kind < TE_NUM_STMT_KINDS ? stmt_kind_names[kind] : "?";
}

const char *te_for_kind_name(TeForKind kind)
{
    switch (kind) {
    case TE_FOR_SERIAL: return "for";
    case TE_FOR_PARALLEL: return "parallel";
    case TE_FOR_VECTORIZED: return "vectorized";
    case TE_FOR_UNROLLED: return "unrolled";
    }
    return "?";
}

static bool is_int32(const TsExpr *e, bool allow_vector)
{
    return e->dtype.code == TS_TYPE_INT && e->dtype.bits == 32 &&
           (e->dtype.lanes == 1 || allow_vector);
}

TeBuffer *te_buffer(TsArena *arena, const char *name, const TsTensor *t, int ndim,
                    const int64_t *shape, TeBufferScope scope)
{
    if (!t)
        return NULL;
    if (!shape) {
        ndim = t->ndim;
    }
    if (ndim < 0 || ndim > TS_MAX_DIMS) {
        ts_arena_fail(arena, TS_EINVAL, "buffer %s: %d dimensions", name, ndim);
        return NULL;
    }
    TeBuffer *b = ts_arena_alloc(arena, sizeof *b);
    if (!b)
        return NULL;
    b->name = ts_arena_strdup(arena, name);
    b->dtype = t->dtype;
    b->ndim = ndim;
    b->tensor = t;
    b->scope = scope;
    int64_t n = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        int64_t d = shape ? shape[i] : ts_tensor_dim(t, i);
        if (d < 1 || d > TS_MAX_EXTENT) {
            ts_arena_fail(arena, TS_EINVAL, "buffer %s: dimension %d has extent %lld, outside "
                          "[1, %lld]", name, i, (long long)d, (long long)TS_MAX_EXTENT);
            return NULL;
        }
        if (n > TS_MAX_EXTENT / d) {
            ts_arena_fail(arena, TS_EINVAL, "buffer %s: more than %lld elements in all; int32 "
                          "index arithmetic cannot address it", name, (long long)TS_MAX_EXTENT);
            return NULL;
        }
        b->shape[i] = d;
        b->strides[i] = n;
        n *= d;
    }
    b->num_elements = n;
    return b->name ? b : NULL;
}

static bool check_indices(TsArena *arena, const char *what, const TeBuffer *buffer, int n,
                          TsExpr *const *indices, bool flat, int *lanes)
{
    if (!buffer)
        return false;
    int want = flat ? 1 : buffer->ndim;
    if (n != want || (n > 0 && !indices)) {
        ts_arena_fail(arena, TS_EINVAL, "%s of %s: %d indices, expected %d", what, buffer->name,
                      n, want);
        return false;
    }
    *lanes = 1;
    for (int i = 0; i < n; i++) {
        if (!indices[i])
            return false;
        if (!is_int32(indices[i], true)) {
            char b[TS_DTYPE_STR_MAX];
            ts_arena_fail(arena, TS_EINVAL, "%s of %s: index %d is %s, not int32", what,
                          buffer->name, i, ts_dtype_str(indices[i]->dtype, b));
            return false;
        }
        int l = indices[i]->dtype.lanes;
        if (l > 1 && *lanes > 1 && l != *lanes) {
            ts_arena_fail(arena, TS_EINVAL, "%s of %s: indices with %d and %d lanes", what,
                          buffer->name, *lanes, l);
            return false;
        }
        if (l > 1)
            *lanes = l;
    }
    return true;
}

static TsExpr **copy_exprs(TsArena *arena, int n, TsExpr *const *items)
{
    TsExpr **copy = ts_arena_alloc(arena, sizeof *copy * (size_t)(n ? n : 1));
    if (copy && n)
        memcpy(copy, items, sizeof *copy * (size_t)n);
    return copy;
}

TsExpr *te_load(TsArena *arena, const TeBuffer *buffer, int num_indices, TsExpr *const *indices,
                bool flat)
{
    int lanes;
    if (!check_indices(arena, "load", buffer, num_indices, indices, flat, &lanes))
        return NULL;
    TsExpr *e = ts_arena_alloc(arena, sizeof *e);
    TsExpr **copy = copy_exprs(arena, num_indices, indices);
    if (!e || !copy)
        return NULL;
    e->kind = TE_LOAD;
    e->dtype = ts_dtype_with_lanes(buffer->dtype, lanes);
    e->u.load.buffer = buffer;
    e->u.load.num_indices = num_indices;
    e->u.load.indices = copy;
    e->u.load.flat = flat;
    return e;
}

TsExpr *te_address(TsArena *arena, const TeBuffer *buffer, int num_indices,
                   TsExpr *const *indices, bool flat)
{
    int lanes;
    if (!check_indices(arena, "address", buffer, num_indices, indices, flat, &lanes))
        return NULL;
    if (lanes != 1) {
        ts_arena_fail(arena, TS_EINVAL, "address of %s: a vector index (%d lanes); an address "
                      "names one element", buffer->name, lanes);
        return NULL;
    }
    TsExpr *e = ts_arena_alloc(arena, sizeof *e);
    TsExpr **copy = copy_exprs(arena, num_indices, indices);
    if (!e || !copy)
        return NULL;
    e->kind = TE_ADDRESS;
    e->dtype = TS_UINT64;
    e->u.load.buffer = buffer;
    e->u.load.num_indices = num_indices;
    e->u.load.indices = copy;
    e->u.load.flat = flat;
    return e;
}

TsExpr *te_ramp(TsArena *arena, TsExpr *base, TsExpr *stride, int lanes)
{
    if (!base || !stride)
        return NULL;
    if (!is_int32(base, false) || !is_int32(stride, false) || lanes < 2 || lanes > 1024) {
        ts_arena_fail(arena, TS_EINVAL, "ramp(%s, %s, %d): needs int32 scalars and 2 to 1024 "
                      "lanes", te_expr_str(arena, base), te_expr_str(arena, stride), lanes);
        return NULL;
    }
    TsExpr *e = ts_arena_alloc(arena, sizeof *e);
    if (!e)
        return NULL;
    e->kind = TE_RAMP;
    e->dtype = ts_dtype_with_lanes(TS_INT32, lanes);
    e->u.ramp.base = base;
    e->u.ramp.stride = stride;
    e->u.ramp.lanes = lanes;
    return e;
}

TsExpr *te_broadcast(TsArena *arena, TsExpr *value, int lanes)
{
    if (!value)
        return NULL;
    if (value->dtype.lanes != 1 || lanes < 2 || lanes > 1024) {
        ts_arena_fail(arena, TS_EINVAL, "broadcast(%s, %d): needs a scalar and 2 to 1024 lanes",
                      te_expr_str(arena, value), lanes);
        return NULL;
    }
    TsExpr *e = ts_arena_alloc(arena, sizeof *e);
    if (!e)
        return NULL;
    e->kind = TE_BROADCAST;
    e->dtype = ts_dtype_with_lanes(value->dtype, lanes);
    e->u.broadcast.value = value;
    e->u.broadcast.lanes = lanes;
    return e;
}

static TeStmt *new_stmt(TsArena *arena, TeStmtKind kind)
{
    TeStmt *s = ts_arena_alloc(arena, sizeof *s);
    if (s)
        s->kind = kind;
    return s;
}

TeStmt *te_for(TsArena *arena, TsExpr *var, TsExpr *min, TsExpr *extent, TeForKind kind,
               int num_pragmas, const TePragma *pragmas, TeStmt *body)
{
    if (!var || !min || !extent || !body)
        return NULL;
    if (var->kind != TE_VAR || !is_int32(var, false) || !is_int32(min, false) ||
        !is_int32(extent, false)) {
        ts_arena_fail(arena, TS_EINVAL, "for %s: the variable, min and extent must be int32 "
                      "scalars", te_expr_str(arena, var));
        return NULL;
    }
    TeStmt *s = new_stmt(arena, TE_STMT_FOR);
    if (!s)
        return NULL;
    if (num_pragmas > 0) {
        TePragma *copy = ts_arena_alloc(arena, sizeof *copy * (size_t)num_pragmas);
        if (!copy)
            return NULL;
        memcpy(copy, pragmas, sizeof *copy * (size_t)num_pragmas);
        s->u.loop.pragmas = copy;
        s->u.loop.num_pragmas = num_pragmas;
    }
    s->u.loop.var = var;
    s->u.loop.min = min;
    s->u.loop.extent = extent;
    s->u.loop.for_kind = kind;
    s->u.loop.body = body;
    return s;
}

TeStmt *te_store(TsArena *arena, const TeBuffer *buffer, int num_indices, TsExpr *const *indices,
                 TsExpr *value, bool flat)
{
    int lanes;
    if (!value || !check_indices(arena, "store", buffer, num_indices, indices, flat, &lanes))
        return NULL;
    TsDType want = ts_dtype_with_lanes(buffer->dtype, lanes);
    if (!ts_dtype_eq(value->dtype, want)) {
        char b1[TS_DTYPE_STR_MAX], b2[TS_DTYPE_STR_MAX];
        ts_arena_fail(arena, TS_EINVAL, "store to %s: the value %s is %s, expected %s",
                      buffer->name, te_expr_str(arena, value), ts_dtype_str(value->dtype, b1),
                      ts_dtype_str(want, b2));
        return NULL;
    }
    TeStmt *s = new_stmt(arena, TE_STMT_STORE);
    TsExpr **copy = copy_exprs(arena, num_indices, indices);
    if (!s || !copy)
        return NULL;
    s->u.store.buffer = buffer;
    s->u.store.num_indices = num_indices;
    s->u.store.indices = copy;
    s->u.store.value = value;
    s->u.store.flat = flat;
    s->u.store.mask = NULL;
    return s;
}

TeStmt *te_store_masked(TsArena *arena, const TeBuffer *buffer, int num_indices,
                        TsExpr *const *indices, TsExpr *value, bool flat, TsExpr *mask)
{
    TeStmt *s = te_store(arena, buffer, num_indices, indices, value, flat);
    if (!s || !mask)
        return s;
    if (!ts_dtype_is_bool(mask->dtype) || mask->dtype.lanes != value->dtype.lanes ||
        mask->dtype.lanes < 2) {
        char b1[TS_DTYPE_STR_MAX], b2[TS_DTYPE_STR_MAX];
        ts_arena_fail(arena, TS_EINVAL,
                      "store to %s: the mask %s is %s, expected a bool "
                      "vector of the lanes of the value (%s)",
                      buffer->name, te_expr_str(arena, mask), ts_dtype_str(mask->dtype, b1),
                      ts_dtype_str(value->dtype, b2));
        return NULL;
    }
    s->u.store.mask = mask;
    return s;
}

TeStmt *te_store_with_mask(TsArena *arena, const TeStmt *s, TsExpr *mask)
{
    return te_store_masked(arena, s->u.store.buffer, s->u.store.num_indices, s->u.store.indices,
                           s->u.store.value, s->u.store.flat, mask);
}

TeStmt *te_allocate(TsArena *arena, const TeBuffer *buffer, TeStmt *body)
{
    if (!buffer || !body)
        return NULL;
    TeStmt *s = new_stmt(arena, TE_STMT_ALLOCATE);
    if (s) {
        s->u.allocate.buffer = buffer;
        s->u.allocate.body = body;
    }
    return s;
}

TeStmt *te_if(TsArena *arena, TsExpr *cond, TeStmt *then_case, TeStmt *else_case, bool likely)
{
    if (!cond || !then_case)
        return NULL;
    if (!ts_dtype_is_bool(cond->dtype) || cond->dtype.lanes != 1) {
        ts_arena_fail(arena, TS_EINVAL, "if: the condition %s is not a scalar bool",
                      te_expr_str(arena, cond));
        return NULL;
    }
    TeStmt *s = new_stmt(arena, TE_STMT_IF);
    if (s) {
        s->u.if_then.cond = cond;
        s->u.if_then.then_case = then_case;
        s->u.if_then.else_case = else_case;
        s->u.if_then.likely = likely;
    }
    return s;
}

TeStmt *te_let(TsArena *arena, TsExpr *var, TsExpr *value, TeStmt *body)
{
    if (!var || !value || !body)
        return NULL;
    if (var->kind != TE_VAR || !ts_dtype_eq(var->dtype, value->dtype)) {
        ts_arena_fail(arena, TS_EINVAL, "let %s = %s: needs a variable of the value's dtype",
                      te_expr_str(arena, var), te_expr_str(arena, value));
        return NULL;
    }
    TeStmt *s = new_stmt(arena, TE_STMT_LET);
    if (s) {
        s->u.let.var = var;
        s->u.let.value = value;
        s->u.let.body = body;
    }
    return s;
}

TeStmt *te_call_stmt(TsArena *arena, const char *name, int num_args, TsExpr *const *args)
{
    if (!te_intrinsic_args_ok(arena, name, num_args, args))
        return NULL;
    TeStmt *s = ts_arena_alloc(arena, sizeof *s);
    TsExpr **copy = copy_exprs(arena, num_args, args);
    const char *saved = ts_arena_strdup(arena, name);
    if (!s || !copy || !saved)
        return NULL;
    s->kind = TE_STMT_CALL;
    s->u.call.name = saved;
    s->u.call.num_args = num_args;
    s->u.call.args = copy;
    return s;
}

TeStmt *te_tensorize_stmt(TsArena *arena, const char *name, const char *part,
                          int num_features, const char *const *features, TeStmt *declared,
                          TeStmt *code)
{
    if (!declared || !code || !name || !part)
        return NULL;
    TeStmt *s = new_stmt(arena, TE_STMT_TENSORIZE);
    const char *saved = ts_arena_strdup(arena, name);
    const char *saved_part = ts_arena_strdup(arena, part);
    if (!s || !saved || !saved_part)
        return NULL;
    s->u.tensorize.name = saved;
    s->u.tensorize.part = saved_part;
    s->u.tensorize.num_features = num_features;
    s->u.tensorize.features = features;
    s->u.tensorize.declared = declared;
    s->u.tensorize.code = code;
    return s;
}

TeStmt *te_seq(TsArena *arena, int num_stmts, TeStmt *const *stmts)
{
    int total = 0;
    for (int i = 0; i < num_stmts; i++) {
        if (!stmts[i])
            return NULL;
        total += stmts[i]->kind == TE_STMT_SEQ ? stmts[i]->u.seq.num_stmts : 1;
    }
    if (total == 1) {
        for (int i = 0; i < num_stmts; i++) {
            if (stmts[i]->kind != TE_STMT_SEQ)
                return stmts[i];
            if (stmts[i]->u.seq.num_stmts == 1)
                return stmts[i]->u.seq.stmts[0];
        }
    }
    TeStmt *s = new_stmt(arena, TE_STMT_SEQ);
    TeStmt **flat = ts_arena_alloc(arena, sizeof *flat * (size_t)(total ? total : 1));
    if (!s || !flat)
        return NULL;
    int n = 0;
    for (int i = 0; i < num_stmts; i++) {
        if (stmts[i]->kind == TE_STMT_SEQ) {
            for (int j = 0; j < stmts[i]->u.seq.num_stmts; j++)
                flat[n++] = stmts[i]->u.seq.stmts[j];
        } else {
            flat[n++] = stmts[i];
        }
    }
    s->u.seq.num_stmts = n;
    s->u.seq.stmts = flat;
    return s;
}
