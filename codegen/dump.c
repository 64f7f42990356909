/* TS_DUMP for codegen: with TS_DUMP=llvm (or a list holding it, or "all") each module's
 * LLVM IR after optimization goes to stderr; llvm_raw shows it as generated, before the
 * verifier and the optimizer (what to read when the verifier complains); asm shows the
 * assembly the target machine makes of it. The lowering passes read the same variable
 * (schedule/pipeline.c), so TS_DUMP=final_simplify,llvm,asm follows one kernel from
 * loop nest to machine code. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg_internal.h"

void cg_dump_module(CgModule *m, bool optimized)
{
    if (!te_dump_wanted(optimized ? "llvm" : "llvm_raw"))
        return;
    char *text = LLVMPrintModuleToString(m->mod);
    fprintf(stderr, "// ---- LLVM IR of %s, %s ----\n%s", m->target->text,
            optimized ? "optimized" : "as generated", text);
    LLVMDisposeMessage(text);
}

/* Assembly comes from a copy of the module: emitting code changes the module it runs
 * on, and the object code must come from the original. */
void cg_dump_asm(CgModule *m)
{
    if (!te_dump_wanted("asm"))
        return;
    LLVMModuleRef copy = LLVMCloneModule(m->mod);
    LLVMMemoryBufferRef buffer = NULL;
    char *message = NULL;
    if (LLVMTargetMachineEmitToMemoryBuffer(m->tm, copy, LLVMAssemblyFile, &message, &buffer)) {
        fprintf(stderr, "// ---- no assembly: %s ----\n", message ? message : "?");
        LLVMDisposeMessage(message);
    } else {
        fprintf(stderr, "// ---- assembly for %s ----\n%.*s", m->target->text,
                (int)LLVMGetBufferSize(buffer), LLVMGetBufferStart(buffer));
        LLVMDisposeMemoryBuffer(buffer);
    }
    LLVMDisposeModule(copy);
}
