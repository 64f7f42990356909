/* Calibration: the model, every tensor to be quantized made a graph output, is built and
 * run on every sample (run.c). A first pass keeps each tensor's min and max; the percentile and
 * entropy methods take a second pass for a histogram over the range the first one found. Values
 * that are not finite are left out of the statistics (with a note). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "relay_lite/quantize/quant_internal.h"

static void first_pass(QuantRun *r, QuantStats *stats, int64_t *non_finite)
{
    for (int i = 0; i < r->num_names; i++)
        for (int64_t k = 0; k < r->elements[i]; k++) {
            double v = r->buffers[i][k];
            if (!isfinite(v)) {
                (*non_finite)++;
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
static void second_pass(QuantRun *r, QuantStats *stats, TsCalibMethod method)
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

TsStatus quant_calibrate(const uint8_t *bytes, size_t size, const char *model_path,
                         const TsQuantizeOptions *options, const QuantSamples *samples,
                         int num_names, const char *const *names, const bool *is_input,
                         QuantStats *stats, TsError *err)
{
    QuantRun r;
    TsStatus st = quant_run_open(&r, bytes, size, model_path, options, num_names, names, is_input,
                                 samples->sample_elements, err);
    if (st != TS_OK)
        return st;
    int64_t non_finite = 0;
    memset(stats, 0, (size_t)num_names * sizeof *stats);
    for (int s = 0; st == TS_OK && s < samples->count; s++) {
        st = quant_run_sample(&r, samples, s, err);
        if (st == TS_OK)
            first_pass(&r, stats, &non_finite);
    }
    bool histogram = options->method != TS_CALIB_MINMAX;
    for (int s = 0; st == TS_OK && histogram && s < samples->count; s++) {
        st = quant_run_sample(&r, samples, s, err);
        if (st == TS_OK)
            second_pass(&r, stats, options->method);
    }
    if (st == TS_OK && non_finite > 0)
        quant_note(options, "%lld values that are not finite left out of the statistics",
                   (long long)non_finite);
    for (int i = 0; st == TS_OK && i < num_names; i++)
        if (stats[i].count == 0)
            st = ts_fail(err, TS_EINVAL, "quantize: tensor \"%s\" had no finite value", names[i]);
    quant_run_close(&r);
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
