/* The ONNX importer against the ONNX project's backend node tests: for every test folder
 * (the vendored tests/onnx/node/ and, when present, the full shared selection
 * ../shared/onnx-node-tests/), a model whose operators the graph IR supports is imported,
 * and each graph output's inferred dtype and shape must equal the expected output
 * tensor's (test_data_set_0/output_N.pb); a model with another operator must be refused
 * by an error naming the op, and the listed models that use an unsupported form of a
 * supported operator (3-D windows, training mode, MaxPool's Indices) by an error naming
 * that form.
 *
 * Opsets: the importer reads 7 to 21, and many node tests were saved at opset 6 (PyTorch
 * exports), 22 or 25. Such a model must be refused by an error naming its opset; it is then
 * imported again with its opset restamped to the nearest supported one (6 -> 7, 22 and 25 ->
 * 21). That is sound for these tests: the operators they use (Conv, pools, Flatten,
 * Reshape, Relu, Softmax, Concat, Clip, Squeeze, Unsqueeze) kept their semantics across
 * those versions (opsets 22 and 25 only added data types; AveragePool-7 added
 * count_include_pad with the old behaviour as default), so the expected outputs still hold.
 * Every imported model then goes through the graph passes (ts_graph_optimize), which must
 * succeed and keep each output's dtype and shape; an output they fold into a constant
 * must hold the expected values. The suite prints the count of passing models per
 * operator. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "onnx.proto3.pb-c.h"
#include "relay_lite/onnx_loader.h"
#include "relay_lite/rly_internal.h"
#include "tessera/relay.h"

#ifndef TESSERA_VENDORED_NODE_DIR
#error "TESSERA_VENDORED_NODE_DIR must name tests/onnx/node"
#endif
#ifndef TESSERA_SCRATCH_DIR
#error "TESSERA_SCRATCH_DIR must name a writable folder"
#endif

enum { PATH_MAX_LEN = 1024, MAX_OPS = 64 };

/* Models with supported operators that the importer must refuse, and what it names. */
static const struct {
    const char *prefix;
    const char *message;
} refusals[] = {
    { "test_Conv3d", "rank 5" },
    { "test_AvgPool3d", "rank 5" },
    { "test_MaxPool3d", "rank 5" },
    { "test_averagepool_3d", "rank 5" },
    { "test_maxpool_3d", "rank 5" },
    { "test_batchnorm_epsilon_training_mode", "training_mode" },
    { "test_batchnorm_example_training_mode", "training_mode" },
    { "test_maxpool_with_argmax", "Indices" },
    /* quantization forms the int8 kernels do not compute: blocked, 16-bit, and the data
     * types Tessera lacks (refused by the loader, naming the graph input) */
    { "test_quantizelinear_blocked", "block_size" },
    { "test_dequantizelinear_blocked", "block_size" },
    { "test_quantizelinear_int16", "is int16" },
    { "test_quantizelinear_uint16", "is uint16" },
    { "test_dequantizelinear_int16", "is int16" },
    { "test_dequantizelinear_uint16", "is uint16" },
    { "test_quantizelinear_", "which Tessera lacks" },
    { "test_dequantizelinear_", "which Tessera lacks" },
};

typedef struct OpCount {
    char op[64];
    int passed;
    int refused;
} OpCount;

typedef struct Suite {
    int models;
    int failures;
    int restamped;
    int folded; /* outputs the graph passes made constants, checked against their values */
    int num_ops;
    OpCount ops[MAX_OPS];
} Suite;

static void fail_model(Suite *suite, const char *name, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "FAIL %s: ", name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    suite->failures++;
}

static OpCount *op_count(Suite *suite, const char *op)
{
    for (int k = 0; k < suite->num_ops; k++)
        if (strcmp(suite->ops[k].op, op) == 0)
            return &suite->ops[k];
    assert_true(suite->num_ops < MAX_OPS);
    OpCount *c = &suite->ops[suite->num_ops++];
    snprintf(c->op, sizeof c->op, "%s", op);
    return c;
}

