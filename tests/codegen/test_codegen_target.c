/* Targets and the ways out of codegen other than the JIT's happy path: target strings
 * (valid ones in canonical form, invalid ones refused with a message naming the
 * culprit), host detection, an aarch64 object (and shared object, when a linker for it
 * is installed) built on this machine, the vector width a 16-lane float32 loop gets on
 * an AVX-512 host (zmm registers in the assembly TS_DUMP=asm prints), and refusals of
 * bad requests (no kernels, two kernels of one name, JIT for a foreign target, an
 * unknown kernel name). */
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

#ifndef CG_OUTPUT_DIR
#define CG_OUTPUT_DIR "."
#endif

enum { EM_X86_64_ = 62, EM_AARCH64_ = 183, ET_REL_ = 1, ET_DYN_ = 3 };

static void parse_ok(const char *text, TsTarget **out)
{
    TsError err;
    cgt_ok(ts_target_parse(text, out, &err), &err);
}

static void parse_fails(const char *text, const char *needle)
{
    TsTarget *t = (TsTarget *)&t; /* must be reset to NULL */
    TsError err;
    TsStatus status = ts_target_parse(text, &t, &err);
    if (status != TS_EINVAL || !strstr(err.message, needle))
        fprintf(stderr, "target \"%s\": %s: %s (wanted \"%s\")\n", text ? text : "(null)",
                ts_status_name(status), status ? err.message : "", needle);
    assert_int_equal(status, TS_EINVAL);
    assert_non_null(strstr(err.message, needle));
    assert_null(t);
}

static bool host_is_x86_64(void)
{
    return strncmp(ts_target_triple(cgt_host()), "x86_64-", 7) == 0;
}

/* ---- parsing ---- */

static void test_host(void **state)
{
    (void)state;
    const TsTarget *host = cgt_host();
    assert_true(ts_target_is_host(host));
    char prefix[128];
    snprintf(prefix, sizeof prefix, "llvm -mtriple=%s -mcpu=", ts_target_triple(host));
    assert_true(strncmp(ts_target_str(host), prefix, strlen(prefix)) == 0);
    assert_non_null(strstr(ts_target_str(host), " -mattr=")); /* the host's features */
    TsTarget *native;
    parse_ok("llvm -mcpu=native", &native);
    assert_true(ts_target_is_host(native));
    assert_string_equal(ts_target_str(native), ts_target_str(host));
    ts_target_free(native);
}

/* ---- features ---- */

static void expect_features(const char *text, const char *const *has, const char *const *lacks)
{
    TsTarget *t;
    parse_ok(text, &t);
    for (int i = 0; has[i]; i++) {
        if (!ts_target_has_feature(t, has[i]))
            fprintf(stderr, "%s: lacks %s (has %s)\n", text, has[i], ts_target_features(t));
        assert_true(ts_target_has_feature(t, has[i]));
    }
    for (int i = 0; lacks[i]; i++) {
        if (ts_target_has_feature(t, lacks[i]))
            fprintf(stderr, "%s: has %s\n", text, lacks[i]);
        assert_false(ts_target_has_feature(t, lacks[i]));
    }
    ts_target_free(t);
}

static void test_cpu_features(void **state)
{
    (void)state;
    expect_features("llvm -mcpu=sapphirerapids",
                    (const char *const[]){ "amx-int8", "amx-bf16", "amx-tile", "avx512vnni",
                                           "avx512bf16", "avx512fp16", "avx512vpopcntdq",
                                           "avx512f", "avx2", "fma", NULL },
                    (const char *const[]){ "neon", "dotprod", "amx-fp16", "avx512vnn", "", NULL });
    expect_features("llvm -mcpu=skylake-avx512",
                    (const char *const[]){ "avx512f", "avx512bw", "avx2", "fma", NULL },
                    (const char *const[]){ "avx512vnni", "amx-int8", "avx512bf16", NULL });
    expect_features("llvm -mcpu=haswell", (const char *const[]){ "avx2", "fma", NULL },
                    (const char *const[]){ "avx512f", NULL });
    expect_features("llvm -mtriple=aarch64-linux-gnu -mcpu=cortex-a76",
                    (const char *const[]){ "dotprod", "neon", "fullfp16", NULL },
                    (const char *const[]){ "i8mm", "sve", "avx2", NULL });
    expect_features("llvm -mtriple=aarch64-linux-gnu -mcpu=cortex-a53",
                    (const char *const[]){ "neon", NULL }, (const char *const[]){ "dotprod", NULL });
    expect_features("llvm -mtriple=aarch64-linux-gnu -mattr=+neon",
                    (const char *const[]){ "neon", NULL }, (const char *const[]){ "dotprod", NULL });
}

