/* Features of a point's knob choices, for the cost model of the model-based tuner: the
 * features of a bare space (no task to lower), the cheap features simulated annealing
 * walks on, and the part of a candidate's features that transfers from the tuning logs
 * of other shapes.
 *
 * A feature encodes a choice's value, not its index, so a log of another shape of the
 * same template (another space: other extents, other factor lists) lines up:
 *   split     log2(1 + f) for each inner factor (the outer one follows from the extent)
 *   reorder   order[i] / (n - 1) for each position i
 *   annotate  the index of the word among the knob's words / (words - 1), -1 if unknown
 *   plain     sign(v) * log2(1 + |v|)
 * Each knob's features are computed once per choice (a table), so a point's features
 * are a few copies. Entities of logs are parsed with Jansson. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tune_internal.h"

typedef struct KnobColumns {
    const char *name;
    TsKnobKind kind;
    int offset;         /* of the knob's first feature */
    int width;          /* features of the knob */
    int64_t size;       /* choices */
    float *table;       /* size rows of width */
    const char **words; /* annotate: the word of each choice */
} KnobColumns;

struct TuneKnobTable {
    const TsConfigSpace *space;
    int num_knobs;
    int width;
    KnobColumns knobs[TS_CONFIG_MAX_KNOBS];
};

static float log_feature(double v)
{
    return (float)(v < 0 ? -log2(1 - v) : log2(1 + v));
}

static float position_feature(int64_t v, int64_t n)
{
    return n > 1 ? (float)v / (float)(n - 1) : 0.0f;
}

/* A config of space with only knob k's choice set: enough for the getters by name. */
static TsConfig config_with(const TsConfigSpace *space, int k, int64_t choice)
{
    TsConfig config;
    memset(&config, 0, sizeof config);
    config.space = space;
    config.choice[k] = choice;
    return config;
}

/* The knob's width, from its first choice. */
static int knob_width(const TsConfigSpace *space, int k, TsKnobKind kind)
{
    TsConfig config = config_with(space, k, 0);
    const char *name = ts_space_knob_name(space, k);
    int64_t factors[TS_KNOB_MAX_OUTPUTS];
    int order[TS_CONFIG_MAX_KNOBS * 4];
    int n = 0;
    switch (kind) {
    case TS_KNOB_SPLIT:
        if (ts_config_split(&config, name, factors, TS_KNOB_MAX_OUTPUTS, &n, NULL) != TS_OK)
            return -1;
        return n - 1;
    case TS_KNOB_REORDER:
        if (ts_config_reorder(&config, name, order, (int)(sizeof order / sizeof order[0]), &n,
                              NULL) != TS_OK)
            return -1;
        return n;
    case TS_KNOB_ANNOTATE:
    case TS_KNOB_OTHER: return 1;
    }
    return -1;
}

static TsStatus fill_row(const TuneKnobTable *t, KnobColumns *kc, int k, int64_t c, TsError *err)
{
    TsConfig config = config_with(t->space, k, c);
    float *row = kc->table + c * kc->width;
    int64_t factors[TS_KNOB_MAX_OUTPUTS], value;
    int order[TS_CONFIG_MAX_KNOBS * 4];
    TsStatus st = TS_OK;
    switch (kc->kind) {
    case TS_KNOB_SPLIT:
        st = ts_config_split(&config, kc->name, factors, TS_KNOB_MAX_OUTPUTS, NULL, err);
        for (int i = 0; st == TS_OK && i < kc->width; i++)
            row[i] = log_feature((double)factors[i + 1]);
        break;
    case TS_KNOB_REORDER:
        st = ts_config_reorder(&config, kc->name, order, (int)(sizeof order / sizeof order[0]),
                               NULL, err);
        for (int i = 0; st == TS_OK && i < kc->width; i++)
            row[i] = position_feature(order[i], kc->width);
        break;
    case TS_KNOB_ANNOTATE:
        st = ts_config_annotate(&config, kc->name, &kc->words[c], err);
        row[0] = position_feature(c, kc->size);
        break;
    case TS_KNOB_OTHER:
        st = ts_config_knob(&config, kc->name, &value, err);
        row[0] = log_feature((double)value);
        break;
    }
    return st;
}

