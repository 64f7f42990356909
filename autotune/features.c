/* Features of a candidate's lowered loop nest, for the cost model of the model-based
 * tuner (AutoTVM's "itervar" features, adapted to Tessera's loop IR). The candidate is
 * lowered through the whole pipeline (ts_tune_task_lower), so what is measured is what
 * codegen will see: vectorized loops have become vector lanes (ramps and broadcasts) and
 * unrolled loops sequences of statements; both show as lanes and as sibling stores.
 *
 * A fixed-length vector of TUNE_LOOP_FEATURES floats; counts and sizes are scaled
 * log2(1 + x), flags are 0 or 1. The layout (names from tune_loop_feature_name):
 *
 *   global   lower_failed, then totals over the function weighted by how often each
 *            statement runs (float adds, muls, fmas, other float ops, int ops, loads,
 *            vector loads, stores, vector stores, loop iterations, if evaluations) and
 *            static counts (loops, parallel loops, the largest parallel extent, bytes of
 *            local allocations, the widest vector, store statements)
 *   hot      the "hot" store, the one doing the most float work (runs x lanes x ops):
 *            how often it runs, its loop depth, lanes, its float adds, muls, fmas, other
 *            float ops, int ops and loads per run, and the stores beside it in the
 *            innermost loop (what unrolling made)
 *   levels   the hot store's enclosing loops, innermost first (slot 0 is the innermost
 *            loop, so a slot means the same thing in nests of different depths; deeper
 *            loops than NUM_LEVELS are left out): extent, kind one-hot (serial,
 *            parallel, vectorized, unrolled), product of the extents from it inwards,
 *            and from the root down to it
 *   buffers  the hot store's buffers, the stored one first, then the loaded ones in
 *            order of appearance: present, written, local; stride (elements) with
 *            respect to the innermost and the second-innermost loop and between vector
 *            lanes; lanes; how many innermost loops leave the access invariant (register
 *            reuse); reuse (accesses x lanes over distinct elements touched by the whole
 *            nest); and the bytes touched by the innermost 1, 2, ... NUM_LEVELS loops
 *
 * Strides are finite differences of the flat index (the loop variable set to 1 and to
 * 0, every other variable 0); the distinct elements under k loops are the smaller of
 * the product of the extents of the loops the access moves with and the index span. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "te/te_internal.h"
#include "tune_internal.h"

enum {
    NUM_LEVELS = 6,
    NUM_BUFFERS = 4,
    MAX_STACK = 64,
    /* offsets of the blocks */
    GLOBAL_FEATURES = 18,
    HOT_FEATURES = 10,
    LEVEL_FEATURES = 7,
    BUFFER_FEATURES = 9 + NUM_LEVELS,
    HOT_OFFSET = GLOBAL_FEATURES,
    LEVEL_OFFSET = HOT_OFFSET + HOT_FEATURES,
    BUFFER_OFFSET = LEVEL_OFFSET + NUM_LEVELS * LEVEL_FEATURES,
    NUM_FEATURES = BUFFER_OFFSET + NUM_BUFFERS * BUFFER_FEATURES
};

_Static_assert((int)NUM_FEATURES == (int)TUNE_LOOP_FEATURES, "TUNE_LOOP_FEATURES is out of date");

static const char *const global_names[GLOBAL_FEATURES] = {
    "lower_failed",    "float_add",      "float_mul",    "float_fma",      "float_other",
    "int_ops",         "loads",          "vector_loads", "stores",         "vector_stores",
    "loop_iterations", "if_evaluations", "loops",        "parallel_loops", "parallel_extent",
    "local_bytes",     "max_lanes",      "store_stmts",
};
static const char *const hot_names[HOT_FEATURES] = {
    "hot.runs",      "hot.depth",       "hot.lanes",   "hot.float_add", "hot.float_mul",
    "hot.float_fma", "hot.float_other", "hot.int_ops", "hot.loads",     "hot.siblings",
};
static const char *const level_names[LEVEL_FEATURES] = {
    "extent", "serial", "parallel", "vectorized", "unrolled", "inner_product", "outer_product",
};
static const char *const buffer_names[9] = {
    "present",     "written", "local",           "stride0", "stride1",
    "lane_stride", "lanes",   "invariant_loops", "reuse",
};

