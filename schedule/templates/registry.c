/* The template table and the TsTemplateArgs helpers.
 *
 * One process-wide table holds every template: the built-in ones (dense, conv2d in
 * NCHWc, depthwise conv2d, pool2d), added on first use of the table through
 * pthread_once, and any a researcher adds with ts_template_register. A mutex guards the
 * table, since tuners look templates up from worker threads. Templates are kept by
 * pointer and never removed, so a pointer handed out stays valid. */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "tmpl_internal.h"

enum { MAX_TEMPLATES = 128 };

static const TsTemplate *table[MAX_TEMPLATES];
static int table_count;
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t builtins_once = PTHREAD_ONCE_INIT;

static const TsTemplate *find_locked(const char *name)
{
    for (int i = 0; i < table_count; i++)
        if (strcmp(table[i]->name, name) == 0)
            return table[i];
    return NULL;
}

static TsStatus add_locked(const TsTemplate *tmpl, TsError *err)
{
    if (!tmpl || !tmpl->name || !tmpl->op)
        return ts_fail(err, TS_EINVAL, "template register: NULL template, name or op");
    if (!tmpl->define_space || !tmpl->default_config || !tmpl->instantiate || !tmpl->flop)
        return ts_fail(err, TS_EINVAL,
                       "template register: template %s lacks define_space, default_config, "
                       "instantiate or flop",
                       tmpl->name);
    for (int i = 0; tmpl->dtypes && tmpl->dtypes[i]; i++) {
        TsDType dtype;
        if (!ts_dtype_parse(tmpl->dtypes[i], &dtype))
            return ts_fail(err, TS_EINVAL, "template register: template %s serves dtype \"%s\", "
                           "which is not a dtype", tmpl->name, tmpl->dtypes[i]);
    }
    if (find_locked(tmpl->name))
        return ts_fail(err, TS_EINVAL, "template register: a template called %s exists already",
                       tmpl->name);
    if (table_count == MAX_TEMPLATES)
        return ts_fail(err, TS_EINVAL, "template register: table full (%d) adding %s",
                       MAX_TEMPLATES, tmpl->name);
    table[table_count++] = tmpl;
    return TS_OK;
}

static void register_builtins(void)
{
    static const TsTemplate *const builtins[] = {
        &sch_template_dense,
        &sch_template_conv2d_nchwc,
        &sch_template_depthwise_conv2d,
        &sch_template_pool2d,
        &sch_template_conv2d_int8,
        &sch_template_conv2d_int8_vnni,
        &sch_template_conv2d_int8_amx,
        &sch_template_conv2d_bf16_amx,
        &sch_template_conv2d_int8_sdot,
        &sch_template_conv2d_int8_smlal,
        &sch_template_conv2d_bf16,
        &sch_template_dense_int8_vnni,
        &sch_template_dense_int8_amx,
        &sch_template_dense_bf16_avx512,
        &sch_template_dense_bf16_amx,
        &sch_template_bitserial_conv2d_x86,
        &sch_template_bitserial_dense_x86,
        &sch_template_bitserial_conv2d_aarch64,
        &sch_template_bitserial_dense_aarch64,
    };
    pthread_mutex_lock(&table_lock);
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
        if (builtins[i])
            add_locked(builtins[i], NULL);
    pthread_mutex_unlock(&table_lock);
}

TsStatus ts_template_register(const TsTemplate *tmpl, TsError *err)
{
    pthread_once(&builtins_once, register_builtins);
    pthread_mutex_lock(&table_lock);
    TsStatus st = add_locked(tmpl, err);
    pthread_mutex_unlock(&table_lock);
    return st;
}

int ts_template_count(void)
{
    pthread_once(&builtins_once, register_builtins);
    pthread_mutex_lock(&table_lock);
    int count = table_count;
    pthread_mutex_unlock(&table_lock);
    return count;
}

const TsTemplate *ts_template_at(int i)
{
    pthread_once(&builtins_once, register_builtins);
    pthread_mutex_lock(&table_lock);
    const TsTemplate *tmpl = (i >= 0 && i < table_count) ? table[i] : NULL;
    pthread_mutex_unlock(&table_lock);
    return tmpl;
}

