/* Config spaces: the knobs a tunable template exposes and the points among them.
 *
 * A space is a list of knobs, each a finite list of choices, expanded eagerly when the
 * knob is defined (split knobs enumerate their factor lists then), so that a point is
 * nothing but one choice index per knob, and its flat index the mixed-radix number of
 * those choices with the first knob varying fastest. The tuners (autotune/) walk spaces
 * by index; templates (this folder) read a point's choices back by knob name. The
 * entity text is the knobs' choices as JSON, as AutoTVM prints them, and goes into the
 * tuning logs.
 *
 * Order of a split knob's choices (tests rely on it): for TS_SPLIT_FACTORS and
 * TS_SPLIT_POWER2, factors[1] ascending, then factors[2] ascending, ... with factors[0]
 * what remains: extent / product for exact factorizations, ceil(extent / product) for
 * powers of two (whose extent need not divide: the schedule guards the tail). For
 * TS_SPLIT_CANDIDATES, the rows in the order given, each row's first entry recomputed
 * as ceil(extent / product of the others). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tessera/template.h"

typedef struct Knob {
    char name[TS_KNOB_MAX_NAME];
    TsKnobKind kind;
    int64_t size;  /* number of choices */
    int width;     /* split: factors per choice; reorder: axes per order */
    int64_t *ints; /* split: size * width factors; reorder: size * width; other: size */
    char **words;  /* annotate: size words */
} Knob;

struct TsConfigSpace {
    int num_knobs;
    int64_t size;
    Knob knobs[TS_CONFIG_MAX_KNOBS];
};

/* ---- the space and its knobs ---- */

TsConfigSpace *ts_config_space_create(void)
{
    TsConfigSpace *space = calloc(1, sizeof *space);
    if (space)
        space->size = 1;
    return space;
}

static void knob_free(Knob *knob)
{
    free(knob->ints);
    if (knob->words) {
        for (int64_t i = 0; i < knob->size; i++)
            free(knob->words[i]);
        free(knob->words);
    }
    memset(knob, 0, sizeof *knob);
}

void ts_config_space_free(TsConfigSpace *space)
{
    if (!space)
        return;
    for (int i = 0; i < space->num_knobs; i++)
        knob_free(&space->knobs[i]);
    free(space);
}

/* A name or word goes into JSON text unescaped: printable, no quote or backslash. */
static bool plain_text(const char *text)
{
    if (!text || !*text)
        return false;
    for (const char *c = text; *c; c++)
        if (*c < 0x20 || *c > 0x7e || *c == '"' || *c == '\\')
            return false;
    return true;
}

static const Knob *find_knob(const TsConfigSpace *space, const char *name)
{
    for (int i = 0; i < space->num_knobs; i++)
        if (strcmp(space->knobs[i].name, name) == 0)
            return &space->knobs[i];
    return NULL;
}

/* Checks that a new knob called name may be added; fills knob's name. */
static TsStatus begin_knob(TsConfigSpace *space, const char *name, Knob *knob, TsError *err)
{
    if (!space)
        return ts_fail(err, TS_EINVAL, "config space: NULL space for knob %s",
                       name ? name : "(null)");
    if (!name || !plain_text(name) || strlen(name) >= TS_KNOB_MAX_NAME)
        return ts_fail(err, TS_EINVAL,
                       "config space: knob name '%s' must be 1..%d printable characters "
                       "without quotes or backslashes",
                       name ? name : "(null)", TS_KNOB_MAX_NAME - 1);
    if (find_knob(space, name))
        return ts_fail(err, TS_EINVAL, "config space: knob %s is defined twice", name);
    if (space->num_knobs >= TS_CONFIG_MAX_KNOBS)
        return ts_fail(err, TS_EINVAL, "config space: knob %s is one more than the %d allowed",
                       name, TS_CONFIG_MAX_KNOBS);
    memset(knob, 0, sizeof *knob);
    snprintf(knob->name, sizeof knob->name, "%s", name);
    return TS_OK;
}

