/* `tessera tune OP [KEY=VALUE ...] --target T [--rpc HOST:PORT | --tracker HOST:PORT
 * --key K] --trials N [--tuner xgb|ga|random|grid] [--early-stopping N] --log FILE`
 * tunes one operator: it creates the task, runs the tuning loop (ts_tune) with a live
 * progress line on stderr, appends every measured candidate to the log, and prints the
 * best config found. `tessera tune --summary FILE` and `tessera tune --plot FILE -o SVG`
 * report on a log (tune_report.c).
 *
 * Usage errors exit 2; a task or device that cannot be set up exits 1 with the message. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model_tools.h"
#include "tessera/rpc.h"
#include "tools.h"
#include "tune_tools.h"

enum { MAX_TRANSFER_LOGS = 16 };

typedef struct TuneCommand {
    const char *op;
    TsTemplateArgs args;
    const char *target;
    const char *summary_log;
    const char *plot_log;
    const char *output;
    const char *token_file;
    char rpc_host[256];
    char tracker_host[256];
    char token[TS_RPC_MAX_TOKEN + 1];
    int num_transfer;
    const char *transfer[MAX_TRANSFER_LOGS];
    TsTuneOptions options;
    bool list;
} TuneCommand;

static void print_help(FILE *out)
{
    fputs("usage: tessera tune OP [KEY=VALUE ...] --log FILE [options]\n"
          "       tessera tune MODEL.onnx --log FILE ...  (tessera tune MODEL.onnx --help)\n"
          "       tessera tune --summary FILE\n"
          "       tessera tune --plot FILE -o CURVE.svg\n"
          "       tessera tune --list\n"
          "\n"
          "Tunes the schedule template of OP (dense, conv2d, depthwise_conv2d, pool2d, or a\n"
          "template name) for the given shape, appending every measured candidate to the log.\n"
          "A VALUE is an integer or a dtype (dtype=float32, the default); the template is the\n"
          "highest-priority one serving the dtype on the target's features (--list).\n"
          "\n"
          "where to measure (default: this machine, in a child process):\n"
          "  --target T            target string (default \"llvm\": this CPU)\n"
          "  --rpc HOST:PORT       a device server (tessera rpc-server)\n"
          "  --tracker HOST:PORT   a tracker, with --key K (and --priority P)\n"
          "  --token-file F        the RPC shared secret\n"
          "search:\n"
          "  --trials N            candidates to measure (default 100)\n"
          "  --tuner NAME          xgb (default), ga, random or grid\n"
          "  --early-stopping N    stop after N trials without improvement\n"
          "  --time-limit S        stop after S seconds\n"
          "  --batch N             candidates per round (default 16)\n"
          "  --seed N              random seed (default 1)\n"
          "  --log FILE            the tuning log (JSON lines), appended to\n"
          "  --resume              skip the candidates the log already holds\n"
          "  --transfer LOG        warm-start the cost model from an earlier log (repeatable)\n"
          "measurement:\n"
          "  --number N --repeat N --min-repeat-ms MS --cooldown-ms MS --flush-cache\n"
          "  --check               compare each candidate's output with the reference\n"
          "  --build-timeout S --run-timeout S --parallel N (build workers)\n",
          out);
}

static int usage(const char *fmt, const char *what)
{
    fputs("tessera tune: ", stderr);
    fprintf(stderr, fmt, what);
    fputs("\n(tessera tune --help lists the options)\n", stderr);
    return TOOL_EXIT_USAGE;
}

static bool parse_long(const char *text, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno || end == text || *end || value < lo || value > hi)
        return false;
    *out = value;
    return true;
}

static bool parse_double(const char *text, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double value = strtod(text, &end);
    if (errno || end == text || *end || !(value >= lo && value <= hi))
        return false;
    *out = value;
    return true;
}

enum {
    OPT_TARGET = 256, OPT_RPC, OPT_TRACKER, OPT_KEY, OPT_PRIORITY, OPT_TOKEN_FILE, OPT_TRIALS,
    OPT_TUNER, OPT_EARLY, OPT_TIME_LIMIT, OPT_BATCH, OPT_SEED, OPT_LOG, OPT_RESUME,
    OPT_TRANSFER, OPT_NUMBER, OPT_REPEAT, OPT_MIN_REPEAT, OPT_COOLDOWN, OPT_FLUSH, OPT_CHECK,
    OPT_BUILD_TIMEOUT, OPT_RUN_TIMEOUT, OPT_PARALLEL, OPT_SUMMARY, OPT_PLOT, OPT_LIST
};

static const struct option long_options[] = {
    { "target", required_argument, NULL, OPT_TARGET },
    { "rpc", required_argument, NULL, OPT_RPC },
    { "tracker", required_argument, NULL, OPT_TRACKER },
    { "key", required_argument, NULL, OPT_KEY },
    { "priority", required_argument, NULL, OPT_PRIORITY },
    { "token-file", required_argument, NULL, OPT_TOKEN_FILE },
    { "trials", required_argument, NULL, OPT_TRIALS },
    { "tuner", required_argument, NULL, OPT_TUNER },
    { "early-stopping", required_argument, NULL, OPT_EARLY },
    { "time-limit", required_argument, NULL, OPT_TIME_LIMIT },
    { "batch", required_argument, NULL, OPT_BATCH },
    { "seed", required_argument, NULL, OPT_SEED },
    { "log", required_argument, NULL, OPT_LOG },
    { "resume", no_argument, NULL, OPT_RESUME },
    { "transfer", required_argument, NULL, OPT_TRANSFER },
    { "number", required_argument, NULL, OPT_NUMBER },
    { "repeat", required_argument, NULL, OPT_REPEAT },
    { "min-repeat-ms", required_argument, NULL, OPT_MIN_REPEAT },
    { "cooldown-ms", required_argument, NULL, OPT_COOLDOWN },
    { "flush-cache", no_argument, NULL, OPT_FLUSH },
    { "check", no_argument, NULL, OPT_CHECK },
    { "build-timeout", required_argument, NULL, OPT_BUILD_TIMEOUT },
    { "run-timeout", required_argument, NULL, OPT_RUN_TIMEOUT },
    { "parallel", required_argument, NULL, OPT_PARALLEL },
    { "summary", required_argument, NULL, OPT_SUMMARY },
    { "plot", required_argument, NULL, OPT_PLOT },
    { "list", no_argument, NULL, OPT_LIST },
    { "output", required_argument, NULL, 'o' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

/* Options that take a number: the range and where the value goes. */
static int parse_number_option(int opt, const char *arg, TuneCommand *cmd)
{
    TsTuneOptions *o = &cmd->options;
    TsMeasureOptions *m = &o->measure;
    long n;
    double d;
    switch (opt) {
    case OPT_PRIORITY:
        if (!parse_long(arg, -1000000, 1000000, &n))
            return usage("--priority '%s' is not an integer", arg);
        m->priority = (int)n;
        return TOOL_EXIT_OK;
    case OPT_TRIALS:
        if (!parse_long(arg, 1, 100000000, &n))
            return usage("--trials '%s' must be an integer >= 1", arg);
        o->n_trial = (int)n;
        return TOOL_EXIT_OK;
    case OPT_EARLY:
        if (!parse_long(arg, 0, 100000000, &n))
            return usage("--early-stopping '%s' must be an integer >= 0", arg);
        o->early_stopping = (int)n;
        return TOOL_EXIT_OK;
    case OPT_BATCH:
        if (!parse_long(arg, 1, 4096, &n))
            return usage("--batch '%s' must be an integer in [1, 4096]", arg);
        o->batch_size = (int)n;
        return TOOL_EXIT_OK;
    case OPT_SEED:
        if (!parse_long(arg, 0, 0x7fffffffL, &n))
            return usage("--seed '%s' must be a non-negative integer", arg);
        o->seed = (uint64_t)n;
        return TOOL_EXIT_OK;
    case OPT_NUMBER:
        if (!parse_long(arg, 1, 1000000, &n))
            return usage("--number '%s' must be an integer >= 1", arg);
        m->number = (int)n;
        return TOOL_EXIT_OK;
    case OPT_REPEAT:
        if (!parse_long(arg, 1, TS_MEASURE_MAX_REPEAT, &n))
            return usage("--repeat '%s' must be an integer in [1, 16]", arg);
        m->repeat = (int)n;
        return TOOL_EXIT_OK;
    case OPT_PARALLEL:
        if (!parse_long(arg, 1, 256, &n))
            return usage("--parallel '%s' must be an integer in [1, 256]", arg);
        m->n_parallel = (int)n;
        return TOOL_EXIT_OK;
    case OPT_TIME_LIMIT:
        if (!parse_double(arg, 0, 1e7, &d))
            return usage("--time-limit '%s' must be a number of seconds >= 0", arg);
        o->time_limit_s = d;
        return TOOL_EXIT_OK;
    case OPT_MIN_REPEAT:
        if (!parse_double(arg, 0, 3.6e6, &d))
            return usage("--min-repeat-ms '%s' must be a number >= 0", arg);
        m->min_repeat_ms = d;
        return TOOL_EXIT_OK;
    case OPT_COOLDOWN:
        if (!parse_double(arg, 0, 3.6e6, &d))
            return usage("--cooldown-ms '%s' must be a number >= 0", arg);
        m->cooldown_ms = d;
        return TOOL_EXIT_OK;
    case OPT_BUILD_TIMEOUT:
        if (!parse_double(arg, 0.001, 1e6, &d))
            return usage("--build-timeout '%s' must be a positive number of seconds", arg);
        m->build_timeout_s = d;
        return TOOL_EXIT_OK;
    case OPT_RUN_TIMEOUT:
        if (!parse_double(arg, 0.001, 1e6, &d))
            return usage("--run-timeout '%s' must be a positive number of seconds", arg);
        m->run_timeout_s = d;
        return TOOL_EXIT_OK;
    default:
        return usage("internal: unhandled option %s", "");
    }
}

