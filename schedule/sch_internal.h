/* The schedule's data and the lowering pipeline, shared by the files of schedule/.
 *
 * A schedule is data (STYLE.md): each stage keeps its root axes, its current leaf axes,
 * a log of relations (split, fuse) in the order they were made, per-axis annotations,
 * and where it is attached. Lowering replays the relations against the extents that
 * bound inference finds, so a split's outer extent is not frozen when it is made. */
#ifndef TESSERA_SCH_INTERNAL_H
#define TESSERA_SCH_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "te/te_internal.h"
#include "tessera/intrin.h"
#include "tessera/schedule.h"

typedef enum SchRelKind {
    SCH_REL_SPLIT,       /* parent -> outer * factor + inner */
    SCH_REL_SPLIT_NPARTS, /* parent -> outer (nparts) * ceil(parent / nparts) + inner */
    SCH_REL_FUSE         /* outer, inner -> fused = outer * extent(inner) + inner */
} SchRelKind;

typedef struct SchRelation {
    SchRelKind kind;
    TsAxis *parent; /* split */
    TsAxis *outer;  /* split output; fuse input */
    TsAxis *inner;  /* split output; fuse input */
    TsAxis *fused;  /* fuse output */
    int64_t factor; /* SPLIT: the inner extent; SPLIT_NPARTS: the outer extent */
} SchRelation;

typedef enum SchLoopKind {
    SCH_LOOP_SERIAL,
    SCH_LOOP_VECTORIZED,
    SCH_LOOP_UNROLLED,
    SCH_LOOP_PARALLEL
} SchLoopKind;

enum { SCH_MAX_PRAGMAS = 4 };
/* The most leaves one reorder may name. */
enum { SCH_MAX_REORDER = 64 };

/* What a primitive said about one axis of a stage (root or made by a relation). */
typedef struct SchAxisInfo {
    TsAxis *axis;
    SchLoopKind loop_kind;
    int num_pragmas;
    TePragma pragmas[SCH_MAX_PRAGMAS];
} SchAxisInfo;

typedef enum SchAttach {
    SCH_ATTACH_ROOT,
    SCH_ATTACH_INLINE,
    SCH_ATTACH_AT
} SchAttach;

struct TsStage {
    TsSchedule *sch;
    /* The tensor users know this stage by (an output keeps its handle) and the op that
     * computes it now: a different tensor once cache_read, cache_write or rfactor
     * rewrote its body, with the same output axes. */
    const TsTensor *tensor;
    TsTensor *op;
    bool is_output;
    int num_root;
    TsAxis **root; /* output axes, then reduce axes */
    int num_leaves;
    TsAxis **leaves;
    int num_axes;
    SchAxisInfo *axes; /* every axis the stage has had, root ones first */
    int num_relations;
    SchRelation *relations;
    SchAttach attach;
    TsStage *attach_parent;
    TsAxis *attach_axis;
    int64_t align_factor[TS_MAX_DIMS]; /* storage_align per output dimension; 0: none */
    int64_t align_offset[TS_MAX_DIMS];
    TsAxis *tensorize_axis;         /* ts_tensorize: the loops from here in become ... */
    const TsIntrin *tensorize_intrin; /* ... this intrinsic; NULL: none */
};

struct TsSchedule {
    TsArena *arena;
    int num_outputs;
    TsTensor **outputs;
    int num_stages;
    TsStage **stages; /* compute stages, every stage after the stages it reads */
    int num_log;
    const char **log; /* one line per primitive applied, for ts_schedule_str */
};

/* The stage whose tensor or op is t, or NULL (placeholders have none). */
TsStage *sch_find_stage(const TsSchedule *sch, const TsTensor *t);
/* The record of axis in stage, or NULL when the stage never had it. */
SchAxisInfo *sch_axis_info(const TsStage *stage, const TsAxis *axis);

/* ---- what the primitives share (schedule.c) ----
 *
 * A refused primitive changes nothing. Each checks its whole request first, then builds
 * the new state aside and commits it at the end. A primitive on one stage edits a copy
 * of the stage's record: the helpers below that take a record replace its arrays with
 * new ones and never write into the old ones, so the stage as the schedule holds it is
 * untouched until sch_commit adds the primitive's line to the schedule's text and, only
 * if that succeeded, stores the edited record. Primitives that add stages build every
 * new record and array first and log (sch_log) before their assignments, which cannot
 * fail. */

enum { SCH_LOG_LINE = 512 };

/* Adds a line to the schedule's text; false (nothing changed) when out of memory. */
bool sch_log(TsSchedule *sch, const char *fmt, ...) TS_PRINTF_LIKE(2, 3);
/* Logs the line, then stores edit (a copy of *stage, edited) into *stage; TS_ENOMEM with
 * nothing changed when the line cannot be added. */
TsStatus sch_commit(TsStage *stage, const TsStage *edit, TsError *err, const char *fmt, ...)
    TS_PRINTF_LIKE(4, 5);
