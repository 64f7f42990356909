/* `tessera graph MODEL.onnx [--input-shape NAME=D0xD1x...]... [--input-value NAME=FILE.pb]...
 *  [--after PASS] [--list-passes]`
 * imports an ONNX model into
 * relay_lite's graph IR (verified, shapes and types inferred) and prints the graph, or,
 * with --after, the graph after the graph passes up to and including PASS; notes on
 * choices made for the user (a batch dimension fixed to 1) go to stderr. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "tessera/relay.h"
#include "tools.h"

enum { MAX_INPUT_SHAPES = 64 };

static void list_passes(void)
{
    for (int k = 0; k < ts_graph_num_passes(); k++)
        printf("%-16s %s\n", ts_graph_pass_name(k), ts_graph_pass_summary(k));
}

/* An unknown pass name is a usage error, found before the model is read. */
static bool known_pass(const char *name)
{
    for (int k = 0; k < ts_graph_num_passes(); k++)
        if (strcmp(ts_graph_pass_name(k), name) == 0)
            return true;
    fprintf(stderr, "tessera graph: --after: no graph pass is called \"%s\"; the passes are:",
            name);
    for (int k = 0; k < ts_graph_num_passes(); k++)
        fprintf(stderr, "%s %s", k ? "," : "", ts_graph_pass_name(k));
    fputc('\n', stderr);
    return false;
}

static int print_graph(const char *path, const TsImportOptions *options, const char *after)
{
    TsError err;
    TsGraph *graph = NULL;
    if (ts_graph_import_onnx(path, options, &graph, &err) != TS_OK) {
        fprintf(stderr, "tessera graph: %s\n", err.message);
        return TOOL_EXIT_FAILED;
    }
    TsGraphOptions passes = { .stop_after = after };
    if (after && ts_graph_optimize(graph, &passes, &err) != TS_OK) {
        fprintf(stderr, "tessera graph: %s\n", err.message);
        ts_graph_free(graph);
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
        { "after", required_argument, NULL, 'a' },
        { "list-passes", no_argument, NULL, 'l' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    static TsInputShape shapes[MAX_INPUT_SHAPES];
    static TsInputValue values[MAX_INPUT_SHAPES];
    TsImportOptions options = { .input_shapes = shapes, .input_values = values };
    const char *after = NULL;
    TsError err;
    int opt;
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", long_options, NULL)) != -1) {
        switch (opt) {
        case 'h':
            puts("usage: tessera graph MODEL.onnx [--input-shape NAME=D0xD1x...]...\n"
                 "                    [--input-value NAME=FILE.pb]... [--after PASS]\n"
                 "       tessera graph --list-passes\n\n"
                 "Imports an ONNX model (opsets 7 to 21), verifies it, infers its shapes and\n"
                 "types, and prints the graph: one line per input, constant and node, `?` for\n"
                 "an extent that waits for constant folding. --input-shape fixes an input's\n"
                 "symbolic dimensions (a symbolic batch dimension defaults to 1, with a note).\n"
                 "--input-value binds an input to the constant in an ONNX TensorProto file, for\n"
                 "inputs that decide shapes (a Reshape's target shape).\n"
                 "--after PASS runs the graph passes up to and including PASS and prints the\n"
                 "graph then (fusion groups and the memory plan too, once made); --list-passes\n"
                 "lists the passes in order. TS_DUMP=all or TS_DUMP=PASS,PASS,... prints the\n"
                 "graph to stderr after those passes.");
            return TOOL_EXIT_OK;
        case 'a':
            if (!known_pass(optarg))
                return TOOL_EXIT_USAGE;
            after = optarg;
            break;
        case 'l': list_passes(); return TOOL_EXIT_OK;
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
    return print_graph(argv[optind], &options, after);
}
