/* The time evaluator: how long a kernel takes, measured the way TVM's time_evaluator
 * does, so that costs measured here, on a board over RPC, and by the autotuner compare.
 *
 * One untimed warm-up call first. Then each repeat optionally flushes the caches, and
 * times `number` back-to-back calls; while that takes less than min_repeat_ms, number
 * grows (to what the last measurement says would reach min_repeat_ms, but at least by
 * the golden ratio) and the repeat is timed again. The grown number carries over to the
 * next repeats. A repeat's cost is its time divided by number, in seconds. Between
 * repeats the evaluator sleeps cooldown_ms. The clock is CLOCK_MONOTONIC. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "runtime/rt_internal.h"
#include "tessera/runtime.h"

/* Larger than the last-level cache of the CPUs Tessera targets (server parts have up to
 * ~100 MiB of L3 spread over their dies; one core's share is far below this), so that
 * writing it evicts the kernel's data. */
#define FLUSH_BYTES ((size_t)64 << 20)
#define CACHE_LINE 64
/* TVM's growth factor for number. */
#define GOLDEN_RATIO 1.618
/* A number past this is not raised further: a kernel this fast is measured well enough,
 * and int arithmetic stays far from overflow. */
#define MAX_NUMBER (1 << 30)
/* An hour: a longer repeat or pause between repeats is a mistake in units (and a pause
 * must fit a timespec). */
#define MAX_OPTION_MS 3600000

TsTimeOptions ts_time_options_default(void)
{
    return (TsTimeOptions){
        .number = 1, .repeat = 1, .min_repeat_ms = 0.0, .cooldown_ms = 0.0, .flush_cache = false
    };
}

/* The arguments of one measurement, gathered so that the helpers stay short. */
typedef struct Measurement {
    TsPackedFunc func;
    const TsValue *args;
    const int32_t *type_codes;
    int32_t num_args;
    volatile unsigned char *flush_buffer; /* NULL: no flush */
} Measurement;

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void sleep_ms(double ms)
{
    struct timespec rest = { .tv_sec = (time_t)(ms / 1000.0),
                             .tv_nsec = (long)(fmod(ms, 1000.0) * 1e6) };
    while (nanosleep(&rest, &rest) != 0 && errno == EINTR)
        continue;
}

/* Writes one byte of every cache line of the buffer (a different value each time, and
 * through a volatile pointer, so that the stores are neither merged nor dropped): the
 * lines come into the cache dirty and push the kernel's data out. */
static void flush_caches(volatile unsigned char *buffer, unsigned char value)
{
    for (size_t offset = 0; offset < FLUSH_BYTES; offset += CACHE_LINE)
        buffer[offset] = value;
}

static TsStatus call_failed(const char *when, TsError *err)
{
    const char *message = ts_runtime_last_error();
    return ts_fail(err, TS_EDEVICE, "time evaluator: the kernel failed in %s: %s", when,
                   *message ? message : "(the kernel gave no message)");
}

/* Times number calls into *seconds. */
static TsStatus time_calls(const Measurement *m, int number, int repeat_index, double *seconds,
                           TsError *err)
{
    rt_clear_error();
    double start = now_seconds();
    for (int call = 0; call < number; call++)
        if (m->func(m->args, m->type_codes, m->num_args) != 0) {
            char when[64];
            snprintf(when, sizeof when, "repeat %d, call %d", repeat_index, call);
            return call_failed(when, err);
        }
    *seconds = now_seconds() - start;
    return TS_OK;
}

/* The next number after number calls took seconds: enough to reach min_repeat_ms at the
 * measured speed (plus one), and at least number times the golden ratio. */
static int grown_number(int number, double seconds, double min_repeat_ms)
{
    double wanted = number * GOLDEN_RATIO;
    if (seconds > 0.0) {
        double to_reach = min_repeat_ms / (seconds * 1e3 / number) + 1.0;
        if (to_reach > wanted)
            wanted = to_reach;
    }
    return wanted >= MAX_NUMBER ? MAX_NUMBER : (int)wanted;
}

/* One repeat: flush, then time number calls, growing number (kept for the next repeats)
 * until the calls take min_repeat_ms. */
