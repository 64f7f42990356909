/* A module whose table has an entry without a function pointer (a broken exporter).
 * Loading it must fail with TS_EPROTO naming the entry. */
#include "tessera/runtime.h"

static int32_t noop(const TsValue *args, const int32_t *type_codes, int32_t num_args)
{
    (void)args;
    (void)type_codes;
    (void)num_args;
    return 0;
}

static const TsFuncEntry entries[] = { { "fine", noop, 0, "" }, { "broken", NULL, 0, "" } };

const TsModuleTable tessera_module_table = { .abi_version = TS_MODULE_ABI_VERSION,
                                             .num_funcs = 2,
                                             .funcs = entries };
