/* Status codes and the error record every fallible Tessera call fills. */
#ifndef TESSERA_ERROR_H
#define TESSERA_ERROR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum TsStatus {
    TS_OK = 0,
    TS_EINVAL,    /* bad argument: shape, dtype, attribute, index */
    TS_ENOMEM,    /* allocation failed */
    TS_ESCHEDULE, /* illegal schedule request */
    TS_ECODEGEN,  /* code generation failed */
    TS_EIO,       /* file or socket error */
    TS_EPROTO,    /* malformed message or file contents */
    TS_ETIMEOUT,  /* an operation ran out of time */
    TS_EDEVICE    /* the device failed or was lost */
} TsStatus;

#define TS_ERROR_MESSAGE_MAX 512

/* The caller owns the record (usually on its stack); a failing call fills it.
 * The message names the object at fault. */
typedef struct TsError {
    TsStatus status;
    char message[TS_ERROR_MESSAGE_MAX];
} TsError;

#if defined(__GNUC__) || defined(__clang__)
#define TS_PRINTF_LIKE(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define TS_PRINTF_LIKE(fmt, args)
#endif

/* Fills err (which may be NULL) and returns status, so that a caller can write
 * `return ts_fail(err, TS_EINVAL, "split %s: ...", name);`. */
TsStatus ts_fail(TsError *err, TsStatus status, const char *fmt, ...) TS_PRINTF_LIKE(3, 4);

/* Resets err to TS_OK with an empty message. */
void ts_error_clear(TsError *err);

/* "TS_EINVAL" and so on; "unknown status" for values outside the enum. */
const char *ts_status_name(TsStatus status);

#ifdef __cplusplus
}
#endif

#endif /* TESSERA_ERROR_H */
