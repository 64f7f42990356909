/* The runtime's thread pool: every task runs exactly once, nested launches run inline,
 * a failing task fails the launch with its message, and several threads may launch at
 * once. TS_NUM_THREADS and fork are tested in test_thread_pool_env.c. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "rt_testing.h"

enum { MAX_TASKS = 1024 };

typedef struct SumJob {
    int32_t num_tasks;
    atomic_long sum;
    atomic_int hits[MAX_TASKS];
    atomic_int wrong_num_tasks;
} SumJob;

static int32_t sum_task(int32_t task_id, int32_t num_tasks, void *closure)
{
    SumJob *job = closure;
    atomic_fetch_add(&job->sum, task_id + 1);
    atomic_fetch_add(&job->hits[task_id], 1);
    if (num_tasks != job->num_tasks)
        atomic_fetch_add(&job->wrong_num_tasks, 1);
    return 0;
}

/* Launches num_tasks sum tasks and checks that each ran once and saw the task count. */
static void check_sum_job(int32_t num_tasks)
{
    static SumJob zero;
    SumJob *job = malloc(sizeof *job);
    assert_non_null(job);
    *job = zero;
    job->num_tasks = num_tasks;
    assert_int_equal(ts_parallel_launch(sum_task, job, num_tasks), 0);
    assert_int_equal(atomic_load(&job->sum), (long)num_tasks * (num_tasks + 1) / 2);
    for (int i = 0; i < num_tasks; i++)
        assert_int_equal(atomic_load(&job->hits[i]), 1);
    assert_int_equal(atomic_load(&job->wrong_num_tasks), 0);
    free(job);
}

static void test_every_task_runs_once(void **state)
{
    (void)state;
    for (int round = 0; round < 50; round++)
        check_sum_job(round % 2 ? 256 : 1 + round);
    check_sum_job(1);
}

/* num_tasks <= 0: one task per thread. */
static void test_default_task_count(void **state)
{
    (void)state;
    int32_t num_threads = ts_parallel_num_threads();
    assert_true(num_threads >= 1);
    assert_true(num_threads <= MAX_TASKS);
    static SumJob job;
    job.num_tasks = num_threads;
    assert_int_equal(ts_parallel_launch(sum_task, &job, 0), 0);
    assert_int_equal(atomic_load(&job.sum), (long)num_threads * (num_threads + 1) / 2);
    assert_int_equal(atomic_load(&job.wrong_num_tasks), 0);
    assert_int_equal(ts_parallel_launch(sum_task, &job, -3), 0);
    assert_int_equal(atomic_load(&job.sum), (long)num_threads * (num_threads + 1));
}

/* An outer task launches an inner job: its tasks must run in the outer task's thread. */
typedef struct Nested {
    atomic_int inner_runs;
    atomic_int inner_elsewhere;
} Nested;

typedef struct InnerClosure {
    Nested *nested;
    pthread_t outer_thread;
} InnerClosure;

static int32_t inner_task(int32_t task_id, int32_t num_tasks, void *closure)
{
    (void)task_id;
    (void)num_tasks;
    InnerClosure *inner = closure;
    atomic_fetch_add(&inner->nested->inner_runs, 1);
    if (!pthread_equal(pthread_self(), inner->outer_thread))
        atomic_fetch_add(&inner->nested->inner_elsewhere, 1);
    return 0;
}

static int32_t outer_task(int32_t task_id, int32_t num_tasks, void *closure)
{
    (void)task_id;
    (void)num_tasks;
    InnerClosure inner = { closure, pthread_self() };
    return ts_parallel_launch(inner_task, &inner, 6);
}

static void test_nested_launch_runs_inline(void **state)
{
    (void)state;
    Nested nested;
    atomic_init(&nested.inner_runs, 0);
    atomic_init(&nested.inner_elsewhere, 0);
    assert_int_equal(ts_parallel_launch(outer_task, &nested, 4), 0);
    assert_int_equal(atomic_load(&nested.inner_runs), 4 * 6);
    assert_int_equal(atomic_load(&nested.inner_elsewhere), 0);
}

static int32_t fail_task_three(int32_t task_id, int32_t num_tasks, void *closure)
{
    (void)num_tasks;
    (void)closure;
    if (task_id != 3)
        return 0;
    ts_runtime_set_error("task 3 broke");
    return -1;
}

static int32_t fail_silently(int32_t task_id, int32_t num_tasks, void *closure)
{
    (void)num_tasks;
    (void)closure;
    return task_id == 0 ? -1 : 0;
}

static int32_t fail_deep_inside(int32_t task_id, int32_t num_tasks, void *closure)
{
    (void)task_id;
    (void)num_tasks;
    (void)closure;
    return ts_parallel_launch(fail_task_three, NULL, 5);
}

static void test_failing_task(void **state)
{
    (void)state;
    ts_runtime_set_error(NULL);
    assert_int_equal(ts_parallel_launch(fail_task_three, NULL, 10), -1);
    assert_last_error("parallel task 3 of 10 failed: task 3 broke");

    /* an old message is not passed off as the task's */
    assert_int_equal(ts_parallel_launch(fail_silently, NULL, 4), -1);
    assert_last_error("parallel task 0 of 4 failed: (the task gave no message)");

    /* a nested failure carries the inner message out */
    assert_int_equal(ts_parallel_launch(fail_deep_inside, NULL, 2), -1);
    assert_last_error("failed: parallel task 3 of 5 failed: task 3 broke");

    assert_int_equal(ts_parallel_launch(NULL, NULL, 4), -1);
    assert_last_error("ts_parallel_launch: the task is NULL");

    check_sum_job(40); /* the pool still works */
}

/* Several threads launching at once: each job still runs every task once. */
static void *launch_many(void *unused)
{
    (void)unused;
    static SumJob zero;
    SumJob *job = malloc(sizeof *job);
    long failures = 0;
    for (int round = 0; job && round < 100; round++) {
        *job = zero;
        job->num_tasks = 16;
        if (ts_parallel_launch(sum_task, job, 16) != 0 || atomic_load(&job->sum) != 136)
            failures++;
    }
    free(job);
    return (void *)(intptr_t)(job ? failures : -1);
}

static void test_launches_from_several_threads(void **state)
{
    (void)state;
    pthread_t threads[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, launch_many, NULL), 0);
    for (int i = 0; i < 3; i++) {
        void *failures;
        assert_int_equal(pthread_join(threads[i], &failures), 0);
        assert_int_equal((intptr_t)failures, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_task_runs_once),
        cmocka_unit_test(test_default_task_count),
        cmocka_unit_test(test_nested_launch_runs_inline),
        cmocka_unit_test(test_failing_task),
        cmocka_unit_test(test_launches_from_several_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
