/* The loop-nest interpreter: runs lowered IR (the statements of te_internal.h) on the
 * caller's buffers, so that a wrong lowering or loop pass is caught before any code is
 * generated, and a wrong kernel can be told from a wrong lowering (DESIGN.md, "How
 * correctness is checked", step 2). It sits beside interp.c, the tensor-expression
 * oracle, and shares its scalar arithmetic (value.c).
 *
 * It is written to be obviously right, not fast:
 * - Every loop kind (serial, parallel, vectorized, unrolled) runs serially, in order; a
 *   loop's min and extent are evaluated once, on entry.
 * - A vector expression is evaluated one lane at a time: lane k of a + b is a[k] + b[k]
 *   with value.c's scalar semantics, and a scalar operand (select's condition, a ramp's
 *   base and stride, a broadcast's value) is its own lane 0 for every lane. Expressions
 *   have no side effects, so this equals evaluating whole vectors. Statements do have
 *   effects: a vector store evaluates every lane of its value and indices before it
 *   writes any (then scatters in lane order), and a vector let keeps all its lanes.
 * - Every load and store is bounds-checked, per dimension or, when flat, against the
 *   buffer's element count. An error names the statement, the buffer, the index and the
 *   values of the enclosing loop variables.
 * - Allocations are filled with 0xA5 bytes, so reading memory that was never written
 *   shows up as a wrong value instead of a lucky zero.
 *
 * Buffers are told apart by their TeBuffer pointer: a load or store must use the very
 * buffer of an argument or of an enclosing allocation. */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "te_internal.h"
#include "value.h"

enum {
    MAX_LANES = 1024, /* as ts_dtype_is_valid allows */
    POISON_BYTE = 0xA5,
    STMT_TEXT_MAX = 160
};

/* A variable in scope: a loop variable or a let binding (which may be a vector). */
typedef struct {
    const TsExpr *var;
    TeValue value;  /* a scalar's value */
    TeValue *lanes; /* a vector's lanes (owned), or NULL */
    bool is_loop;
} Scope;

/* The memory of an argument (bound by the caller) or of an allocation (owned). */
typedef struct {
    const TeBuffer *buffer;
    unsigned char *data;
} Memory;

typedef struct {
    const TsLoweredFunc *func;
    TsError *err;
    TsStatus status;
    TsArena *scratch;    /* text of expressions for messages */
    const TeStmt *stmt;  /* the statement whose expressions are being evaluated */
    Scope *scopes;       /* innermost last */
    int num_scopes, cap_scopes;
    Memory *memory;      /* the arguments first, then allocations, innermost last */
    int num_memory, cap_memory;
} Run;

/* ---- messages ---- */

static const char *expr_text(Run *r, const TsExpr *e)
{
    const char *text = te_expr_str(r->scratch, e);
    return text ? text : "?";
}

/* One line for the statement at fault: its head, not its body. */
static void describe_stmt(Run *r, const TeStmt *s, char *buf, size_t size)
{
    const char *text;
    switch (s->kind) {
    case TE_STMT_FOR:
        snprintf(buf, size, "%s (%s, %s, %s)", te_for_kind_name(s->u.loop.for_kind),
                 expr_text(r, s->u.loop.var), expr_text(r, s->u.loop.min),
                 expr_text(r, s->u.loop.extent));
        return;
    case TE_STMT_STORE:
        text = te_stmt_str(r->scratch, s);
        text = text ? text : "?";
        snprintf(buf, size, "%.*s", (int)strcspn(text, "\n"), text); /* its one line */
        return;
    case TE_STMT_ALLOCATE:
        snprintf(buf, size, "allocate %s", s->u.allocate.buffer->name);
        return;
    case TE_STMT_IF:
        snprintf(buf, size, "if (%s)", expr_text(r, s->u.if_then.cond));
        return;
    case TE_STMT_LET:
        snprintf(buf, size, "let %s = %s", expr_text(r, s->u.let.var),
                 expr_text(r, s->u.let.value));
        return;
    case TE_STMT_CALL:
        snprintf(buf, size, "call %s", s->u.call.name);
        return;
    case TE_STMT_TENSORIZE:
        snprintf(buf, size, "tensorize %s.%s", s->u.tensorize.name, s->u.tensorize.part);
        return;
    case TE_STMT_SEQ:
    case TE_NUM_STMT_KINDS:
        break;
    }
    snprintf(buf, size, "%s statement", te_stmt_kind_name(s->kind));
}

