/* The layout of tensor-expression IR nodes, shared by the files of te/ and by the
 * modules that build on the IR (schedule, codegen). Nodes are immutable once built. */
#ifndef TESSERA_TE_INTERNAL_H
#define TESSERA_TE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tessera/te.h"

/* For tests of out-of-memory paths: once bytes more have been handed out, allocations in
 * arena fail as if memory were exhausted (TS_ENOMEM recorded), until the next call;
 * SIZE_MAX lifts the limit. */
void te_arena_fail_after(TsArena *arena, size_t bytes);

typedef enum TeExprKind {
#define X(kind, name) TE_##kind,
#include "expr_kinds.def"
#undef X
    TE_NUM_EXPR_KINDS
} TeExprKind;

typedef enum TeCallKind {
#define X(kind, name, arity) TE_CALL_##kind,
#include "call_kinds.def"
#undef X
    TE_NUM_CALL_KINDS
} TeCallKind;

typedef enum TeReducerKind {
    TE_REDUCER_SUM,
    TE_REDUCER_PROD,
    TE_REDUCER_MAX,
    TE_REDUCER_MIN,
    TE_REDUCER_CUSTOM
} TeReducerKind;

struct TsReducer {
    TeReducerKind kind;
    const char *name;
    TsDType dtype;     /* CUSTOM only: the dtype of lhs, rhs, combined, identity */
    TsExpr *lhs;       /* CUSTOM only */
    TsExpr *rhs;       /* CUSTOM only */
    TsExpr *combined;  /* CUSTOM only */
    TsExpr *identity;  /* CUSTOM only */
};

struct TsAxis {
    const char *name;
    TsExpr *var;    /* the int32 VAR node naming this axis */
    TsExpr *extent; /* int32 constant today; an expression once shapes are symbolic */
    bool is_reduce;
    const TsTensor *owner; /* data-parallel axes: the compute op they index, once built */
};

typedef struct TeBuffer TeBuffer;

struct TsExpr {
    TeExprKind kind;
    TsDType dtype;
    union {
        /* INT: the value, sign-extended from a signed dtype or zero-extended from an
         * unsigned one, so that (uint64_t)int_value is the unsigned value. */
        int64_t int_value;
        double float_value; /* FLOAT: already rounded to the dtype */
        struct {
            const char *name;
            const TsAxis *axis; /* the axis this variable belongs to, or NULL */
        } var;
        struct {
            TsExpr *a, *b; /* b is NULL for unary kinds */
        } op;
        struct {
            TsExpr *cond, *then_value, *else_value;
        } select; /* SELECT and IF_THEN_ELSE */
        struct {
            TsExpr *value;
        } cast; /* CAST, and REINTERPRET (the same bits read as another dtype) */
        struct {
            TeCallKind fn;
            TsExpr *args[2];
        } call;
        struct {
            const char *name; /* the LLVM intrinsic, e.g. "llvm.ctpop.v16i32" */
            int num_args;
            TsExpr **args;
        } intrinsic; /* INTRINSIC: opaque to every pass, evaluated by codegen alone */
        struct {
            TsTensor *tensor;
            int num_indices;
            TsExpr **indices;
        } access;
        struct {
            const TsReducer *reducer;
            TsExpr *source;
            int num_axes;
            TsAxis **axes;
            TsExpr *cond; /* NULL: always */
        } reduce;
        struct {
            const TeBuffer *buffer;
            int num_indices; /* buffer->ndim, or 1 when flat */
            TsExpr **indices;
            bool flat;       /* one index in elements, after storage flattening */
        } load;              /* LOAD; a vector index gives a vector load. ADDRESS: the
                              * address of that (scalar-indexed) element as a uint64,
                              * which an intrinsic's pointer argument takes as a pointer */
        struct {
            TsExpr *base, *stride; /* int32 scalars */
            int lanes;
        } ramp;              /* RAMP: base + stride * [0, 1, ..., lanes - 1] */
        struct {
            TsExpr *value;
            int lanes;
        } broadcast;
    } u;
};

typedef enum TeOpKind { TE_OP_PLACEHOLDER, TE_OP_COMPUTE } TeOpKind;

struct TsTensor {
    TeOpKind op;
    const char *name;
    const char *tag;
    TsDType dtype;
    int ndim;
    TsExpr **shape;  /* ndim int32 expressions */
    /* COMPUTE only */
    TsAxis **axes;   /* ndim data-parallel axes */
    TsExpr *body;
    int num_inputs;
    TsTensor **inputs;
};

