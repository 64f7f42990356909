/* Target intrinsic calls: the INTRINSIC expression and the CALL statement of the
 * loop-nest IR become calls of the LLVM intrinsic they name, with their arguments (an
 * ADDRESS argument passes the element's pointer). This is where tensorized micro-kernels
 * meet the hardware (VNNI dot products, AMX tiles, NEON sdot).
 *
 * The name is checked against LLVM before any declaration is made, since LLVM's own
 * checks are assertions that a release build does not run:
 * - LLVMLookupIntrinsicID must know it;
 * - a plain intrinsic must be named exactly;
 * - an overloaded one names its overload types in LLVM's mangling after the base name
 *   ("llvm.ctpop.v16i32", "llvm.masked.store.v16i32.p0"), which are parsed here; the
 *   intrinsic's signature must depend on exactly the types named (two different fillers
 *   in place of the missing ones give one signature, in place of the last named one two),
 *   and the types must mangle back to the very name given;
 * - LLVM derives types from an overload type (its element type, wider elements) without
 *   checking that it is a vector; each named type is probed, with integer vectors only,
 *   for such uses, and must then be a vector (of integers for wider or narrower ones);
 * - a target-specific intrinsic ("llvm.x86.", "llvm.aarch64.") must be the target's;
 * then the argument count and every argument's type, and the result's, must be those of
 * the declaration. Any failure is TS_ECODEGEN naming the intrinsic. AMX tile intrinsics
 * are the exception: their operands are tiles (x86_amx), which no IR value is, so their
 * statements name tiles in memory and amx.c expands them.
 *
 * A bfloat16 argument (i16 bits in generated code) passes to a bfloat parameter as is.
 *
 * Not checked: whether the target CPU has the features the intrinsic needs (an AVX512-VNNI
 * intrinsic on a CPU without it makes LLVM's instruction selection abort); the caller
 * asks the target first. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg_internal.h"

enum { MAX_OVERLOAD_TYPES = 8 };

/* One mangled type: iN, f16, bf16, f32, f64, pN (a pointer in address space N), or
 * vN<type> for a fixed vector. NULL when the text is none of these. */
static LLVMTypeRef parse_type(CgModule *m, const char *text, size_t len)
{
    char buf[32];
    if (len == 0 || len >= sizeof buf)
        return NULL;
    memcpy(buf, text, len);
    buf[len] = '\0';
    char *end;
    if (buf[0] == 'v' && buf[1] >= '1' && buf[1] <= '9') {
        unsigned long lanes = strtoul(buf + 1, &end, 10);
        LLVMTypeRef elem = lanes <= 1024 ? parse_type(m, end, strlen(end)) : NULL;
        return elem && LLVMGetTypeKind(elem) != LLVMVectorTypeKind
                   ? LLVMVectorType(elem, (unsigned)lanes)
                   : NULL;
    }
    if (strcmp(buf, "f16") == 0)
        return m->t_half;
    if (strcmp(buf, "bf16") == 0)
        return LLVMBFloatTypeInContext(m->ctx);
    if (strcmp(buf, "f32") == 0)
        return m->t_f32;
    if (strcmp(buf, "f64") == 0)
        return m->t_f64;
    if ((buf[0] == 'i' || buf[0] == 'p') && buf[1] >= '0' && buf[1] <= '9') {
        unsigned long n = strtoul(buf + 1, &end, 10);
        if (*end || (buf[0] == 'i' && (n < 1 || n > 1024)) || (buf[0] == 'p' && n > 255))
            return NULL;
        return buf[0] == 'i' ? LLVMIntTypeInContext(m->ctx, (unsigned)n)
                             : LLVMPointerTypeInContext(m->ctx, (unsigned)n);
    }
    return NULL;
}

/* The overload types named after base in name; -1 after recording the error. */
static int parse_overload_types(CgFunc *f, const char *name, size_t base_len, LLVMTypeRef *types)
{
    int n = 0;
    const char *p = name + base_len;
    while (*p == '.') {
        const char *start = p + 1;
        size_t len = strcspn(start, ".");
        LLVMTypeRef t = n < MAX_OVERLOAD_TYPES ? parse_type(f->m, start, len) : NULL;
        if (!t) {
            cg_fail(f->m, TS_ECODEGEN,
                    "%s: intrinsic %s: cannot read the overload type "
                    "\"%.*s\" (iN, f32, f64, f16, bf16, pN, vN<type>; at most %d)",
                    f->kernel, name, (int)len, start, MAX_OVERLOAD_TYPES);
            return -1;
        }
        types[n++] = t;
        p = start + len;
    }
    return n;
}

