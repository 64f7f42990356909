/* The grid tuner: proposes points in index order 0, 1, 2, ... (the first knob varying
 * fastest), skipping points an earlier run measured, until the space is exhausted. */
#include <stdlib.h>

#include "tune_internal.h"

typedef struct GridState {
    int64_t cursor; /* the next index to look at */
} GridState;

static TsStatus grid_init(TsTuner *tuner, TsError *err)
{
    GridState *gs = calloc(1, sizeof *gs);
    if (!gs)
        return ts_fail(err, TS_ENOMEM, "tuner grid: out of memory");
    tuner->state = gs;
    return TS_OK;
}

static void grid_destroy(TsTuner *tuner)
{
    free(tuner->state);
}

static TsStatus grid_next_batch(TsTuner *tuner, int batch_size, int64_t *indices, int *num,
                                TsError *err)
{
    GridState *gs = tuner->state;
    bool oom = false;
    int n = 0;
    while (n < batch_size && gs->cursor < tuner->size && !oom) {
        int64_t point = gs->cursor++;
        if (tune_tuner_propose(tuner, point, &oom))
            indices[n++] = point;
    }
    *num = n;
    if (oom)
        return ts_fail(err, TS_ENOMEM, "tuner grid: out of memory");
    return TS_OK;
}

const TuneTunerOps tune_grid_ops = {
    .kind = "grid",
    .init = grid_init,
    .destroy = grid_destroy,
    .next_batch = grid_next_batch,
};
