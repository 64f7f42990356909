/* The register-blocked dot products of the int8 conv2d templates (codegen/dot_block.c,
 * schedule/templates/dot_block.c) keep their accumulators in registers: for VNNI
 * (vpdpbusd, built for a Cascade Lake: VNNI without AMX), AArch64 sdot and smull + sadalp,
 * the default config and others of a ResNet-18 layer and of an odd shape are compiled with
 * TS_DUMP=llvm, and in the optimized LLVM IR every basic block that holds the products
 *   - stores nothing (the accumulators are not written back to memory per step: the form
 *     that called a one-vector intrinsic per product stored each one at every call),
 *   - loads no more vectors than the block's weight vectors plus its data groups (the
 *     accumulators are not read back),
 *   - carries each accumulator in a phi of the loop (rows x vectors of them at least;
 *     twice that for the widening smull, which keeps two per output vector).
 * Values of the templates are checked elsewhere (test_templates_int8 runs VNNI natively,
 * test_codegen_aarch64 sdot and smull under qemu); here the statement on its own (one
 * vector, one step) runs against the reference interpreter, and targets that lack what a
 * product needs, and a product codegen does not know, are refused with a message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cg_testing.h"

typedef struct Variant {
    const char *tmpl, *target, *product; /* product: what the IR's products call */
    int accs_per_output;
} Variant;

static const Variant variants[] = {
    { "conv2d_NCHWc_int8_vnni", "llvm -mcpu=cascadelake", "@llvm.x86.avx512.vpdpbusd.512", 1 },
    { "conv2d_NCHWc_int8_sdot", "llvm -mtriple=aarch64-linux-gnu -mattr=+neon,+dotprod",
      "@llvm.aarch64.neon.sdot", 1 },
    { "conv2d_NCHWc_int8_smlal", "llvm -mtriple=aarch64-linux-gnu -mattr=+neon",
      "@llvm.aarch64.neon.smull", 2 },
};

static const char *const shapes[] = {
    "N=1 C=64 H=56 W=56 K=64 R=3 S=3 stride=1 pad=1 dtype=int8",
    "N=2 C=5 H=9 W=11 K=10 R=3 S=3 stride=2 pad=1 dtype=int8",
};

