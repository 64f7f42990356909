/* A module exported before the table had reserved fields: a version-1 table, only as
 * long as its first three fields. It must still load, and the loader must not read past
 * its end. */
#include <stdint.h>

#include "tessera/runtime.h"

static int32_t one(const TsValue *args, const int32_t *type_codes, int32_t num_args)
{
    (void)args;
    (void)type_codes;
    (void)num_args;
    return 0;
}

static int32_t fails(const TsValue *args, const int32_t *type_codes, int32_t num_args)
{
    (void)args;
    (void)type_codes;
    (void)num_args;
    ts_runtime_set_error("fails: as written");
    return -1;
}

static const TsFuncEntry entries[] = { { "one", one, 0, "" }, { "fails", fails, 0, "" } };

/* The version-1 layout, field for field. */
const struct {
    uint32_t abi_version;
    int32_t num_funcs;
    const TsFuncEntry *funcs;
} tessera_module_table = { 1, 2, entries };
