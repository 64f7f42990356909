/* Shape and type rules of the shape and layout operators (Concat, Split, Slice, Pad,
 * Reshape, Flatten, Transpose, Squeeze, Unsqueeze, Shape, Gather, Expand) and of
 * resizing (Resize, Upsample). Part of inference (infer.c).
 *
 * Several take a shape, axes or scales as an input whose contents decide the output's
 * shape. They are read when the input is a constant (an initializer or a Constant node);
 * when it is computed by other nodes, the extents stay unknown until constant folding
 * makes it a constant and inference runs again; when it is a graph input, the shape is
 * dynamic and cannot be fixed, which is an error. */
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "relay_lite/infer_rules.h"

enum { MAX_LIST = 4 * TS_MAX_DIMS };

/* The integer contents of optional input k. *count is -1 when the input is omitted;
 * *known false when it waits for constant folding. */
static TsStatus const_input_ints(const TsGraph *g, const RlyNode *n, int k, const char *what,
                                 int64_t *out, int *count, bool *known, TsError *err)
{
    const RlyValue *v = rly_input(n, k);
    *count = -1;
    *known = true;
    if (!v)
        return TS_OK;
    if (!ts_dtype_eq(v->dtype, TS_INT64) && !ts_dtype_eq(v->dtype, TS_INT32))
        return rly_node_fail(g, n, err, TS_EINVAL, "input %d (%s) \"%s\" must be int32 or int64", k,
                             what, v->name);
    if (rly_const_ints(v, out, MAX_LIST, count))
        return TS_OK;
    if (v->constant)
        return rly_node_fail(g, n, err, TS_EINVAL,
                             "input %d (%s) \"%s\" must be a 1-D list of "
                             "at most %d values",
                             k, what, v->name, MAX_LIST);
    if (v->kind == RLY_VALUE_INPUT)
        return rly_node_fail(g, n, err, TS_EINVAL,
                             "input %d (%s) \"%s\" is a graph input: the "
                             "output shape is dynamic and cannot be fixed",
                             k, what, v->name);
    *known = false;
    return TS_OK;
}

static void unknown_extents(RlyNode *n, int k, int ndim)
{
    rly_set_output(n, k, rly_input(n, 0)->dtype, ndim, NULL);
}

/* ---- Concat, Split ---- */

TsStatus rly_infer_concat(TsGraph *g, RlyNode *n, TsError *err)
{
    const RlyValue *x = rly_input(n, 0);
    int64_t axis_attr = 0;
    int axis = 0;
    TsStatus status = rly_need_inputs(g, n, 1, 1 << 20, err);
    if (status == TS_OK && !rly_node_attr(n, "axis"))
        return rly_node_fail(g, n, err, TS_EINVAL, "attribute axis is required");
    if (status == TS_OK)
        status = rly_attr_int(g, n, "axis", 0, &axis_attr, err);
    if (status != TS_OK)
        return status;
    int64_t dims[TS_MAX_DIMS];
    int ndim = x->ndim;
    memcpy(dims, x->dims, sizeof dims);
    if (ndim >= 0)
        status = rly_axis(g, n, axis_attr, ndim, "attribute axis", &axis, err);
    for (int k = 1; status == TS_OK && k < n->num_inputs; k++) {
        const RlyValue *y = rly_input(n, k);
        if (!y)
            return rly_node_fail(g, n, err, TS_EINVAL, "input %d is omitted", k);
        status = rly_same_dtype(g, n, 0, k, err);
        if (status != TS_OK || ndim < 0 || y->ndim < 0) {
            ndim = y->ndim < 0 ? -1 : ndim;
            continue;
        }
        if (y->ndim != ndim)
            return rly_node_fail(g, n, err, TS_EINVAL,
                                 "input %d \"%s\" has rank %d, input 0 rank "
                                 "%d",
                                 k, y->name, y->ndim, ndim);
        for (int d = 0; d < ndim; d++) {
            if (d == axis)
                dims[d] = dims[d] < 0 || y->dims[d] < 0 ? -1 : dims[d] + y->dims[d];
            else if (dims[d] >= 0 && y->dims[d] >= 0 && dims[d] != y->dims[d])
                return rly_node_fail(g, n, err, TS_EINVAL,
                                     "input %d \"%s\" has extent %" PRId64
                                     " in dimension %d, input 0 %" PRId64,
                                     k, y->name, y->dims[d], d, dims[d]);
            else if (dims[d] < 0)
                dims[d] = y->dims[d];
        }
    }
    if (status == TS_OK)
        rly_set_output(n, 0, x->dtype, ndim, ndim >= 0 ? dims : NULL);
    return status;
}

