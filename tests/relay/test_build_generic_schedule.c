/* The graph builder's generic schedule (relay_lite/build_kernel.c) on elementwise DAGs,
 * checked on the lowered loop nest: an output whose last dimension holds a vector is
 * vectorized along that dimension alone (its tail masked) with the other dimensions
 * fused into one parallel loop, so stores are contiguous and no index is divided back
 * into coordinates; a narrower last dimension gets the fused, split loop; producers are
 * inlined (no intermediate buffer). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "relay_lite/rly_build.h"
#include "tessera/ops.h"
#include "tessera/schedule.h"

static int count(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* relu(x + y) over shape, generically scheduled and lowered on a 512-bit target with two
 * cores; returns the loop nest's text. */
static const char *lowered_relu_add(TsArena *A, int ndim, const int64_t *shape)
{
    RlyBuild b = { .arena = A };
    TsError err = { 0 };
    assert_int_equal(ts_template_target_init(&b.isa, "x86_64", ",avx512f,", NULL, 2, &err), TS_OK);
    TsTensor *x = ts_placeholder(A, "x", ndim, shape, TS_FLOAT32);
    TsTensor *y = ts_placeholder(A, "y", ndim, shape, TS_FLOAT32);
    TsTensor *out = ts_op_relu(A, ts_op_add(A, x, y));
    assert_non_null(out);
    TsSchedule *sch = ts_schedule_create(A, 1, &out);
    assert_int_equal(rly_schedule_generic(&b, sch, 1, &out, &err), TS_OK);
    TsLoweredFunc *func;
    TsStatus st = ts_lower(sch, "k", &func, &err);
    if (st != TS_OK)
        fail_msg("%s", err.message);
    assert_int_equal(ts_lowered_num_args(func), 3); /* x, y, out: no intermediate */
    const char *text = ts_lowered_str(A, func);
    print_message("%s\n", text);
    return text;
}

/* [2, 3, 5, 40]: below the parallel threshold, so plain loops over the outer dimensions;
 * 40 = 2 vectors of 16 and a tail of 8, stored as one 8-lane vector; every access a
 * contiguous ramp, no division or remainder in any index. */
static void test_last_dimension_vectorized(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    const char *text = lowered_relu_add(A, 4, (int64_t[]){ 2, 3, 5, 40 });
    assert_non_null(strstr(text, "for (i3.outer, 0, 2)"));
    assert_int_equal(count(text, "for ("), 4);
    assert_int_equal(count(text, "parallel"), 0);
    assert_int_equal(count(text, ", 1, 16)]"), 3);
    assert_int_equal(count(text, ", 1, 8)]"), 3);
    assert_null(strstr(text, " / "));
    assert_null(strstr(text, " % "));
    ts_arena_destroy(A);
}

/* [8, 64, 130]: large enough for the thread pool, so [8, 64] is fused into one parallel
 * loop of 512 and 130 vectorized alone (8 vectors and a tail of 2); the rows are
 * contiguous, so the fused index needs no division at all. */
static void test_outer_dimensions_fused_parallel(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    const char *text = lowered_relu_add(A, 3, (int64_t[]){ 8, 64, 130 });
    assert_int_equal(count(text, "parallel"), 1);
    assert_non_null(strstr(text, ", 0, 512)"));
    assert_non_null(strstr(text, ", 0, 8)"));
    assert_int_equal(count(text, ", 1, 16)]"), 3);
    assert_int_equal(count(text, ", 1, 2)]"), 3);
    assert_null(strstr(text, " / "));
    assert_null(strstr(text, " % "));
    ts_arena_destroy(A);
}

/* [4096, 3]: the last dimension is narrower than a vector, so all dimensions are fused
 * and split by 16 (12288 = 768 vectors), the outer part parallel. */
static void test_narrow_last_dimension_fused(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    const char *text = lowered_relu_add(A, 2, (int64_t[]){ 4096, 3 });
    assert_int_equal(count(text, "parallel"), 1);
    assert_non_null(strstr(text, ", 0, 768)"));
    assert_int_equal(count(text, "for ("), 0);
    assert_int_equal(count(text, ", 1, 16)]"), 3);
    ts_arena_destroy(A);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_last_dimension_vectorized),
        cmocka_unit_test(test_outer_dimensions_fused_parallel),
        cmocka_unit_test(test_narrow_last_dimension_fused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
