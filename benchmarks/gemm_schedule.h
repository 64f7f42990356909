/* The fp32 matrix product of the benchmarks and its hand-written schedule, shared by
 * bench_gemm (which times it) and bench_compile (which times building it). */
#ifndef TESSERA_BENCH_GEMM_SCHEDULE_H
#define TESSERA_BENCH_GEMM_SCHEDULE_H

#include <stdbool.h>
#include <stdint.h>

#include "tessera/tessera.h"

/* The knobs of the schedule (gemm_schedule.c says what each does). */
typedef struct GemmConfig {
    int64_t bn;    /* packed panel width of B = register tile columns (floats) */
    int64_t mr;    /* register tile rows */
    int64_t ku;    /* k unrolled by this much inside the tile */
    bool parallel; /* the panel loop and the packing run on the thread pool */
} GemmConfig;

/* The best configuration found for this machine (AVX-512), serial or parallel. */
GemmConfig gemm_config_default(bool parallel);

/* C[m, n] = sum_k A[m, k] * B[k, n] with B packed inside the kernel, scheduled by config
 * and lowered to a kernel called name, with arguments A, B, C. Everything lives in
 * arena. The DAG's output is stored in *output when output is not NULL. */
TsStatus gemm_build(TsArena *arena, int64_t m, int64_t n, int64_t k, const GemmConfig *config,
                    const char *name, TsTensor **output, TsLoweredFunc **func, TsError *err);

#endif /* TESSERA_BENCH_GEMM_SCHEDULE_H */
