/* The ONNX project's backend node tests (../shared/onnx-node-tests, else the vendored
 * tests/onnx/node) through the whole pipeline (model_pipeline.c): import, graph passes,
 * lowering and code generation into one shared object (ts_graph_build), loaded and run by
 * the graph executor on the test's inputs, and every output compared with the test's
 * expected one (tensor_compare.h: rtol 1e-3, atol 1e-4; integers exactly).
 *
 * A model the importer or the build refuses (an operator, data type or form the pipeline
 * does not run) is counted as refused, with its message; a model the build accepted that
 * then does not load or run, a missing output and a wrong value fail the test. The suite
 * prints, per operator, how many models pass and how many are refused. So that a regression
 * into refusals cannot pass unseen, at least MIN_PASSING models must pass (the count when
 * this test was written: 132 of the 186 shared models, every one of the 110 vendored;
 * with the quantized operators 137 and 114).
 *
 * As in tests/relay/test_import_nodes.c, models saved at opsets the importer does not read
 * (6, 22, 25) are restamped to the nearest one it does; the operators they use kept their
 * meaning across those versions. Int64 graph inputs (a Reshape's target shape) are bound to
 * their test data (`--input-value`) after the importer refused them as dynamic shapes.
 *
 *   test_node_pipeline NODE_TESTS_DIR SCRATCH_DIR MIN_PASSING
 */
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

#include "model_pipeline.h"
#include "onnx.proto3.pb-c.h"
#include "relay_lite/onnx_loader.h"
#include "tensor_compare.h"
#include "tessera/relay.h"

enum { PATH_LEN = 1024, MAX_OPS = 96, MAX_NAMES = 512, MAX_INPUTS = 16 };

typedef struct OpTally {
    char op[64];
    int passed, refused, failed;
} OpTally;

typedef struct Suite {
    const char *dir, *scratch;
    OpTally ops[MAX_OPS];
    int num_ops;
    int models, passed, refused, failed, restamped;
} Suite;

static const char *node_dir, *scratch_dir;
static int min_passing;

static OpTally *tally(Suite *s, const char *op)
{
    for (int k = 0; k < s->num_ops; k++)
        if (strcmp(s->ops[k].op, op) == 0)
            return &s->ops[k];
    assert_true(s->num_ops < MAX_OPS);
    OpTally *t = &s->ops[s->num_ops++];
    snprintf(t->op, sizeof t->op, "%s", op);
    return t;
}

/* snprintf for paths: a path too long for its buffer fails the test instead of being cut. */
__attribute__((format(printf, 3, 4))) static void pathf(char *buf, size_t size, const char *fmt,
                                                        ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < size);
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static Onnx__ModelProto *read_proto(const char *path)
{
    uint8_t *bytes;
    size_t size;
    TsError err;
    if (rly_read_file(path, "model", &bytes, &size, &err) != TS_OK)
        return NULL;
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, size, bytes);
    free(bytes);
    return mp;
}

static bool is_default_domain(const char *domain)
{
    return !domain[0] || strcmp(domain, "ai.onnx") == 0;
}

/* The model to build: the original, or a copy with its opset moved into 7..21. */
static const char *model_to_build(Suite *s, const char *name, const char *model,
                                  Onnx__ModelProto *mp, char *copy)
{
    for (size_t k = 0; k < mp->n_opset_import; k++) {
        Onnx__OperatorSetIdProto *id = mp->opset_import[k];
        if (!is_default_domain(id->domain))
            continue;
        if (id->version >= TS_ONNX_MIN_OPSET && id->version <= TS_ONNX_MAX_OPSET)
            return model;
        id->version = id->version < TS_ONNX_MIN_OPSET ? TS_ONNX_MIN_OPSET : TS_ONNX_MAX_OPSET;
    }
    size_t size = onnx__model_proto__get_packed_size(mp);
    uint8_t *bytes = malloc(size);
    assert_non_null(bytes);
    onnx__model_proto__pack(mp, bytes);
    pathf(copy, PATH_LEN, "%s/%s.onnx", s->scratch, name);
    FILE *file = fopen(copy, "wb");
    assert_non_null(file);
    assert_int_equal(fwrite(bytes, 1, size, file), size);
    assert_int_equal(fclose(file), 0);
    free(bytes);
    s->restamped++;
    return copy;
}

/* The graph's inputs that are not initializers, in order, and whether each is int64. */
static int graph_inputs(const Onnx__ModelProto *mp, const char **names, bool *is_int64)
{
    const Onnx__GraphProto *gp = mp->graph;
    int n = 0;
    for (size_t k = 0; k < gp->n_input && n < MAX_INPUTS; k++) {
        bool initializer = false;
        for (size_t j = 0; j < gp->n_initializer; j++)
            initializer |= strcmp(gp->initializer[j]->name, gp->input[k]->name) == 0;
        if (initializer)
            continue;
        const Onnx__TypeProto *type = gp->input[k]->type;
        names[n] = gp->input[k]->name;
        is_int64[n] = type && type->tensor_type && type->tensor_type->elem_type == ONNX_INT64;
        n++;
    }
    return n;
}

static void fail_model(Suite *s, OpTally *t, const char *name, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("FAIL %s: ", name);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    s->failed++;
    t->failed++;
}

