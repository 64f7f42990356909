/* The loop passes storage_flatten, vectorize, unroll and storage_rewrite on loop nests
 * built by hand: the printed IR of canonical cases, exact; the error (status and
 * message) where a pass must refuse; and values: the loop-nest interpreter runs the
 * function before and after each pass on the same inputs and every buffer must come
 * out bit for bit the same (the passes reorder no floating-point arithmetic). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "schedule/sch_internal.h"
#include "test_util.h"

/* ---- building loop nests ---- */

enum { MAX_ARGS = 8 };

static TsArena *A; /* the arena of the running test */

static TsExpr *var(const char *name)
{
    return ts_variable(A, name, TS_INT32);
}

static TsExpr *i32(int64_t v)
{
    return ts_i32(A, v);
}

static TsExpr *f32(double v)
{
    return ts_f32(A, v);
}

/* A kernel argument: a placeholder's buffer, dense row-major. */
static TeBuffer *arg(const char *name, int ndim, const int64_t *shape, TsDType dtype)
{
    TsTensor *t = ts_placeholder(A, name, ndim, shape, dtype);
    return te_buffer(A, name, t, ndim, shape, TE_SCOPE_GLOBAL);
}

/* A temporary of the kernel. */
static TeBuffer *local(const char *name, int ndim, const int64_t *shape, TsDType dtype)
{
    TsTensor *t = ts_placeholder(A, name, ndim, shape, dtype);
    return te_buffer(A, name, t, ndim, shape, TE_SCOPE_LOCAL);
}

static TsExpr *load(const TeBuffer *b, int n, TsExpr *const *indices)
{
    return te_load(A, b, n, indices, false);
}

static TsExpr *load_flat(const TeBuffer *b, TsExpr *index)
{
    return te_load(A, b, 1, &index, true);
}

static TeStmt *store(const TeBuffer *b, int n, TsExpr *const *indices, TsExpr *value)
{
    return te_store(A, b, n, indices, value, false);
}

static TeStmt *store_flat(const TeBuffer *b, TsExpr *index, TsExpr *value)
{
    return te_store(A, b, 1, &index, value, true);
}

#define IX(...)                                                                            \
    (int)(sizeof((TsExpr *[]){ __VA_ARGS__ }) / sizeof(TsExpr *)), (TsExpr *[]){ __VA_ARGS__ }
#define SEQ(...) te_seq(A, (int)(sizeof((TeStmt *[]){ __VA_ARGS__ }) / sizeof(TeStmt *)), \
                        (TeStmt *[]){ __VA_ARGS__ })

static TeStmt *loop(TsExpr *v, int64_t extent, TeForKind kind, TeStmt *body)
{
    return te_for(A, v, i32(0), i32(extent), kind, 0, NULL, body);
}

static TsLoweredFunc *func(int num_args, TeBuffer *const *args, TeStmt *body)
{
    const TeBuffer **copy = ts_arena_alloc(A, sizeof *copy * (size_t)num_args);
    assert_non_null(copy);
    memcpy(copy, args, sizeof *copy * (size_t)num_args);
    TsLoweredFunc *f = sch_func(A, "kernel", num_args, copy, body);
    if (!f)
        fprintf(stderr, "building the kernel failed: %s\n", ts_arena_error(A)->message);
    assert_non_null(f);
    return f;
}

static const SchLowerOptions strict = { .allow_scalar_fallback = false };
static const SchLowerOptions fallback = { .allow_scalar_fallback = true };

static int setup(void **state)
{
    (void)state;
    A = ts_arena_create();
    return A ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    ts_arena_destroy(A);
    A = NULL;
    return 0;
}

/* ---- checks ---- */

static void assert_text(const TsLoweredFunc *f, const char *want)
{
    const char *got = te_stmt_str(A, f->body);
    assert_non_null(got);
    if (strcmp(got, want) != 0)
        fprintf(stderr, "--- want\n%s--- got\n%s---\n", want, got);
    assert_string_equal(got, want);
}

/* Deterministic, distinct, small values: exact in float32 under the few operations the
 * tests do. */
static void fill(const TeBuffer *b, int salt, void *data)
{
    const TsTensor *t = b->tensor;
    int64_t n = ts_tensor_num_elements(t);
    for (int64_t k = 0; k < n; k++) {
        int64_t v = (k * 7 + salt * 5) % 23 - 11;
        if (ts_dtype_is_float(t->dtype))
            ((float *)data)[k] = (float)v * 0.25f;
        else
            ((int32_t *)data)[k] = (int32_t)v;
    }
}

/* Runs before and after on the same fresh arguments; every argument must end the same,
 * and before must have written something (so the comparison can fail). */
static void assert_same_results(const TsLoweredFunc *before, const TsLoweredFunc *after)
{
    int n = before->num_args;
    assert_int_equal(after->num_args, n);
    assert_true(n <= MAX_ARGS);
    void *initial[MAX_ARGS], *data[2][MAX_ARGS];
    size_t bytes[MAX_ARGS];
    TsBinding bindings[2][MAX_ARGS];
    for (int i = 0; i < n; i++) {
        const TsTensor *t = before->args[i]->tensor;
        bytes[i] = (size_t)ts_tensor_num_elements(t) * ts_dtype_bytes(t->dtype);
        initial[i] = malloc(bytes[i]);
        assert_non_null(initial[i]);
        fill(before->args[i], i, initial[i]);
        for (int run = 0; run < 2; run++) {
            data[run][i] = malloc(bytes[i]);
            assert_non_null(data[run][i]);
            memcpy(data[run][i], initial[i], bytes[i]);
            bindings[run][i] = (TsBinding){ t, data[run][i] };
        }
    }
    const TsLoweredFunc *funcs[2] = { before, after };
    for (int run = 0; run < 2; run++) {
        TsError err = { 0 };
        TsStatus status = ts_lowered_run(funcs[run], n, bindings[run], &err);
        if (status != TS_OK)
            fprintf(stderr, "run %s: %s\n", run ? "after" : "before", err.message);
        assert_int_equal(status, TS_OK);
    }
    bool wrote = false;
    for (int i = 0; i < n; i++) {
        wrote = wrote || memcmp(data[0][i], initial[i], bytes[i]) != 0;
        assert_memory_equal(data[0][i], data[1][i], bytes[i]);
        free(initial[i]);
        free(data[0][i]);
        free(data[1][i]);
    }
    assert_true(wrote);
}

/* Runs a pass that must succeed. */
static TsLoweredFunc *run_pass(SchPass pass, TsLoweredFunc *f, const SchLowerOptions *options)
{
    TsError err = { 0 };
    TsLoweredFunc *out = pass(A, f, options, &err);
    if (!out)
        fprintf(stderr, "pass failed: %s: %s\n", ts_status_name(err.status), err.message);
    assert_non_null(out);
    return out;
}

/* Runs a pass that must fail with status and a message containing needle. */
static void assert_pass_fails(SchPass pass, TsLoweredFunc *f, const SchLowerOptions *options,
                              TsStatus status, const char *needle)
{
    TsError err = { 0 };
    TsLoweredFunc *out = pass(A, f, options, &err);
    if (out || err.status != status || !strstr(err.message, needle))
        fprintf(stderr, "wanted %s containing \"%s\", got %s: %s\n", ts_status_name(status),
                needle, ts_status_name(err.status), err.message);
    assert_null(out);
    assert_int_equal(err.status, status);
    assert_non_null(strstr(err.message, needle));
}

