/* The AArch64 bitserial templates (schedule/templates/bitserial_aarch64.c):
 * - every scheme (cnt at A1W1, mla at the lowest widths, umlal above) and encoding
 *   (0/1 x 0/1, 0/1 x +-1, +-1 x +-1, decoded as te/ops defines them) on odd shapes
 *   (channels not a multiple of the word or chunk, output channels not a multiple of the
 *   block, stride 2, padding, batch 2), and at 512 channels x 3x3 with every value at its
 *   largest: the reference interpreter's outputs equal naive C on the decoded values
 *   (so the expression is the conv), in te/ops' accumulator type, here on the host;
 * - the fused output stage (scale and bias, ReLU, int8) in the same kernels;
 * - the same kernels cross-compiled for "llvm -mtriple=aarch64-linux-gnu -mattr=+neon",
 *   run under qemu-aarch64 (run_aarch64_helper.sh, as test_codegen_aarch64 does), equal
 *   the reference interpreter bit for bit; skipped, saying so, when qemu-aarch64 or the
 *   cross compiler is missing (scripts/install-deps.sh installs both);
 * - the assembly holds the instructions of each scheme (cnt and uadalp; mla; umlal and
 *   uadalp) and no smlal/umlal/mla where they do not belong;
 * - the register block of the A1W1 default on a ResNet-18 layer (16 tensorized sites) stays
 *   in one function, not cut into outlined parts that pass the accumulators through
 *   memory (codegen counts a tensorized site's emitted loops, not its declared ones);
 * - a chunk past the wrap bound, widths past 8 and reductions past int32 are refused. */
#include <setjmp.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_util.h"

#include "cg_testing.h"
#include "tessera/ops.h"
#include "tessera/template.h"

extern char **environ;

static const char *const neon = "llvm -mtriple=aarch64-linux-gnu -mattr=+neon";

typedef struct Case {
    const char *name;
    int64_t abits, wbits, n, c, h, w, k, r, s, stride, pad;
    int64_t oc_bn, chunk, reg_n; /* 0: the default's */
    bool max_values;
    const char *expect[3]; /* mnemonics the assembly must hold */
    int64_t encoding, output, relu;
} Case;

