/* bench_lowp: Tessera's low-precision kernels against oneDNN, one thread.
 *
 * Cases: the four 3x3 convolutions of ResNet-18 (stride 1, pad 1, batch 1: 64 channels
 * 56x56, 128 28x28, 256 14x14, 512 7x7) and dense 1024^3, each in fp32, bf16 (products
 * summed in fp32) and int8 (uint8 data x int8 weights -> int32).
 *
 * Method. Tessera's side of each case is the template the registry picks for its dtype,
 * tuned on this machine with the XGBoost tuner for at most BENCH_TUNE_TRIALS candidates
 * per task (default 64, a bounded budget; the log bench_lowp.log in the build folder is
 * reused by later runs, and a task with enough records there is not tuned again). The
 * kernels take their operands in their blocked layouts, packed once before timing, as a
 * model keeps them. oneDNN's side is a primitive of its choosing (format_tag any; which
 * implementation it picked is printed), its operands reordered once into its layouts
 * (onednn_reference.h). Before timing, each Tessera output is compared with oneDNN's on
 * the same operands: int8 bit for bit, fp32 and bf16 (fp32 sums) within 1e-4 of the largest
 * output. Both sides are timed in interleaved rounds by the runtime's time evaluator in
 * this process, on one thread (TS_NUM_THREADS=1; OpenMP's pool, which oneDNN runs on,
 * set to 1), and reported as medians. A case for which Tessera has no template yet is
 * printed as such, not timed.
 *
 * Also printed: Tessera's int8 over its own fp32 on each layer; the int8 conv layers
 * built for a target with VNNI and without AMX (VNNI_TARGET: this CPU's features less the
 * AMX ones, so the registry picks the VNNI template), tuned and timed in the same rounds,
 * over Tessera's fp32 on the same layers; and for AArch64 (where
 * qemu gives no timings) llvm-mca-16's estimate of the inner loops of the int8 and fp32
 * conv2d kernels (the default configs of the 64-channel layer) for -mcpu=cortex-a76 and
 * cortex-a55, in multiply-adds per cycle (aarch64_estimate.c).
 *
 * With --aarch64-only, only the AArch64 estimates are printed (no x86 timing, no RESULT).
 *
 * The last line: RESULT bench=lowp ... ratio=R, R the worst of Tessera's int8 and bf16
 * speeds over oneDNN's (0 when a case has no Tessera kernel; missing= names them). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "benchmarks/bench_lowp.h"
#include "benchmarks/bench_util.h"
#include "benchmarks/conv_reference.h"
#include "benchmarks/onednn_reference.h"
#include "benchmarks/tuned_kernel.h"

enum {
    NUM_CASES = 5,
    NUM_PRECISIONS = 3,
    DEFAULT_TRIALS = 64,
    DEFAULT_ROUNDS = 3,
    REPEATS_PER_ROUND = 3
};
#define MIN_REPEAT_MS 40.0
#define MAX_RELATIVE_ERROR 1e-4
#define LOG_PATH "bench_lowp.log"
#define VNNI_TARGET "llvm -mattr=-amx-tile,-amx-int8,-amx-bf16"

static const int64_t layer_dims[4][2] = { { 64, 56 }, { 128, 28 }, { 256, 14 }, { 512, 7 } };

/* Tessera's kernel of one case and precision, with its operands in its layouts. */
typedef struct TesseraSide {
    bool have;
    char missing[160]; /* why there is none */
    TunedKernel tk;
    void *buffers[3];
    BenchTensorArg tensors[3];
    TsValue values[3];
    int32_t codes[3];
    BenchCosts costs;
} TesseraSide;

typedef struct Case {
    char name[32];
    OnednnProblem p;
    ConvShape shape;
    /* The operands in plain layouts: fp32 (data, weight), bf16 of the same, uint8/int8. */
    float *f32[2];
    uint16_t *bf16[2];
    uint8_t *u8;
    int8_t *s8;
    OnednnCase *ref[NUM_PRECISIONS];
    BenchCosts ref_costs[NUM_PRECISIONS];
    TesseraSide ts[NUM_PRECISIONS];
    TesseraSide vnni; /* int8 on VNNI_TARGET (conv layers) */
} Case;

