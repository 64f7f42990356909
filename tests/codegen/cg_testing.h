/* Helpers for the codegen tests (tests/codegen/test_*.c): random inputs, kernel
 * arguments in the packed ABI (TsDLTensor over 64-byte aligned buffers), and the value
 * check every end-to-end test makes: lower a schedule, JIT-compile it, call it through
 * its packed entry, and compare each output with the reference interpreter
 * (ts_evaluate) on the same inputs.
 *
 * Tolerance. Integer and bool outputs must be equal bit for bit. A float output element
 * may differ from the oracle only by rounding, because schedules reorder reductions and
 * generated code may contract a * b + c into one fused multiply-add:
 *     |got - want| <= rtol * (1 + mag)
 * where mag is the same DAG evaluated on the absolute values of the inputs (the sum of
 * |terms| for a sum of products) and rtol is 1e-4 for float32, 1e-10 for float64 and
 * 2e-3 (two float16 ulps) for float16. NaNs must match NaNs. */
#ifndef TESSERA_TESTS_CG_TESTING_H
#define TESSERA_TESTS_CG_TESTING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tessera/codegen.h"
#include "tessera/tessera.h"
#include "test_values.h"

enum { CGT_MAX_ARGS = 16 };

/* splitmix64 (test_values.h). */
typedef TvRng CgtRng;

uint64_t cgt_rng_next(CgtRng *rng);
/* Uniform in [lo, hi]. */
int64_t cgt_rng_int(CgtRng *rng, int64_t lo, int64_t hi);

/* Fills tensor t's dense data with random values. The default: floats in [-1, 1), 8-
 * and 16-bit integers over their whole range, wider ones in [-1000, 1000], bools 0 or 1,
 * float16 from floats in [-4, 4). A test passes its own filler to keep, say, divisors
 * away from zero; it may call the default for the tensors it does not care about. */
typedef void (*CgtFill)(CgtRng *rng, const TsTensor *t, void *data);
void cgt_fill_default(CgtRng *rng, const TsTensor *t, void *data);

/* "llvm", parsed once for the whole test program. */
const TsTarget *cgt_host(void);

/* A kernel's arguments as the packed ABI takes them. */
typedef struct CgtArgs {
    int num;
    const TsTensor *tensors[CGT_MAX_ARGS];
    void *data[CGT_MAX_ARGS]; /* 64-byte aligned, owned */
    size_t bytes[CGT_MAX_ARGS];
    int64_t shapes[CGT_MAX_ARGS][TS_MAX_DIMS];
    TsDLTensor dl[CGT_MAX_ARGS];
    TsValue values[CGT_MAX_ARGS];
    int32_t codes[CGT_MAX_ARGS];
} CgtArgs;

/* Buffers for func's arguments: random inputs (fill, or the default when NULL), outputs
 * poisoned with 0xA5 bytes; the DLTensors, values and type codes point at them. */
void cgt_args_init(CgtArgs *args, const TsLoweredFunc *func, uint64_t seed, CgtFill fill);
void cgt_args_free(CgtArgs *args);
/* Calls fn with all the arguments. */
int32_t cgt_call(TsPackedFunc fn, CgtArgs *args);

/* JIT-compiles func for the host and returns its kernel (asserts success); release the
 * module when done. */
TsJitModule *cgt_jit(const TsLoweredFunc *func, TsPackedFunc *fn);

/* Compares the kernel's outputs in args with ts_evaluate of outputs on args' inputs.
 * Returns true, or false with the first mismatch in message. */
bool cgt_compare_with_oracle(CgtArgs *args, int num_outputs, TsTensor *const *outputs,
                             char *message, size_t size);

/* The whole check: lowers sch as kernel name, JIT-compiles, runs on random inputs from
 * seed (with fill), compares with the oracle; fails the test with a message (and the
 * lowered IR) on any difference. */
void cgt_check_schedule(TsSchedule *sch, const char *name, int num_outputs,
                        TsTensor *const *outputs, uint64_t seed, CgtFill fill);

/* Installs in this process (inherited by its children, kept across exec) a seccomp
 * filter under which arch_prctl(ARCH_REQ_XCOMP_PERM, ...), the request for the AMX tile
 * state, fails with EPERM, as a kernel or a sandbox that refuses it would. 0, or -1 when
 * the filter cannot be installed. */
int cgt_refuse_amx_tile_state(void);

/* Fails the test unless status is TS_OK, printing the error. */
void cgt_ok(TsStatus status, const TsError *err);

/* A 64 x 32 by 32 x 48 matmul of dtype in accumulating in out (bits 0: in), tiled 16 x 16,
 * k split by 4 and unrolled, the inner columns vectorized, the outer rows parallel:
 * every kind of loop in one kernel. *result is the output tensor. */
TsLoweredFunc *cgt_blocked_matmul(TsArena *A, const char *name, TsDType in, TsDType out,
                                  TsTensor **result);

/* An int8-style dense C[i, j] = sum_k cast(cdt, A[i, k]) * cast(cdt, W[j, k]) of m x k
 * by n x k, with W packed as Wp[j / lanes, k / group, j % lanes, k % group] by a stage of
 * its own (the layout of the 4-byte dot-product intrinsics), scheduled as i, j.outer,
 * k.outer, j.inner, k.inner with inner extents lanes and group, ready for ts_tensorize at
 * j.inner. */
typedef struct CgtDense {
    TsTensor *a, *w, *packed, *c;
    TsSchedule *sch;
    TsStage *s;
    TsAxis *i, *jo, *ji, *ko, *ki;
} CgtDense;

void cgt_packed_dense(TsArena *A, CgtDense *d, int64_t m, int64_t n, int64_t k, TsDType adt,
                      TsDType wdt, TsDType cdt, int lanes, int group);

#endif /* TESSERA_TESTS_CG_TESTING_H */
