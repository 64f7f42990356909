/* A version-2 table whose fields reserved for a whole model are set, as a module from a
 * Tessera that filled them without raising the version might be. Version 2 holds kernels
 * only, so loading it must fail with TS_EPROTO naming the file. */
#include "tessera/runtime.h"

static int32_t noop(const TsValue *args, const int32_t *type_codes, int32_t num_args)
{
    (void)args;
    (void)type_codes;
    (void)num_args;
    return 0;
}

static const TsFuncEntry entries[] = { { "noop", noop, 0, "" } };
static const char graph[] = "a graph this runtime cannot read";

const TsModuleTable tessera_module_table = {
    .abi_version = 2, .num_funcs = 1, .funcs = entries, .graph = graph
};
