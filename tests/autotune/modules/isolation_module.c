/* A module as Tessera exports them, written by hand, for the local runner's isolation
 * test (tune_measure_module): "add_one" (B[i] = A[i] + 1 for float32[n]) measures fine,
 * "crash" dies of SIGSEGV and "hang" never returns. Like a generated module it links no
 * runtime: ts_runtime_set_error comes from the process that loads it. */
#include <stdint.h>

#include "tessera/runtime.h"

static int32_t add_one(const TsValue *args, const int32_t *type_codes, int32_t num_args)
{
    if (num_args != 2 || type_codes[0] != TS_ARG_TENSOR || type_codes[1] != TS_ARG_TENSOR) {
        ts_runtime_set_error("add_one: expected two tensors");
        return -1;
    }
    const TsDLTensor *a = args[0].v_handle, *b = args[1].v_handle;
    if (a->ndim != 1 || b->ndim != 1 || a->shape[0] != b->shape[0]) {
        ts_runtime_set_error("add_one: A and B must be vectors of one length");
        return -1;
    }
    const float *in = a->data;
    float *out = b->data;
    for (int64_t i = 0; i < a->shape[0]; i++)
        out[i] = in[i] + 1.0f;
    return 0;
}

/* An address no process maps, read through a volatile so the compiler cannot see it. */
static volatile uintptr_t unmapped = 16;

static int32_t crash(const TsValue *args, const int32_t *type_codes, int32_t num_args)
{
    (void)args;
    (void)type_codes;
    (void)num_args;
    *(volatile int *)unmapped = 1;
    return 0;
}

static int32_t hang(const TsValue *args, const int32_t *type_codes, int32_t num_args)
{
    (void)args;
    (void)type_codes;
    (void)num_args;
    for (volatile int forever = 1; forever;)
        ;
    return 0;
}

static const TsFuncEntry entries[] = {
    { "add_one", add_one, 2, "A:float32[n];B:float32[n]" },
    { "crash", crash, 2, "A:float32[n];B:float32[n]" },
    { "hang", hang, 2, "A:float32[n];B:float32[n]" },
};

const TsModuleTable tessera_module_table = { .abi_version = TS_MODULE_ABI_VERSION,
                                             .num_funcs = 3,
                                             .funcs = entries };
