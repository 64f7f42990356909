/* End-to-end JIT tests: operators of the library and hand-written expressions under
 * hand-written schedules (scalar, vectorized, unrolled, parallel, compute_at,
 * cache_write), lowered with ts_lower, JIT-compiled for the host, called through the
 * packed ABI and compared with the reference interpreter (cg_testing.h states the
 * tolerance). A vectorized conv2d with its padding inlined reads through masked loads
 * from a buffer next to an inaccessible page; a fused tail guard and a pooling's padding
 * condition become masked stores, checked the same way. Hand-built loop nests cover what the
 * lowering passes do not produce today but codegen must handle: an if_then_else whose
 * vector condition guards a division (masked lanes must read and fail nothing),
 * gathers and scatters. Run-time
 * failures (division by zero, a shift out of range) must return -1 with a message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "cg_testing.h"
#include "te/te_internal.h"

static TsAxis *root(TsSchedule *sch, TsTensor *t, int i)
{
    TsAxis *axis = ts_stage_root_axis(ts_stage(sch, t), i);
    assert_non_null(axis);
    return axis;
}

/* ---- matmul ---- */

static TsTensor *matmul(TsArena *A, int64_t m, int64_t n, int64_t k, TsDType in, TsDType out)
{
    TsTensor *a = ts_placeholder(A, "A", 2, (int64_t[]){ m, k }, in);
    TsTensor *b = ts_placeholder(A, "B", 2, (int64_t[]){ k, n }, in);
    TsTensor *c = ts_op_matmul(A, a, b, false, false, out);
    assert_non_null(c);
    return c;
}

static void test_matmul_default(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    TsTensor *c = matmul(A, 24, 20, 16, TS_FLOAT32, ts_dtype(TS_TYPE_FLOAT, 0, 1));
    TsSchedule *sch = ts_schedule_create(A, 1, &c);
    cgt_check_schedule(sch, "matmul", 1, &c, 1, NULL);
    ts_arena_destroy(A);
}

/* Tiles of 16 x 16, k split by 4 and unrolled, j vectorized (16 float32 lanes: one zmm
 * register on AVX-512), i.outer parallel. */
static void schedule_blocked(TsSchedule *sch, TsTensor *c, int64_t tile)
{
    TsError err;
    TsStage *s = ts_stage(sch, c);
    TsAxis *i = root(sch, c, 0), *j = root(sch, c, 1), *k = root(sch, c, 2);
    TsAxis *io, *jo, *ii, *ji, *ko, *ki;
    cgt_ok(ts_tile(s, i, j, tile, tile, &io, &jo, &ii, &ji, &err), &err);
    cgt_ok(ts_split(s, k, 4, &ko, &ki, &err), &err);
    cgt_ok(ts_reorder(s, 6, (TsAxis *[]){ io, jo, ko, ii, ki, ji }, &err), &err);
    cgt_ok(ts_vectorize(s, ji, &err), &err);
    cgt_ok(ts_unroll(s, ki, &err), &err);
    cgt_ok(ts_parallel(s, io, &err), &err);
}

static void test_matmul_blocked(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    TsTensor *c = matmul(A, 64, 48, 32, TS_FLOAT32, ts_dtype(TS_TYPE_FLOAT, 0, 1));
    TsSchedule *sch = ts_schedule_create(A, 1, &c);
    schedule_blocked(sch, c, 16);
    cgt_check_schedule(sch, "matmul_blocked", 1, &c, 2, NULL);
    ts_arena_destroy(A);
}

/* Extents that the factors do not divide: tails guarded or peeled by the passes. */
static void test_matmul_blocked_tails(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    TsTensor *c = matmul(A, 50, 37, 29, TS_FLOAT32, ts_dtype(TS_TYPE_FLOAT, 0, 1));
    TsSchedule *sch = ts_schedule_create(A, 1, &c);
    schedule_blocked(sch, c, 16);
    cgt_check_schedule(sch, "matmul_tails", 1, &c, 3, NULL);
    ts_arena_destroy(A);
}

/* cache_write: the tile accumulates in a local buffer computed at the tile's loop, one
 * per task of the parallel outer loop; the copy out is vectorized. */
static void test_matmul_cache_write(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    TsTensor *c = matmul(A, 64, 64, 40, TS_FLOAT64, ts_dtype(TS_TYPE_FLOAT, 0, 1));
    TsSchedule *sch = ts_schedule_create(A, 1, &c);
    TsError err;
    TsTensor *cc;
    cgt_ok(ts_cache_write(sch, c, &cc, &err), &err);
    TsStage *s = ts_stage(sch, c), *sc = ts_stage(sch, cc);
    TsAxis *mo, *no, *mi, *ni, *ko, *ki;
    cgt_ok(ts_tile(s, root(sch, c, 0), root(sch, c, 1), 16, 16, &mo, &no, &mi, &ni, &err), &err);
    cgt_ok(ts_compute_at(sc, s, no, &err), &err);
    TsAxis *mc = root(sch, cc, 0), *nc = root(sch, cc, 1), *kc = root(sch, cc, 2);
    cgt_ok(ts_split(sc, kc, 4, &ko, &ki, &err), &err);
    cgt_ok(ts_reorder(sc, 4, (TsAxis *[]){ ko, mc, ki, nc }, &err), &err);
    cgt_ok(ts_vectorize(sc, nc, &err), &err);
    cgt_ok(ts_unroll(sc, ki, &err), &err);
    cgt_ok(ts_vectorize(s, ni, &err), &err);
    cgt_ok(ts_parallel(s, mo, &err), &err);
    cgt_check_schedule(sch, "matmul_cache_write", 1, &c, 4, NULL);
    ts_arena_destroy(A);
}

/* int8 x int8 accumulated in int32, 16 lanes of j: exact. */
static void test_matmul_int8_to_int32(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    TsTensor *c = matmul(A, 32, 32, 64, TS_INT8, TS_INT32);
    TsSchedule *sch = ts_schedule_create(A, 1, &c);
    schedule_blocked(sch, c, 16);
    cgt_check_schedule(sch, "matmul_i8", 1, &c, 5, NULL);
    ts_arena_destroy(A);
}

/* ---- conv2d, pooling, softmax ---- */

