/* The graph verifier. rly_verify_structure runs at import, before inference: every value
 * has one definition, no cycle, and the nodes put in topological order. ts_graph_verify
 * checks a whole graph at any point of the pipeline (after import, after each pass):
 * each input defined before its use, every value typed, the dtypes an operator's inputs
 * must share agreeing, ranks that the operators need. Messages name the node. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "relay_lite/rly_internal.h"

/* ---- structure and topological order ---- */

typedef struct Frame {
    RlyNode *node;
    int next_input;
} Frame;

enum { UNSEEN = 0, ON_PATH, DONE };

/* Depth-first, iterative (a model can be thousands of nodes deep), visiting the nodes in
 * the model's order so that an already sorted graph keeps its order. */
static TsStatus topo_sort(TsGraph *graph, uint8_t *state, Frame *stack, RlyNode **order,
                          TsError *err)
{
    int placed = 0;
    for (int root = 0; root < graph->num_nodes; root++) {
        if (state[graph->nodes[root]->id] != UNSEEN)
            continue;
        int depth = 0;
        stack[depth++] = (Frame){ graph->nodes[root], 0 };
        state[graph->nodes[root]->id] = ON_PATH;
        while (depth > 0) {
            Frame *top = &stack[depth - 1];
            if (top->next_input == top->node->num_inputs) {
                state[top->node->id] = DONE;
                order[placed++] = top->node;
                depth--;
                continue;
            }
            const RlyValue *input = top->node->inputs[top->next_input++];
            RlyNode *producer = input ? input->producer : NULL;
            if (!producer || state[producer->id] == DONE)
                continue;
            if (state[producer->id] == ON_PATH)
                return rly_node_fail(graph, top->node, err, TS_EINVAL,
                                     "input \"%s\" depends on "
                                     "this node's own output: the graph has a cycle",
                                     input->name);
            state[producer->id] = ON_PATH;
            stack[depth++] = (Frame){ producer, 0 };
        }
    }
    memcpy(graph->nodes, order, (size_t)graph->num_nodes * sizeof *order);
    return TS_OK;
}

TsStatus rly_verify_structure(TsGraph *graph, TsError *err)
{
    for (int k = 0; k < graph->num_nodes; k++)
        graph->nodes[k]->id = k;
    size_t n = (size_t)graph->num_nodes + 1;
    uint8_t *state = calloc(n, 1);
    Frame *stack = calloc(n, sizeof *stack);
    RlyNode **order = calloc(n, sizeof *order);
    TsStatus status = state && stack && order
                          ? topo_sort(graph, state, stack, order, err)
                          : ts_fail(err, TS_ENOMEM, "%s: out of memory", graph->source);
    free(order);
    free(stack);
    free(state);
    for (int k = 0; status == TS_OK && k < graph->num_nodes; k++)
        graph->nodes[k]->id = k;
    return status;
}

/* ---- the whole graph ---- */

/* A set of values (pointers), open addressing; enough for one verification. */
typedef struct ValueSet {
    size_t size;
    const RlyValue **slots;
} ValueSet;

static const RlyValue **set_slot(const ValueSet *set, const RlyValue *value)
{
    size_t k = ((uintptr_t)value >> 4) * 11400714819323198485u & (set->size - 1);
    while (set->slots[k] && set->slots[k] != value)
        k = (k + 1) & (set->size - 1);
    return &set->slots[k];
}

static bool set_has(const ValueSet *set, const RlyValue *value)
{
    return *set_slot(set, value);
}
static void set_add(ValueSet *set, const RlyValue *value)
{
    *set_slot(set, value) = value;
}

/* The inputs of op that must share input 0's dtype (a bit per input; ~0 for all). */
static unsigned same_dtype_inputs(RlyOpKind op)
{
    switch (op) {
    case RLY_OP_CONV:
    case RLY_OP_CONV_TRANSPOSE:
    case RLY_OP_GEMM: return 0x7;
    case RLY_OP_MATMUL:
    case RLY_OP_ADD:
    case RLY_OP_SUB:
    case RLY_OP_MUL:
    case RLY_OP_DIV: return 0x3;
    case RLY_OP_LAYER_NORM:
    case RLY_OP_CLIP:
    case RLY_OP_SUM:
    case RLY_OP_MAX:
    case RLY_OP_MIN:
    case RLY_OP_MEAN:
    case RLY_OP_CONCAT: return ~0u;
    case RLY_OP_PAD: return 0x5;
    case RLY_OP_BATCH_NORM:
    case RLY_OP_RELU:
    case RLY_OP_LEAKY_RELU:
    case RLY_OP_SIGMOID:
    case RLY_OP_TANH:
    case RLY_OP_HARD_SIGMOID:
    case RLY_OP_HARD_SWISH:
    case RLY_OP_ERF:
    case RLY_OP_GELU:
    case RLY_OP_POW:
    case RLY_OP_SQRT:
    case RLY_OP_MAX_POOL:
    case RLY_OP_AVERAGE_POOL:
    case RLY_OP_GLOBAL_AVERAGE_POOL:
    case RLY_OP_SPLIT:
    case RLY_OP_SLICE:
    case RLY_OP_RESHAPE:
    case RLY_OP_FLATTEN:
    case RLY_OP_TRANSPOSE:
    case RLY_OP_SQUEEZE:
    case RLY_OP_UNSQUEEZE:
    case RLY_OP_SHAPE:
    case RLY_OP_GATHER:
    case RLY_OP_EXPAND:
    case RLY_OP_CAST:
    case RLY_OP_RESIZE:
    case RLY_OP_UPSAMPLE:
    case RLY_OP_SOFTMAX:
    case RLY_OP_REDUCE_MEAN:
    case RLY_OP_REDUCE_SUM:
    case RLY_OP_IDENTITY:
    case RLY_OP_DROPOUT:
    case RLY_OP_CONSTANT:
    case RLY_OP_CONSTANT_OF_SHAPE:
    case RLY_OP_QUANTIZE_LINEAR:
    case RLY_OP_DEQUANTIZE_LINEAR:
    case RLY_OP_QLINEAR_CONV:
    case RLY_OP_QLINEAR_MATMUL:
    case RLY_OP_CONV_INTEGER:
    case RLY_OP_MATMUL_INTEGER:
    case RLY_OP_QLINEAR_ADD:
    case RLY_OP_QCONV_REQUANT:
    case RLY_OP_QDENSE_REQUANT:
    case RLY_OP_QADD_REQUANT:
    case RLY_NUM_OPS: return 0x1;
    }
    return 0x1;
}

