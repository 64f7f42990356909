/* The schedule language: how a tensor-expression DAG is computed.
 *
 * A schedule holds one stage per compute op of the DAG of its outputs. A stage starts
 * with one loop per output axis (outermost first) followed by one loop per reduce
 * axis; primitives rewrite its list of leaf axes (split, fuse, reorder, tile), tag
 * leaves (vectorize, unroll, parallel, pragma), or say where the stage is computed
 * (compute_at, compute_inline, compute_root). cache_read, cache_write and rfactor add
 * stages. A schedule is data: stages, leaf axes, a log of relations and annotations,
 * printable with ts_schedule_str and replayed by ts_lower.
 *
 * Every primitive checks its request and returns TS_ESCHEDULE (or TS_EINVAL for a bad
 * argument) with a message naming the stage and the axes, leaving the schedule as it
 * was; one that runs out of memory returns TS_ENOMEM, also leaving it as it was. Axes are TsAxis handles: a stage's root axes are its tensor's axes and the
 * reduce axes of its body; split and fuse return new ones.
 */
#ifndef TESSERA_SCHEDULE_H
#define TESSERA_SCHEDULE_H

#include <stdbool.h>
#include <stdint.h>

#include "tessera/te.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct TsSchedule TsSchedule;
typedef struct TsStage TsStage;

/* A schedule for the DAG of the outputs, every stage at its root and no relations. It
 * lives in the arena (as do the axes and stages it creates); NULL with the error in
 * the arena. */
TsSchedule *ts_schedule_create(TsArena *arena, int num_outputs, TsTensor *const *outputs);

/* The stage computing tensor, or NULL when tensor is a placeholder or not in the
 * schedule. */
TsStage *ts_stage(TsSchedule *sch, const TsTensor *tensor);
const char *ts_stage_name(const TsStage *stage);
/* The stage's current leaf axes, outermost first. */
int ts_stage_num_leaves(const TsStage *stage);
TsAxis *ts_stage_leaf(const TsStage *stage, int i);
/* Root axis i: the output axes of the tensor, then the reduce axes of its body. */
int ts_stage_num_root_axes(const TsStage *stage);
TsAxis *ts_stage_root_axis(const TsStage *stage, int i);

/* ---- loop structure ---- */

/* axis -> (outer, inner) with inner of extent factor and outer of ceil(extent / factor).
 * A factor that does not divide the extent leaves a tail that lowering guards and loop
 * partitioning peels off. */
TsStatus ts_split(TsStage *stage, TsAxis *axis, int64_t factor, TsAxis **outer, TsAxis **inner,
                  TsError *err);
/* The same with the outer extent given: inner gets ceil(extent / nparts). */
TsStatus ts_split_nparts(TsStage *stage, TsAxis *axis, int64_t nparts, TsAxis **outer,
                         TsAxis **inner, TsError *err);
/* Splits x and y and orders the loops x.outer, y.outer, x.inner, y.inner. */
TsStatus ts_tile(TsStage *stage, TsAxis *x, TsAxis *y, int64_t x_factor, int64_t y_factor,
                 TsAxis **x_outer, TsAxis **y_outer, TsAxis **x_inner, TsAxis **y_inner,
                 TsError *err);
/* Two adjacent leaves, outer directly around inner, become one of their product's extent. */
TsStatus ts_fuse(TsStage *stage, TsAxis *outer, TsAxis *inner, TsAxis **fused, TsError *err);
/* The given leaves take the positions these leaves occupy, in the given order; other
 * leaves stay where they are. */
TsStatus ts_reorder(TsStage *stage, int num_axes, TsAxis *const *order, TsError *err);

/* ---- annotations ---- */

/* A data-parallel leaf of constant extent becomes vector lanes. */
TsStatus ts_vectorize(TsStage *stage, TsAxis *axis, TsError *err);
/* A leaf of constant extent is unrolled. */
TsStatus ts_unroll(TsStage *stage, TsAxis *axis, TsError *err);
/* A data-parallel leaf runs on the thread pool. */
TsStatus ts_parallel(TsStage *stage, TsAxis *axis, TsError *err);
/* A key = value hint on a leaf's loop, e.g. "unroll_max_extent" = 16 (loops up to that
 * extent inside it are unrolled). */
