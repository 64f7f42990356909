/* The thread pool that runs parallel loops. Codegen outlines the body of a parallel loop
 * into a task (runtime.h's TsParallelTask) and calls ts_parallel_launch; generated code
 * never creates threads itself.
 *
 * The pool has TS_NUM_THREADS threads (default: the online CPUs): the thread that
 * launches a job and TS_NUM_THREADS - 1 workers, started on first use. A job's tasks are
 * handed out one at a time from an atomic counter, so a slow thread takes fewer of them.
 * A task that itself launches a job (a nested parallel loop) runs that job's tasks in its
 * own thread, as TVM does. Jobs from different threads take turns.
 *
 * Fork: a child process has only the forking thread, so a pthread_atfork handler resets
 * the pool there; the child starts its own pool on first use (and reads TS_NUM_THREADS
 * again). The workers are never joined: they sleep until the process exits. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/rt_internal.h"
#include "tessera/runtime.h"

/* A bound on TS_NUM_THREADS, far above any CPU count Tessera runs on, so that a typo
 * (TS_NUM_THREADS=80000) is reported instead of starting that many threads. */
#define MAX_THREADS 1024

/* One ts_parallel_launch call. It lives on the launching thread's stack; workers reach it
 * through the pool's job pointer, and the launcher returns only once no worker is inside
 * it (num_inside, under the pool's lock). */
typedef struct Job {
    TsParallelTask task;
    void *closure;
    int32_t num_tasks;
    atomic_int next_task;
    atomic_bool failed;
    int num_inside;
    char first_error[TS_ERROR_MESSAGE_MAX]; /* under the pool's lock */
} Job;

typedef struct Pool {
    pthread_mutex_t lock;
    pthread_cond_t work_ready;   /* a new job (generation changed) */
    pthread_cond_t work_done;    /* a worker left a job */
    pthread_mutex_t launch_lock; /* one job at a time */
    int num_threads;             /* 0 until configured */
    bool started;
    int num_workers; /* running worker threads */
    pthread_t *workers;
    unsigned long generation;
    Job *job; /* the job being run, or NULL */
} Pool;

static Pool pool = { .lock = PTHREAD_MUTEX_INITIALIZER,
                     .work_ready = PTHREAD_COND_INITIALIZER,
                     .work_done = PTHREAD_COND_INITIALIZER,
                     .launch_lock = PTHREAD_MUTEX_INITIALIZER };

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

/* True in the workers, and in a launching thread while it runs tasks: a launch from
 * such a thread is nested and runs inline. */
static _Thread_local bool in_parallel_task;

static int online_cpus(void)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus < 1)
        return 1;
    return cpus > MAX_THREADS ? MAX_THREADS : (int)cpus;
}

/* The pool size: TS_NUM_THREADS when it is a whole number from 1 to MAX_THREADS, else the
 * online CPUs, with a warning naming the value that was ignored. */
static int configured_threads(void)
{
    int fallback = online_cpus();
    const char *text = getenv("TS_NUM_THREADS");
    if (!text || !*text)
        return fallback;
    char *end;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno == 0 && *end == '\0' && value >= 1 && value <= MAX_THREADS)
        return (int)value;
    fprintf(stderr,
            "tessera: warning: TS_NUM_THREADS=%s is not a thread count from 1 to %d; using "
            "%d (the online CPUs)\n",
            text, MAX_THREADS, fallback);
    return fallback;
}

/* Runs the job's tasks until none is left. After a failure, tasks not yet handed out are
 * skipped: the job's output is lost anyway. The first failure's message is kept. */
static void run_tasks(Job *job)
{
    for (;;) {
        int32_t task_id = atomic_fetch_add_explicit(&job->next_task, 1, memory_order_relaxed);
        /* (task_id < 0: the counter wrapped after handing out INT32_MAX tasks) */
        if (task_id < 0 || task_id >= job->num_tasks ||
            atomic_load_explicit(&job->failed, memory_order_relaxed))
            return;
        rt_clear_error();
        if (job->task(task_id, job->num_tasks, job->closure) == 0)
            continue;
        pthread_mutex_lock(&pool.lock);
        if (!atomic_load_explicit(&job->failed, memory_order_relaxed)) {
            const char *message = ts_runtime_last_error();
            snprintf(job->first_error, sizeof job->first_error, "parallel task %d of %d failed: %s",
                     (int)task_id, (int)job->num_tasks,
                     *message ? message : "(the task gave no message)");
            atomic_store_explicit(&job->failed, true, memory_order_relaxed);
        }
        pthread_mutex_unlock(&pool.lock);
    }
}

/* A worker: waits for each new job, runs tasks from it, and tells the launcher when it
 * leaves. A worker that wakes after the job is over finds no job and sleeps again. It
 * starts from the generation at its creation, so that it takes part in the job that
 * started the pool even if it first runs after that job was posted. */
