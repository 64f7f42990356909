/* The AArch64 part of bench_lowp: qemu gives no timings, so the inner loops of the conv2d
 * kernels are handed to llvm-mca-16, which estimates a loop's cycles per iteration on a
 * given core from its scheduling model. For the 64-channel 56x56 layer, the default
 * configs of the int8 and fp32 conv2d templates are compiled for AArch64 (the assembly
 * comes from codegen's TS_DUMP=asm), the innermost loop that multiplies is cut out (a
 * label and the last branch back to it, the smallest such loop holding products), and
 * its products per iteration are counted from the instructions (fmla .4s: 4; sdot .4s:
 * 16; smlal/smull/mla/mul/fmul: one per lane of the destination vector). Printed: products per
 * cycle on cortex-a76 and cortex-a55, and the int8 over fp32 ratio. The estimate of one
 * kernel (aarch64_estimate.h) serves bench_lowbit too; there cnt .16b counts 128 one-bit
 * products. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "benchmarks/aarch64_estimate.h"
#include "benchmarks/bench_lowp.h"
#include "tessera/autotune.h"
#include "tessera/codegen.h"

enum { MAX_LINES = 200000, LINE = 256 };

typedef struct Asm {
    char (*lines)[LINE];
    int count;
} Asm;

/* Builds the default config of op on args for target with TS_DUMP=asm, stderr sent to
 * a file, and reads the assembly back. */
static int kernel_asm(const char *op, const TsTemplateArgs *args, const char *target_str, Asm *out,
                      char *tmpl_name, size_t name_size, char *why, size_t why_size)
{
    TsError err = { 0 };
    TsTuneTask *task = NULL;
    TsTarget *target = NULL;
    TsArena *arena = ts_arena_create();
    TsConfig config;
    TsLoweredFunc *func = NULL;
    TsStatus st = ts_tune_task_create(op, args, target_str, &task, &err);
    if (st == TS_OK) {
        snprintf(tmpl_name, name_size, "%s", ts_tune_task_template(task)->name);
        st = ts_tune_task_default(task, &config, &err);
    }
    if (st == TS_OK)
        st = ts_tune_task_lower(task, config.index, false, arena, &func, &err);
    if (st == TS_OK)
        st = ts_target_parse(target_str, &target, &err);
    char asm_path[] = "/tmp/bench_lowp_asm_XXXXXX", obj_path[] = "/tmp/bench_lowp_obj_XXXXXX";
    int asm_fd = mkstemp(asm_path), obj_fd = mkstemp(obj_path);
    if (st == TS_OK && (asm_fd < 0 || obj_fd < 0))
        st = ts_fail(&err, TS_EIO, "no temporary file");
    if (st == TS_OK) {
        fflush(stderr);
        int saved = dup(2);
        dup2(asm_fd, 2);
        setenv("TS_DUMP", "asm", 1);
        st = ts_build_object(1, (const TsLoweredFunc *const *)&func, target, obj_path, &err);
        unsetenv("TS_DUMP");
        fflush(stderr);
        dup2(saved, 2);
        close(saved);
    }
    out->count = 0;
    out->lines = NULL;
    if (st == TS_OK) {
        FILE *f = fopen(asm_path, "r");
        out->lines = malloc(sizeof *out->lines * MAX_LINES);
        while (f && out->lines && out->count < MAX_LINES && fgets(out->lines[out->count], LINE, f))
            out->count++;
        if (f)
            fclose(f);
    }
    if (st != TS_OK)
        snprintf(why, why_size, "%s", err.message);
    if (asm_fd >= 0)
        close(asm_fd), unlink(asm_path);
    if (obj_fd >= 0)
        close(obj_fd), unlink(obj_path);
    ts_target_free(target);
    ts_arena_destroy(arena);
    ts_tune_task_free(task);
    return st == TS_OK ? 0 : -1;
}

/* The mnemonic and the first operand of an instruction line; false for labels,
 * directives and comments. */
static bool instruction(const char *line, char *mnemonic, size_t msize, char *first, size_t fsize)
{
    if (!isspace((unsigned char)line[0]))
        return false;
    while (isspace((unsigned char)*line))
        line++;
    if (!*line || *line == '.' || *line == '/' || *line == '@' || *line == ';')
        return false;
    size_t n = strcspn(line, " \t\n");
    snprintf(mnemonic, msize, "%.*s", (int)n, line);
    line += n;
    while (isspace((unsigned char)*line))
        line++;
    size_t f = strcspn(line, ",\n");
    snprintf(first, fsize, "%.*s", (int)f, line);
    return true;
}

