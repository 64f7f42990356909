/* Statements of the loop-nest IR as LLVM control flow, and the compute function of a
 * kernel: an internal function taking one noalias pointer per argument buffer, whose
 * body is the lowered loop nest. The packed entry (entry.c) checks the arguments and
 * calls it; LLVM inlines it there.
 *
 * Loops keep the interpreter's meaning: min and extent are evaluated once, on entry,
 * and the variable takes min + k (wrapping int32) for k in [0, extent). Loops marked
 * vectorized or unrolled that reach codegen (the passes turn them into vector code and
 * copies; one left is a scalar fallback) run as serial loops; parallel loops are
 * outlined (parallel.c). Local buffers get storage hoisted to the function's entry
 * (llvm_util.c); their contents are undefined on entry, as in the interpreter. */
#include <stdio.h>
#include <string.h>

#include "cg_internal.h"

/* ---- loops ---- */

bool cg_loop_range(const TeStmt *loop, TeRange *range)
{
    int64_t min, extent;
    if (!te_const_int(loop->u.loop.min, &min) || !te_const_int(loop->u.loop.extent, &extent) ||
        extent < 1 || min + extent - 1 > INT32_MAX)
        return false;
    *range = (TeRange){ .var = loop->u.loop.var, .min = min, .max = min + extent - 1 };
    return true;
}

bool cg_serial_loop(CgFunc *f, const TsExpr *var, LLVMValueRef min, LLVMValueRef begin,
                    LLVMValueRef end, const TeRange *range, CgLoopBody emit_body, void *ctx)
{
    CgModule *m = f->m;
    LLVMBasicBlockRef before = LLVMGetInsertBlock(f->b);
    LLVMBasicBlockRef header = cg_block(f, var->u.var.name);
    LLVMBasicBlockRef exit = cg_block(f, "loop_exit");
    LLVMValueRef enter = LLVMBuildICmp(f->b, LLVMIntSLT, begin, end, "");
    LLVMBuildCondBr(f->b, enter, header, exit);
    LLVMPositionBuilderAtEnd(f->b, header);
    LLVMValueRef k = LLVMBuildPhi(f->b, m->t_i32, "k");
    LLVMValueRef value = range ? LLVMBuildNSWAdd(f->b, min, k, var->u.var.name)
                               : LLVMBuildAdd(f->b, min, k, var->u.var.name);
    /* Without a range, an unbounded one hides any range of an enclosing binding of the
     * same variable. */
    if (!cg_push_var(f, var, value) ||
        !cg_push_range(f, var, range ? range->min : INT64_MIN, range ? range->max : INT64_MAX))
        return false;
    bool ok = emit_body(f, ctx);
    cg_pop_var(f);
    cg_pop_range(f);
    if (!ok)
        return false;
    LLVMBasicBlockRef latch = LLVMGetInsertBlock(f->b);
    LLVMValueRef next = LLVMBuildNSWAdd(f->b, k, cg_i32(m, 1), "");
    LLVMValueRef again = LLVMBuildICmp(f->b, LLVMIntSLT, next, end, "");
    LLVMBuildCondBr(f->b, again, header, exit);
    LLVMAddIncoming(k, (LLVMValueRef[]){ begin, next }, (LLVMBasicBlockRef[]){ before, latch },
                    2);
    LLVMPositionBuilderAtEnd(f->b, exit);
    return true;
}

static bool emit_loop_body(CgFunc *f, void *ctx)
{
    const TeStmt *loop = ctx;
    return cg_stmt(f, loop->u.loop.body);
}

static bool serial_for(CgFunc *f, const TeStmt *s)
{
    LLVMValueRef min = cg_expr(f, s->u.loop.min, NULL);
    LLVMValueRef extent = min ? cg_expr(f, s->u.loop.extent, NULL) : NULL;
    if (!extent)
        return false;
    int64_t n;
    if (te_const_int(s->u.loop.extent, &n) && n <= 0)
        return true;
    TeRange range;
    bool bounded = cg_loop_range(s, &range);
    return cg_serial_loop(f, s->u.loop.var, min, cg_i32(f->m, 0), extent,
                          bounded ? &range : NULL, emit_loop_body, (void *)s);
}

/* ---- stores ---- */

static LLVMValueRef to_memory(CgFunc *f, const TeBuffer *buffer, LLVMValueRef v)
{
    if (!ts_dtype_is_bool(buffer->dtype))
        return v;
    LLVMTypeRef type = LLVMTypeOf(v);
    LLVMTypeRef bytes = LLVMGetTypeKind(type) == LLVMVectorTypeKind
                            ? LLVMVectorType(f->m->t_i8, LLVMGetVectorSize(type))
                            : f->m->t_i8;
    return LLVMBuildZExt(f->b, v, bytes, "");
}

