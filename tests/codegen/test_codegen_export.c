/* The export round trip: kernels built into a shared object with ts_build_shared, then
 * loaded and run by a separate program (cg_export_helper) that links only
 * libtessera_runtime, the way a board runs them. This process JIT-compiles the same
 * kernels, checks them against the reference interpreter, and writes their inputs and
 * outputs for the helper, which must reproduce the outputs bit for bit (same object
 * code, same inputs) and see a wrong call fail with the kernel's message, which proves
 * the module's runtime symbols (ts_runtime_set_error, ts_parallel_launch) resolved in
 * the helper's process.
 *
 * The kernels: a blocked float32 matmul (parallel, vectorized, unrolled), a softmax
 * (libm's exp, a local buffer on the heap, parallel rows) and an int8 matmul
 * accumulating in int32.
 *
 * The same kernels written as an object file (ts_build_object) and linked back into this
 * process by ts_jit_load_object, as the local measurer runs candidates, must compute what
 * ts_build_jit's do, bit for bit. */
#include <setjmp.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "cg_testing.h"

extern char **environ;

static TsLoweredFunc *softmax(TsArena *A, TsTensor **result)
{
    TsTensor *data = ts_placeholder(A, "data", 2, (int64_t[]){ 8, 1536 }, TS_FLOAT32);
    TsTensor *out = ts_op_softmax(A, data, 1);
    assert_non_null(out);
    TsSchedule *sch = ts_schedule_create(A, 1, &out);
    TsError err;
    cgt_ok(ts_parallel(ts_stage(sch, out), ts_stage_root_axis(ts_stage(sch, out), 0), &err), &err);
    TsLoweredFunc *func;
    cgt_ok(ts_lower(sch, "softmax", &func, &err), &err);
    *result = out;
    return func;
}

/* DIR/NAME.bin: the output count (1), then every argument's bytes. */
static void write_data(const char *dir, const char *name, const CgtArgs *args)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.bin", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    int32_t outputs = 1;
    assert_int_equal(fwrite(&outputs, sizeof outputs, 1, f), 1);
    for (int i = 0; i < args->num; i++)
        assert_int_equal(fwrite(args->data[i], 1, args->bytes[i], f), args->bytes[i]);
    assert_int_equal(fclose(f), 0);
}

