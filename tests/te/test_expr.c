/* Construction of expressions, reductions and compute ops: the dtypes they get, and
 * every kind of bad construction giving TS_EINVAL with a message naming the culprit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "test_util.h"

typedef struct {
    TsArena *A;
    TsTensor *a; /* float32[4, 6] */
    TsTensor *q; /* int8[8] */
    TsAxis *i, *j, *k;
} Fixture;

static int setup(void **state)
{
    static Fixture f;
    f.A = ts_arena_create();
    f.a = ts_placeholder(f.A, "A", 2, (int64_t[]){ 4, 6 }, TS_FLOAT32);
    f.q = ts_placeholder(f.A, "Q", 1, (int64_t[]){ 8 }, TS_INT8);
    f.i = ts_axis(f.A, "i", 4);
    f.j = ts_axis(f.A, "j", 6);
    f.k = ts_reduce_axis(f.A, "k", 6);
    *state = &f;
    return f.a && f.q && f.i && f.j && f.k ? 0 : -1;
}

static int teardown(void **state)
{
    Fixture *f = *state;
    ts_arena_destroy(f->A);
    return 0;
}

static void test_result_dtypes(void **state)
{
    Fixture *f = *state;
    TsArena *A = f->A;
    TsExpr *x = ts_at(A, f->a, ts_var(f->i), ts_var(f->j));
    assert_non_null(x);
    char b[TS_DTYPE_STR_MAX];
    TsExpr *cmp = ts_lt(A, x, ts_f32(A, 0.5));
    TsExpr *sel = ts_select(A, cmp, x, ts_f32(A, 0));
    TsExpr *cast = ts_cast(A, TS_INT32, sel);
    TsExpr *pc = ts_popcount(A, ts_at(A, f->q, ts_var(f->i)));
    assert_non_null(cmp);
    assert_non_null(sel);
    assert_non_null(cast);
    assert_non_null(pc);
    assert_true(ts_arena_ok(A));
    assert_string_equal(ts_expr_str(A, cast), "int32(select((A[i, j] < 0.5f), A[i, j], 0.0f))");
    assert_string_equal(ts_expr_str(A, pc), "popcount(Q[i])");
    (void)b;
    /* A cast to the same dtype is the operand itself. */
    assert_ptr_equal(ts_cast(A, TS_FLOAT32, x), x);
}

static void test_mismatched_dtypes(void **state)
{
    Fixture *f = *state;
    TsArena *A = f->A;
    TsExpr *x = ts_at(A, f->a, ts_var(f->i), ts_var(f->j));
    assert_null(ts_add(A, x, ts_var(f->i)));
    assert_arena_error(A, TS_EINVAL, "'+': mismatched dtypes float32 (A[i, j]) and int32 (i)");
    assert_null(ts_select(A, ts_bool(A, true), x, ts_i32(A, 0)));
    assert_arena_error(A, TS_EINVAL, "select: mismatched dtypes of the branches");
    assert_null(ts_if_then_else(A, ts_i32(A, 1), x, x));
    assert_arena_error(A, TS_EINVAL, "the condition 1 is int32, not bool");
    assert_null(ts_pow(A, x, ts_float(A, TS_FLOAT64, 2.0)));
    assert_arena_error(A, TS_EINVAL, "pow: mismatched dtypes float32");
}

static void test_wrong_operand_kinds(void **state)
{
    Fixture *f = *state;
    TsArena *A = f->A;
    TsExpr *x = ts_at(A, f->a, ts_var(f->i), ts_var(f->j));
    assert_null(ts_mod(A, x, x));
    assert_arena_error(A, TS_EINVAL, "'%' needs integer operands, got float32 (A[i, j])");
    assert_null(ts_and(A, ts_var(f->i), ts_var(f->i)));
    assert_arena_error(A, TS_EINVAL, "'&&' needs bool operands, got int32 (i)");
    assert_null(ts_exp(A, ts_var(f->i)));
    assert_arena_error(A, TS_EINVAL, "exp needs a float32 or float64 operand, got int32 (i)");
    assert_null(ts_popcount(A, x));
    assert_arena_error(A, TS_EINVAL, "'popcount' needs integer operands");
    assert_null(ts_shl(A, ts_bool(A, true), ts_bool(A, true)));
    assert_arena_error(A, TS_EINVAL, "'<<' needs integer operands, got bool");
}

