/* Shape and type rules of the neural-network operators: convolutions (Conv 1-D and 2-D with
 * groups, dilations and every auto_pad; ConvTranspose 2-D), pooling (MaxPool, AveragePool
 * with ceil_mode, pads and auto_pad; GlobalAveragePool), Gemm, MatMul (batched, broadcast,
 * vector promotion), BatchNormalization and LayerNormalization. Part of inference
 * (infer.c); each rule checks its attributes and refuses the values it cannot run. */
#include <inttypes.h>
#include <string.h>

#include "relay_lite/infer_rules.h"

/* The common attributes of windows (convolutions and pools) over `spatial` dimensions. */
typedef struct Window {
    int spatial;
    int64_t kernel[TS_MAX_DIMS];
    int64_t strides[TS_MAX_DIMS];
    int64_t dilations[TS_MAX_DIMS];
    int64_t pads[2 * TS_MAX_DIMS]; /* begins, then ends */
    const char *auto_pad;
} Window;

static TsStatus positive_list(const TsGraph *g, const RlyNode *n, const char *name, int spatial,
                              int64_t *out, TsError *err)
{
    int count = 0;
    TsStatus status = rly_attr_ints(g, n, name, TS_MAX_DIMS, out, &count, err);
    if (status != TS_OK)
        return status;
    if (count < 0) {
        for (int d = 0; d < spatial; d++)
            out[d] = 1;
        return TS_OK;
    }
    if (count != spatial)
        return rly_node_fail(g, n, err, TS_EINVAL,
                             "attribute %s has %d values for %d spatial "
                             "dimensions",
                             name, count, spatial);
    for (int d = 0; d < spatial; d++)
        if (out[d] < 1 || out[d] > TS_MAX_EXTENT)
            return rly_node_fail(g, n, err, TS_EINVAL,
                                 "attribute %s: value %d is %" PRId64 ", not in [1, %" PRId64 "]",
                                 name, d, out[d], (int64_t)TS_MAX_EXTENT);
    return TS_OK;
}

/* Reads kernel_shape (or takes the weight's), strides, dilations, pads and auto_pad. */
static TsStatus read_window(const TsGraph *g, const RlyNode *n, int spatial,
                            const int64_t *weight_kernel, bool has_dilations, Window *w,
                            TsError *err)
{
    memset(w, 0, sizeof *w);
    w->spatial = spatial;
    int count = 0;
    TsStatus status = rly_attr_ints(g, n, "kernel_shape", TS_MAX_DIMS, w->kernel, &count, err);
    if (status != TS_OK)
        return status;
    if (count < 0 && !weight_kernel)
        return rly_node_fail(g, n, err, TS_EINVAL, "attribute kernel_shape is required");
    if (count >= 0 && count != spatial)
        return rly_node_fail(g, n, err, TS_EINVAL,
                             "attribute kernel_shape has %d values for %d "
                             "spatial dimensions",
                             count, spatial);
    for (int d = 0; d < spatial; d++) {
        if (count < 0)
            w->kernel[d] = weight_kernel[d];
        else if (weight_kernel && weight_kernel[d] >= 0 && weight_kernel[d] != w->kernel[d])
            return rly_node_fail(g, n, err, TS_EINVAL,
                                 "attribute kernel_shape[%d] = %" PRId64
                                 " disagrees with the weight's %" PRId64,
                                 d, w->kernel[d], weight_kernel[d]);
        if (count >= 0 && (w->kernel[d] < 1 || w->kernel[d] > TS_MAX_EXTENT))
            return rly_node_fail(g, n, err, TS_EINVAL, "attribute kernel_shape[%d] is %" PRId64, d,
                                 w->kernel[d]);
    }
    status = positive_list(g, n, "strides", spatial, w->strides, err);
    if (status == TS_OK && has_dilations)
        status = positive_list(g, n, "dilations", spatial, w->dilations, err);
    else
        for (int d = 0; d < spatial; d++)
            w->dilations[d] = 1;
    if (status == TS_OK)
        status = rly_attr_ints(g, n, "pads", 2 * TS_MAX_DIMS, w->pads, &count, err);
    if (status == TS_OK && count >= 0 && count != 2 * spatial)
        return rly_node_fail(g, n, err, TS_EINVAL,
                             "attribute pads has %d values for %d spatial "
                             "dimensions (expected %d)",
                             count, spatial, 2 * spatial);
    for (int d = 0; status == TS_OK && count >= 0 && d < 2 * spatial; d++)
        if (w->pads[d] < 0 || w->pads[d] > TS_MAX_EXTENT)
            return rly_node_fail(g, n, err, TS_EINVAL,
                                 "attribute pads[%d] is %" PRId64 ", out of range", d, w->pads[d]);
    if (status == TS_OK)
        status = rly_attr_string(g, n, "auto_pad", "NOTSET", &w->auto_pad, err);
    if (status != TS_OK)
        return status;
    if (strcmp(w->auto_pad, "NOTSET") && strcmp(w->auto_pad, "SAME_UPPER") &&
        strcmp(w->auto_pad, "SAME_LOWER") && strcmp(w->auto_pad, "VALID"))
        return rly_node_fail(g, n, err, TS_EINVAL,
                             "attribute auto_pad = \"%s\" is not one of "
                             "NOTSET, SAME_UPPER, SAME_LOWER, VALID",
                             w->auto_pad);
    return TS_OK;
}

