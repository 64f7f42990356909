/* Lowering of the neural-network operators: Conv (1-D and 2-D, groups, dilations, every
 * auto_pad, bias), ConvTranspose 2-D (groups, dilations, output_padding, output_shape,
 * auto_pad), Gemm (transposes, alpha, beta, C broadcast), MatMul (batched, broadcast,
 * vectors), BatchNormalization, LayerNormalization, MaxPool and AveragePool (1-D and 2-D,
 * pads, auto_pad, ceil_mode, dilations, count_include_pad) and GlobalAveragePool. Part of
 * node lowering (lower_node.c). A 1-D window is the 2-D one over a height of 1. The
 * attributes were checked by inference (infer_nn.c); here they are read again with their
 * ONNX defaults. */
#include <inttypes.h>
#include <string.h>

#include "relay_lite/lower_rules.h"

/* A window's attributes over 1 or 2 spatial dimensions, with pads resolved from auto_pad. */
typedef struct Window {
    int spatial;
    int64_t kernel[TS_MAX_DIMS], strides[TS_MAX_DIMS], dilations[TS_MAX_DIMS];
    int64_t begin[TS_MAX_DIMS], end[TS_MAX_DIMS];
    const char *auto_pad;
} Window;

/* The INTS attribute name (NULL: absent) with one value per spatial dimension, def for
 * each when absent. */
static TsStatus read_list(RlyLower *l, const char *name, int spatial, int64_t def, int64_t *out)
{
    int count = -1;
    TsStatus status =
        name ? rly_attr_ints(l->graph, l->node, name, TS_MAX_DIMS, out, &count, l->err) : TS_OK;
    if (status == TS_OK && count >= 0 && count != spatial)
        return rly_lower_fail(l, "attribute %s has %d values for %d spatial dimensions", name,
                              count, spatial);
    for (int d = 0; count < 0 && d < spatial; d++)
        out[d] = def;
    return status;
}

/* Reads the window; in: the input's spatial extents; kernel: the weight's (NULL for pools). */
static TsStatus read_window(RlyLower *l, int spatial, const int64_t *in, const int64_t *kernel,
                            bool has_dilations, Window *w)
{
    int64_t pads[2 * TS_MAX_DIMS] = { 0 };
    int count = -1;
    memset(w, 0, sizeof *w);
    w->spatial = spatial;
    TsStatus status = read_list(l, "kernel_shape", spatial, -1, w->kernel);
    for (int d = 0; status == TS_OK && d < spatial; d++)
        if (w->kernel[d] < 1)
            w->kernel[d] = kernel ? kernel[d] : -1;
    if (status == TS_OK)
        status = read_list(l, "strides", spatial, 1, w->strides);
    if (status == TS_OK)
        status = read_list(l, has_dilations ? "dilations" : NULL, spatial, 1, w->dilations);
    if (status == TS_OK)
        status = rly_attr_ints(l->graph, l->node, "pads", 2 * TS_MAX_DIMS, pads, &count, l->err);
    if (status == TS_OK)
        status = rly_attr_string(l->graph, l->node, "auto_pad", "NOTSET", &w->auto_pad, l->err);
    if (status != TS_OK)
        return status;
    if (count >= 0 && count != 2 * spatial)
        return rly_lower_fail(l, "attribute pads has %d values for %d spatial dimensions", count,
                              spatial);
    bool same = !strcmp(w->auto_pad, "SAME_UPPER") || !strcmp(w->auto_pad, "SAME_LOWER");
    for (int d = 0; d < spatial; d++) {
        if (w->kernel[d] < 1)
            return rly_lower_fail(l, "attribute kernel_shape is required");
        if (same) {
            /* ONNX: the output is ceil(in / stride); the padding it takes is split evenly,
             * the odd one at the end (SAME_UPPER) or the beginning (SAME_LOWER). */
            int64_t out = (in[d] + w->strides[d] - 1) / w->strides[d];
            int64_t span = (w->kernel[d] - 1) * w->dilations[d] + 1;
            int64_t total = (out - 1) * w->strides[d] + span - in[d];
            total = total < 0 ? 0 : total;
            w->begin[d] = !strcmp(w->auto_pad, "SAME_UPPER") ? total / 2 : total - total / 2;
            w->end[d] = total - w->begin[d];
        } else if (!strcmp(w->auto_pad, "NOTSET") && count >= 0) {
            w->begin[d] = pads[d];
            w->end[d] = pads[d + spatial];
        }
    }
    return TS_OK;
}

