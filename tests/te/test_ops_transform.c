/* Tests of the data-movement operators: pad (asymmetric, per-dimension, float with a
 * value and -inf, int8, no padding at all), reshape (-1, 0, added and removed unit
 * dimensions), flatten (every axis, negative too) and concat (three inputs along each
 * axis, one input, int32), against naive C; and the errors for bad pads, values that
 * the dtype cannot hold, shapes that do not match and bad axes.
 *
 * Data movement does no arithmetic, so results must match bit for bit.
 */
#include "ops_testing.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The row-major flat index of coords in shape. */
static size_t flat_index(int ndim, const int64_t *shape, const int64_t *coords)
{
    size_t index = 0;
    for (int i = 0; i < ndim; i++)
        index = index * (size_t)shape[i] + (size_t)coords[i];
    return index;
}

/* Steps coords through shape in row-major order; false after the last point. */
static bool next_point(int ndim, const int64_t *shape, int64_t *coords)
{
    for (int i = ndim - 1; i >= 0; i--) {
        if (++coords[i] < shape[i])
            return true;
        coords[i] = 0;
    }
    return false;
}

static void check_pad_f32(int ndim, const int64_t *shape, const int64_t *before,
                          const int64_t *after, float value, OpsRng *rng)
{
    TsArena *arena = ts_arena_create();
    TsTensor *x = ops_placeholder(arena, "x", TS_FLOAT32, ndim, shape);
    TsTensor *out = ts_op_pad(arena, x, before, after, value);
    ops_expect_built(arena, out);
    ops_expect_tag(out, "pad", "pad");
    int64_t out_shape[TS_MAX_DIMS], coords[TS_MAX_DIMS] = { 0 }, in_coords[TS_MAX_DIMS];
    for (int i = 0; i < ndim; i++)
        out_shape[i] = shape[i] + before[i] + after[i];
    ops_expect_shape(out, ndim, out_shape);

    size_t n = (size_t)ts_tensor_num_elements(out);
    float *dx = ops_random_buffer(rng, x), *got = ops_buffer(out), *want = calloc(n, sizeof *want);
    do {
        bool inside = true;
        for (int i = 0; i < ndim; i++) {
            in_coords[i] = coords[i] - before[i];
            inside = inside && in_coords[i] >= 0 && in_coords[i] < shape[i];
        }
        want[flat_index(ndim, out_shape, coords)] =
            inside ? dx[flat_index(ndim, shape, in_coords)] : value;
    } while (next_point(ndim, out_shape, coords));
    ops_evaluate(out, got, 1, (TsBinding[]){ { x, dx } });
    ops_expect_f32_equal(got, want, n, "pad");
    free(dx), free(got), free(want);
    ts_arena_destroy(arena);
}

static void test_pad(void **state)
{
    (void)state;
    OpsRng rng;
    ops_rng_seed(&rng, 51);
    check_pad_f32(3, (int64_t[]){ 2, 3, 4 }, (int64_t[]){ 0, 1, 2 }, (int64_t[]){ 1, 0, 3 }, 1.5f,
                  &rng);
    check_pad_f32(2, (int64_t[]){ 5, 1 }, (int64_t[]){ 3, 2 }, (int64_t[]){ 0, 2 }, -INFINITY,
                  &rng);
    check_pad_f32(2, (int64_t[]){ 2, 2 }, (int64_t[]){ 0, 0 }, (int64_t[]){ 0, 0 }, 9.0f, &rng);
    check_pad_f32(1, (int64_t[]){ 1 }, (int64_t[]){ 4 }, (int64_t[]){ 5 }, 0.0f, &rng);
}

