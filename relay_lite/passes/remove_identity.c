/* Pass remove_identity, first in the pipeline: Identity and inference-mode Dropout copy
 * their input, so their output is replaced by the input everywhere. A Dropout's mask
 * output, when something reads it, becomes a constant all-true tensor of the input's
 * shape (inference keeps every element).
 *
 * A graph output keeps its name: when the node's output is a graph output, the input is
 * renamed instead (its producer now writes the output value), which is possible when the
 * input is a node's output and not itself a graph output. When it is a graph input or a
 * constant or another graph output, the copy is real and the node stays (constant
 * folding turns the copy of a constant into a constant). */
#include <string.h>

#include "relay_lite/passes/passes.h"

/* A Dropout's used mask becomes a constant; false when its shape is not known yet. */
static TsStatus fold_mask(TsGraph *graph, const RlyNode *node, bool *keep, TsError *err)
{
    RlyValue *mask = rly_output(node, 1);
    if (!mask || rly_count_uses(graph, mask) == 0)
        return TS_OK;
    const RlyValue *x = rly_input(node, 0);
    if (!rly_value_known(x)) {
        *keep = true;
        return TS_OK;
    }
    RlyConst *c = rly_const_new(graph, TS_BOOL, x->ndim, x->dims);
    if (!c)
        return rly_node_fail(graph, node, err, TS_ENOMEM, "out of memory for the mask");
    memset((void *)c->data, 1, (size_t)c->num_elements);
    return rly_value_make_constant(graph, mask, c, err);
}

/* Output y of node becomes its input x: either every reader of y reads x, or (y a graph
 * output) x's producer writes y. *removed false when neither is possible. */
static TsStatus bypass(TsGraph *graph, RlyNode *node, bool *removed, TsError *err)
{
    RlyValue *x = rly_input(node, 0), *y = rly_output(node, 0);
    *removed = false;
    if (!y || !x)
        return TS_OK;
    if (!rly_is_graph_output(graph, y)) {
        *removed = true;
        return rly_replace_uses(graph, y, x, err);
    }
    if (x->kind != RLY_VALUE_NODE || rly_is_graph_output(graph, x))
        return TS_OK;
    RlyNode *producer = rly_node_clone(graph, x->producer);
    if (!producer)
        return rly_node_fail(graph, node, err, TS_ENOMEM, "out of memory");
    TsStatus status = rly_replace_uses(graph, x, y, err);
    if (status != TS_OK)
        return status;
    /* replace_uses cloned this node (it read x); the producer writes y now. */
    producer->outputs[x->producer_output] = y;
    rly_replace_node(graph, x->producer, producer);
    *removed = true;
    return TS_OK;
}

TsStatus rly_pass_remove_identity(TsGraph *graph, TsError *err)
{
    for (int k = 0; k < graph->num_nodes; k++) {
        RlyNode *node = graph->nodes[k];
        if (node->op != RLY_OP_IDENTITY && node->op != RLY_OP_DROPOUT)
            continue;
        bool keep = false, removed = false;
        TsStatus status = node->op == RLY_OP_DROPOUT ? fold_mask(graph, node, &keep, err) : TS_OK;
        if (status == TS_OK && !keep)
            status = bypass(graph, graph->nodes[k], &removed, err);
        if (status != TS_OK)
            return status;
        if (removed)
            rly_remove_node_at(graph, k);
    }
    return TS_OK;
}
