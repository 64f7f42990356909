/* The argument checker every packed entry calls: one function per module,
 *     int32_t ts_check_args(const KernelDesc *desc, const TsValue *args,
 *                           const int32_t *type_codes, int32_t num_args, void **data)
 * which checks the packed arguments against the kernel's descriptor (a constant the
 * entry passes: names, dtypes, shapes, which arguments the kernel writes) and either
 * stores each tensor's data + byte_offset in data[] and returns 0, or calls
 * ts_runtime_set_error with a message naming the kernel, the argument and the mismatch,
 * e.g. "matmul: argument 1 (B) has shape [32, 15], expected [32, 16]", and returns -1.
 *
 * Checks, per argument, in an order where nothing is read before it is known to be
 * there: the type code is TS_ARG_TENSOR; the tensor pointer is not NULL; ndim; dtype
 * (code, bits, lanes 1); the device is the CPU; the shape pointer, then every dimension;
 * strides NULL or dense row-major (a dimension of extent 1 may have any stride, as
 * DLPack producers often leave it); data not NULL; data + byte_offset aligned to one
 * element, the only alignment generated code assumes. Then an argument the kernel
 * writes must not overlap another argument: the compute function's pointers are
 * noalias, which lets LLVM keep accumulators in registers.
 *
 * Why one data-driven function instead of checks spelled out in each entry: the spelled
 * out version cost about 13 ms of LLVM time per small kernel (most of its compile time);
 * this one is built once per module, marked optnone (LLVM neither optimizes it nor
 * spends time selecting instructions carefully), and costs microseconds per call, which
 * no kernel notices. */
#include <stdio.h>
#include <string.h>

#include "cg_internal.h"

enum {
    /* TsDLTensor's fields (llvm_util.c's t_dltensor) */
    DL_DATA = 0, DL_DEVICE = 1, DL_NDIM = 2, DL_DTYPE = 3, DL_SHAPE = 4, DL_STRIDES = 5,
    DL_BYTE_OFFSET = 6,
    DIMS_TEXT_MAX = 8 * 24 + 4
};

/* The checker being built. */
typedef struct Checker {
    CgFunc f;
    CgModule *m;
    LLVMValueRef desc, args, type_codes, num_args, data;
    LLVMValueRef kernel;    /* the kernel's name (loaded from desc) */
    LLVMValueRef dims_text; /* [DIMS_TEXT_MAX x i8] for a formatted shape or strides */
    CgCallee format_dims;
} Checker;

/* ---- descriptor types ---- */

void cg_argcheck_types(CgModule *m)
{
    LLVMTypeRef i32 = m->t_i32, i64 = m->t_i64, ptr = m->t_ptr;
    LLVMTypeRef arg[CG_ARG_DESC_FIELDS];
    arg[CG_ARG_NAME] = ptr;
    arg[CG_ARG_DTYPE_TEXT] = ptr;
    arg[CG_ARG_SHAPE] = ptr;
    arg[CG_ARG_STRIDES] = ptr;
    arg[CG_ARG_SHAPE_TEXT] = ptr;
    arg[CG_ARG_STRIDES_TEXT] = ptr;
    arg[CG_ARG_BYTES] = i64;
    arg[CG_ARG_NDIM] = i32;
    arg[CG_ARG_CODE] = i32;
    arg[CG_ARG_BITS] = i32;
    arg[CG_ARG_ELEMENT_BYTES] = i32;
    arg[CG_ARG_WRITTEN] = i32;
    m->t_arg_desc = LLVMStructTypeInContext(m->ctx, arg, CG_ARG_DESC_FIELDS, false);
    LLVMTypeRef kernel[] = { ptr, i32, ptr };
    m->t_kernel_desc = LLVMStructTypeInContext(m->ctx, kernel, 3, false);
}

/* ---- small builders ---- */

static LLVMValueRef field(Checker *c, LLVMTypeRef type, LLVMValueRef base, int index,
                          LLVMTypeRef field_type)
{
    LLVMValueRef p = LLVMBuildStructGEP2(c->f.b, type, base, (unsigned)index, "");
    return LLVMBuildLoad2(c->f.b, field_type, p, "");
}

static LLVMValueRef arg_field(Checker *c, LLVMValueRef arg, int index)
{
    return field(c, c->m->t_arg_desc, arg, index,
                 LLVMStructGetTypeAtIndex(c->m->t_arg_desc, (unsigned)index));
}

