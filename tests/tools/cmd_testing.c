/* Running the built `tessera` command from a test; see cmd_testing.h. */
#include <fcntl.h>
#include <setjmp.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmd_testing.h"

extern char **environ;

static const char *command_path;
static CmdRun result;

void cmd_testing_init(const char *path)
{
    command_path = path;
}

static int temp_file(void)
{
    char name[] = "/tmp/tessera-test-XXXXXX";
    int fd = mkstemp(name);
    if (fd >= 0)
        unlink(name);
    return fd;
}

/* The whole of fd's file (from its start) into buf, NUL-terminated. */
static void slurp(int fd, char *buf)
{
    size_t n = 0;
    ssize_t got;
    lseek(fd, 0, SEEK_SET);
    while (n < CMD_MAX_OUTPUT - 1 && (got = read(fd, buf + n, CMD_MAX_OUTPUT - 1 - n)) > 0)
        n += (size_t)got;
    buf[n] = '\0';
    assert_true(n < CMD_MAX_OUTPUT - 1);
    close(fd);
}

const CmdRun *cmd_run_argv(const char *const *args)
{
    assert_non_null(command_path);
    char *argv[64];
    int argc = 0;
    argv[argc++] = (char *)command_path;
    for (; args[argc - 1] && argc < 63; argc++)
        argv[argc] = (char *)args[argc - 1];
    argv[argc] = NULL;
    int out = temp_file(), err = temp_file();
    assert_true(out >= 0 && err >= 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out, STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, err, STDERR_FILENO);
    pid_t pid;
    int spawned = posix_spawn(&pid, command_path, &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    assert_int_equal(spawned, 0);
    int wstatus;
    assert_int_equal(waitpid(pid, &wstatus, 0), pid);
    result.status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1;
    slurp(out, result.out);
    slurp(err, result.err);
    return &result;
}

void assert_contains(const char *text, const char *needle)
{
    if (!strstr(text, needle))
        fprintf(stderr, "expected to find \"%s\" in:\n%s\n", needle, text);
    assert_non_null(strstr(text, needle));
}

void assert_run_fails(const CmdRun *r, int status, const char *message)
{
    if (r->status != status)
        fprintf(stderr, "exit status %d, expected %d; stderr:\n%s\n", r->status, status, r->err);
    assert_int_equal(r->status, status);
    assert_string_equal(r->out, "");
    assert_contains(r->err, message);
}

void assert_run_succeeds(const CmdRun *r)
{
    if (r->status != 0)
        fprintf(stderr, "exit status %d; stderr:\n%s\n", r->status, r->err);
    assert_int_equal(r->status, 0);
    assert_string_equal(r->err, "");
}

void assert_run_ok(const CmdRun *r)
{
    if (r->status != 0)
        fprintf(stderr, "exit status %d; stdout:\n%s\nstderr:\n%s\n", r->status, r->out, r->err);
    assert_int_equal(r->status, 0);
}

int count_occurrences(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}