static TsTensor *padded_conv(TsArena *A)
{
    TsTensor *data = ts_placeholder(A, "data", 4, (int64_t[]){ 1, 4, 10, 12 }, TS_FLOAT32);
    TsTensor *weight = ts_placeholder(A, "weight", 4, (int64_t[]){ 8, 4, 3, 3 }, TS_FLOAT32);
    TsConv2dAttrs attrs = ts_conv2d_attrs_default();
    for (int i = 0; i < 4; i++)
        attrs.padding[i] = 1;
    TsTensor *conv = ts_op_conv2d(A, data, weight, &attrs);
    assert_non_null(conv);
    return conv;
}

static void test_conv2d_padded_default(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    TsTensor *conv = padded_conv(A);
    TsSchedule *sch = ts_schedule_create(A, 1, &conv);
    cgt_check_schedule(sch, "conv2d", 1, &conv, 6, NULL);
    ts_arena_destroy(A);
}

/* The pad stage computed per output row (compute_at), x split by 8 (12 = 8 + a tail of
 * 4) and vectorized, output channels parallel. */
static void test_conv2d_padded_tiled(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    TsTensor *conv = padded_conv(A);
    TsTensor *pad = ts_tensor_input(conv, 0);
    TsSchedule *sch = ts_schedule_create(A, 1, &conv);
    TsStage *s = ts_stage(sch, conv);
    TsAxis *ax[7];
    for (int i = 0; i < 7; i++)
        ax[i] = root(sch, conv, i);
    TsAxis *fo, *fi, *xo, *xi;
    TsError err;
    cgt_ok(ts_split(s, ax[1], 4, &fo, &fi, &err), &err);
    cgt_ok(ts_split(s, ax[3], 8, &xo, &xi, &err), &err);
    cgt_ok(ts_reorder(s, 9, (TsAxis *[]){ ax[0], fo, ax[2], xo, ax[4], ax[5], ax[6], fi, xi },
                      &err), &err);
    cgt_ok(ts_vectorize(s, xi, &err), &err);
    cgt_ok(ts_parallel(s, fo, &err), &err);
    cgt_ok(ts_compute_at(ts_stage(sch, pad), s, ax[2], &err), &err);
    cgt_check_schedule(sch, "conv2d_tiled", 1, &conv, 7, NULL);
    ts_arena_destroy(A);
}

static void test_pool2d(void **state)
{
    (void)state;
    for (int kind = 0; kind < 2; kind++) {
        TsArena *A = ts_arena_create();
        TsTensor *data = ts_placeholder(A, "data", 4, (int64_t[]){ 2, 3, 9, 11 }, TS_FLOAT32);
        TsPool2dAttrs attrs = ts_pool2d_attrs_default(kind ? TS_POOL_AVG : TS_POOL_MAX, 3, 3);
        attrs.stride[0] = attrs.stride[1] = 2;
        for (int i = 0; i < 4; i++)
            attrs.padding[i] = 1;
        attrs.count_include_pad = false;
        TsTensor *pool = ts_op_pool2d(A, data, &attrs);
        assert_non_null(pool);
        TsSchedule *sch = ts_schedule_create(A, 1, &pool);
        cgt_check_schedule(sch, kind ? "avg_pool" : "max_pool", 1, &pool, 8, NULL);
        /* the same, with the channels parallel and the output columns unrolled */
        TsError err;
        TsStage *s = ts_stage(sch, pool);
        cgt_ok(ts_parallel(s, root(sch, pool, 1), &err), &err);
        cgt_ok(ts_unroll(s, root(sch, pool, 3), &err), &err);
        cgt_check_schedule(sch, kind ? "avg_pool_par" : "max_pool_par", 1, &pool, 9, NULL);
        ts_arena_destroy(A);
    }
}

/* Softmax over rows: four stages with local buffers (64 KiB for the exponentials, so on
 * the heap), the row loops parallel, the elementwise stages vectorized. */
static void test_softmax(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    TsTensor *data = ts_placeholder(A, "data", 2, (int64_t[]){ 16, 1024 }, TS_FLOAT32);
    TsTensor *out = ts_op_softmax(A, data, 1);
    assert_non_null(out);
    TsSchedule *sch = ts_schedule_create(A, 1, &out);
    cgt_check_schedule(sch, "softmax", 1, &out, 10, NULL);
    TsError err;
    TsTensor *stages[8];
    int n = 0;
    for (TsTensor *t = out; t && ts_tensor_num_inputs(t) > 0 && n < 8;) {
        stages[n++] = t;
        TsTensor *next = NULL;
        for (int i = 0; i < ts_tensor_num_inputs(t); i++)
            if (!ts_tensor_is_placeholder(ts_tensor_input(t, i)))
                next = ts_tensor_input(t, i);
        t = next;
    }
    for (int i = 0; i < n; i++) {
        TsStage *s = ts_stage(sch, stages[i]);
        TsAxis *row = root(sch, stages[i], 0);
        cgt_ok(ts_parallel(s, row, &err), &err);
        if (ts_tensor_dim(stages[i], 1) == 1024 && ts_stage_num_root_axes(s) == 2) {
            TsAxis *o, *in;
            cgt_ok(ts_split(s, root(sch, stages[i], 1), 16, &o, &in, &err), &err);
            cgt_ok(ts_vectorize(s, in, &err), &err);
        }
    }
    cgt_check_schedule(sch, "softmax_parallel", 1, &out, 11, NULL);
    ts_arena_destroy(A);
}

/* ---- elementwise expressions ---- */

/* out = body(inputs) over a 1-D axis of n, scalar and with the axis split by lanes and
 * vectorized. The builder gets the axis variable and the placeholders. */
typedef TsExpr *(*BodyBuilder)(TsArena *A, TsExpr *i, TsTensor *const *in);