/* Global feature slots. */
enum {
    G_FAILED,
    G_FADD,
    G_FMUL,
    G_FMA,
    G_FOTHER,
    G_INT,
    G_LOADS,
    G_VLOADS,
    G_STORES,
    G_VSTORES,
    G_ITERS,
    G_IFS,
    G_LOOPS,
    G_PLOOPS,
    G_PEXTENT,
    G_LOCAL_BYTES,
    G_MAX_LANES,
    G_STORE_STMTS
};

void tune_loop_feature_name(int i, char *buf, size_t size)
{
    if (i < 0 || i >= NUM_FEATURES)
        snprintf(buf, size, "?");
    else if (i < HOT_OFFSET)
        snprintf(buf, size, "%s", global_names[i]);
    else if (i < LEVEL_OFFSET)
        snprintf(buf, size, "%s", hot_names[i - HOT_OFFSET]);
    else if (i < BUFFER_OFFSET)
        snprintf(buf, size, "level%d.%s", (i - LEVEL_OFFSET) / LEVEL_FEATURES,
                 level_names[(i - LEVEL_OFFSET) % LEVEL_FEATURES]);
    else if ((i - BUFFER_OFFSET) % BUFFER_FEATURES < 9)
        snprintf(buf, size, "buf%d.%s", (i - BUFFER_OFFSET) / BUFFER_FEATURES,
                 buffer_names[(i - BUFFER_OFFSET) % BUFFER_FEATURES]);
    else
        snprintf(buf, size, "buf%d.bytes_l%d", (i - BUFFER_OFFSET) / BUFFER_FEATURES,
                 (i - BUFFER_OFFSET) % BUFFER_FEATURES - 9 + 1);
}

int tune_loop_feature_find(const char *name)
{
    char buf[64];
    for (int i = 0; i < NUM_FEATURES; i++) {
        tune_loop_feature_name(i, buf, sizeof buf);
        if (strcmp(buf, name) == 0)
            return i;
    }
    return -1;
}

/* ---- counting operations ---- */

typedef struct OpCounts {
    double fadd, fmul, fma, fother, int_ops, loads, vloads;
    int max_lanes;
} OpCounts;

static bool is_float(const TsExpr *e)
{
    return e->dtype.code == TS_TYPE_FLOAT;
}

static bool is_float_mul(const TsExpr *e)
{
    return e->kind == TE_MUL && is_float(e);
}

static TeVisit count_node(void *ctx, const TsExpr *e);

/* Counts every operation of e, load indices included. */
static void count_expr(const TsExpr *e, OpCounts *c)
{
    TeVisitor v = { .expr = count_node, .ctx = c };
    te_visit_expr(e, &v);
}

/* A float add with a float multiply operand is a fused multiply-add (LLVM contracts it);
 * the multiply is not counted again. */
static bool count_fma(const TsExpr *e, OpCounts *c)
{
    if (e->kind != TE_ADD || !is_float(e))
        return false;
    const TsExpr *mul = is_float_mul(e->u.op.a) ? e->u.op.a : NULL;
    const TsExpr *other = e->u.op.b;
    if (!mul && is_float_mul(e->u.op.b)) {
        mul = e->u.op.b;
        other = e->u.op.a;
    }
    if (!mul)
        return false;
    c->fma += 1;
    count_expr(mul->u.op.a, c);
    count_expr(mul->u.op.b, c);
    count_expr(other, c);
    return true;
}

