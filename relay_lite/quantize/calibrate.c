/* Calibration: the model, every tensor to be quantized made a graph output, is built with
 * the default configurations into a scratch shared object and run by the graph executor on
 * every sample. A first pass keeps each tensor's min and max; the percentile and entropy
 * methods take a second pass for a histogram over the range the first one found. Values
 * that are not finite are left out of the statistics (with a note). */
#define _GNU_SOURCE /* mkstemps */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "relay_lite/quantize/quant_internal.h"
#include "tessera/graph_executor.h"
#include "tessera/runtime.h"

typedef struct Run {
    const TsQuantizeOptions *options;
    TsModule *module;
    TsGraphExecutor *ex;
    int num_names;
    int *output_of; /* names[i]'s output index; -1 for the graph's input */
    float **buffers;
    int64_t *elements;
    int64_t non_finite;
} Run;

static void note(const TsQuantizeOptions *o, const char *fmt, ...) TS_PRINTF_LIKE(2, 3);
static void note(const TsQuantizeOptions *o, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (o->note)
        o->note(buf, o->note_user);
    else
        fprintf(stderr, "tessera quantize: %s\n", buf);
}

static void quiet(const char *message, void *user)
{
    (void)message;
    (void)user;
}

static TsStatus build(const uint8_t *bytes, size_t size, const char *model_path,
                      const TsQuantizeOptions *options, const char *so_path, TsError *err)
{
    TsGraph *graph;
    TsStatus st =
        ts_graph_import_onnx_bytes(bytes, size, model_path, &options->import, &graph, err);
    if (st != TS_OK)
        return st;
    /* The calibration build's notes (default configurations) ask nothing of the user. */
    TsBuildOptions build = { .note = quiet };
    st = ts_graph_build(graph, &build, so_path, NULL, err);
    ts_graph_free(graph);
    return st;
}

static TsStatus bind_outputs(Run *r, const char *const *names, const bool *is_input,
                             int64_t input_elements, TsError *err)
{
    r->output_of = calloc((size_t)r->num_names, sizeof *r->output_of);
    r->buffers = calloc((size_t)r->num_names, sizeof *r->buffers);
    r->elements = calloc((size_t)r->num_names, sizeof *r->elements);
    if (!r->output_of || !r->buffers || !r->elements)
        return ts_fail(err, TS_ENOMEM, "quantize: no memory for the calibration outputs");
    int n = ts_graph_executor_num_outputs(r->ex);
    for (int i = 0; i < r->num_names; i++) {
        r->output_of[i] = -1;
        if (is_input[i]) {
            r->elements[i] = input_elements;
            r->buffers[i] = malloc((size_t)input_elements * sizeof(float));
            if (!r->buffers[i])
                return ts_fail(err, TS_ENOMEM, "quantize: no memory for tensor \"%s\"", names[i]);
            continue;
        }
        for (int o = 0; o < n; o++) {
            const char *name;
            TsDType dtype;
            if (ts_graph_executor_output_info(r->ex, o, &name, &dtype, NULL, NULL, err) != TS_OK)
                return err->status;
            if (strcmp(name, names[i]) == 0 && ts_dtype_eq(dtype, TS_FLOAT32))
                r->output_of[i] = o;
        }
        if (r->output_of[i] < 0)
            return ts_fail(err, TS_EINVAL,
                           "quantize: tensor \"%s\" is not a float32 output of the "
                           "calibration build",
                           names[i]);
        size_t bytes = ts_graph_executor_output_bytes(r->ex, r->output_of[i]);
        r->elements[i] = (int64_t)(bytes / sizeof(float));
        r->buffers[i] = malloc(bytes ? bytes : 1);
        if (!r->buffers[i])
            return ts_fail(err, TS_ENOMEM, "quantize: no memory for tensor \"%s\"", names[i]);
    }
    return TS_OK;
}

static TsStatus run_sample(Run *r, const QuantSamples *samples, int s, TsError *err)
{
    const float *x = samples->data + (size_t)s * (size_t)samples->sample_elements;
    TsStatus st = ts_graph_executor_set_input(
        r->ex, 0, x, (size_t)samples->sample_elements * sizeof(float), err);
    if (st == TS_OK)
        st = ts_graph_executor_run(r->ex, err);
    for (int i = 0; st == TS_OK && i < r->num_names; i++) {
        if (r->output_of[i] < 0)
            memcpy(r->buffers[i], x, (size_t)samples->sample_elements * sizeof(float));
        else
            st = ts_graph_executor_get_output(r->ex, r->output_of[i], r->buffers[i],
                                              (size_t)r->elements[i] * sizeof(float), err);
    }
    return st;
}

