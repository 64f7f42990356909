/* Target intrinsics end to end: intrinsic call expressions (llvm.ctpop, llvm.fshl,
 * llvm.x86.avx512.vpdpbusd.512 where the host has VNNI), reinterpret in both directions
 * (scalar and lane-changing vectors, under a lane mask too), and intrinsic call
 * statements over buffer addresses (llvm.memcpy, llvm.masked.store, llvm.prefetch, in a
 * parallel loop), JIT-compiled and compared with naive C and, for reinterpret, with both
 * interpreters. Error tests: unknown or badly spelled intrinsic names, wrong argument
 * counts and types, reinterprets of mismatched sizes, the interpreters' refusal to run an
 * intrinsic and the vectorizer's refusal to widen one. */
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

#define I32X16 ts_dtype(TS_TYPE_INT, 32, 16)

static TsDLTensor dl(void *data, TsDType dtype, int64_t *shape)
{
    TsDLTensor t = { data, { TS_DEVICE_CPU, 0 }, 1, dtype, shape, NULL, 0 };
    return t;
}

/* Calls a JIT-compiled kernel on 1-D tensors; returns its status. */
static int32_t call_1d(TsPackedFunc fn, int n, void *const *data, const TsDType *dtypes,
                       int64_t *shapes)
{
    TsDLTensor tensors[8];
    TsValue values[8];
    int32_t codes[8];
    for (int i = 0; i < n; i++) {
        tensors[i] = dl(data[i], ts_dtype_with_lanes(dtypes[i], 1), &shapes[i]);
        values[i].v_handle = &tensors[i];
        codes[i] = TS_ARG_TENSOR;
    }
    return fn(values, codes, n);
}

static TeBuffer *buffer(TsArena *A, const char *name, int64_t n, TsDType dtype)
{
    TsTensor *t = ts_placeholder(A, name, 1, &n, dtype);
    TeBuffer *b = te_buffer(A, name, t, 1, NULL, TE_SCOPE_GLOBAL);
    assert_non_null(b);
    return b;
}

static TsExpr *lanes_from(TsArena *A, TsExpr *base, int lanes)
{
    return te_ramp(A, base, ts_i32(A, 1), lanes);
}

/* Builds the function, failing the test with the arena's error if a builder failed. */
static TsLoweredFunc *func_of(TsArena *A, const char *name, int n, const TeBuffer **args,
                              TeStmt *body)
{
    if (!body)
        fprintf(stderr, "%s: %s\n", name, ts_arena_error(A)->message);
    assert_non_null(body);
    TsLoweredFunc *f = ts_arena_alloc(A, sizeof *f);
    const TeBuffer **copy = ts_arena_alloc(A, sizeof *copy * (size_t)n);
    memcpy(copy, args, sizeof *copy * (size_t)n);
    *f = (TsLoweredFunc){ .name = name, .num_args = n, .args = copy, .body = body };
    return f;
}

static void expect_run_refused(const TsLoweredFunc *f, int n, const TsBinding *bindings,
                               const char *needle)
{
    TsError err;
    TsStatus status = ts_lowered_run(f, n, bindings, &err);
    if (status != TS_EINVAL || !strstr(err.message, needle))
        fprintf(stderr, "%s: %s (wanted \"%s\")\n", ts_status_name(status), err.message, needle);
    assert_int_equal(status, TS_EINVAL);
    assert_non_null(strstr(err.message, needle));
}

/* ---- intrinsic call expressions ---- */