static const Case cases[] = {
    { "a1w1_odd", 1, 1, 2, 200, 7, 6, 5, 3, 3, 2, 1, 2, 0, 3, false, { "cnt", "uadalp", NULL }, 0, 0, 0 },
    { "a1w1_max", 1, 1, 1, 512, 5, 5, 3, 3, 3, 1, 1, 0, 0, 0, true, { "cnt", "uadalp", NULL }, 0, 0, 0 },
    { "a2w1_odd", 2, 1, 2, 13, 6, 7, 19, 3, 3, 2, 1, 16, 32, 2, false, { "mla", NULL, NULL }, 0, 0, 0 },
    { "a2w2_odd", 2, 2, 2, 21, 5, 6, 17, 3, 3, 1, 1, 32, 8, 3, false, { "mla", NULL, NULL }, 0, 0, 0 },
    { "a2w2_max", 2, 2, 1, 512, 5, 5, 16, 3, 3, 1, 1, 0, 0, 0, true, { "mla", NULL, NULL }, 0, 0, 0 },
    { "a4w4_odd", 4, 4, 2, 13, 6, 5, 9, 3, 3, 2, 1, 8, 4, 2, false, { "umlal", "uadalp", NULL }, 0, 0, 0 },
    { "a3w5_odd", 3, 5, 1, 10, 5, 5, 11, 3, 3, 1, 1, 16, 16, 3, false, { "umlal", "uadalp", NULL }, 0, 0, 0 },
    { "a8w8_odd", 8, 8, 2, 7, 5, 6, 9, 3, 3, 2, 1, 0, 0, 0, false, { "umull", "uadalp", NULL }, 0, 0, 0 },
    { "a8w8_max", 8, 8, 1, 512, 4, 4, 8, 3, 3, 1, 1, 0, 0, 0, true, { "umull", "uadalp", NULL }, 0, 0, 0 },
    /* 0/1 x +-1 and +-1 x +-1, whose padding must add nothing */
    { "a1w1_e1", 1, 1, 2, 130, 5, 6, 7, 3, 3, 2, 1, 2, 0, 2, false, { "cnt", NULL, NULL }, 1, 0, 0 },
    { "a1w1_e2", 1, 1, 2, 130, 5, 6, 7, 3, 3, 1, 1, 4, 0, 3, false, { "cnt", NULL, NULL }, 2, 0, 0 },
    { "a2w2_e1", 2, 2, 2, 21, 5, 6, 17, 3, 3, 2, 1, 16, 8, 2, false, { "mla", NULL, NULL }, 1, 0, 0 },
    { "a2w2_e2", 2, 2, 1, 21, 5, 6, 17, 3, 3, 1, 1, 32, 16, 3, false, { "mla", NULL, NULL }, 2, 0, 0 },
    { "a4w4_e2", 4, 4, 2, 13, 6, 5, 9, 3, 3, 2, 1, 8, 4, 2, false, { "umlal", NULL, NULL }, 2, 0, 0 },
    { "a8w8_e2_max", 8, 8, 1, 300, 4, 4, 8, 3, 3, 1, 1, 0, 0, 0, true, { "umull", NULL, NULL }, 2, 0, 0 },
    { "a2w1_e1_max", 2, 1, 1, 512, 5, 5, 16, 3, 3, 1, 1, 0, 0, 0, true, { "mla", NULL, NULL }, 1, 0, 0 },
    /* the fused output stage: scale and bias, ReLU, int8 (float32 output is left out:
     * the compiled code may fuse the multiply-add, which the bit-for-bit check forbids) */
    { "a1w1_int8_relu", 1, 1, 2, 100, 5, 5, 6, 3, 3, 2, 1, 2, 0, 0, false, { "cnt", NULL, NULL }, 2, 2, 1 },
    { "a2w2_int8", 2, 2, 1, 21, 5, 6, 17, 3, 3, 1, 1, 0, 0, 0, false, { "mla", NULL, NULL }, 1, 2, 0 },
    { "a4w4_relu", 4, 4, 1, 13, 6, 5, 9, 3, 3, 1, 1, 0, 0, 0, false, { "umlal", NULL, NULL }, 2, 0, 1 },
};
enum { NUM_CASES = sizeof cases / sizeof cases[0] };

static TsTemplateArgs case_args(const Case *c)
{
    TsTemplateArgs args = { 0 };
    const char *names[] = { "N",   "C",      "H",     "W",     "K",        "R",      "S",
                            "stride", "pad", "abits", "wbits", "encoding", "output", "relu" };
    int64_t values[] = { c->n,      c->c,      c->h,     c->w,   c->k,        c->r,      c->s,
                         c->stride, c->pad,    c->abits, c->wbits, c->encoding, c->output, c->relu };
    TsError err;
    for (int i = 0; i < 14; i++)
        cgt_ok(ts_template_args_set(&args, names[i], values[i], &err), &err);
    return args;
}

static TsTemplateTarget template_target(const TsTarget *target)
{
    TsTemplateTarget tt;
    TsError err;
    cgt_ok(ts_template_target_init(&tt, ts_target_arch(target), ts_target_features(target),
                                   ts_target_str(target), 1, &err),
           &err);
    return tt;
}

