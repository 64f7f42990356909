/* Code generation with LLVM: targets, and the three ways out of a lowered kernel: JIT
 * into this process, an object file, and a shared object that libtessera_runtime (or
 * any dlopen) can load through its function table (runtime.h).
 *
 * Each lowered function becomes a packed kernel (runtime.h's TsPackedFunc) that checks
 * its arguments (count, type codes, dtype, ndim, shape, strides, alignment it relies on)
 * and returns -1 with a message in ts_runtime_last_error() instead of touching memory it
 * should not. Parallel loops run on the runtime's thread pool.
 *
 * TS_DUMP=llvm,asm in the environment prints each module's LLVM IR (after
 * optimization) and assembly to stderr.
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
 *   "llvm -mcpu=sapphirerapids"                a named CPU
 *   "llvm -mtriple=aarch64-linux-gnu -mattr=+neon"
 *   "llvm ... -fast-math"                      fast-math flags on float operations
 * Unknown options, CPUs or triples are TS_EINVAL naming the culprit. */
TsStatus ts_target_parse(const char *text, TsTarget **out, TsError *err);
/* The target in canonical form, with the detected CPU and features for "llvm". */
const char *ts_target_str(const TsTarget *target);
const char *ts_target_triple(const TsTarget *target);
bool ts_target_is_host(const TsTarget *target);
void ts_target_free(TsTarget *target);

/* Kernels JIT-compiled into this process (ORC LLJIT). Reference-counted. */
typedef struct TsJitModule TsJitModule;

TsStatus ts_build_jit(int num_funcs, const TsLoweredFunc *const *funcs, const TsTarget *target,
                      TsJitModule **out, TsError *err);
TsStatus ts_jit_get_func(const TsJitModule *module, const char *name, TsPackedFunc *out,
                         TsError *err);
void ts_jit_retain(TsJitModule *module);
void ts_jit_release(TsJitModule *module);

/* An object file with the kernels and the module table. */
TsStatus ts_build_object(int num_funcs, const TsLoweredFunc *const *funcs,
                         const TsTarget *target, const char *path, TsError *err);
/* A shared object with the kernels and the module table, linked with the system C
 * compiler for the host, or a cross compiler (aarch64-linux-gnu-gcc) or ld.lld for
 * another triple. */
TsStatus ts_build_shared(int num_funcs, const TsLoweredFunc *const *funcs,
                         const TsTarget *target, const char *path, TsError *err);

#ifdef __cplusplus
}
#endif

#endif /* TESSERA_CODEGEN_H */