/* Adds a filled knob, or frees it and fails when it is empty or would overflow the size. */
static TsStatus commit_knob(TsConfigSpace *space, Knob *knob, TsError *err)
{
    if (knob->size <= 0) {
        TsStatus st = ts_fail(err, TS_EINVAL, "config space: knob %s has no choices", knob->name);
        knob_free(knob);
        return st;
    }
    if (space->size > INT64_MAX / knob->size) {
        TsStatus st = ts_fail(err, TS_EINVAL,
                              "config space: knob %s (%lld choices) makes the space larger "
                              "than int64",
                              knob->name, (long long)knob->size);
        knob_free(knob);
        return st;
    }
    space->size *= knob->size;
    space->knobs[space->num_knobs++] = *knob;
    return TS_OK;
}

/* ---- split knobs ---- */

/* The choices of a split knob while they are being collected. */
typedef struct SplitList {
    int64_t extent;
    const TsSplitOptions *opt;
    int64_t *rows;
    int64_t count, cap;
    bool oom;
} SplitList;

static int64_t ceil_div(int64_t a, int64_t b)
{
    return (a + b - 1) / b;
}

/* Completes row (inner factors set) with its outer factor and keeps it unless the
 * max_factor limit or the filter leaves it out. */
static void offer_row(SplitList *list, int64_t *row)
{
    const TsSplitOptions *opt = list->opt;
    int64_t product = 1;
    for (int i = 1; i < opt->num_outputs; i++) {
        if (opt->max_factor > 0 && row[i] > opt->max_factor)
            return;
        product *= row[i];
    }
    row[0] = ceil_div(list->extent, product);
    if (opt->filter && !opt->filter(row, opt->num_outputs, opt->filter_user))
        return;
    if (list->count == list->cap) {
        int64_t cap = list->cap ? 2 * list->cap : 16;
        int64_t *grown = realloc(list->rows, sizeof *grown * (size_t)(cap * opt->num_outputs));
        if (!grown) {
            list->oom = true;
            return;
        }
        list->rows = grown;
        list->cap = cap;
    }
    memcpy(list->rows + list->count * opt->num_outputs, row,
           sizeof *row * (size_t)opt->num_outputs);
    list->count++;
}

/* Exact factorizations: row[pos..] takes every divisor chain of rest, ascending. */
static void enum_factors(SplitList *list, int64_t *row, int pos, int64_t rest)
{
    if (pos == list->opt->num_outputs) {
        offer_row(list, row);
        return;
    }
    for (int64_t d = 1; d <= rest && !list->oom; d++) {
        if (rest % d)
            continue;
        row[pos] = d;
        enum_factors(list, row, pos + 1, rest / d);
    }
}

/* Powers of two whose product stays within the extent. */
static void enum_power2(SplitList *list, int64_t *row, int pos, int64_t room)
{
    if (pos == list->opt->num_outputs) {
        offer_row(list, row);
        return;
    }
    for (int64_t p = 1; p <= room && !list->oom; p *= 2) {
        row[pos] = p;
        enum_power2(list, row, pos + 1, room / p);
    }
}

static TsStatus enum_candidates(SplitList *list, const char *name, TsError *err)
{
    const TsSplitOptions *opt = list->opt;
    if (opt->num_candidates <= 0 || !opt->candidates)
        return ts_fail(err, TS_EINVAL, "config space: split knob %s has no candidates", name);
    int64_t row[TS_KNOB_MAX_OUTPUTS];
    for (int c = 0; c < opt->num_candidates && !list->oom; c++) {
        memcpy(row, opt->candidates + (size_t)c * (size_t)opt->num_outputs,
               sizeof *row * (size_t)opt->num_outputs);
        for (int i = 1; i < opt->num_outputs; i++)
            if (row[i] <= 0)
                return ts_fail(err, TS_EINVAL,
                               "config space: split knob %s: candidate %d has factor %lld "
                               "(factors after the first must be > 0)",
                               name, c, (long long)row[i]);
        offer_row(list, row);
    }
    return TS_OK;
}

