/* The loop-nest interpreter (te/loop_interp.c) on loop nests built by hand with the
 * te_* builders: a matmul nest against naive C and against the tensor-expression
 * interpreter, allocated temporaries (and their poison fill), vector code (ramps,
 * broadcasts, gathers, scatters, vector lets and selects) against the scalar version,
 * lets and ifs, flat indexing, loop bounds evaluated once, lane-wise integer semantics;
 * and the errors: accesses out of bounds, bindings, division by zero, shifts, buffers
 * and variables out of scope. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "te/te_internal.h"
#include "test_util.h"

#define NUM_EXPRS(...) (int)(sizeof((TsExpr *[]){ __VA_ARGS__ }) / sizeof(TsExpr *))
#define NUM_STMTS(...) (int)(sizeof((TeStmt *[]){ __VA_ARGS__ }) / sizeof(TeStmt *))
/* buf[indices...], multi-dimensional */
#define LOAD(A, buf, ...)                                                                    \
    te_load((A), (buf), NUM_EXPRS(__VA_ARGS__), (TsExpr *[]){ __VA_ARGS__ }, false)
#define STORE(A, buf, value, ...)                                                            \
    te_store((A), (buf), NUM_EXPRS(__VA_ARGS__), (TsExpr *[]){ __VA_ARGS__ }, (value), false)
/* buf[index] with one index in elements */
#define FLAT_LOAD(A, buf, index) te_load((A), (buf), 1, (TsExpr *[]){ index }, true)
#define FLAT_STORE(A, buf, value, index)                                                     \
    te_store((A), (buf), 1, (TsExpr *[]){ index }, (value), true)
#define SEQ(A, ...) te_seq((A), NUM_STMTS(__VA_ARGS__), (TeStmt *[]){ __VA_ARGS__ })

static TeStmt *loop(TsArena *A, TsExpr *var, int64_t min, int64_t extent, TeForKind kind,
                    TeStmt *body)
{
    return te_for(A, var, ts_i32(A, min), ts_i32(A, extent), kind, 0, NULL, body);
}

static TsExpr *int_var(TsArena *A, const char *name)
{
    return ts_variable(A, name, TS_INT32);
}

/* A buffer for a new placeholder of this shape: an argument or a temporary. */
static const TeBuffer *buffer(TsArena *A, const char *name, TsDType t, int ndim,
                              const int64_t *shape, TeBufferScope scope)
{
    TsTensor *tensor = ts_placeholder(A, name, ndim, shape, t);
    return te_buffer(A, name, tensor, 0, NULL, scope);
}

#define ARG(A, name, t, ...)                                                                 \
    buffer((A), (name), (t), (int)(sizeof((int64_t[]){ __VA_ARGS__ }) / sizeof(int64_t)),  \
           (int64_t[]){ __VA_ARGS__ }, TE_SCOPE_GLOBAL)
#define TEMP(A, name, t, ...)                                                                \
    buffer((A), (name), (t), (int)(sizeof((int64_t[]){ __VA_ARGS__ }) / sizeof(int64_t)),  \
           (int64_t[]){ __VA_ARGS__ }, TE_SCOPE_LOCAL)

/* A lowered function filled in by hand; the IR built so far must have no error. */
static TsLoweredFunc *make_func(TsArena *A, const char *name, int num_args,
                                const TeBuffer *const *args, TeStmt *body)
{
    if (!ts_arena_ok(A))
        fprintf(stderr, "building the loop nest: %s\n", ts_arena_error(A)->message);
    assert_true(ts_arena_ok(A));
    assert_non_null(body);
    TsLoweredFunc *f = ts_arena_alloc(A, sizeof *f);
    const TeBuffer **copy = ts_arena_alloc(A, sizeof *copy * (size_t)num_args);
    assert_non_null(f);
    assert_non_null(copy);
    memcpy(copy, args, sizeof *copy * (size_t)num_args);
    f->name = name;
    f->num_args = num_args;
    f->args = copy;
    f->body = body;
    return f;
}

#define FUNC(A, name, body, ...)                                                             \
    make_func((A), (name),                                                               \
              (int)(sizeof((const TeBuffer *[]){ __VA_ARGS__ }) / sizeof(TeBuffer *)),   \
              (const TeBuffer *[]){ __VA_ARGS__ }, (body))

#define BIND(buf, data) { (buf)->tensor, (data) }
#define RUN(f, err, ...)                                                                     \
    ts_lowered_run((f), (int)(sizeof((TsBinding[]){ __VA_ARGS__ }) / sizeof(TsBinding)),    \
                   (TsBinding[]){ __VA_ARGS__ }, (err))

/* Runs f and expects success, printing the message otherwise. */
static void expect_ok(TsStatus status, const TsError *err)
{
    if (status != TS_OK)
        fprintf(stderr, "ts_lowered_run: %s: %s\n", ts_status_name(status), err->message);
    assert_int_equal(status, TS_OK);
}

