/* The end-to-end check shared by the codegen tests: see cg_testing.h. */
#include "cg_testing.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "te/te_internal.h"

uint64_t cgt_rng_next(CgtRng *rng)
{
    uint64_t z = (rng->state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

int64_t cgt_rng_int(CgtRng *rng, int64_t lo, int64_t hi)
{
    uint64_t span = (uint64_t)(hi - lo) + 1;
    return lo + (int64_t)(cgt_rng_next(rng) % span);
}

/* Uniform in [-1, 1). */
static double rand_unit(CgtRng *rng)
{
    return (double)(cgt_rng_next(rng) >> 11) * (2.0 / 9007199254740992.0) - 1.0;
}

static size_t num_bytes(const TsTensor *t)
{
    return (size_t)ts_tensor_num_elements(t) * ts_dtype_bytes(ts_tensor_dtype(t));
}

void cgt_fill_default(CgtRng *rng, const TsTensor *t, void *data)
{
    TsDType dt = ts_tensor_dtype(t);
    int64_t n = ts_tensor_num_elements(t);
    for (int64_t i = 0; i < n; i++) {
        if (dt.code == TS_TYPE_FLOAT && dt.bits == 16)
            ((uint16_t *)data)[i] = te_float_to_half((float)(4.0 * rand_unit(rng)));
        else if (dt.code == TS_TYPE_FLOAT && dt.bits == 32)
            ((float *)data)[i] = (float)rand_unit(rng);
        else if (dt.code == TS_TYPE_FLOAT)
            ((double *)data)[i] = rand_unit(rng);
        else if (dt.code == TS_TYPE_BOOL)
            ((uint8_t *)data)[i] = (uint8_t)(cgt_rng_next(rng) & 1);
        else if (dt.bits == 8)
            ((uint8_t *)data)[i] = (uint8_t)cgt_rng_next(rng);
        else if (dt.bits == 16)
            ((uint16_t *)data)[i] = (uint16_t)cgt_rng_next(rng);
        else if (dt.bits == 32)
            ((int32_t *)data)[i] = (int32_t)cgt_rng_int(rng, -1000, 1000);
        else
            ((int64_t *)data)[i] = cgt_rng_int(rng, -1000, 1000);
    }
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
        args->bytes[i] = num_bytes(t);
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

static double float_at(TsDType dt, const void *data, int64_t i)
{
    if (dt.bits == 16)
        return te_half_to_float(((const uint16_t *)data)[i]);
    return dt.bits == 32 ? (double)((const float *)data)[i] : ((const double *)data)[i];
}

static double float_rtol(TsDType dt)
{
    return dt.bits == 16 ? 2e-3 : dt.bits == 32 ? 1e-4 : 1e-10;
}

/* |x| of float inputs in place (float16 included). */
static void make_magnitude(const TsTensor *t, void *data)
{
    TsDType dt = ts_tensor_dtype(t);
    int64_t n = ts_tensor_num_elements(t);
    for (int64_t i = 0; dt.code == TS_TYPE_FLOAT && i < n; i++) {
        if (dt.bits == 16)
            ((uint16_t *)data)[i] &= 0x7fff;
        else if (dt.bits == 32)
            ((float *)data)[i] = fabsf(((float *)data)[i]);
        else
            ((double *)data)[i] = fabs(((double *)data)[i]);
    }
}

static void index_text(const TsTensor *t, int64_t i, char *buf, size_t size)
{
    int64_t idx[TS_MAX_DIMS];
    int nd = ts_tensor_ndim(t);
    for (int d = nd - 1; d >= 0; d--) {
        idx[d] = i % ts_tensor_dim(t, d);
        i /= ts_tensor_dim(t, d);
    }
    size_t n = (size_t)snprintf(buf, size, "[");
    for (int d = 0; d < nd && n < size; d++)
        n += (size_t)snprintf(buf + n, size - n, "%s%lld", d ? ", " : "", (long long)idx[d]);
    if (n < size)
        snprintf(buf + n, size - n, "]");
}

static bool compare_output(const TsTensor *t, const void *got, const void *want,
                           const void *mag, char *message, size_t size)
{
    TsDType dt = ts_tensor_dtype(t);
    int64_t n = ts_tensor_num_elements(t);
    size_t width = ts_dtype_bytes(dt);
    char where[128];
    for (int64_t i = 0; i < n; i++) {
        if (dt.code == TS_TYPE_FLOAT) {
            double a = float_at(dt, got, i), b = float_at(dt, want, i);
            double bound = float_rtol(dt) * (1.0 + fabs(float_at(dt, mag, i)));
            if (a == b || (isnan(a) && isnan(b)) || fabs(a - b) <= bound)
                continue;
            index_text(t, i, where, sizeof where);
            snprintf(message, size, "output %s%s: got %.9g, want %.9g (|diff| %.3g > %.3g)",
                     ts_tensor_name(t), where, a, b, fabs(a - b), bound);
            return false;
        }
        const unsigned char *pa = (const unsigned char *)got + (size_t)i * width;
        const unsigned char *pb = (const unsigned char *)want + (size_t)i * width;
        if (memcmp(pa, pb, width) == 0)
            continue;
        int64_t ga = 0, wb = 0;
        memcpy(&ga, pa, width);
        memcpy(&wb, pb, width);
        index_text(t, i, where, sizeof where);
        snprintf(message, size, "output %s%s: got bits 0x%llx, want 0x%llx (exact)",
                 ts_tensor_name(t), where, (unsigned long long)ga, (unsigned long long)wb);
        return false;
    }
    return true;
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
            make_magnitude(args->tensors[i], copies[i]);
            data = copies[i];
        }
        bindings[n++] = (TsBinding){ args->tensors[i], data };
    }
    for (int o = 0; o < num_outputs; o++) {
        results[o] = malloc(num_bytes(outputs[o]));
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
        same = compare_output(outputs[o], got, want[o], mag[o], message, size);
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
