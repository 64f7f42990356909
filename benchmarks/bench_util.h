/* What the benchmarks share: timing with the runtime's time evaluator, medians, the
 * OpenBLAS side run in child processes (one per core type), and the values check.
 *
 * OpenBLAS reads OPENBLAS_CORETYPE (and OPENBLAS_NUM_THREADS) once, when it loads, so a
 * benchmark cannot try several of its kernels in one process. It runs itself again
 * instead: bench_openblas_child() starts this very program (/proc/self/exe) with
 * "--openblas-child" and the benchmark's own arguments, in an environment that names
 * the core type and the thread count, and reads back the costs the child measured with
 * the same time evaluator the Tessera side uses. The child's main hands those arguments
 * to the benchmark's child function, which prints its costs with bench_child_report().
 */
#ifndef TESSERA_BENCH_UTIL_H
#define TESSERA_BENCH_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tessera/codegen.h"
#include "tessera/tessera.h"

/* The core types of OpenBLAS's AVX-512 and AVX2 kernels for this machine's CPU family. */
enum { BENCH_NUM_CORETYPES = 3 };
extern const char *const bench_coretypes[BENCH_NUM_CORETYPES];

/* The first argument that makes a benchmark's main run as an OpenBLAS child. */
#define BENCH_CHILD_FLAG "--openblas-child"

/* Most costs one measurement collects. */
enum { BENCH_MAX_COSTS = 256 };

/* A list of costs in seconds, appended to round after round. */
typedef struct BenchCosts {
    double values[BENCH_MAX_COSTS];
    int count;
} BenchCosts;

void bench_costs_add(BenchCosts *costs, const double *values, int count);
/* flop over the median cost, in GFLOPS; 0 for an empty series. */
double bench_gflops(const BenchCosts *costs, double flop);
/* The fastest core type's GFLOPS of one series per core type, and which it was. */
double bench_best_gflops(const BenchCosts series[BENCH_NUM_CORETYPES], double flop, int *best);
/* BENCH_ROUNDS from the environment, or default_rounds. */
int bench_rounds(int default_rounds);
/* The median (the mean of the middle two for an even count); 0 when empty. */
double bench_median(const BenchCosts *costs);

/* The way every side is timed: the runtime's time evaluator (one warm-up call, then
 * `repeat` costs, each the mean over enough back-to-back calls to fill min_repeat_ms). */
TsTimeOptions bench_time_options(int repeat, double min_repeat_ms);

/* Times func(args) with options and appends the costs. */
TsStatus bench_time(TsPackedFunc func, const TsValue *args, const int32_t *type_codes,
                    int32_t num_args, const TsTimeOptions *options, BenchCosts *costs,
                    TsError *err);

/* Runs this program as an OpenBLAS child: argv is { self, BENCH_CHILD_FLAG, args... },
 * with OPENBLAS_CORETYPE=coretype and OPENBLAS_NUM_THREADS=threads in its environment.
 * Appends the costs the child reports (and its second series, when extra is not NULL)
 * and copies the core name OpenBLAS says it loaded into corename. A child that fails,
 * or reports nothing, is an error naming it. */
TsStatus bench_openblas_child(const char *coretype, int threads, int num_args,
                              const char *const *args, BenchCosts *costs, BenchCosts *extra,
                              char *corename, size_t corename_size, TsError *err);

/* In the child: openblas_set_num_threads from OPENBLAS_NUM_THREADS (so that the count
 * holds whatever OpenBLAS chose at load), and the core name it loaded. */
const char *bench_child_setup(void);
/* In the child: prints the report bench_openblas_child reads; extra (may be NULL) is a
 * second series of costs, e.g. of a part of the work. */
void bench_child_report(const char *corename, const BenchCosts *costs, const BenchCosts *extra);

/* Deterministic inputs: uniform floats in [-1, 1) from a splitmix64 stream. */
void bench_fill_uniform(float *data, size_t count, uint64_t seed);

/* The largest |got - want| / magnitude over count elements, where magnitude is the same
 * computation on the absolute values of the inputs (the sum of |terms|: the scale of
 * the rounding error a reordered float sum may make). */
double bench_max_relative_error(const float *got, const float *want, const float *magnitude,
                                size_t count);

/* A tensor argument of the packed ABI over a dense buffer. */
typedef struct BenchTensorArg {
    TsDLTensor dl;
    int64_t shape[TS_MAX_DIMS];
} BenchTensorArg;

void bench_tensor_arg(BenchTensorArg *arg, void *data, int ndim, const int64_t *shape);

/* 64-byte aligned memory for count floats (aborts the benchmark when there is none). */
float *bench_alloc_floats(size_t count);

/* Prints "<what>: <status>: <message>" on stderr and returns 1, for main's error paths. */
int bench_report_error(const char *what, const TsError *err);

/* A line describing the machine (the CPU model, the online CPUs) and the target LLVM
 * compiles for (its -mcpu and whether AVX-512 is on). */
void bench_print_machine(const TsTarget *target);

#endif /* TESSERA_BENCH_UTIL_H */
