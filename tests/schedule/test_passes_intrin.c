/* The loop passes on intrinsic calls, reinterprets and addresses, on loop nests built by
 * hand: vectorize widens a reinterpret lane by lane, keeps a loop-invariant intrinsic
 * call, and refuses (naming it) an intrinsic call that depends on the loop or a call
 * statement; storage_flatten flattens addresses; unroll copies call statements in order;
 * storage_rewrite leaves alone a temporary whose address an intrinsic takes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "schedule/sch_internal.h"

static const SchLowerOptions strict = { .allow_scalar_fallback = false };

static TeBuffer *buffer(TsArena *A, const char *name, int ndim, const int64_t *shape,
                        TeBufferScope scope)
{
    TsTensor *t = ts_placeholder(A, name, ndim, shape, TS_INT32);
    TeBuffer *b = te_buffer(A, name, t, ndim, shape, scope);
    assert_non_null(b);
    return b;
}

static TsLoweredFunc *func(TsArena *A, int n, TeBuffer *const *args, TeStmt *body)
{
    if (!body)
        fprintf(stderr, "%s\n", ts_arena_error(A)->message);
    assert_non_null(body);
    TsLoweredFunc *f = ts_arena_alloc(A, sizeof *f);
    const TeBuffer **copy = ts_arena_alloc(A, sizeof *copy * (size_t)n);
    memcpy(copy, args, sizeof *copy * (size_t)n);
    *f = (TsLoweredFunc){ .name = "k", .num_args = n, .args = copy, .body = body };
    return f;
}

static TsLoweredFunc *run(TsArena *A, SchPass pass, TsLoweredFunc *f)
{
    TsError err = { 0 };
    TsLoweredFunc *out = pass(A, f, &strict, &err);
    if (!out)
        fprintf(stderr, "%s: %s\n", ts_status_name(err.status), err.message);
    assert_non_null(out);
    return out;
}

static void expect_refusal(TsArena *A, TsLoweredFunc *f, const char *needle)
{
    TsError err = { 0 };
    TsLoweredFunc *out = sch_pass_vectorize(A, f, &strict, &err);
    if (out || !strstr(err.message, needle))
        fprintf(stderr, "%s (wanted \"%s\")\n", err.message, needle);
    assert_null(out);
    assert_non_null(strstr(err.message, needle));
}

static const char *text(TsArena *A, const TsLoweredFunc *f)
{
    const char *s = ts_lowered_str(A, f);
    assert_non_null(s);
    return s;
}

/* for (i, 0, 8) vectorized: body(i) */
static TeStmt *vector_loop(TsArena *A, TsExpr *i, TeStmt *body)
{
    return te_for(A, i, ts_i32(A, 0), ts_i32(A, 8), TE_FOR_VECTORIZED, 0, NULL, body);
}

static void test_vectorize(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    TeBuffer *a = buffer(A, "A", 1, (int64_t[]){ 8 }, TE_SCOPE_GLOBAL);
    TeBuffer *o = buffer(A, "out", 1, (int64_t[]){ 8 }, TE_SCOPE_GLOBAL);
    TsExpr *i = ts_variable(A, "i", TS_INT32), *j = ts_variable(A, "j", TS_INT32);
    TsExpr *x = te_load(A, a, 1, &i, true);
    /* a reinterpret widens lane by lane */
    TsExpr *round_trip = ts_reinterpret(A, TS_INT32, ts_reinterpret(A, TS_FLOAT32, x));
    TsLoweredFunc *f = func(A, 2, (TeBuffer *[]){ a, o },
                            vector_loop(A, i, te_store(A, o, 1, &i, round_trip, true)));
    assert_non_null(strstr(text(A, run(A, sch_pass_vectorize, f)),
                           "out[ramp(0, 1, 8)] = reinterpret<int32x8>(reinterpret<float32x8>("
                           "A[ramp(0, 1, 8)]))"));
    /* a loop-invariant intrinsic call stays scalar */
    TsExpr *invariant = ts_call_intrinsic(A, "llvm.ctpop.i32", TS_INT32, 1, &j);
    f = func(A, 2, (TeBuffer *[]){ a, o },
             vector_loop(A, i, te_store(A, o, 1, &i, ts_add(A, x, invariant), true)));
    assert_non_null(strstr(text(A, run(A, sch_pass_vectorize, f)),
                           "broadcast(call_intrinsic<int32>(llvm.ctpop.i32, j), 8)"));
    /* one that depends on the loop is not widened */
    TsExpr *varying = ts_call_intrinsic(A, "llvm.ctpop.i32", TS_INT32, 1, &x);
    f = func(A, 2, (TeBuffer *[]){ a, o }, vector_loop(A, i, te_store(A, o, 1, &i, varying, true)));
    expect_refusal(A, f,
                   "the intrinsic call call_intrinsic<int32>(llvm.ctpop.i32, A[i]) "
                   "depends on i and cannot be widened");
    /* nor is a call statement, even one that does not depend on the loop */
    TsExpr *zero = ts_i32(A, 0);
    TsExpr *args[] = { te_address(A, a, 1, &zero, true), zero, ts_i32(A, 3), ts_i32(A, 1) };
    f = func(A, 2, (TeBuffer *[]){ a, o },
             vector_loop(A, i, te_call_stmt(A, "llvm.prefetch.p0", 4, args)));
    expect_refusal(A, f, "it calls the target intrinsic llvm.prefetch.p0 for its effect");
    ts_arena_destroy(A);
}

