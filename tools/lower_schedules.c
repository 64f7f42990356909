/* The named schedules of `tessera lower`: hand-written schedules for the operators of
 * lower_ops.c, each a short sequence of schedule primitives (<tessera/schedule.h>), the
 * way TVM's tutorials write them in Python.
 *
 * A schedule stops at the first primitive that refuses and returns its status; the
 * primitive's message names the stage and the axes, and cmd_lower.c prints it after the
 * schedule's name. Where a
 * step only pays off under a condition ("vectorize when the tile divides the width"),
 * the condition is checked here and the step skipped otherwise, so every listed
 * schedule lowers for every shape the operator accepts. */
#include <string.h>

#include "tools.h"

/* ---- helpers ---- */

/* The compute op of the DAG whose tag is tag: the output or one of its inputs, or NULL. */
static TsTensor *tagged(TsTensor *output, const char *tag)
{
    if (strcmp(ts_tensor_tag(output), tag) == 0)
        return output;
    for (int i = 0; i < ts_tensor_num_inputs(output); i++) {
        TsTensor *in = ts_tensor_input(output, i);
        if (!ts_tensor_is_placeholder(in) && strcmp(ts_tensor_tag(in), tag) == 0)
            return in;
    }
    return NULL;
}

static TsStatus no_stage(TsError *err, const ToolJob *job, const char *what)
{
    return ts_fail(err, TS_ESCHEDULE, "%s has no %s stage", job->op->name, what);
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* ---- default ---- */

/* Every stage at the root, loops in definition order: what ts_schedule_create gives. */
static TsStatus apply_default(const ToolJob *job, TsError *err)
{
    (void)job;
    (void)err;
    return TS_OK;
}

/* ---- blocked: matrix products ---- */

/* TVM's "How to optimize GEMM on CPU", blocking and loop permutation: bn x bn tiles of
 * the output, k split by 4, the loops ordered i.outer, j.outer, k.outer, i.inner,
 * k.inner, j.inner so that the innermost loop walks a row of B and of C; i.outer runs on
 * the thread pool and j.inner is vectorized when the tile divides the columns (a column
 * tail keeps a guard inside j.inner, which the vectorizer refuses). Tiles are clamped
 * to the matrix. dense applies it to its product stage (the output, or the input of
 * the bias stage). */
static TsStatus apply_blocked(const ToolJob *job, TsError *err)
{
    TsTensor *product = tagged(job->output, job->op->name);
    TsStage *st = product ? ts_stage(job->sch, product) : NULL;
    if (!st)
        return no_stage(err, job, "product");
    int64_t bn = tool_arg(job->op, job->args, "bn");
    TsAxis *i = ts_stage_root_axis(st, 0), *j = ts_stage_root_axis(st, 1);
    TsAxis *k = ts_stage_root_axis(st, 2);
    int64_t bn_i = min64(bn, ts_axis_extent(i)), bn_j = min64(bn, ts_axis_extent(j));
    TsAxis *io, *jo, *ii, *ji, *ko, *ki;
    TsStatus status = ts_tile(st, i, j, bn_i, bn_j, &io, &jo, &ii, &ji, err);
    if (status == TS_OK)
        status = ts_split(st, k, min64(4, ts_axis_extent(k)), &ko, &ki, err);
    if (status == TS_OK)
        status = ts_reorder(st, 6, (TsAxis *[]){ io, jo, ko, ii, ki, ji }, err);
    if (status == TS_OK && ts_axis_extent(j) % bn_j == 0)
        status = ts_vectorize(st, ji, err);
    if (status == TS_OK)
        status = ts_parallel(st, io, err);
    return status;
}

/* ---- conv2d ---- */

/* The conv2d output axes by role, whatever the layout. */
typedef struct ConvAxes {
    TsAxis *n, *f, *y, *x;
    TsAxis *reduce[3];
    int num_reduce;
} ConvAxes;

static void conv_axes(TsStage *st, bool nchw, ConvAxes *a)
{
    a->n = ts_stage_root_axis(st, 0);
    a->f = ts_stage_root_axis(st, nchw ? 1 : 3);
    a->y = ts_stage_root_axis(st, nchw ? 2 : 1);
    a->x = ts_stage_root_axis(st, nchw ? 3 : 2);
    a->num_reduce = ts_stage_num_root_axes(st) - 4;
    for (int r = 0; r < a->num_reduce && r < 3; r++)
        a->reduce[r] = ts_stage_root_axis(st, 4 + r);
}

/* Tiles of tile_h x tile_w output pixels: loops n, y.outer, x.outer, f, the reduction,
 * y.inner, x.inner. The pad stage is computed per tile inside x.outer (the padded
 * window the tile reads, shared by every output channel), and x.inner is vectorized
 * when the tile width divides the output width (no tail). Tiles are clamped to the
 * output size. */
static TsStatus apply_tiled(const ToolJob *job, TsError *err)
{
    TsStage *st = ts_stage(job->sch, job->output);
    if (!st)
        return no_stage(err, job, "conv2d");
    bool nchw = tool_arg(job->op, job->args, "layout") == 0;
    int64_t out_h = ts_tensor_dim(job->output, nchw ? 2 : 1);
    int64_t out_w = ts_tensor_dim(job->output, nchw ? 3 : 2);
    int64_t tile_h = min64(tool_arg(job->op, job->args, "tile_h"), out_h);
    int64_t tile_w = min64(tool_arg(job->op, job->args, "tile_w"), out_w);
    ConvAxes a;
    conv_axes(st, nchw, &a);
    TsAxis *yo, *xo, *yi, *xi, *order[8];
    TsStatus status = ts_tile(st, a.y, a.x, tile_h, tile_w, &yo, &xo, &yi, &xi, err);
    if (status != TS_OK)
        return status;
    int n = 0;
    order[n++] = yo;
    order[n++] = xo;
    order[n++] = a.f;
    for (int r = 0; r < a.num_reduce; r++)
        order[n++] = a.reduce[r];
    order[n++] = yi;
    order[n++] = xi;
    status = ts_reorder(st, n, order, err);
    TsTensor *pad = tagged(job->output, "pad");
    if (status == TS_OK && pad)
        status = ts_compute_at(ts_stage(job->sch, pad), st, xo, err);
    if (status == TS_OK && out_w % tile_w == 0)
        status = ts_vectorize(st, xi, err);
    return status;
}

/* The pad stage substituted into the convolution: no padded copy, a bounds check in
 * the innermost loop instead. */
static TsStatus apply_inline_pad(const ToolJob *job, TsError *err)
{
    TsTensor *pad = tagged(job->output, "pad");
    if (!pad)
        return ts_fail(err, TS_ESCHEDULE, "conv2d has no pad stage to inline (pad=0)");
    return ts_compute_inline(ts_stage(job->sch, pad), err);
}

/* ---- vectorized: elementwise operators ---- */

/* The innermost output loop split by 8, the inner part vectorized. */
static TsStatus apply_vectorized(const ToolJob *job, TsError *err)
{
    TsStage *st = ts_stage(job->sch, job->output);
    if (!st)
        return no_stage(err, job, job->op->name);
    TsAxis *innermost = ts_stage_leaf(st, ts_stage_num_leaves(st) - 1);
    TsAxis *outer, *inner;
    TsStatus status = ts_split(st, innermost, 8, &outer, &inner, err);
    if (status == TS_OK)
        status = ts_vectorize(st, inner, err);
    return status;
}

/* ---- the table ---- */

static const ToolSchedule schedules[] = {
    { "default", "no primitives: every stage at the root, loops in definition order",
      apply_default },
    { "blocked",
      "bn x bn tiles, k split by 4, i.outer parallel, j.inner vectorized when bn "
      "divides the columns",
      apply_blocked },
    { "tiled",
      "tile_h x tile_w output tiles, pad computed per tile, x.inner vectorized "
      "when tile_w divides the width",
      apply_tiled },
    { "inline_pad", "the pad stage inlined into the convolution", apply_inline_pad },
    { "vectorized", "the innermost loop split by 8 and vectorized", apply_vectorized },
};

const ToolSchedule *tool_find_schedule(const char *name)
{
    for (size_t i = 0; i < sizeof schedules / sizeof schedules[0]; i++)
        if (strcmp(schedules[i].name, name) == 0)
            return &schedules[i];
    return NULL;
}

bool tool_op_has_schedule(const ToolOp *op, const char *name)
{
    if (strcmp(name, "default") == 0)
        return true;
    for (int i = 0; i < TOOL_MAX_SCHEDULES && op->schedules[i]; i++)
        if (strcmp(op->schedules[i], name) == 0)
            return true;
    return false;
}