/* Expects a failure with this status and a message containing every needle. */
static void expect_error(TsStatus status, const TsError *err, TsStatus want, int n, ...)
{
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++) {
        const char *needle = va_arg(ap, const char *);
        if (status != want || !strstr(err->message, needle))
            fprintf(stderr, "got %s: \"%s\"; wanted %s containing \"%s\"\n",
                    ts_status_name(status), err->message, ts_status_name(want), needle);
        assert_int_equal(status, want);
        assert_non_null(strstr(err->message, needle));
    }
    va_end(ap);
}

/* ---- values ---- */

enum { M = 5, N = 7, K = 3 };

/* C[i, j] = 0; for k: C[i, j] = C[i, j] + A[i, k] * B[k, j], over the tensors of a
 * tensor-expression matmul, so the same bindings serve ts_evaluate. */
static void test_matmul_nest(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    TsTensor *a = ts_placeholder(A, "A", 2, (int64_t[]){ M, K }, TS_FLOAT32);
    TsTensor *b = ts_placeholder(A, "B", 2, (int64_t[]){ K, N }, TS_FLOAT32);
    TsAxis *ai = ts_axis(A, "i", M), *aj = ts_axis(A, "j", N), *ak = ts_reduce_axis(A, "k", K);
    TsTensor *c = ts_compute(A, "C", 2, (TsAxis *[]){ ai, aj },
                             ts_sum(A, ts_mul(A, ts_at(A, a, ts_var(ai), ts_var(ak)),
                                              ts_at(A, b, ts_var(ak), ts_var(aj))),
                                    1, (TsAxis *[]){ ak }, NULL));
    const TeBuffer *ba = te_buffer(A, "A", a, 0, NULL, TE_SCOPE_GLOBAL);
    const TeBuffer *bb = te_buffer(A, "B", b, 0, NULL, TE_SCOPE_GLOBAL);
    const TeBuffer *bc = te_buffer(A, "C", c, 0, NULL, TE_SCOPE_GLOBAL);
    TsExpr *i = int_var(A, "i"), *j = int_var(A, "j"), *k = int_var(A, "k");
    TeStmt *update = STORE(A, bc, ts_add(A, LOAD(A, bc, i, j),
                                         ts_mul(A, LOAD(A, ba, i, k), LOAD(A, bb, k, j))), i, j);
    TeStmt *body = SEQ(A, STORE(A, bc, ts_f32(A, 0.0), i, j),
                       loop(A, k, 0, K, TE_FOR_UNROLLED, update));
    TeStmt *nest = loop(A, i, 0, M, TE_FOR_PARALLEL, loop(A, j, 0, N, TE_FOR_SERIAL, body));
    TsLoweredFunc *f = FUNC(A, "matmul", nest, ba, bb, bc);

    float av[M][K], bv[K][N], cv[M][N], want[M][N], oracle[M][N];
    for (int x = 0; x < M * K; x++)
        av[x / K][x % K] = 0.25f * (float)(x % 7) - 0.7f;
    for (int x = 0; x < K * N; x++)
        bv[x / N][x % N] = 1.0f / (float)(x + 1);
    for (int x = 0; x < M; x++)
        for (int y = 0; y < N; y++) {
            want[x][y] = 0.0f;
            for (int z = 0; z < K; z++)
                want[x][y] = want[x][y] + av[x][z] * bv[z][y];
        }
    TsError err = { 0 };
    expect_ok(RUN(f, &err, BIND(ba, av), BIND(bb, bv), BIND(bc, cv)), &err);
    assert_memory_equal(cv, want, sizeof cv);
    expect_ok(ts_evaluate(1, &c, 3, (TsBinding[]){ { a, av }, { b, bv }, { c, oracle } }, &err),
              &err);
    assert_memory_equal(cv, oracle, sizeof cv);
    ts_arena_destroy(A);
}

/* T[i] = A[i] * 2 in a temporary, then B[i] = T[7 - i] + 1; the temporary is allocated
 * again for every row of an outer loop. */
static void test_allocated_temporary(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    const TeBuffer *in = ARG(A, "A", TS_INT32, 3, 8), *out = ARG(A, "B", TS_INT32, 3, 8);
    const TeBuffer *tmp = TEMP(A, "T", TS_INT32, 8);
    TsExpr *r = int_var(A, "r"), *i = int_var(A, "i"), *j = int_var(A, "j");
    TeStmt *fill = loop(A, i, 0, 8, TE_FOR_SERIAL,
                        STORE(A, tmp, ts_mul(A, LOAD(A, in, r, i), ts_i32(A, 2)), i));
    TeStmt *use = loop(A, j, 0, 8, TE_FOR_SERIAL,
                       STORE(A, out, ts_add(A, LOAD(A, tmp, ts_sub(A, ts_i32(A, 7), j)),
                                            ts_i32(A, 1)), r, j));
    TeStmt *nest = loop(A, r, 0, 3, TE_FOR_SERIAL, te_allocate(A, tmp, SEQ(A, fill, use)));
    TsLoweredFunc *f = FUNC(A, "reverse", nest, in, out);
    int32_t av[3][8], bv[3][8];
    for (int x = 0; x < 24; x++)
        av[x / 8][x % 8] = x * x - 40;
    TsError err = { 0 };
    expect_ok(RUN(f, &err, BIND(in, av), BIND(out, bv)), &err);
    for (int x = 0; x < 3; x++)
        for (int y = 0; y < 8; y++)
            assert_int_equal(bv[x][y], av[x][7 - y] * 2 + 1);
    ts_arena_destroy(A);
}