/* out[16 io + v] = llvm.ctpop.v16i32(A[16 io + v]); the loop interpreter refuses. */
static void test_ctpop_vector(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    TeBuffer *ab = buffer(A, "A", 64, TS_INT32), *ob = buffer(A, "out", 64, TS_INT32);
    TsExpr *io = ts_variable(A, "io", TS_INT32);
    TsExpr *v = lanes_from(A, ts_mul(A, io, ts_i32(A, 16)), 16);
    TsExpr *x = te_load(A, ab, 1, &v, true);
    TsExpr *pop = ts_call_intrinsic(A, "llvm.ctpop.v16i32", I32X16, 1, &x);
    TeStmt *loop = te_for(A, io, ts_i32(A, 0), ts_i32(A, 4), TE_FOR_SERIAL, 0, NULL,
                          te_store(A, ob, 1, &v, pop, true));
    TsLoweredFunc *f = func_of(A, "ctpop", 2, (const TeBuffer *[]){ ab, ob }, loop);
    assert_non_null(strstr(te_stmt_str(A, loop), "call_intrinsic<int32x16>(llvm.ctpop.v16i32, "
                                                 "A[ramp((io * 16), 1, 16)])"));
    TsPackedFunc fn;
    TsJitModule *module = cgt_jit(f, &fn);
    int32_t in[64], out[64];
    CgtRng rng = { 7 };
    for (int k = 0; k < 64; k++)
        in[k] = (int32_t)cgt_rng_next(&rng);
    in[0] = 0;
    in[1] = -1;
    int64_t shapes[] = { 64, 64 };
    assert_int_equal(
        call_1d(fn, 2, (void *[]){ in, out }, (TsDType[]){ TS_INT32, TS_INT32 }, shapes), 0);
    for (int k = 0; k < 64; k++)
        assert_int_equal(out[k], __builtin_popcount((uint32_t)in[k]));
    expect_run_refused(f, 2, (TsBinding[]){ { ab->tensor, in }, { ob->tensor, out } },
                       "cannot run the target intrinsic llvm.ctpop.v16i32");
    ts_jit_release(module);
    ts_arena_destroy(A);
}

static uint32_t fshl32(uint32_t a, uint32_t b, uint32_t c)
{
    c &= 31;
    return c ? (a << c) | (b >> (32 - c)) : a;
}

/* A compute op whose body calls llvm.fshl.i32: lowered by ts_lower (the simplifier and
 * every pass keep the call), JIT-compiled, compared with naive C. The reference
 * interpreter refuses it, and vectorizing the loop is refused by name. */
static void test_fshl_compute(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    int64_t n = 100;
    TsTensor *a = ts_placeholder(A, "A", 1, &n, TS_INT32);
    TsTensor *b = ts_placeholder(A, "B", 1, &n, TS_INT32);
    TsTensor *c = ts_placeholder(A, "C", 1, &n, TS_INT32);
    TsAxis *i = ts_axis(A, "i", n);
    TsExpr *args[] = { ts_at(A, a, ts_var(i)), ts_at(A, b, ts_var(i)),
                       ts_add(A, ts_at(A, c, ts_var(i)), ts_i32(A, 0)) };
    TsTensor *out =
        ts_compute(A, "out", 1, &i, ts_call_intrinsic(A, "llvm.fshl.i32", TS_INT32, 3, args));
    assert_non_null(out);
    TsSchedule *sch = ts_schedule_create(A, 1, &out);
    TsLoweredFunc *f = NULL;
    TsError err;
    cgt_ok(ts_lower(sch, "fshl", &f, &err), &err);
    TsPackedFunc fn;
    TsJitModule *module = cgt_jit(f, &fn);
    int32_t va[100], vb[100], vc[100], vo[100];
    CgtRng rng = { 11 };
    for (int k = 0; k < 100; k++) {
        va[k] = (int32_t)cgt_rng_next(&rng);
        vb[k] = (int32_t)cgt_rng_next(&rng);
        vc[k] = (int32_t)cgt_rng_int(&rng, -70, 70);
    }
    int64_t shapes[] = { 100, 100, 100, 100 };
    assert_int_equal(call_1d(fn, 4, (void *[]){ va, vb, vc, vo },
                             (TsDType[]){ TS_INT32, TS_INT32, TS_INT32, TS_INT32 }, shapes),
                     0);
    for (int k = 0; k < 100; k++)
        assert_int_equal((uint32_t)vo[k],
                         fshl32((uint32_t)va[k], (uint32_t)vb[k], (uint32_t)vc[k]));
    /* the reference interpreter refuses, naming the intrinsic */
    TsBinding bindings[] = { { a, va }, { b, vb }, { c, vc }, { out, vo } };
    TsStatus status = ts_evaluate(1, &out, 4, bindings, &err);
    assert_int_equal(status, TS_EINVAL);
    assert_non_null(strstr(err.message, "cannot run the target intrinsic llvm.fshl.i32"));
    /* the vectorizer refuses to widen it */
    TsAxis *outer, *inner;
    TsStage *st = ts_stage(sch, out);
    cgt_ok(ts_split(st, ts_stage_root_axis(st, 0), 16, &outer, &inner, &err), &err);
    cgt_ok(ts_vectorize(st, inner, &err), &err);
    status = ts_lower(sch, "fshl_vector", &f, &err);
    if (status == TS_OK || !strstr(err.message, "cannot be widened"))
        fprintf(stderr, "%s: %s\n", ts_status_name(status), status ? err.message : "");
    assert_int_not_equal(status, TS_OK);
    assert_non_null(strstr(err.message, "llvm.fshl.i32"));
    assert_non_null(strstr(err.message, "cannot be widened"));
    ts_jit_release(module);
    ts_arena_destroy(A);
}