static Onnx__ModelProto *read_proto(const char *path)
{
    FILE *file = fopen(path, "rb");
    if (!file)
        return NULL;
    static uint8_t bytes[8 << 20];
    size_t len = fread(bytes, 1, sizeof bytes, file);
    fclose(file);
    return onnx__model_proto__unpack(NULL, len, bytes);
}

static int64_t model_opset(const Onnx__ModelProto *mp)
{
    for (size_t k = 0; k < mp->n_opset_import; k++)
        if (!mp->opset_import[k]->domain[0] || !strcmp(mp->opset_import[k]->domain, "ai.onnx"))
            return mp->opset_import[k]->version;
    return -1;
}

/* Writes the model with its default-domain opset set to opset. */
static void restamp(Onnx__ModelProto *mp, int64_t opset, const char *path)
{
    for (size_t k = 0; k < mp->n_opset_import; k++)
        if (!mp->opset_import[k]->domain[0] || !strcmp(mp->opset_import[k]->domain, "ai.onnx"))
            mp->opset_import[k]->version = opset;
    size_t size = onnx__model_proto__get_packed_size(mp);
    uint8_t *bytes = malloc(size);
    assert_non_null(bytes);
    onnx__model_proto__pack(mp, bytes);
    FILE *file = fopen(path, "wb");
    assert_non_null(file);
    assert_int_equal(fwrite(bytes, 1, size, file), size);
    assert_int_equal(fclose(file), 0);
    free(bytes);
}

/* The first op type of the model that the graph IR lacks, or NULL. */
static const char *unsupported_op(const Onnx__ModelProto *mp)
{
    for (size_t k = 0; k < mp->graph->n_node; k++) {
        RlyOpKind op;
        if (!rly_op_lookup(mp->graph->node[k]->op_type, &op))
            return mp->graph->node[k]->op_type;
    }
    return NULL;
}

static const char *expected_refusal(const char *name)
{
    for (size_t k = 0; k < sizeof refusals / sizeof refusals[0]; k++)
        if (strncmp(name, refusals[k].prefix, strlen(refusals[k].prefix)) == 0)
            return refusals[k].message;
    return NULL;
}

/* An output that the graph passes folded into a constant (Shape of a known shape, a
 * node of constant inputs) must hold the expected values: bit-exact for integers and
 * booleans, within 1e-6 relative for floats. */
static void check_folded(Suite *suite, const char *name, const RlyValue *output,
                         const OnnxTensor *expected)
{
    const RlyConst *c = output->constant;
    if (!c || output->kind != RLY_VALUE_INITIALIZER)
        return;
    suite->folded++;
    size_t bytes = (size_t)c->num_elements * ts_dtype_bytes(c->dtype);
    if (!ts_dtype_eq(c->dtype, TS_FLOAT32)) {
        if (memcmp(c->data, expected->data, bytes) != 0)
            fail_model(suite, name, "folded output \"%s\" differs from the expected values",
                       output->name);
        return;
    }
    for (int64_t k = 0; k < c->num_elements; k++) {
        float got = ((const float *)c->data)[k], want = ((const float *)expected->data)[k];
        if (!(fabsf(got - want) <= 1e-6f * fabsf(want) + 1e-6f)) {
            fail_model(suite, name, "folded output \"%s\" element %" PRId64 ": %g, expected %g",
                       output->name, k, got, want);
            return;
        }
    }
}