static TeVisit count_node(void *ctx, const TsExpr *e)
{
    OpCounts *c = ctx;
    if (e->dtype.lanes > c->max_lanes)
        c->max_lanes = e->dtype.lanes;
    if (count_fma(e, c))
        return TE_VISIT_SKIP;
    switch (e->kind) {
    case TE_ADD:
    case TE_SUB: *(is_float(e) ? &c->fadd : &c->int_ops) += 1; break;
    case TE_MUL: *(is_float(e) ? &c->fmul : &c->int_ops) += 1; break;
    case TE_DIV:
    case TE_MOD:
    case TE_FLOORDIV:
    case TE_FLOORMOD:
    case TE_MIN:
    case TE_MAX:
    case TE_CALL:
    case TE_INTRINSIC:
    case TE_SELECT:
    case TE_IF_THEN_ELSE: *(is_float(e) ? &c->fother : &c->int_ops) += 1; break;
    case TE_EQ:
    case TE_NE:
    case TE_LT:
    case TE_LE:
    case TE_GT:
    case TE_GE:
    case TE_AND:
    case TE_OR:
    case TE_NOT:
    case TE_BITAND:
    case TE_BITOR:
    case TE_BITXOR:
    case TE_BITNOT:
    case TE_SHL:
    case TE_SHR:
    case TE_POPCOUNT: c->int_ops += 1; break;
    case TE_LOAD:
        c->loads += 1;
        if (e->dtype.lanes > 1)
            c->vloads += 1;
        break;
    case TE_ACCESS:
    case TE_REDUCE: return TE_VISIT_SKIP; /* tensor-expression nodes: not in a loop nest */
    case TE_INT:
    case TE_FLOAT:
    case TE_VAR:
    case TE_CAST:
    case TE_REINTERPRET:
    case TE_ADDRESS:
    case TE_RAMP:
    case TE_BROADCAST:
    case TE_NUM_EXPR_KINDS: break;
    }
    return TE_VISIT_CHILDREN;
}

/* ---- walking the statements ---- */

typedef struct Loop {
    const TsExpr *var;
    int64_t extent;
    TeForKind kind;
} Loop;

typedef struct Walk {
    Loop stack[MAX_STACK];
    int depth; /* loops on the stack (deeper ones are walked but not kept) */
    int true_depth;
    double weight;          /* how often the current statement runs */
    double parallel_extent; /* product of the enclosing parallel loops' extents */
    int siblings;           /* store statements in the innermost loop's body */
    double g[GLOBAL_FEATURES];
    /* the hot store */
    const TeStmt *hot;
    double hot_work;
    double hot_weight;
    int hot_depth, hot_siblings;
    Loop hot_stack[MAX_STACK];
} Walk;

static void walk_stmt(Walk *w, const TeStmt *s);

static TeVisit count_store(void *ctx, const TeStmt *s)
{
    if (s->kind == TE_STMT_FOR)
        return TE_VISIT_SKIP;
    *(int *)ctx += s->kind == TE_STMT_STORE;
    return TE_VISIT_CHILDREN;
}

/* Stores in a loop body, not counting nested loops: the copies an unrolled loop left. */
static int count_stores(const TeStmt *s)
{
    int n = 0;
    TeVisitor v = { .stmt = count_store, .ctx = &n };
    te_visit_stmt(s, &v);
    return n;
}

/* A constant extent, or the upper bound interval analysis finds, or 1. */
static int64_t loop_extent(const Walk *w, const TsExpr *extent)
{
    int64_t v, lo, hi;
    if (te_const_int(extent, &v))
        return v > 0 ? v : 0;
    TeRange ranges[MAX_STACK];
    for (int i = 0; i < w->depth; i++) {
        ranges[i].var = w->stack[i].var;
        ranges[i].min = 0;
        ranges[i].max = w->stack[i].extent > 0 ? w->stack[i].extent - 1 : 0;
    }
    if (te_const_bounds(extent, w->depth, ranges, &lo, &hi))
        return hi > 0 ? hi : 0;
    return 1;
}

