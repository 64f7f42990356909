/* Tunable schedule templates and their configuration spaces, in the manner of AutoTVM.
 *
 * A template builds an operator's tensor expression and schedules it from a config: a
 * point of the template's config space. The space is a list of knobs, each a finite list
 * of choices: split knobs (the factors an axis is split into), reorder knobs (a
 * permutation of axes), annotate knobs (unroll / vectorize / none on some axes) and plain
 * knobs (any list of integers). A point has a flat index in [0, size) (mixed radix, the
 * first knob varying fastest) and a printable entity, the knobs' choices as JSON:
 *     [["tile_y","sp",[-1,8]],["tile_x","sp",[-1,16]],["unroll_k","an","unroll"],["ku","ot",4]]
 * (a split's first factor is printed -1, as in AutoTVM: it is what remains of the extent).
 *
 * Templates are strategies registered in one table (schedule/templates/registry.c): each
 * states its operator, the dtypes it serves, the target features it needs and a
 * priority, and the best one that applies is chosen for a request. Researchers add their
 * own with ts_template_register. Each has a default config, used when no tuning record
 * exists. Implemented in schedule/templates/. */
#ifndef TESSERA_TEMPLATE_H
#define TESSERA_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tessera/arena.h"
#include "tessera/dtype.h"
#include "tessera/error.h"
#include "tessera/schedule.h"
#include "tessera/te.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- config spaces ---- */

typedef struct TsConfigSpace TsConfigSpace;

typedef enum TsKnobKind {
    TS_KNOB_SPLIT,    /* "sp": factors of an extent */
    TS_KNOB_REORDER,  /* "re": a permutation */
    TS_KNOB_ANNOTATE, /* "an": one of a few annotation words */
    TS_KNOB_OTHER     /* "ot": a plain list of integers */
} TsKnobKind;

typedef enum TsSplitPolicy {
    TS_SPLIT_FACTORS,   /* every factorization of the extent into num_outputs factors */
    TS_SPLIT_POWER2,    /* inner factors powers of two (the outer factor takes the rest,
                         * so the extent need not be divisible: tails are guarded) */
    TS_SPLIT_CANDIDATES /* exactly the given factor lists */
} TsSplitPolicy;

/* factors[0] is the outermost (what remains), factors[num_outputs - 1] the innermost. A
 * filter returns false to leave a choice out of the space. */
typedef bool (*TsSplitFilter)(const int64_t *factors, int num_outputs, void *user);

enum { TS_KNOB_MAX_OUTPUTS = 4, TS_KNOB_MAX_NAME = 32, TS_CONFIG_MAX_KNOBS = 32 };

typedef struct TsSplitOptions {
    TsSplitPolicy policy;
    int num_outputs;           /* 2..TS_KNOB_MAX_OUTPUTS */
    int64_t max_factor;        /* inner factors at most this; 0: no limit */
    const int64_t *candidates; /* TS_SPLIT_CANDIDATES: num_candidates rows of num_outputs */
    int num_candidates;
    TsSplitFilter filter;      /* may be NULL */
    void *filter_user;
} TsSplitOptions;

TsConfigSpace *ts_config_space_create(void);
void ts_config_space_free(TsConfigSpace *space);

/* Each define fails with TS_EINVAL naming the knob for a duplicate name, an empty choice
 * list (after the filter), or a space whose size would overflow int64. */
TsStatus ts_space_define_split(TsConfigSpace *space, const char *name, int64_t extent,
                               const TsSplitOptions *options, TsError *err);
/* orders: num_orders rows of num_axes indices, each a permutation of 0..num_axes-1. */
TsStatus ts_space_define_reorder(TsConfigSpace *space, const char *name, int num_axes,
                                 int num_orders, const int *orders, TsError *err);
/* words: e.g. {"none", "unroll", "vec"}. */
TsStatus ts_space_define_annotate(TsConfigSpace *space, const char *name, int num_words,
                                  const char *const *words, TsError *err);
TsStatus ts_space_define_knob(TsConfigSpace *space, const char *name, int num_values,
                              const int64_t *values, TsError *err);

int64_t ts_space_size(const TsConfigSpace *space);
int ts_space_num_knobs(const TsConfigSpace *space);
const char *ts_space_knob_name(const TsConfigSpace *space, int knob);
TsKnobKind ts_space_knob_kind(const TsConfigSpace *space, int knob);
/* The number of choices of knob. */
int64_t ts_space_knob_size(const TsConfigSpace *space, int knob);

/* A point of a space: the choice of every knob. A plain value; valid while its space
 * lives. */
typedef struct TsConfig {
    const TsConfigSpace *space;
    int64_t index;
    int64_t choice[TS_CONFIG_MAX_KNOBS]; /* per knob, in [0, knob size) */
} TsConfig;

