/* The graph builder's layout-transform kernels (relay_lite/build_transform.c): a blocked
 * value unpacked to NCHW, an NCHW value packed, and a repack between two blocks. Each
 * lowered loop nest is checked for its order (the unpack walks rows outside channels,
 * so it reads the blocked input along its layout, one tile of a block of channels by a
 * vector of columns at a time), for indices free of divisions, and for its values: the
 * loop interpreter against the reference interpreter, with a column count that no
 * vector divides. Also the generic schedule of an NCHW pool (build_kernel.c): its window
 * loops outside a vector of output columns. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "relay_lite/rly_build.h"
#include "tessera/ops.h"
#include "tessera/schedule.h"

typedef struct Lowered {
    TsArena *arena;
    TsTensor *in, *out;
    const char *text;
} Lowered;

/* out = transform(in) scheduled by rly_schedule_layout for a 256-bit target, lowered,
 * run by the loop interpreter and compared with the reference interpreter. */
static Lowered lower_with(TsArena *arena, TsTensor *in, TsTensor *out, bool generic)
{
    RlyBuild b;
    memset(&b, 0, sizeof b);
    b.arena = arena;
    b.isa.vector_bits = 256;
    b.isa.num_cores = 2;
    TsError err;
    assert_int_equal(ts_arena_check(arena, &err), TS_OK);
    TsSchedule *sch = ts_schedule_create(arena, 1, &out);
    assert_non_null(sch);
    TsStatus st = generic ? rly_schedule_generic(&b, sch, 1, &out, &err)
                          : rly_schedule_layout(&b, sch, out, in, &err);
    if (st != TS_OK)
        fail_msg("schedule: %s", err.message);
    TsLoweredFunc *func;
    if (ts_lower(sch, "transform", &func, &err) != TS_OK)
        fail_msg("lower: %s", err.message);
    int64_t n_in = ts_tensor_num_elements(in), n_out = ts_tensor_num_elements(out);
    float *x = malloc(sizeof(float) * (size_t)n_in);
    float *want = malloc(sizeof(float) * (size_t)n_out),
          *got = calloc((size_t)n_out, sizeof(float));
    for (int64_t i = 0; i < n_in; i++)
        x[i] = (float)i;
    TsBinding ref[] = { { in, x }, { out, want } }, run[] = { { in, x }, { out, got } };
    assert_int_equal(ts_evaluate(1, &out, 2, ref, &err), TS_OK);
    if (ts_lowered_run(func, 2, run, &err) != TS_OK)
        fail_msg("run: %s", err.message);
    assert_memory_equal(got, want, sizeof(float) * (size_t)n_out);
    free(x);
    free(want);
    free(got);
    return (Lowered){ arena, in, out, ts_lowered_str(arena, func) };
}

static Lowered lower_checked(TsArena *arena, TsTensor *in, TsTensor *out)
{
    return lower_with(arena, in, out, false);
}

static const char *find(const char *text, const char *needle)
{
    const char *at = strstr(text, needle);
    if (!at)
        fail_msg("no \"%s\" in\n%s", needle, text);
    return at;
}

static void test_unpack_reads_along_blocks(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    TsTensor *in = ts_placeholder(A, "in", 5, (int64_t[]){ 1, 2, 5, 19, 16 }, TS_FLOAT32);
    Lowered l = lower_checked(A, in, ts_op_nchwc_unpack(A, in));
    /* rows outside the block's channels, a vector of columns innermost */
    const char *rows = find(l.text, "for (y"), *cols = find(l.text, "for (x.outer");
    const char *lanes = find(l.text, "for (c.inner");
    assert_true(rows < cols && cols < lanes);
    assert_null(strstr(l.text, "for (x.inner"));
    assert_null(strstr(l.text, "floordiv"));
    assert_null(strstr(l.text, "floormod"));
    /* the store is one contiguous vector of a channel's columns */
    assert_non_null(strstr(l.text, "data_nchw[ramp("));
    assert_non_null(strstr(l.text, ", 1, 8)] = in[ramp("));
    ts_arena_destroy(A);
}

