/* relay_lite's private header: the graph IR shared by the importer, shape and type
 * inference, the verifier and the printer (and, later, the graph passes).
 *
 * A graph and everything in it live in the graph's arena, freed whole by ts_graph_free.
 * Nodes, attributes and constants do not change once built. Values (the graph's tensors)
 * carry their inferred dtype and shape, which inference fills in place: it may run again
 * after a pass has made more of them known.
 */
#ifndef TESSERA_RELAY_RLY_INTERNAL_H
#define TESSERA_RELAY_RLY_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "tessera/arena.h"
#include "tessera/relay.h"
#include "tessera/te.h"

_Static_assert(TS_GRAPH_MAX_DIMS == TS_MAX_DIMS, "a graph tensor's rank limit is te's");

/* The most elements a graph tensor may have (2^40, 4 TiB of float32): a bound under which
 * products of extents cannot overflow. */
#define RLY_MAX_ELEMENTS ((int64_t)1 << 40)

typedef enum RlyOpKind {
#define X(kind, name, since, until) RLY_OP_##kind,
#include "relay_lite/op_kinds.def"
#undef X
    RLY_NUM_OPS
} RlyOpKind;

/* "Conv", ... as ONNX spells the op type. */
const char *rly_op_name(RlyOpKind op);
/* The kind named op_type; false when the graph IR has none. */
bool rly_op_lookup(const char *op_type, RlyOpKind *out);
/* The opsets an operator is accepted in (op_kinds.def). */
int rly_op_since(RlyOpKind op);
int rly_op_until(RlyOpKind op);

/* A constant tensor: an initializer, a Constant node's value, a tensor attribute. Its
 * data are dense, row-major, host order, ts_dtype_bytes(dtype) bytes an element. */
typedef struct RlyConst {
    TsDType dtype;
    int ndim;
    int64_t shape[TS_MAX_DIMS];
    int64_t num_elements;
    const void *data;
} RlyConst;

typedef enum RlyAttrKind {
    RLY_ATTR_INT,
    RLY_ATTR_FLOAT,
    RLY_ATTR_STRING,
    RLY_ATTR_INTS,
    RLY_ATTR_FLOATS,
    RLY_ATTR_TENSOR
} RlyAttrKind;

const char *rly_attr_kind_name(RlyAttrKind kind);

typedef struct RlyAttr {
    const char *name;
    RlyAttrKind kind;
    int64_t i;      /* INT */
    double f;       /* FLOAT (a float32 in the file) */
    const char *s;  /* STRING */
    int num_values; /* INTS, FLOATS */
    const int64_t *ints;
    const double *floats;
    const RlyConst *tensor; /* TENSOR */
} RlyAttr;

/* Where a value comes from. */
typedef enum RlyValueKind { RLY_VALUE_INPUT, RLY_VALUE_INITIALIZER, RLY_VALUE_NODE } RlyValueKind;

struct RlyNode;

/* A tensor of the graph. ndim is -1 while the rank is unknown, and a dimension -1 while
 * its extent is; has_dtype is false while the type is unknown. */
typedef struct RlyValue {
    const char *name;
    RlyValueKind kind;
    struct RlyNode *producer; /* NODE: the node that computes it, and which output */
    int producer_output;
    bool has_dtype;
    TsDType dtype;
    int ndim;
    int64_t dims[TS_MAX_DIMS];
    const RlyConst *constant; /* the contents when known (initializers, Constant) */
} RlyValue;

typedef struct RlyNode {
    int id;            /* its position in the model's node list */
    const char *name;  /* the model's name; "" when it has none */
    const char *label; /* how messages and the printer name it: the name or "#k" */
    const char *op_type;
    RlyOpKind op;
    int num_inputs;
    RlyValue **inputs; /* NULL for an omitted optional input */
    int num_outputs;
    RlyValue **outputs; /* NULL for an omitted optional output */
    int num_attrs;
    const RlyAttr *attrs;
} RlyNode;

struct TsGraph {
    TsArena *arena;
    const char *name;
    const char *source; /* the file it was read from */
    int64_t opset;
    int64_t ir_version;
    int num_nodes;
    RlyNode **nodes; /* in topological order once verified */
    int num_values;
    RlyValue **values;
    int num_inputs; /* graph inputs that are not initializers */
    RlyValue **inputs;
    int num_initializers;
    RlyValue **initializers;
    int num_outputs;
    RlyValue **outputs;
    int num_notes;
    const char **notes;
    /* Set by the fusion pass (NULL before it runs): every node of the graph in exactly
     * one group, the groups in an order that runs them correctly. */
    int num_groups;
    struct RlyGroup **groups;
    /* Set by the memory-planning pass (NULL before it runs). */
    struct RlyMemPlan *plan;
};

/* ---- fusion groups and the memory plan: written by the passes, read by the builder ---- */

/* What schedules a group. */
typedef enum RlyGroupKind {
    RLY_GROUP_ANCHORED,  /* a conv, gemm/matmul or pool (the anchor) with fused consumers:
                            its template schedules the whole group */
    RLY_GROUP_INJECTIVE, /* elementwise and injective nodes alone: a generic schedule */
    RLY_GROUP_OPAQUE     /* a node that runs alone (softmax, a reduction, layer norm) */
} RlyGroupKind;

/* Nodes that become one kernel. */
typedef struct RlyGroup {
    int id;
    RlyGroupKind kind;
    RlyNode *anchor; /* ANCHORED: the node whose template schedules the group; else NULL */
    int num_nodes;
    RlyNode **nodes; /* in topological order */
    int num_inputs;
    RlyValue **inputs; /* values read from outside: graph inputs, constants, other groups' */
    int num_outputs;
    RlyValue **outputs; /* values read outside the group, graph outputs, and node outputs
                           that nothing reads (a Split piece: the kernel still writes it) */
} RlyGroup;

