/* The random tuner: proposes points uniformly at random, without replacement, until the
 * space is exhausted. The draw is a lazy Fisher-Yates shuffle of [0, size): a map holds
 * only the positions the shuffle has swapped, so a draw costs O(1) however large the
 * space, and the order is a uniform permutation for the seed. Points visited by other
 * means (an earlier run's records) are skipped when the shuffle reaches them. */
#include <stdlib.h>

#include "tune_internal.h"

typedef struct RandomState {
    TuneIndexMap swapped; /* position -> the point now at that position */
    int64_t next;         /* positions [0, next) were drawn */
} RandomState;

static TsStatus random_init(TsTuner *tuner, TsError *err)
{
    RandomState *rs = calloc(1, sizeof *rs);
    if (!rs || !tune_map_init(&rs->swapped, 0)) {
        free(rs);
        return ts_fail(err, TS_ENOMEM, "tuner random: out of memory");
    }
    tuner->state = rs;
    return TS_OK;
}

static void random_destroy(TsTuner *tuner)
{
    RandomState *rs = tuner->state;
    if (!rs)
        return;
    tune_map_free(&rs->swapped);
    free(rs);
}

static int64_t at(const RandomState *rs, int64_t position)
{
    int64_t point;
    return tune_map_get(&rs->swapped, position, &point) ? point : position;
}

/* The next point of the permutation, or -1 at its end. */
static int64_t draw(TsTuner *tuner, RandomState *rs, bool *oom)
{
    if (rs->next >= tuner->size)
        return -1;
    int64_t j = rs->next + tune_rng_below(&tuner->rng, tuner->size - rs->next);
    int64_t point = at(rs, j);
    if (!tune_map_put(&rs->swapped, j, at(rs, rs->next)))
        *oom = true;
    rs->next++;
    return point;
}

static TsStatus random_next_batch(TsTuner *tuner, int batch_size, int64_t *indices, int *num,
                                  TsError *err)
{
    RandomState *rs = tuner->state;
    bool oom = false;
    int n = 0;
    while (n < batch_size && !oom) {
        int64_t point = draw(tuner, rs, &oom);
        if (point < 0)
            break;
        if (tune_tuner_propose(tuner, point, &oom))
            indices[n++] = point;
    }
    *num = n;
    if (oom)
        return ts_fail(err, TS_ENOMEM, "tuner random: out of memory");
    return TS_OK;
}

const TuneTunerOps tune_random_ops = {
    .kind = "random",
    .init = random_init,
    .destroy = random_destroy,
    .next_batch = random_next_batch,
};
