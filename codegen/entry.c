/* The packed entry of a kernel (DESIGN.md, "Kernel ABI"):
 *     int32_t kernel(const TsValue *args, const int32_t *type_codes, int32_t num_args)
 * checks everything the compute function relies on before it touches memory, and on a
 * mismatch calls ts_runtime_set_error with a message naming the kernel, the argument
 * and what is wrong, e.g.
 *     matmul: argument 1 (B) has shape [32, 15], expected [32, 16]
 * and returns -1. Per argument, in this order: the type code is TS_ARG_TENSOR, the
 * tensor pointer is not NULL, ndim, dtype (code, bits, lanes 1), the device is the CPU,
 * every dimension of the shape, strides NULL or dense row-major (a dimension of extent 1
 * may have any stride, as DLPack producers often leave it), data not NULL, and data +
 * byte_offset aligned to one element (the only alignment the generated code assumes).
 * Last, an argument the kernel writes must not overlap any other argument: the compute
 * function's pointers are noalias, which is what lets LLVM keep an accumulator in
 * registers across a reduction loop. Messages with values are formatted with snprintf
 * only on the failing path. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg_internal.h"

enum {
    FIELD_DATA = 0,
    FIELD_DEVICE = 1,
    FIELD_NDIM = 2,
    FIELD_DTYPE = 3,
    FIELD_SHAPE = 4,
    FIELD_STRIDES = 5,
    FIELD_BYTE_OFFSET = 6
};

/* One argument being checked. */
typedef struct Arg {
    int index;
    const TeBuffer *buffer;
    const char *name;    /* the tensor's name */
    LLVMValueRef tensor; /* TsDLTensor * */
    LLVMValueRef data;   /* data + byte_offset, once checked */
    LLVMValueRef bytes;  /* i64: its size in bytes */
} Arg;

static LLVMValueRef field_ptr(CgFunc *f, LLVMValueRef tensor, int field)
{
    return LLVMBuildStructGEP2(f->b, f->m->t_dltensor, tensor, (unsigned)field, "");
}

static LLVMValueRef load_field(CgFunc *f, LLVMValueRef tensor, int field, LLVMTypeRef type)
{
    return LLVMBuildLoad2(f->b, type, field_ptr(f, tensor, field), "");
}

/* "%s: argument 1 (B) " with the argument's index and name spelled in. */
static void arg_prefix(const Arg *a, char *buf, size_t size)
{
    snprintf(buf, size, "argument %d (%s) ", a->index, a->name);
}

/* A printf format that shows text literally (doubling its '%'). */
static void escape_percent(const char *text, char *buf, size_t size)
{
    size_t n = 0;
    for (; *text && n + 2 < size; text++) {
        if (*text == '%')
            buf[n++] = '%';
        buf[n++] = *text;
    }
    buf[n] = '\0';
}

static bool check_fmt(CgFunc *f, const Arg *a, LLVMValueRef fail, const char *what, int n,
                      LLVMValueRef *values)
{
    char prefix[200], escaped[400], fmt[TS_ERROR_MESSAGE_MAX + 400];
    arg_prefix(a, prefix, sizeof prefix);
    escape_percent(prefix, escaped, sizeof escaped);
    snprintf(fmt, sizeof fmt, "%s%s", escaped, what);
    return cg_check_fmt(f, fail, fmt, n, values);
}

static bool check_type_code(CgFunc *f, const Arg *a, LLVMValueRef type_codes)
{
    CgModule *m = f->m;
    LLVMValueRef index = cg_i64(m, a->index);
    LLVMValueRef code = LLVMBuildLoad2(f->b, m->t_i32,
                                       LLVMBuildGEP2(f->b, m->t_i32, type_codes, &index, 1, ""),
                                       "type_code");
    LLVMValueRef bad = LLVMBuildICmp(f->b, LLVMIntNE, code, cg_i32(m, TS_ARG_TENSOR), "");
    char what[64];
    snprintf(what, sizeof what, "has type code %%d, expected a tensor (%d)", TS_ARG_TENSOR);
    return check_fmt(f, a, bad, what, 1, &code);
}