static void test_pad_int8(void **state)
{
    (void)state;
    TsArena *arena = ts_arena_create();
    TsTensor *x = ops_placeholder(arena, "x", TS_INT8, 1, (int64_t[]){ 3 });
    TsTensor *out = ts_op_pad(arena, x, (int64_t[]){ 2 }, (int64_t[]){ 1 }, -128);
    ops_expect_built(arena, out);
    int8_t dx[3] = { 5, -6, 127 }, got[6];
    ops_evaluate(out, got, 1, (TsBinding[]){ { x, dx } });
    ops_expect_bytes_equal(got, (int8_t[]){ -128, -128, 5, -6, 127, -128 }, 6, "int8 pad");
    ts_arena_destroy(arena);
}

/* Reshape keeps the row-major order: the output's bytes are the input's. */
static void check_reshape(TsArena *arena, TsTensor *x, const float *dx, int ndim,
                          const int64_t *new_shape, int out_ndim, const int64_t *out_shape)
{
    TsTensor *out = ts_op_reshape(arena, x, ndim, new_shape);
    ops_expect_built(arena, out);
    ops_expect_shape(out, out_ndim, out_shape);
    ops_expect_tag(out, "reshape", "reshape");
    float *got = ops_buffer(out);
    ops_evaluate(out, got, 1, (TsBinding[]){ { x, (void *)dx } });
    ops_expect_bytes_equal(got, dx, (size_t)ts_tensor_num_elements(x) * sizeof *dx, "reshape");
    free(got);
}

static void test_reshape(void **state)
{
    (void)state;
    OpsRng rng;
    ops_rng_seed(&rng, 52);
    TsArena *arena = ts_arena_create();
    TsTensor *x = ops_placeholder(arena, "x", TS_FLOAT32, 3, (int64_t[]){ 2, 3, 4 });
    float *dx = ops_random_buffer(&rng, x);
    check_reshape(arena, x, dx, 2, (int64_t[]){ 4, -1 }, 2, (int64_t[]){ 4, 6 });
    check_reshape(arena, x, dx, 2, (int64_t[]){ 0, 12 }, 2, (int64_t[]){ 2, 12 });
    check_reshape(arena, x, dx, 1, (int64_t[]){ -1 }, 1, (int64_t[]){ 24 });
    check_reshape(arena, x, dx, 5, (int64_t[]){ 1, 2, 1, 12, 1 }, 5, (int64_t[]){ 1, 2, 1, 12, 1 });
    check_reshape(arena, x, dx, 3, (int64_t[]){ 0, 0, -1 }, 3, (int64_t[]){ 2, 3, 4 });
    check_reshape(arena, x, dx, 3, (int64_t[]){ 4, 3, 2 }, 3, (int64_t[]){ 4, 3, 2 });
    check_reshape(arena, x, dx, 4, (int64_t[]){ 3, 1, -1, 2 }, 4, (int64_t[]){ 3, 1, 4, 2 });
    free(dx);
    ts_arena_destroy(arena);
}

/* A one-element tensor reshapes to rank 0 (a scalar) and back. */
static void test_reshape_scalar(void **state)
{
    (void)state;
    TsArena *arena = ts_arena_create();
    TsTensor *x = ops_placeholder(arena, "x", TS_FLOAT32, 2, (int64_t[]){ 1, 1 });
    TsTensor *scalar = ts_op_reshape(arena, x, 0, NULL);
    TsTensor *back = ts_op_reshape(arena, scalar, 3, (int64_t[]){ 1, -1, 1 });
    ops_expect_built(arena, back);
    assert_int_equal(ts_tensor_ndim(scalar), 0);
    ops_expect_shape(back, 3, (int64_t[]){ 1, 1, 1 });
    float dx[1] = { -2.5f }, got[1] = { 0.0f };
    ops_evaluate(back, got, 1, (TsBinding[]){ { x, dx } });
    ops_expect_f32_equal(got, dx, 1, "reshape through a scalar");
    ts_arena_destroy(arena);
}

