/* Integer convolution groups (tessera.QConv from the QDQ fusion, QLinearConv) on the int8
 * conv2d templates (schedule/templates/conv2d_int8.c, conv2d_amx.c), which multiply
 * data by weights with zero points 0. A quantized model's activations usually have a
 * non-zero zero point (uint8) and its weights are symmetric (zero point 0), so
 *   sum (x - x_zp) * w  =  sum x * w  -  x_zp * sum w
 * where the padding holds x_zp (ONNX pads the shifted data with zeros). The builder pads
 * the data with x_zp itself (the template then runs with pad 0) and folds
 * -x_zp * sum(w[k]) into the int32 bias, once, here: the weights are constants. Three
 * kernels, as for the fp32 blocked templates (build_template.c):
 *   pack:     pad with x_zp and pack into NCHW[ic]c (generic schedule);
 *   template: the int8 template's kernel, the weight packed once for its dot products;
 *   out:      unpack, bias, requantization (float multiplier, as ONNX Runtime), the
 *             folded clamp, and the group's fused nodes (generic schedule).
 * A group the templates cannot take (a non-zero weight zero point, grouped or dilated
 * convolution, data of another type than the template's, a parameter computed at run
 * time) keeps the generic schedule of the integer te op, with a note saying why. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "relay_lite/rly_build.h"
#include "tessera/autotune.h"
#include "tessera/ops.h"

/* The group's convolution, read from its anchor. */
typedef struct QConv {
    const RlyNode *node;
    const RlyValue *x, *w, *bias, *y;
    int64_t pads[4], stride, x_zp;
    float x_scale, y_scale;
    const float *w_scale;
    int64_t w_scales;
} QConv;

static bool const_1(const RlyValue *v)
{
    return v && v->constant && v->constant->num_elements == 1;
}

static int64_t int8_value(const RlyValue *v)
{
    return ts_dtype_eq(v->dtype, TS_INT8) ? ((const int8_t *)v->constant->data)[0]
                                          : ((const uint8_t *)v->constant->data)[0];
}

static bool all_zero(const RlyValue *v)
{
    const uint8_t *bytes = v->constant->data;
    for (int64_t i = 0; i < v->constant->num_elements; i++)
        if (bytes[i])
            return false;
    return true;
}

/* Why the group cannot use a template (NULL when it can); reads the convolution. */
static const char *read_qconv(const RlyBuild *b, const RlyNode *n, QConv *q)
{
    const TsGraph *g = b->graph;
    TsError err;
    int64_t values[4], group = 1;
    int count = -1;
    const char *auto_pad = "NOTSET";
    memset(q, 0, sizeof *q);
    q->node = n;
    q->x = rly_input(n, 0);
    q->w = rly_input(n, 3);
    q->bias = rly_input(n, 8);
    q->y = rly_output(n, 0);
    const RlyValue *xs = rly_input(n, 1), *xz = rly_input(n, 2), *ws = rly_input(n, 4),
                   *wz = rly_input(n, 5), *ys = rly_input(n, 6);
    if (q->x->ndim != 4 || !q->w->constant || !ts_dtype_eq(q->w->dtype, TS_INT8))
        return "not a 2-D convolution of a constant int8 weight";
    if (!const_1(xs) || !const_1(xz) || !ws->constant || !wz->constant || !const_1(ys) ||
        (q->bias && !q->bias->constant))
        return "a quantization parameter is computed at run time";
    if (!all_zero(wz))
        return "the weight's zero point is not 0 (the templates compute with zero points 0)";
    if (rly_attr_int(g, n, "group", 1, &group, &err) != TS_OK || group != 1)
        return "a grouped convolution";
    if (rly_attr_ints(g, n, "dilations", 2, values, &count, &err) != TS_OK ||
        (count == 2 && (values[0] != 1 || values[1] != 1)))
        return "a dilated convolution";
    if (rly_attr_ints(g, n, "strides", 2, values, &count, &err) != TS_OK ||
        (count == 2 && values[0] != values[1]))
        return "unequal strides";
    q->stride = count == 2 ? values[0] : 1;
    if (rly_attr_string(g, n, "auto_pad", "NOTSET", &auto_pad, &err) != TS_OK ||
        (strcmp(auto_pad, "NOTSET") && strcmp(auto_pad, "VALID")))
        return "auto_pad SAME";
    if (rly_attr_ints(g, n, "pads", 4, q->pads, &count, &err) != TS_OK)
        return "unreadable pads";
    if (count != 4)
        memset(q->pads, 0, sizeof q->pads);
    q->x_zp = int8_value(xz);
    q->x_scale = ((const float *)xs->constant->data)[0];
    q->y_scale = ((const float *)ys->constant->data)[0];
    q->w_scale = ws->constant->data;
    q->w_scales = ws->constant->num_elements;
    return NULL;
}

