/* `tessera quantize MODEL.onnx --calib DIR -o OUT.onnx`: post-training quantization of an
 * fp32 model into a QDQ model (tessera/quantize.h): calibration on sample inputs, the
 * user's parameters and precisions, the plan printed. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools.h"

enum { MAX_LIST = 256 };

static const char quantize_usage[] =
    "usage: tessera quantize MODEL.onnx --calib FILE|DIR... -o OUT.onnx\n"
    "                        [--method minmax|percentile|entropy] [--percentile P]\n"
    "                        [--params PARAMS.json] [--precision int8|fp32]\n"
    "                        [--node-precision NODE=int8|fp32]... [--input-shape NAME=DIMS]...\n"
    "                        [--report] [--work-dir DIR]\n\n"
    "Quantizes an fp32 ONNX model after training and writes it in the QDQ form\n"
    "(QuantizeLinear and DequantizeLinear around the float operators), which ONNX Runtime\n"
    "loads and `tessera build` turns into integer kernels. Conv, Gemm and MatMul layers with\n"
    "constant weights become int8: weights symmetric per output channel, activations\n"
    "asymmetric per tensor in uint8 (TFLite's scheme), biases int32.\n"
    "  --calib           sample inputs: ONNX TensorProto (.pb) or numpy (.npy) files, or\n"
    "                    folders of them; a file may stack several samples\n"
    "  --method          how the activation ranges are chosen (default minmax); percentile\n"
    "                    clips at --percentile (default 99.99), entropy minimizes the KL\n"
    "                    divergence (TensorRT's method)\n"
    "  --params          a JSON file of the user's own parameters and precisions:\n"
    "                    {\"tensors\": {\"NAME\": {\"scale\": S, \"zero_point\": Z}},\n"
    "                     \"precision\": {\"NODE\": \"fp32\"}, \"default_precision\": \"int8\"}\n"
    "  --precision       the default precision of the layers (int8)\n"
    "  --node-precision  one layer's precision (the plan lists the layers' names)\n"
    "  --report          build and run the fp32 and the QDQ model on the samples: the\n"
    "                    SQNR of every quantized activation and of the output against fp32,\n"
    "                    and the output's top-1 agreement\n";

static int usage_error(const char *fmt, const char *arg)
{
    fputs("tessera quantize: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs(" (tessera quantize --help)\n", stderr);
    return TOOL_EXIT_USAGE;
}

static int write_model(const char *path, const TsQuantizeResult *r)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(r->model, 1, r->model_size, f) != r->model_size) {
        if (f)
            fclose(f);
        fprintf(stderr, "tessera quantize: cannot write %s\n", path);
        return TOOL_EXIT_FAILED;
    }
    if (fclose(f) != 0) {
        fprintf(stderr, "tessera quantize: cannot write %s\n", path);
        return TOOL_EXIT_FAILED;
    }
    return TOOL_EXIT_OK;
}

static int quantize(const char *model, const TsQuantizeOptions *options, const char *out)
{
    TsQuantizeResult result;
    TsError err;
    if (ts_quantize_onnx(model, options, &result, &err) != TS_OK) {
        fprintf(stderr, "tessera quantize: %s\n", err.message);
        return TOOL_EXIT_FAILED;
    }
    TsArena *arena = ts_arena_create();
    const char *plan = arena ? ts_quantize_plan_str(arena, &result) : NULL;
    if (plan)
        fputs(plan, stdout);
    ts_arena_destroy(arena);
    int status = write_model(out, &result);
    if (status == TOOL_EXIT_OK)
        printf("%s: the QDQ model, %zu bytes (%s calibration)\n", out, result.model_size,
               ts_calib_method_name(options->method));
    ts_quantize_result_free(&result);
    return status;
}

int tool_quantize(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "calib", required_argument, NULL, 'c' },
        { "method", required_argument, NULL, 'm' },
        { "percentile", required_argument, NULL, 'p' },
        { "params", required_argument, NULL, 'j' },
        { "precision", required_argument, NULL, 'P' },
        { "node-precision", required_argument, NULL, 'n' },
        { "input-shape", required_argument, NULL, 's' },
        { "work-dir", required_argument, NULL, 'w' },
        { "report", no_argument, NULL, 'r' },
        { "output", required_argument, NULL, 'o' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    static const char *samples[MAX_LIST], *nodes[MAX_LIST];
    static TsInputShape shapes[MAX_LIST];
    TsQuantizeOptions options = ts_quantize_options_default();
    options.samples = samples;
    options.node_precisions = nodes;
    options.import.input_shapes = shapes;
    const char *out = NULL;
    TsError err;
    int opt;
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "ho:", long_options, NULL)) != -1) {
        char *end;
        switch (opt) {
        case 'h': fputs(quantize_usage, stdout); return TOOL_EXIT_OK;
        case 'c':
            if (options.num_samples == MAX_LIST)
                return usage_error("more than 256 --calib options%s", "");
            samples[options.num_samples++] = optarg;
            break;
        case 'm':
            if (!ts_calib_method_parse(optarg, &options.method))
                return usage_error("--method '%s': minmax, percentile or entropy", optarg);
            break;
        case 'p':
            options.percentile = strtod(optarg, &end);
            if (end == optarg || *end || !(options.percentile >= 50 && options.percentile <= 100))
                return usage_error("--percentile '%s': a number in [50, 100]", optarg);
            break;
        case 'j': options.params_path = optarg; break;
        case 'P': options.default_precision = optarg; break;
        case 'n':
            if (options.num_node_precisions == MAX_LIST)
                return usage_error("more than 256 --node-precision options%s", "");
            nodes[options.num_node_precisions++] = optarg;
            break;
        case 's':
            if (options.import.num_input_shapes == MAX_LIST)
                return usage_error("more than 256 --input-shape options%s", "");
            if (ts_input_shape_parse(optarg, &shapes[options.import.num_input_shapes], &err) !=
                TS_OK)
                return usage_error("--input-shape: %s", err.message);
            options.import.num_input_shapes++;
            break;
        case 'w': options.work_dir = optarg; break;
        case 'r': options.report = true; break;
        case 'o': out = optarg; break;
        default:
            return usage_error(optopt ? "option needs an argument: '%s'" : "unknown option '%s'",
                               argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return usage_error("give exactly one MODEL.onnx%s", "");
    if (!out)
        return usage_error("give the output model with -o OUT.onnx%s", "");
    return quantize(argv[optind], &options, out);
}