static LLVMValueRef element(Checker *c, LLVMTypeRef type, LLVMValueRef base, LLVMValueRef i)
{
    LLVMValueRef p = LLVMBuildGEP2(c->f.b, type, base, &i, 1, "");
    return LLVMBuildLoad2(c->f.b, type, p, "");
}

static LLVMValueRef ne(Checker *c, LLVMValueRef a, LLVMValueRef b)
{
    return LLVMBuildICmp(c->f.b, LLVMIntNE, a, b, "");
}

/* When fail holds: the message formatted from "%s: " fmt with the kernel's name and
 * values, ts_runtime_set_error, return -1. The builder continues where it passed. */
static void fail_if(Checker *c, LLVMValueRef fail, const char *fmt, int n,
                    const LLVMValueRef *values)
{
    CgFunc *f = &c->f;
    LLVMBasicBlockRef failed = cg_block(f, "failed"), passed = cg_block(f, "passed");
    LLVMBuildCondBr(f->b, fail, failed, passed);
    LLVMPositionBuilderAtEnd(f->b, failed);
    char format[256];
    snprintf(format, sizeof format, "%%s: %s", fmt);
    LLVMValueRef call_args[12] = { f->message_buf, cg_i64(c->m, TS_ERROR_MESSAGE_MAX),
                                   LLVMBuildGlobalStringPtr(f->b, format, "format"),
                                   c->kernel };
    for (int i = 0; i < n && i < 8; i++)
        call_args[4 + i] = values[i];
    cg_call(f, c->m->snprintf_fn, 4 + (n < 8 ? n : 8), call_args);
    cg_call(f, c->m->set_error, 1, &f->message_buf);
    LLVMBuildBr(f->b, f->error_block);
    LLVMPositionBuilderAtEnd(f->b, passed);
}

/* A counted loop: for (i = 0; i < n; i++), n an i32 >= 0. */
typedef struct Loop {
    LLVMBasicBlockRef head, before, done;
    LLVMValueRef i;
} Loop;

static Loop loop_begin(Checker *c, LLVMValueRef n, const char *name)
{
    CgFunc *f = &c->f;
    Loop l;
    l.before = LLVMGetInsertBlock(f->b);
    l.head = cg_block(f, name);
    LLVMBuildBr(f->b, l.head);
    LLVMPositionBuilderAtEnd(f->b, l.head);
    l.i = LLVMBuildPhi(f->b, c->m->t_i32, name);
    LLVMBasicBlockRef body = cg_block(f, "body");
    l.done = cg_block(f, "done");
    LLVMBuildCondBr(f->b, LLVMBuildICmp(f->b, LLVMIntSLT, l.i, n, ""), body, l.done);
    LLVMPositionBuilderAtEnd(f->b, body);
    return l;
}

static void loop_end(Checker *c, Loop *l)
{
    CgFunc *f = &c->f;
    LLVMBasicBlockRef latch = LLVMGetInsertBlock(f->b);
    LLVMValueRef next = LLVMBuildAdd(f->b, l->i, cg_i32(c->m, 1), "");
    LLVMBuildBr(f->b, l->head);
    LLVMAddIncoming(l->i, (LLVMValueRef[]){ cg_i32(c->m, 0), next },
                    (LLVMBasicBlockRef[]){ l->before, latch }, 2);
    LLVMPositionBuilderAtEnd(f->b, l->done);
}

/* ---- ts_format_dims(char *out, const int64_t *dims, int32_t n): "[32, 16]" ---- */

