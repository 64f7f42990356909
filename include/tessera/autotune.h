/* The autotuner: a task (a template, its arguments and a target) and its config space;
 * tuners that propose candidates (random, grid, genetic, and a model-based tuner with an
 * XGBoost cost model); a measurer that builds candidates in parallel worker processes and
 * times them on this machine (in a child process) or on a device over RPC; tuning logs of
 * JSON lines shaped like AutoTVM's; and apply-best, which picks the best record when an
 * operator is built. Implemented in autotune/.
 *
 *   task -> space -> tuner proposes -> build in parallel -> measure -> records (log)
 *        -> tuner update (cost model) -> ... -> apply best at build time */
#ifndef TESSERA_AUTOTUNE_H
#define TESSERA_AUTOTUNE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tessera/arena.h"
#include "tessera/error.h"
#include "tessera/te.h"
#include "tessera/template.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- tasks ---- */

typedef struct TsTuneTask TsTuneTask;

/* A task for op (an operator kind such as "dense", or a template name such as
 * "dense_pack") with args on target (a target string: "llvm",
 * "llvm -mtriple=aarch64-linux-gnu -mattr=+neon"). The template is chosen by the
 * target's ISA (AVX-512 when the CPU has avx512f, else AVX2; NEON on aarch64); its space
 * is defined here. TS_EINVAL names a bad op, argument or target. */
TsStatus ts_tune_task_create(const char *op, const TsTemplateArgs *args, const char *target,
                             TsTuneTask **out, TsError *err);
void ts_tune_task_free(TsTuneTask *task);

const TsTemplate *ts_tune_task_template(const TsTuneTask *task);
const TsTemplateArgs *ts_tune_task_args(const TsTuneTask *task);
const TsTemplateTarget *ts_tune_task_isa(const TsTuneTask *task);
/* The target string as given (canonical spacing). */
const char *ts_tune_task_target(const TsTuneTask *task);
/* "dense_pack M=1024 N=1024 K=1024": the key records are looked up by, with the
 * target. */
const char *ts_tune_task_name(const TsTuneTask *task);
const TsConfigSpace *ts_tune_task_space(const TsTuneTask *task);
double ts_tune_task_flop(const TsTuneTask *task);
/* Instantiates the template with the config of this index and lowers it into arena;
 * the kernel is named after the template ("dense_pack"). With reference true, the
 * same expression is lowered under a fresh schedule instead (no primitive applied): the
 * oracle for that candidate, whose arguments have the same shapes. A config the schedule
 * language refuses is that status with its message. */
TsStatus ts_tune_task_lower(const TsTuneTask *task, int64_t index, bool reference,
                            TsArena *arena, TsLoweredFunc **out, TsError *err);
/* The template's default config for this task. */
TsStatus ts_tune_task_default(const TsTuneTask *task, TsConfig *out, TsError *err);

/* ---- measuring candidates ---- */

/* AutoTVM's MeasureErrorNo numbering, plus DEVICE_LOST. */
typedef enum TsMeasureError {
    TS_MEASURE_OK = 0,
    TS_MEASURE_INSTANTIATION_ERROR = 1, /* the schedule language refused the config */
    TS_MEASURE_BUILD_ERROR = 2,         /* lowering or code generation failed */
    TS_MEASURE_RUNTIME_ERROR = 4,       /* the kernel failed or crashed */
    TS_MEASURE_WRONG_ANSWER = 5,        /* its output differs from the reference */
    TS_MEASURE_BUILD_TIMEOUT = 6,
    TS_MEASURE_RUN_TIMEOUT = 7,
    TS_MEASURE_UNKNOWN_ERROR = 8,
    TS_MEASURE_DEVICE_LOST = 9          /* the device (RPC server) went away */
} TsMeasureError;

/* "ok", "build error", "run timeout", ... */
const char *ts_measure_error_name(int error_no);

enum { TS_MEASURE_MAX_REPEAT = 16, TS_MEASURE_MAX_MESSAGE = 256 };

typedef struct TsMeasureResult {
    int error_no;                          /* TsMeasureError */
    int num_costs;                         /* = repeat when error_no is 0 */
    double costs[TS_MEASURE_MAX_REPEAT];   /* seconds per call, one per repeat */
    double all_cost;                       /* seconds spent building and measuring it */
    double timestamp;                      /* Unix time when measured */
    char error_msg[TS_MEASURE_MAX_MESSAGE];
} TsMeasureResult;

