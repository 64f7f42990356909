/* The packed entry of a kernel (DESIGN.md, "Kernel ABI"):
 *     int32_t kernel(const TsValue *args, const int32_t *type_codes, int32_t num_args)
 * passes its arguments and the kernel's constant descriptor to the module's argument
 * checker (argcheck.c), which checks count, type codes, ndim, dtype, device, shape,
 * strides, data and alignment, and that the arguments the kernel writes overlap no
 * other, returning -1 with a message naming the kernel, the argument and the mismatch.
 * On success the entry calls the compute function (llvm_stmt.c) on the data pointers
 * (a kernel with AMX tiles asks the runtime for the tile state first, amx.c) and
 * returns what it returns: 0, or -1 after a run-time failure set the message.
 *
 * The descriptor holds what the checker compares against and the text of its messages:
 * per argument the tensor's name, dtype, shape, dense strides (and both as "[32, 16]"),
 * its size, the alignment data must have (one element), and whether the kernel writes
 * it (found by looking for stores in the loop nest). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg_internal.h"

static LLVMValueRef private_constant(CgModule *m, LLVMValueRef init, const char *name)
{
    LLVMValueRef g = LLVMAddGlobal(m->mod, LLVMTypeOf(init), name);
    LLVMSetInitializer(g, init);
    LLVMSetGlobalConstant(g, true);
    LLVMSetLinkage(g, LLVMPrivateLinkage);
    LLVMSetUnnamedAddress(g, LLVMGlobalUnnamedAddr);
    return g;
}

static LLVMValueRef text_constant(CgModule *m, const char *text)
{
    LLVMValueRef init = LLVMConstStringInContext(m->ctx, text, (unsigned)strlen(text), false);
    return private_constant(m, init, "text");
}

static LLVMValueRef dims_constant(CgModule *m, int n, const int64_t *dims)
{
    LLVMValueRef values[TS_MAX_DIMS + 1];
    for (int d = 0; d < n; d++)
        values[d] = cg_i64(m, dims[d]);
    values[n] = cg_i64(m, 0); /* an array of at least one element, even for ndim 0 */
    return private_constant(m, LLVMConstArray(m->t_i64, values, (unsigned)n + 1), "dims");
}

/* "[32, 16]" */
static void dims_text(int n, const int64_t *dims, char *buf, size_t size)
{
    size_t used = (size_t)snprintf(buf, size, "[");
    for (int d = 0; d < n && used < size; d++)
        used += (size_t)snprintf(buf + used, size - used, "%s%lld", d ? ", " : "",
                                 (long long)dims[d]);
    if (used < size)
        snprintf(buf + used, size - used, "]");
}

static LLVMValueRef arg_descriptor(CgModule *m, const TsLoweredFunc *kernel, int i)
{
    const TsTensor *t = kernel->args[i]->tensor;
    int64_t shape[TS_MAX_DIMS], strides[TS_MAX_DIMS], stride = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        shape[d] = ts_tensor_dim(t, d);
        strides[d] = stride;
        stride *= shape[d];
    }
    char dtype[TS_DTYPE_STR_MAX], dtype_text[64], shape_text[200], strides_text[200];
    snprintf(dtype_text, sizeof dtype_text, "%s (code %d bits %d lanes 1)",
             ts_dtype_str(t->dtype, dtype), t->dtype.code, t->dtype.bits);
    dims_text(t->ndim, shape, shape_text, sizeof shape_text);
    dims_text(t->ndim, strides, strides_text, sizeof strides_text);
    int64_t element = (int64_t)ts_dtype_bytes(ts_dtype_with_lanes(t->dtype, 1));
    LLVMValueRef fields[CG_ARG_DESC_FIELDS];
    fields[CG_ARG_NAME] = text_constant(m, t->name);
    fields[CG_ARG_DTYPE_TEXT] = text_constant(m, dtype_text);
    fields[CG_ARG_SHAPE] = dims_constant(m, t->ndim, shape);
    fields[CG_ARG_STRIDES] = dims_constant(m, t->ndim, strides);
    fields[CG_ARG_SHAPE_TEXT] = text_constant(m, shape_text);
    fields[CG_ARG_STRIDES_TEXT] = text_constant(m, strides_text);
    fields[CG_ARG_BYTES] = cg_i64(m, element * stride);
    fields[CG_ARG_NDIM] = cg_i32(m, t->ndim);
    fields[CG_ARG_CODE] = cg_i32(m, t->dtype.code);
    fields[CG_ARG_BITS] = cg_i32(m, t->dtype.bits);
    fields[CG_ARG_ELEMENT_BYTES] = cg_i32(m, element);
    fields[CG_ARG_WRITTEN] = cg_i32(m, cg_stmt_stores(kernel->body, kernel->args[i]) ? 1 : 0);
    return LLVMConstNamedStruct(m->t_arg_desc, fields, CG_ARG_DESC_FIELDS);
}