static TsStatus measure_repeat(const Measurement *m, const TsTimeOptions *options, int repeat_index,
                               int *number, double *cost, TsError *err)
{
    if (m->flush_buffer)
        flush_caches(m->flush_buffer, (unsigned char)repeat_index);
    double seconds = 0.0;
    TsStatus status = time_calls(m, *number, repeat_index, &seconds, err);
    while (status == TS_OK && seconds * 1e3 < options->min_repeat_ms && *number < MAX_NUMBER) {
        *number = grown_number(*number, seconds, options->min_repeat_ms);
        status = time_calls(m, *number, repeat_index, &seconds, err);
    }
    if (status == TS_OK)
        *cost = seconds / *number;
    return status;
}

static TsStatus check_options(const TsTimeOptions *options, TsError *err)
{
    if (options->number < 1)
        return ts_fail(err, TS_EINVAL, "time evaluator: number %d must be >= 1", options->number);
    if (options->repeat < 1)
        return ts_fail(err, TS_EINVAL, "time evaluator: repeat %d must be >= 1", options->repeat);
    if (!(options->min_repeat_ms >= 0.0 && options->min_repeat_ms <= MAX_OPTION_MS))
        return ts_fail(err, TS_EINVAL, "time evaluator: min_repeat_ms %g must be from 0 to %d",
                       options->min_repeat_ms, MAX_OPTION_MS);
    if (!(options->cooldown_ms >= 0.0 && options->cooldown_ms <= MAX_OPTION_MS))
        return ts_fail(err, TS_EINVAL, "time evaluator: cooldown_ms %g must be from 0 to %d",
                       options->cooldown_ms, MAX_OPTION_MS);
    return TS_OK;
}

static TsStatus check_call(TsPackedFunc func, const TsValue *args, const int32_t *type_codes,
                           int32_t num_args, double *costs, TsError *err)
{
    if (!func)
        return ts_fail(err, TS_EINVAL, "time evaluator: the kernel is NULL");
    if (!costs)
        return ts_fail(err, TS_EINVAL, "time evaluator: costs is NULL");
    if (num_args < 0)
        return ts_fail(err, TS_EINVAL, "time evaluator: num_args %d is negative", (int)num_args);
    if (num_args > 0 && (!args || !type_codes))
        return ts_fail(err, TS_EINVAL, "time evaluator: %d arguments but %s is NULL", (int)num_args,
                       args ? "type_codes" : "args");
    return TS_OK;
}

/* The warm-up call and the repeats, once the arguments are checked. */
static TsStatus measure(const Measurement *m, const TsTimeOptions *options, double *costs,
                        TsError *err)
{
    rt_clear_error();
    if (m->func(m->args, m->type_codes, m->num_args) != 0)
        return call_failed("the warm-up call", err);
    int number = options->number;
    for (int repeat = 0; repeat < options->repeat; repeat++) {
        if (repeat > 0 && options->cooldown_ms > 0.0)
            sleep_ms(options->cooldown_ms);
        TsStatus status = measure_repeat(m, options, repeat, &number, &costs[repeat], err);
        if (status != TS_OK)
            return status;
    }
    return TS_OK;
}

TsStatus ts_time_evaluate(TsPackedFunc func, const TsValue *args, const int32_t *type_codes,
                          int32_t num_args, const TsTimeOptions *options, double *costs,
                          TsError *err)
{
    TsTimeOptions defaults = ts_time_options_default();
    if (!options)
        options = &defaults;
    TsStatus status = check_call(func, args, type_codes, num_args, costs, err);
    if (status == TS_OK)
        status = check_options(options, err);
    if (status != TS_OK)
        return status;
    Measurement m = { .func = func,
                      .args = args,
                      .type_codes = type_codes,
                      .num_args = num_args,
                      .flush_buffer = NULL };
    unsigned char *flush_buffer = NULL;
    if (options->flush_cache) {
        flush_buffer = malloc(FLUSH_BYTES);
        if (!flush_buffer)
            return ts_fail(err, TS_ENOMEM,
                           "time evaluator: no memory for the %zu MiB cache-flush buffer",
                           FLUSH_BYTES >> 20);
        m.flush_buffer = flush_buffer;
    }
    status = measure(&m, options, costs, err);
    free(flush_buffer);
    return status;
}
