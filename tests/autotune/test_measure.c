/* The measurer: the local runner on small dense tasks (positive costs, one per repeat,
 * outputs checked against the reference), builder isolation (a template that aborts,
 * hangs or is refused while building), runner isolation (a kernel that crashes or hangs,
 * through a hand-written module), wrong answers, the RPC runner unloading what it
 * measured (a device session's memory does not grow with candidates), and option
 * errors. With
 * TESSERA_MEASURE_RATE=1 it also measures candidates per second on a 512^3 dense. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "autotune/tune_internal.h"
#include "rpc_testing.h"
#include "tessera/tessera.h"
#include "tune_testing.h"

static void print_results(int n, const int64_t *indices, const TsMeasureResult *results)
{
    for (int i = 0; i < n; i++)
        if (results[i].error_no != TS_MEASURE_OK)
            fprintf(stderr, "candidate %lld: %s: %s\n", (long long)indices[i],
                    ts_measure_error_name(results[i].error_no), results[i].error_msg);
}

static void test_error_names_and_mean(void **state)
{
    (void)state;
    assert_string_equal(ts_measure_error_name(TS_MEASURE_OK), "ok");
    assert_string_equal(ts_measure_error_name(TS_MEASURE_BUILD_TIMEOUT), "build timeout");
    assert_string_equal(ts_measure_error_name(TS_MEASURE_DEVICE_LOST), "device lost");
    assert_string_equal(ts_measure_error_name(3), "unknown error number");
    TsMeasureResult r = { .num_costs = 2, .costs = { 1.0, 3.0 } };
    assert_true(ts_measure_mean_cost(&r) == 2.0);
    r.error_no = TS_MEASURE_RUNTIME_ERROR;
    assert_true(isinf(ts_measure_mean_cost(&r)));
    TsMeasureOptions o = ts_measure_options_default();
    assert_int_equal(o.number, 1);
    assert_int_equal(o.repeat, 3);
    assert_true(o.n_parallel >= 1);
    assert_null(o.rpc_host);
}

/* Measures n candidates of task spread over its space, checking them. */
static void measure_spread(TsTuneTask *task, int n, int repeat, bool overlap)
{
    TsMeasureOptions o = ts_measure_options_default();
    o.repeat = repeat;
    o.overlap = overlap;
    o.check_correctness = true;
    o.n_parallel = 2;
    TsMeasurer *m = NULL;
    TsError err;
    TsStatus st = ts_measurer_create(task, &o, &m, &err);
    if (st != TS_OK)
        fail_msg("measurer: %s", err.message);
    int64_t indices[16], size = ts_space_size(ts_tune_task_space(task));
    TsMeasureResult results[16];
    for (int i = 0; i < n; i++)
        indices[i] = (int64_t)i * size / n + (size > 2 * n ? 1 : 0);
    assert_int_equal(ts_measurer_run(m, n, indices, results, &err), TS_OK);
    print_results(n, indices, results);
    for (int i = 0; i < n; i++) {
        assert_int_equal(results[i].error_no, TS_MEASURE_OK);
        assert_int_equal(results[i].num_costs, repeat);
        for (int r = 0; r < repeat; r++)
            assert_true(results[i].costs[r] > 0 && results[i].costs[r] < 1);
        assert_true(results[i].all_cost >= results[i].costs[0]);
        assert_true(results[i].timestamp > 1.6e9);
    }
    ts_measurer_free(m);
}

static void test_local_matmul(void **state)
{
    (void)state;
    tt_register_templates();
    TsTuneTask *task = tt_task("test_matmul", 48, 40, 24);
    measure_spread(task, 6, 3, false);
    ts_tune_task_free(task);
}

static void test_local_dense(void **state)
{
    (void)state;
    TsTuneTask *task = tt_task("dense", 64, 48, 40);
    assert_string_equal(ts_tune_task_template(task)->name, "dense_pack");
    measure_spread(task, 8, 2, false);
    /* Measured as each is built: the same checks hold. */
    measure_spread(task, 8, 2, true);
    ts_tune_task_free(task);
}

/* A template that aborts, hangs or is refused while building costs its candidate only;
 * also when candidates are measured as they are built (overlap). */
