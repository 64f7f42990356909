/* The model-based tuner (AutoTVM's XGBTuner with its simulated-annealing optimizer): an
 * XGBoost cost model (cost_model.c) ranks the points of the space; each batch is the
 * best the model predicts among points not measured yet.
 *
 * Data. Every measured point is a row: its features and its throughput (1 / cost; 0 for
 * a failed candidate), normalized by the best of its group. Group 0 is this task (or
 * bare space); each other shape of a transfer log is a group of its own, and the model
 * ranks pairwise within groups only, so absolute speeds of different shapes never meet.
 *
 * Two models. The knob model sees the knob features alone (knob_features.c): cheap
 * enough for simulated annealing to score tens of thousands of points per batch. With
 * a task, the full model also sees the features of each candidate's lowered loop nest
 * (features.c); lowering costs about a millisecond for a big kernel, so it is done only
 * for the TOP_K points annealing keeps (and for measured points), and the full model
 * re-ranks those. Features of lowered candidates are cached by index. Without a task
 * the knob model is the model.
 *
 * A batch. Until the data hold a batch's worth of successes (MIN_SUCCESSES at least),
 * points are random. Then: retrain both models if new results came in; anneal
 * NUM_CHAINS chains for up to SA_STEPS steps (temperature falling linearly from
 * SA_TEMPERATURE to 0; a step moves one knob; stop early after SA_PATIENCE steps without
 * a change to the top-k), starting from the best measured points and random ones; keep
 * the top TOP_K points by predicted score that are not measured yet; re-rank them with
 * the full model; then fill the batch in score order, skipping a point that differs
 * from one already in the batch in fewer than MIN_DISTANCE knobs while others remain,
 * and with probability EPSILON taking a random point instead (diversity: the model is
 * wrong in places, and only measuring there can tell).
 *
 * Transfer learning (ts_tuner_load_history). Records of this very space (same entity
 * at the same index; with a task, also the same template, arguments and target) become
 * rows of group 0 and are never proposed. Records of the same template with other
 * arguments become rows of a group per shape: their knob features from the entity
 * (knob_features.c matches knobs by name, and encodes values, not indices), and with a
 * task the loop-nest features of the config lowered for that shape (a task is created
 * per shape with this task's target). Records of other templates are ignored. So a
 * model exists before the first measurement, and the first batch is already chosen by
 * it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tune_internal.h"

enum {
    MIN_SUCCESSES = 8,
    NUM_CHAINS = 128,
    SA_STEPS = 300,
    SA_PATIENCE = 60,
    TOP_K_MIN = 64,
    MIN_DISTANCE = 2,
    ROUNDS = 60,
    MAX_GROUPS = 64,
    MAX_HISTORY_ROWS = 4096,
    GROUP_KEY = TS_RECORD_MAX_TARGET + TS_RECORD_MAX_TEXT + 512
};

static const double SA_TEMPERATURE = 1.0;
static const double EPSILON = 0.05;

typedef struct Rows {
    int n, cap;
    int *group;
    int64_t *index; /* group 0: the point; other groups: -1 */
    double *throughput;
    float *knob_x; /* n rows of knob_width */
    float *full_x; /* n rows of full_width (with a task) */
} Rows;

typedef struct History {
    char key[GROUP_KEY];
    TsTuneTask *task; /* the other shape's task (with a task only); NULL if it failed */
} History;

typedef struct XgbState {
    TuneKnobTable *knobs;
    int knob_width, full_width; /* full_width 0 without a task */
    TuneCostModel *knob_model, *full_model;
    Rows rows;
    int num_successes;
    bool dirty;               /* rows changed since the last fit */
    TuneIndexMap feature_row; /* index -> row of the feature cache */
    float *cache;             /* full_width floats per cached index */
    int64_t cache_rows, cache_cap;
    History groups[MAX_GROUPS]; /* groups[0] is this task */
    int num_groups;
    int64_t chain[NUM_CHAINS]; /* where the annealing chains ended */
    int num_chain;
} XgbState;

/* ---- rows ---- */

