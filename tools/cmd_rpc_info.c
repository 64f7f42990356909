/* `tessera rpc-info HOST:PORT [--token-file F] [--timeout S]`: connects to a device
 * server and prints what it says about itself (triple, CPU, features, cores, protocol
 * version, key): the first thing to run to see that a board is reachable. When it is
 * not, the client's message says why (refused, timed out, bad token) and the exit status
 * is 1. Part of the runtime-only `tessera` too. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "tools.h"

static int fail(int status, const char *fmt, ...) TS_PRINTF_LIKE(2, 3);

/* Prints "tessera rpc-info: <message>" to stderr and returns the exit status. */
static int fail(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("tessera rpc-info: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return status;
}

static void print_help(void)
{
    fputs("usage: tessera rpc-info HOST:PORT [--token-file FILE] [--timeout S]\n\n"
          "Connects to a device server (`tessera rpc-server`) and prints its description.\n\n"
          "  --token-file FILE   the shared secret, when the server requires one\n"
          "  --timeout S         how long to wait for the server (default 10)\n",
          stdout);
}

typedef struct InfoCommand {
    const char *address;
    const char *token_file;
    double timeout_s;
    bool help;
} InfoCommand;

static int parse_command_line(int argc, char **argv, InfoCommand *cmd)
{
    for (int i = 1; i < argc; i++) {
        const char *word = argv[i];
        if (strcmp(word, "--help") == 0 || strcmp(word, "-h") == 0) {
            cmd->help = true;
            return 0;
        }
        if (strncmp(word, "--", 2) != 0) {
            if (cmd->address)
                return fail(TOOL_EXIT_USAGE, "unexpected argument '%s' (one HOST:PORT)", word);
            cmd->address = word;
            continue;
        }
        if (i + 1 >= argc)
            return fail(TOOL_EXIT_USAGE, "%s needs a value", word);
        const char *value = argv[++i];
        if (strcmp(word, "--token-file") == 0) {
            cmd->token_file = value;
        } else if (strcmp(word, "--timeout") == 0) {
            char *end;
            cmd->timeout_s = strtod(value, &end);
            if (end == value || *end || !(cmd->timeout_s > 0) || cmd->timeout_s > 1e6)
                return fail(TOOL_EXIT_USAGE, "--timeout: '%s' is not a positive number of "
                            "seconds", value);
        } else {
            return fail(TOOL_EXIT_USAGE, "unknown option '%s' (see --help)", word);
        }
    }
    if (!cmd->address)
        return fail(TOOL_EXIT_USAGE, "which server? (tessera rpc-info HOST:PORT)");
    return 0;
}

static void print_info(const TsRpcSession *session, const TsRpcDeviceInfo *info)
{
    printf("device    %s\n", ts_rpc_peer(session));
    printf("triple    %s\n", info->triple);
    printf("cpu       %s\n", info->cpu);
    printf("features  %s\n", info->features[0] ? info->features : "(none reported)");
    printf("cores     %d\n", info->num_cores);
    printf("protocol  %u\n", (unsigned)info->protocol_version);
    printf("key       %s\n", info->device_key);
}

int tool_rpc_info(int argc, char **argv)
{
    InfoCommand cmd = { .timeout_s = 10.0 };
    int status = parse_command_line(argc, argv, &cmd);
    if (status || cmd.help) {
        if (cmd.help)
            print_help();
        return status;
    }
    char host[256];
    int port;
    if (ts_rpc_parse_endpoint(cmd.address, host, sizeof host, &port, NULL) != TS_OK)
        return fail(TOOL_EXIT_USAGE, "'%s' is not HOST:PORT", cmd.address);
    TsRpcConnectOptions options = ts_rpc_connect_options_default();
    options.connect_timeout_s = cmd.timeout_s;
    options.timeout_s = cmd.timeout_s;
    options.client_name = "tessera rpc-info";
    char token[TS_RPC_MAX_TOKEN + 1];
    TsError err;
    if (cmd.token_file) {
        if (ts_rpc_read_token(cmd.token_file, token, &err) != TS_OK)
            return fail(TOOL_EXIT_FAILED, "%s", err.message);
        options.token = token;
    }
    TsRpcSession *session;
    if (ts_rpc_connect(host, port, &options, &session, &err) != TS_OK)
        return fail(TOOL_EXIT_FAILED, "%s", err.message);
    TsRpcDeviceInfo info;
    TsStatus st = ts_rpc_device_info(session, &info, &err);
    if (st == TS_OK)
        print_info(session, &info);
    ts_rpc_close(session);
    return st == TS_OK ? TOOL_EXIT_OK : fail(TOOL_EXIT_FAILED, "%s", err.message);
}