/* The extents of Split's outputs along the axis: given (attribute before opset 13, input
 * since), num_outputs (opset 18: equal chunks, the last one smaller), or equal parts. */
static TsStatus split_sizes(TsGraph *g, RlyNode *n, int64_t extent, int64_t *sizes, bool *known,
                            TsError *err)
{
    int count = -1;
    int64_t num_outputs = 0;
    TsStatus status = g->opset >= 13 ? const_input_ints(g, n, 1, "split", sizes, &count, known, err)
                                     : rly_attr_ints(g, n, "split", MAX_LIST, sizes, &count, err);
    if (status == TS_OK && g->opset >= 18)
        status = rly_attr_int(g, n, "num_outputs", 0, &num_outputs, err);
    if (status != TS_OK || !*known)
        return status;
    if (count >= 0) {
        int64_t total = 0;
        if (count != n->num_outputs)
            return rly_node_fail(g, n, err, TS_EINVAL, "split lists %d sizes for %d outputs", count,
                                 n->num_outputs);
        for (int k = 0; k < count; k++) {
            if (sizes[k] < 0 || sizes[k] > TS_MAX_EXTENT)
                return rly_node_fail(g, n, err, TS_EINVAL, "split size %d is %" PRId64, k,
                                     sizes[k]);
            total += sizes[k];
        }
        if (extent >= 0 && total != extent)
            return rly_node_fail(g, n, err, TS_EINVAL,
                                 "split sizes add up to %" PRId64 ", the "
                                 "axis has %" PRId64,
                                 total, extent);
        return TS_OK;
    }
    if (num_outputs && num_outputs != n->num_outputs)
        return rly_node_fail(g, n, err, TS_EINVAL,
                             "attribute num_outputs = %" PRId64 " but the "
                             "node has %d outputs",
                             num_outputs, n->num_outputs);
    if (extent < 0) {
        *known = false;
        return TS_OK;
    }
    int64_t parts = n->num_outputs;
    if (!num_outputs && extent % parts)
        return rly_node_fail(g, n, err, TS_EINVAL,
                             "the axis extent %" PRId64 " does not split "
                             "into %" PRId64 " equal parts",
                             extent, parts);
    int64_t chunk = (extent + parts - 1) / parts;
    for (int k = 0; k < parts; k++) {
        int64_t left = extent - k * chunk;
        sizes[k] = left < 0 ? 0 : left < chunk ? left : chunk;
    }
    return TS_OK;
}

TsStatus rly_infer_split(TsGraph *g, RlyNode *n, TsError *err)
{
    const RlyValue *x = rly_input(n, 0);
    int64_t axis_attr = 0, sizes[MAX_LIST];
    int axis = 0;
    bool known = true;
    TsStatus status = rly_need_inputs(g, n, 1, g->opset >= 13 ? 2 : 1, err);
    if (status == TS_OK)
        status = rly_attr_int(g, n, "axis", 0, &axis_attr, err);
    if (status == TS_OK && n->num_outputs > MAX_LIST)
        return rly_node_fail(g, n, err, TS_EINVAL, "%d outputs, more than %d", n->num_outputs,
                             MAX_LIST);
    if (status != TS_OK)
        return status;
    if (x->ndim < 0) {
        for (int k = 0; k < n->num_outputs; k++)
            unknown_extents(n, k, -1);
        return TS_OK;
    }
    status = rly_axis(g, n, axis_attr, x->ndim, "attribute axis", &axis, err);
    if (status == TS_OK)
        status = split_sizes(g, n, x->dims[axis], sizes, &known, err);
    if (status != TS_OK)
        return status;
    for (int k = 0; k < n->num_outputs; k++) {
        int64_t dims[TS_MAX_DIMS];
        memcpy(dims, x->dims, sizeof dims);
        dims[axis] = known ? sizes[k] : -1;
        rly_set_output(n, k, x->dtype, x->ndim, dims);
    }
    return TS_OK;
}

/* ---- Slice ---- */

