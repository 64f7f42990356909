/* Tuning records and logs: one measured candidate as one line of JSON shaped like
 * AutoTVM's records (Jansson writes and parses it), logs appended one line per write()
 * so that a run killed at any moment loses at most its last line, a reader that reports
 * and skips damaged lines, and apply-best, which picks the fastest good record of a task
 * when an operator is built (or the template's default config, with a warning).
 *
 * Numbers are written with 16 significant digits: "version": 0.2 stays 0.2 in the file,
 * and a cost comes back within one part in 10^15 (17 digits would make it bit-exact but
 * print 0.2 as 0.20000000000000001 in every line a user reads).
 *
 * Durability: a record reaches the kernel with one write() on an O_APPEND descriptor, so
 * a killed process loses nothing it has appended; the log is fsync'ed once, at close,
 * not per line (an fsync per candidate would cost more than some candidates' whole
 * measurement, and only a power cut could lose the unsynced tail). */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "autotune/tune_internal.h"

#define RECORD_VERSION 0.2
#define TESSERA_VERSION_TEXT "0.1.0"
#define JSON_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(16))

enum { LINE_MAX_BYTES = 8192 };

void tune_warn(TsTuneWarnFn warn, void *warn_user, const char *fmt, ...)
{
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    if (warn)
        warn(message, warn_user);
    else
        fprintf(stderr, "warning: %s\n", message);
}

/* ---- making and matching records ---- */

TsStatus ts_tune_record_make(const TsTuneTask *task, int64_t index, const TsMeasureResult *result,
                             TsTuneRecord *out, TsError *err)
{
    if (!task || !result || !out)
        return ts_fail(err, TS_EINVAL, "record: task, result and out must not be NULL");
    memset(out, 0, sizeof *out);
    TsConfig config;
    TsStatus status = ts_space_get(ts_tune_task_space(task), index, &config, err);
    if (status != TS_OK)
        return status;
    status = ts_config_entity(&config, out->entity, sizeof out->entity, err);
    if (status != TS_OK)
        return status;
    const char *target = ts_tune_task_target(task);
    const char *name = ts_tune_task_template(task)->name;
    if (strlen(target) >= sizeof out->target || strlen(name) >= sizeof out->template_name)
        return ts_fail(err, TS_EINVAL, "record of %s: the target '%s' is too long for a record",
                       ts_tune_task_name(task), target);
    strcpy(out->target, target);
    strcpy(out->template_name, name);
    snprintf(out->dtype, sizeof out->dtype, "%s", tune_task_dtype(task));
    out->args = *ts_tune_task_args(task);
    out->index = index;
    out->result = *result;
    if (out->result.num_costs < 0 || out->result.num_costs > TS_MEASURE_MAX_REPEAT)
        return ts_fail(err, TS_EINVAL, "record of %s index %lld: %d costs (at most %d)",
                       ts_tune_task_name(task), (long long)index, out->result.num_costs,
                       TS_MEASURE_MAX_REPEAT);
    out->result.error_msg[TS_MEASURE_MAX_MESSAGE - 1] = '\0';
    return TS_OK;
}

bool ts_tune_record_matches(const TsTuneRecord *record, const TsTuneTask *task)
{
    if (!record || !task)
        return false;
    return strcmp(record->template_name, ts_tune_task_template(task)->name) == 0 &&
           strcmp(record->target, ts_tune_task_target(task)) == 0 &&
           strcmp(record->dtype, tune_task_dtype(task)) == 0 &&
           ts_template_args_equal(&record->args, ts_tune_task_args(task));
}

/* Entities are compared as JSON values, so spacing does not matter. */
bool tune_record_entity_matches(const TsTuneRecord *record, const TsConfigSpace *space)
{
    TsConfig config;
    char entity[TS_RECORD_MAX_ENTITY];
    if (ts_space_get(space, record->index, &config, NULL) != TS_OK ||
        ts_config_entity(&config, entity, sizeof entity, NULL) != TS_OK)
        return false;
    json_t *want = json_loads(entity, JSON_DECODE_ANY, NULL);
    json_t *got = json_loads(record->entity, JSON_DECODE_ANY, NULL);
    bool same = want && got && json_equal(want, got);
    json_decref(want);
    json_decref(got);
    return same;
}

/* ---- to JSON ---- */