/* The point with this flat index; TS_EINVAL when index is outside [0, size). */
TsStatus ts_space_get(const TsConfigSpace *space, int64_t index, TsConfig *out, TsError *err);
/* The point with these per-knob choices (index computed). */
TsStatus ts_space_from_choices(const TsConfigSpace *space, const int64_t *choice, TsConfig *out,
                               TsError *err);
/* The entity as JSON text (see above) into buf; TS_EINVAL when it does not fit. */
TsStatus ts_config_entity(const TsConfig *config, char *buf, size_t size, TsError *err);

/* A template reads its knobs by name. A name the space lacks, or of another kind, is
 * TS_EINVAL naming it (a template bug, reported rather than trusted). */
TsStatus ts_config_split(const TsConfig *config, const char *name, int64_t *factors,
                         int max_factors, int *num_factors, TsError *err);
TsStatus ts_config_reorder(const TsConfig *config, const char *name, int *order, int max_axes,
                           int *num_axes, TsError *err);
TsStatus ts_config_annotate(const TsConfig *config, const char *name, const char **word,
                            TsError *err);
TsStatus ts_config_knob(const TsConfig *config, const char *name, int64_t *value, TsError *err);

/* ---- templates ---- */

enum { TS_TEMPLATE_MAX_ARGS = 16, TS_TEMPLATE_MAX_TENSORS = 8, TS_TEMPLATE_ARG_NAME = 16 };

/* An operator's parameters as key=value pairs, integers or dtypes: M=1024 N=1024 K=1024
 * dtype=float32, or N=1 C=64 H=56 W=56 K=64 R=3 S=3 stride=1 pad=1. */
typedef struct TsTemplateArgs {
    int num;
    char name[TS_TEMPLATE_MAX_ARGS][TS_TEMPLATE_ARG_NAME];
    int64_t value[TS_TEMPLATE_MAX_ARGS]; /* of an integer argument */
    TsDType dtype[TS_TEMPLATE_MAX_ARGS]; /* of a dtype argument */
    bool is_dtype[TS_TEMPLATE_MAX_ARGS];
} TsTemplateArgs;

/* Sets name=value (replacing an earlier value); TS_EINVAL when full or name too long. */
TsStatus ts_template_args_set(TsTemplateArgs *args, const char *name, int64_t value,
                              TsError *err);
/* Sets name to a dtype (a valid scalar dtype, else TS_EINVAL naming it). */
TsStatus ts_template_args_set_dtype(TsTemplateArgs *args, const char *name, TsDType dtype,
                                    TsError *err);
/* Sets from text "name=value", the value an integer or a dtype ("float32", "int8", ...);
 * TS_EINVAL naming the word when it is neither. */
TsStatus ts_template_args_parse(TsTemplateArgs *args, const char *word, TsError *err);
/* The value of name, or TS_EINVAL naming the missing argument (or one of the other kind). */
TsStatus ts_template_args_get(const TsTemplateArgs *args, const char *name, int64_t *value,
                              TsError *err);
TsStatus ts_template_args_get_dtype(const TsTemplateArgs *args, const char *name, TsDType *out,
                                    TsError *err);
/* The dtype argument name, or float32 when args lack it (records written before dtype
 * arguments existed are float32). */
TsDType ts_template_args_dtype_or_f32(const TsTemplateArgs *args, const char *name);
/* Whether two argument lists say the same, in any order; a dtype argument one side lacks
 * is float32 on that side. */
bool ts_template_args_equal(const TsTemplateArgs *a, const TsTemplateArgs *b);
/* "M=1024 N=1024 K=1024 dtype=float32", in the order given. */
void ts_template_args_str(const TsTemplateArgs *args, char *buf, size_t size);

/* What a template schedules for: the target's architecture and features (named as
 * ts_target_has_feature names them), the float vector width that follows from them and
 * the cores for parallel knobs. Fill it with ts_template_target_init. */
typedef struct TsTemplateTarget {
    const char *arch;     /* "x86_64" or "aarch64" */
    const char *features; /* every feature, ",avx,avx2,fma," (ts_target_features) */
    const char *name;     /* the target string, for messages; may be NULL */
    int vector_bits;      /* 512 with avx512f, 256 on other x86-64, 128 on aarch64 */
    int num_cores;        /* for parallel knobs; >= 1 */
} TsTemplateTarget;

/* Fills out; the strings are kept by pointer (they must outlive out). TS_EINVAL for an
 * architecture other than x86_64 and aarch64, or num_cores < 1. */
TsStatus ts_template_target_init(TsTemplateTarget *out, const char *arch, const char *features,
                                 const char *name, int num_cores, TsError *err);
bool ts_template_target_has(const TsTemplateTarget *target, const char *feature);

/* What a template builds: the schedule and the kernel's arguments in order (inputs, then
 * outputs; the last num_outputs are outputs). */
typedef struct TsTemplateInstance {
    TsSchedule *sch;
    int num_tensors;
    int num_outputs;
    TsTensor *tensors[TS_TEMPLATE_MAX_TENSORS];
} TsTemplateInstance;

