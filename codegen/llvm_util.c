/* The plumbing every codegen file uses: the module's types and the declarations of the
 * runtime and libc functions kernels call, the error of a build, the frame of a
 * generated function (entry, setup and error blocks, hoisted local storage), the
 * variables and buffers in scope, run-time checks that return -1 with a message, and
 * small builders (intrinsic calls, splats, "any lane").
 *
 * Generated code calls only ts_runtime_set_error, ts_parallel_launch,
 * ts_parallel_num_threads and ts_runtime_amx_enter (kernels with AMX tiles) of
 * libtessera_runtime, and snprintf, aligned_alloc and free of libc (plus libm for math), so an
 * exported shared object needs nothing else at load time. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg_internal.h"

enum {
    EXPR_TEXT_DEFAULT = 120,
    /* Local buffers share this many bytes of stack per function (a task runs on a pool
     * worker's stack); the rest go to the heap. */
    STACK_BUDGET = 32 * 1024,
    LOCAL_ALIGN = 64
};

/* ---- the module ---- */

static void init_types(CgModule *m)
{
    LLVMContextRef c = m->ctx;
    m->t_void = LLVMVoidTypeInContext(c);
    m->t_i1 = LLVMInt1TypeInContext(c);
    m->t_i8 = LLVMInt8TypeInContext(c);
    m->t_i16 = LLVMInt16TypeInContext(c);
    m->t_i32 = LLVMInt32TypeInContext(c);
    m->t_i64 = LLVMInt64TypeInContext(c);
    m->t_ptr = LLVMPointerTypeInContext(c, 0);
    m->t_half = LLVMHalfTypeInContext(c);
    m->t_f32 = LLVMFloatTypeInContext(c);
    m->t_f64 = LLVMDoubleTypeInContext(c);
    /* TsDLTensor: data, device {type, id}, ndim, dtype {code, bits, lanes}, shape,
     * strides, byte_offset; the target's data layout places the fields as C does. */
    LLVMTypeRef device[] = { m->t_i32, m->t_i32 };
    LLVMTypeRef dtype[] = { m->t_i8, m->t_i8, m->t_i16 };
    LLVMTypeRef fields[] = {
        m->t_ptr, LLVMStructTypeInContext(c, device, 2, 0), m->t_i32,
        LLVMStructTypeInContext(c, dtype, 3, 0), m->t_ptr, m->t_ptr, m->t_i64,
    };
    m->t_dltensor = LLVMStructTypeInContext(c, fields, 7, 0);
}

static CgCallee declare(CgModule *m, const char *name, LLVMTypeRef ret, int num_params,
                        LLVMTypeRef *params, bool vararg)
{
    CgCallee callee;
    callee.type = LLVMFunctionType(ret, params, (unsigned)num_params, vararg);
    callee.fn = LLVMAddFunction(m->mod, name, callee.type);
    LLVMSetLinkage(callee.fn, LLVMExternalLinkage);
    return callee;
}

static void declare_runtime(CgModule *m)
{
    LLVMTypeRef ptr = m->t_ptr, i32 = m->t_i32, i64 = m->t_i64;
    m->set_error = declare(m, "ts_runtime_set_error", m->t_void, 1, &ptr, false);
    LLVMTypeRef launch[] = { ptr, ptr, i32 };
    m->parallel_launch = declare(m, "ts_parallel_launch", i32, 3, launch, false);
    m->num_threads = declare(m, "ts_parallel_num_threads", i32, 0, NULL, false);
    LLVMTypeRef texts[] = { ptr, ptr };
    m->amx_enter = declare(m, "ts_runtime_amx_enter", i32, 2, texts, false);
    LLVMTypeRef fmt[] = { ptr, i64, ptr };
    m->snprintf_fn = declare(m, "snprintf", i32, 3, fmt, true);
    LLVMTypeRef alloc[] = { i64, i64 };
    m->malloc_fn = declare(m, "aligned_alloc", ptr, 2, alloc, false);
    m->free_fn = declare(m, "free", m->t_void, 1, &ptr, false);
}