static void walk_for(Walk *w, const TeStmt *s)
{
    int64_t extent = loop_extent(w, s->u.loop.extent);
    double saved_weight = w->weight, saved_pextent = w->parallel_extent;
    int saved_siblings = w->siblings;
    w->g[G_LOOPS] += 1;
    w->g[G_ITERS] += w->weight * (double)extent;
    if (s->u.loop.for_kind == TE_FOR_PARALLEL) {
        w->g[G_PLOOPS] += 1;
        w->parallel_extent *= (double)extent;
        if (w->parallel_extent > w->g[G_PEXTENT])
            w->g[G_PEXTENT] = w->parallel_extent;
    }
    if (w->depth < MAX_STACK)
        w->stack[w->depth++] = (Loop){ s->u.loop.var, extent, s->u.loop.for_kind };
    w->true_depth++;
    w->weight *= (double)extent;
    w->siblings = count_stores(s->u.loop.body);
    walk_stmt(w, s->u.loop.body);
    w->siblings = saved_siblings;
    w->weight = saved_weight;
    w->parallel_extent = saved_pextent;
    if (w->true_depth-- <= MAX_STACK)
        w->depth--;
}

static void walk_store(Walk *w, const TeStmt *s)
{
    OpCounts c = { 0 };
    count_expr(s->u.store.value, &c);
    for (int i = 0; i < s->u.store.num_indices; i++)
        count_expr(s->u.store.indices[i], &c);
    int lanes = s->u.store.value->dtype.lanes;
    double *g = w->g;
    g[G_FADD] += w->weight * c.fadd;
    g[G_FMUL] += w->weight * c.fmul;
    g[G_FMA] += w->weight * c.fma;
    g[G_FOTHER] += w->weight * c.fother;
    g[G_INT] += w->weight * c.int_ops;
    g[G_LOADS] += w->weight * c.loads;
    g[G_VLOADS] += w->weight * c.vloads;
    g[G_STORES] += w->weight;
    g[G_VSTORES] += lanes > 1 ? w->weight : 0;
    g[G_STORE_STMTS] += 1;
    if (c.max_lanes > g[G_MAX_LANES])
        g[G_MAX_LANES] = c.max_lanes;
    double work = w->weight * lanes * (1 + c.fadd + c.fmul + 2 * c.fma + c.fother);
    if (!w->hot || work > w->hot_work) {
        w->hot = s;
        w->hot_work = work;
        w->hot_weight = w->weight;
        w->hot_depth = w->depth;
        w->hot_siblings = w->siblings;
        memcpy(w->hot_stack, w->stack, sizeof w->stack[0] * (size_t)w->depth);
    }
}

/* An intrinsic call statement: its operations count where they run; it stores nothing
 * the features can see. */
static void walk_call(Walk *w, const TeStmt *s)
{
    OpCounts c = { 0 };
    for (int i = 0; i < s->u.call.num_args; i++)
        count_expr(s->u.call.args[i], &c);
    w->g[G_FADD] += w->weight * c.fadd;
    w->g[G_FMUL] += w->weight * c.fmul;
    w->g[G_FMA] += w->weight * c.fma;
    w->g[G_FOTHER] += w->weight * (c.fother + 1);
    w->g[G_INT] += w->weight * c.int_ops;
    w->g[G_LOADS] += w->weight * c.loads;
    w->g[G_VLOADS] += w->weight * c.vloads;
}

static void walk_stmt(Walk *w, const TeStmt *s);