/* out = vpdpbusd(acc, reinterpret<int32x16>(a: uint8x64), reinterpret<int32x16>(b: int8x64)):
 * out[j] = acc[j] + sum over k < 4 of a[4j + k] * b[4j + k], wrapping. */
static void test_vpdpbusd(void **state)
{
    (void)state;
    if (!__builtin_cpu_supports("avx512vnni")) {
        print_message("skipped: this host has no AVX512-VNNI\n");
        skip();
    }
    TsArena *A = ts_arena_create();
    TeBuffer *accb = buffer(A, "acc", 16, TS_INT32), *ab = buffer(A, "a", 64, TS_UINT8);
    TeBuffer *bb = buffer(A, "b", 64, TS_INT8), *ob = buffer(A, "out", 16, TS_INT32);
    TsExpr *r16 = lanes_from(A, ts_i32(A, 0), 16), *r64 = lanes_from(A, ts_i32(A, 0), 64);
    TsExpr *args[] = { te_load(A, accb, 1, &r16, true),
                       ts_reinterpret(A, I32X16, te_load(A, ab, 1, &r64, true)),
                       ts_reinterpret(A, I32X16, te_load(A, bb, 1, &r64, true)) };
    TsExpr *dot = ts_call_intrinsic(A, "llvm.x86.avx512.vpdpbusd.512", I32X16, 3, args);
    TsLoweredFunc *f = func_of(A, "vnni", 4, (const TeBuffer *[]){ accb, ab, bb, ob },
                               te_store(A, ob, 1, &r16, dot, true));
    TsPackedFunc fn;
    TsJitModule *module = cgt_jit(f, &fn);
    int32_t acc[16], out[16];
    uint8_t va[64];
    int8_t vb[64];
    CgtRng rng = { 3 };
    for (int k = 0; k < 64; k++) {
        va[k] = (uint8_t)cgt_rng_next(&rng);
        vb[k] = (int8_t)cgt_rng_next(&rng);
    }
    for (int j = 0; j < 16; j++)
        acc[j] = j == 0 ? INT32_MAX : (int32_t)cgt_rng_int(&rng, -100000, 100000);
    int64_t shapes[] = { 16, 64, 64, 16 };
    assert_int_equal(call_1d(fn, 4, (void *[]){ acc, va, vb, out },
                             (TsDType[]){ TS_INT32, TS_UINT8, TS_INT8, TS_INT32 }, shapes),
                     0);
    for (int j = 0; j < 16; j++) {
        uint32_t want = (uint32_t)acc[j];
        for (int k = 0; k < 4; k++)
            want += (uint32_t)((int32_t)va[4 * j + k] * (int32_t)vb[4 * j + k]);
        assert_int_equal((uint32_t)out[j], want);
    }
    ts_jit_release(module);
    ts_arena_destroy(A);
}

