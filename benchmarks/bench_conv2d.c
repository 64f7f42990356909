/* bench_conv2d: the 3x3 convolutions of ResNet-18 (stride 1, padding 1, NCHW, fp32, batch
 * 1), Tessera's hand-written schedule against im2col + OpenBLAS's sgemm, on one thread.
 *
 * The convolution as Tessera computes it. A 3x3 convolution with padding 1 is a matrix
 * product whose B operand never needs to be built: lay the padded input out flat, one
 * channel after another, each row Wp = W + 2 wide; then for output position p = y * Wp + x
 * the input under tap (ky, kx) is at p + ky * Wp + kx, so the row of B for (c, ky, kx) is
 * the padded channel c shifted by a constant. The expression is
 *     pad[c, t]  = data[0, c, t / Wp - 1, t % Wp - 1] inside the image, else 0
 *     ext[f, p]  = sum over c, ky, kx of weight[f, c, ky, kx] * pad[c, p + ky * Wp + kx]
 *     conv[0, f, y, x] = ext[f, y * Wp + x]
 * where p runs over the H rows of Wp positions (the two extra columns per row are
 * computed and dropped), rounded up to a whole number of tiles; pad has enough zero rows
 * below the image for the last tile's reads. Weights are read where they are (OIHW is
 * [F, C * 9] row-major), one broadcast per multiply-add row; nothing is packed.
 *
 * The schedule: pad is split into rows of Wp (no division left in its loop); ext is
 * tiled into mr x bn register tiles (mr output channels, bn positions: bn / 16 zmm
 * vectors per channel) with a cache_write accumulator computed at the tile, its loops
 * rc, ry, rx, f, p with ry, rx and f unrolled and p vectorized, so the accumulators
 * stay in registers across rc; the tile loops run channels-outer when the weights are
 * the larger operand (they stream once, from L2 per channel block) and positions-outer
 * otherwise; the copy-out to NCHW is vectorized along x.
 *
 * The reference, timed the same way, is what frameworks without a convolution kernel do:
 * im2col into a [C * 9, H * W] matrix, then sgemm of the [F, C * 9] weights with it, the
 * OpenBLAS side in one child process per core type (bench_util.h). Both sides' time
 * includes their data rearrangement (Tessera's padding and copy-out, the reference's
 * im2col). Before timing, Tessera's output is checked against the reference's.
 *
 * The last line: RESULT bench=conv2d ... ratio=R, R the worst layer's ratio of Tessera's
 * GFLOPS to OpenBLAS's best. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "benchmarks/bench_util.h"
#include "benchmarks/conv_reference.h"

enum { NUM_LAYERS = 4, DEFAULT_ROUNDS = 5, REPEATS_PER_ROUND = 3 };
#define MIN_REPEAT_MS 40.0
#define MAX_RELATIVE_ERROR 1e-4
#define SEED_DATA 11
#define SEED_WEIGHT 12

/* A layer: input channels, height = width, output channels; and its schedule's knobs. */
typedef struct Layer {
    int64_t c, hw, f;
    int64_t mr, bn;      /* register tile: mr output channels x bn positions */
    bool channels_outer; /* tile loops: output channels outside positions */
} Layer;

/* clang-format off */
static const Layer layers[NUM_LAYERS] = {
    {  64, 56,  64, 14, 32, true },
    { 128, 28, 128, 14, 32, true },
    { 256, 14, 256, 12, 32, true },
    { 512,  7, 512, 12, 32, true },
};
/* clang-format on */

/* The layer's knobs, or BENCH_CONV_CONFIG="mr=8,bn=32,outer=channels|positions" for all. */
static Layer layer_config(const Layer *base)
{
    Layer l = *base;
    const char *p = getenv("BENCH_CONV_CONFIG");
    while (p && *p) {
        long long value;
        if (sscanf(p, "mr=%lld", &value) == 1)
            l.mr = value;
        else if (sscanf(p, "bn=%lld", &value) == 1)
            l.bn = value;
        else if (strncmp(p, "outer=", 6) == 0)
            l.channels_outer = strncmp(p + 6, "channels", 8) == 0;
        p += strcspn(p, ",");
        p += *p == ',';
    }
    return l;
}

static double layer_flops(const Layer *l)
{
    return 2.0 * (double)l->f * (double)l->c * 9.0 * (double)l->hw * (double)l->hw;
}