static bool rows_reserve(XgbState *xs, Rows *r)
{
    if (r->n < r->cap)
        return true;
    int cap = r->cap ? r->cap * 2 : 256;
    int *group = realloc(r->group, (size_t)cap * sizeof *group);
    if (group)
        r->group = group;
    int64_t *index = realloc(r->index, (size_t)cap * sizeof *index);
    if (index)
        r->index = index;
    double *tp = realloc(r->throughput, (size_t)cap * sizeof *tp);
    if (tp)
        r->throughput = tp;
    float *kx = realloc(r->knob_x, (size_t)cap * (size_t)xs->knob_width * sizeof *kx);
    if (kx)
        r->knob_x = kx;
    float *fx = xs->full_width
                    ? realloc(r->full_x, (size_t)cap * (size_t)xs->full_width * sizeof *fx)
                    : r->full_x;
    if (fx)
        r->full_x = fx;
    if (!group || !index || !tp || !kx || (xs->full_width && !fx))
        return false;
    r->cap = cap;
    return true;
}

static void rows_free(Rows *r)
{
    free(r->group);
    free(r->index);
    free(r->throughput);
    free(r->knob_x);
    free(r->full_x);
}

/* ---- features ---- */

static float *cached_features(XgbState *xs, int64_t index)
{
    int64_t row;
    return tune_map_get(&xs->feature_row, index, &row) ? xs->cache + row * xs->full_width : NULL;
}

/* The full features of a point of this task: knob features, then the loop nest's. */
static TsStatus full_features(TsTuner *tuner, XgbState *xs, int64_t index, float **out,
                              TsError *err)
{
    *out = cached_features(xs, index);
    if (*out)
        return TS_OK;
    if (xs->cache_rows == xs->cache_cap) {
        int64_t cap = xs->cache_cap ? xs->cache_cap * 2 : 256;
        float *grown = realloc(xs->cache, (size_t)(cap * xs->full_width) * sizeof *grown);
        if (!grown)
            return ts_fail(err, TS_ENOMEM, "tuner xgb: out of memory for features");
        xs->cache = grown;
        xs->cache_cap = cap;
    }
    float *f = xs->cache + xs->cache_rows * xs->full_width;
    TsConfig config;
    TsStatus st = ts_space_get(tuner->space, index, &config, err);
    if (st != TS_OK)
        return st;
    tune_knob_features(xs->knobs, config.choice, f);
    st = tune_candidate_features(tuner->task, index, f + xs->knob_width, err);
    if (st != TS_OK)
        return st;
    if (!tune_map_put(&xs->feature_row, index, xs->cache_rows))
        return ts_fail(err, TS_ENOMEM, "tuner xgb: out of memory for features");
    xs->cache_rows++;
    *out = f;
    return TS_OK;
}

/* Adds a row of group 0 for a point of this space. */
static TsStatus add_own_row(TsTuner *tuner, XgbState *xs, int64_t index, double throughput,
                            TsError *err)
{
    Rows *r = &xs->rows;
    if (!rows_reserve(xs, r))
        return ts_fail(err, TS_ENOMEM, "tuner xgb: out of memory");
    TsConfig config;
    TsStatus st = ts_space_get(tuner->space, index, &config, err);
    if (st != TS_OK)
        return st;
    if (xs->full_width) {
        float *f;
        st = full_features(tuner, xs, index, &f, err);
        if (st != TS_OK)
            return st;
        memcpy(r->full_x + (size_t)r->n * (size_t)xs->full_width, f,
               (size_t)xs->full_width * sizeof *f);
    }
    tune_knob_features(xs->knobs, config.choice, r->knob_x + (size_t)r->n * (size_t)xs->knob_width);
    r->group[r->n] = 0;
    r->index[r->n] = index;
    r->throughput[r->n] = throughput;
    r->n++;
    xs->num_successes += throughput > 0;
    xs->dirty = true;
    return TS_OK;
}

/* ---- training ---- */

typedef struct TrainSet {
    float *knob_x, *full_x, *y;
    unsigned group_size[MAX_GROUPS];
    int num_groups;
} TrainSet;

