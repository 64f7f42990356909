/* Tensor intrinsics (intrin.h): declaring one (a compute op, strides, features,
 * emitters), the registry that finds them by name, and what emitters build with. The
 * matcher that puts them into a loop nest is tensorize_match.c; the built-ins are
 * declared in intrin_x86.c and intrin_aarch64.c.
 *
 * A declaration is checked here once, so the matcher can rely on its shape: the body is
 * an expression over accesses of the declared inputs or one reduction of such, and every
 * access index is a distinct axis variable of the declaration. That lets a matched
 * access's strides be read off one by one: declared dimension d's stride is the
 * coefficient, in the matched buffer's flat index, of the loop matched with the axis
 * indexing d. */
#include <pthread.h>
#include <string.h>

#include "sch_internal.h"

/* ---- declaring ---- */

typedef struct {
    const TsIntrin *intrin;
    TsArena *arena;
    const char *problem; /* the first reason the body cannot be used, or NULL */
    const TsExpr *culprit;
} BodyCheck;

static bool is_decl_axis_var(const TsIntrin *in, const TsExpr *e)
{
    if (e->kind != TE_VAR || !e->u.var.axis)
        return false;
    for (int i = 0; i < in->output->ndim; i++)
        if (in->output->axes[i] == e->u.var.axis)
            return true;
    for (int i = 0; i < in->num_reduce_axes; i++)
        if (in->reduce_axes[i] == e->u.var.axis)
            return true;
    return false;
}

static TeVisit check_node(void *ctx, const TsExpr *e)
{
    BodyCheck *c = ctx;
    if (e->kind == TE_REDUCE || e->kind == TE_VAR) {
        c->problem = e->kind == TE_REDUCE ? "a reduction inside the body (only the whole body "
                                            "may be one)"
                                          : "a loop variable outside an access index";
        c->culprit = e;
        return TE_VISIT_STOP;
    }
    if (e->kind != TE_ACCESS)
        return TE_VISIT_CHILDREN;
    if (sch_intrin_slot(c->intrin, e->u.access.tensor) < 0 ||
        e->u.access.tensor == c->intrin->output) {
        c->problem = "an access of a tensor that is not among the declared inputs";
        c->culprit = e;
        return TE_VISIT_STOP;
    }
    for (int d = 0; d < e->u.access.num_indices; d++) {
        const TsExpr *idx = e->u.access.indices[d];
        bool repeated = false;
        for (int k = 0; k < d; k++)
            repeated = repeated || e->u.access.indices[k] == idx;
        if (!is_decl_axis_var(c->intrin, idx) || repeated) {
            c->problem = "an access index that is not one of the declaration's axis variables "
                         "(each at most once per access)";
            c->culprit = e;
            return TE_VISIT_STOP;
        }
    }
    return TE_VISIT_SKIP;
}

static TsStatus check_body(TsArena *arena, const TsIntrin *in, TsError *err)
{
    BodyCheck c = { .intrin = in, .arena = arena };
    TeVisitor v = { .expr = check_node, .ctx = &c };
    if (!te_visit_expr(in->source, &v) && in->cond)
        te_visit_expr(in->cond, &v);
    if (!c.problem)
        return TS_OK;
    const char *text = te_expr_str(arena, c.culprit);
    return ts_fail(err, TS_EINVAL, "intrinsic %s: its declaration has %s: %s", in->name, c.problem,
                   text ? text : "?");
}

static void default_strides(TsIntrin *in, int slot, const TsTensor *t)
{
    int64_t stride = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        in->strides[slot][d] = stride;
        stride *= ts_tensor_dim(t, d);
    }
}

static TsStatus check_tensors(const char *name, TsTensor *output, int num_inputs,
                              TsTensor *const *inputs, TsError *err)
{
    if (!name || !*name)
        return ts_fail(err, TS_EINVAL, "intrinsic: the name is empty");
    if (!output || ts_tensor_is_placeholder(output))
        return ts_fail(err, TS_EINVAL, "intrinsic %s: the output must be a compute op", name);
    if (num_inputs < 0 || num_inputs > TS_INTRIN_MAX_INPUTS || (num_inputs && !inputs))
        return ts_fail(err, TS_EINVAL, "intrinsic %s: %d inputs (0 to %d)", name, num_inputs,
                       TS_INTRIN_MAX_INPUTS);
    for (int i = 0; i < num_inputs; i++) {
        if (!inputs[i] || !ts_tensor_is_placeholder(inputs[i]))
            return ts_fail(err, TS_EINVAL, "intrinsic %s: input %d is not a placeholder", name, i);
        for (int k = 0; k < i; k++)
            if (inputs[k] == inputs[i])
                return ts_fail(err, TS_EINVAL, "intrinsic %s: input %s is given twice", name,
                               inputs[i]->name);
    }
    for (int i = 0; i < num_inputs; i++) {
        bool read = false;
        for (int k = 0; k < output->num_inputs; k++)
            read = read || output->inputs[k] == inputs[i];
        if (!read)
            return ts_fail(err, TS_EINVAL, "intrinsic %s: the output never reads input %s", name,
                           inputs[i]->name);
    }
    for (int i = 0; i < output->num_inputs; i++) {
        bool found = false;
        for (int k = 0; k < num_inputs; k++)
            found = found || inputs[k] == output->inputs[i];
        if (!found)
            return ts_fail(err, TS_EINVAL,
                           "intrinsic %s: the output reads %s, which is not "
                           "among the declared inputs",
                           name, output->inputs[i]->name);
    }
    return TS_OK;
}