/* What a call writes to stderr, captured through a temporary file. */
typedef struct {
    int saved_fd;
    FILE *file;
} Capture;

static void capture_begin(Capture *c)
{
    fflush(stderr);
    c->file = tmpfile();
    assert_non_null(c->file);
    c->saved_fd = dup(fileno(stderr));
    assert_true(c->saved_fd >= 0);
    assert_true(dup2(fileno(c->file), fileno(stderr)) >= 0);
}

static const char *capture_end(Capture *c)
{
    static char text[4096];
    fflush(stderr);
    assert_true(dup2(c->saved_fd, fileno(stderr)) >= 0);
    close(c->saved_fd);
    rewind(c->file);
    size_t n = fread(text, 1, sizeof text - 1, c->file);
    text[n] = '\0';
    fclose(c->file);
    return text;
}

/* ---- the canonical nests ---- */

/* C[i, j] = sum over k of A[i, k] * B[k, j], j vectorized outside the serial k loop:
 *   for i: vectorized j: { C[i, j] = 0; for k: C[i, j] = C[i, j] + A[i, k] * B[k, j] } */
static TsLoweredFunc *matmul(void)
{
    TeBuffer *a = arg("A", 2, (int64_t[]){ 4, 3 }, TS_FLOAT32);
    TeBuffer *b = arg("B", 2, (int64_t[]){ 3, 8 }, TS_FLOAT32);
    TeBuffer *c = arg("C", 2, (int64_t[]){ 4, 8 }, TS_FLOAT32);
    TsExpr *i = var("i"), *j = var("j"), *k = var("k");
    TsExpr *sum = ts_add(A, load(c, IX(i, j)), ts_mul(A, load(a, IX(i, k)), load(b, IX(k, j))));
    TeStmt *body = SEQ(store(c, IX(i, j), f32(0)),
                       loop(k, 3, TE_FOR_SERIAL, store(c, IX(i, j), sum)));
    TeStmt *nest = loop(i, 4, TE_FOR_SERIAL, loop(j, 8, TE_FOR_VECTORIZED, body));
    return func(3, (TeBuffer *[]){ a, b, c }, nest);
}

static const char matmul_flat[] =
    "for (i, 0, 4) {\n"
    "  vectorized (j, 0, 8) {\n"
    "    C[((i * 8) + j)] = 0.0f\n"
    "    for (k, 0, 3) {\n"
    "      C[((i * 8) + j)] = (C[((i * 8) + j)] + (A[((i * 3) + k)] * B[((k * 8) + j)]))\n"
    "    }\n"
    "  }\n"
    "}\n";

static const char matmul_vector[] =
    "for (i, 0, 4) {\n"
    "  C[ramp((i * 8), 1, 8)] = broadcast(0.0f, 8)\n"
    "  for (k, 0, 3) {\n"
    "    C[ramp((i * 8), 1, 8)] = (C[ramp((i * 8), 1, 8)] + (broadcast(A[((i * 3) + k)], 8) * "
    "B[ramp((k * 8), 1, 8)]))\n"
    "  }\n"
    "}\n";

static void test_matmul_flatten_then_vectorize(void **state)
{
    (void)state;
    TsLoweredFunc *f = matmul();
    TsLoweredFunc *flat = run_pass(sch_pass_storage_flatten, f, &strict);
    assert_text(flat, matmul_flat);
    assert_same_results(f, flat);
    TsLoweredFunc *vec = run_pass(sch_pass_vectorize, flat, &strict);
    assert_text(vec, matmul_vector);
    assert_same_results(f, vec);
    /* Nothing left to do: each pass gives the function back unchanged. */
    assert_ptr_equal(run_pass(sch_pass_storage_flatten, vec, &strict), vec);
    assert_ptr_equal(run_pass(sch_pass_vectorize, vec, &strict), vec);
}

/* The other order gives the same ramps: flattening keeps ramp(base, stride, n) form. */
static void test_matmul_vectorize_then_flatten(void **state)
{
    (void)state;
    TsLoweredFunc *f = matmul();
    TsLoweredFunc *vec = run_pass(sch_pass_vectorize, f, &strict);
    assert_text(vec, "for (i, 0, 4) {\n"
                     "  C[i, ramp(0, 1, 8)] = broadcast(0.0f, 8)\n"
                     "  for (k, 0, 3) {\n"
                     "    C[i, ramp(0, 1, 8)] = (C[i, ramp(0, 1, 8)] + (broadcast(A[i, k], 8) * "
                     "B[k, ramp(0, 1, 8)]))\n"
                     "  }\n"
                     "}\n");
    assert_same_results(f, vec);
    TsLoweredFunc *flat = run_pass(sch_pass_storage_flatten, vec, &strict);
    assert_text(flat, matmul_vector);
    assert_same_results(f, flat);
}

/* A fused axis of a [5, 7] buffer indexes it as [floordiv(f, 7), floormod(f, 7)]: the flat
 * index is f again, so a vectorized f reads and writes contiguous vectors instead of
 * being refused (two lanes could not be told apart in a gather of C[f]). A padded row
 * stride keeps the pair apart, and the index stays. */
static void test_flatten_fused_index(void **state)
{
    (void)state;
    TeBuffer *in = arg("In", 2, (int64_t[]){ 5, 7 }, TS_INT32);
    TeBuffer *c = arg("C", 2, (int64_t[]){ 5, 7 }, TS_INT32);
    TsExpr *fo = var("f.outer"), *fi = var("f.inner");
    TsExpr *f = ts_add(A, ts_mul(A, fo, i32(5)), fi);
    TsExpr *row = ts_floordiv(A, f, i32(7)), *col = ts_floormod(A, f, i32(7));
    TeStmt *body = store(c, IX(row, col), ts_add(A, load(c, IX(row, col)), load(in, IX(row, col))));
    TsLoweredFunc *fn = func(2, (TeBuffer *[]){ in, c },
                             loop(fo, 7, TE_FOR_SERIAL, loop(fi, 5, TE_FOR_VECTORIZED, body)));
    TsLoweredFunc *flat = run_pass(sch_pass_storage_flatten, fn, &strict);
    assert_text(flat, "for (f.outer, 0, 7) {\n"
                      "  vectorized (f.inner, 0, 5) {\n"
                      "    C[((f.outer * 5) + f.inner)] = (C[((f.outer * 5) + f.inner)] + "
                      "In[((f.outer * 5) + f.inner)])\n"
                      "  }\n"
                      "}\n");
    assert_same_results(fn, flat);
    TsLoweredFunc *vec = run_pass(sch_pass_vectorize, flat, &strict);
    assert_text(vec, "for (f.outer, 0, 7) {\n"
                     "  C[ramp((f.outer * 5), 1, 5)] = (C[ramp((f.outer * 5), 1, 5)] + "
                     "In[ramp((f.outer * 5), 1, 5)])\n"
                     "}\n");
    assert_same_results(fn, vec);
    TeBuffer *padded = local("P", 2, (int64_t[]){ 5, 7 }, TS_INT32);
    padded->strides[0] = 8;
    padded->num_elements = 40;
    TsLoweredFunc *g = func(1, (TeBuffer *[]){ in },
                            te_allocate(A, padded, loop(fo, 7, TE_FOR_SERIAL,
                                                        loop(fi, 5, TE_FOR_SERIAL,
                                                             store(padded, IX(row, col),
                                                                   load(in, IX(row, col)))))));
    TsLoweredFunc *gflat = run_pass(sch_pass_storage_flatten, g, &strict);
    assert_text(gflat, "allocate P: int32[5, 7] {\n"
                       "  for (f.outer, 0, 7) {\n"
                       "    for (f.inner, 0, 5) {\n"
                       "      P[((floordiv(((f.outer * 5) + f.inner), 7) * 8) + "
                       "floormod(((f.outer * 5) + f.inner), 7))] = In[((f.outer * 5) + f.inner)]\n"
                       "    }\n"
                       "  }\n"
                       "}\n");
}