/* Every expected output against the saved one; false on the first mismatch. */
static bool check_outputs(Suite *s, OpTally *t, const char *name, const char *data_dir,
                          const char *out_dir)
{
    int k = 0;
    for (;; k++) {
        char want[PATH_LEN], got[PATH_LEN];
        pathf(want, sizeof want, "%s/output_%d.pb", data_dir, k);
        if (!exists(want))
            break;
        pathf(got, sizeof got, "%s/output_%d.pb", out_dir, k);
        TcResult r;
        if (!tc_compare_files(got, want, TC_DEFAULT_RTOL, TC_DEFAULT_ATOL, &r) || !r.equal) {
            fail_model(s, t, name, "output %d: %s", k, r.message);
            return false;
        }
    }
    char extra[PATH_LEN];
    pathf(extra, sizeof extra, "%s/output_%d.pb", out_dir, k);
    if (exists(extra)) {
        fail_model(s, t, name, "tessera run saved more outputs than the %d expected", k);
        return false;
    }
    return k > 0;
}

/* Imports, builds and runs; when the importer refused an int64 input as a dynamic shape,
 * again with the int64 inputs bound to their test data. The other inputs are fed from
 * data_dir in the graph's order. */
static bool run_pipeline(const char *model, const char *so, const char *data_dir,
                         const char *out_dir, int num_inputs, const char **names,
                         const bool *is_int64, MpResult *r)
{
    static char files[MAX_INPUTS][PATH_LEN];
    static TsInputValue values[MAX_INPUTS];
    const char *inputs[MAX_INPUTS];
    for (int k = 0; k < num_inputs; k++) {
        pathf(files[k], PATH_LEN, "%s/input_%d.pb", data_dir, k);
        inputs[k] = files[k];
    }
    MpModel m = {
        .model = model, .so = so, .inputs = inputs, .num_inputs = num_inputs, .out_dir = out_dir
    };
    if (mp_run_model(&m, r) || r->stage != MP_IMPORT || !strstr(r->err.message, "dynamic"))
        return r->stage == MP_OK;
    int kept = 0;
    for (int k = 0; k < num_inputs; k++) {
        if (!is_int64[k]) {
            inputs[kept++] = files[k];
            continue;
        }
        snprintf(values[m.num_values].name, sizeof values[0].name, "%s", names[k]);
        values[m.num_values++].path = files[k];
    }
    m.values = values;
    m.num_inputs = kept;
    return m.num_values > 0 && mp_run_model(&m, r);
}

static void run_model(Suite *s, const char *name)
{
    char model[PATH_LEN], copy[PATH_LEN], so[PATH_LEN], data_dir[PATH_LEN], out_dir[PATH_LEN];
    pathf(model, sizeof model, "%s/%s/model.onnx", s->dir, name);
    pathf(data_dir, sizeof data_dir, "%s/%s/test_data_set_0", s->dir, name);
    Onnx__ModelProto *mp = read_proto(model);
    if (!mp || !mp->graph || mp->graph->n_node == 0) {
        printf("FAIL %s: cannot read %s\n", name, model);
        s->failed++;
        return;
    }
    s->models++;
    OpTally *t = tally(s, mp->graph->node[0]->op_type);
    const char *path = model_to_build(s, name, model, mp, copy);
    pathf(so, sizeof so, "%s/%s.so", s->scratch, name);
    pathf(out_dir, sizeof out_dir, "%s/%s.out", s->scratch, name);
    const char *names[MAX_INPUTS];
    bool is_int64[MAX_INPUTS];
    int num_inputs = graph_inputs(mp, names, is_int64);

    MpResult r;
    if (run_pipeline(path, so, data_dir, out_dir, num_inputs, names, is_int64, &r)) {
        if (check_outputs(s, t, name, data_dir, out_dir)) {
            s->passed++;
            t->passed++;
        }
    } else if (r.stage == MP_IMPORT || r.stage == MP_BUILD) {
        printf("refused %s (%s): %s\n", name, mp_stage_name(r.stage), r.err.message);
        s->refused++;
        t->refused++;
    } else {
        fail_model(s, t, name, "built, then %s failed: %s", mp_stage_name(r.stage), r.err.message);
    }
    onnx__model_proto__free_unpacked(mp, NULL);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void test_node_tests_run_end_to_end(void **state)
{
    (void)state;
    static Suite s;
    s.dir = node_dir;
    s.scratch = scratch_dir;
    DIR *d = opendir(node_dir);
    assert_non_null(d);
    static char *names[MAX_NAMES];
    int count = 0;
    struct dirent *entry;
    while ((entry = readdir(d)) != NULL && count < MAX_NAMES)
        if (strncmp(entry->d_name, "test_", 5) == 0)
            names[count++] = strdup(entry->d_name);
    closedir(d);
    qsort(names, (size_t)count, sizeof names[0], by_name);
    for (int k = 0; k < count; k++) {
        run_model(&s, names[k]);
        free(names[k]);
    }
    printf("%s: %d models (%d restamped): %d pass, %d refused, %d fail\n", node_dir, s.models,
           s.restamped, s.passed, s.refused, s.failed);
    for (int k = 0; k < s.num_ops; k++)
        printf("  %-24s %3d pass %3d refused %3d fail\n", s.ops[k].op, s.ops[k].passed,
               s.ops[k].refused, s.ops[k].failed);
    assert_true(s.models > 0);
    assert_int_equal(s.failed, 0);
    assert_in_range(s.passed, min_passing, s.models);
}

int main(int argc, char **argv)
{
    if (argc != 4 || atoi(argv[3]) < 1) {
        fprintf(stderr, "usage: test_node_pipeline NODE_TESTS_DIR SCRATCH_DIR MIN_PASSING\n");
        return 2;
    }
    node_dir = argv[1];
    scratch_dir = argv[2];
    min_passing = atoi(argv[3]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_node_tests_run_end_to_end),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