const TsTemplate *ts_template_find(const char *name)
{
    if (!name)
        return NULL;
    pthread_once(&builtins_once, register_builtins);
    pthread_mutex_lock(&table_lock);
    const TsTemplate *tmpl = find_locked(name);
    pthread_mutex_unlock(&table_lock);
    return tmpl;
}

/* ---- targets and strategies ---- */

TsStatus ts_template_target_init(TsTemplateTarget *out, const char *arch, const char *features,
                                 const char *name, int num_cores, TsError *err)
{
    if (!out || !arch || !features)
        return ts_fail(err, TS_EINVAL, "template target: NULL output, arch or features");
    bool x86 = strcmp(arch, "x86_64") == 0;
    if (!x86 && strcmp(arch, "aarch64") != 0)
        return ts_fail(err, TS_EINVAL, "template target %s: architecture %s is not x86_64 or "
                       "aarch64", name ? name : "", arch);
    if (num_cores < 1)
        return ts_fail(err, TS_EINVAL, "template target %s: num_cores %d must be >= 1",
                       name ? name : "", num_cores);
    *out = (TsTemplateTarget){ .arch = arch, .features = features, .name = name,
                               .num_cores = num_cores };
    out->vector_bits = !x86 ? 128 : ts_template_target_has(out, "avx512f") ? 512 : 256;
    return TS_OK;
}

bool ts_template_target_has(const TsTemplateTarget *target, const char *feature)
{
    if (!target || !target->features || !feature || !*feature)
        return false;
    size_t len = strlen(feature);
    for (const char *p = target->features; *p;) {
        p += strspn(p, ",");
        size_t item = strcspn(p, ",");
        if (item == len && strncmp(p, feature, len) == 0)
            return true;
        p += item;
    }
    return false;
}

static bool serves_dtype(const TsTemplate *tmpl, TsDType dtype)
{
    char name[TS_DTYPE_STR_MAX];
    ts_dtype_str(dtype, name);
    if (!tmpl->dtypes)
        return strcmp(name, "float32") == 0;
    for (int i = 0; tmpl->dtypes[i]; i++)
        if (strcmp(tmpl->dtypes[i], name) == 0)
            return true;
    return false;
}

bool ts_template_applies(const TsTemplate *tmpl, TsDType dtype, const TsTemplateTarget *target)
{
    if (!tmpl || !target || !serves_dtype(tmpl, dtype))
        return false;
    for (int i = 0; tmpl->features && tmpl->features[i]; i++)
        if (!ts_template_target_has(target, tmpl->features[i]))
            return false;
    return true;
}

/* Appends text to buf (size bytes, *used of them filled), truncating. */
static void append(char *buf, size_t size, size_t *used, const char *text)
{
    if (*used + 1 >= size)
        return;
    int n = snprintf(buf + *used, size - *used, "%s", text);
    *used = n < 0 || *used + (size_t)n >= size ? size - 1 : *used + (size_t)n;
}

/* "name (float32; needs avx512vnni)" for each template of op, into list. */
static void list_templates_locked(const char *op, char *list, size_t size)
{
    size_t used = 0;
    list[0] = '\0';
    for (int i = 0; i < table_count; i++) {
        const TsTemplate *t = table[i];
        if (strcmp(t->op, op) != 0)
            continue;
        append(list, size, &used, used ? ", " : "");
        append(list, size, &used, t->name);
        append(list, size, &used, " (");
        for (int d = 0; t->dtypes && t->dtypes[d]; d++) {
            append(list, size, &used, d ? " " : "");
            append(list, size, &used, t->dtypes[d]);
        }
        append(list, size, &used, t->dtypes ? "" : "float32");
        for (int f = 0; t->features && t->features[f]; f++) {
            append(list, size, &used, f ? " " : "; needs ");
            append(list, size, &used, t->features[f]);
        }
        append(list, size, &used, ")");
    }
}