static TeVisit walk_node(void *ctx, const TeStmt *s)
{
    Walk *w = ctx;
    switch (s->kind) {
    case TE_STMT_FOR: walk_for(w, s); return TE_VISIT_SKIP;
    case TE_STMT_STORE: walk_store(w, s); return TE_VISIT_SKIP;
    case TE_STMT_CALL: walk_call(w, s); return TE_VISIT_SKIP;
    case TE_STMT_TENSORIZE:
        /* What runs is the intrinsic's code, not its declaration. */
        walk_stmt(w, s->u.tensorize.code);
        return TE_VISIT_SKIP;
    case TE_STMT_ALLOCATE: {
        const TeBuffer *b = s->u.allocate.buffer;
        w->g[G_LOCAL_BYTES] += (double)b->num_elements * (double)ts_dtype_bytes(b->dtype);
        break;
    }
    case TE_STMT_IF: w->g[G_IFS] += w->weight; break;
    case TE_STMT_LET:
    case TE_STMT_SEQ:
    case TE_NUM_STMT_KINDS: break;
    }
    return TE_VISIT_CHILDREN;
}

/* Walks the statements (not their expressions: the callbacks count those). */
static void walk_stmt(Walk *w, const TeStmt *s)
{
    TeVisitor v = { .stmt = walk_node, .ctx = w };
    te_visit_stmt(s, &v);
}

/* ---- accesses of the hot store ---- */

typedef struct Access {
    const TeBuffer *buffer;
    bool written;
    int num_indices;
    TsExpr *const *indices;
    bool flat;
    int lanes;
} Access;

typedef struct Accesses {
    Access a[NUM_BUFFERS];
    int n;
} Accesses;

static void add_access(Accesses *acc, const TeBuffer *buffer, bool written, int num_indices,
                       TsExpr *const *indices, bool flat, int lanes)
{
    for (int i = 0; i < acc->n; i++)
        if (acc->a[i].buffer == buffer)
            return;
    if (acc->n < NUM_BUFFERS)
        acc->a[acc->n++] = (Access){ buffer, written, num_indices, indices, flat, lanes };
}

static TeVisit collect_load(void *ctx, const TsExpr *e)
{
    if (e->kind == TE_LOAD)
        add_access(ctx, e->u.load.buffer, false, e->u.load.num_indices, e->u.load.indices,
                   e->u.load.flat, e->dtype.lanes);
    return e->kind == TE_ACCESS || e->kind == TE_REDUCE ? TE_VISIT_SKIP : TE_VISIT_CHILDREN;
}

/* The loads of e, in the order met; a load's indices are not searched (a gather's index
 * load is not an access of the hot store's). */
static void collect_loads(const TsExpr *e, Accesses *acc)
{
    TeVisitor v = { .expr = collect_load, .ctx = acc, .skip_load_indices = true };
    te_visit_expr(e, &v);
}

/* Values of loop variables for evaluating an index; any other variable is 0. */
typedef struct Env {
    const Loop *loops;
    int num_loops;
    int set; /* the loop whose variable is 1, or -1 */
} Env;

static int64_t eval_index(const TsExpr *e, const Env *env);

static int64_t eval_binary(const TsExpr *e, const Env *env)
{
    int64_t a = eval_index(e->u.op.a, env), b = eval_index(e->u.op.b, env);
    switch (e->kind) {
    case TE_ADD: return a + b;
    case TE_SUB: return a - b;
    case TE_MUL: return a * b;
    case TE_DIV:
    case TE_FLOORDIV: return b ? (a - ((a % b + b) % b)) / b : 0;
    case TE_MOD:
    case TE_FLOORMOD: return b ? (a % b + b) % b : 0;
    case TE_MIN: return a < b ? a : b;
    case TE_MAX: return a > b ? a : b;
    default: return 0;
    }
}

/* Lane 0 of an integer index expression; anything but affine arithmetic, division and
 * min/max is 0 (an index read from memory has no stride to speak of). */
