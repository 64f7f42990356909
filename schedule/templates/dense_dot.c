/* The low-precision dense templates: out[M, N] = data[M, K] . weight[N, K]^T (TVM's
 * dense) with the weight pre-packed for the dot-product and tile instructions, int8
 * (uint8 data x int8 weight -> int32, dtype=int8) or bfloat16 (-> float32,
 * dtype=bfloat16). Arguments M N K and dtype.
 *
 * Layouts: data [M, KP], weight [NP / 16, KP / G, 16, G] (te/ops/dot_pack.c's
 * ts_op_dense_pack_weight_dot with n_bn 16), out [M, NP]. G is 4 for int8, 2 for bf16;
 * NP is N rounded up to 16 and KP is K rounded up to G. The padding of the weight is
 * zero, so padded data adds nothing, and the padded columns of out are the caller's to
 * ignore.
 *
 * The expression (as the tensorize tests' packed dense):
 *     out[i, j] = sum over k of acc(data[i, k]) * acc(weight[j / 16, k / G, j % 16, k % G])
 *
 * Variants, each a template chosen by dtype and the target's features:
 * - dense_int8_vnni (avx512vnni) and dense_bf16_avx512 (avx512bf16): rows in register
 *   blocks of mr (knob tile_m, unrolled), loops i.outer, j.outer, k.outer, i.inner,
 *   j.inner (16), k.inner (G); the (j.inner, k.inner) nest is vpdpbusd / vdpbf16ps.
 * "parallel" (offered with more than one core) runs the outermost loop on the pool.
 * The AMX forms, dense_int8_amx and dense_bf16_amx, in the same layouts with KP rounded
 * up to a 64-byte tile row and MP to 16 rows, are dense_amx.c's. */
#include <stdio.h>
#include <string.h>

#include "tessera/intrin.h"
#include "tmpl_internal.h"

enum { N_BLOCK = 16 };

typedef struct Variant {
    const char *name;
    bool bf16;          /* bfloat16 -> float32, else uint8 x int8 -> int32 */
    const char *intrin; /* the tensor intrinsic */
} Variant;

static const Variant int8_vnni = { "dense_int8_vnni", false, "x86.vnni.u8s8.16x4" };
static const Variant bf16_avx512 = { "dense_bf16_avx512", true, "x86.avx512bf16.f32.16x2" };

static const char *const arg_names[] = { "M", "N", "K", NULL };
static const char *const int8_dtypes[] = { "int8", NULL };
static const char *const bf16_dtypes[] = { "bfloat16", NULL };

typedef struct Dense {
    int64_t m, n, k;
    int64_t group;      /* G */
    int64_t mp, np, kp; /* the padded extents (mp is m) */
} Dense;

static TsDType served(const Variant *var)
{
    return var->bf16 ? TS_BFLOAT16 : TS_INT8;
}

static TsStatus check_dtype(const Variant *var, const TsTemplateArgs *args, TsError *err)
{
    TsDType dtype;
    char name[TS_DTYPE_STR_MAX], want[TS_DTYPE_STR_MAX];
    ts_dtype_str(served(var), want);
    if (ts_template_args_get_dtype(args, "dtype", &dtype, NULL) != TS_OK)
        return ts_fail(err, TS_EINVAL, "%s: argument dtype=%s is missing", var->name, want);
    if (!ts_dtype_eq(dtype, served(var)))
        return ts_fail(err, TS_EINVAL, "%s: dtype %s is not served (%s only)", var->name,
                       ts_dtype_str(dtype, name), want);
    if (!ts_intrin_lookup(var->intrin))
        return ts_fail(err, TS_EINVAL, "%s: the tensor intrinsic %s is not registered", var->name,
                       var->intrin);
    return TS_OK;
}

static TsStatus read_dense(const Variant *var, const TsTemplateArgs *args,
                           const TsTemplateTarget *target, Dense *d, TsError *err)
{
    static const int64_t min[] = { 1, 1, 1 };
    int64_t v[3] = { 0 };
    TsStatus st = sch_tmpl_read_args(var->name, args, arg_names, min, v, err);
    if (st == TS_OK)
        st = sch_tmpl_check_target(var->name, target, err);
    if (st == TS_OK)
        st = check_dtype(var, args, err);
    if (st != TS_OK)
        return st;
    d->m = v[0], d->n = v[1], d->k = v[2];
    d->group = var->bf16 ? 2 : 4;
    d->mp = d->m;
    d->np = sch_ceil_div(d->n, N_BLOCK) * N_BLOCK;
    d->kp = sch_ceil_div(d->k, d->group) * d->group;
    if (d->mp * d->kp > TS_MAX_EXTENT || d->mp * d->np > TS_MAX_EXTENT ||
        d->np * d->kp > TS_MAX_EXTENT)
        return ts_fail(err, TS_EINVAL, "%s: M=%lld N=%lld K=%lld padded exceed %lld elements",
                       var->name, (long long)d->m, (long long)d->n, (long long)d->k,
                       (long long)TS_MAX_EXTENT);
    return TS_OK;
}

