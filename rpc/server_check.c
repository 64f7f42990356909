/* The device server's checks of what a peer names and sizes, before the session touches
 * a file or maps memory: a file name must stay inside the session directory, and an
 * array's dtype and shape must give a byte size without overflow. They are kept apart
 * from the session (server_session.c) so that the fuzz target of message decoding
 * (tests/rpc/fuzz_rpc_decode.c) reaches them with every request it decodes, and unit
 * tests call them directly. */
#include <stdio.h>
#include <string.h>

#include "rpc/server_internal.h"

TsStatus rpc_check_file_name(const char *name, TsError *err)
{
    if (!name || !*name)
        return ts_fail(err, TS_EINVAL, "the file name is empty");
    size_t len = strlen(name);
    if (len > RPC_MAX_FILE_NAME)
        return ts_fail(err, TS_EINVAL, "file name '%.32s...' is longer than %d bytes", name,
                       RPC_MAX_FILE_NAME);
    if (strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return ts_fail(err, TS_EINVAL,
                       "file name '%s' is not a plain file name (no '/', not '.' or '..')", name);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)name[i] < 0x20)
            return ts_fail(err, TS_EINVAL, "file name '%s' contains a control character", name);
    return TS_OK;
}

TsStatus rpc_check_array_shape(const Tessera__Rpc__AllocArray *req, TsDType *dtype,
                               uint64_t *nbytes, TsError *err)
{
    const Tessera__Rpc__DType *dt = req->dtype;
    if (!dt || dt->code > 255 || dt->bits > 255 || dt->lanes > 65535 ||
        !ts_dtype_is_valid(ts_dtype((TsTypeCode)dt->code, (int)dt->bits, (int)dt->lanes)))
        return ts_fail(err, TS_EINVAL, "alloc: dtype (%u, %u, %u) is not a Tessera data type",
                       dt ? dt->code : 0, dt ? dt->bits : 0, dt ? dt->lanes : 0);
    *dtype = ts_dtype((TsTypeCode)dt->code, (int)dt->bits, (int)dt->lanes);
    if (req->n_shape > RPC_MAX_DIMS)
        return ts_fail(err, TS_EINVAL, "alloc: %zu dimensions, at most %d", req->n_shape,
                       RPC_MAX_DIMS);
    uint64_t bytes = ts_dtype_bytes(*dtype);
    for (size_t d = 0; d < req->n_shape; d++) {
        int64_t extent = req->shape[d];
        if (extent < 0)
            return ts_fail(err, TS_EINVAL, "alloc: dimension %zu has a negative extent %lld", d,
                           (long long)extent);
        if (extent > 0 && bytes > UINT64_MAX / (uint64_t)extent)
            return ts_fail(err, TS_EINVAL, "alloc: the array's byte size overflows");
        bytes *= (uint64_t)extent;
    }
    *nbytes = bytes;
    return TS_OK;
}
