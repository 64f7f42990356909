/* The printer: expressions and DAGs as text, one line per stage, in the spirit of TVM's
 * printer. Used in golden tests, in error messages and by `tessera lower`.
 *
 * Conventions: int32 constants print bare ("3"), other integer constants carry their
 * type ("3i64", "255u8"), float32 constants end in "f", float16 ones in "h"; binary
 * operators are parenthesised; reductions print as
 * "sum(source, axis=[k:32], where=cond)". */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "te_internal.h"

typedef struct {
    char *text;
    size_t len;
    size_t cap;
    bool failed;
} Buf;

static void put(Buf *b, const char *fmt, ...) TS_PRINTF_LIKE(2, 3);

static void put(Buf *b, const char *fmt, ...)
{
    if (b->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->text ? b->text + b->len : NULL, b->text ? b->cap - b->len : 0, fmt,
                          ap);
        va_end(ap);
        if (n < 0) {
            b->failed = true;
            return;
        }
        if (b->text && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap : 256;
        while (cap <= b->len + (size_t)n)
            cap *= 2;
        char *grown = realloc(b->text, cap);
        if (!grown) {
            b->failed = true;
            return;
        }
        b->text = grown;
        b->cap = cap;
    }
}

static void put_expr(Buf *b, const TsExpr *e);

static void put_int(Buf *b, const TsExpr *e)
{
    TsDType t = e->dtype;
    if (ts_dtype_is_bool(t))
        put(b, "%s", e->u.int_value ? "true" : "false");
    else if (ts_dtype_is_uint(t))
        put(b, "%lluu%u", (unsigned long long)e->u.int_value, t.bits);
    else if (t.bits == 32)
        put(b, "%lld", (long long)e->u.int_value);
    else
        put(b, "%lldi%u", (long long)e->u.int_value, t.bits);
}

static void put_float(Buf *b, const TsExpr *e)
{
    double v = e->u.float_value;
    const char *suffix = ts_dtype_is_bfloat(e->dtype) ? "bf"
                         : e->dtype.bits == 32        ? "f"
                         : e->dtype.bits == 16        ? "h"
                                                      : "";
    char text[40];
    snprintf(text, sizeof text, "%.*g", e->dtype.bits == 64 ? 17 : 9, v);
    /* Keep a float looking like a float: 1 prints as 1.0f. */
    bool plain = strspn(text, "-0123456789") == strlen(text);
    put(b, "%s%s%s", text, plain ? ".0" : "", suffix);
}

static void put_axes(Buf *b, int n, TsAxis *const *axes)
{
    put(b, "[");
    for (int i = 0; i < n; i++)
        put(b, "%s%s:%lld", i ? ", " : "", axes[i]->name, (long long)ts_axis_extent(axes[i]));
    put(b, "]");
}