static void first_pass(Run *r, QuantStats *stats)
{
    for (int i = 0; i < r->num_names; i++)
        for (int64_t k = 0; k < r->elements[i]; k++) {
            double v = r->buffers[i][k];
            if (!isfinite(v)) {
                r->non_finite++;
                continue;
            }
            if (stats[i].count == 0 || v < stats[i].min)
                stats[i].min = v;
            if (stats[i].count == 0 || v > stats[i].max)
                stats[i].max = v;
            stats[i].count++;
        }
}

/* Histogram bins: over [min, max] for the percentile method, over [0, max |x|] for the
 * entropy method. */
static void second_pass(Run *r, QuantStats *stats, TsCalibMethod method)
{
    for (int i = 0; i < r->num_names; i++) {
        double lo = method == TS_CALIB_ENTROPY ? 0 : stats[i].min;
        double hi = method == TS_CALIB_ENTROPY ? fmax(fabs(stats[i].min), fabs(stats[i].max))
                                               : stats[i].max;
        double width = (hi - lo) / QUANT_HIST_BINS;
        for (int64_t k = 0; k < r->elements[i]; k++) {
            double v = r->buffers[i][k];
            if (!isfinite(v))
                continue;
            if (method == TS_CALIB_ENTROPY)
                v = fabs(v);
            int b = width > 0 ? (int)((v - lo) / width) : 0;
            b = b < 0 ? 0 : b >= QUANT_HIST_BINS ? QUANT_HIST_BINS - 1 : b;
            stats[i].hist[b] += 1;
        }
    }
}

static void run_free(Run *r)
{
    for (int i = 0; r->buffers && i < r->num_names; i++)
        free(r->buffers[i]);
    free(r->buffers);
    free(r->elements);
    free(r->output_of);
    if (r->ex)
        ts_graph_executor_free(r->ex);
    if (r->module)
        ts_module_release(r->module);
}

static TsStatus scratch_path(const TsQuantizeOptions *options, char *out, size_t size, TsError *err)
{
    const char *dir = options->work_dir;
    if (!dir || !*dir)
        dir = getenv("TMPDIR");
    if (!dir || !*dir)
        dir = "/tmp";
    if ((size_t)snprintf(out, size, "%s/tessera-calib-XXXXXX.so", dir) >= size)
        return ts_fail(err, TS_EINVAL, "quantize: the work folder's path is too long");
    int fd = mkstemps(out, 3);
    if (fd < 0)
        return ts_fail(err, TS_EINVAL, "quantize: cannot create a file in %s", dir);
    close(fd);
    return TS_OK;
}

TsStatus quant_calibrate(const uint8_t *bytes, size_t size, const char *model_path,
                         const TsQuantizeOptions *options, const QuantSamples *samples,
                         int num_names, const char *const *names, const bool *is_input,
                         QuantStats *stats, TsError *err)
{
    char so_path[4096];
    TsStatus st = scratch_path(options, so_path, sizeof so_path, err);
    if (st != TS_OK)
        return st;
    Run r = { .options = options, .num_names = num_names };
    st = build(bytes, size, model_path, options, so_path, err);
    if (st == TS_OK)
        st = ts_module_load(so_path, &r.module, err);
    unlink(so_path);
    if (st == TS_OK)
        st = ts_graph_executor_create(r.module, &r.ex, err);
    if (st == TS_OK && ts_graph_executor_num_inputs(r.ex) != 1)
        st = ts_fail(err, TS_EINVAL, "quantize: %s has %d inputs; calibration feeds one",
                     model_path, ts_graph_executor_num_inputs(r.ex));
    if (st == TS_OK)
        st = bind_outputs(&r, names, is_input, samples->sample_elements, err);
    memset(stats, 0, (size_t)num_names * sizeof *stats);
    for (int s = 0; st == TS_OK && s < samples->count; s++) {
        st = run_sample(&r, samples, s, err);
        if (st == TS_OK)
            first_pass(&r, stats);
    }
    bool histogram = options->method != TS_CALIB_MINMAX;
    for (int s = 0; st == TS_OK && histogram && s < samples->count; s++) {
        st = run_sample(&r, samples, s, err);
        if (st == TS_OK)
            second_pass(&r, stats, options->method);
    }
    if (st == TS_OK && r.non_finite > 0)
        note(options, "%lld values that are not finite left out of the statistics",
             (long long)r.non_finite);
    for (int i = 0; st == TS_OK && i < num_names; i++)
        if (stats[i].count == 0)
            st = ts_fail(err, TS_EINVAL, "quantize: tensor \"%s\" had no finite value", names[i]);
    run_free(&r);
    return st;
}