/* Memory of an allocation that was never written reads as the 0xA5 poison, not 0. */
static void test_allocation_is_poisoned(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    const TeBuffer *out = ARG(A, "B", TS_INT32, 4);
    const TeBuffer *tmp = TEMP(A, "T", TS_INT32, 4);
    TsExpr *i = int_var(A, "i");
    TeStmt *body = te_allocate(A, tmp, SEQ(A, STORE(A, tmp, ts_i32(A, 7), ts_i32(A, 0)),
                                           loop(A, i, 0, 4, TE_FOR_SERIAL,
                                                STORE(A, out, LOAD(A, tmp, i), i))));
    TsLoweredFunc *f = FUNC(A, "poison", body, out);
    int32_t bv[4] = { 0 }, poison;
    memset(&poison, 0xA5, sizeof poison);
    TsError err = { 0 };
    expect_ok(RUN(f, &err, BIND(out, bv)), &err);
    assert_int_equal(bv[0], 7);
    for (int x = 1; x < 4; x++)
        assert_int_equal(bv[x], poison);
    ts_arena_destroy(A);
}

enum { ROWS = 3, COLS = 8, VEC = 4 };

/* C[i, j] = A[i, j] * 2.5 + B[i, j], scalar (j innermost) or vectorized by 4. */
static TsLoweredFunc *axpy(TsArena *A, const TeBuffer *const *bufs, bool vector)
{
    TsExpr *i = int_var(A, "i"), *j = int_var(A, "j");
    if (!vector) {
        TsExpr *v = ts_add(A, ts_mul(A, LOAD(A, bufs[0], i, j), ts_f32(A, 2.5)),
                           LOAD(A, bufs[1], i, j));
        TeStmt *nest = loop(A, i, 0, ROWS, TE_FOR_SERIAL,
                            loop(A, j, 0, COLS, TE_FOR_SERIAL, STORE(A, bufs[2], v, i, j)));
        return make_func(A, "axpy", 3, bufs, nest);
    }
    TsExpr *jo = int_var(A, "j.outer");
    TsExpr *lanes = te_ramp(A, ts_mul(A, jo, ts_i32(A, VEC)), ts_i32(A, 1), VEC);
    TsExpr *v = ts_add(A, ts_mul(A, LOAD(A, bufs[0], i, lanes),
                                 te_broadcast(A, ts_f32(A, 2.5), VEC)),
                       LOAD(A, bufs[1], i, lanes));
    TeStmt *nest = loop(A, i, 0, ROWS, TE_FOR_SERIAL,
                        loop(A, jo, 0, COLS / VEC, TE_FOR_VECTORIZED,
                             STORE(A, bufs[2], v, i, lanes)));
    return make_func(A, "axpy_vector", 3, bufs, nest);
}

static void test_vector_body_equals_scalar(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    const TeBuffer *bufs[] = { ARG(A, "A", TS_FLOAT32, ROWS, COLS),
                               ARG(A, "B", TS_FLOAT32, ROWS, COLS),
                               ARG(A, "C", TS_FLOAT32, ROWS, COLS) };
    float av[ROWS][COLS], bv[ROWS][COLS], scalar[ROWS][COLS], vector[ROWS][COLS];
    for (int x = 0; x < ROWS * COLS; x++) {
        av[x / COLS][x % COLS] = (float)x / 3.0f;
        bv[x / COLS][x % COLS] = 10.0f - (float)x;
    }
    TsError err = { 0 };
    TsLoweredFunc *fs = axpy(A, bufs, false), *fv = axpy(A, bufs, true);
    expect_ok(RUN(fs, &err, BIND(bufs[0], av), BIND(bufs[1], bv), BIND(bufs[2], scalar)), &err);
    expect_ok(RUN(fv, &err, BIND(bufs[0], av), BIND(bufs[1], bv), BIND(bufs[2], vector)), &err);
    assert_memory_equal(scalar, vector, sizeof scalar);
    for (int x = 0; x < ROWS; x++)
        for (int y = 0; y < COLS; y++)
            assert_true(vector[x][y] == av[x][y] * 2.5f + bv[x][y]);
    ts_arena_destroy(A);
}

/* A transpose B = A^T of a 4 x 8 matrix three ways: a gather down a column of A, a
 * flat gather with a ramp of stride 8, and a flat scatter with a ramp of stride 4. */
