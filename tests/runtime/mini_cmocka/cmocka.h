/* A stand-in for <cmocka.h>, for the runtime tests of a cross build (TESSERA_MINI_CMOCKA),
 * where the target's cmocka is not installed: the cross toolchain (libc6-dev-arm64-cross)
 * brings no arm64 cmocka, and getting one (libcmocka-dev:arm64) would mean turning the
 * build machine into a Debian multiarch system (dpkg --add-architecture arm64, a second
 * package index, an arm64 libc beside the cross one), too much for one test library.
 *
 * It implements the part of cmocka's API that tests/runtime/ uses, with cmocka's
 * meaning and output, so that the same test sources build against either: assert_true,
 * assert_false, assert_int_equal, assert_int_not_equal, assert_null, assert_non_null,
 * assert_ptr_equal, assert_string_equal, fail, cmocka_unit_test and
 * cmocka_run_group_tests (group setup and teardown must be NULL). A failed assertion
 * prints where and why and leaves the test through longjmp, as cmocka does. Anything
 * else fails to compile, so a test that needs more of cmocka says so at once. */
#ifndef TESSERA_MINI_CMOCKA_H
#define TESSERA_MINI_CMOCKA_H

#include <inttypes.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef void (*CMUnitTestFunction)(void **state);
typedef int (*CMFixtureFunction)(void **state);

struct CMUnitTest {
    const char *name;
    CMUnitTestFunction test_func;
    CMFixtureFunction setup_func;
    CMFixtureFunction teardown_func;
    void *initial_state;
};

#define cmocka_unit_test(f)     \
    {                           \
#f, f, NULL, NULL, NULL \
    }

/* Where a failed assertion jumps back to: the test runner, per process. */
static jmp_buf mini_cmocka_test_exit;

static inline void mini_cmocka_fail(const char *file, int line)
{
    fprintf(stderr, "%s:%d: error: Failure!\n", file, line);
    longjmp(mini_cmocka_test_exit, 1);
}

static inline void mini_cmocka_true(intmax_t value, const char *expression, const char *file,
                                    int line)
{
    if (value)
        return;
    fprintf(stderr, "[  ERROR   ] --- %s\n", expression);
    mini_cmocka_fail(file, line);
}

static inline void mini_cmocka_int(intmax_t a, intmax_t b, int want_equal, const char *file,
                                   int line)
{
    if ((a == b) == want_equal)
        return;
    fprintf(stderr, "[  ERROR   ] --- %" PRIdMAX " %s %" PRIdMAX "\n", a,
            want_equal ? "!=" : "==", b);
    mini_cmocka_fail(file, line);
}

static inline void mini_cmocka_ptr(const void *a, const void *b, const char *file, int line)
{
    if (a == b)
        return;
    fprintf(stderr, "[  ERROR   ] --- %p != %p\n", a, b);
    mini_cmocka_fail(file, line);
}

static inline void mini_cmocka_string(const char *a, const char *b, const char *file, int line)
{
    if (a && b && strcmp(a, b) == 0)
        return;
    fprintf(stderr, "[  ERROR   ] --- \"%s\" != \"%s\"\n", a ? a : "(null)", b ? b : "(null)");
    mini_cmocka_fail(file, line);
}

#define assert_true(c) mini_cmocka_true((c) ? 1 : 0, #c, __FILE__, __LINE__)
#define assert_false(c) mini_cmocka_true((c) ? 0 : 1, "!(" #c ")", __FILE__, __LINE__)
#define assert_null(c) mini_cmocka_true((c) == NULL, #c " == NULL", __FILE__, __LINE__)
#define assert_non_null(c) mini_cmocka_true((c) != NULL, #c " != NULL", __FILE__, __LINE__)
#define assert_int_equal(a, b) mini_cmocka_int((intmax_t)(a), (intmax_t)(b), 1, __FILE__, __LINE__)
#define assert_int_not_equal(a, b) \
    mini_cmocka_int((intmax_t)(a), (intmax_t)(b), 0, __FILE__, __LINE__)
#define assert_ptr_equal(a, b) mini_cmocka_ptr((a), (b), __FILE__, __LINE__)
#define assert_string_equal(a, b) mini_cmocka_string((a), (b), __FILE__, __LINE__)
#define fail() mini_cmocka_fail(__FILE__, __LINE__)

/* Runs one test; 1 when it passed. volatile: read after a longjmp. */
static inline int mini_cmocka_run_one(const struct CMUnitTest *test)
{
    volatile int passed = 0;
    void *state = test->initial_state;
    printf("[ RUN      ] %s\n", test->name);
    fflush(stdout);
    if (setjmp(mini_cmocka_test_exit) == 0) {
        test->test_func(&state);
        passed = 1;
    }
    printf("[ %s ] %s\n", passed ? "      OK" : " FAILED ", test->name);
    fflush(stdout);
    return passed;
}

/* cmocka's summary lines, and its exit status: the number of failed tests. */
static inline int mini_cmocka_run_group(const char *group, const struct CMUnitTest *tests,
                                        size_t count, CMFixtureFunction setup,
                                        CMFixtureFunction teardown)
{
    if (setup || teardown) {
        fprintf(stderr, "[  ERROR   ] %s: mini cmocka has no group setup or teardown\n", group);
        return 1;
    }
    printf("[==========] %s: Running %zu test(s).\n", group, count);
    size_t failed = 0;
    for (size_t i = 0; i < count; i++)
        failed += mini_cmocka_run_one(&tests[i]) ? 0 : 1;
    printf("[==========] %s: %zu test(s) run.\n", group, count);
    printf("[  PASSED  ] %zu test(s).\n", count - failed);
    if (failed)
        printf("[  FAILED  ] %s: %zu test(s).\n", group, failed);
    return (int)failed;
}

#define cmocka_run_group_tests(tests, setup, teardown) \
    mini_cmocka_run_group(#tests, tests, sizeof(tests) / sizeof((tests)[0]), setup, teardown)

#endif /* TESSERA_MINI_CMOCKA_H */
