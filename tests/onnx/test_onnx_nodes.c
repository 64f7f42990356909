/* The operator library against the ONNX project's own backend node tests, vendored in
 * tests/onnx/node/ (README.md there says which and why).
 *
 * Each test is one ONNX node with inputs and expected outputs. The node and its
 * attributes are mapped onto the ts_op_* builder that implements the operator, as an
 * importer would; its inputs become placeholders of their files' shapes and dtypes; the
 * reference interpreter (ts_evaluate) runs the DAG; and the result is compared with
 * output_0.pb under the ONNX backend runner's tolerance (rtol 1e-3, atol 1e-7, as in
 * numpy.testing.assert_allclose; integers and bool exactly). Only the mapping of
 * attributes lives here; every value is computed by the operator library.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "relay_lite/onnx_loader.h"
#include "tessera/tessera.h"

#ifndef TESSERA_ONNX_DIR
#error "TESSERA_ONNX_DIR must name the folder that holds node/"
#endif

#define MAX_OPERANDS 8
#define MAX_FILES 8
#define REPORT_MAX 2048

/* The ONNX backend runner's tolerance for node tests (its rtol and atol). */
static const double rel_tolerance = 1e-3;
static const double abs_tolerance = 1e-7;

/* One ONNX test folder: its model and the tensors of test_data_set_0. */
typedef struct NodeTest {
    const char *name;
    OnnxModel model;
    int num_inputs;
    OnnxTensor inputs[MAX_FILES];
    int num_outputs;
    OnnxTensor outputs[MAX_FILES];
} NodeTest;

/* The state of mapping one node onto Tessera builders. Errors go to the arena. */
typedef struct Mapping {
    TsArena *arena;
    const NodeTest *test;
    const OnnxNode *node;
    int64_t opset;
    int num_operands;
    const OnnxTensor *operand[MAX_OPERANDS]; /* per node input; NULL when omitted */
    TsTensor *placeholder[MAX_OPERANDS];
    int num_bindings;
    TsBinding bindings[MAX_OPERANDS + 1];
} Mapping;

/* ---- loading a test folder ---- */

static void free_node_test(NodeTest *t)
{
    onnx_model_free(&t->model);
    for (int k = 0; k < t->num_inputs; k++)
        onnx_tensor_free(&t->inputs[k]);
    for (int k = 0; k < t->num_outputs; k++)
        onnx_tensor_free(&t->outputs[k]);
    t->num_inputs = t->num_outputs = 0;
}

/* Loads <prefix>_0.pb, <prefix>_1.pb, ... until the next file does not exist. */
static TsStatus load_tensor_files(const char *dir, const char *prefix, OnnxTensor *tensors,
                                  int *count, TsError *err)
{
    char path[1024];
    for (*count = 0; *count < MAX_FILES; (*count)++) {
        snprintf(path, sizeof path, "%s/test_data_set_0/%s_%d.pb", dir, prefix, *count);
        if (access(path, F_OK) != 0)
            return TS_OK;
        TsStatus status = onnx_load_tensor(path, &tensors[*count], err);
        if (status != TS_OK)
            return status;
    }
    snprintf(path, sizeof path, "%s/test_data_set_0/%s_%d.pb", dir, prefix, MAX_FILES);
    if (access(path, F_OK) == 0)
        return ts_fail(err, TS_EINVAL, "%s: more than %d %s files", dir, MAX_FILES, prefix);
    return TS_OK;
}

static TsStatus load_node_test(const char *name, NodeTest *t, TsError *err)
{
    char dir[1024], path[1100];
    memset(t, 0, sizeof *t);
    t->name = name;
    snprintf(dir, sizeof dir, "%s/node/%s", TESSERA_ONNX_DIR, name);
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    TsStatus status = onnx_load_model(path, &t->model, err);
    if (status == TS_OK)
        status = load_tensor_files(dir, "input", t->inputs, &t->num_inputs, err);
    if (status == TS_OK)
        status = load_tensor_files(dir, "output", t->outputs, &t->num_outputs, err);
    if (status != TS_OK)
        free_node_test(t);
    return status;
}

/* ---- mapping helpers ---- */

/* Records why the node cannot be mapped, naming the test and the operator. */
static TsTensor *map_error(Mapping *m, const char *fmt, ...) TS_PRINTF_LIKE(2, 3);
static TsTensor *map_error(Mapping *m, const char *fmt, ...)
{
    char reason[TS_ERROR_MESSAGE_MAX];
    va_list args;
    va_start(args, fmt);
    vsnprintf(reason, sizeof reason, fmt, args);
    va_end(args);
    ts_arena_fail(m->arena, TS_EINVAL, "%s: %s: %s", m->test->name, m->node->op_type, reason);
    return NULL;
}

/* Matches the node's inputs with tensors: the graph inputs that are not initializers
 * are fed by input_0.pb, input_1.pb, ... in order; the others are initializers. */
static bool resolve_operands(Mapping *m)
{
    const NodeTest *t = m->test;
    const char *fed[MAX_FILES];
    int num_fed = 0;
    for (int g = 0; g < t->model.num_graph_inputs; g++) {
        const char *name = t->model.graph_inputs[g];
        if (onnx_model_initializer(&t->model, name))
            continue;
        if (num_fed == t->num_inputs) {
            map_error(m, "graph input \"%s\" has no input_%d.pb", name, num_fed);
            return false;
        }
        const char *file_name = t->inputs[num_fed].name;
        if (file_name[0] && strcmp(file_name, name) != 0) {
            map_error(m, "input_%d.pb holds \"%s\", but graph input %d is \"%s\"", num_fed,
                      file_name, num_fed, name);
            return false;
        }
        fed[num_fed++] = name;
    }
    if (num_fed != t->num_inputs) {
        map_error(m, "%d input files for %d graph inputs", t->num_inputs, num_fed);
        return false;
    }
    if (m->node->num_inputs > MAX_OPERANDS) {
        map_error(m, "%d inputs, more than %d", m->node->num_inputs, MAX_OPERANDS);
        return false;
    }
    m->num_operands = m->node->num_inputs;
    for (int k = 0; k < m->num_operands; k++) {
        const char *name = m->node->inputs[k];
        if (!name[0])
            continue; /* an omitted optional input */
        for (int f = 0; f < num_fed && !m->operand[k]; f++)
            if (strcmp(fed[f], name) == 0)
                m->operand[k] = &t->inputs[f];
        if (!m->operand[k])
            m->operand[k] = onnx_model_initializer(&t->model, name);
        if (!m->operand[k]) {
            map_error(m, "input \"%s\" is neither a graph input nor an initializer", name);
            return false;
        }
    }
    return true;
}