/* The template workload: the padded data with pad 0. */
static TsStatus workload(const QConv *q, TsTemplateArgs *args, TsError *err)
{
    const int64_t *x = q->x->dims, *w = q->w->dims;
    const char *names[] = { "N", "C", "H", "W", "K", "R", "S", "stride", "pad" };
    int64_t values[] = { x[0],
                         x[1],
                         x[2] + q->pads[0] + q->pads[2],
                         x[3] + q->pads[1] + q->pads[3],
                         w[0],
                         w[2],
                         w[3],
                         q->stride,
                         0 };
    memset(args, 0, sizeof *args);
    TsStatus st = TS_OK;
    for (int i = 0; st == TS_OK && i < 9; i++)
        st = ts_template_args_set(args, names[i], values[i], err);
    return st == TS_OK ? ts_template_args_set_dtype(args, "dtype", TS_INT8, err) : st;
}

static RlyValue *constant_value(RlyBuild *b, const RlyGroup *group, const char *what, TsDType dtype,
                                int ndim, const int64_t *dims, void *data)
{
    char name[64];
    snprintf(name, sizeof name, "group%d.%s", group->id, what);
    return rly_build_value(b, name, dtype, ndim, dims, data);
}

/* The folded bias: b[k] - x_zp * sum(w[k]) (int32, wrapping as the kernel adds), and the
 * requantization multiplier (x_scale * w_scale[k]) / y_scale in float32. */
static TsStatus folded_constants(RlyBuild *b, const RlyGroup *group, const QConv *q,
                                 RlyValue **bias, RlyValue **mult, TsError *err)
{
    int64_t k_count = q->w->dims[0], per = rly_value_elements(q->w) / k_count;
    int32_t *bias_data = ts_arena_alloc(b->arena, (size_t)k_count * sizeof *bias_data);
    float *mult_data = ts_arena_alloc(b->arena, (size_t)k_count * sizeof *mult_data);
    if (!bias_data || !mult_data)
        return ts_arena_check(b->arena, err);
    const int8_t *w = q->w->constant->data;
    const int32_t *b0 = q->bias ? q->bias->constant->data : NULL;
    for (int64_t k = 0; k < k_count; k++) {
        int64_t sum = 0;
        for (int64_t i = 0; i < per; i++)
            sum += w[k * per + i];
        uint32_t folded = (uint32_t)(b0 ? b0[k] : 0) - (uint32_t)(q->x_zp * sum);
        memcpy(&bias_data[k], &folded, sizeof folded);
        float product = q->x_scale * q->w_scale[q->w_scales == 1 ? 0 : k];
        mult_data[k] = product / q->y_scale;
    }
    *bias = constant_value(b, group, "bias_folded", TS_INT32, 1, &k_count, bias_data);
    *mult = constant_value(b, group, "requant_multiplier", TS_FLOAT32, 1, &k_count, mult_data);
    return *bias && *mult ? TS_OK : ts_arena_check(b->arena, err);
}