static void put_expr(Buf *b, const TsExpr *e)
{
    char dt[TS_DTYPE_STR_MAX];
    if (!e) {
        put(b, "<null>");
        return;
    }
    const char *op = te_expr_kind_name(e->kind);
    switch (e->kind) {
    case TE_INT: put_int(b, e); return;
    case TE_FLOAT: put_float(b, e); return;
    case TE_VAR: put(b, "%s", e->u.var.name); return;
    case TE_ADD: case TE_SUB: case TE_MUL: case TE_DIV: case TE_MOD: case TE_EQ: case TE_NE:
    case TE_LT: case TE_LE: case TE_GT: case TE_GE: case TE_AND: case TE_OR: case TE_BITAND:
    case TE_BITOR: case TE_BITXOR: case TE_SHL: case TE_SHR:
        put(b, "(");
        put_expr(b, e->u.op.a);
        put(b, " %s ", op);
        put_expr(b, e->u.op.b);
        put(b, ")");
        return;
    case TE_FLOORDIV: case TE_FLOORMOD: case TE_MIN: case TE_MAX:
        put(b, "%s(", op);
        put_expr(b, e->u.op.a);
        put(b, ", ");
        put_expr(b, e->u.op.b);
        put(b, ")");
        return;
    case TE_NOT: case TE_BITNOT:
        put(b, "%s", op);
        put_expr(b, e->u.op.a);
        return;
    case TE_POPCOUNT:
        put(b, "popcount(");
        put_expr(b, e->u.op.a);
        put(b, ")");
        return;
    case TE_SELECT: case TE_IF_THEN_ELSE:
        put(b, "%s(", op);
        put_expr(b, e->u.select.cond);
        put(b, ", ");
        put_expr(b, e->u.select.then_value);
        put(b, ", ");
        put_expr(b, e->u.select.else_value);
        put(b, ")");
        return;
    case TE_CAST:
        put(b, "%s(", ts_dtype_str(e->dtype, dt));
        put_expr(b, e->u.cast.value);
        put(b, ")");
        return;
    case TE_REINTERPRET:
        put(b, "reinterpret<%s>(", ts_dtype_str(e->dtype, dt));
        put_expr(b, e->u.cast.value);
        put(b, ")");
        return;
    case TE_INTRINSIC:
        put(b, "call_intrinsic<%s>(%s", ts_dtype_str(e->dtype, dt), e->u.intrinsic.name);
        for (int i = 0; i < e->u.intrinsic.num_args; i++) {
            put(b, ", ");
            put_expr(b, e->u.intrinsic.args[i]);
        }
        put(b, ")");
        return;
    case TE_ADDRESS:
        put(b, "address_of(%s[", e->u.load.buffer->name);
        for (int i = 0; i < e->u.load.num_indices; i++) {
            put(b, "%s", i ? ", " : "");
            put_expr(b, e->u.load.indices[i]);
        }
        put(b, "])");
        return;
    case TE_CALL:
        put(b, "%s(", te_call_name(e->u.call.fn));
        put_expr(b, e->u.call.args[0]);
        if (e->u.call.args[1]) {
            put(b, ", ");
            put_expr(b, e->u.call.args[1]);
        }
        put(b, ")");
        return;
    case TE_ACCESS:
        put(b, "%s[", e->u.access.tensor->name);
        for (int i = 0; i < e->u.access.num_indices; i++) {
            put(b, "%s", i ? ", " : "");
            put_expr(b, e->u.access.indices[i]);
        }
        put(b, "]");
        return;
    case TE_REDUCE:
        put(b, "%s(", e->u.reduce.reducer->name);
        put_expr(b, e->u.reduce.source);
        put(b, ", axis=");
        put_axes(b, e->u.reduce.num_axes, e->u.reduce.axes);
        if (e->u.reduce.cond) {
            put(b, ", where=");
            put_expr(b, e->u.reduce.cond);
        }
        put(b, ")");
        return;
    case TE_LOAD:
        put(b, "%s[", e->u.load.buffer->name);
        for (int i = 0; i < e->u.load.num_indices; i++) {
            put(b, "%s", i ? ", " : "");
            put_expr(b, e->u.load.indices[i]);
        }
        put(b, "]");
        return;
    case TE_RAMP:
        put(b, "ramp(");
        put_expr(b, e->u.ramp.base);
        put(b, ", ");
        put_expr(b, e->u.ramp.stride);
        put(b, ", %d)", e->u.ramp.lanes);
        return;
    case TE_BROADCAST:
        put(b, "broadcast(");
        put_expr(b, e->u.broadcast.value);
        put(b, ", %d)", e->u.broadcast.lanes);
        return;
    case TE_NUM_EXPR_KINDS:
        break;
    }
    put(b, "<bad kind %d>", (int)e->kind);
}

/* Moves the buffer into the arena; NULL (with TS_ENOMEM recorded) on failure. */
static const char *finish(TsArena *arena, Buf *b)
{
    const char *text = NULL;
    if (b->failed)
        ts_arena_fail(arena, TS_ENOMEM, "printer: out of memory");
    else
        text = ts_arena_strdup(arena, b->text ? b->text : "");
    free(b->text);
    return text;
}

