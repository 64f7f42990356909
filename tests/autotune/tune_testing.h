/* Helpers of the measurer, log and tuning-loop tests: two small templates registered for
 * the tests, warning capture, and temporary files. */
#ifndef TESSERA_TESTS_AUTOTUNE_TUNE_TESTING_H
#define TESSERA_TESTS_AUTOTUNE_TUNE_TESTING_H

#include <stdbool.h>
#include <stddef.h>

#include "tessera/tessera.h"

/* Registers (once) the test templates:
 *   "test_matmul" (op "test_matmul"): C[i, j] = sum_k A[i, k] * B[k, j] with M, N, K;
 *     knobs tile_i (split), tile_j (split), inner (annotate: none / unroll / vec);
 *   "test_isolation" (op "test_isolation"): B[i] = A[i] + 1 with N; knob "mode":
 *     0 builds fine, 1 aborts in instantiate, 2 hangs in instantiate, 3 is refused by
 *     the schedule language (TS_ESCHEDULE). */
void tt_register_templates(void);

/* A task of op with M, N, K (or N alone when m and k are 0) on "llvm"; fails the test
 * on error. */
TsTuneTask *tt_task(const char *op, long m, long n, long k);

/* Collected warnings. */
typedef struct TtWarnings {
    int count;
    char text[4096];
} TtWarnings;
void tt_warn(const char *message, void *user);

/* A fresh path in a temporary directory made for this test process. */
const char *tt_temp_path(const char *name);

/* The number of lines of a file. */
int tt_count_lines(const char *path);

#endif /* TESSERA_TESTS_AUTOTUNE_TUNE_TESTING_H */