static void test_float16_is_storage(void **state)
{
    Fixture *f = *state;
    TsArena *A = f->A;
    TsTensor *h = ts_placeholder(A, "H", 1, (int64_t[]){ 4 }, TS_FLOAT16);
    TsExpr *x = ts_at(A, h, ts_var(f->i));
    assert_non_null(x);
    assert_null(ts_mul(A, x, x));
    assert_arena_error(A, TS_EINVAL, "float16 is a storage type, cast it to float32 first");
    assert_null(ts_exp(A, x));
    assert_arena_error(A, TS_EINVAL, "exp needs a float32 or float64 operand, got float16");
    /* Loads, casts and conditionals are fine. */
    assert_non_null(ts_cast(A, TS_FLOAT32, x));
    assert_non_null(ts_if_then_else(A, ts_bool(A, true), x, ts_float(A, TS_FLOAT16, 0)));
    assert_true(ts_arena_ok(A));
}

static void test_constants(void **state)
{
    Fixture *f = *state;
    TsArena *A = f->A;
    assert_null(ts_int(A, TS_INT8, 200));
    assert_arena_error(A, TS_EINVAL, "int constant 200 does not fit in int8");
    assert_null(ts_int(A, TS_UINT16, -1));
    assert_arena_error(A, TS_EINVAL, "int constant -1 does not fit in uint16");
    assert_null(ts_int(A, TS_FLOAT32, 1));
    assert_arena_error(A, TS_EINVAL, "dtype float32 is not a scalar integer or bool");
    assert_null(ts_float(A, TS_INT32, 1.5));
    assert_arena_error(A, TS_EINVAL, "float constant 1.5: dtype int32 is not a scalar float");
    assert_null(ts_uint(A, TS_UINT8, 256));
    assert_arena_error(A, TS_EINVAL, "uint constant 256 does not fit in uint8");
    assert_non_null(ts_uint(A, TS_UINT64, UINT64_MAX));
    assert_string_equal(ts_expr_str(A, ts_uint(A, TS_UINT64, UINT64_MAX)),
                        "18446744073709551615u64");
    assert_null(ts_cast(A, ts_dtype_with_lanes(TS_FLOAT32, 4), ts_f32(A, 1)));
    assert_arena_error(A, TS_EINVAL, "the lane counts differ");
}

static void test_bad_axes_and_shapes(void **state)
{
    Fixture *f = *state;
    TsArena *A = f->A;
    assert_null(ts_axis(A, "n", 0));
    assert_arena_error(A, TS_EINVAL, "axis n: extent 0 is outside [1,");
    assert_null(ts_reduce_axis(A, "", 3));
    assert_arena_error(A, TS_EINVAL, "reduce axis: the name is empty");
    assert_null(ts_placeholder(A, "P", 2, (int64_t[]){ 3, -1 }, TS_FLOAT32));
    assert_arena_error(A, TS_EINVAL, "placeholder P: dimension 1 has extent -1");
    assert_null(ts_placeholder(A, "P", 9, (int64_t[]){ 1, 1, 1, 1, 1, 1, 1, 1, 1 }, TS_FLOAT32));
    assert_arena_error(A, TS_EINVAL, "placeholder P: 9 dimensions (at most 8)");
    assert_null(ts_placeholder(A, "P", 1, (int64_t[]){ 3 }, ts_dtype(TS_TYPE_FLOAT, 8, 1)));
    assert_arena_error(A, TS_EINVAL, "placeholder P: dtype invalid(2,8,1)");
}

static void test_wrong_index_count(void **state)
{
    Fixture *f = *state;
    TsArena *A = f->A;
    assert_null(ts_at(A, f->a, ts_var(f->i)));
    assert_arena_error(A, TS_EINVAL, "access to A: 1 indices for a 2-dimensional tensor");
    assert_null(ts_at(A, f->a, ts_var(f->i), ts_f32(A, 0)));
    assert_arena_error(A, TS_EINVAL, "access to A: index 1 (0.0f) is float32, not int32");
}