static void check_elementwise(const char *name, int num_inputs, const TsDType *dtypes,
                              int64_t n, int lanes, BodyBuilder body, CgtFill fill)
{
    for (int vectorized = 0; vectorized < 2; vectorized++) {
        TsArena *A = ts_arena_create();
        TsTensor *in[4];
        static const char *const names[] = { "A", "B", "C", "D" };
        for (int k = 0; k < num_inputs; k++)
            in[k] = ts_placeholder(A, names[k], 1, &n, dtypes[k]);
        TsAxis *i = ts_axis(A, "i", n);
        TsTensor *out = ts_compute(A, "out", 1, &i, body(A, ts_var(i), in));
        assert_non_null(out);
        TsSchedule *sch = ts_schedule_create(A, 1, &out);
        if (vectorized) {
            TsError err;
            TsAxis *o, *v;
            cgt_ok(ts_split(ts_stage(sch, out), i, lanes, &o, &v, &err), &err);
            cgt_ok(ts_vectorize(ts_stage(sch, out), v, &err), &err);
        }
        char kernel[64];
        snprintf(kernel, sizeof kernel, "%s%s", name, vectorized ? "_vec" : "");
        cgt_check_schedule(sch, kernel, 1, &out, 12, fill);
        ts_arena_destroy(A);
    }
}

/* float16 storage: loaded, widened, computed in float32, narrowed, stored. */
static TsExpr *half_body(TsArena *A, TsExpr *i, TsTensor *const *in)
{
    TsExpr *x = ts_cast(A, TS_FLOAT32, ts_at(A, in[0], i));
    TsExpr *y = ts_add(A, ts_mul(A, x, ts_f32(A, 2.5)), ts_cast(A, TS_FLOAT32, ts_at(A, in[1], i)));
    return ts_cast(A, TS_FLOAT16, y);
}

static void test_float16(void **state)
{
    (void)state;
    check_elementwise("half", 2, (TsDType[]){ TS_FLOAT16, TS_INT32 }, 100, 16, half_body, NULL);
}

/* Casts: float to int saturating (values beyond int8's range), int to float, to bool. */
static TsExpr *cast_body(TsArena *A, TsExpr *i, TsTensor *const *in)
{
    TsExpr *big = ts_mul(A, ts_at(A, in[0], i), ts_f32(A, 300.0));
    TsExpr *sat = ts_cast(A, TS_INT32, ts_cast(A, TS_INT8, big));
    TsExpr *u = ts_cast(A, TS_INT32, ts_cast(A, TS_UINT8, big));
    TsExpr *b = ts_cast(A, TS_INT32, ts_cast(A, TS_BOOL, ts_at(A, in[1], i)));
    TsExpr *f = ts_cast(A, TS_INT32, ts_cast(A, TS_FLOAT32, ts_at(A, in[1], i)));
    return ts_add(A, ts_add(A, ts_mul(A, sat, ts_i32(A, 1000)), u), ts_add(A, b, f));
}

static void test_casts(void **state)
{
    (void)state;
    check_elementwise("casts", 2, (TsDType[]){ TS_FLOAT32, TS_INT32 }, 77, 8, cast_body, NULL);
}

/* Shift amounts in range: B & 31 (int32) for the shifts. */
static TsExpr *bits_body(TsArena *A, TsExpr *i, TsTensor *const *in)
{
    TsExpr *a = ts_at(A, in[0], i), *amount = ts_bitand(A, ts_at(A, in[1], i), ts_i32(A, 31));
    TsExpr *u = ts_cast(A, TS_UINT32, a);
    TsExpr *shifted = ts_bitxor(A, ts_shl(A, a, amount), ts_shr(A, a, amount));
    TsExpr *ushift = ts_cast(A, TS_INT32, ts_shr(A, u, ts_cast(A, TS_UINT32, amount)));
    TsExpr *pop = ts_popcount(A, ts_bitnot(A, a));
    TsExpr *minmax = ts_max(A, ts_min(A, a, ts_at(A, in[1], i)), ts_i32(A, -500));
    return ts_add(A, ts_add(A, shifted, ushift), ts_add(A, ts_mul(A, pop, ts_i32(A, 7)), minmax));
}

static void test_bits(void **state)
{
    (void)state;
    check_elementwise("bits", 2, (TsDType[]){ TS_INT32, TS_INT32 }, 100, 16, bits_body, NULL);
}

/* Popcount and shifts on int8, where wrap-around shows. */
static TsExpr *bits8_body(TsArena *A, TsExpr *i, TsTensor *const *in)
{
    TsExpr *a = ts_at(A, in[0], i);
    TsExpr *amount = ts_bitand(A, ts_at(A, in[1], i), ts_int(A, TS_INT8, 7));
    TsExpr *x = ts_add(A, ts_shl(A, a, amount), ts_shr(A, a, ts_int(A, TS_INT8, 3)));
    return ts_add(A, x, ts_popcount(A, a));
}

static void test_bits_int8(void **state)
{
    (void)state;
    check_elementwise("bits8", 2, (TsDType[]){ TS_INT8, TS_INT8 }, 64, 32, bits8_body, NULL);
}

/* Divisors: never zero, -1 and INT32_MIN numerators included. */
static void fill_division(CgtRng *rng, const TsTensor *t, void *data)
{
    int32_t *x = data;
    int64_t n = ts_tensor_num_elements(t);
    bool divisor = strcmp(ts_tensor_name(t), "B") == 0;
    for (int64_t k = 0; k < n; k++) {
        if (divisor) {
            int64_t v = cgt_rng_int(rng, -9, 9);
            x[k] = (int32_t)(v == 0 ? -1 : v);
        } else {
            x[k] = k % 13 == 0 ? INT32_MIN : (int32_t)cgt_rng_int(rng, -100000, 100000);
        }
    }
}

static TsExpr *division_body(TsArena *A, TsExpr *i, TsTensor *const *in)
{
    TsExpr *a = ts_at(A, in[0], i), *b = ts_at(A, in[1], i);
    TsExpr *by_tensor = ts_add(A, ts_add(A, ts_div(A, a, b), ts_mod(A, a, b)),
                               ts_add(A, ts_floordiv(A, a, b), ts_floormod(A, a, b)));
    TsExpr *by_constants = ts_add(A, ts_add(A, ts_floordiv(A, a, ts_i32(A, 7)),
                                            ts_floormod(A, a, ts_i32(A, -3))),
                                  ts_add(A, ts_floordiv(A, a, ts_i32(A, 8)),
                                         ts_floormod(A, a, ts_i32(A, 16))));
    TsExpr *minus_one = ts_add(A, ts_div(A, a, ts_i32(A, -1)), ts_mod(A, a, ts_i32(A, 5)));
    return ts_bitxor(A, by_tensor, ts_add(A, by_constants, minus_one));
}