static bool check_ndim_dtype_device(CgFunc *f, const Arg *a)
{
    CgModule *m = f->m;
    TsDType t = a->buffer->tensor->dtype;
    int ndim = a->buffer->tensor->ndim;
    LLVMValueRef got = load_field(f, a->tensor, FIELD_NDIM, m->t_i32);
    char what[200], dtype[TS_DTYPE_STR_MAX];
    snprintf(what, sizeof what, "has %%d dimensions, expected %d", ndim);
    if (!check_fmt(f, a, LLVMBuildICmp(f->b, LLVMIntNE, got, cg_i32(m, ndim), ""), what, 1, &got))
        return false;
    LLVMValueRef dt = field_ptr(f, a->tensor, FIELD_DTYPE);
    LLVMTypeRef dtype_type = LLVMStructGetTypeAtIndex(m->t_dltensor, FIELD_DTYPE);
    LLVMValueRef code = LLVMBuildLoad2(f->b, m->t_i8, LLVMBuildStructGEP2(f->b, dtype_type, dt, 0, ""), "");
    LLVMValueRef bits = LLVMBuildLoad2(f->b, m->t_i8, LLVMBuildStructGEP2(f->b, dtype_type, dt, 1, ""), "");
    LLVMValueRef lanes = LLVMBuildLoad2(f->b, m->t_i16, LLVMBuildStructGEP2(f->b, dtype_type, dt, 2, ""), "");
    LLVMValueRef bad = LLVMBuildOr(
        f->b, LLVMBuildICmp(f->b, LLVMIntNE, code, LLVMConstInt(m->t_i8, t.code, false), ""),
        LLVMBuildOr(f->b, LLVMBuildICmp(f->b, LLVMIntNE, bits, LLVMConstInt(m->t_i8, t.bits, false), ""),
                    LLVMBuildICmp(f->b, LLVMIntNE, lanes, LLVMConstInt(m->t_i16, 1, false), ""), ""),
        "");
    snprintf(what, sizeof what, "has dtype code %%d bits %%d lanes %%d, expected %s (code %d "
             "bits %d lanes 1)", ts_dtype_str(t, dtype), t.code, t.bits);
    LLVMValueRef values[] = { LLVMBuildZExt(f->b, code, m->t_i32, ""),
                              LLVMBuildZExt(f->b, bits, m->t_i32, ""),
                              LLVMBuildZExt(f->b, lanes, m->t_i32, "") };
    if (!check_fmt(f, a, bad, what, 3, values))
        return false;
    LLVMValueRef device = field_ptr(f, a->tensor, FIELD_DEVICE);
    LLVMValueRef type = LLVMBuildLoad2(f->b, m->t_i32, device, "device_type");
    snprintf(what, sizeof what, "is on device type %%d, expected the CPU (%d)", TS_DEVICE_CPU);
    return check_fmt(f, a, LLVMBuildICmp(f->b, LLVMIntNE, type, cg_i32(m, TS_DEVICE_CPU), ""),
                     what, 1, &type);
}

/* "[%lld, %lld]" for n dimensions. */
static void dims_format(int n, char *buf, size_t size)
{
    size_t used = (size_t)snprintf(buf, size, "[");
    for (int d = 0; d < n && used < size; d++)
        used += (size_t)snprintf(buf + used, size - used, "%s%%lld", d ? ", " : "");
    if (used < size)
        snprintf(buf + used, size - used, "]");
}

/* "[32, 16]" for the expected values. */
static void dims_text(int n, const int64_t *dims, char *buf, size_t size)
{
    size_t used = (size_t)snprintf(buf, size, "[");
    for (int d = 0; d < n && used < size; d++)
        used += (size_t)snprintf(buf + used, size - used, "%s%lld", d ? ", " : "",
                                 (long long)dims[d]);
    if (used < size)
        snprintf(buf + used, size - used, "]");
}

/* Shape, then strides (when not NULL): each dimension against what the kernel expects.
 * skip_unit: a dimension of extent 1 may hold anything (strides only). */
