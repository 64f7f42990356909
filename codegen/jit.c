/* Kernels JIT-compiled into this process: the module's object code (module.c) is linked
 * by an ORC LLJIT of its own, and the kernels are found through the module table, just
 * as the runtime's loader finds them in a shared object.
 *
 * Each TsJitModule owns one LLJIT, so modules are independent: built in parallel (each
 * build has its own LLVM context), released in any order, and each may define the
 * table symbol. Symbols the code needs from outside (ts_runtime_set_error,
 * ts_parallel_launch, libc, libm) resolve from this process through LLJIT's
 * dynamic-library search generator; libtessera links libtessera_runtime, so the
 * runtime's symbols are always there. Only a target whose triple is the host's can be
 * JIT-compiled. An object file made earlier (ts_build_object) is linked the same way
 * (ts_jit_load_object): the local measurer's process runs candidates so, without the
 * system linker. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llvm-c/Error.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>

#include "cg_internal.h"

struct TsJitModule {
    atomic_int refs;
    LLVMOrcLLJITRef jit;
    const TsModuleTable *table;
};

/* Turns an LLVM error into a status naming what failed (consumes the error). */
static TsStatus llvm_error(LLVMErrorRef error, const char *what, TsError *err)
{
    char *message = LLVMGetErrorMessage(error);
    TsStatus status = ts_fail(err, TS_ECODEGEN, "jit: %s: %s", what, message);
    LLVMDisposeErrorMessage(message);
    return status;
}

static TsStatus add_process_symbols(LLVMOrcLLJITRef jit, TsError *err)
{
    LLVMOrcDefinitionGeneratorRef generator = NULL;
    LLVMErrorRef error = LLVMOrcCreateDynamicLibrarySearchGeneratorForProcess(
        &generator, LLVMOrcLLJITGetGlobalPrefix(jit), NULL, NULL);
    if (error)
        return llvm_error(error, "cannot search this process for symbols", err);
    LLVMOrcJITDylibAddGenerator(LLVMOrcLLJITGetMainJITDylib(jit), generator);
    return TS_OK;
}

static TsStatus find_table(TsJitModule *module, TsError *err)
{
    LLVMOrcExecutorAddress address = 0;
    LLVMErrorRef error = LLVMOrcLLJITLookup(module->jit, &address, TS_MODULE_TABLE_SYMBOL);
    if (error)
        return llvm_error(error, "linking the kernels", err);
    module->table = (const TsModuleTable *)(uintptr_t)address;
    if (!module->table || module->table->abi_version != TS_MODULE_ABI_VERSION)
        return ts_fail(err, TS_ECODEGEN, "jit: the module table is %s",
                       module->table ? "of another ABI version" : "missing");
    return TS_OK;
}

/* Links object (taking it) into a new LLJIT. */
static TsStatus link_object(TsJitModule *module, LLVMMemoryBufferRef object, TsError *err)
{
    LLVMErrorRef error = LLVMOrcCreateLLJIT(&module->jit, NULL);
    if (error) {
        LLVMDisposeMemoryBuffer(object);
        module->jit = NULL;
        return llvm_error(error, "cannot create an LLJIT", err);
    }
    TsStatus status = add_process_symbols(module->jit, err);
    if (status != TS_OK) {
        LLVMDisposeMemoryBuffer(object);
        return status;
    }
    error = LLVMOrcLLJITAddObjectFile(module->jit, LLVMOrcLLJITGetMainJITDylib(module->jit),
                                      object);
    if (error)
        return llvm_error(error, "cannot add the object code", err);
    return find_table(module, err);
}

TsStatus ts_build_jit(int num_funcs, const TsLoweredFunc *const *funcs, const TsTarget *target,
                      TsJitModule **out, TsError *err)
{
    if (!out)
        return ts_fail(err, TS_EINVAL, "jit: the result pointer is NULL");
    *out = NULL;
    if (target && !target->is_host)
        return ts_fail(err, TS_EINVAL, "jit: target %s is not this machine's (%s); build an "
                       "object or a shared object for it instead", target->text, target->triple);
    LLVMMemoryBufferRef object = NULL;
    TsStatus status = cg_build_object_code(num_funcs, funcs, NULL, target, &object, err);
    if (status != TS_OK)
        return status;
    TsJitModule *module = calloc(1, sizeof *module);
    if (!module) {
        LLVMDisposeMemoryBuffer(object);
        return ts_fail(err, TS_ENOMEM, "jit: out of memory");
    }
    atomic_init(&module->refs, 1);
    status = link_object(module, object, err);
    if (status != TS_OK) {
        ts_jit_release(module);
        return status;
    }
    *out = module;
    return TS_OK;
}

TsStatus ts_jit_load_object(const char *path, TsJitModule **out, TsError *err)
{
    if (!out)
        return ts_fail(err, TS_EINVAL, "jit: the result pointer is NULL");
    *out = NULL;
    if (!path)
        return ts_fail(err, TS_EINVAL, "jit: the object file's path is NULL");
    cg_llvm_init();
    LLVMMemoryBufferRef object = NULL;
    char *message = NULL;
    if (LLVMCreateMemoryBufferWithContentsOfFile(path, &object, &message)) {
        TsStatus status = ts_fail(err, TS_EIO, "jit: cannot read the object file %s: %s", path,
                                  message ? message : "?");
        LLVMDisposeMessage(message);
        return status;
    }
    TsJitModule *module = calloc(1, sizeof *module);
    if (!module) {
        LLVMDisposeMemoryBuffer(object);
        return ts_fail(err, TS_ENOMEM, "jit: out of memory");
    }
    atomic_init(&module->refs, 1);
    TsError link_err;
    TsStatus status = link_object(module, object, &link_err);
    if (status != TS_OK) {
        ts_jit_release(module);
        return ts_fail(err, status, "%s (object file %s)", link_err.message, path);
    }
    *out = module;
    return TS_OK;
}

TsStatus ts_jit_get_func(const TsJitModule *module, const char *name, TsPackedFunc *out,
                         TsError *err)
{
    if (!module || !name || !out)
        return ts_fail(err, TS_EINVAL, "jit: get_func needs a module, a name and a result");
    const TsModuleTable *table = module->table;
    char names[256] = "";
    size_t used = 0;
    for (int i = 0; i < table->num_funcs; i++) {
        if (strcmp(table->funcs[i].name, name) == 0) {
            *out = table->funcs[i].func;
            return TS_OK;
        }
        if (used < sizeof names)
            used += (size_t)snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "",
                                     table->funcs[i].name);
    }
    *out = NULL;
    return ts_fail(err, TS_EINVAL, "jit: no kernel named %s (the module has %s)", name, names);
}

void ts_jit_retain(TsJitModule *module)
{
    if (module)
        atomic_fetch_add(&module->refs, 1);
}

void ts_jit_release(TsJitModule *module)
{
    if (!module || atomic_fetch_sub(&module->refs, 1) != 1)
        return;
    if (module->jit) {
        LLVMErrorRef error = LLVMOrcDisposeLLJIT(module->jit);
        if (error) /* nothing to report it to: the code is gone either way */
            LLVMConsumeError(error);
    }
    free(module);
}
