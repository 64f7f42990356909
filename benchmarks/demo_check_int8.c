/* demo_check_int8 INT8.so FP32.so KEY=VALUE ...: the int8 step of `make demo`. It loads an
 * exported int8 conv2d kernel (uint8 or int8 data, int8 weights, int32 output, in the
 * blocked layouts its signature gives: data [N, C/ib, H, W, ib], weight
 * [K/ob, C/ib, R, S, ib/g, ob, g], output [N, K/ob, OH, OW, ob]) the way a deployment
 * would, runs it on random operands, checks every output bit for bit against a naive C
 * convolution in NCHW, and times it beside the fp32 kernel of the same layer exported by
 * the same demo (one thread each, in the same run): the speed low precision buys. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "benchmarks/bench_util.h"

enum { MAX_ARGS = 8, ROUNDS = 3, REPEATS = 3 };
#define MIN_REPEAT_MS 40.0

typedef struct Kernel {
    TsModule *module;
    const TsFuncEntry *entry;
    TsArgSpec spec[MAX_ARGS];
    int num_args;
    void *buffers[MAX_ARGS];
    BenchTensorArg tensors[MAX_ARGS];
    TsValue values[MAX_ARGS];
    int32_t codes[MAX_ARGS];
    BenchCosts costs;
} Kernel;

typedef struct Layer {
    int64_t n, c, h, w, k, r, s, stride, pad, oh, ow;
} Layer;

static TsStatus read_layer(int argc, char **argv, Layer *l, TsError *err)
{
    const char *names[] = { "N", "C", "H", "W", "K", "R", "S", "stride", "pad" };
    int64_t *fields[] = { &l->n, &l->c, &l->h, &l->w, &l->k, &l->r, &l->s, &l->stride, &l->pad };
    for (int f = 0; f < 9; f++) {
        bool found = false;
        size_t len = strlen(names[f]);
        for (int i = 0; i < argc && !found; i++)
            if (strncmp(argv[i], names[f], len) == 0 && argv[i][len] == '=') {
                char *end;
                errno = 0;
                *fields[f] = strtoll(argv[i] + len + 1, &end, 10);
                found = !errno && !*end;
            }
        if (!found)
            return ts_fail(err, TS_EINVAL, "demo_check_int8: %s=INTEGER is missing", names[f]);
    }
    l->oh = (l->h + 2 * l->pad - l->r) / l->stride + 1;
    l->ow = (l->w + 2 * l->pad - l->s) / l->stride + 1;
    return TS_OK;
}

static TsStatus load(const char *path, Kernel *k, TsError *err)
{
    TsStatus st = ts_module_load(path, &k->module, err);
    if (st != TS_OK)
        return st;
    if (ts_module_num_funcs(k->module) < 1)
        return ts_fail(err, TS_EINVAL, "%s has no function", path);
    k->entry = ts_module_func(k->module, 0);
    printf("%s: loaded %s(%s)\n", path, k->entry->name, k->entry->signature);
    st = ts_signature_parse(k->entry->signature, MAX_ARGS, k->spec, &k->num_args, err);
    if (st != TS_OK)
        return st;
    for (int i = 0; i < k->num_args; i++) {
        size_t bytes = (size_t)k->spec[i].dtype.bits / 8;
        for (int d = 0; d < k->spec[i].ndim; d++)
            bytes *= (size_t)k->spec[i].shape[d];
        k->buffers[i] = calloc(1, bytes);
        if (!k->buffers[i])
            return ts_fail(err, TS_ENOMEM, "%s: no memory for argument %d", path, i);
        bench_tensor_arg(&k->tensors[i], k->buffers[i], k->spec[i].ndim, k->spec[i].shape);
        k->tensors[i].dl.dtype = k->spec[i].dtype;
        k->values[i].v_handle = &k->tensors[i].dl;
        k->codes[i] = TS_ARG_TENSOR;
    }
    return TS_OK;
}

/* Random blocked operands (channels past C and K zero in the weight), the kernel run
 * once, and each output checked against the naive sum over the real channels. */
