/* The layout of tensor-expression IR nodes, shared by the files of te/ and by the
 * modules that build on the IR (schedule, codegen). Nodes are immutable once built. */
#ifndef TESSERA_TE_INTERNAL_H
#define TESSERA_TE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "tessera/te.h"

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
        } cast;
        struct {
            TeCallKind fn;
            TsExpr *args[2];
        } call;
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

/* Names of kinds, for printing and messages. */
const char *te_expr_kind_name(TeExprKind kind);
const char *te_call_name(TeCallKind fn);
int te_call_arity(TeCallKind fn);

/* The constant value of an INT node as int64 (true), or false for other nodes. */
bool te_const_int(const TsExpr *e, int64_t *value);

/* Wraps v to dtype's width: sign-extends signed types, zero-extends unsigned, 0/1 for
 * bool. The canonical form of integer values in constants and the interpreter. */
int64_t te_wrap_int(TsDType dtype, int64_t v);
/* Rounds a double to dtype's precision (float16, float32 or float64). */
double te_round_float(TsDType dtype, double v);
/* IEEE half <-> float, round to nearest even. */
uint16_t te_float_to_half(float f);
uint16_t te_double_to_half(double d);
float te_half_to_float(uint16_t h);

/* Writes the text of e into an arena string (the printer). */
const char *te_expr_str(TsArena *arena, const TsExpr *e);

#endif /* TESSERA_TE_INTERNAL_H */