static void test_mattr_features(void **state)
{
    (void)state;
    /* -mattr removes on top of the CPU's features, and with them what needs them. */
    expect_features("llvm -mcpu=sapphirerapids -mattr=-avx512vnni",
                    (const char *const[]){ "avx512f", "amx-int8", "avx512bf16", NULL },
                    (const char *const[]){ "avx512vnni", NULL });
    expect_features("llvm -mcpu=sapphirerapids -mattr=-avx512f",
                    (const char *const[]){ "avx2", "amx-int8", NULL },
                    (const char *const[]){ "avx512f", "avx512vnni", "avx512bf16", "avx512fp16",
                                           NULL });
    /* Adding a feature adds what it implies. */
    expect_features("llvm -mcpu=haswell -mattr=+avx512vnni",
                    (const char *const[]){ "avx512vnni", "avx512f", "avx2", NULL },
                    (const char *const[]){ "avx512bw", "amx-int8", NULL });
    expect_features("llvm -mcpu=sapphirerapids -mattr=-amx-tile",
                    (const char *const[]){ "avx512vnni", NULL },
                    (const char *const[]){ "amx-tile", "amx-int8", "amx-bf16", NULL });
    expect_features("llvm -mtriple=aarch64-linux-gnu -mcpu=cortex-a53 -mattr=+dotprod,+i8mm",
                    (const char *const[]){ "dotprod", "i8mm", "neon", NULL },
                    (const char *const[]){ "sve", NULL });
    expect_features("llvm -mtriple=aarch64-linux-gnu -mcpu=cortex-a76 -mattr=-dotprod",
                    (const char *const[]){ "neon", NULL }, (const char *const[]){ "dotprod", NULL });
}

/* Bare "llvm" has what the host has: its features in the canonical string. */
static void test_host_features(void **state)
{
    (void)state;
    const TsTarget *host = cgt_host();
    const char *mattr = strstr(ts_target_str(host), " -mattr=");
    assert_non_null(mattr);
    mattr += strlen(" -mattr=");
    int checked = 0;
    for (const char *p = mattr; *p && *p != ' ';) {
        size_t len = strcspn(p, ", ");
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)(len - 1), p + 1);
        assert_int_equal(ts_target_has_feature(host, name), p[0] == '+');
        checked++;
        p += len;
        p += *p == ',';
    }
    assert_true(checked > 10);
    assert_false(ts_target_has_feature(host, "no-such-feature"));
    assert_false(ts_target_has_feature(NULL, "avx2"));
    assert_false(ts_target_has_feature(host, NULL));
    assert_string_equal(ts_target_arch(host), host_is_x86_64() ? "x86_64" : "aarch64");
}

static void test_valid_strings(void **state)
{
    (void)state;
    TsTarget *t;
    parse_ok("llvm -mtriple=aarch64-linux-gnu -mattr=+neon", &t);
    assert_string_equal(ts_target_triple(t), "aarch64-unknown-linux-gnu");
    assert_string_equal(ts_target_str(t),
                        "llvm -mtriple=aarch64-unknown-linux-gnu -mcpu=generic -mattr=+neon");
    assert_false(ts_target_is_host(t) && host_is_x86_64());
    ts_target_free(t);
    parse_ok("  llvm  -mtriple=aarch64-linux-gnu   -mcpu=cortex-a72 -fast-math -opt-level=2 ", &t);
    assert_string_equal(ts_target_str(t), "llvm -mtriple=aarch64-unknown-linux-gnu "
                                          "-mcpu=cortex-a72 -fast-math -opt-level=2");
    ts_target_free(t);
    if (!host_is_x86_64())
        return;
    parse_ok("llvm -mcpu=sapphirerapids", &t);
    char want[160];
    snprintf(want, sizeof want, "llvm -mtriple=%s -mcpu=sapphirerapids",
             ts_target_triple(cgt_host()));
    assert_string_equal(ts_target_str(t), want);
    assert_true(ts_target_is_host(t));
    ts_target_free(t);
    parse_ok("llvm -mtriple=x86_64-linux-gnu -mcpu=skylake-avx512 -mattr=-avx512f,+avx2", &t);
    assert_string_equal(ts_target_str(t), "llvm -mtriple=x86_64-unknown-linux-gnu "
                                          "-mcpu=skylake-avx512 -mattr=-avx512f,+avx2");
    assert_true(ts_target_is_host(t)); /* the vendor does not matter */
    ts_target_free(t);
}