static bool has_operand(const Mapping *m, int k)
{
    return k < m->num_operands && m->operand[k];
}

/* The placeholder for the node's k-th input, bound to its file's data. A scalar (0-D)
 * becomes a one-element vector, which broadcasts the same way. */
static TsTensor *operand(Mapping *m, int k)
{
    if (!has_operand(m, k))
        return map_error(m, "input %d is missing", k);
    if (m->placeholder[k])
        return m->placeholder[k];
    const OnnxTensor *t = m->operand[k];
    static const int64_t one[1] = { 1 };
    TsTensor *p = ts_placeholder(m->arena, m->node->inputs[k], t->ndim ? t->ndim : 1,
                                 t->ndim ? t->shape : one, t->dtype);
    if (!p)
        return NULL;
    m->placeholder[k] = p;
    m->bindings[m->num_bindings++] = (TsBinding){ .tensor = p, .data = t->data };
    return p;
}

static bool attr_int(Mapping *m, const char *name, int64_t fallback, int64_t *out)
{
    const OnnxAttr *a = onnx_node_attr(m->node, name);
    *out = fallback;
    if (!a)
        return true;
    if (a->kind != ONNX_ATTR_INT) {
        map_error(m, "attribute %s is not an int", name);
        return false;
    }
    *out = a->i;
    return true;
}

static bool attr_float(Mapping *m, const char *name, double fallback, double *out)
{
    const OnnxAttr *a = onnx_node_attr(m->node, name);
    *out = fallback;
    if (!a)
        return true;
    if (a->kind != ONNX_ATTR_FLOAT) {
        map_error(m, "attribute %s is not a float", name);
        return false;
    }
    *out = a->f;
    return true;
}

static bool attr_string(Mapping *m, const char *name, const char *fallback, const char **out)
{
    const OnnxAttr *a = onnx_node_attr(m->node, name);
    *out = fallback;
    if (!a)
        return true;
    if (a->kind != ONNX_ATTR_STRING) {
        map_error(m, "attribute %s is not a string", name);
        return false;
    }
    *out = a->s;
    return true;
}

/* An ints attribute of exactly count values; fallback (count values, or NULL when the
 * attribute is required) when absent. */
static bool attr_ints(Mapping *m, const char *name, int count, const int64_t *fallback,
                      int64_t *out)
{
    const OnnxAttr *a = onnx_node_attr(m->node, name);
    if (!a) {
        if (!fallback) {
            map_error(m, "attribute %s is required", name);
            return false;
        }
        memcpy(out, fallback, (size_t)count * sizeof *out);
        return true;
    }
    if (a->kind != ONNX_ATTR_INTS || a->num_values != count) {
        map_error(m, "attribute %s must be %d ints", name, count);
        return false;
    }
    memcpy(out, a->ints, (size_t)count * sizeof *out);
    return true;
}

static bool require_rank(Mapping *m, TsTensor *t, int rank, const char *what)
{
    if (!t)
        return false;
    if (ts_tensor_ndim(t) != rank) {
        map_error(m, "%s has %d dimensions; only the %d-D form maps onto Tessera", what,
                  ts_tensor_ndim(t), rank);
        return false;
    }
    return true;
}

/* ---- convolution and pooling ---- */

/* The sliding window of a 2-D Conv or pool. pads are [top, left, bottom, right], which
 * is also ONNX's order [x1_begin, x2_begin, x1_end, x2_end]. */
typedef struct Window {
    int64_t kernel[2];
    int64_t stride[2];
    int64_t dilation[2];
    int64_t pads[4];
} Window;

/* kernel_shape, strides, dilations, pads and auto_pad over an input of spatial size
 * in_hw. A convolution passes its weight's kernel size, which kernel_shape must match
 * when given; a pool has no weight and requires kernel_shape. SAME_UPPER / SAME_LOWER
 * pad so that the output is ceil(in / stride), the odd pixel going to the end / the
 * beginning, as the ONNX spec computes it. */
static bool read_window(Mapping *m, const int64_t in_hw[2], const int64_t *weight_kernel, Window *w)
{
    static const int64_t ones[2] = { 1, 1 }, zeros[4] = { 0, 0, 0, 0 };
    const char *auto_pad = NULL;
    if (!attr_ints(m, "kernel_shape", 2, weight_kernel, w->kernel) ||
        !attr_ints(m, "strides", 2, ones, w->stride) ||
        !attr_ints(m, "dilations", 2, ones, w->dilation) ||
        !attr_ints(m, "pads", 4, zeros, w->pads) ||
        !attr_string(m, "auto_pad", "NOTSET", &auto_pad))
        return false;
    if (weight_kernel && (w->kernel[0] != weight_kernel[0] || w->kernel[1] != weight_kernel[1])) {
        map_error(m, "kernel_shape [%" PRId64 ", %" PRId64 "] differs from the weight's",
                  w->kernel[0], w->kernel[1]);
        return false;
    }
    bool upper = strcmp(auto_pad, "SAME_UPPER") == 0;
    if (strcmp(auto_pad, "NOTSET") == 0)
        return true;
    if (onnx_node_attr(m->node, "pads")) {
        map_error(m, "auto_pad %s and pads are both given", auto_pad);
        return false;
    }
    if (strcmp(auto_pad, "VALID") == 0)
        return true;
    if (!upper && strcmp(auto_pad, "SAME_LOWER") != 0) {
        map_error(m, "unknown auto_pad \"%s\"", auto_pad);
        return false;
    }
    for (int d = 0; d < 2; d++) {
        int64_t out = (in_hw[d] + w->stride[d] - 1) / w->stride[d];
        int64_t span = (w->kernel[d] - 1) * w->dilation[d] + 1;
        int64_t total = (out - 1) * w->stride[d] + span - in_hw[d];
        if (total < 0)
            total = 0;
        int64_t small = total / 2, large = total - total / 2;
        w->pads[d] = upper ? small : large;
        w->pads[d + 2] = upper ? large : small;
    }
    return true;
}