static const char *const dtype_names[NUM_PRECISIONS] = { "float32", "bfloat16", "int8" };

static void case_init(Case *c, int i)
{
    memset(c, 0, sizeof *c);
    if (i < 4) {
        int64_t ch = layer_dims[i][0], hw = layer_dims[i][1];
        c->p = (OnednnProblem){ .op = ONEDNN_CONV2D,
                                .c = ch,
                                .h = hw,
                                .w = hw,
                                .f = ch,
                                .r = 3,
                                .s = 3,
                                .stride = 1,
                                .pad = 1 };
        c->shape = (ConvShape){
            .c = ch, .h = hw, .w = hw, .f = ch, .r = 3, .s = 3, .stride = 1, .pad = 1
        };
        conv_shape_init(&c->shape);
        snprintf(c->name, sizeof c->name, "conv %lldx%lldx%lld", (long long)ch, (long long)hw,
                 (long long)hw);
    } else {
        c->p = (OnednnProblem){ .op = ONEDNN_MATMUL, .m = 1024, .n = 1024, .k = 1024 };
        snprintf(c->name, sizeof c->name, "dense 1024^3");
    }
    size_t n[2] = { onednn_src_count(&c->p), onednn_weight_count(&c->p) };
    for (int k = 0; k < 2; k++) {
        c->f32[k] = bench_alloc_floats(n[k]);
        bench_fill_uniform(c->f32[k], n[k], 31 + (uint64_t)(i * 2 + k));
        c->bf16[k] = malloc(n[k] * sizeof(uint16_t));
        for (size_t e = 0; e < n[k]; e++)
            c->bf16[k][e] = onednn_bf16_from_float(c->f32[k][e]);
    }
    c->u8 = malloc(n[0]);
    c->s8 = malloc(n[1]);
    uint64_t state = 99 + (uint64_t)i;
    for (size_t e = 0; e < n[0] + n[1]; e++) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        uint8_t byte = (uint8_t)(state >> 56);
        if (e < n[0])
            c->u8[e] = byte;
        else
            c->s8[e - n[0]] = (int8_t)byte;
    }
}

/* The operands oneDNN takes in plain layout: matmul's B is [K, N], Tessera's dense
 * weight [N, K], so the weight is transposed for it. */
static void *onednn_weights(const Case *c, OnednnPrecision prec, void **owned)
{
    *owned = NULL;
    const void *w = prec == ONEDNN_F32    ? (const void *)c->f32[1]
                    : prec == ONEDNN_BF16 ? (const void *)c->bf16[1]
                                          : (const void *)c->s8;
    if (c->p.op == ONEDNN_CONV2D)
        return (void *)w;
    size_t elem = prec == ONEDNN_F32 ? 4 : prec == ONEDNN_BF16 ? 2 : 1;
    int64_t n = c->p.n, k = c->p.k;
    char *t = malloc((size_t)(n * k) * elem);
    for (int64_t r = 0; r < n; r++)
        for (int64_t col = 0; col < k; col++)
            memcpy(t + (size_t)(col * n + r) * elem, (const char *)w + (size_t)(r * k + col) * elem,
                   elem);
    *owned = t;
    return t;
}

static TsStatus make_onednn(Case *c, TsError *err)
{
    for (int prec = 0; prec < NUM_PRECISIONS; prec++) {
        const void *src = prec == ONEDNN_F32    ? (const void *)c->f32[0]
                          : prec == ONEDNN_BF16 ? (const void *)c->bf16[0]
                                                : (const void *)c->u8;
        void *owned;
        void *w = onednn_weights(c, (OnednnPrecision)prec, &owned);
        TsStatus st = onednn_case_create(&c->p, (OnednnPrecision)prec, src, w, &c->ref[prec], err);
        free(owned);
        if (st == TS_OK)
            st = onednn_case_run(c->ref[prec], err);
        if (st != TS_OK)
            return st;
    }
    return TS_OK;
}

