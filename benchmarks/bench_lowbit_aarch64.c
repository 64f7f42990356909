/* The AArch64 section of bench_lowbit. qemu gives no timings, so this section estimates:
 * for each ResNet-18 3x3 layer (64 channels 56x56, 128 28x28, 256 14x14, 512 7x7; stride 1,
 * pad 1, batch 1) the default config of each kernel is compiled for AArch64, the innermost
 * loop holding products is cut out of the assembly and llvm-mca-16 estimates its cycles
 * per iteration on cortex-a76 (dotprod) and cortex-a53 (no dot product), through
 * aarch64_estimate.c. Products are the layer's multiply-adds, counted from the
 * instructions (mla .16b 16, umlal .8h 8, fmla .4s 4, sdot .4s 16, smull .8h 8, cnt .16b
 * 128 one-bit products: one A1W1 multiply-add each).
 *
 * Kernels: bitserial_conv2d at A1W1, A2W1, A2W2, A4W4 and A8W8 (the AArch64 templates:
 * and + cnt + uadalp at one bit, mla with periodic widening at the lowest widths, umlal +
 * uadalp above), conv2d in fp32 (NEON fmla), and conv2d in int8 with sdot (dotprod, on
 * the a76 only) and with smull + sadalp (NEON only).
 *
 * Targets, on the estimates of the inner loops (not the whole kernel: the output stage
 * and the padding are left out on both sides): A1W1 >= 6x fp32 on the a76; A2W2 >= 1.5x
 * and A4W4 >= 1.0x the int8 smull kernel on the a53. Reported per layer and as the worst
 * over the layers. */
#include <stdio.h>
#include <string.h>

#include "benchmarks/aarch64_estimate.h"
#include "benchmarks/bench_lowbit_aarch64.h"

enum { NUM_LAYERS = 4, NUM_KERNELS = 8, A76 = 0, A53 = 1 };
enum { K_A1W1, K_A2W1, K_A2W2, K_A4W4, K_A8W8, K_FP32, K_SDOT, K_SMLAL };

static const char *const neon = "llvm -mtriple=aarch64-linux-gnu -mattr=+neon";
static const char *const dotprod = "llvm -mtriple=aarch64-linux-gnu -mattr=+neon,+dotprod";
static const char *const cpus[2] = { "cortex-a76", "cortex-a53" };

typedef struct Kernel {
    const char *label, *op, *dtype, *target;
    int abits, wbits; /* 0 for the fp32 and int8 conv2d */
    bool a76_only;
} Kernel;

static const Kernel kernels[NUM_KERNELS] = {
    { "A1W1", "bitserial_conv2d", "", NULL, 1, 1, false },
    { "A2W1", "bitserial_conv2d", "", NULL, 2, 1, false },
    { "A2W2", "bitserial_conv2d", "", NULL, 2, 2, false },
    { "A4W4", "bitserial_conv2d", "", NULL, 4, 4, false },
    { "A8W8", "bitserial_conv2d", "", NULL, 8, 8, false },
    { "fp32", "conv2d", "", NULL, 0, 0, false },
    { "int8 sdot", "conv2d", "int8", "dotprod", 0, 0, true },
    { "int8 smull", "conv2d", "int8", NULL, 0, 0, false },
};

static const int64_t layers[NUM_LAYERS][2] = { { 64, 56 }, { 128, 28 }, { 256, 14 }, { 512, 7 } };

static TsTemplateArgs layer_args(int layer, const Kernel *k)
{
    TsError err = { 0 };
    TsTemplateArgs args = { 0 };
    const char *names[] = { "N", "C", "H", "W", "K", "R", "S", "stride", "pad" };
    const int64_t c = layers[layer][0], hw = layers[layer][1];
    const int64_t values[] = { 1, c, hw, hw, c, 3, 3, 1, 1 };
    for (int i = 0; i < 9; i++)
        ts_template_args_set(&args, names[i], values[i], &err);
    if (k->abits) {
        ts_template_args_set(&args, "abits", k->abits, &err);
        ts_template_args_set(&args, "wbits", k->wbits, &err);
    }
    TsDType dt;
    if (k->dtype[0] && ts_dtype_parse(k->dtype, &dt))
        ts_template_args_set_dtype(&args, "dtype", dt, &err);
    return args;
}

