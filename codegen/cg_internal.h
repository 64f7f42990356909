/* What the files of codegen/ share: the target record, the state of one LLVM module
 * being built (types, runtime declarations, the error), and the state of one LLVM
 * function being filled (its builder, the variables and buffers in scope, the blocks
 * every function has). Only codegen/ includes this header; it is the one place where
 * LLVM's C API meets Tessera's loop-nest IR.
 *
 * The path of a kernel through these files:
 *   target.c      target strings -> TsTarget -> an LLVM TargetMachine
 *   module.c      lowered functions -> one LLVM module (kernels, module table), verified
 *                 and optimized; object code in memory or in a file
 *   entry.c       the packed entry of a kernel
 *   argcheck.c    the argument checker every entry calls
 *   llvm_stmt.c   the loop nest (statements) of a kernel's compute function
 *   llvm_expr.c   expressions, scalar and vector
 *   intrinsic.c   target intrinsic calls, checked against LLVM's declarations
 *   amx.c         AMX tiles (x86_amx and the shape-carrying tile intrinsics)
 *   dot_block.c   register-blocked VNNI and NEON dot products (accumulators in registers)
 *   outline.c     pieces of a loop nest moved into functions of their own
 *   parallel.c    parallel loops outlined into thread-pool tasks
 *   llvm_util.c   types, intrinsics, runtime checks, function frames, scopes
 *   walk.c        questions about the IR (buffers a statement uses, vector widths)
 *   jit.c         the object code linked into this process (ORC LLJIT)
 *   shared.c      object files and shared objects on disk
 *   dump.c        TS_DUMP=llvm,asm
 */
#ifndef TESSERA_CG_INTERNAL_H
#define TESSERA_CG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <llvm-c/Core.h>
#include <llvm-c/TargetMachine.h>

#include "tessera/codegen.h"
#include "te/te_internal.h"

/* Most arguments a kernel may have (the packed ABI has no limit; this bounds arrays). */
enum { CG_MAX_ARGS = 256 };

/* ---- targets (target.c) ---- */

typedef enum CgArch { CG_ARCH_X86_64, CG_ARCH_AARCH64 } CgArch;

struct TsTarget {
    char *text;     /* the canonical string */
    char *triple;   /* normalized, e.g. "x86_64-pc-linux-gnu" */
    char *cpu;      /* e.g. "sapphirerapids", "generic" */
    char *features; /* "+avx2,-avx512f", may be empty: what LLVM is given */
    char *feature_set; /* every feature the target has, ",avx,avx2,fma," (target.c) */
    CgArch arch;
    bool is_host;   /* the triple is this process's architecture and OS */
    bool fast_math;
    int opt_level;  /* 0 .. 3 */
};

/* Initializes LLVM's targets once per process (thread-safe). */
void cg_llvm_init(void);
/* A target machine for the target: position-independent code, the target's CPU and
 * features, its optimization level. NULL with err filled when LLVM refuses. */
LLVMTargetMachineRef cg_target_machine(const TsTarget *target, TsError *err);

/* ---- one module being built (module.c, llvm_util.c) ---- */

/* A function LLVM can call: its type and its declaration or definition. */
typedef struct CgCallee {
    LLVMTypeRef type;
    LLVMValueRef fn;
} CgCallee;

typedef struct CgModule {
    const TsTarget *target;
    LLVMContextRef ctx;
    LLVMModuleRef mod;
    LLVMTargetMachineRef tm;
    TsArena *scratch; /* text of expressions for messages */
    TsError *err;
    TsStatus status;  /* TS_OK until the first failure, which err describes */
    LLVMTypeRef t_void, t_i1, t_i8, t_i16, t_i32, t_i64, t_ptr, t_half, t_f32, t_f64;
    LLVMTypeRef t_dltensor; /* TsDLTensor */
    CgCallee set_error;       /* void ts_runtime_set_error(const char *) */
    CgCallee parallel_launch; /* int32_t ts_parallel_launch(TsParallelTask, void *, int32_t) */
    CgCallee num_threads;     /* int32_t ts_parallel_num_threads(void) */
    CgCallee amx_enter;       /* int32_t ts_runtime_amx_enter(const char *, const char *) */
    CgCallee snprintf_fn, malloc_fn, free_fn; /* malloc_fn is aligned_alloc */
    LLVMTypeRef t_arg_desc, t_kernel_desc; /* descriptors for the argument checker */
    CgCallee check_args;      /* the module's ts_check_args, once built */
    int num_outlined;         /* functions outlined so far, for their names */
    int vector_bits;          /* the widest vector of the kernel being generated */
    unsigned amx_features;    /* CG_AMX_* the kernel being generated uses (amx.c) */
} CgModule;