/* ---- the loop-nest IR ---- */

typedef enum TeBufferScope {
    TE_SCOPE_GLOBAL, /* a kernel argument: a placeholder or an output */
    TE_SCOPE_LOCAL   /* an allocation inside the kernel */
} TeBufferScope;

/* Storage for one tensor (or a part of it, at an attach point). Extents are constant;
 * strides are in elements and row-major unless storage_align padded a dimension. */
struct TeBuffer {
    const char *name;
    TsDType dtype; /* the scalar element type */
    int ndim;
    int64_t shape[TS_MAX_DIMS];
    int64_t strides[TS_MAX_DIMS];
    int64_t num_elements;    /* what an allocation reserves, padding included */
    const TsTensor *tensor;  /* the tensor stored here */
    TeBufferScope scope;
};

typedef enum TeStmtKind {
#define X(kind, name) TE_STMT_##kind,
#include "stmt_kinds.def"
#undef X
    TE_NUM_STMT_KINDS
} TeStmtKind;

typedef enum TeForKind {
    TE_FOR_SERIAL,
    TE_FOR_PARALLEL,
    TE_FOR_VECTORIZED,
    TE_FOR_UNROLLED
} TeForKind;

/* A key = value annotation on a loop, e.g. "unroll_max_extent" = 16. */
typedef struct TePragma {
    const char *key;
    int64_t value;
} TePragma;

typedef struct TeStmt TeStmt;

struct TeStmt {
    TeStmtKind kind;
    union {
        struct {
            TsExpr *var; /* int32 VAR */
            TsExpr *min, *extent;
            TeForKind for_kind;
            int num_pragmas;
            const TePragma *pragmas;
            TeStmt *body;
        } loop;
        struct {
            const TeBuffer *buffer;
            int num_indices; /* buffer->ndim, or 1 when flat */
            TsExpr **indices;
            TsExpr *value;   /* a vector value with a vector index stores all lanes */
            bool flat;
            /* NULL, or a bool vector of the value's lanes: only the lanes where it is
             * true evaluate their value and indices and write (a masked store). */
            TsExpr *mask;
        } store;
        struct {
            const TeBuffer *buffer;
            TeStmt *body;
        } allocate;
        struct {
            TsExpr *cond;
            TeStmt *then_case;
            TeStmt *else_case; /* may be NULL */
            bool likely;       /* a bound guard, almost always true (loop partition) */
        } if_then;
        struct {
            TsExpr *var;
            TsExpr *value;
            TeStmt *body;
        } let;
        struct {
            int num_stmts;
            TeStmt **stmts;
        } seq;
        struct {
            const char *name; /* an LLVM intrinsic, called for its effect on memory */
            int num_args;
            TsExpr **args;    /* ADDRESS nodes are its pointer arguments */
        } call;
        /* A region computed by a tensor intrinsic (schedule.h's ts_tensorize): the
         * interpreters run declared, the intrinsic's declared compute evaluated over the
         * matched buffer regions; codegen runs code, the statements the intrinsic's
         * emitter made, once the target has every feature listed. */
        struct {
            const char *name; /* the intrinsic */
            const char *part; /* "body", "reset" or "update" */
            int num_features;
            const char *const *features; /* as ts_target_has_feature takes them */
            TeStmt *declared;
            TeStmt *code;
        } tensorize;
    } u;
};

/* A lowered kernel: its arguments (placeholders first, then outputs, each in the order
 * given to the schedule) and its body. Lives in the arena of its schedule. */
struct TsLoweredFunc {
    const char *name;
    int num_args;
    const TeBuffer **args;
    TeStmt *body;
};

/* Builders of loop-nest IR; NULL with the error recorded in the arena on failure. */
TsExpr *te_load(TsArena *arena, const TeBuffer *buffer, int num_indices, TsExpr *const *indices,
                bool flat);
TsExpr *te_ramp(TsArena *arena, TsExpr *base, TsExpr *stride, int lanes);
TsExpr *te_broadcast(TsArena *arena, TsExpr *value, int lanes);
/* The address of element indices of buffer (scalar indices; flat as for te_load), a
 * uint64 that an intrinsic call takes as a pointer into the buffer. */
TsExpr *te_address(TsArena *arena, const TeBuffer *buffer, int num_indices,
                   TsExpr *const *indices, bool flat);