/* t with a height of 1 inserted before its last dimension (a 1-D window as 2-D). */
static TsTensor *as_2d(RlyLower *l, TsTensor *t)
{
    int64_t dims[4] = { ts_tensor_dim(t, 0), ts_tensor_dim(t, 1), 1, ts_tensor_dim(t, 2) };
    return ts_op_reshape(l->arena, t, 4, dims);
}

/* The window's spatial rank, 1 or 2 (what inference lets through); else an error. */
static TsStatus window_rank(RlyLower *l, TsTensor *x, int *spatial)
{
    *spatial = ts_tensor_ndim(x) - 2;
    if (*spatial < 1 || *spatial > 2)
        return rly_lower_fail(l, "input 0 has rank %d; windows are lowered in 1-D and 2-D only",
                              ts_tensor_ndim(x));
    return TS_OK;
}

static void spatial_of(TsTensor *t, int64_t *out)
{
    for (int d = 2; d < ts_tensor_ndim(t); d++)
        out[d - 2] = ts_tensor_dim(t, d);
}

TsStatus rly_lower_conv_attrs(RlyLower *l, TsTensor *x, TsTensor *w, TsConv2dAttrs *attrs,
                              int *spatial)
{
    int64_t in[TS_MAX_DIMS], kernel[TS_MAX_DIMS], group = 1;
    Window win;
    TsStatus status = window_rank(l, x, spatial);
    if (status != TS_OK)
        return status;
    if (ts_tensor_ndim(w) != ts_tensor_ndim(x))
        return rly_lower_fail(l, "the weight's rank %d is not the input's %d", ts_tensor_ndim(w),
                              ts_tensor_ndim(x));
    spatial_of(x, in);
    spatial_of(w, kernel);
    status = rly_attr_int(l->graph, l->node, "group", 1, &group, l->err);
    if (status == TS_OK)
        status = read_window(l, *spatial, in, kernel, true, &win);
    if (status != TS_OK)
        return status;
    *attrs = ts_conv2d_attrs_default();
    int s = *spatial == 1 ? 1 : 0; /* where the window's first dimension goes in 2-D */
    for (int d = 0; d < *spatial; d++) {
        attrs->stride[d + s] = win.strides[d];
        attrs->dilation[d + s] = win.dilations[d];
        attrs->padding[d + s] = win.begin[d];
        attrs->padding[d + s + 2] = win.end[d];
    }
    attrs->groups = group;
    return TS_OK;
}

TsTensor *rly_lower_as_2d(RlyLower *l, TsTensor *t, int spatial)
{
    return t && spatial == 1 ? as_2d(l, t) : t;
}

TsStatus rly_lower_conv(RlyLower *l)
{
    TsTensor *x = rly_lower_input(l, 0), *w = rly_lower_input(l, 1);
    if (!x || !w)
        return l->err->status;
    int spatial = 0;
    TsConv2dAttrs attrs;
    TsStatus status = rly_lower_conv_attrs(l, x, w, &attrs, &spatial);
    if (status != TS_OK)
        return status;
    TsTensor *y = ts_op_conv2d(l->arena, rly_lower_as_2d(l, x, spatial),
                               rly_lower_as_2d(l, w, spatial), &attrs);
    TsTensor *bias = rly_input(l->node, 2) ? l->inputs[2] : NULL;
    if (y && bias)
        y = ts_op_bias_add(l->arena, y, bias, 1);
    return rly_lower_output(l, 0, rly_lower_reshape_to(l, y, 0));
}

