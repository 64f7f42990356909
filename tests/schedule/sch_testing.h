/* Helpers for the schedule tests (tests/schedule/test_*.c): a deterministic random
 * generator, and the value check every lowering test makes (built on the shared data and
 * comparison of tests/test_values.h): run the lowered loop nest
 * (ts_lowered_run) on random inputs and compare each output with the reference
 * interpreter (ts_evaluate) on the same DAG, so that no golden file and no property
 * case can bless a wrong loop nest.
 *
 * Tolerance. Integer and bool outputs must be equal bit for bit. A float output element
 * may differ from the oracle only by rounding, because schedules reorder reductions:
 *     |got - want| <= 1e-4 * (1 + mag)
 * where mag is the same DAG evaluated on the absolute values of the inputs. For a sum
 * of products (matmul, dense, conv2d, avg pooling) mag is exactly the sum of |terms|,
 * the scale of the classic bound on reordered float32 summation (n * 2^-23 * sum|terms|,
 * far below 1e-4 * sum|terms| for the reduction lengths used here); for the other
 * operators it is a value of the output's magnitude. NaNs must match NaNs.
 */
#ifndef TESSERA_TESTS_SCH_TESTING_H
#define TESSERA_TESTS_SCH_TESTING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tessera/tessera.h"
#include "test_values.h"

/* splitmix64 (test_values.h). */
typedef TvRng SchRng;

uint64_t sch_rng_next(SchRng *rng);
/* Uniform in [lo, hi] (lo <= hi). */
int64_t sch_rng_int(SchRng *rng, int64_t lo, int64_t hi);
/* True with probability percent / 100. */
int sch_rng_chance(SchRng *rng, int percent);

#define SCH_FLOAT_RTOL 1e-4

typedef struct SchCheck {
    TsStatus status;    /* TS_OK: every output matched */
    const char *stage;  /* "run" (ts_lowered_run), "evaluate" (the oracle), "compare" */
    int64_t elements;   /* output elements compared */
    char message[1024]; /* the error, or the first mismatching element */
} SchCheck;

/* Runs func on random inputs drawn from seed and compares its outputs (outputs, in
 * the schedule's order) with ts_evaluate. Fills check; returns check->status. */
TsStatus sch_check_lowered(const TsLoweredFunc *func, int num_outputs, TsTensor *const *outputs,
                           uint64_t seed, SchCheck *check);

/* The matmul chain two schedule test files start from, with distinct axis names (so a
 * message naming "j" can only mean mm's axis):
 *     scaled[si, sk] = a[si, sk] * 2                      (elementwise, intermediate)
 *     mm[i, j]       = sum_k scaled[i, k] * b[k, j]       (reduction, intermediate)
 *     out[oi, oj]    = mm[oi, oj] + 1                     (the output)
 * a [16, 8], b [8, 12], float32, and a fresh schedule of out. */
typedef struct SchChain {
    TsTensor *a, *b, *scaled, *mm, *out;
    TsAxis *si, *sk, *i, *j, *k, *oi, *oj;
    TsSchedule *sch;
    TsStage *s_scaled, *s_mm, *s_out;
} SchChain;

/* Builds the chain in A; false (the arena's error printed) when the arena failed. */
bool sch_chain_build(TsArena *A, SchChain *c);

#endif /* TESSERA_TESTS_SCH_TESTING_H */