static TsStatus template_args(const Case *c, int prec, TsTemplateArgs *args, TsError *err)
{
    memset(args, 0, sizeof *args);
    TsStatus st = TS_OK;
    if (c->p.op == ONEDNN_CONV2D) {
        const char *names[] = { "N", "C", "H", "W", "K", "R", "S", "stride", "pad" };
        const int64_t values[] = { 1, c->p.c, c->p.h, c->p.w, c->p.f, 3, 3, 1, 1 };
        for (int i = 0; st == TS_OK && i < 9; i++)
            st = ts_template_args_set(args, names[i], values[i], err);
    } else {
        const char *names[] = { "M", "N", "K" };
        const int64_t values[] = { c->p.m, c->p.n, c->p.k };
        for (int i = 0; st == TS_OK && i < 3; i++)
            st = ts_template_args_set(args, names[i], values[i], err);
    }
    TsDType dtype;
    if (st == TS_OK && prec != ONEDNN_F32) {
        if (!ts_dtype_parse(dtype_names[prec], &dtype))
            return ts_fail(err, TS_EINVAL, "no template for op %s: no dtype %s in this build",
                           c->p.op == ONEDNN_CONV2D ? "conv2d" : "dense", dtype_names[prec]);
        st = ts_template_args_set_dtype(args, "dtype", dtype, err);
    }
    return st;
}

/* Binds the kernel's arguments to fresh buffers of its shapes and dtypes. */
static void bind_side(TesseraSide *side)
{
    for (int i = 0; i < 3; i++) {
        const TsTensor *t = side->tk.args[i];
        int ndim = ts_tensor_ndim(t);
        int64_t shape[TS_MAX_DIMS];
        for (int k = 0; k < ndim; k++)
            shape[k] = ts_tensor_dim(t, k);
        size_t bytes = (size_t)ts_tensor_num_elements(t) * ts_tensor_dtype(t).bits / 8;
        side->buffers[i] = aligned_alloc(64, (bytes + 63) / 64 * 64);
        memset(side->buffers[i], 0, bytes);
        bench_tensor_arg(&side->tensors[i], side->buffers[i], ndim, shape);
        side->tensors[i].dl.dtype = ts_tensor_dtype(t);
        side->values[i].v_handle = &side->tensors[i].dl;
        side->codes[i] = TS_ARG_TENSOR;
    }
}

/* The template's kernel for a case and precision, tuned within the budget, or why
 * there is none. A template that does not exist is not an error of the benchmark. */
static TsStatus make_side(Case *c, TesseraSide *side, int prec, int trials,
                          const char *target_text, const TsTarget *target, TsError *err)
{
    TsTemplateArgs args;
    const char *op = c->p.op == ONEDNN_CONV2D ? "conv2d" : "dense";
    TsStatus st = template_args(c, prec, &args, err);
    if (st == TS_OK)
        st = tuned_kernel_build_for(op, &args, trials, LOG_PATH, target_text, target, &side->tk,
                                    err);
    if (st != TS_OK && strstr(err->message, "no template for op")) {
        snprintf(side->missing, sizeof side->missing, "no %s %s template", dtype_names[prec], op);
        tuned_kernel_free(&side->tk);
        return TS_OK;
    }
    if (st != TS_OK)
        return st;
    if (side->tk.num_args != 3)
        return ts_fail(err, TS_EINVAL, "%s: %d arguments, expected 3",
                       ts_tune_task_name(side->tk.task), side->tk.num_args);
    bind_side(side);
    side->have = true;
    return TS_OK;
}

static TsStatus make_tessera(Case *c, int prec, int trials, const TsTarget *target, TsError *err)
{
    return make_side(c, &c->ts[prec], prec, trials, "llvm", target, err);
}

/* ---- operands into Tessera's layouts, and the check against oneDNN ---- */

/* Data NCHW -> [CB, H, W, ib] (channels past C zero); weight OIHW ->
 * [KB, CB, R, S, ib / g, ob, g] (past K or C zero); elements of elem bytes (uint8 and
 * int8 for int8, bf16 bit patterns for bf16). */