/* The rows ordered by group, labels normalized by the best of their group. */
static bool build_train_set(const XgbState *xs, TrainSet *t)
{
    const Rows *r = &xs->rows;
    t->knob_x = malloc((size_t)r->n * (size_t)xs->knob_width * sizeof(float));
    t->full_x =
        xs->full_width ? malloc((size_t)r->n * (size_t)xs->full_width * sizeof(float)) : NULL;
    t->y = malloc((size_t)r->n * sizeof(float));
    if (!t->knob_x || !t->y || (xs->full_width && !t->full_x))
        return false;
    int out = 0;
    t->num_groups = 0;
    for (int g = 0; g < xs->num_groups; g++) {
        double best = 0;
        for (int i = 0; i < r->n; i++)
            if (r->group[i] == g && r->throughput[i] > best)
                best = r->throughput[i];
        int first = out;
        for (int i = 0; i < r->n; i++) {
            if (r->group[i] != g)
                continue;
            t->y[out] = best > 0 ? (float)(r->throughput[i] / best) : 0.0f;
            memcpy(t->knob_x + (size_t)out * (size_t)xs->knob_width,
                   r->knob_x + (size_t)i * (size_t)xs->knob_width,
                   (size_t)xs->knob_width * sizeof(float));
            if (xs->full_width)
                memcpy(t->full_x + (size_t)out * (size_t)xs->full_width,
                       r->full_x + (size_t)i * (size_t)xs->full_width,
                       (size_t)xs->full_width * sizeof(float));
            out++;
        }
        if (out > first)
            t->group_size[t->num_groups++] = (unsigned)(out - first);
    }
    return true;
}

static void free_train_set(TrainSet *t)
{
    free(t->knob_x);
    free(t->full_x);
    free(t->y);
}

static TsStatus train(XgbState *xs, TsError *err)
{
    TrainSet t = { 0 };
    TsStatus st = TS_OK;
    if (!build_train_set(xs, &t)) {
        st = ts_fail(err, TS_ENOMEM, "tuner xgb: out of memory for the training set");
        goto out_free;
    }
    st = tune_model_fit(xs->knob_model, t.knob_x, t.y, xs->rows.n, t.group_size, t.num_groups,
                        ROUNDS, err);
    if (st == TS_OK && xs->full_model)
        st = tune_model_fit(xs->full_model, t.full_x, t.y, xs->rows.n, t.group_size, t.num_groups,
                            ROUNDS, err);
    if (st == TS_OK)
        xs->dirty = false;
out_free:
    free_train_set(&t);
    return st;
}

/* ---- simulated annealing over the knob model ---- */

typedef struct TopK {
    int64_t *index;
    float *score;
    int n, cap;
    TuneIndexMap members;
} TopK;

/* Offers a point: kept when unvisited, never in the list before and better than its
 * worst. True when the list changed. members maps the points ever kept to their slot
 * (-1 once pushed out). */
static bool topk_offer(TsTuner *tuner, TopK *top, int64_t index, float score)
{
    if (tune_tuner_visited(tuner, index) || tune_map_get(&top->members, index, NULL))
        return false;
    int slot = top->n;
    if (top->n == top->cap) {
        slot = 0;
        for (int i = 1; i < top->n; i++)
            if (top->score[i] < top->score[slot])
                slot = i;
        if (top->score[slot] >= score)
            return false;
        tune_map_put(&top->members, top->index[slot], -1); /* a tombstone */
    } else {
        top->n++;
    }
    top->index[slot] = index;
    top->score[slot] = score;
    tune_map_put(&top->members, index, slot);
    return true;
}

/* A neighbour: one knob to a neighbouring or to any choice. */
static void random_walk(TsTuner *tuner, const int64_t *from, int64_t *to)
{
    memcpy(to, from, sizeof *to * (size_t)tuner->num_knobs);
    for (int tries = 0; tries < 8; tries++) {
        int k = (int)tune_rng_below(&tuner->rng, tuner->num_knobs);
        int64_t size = ts_space_knob_size(tuner->space, k);
        if (size < 2)
            continue;
        if (tune_rng_uniform(&tuner->rng) < 0.5)
            to[k] = (from[k] + (tune_rng_below(&tuner->rng, 2) ? 1 : size - 1)) % size;
        else
            to[k] = (from[k] + 1 + tune_rng_below(&tuner->rng, size - 1)) % size;
        return;
    }
}

