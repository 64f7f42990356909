/* One LLVM module for a set of lowered kernels: each kernel's compute function and
 * packed entry, the module table an exported shared object carries under
 * TS_MODULE_TABLE_SYMBOL (runtime.h), function attributes (CPU, features, the vector
 * width the schedule asks for, fast-math), LLVM's verifier, a pass pipeline made for
 * scheduled kernels (new pass manager; see kernel_pipeline) and object code.
 *
 * The three outputs (JIT, object file, shared object) all start from the object code
 * made here, so a kernel is compiled the same way whichever way it leaves. Kernel
 * functions have internal linkage: the table is the only exported symbol, so kernel
 * names cannot collide with anything in the process (a kernel called "exp" is fine),
 * and JIT and loader find kernels the same way, through the table. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llvm-c/Analysis.h>
#include <llvm-c/Transforms/PassBuilder.h>

#include "cg_internal.h"

/* ---- function attributes ---- */

static void add_string_attribute(CgModule *m, LLVMValueRef fn, const char *key,
                                 const char *value)
{
    LLVMAttributeRef a = LLVMCreateStringAttribute(m->ctx, key, (unsigned)strlen(key), value,
                                                   (unsigned)strlen(value));
    LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex, a);
}

/* The vector width for LLVM's x86 backend: the schedule's widest vector, as a power of
 * two between 128 and 512 bits. Without it LLVM prefers 256-bit vectors on AVX-512
 * machines and splits a 16-lane float32 vector in two. */
static int preferred_width(int vector_bits)
{
    int width = 128;
    while (width < vector_bits && width < 512)
        width *= 2;
    return width;
}

void cg_set_function_attributes(CgModule *m, LLVMValueRef fn, int vector_bits)
{
    const TsTarget *t = m->target;
    add_string_attribute(m, fn, "target-cpu", t->cpu);
    if (t->features[0])
        add_string_attribute(m, fn, "target-features", t->features);
    unsigned nounwind = LLVMGetEnumAttributeKindForName("nounwind", 8);
    LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex,
                            LLVMCreateEnumAttribute(m->ctx, nounwind, 0));
    if (t->arch == CG_ARCH_X86_64 && vector_bits > 0) {
        char width[16];
        snprintf(width, sizeof width, "%d", preferred_width(vector_bits));
        add_string_attribute(m, fn, "prefer-vector-width", width);
        add_string_attribute(m, fn, "min-legal-vector-width", width);
    }
    if (t->fast_math) {
        static const char *const keys[] = { "unsafe-fp-math", "no-nans-fp-math",
                                            "no-infs-fp-math", "no-signed-zeros-fp-math",
                                            "approx-func-fp-math", "no-trapping-math" };
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
            add_string_attribute(m, fn, keys[i], "true");
    }
}

/* ---- the module table ---- */

static LLVMValueRef constant_string(CgModule *m, const char *text, const char *name)
{
    LLVMValueRef init = LLVMConstStringInContext(m->ctx, text, (unsigned)strlen(text), false);
    LLVMValueRef g = LLVMAddGlobal(m->mod, LLVMTypeOf(init), name);
    LLVMSetInitializer(g, init);
    LLVMSetGlobalConstant(g, true);
    LLVMSetLinkage(g, LLVMPrivateLinkage);
    LLVMSetUnnamedAddress(g, LLVMGlobalUnnamedAddr);
    return g;
}

/* "A:float32[64,32];B:float32[32,16];C:float32[64,16]", malloc'ed. */
static char *signature(const TsLoweredFunc *kernel)
{
    size_t size = 64;
    for (int i = 0; i < kernel->num_args; i++)
        size += strlen(kernel->args[i]->tensor->name) + TS_DTYPE_STR_MAX + 24 * TS_MAX_DIMS;
    char *text = malloc(size);
    if (!text)
        return NULL;
    size_t used = 0;
    text[0] = '\0';
    for (int i = 0; i < kernel->num_args; i++) {
        const TsTensor *t = kernel->args[i]->tensor;
        char dtype[TS_DTYPE_STR_MAX];
        used += (size_t)snprintf(text + used, size - used, "%s%s:%s[", i ? ";" : "", t->name,
                                 ts_dtype_str(t->dtype, dtype));
        for (int d = 0; d < t->ndim; d++)
            used += (size_t)snprintf(text + used, size - used, "%s%lld", d ? "," : "",
                                     (long long)ts_tensor_dim(t, d));
        used += (size_t)snprintf(text + used, size - used, "]");
    }
    return text;
}

