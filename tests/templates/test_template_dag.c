/* Templates over a given DAG (ts_template_schedule_dag): a dense + bias + ReLU and a
 * conv2d_NCHWc + bias + ReLU (and the int8 conv2d on VNNI + int32 bias + ReLU) built here around the templates' own operators, scheduled
 * with the default config and random configs, JIT-compiled for this machine and compared
 * with the reference interpreter (ts_evaluate of the whole DAG). The fused consumers
 * must be computed at the register tile: the only buffers the kernel allocates are the
 * tile-sized accumulator and the operator's own staging (packed weight, padding), never
 * an intermediate of the output's size. And the refusals: a template without
 * schedule_dag, a consumer that is not elementwise, that skips the operator, or that reads
 * a tensor the DAG does not list. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tessera/ops.h"
#include "test_values.h"
#include "tmpl_testing.h"

enum { RANDOM_CONFIGS = 6, MAX_T = TS_TEMPLATE_MAX_TENSORS };

static void ok(TsStatus status, const TsError *err)
{
    if (status != TS_OK)
        fprintf(stderr, "unexpected: %s: %s\n", ts_status_name(status), err->message);
    assert_int_equal(status, TS_OK);
}

static TsTemplateArgs parse_args(const char *text)
{
    TsTemplateArgs args = { 0 };
    char copy[256], *save = NULL;
    TsError err;
    snprintf(copy, sizeof copy, "%s", text);
    for (char *w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save))
        ok(ts_template_args_parse(&args, w, &err), &err);
    return args;
}

typedef struct Host {
    TsTarget *target;
    TsTemplateTarget tt;
} Host;

static Host target_named(const char *text)
{
    Host h;
    TsError err;
    ok(ts_target_parse(text, &h.target, &err), &err);
    ok(ts_template_target_init(&h.tt, ts_target_arch(h.target), ts_target_features(h.target),
                               ts_target_str(h.target), 2, &err),
       &err);
    return h;
}

static Host host_target(void)
{
    return target_named("llvm");
}

/* The consumers a graph would fuse: op + bias (per output channel), then ReLU. */
typedef struct Fused {
    TsTemplateDag dag;
    TsTensor *bias;
} Fused;

static Fused fuse_bias_relu(TsArena *A, const char *op, TsTensor *out)
{
    Fused f = { .dag = { .num_inputs = 1, .num_consumers = 2 } };
    TsTensor *biased;
    if (strcmp(op, "dense") == 0) {
        f.bias = ts_placeholder(A, "bias", 1, (int64_t[]){ ts_tensor_dim(out, 1) }, TS_FLOAT32);
        biased = ts_op_bias_add(A, out, f.bias, 1);
    } else { /* NCHW[oc_bn]c: the bias of channel oc * oc_bn + ob is bias[oc, 0, 0, ob] */
        f.bias = ts_placeholder(A, "bias", 4,
                                (int64_t[]){ ts_tensor_dim(out, 1), 1, 1, ts_tensor_dim(out, 4) },
                                ts_tensor_dtype(out));
        biased = ts_op_add(A, out, f.bias);
    }
    f.dag.inputs[0] = f.bias;
    f.dag.consumers[0] = biased;
    f.dag.consumers[1] = ts_op_relu(A, biased);
    TsError err;
    ok(ts_arena_check(A, &err), &err);
    return f;
}

/* Every "allocate NAME: dtype[...]" of the lowered kernel holds fewer elements than the
 * output; and the operator's output, the bias add and the ReLU are never allocated. */
static void check_allocations(TsArena *A, const TsLoweredFunc *func, const TsTensor *out,
                              const TsTemplateDag *dag)
{
    const char *text = ts_lowered_str(A, func);
    int64_t out_elements = ts_tensor_num_elements(out);
    int allocations = 0;
    for (const char *p = strstr(text, "allocate "); p; p = strstr(p + 1, "allocate ")) {
        char name[64];
        int len = (int)strcspn(p + 9, ":");
        snprintf(name, sizeof name, "%.*s", len < 63 ? len : 63, p + 9);
        assert_string_not_equal(name, ts_tensor_name(out));
        for (int i = 0; i < dag->num_consumers; i++)
            assert_string_not_equal(name, ts_tensor_name(dag->consumers[i]));
        int64_t elements = 1;
        const char *dims = strchr(p, '[');
        for (const char *q = dims + 1; q && *q != ']';) {
            char *end;
            elements *= strtoll(q, &end, 10);
            q = end + strspn(end, ", ");
        }
        if (elements >= out_elements && strstr(name, ".local"))
            fprintf(stderr, "%s allocates %s with %lld elements:\n%s\n", ts_lowered_name(func),
                    name, (long long)elements, text);
        if (strstr(name, ".local"))
            assert_true(elements < out_elements); /* the accumulator is a tile */
        allocations++;
    }
    assert_true(allocations >= 1);
}

