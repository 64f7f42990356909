/* Passes fuse and memory_plan: golden groups of a residual block (conv with bias add,
 * unfolded batch norm, activation, residual Add; a dense layer; an opaque Softmax), the
 * single-consumer rule, injective chains; exact arena and naive sizes on a chain; and,
 * on random DAGs, the invariants: every node in exactly one group, groups in an order
 * that runs, inputs and outputs as defined, and no two buffers that are live at once
 * sharing a byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "relay_lite/passes/passes.h"
#include "relay_testing.h"

enum { FLOAT = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT };

static ModelBuilder *with_input(int ndim, const int64_t *dims)
{
    ModelBuilder *mb = mb_new(13);
    mb_input(mb, "x", FLOAT, ndim, dims);
    return mb;
}

/* ---- golden groups ---- */

/* conv(+bias) -> BN -> Relu -> conv -> Add(x) -> Relu -> Flatten -> Gemm -> Softmax, with
 * batch-norm folding turned off so that the BatchNormalization fuses as elementwise. */
static void test_residual_block_groups(void **state)
{
    (void)state;
    ModelBuilder *mb = with_input(4, I64S(1, 4, 4, 4));
    mb_init_f32(mb, "w1", 4, I64S(4, 4, 3, 3));
    mb_init_f32(mb, "b1", 1, I64S(4));
    mb_init_f32(mb, "w2", 4, I64S(4, 4, 1, 1));
    for (int k = 0; k < 4; k++)
        mb_init_f32(mb, (const char *[]){ "s", "t", "m", "v" }[k], 1, I64S(4));
    mb_init_f32(mb, "fc", 2, I64S(64, 10));
    mb_attr_ints(mb, mb_node(mb, "Conv", "x,w1,b1", "c1"), "pads", NV(1, 1, 1, 1));
    mb_node(mb, "BatchNormalization", "c1,s,t,m,v", "n1");
    mb_node(mb, "Relu", "n1", "r1");
    mb_node(mb, "Conv", "r1,w2", "c2");
    mb_node(mb, "Add", "c2,x", "sum");
    mb_node(mb, "Relu", "sum", "r2");
    mb_node(mb, "Flatten", "r2", "flat");
    mb_node(mb, "Gemm", "flat,fc", "logits");
    mb_node(mb, "Softmax", "logits", "y");
    mb_output(mb, "y");
    TsGraph *graph = import_model(mb, NULL);
    static const char *const off[] = { "fold_batch_norm" };
    TsGraphOptions options = { .disabled = off, .num_disabled = 1 };
    TsError err;
    assert_int_equal(ts_graph_optimize(graph, &options, &err), TS_OK);
    expect_graph_text(
        graph,
        "graph \"g\" (opset 13, from model.onnx)\n"
        "  input  %x : float32[1, 4, 4, 4]\n"
        "  const  %w1 : float32[4, 4, 3, 3]\n"
        "  const  %b1 : float32[4]\n"
        "  const  %w2 : float32[4, 4, 1, 1]\n"
        "  const  %s : float32[4]\n"
        "  const  %t : float32[4]\n"
        "  const  %m : float32[4]\n"
        "  const  %v : float32[4]\n"
        "  const  %fc : float32[64, 10]\n"
        "  %c1 : float32[1, 4, 4, 4] = Conv \"Conv_0\" (%x, %w1, %b1) {pads=[1, 1, 1, 1]}\n"
        "  %n1 : float32[1, 4, 4, 4] = BatchNormalization \"BatchNormalization_1\" (%c1, %s, %t, "
        "%m, %v)\n"
        "  %r1 : float32[1, 4, 4, 4] = Relu \"Relu_2\" (%n1)\n"
        "  %c2 : float32[1, 4, 4, 4] = Conv \"Conv_3\" (%r1, %w2)\n"
        "  %sum : float32[1, 4, 4, 4] = Add \"Add_4\" (%c2, %x)\n"
        "  %r2 : float32[1, 4, 4, 4] = Relu \"Relu_5\" (%sum)\n"
        "  %flat : float32[1, 64] = Flatten \"Flatten_6\" (%r2)\n"
        "  %logits : float32[1, 10] = Gemm \"Gemm_7\" (%flat, %fc)\n"
        "  %y : float32[1, 10] = Softmax \"Softmax_8\" (%logits)\n"
        "  output %y\n"
        "  group 0 anchored \"Conv_0\": Conv_0, BatchNormalization_1, Relu_2 (%x, %w1, %b1, %s, "
        "%t, %m, %v -> %r1)\n"
        "  group 1 anchored \"Conv_3\": Conv_3, Add_4, Relu_5 (%r1, %w2, %x -> %r2)\n"
        "  group 2 injective: Flatten_6 (%r2 -> %flat)\n"
        "  group 3 anchored \"Gemm_7\": Gemm_7 (%flat, %fc -> %logits)\n"
        "  group 4 opaque: Softmax_8 (%logits -> %y)\n"
        "  memory plan: arena 512 bytes, naive 832 bytes, 4 buffers\n"
        "    %r1 : 256 bytes at offset 0 (groups 0..1)\n"
        "    %r2 : 256 bytes at offset 256 (groups 1..2)\n"
        "    %flat : 256 bytes at offset 0 (groups 2..3)\n"
        "    %logits : 64 bytes at offset 256 (groups 3..4)\n");
    ts_graph_free(graph);
}