/* The mean of the costs (seconds), or INFINITY for a failed result. */
double ts_measure_mean_cost(const TsMeasureResult *result);

typedef struct TsMeasureOptions {
    int number;               /* calls per repeat; default 1 */
    int repeat;               /* default 3, at most TS_MEASURE_MAX_REPEAT */
    double min_repeat_ms;     /* default 0 */
    double cooldown_ms;       /* default 0 */
    bool flush_cache;         /* default false */
    bool check_correctness;   /* compare each new candidate's output with the reference */
    double build_timeout_s;   /* default 30 */
    double run_timeout_s;     /* default 10, per candidate */
    int n_parallel;           /* build workers; default: the number of cores */
    /* Measure each candidate as soon as it is built, while the other workers build the
     * rest of the batch (its own worker waits meanwhile, so at most n_parallel - 1 builds
     * run next to a measurement). Faster; but on this machine a compilation then runs
     * beside the kernel being measured, which makes measurements noisier. Default false:
     * a batch is built, then measured. */
    bool overlap;
    /* Where to measure: nothing set means this machine (in a child process). */
    const char *rpc_host;     /* a device server ... */
    int rpc_port;
    const char *tracker_host; /* ... or a tracker and a key */
    int tracker_port;
    const char *key;
    int priority;
    const char *token;        /* RPC shared secret, or NULL */
} TsMeasureOptions;

TsMeasureOptions ts_measure_options_default(void);

typedef struct TsMeasurer TsMeasurer;

/* Prepares measuring for task: worker processes, the RPC session when asked for (a
 * device that cannot be reached fails here), the reference outputs when checking. */
TsStatus ts_measurer_create(const TsTuneTask *task, const TsMeasureOptions *options,
                            TsMeasurer **out, TsError *err);
/* Builds and measures n candidates; each gets its result (failures are results, with
 * error_no and error_msg). Fails only when measuring cannot go on at all. */
TsStatus ts_measurer_run(TsMeasurer *measurer, int n, const int64_t *indices,
                         TsMeasureResult *results, TsError *err);
void ts_measurer_free(TsMeasurer *measurer);

/* ---- tuning records (JSON lines) ---- */

/* A target string may be long (a host's expanded -mattr list); ts_tune_task_create
 * refuses one that a record cannot hold. */
enum { TS_RECORD_MAX_TEXT = 128, TS_RECORD_MAX_TARGET = 1024, TS_RECORD_MAX_ENTITY = 1024 };

/* One line of a log:
 * {"input": ["llvm -mcpu=sapphirerapids", "dense_pack", {"M": 1024, ...}, "float32"],
 *  "config": {"index": 1234, "entity": [["tile_y","sp",[-1,8]], ...]},
 *  "result": [[costs...], error_no, all_cost, timestamp], "error_msg": "...",
 *  "version": 0.2, "tessera_version": "0.1.0"} */
typedef struct TsTuneRecord {
    char target[TS_RECORD_MAX_TARGET];
    char template_name[TS_RECORD_MAX_TEXT];
    TsTemplateArgs args;
    char dtype[16];
    int64_t index;
    char entity[TS_RECORD_MAX_ENTITY];
    TsMeasureResult result;
} TsTuneRecord;

/* The record of a measured candidate of task. */
TsStatus ts_tune_record_make(const TsTuneTask *task, int64_t index, const TsMeasureResult *result,
                             TsTuneRecord *out, TsError *err);
/* True when record is of task (same template, args, dtype and target). */
bool ts_tune_record_matches(const TsTuneRecord *record, const TsTuneTask *task);

/* A line of JSON, without the newline. */
TsStatus ts_tune_record_to_json(const TsTuneRecord *record, char *buf, size_t size, TsError *err);
/* TS_EPROTO naming the field at fault. */
TsStatus ts_tune_record_from_json(const char *line, TsTuneRecord *out, TsError *err);

typedef struct TsTuneLog TsTuneLog;

/* Opens path for appending (created when missing). Each record is written as one line by
 * one write() and flushed, so a run killed at any moment loses at most its last line. */
TsStatus ts_tune_log_open(const char *path, TsTuneLog **out, TsError *err);
TsStatus ts_tune_log_append(TsTuneLog *log, const TsTuneRecord *record, TsError *err);
void ts_tune_log_close(TsTuneLog *log);

