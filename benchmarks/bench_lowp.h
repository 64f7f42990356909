/* What bench_lowp's files share: the AArch64 estimates (aarch64_estimate.c), printed by
 * the benchmark's report. */
#ifndef TESSERA_BENCH_LOWP_H
#define TESSERA_BENCH_LOWP_H

/* Prints llvm-mca-16's estimates of the int8 and fp32 conv2d inner loops for AArch64
 * (cortex-a76 and cortex-a55), in products per cycle; a note when llvm-mca-16 is
 * missing. */
void bench_lowp_print_aarch64_estimates(void);

#endif /* TESSERA_BENCH_LOWP_H */