/* A node joins its producer's group only as the producer's sole reader: a conv read by a
 * Relu and a Sigmoid stays alone; a graph output ends its group too. Injective and
 * elementwise nodes chain into one injective group; an anchor never joins one. */
static void test_single_consumer_and_injective_chains(void **state)
{
    (void)state;
    ModelBuilder *mb;
    TsGraph *graph;
    mb = with_input(4, I64S(1, 2, 3, 3));
    mb_init_f32(mb, "w", 4, I64S(2, 2, 1, 1));
    mb_node(mb, "Conv", "x,w", "c");
    mb_node(mb, "Relu", "c", "r");
    mb_node(mb, "Sigmoid", "c", "s");
    mb_node(mb, "Add", "r,s", "sum");
    mb_attr_ints(mb, mb_node(mb, "Transpose", "sum", "t"), "perm", NV(0, 1, 3, 2));
    mb_node(mb, "Tanh", "t", "u");
    mb_node(mb, "Sqrt", "u", "y");
    mb_node(mb, "Conv", "y,w", "z");
    mb_output(mb, "u");
    mb_output(mb, "z");
    graph = import_model(mb, NULL);
    run_passes(graph, "fuse");
    assert_int_equal(graph->num_groups, 5);
    const char *expected[5] = { "Conv_0", "Relu_1 Add_3 Transpose_4 Tanh_5", "Sigmoid_2",
                                "Sqrt_6", "Conv_7" };
    RlyGroupKind kinds[5] = { RLY_GROUP_ANCHORED, RLY_GROUP_INJECTIVE, RLY_GROUP_INJECTIVE,
                              RLY_GROUP_INJECTIVE, RLY_GROUP_ANCHORED };
    /* Groups in execution order: Conv, Relu..., Sigmoid must precede the Relu group (its
     * Add reads s): the Sigmoid group starts later but runs first. */
    const int order[5] = { 0, 2, 1, 3, 4 };
    for (int k = 0; k < 5; k++) {
        const RlyGroup *g = graph->groups[k];
        char names[256] = "";
        for (int i = 0; i < g->num_nodes; i++)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? " " : "",
                     g->nodes[i]->label);
        assert_string_equal(names, expected[order[k]]);
        assert_int_equal(g->kind, kinds[order[k]]);
        assert_int_equal(g->id, k);
    }
    ts_graph_free(graph);
}

/* ---- memory planning: exact sizes on a chain ---- */

