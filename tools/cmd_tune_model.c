/* `tessera tune MODEL.onnx --log F [--trials-per-task N | --time-limit S]
 *  [--rpc H:P | --tracker H:P --key K [--token-file F]] [--resume] [--target T]
 *  [--tuner NAME] [--input-shape NAME=D0xD1x...]...`
 * tunes every task of a whole model: the distinct conv, dense, depthwise and pool
 * workloads of its fused groups (ts_graph_extract_tasks), in decreasing order of their
 * share of the model's estimated time. With --time-limit the seconds are shared out by
 * that same share. One progress line covers the whole model (task k of n, the task's
 * trials, the model's trials). Records go to one log; an interrupted run started again
 * with --resume skips what the log already holds. `tessera build MODEL.onnx --log F` then
 * builds with the best records. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model_tools.h"
#include "tessera/relay.h"
#include "tessera/rpc.h"
#include "tools.h"

enum { MAX_INPUT_SHAPES = 64 };

typedef struct ModelTune {
    const char *model;
    const char *target;
    const char *token_file;
    int trials_per_task;
    double time_limit_s;
    char rpc_host[256], tracker_host[256], token[TS_RPC_MAX_TOKEN + 1];
    TsImportOptions import;
    TsInputShape shapes[MAX_INPUT_SHAPES];
    TsTuneOptions options;
} ModelTune;

/* What the progress line knows of the whole model. */
typedef struct ModelProgress {
    bool tty;
    int task, num_tasks;
    const char *name;
    int trials_before, trials_total;
    int last_trial; /* the final report repeats the last batch's: print it once */
} ModelProgress;

static void show_progress(const TsTuneProgress *p, void *user)
{
    ModelProgress *m = user;
    if (!m->tty && p->finished && p->trial == m->last_trial)
        return;
    m->last_trial = p->trial;
    char total[32] = "";
    if (m->trials_total > 0) /* with a time limit, the time decides */
        snprintf(total, sizeof total, "/%d", m->trials_total);
    fprintf(stderr,
            "%s[task %d/%d %s] trial %d/%d  best %.1f GFLOPS  errors %d | model: %d%s trials%s",
            m->tty ? "\r\033[K" : "", m->task + 1, m->num_tasks, m->name, p->trial,
            m->trials_total > 0 ? p->n_trial : p->trial, p->best_gflops, p->num_errors,
            m->trials_before + p->trial, total, m->tty && !p->finished ? "" : "\n");
    fflush(stderr);
}

static void warn_stderr(const char *message, void *user)
{
    (void)user;
    fprintf(stderr, "tessera tune: %s\n", message);
}

static int usage(const char *message, const char *arg)
{
    fprintf(stderr, "tessera tune: ");
    fprintf(stderr, message, arg);
    fputs(" (tessera tune MODEL.onnx --help)\n", stderr);
    return TOOL_EXIT_USAGE;
}

static void print_help(void)
{
    puts("usage: tessera tune MODEL.onnx --log FILE [--trials-per-task N | --time-limit S]\n"
         "                  [--rpc HOST:PORT | --tracker HOST:PORT --key K] [--token-file F]\n"
         "                  [--resume] [--target T] [--tuner NAME] [--input-shape NAME=DIMS]\n\n"
         "Tunes every convolution, dense, depthwise and pooling workload of the model, the\n"
         "largest share of its estimated time first, appending the records to the log for\n"
         "`tessera build MODEL.onnx --log FILE`. --time-limit shares S seconds among the\n"
         "tasks by that share; --resume continues an interrupted run from the log.");
}

static int parse_endpoint(const char *option, const char *arg, char *host, size_t size, int *port)
{
    if (ts_rpc_parse_endpoint(arg, host, size, port, NULL) != TS_OK)
        return usage(option[2] == 'r' ? "--rpc '%s' is not HOST:PORT"
                                      : "--tracker '%s' is not HOST:PORT",
                     arg);
    return TOOL_EXIT_OK;
}

static int parse_number(const char *option, const char *arg, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(arg, &end);
    if (errno || end == arg || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "tessera tune: %s '%s' is out of range\n", option, arg);
        return TOOL_EXIT_USAGE;
    }
    *out = v;
    return TOOL_EXIT_OK;
}