static int64_t ceil_div(int64_t a, int64_t b)
{
    return a >= 0 ? (a + b - 1) / b : -(-a / b);
}

/* Output extent of a window sliding over extent in along dimension d; -1 when in is. */
static TsStatus window_extent(const TsGraph *g, const RlyNode *n, const Window *w, int d,
                              int64_t in, bool ceil_mode, int64_t *out, TsError *err)
{
    if (in < 0 || w->kernel[d] < 0) {
        *out = -1;
        return TS_OK;
    }
    int64_t span = (w->kernel[d] - 1) * w->dilations[d] + 1, s = w->strides[d];
    if (strcmp(w->auto_pad, "SAME_UPPER") == 0 || strcmp(w->auto_pad, "SAME_LOWER") == 0) {
        *out = ceil_div(in, s);
        return TS_OK;
    }
    int64_t pb = 0, pe = 0;
    if (strcmp(w->auto_pad, "NOTSET") == 0) {
        pb = w->pads[d];
        pe = w->pads[d + w->spatial];
    }
    int64_t room = in + pb + pe - span;
    if (room < 0)
        return rly_node_fail(g, n, err, TS_EINVAL,
                             "the window (%" PRId64 " wide with dilation) "
                             "is larger than the padded input (%" PRId64 ") in spatial "
                             "dimension %d",
                             span, in + pb + pe, d);
    *out = (ceil_mode ? ceil_div(room, s) : room / s) + 1;
    /* The last window must start inside the input or its leading padding. */
    if (ceil_mode && (*out - 1) * s >= in + pb)
        (*out)--;
    return TS_OK;
}

static TsStatus need_rank(const TsGraph *g, const RlyNode *n, const RlyValue *x, int lo, int hi,
                          const char *what, TsError *err)
{
    if (x->ndim >= lo && x->ndim <= hi)
        return TS_OK;
    return rly_node_fail(g, n, err, TS_EINVAL, "input \"%s\" has rank %d; %s", x->name, x->ndim,
                         what);
}

/* ---- Conv, ConvTranspose ---- */

