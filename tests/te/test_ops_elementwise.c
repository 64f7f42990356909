/* Tests of the elementwise operators: add, sub and mul with numpy broadcasting
 * ([3,1,5] with [4,1], a rank-0 operand, equal shapes, both sides broadcasting), relu,
 * clip (float, int8, uint8) and bias_add along positive and negative axes, against
 * naive C; and the errors for shapes that do not broadcast, mixed dtypes, bad bounds
 * and bad axes.
 *
 * One float32 operation rounds the same in C and in the interpreter, so float results
 * are compared exactly.
 */
#include "ops_testing.h"

#include <stdlib.h>

typedef TsTensor *(*BinaryOp)(TsArena *arena, TsTensor *a, TsTensor *b);

/* The numpy-broadcast reference: out's flat index -> the operand's flat index. */
static size_t broadcast_index(size_t flat, int out_ndim, const int64_t *out_shape, int ndim,
                              const int64_t *shape)
{
    size_t index = 0, stride = 1;
    for (int i = out_ndim - 1, j = ndim - 1; i >= 0; i--, j--) {
        int64_t coord = (int64_t)(flat % (size_t)out_shape[i]);
        flat /= (size_t)out_shape[i];
        if (j < 0)
            continue;
        index += (shape[j] == 1 ? 0 : (size_t)coord) * stride;
        stride *= (size_t)shape[j];
    }
    return index;
}

static float apply(char op, float a, float b)
{
    return op == '+' ? a + b : op == '-' ? a - b : a * b;
}

static void check_binary(BinaryOp build, char op, const char *name, int na, const int64_t *sa,
                         int nb, const int64_t *sb, int nout, const int64_t *sout, OpsRng *rng)
{
    TsArena *arena = ts_arena_create();
    TsTensor *a = ops_placeholder(arena, "a", TS_FLOAT32, na, sa);
    TsTensor *b = ops_placeholder(arena, "b", TS_FLOAT32, nb, sb);
    TsTensor *out = build(arena, a, b);
    ops_expect_built(arena, out);
    ops_expect_shape(out, nout, sout);
    ops_expect_tag(out, name, name);

    float *da = ops_random_buffer(rng, a), *db = ops_random_buffer(rng, b), *got = ops_buffer(out);
    size_t n = (size_t)ts_tensor_num_elements(out);
    float *want = calloc(n, sizeof *want);
    for (size_t i = 0; i < n; i++)
        want[i] = apply(op, da[broadcast_index(i, nout, sout, na, sa)],
                        db[broadcast_index(i, nout, sout, nb, sb)]);
    ops_evaluate(out, got, 2, (TsBinding[]){ { a, da }, { b, db } });
    ops_expect_f32_equal(got, want, n, name);
    free(da), free(db), free(got), free(want);
    ts_arena_destroy(arena);
}

static void check_all_binaries(int na, const int64_t *sa, int nb, const int64_t *sb, int nout,
                               const int64_t *sout, OpsRng *rng)
{
    check_binary(ts_op_add, '+', "add", na, sa, nb, sb, nout, sout, rng);
    check_binary(ts_op_sub, '-', "sub", na, sa, nb, sb, nout, sout, rng);
    check_binary(ts_op_mul, '*', "mul", na, sa, nb, sb, nout, sout, rng);
}

static void test_broadcasting(void **state)
{
    (void)state;
    OpsRng rng;
    ops_rng_seed(&rng, 31);
    check_all_binaries(3, (int64_t[]){ 3, 1, 5 }, 2, (int64_t[]){ 4, 1 }, 3, (int64_t[]){ 3, 4, 5 },
                       &rng);
    check_all_binaries(2, (int64_t[]){ 4, 1 }, 3, (int64_t[]){ 3, 1, 5 }, 3, (int64_t[]){ 3, 4, 5 },
                       &rng);
    check_all_binaries(2, (int64_t[]){ 2, 7 }, 2, (int64_t[]){ 2, 7 }, 2, (int64_t[]){ 2, 7 },
                       &rng);
    check_all_binaries(4, (int64_t[]){ 5, 1, 1, 3 }, 4, (int64_t[]){ 1, 4, 2, 1 }, 4,
                       (int64_t[]){ 5, 4, 2, 3 }, &rng);
    check_all_binaries(1, (int64_t[]){ 1 }, 2, (int64_t[]){ 5, 4 }, 2, (int64_t[]){ 5, 4 }, &rng);
    check_all_binaries(0, NULL, 2, (int64_t[]){ 3, 2 }, 2, (int64_t[]){ 3, 2 }, &rng);
}