static void test_pack_and_repack(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    /* NCHW -> 16 channels a block: one contiguous store per position */
    TsTensor *x = ts_placeholder(A, "x", 4, (int64_t[]){ 1, 32, 3, 7 }, TS_FLOAT32);
    Lowered l = lower_checked(A, x, ts_op_nchwc_pack(A, x, 16));
    assert_null(strstr(l.text, "floordiv"));
    assert_non_null(strstr(l.text, "data_nchwc[ramp("));
    /* blocks of 16 -> 8 and 8 -> 16: the blocks nest, so no index divides */
    TsTensor *b16 = ts_placeholder(A, "b16", 5, (int64_t[]){ 1, 2, 3, 7, 16 }, TS_FLOAT32);
    l = lower_checked(A, b16, ts_op_nchwc_pack(A, ts_op_nchwc_unpack(A, b16), 8));
    assert_null(strstr(l.text, "floordiv"));
    assert_null(strstr(l.text, "floormod"));
    TsTensor *b8 = ts_placeholder(A, "b8", 5, (int64_t[]){ 1, 4, 3, 7, 8 }, TS_FLOAT32);
    l = lower_checked(A, b8, ts_op_nchwc_pack(A, ts_op_nchwc_unpack(A, b8), 16));
    assert_null(strstr(l.text, "floordiv"));
    assert_null(strstr(l.text, "floormod"));
    /* 16 -> 1 (NCHW in five dimensions): the unpack's tile */
    l = lower_checked(A, b16, ts_op_nchwc_pack(A, ts_op_nchwc_unpack(A, b16), 1));
    assert_null(strstr(l.text, "floordiv"));
    /* blocks that do not nest (12 and 8) still convert correctly */
    TsTensor *b12 = ts_placeholder(A, "b12", 5, (int64_t[]){ 1, 2, 3, 5, 12 }, TS_FLOAT32);
    lower_checked(A, b12, ts_op_nchwc_pack(A, ts_op_nchwc_unpack(A, b12), 8));
    ts_arena_destroy(A);
}

/* A max pool 3x3 stride 2 with padding over 21 columns (11 out: a vector and a tail). */
static void test_generic_pool_vectors(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    TsTensor *x = ts_placeholder(A, "x", 4, (int64_t[]){ 1, 3, 9, 21 }, TS_FLOAT32);
    TsPool2dAttrs attrs = ts_pool2d_attrs_default(TS_POOL_MAX, 3, 3);
    attrs.stride[0] = attrs.stride[1] = 2;
    for (int i = 0; i < 4; i++)
        attrs.padding[i] = 1;
    TsTensor *y = ts_op_pool2d(A, x, &attrs);
    Lowered l = lower_with(A, x, y, true);
    /* the window's loops enclose the vector of columns, which leaves no loop of its own */
    const char *window = strstr(l.text, "for (r");
    if (!window)
        window = find(l.text, "for (k");
    assert_non_null(strstr(window, "ramp("));
    assert_non_null(strstr(l.text, ", 8)]"));
    ts_arena_destroy(A);
}

static void test_not_a_transform(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    RlyBuild b;
    memset(&b, 0, sizeof b);
    b.arena = A;
    b.isa.vector_bits = 256;
    b.isa.num_cores = 1;
    TsTensor *x = ts_placeholder(A, "x", 2, (int64_t[]){ 4, 4 }, TS_FLOAT32);
    TsTensor *y = ts_op_relu(A, x);
    TsSchedule *sch = ts_schedule_create(A, 1, &y);
    TsError err;
    assert_int_equal(rly_schedule_layout(&b, sch, y, x, &err), TS_EINVAL);
    assert_non_null(strstr(err.message, "no layout transform between NCHW and NCHW[x]c"));
    ts_arena_destroy(A);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unpack_reads_along_blocks),
        cmocka_unit_test(test_pack_and_repack),
        cmocka_unit_test(test_generic_pool_vectors),
        cmocka_unit_test(test_not_a_transform),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
