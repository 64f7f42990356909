/* Modules: shared objects exported by Tessera (codegen's ts_build_shared), loaded with
 * dlopen. A module carries its kernels in a TsModuleTable under TS_MODULE_TABLE_SYMBOL;
 * loading checks the table (ABI version, sizes, names, pointers) once, so that listing
 * and calling kernels afterwards needs no further checks. A table of an older version
 * is read as far as that version goes and kept in the current layout. A module is
 * reference-counted and closed (dlclose) when the last reference goes; the kernel
 * pointers it handed out are valid until then. */
#include <dlfcn.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/rt_internal.h"
#include "tessera/runtime.h"

struct TsModule {
    atomic_long refs;
    void *library; /* the dlopen handle */
    TsModuleTable table; /* read from the library, in the current layout */
    RtModel *model;      /* a whole model's graph, weights and plan; NULL for kernels */
    char path[]; /* as given, for messages */
};

/* The table's entries must be usable as they are: a name and a kernel each, and no name
 * twice (ts_module_get_func would find only the first). */
static TsStatus check_entries(const char *path, const TsModuleTable *table, TsError *err)
{
    for (int32_t i = 0; i < table->num_funcs; i++) {
        const TsFuncEntry *entry = &table->funcs[i];
        if (!entry->name || !entry->func || entry->num_args < 0)
            return ts_fail(err, TS_EPROTO, "module %s: function table entry %d (%s) has %s", path,
                           (int)i, entry->name ? entry->name : "no name",
                           !entry->name   ? "a NULL name"
                           : !entry->func ? "a NULL function pointer"
                                          : "a negative argument count");
        for (int32_t j = 0; j < i; j++)
            if (strcmp(table->funcs[j].name, entry->name) == 0)
                return ts_fail(err, TS_EPROTO,
                               "module %s: function %s appears twice in the table (entries "
                               "%d and %d)",
                               path, entry->name, (int)j, (int)i);
    }
    return TS_OK;
}

/* The table's header: a version this runtime reads, nothing in the fields it reserves
 * (a version-3 table sets the model's fields together with TS_MODULE_HAS_MODEL, and
 * only then), and a function array to go with the count. */
static TsStatus check_table(const char *path, const TsModuleTable *table, TsError *err)
{
    bool model_fields = table->graph || table->weights || table->memory_plan ||
                        table->graph_bytes || table->weights_bytes || table->memory_plan_bytes;
    if (table->abi_version < 3 && (table->flags || table->reserved_word || model_fields))
        return ts_fail(err, TS_EPROTO,
                       "module %s: table version %u sets fields reserved for a whole model, "
                       "which that version cannot hold",
                       path, (unsigned)table->abi_version);
    if (table->flags & ~TS_MODULE_HAS_MODEL || table->reserved_word)
        return ts_fail(err, TS_EPROTO, "module %s: table field %s has unknown bits", path,
                       table->reserved_word ? "reserved_word" : "flags");
    if (!(table->flags & TS_MODULE_HAS_MODEL) && model_fields)
        return ts_fail(err, TS_EPROTO,
                       "module %s: table sets model fields without the TS_MODULE_HAS_MODEL flag",
                       path);
    for (int i = 0; i < TS_MODULE_TABLE_RESERVED; i++)
        if (table->reserved[i])
            return ts_fail(err, TS_EPROTO, "module %s: table version %u sets reserved field %d",
                           path, (unsigned)table->abi_version, i);
    if (table->num_funcs < 0)
        return ts_fail(err, TS_EPROTO, "module %s: table has a negative function count %d", path,
                       (int)table->num_funcs);
    if (table->num_funcs > 0 && !table->funcs)
        return ts_fail(err, TS_EPROTO, "module %s: table lists %d functions but no array", path,
                       (int)table->num_funcs);
    return check_entries(path, table, err);
}

/* The table at symbol in the current layout: a version-1 table is only as long as its
 * first three fields, so no more than those are read; the others stay zero. */
static TsStatus read_table(const char *path, const void *symbol, TsModuleTable *out, TsError *err)
{
    uint32_t version;
    memcpy(&version, symbol, sizeof version);
    if (version < TS_MODULE_ABI_VERSION_MIN || version > TS_MODULE_ABI_VERSION)
        return ts_fail(err, TS_EPROTO,
                       "module %s: table ABI version %u, but this runtime reads versions %u to "
                       "%u (export the module again with this Tessera)",
                       path, (unsigned)version, (unsigned)TS_MODULE_ABI_VERSION_MIN,
                       (unsigned)TS_MODULE_ABI_VERSION);
    memset(out, 0, sizeof *out);
    memcpy(out, symbol, version == 1 ? offsetof(TsModuleTable, flags) : sizeof *out);
    return check_table(path, out, err);
}

