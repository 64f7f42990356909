/* `tessera build OP [KEY=VALUE ...] [--target T] [--log FILE ...] -o KERNEL.so` exports a
 * tuned kernel: apply-best looks up the fastest record of the task in the logs (the
 * template's default config, with a warning naming the operator, shape and target, when
 * there is none), the config is lowered and the kernel linked into a shared object
 * carrying the module table, ready for ts_module_load or `tessera run`. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "model_tools.h"
#include "tessera/codegen.h"
#include "tools.h"
#include "tune_tools.h"

enum { MAX_LOGS = 16 };

static void print_help(FILE *out)
{
    fputs("usage: tessera build OP [KEY=VALUE ...] [--target T] [--log FILE ...] -o KERNEL.so\n"
          "       tessera build MODEL.onnx ... -o MODEL.so  (tessera build MODEL.onnx --help)\n"
          "\n"
          "Builds OP for the shape with the best config of the tuning logs (or the template's\n"
          "default config, with a warning, when they hold no record of it) and exports it as a\n"
          "shared object with its module table.\n"
          "  --target T    target string (default \"llvm\"); must match the logs' records\n"
          "  --log FILE    a tuning log (repeatable)\n"
          "  -o FILE       the shared object to write\n",
          out);
}

static void warn_stderr(const char *message, void *user)
{
    (void)user;
    fprintf(stderr, "tessera build: %s\n", message);
}

static int build_kernel(const char *op, const TsTemplateArgs *args, const char *target_text,
                        int num_logs, const char *const *logs, const char *output)
{
    TsError err;
    TsTuneTask *task = NULL;
    TsTarget *target = NULL;
    TsArena *arena = NULL;
    int status = TOOL_EXIT_FAILED;
    if (ts_tune_task_create(op, args, target_text, &task, &err) != TS_OK)
        goto out_fail;
    TsConfig config;
    bool found = false;
    TsTuneRecord best;
    if (ts_tune_apply_best(task, num_logs, logs, warn_stderr, NULL, &config, &found, &best,
                           &err) != TS_OK)
        goto out_fail;
    arena = ts_arena_create();
    TsLoweredFunc *func;
    if (!arena) {
        ts_fail(&err, TS_ENOMEM, "out of memory");
        goto out_fail;
    }
    if (ts_tune_task_lower(task, config.index, false, arena, &func, &err) != TS_OK ||
        ts_target_parse(ts_tune_task_target(task), &target, &err) != TS_OK ||
        ts_build_shared(1, (const TsLoweredFunc *const[]){ func }, target, output, &err) != TS_OK)
        goto out_fail;
    char entity[TS_RECORD_MAX_ENTITY];
    if (ts_config_entity(&config, entity, sizeof entity, &err) != TS_OK)
        goto out_fail;
    printf("%s: %s for '%s'\n", output, ts_tune_task_name(task), ts_tune_task_target(task));
    if (found) {
        double cost = ts_measure_mean_cost(&best.result);
        printf("config %lld from the log: %.2f GFLOPS measured (%.4f ms)\n",
               (long long)config.index, ts_tune_task_flop(task) / cost * 1e-9, cost * 1e3);
    } else {
        printf("config %lld: the template's default (no tuning record)\n",
               (long long)config.index);
    }
    printf("entity: %s\n", entity);
    status = TOOL_EXIT_OK;
    goto out_free;

out_fail:
    fprintf(stderr, "tessera build: %s\n", err.message);
out_free:
    if (arena)
        ts_arena_destroy(arena);
    ts_target_free(target);
    ts_tune_task_free(task);
    return status;
}

int tool_build(int argc, char **argv)
{
    if (tool_names_onnx_model(argc, argv))
        return tool_build_model(argc, argv);
    static const struct option long_options[] = {
        { "target", required_argument, NULL, 't' },
        { "log", required_argument, NULL, 'l' },
        { "output", required_argument, NULL, 'o' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *target = "llvm", *output = NULL;
    const char *logs[MAX_LOGS];
    int num_logs = 0, opt;
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "ho:", long_options, NULL)) != -1) {
        switch (opt) {
        case 'h': print_help(stdout); return TOOL_EXIT_OK;
        case 't': target = optarg; break;
        case 'o': output = optarg; break;
        case 'l':
            if (num_logs == MAX_LOGS) {
                fprintf(stderr, "tessera build: at most %d --log files\n", MAX_LOGS);
                return TOOL_EXIT_USAGE;
            }
            logs[num_logs++] = optarg;
            break;
        default:
            fprintf(stderr, "tessera build: %s '%s'\n",
                    optopt ? "option needs an argument:" : "unknown option", argv[optind - 1]);
            return TOOL_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        fputs("tessera build: no operator given (tessera build --help)\n", stderr);
        return TOOL_EXIT_USAGE;
    }
    if (!output) {
        fputs("tessera build: -o KERNEL.so is required\n", stderr);
        return TOOL_EXIT_USAGE;
    }
    TsTemplateArgs args = { 0 };
    if (!tune_tool_parse_pairs("tessera build", argc - optind - 1, argv + optind + 1, &args))
        return TOOL_EXIT_USAGE;
    return build_kernel(argv[optind], &args, target, num_logs, logs, output);
}
