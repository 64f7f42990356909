/* The end-to-end check of one template config: see tmpl_testing.h. */
#include "tmpl_testing.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "test_values.h"

enum { MAX_T = TS_TEMPLATE_MAX_TENSORS };

typedef struct Buffers {
    int num;
    TsTensor *tensors[MAX_T];
    void *data[MAX_T];
    void *mag[MAX_T]; /* inputs: magnitudes; outputs: the reference on them */
    void *want[MAX_T];
} Buffers;

static void *alloc_like(const TsTensor *t)
{
    size_t bytes = (tv_num_bytes(t) + 63) / 64 * 64;
    void *p = aligned_alloc(64, bytes);
    if (p)
        memset(p, 0xA5, bytes);
    return p;
}

static bool buffers_init(Buffers *b, const TsTemplateInstance *inst, uint64_t seed)
{
    memset(b, 0, sizeof *b);
    TvRng rng = { seed };
    b->num = inst->num_tensors;
    for (int i = 0; i < b->num; i++) {
        TsTensor *t = inst->tensors[i];
        b->tensors[i] = t;
        b->data[i] = alloc_like(t);
        b->mag[i] = alloc_like(t);
        b->want[i] = alloc_like(t);
        if (!b->data[i] || !b->mag[i] || !b->want[i])
            return false;
        if (i < b->num - inst->num_outputs) {
            tv_fill_random(&rng, t, b->data[i]);
            memcpy(b->mag[i], b->data[i], tv_num_bytes(t));
            tv_make_magnitude(t, b->mag[i]);
            memcpy(b->want[i], b->data[i], tv_num_bytes(t));
        }
    }
    return true;
}

static void buffers_free(Buffers *b)
{
    for (int i = 0; i < b->num; i++) {
        free(b->data[i]);
        free(b->mag[i]);
        free(b->want[i]);
    }
}

static bool call(TsPackedFunc fn, const TsLoweredFunc *func, const Buffers *b, void *const *data,
                 char *message, size_t size)
{
    return tt_call(fn, func, b->num, b->tensors, data, message, size);
}

bool tt_call(TsPackedFunc fn, const TsLoweredFunc *func, int num, TsTensor *const *tensors,
             void *const *data, char *message, size_t size)
{
    TsDLTensor dl[MAX_T];
    TsValue values[MAX_T];
    int32_t codes[MAX_T];
    int64_t shapes[MAX_T][TS_MAX_DIMS];
    int n = ts_lowered_num_args(func);
    if (n > MAX_T) {
        snprintf(message, size, "kernel has %d arguments", n);
        return false;
    }
    for (int a = 0; a < n; a++) {
        const TsTensor *t = ts_lowered_arg(func, a);
        int slot = -1;
        for (int i = 0; i < num; i++)
            if (tensors[i] == t)
                slot = i;
        if (slot < 0) {
            snprintf(message, size, "kernel argument %s is not a tensor of the instance",
                     ts_tensor_name(t));
            return false;
        }
        for (int d = 0; d < ts_tensor_ndim(t); d++)
            shapes[a][d] = ts_tensor_dim(t, d);
        dl[a] = (TsDLTensor){ .data = data[slot],
                              .device = { TS_DEVICE_CPU, 0 },
                              .ndim = ts_tensor_ndim(t),
                              .dtype = ts_tensor_dtype(t),
                              .shape = shapes[a] };
        values[a].v_handle = &dl[a];
        codes[a] = TS_ARG_TENSOR;
    }
    if (fn(values, codes, n) != 0) {
        snprintf(message, size, "kernel failed: %s", ts_runtime_last_error());
        return false;
    }
    return true;
}

static double rtol(TsDType dt)
{
    return dt.bits == 32 ? 1e-4 : 1e-10;
}

TsStatus tt_build(const TsTemplate *tmpl, const TsTemplateArgs *args, const TsTemplateTarget *tt,
                  const TsTarget *target, const TsConfig *config, TsArena *arena,
                  TsTemplateInstance *inst, TsLoweredFunc **func, TsJitModule **module,
                  TsPackedFunc *fn, TsError *err)
{
    *module = NULL;
    TsStatus st = tmpl->instantiate(args, tt, config, arena, inst, err);
    if (st == TS_OK)
        st = ts_lower(inst->sch, "candidate", func, err);
    if (st == TS_OK)
        st = ts_build_jit(1, (const TsLoweredFunc *const *)func, target, module, err);
    if (st == TS_OK)
        st = ts_jit_get_func(*module, "candidate", fn, err);
    return st;
}

