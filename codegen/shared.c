/* Kernels on disk: an object file (the module's object code written as is), and a
 * shared object linked from it by an external linker that runs as a child process
 * (posix_spawnp, never a shell), its output kept for the error message:
 *   - the host's triple: `ld -shared -o OUT OBJ`, the system linker without the C driver
 *     (`cc -shared` spends most of its time on the driver and on reading the C
 *     library's symbols); libc and libm symbols stay undefined, as for aarch64 below.
 *     Without ld on PATH: `cc -shared -o OUT OBJ -lm`;
 *   - aarch64: `aarch64-linux-gnu-gcc -shared -o OUT OBJ -lm` when that cross compiler is
 *     on PATH, else `ld.lld-16 -shared -o OUT OBJ` or `ld.lld ...` (no C library to link
 *     against; libc and libm symbols stay undefined, and the board's loader finds them in
 *     the process, which has them through libtessera_runtime).
 * The runtime's symbols (ts_runtime_set_error, ts_parallel_launch,
 * ts_parallel_num_threads) are left undefined on purpose: the shared object is loaded by
 * ts_module_load from a process that has libtessera_runtime loaded (linked into the
 * executable, or dlopened RTLD_GLOBAL), and the dynamic loader binds them there. So the
 * .so carries no path to a runtime library and runs with whichever runtime the board
 * has, of the same TS_MODULE_ABI_VERSION.
 *
 * The object file waits for the linker in a directory of this process's own,
 * $TMPDIR/tessera-<pid>/ (mode 0700), removed again once empty. A process killed in the
 * middle of a build (a builder worker past its timeout, say) leaves its directory
 * behind, so the first build of every process sweeps the directories of processes that
 * no longer exist: what a killed build leaves lasts until the next one starts. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cg_internal.h"

extern char **environ;

enum { LINKER_OUTPUT_MAX = 400 };

static TsStatus write_file(const char *path, const void *data, size_t size, TsError *err)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return ts_fail(err, TS_EIO, "cannot create %s: %s", path, strerror(errno));
    size_t wrote = fwrite(data, 1, size, f);
    int closed = fclose(f);
    if (wrote != size || closed != 0)
        return ts_fail(err, TS_EIO, "cannot write %s: %s", path, strerror(errno));
    return TS_OK;
}

TsStatus ts_build_object(int num_funcs, const TsLoweredFunc *const *funcs,
                         const TsTarget *target, const char *path, TsError *err)
{
    if (!path)
        return ts_fail(err, TS_EINVAL, "build object: the path is NULL");
    LLVMMemoryBufferRef object = NULL;
    TsStatus status = cg_build_object_code(num_funcs, funcs, NULL, target, &object, err);
    if (status != TS_OK)
        return status;
    status = write_file(path, LLVMGetBufferStart(object), LLVMGetBufferSize(object), err);
    LLVMDisposeMemoryBuffer(object);
    return status;
}

/* ---- the linker ---- */

/* Whether an executable called name is on PATH. */
static bool on_path(const char *name)
{
    const char *path = getenv("PATH");
    if (!path)
        return false;
    while (*path) {
        size_t len = strcspn(path, ":");
        char candidate[4096];
        if (len > 0 && len + strlen(name) + 2 < sizeof candidate) {
            snprintf(candidate, sizeof candidate, "%.*s/%s", (int)len, path, name);
            if (access(candidate, X_OK) == 0)
                return true;
        }
        path += len;
        path += *path == ':';
    }
    return false;
}