static TsStatus fill_knob(TuneKnobTable *t, int k, TsError *err)
{
    KnobColumns *kc = &t->knobs[k];
    kc->name = ts_space_knob_name(t->space, k);
    kc->kind = ts_space_knob_kind(t->space, k);
    kc->size = ts_space_knob_size(t->space, k);
    kc->width = knob_width(t->space, k, kc->kind);
    if (kc->width < 0)
        return ts_fail(err, TS_EINVAL, "knob features: cannot read knob %s", kc->name);
    kc->offset = t->width;
    t->width += kc->width;
    kc->table = calloc((size_t)(kc->size * (kc->width ? kc->width : 1)), sizeof *kc->table);
    kc->words = kc->kind == TS_KNOB_ANNOTATE ? calloc((size_t)kc->size, sizeof *kc->words) : NULL;
    if (!kc->table || (kc->kind == TS_KNOB_ANNOTATE && !kc->words))
        return ts_fail(err, TS_ENOMEM, "knob features: out of memory for knob %s", kc->name);
    for (int64_t c = 0; c < kc->size; c++) {
        TsStatus st = fill_row(t, kc, k, c, err);
        if (st != TS_OK)
            return st;
    }
    return TS_OK;
}

TsStatus tune_knob_table_create(const TsConfigSpace *space, TuneKnobTable **out, TsError *err)
{
    TuneKnobTable *t = calloc(1, sizeof *t);
    if (!t)
        return ts_fail(err, TS_ENOMEM, "knob features: out of memory");
    t->space = space;
    t->num_knobs = ts_space_num_knobs(space);
    for (int k = 0; k < t->num_knobs; k++) {
        TsStatus st = fill_knob(t, k, err);
        if (st != TS_OK) {
            tune_knob_table_free(t);
            return st;
        }
    }
    *out = t;
    return TS_OK;
}

void tune_knob_table_free(TuneKnobTable *table)
{
    if (!table)
        return;
    for (int k = 0; k < table->num_knobs; k++) {
        free(table->knobs[k].table);
        free(table->knobs[k].words);
    }
    free(table);
}

int tune_knob_table_width(const TuneKnobTable *table)
{
    return table->width;
}

void tune_knob_features(const TuneKnobTable *table, const int64_t *choice, float *out)
{
    for (int k = 0; k < table->num_knobs; k++) {
        const KnobColumns *kc = &table->knobs[k];
        memcpy(out + kc->offset, kc->table + choice[k] * kc->width,
               (size_t)kc->width * sizeof *out);
    }
}

/* ---- entities of logs ---- */

static const char *const kind_words[] = { "sp", "re", "an", "ot" };

/* The value of one knob's entry ["name", "kind", value] into out. */
static bool entry_features(const KnobColumns *kc, json_t *value, float *out)
{
    switch (kc->kind) {
    case TS_KNOB_SPLIT:
    case TS_KNOB_REORDER: {
        int extra = kc->kind == TS_KNOB_SPLIT ? 1 : 0; /* the split's outer -1 */
        if (!json_is_array(value) || (int)json_array_size(value) != kc->width + extra)
            return false;
        for (int i = 0; i < kc->width; i++) {
            json_t *v = json_array_get(value, (size_t)(i + extra));
            if (!json_is_integer(v))
                return false;
            double x = (double)json_integer_value(v);
            out[kc->offset + i] = extra ? log_feature(x) : position_feature((int64_t)x, kc->width);
        }
        return true;
    }
    case TS_KNOB_ANNOTATE:
        if (!json_is_string(value))
            return false;
        out[kc->offset] = -1.0f;
        for (int64_t c = 0; c < kc->size; c++)
            if (strcmp(kc->words[c], json_string_value(value)) == 0)
                out[kc->offset] = position_feature(c, kc->size);
        return true;
    case TS_KNOB_OTHER:
        if (!json_is_integer(value))
            return false;
        out[kc->offset] = log_feature((double)json_integer_value(value));
        return true;
    }
    return false;
}

/* The entry of the entity for knob kc, or NULL. */
static json_t *find_entry(json_t *entity, const KnobColumns *kc)
{
    size_t i;
    json_t *entry;
    json_array_foreach(entity, i, entry)
    {
        const char *name = json_string_value(json_array_get(entry, 0));
        const char *kind = json_string_value(json_array_get(entry, 1));
        if (name && kind && strcmp(name, kc->name) == 0 && strcmp(kind, kind_words[kc->kind]) == 0)
            return entry;
    }
    return NULL;
}

bool tune_knob_features_from_entity(const TuneKnobTable *table, const char *entity, float *out)
{
    json_t *root = json_loads(entity, 0, NULL);
    bool ok = json_is_array(root);
    for (int k = 0; ok && k < table->num_knobs; k++) {
        const KnobColumns *kc = &table->knobs[k];
        json_t *entry = find_entry(root, kc);
        ok = entry && json_array_size(entry) == 3 &&
             entry_features(kc, json_array_get(entry, 2), out);
    }
    json_decref(root);
    return ok;
}