static CgCallee build_format_dims(CgModule *m)
{
    LLVMTypeRef params[] = { m->t_ptr, m->t_ptr, m->t_i32 };
    CgCallee callee = { LLVMFunctionType(m->t_void, params, 3, false), NULL };
    callee.fn = LLVMAddFunction(m->mod, "ts_format_dims", callee.type);
    LLVMSetLinkage(callee.fn, LLVMInternalLinkage);
    Checker c = { .m = m };
    CgFunc *f = &c.f;
    f->m = m;
    f->fn = callee.fn;
    f->b = LLVMCreateBuilderInContext(m->ctx);
    LLVMPositionBuilderAtEnd(f->b, cg_block(f, "entry"));
    LLVMValueRef out = LLVMGetParam(callee.fn, 0), dims = LLVMGetParam(callee.fn, 1);
    LLVMValueRef size = cg_i64(m, DIMS_TEXT_MAX);
    LLVMValueRef open = LLVMBuildGlobalStringPtr(f->b, "[", "");
    LLVMValueRef pos_slot = LLVMBuildAlloca(f->b, m->t_i64, "pos");
    LLVMBuildStore(f->b, cg_i64(m, 0), pos_slot);
    LLVMValueRef first[] = { out, size, open };
    cg_call(f, m->snprintf_fn, 3, first);
    LLVMBuildStore(f->b, cg_i64(m, 1), pos_slot);
    Loop l = loop_begin(&c, LLVMGetParam(callee.fn, 2), "d");
    LLVMValueRef pos = LLVMBuildLoad2(f->b, m->t_i64, pos_slot, "");
    LLVMValueRef sep = LLVMBuildSelect(f->b, LLVMBuildICmp(f->b, LLVMIntEQ, l.i, cg_i32(m, 0), ""),
                                       LLVMBuildGlobalStringPtr(f->b, "", ""),
                                       LLVMBuildGlobalStringPtr(f->b, ", ", ""), "");
    LLVMValueRef at = LLVMBuildGEP2(f->b, m->t_i8, out, &pos, 1, "");
    LLVMValueRef room = LLVMBuildSub(f->b, size, pos, "");
    LLVMValueRef value = element(&c, m->t_i64, dims, l.i);
    LLVMValueRef one[] = { at, room, LLVMBuildGlobalStringPtr(f->b, "%s%lld", ""), sep, value };
    LLVMValueRef wrote = cg_call(f, m->snprintf_fn, 5, one);
    LLVMValueRef next = LLVMBuildAdd(f->b, pos, LLVMBuildSExt(f->b, wrote, m->t_i64, ""), "");
    /* stay inside the buffer however long the numbers are */
    LLVMValueRef limit = cg_i64(m, DIMS_TEXT_MAX - 2);
    next = LLVMBuildSelect(f->b, LLVMBuildICmp(f->b, LLVMIntSGT, next, limit, ""), limit, next, "");
    LLVMBuildStore(f->b, next, pos_slot);
    loop_end(&c, &l);
    LLVMValueRef end = LLVMBuildLoad2(f->b, m->t_i64, pos_slot, "");
    LLVMValueRef close[] = { LLVMBuildGEP2(f->b, m->t_i8, out, &end, 1, ""), cg_i64(m, 2),
                             LLVMBuildGlobalStringPtr(f->b, "]", "") };
    cg_call(f, m->snprintf_fn, 3, close);
    LLVMBuildRetVoid(f->b);
    LLVMDisposeBuilder(f->b);
    return callee;
}

/* ---- the checks of one argument ---- */

static void check_header(Checker *c, LLVMValueRef i, LLVMValueRef name, LLVMValueRef tensor)
{
    CgModule *m = c->m;
    LLVMValueRef code = element(c, m->t_i32, c->type_codes, i);
    fail_if(c, ne(c, code, cg_i32(m, TS_ARG_TENSOR)),
            "argument %d (%s) has type code %d, expected a tensor (7)", 3,
            (LLVMValueRef[]){ i, name, code });
    fail_if(c, LLVMBuildIsNull(c->f.b, tensor, ""), "argument %d (%s) is a NULL tensor", 2,
            (LLVMValueRef[]){ i, name });
}

static void check_type(Checker *c, LLVMValueRef i, LLVMValueRef name, LLVMValueRef arg,
                       LLVMValueRef tensor)
{
    CgModule *m = c->m;
    LLVMBuilderRef b = c->f.b;
    LLVMValueRef ndim = field(c, m->t_dltensor, tensor, DL_NDIM, m->t_i32);
    LLVMValueRef want_ndim = arg_field(c, arg, CG_ARG_NDIM);
    fail_if(c, ne(c, ndim, want_ndim), "argument %d (%s) has %d dimensions, expected %d", 4,
            (LLVMValueRef[]){ i, name, ndim, want_ndim });
    LLVMTypeRef dtype = LLVMStructGetTypeAtIndex(m->t_dltensor, DL_DTYPE);
    LLVMValueRef dt = LLVMBuildStructGEP2(b, m->t_dltensor, tensor, DL_DTYPE, "");
    LLVMValueRef code = LLVMBuildZExt(b, field(c, dtype, dt, 0, m->t_i8), m->t_i32, "");
    LLVMValueRef bits = LLVMBuildZExt(b, field(c, dtype, dt, 1, m->t_i8), m->t_i32, "");
    LLVMValueRef lanes = LLVMBuildZExt(b, field(c, dtype, dt, 2, m->t_i16), m->t_i32, "");
    LLVMValueRef bad = LLVMBuildOr(b, ne(c, code, arg_field(c, arg, CG_ARG_CODE)),
                                   ne(c, bits, arg_field(c, arg, CG_ARG_BITS)), "");
    bad = LLVMBuildOr(b, bad, ne(c, lanes, cg_i32(m, 1)), "");
    fail_if(c, bad, "argument %d (%s) has dtype code %d bits %d lanes %d, expected %s", 6,
            (LLVMValueRef[]){ i, name, code, bits, lanes,
                              arg_field(c, arg, CG_ARG_DTYPE_TEXT) });
    LLVMValueRef device = LLVMBuildStructGEP2(b, m->t_dltensor, tensor, DL_DEVICE, "");
    LLVMValueRef type = LLVMBuildLoad2(b, m->t_i32, device, "");
    fail_if(c, ne(c, type, cg_i32(m, TS_DEVICE_CPU)),
            "argument %d (%s) is on device type %d, expected the CPU (1)", 3,
            (LLVMValueRef[]){ i, name, type });
}

