/* bench_compile: how long Tessera takes to turn a tensor expression into machine code,
 * for the matrix product of bench_gemm (1024^3, its serial and its parallel schedule,
 * gemm_schedule.c).
 *
 * Two paths, each from nothing (a fresh arena) to usable code:
 * - to a callable kernel: build the DAG, schedule it, lower it (ts_lower and its passes),
 *   JIT-compile it (ts_build_jit: LLVM IR, verification, optimization, machine code,
 *   linking into this process) and look the kernel up (ts_jit_get_func);
 * - to a shared object: the same up to lowering, then ts_build_shared (object code and the
 *   system linker), written to a temporary directory.
 * Each path runs RUNS times; the table gives medians, split into the front end (DAG,
 * schedule, lowering) and the back end (LLVM), and the CPU time of the whole build (this
 * process's and its linker's): on a loaded machine the wall-clock figures grow with the
 * load, the CPU times much less. The first build of the process, which also
 * initializes LLVM, is reported on its own and left out of the medians. At the end the
 * shared object is loaded back (ts_module_load) and its kernel's result compared with the
 * JIT's, so that both paths are known to give working code.
 *
 * There is no reference compiler here to compare with, so the RESULT line says
 * reference=none and ratio=1.0. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "benchmarks/bench_util.h"
#include "benchmarks/gemm_schedule.h"

enum { SIZE = 1024, RUNS = 7, NUM_VARIANTS = 2 };

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

/* CPU milliseconds of this process and of its children that have ended (the linker). */
static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    struct rusage children;
    getrusage(RUSAGE_CHILDREN, &children);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6 +
           (double)(children.ru_utime.tv_sec + children.ru_stime.tv_sec) * 1e3 +
           (double)(children.ru_utime.tv_usec + children.ru_stime.tv_usec) * 1e-3;
}

/* Milliseconds of one build along one path. */
typedef struct BuildTimes {
    double front_ms; /* DAG, schedule, lowering */
    double back_ms;  /* LLVM: JIT or shared object */
    double cpu_ms;   /* CPU time of the whole build */
} BuildTimes;

static const char *variant_name(int v)
{
    return v ? "gemm_parallel" : "gemm_serial";
}

/* One build from nothing. With so_path NULL: JIT, keeping the module in *jit when jit is
 * not NULL (released otherwise); else a shared object at so_path. */
static TsStatus build_once(int variant, const TsTarget *target, const char *so_path,
                           TsJitModule **jit, BuildTimes *times, TsError *err)
{
    double start = now_ms(), start_cpu = cpu_ms();
    TsArena *arena = ts_arena_create();
    if (!arena)
        return ts_fail(err, TS_ENOMEM, "bench_compile: no arena");
    GemmConfig config = gemm_config_default(variant == 1);
    const char *name = variant_name(variant);
    TsLoweredFunc *func;
    TsStatus status = gemm_build(arena, SIZE, SIZE, SIZE, &config, name, NULL, &func, err);
    double lowered = now_ms();
    const TsLoweredFunc *const *funcs = (const TsLoweredFunc *const *)&func;
    TsJitModule *module = NULL;
    TsPackedFunc kernel;
    if (status == TS_OK && so_path)
        status = ts_build_shared(1, funcs, target, so_path, err);
    else if (status == TS_OK)
        status = ts_build_jit(1, funcs, target, &module, err);
    if (status == TS_OK && module)
        status = ts_jit_get_func(module, name, &kernel, err);
    double done = now_ms();
    times->front_ms = lowered - start;
    times->back_ms = done - lowered;
    times->cpu_ms = cpu_ms() - start_cpu;
    if (module && status == TS_OK && jit)
        *jit = module;
    else if (module)
        ts_jit_release(module);
    ts_arena_destroy(arena); /* the JIT module keeps no reference to the IR */
    return status;
}

/* Medians of RUNS builds along one path. */
typedef struct PathStats {
    BenchCosts front, back, total, cpu;
} PathStats;

static TsStatus measure_path(int variant, const TsTarget *target, const char *so_path,
                             PathStats *stats, TsError *err)
{
    for (int r = 0; r < RUNS; r++) {
        BuildTimes t;
        TsStatus status = build_once(variant, target, so_path, NULL, &t, err);
        if (status != TS_OK)
            return status;
        double total = t.front_ms + t.back_ms;
        bench_costs_add(&stats->front, &t.front_ms, 1);
        bench_costs_add(&stats->back, &t.back_ms, 1);
        bench_costs_add(&stats->total, &total, 1);
        bench_costs_add(&stats->cpu, &t.cpu_ms, 1);
    }
    return TS_OK;
}

/* Runs the JIT's kernel and the shared object's on the same inputs; their outputs must be
 * equal bit for bit (the same LLVM code for the same target). */
