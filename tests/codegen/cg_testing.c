/* The end-to-end check shared by the codegen tests: see cg_testing.h. */
#include "cg_testing.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "te/te_internal.h"

uint64_t cgt_rng_next(CgtRng *rng)
{
    return tv_rng_next(rng);
}

int64_t cgt_rng_int(CgtRng *rng, int64_t lo, int64_t hi)
{
    return tv_rng_int(rng, lo, hi);
}

void cgt_fill_default(CgtRng *rng, const TsTensor *t, void *data)
{
    tv_fill_random(rng, t, data);
}

const TsTarget *cgt_host(void)
{
    static TsTarget *host;
    if (!host) {
        TsError err;
        cgt_ok(ts_target_parse("llvm", &host, &err), &err);
    }
    return host;
}

void cgt_ok(TsStatus status, const TsError *err)
{
    if (status != TS_OK)
        fprintf(stderr, "unexpected error: %s: %s\n", ts_status_name(status), err->message);
    assert_int_equal(status, TS_OK);
}

/* ---- arguments ---- */

void cgt_args_init(CgtArgs *args, const TsLoweredFunc *func, uint64_t seed, CgtFill fill)
{
    memset(args, 0, sizeof *args);
    CgtRng rng = { seed };
    args->num = ts_lowered_num_args(func);
    assert_true(args->num >= 1 && args->num <= CGT_MAX_ARGS);
    for (int i = 0; i < args->num; i++) {
        const TsTensor *t = ts_lowered_arg(func, i);
        args->tensors[i] = t;
        args->bytes[i] = tv_num_bytes(t);
        args->data[i] = aligned_alloc(64, (args->bytes[i] + 63) / 64 * 64);
        assert_non_null(args->data[i]);
        if (ts_tensor_is_placeholder(t))
            (fill ? fill : cgt_fill_default)(&rng, t, args->data[i]);
        else
            memset(args->data[i], 0xA5, args->bytes[i]);
        for (int d = 0; d < ts_tensor_ndim(t); d++)
            args->shapes[i][d] = ts_tensor_dim(t, d);
        args->dl[i] = (TsDLTensor){ .data = args->data[i],
                                    .device = { TS_DEVICE_CPU, 0 },
                                    .ndim = ts_tensor_ndim(t),
                                    .dtype = ts_tensor_dtype(t),
                                    .shape = args->shapes[i],
                                    .strides = NULL,
                                    .byte_offset = 0 };
        args->values[i].v_handle = &args->dl[i];
        args->codes[i] = TS_ARG_TENSOR;
    }
}

void cgt_args_free(CgtArgs *args)
{
    for (int i = 0; i < args->num; i++)
        free(args->data[i]);
    memset(args, 0, sizeof *args);
}

int32_t cgt_call(TsPackedFunc fn, CgtArgs *args)
{
    return fn(args->values, args->codes, args->num);
}

TsJitModule *cgt_jit(const TsLoweredFunc *func, TsPackedFunc *fn)
{
    TsJitModule *module = NULL;
    TsError err;
    cgt_ok(ts_build_jit(1, &func, cgt_host(), &module, &err), &err);
    cgt_ok(ts_jit_get_func(module, func->name, fn, &err), &err); /* te_internal.h's layout */
    return module;
}

/* ---- comparing ---- */

static double float_rtol(TsDType dt)
{
    return dt.bits == 16 ? 2e-3 : dt.bits == 32 ? 1e-4 : 1e-10;
}

