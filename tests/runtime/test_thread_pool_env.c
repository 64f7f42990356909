/* The thread pool's size from TS_NUM_THREADS, and the pool across fork. Each case runs
 * in a child process that sets the variable before the pool's first use there, and
 * proves the size by running that many tasks that can only finish together. The parent
 * starts its own pool only in the last test, which forks after it (the atfork reset).
 *
 * Under qemu-user (the cross build's tests) a child forked while other threads run
 * cannot start threads (qemu 7.2 asserts in qemu_plugin_vcpu_init_hook), so there the
 * last test's child gets one thread only; CTest sets TESSERA_TEST_UNDER_EMULATOR. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "rt_testing.h"

/* expected tasks that each wait until all have started: they can finish only if
 * expected threads run them at once. Fails after about 20 s. */
static atomic_int arrived;

static int32_t rendezvous_task(int32_t task_id, int32_t num_tasks, void *closure)
{
    (void)task_id;
    (void)closure;
    atomic_fetch_add(&arrived, 1);
    struct timespec pause = { 0, 100000 };
    for (int waited = 0; atomic_load(&arrived) < num_tasks; waited++) {
        if (waited > 200000) {
            ts_runtime_set_error("rendezvous: not every task started in time");
            return -1;
        }
        nanosleep(&pause, NULL);
    }
    return 0;
}

/* The child's checks: exit status 0 when the pool has expected threads and they all ran
 * a task at once; the reason on stderr otherwise. */
static int child_expect_threads(int expected)
{
    int32_t got = ts_parallel_num_threads();
    if (got != expected) {
        fprintf(stderr, "child: %d threads, expected %d\n", (int)got, expected);
        return 1;
    }
    atomic_store(&arrived, 0);
    if (ts_parallel_launch(rendezvous_task, NULL, 0) != 0) {
        fprintf(stderr, "child: %s\n", ts_runtime_last_error());
        return 2;
    }
    printf("child: %d threads met\n", expected);
    return 0;
}

/* Forks; the child sets TS_NUM_THREADS to value (NULL: unsets it) and runs
 * child_expect_threads(expected) with its stdout and stderr going to output. Returns the
 * child's exit status. */
static int run_in_child(const char *value, int expected, char *output, size_t size)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], 1);
        dup2(fds[1], 2);
        if (value)
            setenv("TS_NUM_THREADS", value, 1);
        else
            unsetenv("TS_NUM_THREADS");
        int code = child_expect_threads(expected);
        fflush(stdout);
        fflush(stderr);
        _exit(code);
    }
    close(fds[1]);
    size_t used = 0;
    ssize_t got;
    while (used + 1 < size && (got = read(fds[0], output + used, size - 1 - used)) > 0)
        used += (size_t)got;
    output[used] = '\0';
    close(fds[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fprintf(stderr, "child with TS_NUM_THREADS=%s: status %d, output:\n%s\n",
                value ? value : "(unset)", status, output);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int online_cpus(void)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    return cpus < 1 ? 1 : (int)cpus;
}

static void expect_threads_met(const char *value, int expected)
{
    char output[1024], met[64];
    assert_int_equal(run_in_child(value, expected, output, sizeof output), 0);
    snprintf(met, sizeof met, "child: %d threads met", expected);
    assert_non_null(strstr(output, met));
    assert_null(strstr(output, "warning"));
}

static void test_num_threads_from_environment(void **state)
{
    (void)state;
    expect_threads_met("1", 1);
    expect_threads_met("3", 3);
    expect_threads_met("5", 5);
    expect_threads_met("+4", 4);
    expect_threads_met(NULL, online_cpus());
    expect_threads_met("", online_cpus()); /* empty: as if unset */
}

static void test_invalid_num_threads_warns(void **state)
{
    (void)state;
    const char *values[] = { "abc", "0", "-4", "7x", "100000", " " };
    char output[1024], warning[160];
    for (int i = 0; i < 6; i++) {
        assert_int_equal(run_in_child(values[i], online_cpus(), output, sizeof output), 0);
        snprintf(warning, sizeof warning,
                 "tessera: warning: TS_NUM_THREADS=%s is not a thread count from 1 to 1024; "
                 "using %d (the online CPUs)",
                 values[i], online_cpus());
        if (!strstr(output, warning))
            fprintf(stderr, "output \"%s\" lacks \"%s\"\n", output, warning);
        assert_non_null(strstr(output, warning));
    }
}

static int32_t count_task(int32_t task_id, int32_t num_tasks, void *closure)
{
    (void)task_id;
    (void)num_tasks;
    atomic_fetch_add((atomic_int *)closure, 1);
    return 0;
}

/* The parent's pool runs (its workers wait on its lock) when the children fork: each
 * child must start a pool of its own, of its own size. */
static void test_fork_after_pool_started(void **state)
{
    (void)state;
    atomic_int count;
    atomic_init(&count, 0);
    assert_int_equal(ts_parallel_launch(count_task, &count, 64), 0);
    assert_int_equal(atomic_load(&count), 64);
    expect_threads_met("1", 1);
    if (getenv("TESSERA_TEST_UNDER_EMULATOR"))
        printf("(under an emulator: no child with threads after the parent's pool started)\n");
    else
        expect_threads_met("3", 3);
    assert_int_equal(ts_parallel_launch(count_task, &count, 64), 0); /* the parent's too */
    assert_int_equal(atomic_load(&count), 128);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_num_threads_from_environment),
        cmocka_unit_test(test_invalid_num_threads_warns),
        cmocka_unit_test(test_fork_after_pool_started),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
