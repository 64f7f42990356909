/* Every operator lowered to a tensor expression, against the ONNX project's backend node
 * tests: for each test folder (the vendored tests/onnx/node/ and the full shared selection
 * ../shared/onnx-node-tests/), the model is imported with its inputs' shapes fixed from the
 * test data, every node is lowered (rly_lower_node) into one DAG, the DAG is evaluated by
 * the reference interpreter on each test_data_set_*'s inputs, and each output must equal
 * the expected one (floats within rtol 1e-3 and atol 1e-4, NaN matching NaN; integers
 * exactly). A model the importer or the lowering refuses is counted and listed with the
 * message, not failed: those refusals name what is missing. A wrong value, a wrong shape
 * or an evaluation error of an accepted model fails the test.
 *
 * Opsets outside 7..21 are restamped to the nearest supported one, as test_import_nodes
 * does and for the reason it gives (the operators of these tests kept their semantics). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lower_testing.h"
#include "onnx.proto3.pb-c.h"
#include "tessera/relay.h"

enum { PATH_LEN = 1024, MAX_OPS = 96, MAX_REFUSED = 256, MAX_SETS = 8 };

typedef struct OpCount {
    char op[64];
    int passed, total, refused;
} OpCount;

typedef struct Suite {
    int models, failures, refused_count;
    int num_ops;
    OpCount ops[MAX_OPS];
    char refused[MAX_REFUSED][TS_ERROR_MESSAGE_MAX + 128];
} Suite;

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

static void refuse(Suite *suite, OpCount *count, const char *name, const char *message)
{
    count->refused++;
    if (suite->refused_count < MAX_REFUSED)
        snprintf(suite->refused[suite->refused_count], sizeof suite->refused[0], "%.100s: %s", name,
                 message);
    suite->refused_count++;
}

static Onnx__ModelProto *read_proto(const char *path)
{
    uint8_t *bytes = NULL;
    size_t size = 0;
    TsError err;
    if (rly_read_file(path, "model", &bytes, &size, &err) != TS_OK)
        return NULL;
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, size, bytes);
    free(bytes);
    return mp;
}

/* Writes the model with its default-domain opset moved into 7..21 when it lies outside;
 * returns the path to import. */
static const char *restamped(Onnx__ModelProto *mp, const char *model, const char *name,
                             char *scratch)
{
    for (size_t k = 0; k < mp->n_opset_import; k++) {
        Onnx__OperatorSetIdProto *id = mp->opset_import[k];
        if (id->domain[0] && strcmp(id->domain, "ai.onnx"))
            continue;
        if (id->version >= TS_ONNX_MIN_OPSET && id->version <= TS_ONNX_MAX_OPSET)
            return model;
        id->version = id->version < TS_ONNX_MIN_OPSET ? TS_ONNX_MIN_OPSET : TS_ONNX_MAX_OPSET;
    }
    snprintf(scratch, PATH_LEN, "%s/lower_%s.onnx", TESSERA_SCRATCH_DIR, name);
    size_t size = onnx__model_proto__get_packed_size(mp);
    uint8_t *bytes = malloc(size);
    assert_non_null(bytes);
    onnx__model_proto__pack(mp, bytes);
    FILE *file = fopen(scratch, "wb");
    assert_non_null(file);
    assert_int_equal(fwrite(bytes, 1, size, file), size);
    assert_int_equal(fclose(file), 0);
    free(bytes);
    return scratch;
}

/* The model's graph inputs that are not initializers, in order: the test data's inputs. */
typedef struct ModelInputs {
    int count;
    const char *names[LT_MAX_IO];
    int32_t types[LT_MAX_IO];
} ModelInputs;

static void model_inputs(const Onnx__GraphProto *gp, ModelInputs *mi)
{
    mi->count = 0;
    for (size_t k = 0; k < gp->n_input && mi->count < LT_MAX_IO; k++) {
        bool initializer = false;
        for (size_t j = 0; j < gp->n_initializer; j++)
            initializer |= strcmp(gp->initializer[j]->name, gp->input[k]->name) == 0;
        if (initializer)
            continue;
        const Onnx__TypeProto *type = gp->input[k]->type;
        mi->types[mi->count] = type && type->tensor_type ? type->tensor_type->elem_type : 0;
        mi->names[mi->count++] = gp->input[k]->name;
    }
}

/* Imports with every input's shape fixed from the first data set; inputs that decide a
 * shape (int64, refused as dynamic) are bound to their data when the importer asks. */
