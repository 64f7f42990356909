/* Tests of `tessera graph`: the printed graph of a small model (inputs, constants, each
 * node with its inferred dtype and shape, outputs), the note of a batch dimension fixed to
 * 1 and --input-shape replacing it, --input-value, --after PASS, --list-passes and TS_DUMP,
 * and the command line's errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cmd_testing.h"
#include "model_builder.h"

enum { FLOAT = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT };

static char model_path[1024];

/* x[N, 3, 8, 8] -> Conv(3x3, pads 1) -> Relu -> GlobalAveragePool -> Flatten -> y */
static void write_model(void)
{
    snprintf(model_path, sizeof model_path, "%s/cmd_graph_model.onnx", TESSERA_SCRATCH_DIR);
    ModelBuilder *mb = mb_new(13);
    mb_input(mb, "x", FLOAT, 4, I64S(-1, 3, 8, 8));
    mb_init_f32(mb, "w", 4, I64S(4, 3, 3, 3));
    mb_init_f32(mb, "b", 1, I64S(4));
    mb_attr_ints(mb, mb_node(mb, "Conv", "x,w,b", "c"), "pads", NV(1, 1, 1, 1));
    mb_node(mb, "Relu", "c", "r");
    mb_node(mb, "GlobalAveragePool", "r", "p");
    mb_node(mb, "Flatten", "p", "y");
    mb_output(mb, "y");
    mb_save(mb, model_path);
    mb_free(mb);
}

static void test_prints_the_graph(void **state)
{
    (void)state;
    const CmdRun *r = cmd_run("graph", model_path);
    assert_run_ok(r);
    assert_contains(r->out, "graph \"g\" (opset 13, from ");
    assert_contains(r->out,
                    "  input  %x : float32[1, 3, 8, 8]\n"
                    "  const  %w : float32[4, 3, 3, 3]\n"
                    "  const  %b : float32[4]\n"
                    "  %c : float32[1, 4, 8, 8] = Conv \"Conv_0\" (%x, %w, %b) "
                    "{pads=[1, 1, 1, 1]}\n"
                    "  %r : float32[1, 4, 8, 8] = Relu \"Relu_1\" (%c)\n"
                    "  %p : float32[1, 4, 1, 1] = GlobalAveragePool \"GlobalAveragePool_2\" "
                    "(%r)\n"
                    "  %y : float32[1, 4] = Flatten \"Flatten_3\" (%p)\n"
                    "  output %y\n");
    assert_contains(r->out, "  note: input \"x\": dimension 0 (\"N\") fixed to 1");
    assert_contains(r->err, "tessera graph: note: input \"x\": dimension 0 (\"N\") fixed to 1");
}

static void test_input_shape(void **state)
{
    (void)state;
    const CmdRun *r = cmd_run("graph", model_path, "--input-shape", "x=2x3x8x8");
    assert_run_succeeds(r);
    assert_contains(r->out, "  %y : float32[2, 4] = Flatten");
    assert_int_equal(count_occurrences(r->out, "note:"), 0);
    r = cmd_run("graph", model_path, "--input-shape", "x=2x4x8x8");
    assert_run_fails(r, 1, "input \"x\" dimension 1 is 3 in the model, but --input-shape gives 4");
    r = cmd_run("graph", model_path, "--input-shape", "x=2by3");
    assert_run_fails(r, 2, "--input-shape: input shape \"x=2by3\"");
    r = cmd_run("graph", model_path, "--input-value", "novalue");
    assert_run_fails(r, 2, "--input-value 'novalue': expected NAME=FILE.pb");
}

static void test_errors(void **state)
{
    (void)state;
    const CmdRun *r = cmd_run("graph", "/nonexistent/model.onnx");
    assert_run_fails(r, 1, "/nonexistent/model.onnx: cannot open the model");
    r = cmd_run("graph");
    assert_run_fails(r, 2, "give exactly one MODEL.onnx");
    r = cmd_run("graph", model_path, "--after", "fold");
    assert_run_fails(r, 2,
                     "--after: no graph pass is called \"fold\"; the passes are: remove_identity, "
                     "fuse_qdq, fold_constants, eliminate_dead, fold_batch_norm, fuse, "
                     "memory_plan");
    r = cmd_run("graph", "--help");
    assert_run_succeeds(r);
    assert_contains(r->out, "usage: tessera graph MODEL.onnx");
    r = cmd_run("--help");
    assert_contains(r->out, "  graph ");
}

/* --after PASS prints the graph after that pass: after fuse the groups, after memory_plan
 * the plan too; --list-passes names them; TS_DUMP prints the graph after named passes to
 * stderr. */
static void test_after_pass(void **state)
{
    (void)state;
    const CmdRun *r = cmd_run("graph", model_path, "--after", "fuse");
    assert_run_ok(r);
    assert_contains(r->out, "  group 0 anchored \"Conv_0\": Conv_0, Relu_1 (%x, %w, %b -> %r)\n"
                            "  group 1 anchored \"GlobalAveragePool_2\": GlobalAveragePool_2 "
                            "(%r -> %p)\n"
                            "  group 2 injective: Flatten_3 (%p -> %y)\n");
    assert_int_equal(count_occurrences(r->out, "memory plan"), 0);
    r = cmd_run("graph", model_path, "--after", "memory_plan");
    assert_run_ok(r);
    /* r: 1x4x8x8 float32 = 1024 bytes, p: 16 bytes -> 64; both live in group 1. */
    assert_contains(r->out, "  memory plan: arena 1088 bytes, naive 1088 bytes, 2 buffers\n"
                            "    %r : 1024 bytes at offset 0 (groups 0..1)\n"
                            "    %p : 64 bytes at offset 1024 (groups 1..2)\n");
    r = cmd_run("graph", "--list-passes");
    assert_run_succeeds(r);
    assert_contains(r->out, "remove_identity ");
    assert_contains(r->out, "fuse_qdq ");
    assert_contains(r->out, "memory_plan ");
    assert_int_equal(count_occurrences(r->out, "\n"), 7);
    setenv("TS_DUMP", "eliminate_dead,fuse", 1);
    r = cmd_run("graph", model_path, "--after", "memory_plan");
    unsetenv("TS_DUMP");
    assert_run_ok(r);
    assert_int_equal(count_occurrences(r->err, "// ---- graph after "), 2);
    assert_contains(r->err, "// ---- graph after eliminate_dead ----\ngraph \"g\"");
    assert_contains(r->err, "// ---- graph after fuse ----\n");
    assert_contains(r->err, "  group 2 injective: Flatten_3");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PATH-TO-TESSERA\n", argv[0]);
        return 2;
    }
    cmd_testing_init(argv[1]);
    write_model();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prints_the_graph),
        cmocka_unit_test(test_input_shape),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_after_pass),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