static void test_constant_index_out_of_range(void **state)
{
    Fixture *f = *state;
    TsArena *A = f->A;
    assert_null(ts_at(A, f->a, ts_i32(A, 4), ts_i32(A, 0)));
    assert_arena_error(A, TS_EINVAL, "access to A: constant index 4 of dimension 0 is outside "
                                     "[0, 4)");
    assert_null(ts_at(A, f->q, ts_i32(A, -1)));
    assert_arena_error(A, TS_EINVAL, "access to Q: constant index -1");
}

static void test_axis_range_out_of_bounds(void **state)
{
    Fixture *f = *state;
    TsArena *A = f->A;
    /* B[i] = Q[i * 2 + 1] with i in [0, 4): reaches Q[7], fine. */
    TsAxis *i = ts_axis(A, "i", 4);
    TsExpr *ix = ts_add(A, ts_mul(A, ts_var(i), ts_i32(A, 2)), ts_i32(A, 1));
    assert_non_null(ts_compute(A, "B", 1, &i, ts_at(A, f->q, ix)));
    /* C[i] = Q[i + 5] with i in [0, 4): reaches Q[8]. */
    TsAxis *i2 = ts_axis(A, "i", 4);
    TsExpr *ix2 = ts_add(A, ts_var(i2), ts_i32(A, 5));
    assert_null(ts_compute(A, "C", 1, &i2, ts_at(A, f->q, ix2)));
    assert_arena_error(A, TS_EINVAL, "compute C: index 0 of Q ((i + 5)) ranges over [5, 8], "
                                     "outside [0, 8)");
    /* The same access under if_then_else is legal: the guard decides. */
    TsAxis *i3 = ts_axis(A, "i", 4);
    TsExpr *ix3 = ts_add(A, ts_var(i3), ts_i32(A, 5));
    TsExpr *guarded = ts_if_then_else(A, ts_lt(A, ix3, ts_i32(A, 8)), ts_at(A, f->q, ix3),
                                      ts_int(A, TS_INT8, 0));
    assert_non_null(ts_compute(A, "D", 1, &i3, guarded));
    /* Under select both branches are evaluated, so it is not a guard. */
    TsAxis *i4 = ts_axis(A, "i", 4);
    TsExpr *ix4 = ts_sub(A, ts_var(i4), ts_i32(A, 1));
    TsExpr *sel = ts_select(A, ts_ge(A, ix4, ts_i32(A, 0)), ts_at(A, f->q, ix4),
                            ts_int(A, TS_INT8, 0));
    assert_null(ts_compute(A, "E", 1, &i4, sel));
    assert_arena_error(A, TS_EINVAL, "compute E: index 0 of Q ((i - 1)) ranges over [-1, 2]");
}

static void test_reduce_axis_outside_reduction(void **state)
{
    Fixture *f = *state;
    TsArena *A = f->A;
    TsAxis *i = ts_axis(A, "i", 4);
    TsAxis *k = ts_reduce_axis(A, "k", 6);
    assert_null(ts_compute(A, "B", 1, &i, ts_at(A, f->a, ts_var(i), ts_var(k))));
    assert_arena_error(A, TS_EINVAL, "compute B: reduce axis k is used outside its reduction");
    /* A reduction over k is fine; a different reduce axis inside it is not. */
    TsAxis *k2 = ts_reduce_axis(A, "r", 6);
    TsExpr *body = ts_sum(A, ts_at(A, f->a, ts_var(i), ts_var(k2)), 1, &k, NULL);
    assert_null(ts_compute(A, "B", 1, &i, body));
    assert_arena_error(A, TS_EINVAL, "compute B: reduce axis r is used outside its reduction");
}

