/* A module as Tessera exports them, written by hand: two packed kernels and the function
 * table under TS_MODULE_TABLE_SYMBOL. test_module_load loads it, lists it and calls it.
 * Like a generated kernel, each checks its arguments and reports a mismatch through the
 * runtime's error slot, which it finds in the loading process (it links no runtime of
 * its own). */
#include <stdio.h>

#include "tessera/runtime.h"

/* TsDLTensor of float32 with ndim dimensions, or NULL after saying why. */
static TsDLTensor *float_tensor(const char *kernel, const TsValue *args, const int32_t *type_codes,
                                int i, int ndim)
{
    char message[160];
    if (type_codes[i] != TS_ARG_TENSOR) {
        snprintf(message, sizeof message, "%s: argument %d has type code %d, not a tensor", kernel,
                 i, (int)type_codes[i]);
        ts_runtime_set_error(message);
        return NULL;
    }
    TsDLTensor *t = args[i].v_handle;
    if (t->ndim != ndim || t->dtype.code != TS_TYPE_FLOAT || t->dtype.bits != 32 ||
        t->dtype.lanes != 1) {
        snprintf(message, sizeof message,
                 "%s: argument %d is not a float32 tensor of %d "
                 "dimensions",
                 kernel, i, ndim);
        ts_runtime_set_error(message);
        return NULL;
    }
    return t;
}

static int32_t check_count(const char *kernel, int32_t num_args, int32_t want)
{
    if (num_args == want)
        return 0;
    char message[128];
    snprintf(message, sizeof message, "%s: expected %d arguments, got %d", kernel, (int)want,
             (int)num_args);
    ts_runtime_set_error(message);
    return -1;
}

/* B[i] = A[i] + 1 for A, B of float32[n]. */
static int32_t add_one(const TsValue *args, const int32_t *type_codes, int32_t num_args)
{
    if (check_count("add_one", num_args, 2) != 0)
        return -1;
    TsDLTensor *a = float_tensor("add_one", args, type_codes, 0, 1);
    TsDLTensor *b = a ? float_tensor("add_one", args, type_codes, 1, 1) : NULL;
    if (!b)
        return -1;
    if (a->shape[0] != b->shape[0]) {
        ts_runtime_set_error("add_one: A and B differ in length");
        return -1;
    }
    const float *in = (const float *)((const char *)a->data + a->byte_offset);
    float *out = (float *)((char *)b->data + b->byte_offset);
    for (int64_t i = 0; i < a->shape[0]; i++)
        out[i] = in[i] + 1.0f;
    return 0;
}

/* X[i, j] *= factor in place, for X of float32[m, n] and a float factor. */
static int32_t scale(const TsValue *args, const int32_t *type_codes, int32_t num_args)
{
    if (check_count("scale", num_args, 2) != 0)
        return -1;
    TsDLTensor *x = float_tensor("scale", args, type_codes, 0, 2);
    if (!x)
        return -1;
    if (type_codes[1] != TS_ARG_FLOAT) {
        ts_runtime_set_error("scale: argument 1 (factor) is not a float");
        return -1;
    }
    float *data = (float *)((char *)x->data + x->byte_offset);
    for (int64_t i = 0; i < x->shape[0] * x->shape[1]; i++)
        data[i] = (float)(data[i] * args[1].v_float64);
    return 0;
}

static const TsFuncEntry entries[] = {
    { "add_one", add_one, 2, "A:float32[n];B:float32[n]" },
    { "scale", scale, 2, "X:float32[m,n];factor:float64" },
};

const TsModuleTable tessera_module_table = { .abi_version = TS_MODULE_ABI_VERSION,
                                             .num_funcs = 2,
                                             .funcs = entries };