/* Whether any dims[d] differs from want[d] (where skip_unit, not for extent-1 dims). */
static LLVMValueRef dims_differ(Checker *c, LLVMValueRef dims, LLVMValueRef want,
                                LLVMValueRef shape, LLVMValueRef ndim, bool skip_unit)
{
    CgModule *m = c->m;
    LLVMBasicBlockRef here = LLVMGetInsertBlock(c->f.b);
    LLVMPositionBuilderAtEnd(c->f.b, c->f.entry_block);
    LLVMValueRef slot = LLVMBuildAlloca(c->f.b, m->t_i1, "differ");
    LLVMPositionBuilderAtEnd(c->f.b, here);
    LLVMBuildStore(c->f.b, LLVMConstInt(m->t_i1, 0, false), slot);
    Loop l = loop_begin(c, ndim, "dim");
    LLVMValueRef differ = ne(c, element(c, m->t_i64, dims, l.i), element(c, m->t_i64, want, l.i));
    if (skip_unit)
        differ = LLVMBuildAnd(c->f.b, differ,
                              ne(c, element(c, m->t_i64, shape, l.i), cg_i64(m, 1)), "");
    LLVMValueRef so_far = LLVMBuildLoad2(c->f.b, m->t_i1, slot, "");
    LLVMBuildStore(c->f.b, LLVMBuildOr(c->f.b, so_far, differ, ""), slot);
    loop_end(c, &l);
    return LLVMBuildLoad2(c->f.b, m->t_i1, slot, "");
}

/* Formats dims into the text buffer (only on the failing path: cheap either way). */
static LLVMValueRef dims_text(Checker *c, LLVMValueRef dims, LLVMValueRef ndim)
{
    LLVMValueRef args[] = { c->dims_text, dims, ndim };
    cg_call(&c->f, c->format_dims, 3, args);
    return c->dims_text;
}

static void check_dims(Checker *c, LLVMValueRef i, LLVMValueRef name, LLVMValueRef arg,
                       LLVMValueRef tensor)
{
    CgModule *m = c->m;
    LLVMBuilderRef b = c->f.b;
    LLVMValueRef ndim = arg_field(c, arg, CG_ARG_NDIM);
    LLVMValueRef want = arg_field(c, arg, CG_ARG_SHAPE);
    LLVMValueRef shape = field(c, m->t_dltensor, tensor, DL_SHAPE, m->t_ptr);
    LLVMValueRef missing = LLVMBuildAnd(b, LLVMBuildIsNull(b, shape, ""),
                                        LLVMBuildICmp(b, LLVMIntSGT, ndim, cg_i32(m, 0), ""), "");
    fail_if(c, missing, "argument %d (%s) has a NULL shape", 2, (LLVMValueRef[]){ i, name });
    LLVMValueRef differ = dims_differ(c, shape, want, want, ndim, false);
    LLVMBasicBlockRef bad = cg_block(&c->f, "bad_shape"), ok = cg_block(&c->f, "shape_ok");
    LLVMBuildCondBr(b, differ, bad, ok);
    LLVMPositionBuilderAtEnd(b, bad);
    fail_if(c, LLVMConstInt(m->t_i1, 1, false), "argument %d (%s) has shape %s, expected %s", 4,
            (LLVMValueRef[]){ i, name, dims_text(c, shape, ndim),
                              arg_field(c, arg, CG_ARG_SHAPE_TEXT) });
    LLVMBuildBr(b, ok);
    LLVMPositionBuilderAtEnd(b, ok);
    LLVMValueRef strides = field(c, m->t_dltensor, tensor, DL_STRIDES, m->t_ptr);
    LLVMBasicBlockRef given = cg_block(&c->f, "strides"), dense = cg_block(&c->f, "dense");
    LLVMBuildCondBr(b, LLVMBuildIsNull(b, strides, ""), dense, given);
    LLVMPositionBuilderAtEnd(b, given);
    LLVMValueRef want_strides = arg_field(c, arg, CG_ARG_STRIDES);
    differ = dims_differ(c, strides, want_strides, want, ndim, true);
    bad = cg_block(&c->f, "bad_strides");
    LLVMBuildCondBr(b, differ, bad, dense);
    LLVMPositionBuilderAtEnd(b, bad);
    fail_if(c, LLVMConstInt(m->t_i1, 1, false),
            "argument %d (%s) has strides %s, expected NULL or %s (dense row-major)", 4,
            (LLVMValueRef[]){ i, name, dims_text(c, strides, ndim),
                              arg_field(c, arg, CG_ARG_STRIDES_TEXT) });
    LLVMBuildBr(b, dense);
    LLVMPositionBuilderAtEnd(b, dense);
}