/* Runs the helper with its output in DIR/helper.out; returns its exit status. */
static int run_helper(const char *so, const char *dir)
{
    char out[1024];
    snprintf(out, sizeof out, "%s/helper.out", dir);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out, O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    char *argv[] = { CG_EXPORT_HELPER, (char *)so, (char *)dir, NULL };
    pid_t pid;
    int rc = posix_spawn(&pid, CG_EXPORT_HELPER, &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    assert_int_equal(rc, 0);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char text[1 << 14];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    return text;
}

static void test_export_round_trip(void **state)
{
    (void)state;
    const char *dir = CG_EXPORT_DIR;
    mkdir(dir, 0755);
    TsArena *A = ts_arena_create();
    TsTensor *outputs[3];
    static const char *const names[] = { "matmul", "softmax", "matmul_int8" };
    const TsLoweredFunc *funcs[] = {
        cgt_blocked_matmul(A, "matmul", TS_FLOAT32, ts_dtype(TS_TYPE_FLOAT, 0, 1), &outputs[0]),
        softmax(A, &outputs[1]),
        cgt_blocked_matmul(A, "matmul_int8", TS_INT8, TS_INT32, &outputs[2]),
    };
    char so[1024];
    snprintf(so, sizeof so, "%s/kernels.so", dir);
    remove(so);
    TsError err;
    cgt_ok(ts_build_shared(3, funcs, cgt_host(), so, &err), &err);
    for (int k = 0; k < 3; k++) {
        TsPackedFunc fn;
        TsJitModule *module = cgt_jit(funcs[k], &fn);
        CgtArgs args;
        cgt_args_init(&args, funcs[k], 100 + (uint64_t)k, NULL);
        assert_int_equal(cgt_call(fn, &args), 0);
        char message[512];
        bool same = cgt_compare_with_oracle(&args, 1, &outputs[k], message, sizeof message);
        if (!same)
            fprintf(stderr, "%s: %s\n", names[k], message);
        assert_true(same);
        write_data(dir, names[k], &args);
        cgt_args_free(&args);
        ts_jit_release(module);
    }
    int status = run_helper(so, dir);
    char out[1024];
    snprintf(out, sizeof out, "%s/helper.out", dir);
    const char *listing = read_text(out);
    if (status != 0)
        fprintf(stderr, "helper exited with %d after:\n%s", status, listing);
    assert_int_equal(status, 0);
    assert_non_null(strstr(listing, "kernel matmul 3 A:float32[64,32];B:float32[32,48];"
                                    "matmul:float32[64,48]\nok matmul\n"));
    assert_non_null(strstr(listing, "kernel softmax 2 data:float32[8,1536];"
                                    "softmax:float32[8,1536]\nok softmax\n"));
    assert_non_null(strstr(listing, "kernel matmul_int8 3 A:int8[64,32];B:int8[32,48];"
                                    "matmul:int32[64,48]\nok matmul_int8\n"));
    ts_arena_destroy(A);
}

/* Runs kernel k of funcs from both modules on the same inputs; the outputs must agree bit
 * for bit and with the reference interpreter. */
static void check_same(const TsLoweredFunc *func, TsTensor *output, TsJitModule *built,
                       TsJitModule *loaded, uint64_t seed)
{
    TsPackedFunc fn[2];
    TsError err;
    cgt_ok(ts_jit_get_func(built, ts_lowered_name(func), &fn[0], &err), &err);
    cgt_ok(ts_jit_get_func(loaded, ts_lowered_name(func), &fn[1], &err), &err);
    CgtArgs args[2];
    for (int i = 0; i < 2; i++) {
        cgt_args_init(&args[i], func, seed, NULL);
        assert_int_equal(cgt_call(fn[i], &args[i]), 0);
    }
    int out = args[0].num - 1;
    assert_int_equal(args[0].bytes[out], args[1].bytes[out]);
    assert_memory_equal(args[0].data[out], args[1].data[out], args[0].bytes[out]);
    char message[512];
    bool same = cgt_compare_with_oracle(&args[1], 1, &output, message, sizeof message);
    if (!same)
        fprintf(stderr, "%s: %s\n", ts_lowered_name(func), message);
    assert_true(same);
    cgt_args_free(&args[0]);
    cgt_args_free(&args[1]);
}

static void test_object_jit(void **state)
{
    (void)state;
    const char *dir = CG_EXPORT_DIR;
    mkdir(dir, 0755);
    TsArena *A = ts_arena_create();
    TsTensor *outputs[3];
    const TsLoweredFunc *funcs[] = {
        cgt_blocked_matmul(A, "matmul", TS_FLOAT32, ts_dtype(TS_TYPE_FLOAT, 0, 1), &outputs[0]),
        softmax(A, &outputs[1]),
        cgt_blocked_matmul(A, "matmul_int8", TS_INT8, TS_INT32, &outputs[2]),
    };
    char object[1024];
    snprintf(object, sizeof object, "%s/kernels.o", dir);
    remove(object);
    TsError err;
    TsJitModule *built, *loaded;
    cgt_ok(ts_build_object(3, funcs, cgt_host(), object, &err), &err);
    cgt_ok(ts_build_jit(3, funcs, cgt_host(), &built, &err), &err);
    cgt_ok(ts_jit_load_object(object, &loaded, &err), &err);
    for (int k = 0; k < 3; k++)
        check_same(funcs[k], outputs[k], built, loaded, 200 + (uint64_t)k);
    TsPackedFunc fn;
    assert_int_equal(ts_jit_get_func(loaded, "nothing", &fn, &err), TS_EINVAL);
    assert_non_null(strstr(err.message, "matmul, softmax, matmul_int8"));
    ts_jit_release(built);
    ts_jit_release(loaded);

    /* A missing file names itself; so does a file that is no object code. */
    char missing[1024];
    snprintf(missing, sizeof missing, "%s/no-such.o", dir);
    assert_int_equal(ts_jit_load_object(missing, &loaded, &err), TS_EIO);
    assert_null(loaded);
    assert_non_null(strstr(err.message, missing));
    char text[1024];
    snprintf(text, sizeof text, "%s/not-an-object.o", dir);
    FILE *f = fopen(text, "w");
    assert_non_null(f);
    fputs("not object code\n", f);
    fclose(f);
    assert_int_equal(ts_jit_load_object(text, &loaded, &err), TS_ECODEGEN);
    assert_null(loaded);
    assert_non_null(strstr(err.message, text));
    assert_int_equal(ts_jit_load_object(NULL, &loaded, &err), TS_EINVAL);
    ts_arena_destroy(A);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_export_round_trip),
        cmocka_unit_test(test_object_jit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