static int value_lanes(LLVMValueRef v)
{
    LLVMTypeRef t = LLVMTypeOf(v);
    return LLVMGetTypeKind(t) == LLVMVectorTypeKind ? (int)LLVMGetVectorSize(t) : 1;
}

static void store_aligned(CgFunc *f, const TeBuffer *buffer, LLVMValueRef v, LLVMValueRef ptr)
{
    LLVMValueRef store = LLVMBuildStore(f->b, v, ptr);
    LLVMSetAlignment(store, ts_dtype_is_bool(buffer->dtype) ? 1u : buffer->dtype.bits / 8u);
}

/* Lanes written to one address leave the last lane's value (te.h). */
static LLVMValueRef last_lane(CgFunc *f, LLVMValueRef v)
{
    int lanes = value_lanes(v);
    return lanes == 1 ? v : LLVMBuildExtractElement(f->b, v, cg_i32(f->m, lanes - 1), "");
}

static bool scatter(CgFunc *f, const TeBuffer *buffer, LLVMValueRef base, LLVMValueRef index,
                    LLVMValueRef v, LLVMValueRef mask)
{
    int lanes = value_lanes(index) > value_lanes(v) ? value_lanes(index) : value_lanes(v);
    if (value_lanes(v) != lanes)
        v = cg_splat(f, v, lanes);
    if (value_lanes(index) != lanes)
        index = cg_splat(f, index, lanes);
    LLVMValueRef ptrs = cg_element_ptr(f, buffer, base, index);
    LLVMValueRef all = cg_splat(f, LLVMConstInt(f->m->t_i1, 1, false), lanes);
    unsigned align = ts_dtype_is_bool(buffer->dtype) ? 1u : buffer->dtype.bits / 8u;
    LLVMTypeRef types[] = { LLVMTypeOf(v), LLVMTypeOf(ptrs) };
    LLVMValueRef args[] = { v, ptrs, cg_i32(f->m, (int64_t)align), mask ? mask : all };
    return cg_intrinsic(f, "llvm.masked.scatter", 2, types, 4, args) != NULL;
}

/* A contiguous vector store of the lanes of mask (llvm.masked.store). */
static bool masked_store(CgFunc *f, const TeBuffer *buffer, LLVMValueRef v, LLVMValueRef ptr,
                         LLVMValueRef mask)
{
    unsigned align = ts_dtype_is_bool(buffer->dtype) ? 1u : buffer->dtype.bits / 8u;
    LLVMTypeRef types[] = { LLVMTypeOf(v), f->m->t_ptr };
    LLVMValueRef args[] = { v, ptr, cg_i32(f->m, (int64_t)align), mask };
    return cg_intrinsic(f, "llvm.masked.store", 2, types, 4, args) != NULL;
}

/* A store; a masked one evaluates its value and indices under the mask (inactive lanes
 * read nothing and fail nothing) and writes with llvm.masked.store or masked.scatter. */
static bool store(CgFunc *f, const TeStmt *s)
{
    const TeBuffer *buffer = s->u.store.buffer;
    LLVMValueRef base = cg_lookup_buf(f, buffer, "store to");
    LLVMValueRef mask = base && s->u.store.mask ? cg_expr(f, s->u.store.mask, NULL) : NULL;
    if (!base || (s->u.store.mask && !mask))
        return false;
    LLVMValueRef v =
        mask ? cg_expr_masked(f, s->u.store.value, mask) : cg_expr(f, s->u.store.value, NULL);
    if (!v)
        return false;
    v = to_memory(f, buffer, v);
    int n = s->u.store.num_indices;
    const TsExpr *first = s->u.store.indices[0];
    bool dense = s->u.store.flat || (n == 1 && buffer->strides[0] == 1);
    int64_t stride;
    if (dense && first->kind == TE_RAMP && te_const_int(first->u.ramp.stride, &stride) &&
        stride == 1 && value_lanes(v) == first->u.ramp.lanes) {
        LLVMValueRef index = mask ? cg_expr_masked(f, first->u.ramp.base, mask)
                                  : cg_expr(f, first->u.ramp.base, NULL);
        if (!index)
            return false;
        LLVMValueRef ptr = cg_element_ptr(f, buffer, base, index);
        if (mask)
            return masked_store(f, buffer, v, ptr, mask);
        store_aligned(f, buffer, v, ptr);
        return true;
    }
    const TsExpr *same = NULL; /* an index that is the same in every lane */
    if (!mask && dense && first->kind == TE_BROADCAST)
        same = first->u.broadcast.value;
    else if (!mask && dense && first->kind == TE_RAMP &&
             te_const_int(first->u.ramp.stride, &stride) && stride == 0)
        same = first->u.ramp.base;
    LLVMValueRef index =
        same ? cg_expr(f, same, NULL)
             : cg_flat_index(f, buffer, n, s->u.store.indices, s->u.store.flat, mask);
    if (!index)
        return false;
    if (value_lanes(index) > 1 || mask)
        return scatter(f, buffer, base, index, v, mask);
    store_aligned(f, buffer, last_lane(f, v), cg_element_ptr(f, buffer, base, index));
    return true;
}