static TsStatus check_paths(int variant, TsJitModule *jit, const char *so_path, TsError *err)
{
    const char *name = variant_name(variant);
    TsModule *module;
    TsStatus status = ts_module_load(so_path, &module, err);
    if (status != TS_OK)
        return status;
    TsPackedFunc from_jit, from_so;
    status = ts_jit_get_func(jit, name, &from_jit, err);
    if (status == TS_OK)
        status = ts_module_get_func(module, name, &from_so, err);
    size_t n = (size_t)SIZE * SIZE;
    float *a = bench_alloc_floats(n), *b = bench_alloc_floats(n);
    float *c_jit = bench_alloc_floats(n), *c_so = bench_alloc_floats(n);
    bench_fill_uniform(a, n, 1);
    bench_fill_uniform(b, n, 2);
    BenchTensorArg args[3];
    int64_t shape[2] = { SIZE, SIZE };
    float *outputs[2] = { c_jit, c_so };
    TsPackedFunc kernels[2] = { from_jit, from_so };
    for (int k = 0; status == TS_OK && k < 2; k++) {
        bench_tensor_arg(&args[0], a, 2, shape);
        bench_tensor_arg(&args[1], b, 2, shape);
        bench_tensor_arg(&args[2], outputs[k], 2, shape);
        TsValue values[3] = { { .v_handle = &args[0].dl },
                              { .v_handle = &args[1].dl },
                              { .v_handle = &args[2].dl } };
        int32_t codes[3] = { TS_ARG_TENSOR, TS_ARG_TENSOR, TS_ARG_TENSOR };
        if (kernels[k](values, codes, 3) != 0)
            status = ts_fail(err, TS_EDEVICE, "%s (%s): %s", name, k ? "shared object" : "JIT",
                             ts_runtime_last_error());
    }
    if (status == TS_OK && memcmp(c_jit, c_so, n * sizeof(float)) != 0)
        status =
            ts_fail(err, TS_EDEVICE, "%s: the shared object's result differs from the JIT's", name);
    free(a);
    free(b);
    free(c_jit);
    free(c_so);
    ts_module_release(module);
    return status;
}

int main(void)
{
    TsError err;
    TsTarget *target;
    if (ts_target_parse("llvm", &target, &err) != TS_OK)
        return bench_report_error("bench_compile: target", &err);
    char dir[] = "/tmp/bench_compile.XXXXXX";
    if (!mkdtemp(dir)) {
        perror("bench_compile: mkdtemp");
        ts_target_free(target);
        return 1;
    }
    char so_path[sizeof dir + 32];
    snprintf(so_path, sizeof so_path, "%s/gemm.so", dir);
    printf("bench_compile: tensor expression -> machine code for bench_gemm's %dx%dx%d matmul "
           "schedule, target llvm (host); %d runs per path, medians\n",
           SIZE, SIZE, SIZE, RUNS);
    bench_print_machine(target);

    int status = 0;
    BuildTimes cold;
    TsJitModule *jit[NUM_VARIANTS] = { NULL, NULL };
    static PathStats to_jit[NUM_VARIANTS], to_so[NUM_VARIANTS];
    if (build_once(0, target, NULL, NULL, &cold, &err) != TS_OK) {
        status = bench_report_error("bench_compile: first build", &err);
        goto out_remove_dir;
    }
    for (int v = 0; v < NUM_VARIANTS; v++) {
        BuildTimes unused;
        if (measure_path(v, target, NULL, &to_jit[v], &err) != TS_OK ||
            measure_path(v, target, so_path, &to_so[v], &err) != TS_OK ||
            build_once(v, target, NULL, &jit[v], &unused, &err) != TS_OK ||
            check_paths(v, jit[v], so_path, &err) != TS_OK) {
            status = bench_report_error("bench_compile", &err);
            goto out_release;
        }
    }

    printf("\nfirst build of the process (serial, JIT, includes LLVM's initialization): "
           "%.1f ms (front end %.2f, LLVM %.1f)\n",
           cold.front_ms + cold.back_ms, cold.front_ms, cold.back_ms);
    printf("\n%-14s %-15s %12s %12s %12s %12s\n", "schedule", "path", "front ms", "LLVM ms",
           "total ms", "CPU ms");
    for (int v = 0; v < NUM_VARIANTS; v++) {
        printf("%-14s %-15s %12.2f %12.1f %12.1f %12.1f\n", variant_name(v), "JIT callable",
               bench_median(&to_jit[v].front), bench_median(&to_jit[v].back),
               bench_median(&to_jit[v].total), bench_median(&to_jit[v].cpu));
        printf("%-14s %-15s %12.2f %12.1f %12.1f %12.1f\n", variant_name(v), "shared object",
               bench_median(&to_so[v].front), bench_median(&to_so[v].back),
               bench_median(&to_so[v].total), bench_median(&to_so[v].cpu));
    }
    printf("\nfront end: DAG + schedule + lowering (ts_lower); LLVM: ts_build_jit + "
           "ts_jit_get_func, or ts_build_shared (object code + system linker). Both paths' "
           "kernels checked: the shared object, loaded back, gives the JIT's result bit for "
           "bit.\n");
    printf(
        "RESULT bench=compile size=%d runs=%d serial_jit_ms=%.1f serial_shared_ms=%.1f "
        "parallel_jit_ms=%.1f parallel_shared_ms=%.1f serial_front_ms=%.2f serial_jit_cpu_ms=%.1f "
        "first_build_ms=%.1f reference=none ratio=1.0\n",
        SIZE, RUNS, bench_median(&to_jit[0].total), bench_median(&to_so[0].total),
        bench_median(&to_jit[1].total), bench_median(&to_so[1].total),
        bench_median(&to_jit[0].front), bench_median(&to_jit[0].cpu), cold.front_ms + cold.back_ms);
out_release:
    for (int v = 0; v < NUM_VARIANTS; v++)
        if (jit[v])
            ts_jit_release(jit[v]);
out_remove_dir:
    unlink(so_path);
    rmdir(dir);
    ts_target_free(target);
    return status;
}