static void test_division(void **state)
{
    (void)state;
    check_elementwise("division", 2, (TsDType[]){ TS_INT32, TS_INT32 }, 200, 16,
                      division_body, fill_division);
}

static TsExpr *udivision_body(TsArena *A, TsExpr *i, TsTensor *const *in)
{
    TsExpr *a = ts_cast(A, TS_UINT32, ts_at(A, in[0], i));
    TsExpr *b = ts_cast(A, TS_UINT32, ts_at(A, in[1], i));
    TsExpr *q = ts_add(A, ts_floordiv(A, a, b), ts_mod(A, a, b));
    return ts_cast(A, TS_INT32, ts_add(A, q, ts_div(A, a, ts_uint(A, TS_UINT32, 10))));
}

static void test_unsigned_division(void **state)
{
    (void)state;
    check_elementwise("udivision", 2, (TsDType[]){ TS_INT32, TS_INT32 }, 64, 8,
                      udivision_body, fill_division);
}

/* Math calls, min/max (NaN rules), select, comparisons on float32 and float64. */
static TsExpr *math_body(TsArena *A, TsExpr *i, TsTensor *const *in)
{
    TsExpr *x = ts_at(A, in[0], i), *y = ts_at(A, in[1], i);
    TsExpr *e = ts_add(A, ts_exp(A, x), ts_log(A, ts_add(A, ts_fabs(A, y), ts_f32(A, 0.5))));
    TsExpr *s = ts_add(A, ts_sqrt(A, ts_fabs(A, x)), ts_tanh(A, y));
    TsExpr *t = ts_add(A, ts_sigmoid(A, x), ts_pow(A, ts_fabs(A, y), ts_f32(A, 1.5)));
    TsExpr *r = ts_add(A, ts_floor(A, ts_mul(A, x, ts_f32(A, 4))), ts_ceil(A, y));
    TsExpr *m = ts_select(A, ts_lt(A, x, y), ts_max(A, x, y), ts_min(A, x, y));
    return ts_add(A, ts_add(A, e, s), ts_add(A, ts_add(A, t, r), ts_div(A, m, ts_f32(A, 3))));
}

static void test_math(void **state)
{
    (void)state;
    check_elementwise("math", 2, (TsDType[]){ TS_FLOAT32, TS_FLOAT32 }, 100, 16, math_body,
                      NULL);
}

/* ---- run-time failures ---- */

/* A kernel of body over n elements, JIT-compiled; args filled by fill. */
static int32_t run_elementwise(TsArena *A, BodyBuilder body, const TsDType *dtypes, int64_t n,
                               int lanes, CgtFill fill, const char *name)
{
    TsTensor *in[2];
    in[0] = ts_placeholder(A, "A", 1, &n, dtypes[0]);
    in[1] = ts_placeholder(A, "B", 1, &n, dtypes[1]);
    TsAxis *i = ts_axis(A, "i", n);
    TsTensor *out = ts_compute(A, "out", 1, &i, body(A, ts_var(i), in));
    assert_non_null(out);
    TsSchedule *sch = ts_schedule_create(A, 1, &out);
    TsError err;
    if (lanes > 1) {
        TsAxis *o, *v;
        cgt_ok(ts_split(ts_stage(sch, out), i, lanes, &o, &v, &err), &err);
        cgt_ok(ts_vectorize(ts_stage(sch, out), v, &err), &err);
    }
    TsLoweredFunc *func;
    cgt_ok(ts_lower(sch, name, &func, &err), &err);
    TsPackedFunc fn;
    TsJitModule *module = cgt_jit(func, &fn);
    CgtArgs args;
    cgt_args_init(&args, func, 99, fill);
    int32_t rc = cgt_call(fn, &args);
    cgt_args_free(&args);
    ts_jit_release(module);
    return rc;
}

static void fill_some_zero(CgtRng *rng, const TsTensor *t, void *data)
{
    cgt_fill_default(rng, t, data);
    if (strcmp(ts_tensor_name(t), "B") == 0)
        ((int32_t *)data)[21] = 0;
}

static TsExpr *div_body(TsArena *A, TsExpr *i, TsTensor *const *in)
{
    return ts_floordiv(A, ts_at(A, in[0], i), ts_at(A, in[1], i));
}

static TsExpr *shift_body(TsArena *A, TsExpr *i, TsTensor *const *in)
{
    return ts_shl(A, ts_at(A, in[0], i), ts_at(A, in[1], i));
}

static void test_division_by_zero_fails(void **state)
{
    (void)state;
    for (int lanes = 1; lanes <= 16; lanes += 15) {
        TsArena *A = ts_arena_create();
        int32_t rc = run_elementwise(A, div_body, (TsDType[]){ TS_INT32, TS_INT32 }, 48, lanes,
                                     fill_some_zero, "divide");
        assert_int_equal(rc, -1);
        const char *message = ts_runtime_last_error();
        if (!strstr(message, "divide: integer division by zero in floordiv(A["))
            fprintf(stderr, "message: %s\n", message);
        assert_non_null(strstr(message, "divide: integer division by zero in floordiv(A["));
        ts_arena_destroy(A);
    }
}

static void test_shift_out_of_range_fails(void **state)
{
    (void)state;
    for (int lanes = 1; lanes <= 16; lanes += 15) {
        TsArena *A = ts_arena_create();
        int32_t rc = run_elementwise(A, shift_body, (TsDType[]){ TS_INT32, TS_INT32 }, 32, lanes,
                                     NULL, "shift"); /* amounts in [-1000, 1000] */
        assert_int_equal(rc, -1);
        assert_non_null(strstr(ts_runtime_last_error(), "shift: shift amount outside [0, 32)"));
        ts_arena_destroy(A);
    }
}

/* ---- hand-built loop nests ---- */

/* A page-aligned buffer whose last byte is the last byte before an inaccessible page, so
 * that reading one element past it faults. */
typedef struct Guarded {
    unsigned char *pages;
    size_t guard_offset, page;
    void *data;
} Guarded;