/* ---- allocations, conditions, bindings ---- */

static bool allocate(CgFunc *f, const TeStmt *s)
{
    const TeBuffer *buffer = s->u.allocate.buffer;
    if (buffer->num_elements < 1 || buffer->num_elements > TS_MAX_EXTENT)
        return cg_fail(f->m, TS_ECODEGEN, "%s: allocate %s: %lld elements", f->kernel,
                       buffer->name, (long long)buffer->num_elements);
    uint64_t element = ts_dtype_is_bool(buffer->dtype) ? 1u : buffer->dtype.bits / 8u;
    LLVMValueRef storage = cg_local_storage(f, buffer, (uint64_t)buffer->num_elements * element);
    if (!storage || !cg_push_buf(f, buffer, storage))
        return false;
    bool ok = cg_stmt(f, s->u.allocate.body);
    cg_pop_buf(f);
    return ok;
}

static bool if_stmt(CgFunc *f, const TeStmt *s)
{
    if (s->u.if_then.cond->dtype.lanes > 1)
        return cg_fail(f->m, TS_ECODEGEN, "%s: cannot generate an if statement with the vector "
                       "condition %s", f->kernel, cg_expr_text(f->m, s->u.if_then.cond, 0));
    LLVMValueRef cond = cg_expr(f, s->u.if_then.cond, NULL);
    if (!cond)
        return false;
    LLVMBasicBlockRef then_block = cg_block(f, "if_then");
    LLVMBasicBlockRef else_block = s->u.if_then.else_case ? cg_block(f, "if_else") : NULL;
    LLVMBasicBlockRef done = cg_block(f, "if_end");
    LLVMValueRef br = LLVMBuildCondBr(f->b, cond, then_block, else_block ? else_block : done);
    if (s->u.if_then.likely)
        cg_set_branch_weights(f->m, br, 2000, 1);
    LLVMPositionBuilderAtEnd(f->b, then_block);
    if (!cg_stmt(f, s->u.if_then.then_case))
        return false;
    LLVMBuildBr(f->b, done);
    if (else_block) {
        LLVMPositionBuilderAtEnd(f->b, else_block);
        if (!cg_stmt(f, s->u.if_then.else_case))
            return false;
        LLVMBuildBr(f->b, done);
    }
    LLVMPositionBuilderAtEnd(f->b, done);
    return true;
}

static bool let(CgFunc *f, const TeStmt *s)
{
    LLVMValueRef value = cg_expr(f, s->u.let.value, NULL);
    if (!value || !cg_push_var(f, s->u.let.var, value))
        return false;
    if (!LLVMIsConstant(value) && !LLVMGetValueName2(value, &(size_t){ 0 })[0])
        LLVMSetValueName2(value, s->u.let.var->u.var.name, strlen(s->u.let.var->u.var.name));
    int64_t lo = INT64_MIN, hi = INT64_MAX; /* unbounded: hides an enclosing binding's */
    if (s->u.let.value->dtype.lanes > 1 ||
        !te_const_bounds(s->u.let.value, f->num_ranges, f->ranges, &lo, &hi)) {
        lo = INT64_MIN;
        hi = INT64_MAX;
    }
    if (!cg_push_range(f, s->u.let.var, lo, hi))
        return false;
    bool ok = cg_stmt(f, s->u.let.body);
    cg_pop_var(f);
    cg_pop_range(f);
    return ok;
}

/* A tensorized region: its intrinsic's code, once the target is known to have every
 * feature the intrinsic needs (instruction selection would abort on an instruction the
 * target lacks, and the CPU would trap on it). */