/* "i = 1, j = 3": the values of the enclosing loop variables, outermost first. */
static void describe_loops(const Run *r, char *buf, size_t size)
{
    size_t n = 0;
    buf[0] = '\0';
    for (int i = 0; i < r->num_scopes && n < size; i++) {
        const Scope *sc = &r->scopes[i];
        if (!sc->is_loop)
            continue;
        int wrote = snprintf(buf + n, size - n, "%s%s = %lld", n ? ", " : "",
                             sc->var->u.var.name, (long long)sc->value.i);
        if (wrote < 0)
            break;
        n += (size_t)wrote;
    }
}

/* Records the error: what went wrong, at which loop point, in which statement. */
static bool run_fail(Run *r, TsStatus status, const char *fmt, ...) TS_PRINTF_LIKE(3, 4);

static bool run_fail(Run *r, TsStatus status, const char *fmt, ...)
{
    char what[256], stmt[STMT_TEXT_MAX + 4] = "", loops[160], context[sizeof stmt + 170];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (r->stmt) {
        describe_stmt(r, r->stmt, stmt, STMT_TEXT_MAX);
        if (strlen(stmt) == STMT_TEXT_MAX - 1)
            strcat(stmt, "..."); /* cut short */
    }
    describe_loops(r, loops, sizeof loops);
    /* The loop point first: a long statement may be cut off at the message's end. */
    if (stmt[0] && loops[0])
        snprintf(context, sizeof context, " (at %s; in %s)", loops, stmt);
    else if (stmt[0] || loops[0])
        snprintf(context, sizeof context, " (%s %s)", loops[0] ? "at" : "in",
                 loops[0] ? loops : stmt);
    else
        context[0] = '\0';
    r->status = ts_fail(r->err, status, "run %s: %s%s", r->func->name, what, context);
    return false;
}

/* ---- scopes and memory ---- */

/* Makes room for one more item in a growing array. */
static bool reserve(void **items, int *cap, int count, size_t item_size)
{
    if (count < *cap)
        return true;
    int grown = *cap ? 2 * *cap : 16;
    void *bigger = realloc(*items, (size_t)grown * item_size);
    if (!bigger)
        return false;
    *items = bigger;
    *cap = grown;
    return true;
}

static bool push_scope(Run *r, const TsExpr *var, bool is_loop, TeValue value, TeValue *lanes)
{
    if (!reserve((void **)&r->scopes, &r->cap_scopes, r->num_scopes, sizeof *r->scopes))
        return run_fail(r, TS_ENOMEM, "out of memory for variable %s", var->u.var.name);
    r->scopes[r->num_scopes++] = (Scope){ .var = var, .value = value, .lanes = lanes,
                                          .is_loop = is_loop };
    return true;
}

static void pop_scope(Run *r)
{
    r->num_scopes--;
    free(r->scopes[r->num_scopes].lanes);
}

static bool lookup(Run *r, const TsExpr *var, int lane, TeValue *out)
{
    for (int i = r->num_scopes - 1; i >= 0; i--) {
        const Scope *sc = &r->scopes[i];
        if (sc->var == var) {
            *out = sc->lanes ? sc->lanes[lane] : sc->value;
            return true;
        }
    }
    return run_fail(r, TS_EINVAL, "variable %s has no value here", var->u.var.name);
}

/* The memory of buffer b, or an error naming the access ("load from T"). */
static unsigned char *memory_of(Run *r, const TeBuffer *b, const char *access)
{
    for (int i = r->num_memory - 1; i >= 0; i--)
        if (r->memory[i].buffer == b)
            return r->memory[i].data;
    run_fail(r, TS_EINVAL, "%s %s: the buffer is neither an argument of %s nor allocated "
             "around this access", access, b->name, r->func->name);
    return NULL;
}