/* Strides padded by storage_align are honoured: a [3, 5] buffer with row stride 8. */
static void test_flatten_padded_strides(void **state)
{
    (void)state;
    TeBuffer *in = arg("In", 2, (int64_t[]){ 3, 5 }, TS_FLOAT32);
    TeBuffer *out = arg("Out", 2, (int64_t[]){ 3, 5 }, TS_FLOAT32);
    TeBuffer *pad = local("P", 2, (int64_t[]){ 3, 5 }, TS_FLOAT32);
    pad->strides[0] = 8;
    pad->num_elements = 24;
    TsExpr *i = var("i"), *j = var("j"), *i2 = var("i"), *j2 = var("j");
    TeStmt *fill_pad = loop(i, 3, TE_FOR_SERIAL, loop(j, 5, TE_FOR_SERIAL,
        store(pad, IX(i, j), ts_mul(A, load(in, IX(i, j)), f32(2)))));
    TeStmt *copy = loop(i2, 3, TE_FOR_SERIAL, loop(j2, 5, TE_FOR_SERIAL,
        store(out, IX(i2, j2), load(pad, IX(i2, j2)))));
    TsLoweredFunc *f = func(2, (TeBuffer *[]){ in, out }, te_allocate(A, pad, SEQ(fill_pad, copy)));
    TsLoweredFunc *flat = run_pass(sch_pass_storage_flatten, f, &strict);
    assert_text(flat, "allocate P: float32[3, 5] {\n"
                      "  for (i, 0, 3) {\n"
                      "    for (j, 0, 5) {\n"
                      "      P[((i * 8) + j)] = (In[((i * 5) + j)] * 2.0f)\n"
                      "    }\n"
                      "  }\n"
                      "  for (i, 0, 3) {\n"
                      "    for (j, 0, 5) {\n"
                      "      Out[((i * 5) + j)] = P[((i * 8) + j)]\n"
                      "    }\n"
                      "  }\n"
                      "}\n");
    assert_same_results(f, flat);
}

/* Vector indices that are not ramps (a gather through loaded indices) are scaled and
 * summed lane-wise; a broadcast stays a broadcast. */
static void test_flatten_gather(void **state)
{
    (void)state;
    TeBuffer *rows = arg("Rows", 1, (int64_t[]){ 4 }, TS_INT32);
    TeBuffer *a = arg("A", 2, (int64_t[]){ 4, 4 }, TS_INT32);
    TeBuffer *b = arg("B", 2, (int64_t[]){ 2, 4 }, TS_INT32);
    TsExpr *lanes = te_ramp(A, i32(0), i32(1), 4);
    TsExpr *row = ts_floormod(A, load_flat(rows, lanes), te_broadcast(A, i32(4), 4));
    TeStmt *gather = store(b, IX(te_broadcast(A, i32(1), 4), lanes), load(a, IX(row, lanes)));
    TsLoweredFunc *f = func(3, (TeBuffer *[]){ rows, a, b }, gather);
    TsLoweredFunc *flat = run_pass(sch_pass_storage_flatten, f, &strict);
    assert_text(flat, "B[ramp(4, 1, 4)] = A[((floormod(Rows[ramp(0, 1, 4)], broadcast(4, 4)) * "
                      "broadcast(4, 4)) + ramp(0, 1, 4))]\n");
    assert_same_results(f, flat);
}

/* An elementwise kernel split by 8 with the inner loop vectorized, on flat indices:
 * B[io * 8 + ii] = max(A[io * 8 + ii] * 2 + 1, 0). */
static void test_elementwise(void **state)
{
    (void)state;
    TeBuffer *a = arg("A", 1, (int64_t[]){ 32 }, TS_FLOAT32);
    TeBuffer *b = arg("B", 1, (int64_t[]){ 32 }, TS_FLOAT32);
    TsExpr *io = var("io"), *ii = var("ii");
    TsExpr *index = ts_add(A, ts_mul(A, io, i32(8)), ii);
    TsExpr *value = ts_max(A, ts_add(A, ts_mul(A, load_flat(a, index), f32(2)), f32(1)), f32(0));
    TeStmt *nest = loop(io, 4, TE_FOR_SERIAL, loop(ii, 8, TE_FOR_VECTORIZED,
                                                   store_flat(b, index, value)));
    TsLoweredFunc *f = func(2, (TeBuffer *[]){ a, b }, nest);
    TsLoweredFunc *vec = run_pass(sch_pass_vectorize, f, &strict);
    assert_text(vec, "for (io, 0, 4) {\n"
                     "  B[ramp((io * 8), 1, 8)] = max(((A[ramp((io * 8), 1, 8)] * "
                     "broadcast(2.0f, 8)) + broadcast(1.0f, 8)), broadcast(0.0f, 8))\n"
                     "}\n");
    assert_same_results(f, vec);
}

/* A strided gather, a cast and a call: B[j] = float32(sqrt(A[2 * j + 1])). */
static void test_gather_stride_two(void **state)
{
    (void)state;
    TeBuffer *a = arg("A", 1, (int64_t[]){ 16 }, TS_FLOAT64);
    TeBuffer *b = arg("B", 1, (int64_t[]){ 8 }, TS_FLOAT32);
    TsExpr *j = var("j");
    TsExpr *src = load_flat(a, ts_add(A, ts_mul(A, i32(2), j), i32(1)));
    TsExpr *value = ts_cast(A, TS_FLOAT32, ts_sqrt(A, ts_fabs(A, src)));
    TsLoweredFunc *f = func(2, (TeBuffer *[]){ a, b },
                            loop(j, 8, TE_FOR_VECTORIZED, store_flat(b, j, value)));
    TsLoweredFunc *vec = run_pass(sch_pass_vectorize, f, &strict);
    assert_text(vec, "B[ramp(0, 1, 8)] = float32x8(sqrt(fabs(A[ramp(1, 2, 8)])))\n");
    /* fill() writes float32 patterns; give A float64 data of its own. */
    double a_data[16];
    float before[8], after[8];
    for (int k = 0; k < 16; k++)
        a_data[k] = k * 1.5;
    const TsLoweredFunc *funcs[2] = { f, vec };
    float *outs[2] = { before, after };
    for (int run = 0; run < 2; run++) {
        TsBinding bind[2] = { { a->tensor, a_data }, { b->tensor, outs[run] } };
        TsError err = { 0 };
        assert_int_equal(ts_lowered_run(funcs[run], 2, bind, &err), TS_OK);
    }
    for (int k = 0; k < 8; k++) {
        assert_true(before[k] == (float)sqrt((2 * k + 1) * 1.5));
        assert_true(after[k] == before[k]);
    }
}

