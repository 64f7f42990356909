/* The libFuzzer target of the ONNX importer: any bytes, as a model, go through import,
 * verification and inference; a graph that comes out is printed, verified and inferred
 * again, and goes through the graph passes. Whatever the bytes, the importer and the
 * passes return a status (ASan and UBSan watch). Built
 * and run by run_fuzz_import.sh with clang. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "tessera/relay.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    TsGraph *graph = NULL;
    TsError err;
    if (ts_graph_import_onnx_bytes(data, size, "fuzz.onnx", NULL, &graph, &err) != TS_OK)
        return 0;
    TsArena *arena = ts_arena_create();
    if (arena && !ts_graph_str(arena, graph))
        abort();
    if (ts_graph_verify(graph, &err) != TS_OK || ts_graph_infer(graph, &err) != TS_OK)
        abort(); /* an imported graph verifies, and inference is repeatable */
    /* The graph passes never crash on an imported graph; a refusal says why. */
    if (ts_graph_optimize(graph, NULL, &err) != TS_OK && !err.message[0])
        abort();
    ts_arena_destroy(arena);
    ts_graph_free(graph);
    return 0;
}