/* Moves knob name of config to value (when value is not 0). */
static void set_knob(TsConfig *config, const char *name, int64_t value, bool split)
{
    const TsConfigSpace *space = config->space;
    TsError err;
    for (int k = 0; value && k < ts_space_num_knobs(space); k++) {
        if (strcmp(ts_space_knob_name(space, k), name) != 0)
            continue;
        for (int64_t i = 0; i < ts_space_knob_size(space, k); i++) {
            config->choice[k] = i;
            int64_t got = 0, f[4] = { 0 };
            int n;
            if (split)
                cgt_ok(ts_config_split(config, name, f, 4, &n, &err), &err), got = f[1];
            else
                cgt_ok(ts_config_knob(config, name, &got, &err), &err);
            if (got == value) {
                cgt_ok(ts_space_from_choices(space, config->choice, config, &err), &err);
                return;
            }
        }
        fail_msg("knob %s has no choice %lld", name, (long long)value);
    }
}

typedef struct Built {
    TsConfigSpace *space;
    TsTemplateInstance inst;
    TsLoweredFunc *func;
} Built;

static void build_case(const Case *c, const TsTemplateTarget *tt, TsArena *A, Built *b)
{
    const TsTemplate *tmpl;
    TsError err;
    cgt_ok(ts_template_for_op("bitserial_conv2d", TS_FLOAT32, tt, &tmpl, &err), &err);
    assert_string_equal(tmpl->name, "bitserial_conv2d_aarch64");
    TsTemplateArgs args = case_args(c);
    b->space = ts_config_space_create();
    cgt_ok(tmpl->define_space(&args, tt, b->space, &err), &err);
    TsConfig config;
    cgt_ok(tmpl->default_config(&args, tt, b->space, &config, &err), &err);
    set_knob(&config, "oc_bn", c->oc_bn, false);
    set_knob(&config, "chunk", c->chunk, false);
    set_knob(&config, "tile_ow", c->reg_n, true);
    cgt_ok(tmpl->instantiate(&args, tt, &config, A, &b->inst, &err), &err);
    cgt_ok(ts_lower(b->inst.sch, c->name, &b->func, &err), &err);
}

/* ---- inputs: values within the widths, channels past C zero ---- */

static const Case *filling; /* the case cgt_args_init's filler serves */

static bool is_cnt(const Case *c)
{
    return c->abits == 1 && c->wbits == 1;
}

/* The input channel of the element at flat index i of data or weight (lanes the last
 * dimension, or [.., steps, ob, 2] for umlal weights), -1 for a bit-packed byte. */
static int64_t channel_of(const TsTensor *t, int64_t i)
{
    int nd = ts_tensor_ndim(t);
    bool weight = strcmp(ts_tensor_name(t), "weight") == 0;
    int64_t last = ts_tensor_dim(t, nd - 1);
    if (!weight) {
        int64_t block = (i / (last * ts_tensor_dim(t, 3) * ts_tensor_dim(t, 2))) % ts_tensor_dim(t, 1);
        return block * last + i % last;
    }
    int64_t ic_dim = ts_tensor_dim(t, 1), inner = 1;
    for (int d = 2; d < nd; d++)
        inner *= ts_tensor_dim(t, d);
    int64_t block = (i / inner) % ic_dim;
    if (nd == 7) { /* [.., steps, ob, 2] */
        int64_t ob = ts_tensor_dim(t, 5), step = (i / (2 * ob)) % ts_tensor_dim(t, 4);
        return block * 2 * ts_tensor_dim(t, 4) + step * 2 + i % 2;
    }
    int64_t ob = ts_tensor_dim(t, 5), step = (i / ob) % ts_tensor_dim(t, 4);
    return block * ts_tensor_dim(t, 4) + step;
}