static void check_data(Checker *c, LLVMValueRef i, LLVMValueRef name, LLVMValueRef arg,
                       LLVMValueRef tensor)
{
    CgModule *m = c->m;
    LLVMBuilderRef b = c->f.b;
    LLVMValueRef data = field(c, m->t_dltensor, tensor, DL_DATA, m->t_ptr);
    fail_if(c, LLVMBuildIsNull(b, data, ""), "argument %d (%s) has NULL data", 2,
            (LLVMValueRef[]){ i, name });
    LLVMValueRef offset = field(c, m->t_dltensor, tensor, DL_BYTE_OFFSET, m->t_i64);
    LLVMValueRef p = LLVMBuildGEP2(b, m->t_i8, data, &offset, 1, "");
    LLVMValueRef align = arg_field(c, arg, CG_ARG_ELEMENT_BYTES);
    LLVMValueRef low = LLVMBuildAnd(b, LLVMBuildPtrToInt(b, p, m->t_i64, ""),
                                    LLVMBuildSub(b, LLVMBuildZExt(b, align, m->t_i64, ""),
                                                 cg_i64(m, 1), ""), "");
    fail_if(c, ne(c, low, cg_i64(m, 0)),
            "argument %d (%s) has data + byte_offset %p, not aligned to %d bytes", 4,
            (LLVMValueRef[]){ i, name, p, align });
    LLVMBuildStore(b, p, LLVMBuildGEP2(b, m->t_ptr, c->data, &i, 1, ""));
}

/* ---- overlaps ---- */

static void check_overlaps(Checker *c, LLVMValueRef n, LLVMValueRef arg_descs)
{
    CgModule *m = c->m;
    LLVMBuilderRef b = c->f.b;
    Loop outer = loop_begin(c, n, "written");
    LLVMValueRef wi = LLVMBuildGEP2(b, m->t_arg_desc, arg_descs, &outer.i, 1, "");
    LLVMValueRef written = ne(c, arg_field(c, wi, CG_ARG_WRITTEN), cg_i32(m, 0));
    LLVMBasicBlockRef scan = cg_block(&c->f, "scan"), next = cg_block(&c->f, "next");
    LLVMBuildCondBr(b, written, scan, next);
    LLVMPositionBuilderAtEnd(b, scan);
    LLVMValueRef a0 = LLVMBuildPtrToInt(b, element(c, m->t_ptr, c->data, outer.i), m->t_i64, "");
    LLVMValueRef a1 = LLVMBuildAdd(b, a0, arg_field(c, wi, CG_ARG_BYTES), "");
    Loop inner = loop_begin(c, n, "other");
    LLVMValueRef wj = LLVMBuildGEP2(b, m->t_arg_desc, arg_descs, &inner.i, 1, "");
    LLVMValueRef b0 = LLVMBuildPtrToInt(b, element(c, m->t_ptr, c->data, inner.i), m->t_i64, "");
    LLVMValueRef b1 = LLVMBuildAdd(b, b0, arg_field(c, wj, CG_ARG_BYTES), "");
    LLVMValueRef overlap = LLVMBuildAnd(b, LLVMBuildICmp(b, LLVMIntULT, a0, b1, ""),
                                        LLVMBuildICmp(b, LLVMIntULT, b0, a1, ""), "");
    overlap = LLVMBuildAnd(b, overlap, ne(c, outer.i, inner.i), "");
    LLVMValueRef wname = arg_field(c, wi, CG_ARG_NAME);
    fail_if(c, overlap, "argument %d (%s) overlaps argument %d (%s); the kernel writes %s, so "
            "it must not share memory with another argument", 5,
            (LLVMValueRef[]){ outer.i, wname, inner.i, arg_field(c, wj, CG_ARG_NAME), wname });
    loop_end(c, &inner);
    LLVMBuildBr(b, next);
    LLVMPositionBuilderAtEnd(b, next);
    loop_end(c, &outer);
}