static void test_strided_ramps(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    const TeBuffer *in = ARG(A, "A", TS_INT32, 4, 8), *out = ARG(A, "B", TS_INT32, 8, 4);
    TsExpr *j = int_var(A, "j"), *i = int_var(A, "i");
    TsExpr *col = te_ramp(A, ts_i32(A, 0), ts_i32(A, 1), 4);
    TsLoweredFunc *gather = FUNC(A, "gather", loop(A, j, 0, 8, TE_FOR_VECTORIZED,
                                                   STORE(A, out, LOAD(A, in, col, j), j, col)),
                                 in, out);
    TsExpr *strided = te_ramp(A, j, ts_i32(A, 8), 4);
    TsExpr *dense = te_ramp(A, ts_mul(A, j, ts_i32(A, 4)), ts_i32(A, 1), 4);
    TsLoweredFunc *flat_gather =
        FUNC(A, "flat_gather", loop(A, j, 0, 8, TE_FOR_SERIAL,
                                    FLAT_STORE(A, out, FLAT_LOAD(A, in, strided), dense)),
             in, out);
    TsExpr *row = te_ramp(A, ts_mul(A, i, ts_i32(A, 8)), ts_i32(A, 1), 8);
    TsExpr *scattered = te_ramp(A, i, ts_i32(A, 4), 8);
    TsLoweredFunc *scatter =
        FUNC(A, "scatter", loop(A, i, 0, 4, TE_FOR_SERIAL,
                                FLAT_STORE(A, out, FLAT_LOAD(A, in, row), scattered)),
             in, out);
    int32_t av[4][8], want[8][4];
    for (int x = 0; x < 32; x++) {
        av[x / 8][x % 8] = 100 + x;
        want[x % 8][x / 8] = 100 + x;
    }
    TsLoweredFunc *funcs[] = { gather, flat_gather, scatter };
    for (int n = 0; n < 3; n++) {
        int32_t bv[8][4];
        memset(bv, 0, sizeof bv);
        TsError err = { 0 };
        expect_ok(RUN(funcs[n], &err, BIND(in, av), BIND(out, bv)), &err);
        assert_memory_equal(bv, want, sizeof bv);
    }
    ts_arena_destroy(A);
}

/* let t = A[i] * 3 in if (t > 10) B[i] = t - 10 else B[i] = -t; and an if without else
 * leaves C alone where its condition is false. */
static void test_let_and_if(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    const TeBuffer *in = ARG(A, "A", TS_INT32, 8), *out = ARG(A, "B", TS_INT32, 8);
    const TeBuffer *odd = ARG(A, "C", TS_INT32, 8);
    TsExpr *i = int_var(A, "i"), *t = int_var(A, "t");
    TeStmt *branch = te_if(A, ts_gt(A, t, ts_i32(A, 10)),
                           STORE(A, out, ts_sub(A, t, ts_i32(A, 10)), i),
                           STORE(A, out, ts_neg(A, t), i), false);
    TeStmt *only_odd = te_if(A, ts_eq(A, ts_floormod(A, i, ts_i32(A, 2)), ts_i32(A, 1)),
                             STORE(A, odd, t, i), NULL, true);
    TeStmt *body = te_let(A, t, ts_mul(A, LOAD(A, in, i), ts_i32(A, 3)), SEQ(A, branch, only_odd));
    TsLoweredFunc *f = FUNC(A, "let_if", loop(A, i, 0, 8, TE_FOR_SERIAL, body), in, out, odd);
    int32_t av[8] = { -4, 0, 3, 4, 5, 9, -1, 2 }, bv[8], cv[8];
    for (int x = 0; x < 8; x++)
        cv[x] = -999;
    TsError err = { 0 };
    expect_ok(RUN(f, &err, BIND(in, av), BIND(out, bv), BIND(odd, cv)), &err);
    for (int x = 0; x < 8; x++) {
        int32_t t3 = av[x] * 3;
        assert_int_equal(bv[x], t3 > 10 ? t3 - 10 : -t3);
        assert_int_equal(cv[x], x % 2 ? t3 : -999);
    }
    ts_arena_destroy(A);
}

/* let v = A[ramp] (a vector), then B[ramp] = float(select(v > 0, v, 0)) + float(i) or,
 * by a scalar condition, its negation: vector let, vector compare and select, a select
 * with a scalar condition, vector casts. */
static void test_vector_let_select_cast(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    const TeBuffer *in = ARG(A, "A", TS_INT32, 8), *out = ARG(A, "B", TS_FLOAT32, 8);
    TsExpr *io = int_var(A, "io");
    TsExpr *v = ts_variable(A, "v", ts_dtype(TS_TYPE_INT, 32, VEC));
    TsExpr *lanes = te_ramp(A, ts_mul(A, io, ts_i32(A, VEC)), ts_i32(A, 1), VEC);
    TsExpr *zero = te_broadcast(A, ts_i32(A, 0), VEC);
    TsExpr *relu = ts_select(A, ts_gt(A, v, zero), v, zero);
    TsExpr *value = ts_add(A, ts_cast(A, ts_dtype(TS_TYPE_FLOAT, 32, VEC), relu),
                           te_broadcast(A, ts_cast(A, TS_FLOAT32, io), VEC));
    TsExpr *signed_value = ts_select(A, ts_lt(A, io, ts_i32(A, 1)), value,
                                     ts_sub(A, te_broadcast(A, ts_f32(A, 0.0), VEC), value));
    TeStmt *body = te_let(A, v, LOAD(A, in, lanes), STORE(A, out, signed_value, lanes));
    TsLoweredFunc *f = FUNC(A, "relu", loop(A, io, 0, 2, TE_FOR_VECTORIZED, body), in, out);
    int32_t av[8] = { -3, 5, 0, 7, 2, -8, 9, -1 };
    float bv[8];
    TsError err = { 0 };
    expect_ok(RUN(f, &err, BIND(in, av), BIND(out, bv)), &err);
    for (int x = 0; x < 8; x++) {
        float relu_x = (float)(av[x] > 0 ? av[x] : 0) + (float)(x / VEC);
        assert_true(bv[x] == (x < VEC ? relu_x : -relu_x));
    }
    ts_arena_destroy(A);
}