static TsStatus check_split_options(const char *name, int64_t extent, const TsSplitOptions *opt,
                                    TsError *err)
{
    if (!opt)
        return ts_fail(err, TS_EINVAL, "config space: split knob %s: NULL options", name);
    if (extent <= 0)
        return ts_fail(err, TS_EINVAL, "config space: split knob %s: extent %lld must be > 0", name,
                       (long long)extent);
    if (opt->num_outputs < 2 || opt->num_outputs > TS_KNOB_MAX_OUTPUTS)
        return ts_fail(err, TS_EINVAL,
                       "config space: split knob %s: num_outputs %d must be in 2..%d", name,
                       opt->num_outputs, TS_KNOB_MAX_OUTPUTS);
    if (opt->max_factor < 0)
        return ts_fail(err, TS_EINVAL, "config space: split knob %s: max_factor %lld must be >= 0",
                       name, (long long)opt->max_factor);
    if (opt->policy != TS_SPLIT_FACTORS && opt->policy != TS_SPLIT_POWER2 &&
        opt->policy != TS_SPLIT_CANDIDATES)
        return ts_fail(err, TS_EINVAL, "config space: split knob %s: unknown policy %d", name,
                       (int)opt->policy);
    return TS_OK;
}

TsStatus ts_space_define_split(TsConfigSpace *space, const char *name, int64_t extent,
                               const TsSplitOptions *options, TsError *err)
{
    Knob knob;
    TsStatus st = begin_knob(space, name, &knob, err);
    if (st == TS_OK)
        st = check_split_options(name, extent, options, err);
    if (st != TS_OK)
        return st;
    SplitList list = { .extent = extent, .opt = options };
    int64_t row[TS_KNOB_MAX_OUTPUTS] = { 0 };
    if (options->policy == TS_SPLIT_FACTORS)
        enum_factors(&list, row, 1, extent);
    else if (options->policy == TS_SPLIT_POWER2)
        enum_power2(&list, row, 1, extent);
    else if ((st = enum_candidates(&list, name, err)) != TS_OK)
        goto out_free_rows;
    if (list.oom) {
        st = ts_fail(err, TS_ENOMEM, "config space: split knob %s: out of memory", name);
        goto out_free_rows;
    }
    knob.kind = TS_KNOB_SPLIT;
    knob.size = list.count;
    knob.width = options->num_outputs;
    knob.ints = list.rows;
    return commit_knob(space, &knob, err);
out_free_rows:
    free(list.rows);
    return st;
}

/* ---- reorder, annotate and plain knobs ---- */

static bool is_permutation(const int *order, int n)
{
    bool seen[64] = { false };
    for (int i = 0; i < n; i++) {
        if (order[i] < 0 || order[i] >= n || seen[order[i]])
            return false;
        seen[order[i]] = true;
    }
    return true;
}

TsStatus ts_space_define_reorder(TsConfigSpace *space, const char *name, int num_axes,
                                 int num_orders, const int *orders, TsError *err)
{
    Knob knob;
    TsStatus st = begin_knob(space, name, &knob, err);
    if (st != TS_OK)
        return st;
    if (num_axes < 1 || num_axes > 64)
        return ts_fail(err, TS_EINVAL,
                       "config space: reorder knob %s: num_axes %d must be in "
                       "1..64",
                       name, num_axes);
    if (num_orders <= 0 || !orders)
        return ts_fail(err, TS_EINVAL, "config space: reorder knob %s has no choices", name);
    for (int o = 0; o < num_orders; o++)
        if (!is_permutation(orders + (size_t)o * (size_t)num_axes, num_axes))
            return ts_fail(err, TS_EINVAL,
                           "config space: reorder knob %s: order %d is not a permutation of "
                           "0..%d",
                           name, o, num_axes - 1);
    knob.ints = malloc(sizeof *knob.ints * (size_t)num_orders * (size_t)num_axes);
    if (!knob.ints)
        return ts_fail(err, TS_ENOMEM, "config space: reorder knob %s: out of memory", name);
    for (size_t i = 0; i < (size_t)num_orders * (size_t)num_axes; i++)
        knob.ints[i] = orders[i];
    knob.kind = TS_KNOB_REORDER;
    knob.size = num_orders;
    knob.width = num_axes;
    return commit_knob(space, &knob, err);
}