/* The command that links object into a shared object at out, in argv (NULL-ended). */
static TsStatus linker_command(const TsTarget *target, const char *object, const char *out,
                               const char **argv, TsError *err)
{
    const char *tool = NULL;
    bool c_driver = true;
    if (target->is_host && on_path("ld")) {
        tool = "ld"; /* the linker itself: a fifth of the C driver's time (3 ms, not 19) */
        c_driver = false;
    } else if (target->is_host) {
        tool = "cc";
    } else if (target->arch == CG_ARCH_AARCH64 && on_path("aarch64-linux-gnu-gcc")) {
        tool = "aarch64-linux-gnu-gcc";
    } else if (target->arch == CG_ARCH_AARCH64) {
        tool = on_path("ld.lld-16") ? "ld.lld-16" : on_path("ld.lld") ? "ld.lld" : NULL;
        c_driver = false;
    }
    if (!tool)
        return ts_fail(err, TS_EINVAL, "build shared %s: no linker for %s (install "
                       "aarch64-linux-gnu-gcc or ld.lld for aarch64; other cross targets "
                       "need an object file and a linker of their own)", out, target->triple);
    int n = 0;
    argv[n++] = tool;
    argv[n++] = "-shared";
    argv[n++] = "-o";
    argv[n++] = out;
    argv[n++] = object;
    if (c_driver)
        argv[n++] = "-lm";
    argv[n] = NULL;
    return TS_OK;
}

/* Reads what the child wrote (up to the buffer's size; the rest is drained). */
static void read_output(int fd, char *buf, size_t size)
{
    size_t used = 0;
    char chunk[512];
    ssize_t got;
    while ((got = read(fd, chunk, sizeof chunk)) > 0 || (got < 0 && errno == EINTR)) {
        if (got <= 0)
            continue;
        size_t take = (size_t)got < size - 1 - used ? (size_t)got : size - 1 - used;
        memcpy(buf + used, chunk, take);
        used += take;
    }
    buf[used] = '\0';
}

/* Runs argv with its output in a pipe; fills output and *exit_code. */
static TsStatus run_linker(const char **argv, char *output, size_t size, int *exit_code,
                           TsError *err)
{
    int fds[2];
    if (pipe(fds) != 0)
        return ts_fail(err, TS_EIO, "build shared: pipe: %s", strerror(errno));
    /* Not inherited by children other threads spawn meanwhile (which would hold the pipe
     * open past the linker's exit); dup2 in our child clears the flag on its copies. */
    fcntl(fds[0], F_SETFD, FD_CLOEXEC);
    fcntl(fds[1], F_SETFD, FD_CLOEXEC);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDERR_FILENO);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &actions, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        return ts_fail(err, TS_EIO, "build shared: cannot run %s: %s", argv[0], strerror(rc));
    }
    read_output(fds[0], output, size);
    close(fds[0]);
    int wstatus;
    while (waitpid(pid, &wstatus, 0) < 0)
        if (errno != EINTR)
            return ts_fail(err, TS_EIO, "build shared: waiting for %s: %s", argv[0],
                           strerror(errno));
    *exit_code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
    return TS_OK;
}

static TsStatus link_shared(const TsTarget *target, const char *object, const char *path,
                            TsError *err)
{
    const char *argv[8];
    TsStatus status = linker_command(target, object, path, argv, err);
    if (status != TS_OK)
        return status;
    char output[LINKER_OUTPUT_MAX];
    int exit_code = 0;
    status = run_linker(argv, output, sizeof output, &exit_code, err);
    if (status != TS_OK)
        return status;
    if (exit_code == 127 && !output[0])
        return ts_fail(err, TS_EIO, "build shared %s: %s is not installed", path, argv[0]);
    if (exit_code != 0)
        return ts_fail(err, TS_EIO, "build shared %s: %s exited with %d: %s", path, argv[0],
                       exit_code, output);
    return TS_OK;
}

/* ---- the per-process scratch directory ---- */

static const char *temp_root(void)
{
    const char *dir = getenv("TMPDIR");
    return dir && dir[0] ? dir : "/tmp";
}

/* The pid in a scratch directory's name "tessera-<pid>", or 0 for any other name. */
static pid_t scratch_pid(const char *name)
{
    static const char prefix[] = "tessera-";
    if (strncmp(name, prefix, sizeof prefix - 1) != 0)
        return 0;
    const char *digits = name + sizeof prefix - 1;
    if (!*digits || strlen(digits) > 9 || strspn(digits, "0123456789") != strlen(digits))
        return 0;
    return (pid_t)atol(digits);
}