static TsStatus check_int8(Kernel *k, const Layer *l, TsError *err)
{
    if (k->num_args != 3 || k->spec[0].ndim != 5 || k->spec[1].ndim != 7 || k->spec[2].ndim != 5 ||
        k->spec[1].dtype.bits != 8 || k->spec[2].dtype.bits != 32)
        return ts_fail(err, TS_EINVAL, "%s: not an int8 conv2d_NCHWc kernel (%s)", k->entry->name,
                       k->entry->signature);
    bool signed_data = k->spec[0].dtype.code == TS_TYPE_INT;
    int64_t cb = k->spec[0].shape[1], ib = k->spec[0].shape[4];
    int64_t kb = k->spec[1].shape[0], ob = k->spec[1].shape[5], g = k->spec[1].shape[6];
    uint8_t *data = k->buffers[0];
    int8_t *weight = k->buffers[1];
    int32_t *out = k->buffers[2];
    uint64_t state = 12345;
    size_t nd = (size_t)(l->n * cb * l->h * l->w * ib);
    for (size_t i = 0; i < nd; i++) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        data[i] = (uint8_t)(state >> 56);
    }
    for (int64_t o = 0; o < kb * ob; o++)
        for (int64_t c = 0; c < cb * ib; c++)
            for (int64_t r = 0; r < l->r * l->s; r++) {
                state = state * 6364136223846793005ull + 1442695040888963407ull;
                int64_t at =
                    ((((o / ob * cb + c / ib) * l->r * l->s + r) * (ib / g) + c % ib / g) * ob +
                     o % ob) *
                        g +
                    c % g;
                weight[at] = o < l->k && c < l->c ? (int8_t)(state >> 56) : 0;
            }
    if (k->entry->func(k->values, k->codes, 3) != 0)
        return ts_fail(err, TS_EDEVICE, "%s failed: %s", k->entry->name, ts_runtime_last_error());
    for (int64_t n = 0; n < l->n; n++)
        for (int64_t o = 0; o < l->k; o++)
            for (int64_t y = 0; y < l->oh; y++)
                for (int64_t x = 0; x < l->ow; x++) {
                    int32_t want = 0;
                    for (int64_t c = 0; c < l->c; c++)
                        for (int64_t r = 0; r < l->r; r++)
                            for (int64_t s = 0; s < l->s; s++) {
                                int64_t iy = y * l->stride - l->pad + r;
                                int64_t ix = x * l->stride - l->pad + s;
                                if (iy < 0 || iy >= l->h || ix < 0 || ix >= l->w)
                                    continue;
                                uint8_t byte =
                                    data[(((n * cb + c / ib) * l->h + iy) * l->w + ix) * ib +
                                         c % ib];
                                int64_t wat =
                                    (((((o / ob * cb + c / ib) * l->r + r) * l->s + s) * (ib / g) +
                                      c % ib / g) *
                                         ob +
                                     o % ob) *
                                        g +
                                    c % g;
                                want += (signed_data ? (int32_t)(int8_t)byte : (int32_t)byte) *
                                        (int32_t)weight[wat];
                            }
                    int32_t got = out[(((n * kb + o / ob) * l->oh + y) * l->ow + x) * ob + o % ob];
                    if (got != want)
                        return ts_fail(err, TS_EDEVICE,
                                       "%s: output channel %lld at (%lld, %lld) is %d, naive C "
                                       "says %d",
                                       k->entry->name, (long long)o, (long long)y, (long long)x,
                                       got, want);
                }
    printf("%s: every output equals naive C's (int32, bit for bit)\n", k->entry->name);
    return TS_OK;
}

static void unload(Kernel *k)
{
    for (int i = 0; i < k->num_args; i++)
        free(k->buffers[i]);
    if (k->module)
        ts_module_release(k->module);
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fputs("usage: demo_check_int8 INT8.so FP32.so KEY=VALUE ...\n", stderr);
        return 2;
    }
    setenv("TS_NUM_THREADS", "1", 1);
    static Kernel q, f;
    Layer l;
    TsError err;
    int status = 1;
    TsStatus st = read_layer(argc - 3, argv + 3, &l, &err);
    if (st == TS_OK)
        st = load(argv[1], &q, &err);
    if (st == TS_OK)
        st = load(argv[2], &f, &err);
    if (st == TS_OK)
        st = check_int8(&q, &l, &err);
    TsTimeOptions options = bench_time_options(REPEATS, MIN_REPEAT_MS);
    for (int r = 0; st == TS_OK && r < ROUNDS; r++) {
        st = bench_time(q.entry->func, q.values, q.codes, q.num_args, &options, &q.costs, &err);
        if (st == TS_OK)
            st = bench_time(f.entry->func, f.values, f.codes, f.num_args, &options, &f.costs, &err);
    }
    if (st == TS_OK) {
        double flop = 2.0 * (double)(l.n * l.k * l.oh * l.ow * l.c * l.r * l.s);
        double gq = bench_gflops(&q.costs, flop), gf = bench_gflops(&f.costs, flop);
        printf("speed, one thread: int8 %.1f GOPS (%.3f ms), fp32 %.1f GFLOPS (%.3f ms): "
               "int8 is %.2fx fp32\n",
               gq, bench_median(&q.costs) * 1e3, gf, bench_median(&f.costs) * 1e3,
               gf > 0 ? gq / gf : 0);
        status = 0;
    } else {
        fprintf(stderr, "demo_check_int8: %s\n", err.message);
    }
    unload(&q);
    unload(&f);
    return status;
}
