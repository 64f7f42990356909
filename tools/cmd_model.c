/* The model forms of `tessera build` and `tessera run`:
 *
 *   tessera build MODEL.onnx [--log F ...] [--target T] [--input-shape NAME=1x3x224x224 ...]
 *                            [--keep-nchw]
 *                 -o MODEL.so
 *     imports the model, runs the graph passes and builds every fused group into one
 *     shared object with the graph, weights and memory plan (ts_graph_build); anchored
 *     groups take the best records of the logs, or a default config announced on stderr.
 *
 *   tessera run MODEL.so [--input FILE.pb ...] [--save-outputs DIR] [--repeat N] ...
 *     loads the model into the graph executor, sets its inputs from ONNX TensorProto
 *     files (in the graph's input order; random numbers when none is given), runs it,
 *     writes DIR/output_0.pb, output_1.pb, ... in the graph's output order, and prints the
 *     median latency of the repeats (the time evaluator).
 *
 * cmd_build.c and cmd_run.c hand their command lines here when they name a model. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model_tools.h"
#include "tessera/graph_executor.h"
#include "tessera/relay.h"
#include "tessera/rpc.h"
#include "tools.h"

enum { MAX_LOGS = 16, MAX_INPUT_SHAPES = 64 };

bool tool_names_onnx_model(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        size_t n = strlen(argv[i]);
        bool value_of_option = strcmp(argv[i - 1], "-o") == 0 ||
                               strcmp(argv[i - 1], "--output") == 0 ||
                               strcmp(argv[i - 1], "--log") == 0;
        if (!value_of_option && argv[i][0] != '-' && n > 5 && strcmp(argv[i] + n - 5, ".onnx") == 0)
            return true;
    }
    return false;
}

/* ---- tessera build MODEL.onnx ---- */

static void build_note(const char *message, void *user)
{
    (void)user;
    fprintf(stderr, "tessera build: %s\n", message);
}

/* The QDQ model of `--quantize PLAN` (tessera/quantize.h), its plan printed; PLAN is a
 * JSON file of parameters and precisions, or the default precision. */
static TsStatus quantize_model(const char *model, const char *plan, TsQuantizeOptions *q,
                               TsQuantizeResult *result, TsError *err)
{
    size_t n = strlen(plan);
    if (n > 5 && strcmp(plan + n - 5, ".json") == 0)
        q->params_path = plan;
    else
        q->default_precision = plan;
    TsStatus st = ts_quantize_onnx(model, q, result, err);
    TsArena *arena = st == TS_OK ? ts_arena_create() : NULL;
    const char *text = arena ? ts_quantize_plan_str(arena, result) : NULL;
    if (text)
        fputs(text, stdout);
    ts_arena_destroy(arena);
    return st;
}

static int build_model(const char *model, const TsImportOptions *import,
                       const TsBuildOptions *options, const char *output, const char *plan,
                       TsQuantizeOptions *quantize)
{
    TsError err;
    TsGraph *graph = NULL;
    TsQuantizeResult quantized = { 0 };
    TsStatus st = TS_OK;
    if (plan) {
        quantize->import = *import;
        st = quantize_model(model, plan, quantize, &quantized, &err);
        if (st == TS_OK)
            st = ts_graph_import_onnx_bytes(quantized.model, quantized.model_size, model, import,
                                            &graph, &err);
        ts_quantize_result_free(&quantized);
    } else {
        st = ts_graph_import_onnx(model, import, &graph, &err);
    }
    if (st != TS_OK) {
        fprintf(stderr, "tessera build: %s\n", err.message);
        return TOOL_EXIT_FAILED;
    }
    for (int k = 0; k < ts_graph_num_notes(graph); k++)
        fprintf(stderr, "tessera build: note: %s\n", ts_graph_note(graph, k));
    TsBuildStats stats;
    st = ts_graph_build(graph, options, output, &stats, &err);
    ts_graph_free(graph);
    if (st != TS_OK) {
        fprintf(stderr, "tessera build: %s: %s\n", model, err.message);
        return TOOL_EXIT_FAILED;
    }
    printf("%s: %s for '%s'\n", output, model, options->target ? options->target : "llvm");
    printf("kernels: %d (%d tuned, %d default config, %d generic schedule)\n", stats.num_kernels,
           stats.num_tuned, stats.num_default, stats.num_generic);
    printf("values kept blocked between layers: %d\n", stats.num_kept_blocked);
    printf("arena: %lld bytes, weights: %lld bytes\n", (long long)stats.arena_bytes,
           (long long)stats.weights_bytes);
    return TOOL_EXIT_OK;
}