static void test_nested_reduction(void **state)
{
    Fixture *f = *state;
    TsArena *A = f->A;
    TsAxis *i = ts_axis(A, "i", 4);
    TsAxis *k = ts_reduce_axis(A, "k", 6);
    TsExpr *s = ts_sum(A, ts_at(A, f->a, ts_var(i), ts_var(k)), 1, &k, NULL);
    assert_null(ts_compute(A, "B", 1, &i, ts_mul(A, s, ts_f32(A, 2))));
    assert_arena_error(A, TS_EINVAL, "compute B: a reduction must be the whole body");
}

static void test_foreign_axes(void **state)
{
    Fixture *f = *state;
    TsArena *A = f->A;
    TsAxis *i = ts_axis(A, "i", 4), *other = ts_axis(A, "x", 6);
    assert_null(ts_compute(A, "B", 1, &i, ts_at(A, f->a, ts_var(i), ts_var(other))));
    assert_arena_error(A, TS_EINVAL, "compute B: axis x is not one of its output axes");
    TsExpr *free_var = ts_variable(A, "n", TS_INT32);
    assert_null(ts_compute(A, "B", 1, &i, ts_add(A, ts_var(i), free_var)));
    assert_arena_error(A, TS_EINVAL, "compute B: variable n is not an axis of this compute op");
    /* An axis serves one compute op. */
    assert_non_null(ts_compute(A, "B", 1, &i, ts_var(i)));
    assert_null(ts_compute(A, "C", 1, &i, ts_var(i)));
    assert_arena_error(A, TS_EINVAL, "compute C: axis i already belongs to compute B");
    TsAxis *r = ts_reduce_axis(A, "r", 2);
    assert_null(ts_compute(A, "D", 1, &r, ts_var(r)));
    assert_arena_error(A, TS_EINVAL, "compute D: output axis r is a reduce axis");
    TsAxis *d = ts_axis(A, "d", 2);
    assert_null(ts_compute(A, "E", 2, (TsAxis *[]){ d, d }, ts_var(d)));
    assert_arena_error(A, TS_EINVAL, "compute E: axis d is listed twice");
}

static void test_bad_reductions(void **state)
{
    Fixture *f = *state;
    TsArena *A = f->A;
    TsExpr *x = ts_at(A, f->a, ts_var(f->i), ts_var(f->j));
    assert_null(ts_sum(A, x, 1, &f->i, NULL));
    assert_arena_error(A, TS_EINVAL, "reduction sum: axis i is a data-parallel axis");
    assert_null(ts_sum(A, x, 2, (TsAxis *[]){ f->k, f->k }, NULL));
    assert_arena_error(A, TS_EINVAL, "reduction sum: reduce axis k is listed twice");
    assert_null(ts_sum(A, x, 0, NULL, NULL));
    assert_arena_error(A, TS_EINVAL, "reduction sum of A[i, j]: no reduce axes");
    assert_null(ts_reduce_max(A, x, 1, &f->k, ts_i32(A, 1)));
    assert_arena_error(A, TS_EINVAL, "reduction max: the condition 1 is int32, not bool");
    assert_null(ts_sum(A, ts_lt(A, x, x), 1, &f->k, NULL));
    assert_arena_error(A, TS_EINVAL, "reduction sum needs an integer or float32/float64 source");
}

static void test_bad_reducers(void **state)
{
    Fixture *f = *state;
    TsArena *A = f->A;
    TsExpr *l = ts_variable(A, "l", TS_FLOAT32), *r = ts_variable(A, "r", TS_FLOAT32);
    TsExpr *other = ts_variable(A, "z", TS_FLOAT32);
    assert_null(ts_reducer(A, "bad", l, r, ts_add(A, l, other), ts_f32(A, 0)));
    assert_arena_error(A, TS_EINVAL, "reducer bad: the combiner uses z, which is neither lhs "
                                     "nor rhs");
    assert_null(ts_reducer(A, "bad", l, l, l, ts_f32(A, 0)));
    assert_arena_error(A, TS_EINVAL, "reducer bad: lhs and rhs must be two distinct variables");
    assert_null(ts_reducer(A, "bad", l, r, ts_add(A, l, r), ts_i32(A, 0)));
    assert_arena_error(A, TS_EINVAL, "reducer bad: lhs, rhs, combined and identity must share "
                                     "one dtype");
    assert_null(ts_reducer(A, "bad", l, r, ts_add(A, l, r), ts_add(A, l, r)));
    assert_arena_error(A, TS_EINVAL, "reducer bad: the identity (l + r) is not a constant");
    TsReducer *ok = ts_reducer(A, "absmax", l, r, ts_max(A, ts_fabs(A, l), ts_fabs(A, r)),
                               ts_f32(A, 0));
    assert_non_null(ok);
    TsExpr *q = ts_at(A, f->q, ts_var(f->i));
    assert_null(ts_reduce(A, ok, q, 1, &f->k, NULL));
    assert_arena_error(A, TS_EINVAL, "reduction absmax: the reducer is float32 but the source "
                                     "Q[i] is int8");
}