static bool same_name(CgModule *m, unsigned id, LLVMTypeRef *types, int n, const char *name)
{
    size_t len;
    const char *canonical = LLVMIntrinsicCopyOverloadedName2(m->mod, id, types, (size_t)n, &len);
    bool same = canonical && len == strlen(name) && memcmp(canonical, name, len) == 0;
    free((void *)canonical);
    return same;
}

enum { PROBE_SLOTS = MAX_OVERLOAD_TYPES + 4, MAX_SIGNATURE = 24 };

/* The signature of the intrinsic on the given overload types (PROBE_SLOTS of them). */
static LLVMTypeRef signature(CgModule *m, unsigned id, LLVMTypeRef *types)
{
    return LLVMIntrinsicGetType(m->ctx, id, types, PROBE_SLOTS);
}

/* Fillers for overload types that are not named or are being probed: integer vectors,
 * on which every derived form LLVM applies to an overload type (element type, wider or
 * narrower elements, half or twice the lanes, same lane count) is defined. */
static void fill(LLVMTypeRef *types, const LLVMTypeRef *named, int n, LLVMTypeRef filler)
{
    for (int i = 0; i < PROBE_SLOTS; i++)
        types[i] = i < n ? named[i] : filler;
}

/* Whether the intrinsic's signature uses no overload type past the n named: two different
 * fillers for the rest give one signature. */
static bool enough_types(CgModule *m, unsigned id, const LLVMTypeRef *types, int n)
{
    LLVMTypeRef a[PROBE_SLOTS], b[PROBE_SLOTS];
    fill(a, types, n, LLVMVectorType(m->t_i32, 4));
    fill(b, types, n, LLVMVectorType(m->t_i16, 4));
    return signature(m, id, a) == signature(m, id, b);
}

/* How a signature type uses an overload slot that took filler f1 in one probe and f2 in
 * the other (t1, t2 the type at one place of the two signatures). */
typedef enum SlotUse {
    USE_NONE,         /* the same in both: independent of the slot */
    USE_AS_IS,        /* the slot's type itself */
    USE_DERIVED,      /* derived from it, same element width (element type, half lanes) */
    USE_DERIVED_WIDTH /* derived with other element widths (extended, truncated) */
} SlotUse;

static SlotUse slot_use(LLVMTypeRef t1, LLVMTypeRef t2, LLVMTypeRef f1, LLVMTypeRef f2)
{
    if (t1 == t2)
        return USE_NONE;
    if (t1 == f1 && t2 == f2)
        return USE_AS_IS;
    LLVMTypeKind kind = LLVMGetTypeKind(t1);
    if (kind == LLVMStructTypeKind && LLVMGetTypeKind(t2) == kind &&
        LLVMCountStructElementTypes(t1) == LLVMCountStructElementTypes(t2)) {
        SlotUse use = USE_NONE;
        for (unsigned i = 0; i < LLVMCountStructElementTypes(t1); i++) {
            SlotUse u =
                slot_use(LLVMStructGetTypeAtIndex(t1, i), LLVMStructGetTypeAtIndex(t2, i), f1, f2);
            use = u > use ? u : use;
        }
        return use;
    }
    LLVMTypeRef e1 = kind == LLVMVectorTypeKind ? LLVMGetElementType(t1) : t1;
    bool same_width = LLVMGetTypeKind(e1) == LLVMIntegerTypeKind && LLVMGetIntTypeWidth(e1) == 32;
    return same_width ? USE_DERIVED : USE_DERIVED_WIDTH;
}

/* How the intrinsic's signature uses overload slot k, probed with integer vectors only. */
static SlotUse probe_slot(CgModule *m, unsigned id, int k)
{
    LLVMTypeRef f1 = LLVMVectorType(m->t_i32, 4), f2 = LLVMVectorType(m->t_i16, 4);
    LLVMTypeRef a[PROBE_SLOTS], b[PROBE_SLOTS];
    fill(a, NULL, 0, f1);
    fill(b, NULL, 0, f1);
    b[k] = f2;
    LLVMTypeRef s1 = signature(m, id, a), s2 = signature(m, id, b);
    LLVMTypeRef p1[MAX_SIGNATURE], p2[MAX_SIGNATURE];
    unsigned n = LLVMCountParamTypes(s1);
    if (n + 1 > MAX_SIGNATURE)
        return USE_DERIVED_WIDTH;
    LLVMGetParamTypes(s1, p1);
    LLVMGetParamTypes(s2, p2);
    p1[n] = LLVMGetReturnType(s1);
    p2[n] = LLVMGetReturnType(s2);
    SlotUse use = USE_NONE;
    for (unsigned i = 0; i <= n; i++) {
        SlotUse u = slot_use(p1[i], p2[i], f1, f2);
        use = u > use ? u : use;
    }
    return use;
}