/* Creates the context, the module and the declarations for the target. */
TsStatus cg_module_init(CgModule *m, const TsTarget *target, const char *name, TsError *err);
void cg_module_dispose(CgModule *m);
/* Records the first failure of the build (later ones are consequences); returns false. */
bool cg_fail(CgModule *m, TsStatus status, const char *fmt, ...) TS_PRINTF_LIKE(3, 4);
/* Text of an expression for messages, cut to max characters. */
const char *cg_expr_text(CgModule *m, const TsExpr *e, int max);

/* ---- one function being filled (llvm_util.c) ---- */

typedef struct CgVar {
    const TsExpr *var;
    LLVMValueRef value;
} CgVar;

typedef struct CgBuf {
    const TeBuffer *buffer;
    LLVMValueRef ptr;
} CgBuf;

/* Every generated function returns i32: 0, or -1 after ts_runtime_set_error. Its
 * blocks: "entry" holds the static allocas, "setup" the heap allocations of large local
 * buffers (both hoisted there from wherever the IR allocates), then the body; "error"
 * frees the heap buffers and returns -1. */
typedef struct CgFunc {
    CgModule *m;
    const char *kernel; /* the kernel's name, first word of every message */
    LLVMValueRef fn;
    LLVMBuilderRef b;
    LLVMBasicBlockRef entry_block, setup_block, error_block;
    LLVMValueRef setup_failed; /* i1: some heap allocation of setup returned NULL */
    CgVar *vars;
    int num_vars, cap_vars;
    CgBuf *bufs;
    int num_bufs, cap_bufs;
    TeRange *ranges; /* constant bounds of the loop and let variables in scope */
    int num_ranges, cap_ranges;
    uint64_t stack_bytes;     /* local buffers on the stack so far */
    LLVMValueRef *heap_slots; /* allocas holding the heap buffers to free */
    int num_heap, cap_heap;
    LLVMValueRef message_buf; /* [TS_ERROR_MESSAGE_MAX x i8] for formatted messages */
} CgFunc;

/* Adds the function's blocks and leaves the builder at the start of its body. */
bool cg_func_begin(CgModule *m, CgFunc *f, LLVMValueRef fn, const char *kernel);
/* Returns 0 from the current block and closes the entry, setup and error blocks. */
bool cg_func_end(CgFunc *f);
void cg_func_dispose(CgFunc *f);

bool cg_push_var(CgFunc *f, const TsExpr *var, LLVMValueRef value);
void cg_pop_var(CgFunc *f);
LLVMValueRef cg_lookup_var(CgFunc *f, const TsExpr *var);
/* Bounds of an integer variable, for proving that arithmetic does not wrap. */
bool cg_push_range(CgFunc *f, const TsExpr *var, int64_t min, int64_t max);
void cg_pop_range(CgFunc *f);
/* Whether the integer expression e provably never wraps (te_const_bounds with the
 * ranges in scope): then its add, sub and mul may carry nsw / nuw. */
bool cg_no_wrap(CgFunc *f, const TsExpr *e);
bool cg_push_buf(CgFunc *f, const TeBuffer *buffer, LLVMValueRef ptr);
void cg_pop_buf(CgFunc *f);
LLVMValueRef cg_lookup_buf(CgFunc *f, const TeBuffer *buffer, const char *access);

/* Storage for a local buffer of bytes bytes, aligned to 64: a static alloca in the
 * entry block while the function's local buffers fit 32 KiB of stack, else memory from
 * aligned_alloc in the setup block, freed on every return. NULL on failure. */