typedef struct Chains {
    int n;
    int64_t choice[NUM_CHAINS][TS_CONFIG_MAX_KNOBS];
    int64_t index[NUM_CHAINS];
    float score[NUM_CHAINS];
    int64_t next_choice[NUM_CHAINS][TS_CONFIG_MAX_KNOBS];
    int64_t next_index[NUM_CHAINS];
    float next_score[NUM_CHAINS];
    float *x; /* NUM_CHAINS rows of knob features */
} Chains;

static TsStatus score_points(XgbState *xs, Chains *c, int64_t (*choice)[TS_CONFIG_MAX_KNOBS],
                             float *score, TsError *err)
{
    for (int i = 0; i < c->n; i++)
        tune_knob_features(xs->knobs, choice[i], c->x + (size_t)i * (size_t)xs->knob_width);
    return tune_model_predict(xs->knob_model, c->x, c->n, score, err);
}

/* Chain starts: the best measured points of this task, the chains' last positions, and
 * random points. */
static int chain_starts(TsTuner *tuner, XgbState *xs, int64_t *start)
{
    int n = 0;
    const Rows *r = &xs->rows;
    int *order = malloc((size_t)r->n * sizeof *order + 1);
    int num_own = 0;
    for (int i = 0; order && i < r->n; i++)
        if (r->group[i] == 0 && r->throughput[i] > 0)
            order[num_own++] = i;
    for (int picked = 0; order && picked < num_own && n < NUM_CHAINS / 4; picked++) {
        int best = picked;
        for (int j = picked + 1; j < num_own; j++)
            if (r->throughput[order[j]] > r->throughput[order[best]])
                best = j;
        int tmp = order[picked];
        order[picked] = order[best];
        order[best] = tmp;
        start[n++] = r->index[order[picked]];
    }
    free(order);
    for (int i = 0; i < xs->num_chain && n < NUM_CHAINS * 3 / 4; i++)
        start[n++] = xs->chain[i];
    while (n < NUM_CHAINS && n < tuner->size)
        start[n++] = tune_rng_below(&tuner->rng, tuner->size);
    return n;
}

static TsStatus init_chains(TsTuner *tuner, XgbState *xs, Chains *c, TopK *top, TsError *err)
{
    int64_t start[NUM_CHAINS];
    c->n = chain_starts(tuner, xs, start);
    for (int i = 0; i < c->n; i++) {
        TsConfig config;
        TsStatus st = ts_space_get(tuner->space, start[i], &config, err);
        if (st != TS_OK)
            return st;
        memcpy(c->choice[i], config.choice, sizeof c->choice[i]);
        c->index[i] = start[i];
    }
    TsStatus st = score_points(xs, c, c->choice, c->score, err);
    for (int i = 0; st == TS_OK && i < c->n; i++)
        topk_offer(tuner, top, c->index[i], c->score[i]);
    return st;
}

/* One annealing step of every chain; true when the top-k changed. */
static TsStatus sa_step(TsTuner *tuner, XgbState *xs, Chains *c, TopK *top, double temperature,
                        bool *changed, TsError *err)
{
    for (int i = 0; i < c->n; i++)
        random_walk(tuner, c->choice[i], c->next_choice[i]);
    TsStatus st = score_points(xs, c, c->next_choice, c->next_score, err);
    if (st != TS_OK)
        return st;
    *changed = false;
    for (int i = 0; i < c->n; i++) {
        TsConfig config;
        if (ts_space_from_choices(tuner->space, c->next_choice[i], &config, NULL) != TS_OK)
            continue;
        *changed |= topk_offer(tuner, top, config.index, c->next_score[i]);
        double delta = (double)c->next_score[i] - (double)c->score[i];
        if (delta >= 0 || tune_rng_uniform(&tuner->rng) < exp(delta / (temperature + 1e-5))) {
            memcpy(c->choice[i], c->next_choice[i], sizeof c->choice[i]);
            c->index[i] = config.index;
            c->score[i] = c->next_score[i];
        }
    }
    return TS_OK;
}

