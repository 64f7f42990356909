/* The runtime's last-error slot: it copies the message (so the caller's buffer may go),
 * bounds it, empties on NULL, and keeps one message per thread. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "rt_testing.h"

static void test_copies_the_message(void **state)
{
    (void)state;
    char message[32];
    snprintf(message, sizeof message, "kernel %d failed", 7);
    ts_runtime_set_error(message);
    memset(message, 'x', sizeof message - 1);
    assert_string_equal(ts_runtime_last_error(), "kernel 7 failed");
    ts_runtime_set_error(ts_runtime_last_error()); /* passing the slot itself is fine */
    assert_string_equal(ts_runtime_last_error(), "kernel 7 failed");
    ts_runtime_set_error(NULL);
    assert_string_equal(ts_runtime_last_error(), "");
}

static void test_long_message_is_cut(void **state)
{
    (void)state;
    static char message[3 * TS_ERROR_MESSAGE_MAX];
    for (size_t i = 0; i < sizeof message - 1; i++)
        message[i] = (char)('a' + i % 26);
    message[sizeof message - 1] = '\0';
    ts_runtime_set_error(message);
    const char *slot = ts_runtime_last_error();
    assert_int_equal(strlen(slot), TS_ERROR_MESSAGE_MAX - 1);
    assert_int_equal(strncmp(slot, message, TS_ERROR_MESSAGE_MAX - 1), 0);
}

/* Two threads set their messages, wait until both have, and read their own back. */
typedef struct Writer {
    pthread_barrier_t *barrier;
    const char *message;
    int own_message_kept;
} Writer;

static void *write_and_read(void *arg)
{
    Writer *writer = arg;
    ts_runtime_set_error(writer->message);
    pthread_barrier_wait(writer->barrier);
    writer->own_message_kept = strcmp(ts_runtime_last_error(), writer->message) == 0;
    pthread_barrier_wait(writer->barrier);
    return NULL;
}

static void test_one_slot_per_thread(void **state)
{
    (void)state;
    ts_runtime_set_error("main thread's message");
    pthread_barrier_t barrier;
    assert_int_equal(pthread_barrier_init(&barrier, NULL, 2), 0);
    Writer writers[2] = { { &barrier, "from thread A", 0 }, { &barrier, "from thread B", 0 } };
    pthread_t threads[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, write_and_read, &writers[i]), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_join(threads[i], NULL), 0);
    pthread_barrier_destroy(&barrier);
    assert_true(writers[0].own_message_kept);
    assert_true(writers[1].own_message_kept);
    assert_string_equal(ts_runtime_last_error(), "main thread's message");
}

/* A new thread starts with an empty slot. */
static void *read_fresh_slot(void *arg)
{
    *(int *)arg = ts_runtime_last_error()[0] == '\0';
    return NULL;
}

static void test_new_thread_starts_empty(void **state)
{
    (void)state;
    ts_runtime_set_error("not for other threads");
    int empty = 0;
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, read_fresh_slot, &empty), 0);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_true(empty);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_copies_the_message),
        cmocka_unit_test(test_long_message_is_cut),
        cmocka_unit_test(test_one_slot_per_thread),
        cmocka_unit_test(test_new_thread_starts_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