LLVMValueRef cg_local_storage(CgFunc *f, const TeBuffer *buffer, uint64_t bytes);

/* When fail (i1, or a vector of i1: any lane) holds at run time: ts_runtime_set_error
 * with "<kernel>: <message>" and return -1. The builder continues on the passing path. */
bool cg_check(CgFunc *f, LLVMValueRef fail, const char *message);
/* Branch weights for a conditional branch: taken (the true edge) is rare or likely. */
void cg_set_branch_weights(CgModule *m, LLVMValueRef br, uint32_t if_true, uint32_t if_false);

/* ---- types and helpers (llvm_util.c) ---- */

/* The register type of a dtype: iN, i1 for bool, half/float/double, i16 for bfloat16
 * (its bits: LLVM 16's x86 backend does not lower every operation on `bfloat`, and its
 * AVX512-BF16 and AMX intrinsics take bf16 operands as i16 or i32 vectors), a vector of
 * those when lanes > 1. */
LLVMTypeRef cg_type(CgModule *m, TsDType t);
/* The in-memory type of one element of a buffer of dtype t (bool is i8). */
LLVMTypeRef cg_mem_type(CgModule *m, TsDType t);
/* A call to the overloaded intrinsic name (e.g. "llvm.smin") on the given types. */
LLVMValueRef cg_intrinsic(CgFunc *f, const char *name, int num_types, LLVMTypeRef *types,
                          int num_args, LLVMValueRef *args);
/* A scalar splatted to lanes lanes. */
LLVMValueRef cg_splat(CgFunc *f, LLVMValueRef scalar, int lanes);
/* An i1 that is true when any lane of a vector of i1 is (a scalar i1 is itself). */
LLVMValueRef cg_any_lane(CgFunc *f, LLVMValueRef cond);
LLVMValueRef cg_call(CgFunc *f, CgCallee callee, int num_args, LLVMValueRef *args);
LLVMValueRef cg_i32(CgModule *m, int64_t value);
LLVMValueRef cg_i64(CgModule *m, int64_t value);
/* A new block at the end of the current function. */
LLVMBasicBlockRef cg_block(CgFunc *f, const char *name);

/* ---- expressions and statements (llvm_expr.c, llvm_stmt.c, parallel.c) ---- */

/* The value of e. mask is NULL, or a vector of i1 of e's lanes: lanes whose bit is
 * clear are not evaluated (if_then_else is lazy per lane), so they read no memory and
 * fail no check. NULL on failure (m->status). */
LLVMValueRef cg_expr(CgFunc *f, const TsExpr *e, LLVMValueRef mask);
/* e as an operand under a vector mask: as cg_expr, except that a scalar e that may fail
 * is evaluated only when some lane of mask is active (0 otherwise). */
LLVMValueRef cg_expr_masked(CgFunc *f, const TsExpr *e, LLVMValueRef mask);
/* The address of element `index` (i32 scalar) of a buffer, or a vector of addresses
 * for a vector index. */
LLVMValueRef cg_element_ptr(CgFunc *f, const TeBuffer *buffer, LLVMValueRef base,
                            LLVMValueRef index);
/* The flat element index of an access (i32, scalar or vector); mask as for cg_expr. */
LLVMValueRef cg_flat_index(CgFunc *f, const TeBuffer *buffer, int num_indices,
                           TsExpr *const *indices, bool flat, LLVMValueRef mask);

bool cg_stmt(CgFunc *f, const TeStmt *s);

/* ---- target intrinsics (intrinsic.c) ---- */

/* A call of the LLVM intrinsic name on args (an ADDRESS argument is passed as the
 * element's pointer), checked against LLVM's declaration; result, when not NULL, is the
 * expression whose dtype the call must return. NULL on failure (TS_ECODEGEN naming the
 * intrinsic). */
LLVMValueRef cg_intrinsic_call(CgFunc *f, const char *name, int num_args, TsExpr *const *args,
                               const TsExpr *result);
/* The pointer to the element an ADDRESS expression names. */
LLVMValueRef cg_address(CgFunc *f, const TsExpr *e);
/* Emits a serial loop binding var to min + k for k in [begin, end) around the body that
 * emit_body fills. range, when not NULL, bounds var over the whole loop (constant min
 * and extent): then min + k cannot wrap, and arithmetic on var may be proved not to. */