/* A 2-D copy with two indices and the same copy flattened (index i * 5 + j), and a
 * single flat loop over the 15 elements: all equal. */
static void test_flat_indexing(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    const TeBuffer *in = ARG(A, "A", TS_FLOAT64, 3, 5), *out = ARG(A, "B", TS_FLOAT64, 3, 5);
    TsExpr *i = int_var(A, "i"), *j = int_var(A, "j"), *x = int_var(A, "x");
    TsExpr *flat = ts_add(A, ts_mul(A, i, ts_i32(A, 5)), j);
    TsLoweredFunc *copy2d = FUNC(A, "copy2d", loop(A, i, 0, 3, TE_FOR_SERIAL,
                                                   loop(A, j, 0, 5, TE_FOR_SERIAL,
                                                        STORE(A, out, LOAD(A, in, i, j), i, j))),
                                 in, out);
    TsLoweredFunc *copy_flat =
        FUNC(A, "copy_flat", loop(A, i, 0, 3, TE_FOR_SERIAL,
                                  loop(A, j, 0, 5, TE_FOR_SERIAL,
                                       FLAT_STORE(A, out, FLAT_LOAD(A, in, flat), flat))),
             in, out);
    TsLoweredFunc *copy_1d = FUNC(A, "copy_1d", loop(A, x, 0, 15, TE_FOR_SERIAL,
                                                     FLAT_STORE(A, out, FLAT_LOAD(A, in, x), x)),
                                  in, out);
    double av[3][5];
    for (int n = 0; n < 15; n++)
        av[n / 5][n % 5] = 1.5 * n - 4.0;
    TsLoweredFunc *funcs[] = { copy2d, copy_flat, copy_1d };
    for (int n = 0; n < 3; n++) {
        double bv[3][5] = { { 0 } };
        TsError err = { 0 };
        expect_ok(RUN(funcs[n], &err, BIND(in, av), BIND(out, bv)), &err);
        assert_memory_equal(bv, av, sizeof av);
    }
    ts_arena_destroy(A);
}

/* B[ramp(4 * i, 1, 4)] = if_then_else(lane < 6, A[lane], -1) over A of 6 elements: the
 * guard is per lane, so lanes 6 and 7 read nothing; select would read them and fail. */
static void test_if_then_else_guards_lanes(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    const TeBuffer *a = ARG(A, "A", TS_INT32, 6), *b = ARG(A, "B", TS_INT32, 8);
    TsExpr *i = int_var(A, "i");
    TsExpr *lanes = te_ramp(A, ts_mul(A, i, ts_i32(A, 4)), ts_i32(A, 1), 4);
    TsExpr *inside = ts_lt(A, lanes, te_broadcast(A, ts_i32(A, 6), 4));
    TsExpr *minus_one = te_broadcast(A, ts_i32(A, -1), 4);
    TsExpr *guarded = ts_if_then_else(A, inside, FLAT_LOAD(A, a, lanes), minus_one);
    TsExpr *unguarded = ts_select(A, inside, FLAT_LOAD(A, a, lanes), minus_one);
    TsLoweredFunc *lazy = FUNC(A, "pad", loop(A, i, 0, 2, TE_FOR_VECTORIZED,
                                              FLAT_STORE(A, b, guarded, lanes)), a, b);
    TsLoweredFunc *eager = FUNC(A, "pad_select", loop(A, i, 0, 2, TE_FOR_VECTORIZED,
                                                      FLAT_STORE(A, b, unguarded, lanes)), a, b);
    int32_t av[6] = { 10, 11, 12, 13, 14, 15 }, bv[8], want[8] = { 10, 11, 12, 13, 14, 15, -1, -1 };
    TsError err = { 0 };
    expect_ok(RUN(lazy, &err, BIND(a, av), BIND(b, bv)), &err);
    assert_memory_equal(bv, want, sizeof bv);
    expect_error(RUN(eager, &err, BIND(a, av), BIND(b, bv)), &err, TS_EINVAL, 1,
                 "load from A: flat index 6 (lane 2) is outside [0, 6)");
    ts_arena_destroy(A);
}

/* A[ramp(1, 1, 4)] = A[ramp(0, 1, 4)] shifts the array: all lanes are read before any
 * is written. */
static void test_vector_store_reads_first(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    const TeBuffer *buf = ARG(A, "A", TS_INT32, 5);
    TeStmt *shift = STORE(A, buf, LOAD(A, buf, te_ramp(A, ts_i32(A, 0), ts_i32(A, 1), 4)),
                          te_ramp(A, ts_i32(A, 1), ts_i32(A, 1), 4));
    TsLoweredFunc *f = FUNC(A, "shift", shift, buf);
    int32_t av[5] = { 1, 2, 3, 4, 5 }, want[5] = { 1, 1, 2, 3, 4 };
    TsError err = { 0 };
    expect_ok(RUN(f, &err, BIND(buf, av)), &err);
    assert_memory_equal(av, want, sizeof av);
    ts_arena_destroy(A);
}