/* ---- reinterpret ---- */

/* Scalar reinterpret both ways in compute ops, scalar and vectorized schedules, against
 * the reference interpreter (cgt_check_schedule) and naive C. */
static void test_reinterpret_compute(void **state)
{
    (void)state;
    for (int vectorize = 0; vectorize <= 1; vectorize++) {
        TsArena *A = ts_arena_create();
        int64_t n = 40;
        TsTensor *f = ts_placeholder(A, "F", 1, &n, TS_FLOAT32);
        TsTensor *u = ts_placeholder(A, "U", 1, &n, TS_INT32);
        TsAxis *i = ts_axis(A, "i", n), *j = ts_axis(A, "j", n);
        TsTensor *bits =
            ts_compute(A, "bits", 1, &i, ts_reinterpret(A, TS_INT32, ts_at(A, f, ts_var(i))));
        TsTensor *back =
            ts_compute(A, "back", 1, &j, ts_reinterpret(A, TS_FLOAT32, ts_at(A, u, ts_var(j))));
        assert_non_null(bits);
        assert_non_null(back);
        assert_string_equal(ts_expr_str(A, ts_tensor_body(bits)), "reinterpret<int32>(F[i])");
        TsTensor *outs[] = { bits, back };
        TsSchedule *sch = ts_schedule_create(A, 2, outs);
        TsError err;
        for (int t = 0; vectorize && t < 2; t++) {
            TsStage *st = ts_stage(sch, outs[t]);
            TsAxis *o, *in;
            cgt_ok(ts_split(st, ts_stage_root_axis(st, 0), 8, &o, &in, &err), &err);
            cgt_ok(ts_vectorize(st, in, &err), &err);
        }
        cgt_check_schedule(sch, vectorize ? "reinterpret_vec" : "reinterpret", 2, outs, 5, NULL);
        /* and naive C on chosen values (no NaN patterns: the interpreter quiets them) */
        float vf[40], vback[40];
        int32_t vu[40], vbits[40];
        for (int k = 0; k < 40; k++) {
            vf[k] = (float)(k - 20) * 0.37f;
            vu[k] = k * 0x01234567 % 0x7f000000;
        }
        TsBinding b[] = { { f, vf }, { u, vu }, { bits, vbits }, { back, vback } };
        cgt_ok(ts_evaluate(2, outs, 4, b, &err), &err);
        assert_memory_equal(vbits, vf, sizeof vf);
        assert_memory_equal(vback, vu, sizeof vu);
        ts_arena_destroy(A);
    }
}

/* bytes of memory whose end is followed by an inaccessible page, so that a read past
 * them faults. */
typedef struct Guarded {
    unsigned char *pages;
    size_t page;
    void *data;
} Guarded;

static Guarded guarded_alloc(size_t bytes)
{
    Guarded g = { .page = (size_t)sysconf(_SC_PAGESIZE) };
    g.pages = aligned_alloc(g.page, 2 * g.page);
    assert_non_null(g.pages);
    assert_int_equal(mprotect(g.pages + g.page, g.page, PROT_NONE), 0);
    g.data = g.pages + g.page - bytes;
    return g;
}

static void guarded_free(Guarded *g)
{
    assert_int_equal(mprotect(g->pages + g->page, g->page, PROT_READ | PROT_WRITE), 0);
    free(g->pages);
}

/* Lane-changing reinterprets: out8 = reinterpret<int8x64>(A: int32x16) and
 * out32 = reinterpret<int32x16>(B: int8x64); then under lane masks, with C and D ending
 * 40 bytes in, right before a guard page:
 *   outm = if_then_else(v < 10, reinterpret<int32x16>(C[0:64]), -1)   (int8 lanes < 40 read)
 *   outn = if_then_else(u < 40, reinterpret<int8x64>(D[0:16]), 0)     (int32 lanes < 10 read)
 * so a mask not carried through the reinterpret faults. Compared with memcpy and the loop
 * interpreter. */