/* A let whose value varies becomes a vector let; select with a varying condition. */
static void test_vector_let_and_select(void **state)
{
    (void)state;
    TeBuffer *a = arg("A", 1, (int64_t[]){ 8 }, TS_INT32);
    TeBuffer *b = arg("B", 1, (int64_t[]){ 8 }, TS_INT32);
    TsExpr *j = var("j"), *t = var("t");
    TsExpr *value = ts_select(A, ts_lt(A, j, i32(4)), ts_add(A, t, t), ts_sub(A, t, j));
    TeStmt *body = te_let(A, t, ts_mul(A, load_flat(a, j), i32(3)), store_flat(b, j, value));
    TsLoweredFunc *f = func(2, (TeBuffer *[]){ a, b }, loop(j, 8, TE_FOR_VECTORIZED, body));
    TsLoweredFunc *vec = run_pass(sch_pass_vectorize, f, &strict);
    assert_text(vec, "let t = (A[ramp(0, 1, 8)] * broadcast(3, 8))\n"
                     "B[ramp(0, 1, 8)] = select((ramp(0, 1, 8) < broadcast(4, 8)), (t + t), "
                     "(t - ramp(0, 1, 8)))\n");
    assert_same_results(f, vec);
}

/* Loop-invariant code stays scalar: an if on an outer variable, a scalar let. */
static void test_invariant_if_and_let(void **state)
{
    (void)state;
    TeBuffer *a = arg("A", 2, (int64_t[]){ 2, 4 }, TS_FLOAT32);
    TeBuffer *b = arg("B", 2, (int64_t[]){ 2, 4 }, TS_FLOAT32);
    TsExpr *i = var("i"), *j = var("j"), *s = ts_variable(A, "s", TS_FLOAT32);
    TsExpr *row = ts_add(A, ts_mul(A, i, i32(4)), j);
    TeStmt *then_case = te_let(A, s, ts_cast(A, TS_FLOAT32, i),
                               store_flat(b, row, ts_add(A, load_flat(a, row), s)));
    TeStmt *else_case = store_flat(b, row, f32(-1));
    TeStmt *body = te_if(A, ts_eq(A, i, i32(1)), then_case, else_case, false);
    TsLoweredFunc *f = func(2, (TeBuffer *[]){ a, b },
                            loop(i, 2, TE_FOR_SERIAL, loop(j, 4, TE_FOR_VECTORIZED, body)));
    TsLoweredFunc *vec = run_pass(sch_pass_vectorize, f, &strict);
    assert_text(vec, "for (i, 0, 2) {\n"
                     "  if ((i == 1)) {\n"
                     "    let s = float32(i)\n"
                     "    B[ramp((i * 4), 1, 4)] = (A[ramp((i * 4), 1, 4)] + broadcast(s, 4))\n"
                     "  }\n"
                     "  else {\n"
                     "    B[ramp((i * 4), 1, 4)] = broadcast(-1.0f, 4)\n"
                     "  }\n"
                     "}\n");
    assert_same_results(f, vec);
}

/* Extent 1 is the body with the variable replaced; a loop of a non-constant extent,
 * or of more than 1024 lanes, is refused with the loop's name. */
static void test_vectorize_extents(void **state)
{
    (void)state;
    TeBuffer *a = arg("A", 1, (int64_t[]){ 4 }, TS_INT32);
    TeBuffer *n = arg("N", 1, (int64_t[]){ 1 }, TS_INT32);
    TsExpr *i = var("i"), *j = var("j");
    TeStmt *one = te_for(A, j, i32(2), i32(1), TE_FOR_VECTORIZED, 0, NULL,
                         store_flat(a, j, ts_add(A, load_flat(a, j), i32(10))));
    TsLoweredFunc *f = func(2, (TeBuffer *[]){ a, n }, one);
    TsLoweredFunc *vec = run_pass(sch_pass_vectorize, f, &strict);
    assert_text(vec, "A[2] = (A[2] + 10)\n");
    assert_same_results(f, vec);

    TeStmt *dynamic = te_let(A, i, load_flat(n, i32(0)),
                             te_for(A, j, i32(0), i, TE_FOR_VECTORIZED, 0, NULL,
                                    store_flat(a, j, i32(7))));
    assert_pass_fails(sch_pass_vectorize, func(2, (TeBuffer *[]){ a, n }, dynamic), &strict,
                      TS_ECODEGEN, "cannot vectorize loop j: its extent i is not a constant");

    TeBuffer *big = arg("Big", 1, (int64_t[]){ 2048 }, TS_INT32);
    TsExpr *k = var("k");
    TeStmt *wide = loop(k, 2048, TE_FOR_VECTORIZED, store_flat(big, k, k));
    assert_pass_fails(sch_pass_vectorize, func(1, (TeBuffer *[]){ big }, wide), &strict,
                      TS_ECODEGEN, "cannot vectorize loop k: its extent 2048 exceeds 1024 lanes");
}

/* S[0] = S[0] + A[j] over a vectorized j is a reduction across lanes: refused, or kept
 * as a serial loop (with a note) when scalar fallback is allowed. */
static void test_reduction_across_lanes(void **state)
{
    (void)state;
    TeBuffer *a = arg("A", 1, (int64_t[]){ 8 }, TS_FLOAT32);
    TeBuffer *s = arg("S", 1, (int64_t[]){ 1 }, TS_FLOAT32);
    TsExpr *j = var("j");
    TeStmt *body = store_flat(s, i32(0), ts_add(A, load_flat(s, i32(0)), load_flat(a, j)));
    TsLoweredFunc *f = func(2, (TeBuffer *[]){ a, s }, loop(j, 8, TE_FOR_VECTORIZED, body));
    assert_pass_fails(sch_pass_vectorize, f, &strict, TS_ECODEGEN,
                      "vectorize: cannot vectorize loop j: the store to S at an address that "
                      "does not depend on j gets a value that does (a reduction across lanes)");

    Capture capture;
    capture_begin(&capture);
    TsError err = { 0 };
    TsLoweredFunc *kept = sch_pass_vectorize(A, f, &fallback, &err);
    const char *note = capture_end(&capture);
    assert_non_null(kept);
    assert_string_equal(note, "vectorize: keeping loop j scalar: the store to S at an address "
                              "that does not depend on j gets a value that does (a reduction "
                              "across lanes)\n");
    assert_text(kept, "for (j, 0, 8) {\n"
                      "  S[0] = (S[0] + A[j])\n"
                      "}\n");
    assert_same_results(f, kept);
}