TsStatus cg_module_init(CgModule *m, const TsTarget *target, const char *name, TsError *err)
{
    memset(m, 0, sizeof *m);
    m->target = target;
    m->err = err;
    m->tm = cg_target_machine(target, err);
    if (!m->tm)
        return err ? err->status : TS_ECODEGEN;
    m->scratch = ts_arena_create();
    if (!m->scratch) {
        LLVMDisposeTargetMachine(m->tm);
        return ts_fail(err, TS_ENOMEM, "codegen %s: out of memory", name);
    }
    m->ctx = LLVMContextCreate();
    m->mod = LLVMModuleCreateWithNameInContext(name, m->ctx);
    LLVMSetTarget(m->mod, target->triple);
    LLVMTargetDataRef layout = LLVMCreateTargetDataLayout(m->tm);
    char *text = LLVMCopyStringRepOfTargetData(layout);
    LLVMSetDataLayout(m->mod, text);
    LLVMDisposeMessage(text);
    LLVMDisposeTargetData(layout);
    init_types(m);
    declare_runtime(m);
    cg_argcheck_types(m);
    return TS_OK;
}

void cg_module_dispose(CgModule *m)
{
    if (m->mod)
        LLVMDisposeModule(m->mod);
    if (m->ctx)
        LLVMContextDispose(m->ctx);
    if (m->tm)
        LLVMDisposeTargetMachine(m->tm);
    ts_arena_destroy(m->scratch);
    memset(m, 0, sizeof *m);
}