static TsTensor *map_conv(Mapping *m)
{
    TsTensor *x = operand(m, 0), *w = operand(m, 1);
    if (!require_rank(m, x, 4, "the input") || !require_rank(m, w, 4, "the weight"))
        return NULL;
    int64_t in_hw[2] = { ts_tensor_dim(x, 2), ts_tensor_dim(x, 3) };
    int64_t kernel[2] = { ts_tensor_dim(w, 2), ts_tensor_dim(w, 3) };
    Window win;
    int64_t group = 1;
    if (!read_window(m, in_hw, kernel, &win) || !attr_int(m, "group", 1, &group))
        return NULL;
    TsConv2dAttrs attrs = ts_conv2d_attrs_default();
    for (int d = 0; d < 2; d++) {
        attrs.stride[d] = win.stride[d];
        attrs.dilation[d] = win.dilation[d];
    }
    memcpy(attrs.padding, win.pads, sizeof attrs.padding);
    attrs.groups = group;
    attrs.layout = TS_LAYOUT_NCHW;
    TsTensor *y = ts_op_conv2d(m->arena, x, w, &attrs);
    if (has_operand(m, 2))
        y = ts_op_bias_add(m->arena, y, operand(m, 2), 1);
    return y;
}

static TsTensor *map_pool(Mapping *m, TsPoolKind kind)
{
    TsTensor *x = operand(m, 0);
    if (!require_rank(m, x, 4, "the input"))
        return NULL;
    if (m->node->num_outputs > 1)
        return map_error(m, "the Indices output (argmax) has no Tessera counterpart");
    int64_t in_hw[2] = { ts_tensor_dim(x, 2), ts_tensor_dim(x, 3) };
    Window win;
    int64_t ceil_mode = 0, count_include_pad = 0;
    if (!read_window(m, in_hw, NULL, &win) || !attr_int(m, "ceil_mode", 0, &ceil_mode) ||
        !attr_int(m, "count_include_pad", 0, &count_include_pad))
        return NULL;
    TsPool2dAttrs attrs = ts_pool2d_attrs_default(kind, win.kernel[0], win.kernel[1]);
    for (int d = 0; d < 2; d++) {
        attrs.stride[d] = win.stride[d];
        attrs.dilation[d] = win.dilation[d];
    }
    memcpy(attrs.padding, win.pads, sizeof attrs.padding);
    attrs.ceil_mode = ceil_mode != 0;
    attrs.count_include_pad = count_include_pad != 0;
    attrs.layout = TS_LAYOUT_NCHW;
    return ts_op_pool2d(m->arena, x, &attrs);
}

static TsTensor *map_max_pool(Mapping *m)
{
    return map_pool(m, TS_POOL_MAX);
}

static TsTensor *map_avg_pool(Mapping *m)
{
    return map_pool(m, TS_POOL_AVG);
}

static TsTensor *map_global_avg_pool(Mapping *m)
{
    TsTensor *x = operand(m, 0);
    if (!require_rank(m, x, 4, "the input"))
        return NULL;
    return ts_op_global_avg_pool2d(m->arena, x, TS_LAYOUT_NCHW);
}

/* ---- matrix products ---- */

/* factor * t, elementwise, as a compute op built from te.h. */
static TsTensor *scaled(Mapping *m, TsTensor *t, double factor, const char *name)
{
    static const char *const axis_names[TS_MAX_DIMS] = { "i0", "i1", "i2", "i3",
                                                         "i4", "i5", "i6", "i7" };
    if (!t)
        return NULL;
    int ndim = ts_tensor_ndim(t);
    TsAxis *axes[TS_MAX_DIMS];
    TsExpr *index[TS_MAX_DIMS];
    for (int d = 0; d < ndim; d++) {
        axes[d] = ts_axis(m->arena, axis_names[d], ts_tensor_dim(t, d));
        index[d] = ts_var(axes[d]);
    }
    TsExpr *body = ts_mul(m->arena, ts_access(m->arena, t, ndim, index),
                          ts_float(m->arena, ts_tensor_dtype(t), factor));
    return ts_compute(m->arena, name, ndim, axes, body);
}

/* Y = alpha * A' B' + beta * C, with A' = A^T when transA and B' = B^T when transB; C
 * broadcasts to Y's shape. */
static TsTensor *map_gemm(Mapping *m)
{
    int64_t trans_a = 0, trans_b = 0;
    double alpha = 1.0, beta = 1.0;
    if (!attr_int(m, "transA", 0, &trans_a) || !attr_int(m, "transB", 0, &trans_b) ||
        !attr_float(m, "alpha", 1.0, &alpha) || !attr_float(m, "beta", 1.0, &beta))
        return NULL;
    TsDType same_as_inputs = { 0, 0, 0 };
    TsTensor *y = ts_op_matmul(m->arena, operand(m, 0), operand(m, 1), trans_a != 0, trans_b != 0,
                               same_as_inputs);
    if (alpha != 1.0)
        y = scaled(m, y, alpha, "gemm_alpha");
    if (has_operand(m, 2)) {
        TsTensor *c = operand(m, 2);
        if (beta != 1.0)
            c = scaled(m, c, beta, "gemm_beta");
        y = ts_op_add(m->arena, y, c);
    }
    return y;
}

static TsTensor *map_matmul(Mapping *m)
{
    TsTensor *a = operand(m, 0), *b = operand(m, 1);
    if (!require_rank(m, a, 2, "A") || !require_rank(m, b, 2, "B"))
        return NULL;
    TsDType same_as_inputs = { 0, 0, 0 };
    return ts_op_matmul(m->arena, a, b, false, false, same_as_inputs);
}

/* ---- elementwise and normalization ---- */

static TsTensor *map_relu(Mapping *m)
{
    return ts_op_relu(m->arena, operand(m, 0));
}

static TsTensor *map_add(Mapping *m)
{
    return ts_op_add(m->arena, operand(m, 0), operand(m, 1));
}