static void pack_blocked(const Case *c, TesseraSide *side, const void *data, const void *weight,
                         size_t elem)
{
    const ConvShape *s = &c->shape;
    const TsTensor *d = side->tk.args[0], *w = side->tk.args[1];
    int64_t cb = ts_tensor_dim(d, 1), ib = ts_tensor_dim(d, 4);
    int64_t ob = ts_tensor_dim(w, 5), g = ts_tensor_dim(w, 6);
    char *pd = side->buffers[0], *pw = side->buffers[1];
    for (int64_t ch = 0; ch < s->c; ch++)
        for (int64_t y = 0; y < s->h; y++)
            for (int64_t x = 0; x < s->w; x++)
                memcpy(pd + (size_t)(((ch / ib * s->h + y) * s->w + x) * ib + ch % ib) * elem,
                       (const char *)data + (size_t)((ch * s->h + y) * s->w + x) * elem, elem);
    for (int64_t k = 0; k < s->f; k++)
        for (int64_t ch = 0; ch < s->c; ch++)
            for (int64_t r = 0; r < s->r; r++)
                for (int64_t q = 0; q < s->s; q++) {
                    int64_t at = (((((k / ob * cb + ch / ib) * s->r + r) * s->s + q) * (ib / g) +
                                   ch % ib / g) *
                                      ob +
                                  k % ob) *
                                     g +
                                 ch % g;
                    memcpy(pw + (size_t)at * elem,
                           (const char *)weight +
                               (size_t)(((k * s->c + ch) * s->r + r) * s->s + q) * elem,
                           elem);
                }
}

/* The dense kernels' layouts: data [MP, KP] (rows copied, padding zero), weight
 * [NP / 16, KP / G, 16, G] from [N, K]; elements of elem bytes. */
static void pack_dense(const Case *c, TesseraSide *side, const void *data, const void *weight,
                       size_t elem)
{
    int64_t m = c->p.m, n = c->p.n, k = c->p.k;
    int64_t kp = ts_tensor_dim(side->tk.args[0], 1);
    int64_t kg = ts_tensor_dim(side->tk.args[1], 1), g = ts_tensor_dim(side->tk.args[1], 3);
    char *pd = side->buffers[0], *pw = side->buffers[1];
    for (int64_t r = 0; r < m; r++)
        memcpy(pd + (size_t)(r * kp) * elem, (const char *)data + (size_t)(r * k) * elem,
               (size_t)k * elem);
    for (int64_t r = 0; r < n; r++)
        for (int64_t col = 0; col < k; col++)
            memcpy(pw + (size_t)(((r / 16 * kg + col / g) * 16 + r % 16) * g + col % g) * elem,
                   (const char *)weight + (size_t)(r * k + col) * elem, elem);
}

/* Element i of the output in plain layout: out[row][col] of a dense kernel's [MP, NP],
 * or channel i / (OH * OW), position i % (OH * OW) of a conv kernel's blocked one. */
static size_t blocked_index(const Case *c, const TesseraSide *side, size_t i)
{
    const TsTensor *o = side->tk.args[2];
    if (c->p.op == ONEDNN_MATMUL)
        return (size_t)((int64_t)i / c->p.n * ts_tensor_dim(o, 1) + (int64_t)i % c->p.n);
    const ConvShape *s = &c->shape;
    int64_t ob = ts_tensor_dim(o, 4), k = (int64_t)i / (s->oh * s->ow);
    int64_t p = (int64_t)i % (s->oh * s->ow);
    return (size_t)(((k / ob) * s->oh * s->ow + p) * ob + k % ob);
}

static TsStatus check_int8(Case *c, TesseraSide *side, TsError *err)
{
    size_t n = onednn_dst_count(&c->p);
    int32_t *want = malloc(n * sizeof *want);
    TsStatus st = onednn_case_output(c->ref[ONEDNN_INT8], want, err);
    const int32_t *got = side->buffers[2];
    for (size_t i = 0; st == TS_OK && i < n; i++) {
        int32_t g = got[blocked_index(c, side, i)];
        if (g != want[i])
            st = ts_fail(err, TS_EDEVICE, "%s: output %zu (plain layout) is %d, oneDNN says %d",
                         ts_tune_task_name(side->tk.task), i, g, want[i]);
    }
    free(want);
    return st;
}