static void check_flatten(TsArena *arena, TsTensor *x, const float *dx, int axis, int64_t rows,
                          int64_t cols)
{
    TsTensor *out = ts_op_flatten(arena, x, axis);
    ops_expect_built(arena, out);
    ops_expect_shape(out, 2, (int64_t[]){ rows, cols });
    ops_expect_tag(out, "flatten", "flatten");
    float *got = ops_buffer(out);
    ops_evaluate(out, got, 1, (TsBinding[]){ { x, (void *)dx } });
    ops_expect_bytes_equal(got, dx, (size_t)(rows * cols) * sizeof *dx, "flatten");
    free(got);
}

static void test_flatten(void **state)
{
    (void)state;
    OpsRng rng;
    ops_rng_seed(&rng, 53);
    TsArena *arena = ts_arena_create();
    TsTensor *x = ops_placeholder(arena, "x", TS_FLOAT32, 3, (int64_t[]){ 2, 3, 5 });
    float *dx = ops_random_buffer(&rng, x);
    check_flatten(arena, x, dx, 0, 1, 30);
    check_flatten(arena, x, dx, 1, 2, 15);
    check_flatten(arena, x, dx, 2, 6, 5);
    check_flatten(arena, x, dx, 3, 30, 1);
    check_flatten(arena, x, dx, -1, 6, 5);
    check_flatten(arena, x, dx, -3, 1, 30);
    free(dx);
    ts_arena_destroy(arena);
}

/* Concatenates inputs of shape[k] (all rank ndim) along axis with naive block copies. */
static void check_concat(int num, int ndim, const int64_t (*shapes)[3], int axis, OpsRng *rng)
{
    TsArena *arena = ts_arena_create();
    int at = axis < 0 ? axis + ndim : axis;
    TsTensor *in[4];
    float *data[4];
    TsBinding bind[4];
    int64_t out_shape[3];
    memcpy(out_shape, shapes[0], sizeof out_shape);
    out_shape[at] = 0;
    for (int k = 0; k < num; k++) {
        in[k] = ops_placeholder(arena, "in", TS_FLOAT32, ndim, shapes[k]);
        data[k] = ops_random_buffer(rng, in[k]);
        bind[k] = (TsBinding){ in[k], data[k] };
        out_shape[at] += shapes[k][at];
    }
    TsTensor *out = ts_op_concat(arena, num, in, axis);
    ops_expect_built(arena, out);
    ops_expect_shape(out, ndim, out_shape);
    ops_expect_tag(out, "concat", "concat");

    size_t n = (size_t)ts_tensor_num_elements(out), outer = 1, pos = 0;
    float *got = ops_buffer(out), *want = calloc(n, sizeof *want);
    for (int i = 0; i < at; i++)
        outer *= (size_t)out_shape[i];
    for (size_t o = 0; o < outer; o++) {
        for (int k = 0; k < num; k++) {
            size_t block = 1;
            for (int i = at; i < ndim; i++)
                block *= (size_t)shapes[k][i];
            memcpy(want + pos, data[k] + o * block, block * sizeof *want);
            pos += block;
        }
    }
    assert_int_equal(pos, n);
    ops_evaluate(out, got, num, bind);
    ops_expect_f32_equal(got, want, n, "concat");
    for (int k = 0; k < num; k++)
        free(data[k]);
    free(got), free(want);
    ts_arena_destroy(arena);
}

static void test_concat(void **state)
{
    (void)state;
    OpsRng rng;
    ops_rng_seed(&rng, 54);
    check_concat(3, 3, (const int64_t[][3]){ { 2, 3, 4 }, { 2, 1, 4 }, { 2, 5, 4 } }, 1, &rng);
    check_concat(3, 3, (const int64_t[][3]){ { 2, 3, 4 }, { 2, 1, 4 }, { 2, 5, 4 } }, -2, &rng);
    check_concat(3, 3, (const int64_t[][3]){ { 1, 3, 2 }, { 4, 3, 2 }, { 2, 3, 2 } }, 0, &rng);
    check_concat(2, 3, (const int64_t[][3]){ { 2, 3, 1 }, { 2, 3, 6 } }, -1, &rng);
    check_concat(4, 3, (const int64_t[][3]){ { 1, 1, 1 }, { 1, 1, 2 }, { 1, 1, 3 }, { 1, 1, 1 } },
                 2, &rng);
    check_concat(1, 3, (const int64_t[][3]){ { 3, 2, 2 } }, 1, &rng);
}