/* A model's blob as a private constant array of bytes, 64-byte aligned (a NULL pointer
 * for an empty one). */
static LLVMValueRef constant_blob(CgModule *m, const void *data, uint64_t bytes, const char *name)
{
    if (!bytes)
        return LLVMConstNull(m->t_ptr);
    LLVMValueRef init = LLVMConstStringInContext(m->ctx, data, (unsigned)bytes, true);
    LLVMValueRef g = LLVMAddGlobal(m->mod, LLVMTypeOf(init), name);
    LLVMSetInitializer(g, init);
    LLVMSetGlobalConstant(g, true);
    LLVMSetLinkage(g, LLVMPrivateLinkage);
    LLVMSetAlignment(g, 64);
    return g;
}

/* The version-3 fields of a model's table: flags, a zero word, the three blobs, their
 * sizes. */
static void model_fields(CgModule *m, const TsModelBlobs *model, LLVMValueRef *values)
{
    values[0] = cg_i32(m, TS_MODULE_HAS_MODEL);
    values[1] = cg_i32(m, 0);
    values[2] = constant_blob(m, model->graph, model->graph_bytes, "tessera_model_graph");
    values[3] = constant_blob(m, model->weights, model->weights_bytes, "tessera_model_weights");
    values[4] = constant_blob(m, model->memory_plan, model->memory_plan_bytes,
                              "tessera_model_plan");
    values[5] = LLVMConstInt(LLVMInt64TypeInContext(m->ctx), model->graph_bytes, false);
    values[6] = LLVMConstInt(LLVMInt64TypeInContext(m->ctx), model->weights_bytes, false);
    values[7] = LLVMConstInt(LLVMInt64TypeInContext(m->ctx), model->memory_plan_bytes, false);
}

static bool add_module_table(CgModule *m, int num_funcs, const TsLoweredFunc *const *funcs,
                             const LLVMValueRef *entries, const TsModelBlobs *model)
{
    LLVMTypeRef fields[] = { m->t_ptr, m->t_ptr, m->t_i32, m->t_ptr };
    LLVMTypeRef entry_type = LLVMStructTypeInContext(m->ctx, fields, 4, false);
    LLVMValueRef *rows = malloc(sizeof *rows * (size_t)num_funcs);
    if (!rows)
        return cg_fail(m, TS_ENOMEM, "codegen: out of memory");
    for (int i = 0; i < num_funcs; i++) {
        char *sig = signature(funcs[i]);
        if (!sig) {
            free(rows);
            return cg_fail(m, TS_ENOMEM, "codegen: out of memory");
        }
        LLVMValueRef values[] = { constant_string(m, funcs[i]->name, "kernel_name"), entries[i],
                                  cg_i32(m, funcs[i]->num_args),
                                  constant_string(m, sig, "kernel_signature") };
        free(sig);
        rows[i] = LLVMConstNamedStruct(entry_type, values, 4);
    }
    LLVMValueRef array = LLVMConstArray(entry_type, rows, (unsigned)num_funcs);
    free(rows);
    LLVMValueRef list = LLVMAddGlobal(m->mod, LLVMTypeOf(array), "tessera_funcs");
    LLVMSetInitializer(list, array);
    LLVMSetGlobalConstant(list, true);
    LLVMSetLinkage(list, LLVMPrivateLinkage);
    /* TsModuleTable: version, count, entries, then the fields of a whole model (flags, a
     * word, graph, weights, memory plan, their sizes, a reserved pointer): zero for
     * kernels alone. */
    LLVMTypeRef t_i64 = LLVMInt64TypeInContext(m->ctx);
    LLVMTypeRef reserved_type = LLVMArrayType(m->t_ptr, TS_MODULE_TABLE_RESERVED);
    LLVMTypeRef table_fields[] = {
        m->t_i32, m->t_i32, m->t_ptr,                          /* version 1 */
        m->t_i32, m->t_i32, m->t_ptr, m->t_ptr, m->t_ptr,      /* version 2 */
        t_i64,    t_i64,    t_i64,    reserved_type            /* version 3 */
    };
    enum { TABLE_FIELDS = sizeof table_fields / sizeof table_fields[0] };
    LLVMTypeRef table_type = LLVMStructTypeInContext(m->ctx, table_fields, TABLE_FIELDS, false);
    LLVMValueRef table_values[TABLE_FIELDS] = {
        LLVMConstInt(m->t_i32, TS_MODULE_ABI_VERSION, false), cg_i32(m, num_funcs), list
    };
    for (int i = 3; i < TABLE_FIELDS; i++)
        table_values[i] = LLVMConstNull(table_fields[i]);
    if (model)
        model_fields(m, model, table_values + 3);
    LLVMValueRef table = LLVMAddGlobal(m->mod, table_type, TS_MODULE_TABLE_SYMBOL);
    LLVMSetInitializer(table, LLVMConstNamedStruct(table_type, table_values, TABLE_FIELDS));
    LLVMSetGlobalConstant(table, true);
    LLVMSetLinkage(table, LLVMExternalLinkage);
    return true;
}