/* Softmax (opaque) and 1x1 convolutions alternate, so each node is its own group:
 * a [1,3,5,5] float32 is 300 bytes, 320 aligned; [1,8,5,5] is 800, 832 aligned.
 *   a 320 (groups 0..1) at 0; b 832 (1..2) at 320, arena 1152;
 *   c 832 (2..3): a's 320 bytes are free but too small and not at the end: at 1152,
 *     arena 1984;
 *   d 320 (3..4): a and b freed and coalesced into [0, 1152): best fit at 0.
 * Naive: 320 + 832 + 832 + 320 = 2304. */
static void test_memory_plan_chain_exact(void **state)
{
    (void)state;
    ModelBuilder *mb = with_input(4, I64S(1, 3, 5, 5));
    mb_init_f32(mb, "up", 4, I64S(8, 3, 1, 1));
    mb_init_f32(mb, "down", 4, I64S(3, 8, 1, 1));
    mb_attr_int(mb, mb_node(mb, "Softmax", "x", "a"), "axis", 1);
    mb_node(mb, "Conv", "a,up", "b");
    mb_attr_int(mb, mb_node(mb, "Softmax", "b", "c"), "axis", 1);
    mb_node(mb, "Conv", "c,down", "d");
    mb_attr_int(mb, mb_node(mb, "Softmax", "d", "y"), "axis", 1);
    mb_output(mb, "y");
    TsGraph *graph = import_model(mb, NULL);
    run_passes(graph, NULL);
    const RlyMemPlan *plan = graph->plan;
    assert_non_null(plan);
    assert_int_equal(plan->num_buffers, 4);
    static const char *const names[4] = { "a", "b", "c", "d" };
    static const int64_t bytes[4] = { 320, 832, 832, 320 }, offsets[4] = { 0, 320, 1152, 0 };
    for (int k = 0; k < 4; k++) {
        assert_string_equal(plan->buffers[k].value->name, names[k]);
        assert_int_equal(plan->buffers[k].bytes, bytes[k]);
        assert_int_equal(plan->buffers[k].offset, offsets[k]);
        assert_int_equal(plan->buffers[k].first_group, k);
        assert_int_equal(plan->buffers[k].last_group, k + 1);
    }
    assert_int_equal(plan->arena_bytes, 1984);
    assert_int_equal(plan->naive_bytes, 2304);
    ts_graph_free(graph);
}

/* ---- random DAGs ---- */

static unsigned next(unsigned *seed)
{
    *seed = *seed * 1103515245u + 12345u;
    return *seed >> 8;
}

/* A random model over [1, C, 4, 4] values, C in {2, 6}: 1x1 convolutions that change C,
 * Relu, Sigmoid, Softmax, Transpose (H and W), Add and Mul of two values of one shape;
 * random values become graph outputs besides the last. */
static ModelBuilder *random_model(unsigned seed, int num_nodes)
{
    ModelBuilder *mb = with_input(4, I64S(1, 2, 4, 4));
    mb_init_f32(mb, "w22", 4, I64S(2, 2, 1, 1));
    mb_init_f32(mb, "w26", 4, I64S(6, 2, 1, 1));
    mb_init_f32(mb, "w62", 4, I64S(2, 6, 1, 1));
    mb_init_f32(mb, "w66", 4, I64S(6, 6, 1, 1));
    int channels[64];
    char names[64][8];
    int count = 1;
    snprintf(names[0], sizeof names[0], "x");
    channels[0] = 2;
    for (int k = 0; k < num_nodes; k++) {
        int a = (int)(next(&seed) % (unsigned)count), b = -1;
        for (int tries = 0; tries < 8 && b < 0; tries++) {
            int c = (int)(next(&seed) % (unsigned)count);
            if (channels[c] == channels[a])
                b = c;
        }
        char out[8], inputs[32];
        snprintf(out, sizeof out, "v%d", count);
        int c_out = channels[a];
        switch (next(&seed) % 7) {
        case 0: {
            c_out = next(&seed) % 2 ? 2 : 6;
            snprintf(inputs, sizeof inputs, "%s,w%d%d", names[a], channels[a], c_out);
            mb_node(mb, "Conv", inputs, out);
            break;
        }
        case 1: mb_node(mb, "Relu", names[a], out); break;
        case 2: mb_node(mb, "Sigmoid", names[a], out); break;
        case 3: mb_attr_int(mb, mb_node(mb, "Softmax", names[a], out), "axis", 1); break;
        case 4: mb_attr_ints(mb, mb_node(mb, "Transpose", names[a], out), "perm", NV(0, 1, 3, 2)); break;
        default:
            snprintf(inputs, sizeof inputs, "%s,%s", names[a], names[b < 0 ? a : b]);
            mb_node(mb, next(&seed) % 2 ? "Add" : "Mul", inputs, out);
            break;
        }
        snprintf(names[count], sizeof names[count], "%s", out);
        channels[count++] = c_out;
    }
    for (int k = 1; k < count - 1; k++)
        if (next(&seed) % 5 == 0)
            mb_output(mb, names[k]);
    mb_output(mb, names[count - 1]);
    return mb;
}