/* ---- expressions ---- */

static bool eval(Run *r, const TsExpr *e, int lane, TeValue *out);

/* Lane `lane` of a child: a scalar child stands for all lanes. */
static bool eval_child(Run *r, const TsExpr *child, int lane, TeValue *out)
{
    return eval(r, child, child->dtype.lanes == 1 ? 0 : lane, out);
}

/* Turns value.c's reason into an error in context; lane matters only for vectors. The
 * expression's text is cut short so that the loop point still fits in the message. */
static bool value_fail(Run *r, const TsExpr *e, int lane, const TsError *why)
{
    if (e->dtype.lanes > 1)
        return run_fail(r, why->status, "%s in lane %d of %.120s", why->message, lane,
                        expr_text(r, e));
    return run_fail(r, why->status, "%s in %.120s", why->message, expr_text(r, e));
}

static bool eval_binary(Run *r, const TsExpr *e, int lane, TeValue *out)
{
    TeValue a, b;
    TsError why;
    if (!eval_child(r, e->u.op.a, lane, &a) || !eval_child(r, e->u.op.b, lane, &b))
        return false;
    if (te_value_binary(e->kind, e->u.op.a->dtype, a, b, out, &why) != TS_OK)
        return value_fail(r, e, lane, &why);
    return true;
}

static bool eval_unary(Run *r, const TsExpr *e, int lane, TeValue *out)
{
    TeValue a;
    TsError why;
    if (!eval_child(r, e->u.op.a, lane, &a))
        return false;
    if (te_value_unary(e->kind, e->u.op.a->dtype, a, out, &why) != TS_OK)
        return value_fail(r, e, lane, &why);
    return true;
}

/* "store to C: index 4 of dimension 1 is outside [0, 4)"; dim -1 when flat, lane -1 for
 * a scalar index. */
static bool index_fail(Run *r, const char *access, const TeBuffer *b, int dim, int64_t index,
                       int lane)
{
    char at_lane[32] = "", of_dim[32] = "";
    if (lane >= 0)
        snprintf(at_lane, sizeof at_lane, " (lane %d)", lane);
    if (dim >= 0)
        snprintf(of_dim, sizeof of_dim, " of dimension %d", dim);
    int64_t extent = dim >= 0 ? b->shape[dim] : b->num_elements;
    return run_fail(r, TS_EINVAL, "%s %s: %sindex %lld%s%s is outside [0, %lld)", access,
                    b->name, dim >= 0 ? "" : "flat ", (long long)index, at_lane, of_dim,
                    (long long)extent);
}

/* The element offset of one lane of an access, every index checked against its
 * dimension (or, flat, against the element count). */
static bool element_offset(Run *r, const char *access, const TeBuffer *b, int num_indices,
                           TsExpr *const *indices, bool flat, int lane, int64_t *offset)
{
    *offset = 0;
    for (int d = 0; d < num_indices; d++) {
        TeValue ix;
        if (!eval_child(r, indices[d], lane, &ix))
            return false;
        int64_t extent = flat ? b->num_elements : b->shape[d];
        if (ix.i < 0 || ix.i >= extent)
            return index_fail(r, access, b, flat ? -1 : d, ix.i,
                              indices[d]->dtype.lanes > 1 ? lane : -1);
        *offset += ix.i * (flat ? 1 : b->strides[d]);
    }
    if (*offset >= b->num_elements)
        return run_fail(r, TS_EINVAL, "%s %s: offset %lld is past its %lld elements (its "
                        "strides do not fit its shape)", access, b->name, (long long)*offset,
                        (long long)b->num_elements);
    return true;
}

static bool eval_load(Run *r, const TsExpr *e, int lane, TeValue *out)
{
    const TeBuffer *b = e->u.load.buffer;
    int64_t offset;
    unsigned char *data = memory_of(r, b, "load from");
    if (!data || !element_offset(r, "load from", b, e->u.load.num_indices, e->u.load.indices,
                                 e->u.load.flat, lane, &offset))
        return false;
    *out = te_value_load(b->dtype, data + (size_t)offset * (b->dtype.bits / 8));
    return true;
}