int tool_build_model(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "target", required_argument, NULL, 't' },
        { "log", required_argument, NULL, 'l' },
        { "input-shape", required_argument, NULL, 's' },
        { "output", required_argument, NULL, 'o' },
        { "keep-nchw", no_argument, NULL, 'k' },
        { "quantize", required_argument, NULL, 'q' },
        { "calib", required_argument, NULL, 'c' },
        { "calib-method", required_argument, NULL, 'm' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    static TsInputShape shapes[MAX_INPUT_SHAPES];
    const char *logs[MAX_LOGS];
    TsBuildOptions options = { .logs = logs, .note = build_note };
    TsImportOptions import = { .input_shapes = shapes };
    static const char *calib[MAX_LOGS];
    TsQuantizeOptions quantize = ts_quantize_options_default();
    quantize.samples = calib;
    const char *output = NULL, *plan = NULL;
    TsError err;
    int opt;
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "ho:", long_options, NULL)) != -1) {
        switch (opt) {
        case 'h':
            puts("usage: tessera build MODEL.onnx [--log F ...] [--target T]\n"
                 "                    [--input-shape NAME=D0xD1x... ...]\n"
                 "                    [--quantize int8|PLAN.json --calib FILE|DIR ...\n"
                 "                     [--calib-method minmax|percentile|entropy]] -o MODEL.so\n\n"
                 "Builds a whole ONNX model into one shared object (kernels, graph, weights,\n"
                 "memory plan) for `tessera run` and the graph executor. Convolution and dense\n"
                 "layers use the best records of the tuning logs (tessera tune MODEL.onnx), or\n"
                 "their template's default config, announced, when the logs have none.\n"
                 "Data stays in the blocked layout between convolution and pooling layers;\n"
                 "--keep-nchw converts it from and to NCHW around each of them instead.\n"
                 "--quantize quantizes the model first, as `tessera quantize` does (int8 layers,\n"
                 "or the parameters and precisions of a JSON file; --calib gives the samples),\n"
                 "and builds the quantized model.");
            return TOOL_EXIT_OK;
        case 'k': options.keep_nchw = true; break;
        case 'q': plan = optarg; break;
        case 'c':
            if (quantize.num_samples == MAX_LOGS) {
                fputs("tessera build: too many --calib\n", stderr);
                return TOOL_EXIT_USAGE;
            }
            calib[quantize.num_samples++] = optarg;
            break;
        case 'm':
            if (!ts_calib_method_parse(optarg, &quantize.method)) {
                fprintf(stderr,
                        "tessera build: --calib-method '%s': minmax, percentile or "
                        "entropy\n",
                        optarg);
                return TOOL_EXIT_USAGE;
            }
            break;
        case 't': options.target = optarg; break;
        case 'o': output = optarg; break;
        case 'l':
        case 's':
            if ((opt == 'l' ? options.num_logs == MAX_LOGS
                            : import.num_input_shapes == MAX_INPUT_SHAPES)) {
                fprintf(stderr, "tessera build: too many --%s\n",
                        opt == 'l' ? "log" : "input-shape");
                return TOOL_EXIT_USAGE;
            }
            if (opt == 'l') {
                logs[options.num_logs++] = optarg;
            } else if (ts_input_shape_parse(optarg, &shapes[import.num_input_shapes++], &err) !=
                       TS_OK) {
                fprintf(stderr, "tessera build: --input-shape: %s\n", err.message);
                return TOOL_EXIT_USAGE;
            }
            break;
        default:
            fprintf(stderr, "tessera build: %s '%s'\n",
                    optopt ? "option needs an argument:" : "unknown option", argv[optind - 1]);
            return TOOL_EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        fputs("tessera build: give exactly one MODEL.onnx (tessera build --help)\n", stderr);
        return TOOL_EXIT_USAGE;
    }
    if (!output) {
        fputs("tessera build: -o MODEL.so is required\n", stderr);
        return TOOL_EXIT_USAGE;
    }
    if (!plan && quantize.num_samples > 0) {
        fputs("tessera build: --calib is for --quantize\n", stderr);
        return TOOL_EXIT_USAGE;
    }
    return build_model(argv[optind], &import, &options, output, plan, &quantize);
}

