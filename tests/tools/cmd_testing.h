/* Running the built `tessera` command from a test: the executable's path (CTest passes it
 * as the test's first argument), one run's exit status, stdout and stderr, and the
 * assertions the command tests share. Include after <cmocka.h>. */
#ifndef TESSERA_TESTS_CMD_TESTING_H
#define TESSERA_TESTS_CMD_TESTING_H

enum { CMD_MAX_OUTPUT = 1 << 18 };

/* One finished run of the command. */
typedef struct CmdRun {
    int status; /* the exit status, or -1 when it did not exit normally */
    char out[CMD_MAX_OUTPUT];
    char err[CMD_MAX_OUTPUT];
} CmdRun;

/* The command to run: argv[1] of the test. */
void cmd_testing_init(const char *command_path);
/* Runs the command with args (NULL-terminated); the result lives until the next run. */
const CmdRun *cmd_run_argv(const char *const *args);
#define cmd_run(...) cmd_run_argv((const char *const[]){ __VA_ARGS__, NULL })

/* Asserts that text contains needle, showing both when it does not. */
void assert_contains(const char *text, const char *needle);
/* A failed run: the status, nothing on stdout, and the message on stderr. */
void assert_run_fails(const CmdRun *r, int status, const char *message);
/* A successful run with nothing on stderr. */
void assert_run_succeeds(const CmdRun *r);
/* Exit status 0, whatever stderr says (progress lines, warnings). */
void assert_run_ok(const CmdRun *r);
/* Number of times needle occurs in text. */
int count_occurrences(const char *text, const char *needle);

#endif /* TESSERA_TESTS_CMD_TESTING_H */