static RlyKernel *next_kernel(RlyBuild *b)
{
    RlyKernel *k = &b->kernels[b->num_kernels];
    memset(k, 0, sizeof *k);
    return k;
}

/* Kernel 1: the data padded with its zero point and packed, into a scratch value. */
static TsStatus pack_kernel(RlyBuild *b, const RlyGroup *group, const QConv *q,
                            const TsTensor *packed_like, RlyValue **packed, TsError *err)
{
    RlyValueMap map;
    TsStatus st = rly_map_init(b, &map, 2, err);
    if (st != TS_OK)
        return st;
    TsTensor *ph = ts_placeholder(b->arena, "data", 4, q->x->dims, q->x->dtype);
    int64_t before[4] = { 0, 0, q->pads[0], q->pads[1] },
            after[4] = { 0, 0, q->pads[2], q->pads[3] };
    TsTensor *padded = ph ? ts_op_pad(b->arena, ph, before, after, (double)q->x_zp) : NULL;
    TsTensor *t = padded ? ts_op_nchwc_pack_fill(b->arena, padded, ts_tensor_dim(packed_like, 4),
                                                 (double)q->x_zp)
                         : NULL;
    if (!t)
        return ts_arena_check(b->arena, err);
    int64_t dims[5];
    for (int d = 0; d < 5; d++)
        dims[d] = ts_tensor_dim(t, d);
    char name[64];
    snprintf(name, sizeof name, "group%d.data_nchwc", group->id);
    *packed = rly_build_value(b, name, ts_tensor_dtype(t), 5, dims, NULL);
    if (!*packed)
        return ts_arena_check(b->arena, err);
    rly_map_add(&map, q->x, ph);
    rly_map_add(&map, *packed, t);
    TsSchedule *sch = ts_schedule_create(b->arena, 1, &t);
    if (!sch)
        return ts_arena_check(b->arena, err);
    st = rly_schedule_generic(b, sch, 1, &t, err);
    if (st == TS_OK)
        st = rly_lower_kernel(b, sch, group, &map, rly_kernel_name(b, group, "_pack"),
                              next_kernel(b), err);
    b->num_kernels += st == TS_OK;
    return st;
}

/* The weight packed for the template's dot products, once, into a constant. */
static TsStatus packed_weight(RlyBuild *b, const RlyGroup *group, const QConv *q,
                              const TsTensor *like, RlyValue **out, TsError *err)
{
    TsTensor *ph = ts_placeholder(b->arena, "weight", 4, q->w->dims, q->w->dtype);
    TsTensor *expr = ph ? ts_op_conv2d_pack_weight_dot(
                              b->arena, ph, ts_tensor_dim(like, 4) * ts_tensor_dim(like, 6),
                              ts_tensor_dim(like, 5), ts_tensor_dim(like, 6))
                        : NULL;
    if (!expr)
        return ts_arena_check(b->arena, err);
    size_t bytes = (size_t)ts_tensor_num_elements(expr) * ts_dtype_bytes(ts_tensor_dtype(expr));
    void *data = ts_arena_alloc(b->arena, bytes ? bytes : 1);
    if (!data)
        return ts_arena_check(b->arena, err);
    TsBinding bindings[] = { { ph, (void *)q->w->constant->data }, { expr, data } };
    TsStatus st = ts_evaluate(1, &expr, 2, bindings, err);
    if (st != TS_OK)
        return st;
    int64_t dims[TS_MAX_DIMS];
    for (int d = 0; d < ts_tensor_ndim(expr); d++)
        dims[d] = ts_tensor_dim(expr, d);
    *out = constant_value(b, group, "weight_dot", ts_tensor_dtype(expr), ts_tensor_ndim(expr), dims,
                          data);
    return *out ? TS_OK : ts_arena_check(b->arena, err);
}