/* Lanes of a vector operand "v3.4s" (4), "v1.16b" (16); 1 for a scalar register. */
static int lanes(const char *operand)
{
    const char *dot = strchr(operand, '.');
    return dot && isdigit((unsigned char)dot[1]) ? atoi(dot + 1) : 1;
}

/* The multiply-adds (products) one vector instruction makes; scalar integer multiplies
 * (address arithmetic) count 0. */
static int products(const char *mnemonic, const char *dest)
{
    if (dest[0] != 'v')
        return 0;
    if (strcmp(mnemonic, "cnt") == 0) /* a popcount of bytes: 8 one-bit products each */
        return 8 * lanes(dest);
    if (strcmp(mnemonic, "sdot") == 0 || strcmp(mnemonic, "udot") == 0 ||
        strcmp(mnemonic, "usdot") == 0)
        return 4 * lanes(dest);
    static const char *const per_lane[] = { "fmla",   "fmls",   "mla",    "mls",    "mul",
                                            "smlal",  "smlal2", "umlal",  "umlal2", "smull",
                                            "smull2", "umull",  "umull2", "fmul",
                                            "umlal2" };
    for (size_t i = 0; i < sizeof per_lane / sizeof per_lane[0]; i++)
        if (strcmp(mnemonic, per_lane[i]) == 0)
            return lanes(dest);
    return 0;
}

/* Whether line defines label (at column 0, "label:"). */
static bool defines(const char *line, const char *label)
{
    size_t n = strlen(label);
    return strncmp(line, label, n) == 0 && line[n] == ':';
}

/* The innermost loop holding products: [*begin, *end] are instruction lines. */
static bool inner_loop(const Asm *a, int *begin, int *end, int *macs)
{
    int best_len = 1 << 30;
    bool found = false;
    for (int i = 0; i < a->count; i++) {
        char mn[32], op[LINE];
        if (!instruction(a->lines[i], mn, sizeof mn, op, sizeof op))
            continue;
        if (mn[0] != 'b' && strcmp(mn, "cbz") && strcmp(mn, "cbnz") && strcmp(mn, "tbz") &&
            strcmp(mn, "tbnz"))
            continue;
        const char *target = strrchr(a->lines[i], ',');
        target = target ? target + 1 : a->lines[i] + strlen(mn) + 1;
        while (isspace((unsigned char)*target))
            target++;
        char label[LINE];
        snprintf(label, sizeof label, "%.*s", (int)strcspn(target, " \t\n"), target);
        for (int j = i - 1; j >= 0; j--) {
            if (!defines(a->lines[j], label))
                continue;
            int count = 0, m = 0;
            for (int k = j + 1; k <= i; k++) {
                char mn2[32], op2[LINE];
                if (instruction(a->lines[k], mn2, sizeof mn2, op2, sizeof op2)) {
                    count++;
                    m += products(mn2, op2);
                }
            }
            if (m > 0 && count < best_len) {
                best_len = count;
                *begin = j + 1;
                *end = i;
                *macs = m;
                found = true;
            }
            break;
        }
    }
    return found;
}

/* llvm-mca-16's cycles per iteration of lines [begin, end] on cpu; < 0 on failure. */
static double mca_cycles(const Asm *a, int begin, int end, const char *cpu)
{
    char path[] = "/tmp/bench_lowp_loop_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    FILE *f = fdopen(fd, "w");
    for (int k = begin; k <= end; k++) {
        char mn[32], op[LINE];
        if (instruction(a->lines[k], mn, sizeof mn, op, sizeof op))
            fputs(a->lines[k], f);
    }
    fclose(f);
    char command[512];
    snprintf(command, sizeof command,
             "llvm-mca-16 -mtriple=aarch64-linux-gnu -mcpu=%s -iterations=200 %s 2>/dev/null", cpu,
             path);
    FILE *p = popen(command, "r");
    double cycles = -1, iterations = -1;
    char line[LINE];
    while (p && fgets(line, sizeof line, p)) {
        if (strncmp(line, "Iterations:", 11) == 0)
            iterations = atof(line + 11);
        else if (strncmp(line, "Total Cycles:", 13) == 0)
            cycles = atof(line + 13);
    }
    if (p)
        pclose(p);
    unlink(path);
    return cycles > 0 && iterations > 0 ? cycles / iterations : -1;
}

