/* Tuning records and logs: the JSON round trip of every field, append and read back, a
 * log cut off mid-write, damaged lines reported with their line numbers, and apply-best
 * (the fastest matching record; the default config and a warning on a miss; a record of
 * another template version skipped). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tessera/tessera.h"
#include "tune_testing.h"

static TsTuneTask *matmul_task(void)
{
    tt_register_templates();
    return tt_task("test_matmul", 64, 32, 16);
}

static TsMeasureResult good_result(double cost)
{
    TsMeasureResult r;
    memset(&r, 0, sizeof r);
    r.num_costs = 3;
    r.costs[0] = cost;
    r.costs[1] = cost * 1.25;
    r.costs[2] = cost * 0.75;
    r.all_cost = 0.123456789;
    r.timestamp = 1732250000.5;
    return r;
}

static void test_round_trip(void **state)
{
    (void)state;
    TsTuneTask *task = matmul_task();
    TsError err;
    TsMeasureResult result = good_result(1.0 / 3.0);
    result.error_no = TS_MEASURE_WRONG_ANSWER;
    snprintf(result.error_msg, sizeof result.error_msg, "output 0 \"C\" differs: \\ and \n");
    TsTuneRecord record, back;
    assert_int_equal(ts_tune_record_make(task, 7, &result, &record, &err), TS_OK);
    assert_string_equal(record.template_name, "test_matmul");
    assert_string_equal(record.target, "llvm");
    assert_string_equal(record.dtype, "float32");
    assert_true(ts_tune_record_matches(&record, task));
    char line[8192];
    assert_int_equal(ts_tune_record_to_json(&record, line, sizeof line, &err), TS_OK);
    assert_null(strchr(line, '\n'));
    assert_non_null(strstr(line, "\"input\":[\"llvm\",\"test_matmul\",{\"M\":64,\"N\":32,\"K\":16},"
                                 "\"float32\"]"));
    assert_non_null(strstr(line, "\"version\":0.2,"));
    assert_int_equal(ts_tune_record_from_json(line, &back, &err), TS_OK);
    assert_string_equal(back.target, record.target);
    assert_string_equal(back.template_name, record.template_name);
    assert_string_equal(back.dtype, record.dtype);
    assert_int_equal(back.args.num, 3);
    for (int i = 0; i < 3; i++) {
        assert_string_equal(back.args.name[i], record.args.name[i]);
        assert_int_equal(back.args.value[i], record.args.value[i]);
    }
    assert_int_equal(back.index, 7);
    assert_string_equal(back.entity, record.entity);
    assert_int_equal(back.result.error_no, TS_MEASURE_WRONG_ANSWER);
    assert_int_equal(back.result.num_costs, 3);
    for (int i = 0; i < 3; i++)
        assert_true(fabs(back.result.costs[i] - record.result.costs[i]) <=
                    1e-15 * record.result.costs[i]);
    assert_true(fabs(back.result.all_cost - 0.123456789) < 1e-15);
    assert_true(back.result.timestamp == 1732250000.5);
    assert_string_equal(back.result.error_msg, result.error_msg);
    assert_true(ts_tune_record_matches(&back, task));
    /* Another shape or target is another task. */
    back.args.value[0] = 65;
    assert_false(ts_tune_record_matches(&back, task));
    ts_tune_task_free(task);
}

/* A dtype argument is written as its name and read back as a dtype; a record without one
 * (as every record before dtype arguments) is float32's, and applies to a task that says
 * dtype=float32, not to one that says int8. */
