/* Names shared between the files of autotune/ (the tune_ prefix). Each engineer's files
 * have their own section. */
#ifndef TESSERA_AUTOTUNE_TUNE_INTERNAL_H
#define TESSERA_AUTOTUNE_TUNE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tessera/autotune.h"
#include "tessera/codegen.h"
#include "tessera/runtime.h"

/* ==== tasks, the measurer, tuning logs, the tuning loop (task.c, measure*.c,
 * builder.c, record.c, tune.c) ==== */

/* ---- tasks (task.c) ---- */

/* The element type of the task's tensors ("float32"), found by instantiating the default
 * config once when the task is created. */
const char *tune_task_dtype(const TsTuneTask *task);
/* The parsed target (owned by the task). */
const TsTarget *tune_task_parsed_target(const TsTuneTask *task);
/* The kernel name every candidate of the task gets ("dense_pack_x86"). */
const char *tune_task_kernel_name(const TsTuneTask *task);
/* The template's instance for the config of this index (the first half of
 * ts_tune_task_lower: a failure here is the schedule language refusing the config). */
TsStatus tune_task_instantiate(const TsTuneTask *task, int64_t index, TsArena *arena,
                               TsTemplateInstance *out, TsError *err);
/* The second half: lowers the instance's schedule, or with reference a fresh schedule of
 * its outputs. */
TsStatus tune_task_lower_instance(const TsTuneTask *task, TsTemplateInstance *inst, bool reference,
                                  TsArena *arena, TsLoweredFunc **out, TsError *err);

/* ---- tuning logs (record.c) ---- */

/* Called for each line of a log that parses, with its line number. */
typedef bool (*TuneLineFn)(const TsTuneRecord *record, int line, void *user);

/* ts_tune_log_read with line numbers given to fn. */
TsStatus tune_log_read_lines(const char *path, TuneLineFn fn, void *user, TsTuneWarnFn warn,
                             void *warn_user, int *num_damaged, TsError *err);
/* Sends a warning to warn, or to stderr ("warning: ...") when warn is NULL. */
void tune_warn(TsTuneWarnFn warn, void *warn_user, const char *fmt, ...) TS_PRINTF_LIKE(3, 4);
/* Whether the record's entity is the entity of its index in space. */
bool tune_record_entity_matches(const TsTuneRecord *record, const TsConfigSpace *space);

/* ---- the measurer (measure.c, builder.c, measure_local.c, measure_rpc.c) ---- */

/* The arguments of a built candidate: shapes and dtypes, in the kernel's order (inputs,
 * then the last num_outputs outputs). Small enough to cross a pipe as is. */
enum { TUNE_MAX_ARGS = TS_TEMPLATE_MAX_TENSORS, TUNE_MAX_DIMS = 8 };
typedef struct TuneArgSpec {
    int num_args;
    int num_outputs;
    int ndim[TUNE_MAX_ARGS];
    int64_t shape[TUNE_MAX_ARGS][TUNE_MAX_DIMS];
    TsDType dtype[TUNE_MAX_ARGS];
} TuneArgSpec;

/* The argument spec of a lowered kernel; TS_EINVAL for one that does not fit. */
TsStatus tune_arg_spec(const TsLoweredFunc *func, int num_outputs, TuneArgSpec *out, TsError *err);
/* Bytes of argument i's dense data. */
size_t tune_arg_bytes(const TuneArgSpec *spec, int i);
/* Deterministic input data of argument i (its dtype; floats in [-1, 1)). */
void tune_fill_input(const TuneArgSpec *spec, int i, void *data);
/* Compares output argument i with the reference: integers exactly, floats within
 * 1e-4 * (1 + |magnitude|) where magnitude is the reference on |inputs| (as the kernel
 * tests do). False with the element and both values in message on a mismatch. */
bool tune_compare_output(const TuneArgSpec *spec, int i, const void *got, const void *want,
                         const void *magnitude, char *message, size_t size);

/* What a candidate is built into: a shared object, for a device over RPC (it dlopens
 * it), or an object file, for the local runner (its measuring process links it with
 * LLVM's JIT linker, ts_jit_load_object: no system linker on the way). */
