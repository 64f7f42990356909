/* Helpers shared by the cmocka tests: golden-file comparison, arena checks, and whether
 * a tool is installed. */
#ifndef TESSERA_TEST_UTIL_H
#define TESSERA_TEST_UTIL_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tessera/tessera.h"

/* Compares text with tests/<dir>/golden/<name>.expected. With TESSERA_UPDATE_GOLDEN=1 in
 * the environment (scripts/update-golden.sh) the file is rewritten instead. Returns 1 on
 * a match (or an update), 0 with a diff-friendly report on stderr otherwise. */
static inline int golden_matches(const char *path, const char *text)
{
    const char *update = getenv("TESSERA_UPDATE_GOLDEN");
    if (update && strcmp(update, "1") == 0) {
        FILE *f = fopen(path, "w");
        if (!f)
            return 0;
        fputs(text, f);
        fclose(f);
        return 1;
    }
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "golden file %s is missing; run scripts/update-golden.sh\n", path);
        return 0;
    }
    static char expected[1 << 16];
    size_t n = fread(expected, 1, sizeof expected - 1, f);
    expected[n] = '\0';
    fclose(f);
    if (strcmp(expected, text) == 0)
        return 1;
    fprintf(stderr, "golden mismatch for %s\n--- expected\n%s--- got\n%s---\n", path, expected,
            text);
    return 0;
}

/* Asserts that the arena holds an error with this status whose message contains
 * needle, then clears it so the test can go on. */
#define assert_arena_error(arena, want_status, needle)                                        \
    do {                                                                                 \
        const TsError *e_ = ts_arena_error(arena);                                       \
        if (e_->status != (want_status) || !strstr(e_->message, (needle)))                    \
            fprintf(stderr, "arena error: %s: %s (wanted %s containing \"%s\")\n",       \
                    ts_status_name(e_->status), e_->message, ts_status_name(want_status),     \
                    (needle));                                                           \
        assert_int_equal(e_->status, (want_status));                                          \
        assert_non_null(strstr(e_->message, (needle)));                                  \
        ts_arena_clear_error(arena);                                                     \
    } while (0)

/* True when an executable called name is on PATH (tests that need the cross compiler
 * or qemu skip without it). */
static inline bool test_on_path(const char *name)
{
    const char *path = getenv("PATH");
    char candidate[4096];
    while (path && *path) {
        size_t len = strcspn(path, ":");
        snprintf(candidate, sizeof candidate, "%.*s/%s", (int)len, path, name);
        if (len > 0 && access(candidate, X_OK) == 0)
            return true;
        path += len + (path[len] == ':');
    }
    return false;
}

#endif /* TESSERA_TEST_UTIL_H */
