/* What the tuned-kernel benchmarks share: tune an operator on this machine (resuming a
 * log, so that a second run reuses what the first measured), then JIT-compile the best
 * config the log holds. */
#ifndef TESSERA_BENCH_TUNED_KERNEL_H
#define TESSERA_BENCH_TUNED_KERNEL_H

#include <stdbool.h>

#include "tessera/autotune.h"
#include "tessera/codegen.h"

enum { TUNED_MAX_ARGS = TS_TEMPLATE_MAX_TENSORS };

typedef struct TunedKernel {
    TsTuneTask *task;
    TsConfig config;
    TsTuneRecord best;      /* the record it came from */
    double tuning_seconds;  /* this run's tuning, 0 when the log had enough */
    int trials;             /* records of the task in the log */
    TsArena *arena;
    TsLoweredFunc *func;
    TsJitModule *jit;
    TsPackedFunc kernel;
    int num_args;
    const TsTensor *args[TUNED_MAX_ARGS]; /* in the kernel's order */
} TunedKernel;

/* Tunes op with args for "llvm" (this machine; one thread: TS_NUM_THREADS=1 must be set
 * before) until log_path holds trials records of the task (none are measured when it
 * already does), then builds the best with target (the parsed "llvm"). */
TsStatus tuned_kernel_build(const char *op, const TsTemplateArgs *args, int trials,
                            const char *log_path, const TsTarget *target, TunedKernel *out,
                            TsError *err);
/* As tuned_kernel_build, for the target string target_text (run on this machine, so a
 * subset of its features: "llvm -mattr=-amx-tile" picks the templates that need no AMX),
 * target its parse. */
TsStatus tuned_kernel_build_for(const char *op, const TsTemplateArgs *args, int trials,
                                const char *log_path, const char *target_text,
                                const TsTarget *target, TunedKernel *out, TsError *err);
/* Builds the template's default config for op with args, its knob "parallel" (when the
 * space has one) set to parallel: no tuning, no log. */
TsStatus tuned_kernel_build_default(const char *op, const TsTemplateArgs *args, int64_t parallel,
                                    const TsTarget *target, TunedKernel *out, TsError *err);
void tuned_kernel_free(TunedKernel *tk);

/* The trials per task: BENCH_TUNE_TRIALS or the default. */
int tuned_kernel_trials(int default_trials);

#endif /* TESSERA_BENCH_TUNED_KERNEL_H */