typedef bool (*CgLoopBody)(CgFunc *f, void *ctx);
bool cg_serial_loop(CgFunc *f, const TsExpr *var, LLVMValueRef min, LLVMValueRef begin,
                    LLVMValueRef end, const TeRange *range, CgLoopBody emit_body, void *ctx);
/* The range of a loop with constant min and extent (>= 1), in *range; false otherwise. */
bool cg_loop_range(const TeStmt *loop, TeRange *range);
/* A parallel loop: outlined into a task run by ts_parallel_launch (parallel.c). */
bool cg_parallel_for(CgFunc *f, const TeStmt *loop);
/* A sequence: inline, or cut into outlined parts when it holds many loops (outline.c). */
bool cg_sequence(CgFunc *f, const TeStmt *s);

/* ---- outlining (outline.c) ---- */

/* A variable or buffer of the enclosing scope passed to an outlined function. */
typedef struct CgCapture {
    const TsExpr *var;      /* or NULL for a buffer */
    const TeBuffer *buffer; /* or NULL for a variable */
    LLVMValueRef value;     /* its value (or pointer) in the enclosing function */
} CgCapture;

typedef struct CgOutlined {
    CgCapture *captures; /* owned */
    int num_captures;
    int num_leading;     /* parameters before the captures */
    LLVMTypeRef fn_type;
    LLVMValueRef fn;
} CgOutlined;

/* Fills the outlined function g (captures bound, the enclosing ranges known). */
typedef bool (*CgOutlineBody)(CgFunc *g, void *ctx);
/* An internal function prefix.<kernel>.<n>(leading..., captures...) returning 0 or -1,
 * whose captures are what the statements use of f's scope and whose body emit fills.
 * Free out with cg_outlined_free. */
bool cg_outline(CgFunc *f, int num_stmts, const TeStmt *const *stmts, const char *prefix,
                int num_leading, const LLVMTypeRef *leading, CgOutlineBody emit, void *ctx,
                CgOutlined *out);
void cg_outlined_free(CgOutlined *o);

/* ---- AMX tiles (amx.c) ---- */

/* The features a kernel's tiles use, in CgModule.amx_features. */
enum { CG_AMX_TILE = 1u, CG_AMX_INT8 = 2u, CG_AMX_BF16 = 4u };

/* The tile products: u8.s8 -> s32, s8.s8 -> s32, bf16.bf16 -> f32. */
typedef enum CgAmxProduct { CG_AMX_TDPBUSD, CG_AMX_TDPBSSD, CG_AMX_TDPBF16PS } CgAmxProduct;

/* "tdpbusd", ... */
const char *cg_amx_product_name(CgAmxProduct product);
/* Elements of A per 4-byte group, the rows of B's VNNI layout: 4 for int8, 2 for bf16. */
int cg_amx_group(CgAmxProduct product);
/* Whether the target has amx-tile and the product's feature; else the first missing one
 * in *missing (when not NULL). */
bool cg_amx_target_supports(const TsTarget *target, CgAmxProduct product, const char **missing);
/* cg_amx_target_supports, else TS_ECODEGEN naming the kernel, the product, the target and
 * the missing feature; on success records the feature in m->amx_features. */
bool cg_amx_require(CgFunc *f, CgAmxProduct product);
/* "amx-int8", "amx-bf16", "amx-int8, amx-bf16" for CG_AMX_* bits; "amx-tile" for tiles
 * alone. */
const char *cg_amx_features_text(unsigned features);
/* Tiles of rows (<= 16) rows of row_bytes (<= 64) bytes; stride is the i64 byte distance
 * between rows in memory. Each checks that the target has amx-tile and records it in
 * m->amx_features. NULL / false on failure (m->status). */
LLVMValueRef cg_amx_tile_zero(CgFunc *f, int rows, int row_bytes);
LLVMValueRef cg_amx_tile_load(CgFunc *f, int rows, int row_bytes, LLVMValueRef ptr,
                              LLVMValueRef stride);