static double tolerance(TsDType dtype)
{
    return dtype.bits == 32 ? 1e-4 : 1e-10;
}

/* Schedules the DAG under config, compiles it and compares it with ts_evaluate. Returns
 * false when the template refused the config (a register budget), true when checked. */
static bool check_dag(const TsTemplate *tmpl, const TsTemplateArgs *args, const Host *h,
                      const TsConfig *config, uint64_t seed)
{
    TsArena *A = ts_arena_create();
    TsTemplateInstance inst;
    TsError err;
    TsStatus st = tmpl->instantiate(args, &h->tt, config, A, &inst, &err);
    if (st == TS_ESCHEDULE) {
        ts_arena_destroy(A);
        return false;
    }
    ok(st, &err);
    TsTensor *op_out = inst.tensors[inst.num_tensors - 1];
    Fused f = fuse_bias_relu(A, tmpl->op, op_out);
    ok(ts_template_schedule_dag(tmpl, args, &h->tt, config, A, &f.dag, &inst, &err), &err);
    assert_int_equal(inst.num_tensors, 4);
    assert_int_equal(inst.num_outputs, 1);
    assert_ptr_equal(inst.tensors[2], f.bias);
    assert_ptr_equal(inst.tensors[3], f.dag.consumers[1]);

    TsLoweredFunc *func;
    TsJitModule *module = NULL;
    TsPackedFunc fn;
    ok(ts_lower(inst.sch, "fused", &func, &err), &err);
    check_allocations(A, func, op_out, &f.dag);
    if (getenv("DAG_DUMP"))
        fprintf(stderr, "%s\n", ts_lowered_str(A, func));
    ok(ts_build_jit(1, (const TsLoweredFunc *const *)&func, h->target, &module, &err), &err);
    ok(ts_jit_get_func(module, "fused", &fn, &err), &err);

    TvRng rng = { seed };
    void *data[MAX_T], *mag[MAX_T], *want = malloc(tv_num_bytes(inst.tensors[3]));
    TsBinding in[3], in_mag[3];
    for (int i = 0; i < 4; i++) {
        data[i] = calloc(1, tv_num_bytes(inst.tensors[i]));
        mag[i] = calloc(1, tv_num_bytes(inst.tensors[i]));
        if (i < 3) {
            tv_fill_random(&rng, inst.tensors[i], data[i]);
            memcpy(mag[i], data[i], tv_num_bytes(inst.tensors[i]));
            tv_make_magnitude(inst.tensors[i], mag[i]);
            in[i] = (TsBinding){ inst.tensors[i], data[i] };
            in_mag[i] = (TsBinding){ inst.tensors[i], mag[i] };
        }
    }
    TsBinding out = { inst.tensors[3], want }, out_mag = { inst.tensors[3], mag[3] };
    TsBinding all[4] = { in[0], in[1], in[2], out },
              all_mag[4] = { in_mag[0], in_mag[1], in_mag[2], out_mag };
    ok(ts_evaluate(1, &inst.tensors[3], 4, all, &err), &err);
    ok(ts_evaluate(1, &inst.tensors[3], 4, all_mag, &err), &err);
    char message[512];
    bool called = tt_call(fn, func, 4, inst.tensors, data, message, sizeof message);
    if (!called)
        fprintf(stderr, "%s\n", message);
    assert_true(called);
    bool same = tv_compare_output(inst.tensors[3], data[3], want, mag[3], tolerance, NULL, message,
                                  sizeof message);
    if (!same)
        fprintf(stderr, "%s config %lld: %s\n", tmpl->name, (long long)config->index, message);
    assert_true(same);
    for (int i = 0; i < 4; i++)
        free(data[i]), free(mag[i]);
    free(want);
    ts_jit_release(module);
    ts_arena_destroy(A);
    return true;
}

static void check_on(const TsTemplate *tmpl, Host h, const char *shape);

static void check_template(const char *op, const char *shape)
{
    Host h = host_target();
    const TsTemplate *tmpl;
    TsError err;
    ok(ts_template_for_op(op, TS_FLOAT32, &h.tt, &tmpl, &err), &err);
    check_on(tmpl, h, shape);
}

static void check_on(const TsTemplate *tmpl, Host h, const char *shape)
{
    TsTemplateArgs args = parse_args(shape);
    TsError err;
    TsConfigSpace *space = ts_config_space_create();
    ok(tmpl->define_space(&args, &h.tt, space, &err), &err);
    TsConfig config;
    ok(tmpl->default_config(&args, &h.tt, space, &config, &err), &err);
    assert_true(check_dag(tmpl, &args, &h, &config, 7));
    TvRng rng = { 99 };
    int checked = 0;
    for (int i = 0; i < 4 * RANDOM_CONFIGS && checked < RANDOM_CONFIGS; i++) {
        ok(ts_space_get(space, tv_rng_int(&rng, 0, ts_space_size(space) - 1), &config, &err), &err);
        checked += check_dag(tmpl, &args, &h, &config, 100 + (uint64_t)i);
    }
    fprintf(stderr, "%s: default and %d random configs over bias + ReLU\n", tmpl->name, checked);
    assert_int_equal(checked, RANDOM_CONFIGS);
    ts_config_space_free(space);
    ts_target_free(h.target);
}

