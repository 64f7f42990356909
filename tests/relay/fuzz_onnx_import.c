/* The libFuzzer target of the ONNX importer: any bytes, as a model, go through import,
 * verification and inference; a graph that comes out is printed, verified and inferred
 * again, goes through the graph passes, and every node is lowered to a tensor expression
 * (rly_lower_node), in order, over placeholders for the graph's inputs and constants.
 * Whatever the bytes, the importer, the passes and the lowering return a status (ASan and
 * UBSan watch). Built and run by run_fuzz_import.sh with clang. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "relay_lite/rly_internal.h"
#include "tessera/relay.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The tensor of value: produced by a node lowered before, or a new placeholder. Values are
 * found by a linear search; fuzzed graphs are small. */
static TsTensor *tensor_of(TsArena *arena, const TsGraph *graph, TsTensor **tensors,
                           const RlyValue *value)
{
    for (int k = 0; k < graph->num_values; k++) {
        if (graph->values[k] != value)
            continue;
        if (!tensors[k] && value->kind != RLY_VALUE_NODE && rly_value_known(value))
            tensors[k] = ts_placeholder(arena, "value", value->ndim, value->dims, value->dtype);
        return tensors[k];
    }
    return NULL;
}

static void store(const TsGraph *graph, TsTensor **tensors, const RlyValue *value, TsTensor *t)
{
    for (int k = 0; k < graph->num_values; k++)
        if (graph->values[k] == value)
            tensors[k] = t;
}

/* Lowers the nodes until one is refused; a refusal must come with a message. */
static void lower_all(const TsGraph *graph)
{
    TsArena *arena = ts_arena_create();
    TsTensor **tensors = calloc((size_t)graph->num_values + 1, sizeof *tensors);
    for (int n = 0; arena && tensors && n < graph->num_nodes; n++) {
        const RlyNode *node = graph->nodes[n];
        TsTensor **in = calloc((size_t)node->num_inputs + 1, sizeof *in);
        TsTensor **out = calloc((size_t)node->num_outputs + 1, sizeof *out);
        TsError err = { TS_OK, "" };
        if (!in || !out)
            abort();
        for (int k = 0; k < node->num_inputs; k++)
            in[k] = node->inputs[k] ? tensor_of(arena, graph, tensors, node->inputs[k]) : NULL;
        TsStatus status = rly_lower_node(arena, graph, node, in, out, &err);
        if (status != TS_OK && !err.message[0])
            abort(); /* a refusal says why */
        for (int k = 0; status == TS_OK && k < node->num_outputs; k++)
            if (node->outputs[k])
                store(graph, tensors, node->outputs[k], out[k]);
        free(in);
        free(out);
        if (status != TS_OK)
            break;
    }
    free(tensors);
    ts_arena_destroy(arena);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    TsGraph *graph = NULL;
    TsError err;
    if (ts_graph_import_onnx_bytes(data, size, "fuzz.onnx", NULL, &graph, &err) != TS_OK)
        return 0;
    TsArena *arena = ts_arena_create();
    if (arena && !ts_graph_str(arena, graph))
        abort();
    if (ts_graph_verify(graph, &err) != TS_OK || ts_graph_infer(graph, &err) != TS_OK)
        abort(); /* an imported graph verifies, and inference is repeatable */
    /* The graph passes never crash on an imported graph; a refusal says why. */
    if (ts_graph_optimize(graph, NULL, &err) != TS_OK && !err.message[0])
        abort();
    ts_arena_destroy(arena);
    lower_all(graph);
    ts_graph_free(graph);
    return 0;
}