/* Each graph output's dtype and shape against test_data_set_0/output_N.pb. */
static void check_outputs(Suite *suite, const char *dir, const char *name, const TsGraph *graph)
{
    for (int k = 0;; k++) {
        char path[PATH_MAX_LEN];
        snprintf(path, sizeof path, "%s/%s/test_data_set_0/output_%d.pb", dir, name, k);
        struct stat st;
        if (stat(path, &st) != 0) {
            if (k != ts_graph_num_outputs(graph))
                fail_model(suite, name, "%d expected outputs, the graph has %d", k,
                           ts_graph_num_outputs(graph));
            return;
        }
        OnnxTensor expected;
        TsError err;
        if (onnx_load_tensor(path, &expected, &err) != TS_OK) {
            fail_model(suite, name, "%s", err.message);
            return;
        }
        const char *out_name;
        TsDType dtype;
        int ndim;
        int64_t dims[TS_GRAPH_MAX_DIMS];
        bool known = ts_graph_output_type(graph, k, &out_name, &dtype, &ndim, dims);
        bool same = known && ts_dtype_eq(dtype, expected.dtype) && ndim == expected.ndim;
        for (int d = 0; same && d < ndim; d++)
            same = dims[d] == expected.shape[d];
        if (!same) {
            char want[256] = "", got[256] = "";
            for (int d = 0; d < expected.ndim; d++)
                snprintf(want + strlen(want), sizeof want - strlen(want), " %" PRId64,
                         expected.shape[d]);
            for (int d = 0; d < ndim; d++)
                snprintf(got + strlen(got), sizeof got - strlen(got), " %" PRId64, dims[d]);
            fail_model(suite, name,
                       "output %d: inferred rank %d [%s ] (known %d), expected "
                       "rank %d [%s ]",
                       k, ndim, got, known, expected.ndim, want);
        }
        if (same)
            check_folded(suite, name, graph->outputs[k], &expected);
        onnx_tensor_free(&expected);
    }
}

/* The opset check: a model outside 7..21 is refused by name, then restamped. Returns the
 * path to import. */
static const char *opset_path(Suite *suite, const char *name, const char *model,
                              Onnx__ModelProto *mp, char *scratch)
{
    int64_t opset = model_opset(mp);
    if (opset >= TS_ONNX_MIN_OPSET && opset <= TS_ONNX_MAX_OPSET)
        return model;
    TsGraph *graph = NULL;
    TsError err;
    char needle[64];
    snprintf(needle, 64, "opset %" PRId64 " is not supported", opset);
    if (ts_graph_import_onnx(model, NULL, &graph, &err) == TS_OK || !strstr(err.message, needle))
        fail_model(suite, name, "opset %" PRId64 " not refused by name: %s", opset,
                   graph ? "imported" : err.message);
    ts_graph_free(graph);
    snprintf(scratch, PATH_MAX_LEN, "%s/%s.onnx", TESSERA_SCRATCH_DIR, name);
    restamp(mp, opset < TS_ONNX_MIN_OPSET ? TS_ONNX_MIN_OPSET : TS_ONNX_MAX_OPSET, scratch);
    suite->restamped++;
    return scratch;
}

/* Imports with the model's int64 graph inputs bound to their test data (the node tests
 * feed a Reshape's target shape as an input); only after the importer refused them as
 * dynamic shapes. */
static TsStatus import_bound(const char *dir, const char *name, const char *path,
                             const Onnx__ModelProto *mp, TsGraph **graph, TsError *err)
{
    static TsInputValue values[8];
    static char files[8][PATH_MAX_LEN];
    TsImportOptions options = { .input_values = values };
    const Onnx__GraphProto *gp = mp->graph;
    int index = 0;
    for (size_t k = 0; k < gp->n_input && options.num_input_values < 8; k++) {
        bool initializer = false;
        for (size_t j = 0; j < gp->n_initializer; j++)
            initializer |= strcmp(gp->initializer[j]->name, gp->input[k]->name) == 0;
        if (initializer)
            continue;
        const Onnx__TypeProto *type = gp->input[k]->type;
        if (type && type->tensor_type && type->tensor_type->elem_type == ONNX_INT64) {
            TsInputValue *v = &values[options.num_input_values];
            snprintf(files[options.num_input_values], PATH_MAX_LEN,
                     "%s/%s/test_data_set_0/input_%d.pb", dir, name, index);
            snprintf(v->name, sizeof v->name, "%s", gp->input[k]->name);
            v->path = files[options.num_input_values++];
        }
        index++;
    }
    return ts_graph_import_onnx(path, &options, graph, err);
}