/* for (i, 2, N[0]) { B[i] = i; N[0] = 0 } runs N[0]'s value on entry times; a loop of
 * extent 0 or below runs no times. */
static void test_loop_bounds_evaluated_once(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    const TeBuffer *count = ARG(A, "N", TS_INT32, 1), *out = ARG(A, "B", TS_INT32, 8);
    TsExpr *i = int_var(A, "i"), *j = int_var(A, "j");
    TeStmt *counted = te_for(A, i, ts_i32(A, 2), LOAD(A, count, ts_i32(A, 0)), TE_FOR_SERIAL, 0,
                             NULL, SEQ(A, STORE(A, out, i, i),
                                       STORE(A, count, ts_i32(A, 0), ts_i32(A, 0))));
    TeStmt *never = loop(A, j, 0, -3, TE_FOR_SERIAL, STORE(A, out, ts_i32(A, 99), ts_i32(A, 0)));
    TsLoweredFunc *f = FUNC(A, "bounds", SEQ(A, counted, never), count, out);
    int32_t nv[1] = { 5 }, bv[8] = { -1, -1, -1, -1, -1, -1, -1, -1 };
    int32_t want[8] = { -1, -1, 2, 3, 4, 5, 6, -1 };
    TsError err = { 0 };
    expect_ok(RUN(f, &err, BIND(count, nv), BIND(out, bv)), &err);
    assert_memory_equal(bv, want, sizeof bv);
    assert_int_equal(nv[0], 0);
    ts_arena_destroy(A);
}

/* Lane k follows the scalar rules: int8 wraps, floordiv and floormod round down, shifts
 * are arithmetic. */
static void test_lanewise_integer_semantics(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    TsDType i8x8 = ts_dtype(TS_TYPE_INT, 8, 8), i32x8 = ts_dtype(TS_TYPE_INT, 32, 8);
    const TeBuffer *small = ARG(A, "S", TS_INT8, 8), *q = ARG(A, "Q", TS_INT32, 8);
    const TeBuffer *r = ARG(A, "R", TS_INT32, 8), *sh = ARG(A, "H", TS_INT8, 8);
    TsExpr *all = te_ramp(A, ts_i32(A, 0), ts_i32(A, 1), 8);
    TsExpr *ramp = te_ramp(A, ts_i32(A, -4), ts_i32(A, 1), 8);
    TsExpr *three = te_broadcast(A, ts_i32(A, 3), 8);
    TsExpr *wrapped = ts_add(A, LOAD(A, small, all), te_broadcast(A, ts_int(A, TS_INT8, 100), 8));
    TsExpr *shifted = ts_shr(A, ts_cast(A, i8x8, ramp), te_broadcast(A, ts_int(A, TS_INT8, 1), 8));
    TeStmt *body = SEQ(A, STORE(A, q, ts_floordiv(A, ramp, three), all),
                       STORE(A, r, ts_floormod(A, ramp, three), all),
                       STORE(A, small, wrapped, all), STORE(A, sh, shifted, all));
    TsLoweredFunc *f = FUNC(A, "lanes", body, small, q, r, sh);
    assert_true(ts_dtype_eq(ts_floordiv(A, ramp, three)->dtype, i32x8));
    int8_t sv[8] = { 0, 27, 28, 100, -100, -128, 127, -1 }, hv[8];
    int32_t qv[8], rv[8];
    TsError err = { 0 };
    expect_ok(RUN(f, &err, BIND(small, sv), BIND(q, qv), BIND(r, rv), BIND(sh, hv)), &err);
    int32_t want_q[8] = { -2, -1, -1, -1, 0, 0, 0, 1 }, want_r[8] = { 2, 0, 1, 2, 0, 1, 2, 0 };
    int8_t want_s[8] = { 100, 127, -128, -56, 0, -28, -29, 99 };
    int8_t want_h[8] = { -2, -2, -1, -1, 0, 0, 1, 1 };
    assert_memory_equal(qv, want_q, sizeof qv);
    assert_memory_equal(rv, want_r, sizeof rv);
    assert_memory_equal(sv, want_s, sizeof sv);
    assert_memory_equal(hv, want_h, sizeof hv);
    ts_arena_destroy(A);
}

static void test_num_args_and_arg(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    const TeBuffer *a = ARG(A, "A", TS_FLOAT32, 4), *b = ARG(A, "B", TS_FLOAT32, 4);
    TsExpr *i = int_var(A, "i");
    TsLoweredFunc *f = FUNC(A, "copy", loop(A, i, 0, 4, TE_FOR_SERIAL,
                                            STORE(A, b, LOAD(A, a, i), i)), a, b);
    assert_int_equal(ts_lowered_num_args(f), 2);
    assert_ptr_equal(ts_lowered_arg(f, 0), a->tensor);
    assert_ptr_equal(ts_lowered_arg(f, 1), b->tensor);
    assert_string_equal(ts_tensor_name(ts_lowered_arg(f, 1)), "B");
    assert_null(ts_lowered_arg(f, 2));
    assert_null(ts_lowered_arg(f, -1));
    assert_int_equal(ts_lowered_num_args(NULL), 0);
    assert_null(ts_lowered_arg(NULL, 0));
    ts_arena_destroy(A);
}