bool cg_amx_tile_store(CgFunc *f, int rows, int row_bytes, LLVMValueRef ptr,
                       LLVMValueRef stride, LLVMValueRef tile);
/* c + a . b for a rows x depth tile a, b in the VNNI layout (depth / group rows of
 * cols * group elements) and a rows x cols tile c of 4-byte elements; checks the target
 * first (cg_amx_require). */
LLVMValueRef cg_amx_tile_product(CgFunc *f, CgAmxProduct product, int rows, int cols,
                                 int depth, LLVMValueRef c, LLVMValueRef a, LLVMValueRef b);

/* A tile GEMM: C (rows x cols) = or += the sum over steps k of A_k . B_k, where A_k
 * starts a_step bytes after A_(k-1) and B_k b_step bytes after B_(k-1); the accumulator
 * stays in a tile register for the whole loop. Strides and steps are i64 byte counts.
 * With outer levels (a convolution's kernel rows and input channel blocks), the steps
 * are a nest: levels[0] repeats the steps levels[0].steps times, a_step and b_step bytes
 * further each time, and levels[1] repeats that; a level of one step (or NULL steps)
 * adds nothing. The nest is still one loop around one accumulator.
 * With blocks, C is a block of blocks[0].count x blocks[1].count tiles (at most 4, and
 * with their A and B tiles at most the 8 tile registers): row block r's C and A tiles
 * are r c_step and r ab_step bytes after the first ones (blocks[0]), column block s's C
 * and B tiles s c_step and s ab_step bytes after (blocks[1]); each step loads each A
 * and B tile once for all the products that use it. A count of 0 or 1 (NULL steps) is
 * one block. */
typedef struct CgAmxGemm {
    CgAmxProduct product;
    int rows, cols, depth; /* M <= 16, N <= 16, the K of one step (64 bytes of A at most) */
    int64_t steps;         /* >= 1 */
    bool accumulate;       /* load C first (else start from zero) */
    LLVMValueRef c, a, b;
    LLVMValueRef c_stride, a_stride, b_stride, a_step, b_step;
    struct {
        int64_t steps; /* 0 or 1: no level */
        LLVMValueRef a_step, b_step;
    } levels[2];
    struct {
        int count; /* 0 or 1: one block */
        LLVMValueRef c_step, ab_step;
    } blocks[2];
} CgAmxGemm;
bool cg_amx_gemm(CgFunc *f, const CgAmxGemm *g);

/* Whether name is one of LLVM's AMX tile intrinsics, which intrinsic calls reach only
 * through cg_amx_call. */
bool cg_amx_is_tile_intrinsic(const char *name);
/* A CALL statement of a tile intrinsic, its tiles in memory (see amx.c); result must be
 * NULL (a tile is no expression's value). */
bool cg_amx_call(CgFunc *f, const char *name, int num_args, TsExpr *const *args,
                 const TsExpr *result);

/* In a kernel's entry, before the compute function: ts_runtime_amx_enter(kernel,
 * features text); on refusal, return -1 (the runtime has set the message). */
bool cg_amx_entry_check(CgFunc *f, unsigned features);

/* ---- register-blocked dot products (dot_block.c) ---- */

/* Whether name is a "tessera.dot_block." statement, which intrinsic calls reach only
 * through cg_dot_block_call. */
bool cg_dot_block_is(const char *name);
/* The CALL statement of a register-blocked dot product (see dot_block.c); result must be
 * NULL. */
bool cg_dot_block_call(CgFunc *f, const char *name, int num_args, TsExpr *const *args,
                       const TsExpr *result);

/* ---- the argument checker (argcheck.c) ---- */

/* A kernel's descriptor for the checker: {const char *name; int32_t num_args;
 * const ArgDesc *args}, where ArgDesc has these fields. */
