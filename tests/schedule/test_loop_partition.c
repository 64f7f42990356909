/* The loop passes simplify and loop_partition on loop nests built by hand: the printed
 * loop nest after the pass, exact, for the guards lowering makes (a split factor that
 * does not divide the extent, one and two levels deep, in two dimensions; a monotone
 * guard; padding on both sides), loop
 * kinds and pragmas kept on every part, a guard node shared by two contexts, and nests
 * left alone; and values: the loop-nest
 * interpreter runs the function before and after the pass on the same input, and the
 * output must be the same and equal to what the guard allows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "schedule/sch_internal.h"
#include "test_util.h"

enum { N = 64 }; /* elements of the buffers A and B */

typedef struct Copy {
    TsArena *arena;
    TsTensor *a, *b;
    const TeBuffer *args[2];
} Copy;

static Copy make_copy(TsArena *A)
{
    Copy c = { A, NULL, NULL, { NULL, NULL } };
    c.a = ts_placeholder(A, "A", 1, (int64_t[]){ N }, TS_INT32);
    c.b = ts_placeholder(A, "B", 1, (int64_t[]){ N }, TS_INT32);
    c.args[0] = te_buffer(A, "A", c.a, 1, NULL, TE_SCOPE_GLOBAL);
    c.args[1] = te_buffer(A, "B", c.b, 1, NULL, TE_SCOPE_GLOBAL);
    return c;
}

/* B[dst] = A[src] + 1 */
static TeStmt *copy(Copy *c, TsExpr *dst, TsExpr *src)
{
    TsExpr *load = te_load(c->arena, c->args[0], 1, &src, false);
    return te_store(c->arena, c->args[1], 1, &dst, ts_add(c->arena, load, ts_i32(c->arena, 1)),
                    false);
}

static TeStmt *loop(TsArena *A, TsExpr *var, int64_t min, int64_t extent, TeStmt *body)
{
    return te_for(A, var, ts_i32(A, min), ts_i32(A, extent), TE_FOR_SERIAL, 0, NULL, body);
}

static TsExpr *var(TsArena *A, const char *name)
{
    return ts_variable(A, name, TS_INT32);
}

/* Runs func on A[k] = 100 + k, B[k] = -1 and writes B into out. */
static void run(const TsLoweredFunc *func, const Copy *c, int32_t *out)
{
    int32_t a[N];
    for (int k = 0; k < N; k++) {
        a[k] = 100 + k;
        out[k] = -1;
    }
    TsError err = { 0 };
    TsStatus st = ts_lowered_run(func, 2, (TsBinding[]){ { c->a, a }, { c->b, out } }, &err);
    if (st != TS_OK)
        fprintf(stderr, "run: %s\n", err.message);
    assert_int_equal(st, TS_OK);
}

/* Applies simplify then loop_partition (the pipeline's order) to body; checks the
 * printed result and that outputs are unchanged. Returns the function after the passes. */
static TsLoweredFunc *check_partition(Copy *c, TeStmt *body, const char *want)
{
    TsArena *A = c->arena;
    assert_non_null(body);
    TsLoweredFunc *before = sch_func(A, "copy", 2, c->args, body);
    SchLowerOptions options = { 0 };
    TsError err = { 0 };
    TsLoweredFunc *after = sch_pass_simplify(A, before, &options, &err);
    after = after ? sch_pass_loop_partition(A, after, &options, &err) : NULL;
    if (!after)
        fprintf(stderr, "pass failed: %s\n", err.message);
    assert_non_null(after);
    const char *got = te_stmt_str(A, after->body);
    if (strcmp(got, want) != 0)
        fprintf(stderr, "before:\n%sgot:\n%swant:\n%s", te_stmt_str(A, body), got, want);
    assert_string_equal(got, want);
    int32_t out_before[N], out_after[N];
    run(before, c, out_before);
    run(after, c, out_after);
    assert_memory_equal(out_before, out_after, sizeof out_before);
    return after;
}