static TsTensor *map_mul(Mapping *m)
{
    return ts_op_mul(m->arena, operand(m, 0), operand(m, 1));
}

/* Softmax-13 normalizes along axis (default -1). Softmax-1 and -11 (default axis 1)
 * coerce the input to 2-D [prod(shape[:axis]), prod(shape[axis:])] and normalize each
 * row, which is the same only when axis is the last dimension. */
static TsTensor *map_softmax(Mapping *m)
{
    TsTensor *x = operand(m, 0);
    int64_t axis = 0;
    if (!x || !attr_int(m, "axis", m->opset >= 13 ? -1 : 1, &axis))
        return NULL;
    int ndim = ts_tensor_ndim(x);
    if (axis < -ndim || axis >= ndim)
        return map_error(m, "axis %" PRId64 " is out of range for %d dimensions", axis, ndim);
    if (axis < 0)
        axis += ndim;
    if (m->opset >= 13 || axis == ndim - 1)
        return ts_op_softmax(m->arena, x, (int)axis);
    int64_t shape[TS_MAX_DIMS];
    for (int d = 0; d < ndim; d++)
        shape[d] = ts_tensor_dim(x, d);
    TsTensor *rows = ts_op_flatten(m->arena, x, (int)axis);
    return ts_op_reshape(m->arena, ts_op_softmax(m->arena, rows, 1), ndim, shape);
}

/* Inference form only: training_mode=1 normalizes with the batch's statistics and has
 * running-statistics outputs, which ts_op_batch_norm does not compute. */
static TsTensor *map_batch_norm(Mapping *m)
{
    int64_t training = 0;
    double epsilon = 1e-5;
    if (!attr_int(m, "training_mode", 0, &training) || !attr_float(m, "epsilon", 1e-5, &epsilon))
        return NULL;
    if (training != 0 || m->node->num_outputs > 1)
        return map_error(m, "training mode has no Tessera counterpart");
    return ts_op_batch_norm(m->arena, operand(m, 0), operand(m, 1), operand(m, 2), operand(m, 3),
                            operand(m, 4), 1, epsilon);
}

/* The value of a one-element tensor (Clip's min / max), when a double holds it exactly. */
static bool scalar_operand(Mapping *m, int k, double *out)
{
    const OnnxTensor *t = m->operand[k];
    const char *name = m->node->inputs[k];
    if (t->num_elements != 1) {
        map_error(m, "input \"%s\" has %" PRId64 " elements, not 1", name, t->num_elements);
        return false;
    }
    int64_t i64 = 0;
    uint64_t u64 = 0;
    switch (t->onnx_type) {
    case ONNX_FLOAT: *out = *(const float *)t->data; return true;
    case ONNX_DOUBLE: *out = *(const double *)t->data; return true;
    case ONNX_INT8: *out = *(const int8_t *)t->data; return true;
    case ONNX_INT16: *out = *(const int16_t *)t->data; return true;
    case ONNX_INT32: *out = *(const int32_t *)t->data; return true;
    case ONNX_UINT8: *out = *(const uint8_t *)t->data; return true;
    case ONNX_UINT16: *out = *(const uint16_t *)t->data; return true;
    case ONNX_UINT32: *out = *(const uint32_t *)t->data; return true;
    case ONNX_INT64:
        memcpy(&i64, t->data, 8);
        *out = (double)i64;
        if (i64 >= -(INT64_C(1) << 53) && i64 <= (INT64_C(1) << 53))
            return true;
        break;
    case ONNX_UINT64:
        memcpy(&u64, t->data, 8);
        *out = (double)u64;
        if (u64 <= (UINT64_C(1) << 53))
            return true;
        break;
    default: break;
    }
    map_error(m, "input \"%s\" (%s) cannot be passed to ts_op_clip as a double", name,
              onnx_type_name(t->onnx_type));
    return false;
}

/* The bound that leaves every value of dtype alone: infinities for floats, the type's
 * range for integers (where a double holds it exactly). */
static bool open_bound(Mapping *m, TsDType dtype, bool upper, double *out)
{
    char name[TS_DTYPE_STR_MAX];
    if (ts_dtype_is_float(dtype)) {
        *out = upper ? INFINITY : -INFINITY;
        return true;
    }
    if (ts_dtype_is_int(dtype)) {
        bool is_signed = !ts_dtype_is_uint(dtype);
        int value_bits = dtype.bits - (is_signed ? 1 : 0);
        if (!upper) {
            *out = is_signed ? -ldexp(1.0, value_bits) : 0.0;
            return true;
        }
        if (value_bits <= 53) {
            *out = ldexp(1.0, value_bits) - 1.0;
            return true;
        }
    }
    map_error(m, "no %s bound given, and %s's %s is not a double ts_op_clip can take",
              upper ? "max" : "min", ts_dtype_str(dtype, name), upper ? "maximum" : "minimum");
    return false;
}

/* Clip-11 and later take min and max as optional inputs; Clip-6 as attributes with
 * float's full range as defaults. When min > max ONNX sets every value to max, which is
 * what min(max(x, lo), hi) gives; ts_op_clip requires lo <= hi, so lo becomes hi. */
static TsTensor *map_clip(Mapping *m)
{
    TsTensor *x = operand(m, 0);
    if (!x)
        return NULL;
    TsDType dtype = ts_tensor_dtype(x);
    double lo = 0, hi = 0;
    if (m->opset < 11) {
        if (!attr_float(m, "min", -FLT_MAX, &lo) || !attr_float(m, "max", FLT_MAX, &hi))
            return NULL;
    } else {
        bool lo_ok =
            has_operand(m, 1) ? scalar_operand(m, 1, &lo) : open_bound(m, dtype, false, &lo);
        bool hi_ok =
            has_operand(m, 2) ? scalar_operand(m, 2, &hi) : open_bound(m, dtype, true, &hi);
        if (!lo_ok || !hi_ok)
            return NULL;
    }
    if (lo > hi)
        lo = hi;
    return ts_op_clip(m->arena, x, lo, hi);
}

/* ---- data movement ---- */

