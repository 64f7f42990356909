/* A user's program built against an installed Tessera (tests/install/): defines
 * C = A + B over 2 x 3 float tensors, evaluates it with the reference interpreter and
 * prints the result, which run_install_test.sh compares with the expected numbers. */
#include <stdio.h>

#include <tessera/tessera.h>

static int report(TsArena *arena, const TsError *err)
{
    fprintf(stderr, "consumer: %s: %s\n", ts_status_name(err->status), err->message);
    ts_arena_destroy(arena);
    return 1;
}

int main(void)
{
    TsArena *arena = ts_arena_create();
    if (!arena)
        return 1;

    int64_t shape[2] = { 2, 3 };
    TsTensor *a = ts_placeholder(arena, "A", 2, shape, TS_FLOAT32);
    TsTensor *b = ts_placeholder(arena, "B", 2, shape, TS_FLOAT32);
    TsAxis *i = ts_axis(arena, "i", 2), *j = ts_axis(arena, "j", 3);
    TsExpr *sum =
        ts_add(arena, ts_at(arena, a, ts_var(i), ts_var(j)), ts_at(arena, b, ts_var(i), ts_var(j)));
    TsTensor *c = ts_compute(arena, "C", 2, (TsAxis *[]){ i, j }, sum);
    TsError err;
    if (ts_arena_check(arena, &err) != TS_OK)
        return report(arena, &err);

    float a_data[6] = { 1, 2, 3, 4, 5, 6 };
    float b_data[6] = { 10, 20, 30, 40, 50, 60 };
    float c_data[6] = { 0 };
    TsBinding bindings[] = { { a, a_data }, { b, b_data }, { c, c_data } };
    if (ts_evaluate(1, &c, 3, bindings, &err) != TS_OK)
        return report(arena, &err);

    printf("tessera %d.%d.%d\n", TESSERA_VERSION_MAJOR, TESSERA_VERSION_MINOR,
           TESSERA_VERSION_PATCH);
    printf("C =");
    for (int n = 0; n < 6; n++)
        printf(" %g", c_data[n]);
    printf("\n");
    ts_arena_destroy(arena);
    return 0;
}
