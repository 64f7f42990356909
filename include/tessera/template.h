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
 * Templates are registered in one table (schedule/templates/registry.c); researchers add
 * their own with ts_template_register. Each has a default config, used when no tuning
 * record exists. Implemented in schedule/templates/. */
#ifndef TESSERA_TEMPLATE_H
#define TESSERA_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tessera/arena.h"
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

/* An operator's shape parameters as key=value pairs: M=1024 N=1024 K=1024, or
 * N=1 C=64 H=56 W=56 K=64 R=3 S=3 stride=1 pad=1. */
typedef struct TsTemplateArgs {
    int num;
    char name[TS_TEMPLATE_MAX_ARGS][TS_TEMPLATE_ARG_NAME];
    int64_t value[TS_TEMPLATE_MAX_ARGS];
} TsTemplateArgs;

/* Sets name=value (replacing an earlier value); TS_EINVAL when full or name too long. */
TsStatus ts_template_args_set(TsTemplateArgs *args, const char *name, int64_t value,
                              TsError *err);
/* The value of name, or TS_EINVAL naming the missing argument. */
TsStatus ts_template_args_get(const TsTemplateArgs *args, const char *name, int64_t *value,
                              TsError *err);
/* "M=1024 N=1024 K=1024", in the order given. */
void ts_template_args_str(const TsTemplateArgs *args, char *buf, size_t size);

/* The instruction set a template schedules for. */
typedef enum TsIsa {
    TS_ISA_X86_AVX2,   /* 256-bit vectors, 16 registers */
    TS_ISA_X86_AVX512, /* 512-bit vectors, 32 registers */
    TS_ISA_AARCH64_NEON /* 128-bit vectors, 32 registers */
} TsIsa;

typedef struct TsTemplateTarget {
    TsIsa isa;
    int vector_bits; /* 256, 512 or 128 */
    int num_cores;   /* for parallel knobs; >= 1 */
} TsTemplateTarget;

/* What a template builds: the schedule and the kernel's arguments in order (inputs, then
 * outputs; the last num_outputs are outputs). */
typedef struct TsTemplateInstance {
    TsSchedule *sch;
    int num_tensors;
    int num_outputs;
    TsTensor *tensors[TS_TEMPLATE_MAX_TENSORS];
} TsTemplateInstance;

typedef struct TsTemplate {
    const char *name;    /* unique: "dense_pack", "conv2d_NCHWc" (one per op, all ISAs) */
    const char *op;      /* the operator kind: "dense", "conv2d", "depthwise_conv2d", "pool2d" */
    const char *summary;
    /* The ISAs it serves (bit 1 << TsIsa). */
    unsigned isa_mask;
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
} TsTemplate;

/* Adds a template (copied by pointer: it must outlive its use). TS_EINVAL for a duplicate
 * name or a missing function. */
TsStatus ts_template_register(const TsTemplate *tmpl, TsError *err);
int ts_template_count(void);
const TsTemplate *ts_template_at(int i);
/* The template called name, or NULL. */
const TsTemplate *ts_template_find(const char *name);
/* The template for op on isa, or TS_EINVAL listing the ops that have one. */
TsStatus ts_template_for_op(const char *op, TsIsa isa, const TsTemplate **out, TsError *err);

#ifdef __cplusplus
}
#endif

#endif /* TESSERA_TEMPLATE_H */