/* The same with several lines, added all or none. */
TsStatus sch_commit_lines(TsStage *stage, const TsStage *edit, int num_lines,
                          const char *const *lines, TsError *err);
/* TS_ENOMEM naming the stage. */
TsStatus sch_no_memory(TsError *err, const TsStage *stage);
/* The error a builder recorded in the arena, or TS_ENOMEM when none was recorded. */
TsStatus sch_builder_failed(TsArena *arena, TsError *err, const char *what);
/* The position of axis among the stage's leaves, or -1. */
int sch_leaf_index(const TsStage *stage, const TsAxis *axis);
/* axis is a current leaf of stage; otherwise says why not (what names the primitive). */
TsStatus sch_check_leaf(const TsStage *stage, const TsAxis *axis, const char *what,
                        TsError *err);
/* A new axis of the stage's op, added to the record's axes with default annotations;
 * NULL when out of memory. */
TsAxis *sch_new_axis(TsStage *edit, const char *name, int64_t extent, bool is_reduce);
/* Replaces remove leaves at position pos of the record by the n axes of with. */
bool sch_replace_leaf(TsStage *edit, int pos, int n, TsAxis *const *with, int remove);
/* Appends a relation to the record's log of relations. */
bool sch_add_relation(TsStage *edit, const SchRelation *rel);
/* A stage computed inside one of stage's reduce loops, or NULL. cache_write and rfactor
 * move those loops to a new stage, so they refuse while one is there. */
const TsStage *sch_attached_at_reduce(const TsStage *stage);
/* The record's annotations of axis, in a fresh copy of its axes array that the record
 * now points at, ready to be changed; NULL when out of memory or not an axis of it. */
SchAxisInfo *sch_edit_axis_info(TsStage *edit, const TsAxis *axis);
/* A stage computing op, known to users as tensor, with every root axis a leaf. */
TsStage *sch_new_stage(TsSchedule *sch, TsTensor *op, const TsTensor *tensor);
/* "<base>.<suffix>", or "<base>.<suffix>2", ... when a stage already has that name. */
void sch_unique_name(const TsSchedule *sch, const char *base, const char *suffix, char *out,
                     size_t size);
/* The schedule's stages with st inserted at position pos, in a new array (the schedule
 * is not changed); NULL when out of memory. */
TsStage **sch_stages_with(const TsSchedule *sch, TsStage *st, int pos);
/* The position of st among the schedule's stages, or -1. */
int sch_stage_position(const TsSchedule *sch, const TsStage *st);

/* ---- lowering ---- */

typedef struct SchLowerOptions {
    /* vectorize: keep a loop that cannot become vector code as a scalar loop (with a
     * note on stderr) instead of failing. */
    bool allow_scalar_fallback;
    /* unroll: serial loops of at most this constant extent are unrolled everywhere
     * except inside a loop with pragma "unroll_max_extent", whose value sets the limit
     * there; 0 unrolls only loops marked unrolled (and those under such a pragma). */
    int64_t auto_unroll_max_extent;
} SchLowerOptions;

/* A pass: rewrites a lowered function, allocating in arena. Returns the new function
 * (func itself when nothing changed), or NULL with err filled. */
typedef TsLoweredFunc *(*SchPass)(TsArena *arena, TsLoweredFunc *func,
                                  const SchLowerOptions *options, TsError *err);

/* The schedule to a loop nest: one nest per root stage in order, attached stages inside
 * their parent's loop with their buffer allocated there, inlined stages substituted,
 * multi-dimensional loads and stores, and if (likely(...)) guards where a split factor
 * does not divide an extent or an attached region may leave the tensor's domain. */
TsLoweredFunc *sch_lower(TsSchedule *sch, const char *name, TsError *err);

/* The loop passes, one per file, run in this order by ts_lower (pipeline.c). */
TsLoweredFunc *sch_pass_simplify(TsArena *arena, TsLoweredFunc *func,
                                 const SchLowerOptions *options, TsError *err);
/* A loop whose body holds a likely guard that is linear in the loop variable is split
 * into a main part, where the guard is proven true and removed, and a tail. */
TsLoweredFunc *sch_pass_loop_partition(TsArena *arena, TsLoweredFunc *func,
                                       const SchLowerOptions *options, TsError *err);
/* Multi-dimensional loads and stores become flat ones (one index, in elements, using
 * each buffer's strides). */
TsLoweredFunc *sch_pass_storage_flatten(TsArena *arena, TsLoweredFunc *func,
                                        const SchLowerOptions *options, TsError *err);
/* A vectorized loop of constant extent becomes vector expressions: the variable a ramp,
 * loop-invariant values broadcast, loads and stores with vector indices. */
TsLoweredFunc *sch_pass_vectorize(TsArena *arena, TsLoweredFunc *func,
                                  const SchLowerOptions *options, TsError *err);
/* An unrolled loop of constant extent becomes a sequence of copies of its body. */
TsLoweredFunc *sch_pass_unroll(TsArena *arena, TsLoweredFunc *func,
                               const SchLowerOptions *options, TsError *err);