/* ---- the space ---- */

static TsStatus dense_define_space(const Variant *var, const TsTemplateArgs *args,
                                   const TsTemplateTarget *target, TsConfigSpace *space,
                                   TsError *err)
{
    Dense d;
    TsStatus st = read_dense(var, args, target, &d, err);
    static const int64_t on_off[] = { 0, 1 };
    static const int64_t rows[] = { 1, 2, 4, 6, 8, 12 };
    if (st == TS_OK)
        st = ts_space_define_knob(space, "tile_m", 6, rows, err);
    if (st == TS_OK)
        st = ts_space_define_knob(space, "parallel", target->num_cores > 1 ? 2 : 1, on_off, err);
    return st;
}

/* 8 rows of one accumulator vector each. */
static TsStatus dense_default_config(const Variant *var, const TsTemplateArgs *args,
                                     const TsTemplateTarget *target, const TsConfigSpace *space,
                                     TsConfig *out, TsError *err)
{
    Dense d;
    TsStatus st = read_dense(var, args, target, &d, err);
    if (st != TS_OK)
        return st;
    sch_tmpl_config_init(space, out);
    st = sch_tmpl_want_knob(out, "tile_m", 8, err);
    if (st == TS_OK)
        st = sch_tmpl_want_knob(out, "parallel", target->num_cores > 1, err);
    if (st == TS_OK)
        st = sch_tmpl_config_finish(out, err);
    return st;
}

/* ---- the expression and the schedule ---- */

typedef struct DenseTensors {
    TsTensor *data, *weight, *out;
} DenseTensors;

static void dense_expression(TsArena *A, const Variant *var, const Dense *d, DenseTensors *t)
{
    TsDType in_dt = var->bf16 ? TS_BFLOAT16 : TS_UINT8, w_dt = var->bf16 ? TS_BFLOAT16 : TS_INT8;
    TsDType acc_dt = var->bf16 ? TS_FLOAT32 : TS_INT32;
    t->data = ts_placeholder(A, "data", 2, (int64_t[]){ d->mp, d->kp }, in_dt);
    t->weight = ts_placeholder(
        A, "weight", 4, (int64_t[]){ d->np / N_BLOCK, d->kp / d->group, N_BLOCK, d->group }, w_dt);
    TsAxis *i = ts_axis(A, "i", d->mp), *j = ts_axis(A, "j", d->np);
    TsAxis *k = ts_reduce_axis(A, "k", d->kp);
    TsExpr *nb = ts_i32(A, N_BLOCK), *g = ts_i32(A, d->group);
    TsExpr *w = ts_at(A, t->weight, ts_floordiv(A, ts_var(j), nb), ts_floordiv(A, ts_var(k), g),
                      ts_floormod(A, ts_var(j), nb), ts_floormod(A, ts_var(k), g));
    TsExpr *prod = ts_mul(A, ts_cast(A, acc_dt, ts_at(A, t->data, ts_var(i), ts_var(k))),
                          ts_cast(A, acc_dt, w));
    t->out = ts_compute_tagged(A, "dense", "dense_dot", 2, (TsAxis *[]){ i, j },
                               ts_sum(A, prod, 1, &k, NULL));
}

static TsStatus parallel_outer(TsStage *st, TsAxis *outer, int64_t parallel, TsError *err)
{
    return parallel ? ts_parallel(st, outer, err) : TS_OK;
}