static void test_invalid_strings(void **state)
{
    (void)state;
    parse_fails(NULL, "target string is NULL");
    parse_fails("", "only \"llvm\" targets are supported");
    parse_fails("cuda", "target \"cuda\": only \"llvm\" targets are supported");
    parse_fails("llvm -mcpu=pentium9", "unknown x86_64 CPU \"pentium9\"");
    parse_fails("llvm -mtriple=aarch64-linux-gnu -mcpu=skylake", "unknown aarch64 CPU "
                                                                 "\"skylake\"");
    parse_fails("llvm -mtriple=aarch64-linux-gnu -mattr=+neon,+avx2",
                "unknown aarch64 feature \"avx2\"");
    parse_fails("llvm -mattr=avx2", "-mattr entry \"avx2\" must be +name or -name");
    parse_fails("llvm -mtriple=riscv64-linux-gnu", "architecture \"riscv64\" of triple "
                                                   "riscv64-unknown-linux-gnu is not supported");
    parse_fails("llvm -mcpu=skylake -mcpu=haswell", "-mcpu is given twice");
    parse_fails("llvm -mcpu=", "-mcpu has an empty value");
    parse_fails("llvm -keys=cpu", "unknown option \"-keys=cpu\"");
    parse_fails("llvm -opt-level=7", "-opt-level=7 is not 0, 1, 2 or 3");
    parse_fails("llvm -mtriple=aarch64-linux-gnu -mcpu=native", "-mcpu=native needs the host");
    parse_fails("llvm -mtriple=aarch64-linux-gnu -mcpu=apple-latest",
                "aarch64 CPU \"apple-latest\" has no feature list");
}

/* ---- kernels for the build tests ---- */

/* out = A + B over n float32 elements, split by lanes and vectorized (lanes 1: scalar). */
static TsLoweredFunc *add_kernel(TsArena *A, const char *name, int64_t n, int lanes)
{
    TsTensor *a = ts_placeholder(A, "A", 1, &n, TS_FLOAT32);
    TsTensor *b = ts_placeholder(A, "B", 1, &n, TS_FLOAT32);
    TsTensor *c = ts_op_add(A, a, b);
    assert_non_null(c);
    TsSchedule *sch = ts_schedule_create(A, 1, &c);
    TsError err;
    if (lanes > 1) {
        TsStage *s = ts_stage(sch, c);
        TsAxis *o, *i;
        cgt_ok(ts_split(s, ts_stage_root_axis(s, 0), lanes, &o, &i, &err), &err);
        cgt_ok(ts_vectorize(s, i, &err), &err);
    }
    TsLoweredFunc *func;
    cgt_ok(ts_lower(sch, name, &func, &err), &err);
    return func;
}

/* The ELF header's type and machine of a file. */
static void elf_kind(const char *path, int *type, int *machine)
{
    unsigned char header[64];
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fread(header, 1, sizeof header, f), sizeof header);
    fclose(f);
    assert_memory_equal(header, "\177ELF", 4);
    assert_int_equal(header[5], 1); /* little-endian */
    *type = header[16] | header[17] << 8;
    *machine = header[18] | header[19] << 8;
}

/* Whether the file contains text (a symbol name in its string table). */
static bool file_contains(const char *path, const char *text)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char data[1 << 20];
    size_t n = fread(data, 1, sizeof data, f);
    fclose(f);
    size_t len = strlen(text);
    for (size_t i = 0; i + len <= n; i++)
        if (memcmp(data + i, text, len) == 0)
            return true;
    return false;
}

static void test_aarch64_object(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    const TsLoweredFunc *funcs[] = { add_kernel(A, "add", 100, 4),
                                     add_kernel(A, "add_scalar", 100, 1) };
    TsTarget *t;
    parse_ok("llvm -mtriple=aarch64-linux-gnu -mattr=+neon", &t);
    const char *path = CG_OUTPUT_DIR "/add_aarch64.o";
    remove(path);
    TsError err;
    cgt_ok(ts_build_object(2, funcs, t, path, &err), &err);
    int type, machine;
    elf_kind(path, &type, &machine);
    assert_int_equal(type, ET_REL_);
    assert_int_equal(machine, EM_AARCH64_);
    assert_true(file_contains(path, TS_MODULE_TABLE_SYMBOL));
    /* no JIT for a foreign machine */
    TsJitModule *module = (TsJitModule *)&module;
    if (host_is_x86_64()) {
        assert_int_equal(ts_build_jit(2, funcs, t, &module, &err), TS_EINVAL);
        assert_non_null(strstr(err.message, "is not this machine's"));
        assert_null(module);
    }
    /* a shared object when a linker for aarch64 is installed */
    const char *so = CG_OUTPUT_DIR "/add_aarch64.so";
    TsStatus status = ts_build_shared(2, funcs, t, so, &err);
    if (status == TS_OK) {
        elf_kind(so, &type, &machine);
        assert_int_equal(type, ET_DYN_);
        assert_int_equal(machine, EM_AARCH64_);
    } else {
        fprintf(stderr, "note: no aarch64 shared object: %s\n", err.message);
        assert_non_null(strstr(err.message, "no linker for aarch64"));
    }
    ts_target_free(t);
    ts_arena_destroy(A);
}