/* What else cannot be vectorized, each with its reason; with fallback the values stay. */
static void test_vectorize_refusals(void **state)
{
    (void)state;
    TeBuffer *a = arg("A", 1, (int64_t[]){ 9 }, TS_INT32);
    TeBuffer *b = arg("B", 1, (int64_t[]){ 8 }, TS_INT32);
    struct {
        const char *reason;
        TeStmt *body;
    } cases[6];
    TsExpr *j[6], *k = var("k"), *k2 = var("k");
    for (int c = 0; c < 6; c++)
        j[c] = var("j");
    /* Under a lane mask an inner loop runs whenever any lane is active, so its bounds
     * must not read memory that an inactive lane's condition guards. */
    cases[0].reason = "the bounds of the inner loop k, under a condition that depends on j, "
                      "read memory";
    TsExpr *k0 = var("k");
    cases[0].body =
        te_if(A, ts_lt(A, j[0], i32(5)),
              SEQ(store_flat(b, j[0], j[0]),
                  te_for(A, k0, i32(0), ts_min(A, load_flat(a, i32(0)), i32(2)), TE_FOR_SERIAL, 0,
                         NULL, store_flat(b, j[0], ts_add(A, load_flat(b, j[0]), k0)))),
              NULL, false);
    cases[1].reason = "the bounds of the inner loop k depend on j";
    cases[1].body = te_for(A, k, i32(0), j[1], TE_FOR_SERIAL, 0, NULL,
                           store_flat(b, j[1], ts_add(A, load_flat(b, j[1]), k)));
    /* A prefix sum: lane j + 1 reads what lane j wrote. */
    cases[2].reason = "A is written and also accessed at another index in the loop";
    TsExpr *next = ts_add(A, j[2], i32(1));
    cases[2].body = store_flat(a, next, ts_add(A, load_flat(a, j[2]), load_flat(a, next)));
    /* Two lanes write B[j / 2] and read it back. */
    cases[3].reason = "B is written and accessed again in the loop at an index that is not one "
                      "address per lane of j";
    cases[3].body = store_flat(b, ts_div(A, j[3], i32(2)),
                               ts_add(A, load_flat(b, ts_div(A, j[3], i32(2))), j[3]));
    /* A store of an invariant value to an invariant address of a buffer the loop reads. */
    cases[4].reason = "the store to A at an address that does not depend on j writes a buffer "
                      "the loop reads";
    cases[4].body = SEQ(store_flat(b, j[4], load_flat(a, i32(0))),
                        store_flat(a, i32(0), ts_add(A, load_flat(a, i32(0)), i32(1))));
    /* A[j + k] over an inner k: lane 0 at k = 1 and lane 1 at k = 0 write one element,
     * in the other order once vectorized. */
    cases[5].reason = "the index of the store to A depends on k, which is bound inside the "
                      "loop, so lanes of j may write each other's elements";
    cases[5].body = loop(k2, 2, TE_FOR_SERIAL,
                         store_flat(a, ts_add(A, j[5], k2),
                                    ts_add(A, ts_mul(A, j[5], i32(10)), k2)));
    for (int c = 0; c < 6; c++) {
        TsLoweredFunc *f = func(2, (TeBuffer *[]){ a, b },
                                loop(j[c], 8, TE_FOR_VECTORIZED, cases[c].body));
        char want[400];
        snprintf(want, sizeof want, "cannot vectorize loop j: %s", cases[c].reason);
        assert_pass_fails(sch_pass_vectorize, f, &strict, TS_ECODEGEN, want);
        Capture capture;
        capture_begin(&capture);
        TsLoweredFunc *kept = run_pass(sch_pass_vectorize, f, &fallback);
        const char *note = capture_end(&capture);
        assert_non_null(strstr(note, "vectorize: keeping loop j scalar: "));
        assert_non_null(strstr(note, cases[c].reason));
        assert_int_equal(kept->body->kind, TE_STMT_FOR);
        assert_int_equal(kept->body->u.loop.for_kind, TE_FOR_SERIAL);
        assert_same_results(f, kept);
    }
}

/* if (j < 5) B[j] = A[j + 4] + 100 over a vectorized j < 8, a B of 5 and an A of 9: lanes
 * 5..7 would read past A and write past B. The if becomes a masked store whose mask is
 * the widened condition; the loop interpreter, which fails on any access outside a
 * buffer, evaluates and writes only the active lanes and gets the serial loop's values. */
static void test_vectorized_guarded_store(void **state)
{
    (void)state;
    TeBuffer *a = arg("A", 1, (int64_t[]){ 9 }, TS_INT32);
    TeBuffer *b = arg("B", 1, (int64_t[]){ 5 }, TS_INT32);
    TsExpr *j = var("j");
    TeStmt *body = te_if(A, ts_lt(A, j, i32(5)),
                         store_flat(b, j, ts_add(A, load_flat(a, ts_add(A, j, i32(4))), i32(100))),
                         NULL, false);
    TsLoweredFunc *f = func(2, (TeBuffer *[]){ a, b }, loop(j, 8, TE_FOR_VECTORIZED, body));
    TsLoweredFunc *vec = run_pass(sch_pass_vectorize, f, &strict);
    assert_text(vec, "B[ramp(0, 1, 8)] = (A[ramp(4, 1, 8)] + broadcast(100, 8)) masked by "
                     "(ramp(0, 1, 8) < broadcast(5, 8))\n");
    assert_same_results(f, vec);
}

/* Both branches of a lane-varying if, the else under the negated condition, and a let
 * inside whose load is evaluated under the mask: if (j < 3) { let x = A[j + 6] in
 * B[j] = x * 2 } else { C[j - 3] = j } over j < 8, A of 9, B of 3, C of 5. */
static void test_vectorized_guarded_store_else(void **state)
{
    (void)state;
    TeBuffer *a = arg("A", 1, (int64_t[]){ 9 }, TS_INT32);
    TeBuffer *b = arg("B", 1, (int64_t[]){ 3 }, TS_INT32);
    TeBuffer *c = arg("C", 1, (int64_t[]){ 5 }, TS_INT32);
    TsExpr *j = var("j"), *x = var("x");
    TeStmt *then_case =
        te_let(A, x, load_flat(a, ts_add(A, j, i32(6))), store_flat(b, j, ts_mul(A, x, i32(2))));
    TeStmt *else_case = store_flat(c, ts_sub(A, j, i32(3)), j);
    TeStmt *body = te_if(A, ts_lt(A, j, i32(3)), then_case, else_case, false);
    TsLoweredFunc *f = func(3, (TeBuffer *[]){ a, b, c }, loop(j, 8, TE_FOR_VECTORIZED, body));
    TsLoweredFunc *vec = run_pass(sch_pass_vectorize, f, &strict);
    assert_text(vec, "let x = if_then_else((ramp(0, 1, 8) < broadcast(3, 8)), A[ramp(6, 1, 8)], "
                     "broadcast(0, 8))\n"
                     "B[ramp(0, 1, 8)] = (x * broadcast(2, 8)) masked by (ramp(0, 1, 8) < "
                     "broadcast(3, 8))\n"
                     "C[ramp(-3, 1, 8)] = ramp(0, 1, 8) masked by !(ramp(0, 1, 8) < "
                     "broadcast(3, 8))\n");
    assert_same_results(f, vec);
}

/* The simplifier drops a mask true in every lane and removes a store whose mask is
 * false in every lane; storage flatten keeps a mask. */