TeStmt *te_for(TsArena *arena, TsExpr *var, TsExpr *min, TsExpr *extent, TeForKind kind,
               int num_pragmas, const TePragma *pragmas, TeStmt *body);
TeStmt *te_store(TsArena *arena, const TeBuffer *buffer, int num_indices, TsExpr *const *indices,
                 TsExpr *value, bool flat);
/* A store of the lanes where mask (a bool vector of the value's lanes, at least 2) is
 * true; mask NULL is te_store. */
TeStmt *te_store_masked(TsArena *arena, const TeBuffer *buffer, int num_indices,
                        TsExpr *const *indices, TsExpr *value, bool flat, TsExpr *mask);
/* s (a store) with its buffer, indices and value, and the given mask (NULL: none). */
TeStmt *te_store_with_mask(TsArena *arena, const TeStmt *s, TsExpr *mask);
TeStmt *te_allocate(TsArena *arena, const TeBuffer *buffer, TeStmt *body);
TeStmt *te_if(TsArena *arena, TsExpr *cond, TeStmt *then_case, TeStmt *else_case, bool likely);
TeStmt *te_let(TsArena *arena, TsExpr *var, TsExpr *value, TeStmt *body);
/* A call of the LLVM intrinsic name for its effect (a store through an address, a
 * prefetch, a tile load); its result, if any, is dropped. At most TE_MAX_INTRINSIC_ARGS
 * arguments. */
TeStmt *te_call_stmt(TsArena *arena, const char *name, int num_args, TsExpr *const *args);
/* A tensorized region (see the TENSORIZE payload): name and part are copied, features
 * must live as long as the arena. */
TeStmt *te_tensorize_stmt(TsArena *arena, const char *name, const char *part,
                          int num_features, const char *const *features, TeStmt *declared,
                          TeStmt *code);
/* A sequence; nested sequences are flattened and a sequence of one is that statement. */
TeStmt *te_seq(TsArena *arena, int num_stmts, TeStmt *const *stmts);
/* A dense row-major buffer for tensor t with the given extents (t's own when NULL). */
TeBuffer *te_buffer(TsArena *arena, const char *name, const TsTensor *t, int ndim,
                    const int64_t *shape, TeBufferScope scope);

const char *te_stmt_kind_name(TeStmtKind kind);
const char *te_for_kind_name(TeForKind kind);
/* True when TS_DUMP (a comma-separated list of step names, or "all") names this step:
 * the lowering passes and codegen print their IR after the steps it names. */
bool te_dump_wanted(const char *step);
/* The text of a statement, indented, one line per statement (TVM's simple mode). */
const char *te_stmt_str(TsArena *arena, const TeStmt *s);

/* ---- rewriting (mutate.c) ---- */

/* Callbacks of a rewrite: given a node, return NULL to have its children rewritten (and
 * the node rebuilt if any changed), a replacement node (not visited further; the node
 * itself to keep it as is), or TE_MUTATE_FAILED / TE_MUTATE_STMT_FAILED after recording
 * an error in the arena. */
typedef struct TeMutator {
    TsExpr *(*expr)(void *ctx, TsArena *arena, TsExpr *e);
    TeStmt *(*stmt)(void *ctx, TsArena *arena, TeStmt *s);
    void *ctx;
} TeMutator;

extern TsExpr te_mutate_failed_expr;
extern TeStmt te_mutate_failed_stmt;
#define TE_MUTATE_FAILED (&te_mutate_failed_expr)
#define TE_MUTATE_STMT_FAILED (&te_mutate_failed_stmt)

/* Rewrites bottom-up; returns e itself when nothing changed, NULL on failure. */
TsExpr *te_mutate_expr(TsArena *arena, TsExpr *e, const TeMutator *m);
TeStmt *te_mutate_stmt(TsArena *arena, TeStmt *s, const TeMutator *m);
/* ---- read-only walking (visit.c) ---- */

/* What a visitor's callback asks for after seeing a node. */
typedef enum TeVisit {
    TE_VISIT_CHILDREN, /* go on into the node's children */
    TE_VISIT_SKIP,     /* do not descend into this node */
    TE_VISIT_STOP      /* end the whole walk */
} TeVisit;

/* Callbacks of a walk, parents first; either may be NULL (then a statement walk does not
 * look into expressions at all). skip_load_indices makes loads leaves: an analysis of
 * the values computed (rather than of the index arithmetic) leaves their indices out. */
