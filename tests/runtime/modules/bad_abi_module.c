/* A module whose table claims an ABI version this runtime does not read (from a future
 * Tessera, say). Loading it must fail with TS_EPROTO naming both versions. */
#include "tessera/runtime.h"

static int32_t noop(const TsValue *args, const int32_t *type_codes, int32_t num_args)
{
    (void)args;
    (void)type_codes;
    (void)num_args;
    return 0;
}

static const TsFuncEntry entries[] = { { "noop", noop, 0, "" } };

const TsModuleTable tessera_module_table = { .abi_version = 42, .num_funcs = 1, .funcs = entries };
