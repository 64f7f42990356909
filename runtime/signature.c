/* Reading the argument signature an exported module's table gives each kernel
 * ("A:float32[64,32];B:float32[32,16];C:float32[64,16]", written by codegen/module.c), so
 * that a loader (`tessera run`, the demo's checker) can allocate a kernel's arguments
 * without knowing the operator. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tessera/runtime.h"

/* Parses the shape list "64,32" (between the brackets) into spec. */
static TsStatus parse_shape(const char *text, const char *part, TsArgSpec *spec, TsError *err)
{
    spec->ndim = 0;
    for (const char *p = text; *p;) {
        char *end;
        errno = 0;
        long long dim = strtoll(p, &end, 10);
        if (errno || end == p || dim < 1 || (*end && *end != ','))
            return ts_fail(err, TS_EPROTO, "signature '%s': bad shape '[%s]'", part, text);
        if (spec->ndim == TS_SIGNATURE_MAX_DIMS)
            return ts_fail(err, TS_EPROTO, "signature '%s': more than %d dimensions", part,
                           TS_SIGNATURE_MAX_DIMS);
        spec->shape[spec->ndim++] = dim;
        p = *end ? end + 1 : end;
    }
    return TS_OK;
}

/* One "NAME:DTYPE[D0,D1]" of length len. */
static TsStatus parse_arg(const char *text, size_t len, TsArgSpec *spec, TsError *err)
{
    char part[256];
    if (len >= sizeof part)
        return ts_fail(err, TS_EPROTO, "signature: an argument of %zu characters is too long",
                       len);
    memcpy(part, text, len);
    part[len] = '\0';
    char buf[256];
    memcpy(buf, part, len + 1);
    char *colon = strchr(buf, ':'), *open = strchr(buf, '['), *close = strrchr(buf, ']');
    if (!colon || !open || !close || open < colon || close < open || close[1] != '\0' ||
        colon == buf || (size_t)(colon - buf) >= sizeof spec->name)
        return ts_fail(err, TS_EPROTO, "signature: '%s' is not NAME:DTYPE[SHAPE]", part);
    *colon = *open = *close = '\0';
    memcpy(spec->name, buf, (size_t)(colon - buf) + 1);
    if (!ts_dtype_parse(colon + 1, &spec->dtype))
        return ts_fail(err, TS_EPROTO, "signature '%s': unknown dtype '%s'", part, colon + 1);
    return parse_shape(open + 1, part, spec, err);
}

TsStatus ts_signature_parse(const char *signature, int max_args, TsArgSpec *args,
                            int *num_args, TsError *err)
{
    *num_args = 0;
    if (!signature || !*signature)
        return TS_OK;
    for (const char *p = signature;;) {
        const char *end = strchr(p, ';');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (*num_args == max_args)
            return ts_fail(err, TS_EPROTO, "signature '%s': more than %d arguments", signature,
                           max_args);
        TsStatus st = parse_arg(p, len, &args[*num_args], err);
        if (st != TS_OK)
            return st;
        (*num_args)++;
        if (!end)
            return TS_OK;
        p = end + 1;
    }
}
