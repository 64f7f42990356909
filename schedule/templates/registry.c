/* The template table and the TsTemplateArgs helpers.
 *
 * One process-wide table holds every template: the built-in ones (dense, conv2d in
 * NCHWc, depthwise conv2d, pool2d), added on first use of the table through
 * pthread_once, and any a researcher adds with ts_template_register. A mutex guards the
 * table, since tuners look templates up from worker threads. Templates are kept by
 * pointer and never removed, so a pointer handed out stays valid. */
#include <pthread.h>
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

static const char *isa_name(TsIsa isa)
{
    switch (isa) {
    case TS_ISA_X86_AVX2: return "x86-64 AVX2";
    case TS_ISA_X86_AVX512: return "x86-64 AVX-512";
    case TS_ISA_AARCH64_NEON: return "AArch64 NEON";
    }
    return "unknown ISA";
}

/* Appends the distinct ops having a template for isa to list (for the error message). */
static void list_ops_locked(TsIsa isa, char *list, size_t size)
{
    size_t used = 0;
    list[0] = '\0';
    for (int i = 0; i < table_count; i++) {
        if (!(table[i]->isa_mask & (1u << isa)))
            continue;
        bool seen = false;
        for (int j = 0; j < i; j++)
            if ((table[j]->isa_mask & (1u << isa)) && strcmp(table[j]->op, table[i]->op) == 0)
                seen = true;
        if (seen || used >= size)
            continue;
        int n = snprintf(list + used, size - used, "%s%s", used ? ", " : "", table[i]->op);
        used = n < 0 ? size : used + (size_t)n;
    }
}

TsStatus ts_template_for_op(const char *op, TsIsa isa, const TsTemplate **out, TsError *err)
{
    if (!op || !out)
        return ts_fail(err, TS_EINVAL, "template for op: NULL op or output");
    pthread_once(&builtins_once, register_builtins);
    pthread_mutex_lock(&table_lock);
    const TsTemplate *found = NULL;
    for (int i = 0; i < table_count && !found; i++)
        if (strcmp(table[i]->op, op) == 0 && (table[i]->isa_mask & (1u << isa)))
            found = table[i];
    char list[256];
    if (!found)
        list_ops_locked(isa, list, sizeof list);
    pthread_mutex_unlock(&table_lock);
    if (!found)
        return ts_fail(err, TS_EINVAL, "no template for op %s on %s (ops with one: %s)", op,
                       isa_name(isa), list[0] ? list : "none");
    *out = found;
    return TS_OK;
}

/* ---- template arguments ---- */

TsStatus ts_template_args_set(TsTemplateArgs *args, const char *name, int64_t value, TsError *err)
{
    if (!args || !name || !*name)
        return ts_fail(err, TS_EINVAL, "template args: NULL args or empty name");
    if (strlen(name) >= TS_TEMPLATE_ARG_NAME)
        return ts_fail(err, TS_EINVAL, "template args: name %s is longer than %d characters", name,
                       TS_TEMPLATE_ARG_NAME - 1);
    for (int i = 0; i < args->num; i++) {
        if (strcmp(args->name[i], name) == 0) {
            args->value[i] = value;
            return TS_OK;
        }
    }
    if (args->num < 0 || args->num >= TS_TEMPLATE_MAX_ARGS)
        return ts_fail(err, TS_EINVAL, "template args: no room for %s (at most %d arguments)", name,
                       TS_TEMPLATE_MAX_ARGS);
    snprintf(args->name[args->num], TS_TEMPLATE_ARG_NAME, "%s", name);
    args->value[args->num++] = value;
    return TS_OK;
}

TsStatus ts_template_args_get(const TsTemplateArgs *args, const char *name, int64_t *value,
                              TsError *err)
{
    if (!args || !name || !value)
        return ts_fail(err, TS_EINVAL, "template args: NULL args, name or output");
    for (int i = 0; i < args->num && i < TS_TEMPLATE_MAX_ARGS; i++) {
        if (strcmp(args->name[i], name) == 0) {
            *value = args->value[i];
            return TS_OK;
        }
    }
    return ts_fail(err, TS_EINVAL, "template args: missing argument %s", name);
}

void ts_template_args_str(const TsTemplateArgs *args, char *buf, size_t size)
{
    if (!buf || size == 0)
        return;
    buf[0] = '\0';
    size_t used = 0;
    for (int i = 0; args && i < args->num && i < TS_TEMPLATE_MAX_ARGS && used < size; i++) {
        int n = snprintf(buf + used, size - used, "%s%s=%lld", i ? " " : "", args->name[i],
                         (long long)args->value[i]);
        used = n < 0 ? size : used + (size_t)n;
    }
}