static void test_null_propagates_first_error(void **state)
{
    Fixture *f = *state;
    TsArena *A = f->A;
    /* The first error is kept through a chain of builders that see NULL. */
    TsExpr *bad = ts_add(A, ts_var(f->i), ts_f32(A, 1));
    TsExpr *chain = ts_mul(A, ts_exp(A, bad), ts_f32(A, 2));
    TsAxis *i = ts_axis(A, "i", 3);
    assert_null(ts_compute(A, "B", 1, &i, chain));
    assert_null(chain);
    assert_arena_error(A, TS_EINVAL, "'+': mismatched dtypes int32 (i) and float32 (1.0f)");
    TsError err = { 0 };
    assert_int_equal(ts_arena_check(A, &err), TS_OK);
}

static void test_accessors(void **state)
{
    Fixture *f = *state;
    TsArena *A = f->A;
    TsAxis *i = ts_axis(A, "i", 4), *j = ts_axis(A, "j", 6);
    TsExpr *x = ts_at(A, f->a, ts_var(i), ts_var(j));
    TsTensor *b = ts_compute_tagged(A, "B", "scale", 2, (TsAxis *[]){ i, j },
                                    ts_add(A, x, ts_mul(A, x, x)));
    assert_non_null(b);
    assert_string_equal(ts_tensor_name(b), "B");
    assert_string_equal(ts_tensor_tag(b), "scale");
    assert_string_equal(ts_tensor_tag(f->a), "");
    assert_int_equal(ts_tensor_ndim(b), 2);
    assert_int_equal(ts_tensor_dim(b, 1), 6);
    assert_int_equal(ts_tensor_dim(b, 2), -1);
    assert_int_equal(ts_tensor_num_elements(b), 24);
    assert_int_equal(ts_tensor_num_inputs(b), 1); /* A, read three times */
    assert_ptr_equal(ts_tensor_input(b, 0), f->a);
    assert_ptr_equal(ts_tensor_axis(b, 1), j);
    assert_false(ts_tensor_is_placeholder(b));
    assert_true(ts_tensor_is_placeholder(f->a));
    assert_null(ts_tensor_body(f->a));
    assert_int_equal(ts_axis_extent(j), 6);
    assert_false(ts_axis_is_reduce(j));
    assert_true(ts_axis_is_reduce(f->k));
    TsTensor **stages;
    assert_int_equal(ts_dag_stages(A, 1, &b, &stages), 2);
    assert_ptr_equal(stages[0], f->a);
    assert_ptr_equal(stages[1], b);
    assert_int_equal(ts_dag_stages(A, 0, NULL, &stages), -1);
    assert_arena_error(A, TS_EINVAL, "DAG: no output tensors given");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_result_dtypes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mismatched_dtypes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_operand_kinds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_float16_is_storage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_constants, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_axes_and_shapes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_index_count, setup, teardown),
        cmocka_unit_test_setup_teardown(test_constant_index_out_of_range, setup, teardown),
        cmocka_unit_test_setup_teardown(test_axis_range_out_of_bounds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reduce_axis_outside_reduction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nested_reduction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreign_axes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_reductions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_reducers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_null_propagates_first_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_accessors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
