/* Helpers for the operator-library tests (test_ops_*.c): a deterministic random
 * generator, placeholders, evaluation with the reference interpreter, comparisons with
 * stated tolerances, and checks of the errors builders report.
 *
 * Include after <cmocka.h>'s prerequisites; this header includes them itself.
 */
#ifndef TESSERA_TESTS_OPS_TESTING_H
#define TESSERA_TESTS_OPS_TESTING_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tessera/tessera.h"

/* The unit roundoff of float32 doubled (2^-23): the tolerances below are multiples of it
 * scaled by the length of a reduction and the magnitude of its terms, the classic
 * bound on recursive summation error. */
#define OPS_F32_EPS (1.0 / 8388608.0)

/* xorshift64*: reproducible inputs, so a failure can be replayed. */
typedef struct OpsRng {
    uint64_t state;
} OpsRng;

void ops_rng_seed(OpsRng *rng, uint64_t seed);
/* Uniform in [-1, 1). */
float ops_rand_f32(OpsRng *rng);
/* Uniform in [lo, hi]. */
int ops_rand_int(OpsRng *rng, int lo, int hi);
void ops_fill_f32(OpsRng *rng, float *x, size_t n);
/* The full int8 range, so products and sums test exact accumulation. */
void ops_fill_i8(OpsRng *rng, int8_t *x, size_t n);

/* A placeholder of the given shape; fails the test if the builder fails. */
TsTensor *ops_placeholder(TsArena *arena, const char *name, TsDType dtype, int ndim,
                          const int64_t *shape);
/* A zeroed buffer for a tensor's elements (free with free()). */
void *ops_buffer(const TsTensor *t);
/* A buffer for t filled with random values of its dtype (float32: [-1, 1), int8: all,
 * int32: [-1000, 1000]). */
void *ops_random_buffer(OpsRng *rng, const TsTensor *t);

/* Fails the test with the arena's message unless t was built. */
void ops_expect_built(TsArena *arena, const TsTensor *t);
/* Evaluates out into out_data with the given input bindings; fails with the
 * interpreter's message on error. */
void ops_evaluate(TsTensor *out, void *out_data, int num_inputs, const TsBinding *inputs);
void ops_expect_shape(const TsTensor *t, int ndim, const int64_t *dims);
void ops_expect_tag(const TsTensor *t, const char *name, const char *tag);

/* |got[i] - want[i]| <= bound[i] for every i (bound NULL: exact equality). */
void ops_expect_f32_within(const float *got, const double *want, const double *bound, size_t n,
                           const char *what);
void ops_expect_f32_equal(const float *got, const float *want, size_t n, const char *what);
void ops_expect_i32_equal(const int32_t *got, const int64_t *want, size_t n, const char *what);
void ops_expect_bytes_equal(const void *got, const void *want, size_t n, const char *what);

/* A builder failed as it should: result NULL, status TS_EINVAL, message containing
 * substring. Clears the arena's error for the next case. */
void ops_expect_error(TsArena *arena, const TsTensor *result, const char *substring);

#endif /* TESSERA_TESTS_OPS_TESTING_H */
