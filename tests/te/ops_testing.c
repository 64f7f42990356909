/* Shared helpers of the operator-library tests: see ops_testing.h. Failures print what
 * differed (index, value got, value expected, tolerance) before failing the test. */
#include "ops_testing.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ops_rng_seed(OpsRng *rng, uint64_t seed)
{
    rng->state = seed * 0x9E3779B97F4A7C15ull + 1;
}

static uint64_t next_u64(OpsRng *rng)
{
    rng->state ^= rng->state >> 12;
    rng->state ^= rng->state << 25;
    rng->state ^= rng->state >> 27;
    return rng->state * 0x2545F4914F6CDD1Dull;
}

float ops_rand_f32(OpsRng *rng)
{
    return (float)((double)(next_u64(rng) >> 40) / (double)(1ull << 23) - 1.0);
}

int ops_rand_int(OpsRng *rng, int lo, int hi)
{
    return lo + (int)(next_u64(rng) % (uint64_t)(hi - lo + 1));
}

void ops_fill_f32(OpsRng *rng, float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = ops_rand_f32(rng);
}

void ops_fill_i8(OpsRng *rng, int8_t *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (int8_t)ops_rand_int(rng, -128, 127);
}

TsTensor *ops_placeholder(TsArena *arena, const char *name, TsDType dtype, int ndim,
                          const int64_t *shape)
{
    TsTensor *t = ts_placeholder(arena, name, ndim, shape, dtype);
    ops_expect_built(arena, t);
    return t;
}

void *ops_buffer(const TsTensor *t)
{
    int64_t n = ts_tensor_num_elements(t);
    assert_true(n >= 1);
    void *buf = calloc((size_t)n, ts_dtype_bytes(ts_tensor_dtype(t)));
    assert_non_null(buf);
    return buf;
}

void *ops_random_buffer(OpsRng *rng, const TsTensor *t)
{
    void *buf = ops_buffer(t);
    TsDType dtype = ts_tensor_dtype(t);
    size_t n = (size_t)ts_tensor_num_elements(t);

    if (ts_dtype_eq(dtype, TS_FLOAT32)) {
        ops_fill_f32(rng, buf, n);
    } else if (ts_dtype_eq(dtype, TS_INT8)) {
        ops_fill_i8(rng, buf, n);
    } else if (ts_dtype_eq(dtype, TS_INT32)) {
        for (size_t i = 0; i < n; i++)
            ((int32_t *)buf)[i] = ops_rand_int(rng, -1000, 1000);
    } else {
        fail_msg("ops_random_buffer: no filler for tensor %s", ts_tensor_name(t));
    }
    return buf;
}

void ops_expect_built(TsArena *arena, const TsTensor *t)
{
    if (t == NULL)
        fail_msg("builder failed: %s", ts_arena_error(arena)->message);
    assert_true(ts_arena_ok(arena));
}

void ops_evaluate(TsTensor *out, void *out_data, int num_inputs, const TsBinding *inputs)
{
    TsBinding bindings[16];
    TsError err;

    assert_true(num_inputs >= 0 && num_inputs < 16);
    for (int i = 0; i < num_inputs; i++)
        bindings[i] = inputs[i];
    bindings[num_inputs] = (TsBinding){ out, out_data };
    ts_error_clear(&err);
    TsStatus status = ts_evaluate(1, &out, num_inputs + 1, bindings, &err);
    if (status != TS_OK)
        fail_msg("ts_evaluate of %s: %s: %s", ts_tensor_name(out), ts_status_name(status),
                 err.message);
}

void ops_expect_shape(const TsTensor *t, int ndim, const int64_t *dims)
{
    assert_int_equal(ts_tensor_ndim(t), ndim);
    for (int i = 0; i < ndim; i++)
        if (ts_tensor_dim(t, i) != dims[i])
            fail_msg("%s: dimension %d is %lld, expected %lld", ts_tensor_name(t), i,
                     (long long)ts_tensor_dim(t, i), (long long)dims[i]);
}

void ops_expect_tag(const TsTensor *t, const char *name, const char *tag)
{
    assert_non_null(t);
    assert_string_equal(ts_tensor_name(t), name);
    assert_string_equal(ts_tensor_tag(t), tag);
}

void ops_expect_f32_within(const float *got, const double *want, const double *bound, size_t n,
                           const char *what)
{
    for (size_t i = 0; i < n; i++) {
        double diff = fabs((double)got[i] - want[i]);
        double tol = bound ? bound[i] : 0.0;
        bool same_nan = isnan(got[i]) && isnan(want[i]);
        bool same_inf = isinf(got[i]) && (double)got[i] == want[i];
        if (!same_nan && !same_inf && !(diff <= tol))
            fail_msg("%s: element %zu is %.9g, expected %.9g (difference %.3g > tolerance %.3g)",
                     what, i, (double)got[i], want[i], diff, tol);
    }
}

void ops_expect_f32_equal(const float *got, const float *want, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(&got[i], &want[i], sizeof got[i]) != 0)
            fail_msg("%s: element %zu is %.9g, expected %.9g", what, i, (double)got[i],
                     (double)want[i]);
}

void ops_expect_i32_equal(const int32_t *got, const int64_t *want, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++)
        if ((int64_t)got[i] != want[i])
            fail_msg("%s: element %zu is %lld, expected %lld", what, i, (long long)got[i],
                     (long long)want[i]);
}

void ops_expect_bytes_equal(const void *got, const void *want, size_t n, const char *what)
{
    const unsigned char *g = got, *w = want;
    for (size_t i = 0; i < n; i++)
        if (g[i] != w[i])
            fail_msg("%s: byte %zu is 0x%02x, expected 0x%02x", what, i, g[i], w[i]);
}

void ops_expect_error(TsArena *arena, const TsTensor *result, const char *substring)
{
    const TsError *err = ts_arena_error(arena);

    if (result != NULL)
        fail_msg("expected an error containing \"%s\", but the builder succeeded", substring);
    if (err->status != TS_EINVAL)
        fail_msg("expected TS_EINVAL with \"%s\", got %s: %s", substring,
                 ts_status_name(err->status), err->message);
    if (strstr(err->message, substring) == NULL)
        fail_msg("the message \"%s\" does not contain \"%s\"", err->message, substring);
    ts_arena_clear_error(arena);
}
