/* The tuning loop: the tuner proposes a batch, the measurer builds and measures it, the
 * records are appended to the log, the tuner learns from the results, and the progress
 * callback hears about it; until the budget is spent (a number of trials, early stopping
 * after trials without improvement, a wall-clock limit) or the space is exhausted.
 *
 * Resuming (options->resume) reads log_path first: the records of this task are fed to
 * the tuner (marked visited, so they are never proposed again, and given as results, so
 * a model learns from them) and count against n_trial, as the trials AutoTVM users
 * subtract when they resume: a run of 100 trials killed after 40 and resumed measures 60
 * more, and the log ends with 100 records as if it had never stopped. Progress reports
 * this run's trials against this run's share of the budget (n_trial minus the resumed
 * records), with the best result of the log and this run together.
 *
 * Transfer logs warm-start the tuner (ts_tuner_load_history) with records of the same
 * operator kind, any shape. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "autotune/tune_internal.h"

enum { MAX_BATCH = 256 };

TsTuneOptions ts_tune_options_default(void)
{
    TsTuneOptions o;
    memset(&o, 0, sizeof o);
    o.tuner = "xgb";
    o.n_trial = 100;
    o.batch_size = 16;
    o.measure = ts_measure_options_default();
    return o;
}

/* ---- records read from logs ---- */

typedef struct RecordList {
    const TsTuneTask *task;
    bool same_task; /* keep records of task itself; else of its operator kind */
    int count, capacity;
    TsTuneRecord *records;
    bool oom;
} RecordList;

static bool same_op(const TsTuneRecord *record, const TsTuneTask *task)
{
    const TsTemplate *tmpl = ts_template_find(record->template_name);
    return tmpl && strcmp(tmpl->op, ts_tune_task_template(task)->op) == 0;
}

static bool keep_record(const TsTuneRecord *record, void *user)
{
    RecordList *list = user;
    bool wanted =
        list->same_task ? ts_tune_record_matches(record, list->task) : same_op(record, list->task);
    if (!wanted)
        return true;
    if (list->count == list->capacity) {
        int capacity = list->capacity ? 2 * list->capacity : 64;
        TsTuneRecord *grown = realloc(list->records, (size_t)capacity * sizeof *grown);
        if (!grown) {
            list->oom = true;
            return false;
        }
        list->records = grown;
        list->capacity = capacity;
    }
    list->records[list->count++] = *record;
    return true;
}

/* Reads the records of path that list wants; a missing log is empty when missing_ok. */
static TsStatus read_records(const char *path, bool missing_ok, const TsTuneOptions *o,
                             RecordList *list, TsError *err)
{
    TsError read_err;
    TsStatus status =
        ts_tune_log_read(path, keep_record, list, o->warn, o->warn_user, NULL, &read_err);
    if (status == TS_EIO && missing_ok && access(path, F_OK) != 0)
        return TS_OK;
    if (status != TS_OK)
        return ts_fail(err, status, "%s", read_err.message);
    if (list->oom)
        return ts_fail(err, TS_ENOMEM, "tuning log %s: out of memory", path);
    return TS_OK;
}

/* ---- the loop's state ---- */

typedef struct Tuning {
    const TsTuneTask *task;
    const TsTuneOptions *o;
    TsTuner *tuner;
    TsMeasurer *measurer;
    TsTuneLog *log;
    TsTuneProgress progress;
    double start;
    double flop;
    int since_best;   /* trials since the best improved */
    int64_t *resumed; /* sorted indices of resumed records */
    int num_resumed;
    bool default_done; /* the default config was measured, or is not to be */
} Tuning;