static json_t *input_json(const TsTuneRecord *record)
{
    json_t *args = json_object();
    for (int i = 0; args && i < record->args.num; i++) {
        char dtype[TS_DTYPE_STR_MAX];
        json_object_set_new(args, record->args.name[i],
                            record->args.is_dtype[i]
                                ? json_string(ts_dtype_str(record->args.dtype[i], dtype))
                                : json_integer(record->args.value[i]));
    }
    return json_pack("[s, s, o, s]", record->target, record->template_name, args, record->dtype);
}

static json_t *result_json(const TsMeasureResult *result)
{
    json_t *costs = json_array();
    for (int i = 0; costs && i < result->num_costs; i++)
        json_array_append_new(costs, json_real(result->costs[i]));
    return json_pack("[o, i, f, f]", costs, (json_int_t)result->error_no, result->all_cost,
                     result->timestamp);
}

TsStatus ts_tune_record_to_json(const TsTuneRecord *record, char *buf, size_t size, TsError *err)
{
    if (!record || !buf)
        return ts_fail(err, TS_EINVAL, "record to JSON: record and buf must not be NULL");
    if (record->result.num_costs < 0 || record->result.num_costs > TS_MEASURE_MAX_REPEAT)
        return ts_fail(err, TS_EINVAL, "record of %s index %lld: %d costs (at most %d)",
                       record->template_name, (long long)record->index, record->result.num_costs,
                       TS_MEASURE_MAX_REPEAT);
    json_error_t jerr;
    json_t *entity = json_loads(record->entity[0] ? record->entity : "[]", JSON_DECODE_ANY, &jerr);
    if (!entity)
        return ts_fail(err, TS_EINVAL, "record of %s index %lld: the entity is not JSON: %s",
                       record->template_name, (long long)record->index, jerr.text);
    char error_msg[TS_MEASURE_MAX_MESSAGE];
    snprintf(error_msg, sizeof error_msg, "%s", record->result.error_msg);
    json_t *root =
        json_pack("{s: o, s: {s: I, s: o}, s: o, s: s, s: f, s: s}", "input", input_json(record),
                  "config", "index", (json_int_t)record->index, "entity", entity, "result",
                  result_json(&record->result), "error_msg", error_msg, "version", RECORD_VERSION,
                  "tessera_version", TESSERA_VERSION_TEXT);
    if (!root)
        return ts_fail(err, TS_EINVAL,
                       "record of %s index %lld: cannot be written as JSON "
                       "(a text that is not UTF-8?)",
                       record->template_name, (long long)record->index);
    TsStatus status = TS_OK;
    size_t need = json_dumpb(root, buf, size, JSON_FLAGS);
    if (need == 0 || need >= size)
        status = ts_fail(err, TS_EINVAL,
                         "record of %s index %lld: %zu bytes of JSON do not fit "
                         "in %zu",
                         record->template_name, (long long)record->index, need, size);
    else
        buf[need] = '\0';
    json_decref(root);
    return status;
}

/* ---- from JSON ---- */

static TsStatus copy_text(const json_t *value, const char *field, char *dst, size_t size,
                          TsError *err)
{
    if (!json_is_string(value))
        return ts_fail(err, TS_EPROTO, "field %s is not a string", field);
    if (json_string_length(value) >= size)
        return ts_fail(err, TS_EPROTO, "field %s is longer than %zu bytes", field, size - 1);
    strcpy(dst, json_string_value(value));
    return TS_OK;
}

static TsStatus parse_args(const json_t *args, TsTemplateArgs *out, TsError *err)
{
    if (!json_is_object(args))
        return ts_fail(err, TS_EPROTO, "field input[2] (the arguments) is not an object");
    const char *name;
    json_t *value;
    memset(out, 0, sizeof *out);
    json_object_foreach((json_t *)args, name, value)
    {
        TsDType dtype;
        if (json_is_string(value) && !ts_dtype_parse(json_string_value(value), &dtype))
            return ts_fail(err, TS_EPROTO, "argument %s in input[2]: \"%s\" is not a dtype",
                           name, json_string_value(value));
        if (!json_is_integer(value) && !json_is_string(value))
            return ts_fail(err, TS_EPROTO, "argument %s in input[2] is not an integer or a "
                           "dtype", name);
        if ((json_is_string(value)
                 ? ts_template_args_set_dtype(out, name, dtype, NULL)
                 : ts_template_args_set(out, name, json_integer_value(value), NULL)) != TS_OK)
            return ts_fail(err, TS_EPROTO,
                           "argument %s in input[2]: too many arguments or "
                           "name too long",
                           name);
    }
    return TS_OK;
}

