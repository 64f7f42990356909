/* Shared by the node-lowering tests: a whole imported graph lowered node by node
 * (rly_lower_node) into one tensor-expression DAG, placeholders for the graph's inputs and
 * for its constants (bound to their data), and the ONNX node tests' data read beside it. */
#ifndef TESSERA_TESTS_RELAY_LOWER_TESTING_H
#define TESSERA_TESTS_RELAY_LOWER_TESTING_H

#include <stdbool.h>
#include <stddef.h>

#include "relay_lite/onnx_loader.h"
#include "relay_lite/rly_internal.h"

enum { LT_MAX_BINDINGS = 256, LT_MAX_IO = 16 };

typedef struct LoweredGraph {
    TsTensor *inputs[LT_MAX_IO]; /* one placeholder per graph input, in order */
    int num_outputs;
    TsTensor *outputs[LT_MAX_IO]; /* the tensor of each graph output */
    int num_bindings;             /* the constants' placeholders and their data */
    TsBinding bindings[LT_MAX_BINDINGS];
} LoweredGraph;

/* Lowers every node of graph into arena. On failure the message names the node. */
TsStatus lt_lower_graph(TsArena *arena, const TsGraph *graph, LoweredGraph *out, TsError *err);

/* Compares got with want (count elements of dtype): floats within rtol 1e-3 and atol
 * 1e-4 with NaN matching NaN, everything else exactly. false with the first mismatch in
 * message. */
bool lt_compare(TsDType dtype, int64_t count, const void *got, const void *want, char *message,
                size_t size);

#endif /* TESSERA_TESTS_RELAY_LOWER_TESTING_H */
