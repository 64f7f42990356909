/* The genetic tuner, after AutoTVM's GATuner: a gene is a point's knob choices, its
 * fitness the measured throughput (0 for a failed candidate). The first batches are
 * random; then each batch is bred from the population, the fittest POPULATION measured
 * points: parents are drawn with probability proportional to their fitness (relative
 * to the best, squared, so the selection pressure does not fade when all candidates are
 * close), children take each knob from either parent (uniform crossover) and then
 * mutate each knob with probability MUTATION_PROB. A share of the children are mutants
 * of an elite (one of the ELITE best) alone, which keeps a search near the best point.
 * Unlike AutoTVM's generations, breeding happens per batch from whatever has been
 * measured (a steady-state GA), so any batch size works and no measurement is wasted
 * on re-measuring elites. A child that was visited before is bred again, and after
 * BREED_TRIES failures replaced by a random point. */
#include <stdlib.h>
#include <string.h>

#include "tune_internal.h"

enum {
    POPULATION = 64,
    ELITE = 3,
    BREED_TRIES = 50,
    /* Random points until this many candidates succeeded. */
    MIN_PARENTS = 8
};

static const double MUTATION_PROB = 0.1;
static const double ELITE_SHARE = 0.3;

typedef struct Gene {
    int64_t choice[TS_CONFIG_MAX_KNOBS];
    double fitness;
} Gene;

typedef struct GaState {
    Gene *measured; /* every successful result so far, fittest first after sorting */
    int num_measured, cap_measured;
    double *weight; /* selection weights of the population */
} GaState;

static TsStatus ga_init(TsTuner *tuner, TsError *err)
{
    GaState *gs = calloc(1, sizeof *gs);
    if (!gs)
        return ts_fail(err, TS_ENOMEM, "tuner ga: out of memory");
    gs->weight = calloc(POPULATION, sizeof *gs->weight);
    if (!gs->weight) {
        free(gs);
        return ts_fail(err, TS_ENOMEM, "tuner ga: out of memory");
    }
    tuner->state = gs;
    return TS_OK;
}

static void ga_destroy(TsTuner *tuner)
{
    GaState *gs = tuner->state;
    if (!gs)
        return;
    free(gs->measured);
    free(gs->weight);
    free(gs);
}

static int by_fitness(const void *pa, const void *pb)
{
    const Gene *a = pa, *b = pb;
    return (a->fitness < b->fitness) - (a->fitness > b->fitness);
}

/* Parent selection: roulette over the population by weight. */
static const Gene *select_parent(TsTuner *tuner, GaState *gs, int population, double total)
{
    double r = tune_rng_uniform(&tuner->rng) * total;
    for (int i = 0; i < population; i++) {
        r -= gs->weight[i];
        if (r < 0)
            return &gs->measured[i];
    }
    return &gs->measured[population - 1];
}

/* One knob moves to a neighbouring choice (choices of split knobs are ordered, so a
 * neighbour is often a similar schedule) or to any choice. */
static void mutate_knob(TsTuner *tuner, int64_t *choice, int knob)
{
    int64_t size = ts_space_knob_size(tuner->space, knob);
    if (size < 2)
        return;
    if (tune_rng_uniform(&tuner->rng) < 0.5) {
        int64_t step = tune_rng_below(&tuner->rng, 2) ? 1 : -1;
        choice[knob] = (choice[knob] + step + size) % size;
    } else {
        choice[knob] = tune_rng_below(&tuner->rng, size);
    }
}

static void breed(TsTuner *tuner, GaState *gs, int population, double total, int64_t *child)
{
    const Gene *a, *b;
    if (tune_rng_uniform(&tuner->rng) < ELITE_SHARE) {
        a = b = &gs->measured[tune_rng_below(&tuner->rng, population < ELITE ? population : ELITE)];
    } else {
        a = select_parent(tuner, gs, population, total);
        b = select_parent(tuner, gs, population, total);
    }
    bool mutated = false;
    for (int k = 0; k < tuner->num_knobs; k++) {
        child[k] = tune_rng_below(&tuner->rng, 2) ? a->choice[k] : b->choice[k];
        if (tune_rng_uniform(&tuner->rng) < MUTATION_PROB) {
            mutate_knob(tuner, child, k);
            mutated = true;
        }
    }
    if (!mutated && a == b)
        mutate_knob(tuner, child, (int)tune_rng_below(&tuner->rng, tuner->num_knobs));
}

