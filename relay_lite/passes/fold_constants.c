/* Pass fold_constants: a node whose inputs are all constants is computed on the host
 * (fold_kernels.c) and its output becomes a constant; so does Shape of a value whose
 * shape is known, constant or not. The nodes are visited in topological order and each
 * is inferred again first, so a chain folds in one run: Shape -> Gather -> Unsqueeze ->
 * Concat -> Reshape (a torch-style flatten) leaves the Reshape with a constant target,
 * and the inference that follows the pass knows its output's shape. Nodes the host does
 * not compute (a convolution of constants) stay. */
#include "relay_lite/passes/passes.h"

TsStatus rly_pass_fold_constants(TsGraph *graph, TsError *err)
{
    for (int k = 0; k < graph->num_nodes; k++) {
        RlyNode *node = graph->nodes[k];
        const RlyConst *result = NULL;
        TsStatus status = rly_infer_node(graph, node, err);
        if (status == TS_OK)
            status = rly_fold_eval(graph, node, &result, err);
        if (status == TS_OK && result)
            status = rly_value_make_constant(graph, rly_output(node, 0), result, err);
        if (status != TS_OK)
            return status;
        if (result)
            rly_remove_node_at(graph, k);
    }
    return TS_OK;
}