static void build_isolation(bool overlap)
{
    tt_register_templates();
    TsTuneTask *task = tt_task("test_isolation", 0, 256, 0);
    TsMeasureOptions o = ts_measure_options_default();
    o.check_correctness = true;
    o.overlap = overlap;
    o.n_parallel = 2;
    o.build_timeout_s = 1.5;
    TsMeasurer *m;
    TsError err;
    assert_int_equal(ts_measurer_create(task, &o, &m, &err), TS_OK);
    const int64_t indices[] = { 1, 0, 2, 0, 3, 0 };
    TsMeasureResult results[6];
    assert_int_equal(ts_measurer_run(m, 6, indices, results, &err), TS_OK);
    print_results(6, indices, results);
    assert_int_equal(results[0].error_no, TS_MEASURE_BUILD_ERROR);
    assert_non_null(strstr(results[0].error_msg, "signal 6"));
    assert_int_equal(results[1].error_no, TS_MEASURE_OK);
    assert_int_equal(results[2].error_no, TS_MEASURE_BUILD_TIMEOUT);
    assert_non_null(strstr(results[2].error_msg, "timed out"));
    assert_true(results[2].all_cost >= 1.4);
    assert_int_equal(results[3].error_no, TS_MEASURE_OK);
    assert_int_equal(results[4].error_no, TS_MEASURE_INSTANTIATION_ERROR);
    assert_non_null(strstr(results[4].error_msg, "mode 3 is refused on purpose"));
    assert_int_equal(results[5].error_no, TS_MEASURE_OK);
    /* With overlap, candidate 1 was measured while candidate 2's build hung for 1.5 s;
     * without, every candidate is measured after the whole batch is built. */
    double gap = results[2].timestamp - results[1].timestamp;
    if (overlap ? !(gap > 0.5) : !(fabs(gap) < 0.5))
        fail_msg("overlap %d: candidate 1 measured %.3f s before candidate 2's timeout", overlap,
                 gap);
    /* The replaced workers build the next batch. */
    const int64_t again[] = { 0, 0, 0 };
    assert_int_equal(ts_measurer_run(m, 3, again, results, &err), TS_OK);
    for (int i = 0; i < 3; i++)
        assert_int_equal(results[i].error_no, TS_MEASURE_OK);
    ts_measurer_free(m);
    ts_tune_task_free(task);
}

static void test_build_isolation(void **state)
{
    (void)state;
    build_isolation(false);
}

static void test_build_isolation_overlap(void **state)
{
    (void)state;
    build_isolation(true);
}

static TuneArgSpec vector_spec(int64_t n)
{
    TuneArgSpec spec;
    memset(&spec, 0, sizeof spec);
    spec.num_args = 2;
    spec.num_outputs = 1;
    for (int i = 0; i < 2; i++) {
        spec.ndim[i] = 1;
        spec.shape[i][0] = n;
        spec.dtype[i] = TS_FLOAT32;
    }
    return spec;
}

static TuneRunRequest module_request(TuneModuleKind kind, const char *kernel, int64_t n)
{
    TuneRunRequest request;
    memset(&request, 0, sizeof request);
    snprintf(request.path, sizeof request.path, "%s",
             kind == TUNE_MODULE_OBJECT ? TT_ISOLATION_OBJECT : TT_ISOLATION_MODULE);
    request.kind = kind;
    snprintf(request.kernel, sizeof request.kernel, "%s", kernel);
    request.spec = vector_spec(n);
    request.time = ts_time_options_default();
    request.time.repeat = 2;
    return request;
}

/* A kernel that crashes or hangs costs its candidate; the next one is measured fine;
 * whether the runner loaded it as a shared object or linked its object file in the
 * measuring process. */