static TsTensor *map_concat(Mapping *m)
{
    TsTensor *inputs[MAX_OPERANDS];
    int64_t axis = 0;
    if (!attr_int(m, "axis", 1, &axis))
        return NULL;
    if (m->opset >= 4 && !onnx_node_attr(m->node, "axis"))
        return map_error(m, "attribute axis is required");
    for (int k = 0; k < m->num_operands; k++)
        inputs[k] = operand(m, k);
    return ts_op_concat(m->arena, m->num_operands, inputs, (int)axis);
}

static TsTensor *map_flatten(Mapping *m)
{
    int64_t axis = 1;
    if (!attr_int(m, "axis", 1, &axis))
        return NULL;
    return ts_op_flatten(m->arena, operand(m, 0), (int)axis);
}

/* Reshape-5 and later read the target shape from an int64 input (0 copies the input's
 * dimension, -1 is inferred, unless allowzero=1); Reshape-1 from an attribute. */
static TsTensor *map_reshape(Mapping *m)
{
    int64_t shape[TS_MAX_DIMS];
    int ndim = 0;
    int64_t allow_zero = 0;
    if (!attr_int(m, "allowzero", 0, &allow_zero))
        return NULL;
    const int64_t *source = NULL;
    if (m->opset < 5) {
        const OnnxAttr *a = onnx_node_attr(m->node, "shape");
        if (!a || a->kind != ONNX_ATTR_INTS)
            return map_error(m, "attribute shape (ints) is required");
        ndim = a->num_values;
        source = a->ints;
    } else {
        if (!has_operand(m, 1))
            return map_error(m, "the shape input is missing");
        const OnnxTensor *s = m->operand[1];
        if (s->onnx_type != ONNX_INT64 || s->ndim != 1)
            return map_error(m, "the shape input must be a 1-D INT64 tensor");
        ndim = (int)s->num_elements;
        source = s->data;
    }
    if (ndim < 1 || ndim > TS_MAX_DIMS)
        return map_error(m, "a shape of %d dimensions", ndim);
    memcpy(shape, source, (size_t)ndim * sizeof *shape);
    for (int d = 0; d < ndim; d++)
        if (allow_zero && shape[d] == 0)
            return map_error(m, "allowzero=1 with a 0 in the shape has no Tessera counterpart");
    return ts_op_reshape(m->arena, operand(m, 0), ndim, shape);
}

/* ---- quantized operators ---- */

/* An optional input: its placeholder, or NULL when the node omits it. */
static TsTensor *optional_operand(Mapping *m, int k)
{
    return has_operand(m, k) ? operand(m, k) : NULL;
}

static TsTensor *map_conv_integer(Mapping *m)
{
    TsTensor *x = operand(m, 0), *w = operand(m, 1);
    if (!require_rank(m, x, 4, "the input") || !require_rank(m, w, 4, "the weight"))
        return NULL;
    int64_t in_hw[2] = { ts_tensor_dim(x, 2), ts_tensor_dim(x, 3) };
    int64_t kernel[2] = { ts_tensor_dim(w, 2), ts_tensor_dim(w, 3) };
    Window win;
    int64_t group = 1;
    if (!read_window(m, in_hw, kernel, &win) || !attr_int(m, "group", 1, &group))
        return NULL;
    TsConv2dAttrs attrs = ts_conv2d_attrs_default();
    for (int d = 0; d < 2; d++) {
        attrs.stride[d] = win.stride[d];
        attrs.dilation[d] = win.dilation[d];
    }
    memcpy(attrs.padding, win.pads, sizeof attrs.padding);
    attrs.groups = group;
    return ts_op_conv2d_integer(m->arena, x, w, optional_operand(m, 2), optional_operand(m, 3),
                                &attrs);
}

static TsTensor *map_matmul_integer(Mapping *m)
{
    return ts_op_matmul_integer(m->arena, operand(m, 0), operand(m, 1), optional_operand(m, 2),
                                optional_operand(m, 3));
}

/* axis, and block_size, which must be 0 (blocked quantization has no Tessera operator). */
static bool quant_axis(Mapping *m, int64_t *axis)
{
    int64_t block_size = 0;
    if (!attr_int(m, "axis", 1, axis) || !attr_int(m, "block_size", 0, &block_size))
        return false;
    if (block_size != 0) {
        map_error(m, "block_size %" PRId64 ": blocked quantization has no Tessera operator",
                  block_size);
        return false;
    }
    return true;
}

static TsTensor *map_quantize_linear(Mapping *m)
{
    int64_t axis, output_dtype = 0;
    TsDType out = { 0, 0, 0 };
    if (!quant_axis(m, &axis) || !attr_int(m, "output_dtype", 0, &output_dtype))
        return NULL;
    if (output_dtype != 0 && !rly_dtype_of_onnx((int32_t)output_dtype, &out))
        return map_error(m, "output_dtype %s has no Tessera type",
                         onnx_type_name((int32_t)output_dtype));
    return ts_op_quantize_linear(m->arena, operand(m, 0), operand(m, 1), optional_operand(m, 2),
                                 (int)axis, out);
}

static TsTensor *map_dequantize_linear(Mapping *m)
{
    int64_t axis;
    if (!quant_axis(m, &axis))
        return NULL;
    return ts_op_dequantize_linear(m->arena, operand(m, 0), operand(m, 1), optional_operand(m, 2),
                                   (int)axis);
}

typedef TsTensor *(*MapFn)(Mapping *m);

static const struct {
    const char *op_type;
    MapFn map;
} mappers[] = {
    { "Conv", map_conv },
    { "MaxPool", map_max_pool },
    { "AveragePool", map_avg_pool },
    { "GlobalAveragePool", map_global_avg_pool },
    { "Gemm", map_gemm },
    { "MatMul", map_matmul },
    { "Relu", map_relu },
    { "Add", map_add },
    { "Mul", map_mul },
    { "Softmax", map_softmax },
    { "BatchNormalization", map_batch_norm },
    { "Clip", map_clip },
    { "Concat", map_concat },
    { "Flatten", map_flatten },
    { "Reshape", map_reshape },
    { "ConvInteger", map_conv_integer },
    { "MatMulInteger", map_matmul_integer },
    { "QuantizeLinear", map_quantize_linear },
    { "DequantizeLinear", map_dequantize_linear },
};