static void fill(CgtRng *rng, const TsTensor *t, void *data)
{
    const Case *c = filling;
    if (ts_dtype_is_float(ts_tensor_dtype(t))) {
        cgt_fill_default(rng, t, data);
        return;
    }
    bool weight = strcmp(ts_tensor_name(t), "weight") == 0;
    int64_t bits = weight ? c->wbits : c->abits, top = (INT64_C(1) << bits) - 1;
    uint8_t *bytes = data;
    int64_t count = ts_tensor_num_elements(t);
    for (int64_t i = 0; i < count; i++) {
        if (is_cnt(c)) {
            /* bytes of 8 channels: [.., 16] words of 128 */
            int nd = ts_tensor_ndim(t);
            int64_t word = weight ? (i / (16 * ts_tensor_dim(t, 4) * ts_tensor_dim(t, 3) *
                                          ts_tensor_dim(t, 2))) % ts_tensor_dim(t, 1)
                                  : (i / (16 * ts_tensor_dim(t, 3) * ts_tensor_dim(t, 2))) %
                                        ts_tensor_dim(t, 1);
            int64_t first = word * 128 + (i % 16) * 8;
            int64_t valid = c->c - first < 0 ? 0 : c->c - first > 8 ? 8 : c->c - first;
            int mask = (1 << valid) - 1;
            (void)nd;
            bytes[i] = (uint8_t)((c->max_values ? 0xff : cgt_rng_next(rng)) & (uint64_t)mask);
        } else {
            int64_t ch = channel_of(t, i);
            bytes[i] = ch >= c->c ? 0 : (uint8_t)(c->max_values ? top : cgt_rng_int(rng, 0, top));
        }
    }
}

/* The unpacked value of channel ch at data position (n, y, x) or weight (k, r, s). */
static int64_t value_at(const Case *c, const TsTensor *t, const uint8_t *d, int64_t a, int64_t ch,
                        int64_t y, int64_t x)
{
    bool weight = strcmp(ts_tensor_name(t), "weight") == 0;
    int nd = ts_tensor_ndim(t);
    int64_t dims[8] = { 0 };
    for (int i = 0; i < nd && i < 8; i++)
        dims[i] = ts_tensor_dim(t, i);
    int64_t per = is_cnt(c) ? 128 : dims[4] * (nd == 7 ? 2 : 1);
    if (!weight)
        per = is_cnt(c) ? 128 : dims[4];
    int64_t block = ch / per, lane = ch % per;
    if (!weight) {
        int64_t base = (((a * dims[1] + block) * dims[2] + y) * dims[3] + x) * dims[4];
        return is_cnt(c) ? (d[base + lane / 8] >> (lane % 8)) & 1 : d[base + lane];
    }
    int64_t kb = a / dims[is_cnt(c) ? 4 : 5], ko = a % dims[is_cnt(c) ? 4 : 5];
    int64_t base = ((kb * dims[1] + block) * dims[2] + y) * dims[3] + x;
    if (is_cnt(c)) {
        int64_t byte = (base * dims[4] + ko) * 16 + lane / 8;
        return (d[byte] >> (lane % 8)) & 1;
    }
    if (nd == 7)
        return d[((base * dims[4] + lane / 2) * dims[5] + ko) * 2 + lane % 2];
    return d[(base * dims[4] + lane) * dims[5] + ko];
}

/* The reference interpreter's output (out) equals naive C on the unpacked values. */
static void expect_naive(const Case *c, const Built *b, void *const *data, const void *out)
{
    const TsTensor *dt = b->inst.tensors[0], *wt = b->inst.tensors[1];
    const TsTensor *ot = b->inst.tensors[b->inst.num_tensors - 1];
    int64_t kb = ts_tensor_dim(ot, 1), oh = ts_tensor_dim(ot, 2), ow = ts_tensor_dim(ot, 3);
    int64_t ob = ts_tensor_dim(ot, 4);
    for (int64_t n = 0; n < c->n; n++)
        for (int64_t k = 0; k < c->k; k++)
            for (int64_t y = 0; y < oh; y++)
                for (int64_t x = 0; x < ow; x++) {
                    int64_t want = 0;
                    for (int64_t ch = 0; ch < c->c; ch++)
                        for (int64_t r = 0; r < c->r; r++)
                            for (int64_t s = 0; s < c->s; s++) {
                                int64_t iy = y * c->stride - c->pad + r;
                                int64_t ix = x * c->stride - c->pad + s;
                                if (iy < 0 || iy >= c->h || ix < 0 || ix >= c->w)
                                    continue;
                                int64_t a = value_at(c, dt, data[0], n, ch, iy, ix);
                                int64_t v = value_at(c, wt, data[1], k, ch, r, s);
                                if (c->encoding == 2)
                                    a = 2 * a - ((INT64_C(1) << c->abits) - 1);
                                if (c->encoding >= 1)
                                    v = 2 * v - ((INT64_C(1) << c->wbits) - 1);
                                want += a * v;
                            }
                    if (c->relu && want < 0)
                        want = 0;
                    int64_t at = (((n * kb + k / ob) * oh + y) * ow + x) * ob + k % ob;
                    int64_t got = ts_tensor_dtype(ot).bits == 16 ? ((const int16_t *)out)[at]
                                                                 : ((const int32_t *)out)[at];
                    if (got != want)
                        fail_msg("%s: output n=%lld k=%lld y=%lld x=%lld is %lld, naive C says "
                                 "%lld", c->name, (long long)n, (long long)k, (long long)y,
                                 (long long)x, (long long)got, (long long)want);
                }
}

