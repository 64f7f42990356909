/* Code generation with LLVM: targets, and the three ways out of a lowered kernel: JIT
 * into this process, an object file, and a shared object that libtessera_runtime (or
 * any dlopen) can load through its function table (runtime.h).
 *
 * Each lowered function becomes a packed kernel (runtime.h's TsPackedFunc) that checks
 * its arguments (count, type codes, dtype, ndim, shape, strides, alignment it relies on)
 * and returns -1 with a message in ts_runtime_last_error() instead of touching memory it
 * should not, e.g. "matmul: argument 1 (B) has shape [32, 15], expected [32, 16]".
 * What a kernel accepts: TS_ARG_TENSOR arguments of exactly the tensors' dtypes (lanes
 * 1) and shapes, on the CPU, with NULL or dense row-major strides (any stride for a
 * dimension of extent 1), data + byte_offset aligned to one element; an argument the
 * kernel writes must not overlap another argument. At run time an integer division by
 * zero or a shift by an amount outside [0, bits) makes the kernel return -1 with a
 * message naming the expression; nothing traps. Parallel loops run on the runtime's
 * thread pool (ts_parallel_launch).
 *
 * Float arithmetic may contract a * b + c into a fused multiply-add (the reference
 * interpreter rounds the product, so compare floats with a tolerance); "-fast-math"
 * allows more. Code is optimized with a pass pipeline made for scheduled kernels
 * (SROA, CSE, instcombine, LICM, GVN, SLP; codegen/module.c), not LLVM's default<O3>:
 * the schedule has decided the loops, their unrolling and their vectors already. The
 * target's -opt-level sets the code generator's level; -opt-level=0 also turns the
 * passes off. TS_LLVM_PASSES in the environment replaces the pipeline (opt's syntax,
 * e.g. 'default<O3>'), for comparisons.
 *
 * TS_DUMP=llvm,asm in the environment prints each module's LLVM IR (after
 * optimization) and assembly to stderr; llvm_raw prints the IR as generated.
 */
#ifndef TESSERA_CODEGEN_H
#define TESSERA_CODEGEN_H

#include <stdbool.h>
#include <stdint.h>

#include "tessera/error.h"
#include "tessera/runtime.h"
#include "tessera/te.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct TsTarget TsTarget;

/* Parses a target string as TVM users write them:
 *   "llvm"                                     the host CPU with all its features
 *   "llvm -mcpu=sapphirerapids"                a named CPU (with its own features)
 *   "llvm -mcpu=native"                        the host CPU
 *   "llvm -mtriple=aarch64-linux-gnu -mattr=+neon"
 *   "llvm ... -fast-math"                      fast-math flags on float operations
 *   "llvm ... -opt-level=2"                    0 .. 3 (default 3; see above)
 * Architectures: x86_64 and aarch64. Unknown options, CPUs, features (checked against
 * LLVM 16's lists) or triples are TS_EINVAL naming the culprit. */
TsStatus ts_target_parse(const char *text, TsTarget **out, TsError *err);
/* The target in canonical form, "llvm -mtriple=T -mcpu=C [-mattr=F] [-fast-math]
 * [-opt-level=N]", with the detected CPU and features for "llvm". */
const char *ts_target_str(const TsTarget *target);
/* The normalized triple, e.g. "aarch64-unknown-linux-gnu". */
const char *ts_target_triple(const TsTarget *target);
/* Whether code for the target runs here: its architecture and OS are the host's. */
bool ts_target_is_host(const TsTarget *target);
/* "x86_64" or "aarch64". */
const char *ts_target_arch(const TsTarget *target);
/* Whether the target has a CPU feature, named as LLVM names it ("avx512vnni", "amx-int8",
 * "amx-bf16", "avx512bf16", "avx512vpopcntdq", "avx2", "avx512f", "fma", "neon",
 * "dotprod", "i8mm", ...). Bare "llvm" has the host's features; -mcpu=X the features
 * LLVM 16 defines for X; -mattr=+a,-b adds a with every feature a implies (+avx512vnni
 * brings avx512f) and removes b with every feature that implies b. */