TsStatus ts_intrin_declare(TsArena *arena, const char *name, TsTensor *output, int num_inputs,
                           TsTensor *const *inputs, TsIntrin **out, TsError *err)
{
    if (!arena || !out)
        return ts_fail(err, TS_EINVAL, "intrinsic: the arena or the result pointer is NULL");
    TsStatus st = check_tensors(name, output, num_inputs, inputs, err);
    if (st != TS_OK)
        return st;
    TsIntrin *in = ts_arena_alloc(arena, sizeof *in);
    if (!in || !(in->name = ts_arena_strdup(arena, name)))
        return ts_fail(err, TS_ENOMEM, "intrinsic %s: out of memory", name);
    in->output = output;
    in->num_inputs = num_inputs;
    for (int i = 0; i < num_inputs; i++) {
        in->inputs[i] = inputs[i];
        default_strides(in, i, inputs[i]);
    }
    default_strides(in, num_inputs, output);
    TsExpr *body = output->body;
    in->source = body;
    if (body->kind == TE_REDUCE) {
        in->reducer = body->u.reduce.reducer;
        in->num_reduce_axes = body->u.reduce.num_axes;
        in->reduce_axes = body->u.reduce.axes;
        in->source = body->u.reduce.source;
        in->cond = body->u.reduce.cond;
    }
    if ((st = check_body(arena, in, err)) != TS_OK)
        return st;
    *out = in;
    return TS_OK;
}

int sch_intrin_slot(const TsIntrin *intrin, const TsTensor *tensor)
{
    for (int i = 0; i < intrin->num_inputs; i++)
        if (intrin->inputs[i] == tensor)
            return i;
    return intrin->output == tensor ? intrin->num_inputs : -1;
}

TsStatus ts_intrin_set_strides(TsIntrin *intrin, const TsTensor *tensor, const int64_t *strides,
                               TsError *err)
{
    if (!intrin || !strides)
        return ts_fail(err, TS_EINVAL, "intrinsic strides: the intrinsic or strides is NULL");
    int slot = tensor ? sch_intrin_slot(intrin, tensor) : -1;
    if (slot < 0)
        return ts_fail(err, TS_EINVAL, "intrinsic %s: %s is neither an input nor the output",
                       intrin->name, tensor ? tensor->name : "(null)");
    for (int d = 0; d < tensor->ndim; d++)
        if (strides[d] < 0 && strides[d] != TS_INTRIN_STRIDE_ANY)
            return ts_fail(err, TS_EINVAL,
                           "intrinsic %s: stride %lld of %s's dimension %d is "
                           "negative",
                           intrin->name, (long long)strides[d], tensor->name, d);
    memcpy(intrin->strides[slot], strides, sizeof *strides * (size_t)tensor->ndim);
    return TS_OK;
}

TsStatus ts_intrin_require(TsIntrin *intrin, const char *feature, TsError *err)
{
    if (!intrin || !feature || !*feature)
        return ts_fail(err, TS_EINVAL, "intrinsic feature: the intrinsic or feature is empty");
    if (intrin->num_features == TS_INTRIN_MAX_FEATURES)
        return ts_fail(err, TS_EINVAL, "intrinsic %s: more than %d features", intrin->name,
                       TS_INTRIN_MAX_FEATURES);
    intrin->features[intrin->num_features++] = feature;
    return TS_OK;
}

TsStatus ts_intrin_set_emitters(TsIntrin *intrin, TsIntrinEmitter body, TsIntrinEmitter reset,
                                TsIntrinEmitter update, void *user, TsError *err)
{
    if (!intrin)
        return ts_fail(err, TS_EINVAL, "intrinsic emitters: the intrinsic is NULL");
    intrin->body = body;
    intrin->reset = reset;
    intrin->update = update;
    intrin->user = user;
    return TS_OK;
}

/* What a complete intrinsic lacks, or NULL. */
static const char *missing_emitter(const TsIntrin *in)
{
    if (in->reducer)
        return !in->reset ? "reset" : !in->update ? "update" : NULL;
    return !in->body ? "body" : NULL;
}

