/* The low-precision dense templates (schedule/templates/dense_dot.c) end to end: int8 and
 * bfloat16, with VNNI / AVX512-BF16 vectors and with AMX tiles, on shapes no block or
 * tile divides, the default config and every config of the (small) spaces, built for this
 * CPU and for a VNNI-only target (Cascade Lake: no AMX, no AVX512-BF16), run on random
 * inputs and compared with the same expression under a fresh schedule (tmpl_testing.h:
 * integers bit for bit, floats within 1e-4 of the magnitude). Also: which template the
 * registry picks for each target's features (AMX only with amx-tile and amx-int8 or
 * amx-bf16, VNNI only with avx512vnni), and the message when none applies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "schedule/templates/tmpl_internal.h"
#include "test_values.h"
#include "tmpl_testing.h"

static const char *const shapes[] = { "M=37 N=50 K=23", "M=16 N=16 K=64", "M=5 N=3 K=7",
                                      "M=33 N=17 K=130" };

static void ok(TsStatus status, const TsError *err)
{
    if (status != TS_OK)
        fprintf(stderr, "unexpected: %s: %s\n", ts_status_name(status), err->message);
    assert_int_equal(status, TS_OK);
}

static TsTemplateArgs parse_args(const char *text, const char *dtype)
{
    TsTemplateArgs args = { 0 };
    char copy[256], *save = NULL;
    snprintf(copy, sizeof copy, "%s dtype=%s", text, dtype);
    for (char *tok = strtok_r(copy, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        TsError err;
        ok(ts_template_args_parse(&args, tok, &err), &err);
    }
    return args;
}

static TsTemplateTarget template_target(const TsTarget *target)
{
    TsTemplateTarget tt;
    TsError err;
    ok(ts_template_target_init(&tt, ts_target_arch(target), ts_target_features(target),
                               ts_target_str(target), 2, &err),
       &err);
    return tt;
}

/* Every config of tmpl on every shape, for target_str. */
static void check_template(const TsTemplate *tmpl, const char *dtype, const char *target_str)
{
    TsTarget *target;
    TsError err;
    ok(ts_target_parse(target_str, &target, &err), &err);
    TsTemplateTarget tt = template_target(target);
    assert_true(ts_template_applies(tmpl, strcmp(dtype, "int8") == 0 ? TS_INT8 : TS_BFLOAT16, &tt));
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        TsTemplateArgs args = parse_args(shapes[s], dtype);
        TsConfigSpace *space = ts_config_space_create();
        ok(tmpl->define_space(&args, &tt, space, &err), &err);
        TsConfig config;
        ok(tmpl->default_config(&args, &tt, space, &config, &err), &err);
        for (int64_t i = -1; i < ts_space_size(space); i++) {
            if (i >= 0)
                ok(ts_space_get(space, i, &config, &err), &err);
            TtResult r;
            assert_true(tt_check_config(tmpl, &args, &tt, target, &config, 50 + s, 0, &r));
            if (r.status != TS_OK || !r.same)
                fail_msg("%s %s on %.40s config %lld: %s %s %s", tmpl->name, shapes[s], target_str,
                         (long long)config.index, r.stage ? r.stage : "", r.err.message,
                         r.mismatch);
        }
        ts_config_space_free(space);
    }
    ts_target_free(target);
}

static bool cpu_has(const char *feature)
{
    TsTarget *host;
    TsError err;
    ok(ts_target_parse("llvm", &host, &err), &err);
    bool has = ts_target_has_feature(host, feature);
    ts_target_free(host);
    return has;
}

static void test_int8_vnni(void **state)
{
    (void)state;
    if (!cpu_has("avx512vnni")) {
        fprintf(stderr, "skipped: this CPU lacks AVX512-VNNI\n");
        return;
    }
    check_template(&sch_template_dense_int8_vnni, "int8", "llvm");
    check_template(&sch_template_dense_int8_vnni, "int8", "llvm -mcpu=cascadelake");
}

static void test_int8_amx(void **state)
{
    (void)state;
    if (!cpu_has("amx-int8")) {
        fprintf(stderr, "skipped: this CPU lacks AMX-INT8\n");
        return;
    }
    check_template(&sch_template_dense_int8_amx, "int8", "llvm");
}