static void test_reinterpret_vectors(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    TsDType i8x64 = ts_dtype(TS_TYPE_INT, 8, 64);
    TeBuffer *ab = buffer(A, "A", 16, TS_INT32), *o8 = buffer(A, "out8", 64, TS_INT8);
    TeBuffer *bb = buffer(A, "B", 64, TS_INT8), *o32 = buffer(A, "out32", 16, TS_INT32);
    TeBuffer *cb = buffer(A, "C", 64, TS_INT8), *om = buffer(A, "outm", 16, TS_INT32);
    TeBuffer *db = buffer(A, "D", 16, TS_INT32), *on = buffer(A, "outn", 64, TS_INT8);
    TsExpr *r16 = lanes_from(A, ts_i32(A, 0), 16), *r64 = lanes_from(A, ts_i32(A, 0), 64);
    TsExpr *masked = ts_if_then_else(A, ts_lt(A, r16, te_broadcast(A, ts_i32(A, 10), 16)),
                                     ts_reinterpret(A, I32X16, te_load(A, cb, 1, &r64, true)),
                                     te_broadcast(A, ts_i32(A, -1), 16));
    TsExpr *narrowed = ts_if_then_else(A, ts_lt(A, r64, te_broadcast(A, ts_i32(A, 40), 64)),
                                       ts_reinterpret(A, i8x64, te_load(A, db, 1, &r16, true)),
                                       te_broadcast(A, ts_int(A, TS_INT8, 0), 64));
    TeStmt *stmts[] = {
        te_store(A, o8, 1, &r64, ts_reinterpret(A, i8x64, te_load(A, ab, 1, &r16, true)), true),
        te_store(A, o32, 1, &r16, ts_reinterpret(A, I32X16, te_load(A, bb, 1, &r64, true)), true),
        te_store(A, om, 1, &r16, masked, true),
        te_store(A, on, 1, &r64, narrowed, true),
    };
    const TeBuffer *args[] = { ab, bb, cb, db, o8, o32, om, on };
    TsLoweredFunc *f = func_of(A, "reinterpret_lanes", 8, args, te_seq(A, 4, stmts));
    TsPackedFunc fn;
    TsJitModule *module = cgt_jit(f, &fn);
    int32_t va[16], out32[16], outm[16], want32[16], wantm[16];
    int8_t vb[64], out8[64], outn[64], want8[64], wantn[64];
    Guarded gc = guarded_alloc(40), gd = guarded_alloc(40);
    int8_t *vc = gc.data;
    int32_t *vd = gd.data;
    CgtRng rng = { 9 };
    for (int k = 0; k < 64; k++)
        vb[k] = (int8_t)cgt_rng_next(&rng);
    for (int k = 0; k < 40; k++)
        vc[k] = (int8_t)cgt_rng_next(&rng);
    for (int k = 0; k < 16; k++)
        va[k] = (int32_t)cgt_rng_next(&rng);
    for (int k = 0; k < 10; k++)
        vd[k] = (int32_t)cgt_rng_next(&rng);
    int64_t shapes[] = { 16, 64, 64, 16, 64, 16, 16, 64 };
    TsDType dts[] = { TS_INT32, TS_INT8, TS_INT8, TS_INT32, TS_INT8, TS_INT32, TS_INT32, TS_INT8 };
    assert_int_equal(
        call_1d(fn, 8, (void *[]){ va, vb, vc, vd, out8, out32, outm, outn }, dts, shapes), 0);
    assert_memory_equal(out8, va, sizeof out8);
    assert_memory_equal(out32, vb, sizeof out32);
    for (int k = 0; k < 16; k++) {
        int32_t w = -1;
        if (k < 10)
            memcpy(&w, vc + 4 * k, 4);
        assert_int_equal(outm[k], w);
    }
    for (int k = 0; k < 64; k++)
        assert_int_equal(outn[k], k < 40 ? ((int8_t *)vd)[k] : 0);
    /* the loop interpreter agrees, reading nothing past the 40 bytes either */
    TsBinding b[] = { { ab->tensor, va },    { bb->tensor, vb },    { cb->tensor, vc },
                      { db->tensor, vd },    { o8->tensor, want8 }, { o32->tensor, want32 },
                      { om->tensor, wantm }, { on->tensor, wantn } };
    TsError err;
    cgt_ok(ts_lowered_run(f, 8, b, &err), &err);
    assert_memory_equal(out8, want8, sizeof out8);
    assert_memory_equal(out32, want32, sizeof out32);
    assert_memory_equal(outm, wantm, sizeof outm);
    assert_memory_equal(outn, wantn, sizeof outn);
    guarded_free(&gc);
    guarded_free(&gd);
    ts_jit_release(module);
    ts_arena_destroy(A);
}