static void test_dtype_args(void **state)
{
    (void)state;
    TsTuneTask *task = matmul_task();
    TsError err;
    TsTuneRecord record, back;
    TsMeasureResult result = good_result(1e-3);
    assert_int_equal(ts_tune_record_make(task, 3, &result, &record, &err), TS_OK);
    assert_int_equal(ts_template_args_set_dtype(&record.args, "dtype", TS_FLOAT32, &err), TS_OK);
    char line[8192];
    assert_int_equal(ts_tune_record_to_json(&record, line, sizeof line, &err), TS_OK);
    assert_non_null(strstr(line, "{\"M\":64,\"N\":32,\"K\":16,\"dtype\":\"float32\"}"));
    assert_int_equal(ts_tune_record_from_json(line, &back, &err), TS_OK);
    assert_int_equal(back.args.num, 4);
    assert_true(back.args.is_dtype[3]);
    assert_true(ts_dtype_eq(back.args.dtype[3], TS_FLOAT32));
    assert_true(ts_tune_record_matches(&back, task)); /* the task has no dtype: float32 */
    assert_int_equal(ts_template_args_set_dtype(&back.args, "dtype", TS_INT8, &err), TS_OK);
    assert_false(ts_tune_record_matches(&back, task));
    char *bad = strstr(line, "\"float32\"}");
    memcpy(bad, "\"floot32\"}", 10);
    assert_int_equal(ts_tune_record_from_json(line, &back, &err), TS_EPROTO);
    assert_non_null(strstr(err.message, "argument dtype in input[2]: \"floot32\" is not a dtype"));
    ts_tune_task_free(task);
}

/* A host target spelt out (-mcpu and the whole -mattr list) is several hundred characters:
 * its records round-trip; a target no record can hold is refused when the task is made. */
static void test_long_target(void **state)
{
    (void)state;
    tt_register_templates();
    char target[TS_RECORD_MAX_TARGET + 64] = "llvm -mcpu=skylake-avx512 -mattr=";
    while (strlen(target) < 700)
        strcat(target, "+avx512f,+avx512bw,");
    strcat(target, "+avx512vl");
    TsTemplateArgs args = { 0 };
    TsError err;
    assert_int_equal(ts_template_args_set(&args, "M", 8, &err), TS_OK);
    assert_int_equal(ts_template_args_set(&args, "N", 8, &err), TS_OK);
    assert_int_equal(ts_template_args_set(&args, "K", 8, &err), TS_OK);
    TsTuneTask *task;
    assert_int_equal(ts_tune_task_create("test_matmul", &args, target, &task, &err), TS_OK);
    TsTuneRecord record, back;
    TsMeasureResult result = good_result(1e-3);
    assert_int_equal(ts_tune_record_make(task, 1, &result, &record, &err), TS_OK);
    static char line[8192];
    assert_int_equal(ts_tune_record_to_json(&record, line, sizeof line, &err), TS_OK);
    assert_int_equal(ts_tune_record_from_json(line, &back, &err), TS_OK);
    assert_string_equal(back.target, target);
    assert_true(ts_tune_record_matches(&back, task));
    ts_tune_task_free(task);
    while (strlen(target) < TS_RECORD_MAX_TARGET + 8)
        strcat(target, ",+sse4.2");
    assert_int_equal(ts_tune_task_create("test_matmul", &args, target, &task, &err), TS_EINVAL);
    assert_non_null(strstr(err.message, "characters a tuning record holds"));
}

static void test_from_json_errors(void **state)
{
    (void)state;
    static const struct {
        const char *line, *needle;
    } cases[] = {
        { "{\"input\": ", "bad JSON" },
        { "[1, 2]", "not a JSON object" },
        { "{\"config\": {}}", "field input" },
        { "{\"input\": [\"llvm\", \"t\", {\"M\": \"x\"}, \"float32\"]}",
          "argument M in input[2]: \"x\" is not a dtype" },
        { "{\"input\": [\"llvm\", \"t\", {\"M\": 1.5}, \"float32\"]}",
          "argument M in input[2] is not an integer or a dtype" },
        { "{\"input\": [\"llvm\", \"t\", {}, \"float32\"], \"config\": {\"index\": -1, "
          "\"entity\": []}}",
          "config.index" },
        { "{\"input\": [\"llvm\", \"t\", {}, \"float32\"], \"config\": {\"index\": 1, "
          "\"entity\": []}, \"result\": [[], 0, 1, 2]}",
          "without costs" },
        { "{\"input\": [\"llvm\", \"t\", {}, \"float32\"], \"config\": {\"index\": 1, "
          "\"entity\": []}, \"result\": [[1e-3], 42, 1, 2]}",
          "result[1]" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        TsTuneRecord record;
        TsError err;
        assert_int_equal(ts_tune_record_from_json(cases[i].line, &record, &err), TS_EPROTO);
        if (!strstr(err.message, cases[i].needle))
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err.message, cases[i].needle);
    }
}