static TsStatus import(const char *path, const ModelInputs *mi, OnnxTensor *data, TsGraph **graph,
                       TsError *err)
{
    static TsInputShape shapes[LT_MAX_IO];
    static TsInputValue values[LT_MAX_IO];
    static char files[LT_MAX_IO][PATH_LEN];
    (void)files;
    TsImportOptions options = { .input_shapes = shapes, .num_input_shapes = mi->count };
    for (int k = 0; k < mi->count; k++) {
        snprintf(shapes[k].name, sizeof shapes[k].name, "%s", mi->names[k]);
        shapes[k].ndim = data[k].ndim;
        memcpy(shapes[k].dims, data[k].shape, sizeof shapes[k].dims);
    }
    TsStatus status = ts_graph_import_onnx(path, &options, graph, err);
    if (status == TS_OK || !strstr(err->message, "is a graph input: the output shape is dynamic"))
        return status;
    options.input_values = values;
    for (int k = 0; k < mi->count; k++)
        if (mi->types[k] == ONNX_INT64) {
            TsInputValue *v = &values[options.num_input_values++];
            snprintf(v->name, sizeof v->name, "%s", mi->names[k]);
            v->path = data[k].name; /* set by the caller to the file's path */
        }
    return ts_graph_import_onnx(path, &options, graph, err);
}

/* Reads the data set's tensors of kind ("input", "output"); -1 with the loader's message in
 * *err when one of them cannot be read (a data type Tessera lacks). */
static int load_set(const char *dir, const char *name, int set, const char *kind, int max,
                    OnnxTensor *out, char paths[][PATH_LEN], TsError *err)
{
    int k = 0;
    for (; k < max; k++) {
        struct stat st;
        snprintf(paths[k], PATH_LEN, "%s/%s/test_data_set_%d/%s_%d.pb", dir, name, set, kind, k);
        if (stat(paths[k], &st) != 0)
            break;
        if (onnx_load_tensor(paths[k], &out[k], err) != TS_OK) {
            for (int j = 0; j < k; j++)
                onnx_tensor_free(&out[j]);
            return -1;
        }
    }
    return k;
}

static int graph_input_index(const TsGraph *graph, const char *name)
{
    for (int k = 0; k < graph->num_inputs; k++)
        if (strcmp(graph->inputs[k]->name, name) == 0)
            return k;
    return -1;
}

/* Whether t is among the DAG's stages (the interpreter refuses bindings outside the DAG: a
 * Reshape's shape, a graph input only a Shape node looks at). */
static bool in_dag(TsTensor *const *stages, int num_stages, const TsTensor *t)
{
    for (int k = 0; k < num_stages; k++)
        if (stages[k] == t)
            return true;
    return false;
}

/* Evaluates the lowered graph on one data set and compares; returns false on a mismatch. */
static bool run_set(Suite *suite, const char *name, const TsGraph *graph, const LoweredGraph *lg,
                    const ModelInputs *mi, OnnxTensor *in, int num_in, OnnxTensor *want,
                    int num_want)
{
    TsBinding bindings[LT_MAX_BINDINGS + 2 * LT_MAX_IO];
    int n = 0;
    void *buffers[LT_MAX_IO] = { NULL };
    bool ok = true;
    TsArena *scratch = ts_arena_create();
    TsTensor **stages = NULL;
    int num_stages =
        scratch ? ts_dag_stages(scratch, lg->num_outputs, (TsTensor *const *)lg->outputs, &stages)
                : -1;
    assert_true(num_stages > 0);
    for (int k = 0; k < lg->num_bindings; k++)
        if (in_dag(stages, num_stages, lg->bindings[k].tensor))
            bindings[n++] = lg->bindings[k];
    for (int k = 0; k < num_in && k < mi->count; k++) {
        int at = graph_input_index(graph, mi->names[k]);
        if (at >= 0 && in_dag(stages, num_stages, lg->inputs[at]))
            bindings[n++] = (TsBinding){ lg->inputs[at], in[k].data };
    }
    if (num_want != lg->num_outputs) {
        fail_model(suite, name, "%d expected outputs, the graph has %d", num_want, lg->num_outputs);
        return false;
    }
    for (int k = 0; k < num_want; k++) {
        const TsTensor *t = lg->outputs[k];
        bool same =
            ts_dtype_eq(ts_tensor_dtype(t), want[k].dtype) && ts_tensor_ndim(t) == want[k].ndim;
        for (int d = 0; same && d < want[k].ndim; d++)
            same = ts_tensor_dim(t, d) == want[k].shape[d];
        if (!same) {
            fail_model(suite, name, "output %d has another dtype or shape than expected", k);
            ok = false;
            goto out_free;
        }
        buffers[k] = calloc((size_t)want[k].num_elements, ts_dtype_bytes(want[k].dtype));
        assert_non_null(buffers[k]);
        bindings[n++] = (TsBinding){ t, buffers[k] };
    }
    TsError err;
    if (ts_evaluate(lg->num_outputs, (TsTensor *const *)lg->outputs, n, bindings, &err) != TS_OK) {
        fail_model(suite, name, "evaluation: %s", err.message);
        ok = false;
        goto out_free;
    }
    for (int k = 0; k < num_want; k++) {
        char message[256];
        if (!lt_compare(want[k].dtype, want[k].num_elements, buffers[k], want[k].data, message,
                        sizeof message)) {
            fail_model(suite, name, "output %d: %s", k, message);
            ok = false;
        }
    }
out_free:
    for (int k = 0; k < LT_MAX_IO; k++)
        free(buffers[k]);
    ts_arena_destroy(scratch);
    return ok;
}

