/* A module for the RPC server's tests, written by hand like an exported one: a kernel
 * that works (add_one), one that counts its calls (so a test can check number and
 * repeat), one that reports an error, one that crashes with SIGSEGV and one that never
 * returns. It links no runtime: ts_runtime_set_error comes from the server process. */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include "tessera/runtime.h"

static TsDLTensor *tensor_arg(const char *kernel, const TsValue *args, const int32_t *codes,
                              int32_t num_args, int i)
{
    if (i >= num_args || codes[i] != TS_ARG_TENSOR) {
        char message[128];
        snprintf(message, sizeof message, "%s: argument %d is not a tensor", kernel, i);
        ts_runtime_set_error(message);
        return NULL;
    }
    return args[i].v_handle;
}

/* B[i] = A[i] + 1 for float32 A and B of the same length. */
static int32_t add_one(const TsValue *args, const int32_t *codes, int32_t num_args)
{
    TsDLTensor *a = tensor_arg("add_one", args, codes, num_args, 0);
    TsDLTensor *b = a ? tensor_arg("add_one", args, codes, num_args, 1) : NULL;
    if (!b)
        return -1;
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

/* N[0] += 1 for an int64 N: counts the calls. */
static int32_t count(const TsValue *args, const int32_t *codes, int32_t num_args)
{
    TsDLTensor *n = tensor_arg("count", args, codes, num_args, 0);
    if (!n)
        return -1;
    ((int64_t *)n->data)[0] += 1;
    return 0;
}

static int32_t fail(const TsValue *args, const int32_t *codes, int32_t num_args)
{
    (void)args;
    (void)codes;
    (void)num_args;
    ts_runtime_set_error("fail: the input is not what this kernel wants");
    return -1;
}

static int32_t segfault(const TsValue *args, const int32_t *codes, int32_t num_args)
{
    (void)args;
    (void)codes;
    (void)num_args;
    raise(SIGSEGV);
    return 0;
}

static int32_t spin(const TsValue *args, const int32_t *codes, int32_t num_args)
{
    (void)args;
    (void)codes;
    (void)num_args;
    for (volatile int forever = 1; forever;)
        continue;
    return 0;
}

static const TsFuncEntry entries[] = {
    { "add_one", add_one, 2, "A:float32[n];B:float32[n]" },
    { "count", count, 1, "N:int64[1]" },
    { "fail", fail, 0, "" },
    { "segfault", segfault, 0, "" },
    { "spin", spin, 0, "" },
};

const TsModuleTable tessera_module_table = { .abi_version = TS_MODULE_ABI_VERSION,
                                             .num_funcs = 5,
                                             .funcs = entries };
