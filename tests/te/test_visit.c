/* The read-only visitor (te/visit.c): the order it visits nodes in, the caller's choice
 * of walking load indices, skipping a subtree and stopping early, statements with and
 * without their expressions; and how the simplifier and the printer treat intrinsic
 * calls (opaque: never folded or dropped), reinterprets, addresses and call statements. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "te/te_internal.h"
#include "tessera/tessera.h"

typedef struct Seen {
    const TsExpr *exprs[64];
    int num_exprs;
    int num_stmts;
    TeExprKind skip_kind; /* TE_NUM_EXPR_KINDS: none */
    const TsExpr *stop_at;
} Seen;

static TeVisit see_expr(void *ctx, const TsExpr *e)
{
    Seen *s = ctx;
    if (s->num_exprs < 64)
        s->exprs[s->num_exprs++] = e;
    if (e == s->stop_at)
        return TE_VISIT_STOP;
    return e->kind == s->skip_kind ? TE_VISIT_SKIP : TE_VISIT_CHILDREN;
}

static TeVisit see_stmt(void *ctx, const TeStmt *st)
{
    (void)st;
    ((Seen *)ctx)->num_stmts++;
    return TE_VISIT_CHILDREN;
}

typedef struct Nest {
    TsArena *A;
    TeBuffer *a, *idx, *out;
    TsExpr *i, *j, *gather, *sum, *call;
    TeStmt *body;
} Nest;

/* for i: out[i] = A[idx[i]] + j; call llvm.prefetch.p0(address_of(A[i]), 0, 3, 1) */
static Nest nest(void)
{
    Nest n = { .A = ts_arena_create() };
    TsArena *A = n.A;
    TsTensor *a = ts_placeholder(A, "A", 1, (int64_t[]){ 8 }, TS_INT32);
    TsTensor *idx = ts_placeholder(A, "idx", 1, (int64_t[]){ 8 }, TS_INT32);
    TsTensor *out = ts_placeholder(A, "out", 1, (int64_t[]){ 8 }, TS_INT32);
    n.a = te_buffer(A, "A", a, 1, NULL, TE_SCOPE_GLOBAL);
    n.idx = te_buffer(A, "idx", idx, 1, NULL, TE_SCOPE_GLOBAL);
    n.out = te_buffer(A, "out", out, 1, NULL, TE_SCOPE_GLOBAL);
    n.i = ts_variable(A, "i", TS_INT32);
    n.j = ts_variable(A, "j", TS_INT32);
    TsExpr *index = te_load(A, n.idx, 1, &n.i, true);
    n.gather = te_load(A, n.a, 1, &index, true);
    n.sum = ts_add(A, n.gather, n.j);
    TsExpr *args[] = { te_address(A, n.a, 1, &n.i, true), ts_i32(A, 0), ts_i32(A, 3),
                       ts_i32(A, 1) };
    TeStmt *stmts[] = { te_store(A, n.out, 1, &n.i, n.sum, true),
                        te_call_stmt(A, "llvm.prefetch.p0", 4, args) };
    n.body =
        te_for(A, n.i, ts_i32(A, 0), ts_i32(A, 8), TE_FOR_SERIAL, 0, NULL, te_seq(A, 2, stmts));
    assert_non_null(n.body);
    return n;
}

static void test_order_and_load_indices(void **state)
{
    (void)state;
    Nest n = nest();
    Seen s = { .skip_kind = TE_NUM_EXPR_KINDS };
    TeVisitor v = { .expr = see_expr, .ctx = &s };
    assert_false(te_visit_expr(n.sum, &v));
    /* parents first, operands in order, load indices walked: + A[idx[i]] idx[i] i j */
    assert_int_equal(s.num_exprs, 5);
    assert_ptr_equal(s.exprs[0], n.sum);
    assert_ptr_equal(s.exprs[1], n.gather);
    assert_int_equal(s.exprs[2]->kind, TE_LOAD);
    assert_ptr_equal(s.exprs[3], n.i);
    assert_ptr_equal(s.exprs[4], n.j);
    /* the caller may leave load indices out */
    s.num_exprs = 0;
    v.skip_load_indices = true;
    te_visit_expr(n.sum, &v);
    assert_int_equal(s.num_exprs, 3);
    assert_ptr_equal(s.exprs[2], n.j);
    ts_arena_destroy(n.A);
}

