/* Tuning tasks: an operator (the template chosen for its dtype and the target's features,
 * or a template named), its arguments and a target, with the template's config space
 * defined once. A task is the first step of tuning (task -> space -> tuner -> measurer ->
 * log) and the key a log's records are looked up by (template, arguments, dtype, target).
 *
 * What the target can do comes from codegen's target (ts_target_has_feature and its
 * feature list), not from a list of CPU names kept here. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "autotune/tune_internal.h"

struct TsTuneTask {
    const TsTemplate *tmpl;
    TsTemplateArgs args;
    TsTemplateTarget isa;
    TsTarget *target;
    char *target_text; /* as given, with canonical spacing */
    char *name;
    char *kernel_name;
    char dtype[TS_DTYPE_STR_MAX];
    TsConfigSpace *space;
};

/* What the templates see of the target: its architecture and features, as codegen's
 * target resolved them, and the host's cores when the target is the host (a device's
 * core count is not known before measuring). */
static TsStatus template_target(TsTuneTask *task, TsError *err)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int num_cores = ts_target_is_host(task->target) && cores > 1 ? (int)cores : 1;
    return ts_template_target_init(&task->isa, ts_target_arch(task->target),
                                   ts_target_features(task->target), task->target_text,
                                   num_cores, err);
}

/* The target text with runs of white space made one space, trimmed. */
static char *canonical_spacing(const char *text)
{
    char *out = malloc(strlen(text) + 1);
    size_t n = 0;
    for (const char *p = text; out && *p; p++) {
        if (!isspace((unsigned char)*p))
            out[n++] = *p;
        else if (n > 0 && out[n - 1] != ' ')
            out[n++] = ' ';
    }
    if (out) {
        while (n > 0 && out[n - 1] == ' ')
            n--;
        out[n] = '\0';
    }
    return out;
}

/* op is a template's name or an operator; for an operator, the highest-priority
 * template that serves the "dtype" argument (float32 when absent) on the target. */
static TsStatus find_template(const char *op, const TsTemplateArgs *args,
                              const TsTemplateTarget *target, const TsTemplate **out,
                              TsError *err)
{
    TsDType dtype = ts_template_args_dtype_or_f32(args, "dtype");
    const TsTemplate *tmpl = ts_template_find(op);
    if (!tmpl)
        return ts_template_for_op(op, dtype, target, out, err);
    if (!ts_template_applies(tmpl, dtype, target)) {
        char name[TS_DTYPE_STR_MAX];
        return ts_fail(err, TS_EINVAL, "template %s does not serve dtype %s on target %s "
                       "(it needs its dtypes and features)", op, ts_dtype_str(dtype, name),
                       target->name);
    }
    *out = tmpl;
    return TS_OK;
}

static TsStatus check_args(const TsTemplate *tmpl, const TsTemplateArgs *args, TsError *err)
{
    for (int i = 0; tmpl->arg_names && tmpl->arg_names[i]; i++) {
        int64_t value;
        if (ts_template_args_get(args, tmpl->arg_names[i], &value, NULL) != TS_OK)
            return ts_fail(err, TS_EINVAL, "%s: missing argument %s", tmpl->name,
                           tmpl->arg_names[i]);
    }
    return TS_OK;
}

/* The dtype of the default config's output, as text. */
static TsStatus find_dtype(TsTuneTask *task, TsError *err)
{
    TsConfig config;
    TsTemplateInstance inst;
    TsStatus status = ts_tune_task_default(task, &config, err);
    if (status != TS_OK)
        return status;
    TsArena *arena = ts_arena_create();
    if (!arena)
        return ts_fail(err, TS_ENOMEM, "task %s: out of memory", task->name);
    status = task->tmpl->instantiate(&task->args, &task->isa, &config, arena, &inst, err);
    if (status == TS_OK && inst.num_tensors < 1)
        status = ts_fail(err, TS_EINVAL, "template %s built no tensors", task->tmpl->name);
    if (status == TS_OK)
        ts_dtype_str(ts_tensor_dtype(inst.tensors[inst.num_tensors - 1]), task->dtype);
    ts_arena_destroy(arena);
    return status;
}

static TsStatus describe(TsTuneTask *task, TsError *err)
{
    char args_text[512];
    ts_template_args_str(&task->args, args_text, sizeof args_text);
    size_t size = strlen(task->tmpl->name) + strlen(args_text) + 2;
    task->name = malloc(size);
    task->kernel_name = strdup(task->tmpl->name);
    if (!task->name || !task->kernel_name)
        return ts_fail(err, TS_ENOMEM, "task %s: out of memory", task->tmpl->name);
    snprintf(task->name, size, "%s%s%s", task->tmpl->name, args_text[0] ? " " : "", args_text);
    for (char *p = task->kernel_name; *p; p++)
        if (!isalnum((unsigned char)*p))
            *p = '_';
    return TS_OK;
}