static TsStatus anneal(TsTuner *tuner, XgbState *xs, TopK *top, TsError *err)
{
    Chains *c = malloc(sizeof *c);
    float *x = malloc((size_t)NUM_CHAINS * (size_t)xs->knob_width * sizeof *x);
    if (!c || !x) {
        free(c);
        free(x);
        return ts_fail(err, TS_ENOMEM, "tuner xgb: out of memory for annealing");
    }
    c->x = x;
    TsStatus st = init_chains(tuner, xs, c, top, err);
    int quiet = 0;
    for (int step = 0; st == TS_OK && step < SA_STEPS && quiet < SA_PATIENCE; step++) {
        double temperature = SA_TEMPERATURE * (1.0 - (double)step / SA_STEPS);
        bool changed = false;
        st = sa_step(tuner, xs, c, top, temperature, &changed, err);
        quiet = changed ? 0 : quiet + 1;
    }
    xs->num_chain = c->n;
    memcpy(xs->chain, c->index, sizeof c->index[0] * (size_t)c->n);
    free(c->x);
    free(c);
    return st;
}

/* ---- choosing a batch ---- */

static void sort_by_score(TopK *top)
{
    for (int i = 1; i < top->n; i++) {
        int64_t index = top->index[i];
        float score = top->score[i];
        int j = i;
        for (; j > 0 && top->score[j - 1] < score; j--) {
            top->index[j] = top->index[j - 1];
            top->score[j] = top->score[j - 1];
        }
        top->index[j] = index;
        top->score[j] = score;
    }
}

/* Re-scores the annealing's picks with the full model (features of lowered loop nests). */
static TsStatus rerank(TsTuner *tuner, XgbState *xs, TopK *top, TsError *err)
{
    float *x = malloc((size_t)top->n * (size_t)xs->full_width * sizeof *x + 1);
    if (!x)
        return ts_fail(err, TS_ENOMEM, "tuner xgb: out of memory for re-ranking");
    TsStatus st = TS_OK;
    for (int i = 0; st == TS_OK && i < top->n; i++) {
        float *f;
        st = full_features(tuner, xs, top->index[i], &f, err);
        if (st == TS_OK)
            memcpy(x + (size_t)i * (size_t)xs->full_width, f, (size_t)xs->full_width * sizeof *f);
    }
    if (st == TS_OK)
        st = tune_model_predict(xs->full_model, x, top->n, top->score, err);
    free(x);
    return st;
}

static int knob_distance(const TsTuner *tuner, int64_t a, int64_t b)
{
    TsConfig ca, cb;
    if (ts_space_get(tuner->space, a, &ca, NULL) != TS_OK ||
        ts_space_get(tuner->space, b, &cb, NULL) != TS_OK)
        return 0;
    int d = 0;
    for (int k = 0; k < tuner->num_knobs; k++)
        d += ca.choice[k] != cb.choice[k];
    return d;
}

static bool far_from_batch(const TsTuner *tuner, int64_t index, const int64_t *batch, int n)
{
    for (int i = 0; i < n; i++)
        if (knob_distance(tuner, index, batch[i]) < MIN_DISTANCE)
            return false;
    return true;
}

/* The best remaining pick: the first far enough from the batch, else the first. */
static int64_t next_pick(TsTuner *tuner, TopK *top, bool *used, const int64_t *batch, int n)
{
    int first = -1;
    for (int i = 0; i < top->n; i++) {
        if (used[i] || tune_tuner_visited(tuner, top->index[i]))
            continue;
        if (first < 0)
            first = i;
        if (far_from_batch(tuner, top->index[i], batch, n)) {
            used[i] = true;
            return top->index[i];
        }
    }
    if (first >= 0)
        used[first] = true;
    return first >= 0 ? top->index[first] : -1;
}

static TsStatus fill_batch(TsTuner *tuner, TopK *top, int batch_size, int64_t *indices, int *num,
                           TsError *err)
{
    bool *used = calloc((size_t)top->n + 1, sizeof *used);
    if (!used)
        return ts_fail(err, TS_ENOMEM, "tuner xgb: out of memory");
    bool oom = false;
    int n = 0;
    while (n < batch_size && !oom) {
        int64_t point = -1;
        if (tune_rng_uniform(&tuner->rng) >= EPSILON)
            point = next_pick(tuner, top, used, indices, n);
        if (point < 0 && !tune_tuner_random_unvisited(tuner, &point))
            break;
        if (tune_tuner_propose(tuner, point, &oom))
            indices[n++] = point;
    }
    free(used);
    *num = n;
    return oom ? ts_fail(err, TS_ENOMEM, "tuner xgb: out of memory") : TS_OK;
}