static TsStatus conv_channels(const TsGraph *g, const RlyNode *n, const RlyValue *x,
                              const RlyValue *w, int64_t group, bool transpose, int64_t *m,
                              TsError *err)
{
    int64_t c = x->dims[1];
    if (!transpose) {
        *m = w->dims[0];
        if (c >= 0 && w->dims[1] >= 0 && c != w->dims[1] * group)
            return rly_node_fail(g, n, err, TS_EINVAL,
                                 "input \"%s\" has %" PRId64 " channels, "
                                 "but the weight \"%s\" takes %" PRId64 " x group %" PRId64,
                                 x->name, c, w->name, w->dims[1], group);
        if (*m >= 0 && *m % group)
            return rly_node_fail(g, n, err, TS_EINVAL,
                                 "%" PRId64 " output channels are not "
                                 "divisible by group %" PRId64,
                                 *m, group);
        return TS_OK;
    }
    *m = w->dims[1] >= 0 ? w->dims[1] * group : -1;
    if (c >= 0 && w->dims[0] >= 0 && c != w->dims[0])
        return rly_node_fail(g, n, err, TS_EINVAL,
                             "input \"%s\" has %" PRId64 " channels, but "
                             "the weight \"%s\" has %" PRId64,
                             x->name, c, w->name, w->dims[0]);
    if (c >= 0 && c % group)
        return rly_node_fail(g, n, err, TS_EINVAL,
                             "%" PRId64 " input channels are not divisible "
                             "by group %" PRId64,
                             c, group);
    return TS_OK;
}

static TsStatus check_bias(const TsGraph *g, const RlyNode *n, int64_t m, TsError *err)
{
    const RlyValue *b = rly_input(n, 2);
    if (!b)
        return TS_OK;
    if (!ts_dtype_eq(b->dtype, rly_input(n, 0)->dtype))
        return rly_node_fail(g, n, err, TS_EINVAL, "bias \"%s\" has another dtype than the input",
                             b->name);
    if (b->ndim >= 0 && (b->ndim != 1 || (m >= 0 && b->dims[0] >= 0 && b->dims[0] != m)))
        return rly_node_fail(g, n, err, TS_EINVAL, "bias \"%s\" must have shape [%" PRId64 "]",
                             b->name, m);
    return TS_OK;
}

/* ConvTranspose's output extent along d (ONNX's formula, output_shape taking precedence). */
static TsStatus transpose_extent(const TsGraph *g, const RlyNode *n, const Window *w, int d,
                                 int64_t in, const int64_t *output_padding, int64_t *out,
                                 TsError *err)
{
    if (in < 0 || w->kernel[d] < 0) {
        *out = -1;
        return TS_OK;
    }
    int64_t span = (w->kernel[d] - 1) * w->dilations[d] + 1;
    if (strcmp(w->auto_pad, "SAME_UPPER") == 0 || strcmp(w->auto_pad, "SAME_LOWER") == 0)
        *out = in * w->strides[d];
    else if (strcmp(w->auto_pad, "VALID") == 0)
        *out = w->strides[d] * (in - 1) + output_padding[d] + span;
    else
        *out = w->strides[d] * (in - 1) + output_padding[d] + span - w->pads[d] -
               w->pads[d + w->spatial];
    if (*out < 1)
        return rly_node_fail(g, n, err, TS_EINVAL,
                             "spatial dimension %d of the output would be "
                             "%" PRId64,
                             d, *out);
    return TS_OK;
}