bool ts_target_has_feature(const TsTarget *target, const char *feature);
/* Every feature the target has, as ",a,b,c," (for passing on, e.g. to templates). */
const char *ts_target_features(const TsTarget *target);
void ts_target_free(TsTarget *target);

/* Kernels JIT-compiled into this process (ORC LLJIT). Reference-counted; a kernel
 * pointer is valid while the module lives. The target must be the host's (its triple's
 * architecture and OS), else TS_EINVAL; an -mcpu newer than this machine's CPU gives
 * code this machine may not run, as with any compiler. Kernel names must be distinct.
 * Thread-safe: modules may be built in parallel. */
typedef struct TsJitModule TsJitModule;

TsStatus ts_build_jit(int num_funcs, const TsLoweredFunc *const *funcs, const TsTarget *target,
                      TsJitModule **out, TsError *err);
/* The kernel called name (a lowered function's name), or TS_EINVAL listing those the
 * module has. */
TsStatus ts_jit_get_func(const TsJitModule *module, const char *name, TsPackedFunc *out,
                         TsError *err);
void ts_jit_retain(TsJitModule *module);
void ts_jit_release(TsJitModule *module);
/* Links an object file of this machine's triple that ts_build_object wrote (or any
 * object defining TS_MODULE_TABLE_SYMBOL) into this process, as ts_build_jit links its
 * own object code: no system linker, no dlopen. TS_EIO naming the file when it cannot be
 * read; TS_ECODEGEN when LLVM cannot link it or it has no module table of this ABI. The
 * local measurer runs each candidate this way. */
TsStatus ts_jit_load_object(const char *path, TsJitModule **out, TsError *err);

/* An object file (ELF, position-independent) with the kernels and the module table.
 * The table, TS_MODULE_TABLE_SYMBOL, is its only global symbol: kernels are local, so
 * their names cannot collide with anything, and are found through the table. */
TsStatus ts_build_object(int num_funcs, const TsLoweredFunc *const *funcs,
                         const TsTarget *target, const char *path, TsError *err);
/* A shared object with the kernels and the module table, linked with the system C
 * compiler for the host (`cc -shared ... -lm`), or for aarch64 with
 * aarch64-linux-gnu-gcc, else ld.lld-16 or ld.lld, when installed (TS_EINVAL naming the
 * triple when no linker fits; TS_EIO with the linker's output when it fails). The
 * runtime's symbols (ts_runtime_set_error, ts_parallel_launch, ts_parallel_num_threads)
 * are left undefined, for the dynamic loader to bind to the libtessera_runtime of the
 * process that loads it (ts_module_load): linked into the executable or loaded
 * RTLD_GLOBAL. */
TsStatus ts_build_shared(int num_funcs, const TsLoweredFunc *const *funcs,
                         const TsTarget *target, const char *path, TsError *err);

/* A whole model's data for its module table (version 3, TS_MODULE_HAS_MODEL): the
 * serialized graph, the weights and the memory plan (graph_executor.h's format), copied
 * into the object as 64-byte-aligned constants. graph and memory_plan are required;
 * weights may be empty. Each at most 4 GiB. */
typedef struct TsModelBlobs {
    const void *graph;
    uint64_t graph_bytes;
    const void *weights;
    uint64_t weights_bytes;
    const void *memory_plan;
    uint64_t memory_plan_bytes;
} TsModelBlobs;

/* ts_build_shared with a model in the table (model NULL: kernels alone). */
TsStatus ts_build_shared_model(int num_funcs, const TsLoweredFunc *const *funcs,
                               const TsModelBlobs *model, const TsTarget *target,
                               const char *path, TsError *err);

#ifdef __cplusplus
}
#endif

#endif /* TESSERA_CODEGEN_H */