/* ---- intrinsic call statements over addresses ---- */

/* In a parallel loop over io in [0, 4):
 *   call llvm.prefetch.p0(address_of(A[4 io]), 0, 3, 1)
 *   call llvm.masked.store.v4f32.p0(A[4 io : 4] * 2, address_of(out[4 io]), 4, lanes < io)
 * then call llvm.memcpy.p0.p0.i64(address_of(out[16]), address_of(A[4]), 32, false):
 * out[4 io + l] = 2 A[4 io + l] for l < io (others keep their poison), out[16:24] = A[4:12]. */
static void test_call_statements(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    TeBuffer *ab = buffer(A, "A", 16, TS_FLOAT32), *ob = buffer(A, "out", 24, TS_FLOAT32);
    TsExpr *io = ts_variable(A, "io", TS_INT32);
    TsExpr *base = ts_mul(A, io, ts_i32(A, 4));
    TsExpr *v = lanes_from(A, base, 4);
    TsExpr *value = ts_mul(A, te_load(A, ab, 1, &v, true), te_broadcast(A, ts_f32(A, 2.0), 4));
    TsExpr *mask = ts_lt(A, lanes_from(A, ts_i32(A, 0), 4), te_broadcast(A, io, 4));
    TsExpr *store_args[] = { value, te_address(A, ob, 1, &base, true), ts_i32(A, 4), mask };
    TsExpr *prefetch_args[] = { te_address(A, ab, 1, &base, true), ts_i32(A, 0), ts_i32(A, 3),
                                ts_i32(A, 1) };
    TeStmt *body[] = { te_call_stmt(A, "llvm.prefetch.p0", 4, prefetch_args),
                       te_call_stmt(A, "llvm.masked.store.v4f32.p0", 4, store_args) };
    TeStmt *loop =
        te_for(A, io, ts_i32(A, 0), ts_i32(A, 4), TE_FOR_PARALLEL, 0, NULL, te_seq(A, 2, body));
    TsExpr *sixteen = ts_i32(A, 16), *four = ts_i32(A, 4);
    TsExpr *copy_args[] = { te_address(A, ob, 1, &sixteen, true), te_address(A, ab, 1, &four, true),
                            ts_int(A, TS_INT64, 32), ts_bool(A, false) };
    TeStmt *top[] = { loop, te_call_stmt(A, "llvm.memcpy.p0.p0.i64", 4, copy_args) };
    TsLoweredFunc *f = func_of(A, "calls", 2, (const TeBuffer *[]){ ab, ob }, te_seq(A, 2, top));
    const char *text = ts_lowered_str(A, f);
    assert_non_null(strstr(text, "call llvm.memcpy.p0.p0.i64(address_of(out[16]), "
                                 "address_of(A[4]), 32i64, false)"));
    TsPackedFunc fn;
    TsJitModule *module = cgt_jit(f, &fn);
    float in[16], out[24];
    for (int k = 0; k < 16; k++)
        in[k] = (float)k + 0.5f;
    for (int k = 0; k < 24; k++)
        out[k] = -1.0f;
    int64_t shapes[] = { 16, 24 };
    assert_int_equal(
        call_1d(fn, 2, (void *[]){ in, out }, (TsDType[]){ TS_FLOAT32, TS_FLOAT32 }, shapes), 0);
    for (int k = 0; k < 16; k++)
        assert_true(out[k] == (k % 4 < k / 4 ? 2 * in[k] : -1.0f));
    assert_memory_equal(out + 16, in + 4, 8 * sizeof(float));
    expect_run_refused(f, 2, (TsBinding[]){ { ab->tensor, in }, { ob->tensor, out } },
                       "cannot run the target intrinsic llvm.prefetch.p0");
    ts_jit_release(module);
    ts_arena_destroy(A);
}