/* max |got - want| / max |want|: fp32 outputs of a different summation order. */
static double relative_error(const float *got, const float *want, size_t n)
{
    double diff = 0, scale = 0;
    for (size_t i = 0; i < n; i++) {
        diff = fmax(diff, fabs((double)got[i] - (double)want[i]));
        scale = fmax(scale, fabs((double)want[i]));
    }
    return scale > 0 ? diff / scale : diff;
}

static TsStatus check_f32(Case *c, int prec, TesseraSide *side, TsError *err)
{
    size_t n = onednn_dst_count(&c->p);
    float *want = bench_alloc_floats(n), *got = bench_alloc_floats(n);
    TsStatus st = onednn_case_output(c->ref[prec], want, err);
    if (c->p.op == ONEDNN_CONV2D && prec == ONEDNN_F32)
        conv_unpack_output(&c->shape, ts_tensor_dim(side->tk.args[2], 4), side->buffers[2], got);
    else if (prec == ONEDNN_F32)
        memcpy(got, side->buffers[2], n * sizeof *got);
    else
        for (size_t i = 0; i < n; i++)
            got[i] = ((const float *)side->buffers[2])[blocked_index(c, side, i)];
    double e = relative_error(got, want, n);
    if (st == TS_OK && !(e <= MAX_RELATIVE_ERROR))
        st = ts_fail(err, TS_EDEVICE, "%s: relative error %.3g against oneDNN",
                     ts_tune_task_name(side->tk.task), e);
    free(want);
    free(got);
    return st;
}

static TsStatus prepare_side_of(Case *c, TesseraSide *side, int prec, TsError *err)
{
    if (!side->have)
        return TS_OK;
    bool conv = c->p.op == ONEDNN_CONV2D;
    if (prec == ONEDNN_INT8) {
        (conv ? pack_blocked : pack_dense)(c, side, c->u8, c->s8, 1);
    } else if (prec == ONEDNN_BF16) {
        (conv ? pack_blocked : pack_dense)(c, side, c->bf16[0], c->bf16[1], 2);
    } else if (conv) {
        int64_t ib = ts_tensor_dim(side->tk.args[0], 4), ob = ts_tensor_dim(side->tk.args[2], 4);
        conv_pack_data(&c->shape, ib, c->f32[0], side->buffers[0]);
        conv_pack_weight(&c->shape, ib, ob, c->f32[1], side->buffers[1]);
    } else {
        memcpy(side->buffers[0], c->f32[0], onednn_src_count(&c->p) * sizeof(float));
        memcpy(side->buffers[1], c->f32[1], onednn_weight_count(&c->p) * sizeof(float));
    }
    if (side->tk.kernel(side->values, side->codes, 3) != 0)
        return ts_fail(err, TS_EDEVICE, "%s failed: %s", ts_tune_task_name(side->tk.task),
                       ts_runtime_last_error());
    return prec == ONEDNN_INT8 ? check_int8(c, side, err) : check_f32(c, prec, side, err);
}

static TsStatus prepare_side(Case *c, int prec, TsError *err)
{
    return prepare_side_of(c, &c->ts[prec], prec, err);
}

static void case_free(Case *c)
{
    for (int prec = 0; prec < NUM_PRECISIONS; prec++) {
        onednn_case_free(c->ref[prec]);
        if (c->ts[prec].have)
            for (int i = 0; i < 3; i++)
                free(c->ts[prec].buffers[i]);
        tuned_kernel_free(&c->ts[prec].tk);
    }
    if (c->vnni.have)
        for (int i = 0; i < 3; i++)
            free(c->vnni.buffers[i]);
    tuned_kernel_free(&c->vnni.tk);
    for (int k = 0; k < 2; k++) {
        free(c->f32[k]);
        free(c->bf16[k]);
    }
    free(c->u8);
    free(c->s8);
}

/* ---- timing and the report ---- */