static void test_masked_store_simplify(void **state)
{
    (void)state;
    TeBuffer *b = arg("B", 2, (int64_t[]){ 2, 8 }, TS_INT32);
    TsExpr *ramp = te_ramp(A, i32(0), i32(1), 8);
    TsExpr *value = te_broadcast(A, ts_add(A, i32(1), i32(2)), 8);
    TsExpr *on = te_broadcast(A, ts_lt(A, i32(1), i32(2)), 8);
    TsExpr *off = te_broadcast(A, ts_gt(A, i32(1), i32(2)), 8);
    TsExpr *some = ts_lt(A, ramp, te_broadcast(A, i32(5), 8));
    TsExpr *idx[] = { i32(1), ramp };
    TeStmt *all = te_store_masked(A, b, 2, idx, value, false, on);
    TeStmt *none = te_store_masked(A, b, 2, idx, value, false, off);
    TeStmt *part = te_store_masked(A, b, 2, idx, value, false, some);
    assert_non_null(all);
    assert_non_null(none);
    assert_non_null(part);
    assert_string_equal(te_stmt_str(A, te_simplify_stmt(A, all)),
                        "B[1, ramp(0, 1, 8)] = broadcast(3, 8)\n");
    assert_string_equal(te_stmt_str(A, te_simplify_stmt(A, none)), "");
    assert_string_equal(te_stmt_str(A, te_simplify_stmt(A, part)),
                        "B[1, ramp(0, 1, 8)] = broadcast(3, 8) masked by (ramp(0, 1, 8) < "
                        "broadcast(5, 8))\n");
    TeStmt *constant = te_store_masked(A, b, 2, idx, te_broadcast(A, i32(3), 8), false, some);
    TsLoweredFunc *flat =
        run_pass(sch_pass_storage_flatten, func(1, (TeBuffer *[]){ b }, constant), &strict);
    assert_text(flat, "B[ramp(8, 1, 8)] = broadcast(3, 8) masked by (ramp(0, 1, 8) < "
                      "broadcast(5, 8))\n");
    /* A mask must be a bool vector of the value's lanes. */
    assert_null(te_store_masked(A, b, 2, idx, value, false, te_broadcast(A, i32(1), 8)));
    assert_non_null(strstr(ts_arena_error(A)->message, "the mask"));
}

/* B[j] = if_then_else(j < 7, A[j + 1], -1) over a vectorized j < 8 and an A of 8: the
 * condition varies across lanes and guards a load that lane 7 must not make. It stays
 * an if_then_else of vectors (lazy per lane: masked loads in codegen), and the loop
 * interpreter, which fails on a read outside A, gets the serial loop's values. */
static void test_vectorized_guarded_load(void **state)
{
    (void)state;
    TeBuffer *a = arg("A", 1, (int64_t[]){ 8 }, TS_INT32);
    TeBuffer *b = arg("B", 1, (int64_t[]){ 8 }, TS_INT32);
    TsExpr *j = var("j");
    TeStmt *body = store_flat(b, j, ts_if_then_else(A, ts_lt(A, j, i32(7)),
                                                    load_flat(a, ts_add(A, j, i32(1))), i32(-1)));
    TsLoweredFunc *f = func(2, (TeBuffer *[]){ a, b }, loop(j, 8, TE_FOR_VECTORIZED, body));
    TsLoweredFunc *vec = run_pass(sch_pass_vectorize, f, &strict);
    assert_text(vec, "B[ramp(0, 1, 8)] = if_then_else((ramp(0, 1, 8) < broadcast(7, 8)), "
                     "A[ramp(1, 1, 8)], broadcast(-1, 8))\n");
    assert_same_results(f, vec);
}

/* A vectorized axis outside serial ones: C[j * 3 + k] over k < 3 moves the ramp's base
 * by less than its stride, so every element still belongs to one lane. */
static void test_vectorized_outside_serial(void **state)
{
    (void)state;
    TeBuffer *a = arg("A", 1, (int64_t[]){ 12 }, TS_INT32);
    TeBuffer *c = arg("C", 1, (int64_t[]){ 12 }, TS_INT32);
    TsExpr *j = var("j"), *k = var("k");
    TsExpr *index = ts_add(A, ts_mul(A, j, i32(3)), k);
    TeStmt *body = loop(k, 3, TE_FOR_SERIAL,
                        store_flat(c, index, ts_add(A, load_flat(c, index), load_flat(a, index))));
    TsLoweredFunc *f = func(2, (TeBuffer *[]){ a, c }, loop(j, 4, TE_FOR_VECTORIZED, body));
    TsLoweredFunc *vec = run_pass(sch_pass_vectorize, f, &strict);
    assert_text(vec, "for (k, 0, 3) {\n"
                     "  C[ramp(k, 3, 4)] = (C[ramp(k, 3, 4)] + A[ramp(k, 3, 4)])\n"
                     "}\n");
    assert_same_results(f, vec);

    /* An NHWC-like O[n, y, x] with y vectorized outside n and x: the base moves by
     * n * 60 + x, a mixed radix around the lanes' stride 10. */
    TeBuffer *in = arg("In", 3, (int64_t[]){ 2, 6, 10 }, TS_FLOAT32);
    TeBuffer *out = arg("Out", 3, (int64_t[]){ 2, 6, 10 }, TS_FLOAT32);
    TsExpr *y = var("y"), *n = var("n"), *x = var("x");
    TsExpr *at = ts_add(A, ts_add(A, ts_mul(A, n, i32(60)), ts_mul(A, y, i32(10))), x);
    TeStmt *update = store_flat(out, at, ts_mul(A, load_flat(out, at), load_flat(in, at)));
    TsLoweredFunc *g = func(2, (TeBuffer *[]){ in, out },
                            loop(y, 6, TE_FOR_VECTORIZED,
                                 loop(n, 2, TE_FOR_SERIAL, loop(x, 10, TE_FOR_SERIAL, update))));
    TsLoweredFunc *gvec = run_pass(sch_pass_vectorize, g, &strict);
    assert_text(gvec, "for (n, 0, 2) {\n"
                      "  for (x, 0, 10) {\n"
                      "    Out[ramp(((n * 60) + x), 10, 6)] = (Out[ramp(((n * 60) + x), 10, 6)] * "
                      "In[ramp(((n * 60) + x), 10, 6)])\n"
                      "  }\n"
                      "}\n");
    assert_same_results(g, gvec);
}

/* Nested vectorized loops: the inner one is vectorized, the outer one refused (kept
 * serial with fallback). */
static void test_nested_vectorized(void **state)
{
    (void)state;
    TeBuffer *a = arg("A", 2, (int64_t[]){ 2, 4 }, TS_INT32);
    TsExpr *i = var("i"), *j = var("j");
    TsExpr *index = ts_add(A, ts_mul(A, i, i32(4)), j);
    TeStmt *nest = loop(i, 2, TE_FOR_VECTORIZED, loop(j, 4, TE_FOR_VECTORIZED,
                                                      store_flat(a, index, ts_mul(A, i, j))));
    TsLoweredFunc *f = func(1, (TeBuffer *[]){ a }, nest);
    assert_pass_fails(sch_pass_vectorize, f, &strict, TS_ECODEGEN,
                      "cannot vectorize loop i: it already holds the vector expression");
    Capture capture;
    capture_begin(&capture);
    TsLoweredFunc *kept = run_pass(sch_pass_vectorize, f, &fallback);
    capture_end(&capture);
    assert_text(kept, "for (i, 0, 2) {\n"
                      "  A[ramp((i * 4), 1, 4)] = ramp(0, i, 4)\n"
                      "}\n");
    assert_same_results(f, kept);
}

