/* AMX kernels on a device server (loopback): an int8 dense tensorized with the AMX tile
 * intrinsic, exported as a shared object, runs in a session child of a server and gives
 * naive C's values bit for bit; on a second server whose processes are under a seccomp
 * filter that refuses the tile state (arch_prctl(ARCH_REQ_XCOMP_PERM) fails with EPERM),
 * the same call is an error naming the kernel and the feature, not a crash, and that
 * server goes on serving. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cg_testing.h"
#include "rpc_testing.h"
#include "tessera/intrin.h"
#include "tessera/rpc.h"

enum { M = 32, N = 32, K = 128, TILE = 16, GROUP = 4 };

static RptServer granted, refused;
static bool have_amx, have_refused;

/* The servers first: fork before the compiler has started any threads. The second one is
 * forked after this process installed the filter, so it and its sessions inherit it
 * (this process only compiles). */
static int start_servers(void **state)
{
    (void)state;
    have_amx = ts_target_has_feature(cgt_host(), "amx-int8");
    if (!have_amx)
        return 0;
    rpt_server_start(&granted, NULL);
    if (cgt_refuse_amx_tile_state() != 0)
        return 0;
    rpt_server_start(&refused, NULL);
    have_refused = true;
    return 0;
}

static int stop_servers(void **state)
{
    (void)state;
    if (have_amx)
        rpt_server_stop(&granted);
    if (have_refused)
        rpt_server_stop(&refused);
    return 0;
}

/* C[i, j] = sum_k u8 A[i, k] * s8 W[j, k], W packed by a stage of its own as
 * Wp[j / 16, k / 4, j % 16, k % 4], 16 x 16 output tiles with x86.amx.u8s8.16x16x64. */
static TsLoweredFunc *amx_dense(TsArena *A)
{
    TsTensor *a = ts_placeholder(A, "A", 2, (int64_t[]){ M, K }, TS_UINT8);
    TsTensor *w = ts_placeholder(A, "W", 2, (int64_t[]){ N, K }, TS_INT8);
    TsAxis *pk[4] = { ts_axis(A, "jo", N / TILE), ts_axis(A, "ko", K / GROUP),
                      ts_axis(A, "ji", TILE), ts_axis(A, "ki", GROUP) };
    TsExpr *l = ts_i32(A, TILE), *g = ts_i32(A, GROUP);
    TsTensor *wp = ts_compute(A, "Wp", 4, pk,
                              ts_at(A, w, ts_add(A, ts_mul(A, ts_var(pk[0]), l), ts_var(pk[2])),
                                    ts_add(A, ts_mul(A, ts_var(pk[1]), g), ts_var(pk[3]))));
    TsAxis *i = ts_axis(A, "i", M), *j = ts_axis(A, "j", N), *r = ts_reduce_axis(A, "k", K);
    TsExpr *wv = ts_at(A, wp, ts_floordiv(A, ts_var(j), l), ts_floordiv(A, ts_var(r), g),
                       ts_floormod(A, ts_var(j), l), ts_floormod(A, ts_var(r), g));
    TsExpr *prod = ts_mul(A, ts_cast(A, TS_INT32, ts_at(A, a, ts_var(i), ts_var(r))),
                          ts_cast(A, TS_INT32, wv));
    TsTensor *c = ts_compute(A, "C", 2, (TsAxis *[]){ i, j }, ts_sum(A, prod, 1, &r, NULL));
    TsSchedule *sch = ts_schedule_create(A, 1, &c);
    TsStage *s = ts_stage(sch, c);
    TsError err;
    TsAxis *io, *ii, *jo, *ji, *ko, *ki, *koo, *koi;
    cgt_ok(ts_split(s, ts_stage_root_axis(s, 0), TILE, &io, &ii, &err), &err);
    cgt_ok(ts_split(s, ts_stage_root_axis(s, 1), TILE, &jo, &ji, &err), &err);
    cgt_ok(ts_split(s, ts_stage_root_axis(s, 2), GROUP, &ko, &ki, &err), &err);
    cgt_ok(ts_split(s, ko, TILE, &koo, &koi, &err), &err);
    cgt_ok(ts_reorder(s, 7, (TsAxis *[]){ io, jo, koo, ii, ji, koi, ki }, &err), &err);
    cgt_ok(ts_tensorize(s, ii, ts_intrin_lookup("x86.amx.u8s8.16x16x64"), &err), &err);
    TsLoweredFunc *func = NULL;
    cgt_ok(ts_lower(sch, "amx_dense", &func, &err), &err);
    return func;
}

