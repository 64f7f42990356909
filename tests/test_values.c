/* Random test data and the output comparison shared by the kernel tests: see
 * test_values.h. */
#include "test_values.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "te/te_internal.h"

uint64_t tv_rng_next(TvRng *rng)
{
    uint64_t z = (rng->state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

int64_t tv_rng_int(TvRng *rng, int64_t lo, int64_t hi)
{
    uint64_t span = (uint64_t)(hi - lo) + 1;
    return lo + (int64_t)(tv_rng_next(rng) % span);
}

/* Uniform in [-1, 1). */
static double rand_unit(TvRng *rng)
{
    return (double)(tv_rng_next(rng) >> 11) * (2.0 / 9007199254740992.0) - 1.0;
}

size_t tv_num_bytes(const TsTensor *t)
{
    return (size_t)ts_tensor_num_elements(t) * ts_dtype_bytes(ts_tensor_dtype(t));
}

void tv_fill_random(TvRng *rng, const TsTensor *t, void *data)
{
    TsDType dt = ts_tensor_dtype(t);
    int64_t n = ts_tensor_num_elements(t);
    for (int64_t i = 0; i < n; i++) {
        if (dt.code == TS_TYPE_BFLOAT)
            ((uint16_t *)data)[i] = ts_float_to_bfloat16((float)(4.0 * rand_unit(rng)));
        else if (dt.code == TS_TYPE_FLOAT && dt.bits == 16)
            ((uint16_t *)data)[i] = te_float_to_half((float)(4.0 * rand_unit(rng)));
        else if (dt.code == TS_TYPE_FLOAT && dt.bits == 32)
            ((float *)data)[i] = (float)rand_unit(rng);
        else if (dt.code == TS_TYPE_FLOAT)
            ((double *)data)[i] = rand_unit(rng);
        else if (dt.code == TS_TYPE_BOOL)
            ((uint8_t *)data)[i] = (uint8_t)(tv_rng_next(rng) & 1);
        else if (dt.bits == 8)
            ((uint8_t *)data)[i] = (uint8_t)tv_rng_next(rng);
        else if (dt.bits == 16)
            ((uint16_t *)data)[i] = (uint16_t)tv_rng_next(rng);
        else if (dt.bits == 32)
            ((int32_t *)data)[i] = (int32_t)tv_rng_int(rng, -1000, 1000);
        else
            ((int64_t *)data)[i] = tv_rng_int(rng, -1000, 1000);
    }
}

void tv_make_magnitude(const TsTensor *t, void *data)
{
    TsDType dt = ts_tensor_dtype(t);
    int64_t n = ts_tensor_num_elements(t);
    for (int64_t i = 0; ts_dtype_is_float(dt) && i < n; i++) {
        if (dt.bits == 16) /* float16 or bfloat16: the sign is the top bit */
            ((uint16_t *)data)[i] &= 0x7fff;
        else if (dt.bits == 32)
            ((float *)data)[i] = fabsf(((float *)data)[i]);
        else
            ((double *)data)[i] = fabs(((double *)data)[i]);
    }
}

static double float_at(TsDType dt, const void *data, int64_t i)
{
    if (dt.bits == 16)
        return te_half_to_float(((const uint16_t *)data)[i]);
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

bool tv_compare_output(const TsTensor *t, const void *got, const void *want, const void *mag,
                       double (*rtol)(TsDType dtype), int64_t *elements, char *message,
                       size_t size)
{
    TsDType dt = ts_tensor_dtype(t);
    int64_t n = ts_tensor_num_elements(t);
    size_t width = ts_dtype_bytes(dt);
    char where[128], g[64], w[64];
    for (int64_t i = 0; i < n; i++) {
        if (elements)
            (*elements)++;
        if (dt.code == TS_TYPE_FLOAT) {
            double a = float_at(dt, got, i), b = float_at(dt, want, i);
            double bound = rtol(dt) * (1.0 + fabs(float_at(dt, mag, i)));
            if (a == b || (isnan(a) && isnan(b)) || fabs(a - b) <= bound)
                continue;
            index_text(t, i, where, sizeof where);
            snprintf(message, size, "output %s%s: got %.9g, want %.9g (|diff| %.3g > bound %.3g)",
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
        snprintf(message, size, "output %s%s: got %s, want %s (exact)", ts_tensor_name(t), where,
                 g, w);
        return false;
    }
    return true;
}