/* "HOST:PORT" into host and port; a usage error naming the option otherwise. */
static int parse_endpoint(const char *option, const char *arg, char *host, size_t size,
                          int *port)
{
    if (ts_rpc_parse_endpoint(arg, host, size, port, NULL) != TS_OK) {
        fprintf(stderr, "tessera tune: %s '%s' is not HOST:PORT (a port in [1, 65535])\n",
                option, arg);
        return TOOL_EXIT_USAGE;
    }
    return TOOL_EXIT_OK;
}

/* Options and their arguments; the operator and KEY=VALUE words are left in argv from
 * optind on. */
static int parse_options(int argc, char **argv, TuneCommand *cmd)
{
    TsTuneOptions *o = &cmd->options;
    TsMeasureOptions *m = &o->measure;
    opterr = 0;
    optind = 1;
    int opt, status;
    while ((opt = getopt_long(argc, argv, "ho:", long_options, NULL)) != -1) {
        switch (opt) {
        case 'h':
            print_help(stdout);
            return -1;
        case 'o': cmd->output = optarg; break;
        case OPT_TARGET: cmd->target = optarg; break;
        case OPT_KEY: m->key = optarg; break;
        case OPT_TOKEN_FILE: cmd->token_file = optarg; break;
        case OPT_TUNER: o->tuner = optarg; break;
        case OPT_LOG: o->log_path = optarg; break;
        case OPT_RESUME: o->resume = true; break;
        case OPT_FLUSH: m->flush_cache = true; break;
        case OPT_CHECK: m->check_correctness = true; break;
        case OPT_SUMMARY: cmd->summary_log = optarg; break;
        case OPT_PLOT: cmd->plot_log = optarg; break;
        case OPT_LIST: cmd->list = true; break;
        case OPT_RPC:
            status = parse_endpoint("--rpc", optarg, cmd->rpc_host, sizeof cmd->rpc_host,
                                    &m->rpc_port);
            if (status != TOOL_EXIT_OK)
                return status;
            m->rpc_host = cmd->rpc_host;
            break;
        case OPT_TRACKER:
            status = parse_endpoint("--tracker", optarg, cmd->tracker_host,
                                    sizeof cmd->tracker_host, &m->tracker_port);
            if (status != TOOL_EXIT_OK)
                return status;
            m->tracker_host = cmd->tracker_host;
            break;
        case OPT_TRANSFER:
            if (cmd->num_transfer == MAX_TRANSFER_LOGS)
                return usage("at most 16 --transfer logs (got '%s' too many)", optarg);
            cmd->transfer[cmd->num_transfer++] = optarg;
            break;
        case '?':
            if (optopt)
                return usage("option '%s' needs an argument", argv[optind - 1]);
            return usage("unknown option '%s'", argv[optind - 1]);
        default:
            status = parse_number_option(opt, optarg, cmd);
            if (status != TOOL_EXIT_OK)
                return status;
        }
    }
    return TOOL_EXIT_OK;
}