/* Uploads the module and its inputs to server, calls the kernel; the status, err, and
 * (on success) C in got. */
static TsStatus run_on(const RptServer *server, const char *module_path, const uint8_t *a,
                       const int8_t *w, int32_t *got, TsError *err)
{
    TsRpcSession *session = rpt_connect(server, NULL);
    TsRpcModule module;
    assert_ok(ts_rpc_upload(session, module_path, "amx_dense.so", err), *err);
    assert_ok(ts_rpc_load_module(session, "amx_dense.so", &module, err), *err);
    int64_t shapes[3][2] = { { M, K }, { N, K }, { M, N } };
    TsDType dtypes[3] = { TS_UINT8, TS_INT8, TS_INT32 };
    const void *inputs[2] = { a, w };
    TsRpcArg args[3];
    for (int t = 0; t < 3; t++) {
        TsRpcArray array;
        assert_ok(ts_rpc_alloc_array(session, 2, shapes[t], dtypes[t], &array, err), *err);
        args[t] = (TsRpcArg){ .kind = TS_RPC_ARG_ARRAY, .u.array = array };
        if (t < 2)
            assert_ok(ts_rpc_copy_to(session, array, inputs[t],
                                     (size_t)(shapes[t][0] * shapes[t][1]), err),
                      *err);
    }
    TsStatus status = ts_rpc_call(session, module, "amx_dense", 3, args, 0, err);
    if (status == TS_OK)
        assert_ok(ts_rpc_copy_from(session, args[2].u.array, got, sizeof(int32_t) * M * N, err),
                  *err);
    ts_rpc_close(session);
    return status;
}

static void test_amx_dense_on_servers(void **state)
{
    (void)state;
    if (!have_amx) {
        skip();
        return;
    }
    TsArena *A = ts_arena_create();
    TsLoweredFunc *func = amx_dense(A);
    assert_string_equal(ts_tensor_name(ts_lowered_arg(func, 0)), "A");
    assert_string_equal(ts_tensor_name(ts_lowered_arg(func, 1)), "W");
    const char *module_path = RPC_TEST_DIR "/amx_dense.so";
    TsError err;
    assert_ok(
        ts_build_shared(1, (const TsLoweredFunc *const[]){ func }, cgt_host(), module_path, &err),
        err);
    static uint8_t a[M * K];
    static int8_t w[N * K];
    static int32_t got[M * N], want[M * N];
    CgtRng rng = { 5 };
    for (int i = 0; i < M * K; i++)
        a[i] = (uint8_t)cgt_rng_int(&rng, 0, 255);
    for (int i = 0; i < N * K; i++)
        w[i] = (int8_t)cgt_rng_int(&rng, -128, 127);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            int32_t sum = 0;
            for (int k = 0; k < K; k++)
                sum += a[i * K + k] * w[j * K + k];
            want[i * N + j] = sum;
        }
    assert_ok(run_on(&granted, module_path, a, w, got, &err), err);
    assert_memory_equal(got, want, sizeof want);

    if (!have_refused)
        fail_msg("cannot install the seccomp filter that refuses the tile state");
    TsStatus status = run_on(&refused, module_path, a, w, got, &err);
    const char *needle = "kernel \"amx_dense\": needs AMX tiles (amx-int8); the operating "
                         "system refused the tile state: Operation not permitted";
    if (status != TS_EDEVICE || !strstr(err.message, needle))
        fail_msg("refused server: status %d, \"%s\"; want \"%s\"", status,
                 status ? err.message : "", needle);
    rpt_check_serves(&refused, NULL); /* the server lives on */
    ts_arena_destroy(A);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_amx_dense_on_servers),
    };
    return cmocka_run_group_tests(tests, start_servers, stop_servers);
}