static int parse(int argc, char **argv, ModelTune *t)
{
    static const struct option options[] = {
        { "log", required_argument, NULL, 'l' },
        { "trials-per-task", required_argument, NULL, 'n' },
        { "time-limit", required_argument, NULL, 's' },
        { "rpc", required_argument, NULL, 'r' },
        { "tracker", required_argument, NULL, 'T' },
        { "key", required_argument, NULL, 'k' },
        { "token-file", required_argument, NULL, 'f' },
        { "resume", no_argument, NULL, 'R' },
        { "target", required_argument, NULL, 't' },
        { "tuner", required_argument, NULL, 'u' },
        { "input-shape", required_argument, NULL, 'i' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    TsMeasureOptions *m = &t->options.measure;
    TsError err;
    double v;
    int opt, status = TOOL_EXIT_OK;
    opterr = 0;
    optind = 1;
    while (status == TOOL_EXIT_OK && (opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case 'h': print_help(); return -1;
        case 'l': t->options.log_path = optarg; break;
        case 'k': m->key = optarg; break;
        case 'f': t->token_file = optarg; break;
        case 'R': t->options.resume = true; break;
        case 't': t->target = optarg; break;
        case 'u': t->options.tuner = optarg; break;
        case 'r':
            status = parse_endpoint("--rpc", optarg, t->rpc_host, sizeof t->rpc_host, &m->rpc_port);
            m->rpc_host = t->rpc_host;
            break;
        case 'T':
            status = parse_endpoint("--tracker", optarg, t->tracker_host, sizeof t->tracker_host,
                                    &m->tracker_port);
            m->tracker_host = t->tracker_host;
            break;
        case 'n':
            status = parse_number("--trials-per-task", optarg, 1, 1e6, &v);
            t->trials_per_task = (int)v;
            break;
        case 's': status = parse_number("--time-limit", optarg, 1e-3, 1e7, &t->time_limit_s); break;
        case 'i':
            if (t->import.num_input_shapes == MAX_INPUT_SHAPES)
                return usage("too many --input-shape%s", "");
            if (ts_input_shape_parse(optarg, &t->shapes[t->import.num_input_shapes++], &err) !=
                TS_OK)
                return usage("--input-shape: %s", err.message);
            break;
        default:
            return usage(optopt ? "option '%s' needs an argument" : "unknown option '%s'",
                         argv[optind - 1]);
        }
    }
    if (status != TOOL_EXIT_OK)
        return status;
    if (optind != argc - 1)
        return usage("give exactly one MODEL.onnx%s", "");
    t->model = argv[optind];
    if (!t->options.log_path)
        return usage("--log FILE is required%s", "");
    if (t->trials_per_task && t->time_limit_s > 0)
        return usage("give --trials-per-task or --time-limit, not both%s", "");
    if (m->rpc_host && m->tracker_host)
        return usage("give --rpc or --tracker, not both%s", "");
    if (!!m->tracker_host != !!m->key)
        return usage("--tracker and --key go together%s", "");
    return TOOL_EXIT_OK;
}

/* Tunes tasks[k] with its share of the budget. */
static TsStatus tune_task(ModelTune *t, const TsGraphTask *task, double share,
                          ModelProgress *progress, TsTuneProgress *final, TsError *err)
{
    TsTuneTask *tt;
    TsStatus st = ts_tune_task_create(task->op, &task->args, t->target, &tt, err);
    if (st != TS_OK)
        return st;
    TsTuneOptions options = t->options;
    options.n_trial = t->trials_per_task;
    if (t->time_limit_s > 0) {
        options.time_limit_s = t->time_limit_s * share;
        options.n_trial = 1 << 20; /* the time decides */
    }
    progress->name = ts_tune_task_name(tt);
    options.progress = show_progress;
    options.user = progress;
    options.warn = warn_stderr;
    fprintf(stderr, "tessera tune: task %d/%d: %s (%d in the model, %.1f%% of its flops), %lld "
            "configs\n", progress->task + 1, progress->num_tasks, ts_tune_task_name(tt),
            task->count, share * 100, (long long)ts_space_size(ts_tune_task_space(tt)));
    st = ts_tune(tt, &options, final, err);
    if (st == TS_OK)
        printf("%s: %d trials, best %.2f GFLOPS (%.4f ms)\n", ts_tune_task_name(tt),
               final->trial, final->best_gflops, final->best_cost * 1e3);
    ts_tune_task_free(tt);
    return st;
}

static int tune_model(ModelTune *t)
{
    TsError err;
    TsGraph *graph = NULL;
    TsGraphTask *tasks = NULL;
    int num_tasks = 0, status = TOOL_EXIT_FAILED;
    if (t->token_file) {
        if (ts_rpc_read_token(t->token_file, t->token, &err) != TS_OK)
            goto out_fail;
        t->options.measure.token = t->token;
    }
    if (ts_graph_import_onnx(t->model, &t->import, &graph, &err) != TS_OK ||
        ts_graph_extract_tasks(graph, &tasks, &num_tasks, &err) != TS_OK)
        goto out_fail;
    double total = 0;
    for (int k = 0; k < num_tasks; k++)
        total += tasks[k].flop * tasks[k].count;
    printf("%s: %d tuning tasks\n", t->model, num_tasks);
    for (int k = 0; k < num_tasks; k++) {
        char args[256];
        ts_template_args_str(&tasks[k].args, args, sizeof args);
        printf("  %2d. %s %s  x%d  %.1f%%\n", k + 1, tasks[k].op, args, tasks[k].count,
               100 * tasks[k].flop * tasks[k].count / total);
    }
    ModelProgress progress = { .tty = isatty(STDERR_FILENO) != 0, .num_tasks = num_tasks,
                               .trials_total = t->trials_per_task * num_tasks };
    for (int k = 0; k < num_tasks; k++) {
        TsTuneProgress final;
        progress.task = k;
        progress.last_trial = -1;
        if (tune_task(t, &tasks[k], tasks[k].flop * tasks[k].count / total, &progress, &final,
                      &err) != TS_OK)
            goto out_fail;
        progress.trials_before += final.trial;
    }
    printf("log: %s (tessera build %s --log %s -o MODEL.so)\n", t->options.log_path, t->model,
           t->options.log_path);
    status = TOOL_EXIT_OK;
    goto out_free;

out_fail:
    fprintf(stderr, "tessera tune: %s\n", err.message);
out_free:
    free(tasks);
    ts_graph_free(graph);
    return status;
}

int tool_tune_model(int argc, char **argv)
{
    static ModelTune t;
    memset(&t, 0, sizeof t);
    t.target = "llvm";
    t.import.input_shapes = t.shapes;
    t.options = ts_tune_options_default();
    int status = parse(argc, argv, &t);
    if (status != TOOL_EXIT_OK)
        return status < 0 ? TOOL_EXIT_OK : status;
    if (!t.trials_per_task && !(t.time_limit_s > 0))
        t.trials_per_task = 64;
    return tune_model(&t);
}