TsStatus tt_lower_config(const TsTemplate *tmpl, const TsTemplateArgs *args,
                         const TsTemplateTarget *tt, const TsConfig *config, TsArena *arena,
                         TsLoweredFunc **func, TsError *err)
{
    TsTemplateInstance inst;
    TsStatus st = tmpl->instantiate(args, tt, config, arena, &inst, err);
    if (st == TS_OK)
        st = ts_lower(inst.sch, "candidate", func, err);
    return st;
}

/* The reference: a fresh schedule of the instance's outputs, JIT-compiled and run on the
 * inputs and on their magnitudes. */
static bool run_reference(const TsTemplateInstance *inst, TsArena *arena, const TsTarget *target,
                          Buffers *b, TtResult *r)
{
    TsTensor *const *outs = inst->tensors + inst->num_tensors - inst->num_outputs;
    TsSchedule *sch = ts_schedule_create(arena, inst->num_outputs, outs);
    TsLoweredFunc *func = NULL;
    TsJitModule *module = NULL;
    TsPackedFunc fn = NULL;
    if (!sch) {
        ts_arena_check(arena, &r->err);
        r->stage = "reference schedule";
        return false;
    }
    if (ts_lower(sch, "reference", &func, &r->err) != TS_OK ||
        ts_build_jit(1, (const TsLoweredFunc *const *)&func, target, &module, &r->err) != TS_OK ||
        ts_jit_get_func(module, "reference", &fn, &r->err) != TS_OK) {
        r->stage = "reference build";
        if (module)
            ts_jit_release(module);
        return false;
    }
    bool ok = call(fn, func, b, b->want, r->mismatch, sizeof r->mismatch) &&
              call(fn, func, b, b->mag, r->mismatch, sizeof r->mismatch);
    if (!ok)
        r->stage = "reference run";
    ts_jit_release(module);
    return ok;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double best_time(TsPackedFunc fn, const TsLoweredFunc *func, const Buffers *b, int repeat)
{
    char message[256];
    double best = 1e30;
    for (int r = 0; r < repeat; r++) {
        double t0 = now();
        int calls = 0;
        do {
            call(fn, func, b, b->data, message, sizeof message);
            calls++;
        } while (now() - t0 < 0.05);
        double t = (now() - t0) / calls;
        best = t < best ? t : best;
    }
    return best;
}

/* Runs the candidate and compares every output. */
static bool run_candidate(TsPackedFunc fn, const TsLoweredFunc *func,
                          const TsTemplateInstance *inst, Buffers *b, int repeat, TtResult *r)
{
    if (!call(fn, func, b, b->data, r->mismatch, sizeof r->mismatch))
        return true; /* a wrong answer, not a harness failure */
    r->same = true;
    for (int o = inst->num_tensors - inst->num_outputs; o < inst->num_tensors && r->same; o++)
        r->same = tv_compare_output(b->tensors[o], b->data[o], b->want[o], b->mag[o], rtol, NULL,
                                    r->mismatch, sizeof r->mismatch);
    if (r->same && repeat > 0)
        r->seconds = best_time(fn, func, b, repeat);
    return true;
}

bool tt_check_config(const TsTemplate *tmpl, const TsTemplateArgs *args, const TsTemplateTarget *tt,
                     const TsTarget *target, const TsConfig *config, uint64_t seed, int repeat,
                     TtResult *r)
{
    memset(r, 0, sizeof *r);
    TsArena *arena = ts_arena_create();
    TsTemplateInstance inst;
    TsLoweredFunc *func = NULL;
    TsJitModule *module = NULL;
    TsPackedFunc fn = NULL;
    Buffers b = { 0 };
    bool ok = true;
    r->stage = "instantiate";
    r->status = tmpl->instantiate(args, tt, config, arena, &inst, &r->err);
    if (r->status == TS_OK) {
        r->stage = "lower";
        r->status = ts_lower(inst.sch, "candidate", &func, &r->err);
    }
    if (r->status == TS_OK) {
        r->stage = "jit";
        r->status = ts_build_jit(1, (const TsLoweredFunc *const *)&func, target, &module, &r->err);
    }
    if (r->status == TS_OK)
        r->status = ts_jit_get_func(module, "candidate", &fn, &r->err);
    if (r->status != TS_OK)
        goto out_release;
    r->stage = NULL;
    ok = buffers_init(&b, &inst, seed) && run_reference(&inst, arena, target, &b, r);
    if (ok)
        ok = run_candidate(fn, func, &inst, &b, repeat, r);
    buffers_free(&b);
out_release:
    if (module)
        ts_jit_release(module);
    ts_arena_destroy(arena);
    return ok;
}
