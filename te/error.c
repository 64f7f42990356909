/* The error record: ts_fail formats a message naming the culprit into the caller's
 * TsError. Used by every module; lives in te/ because te/ is at the bottom. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tessera/error.h"

TsStatus ts_fail(TsError *err, TsStatus status, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->status = status;
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return status;
}

void ts_error_clear(TsError *err)
{
    if (err) {
        err->status = TS_OK;
        err->message[0] = '\0';
    }
}

const char *ts_status_name(TsStatus status)
{
    switch (status) {
    case TS_OK: return "TS_OK";
    case TS_EINVAL: return "TS_EINVAL";
    case TS_ENOMEM: return "TS_ENOMEM";
    case TS_ESCHEDULE: return "TS_ESCHEDULE";
    case TS_ECODEGEN: return "TS_ECODEGEN";
    case TS_EIO: return "TS_EIO";
    case TS_EPROTO: return "TS_EPROTO";
    case TS_ETIMEOUT: return "TS_ETIMEOUT";
    case TS_EDEVICE: return "TS_EDEVICE";
    }
    return "unknown status";
}