static TsStatus random_batch(TsTuner *tuner, int batch_size, int64_t *indices, int *num,
                             TsError *err)
{
    bool oom = false;
    int n = 0;
    int64_t point;
    while (n < batch_size && !oom && tune_tuner_random_unvisited(tuner, &point))
        if (tune_tuner_propose(tuner, point, &oom))
            indices[n++] = point;
    *num = n;
    return oom ? ts_fail(err, TS_ENOMEM, "tuner xgb: out of memory") : TS_OK;
}

static TsStatus model_batch(TsTuner *tuner, XgbState *xs, int batch_size, int64_t *indices,
                            int *num, TsError *err)
{
    TopK top = { 0 };
    top.cap = batch_size * 2 > TOP_K_MIN ? batch_size * 2 : TOP_K_MIN;
    top.index = malloc((size_t)top.cap * sizeof *top.index);
    top.score = malloc((size_t)top.cap * sizeof *top.score);
    TsStatus st = TS_OK;
    if (!top.index || !top.score || !tune_map_init(&top.members, (size_t)top.cap * 4)) {
        st = ts_fail(err, TS_ENOMEM, "tuner xgb: out of memory");
        goto out_free;
    }
    st = anneal(tuner, xs, &top, err);
    if (st == TS_OK && xs->full_model)
        st = rerank(tuner, xs, &top, err);
    if (st != TS_OK)
        goto out_free;
    sort_by_score(&top);
    st = fill_batch(tuner, &top, batch_size, indices, num, err);
out_free:
    tune_map_free(&top.members);
    free(top.index);
    free(top.score);
    return st;
}

static TsStatus xgb_next_batch(TsTuner *tuner, int batch_size, int64_t *indices, int *num,
                               TsError *err)
{
    XgbState *xs = tuner->state;
    int needed = batch_size > MIN_SUCCESSES ? batch_size : MIN_SUCCESSES;
    if (xs->num_successes < needed)
        return random_batch(tuner, batch_size, indices, num, err);
    if (xs->dirty) {
        TsStatus st = train(xs, err);
        if (st != TS_OK)
            return st;
    }
    return model_batch(tuner, xs, batch_size, indices, num, err);
}

static TsStatus xgb_update(TsTuner *tuner, int n, const int64_t *indices,
                           const TsMeasureResult *results, TsError *err)
{
    XgbState *xs = tuner->state;
    for (int i = 0; i < n; i++) {
        TsStatus st = add_own_row(tuner, xs, indices[i], tune_result_throughput(&results[i]), err);
        if (st != TS_OK)
            return st;
    }
    return TS_OK;
}

/* ---- transfer learning ---- */

static void group_key(const TsTuneRecord *record, char *key, size_t size)
{
    char args[GROUP_KEY / 2];
    ts_template_args_str(&record->args, args, sizeof args);
    snprintf(key, size, "%s|%s|%s", record->template_name, args, record->dtype);
}

/* The group of another shape's records, created on first use; -1 when full or when its
 * task cannot be made. */
static int history_group(TsTuner *tuner, XgbState *xs, const TsTuneRecord *record)
{
    char key[GROUP_KEY];
    group_key(record, key, sizeof key);
    for (int g = 1; g < xs->num_groups; g++)
        if (strcmp(xs->groups[g].key, key) == 0)
            return xs->groups[g].task || !tuner->task ? g : -1;
    if (xs->num_groups == MAX_GROUPS)
        return -1;
    History *h = &xs->groups[xs->num_groups];
    memset(h, 0, sizeof *h);
    snprintf(h->key, sizeof h->key, "%s", key);
    if (tuner->task)
        ts_tune_task_create(record->template_name, &record->args, ts_tune_task_target(tuner->task),
                            &h->task, NULL);
    xs->num_groups++;
    return h->task || !tuner->task ? xs->num_groups - 1 : -1;
}

/* Whether a record is of the template this tuner tunes: with a task, the same template;
 * for a bare space, any (knobs are matched by name). */
static bool same_template(const TsTuner *tuner, const TsTuneRecord *record)
{
    return !tuner->task ||
           strcmp(record->template_name, ts_tune_task_template(tuner->task)->name) == 0;
}

