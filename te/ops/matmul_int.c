/* Integer matrix products of the operator library: ts_op_matmul_integer (ONNX
 * MatMulInteger: numpy's batched, broadcasting matmul of uint8/int8 operands with zero
 * points per tensor, per row of a or per column of b, int32 accumulation) and
 * ts_op_dense_integer (TVM's dense layout, weight zero point per output channel).
 *
 * Each is one reduction over k of (a - a_zp) * (b - b_zp) in int32, where int32 wraps
 * as ONNX allows ("the accumulation may overflow if and only if in 32 bits"). Without
 * zero points the body is the plain int32 product, the form the int8 templates and the
 * tensorize patterns (u8 x s8 -> s32 dot products) match.
 */

#include "ops_internal.h"

static const char *const op_matmul = "matmul_integer";

/* A MatMulInteger operand's shape split into batch dimensions and a matrix. */
typedef struct Operand {
    TsTensor *t;
    TeOpShape shape;
    int batch_ndim;   /* dimensions before the matrix */
    bool vector;      /* 1-D: a becomes [1, K], b [K, 1] */
    int64_t rows, cols;
} Operand;

static bool read_operand(TsArena *arena, const char *what, TsTensor *t, bool is_a, Operand *o)
{
    o->t = t;
    if (!te_op_tensor(arena, op_matmul, what, t, &o->shape) ||
        !te_op_int8(arena, op_matmul, what, t))
        return false;
    int nd = o->shape.ndim;
    if (nd < 1) {
        ts_arena_fail(arena, TS_EINVAL, "%s: %s '%s' is a scalar; matmul needs rank >= 1",
                      op_matmul, what, ts_tensor_name(t));
        return false;
    }
    o->vector = nd == 1;
    o->batch_ndim = o->vector ? 0 : nd - 2;
    if (o->vector) {
        o->rows = is_a ? 1 : o->shape.dim[0];
        o->cols = is_a ? o->shape.dim[0] : 1;
    } else {
        o->rows = o->shape.dim[nd - 2];
        o->cols = o->shape.dim[nd - 1];
    }
    return true;
}

/* The broadcast batch shape of a and b (numpy: aligned at the end, equal or 1). */
static bool broadcast_batch(TsArena *arena, const Operand *a, const Operand *b, TeOpShape *out)
{
    out->ndim = a->batch_ndim > b->batch_ndim ? a->batch_ndim : b->batch_ndim;
    for (int i = 0; i < out->ndim; i++) {
        int ia = a->batch_ndim - out->ndim + i, ib = b->batch_ndim - out->ndim + i;
        int64_t da = ia >= 0 ? a->shape.dim[ia] : 1, db = ib >= 0 ? b->shape.dim[ib] : 1;
        if (da != db && da != 1 && db != 1) {
            ts_arena_fail(arena, TS_EINVAL,
                          "%s: batch dimension %d of a '%s' (%lld) and b '%s' (%lld) do not "
                          "broadcast",
                          op_matmul, i, ts_tensor_name(a->t), (long long)da, ts_tensor_name(b->t),
                          (long long)db);
            return false;
        }
        out->dim[i] = da > db ? da : db;
    }
    return true;
}

/* How a zero point is indexed: per tensor, along the matrix dimension (row of a, column
 * of b) as a vector, or as a tensor of the operand's rank. */
typedef enum { ZP_NONE, ZP_TENSOR, ZP_VECTOR, ZP_FULL } ZpForm;

/* Checks a zero point of operand o: one element, a vector of `along` elements, or o's
 * rank with the matrix dimension `along` at matrix position `pos` (0 rows, 1 cols), 1
 * at the other, batch dimensions 1 or o's. */
static bool read_zero_point(TsArena *arena, const char *what, TsTensor *zp, const Operand *o,
                            int pos, ZpForm *form)
{
    TeOpShape s;
    int64_t along = pos == 0 ? o->rows : o->cols;
    bool vector;

    *form = ZP_NONE;
    if (zp == NULL)
        return true;
    if (!te_op_tensor(arena, op_matmul, what, zp, &s))
        return false;
    if (s.ndim == o->shape.ndim && s.ndim >= 2 && te_op_num_elements(s.ndim, s.dim) != 1) {
        bool ok = s.dim[s.ndim - 2 + pos] == along && s.dim[s.ndim - 1 - pos] == 1;
        for (int i = 0; ok && i < o->batch_ndim; i++)
            ok = s.dim[i] == 1 || s.dim[i] == o->shape.dim[i];
        if (ok && ts_dtype_eq(ts_tensor_dtype(zp), ts_tensor_dtype(o->t))) {
            *form = ZP_FULL;
            return true;
        }
    }
    if (!te_op_quant_param(arena, op_matmul, what, zp, ts_tensor_dtype(o->t), along, &vector))
        return false;
    *form = vector ? ZP_VECTOR : ZP_TENSOR;
    return true;
}