static int group_of_node(const TsGraph *graph, const RlyNode *node)
{
    int found = -1;
    for (int g = 0; g < graph->num_groups; g++)
        for (int i = 0; i < graph->groups[g]->num_nodes; i++)
            if (graph->groups[g]->nodes[i] == node) {
                assert_int_equal(found, -1); /* in exactly one group */
                found = g;
            }
    assert_true(found >= 0);
    return found;
}

static bool read_outside(const TsGraph *graph, const RlyValue *v, int group)
{
    if (rly_is_graph_output(graph, v) || rly_count_uses(graph, v) == 0)
        return true;
    for (int k = 0; k < graph->num_nodes; k++)
        for (int i = 0; i < graph->nodes[k]->num_inputs; i++)
            if (graph->nodes[k]->inputs[i] == v && group_of_node(graph, graph->nodes[k]) != group)
                return true;
    return false;
}

static bool listed(RlyValue *const *list, int count, const RlyValue *v)
{
    for (int k = 0; k < count; k++)
        if (list[k] == v)
            return true;
    return false;
}

static void check_groups(const TsGraph *graph)
{
    for (int k = 0; k < graph->num_nodes; k++) {
        const RlyNode *node = graph->nodes[k];
        int g = group_of_node(graph, node);
        const RlyGroup *group = graph->groups[g];
        for (int i = 0; i < node->num_inputs; i++) {
            const RlyValue *v = node->inputs[i];
            int from = v->producer ? group_of_node(graph, v->producer) : -1;
            assert_true(from <= g); /* produced by an earlier group, or this one */
            assert_true(from == g || listed(group->inputs, group->num_inputs, v));
        }
        const RlyValue *out = rly_output(node, 0);
        assert_int_equal(listed(group->outputs, group->num_outputs, out), read_outside(graph, out, g));
    }
    for (int g = 0; g < graph->num_groups; g++) {
        const RlyGroup *group = graph->groups[g];
        int last = -1;
        for (int i = 0; i < group->num_nodes; i++) { /* topological within the group */
            assert_true(group->nodes[i]->id > last);
            last = group->nodes[i]->id;
        }
        assert_true((group->kind == RLY_GROUP_ANCHORED) == (group->anchor != NULL));
    }
}

