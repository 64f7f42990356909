/* The AArch64 section of bench_lowbit (bench_lowbit_aarch64.c): llvm-mca-16 estimates,
 * not timings, of the bitserial kernels' inner loops beside the fp32 and int8 ones. */
#ifndef TESSERA_BENCH_LOWBIT_AARCH64_H
#define TESSERA_BENCH_LOWBIT_AARCH64_H

#include <stddef.h>

/* Prints the section and appends its key=value fields to result (size bytes), among them
 * aarch64_ratio, the worst of the three AArch64 targets' (estimate ratio / target): 1.0
 * or more means every target is met. Returns that ratio, or 0 when nothing could be
 * estimated (llvm-mca-16 missing; said in the output). */
double bench_lowbit_aarch64_section(char *result, size_t size);

#endif /* TESSERA_BENCH_LOWBIT_AARCH64_H */