static TsStatus parse_input(const json_t *input, TsTuneRecord *out, TsError *err)
{
    if (!json_is_array(input) || json_array_size(input) < 4)
        return ts_fail(err, TS_EPROTO, "field input is not an array of 4 items");
    TsStatus status = copy_text(json_array_get(input, 0), "input[0] (the target)", out->target,
                                sizeof out->target, err);
    if (status == TS_OK)
        status = copy_text(json_array_get(input, 1), "input[1] (the template)", out->template_name,
                           sizeof out->template_name, err);
    if (status == TS_OK)
        status = parse_args(json_array_get(input, 2), &out->args, err);
    if (status == TS_OK)
        status = copy_text(json_array_get(input, 3), "input[3] (the dtype)", out->dtype,
                           sizeof out->dtype, err);
    return status;
}

static TsStatus parse_config(const json_t *config, TsTuneRecord *out, TsError *err)
{
    json_t *index = json_object_get(config, "index");
    json_t *entity = json_object_get(config, "entity");
    if (!json_is_object(config))
        return ts_fail(err, TS_EPROTO, "field config is not an object");
    if (!json_is_integer(index) || json_integer_value(index) < 0)
        return ts_fail(err, TS_EPROTO, "field config.index is not an integer >= 0");
    if (!json_is_array(entity))
        return ts_fail(err, TS_EPROTO, "field config.entity is not an array");
    out->index = json_integer_value(index);
    size_t need = json_dumpb(entity, out->entity, sizeof out->entity, JSON_FLAGS);
    if (need == 0 || need >= sizeof out->entity)
        return ts_fail(err, TS_EPROTO, "field config.entity is longer than %d bytes",
                       TS_RECORD_MAX_ENTITY - 1);
    out->entity[need] = '\0';
    return TS_OK;
}

static TsStatus parse_result(const json_t *result, TsMeasureResult *out, TsError *err)
{
    if (!json_is_array(result) || json_array_size(result) < 4)
        return ts_fail(err, TS_EPROTO, "field result is not an array of 4 items");
    json_t *costs = json_array_get(result, 0);
    json_t *error_no = json_array_get(result, 1);
    if (!json_is_array(costs) || json_array_size(costs) > TS_MEASURE_MAX_REPEAT)
        return ts_fail(err, TS_EPROTO,
                       "field result[0] (the costs) is not an array of at most "
                       "%d numbers",
                       TS_MEASURE_MAX_REPEAT);
    for (size_t i = 0; i < json_array_size(costs); i++) {
        if (!json_is_number(json_array_get(costs, i)))
            return ts_fail(err, TS_EPROTO, "field result[0][%zu] (a cost) is not a number", i);
        out->costs[i] = json_number_value(json_array_get(costs, i));
    }
    out->num_costs = (int)json_array_size(costs);
    if (!json_is_integer(error_no) || json_integer_value(error_no) < 0 ||
        json_integer_value(error_no) > TS_MEASURE_DEVICE_LOST)
        return ts_fail(err, TS_EPROTO, "field result[1] (the error number) is not one of 0..%d",
                       TS_MEASURE_DEVICE_LOST);
    out->error_no = (int)json_integer_value(error_no);
    if (!json_is_number(json_array_get(result, 2)) || !json_is_number(json_array_get(result, 3)))
        return ts_fail(err, TS_EPROTO,
                       "field result[2] or result[3] (total time, timestamp) is "
                       "not a number");
    out->all_cost = json_number_value(json_array_get(result, 2));
    out->timestamp = json_number_value(json_array_get(result, 3));
    if (out->error_no == TS_MEASURE_OK && out->num_costs == 0)
        return ts_fail(err, TS_EPROTO, "field result[0]: a good result without costs");
    return TS_OK;
}

static TsStatus parse_record(const json_t *root, TsTuneRecord *out, TsError *err)
{
    if (!json_is_object(root))
        return ts_fail(err, TS_EPROTO, "not a JSON object");
    TsStatus status = parse_input(json_object_get(root, "input"), out, err);
    if (status == TS_OK)
        status = parse_config(json_object_get(root, "config"), out, err);
    if (status == TS_OK)
        status = parse_result(json_object_get(root, "result"), &out->result, err);
    json_t *message = json_object_get(root, "error_msg");
    if (status == TS_OK && message) /* optional: AutoTVM's records have none */
        status = json_is_string(message)
                     ? TS_OK
                     : ts_fail(err, TS_EPROTO, "field error_msg is not a string");
    if (status == TS_OK && message)
        snprintf(out->result.error_msg, sizeof out->result.error_msg, "%s",
                 json_string_value(message));
    return status;
}