/* ---- errors ---- */

/* C[i + 1] = 1 for i < 5 writes C[5] of 5 elements when i = 4; nothing past the end is
 * touched. */
static void test_store_out_of_bounds(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    const TeBuffer *c = ARG(A, "C", TS_INT32, 5);
    TsExpr *i = int_var(A, "i");
    TsLoweredFunc *f = FUNC(A, "past_end", loop(A, i, 0, 5, TE_FOR_SERIAL,
                                                STORE(A, c, ts_i32(A, 1),
                                                      ts_add(A, i, ts_i32(A, 1)))), c);
    int32_t cv[6] = { 0, 0, 0, 0, 0, 12345 };
    TsError err = { 0 };
    expect_error(RUN(f, &err, BIND(c, cv)), &err, TS_EINVAL, 3, "run past_end: store to C",
                 "index 5 of dimension 0 is outside [0, 5)", "(at i = 4; in C[(i + 1)] = 1)");
    assert_int_equal(cv[5], 12345);
    ts_arena_destroy(A);
}

/* B[i, j] = A[i, j + 1] reads past the end of a row of A[2, 3] at j = 2. */
static void test_load_out_of_bounds(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    const TeBuffer *a = ARG(A, "A", TS_FLOAT32, 2, 3), *b = ARG(A, "B", TS_FLOAT32, 2, 3);
    TsExpr *i = int_var(A, "i"), *j = int_var(A, "j");
    TeStmt *copy = STORE(A, b, LOAD(A, a, i, ts_add(A, j, ts_i32(A, 1))), i, j);
    TsLoweredFunc *f = FUNC(A, "shifted", loop(A, i, 0, 2, TE_FOR_SERIAL,
                                               loop(A, j, 0, 3, TE_FOR_SERIAL, copy)), a, b);
    float av[2][3] = { { 0 } }, bv[2][3];
    TsError err = { 0 };
    expect_error(RUN(f, &err, BIND(a, av), BIND(b, bv)), &err, TS_EINVAL, 3,
                 "load from A: index 3 of dimension 1 is outside [0, 3)", "at i = 0, j = 2",
                 "in B[i, j] = A[i, (j + 1)]");
    ts_arena_destroy(A);
}

/* A vector flat load of A[ramp(4 * i, 1, 4)] from 6 elements fails in lane 2 of i = 1. */
static void test_vector_load_out_of_bounds(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    const TeBuffer *a = ARG(A, "A", TS_INT32, 6), *b = ARG(A, "B", TS_INT32, 8);
    TsExpr *i = int_var(A, "i");
    TsExpr *lanes = te_ramp(A, ts_mul(A, i, ts_i32(A, 4)), ts_i32(A, 1), 4);
    TsLoweredFunc *f = FUNC(A, "gather", loop(A, i, 0, 2, TE_FOR_VECTORIZED,
                                              FLAT_STORE(A, b, FLAT_LOAD(A, a, lanes), lanes)),
                            a, b);
    int32_t av[6] = { 0 }, bv[8];
    TsError err = { 0 };
    expect_error(RUN(f, &err, BIND(a, av), BIND(b, bv)), &err, TS_EINVAL, 2,
                 "load from A: flat index 6 (lane 2) is outside [0, 6)", "at i = 1");
    ts_arena_destroy(A);
}

static void test_binding_errors(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    const TeBuffer *a = ARG(A, "A", TS_FLOAT32, 4), *b = ARG(A, "B", TS_FLOAT32, 4);
    TsTensor *foreign = ts_placeholder(A, "X", 1, (int64_t[]){ 4 }, TS_FLOAT32);
    TsExpr *i = int_var(A, "i");
    TsLoweredFunc *f = FUNC(A, "copy", loop(A, i, 0, 4, TE_FOR_SERIAL,
                                            STORE(A, b, LOAD(A, a, i), i)), a, b);
    float av[4] = { 0 }, bv[4], xv[4];
    TsError err = { 0 };
    expect_error(RUN(f, &err, BIND(a, av)), &err, TS_EINVAL, 1,
                 "run copy: argument B (tensor B) is not bound");
    expect_error(RUN(f, &err, BIND(a, av), BIND(b, bv), { foreign, xv }), &err, TS_EINVAL, 1,
                 "run copy: tensor X is bound but is not an argument of copy");
    expect_error(RUN(f, &err, BIND(a, av), BIND(b, bv), BIND(a, xv)), &err, TS_EINVAL, 1,
                 "run copy: tensor A is bound twice");
    expect_error(RUN(f, &err, BIND(a, av), BIND(b, NULL)), &err, TS_EINVAL, 1,
                 "run copy: binding 1 has a NULL data pointer");
    expect_error(ts_lowered_run(NULL, 0, NULL, &err), &err, TS_EINVAL, 1,
                 "run: no lowered function");
    expect_error(ts_lowered_run(f, 2, NULL, &err), &err, TS_EINVAL, 1,
                 "run copy: 2 bindings but no array");
    ts_arena_destroy(A);
}