/* ---- unroll ---- */

static void test_unroll_marked(void **state)
{
    (void)state;
    TeBuffer *a = arg("A", 1, (int64_t[]){ 8 }, TS_INT32);
    TeBuffer *b = arg("B", 1, (int64_t[]){ 8 }, TS_INT32);
    TsExpr *i = var("i"), *k = var("k");
    TsExpr *index = ts_add(A, ts_mul(A, i, i32(4)), k);
    TeStmt *inner = te_for(A, k, i32(1), i32(3), TE_FOR_UNROLLED, 0, NULL,
                           store_flat(b, index, ts_mul(A, load_flat(a, index), k)));
    TsLoweredFunc *f = func(2, (TeBuffer *[]){ a, b }, loop(i, 2, TE_FOR_SERIAL, inner));
    TsLoweredFunc *unrolled = run_pass(sch_pass_unroll, f, &strict);
    assert_text(unrolled, "for (i, 0, 2) {\n"
                          "  B[((i * 4) + 1)] = (A[((i * 4) + 1)] * 1)\n"
                          "  B[((i * 4) + 2)] = (A[((i * 4) + 2)] * 2)\n"
                          "  B[((i * 4) + 3)] = (A[((i * 4) + 3)] * 3)\n"
                          "}\n");
    assert_same_results(f, unrolled);
    assert_ptr_equal(run_pass(sch_pass_unroll, unrolled, &strict), unrolled);
}

/* Pragma unroll_max_extent = 2 on i: inside it, serial loops of extent <= 2 unroll (j),
 * longer ones (k) stay, and so does i itself. */
static void test_unroll_pragma(void **state)
{
    (void)state;
    TeBuffer *c = arg("C", 3, (int64_t[]){ 3, 2, 3 }, TS_INT32);
    TsExpr *i = var("i"), *j = var("j"), *k = var("k");
    TsExpr *index = ts_add(A, ts_add(A, ts_mul(A, i, i32(6)), ts_mul(A, j, i32(3))), k);
    TsExpr *value = ts_add(A, ts_mul(A, i, i32(100)), ts_add(A, ts_mul(A, j, i32(10)), k));
    TeStmt *body = store_flat(c, index, value);
    TePragma pragma = { "unroll_max_extent", 2 };
    TeStmt *nest = te_for(A, i, i32(0), i32(3), TE_FOR_SERIAL, 1, &pragma,
                          loop(j, 2, TE_FOR_SERIAL, loop(k, 3, TE_FOR_SERIAL, body)));
    TsLoweredFunc *f = func(1, (TeBuffer *[]){ c }, nest);
    TsLoweredFunc *unrolled = run_pass(sch_pass_unroll, f, &strict);
    assert_text(unrolled,
                "for (i, 0, 3) [unroll_max_extent=2] {\n"
                "  for (k, 0, 3) {\n"
                "    C[(((i * 6) + (0 * 3)) + k)] = ((i * 100) + ((0 * 10) + k))\n"
                "  }\n"
                "  for (k, 0, 3) {\n"
                "    C[(((i * 6) + (1 * 3)) + k)] = ((i * 100) + ((1 * 10) + k))\n"
                "  }\n"
                "}\n");
    assert_same_results(f, unrolled);
    /* Without the pragma nothing unrolls; with the option everywhere, every loop of
     * extent <= 3 does. */
    TeStmt *plain = loop(i, 3, TE_FOR_SERIAL,
                         loop(j, 2, TE_FOR_SERIAL, loop(k, 3, TE_FOR_SERIAL, body)));
    TsLoweredFunc *g = func(1, (TeBuffer *[]){ c }, plain);
    assert_ptr_equal(run_pass(sch_pass_unroll, g, &strict), g);
    SchLowerOptions everywhere = { .auto_unroll_max_extent = 3 };
    TsLoweredFunc *all = run_pass(sch_pass_unroll, g, &everywhere);
    assert_int_equal(all->body->kind, TE_STMT_SEQ);
    assert_int_equal(all->body->u.seq.num_stmts, 18);
    assert_same_results(g, all);
}

static void test_unroll_errors(void **state)
{
    (void)state;
    TeBuffer *a = arg("A", 1, (int64_t[]){ 8 }, TS_INT32);
    TsExpr *n = var("n"), *k = var("k"), *m = var("m");
    TeStmt *dynamic = te_let(A, n, load_flat(a, i32(0)),
                             te_for(A, k, i32(0), n, TE_FOR_UNROLLED, 0, NULL,
                                    store_flat(a, i32(1), k)));
    assert_pass_fails(sch_pass_unroll, func(1, (TeBuffer *[]){ a }, dynamic), &strict,
                      TS_ECODEGEN, "unroll: loop k has extent n, not a constant");
    TeStmt *huge = loop(m, 1000000, TE_FOR_UNROLLED, store_flat(a, i32(1), m));
    assert_pass_fails(sch_pass_unroll, func(1, (TeBuffer *[]){ a }, huge), &strict,
                      TS_ECODEGEN, "unrolling loop m (extent 1000000) would make more than");
}

/* ---- storage rewrite ---- */

/* Two temporaries used one after the other:
 *   allocate T1[4, 4] { T1 = A * 2; B = T1 + 1 }   allocate T2[32] { T2 = A - 3; C = T2 * T2 } */
static TsLoweredFunc *two_temporaries(TsDType second_dtype)
{
    TeBuffer *a = arg("A", 1, (int64_t[]){ 16 }, TS_INT32);
    TeBuffer *b = arg("B", 1, (int64_t[]){ 16 }, TS_INT32);
    TeBuffer *c = arg("C", 1, (int64_t[]){ 16 }, second_dtype);
    TeBuffer *t1 = local("T1", 2, (int64_t[]){ 4, 4 }, TS_INT32);
    TeBuffer *t2 = local("T2", 1, (int64_t[]){ 32 }, second_dtype);
    TsExpr *i = var("i");
    TsExpr *ai = load_flat(a, i), *t2i = load_flat(t2, i);
    TeStmt *first = te_allocate(A, t1, SEQ(
        loop(i, 16, TE_FOR_SERIAL, store_flat(t1, i, ts_mul(A, ai, i32(2)))),
        loop(i, 16, TE_FOR_SERIAL, store_flat(b, i, ts_add(A, load_flat(t1, i), i32(1))))));
    TeStmt *second = te_allocate(A, t2, SEQ(
        loop(i, 16, TE_FOR_SERIAL, store_flat(t2, i, ts_cast(A, second_dtype,
                                                             ts_sub(A, ai, i32(3))))),
        loop(i, 16, TE_FOR_SERIAL, store_flat(c, i, ts_mul(A, t2i, t2i)))));
    TeStmt *between = store_flat(b, i32(0), i32(42));
    return func(3, (TeBuffer *[]){ a, b, c }, SEQ(first, between, second));
}