static void test_bf16(void **state)
{
    (void)state;
    if (cpu_has("avx512bf16"))
        check_template(&sch_template_dense_bf16_avx512, "bfloat16", "llvm");
    else
        fprintf(stderr, "skipped: this CPU lacks AVX512-BF16\n");
    if (cpu_has("amx-bf16"))
        check_template(&sch_template_dense_bf16_amx, "bfloat16", "llvm");
    else
        fprintf(stderr, "skipped: this CPU lacks AMX-BF16\n");
}

/* Never a template whose instructions the target lacks. */
static void test_selection(void **state)
{
    (void)state;
    static const struct {
        const char *target, *int8, *bf16; /* NULL: none applies */
    } cases[] = {
        { "llvm -mcpu=haswell", NULL, NULL },
        { "llvm -mcpu=cascadelake", "dense_int8_vnni", NULL },
        { "llvm -mcpu=cooperlake", "dense_int8_vnni", "dense_bf16_avx512" },
        { "llvm -mcpu=sapphirerapids", "dense_int8_amx", "dense_bf16_amx" },
        { "llvm -mcpu=sapphirerapids -mattr=-amx-tile", "dense_int8_vnni", "dense_bf16_avx512" },
        { "llvm -mtriple=aarch64-linux-gnu -mattr=+neon,+dotprod", NULL, NULL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        TsTarget *target;
        TsError err;
        ok(ts_target_parse(cases[i].target, &target, &err), &err);
        TsTemplateTarget tt = template_target(target);
        const char *want[2] = { cases[i].int8, cases[i].bf16 };
        TsDType dtypes[2] = { TS_INT8, TS_BFLOAT16 };
        for (int d = 0; d < 2; d++) {
            const TsTemplate *found = NULL;
            TsStatus st = ts_template_for_op("dense", dtypes[d], &tt, &found, &err);
            if (want[d]) {
                ok(st, &err);
                if (strcmp(found->name, want[d]) != 0)
                    fail_msg("%s: picked %s, want %s", cases[i].target, found->name, want[d]);
            } else {
                assert_int_equal(st, TS_EINVAL);
                assert_non_null(strstr(err.message, "no template for op dense"));
            }
        }
        ts_target_free(target);
    }
}

/* The padded extents the kernel's arguments have. */
static void test_padded_shapes(void **state)
{
    (void)state;
    TsError err;
    TsTemplateTarget tt;
    ok(ts_template_target_init(&tt, "x86_64", ",avx,avx2,fma,avx512f,amx-tile,amx-int8,", "amx", 1,
                               &err),
       &err);
    TsTemplateArgs args = parse_args("M=37 N=50 K=23", "int8");
    TsConfigSpace *space = ts_config_space_create();
    ok(sch_template_dense_int8_amx.define_space(&args, &tt, space, &err), &err);
    TsConfig config;
    ok(sch_template_dense_int8_amx.default_config(&args, &tt, space, &config, &err), &err);
    TsArena *A = ts_arena_create();
    TsTemplateInstance inst;
    ok(sch_template_dense_int8_amx.instantiate(&args, &tt, &config, A, &inst, &err), &err);
    assert_int_equal(ts_tensor_dim(inst.tensors[0], 0), 48); /* M to 16 rows */
    assert_int_equal(ts_tensor_dim(inst.tensors[0], 1), 64); /* K to one 64-byte tile row */
    assert_int_equal(ts_tensor_dim(inst.tensors[1], 0), 4);  /* N to 64: 4 blocks of 16 */
    assert_int_equal(ts_tensor_dim(inst.tensors[1], 1), 16); /* 64 / 4 groups */
    assert_int_equal(ts_tensor_dim(inst.tensors[2], 1), 64);
    ts_arena_destroy(A);
    ts_config_space_free(space);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_selection), cmocka_unit_test(test_padded_shapes),
        cmocka_unit_test(test_int8_vnni), cmocka_unit_test(test_int8_amx),
        cmocka_unit_test(test_bf16),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