/* C[i] = A[i] / B[i] with B[2] = 0, scalar and in lane 1 of a vector. */
static void test_division_by_zero(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    const TeBuffer *a = ARG(A, "A", TS_INT32, 4), *b = ARG(A, "B", TS_INT32, 4);
    const TeBuffer *c = ARG(A, "C", TS_INT32, 4);
    TsExpr *i = int_var(A, "i");
    TsLoweredFunc *scalar =
        FUNC(A, "divide", loop(A, i, 0, 4, TE_FOR_SERIAL,
                               STORE(A, c, ts_div(A, LOAD(A, a, i), LOAD(A, b, i)), i)),
             a, b, c);
    TsExpr *pair = te_ramp(A, ts_mul(A, i, ts_i32(A, 2)), ts_i32(A, 1), 2);
    TsLoweredFunc *vector =
        FUNC(A, "divide2", loop(A, i, 0, 2, TE_FOR_VECTORIZED,
                                STORE(A, c, ts_mod(A, LOAD(A, a, pair), LOAD(A, b, pair)), pair)),
             a, b, c);
    int32_t av[4] = { 4, 5, 6, 7 }, bv[4] = { 1, 2, 0, 3 }, cv[4];
    TsError err = { 0 };
    expect_error(RUN(scalar, &err, BIND(a, av), BIND(b, bv), BIND(c, cv)), &err, TS_EINVAL, 3,
                 "run divide: integer division by zero in (A[i] / B[i])", "at i = 2",
                 "in C[i] = (A[i] / B[i])");
    bv[2] = 5;
    bv[3] = 0;
    expect_error(RUN(vector, &err, BIND(a, av), BIND(b, bv), BIND(c, cv)), &err, TS_EINVAL, 2,
                 "integer division by zero in lane 1 of", "at i = 1");
    ts_arena_destroy(A);
}

static void test_shift_out_of_range(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    const TeBuffer *a = ARG(A, "A", TS_INT32, 3), *c = ARG(A, "C", TS_INT32, 3);
    TsExpr *i = int_var(A, "i");
    TsExpr *shift = ts_shl(A, ts_i32(A, 1), ts_mul(A, LOAD(A, a, i), ts_i32(A, 10)));
    TsLoweredFunc *f = FUNC(A, "shift", loop(A, i, 0, 3, TE_FOR_SERIAL, STORE(A, c, shift, i)),
                            a, c);
    int32_t av[3] = { 1, 4, 2 }, cv[3];
    TsError err = { 0 };
    expect_error(RUN(f, &err, BIND(a, av), BIND(c, cv)), &err, TS_EINVAL, 2,
                 "shift by 40 is outside [0, 32)", "at i = 1");
    assert_int_equal(cv[0], 1 << 10);
    ts_arena_destroy(A);
}

/* A temporary used outside its allocation, and a variable no loop or let binds. */
static void test_out_of_scope(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    const TeBuffer *b = ARG(A, "B", TS_INT32, 4), *tmp = TEMP(A, "T", TS_INT32, 4);
    TsExpr *i = int_var(A, "i"), *j = int_var(A, "j");
    TeStmt *inside = te_allocate(A, tmp, STORE(A, tmp, ts_i32(A, 1), ts_i32(A, 0)));
    TeStmt *after = STORE(A, b, LOAD(A, tmp, ts_i32(A, 0)), ts_i32(A, 0));
    TsLoweredFunc *stale = FUNC(A, "stale", SEQ(A, inside, after), b);
    TsLoweredFunc *unbound = FUNC(A, "unbound", loop(A, i, 0, 4, TE_FOR_SERIAL,
                                                     STORE(A, b, j, i)), b);
    int32_t bv[4];
    TsError err = { 0 };
    expect_error(RUN(stale, &err, BIND(b, bv)), &err, TS_EINVAL, 1,
                 "load from T: the buffer is neither an argument of stale nor allocated");
    expect_error(RUN(unbound, &err, BIND(b, bv)), &err, TS_EINVAL, 2,
                 "variable j has no value here", "at i = 0");
    ts_arena_destroy(A);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matmul_nest),
        cmocka_unit_test(test_allocated_temporary),
        cmocka_unit_test(test_allocation_is_poisoned),
        cmocka_unit_test(test_vector_body_equals_scalar),
        cmocka_unit_test(test_strided_ramps),
        cmocka_unit_test(test_let_and_if),
        cmocka_unit_test(test_vector_let_select_cast),
        cmocka_unit_test(test_flat_indexing),
        cmocka_unit_test(test_if_then_else_guards_lanes),
        cmocka_unit_test(test_vector_store_reads_first),
        cmocka_unit_test(test_loop_bounds_evaluated_once),
        cmocka_unit_test(test_lanewise_integer_semantics),
        cmocka_unit_test(test_num_args_and_arg),
        cmocka_unit_test(test_store_out_of_bounds),
        cmocka_unit_test(test_load_out_of_bounds),
        cmocka_unit_test(test_vector_load_out_of_bounds),
        cmocka_unit_test(test_binding_errors),
        cmocka_unit_test(test_division_by_zero),
        cmocka_unit_test(test_shift_out_of_range),
        cmocka_unit_test(test_out_of_scope),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