/* Checks that the options make one request. */
static int check_request(TuneCommand *cmd, int num_words)
{
    const TsMeasureOptions *m = &cmd->options.measure;
    if (cmd->list || cmd->summary_log || cmd->plot_log) {
        if (num_words > 0)
            return usage("--list, --summary and --plot take no operator (got '%s')", cmd->op);
        if (cmd->plot_log && !cmd->output)
            return usage("--plot needs -o FILE.svg%s", "");
        return TOOL_EXIT_OK;
    }
    if (num_words == 0)
        return usage("no operator given%s", "");
    if (!cmd->options.log_path)
        return usage("--log FILE is required: every measured candidate is kept there%s", "");
    if (m->rpc_host && m->tracker_host)
        return usage("give --rpc or --tracker, not both%s", "");
    if (m->tracker_host && !m->key)
        return usage("--tracker needs --key: the kind of device to lease%s", "");
    if (m->key && !m->tracker_host)
        return usage("--key is for --tracker%s", "");
    return TOOL_EXIT_OK;
}

/* ---- the progress line ---- */

typedef struct Progress {
    bool tty;
    const char *task;
    int last_trial; /* the trial count last shown */
} Progress;

static void format_seconds(double s, char *buf, size_t size)
{
    if (!(s >= 0) || s > 1e7) {
        snprintf(buf, size, "--:--");
        return;
    }
    long t = lround(s);
    if (t >= 3600)
        snprintf(buf, size, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, size, "%ld:%02ld", t / 60, t % 60);
}