typedef struct TeVisitor {
    TeVisit (*expr)(void *ctx, const TsExpr *e);
    TeVisit (*stmt)(void *ctx, const TeStmt *s);
    void *ctx;
    bool skip_load_indices;
} TeVisitor;

/* Walk e or s (NULL is nothing); true when a callback stopped the walk. */
bool te_visit_expr(const TsExpr *e, const TeVisitor *v);
bool te_visit_stmt(const TeStmt *s, const TeVisitor *v);
/* Walk only the children of e or s: for callbacks that act around their children. */
bool te_visit_children(const TsExpr *e, const TeVisitor *v);
bool te_visit_stmt_children(const TeStmt *s, const TeVisitor *v);

/* Replaces each vars[i] by values[i] (loop and let variables that bind are left). */
TsExpr *te_substitute(TsArena *arena, TsExpr *e, int n, const TsExpr *const *vars,
                      TsExpr *const *values);
TeStmt *te_substitute_stmt(TsArena *arena, TeStmt *s, int n, const TsExpr *const *vars,
                           TsExpr *const *values);
/* Same kind, dtype and operands all the way down; variables are equal only to
 * themselves (two variables may share a name). (bounds.c) */
bool te_expr_equal(const TsExpr *a, const TsExpr *b);
bool te_expr_uses_var(const TsExpr *e, const TsExpr *var);
bool te_stmt_uses_var(const TeStmt *s, const TsExpr *var);

/* ---- simplification and interval analysis (bounds.c, simplify.c) ---- */

/* What is known of an int32 variable: min <= var <= max. */
typedef struct TeRange {
    const TsExpr *var;
    int64_t min, max;
} TeRange;

/* Constant bounds lo <= e <= hi of an integer expression, given the ranges of its
 * variables; false when unbounded or not an integer expression. */
bool te_const_bounds(const TsExpr *e, int num_ranges, const TeRange *ranges, int64_t *lo,
                     int64_t *hi);
/* True when cond (bool) holds for every value of the variables in their ranges. */
bool te_prove(TsArena *arena, const TsExpr *cond, int num_ranges, const TeRange *ranges);
/* Constant folding, a canonical form for linear integer arithmetic (sum of variable
 * terms with constant coefficients, constants last), floordiv/floormod rules, and
 * comparisons decided by interval analysis. Returns e itself when nothing changed. */
TsExpr *te_simplify_expr(TsArena *arena, TsExpr *e, int num_ranges, const TeRange *ranges);
/* Simplifies every expression with the ranges of the enclosing loops, removes if
 * statements whose condition is proven true or false, loops of extent 0, and loops of
 * extent 1 (substituting their min). */
TeStmt *te_simplify_stmt(TsArena *arena, TeStmt *s);

/* A compute op like op (same output axes and tag) with another body and, when name is
 * not NULL, another name: how schedules rewrite the readers of a cached tensor. */
TsTensor *te_compute_rewrite(TsArena *arena, const TsTensor *op, const char *name, TsExpr *body);

/* Most arguments of an intrinsic call (expression or statement). */
enum { TE_MAX_INTRINSIC_ARGS = 24 }; /* the nested AMX tile statement takes 19 */

/* Checks an intrinsic call's name and arguments (expr.c); false with the error recorded. */
bool te_intrinsic_args_ok(TsArena *arena, const char *name, int num_args, TsExpr *const *args);

/* Names of kinds, for printing and messages. */
const char *te_expr_kind_name(TeExprKind kind);
const char *te_call_name(TeCallKind fn);
int te_call_arity(TeCallKind fn);

/* The constant value of an INT node as int64 (true), or false for other nodes. */
bool te_const_int(const TsExpr *e, int64_t *value);

/* Wraps v to dtype's width: sign-extends signed types, zero-extends unsigned, 0/1 for
 * bool. The canonical form of integer values in constants and the interpreter. */
int64_t te_wrap_int(TsDType dtype, int64_t v);
/* Rounds a double to dtype's precision (float16, bfloat16 through float32, float32 or
 * float64). */
double te_round_float(TsDType dtype, double v);
/* IEEE half <-> float, round to nearest even. */
uint16_t te_float_to_half(float f);
uint16_t te_double_to_half(double d);
float te_half_to_float(uint16_t h);

/* Writes the text of e into an arena string (the printer). */
const char *te_expr_str(TsArena *arena, const TsExpr *e);

#endif /* TESSERA_TE_INTERNAL_H */
