/* Lowered graph nodes compiled, not only interpreted: representative nodes (padding and
 * convolution, transposed convolution's conditional reduction, Resize's float64 coordinate
 * arithmetic, Gather's index casts, reflect padding, layer normalization's five stages,
 * Softmax, erf, Pow with an integer exponent, a saturating Cast, batched MatMul, Gemm's
 * epilogue, Clip by tensors, a strided Slice) are lowered by rly_lower_node, given the
 * default schedule (and, for the elementwise ones, a vectorized innermost loop with a
 * tail), JIT-compiled for the host and run through the packed ABI on random inputs; the
 * outputs must equal the reference interpreter's (tests/codegen/cg_testing.c). This
 * catches what only the interpreter handles. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "cg_testing.h"
#include "lower_testing.h"
#include "relay_testing.h"

enum { FLOAT = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, INT64 = ONNX__TENSOR_PROTO__DATA_TYPE__INT64 };

/* Index tensors (int64) in [-3, 2]: valid, negative ones included, for an axis of 3 or
 * more; everything else as the default filler. */
static void fill(CgtRng *rng, const TsTensor *t, void *data)
{
    if (!ts_dtype_eq(ts_tensor_dtype(t), TS_INT64)) {
        cgt_fill_default(rng, t, data);
        return;
    }
    for (int64_t k = 0; k < ts_tensor_num_elements(t); k++)
        ((int64_t *)data)[k] = cgt_rng_int(rng, -3, 2);
}

/* Imports, lowers, compiles and checks output 0; vector_width > 1 also splits the output
 * stage's innermost axis by it and vectorizes the inner part. */
static void check_compiled(ModelBuilder *mb, const char *name, int vector_width)
{
    TsGraph *graph = import_model(mb, NULL);
    TsArena *arena = ts_arena_create();
    LoweredGraph lg;
    TsError err;
    cgt_ok(lt_lower_graph(arena, graph, &lg, &err), &err);
    TsSchedule *sch = ts_schedule_create(arena, 1, lg.outputs);
    assert_non_null(sch);
    if (vector_width > 1) {
        TsStage *stage = ts_stage(sch, lg.outputs[0]);
        int ndim = ts_tensor_ndim(lg.outputs[0]);
        TsAxis *outer, *inner;
        cgt_ok(ts_split(stage, ts_stage_root_axis(stage, ndim - 1), vector_width, &outer, &inner,
                        &err),
               &err);
        cgt_ok(ts_vectorize(stage, inner, &err), &err);
    }
    cgt_check_schedule(sch, name, 1, lg.outputs, 42, fill);
    ts_arena_destroy(arena);
    ts_graph_free(graph);
}

static ModelBuilder *model(int64_t opset, int ndim, const int64_t *dims)
{
    ModelBuilder *mb = mb_new(opset);
    mb_input(mb, "x", FLOAT, ndim, dims);
    mb_output(mb, "y");
    return mb;
}

static void test_conv_and_conv_transpose(void **state)
{
    (void)state;
    ModelBuilder *mb = model(13, 3, I64S(1, 4, 11));
    mb_input(mb, "w", FLOAT, 3, I64S(6, 2, 3));
    Onnx__NodeProto *n = mb_node(mb, "Conv", "x,w", "y");
    mb_attr_int(mb, n, "group", 2);
    mb_attr_ints(mb, n, "dilations", NV(2));
    mb_attr_string(mb, n, "auto_pad", "SAME_UPPER");
    check_compiled(mb, "conv1d_same", 1);
    mb = model(13, 4, I64S(1, 4, 3, 5));
    mb_input(mb, "w", FLOAT, 4, I64S(4, 3, 3, 2));
    n = mb_node(mb, "ConvTranspose", "x,w", "y");
    mb_attr_int(mb, n, "group", 2);
    mb_attr_ints(mb, n, "strides", NV(2, 3));
    mb_attr_ints(mb, n, "pads", NV(1, 0, 0, 1));
    mb_attr_ints(mb, n, "output_padding", NV(1, 1));
    check_compiled(mb, "conv_transpose", 1);
}

static void test_resize(void **state)
{
    (void)state;
    static const char *const coords[] = { "half_pixel", "align_corners", "half_pixel_symmetric" };
    for (int k = 0; k < 3; k++) {
        ModelBuilder *mb = model(19, 4, I64S(1, 2, 5, 6));
        mb_init_f32_values(mb, "scales", 4, F32S(1, 1, 1.7f, 0.65f));
        Onnx__NodeProto *n = mb_node(mb, "Resize", "x,,scales", "y");
        mb_attr_string(mb, n, "mode", k == 2 ? "nearest" : "linear");
        mb_attr_string(mb, n, "coordinate_transformation_mode", coords[k]);
        if (k == 2)
            mb_attr_string(mb, n, "nearest_mode", "round_prefer_ceil");
        check_compiled(mb, "resize", k == 0 ? 1 : 2);
    }
}