static Guarded guarded_alloc(size_t bytes)
{
    Guarded g;
    g.page = (size_t)sysconf(_SC_PAGESIZE);
    size_t pages = (bytes + g.page - 1) / g.page;
    g.pages = aligned_alloc(g.page, (pages + 1) * g.page);
    assert_non_null(g.pages);
    g.guard_offset = pages * g.page;
    assert_int_equal(mprotect(g.pages + g.guard_offset, g.page, PROT_NONE), 0);
    g.data = g.pages + g.guard_offset - bytes;
    return g;
}

/* The mirror image: the buffer's first byte is the first byte after an inaccessible
 * page, so that reading one element before it faults. */
static Guarded guarded_alloc_after(size_t bytes)
{
    Guarded g;
    g.page = (size_t)sysconf(_SC_PAGESIZE);
    size_t pages = (bytes + g.page - 1) / g.page;
    g.pages = aligned_alloc(g.page, (pages + 1) * g.page);
    assert_non_null(g.pages);
    g.guard_offset = 0;
    assert_int_equal(mprotect(g.pages, g.page, PROT_NONE), 0);
    g.data = g.pages + g.page;
    return g;
}

static void guarded_free(Guarded *g)
{
    assert_int_equal(mprotect(g->pages + g->guard_offset, g->page, PROT_READ | PROT_WRITE), 0);
    free(g->pages);
}

/* out[i] for i in [0, 32), vectorized by 16 lanes:
 *   out[v] = if_then_else(v < 10, A[v] + 100 / A[v], -7)
 * A holds 10 non-zero elements and ends right before a guard page: lanes >= 10 must read
 * nothing (a masked load) and divide by nothing (the zero check looks at active lanes
 * only). A zero in an active lane then makes the kernel fail. */
static void test_masked_if_then_else(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    TsTensor *a = ts_placeholder(A, "A", 1, (int64_t[]){ 10 }, TS_INT32);
    TsTensor *o = ts_placeholder(A, "out", 1, (int64_t[]){ 32 }, TS_INT32);
    TeBuffer *ab = te_buffer(A, "A", a, 1, NULL, TE_SCOPE_GLOBAL);
    TeBuffer *ob = te_buffer(A, "out", o, 1, NULL, TE_SCOPE_GLOBAL);
    TsExpr *outer = ts_variable(A, "i.outer", TS_INT32);
    TsExpr *base = ts_mul(A, outer, ts_i32(A, 16));
    TsExpr *v = te_ramp(A, base, ts_i32(A, 1), 16);
    TsExpr *guard = ts_lt(A, v, te_broadcast(A, ts_i32(A, 10), 16));
    TsExpr *x = te_load(A, ab, 1, &v, true);
    TsExpr *value = ts_add(A, x, ts_div(A, te_broadcast(A, ts_i32(A, 100), 16), x));
    TsExpr *body = ts_if_then_else(A, guard, value, te_broadcast(A, ts_i32(A, -7), 16));
    TeStmt *store = te_store(A, ob, 1, &v, body, true);
    TeStmt *loop = te_for(A, outer, ts_i32(A, 0), ts_i32(A, 2), TE_FOR_SERIAL, 0, NULL, store);
    assert_non_null(loop);
    TsLoweredFunc func = { .name = "masked", .num_args = 2,
                           .args = (const TeBuffer *[]){ ab, ob }, .body = loop };
    TsPackedFunc fn;
    TsJitModule *module = cgt_jit(&func, &fn);
    Guarded ga = guarded_alloc(10 * sizeof(int32_t));
    int32_t *in = ga.data, out[32], want[32];
    for (int k = 0; k < 10; k++)
        in[k] = k == 3 ? 7 : k - 20;
    TsBinding bindings[] = { { a, in }, { o, want } };
    TsError err;
    cgt_ok(ts_lowered_run(&func, 2, bindings, &err), &err);
    int64_t sa = 10, so = 32;
    TsDLTensor da = { in, { TS_DEVICE_CPU, 0 }, 1, TS_INT32, &sa, NULL, 0 };
    TsDLTensor dout = { out, { TS_DEVICE_CPU, 0 }, 1, TS_INT32, &so, NULL, 0 };
    TsValue values[] = { { .v_handle = &da }, { .v_handle = &dout } };
    int32_t codes[] = { TS_ARG_TENSOR, TS_ARG_TENSOR };
    assert_int_equal(fn(values, codes, 2), 0);
    assert_memory_equal(out, want, sizeof out);
    assert_int_equal(out[3], 7 + 100 / 7);
    assert_int_equal(out[20], -7);
    /* a zero in an active lane fails */
    in[5] = 0;
    assert_int_equal(fn(values, codes, 2), -1);
    assert_non_null(strstr(ts_runtime_last_error(), "masked: integer division by zero"));
    guarded_free(&ga);
    ts_jit_release(module);
    ts_arena_destroy(A);
}

/* The whole of f's LLVM IR as generated (TS_DUMP=llvm_raw), JIT-compiling it. */
static char *jit_with_raw_ir(const TsLoweredFunc *func, TsPackedFunc *fn, TsJitModule **module)
{
    fflush(stderr);
    FILE *file = tmpfile();
    assert_non_null(file);
    int saved = dup(fileno(stderr));
    assert_true(saved >= 0);
    assert_true(dup2(fileno(file), fileno(stderr)) >= 0);
    setenv("TS_DUMP", "llvm_raw", 1);
    *module = cgt_jit(func, fn);
    unsetenv("TS_DUMP");
    fflush(stderr);
    assert_true(dup2(saved, fileno(stderr)) >= 0);
    close(saved);
    long size = ftell(file);
    assert_true(size > 0);
    char *text = malloc((size_t)size + 1);
    assert_non_null(text);
    rewind(file);
    text[fread(text, 1, (size_t)size, file)] = '\0';
    fclose(file);
    return text;
}

/* A padded NCHW conv2d with its pad stage inlined and the output columns vectorized (13
 * = 8 + a tail of 5): the padding condition varies across lanes and guards the loads of
 * data, which become masked loads. data sits once right before and once right after an
 * inaccessible page, so a lane that read a padded position (row -1 or 5, column -1 or
 * 13) would fault; the values must equal the reference interpreter's. */