/* DIR/NAME.bin for cg_export_helper: the inputs, then the reference interpreter's output,
 * itself checked against naive C. */
static void write_case(const char *dir, const Case *c, const Built *b, uint64_t seed)
{
    CgtArgs args;
    filling = c;
    cgt_args_init(&args, b->func, seed, fill);
    TsBinding bindings[CGT_MAX_ARGS];
    for (int i = 0; i < args.num; i++)
        bindings[i] = (TsBinding){ args.tensors[i], args.data[i] };
    TsError err;
    TsTensor *out = b->inst.tensors[b->inst.num_tensors - 1];
    cgt_ok(ts_evaluate(1, &out, args.num, bindings, &err), &err);
    assert_int_equal(args.num, b->inst.num_tensors);
    /* the accumulator's type follows te/ops' rule */
    if (c->output == 0)
        assert_true(ts_dtype_eq(ts_tensor_dtype(out),
                                ts_bitserial_accum_dtype((int)c->abits, (int)c->wbits,
                                                         c->c * c->r * c->s)));
    if (c->output == 0)
        expect_naive(c, b, args.data, args.data[args.num - 1]);
    if (dir) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s.bin", dir, c->name);
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        int32_t outputs = 1;
        assert_int_equal(fwrite(&outputs, sizeof outputs, 1, f), 1);
        for (int i = 0; i < args.num; i++)
            assert_int_equal(fwrite(args.data[i], 1, args.bytes[i], f), args.bytes[i]);
        assert_int_equal(fclose(f), 0);
    }
    cgt_args_free(&args);
}