const char *te_expr_str(TsArena *arena, const TsExpr *e)
{
    Buf b = { 0 };
    put_expr(&b, e);
    return finish(arena, &b);
}

const char *ts_expr_str(TsArena *arena, const TsExpr *e)
{
    return te_expr_str(arena, e);
}

/* ---- loop nests ---- */

static void indent(Buf *b, int depth)
{
    put(b, "%*s", 2 * depth, "");
}

static void put_stmt(Buf *b, const TeStmt *s, int depth);

static void put_block(Buf *b, const TeStmt *s, int depth)
{
    put(b, " {\n");
    put_stmt(b, s, depth + 1);
    indent(b, depth);
    put(b, "}\n");
}

static void put_buffer_type(Buf *b, const TeBuffer *buf)
{
    char dt[TS_DTYPE_STR_MAX];
    put(b, "%s[", ts_dtype_str(buf->dtype, dt));
    for (int i = 0; i < buf->ndim; i++)
        put(b, "%s%lld", i ? ", " : "", (long long)buf->shape[i]);
    put(b, "]");
}

static void put_indices(Buf *b, const char *name, int n, TsExpr *const *indices)
{
    put(b, "%s[", name);
    for (int i = 0; i < n; i++) {
        put(b, "%s", i ? ", " : "");
        put_expr(b, indices[i]);
    }
    put(b, "]");
}

/* One line per statement, as TVM's simple mode: "for (i, 0, 64) {", "C[i, j] = ...". */
static void put_stmt(Buf *b, const TeStmt *s, int depth)
{
    switch (s->kind) {
    case TE_STMT_FOR:
        indent(b, depth);
        put(b, "%s (", te_for_kind_name(s->u.loop.for_kind));
        put_expr(b, s->u.loop.var);
        put(b, ", ");
        put_expr(b, s->u.loop.min);
        put(b, ", ");
        put_expr(b, s->u.loop.extent);
        put(b, ")");
        for (int i = 0; i < s->u.loop.num_pragmas; i++)
            put(b, "%s%s=%lld%s", i ? ", " : " [", s->u.loop.pragmas[i].key,
                (long long)s->u.loop.pragmas[i].value, i + 1 == s->u.loop.num_pragmas ? "]" : "");
        put_block(b, s->u.loop.body, depth);
        return;
    case TE_STMT_STORE:
        indent(b, depth);
        put_indices(b, s->u.store.buffer->name, s->u.store.num_indices, s->u.store.indices);
        put(b, " = ");
        put_expr(b, s->u.store.value);
        if (s->u.store.mask) {
            put(b, " masked by ");
            put_expr(b, s->u.store.mask);
        }
        put(b, "\n");
        return;
    case TE_STMT_ALLOCATE:
        indent(b, depth);
        put(b, "allocate %s: ", s->u.allocate.buffer->name);
        put_buffer_type(b, s->u.allocate.buffer);
        put_block(b, s->u.allocate.body, depth);
        return;
    case TE_STMT_IF:
        indent(b, depth);
        put(b, s->u.if_then.likely ? "if (likely(" : "if (");
        put_expr(b, s->u.if_then.cond);
        put(b, s->u.if_then.likely ? "))" : ")");
        put_block(b, s->u.if_then.then_case, depth);
        if (s->u.if_then.else_case) {
            indent(b, depth);
            put(b, "else");
            put_block(b, s->u.if_then.else_case, depth);
        }
        return;
    case TE_STMT_LET:
        indent(b, depth);
        put(b, "let ");
        put_expr(b, s->u.let.var);
        put(b, " = ");
        put_expr(b, s->u.let.value);
        put(b, "\n");
        put_stmt(b, s->u.let.body, depth);
        return;
    case TE_STMT_SEQ:
        for (int i = 0; i < s->u.seq.num_stmts; i++)
            put_stmt(b, s->u.seq.stmts[i], depth);
        return;
    case TE_STMT_CALL:
        indent(b, depth);
        put(b, "call %s(", s->u.call.name);
        for (int i = 0; i < s->u.call.num_args; i++) {
            put(b, "%s", i ? ", " : "");
            put_expr(b, s->u.call.args[i]);
        }
        put(b, ")\n");
        return;
    case TE_STMT_TENSORIZE:
        indent(b, depth);
        put(b, "tensorize %s.%s {\n", s->u.tensorize.name, s->u.tensorize.part);
        put_stmt(b, s->u.tensorize.code, depth + 1);
        indent(b, depth);
        put(b, "} declared as {\n");
        put_stmt(b, s->u.tensorize.declared, depth + 1);
        indent(b, depth);
        put(b, "}\n");
        return;
    case TE_NUM_STMT_KINDS:
        break;
    }
    indent(b, depth);
    put(b, "<bad statement kind %d>\n", (int)s->kind);
}