double ts_quant_histogram_percentile(const double *hist, int num_bins, double lo, double hi,
                                     double percent)
{
    double total = 0;
    for (int b = 0; b < num_bins; b++)
        total += hist[b];
    if (total <= 0 || num_bins <= 0)
        return lo;
    double target = total * percent / 100.0, cum = 0, width = (hi - lo) / num_bins;
    for (int b = 0; b < num_bins; b++) {
        if (hist[b] > 0 && cum + hist[b] >= target)
            return lo + (b + (target - cum) / hist[b]) * width;
        cum += hist[b];
    }
    return hi;
}

/* KL(P || Q) of two unnormalized distributions over n bins; Q's empty bins where P has
 * mass are smoothed to eps. */
static double kl_divergence(const double *p, const double *q, int n)
{
    double sp = 0, sq = 0;
    for (int b = 0; b < n; b++) {
        sp += p[b];
        sq += q[b];
    }
    if (sp <= 0 || sq <= 0)
        return INFINITY;
    const double eps = 1e-10;
    double kl = 0;
    for (int b = 0; b < n; b++) {
        if (p[b] <= 0)
            continue;
        double pn = p[b] / sp, qn = q[b] > 0 ? q[b] / sq : eps;
        kl += pn * log(pn / qn);
    }
    return kl;
}

double ts_quant_entropy_threshold(const double *hist, int num_bins, double max_abs, int num_levels)
{
    if (num_bins <= num_levels || max_abs <= 0)
        return max_abs;
    double *p = malloc((size_t)num_bins * sizeof *p), *q = malloc((size_t)num_bins * sizeof *q);
    if (!p || !q) {
        free(p);
        free(q);
        return max_abs;
    }
    double width = max_abs / num_bins, best = INFINITY;
    int best_i = num_bins;
    double outliers = 0;
    for (int b = num_levels; b < num_bins; b++)
        outliers += hist[b];
    for (int i = num_levels; i <= num_bins; i++) {
        /* P: the first i bins, the mass beyond folded into the last one. */
        memcpy(p, hist, (size_t)i * sizeof *p);
        p[i - 1] += outliers;
        /* Q: the first i bins merged into num_levels levels, each level's mass spread
         * over its non-empty bins. */
        for (int j = 0; j < num_levels; j++) {
            int start = (int)((int64_t)j * i / num_levels),
                end = (int)((int64_t)(j + 1) * i / num_levels);
            double mass = 0;
            int nonzero = 0;
            for (int b = start; b < end; b++) {
                mass += hist[b];
                nonzero += hist[b] > 0;
            }
            for (int b = start; b < end; b++)
                q[b] = hist[b] > 0 ? mass / nonzero : 0;
        }
        double kl = kl_divergence(p, q, i);
        if (kl < best) {
            best = kl;
            best_i = i;
        }
        if (i < num_bins)
            outliers -= hist[i];
    }
    free(p);
    free(q);
    return fmin(max_abs, (best_i + 0.5) * width);
}

void quant_clip_range(const QuantStats *stats, const TsQuantizeOptions *options, double *lo,
                      double *hi)
{
    *lo = stats->min;
    *hi = stats->max;
    if (options->method == TS_CALIB_PERCENTILE) {
        *lo = ts_quant_histogram_percentile(stats->hist, QUANT_HIST_BINS, stats->min, stats->max,
                                            100.0 - options->percentile);
        *hi = ts_quant_histogram_percentile(stats->hist, QUANT_HIST_BINS, stats->min, stats->max,
                                            options->percentile);
    } else if (options->method == TS_CALIB_ENTROPY) {
        double max_abs = fmax(fabs(stats->min), fabs(stats->max));
        double t = ts_quant_entropy_threshold(stats->hist, QUANT_HIST_BINS, max_abs,
                                              stats->min >= 0 ? 256 : 128);
        *lo = fmax(stats->min, -t);
        *hi = fmin(stats->max, t);
    }
}
