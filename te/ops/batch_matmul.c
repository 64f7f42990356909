/* Numpy's matmul in the operator library (ONNX's MatMul): batched over any leading
 * dimensions with broadcasting, a 1-D left operand promoted to a row and a 1-D right one to
 * a column, the promoted dimension removed from the result. One compute op tagged
 * "batch_matmul", reducing over k.
 */
#include "ops_internal.h"

static const char *const op = "batch_matmul";

TsTensor *ts_op_batch_matmul(TsArena *arena, TsTensor *a, TsTensor *b)
{
    TeOpShape sa, sb;

    if (arena == NULL || !te_op_tensor(arena, op, "a", a, &sa) ||
        !te_op_tensor(arena, op, "b", b, &sb) || !te_op_same_dtype(arena, op, "a", a, "b", b) ||
        !te_op_arith(arena, op, "a", a))
        return NULL;
    if (sa.ndim < 1 || sb.ndim < 1) {
        ts_arena_fail(arena, TS_EINVAL, "%s: operands must have rank 1 or more", op);
        return NULL;
    }
    int64_t k = sa.dim[sa.ndim - 1], kb = sb.ndim == 1 ? sb.dim[0] : sb.dim[sb.ndim - 2];
    if (k != kb) {
        ts_arena_fail(arena, TS_EINVAL, "%s: a has K = %lld, b has K = %lld", op, (long long)k,
                      (long long)kb);
        return NULL;
    }
    TeOpShape batch[2] = { { sa.ndim > 2 ? sa.ndim - 2 : 0, { 0 } },
                           { sb.ndim > 2 ? sb.ndim - 2 : 0, { 0 } } };
    for (int i = 0; i < batch[0].ndim; i++)
        batch[0].dim[i] = sa.dim[i];
    for (int i = 0; i < batch[1].ndim; i++)
        batch[1].dim[i] = sb.dim[i];
    TeOpShape out;
    if (!te_op_broadcast_shape(arena, op, 2, batch, &out))
        return NULL;
    int nb = out.ndim;
    if (sa.ndim > 1)
        out.dim[out.ndim++] = sa.dim[sa.ndim - 2];
    if (sb.ndim > 1)
        out.dim[out.ndim++] = sb.dim[sb.ndim - 1];
    if (out.ndim > TS_MAX_DIMS) {
        ts_arena_fail(arena, TS_EINVAL, "%s: the result has rank %d", op, out.ndim);
        return NULL;
    }
    TsAxis **axes = te_op_axes(arena, &out, NULL);
    TsExpr **vars = axes ? te_op_vars(arena, out.ndim, axes) : NULL;
    TsAxis *rk = ts_reduce_axis(arena, "k", k);
    if (vars == NULL || rk == NULL)
        return NULL;
    TsExpr *ia[TS_MAX_DIMS], *ib[TS_MAX_DIMS];
    for (int i = 0; i < batch[0].ndim; i++)
        ia[i] = batch[0].dim[i] == 1 ? ts_i32(arena, 0) : vars[nb - batch[0].ndim + i];
    for (int i = 0; i < batch[1].ndim; i++)
        ib[i] = batch[1].dim[i] == 1 ? ts_i32(arena, 0) : vars[nb - batch[1].ndim + i];
    if (sa.ndim > 1)
        ia[sa.ndim - 2] = vars[nb];
    ia[sa.ndim - 1] = ts_var(rk);
    if (sb.ndim > 1) {
        ib[sb.ndim - 2] = ts_var(rk);
        ib[sb.ndim - 1] = vars[out.ndim - 1];
    } else {
        ib[0] = ts_var(rk);
    }
    TsExpr *prod =
        ts_mul(arena, ts_access(arena, a, sa.ndim, ia), ts_access(arena, b, sb.ndim, ib));
    return ts_compute_tagged(arena, op, op, out.ndim, axes,
                             ts_sum(arena, prod, 1, (TsAxis *[]){ rk }, NULL));
}