static bool check_dims(CgFunc *f, const Arg *a, int field, const int64_t *want,
                       const int64_t *extents, const char *what, bool may_be_null)
{
    CgModule *m = f->m;
    int ndim = a->buffer->tensor->ndim;
    LLVMValueRef dims = load_field(f, a->tensor, field, m->t_ptr);
    LLVMValueRef is_null = LLVMBuildIsNull(f->b, dims, "");
    LLVMBasicBlockRef check = cg_block(f, what), done = cg_block(f, "dims_ok");
    if (may_be_null) {
        LLVMBuildCondBr(f->b, is_null, done, check);
    } else {
        char message[300];
        snprintf(message, sizeof message, "argument %d (%s) has a NULL %s", a->index, a->name,
                 what);
        if (!cg_check(f, is_null, message))
            return false;
        LLVMBuildBr(f->b, check);
    }
    LLVMPositionBuilderAtEnd(f->b, check);
    LLVMValueRef got[TS_MAX_DIMS], bad = LLVMConstInt(m->t_i1, 0, false);
    for (int d = 0; d < ndim; d++) {
        LLVMValueRef index = cg_i64(m, d);
        got[d] = LLVMBuildLoad2(f->b, m->t_i64, LLVMBuildGEP2(f->b, m->t_i64, dims, &index, 1, ""),
                                "");
        if (extents && extents[d] == 1)
            continue;
        bad = LLVMBuildOr(f->b, bad, LLVMBuildICmp(f->b, LLVMIntNE, got[d], cg_i64(m, want[d]), ""),
                          "");
    }
    char have[200], expected[200], message[TS_ERROR_MESSAGE_MAX];
    dims_format(ndim, have, sizeof have);
    dims_text(ndim, want, expected, sizeof expected);
    snprintf(message, sizeof message, "has %s %s, expected %s%s", what, have,
             may_be_null ? "NULL or " : "", expected);
    if (may_be_null)
        strncat(message, " (dense row-major)", sizeof message - strlen(message) - 1);
    if (!check_fmt(f, a, bad, message, ndim, got))
        return false;
    LLVMBuildBr(f->b, done);
    LLVMPositionBuilderAtEnd(f->b, done);
    return true;
}

static bool check_shape_strides(CgFunc *f, const Arg *a)
{
    const TsTensor *t = a->buffer->tensor;
    int64_t shape[TS_MAX_DIMS], strides[TS_MAX_DIMS], stride = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        shape[d] = ts_tensor_dim(t, d);
        strides[d] = stride;
        stride *= shape[d];
    }
    if (t->ndim == 0)
        return true;
    return check_dims(f, a, FIELD_SHAPE, shape, NULL, "shape", false) &&
           check_dims(f, a, FIELD_STRIDES, strides, shape, "strides", true);
}

/* data not NULL, data + byte_offset aligned to one element; sets a->data, a->bytes. */
static bool check_data(CgFunc *f, Arg *a)
{
    CgModule *m = f->m;
    TsDType t = a->buffer->tensor->dtype;
    LLVMValueRef data = load_field(f, a->tensor, FIELD_DATA, m->t_ptr);
    char message[300];
    snprintf(message, sizeof message, "argument %d (%s) has NULL data", a->index, a->name);
    if (!cg_check(f, LLVMBuildIsNull(f->b, data, ""), message))
        return false;
    LLVMValueRef offset = load_field(f, a->tensor, FIELD_BYTE_OFFSET, m->t_i64);
    a->data = LLVMBuildGEP2(f->b, m->t_i8, data, &offset, 1, a->name);
    uint64_t element = ts_dtype_bytes(ts_dtype_with_lanes(t, 1));
    a->bytes = cg_i64(m, (int64_t)element * ts_tensor_num_elements(a->buffer->tensor));
    if (element == 1)
        return true;
    LLVMValueRef address = LLVMBuildPtrToInt(f->b, a->data, m->t_i64, "");
    LLVMValueRef misaligned = LLVMBuildICmp(
        f->b, LLVMIntNE, LLVMBuildAnd(f->b, address, cg_i64(m, (int64_t)element - 1), ""),
        cg_i64(m, 0), "");
    char what[100];
    snprintf(what, sizeof what, "has data + byte_offset %%p, not aligned to %llu bytes",
             (unsigned long long)element);
    return check_fmt(f, a, misaligned, what, 1, &a->data);
}