static TsStatus transpose_spatial(const TsGraph *g, const RlyNode *n, const Window *w,
                                  const RlyValue *x, int64_t *dims, TsError *err)
{
    int64_t output_padding[TS_MAX_DIMS] = { 0 }, output_shape[TS_MAX_DIMS];
    int count = 0, shape_count = 0;
    TsStatus status =
        rly_attr_ints(g, n, "output_padding", TS_MAX_DIMS, output_padding, &count, err);
    if (status == TS_OK && count >= 0 && count != w->spatial)
        return rly_node_fail(g, n, err, TS_EINVAL,
                             "attribute output_padding has %d values for %d "
                             "spatial dimensions",
                             count, w->spatial);
    if (count < 0)
        memset(output_padding, 0, sizeof output_padding);
    if (status == TS_OK)
        status = rly_attr_ints(g, n, "output_shape", TS_MAX_DIMS, output_shape, &shape_count, err);
    if (status != TS_OK)
        return status;
    if (shape_count >= 0 && shape_count != w->spatial)
        return rly_node_fail(g, n, err, TS_EINVAL,
                             "attribute output_shape has %d values for %d "
                             "spatial dimensions",
                             shape_count, w->spatial);
    for (int d = 0; d < w->spatial; d++) {
        if (output_padding[d] < 0 || output_padding[d] >= w->strides[d])
            return rly_node_fail(g, n, err, TS_EINVAL,
                                 "attribute output_padding[%d] = %" PRId64
                                 " must lie in [0, stride)",
                                 d, output_padding[d]);
        if (shape_count >= 0 && (output_shape[d] < 1 || output_shape[d] > TS_MAX_EXTENT))
            return rly_node_fail(g, n, err, TS_EINVAL, "attribute output_shape[%d] is %" PRId64, d,
                                 output_shape[d]);
        status = shape_count >= 0 ? TS_OK
                                  : transpose_extent(g, n, w, d, x->dims[d + 2], output_padding,
                                                     &dims[d + 2], err);
        if (shape_count >= 0)
            dims[d + 2] = output_shape[d];
        if (status != TS_OK)
            return status;
    }
    return TS_OK;
}

TsStatus rly_infer_conv(TsGraph *g, RlyNode *n, bool transpose, TsError *err)
{
    const RlyValue *x = rly_input(n, 0), *w = rly_input(n, 1);
    TsStatus status = rly_need_inputs(g, n, 2, 3, err);
    if (status == TS_OK)
        status = rly_need_float(g, n, 0, err);
    if (status == TS_OK)
        status = rly_same_dtype(g, n, 0, 1, err);
    if (status != TS_OK)
        return status;
    if (x->ndim < 0 || w->ndim < 0) {
        rly_set_output(n, 0, x->dtype, -1, NULL);
        return TS_OK;
    }
    status = transpose ? need_rank(g, n, x, 4, 4,
                                   "ConvTranspose is supported in 2-D (rank 4) "
                                   "only",
                                   err)
                       : need_rank(g, n, x, 3, 4,
                                   "Conv is supported in 1-D and 2-D (rank 3 and "
                                   "4) only",
                                   err);
    if (status != TS_OK)
        return status;
    if (w->ndim != x->ndim)
        return rly_node_fail(g, n, err, TS_EINVAL, "weight \"%s\" has rank %d, the input rank %d",
                             w->name, w->ndim, x->ndim);
    int64_t group = 1, m = -1;
    Window win;
    status = rly_attr_int(g, n, "group", 1, &group, err);
    if (status == TS_OK && group < 1)
        return rly_node_fail(g, n, err, TS_EINVAL, "attribute group is %" PRId64, group);
    if (status == TS_OK)
        status = read_window(g, n, x->ndim - 2, w->dims + 2, true, &win, err);
    if (status == TS_OK)
        status = conv_channels(g, n, x, w, group, transpose, &m, err);
    if (status == TS_OK)
        status = check_bias(g, n, m, err);
    if (status != TS_OK)
        return status;
    int64_t dims[TS_MAX_DIMS] = { x->dims[0], m };
    if (transpose)
        status = transpose_spatial(g, n, &win, x, dims, err);
    for (int d = 0; !transpose && status == TS_OK && d < win.spatial; d++)
        status = window_extent(g, n, &win, d, x->dims[d + 2], false, &dims[d + 2], err);
    if (status == TS_OK)
        rly_set_output(n, 0, x->dtype, x->ndim, dims);
    return status;
}

/* ---- pools ---- */