typedef enum TuneModuleKind { TUNE_MODULE_SHARED, TUNE_MODULE_OBJECT } TuneModuleKind;

/* What the builder made of one candidate. */
typedef struct TuneBuildResult {
    int64_t index;
    int error_no; /* TS_MEASURE_OK, INSTANTIATION_ERROR, BUILD_ERROR, BUILD_TIMEOUT */
    char error_msg[TS_MEASURE_MAX_MESSAGE];
    TuneArgSpec spec;
    double build_s;
    char path[512]; /* the shared object or object file */
} TuneBuildResult;

enum { TUNE_MAX_WORKERS = 64 };

/* The builder (builder.c): persistent worker processes, forked when it is created, each
 * lowering a candidate and compiling it into a module of kind in dir. */
typedef struct TuneBuilder TuneBuilder;
/* Called as each candidate is built (in order of completion); i is its position. */
typedef void (*TuneBuiltFn)(int i, TuneBuildResult *result, void *user);

TsStatus tune_builder_create(const TsTuneTask *task, const TsTarget *target, TuneModuleKind kind,
                             int n_workers, double timeout_s, const char *dir, TuneBuilder **out,
                             TsError *err);
/* Builds the n candidates, n_workers at a time; a worker past the timeout is killed (and
 * replaced) and its candidate is BUILD_TIMEOUT. Fails only when no worker can be
 * started. */
TsStatus tune_builder_run(TuneBuilder *builder, int n, const int64_t *indices,
                          TuneBuildResult *results, TuneBuiltFn on_built, void *user, TsError *err);
void tune_builder_free(TuneBuilder *builder);

/* A request to measure one built candidate. */
typedef struct TuneRunRequest {
    char path[512];
    TuneModuleKind kind; /* the local runner takes both; RPC, shared objects */
    char kernel[128];
    TuneArgSpec spec;
    TsTimeOptions time;
    /* When not empty: the file holding the reference outputs, then their magnitudes (each
     * output's dense data in order), to check the candidate's outputs against. */
    char ref_path[512];
} TuneRunRequest;

/* The local runner (measure_local.c): a persistent measuring process that links each
 * candidate's object file (or loads its shared object); restarted after a crash or a
 * timeout. */
typedef struct TuneLocalRunner TuneLocalRunner;
TsStatus tune_local_runner_create(TuneLocalRunner **out, TsError *err);
/* Measures one candidate; every failure is a result (RUNTIME_ERROR, RUN_TIMEOUT,
 * WRONG_ANSWER). */
void tune_local_runner_run(TuneLocalRunner *runner, const TuneRunRequest *request, double timeout_s,
                           TsMeasureResult *result);
void tune_local_runner_free(TuneLocalRunner *runner);

/* The RPC runner (measure_rpc.c): one session with a device server, direct or leased
 * from a tracker; reconnected once after the device is lost. */
typedef struct TuneRpcRunner TuneRpcRunner;
TsStatus tune_rpc_runner_create(const TsMeasureOptions *options, TuneRpcRunner **out, TsError *err);
/* ref_outputs and ref_magnitude (NULL: no check) hold the outputs' dense data in order. */
void tune_rpc_runner_run(TuneRpcRunner *runner, const TuneRunRequest *request,
                         const void *ref_outputs, const void *ref_magnitude, double timeout_s,
                         TsMeasureResult *result);
void tune_rpc_runner_free(TuneRpcRunner *runner);
/* True once reconnecting after a loss failed: every later candidate is DEVICE_LOST. */
bool tune_rpc_runner_gone(const TuneRpcRunner *runner);

/* Writes result's error message, cut to fit. */
void tune_result_message(TsMeasureResult *result, const char *fmt, ...) TS_PRINTF_LIKE(2, 3);

/* In a freshly forked worker or measuring process: the default action for the signals
 * of a crash, so a host program's crash handler (a test framework's, say) does not run
 * in it, and a crash is reported as the signal it is. */