/* Builds the Tessera DAG of the test's node; NULL with the reason in the arena. */
static TsTensor *map_node(Mapping *m)
{
    const OnnxNode *node = m->node;
    if (m->test->model.num_nodes != 1)
        return map_error(m, "the graph has %d nodes; a node test has one",
                         m->test->model.num_nodes);
    if (node->domain[0] && strcmp(node->domain, "ai.onnx") != 0)
        return map_error(m, "operator domain \"%s\"", node->domain);
    if (!resolve_operands(m))
        return NULL;
    for (size_t k = 0; k < sizeof mappers / sizeof mappers[0]; k++)
        if (strcmp(mappers[k].op_type, node->op_type) == 0)
            return mappers[k].map(m);
    return map_error(m, "no mapping onto the operator library");
}

/* ---- comparison ---- */

static void format_index(const OnnxTensor *t, int64_t flat, char *buf, size_t size)
{
    int64_t index[TS_MAX_DIMS];
    for (int d = t->ndim - 1; d >= 0; d--) {
        index[d] = t->shape[d] ? flat % t->shape[d] : 0;
        flat = t->shape[d] ? flat / t->shape[d] : 0;
    }
    size_t used = (size_t)snprintf(buf, size, "[");
    for (int d = 0; d < t->ndim && used < size; d++)
        used += (size_t)snprintf(buf + used, size - used, "%s%" PRId64, d ? ", " : "", index[d]);
    if (used < size)
        snprintf(buf + used, size - used, "]");
}

/* Element i of a buffer of t's dtype, as text. */
static void format_value(const OnnxTensor *t, const void *data, int64_t i, char *buf, size_t size)
{
    switch (t->onnx_type) {
    case ONNX_FLOAT: snprintf(buf, size, "%.9g", ((const float *)data)[i]); break;
    case ONNX_DOUBLE: snprintf(buf, size, "%.17g", ((const double *)data)[i]); break;
    case ONNX_INT8: snprintf(buf, size, "%d", ((const int8_t *)data)[i]); break;
    case ONNX_INT16: snprintf(buf, size, "%d", ((const int16_t *)data)[i]); break;
    case ONNX_INT32: snprintf(buf, size, "%" PRId32, ((const int32_t *)data)[i]); break;
    case ONNX_INT64: snprintf(buf, size, "%" PRId64, ((const int64_t *)data)[i]); break;
    case ONNX_UINT8:
    case ONNX_BOOL: snprintf(buf, size, "%u", ((const uint8_t *)data)[i]); break;
    case ONNX_UINT16:
    case ONNX_FLOAT16: snprintf(buf, size, "%u", ((const uint16_t *)data)[i]); break;
    case ONNX_UINT32: snprintf(buf, size, "%" PRIu32, ((const uint32_t *)data)[i]); break;
    default: snprintf(buf, size, "%" PRIu64, ((const uint64_t *)data)[i]); break;
    }
}

/* numpy.testing.assert_allclose(got, expected, rtol, atol) for one element: NaNs match
 * NaNs, infinities match themselves. */
static bool close_enough(double expected, double got)
{
    if (isnan(expected) || isnan(got))
        return isnan(expected) && isnan(got);
    if (expected == got)
        return true;
    return fabs(got - expected) <= abs_tolerance + rel_tolerance * fabs(expected);
}

/* Compares got (a buffer of expected's dtype and size) with expected: float32 and float64
 * under the tolerance, everything else bit for bit (float16 too, which is stricter than
 * ONNX's runner; no vendored test has a float16 output). Returns the number of differing
 * elements and describes the first few in report. */
static int64_t compare_output(const OnnxTensor *expected, const void *got, char *report,
                              size_t size)
{
    size_t width = ts_dtype_bytes(expected->dtype);
    int64_t mismatches = 0;
    size_t used = 0;
    report[0] = '\0';
    for (int64_t i = 0; i < expected->num_elements; i++) {
        bool same;
        if (expected->onnx_type == ONNX_FLOAT)
            same = close_enough(((const float *)expected->data)[i], ((const float *)got)[i]);
        else if (expected->onnx_type == ONNX_DOUBLE)
            same = close_enough(((const double *)expected->data)[i], ((const double *)got)[i]);
        else
            same = memcmp((const char *)expected->data + (size_t)i * width,
                          (const char *)got + (size_t)i * width, width) == 0;
        if (same)
            continue;
        if (++mismatches <= 4 && used < size) {
            char where[128], want[48], have[48];
            format_index(expected, i, where, sizeof where);
            format_value(expected, expected->data, i, want, sizeof want);
            format_value(expected, got, i, have, sizeof have);
            used += (size_t)snprintf(report + used, size - used, "%sat %s expected %s, got %s",
                                     mismatches > 1 ? "; " : "", where, want, have);
        }
    }
    return mismatches;
}

static void format_shape(int ndim, const int64_t *shape, char *buf, size_t size)
{
    size_t used = (size_t)snprintf(buf, size, "[");
    for (int d = 0; d < ndim && used < size; d++)
        used += (size_t)snprintf(buf + used, size - used, "%s%" PRId64, d ? ", " : "", shape[d]);
    if (used < size)
        snprintf(buf + used, size - used, "]");
}

/* The output's dtype and shape must be the expected ones exactly. */
static bool same_signature(const OnnxTensor *expected, TsTensor *y, char *why, size_t size)
{
    char want[TS_DTYPE_STR_MAX], have[TS_DTYPE_STR_MAX];
    if (!ts_dtype_eq(expected->dtype, ts_tensor_dtype(y))) {
        snprintf(why, size, "output dtype: expected %s, got %s",
                 ts_dtype_str(expected->dtype, want), ts_dtype_str(ts_tensor_dtype(y), have));
        return false;
    }
    int64_t shape[TS_MAX_DIMS];
    int ndim = ts_tensor_ndim(y);
    bool same = ndim == expected->ndim;
    for (int d = 0; d < ndim && d < TS_MAX_DIMS; d++) {
        shape[d] = ts_tensor_dim(y, d);
        same = same && d < expected->ndim && shape[d] == expected->shape[d];
    }
    if (!same) {
        char want_shape[160], have_shape[160];
        format_shape(expected->ndim, expected->shape, want_shape, sizeof want_shape);
        format_shape(ndim, shape, have_shape, sizeof have_shape);
        snprintf(why, size, "output shape: expected %s, got %s", want_shape, have_shape);
    }
    return same;
}