static bool cg_tensorize(CgFunc *f, const TeStmt *s)
{
    for (int i = 0; i < s->u.tensorize.num_features; i++) {
        const char *feature = s->u.tensorize.features[i];
        if (!ts_target_has_feature(f->m->target, feature))
            return cg_fail(f->m, TS_ECODEGEN,
                           "%s: intrinsic %s needs the target feature %s, which target "
                           "\"%s\" lacks",
                           f->kernel, s->u.tensorize.name, feature,
                           ts_target_str(f->m->target));
    }
    return cg_stmt(f, s->u.tensorize.code);
}

bool cg_stmt(CgFunc *f, const TeStmt *s)
{
    if (f->m->status != TS_OK)
        return false;
    switch (s->kind) {
    case TE_STMT_FOR:
        if (s->u.loop.for_kind == TE_FOR_PARALLEL)
            return cg_parallel_for(f, s);
        return serial_for(f, s);
    case TE_STMT_STORE:
        return store(f, s);
    case TE_STMT_ALLOCATE:
        return allocate(f, s);
    case TE_STMT_IF:
        return if_stmt(f, s);
    case TE_STMT_LET:
        return let(f, s);
    case TE_STMT_SEQ:
        return cg_sequence(f, s);
    case TE_STMT_CALL:
        return cg_intrinsic_call(f, s->u.call.name, s->u.call.num_args, s->u.call.args,
                                 NULL) != NULL;
    case TE_STMT_TENSORIZE:
        return cg_tensorize(f, s);
    case TE_NUM_STMT_KINDS:
        break;
    }
    return cg_fail(f->m, TS_ECODEGEN, "%s: cannot generate a statement of unknown kind %d",
                   f->kernel, (int)s->kind);
}

/* ---- the compute function ---- */

/* Arguments are whole tensors in dense row-major order: the ABI passes nothing else. */
static bool check_argument_buffer(CgModule *m, const TsLoweredFunc *kernel, int i)
{
    const TeBuffer *b = kernel->args[i];
    if (!b || !b->tensor)
        return cg_fail(m, TS_EINVAL, "%s: argument %d has no buffer or tensor", kernel->name, i);
    int64_t stride = 1;
    bool dense = b->ndim == b->tensor->ndim;
    for (int d = b->ndim - 1; dense && d >= 0; d--) {
        dense = b->shape[d] == ts_tensor_dim(b->tensor, d) &&
                (b->shape[d] == 1 || b->strides[d] == stride);
        stride *= b->shape[d];
    }
    if (!dense || b->dtype.code != b->tensor->dtype.code || b->dtype.bits != b->tensor->dtype.bits)
        return cg_fail(m, TS_ECODEGEN, "%s: argument %d (%s) is not a dense row-major buffer of "
                       "tensor %s (a padded or partial argument buffer)", kernel->name, i,
                       b->name, b->tensor->name);
    return true;
}

LLVMValueRef cg_compute_function(CgModule *m, const TsLoweredFunc *kernel)
{
    LLVMTypeRef params[CG_MAX_ARGS];
    if (kernel->num_args < 0 || kernel->num_args > CG_MAX_ARGS) {
        cg_fail(m, TS_ECODEGEN, "%s: %d arguments (at most %d)", kernel->name, kernel->num_args,
                CG_MAX_ARGS);
        return NULL;
    }
    for (int i = 0; i < kernel->num_args; i++) {
        if (!check_argument_buffer(m, kernel, i))
            return NULL;
        params[i] = m->t_ptr;
    }
    char name[300];
    snprintf(name, sizeof name, "ts_compute.%s", kernel->name);
    LLVMValueRef fn = LLVMAddFunction(
        m->mod, name, LLVMFunctionType(m->t_i32, params, (unsigned)kernel->num_args, false));
    LLVMSetLinkage(fn, LLVMInternalLinkage);
    unsigned noalias = LLVMGetEnumAttributeKindForName("noalias", 7);
    CgFunc f;
    cg_func_begin(m, &f, fn, kernel->name);
    bool ok = true;
    for (int i = 0; ok && i < kernel->num_args; i++) {
        LLVMValueRef p = LLVMGetParam(fn, (unsigned)i);
        LLVMSetValueName2(p, kernel->args[i]->name, strlen(kernel->args[i]->name));
        LLVMAddAttributeAtIndex(fn, (unsigned)i + 1, LLVMCreateEnumAttribute(m->ctx, noalias, 0));
        ok = cg_push_buf(&f, kernel->args[i], p);
    }
    ok = ok && cg_stmt(&f, kernel->body) && cg_func_end(&f);
    cg_func_dispose(&f);
    if (!ok)
        return NULL;
    cg_set_function_attributes(m, fn, m->vector_bits);
    return fn;
}
