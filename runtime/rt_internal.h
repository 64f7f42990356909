/* Shared between the files of runtime/ (prefix rt_): the error slot's helpers for the
 * runtime's own messages. Not installed; no other module includes it. */
#ifndef TESSERA_RT_INTERNAL_H
#define TESSERA_RT_INTERNAL_H

#include "tessera/error.h"

/* Formats a message into this thread's error slot (bounded, like ts_runtime_set_error). */
void rt_set_errorf(const char *fmt, ...) TS_PRINTF_LIKE(1, 2);
/* Empties this thread's error slot, so that a call that fails without a message is not
 * reported with an older one. */
void rt_clear_error(void);

#endif /* TESSERA_RT_INTERNAL_H */