static int run_script(const char *module, const char *dir, const char *out)
{
    char build[1024];
    snprintf(build, sizeof build, "%s/runtime", dir);
    char *argv[] = { "sh", TESSERA_SOURCE_DIR "/tests/codegen/run_aarch64_helper.sh", CG_CMAKE,
                     TESSERA_SOURCE_DIR, build, (char *)module, (char *)dir, NULL };
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out, O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    pid_t pid;
    int rc = posix_spawnp(&pid, "sh", &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    assert_int_equal(rc, 0);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* What building func for target writes to stderr with TS_DUMP=what, malloc'ed. */
static char *dump_of(const TsLoweredFunc *func, const TsTarget *target, const char *what)
{
    char path[] = "/tmp/tessera-bitserial-XXXXXX", obj[] = "/tmp/tessera-bitserial-o-XXXXXX";
    int fd = mkstemp(path), ofd = mkstemp(obj);
    assert_true(fd >= 0 && ofd >= 0);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    assert_true(dup2(fd, STDERR_FILENO) >= 0);
    setenv("TS_DUMP", what, 1);
    TsError err;
    TsStatus status = ts_build_object(1, &func, target, obj, &err);
    unsetenv("TS_DUMP");
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    cgt_ok(status, &err);
    off_t size = lseek(fd, 0, SEEK_END);
    char *text = malloc((size_t)size + 1);
    assert_non_null(text);
    assert_int_equal(pread(fd, text, (size_t)size, 0), size);
    text[size] = '\0';
    close(fd);
    close(ofd);
    unlink(path);
    unlink(obj);
    return text;
}

/* Whether the assembly has an instruction with this mnemonic (a tab or spaces before it,
 * whitespace after). */
static bool has_instruction(const char *text, const char *mnemonic)
{
    size_t n = strlen(mnemonic);
    for (const char *p = strstr(text, mnemonic); p; p = strstr(p + 1, mnemonic))
        if (p > text && (p[-1] == '\t' || p[-1] == ' ') && (p[n] == '\t' || p[n] == ' '))
            return true;
    return false;
}

static void test_bitserial_aarch64_naive(void **state)
{
    (void)state;
    TsTarget *target;
    TsError err;
    cgt_ok(ts_target_parse(neon, &target, &err), &err);
    TsTemplateTarget tt = template_target(target);
    for (int i = 0; i < NUM_CASES; i++) {
        TsArena *A = ts_arena_create();
        Built b;
        build_case(&cases[i], &tt, A, &b);
        write_case(NULL, &cases[i], &b, 500 + (uint64_t)i);
        ts_config_space_free(b.space);
        ts_arena_destroy(A);
    }
    ts_target_free(target);
}

static void test_bitserial_aarch64_instructions(void **state)
{
    (void)state;
    TsTarget *target;
    TsError err;
    cgt_ok(ts_target_parse(neon, &target, &err), &err);
    TsTemplateTarget tt = template_target(target);
    for (int i = 0; i < NUM_CASES; i++) {
        TsArena *A = ts_arena_create();
        Built b;
        build_case(&cases[i], &tt, A, &b);
        char *text = dump_of(b.func, target, "asm");
        for (int e = 0; e < 3 && cases[i].expect[e]; e++)
            if (!has_instruction(text, cases[i].expect[e]))
                fail_msg("%s: no %s in the assembly", cases[i].name, cases[i].expect[e]);
        if (is_cnt(&cases[i]))
            assert_false(has_instruction(text, "mla") || has_instruction(text, "umlal"));
        free(text);
        ts_config_space_free(b.space);
        ts_arena_destroy(A);
    }
    ts_target_free(target);
}

static void test_bitserial_aarch64_qemu(void **state)
{
    (void)state;
    if (!test_on_path("aarch64-linux-gnu-gcc") || !test_on_path("qemu-aarch64")) {
        fprintf(stderr, "note: aarch64-linux-gnu-gcc or qemu-aarch64 missing: the AArch64 "
                        "bitserial kernels were not run\n");
        skip();
    }
    const char *dir = CG_AARCH64_DIR;
    mkdir(dir, 0755);
    TsTarget *target;
    TsError err;
    cgt_ok(ts_target_parse(neon, &target, &err), &err);
    TsTemplateTarget tt = template_target(target);
    TsArena *arenas[NUM_CASES];
    Built built[NUM_CASES];
    const TsLoweredFunc *funcs[NUM_CASES];
    for (int i = 0; i < NUM_CASES; i++) {
        arenas[i] = ts_arena_create();
        build_case(&cases[i], &tt, arenas[i], &built[i]);
        funcs[i] = built[i].func;
        write_case(dir, &cases[i], &built[i], 700 + (uint64_t)i);
    }
    char module[1024], out[1024];
    snprintf(module, sizeof module, "%s/bitserial.so", dir);
    snprintf(out, sizeof out, "%s/bitserial.out", dir);
    cgt_ok(ts_build_shared(NUM_CASES, funcs, target, module, &err), &err);
    int status = run_script(module, dir, out);
    FILE *f = fopen(out, "rb");
    assert_non_null(f);
    static char listing[1 << 14];
    listing[fread(listing, 1, sizeof listing - 1, f)] = '\0';
    fclose(f);
    if (status != 0)
        fprintf(stderr, "run_aarch64_helper.sh exited with %d after:\n%s", status, listing);
    assert_int_equal(status, 0);
    for (int i = 0; i < NUM_CASES; i++) {
        char ok[64];
        snprintf(ok, sizeof ok, "ok %s\n", cases[i].name);
        if (!strstr(listing, ok))
            fail_msg("%s did not match under qemu-aarch64:\n%s", cases[i].name, listing);
        ts_config_space_free(built[i].space);
        ts_arena_destroy(arenas[i]);
    }
    ts_target_free(target);
}

static void test_bitserial_aarch64_one_function(void **state)
{
    (void)state;
    TsTarget *target;
    TsError err;
    cgt_ok(ts_target_parse(neon, &target, &err), &err);
    TsTemplateTarget tt = template_target(target);
    Case layer = { "a1w1_layer", 1, 1, 1, 64, 56, 56, 64, 3, 3, 1, 1, 0, 0, 0, false, { NULL }, 0, 0, 0 };
    TsArena *A = ts_arena_create();
    Built b;
    build_case(&layer, &tt, A, &b);
    char *ir = dump_of(b.func, target, "llvm");
    assert_non_null(strstr(ir, "llvm.ctpop.v16i8"));
    if (strstr(ir, "ts_part."))
        fail_msg("the A1W1 kernel was cut into outlined parts");
    free(ir);
    ts_config_space_free(b.space);
    ts_arena_destroy(A);
    ts_target_free(target);
}

/* Refusals, each naming what is wrong. */
static void test_bitserial_aarch64_refusals(void **state)
{
    (void)state;
    TsTarget *target;
    TsError err;
    cgt_ok(ts_target_parse(neon, &target, &err), &err);
    TsTemplateTarget tt = template_target(target);
    const TsTemplate *tmpl = ts_template_find("bitserial_conv2d_aarch64");
    assert_non_null(tmpl);
    Case wide = cases[3];
    wide.abits = 9;
    TsTemplateArgs args = case_args(&wide);
    TsConfigSpace *space = ts_config_space_create();
    assert_int_equal(tmpl->define_space(&args, &tt, space, &err), TS_EINVAL);
    assert_non_null(strstr(err.message, "abits 9"));
    ts_config_space_free(space);
    Case big = cases[8];
    big.c = 40000;
    args = case_args(&big);
    space = ts_config_space_create();
    assert_int_equal(tmpl->define_space(&args, &tt, space, &err), TS_EINVAL);
    assert_non_null(strstr(err.message, "int32"));
    ts_config_space_free(space);
    /* a chunk of 32 at A2W2 would wrap the uint8 lanes (32 x 9 > 255): not offered, and
     * refused from a record (the A2W1 space's choice replayed on A2W2 args) */
    TsTemplateArgs a2w1 = case_args(&cases[2]), a2w2 = case_args(&cases[2]);
    cgt_ok(ts_template_args_set(&a2w2, "wbits", 2, &err), &err);
    space = ts_config_space_create();
    cgt_ok(tmpl->define_space(&a2w1, &tt, space, &err), &err);
    TsConfig config;
    cgt_ok(tmpl->default_config(&a2w1, &tt, space, &config, &err), &err);
    set_knob(&config, "chunk", 32, false);
    TsArena *A = ts_arena_create();
    TsTemplateInstance inst;
    assert_int_equal(tmpl->instantiate(&a2w2, &tt, &config, A, &inst, &err), TS_EINVAL);
    assert_non_null(strstr(err.message, "chunk 32"));
    ts_arena_destroy(A);
    ts_config_space_free(space);
    ts_target_free(target);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bitserial_aarch64_naive),
        cmocka_unit_test(test_bitserial_aarch64_instructions),
        cmocka_unit_test(test_bitserial_aarch64_one_function),
        cmocka_unit_test(test_bitserial_aarch64_refusals),
        cmocka_unit_test(test_bitserial_aarch64_qemu),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