TsStatus ts_tune_record_from_json(const char *line, TsTuneRecord *out, TsError *err)
{
    if (!line || !out)
        return ts_fail(err, TS_EINVAL, "record from JSON: line and out must not be NULL");
    memset(out, 0, sizeof *out);
    json_error_t jerr;
    json_t *root = json_loads(line, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return ts_fail(err, TS_EPROTO, "bad JSON at column %d: %s", jerr.column, jerr.text);
    TsStatus status = parse_record(root, out, err);
    json_decref(root);
    return status;
}

/* ---- logs ---- */

struct TsTuneLog {
    int fd;
    char *path;
};

/* A log whose last line was cut off by a kill gets a newline first, so the next record
 * starts a line of its own instead of joining the damaged one. */
static TsStatus end_cut_off_line(int fd, const char *path, TsError *err)
{
    struct stat st;
    char last = '\n';
    if (fstat(fd, &st) != 0)
        return ts_fail(err, TS_EIO, "tuning log %s: %s", path, strerror(errno));
    if (st.st_size == 0)
        return TS_OK;
    int rfd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t got = rfd >= 0 ? pread(rfd, &last, 1, st.st_size - 1) : -1;
    if (rfd >= 0)
        close(rfd);
    if (got != 1)
        return ts_fail(err, TS_EIO, "tuning log %s: cannot read its end: %s", path,
                       strerror(errno));
    if (last != '\n' && write(fd, "\n", 1) != 1)
        return ts_fail(err, TS_EIO, "tuning log %s: %s", path, strerror(errno));
    return TS_OK;
}

TsStatus ts_tune_log_open(const char *path, TsTuneLog **out, TsError *err)
{
    if (!path || !out)
        return ts_fail(err, TS_EINVAL, "tuning log: path and out must not be NULL");
    *out = NULL;
    TsTuneLog *log = calloc(1, sizeof *log);
    if (!log || !(log->path = strdup(path))) {
        free(log);
        return ts_fail(err, TS_ENOMEM, "tuning log %s: out of memory", path);
    }
    log->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    TsStatus status =
        log->fd < 0 ? ts_fail(err, TS_EIO, "tuning log %s: cannot open: %s", path, strerror(errno))
                    : end_cut_off_line(log->fd, path, err);
    if (status != TS_OK) {
        ts_tune_log_close(log);
        return status;
    }
    *out = log;
    return TS_OK;
}

TsStatus ts_tune_log_append(TsTuneLog *log, const TsTuneRecord *record, TsError *err)
{
    if (!log || !record)
        return ts_fail(err, TS_EINVAL, "tuning log append: log and record must not be NULL");
    char line[LINE_MAX_BYTES];
    TsStatus status = ts_tune_record_to_json(record, line, sizeof line - 1, err);
    if (status != TS_OK)
        return status;
    size_t len = strlen(line);
    line[len++] = '\n';
    /* One write() for the whole line; a short write (a full disk) is finished with
     * more, which only a kill in between could cut. */
    for (size_t done = 0; done < len;) {
        ssize_t wrote = write(log->fd, line + done, len - done);
        if (wrote < 0 && errno == EINTR)
            continue;
        if (wrote <= 0)
            return ts_fail(err, TS_EIO, "tuning log %s: cannot append: %s", log->path,
                           wrote < 0 ? strerror(errno) : "nothing written");
        done += (size_t)wrote;
    }
    return TS_OK;
}

void ts_tune_log_close(TsTuneLog *log)
{
    if (!log)
        return;
    if (log->fd >= 0) {
        fsync(log->fd);
        close(log->fd);
    }
    free(log->path);
    free(log);
}

/* Whether a line holds nothing but white space. */
static bool is_blank(const char *line)
{
    return line[strspn(line, " \t\r\n")] == '\0';
}

TsStatus tune_log_read_lines(const char *path, TuneLineFn fn, void *user, TsTuneWarnFn warn,
                             void *warn_user, int *num_damaged, TsError *err)
{
    if (num_damaged)
        *num_damaged = 0;
    if (!path || !fn)
        return ts_fail(err, TS_EINVAL, "tuning log read: path and fn must not be NULL");
    FILE *f = fopen(path, "r");
    if (!f)
        return ts_fail(err, TS_EIO, "tuning log %s: cannot open: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    TsTuneRecord *record = malloc(sizeof *record);
    TsStatus status =
        record ? TS_OK : ts_fail(err, TS_ENOMEM, "tuning log %s: out of memory", path);
    for (int lineno = 1; status == TS_OK && (len = getline(&line, &cap, f)) > 0; lineno++) {
        bool cut_off = line[len - 1] != '\n';
        if (is_blank(line))
            continue;
        TsError line_err;
        if (memchr(line, '\0', (size_t)len))
            ts_fail(&line_err, TS_EPROTO, "a NUL byte in the line");
        else if (ts_tune_record_from_json(line, record, &line_err) == TS_OK)
            line_err.status = TS_OK;
        if (line_err.status == TS_OK) {
            if (!fn(record, lineno, user))
                break;
            continue;
        }
        if (num_damaged)
            (*num_damaged)++;
        tune_warn(warn, warn_user, "%s:%d: damaged record skipped: %s%s", path, lineno,
                  line_err.message, cut_off ? " (the last line, cut off)" : "");
    }
    if (status == TS_OK && ferror(f))
        status = ts_fail(err, TS_EIO, "tuning log %s: read error: %s", path, strerror(errno));
    free(record);
    free(line);
    fclose(f);
    return status;
}

typedef struct PlainReader {
    TsTuneRecordFn fn;
    void *user;
} PlainReader;

static bool plain_line(const TsTuneRecord *record, int line, void *user)
{
    (void)line;
    PlainReader *reader = user;
    return reader->fn(record, reader->user);
}

TsStatus ts_tune_log_read(const char *path, TsTuneRecordFn fn, void *user, TsTuneWarnFn warn,
                          void *warn_user, int *num_damaged, TsError *err)
{
    if (!fn)
        return ts_fail(err, TS_EINVAL, "tuning log read: fn must not be NULL");
    PlainReader reader = { fn, user };
    return tune_log_read_lines(path, plain_line, &reader, warn, warn_user, num_damaged, err);
}

/* ---- apply-best ---- */

typedef struct BestSearch {
    const TsTuneTask *task;
    const char *path;
    TsTuneWarnFn warn;
    void *warn_user;
    bool found;
    double best_cost;
    TsTuneRecord best;
} BestSearch;

static bool consider_record(const TsTuneRecord *record, int line, void *user)
{
    BestSearch *search = user;
    if (record->result.error_no != TS_MEASURE_OK || !ts_tune_record_matches(record, search->task))
        return true;
    double cost = ts_measure_mean_cost(&record->result);
    if (!(cost < (search->found ? search->best_cost : INFINITY)))
        return true;
    if (!tune_record_entity_matches(record, ts_tune_task_space(search->task))) {
        tune_warn(search->warn, search->warn_user,
                  "%s:%d: record of %s index %lld has entity %s, which is not the space's at "
                  "that index (a log of another version of the template?): skipped",
                  search->path, line, ts_tune_task_name(search->task), (long long)record->index,
                  record->entity);
        return true;
    }
    search->found = true;
    search->best_cost = cost;
    search->best = *record;
    return true;
}

TsStatus ts_tune_apply_best(const TsTuneTask *task, int num_logs, const char *const *logs,
                            TsTuneWarnFn warn, void *warn_user, TsConfig *out, bool *found,
                            TsTuneRecord *best, TsError *err)
{
    if (!task || !out || !found || (num_logs > 0 && !logs))
        return ts_fail(err, TS_EINVAL, "apply best: task, logs, out and found must not be NULL");
    *found = false;
    BestSearch *search = calloc(1, sizeof *search);
    if (!search)
        return ts_fail(err, TS_ENOMEM, "apply best for %s: out of memory", ts_tune_task_name(task));
    search->task = task;
    search->warn = warn;
    search->warn_user = warn_user;
    TsStatus status = TS_OK;
    for (int i = 0; status == TS_OK && i < num_logs; i++) {
        search->path = logs[i];
        status = tune_log_read_lines(logs[i], consider_record, search, warn, warn_user, NULL, err);
    }
    if (status != TS_OK)
        goto out_free_search;
    if (search->found) {
        status = ts_space_get(ts_tune_task_space(task), search->best.index, out, err);
        *found = status == TS_OK;
        if (best && status == TS_OK)
            *best = search->best;
        goto out_free_search;
    }
    tune_warn(warn, warn_user, "no tuning record for %s on '%s': using the default config",
              ts_tune_task_name(task), ts_tune_task_target(task));
    status = ts_tune_task_default(task, out, err);
out_free_search:
    free(search);
    return status;
}