static int64_t eval_index(const TsExpr *e, const Env *env)
{
    if (!e)
        return 0;
    int64_t v;
    if (te_const_int(e, &v))
        return v;
    switch (e->kind) {
    case TE_VAR:
        for (int i = 0; i < env->num_loops; i++)
            if (env->loops[i].var == e)
                return i == env->set ? 1 : 0;
        return 0;
    case TE_ADD:
    case TE_SUB:
    case TE_MUL:
    case TE_DIV:
    case TE_FLOORDIV:
    case TE_MOD:
    case TE_FLOORMOD:
    case TE_MIN:
    case TE_MAX: return eval_binary(e, env);
    case TE_CAST: return eval_index(e->u.cast.value, env);
    case TE_RAMP: return eval_index(e->u.ramp.base, env);
    case TE_BROADCAST: return eval_index(e->u.broadcast.value, env);
    default: return 0;
    }
}

/* The flat element index of an access at lane 0. */
static int64_t flat_index(const Access *a, const Env *env)
{
    if (a->flat || a->num_indices == 1)
        return eval_index(a->indices[0], env);
    int64_t flat = 0;
    for (int d = 0; d < a->num_indices && d < a->buffer->ndim; d++)
        flat += eval_index(a->indices[d], env) * a->buffer->strides[d];
    return flat;
}

/* The stride between vector lanes: a ramp's stride, 0 for a broadcast index. */
static int64_t lane_stride(const Access *a, const Env *env)
{
    if (a->lanes <= 1 || a->num_indices < 1)
        return 0;
    const TsExpr *last = a->indices[a->num_indices - 1];
    int64_t scale = (a->flat || a->num_indices == 1) ? 1 : a->buffer->strides[a->num_indices - 1];
    if (last->kind == TE_RAMP)
        return eval_index(last->u.ramp.stride, env) * scale;
    return 0;
}

static double log_feature(double v)
{
    return log2(1 + fabs(v));
}

typedef struct Strides {
    int64_t loop[MAX_STACK]; /* per hot loop, innermost first */
    int64_t lane;
} Strides;

static void access_strides(const Walk *w, const Access *a, Strides *st)
{
    Env env = { w->hot_stack, w->hot_depth, -1 };
    int64_t base = flat_index(a, &env);
    for (int i = 0; i < w->hot_depth; i++) {
        env.set = w->hot_depth - 1 - i;
        st->loop[i] = flat_index(a, &env) - base;
    }
    env.set = -1;
    st->lane = lane_stride(a, &env);
}

/* Distinct elements the access touches under the innermost k loops. */
static double footprint(const Walk *w, const Access *a, const Strides *st, int k)
{
    double lanes = st->lane ? a->lanes : 1;
    double product = lanes;
    double span = 1 + (double)llabs(st->lane) * (a->lanes - 1);
    for (int i = 0; i < k && i < w->hot_depth; i++) {
        double extent = (double)w->hot_stack[w->hot_depth - 1 - i].extent;
        if (st->loop[i] != 0 && extent > 1) {
            product *= extent;
            span += (double)llabs(st->loop[i]) * (extent - 1);
        }
    }
    return product < span ? product : span;
}

static void buffer_features(const Walk *w, const Access *a, float *out)
{
    Strides st;
    access_strides(w, a, &st);
    int invariant = 0;
    while (invariant < w->hot_depth && st.loop[invariant] == 0)
        invariant++;
    double bytes = (double)ts_dtype_bytes(a->buffer->dtype);
    double all = footprint(w, a, &st, w->hot_depth);
    out[0] = 1;
    out[1] = a->written;
    out[2] = a->buffer->scope == TE_SCOPE_LOCAL;
    out[3] = (float)log_feature(w->hot_depth > 0 ? (double)st.loop[0] : 0);
    out[4] = (float)log_feature(w->hot_depth > 1 ? (double)st.loop[1] : 0);
    out[5] = (float)log_feature((double)st.lane);
    out[6] = (float)log_feature(a->lanes);
    out[7] = (float)log_feature(invariant);
    out[8] = (float)log_feature(w->hot_weight * a->lanes / (all > 0 ? all : 1));
    for (int k = 1; k <= NUM_LEVELS; k++)
        out[8 + k] = (float)log_feature(footprint(w, a, &st, k) * bytes);
}

