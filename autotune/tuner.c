/* The tuner framework: what every kind of tuner shares. A TsTuner proposes points of a
 * config space (by flat index) in batches, never the same point twice, and learns from
 * their measured results; the kinds (tuner_random.c, tuner_grid.c, tuner_ga.c,
 * tuner_xgb.c) fill in a table of operations. Here: the public entry points with their
 * argument checks, the visited set (a hash set, as a space may hold 10^9 points), the
 * best result so far, and seeded random numbers, so that a tuner is deterministic for a
 * seed.
 *
 *   tuner proposes (next_batch) -> measurer -> update -> ... (tune.c drives the loop) */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tune_internal.h"

/* ---- the index map: open addressing with linear probing ---- */

static size_t hash_index(int64_t key)
{
    uint64_t x = (uint64_t)key;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return (size_t)x;
}

static bool map_alloc(TuneIndexMap *map, size_t capacity)
{
    map->keys = malloc(capacity * sizeof *map->keys);
    map->values = malloc(capacity * sizeof *map->values);
    if (!map->keys || !map->values) {
        free(map->keys);
        free(map->values);
        map->keys = map->values = NULL;
        return false;
    }
    for (size_t i = 0; i < capacity; i++)
        map->keys[i] = TUNE_MAP_EMPTY;
    map->capacity = capacity;
    map->count = 0;
    return true;
}

bool tune_map_init(TuneIndexMap *map, size_t expected)
{
    size_t capacity = 64;
    while (capacity < expected * 2)
        capacity *= 2;
    return map_alloc(map, capacity);
}

void tune_map_free(TuneIndexMap *map)
{
    free(map->keys);
    free(map->values);
    memset(map, 0, sizeof *map);
}

static size_t find_slot(const TuneIndexMap *map, int64_t key)
{
    size_t mask = map->capacity - 1;
    size_t i = hash_index(key) & mask;
    while (map->keys[i] != TUNE_MAP_EMPTY && map->keys[i] != key)
        i = (i + 1) & mask;
    return i;
}

bool tune_map_get(const TuneIndexMap *map, int64_t key, int64_t *value)
{
    if (!map->keys)
        return false;
    size_t i = find_slot(map, key);
    if (map->keys[i] != key)
        return false;
    if (value)
        *value = map->values[i];
    return true;
}

/* Doubles the table when it is half full. */
static bool map_grow(TuneIndexMap *map)
{
    TuneIndexMap bigger;
    if (!map_alloc(&bigger, map->capacity * 2))
        return false;
    for (size_t i = 0; i < map->capacity; i++) {
        if (map->keys[i] == TUNE_MAP_EMPTY)
            continue;
        size_t j = find_slot(&bigger, map->keys[i]);
        bigger.keys[j] = map->keys[i];
        bigger.values[j] = map->values[i];
        bigger.count++;
    }
    tune_map_free(map);
    *map = bigger;
    return true;
}

bool tune_map_put(TuneIndexMap *map, int64_t key, int64_t value)
{
    if (!map->keys && !tune_map_init(map, 0))
        return false;
    if ((map->count + 1) * 2 > map->capacity && !map_grow(map))
        return false;
    size_t i = find_slot(map, key);
    if (map->keys[i] != key) {
        map->keys[i] = key;
        map->count++;
    }
    map->values[i] = value;
    return true;
}

/* ---- random numbers: splitmix64, small and good enough for sampling ---- */

void tune_rng_seed(TuneRng *rng, uint64_t seed)
{
    rng->state = seed ^ 0x5851f42d4c957f2dULL;
}