static void test_conv2d_inline_pad_vectorized(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    TsTensor *data = ts_placeholder(A, "data", 4, (int64_t[]){ 1, 2, 5, 13 }, TS_FLOAT32);
    TsTensor *weight = ts_placeholder(A, "weight", 4, (int64_t[]){ 3, 2, 3, 3 }, TS_FLOAT32);
    TsConv2dAttrs attrs = ts_conv2d_attrs_default();
    for (int i = 0; i < 4; i++)
        attrs.padding[i] = 1;
    TsTensor *conv = ts_op_conv2d(A, data, weight, &attrs);
    assert_non_null(conv);
    TsTensor *pad = ts_tensor_input(conv, 0);
    TsSchedule *sch = ts_schedule_create(A, 1, &conv);
    TsStage *s = ts_stage(sch, conv);
    TsAxis *ax[7], *xo, *xi;
    for (int i = 0; i < 7; i++)
        ax[i] = root(sch, conv, i);
    TsError err;
    cgt_ok(ts_compute_inline(ts_stage(sch, pad), &err), &err);
    cgt_ok(ts_split(s, ax[3], 8, &xo, &xi, &err), &err);
    cgt_ok(ts_reorder(s, 8, (TsAxis *[]){ ax[0], ax[1], ax[2], xo, ax[4], ax[5], ax[6], xi },
                      &err), &err);
    cgt_ok(ts_vectorize(s, xi, &err), &err);
    TsLoweredFunc *func = NULL;
    cgt_ok(ts_lower(sch, "conv_inline_pad", &func, &err), &err);
    const char *loops = ts_lowered_str(A, func);
    assert_non_null(strstr(loops, "if_then_else((")); /* a vector condition... */
    assert_non_null(strstr(loops, "data[ramp("));     /* ...over vector loads */
    assert_null(strstr(loops, "vectorized ("));
    TsPackedFunc fn;
    TsJitModule *module;
    char *ir = jit_with_raw_ir(func, &fn, &module);
    assert_non_null(strstr(ir, "@llvm.masked.load"));
    free(ir);
    for (int side = 0; side < 2; side++) {
        CgtArgs args;
        cgt_args_init(&args, func, 20 + (uint64_t)side, NULL);
        int d = args.tensors[0] == data ? 0 : args.tensors[1] == data ? 1 : 2;
        assert_true(d < 2);
        Guarded g = side ? guarded_alloc_after(args.bytes[d]) : guarded_alloc(args.bytes[d]);
        memcpy(g.data, args.data[d], args.bytes[d]);
        void *owned = args.data[d];
        args.data[d] = args.dl[d].data = g.data;
        assert_int_equal(cgt_call(fn, &args), 0);
        char message[512];
        bool same = cgt_compare_with_oracle(&args, 1, &conv, message, sizeof message);
        if (!same)
            fprintf(stderr, "conv_inline_pad: %s\n%s", message, loops);
        assert_true(same);
        args.data[d] = owned;
        guarded_free(&g);
        cgt_args_free(&args);
    }
    ts_jit_release(module);
    ts_arena_destroy(A);
}

/* Runs func's kernel twice with the buffer of tensor t right before, then right after, an
 * inaccessible page, so that an access one element outside t faults; the outputs must
 * equal the reference interpreter's. */
static void check_guarded(const TsLoweredFunc *func, TsPackedFunc fn, const TsTensor *t,
                          TsTensor *out, const char *loops)
{
    for (int side = 0; side < 2; side++) {
        CgtArgs args;
        cgt_args_init(&args, func, 40 + (uint64_t)side, NULL);
        int d = 0;
        while (d < args.num && args.tensors[d] != t)
            d++;
        assert_true(d < args.num);
        Guarded g = side ? guarded_alloc_after(args.bytes[d]) : guarded_alloc(args.bytes[d]);
        memcpy(g.data, args.data[d], args.bytes[d]);
        void *owned = args.data[d];
        args.data[d] = args.dl[d].data = g.data;
        assert_int_equal(cgt_call(fn, &args), 0);
        char message[512];
        bool same = cgt_compare_with_oracle(&args, 1, &out, message, sizeof message);
        if (!same)
            fprintf(stderr, "%s: %s\n%s", func->name, message, loops);
        assert_true(same);
        args.data[d] = owned;
        guarded_free(&g);
        cgt_args_free(&args);
    }
}

/* Lowers sch as name, checks that it holds masked stores and no refused loop, and that
 * its LLVM IR calls each of intrinsics (NULL-terminated); then runs it with guarded
 * (an input, or out itself) next to an inaccessible page and compares out with the
 * reference interpreter (check_guarded). */
static void check_masked_kernel(TsArena *A, TsSchedule *sch, const char *name,
                                const char *const *intrinsics, TsTensor *guarded, TsTensor *out)
{
    TsLoweredFunc *func = NULL;
    TsError err;
    cgt_ok(ts_lower(sch, name, &func, &err), &err);
    const char *loops = ts_lowered_str(A, func);
    if (getenv("TESSERA_TEST_VERBOSE"))
        fprintf(stderr, "%s", loops);
    assert_non_null(strstr(loops, " masked by"));
    assert_null(strstr(loops, "vectorized ("));
    TsPackedFunc fn;
    TsJitModule *module;
    char *ir = jit_with_raw_ir(func, &fn, &module);
    for (int i = 0; intrinsics[i]; i++)
        assert_non_null(strstr(ir, intrinsics[i]));
    free(ir);
    check_guarded(func, fn, guarded, out, loops);
    ts_jit_release(module);
}

/* relu over 3 x 7 with j split by 6 and (i, j.outer) fused: the tail guard
 * floormod(f, 2) * 6 + j.inner < 7 is periodic in the fused f, so loop partition cuts
 * only j.inner < 1 off and the guard stays inside the rest of the vectorized j.inner,
 * which becomes a masked store (llvm.masked.store). The output sits right before (and
 * after) an inaccessible page: the last row's inactive lanes would write from
 * relu[21], one past the end. */
static void test_guarded_store_vectorized(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    TsTensor *x = ts_placeholder(A, "x", 2, (int64_t[]){ 3, 7 }, TS_FLOAT32);
    TsTensor *r = ts_op_relu(A, x);
    assert_non_null(r);
    TsSchedule *sch = ts_schedule_create(A, 1, &r);
    TsStage *s = ts_stage(sch, r);
    TsAxis *jo, *ji, *f;
    TsError err;
    cgt_ok(ts_split(s, root(sch, r, 1), 6, &jo, &ji, &err), &err);
    cgt_ok(ts_fuse(s, root(sch, r, 0), jo, &f, &err), &err);
    cgt_ok(ts_vectorize(s, ji, &err), &err);
    check_masked_kernel(A, sch, "relu_guarded", (const char *[]){ "@llvm.masked.store", NULL },
                        r, r);
    ts_arena_destroy(A);
}