bool cg_fail(CgModule *m, TsStatus status, const char *fmt, ...)
{
    if (m->status != TS_OK)
        return false;
    char message[TS_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    m->status = ts_fail(m->err, status, "%s", message);
    return false;
}

const char *cg_expr_text(CgModule *m, const TsExpr *e, int max)
{
    const char *text = te_expr_str(m->scratch, e);
    if (!text)
        return "?";
    if (max <= 0)
        max = EXPR_TEXT_DEFAULT;
    if ((int)strlen(text) <= max)
        return text;
    char *cut = ts_arena_alloc(m->scratch, (size_t)max + 4);
    if (!cut)
        return "?";
    snprintf(cut, (size_t)max + 4, "%.*s...", max, text);
    return cut;
}

/* ---- small builders ---- */

LLVMValueRef cg_i32(CgModule *m, int64_t value)
{
    return LLVMConstInt(m->t_i32, (unsigned long long)value, true);
}

LLVMValueRef cg_i64(CgModule *m, int64_t value)
{
    return LLVMConstInt(m->t_i64, (unsigned long long)value, true);
}

LLVMBasicBlockRef cg_block(CgFunc *f, const char *name)
{
    return LLVMAppendBasicBlockInContext(f->m->ctx, f->fn, name);
}

LLVMTypeRef cg_mem_type(CgModule *m, TsDType t)
{
    if (ts_dtype_is_bool(t))
        return m->t_i8;
    if (ts_dtype_is_bfloat(t))
        return m->t_i16;
    if (ts_dtype_is_float(t))
        return t.bits == 16 ? m->t_half : t.bits == 32 ? m->t_f32 : m->t_f64;
    return LLVMIntTypeInContext(m->ctx, t.bits);
}

LLVMTypeRef cg_type(CgModule *m, TsDType t)
{
    LLVMTypeRef scalar = ts_dtype_is_bool(t) ? m->t_i1 : cg_mem_type(m, t);
    return t.lanes > 1 ? LLVMVectorType(scalar, t.lanes) : scalar;
}

LLVMValueRef cg_call(CgFunc *f, CgCallee callee, int num_args, LLVMValueRef *args)
{
    return LLVMBuildCall2(f->b, callee.type, callee.fn, args, (unsigned)num_args, "");
}

LLVMValueRef cg_intrinsic(CgFunc *f, const char *name, int num_types, LLVMTypeRef *types,
                          int num_args, LLVMValueRef *args)
{
    unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
    if (id == 0) {
        cg_fail(f->m, TS_ECODEGEN, "%s: LLVM has no intrinsic %s", f->kernel, name);
        return NULL;
    }
    CgCallee callee;
    callee.fn = LLVMGetIntrinsicDeclaration(f->m->mod, id, types, (size_t)num_types);
    callee.type = LLVMIntrinsicGetType(f->m->ctx, id, types, (size_t)num_types);
    return cg_call(f, callee, num_args, args);
}

LLVMValueRef cg_splat(CgFunc *f, LLVMValueRef scalar, int lanes)
{
    LLVMTypeRef vector = LLVMVectorType(LLVMTypeOf(scalar), (unsigned)lanes);
    LLVMValueRef one = LLVMBuildInsertElement(f->b, LLVMGetPoison(vector), scalar,
                                              cg_i32(f->m, 0), "");
    LLVMValueRef zeros = LLVMConstNull(LLVMVectorType(f->m->t_i32, (unsigned)lanes));
    return LLVMBuildShuffleVector(f->b, one, LLVMGetPoison(vector), zeros, "");
}

LLVMValueRef cg_any_lane(CgFunc *f, LLVMValueRef cond)
{
    LLVMTypeRef type = LLVMTypeOf(cond);
    if (LLVMGetTypeKind(type) != LLVMVectorTypeKind)
        return cond;
    return cg_intrinsic(f, "llvm.vector.reduce.or", 1, &type, 1, &cond);
}

void cg_set_branch_weights(CgModule *m, LLVMValueRef br, uint32_t if_true, uint32_t if_false)
{
    LLVMMetadataRef ops[3];
    ops[0] = LLVMMDStringInContext2(m->ctx, "branch_weights", strlen("branch_weights"));
    ops[1] = LLVMValueAsMetadata(LLVMConstInt(m->t_i32, if_true, false));
    ops[2] = LLVMValueAsMetadata(LLVMConstInt(m->t_i32, if_false, false));
    LLVMValueRef node = LLVMMetadataAsValue(m->ctx, LLVMMDNodeInContext2(m->ctx, ops, 3));
    LLVMSetMetadata(br, LLVMGetMDKindIDInContext(m->ctx, "prof", 4), node);
}

/* ---- function frames ---- */

bool cg_func_begin(CgModule *m, CgFunc *f, LLVMValueRef fn, const char *kernel)
{
    memset(f, 0, sizeof *f);
    f->m = m;
    f->fn = fn;
    f->kernel = kernel;
    f->b = LLVMCreateBuilderInContext(m->ctx);
    f->entry_block = cg_block(f, "entry");
    f->setup_block = cg_block(f, "setup");
    LLVMBasicBlockRef body = cg_block(f, "body");
    f->error_block = cg_block(f, "error");
    f->setup_failed = LLVMConstInt(m->t_i1, 0, false);
    LLVMPositionBuilderAtEnd(f->b, f->entry_block);
    LLVMTypeRef text = LLVMArrayType(m->t_i8, TS_ERROR_MESSAGE_MAX);
    f->message_buf = LLVMBuildAlloca(f->b, text, "message");
    LLVMPositionBuilderAtEnd(f->b, body);
    return true;
}

/* Frees every heap buffer of the function (free(NULL) is harmless). */
static void free_heap(CgFunc *f)
{
    for (int i = 0; i < f->num_heap; i++) {
        LLVMValueRef p = LLVMBuildLoad2(f->b, f->m->t_ptr, f->heap_slots[i], "");
        cg_call(f, f->m->free_fn, 1, &p);
    }
}

bool cg_func_end(CgFunc *f)
{
    CgModule *m = f->m;
    free_heap(f);
    LLVMBuildRet(f->b, cg_i32(m, 0));
    LLVMBasicBlockRef body = LLVMGetNextBasicBlock(f->setup_block);
    LLVMPositionBuilderAtEnd(f->b, f->entry_block);
    LLVMBuildBr(f->b, f->setup_block);
    LLVMPositionBuilderAtEnd(f->b, f->setup_block);
    if (f->num_heap > 0) {
        LLVMBasicBlockRef oom = cg_block(f, "out_of_memory");
        LLVMValueRef br = LLVMBuildCondBr(f->b, f->setup_failed, oom, body);
        cg_set_branch_weights(m, br, 1, 1000);
        LLVMPositionBuilderAtEnd(f->b, oom);
        char message[TS_ERROR_MESSAGE_MAX];
        snprintf(message, sizeof message, "%s: out of memory for its local buffers", f->kernel);
        LLVMValueRef text = LLVMBuildGlobalStringPtr(f->b, message, "message");
        cg_call(f, m->set_error, 1, &text);
        LLVMBuildBr(f->b, f->error_block);
    } else {
        LLVMBuildBr(f->b, body);
    }
    LLVMPositionBuilderAtEnd(f->b, f->error_block);
    free_heap(f);
    LLVMBuildRet(f->b, cg_i32(m, -1));
    return m->status == TS_OK;
}

void cg_func_dispose(CgFunc *f)
{
    if (f->b)
        LLVMDisposeBuilder(f->b);
    free(f->vars);
    free(f->bufs);
    free(f->ranges);
    free(f->heap_slots);
    memset(f, 0, sizeof *f);
}

/* Makes room for one more item in a growing array. */
static bool reserve(void **items, int *cap, int count, size_t item_size)
{
    if (count < *cap)
        return true;
    int grown = *cap ? 2 * *cap : 16;
    void *bigger = realloc(*items, (size_t)grown * item_size);
    if (!bigger)
        return false;
    *items = bigger;
    *cap = grown;
    return true;
}

static LLVMValueRef heap_storage(CgFunc *f, uint64_t bytes)
{
    CgModule *m = f->m;
    if (!reserve((void **)&f->heap_slots, &f->cap_heap, f->num_heap, sizeof *f->heap_slots)) {
        cg_fail(m, TS_ENOMEM, "%s: out of memory", f->kernel);
        return NULL;
    }
    LLVMBasicBlockRef here = LLVMGetInsertBlock(f->b);
    LLVMPositionBuilderAtEnd(f->b, f->entry_block);
    LLVMValueRef slot = LLVMBuildAlloca(f->b, m->t_ptr, "heap_slot");
    LLVMBuildStore(f->b, LLVMConstNull(m->t_ptr), slot);
    LLVMPositionBuilderAtEnd(f->b, f->setup_block);
    /* Rounded up to the alignment, as aligned_alloc wants. */
    uint64_t size = (bytes + LOCAL_ALIGN - 1) / LOCAL_ALIGN * LOCAL_ALIGN;
    LLVMValueRef args[] = { cg_i64(m, LOCAL_ALIGN), cg_i64(m, (int64_t)size) };
    LLVMValueRef p = cg_call(f, m->malloc_fn, 2, args);
    LLVMBuildStore(f->b, p, slot);
    LLVMValueRef failed = LLVMBuildIsNull(f->b, p, "");
    f->setup_failed = LLVMBuildOr(f->b, f->setup_failed, failed, "");
    f->heap_slots[f->num_heap++] = slot;
    LLVMPositionBuilderAtEnd(f->b, here);
    return p;
}

LLVMValueRef cg_local_storage(CgFunc *f, const TeBuffer *buffer, uint64_t bytes)
{
    if (bytes > (uint64_t)STACK_BUDGET - f->stack_bytes)
        return heap_storage(f, bytes);
    f->stack_bytes += bytes;
    LLVMBasicBlockRef here = LLVMGetInsertBlock(f->b);
    LLVMPositionBuilderAtEnd(f->b, f->entry_block);
    LLVMTypeRef type = LLVMArrayType(f->m->t_i8, (unsigned)bytes);
    LLVMValueRef p = LLVMBuildAlloca(f->b, type, buffer->name);
    LLVMSetAlignment(p, LOCAL_ALIGN);
    LLVMPositionBuilderAtEnd(f->b, here);
    return p;
}

/* ---- scopes ---- */

bool cg_push_var(CgFunc *f, const TsExpr *var, LLVMValueRef value)
{
    if (!reserve((void **)&f->vars, &f->cap_vars, f->num_vars, sizeof *f->vars))
        return cg_fail(f->m, TS_ENOMEM, "%s: out of memory", f->kernel);
    f->vars[f->num_vars++] = (CgVar){ .var = var, .value = value };
    return true;
}

void cg_pop_var(CgFunc *f)
{
    f->num_vars--;
}

LLVMValueRef cg_lookup_var(CgFunc *f, const TsExpr *var)
{
    for (int i = f->num_vars - 1; i >= 0; i--)
        if (f->vars[i].var == var)
            return f->vars[i].value;
    cg_fail(f->m, TS_ECODEGEN, "%s: variable %s has no value here", f->kernel,
            var->u.var.name);
    return NULL;
}

bool cg_push_range(CgFunc *f, const TsExpr *var, int64_t min, int64_t max)
{
    if (!reserve((void **)&f->ranges, &f->cap_ranges, f->num_ranges, sizeof *f->ranges))
        return cg_fail(f->m, TS_ENOMEM, "%s: out of memory", f->kernel);
    f->ranges[f->num_ranges++] = (TeRange){ .var = var, .min = min, .max = max };
    return true;
}

void cg_pop_range(CgFunc *f)
{
    f->num_ranges--;
}

bool cg_no_wrap(CgFunc *f, const TsExpr *e)
{
    int64_t lo, hi;
    return ts_dtype_is_int(e->dtype) && te_const_bounds(e, f->num_ranges, f->ranges, &lo, &hi);
}

bool cg_push_buf(CgFunc *f, const TeBuffer *buffer, LLVMValueRef ptr)
{
    if (!reserve((void **)&f->bufs, &f->cap_bufs, f->num_bufs, sizeof *f->bufs))
        return cg_fail(f->m, TS_ENOMEM, "%s: out of memory", f->kernel);
    f->bufs[f->num_bufs++] = (CgBuf){ .buffer = buffer, .ptr = ptr };
    return true;
}

void cg_pop_buf(CgFunc *f)
{
    f->num_bufs--;
}

LLVMValueRef cg_lookup_buf(CgFunc *f, const TeBuffer *buffer, const char *access)
{
    for (int i = f->num_bufs - 1; i >= 0; i--)
        if (f->bufs[i].buffer == buffer)
            return f->bufs[i].ptr;
    cg_fail(f->m, TS_ECODEGEN, "%s: %s %s: the buffer is neither an argument nor allocated "
            "around this access", f->kernel, access, buffer->name);
    return NULL;
}

/* ---- run-time checks ---- */

/* Branches to a new cold block when fail holds and returns that block; the builder is
 * left on the passing path. */
static LLVMBasicBlockRef branch_on_failure(CgFunc *f, LLVMValueRef fail)
{
    LLVMValueRef any = cg_any_lane(f, fail);
    if (!any)
        return NULL;
    LLVMBasicBlockRef failed = cg_block(f, "check_failed");
    LLVMBasicBlockRef passed = cg_block(f, "check_passed");
    LLVMValueRef br = LLVMBuildCondBr(f->b, any, failed, passed);
    cg_set_branch_weights(f->m, br, 1, 100000);
    LLVMPositionBuilderAtEnd(f->b, passed);
    return failed;
}

bool cg_check(CgFunc *f, LLVMValueRef fail, const char *message)
{
    LLVMBasicBlockRef failed = branch_on_failure(f, fail);
    if (!failed)
        return false;
    LLVMBasicBlockRef passed = LLVMGetInsertBlock(f->b);
    LLVMPositionBuilderAtEnd(f->b, failed);
    char text[TS_ERROR_MESSAGE_MAX];
    snprintf(text, sizeof text, "%s: %s", f->kernel, message);
    LLVMValueRef global = LLVMBuildGlobalStringPtr(f->b, text, "message");
    cg_call(f, f->m->set_error, 1, &global);
    LLVMBuildBr(f->b, f->error_block);
    LLVMPositionBuilderAtEnd(f->b, passed);
    return true;
}