/* Removes the files in root/name and the directory itself. */
static void remove_scratch(int root_fd, const char *name)
{
    int fd = openat(root_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
    if (!dir) {
        if (fd >= 0)
            close(fd);
        return;
    }
    struct dirent *e;
    while ((e = readdir(dir)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            unlinkat(fd, e->d_name, 0);
    closedir(dir);
    unlinkat(root_fd, name, AT_REMOVEDIR);
}

/* Removes the scratch directories, owned by this user, of processes that are gone. */
static void sweep_scratch(const char *root)
{
    DIR *dir = opendir(root);
    if (!dir)
        return;
    int root_fd = dirfd(dir);
    struct dirent *e;
    while ((e = readdir(dir))) {
        pid_t pid = scratch_pid(e->d_name);
        struct stat st;
        if (pid <= 0 || pid == getpid() || kill(pid, 0) == 0 || errno != ESRCH ||
            fstatat(root_fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode) ||
            st.st_uid != geteuid())
            continue;
        remove_scratch(root_fd, e->d_name);
    }
    closedir(dir);
}

/* This process's scratch directory, created (after the sweep, on the process's first
 * build; a forked child is a new process) when missing. */
static TsStatus scratch_dir(char *path, size_t size, TsError *err)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static pid_t swept_by = 0;
    const char *root = temp_root();
    pthread_mutex_lock(&lock);
    if (swept_by != getpid()) {
        sweep_scratch(root);
        swept_by = getpid();
    }
    pthread_mutex_unlock(&lock);
    if ((size_t)snprintf(path, size, "%s/tessera-%ld", root, (long)getpid()) >= size)
        return ts_fail(err, TS_EIO,
                       "build shared: the temporary directory %s has too long a "
                       "name",
                       root);
    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        return ts_fail(err, TS_EIO, "build shared: cannot create the directory %s: %s", path,
                       strerror(errno));
    return TS_OK;
}

/* A temporary file for the object code in the scratch directory. Another thread's build
 * may remove the directory between its creation and the file's, so that is tried again. */
static TsStatus temp_object(LLVMMemoryBufferRef object, char *path, size_t size, TsError *err)
{
    char dir[3072];
    int fd = -1;
    for (int attempt = 0; fd < 0 && attempt < 5; attempt++) {
        TsStatus status = scratch_dir(dir, sizeof dir, err);
        if (status != TS_OK)
            return status;
        snprintf(path, size, "%s/tessera-object-XXXXXX", dir);
        fd = mkstemp(path);
        if (fd < 0 && errno != ENOENT)
            break;
    }
    if (fd < 0)
        return ts_fail(err, TS_EIO, "build shared: cannot create a temporary file in %s: %s", dir,
                       strerror(errno));
    const char *data = LLVMGetBufferStart(object);
    size_t left = LLVMGetBufferSize(object);
    while (left > 0) {
        ssize_t wrote = write(fd, data, left);
        if (wrote < 0 && errno == EINTR)
            continue;
        if (wrote <= 0) {
            TsStatus status = ts_fail(err, TS_EIO, "build shared: writing %s: %s", path,
                                      strerror(errno));
            close(fd);
            unlink(path);
            return status;
        }
        data += wrote;
        left -= (size_t)wrote;
    }
    close(fd);
    return TS_OK;
}

TsStatus ts_build_shared(int num_funcs, const TsLoweredFunc *const *funcs,
                         const TsTarget *target, const char *path, TsError *err)
{
    return ts_build_shared_model(num_funcs, funcs, NULL, target, path, err);
}

TsStatus ts_build_shared_model(int num_funcs, const TsLoweredFunc *const *funcs,
                               const TsModelBlobs *model, const TsTarget *target,
                               const char *path, TsError *err)
{
    if (!path)
        return ts_fail(err, TS_EINVAL, "build shared: the path is NULL");
    LLVMMemoryBufferRef object = NULL;
    TsStatus status = cg_build_object_code(num_funcs, funcs, model, target, &object, err);
    if (status != TS_OK)
        return status;
    char object_path[4096];
    status = temp_object(object, object_path, sizeof object_path, err);
    LLVMDisposeMemoryBuffer(object);
    if (status != TS_OK)
        return status;
    status = link_shared(target, object_path, path, err);
    unlink(object_path);
    *strrchr(object_path, '/') = '\0';
    rmdir(object_path); /* fails, harmlessly, while another thread's object is there */
    return status;
}