static void test_storage_rewrite_merges_siblings(void **state)
{
    (void)state;
    TsLoweredFunc *f = two_temporaries(TS_INT32);
    TsLoweredFunc *merged = run_pass(sch_pass_storage_rewrite, f, &strict);
    assert_text(merged, "allocate T1: int32[32] {\n"
                        "  for (i, 0, 16) {\n"
                        "    T1[i] = (A[i] * 2)\n"
                        "  }\n"
                        "  for (i, 0, 16) {\n"
                        "    B[i] = (T1[i] + 1)\n"
                        "  }\n"
                        "  B[0] = 42\n"
                        "  for (i, 0, 16) {\n"
                        "    T1[i] = (A[i] - 3)\n"
                        "  }\n"
                        "  for (i, 0, 16) {\n"
                        "    C[i] = (T1[i] * T1[i])\n"
                        "  }\n"
                        "}\n");
    assert_int_equal(merged->body->u.allocate.buffer->num_elements, 32);
    assert_same_results(f, merged);
}

/* Not merged: different dtypes, a multi-dimensional access, nested lifetimes. */
static void test_storage_rewrite_leaves_alone(void **state)
{
    (void)state;
    TsLoweredFunc *f = two_temporaries(TS_FLOAT32);
    assert_ptr_equal(run_pass(sch_pass_storage_rewrite, f, &strict), f);

    TeBuffer *out = arg("Out", 1, (int64_t[]){ 4 }, TS_INT32);
    TeBuffer *p = local("P", 2, (int64_t[]){ 2, 2 }, TS_INT32);
    TeBuffer *q = local("Q", 1, (int64_t[]){ 4 }, TS_INT32);
    TeStmt *use_p = te_allocate(A, p, SEQ(store(p, IX(i32(1), i32(1)), i32(5)),
                                          store_flat(out, i32(3), load(p, IX(i32(1), i32(1))))));
    TeStmt *use_q = te_allocate(A, q, SEQ(store_flat(q, i32(0), i32(6)),
                                          store_flat(out, i32(0), load_flat(q, i32(0)))));
    TsLoweredFunc *g = func(1, (TeBuffer *[]){ out }, SEQ(use_p, use_q));
    assert_ptr_equal(run_pass(sch_pass_storage_rewrite, g, &strict), g);

    /* Q inside P's body: both live at once. */
    TeBuffer *r = local("R", 1, (int64_t[]){ 4 }, TS_INT32);
    TeStmt *nested = te_allocate(A, r, SEQ(store_flat(r, i32(1), i32(7)), use_q,
                                           store_flat(out, i32(1), load_flat(r, i32(1)))));
    TsLoweredFunc *h = func(1, (TeBuffer *[]){ out }, nested);
    assert_ptr_equal(run_pass(sch_pass_storage_rewrite, h, &strict), h);
}

/* The same temporary allocated in each unrolled copy: the copies share one allocation. */
static void test_storage_rewrite_after_unroll(void **state)
{
    (void)state;
    TeBuffer *a = arg("A", 1, (int64_t[]){ 8 }, TS_FLOAT32);
    TeBuffer *b = arg("B", 1, (int64_t[]){ 8 }, TS_FLOAT32);
    TeBuffer *t = local("T", 1, (int64_t[]){ 4 }, TS_FLOAT32);
    TsExpr *u = var("u"), *x = var("x"), *x2 = var("x");
    TsExpr *index = ts_add(A, ts_mul(A, u, i32(4)), x);
    TsExpr *index2 = ts_add(A, ts_mul(A, u, i32(4)), x2);
    TeStmt *body = te_allocate(A, t, SEQ(
        loop(x, 4, TE_FOR_SERIAL, store_flat(t, x, ts_mul(A, load_flat(a, index), f32(3)))),
        loop(x2, 4, TE_FOR_SERIAL, store_flat(b, index2, ts_sub(A, load_flat(t, x2), f32(1))))));
    TsLoweredFunc *f = func(2, (TeBuffer *[]){ a, b }, loop(u, 2, TE_FOR_UNROLLED, body));
    TsLoweredFunc *unrolled = run_pass(sch_pass_unroll, f, &strict);
    assert_int_equal(unrolled->body->kind, TE_STMT_SEQ);
    assert_int_equal(unrolled->body->u.seq.num_stmts, 2);
    TsLoweredFunc *merged = run_pass(sch_pass_storage_rewrite, unrolled, &strict);
    assert_int_equal(merged->body->kind, TE_STMT_ALLOCATE);
    assert_int_equal(merged->body->u.allocate.body->kind, TE_STMT_SEQ);
    assert_int_equal(merged->body->u.allocate.body->u.seq.num_stmts, 4);
    assert_same_results(f, merged);
}

/* ---- the passes in pipeline order on the matmul ---- */

static void test_pipeline_order(void **state)
{
    (void)state;
    TsLoweredFunc *f = matmul();
    SchPass passes[] = { sch_pass_storage_flatten, sch_pass_vectorize, sch_pass_unroll,
                         sch_pass_storage_rewrite };
    /* k (extent 3) unrolls automatically, i (extent 4) does not. */
    SchLowerOptions options = { .auto_unroll_max_extent = 3 };
    TsLoweredFunc *g = f;
    for (size_t p = 0; p < sizeof passes / sizeof passes[0]; p++) {
        g = run_pass(passes[p], g, &options);
        assert_same_results(f, g);
    }
    /* Unroll substitutes and leaves the folding of (0 * 8) to the final simplify. */
    assert_text(g, "for (i, 0, 4) {\n"
                   "  C[ramp((i * 8), 1, 8)] = broadcast(0.0f, 8)\n"
                   "  C[ramp((i * 8), 1, 8)] = (C[ramp((i * 8), 1, 8)] + (broadcast(A[((i * 3) + "
                   "0)], 8) * B[ramp((0 * 8), 1, 8)]))\n"
                   "  C[ramp((i * 8), 1, 8)] = (C[ramp((i * 8), 1, 8)] + (broadcast(A[((i * 3) + "
                   "1)], 8) * B[ramp((1 * 8), 1, 8)]))\n"
                   "  C[ramp((i * 8), 1, 8)] = (C[ramp((i * 8), 1, 8)] + (broadcast(A[((i * 3) + "
                   "2)], 8) * B[ramp((2 * 8), 1, 8)]))\n"
                   "}\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_matmul_flatten_then_vectorize, setup, teardown),
        cmocka_unit_test_setup_teardown(test_matmul_vectorize_then_flatten, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flatten_padded_strides, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flatten_gather, setup, teardown),
        cmocka_unit_test_setup_teardown(test_elementwise, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gather_stride_two, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vector_let_and_select, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invariant_if_and_let, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vectorize_extents, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reduction_across_lanes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vectorize_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vectorized_guarded_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vectorized_guarded_store_else, setup, teardown),
        cmocka_unit_test_setup_teardown(test_masked_store_simplify, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vectorized_guarded_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flatten_fused_index, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vectorized_outside_serial, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nested_vectorized, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unroll_marked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unroll_pragma, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unroll_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_storage_rewrite_merges_siblings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_storage_rewrite_leaves_alone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_storage_rewrite_after_unroll, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pipeline_order, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
