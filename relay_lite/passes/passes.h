/* The graph passes of relay_lite: their entry points, listed in order by pipeline.c, and
 * the graph-editing helpers they share (rewrite.c).
 *
 * A pass edits the graph in place: the graph owns one arena for its whole life, and a
 * pass that rewrites it builds replacement nodes and constants in that arena instead of
 * changing a node that exists (the old ones stay allocated, unreferenced, until
 * ts_graph_free). Values are updated in place, as inference updates them: a folded
 * node's output becomes an initializer holding its constant, keeping its name and its
 * readers. A pass returns TS_OK, or a status with err naming the node at fault;
 * it never aborts on a graph the importer accepted. After a pass that rewrites the graph,
 * the pipeline drops unused constants, renumbers the nodes and infers and verifies again.
 */
#ifndef TESSERA_RELAY_PASSES_H
#define TESSERA_RELAY_PASSES_H

#include "relay_lite/rly_internal.h"

/* ---- the passes, in pipeline order ---- */

/* Identity and Dropout (inference mode) replaced by their input. */
TsStatus rly_pass_remove_identity(TsGraph *graph, TsError *err);
/* DequantizeLinear -> Conv / Gemm / MatMul / Add -> [Relu | Clip] -> QuantizeLinear fused
 * into integer operators with requantization (fuse_qdq.c). */
TsStatus rly_pass_fuse_qdq(TsGraph *graph, TsError *err);
/* Nodes whose inputs are constants (and Shape of a known shape) computed on the host. */
TsStatus rly_pass_fold_constants(TsGraph *graph, TsError *err);
/* Nodes whose outputs reach no graph output removed. */
TsStatus rly_pass_eliminate_dead(TsGraph *graph, TsError *err);
/* BatchNormalization after Conv, ConvTranspose, Gemm or MatMul(+Add) folded into weights. */
TsStatus rly_pass_fold_batch_norm(TsGraph *graph, TsError *err);
/* Every node put into one RlyGroup (graph->groups). */
TsStatus rly_pass_fuse(TsGraph *graph, TsError *err);
/* Every intermediate value given an offset in one arena (graph->plan). */
TsStatus rly_pass_memory_plan(TsGraph *graph, TsError *err);

/* ---- fold_kernels.c: host evaluation for constant folding ---- */

/* The most elements a folded constant may have: bigger results stay computed at run time. */
#define RLY_FOLD_MAX_ELEMENTS ((int64_t)1 << 24)

/* Computes node's single output on the host from its constant inputs (for Shape, from
 * its input's known shape) into *result; *result NULL when the node's op is not one the
 * host computes or an input is not known yet. Errors (an index out of range, an integer
 * division by zero) name the node. */
TsStatus rly_fold_eval(TsGraph *graph, const RlyNode *node, const RlyConst **result, TsError *err);

/* ---- rewrite.c: editing a graph ---- */

/* The node's readers: how many input slots of nodes read value, plus one if it is a
 * graph output. */
int rly_count_uses(const TsGraph *graph, const RlyValue *value);
bool rly_is_graph_output(const TsGraph *graph, const RlyValue *value);
/* A copy of node, in the graph's arena, with its own input and output arrays; NULL when
 * memory runs out. */
RlyNode *rly_node_clone(TsGraph *graph, const RlyNode *node);
/* Puts replacement where node was in graph->nodes and makes it the producer of its
 * outputs. */
void rly_replace_node(TsGraph *graph, const RlyNode *node, RlyNode *replacement);
/* Every read of from (node inputs, graph outputs) reads to instead. */
TsStatus rly_replace_uses(TsGraph *graph, const RlyValue *from, RlyValue *to, TsError *err);
/* A zero-filled constant of dtype and shape in the graph's arena; NULL when memory runs
 * out or the element count is negative. */
RlyConst *rly_const_new(TsGraph *graph, TsDType dtype, int ndim, const int64_t *dims);
/* Turns value (a node's output) into an initializer holding c: no producer any more. */
TsStatus rly_value_make_constant(TsGraph *graph, RlyValue *value, const RlyConst *c, TsError *err);
/* A new constant value holding c, listed among the initializers, called name or, when a
 * value has that name already, name_1, name_2, ...; NULL (err filled) when memory runs
 * out. */
RlyValue *rly_const_value(TsGraph *graph, const char *name, const RlyConst *c, TsError *err);
/* Removes graph->nodes[k] (the slot becomes NULL until rly_graph_compact). */
void rly_remove_node_at(TsGraph *graph, int k);
/* Squeezes out removed nodes, drops initializers nothing reads, rebuilds the value list
 * and renumbers the nodes in topological order. */
TsStatus rly_graph_compact(TsGraph *graph, TsError *err);

#endif /* TESSERA_RELAY_PASSES_H */
