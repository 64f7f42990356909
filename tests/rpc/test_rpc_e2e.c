/* End to end on loopback: a blocked float32 matmul compiled on the host (libtessera,
 * ts_build_shared) is uploaded to a device server, loaded, listed, called on arrays
 * copied to the device, and its result copied back and compared with a naive C matmul;
 * then timed, with the costs checked (one positive cost per repeat). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cg_testing.h"
#include "rpc_testing.h"
#include "tessera/rpc.h"

enum { M = 64, K = 32, N = 48 };

static RptServer server;

/* The server first: fork before the compiler has started any threads. */
static int start_server(void **state)
{
    (void)state;
    rpt_server_start(&server, NULL);
    return 0;
}

static int stop_server(void **state)
{
    (void)state;
    rpt_server_stop(&server);
    return 0;
}

static void naive_matmul(const float *a, const float *b, float *c)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double sum = 0;
            for (int k = 0; k < K; k++)
                sum += (double)a[i * K + k] * b[k * N + j];
            c[i * N + j] = (float)sum;
        }
}

/* The kernel's argument index of the tensor called name. */
static int arg_index(const CgtArgs *args, const char *name)
{
    for (int i = 0; i < args->num; i++)
        if (strcmp(ts_tensor_name(args->tensors[i]), name) == 0)
            return i;
    return -1;
}

static void test_matmul_on_server(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    TsTensor *out;
    TsLoweredFunc *func = cgt_blocked_matmul(A, "matmul", TS_FLOAT32, ts_dtype(TS_TYPE_FLOAT, 0, 1),
                                             &out);
    const TsLoweredFunc *funcs[1] = { func };
    const char *module_path = RPC_TEST_DIR "/e2e_matmul.so";
    TsError err;
    assert_ok(ts_build_shared(1, funcs, cgt_host(), module_path, &err), err);
    CgtArgs args;
    cgt_args_init(&args, func, 7, NULL);
    int ia = arg_index(&args, "A"), ib = arg_index(&args, "B"), ic = 3 - ia - ib;
    assert_int_equal(args.num, 3);
    assert_true(ia >= 0 && ib >= 0);

    TsRpcSession *session = rpt_connect(&server, NULL);
    TsRpcModule module;
    assert_ok(ts_rpc_upload(session, module_path, "matmul.so", &err), err);
    assert_ok(ts_rpc_load_module(session, "matmul.so", &module, &err), err);
    char names[4][128];
    int num = 0;
    assert_ok(ts_rpc_list_funcs(session, module, 4, names, &num, &err), err);
    assert_int_equal(num, 1);
    assert_string_equal(names[0], "matmul");

    int64_t shapes[3][2] = { { M, K }, { K, N }, { M, N } };
    int order[3] = { ia, ib, ic };
    TsRpcArg rargs[3];
    for (int t = 0; t < 3; t++) {
        TsRpcArray array;
        assert_ok(ts_rpc_alloc_array(session, 2, shapes[t], TS_FLOAT32, &array, &err), err);
        rargs[order[t]] = (TsRpcArg){ .kind = TS_RPC_ARG_ARRAY, .u.array = array };
        if (t < 2)
            assert_ok(ts_rpc_copy_to(session, array, args.data[order[t]], args.bytes[order[t]],
                                     &err), err);
    }
    assert_ok(ts_rpc_call(session, module, "matmul", 3, rargs, 0, &err), err);
    static float got[M * N], want[M * N];
    assert_ok(ts_rpc_copy_from(session, rargs[ic].u.array, got, sizeof got, &err), err);
    naive_matmul(args.data[ia], args.data[ib], want);
    for (int i = 0; i < M * N; i++)
        if (fabsf(got[i] - want[i]) > 1e-4f * (1.0f + fabsf(want[i])))
            fail_msg("C[%d] is %g on the server, %g by naive C", i, got[i], want[i]);

    TsTimeOptions options = ts_time_options_default();
    options.number = 10;
    options.repeat = 3;
    options.min_repeat_ms = 1;
    double costs[3] = { 0 };
    assert_ok(ts_rpc_time(session, module, "matmul", 3, rargs, &options, 0, costs, &err), err);
    for (int r = 0; r < 3; r++)
        assert_true(costs[r] > 0 && costs[r] < 0.1);
    ts_rpc_close(session);
    cgt_args_free(&args);
    ts_arena_destroy(A);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matmul_on_server),
    };
    return cmocka_run_group_tests(tests, start_server, stop_server);
}