TsStatus rly_lower_conv_transpose(RlyLower *l)
{
    TsTensor *x = rly_lower_input(l, 0), *w = rly_lower_input(l, 1);
    if (!x || !w)
        return l->err->status;
    int64_t in[TS_MAX_DIMS], kernel[TS_MAX_DIMS], group = 1, output_padding[TS_MAX_DIMS];
    int64_t output_shape[TS_MAX_DIMS];
    Window win;
    if (ts_tensor_ndim(x) != 4 || ts_tensor_ndim(w) != 4)
        return rly_lower_fail(l, "ConvTranspose is lowered in 2-D (rank 4) only");
    spatial_of(x, in);
    spatial_of(w, kernel);
    TsStatus status = rly_attr_int(l->graph, l->node, "group", 1, &group, l->err);
    if (status == TS_OK)
        status = read_window(l, 2, in, kernel, true, &win);
    if (status == TS_OK)
        status = read_list(l, "output_padding", 2, 0, output_padding);
    if (status != TS_OK)
        return status;
    const RlyValue *out = rly_output(l->node, 0);
    bool has_shape = rly_node_attr(l->node, "output_shape") != NULL;
    bool same = !strcmp(win.auto_pad, "SAME_UPPER") || !strcmp(win.auto_pad, "SAME_LOWER");
    TsConvTranspose2dAttrs attrs = { .groups = group };
    for (int d = 0; d < 2; d++) {
        int64_t span = (win.kernel[d] - 1) * win.dilations[d] + 1;
        attrs.stride[d] = win.strides[d];
        attrs.dilation[d] = win.dilations[d];
        attrs.out_size[d] = out->dims[d + 2];
        output_shape[d] = out->dims[d + 2];
        if (has_shape || same) {
            /* ONNX: the total padding that gives the requested output, split with the odd
             * one at the end for SAME_UPPER, at the beginning otherwise. */
            int64_t total =
                win.strides[d] * (in[d] - 1) + output_padding[d] + span - output_shape[d];
            attrs.pad[d] = !strcmp(win.auto_pad, "SAME_UPPER") ? total / 2 : total - total / 2;
        } else {
            attrs.pad[d] = win.begin[d];
        }
    }
    TsTensor *y = ts_op_conv_transpose2d(l->arena, x, w, &attrs);
    TsTensor *bias = rly_input(l->node, 2) ? l->inputs[2] : NULL;
    if (y && bias)
        y = ts_op_bias_add(l->arena, y, bias, 1);
    return rly_lower_output(l, 0, y);
}

/* alpha * product + beta * C, C broadcast to [M, N]. */
static TsTensor *gemm_epilogue(RlyLower *l, TsTensor *p, TsTensor *c, double alpha, double beta)
{
    TsArena *a = l->arena;
    TsDType dtype = ts_tensor_dtype(p);
    int64_t m = ts_tensor_dim(p, 0), n = ts_tensor_dim(p, 1);
    TsAxis *i = ts_axis(a, "i", m), *j = ts_axis(a, "j", n);
    TsExpr *value = ts_at(a, p, ts_var(i), ts_var(j));
    bool is_float = ts_dtype_is_float(dtype);
    if (alpha != 1.0)
        value = ts_mul(a, is_float ? ts_float(a, dtype, alpha) : ts_int(a, dtype, (int64_t)alpha),
                       value);
    if (c && beta != 0.0) {
        int nd = ts_tensor_ndim(c);
        TsExpr *idx[2];
        for (int d = 0; d < nd; d++) {
            int out_d = d + 2 - nd;
            idx[d] = ts_tensor_dim(c, d) == 1 ? ts_i32(a, 0) : ts_var(out_d ? j : i);
        }
        TsExpr *cv = ts_access(a, c, nd, idx);
        if (beta != 1.0)
            cv = ts_mul(a, is_float ? ts_float(a, dtype, beta) : ts_int(a, dtype, (int64_t)beta),
                        cv);
        value = ts_add(a, value, cv);
    }
    return ts_compute_tagged(a, "gemm", "gemm_epilogue", 2, (TsAxis *[]){ i, j }, value);
}

TsStatus rly_lower_gemm(RlyLower *l)
{
    TsTensor *a = rly_lower_input(l, 0), *b = rly_lower_input(l, 1);
    TsTensor *c = rly_input(l->node, 2) ? l->inputs[2] : NULL;
    int64_t trans_a = 0, trans_b = 0;
    double alpha = 1.0, beta = 1.0;
    if (!a || !b)
        return l->err->status;
    TsStatus status = rly_attr_int(l->graph, l->node, "transA", 0, &trans_a, l->err);
    if (status == TS_OK)
        status = rly_attr_int(l->graph, l->node, "transB", 0, &trans_b, l->err);
    if (status == TS_OK)
        status = rly_attr_float(l->graph, l->node, "alpha", 1.0, &alpha, l->err);
    if (status == TS_OK)
        status = rly_attr_float(l->graph, l->node, "beta", 1.0, &beta, l->err);
    if (status != TS_OK)
        return status;
    TsDType dtype = ts_tensor_dtype(a);
    if (!ts_dtype_is_float(dtype) && ((alpha != 1.0) || (c && beta != 1.0 && beta != 0.0)))
        return rly_lower_fail(l,
                              "attributes alpha = %g and beta = %g on integer matrices are "
                              "not supported",
                              alpha, beta);
    TsTensor *p = ts_op_matmul(l->arena, a, b, trans_a != 0, trans_b != 0, ts_dtype(0, 0, 0));
    if (p && (alpha != 1.0 || (c && beta != 0.0)))
        p = gemm_epilogue(l, p, c, alpha, beta);
    return rly_lower_output(l, 0, p);
}

