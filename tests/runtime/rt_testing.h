/* Helpers shared by the runtime tests (tests/runtime/). They use only the runtime's
 * headers and the part of cmocka that mini_cmocka/cmocka.h also has, so that these tests
 * build for a board too. Include after <cmocka.h>. */
#ifndef TESSERA_RT_TESTING_H
#define TESSERA_RT_TESTING_H

#include <stdio.h>
#include <string.h>

#include "tessera/runtime.h"

/* Asserts that a call returned want_status and filled err with a message containing
 * needle; prints the message when it does not. */
#define assert_status(got_status, err, want_status, needle)                                      \
    do {                                                                                         \
        TsStatus s_ = (got_status);                                                              \
        if (s_ != (want_status) || (err).status != (want_status) ||                              \
            !strstr((err).message, (needle)))                                                    \
            fprintf(stderr, "got %s: \"%s\", wanted %s containing \"%s\"\n", ts_status_name(s_), \
                    (err).message, ts_status_name(want_status), (needle));                       \
        assert_int_equal(s_, (want_status));                                                     \
        assert_int_equal((err).status, (want_status));                                           \
        assert_non_null(strstr((err).message, (needle)));                                        \
    } while (0)

/* Asserts that a call succeeded, printing the error record when it did not. */
#define assert_ok(got_status, err)                                          \
    do {                                                                    \
        TsStatus s_ = (got_status);                                         \
        if (s_ != TS_OK)                                                    \
            fprintf(stderr, "%s: %s\n", ts_status_name(s_), (err).message); \
        assert_int_equal(s_, TS_OK);                                        \
    } while (0)

/* Asserts that the calling thread's runtime error slot contains needle. */
#define assert_last_error(needle)                                              \
    do {                                                                       \
        const char *m_ = ts_runtime_last_error();                              \
        if (!strstr(m_, (needle)))                                             \
            fprintf(stderr, "last error \"%s\" lacks \"%s\"\n", m_, (needle)); \
        assert_non_null(strstr(m_, (needle)));                                 \
    } while (0)

#endif /* TESSERA_RT_TESTING_H */