static void test_skip_and_stop(void **state)
{
    (void)state;
    Nest n = nest();
    Seen s = { .skip_kind = TE_LOAD };
    TeVisitor v = { .expr = see_expr, .ctx = &s };
    te_visit_expr(n.sum, &v);
    assert_int_equal(s.num_exprs, 3); /* + A[...] j: the load's subtree skipped */
    s = (Seen){ .skip_kind = TE_NUM_EXPR_KINDS, .stop_at = n.i };
    assert_true(te_visit_expr(n.sum, &v));
    assert_int_equal(s.num_exprs, 4); /* j is never reached */
    assert_true(te_expr_uses_var(n.sum, n.j));
    assert_false(te_expr_uses_var(n.gather, n.j));
    ts_arena_destroy(n.A);
}

static void test_statements(void **state)
{
    (void)state;
    Nest n = nest();
    Seen s = { .skip_kind = TE_NUM_EXPR_KINDS };
    TeVisitor stmts_only = { .stmt = see_stmt, .ctx = &s };
    te_visit_stmt(n.body, &stmts_only);
    assert_int_equal(s.num_stmts, 4); /* for, seq, store, call */
    assert_int_equal(s.num_exprs, 0);
    TeVisitor both = { .expr = see_expr, .stmt = see_stmt, .ctx = &s };
    s.num_stmts = 0;
    te_visit_stmt(n.body, &both);
    /* loop: 0 8; store: i, + A[idx[i]] idx[i] i j; call: address_of(A[i]) i 0 3 1 */
    assert_int_equal(s.num_exprs, 2 + 6 + 5);
    assert_true(te_stmt_uses_var(n.body, n.j));
    ts_arena_destroy(n.A);
}

/* x * 0 and x - x drop x only when x cannot fail: an intrinsic call is opaque. */
static void test_simplifier_keeps_intrinsics(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    TsExpr *x = ts_variable(A, "x", TS_INT32);
    TsExpr *call = ts_call_intrinsic(A, "llvm.ctpop.i32", TS_INT32, 1, &x);
    TsExpr *times_zero = te_simplify_expr(A, ts_mul(A, call, ts_i32(A, 0)), 0, NULL);
    TsExpr *minus_self = te_simplify_expr(A, ts_sub(A, call, call), 0, NULL);
    assert_true(te_expr_uses_var(times_zero, x));
    assert_true(te_expr_uses_var(minus_self, x));
    /* the same without the call folds: the rules apply, the call stopped them */
    assert_int_equal(te_simplify_expr(A, ts_mul(A, x, ts_i32(A, 0)), 0, NULL)->kind, TE_INT);
    /* a call's arguments are simplified, the call kept */
    TsExpr *arg = ts_add(A, x, ts_i32(A, 0));
    TsExpr *kept =
        te_simplify_expr(A, ts_call_intrinsic(A, "llvm.ctpop.i32", TS_INT32, 1, &arg), 0, NULL);
    assert_string_equal(ts_expr_str(A, kept), "call_intrinsic<int32>(llvm.ctpop.i32, x)");
    TsExpr *bits = ts_reinterpret(A, TS_FLOAT32, ts_add(A, x, ts_i32(A, 0)));
    assert_string_equal(ts_expr_str(A, te_simplify_expr(A, bits, 0, NULL)),
                        "reinterpret<float32>(x)");
    /* reinterpret to the same dtype is the operand itself */
    assert_ptr_equal(ts_reinterpret(A, TS_INT32, x), x);
    ts_arena_destroy(A);
}

/* A call statement survives simplification in its place; the statement simplifier
 * simplifies its arguments. */
static void test_simplifier_keeps_call_statements(void **state)
{
    (void)state;
    Nest n = nest();
    TeStmt *s = te_simplify_stmt(n.A, n.body);
    assert_non_null(s);
    const char *text = te_stmt_str(n.A, s);
    assert_non_null(strstr(text, "out[i] = (A[idx[i]] + j)\n  call llvm.prefetch.p0("
                                 "address_of(A[i]), 0, 3, 1)\n"));
    ts_arena_destroy(n.A);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_and_load_indices),
        cmocka_unit_test(test_skip_and_stop),
        cmocka_unit_test(test_statements),
        cmocka_unit_test(test_simplifier_keeps_intrinsics),
        cmocka_unit_test(test_simplifier_keeps_call_statements),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
