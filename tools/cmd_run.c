/* `tessera run KERNEL.so [--func NAME] [--number N] [--repeat N] [--min-repeat-ms MS]
 * [--flop F] [--rpc HOST:PORT [--token-file F]]` loads an exported kernel into this
 * process, or on a device server with --rpc, gives it arguments of the shapes its module
 * table's signature states, filled with random numbers, calls it once, and times it with
 * the time evaluator (the device's own, over RPC). */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_tools.h"
#include "tessera/graph_executor.h"
#include "tessera/rpc.h"
#include "tools.h"
#include "tune_tools.h"

enum { MAX_RUN_ARGS = 16 };

typedef struct RunCommand {
    const char *path;
    const char *func;
    double flop;
    TsTimeOptions time;
    const char *rpc;        /* HOST:PORT of a device server, or NULL */
    const char *token_file;
    ToolModelRun model; /* --input, --save-outputs: for a model's shared object */
} RunCommand;

static size_t arg_elements(const TsArgSpec *arg)
{
    size_t n = 1;
    for (int d = 0; d < arg->ndim; d++)
        n *= (size_t)arg->shape[d];
    return n;
}

/* Random bytes for a float32 array in [-1, 1), else small integers. */
static void *random_data(const TsArgSpec *arg, size_t *nbytes, uint64_t *state)
{
    size_t n = arg_elements(arg);
    *nbytes = n * ts_dtype_bytes(arg->dtype);
    unsigned char *data = malloc(*nbytes ? *nbytes : 1);
    if (!data)
        return NULL;
    for (size_t i = 0; i < *nbytes; i++) {
        *state = *state * 6364136223846793005ull + 1442695040888963407ull;
        data[i] = (unsigned char)(*state >> 56);
    }
    if (arg->dtype.code == TS_TYPE_FLOAT && arg->dtype.bits == 32) {
        float *f = (float *)data;
        for (size_t i = 0; i < n * arg->dtype.lanes; i++) {
            *state = *state * 6364136223846793005ull + 1442695040888963407ull;
            f[i] = (float)((double)(*state >> 40) / (double)(1 << 24) * 2.0 - 1.0);
        }
    }
    return data;
}

static void print_costs(const RunCommand *cmd, const char *func, const double *costs, int n)
{
    double sorted[64], mean = 0;
    for (int i = 0; i < n; i++) {
        sorted[i] = costs[i];
        mean += costs[i] / n;
    }
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && sorted[j] < sorted[j - 1]; j--) {
            double t = sorted[j];
            sorted[j] = sorted[j - 1];
            sorted[j - 1] = t;
        }
    double median = n % 2 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
    printf("%s: mean %.4f ms, median %.4f ms, min %.4f ms per call over %d repeats (each >= "
           "%d calls and >= %g ms)",
           func, mean * 1e3, median * 1e3, sorted[0] * 1e3, n, cmd->time.number,
           cmd->time.min_repeat_ms);
    if (cmd->flop > 0)
        printf(", %.2f GFLOPS (median)", cmd->flop / median * 1e-9);
    putchar('\n');
}

