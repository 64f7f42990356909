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
 * ts_build_jit's do, bit for bit.
 *
 * Also here: the object file of a build killed half way (its process SIGKILLed while
 * the linker runs) is left in the process's scratch directory, $TMPDIR/tessera-<pid>/,
 * and the next process's first build removes it, and the scratch directories of other
 * dead processes, but nothing else. */
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* ---- scratch directories ---- */

/* Builds a small kernel into dir/out.so in a new process (PATH as given, or unchanged),
 * which becomes the leader of its own process group; returns its pid. */
static pid_t build_in_child(const char *dir, const char *path_env)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid > 0)
        return pid;
    setpgid(0, 0);
    if (path_env)
        setenv("PATH", path_env, 1);
    TsArena *A = ts_arena_create();
    TsTensor *out;
    const TsLoweredFunc *func =
        cgt_blocked_matmul(A, "matmul", TS_FLOAT32, ts_dtype(TS_TYPE_FLOAT, 0, 1), &out);
    char so[1024];
    snprintf(so, sizeof so, "%s/out.so", dir);
    TsError err;
    TsStatus st = ts_build_shared(1, &func, cgt_host(), so, &err);
    if (st != TS_OK)
        fprintf(stderr, "build in child: %s\n", err.message);
    _exit(st == TS_OK ? 0 : 1);
}

static void wait_exit_ok(pid_t pid)
{
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* The entries of dir (not . and ..). */
static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* A pid that no process has now: a child that has exited and been reaped. */
static pid_t dead_pid(void)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(0);
    assert_int_equal(waitpid(pid, NULL, 0), pid);
    return pid;
}

static void make_file(const char *path)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("object code", f);
    fclose(f);
}

static void test_killed_build_is_swept(void **state)
{
    (void)state;
    char tmp[] = "/tmp/tessera-scratch-test-XXXXXX";
    assert_non_null(mkdtemp(tmp));
    const char *saved_tmpdir = getenv("TMPDIR");
    char saved[4096] = "";
    if (saved_tmpdir)
        snprintf(saved, sizeof saved, "%s", saved_tmpdir);
    setenv("TMPDIR", tmp, 1);

    /* A linker that never finishes, first on PATH under both names the host build may
     * run (ld, or cc without ld): the build waits in it. */
    char bin[4200], tool[4300], path_env[8192];
    snprintf(bin, sizeof bin, "%s/bin", tmp);
    assert_int_equal(mkdir(bin, 0755), 0);
    static const char *const linkers[] = { "ld", "cc" };
    for (size_t i = 0; i < sizeof linkers / sizeof linkers[0]; i++) {
        snprintf(tool, sizeof tool, "%s/%s", bin, linkers[i]);
        FILE *f = fopen(tool, "w");
        assert_non_null(f);
        fputs("#!/bin/sh\nexec sleep 60\n", f);
        fclose(f);
        assert_int_equal(chmod(tool, 0755), 0);
    }
    snprintf(path_env, sizeof path_env, "%s:%s", bin, getenv("PATH") ? getenv("PATH") : "");
    pid_t victim = build_in_child(tmp, path_env);
    char victim_dir[4200];
    snprintf(victim_dir, sizeof victim_dir, "%s/tessera-%ld", tmp, (long)victim);
    for (int i = 0; i < 3000 && count_entries(victim_dir) < 1; i++)
        poll(NULL, 0, 10);
    assert_int_equal(count_entries(victim_dir), 1); /* its object file, waiting */
    kill(-victim, SIGKILL);                         /* the build and its linker */
    assert_int_equal(waitpid(victim, NULL, 0), victim);

    /* Another dead process's leftovers, a live process's directory, and names that are
     * not scratch directories. */
    char dead_dir[4200], dead_file[4300], live_dir[4200], live_file[4300], other[4200], plain[4200];
    snprintf(dead_dir, sizeof dead_dir, "%s/tessera-%ld", tmp, (long)dead_pid());
    assert_int_equal(mkdir(dead_dir, 0700), 0);
    snprintf(dead_file, sizeof dead_file, "%s/tessera-object-abc123", dead_dir);
    make_file(dead_file);
    snprintf(live_dir, sizeof live_dir, "%s/tessera-%ld", tmp, (long)getpid());
    assert_int_equal(mkdir(live_dir, 0700), 0);
    snprintf(live_file, sizeof live_file, "%s/tessera-object-live", live_dir);
    make_file(live_file);
    snprintf(other, sizeof other, "%s/tessera-%ldx", tmp, (long)dead_pid());
    assert_int_equal(mkdir(other, 0700), 0);
    snprintf(plain, sizeof plain, "%s/tessera-%ld", tmp, (long)dead_pid());
    make_file(plain); /* a file, not a directory */
    assert_true(exists(victim_dir));

    /* The next process's first build sweeps, and leaves no directory of its own. */
    pid_t next = build_in_child(tmp, NULL);
    wait_exit_ok(next);
    char next_dir[4200];
    snprintf(next_dir, sizeof next_dir, "%s/tessera-%ld", tmp, (long)next);
    assert_false(exists(victim_dir));
    assert_false(exists(dead_dir));
    assert_false(exists(next_dir));
    assert_true(exists(live_file));
    assert_true(exists(other));
    assert_true(exists(plain));

    char so[4200];
    snprintf(so, sizeof so, "%s/out.so", tmp);
    unlink(so);
    unlink(live_file);
    rmdir(live_dir);
    rmdir(other);
    unlink(plain);
    for (size_t i = 0; i < sizeof linkers / sizeof linkers[0]; i++) {
        snprintf(tool, sizeof tool, "%s/%s", bin, linkers[i]);
        unlink(tool);
    }
    rmdir(bin);
    assert_int_equal(rmdir(tmp), 0); /* nothing else was left */
    if (saved_tmpdir)
        setenv("TMPDIR", saved, 1);
    else
        unsetenv("TMPDIR");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_export_round_trip),
        cmocka_unit_test(test_object_jit),
        cmocka_unit_test(test_killed_build_is_swept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