/* ---- tessera run MODEL.so ---- */

/* Random elements: float32 in [-1, 1), other types small integers. */
static void fill_random(TsDType dtype, void *data, size_t nbytes, uint64_t *state)
{
    unsigned char *bytes = data;
    for (size_t i = 0; i < nbytes; i++) {
        *state = *state * 6364136223846793005ull + 1442695040888963407ull;
        bytes[i] = (unsigned char)((*state >> 56) & 3);
    }
    if (dtype.code == TS_TYPE_FLOAT && dtype.bits == 32)
        for (size_t i = 0; i < nbytes / 4; i++) {
            *state = *state * 6364136223846793005ull + 1442695040888963407ull;
            ((float *)data)[i] = (float)((double)(*state >> 40) / (double)(1 << 24) * 2.0 - 1.0);
        }
}

/* Input i from a TensorProto file: its dtype and shape must be the input's. */
static TsStatus input_from_file(TsGraphExecutor *ex, int i, const char *path, TsError *err)
{
    const char *name;
    TsDType dtype;
    int ndim;
    const int64_t *shape;
    TsStatus st = ts_graph_executor_input_info(ex, i, &name, &dtype, &ndim, &shape, err);
    if (st != TS_OK)
        return st;
    TsTensorFile file;
    st = ts_tensor_file_read(path, &file, err);
    if (st != TS_OK)
        return st;
    bool same = ts_dtype_eq(file.dtype, dtype) && file.ndim == ndim;
    for (int d = 0; same && d < ndim; d++)
        same = file.shape[d] == shape[d];
    char want[TS_DTYPE_STR_MAX], got[TS_DTYPE_STR_MAX];
    if (!same)
        st = ts_fail(err, TS_EINVAL,
                     "--input %s: a %s tensor of rank %d, but input %d (%s) is %s "
                     "of rank %d with another shape",
                     path, ts_dtype_str(file.dtype, got), file.ndim, i, name,
                     ts_dtype_str(dtype, want), ndim);
    else
        st = ts_graph_executor_set_input(ex, i, file.data, file.nbytes, err);
    ts_tensor_file_free(&file);
    return st;
}

static TsStatus set_inputs(TsGraphExecutor *ex, const ToolModelRun *run, TsError *err)
{
    int n = ts_graph_executor_num_inputs(ex);
    if (run->num_inputs && run->num_inputs != n)
        return ts_fail(err, TS_EINVAL, "the model has %d inputs but %d --input files were given", n,
                       run->num_inputs);
    uint64_t state = 0x5eed;
    for (int i = 0; i < n; i++) {
        TsStatus st;
        if (run->num_inputs) {
            st = input_from_file(ex, i, run->inputs[i], err);
        } else {
            size_t bytes = ts_graph_executor_input_bytes(ex, i);
            TsDType dtype;
            st = ts_graph_executor_input_info(ex, i, NULL, &dtype, NULL, NULL, err);
            void *data = st == TS_OK ? malloc(bytes ? bytes : 1) : NULL;
            if (st == TS_OK && !data)
                st = ts_fail(err, TS_ENOMEM, "out of memory");
            if (st == TS_OK) {
                fill_random(dtype, data, bytes, &state);
                st = ts_graph_executor_set_input(ex, i, data, bytes, err);
            }
            free(data);
        }
        if (st != TS_OK)
            return st;
    }
    return TS_OK;
}