/* The oracle on the inputs of args (or their magnitudes), outputs into fresh buffers. */
static TsStatus run_oracle(CgtArgs *args, int num_outputs, TsTensor *const *outputs,
                           bool magnitude, void **results, TsError *err)
{
    TsBinding bindings[2 * CGT_MAX_ARGS];
    void *copies[CGT_MAX_ARGS] = { 0 };
    int n = 0;
    for (int i = 0; i < args->num; i++) {
        if (!ts_tensor_is_placeholder(args->tensors[i]))
            continue;
        void *data = args->data[i];
        if (magnitude) {
            copies[i] = malloc(args->bytes[i]);
            assert_non_null(copies[i]);
            memcpy(copies[i], data, args->bytes[i]);
            tv_make_magnitude(args->tensors[i], copies[i]);
            data = copies[i];
        }
        bindings[n++] = (TsBinding){ args->tensors[i], data };
    }
    for (int o = 0; o < num_outputs; o++) {
        results[o] = malloc(tv_num_bytes(outputs[o]));
        assert_non_null(results[o]);
        bindings[n++] = (TsBinding){ outputs[o], results[o] };
    }
    TsStatus status = ts_evaluate(num_outputs, outputs, n, bindings, err);
    for (int i = 0; i < args->num; i++)
        free(copies[i]);
    return status;
}

bool cgt_compare_with_oracle(CgtArgs *args, int num_outputs, TsTensor *const *outputs,
                             char *message, size_t size)
{
    void *want[CGT_MAX_ARGS] = { 0 }, *mag[CGT_MAX_ARGS] = { 0 };
    TsError err;
    bool same = false;
    if (run_oracle(args, num_outputs, outputs, false, want, &err) != TS_OK ||
        run_oracle(args, num_outputs, outputs, true, mag, &err) != TS_OK) {
        snprintf(message, size, "oracle: %s", err.message);
        goto out_free;
    }
    same = true;
    for (int o = 0; same && o < num_outputs; o++) {
        const void *got = NULL;
        for (int i = 0; i < args->num; i++)
            if (args->tensors[i] == outputs[o])
                got = args->data[i];
        assert_non_null(got);
        same = tv_compare_output(outputs[o], got, want[o], mag[o], float_rtol, NULL, message, size);
    }
out_free:
    for (int o = 0; o < num_outputs; o++) {
        free(want[o]);
        free(mag[o]);
    }
    return same;
}

void cgt_check_schedule(TsSchedule *sch, const char *name, int num_outputs,
                        TsTensor *const *outputs, uint64_t seed, CgtFill fill)
{
    TsLoweredFunc *func = NULL;
    TsError err;
    cgt_ok(ts_lower(sch, name, &func, &err), &err);
    TsPackedFunc fn = NULL;
    TsJitModule *module = cgt_jit(func, &fn);
    CgtArgs args;
    cgt_args_init(&args, func, seed, fill);
    int32_t rc = cgt_call(fn, &args);
    if (rc != 0)
        fprintf(stderr, "%s returned %d: %s\n", name, rc, ts_runtime_last_error());
    assert_int_equal(rc, 0);
    char message[512];
    bool same = cgt_compare_with_oracle(&args, num_outputs, outputs, message, sizeof message);
    if (!same) {
        TsArena *scratch = ts_arena_create();
        fprintf(stderr, "%s: %s\n%s", name, message, ts_lowered_str(scratch, func));
        ts_arena_destroy(scratch);
    }
    assert_true(same);
    cgt_args_free(&args);
    ts_jit_release(module);
}

TsLoweredFunc *cgt_blocked_matmul(TsArena *A, const char *name, TsDType in, TsDType out,
                                  TsTensor **result)
{
    TsTensor *a = ts_placeholder(A, "A", 2, (int64_t[]){ 64, 32 }, in);
    TsTensor *b = ts_placeholder(A, "B", 2, (int64_t[]){ 32, 48 }, in);
    TsTensor *c = ts_op_matmul(A, a, b, false, false, out);
    assert_non_null(c);
    TsSchedule *sch = ts_schedule_create(A, 1, &c);
    TsStage *s = ts_stage(sch, c);
    TsAxis *io, *jo, *ii, *ji, *ko, *ki;
    TsError err;
    cgt_ok(ts_tile(s, ts_stage_root_axis(s, 0), ts_stage_root_axis(s, 1), 16, 16, &io, &jo, &ii,
                   &ji, &err), &err);
    cgt_ok(ts_split(s, ts_stage_root_axis(s, 2), 4, &ko, &ki, &err), &err);
    cgt_ok(ts_reorder(s, 6, (TsAxis *[]){ io, jo, ko, ii, ki, ji }, &err), &err);
    cgt_ok(ts_vectorize(s, ji, &err), &err);
    cgt_ok(ts_unroll(s, ki, &err), &err);
    cgt_ok(ts_parallel(s, io, &err), &err);
    TsLoweredFunc *func;
    cgt_ok(ts_lower(sch, name, &func, &err), &err);
    *result = c;
    return func;
}