/* Kernel 2: the template's kernel on the packed data and weight. */
static TsStatus template_kernel(RlyBuild *b, const RlyGroup *group, const QConv *q,
                                const TsTemplateInstance *inst, RlyValue *packed,
                                RlyValue **blocked, TsError *err)
{
    RlyValueMap map;
    RlyValue *weight = NULL;
    TsStatus st = rly_map_init(b, &map, 3, err);
    if (st == TS_OK)
        st = packed_weight(b, group, q, inst->tensors[1], &weight, err);
    if (st != TS_OK)
        return st;
    TsTensor *out = inst->tensors[inst->num_tensors - 1];
    int64_t dims[5];
    for (int d = 0; d < 5; d++)
        dims[d] = ts_tensor_dim(out, d);
    char name[64];
    snprintf(name, sizeof name, "group%d.out_nchwc", group->id);
    *blocked = rly_build_value(b, name, ts_tensor_dtype(out), 5, dims, NULL);
    if (!*blocked)
        return ts_arena_check(b->arena, err);
    rly_map_add(&map, packed, inst->tensors[0]);
    rly_map_add(&map, weight, inst->tensors[1]);
    rly_map_add(&map, *blocked, out);
    st = rly_lower_kernel(b, inst->sch, group, &map, rly_kernel_name(b, group, ""), next_kernel(b),
                          err);
    b->num_kernels += st == TS_OK;
    return st;
}

/* Kernel 3: unpack (the real K channels), folded bias, requantization, the group's other
 * nodes. */
static TsStatus out_kernel(RlyBuild *b, const RlyGroup *group, const QConv *q,
                           const RlyValue *blocked, RlyValue *bias, RlyValue *mult, TsError *err)
{
    RlyValueMap map;
    TsStatus st = rly_map_init(b, &map, rly_group_map_capacity(group) + 4, err);
    if (st != TS_OK)
        return st;
    TsArena *a = b->arena;
    TsTensor *ph = ts_placeholder(a, "blocked", 5, blocked->dims, blocked->dtype);
    TsTensor *bt = ts_placeholder(a, "bias", 1, bias->dims, TS_INT32);
    TsTensor *mt = ts_placeholder(a, "multiplier", 1, mult->dims, TS_FLOAT32);
    TsTensor *zp = ts_placeholder(a, "y_zero_point", rly_input(q->node, 7)->ndim,
                                  rly_input(q->node, 7)->dims, q->y->dtype);
    TsTensor *acc = ph ? ts_op_nchwc_unpack(a, ph) : NULL;
    if (acc && ts_tensor_dim(acc, 1) != q->y->dims[1])
        acc = ts_op_strided_slice(a, acc, (const int64_t[]){ 0, 0, 0, 0 },
                                  (const int64_t[]){ 1, 1, 1, 1 }, q->y->dims);
    TsRequantizeAttrs attrs = ts_requantize_attrs_default(q->y->dtype);
    TsError why;
    if (rly_attr_int(b->graph, q->node, "qmin", attrs.clip_min, &attrs.clip_min, &why) != TS_OK ||
        rly_attr_int(b->graph, q->node, "qmax", attrs.clip_max, &attrs.clip_max, &why) != TS_OK)
        return ts_fail(err, why.status, "%s", why.message);
    TsTensor *y = acc && bt && mt && zp ? ts_op_requantize_mul(a, acc, bt, mt, zp, &attrs) : NULL;
    if (!y)
        return ts_arena_check(a, err);
    rly_map_add(&map, blocked, ph);
    rly_map_add(&map, bias, bt);
    rly_map_add(&map, mult, mt);
    rly_map_add(&map, rly_input(q->node, 7), zp);
    rly_map_add(&map, q->y, y);
    st = rly_group_placeholders(b, group, &map, err);
    if (st == TS_OK)
        st = rly_group_lower_nodes(b, group, q->node, &map, err);
    if (st == TS_OK)
        st = rly_generic_kernel(b, group, &map, rly_kernel_name(b, group, "_out"), next_kernel(b),
                                err);
    b->num_kernels += st == TS_OK;
    return st;
}

