/* Matrix products of the operator library: ts_op_matmul (C = A B with optional
 * transposes) and ts_op_dense (TVM's dense: data times the transpose of weight, plus an
 * optional bias). Both reduce over k in one compute op tagged "matmul" or "dense", which
 * the schedule templates for matrix products match on; operands are cast to the
 * accumulation dtype before the multiply, so int8 x int8 accumulates exactly in int32.
 */
#include "ops_internal.h"

/* One product: out[i, j] = sum_k a'[i, k] * b'[k, j], where a' and b' are a and b
 * transposed as asked. m, n, k are the checked extents. */
typedef struct Product {
    TsTensor *a, *b;
    bool trans_a, trans_b;
    int64_t m, n, k;
    TsDType in_dtype, acc_dtype;
} Product;

static TsTensor *product(TsArena *arena, const Product *p, const char *name, const char *tag)
{
    TsAxis *i = ts_axis(arena, "i", p->m), *j = ts_axis(arena, "j", p->n);
    TsAxis *k = ts_reduce_axis(arena, "k", p->k);
    TsExpr *a_ik = p->trans_a ? ts_at(arena, p->a, ts_var(k), ts_var(i))
                              : ts_at(arena, p->a, ts_var(i), ts_var(k));
    TsExpr *b_kj = p->trans_b ? ts_at(arena, p->b, ts_var(j), ts_var(k))
                              : ts_at(arena, p->b, ts_var(k), ts_var(j));
    TsExpr *prod = ts_mul(arena, te_op_cast(arena, p->acc_dtype, a_ik, p->in_dtype),
                          te_op_cast(arena, p->acc_dtype, b_kj, p->in_dtype));

    return ts_compute_tagged(arena, name, tag, 2, (TsAxis *[]){ i, j },
                             ts_sum(arena, prod, 1, (TsAxis *[]){ k }, NULL));
}

/* Checks two rank-2 operands of one dtype and fills the product's dtypes. */
static bool check_operands(TsArena *arena, const char *op, const char *what_a, TsTensor *a,
                           const char *what_b, TsTensor *b, TsDType out_dtype, TeOpShape *sa,
                           TeOpShape *sb, Product *p)
{
    if (!te_op_tensor(arena, op, what_a, a, sa) || !te_op_tensor(arena, op, what_b, b, sb))
        return false;
    if (!te_op_rank(arena, op, what_a, a, sa, 2) || !te_op_rank(arena, op, what_b, b, sb, 2))
        return false;
    if (!te_op_same_dtype(arena, op, what_a, a, what_b, b))
        return false;
    p->a = a;
    p->b = b;
    p->in_dtype = ts_tensor_dtype(a);
    return te_op_accum_dtype(arena, op, p->in_dtype, out_dtype, &p->acc_dtype);
}

TsTensor *ts_op_matmul(TsArena *arena, TsTensor *a, TsTensor *b, bool trans_a, bool trans_b,
                       TsDType out_dtype)
{
    TeOpShape sa, sb;
    Product p;

    if (arena == NULL || !check_operands(arena, "matmul", "a", a, "b", b, out_dtype, &sa, &sb, &p))
        return NULL;
    p.trans_a = trans_a;
    p.trans_b = trans_b;
    p.m = sa.dim[trans_a ? 1 : 0];
    p.k = sa.dim[trans_a ? 0 : 1];
    p.n = sb.dim[trans_b ? 0 : 1];
    int64_t k_b = sb.dim[trans_b ? 1 : 0];
    if (p.k != k_b) {
        ts_arena_fail(arena, TS_EINVAL,
                      "matmul: reduction extent %lld of a '%s'%s != %lld of b '%s'%s",
                      (long long)p.k, ts_tensor_name(a), trans_a ? " (transposed)" : "",
                      (long long)k_b, ts_tensor_name(b), trans_b ? " (transposed)" : "");
        return NULL;
    }
    return product(arena, &p, "matmul", "matmul");
}

/* out[i, j] = prod[i, j] + bias[j]: the bias stage of dense. */
static TsTensor *add_bias(TsArena *arena, TsTensor *prod, TsTensor *bias, int64_t n, int64_t m)
{
    TsAxis *i = ts_axis(arena, "i", n), *j = ts_axis(arena, "j", m);
    TsExpr *body =
        ts_add(arena, ts_at(arena, prod, ts_var(i), ts_var(j)), ts_at(arena, bias, ts_var(j)));

    return ts_compute_tagged(arena, "dense", "dense_bias_add", 2, (TsAxis *[]){ i, j }, body);
}

TsTensor *ts_op_dense(TsArena *arena, TsTensor *data, TsTensor *weight, TsTensor *bias,
                      TsDType out_dtype)
{
    TeOpShape sd, sw;
    Product p;

    if (arena == NULL ||
        !check_operands(arena, "dense", "data", data, "weight", weight, out_dtype, &sd, &sw, &p))
        return NULL;
    if (sd.dim[1] != sw.dim[1]) {
        ts_arena_fail(arena, TS_EINVAL,
                      "dense: weight '%s' in-features %lld != data '%s' features %lld",
                      ts_tensor_name(weight), (long long)sw.dim[1], ts_tensor_name(data),
                      (long long)sd.dim[1]);
        return NULL;
    }
    if (bias != NULL && !te_op_vector(arena, "dense", "bias", bias, p.acc_dtype, sw.dim[0]))
        return NULL;
    p.trans_a = false;
    p.trans_b = true;
    p.m = sd.dim[0];
    p.n = sw.dim[0];
    p.k = sd.dim[1];
    if (bias == NULL)
        return product(arena, &p, "dense", "dense");
    return add_bias(arena, product(arena, &p, "dense_product", "dense"), bias, p.m, p.n);
}