static void test_host_object(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    const TsLoweredFunc *func = add_kernel(A, "add", 64, 16);
    const char *path = CG_OUTPUT_DIR "/add_host.o";
    TsError err;
    cgt_ok(ts_build_object(1, &func, cgt_host(), path, &err), &err);
    int type, machine;
    elf_kind(path, &type, &machine);
    assert_int_equal(type, ET_REL_);
    if (host_is_x86_64())
        assert_int_equal(machine, EM_X86_64_);
    assert_int_equal(ts_build_object(1, &func, cgt_host(), CG_OUTPUT_DIR "/no/such/dir/x.o",
                                     &err), TS_EIO);
    assert_non_null(strstr(err.message, "no/such/dir/x.o"));
    ts_arena_destroy(A);
}

/* ---- the vector width on AVX-512 ---- */

/* What the build writes to stderr with TS_DUMP=what, in a malloc'ed string. */
static char *dump_of(const TsLoweredFunc *func, const char *what)
{
    char path[] = "/tmp/tessera-dump-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_true(dup2(fd, STDERR_FILENO) >= 0);
    setenv("TS_DUMP", what, 1);
    TsJitModule *module = NULL;
    TsError err;
    TsStatus status = ts_build_jit(1, &func, cgt_host(), &module, &err);
    unsetenv("TS_DUMP");
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    cgt_ok(status, &err);
    ts_jit_release(module);
    off_t size = lseek(fd, 0, SEEK_END);
    char *text = malloc((size_t)size + 1);
    assert_non_null(text);
    assert_int_equal(pread(fd, text, (size_t)size, 0), size);
    text[size] = '\0';
    close(fd);
    unlink(path);
    return text;
}

static void test_avx512_vector_width(void **state)
{
    (void)state;
    if (!strstr(ts_target_str(cgt_host()), "+avx512f")) {
        fprintf(stderr, "note: the host has no AVX-512; vector width not checked\n");
        return;
    }
    TsArena *A = ts_arena_create();
    const TsLoweredFunc *func = add_kernel(A, "add16", 256, 16);
    char *ir = dump_of(func, "llvm");
    assert_non_null(strstr(ir, "\"prefer-vector-width\"=\"512\""));
    assert_non_null(strstr(ir, "<16 x float>"));
    free(ir);
    char *assembly = dump_of(func, "asm");
    assert_non_null(strstr(assembly, "vaddps\t"));
    assert_non_null(strstr(assembly, "%zmm"));
    free(assembly);
    const TsLoweredFunc *narrow = add_kernel(A, "add8", 256, 8);
    assembly = dump_of(narrow, "asm");
    assert_non_null(strstr(assembly, "%ymm"));
    assert_null(strstr(assembly, "%zmm"));
    free(assembly);
    ts_arena_destroy(A);
}

/* ---- refusals ---- */

static void test_bad_requests(void **state)
{
    (void)state;
    TsArena *A = ts_arena_create();
    const TsLoweredFunc *funcs[] = { add_kernel(A, "same", 8, 1), add_kernel(A, "same", 8, 1),
                                     add_kernel(A, "other", 8, 1) };
    TsJitModule *module = NULL;
    TsError err;
    assert_int_equal(ts_build_jit(0, funcs, cgt_host(), &module, &err), TS_EINVAL);
    assert_non_null(strstr(err.message, "no kernels to build"));
    assert_int_equal(ts_build_jit(2, funcs, cgt_host(), &module, &err), TS_EINVAL);
    assert_non_null(strstr(err.message, "two kernels are named same (0 and 1)"));
    assert_int_equal(ts_build_jit(1, funcs, NULL, &module, &err), TS_EINVAL);
    assert_non_null(strstr(err.message, "the target is NULL"));
    cgt_ok(ts_build_jit(2, funcs + 1, cgt_host(), &module, &err), &err);
    TsPackedFunc fn = NULL;
    cgt_ok(ts_jit_get_func(module, "other", &fn, &err), &err);
    assert_non_null(fn);
    assert_int_equal(ts_jit_get_func(module, "missing", &fn, &err), TS_EINVAL);
    assert_non_null(strstr(err.message, "no kernel named missing (the module has same, other)"));
    ts_jit_retain(module);
    ts_jit_release(module);
    cgt_ok(ts_jit_get_func(module, "same", &fn, &err), &err); /* still alive */
    ts_jit_release(module);
    ts_arena_destroy(A);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host),
        cmocka_unit_test(test_valid_strings),
        cmocka_unit_test(test_invalid_strings),
        cmocka_unit_test(test_cpu_features),
        cmocka_unit_test(test_mattr_features),
        cmocka_unit_test(test_host_features),
        cmocka_unit_test(test_aarch64_object),
        cmocka_unit_test(test_host_object),
        cmocka_unit_test(test_avx512_vector_width),
        cmocka_unit_test(test_bad_requests),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