static bool check_argument(CgFunc *f, Arg *a, LLVMValueRef args, LLVMValueRef type_codes)
{
    CgModule *m = f->m;
    if (!check_type_code(f, a, type_codes))
        return false;
    LLVMValueRef index = cg_i64(m, a->index); /* TsValue is 8 bytes: v_handle at args[i] */
    a->tensor = LLVMBuildLoad2(f->b, m->t_ptr, LLVMBuildGEP2(f->b, m->t_i64, args, &index, 1, ""),
                               "");
    char message[300];
    snprintf(message, sizeof message, "argument %d (%s) is a NULL tensor", a->index, a->name);
    return cg_check(f, LLVMBuildIsNull(f->b, a->tensor, ""), message) &&
           check_ndim_dtype_device(f, a) && check_shape_strides(f, a) && check_data(f, a);
}

/* An argument the kernel writes must not share memory with another argument. */
static bool check_overlaps(CgFunc *f, const TsLoweredFunc *kernel, const Arg *args)
{
    CgModule *m = f->m;
    for (int i = 0; i < kernel->num_args; i++) {
        if (!cg_stmt_stores(kernel->body, kernel->args[i]))
            continue;
        for (int j = 0; j < kernel->num_args; j++) {
            if (j == i)
                continue;
            LLVMValueRef a0 = LLVMBuildPtrToInt(f->b, args[i].data, m->t_i64, "");
            LLVMValueRef b0 = LLVMBuildPtrToInt(f->b, args[j].data, m->t_i64, "");
            LLVMValueRef a1 = LLVMBuildAdd(f->b, a0, args[i].bytes, "");
            LLVMValueRef b1 = LLVMBuildAdd(f->b, b0, args[j].bytes, "");
            LLVMValueRef overlap = LLVMBuildAnd(f->b, LLVMBuildICmp(f->b, LLVMIntULT, a0, b1, ""),
                                                LLVMBuildICmp(f->b, LLVMIntULT, b0, a1, ""), "");
            char message[400];
            snprintf(message, sizeof message, "argument %d (%s) overlaps argument %d (%s); the "
                     "kernel writes %s, so it must not share memory with another argument", i,
                     args[i].name, j, args[j].name, args[i].name);
            if (!cg_check(f, overlap, message))
                return false;
        }
    }
    return true;
}

static bool fill_entry(CgFunc *f, const TsLoweredFunc *kernel, LLVMValueRef compute, Arg *args)
{
    CgModule *m = f->m;
    LLVMValueRef num_args = LLVMGetParam(f->fn, 2);
    char what[100];
    snprintf(what, sizeof what, "expected %d arguments, got %%d", kernel->num_args);
    LLVMValueRef bad = LLVMBuildICmp(f->b, LLVMIntNE, num_args, cg_i32(m, kernel->num_args), "");
    if (!cg_check_fmt(f, bad, what, 1, &num_args))
        return false;
    for (int i = 0; i < kernel->num_args; i++) {
        args[i] = (Arg){ .index = i, .buffer = kernel->args[i],
                         .name = kernel->args[i]->tensor->name };
        if (!check_argument(f, &args[i], LLVMGetParam(f->fn, 0), LLVMGetParam(f->fn, 1)))
            return false;
    }
    if (!check_overlaps(f, kernel, args))
        return false;
    LLVMValueRef *data = malloc(sizeof *data * (size_t)(kernel->num_args + 1));
    if (!data)
        return cg_fail(m, TS_ENOMEM, "%s: out of memory", kernel->name);
    for (int i = 0; i < kernel->num_args; i++)
        data[i] = args[i].data;
    LLVMValueRef rc = LLVMBuildCall2(f->b, LLVMGlobalGetValueType(compute), compute, data,
                                     (unsigned)kernel->num_args, "");
    free(data);
    LLVMBasicBlockRef next = cg_block(f, "computed");
    LLVMBuildCondBr(f->b, LLVMBuildICmp(f->b, LLVMIntNE, rc, cg_i32(m, 0), ""), f->error_block,
                    next);
    LLVMPositionBuilderAtEnd(f->b, next);
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
    Arg args[CG_MAX_ARGS];
    CgFunc f;
    cg_func_begin(m, &f, fn, kernel->name);
    bool ok = fill_entry(&f, kernel, compute, args) && cg_func_end(&f);
    cg_func_dispose(&f);
    if (!ok)
        return NULL;
    cg_set_function_attributes(m, fn, 0);
    return fn;
}