static LLVMValueRef kernel_descriptor(CgModule *m, const TsLoweredFunc *kernel)
{
    LLVMValueRef args[CG_MAX_ARGS + 1];
    for (int i = 0; i < kernel->num_args; i++)
        args[i] = arg_descriptor(m, kernel, i);
    LLVMValueRef array = private_constant(
        m, LLVMConstArray(m->t_arg_desc, args, (unsigned)kernel->num_args), "arg_descs");
    LLVMValueRef fields[] = { text_constant(m, kernel->name), cg_i32(m, kernel->num_args),
                              array };
    return private_constant(m, LLVMConstNamedStruct(m->t_kernel_desc, fields, 3), "desc");
}

/* Checks, then calls compute on the data pointers the checker stored. */
static bool fill_entry(CgFunc *f, const TsLoweredFunc *kernel, LLVMValueRef compute)
{
    CgModule *m = f->m;
    int n = kernel->num_args;
    LLVMBasicBlockRef here = LLVMGetInsertBlock(f->b);
    LLVMPositionBuilderAtEnd(f->b, f->entry_block);
    LLVMValueRef data = LLVMBuildAlloca(f->b, LLVMArrayType(m->t_ptr, (unsigned)n + 1), "data");
    LLVMPositionBuilderAtEnd(f->b, here);
    LLVMValueRef check_args[] = { kernel_descriptor(m, kernel), LLVMGetParam(f->fn, 0),
                                  LLVMGetParam(f->fn, 1), LLVMGetParam(f->fn, 2), data };
    LLVMValueRef rc = cg_call(f, cg_argcheck_function(m), 5, check_args);
    LLVMBasicBlockRef checked = cg_block(f, "checked");
    LLVMValueRef br = LLVMBuildCondBr(f->b, LLVMBuildICmp(f->b, LLVMIntNE, rc, cg_i32(m, 0), ""),
                                      f->error_block, checked);
    cg_set_branch_weights(m, br, 1, 100000);
    LLVMPositionBuilderAtEnd(f->b, checked);
    if (m->amx_features) {
        /* The tile configuration (ldtilecfg, which LLVM places at the start of the
         * function using tiles) must not run before the request: compute stays a call. */
        unsigned noinline = LLVMGetEnumAttributeKindForName("noinline", 8);
        LLVMAddAttributeAtIndex(compute, LLVMAttributeFunctionIndex,
                                LLVMCreateEnumAttribute(m->ctx, noinline, 0));
        if (!cg_amx_entry_check(f, m->amx_features))
            return false;
    }
    LLVMValueRef pointers[CG_MAX_ARGS];
    for (int i = 0; i < n; i++) {
        LLVMValueRef index = cg_i64(m, i);
        LLVMValueRef slot = LLVMBuildGEP2(f->b, m->t_ptr, data, &index, 1, "");
        pointers[i] = LLVMBuildLoad2(f->b, m->t_ptr, slot, kernel->args[i]->tensor->name);
    }
    rc = LLVMBuildCall2(f->b, LLVMGlobalGetValueType(compute), compute, pointers, (unsigned)n,
                        "");
    LLVMBasicBlockRef computed = cg_block(f, "computed");
    LLVMBuildCondBr(f->b, LLVMBuildICmp(f->b, LLVMIntNE, rc, cg_i32(m, 0), ""), f->error_block,
                    computed);
    LLVMPositionBuilderAtEnd(f->b, computed);
    return true;
}

LLVMValueRef cg_entry_function(CgModule *m, const TsLoweredFunc *kernel, LLVMValueRef compute)
{
    LLVMTypeRef params[] = { m->t_ptr, m->t_ptr, m->t_i32 };
    char name[300];
    snprintf(name, sizeof name, "ts_kernel.%s", kernel->name);
    LLVMValueRef fn = LLVMAddFunction(m->mod, name, LLVMFunctionType(m->t_i32, params, 3, false));
    LLVMSetLinkage(fn, LLVMInternalLinkage);
    LLVMSetValueName2(LLVMGetParam(fn, 0), "args", 4);
    LLVMSetValueName2(LLVMGetParam(fn, 1), "type_codes", 10);
    LLVMSetValueName2(LLVMGetParam(fn, 2), "num_args", 8);
    CgFunc f;
    cg_func_begin(m, &f, fn, kernel->name);
    bool ok = fill_entry(&f, kernel, compute) && cg_func_end(&f);
    cg_func_dispose(&f);
    if (!ok)
        return NULL;
    /* the compute function is inlined here (unless it uses AMX tiles): the entry needs
     * its vector width */
    cg_set_function_attributes(m, fn, m->vector_bits);
    return fn;
}