/* Lane k of ramp(base, stride, lanes) is base + stride * k in int32 arithmetic. */
static bool eval_ramp(Run *r, const TsExpr *e, int lane, TeValue *out)
{
    TeValue base, stride, offset;
    TsError why;
    if (!eval_child(r, e->u.ramp.base, lane, &base) ||
        !eval_child(r, e->u.ramp.stride, lane, &stride))
        return false;
    if (te_value_binary(TE_MUL, TS_INT32, stride, (TeValue){ .i = lane }, &offset, &why) !=
            TS_OK ||
        te_value_binary(TE_ADD, TS_INT32, base, offset, out, &why) != TS_OK)
        return value_fail(r, e, lane, &why);
    return true;
}

static bool eval_call(Run *r, const TsExpr *e, int lane, TeValue *out)
{
    TeValue a, b = { .f = 0.0 };
    const TsExpr *second = e->u.call.args[1];
    if (!eval_child(r, e->u.call.args[0], lane, &a) ||
        (second && !eval_child(r, second, lane, &b)))
        return false;
    *out = te_value_call(e->u.call.fn, e->dtype, a, b);
    return true;
}

/* Lane `lane` of reinterpret(x): the lanes of x that overlap its bits, read back as the
 * new dtype (x's other lanes are not evaluated, so an inactive lane reads nothing). */
static bool eval_reinterpret(Run *r, const TsExpr *e, int lane, TeValue *out)
{
    const TsExpr *x = e->u.cast.value;
    TsDType from = x->dtype, to = e->dtype;
    int64_t first_bit = (int64_t)lane * to.bits, end_bit = first_bit + to.bits;
    int first = (int)(first_bit / from.bits), end = (int)((end_bit + from.bits - 1) / from.bits);
    TeValue in[MAX_LANES], whole[MAX_LANES];
    for (int k = first; k < end; k++)
        if (!eval(r, x, k, &in[k - first]))
            return false;
    /* The covering lanes of x hold whole lanes of the result: reinterpret just them. */
    TsDType part_from = ts_dtype_with_lanes(from, end - first);
    int part_lanes = (int)((int64_t)(end - first) * from.bits / to.bits);
    te_value_reinterpret(part_from, in, ts_dtype_with_lanes(to, part_lanes), whole);
    *out = whole[(first_bit - (int64_t)first * from.bits) / to.bits];
    return true;
}

/* select evaluates both branches, if_then_else only the chosen one (per lane). */
static bool eval_conditional(Run *r, const TsExpr *e, int lane, TeValue *out)
{
    TeValue cond, then_value, else_value;
    if (!eval_child(r, e->u.select.cond, lane, &cond))
        return false;
    if (e->kind == TE_IF_THEN_ELSE)
        return eval_child(r, cond.i ? e->u.select.then_value : e->u.select.else_value, lane,
                          out);
    if (!eval_child(r, e->u.select.then_value, lane, &then_value) ||
        !eval_child(r, e->u.select.else_value, lane, &else_value))
        return false;
    *out = cond.i ? then_value : else_value;
    return true;
}

