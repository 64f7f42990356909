/* Helpers shared by the built-in templates: argument and target checks, the target's
 * vector shape, and the construction of default configs by nearest choice. */
#include <math.h>
#include <string.h>

#include "tmpl_internal.h"

const char *const sch_dtypes_f32[] = { "float32", NULL };
const TsTemplateTarget sch_any_target = { .arch = "x86_64", .features = ",avx,avx2,fma,",
                                          .vector_bits = 256, .num_cores = 1 };

int64_t sch_ceil_div(int64_t a, int64_t b)
{
    return (a + b - 1) / b;
}

TsStatus sch_tmpl_read_args(const char *op, const TsTemplateArgs *args, const char *const *names,
                            const int64_t *min, int64_t *values, TsError *err)
{
    if (!args)
        return ts_fail(err, TS_EINVAL, "%s: NULL arguments", op);
    for (int i = 0; names[i]; i++) {
        int64_t v;
        if (ts_template_args_get(args, names[i], &v, NULL) != TS_OK)
            return ts_fail(err, TS_EINVAL, "%s: missing argument %s", op, names[i]);
        if (v < min[i] || v > TS_MAX_EXTENT)
            return ts_fail(err, TS_EINVAL, "%s: argument %s=%lld must be in [%lld, %lld]", op,
                           names[i], (long long)v, (long long)min[i], (long long)TS_MAX_EXTENT);
        values[i] = v;
    }
    return TS_OK;
}

TsStatus sch_tmpl_check_target(const char *op, const TsTemplateTarget *target, TsError *err)
{
    if (!target || !target->arch || !target->features)
        return ts_fail(err, TS_EINVAL, "%s: NULL target, arch or features", op);
    TsTemplateTarget want;
    TsStatus st = ts_template_target_init(&want, target->arch, target->features, target->name,
                                          target->num_cores, err);
    if (st != TS_OK)
        return st;
    if (target->vector_bits != want.vector_bits)
        return ts_fail(err, TS_EINVAL, "%s: target vector_bits %d, expected %d for its features",
                       op, target->vector_bits, want.vector_bits);
    return TS_OK;
}

TsStatus sch_tmpl_check_dtype(const char *op, const TsTemplateArgs *args, TsError *err)
{
    TsDType dtype;
    if (ts_template_args_get_dtype(args, "dtype", &dtype, NULL) != TS_OK) {
        int64_t value;
        if (ts_template_args_get(args, "dtype", &value, NULL) == TS_OK)
            return ts_fail(err, TS_EINVAL, "%s: argument dtype=%lld is not a dtype", op,
                           (long long)value);
        return TS_OK; /* float32, as before dtype arguments existed */
    }
    char name[TS_DTYPE_STR_MAX];
    if (!ts_dtype_eq(dtype, TS_FLOAT32))
        return ts_fail(err, TS_EINVAL, "%s: dtype %s is not served (float32 only)", op,
                       ts_dtype_str(dtype, name));
    return TS_OK;
}

int64_t sch_tmpl_lanes(const TsTemplateTarget *target)
{
    return target->vector_bits >= 32 ? target->vector_bits / 32 : 1;
}

int sch_tmpl_registers(const TsTemplateTarget *target)
{
    return strcmp(target->arch, "x86_64") == 0 && !ts_template_target_has(target, "avx512f")
               ? 16
               : 32;
}

void sch_tmpl_config_init(const TsConfigSpace *space, TsConfig *config)
{
    memset(config, 0, sizeof *config);
    config->space = space;
}

static int knob_index(const TsConfigSpace *space, const char *name)
{
    for (int k = 0; k < ts_space_num_knobs(space); k++)
        if (strcmp(ts_space_knob_name(space, k), name) == 0)
            return k;
    return -1;
}

/* Moves knob name to the choice minimizing score; score reads the config as it is. */
typedef double (*Score)(const TsConfig *config, const char *name, const void *want);

static TsStatus want(TsConfig *config, const char *name, Score score, const void *wanted,
                     TsError *err)
{
    int k = knob_index(config->space, name);
    if (k < 0)
        return ts_fail(err, TS_EINVAL, "default config: the space has no knob %s", name);
    int64_t best = -1;
    double best_score = INFINITY;
    for (int64_t c = 0; c < ts_space_knob_size(config->space, k); c++) {
        config->choice[k] = c;
        double s = score(config, name, wanted);
        if (s < best_score) {
            best_score = s;
            best = c;
        }
    }
    if (best < 0)
        return ts_fail(err, TS_EINVAL, "default config: no choice of knob %s fits", name);
    config->choice[k] = best;
    return TS_OK;
}

typedef struct SplitWant {
    const int64_t *inner;
    int num_inner;
} SplitWant;

static double split_score(const TsConfig *config, const char *name, const void *wanted)
{
    const SplitWant *w = wanted;
    int64_t f[TS_KNOB_MAX_OUTPUTS];
    int n;
    if (ts_config_split(config, name, f, TS_KNOB_MAX_OUTPUTS, &n, NULL) != TS_OK ||
        n != w->num_inner + 1)
        return INFINITY;
    double s = 0;
    /* Earlier inner factors weigh more: they are usually the more important. */
    for (int i = 0; i < w->num_inner; i++)
        s += fabs(log((double)f[n - 1 - i] / (double)w->inner[w->num_inner - 1 - i])) *
             (1.0 + 0.01 * i);
    return s;
}

TsStatus sch_tmpl_want_split(TsConfig *config, const char *name, const int64_t *inner,
                             int num_inner, TsError *err)
{
    SplitWant w = { inner, num_inner };
    return want(config, name, split_score, &w, err);
}

static double knob_score(const TsConfig *config, const char *name, const void *wanted)
{
    int64_t v;
    if (ts_config_knob(config, name, &v, NULL) != TS_OK)
        return INFINITY;
    return fabs((double)v - (double)*(const int64_t *)wanted);
}

TsStatus sch_tmpl_want_knob(TsConfig *config, const char *name, int64_t value, TsError *err)
{
    return want(config, name, knob_score, &value, err);
}

static double word_score(const TsConfig *config, const char *name, const void *wanted)
{
    const char *w;
    if (ts_config_annotate(config, name, &w, NULL) != TS_OK)
        return INFINITY;
    return strcmp(w, wanted) == 0 ? 0 : INFINITY;
}

TsStatus sch_tmpl_want_word(TsConfig *config, const char *name, const char *word, TsError *err)
{
    return want(config, name, word_score, word, err);
}

TsStatus sch_tmpl_config_finish(TsConfig *config, TsError *err)
{
    int64_t choice[TS_CONFIG_MAX_KNOBS];
    memcpy(choice, config->choice, sizeof choice);
    return ts_space_from_choices(config->space, choice, config, err);
}

int64_t sch_tmpl_knob(const TsConfig *config, const char *name, TsError *err, TsStatus *status)
{
    int64_t v = 0;
    if (*status == TS_OK)
        *status = ts_config_knob(config, name, &v, err);
    return v;
}
