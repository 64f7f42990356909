/* oneDNN reference cases of the low-precision benchmark (onednn_reference.h): one
 * primitive per case, its operands reordered once into the layouts oneDNN chose. Written
 * against oneDNN 2.6's C API (Debian's libdnnl-dev), whose op descriptors (the *_desc_init
 * calls) oneDNN 3 replaced. */
#include "benchmarks/onednn_reference.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>

struct OnednnCase {
    OnednnProblem problem;
    OnednnPrecision precision;
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t primitive;
    dnnl_memory_t src, weights, dst; /* in the primitive's layouts */
    dnnl_memory_desc_t plain_dst;    /* the caller's layout of the output */
    char name[96];
};

const char *onednn_precision_name(OnednnPrecision precision)
{
    switch (precision) {
    case ONEDNN_F32: return "f32";
    case ONEDNN_BF16: return "bf16";
    case ONEDNN_INT8: return "int8";
    }
    return "?";
}

int onednn_use_one_thread(void)
{
    omp_set_num_threads(1);
    return omp_get_max_threads();
}

size_t onednn_src_count(const OnednnProblem *p)
{
    return (size_t)(p->op == ONEDNN_CONV2D ? p->c * p->h * p->w : p->m * p->k);
}

size_t onednn_weight_count(const OnednnProblem *p)
{
    return (size_t)(p->op == ONEDNN_CONV2D ? p->f * p->c * p->r * p->s : p->k * p->n);
}

/* 0 where the kernel is larger than the padded input (C's division truncates towards
 * zero, so the formula alone would say 1). */
static int64_t out_extent(int64_t in, int64_t kernel, int64_t stride, int64_t pad)
{
    if (in + 2 * pad < kernel)
        return 0;
    return (in + 2 * pad - kernel) / stride + 1;
}

size_t onednn_dst_count(const OnednnProblem *p)
{
    if (p->op == ONEDNN_MATMUL)
        return (size_t)(p->m * p->n);
    return (size_t)(p->f * out_extent(p->h, p->r, p->stride, p->pad) *
                    out_extent(p->w, p->s, p->stride, p->pad));
}

double onednn_flops(const OnednnProblem *p)
{
    if (p->op == ONEDNN_MATMUL)
        return 2.0 * (double)p->m * (double)p->n * (double)p->k;
    return 2.0 * (double)onednn_dst_count(p) * (double)(p->c * p->r * p->s);
}

uint16_t onednn_bf16_from_float(float x)
{
    uint32_t bits;
    memcpy(&bits, &x, sizeof bits);
    if ((bits & 0x7f800000u) == 0x7f800000u && (bits & 0x007fffffu) != 0)
        return (uint16_t)((bits >> 16) | 0x0040u); /* a quiet NaN */
    bits += 0x7fffu + ((bits >> 16) & 1u);
    return (uint16_t)(bits >> 16);
}

