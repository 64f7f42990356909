/* Pass eliminate_dead: removes the nodes none of whose outputs reaches a graph output
 * (walking back from the outputs), so that no kernel computes what is thrown away.
 * (The importer refuses the optional outputs that training would need, MaxPool's indices
 * and BatchNormalization's statistics, so a live node has no output worth dropping.)
 * Constants left unread are dropped by the compaction that follows every rewriting
 * pass. */
#include <stdlib.h>

#include "relay_lite/passes/passes.h"

/* Marks live[id] for every node an output depends on; nodes are in topological order,
 * so one backward sweep sees a node's readers before the node. */
static void mark_live(const TsGraph *graph, bool *live)
{
    for (int k = 0; k < graph->num_outputs; k++)
        if (graph->outputs[k]->producer)
            live[graph->outputs[k]->producer->id] = true;
    for (int k = graph->num_nodes - 1; k >= 0; k--) {
        const RlyNode *node = graph->nodes[k];
        if (!live[node->id])
            continue;
        for (int i = 0; i < node->num_inputs; i++)
            if (node->inputs[i] && node->inputs[i]->producer)
                live[node->inputs[i]->producer->id] = true;
    }
}

TsStatus rly_pass_eliminate_dead(TsGraph *graph, TsError *err)
{
    bool *live = calloc((size_t)graph->num_nodes + 1, sizeof *live);
    if (!live)
        return ts_fail(err, TS_ENOMEM, "%s: out of memory", graph->source);
    mark_live(graph, live);
    for (int k = graph->num_nodes - 1; k >= 0; k--)
        if (!live[graph->nodes[k]->id])
            rly_remove_node_at(graph, k);
    free(live);
    return TS_OK;
}