/* Called for each good record; return false to stop reading. */
typedef bool (*TsTuneRecordFn)(const TsTuneRecord *record, void *user);
/* Warnings ("tune.log:17: damaged record skipped: ..."); NULL handler means stderr. */
typedef void (*TsTuneWarnFn)(const char *message, void *user);

/* Reads every line of path; a damaged line (bad JSON, a missing field, a cut-off last
 * line) is reported to warn with its line number and skipped, and counted in
 * *num_damaged (may be NULL). A file that cannot be opened is TS_EIO. */
TsStatus ts_tune_log_read(const char *path, TsTuneRecordFn fn, void *user, TsTuneWarnFn warn,
                          void *warn_user, int *num_damaged, TsError *err);

/* Apply-best: the fastest good record of task in the logs. *found false (not an error)
 * when there is none; then the default config is returned in *out and a warning naming
 * the operator, shape and target goes to warn. A record whose entity differs from the
 * space's entity at its index (a log from another version of the template) is skipped
 * with a warning. */
TsStatus ts_tune_apply_best(const TsTuneTask *task, int num_logs, const char *const *logs,
                            TsTuneWarnFn warn, void *warn_user, TsConfig *out, bool *found,
                            TsTuneRecord *best, TsError *err);

/* ---- tuners ---- */

typedef struct TsTuner TsTuner;

/* kind: "random", "grid", "ga" or "xgb". task may be NULL for a bare space (tests with a
 * synthetic cost): the xgb tuner then uses the knobs' choices as features alone; with a
 * task it adds features of each candidate's lowered loop nest. */
TsStatus ts_tuner_create(const char *kind, const TsTuneTask *task, const TsConfigSpace *space,
                         uint64_t seed, TsTuner **out, TsError *err);
void ts_tuner_free(TsTuner *tuner);
const char *ts_tuner_kind(const TsTuner *tuner);
/* False once every point was proposed (a small space can be exhausted). */
bool ts_tuner_has_next(const TsTuner *tuner);
/* Up to batch_size new points, never proposed before; their number to *num. */
TsStatus ts_tuner_next_batch(TsTuner *tuner, int batch_size, int64_t *indices, int *num,
                             TsError *err);
/* The measured results of proposed points (failed ones included). */
TsStatus ts_tuner_update(TsTuner *tuner, int n, const int64_t *indices,
                         const TsMeasureResult *results, TsError *err);
/* Transfer learning: records of earlier tuning of the same operator kind (other shapes
 * too) warm-start the model (xgb); other tuners ignore them. Points already measured
 * for this very task are not proposed again. */
TsStatus ts_tuner_load_history(TsTuner *tuner, int n, const TsTuneRecord *records,
                               TsError *err);

/* ---- the tuning loop ---- */

typedef struct TsTuneProgress {
    int trial;             /* candidates measured so far (this run) */
    int n_trial;           /* the budget */
    int num_errors;
    double best_gflops;    /* 0 until one succeeded */
    int64_t best_index;    /* -1 until one succeeded */
    double best_cost;      /* seconds */
    double elapsed_s;
    double remaining_s;    /* estimated */
    bool finished;
    const char *stop_reason; /* "trials", "early stopping", "time limit", "space exhausted" */
} TsTuneProgress;

typedef struct TsTuneOptions {
    const char *tuner;       /* "xgb" (default), "ga", "random", "grid" */
    int n_trial;             /* default 100 */
    int early_stopping;      /* stop after this many trials without improvement; 0: off */
    double time_limit_s;     /* wall clock; 0: none */
    int batch_size;          /* candidates per round; default 16 */
    uint64_t seed;
    const char *log_path;    /* records appended here (NULL: none) */
    bool resume;             /* skip points log_path already holds, and count them */
    bool skip_default;       /* do not measure the template's default config first (by
                              * default it is: a tuned result is never worse than the
                              * untuned one; comparisons of tuners turn it off) */
    int num_transfer_logs;   /* earlier logs that warm-start the model */
    const char *const *transfer_logs;
    TsMeasureOptions measure;
    void (*progress)(const TsTuneProgress *progress, void *user); /* after each batch */
    void *user;
    TsTuneWarnFn warn;
    void *warn_user;
} TsTuneOptions;

TsTuneOptions ts_tune_options_default(void);

/* Tunes task within the budget; *final (may be NULL) gets the last progress. */
TsStatus ts_tune(const TsTuneTask *task, const TsTuneOptions *options, TsTuneProgress *final,
                 TsError *err);

#ifdef __cplusplus
}
#endif

#endif /* TESSERA_AUTOTUNE_H */