/* Appends records of indices 0..n-1 with cost (index + 1) ms. */
static void append_records(TsTuneTask *task, const char *path, int first, int n)
{
    TsTuneLog *log;
    TsError err;
    assert_int_equal(ts_tune_log_open(path, &log, &err), TS_OK);
    for (int i = first; i < first + n; i++) {
        TsMeasureResult result = good_result((i + 1) * 1e-3);
        TsTuneRecord record;
        assert_int_equal(ts_tune_record_make(task, i, &result, &record, &err), TS_OK);
        assert_int_equal(ts_tune_log_append(log, &record, &err), TS_OK);
    }
    ts_tune_log_close(log);
}

typedef struct Seen {
    int count;
    int64_t index[64];
} Seen;

static bool collect(const TsTuneRecord *record, void *user)
{
    Seen *seen = user;
    if (seen->count < 64)
        seen->index[seen->count] = record->index;
    seen->count++;
    return true;
}

static void test_append_and_read(void **state)
{
    (void)state;
    TsTuneTask *task = matmul_task();
    const char *path = tt_temp_path("append.jsonl");
    append_records(task, path, 0, 5);
    append_records(task, path, 5, 3); /* a second run appends */
    assert_int_equal(tt_count_lines(path), 8);
    Seen seen = { 0 };
    TtWarnings warnings = { 0 };
    int damaged = -1;
    TsError err;
    assert_int_equal(ts_tune_log_read(path, collect, &seen, tt_warn, &warnings, &damaged, &err),
                     TS_OK);
    assert_int_equal(seen.count, 8);
    assert_int_equal(damaged, 0);
    assert_int_equal(warnings.count, 0);
    for (int i = 0; i < 8; i++)
        assert_int_equal(seen.index[i], i);
    assert_int_equal(ts_tune_log_read(tt_temp_path("missing.jsonl"), collect, &seen, tt_warn,
                                      &warnings, NULL, &err),
                     TS_EIO);
    assert_non_null(strstr(err.message, "missing.jsonl"));
    ts_tune_task_free(task);
}

/* A run killed in the middle of a write leaves a partial last line: only it is lost, and
 * the next run's records start on a line of their own. */
static void test_cut_off_line(void **state)
{
    (void)state;
    TsTuneTask *task = matmul_task();
    const char *path = tt_temp_path("cut.jsonl");
    char saved[512];
    snprintf(saved, sizeof saved, "%s", path);
    append_records(task, saved, 0, 3);
    FILE *f = fopen(saved, "a");
    fputs("{\"input\": [\"llvm\", \"test_matmul\", {\"M\": 64", f);
    fclose(f);
    Seen seen = { 0 };
    TtWarnings warnings = { 0 };
    int damaged = 0;
    TsError err;
    assert_int_equal(ts_tune_log_read(saved, collect, &seen, tt_warn, &warnings, &damaged, &err),
                     TS_OK);
    assert_int_equal(seen.count, 3);
    assert_int_equal(damaged, 1);
    char want[600];
    snprintf(want, sizeof want, "%s:4: damaged record skipped", saved);
    assert_non_null(strstr(warnings.text, want));
    assert_non_null(strstr(warnings.text, "cut off"));
    /* Resuming appends after the damaged line, not onto it. */
    append_records(task, saved, 3, 2);
    memset(&seen, 0, sizeof seen);
    assert_int_equal(ts_tune_log_read(saved, collect, &seen, NULL, NULL, &damaged, &err), TS_OK);
    assert_int_equal(seen.count, 5);
    assert_int_equal(damaged, 1);
    assert_int_equal(seen.index[3], 3);
    assert_int_equal(seen.index[4], 4);
    ts_tune_task_free(task);
}