static void *worker_main(void *generation_at_start)
{
    in_parallel_task = true;
    unsigned long seen = (unsigned long)(uintptr_t)generation_at_start;
    pthread_mutex_lock(&pool.lock);
    for (;;) {
        while (pool.generation == seen)
            pthread_cond_wait(&pool.work_ready, &pool.lock);
        seen = pool.generation;
        Job *job = pool.job;
        if (!job)
            continue;
        job->num_inside++;
        pthread_mutex_unlock(&pool.lock);
        run_tasks(job);
        pthread_mutex_lock(&pool.lock);
        if (--job->num_inside == 0)
            pthread_cond_broadcast(&pool.work_done);
    }
    return NULL;
}

/* In the child of fork: the workers do not exist there, and the locks may have been held
 * by threads that do not either, so everything starts afresh. */
static void reset_in_child(void)
{
    free(pool.workers);
    pool = (Pool){ .num_threads = 0 }; /* 0: TS_NUM_THREADS is read again */
    pthread_mutex_init(&pool.lock, NULL);
    pthread_mutex_init(&pool.launch_lock, NULL);
    pthread_cond_init(&pool.work_ready, NULL);
    pthread_cond_init(&pool.work_done, NULL);
}

/* Around fork, the pool's lock is held so that the child copies a pool in a consistent
 * state (never half-way through starting). */
static void lock_before_fork(void)
{
    pthread_mutex_lock(&pool.lock);
}

static void unlock_after_fork(void)
{
    pthread_mutex_unlock(&pool.lock);
}

static void register_atfork(void)
{
    if (pthread_atfork(lock_before_fork, unlock_after_fork, reset_in_child) != 0)
        fprintf(stderr, "tessera: warning: pthread_atfork failed; a forked child must not "
                        "use the thread pool\n");
}

/* Takes the pool's lock, having registered the fork handlers once (before any state the
 * child would have to reset exists). */
static void lock_pool(void)
{
    pthread_once(&atfork_once, register_atfork);
    pthread_mutex_lock(&pool.lock);
}

/* Under the pool's lock. */
static void configure_locked(void)
{
    if (pool.num_threads == 0)
        pool.num_threads = configured_threads();
}

/* Under the pool's lock: starts the workers once. If the system refuses a thread, the
 * pool runs with the workers it got (the launching thread alone, at worst). */
static void start_locked(void)
{
    configure_locked();
    if (pool.started)
        return;
    pool.started = true;
    int wanted = pool.num_threads - 1;
    pool.workers = wanted > 0 ? calloc((size_t)wanted, sizeof *pool.workers) : NULL;
    if (wanted > 0 && !pool.workers) {
        fprintf(stderr,
                "tessera: warning: no memory for %d thread pool workers; running "
                "parallel loops on 1 thread\n",
                wanted);
        wanted = 0;
    }
    for (int i = 0; i < wanted; i++) {
        int error =
            pthread_create(&pool.workers[i], NULL, worker_main, (void *)(uintptr_t)pool.generation);
        if (error != 0) {
            fprintf(stderr,
                    "tessera: warning: could not start thread pool worker %d of %d (%s); "
                    "running parallel loops on %d threads\n",
                    i + 1, wanted, strerror(error), i + 1);
            break;
        }
        pool.num_workers++;
    }
    pool.num_threads = pool.num_workers + 1;
}

int32_t ts_parallel_num_threads(void)
{
    lock_pool();
    configure_locked();
    int32_t num_threads = pool.num_threads;
    pthread_mutex_unlock(&pool.lock);
    return num_threads;
}

/* Runs every task in this thread: a nested launch, or a job of a single task. */
static void run_inline(Job *job)
{
    bool was_in_task = in_parallel_task;
    in_parallel_task = true;
    run_tasks(job);
    in_parallel_task = was_in_task;
}

/* Hands job to the workers, runs tasks alongside them, and waits until every worker
 * that took part has left it. */
static void run_on_pool(Job *job)
{
    pthread_mutex_lock(&pool.launch_lock);
    pthread_mutex_lock(&pool.lock);
    pool.job = job;
    pool.generation++;
    pthread_cond_broadcast(&pool.work_ready);
    pthread_mutex_unlock(&pool.lock);

    run_inline(job);

    pthread_mutex_lock(&pool.lock);
    while (job->num_inside > 0)
        pthread_cond_wait(&pool.work_done, &pool.lock);
    pool.job = NULL;
    pthread_mutex_unlock(&pool.lock);
    pthread_mutex_unlock(&pool.launch_lock);
}

int32_t ts_parallel_launch(TsParallelTask task, void *closure, int32_t num_tasks)
{
    if (!task) {
        ts_runtime_set_error("ts_parallel_launch: the task is NULL");
        return -1;
    }
    lock_pool();
    if (!in_parallel_task)
        start_locked();
    else
        configure_locked();
    int num_workers = pool.num_workers;
    if (num_tasks <= 0)
        num_tasks = pool.num_threads;
    pthread_mutex_unlock(&pool.lock);

    Job job = { .task = task, .closure = closure, .num_tasks = num_tasks };
    atomic_init(&job.next_task, 0);
    atomic_init(&job.failed, false);
    if (in_parallel_task || num_tasks == 1 || num_workers == 0)
        run_inline(&job);
    else
        run_on_pool(&job);
    if (!atomic_load(&job.failed))
        return 0;
    ts_runtime_set_error(job.first_error);
    return -1;
}