/* A bred point not visited yet, or -1 after BREED_TRIES tries. */
static int64_t bred_point(TsTuner *tuner, GaState *gs, int population, double total)
{
    for (int t = 0; t < BREED_TRIES; t++) {
        int64_t child[TS_CONFIG_MAX_KNOBS];
        TsConfig config;
        breed(tuner, gs, population, total, child);
        if (ts_space_from_choices(tuner->space, child, &config, NULL) != TS_OK)
            continue;
        if (!tune_tuner_visited(tuner, config.index))
            return config.index;
    }
    return -1;
}

/* Sorts the measured genes and sets the population's selection weights; returns the
 * population size and the total weight. */
static int prepare_population(GaState *gs, double *total)
{
    qsort(gs->measured, (size_t)gs->num_measured, sizeof *gs->measured, by_fitness);
    int population = gs->num_measured < POPULATION ? gs->num_measured : POPULATION;
    double best = gs->measured[0].fitness;
    *total = 0;
    for (int i = 0; i < population; i++) {
        double rel = gs->measured[i].fitness / best;
        gs->weight[i] = rel * rel;
        *total += gs->weight[i];
    }
    return population;
}

static TsStatus ga_next_batch(TsTuner *tuner, int batch_size, int64_t *indices, int *num,
                              TsError *err)
{
    GaState *gs = tuner->state;
    bool breeding = gs->num_measured >= MIN_PARENTS;
    double total = 0;
    int population = breeding ? prepare_population(gs, &total) : 0;
    bool oom = false;
    int n = 0;
    while (n < batch_size && !oom) {
        int64_t point = breeding ? bred_point(tuner, gs, population, total) : -1;
        if (point < 0 && !tune_tuner_random_unvisited(tuner, &point))
            break;
        if (tune_tuner_propose(tuner, point, &oom))
            indices[n++] = point;
    }
    *num = n;
    if (oom)
        return ts_fail(err, TS_ENOMEM, "tuner ga: out of memory");
    return TS_OK;
}

static bool add_gene(TsTuner *tuner, GaState *gs, int64_t index, double fitness)
{
    if (gs->num_measured == gs->cap_measured) {
        int cap = gs->cap_measured ? gs->cap_measured * 2 : 64;
        Gene *grown = realloc(gs->measured, (size_t)cap * sizeof *grown);
        if (!grown)
            return false;
        gs->measured = grown;
        gs->cap_measured = cap;
    }
    TsConfig config;
    if (ts_space_get(tuner->space, index, &config, NULL) != TS_OK)
        return true; /* checked by ts_tuner_update; nothing to learn */
    Gene *g = &gs->measured[gs->num_measured++];
    memcpy(g->choice, config.choice, sizeof g->choice);
    g->fitness = fitness;
    return true;
}

static TsStatus ga_update(TsTuner *tuner, int n, const int64_t *indices,
                          const TsMeasureResult *results, TsError *err)
{
    GaState *gs = tuner->state;
    for (int i = 0; i < n; i++) {
        double fitness = tune_result_throughput(&results[i]);
        if (fitness <= 0)
            continue; /* a failed candidate never becomes a parent */
        if (!add_gene(tuner, gs, indices[i], fitness))
            return ts_fail(err, TS_ENOMEM, "tuner ga: out of memory");
    }
    return TS_OK;
}

const TuneTunerOps tune_ga_ops = {
    .kind = "ga",
    .init = ga_init,
    .destroy = ga_destroy,
    .next_batch = ga_next_batch,
    .update = ga_update,
};
