/* Which schedule template serves a graph node, and with what arguments: the workload of
 * an anchored group's anchor, shared by task extraction (ts_graph_extract_tasks, for
 * `tessera tune MODEL.onnx`) and the builder (which looks the same task up in the
 * tuning logs), so that a tuned record always matches what is built.
 *
 *   Conv 2-D, float32, group 1, dilations 1, strides equal, pads equal on every side,
 *   a constant weight                                     -> conv2d N C H W K R S stride pad
 *   Conv with group = C = K and a [C, 1, R, S] weight     -> depthwise_conv2d N C H W R S stride pad
 *   Gemm of a 2-D A (transA 0) with a constant B, MatMul of 2-D A and constant 2-D B
 *                                                         -> dense M N K
 *   MaxPool, AveragePool 2-D (dilations 1, pads equal, count_include_pad 0; ceil_mode 0,
 *   or 1 where the strides step exactly onto the last window, so that no window is cut
 *   and the output is the same size either way, as SqueezeNet's pools),
 *   GlobalAveragePool                                     -> pool2d N C H W R S stride pad kind
 * Anything else (1-D or grouped convolution, asymmetric pads, a weight computed at run
 * time) has no workload: its group keeps the generic schedule. */
#include <string.h>

#include "relay_lite/rly_build.h"

/* Reads an INTS attribute whose values must all be equal (absent: def). */
static bool uniform_ints(const TsGraph *g, const RlyNode *node, const char *name, int64_t def,
                         int expect, int64_t *out)
{
    int64_t values[2 * TS_MAX_DIMS];
    int count = -1;
    TsError err;
    if (rly_attr_ints(g, node, name, 2 * TS_MAX_DIMS, values, &count, &err) != TS_OK)
        return false;
    *out = def;
    if (count < 0)
        return true;
    if (count != expect)
        return false;
    for (int i = 1; i < count; i++)
        if (values[i] != values[0])
            return false;
    *out = values[0];
    return true;
}

static bool explicit_pads(const TsGraph *g, const RlyNode *node)
{
    const char *auto_pad;
    TsError err;
    return rly_attr_string(g, node, "auto_pad", "NOTSET", &auto_pad, &err) == TS_OK &&
           (!strcmp(auto_pad, "NOTSET") || !strcmp(auto_pad, "VALID"));
}

static bool is_f32(const RlyValue *v)
{
    return v && v->has_dtype && ts_dtype_eq(v->dtype, TS_FLOAT32) && rly_value_known(v);
}

static void set(TsTemplateArgs *args, const char *const *names, const int64_t *values)
{
    TsError err;
    for (int i = 0; names[i]; i++)
        ts_template_args_set(args, names[i], values[i], &err);
}

static bool conv_workload(const TsGraph *g, const RlyNode *node, RlyWorkload *out)
{
    const RlyValue *x = rly_input(node, 0), *w = rly_input(node, 1), *y = rly_output(node, 0);
    int64_t group, stride, dilation, pad;
    if (!is_f32(x) || !is_f32(w) || !is_f32(y) || x->ndim != 4 || !w->constant ||
        !explicit_pads(g, node) || !uniform_ints(g, node, "strides", 1, 2, &stride) ||
        !uniform_ints(g, node, "dilations", 1, 2, &dilation) || dilation != 1 ||
        !uniform_ints(g, node, "pads", 0, 4, &pad))
        return false;
    TsError err;
    if (rly_attr_int(g, node, "group", 1, &group, &err) != TS_OK)
        return false;
    int64_t n = x->dims[0], c = x->dims[1], h = x->dims[2], wd = x->dims[3], k = w->dims[0],
            r = w->dims[2], s = w->dims[3];
    if (group == 1) {
        strcpy(out->op, "conv2d");
        set(&out->args, (const char *const[]){ "N", "C", "H", "W", "K", "R", "S", "stride", "pad",
                                               NULL },
            (const int64_t[]){ n, c, h, wd, k, r, s, stride, pad });
        out->flop = 2.0 * (double)rly_value_elements(y) * (double)(c * r * s);
        return true;
    }
    if (group == c && k == c && w->dims[1] == 1) {
        strcpy(out->op, "depthwise_conv2d");
        set(&out->args, (const char *const[]){ "N", "C", "H", "W", "R", "S", "stride", "pad",
                                               NULL },
            (const int64_t[]){ n, c, h, wd, r, s, stride, pad });
        out->flop = 2.0 * (double)rly_value_elements(y) * (double)(r * s);
        return true;
    }
    return false;
}