const char *te_stmt_str(TsArena *arena, const TeStmt *s)
{
    Buf b = { 0 };
    put_stmt(&b, s, 0);
    return finish(arena, &b);
}

const char *ts_lowered_str(TsArena *arena, const TsLoweredFunc *f)
{
    if (!f) {
        ts_arena_fail(arena, TS_EINVAL, "printer: no lowered function");
        return NULL;
    }
    Buf b = { 0 };
    put(&b, "func %s(", f->name);
    for (int i = 0; i < f->num_args; i++) {
        put(&b, "%s%s: ", i ? ", " : "", f->args[i]->name);
        put_buffer_type(&b, f->args[i]);
    }
    put(&b, ") {\n");
    put_stmt(&b, f->body, 1);
    put(&b, "}\n");
    return finish(arena, &b);
}

/* "placeholder A: float32[64, 32]" or
 * "compute C[i, j]: float32[64, 16] = sum((A[i, k] * B[k, j]), axis=[k:32])  # matmul" */
static void put_stage(Buf *b, const TsTensor *t)
{
    char dt[TS_DTYPE_STR_MAX];
    put(b, "%s %s", t->op == TE_OP_PLACEHOLDER ? "placeholder" : "compute", t->name);
    if (t->op == TE_OP_COMPUTE) {
        put(b, "[");
        for (int i = 0; i < t->ndim; i++)
            put(b, "%s%s", i ? ", " : "", t->axes[i]->name);
        put(b, "]");
    }
    put(b, ": %s[", ts_dtype_str(t->dtype, dt));
    for (int i = 0; i < t->ndim; i++) {
        put(b, "%s", i ? ", " : "");
        put_expr(b, t->shape[i]);
    }
    put(b, "]");
    if (t->op == TE_OP_COMPUTE) {
        put(b, " = ");
        put_expr(b, t->body);
        if (t->tag[0])
            put(b, "  # %s", t->tag);
    }
    put(b, "\n");
}

const char *ts_dag_str(TsArena *arena, int num_outputs, TsTensor *const *outputs)
{
    TsTensor **stages;
    int n = ts_dag_stages(arena, num_outputs, outputs, &stages);
    if (n < 0)
        return NULL;
    Buf b = { 0 };
    for (int i = 0; i < n; i++)
        put_stage(&b, stages[i]);
    return finish(arena, &b);
}

bool te_dump_wanted(const char *step)
{
    const char *dump = getenv("TS_DUMP");
    if (!dump || !dump[0])
        return false;
    if (strcmp(dump, "all") == 0)
        return true;
    size_t n = strlen(step);
    for (const char *p = dump; (p = strstr(p, step)) != NULL; p += n) {
        bool starts = p == dump || p[-1] == ',';
        bool ends = p[n] == '\0' || p[n] == ',';
        if (starts && ends)
            return true;
    }
    return false;
}