TsStatus ts_template_for_op(const char *op, TsDType dtype, const TsTemplateTarget *target,
                            const TsTemplate **out, TsError *err)
{
    if (!op || !out || !target)
        return ts_fail(err, TS_EINVAL, "template for op: NULL op, target or output");
    pthread_once(&builtins_once, register_builtins);
    pthread_mutex_lock(&table_lock);
    const TsTemplate *found = NULL;
    for (int i = 0; i < table_count; i++)
        if (strcmp(table[i]->op, op) == 0 && ts_template_applies(table[i], dtype, target) &&
            (!found || table[i]->priority > found->priority))
            found = table[i];
    char list[512];
    if (!found)
        list_templates_locked(op, list, sizeof list);
    pthread_mutex_unlock(&table_lock);
    if (found) {
        *out = found;
        return TS_OK;
    }
    char dtype_name[TS_DTYPE_STR_MAX];
    ts_dtype_str(dtype, dtype_name);
    return ts_fail(err, TS_EINVAL, "no template for op %s with dtype %s on target %s (%s; "
                   "templates of %s: %s)", op, dtype_name, target->name ? target->name : "",
                   target->arch ? target->arch : "?", op, list[0] ? list : "none");
}

/* ---- template arguments ---- */

static int arg_index(const TsTemplateArgs *args, const char *name)
{
    for (int i = 0; i < args->num && i < TS_TEMPLATE_MAX_ARGS; i++)
        if (strcmp(args->name[i], name) == 0)
            return i;
    return -1;
}

/* The slot for name: its own, or a new one. */
static TsStatus arg_slot(TsTemplateArgs *args, const char *name, int *slot, TsError *err)
{
    if (!args || !name || !*name)
        return ts_fail(err, TS_EINVAL, "template args: NULL args or empty name");
    if (strlen(name) >= TS_TEMPLATE_ARG_NAME)
        return ts_fail(err, TS_EINVAL, "template args: name %s is longer than %d characters", name,
                       TS_TEMPLATE_ARG_NAME - 1);
    *slot = arg_index(args, name);
    if (*slot >= 0)
        return TS_OK;
    if (args->num < 0 || args->num >= TS_TEMPLATE_MAX_ARGS)
        return ts_fail(err, TS_EINVAL, "template args: no room for %s (at most %d arguments)", name,
                       TS_TEMPLATE_MAX_ARGS);
    *slot = args->num++;
    snprintf(args->name[*slot], TS_TEMPLATE_ARG_NAME, "%s", name);
    return TS_OK;
}

TsStatus ts_template_args_set(TsTemplateArgs *args, const char *name, int64_t value, TsError *err)
{
    int slot;
    TsStatus st = arg_slot(args, name, &slot, err);
    if (st == TS_OK) {
        args->value[slot] = value;
        args->is_dtype[slot] = false;
    }
    return st;
}

TsStatus ts_template_args_set_dtype(TsTemplateArgs *args, const char *name, TsDType dtype,
                                    TsError *err)
{
    if (!ts_dtype_is_valid(dtype) || dtype.lanes != 1)
        return ts_fail(err, TS_EINVAL, "template args: %s is not a scalar dtype",
                       name ? name : "(null)");
    int slot;
    TsStatus st = arg_slot(args, name, &slot, err);
    if (st == TS_OK) {
        args->dtype[slot] = dtype;
        args->value[slot] = 0;
        args->is_dtype[slot] = true;
    }
    return st;
}