int aarch64_estimate_inner_loop(const char *op, const TsTemplateArgs *args, const char *target,
                                int num_cpus, const char *const *cpus, Aarch64LoopEstimate *out)
{
    Asm a;
    memset(out, 0, sizeof *out);
    snprintf(out->template_name, sizeof out->template_name, "?");
    if (kernel_asm(op, args, target, &a, out->template_name, sizeof out->template_name, out->why,
                   sizeof out->why) != 0)
        return -1;
    int begin = 0, end = -1;
    if (!inner_loop(&a, &begin, &end, &out->products)) {
        snprintf(out->why, sizeof out->why, "%s: no loop with products found in the assembly",
                 out->template_name);
        free(a.lines);
        return -1;
    }
    for (int k = begin; k <= end; k++) {
        char mn[32], operand[LINE];
        out->instructions += instruction(a.lines[k], mn, sizeof mn, operand, sizeof operand);
    }
    for (int c = 0; c < num_cpus && c < AARCH64_MAX_CPUS; c++) {
        out->cycles[c] = mca_cycles(&a, begin, end, cpus[c]);
        out->per_cycle[c] = out->cycles[c] > 0 ? out->products / out->cycles[c] : 0;
    }
    free(a.lines);
    return 0;
}

bool aarch64_estimate_available(void)
{
    return system("llvm-mca-16 --version >/dev/null 2>&1") == 0;
}

typedef struct Estimate {
    const char *what, *op, *dtype, *target;
    double per_cycle[2];
} Estimate;

static const char *const cpus[2] = { "cortex-a76", "cortex-a55" };

/* The 64-channel 56x56 layer's arguments, with dtype ("" for float32). */
static TsTemplateArgs layer_args(const char *dtype)
{
    TsError err = { 0 };
    TsTemplateArgs args = { 0 };
    const char *names[] = { "N", "C", "H", "W", "K", "R", "S", "stride", "pad" };
    const int64_t values[] = { 1, 64, 56, 56, 64, 3, 3, 1, 1 };
    for (int i = 0; i < 9; i++)
        ts_template_args_set(&args, names[i], values[i], &err);
    TsDType dt;
    if (dtype[0] && ts_dtype_parse(dtype, &dt))
        ts_template_args_set_dtype(&args, "dtype", dt, &err);
    return args;
}

static void estimate(Estimate *e)
{
    Aarch64LoopEstimate loop;
    TsTemplateArgs args = layer_args(e->dtype);
    e->per_cycle[0] = e->per_cycle[1] = 0;
    if (aarch64_estimate_inner_loop(e->op, &args, e->target, 2, cpus, &loop) != 0) {
        printf("  %-6s not built: %s\n", e->what, loop.why);
        return;
    }
    printf("  %s %-24s inner loop %3d instructions, %4d products:", e->what, loop.template_name,
           loop.instructions, loop.products);
    for (int c = 0; c < 2; c++) {
        e->per_cycle[c] = loop.per_cycle[c];
        printf("  %s %5.1f cycles = %5.2f/cycle", cpus[c], loop.cycles[c], e->per_cycle[c]);
    }
    printf("\n");
}

void bench_lowp_print_aarch64_estimates(void)
{
    if (!aarch64_estimate_available()) {
        printf("\nAArch64 estimates: skipped, llvm-mca-16 is not installed (llvm-16)\n");
        return;
    }
    printf("\nAArch64 (no timings under qemu): llvm-mca-16 estimates of the conv2d inner loops, "
           "64ch 56x56 layer, default configs, products (multiply-adds) per cycle\n");
    Estimate e[] = {
        { "int8",
          "conv2d",
          "int8",
          "llvm -mtriple=aarch64-linux-gnu -mattr=+neon,+dotprod",
          { 0, 0 } },
        { "int8", "conv2d", "int8", "llvm -mtriple=aarch64-linux-gnu -mattr=+neon", { 0, 0 } },
        { "fp32", "conv2d", "", "llvm -mtriple=aarch64-linux-gnu -mattr=+neon", { 0, 0 } },
    };
    for (size_t i = 0; i < sizeof e / sizeof e[0]; i++)
        estimate(&e[i]);
    for (int c = 0; c < 2; c++)
        printf("  %s: int8 sdot (dotprod) / fp32 = %.2fx, int8 smull+sadalp (neon only) / fp32 = "
               "%.2fx\n",
               cpus[c], e[2].per_cycle[c] > 0 ? e[0].per_cycle[c] / e[2].per_cycle[c] : 0,
               e[2].per_cycle[c] > 0 ? e[1].per_cycle[c] / e[2].per_cycle[c] : 0);
}