static TsStatus kernels(RlyBuild *b, const RlyGroup *group, const QConv *q, const TsTuneTask *task,
                        const TsConfig *config, TsError *err)
{
    const TsTemplate *tmpl = ts_tune_task_template(task);
    TsTemplateInstance inst = { 0 };
    TsTemplateArgs args;
    RlyValue *packed = NULL, *blocked = NULL, *bias = NULL, *mult = NULL;
    TsStatus st = workload(q, &args, err);
    if (st == TS_OK)
        st = tmpl->instantiate(&args, ts_tune_task_isa(task), config, b->arena, &inst, err);
    if (st == TS_OK && (inst.num_tensors != 3 || ts_tensor_ndim(inst.tensors[0]) != 5 ||
                        ts_tensor_ndim(inst.tensors[1]) != 7))
        st = ts_fail(err, TS_EINVAL, "template %s: an instance of another layout", tmpl->name);
    if (st == TS_OK && !ts_dtype_eq(ts_tensor_dtype(inst.tensors[0]), q->x->dtype))
        st = ts_fail(err, TS_EINVAL, "template %s multiplies other data than %s's", tmpl->name,
                     q->x->name);
    if (st == TS_OK)
        st = folded_constants(b, group, q, &bias, &mult, err);
    if (st == TS_OK)
        st = pack_kernel(b, group, q, inst.tensors[0], &packed, err);
    if (st == TS_OK)
        st = template_kernel(b, group, q, &inst, packed, &blocked, err);
    if (st == TS_OK)
        st = out_kernel(b, group, q, blocked, bias, mult, err);
    return st;
}

TsStatus rly_build_qconv(RlyBuild *b, const RlyGroup *group, bool *handled, TsError *err)
{
    *handled = false;
    const RlyNode *anchor = group->anchor;
    if (group->kind != RLY_GROUP_ANCHORED || !anchor || group->num_outputs != 1 ||
        (anchor->op != RLY_OP_QCONV_REQUANT && anchor->op != RLY_OP_QLINEAR_CONV) ||
        rly_group_touches_kept(b, group))
        return TS_OK;
    QConv q;
    const char *why_not = read_qconv(b, anchor, &q);
    if (why_not) {
        rly_build_note(b, "group %d (node %s): no int8 template (%s); generic schedule", group->id,
                       anchor->label, why_not);
        return TS_OK;
    }
    TsTemplateArgs args;
    TsError why;
    TsTuneTask *task = NULL;
    TsConfig config;
    bool found = false;
    TsTuneRecord best;
    const char *target = b->options->target ? b->options->target : "llvm";
    TsStatus st = workload(&q, &args, &why);
    if (st == TS_OK)
        st = ts_tune_task_create("conv2d", &args, target, &task, &why);
    if (st == TS_OK)
        st = ts_tune_apply_best(task, b->options->num_logs, b->options->logs, NULL, NULL, &config,
                                &found, &best, &why);
    int kernels_before = b->num_kernels, scratch_before = b->num_scratch;
    b->scratch_cursor = 0;
    if (st == TS_OK)
        st = kernels(b, group, &q, task, &config, &why);
    const char *name = task && st == TS_OK ? ts_tune_task_template(task)->name : "";
    ts_tune_task_free(task);
    if (st == TS_ENOMEM)
        return ts_fail(err, st, "%s", why.message);
    if (st != TS_OK) {
        b->num_kernels = kernels_before;
        b->num_scratch = scratch_before;
        rly_build_note(b, "group %d (node %s): no int8 template kernel (%s); generic schedule",
                       group->id, anchor->label, why.message);
        return TS_OK;
    }
    rly_build_note(b,
                   "group %d (node %s): int8 template %s, activation zero point %" PRId64
                   " folded into the int32 bias",
                   group->id, anchor->label, name, q.x_zp);
    *handled = true;
    if (found)
        b->stats.num_tuned++;
    else
        b->stats.num_default++;
    return TS_OK;
}
