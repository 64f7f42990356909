/* A module whose constructor crashes when it is loaded: the server must report that
 * (its load probe runs in a child) and go on serving. */
#include <signal.h>

#include "tessera/runtime.h"

static void crash_on_load(void) __attribute__((constructor));
static void crash_on_load(void)
{
    raise(SIGSEGV);
}

static const TsFuncEntry entries[1];
const TsModuleTable tessera_module_table = { .abi_version = TS_MODULE_ABI_VERSION,
                                             .num_funcs = 0,
                                             .funcs = entries };