enum {
    CG_ARG_NAME,          /* ptr: the tensor's name */
    CG_ARG_DTYPE_TEXT,    /* ptr: "float32 (code 2 bits 32 lanes 1)" */
    CG_ARG_SHAPE,         /* ptr: int64_t[ndim] */
    CG_ARG_STRIDES,       /* ptr: int64_t[ndim], dense row-major */
    CG_ARG_SHAPE_TEXT,    /* ptr: "[32, 16]" */
    CG_ARG_STRIDES_TEXT,  /* ptr: "[16, 1]" */
    CG_ARG_BYTES,         /* i64: the tensor's size in bytes */
    CG_ARG_NDIM,          /* i32 */
    CG_ARG_CODE,          /* i32: dtype code */
    CG_ARG_BITS,          /* i32: dtype bits */
    CG_ARG_ELEMENT_BYTES, /* i32: the alignment data must have */
    CG_ARG_WRITTEN,       /* i32: 1 when the kernel stores to it */
    CG_ARG_DESC_FIELDS
};
/* Creates the descriptor types (module init). */
void cg_argcheck_types(CgModule *m);
/* int32_t ts_check_args(const KernelDesc *, const TsValue *args, const int32_t *codes,
 * int32_t num_args, void **data): built on first use, once per module. */
CgCallee cg_argcheck_function(CgModule *m);

/* ---- kernels (entry.c, module.c) ---- */

/* The internal function computing kernel's loop nest on its argument pointers. */
LLVMValueRef cg_compute_function(CgModule *m, const TsLoweredFunc *kernel);
/* A replacement for cg_compute_function in this thread's builds, or NULL (the default):
 * a seam for tests that hand-write a compute function (through the functions above)
 * behind a real kernel's entry, argument checks and module table. */
typedef LLVMValueRef (*CgComputeBuilder)(CgModule *m, const TsLoweredFunc *kernel);
extern _Thread_local CgComputeBuilder cg_compute_builder;
/* The packed entry of a kernel: checks its arguments, then calls compute. */
LLVMValueRef cg_entry_function(CgModule *m, const TsLoweredFunc *kernel, LLVMValueRef compute);
/* Sets target-cpu, target-features, the vector width the kernel asks for and the
 * fast-math attributes on fn. */
void cg_set_function_attributes(CgModule *m, LLVMValueRef fn, int vector_bits);

/* ---- questions about the IR (walk.c) ---- */

/* The widest vector (lanes * bits of one lane) any expression of s computes, 0 when s
 * is scalar code. */
int cg_widest_vector_bits(const TeStmt *s);
/* The number of loops in s. */
int cg_count_loops(const TeStmt *s);
/* Whether s stores to buffer / loads or stores it. */
bool cg_stmt_stores(const TeStmt *s, const TeBuffer *buffer);
bool cg_stmt_uses_buffer(const TeStmt *s, const TeBuffer *buffer);
/* The value of an integer constant, or of a broadcast of one. */
bool cg_const_operand(const TsExpr *e, int64_t *value);
/* Whether e can fail at run time or reads memory (a load, an integer division, a shift
 * by a non-constant). */
bool cg_expr_may_fail(const TsExpr *e);

/* ---- vector math (vmath.c) ---- */

/* True when cg_vmath computes fn on values of dtype t (float32 vectors of exp, log,
 * tanh, sigmoid); other math goes through LLVM intrinsics or the C library. */
bool cg_vmath_applies(TeCallKind fn, TsDType t);
LLVMValueRef cg_vmath(CgFunc *f, TeCallKind fn, LLVMValueRef x, int lanes);

/* ---- object code (module.c), JIT (jit.c), files (shared.c), dumps (dump.c) ---- */

/* Builds, verifies and optimizes the module of the kernels and their table (with the
 * model's blobs when model is not NULL), and emits
 * its object code into *object (LLVMDisposeMemoryBuffer it). */
TsStatus cg_build_object_code(int num_funcs, const TsLoweredFunc *const *funcs,
                              const TsModelBlobs *model, const TsTarget *target,
                              LLVMMemoryBufferRef *object, TsError *err);
/* Prints the module's IR to stderr when TS_DUMP names "llvm" (optimized) or "llvm_raw"
 * (as generated, before the verifier and the optimizer). */
void cg_dump_module(CgModule *m, bool optimized);
/* Prints the module's assembly to stderr when TS_DUMP names "asm". */
void cg_dump_asm(CgModule *m);

#endif /* TESSERA_CG_INTERNAL_H */