/* ---- the Tessera side ---- */

static int64_t round_up(int64_t x, int64_t m)
{
    return (x + m - 1) / m * m;
}

/* pad, ext and conv over the placeholders data [1, C, H, W] and weight [F, C, 3, 3]. */
static TsTensor *conv_expression(TsArena *A, const Layer *l, TsTensor **pad_out, TsTensor **ext_out)
{
    int64_t h = l->hw, w = l->hw, wp = w + 2;
    int64_t positions = round_up(h * wp, l->bn);
    /* The last tile reads up to positions - 1 + 2 * wp + 2. */
    int64_t pad_rows = (positions + 2 * wp + 2 + wp - 1) / wp;
    TsTensor *data = ts_placeholder(A, "data", 4, (int64_t[]){ 1, l->c, h, w }, TS_FLOAT32);
    TsTensor *weight = ts_placeholder(A, "weight", 4, (int64_t[]){ l->f, l->c, 3, 3 }, TS_FLOAT32);

    TsAxis *pc = ts_axis(A, "c", l->c), *pt = ts_axis(A, "t", pad_rows * wp);
    TsExpr *yy = ts_floordiv(A, ts_var(pt), ts_i32(A, wp));
    TsExpr *xx = ts_floormod(A, ts_var(pt), ts_i32(A, wp));
    TsExpr *inside = ts_and(A, ts_and(A, ts_ge(A, yy, ts_i32(A, 1)), ts_le(A, yy, ts_i32(A, h))),
                            ts_and(A, ts_ge(A, xx, ts_i32(A, 1)), ts_le(A, xx, ts_i32(A, w))));
    TsExpr *pixel = ts_at(A, data, ts_i32(A, 0), ts_var(pc), ts_sub(A, yy, ts_i32(A, 1)),
                          ts_sub(A, xx, ts_i32(A, 1)));
    *pad_out = ts_compute(A, "pad", 2, (TsAxis *[]){ pc, pt },
                          ts_if_then_else(A, inside, pixel, ts_f32(A, 0.0)));

    TsAxis *f = ts_axis(A, "f", l->f), *p = ts_axis(A, "p", positions);
    TsAxis *rc = ts_reduce_axis(A, "rc", l->c), *ry = ts_reduce_axis(A, "ry", 3);
    TsAxis *rx = ts_reduce_axis(A, "rx", 3);
    TsExpr *tap = ts_add(A, ts_add(A, ts_var(p), ts_mul(A, ts_var(ry), ts_i32(A, wp))), ts_var(rx));
    TsExpr *prod = ts_mul(A, ts_at(A, weight, ts_var(f), ts_var(rc), ts_var(ry), ts_var(rx)),
                          ts_at(A, *pad_out, ts_var(rc), tap));
    *ext_out = ts_compute(A, "ext", 2, (TsAxis *[]){ f, p },
                          ts_sum(A, prod, 3, (TsAxis *[]){ rc, ry, rx }, NULL));

    TsAxis *on = ts_axis(A, "n", 1), *of = ts_axis(A, "f", l->f);
    TsAxis *oy = ts_axis(A, "y", h), *ox = ts_axis(A, "x", w);
    TsExpr *position = ts_add(A, ts_mul(A, ts_var(oy), ts_i32(A, wp)), ts_var(ox));
    return ts_compute(A, "conv", 4, (TsAxis *[]){ on, of, oy, ox },
                      ts_at(A, *ext_out, ts_var(of), position));
}