static void run_isolation(TuneModuleKind kind)
{
    TuneLocalRunner *runner;
    TsError err;
    TsMeasureResult result;
    assert_int_equal(tune_local_runner_create(&runner, &err), TS_OK);
    static const struct {
        const char *kernel;
        int error_no;
        const char *needle;
    } cases[] = {
        { "add_one", TS_MEASURE_OK, "" }, { "crash", TS_MEASURE_RUNTIME_ERROR, "signal 11" },
        { "add_one", TS_MEASURE_OK, "" }, { "hang", TS_MEASURE_RUN_TIMEOUT, "timed out after 1 s" },
        { "add_one", TS_MEASURE_OK, "" }, { "missing", TS_MEASURE_RUNTIME_ERROR, "missing" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        TuneRunRequest request = module_request(kind, cases[i].kernel, 1000);
        tune_local_runner_run(runner, &request, 1.0, &result);
        if (result.error_no != cases[i].error_no || !strstr(result.error_msg, cases[i].needle))
            fail_msg("%s case %zu (%s): %s: %s", request.path, i, cases[i].kernel,
                     ts_measure_error_name(result.error_no), result.error_msg);
        assert_int_equal(result.num_costs, cases[i].error_no == TS_MEASURE_OK ? 2 : 0);
    }
    tune_local_runner_free(runner);

    /* The same through the test hook. */
    TsMeasureOptions o = ts_measure_options_default();
    o.run_timeout_s = 1;
    TuneArgSpec spec = vector_spec(100);
    const char *path = kind == TUNE_MODULE_OBJECT ? TT_ISOLATION_OBJECT : TT_ISOLATION_MODULE;
    assert_int_equal(tune_measure_module(path, kind, "crash", &spec, &o, &result, &err), TS_OK);
    assert_int_equal(result.error_no, TS_MEASURE_RUNTIME_ERROR);
    assert_non_null(strstr(result.error_msg, "signal 11"));
    assert_int_equal(tune_measure_module(path, kind, "add_one", &spec, &o, &result, &err), TS_OK);
    assert_int_equal(result.error_no, TS_MEASURE_OK);
    assert_int_equal(result.num_costs, 3);
    assert_true(result.costs[0] > 0);
}

static void test_run_isolation(void **state)
{
    (void)state;
    run_isolation(TUNE_MODULE_SHARED);
}

static void test_run_isolation_jit(void **state)
{
    (void)state;
    run_isolation(TUNE_MODULE_OBJECT);
}

/* Outputs are compared with the reference file: a difference is WRONG_ANSWER. */
static void test_wrong_answer(void **state)
{
    (void)state;
    enum { N = 1000 };
    float input[N], want[N], magnitude[N];
    TuneArgSpec spec = vector_spec(N);
    tune_fill_input(&spec, 0, input);
    TuneLocalRunner *runner;
    TsError err;
    TsMeasureResult result;
    assert_int_equal(tune_local_runner_create(&runner, &err), TS_OK);
    for (int wrong = 0; wrong < 2; wrong++) {
        for (int i = 0; i < N; i++) {
            want[i] = input[i] + 1.0f + (wrong && i == 345 ? 0.01f : 0.0f);
            magnitude[i] = fabsf(input[i]) + 1.0f;
        }
        char path[512];
        snprintf(path, sizeof path, "%s", tt_temp_path(wrong ? "wrong.bin" : "right.bin"));
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        fwrite(want, sizeof want, 1, f);
        fwrite(magnitude, sizeof magnitude, 1, f);
        fclose(f);
        TuneRunRequest request = module_request(TUNE_MODULE_OBJECT, "add_one", N);
        snprintf(request.ref_path, sizeof request.ref_path, "%s", path);
        tune_local_runner_run(runner, &request, 5.0, &result);
        if (!wrong) {
            assert_int_equal(result.error_no, TS_MEASURE_OK);
            continue;
        }
        assert_int_equal(result.error_no, TS_MEASURE_WRONG_ANSWER);
        assert_non_null(strstr(result.error_msg, "element 345"));
    }
    tune_local_runner_free(runner);
}

/* Mappings of candidate modules in a process. */
static int candidate_mappings(pid_t pid)
{
    char path[64], line[4096];
    snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    int n = 0;
    while (fgets(line, sizeof line, f))
        n += strstr(line, "/candidate-") != NULL;
    fclose(f);
    return n;
}

/* The RPC runner unloads and removes each candidate once it is measured: after many,
 * its device session maps none of them. */
static RptServer rpc_server; /* stopped by the teardown, also when a check fails */

static int stop_rpc_server(void **state)
{
    (void)state;
    if (rpc_server.pid > 0)
        rpt_server_stop(&rpc_server);
    rpc_server.pid = 0;
    return 0;
}

static void test_rpc_runner_unloads(void **state)
{
    (void)state;
    RptServer server;
    rpt_server_start(&server, NULL);
    rpc_server = server;
    TsMeasureOptions o = ts_measure_options_default();
    o.rpc_host = "127.0.0.1";
    o.rpc_port = server.port;
    TuneRpcRunner *runner;
    TsError err;
    assert_ok(tune_rpc_runner_create(&o, &runner, &err), err);
    enum { CANDIDATES = 20 };
    for (int i = 0; i < CANDIDATES; i++) {
        TuneRunRequest request = module_request(TUNE_MODULE_SHARED, "add_one", 1000);
        TsMeasureResult result;
        tune_rpc_runner_run(runner, &request, NULL, NULL, 10.0, &result);
        if (result.error_no != TS_MEASURE_OK)
            fail_msg("candidate %d: %s: %s", i, ts_measure_error_name(result.error_no),
                     result.error_msg);
        assert_int_equal(result.num_costs, 2);
    }
    pid_t session = 0;
    assert_int_equal(rpt_server_sessions(&server, &session), 1);
    assert_int_equal(candidate_mappings(session), 0);
    tune_rpc_runner_free(runner);
}

static void test_option_errors(void **state)
{
    (void)state;
    tt_register_templates();
    TsTuneTask *task = tt_task("test_matmul", 8, 8, 8);
    TsMeasureOptions o = ts_measure_options_default();
    TsMeasurer *m = (TsMeasurer *)&o;
    TsError err;
    o.repeat = 0;
    assert_int_equal(ts_measurer_create(task, &o, &m, &err), TS_EINVAL);
    assert_null(m);
    assert_non_null(strstr(err.message, "repeat"));
    o = ts_measure_options_default();
    o.run_timeout_s = 0;
    assert_int_equal(ts_measurer_create(task, &o, &m, &err), TS_EINVAL);
    assert_non_null(strstr(err.message, "run_timeout_s"));
    ts_tune_task_free(task);

    TsTemplateArgs args = { 0 };
    ts_template_args_set(&args, "M", 8, &err);
    ts_template_args_set(&args, "N", 8, &err);
    ts_template_args_set(&args, "K", 8, &err);
    assert_int_equal(ts_tune_task_create("test_matmul", &args,
                                         "llvm -mtriple=aarch64-linux-gnu -mattr=+neon", &task,
                                         &err),
                     TS_OK);
    assert_int_equal(ts_tune_task_isa(task)->vector_bits, 128);
    assert_string_equal(ts_tune_task_isa(task)->arch, "aarch64");
    assert_true(ts_template_target_has(ts_tune_task_isa(task), "neon"));
    o = ts_measure_options_default();
    assert_int_equal(ts_measurer_create(task, &o, &m, &err), TS_EINVAL);
    assert_non_null(strstr(err.message, "not this machine's"));
    ts_tune_task_free(task);
}

static void test_task_errors(void **state)
{
    (void)state;
    TsTemplateArgs args = { 0 };
    TsTuneTask *task = NULL;
    TsError err;
    ts_template_args_set(&args, "M", 8, &err);
    assert_int_equal(ts_tune_task_create("no_such_op", &args, "llvm", &task, &err), TS_EINVAL);
    assert_non_null(strstr(err.message, "no_such_op"));
    assert_int_equal(ts_tune_task_create("dense", &args, "llvm", &task, &err), TS_EINVAL);
    assert_non_null(strstr(err.message, "N"));
    ts_template_args_set(&args, "N", 8, &err);
    ts_template_args_set(&args, "K", 8, &err);
    assert_int_equal(ts_tune_task_create("dense", &args, "llvm -mcpu=nonsense", &task, &err),
                     TS_EINVAL);
    assert_non_null(strstr(err.message, "nonsense"));
    assert_int_equal(
        ts_tune_task_create("dense", &args, "  llvm   -mcpu=skylake-avx512 ", &task, &err), TS_OK);
    assert_string_equal(ts_tune_task_target(task), "llvm -mcpu=skylake-avx512");
    assert_int_equal(ts_tune_task_isa(task)->vector_bits, 512);
    assert_true(ts_template_target_has(ts_tune_task_isa(task), "avx512f"));
    assert_false(ts_template_target_has(ts_tune_task_isa(task), "avx512vnni"));
    assert_string_equal(ts_tune_task_name(task), "dense_pack M=8 N=8 K=8");
    assert_true(ts_tune_task_flop(task) == 1024.0);
    ts_tune_task_free(task);
    assert_int_equal(ts_tune_task_create("dense", &args, "llvm -mcpu=haswell", &task, &err), TS_OK);
    assert_int_equal(ts_tune_task_isa(task)->vector_bits, 256);
    assert_false(ts_template_target_has(ts_tune_task_isa(task), "avx512f"));
    ts_tune_task_free(task);
    assert_int_equal(
        ts_tune_task_create("dense", &args, "llvm -mcpu=haswell -mattr=+avx512f", &task, &err),
        TS_OK);
    assert_int_equal(ts_tune_task_isa(task)->vector_bits, 512);
    ts_tune_task_free(task);
    /* A CPU the autotuner never listed, known by its features: VNNI without AVX-512 is
     * not there, and -mattr=-avx512f takes AVX-512 away from sapphirerapids. */
    assert_int_equal(ts_tune_task_create("dense", &args, "llvm -mcpu=znver4", &task, &err),
                     TS_OK);
    assert_int_equal(ts_tune_task_isa(task)->vector_bits, 512);
    ts_tune_task_free(task);
    assert_int_equal(ts_tune_task_create("dense", &args, "llvm -mcpu=sapphirerapids "
                                         "-mattr=-avx512f", &task, &err), TS_OK);
    assert_int_equal(ts_tune_task_isa(task)->vector_bits, 256);
    assert_true(ts_template_target_has(ts_tune_task_isa(task), "amx-int8"));
    ts_tune_task_free(task);
    /* dtypes: float32 given is the same task as none given; int8 has no template. */
    ts_template_args_set_dtype(&args, "dtype", TS_FLOAT32, &err);
    assert_int_equal(ts_tune_task_create("dense", &args, "llvm -mcpu=haswell", &task, &err), TS_OK);
    assert_string_equal(ts_tune_task_name(task), "dense_pack M=8 N=8 K=8 dtype=float32");
    ts_tune_task_free(task);
    ts_template_args_set_dtype(&args, "dtype", TS_INT8, &err);
    assert_int_equal(ts_tune_task_create("dense", &args, "llvm -mcpu=haswell", &task, &err),
                     TS_EINVAL);
    assert_non_null(strstr(err.message, "no template for op dense with dtype int8 on target "
                                        "llvm -mcpu=haswell"));
    assert_int_equal(ts_tune_task_create("dense_pack", &args, "llvm -mcpu=haswell", &task, &err),
                     TS_EINVAL);
    assert_non_null(strstr(err.message, "template dense_pack does not serve dtype int8"));
}

/* Candidates per second, end to end, on a 512^3 dense (TESSERA_MEASURE_RATE=1). */
static void test_rate(void **state)
{
    (void)state;
    const char *env = getenv("TESSERA_MEASURE_RATE");
    if (!env || strcmp(env, "1") != 0)
        skip();
    TsTuneTask *task = tt_task("dense", 512, 512, 512);
    TsMeasureOptions o = ts_measure_options_default();
    o.repeat = 2;
    TsMeasurer *m;
    TsError err;
    assert_int_equal(ts_measurer_create(task, &o, &m, &err), TS_OK);
    enum { BATCH = 16, ROUNDS = 4 };
    int64_t indices[BATCH];
    TsMeasureResult results[BATCH];
    uint64_t seed = 12345;
    int64_t size = ts_space_size(ts_tune_task_space(task));
    double start = tune_now(), build = 0, run = 0;
    int errors = 0;
    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < BATCH; i++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            indices[i] = (int64_t)((seed >> 33) % (uint64_t)size);
        }
        assert_int_equal(ts_measurer_run(m, BATCH, indices, results, &err), TS_OK);
        for (int i = 0; i < BATCH; i++) {
            errors += results[i].error_no != TS_MEASURE_OK;
            run += results[i].num_costs * ts_measure_mean_cost(&results[i]);
            build += results[i].all_cost;
        }
    }
    double elapsed = tune_now() - start;
    fprintf(stderr,
            "rate: %d candidates in %.2f s = %.1f candidates/s (%d errors; kernel time "
            "%.2f s, sum of all_cost %.2f s)\n",
            BATCH * ROUNDS, elapsed, BATCH * ROUNDS / elapsed, errors, run, build);
    ts_measurer_free(m);
    ts_tune_task_free(task);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_names_and_mean),
        cmocka_unit_test(test_task_errors),
        cmocka_unit_test(test_local_matmul),
        cmocka_unit_test(test_local_dense),
        cmocka_unit_test(test_build_isolation),
        cmocka_unit_test(test_build_isolation_overlap),
        cmocka_unit_test(test_run_isolation),
        cmocka_unit_test(test_run_isolation_jit),
        cmocka_unit_test_teardown(test_rpc_runner_unloads, stop_rpc_server),
        cmocka_unit_test(test_wrong_answer),
        cmocka_unit_test(test_option_errors),
        cmocka_unit_test(test_rate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