/* Where one intermediate tensor lives: bytes at offset in the model's arena. Graph inputs,
 * outputs and constants have no entry: the caller and the weights hold them. */
typedef struct RlyBufferPlan {
    const RlyValue *value;
    int64_t offset; /* a multiple of 64 */
    int64_t bytes;  /* the value's size rounded up to 64 (64 for an empty tensor) */
    int first_group; /* its lifetime: the index in graph->groups of the group that writes */
    int last_group;  /* it, and of the last group that reads it */
} RlyBufferPlan;

typedef struct RlyMemPlan {
    int64_t arena_bytes; /* the arena's size, with buffers reused by liveness */
    int64_t naive_bytes; /* the sum of every planned buffer's size: what no reuse costs */
    int num_buffers;
    RlyBufferPlan *buffers;
} RlyMemPlan;

/* ---- graph.c: building ---- */

/* An empty graph owning a new arena; NULL when memory runs out. */
TsGraph *rly_graph_create(void);
/* Adds a note (a choice made for the user) to the graph. */
TsStatus rly_graph_note(TsGraph *graph, TsError *err, const char *fmt, ...) TS_PRINTF_LIKE(3, 4);
/* Fails with a message that starts by naming the node, its op type and the opset:
 * `node "conv1" (Conv, opset 13): ...`. */
TsStatus rly_node_fail(const TsGraph *graph, const RlyNode *node, TsError *err, TsStatus status,
                       const char *fmt, ...) TS_PRINTF_LIKE(5, 6);
/* The attribute called name, or NULL. */
const RlyAttr *rly_node_attr(const RlyNode *node, const char *name);
/* Input or output k, NULL when omitted or out of range. */
RlyValue *rly_input(const RlyNode *node, int k);
RlyValue *rly_output(const RlyNode *node, int k);
/* True when the value's rank and every extent are known. */
bool rly_value_known(const RlyValue *value);
/* Element count of a known value. */
int64_t rly_value_elements(const RlyValue *value);

/* ---- verify.c ---- */

/* Structure: every node input and graph output defined, one producer per value, no
 * cycle; puts the nodes in topological order (stable: a sorted graph keeps its order). */
TsStatus rly_verify_structure(TsGraph *graph, TsError *err);

/* ---- infer.c: helpers the operators' rules share; infer_ops.c: the rules ---- */

/* Sets output k (when the node has it) to dtype and shape; ndim -1 for an unknown rank,
 * dims entries -1 for unknown extents, dims NULL for all unknown. */
void rly_set_output(RlyNode *node, int k, TsDType dtype, int ndim, const int64_t *dims);
/* The integer contents of a constant rank-0 or rank-1 int32/int64 value, at most max of
 * them; false when the value is not a constant (yet). */
bool rly_const_ints(const RlyValue *value, int64_t *out, int max, int *count);
/* The same for float32/float64 contents. */
bool rly_const_floats(const RlyValue *value, double *out, int max, int *count);
/* Attributes of the expected kind, or their default when absent; a present attribute of
 * another kind is an error naming it. */
TsStatus rly_attr_int(const TsGraph *graph, const RlyNode *node, const char *name, int64_t def,
                      int64_t *out, TsError *err);
TsStatus rly_attr_float(const TsGraph *graph, const RlyNode *node, const char *name, double def,
                        double *out, TsError *err);
TsStatus rly_attr_string(const TsGraph *graph, const RlyNode *node, const char *name,
                         const char *def, const char **out, TsError *err);
/* INTS: *count -1 when absent. */
TsStatus rly_attr_ints(const TsGraph *graph, const RlyNode *node, const char *name, int max,
                       int64_t *out, int *count, TsError *err);
/* An axis in [-rank, rank - 1] made non-negative; what names it in the message. */
TsStatus rly_axis(const TsGraph *graph, const RlyNode *node, int64_t axis, int rank,
                  const char *what, int *out, TsError *err);
/* Multidirectional (numpy) broadcasting of b into out (which holds a, rank *ndim). */
TsStatus rly_broadcast(const TsGraph *graph, const RlyNode *node, int *ndim, int64_t *out,
                       const RlyValue *b, TsError *err);

/* Infers node's outputs from its inputs and attributes; refuses attribute values the
 * importer does not handle. Outputs it cannot know yet stay unknown. */
TsStatus rly_infer_node(TsGraph *graph, RlyNode *node, TsError *err);

/* ---- lower_node.c: a node's tensor expression, for the graph builder and tests ---- */

/* Builds, in arena, the compute of node's outputs from inputs[k], the te tensors that
 * stand for the node's inputs (NULL for an omitted optional one): placeholders, or the
 * results of the node's producers in the same group. An input whose value is a known
 * constant (value->constant) may also be read for its contents (a Reshape's shape, Pad's
 * pads). outputs[k] receives the tensor of output k (NULL for an omitted output). Every
 * attribute value the operator allows is handled or refused with a message naming the
 * node (rly_node_fail). Each inputs[k] must have its value's dtype and shape; each output
 * gets its value's (inferred) dtype and shape, and is a stage of its own. A Constant node's
 * output is a placeholder named after its value, which the caller binds to
 * value->constant->data as it binds the initializers' placeholders. */
TsStatus rly_lower_node(TsArena *arena, const TsGraph *graph, const RlyNode *node,
                        TsTensor *const *inputs, TsTensor **outputs, TsError *err);

#endif /* TESSERA_RELAY_RLY_INTERNAL_H */