TsStatus ts_template_args_parse(TsTemplateArgs *args, const char *word, TsError *err)
{
    if (!args || !word)
        return ts_fail(err, TS_EINVAL, "template args: NULL args or word");
    const char *eq = strchr(word, '=');
    char name[TS_TEMPLATE_ARG_NAME];
    if (!eq || eq == word || (size_t)(eq - word) >= sizeof name)
        return ts_fail(err, TS_EINVAL, "template args: '%s' is not NAME=VALUE (a name of 1 to %d "
                       "characters)", word, TS_TEMPLATE_ARG_NAME - 1);
    memcpy(name, word, (size_t)(eq - word));
    name[eq - word] = '\0';
    const char *text = eq + 1;
    char *end;
    errno = 0;
    long long value = strtoll(text, &end, 10);
    if (*text && !errno && end != text && !*end)
        return ts_template_args_set(args, name, (int64_t)value, err);
    TsDType dtype;
    if (*text && !isdigit((unsigned char)*text) && *text != '-' && ts_dtype_parse(text, &dtype) &&
        dtype.lanes == 1)
        return ts_template_args_set_dtype(args, name, dtype, err);
    return ts_fail(err, TS_EINVAL, "template args: '%s': the value of %s is neither an integer "
                   "nor a dtype (float32, float16, int8, uint8, int32, ...)", word, name);
}

TsStatus ts_template_args_get(const TsTemplateArgs *args, const char *name, int64_t *value,
                              TsError *err)
{
    if (!args || !name || !value)
        return ts_fail(err, TS_EINVAL, "template args: NULL args, name or output");
    int i = arg_index(args, name);
    if (i < 0)
        return ts_fail(err, TS_EINVAL, "template args: missing argument %s", name);
    if (args->is_dtype[i])
        return ts_fail(err, TS_EINVAL, "template args: argument %s is a dtype, not an integer",
                       name);
    *value = args->value[i];
    return TS_OK;
}

TsStatus ts_template_args_get_dtype(const TsTemplateArgs *args, const char *name, TsDType *out,
                                    TsError *err)
{
    if (!args || !name || !out)
        return ts_fail(err, TS_EINVAL, "template args: NULL args, name or output");
    int i = arg_index(args, name);
    if (i < 0)
        return ts_fail(err, TS_EINVAL, "template args: missing argument %s", name);
    if (!args->is_dtype[i])
        return ts_fail(err, TS_EINVAL, "template args: argument %s=%lld is an integer, not a "
                       "dtype", name, (long long)args->value[i]);
    *out = args->dtype[i];
    return TS_OK;
}

TsDType ts_template_args_dtype_or_f32(const TsTemplateArgs *args, const char *name)
{
    TsDType dtype;
    if (ts_template_args_get_dtype(args, name, &dtype, NULL) != TS_OK)
        dtype = TS_FLOAT32;
    return dtype;
}

/* Whether every argument of a is in b with the same value; a dtype argument b lacks is
 * float32 there. */
static bool args_within(const TsTemplateArgs *a, const TsTemplateArgs *b)
{
    for (int i = 0; i < a->num && i < TS_TEMPLATE_MAX_ARGS; i++) {
        int j = arg_index(b, a->name[i]);
        if (j < 0) {
            if (!a->is_dtype[i] || !ts_dtype_eq(a->dtype[i], TS_FLOAT32))
                return false;
        } else if (a->is_dtype[i] != b->is_dtype[j] ||
                   (a->is_dtype[i] ? !ts_dtype_eq(a->dtype[i], b->dtype[j])
                                   : a->value[i] != b->value[j])) {
            return false;
        }
    }
    return true;
}

bool ts_template_args_equal(const TsTemplateArgs *a, const TsTemplateArgs *b)
{
    return a && b && args_within(a, b) && args_within(b, a);
}

void ts_template_args_str(const TsTemplateArgs *args, char *buf, size_t size)
{
    if (!buf || size == 0)
        return;
    buf[0] = '\0';
    size_t used = 0;
    for (int i = 0; args && i < args->num && i < TS_TEMPLATE_MAX_ARGS && used < size; i++) {
        char dtype[TS_DTYPE_STR_MAX];
        int n = args->is_dtype[i]
                    ? snprintf(buf + used, size - used, "%s%s=%s", i ? " " : "", args->name[i],
                               ts_dtype_str(args->dtype[i], dtype))
                    : snprintf(buf + used, size - used, "%s%s=%lld", i ? " " : "", args->name[i],
                               (long long)args->value[i]);
        used = n < 0 ? size : used + (size_t)n;
    }
}