/* Index expressions of operand o at the output point: its batch dimensions follow the
 * output's (0 where o's is 1), then the matrix indices. */
static int operand_index(TsArena *arena, const Operand *o, int out_batch, TsExpr *const *batch,
                         TsExpr *row, TsExpr *col, TsExpr **index)
{
    int n = 0;
    for (int i = 0; i < o->batch_ndim; i++) {
        int oi = out_batch - o->batch_ndim + i;
        index[n++] = o->shape.dim[i] == 1 ? ts_i32(arena, 0) : batch[oi];
    }
    if (o->vector) {
        index[n++] = row ? row : col; /* the one index that is not the added dimension */
        return n;
    }
    index[n++] = row;
    index[n++] = col;
    return n;
}

/* The zero point's value at the output point. */
static TsExpr *zero_point_at(TsArena *arena, TsTensor *zp, ZpForm form, const Operand *o,
                             int out_batch, TsExpr *const *batch, TsExpr *matrix_index, int pos)
{
    TsExpr *index[TS_MAX_DIMS];
    TeOpShape s;

    switch (form) {
    case ZP_NONE: return NULL;
    case ZP_TENSOR: return te_op_quant_at(arena, zp, false, NULL);
    case ZP_VECTOR: return ts_at(arena, zp, matrix_index);
    case ZP_FULL:
        te_op_tensor(arena, op_matmul, "zero point", zp, &s);
        for (int i = 0; i < o->batch_ndim; i++) {
            int oi = out_batch - o->batch_ndim + i;
            index[i] = s.dim[i] == 1 ? ts_i32(arena, 0) : batch[oi];
        }
        index[o->batch_ndim + pos] = matrix_index;
        index[o->batch_ndim + 1 - pos] = ts_i32(arena, 0);
        return ts_access(arena, zp, s.ndim, index);
    }
    return NULL;
}

TsTensor *ts_op_matmul_integer(TsArena *arena, TsTensor *a, TsTensor *b, TsTensor *a_zero_point,
                               TsTensor *b_zero_point)
{
    Operand oa, ob;
    TeOpShape batch_shape;
    ZpForm a_form, b_form;

    if (arena == NULL || !read_operand(arena, "a", a, true, &oa) ||
        !read_operand(arena, "b", b, false, &ob) || !broadcast_batch(arena, &oa, &ob, &batch_shape))
        return NULL;
    if (oa.cols != ob.rows) {
        ts_arena_fail(arena, TS_EINVAL, "%s: a '%s' has %lld columns but b '%s' has %lld rows",
                      op_matmul, ts_tensor_name(a), (long long)oa.cols, ts_tensor_name(b),
                      (long long)ob.rows);
        return NULL;
    }
    if (!read_zero_point(arena, "a_zero_point", a_zero_point, &oa, 0, &a_form) ||
        !read_zero_point(arena, "b_zero_point", b_zero_point, &ob, 1, &b_form))
        return NULL;

    /* Output axes: the batch, then m unless a is a vector, then n unless b is. */
    TsAxis *axes[TS_MAX_DIMS + 2];
    TsExpr *batch[TS_MAX_DIMS];
    int nd = 0;
    static const char *const batch_names[TS_MAX_DIMS] = { "b0", "b1", "b2", "b3",
                                                          "b4", "b5", "b6", "b7" };
    for (int i = 0; i < batch_shape.ndim; i++) {
        axes[nd] = ts_axis(arena, batch_names[i], batch_shape.dim[i]);
        batch[i] = ts_var(axes[nd++]);
    }
    TsAxis *m = ts_axis(arena, "i", oa.rows), *n = ts_axis(arena, "j", ob.cols);
    TsAxis *k = ts_reduce_axis(arena, "k", oa.cols);
    if (!oa.vector)
        axes[nd++] = m;
    if (!ob.vector)
        axes[nd++] = n;
    if (nd == 0) {
        ts_arena_fail(arena, TS_EINVAL, "%s: a '%s' and b '%s' are both vectors (the result "
                      "would be a scalar)", op_matmul, ts_tensor_name(a), ts_tensor_name(b));
        return NULL;
    }

    TsExpr *ia[TS_MAX_DIMS], *ib[TS_MAX_DIMS];
    int na = operand_index(arena, &oa, batch_shape.ndim, batch, oa.vector ? NULL : ts_var(m),
                           ts_var(k), ia);
    int nb = operand_index(arena, &ob, batch_shape.ndim, batch, ts_var(k),
                           ob.vector ? NULL : ts_var(n), ib);
    TsExpr *a_zp = zero_point_at(arena, a_zero_point, a_form, &oa, batch_shape.ndim, batch,
                                 ts_var(m), 0);
    TsExpr *b_zp = zero_point_at(arena, b_zero_point, b_form, &ob, batch_shape.ndim, batch,
                                 ts_var(n), 1);
    TsExpr *prod = ts_mul(arena,
                          te_op_minus_zero_point(arena, ts_access(arena, a, na, ia),
                                                 ts_tensor_dtype(a), a_zp),
                          te_op_minus_zero_point(arena, ts_access(arena, b, nb, ib),
                                                 ts_tensor_dtype(b), b_zp));
    return ts_compute_tagged(arena, op_matmul, op_matmul, nd, axes,
                             ts_sum(arena, prod, 1, (TsAxis *[]){ k }, NULL));
}