/* No two buffers live at once share a byte; sizes and alignment; lifetimes as read. */
static void check_plan(const TsGraph *graph)
{
    const RlyMemPlan *plan = graph->plan;
    int64_t naive = 0;
    for (int a = 0; a < plan->num_buffers; a++) {
        const RlyBufferPlan *x = &plan->buffers[a];
        assert_int_equal(x->offset % 64, 0);
        assert_true(x->bytes >= rly_value_elements(x->value) * 4 && x->bytes % 64 == 0);
        assert_true(x->offset + x->bytes <= plan->arena_bytes);
        assert_false(rly_is_graph_output(graph, x->value));
        assert_int_equal(x->first_group, group_of_node(graph, x->value->producer));
        int last = x->first_group;
        for (int k = 0; k < graph->num_nodes; k++)
            if (listed(graph->nodes[k]->inputs, graph->nodes[k]->num_inputs, x->value) &&
                group_of_node(graph, graph->nodes[k]) > last)
                last = group_of_node(graph, graph->nodes[k]);
        assert_int_equal(x->last_group, last);
        naive += x->bytes;
        for (int b = a + 1; b < plan->num_buffers; b++) {
            const RlyBufferPlan *y = &plan->buffers[b];
            bool live_together = x->first_group <= y->last_group && y->first_group <= x->last_group;
            bool overlap = x->offset < y->offset + y->bytes && y->offset < x->offset + x->bytes;
            if (live_together && overlap)
                fail_msg("%s and %s overlap while both live", x->value->name, y->value->name);
        }
    }
    assert_int_equal(plan->naive_bytes, naive);
    assert_true(plan->arena_bytes <= plan->naive_bytes);
    /* Every group output that is not a graph output has a buffer. */
    int planned = 0;
    for (int g = 0; g < graph->num_groups; g++)
        for (int i = 0; i < graph->groups[g]->num_outputs; i++)
            planned += !rly_is_graph_output(graph, graph->groups[g]->outputs[i]);
    assert_int_equal(plan->num_buffers, planned);
}

static void test_random_dags(void **state)
{
    (void)state;
    int reused = 0;
    for (unsigned seed = 1; seed <= 60; seed++) {
        TsGraph *graph = import_model(random_model(seed, 10 + (int)(seed % 40)), NULL);
        run_passes(graph, NULL);
        check_groups(graph);
        check_plan(graph);
        reused += graph->plan->arena_bytes < graph->plan->naive_bytes;
        ts_graph_free(graph);
    }
    print_message("%d of 60 plans reuse memory\n", reused);
    assert_true(reused >= 20); /* reuse happens, not only the trivial plan */
}

/* A shape nothing folds (a Reshape target computed by a ReduceSum, which the host does not
 * fold) cannot be planned: the error names the node whose output it is. A NULL graph is
 * refused. */
static void test_unplannable_shape_names_the_node(void **state)
{
    (void)state;
    ModelBuilder *mb = with_input(2, I64S(2, 6));
    mb_init_i64(mb, "parts", 4, I64S(1, -1, 2, 0));
    mb_init_i64(mb, "two_by_two", 2, I64S(2, 2));
    mb_init_i64(mb, "axis0", 1, I64S(0));
    mb_node(mb, "Reshape", "parts,two_by_two", "table");
    mb_attr_int(mb, mb_node(mb, "ReduceSum", "table,axis0", "target"), "keepdims", 0);
    Onnx__NodeProto *n = mb_node(mb, "Reshape", "x,target", "r");
    n->name = (char *)"dynamic_reshape";
    mb_node(mb, "Softmax", "r", "y");
    mb_output(mb, "y");
    TsGraph *graph = import_model(mb, NULL);
    TsError err;
    assert_int_equal(ts_graph_optimize(graph, NULL, &err), TS_EINVAL);
    assert_non_null(strstr(err.message, "node \"dynamic_reshape\" (Reshape, opset 13)"));
    assert_non_null(strstr(err.message, "output \"r\" has no known shape"));
    ts_graph_free(graph);
    assert_int_equal(ts_graph_optimize(NULL, NULL, &err), TS_EINVAL);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_residual_block_groups),
    cmocka_unit_test(test_single_consumer_and_injective_chains),
    cmocka_unit_test(test_memory_plan_chain_exact),
    cmocka_unit_test(test_random_dags),
    cmocka_unit_test(test_unplannable_shape_names_the_node),
};

int main(void)
{
    return cmocka_run_group_tests(tests, NULL, NULL);
}