/* Allocates and fills the arguments, calls func once, then times it. */
static int run_func(const RunCommand *cmd, const TsFuncEntry *entry)
{
    TsArgSpec args[MAX_RUN_ARGS];
    int num_args;
    TsError err;
    if (ts_signature_parse(entry->signature, MAX_RUN_ARGS, args, &num_args, &err) != TS_OK) {
        fprintf(stderr, "tessera run: %s: function '%s': %s\n", cmd->path, entry->name,
                err.message);
        return TOOL_EXIT_FAILED;
    }
    if (num_args != entry->num_args) {
        fprintf(stderr, "tessera run: %s: function '%s' takes %d arguments but its signature "
                "describes %d\n", cmd->path, entry->name, entry->num_args, num_args);
        return TOOL_EXIT_FAILED;
    }
    TsNDArray *arrays[MAX_RUN_ARGS] = { 0 };
    TsValue values[MAX_RUN_ARGS];
    int32_t codes[MAX_RUN_ARGS];
    uint64_t state = 0x5eed;
    int status = TOOL_EXIT_FAILED;
    for (int i = 0; i < num_args; i++) {
        size_t nbytes;
        void *data = random_data(&args[i], &nbytes, &state);
        TsDevice cpu = { TS_DEVICE_CPU, 0 };
        TsStatus st = data ? ts_ndarray_empty(args[i].ndim, args[i].shape, args[i].dtype, cpu,
                                              &arrays[i], &err)
                           : ts_fail(&err, TS_ENOMEM, "no memory for argument %s", args[i].name);
        if (st == TS_OK)
            st = ts_ndarray_copy_from_bytes(arrays[i], data, nbytes, &err);
        free(data);
        if (st != TS_OK) {
            fprintf(stderr, "tessera run: %s\n", err.message);
            goto out_free;
        }
        values[i].v_handle = ts_ndarray_dltensor(arrays[i]);
        codes[i] = TS_ARG_TENSOR;
    }
    printf("%s: %s(%s)\n", cmd->path, entry->name, entry->signature);
    if (entry->func(values, codes, num_args) != 0) {
        fprintf(stderr, "tessera run: %s failed: %s\n", entry->name, ts_runtime_last_error());
        goto out_free;
    }
    double costs[64];
    if (ts_time_evaluate(entry->func, values, codes, num_args, &cmd->time, costs, &err) != TS_OK) {
        fprintf(stderr, "tessera run: %s\n", err.message);
        goto out_free;
    }
    print_costs(cmd, entry->name, costs, cmd->time.repeat);
    status = TOOL_EXIT_OK;
out_free:
    for (int i = 0; i < num_args; i++)
        if (arrays[i])
            ts_ndarray_release(arrays[i]);
    return status;
}

static int run_module(const RunCommand *cmd)
{
    TsModule *module;
    TsError err;
    if (ts_module_load(cmd->path, &module, &err) != TS_OK) {
        fprintf(stderr, "tessera run: %s\n", err.message);
        return TOOL_EXIT_FAILED;
    }
    if (ts_module_has_model(module)) {
        ToolModelRun run = cmd->model;
        run.path = cmd->path;
        run.time = cmd->time;
        int status = tool_run_model(module, &run);
        ts_module_release(module);
        return status;
    }
    if (cmd->model.num_inputs || cmd->model.save_dir) {
        fprintf(stderr, "tessera run: %s holds kernels, not a model: --input and "
                "--save-outputs are for a model built with `tessera build MODEL.onnx`\n",
                cmd->path);
        ts_module_release(module);
        return TOOL_EXIT_USAGE;
    }
    int status = TOOL_EXIT_FAILED;
    const TsFuncEntry *entry = NULL;
    for (int i = 0; i < ts_module_num_funcs(module); i++) {
        const TsFuncEntry *e = ts_module_func(module, i);
        if (!cmd->func || strcmp(e->name, cmd->func) == 0) {
            entry = e;
            break;
        }
    }
    if (!entry) {
        fprintf(stderr, "tessera run: %s has no function '%s'; it has:", cmd->path,
                cmd->func ? cmd->func : "(any)");
        for (int i = 0; i < ts_module_num_funcs(module); i++)
            fprintf(stderr, " %s", ts_module_func(module, i)->name);
        fputc('\n', stderr);
    } else {
        status = run_func(cmd, entry);
    }
    ts_module_release(module);
    return status;
}

/* ---- on a device ---- */

/* Allocates the arguments on the device and fills them with random numbers. */
static TsStatus remote_arguments(TsRpcSession *s, const TsArgSpec *specs, int num_args,
                                 TsRpcArg *args, TsError *err)
{
    uint64_t state = 0x5eed;
    for (int i = 0; i < num_args; i++) {
        size_t nbytes;
        void *data = random_data(&specs[i], &nbytes, &state);
        if (!data)
            return ts_fail(err, TS_ENOMEM, "no memory for argument %s", specs[i].name);
        args[i].kind = TS_RPC_ARG_ARRAY;
        TsStatus st = ts_rpc_alloc_array(s, specs[i].ndim, specs[i].shape, specs[i].dtype,
                                         &args[i].u.array, err);
        if (st == TS_OK)
            st = ts_rpc_copy_to(s, args[i].u.array, data, nbytes, err);
        free(data);
        if (st != TS_OK)
            return st;
    }
    return TS_OK;
}