static TsTemplateArgs parse_args(const char *text)
{
    TsTemplateArgs args = { 0 };
    char copy[256], *save = NULL;
    snprintf(copy, sizeof copy, "%s", text);
    for (char *tok = strtok_r(copy, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        TsError err;
        cgt_ok(ts_template_args_parse(&args, tok, &err), &err);
    }
    return args;
}

/* The optimized LLVM IR of func built for target (TS_DUMP=llvm, read from stderr). */
static char *llvm_ir(const TsLoweredFunc *func, const TsTarget *target)
{
    char ir_path[] = "/tmp/tessera_dot_block_ir_XXXXXX",
         obj_path[] = "/tmp/tessera_dot_block_o_XXXXXX";
    int ir_fd = mkstemp(ir_path), obj_fd = mkstemp(obj_path);
    assert_true(ir_fd >= 0 && obj_fd >= 0);
    fflush(stderr);
    int saved = dup(2);
    dup2(ir_fd, 2);
    setenv("TS_DUMP", "llvm", 1);
    TsError err;
    TsStatus st = ts_build_object(1, &func, target, obj_path, &err);
    unsetenv("TS_DUMP");
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    cgt_ok(st, &err);
    off_t size = lseek(ir_fd, 0, SEEK_END);
    char *text = malloc((size_t)size + 1);
    assert_non_null(text);
    assert_int_equal(pread(ir_fd, text, (size_t)size, 0), size);
    text[size] = '\0';
    close(ir_fd), close(obj_fd);
    unlink(ir_path), unlink(obj_path);
    return text;
}

static int count(const char *begin, const char *end, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(begin, needle); p && p < end; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* Checks every basic block of ir that calls the product; returns how many there are. */
static int check_blocks(const char *ir, const Variant *v, int64_t rows, int64_t vecs,
                        const char *what)
{
    int blocks = 0;
    const char *p = ir;
    while ((p = strstr(p, v->product)) != NULL) {
        const char *line = p;
        while (line > ir && line[-1] != '\n')
            line--;
        if (strncmp(line, "declare", 7) == 0) { /* the declaration, not a call */
            p++;
            continue;
        }
        /* the block: from the line after the last blank line / label before p to the next */
        const char *begin = p, *end = strstr(p, "\n\n");
        while (begin > ir && !(begin[-1] == '\n' && begin[-2] == '\n'))
            begin--;
        if (!end)
            end = p + strlen(p);
        int stores = count(begin, end, " store ");
        int phis = count(begin, end, "= phi <");
        int loads = count(begin, end, "= load <");
        int products = count(begin, end, v->product);
        int accs = (int)(rows * vecs * v->accs_per_output);
        if (stores != 0)
            fail_msg("%s: a block of %d products stores %d values (accumulators written back)",
                     what, products, stores);
        if (phis < accs)
            fail_msg("%s: a block of %d products carries %d vector phis, fewer than its %d "
                     "accumulators",
                     what, products, phis, accs);
        if (loads > vecs * (products / (rows * vecs * v->accs_per_output) + 1))
            fail_msg("%s: a block of %d products loads %d vectors (accumulators read back?)", what,
                     products, loads);
        blocks++;
        p = end;
    }
    return blocks;
}

static void check_config(const Variant *v, const TsTemplate *tmpl, const TsTemplateArgs *args,
                         const TsTemplateTarget *tt, const TsTarget *target, const TsConfig *config,
                         const char *shape)
{
    char what[400];
    snprintf(what, sizeof what, "%s %s config %lld", v->tmpl, shape, (long long)config->index);
    int64_t block = 11; /* one accumulator, where the space has no block knob */
    TsError err;
    ts_config_knob(config, "block", &block, &err);
    TsArena *A = ts_arena_create();
    TsTemplateInstance inst;
    if (tmpl->instantiate(args, tt, config, A, &inst, &err) != TS_OK)
        fail_msg("%s: %s", what, err.message);
    TsLoweredFunc *func;
    cgt_ok(ts_lower(inst.sch, "conv", &func, &err), &err);
    char *ir = llvm_ir(func, target);
    if (check_blocks(ir, v, block / 10, block % 10, what) == 0)
        fail_msg("%s: no call of %s in the IR", what, v->product);
    free(ir);
    ts_arena_destroy(A);
}

static void test_accumulators_in_registers(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
        const Variant *v = &variants[i];
        const TsTemplate *tmpl = ts_template_find(v->tmpl);
        assert_non_null(tmpl);
        TsTarget *target;
        TsError err;
        cgt_ok(ts_target_parse(v->target, &target, &err), &err);
        TsTemplateTarget tt;
        cgt_ok(ts_template_target_init(&tt, ts_target_arch(target), ts_target_features(target),
                                       ts_target_str(target), 1, &err),
               &err);
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            TsTemplateArgs args = parse_args(shapes[s]);
            TsConfigSpace *space = ts_config_space_create();
            cgt_ok(tmpl->define_space(&args, &tt, space, &err), &err);
            TsConfig config;
            cgt_ok(tmpl->default_config(&args, &tt, space, &config, &err), &err);
            check_config(v, tmpl, &args, &tt, target, &config, shapes[s]);
            int64_t size = ts_space_size(space);
            for (int64_t k = 1; k < 4; k++) {
                cgt_ok(ts_space_get(space, size * k / 4, &config, &err), &err);
                check_config(v, tmpl, &args, &tt, target, &config, shapes[s]);
            }
            ts_config_space_free(space);
        }
        ts_target_free(target);
    }
}

/* ---- the statement on its own: one vector, one step ---- */

static TsExpr *i64(TsArena *A, int64_t v)
{
    return ts_int(A, TS_INT64, v);
}

/* tessera.dot_block.<user> for c[16] += sum_k a[k] * b[j, k] (k < 4): one row, one vector,
 * every level one step. */
static TsStmt *one_step(TsArena *A, const TsIntrinRegion *const *regions, const char *product,
                        bool accumulate)
{
    char name[64];
    snprintf(name, sizeof name, "tessera.dot_block.%s", product);
    TsExpr *args[22] = { ts_i32(A, 1),
                         ts_i32(A, 1),
                         ts_intrin_region_address(A, regions[2], NULL),
                         i64(A, 0),
                         i64(A, 64),
                         ts_intrin_region_address(A, regions[0], NULL),
                         i64(A, 0),
                         ts_intrin_region_address(A, regions[1], NULL),
                         i64(A, 64),
                         ts_i32(A, accumulate) };
    for (int l = 0; l < 4; l++) {
        args[10 + 3 * l] = ts_i32(A, 1);
        args[11 + 3 * l] = args[12 + 3 * l] = i64(A, 0);
    }
    return ts_intrin_call(A, ts_arena_strdup(A, name), 22, args);
}