/* LLVM derives types from an overload type without checking it is a vector (or an
 * integer vector) when the derivation needs one; such a slot given a scalar would crash
 * inside LLVM, so it is refused here. */
static bool slots_ok(CgFunc *f, const char *name, unsigned id, const LLVMTypeRef *types, int n)
{
    for (int k = 0; k < n; k++) {
        SlotUse use = probe_slot(f->m, id, k);
        bool vector = LLVMGetTypeKind(types[k]) == LLVMVectorTypeKind;
        bool int_vector =
            vector && LLVMGetTypeKind(LLVMGetElementType(types[k])) == LLVMIntegerTypeKind;
        if ((use == USE_DERIVED && !vector) || (use == USE_DERIVED_WIDTH && !int_vector)) {
            char *text = LLVMPrintTypeToString(types[k]);
            cg_fail(f->m, TS_ECODEGEN,
                    "%s: intrinsic %s: overload type %d (%s) must be %s "
                    "vector type",
                    f->kernel, name, k, text, use == USE_DERIVED ? "a" : "an integer");
            LLVMDisposeMessage(text);
            return false;
        }
    }
    return true;
}

/* LLVM's target-specific intrinsic families ("llvm.<target>."); anything else is generic. */
static const char *const target_prefixes[] = {
    "aarch64", "amdgcn", "arm",   "bpf",  "dx",  "hexagon", "loongarch", "mips", "nvvm",
    "ppc",     "r600",   "riscv", "s390", "spv", "ve",      "wasm",      "x86",  "xcore",
};

/* A target-specific intrinsic must belong to the target's architecture: LLVM's
 * instruction selection aborts the process on one it cannot select. */
static bool for_this_target(CgFunc *f, const char *name)
{
    const char *family = name + 5; /* after "llvm." */
    const char *own = f->m->target->arch == CG_ARCH_X86_64 ? "x86" : "aarch64";
    for (size_t i = 0; i < sizeof target_prefixes / sizeof *target_prefixes; i++) {
        size_t len = strlen(target_prefixes[i]);
        if (strncmp(family, target_prefixes[i], len) == 0 && family[len] == '.' &&
            strcmp(target_prefixes[i], own) != 0)
            return cg_fail(f->m, TS_ECODEGEN, "%s: intrinsic %s is for %s targets, not for %s",
                           f->kernel, name, target_prefixes[i], f->m->target->text);
    }
    return true;
}

/* The declaration of the intrinsic name, checked as the file's comment says. */
static bool declare(CgFunc *f, const char *name, CgCallee *callee)
{
    CgModule *m = f->m;
    unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
    if (id == 0)
        return cg_fail(m, TS_ECODEGEN, "%s: LLVM has no intrinsic %s", f->kernel, name);
    if (!for_this_target(f, name))
        return false;
    size_t base_len;
    const char *base = LLVMIntrinsicCopyOverloadedName2(m->mod, id, NULL, 0, &base_len);
    bool prefix = base && strncmp(name, base, base_len) == 0;
    free((void *)base);
    LLVMTypeRef types[MAX_OVERLOAD_TYPES];
    int n = 0;
    if (!LLVMIntrinsicIsOverloaded(id)) {
        if (!prefix || name[base_len] != '\0')
            return cg_fail(m, TS_ECODEGEN,
                           "%s: LLVM has no intrinsic %s (%.*s is not "
                           "overloaded)",
                           f->kernel, name, (int)base_len, name);
    } else {
        n = prefix ? parse_overload_types(f, name, base_len, types) : -1;
        if (n < 0)
            return prefix
                       ? false
                       : cg_fail(m, TS_ECODEGEN, "%s: LLVM has no intrinsic %s", f->kernel, name);
        if (n > 0 && !slots_ok(f, name, id, types, n))
            return false;
        if (n == 0 || !enough_types(m, id, types, n))
            return cg_fail(m, TS_ECODEGEN,
                           "%s: intrinsic %s is overloaded and its name gives "
                           "too few overload types (append them in LLVM's mangling, e.g. "
                           "%.*s.v16i32)",
                           f->kernel, name, (int)base_len, name);
        if (enough_types(m, id, types, n - 1) || !same_name(m, id, types, n, name))
            return cg_fail(m, TS_ECODEGEN,
                           "%s: intrinsic %s: its overload types do not mangle "
                           "back to its name (too many types, or not in LLVM's spelling)",
                           f->kernel, name);
    }
    callee->fn = LLVMGetIntrinsicDeclaration(m->mod, id, types, (size_t)n);
    callee->type = LLVMIntrinsicGetType(m->ctx, id, types, (size_t)n);
    return true;
}