/* Uploads the module, finds the function and its signature, and times it there. */
static TsStatus run_on_device(const RunCommand *cmd, TsRpcSession *s, TsError *err)
{
    const char *base = strrchr(cmd->path, '/');
    base = base ? base + 1 : cmd->path;
    TsRpcModule module;
    TsStatus st = ts_rpc_upload(s, cmd->path, base, err);
    if (st == TS_OK)
        st = ts_rpc_load_module(s, base, &module, err);
    /* A whole model answers RunGraph's description; a module of kernels does not. */
    static TsRpcGraphResult described;
    TsError why;
    if (st == TS_OK && ts_rpc_run_graph(s, module, 0, NULL, NULL, NULL, &described, &why) == TS_OK) {
        ToolModelRun run = cmd->model;
        run.path = cmd->path;
        run.time = cmd->time;
        int status = tool_run_model_remote(s, module, &run, &described);
        ts_rpc_graph_result_free(&described);
        return status == TOOL_EXIT_OK ? TS_OK
                                      : ts_fail(err, TS_EDEVICE, "%s: the model failed", cmd->path);
    }
    if (st == TS_OK && (cmd->model.num_inputs || cmd->model.save_dir))
        return ts_fail(err, TS_EINVAL, "%s holds kernels, not a model: --input and "
                       "--save-outputs are for a model", cmd->path);
    char names[16][128], signature[4096];
    int num_names = 0;
    if (st == TS_OK && !cmd->func)
        st = ts_rpc_list_funcs(s, module, 16, names, &num_names, err);
    if (st == TS_OK && !cmd->func && num_names == 0)
        st = ts_fail(err, TS_EINVAL, "%s has no function", cmd->path);
    const char *func = cmd->func ? cmd->func : names[0];
    if (st == TS_OK)
        st = ts_rpc_func_signature(s, module, func, signature, sizeof signature, err);
    TsArgSpec specs[MAX_RUN_ARGS];
    TsRpcArg args[MAX_RUN_ARGS];
    int num_args = 0;
    if (st == TS_OK)
        st = ts_signature_parse(signature, MAX_RUN_ARGS, specs, &num_args, err);
    if (st == TS_OK)
        st = remote_arguments(s, specs, num_args, args, err);
    if (st != TS_OK)
        return st;
    printf("%s on %s: %s(%s)\n", cmd->path, ts_rpc_peer(s), func, signature);
    double costs[64];
    st = ts_rpc_call(s, module, func, num_args, args, 0, err);
    if (st == TS_OK)
        st = ts_rpc_time(s, module, func, num_args, args, &cmd->time, 0, costs, err);
    if (st == TS_OK)
        print_costs(cmd, func, costs, cmd->time.repeat);
    return st;
}

static int run_remote(const RunCommand *cmd)
{
    char host[256], token[TS_RPC_MAX_TOKEN + 1];
    int port;
    TsError err;
    if (ts_rpc_parse_endpoint(cmd->rpc, host, sizeof host, &port, NULL) != TS_OK) {
        fprintf(stderr, "tessera run: --rpc '%s' is not HOST:PORT\n", cmd->rpc);
        return TOOL_EXIT_USAGE;
    }
    TsRpcConnectOptions options = ts_rpc_connect_options_default();
    options.client_name = "tessera run";
    if (cmd->token_file) {
        if (ts_rpc_read_token(cmd->token_file, token, &err) != TS_OK) {
            fprintf(stderr, "tessera run: %s\n", err.message);
            return TOOL_EXIT_FAILED;
        }
        options.token = token;
    }
    TsRpcSession *s;
    if (ts_rpc_connect(host, port, &options, &s, &err) != TS_OK) {
        fprintf(stderr, "tessera run: %s\n", err.message);
        return TOOL_EXIT_FAILED;
    }
    TsStatus st = run_on_device(cmd, s, &err);
    ts_rpc_close(s);
    if (st != TS_OK) {
        fprintf(stderr, "tessera run: %s\n", err.message);
        return TOOL_EXIT_FAILED;
    }
    return TOOL_EXIT_OK;
}

