/* Helpers of the relay tests (relay_testing.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "relay_testing.h"

const char *scratch_model_path(void)
{
    static char path[1024];
    snprintf(path, sizeof path, "%s/model_%ld.onnx", TESSERA_SCRATCH_DIR, (long)getpid());
    return path;
}

TsGraph *import_model(ModelBuilder *mb, const TsImportOptions *options)
{
    mb_save(mb, scratch_model_path());
    mb_free(mb);
    TsGraph *graph = NULL;
    TsError err;
    TsStatus status = ts_graph_import_onnx(scratch_model_path(), options, &graph, &err);
    if (status != TS_OK)
        fail_msg("import failed: %s", err.message);
    return graph;
}

TsStatus refuse_model_argv(ModelBuilder *mb, const TsImportOptions *options,
                           const char *const *needles)
{
    mb_save(mb, scratch_model_path());
    mb_free(mb);
    TsGraph *graph = NULL;
    TsError err;
    TsStatus status = ts_graph_import_onnx(scratch_model_path(), options, &graph, &err);
    if (status == TS_OK) {
        ts_graph_free(graph);
        fail_msg("the model was imported; expected a refusal naming \"%s\"", needles[0]);
    }
    assert_null(graph);
    for (int k = 0; needles[k]; k++)
        if (!strstr(err.message, needles[k]))
            fail_msg("message \"%s\" does not contain \"%s\"", err.message, needles[k]);
    return status;
}

void expect_output(const TsGraph *graph, int k, TsDType dtype, int ndim, const int64_t *dims)
{
    const char *name;
    TsDType got;
    int got_ndim;
    int64_t got_dims[TS_GRAPH_MAX_DIMS];
    bool known = ts_graph_output_type(graph, k, &name, &got, &got_ndim, got_dims);
    char text[256] = "";
    for (int d = 0; d < got_ndim; d++)
        snprintf(text + strlen(text), sizeof text - strlen(text), " %" PRId64, got_dims[d]);
    char want[TS_DTYPE_STR_MAX], have[TS_DTYPE_STR_MAX];
    if (!known || !ts_dtype_eq(got, dtype) || got_ndim != ndim)
        fail_msg("output %d \"%s\": %s rank %d [%s ] (known %d), expected %s rank %d", k, name,
                 ts_dtype_str(got, have), got_ndim, text, known, ts_dtype_str(dtype, want), ndim);
    for (int d = 0; d < ndim; d++)
        if (got_dims[d] != dims[d])
            fail_msg("output %d \"%s\": shape [%s ], dimension %d expected %" PRId64, k, name, text,
                     d, dims[d]);
}

RlyValue *find_value(const TsGraph *graph, const char *name)
{
    for (int k = 0; k < graph->num_values; k++)
        if (strcmp(graph->values[k]->name, name) == 0)
            return graph->values[k];
    return NULL;
}

void run_passes(TsGraph *graph, const char *stop_after)
{
    TsGraphOptions options = { .stop_after = stop_after };
    TsError err;
    if (ts_graph_optimize(graph, &options, &err) != TS_OK)
        fail_msg("passes up to %s failed: %s", stop_after ? stop_after : "the end", err.message);
}

int count_op(const TsGraph *graph, RlyOpKind op)
{
    int count = 0;
    for (int k = 0; k < graph->num_nodes; k++)
        count += graph->nodes[k]->op == op;
    return count;
}

void expect_graph_text(const TsGraph *graph, const char *expected)
{
    TsArena *arena = ts_arena_create();
    TsGraph *g = (TsGraph *)graph;
    const char *source = g->source;
    g->source = "model.onnx"; /* the scratch path holds the process id */
    const char *text = ts_graph_str(arena, graph);
    g->source = source;
    assert_non_null(text);
    if (strcmp(text, expected) != 0) {
        fprintf(stderr, "expected:\n%s\n", expected);
        fprintf(stderr, "got:\n%s\n", text);
        ts_arena_destroy(arena);
        fail_msg("the printed graph differs");
    }
    ts_arena_destroy(arena);
}