static void test_flatten_unroll_rewrite(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    TeBuffer *b = buffer(A, "B", 2, (int64_t[]){ 4, 4 }, TE_SCOPE_GLOBAL);
    TsExpr *k = ts_variable(A, "k", TS_INT32);
    TsExpr *ix[] = { k, ts_i32(A, 2) };
    TsExpr *args[] = { te_address(A, b, 2, ix, false), ts_i32(A, 0), ts_i32(A, 3), ts_i32(A, 1) };
    TeStmt *loop = te_for(A, k, ts_i32(A, 0), ts_i32(A, 3), TE_FOR_UNROLLED, 0, NULL,
                          te_call_stmt(A, "llvm.prefetch.p0", 4, args));
    TsLoweredFunc *f = func(A, 1, (TeBuffer *[]){ b }, loop);
    f = run(A, sch_pass_storage_flatten, f);
    assert_non_null(strstr(text(A, f), "address_of(B[((k * 4) + 2)])"));
    f = run(A, sch_pass_unroll, f);
    f = run(A, sch_pass_simplify, f);
    assert_non_null(strstr(text(A, f), "call llvm.prefetch.p0(address_of(B[2]), 0, 3, 1)\n"
                                       "  call llvm.prefetch.p0(address_of(B[6]), 0, 3, 1)\n"
                                       "  call llvm.prefetch.p0(address_of(B[10]), 0, 3, 1)\n"));
    /* two sibling temporaries would share memory, but P's address is taken */
    TeBuffer *out = buffer(A, "out", 1, (int64_t[]){ 4 }, TE_SCOPE_GLOBAL);
    TeBuffer *p = buffer(A, "P", 1, (int64_t[]){ 4 }, TE_SCOPE_LOCAL);
    TeBuffer *q = buffer(A, "Q", 1, (int64_t[]){ 4 }, TE_SCOPE_LOCAL);
    TsExpr *zero = ts_i32(A, 0);
    TsExpr *copy[] = { te_address(A, out, 1, &zero, true), te_address(A, p, 1, &zero, true),
                       ts_int(A, TS_INT64, 16), ts_bool(A, false) };
    TeStmt *use_p[] = { te_store(A, p, 1, &zero, ts_i32(A, 5), true),
                        te_call_stmt(A, "llvm.memcpy.p0.p0.i64", 4, copy) };
    TeStmt *use_q = te_store(A, q, 1, &zero, ts_i32(A, 6), true);
    TeStmt *both[] = { te_allocate(A, p, te_seq(A, 2, use_p)), te_allocate(A, q, use_q) };
    TsLoweredFunc *g = func(A, 1, (TeBuffer *[]){ out }, te_seq(A, 2, both));
    assert_ptr_equal(run(A, sch_pass_storage_rewrite, g), g);
    /* without the address, they are merged */
    TeStmt *plain[] = { te_allocate(A, p, te_store(A, p, 1, &zero, ts_i32(A, 5), true)),
                        te_allocate(A, q, use_q) };
    TsLoweredFunc *h = func(A, 1, (TeBuffer *[]){ out }, te_seq(A, 2, plain));
    assert_ptr_not_equal(run(A, sch_pass_storage_rewrite, h), h);
    ts_arena_destroy(A);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectorize),
        cmocka_unit_test(test_flatten_unroll_rewrite),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
