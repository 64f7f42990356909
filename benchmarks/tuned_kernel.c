/* Tuning an operator for a benchmark and building its best config; see tuned_kernel.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "benchmarks/tuned_kernel.h"

int tuned_kernel_trials(int default_trials)
{
    const char *text = getenv("BENCH_TUNE_TRIALS");
    int trials = text ? atoi(text) : default_trials;
    return trials >= 1 ? trials : default_trials;
}

static void show_progress(const TsTuneProgress *p, void *user)
{
    fprintf(stderr, "\r\033[K%s: trial %d/%d, best %.1f GFLOPS, %d errors, %.0f s%s",
            (const char *)user, p->trial, p->n_trial, p->best_gflops, p->num_errors,
            p->elapsed_s, p->finished ? "\n" : "");
}

static void warn(const char *message, void *user)
{
    (void)user;
    fprintf(stderr, "%s\n", message);
}

static bool count_record(const TsTuneRecord *record, void *user)
{
    TunedKernel *tk = user;
    if (ts_tune_record_matches(record, tk->task))
        tk->trials++;
    return true;
}

static TsStatus build_config(TunedKernel *tk, const TsTarget *target, TsError *err);

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static TsStatus tune(TunedKernel *tk, int trials, const char *log_path, TsError *err)
{
    TsTuneOptions options = ts_tune_options_default();
    options.n_trial = trials;
    options.log_path = log_path;
    options.resume = true;
    options.measure.number = 1;
    options.measure.repeat = 3;
    options.measure.check_correctness = true;
    options.progress = show_progress;
    options.user = (void *)ts_tune_task_name(tk->task);
    options.warn = warn;
    double start = now_s();
    TsStatus st = ts_tune(tk->task, &options, NULL, err);
    tk->tuning_seconds = now_s() - start;
    return st;
}

TsStatus tuned_kernel_build(const char *op, const TsTemplateArgs *args, int trials,
                            const char *log_path, const TsTarget *target, TunedKernel *out,
                            TsError *err)
{
    return tuned_kernel_build_for(op, args, trials, log_path, "llvm", target, out, err);
}

TsStatus tuned_kernel_build_for(const char *op, const TsTemplateArgs *args, int trials,
                                const char *log_path, const char *target_text,
                                const TsTarget *target, TunedKernel *out, TsError *err)
{
    TunedKernel *tk = out;
    memset(tk, 0, sizeof *tk);
    TsStatus st = ts_tune_task_create(op, args, target_text, &tk->task, err);
    if (st != TS_OK)
        return st;
    /* A missing log is simply empty. */
    FILE *probe = fopen(log_path, "r");
    if (probe) {
        fclose(probe);
        st = ts_tune_log_read(log_path, count_record, tk, warn, NULL, NULL, err);
        if (st != TS_OK)
            return st;
    }
    if (tk->trials < trials) {
        st = tune(tk, trials, log_path, err);
        if (st != TS_OK)
            return st;
        tk->trials = 0;
        st = ts_tune_log_read(log_path, count_record, tk, warn, NULL, NULL, err);
        if (st != TS_OK)
            return st;
    }
    bool found;
    st = ts_tune_apply_best(tk->task, 1, (const char *const[]){ log_path }, warn, NULL,
                            &tk->config, &found, &tk->best, err);
    if (st != TS_OK)
        return st;
    if (!found)
        return ts_fail(err, TS_EINVAL, "%s: no candidate of %s ran successfully", log_path,
                       ts_tune_task_name(tk->task));
    return build_config(tk, target, err);
}

TsStatus tuned_kernel_build_default(const char *op, const TsTemplateArgs *args, int64_t parallel,
                                    const TsTarget *target, TunedKernel *out, TsError *err)
{
    TunedKernel *tk = out;
    memset(tk, 0, sizeof *tk);
    TsStatus st = ts_tune_task_create(op, args, "llvm", &tk->task, err);
    if (st == TS_OK)
        st = ts_tune_task_default(tk->task, &tk->config, err);
    if (st != TS_OK)
        return st;
    const TsConfigSpace *space = ts_tune_task_space(tk->task);
    int64_t choice[TS_CONFIG_MAX_KNOBS];
    memcpy(choice, tk->config.choice, sizeof choice);
    for (int k = 0; k < ts_space_num_knobs(space); k++) {
        if (strcmp(ts_space_knob_name(space, k), "parallel") != 0)
            continue;
        if (parallel >= ts_space_knob_size(space, k))
            return ts_fail(err, TS_EINVAL, "%s: the space offers no parallel=%lld (one core?)",
                           ts_tune_task_name(tk->task), (long long)parallel);
        choice[k] = parallel;
    }
    st = ts_space_from_choices(space, choice, &tk->config, err);
    return st == TS_OK ? build_config(tk, target, err) : st;
}

/* Lowers and JIT-compiles tk->config. */
static TsStatus build_config(TunedKernel *tk, const TsTarget *target, TsError *err)
{
    TsStatus st;
    tk->arena = ts_arena_create();
    if (!tk->arena)
        return ts_fail(err, TS_ENOMEM, "no memory for an arena");
    st = ts_tune_task_lower(tk->task, tk->config.index, false, tk->arena, &tk->func, err);
    if (st == TS_OK)
        st = ts_build_jit(1, (const TsLoweredFunc *const *)&tk->func, target, &tk->jit, err);
    if (st == TS_OK)
        st = ts_jit_get_func(tk->jit, ts_lowered_name(tk->func), &tk->kernel, err);
    if (st != TS_OK)
        return st;
    tk->num_args = ts_lowered_num_args(tk->func);
    if (tk->num_args > TUNED_MAX_ARGS)
        return ts_fail(err, TS_EINVAL, "%s has %d arguments", ts_tune_task_name(tk->task),
                       tk->num_args);
    for (int i = 0; i < tk->num_args; i++)
        tk->args[i] = ts_lowered_arg(tk->func, i);
    return TS_OK;
}

void tuned_kernel_free(TunedKernel *tk)
{
    if (tk->jit)
        ts_jit_release(tk->jit);
    if (tk->arena)
        ts_arena_destroy(tk->arena);
    ts_tune_task_free(tk->task);
    memset(tk, 0, sizeof *tk);
}
