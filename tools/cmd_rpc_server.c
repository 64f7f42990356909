/* `tessera rpc-server --host 127.0.0.1 --port 9090 [--key NAME] [--tracker HOST:PORT]
 * [--workdir DIR] [--token-file F] [--call-timeout S] [--session-timeout S]
 * [--max-upload BYTES] [--max-memory BYTES] [--max-sessions N]`:
 * serves this machine as a device (ts_rpc_server_run) until SIGINT or SIGTERM. Once
 * listening it prints "tessera rpc-server: listening on HOST:PORT (key K)" on stdout
 * (flushed, so that a script can wait for it and read the port chosen for --port 0);
 * the server's log goes to stderr. Part of the runtime-only `tessera` a board runs: it
 * uses libtessera_runtime alone. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "tools.h"

static int fail(int status, const char *fmt, ...) TS_PRINTF_LIKE(2, 3);

/* Prints "tessera rpc-server: <message>" to stderr and returns the exit status. */
static int fail(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("tessera rpc-server: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return status;
}

static void print_help(void)
{
    fputs("usage: tessera rpc-server [--host HOST] [--port PORT] [--key NAME]\n"
          "           [--tracker HOST:PORT] [--workdir DIR] [--token-file FILE]\n"
          "           [--call-timeout S] [--session-timeout S] [--max-upload BYTES]\n"
          "           [--max-memory BYTES] [--max-sessions N]\n\n"
          "Serves this machine as an RPC device: clients upload modules, allocate arrays,\n"
          "call and time kernels. Each session runs in its own process and directory; a\n"
          "kernel that crashes or hangs is reported to its client and the server goes on.\n\n"
          "  --host HOST           where to listen (default 127.0.0.1; anything but loopback\n"
          "                        needs --token-file)\n"
          "  --port PORT           default 9090; 0 picks a free port (printed)\n"
          "  --key NAME            the device key clients and the tracker see (default local)\n"
          "  --tracker HOST:PORT   register with this tracker\n"
          "  --workdir DIR         session directories go under DIR (default $TMPDIR or /tmp)\n"
          "  --token-file FILE     the shared secret clients must prove they know\n"
          "  --call-timeout S      a call or time request running longer is killed (60)\n"
          "  --session-timeout S   a session idle this long is ended (default: never)\n"
          "  --max-upload BYTES    largest uploaded file (256 MiB)\n"
          "  --max-memory BYTES    arrays per session (4 GiB)\n"
          "  --max-sessions N      sessions served at once (4)\n",
          stdout);
}

static bool parse_double(const char *text, double *out)
{
    char *end;
    errno = 0;
    double value = strtod(text, &end);
    if (errno || end == text || *end || !(value >= 0) || value > 1e9)
        return false;
    *out = value;
    return true;
}

static bool parse_u64(const char *text, uint64_t *out)
{
    char *end;
    errno = 0;
    if (text[0] == '-')
        return false;
    unsigned long long value = strtoull(text, &end, 10);
    if (errno || end == text || *end)
        return false;
    *out = value;
    return true;
}

static bool parse_int(const char *text, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno || end == text || *end || value < lo || value > hi)
        return false;
    *out = (int)value;
    return true;
}

typedef struct ServerCommand {
    TsRpcServerOptions options;
    const char *token_file;
    const char *tracker;
    char tracker_host[256];
    char token[TS_RPC_MAX_TOKEN + 1];
} ServerCommand;

/* Applies one "--name value" option; returns 0, or the usage error's exit status. */
static int apply_option(ServerCommand *cmd, const char *name, const char *value)
{
    TsRpcServerOptions *o = &cmd->options;
    bool ok = true;
    if (strcmp(name, "--host") == 0)
        o->host = value;
    else if (strcmp(name, "--port") == 0)
        ok = parse_int(value, 0, 65535, &o->port);
    else if (strcmp(name, "--key") == 0)
        o->key = value;
    else if (strcmp(name, "--tracker") == 0)
        cmd->tracker = value;
    else if (strcmp(name, "--workdir") == 0)
        o->workdir = value;
    else if (strcmp(name, "--token-file") == 0)
        cmd->token_file = value;
    else if (strcmp(name, "--call-timeout") == 0)
        ok = parse_double(value, &o->call_timeout_s);
    else if (strcmp(name, "--session-timeout") == 0)
        ok = parse_double(value, &o->session_timeout_s);
    else if (strcmp(name, "--max-upload") == 0)
        ok = parse_u64(value, &o->max_upload);
    else if (strcmp(name, "--max-memory") == 0)
        ok = parse_u64(value, &o->max_memory);
    else if (strcmp(name, "--max-sessions") == 0)
        ok = parse_int(value, 1, 4096, &o->max_sessions);
    else
        return fail(TOOL_EXIT_USAGE, "unknown option '%s' (see --help)", name);
    if (!ok)
        return fail(TOOL_EXIT_USAGE, "%s: '%s' is not a valid value", name, value);
    return 0;
}

static int parse_command_line(int argc, char **argv, ServerCommand *cmd, bool *help)
{
    for (int i = 1; i < argc; i++) {
        const char *word = argv[i];
        if (strcmp(word, "--help") == 0 || strcmp(word, "-h") == 0) {
            *help = true;
            return 0;
        }
        if (strncmp(word, "--", 2) != 0)
            return fail(TOOL_EXIT_USAGE, "unexpected argument '%s' (see --help)", word);
        if (i + 1 >= argc)
            return fail(TOOL_EXIT_USAGE, "%s needs a value", word);
        int status = apply_option(cmd, word, argv[++i]);
        if (status)
            return status;
    }
    return 0;
}

static void on_listening(int port, void *user)
{
    const TsRpcServerOptions *o = user;
    printf("tessera rpc-server: listening on %s:%d (key %s)\n", o->host, port, o->key);
    fflush(stdout);
}

int tool_rpc_server(int argc, char **argv)
{
    ServerCommand cmd = { .options = ts_rpc_server_options_default() };
    bool help = false;
    int status = parse_command_line(argc, argv, &cmd, &help);
    if (status || help) {
        if (help)
            print_help();
        return status;
    }
    if (cmd.tracker && ts_rpc_parse_endpoint(cmd.tracker, cmd.tracker_host,
                                             sizeof cmd.tracker_host, &cmd.options.tracker_port,
                                             NULL) != TS_OK)
        return fail(TOOL_EXIT_USAGE, "--tracker: '%s' is not HOST:PORT", cmd.tracker);
    if (cmd.tracker)
        cmd.options.tracker_host = cmd.tracker_host;
    TsError err;
    if (cmd.token_file) {
        if (ts_rpc_read_token(cmd.token_file, cmd.token, &err) != TS_OK)
            return fail(TOOL_EXIT_FAILED, "%s", err.message);
        cmd.options.token = cmd.token;
    }
    cmd.options.on_listening = on_listening;
    cmd.options.user = &cmd.options;
    if (ts_rpc_server_run(&cmd.options, &err) != TS_OK)
        return fail(TOOL_EXIT_FAILED, "%s", err.message);
    return TOOL_EXIT_OK;
}