static int64_t clamp(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* The extent of one sliced dimension, as ONNX clamps starts and ends. Written so that
 * no step or bound, INT64_MIN and INT64_MAX included, overflows. */
static int64_t slice_extent(int64_t dim, int64_t start, int64_t end, int64_t step)
{
    if (start < 0)
        start += dim;
    if (end < 0)
        end += dim;
    if (step > 0) {
        start = clamp(start, 0, dim);
        end = clamp(end, 0, dim);
        return end > start ? 1 + (end - start - 1) / step : 0;
    }
    start = clamp(start, 0, dim - 1);
    end = clamp(end, -1, dim - 1);
    if (start <= end)
        return 0;
    return step < -dim ? 1 : 1 + (start - end - 1) / -step;
}

TsStatus rly_infer_slice(TsGraph *g, RlyNode *n, TsError *err)
{
    const RlyValue *x = rly_input(n, 0);
    bool inputs_form = g->opset >= 10, known[4] = { true, true, true, true };
    int64_t lists[4][MAX_LIST]; /* starts, ends, axes, steps */
    int counts[4] = { -1, -1, -1, -1 };
    static const char *const names[4] = { "starts", "ends", "axes", "steps" };
    TsStatus status = rly_need_inputs(g, n, inputs_form ? 3 : 1, inputs_form ? 5 : 1, err);
    for (int k = 0; status == TS_OK && k < (inputs_form ? 4 : 3); k++)
        status = inputs_form
                     ? const_input_ints(g, n, k + 1, names[k], lists[k], &counts[k], &known[k], err)
                     : rly_attr_ints(g, n, names[k], MAX_LIST, lists[k], &counts[k], err);
    if (status != TS_OK)
        return status;
    if (!inputs_form && (counts[0] < 0 || counts[1] < 0))
        return rly_node_fail(g, n, err, TS_EINVAL, "attributes starts and ends are required");
    if (x->ndim < 0 || !known[0] || !known[1] || !known[2] || !known[3]) {
        unknown_extents(n, 0, x->ndim);
        return TS_OK;
    }
    if (counts[1] != counts[0] || (counts[2] >= 0 && counts[2] != counts[0]) ||
        (counts[3] >= 0 && counts[3] != counts[0]))
        return rly_node_fail(g, n, err, TS_EINVAL, "starts, ends, axes and steps differ in length");
    int64_t dims[TS_MAX_DIMS];
    bool seen[TS_MAX_DIMS] = { false };
    memcpy(dims, x->dims, sizeof dims);
    for (int k = 0; k < counts[0]; k++) {
        int axis = k;
        int64_t step = counts[3] >= 0 ? lists[3][k] : 1;
        status = rly_axis(g, n, counts[2] >= 0 ? lists[2][k] : k, x->ndim, "axis", &axis, err);
        if (status != TS_OK)
            return status;
        if (seen[axis])
            return rly_node_fail(g, n, err, TS_EINVAL, "axis %d is sliced twice", axis);
        if (step == 0)
            return rly_node_fail(g, n, err, TS_EINVAL, "step %d is 0", k);
        seen[axis] = true;
        dims[axis] =
            x->dims[axis] < 0 ? -1 : slice_extent(x->dims[axis], lists[0][k], lists[1][k], step);
    }
    rly_set_output(n, 0, x->dtype, x->ndim, dims);
    return TS_OK;
}

/* ---- Pad ---- */

static TsStatus pad_mode(TsGraph *g, RlyNode *n, TsError *err)
{
    const char *mode = NULL;
    TsStatus status = rly_attr_string(g, n, "mode", "constant", &mode, err);
    if (status == TS_OK && strcmp(mode, "constant") && strcmp(mode, "reflect") &&
        strcmp(mode, "edge"))
        return rly_node_fail(g, n, err, TS_EINVAL,
                             "attribute mode = \"%s\" is not supported "
                             "(constant, reflect, edge)",
                             mode);
    return status;
}

TsStatus rly_infer_pad(TsGraph *g, RlyNode *n, TsError *err)
{
    const RlyValue *x = rly_input(n, 0);
    bool inputs_form = g->opset >= 11, known = true, axes_known = true;
    int64_t pads[MAX_LIST], axes[MAX_LIST];
    int count = -1, num_axes = -1;
    TsStatus status = rly_need_inputs(g, n, inputs_form ? 2 : 1, inputs_form ? 4 : 1, err);
    if (status == TS_OK)
        status = pad_mode(g, n, err);
    if (status == TS_OK)
        status = inputs_form ? const_input_ints(g, n, 1, "pads", pads, &count, &known, err)
                             : rly_attr_ints(g, n, "pads", MAX_LIST, pads, &count, err);
    if (status == TS_OK && inputs_form)
        status = const_input_ints(g, n, 3, "axes", axes, &num_axes, &axes_known, err);
    if (status == TS_OK && rly_input(n, 2))
        status = rly_same_dtype(g, n, 0, 2, err);
    if (status != TS_OK)
        return status;
    if (!inputs_form && count < 0)
        return rly_node_fail(g, n, err, TS_EINVAL, "attribute pads is required");
    if (x->ndim < 0 || !known || !axes_known) {
        unknown_extents(n, 0, x->ndim);
        return TS_OK;
    }
    int padded = num_axes >= 0 ? num_axes : x->ndim;
    if (count != 2 * padded)
        return rly_node_fail(g, n, err, TS_EINVAL, "pads has %d values for %d padded dimensions",
                             count, padded);
    int64_t dims[TS_MAX_DIMS];
    memcpy(dims, x->dims, sizeof dims);
    for (int k = 0; k < padded; k++) {
        int axis = k;
        if (num_axes >= 0 && (status = rly_axis(g, n, axes[k], x->ndim, "axis", &axis, err)))
            return status;
        if (pads[k] < -TS_MAX_EXTENT || pads[k] > TS_MAX_EXTENT ||
            pads[k + padded] < -TS_MAX_EXTENT || pads[k + padded] > TS_MAX_EXTENT)
            return rly_node_fail(g, n, err, TS_EINVAL, "pads of dimension %d are out of range",
                                 axis);
        if (dims[axis] < 0)
            continue;
        dims[axis] += pads[k] + pads[k + padded];
        if (dims[axis] < 0)
            return rly_node_fail(g, n, err, TS_EINVAL, "pads crop dimension %d below zero", axis);
    }
    rly_set_output(n, 0, x->dtype, x->ndim, dims);
    return TS_OK;
}

/* ---- Reshape, Flatten, Transpose, Squeeze, Unsqueeze ---- */

/* Reshape's output from the target shape: 0 copies the input's extent (unless allowzero),
 * one -1 takes what is left. */
static TsStatus reshape_dims(TsGraph *g, RlyNode *n, const int64_t *target, int count,
                             int64_t allowzero, int64_t *dims, TsError *err)
{
    const RlyValue *x = rly_input(n, 0);
    int wildcard = -1;
    int64_t product = 1;
    for (int d = 0; d < count; d++) {
        dims[d] = target[d];
        if (target[d] == -1) {
            if (wildcard >= 0)
                return rly_node_fail(g, n, err, TS_EINVAL, "the shape has more than one -1");
            wildcard = d;
            continue;
        }
        if (target[d] < -1 || target[d] > TS_MAX_EXTENT)
            return rly_node_fail(g, n, err, TS_EINVAL, "shape[%d] is %" PRId64, d, target[d]);
        if (target[d] == 0 && !allowzero) {
            if (d >= x->ndim)
                return rly_node_fail(g, n, err, TS_EINVAL,
                                     "shape[%d] = 0 copies a dimension the "
                                     "input (rank %d) lacks",
                                     d, x->ndim);
            dims[d] = x->dims[d];
        }
        product = dims[d] < 0 || product < 0 ? -1 : product * dims[d];
    }
    if (allowzero && wildcard >= 0 && product == 0)
        return rly_node_fail(g, n, err, TS_EINVAL,
                             "with allowzero = 1 the shape may not hold both "
                             "0 and -1");
    int64_t total = rly_value_known(x) ? rly_value_elements(x) : -1;
    if (wildcard >= 0) {
        if (total < 0 || product < 0)
            dims[wildcard] = -1;
        else if (product == 0 || total % product)
            return rly_node_fail(g, n, err, TS_EINVAL,
                                 "%" PRId64 " elements do not reshape with "
                                 "-1 into a multiple of %" PRId64,
                                 total, product);
        else
            dims[wildcard] = total / product;
    } else if (total >= 0 && product >= 0 && total != product) {
        return rly_node_fail(g, n, err, TS_EINVAL,
                             "%" PRId64 " elements cannot take a shape of "
                             "%" PRId64,
                             total, product);
    }
    return TS_OK;
}

TsStatus rly_infer_reshape(TsGraph *g, RlyNode *n, TsError *err)
{
    const RlyValue *x = rly_input(n, 0), *shape = rly_input(n, 1);
    int64_t allowzero = 0, target[MAX_LIST], dims[TS_MAX_DIMS];
    int count = 0;
    bool known = true;
    TsStatus status = rly_need_inputs(g, n, 2, 2, err);
    if (status == TS_OK && g->opset >= 14)
        status = rly_attr_int(g, n, "allowzero", 0, &allowzero, err);
    if (status == TS_OK)
        status = const_input_ints(g, n, 1, "shape", target, &count, &known, err);
    if (status != TS_OK)
        return status;
    if (!known) {
        int rank = shape->ndim == 1 && shape->dims[0] >= 0 && shape->dims[0] <= TS_MAX_DIMS
                       ? (int)shape->dims[0]
                       : -1;
        unknown_extents(n, 0, rank);
        return TS_OK;
    }
    if (count > TS_MAX_DIMS)
        return rly_node_fail(g, n, err, TS_EINVAL, "the shape has %d dimensions, more than %d",
                             count, TS_MAX_DIMS);
    if (x->ndim < 0) {
        unknown_extents(n, 0, count);
        return TS_OK;
    }
    status = reshape_dims(g, n, target, count, allowzero, dims, err);
    if (status == TS_OK)
        rly_set_output(n, 0, x->dtype, count, dims);
    return status;
}

TsStatus rly_infer_flatten(TsGraph *g, RlyNode *n, TsError *err)
{
    const RlyValue *x = rly_input(n, 0);
    int64_t axis = 1;
    TsStatus status = rly_need_inputs(g, n, 1, 1, err);
    if (status == TS_OK)
        status = rly_attr_int(g, n, "axis", 1, &axis, err);
    if (status != TS_OK || x->ndim < 0) {
        if (status == TS_OK)
            unknown_extents(n, 0, 2);
        return status;
    }
    if (axis < -x->ndim || axis > x->ndim)
        return rly_node_fail(g, n, err, TS_EINVAL,
                             "attribute axis %" PRId64 " is out of range "
                             "for rank %d",
                             axis, x->ndim);
    if (axis < 0)
        axis += x->ndim;
    int64_t dims[2] = { 1, 1 };
    for (int d = 0; d < x->ndim; d++) {
        int64_t *part = &dims[d < axis ? 0 : 1];
        *part = *part < 0 || x->dims[d] < 0 ? -1 : *part * x->dims[d];
    }
    rly_set_output(n, 0, x->dtype, 2, dims);
    return TS_OK;
}

TsStatus rly_infer_transpose(TsGraph *g, RlyNode *n, TsError *err)
{
    const RlyValue *x = rly_input(n, 0);
    int64_t perm[TS_MAX_DIMS], dims[TS_MAX_DIMS];
    int count = -1;
    TsStatus status = rly_need_inputs(g, n, 1, 1, err);
    if (status == TS_OK)
        status = rly_attr_ints(g, n, "perm", TS_MAX_DIMS, perm, &count, err);
    if (status != TS_OK || x->ndim < 0) {
        if (status == TS_OK)
            unknown_extents(n, 0, count);
        return status;
    }
    if (count >= 0 && count != x->ndim)
        return rly_node_fail(g, n, err, TS_EINVAL, "attribute perm has %d values for rank %d",
                             count, x->ndim);
    bool used[TS_MAX_DIMS] = { false };
    for (int d = 0; d < x->ndim; d++) {
        int64_t from = count >= 0 ? perm[d] : x->ndim - 1 - d;
        if (from < 0 || from >= x->ndim || used[from])
            return rly_node_fail(g, n, err, TS_EINVAL,
                                 "attribute perm is not a permutation of "
                                 "0..%d",
                                 x->ndim - 1);
        used[from] = true;
        dims[d] = x->dims[from];
    }
    rly_set_output(n, 0, x->dtype, x->ndim, dims);
    return TS_OK;
}

/* Squeeze and Unsqueeze take axes as an attribute before opset 13, an input since. */
static TsStatus read_axes(TsGraph *g, RlyNode *n, int64_t *axes, int *count, bool *known,
                          TsError *err)
{
    *known = true;
    if (g->opset >= 13)
        return const_input_ints(g, n, 1, "axes", axes, count, known, err);
    return rly_attr_ints(g, n, "axes", MAX_LIST, axes, count, err);
}

TsStatus rly_infer_squeeze(TsGraph *g, RlyNode *n, TsError *err)
{
    const RlyValue *x = rly_input(n, 0);
    int64_t axes[MAX_LIST], dims[TS_MAX_DIMS];
    int count = -1, ndim = 0;
    bool known = true, squeezed[TS_MAX_DIMS] = { false };
    TsStatus status = rly_need_inputs(g, n, 1, g->opset >= 13 ? 2 : 1, err);
    if (status == TS_OK)
        status = read_axes(g, n, axes, &count, &known, err);
    if (status != TS_OK)
        return status;
    if (x->ndim < 0 || !known || (count < 0 && !rly_value_known(x))) {
        unknown_extents(n, 0, -1);
        return TS_OK;
    }
    for (int k = 0; k < count; k++) {
        int axis = 0;
        status = rly_axis(g, n, axes[k], x->ndim, "axis", &axis, err);
        if (status != TS_OK)
            return status;
        if (x->dims[axis] >= 0 && x->dims[axis] != 1)
            return rly_node_fail(g, n, err, TS_EINVAL,
                                 "cannot squeeze dimension %d of extent %" PRId64, axis,
                                 x->dims[axis]);
        squeezed[axis] = true;
    }
    for (int d = 0; d < x->ndim; d++)
        if (!(count >= 0 ? squeezed[d] : x->dims[d] == 1))
            dims[ndim++] = x->dims[d];
    rly_set_output(n, 0, x->dtype, ndim, dims);
    return TS_OK;
}

TsStatus rly_infer_unsqueeze(TsGraph *g, RlyNode *n, TsError *err)
{
    const RlyValue *x = rly_input(n, 0);
    int64_t axes[MAX_LIST], dims[TS_MAX_DIMS];
    int count = -1;
    bool known = true, inserted[TS_MAX_DIMS] = { false };
    TsStatus status = rly_need_inputs(g, n, g->opset >= 13 ? 2 : 1, g->opset >= 13 ? 2 : 1, err);
    if (status == TS_OK)
        status = read_axes(g, n, axes, &count, &known, err);
    if (status != TS_OK)
        return status;
    if (known && count < 0)
        return rly_node_fail(g, n, err, TS_EINVAL, "axes are required");
    if (x->ndim < 0 || !known) {
        unknown_extents(n, 0, -1);
        return TS_OK;
    }
    int rank = x->ndim + count;
    if (rank > TS_MAX_DIMS)
        return rly_node_fail(g, n, err, TS_EINVAL, "the result has %d dimensions, more than %d",
                             rank, TS_MAX_DIMS);
    for (int k = 0; k < count; k++) {
        int axis = 0;
        status = rly_axis(g, n, axes[k], rank, "axis", &axis, err);
        if (status != TS_OK)
            return status;
        if (inserted[axis])
            return rly_node_fail(g, n, err, TS_EINVAL, "axis %d is repeated", axis);
        inserted[axis] = true;
    }
    for (int d = 0, from = 0; d < rank; d++)
        dims[d] = inserted[d] ? 1 : x->dims[from++];
    rly_set_output(n, 0, x->dtype, rank, dims);
    return TS_OK;
}

/* ---- Shape, Gather, Expand ---- */

TsStatus rly_infer_shape(TsGraph *g, RlyNode *n, TsError *err)
{
    const RlyValue *x = rly_input(n, 0);
    int64_t start = 0, end = TS_MAX_DIMS;
    TsStatus status = rly_need_inputs(g, n, 1, 1, err);
    if (status == TS_OK && g->opset >= 15)
        status = rly_attr_int(g, n, "start", 0, &start, err);
    if (status == TS_OK && g->opset >= 15)
        status = rly_attr_int(g, n, "end", INT64_MAX, &end, err);
    if (status != TS_OK)
        return status;
    if (x->ndim < 0) {
        rly_set_output(n, 0, TS_INT64, 1, NULL);
        return TS_OK;
    }
    int64_t length = slice_extent(x->ndim, start, end, 1);
    rly_set_output(n, 0, TS_INT64, 1, &length);
    return TS_OK;
}

TsStatus rly_infer_gather(TsGraph *g, RlyNode *n, TsError *err)
{
    const RlyValue *x = rly_input(n, 0), *indices = rly_input(n, 1);
    int64_t axis_attr = 0, dims[TS_MAX_DIMS];
    int axis = 0;
    TsStatus status = rly_need_inputs(g, n, 2, 2, err);
    if (status == TS_OK)
        status = rly_attr_int(g, n, "axis", 0, &axis_attr, err);
    if (status != TS_OK)
        return status;
    if (!ts_dtype_eq(indices->dtype, TS_INT64) && !ts_dtype_eq(indices->dtype, TS_INT32))
        return rly_node_fail(g, n, err, TS_EINVAL, "indices \"%s\" must be int32 or int64",
                             indices->name);
    if (x->ndim < 0 || indices->ndim < 0) {
        unknown_extents(n, 0, -1);
        return TS_OK;
    }
    status = rly_axis(g, n, axis_attr, x->ndim, "attribute axis", &axis, err);
    int rank = x->ndim - 1 + indices->ndim;
    if (status == TS_OK && rank > TS_MAX_DIMS)
        return rly_node_fail(g, n, err, TS_EINVAL, "the result has %d dimensions, more than %d",
                             rank, TS_MAX_DIMS);
    if (status != TS_OK)
        return status;
    int ndim = 0;
    for (int d = 0; d < axis; d++)
        dims[ndim++] = x->dims[d];
    for (int d = 0; d < indices->ndim; d++)
        dims[ndim++] = indices->dims[d];
    for (int d = axis + 1; d < x->ndim; d++)
        dims[ndim++] = x->dims[d];
    rly_set_output(n, 0, x->dtype, ndim, dims);
    return TS_OK;
}

TsStatus rly_infer_expand(TsGraph *g, RlyNode *n, TsError *err)
{
    const RlyValue *x = rly_input(n, 0), *shape = rly_input(n, 1);
    int64_t target[MAX_LIST];
    int count = 0;
    bool known = true;
    TsStatus status = rly_need_inputs(g, n, 2, 2, err);
    if (status == TS_OK)
        status = const_input_ints(g, n, 1, "shape", target, &count, &known, err);
    if (status != TS_OK)
        return status;
    if (!known) {
        int len = shape->ndim == 1 ? (int)shape->dims[0] : -1;
        unknown_extents(n, 0, x->ndim >= 0 && len >= 0 ? (len > x->ndim ? len : x->ndim) : -1);
        return TS_OK;
    }
    if (count > TS_MAX_DIMS)
        return rly_node_fail(g, n, err, TS_EINVAL, "the shape has %d dimensions, more than %d",
                             count, TS_MAX_DIMS);
    RlyValue target_value = { .name = shape->name, .ndim = count };
    memcpy(target_value.dims, target, (size_t)count * sizeof *target);
    int ndim = x->ndim;
    int64_t dims[TS_MAX_DIMS];
    memcpy(dims, x->dims, sizeof dims);
    status = rly_broadcast(g, n, &ndim, dims, &target_value, err);
    if (status == TS_OK)
        rly_set_output(n, 0, x->dtype, ndim, ndim >= 0 ? dims : NULL);
    return status;
}

/* ---- Resize, Upsample ---- */

static TsStatus check_word(TsGraph *g, RlyNode *n, const char *attr, const char *def,
                           const char *const *allowed, TsError *err)
{
    const char *value = NULL;
    TsStatus status = rly_attr_string(g, n, attr, def, &value, err);
    if (status != TS_OK)
        return status;
    for (int k = 0; allowed[k]; k++)
        if (strcmp(value, allowed[k]) == 0)
            return TS_OK;
    return rly_node_fail(g, n, err, TS_EINVAL, "attribute %s = \"%s\" is not supported", attr,
                         value);
}

/* The attributes of Resize (and Upsample's mode) whose values the importer accepts. */
static TsStatus resize_attributes(TsGraph *g, RlyNode *n, bool upsample, TsError *err)
{
    static const char *const modes[] = { "nearest", "linear", NULL };
    static const char *const transforms[] = { "half_pixel",         "half_pixel_symmetric",
                                              "pytorch_half_pixel", "align_corners",
                                              "asymmetric",         NULL };
    static const char *const nearest[] = { "round_prefer_floor", "round_prefer_ceil", "floor",
                                           "ceil", NULL };
    static const char *const policies[] = { "stretch", NULL };
    TsStatus status = check_word(g, n, "mode", "nearest", modes, err);
    if (status != TS_OK || upsample)
        return status;
    int64_t antialias = 0;
    if (g->opset >= 11)
        status = check_word(g, n, "coordinate_transformation_mode", "half_pixel", transforms, err);
    if (status == TS_OK && g->opset >= 11)
        status = check_word(g, n, "nearest_mode", "round_prefer_floor", nearest, err);
    if (status == TS_OK && g->opset >= 18)
        status = check_word(g, n, "keep_aspect_ratio_policy", "stretch", policies, err);
    if (status == TS_OK && g->opset >= 18)
        status = rly_attr_int(g, n, "antialias", 0, &antialias, err);
    if (status == TS_OK && antialias)
        return rly_node_fail(g, n, err, TS_EINVAL,
                             "attribute antialias = %" PRId64 " is not "
                             "supported",
                             antialias);
    return status;
}

/* The scales or sizes of Resize and Upsample, as inputs or (Upsample-7) an attribute. */
static TsStatus resize_factors(TsGraph *g, RlyNode *n, bool upsample, double *scales,
                               int *num_scales, int64_t *sizes, int *num_sizes, bool *known,
                               TsError *err)
{
    *num_scales = *num_sizes = -1;
    *known = true;
    if (upsample && g->opset < 9) {
        const RlyAttr *attr = rly_node_attr(n, "scales");
        if (!attr || attr->kind != RLY_ATTR_FLOATS || attr->num_values > TS_MAX_DIMS)
            return rly_node_fail(g, n, err, TS_EINVAL, "attribute scales (floats) is required");
        memcpy(scales, attr->floats, (size_t)attr->num_values * sizeof *scales);
        *num_scales = attr->num_values;
        return TS_OK;
    }
    int scales_input = upsample || g->opset == 10 ? 1 : 2;
    const RlyValue *s = rly_input(n, scales_input);
    if (s && !rly_const_floats(s, scales, TS_MAX_DIMS, num_scales)) {
        if (s->constant || s->kind == RLY_VALUE_INPUT)
            return rly_node_fail(g, n, err, TS_EINVAL,
                                 "input %d (scales) \"%s\" must be a "
                                 "constant float list",
                                 scales_input, s->name);
        *known = false;
    }
    if (!upsample && g->opset >= 11) {
        bool sizes_known = true;
        TsStatus status = const_input_ints(g, n, 3, "sizes", sizes, num_sizes, &sizes_known, err);
        if (status != TS_OK)
            return status;
        *known = *known && sizes_known;
    }
    if (*num_scales == 0)
        *num_scales = -1; /* an empty scales tensor stands for an omitted one */
    if (*num_sizes == 0)
        *num_sizes = -1;
    return TS_OK;
}

TsStatus rly_infer_resize(TsGraph *g, RlyNode *n, bool upsample, TsError *err)
{
    const RlyValue *x = rly_input(n, 0);
    double scales[TS_MAX_DIMS];
    int64_t sizes[MAX_LIST], dims[TS_MAX_DIMS];
    int num_scales = -1, num_sizes = -1,
        hi = upsample ? (g->opset >= 9 ? 2 : 1) : (g->opset == 10 ? 2 : 4);
    bool known = true;
    TsStatus status = rly_need_inputs(g, n, upsample || g->opset < 13 ? hi : 1, hi, err);
    if (status == TS_OK && !upsample && g->opset >= 18 && rly_node_attr(n, "axes"))
        return rly_node_fail(g, n, err, TS_EINVAL, "attribute axes is not supported");
    if (status == TS_OK)
        status = resize_attributes(g, n, upsample, err);
    if (status == TS_OK)
        status =
            resize_factors(g, n, upsample, scales, &num_scales, sizes, &num_sizes, &known, err);
    if (status != TS_OK)
        return status;
    if (x->ndim < 0 || !known) {
        unknown_extents(n, 0, x->ndim);
        return TS_OK;
    }
    if ((num_scales >= 0) == (num_sizes >= 0))
        return rly_node_fail(g, n, err, TS_EINVAL, "exactly one of scales and sizes must be given");
    if ((num_scales >= 0 ? num_scales : num_sizes) != x->ndim)
        return rly_node_fail(g, n, err, TS_EINVAL, "%s has %d values for rank %d",
                             num_scales >= 0 ? "scales" : "sizes",
                             num_scales >= 0 ? num_scales : num_sizes, x->ndim);
    for (int d = 0; d < x->ndim; d++) {
        if (num_sizes >= 0)
            dims[d] = sizes[d];
        else if (!(scales[d] > 0) || !(scales[d] * (double)x->dims[d] <= (double)TS_MAX_EXTENT))
            return rly_node_fail(g, n, err, TS_EINVAL,
                                 "scale %d is %g: not positive, or the "
                                 "extent it gives is too large",
                                 d, scales[d]);
        else
            dims[d] = x->dims[d] < 0 ? -1 : (int64_t)floor((double)x->dims[d] * scales[d]);
        if (num_sizes >= 0 && dims[d] < 1)
            return rly_node_fail(g, n, err, TS_EINVAL, "size %d is %" PRId64, d, dims[d]);
    }
    rly_set_output(n, 0, x->dtype, x->ndim, dims);
    return TS_OK;
}