void tune_child_default_signals(void);
/* The worker and runner processes' socket pairs: writes all of data (0, or -1 when the
 * peer is gone); reads exactly size bytes (1, 0 at a clean end of file, -1 on error or
 * a message cut short). */
int tune_write_full(int fd, const void *data, size_t size);
int tune_read_full(int fd, void *data, size_t size);
/* In a freshly forked worker or measuring process: closes every descriptor but the
 * standard ones and keep, so that no child holds another child's socket open (each
 * must see the end of its own when the measurer goes, killed or not). */
void tune_child_close_fds(int keep);

/* Seconds on the monotonic clock. */
double tune_now(void);
/* Seconds since the Unix epoch. */
double tune_unix_time(void);

/* Runs the kernel of a module (a shared object, or an object file for kind
 * TUNE_MODULE_OBJECT) in a child process, as the local runner does a candidate: for tests
 * of crash and hang isolation with hand-written modules. The arguments are spec's;
 * reference outputs are not checked. */
TsStatus tune_measure_module(const char *path, TuneModuleKind kind, const char *kernel,
                             const TuneArgSpec *spec, const TsMeasureOptions *options,
                             TsMeasureResult *result, TsError *err);

/* ==== tuners, candidate features and the cost model (tuner.c, tuner_random.c,
 * tuner_grid.c, tuner_ga.c, tuner_xgb.c, features.c, knob_features.c, cost_model.c) ==== */

/* ---- a hash map of int64 keys (tuner.c): the visited points of a space that may hold
 * 10^9 of them, and feature caches by index ---- */

typedef struct TuneIndexMap {
    int64_t *keys; /* TUNE_MAP_EMPTY marks a free slot */
    int64_t *values;
    size_t capacity; /* a power of two */
    size_t count;
} TuneIndexMap;

#define TUNE_MAP_EMPTY INT64_MIN

/* false when memory is exhausted. */
bool tune_map_init(TuneIndexMap *map, size_t expected);
void tune_map_free(TuneIndexMap *map);
bool tune_map_get(const TuneIndexMap *map, int64_t key, int64_t *value);
/* Sets key (not TUNE_MAP_EMPTY) to value; false when memory is exhausted. */
bool tune_map_put(TuneIndexMap *map, int64_t key, int64_t value);

/* ---- seeded random numbers (tuner.c): every tuner is deterministic for a seed ---- */

typedef struct TuneRng {
    uint64_t state;
} TuneRng;

void tune_rng_seed(TuneRng *rng, uint64_t seed);
uint64_t tune_rng_next(TuneRng *rng);
/* Uniform in [0, n), n >= 1. */
int64_t tune_rng_below(TuneRng *rng, int64_t n);
/* Uniform in [0, 1). */
double tune_rng_uniform(TuneRng *rng);

/* ---- the tuner framework (tuner.c) ---- */

/* What a kind of tuner does; ts_tuner_* check the arguments and call these. */
typedef struct TuneTunerOps {
    const char *kind;
    /* Sets tuner->state; may be NULL. */
    TsStatus (*init)(TsTuner *tuner, TsError *err);
    void (*destroy)(TsTuner *tuner);
    /* Proposes up to batch_size points through tune_tuner_propose; fewer only when the
     * space is exhausted. */
    TsStatus (*next_batch)(TsTuner *tuner, int batch_size, int64_t *indices, int *num,
                           TsError *err);
    /* May be NULL; indices are checked to lie in the space. */
    TsStatus (*update)(TsTuner *tuner, int n, const int64_t *indices,
                       const TsMeasureResult *results, TsError *err);
    /* May be NULL. Records of this very space are already marked visited. */
    TsStatus (*load_history)(TsTuner *tuner, int n, const TsTuneRecord *records, TsError *err);
} TuneTunerOps;

extern const TuneTunerOps tune_random_ops;
extern const TuneTunerOps tune_grid_ops;
extern const TuneTunerOps tune_ga_ops;
extern const TuneTunerOps tune_xgb_ops;

