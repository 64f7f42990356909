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
 * Values are checked elsewhere (test_templates_int8 runs VNNI natively, test_codegen_aarch64
 * sdot and smull under qemu). */
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accumulators_in_registers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