static void test_damaged_lines(void **state)
{
    (void)state;
    TsTuneTask *task = matmul_task();
    const char *path = tt_temp_path("damaged.jsonl");
    char saved[512];
    snprintf(saved, sizeof saved, "%s", path);
    append_records(task, saved, 0, 2);
    FILE *f = fopen(saved, "a");
    fputs("this is not JSON\n\n{\"input\": [\"llvm\"]}\n", f);
    fclose(f);
    append_records(task, saved, 2, 1);
    Seen seen = { 0 };
    TtWarnings warnings = { 0 };
    int damaged = 0;
    TsError err;
    assert_int_equal(ts_tune_log_read(saved, collect, &seen, tt_warn, &warnings, &damaged, &err),
                     TS_OK);
    assert_int_equal(seen.count, 3);
    assert_int_equal(damaged, 2);
    char want[600];
    snprintf(want, sizeof want, "%s:3: damaged record skipped: bad JSON", saved);
    assert_non_null(strstr(warnings.text, want));
    snprintf(want, sizeof want, "%s:5: damaged record skipped: field input", saved);
    assert_non_null(strstr(warnings.text, want));
    ts_tune_task_free(task);
}

static void test_apply_best(void **state)
{
    (void)state;
    TsTuneTask *task = matmul_task();
    TsError err;
    char log1[512], log2[512];
    snprintf(log1, sizeof log1, "%s", tt_temp_path("best1.jsonl"));
    snprintf(log2, sizeof log2, "%s", tt_temp_path("best2.jsonl"));
    append_records(task, log1, 3, 4); /* indices 3..6, costs 4..7 ms */
    TsTuneLog *log;
    assert_int_equal(ts_tune_log_open(log2, &log, &err), TS_OK);
    TsTuneRecord record;
    TsMeasureResult fast = good_result(1e-3), failed = good_result(1e-6);
    failed.error_no = TS_MEASURE_RUNTIME_ERROR;
    failed.num_costs = 0;
    assert_int_equal(ts_tune_record_make(task, 9, &fast, &record, &err), TS_OK);
    assert_int_equal(ts_tune_log_append(log, &record, &err), TS_OK);
    assert_int_equal(ts_tune_record_make(task, 11, &failed, &record, &err), TS_OK);
    assert_int_equal(ts_tune_log_append(log, &record, &err), TS_OK);
    /* A faster record of another shape does not count. */
    TsTuneTask *other = tt_task("test_matmul", 32, 32, 16);
    TsMeasureResult fastest = good_result(1e-9);
    assert_int_equal(ts_tune_record_make(other, 2, &fastest, &record, &err), TS_OK);
    assert_int_equal(ts_tune_log_append(log, &record, &err), TS_OK);
    ts_tune_log_close(log);

    const char *logs[] = { log1, log2 };
    TsConfig config;
    TsTuneRecord best;
    bool found = false;
    TtWarnings warnings = { 0 };
    assert_int_equal(
        ts_tune_apply_best(task, 2, logs, tt_warn, &warnings, &config, &found, &best, &err), TS_OK);
    assert_true(found);
    assert_int_equal(config.index, 9);
    assert_int_equal(best.index, 9);
    assert_int_equal(warnings.count, 0);
    /* Only the first log: its fastest is index 3. */
    assert_int_equal(
        ts_tune_apply_best(task, 1, logs, tt_warn, &warnings, &config, &found, NULL, &err), TS_OK);
    assert_true(found);
    assert_int_equal(config.index, 3);
    ts_tune_task_free(other);
    ts_tune_task_free(task);
}

