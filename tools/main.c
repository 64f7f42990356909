/* The `tessera` command: `tessera SUBCOMMAND ...` dispatches through one table, so a new
 * subcommand (tune, build, run, rpc ...) is a row here and a cmd_*.c file. `--help` and
 * `--version` answer on stdout; a missing or unknown subcommand is a usage error (the
 * usage on stderr, exit status 2). */
#include <string.h>

#include "tools.h"
#ifndef TESSERA_COMMAND_RUNTIME_ONLY
#include "tune_tools.h"
#endif

typedef struct Subcommand {
    const char *name;
    const char *summary;
    ToolCommand run;
} Subcommand;

static const Subcommand subcommands[] = {
#ifndef TESSERA_COMMAND_RUNTIME_ONLY /* a board's tessera has the runtime subcommands only */
    { "lower", "build an operator, apply a schedule and print the lowered loop nest", tool_lower },
    { "tune", "tune an operator's schedule template on a device; report on tuning logs",
      tool_tune },
    { "build", "export an operator tuned by its logs as a shared object", tool_build },
    { "run", "load an exported kernel, call it on random arguments and time it", tool_run },
    { "graph", "import an ONNX model and print its graph with inferred shapes", tool_graph },
    { "quantize", "quantize an fp32 ONNX model into a QDQ model, calibrated on samples",
      tool_quantize },
#endif
    { "rpc-server", "serve this machine as an RPC device (upload, load, call, time)",
      tool_rpc_server },
    { "rpc-info", "print an RPC device server's description (is the board reachable?)",
      tool_rpc_info },
    { "tracker", "pool device servers by key and lease them to clients", tool_tracker },
};

enum { NUM_SUBCOMMANDS = sizeof subcommands / sizeof subcommands[0] };

static void print_usage(FILE *out)
{
    fputs("usage: tessera SUBCOMMAND [ARGS ...]\n"
          "       tessera --help | --version\n\n"
          "subcommands:\n",
          out);
    for (int i = 0; i < NUM_SUBCOMMANDS; i++)
        fprintf(out, "  %-10s %s\n", subcommands[i].name, subcommands[i].summary);
    fputs("\n`tessera SUBCOMMAND --help` describes one subcommand.\n", out);
}

static const Subcommand *find_subcommand(const char *name)
{
    for (int i = 0; i < NUM_SUBCOMMANDS; i++)
        if (strcmp(subcommands[i].name, name) == 0)
            return &subcommands[i];
    return NULL;
}

/* Everything printed must reach stdout: a full disk or a closed pipe is a failure. */
static int finish(int status)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fputs("tessera: cannot write the output\n", stderr);
        return status == TOOL_EXIT_OK ? TOOL_EXIT_FAILED : status;
    }
    return status;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs("tessera: no subcommand given\n", stderr);
        print_usage(stderr);
        return TOOL_EXIT_USAGE;
    }
    const char *word = argv[1];
    if (strcmp(word, "--help") == 0 || strcmp(word, "-h") == 0 || strcmp(word, "help") == 0) {
        print_usage(stdout);
        return finish(TOOL_EXIT_OK);
    }
    if (strcmp(word, "--version") == 0) {
        printf("tessera %d.%d.%d\n", TESSERA_VERSION_MAJOR, TESSERA_VERSION_MINOR,
               TESSERA_VERSION_PATCH);
        return finish(TOOL_EXIT_OK);
    }
    const Subcommand *cmd = find_subcommand(word);
    if (!cmd) {
        fprintf(stderr, "tessera: unknown %s '%s'\n", word[0] == '-' ? "option" : "subcommand",
                word);
        print_usage(stderr);
        return TOOL_EXIT_USAGE;
    }
    return finish(cmd->run(argc - 1, argv + 1));
}