TsStatus ts_space_define_annotate(TsConfigSpace *space, const char *name, int num_words,
                                  const char *const *words, TsError *err)
{
    Knob knob;
    TsStatus st = begin_knob(space, name, &knob, err);
    if (st != TS_OK)
        return st;
    if (num_words <= 0 || !words)
        return ts_fail(err, TS_EINVAL, "config space: annotate knob %s has no choices", name);
    for (int w = 0; w < num_words; w++)
        if (!plain_text(words[w]))
            return ts_fail(err, TS_EINVAL,
                           "config space: annotate knob %s: word %d is empty or not plain "
                           "printable text",
                           name, w);
    knob.words = calloc((size_t)num_words, sizeof *knob.words);
    if (!knob.words)
        return ts_fail(err, TS_ENOMEM, "config space: annotate knob %s: out of memory", name);
    knob.kind = TS_KNOB_ANNOTATE;
    knob.size = num_words;
    for (int w = 0; w < num_words; w++) {
        size_t len = strlen(words[w]) + 1;
        knob.words[w] = malloc(len);
        if (!knob.words[w]) {
            knob_free(&knob);
            return ts_fail(err, TS_ENOMEM, "config space: annotate knob %s: out of memory", name);
        }
        memcpy(knob.words[w], words[w], len);
    }
    return commit_knob(space, &knob, err);
}

TsStatus ts_space_define_knob(TsConfigSpace *space, const char *name, int num_values,
                              const int64_t *values, TsError *err)
{
    Knob knob;
    TsStatus st = begin_knob(space, name, &knob, err);
    if (st != TS_OK)
        return st;
    if (num_values <= 0 || !values)
        return ts_fail(err, TS_EINVAL, "config space: knob %s has no choices", name);
    knob.ints = malloc(sizeof *knob.ints * (size_t)num_values);
    if (!knob.ints)
        return ts_fail(err, TS_ENOMEM, "config space: knob %s: out of memory", name);
    memcpy(knob.ints, values, sizeof *knob.ints * (size_t)num_values);
    knob.kind = TS_KNOB_OTHER;
    knob.size = num_values;
    return commit_knob(space, &knob, err);
}

/* ---- queries ---- */

int64_t ts_space_size(const TsConfigSpace *space)
{
    return space ? space->size : 0;
}

int ts_space_num_knobs(const TsConfigSpace *space)
{
    return space ? space->num_knobs : 0;
}

const char *ts_space_knob_name(const TsConfigSpace *space, int knob)
{
    if (!space || knob < 0 || knob >= space->num_knobs)
        return NULL;
    return space->knobs[knob].name;
}

TsKnobKind ts_space_knob_kind(const TsConfigSpace *space, int knob)
{
    if (!space || knob < 0 || knob >= space->num_knobs)
        return TS_KNOB_OTHER;
    return space->knobs[knob].kind;
}

int64_t ts_space_knob_size(const TsConfigSpace *space, int knob)
{
    if (!space || knob < 0 || knob >= space->num_knobs)
        return 0;
    return space->knobs[knob].size;
}

/* ---- points ---- */

TsStatus ts_space_get(const TsConfigSpace *space, int64_t index, TsConfig *out, TsError *err)
{
    if (!space || !out)
        return ts_fail(err, TS_EINVAL, "config space: NULL space or output for index %lld",
                       (long long)index);
    if (index < 0 || index >= space->size)
        return ts_fail(err, TS_EINVAL, "config space: index %lld is outside [0, %lld)",
                       (long long)index, (long long)space->size);
    memset(out, 0, sizeof *out);
    out->space = space;
    out->index = index;
    int64_t rest = index;
    for (int k = 0; k < space->num_knobs; k++) {
        out->choice[k] = rest % space->knobs[k].size;
        rest /= space->knobs[k].size;
    }
    return TS_OK;
}