uint64_t tune_rng_next(TuneRng *rng)
{
    uint64_t z = (rng->state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Rejection sampling keeps the draw uniform for any n. */
int64_t tune_rng_below(TuneRng *rng, int64_t n)
{
    uint64_t range = (uint64_t)n;
    uint64_t limit = UINT64_MAX - UINT64_MAX % range;
    uint64_t x;
    do {
        x = tune_rng_next(rng);
    } while (x >= limit);
    return (int64_t)(x % range);
}

double tune_rng_uniform(TuneRng *rng)
{
    return (double)(tune_rng_next(rng) >> 11) * 0x1.0p-53;
}

/* ---- helpers for the kinds ---- */

bool tune_tuner_visited(const TsTuner *tuner, int64_t index)
{
    return tune_map_get(&tuner->visited, index, NULL);
}

bool tune_tuner_propose(TsTuner *tuner, int64_t index, bool *oom)
{
    if (tune_tuner_visited(tuner, index))
        return false;
    if (!tune_map_put(&tuner->visited, index, 0)) {
        if (oom)
            *oom = true;
        return false;
    }
    return true;
}

/* Past this share of visited points, rejection sampling gives way to a scan. */
enum { REJECTION_TRIES = 64 };

/* The k-th (from 0) unvisited point in index order, found by a scan: only reached when
 * most of a (then necessarily small) space has been visited. */
static int64_t kth_unvisited(const TsTuner *tuner, int64_t k)
{
    for (int64_t i = 0; i < tuner->size; i++) {
        if (tune_tuner_visited(tuner, i))
            continue;
        if (k-- == 0)
            return i;
    }
    return -1;
}

bool tune_tuner_random_unvisited(TsTuner *tuner, int64_t *index)
{
    int64_t left = tuner->size - (int64_t)tuner->visited.count;
    if (left <= 0)
        return false;
    for (int i = 0; i < REJECTION_TRIES; i++) {
        int64_t candidate = tune_rng_below(&tuner->rng, tuner->size);
        if (!tune_tuner_visited(tuner, candidate)) {
            *index = candidate;
            return true;
        }
    }
    *index = kth_unvisited(tuner, tune_rng_below(&tuner->rng, left));
    return *index >= 0;
}

double tune_result_throughput(const TsMeasureResult *result)
{
    double cost = ts_measure_mean_cost(result);
    if (result->error_no != TS_MEASURE_OK || !(cost > 0) || !isfinite(cost))
        return 0.0;
    return 1.0 / cost;
}

/* ---- the public entry points ---- */

static const TuneTunerOps *const kinds[] = {
    &tune_random_ops,
    &tune_grid_ops,
    &tune_ga_ops,
    &tune_xgb_ops,
};

enum { NUM_KINDS = sizeof kinds / sizeof kinds[0] };

/* The largest batch a tuner proposes at once: more than any measurer runs in parallel. */
enum { MAX_BATCH = 4096 };

static const TuneTunerOps *find_kind(const char *kind)
{
    for (int i = 0; i < NUM_KINDS; i++)
        if (strcmp(kinds[i]->kind, kind) == 0)
            return kinds[i];
    return NULL;
}

static TsStatus unknown_kind(const char *kind, TsError *err)
{
    char names[128] = "";
    for (int i = 0; i < NUM_KINDS; i++) {
        strncat(names, i ? ", " : "", sizeof names - strlen(names) - 1);
        strncat(names, kinds[i]->kind, sizeof names - strlen(names) - 1);
    }
    return ts_fail(err, TS_EINVAL, "tuner: unknown kind \"%s\" (the kinds are %s)", kind, names);
}

TsStatus ts_tuner_create(const char *kind, const TsTuneTask *task, const TsConfigSpace *space,
                         uint64_t seed, TsTuner **out, TsError *err)
{
    if (!out)
        return ts_fail(err, TS_EINVAL, "tuner: NULL output");
    *out = NULL;
    if (!kind)
        return unknown_kind("(null)", err);
    const TuneTunerOps *ops = find_kind(kind);
    if (!ops)
        return unknown_kind(kind, err);
    if (!space && task)
        space = ts_tune_task_space(task);
    if (!space || ts_space_size(space) < 1)
        return ts_fail(err, TS_EINVAL, "tuner %s: no config space (or an empty one)", kind);
    TsTuner *tuner = calloc(1, sizeof *tuner);
    if (!tuner || !tune_map_init(&tuner->visited, 0)) {
        free(tuner);
        return ts_fail(err, TS_ENOMEM, "tuner %s: out of memory", kind);
    }
    tuner->ops = ops;
    tuner->task = task;
    tuner->space = space;
    tuner->size = ts_space_size(space);
    tuner->num_knobs = ts_space_num_knobs(space);
    tuner->best_index = -1;
    tuner->best_cost = INFINITY;
    tune_rng_seed(&tuner->rng, seed);
    TsStatus st = ops->init ? ops->init(tuner, err) : TS_OK;
    if (st != TS_OK) {
        ts_tuner_free(tuner);
        return st;
    }
    *out = tuner;
    return TS_OK;
}

void ts_tuner_free(TsTuner *tuner)
{
    if (!tuner)
        return;
    if (tuner->ops->destroy)
        tuner->ops->destroy(tuner);
    tune_map_free(&tuner->visited);
    free(tuner);
}

const char *ts_tuner_kind(const TsTuner *tuner)
{
    return tuner ? tuner->ops->kind : "(null)";
}

bool ts_tuner_has_next(const TsTuner *tuner)
{
    return tuner && (int64_t)tuner->visited.count < tuner->size;
}

TsStatus ts_tuner_next_batch(TsTuner *tuner, int batch_size, int64_t *indices, int *num,
                             TsError *err)
{
    if (!tuner || !indices || !num)
        return ts_fail(err, TS_EINVAL, "tuner: NULL tuner, indices or count");
    *num = 0;
    if (batch_size < 1 || batch_size > MAX_BATCH)
        return ts_fail(err, TS_EINVAL, "tuner %s: batch size %d is outside [1, %d]",
                       tuner->ops->kind, batch_size, MAX_BATCH);
    if (!ts_tuner_has_next(tuner))
        return TS_OK;
    return tuner->ops->next_batch(tuner, batch_size, indices, num, err);
}

static void track_best(TsTuner *tuner, int64_t index, const TsMeasureResult *result)
{
    if (tune_result_throughput(result) <= 0)
        return;
    double cost = ts_measure_mean_cost(result);
    if (cost < tuner->best_cost) {
        tuner->best_cost = cost;
        tuner->best_index = index;
    }
}

TsStatus ts_tuner_update(TsTuner *tuner, int n, const int64_t *indices,
                         const TsMeasureResult *results, TsError *err)
{
    if (!tuner || n < 0 || (n > 0 && (!indices || !results)))
        return ts_fail(err, TS_EINVAL, "tuner: NULL tuner, indices or results, or n < 0");
    for (int i = 0; i < n; i++) {
        if (indices[i] < 0 || indices[i] >= tuner->size)
            return ts_fail(err, TS_EINVAL,
                           "tuner %s: updated index %lld is outside the space [0, %lld)",
                           tuner->ops->kind, (long long)indices[i], (long long)tuner->size);
    }
    for (int i = 0; i < n; i++)
        track_best(tuner, indices[i], &results[i]);
    return tuner->ops->update ? tuner->ops->update(tuner, n, indices, results, err) : TS_OK;
}

/* A record of this very space: same entity at its index. With a task, also the same
 * template, arguments and target. */
bool tune_tuner_owns_record(const TsTuner *tuner, const TsTuneRecord *record)
{
    if (record->index < 0 || record->index >= tuner->size)
        return false;
    if (tuner->task && !ts_tune_record_matches(record, tuner->task))
        return false;
    TsConfig config;
    char entity[TS_RECORD_MAX_ENTITY];
    if (ts_space_get(tuner->space, record->index, &config, NULL) != TS_OK ||
        ts_config_entity(&config, entity, sizeof entity, NULL) != TS_OK)
        return false;
    return strcmp(entity, record->entity) == 0;
}

TsStatus ts_tuner_load_history(TsTuner *tuner, int n, const TsTuneRecord *records, TsError *err)
{
    if (!tuner || n < 0 || (n > 0 && !records))
        return ts_fail(err, TS_EINVAL, "tuner: NULL tuner or records, or n < 0");
    for (int i = 0; i < n; i++) {
        if (!tune_tuner_owns_record(tuner, &records[i]))
            continue;
        bool oom = false;
        tune_tuner_propose(tuner, records[i].index, &oom);
        if (oom)
            return ts_fail(err, TS_ENOMEM, "tuner %s: out of memory loading history",
                           tuner->ops->kind);
        track_best(tuner, records[i].index, &records[i].result);
    }
    return tuner->ops->load_history ? tuner->ops->load_history(tuner, n, records, err) : TS_OK;
}
