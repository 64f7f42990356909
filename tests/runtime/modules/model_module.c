/* A whole model written by hand in the version-3 table format (graph_executor.h), for the
 * graph executor's tests without a compiler: input x float32[2,3], weight w float32[3]
 * (in the weights blob),
 *     t = x + w      (kernel "add_row", t in the arena at offset 64)
 *     y = relu(t)    (kernel "relu", y the graph's output)
 * so y[i][j] = max(0, x[i][j] + w[j]) with w = {1, -2, 0.5}. A kernel checks the arguments
 * it relies on and fails with a message when x holds the value 99 (so that a failing
 * call can be tested). */
#include <stddef.h>
#include <string.h>

#include "tessera/graph_executor.h"

static int32_t add_row(const TsValue *args, const int32_t *type_codes, int32_t num_args)
{
    if (num_args != 3 || type_codes[0] != TS_ARG_TENSOR) {
        ts_runtime_set_error("add_row: bad arguments");
        return -1;
    }
    const TsDLTensor *x = args[0].v_handle, *w = args[1].v_handle, *t = args[2].v_handle;
    const float *xs = x->data, *ws = w->data;
    float *ts = t->data;
    for (int i = 0; i < 6; i++) {
        if (xs[i] == 99.0f) {
            ts_runtime_set_error("add_row: the input holds 99");
            return -1;
        }
        ts[i] = xs[i] + ws[i % 3];
    }
    return 0;
}

static int32_t relu(const TsValue *args, const int32_t *type_codes, int32_t num_args)
{
    (void)type_codes;
    if (num_args != 2)
        return -1;
    const TsDLTensor *t = args[0].v_handle, *y = args[1].v_handle;
    const float *ts = t->data;
    float *ys = y->data;
    for (int i = 0; i < 6; i++)
        ys[i] = ts[i] > 0 ? ts[i] : 0;
    return 0;
}

static const TsFuncEntry entries[] = {
    { "add_row", add_row, 3, "x:float32[2,3];w:float32[3];t:float32[2,3]" },
    { "relu", relu, 2, "t:float32[2,3];y:float32[2,3]" },
};

#define STRINGS "x\0w\0t\0y\0add_row\0relu"
#define F32 { TS_TYPE_FLOAT, 32, 1 }

static const struct {
    TsModelGraphHeader header;
    TsModelTensor tensors[4];
    TsModelCall calls[2];
    uint32_t args[5];
    uint32_t inputs[1];
    uint32_t outputs[1];
    char strings[sizeof STRINGS];
} __attribute__((aligned(64))) graph = {
    { TS_MODEL_GRAPH_MAGIC, TS_MODEL_FORMAT_VERSION, 4, 2, 5, 1, 1, sizeof STRINGS },
    {
        { 0, TS_MODEL_INPUT, 0, F32, 2, 0, 0, { 2, 3 } },
        { 2, TS_MODEL_WEIGHT, 0, F32, 1, 0, 0, { 3 } },
        { 4, TS_MODEL_ARENA, 0, F32, 2, 0, 0, { 2, 3 } },
        { 6, TS_MODEL_OUTPUT, 0, F32, 2, 0, 0, { 2, 3 } },
    },
    { { 8, 0, 3, 0 }, { 16, 3, 2, 0 } },
    { 0, 1, 2, 2, 3 },
    { 0 },
    { 3 },
    STRINGS,
};

static const float weights[16] __attribute__((aligned(64))) = { 1.0f, -2.0f, 0.5f };

static const struct {
    TsModelPlanHeader header;
    uint64_t offsets[4];
} __attribute__((aligned(64))) plan = {
    { TS_MODEL_PLAN_MAGIC, TS_MODEL_FORMAT_VERSION, 4, 0, 128 },
    { TS_MODEL_NO_OFFSET, TS_MODEL_NO_OFFSET, 64, TS_MODEL_NO_OFFSET },
};

const TsModuleTable tessera_module_table = {
    .abi_version = TS_MODULE_ABI_VERSION,
    .num_funcs = 2,
    .funcs = entries,
    .flags = TS_MODULE_HAS_MODEL,
    .graph = &graph,
    .weights = weights,
    .memory_plan = &plan,
    .graph_bytes = offsetof(__typeof__(graph), strings) + sizeof STRINGS,
    .weights_bytes = sizeof weights,
    .memory_plan_bytes = sizeof plan.header + sizeof plan.offsets,
};
