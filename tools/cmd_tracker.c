/* `tessera tracker [--host H] [--port P] [--token-file F] [--heartbeat-timeout S]` runs a
 * tracker (rpc/tracker.c) that pools device servers by key and leases them to clients;
 * `tessera tracker status --tracker HOST:PORT [--token-file F]` prints each key's free,
 * leased and pending counts. Both are runtime subcommands: they need no compiler. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tessera/rpc.h"
#include "tools.h"

enum { MAX_STATUS_KEYS = 256 };

static const char tracker_usage[] =
    "usage: tessera tracker [--host HOST] [--port PORT] [--token-file F]\n"
    "                       [--heartbeat-timeout S]\n"
    "       tessera tracker status --tracker HOST:PORT [--token-file F]\n\n"
    "Runs a tracker: device servers started with --tracker HOST:PORT register under their\n"
    "key; clients lease a device of a key, one client per device at a time. Binds\n"
    "127.0.0.1:9190 by default (port 0 picks one); with --token-file, servers and clients\n"
    "must prove they know the token. A server silent for S seconds (default 10) is dropped.\n"
    "`status` prints each key's free, leased and pending (waiting clients) counts.\n";

static void on_listening(int port, void *user)
{
    printf("tessera tracker: listening on %s:%d\n", (const char *)user, port);
    fflush(stdout);
}

/* Reads --token-file into token; prints the failure. */
static bool load_token(const char *cmd, const char *path, char *token)
{
    TsError err;
    if (ts_rpc_read_token(path, token, &err) == TS_OK)
        return true;
    fprintf(stderr, "%s: %s\n", cmd, err.message);
    return false;
}

static int bad_option(const char *cmd, char **argv)
{
    fprintf(stderr, "%s: %s '%s' (--help shows the usage)\n", cmd,
            optopt ? "option needs an argument:" : "unknown option", argv[optind - 1]);
    return TOOL_EXIT_USAGE;
}

static bool parse_number(const char *text, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end || !isfinite(v) || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static int tracker_status(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "tracker", required_argument, NULL, 't' },
        { "token-file", required_argument, NULL, 'k' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *cmd = "tessera tracker status", *address = NULL, *token_file = NULL;
    int opt;
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", long_options, NULL)) != -1) {
        switch (opt) {
        case 'h': fputs(tracker_usage, stdout); return TOOL_EXIT_OK;
        case 't': address = optarg; break;
        case 'k': token_file = optarg; break;
        default: return bad_option(cmd, argv);
        }
    }
    if (!address || optind != argc) {
        fprintf(stderr, "%s: give --tracker HOST:PORT and nothing else (--help)\n", cmd);
        return TOOL_EXIT_USAGE;
    }
    char host[256], token[TS_RPC_MAX_TOKEN + 1];
    int port;
    if (ts_rpc_parse_endpoint(address, host, sizeof host, &port, NULL) != TS_OK) {
        fprintf(stderr, "%s: --tracker '%s' is not HOST:PORT with a port in [1, 65535]\n", cmd,
                address);
        return TOOL_EXIT_USAGE;
    }
    if (token_file && !load_token(cmd, token_file, token))
        return TOOL_EXIT_FAILED;
    TsTrackerKeyStatus keys[MAX_STATUS_KEYS];
    int num;
    TsError err;
    if (ts_tracker_status(host, port, token_file ? token : NULL, MAX_STATUS_KEYS, keys, &num,
                          &err) != TS_OK) {
        fprintf(stderr, "%s: %s\n", cmd, err.message);
        return TOOL_EXIT_FAILED;
    }
    printf("%-24s %6s %6s %7s\n", "key", "free", "leased", "pending");
    for (int i = 0; i < num; i++)
        printf("%-24s %6d %6d %7d\n", keys[i].key, keys[i].free, keys[i].leased,
               keys[i].pending);
    if (num == 0)
        puts("(no servers registered, no clients waiting)");
    return TOOL_EXIT_OK;
}

int tool_tracker(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "status") == 0)
        return tracker_status(argc - 1, argv + 1);
    static const struct option long_options[] = {
        { "host", required_argument, NULL, 'H' },
        { "port", required_argument, NULL, 'p' },
        { "token-file", required_argument, NULL, 'k' },
        { "heartbeat-timeout", required_argument, NULL, 'b' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *cmd = "tessera tracker", *token_file = NULL;
    TsTrackerOptions o = ts_tracker_options_default();
    double v;
    int opt;
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", long_options, NULL)) != -1) {
        switch (opt) {
        case 'h': fputs(tracker_usage, stdout); return TOOL_EXIT_OK;
        case 'H': o.host = optarg; break;
        case 'k': token_file = optarg; break;
        case 'p':
        case 'b':
            if (opt == 'p' ? !parse_number(optarg, 0, 65535, &v) || v != floor(v)
                           : !parse_number(optarg, 0.1, 1e6, &v)) {
                fprintf(stderr, "%s: --%s '%s' must be %s\n", cmd,
                        opt == 'p' ? "port" : "heartbeat-timeout", optarg,
                        opt == 'p' ? "an integer in [0, 65535]" : "seconds in [0.1, 1e6]");
                return TOOL_EXIT_USAGE;
            }
            if (opt == 'p')
                o.port = (int)v;
            else
                o.heartbeat_timeout_s = v;
            break;
        default: return bad_option(cmd, argv);
        }
    }
    if (optind != argc) {
        fprintf(stderr, "%s: unexpected argument '%s' (--help)\n", cmd, argv[optind]);
        return TOOL_EXIT_USAGE;
    }
    char token[TS_RPC_MAX_TOKEN + 1];
    if (token_file && !load_token(cmd, token_file, token))
        return TOOL_EXIT_FAILED;
    o.token = token_file ? token : NULL;
    o.on_listening = on_listening;
    o.user = (void *)o.host;
    TsError err;
    if (ts_tracker_run(&o, &err) != TS_OK) {
        fprintf(stderr, "%s: %s\n", cmd, err.message);
        return TOOL_EXIT_FAILED;
    }
    return TOOL_EXIT_OK;
}
