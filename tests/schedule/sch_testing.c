/* The value check shared by the schedule tests: a lowered loop nest against the
 * reference interpreter, on random inputs (see sch_testing.h for the tolerance). */
#include "sch_testing.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t sch_rng_next(SchRng *rng)
{
    return tv_rng_next(rng);
}

int64_t sch_rng_int(SchRng *rng, int64_t lo, int64_t hi)
{
    return tv_rng_int(rng, lo, hi);
}

int sch_rng_chance(SchRng *rng, int percent)
{
    return sch_rng_int(rng, 0, 99) < percent;
}

/* Every float dtype is held to the same bound (sch_testing.h). */
static double float_rtol(TsDType dtype)
{
    (void)dtype;
    return SCH_FLOAT_RTOL;
}

static TsStatus fail(SchCheck *check, const char *stage, TsStatus status, const char *message)
{
    check->status = status;
    check->stage = stage;
    snprintf(check->message, sizeof check->message, "%s", message);
    return status;
}

TsStatus sch_check_lowered(const TsLoweredFunc *func, int num_outputs, TsTensor *const *outputs,
                           uint64_t seed, SchCheck *check)
{
    enum { MAX_ARGS = 32 };
    memset(check, 0, sizeof *check);
    check->stage = "run";
    int nargs = ts_lowered_num_args(func);
    if (nargs < 1 || nargs > MAX_ARGS || num_outputs < 1 || num_outputs > MAX_ARGS)
        return fail(check, "run", TS_EINVAL, "unexpected argument count");
    TsBinding run[MAX_ARGS], oracle[MAX_ARGS], magnitude[MAX_ARGS];
    void *owned[3 * MAX_ARGS];
    int num_owned = 0, num_inputs = 0;
    TsStatus status = TS_OK;
    SchRng rng = { seed };
    TsError err;

    /* The arguments of the lowered function: random inputs, poisoned outputs. */
    for (int i = 0; i < nargs; i++) {
        const TsTensor *t = ts_lowered_arg(func, i);
        void *data = malloc(tv_num_bytes(t));
        if (!data)
            return fail(check, "run", TS_ENOMEM, "out of memory");
        owned[num_owned++] = data;
        if (ts_tensor_is_placeholder(t)) {
            tv_fill_random(&rng, t, data);
            void *copy = malloc(tv_num_bytes(t));
            if (!copy) {
                status = fail(check, "run", TS_ENOMEM, "out of memory");
                goto out_free;
            }
            owned[num_owned++] = copy;
            memcpy(copy, data, tv_num_bytes(t));
            tv_make_magnitude(t, copy);
            oracle[num_inputs] = (TsBinding){ t, data };
            magnitude[num_inputs++] = (TsBinding){ t, copy };
        } else {
            memset(data, 0xA5, tv_num_bytes(t));
        }
        run[i] = (TsBinding){ t, data };
    }
    status = ts_lowered_run(func, nargs, run, &err);
    if (status != TS_OK) {
        fail(check, "run", status, err.message);
        goto out_free;
    }

    /* The oracle, twice: on the inputs, and on their magnitudes for the float bound. */
    int num_oracle = num_inputs;
    for (int o = 0; o < num_outputs; o++) {
        void *want = malloc(tv_num_bytes(outputs[o])), *mag = malloc(tv_num_bytes(outputs[o]));
        if (want)
            owned[num_owned++] = want;
        if (mag)
            owned[num_owned++] = mag;
        if (!want || !mag) {
            status = fail(check, "evaluate", TS_ENOMEM, "out of memory");
            goto out_free;
        }
        oracle[num_oracle] = (TsBinding){ outputs[o], want };
        magnitude[num_oracle++] = (TsBinding){ outputs[o], mag };
    }
    status = ts_evaluate(num_outputs, outputs, num_oracle, oracle, &err);
    if (status == TS_OK)
        status = ts_evaluate(num_outputs, outputs, num_oracle, magnitude, &err);
    if (status != TS_OK) {
        fail(check, "evaluate", status, err.message);
        goto out_free;
    }

    check->stage = "compare";
    for (int o = 0; o < num_outputs; o++) {
        const void *got = NULL;
        for (int i = 0; i < nargs; i++)
            if (run[i].tensor == outputs[o])
                got = run[i].data;
        if (!got) {
            status = fail(check, "compare", TS_EINVAL, "an output is not an argument");
            goto out_free;
        }
        if (!tv_compare_output(outputs[o], got, oracle[num_inputs + o].data,
                               magnitude[num_inputs + o].data, float_rtol, &check->elements,
                               check->message, sizeof check->message)) {
            status = check->status = TS_EINVAL;
            goto out_free;
        }
    }
out_free:
    for (int i = 0; i < num_owned; i++)
        free(owned[i]);
    return status;
}

bool sch_chain_build(TsArena *A, SchChain *c)
{
    c->a = ts_placeholder(A, "a", 2, (int64_t[]){ 16, 8 }, TS_FLOAT32);
    c->b = ts_placeholder(A, "b", 2, (int64_t[]){ 8, 12 }, TS_FLOAT32);
    c->si = ts_axis(A, "si", 16);
    c->sk = ts_axis(A, "sk", 8);
    c->scaled = ts_compute(A, "scaled", 2, (TsAxis *[]){ c->si, c->sk },
                           ts_mul(A, ts_at(A, c->a, ts_var(c->si), ts_var(c->sk)), ts_f32(A, 2)));
    c->i = ts_axis(A, "i", 16);
    c->j = ts_axis(A, "j", 12);
    c->k = ts_reduce_axis(A, "k", 8);
    TsExpr *prod = ts_mul(A, ts_at(A, c->scaled, ts_var(c->i), ts_var(c->k)),
                          ts_at(A, c->b, ts_var(c->k), ts_var(c->j)));
    c->mm = ts_compute(A, "mm", 2, (TsAxis *[]){ c->i, c->j }, ts_sum(A, prod, 1, &c->k, NULL));
    c->oi = ts_axis(A, "oi", 16);
    c->oj = ts_axis(A, "oj", 12);
    c->out = ts_compute(A, "out", 2, (TsAxis *[]){ c->oi, c->oj },
                        ts_add(A, ts_at(A, c->mm, ts_var(c->oi), ts_var(c->oj)), ts_f32(A, 1)));
    c->sch = c->out ? ts_schedule_create(A, 1, &c->out) : NULL;
    if (!c->sch) {
        fprintf(stderr, "fixture: %s\n", ts_arena_error(A)->message);
        return false;
    }
    c->s_scaled = ts_stage(c->sch, c->scaled);
    c->s_mm = ts_stage(c->sch, c->mm);
    c->s_out = ts_stage(c->sch, c->out);
    return true;
}