/* A max pool 3 x 3 with padding 1, its output columns vectorized inside the window's
 * loops: the reduction's where= condition (the window inside the unpadded input) varies
 * across lanes and guards both the update's store and its load of data. data sits right
 * before, then right after, an inaccessible page: a lane reading a padded column would
 * fault. */
static void test_pool_padding_vectorized(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    TsTensor *data = ts_placeholder(A, "data", 4, (int64_t[]){ 1, 2, 6, 9 }, TS_FLOAT32);
    TsPool2dAttrs attrs = ts_pool2d_attrs_default(TS_POOL_MAX, 3, 3);
    attrs.stride[0] = attrs.stride[1] = 1;
    for (int i = 0; i < 4; i++)
        attrs.padding[i] = 1;
    TsTensor *pool = ts_op_pool2d(A, data, &attrs);
    assert_non_null(pool);
    TsSchedule *sch = ts_schedule_create(A, 1, &pool);
    TsStage *s = ts_stage(sch, pool);
    TsAxis *ax[6];
    for (int i = 0; i < 6; i++)
        ax[i] = root(sch, pool, i);
    TsError err;
    cgt_ok(ts_reorder(s, 6, (TsAxis *[]){ ax[0], ax[1], ax[2], ax[4], ax[5], ax[3] }, &err), &err);
    cgt_ok(ts_vectorize(s, ax[3], &err), &err);
    check_masked_kernel(A, sch, "pool_pad",
                        (const char *[]){ "@llvm.masked.store", "@llvm.masked.load", NULL }, data,
                        pool);
    ts_arena_destroy(A);
}

/* A hand-built masked scatter: out[ramp(0, 2, 8)] = ramp(1, 1, 8) masked by
 * ramp(0, 1, 8) < 5, with out of 10 elements right before an inaccessible page: lanes
 * 5..7 would write out[10], out[12], out[14]. Elements the active lanes skip keep their
 * values. */
static void test_masked_scatter(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    TsTensor *o = ts_placeholder(A, "out", 1, (int64_t[]){ 10 }, TS_INT32);
    TeBuffer *ob = te_buffer(A, "out", o, 1, NULL, TE_SCOPE_GLOBAL);
    TsExpr *even = te_ramp(A, ts_i32(A, 0), ts_i32(A, 2), 8);
    TsExpr *lanes = te_ramp(A, ts_i32(A, 0), ts_i32(A, 1), 8);
    TsExpr *mask = ts_lt(A, lanes, te_broadcast(A, ts_i32(A, 5), 8));
    TsExpr *value = te_ramp(A, ts_i32(A, 1), ts_i32(A, 1), 8);
    TeStmt *body = te_store_masked(A, ob, 1, &even, value, true, mask);
    assert_non_null(body);
    TsLoweredFunc func = {
        .name = "masked_scatter", .num_args = 1, .args = (const TeBuffer *[]){ ob }, .body = body
    };
    TsPackedFunc fn;
    TsJitModule *module;
    char *ir = jit_with_raw_ir(&func, &fn, &module);
    assert_non_null(strstr(ir, "@llvm.masked.scatter"));
    free(ir);
    Guarded g = guarded_alloc(10 * sizeof(int32_t));
    int32_t *out = g.data, want[10];
    for (int k = 0; k < 10; k++)
        out[k] = want[k] = -1;
    TsBinding bindings[] = { { o, want } };
    TsError err;
    cgt_ok(ts_lowered_run(&func, 1, bindings, &err), &err);
    int64_t so = 10;
    TsDLTensor dout = { out, { TS_DEVICE_CPU, 0 }, 1, TS_INT32, &so, NULL, 0 };
    TsValue values[] = { { .v_handle = &dout } };
    int32_t codes[] = { TS_ARG_TENSOR };
    assert_int_equal(fn(values, codes, 1), 0);
    assert_memory_equal(out, want, sizeof want);
    assert_int_equal(out[8], 5);
    assert_int_equal(out[9], -1);
    guarded_free(&g);
    ts_jit_release(module);
    ts_arena_destroy(A);
}

/* Gathers and scatters: out[ramp(2i, 2)] = A[ramp(3i, 3)] and out[2k+1] = idx-gathered. */
static void test_gather_scatter(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    TsTensor *a = ts_placeholder(A, "A", 1, (int64_t[]){ 48 }, TS_FLOAT32);
    TsTensor *idx = ts_placeholder(A, "idx", 1, (int64_t[]){ 8 }, TS_INT32);
    TsTensor *o = ts_placeholder(A, "out", 1, (int64_t[]){ 16 }, TS_FLOAT32);
    TeBuffer *ab = te_buffer(A, "A", a, 1, NULL, TE_SCOPE_GLOBAL);
    TeBuffer *ib = te_buffer(A, "idx", idx, 1, NULL, TE_SCOPE_GLOBAL);
    TeBuffer *ob = te_buffer(A, "out", o, 1, NULL, TE_SCOPE_GLOBAL);
    TsExpr *even = te_ramp(A, ts_i32(A, 0), ts_i32(A, 2), 8);
    TsExpr *odd = te_ramp(A, ts_i32(A, 1), ts_i32(A, 2), 8);
    TsExpr *strided = te_ramp(A, ts_i32(A, 0), ts_i32(A, 3), 8);
    TsExpr *lanes = te_ramp(A, ts_i32(A, 0), ts_i32(A, 1), 8);
    TsExpr *picked = te_load(A, ib, 1, &lanes, true);
    TsExpr *first = te_broadcast(A, ts_i32(A, 0), 8);
    TeStmt *stmts[] = {
        te_store(A, ob, 1, &even, te_load(A, ab, 1, &strided, true), true),
        te_store(A, ob, 1, &odd, te_load(A, ab, 1, &picked, true), true),
        /* every lane hits element 0: the last lane's value stays */
        te_store(A, ob, 1, &first, te_load(A, ab, 1, &strided, true), true),
    };
    TeStmt *body = te_seq(A, 3, stmts);
    if (!body)
        fprintf(stderr, "%s\n", ts_arena_error(A)->message);
    assert_non_null(body);
    TsLoweredFunc func = { .name = "gather", .num_args = 3,
                           .args = (const TeBuffer *[]){ ab, ib, ob }, .body = body };
    TsPackedFunc fn;
    TsJitModule *module = cgt_jit(&func, &fn);
    float in[48], out[16], want[16];
    int32_t picks[8] = { 47, 0, 5, 5, 12, 30, 1, 2 };
    for (int k = 0; k < 48; k++)
        in[k] = (float)k * 0.5f;
    TsBinding bindings[] = { { a, in }, { idx, picks }, { o, want } };
    TsError err;
    cgt_ok(ts_lowered_run(&func, 3, bindings, &err), &err);
    int64_t s48 = 48, s8 = 8, s16 = 16;
    TsDLTensor d[] = { { in, { 1, 0 }, 1, TS_FLOAT32, &s48, NULL, 0 },
                       { picks, { 1, 0 }, 1, TS_INT32, &s8, NULL, 0 },
                       { out, { 1, 0 }, 1, TS_FLOAT32, &s16, NULL, 0 } };
    TsValue values[] = { { .v_handle = &d[0] }, { .v_handle = &d[1] }, { .v_handle = &d[2] } };
    int32_t codes[] = { TS_ARG_TENSOR, TS_ARG_TENSOR, TS_ARG_TENSOR };
    assert_int_equal(fn(values, codes, 3), 0);
    assert_memory_equal(out, want, sizeof out);
    assert_true(out[0] == 21 * 0.5f && out[3] == 0.0f);
    ts_jit_release(module);
    ts_arena_destroy(A);
}