static void test_apply_best_miss(void **state)
{
    (void)state;
    TsTuneTask *task = matmul_task();
    TsTuneTask *other = tt_task("test_matmul", 16, 16, 16);
    TsError err;
    char path[512];
    snprintf(path, sizeof path, "%s", tt_temp_path("miss.jsonl"));
    append_records(other, path, 0, 3);
    const char *logs[] = { path };
    TsConfig config, want;
    bool found = true;
    TtWarnings warnings = { 0 };
    assert_int_equal(
        ts_tune_apply_best(task, 1, logs, tt_warn, &warnings, &config, &found, NULL, &err), TS_OK);
    assert_false(found);
    assert_int_equal(ts_tune_task_default(task, &want, &err), TS_OK);
    assert_int_equal(config.index, want.index);
    assert_int_equal(warnings.count, 1);
    assert_string_equal(warnings.text, "no tuning record for test_matmul M=64 N=32 K=16 on "
                                       "'llvm': using the default config\n");
    /* No logs at all: the same. */
    assert_int_equal(
        ts_tune_apply_best(task, 0, NULL, tt_warn, &warnings, &config, &found, NULL, &err), TS_OK);
    assert_false(found);
    assert_int_equal(warnings.count, 2);
    ts_tune_task_free(other);
    ts_tune_task_free(task);
}

/* A record whose entity is not the space's at its index (a log of another version of
 * the template) is skipped with a warning; the next best wins. */
static void test_entity_mismatch(void **state)
{
    (void)state;
    TsTuneTask *task = matmul_task();
    TsError err;
    char path[512];
    snprintf(path, sizeof path, "%s", tt_temp_path("entity.jsonl"));
    append_records(task, path, 4, 2); /* 5 and 6 ms */
    TsTuneLog *log;
    TsTuneRecord record;
    TsMeasureResult fast = good_result(1e-4);
    assert_int_equal(ts_tune_record_make(task, 1, &fast, &record, &err), TS_OK);
    snprintf(record.entity, sizeof record.entity, "[[\"tile_i\",\"sp\",[-1,3]]]");
    assert_int_equal(ts_tune_log_open(path, &log, &err), TS_OK);
    assert_int_equal(ts_tune_log_append(log, &record, &err), TS_OK);
    ts_tune_log_close(log);
    const char *logs[] = { path };
    TsConfig config;
    bool found = false;
    TtWarnings warnings = { 0 };
    assert_int_equal(
        ts_tune_apply_best(task, 1, logs, tt_warn, &warnings, &config, &found, NULL, &err), TS_OK);
    assert_true(found);
    assert_int_equal(config.index, 4);
    assert_int_equal(warnings.count, 1);
    assert_non_null(strstr(warnings.text, ":3: record of test_matmul M=64 N=32 K=16 index 1"));
    assert_non_null(strstr(warnings.text, "skipped"));
    ts_tune_task_free(task);
}

static void test_log_open_errors(void **state)
{
    (void)state;
    TsTuneLog *log = NULL;
    TsError err;
    assert_int_equal(ts_tune_log_open("/nonexistent-dir/x/tune.jsonl", &log, &err), TS_EIO);
    assert_null(log);
    assert_non_null(strstr(err.message, "/nonexistent-dir/x/tune.jsonl"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_dtype_args),
        cmocka_unit_test(test_long_target),      cmocka_unit_test(test_from_json_errors),
        cmocka_unit_test(test_append_and_read), cmocka_unit_test(test_cut_off_line),
        cmocka_unit_test(test_damaged_lines),   cmocka_unit_test(test_apply_best),
        cmocka_unit_test(test_apply_best_miss), cmocka_unit_test(test_entity_mismatch),
        cmocka_unit_test(test_log_open_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