static TsStatus save_outputs(const TsGraphExecutor *ex, const char *dir, TsError *err)
{
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return ts_fail(err, TS_EIO, "--save-outputs %s: cannot create it: %s", dir,
                       strerror(errno));
    for (int o = 0; o < ts_graph_executor_num_outputs(ex); o++) {
        const char *name;
        TsDType dtype;
        int ndim;
        const int64_t *shape;
        TsStatus st = ts_graph_executor_output_info(ex, o, &name, &dtype, &ndim, &shape, err);
        size_t bytes = ts_graph_executor_output_bytes(ex, o);
        void *data = malloc(bytes ? bytes : 1);
        if (st == TS_OK && !data)
            st = ts_fail(err, TS_ENOMEM, "out of memory");
        if (st == TS_OK)
            st = ts_graph_executor_get_output(ex, o, data, bytes, err);
        char path[4096];
        snprintf(path, sizeof path, "%s/output_%d.pb", dir, o);
        if (st == TS_OK)
            st = ts_tensor_file_write(path, name, dtype, ndim, shape, data, bytes, err);
        free(data);
        if (st != TS_OK)
            return st;
        printf("output %d (%s): %s\n", o, name, path);
    }
    return TS_OK;
}

static int compare_doubles(const void *a, const void *b);

/* ---- on a device (--rpc) ---- */

/* The input data for a run on the device: files checked against the described inputs,
 * or random numbers. */
static TsStatus remote_inputs(const ToolModelRun *run, const TsRpcGraphResult *described,
                              void **data, size_t *sizes, TsError *err)
{
    int n = described->num_inputs;
    if (run->num_inputs && run->num_inputs != n)
        return ts_fail(err, TS_EINVAL, "the model has %d inputs but %d --input files were given", n,
                       run->num_inputs);
    uint64_t state = 0x5eed;
    for (int i = 0; i < n; i++) {
        const TsRpcGraphTensor *t = &described->inputs[i];
        sizes[i] = t->nbytes;
        if (!run->num_inputs) {
            if (!(data[i] = malloc(t->nbytes ? t->nbytes : 1)))
                return ts_fail(err, TS_ENOMEM, "out of memory");
            fill_random(t->dtype, data[i], t->nbytes, &state);
            continue;
        }
        TsTensorFile file;
        TsStatus st = ts_tensor_file_read(run->inputs[i], &file, err);
        if (st != TS_OK)
            return st;
        bool same = ts_dtype_eq(file.dtype, t->dtype) && file.ndim == t->ndim;
        for (int d = 0; same && d < t->ndim; d++)
            same = file.shape[d] == t->shape[d];
        data[i] = file.data;
        if (!same)
            return ts_fail(err, TS_EINVAL, "--input %s: its dtype or shape is not input %d's (%s)",
                           run->inputs[i], i, t->name);
    }
    return TS_OK;
}

static TsStatus save_remote_outputs(const TsRpcGraphResult *result, const char *dir, TsError *err)
{
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return ts_fail(err, TS_EIO, "--save-outputs %s: cannot create it: %s", dir,
                       strerror(errno));
    for (int o = 0; o < result->num_outputs; o++) {
        const TsRpcGraphTensor *t = &result->outputs[o];
        char path[4096];
        snprintf(path, sizeof path, "%s/output_%d.pb", dir, o);
        TsStatus st = ts_tensor_file_write(path, t->name, t->dtype, t->ndim, t->shape, t->data,
                                           t->nbytes, err);
        if (st != TS_OK)
            return st;
        printf("output %d (%s): %s\n", o, t->name, path);
    }
    return TS_OK;
}

static void print_latency(const double *costs, int n, const char *where)
{
    double sorted[64], mean = 0;
    for (int i = 0; i < n; i++) {
        sorted[i] = costs[i];
        mean += costs[i] / n;
    }
    qsort(sorted, (size_t)n, sizeof sorted[0], compare_doubles);
    double median = n % 2 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
    printf("latency: median %.4f ms, mean %.4f ms, min %.4f ms over %d repeats (%s)\n",
           median * 1e3, mean * 1e3, sorted[0] * 1e3, n, where);
}