/* int32 add wraps modulo 2^32, like the IR's integers. */
static void test_add_int32_wraps(void **state)
{
    (void)state;
    TsArena *arena = ts_arena_create();
    TsTensor *a = ops_placeholder(arena, "a", TS_INT32, 1, (int64_t[]){ 3 });
    TsTensor *b = ops_placeholder(arena, "b", TS_INT32, 1, (int64_t[]){ 1 });
    TsTensor *out = ts_op_add(arena, a, b);
    ops_expect_built(arena, out);
    int32_t da[3] = { INT32_MAX, -5, 7 }, db[1] = { 10 }, got[3];
    ops_evaluate(out, got, 2, (TsBinding[]){ { a, da }, { b, db } });
    ops_expect_i32_equal(got, (int64_t[]){ INT32_MIN + 9, 5, 17 }, 3, "int32 add");
    ts_arena_destroy(arena);
}

static void test_relu(void **state)
{
    (void)state;
    OpsRng rng;
    ops_rng_seed(&rng, 32);
    TsArena *arena = ts_arena_create();
    TsTensor *x = ops_placeholder(arena, "x", TS_FLOAT32, 3, (int64_t[]){ 2, 3, 7 });
    TsTensor *xi = ops_placeholder(arena, "xi", TS_INT8, 2, (int64_t[]){ 5, 3 });
    TsTensor *out = ts_op_relu(arena, x), *out_i = ts_op_relu(arena, xi);
    ops_expect_built(arena, out_i);
    ops_expect_tag(out, "relu", "relu");

    float *dx = ops_random_buffer(&rng, x), *got = ops_buffer(out), want[42];
    int8_t *dxi = ops_random_buffer(&rng, xi), *got_i = ops_buffer(out_i);
    int32_t got_i32[15];
    int64_t want_i[15];
    for (int i = 0; i < 42; i++)
        want[i] = dx[i] > 0.0f ? dx[i] : 0.0f;
    for (int i = 0; i < 15; i++)
        want_i[i] = dxi[i] > 0 ? dxi[i] : 0;
    ops_evaluate(out, got, 1, (TsBinding[]){ { x, dx } });
    ops_evaluate(out_i, got_i, 1, (TsBinding[]){ { xi, dxi } });
    for (int i = 0; i < 15; i++)
        got_i32[i] = got_i[i];
    ops_expect_f32_equal(got, want, 42, "relu float32");
    ops_expect_i32_equal(got_i32, want_i, 15, "relu int8");
    free(dx), free(got), free(dxi), free(got_i);
    ts_arena_destroy(arena);
}

static void test_clip(void **state)
{
    (void)state;
    OpsRng rng;
    ops_rng_seed(&rng, 33);
    TsArena *arena = ts_arena_create();
    TsTensor *x = ops_placeholder(arena, "x", TS_FLOAT32, 2, (int64_t[]){ 4, 9 });
    TsTensor *xi = ops_placeholder(arena, "xi", TS_INT8, 1, (int64_t[]){ 31 });
    TsTensor *xu = ops_placeholder(arena, "xu", TS_UINT8, 1, (int64_t[]){ 6 });
    TsTensor *out = ts_op_clip(arena, x, -0.25, 0.5);
    TsTensor *out_i = ts_op_clip(arena, xi, -3, 5);
    TsTensor *out_u = ts_op_clip(arena, xu, 2, 200);
    ops_expect_built(arena, out_u);
    ops_expect_tag(out, "clip", "clip");

    float *dx = ops_random_buffer(&rng, x), *got = ops_buffer(out), want[36];
    int8_t *dxi = ops_random_buffer(&rng, xi), got_i[31];
    uint8_t dxu[6] = { 0, 1, 2, 100, 200, 255 }, got_u[6];
    int32_t got32[31];
    int64_t want_i[31];
    for (int i = 0; i < 36; i++)
        want[i] = dx[i] < -0.25f ? -0.25f : dx[i] > 0.5f ? 0.5f : dx[i];
    for (int i = 0; i < 31; i++)
        want_i[i] = dxi[i] < -3 ? -3 : dxi[i] > 5 ? 5 : dxi[i];
    ops_evaluate(out, got, 1, (TsBinding[]){ { x, dx } });
    ops_evaluate(out_i, got_i, 1, (TsBinding[]){ { xi, dxi } });
    ops_evaluate(out_u, got_u, 1, (TsBinding[]){ { xu, dxu } });
    ops_expect_f32_equal(got, want, 36, "clip float32");
    for (int i = 0; i < 31; i++)
        got32[i] = got_i[i];
    ops_expect_i32_equal(got32, want_i, 31, "clip int8");
    ops_expect_bytes_equal(got_u, (uint8_t[]){ 2, 2, 2, 100, 200, 200 }, 6, "clip uint8");
    free(dx), free(got), free(dxi);
    ts_arena_destroy(arena);
}