TsStatus rly_lower_matmul(RlyLower *l)
{
    TsTensor *a = rly_lower_input(l, 0), *b = rly_lower_input(l, 1);
    if (!a || !b)
        return l->err->status;
    return rly_lower_output(l, 0, ts_op_batch_matmul(l->arena, a, b));
}

TsStatus rly_lower_batch_norm(RlyLower *l)
{
    TsTensor *t[5];
    double epsilon = 1e-5;
    for (int k = 0; k < 5; k++)
        if (!(t[k] = rly_lower_input(l, k)))
            return l->err->status;
    TsStatus status = rly_attr_float(l->graph, l->node, "epsilon", 1e-5, &epsilon, l->err);
    if (status != TS_OK)
        return status;
    TsDType dtype = ts_tensor_dtype(t[0]);
    for (int k = 1; k < 5; k++) /* opset 15 lets the parameters have their own float type */
        if (!ts_dtype_eq(ts_tensor_dtype(t[k]), dtype))
            t[k] = ts_op_cast(l->arena, t[k], dtype);
    return rly_lower_output(l, 0,
                            ts_op_batch_norm(l->arena, t[0], t[1], t[2], t[3], t[4], 1, epsilon));
}

TsStatus rly_lower_layer_norm(RlyLower *l)
{
    TsTensor *x = rly_lower_input(l, 0), *scale = rly_lower_input(l, 1);
    TsTensor *bias = rly_input(l->node, 2) ? l->inputs[2] : NULL;
    int64_t axis = -1;
    double epsilon = 1e-5;
    if (!x || !scale)
        return l->err->status;
    TsStatus status = rly_attr_int(l->graph, l->node, "axis", -1, &axis, l->err);
    if (status == TS_OK)
        status = rly_attr_float(l->graph, l->node, "epsilon", 1e-5, &epsilon, l->err);
    if (status != TS_OK)
        return status;
    TsTensor *mean = NULL, *inv_std = NULL;
    TsTensor *y = ts_op_layer_norm(l->arena, x, scale, bias, (int)axis, epsilon, &mean, &inv_std);
    status = rly_lower_output(l, 0, y);
    if (status == TS_OK && rly_output(l->node, 1))
        status = rly_lower_output(l, 1, mean);
    if (status == TS_OK && rly_output(l->node, 2))
        status = rly_lower_output(l, 2, inv_std);
    return status;
}

TsStatus rly_lower_pool(RlyLower *l, bool max)
{
    TsTensor *x = rly_lower_input(l, 0);
    if (!x)
        return l->err->status;
    int spatial = 0;
    int64_t in[TS_MAX_DIMS], ceil_mode = 0, count_include_pad = 0;
    Window win;
    TsStatus status = window_rank(l, x, &spatial);
    if (status != TS_OK)
        return status;
    spatial_of(x, in);
    /* AveragePool has dilations since opset 19, MaxPool since 10 (as inference reads them). */
    status = read_window(l, spatial, in, NULL, l->graph->opset >= (max ? 10 : 19), &win);
    if (status == TS_OK)
        status = rly_attr_int(l->graph, l->node, "ceil_mode", 0, &ceil_mode, l->err);
    if (status == TS_OK && !max)
        status =
            rly_attr_int(l->graph, l->node, "count_include_pad", 0, &count_include_pad, l->err);
    if (status != TS_OK)
        return status;
    TsPool2dAttrs attrs = ts_pool2d_attrs_default(max ? TS_POOL_MAX : TS_POOL_AVG, 1, 1);
    int s = spatial == 1 ? 1 : 0;
    for (int d = 0; d < spatial; d++) {
        attrs.kernel[d + s] = win.kernel[d];
        attrs.stride[d + s] = win.strides[d];
        attrs.dilation[d + s] = win.dilations[d];
        attrs.padding[d + s] = win.begin[d];
        attrs.padding[d + s + 2] = win.end[d];
    }
    if (s)
        attrs.stride[0] = 1;
    attrs.ceil_mode = ceil_mode != 0;
    attrs.count_include_pad = count_include_pad != 0;
    TsTensor *y = ts_op_pool2d(l->arena, spatial == 1 ? as_2d(l, x) : x, &attrs);
    return rly_lower_output(l, 0, rly_lower_reshape_to(l, y, 0));
}

TsStatus rly_lower_global_pool(RlyLower *l)
{
    TsTensor *x = rly_lower_input(l, 0);
    if (!x)
        return l->err->status;
    int axes[TS_MAX_DIMS], n = 0;
    for (int d = 2; d < ts_tensor_ndim(x); d++)
        axes[n++] = d;
    return rly_lower_output(l, 0, ts_op_reduce(l->arena, x, TS_REDUCE_MEAN, n, axes, true));
}