int tool_run_model_remote(TsRpcSession *session, TsRpcModule module, const ToolModelRun *run,
                          const TsRpcGraphResult *described)
{
    TsError err;
    void *data[TS_RPC_GRAPH_MAX_TENSORS] = { 0 };
    size_t sizes[TS_RPC_GRAPH_MAX_TENSORS];
    static TsRpcGraphResult result;
    TsStatus st = remote_inputs(run, described, data, sizes, &err);
    if (st == TS_OK)
        st = ts_rpc_run_graph(session, module, described->num_inputs, (const void *const *)data,
                              sizes, &run->time, &result, &err);
    if (st == TS_OK)
        printf("%s on %s: a model of %d inputs, %d outputs\n", run->path, ts_rpc_peer(session),
               result.num_inputs, result.num_outputs);
    if (st == TS_OK && run->save_dir)
        st = save_remote_outputs(&result, run->save_dir, &err);
    if (st == TS_OK)
        print_latency(result.costs, result.num_costs, ts_rpc_peer(session));
    for (int i = 0; i < described->num_inputs; i++)
        free(data[i]);
    ts_rpc_graph_result_free(&result);
    if (st != TS_OK) {
        fprintf(stderr, "tessera run: %s: %s\n", run->path, err.message);
        return TOOL_EXIT_FAILED;
    }
    return TOOL_EXIT_OK;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static TsStatus time_model(TsGraphExecutor *ex, const TsTimeOptions *time, TsError *err)
{
    double costs[64];
    TsStatus st = ts_graph_executor_time(ex, time, costs, err);
    if (st != TS_OK)
        return st;
    int n = time->repeat;
    double mean = 0;
    for (int i = 0; i < n; i++)
        mean += costs[i] / n;
    qsort(costs, (size_t)n, sizeof costs[0], compare_doubles);
    double median = n % 2 ? costs[n / 2] : 0.5 * (costs[n / 2 - 1] + costs[n / 2]);
    printf("latency: median %.4f ms, mean %.4f ms, min %.4f ms over %d repeats (%d threads)\n",
           median * 1e3, mean * 1e3, costs[0] * 1e3, n, ts_parallel_num_threads());
    return TS_OK;
}

/* --profile: each call's mean time, the slowest first (TVM's debug executor). */
static TsStatus profile_model(TsGraphExecutor *ex, int repeat, TsError *err)
{
    int n = ts_graph_executor_num_calls(ex);
    double *seconds = calloc((size_t)n + 1, sizeof *seconds);
    int *order = calloc((size_t)n + 1, sizeof *order);
    TsStatus st = seconds && order ? ts_graph_executor_profile(ex, repeat, seconds, err)
                                   : ts_fail(err, TS_ENOMEM, "out of memory");
    double total = 0;
    for (int i = 0; st == TS_OK && i < n; i++) {
        total += seconds[i];
        int j = i;
        for (; j > 0 && seconds[order[j - 1]] < seconds[i]; j--)
            order[j] = order[j - 1];
        order[j] = i;
    }
    for (int k = 0; st == TS_OK && k < n; k++)
        printf("  %8.4f ms %5.1f%%  call %d  %s\n", seconds[order[k]] * 1e3,
               total > 0 ? 100 * seconds[order[k]] / total : 0, order[k],
               ts_graph_executor_call_name(ex, order[k]));
    free(seconds);
    free(order);
    return st;
}

int tool_run_model(TsModule *module, const ToolModelRun *run)
{
    TsError err;
    TsGraphExecutor *ex = NULL;
    TsStatus st = ts_graph_executor_create(module, &ex, &err);
    if (st == TS_OK)
        st = set_inputs(ex, run, &err);
    if (st == TS_OK) {
        printf("%s: a model of %d kernel calls, %d inputs, %d outputs, arena %llu bytes\n",
               run->path, ts_graph_executor_num_calls(ex), ts_graph_executor_num_inputs(ex),
               ts_graph_executor_num_outputs(ex),
               (unsigned long long)ts_graph_executor_arena_bytes(ex));
        st = ts_graph_executor_run(ex, &err);
    }
    if (st == TS_OK && run->save_dir)
        st = save_outputs(ex, run->save_dir, &err);
    if (st == TS_OK && run->profile)
        st = profile_model(ex, run->time.repeat, &err);
    if (st == TS_OK)
        st = time_model(ex, &run->time, &err);
    ts_graph_executor_free(ex);
    if (st != TS_OK) {
        fprintf(stderr, "tessera run: %s: %s\n", run->path, err.message);
        return TOOL_EXIT_FAILED;
    }
    return TOOL_EXIT_OK;
}