static void check_bias_add(int ndim, const int64_t *shape, int axis, OpsRng *rng)
{
    TsArena *arena = ts_arena_create();
    int at = axis < 0 ? axis + ndim : axis;
    TsTensor *x = ops_placeholder(arena, "x", TS_FLOAT32, ndim, shape);
    TsTensor *bias = ops_placeholder(arena, "bias", TS_FLOAT32, 1, &shape[at]);
    TsTensor *out = ts_op_bias_add(arena, x, bias, axis);
    ops_expect_built(arena, out);
    ops_expect_shape(out, ndim, shape);
    ops_expect_tag(out, "bias_add", "bias_add");

    size_t n = (size_t)ts_tensor_num_elements(x), inner = 1;
    for (int i = at + 1; i < ndim; i++)
        inner *= (size_t)shape[i];
    float *dx = ops_random_buffer(rng, x), *db = ops_random_buffer(rng, bias);
    float *got = ops_buffer(out), *want = calloc(n, sizeof *want);
    for (size_t i = 0; i < n; i++)
        want[i] = dx[i] + db[(i / inner) % (size_t)shape[at]];
    ops_evaluate(out, got, 2, (TsBinding[]){ { x, dx }, { bias, db } });
    ops_expect_f32_equal(got, want, n, "bias_add");
    free(dx), free(db), free(got), free(want);
    ts_arena_destroy(arena);
}

static void test_bias_add(void **state)
{
    (void)state;
    OpsRng rng;
    ops_rng_seed(&rng, 34);
    check_bias_add(4, (int64_t[]){ 2, 3, 5, 4 }, 1, &rng);
    check_bias_add(4, (int64_t[]){ 2, 3, 5, 4 }, -1, &rng);
    check_bias_add(2, (int64_t[]){ 7, 11 }, 1, &rng);
    check_bias_add(2, (int64_t[]){ 7, 11 }, -2, &rng);
    check_bias_add(1, (int64_t[]){ 13 }, 0, &rng);
}

static void test_elementwise_errors(void **state)
{
    (void)state;
    TsArena *arena = ts_arena_create();
    TsTensor *a = ops_placeholder(arena, "a", TS_FLOAT32, 2, (int64_t[]){ 3, 5 });
    TsTensor *b = ops_placeholder(arena, "b", TS_FLOAT32, 2, (int64_t[]){ 4, 5 });
    TsTensor *ai = ops_placeholder(arena, "ai", TS_INT32, 2, (int64_t[]){ 3, 5 });
    TsTensor *a8 = ops_placeholder(arena, "a8", TS_INT8, 1, (int64_t[]){ 5 });
    TsTensor *au = ops_placeholder(arena, "au", TS_UINT8, 1, (int64_t[]){ 5 });
    TsTensor *flags = ops_placeholder(arena, "flags", TS_BOOL, 1, (int64_t[]){ 5 });
    TsTensor *half = ops_placeholder(arena, "half", TS_FLOAT16, 1, (int64_t[]){ 5 });
    TsTensor *bias4 = ops_placeholder(arena, "bias4", TS_FLOAT32, 1, (int64_t[]){ 4 });
    TsTensor *bias_i = ops_placeholder(arena, "bias_i", TS_INT32, 1, (int64_t[]){ 5 });

    ops_expect_error(
        arena, ts_op_add(arena, a, b),
        "add: cannot broadcast dimension 0 of a (extent 3) with dimension 0 of b (extent 4)");
    ops_expect_error(arena, ts_op_mul(arena, a, ai),
                     "mul: a 'a' has dtype float32 but b 'ai' has dtype int32");
    ops_expect_error(arena, ts_op_sub(arena, NULL, a), "sub: a is NULL");
    ops_expect_error(arena, ts_op_add(arena, flags, flags), "add: a 'flags' has dtype bool");
    ops_expect_error(arena, ts_op_relu(arena, half), "relu: data 'half' has dtype float16");
    ops_expect_error(arena, ts_op_clip(arena, a, 1.0, -1.0), "clip: lo 1 must be <= hi -1");
    ops_expect_error(arena, ts_op_clip(arena, a8, -3, 300),
                     "clip: hi 300 is not representable in int8");
    ops_expect_error(arena, ts_op_clip(arena, a8, -0.5, 3),
                     "clip: lo -0.5 is not representable in int8");
    ops_expect_error(arena, ts_op_clip(arena, au, -1, 3),
                     "clip: lo -1 is not representable in uint8");
    ops_expect_error(arena, ts_op_clip(arena, a, -1e300, 0),
                     "clip: lo -1e+300 is not representable in float32");
    ops_expect_error(arena, ts_op_bias_add(arena, a, bias4, 1),
                     "bias_add: bias 'bias4' has 4 elements, expected 5");
    ops_expect_error(arena, ts_op_bias_add(arena, a, bias4, 2),
                     "bias_add: axis 2 is outside [-2, 1] for rank 2");
    ops_expect_error(arena, ts_op_bias_add(arena, a, bias_i, -1),
                     "bias_add: bias 'bias_i' has dtype int32, expected float32");
    ops_expect_error(arena, ts_op_bias_add(arena, a, NULL, 0), "bias_add: bias is NULL");
    ts_arena_destroy(arena);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_broadcasting), cmocka_unit_test(test_add_int32_wraps),
        cmocka_unit_test(test_relu),         cmocka_unit_test(test_clip),
        cmocka_unit_test(test_bias_add),     cmocka_unit_test(test_elementwise_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