/* ext's tiles and its accumulator (see the file comment). */
static TsStatus schedule_product(TsSchedule *sch, TsTensor *ext, const Layer *l, TsError *err)
{
    TsTensor *acc;
    TsStatus status = ts_cache_write(sch, ext, &acc, err);
    if (status != TS_OK)
        return status;
    TsStage *st = ts_stage(sch, ext), *sa = ts_stage(sch, acc);
    TsAxis *fo, *po, *fi, *pi;
    status = ts_tile(st, ts_stage_root_axis(st, 0), ts_stage_root_axis(st, 1), l->mr, l->bn, &fo,
                     &po, &fi, &pi, err);
    if (status == TS_OK && !l->channels_outer)
        status = ts_reorder(st, 2, (TsAxis *[]){ po, fo }, err);
    if (status == TS_OK)
        status = ts_vectorize(st, pi, err);
    if (status == TS_OK)
        status = ts_unroll(st, fi, err);
    if (status == TS_OK)
        status = ts_compute_at(sa, st, l->channels_outer ? po : fo, err);
    TsAxis *af = ts_stage_root_axis(sa, 0), *ap = ts_stage_root_axis(sa, 1);
    TsAxis *ac = ts_stage_root_axis(sa, 2), *ay = ts_stage_root_axis(sa, 3);
    TsAxis *ax = ts_stage_root_axis(sa, 4), *apo = NULL, *api = NULL;
    /* ts_vectorize checks an axis's extent before compute_at narrows it to the tile, so
     * the positions are split by the tile width first (the outer part has extent 1). */
    if (status == TS_OK)
        status = ts_split(sa, ap, l->bn, &apo, &api, err);
    if (status == TS_OK)
        status = ts_reorder(sa, 6, (TsAxis *[]){ apo, ac, ay, ax, af, api }, err);
    if (status == TS_OK)
        status = ts_unroll(sa, ay, err);
    if (status == TS_OK)
        status = ts_unroll(sa, ax, err);
    if (status == TS_OK)
        status = ts_unroll(sa, af, err);
    if (status == TS_OK)
        status = ts_vectorize(sa, api, err);
    return status;
}

static TsStatus conv_build(TsArena *A, const Layer *l, const char *name, TsLoweredFunc **func,
                           TsError *err)
{
    TsTensor *pad, *ext;
    TsTensor *conv = conv_expression(A, l, &pad, &ext);
    TsStatus status = ts_arena_check(A, err);
    if (status != TS_OK)
        return status;
    TsSchedule *sch = ts_schedule_create(A, 1, &conv);
    if (!sch)
        return ts_arena_check(A, err);
    TsStage *sp = ts_stage(sch, pad), *so = ts_stage(sch, conv);
    TsAxis *row, *col;
    status = ts_split(sp, ts_stage_root_axis(sp, 1), l->hw + 2, &row, &col, err);
    if (status == TS_OK)
        status = schedule_product(sch, ext, l, err);
    if (status == TS_OK)
        status = ts_vectorize(so, ts_stage_root_axis(so, 3), err);
    if (status == TS_OK)
        status = ts_lower(sch, name, func, err);
    return status;
}

/* One layer: the operands, the reference result and its magnitude, the kernel. */
typedef struct LayerCase {
    const Layer *layer;
    ConvOperands o;
    float *reference, *magnitude;
    TsArena *arena;
    TsJitModule *jit;
    TsPackedFunc kernel;
    double max_error;
    BenchTensorArg tensors[3];
    TsValue values[3];
    int32_t codes[3];
    BenchCosts tessera;
    BenchCosts openblas[BENCH_NUM_CORETYPES];
    BenchCosts sgemm_only[BENCH_NUM_CORETYPES];
    char corename[BENCH_NUM_CORETYPES][64];
} LayerCase;

/* Arguments in the order the kernel lists them (ts_lowered_arg). */
static TsStatus bind_arguments(LayerCase *lc, const TsLoweredFunc *func, TsError *err)
{
    if (ts_lowered_num_args(func) != 3)
        return ts_fail(err, TS_EINVAL, "conv kernel has %d arguments, expected 3",
                       ts_lowered_num_args(func));
    for (int i = 0; i < 3; i++) {
        const TsTensor *t = ts_lowered_arg(func, i);
        const char *name = ts_tensor_name(t);
        float *data = strcmp(name, "data") == 0     ? lc->o.data
                      : strcmp(name, "weight") == 0 ? lc->o.weight
                                                    : lc->o.out;
        int64_t shape[4];
        for (int d = 0; d < 4; d++)
            shape[d] = ts_tensor_dim(t, d);
        bench_tensor_arg(&lc->tensors[i], data, ts_tensor_ndim(t), shape);
        lc->values[i].v_handle = &lc->tensors[i].dl;
        lc->codes[i] = TS_ARG_TENSOR;
    }
    return TS_OK;
}

