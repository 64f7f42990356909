/* llvm-mca-16 estimates of a kernel's inner loop on AArch64 cores (aarch64_estimate.c),
 * shared by bench_lowp and bench_lowbit: qemu gives no timings, so the default config of a
 * template is compiled for an AArch64 target, the innermost loop holding products is cut
 * out of the assembly and llvm-mca-16 estimates its cycles per iteration on each core. */
#ifndef TESSERA_BENCH_AARCH64_ESTIMATE_H
#define TESSERA_BENCH_AARCH64_ESTIMATE_H

#include <stdbool.h>

#include "tessera/template.h"

enum { AARCH64_MAX_CPUS = 4 };

typedef struct Aarch64LoopEstimate {
    char template_name[64];
    int instructions; /* of the inner loop */
    /* products per iteration, counted from the instructions: fmla .4s 4, sdot .4s 16,
     * mla .16b 16, smlal/umlal/smull/umull one per destination lane, cnt .16b 128 (one-bit
     * products) */
    int products;
    double cycles[AARCH64_MAX_CPUS];    /* per iteration, < 0 when llvm-mca failed */
    double per_cycle[AARCH64_MAX_CPUS]; /* products per cycle, 0 when unknown */
    char why[512];                      /* what failed, on failure */
} Aarch64LoopEstimate;

/* Whether llvm-mca-16 runs here. */
bool aarch64_estimate_available(void);
/* The estimate of op's default config on args for target ("llvm -mtriple=aarch64-linux-gnu
 * -mattr=+neon") on each of cpus (llvm-mca -mcpu names); 0, or -1 with out->why. */
int aarch64_estimate_inner_loop(const char *op, const TsTemplateArgs *args, const char *target,
                                int num_cpus, const char *const *cpus, Aarch64LoopEstimate *out);

#endif /* TESSERA_BENCH_AARCH64_ESTIMATE_H */