static bool dense_workload(const TsGraph *g, const RlyNode *node, RlyWorkload *out)
{
    const RlyValue *a = rly_input(node, 0), *b = rly_input(node, 1);
    int64_t trans_a = 0, trans_b = 0;
    TsError err;
    if (node->op == RLY_OP_GEMM &&
        (rly_attr_int(g, node, "transA", 0, &trans_a, &err) != TS_OK ||
         rly_attr_int(g, node, "transB", 0, &trans_b, &err) != TS_OK || trans_a))
        return false;
    if (!is_f32(a) || !is_f32(b) || a->ndim != 2 || b->ndim != 2 || !b->constant)
        return false;
    int64_t m = a->dims[0], k = a->dims[1], n = trans_b ? b->dims[0] : b->dims[1];
    strcpy(out->op, "dense");
    set(&out->args, (const char *const[]){ "M", "N", "K", NULL }, (const int64_t[]){ m, n, k });
    out->flop = 2.0 * (double)(m * n * k);
    out->transposed_weight = !trans_b;
    return true;
}

/* Whether the windows of a pool step exactly onto the padded input's end in both
 * dimensions: then ceil_mode makes no window more (nor a cut one). */
static bool exact_windows(const RlyValue *x, const int64_t *kernel, int64_t stride, int64_t pad)
{
    for (int d = 0; d < 2; d++) {
        int64_t span = x->dims[2 + d] + 2 * pad - kernel[d];
        if (span < 0 || span % stride != 0)
            return false;
    }
    return true;
}

static bool pool_workload(const TsGraph *g, const RlyNode *node, RlyWorkload *out)
{
    const RlyValue *x = rly_input(node, 0), *y = rly_output(node, 0);
    if (!is_f32(x) || !is_f32(y) || x->ndim != 4 || node->num_outputs > 1)
        return false;
    int64_t kind = node->op == RLY_OP_MAX_POOL ? 0 : 1;
    int64_t r = x->dims[2], s = x->dims[3], stride = 1, pad = 0, dilation = 1, ceil_mode = 0,
            include_pad = 0;
    if (node->op != RLY_OP_GLOBAL_AVERAGE_POOL) {
        int64_t kernel[2];
        int count = -1;
        TsError err;
        if (rly_attr_ints(g, node, "kernel_shape", 2, kernel, &count, &err) != TS_OK ||
            count != 2 || !explicit_pads(g, node) ||
            !uniform_ints(g, node, "strides", 1, 2, &stride) ||
            !uniform_ints(g, node, "dilations", 1, 2, &dilation) || dilation != 1 ||
            !uniform_ints(g, node, "pads", 0, 4, &pad) || pad >= kernel[0] || pad >= kernel[1] ||
            rly_attr_int(g, node, "ceil_mode", 0, &ceil_mode, &err) != TS_OK ||
            (ceil_mode && !exact_windows(x, kernel, stride, pad)) ||
            rly_attr_int(g, node, "count_include_pad", 0, &include_pad, &err) != TS_OK ||
            (include_pad && pad))
            return false;
        r = kernel[0];
        s = kernel[1];
    }
    strcpy(out->op, "pool2d");
    set(&out->args,
        (const char *const[]){ "N", "C", "H", "W", "R", "S", "stride", "pad", "kind", NULL },
        (const int64_t[]){ x->dims[0], x->dims[1], x->dims[2], x->dims[3], r, s, stride, pad,
                           kind });
    out->flop = (double)rly_value_elements(y) * (double)(r * s);
    return true;
}

bool rly_node_workload(const TsGraph *graph, const RlyNode *node, RlyWorkload *out)
{
    memset(out, 0, sizeof *out);
    /* Four operator families have templates; listing the other forty kinds would say
     * nothing more than the default does. */
    switch (node->op) {
    case RLY_OP_CONV: return conv_workload(graph, node, out);
    case RLY_OP_GEMM:
    case RLY_OP_MATMUL: return dense_workload(graph, node, out);
    case RLY_OP_MAX_POOL:
    case RLY_OP_AVERAGE_POOL:
    case RLY_OP_GLOBAL_AVERAGE_POOL: return pool_workload(graph, node, out);
    default: return false;
    }
}