static void test_concat_int32(void **state)
{
    (void)state;
    TsArena *arena = ts_arena_create();
    TsTensor *a = ops_placeholder(arena, "a", TS_INT32, 2, (int64_t[]){ 2, 1 });
    TsTensor *b = ops_placeholder(arena, "b", TS_INT32, 2, (int64_t[]){ 2, 2 });
    TsTensor *out = ts_op_concat(arena, 2, (TsTensor *[]){ a, b }, 1);
    ops_expect_built(arena, out);
    int32_t da[2] = { 1, 2 }, db[4] = { 3, 4, 5, 6 }, got[6];
    ops_evaluate(out, got, 2, (TsBinding[]){ { a, da }, { b, db } });
    ops_expect_i32_equal(got, (int64_t[]){ 1, 3, 4, 2, 5, 6 }, 6, "int32 concat");
    ts_arena_destroy(arena);
}

static void test_pad_errors(void **state)
{
    (void)state;
    TsArena *arena = ts_arena_create();
    TsTensor *x = ops_placeholder(arena, "x", TS_FLOAT32, 2, (int64_t[]){ 2, 3 });
    TsTensor *xi = ops_placeholder(arena, "xi", TS_INT8, 1, (int64_t[]){ 4 });
    TsTensor *xb = ops_placeholder(arena, "xb", TS_BOOL, 1, (int64_t[]){ 4 });
    const int64_t zero[2] = { 0, 0 }, one[2] = { 1, 1 };

    ops_expect_error(arena, ts_op_pad(arena, x, (int64_t[]){ 0, -1 }, one, 0.0),
                     "pad: pad_before[1] = -1 is outside [0, ");
    ops_expect_error(arena, ts_op_pad(arena, x, zero, (int64_t[]){ -2, 0 }, 0.0),
                     "pad: pad_after[0] = -2");
    ops_expect_error(arena, ts_op_pad(arena, x, NULL, one, 0.0), "pad: pad_before is NULL");
    ops_expect_error(arena, ts_op_pad(arena, x, one, NULL, 0.0), "pad: pad_after is NULL");
    ops_expect_error(arena, ts_op_pad(arena, xi, one, one, 1000.0),
                     "pad: pad_value 1000 is not representable in int8");
    ops_expect_error(arena, ts_op_pad(arena, xi, one, one, 0.5),
                     "pad: pad_value 0.5 is not representable in int8");
    ops_expect_error(arena, ts_op_pad(arena, xi, one, one, NAN), "pad: pad_value nan");
    ops_expect_error(arena, ts_op_pad(arena, xb, one, one, 2.0),
                     "pad: pad_value 2 is not representable in bool");
    ops_expect_error(arena, ts_op_pad(arena, x, one, (int64_t[]){ 0, INT32_MAX }, 0.0),
                     "pad: padded extent 2147483651 of dimension 1 exceeds 2147483647");
    ops_expect_error(arena, ts_op_pad(arena, NULL, one, one, 0.0), "pad: data is NULL");
    ts_arena_destroy(arena);
}