/* ---- building ---- */

static TsStatus check_funcs(int num_funcs, const TsLoweredFunc *const *funcs,
                            const TsTarget *target, TsError *err)
{
    if (!target)
        return ts_fail(err, TS_EINVAL, "codegen: the target is NULL");
    if (num_funcs < 1 || !funcs)
        return ts_fail(err, TS_EINVAL, "codegen: no kernels to build (%d)", num_funcs);
    for (int i = 0; i < num_funcs; i++) {
        if (!funcs[i] || !funcs[i]->body || !funcs[i]->name || !funcs[i]->name[0] ||
            (funcs[i]->num_args > 0 && !funcs[i]->args))
            return ts_fail(err, TS_EINVAL, "codegen: kernel %d is NULL, unnamed or has no body",
                           i);
        for (int j = 0; j < i; j++)
            if (strcmp(funcs[i]->name, funcs[j]->name) == 0)
                return ts_fail(err, TS_EINVAL, "codegen: two kernels are named %s (%d and %d)",
                               funcs[i]->name, j, i);
    }
    return TS_OK;
}

static bool generate(CgModule *m, int num_funcs, const TsLoweredFunc *const *funcs,
                     const TsModelBlobs *model)
{
    LLVMValueRef *entries = malloc(sizeof *entries * (size_t)num_funcs);
    if (!entries)
        return cg_fail(m, TS_ENOMEM, "codegen: out of memory");
    bool ok = true;
    for (int i = 0; ok && i < num_funcs; i++) {
        m->vector_bits = cg_widest_vector_bits(funcs[i]->body);
        LLVMValueRef compute = cg_compute_function(m, funcs[i]);
        entries[i] = compute ? cg_entry_function(m, funcs[i], compute) : NULL;
        ok = entries[i] != NULL;
    }
    ok = ok && add_module_table(m, num_funcs, funcs, entries, model);
    free(entries);
    return ok;
}

static bool verify(CgModule *m)
{
    char *message = NULL;
    if (!LLVMVerifyModule(m->mod, LLVMReturnStatusAction, &message)) {
        LLVMDisposeMessage(message);
        return true;
    }
    cg_fail(m, TS_ECODEGEN, "codegen %s: LLVM's verifier rejected the module: %.300s",
            LLVMGetModuleIdentifier(m->mod, &(size_t){ 0 }), message ? message : "");
    LLVMDisposeMessage(message);
    return false;
}

