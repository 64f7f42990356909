/* Random test data and the output comparison shared by the tests that check lowered or
 * compiled kernels against the reference interpreter (tests/schedule/sch_testing.c,
 * tests/codegen/cg_testing.c): one splitmix64 generator, one way to fill a tensor, one
 * way to take magnitudes, one element-by-element comparison. */
#ifndef TESSERA_TESTS_TEST_VALUES_H
#define TESSERA_TESTS_TEST_VALUES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tessera/tessera.h"

/* splitmix64: tiny, fast, and every seed gives a good stream. */
typedef struct TvRng {
    uint64_t state;
} TvRng;

uint64_t tv_rng_next(TvRng *rng);
/* Uniform in [lo, hi] (lo <= hi). */
int64_t tv_rng_int(TvRng *rng, int64_t lo, int64_t hi);

/* Bytes of t's dense data. */
size_t tv_num_bytes(const TsTensor *t);
/* Random values of t's dtype: floats in [-1, 1) (float16 and bfloat16 in [-4, 4)), 8- and 16-bit
 * integers over their whole range (so wrap-around and exact accumulation are
 * exercised), wider ones in [-1000, 1000], bools 0 or 1. */
void tv_fill_random(TvRng *rng, const TsTensor *t, void *data);
/* |x| of float data in place (float16 and bfloat16 included); other dtypes are left as they are. */
void tv_make_magnitude(const TsTensor *t, void *data);

/* Compares output t element by element: integers and bools bit for bit, floats within
 * rtol(dtype) * (1 + mag) where mag is the output on the inputs' magnitudes; NaN equals
 * NaN. bfloat16 outputs (casts only) are compared bit for bit. On a mismatch returns false with the element, both values and the bound in
 * message. *elements (if not NULL) counts the elements compared. */
bool tv_compare_output(const TsTensor *t, const void *got, const void *want, const void *mag,
                       double (*rtol)(TsDType dtype), int64_t *elements, char *message,
                       size_t size);

#endif /* TESSERA_TESTS_TEST_VALUES_H */