TsStatus rly_infer_pool(TsGraph *g, RlyNode *n, bool max, TsError *err)
{
    const RlyValue *x = rly_input(n, 0);
    TsStatus status = rly_need_inputs(g, n, 1, 1, err);
    if (status != TS_OK)
        return status;
    if (max && rly_output(n, 1))
        return rly_node_fail(g, n, err, TS_EINVAL, "output 1 (Indices) is not supported");
    if (x->ndim < 0) {
        rly_set_output(n, 0, x->dtype, -1, NULL);
        return TS_OK;
    }
    status =
        need_rank(g, n, x, 3, 4, "pooling is supported in 1-D and 2-D (rank 3 and 4) only", err);
    Window win;
    int64_t ceil_mode = 0, count_include_pad = 0;
    /* AveragePool has dilations since opset 19, MaxPool since 10. */
    bool has_dilations = g->opset >= (max ? 10 : 19);
    if (status == TS_OK)
        status = read_window(g, n, x->ndim - 2, NULL, has_dilations, &win, err);
    if (status == TS_OK)
        status = rly_attr_int(g, n, "ceil_mode", 0, &ceil_mode, err);
    if (status == TS_OK && !max)
        status = rly_attr_int(g, n, "count_include_pad", 0, &count_include_pad, err);
    if (status != TS_OK)
        return status;
    if (ceil_mode != 0 && ceil_mode != 1)
        return rly_node_fail(g, n, err, TS_EINVAL, "attribute ceil_mode is %" PRId64, ceil_mode);
    if (count_include_pad != 0 && count_include_pad != 1)
        return rly_node_fail(g, n, err, TS_EINVAL, "attribute count_include_pad is %" PRId64,
                             count_include_pad);
    int64_t dims[TS_MAX_DIMS] = { x->dims[0], x->dims[1] };
    for (int d = 0; status == TS_OK && d < win.spatial; d++)
        status = window_extent(g, n, &win, d, x->dims[d + 2], ceil_mode, &dims[d + 2], err);
    if (status == TS_OK)
        rly_set_output(n, 0, x->dtype, x->ndim, dims);
    return status;
}

TsStatus rly_infer_global_pool(TsGraph *g, RlyNode *n, TsError *err)
{
    const RlyValue *x = rly_input(n, 0);
    TsStatus status = rly_need_inputs(g, n, 1, 1, err);
    if (status == TS_OK)
        status = rly_need_float(g, n, 0, err);
    if (status != TS_OK || x->ndim < 0) {
        rly_set_output(n, 0, x->dtype, -1, NULL);
        return status;
    }
    if (x->ndim < 3)
        return need_rank(g, n, x, 3, TS_MAX_DIMS, "GlobalAveragePool needs rank 3 or more", err);
    int64_t dims[TS_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++)
        dims[d] = d < 2 ? x->dims[d] : 1;
    rly_set_output(n, 0, x->dtype, x->ndim, dims);
    return TS_OK;
}

/* ---- Gemm, MatMul ---- */