static TsStatus task_init(TsTuneTask *task, const char *op, const TsTemplateArgs *args,
                          const char *target, TsError *err)
{
    task->args = *args;
    task->target_text = canonical_spacing(target);
    if (!task->target_text)
        return ts_fail(err, TS_ENOMEM, "task %s: out of memory", op);
    if (strlen(task->target_text) >= TS_RECORD_MAX_TARGET)
        return ts_fail(err, TS_EINVAL, "task %s: the target '%.40s...' is longer than the %d "
                       "characters a tuning record holds", op, task->target_text,
                       TS_RECORD_MAX_TARGET - 1);
    TsStatus status = ts_target_parse(target, &task->target, err);
    if (status != TS_OK)
        return status;
    status = template_target(task, err);
    if (status == TS_OK)
        status = find_template(op, args, &task->isa, &task->tmpl, err);
    if (status == TS_OK)
        status = check_args(task->tmpl, args, err);
    if (status == TS_OK)
        status = describe(task, err);
    if (status != TS_OK)
        return status;
    task->space = ts_config_space_create();
    if (!task->space)
        return ts_fail(err, TS_ENOMEM, "task %s: out of memory", task->name);
    status = task->tmpl->define_space(args, &task->isa, task->space, err);
    if (status == TS_OK && ts_space_size(task->space) < 1)
        status = ts_fail(err, TS_EINVAL, "task %s: the config space is empty", task->name);
    return status == TS_OK ? find_dtype(task, err) : status;
}

TsStatus ts_tune_task_create(const char *op, const TsTemplateArgs *args, const char *target,
                             TsTuneTask **out, TsError *err)
{
    if (!out)
        return ts_fail(err, TS_EINVAL, "tune task: out must not be NULL");
    *out = NULL;
    if (!op || !args || !target)
        return ts_fail(err, TS_EINVAL, "tune task: op, args and target must not be NULL");
    TsTuneTask *task = calloc(1, sizeof *task);
    if (!task)
        return ts_fail(err, TS_ENOMEM, "tune task %s: out of memory", op);
    TsStatus status = task_init(task, op, args, target, err);
    if (status != TS_OK) {
        ts_tune_task_free(task);
        return status;
    }
    *out = task;
    return TS_OK;
}

void ts_tune_task_free(TsTuneTask *task)
{
    if (!task)
        return;
    ts_config_space_free(task->space);
    ts_target_free(task->target);
    free(task->target_text);
    free(task->name);
    free(task->kernel_name);
    free(task);
}

const TsTemplate *ts_tune_task_template(const TsTuneTask *task)
{
    return task->tmpl;
}

const TsTemplateArgs *ts_tune_task_args(const TsTuneTask *task)
{
    return &task->args;
}

const TsTemplateTarget *ts_tune_task_isa(const TsTuneTask *task)
{
    return &task->isa;
}

const char *ts_tune_task_target(const TsTuneTask *task)
{
    return task->target_text;
}

const char *ts_tune_task_name(const TsTuneTask *task)
{
    return task->name;
}

const TsConfigSpace *ts_tune_task_space(const TsTuneTask *task)
{
    return task->space;
}

double ts_tune_task_flop(const TsTuneTask *task)
{
    return task->tmpl->flop(&task->args);
}

const char *tune_task_dtype(const TsTuneTask *task)
{
    return task->dtype;
}

const TsTarget *tune_task_parsed_target(const TsTuneTask *task)
{
    return task->target;
}

const char *tune_task_kernel_name(const TsTuneTask *task)
{
    return task->kernel_name;
}

TsStatus tune_task_instantiate(const TsTuneTask *task, int64_t index, TsArena *arena,
                               TsTemplateInstance *out, TsError *err)
{
    TsConfig config;
    TsStatus status = ts_space_get(task->space, index, &config, err);
    if (status != TS_OK)
        return status;
    memset(out, 0, sizeof *out);
    status = task->tmpl->instantiate(&task->args, &task->isa, &config, arena, out, err);
    if (status == TS_OK && (out->num_tensors < 1 || out->num_outputs < 1 ||
                            out->num_outputs > out->num_tensors || !out->sch))
        status = ts_fail(err, TS_EINVAL,
                         "template %s index %lld: an instance without a "
                         "schedule or outputs",
                         task->tmpl->name, (long long)index);
    return status;
}

TsStatus tune_task_lower_instance(const TsTuneTask *task, TsTemplateInstance *inst, bool reference,
                                  TsArena *arena, TsLoweredFunc **out, TsError *err)
{
    TsSchedule *sch = inst->sch;
    if (reference) {
        sch = ts_schedule_create(arena, inst->num_outputs,
                                 &inst->tensors[inst->num_tensors - inst->num_outputs]);
        if (!sch)
            return ts_arena_check(arena, err);
    }
    return ts_lower(sch, task->kernel_name, out, err);
}

TsStatus ts_tune_task_lower(const TsTuneTask *task, int64_t index, bool reference, TsArena *arena,
                            TsLoweredFunc **out, TsError *err)
{
    if (!task || !arena || !out)
        return ts_fail(err, TS_EINVAL, "tune task lower: task, arena and out must not be NULL");
    TsTemplateInstance inst;
    TsStatus status = tune_task_instantiate(task, index, arena, &inst, err);
    if (status != TS_OK)
        return status;
    return tune_task_lower_instance(task, &inst, reference, arena, out, err);
}

TsStatus ts_tune_task_default(const TsTuneTask *task, TsConfig *out, TsError *err)
{
    if (!task || !out)
        return ts_fail(err, TS_EINVAL, "tune task default: task and out must not be NULL");
    TsStatus status = task->tmpl->default_config(&task->args, &task->isa, task->space, out, err);
    if (status == TS_OK && out->space != task->space)
        status = ts_space_get(task->space, out->index, out, err);
    return status;
}