/* A DAG given to a template (ts_template_schedule_dag): the operator's output, as the
 * template built it (an instance's output), followed by elementwise consumers fused
 * after it (bias add, ReLU, requantize), in an order where each reads only the output,
 * consumers before it and placeholders listed in inputs, and none reduces. The last
 * consumer is the kernel's output, of the operator's shape, and reads the output; the
 * ones before it are inlined, so they may move elements (a blocked output unpacked to
 * NCHW, the fused nodes computed there, and packed back by the last consumer). */
typedef struct TsTemplateDag {
    int num_inputs; /* placeholders the consumers read (bias, scales) */
    TsTensor *inputs[TS_TEMPLATE_MAX_TENSORS];
    int num_consumers; /* >= 1 */
    TsTensor *consumers[TS_TEMPLATE_MAX_TENSORS];
} TsTemplateDag;

/* A template is a strategy, as TVM's op strategies are: it serves an operator for some
 * dtypes on targets with some features, with a priority; the highest-priority template
 * that applies to a request is chosen (ts_template_for_op). */
typedef struct TsTemplate {
    const char *name;    /* unique: "dense_pack", "conv2d_NCHWc" */
    const char *op;      /* the operator kind: "dense", "conv2d", "depthwise_conv2d", "pool2d" */
    const char *summary;
    /* The dtypes it serves (the "dtype" argument; float32 when absent), NULL-terminated;
     * NULL means float32 only. */
    const char *const *dtypes;
    /* Features the target must all have, NULL-terminated; NULL means none. */
    const char *const *features;
    /* Among the templates that apply, the highest wins (ties: the first registered). */
    int priority;
    /* Required arguments; NULL-terminated. */
    const char *const *arg_names;
    /* Checks the arguments (TS_EINVAL naming the culprit) and defines the knobs. */
    TsStatus (*define_space)(const TsTemplateArgs *args, const TsTemplateTarget *target,
                             TsConfigSpace *space, TsError *err);
    /* The config used without a tuning record: chosen by rule for the shape and target. */
    TsStatus (*default_config)(const TsTemplateArgs *args, const TsTemplateTarget *target,
                               const TsConfigSpace *space, TsConfig *out, TsError *err);
    /* Builds the expression in arena and applies config. Knobs may change the
     * expression itself (the channel blocking of an NCHWc layout, say), and so the
     * kernel's argument shapes; the reference a candidate is checked against is the
     * same instance's outputs under a fresh schedule (ts_schedule_create), which
     * computes the expression straight from its definition. */
    TsStatus (*instantiate)(const TsTemplateArgs *args, const TsTemplateTarget *target,
                            const TsConfig *config, TsArena *arena, TsTemplateInstance *out,
                            TsError *err);
    /* Floating-point operations of one call (for GFLOPS). */
    double (*flop)(const TsTemplateArgs *args);
    /* May be NULL. Schedules dag (checked by ts_template_schedule_dag) around the output
     * of inst, an instance this template built with the same args and config: the
     * consumers are inlined and computed where the output's register tile is stored. */
    TsStatus (*schedule_dag)(const TsTemplateArgs *args, const TsTemplateTarget *target,
                             const TsConfig *config, TsArena *arena, const TsTemplateDag *dag,
                             TsTemplateInstance *inst, TsError *err);
} TsTemplate;

/* Adds a template (copied by pointer: it must outlive its use). TS_EINVAL for a duplicate
 * name or a missing function. */
TsStatus ts_template_register(const TsTemplate *tmpl, TsError *err);
int ts_template_count(void);
const TsTemplate *ts_template_at(int i);
/* The template called name, or NULL. */
const TsTemplate *ts_template_find(const char *name);
/* Schedules a DAG around the operator of inst, an instance tmpl->instantiate built with
 * args and config in arena: the fused consumers are computed at the output's register
 * tile with the template's schedule for config. On success inst holds the new schedule
 * and the kernel's arguments: the operator's inputs, dag's inputs, the last consumer.
 * TS_EINVAL naming the culprit for a template without schedule_dag, a consumer that is
 * not elementwise over the output's shape, does not read the tensor before it or reads
 * a tensor dag does not list. */
TsStatus ts_template_schedule_dag(const TsTemplate *tmpl, const TsTemplateArgs *args,
                                  const TsTemplateTarget *target, const TsConfig *config,
                                  TsArena *arena, const TsTemplateDag *dag,
                                  TsTemplateInstance *inst, TsError *err);
/* Whether tmpl serves dtype on target (all its required features present). */
bool ts_template_applies(const TsTemplate *tmpl, TsDType dtype, const TsTemplateTarget *target);
/* The highest-priority template for op that serves dtype on target, or TS_EINVAL naming
 * the op, the dtype and the target (and the templates the op has, with what they need). */
TsStatus ts_template_for_op(const char *op, TsDType dtype, const TsTemplateTarget *target,
                            const TsTemplate **out, TsError *err);

#ifdef __cplusplus
}
#endif

#endif /* TESSERA_TEMPLATE_H */
