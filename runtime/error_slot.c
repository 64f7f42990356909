/* The runtime's last-error slot: one bounded message per thread. Kernels, parallel tasks
 * and the runtime itself write why a call failed here (ts_runtime_set_error); the caller
 * reads it after a non-zero return (ts_runtime_last_error), the way TVM's
 * TVMGetLastError works. The slot is thread-local, so concurrent kernels on different
 * threads never see each other's messages. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "runtime/rt_internal.h"
#include "tessera/runtime.h"

static _Thread_local char last_error[TS_ERROR_MESSAGE_MAX];

/* Copies message (truncated to the slot's size; NULL empties the slot). memmove, so that
 * passing ts_runtime_last_error() itself is harmless. */
void ts_runtime_set_error(const char *message)
{
    if (!message) {
        last_error[0] = '\0';
        return;
    }
    size_t length = strnlen(message, sizeof last_error - 1);
    memmove(last_error, message, length);
    last_error[length] = '\0';
}

const char *ts_runtime_last_error(void)
{
    return last_error;
}

void rt_set_errorf(const char *fmt, ...)
{
    char message[TS_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    ts_runtime_set_error(message);
}

void rt_clear_error(void)
{
    last_error[0] = '\0';
}
