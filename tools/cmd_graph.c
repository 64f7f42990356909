/* `tessera graph MODEL.onnx [--input-shape NAME=D0xD1x...]... [--input-value NAME=FILE.pb]...`
 * imports an ONNX model into
 * relay_lite's graph IR (verified, shapes and types inferred) and prints the graph; notes
 * on choices made for the user (a batch dimension fixed to 1) go to stderr. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "tessera/relay.h"
#include "tools.h"

enum { MAX_INPUT_SHAPES = 64 };

static int print_graph(const char *path, const TsImportOptions *options)
{
    TsError err;
    TsGraph *graph = NULL;
    if (ts_graph_import_onnx(path, options, &graph, &err) != TS_OK) {
        fprintf(stderr, "tessera graph: %s\n", err.message);
        return TOOL_EXIT_FAILED;
    }
    for (int k = 0; k < ts_graph_num_notes(graph); k++)
        fprintf(stderr, "tessera graph: note: %s\n", ts_graph_note(graph, k));
    TsArena *arena = ts_arena_create();
    const char *text = arena ? ts_graph_str(arena, graph) : NULL;
    int status = TOOL_EXIT_OK;
    if (text)
        fputs(text, stdout);
    else {
        fprintf(stderr, "tessera graph: %s: out of memory printing the graph\n", path);
        status = TOOL_EXIT_FAILED;
    }
    ts_arena_destroy(arena);
    ts_graph_free(graph);
    return status;
}

int tool_graph(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "input-shape", required_argument, NULL, 's' },
        { "input-value", required_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    static TsInputShape shapes[MAX_INPUT_SHAPES];
    static TsInputValue values[MAX_INPUT_SHAPES];
    TsImportOptions options = { .input_shapes = shapes, .input_values = values };
    TsError err;
    int opt;
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", long_options, NULL)) != -1) {
        switch (opt) {
        case 'h':
            puts("usage: tessera graph MODEL.onnx [--input-shape NAME=D0xD1x...]...\n"
                 "                    [--input-value NAME=FILE.pb]...\n\n"
                 "Imports an ONNX model (opsets 7 to 21), verifies it, infers its shapes and\n"
                 "types, and prints the graph: one line per input, constant and node, `?` for\n"
                 "an extent that waits for constant folding. --input-shape fixes an input's\n"
                 "symbolic dimensions (a symbolic batch dimension defaults to 1, with a note).\n"
                 "--input-value binds an input to the constant in an ONNX TensorProto file, for\n"
                 "inputs that decide shapes (a Reshape's target shape).");
            return TOOL_EXIT_OK;
        case 's':
            if (options.num_input_shapes == MAX_INPUT_SHAPES) {
                fprintf(stderr, "tessera graph: more than %d --input-shape options\n",
                        MAX_INPUT_SHAPES);
                return TOOL_EXIT_USAGE;
            }
            if (ts_input_shape_parse(optarg, &shapes[options.num_input_shapes], &err) != TS_OK) {
                fprintf(stderr, "tessera graph: --input-shape: %s\n", err.message);
                return TOOL_EXIT_USAGE;
            }
            options.num_input_shapes++;
            break;
        case 'v': {
            const char *eq = strrchr(optarg, '=');
            TsInputValue *v = &values[options.num_input_values];
            if (options.num_input_values == MAX_INPUT_SHAPES || !eq || eq == optarg || !eq[1] ||
                (size_t)(eq - optarg) >= sizeof v->name) {
                fprintf(stderr,
                        "tessera graph: --input-value '%s': expected NAME=FILE.pb (at most "
                        "%d of them)\n",
                        optarg, MAX_INPUT_SHAPES);
                return TOOL_EXIT_USAGE;
            }
            memcpy(v->name, optarg, (size_t)(eq - optarg));
            v->name[eq - optarg] = '\0';
            v->path = eq + 1;
            options.num_input_values++;
            break;
        }
        default:
            fprintf(stderr, "tessera graph: %s '%s'\n",
                    optopt ? "option needs an argument:" : "unknown option", argv[optind - 1]);
            return TOOL_EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        fputs("tessera graph: give exactly one MODEL.onnx (tessera graph --help)\n", stderr);
        return TOOL_EXIT_USAGE;
    }
    return print_graph(argv[optind], &options);
}