/* ---- running one test ---- */

/* Loads, maps, evaluates and compares one ONNX test; false with the reason in why. */
static bool check_node_test(const char *name, char *why, size_t size)
{
    NodeTest test;
    TsError err;
    ts_error_clear(&err);
    void *result = NULL;
    bool ok = false;
    if (load_node_test(name, &test, &err) != TS_OK) {
        snprintf(why, size, "%s: %s", ts_status_name(err.status), err.message);
        return false;
    }
    TsArena *arena = ts_arena_create();
    if (!arena) {
        snprintf(why, size, "%s: cannot create an arena", name);
        goto out_free_test;
    }
    Mapping m = {
        .arena = arena, .test = &test, .node = &test.model.node, .opset = test.model.opset
    };
    TsTensor *y = map_node(&m);
    if (ts_arena_check(arena, &err) != TS_OK || !y) {
        snprintf(why, size, "building the DAG failed: %s: %s", ts_status_name(err.status),
                 err.status != TS_OK ? err.message
                                     : "a builder returned NULL without recording why");
        goto out_free_arena;
    }
    if (test.num_outputs != 1 || test.model.node.num_outputs != 1) {
        snprintf(why, size, "%d output files for %d node outputs; the mapping gives one",
                 test.num_outputs, test.model.node.num_outputs);
        goto out_free_arena;
    }
    const OnnxTensor *expected = &test.outputs[0];
    if (!same_signature(expected, y, why, size))
        goto out_free_arena;
    result = calloc((size_t)(expected->num_elements ? expected->num_elements : 1),
                    ts_dtype_bytes(expected->dtype));
    if (!result) {
        snprintf(why, size, "out of memory for the output");
        goto out_free_arena;
    }
    m.bindings[m.num_bindings++] = (TsBinding){ .tensor = y, .data = result };
    if (ts_evaluate(1, &y, m.num_bindings, m.bindings, &err) != TS_OK) {
        snprintf(why, size, "ts_evaluate: %s: %s", ts_status_name(err.status), err.message);
        goto out_free_result;
    }
    char report[REPORT_MAX / 2];
    int64_t mismatches = compare_output(expected, result, report, sizeof report);
    if (mismatches) {
        snprintf(why, size, "%s: %" PRId64 " of %" PRId64 " elements differ (rtol %g, atol %g): %s",
                 test.model.node.op_type, mismatches, expected->num_elements, rel_tolerance,
                 abs_tolerance, report);
        goto out_free_result;
    }
    ok = true;

out_free_result:
    free(result);
out_free_arena:
    ts_arena_destroy(arena);
out_free_test:
    free_node_test(&test);
    return ok;
}

static void run_node_test(void **state)
{
    const char *name = *state;
    char why[REPORT_MAX];
    if (!check_node_test(name, why, sizeof why))
        fail_msg("%s: %s", name, why);
}

#define NODE_TEST(test_name)                                                                \
    {                                                                                       \
        .name = #test_name, .test_func = run_node_test, .initial_state = (void *)#test_name \
    }

/* A vendored test Tessera refuses: it must fail to map or load, with the reason. */
typedef struct Refusal {
    const char *name, *reason;
} Refusal;

static void run_refused_test(void **state)
{
    const Refusal *r = *state;
    char why[REPORT_MAX];
    if (check_node_test(r->name, why, sizeof why))
        fail_msg("%s: ran, but it should be refused with \"%s\"", r->name, r->reason);
    if (!strstr(why, r->reason))
        fail_msg("%s: refused with \"%s\", expected \"%s\"", r->name, why, r->reason);
}

#define NODE_REFUSED(test_name, why)                       \
    {                                                      \
        .name = #test_name, .test_func = run_refused_test, \
        .initial_state = (void *)&(const Refusal)          \
        {                                                  \
#test_name, why                                \
        }                                                  \
    }