/* Lane `lane` of e (0 for a scalar). */
static bool eval(Run *r, const TsExpr *e, int lane, TeValue *out)
{
    TeValue a;
    switch (e->kind) {
    case TE_INT:
        out->i = e->u.int_value;
        return true;
    case TE_FLOAT:
        out->f = e->u.float_value;
        return true;
    case TE_VAR:
        return lookup(r, e, lane, out);
    case TE_ADD: case TE_SUB: case TE_MUL: case TE_DIV: case TE_MOD: case TE_FLOORDIV:
    case TE_FLOORMOD: case TE_MIN: case TE_MAX: case TE_EQ: case TE_NE: case TE_LT: case TE_LE:
    case TE_GT: case TE_GE: case TE_AND: case TE_OR: case TE_BITAND: case TE_BITOR:
    case TE_BITXOR: case TE_SHL: case TE_SHR:
        return eval_binary(r, e, lane, out);
    case TE_NOT: case TE_BITNOT: case TE_POPCOUNT:
        return eval_unary(r, e, lane, out);
    case TE_SELECT: case TE_IF_THEN_ELSE:
        return eval_conditional(r, e, lane, out);
    case TE_CAST:
        if (!eval_child(r, e->u.cast.value, lane, &a))
            return false;
        *out = te_value_cast(e->u.cast.value->dtype, e->dtype, a);
        return true;
    case TE_REINTERPRET:
        return eval_reinterpret(r, e, lane, out);
    case TE_INTRINSIC:
        return run_fail(r, TS_EINVAL, "cannot run the target intrinsic %s: only generated code "
                        "can call it (%s)", e->u.intrinsic.name, expr_text(r, e));
    case TE_ADDRESS:
        return run_fail(r, TS_EINVAL, "cannot evaluate %s: a machine address exists only in "
                        "generated code", expr_text(r, e));
    case TE_CALL:
        return eval_call(r, e, lane, out);
    case TE_ACCESS:
    case TE_REDUCE:
        return run_fail(r, TS_EINVAL, "%s is a tensor-expression node (%s); lowering should "
                        "have replaced it", expr_text(r, e), te_expr_kind_name(e->kind));
    case TE_LOAD:
        return eval_load(r, e, lane, out);
    case TE_RAMP:
        return eval_ramp(r, e, lane, out);
    case TE_BROADCAST:
        return eval_child(r, e->u.broadcast.value, lane, out);
    case TE_NUM_EXPR_KINDS:
        break;
    }
    return run_fail(r, TS_EINVAL, "unknown expression kind %d", (int)e->kind);
}

/* ---- statements ---- */

static bool exec(Run *r, const TeStmt *s);

static bool exec_for(Run *r, const TeStmt *s)
{
    TeValue min, extent;
    r->stmt = s;
    if (!eval(r, s->u.loop.min, 0, &min) || !eval(r, s->u.loop.extent, 0, &extent) ||
        !push_scope(r, s->u.loop.var, true, min, NULL))
        return false;
    int slot = r->num_scopes - 1; /* the body may grow (move) the scope array */
    bool ok = true;
    for (int64_t k = 0; ok && k < extent.i; k++) {
        r->scopes[slot].value.i = te_wrap_int(TS_INT32, min.i + k);
        ok = exec(r, s->u.loop.body);
    }
    pop_scope(r);
    return ok;
}

/* Evaluates every lane of the value and of the indices, then writes them in lane order.
 * A masked store evaluates and writes only the lanes where its mask is true. */
static bool exec_store(Run *r, const TeStmt *s)
{
    const TeBuffer *b = s->u.store.buffer;
    int lanes = s->u.store.value->dtype.lanes;
    TeValue values[MAX_LANES];
    int64_t offsets[MAX_LANES];
    bool active[MAX_LANES];
    r->stmt = s;
    unsigned char *data = memory_of(r, b, "store to");
    if (!data)
        return false;
    for (int k = 0; k < lanes; k++) {
        TeValue on = { .i = 1 };
        if (s->u.store.mask && !eval(r, s->u.store.mask, k, &on))
            return false;
        active[k] = on.i != 0;
        if (active[k] && (!eval(r, s->u.store.value, k, &values[k]) ||
                          !element_offset(r, "store to", b, s->u.store.num_indices,
                                          s->u.store.indices, s->u.store.flat, k, &offsets[k])))
            return false;
    }
    for (int k = 0; k < lanes; k++)
        if (active[k])
            te_value_store(b->dtype, data + (size_t)offsets[k] * (b->dtype.bits / 8), values[k]);
    return true;
}