/* Loop nests codegen cannot compile are refused with TS_ECODEGEN naming what. */
static void expect_codegen_error(TsArena *A, TeStmt *body, const TeBuffer **args, int n,
                                 const char *needle)
{
    assert_non_null(body);
    TsLoweredFunc func = { .name = "bad", .num_args = n, .args = args, .body = body };
    const TsLoweredFunc *funcs[] = { &func };
    TsJitModule *module = NULL;
    TsError err;
    TsStatus status = ts_build_jit(1, funcs, cgt_host(), &module, &err);
    if (status != TS_ECODEGEN || !strstr(err.message, needle))
        fprintf(stderr, "%s: %s (wanted \"%s\")\n", ts_status_name(status),
                status ? err.message : "", needle);
    assert_int_equal(status, TS_ECODEGEN);
    assert_non_null(strstr(err.message, needle));
    assert_null(module);
    (void)A;
}

static void test_unsupported_ir(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    TsTensor *a = ts_placeholder(A, "A", 1, (int64_t[]){ 16 }, TS_FLOAT32);
    TsTensor *o = ts_placeholder(A, "out", 1, (int64_t[]){ 16 }, TS_FLOAT32);
    TsTensor *t = ts_placeholder(A, "T", 1, (int64_t[]){ 16 }, TS_FLOAT32);
    TeBuffer *ab = te_buffer(A, "A", a, 1, NULL, TE_SCOPE_GLOBAL);
    TeBuffer *ob = te_buffer(A, "out", o, 1, NULL, TE_SCOPE_GLOBAL);
    TeBuffer *tb = te_buffer(A, "T", t, 1, NULL, TE_SCOPE_LOCAL);
    const TeBuffer *args[] = { ab, ob };
    TsExpr *v = te_ramp(A, ts_i32(A, 0), ts_i32(A, 1), 16);
    TeStmt *copy = te_store(A, ob, 1, &v, te_load(A, ab, 1, &v, true), true);
    /* an if statement whose condition has lanes (the vectorizer never makes one) */
    TeStmt *vector_if = ts_arena_alloc(A, sizeof *vector_if);
    vector_if->kind = TE_STMT_IF;
    vector_if->u.if_then.cond = ts_lt(A, v, te_broadcast(A, ts_i32(A, 3), 16));
    vector_if->u.if_then.then_case = copy;
    expect_codegen_error(A, vector_if, args, 2, "bad: cannot generate an if statement with the "
                                                "vector condition");
    /* a tensor access left in a loop nest */
    TsExpr *zero = ts_i32(A, 0);
    TeStmt *access = te_store(A, ob, 1, &zero, ts_at(A, a, zero), true);
    expect_codegen_error(A, access, args, 2, "bad: cannot generate a tensor-expression node "
                                             "that lowering should have replaced: A[0]");
    /* a buffer that is neither an argument nor allocated */
    TeStmt *stray = te_store(A, ob, 1, &v, te_load(A, tb, 1, &v, true), true);
    expect_codegen_error(A, stray, args, 2, "bad: load from T: the buffer is neither an "
                                            "argument nor allocated");
    ts_arena_destroy(A);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matmul_default),
        cmocka_unit_test(test_matmul_blocked),
        cmocka_unit_test(test_matmul_blocked_tails),
        cmocka_unit_test(test_matmul_cache_write),
        cmocka_unit_test(test_matmul_int8_to_int32),
        cmocka_unit_test(test_conv2d_padded_default),
        cmocka_unit_test(test_conv2d_padded_tiled),
        cmocka_unit_test(test_pool2d),
        cmocka_unit_test(test_softmax),
        cmocka_unit_test(test_float16),
        cmocka_unit_test(test_casts),
        cmocka_unit_test(test_bits),
        cmocka_unit_test(test_bits_int8),
        cmocka_unit_test(test_division),
        cmocka_unit_test(test_unsigned_division),
        cmocka_unit_test(test_math),
        cmocka_unit_test(test_division_by_zero_fails),
        cmocka_unit_test(test_shift_out_of_range_fails),
        cmocka_unit_test(test_masked_if_then_else),
        cmocka_unit_test(test_conv2d_inline_pad_vectorized),
        cmocka_unit_test(test_guarded_store_vectorized),
        cmocka_unit_test(test_pool_padding_vectorized),
        cmocka_unit_test(test_masked_scatter),
        cmocka_unit_test(test_gather_scatter),
        cmocka_unit_test(test_unsupported_ir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