static void test_dense_bias_relu(void **state)
{
    (void)state;
    /* M and N that no tile divides: tails inside the fused store. */
    check_template("dense", "M=19 N=40 K=24 dtype=float32");
}

static void test_conv2d_bias_relu(void **state)
{
    (void)state;
    check_template("conv2d", "N=1 C=16 H=7 W=9 K=32 R=3 S=3 stride=1 pad=1");
}

/* The register-blocked int8 conv2d on VNNI (a Cascade Lake: no AMX), its int32 output
 * + an int32 bias + ReLU fused into the store of its accumulator block. */
static void test_conv2d_int8_vnni_bias_relu(void **state)
{
    (void)state;
    if (!__builtin_cpu_supports("avx512vnni")) {
        fprintf(stderr, "skipped: this CPU lacks AVX512-VNNI\n");
        return;
    }
    check_on(ts_template_find("conv2d_NCHWc_int8_vnni"), target_named("llvm -mcpu=cascadelake"),
             "N=2 C=13 H=7 W=9 K=20 R=3 S=3 stride=1 pad=1 dtype=int8");
}

static void expect_error(TsStatus status, const TsError *err, const char *needle)
{
    if (status != TS_EINVAL || !strstr(err->message, needle))
        fprintf(stderr, "got %s: %s (wanted \"%s\")\n", ts_status_name(status), err->message,
                needle);
    assert_int_equal(status, TS_EINVAL);
    assert_non_null(strstr(err->message, needle));
}

static void test_dag_errors(void **state)
{
    (void)state;
    Host h = host_target();
    TsTemplateArgs args = parse_args("M=8 N=16 K=8");
    const TsTemplate *dense = ts_template_find("dense_pack");
    TsConfigSpace *space = ts_config_space_create();
    TsError err;
    ok(dense->define_space(&args, &h.tt, space, &err), &err);
    TsConfig config;
    ok(dense->default_config(&args, &h.tt, space, &config, &err), &err);
    TsArena *A = ts_arena_create();
    TsTemplateInstance inst, before;
    ok(dense->instantiate(&args, &h.tt, &config, A, &inst, &err), &err);
    before = inst;
    TsTensor *out = inst.tensors[2];
    Fused f = fuse_bias_relu(A, "dense", out);

    TsTemplateDag dag = f.dag;
    dag.num_inputs = 0; /* the bias is not listed */
    expect_error(ts_template_schedule_dag(dense, &args, &h.tt, &config, A, &dag, &inst, &err), &err,
                 "reads bias, which is neither dense nor one of the DAG's inputs");
    dag = f.dag;
    dag.consumers[0] = f.dag.consumers[1]; /* ReLU first: it does not read the dense */
    expect_error(ts_template_schedule_dag(dense, &args, &h.tt, &config, A, &dag, &inst, &err), &err,
                 "DAG consumer relu reads bias_add, which is neither dense nor");
    TsTensor *sums =
        ts_op_matmul(A, out, ts_placeholder(A, "w2", 2, (int64_t[]){ 16, 16 }, TS_FLOAT32), false,
                     false, TS_FLOAT32);
    ok(ts_arena_check(A, &err), &err);
    dag = (TsTemplateDag){ .num_inputs = 1,
                           .inputs = { ts_tensor_input(sums, 1) },
                           .num_consumers = 1,
                           .consumers = { sums } };
    expect_error(ts_template_schedule_dag(dense, &args, &h.tt, &config, A, &dag, &inst, &err), &err,
                 "a fused consumer must be elementwise");
    dag = f.dag;
    dag.num_consumers = 0;
    expect_error(ts_template_schedule_dag(dense, &args, &h.tt, &config, A, &dag, &inst, &err), &err,
                 "a DAG of 0 consumers");
    dag = f.dag;
    dag.inputs[0] = out;
    expect_error(ts_template_schedule_dag(dense, &args, &h.tt, &config, A, &dag, &inst, &err), &err,
                 "DAG input 0 (dense) is not a placeholder");
    /* A refused DAG leaves the instance as it was. */
    assert_memory_equal(&inst, &before, sizeof inst);
    TsTemplate plain = *dense;
    plain.schedule_dag = NULL;
    expect_error(ts_template_schedule_dag(&plain, &args, &h.tt, &config, A, &f.dag, &inst, &err),
                 &err, "cannot schedule a DAG");
    ts_arena_destroy(A);
    ts_config_space_free(space);
    ts_target_free(h.target);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dense_bias_relu),
        cmocka_unit_test(test_conv2d_bias_relu),
        cmocka_unit_test(test_conv2d_int8_vnni_bias_relu),
        cmocka_unit_test(test_dag_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