/* ---- errors ---- */

static void expect_codegen_error(TsArena *A, TeStmt *body, const TeBuffer **args, int n,
                                 const char *needle)
{
    TsLoweredFunc *f = func_of(A, "bad", n, args, body);
    TsJitModule *module = NULL;
    TsError err;
    TsStatus status = ts_build_jit(1, (const TsLoweredFunc *[]){ f }, cgt_host(), &module, &err);
    if (status != TS_ECODEGEN || !strstr(err.message, needle))
        fprintf(stderr, "%s: %s (wanted \"%s\")\n", ts_status_name(status),
                status ? err.message : "", needle);
    assert_int_equal(status, TS_ECODEGEN);
    assert_non_null(strstr(err.message, needle));
    assert_null(module);
}

/* out[0:16] = call_intrinsic<dtype>(name, args...) */
static void expect_call_error(const char *name, TsDType dtype, int num_args, bool scalar_arg,
                              const char *needle)
{
    TsArena *A = ts_arena_create();
    TeBuffer *ab = buffer(A, "A", 16, TS_INT32), *ob = buffer(A, "out", 16, TS_INT32);
    TsExpr *r = lanes_from(A, ts_i32(A, 0), 16), *zero = ts_i32(A, 0);
    TsExpr *x = scalar_arg ? te_load(A, ab, 1, &zero, true) : te_load(A, ab, 1, &r, true);
    TsExpr *args[] = { x, x, x };
    TsExpr *call = ts_call_intrinsic(A, name, dtype, num_args, args);
    TsExpr *value = call;
    if (dtype.lanes == 1)
        value = te_broadcast(A, ts_cast(A, TS_INT32, call), 16);
    else if (!ts_dtype_eq(dtype, I32X16))
        value = ts_cast(A, I32X16, call);
    expect_codegen_error(A, te_store(A, ob, 1, &r, value, true), (const TeBuffer *[]){ ab, ob }, 2,
                         needle);
    ts_arena_destroy(A);
}

static void test_intrinsic_errors(void **state)
{
    (void)state;
    expect_call_error("llvm.no.such.intrinsic", I32X16, 1, false,
                      "bad: LLVM has no intrinsic llvm.no.such.intrinsic");
    expect_call_error("llvm.ctpop", I32X16, 1, false,
                      "intrinsic llvm.ctpop is overloaded and its name gives too few overload "
                      "types");
    expect_call_error("llvm.ctpop.q16i32", I32X16, 1, false,
                      "cannot read the overload type \"q16i32\"");
    expect_call_error("llvm.ctpop.v16i32.v16i32", I32X16, 1, false,
                      "do not mangle back to its name");
    expect_call_error("llvm.ctpop.v16i32", I32X16, 2, false,
                      "intrinsic llvm.ctpop.v16i32 takes 1 arguments, the call gives 2");
    expect_call_error("llvm.ctpop.v16i32", I32X16, 1, true,
                      "intrinsic llvm.ctpop.v16i32: argument 0 is i32, the intrinsic takes "
                      "<16 x i32>");
    expect_call_error("llvm.ctpop.v16i32", ts_dtype(TS_TYPE_INT, 64, 16), 1, false,
                      "the call's result is <16 x i64>, the intrinsic takes <16 x i32>");
    /* LLVM would derive the element type of a scalar: refused before it is asked */
    expect_call_error("llvm.vector.reduce.add.i32", TS_INT32, 1, true,
                      "intrinsic llvm.vector.reduce.add.i32: overload type 0 (i32) must be a "
                      "vector type");
    /* another architecture's intrinsic would abort instruction selection */
    expect_call_error("llvm.aarch64.neon.sdot.v4i32.v16i8", I32X16, 3, false,
                      "intrinsic llvm.aarch64.neon.sdot.v4i32.v16i8 is for aarch64 targets, not "
                      "for llvm");
    expect_call_error("llvm.x86.avx512.vpdpbusd.512.v16i32", I32X16, 3, false,
                      "LLVM has no intrinsic llvm.x86.avx512.vpdpbusd.512.v16i32");
    /* a statement naming too few overload types is refused before LLVM reads past them */
    TsArena *A = ts_arena_create();
    TeBuffer *ob = buffer(A, "out", 16, TS_FLOAT32);
    TsExpr *zero = ts_i32(A, 0);
    TsExpr *args[] = { te_broadcast(A, ts_f32(A, 1.0), 4), te_address(A, ob, 1, &zero, true),
                       ts_i32(A, 4), te_broadcast(A, ts_bool(A, true), 4) };
    expect_codegen_error(A, te_call_stmt(A, "llvm.masked.store.v4f32", 4, args),
                         (const TeBuffer *[]){ ob }, 1, "too few overload types");
    ts_arena_destroy(A);
}