static void vendored_folders_are_listed(void **state);

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(vendored_folders_are_listed),
    NODE_TEST(test_add),
    NODE_TEST(test_add_int16),
    NODE_TEST(test_add_int8),
    NODE_TEST(test_add_uint16),
    NODE_TEST(test_add_uint32),
    NODE_TEST(test_add_uint64),
    NODE_TEST(test_add_uint8),
    NODE_TEST(test_averagepool_2d_ceil),
    NODE_TEST(test_averagepool_2d_default),
    NODE_TEST(test_averagepool_2d_pads),
    NODE_TEST(test_averagepool_2d_precomputed_pads),
    NODE_TEST(test_averagepool_2d_precomputed_pads_count_include_pad),
    NODE_TEST(test_averagepool_2d_precomputed_strides),
    NODE_TEST(test_averagepool_2d_same_upper),
    NODE_TEST(test_averagepool_2d_strides),
    NODE_TEST(test_AvgPool2d),
    NODE_TEST(test_AvgPool2d_stride),
    NODE_TEST(test_basic_conv_with_padding),
    NODE_TEST(test_basic_conv_without_padding),
    NODE_TEST(test_conv_with_strides_no_padding),
    NODE_TEST(test_convinteger_without_padding),
    NODE_TEST(test_Conv2d),
    NODE_TEST(test_Conv2d_depthwise),
    NODE_TEST(test_Conv2d_depthwise_padded),
    NODE_TEST(test_Conv2d_depthwise_strided),
    NODE_TEST(test_Conv2d_groups_thnn),
    NODE_TEST(test_Conv2d_no_bias),
    NODE_TEST(test_Conv2d_padding),
    NODE_TEST(test_Conv2d_strided),
    NODE_TEST(test_batchnorm_example),
    NODE_TEST(test_clip),
    NODE_TEST(test_clip_default_inbounds),
    NODE_TEST(test_clip_default_int8_inbounds),
    NODE_TEST(test_clip_default_int8_max),
    NODE_TEST(test_clip_default_max),
    NODE_TEST(test_clip_default_min),
    NODE_TEST(test_clip_example),
    NODE_TEST(test_clip_inbounds),
    NODE_TEST(test_clip_min_greater_than_max),
    NODE_TEST(test_clip_outbounds),
    NODE_TEST(test_clip_splitbounds),
    NODE_TEST(test_operator_clip),
    NODE_TEST(test_concat_1d_axis_0),
    NODE_TEST(test_concat_1d_axis_negative_1),
    NODE_TEST(test_concat_2d_axis_0),
    NODE_TEST(test_concat_2d_axis_1),
    NODE_TEST(test_concat_2d_axis_negative_1),
    NODE_TEST(test_concat_2d_axis_negative_2),
    NODE_TEST(test_concat_3d_axis_0),
    NODE_TEST(test_concat_3d_axis_1),
    NODE_TEST(test_concat_3d_axis_2),
    NODE_TEST(test_concat_3d_axis_negative_1),
    NODE_TEST(test_concat_3d_axis_negative_3),
    NODE_TEST(test_operator_concat2),
    NODE_TEST(test_flatten_axis0),
    NODE_TEST(test_flatten_axis1),
    NODE_TEST(test_flatten_axis2),
    NODE_TEST(test_flatten_axis3),
    NODE_TEST(test_flatten_default_axis),
    NODE_TEST(test_flatten_negative_axis1),
    NODE_TEST(test_flatten_negative_axis3),
    NODE_TEST(test_flatten_negative_axis4),
    NODE_TEST(test_operator_flatten),
    NODE_TEST(test_operator_view),
    NODE_TEST(test_gemm_alpha),
    NODE_TEST(test_gemm_beta),
    NODE_TEST(test_gemm_default_matrix_bias),
    NODE_TEST(test_gemm_default_no_bias),
    NODE_TEST(test_gemm_default_scalar_bias),
    NODE_TEST(test_gemm_default_single_elem_vector_bias),
    NODE_TEST(test_gemm_default_vector_bias),
    NODE_TEST(test_gemm_default_zero_bias),
    NODE_TEST(test_gemm_transposeB),
    NODE_TEST(test_globalaveragepool),
    NODE_TEST(test_matmul_2d),
    NODE_TEST(test_matmulinteger),
    NODE_TEST(test_quantizelinear),
    NODE_TEST(test_dequantizelinear),
    NODE_REFUSED(test_quantizelinear_int16, "output dtype int16 is not int8 or uint8"),
    NODE_REFUSED(test_dequantizelinear_uint16, "x 'x' has dtype uint16; expected uint8 or int8"),
    NODE_REFUSED(test_quantizelinear_blocked_asymmetric,
                 "block_size 2: blocked quantization has no Tessera operator"),
    NODE_REFUSED(test_dequantizelinear_blocked,
                 "block_size 2: blocked quantization has no Tessera operator"),
    NODE_REFUSED(test_quantizelinear_int4, "INT4"),
    NODE_TEST(test_maxpool_2d_ceil_output_size_reduce_by_one),
    NODE_TEST(test_maxpool_2d_default),
    NODE_TEST(test_maxpool_2d_pads),
    NODE_TEST(test_maxpool_2d_precomputed_pads),
    NODE_TEST(test_maxpool_2d_precomputed_strides),
    NODE_TEST(test_maxpool_2d_same_upper),
    NODE_TEST(test_maxpool_2d_strides),
    NODE_TEST(test_maxpool_2d_uint8),
    NODE_TEST(test_MaxPool2d),
    NODE_TEST(test_mul),
    NODE_TEST(test_mul_example),
    NODE_TEST(test_mul_int16),
    NODE_TEST(test_mul_int8),
    NODE_TEST(test_mul_uint16),
    NODE_TEST(test_mul_uint32),
    NODE_TEST(test_mul_uint64),
    NODE_TEST(test_mul_uint8),
    NODE_TEST(test_relu),
    NODE_TEST(test_ReLU),
    NODE_TEST(test_reshape_extended_dims),
    NODE_TEST(test_reshape_negative_dim),
    NODE_TEST(test_reshape_negative_extended_dims),
    NODE_TEST(test_reshape_one_dim),
    NODE_TEST(test_reshape_reduced_dims),
    NODE_TEST(test_reshape_reordered_all_dims),
    NODE_TEST(test_reshape_reordered_last_dims),
    NODE_TEST(test_reshape_zero_dim),
    NODE_TEST(test_softmax_axis_0),
    NODE_TEST(test_softmax_axis_1),
    NODE_TEST(test_softmax_axis_2),
    NODE_TEST(test_softmax_default_axis),
    NODE_TEST(test_softmax_example),
    NODE_TEST(test_softmax_large_number),
    NODE_TEST(test_Softmax),
    NODE_TEST(test_softmax_functional_dim3),
    NODE_TEST(test_softmax_lastdim),
};

#define NUM_TESTS ((int)(sizeof tests / sizeof tests[0]))

/* Every folder in node/ is run by a NODE_TEST or NODE_REFUSED entry and every entry has
 * a folder, so no vendored test is silently skipped. */
static void vendored_folders_are_listed(void **state)
{
    (void)state;
    DIR *dir = opendir(TESSERA_ONNX_DIR "/node");
    if (!dir)
        fail_msg("cannot open %s/node", TESSERA_ONNX_DIR);
    int folders = 0;
    char unlisted[256] = "";
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        if (entry->d_name[0] == '.')
            continue;
        folders++;
        bool listed = false;
        for (int k = 0; k < NUM_TESTS && !listed; k++)
            listed =
                (tests[k].test_func == run_node_test || tests[k].test_func == run_refused_test) &&
                strcmp(tests[k].name, entry->d_name) == 0;
        if (!listed && !unlisted[0])
            snprintf(unlisted, sizeof unlisted, "%s", entry->d_name);
    }
    closedir(dir);
    if (unlisted[0])
        fail_msg("node/%s is vendored but has no NODE_TEST entry", unlisted);
    assert_int_equal(folders, NUM_TESTS - 1);
}

int main(void)
{
    return cmocka_run_group_tests_name("onnx_node_tests", tests, NULL, NULL);
}