float onednn_float_from_bf16(uint16_t x)
{
    uint32_t bits = (uint32_t)x << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static TsStatus check(dnnl_status_t status, const OnednnCase *c, const char *what, TsError *err)
{
    if (status == dnnl_success)
        return TS_OK;
    return ts_fail(err, status == dnnl_unimplemented ? TS_EINVAL : TS_EDEVICE,
                   "oneDNN %s: %s failed (dnnl status %d%s)", c->name, what, (int)status,
                   status == dnnl_unimplemented ? ", unimplemented" : "");
}

/* The data types of src, weights and dst of a precision. */
static void precision_types(OnednnPrecision precision, dnnl_data_type_t types[3])
{
    switch (precision) {
    case ONEDNN_F32: types[0] = types[1] = types[2] = dnnl_f32; return;
    case ONEDNN_BF16:
        types[0] = types[1] = dnnl_bf16;
        types[2] = dnnl_f32;
        return;
    case ONEDNN_INT8:
        types[0] = dnnl_u8;
        types[1] = dnnl_s8;
        types[2] = dnnl_s32;
        return;
    }
}

/* The plain descriptors (what the caller hands in) and the "any" ones (what the
 * primitive is asked to choose) of src, weights and dst. */
static void problem_descs(const OnednnProblem *p, const dnnl_data_type_t types[3],
                          dnnl_memory_desc_t plain[3], dnnl_memory_desc_t any[3])
{
    if (p->op == ONEDNN_CONV2D) {
        dnnl_dims_t dims[3] = {
            { 1, p->c, p->h, p->w },
            { p->f, p->c, p->r, p->s },
            { 1, p->f, out_extent(p->h, p->r, p->stride, p->pad),
              out_extent(p->w, p->s, p->stride, p->pad) },
        };
        const dnnl_format_tag_t tags[3] = { dnnl_nchw, dnnl_oihw, dnnl_nchw };
        for (int i = 0; i < 3; i++) {
            dnnl_memory_desc_init_by_tag(&plain[i], 4, dims[i], types[i], tags[i]);
            dnnl_memory_desc_init_by_tag(&any[i], 4, dims[i], types[i], dnnl_format_tag_any);
        }
        return;
    }
    dnnl_dims_t dims[3] = { { p->m, p->k }, { p->k, p->n }, { p->m, p->n } };
    for (int i = 0; i < 3; i++) {
        dnnl_memory_desc_init_by_tag(&plain[i], 2, dims[i], types[i], dnnl_ab);
        dnnl_memory_desc_init_by_tag(&any[i], 2, dims[i], types[i], dnnl_format_tag_any);
    }
}

/* The primitive descriptor for the "any" descriptors. */
static TsStatus create_pd(OnednnCase *c, const dnnl_memory_desc_t any[3], TsError *err)
{
    const OnednnProblem *p = &c->problem;
    if (p->op == ONEDNN_CONV2D) {
        dnnl_convolution_desc_t desc;
        dnnl_dims_t strides = { p->stride, p->stride }, pad = { p->pad, p->pad };
        TsStatus st = check(dnnl_convolution_forward_desc_init(
                                &desc, dnnl_forward_inference, dnnl_convolution_direct, &any[0],
                                &any[1], NULL, &any[2], strides, pad, pad),
                            c, "convolution_forward_desc_init", err);
        if (st != TS_OK)
            return st;
        return check(dnnl_primitive_desc_create(&c->pd, &desc, NULL, c->engine, NULL), c,
                     "primitive_desc_create", err);
    }
    dnnl_matmul_desc_t desc;
    TsStatus st = check(dnnl_matmul_desc_init(&desc, &any[0], &any[1], NULL, &any[2]), c,
                        "matmul_desc_init", err);
    if (st != TS_OK)
        return st;
    return check(dnnl_primitive_desc_create(&c->pd, &desc, NULL, c->engine, NULL), c,
                 "primitive_desc_create", err);
}

/* Copies from into to (memories of the same shape, perhaps different layouts) with a
 * reorder primitive. */
static TsStatus reorder(OnednnCase *c, dnnl_memory_t from, dnnl_memory_t to, TsError *err)
{
    const dnnl_memory_desc_t *from_md, *to_md;
    dnnl_memory_get_memory_desc(from, &from_md);
    dnnl_memory_get_memory_desc(to, &to_md);
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t prim = NULL;
    TsStatus st =
        check(dnnl_reorder_primitive_desc_create(&pd, from_md, c->engine, to_md, c->engine, NULL),
              c, "reorder_primitive_desc_create", err);
    if (st != TS_OK)
        return st;
    st = check(dnnl_primitive_create(&prim, pd), c, "reorder primitive_create", err);
    if (st != TS_OK)
        goto out_free_pd;
    dnnl_exec_arg_t args[2] = { { DNNL_ARG_FROM, from }, { DNNL_ARG_TO, to } };
    st = check(dnnl_primitive_execute(prim, c->stream, 2, args), c, "reorder", err);
    if (st == TS_OK)
        st = check(dnnl_stream_wait(c->stream), c, "stream_wait", err);
    dnnl_primitive_destroy(prim);
out_free_pd:
    dnnl_primitive_desc_destroy(pd);
    return st;
}

/* A memory in the primitive's layout `what` (a dnnl_query_*_md), filled from the plain
 * buffer when there is one. */
static TsStatus operand(OnednnCase *c, dnnl_query_t what, const dnnl_memory_desc_t *plain,
                        const void *values, dnnl_memory_t *out, TsError *err)
{
    const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(c->pd, what, 0);
    TsStatus st = check(dnnl_memory_create(out, md, c->engine, DNNL_MEMORY_ALLOCATE), c,
                        "memory_create", err);
    if (st != TS_OK || !values)
        return st;
    dnnl_memory_t from;
    st =
        check(dnnl_memory_create(&from, plain, c->engine, (void *)values), c, "memory_create", err);
    if (st != TS_OK)
        return st;
    st = reorder(c, from, *out, err);
    dnnl_memory_destroy(from);
    return st;
}

static void case_name(OnednnCase *c)
{
    const OnednnProblem *p = &c->problem;
    const char *prec = onednn_precision_name(c->precision);
    if (p->op == ONEDNN_CONV2D)
        snprintf(c->name, sizeof c->name, "conv2d %s c%lld %lldx%lld f%lld %lldx%lld s%lld p%lld",
                 prec, (long long)p->c, (long long)p->h, (long long)p->w, (long long)p->f,
                 (long long)p->r, (long long)p->s, (long long)p->stride, (long long)p->pad);
    else
        snprintf(c->name, sizeof c->name, "matmul %s %lldx%lldx%lld", prec, (long long)p->m,
                 (long long)p->n, (long long)p->k);
}

static bool problem_valid(const OnednnProblem *p)
{
    if (p->op == ONEDNN_MATMUL)
        return p->m > 0 && p->n > 0 && p->k > 0;
    return p->c > 0 && p->h > 0 && p->w > 0 && p->f > 0 && p->r > 0 && p->s > 0 && p->stride > 0 &&
           p->pad >= 0 && out_extent(p->h, p->r, p->stride, p->pad) > 0 &&
           out_extent(p->w, p->s, p->stride, p->pad) > 0;
}

TsStatus onednn_case_create(const OnednnProblem *p, OnednnPrecision precision, const void *src,
                            const void *weights, OnednnCase **out, TsError *err)
{
    *out = NULL;
    OnednnCase *c = calloc(1, sizeof *c);
    if (!c)
        return ts_fail(err, TS_ENOMEM, "oneDNN case: out of memory");
    c->problem = *p;
    c->precision = precision;
    case_name(c);
    if (!problem_valid(p)) {
        TsStatus st = ts_fail(err, TS_EINVAL, "oneDNN %s: the problem has no output", c->name);
        free(c);
        return st;
    }
    dnnl_data_type_t types[3];
    dnnl_memory_desc_t plain[3], any[3];
    precision_types(precision, types);
    problem_descs(p, types, plain, any);
    c->plain_dst = plain[2];
    TsStatus st = check(dnnl_engine_create(&c->engine, dnnl_cpu, 0), c, "engine_create", err);
    if (st == TS_OK)
        st = check(dnnl_stream_create(&c->stream, c->engine, dnnl_stream_default_flags), c,
                   "stream_create", err);
    if (st == TS_OK)
        st = create_pd(c, any, err);
    if (st == TS_OK)
        st = check(dnnl_primitive_create(&c->primitive, c->pd), c, "primitive_create", err);
    if (st == TS_OK)
        st = operand(c, dnnl_query_src_md, &plain[0], src, &c->src, err);
    if (st == TS_OK)
        st = operand(c, dnnl_query_weights_md, &plain[1], weights, &c->weights, err);
    if (st == TS_OK)
        st = operand(c, dnnl_query_dst_md, &plain[2], NULL, &c->dst, err);
    if (st != TS_OK) {
        onednn_case_free(c);
        return st;
    }
    *out = c;
    return TS_OK;
}

void onednn_case_free(OnednnCase *c)
{
    if (!c)
        return;
    dnnl_memory_t memories[3] = { c->dst, c->weights, c->src };
    for (int i = 0; i < 3; i++)
        if (memories[i])
            dnnl_memory_destroy(memories[i]);
    if (c->primitive)
        dnnl_primitive_destroy(c->primitive);
    if (c->pd)
        dnnl_primitive_desc_destroy(c->pd);
    if (c->stream)
        dnnl_stream_destroy(c->stream);
    if (c->engine)
        dnnl_engine_destroy(c->engine);
    free(c);
}

const char *onednn_case_impl(const OnednnCase *c)
{
    const char *impl = NULL;
    if (dnnl_primitive_desc_query(c->pd, dnnl_query_impl_info_str, 0, &impl) != dnnl_success ||
        !impl)
        return "?";
    return impl;
}

TsStatus onednn_case_run(OnednnCase *c, TsError *err)
{
    dnnl_exec_arg_t args[3] = { { DNNL_ARG_SRC, c->src },
                                { DNNL_ARG_WEIGHTS, c->weights },
                                { DNNL_ARG_DST, c->dst } };
    TsStatus st =
        check(dnnl_primitive_execute(c->primitive, c->stream, 3, args), c, "execute", err);
    if (st == TS_OK)
        st = check(dnnl_stream_wait(c->stream), c, "stream_wait", err);
    return st;
}

TsStatus onednn_case_output(OnednnCase *c, void *dst, TsError *err)
{
    dnnl_memory_t to;
    TsStatus st =
        check(dnnl_memory_create(&to, &c->plain_dst, c->engine, dst), c, "memory_create", err);
    if (st != TS_OK)
        return st;
    st = reorder(c, c->dst, to, err);
    dnnl_memory_destroy(to);
    return st;
}

/* The packed-function face of a case, so that the time evaluator can call it:
 * args[0].v_handle is the OnednnCase. */
static int32_t run_packed(const TsValue *args, const int32_t *type_codes, int32_t num_args)
{
    if (num_args != 1 || type_codes[0] != TS_ARG_HANDLE) {
        ts_runtime_set_error("oneDNN case: expected one handle argument");
        return -1;
    }
    TsError err = { 0 };
    if (onednn_case_run(args[0].v_handle, &err) != TS_OK) {
        ts_runtime_set_error(err.message);
        return -1;
    }
    return 0;
}

TsStatus onednn_case_time(OnednnCase *c, const TsTimeOptions *options, BenchCosts *costs,
                          TsError *err)
{
    TsValue arg = { .v_handle = c };
    int32_t code = TS_ARG_HANDLE;
    return bench_time(run_packed, &arg, &code, 1, options, costs, err);
}