static TsStatus layer_case_init(LayerCase *lc, const Layer *l, const TsTarget *target, TsError *err)
{
    memset(lc, 0, sizeof *lc);
    lc->layer = l;
    ConvShape shape = { .c = l->c, .h = l->hw, .w = l->hw, .f = l->f, .r = 3, .s = 3,
                        .stride = 1, .pad = 1 };
    conv_shape_init(&shape);
    conv_operands_init(&lc->o, &shape, SEED_DATA, SEED_WEIGHT);
    size_t n_out = (size_t)(l->f * l->hw * l->hw);
    lc->reference = bench_alloc_floats(n_out);
    lc->magnitude = bench_alloc_floats(n_out);
    ConvOperands ref = lc->o;
    ref.out = lc->reference;
    conv_reference(&ref);
    conv_reference_magnitude(&lc->o, lc->magnitude);

    lc->arena = ts_arena_create();
    if (!lc->arena)
        return ts_fail(err, TS_ENOMEM, "conv2d: no arena");
    TsLoweredFunc *func;
    TsStatus status = conv_build(lc->arena, l, "conv2d", &func, err);
    if (status == TS_OK)
        status = bind_arguments(lc, func, err);
    if (status == TS_OK)
        status = ts_build_jit(1, (const TsLoweredFunc *const *)&func, target, &lc->jit, err);
    if (status == TS_OK)
        status = ts_jit_get_func(lc->jit, "conv2d", &lc->kernel, err);
    if (status != TS_OK)
        return status;
    memset(lc->o.out, 0xff, n_out * sizeof(float)); /* NaNs: every element must be written */
    if (lc->kernel(lc->values, lc->codes, 3) != 0)
        return ts_fail(err, TS_EDEVICE, "conv2d: %s", ts_runtime_last_error());
    lc->max_error = bench_max_relative_error(lc->o.out, lc->reference, lc->magnitude, n_out);
    if (!(lc->max_error <= MAX_RELATIVE_ERROR))
        return ts_fail(err, TS_EDEVICE, "conv2d %lldx%lldx%lld->%lld: max relative error %.3g > %g",
                       (long long)l->c, (long long)l->hw, (long long)l->hw, (long long)l->f,
                       lc->max_error, MAX_RELATIVE_ERROR);
    return TS_OK;
}

static void layer_case_free(LayerCase *lc)
{
    if (lc->jit)
        ts_jit_release(lc->jit);
    ts_arena_destroy(lc->arena);
    conv_operands_free(&lc->o);
    free(lc->reference);
    free(lc->magnitude);
}

static TsStatus time_round(LayerCase *lc, TsError *err)
{
    TsTimeOptions options = bench_time_options(REPEATS_PER_ROUND, MIN_REPEAT_MS);
    TsStatus status = bench_time(lc->kernel, lc->values, lc->codes, 3, &options, &lc->tessera, err);
    char buf[10][24];
    const char *args[10];
    int num_args = conv_reference_child_args(&lc->o.shape, REPEATS_PER_ROUND, MIN_REPEAT_MS, buf,
                                             args);
    for (int k = 0; status == TS_OK && k < BENCH_NUM_CORETYPES; k++)
        status =
            bench_openblas_child(bench_coretypes[k], 1, num_args, args, &lc->openblas[k],
                                 &lc->sgemm_only[k], lc->corename[k], sizeof lc->corename[k], err);
    return status;
}