/* Estimates kernel k on layer; per_cycle[cpu] 0 when unknown. */
static void estimate(int layer, const Kernel *k, double per_cycle[2])
{
    TsTemplateArgs args = layer_args(layer, k);
    Aarch64LoopEstimate e;
    int num_cpus = k->a76_only ? 1 : 2;
    const char *target = k->target ? dotprod : neon;
    per_cycle[A76] = per_cycle[A53] = 0;
    if (aarch64_estimate_inner_loop(k->op, &args, target, num_cpus, cpus, &e) != 0) {
        printf("    %-10s not estimated: %s\n", k->label, e.why);
        return;
    }
    printf("    %-10s %-26s loop %3d instr %5d products:", k->label, e.template_name,
           e.instructions, e.products);
    for (int c = 0; c < 2; c++) {
        per_cycle[c] = c < num_cpus ? e.per_cycle[c] : 0;
        if (c < num_cpus)
            printf("  %s %6.1f cyc %7.2f/cyc", cpus[c], e.cycles[c], per_cycle[c]);
    }
    printf("\n");
}

static double ratio(double a, double b)
{
    return a > 0 && b > 0 ? a / b : 0;
}

static void append(char *result, size_t size, const char *key, double value)
{
    size_t used = strlen(result);
    if (used < size)
        snprintf(result + used, size - used, " %s=%.2f", key, value);
}

double bench_lowbit_aarch64_section(char *result, size_t size)
{
    if (!aarch64_estimate_available()) {
        printf("\nAArch64 estimates: skipped, llvm-mca-16 is not installed (llvm-16)\n");
        return 0;
    }
    printf("\nAArch64 (estimates from llvm-mca-16, not timings: qemu runs the kernels but "
           "does not time them): inner loops of the default configs, multiply-adds per "
           "cycle\n");
    /* worst over the layers of: A1W1/fp32 on a76, A2W2/smull and A4W4/smull on a53 */
    double worst[3] = { 1e30, 1e30, 1e30 };
    static const double targets[3] = { 6.0, 1.5, 1.0 };
    for (int l = 0; l < NUM_LAYERS; l++) {
        printf("  layer %lld channels %lldx%lld:\n", (long long)layers[l][0],
               (long long)layers[l][1], (long long)layers[l][1]);
        double pc[NUM_KERNELS][2];
        for (int k = 0; k < NUM_KERNELS; k++)
            estimate(l, &kernels[k], pc[k]);
        double r[3] = { ratio(pc[K_A1W1][A76], pc[K_FP32][A76]),
                        ratio(pc[K_A2W2][A53], pc[K_SMLAL][A53]),
                        ratio(pc[K_A4W4][A53], pc[K_SMLAL][A53]) };
        printf("    a76: A1W1/fp32 %.2fx (target 6), A2W1/fp32 %.2fx, A2W2/int8 sdot %.2fx; "
               "a53: A2W2/int8 smull %.2fx (target 1.5), A4W4/int8 smull %.2fx (target 1.0), "
               "A8W8/int8 smull %.2fx\n",
               r[0], ratio(pc[K_A2W1][A76], pc[K_FP32][A76]),
               ratio(pc[K_A2W2][A76], pc[K_SDOT][A76]), r[1], r[2],
               ratio(pc[K_A8W8][A53], pc[K_SMLAL][A53]));
        for (int t = 0; t < 3; t++)
            worst[t] = r[t] < worst[t] ? r[t] : worst[t];
    }
    double overall = 1e30;
    for (int t = 0; t < 3; t++)
        overall = worst[t] / targets[t] < overall ? worst[t] / targets[t] : overall;
    printf("  worst over the layers (estimates): a76 A1W1/fp32 %.2fx, a53 A2W2/int8 %.2fx, "
           "a53 A4W4/int8 %.2fx; %s\n",
           worst[0], worst[1], worst[2],
           overall >= 1.0 ? "every AArch64 target met" : "an AArch64 target is missed");
    append(result, size, "a76_a1w1_fp32", worst[0]);
    append(result, size, "a53_a2w2_int8", worst[1]);
    append(result, size, "a53_a4w4_int8", worst[2]);
    append(result, size, "aarch64_ratio", overall);
    return overall;
}