static void test_reshape_errors(void **state)
{
    (void)state;
    TsArena *arena = ts_arena_create();
    TsTensor *x = ops_placeholder(arena, "x", TS_FLOAT32, 3, (int64_t[]){ 2, 3, 4 });

    ops_expect_error(arena, ts_op_reshape(arena, x, 2, (int64_t[]){ -1, -1 }),
                     "reshape: new_shape has more than one -1 (at 0 and 1)");
    ops_expect_error(arena, ts_op_reshape(arena, x, 2, (int64_t[]){ 5, 5 }),
                     "reshape: new shape has 25 elements, data has 24");
    ops_expect_error(arena, ts_op_reshape(arena, x, 4, (int64_t[]){ 0, 0, 0, 0 }),
                     "reshape: new_shape[3] = 0 is not -1, 0 (within the input's rank 3)");
    ops_expect_error(arena, ts_op_reshape(arena, x, 2, (int64_t[]){ -2, 12 }),
                     "reshape: new_shape[0] = -2");
    ops_expect_error(arena, ts_op_reshape(arena, x, 2, (int64_t[]){ -1, 5 }),
                     "reshape: cannot infer new_shape[0]: 24 elements");
    ops_expect_error(arena, ts_op_reshape(arena, x, 9, (int64_t[]){ 1, 1, 1, 1, 1, 1, 1, 1, 24 }),
                     "reshape: new_shape has rank 9");
    ops_expect_error(arena, ts_op_reshape(arena, x, 0, NULL),
                     "reshape: new shape has 1 elements, data has 24");
    ops_expect_error(arena, ts_op_reshape(arena, x, 2, NULL), "reshape: new_shape is NULL");
    ops_expect_error(arena, ts_op_flatten(arena, x, 4), "flatten: axis 4 is outside [-3, 3]");
    ops_expect_error(arena, ts_op_flatten(arena, x, -4), "flatten: axis -4");
    ops_expect_error(arena, ts_op_flatten(arena, NULL, 1), "flatten: data is NULL");
    ts_arena_destroy(arena);
}

static void test_concat_errors(void **state)
{
    (void)state;
    TsArena *arena = ts_arena_create();
    TsTensor *a = ops_placeholder(arena, "a", TS_FLOAT32, 3, (int64_t[]){ 2, 3, 4 });
    TsTensor *b = ops_placeholder(arena, "b", TS_INT32, 3, (int64_t[]){ 2, 3, 4 });
    TsTensor *c = ops_placeholder(arena, "c", TS_FLOAT32, 3, (int64_t[]){ 2, 3, 5 });
    TsTensor *d = ops_placeholder(arena, "d", TS_FLOAT32, 2, (int64_t[]){ 2, 3 });

    ops_expect_error(arena, ts_op_concat(arena, 2, (TsTensor *[]){ a, b }, 0),
                     "concat: input 1 'b' has dtype int32 but input 0 'a' has dtype float32");
    ops_expect_error(arena, ts_op_concat(arena, 3, (TsTensor *[]){ a, a, c }, 1),
                     "concat: input 2 'c' has extent 5 at dimension 2, input 0 'a' has 4");
    ops_expect_error(arena, ts_op_concat(arena, 2, (TsTensor *[]){ a, d }, 0),
                     "concat: input 1 'd' has rank 2, expected 3");
    ops_expect_error(arena, ts_op_concat(arena, 2, (TsTensor *[]){ a, c }, 3),
                     "concat: axis 3 is outside [-3, 2] for rank 3");
    ops_expect_error(arena, ts_op_concat(arena, 0, (TsTensor *[]){ a }, 0),
                     "concat: needs at least one input, got 0");
    ops_expect_error(arena, ts_op_concat(arena, 2, (TsTensor *[]){ a, NULL }, 0),
                     "concat: input 1 is NULL");
    ts_arena_destroy(arena);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pad),
        cmocka_unit_test(test_pad_int8),
        cmocka_unit_test(test_reshape),
        cmocka_unit_test(test_reshape_scalar),
        cmocka_unit_test(test_flatten),
        cmocka_unit_test(test_concat),
        cmocka_unit_test(test_concat_int32),
        cmocka_unit_test(test_pad_errors),
        cmocka_unit_test(test_reshape_errors),
        cmocka_unit_test(test_concat_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