static TsStatus time_round(Case *c, TsError *err)
{
    TsTimeOptions options = bench_time_options(REPEATS_PER_ROUND, MIN_REPEAT_MS);
    TsStatus st = TS_OK;
    for (int prec = 0; st == TS_OK && prec < NUM_PRECISIONS; prec++) {
        TesseraSide *side = &c->ts[prec];
        if (side->have)
            st = bench_time(side->tk.kernel, side->values, side->codes, 3, &options, &side->costs,
                            err);
        if (st == TS_OK)
            st = onednn_case_time(c->ref[prec], &options, &c->ref_costs[prec], err);
    }
    if (st == TS_OK && c->vnni.have)
        st = bench_time(c->vnni.tk.kernel, c->vnni.values, c->vnni.codes, 3, &options,
                        &c->vnni.costs, err);
    return st;
}

static void report(Case *cases, int rounds, int trials)
{
    printf("\ncase           prec  Tessera GOPS (trials) | oneDNN GOPS  implementation        |"
           "  ratio\n");
    double worst = INFINITY;
    char result[3072], missing[512] = "";
    int used = 0, used_missing = 0;
    for (int i = 0; i < NUM_CASES; i++) {
        Case *c = &cases[i];
        double flop = onednn_flops(&c->p);
        for (int prec = 0; prec < NUM_PRECISIONS; prec++) {
            TesseraSide *side = &c->ts[prec];
            double ref = bench_gflops(&c->ref_costs[prec], flop);
            double mine = side->have ? bench_gflops(&side->costs, flop) : 0;
            double ratio = ref > 0 ? mine / ref : 0;
            const char *prec_name = onednn_precision_name((OnednnPrecision)prec);
            if (side->have)
                printf("%-14s %-5s %8.1f (%4d)        | %8.1f     %-21s | %6.3f\n", c->name,
                       prec_name, mine, side->tk.trials, ref, onednn_case_impl(c->ref[prec]),
                       ratio);
            else
                printf("%-14s %-5s %-21s | %8.1f     %-21s |      -\n", c->name, prec_name,
                       side->missing, ref, onednn_case_impl(c->ref[prec]));
            if (prec != ONEDNN_F32)
                worst = fmin(worst, ratio);
            char key[24];
            snprintf(key, sizeof key, "%s%lld_%s", c->p.op == ONEDNN_CONV2D ? "c" : "dense",
                     (long long)(c->p.op == ONEDNN_CONV2D ? c->p.c : 1024), prec_name);
            if (prec != ONEDNN_F32 && !side->have)
                used_missing +=
                    snprintf(missing + used_missing, sizeof missing - (size_t)used_missing, "%s%s",
                             used_missing ? "," : "", key);
            used += snprintf(result + used, sizeof result - (size_t)used,
                             " %s_tessera=%.1f %s_onednn=%.1f", key, mine, key, ref);
        }
    }
    printf("\nTessera int8 over Tessera fp32 (same template family, same tuning budget):\n");
    double worst_own = INFINITY;
    for (int i = 0; i < 4; i++) {
        Case *c = &cases[i];
        double flop = onednn_flops(&c->p);
        double f = c->ts[ONEDNN_F32].have ? bench_gflops(&c->ts[ONEDNN_F32].costs, flop) : 0;
        double q = c->ts[ONEDNN_INT8].have ? bench_gflops(&c->ts[ONEDNN_INT8].costs, flop) : 0;
        double r = f > 0 ? q / f : 0;
        worst_own = fmin(worst_own, r);
        printf("  %-14s int8 %7.1f GOPS / fp32 %7.1f GFLOPS = %.2fx\n", c->name, q, f, r);
    }
    printf("\nTessera int8 on VNNI without AMX (target '%s') over Tessera fp32 (target 'llvm'), "
           "same rounds:\n",
           VNNI_TARGET);
    double worst_vnni = INFINITY;
    for (int i = 0; i < 4; i++) {
        Case *c = &cases[i];
        double flop = onednn_flops(&c->p);
        double f = c->ts[ONEDNN_F32].have ? bench_gflops(&c->ts[ONEDNN_F32].costs, flop) : 0;
        double q = c->vnni.have ? bench_gflops(&c->vnni.costs, flop) : 0;
        double r = f > 0 ? q / f : 0;
        worst_vnni = fmin(worst_vnni, r);
        printf("  %-14s int8 %-24s %7.1f GOPS / fp32 %7.1f GFLOPS = %.2fx\n", c->name,
               c->vnni.have ? ts_tune_task_name(c->vnni.tk.task) : c->vnni.missing, q, f, r);
    }
    printf("\nmedians of %d rounds x %d repeats per side and case, each the mean of >= %.0f ms of "
           "calls; one thread on both sides; tuning budget %d trials per task; a shared, loaded "
           "machine\n",
           rounds, REPEATS_PER_ROUND, MIN_REPEAT_MS, trials);
    bench_lowp_print_aarch64_estimates();
    printf("RESULT bench=lowp threads=1 trials=%d%s int8_over_own_fp32_min=%.2f "
           "vnni_int8_over_own_fp32_min=%.2f missing=%s ratio=%.3f\n",
           trials, result, worst_own, worst_vnni, missing[0] ? missing : "none", worst);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--aarch64-only") == 0) {
        bench_lowp_print_aarch64_estimates();
        return 0;
    }
    setenv("TS_NUM_THREADS", "1", 1);
    int omp_threads = onednn_use_one_thread();
    int rounds = bench_rounds(DEFAULT_ROUNDS);
    int trials = tuned_kernel_trials(DEFAULT_TRIALS);
    TsError err;
    TsTarget *target, *vnni_target;
    if (ts_target_parse("llvm", &target, &err) != TS_OK)
        return bench_report_error("bench_lowp: target", &err);
    if (ts_target_parse(VNNI_TARGET, &vnni_target, &err) != TS_OK) {
        ts_target_free(target);
        return bench_report_error("bench_lowp: VNNI target", &err);
    }
    printf("bench_lowp: ResNet-18 3x3 convolutions and dense 1024^3 in fp32, bf16 and int8, "
           "Tessera (tuned, <= %d trials per task) vs oneDNN (%d OpenMP thread), one thread\n",
           trials, omp_threads);
    bench_print_machine(target);
    fflush(stdout);
    static Case cases[NUM_CASES];
    int status = 0, ready = 0;
    for (; ready < NUM_CASES; ready++) {
        Case *c = &cases[ready];
        case_init(c, ready);
        TsStatus st = make_onednn(c, &err);
        for (int prec = 0; st == TS_OK && prec < NUM_PRECISIONS; prec++) {
            st = make_tessera(c, prec, trials, target, &err);
            if (st == TS_OK)
                st = prepare_side(c, prec, &err);
        }
        if (st == TS_OK && c->p.op == ONEDNN_CONV2D &&
            ts_target_has_feature(vnni_target, "avx512vnni")) {
            st = make_side(c, &c->vnni, ONEDNN_INT8, trials, VNNI_TARGET, vnni_target, &err);
            if (st == TS_OK)
                st = prepare_side_of(c, &c->vnni, ONEDNN_INT8, &err);
        } else if (st == TS_OK) {
            snprintf(c->vnni.missing, sizeof c->vnni.missing, "%s",
                     c->p.op == ONEDNN_CONV2D ? "this CPU lacks avx512vnni" : "not a conv layer");
        }
        if (st != TS_OK) {
            status = bench_report_error("bench_lowp: preparing", &err);
            ready++;
            goto out_free;
        }
        for (int prec = 0; prec < NUM_PRECISIONS; prec++)
            printf("%s %s: oneDNN %s; Tessera %s%s\n", c->name,
                   onednn_precision_name((OnednnPrecision)prec), onednn_case_impl(c->ref[prec]),
                   c->ts[prec].have ? ts_tune_task_name(c->ts[prec].tk.task) : c->ts[prec].missing,
                   c->ts[prec].have ? " (checked against oneDNN)" : "");
        fflush(stdout);
    }
    for (int r = 0; r < rounds; r++) {
        fprintf(stderr, "round %d/%d\n", r + 1, rounds);
        for (int i = 0; i < NUM_CASES; i++)
            if (time_round(&cases[i], &err) != TS_OK) {
                status = bench_report_error("bench_lowp: timing", &err);
                goto out_free;
            }
    }
    report(cases, rounds, trials);
out_free:
    for (int i = 0; i < ready; i++)
        case_free(&cases[i]);
    ts_target_free(target);
    ts_target_free(vnni_target);
    return status;
}