static bool exec_allocate(Run *r, const TeStmt *s)
{
    const TeBuffer *b = s->u.allocate.buffer;
    r->stmt = s;
    if (b->num_elements < 1 || b->num_elements > TS_MAX_EXTENT)
        return run_fail(r, TS_EINVAL, "allocate %s: %lld elements", b->name,
                        (long long)b->num_elements);
    size_t bytes = (size_t)b->num_elements * (b->dtype.bits / 8);
    unsigned char *data = malloc(bytes);
    if (!data)
        return run_fail(r, TS_ENOMEM, "no memory for the %lld elements of %s",
                        (long long)b->num_elements, b->name);
    memset(data, POISON_BYTE, bytes);
    if (!reserve((void **)&r->memory, &r->cap_memory, r->num_memory, sizeof *r->memory)) {
        free(data);
        return run_fail(r, TS_ENOMEM, "out of memory for buffer %s", b->name);
    }
    r->memory[r->num_memory++] = (Memory){ .buffer = b, .data = data };
    bool ok = exec(r, s->u.allocate.body);
    r->num_memory--;
    free(data);
    return ok;
}

static bool exec_if(Run *r, const TeStmt *s)
{
    TeValue cond;
    r->stmt = s;
    if (!eval(r, s->u.if_then.cond, 0, &cond))
        return false;
    if (cond.i)
        return exec(r, s->u.if_then.then_case);
    return s->u.if_then.else_case ? exec(r, s->u.if_then.else_case) : true;
}

/* Binds the variable to the value (all its lanes, evaluated now) for the body. */
static bool exec_let(Run *r, const TeStmt *s)
{
    int lanes = s->u.let.value->dtype.lanes;
    TeValue scalar = { 0 }, *vector = NULL;
    r->stmt = s;
    if (lanes > 1 && !(vector = malloc(sizeof *vector * (size_t)lanes)))
        return run_fail(r, TS_ENOMEM, "no memory for the %d lanes of %s", lanes,
                        s->u.let.var->u.var.name);
    for (int k = 0; k < lanes; k++) {
        if (!eval(r, s->u.let.value, k, vector ? &vector[k] : &scalar)) {
            free(vector);
            return false;
        }
    }
    if (!push_scope(r, s->u.let.var, false, scalar, vector)) {
        free(vector);
        return false;
    }
    bool ok = exec(r, s->u.let.body);
    pop_scope(r);
    return ok;
}

static bool exec(Run *r, const TeStmt *s)
{
    switch (s->kind) {
    case TE_STMT_FOR:
        return exec_for(r, s);
    case TE_STMT_STORE:
        return exec_store(r, s);
    case TE_STMT_ALLOCATE:
        return exec_allocate(r, s);
    case TE_STMT_IF:
        return exec_if(r, s);
    case TE_STMT_LET:
        return exec_let(r, s);
    case TE_STMT_SEQ:
        for (int i = 0; i < s->u.seq.num_stmts; i++)
            if (!exec(r, s->u.seq.stmts[i]))
                return false;
        return true;
    case TE_STMT_CALL:
        r->stmt = s;
        return run_fail(r, TS_EINVAL, "cannot run the target intrinsic %s: only generated "
                        "code can call it", s->u.call.name);
    case TE_STMT_TENSORIZE:
        /* The intrinsic's declaration over the matched regions, not its code. */
        return exec(r, s->u.tensorize.declared);
    case TE_NUM_STMT_KINDS:
        break;
    }
    return run_fail(r, TS_EINVAL, "unknown statement kind %d", (int)s->kind);
}

/* ---- arguments ---- */

const char *ts_lowered_name(const TsLoweredFunc *func)
{
    return func ? func->name : NULL;
}

int ts_lowered_num_args(const TsLoweredFunc *func)
{
    return func ? func->num_args : 0;
}

const TsTensor *ts_lowered_arg(const TsLoweredFunc *func, int i)
{
    if (!func || !func->args || i < 0 || i >= func->num_args || !func->args[i])
        return NULL;
    return func->args[i]->tensor;
}

/* Checks that each argument is a whole tensor, once, so the caller's dense buffer of the
 * tensor covers every element the argument's shape and strides can reach. */