static void free_tensors(OnnxTensor *t, int n)
{
    for (int k = 0; k < n; k++)
        onnx_tensor_free(&t[k]);
}

/* Imports and lowers the model, then runs every data set. */
static void run_model(Suite *suite, const char *dir, const char *name)
{
    char model[PATH_LEN], scratch[PATH_LEN];
    snprintf(model, sizeof model, "%s/%s/model.onnx", dir, name);
    Onnx__ModelProto *mp = read_proto(model);
    if (!mp || !mp->graph || mp->graph->n_node == 0) {
        fail_model(suite, name, "cannot read %s", model);
        if (mp)
            onnx__model_proto__free_unpacked(mp, NULL);
        return;
    }
    suite->models++;
    OpCount *count = op_count(suite, mp->graph->node[0]->op_type);
    count->total++;
    ModelInputs mi;
    model_inputs(mp->graph, &mi);
    const char *path = restamped(mp, model, name, scratch);
    static OnnxTensor in[LT_MAX_IO], want[LT_MAX_IO];
    static char in_paths[LT_MAX_IO][PATH_LEN], want_paths[LT_MAX_IO][PATH_LEN];
    TsError err;
    int num_in = load_set(dir, name, 0, "input", LT_MAX_IO, in, in_paths, &err);
    if (num_in < 0) {
        refuse(suite, count, name, err.message);
        onnx__model_proto__free_unpacked(mp, NULL);
        return;
    }
    for (int k = 0; k < num_in; k++) { /* the import may bind an input to its file */
        free(in[k].name);
        in[k].name = strdup(in_paths[k]);
    }
    TsGraph *graph = NULL;
    TsArena *arena = ts_arena_create();
    assert_non_null(arena);
    LoweredGraph lg;
    if (num_in != mi.count) {
        fail_model(suite, name, "%d inputs in the data, %d in the model", num_in, mi.count);
    } else if (import(path, &mi, in, &graph, &err) != TS_OK ||
               lt_lower_graph(arena, graph, &lg, &err) != TS_OK) {
        if (!strstr(err.message, name) && !strstr(err.message, "node"))
            fail_model(suite, name, "refused without naming the model or node: %s", err.message);
        else
            refuse(suite, count, name, err.message);
    } else {
        bool ok = true;
        for (int set = 0; set < MAX_SETS && ok; set++) {
            static OnnxTensor more[LT_MAX_IO];
            OnnxTensor *data = set == 0 ? in : more;
            int got_in = set == 0
                             ? num_in
                             : load_set(dir, name, set, "input", LT_MAX_IO, more, in_paths, &err);
            if (set > 0 && got_in <= 0)
                break;
            int num_want = load_set(dir, name, set, "output", LT_MAX_IO, want, want_paths, &err);
            if (num_want < 0) {
                fail_model(suite, name, "%s", err.message);
                ok = false;
            } else {
                ok = run_set(suite, name, graph, &lg, &mi, data, got_in, want, num_want);
                free_tensors(want, num_want);
            }
            if (set > 0)
                free_tensors(more, got_in);
        }
        count->passed += ok;
    }
    free_tensors(in, num_in);
    ts_graph_free(graph);
    ts_arena_destroy(arena);
    onnx__model_proto__free_unpacked(mp, NULL);
}

static int run_folder(Suite *suite, const char *dir)
{
    struct dirent **entries = NULL;
    int n = scandir(dir, &entries, NULL, alphasort), count = 0;
    for (int k = 0; k < n; k++) {
        if (strncmp(entries[k]->d_name, "test_", 5) == 0) {
            run_model(suite, dir, entries[k]->d_name);
            count++;
        }
        free(entries[k]);
    }
    free(entries);
    return count;
}

static void report(const Suite *suite, const char *dir)
{
    printf("%s: %d models, %d failures, %d refused\n", dir, suite->models, suite->failures,
           suite->refused_count);
    printf("  %-22s %s\n", "op", "passed/total (refused)");
    for (int k = 0; k < suite->num_ops; k++)
        printf("  %-22s %3d/%-3d (%d refused)\n", suite->ops[k].op, suite->ops[k].passed,
               suite->ops[k].total, suite->ops[k].refused);
    printf("refused by the importer or the lowering:\n");
    for (int k = 0; k < suite->refused_count && k < MAX_REFUSED; k++)
        printf("  %s\n", suite->refused[k]);
}

static int passed(const Suite *suite)
{
    int total = 0;
    for (int k = 0; k < suite->num_ops; k++)
        total += suite->ops[k].passed;
    return total;
}

static void test_vendored_node_tests(void **state)
{
    (void)state;
    static Suite suite;
    int count = run_folder(&suite, TESSERA_VENDORED_NODE_DIR);
    report(&suite, TESSERA_VENDORED_NODE_DIR);
    assert_true(count >= 110);
    assert_int_equal(suite.failures, 0);
    assert_true(passed(&suite) >= 110);
}

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
    assert_true(passed(&suite) >= 130);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vendored_node_tests),
        cmocka_unit_test(test_shared_node_tests),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