const char *ts_intrin_name(const TsIntrin *intrin)
{
    return intrin ? intrin->name : NULL;
}

TsTensor *ts_intrin_output(const TsIntrin *intrin)
{
    return intrin ? intrin->output : NULL;
}

int ts_intrin_num_inputs(const TsIntrin *intrin)
{
    return intrin ? intrin->num_inputs : 0;
}

TsTensor *ts_intrin_input(const TsIntrin *intrin, int i)
{
    return intrin && i >= 0 && i < intrin->num_inputs ? intrin->inputs[i] : NULL;
}

int ts_intrin_num_features(const TsIntrin *intrin)
{
    return intrin ? intrin->num_features : 0;
}

const char *ts_intrin_feature(const TsIntrin *intrin, int i)
{
    return intrin && i >= 0 && i < intrin->num_features ? intrin->features[i] : NULL;
}

/* ---- the registry ---- */

enum { MAX_REGISTERED = 256 };

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t builtins_once = PTHREAD_ONCE_INIT;
static const TsIntrin *registered[MAX_REGISTERED];
static int num_registered;
static int num_builtins; /* the first entries */

static const TsIntrin *find_locked(const char *name)
{
    for (int i = 0; i < num_registered; i++)
        if (strcmp(registered[i]->name, name) == 0)
            return registered[i];
    return NULL;
}

static TsStatus add(const TsIntrin *intrin, TsError *err)
{
    const char *missing = missing_emitter(intrin);
    if (missing)
        return ts_fail(err, TS_EINVAL, "intrinsic %s: no %s emitter", intrin->name, missing);
    TsStatus st = TS_OK;
    pthread_mutex_lock(&registry_lock);
    if (find_locked(intrin->name))
        st = ts_fail(err, TS_EINVAL, "intrinsic %s: the name is registered already", intrin->name);
    else if (num_registered == MAX_REGISTERED)
        st = ts_fail(err, TS_EINVAL, "intrinsic %s: the registry is full (%d)", intrin->name,
                     MAX_REGISTERED);
    else
        registered[num_registered++] = intrin;
    pthread_mutex_unlock(&registry_lock);
    return st;
}

/* The built-ins live in an arena of their own for the life of the process. A family
 * that fails to declare (a defect, caught by test_intrin) leaves its names unregistered. */
/* Kept for the process's life (volatile: a store no code reads back would be dropped,
 * and leak checkers would see the arena as lost). */
static TsArena *volatile builtin_arena;

static void register_builtins(void)
{
    TsArena *arena = builtin_arena = ts_arena_create();
    TsError err;
    if (arena) {
        sch_intrin_register_x86(arena, &err);
        sch_intrin_register_amx(arena, &err);
        sch_intrin_register_aarch64(arena, &err);
    }
    pthread_mutex_lock(&registry_lock);
    num_builtins = num_registered;
    pthread_mutex_unlock(&registry_lock);
}

bool sch_intrin_add_builtin(const TsIntrin *intrin, TsError *err)
{
    return add(intrin, err) == TS_OK;
}

TsStatus ts_intrin_register(const TsIntrin *intrin, TsError *err)
{
    if (!intrin)
        return ts_fail(err, TS_EINVAL, "intrinsic register: the intrinsic is NULL");
    pthread_once(&builtins_once, register_builtins);
    return add(intrin, err);
}

TsStatus ts_intrin_unregister(const char *name, TsError *err)
{
    pthread_once(&builtins_once, register_builtins);
    bool found = false;
    pthread_mutex_lock(&registry_lock);
    for (int i = num_builtins; name && i < num_registered && !found; i++) {
        if (strcmp(registered[i]->name, name) == 0) {
            memmove(&registered[i], &registered[i + 1],
                    sizeof *registered * (size_t)(num_registered - i - 1));
            num_registered--;
            found = true;
        }
    }
    pthread_mutex_unlock(&registry_lock);
    if (!found)
        return ts_fail(err, TS_EINVAL,
                       "intrinsic %s: no user intrinsic of this name is "
                       "registered",
                       name ? name : "(null)");
    return TS_OK;
}

const TsIntrin *ts_intrin_lookup(const char *name)
{
    if (!name)
        return NULL;
    pthread_once(&builtins_once, register_builtins);
    pthread_mutex_lock(&registry_lock);
    const TsIntrin *found = find_locked(name);
    pthread_mutex_unlock(&registry_lock);
    return found;
}

int ts_intrin_count(void)
{
    pthread_once(&builtins_once, register_builtins);
    pthread_mutex_lock(&registry_lock);
    int n = num_registered;
    pthread_mutex_unlock(&registry_lock);
    return n;
}