/* The pass pipeline for kernels. A schedule has already made the loops explicit: their
 * order, tiling, unrolling and vector widths are decided (DESIGN.md, "Vectors are
 * explicit"), so LLVM's own loop transformations and most of its inter-procedural
 * pipeline have nothing left to do, and default<O3> spends two thirds of a kernel's
 * compilation doing little (bench_compile: the matmul's O3 pipeline took 27 of its
 * 47 ms of LLVM time, this one 6, and the machine code of its inner loops is the same).
 * What the code as generated does need:
 *   - sroa: local accumulators (C.local) become registers;
 *   - early-cse, gvn: the address arithmetic repeated by unrolled bodies is shared;
 *   - instcombine, simplifycfg: the constant guards and branches lowering leaves go;
 *   - licm: loop-invariant addresses and loads leave the inner loops;
 *   - slp-vectorizer: straight-line code that the schedule unrolled but did not vectorize
 *     is packed, as default<O3> would.
 * -opt-level=0 keeps LLVM's default<O0> (no optimization). TS_LLVM_PASSES in the
 * environment replaces the pipeline, in opt's syntax, for comparisons
 * (TS_LLVM_PASSES='default<O3>'). */
static const char kernel_pipeline[] =
    "function(sroa,early-cse<memssa>,instcombine,simplifycfg,loop-mssa(licm),gvn,"
    "slp-vectorizer,instcombine,simplifycfg)";

static const char *pipeline_of(const TsTarget *target)
{
    const char *custom = getenv("TS_LLVM_PASSES");
    if (custom && custom[0])
        return custom;
    return target->opt_level == 0 ? "default<O0>" : kernel_pipeline;
}

static bool optimize(CgModule *m)
{
    const char *pipeline = pipeline_of(m->target);
    LLVMPassBuilderOptionsRef options = LLVMCreatePassBuilderOptions();
    /* The schedule decides unrolling and vectorization: were the pipeline replaced by one
     * of LLVM's defaults, its loop unroller and loop vectorizer would second-guess it. */
    LLVMPassBuilderOptionsSetLoopUnrolling(options, false);
    LLVMPassBuilderOptionsSetLoopVectorization(options, false);
    LLVMPassBuilderOptionsSetLoopInterleaving(options, false);
    LLVMErrorRef error = LLVMRunPasses(m->mod, pipeline, m->tm, options);
    LLVMDisposePassBuilderOptions(options);
    if (!error)
        return true;
    char *message = LLVMGetErrorMessage(error);
    cg_fail(m, TS_ECODEGEN, "codegen: the pass pipeline %.200s failed: %s", pipeline, message);
    LLVMDisposeErrorMessage(message);
    return false;
}

static bool emit(CgModule *m, LLVMMemoryBufferRef *object)
{
    char *message = NULL;
    if (!LLVMTargetMachineEmitToMemoryBuffer(m->tm, m->mod, LLVMObjectFile, &message, object)) {
        LLVMDisposeMessage(message);
        return true;
    }
    cg_fail(m, TS_ECODEGEN, "codegen: LLVM cannot emit object code for %s: %s",
            m->target->triple, message ? message : "");
    LLVMDisposeMessage(message);
    return false;
}

TsStatus cg_build_object_code(int num_funcs, const TsLoweredFunc *const *funcs,
                              const TsModelBlobs *model, const TsTarget *target,
                              LLVMMemoryBufferRef *object, TsError *err)
{
    *object = NULL;
    TsStatus status = check_funcs(num_funcs, funcs, target, err);
    if (status != TS_OK)
        return status;
    if (model && (!model->graph || !model->graph_bytes || !model->memory_plan ||
                  !model->memory_plan_bytes || (model->weights_bytes && !model->weights) ||
                  model->graph_bytes > UINT32_MAX || model->weights_bytes > UINT32_MAX ||
                  model->memory_plan_bytes > UINT32_MAX))
        return ts_fail(err, TS_EINVAL, "codegen: the model's graph or memory plan is missing, "
                       "or a blob exceeds 4 GiB");
    CgModule m;
    status = cg_module_init(&m, target, funcs[0]->name, err);
    if (status != TS_OK)
        return status;
    if (generate(&m, num_funcs, funcs, model)) {
        cg_dump_module(&m, false);
        if (verify(&m) && optimize(&m)) {
            cg_dump_module(&m, true);
            cg_dump_asm(&m);
            emit(&m, object);
        }
    }
    status = m.status;
    cg_module_dispose(&m);
    return status;
}