static void show_progress(const TsTuneProgress *p, void *user)
{
    Progress *progress = user;
    /* The final report repeats the last batch's: a log file needs the line once. */
    if (!progress->tty && p->finished && p->trial == progress->last_trial)
        return;
    progress->last_trial = p->trial;
    char elapsed[32], remaining[32];
    format_seconds(p->elapsed_s, elapsed, sizeof elapsed);
    format_seconds(p->remaining_s, remaining, sizeof remaining);
    fprintf(stderr, "%s[%s] trial %d/%d  best %.1f GFLOPS  errors %d  elapsed %s  left %s%s",
            progress->tty ? "\r\033[K" : "", progress->task, p->trial, p->n_trial,
            p->best_gflops, p->num_errors, elapsed, p->finished ? "0:00" : remaining,
            progress->tty && !p->finished ? "" : "\n");
    fflush(stderr);
}

/* ---- tuning ---- */

static int report_best(const TsTuneTask *task, const TsTuneProgress *final, const char *log)
{
    printf("task:    %s\n", ts_tune_task_name(task));
    printf("target:  %s\n", ts_tune_task_target(task));
    printf("trials:  %d (%d errors), stopped by %s after %.1f s\n", final->trial,
           final->num_errors, final->stop_reason ? final->stop_reason : "the budget",
           final->elapsed_s);
    if (final->best_index < 0) {
        printf("best:    none: no candidate ran successfully (see %s)\n", log);
        return TOOL_EXIT_FAILED;
    }
    TsConfig config;
    TsError err;
    char entity[TS_RECORD_MAX_ENTITY];
    if (ts_space_get(ts_tune_task_space(task), final->best_index, &config, &err) != TS_OK ||
        ts_config_entity(&config, entity, sizeof entity, &err) != TS_OK)
        snprintf(entity, sizeof entity, "(entity unavailable: %s)", err.message);
    printf("best:    %.2f GFLOPS, %.4f ms per call, config %lld\n", final->best_gflops,
           final->best_cost * 1e3, (long long)final->best_index);
    printf("config:  %s\n", entity);
    printf("log:     %s\n", log);
    return TOOL_EXIT_OK;
}