static void expect_build_error(TsArena *A, const void *node, const char *needle)
{
    assert_null(node);
    const TsError *err = ts_arena_error(A);
    if (!strstr(err->message, needle))
        fprintf(stderr, "%s (wanted \"%s\")\n", err->message, needle);
    assert_int_equal(err->status, TS_EINVAL);
    assert_non_null(strstr(err->message, needle));
}

static void test_construction_errors(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    TsExpr *x = ts_variable(A, "x", TS_INT32);
    expect_build_error(A, ts_call_intrinsic(A, "memcpy", TS_INT32, 1, &x),
                       "\"memcpy\" is not an LLVM intrinsic name");
    ts_arena_destroy(A);
    A = ts_arena_create();
    x = ts_variable(A, "x", TS_INT32);
    TsExpr *many[25];
    for (int k = 0; k < 25; k++)
        many[k] = x;
    expect_build_error(A, ts_call_intrinsic(A, "llvm.foo", TS_INT32, 25, many),
                       "intrinsic llvm.foo: 25 arguments, outside [0, 24]");
    ts_arena_destroy(A);
    A = ts_arena_create();
    x = ts_variable(A, "x", TS_INT32);
    expect_build_error(A, ts_reinterpret(A, TS_INT8, x),
                       "reinterpret of x (int32) as int8: the total bits (lanes * bits) differ");
    ts_arena_destroy(A);
    A = ts_arena_create();
    TsExpr *v = ts_variable(A, "v", ts_dtype(TS_TYPE_INT, 32, 16));
    expect_build_error(A, ts_reinterpret(A, ts_dtype(TS_TYPE_INT, 8, 32), v),
                       "reinterpret of v (int32x16) as int8x32: the total bits");
    ts_arena_destroy(A);
    A = ts_arena_create();
    x = ts_variable(A, "x", TS_UINT8);
    expect_build_error(A, ts_reinterpret(A, TS_BOOL, x), "bool has no bit pattern");
    ts_arena_destroy(A);
    A = ts_arena_create();
    TeBuffer *b = buffer(A, "B", 16, TS_INT32);
    TsExpr *r = lanes_from(A, ts_i32(A, 0), 4);
    expect_build_error(A, te_address(A, b, 1, &r, true), "address of B: a vector index (4 lanes)");
    ts_arena_destroy(A);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ctpop_vector),
        cmocka_unit_test(test_fshl_compute),
        cmocka_unit_test(test_vpdpbusd),
        cmocka_unit_test(test_reinterpret_compute),
        cmocka_unit_test(test_reinterpret_vectors),
        cmocka_unit_test(test_call_statements),
        cmocka_unit_test(test_intrinsic_errors),
        cmocka_unit_test(test_construction_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