/* dlopen searches the library path for a name without a slash; a module path is a file
 * path, so "kernels.so" means the one in the current directory. */
static void *open_library(const char *path)
{
    if (strchr(path, '/'))
        return dlopen(path, RTLD_NOW | RTLD_LOCAL);
    size_t length = strlen(path);
    char *relative = malloc(length + 3);
    if (!relative)
        return NULL;
    memcpy(relative, "./", 2);
    memcpy(relative + 2, path, length + 1);
    void *library = dlopen(relative, RTLD_NOW | RTLD_LOCAL);
    free(relative);
    return library;
}

TsStatus ts_module_load(const char *path, TsModule **out, TsError *err)
{
    if (!out)
        return ts_fail(err, TS_EINVAL, "module_load: out is NULL");
    *out = NULL;
    if (!path || !*path)
        return ts_fail(err, TS_EINVAL, "module_load: the path is %s", path ? "empty" : "NULL");
    dlerror(); /* forget an older error, so that a NULL below reports this call's */
    void *library = open_library(path);
    if (!library) {
        const char *why = dlerror();
        return ts_fail(err, TS_EIO, "module %s: cannot load: %s", path,
                       why ? why : "out of memory");
    }
    TsStatus status;
    TsModuleTable table;
    const void *symbol = dlsym(library, TS_MODULE_TABLE_SYMBOL);
    if (!symbol) {
        const char *why = dlerror();
        status = ts_fail(err, TS_EPROTO,
                         "module %s: no %s symbol, so not a module exported by Tessera (%s)", path,
                         TS_MODULE_TABLE_SYMBOL, why ? why : "the symbol is NULL");
        goto out_close;
    }
    status = read_table(path, symbol, &table, err);
    if (status != TS_OK)
        goto out_close;
    RtModel *model = NULL;
    if (table.flags & TS_MODULE_HAS_MODEL) {
        status = rt_model_read(path, &table, &model, err);
        if (status != TS_OK)
            goto out_close;
    }
    size_t path_bytes = strlen(path) + 1;
    TsModule *module = malloc(sizeof *module + path_bytes);
    if (!module) {
        rt_model_free(model);
        status = ts_fail(err, TS_ENOMEM, "module %s: out of memory", path);
        goto out_close;
    }
    atomic_init(&module->refs, 1);
    module->library = library;
    module->table = table;
    module->model = model;
    memcpy(module->path, path, path_bytes);
    *out = module;
    return TS_OK;

out_close:
    dlclose(library);
    return status;
}

int ts_module_num_funcs(const TsModule *module)
{
    return module ? (int)module->table.num_funcs : 0;
}

const TsFuncEntry *ts_module_func(const TsModule *module, int i)
{
    if (!module || i < 0 || i >= module->table.num_funcs)
        return NULL;
    return &module->table.funcs[i];
}

/* "a, b, c" (cut short with "..." when it does not fit), for the message that a kernel
 * is missing. */
static const char *list_names(const TsModuleTable *table, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int32_t i = 0; i < table->num_funcs; i++) {
        const char *name = table->funcs[i].name;
        size_t need = strlen(name) + (i ? 2 : 0);
        if (used + need + 4 >= size) {
            snprintf(buf + used, size - used, "%s...", i ? ", " : "");
            break;
        }
        used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? ", " : "", name);
    }
    return table->num_funcs ? buf : "none";
}

TsStatus ts_module_get_func(const TsModule *module, const char *name, TsPackedFunc *out,
                            TsError *err)
{
    if (!out)
        return ts_fail(err, TS_EINVAL, "module_get_func: out is NULL");
    *out = NULL;
    if (!module || !name)
        return ts_fail(err, TS_EINVAL, "module_get_func: %s is NULL",
                       module ? "the name" : "the module");
    for (int32_t i = 0; i < module->table.num_funcs; i++)
        if (strcmp(module->table.funcs[i].name, name) == 0) {
            *out = module->table.funcs[i].func;
            return TS_OK;
        }
    char names[256];
    return ts_fail(err, TS_EINVAL, "module %s has no function %s; it has: %s", module->path, name,
                   list_names(&module->table, names, sizeof names));
}

void ts_module_retain(TsModule *module)
{
    if (module)
        atomic_fetch_add_explicit(&module->refs, 1, memory_order_relaxed);
}

void ts_module_release(TsModule *module)
{
    if (!module)
        return;
    if (atomic_fetch_sub_explicit(&module->refs, 1, memory_order_acq_rel) == 1) {
        rt_model_free(module->model);
        dlclose(module->library);
        free(module);
    }
}

const RtModel *rt_module_model(const TsModule *module)
{
    return module ? module->model : NULL;
}

const char *rt_module_path(const TsModule *module)
{
    return module->path;
}