static void warn_stderr(const char *message, void *user)
{
    (void)user;
    fprintf(stderr, "tessera tune: %s\n", message);
}

static int run_tuning(TuneCommand *cmd)
{
    TsError err;
    if (cmd->token_file) {
        if (ts_rpc_read_token(cmd->token_file, cmd->token, &err) != TS_OK) {
            fprintf(stderr, "tessera tune: %s\n", err.message);
            return TOOL_EXIT_FAILED;
        }
        cmd->options.measure.token = cmd->token;
    }
    TsTuneTask *task;
    if (ts_tune_task_create(cmd->op, &cmd->args, cmd->target, &task, &err) != TS_OK) {
        fprintf(stderr, "tessera tune: %s\n", err.message);
        return TOOL_EXIT_FAILED;
    }
    Progress progress = { .tty = isatty(STDERR_FILENO) != 0, .task = ts_tune_task_name(task),
                          .last_trial = -1 };
    cmd->options.progress = show_progress;
    cmd->options.user = &progress;
    cmd->options.warn = warn_stderr;
    cmd->options.num_transfer_logs = cmd->num_transfer;
    cmd->options.transfer_logs = cmd->transfer;
    fprintf(stderr, "tessera tune: %s on '%s': %lld configs, %d trials with the %s tuner\n",
            ts_tune_task_name(task), ts_tune_task_target(task),
            (long long)ts_space_size(ts_tune_task_space(task)), cmd->options.n_trial,
            cmd->options.tuner);
    TsTuneProgress final;
    int status;
    if (ts_tune(task, &cmd->options, &final, &err) != TS_OK) {
        fprintf(stderr, "tessera tune: %s\n", err.message);
        status = TOOL_EXIT_FAILED;
    } else {
        status = report_best(task, &final, cmd->options.log_path);
    }
    ts_tune_task_free(task);
    return status;
}

int tool_tune(int argc, char **argv)
{
    if (tool_names_onnx_model(argc, argv))
        return tool_tune_model(argc, argv);
    TuneCommand cmd = { .target = "llvm", .options = ts_tune_options_default() };
    int status = parse_options(argc, argv, &cmd);
    if (status < 0)
        return TOOL_EXIT_OK; /* --help */
    if (status != TOOL_EXIT_OK)
        return status;
    int num_words = argc - optind;
    if (num_words > 0)
        cmd.op = argv[optind];
    status = check_request(&cmd, num_words);
    if (status != TOOL_EXIT_OK)
        return status;
    if (cmd.list) {
        tune_tool_list_templates(stdout);
        return TOOL_EXIT_OK;
    }
    if (cmd.summary_log)
        return tune_tool_summary(cmd.summary_log);
    if (cmd.plot_log)
        return tune_tool_plot(cmd.plot_log, cmd.output);
    if (!tune_tool_parse_pairs("tessera tune", num_words - 1, argv + optind + 1, &cmd.args))
        return TOOL_EXIT_USAGE;
    return run_tuning(&cmd);
}