/* for (io, 0, 3) { for (ii, 0, 8) { if (likely(io*8 + ii < 20)) B[io*8 + ii] = ... } } */
static void test_split_tail(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    Copy c = make_copy(A);
    TsExpr *io = var(A, "io"), *ii = var(A, "ii");
    TsExpr *index = ts_add(A, ts_mul(A, io, ts_i32(A, 8)), ii);
    TeStmt *nest = loop(A, io, 0, 3, loop(A, ii, 0, 8, te_if(A, ts_lt(A, index, ts_i32(A, 20)),
                                                            copy(&c, index, index), NULL, true)));
    TsLoweredFunc *f = check_partition(&c, nest,
                                       "for (io, 0, 2) {\n"
                                       "  for (ii, 0, 8) {\n"
                                       "    B[((io * 8) + ii)] = (A[((io * 8) + ii)] + 1)\n"
                                       "  }\n"
                                       "}\n"
                                       "for (ii, 0, 4) {\n"
                                       "  B[(ii + 16)] = (A[(ii + 16)] + 1)\n"
                                       "}\n");
    int32_t out[N];
    run(f, &c, out);
    for (int k = 0; k < N; k++)
        assert_int_equal(out[k], k < 20 ? 100 + k + 1 : -1);
    ts_arena_destroy(A);
}

/* Extent 19 split by 3 and then by 4: o*12 + m*4 + ii < 19. The first outer iteration is
 * whole, the second has one whole middle iteration, one partial, and one dead. */
static void test_two_level_split(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    Copy c = make_copy(A);
    TsExpr *o = var(A, "o"), *m = var(A, "m"), *ii = var(A, "ii");
    TsExpr *index = ts_add(A, ts_mul(A, ts_add(A, ts_mul(A, o, ts_i32(A, 3)), m), ts_i32(A, 4)),
                           ii);
    TeStmt *guarded = te_if(A, ts_lt(A, index, ts_i32(A, 19)), copy(&c, index, index), NULL, true);
    TeStmt *nest = loop(A, o, 0, 2, loop(A, m, 0, 3, loop(A, ii, 0, 4, guarded)));
    TsLoweredFunc *f = check_partition(&c, nest, "for (m, 0, 3) {\n"
                                                 "  for (ii, 0, 4) {\n"
                                                 "    B[((m * 4) + ii)] = (A[((m * 4) + ii)] + 1)\n"
                                                 "  }\n"
                                                 "}\n"
                                                 "for (ii, 0, 4) {\n"
                                                 "  B[(ii + 12)] = (A[(ii + 12)] + 1)\n"
                                                 "}\n"
                                                 "for (ii, 0, 3) {\n"
                                                 "  B[(ii + 16)] = (A[(ii + 16)] + 1)\n"
                                                 "}\n");
    int32_t out[N];
    run(f, &c, out);
    for (int k = 0; k < N; k++)
        assert_int_equal(out[k], k < 19 ? 100 + k + 1 : -1);
    ts_arena_destroy(A);
}

/* A 6 x 7 tile split by 4 x 4: the guard (io*4 + ii < 6 && jo*4 + ji < 7) has one
 * conjunct per dimension; the loop over io cuts on the first, jo on the second. */