/* ---- the checker ---- */

static void check_all(Checker *c)
{
    CgModule *m = c->m;
    LLVMBuilderRef b = c->f.b;
    c->kernel = field(c, m->t_kernel_desc, c->desc, 0, m->t_ptr);
    LLVMValueRef n = field(c, m->t_kernel_desc, c->desc, 1, m->t_i32);
    LLVMValueRef arg_descs = field(c, m->t_kernel_desc, c->desc, 2, m->t_ptr);
    fail_if(c, ne(c, c->num_args, n), "expected %d arguments, got %d", 2,
            (LLVMValueRef[]){ n, c->num_args });
    Loop l = loop_begin(c, n, "arg");
    LLVMValueRef arg = LLVMBuildGEP2(b, m->t_arg_desc, arg_descs, &l.i, 1, "");
    LLVMValueRef name = arg_field(c, arg, CG_ARG_NAME);
    LLVMValueRef tensor = element(c, m->t_ptr, c->args, l.i); /* TsValue.v_handle */
    check_header(c, l.i, name, tensor);
    check_type(c, l.i, name, arg, tensor);
    check_dims(c, l.i, name, arg, tensor);
    check_data(c, l.i, name, arg, tensor);
    loop_end(c, &l);
    check_overlaps(c, n, arg_descs);
}

static LLVMValueRef build_checker(CgModule *m)
{
    LLVMTypeRef params[] = { m->t_ptr, m->t_ptr, m->t_ptr, m->t_i32, m->t_ptr };
    m->check_args.type = LLVMFunctionType(m->t_i32, params, 5, false);
    LLVMValueRef fn = LLVMAddFunction(m->mod, "ts_check_args", m->check_args.type);
    LLVMSetLinkage(fn, LLVMInternalLinkage);
    Checker c = { .m = m, .format_dims = build_format_dims(m) };
    cg_func_begin(m, &c.f, fn, "ts_check_args");
    c.desc = LLVMGetParam(fn, 0);
    c.args = LLVMGetParam(fn, 1);
    c.type_codes = LLVMGetParam(fn, 2);
    c.num_args = LLVMGetParam(fn, 3);
    c.data = LLVMGetParam(fn, 4);
    LLVMBasicBlockRef here = LLVMGetInsertBlock(c.f.b);
    LLVMPositionBuilderAtEnd(c.f.b, c.f.entry_block);
    c.dims_text = LLVMBuildAlloca(c.f.b, LLVMArrayType(m->t_i8, DIMS_TEXT_MAX), "dims_text");
    LLVMPositionBuilderAtEnd(c.f.b, here);
    check_all(&c);
    cg_func_end(&c.f);
    cg_func_dispose(&c.f);
    return fn;
}

/* optnone (with the noinline it requires): the O3 pipeline skips the checker and the
 * code generator handles it quickly. */
static void cold_attributes(CgModule *m, LLVMValueRef fn)
{
    static const char *const kinds[] = { "optnone", "noinline", "nounwind" };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        unsigned kind = LLVMGetEnumAttributeKindForName(kinds[i], strlen(kinds[i]));
        LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex,
                                LLVMCreateEnumAttribute(m->ctx, kind, 0));
    }
    cg_set_function_attributes(m, fn, 0);
}

CgCallee cg_argcheck_function(CgModule *m)
{
    if (!m->check_args.fn) {
        m->check_args.fn = build_checker(m);
        cold_attributes(m, m->check_args.fn);
        cold_attributes(m, LLVMGetNamedFunction(m->mod, "ts_format_dims"));
    }
    return m->check_args;
}