/* Rank errors the verifier checks after any pass: a convolution's weight has its input's
 * rank, Gemm takes matrices. (The other operators' ranks are checked by their rules.) */
static TsStatus check_ranks(const TsGraph *graph, const RlyNode *node, TsError *err)
{
    const RlyValue *x = rly_input(node, 0), *w = rly_input(node, 1);
    bool conv = node->op == RLY_OP_CONV || node->op == RLY_OP_CONV_TRANSPOSE;
    if (conv && x && w && x->ndim >= 0 && w->ndim >= 0 && x->ndim != w->ndim)
        return rly_node_fail(graph, node, err, TS_EINVAL,
                             "rank error: weight \"%s\" has rank %d, "
                             "input \"%s\" rank %d",
                             w->name, w->ndim, x->name, x->ndim);
    for (int k = 0; node->op == RLY_OP_GEMM && k < 2; k++) {
        const RlyValue *m = rly_input(node, k);
        if (m && m->ndim >= 0 && m->ndim != 2)
            return rly_node_fail(graph, node, err, TS_EINVAL,
                                 "rank error: input %d \"%s\" has "
                                 "rank %d, Gemm takes matrices",
                                 k, m->name, m->ndim);
    }
    return TS_OK;
}

static TsStatus check_node(const TsGraph *graph, const RlyNode *node, ValueSet *defined,
                           TsError *err)
{
    unsigned same = same_dtype_inputs(node->op);
    const RlyValue *first = rly_input(node, 0);
    char b0[TS_DTYPE_STR_MAX], b1[TS_DTYPE_STR_MAX];
    for (int k = 0; k < node->num_inputs; k++) {
        const RlyValue *input = node->inputs[k];
        if (!input)
            continue;
        if (!set_has(defined, input))
            return rly_node_fail(graph, node, err, TS_EINVAL,
                                 "input %d \"%s\" is not defined "
                                 "before this node (undefined, or a cycle)",
                                 k, input->name);
        if (!input->has_dtype)
            return rly_node_fail(graph, node, err, TS_EINVAL, "input %d \"%s\" has no type", k,
                                 input->name);
        if (k > 0 && k < 32 && (same >> k & 1) && first && !ts_dtype_eq(first->dtype, input->dtype))
            return rly_node_fail(graph, node, err, TS_EINVAL,
                                 "dtype mismatch: input %d \"%s\" is "
                                 "%s, input 0 \"%s\" is %s",
                                 k, input->name, ts_dtype_str(input->dtype, b1), first->name,
                                 ts_dtype_str(first->dtype, b0));
    }
    for (int k = 0; k < node->num_outputs; k++) {
        const RlyValue *output = node->outputs[k];
        if (!output)
            continue;
        if (set_has(defined, output))
            return rly_node_fail(graph, node, err, TS_EINVAL, "output \"%s\" is defined twice",
                                 output->name);
        if (!output->has_dtype)
            return rly_node_fail(graph, node, err, TS_EINVAL, "output \"%s\" has no type",
                                 output->name);
        set_add(defined, output);
    }
    return check_ranks(graph, node, err);
}

TsStatus ts_graph_verify(const TsGraph *graph, TsError *err)
{
    ValueSet defined = { 16, NULL };
    while (defined.size < 2 * (size_t)graph->num_values + 2)
        defined.size *= 2;
    defined.slots = calloc(defined.size, sizeof *defined.slots);
    if (!defined.slots)
        return ts_fail(err, TS_ENOMEM, "%s: out of memory", graph->source);
    for (int k = 0; k < graph->num_inputs; k++)
        set_add(&defined, graph->inputs[k]);
    for (int k = 0; k < graph->num_initializers; k++)
        set_add(&defined, graph->initializers[k]);
    TsStatus status = TS_OK;
    for (int k = 0; status == TS_OK && k < graph->num_nodes; k++)
        status = check_node(graph, graph->nodes[k], &defined, err);
    for (int k = 0; status == TS_OK && k < graph->num_outputs; k++)
        if (!set_has(&defined, graph->outputs[k]))
            status = ts_fail(err, TS_EINVAL, "%s: graph output \"%s\" is not defined",
                             graph->source, graph->outputs[k]->name);
    free(defined.slots);
    return status;
}