static TsStmt *one_body(TsArena *A, const TsIntrin *in, const TsIntrinRegion *const *r, void *u)
{
    (void)in;
    return one_step(A, r, u, false);
}

static TsStmt *one_update(TsArena *A, const TsIntrin *in, const TsIntrinRegion *const *r, void *u)
{
    (void)in;
    return one_step(A, r, u, true);
}

static TsStmt *one_reset(TsArena *A, const TsIntrin *in, const TsIntrinRegion *const *r, void *u)
{
    (void)in, (void)u;
    return ts_intrin_region_store(A, r[2], NULL, ts_intrin_broadcast(A, ts_i32(A, 0), 16));
}

/* A packed u8 x s8 dense tensorized with the statement of product (declared without
 * features, so that codegen's own check is what refuses a target), lowered. */
static TsLoweredFunc *one_step_dense(TsArena *A, CgtDense *d, const char *product)
{
    TsTensor *a = ts_placeholder(A, "a", 1, (int64_t[]){ 4 }, TS_UINT8);
    TsTensor *b = ts_placeholder(A, "b", 2, (int64_t[]){ 16, 4 }, TS_INT8);
    TsAxis *j = ts_axis(A, "j", 16), *k = ts_reduce_axis(A, "k", 4);
    TsExpr *prod = ts_mul(A, ts_cast(A, TS_INT32, ts_at(A, a, ts_var(k))),
                          ts_cast(A, TS_INT32, ts_at(A, b, ts_var(j), ts_var(k))));
    TsTensor *c = ts_compute(A, "c", 1, &j, ts_sum(A, prod, 1, &k, NULL));
    TsIntrin *in;
    TsError err;
    cgt_ok(ts_intrin_declare(A, "test.dot_block.16x4", c, 2, (TsTensor *[]){ a, b }, &in, &err),
           &err);
    cgt_ok(ts_intrin_set_emitters(in, one_body, one_reset, one_update, (void *)product, &err),
           &err);
    cgt_packed_dense(A, d, 3, 32, 12, TS_UINT8, TS_INT8, TS_INT32, 16, 4);
    cgt_ok(ts_tensorize(d->s, d->ji, in, &err), &err);
    TsLoweredFunc *func;
    cgt_ok(ts_lower(d->sch, "dense_dot_block", &func, &err), &err);
    return func;
}

/* Runs on this CPU (where it has VNNI) as the reference interpreter does; refused, with
 * a message naming the product and what the target lacks, on targets without it. */
static void test_one_step_and_refusals(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    CgtDense d;
    TsLoweredFunc *func = one_step_dense(A, &d, "vpdpbusd");
    if (__builtin_cpu_supports("avx512vnni"))
        cgt_check_schedule(d.sch, "dense_dot_block", 1, &d.c, 5, NULL);
    static const struct {
        const char *target, *message;
    } refused[] = {
        { "llvm -mcpu=haswell", "the dot product vpdpbusd needs avx512vnni, which target" },
        { "llvm -mtriple=aarch64-linux-gnu -mattr=+neon,+dotprod",
          "the dot product vpdpbusd needs x86-64, which target" },
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        TsTarget *target;
        TsError err;
        cgt_ok(ts_target_parse(refused[i].target, &target, &err), &err);
        char path[] = "/tmp/tessera_dot_block_refused_XXXXXX";
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        close(fd);
        assert_int_equal(ts_build_object(1, (const TsLoweredFunc *const *)&func, target, path, &err),
                         TS_ECODEGEN);
        if (!strstr(err.message, refused[i].message))
            fail_msg("%s: the message is \"%s\"", refused[i].target, err.message);
        unlink(path);
        ts_target_free(target);
    }
    /* a product codegen does not know */
    func = one_step_dense(A, &d, "vpdpwssd");
    TsTarget *target;
    TsError err;
    cgt_ok(ts_target_parse("llvm -mcpu=cascadelake", &target, &err), &err);
    char path[] = "/tmp/tessera_dot_block_unknown_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(ts_build_object(1, (const TsLoweredFunc *const *)&func, target, path, &err),
                     TS_ECODEGEN);
    assert_non_null(strstr(err.message, "tessera.dot_block.vpdpwssd: no such dot product"));
    unlink(path);
    ts_target_free(target);
    ts_arena_destroy(A);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accumulators_in_registers),
        cmocka_unit_test(test_one_step_and_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