static void test_gather_pad_slice(void **state)
{
    (void)state;
    ModelBuilder *mb = model(13, 3, I64S(2, 5, 3));
    mb_input(mb, "i", INT64, 2, I64S(2, 3));
    Onnx__NodeProto *n = mb_node(mb, "Gather", "x,i", "y");
    mb_attr_int(mb, n, "axis", 1);
    check_compiled(mb, "gather", 1);
    mb = model(13, 2, I64S(3, 4));
    mb_init_i64(mb, "pads", 4, I64S(2, 5, 1, -1));
    n = mb_node(mb, "Pad", "x,pads", "y");
    mb_attr_string(mb, n, "mode", "reflect");
    check_compiled(mb, "pad_reflect", 4);
    mb = model(13, 3, I64S(6, 7, 5));
    mb_init_i64(mb, "starts", 2, I64S(-1, 6));
    mb_init_i64(mb, "ends", 2, I64S(-100, 0));
    mb_init_i64(mb, "axes", 2, I64S(2, 1));
    mb_init_i64(mb, "steps", 2, I64S(-2, -3));
    mb_node(mb, "Slice", "x,starts,ends,axes,steps", "y");
    check_compiled(mb, "slice", 1);
}

static void test_normalizations(void **state)
{
    (void)state;
    ModelBuilder *mb = model(17, 3, I64S(2, 3, 8));
    mb_input(mb, "s", FLOAT, 1, I64S(8));
    mb_input(mb, "b", FLOAT, 1, I64S(8));
    mb_node(mb, "LayerNormalization", "x,s,b", "y");
    check_compiled(mb, "layer_norm", 1);
    mb = model(13, 3, I64S(2, 3, 8));
    Onnx__NodeProto *n = mb_node(mb, "Softmax", "x", "y");
    mb_attr_int(mb, n, "axis", 1);
    check_compiled(mb, "softmax", 1);
    mb = model(18, 3, I64S(2, 3, 8));
    mb_init_i64(mb, "axes", 2, I64S(0, -1));
    mb_node(mb, "ReduceMean", "x,axes", "y");
    check_compiled(mb, "reduce_mean", 1);
}

static void test_elementwise(void **state)
{
    (void)state;
    ModelBuilder *mb = model(20, 2, I64S(3, 11));
    Onnx__NodeProto *n = mb_node(mb, "Gelu", "x", "y");
    (void)n;
    check_compiled(mb, "gelu_erf", 4);
    mb = model(15, 2, I64S(3, 11));
    mb_input(mb, "e", INT64, 1, I64S(11));
    mb_node(mb, "Pow", "x,e", "y");
    check_compiled(mb, "pow_int_exponent", 4);
    mb = model(13, 2, I64S(3, 11));
    mb_init_f32_values(mb, "k", 1, F32S(3e9f));
    mb_node(mb, "Mul", "x,k", "m");
    n = mb_node(mb, "Cast", "m", "y");
    mb_attr_int(mb, n, "to", ONNX__TENSOR_PROTO__DATA_TYPE__INT32);
    check_compiled(mb, "cast_saturating", 4);
    mb = model(13, 2, I64S(3, 11));
    mb_input(mb, "lo", FLOAT, 0, NULL);
    mb_input(mb, "hi", FLOAT, 1, I64S(1));
    mb_node(mb, "Clip", "x,lo,hi", "y");
    check_compiled(mb, "clip_tensors", 4);
    mb = model(13, 4, I64S(2, 1, 3, 4));
    mb_input(mb, "b", FLOAT, 3, I64S(3, 4, 5));
    mb_node(mb, "MatMul", "x,b", "y");
    check_compiled(mb, "batch_matmul", 1);
    mb = model(13, 2, I64S(4, 3));
    mb_input(mb, "b", FLOAT, 2, I64S(5, 3));
    mb_input(mb, "c", FLOAT, 1, I64S(5));
    n = mb_node(mb, "Gemm", "x,b,c", "y");
    mb_attr_int(mb, n, "transB", 1);
    mb_attr_float(mb, n, "alpha", 0.5f);
    mb_attr_float(mb, n, "beta", -2.0f);
    check_compiled(mb, "gemm", 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_and_conv_transpose),
        cmocka_unit_test(test_resize),
        cmocka_unit_test(test_gather_pad_slice),
        cmocka_unit_test(test_normalizations),
        cmocka_unit_test(test_elementwise),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