/* Temporary buffers whose lifetimes do not overlap share memory. */
TsLoweredFunc *sch_pass_storage_rewrite(TsArena *arena, TsLoweredFunc *func,
                                        const SchLowerOptions *options, TsError *err);

/* ---- tensor intrinsics (intrin.c, tensorize_match.c) ---- */

struct TsIntrin {
    const char *name;
    TsTensor *output;
    int num_inputs;
    TsTensor *inputs[TS_INTRIN_MAX_INPUTS];
    int64_t strides[TS_INTRIN_MAX_INPUTS + 1][TS_MAX_DIMS]; /* inputs, then the output */
    int num_features;
    const char *features[TS_INTRIN_MAX_FEATURES];
    TsIntrinEmitter body, reset, update;
    void *user;
    const TsReducer *reducer; /* NULL: not a reduction */
    int num_reduce_axes;
    TsAxis **reduce_axes;
    TsExpr *source;           /* the reduction's source, or the whole body */
    TsExpr *cond;             /* the reduction's condition, or NULL */
};

struct TsIntrinRegion {
    const TsTensor *tensor; /* the declared tensor */
    const TeBuffer *buffer; /* the buffer it is matched in */
    TsExpr *offset;         /* int32: the element offset of its first element */
    int ndim;
    int64_t strides[TS_MAX_DIMS];
};

/* The index (into TsIntrin's strides) of tensor among the declaration's buffers, or -1. */
int sch_intrin_slot(const TsIntrin *intrin, const TsTensor *tensor);
/* Registers the built-in intrinsics of one family into arena (intrin_x86.c,
 * intrin_amx.c, intrin_aarch64.c); false when one cannot be declared. */
bool sch_intrin_register_x86(TsArena *arena, TsError *err);
bool sch_intrin_register_amx(TsArena *arena, TsError *err);
bool sch_intrin_register_aarch64(TsArena *arena, TsError *err);
/* The dot-product declaration the built-ins share, named name:
 *   c[lanes] (acc) += sum_k cast(acc, a[k]) * cast(acc, b[lanes, group]),  k < group
 * with dense strides, requiring the features given (NULL-terminated), with the emitters
 * given (and their user data) and registered; false with err filled. */
bool sch_intrin_dot(TsArena *arena, const char *name, int lanes, int group, TsDType a,
                    TsDType b, TsDType acc, const char *const *features,
                    TsIntrinEmitter reset, TsIntrinEmitter update, void *user, TsError *err);
/* An emitter that stores zeros into the output region (the last region), in one vector. */
TsStmt *sch_intrin_zero_output(TsArena *arena, const TsIntrin *intrin,
                               const TsIntrinRegion *const *regions, void *user);
/* Adds a built-in to the registry (intrin.c), as ts_intrin_register without the
 * built-ins' own registration; false with err filled. */
bool sch_intrin_add_builtin(const TsIntrin *intrin, TsError *err);

/* Where lowering meets a tensorized stage: the region's leaves and what the stage computes
 * there, lowered (loads of buffers, indices in leaf variables). */
typedef struct SchTensorizeSite {
    const char *stage;
    const TsAxis *axis;
    const TsIntrin *intrin;
    int num_inner;
    const TsAxis *inner[SCH_MAX_REORDER]; /* the leaves from axis inwards */
    int64_t inner_extent[SCH_MAX_REORDER];
    int num_outer_reduce;
    TsExpr *outer_reduce[SCH_MAX_REORDER]; /* variables of the reduce leaves outside */
    int num_ranges;
    const TeRange *ranges; /* the whole ranges of every loop of the nest */
    TsExpr *guard;            /* the stage's guards (split tails, attached region), or NULL */
    const TeBuffer *out;
    int out_ndim;
    TsExpr *out_indices[TS_MAX_DIMS];
    const TsReducer *reducer; /* NULL: not a reduction */
    TsExpr *value;            /* the reduction's source, or the value stored */
    TsExpr *cond;             /* the reduction's condition, or NULL */
} SchTensorizeSite;

/* The statements that compute the site with its intrinsic (TENSORIZE statements, guarded
 * as the file says), or NULL with TS_ESCHEDULE recorded in arena naming the stage and the
 * first mismatch. */
TeStmt *sch_tensorize_site(TsArena *arena, const SchTensorizeSite *site);

/* A reducer's identity in dtype t, and combine(acc, x) (lower.c). */
TsExpr *sch_reducer_identity(TsArena *arena, const TsReducer *r, TsDType t);
TsExpr *sch_reducer_combine(TsArena *arena, const TsReducer *r, TsExpr *acc, TsExpr *x);

/* Builds a lowered function record. */
TsLoweredFunc *sch_func(TsArena *arena, const char *name, int num_args, const TeBuffer **args,
                        TeStmt *body);
/* The same function with another body. */
TsLoweredFunc *sch_func_with_body(TsArena *arena, const TsLoweredFunc *func, TeStmt *body);

#endif /* TESSERA_SCH_INTERNAL_H */