static TsStatus check_arguments(const TsLoweredFunc *f, TsError *err)
{
    for (int i = 0; i < f->num_args; i++) {
        const TeBuffer *b = f->args[i];
        if (!b || !b->tensor)
            return ts_fail(err, TS_EINVAL, "run %s: argument %d has no %s", f->name, i,
                           b ? "tensor" : "buffer");
        int64_t n = ts_tensor_num_elements(b->tensor);
        if (b->num_elements > n || b->dtype.code != b->tensor->dtype.code ||
            b->dtype.bits != b->tensor->dtype.bits)
            return ts_fail(err, TS_EINVAL, "run %s: argument buffer %s (%lld elements) does "
                           "not fit tensor %s (%lld elements of another dtype or fewer)",
                           f->name, b->name, (long long)b->num_elements, b->tensor->name,
                           (long long)n);
        for (int j = 0; j < i; j++)
            if (f->args[j]->tensor == b->tensor)
                return ts_fail(err, TS_EINVAL, "run %s: tensor %s is both argument %d and "
                               "argument %d", f->name, b->tensor->name, j, i);
    }
    return TS_OK;
}

/* Gives every argument the data of its binding; every argument must be bound, once, and
 * nothing else may be. The arguments become the first r->num_args memory entries. */
static TsStatus bind_arguments(Run *r, int num_bindings, const TsBinding *bindings)
{
    const TsLoweredFunc *f = r->func;
    for (int i = 0; i < f->num_args; i++)
        r->memory[i] = (Memory){ .buffer = f->args[i], .data = NULL };
    r->num_memory = f->num_args;
    for (int k = 0; k < num_bindings; k++) {
        const TsTensor *t = bindings[k].tensor;
        if (!t || !bindings[k].data)
            return ts_fail(r->err, TS_EINVAL, "run %s: binding %d has a NULL %s", f->name, k,
                           t ? "data pointer" : "tensor");
        int i = 0;
        while (i < f->num_args && f->args[i]->tensor != t)
            i++;
        if (i == f->num_args)
            return ts_fail(r->err, TS_EINVAL, "run %s: tensor %s is bound but is not an "
                           "argument of %s", f->name, t->name, f->name);
        if (r->memory[i].data)
            return ts_fail(r->err, TS_EINVAL, "run %s: tensor %s is bound twice", f->name,
                           t->name);
        r->memory[i].data = bindings[k].data;
    }
    for (int i = 0; i < f->num_args; i++)
        if (!r->memory[i].data)
            return ts_fail(r->err, TS_EINVAL, "run %s: argument %s (tensor %s) is not bound",
                           f->name, f->args[i]->name, f->args[i]->tensor->name);
    return TS_OK;
}

static TsStatus check_func(const TsLoweredFunc *f, int num_bindings, const TsBinding *bindings,
                           TsError *err)
{
    if (!f)
        return ts_fail(err, TS_EINVAL, "run: no lowered function");
    if (!f->body || f->num_args < 0 || (f->num_args > 0 && !f->args))
        return ts_fail(err, TS_EINVAL, "run %s: the function has no body or a bad argument "
                       "list (%d arguments)", f->name, f->num_args);
    if (num_bindings < 0 || (num_bindings > 0 && !bindings))
        return ts_fail(err, TS_EINVAL, "run %s: %d bindings but no array", f->name,
                       num_bindings);
    return check_arguments(f, err);
}

TsStatus ts_lowered_run(const TsLoweredFunc *func, int num_bindings, const TsBinding *bindings,
                        TsError *err)
{
    TsStatus status = check_func(func, num_bindings, bindings, err);
    if (status != TS_OK)
        return status;
    Run r = { .func = func, .err = err, .status = TS_OK };
    r.cap_memory = func->num_args + 16;
    r.memory = malloc(sizeof *r.memory * (size_t)r.cap_memory);
    r.scratch = ts_arena_create();
    if (!r.memory || !r.scratch) {
        status = ts_fail(err, TS_ENOMEM, "run %s: out of memory", func->name);
        goto out_free;
    }
    status = bind_arguments(&r, num_bindings, bindings);
    if (status == TS_OK && !exec(&r, func->body)) {
        assert(r.status != TS_OK); /* every failure goes through run_fail */
        status = r.status;
    }
    while (r.num_scopes > 0) /* only after a failure */
        pop_scope(&r);
out_free:
    free(r.scopes);
    free(r.memory);
    ts_arena_destroy(r.scratch);
    return status;
}