struct TsTuner {
    const TuneTunerOps *ops;
    const TsTuneTask *task; /* NULL for a bare space */
    const TsConfigSpace *space;
    int64_t size;
    int num_knobs;
    TuneRng rng;
    TuneIndexMap visited; /* points proposed, or measured by an earlier run */
    int64_t best_index;   /* -1 until a result succeeded */
    double best_cost;     /* seconds */
    void *state;          /* the kind's own */
};

/* Whether index was proposed (or measured by an earlier run) already. */
bool tune_tuner_visited(const TsTuner *tuner, int64_t index);
/* Marks index visited: true when it was new, false when it had been visited (or memory
 * ran out: then *oom is set). */
bool tune_tuner_propose(TsTuner *tuner, int64_t index, bool *oom);
/* Whether a record is of this very space: the entity of its index in the space (with a
 * task, also the same template, arguments, dtype and target). */
bool tune_tuner_owns_record(const TsTuner *tuner, const TsTuneRecord *record);
/* A uniformly drawn point not visited yet (not marked); false when there is none. */
bool tune_tuner_random_unvisited(TsTuner *tuner, int64_t *index);
/* Throughput of a result, 1 / mean cost, or 0 for a failed one: what tuners maximize. */
double tune_result_throughput(const TsMeasureResult *result);

/* ---- features of knob choices (knob_features.c) ---- */

/* Per knob, the features of every choice, precomputed: a split gives log2(1 + factor) of
 * its inner factors (the outer one follows from the extent), a reorder the normalized
 * position of each axis, an annotation the normalized index of its word, a plain knob
 * log2(1 + |value|) with its sign. They depend on the choice's values, not its index, so
 * configs of other shapes of the same template (other spaces) line up. */
typedef struct TuneKnobTable TuneKnobTable;

TsStatus tune_knob_table_create(const TsConfigSpace *space, TuneKnobTable **out, TsError *err);
void tune_knob_table_free(TuneKnobTable *table);
int tune_knob_table_width(const TuneKnobTable *table);
/* out[width] for the choices of a point. */
void tune_knob_features(const TuneKnobTable *table, const int64_t *choice, float *out);
/* The features of an entity (JSON text, as ts_config_entity writes it) of this template,
 * possibly of another shape: knobs are matched by name and kind. False when the entity
 * does not parse or lacks one of the table's knobs. */
bool tune_knob_features_from_entity(const TuneKnobTable *table, const char *entity, float *out);

/* ---- features of a lowered loop nest (features.c) ---- */

enum { TUNE_LOOP_FEATURES = 130 };

/* Fills out[TUNE_LOOP_FEATURES]; see features.c for the layout. */
void tune_loop_features(const TsLoweredFunc *func, float *out);
/* The offset of a feature by name ("level0.extent", "buf1.stride0"), or -1. */
int tune_loop_feature_find(const char *name);
/* The name of feature i into buf. */
void tune_loop_feature_name(int i, char *buf, size_t size);
/* Lowers candidate index of task in a scratch arena and takes its features; a candidate
 * that does not lower gets zeros and the "lower_failed" flag (the model learns that such
 * points score nothing). Fails only when memory is exhausted. */
TsStatus tune_candidate_features(const TsTuneTask *task, int64_t index, float *out, TsError *err);

/* ---- the XGBoost cost model (cost_model.c) ---- */

typedef struct TuneCostModel TuneCostModel;

TsStatus tune_model_create(int num_features, uint64_t seed, TuneCostModel **out, TsError *err);
void tune_model_free(TuneCostModel *model);
/* Trains a fresh booster for rounds rounds on n rows of x (row-major), labels y, ranked
 * pairwise within groups: num_groups consecutive runs of rows of group_sizes rows. */
TsStatus tune_model_fit(TuneCostModel *model, const float *x, const float *y, int n,
                        const unsigned *group_sizes, int num_groups, int rounds, TsError *err);
bool tune_model_trained(const TuneCostModel *model);
/* Scores of n rows (higher is better). */
TsStatus tune_model_predict(TuneCostModel *model, const float *x, int n, float *scores,
                            TsError *err);

#endif /* TESSERA_AUTOTUNE_TUNE_INTERNAL_H */