static void level_features(const Walk *w, float *out)
{
    double inner = 1, outer = 1;
    for (int i = 0; i < w->hot_depth; i++)
        outer *= (double)w->hot_stack[i].extent;
    for (int i = 0; i < NUM_LEVELS && i < w->hot_depth; i++) {
        const Loop *loop = &w->hot_stack[w->hot_depth - 1 - i];
        float *f = out + i * LEVEL_FEATURES;
        inner *= (double)loop->extent;
        f[0] = (float)log_feature((double)loop->extent);
        f[1] = loop->kind == TE_FOR_SERIAL;
        f[2] = loop->kind == TE_FOR_PARALLEL;
        f[3] = loop->kind == TE_FOR_VECTORIZED;
        f[4] = loop->kind == TE_FOR_UNROLLED;
        f[5] = (float)log_feature(inner);
        f[6] = (float)log_feature(outer);
        outer /= loop->extent > 0 ? (double)loop->extent : 1;
    }
}

static void hot_features(const Walk *w, float *out)
{
    const TeStmt *s = w->hot;
    OpCounts c = { 0 };
    count_expr(s->u.store.value, &c);
    for (int i = 0; i < s->u.store.num_indices; i++)
        count_expr(s->u.store.indices[i], &c);
    out[0] = (float)log_feature(w->hot_weight);
    out[1] = (float)log_feature(w->hot_depth);
    out[2] = (float)log_feature(s->u.store.value->dtype.lanes);
    out[3] = (float)log_feature(c.fadd);
    out[4] = (float)log_feature(c.fmul);
    out[5] = (float)log_feature(c.fma);
    out[6] = (float)log_feature(c.fother);
    out[7] = (float)log_feature(c.int_ops);
    out[8] = (float)log_feature(c.loads);
    out[9] = (float)log_feature(w->hot_siblings);
}

static void hot_store_features(const Walk *w, float *out)
{
    const TeStmt *s = w->hot;
    hot_features(w, out + HOT_OFFSET);
    level_features(w, out + LEVEL_OFFSET);
    Accesses acc = { .n = 0 };
    add_access(&acc, s->u.store.buffer, true, s->u.store.num_indices, s->u.store.indices,
               s->u.store.flat, s->u.store.value->dtype.lanes);
    collect_loads(s->u.store.value, &acc);
    for (int i = 0; i < acc.n; i++)
        buffer_features(w, &acc.a[i], out + BUFFER_OFFSET + i * BUFFER_FEATURES);
}

void tune_loop_features(const TsLoweredFunc *func, float *out)
{
    Walk w;
    memset(out, 0, sizeof *out * NUM_FEATURES);
    memset(&w, 0, sizeof w);
    w.weight = 1;
    w.parallel_extent = 1;
    walk_stmt(&w, func->body);
    for (int i = 1; i < GLOBAL_FEATURES; i++)
        out[i] = (float)log_feature(w.g[i]);
    if (w.hot)
        hot_store_features(&w, out);
}

TsStatus tune_candidate_features(const TsTuneTask *task, int64_t index, float *out, TsError *err)
{
    TsArena *arena = ts_arena_create();
    if (!arena)
        return ts_fail(err, TS_ENOMEM, "features of candidate %lld: out of memory",
                       (long long)index);
    TsLoweredFunc *func = NULL;
    TsError lower_err;
    if (ts_tune_task_lower(task, index, false, arena, &func, &lower_err) == TS_OK && func) {
        tune_loop_features(func, out);
    } else {
        memset(out, 0, sizeof *out * NUM_FEATURES);
        out[G_FAILED] = 1;
    }
    ts_arena_destroy(arena);
    return TS_OK;
}