TsStatus ts_space_from_choices(const TsConfigSpace *space, const int64_t *choice, TsConfig *out,
                               TsError *err)
{
    if (!space || !choice || !out)
        return ts_fail(err, TS_EINVAL, "config space: NULL space, choices or output");
    int64_t index = 0;
    for (int k = space->num_knobs - 1; k >= 0; k--) {
        const Knob *knob = &space->knobs[k];
        if (choice[k] < 0 || choice[k] >= knob->size)
            return ts_fail(err, TS_EINVAL,
                           "config space: knob %s: choice %lld is outside [0, %lld)", knob->name,
                           (long long)choice[k], (long long)knob->size);
        index = index * knob->size + choice[k];
    }
    /* choice may be out->choice itself: keep it before out is cleared. */
    int64_t kept[TS_CONFIG_MAX_KNOBS];
    memcpy(kept, choice, sizeof *choice * (size_t)space->num_knobs);
    memset(out, 0, sizeof *out);
    out->space = space;
    out->index = index;
    memcpy(out->choice, kept, sizeof *choice * (size_t)space->num_knobs);
    return TS_OK;
}

/* Appends formatted text at *used; false once it no longer fits. */
static bool put(char *buf, size_t size, size_t *used, const char *fmt, ...) TS_PRINTF_LIKE(4, 5);

static bool put(char *buf, size_t size, size_t *used, const char *fmt, ...)
{
    if (*used >= size)
        return false;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *used, size - *used, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= size - *used) {
        *used = size;
        return false;
    }
    *used += (size_t)n;
    return true;
}

static bool put_knob(const Knob *knob, int64_t choice, char *buf, size_t size, size_t *used)
{
    static const char *const kind_word[] = { "sp", "re", "an", "ot" };
    bool ok = put(buf, size, used, "[\"%s\",\"%s\",", knob->name, kind_word[knob->kind]);
    const int64_t *row = knob->ints ? knob->ints + choice * knob->width : NULL;
    switch (knob->kind) {
    case TS_KNOB_SPLIT:
    case TS_KNOB_REORDER:
        ok = ok && put(buf, size, used, "[");
        for (int i = 0; i < knob->width; i++) {
            long long v = (knob->kind == TS_KNOB_SPLIT && i == 0) ? -1 : (long long)row[i];
            ok = ok && put(buf, size, used, "%s%lld", i ? "," : "", v);
        }
        ok = ok && put(buf, size, used, "]");
        break;
    case TS_KNOB_ANNOTATE: ok = ok && put(buf, size, used, "\"%s\"", knob->words[choice]); break;
    case TS_KNOB_OTHER:
        ok = ok && put(buf, size, used, "%lld", (long long)knob->ints[choice]);
        break;
    }
    return ok && put(buf, size, used, "]");
}

TsStatus ts_config_entity(const TsConfig *config, char *buf, size_t size, TsError *err)
{
    if (!config || !config->space || !buf || size == 0)
        return ts_fail(err, TS_EINVAL, "config entity: NULL config or empty buffer");
    const TsConfigSpace *space = config->space;
    size_t used = 0;
    bool ok = put(buf, size, &used, "[");
    for (int k = 0; k < space->num_knobs && ok; k++) {
        ok = k == 0 || put(buf, size, &used, ",");
        ok = ok && put_knob(&space->knobs[k], config->choice[k], buf, size, &used);
    }
    ok = ok && put(buf, size, &used, "]");
    if (!ok) {
        buf[0] = '\0';
        return ts_fail(err, TS_EINVAL, "config entity of index %lld does not fit in %zu bytes",
                       (long long)config->index, size);
    }
    return TS_OK;
}

/* ---- getters by name ---- */