const TsIntrin *ts_intrin_at(int i)
{
    pthread_once(&builtins_once, register_builtins);
    pthread_mutex_lock(&registry_lock);
    const TsIntrin *found = i >= 0 && i < num_registered ? registered[i] : NULL;
    pthread_mutex_unlock(&registry_lock);
    return found;
}

/* ---- what emitters build with ---- */

const TsTensor *ts_intrin_region_tensor(const TsIntrinRegion *region)
{
    return region ? region->tensor : NULL;
}

int64_t ts_intrin_region_stride(const TsIntrinRegion *region, int dim)
{
    return region && dim >= 0 && dim < region->ndim ? region->strides[dim] : 0;
}

TsExpr *ts_intrin_region_offset(const TsIntrinRegion *region)
{
    return region ? region->offset : NULL;
}

/* The region's flat element index plus offset (NULL: 0). */
static TsExpr *element(TsArena *arena, const TsIntrinRegion *region, TsExpr *offset)
{
    if (!region)
        return NULL;
    return offset ? ts_add(arena, region->offset, offset) : region->offset;
}

TsExpr *ts_intrin_region_address(TsArena *arena, const TsIntrinRegion *region, TsExpr *offset)
{
    TsExpr *index = element(arena, region, offset);
    return index ? te_address(arena, region->buffer, 1, &index, true) : NULL;
}

TsExpr *ts_intrin_region_load(TsArena *arena, const TsIntrinRegion *region, TsExpr *offset,
                              int lanes)
{
    TsExpr *index = element(arena, region, offset);
    if (index && lanes > 1)
        index = te_ramp(arena, index, ts_i32(arena, 1), lanes);
    return index ? te_load(arena, region->buffer, 1, &index, true) : NULL;
}

TsStmt *ts_intrin_region_store(TsArena *arena, const TsIntrinRegion *region, TsExpr *offset,
                               TsExpr *value)
{
    TsExpr *index = element(arena, region, offset);
    if (index && value && value->dtype.lanes > 1)
        index = te_ramp(arena, index, ts_i32(arena, 1), value->dtype.lanes);
    return index ? te_store(arena, region->buffer, 1, &index, value, true) : NULL;
}

TsExpr *ts_intrin_broadcast(TsArena *arena, TsExpr *value, int lanes)
{
    return te_broadcast(arena, value, lanes);
}

TsStmt *ts_intrin_call(TsArena *arena, const char *name, int num_args, TsExpr *const *args)
{
    return te_call_stmt(arena, name, num_args, args);
}

TsStmt *ts_intrin_seq(TsArena *arena, int num_stmts, TsStmt *const *stmts)
{
    return te_seq(arena, num_stmts, stmts);
}

/* ---- what the built-in families share ---- */

bool sch_intrin_dot(TsArena *arena, const char *name, int lanes, int group, TsDType a, TsDType b,
                    TsDType acc, const char *const *features, TsIntrinEmitter reset,
                    TsIntrinEmitter update, void *user, TsError *err)
{
    TsTensor *ta = ts_placeholder(arena, "a", 1, (int64_t[]){ group }, a);
    TsTensor *tb = ts_placeholder(arena, "b", 2, (int64_t[]){ lanes, group }, b);
    TsAxis *j = ts_axis(arena, "j", lanes), *k = ts_reduce_axis(arena, "k", group);
    TsExpr *prod = ts_mul(arena, ts_cast(arena, acc, ts_at(arena, ta, ts_var(k))),
                          ts_cast(arena, acc, ts_at(arena, tb, ts_var(j), ts_var(k))));
    TsTensor *c = ts_compute(arena, "c", 1, &j, ts_sum(arena, prod, 1, &k, NULL));
    TsIntrin *in;
    if (!c)
        return ts_arena_check(arena, err), false;
    if (ts_intrin_declare(arena, name, c, 2, (TsTensor *[]){ ta, tb }, &in, err) != TS_OK)
        return false;
    for (int i = 0; features[i]; i++)
        if (ts_intrin_require(in, features[i], err) != TS_OK)
            return false;
    return ts_intrin_set_emitters(in, NULL, reset, update, user, err) == TS_OK &&
           sch_intrin_add_builtin(in, err);
}

TsStmt *sch_intrin_zero_output(TsArena *arena, const TsIntrin *intrin,
                               const TsIntrinRegion *const *regions, void *user)
{
    (void)user;
    const TsTensor *out = intrin->output;
    int64_t n = ts_tensor_num_elements(out);
    TsExpr *zero = ts_dtype_is_float(out->dtype) ? ts_float(arena, out->dtype, 0.0)
                                                 : ts_int(arena, out->dtype, 0);
    TsExpr *value = n > 1 ? te_broadcast(arena, zero, (int)n) : zero;
    return ts_intrin_region_store(arena, regions[intrin->num_inputs], NULL, value);
}