/* ---- a packed int8 dense for the tensorize tests ---- */

static TsTensor *pack(TsArena *A, TsTensor *w, int64_t n, int64_t k, int lanes, int group)
{
    TsAxis *ax[4] = { ts_axis(A, "jo", n / lanes), ts_axis(A, "ko", k / group),
                      ts_axis(A, "ji", lanes), ts_axis(A, "ki", group) };
    TsExpr *row = ts_add(A, ts_mul(A, ts_var(ax[0]), ts_i32(A, lanes)), ts_var(ax[2]));
    TsExpr *col = ts_add(A, ts_mul(A, ts_var(ax[1]), ts_i32(A, group)), ts_var(ax[3]));
    return ts_compute(A, "Wp", 4, ax, ts_at(A, w, row, col));
}

static TsExpr *packed_at(TsArena *A, TsTensor *p, TsExpr *j, TsExpr *k, int lanes, int group)
{
    TsExpr *l = ts_i32(A, lanes), *g = ts_i32(A, group);
    return ts_at(A, p, ts_floordiv(A, j, l), ts_floordiv(A, k, g), ts_floormod(A, j, l),
                 ts_floormod(A, k, g));
}

/* The dense of m x k by n x k; lanes x group is the intrinsic's shape. The stage is split
 * and reordered to i, j.outer, k.outer, j.inner, k.inner with inner extents lanes and
 * group. */
void cgt_packed_dense(TsArena *A, CgtDense *d, int64_t m, int64_t n, int64_t k, TsDType adt,
                      TsDType wdt, TsDType cdt, int lanes, int group)
{
    d->a = ts_placeholder(A, "A", 2, (int64_t[]){ m, k }, adt);
    d->w = ts_placeholder(A, "W", 2, (int64_t[]){ n, k }, wdt);
    d->packed = pack(A, d->w, n, k, lanes, group);
    TsAxis *i = ts_axis(A, "i", m), *j = ts_axis(A, "j", n), *r = ts_reduce_axis(A, "k", k);
    TsExpr *prod =
        ts_mul(A, ts_cast(A, cdt, ts_at(A, d->a, ts_var(i), ts_var(r))),
               ts_cast(A, cdt, packed_at(A, d->packed, ts_var(j), ts_var(r), lanes, group)));
    d->c = ts_compute(A, "C", 2, (TsAxis *[]){ i, j }, ts_sum(A, prod, 1, &r, NULL));
    assert_non_null(d->c);
    d->sch = ts_schedule_create(A, 1, &d->c);
    d->s = ts_stage(d->sch, d->c);
    TsError err;
    d->i = ts_stage_root_axis(d->s, 0);
    cgt_ok(ts_split(d->s, ts_stage_root_axis(d->s, 1), lanes, &d->jo, &d->ji, &err), &err);
    cgt_ok(ts_split(d->s, ts_stage_root_axis(d->s, 2), group, &d->ko, &d->ki, &err), &err);
    cgt_ok(ts_reorder(d->s, 5, (TsAxis *[]){ d->i, d->jo, d->ko, d->ji, d->ki }, &err), &err);
}

/* ---- AMX refused ---- */

/* A raw BPF program: arch_prctl(ARCH_REQ_XCOMP_PERM, ...) fails with EPERM; every other
 * system call is allowed (the dynamic loader itself needs arch_prctl(ARCH_SET_FS)). */
int cgt_refuse_amx_tile_state(void)
{
#if defined(__x86_64__)
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_arch_prctl, 0, 3),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x1023, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog program = { sizeof filter / sizeof filter[0], filter };
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return -1;
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program);
#else
    return -1; /* AMX is x86-64's */
#endif
}