static bool type_mismatch(CgFunc *f, const char *name, const char *what, LLVMTypeRef got,
                          LLVMTypeRef want)
{
    char *g = LLVMPrintTypeToString(got), *w = LLVMPrintTypeToString(want);
    cg_fail(f->m, TS_ECODEGEN, "%s: intrinsic %s: %s is %s, the intrinsic takes %s", f->kernel,
            name, what, g, w);
    LLVMDisposeMessage(g);
    LLVMDisposeMessage(w);
    return false;
}

LLVMValueRef cg_address(CgFunc *f, const TsExpr *e)
{
    const TeBuffer *buffer = e->u.load.buffer;
    LLVMValueRef base = cg_lookup_buf(f, buffer, "address of");
    LLVMValueRef index = base ? cg_flat_index(f, buffer, e->u.load.num_indices, e->u.load.indices,
                                              e->u.load.flat, NULL)
                              : NULL;
    return index ? cg_element_ptr(f, buffer, base, index) : NULL;
}

/* An argument: an address is the element's pointer, anything else its value. A bfloat16
 * value, held as its i16 bits in generated code, goes to a parameter of LLVM's bfloat
 * type (vdpbf16ps's operands) as the same bits. */
static LLVMValueRef argument(CgFunc *f, const TsExpr *e, LLVMTypeRef param)
{
    if (e->kind == TE_ADDRESS)
        return cg_address(f, e);
    LLVMValueRef v = cg_expr(f, e, NULL);
    LLVMTypeRef elem = LLVMGetTypeKind(param) == LLVMVectorTypeKind ? LLVMGetElementType(param)
                                                                    : param;
    if (v && ts_dtype_is_bfloat(e->dtype) && LLVMGetTypeKind(elem) == LLVMBFloatTypeKind &&
        LLVMGetTypeKind(param) == LLVMGetTypeKind(LLVMTypeOf(v)) &&
        (LLVMGetTypeKind(param) != LLVMVectorTypeKind ||
         LLVMGetVectorSize(param) == (unsigned)e->dtype.lanes))
        return LLVMBuildBitCast(f->b, v, param, "");
    return v;
}

LLVMValueRef cg_intrinsic_call(CgFunc *f, const char *name, int num_args, TsExpr *const *args,
                               const TsExpr *result)
{
    if (cg_dot_block_is(name)) /* register-blocked dot products (dot_block.c) */
        return cg_dot_block_call(f, name, num_args, args, result) ? LLVMGetUndef(f->m->t_i32)
                                                                  : NULL;
    if (cg_amx_is_tile_intrinsic(name)) /* tiles live in memory in the IR (amx.c) */
        return cg_amx_call(f, name, num_args, args, result) ? LLVMGetUndef(f->m->t_i32) : NULL;
    CgCallee callee = { 0 };
    if (!declare(f, name, &callee))
        return NULL;
    unsigned want = LLVMCountParamTypes(callee.type);
    if ((unsigned)num_args != want) {
        cg_fail(f->m, TS_ECODEGEN, "%s: intrinsic %s takes %u arguments, the call gives %d",
                f->kernel, name, want, num_args);
        return NULL;
    }
    LLVMTypeRef params[TE_MAX_INTRINSIC_ARGS];
    LLVMValueRef values[TE_MAX_INTRINSIC_ARGS];
    LLVMGetParamTypes(callee.type, params);
    LLVMTypeRef ret = LLVMGetReturnType(callee.type);
    if (result && ret != cg_type(f->m, result->dtype)) {
        type_mismatch(f, name, "the call's result", cg_type(f->m, result->dtype), ret);
        return NULL;
    }
    for (int i = 0; i < num_args; i++) {
        if (!(values[i] = argument(f, args[i], params[i])))
            return NULL;
        if (LLVMTypeOf(values[i]) != params[i]) {
            char what[48];
            snprintf(what, sizeof what, "argument %d", i);
            type_mismatch(f, name, what, LLVMTypeOf(values[i]), params[i]);
            return NULL;
        }
    }
    return LLVMBuildCall2(f->b, callee.type, callee.fn, values, (unsigned)num_args, "");
}
