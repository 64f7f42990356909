/* Shared by the relay tests: import a built model and check what came out. Include after
 * <cmocka.h>. */
#ifndef TESSERA_TESTS_RELAY_TESTING_H
#define TESSERA_TESTS_RELAY_TESTING_H

#include "model_builder.h"
#include "relay_lite/rly_internal.h"
#include "tessera/relay.h"

/* Saves the model (and frees the builder), imports it; asserts success. */
TsGraph *import_model(ModelBuilder *mb, const TsImportOptions *options);
/* Saves the model (and frees the builder), imports it; asserts failure with a message that
 * contains every needle (NULL-terminated list). Returns the status. */
TsStatus refuse_model_argv(ModelBuilder *mb, const TsImportOptions *options,
                           const char *const *needles);
#define refuse_model(mb, options, ...) \
    refuse_model_argv(mb, options, (const char *const[]){ __VA_ARGS__, NULL })
/* Asserts output k's dtype and shape. */
void expect_output(const TsGraph *graph, int k, TsDType dtype, int ndim, const int64_t *dims);
/* The graph's value called name (NULL when none). */
RlyValue *find_value(const TsGraph *graph, const char *name);
/* Runs the graph passes up to and including stop_after (NULL: all); asserts success. */
void run_passes(TsGraph *graph, const char *stop_after);
/* The number of nodes of op in the graph. */
int count_op(const TsGraph *graph, RlyOpKind op);
/* Fails with both texts shown unless the printed graph equals expected (the source
 * printed as model.onnx). */
void expect_graph_text(const TsGraph *graph, const char *expected);
/* A scratch path in the build tree for a test's model. */
const char *scratch_model_path(void);

#endif /* TESSERA_TESTS_RELAY_TESTING_H */