static void report(LayerCase *cases, int rounds)
{
    printf("\n%-18s %9s %7s | %-33s | %-10s %7s | %6s | %-11s %6s\n", "layer", "Tessera", "GFLOPS",
           "im2col+sgemm GFLOPS: COOP SKX HSW", "best", "GFLOPS", "ratio", "sgemm alone", "ratio");
    double worst = INFINITY;
    char keys[2048] = "";
    size_t used = 0;
    for (int i = 0; i < NUM_LAYERS; i++) {
        LayerCase *lc = &cases[i];
        const Layer *l = lc->layer;
        double flops = layer_flops(l), mine = flops / bench_median(&lc->tessera) * 1e-9;
        double blas[BENCH_NUM_CORETYPES];
        for (int k = 0; k < BENCH_NUM_CORETYPES; k++)
            blas[k] = flops / bench_median(&lc->openblas[k]) * 1e-9;
        int best = 0, best_sgemm = 0;
        double reference = bench_best_gflops(lc->openblas, flops, &best);
        double sgemm_alone = bench_best_gflops(lc->sgemm_only, flops, &best_sgemm);
        double ratio = mine / reference;
        if (ratio < worst)
            worst = ratio;
        char name[48], ms[24], ob[64];
        snprintf(name, sizeof name, "%lldx%lldx%lld->%lld", (long long)l->c, (long long)l->hw,
                 (long long)l->hw, (long long)l->f);
        snprintf(ms, sizeof ms, "%.3f ms", bench_median(&lc->tessera) * 1e3);
        snprintf(ob, sizeof ob, "%.1f %.1f %.1f", blas[0], blas[1], blas[2]);
        printf("%-18s %9s %7.1f | %-33s | %-10s %7.1f | %6.3f | %-11.1f %6.3f\n", name, ms, mine,
               ob, bench_coretypes[best], reference, ratio, sgemm_alone, mine / sgemm_alone);
        used += (size_t)snprintf(keys + used, sizeof keys - used,
                                 " c%lld_tessera_gflops=%.1f c%lld_openblas_gflops=%.1f"
                                 " c%lld_openblas_core=%s c%lld_ratio=%.3f"
                                 " c%lld_ratio_vs_sgemm_alone=%.3f",
                                 (long long)l->c, mine, (long long)l->c, reference, (long long)l->c,
                                 bench_coretypes[best], (long long)l->c, ratio, (long long)l->c,
                                 mine / sgemm_alone);
    }
    printf("\nGFLOPS count 2*F*C*9*H*W per layer; medians of %d repeats per side and layer (%d "
           "rounds x %d, each the mean of >= %.0f ms of calls), one thread. \"sgemm alone\": "
           "OpenBLAS's product without im2col (best core type), for scale. OpenBLAS children "
           "reported core names:",
           cases[0].tessera.count, rounds, REPEATS_PER_ROUND, MIN_REPEAT_MS);
    for (int k = 0; k < BENCH_NUM_CORETYPES; k++)
        printf(" %s=%s", bench_coretypes[k], cases[0].corename[k]);
    printf("\nRESULT bench=conv2d threads=1%s ratio=%.3f\n", keys, worst);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], BENCH_CHILD_FLAG) == 0)
        return conv_reference_child(argc, argv);
    openblas_set_num_threads(1);
    int rounds = bench_rounds(DEFAULT_ROUNDS);
    TsError err;
    TsTarget *target;
    if (ts_target_parse("llvm", &target, &err) != TS_OK)
        return bench_report_error("bench_conv2d: target", &err);
    printf("bench_conv2d: ResNet-18 3x3 convolutions, stride 1, pad 1, NCHW fp32, batch 1, one "
           "thread: Tessera (JIT) vs im2col + OpenBLAS cblas_sgemm\n");
    bench_print_machine(target);

    static LayerCase cases[NUM_LAYERS];
    int status = 0, ready = 0;
    for (; ready < NUM_LAYERS; ready++) {
        static Layer configured[NUM_LAYERS];
        configured[ready] = layer_config(&layers[ready]);
        const Layer *l = &configured[ready];
        if (layer_case_init(&cases[ready], l, target, &err) != TS_OK) {
            status = bench_report_error("bench_conv2d: check", &err);
            ready++;
            goto out_free_cases;
        }
        printf("check 1x%lldx%lldx%lld->%lld (tile %lld channels x %lld positions, %s outer): "
               "max relative error vs im2col+sgemm %.2e (limit %g)\n",
               (long long)l->c, (long long)l->hw, (long long)l->hw, (long long)l->f,
               (long long)l->mr, (long long)l->bn, l->channels_outer ? "channels" : "positions",
               cases[ready].max_error, MAX_RELATIVE_ERROR);
    }
    fflush(stdout);
    for (int r = 0; r < rounds; r++) {
        for (int i = 0; i < NUM_LAYERS; i++)
            if (time_round(&cases[i], &err) != TS_OK) {
                status = bench_report_error("bench_conv2d: timing", &err);
                goto out_free_cases;
            }
        fprintf(stderr, "bench_conv2d: round %d of %d done\n", r + 1, rounds);
    }
    report(cases, rounds);
out_free_cases:
    for (int i = 0; i < ready; i++)
        layer_case_free(&cases[i]);
    ts_target_free(target);
    return status;
}