static bool parse_positive(const char *text, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end || !(v >= lo && v <= hi))
        return false;
    *out = v;
    return true;
}

int tool_run(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "func", required_argument, NULL, 'f' },
        { "number", required_argument, NULL, 'n' },
        { "repeat", required_argument, NULL, 'r' },
        { "min-repeat-ms", required_argument, NULL, 'm' },
        { "flop", required_argument, NULL, 'F' },
        { "rpc", required_argument, NULL, 'R' },
        { "token-file", required_argument, NULL, 'T' },
        { "input", required_argument, NULL, 'i' },
        { "save-outputs", required_argument, NULL, 'S' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    RunCommand cmd = { .time = ts_time_options_default() };
    cmd.time.repeat = 5;
    cmd.time.min_repeat_ms = 50;
    int opt;
    double v;
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", long_options, NULL)) != -1) {
        switch (opt) {
        case 'h':
            puts("usage: tessera run KERNEL.so [--func NAME] [--number N] [--repeat N]\n"
                 "                  [--min-repeat-ms MS] [--flop F]\n"
                 "                  [--rpc HOST:PORT [--token-file F]]\n"
                 "       tessera run MODEL.so [--input FILE.pb ...] [--save-outputs DIR]\n"
                 "                  [--repeat N] [--number N] [--min-repeat-ms MS]\n\n"
                 "A model (tessera build MODEL.onnx) runs on its inputs, ONNX TensorProto files\n"
                 "in the graph's input order (random numbers without --input); --save-outputs\n"
                 "writes DIR/output_0.pb ... in the graph's output order; the median latency\n"
                 "of the repeats is printed.\n"
                 "Calls an exported kernel on random arguments of its signature's shapes, then\n"
                 "times it (default: 5 repeats of at least 50 ms). --flop prints GFLOPS too.\n"
                 "--rpc uploads it to a device server (tessera rpc-server) and runs it there.");
            return TOOL_EXIT_OK;
        case 'f': cmd.func = optarg; break;
        case 'R': cmd.rpc = optarg; break;
        case 'T': cmd.token_file = optarg; break;
        case 'S': cmd.model.save_dir = optarg; break;
        case 'i':
            if (cmd.model.num_inputs == TOOL_MAX_MODEL_INPUTS) {
                fprintf(stderr, "tessera run: at most %d --input files\n", TOOL_MAX_MODEL_INPUTS);
                return TOOL_EXIT_USAGE;
            }
            cmd.model.inputs[cmd.model.num_inputs++] = optarg;
            break;
        case 'n':
        case 'r':
            if (!parse_positive(optarg, 1, opt == 'r' ? 64 : 1e6, &v) || v != floor(v)) {
                fprintf(stderr, "tessera run: --%s '%s' must be an integer in [1, %s]\n",
                        opt == 'r' ? "repeat" : "number", optarg, opt == 'r' ? "64" : "1000000");
                return TOOL_EXIT_USAGE;
            }
            *(opt == 'r' ? &cmd.time.repeat : &cmd.time.number) = (int)v;
            break;
        case 'm':
        case 'F':
            if (!parse_positive(optarg, 0, 1e18, &v)) {
                fprintf(stderr, "tessera run: --%s '%s' must be a number >= 0\n",
                        opt == 'm' ? "min-repeat-ms" : "flop", optarg);
                return TOOL_EXIT_USAGE;
            }
            *(opt == 'm' ? &cmd.time.min_repeat_ms : &cmd.flop) = v;
            break;
        default:
            fprintf(stderr, "tessera run: %s '%s'\n",
                    optopt ? "option needs an argument:" : "unknown option", argv[optind - 1]);
            return TOOL_EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        fputs("tessera run: give exactly one KERNEL.so (tessera run --help)\n", stderr);
        return TOOL_EXIT_USAGE;
    }
    cmd.path = argv[optind];
    if (cmd.token_file && !cmd.rpc) {
        fputs("tessera run: --token-file is for --rpc\n", stderr);
        return TOOL_EXIT_USAGE;
    }
    return cmd.rpc ? run_remote(&cmd) : run_module(&cmd);
}
