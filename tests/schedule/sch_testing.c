/* The value check shared by the schedule tests: a lowered loop nest against the
 * reference interpreter, on random inputs (see sch_testing.h for the tolerance). */
#include "sch_testing.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t sch_rng_next(SchRng *rng)
{
    uint64_t z = (rng->state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

int64_t sch_rng_int(SchRng *rng, int64_t lo, int64_t hi)
{
    uint64_t span = (uint64_t)(hi - lo) + 1;
    return lo + (int64_t)(sch_rng_next(rng) % span);
}

int sch_rng_chance(SchRng *rng, int percent)
{
    return sch_rng_int(rng, 0, 99) < percent;
}

/* Uniform in [-1, 1). */
static double rand_unit(SchRng *rng)
{
    return (double)(sch_rng_next(rng) >> 11) * (2.0 / 9007199254740992.0) - 1.0;
}

static size_t num_bytes(const TsTensor *t)
{
    return (size_t)ts_tensor_num_elements(t) * ts_dtype_bytes(ts_tensor_dtype(t));
}

/* Random values of t's dtype: floats in [-1, 1), 8- and 16-bit integers over their whole
 * range (so wrap-around and exact accumulation are exercised), wider ones in
 * [-1000, 1000], bools 0 or 1. With magnitude set, floats are made non-negative. */
static void fill_random(SchRng *rng, const TsTensor *t, void *data)
{
    TsDType dt = ts_tensor_dtype(t);
    int64_t n = ts_tensor_num_elements(t);
    for (int64_t i = 0; i < n; i++) {
        if (dt.code == TS_TYPE_FLOAT && dt.bits == 32) {
            ((float *)data)[i] = (float)rand_unit(rng);
        } else if (dt.code == TS_TYPE_FLOAT && dt.bits == 64) {
            ((double *)data)[i] = rand_unit(rng);
        } else if (dt.code == TS_TYPE_BOOL) {
            ((uint8_t *)data)[i] = (uint8_t)(sch_rng_next(rng) & 1);
        } else if (dt.bits == 8) {
            ((uint8_t *)data)[i] = (uint8_t)sch_rng_next(rng);
        } else if (dt.bits == 16) {
            ((uint16_t *)data)[i] = (uint16_t)sch_rng_next(rng);
        } else if (dt.bits == 32) {
            ((int32_t *)data)[i] = (int32_t)sch_rng_int(rng, -1000, 1000);
        } else {
            ((int64_t *)data)[i] = sch_rng_int(rng, -1000, 1000);
        }
    }
}

/* |x| of float data in place; other dtypes are left as they are. */
static void make_magnitude(const TsTensor *t, void *data)
{
    TsDType dt = ts_tensor_dtype(t);
    int64_t n = ts_tensor_num_elements(t);
    for (int64_t i = 0; dt.code == TS_TYPE_FLOAT && i < n; i++) {
        if (dt.bits == 32)
            ((float *)data)[i] = fabsf(((float *)data)[i]);
        else if (dt.bits == 64)
            ((double *)data)[i] = fabs(((double *)data)[i]);
    }
}

static double float_at(TsDType dt, const void *data, int64_t i)
{
    return dt.bits == 32 ? (double)((const float *)data)[i] : ((const double *)data)[i];
}

/* "[1, 0, 3]": the multi-index of element i of t. */
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

static void int_text(TsDType dt, const unsigned char *p, char *buf, size_t size)
{
    long long v = 0;
    if (dt.code == TS_TYPE_BOOL || (dt.code == TS_TYPE_UINT && dt.bits == 8))
        v = *(const uint8_t *)p;
    else if (dt.bits == 8)
        v = *(const int8_t *)p;
    else if (dt.code == TS_TYPE_UINT && dt.bits == 16)
        v = *(const uint16_t *)p;
    else if (dt.bits == 16)
        v = *(const int16_t *)p;
    else if (dt.code == TS_TYPE_UINT && dt.bits == 32)
        v = *(const uint32_t *)p;
    else if (dt.bits == 32)
        v = *(const int32_t *)p;
    else
        memcpy(&v, p, sizeof v);
    snprintf(buf, size, "%lld", v);
}

/* Compares one output; false with the first mismatch described in check. */
static bool compare_output(const TsTensor *t, const void *got, const void *want, const void *mag,
                           SchCheck *check)
{
    TsDType dt = ts_tensor_dtype(t);
    int64_t n = ts_tensor_num_elements(t);
    size_t width = ts_dtype_bytes(dt);
    char where[128], g[64], w[64];
    for (int64_t i = 0; i < n; i++) {
        check->elements++;
        if (dt.code == TS_TYPE_FLOAT) {
            double a = float_at(dt, got, i), b = float_at(dt, want, i);
            double bound = SCH_FLOAT_RTOL * (1.0 + fabs(float_at(dt, mag, i)));
            if (a == b || (isnan(a) && isnan(b)) || fabs(a - b) <= bound)
                continue;
            index_text(t, i, where, sizeof where);
            snprintf(check->message, sizeof check->message,
                     "output %s%s: got %.9g, want %.9g (|diff| %.3g > bound %.3g)",
                     ts_tensor_name(t), where, a, b, fabs(a - b), bound);
            return false;
        }
        const unsigned char *pa = (const unsigned char *)got + (size_t)i * width;
        const unsigned char *pb = (const unsigned char *)want + (size_t)i * width;
        if (memcmp(pa, pb, width) == 0)
            continue;
        index_text(t, i, where, sizeof where);
        int_text(dt, pa, g, sizeof g);
        int_text(dt, pb, w, sizeof w);
        snprintf(check->message, sizeof check->message, "output %s%s: got %s, want %s (exact)",
                 ts_tensor_name(t), where, g, w);
        return false;
    }
    return true;
}

static TsStatus fail(SchCheck *check, const char *stage, TsStatus status, const char *message)
{
    check->status = status;
    check->stage = stage;
    snprintf(check->message, sizeof check->message, "%s", message);
    return status;
}

TsStatus sch_check_lowered(const TsLoweredFunc *func, int num_outputs, TsTensor *const *outputs,
                           uint64_t seed, SchCheck *check)
{
    enum { MAX_ARGS = 32 };
    memset(check, 0, sizeof *check);
    check->stage = "run";
    int nargs = ts_lowered_num_args(func);
    if (nargs < 1 || nargs > MAX_ARGS || num_outputs < 1 || num_outputs > MAX_ARGS)
        return fail(check, "run", TS_EINVAL, "unexpected argument count");
    TsBinding run[MAX_ARGS], oracle[MAX_ARGS], magnitude[MAX_ARGS];
    void *owned[3 * MAX_ARGS];
    int num_owned = 0, num_inputs = 0;
    TsStatus status = TS_OK;
    SchRng rng = { seed };
    TsError err;

    /* The arguments of the lowered function: random inputs, poisoned outputs. */
    for (int i = 0; i < nargs; i++) {
        const TsTensor *t = ts_lowered_arg(func, i);
        void *data = malloc(num_bytes(t));
        if (!data)
            return fail(check, "run", TS_ENOMEM, "out of memory");
        owned[num_owned++] = data;
        if (ts_tensor_is_placeholder(t)) {
            fill_random(&rng, t, data);
            void *copy = malloc(num_bytes(t));
            if (!copy) {
                status = fail(check, "run", TS_ENOMEM, "out of memory");
                goto out_free;
            }
            owned[num_owned++] = copy;
            memcpy(copy, data, num_bytes(t));
            make_magnitude(t, copy);
            oracle[num_inputs] = (TsBinding){ t, data };
            magnitude[num_inputs++] = (TsBinding){ t, copy };
        } else {
            memset(data, 0xA5, num_bytes(t));
        }
        run[i] = (TsBinding){ t, data };
    }
    status = ts_lowered_run(func, nargs, run, &err);
    if (status != TS_OK) {
        fail(check, "run", status, err.message);
        goto out_free;
    }

    /* The oracle, twice: on the inputs, and on their magnitudes for the float bound. */
    int num_oracle = num_inputs;
    for (int o = 0; o < num_outputs; o++) {
        void *want = malloc(num_bytes(outputs[o])), *mag = malloc(num_bytes(outputs[o]));
        if (want)
            owned[num_owned++] = want;
        if (mag)
            owned[num_owned++] = mag;
        if (!want || !mag) {
            status = fail(check, "evaluate", TS_ENOMEM, "out of memory");
            goto out_free;
        }
        oracle[num_oracle] = (TsBinding){ outputs[o], want };
        magnitude[num_oracle++] = (TsBinding){ outputs[o], mag };
    }
    status = ts_evaluate(num_outputs, outputs, num_oracle, oracle, &err);
    if (status == TS_OK)
        status = ts_evaluate(num_outputs, outputs, num_oracle, magnitude, &err);
    if (status != TS_OK) {
        fail(check, "evaluate", status, err.message);
        goto out_free;
    }

    check->stage = "compare";
    for (int o = 0; o < num_outputs; o++) {
        const void *got = NULL;
        for (int i = 0; i < nargs; i++)
            if (run[i].tensor == outputs[o])
                got = run[i].data;
        if (!got) {
            status = fail(check, "compare", TS_EINVAL, "an output is not an argument");
            goto out_free;
        }
        if (!compare_output(outputs[o], got, oracle[num_inputs + o].data,
                            magnitude[num_inputs + o].data, check)) {
            status = check->status = TS_EINVAL;
            goto out_free;
        }
    }
out_free:
    for (int i = 0; i < num_owned; i++)
        free(owned[i]);
    return status;
}