/* The loop-nest features of a record of another shape, lowered with that shape's task. */
static bool history_loop_features(const History *h, const TsTuneRecord *record, float *out)
{
    const TsConfigSpace *space = ts_tune_task_space(h->task);
    if (!space || record->index < 0 || record->index >= ts_space_size(space))
        return false;
    return tune_candidate_features(h->task, record->index, out, NULL) == TS_OK;
}

static TsStatus add_history_row(TsTuner *tuner, XgbState *xs, const TsTuneRecord *record,
                                TsError *err)
{
    int g = history_group(tuner, xs, record);
    if (g < 0)
        return TS_OK;
    Rows *r = &xs->rows;
    if (!rows_reserve(xs, r))
        return ts_fail(err, TS_ENOMEM, "tuner xgb: out of memory");
    float *kx = r->knob_x + (size_t)r->n * (size_t)xs->knob_width;
    if (!tune_knob_features_from_entity(xs->knobs, record->entity, kx))
        return TS_OK;
    if (xs->full_width) {
        float *fx = r->full_x + (size_t)r->n * (size_t)xs->full_width;
        memcpy(fx, kx, (size_t)xs->knob_width * sizeof *fx);
        if (!history_loop_features(&xs->groups[g], record, fx + xs->knob_width))
            return TS_OK;
    }
    r->group[r->n] = g;
    r->index[r->n] = -1;
    r->throughput[r->n] = tune_result_throughput(&record->result);
    xs->num_successes += r->throughput[r->n] > 0;
    r->n++;
    xs->dirty = true;
    return TS_OK;
}

static TsStatus xgb_load_history(TsTuner *tuner, int n, const TsTuneRecord *records, TsError *err)
{
    XgbState *xs = tuner->state;
    int used = 0;
    for (int i = 0; i < n && used < MAX_HISTORY_ROWS; i++) {
        const TsTuneRecord *record = &records[i];
        if (!same_template(tuner, record))
            continue;
        TsStatus st;
        if (tune_tuner_owns_record(tuner, record))
            st =
                add_own_row(tuner, xs, record->index, tune_result_throughput(&record->result), err);
        else
            st = add_history_row(tuner, xs, record, err);
        if (st != TS_OK)
            return st;
        used++;
    }
    return TS_OK;
}

/* ---- life cycle ---- */

static TsStatus xgb_init(TsTuner *tuner, TsError *err)
{
    XgbState *xs = calloc(1, sizeof *xs);
    if (!xs || !tune_map_init(&xs->feature_row, 0)) {
        free(xs);
        return ts_fail(err, TS_ENOMEM, "tuner xgb: out of memory");
    }
    tuner->state = xs;
    xs->num_groups = 1;
    snprintf(xs->groups[0].key, sizeof xs->groups[0].key, "(this task)");
    TsStatus st = tune_knob_table_create(tuner->space, &xs->knobs, err);
    if (st != TS_OK)
        return st;
    xs->knob_width = tune_knob_table_width(xs->knobs);
    if (xs->knob_width < 1)
        return ts_fail(err, TS_EINVAL, "tuner xgb: the space has no knob to learn from");
    uint64_t seed = tune_rng_next(&tuner->rng);
    st = tune_model_create(xs->knob_width, seed, &xs->knob_model, err);
    if (st == TS_OK && tuner->task) {
        xs->full_width = xs->knob_width + TUNE_LOOP_FEATURES;
        st = tune_model_create(xs->full_width, seed, &xs->full_model, err);
    }
    return st;
}

static void xgb_destroy(TsTuner *tuner)
{
    XgbState *xs = tuner->state;
    if (!xs)
        return;
    tune_knob_table_free(xs->knobs);
    tune_model_free(xs->knob_model);
    tune_model_free(xs->full_model);
    rows_free(&xs->rows);
    tune_map_free(&xs->feature_row);
    free(xs->cache);
    for (int g = 1; g < xs->num_groups; g++)
        ts_tune_task_free(xs->groups[g].task);
    free(xs);
}

const TuneTunerOps tune_xgb_ops = {
    .kind = "xgb",
    .init = xgb_init,
    .destroy = xgb_destroy,
    .next_batch = xgb_next_batch,
    .update = xgb_update,
    .load_history = xgb_load_history,
};