TsStatus ts_pragma(TsStage *stage, TsAxis *axis, const char *key, int64_t value, TsError *err);

/* ---- where a stage is computed ---- */

/* Computes stage inside parent's loop over axis (a leaf of parent), for the region of
 * its output that parent's iterations inside that loop read. */
TsStatus ts_compute_at(TsStage *stage, TsStage *parent, TsAxis *axis, TsError *err);
/* Substitutes the stage's body into its consumers; not for reductions or outputs. */
TsStatus ts_compute_inline(TsStage *stage, TsError *err);
/* Computes the stage on its own, before its consumers (the default). */
TsStatus ts_compute_root(TsStage *stage, TsError *err);
/* Pads the stride of the dimension of axis (a root axis of stage) in the stage's buffer
 * so that stride % factor == offset. */
TsStatus ts_storage_align(TsStage *stage, TsAxis *axis, int64_t factor, int64_t offset,
                          TsError *err);

/* ---- new stages ---- */

/* A copy of tensor ("<name>.cache") that the given readers (stages that read tensor)
 * read instead. */
TsStatus ts_cache_read(TsSchedule *sch, TsTensor *tensor, int num_readers,
                       TsStage *const *readers, TsTensor **cache, TsError *err);
/* The stage of tensor computes into a new stage "<name>.local" and tensor becomes a copy
 * of it, so the computation can be scheduled inside the copy's loops. */
TsStatus ts_cache_write(TsSchedule *sch, TsTensor *tensor, TsTensor **cache, TsError *err);
/* Splits the reduction of tensor over axis (a reduce leaf of its stage) into a stage
 * "<name>.rf" with axis as a data-parallel axis, and reduces that in tensor's stage. */
TsStatus ts_rfactor(TsSchedule *sch, TsTensor *tensor, TsAxis *axis, TsTensor **factored,
                    TsError *err);

/* ---- text, copies, lowering ---- */

/* The schedule as text: one line per primitive applied, in order, e.g.
 * "split C.i factor=8 -> i.outer i.inner". Stable, for logs and messages. */
const char *ts_schedule_str(TsArena *arena, const TsSchedule *sch);

/* An independent copy of the schedule, its records allocated in arena (the IR nodes are
 * shared, so the original's arena must outlive the copy; it may be the same arena).
 * Primitives applied to the copy leave the original as it was, so one base schedule can
 * be tried with many variations. NULL with the error in arena on failure. */
TsSchedule *ts_schedule_copy(TsArena *arena, const TsSchedule *sch);

/* Lowers the schedule to a loop nest named name and runs the loop passes (simplify,
 * loop partition, storage flatten, vectorize, unroll, storage rewrite). With TS_DUMP
 * set in the environment to a comma-separated list of pass names (or "all"), the IR
 * after each listed pass is written to stderr. */
TsStatus ts_lower(TsSchedule *sch, const char *name, TsLoweredFunc **func, TsError *err);

typedef struct TsLowerOptions {
    /* A vectorized loop that cannot become vector code (e.g. a varying condition over a
     * load) is kept as a scalar loop, with a note on stderr, instead of failing with
     * TS_ECODEGEN. */
    bool allow_scalar_fallback;
    /* Serial loops of at most this constant extent are unrolled (0: only loops marked
     * with ts_unroll, or under an "unroll_max_extent" pragma). */
    int64_t auto_unroll_max_extent;
} TsLowerOptions;

/* ts_lower with options; NULL options are ts_lower's defaults (both off). */
TsStatus ts_lower_with_options(TsSchedule *sch, const char *name, const TsLowerOptions *options,
                               TsLoweredFunc **func, TsError *err);

#ifdef __cplusplus
}
#endif

#endif /* TESSERA_SCHEDULE_H */