/* i.outer, j.outer, k.outer, i.inner (mr, unrolled), j.inner (16), k.inner (G). */
static TsStatus schedule_vector(const Variant *var, const Dense *d, TsStage *st,
                                const TsConfig *config, TsError *err)
{
    TsStatus s = TS_OK;
    int64_t mr = sch_tmpl_knob(config, "tile_m", err, &s);
    int64_t parallel = sch_tmpl_knob(config, "parallel", err, &s);
    TsAxis *io, *ii, *jo, *ji, *ko, *ki;
    if (s == TS_OK)
        s = ts_split(st, ts_stage_root_axis(st, 0), mr, &io, &ii, err);
    if (s == TS_OK)
        s = ts_split(st, ts_stage_root_axis(st, 1), N_BLOCK, &jo, &ji, err);
    if (s == TS_OK)
        s = ts_split(st, ts_stage_root_axis(st, 2), d->group, &ko, &ki, err);
    if (s == TS_OK)
        s = ts_reorder(st, 6, (TsAxis *[]){ io, jo, ko, ii, ji, ki }, err);
    if (s == TS_OK)
        s = ts_unroll(st, ii, err);
    if (s == TS_OK)
        s = parallel_outer(st, io, parallel, err);
    if (s == TS_OK)
        s = ts_tensorize(st, ji, ts_intrin_lookup(var->intrin), err);
    return s;
}

static TsStatus dense_instantiate(const Variant *var, const TsTemplateArgs *args,
                                  const TsTemplateTarget *target, const TsConfig *config,
                                  TsArena *arena, TsTemplateInstance *out, TsError *err)
{
    Dense d;
    TsStatus st = read_dense(var, args, target, &d, err);
    if (st != TS_OK)
        return st;
    DenseTensors t;
    dense_expression(arena, var, &d, &t);
    if ((st = ts_arena_check(arena, err)) != TS_OK)
        return st;
    TsSchedule *sch = ts_schedule_create(arena, 1, &t.out);
    if (!sch)
        return ts_arena_check(arena, err);
    TsStage *stage = ts_stage(sch, t.out);
    st = schedule_vector(var, &d, stage, config, err);
    if (st != TS_OK)
        return st;
    *out = (TsTemplateInstance){
        .sch = sch, .num_tensors = 3, .num_outputs = 1, .tensors = { t.data, t.weight, t.out }
    };
    return TS_OK;
}

/* ---- the templates ---- */

/* The functions of variant V's template, whose function pointers take no variant. */
#define VARIANT_FUNCTIONS(V)                                                                       \
    static TsStatus V##_define_space(const TsTemplateArgs *args, const TsTemplateTarget *target,   \
                                     TsConfigSpace *space, TsError *err)                           \
    {                                                                                              \
        return dense_define_space(&V, args, target, space, err);                                   \
    }                                                                                              \
    static TsStatus V##_default_config(const TsTemplateArgs *args, const TsTemplateTarget *target, \
                                       const TsConfigSpace *space, TsConfig *out, TsError *err)    \
    {                                                                                              \
        return dense_default_config(&V, args, target, space, out, err);                            \
    }                                                                                              \
    static TsStatus V##_instantiate(const TsTemplateArgs *args, const TsTemplateTarget *target,    \
                                    const TsConfig *config, TsArena *arena,                        \
                                    TsTemplateInstance *out, TsError *err)                         \
    {                                                                                              \
        return dense_instantiate(&V, args, target, config, arena, out, err);                       \
    }

VARIANT_FUNCTIONS(int8_vnni)
VARIANT_FUNCTIONS(bf16_avx512)

static const char *const vnni_features[] = { "avx512vnni", NULL };
static const char *const avx512bf16_features[] = { "avx512bf16", NULL };

const TsTemplate sch_template_dense_int8_vnni = {
    .name = "dense_int8_vnni",
    .op = "dense",
    .summary = "int8 dense (uint8 x int8 -> int32), weight packed [N/16, K/4, 16, 4], "
               "register blocks of rows, AVX512-VNNI vpdpbusd",
    .dtypes = int8_dtypes,
    .features = vnni_features,
    .priority = 10,
    .arg_names = arg_names,
    .define_space = int8_vnni_define_space,
    .default_config = int8_vnni_default_config,
    .instantiate = int8_vnni_instantiate,
    .flop = sch_dense_flop,
};

const TsTemplate sch_template_dense_bf16_avx512 = {
    .name = "dense_bf16_avx512",
    .op = "dense",
    .summary = "bfloat16 dense (-> float32), weight packed [N/16, K/2, 16, 2], register "
               "blocks of rows, AVX512-BF16 vdpbf16ps",
    .dtypes = bf16_dtypes,
    .features = avx512bf16_features,
    .priority = 10,
    .arg_names = arg_names,
    .define_space = bf16_avx512_define_space,
    .default_config = bf16_avx512_default_config,
    .instantiate = bf16_avx512_instantiate,
    .flop = sch_dense_flop,
};