TsStatus rly_infer_gemm(TsGraph *g, RlyNode *n, TsError *err)
{
    const RlyValue *a = rly_input(n, 0), *b = rly_input(n, 1), *c = rly_input(n, 2);
    int64_t trans_a = 0, trans_b = 0;
    double alpha, beta;
    TsStatus status = rly_need_inputs(g, n, 2, 3, err);
    if (status == TS_OK)
        status = rly_same_dtype(g, n, 0, 1, err);
    if (status == TS_OK && c)
        status = rly_same_dtype(g, n, 0, 2, err);
    if (status == TS_OK)
        status = rly_attr_int(g, n, "transA", 0, &trans_a, err);
    if (status == TS_OK)
        status = rly_attr_int(g, n, "transB", 0, &trans_b, err);
    if (status == TS_OK)
        status = rly_attr_float(g, n, "alpha", 1.0, &alpha, err);
    if (status == TS_OK)
        status = rly_attr_float(g, n, "beta", 1.0, &beta, err);
    if (status != TS_OK)
        return status;
    if (a->ndim < 0 || b->ndim < 0) {
        rly_set_output(n, 0, a->dtype, 2, NULL);
        return TS_OK;
    }
    status = need_rank(g, n, a, 2, 2, "Gemm takes matrices", err);
    if (status == TS_OK)
        status = need_rank(g, n, b, 2, 2, "Gemm takes matrices", err);
    if (status != TS_OK)
        return status;
    int64_t m = a->dims[trans_a ? 1 : 0], k = a->dims[trans_a ? 0 : 1];
    int64_t kb = b->dims[trans_b ? 1 : 0], nn = b->dims[trans_b ? 0 : 1];
    if (k >= 0 && kb >= 0 && k != kb)
        return rly_node_fail(g, n, err, TS_EINVAL,
                             "A \"%s\" has K = %" PRId64 " but B \"%s\" has "
                             "K = %" PRId64,
                             a->name, k, b->name, kb);
    int64_t dims[2] = { m, nn };
    /* C broadcasts one way, to [M, N]. */
    if (c && c->ndim >= 0) {
        if (c->ndim > 2)
            return need_rank(g, n, c, 0, 2, "Gemm's C must broadcast to [M, N]", err);
        for (int d = 0; d < c->ndim; d++) {
            int64_t want = dims[d + 2 - c->ndim], have = c->dims[d];
            if (have >= 0 && want >= 0 && have != 1 && have != want)
                return rly_node_fail(g, n, err, TS_EINVAL,
                                     "C \"%s\" does not broadcast to [%" PRId64 ", %" PRId64 "]",
                                     c->name, m, nn);
        }
    }
    rly_set_output(n, 0, a->dtype, 2, dims);
    return TS_OK;
}

TsStatus rly_infer_matmul(TsGraph *g, RlyNode *n, TsError *err)
{
    const RlyValue *a = rly_input(n, 0), *b = rly_input(n, 1);
    TsStatus status = rly_need_inputs(g, n, 2, 2, err);
    if (status == TS_OK)
        status = rly_same_dtype(g, n, 0, 1, err);
    if (status != TS_OK)
        return status;
    if (a->ndim < 0 || b->ndim < 0) {
        rly_set_output(n, 0, a->dtype, -1, NULL);
        return TS_OK;
    }
    if (a->ndim == 0 || b->ndim == 0)
        return rly_node_fail(g, n, err, TS_EINVAL, "MatMul does not take scalars (input \"%s\")",
                             a->ndim == 0 ? a->name : b->name);
    /* Vectors are promoted: [K] to [1, K] on the left, [K, 1] on the right, and the added
     * dimension removed from the result. */
    int64_t ka = a->dims[a->ndim - 1], kb = b->ndim == 1 ? b->dims[0] : b->dims[b->ndim - 2];
    if (ka >= 0 && kb >= 0 && ka != kb)
        return rly_node_fail(g, n, err, TS_EINVAL,
                             "\"%s\" has K = %" PRId64 " but \"%s\" has "
                             "K = %" PRId64,
                             a->name, ka, b->name, kb);
    RlyValue batch_b = { .name = b->name, .ndim = b->ndim > 2 ? b->ndim - 2 : 0 };
    memcpy(batch_b.dims, b->dims, (size_t)batch_b.ndim * sizeof(int64_t));
    int ndim = a->ndim > 2 ? a->ndim - 2 : 0;
    int64_t dims[TS_MAX_DIMS];
    memcpy(dims, a->dims, (size_t)ndim * sizeof(int64_t));
    status = rly_broadcast(g, n, &ndim, dims, &batch_b, err);
    if (status != TS_OK)
        return status;
    if (a->ndim > 1)
        dims[ndim++] = a->dims[a->ndim - 2];
    if (b->ndim > 1)
        dims[ndim++] = b->dims[b->ndim - 1];
    if (ndim > TS_MAX_DIMS)
        return rly_node_fail(g, n, err, TS_EINVAL, "the result has more than %d dimensions",
                             TS_MAX_DIMS);
    rly_set_output(n, 0, a->dtype, ndim, dims);
    return TS_OK;
}