static void test_two_dimensions(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    Copy c = make_copy(A);
    TsExpr *io = var(A, "io"), *jo = var(A, "jo"), *ii = var(A, "ii"), *ji = var(A, "ji");
    TsExpr *row = ts_add(A, ts_mul(A, io, ts_i32(A, 4)), ii);
    TsExpr *col = ts_add(A, ts_mul(A, jo, ts_i32(A, 4)), ji);
    TsExpr *index = ts_add(A, ts_mul(A, row, ts_i32(A, 8)), col);
    TsExpr *inside = ts_and(A, ts_lt(A, row, ts_i32(A, 6)), ts_lt(A, col, ts_i32(A, 7)));
    TeStmt *nest = loop(A, io, 0, 2, loop(A, jo, 0, 2, loop(A, ii, 0, 4, loop(A, ji, 0, 4,
                        te_if(A, inside, copy(&c, index, index), NULL, true)))));
    /* io and jo have extent 2: every part is a single iteration, without guards. */
    TsLoweredFunc *f = check_partition(
        &c, nest,
        "for (ii, 0, 4) {\n"
        "  for (ji, 0, 4) {\n"
        "    B[((ii * 8) + ji)] = (A[((ii * 8) + ji)] + 1)\n"
        "  }\n"
        "}\n"
        "for (ii, 0, 4) {\n"
        "  for (ji, 0, 3) {\n"
        "    B[(((ii * 8) + ji) + 4)] = (A[(((ii * 8) + ji) + 4)] + 1)\n"
        "  }\n"
        "}\n"
        "for (ii, 0, 2) {\n"
        "  for (ji, 0, 4) {\n"
        "    B[(((ii * 8) + ji) + 32)] = (A[(((ii * 8) + ji) + 32)] + 1)\n"
        "  }\n"
        "}\n"
        "for (ii, 0, 2) {\n"
        "  for (ji, 0, 3) {\n"
        "    B[(((ii * 8) + ji) + 36)] = (A[(((ii * 8) + ji) + 36)] + 1)\n"
        "  }\n"
        "}\n");
    int32_t out[N];
    run(f, &c, out);
    for (int n = 0; n < N; n++)
        assert_int_equal(out[n], n / 8 < 6 && n % 8 < 7 ? 100 + n + 1 : -1);
    ts_arena_destroy(A);
}

/* A guard that is monotone but not linear in the loop variable is cut too. */
static void test_monotone_guard(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    Copy c = make_copy(A);
    TsExpr *f = var(A, "f");
    TsExpr *block = ts_floordiv(A, f, ts_i32(A, 4));
    TeStmt *nest = loop(A, f, 0, 20, te_if(A, ts_lt(A, block, ts_i32(A, 3)), copy(&c, f, f), NULL,
                                           true));
    check_partition(&c, nest, "for (f, 0, 12) {\n"
                              "  B[f] = (A[f] + 1)\n"
                              "}\n");
    ts_arena_destroy(A);
}

/* Padding: for (x, 0, 12) { if (likely(x >= 1 && x < 11)) B[x] = A[x - 1] + 1 } */
static void test_padding_both_sides(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    Copy c = make_copy(A);
    TsExpr *x = var(A, "x");
    TsExpr *inside = ts_and(A, ts_ge(A, x, ts_i32(A, 1)), ts_lt(A, x, ts_i32(A, 11)));
    TeStmt *nest = loop(A, x, 0, 12, te_if(A, inside, copy(&c, x, ts_sub(A, x, ts_i32(A, 1))),
                                           NULL, true));
    check_partition(&c, nest, "for (x, 1, 10) {\n"
                              "  B[x] = (A[(x - 1)] + 1)\n"
                              "}\n");
    /* With an else branch, the cut parts keep it. */
    TeStmt *zero = te_store(A, c.args[1], 1, &x, ts_i32(A, 0), false);
    TeStmt *padded = loop(A, x, 0, 12, te_if(A, inside, copy(&c, x, ts_sub(A, x, ts_i32(A, 1))),
                                             zero, true));
    check_partition(&c, padded, "B[0] = 0\n"
                                "for (x, 1, 10) {\n"
                                "  B[x] = (A[(x - 1)] + 1)\n"
                                "}\n"
                                "B[11] = 0\n");
    ts_arena_destroy(A);
}

/* Kinds and pragmas stay on both parts: a parallel outer loop with a pragma and a
 * vectorized inner loop. */