static void run_model(Suite *suite, const char *dir, const char *name)
{
    char model[PATH_MAX_LEN], scratch[PATH_MAX_LEN];
    snprintf(model, sizeof model, "%s/%s/model.onnx", dir, name);
    Onnx__ModelProto *mp = read_proto(model);
    if (!mp || !mp->graph || mp->graph->n_node == 0) {
        fail_model(suite, name, "cannot read %s", model);
        return;
    }
    suite->models++;
    const char *path = opset_path(suite, name, model, mp, scratch);
    const char *op = mp->graph->node[0]->op_type, *missing = unsupported_op(mp);
    const char *refusal = expected_refusal(name);
    TsGraph *graph = NULL;
    TsError err;
    TsStatus status = ts_graph_import_onnx(path, NULL, &graph, &err);
    if (status != TS_OK && strstr(err.message, "is a graph input: the output shape is dynamic"))
        status = import_bound(dir, name, path, mp, &graph, &err);
    char needle[128];
    if (missing || refusal) {
        snprintf(needle, sizeof needle, "operator %s is not supported", missing ? missing : "");
        if (status == TS_OK)
            fail_model(suite, name, "imported, but it must be refused");
        else if (!strstr(err.message, missing ? needle : refusal) ||
                 (!strstr(err.message, "node") && !strstr(err.message, "input \"")))
            fail_model(suite, name, "refused, but the message does not name %s: %s",
                       missing ? needle : refusal, err.message);
        else
            op_count(suite, missing ? missing : op)->refused++;
    } else if (status != TS_OK) {
        fail_model(suite, name, "%s", err.message);
    } else {
        int before = suite->failures;
        check_outputs(suite, dir, name, graph);
        /* The graph passes run on every imported model and keep its outputs' types. */
        if (suite->failures == before && ts_graph_optimize(graph, NULL, &err) != TS_OK)
            fail_model(suite, name, "graph passes: %s", err.message);
        else if (suite->failures == before)
            check_outputs(suite, dir, name, graph);
        if (suite->failures == before)
            op_count(suite, op)->passed++;
    }
    ts_graph_free(graph);
    onnx__model_proto__free_unpacked(mp, NULL);
}

static int run_folder(Suite *suite, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    struct dirent *entry;
    int count = 0;
    while ((entry = readdir(d)) != NULL) {
        if (strncmp(entry->d_name, "test_", 5) != 0)
            continue;
        run_model(suite, dir, entry->d_name);
        count++;
    }
    closedir(d);
    return count;
}

static void report(const Suite *suite, const char *dir)
{
    printf("%s: %d models (%d restamped to a supported opset), %d failures, %d outputs folded "
           "to constants by the graph passes\n",
           dir, suite->models, suite->restamped, suite->failures, suite->folded);
    for (int k = 0; k < suite->num_ops; k++)
        printf("  %-20s %3d shapes and types match, %3d refused by name\n", suite->ops[k].op,
               suite->ops[k].passed, suite->ops[k].refused);
}

static void test_vendored_node_tests(void **state)
{
    (void)state;
    static Suite suite;
    int count = run_folder(&suite, TESSERA_VENDORED_NODE_DIR);
    report(&suite, TESSERA_VENDORED_NODE_DIR);
    assert_true(count >= 110);
    assert_int_equal(suite.failures, 0);
}

/* The full shared selection, when this checkout sits beside it. */
static void test_shared_node_tests(void **state)
{
    (void)state;
    static Suite suite;
    const char *dir = getenv("TESSERA_ONNX_NODE_TESTS");
    if (!dir || !*dir)
        dir = TESSERA_SHARED_NODE_DIR;
    int count = run_folder(&suite, dir);
    if (count == 0)
        skip();
    report(&suite, dir);
    assert_true(count >= 150);
    assert_int_equal(suite.failures, 0);
    int passed = 0;
    for (int k = 0; k < suite.num_ops; k++)
        passed += suite.ops[k].passed;
    assert_true(passed >= 100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vendored_node_tests),
        cmocka_unit_test(test_shared_node_tests),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