static int compare_index(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static bool was_resumed(const Tuning *t, int64_t index)
{
    return t->num_resumed > 0 &&
           bsearch(&index, t->resumed, (size_t)t->num_resumed, sizeof index, compare_index);
}

static void note_result(Tuning *t, int64_t index, const TsMeasureResult *result)
{
    double cost = ts_measure_mean_cost(result);
    if (result->error_no != TS_MEASURE_OK)
        return;
    if (t->progress.best_index < 0 || cost < t->progress.best_cost) {
        t->progress.best_index = index;
        t->progress.best_cost = cost;
        t->progress.best_gflops = t->flop / cost * 1e-9;
        t->since_best = 0;
    }
}

/* Feeds the log's records of this task to the tuner; they count against the budget. */
static TsStatus resume(Tuning *t, TsError *err)
{
    RecordList list = { .task = t->task, .same_task = true };
    TsStatus status = read_records(t->o->log_path, true, t->o, &list, err);
    int64_t *indices = list.count ? malloc((size_t)list.count * sizeof *indices) : NULL;
    TsMeasureResult *results = list.count ? malloc((size_t)list.count * sizeof *results) : NULL;
    if (status == TS_OK && list.count && (!indices || !results))
        status = ts_fail(err, TS_ENOMEM, "resume %s: out of memory", t->o->log_path);
    int n = 0;
    for (int i = 0; status == TS_OK && i < list.count; i++) {
        const TsTuneRecord *r = &list.records[i];
        bool oom = false;
        if (!tune_record_entity_matches(r, ts_tune_task_space(t->task)))
            continue; /* a record of another version of the template */
        if (!tune_tuner_propose(t->tuner, r->index, &oom)) {
            if (oom)
                status = ts_fail(err, TS_ENOMEM, "resume: out of memory");
            continue; /* a duplicate */
        }
        indices[n] = r->index;
        results[n++] = r->result;
        note_result(t, r->index, &r->result);
    }
    if (status == TS_OK && n > 0)
        status = ts_tuner_update(t->tuner, n, indices, results, err);
    if (status == TS_OK) {
        qsort(indices, (size_t)n, sizeof *indices, compare_index);
        t->resumed = indices;
        t->num_resumed = n;
        indices = NULL;
    }
    free(indices);
    free(results);
    free(list.records);
    return status;
}

static TsStatus load_transfer(Tuning *t, TsError *err)
{
    RecordList list = { .task = t->task, .same_task = false };
    TsStatus status = TS_OK;
    for (int i = 0; status == TS_OK && i < t->o->num_transfer_logs; i++)
        status = read_records(t->o->transfer_logs[i], false, t->o, &list, err);
    if (status == TS_OK && list.count > 0)
        status = ts_tuner_load_history(t->tuner, list.count, list.records, err);
    free(list.records);
    return status;
}

static TsStatus check_options(const TsTuneOptions *o, TsError *err)
{
    if (o->n_trial < 0 || o->batch_size < 1 || o->batch_size > MAX_BATCH)
        return ts_fail(err, TS_EINVAL,
                       "tune: n_trial %d must be >= 0 and batch_size %d in "
                       "1..%d",
                       o->n_trial, o->batch_size, MAX_BATCH);
    if (o->early_stopping < 0 || o->time_limit_s < 0)
        return ts_fail(err, TS_EINVAL,
                       "tune: early_stopping %d and time_limit_s %g must be "
                       ">= 0",
                       o->early_stopping, o->time_limit_s);
    if (o->resume && !o->log_path)
        return ts_fail(err, TS_EINVAL, "tune: resume needs a log_path");
    if (o->num_transfer_logs < 0 || (o->num_transfer_logs > 0 && !o->transfer_logs))
        return ts_fail(err, TS_EINVAL, "tune: %d transfer logs but no list of them",
                       o->num_transfer_logs);
    return TS_OK;
}

/* ---- one round ---- */

static void update_times(Tuning *t)
{
    TsTuneProgress *p = &t->progress;
    p->elapsed_s = tune_now() - t->start;
    int left = p->n_trial - p->trial;
    p->remaining_s = p->trial > 0 ? p->elapsed_s / p->trial * left : 0;
    if (t->o->time_limit_s > 0 && p->remaining_s > t->o->time_limit_s - p->elapsed_s)
        p->remaining_s = fmax(0, t->o->time_limit_s - p->elapsed_s);
}

/* How many candidates the next batch may hold: the budget left, and no more than the
 * time left allows at the pace so far. */
static int batch_size(const Tuning *t)
{
    const TsTuneProgress *p = &t->progress;
    int want = t->o->batch_size < p->n_trial - p->trial ? t->o->batch_size : p->n_trial - p->trial;
    if (t->o->time_limit_s > 0 && p->trial > 0) {
        double per_trial = p->elapsed_s / p->trial;
        double fits = (t->o->time_limit_s - p->elapsed_s) / per_trial;
        if (fits < want)
            want = fits < 1 ? 1 : (int)fits;
    }
    return want;
}

static TsStatus log_results(Tuning *t, int n, const int64_t *indices,
                            const TsMeasureResult *results, TsError *err)
{
    for (int i = 0; t->log && i < n; i++) {
        TsTuneRecord record;
        TsStatus status = ts_tune_record_make(t->task, indices[i], &results[i], &record, err);
        if (status == TS_OK)
            status = ts_tune_log_append(t->log, &record, err);
        if (status != TS_OK)
            return status;
    }
    return TS_OK;
}

/* The first batch starts with the template's default config (unless the options say
 * not to, or the log or the tuner has it already): the tuned result is then never worse
 * than the untuned kernel, whatever the budget. Returns 1 when it was added. */
static int add_default(Tuning *t, int64_t *indices, TsError *err, TsStatus *status)
{
    if (t->default_done)
        return 0;
    t->default_done = true;
    TsConfig config;
    bool oom = false;
    *status = ts_tune_task_default(t->task, &config, err);
    if (*status != TS_OK || tune_tuner_visited(t->tuner, config.index))
        return 0;
    if (!tune_tuner_propose(t->tuner, config.index, &oom)) {
        if (oom)
            *status = ts_fail(err, TS_ENOMEM, "tune: out of memory");
        return 0;
    }
    indices[0] = config.index;
    return 1;
}

/* Proposes, measures, logs and learns one batch; *stop names why tuning ends, if so. */
static TsStatus round_once(Tuning *t, const char **stop, TsError *err)
{
    int64_t proposed[MAX_BATCH], indices[MAX_BATCH];
    TsMeasureResult results[MAX_BATCH];
    int num = 0, n = 0, wanted = batch_size(t);
    TsStatus status = TS_OK;
    n = add_default(t, indices, err, &status);
    if (status != TS_OK)
        return status;
    if (wanted - n > 0)
        status = ts_tuner_next_batch(t->tuner, wanted - n, proposed, &num, err);
    if (status != TS_OK)
        return status;
    if (num == 0 && n == 0) {
        *stop = "space exhausted";
        return TS_OK;
    }
    for (int i = 0; i < num; i++)
        if (!was_resumed(t, proposed[i]))
            indices[n++] = proposed[i];
    TsStatus measured = ts_measurer_run(t->measurer, n, indices, results, err);
    if (measured != TS_OK && measured != TS_EDEVICE)
        return measured;
    /* A lost device still gave every candidate a result: log them, then stop. */
    TsError log_err;
    status = log_results(t, n, indices, results, measured == TS_OK ? err : &log_err);
    if (status == TS_OK)
        status = ts_tuner_update(t->tuner, n, indices, results, measured == TS_OK ? err : &log_err);
    for (int i = 0; i < n; i++) {
        t->progress.trial++;
        t->since_best++;
        t->progress.num_errors += results[i].error_no != TS_MEASURE_OK;
        note_result(t, indices[i], &results[i]);
    }
    if (measured != TS_OK)
        *stop = "device lost";
    return measured != TS_OK ? measured : status;
}

static const char *budget_spent(Tuning *t)
{
    const TsTuneProgress *p = &t->progress;
    if (p->trial >= p->n_trial)
        return "trials";
    if (t->o->early_stopping > 0 && t->since_best >= t->o->early_stopping)
        return "early stopping";
    if (t->o->time_limit_s > 0 && p->elapsed_s >= t->o->time_limit_s)
        return "time limit";
    if (!ts_tuner_has_next(t->tuner))
        return "space exhausted";
    return NULL;
}

static TsStatus run_loop(Tuning *t, TsError *err)
{
    const char *stop = NULL;
    TsStatus status = TS_OK;
    update_times(t);
    while (status == TS_OK && !stop && !(stop = budget_spent(t))) {
        status = round_once(t, &stop, err);
        update_times(t);
        if (t->o->progress && (status == TS_OK || stop))
            t->o->progress(&t->progress, t->o->user);
    }
    t->progress.finished = true;
    t->progress.stop_reason = stop ? stop : "error";
    t->progress.remaining_s = 0;
    if (t->o->progress)
        t->o->progress(&t->progress, t->o->user);
    return status;
}

static TsStatus prepare(Tuning *t, TsError *err)
{
    const TsTuneOptions *o = t->o;
    /* The measurer first: its workers are forked before the tuner starts any thread. */
    TsStatus status = ts_measurer_create(t->task, &o->measure, &t->measurer, err);
    if (status == TS_OK)
        status = ts_tuner_create(o->tuner ? o->tuner : "xgb", t->task, ts_tune_task_space(t->task),
                                 o->seed, &t->tuner, err);
    if (status == TS_OK && o->num_transfer_logs > 0)
        status = load_transfer(t, err);
    if (status == TS_OK && o->resume)
        status = resume(t, err);
    if (status == TS_OK && o->log_path)
        status = ts_tune_log_open(o->log_path, &t->log, err);
    int left = o->n_trial - t->num_resumed;
    t->progress.n_trial = left > 0 ? left : 0;
    t->default_done = o->skip_default;
    return status;
}

TsStatus ts_tune(const TsTuneTask *task, const TsTuneOptions *options, TsTuneProgress *final,
                 TsError *err)
{
    if (!task || !options)
        return ts_fail(err, TS_EINVAL, "tune: task and options must not be NULL");
    TsStatus status = check_options(options, err);
    if (status != TS_OK)
        return status;
    Tuning t;
    memset(&t, 0, sizeof t);
    t.task = task;
    t.o = options;
    t.start = tune_now();
    t.flop = ts_tune_task_flop(task);
    t.progress.best_index = -1;
    status = prepare(&t, err);
    if (status == TS_OK)
        status = run_loop(&t, err);
    if (final)
        *final = t.progress;
    ts_tune_log_close(t.log);
    ts_tuner_free(t.tuner);
    ts_measurer_free(t.measurer);
    free(t.resumed);
    return status;
}