static void test_kinds_and_pragmas(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    Copy c = make_copy(A);
    TsExpr *io = var(A, "io"), *ii = var(A, "ii");
    TsExpr *index = ts_add(A, ts_mul(A, io, ts_i32(A, 8)), ii);
    TePragma pragma = { "unroll_max_extent", 4 };
    TeStmt *inner = te_for(A, ii, ts_i32(A, 0), ts_i32(A, 8), TE_FOR_VECTORIZED, 0, NULL,
                           te_if(A, ts_lt(A, index, ts_i32(A, 30)), copy(&c, index, index), NULL,
                                 true));
    TeStmt *nest = te_for(A, io, ts_i32(A, 0), ts_i32(A, 4), TE_FOR_PARALLEL, 1, &pragma, inner);
    /* The parallel loop keeps its four iterations: its parts are branches inside it. */
    check_partition(&c, nest, "parallel (io, 0, 4) [unroll_max_extent=4] {\n"
                              "  if ((io <= 2)) {\n"
                              "    vectorized (ii, 0, 8) {\n"
                              "      B[((io * 8) + ii)] = (A[((io * 8) + ii)] + 1)\n"
                              "    }\n"
                              "  }\n"
                              "  else {\n"
                              "    vectorized (ii, 0, 6) {\n"
                              "      B[(ii + 24)] = (A[(ii + 24)] + 1)\n"
                              "    }\n"
                              "  }\n"
                              "}\n");
    ts_arena_destroy(A);
}

/* A parallel loop whose guard cannot be removed from the branch a cut leaves it in
 * (io + k < 3 over an inner k in [1, 2]), with a vectorized loop beside it whose guard
 * ii < 1 only the inner loop decides: the parallel loop is cut once, and the vectorized
 * loop is still cut to its one iteration (the parallel loop used to be cut again in
 * every round until the limit, and the vectorized loop kept its lane-varying guard).
 * In the else branch the loop over k is examined with io in [1, 2], what the branch
 * knows: its guard is io < 2 at k = 1 and false at k = 2. */
static void test_parallel_then_inner(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    Copy c = make_copy(A);
    TsExpr *io = var(A, "io"), *k = var(A, "k"), *ii = var(A, "ii");
    TsExpr *row = ts_add(A, io, k);
    TsExpr *lane = ts_add(A, ts_add(A, ts_mul(A, io, ts_i32(A, 4)), ii), ts_i32(A, 20));
    TeStmt *rows = loop(A, k, 1, 2, te_if(A, ts_lt(A, row, ts_i32(A, 3)), copy(&c, row, row),
                                          NULL, true));
    TeStmt *lanes = te_for(A, ii, ts_i32(A, 0), ts_i32(A, 4), TE_FOR_VECTORIZED, 0, NULL,
                           te_if(A, ts_lt(A, ii, ts_i32(A, 1)), copy(&c, lane, lane), NULL,
                                 true));
    TeStmt *nest = te_for(A, io, ts_i32(A, 0), ts_i32(A, 3), TE_FOR_PARALLEL, 0, NULL,
                          te_seq(A, 2, (TeStmt *[]){ rows, lanes }));
    check_partition(&c, nest, "parallel (io, 0, 3) {\n"
                              "  if ((io <= 0)) {\n"
                              "    for (k, 1, 2) {\n"
                              "      B[k] = (A[k] + 1)\n"
                              "    }\n"
                              "    B[20] = (A[20] + 1)\n"
                              "  }\n"
                              "  else {\n"
                              "    if (likely((io < 2))) {\n"
                              "      B[2] = (A[2] + 1)\n"
                              "    }\n"
                              "    B[((io * 4) + 20)] = (A[((io * 4) + 20)] + 1)\n"
                              "  }\n"
                              "}\n");
    ts_arena_destroy(A);
}

/* One guard node in two places: for k in [6, 8], the same if (likely(k + ki < 9)) sits
 * in a loop over ki in [1, 3] (false for every ki at k = 8) and in one over ki in
 * [0, 3] (true at k = 8, ki = 0). Cutting k = 8 off may decide the first occurrence
 * only. */