static const char *kind_name(TsKnobKind kind)
{
    switch (kind) {
    case TS_KNOB_SPLIT: return "split";
    case TS_KNOB_REORDER: return "reorder";
    case TS_KNOB_ANNOTATE: return "annotate";
    case TS_KNOB_OTHER: return "plain";
    }
    return "unknown";
}

/* The knob name of kind in config's space, with its choice; TS_EINVAL naming it else. */
static TsStatus lookup(const TsConfig *config, const char *name, TsKnobKind kind, const Knob **knob,
                       int64_t *choice, TsError *err)
{
    if (!config || !config->space || !name)
        return ts_fail(err, TS_EINVAL, "config: NULL config or name looking up knob %s",
                       name ? name : "(null)");
    const TsConfigSpace *space = config->space;
    for (int k = 0; k < space->num_knobs; k++) {
        if (strcmp(space->knobs[k].name, name) != 0)
            continue;
        if (space->knobs[k].kind != kind)
            return ts_fail(err, TS_EINVAL, "config: knob %s is a %s knob, not a %s knob", name,
                           kind_name(space->knobs[k].kind), kind_name(kind));
        if (config->choice[k] < 0 || config->choice[k] >= space->knobs[k].size)
            return ts_fail(err, TS_EINVAL, "config: knob %s: choice %lld is outside [0, %lld)",
                           name, (long long)config->choice[k], (long long)space->knobs[k].size);
        *knob = &space->knobs[k];
        *choice = config->choice[k];
        return TS_OK;
    }
    return ts_fail(err, TS_EINVAL, "config: the space has no knob %s", name);
}

/* The factors of a split knob; factors[0] is the outer factor itself (the entity text
 * prints it -1), ceil(extent / product of the inner ones). */
TsStatus ts_config_split(const TsConfig *config, const char *name, int64_t *factors,
                         int max_factors, int *num_factors, TsError *err)
{
    const Knob *knob;
    int64_t choice;
    TsStatus st = lookup(config, name, TS_KNOB_SPLIT, &knob, &choice, err);
    if (st != TS_OK)
        return st;
    if (!factors || max_factors < knob->width)
        return ts_fail(err, TS_EINVAL, "config: split knob %s has %d factors, room for %d", name,
                       knob->width, factors ? max_factors : 0);
    memcpy(factors, knob->ints + choice * knob->width, sizeof *factors * (size_t)knob->width);
    if (num_factors)
        *num_factors = knob->width;
    return TS_OK;
}

TsStatus ts_config_reorder(const TsConfig *config, const char *name, int *order, int max_axes,
                           int *num_axes, TsError *err)
{
    const Knob *knob;
    int64_t choice;
    TsStatus st = lookup(config, name, TS_KNOB_REORDER, &knob, &choice, err);
    if (st != TS_OK)
        return st;
    if (!order || max_axes < knob->width)
        return ts_fail(err, TS_EINVAL, "config: reorder knob %s has %d axes, room for %d", name,
                       knob->width, order ? max_axes : 0);
    for (int i = 0; i < knob->width; i++)
        order[i] = (int)knob->ints[choice * knob->width + i];
    if (num_axes)
        *num_axes = knob->width;
    return TS_OK;
}

TsStatus ts_config_annotate(const TsConfig *config, const char *name, const char **word,
                            TsError *err)
{
    const Knob *knob;
    int64_t choice;
    TsStatus st = lookup(config, name, TS_KNOB_ANNOTATE, &knob, &choice, err);
    if (st != TS_OK)
        return st;
    if (!word)
        return ts_fail(err, TS_EINVAL, "config: annotate knob %s: NULL output", name);
    *word = knob->words[choice];
    return TS_OK;
}

TsStatus ts_config_knob(const TsConfig *config, const char *name, int64_t *value, TsError *err)
{
    const Knob *knob;
    int64_t choice;
    TsStatus st = lookup(config, name, TS_KNOB_OTHER, &knob, &choice, err);
    if (st != TS_OK)
        return st;
    if (!value)
        return ts_fail(err, TS_EINVAL, "config: knob %s: NULL output", name);
    *value = knob->ints[choice];
    return TS_OK;
}