TsTensor *ts_op_dense_integer(TsArena *arena, TsTensor *data, TsTensor *weight,
                              TsTensor *data_zero_point, TsTensor *weight_zero_point)
{
    static const char *const op = "dense_integer";
    TeOpShape sd, sw;
    bool data_pc, weight_pc;

    if (arena == NULL || !te_op_tensor(arena, op, "data", data, &sd) ||
        !te_op_tensor(arena, op, "weight", weight, &sw) ||
        !te_op_rank(arena, op, "data", data, &sd, 2) ||
        !te_op_rank(arena, op, "weight", weight, &sw, 2) || !te_op_int8(arena, op, "data", data) ||
        !te_op_int8(arena, op, "weight", weight))
        return NULL;
    if (sd.dim[1] != sw.dim[1]) {
        ts_arena_fail(arena, TS_EINVAL,
                      "%s: weight '%s' in-features %lld != data '%s' features %lld", op,
                      ts_tensor_name(weight), (long long)sw.dim[1], ts_tensor_name(data),
                      (long long)sd.dim[1]);
        return NULL;
    }
    if (!te_op_quant_param(arena, op, "data_zero_point", data_zero_point, ts_tensor_dtype(data),
                           0, &data_pc) ||
        !te_op_quant_param(arena, op, "weight_zero_point", weight_zero_point,
                           ts_tensor_dtype(weight), sw.dim[0], &weight_pc))
        return NULL;
    TsAxis *i = ts_axis(arena, "i", sd.dim[0]), *j = ts_axis(arena, "j", sw.dim[0]);
    TsAxis *k = ts_reduce_axis(arena, "k", sd.dim[1]);
    TsExpr *d_zp = data_zero_point ? te_op_quant_at(arena, data_zero_point, false, NULL) : NULL;
    TsExpr *w_zp = weight_zero_point
                       ? te_op_quant_at(arena, weight_zero_point, weight_pc, ts_var(j))
                       : NULL;
    TsExpr *prod = ts_mul(arena,
                          te_op_minus_zero_point(arena, ts_at(arena, data, ts_var(i), ts_var(k)),
                                                 ts_tensor_dtype(data), d_zp),
                          te_op_minus_zero_point(arena, ts_at(arena, weight, ts_var(j), ts_var(k)),
                                                 ts_tensor_dtype(weight), w_zp));
    const char *tag = data_zero_point || weight_zero_point ? op : "dense";
    return ts_compute_tagged(arena, op, tag, 2, (TsAxis *[]){ i, j },
                             ts_sum(arena, prod, 1, (TsAxis *[]){ k }, NULL));
}