static void test_shared_guard(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    Copy c = make_copy(A);
    TsExpr *k = var(A, "k"), *ki = var(A, "ki");
    TsExpr *index = ts_add(A, k, ki);
    TeStmt *guard = te_if(A, ts_lt(A, index, ts_i32(A, 9)), copy(&c, index, index), NULL, true);
    TeStmt *both[] = { loop(A, ki, 1, 3, guard), loop(A, ki, 0, 4, guard) };
    TeStmt *nest = loop(A, k, 6, 3, te_seq(A, 2, both));
    /* Cut to single iterations of k (small extents), each with its own tails of ki. */
    TsLoweredFunc *f = check_partition(&c, nest, "B[7] = (A[7] + 1)\n"
                                                 "B[8] = (A[8] + 1)\n"
                                                 "for (ki, 0, 2) {\n"
                                                 "  B[(ki + 6)] = (A[(ki + 6)] + 1)\n"
                                                 "}\n"
                                                 "B[8] = (A[8] + 1)\n"
                                                 "B[8] = (A[8] + 1)\n"
                                                 "for (ki, 0, 2) {\n"
                                                 "  B[(ki + 7)] = (A[(ki + 7)] + 1)\n"
                                                 "}\n"
                                                 "B[8] = (A[8] + 1)\n");
    int32_t out[N];
    run(f, &c, out);
    for (int n = 0; n < N; n++)
        assert_int_equal(out[n], n >= 6 && n < 9 ? 100 + n + 1 : -1);
    ts_arena_destroy(A);
}

/* Nests the pass leaves alone, returned as the same function: no guard, a guard that is
 * not "likely", a guard on an unbounded value, and a guard true nowhere. */
static void test_left_alone(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    Copy c = make_copy(A);
    TsExpr *i = var(A, "i"), *n = var(A, "n");
    SchLowerOptions options = { 0 };
    TsError err = { 0 };
    TeStmt *nests[] = {
        loop(A, i, 0, 8, copy(&c, i, i)),
        loop(A, i, 0, 8, te_if(A, ts_lt(A, i, ts_i32(A, 5)), copy(&c, i, i), NULL, false)),
        loop(A, i, 0, 8, te_if(A, ts_lt(A, i, n), copy(&c, i, i), NULL, true)),
        loop(A, i, 0, 8, te_if(A, ts_lt(A, ts_floormod(A, i, ts_i32(A, 2)), ts_i32(A, 1)),
                               copy(&c, i, i), NULL, true)),
    };
    for (size_t k = 0; k < sizeof nests / sizeof nests[0]; k++) {
        TsLoweredFunc *f = sch_func(A, "copy", 2, c.args, nests[k]);
        assert_non_null(f);
        assert_ptr_equal(sch_pass_loop_partition(A, f, &options, &err), f);
        assert_ptr_equal(sch_pass_simplify(A, f, &options, &err), f);
    }
    ts_arena_destroy(A);
}

/* The passes report a missing function as an error instead of crashing. */
static void test_errors(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    SchLowerOptions options = { 0 };
    TsError err = { 0 };
    assert_null(sch_pass_loop_partition(A, NULL, &options, &err));
    assert_int_equal(err.status, TS_EINVAL);
    assert_non_null(strstr(err.message, "loop_partition"));
    ts_error_clear(&err);
    assert_null(sch_pass_simplify(A, NULL, &options, &err));
    assert_int_equal(err.status, TS_EINVAL);
    assert_non_null(strstr(err.message, "simplify"));
    ts_arena_destroy(A);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_tail),
        cmocka_unit_test(test_two_level_split),
        cmocka_unit_test(test_two_dimensions),
        cmocka_unit_test(test_monotone_guard),
        cmocka_unit_test(test_padding_both_sides),
        cmocka_unit_test(test_kinds_and_pragmas),
        cmocka_unit_test(test_parallel_then_inner),
        cmocka_unit_test(test_shared_guard),
        cmocka_unit_test(test_left_alone),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