/* ---- normalization ---- */

TsStatus rly_infer_batch_norm(TsGraph *g, RlyNode *n, TsError *err)
{
    const RlyValue *x = rly_input(n, 0);
    int64_t training = 0, spatial = 1;
    TsStatus status = rly_need_inputs(g, n, 5, 5, err);
    if (status == TS_OK)
        status = rly_need_float(g, n, 0, err);
    if (status == TS_OK)
        status = rly_attr_int(g, n, "training_mode", 0, &training, err);
    if (status == TS_OK)
        status = rly_attr_int(g, n, "spatial", 1, &spatial, err);
    if (status != TS_OK)
        return status;
    if (training != 0)
        return rly_node_fail(g, n, err, TS_EINVAL,
                             "attribute training_mode = %" PRId64 " is not "
                             "supported (inference only)",
                             training);
    if (spatial != 1)
        return rly_node_fail(g, n, err, TS_EINVAL,
                             "attribute spatial = %" PRId64 " is not "
                             "supported",
                             spatial);
    for (int k = 1; k < n->num_outputs; k++)
        if (rly_output(n, k))
            return rly_node_fail(g, n, err, TS_EINVAL,
                                 "output %d (running statistics of "
                                 "training) is not supported",
                                 k);
    if (x->ndim >= 0 && x->ndim < 2)
        return need_rank(g, n, x, 2, TS_MAX_DIMS, "BatchNormalization needs rank 2 or more", err);
    for (int k = 1; k < 5; k++) {
        const RlyValue *p = rly_input(n, k);
        if (p->ndim >= 0 && (p->ndim != 1 || (x->ndim > 0 && x->dims[1] >= 0 && p->dims[0] >= 0 &&
                                              p->dims[0] != x->dims[1])))
            return rly_node_fail(g, n, err, TS_EINVAL,
                                 "input %d \"%s\" must have one value per "
                                 "channel",
                                 k, p->name);
    }
    rly_set_output(n, 0, x->dtype, x->ndim, x->dims);
    return TS_OK;
}

TsStatus rly_infer_layer_norm(TsGraph *g, RlyNode *n, TsError *err)
{
    const RlyValue *x = rly_input(n, 0);
    int64_t axis_attr = -1, stash = 1;
    int axis = 0;
    TsStatus status = rly_need_inputs(g, n, 2, 3, err);
    if (status == TS_OK)
        status = rly_need_float(g, n, 0, err);
    if (status == TS_OK)
        status = rly_same_dtype(g, n, 0, 1, err);
    if (status == TS_OK)
        status = rly_attr_int(g, n, "axis", -1, &axis_attr, err);
    if (status == TS_OK)
        status = rly_attr_int(g, n, "stash_type", 1, &stash, err);
    if (status != TS_OK)
        return status;
    if (stash != 1)
        return rly_node_fail(g, n, err, TS_EINVAL,
                             "attribute stash_type = %" PRId64 " is not "
                             "supported (only 1, float32)",
                             stash);
    if (x->ndim < 0) {
        for (int k = 0; k < 3; k++)
            rly_set_output(n, k, k ? TS_FLOAT32 : x->dtype, -1, NULL);
        return TS_OK;
    }
    status = rly_axis(g, n, axis_attr, x->ndim, "attribute axis", &axis, err);
    if (status != TS_OK)
        return status;
    rly_set_output(n, 0, x->dtype, x->ndim, x->dims);
    int64_t stat_dims[TS_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++)
        stat_dims[d] = d < axis ? x->dims[d] : 1;
    rly_set_output(n, 1, TS_FLOAT32, x->ndim, stat_dims);
    rly_set_output(n, 2, TS_FLOAT32, x->ndim, stat_dims);
    return TS_OK;
}
