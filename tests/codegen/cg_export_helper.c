/* The far side of the export round trip (test_codegen_export.c): a program that links
 * only libtessera_runtime, as a program on a board would, loads a shared object that
 * ts_build_shared made, lists its kernels, and runs each on the inputs the test wrote,
 * comparing the outputs bit for bit with what the same kernels computed when
 * JIT-compiled in the test's process.
 *
 *     cg_export_helper MODULE.so DATA_DIR
 *
 * For each kernel K of the module, DATA_DIR/K.bin holds an int32 count of outputs (the
 * last arguments), then every argument's bytes in order: inputs, then the expected
 * outputs. The argument shapes and dtypes come from the module table's signature
 * ("A:float32[64,32];B:float32[32,48];C:float32[64,48]"). Prints one line per kernel
 * ("kernel NAME NUM_ARGS SIGNATURE", then "ok NAME"); exits 0 when all match, 1 on a
 * mismatch or a failed call, 2 on bad usage or files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tessera/runtime.h"

enum { MAX_ARGS = 16 };

typedef struct Arg {
    char name[64];
    TsDType dtype;
    int ndim;
    int64_t shape[8];
    TsNDArray *array;
    size_t bytes;
} Arg;

static int die(int code, const char *what, const char *detail)
{
    fprintf(stderr, "cg_export_helper: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    return code;
}

/* One "name:dtype[d0,d1]" entry of a signature. */
static int parse_arg(const char *text, size_t len, Arg *a)
{
    const char *colon = memchr(text, ':', len), *open = memchr(text, '[', len);
    if (!colon || !open || open < colon || text[len - 1] != ']' ||
        (size_t)(colon - text) >= sizeof a->name)
        return -1;
    memcpy(a->name, text, (size_t)(colon - text));
    a->name[colon - text] = '\0';
    char dtype[32];
    size_t dlen = (size_t)(open - colon - 1);
    if (dlen >= sizeof dtype)
        return -1;
    memcpy(dtype, colon + 1, dlen);
    dtype[dlen] = '\0';
    if (!ts_dtype_parse(dtype, &a->dtype))
        return -1;
    a->ndim = 0;
    for (const char *p = open + 1; p < text + len - 1 && a->ndim < 8;) {
        char *end;
        a->shape[a->ndim++] = strtoll(p, &end, 10);
        p = end + (*end == ',');
    }
    return 0;
}

static int parse_signature(const char *signature, Arg *args, int num_args)
{
    const char *p = signature;
    for (int i = 0; i < num_args; i++) {
        size_t len = strcspn(p, ";");
        if (len == 0 || parse_arg(p, len, &args[i]) != 0)
            return -1;
        p += len + (p[len] == ';');
    }
    return *p ? -1 : 0;
}

/* Fills the arguments from the data file; expected[] gets the outputs' bytes. */
static int load_data(const char *dir, const char *kernel, Arg *args, int n, int32_t *outputs,
                     void **expected)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.bin", dir, kernel);
    FILE *f = fopen(path, "rb");
    if (!f)
        return die(2, "cannot open", path);
    int rc = fread(outputs, sizeof *outputs, 1, f) == 1 && *outputs >= 1 && *outputs <= n ? 0 : 2;
    for (int i = 0; rc == 0 && i < n; i++) {
        void *bytes = malloc(args[i].bytes);
        if (!bytes || fread(bytes, 1, args[i].bytes, f) != args[i].bytes) {
            free(bytes);
            rc = 2;
            break;
        }
        TsError err;
        if (i >= n - *outputs) {
            expected[i] = bytes;
            void *poison = malloc(args[i].bytes);
            if (!poison) {
                rc = 2;
                break;
            }
            memset(poison, 0xA5, args[i].bytes);
            rc = ts_ndarray_copy_from_bytes(args[i].array, poison, args[i].bytes, &err) ? 2 : 0;
            free(poison);
        } else {
            rc = ts_ndarray_copy_from_bytes(args[i].array, bytes, args[i].bytes, &err) ? 2 : 0;
            free(bytes);
        }
    }
    fclose(f);
    return rc ? die(rc, "bad data file", path) : 0;
}

/* Calls the kernel, compares its outputs, and checks that a wrong call fails. */
static int call_and_compare(const TsFuncEntry *entry, Arg *args, int32_t outputs,
                            void **expected)
{
    int n = entry->num_args;
    TsValue values[MAX_ARGS];
    int32_t codes[MAX_ARGS];
    for (int i = 0; i < n; i++) {
        values[i].v_handle = ts_ndarray_dltensor(args[i].array);
        codes[i] = TS_ARG_TENSOR;
    }
    if (entry->func(values, codes, n) != 0)
        return die(1, "the kernel failed", ts_runtime_last_error());
    for (int i = n - outputs; i < n; i++) {
        void *got = malloc(args[i].bytes);
        TsError err;
        int same = got && ts_ndarray_copy_to_bytes(args[i].array, got, args[i].bytes, &err) == 0 &&
                   memcmp(got, expected[i], args[i].bytes) == 0;
        free(got);
        if (!same)
            return die(1, "output differs from the JIT's", args[i].name);
    }
    char want[256];
    snprintf(want, sizeof want, "%s: expected %d arguments, got %d", entry->name, n, n - 1);
    if (entry->func(values, codes, n - 1) != -1 || !strstr(ts_runtime_last_error(), want))
        return die(1, "a call with too few arguments did not fail as it should",
                   ts_runtime_last_error());
    return 0;
}

static int run_kernel(const TsFuncEntry *entry, const char *dir)
{
    Arg args[MAX_ARGS];
    void *expected[MAX_ARGS] = { 0 };
    int n = entry->num_args, rc = 0, made = 0;
    if (n < 1 || n > MAX_ARGS || parse_signature(entry->signature, args, n) != 0)
        return die(2, "cannot parse the signature", entry->signature);
    for (; made < n && rc == 0; made++) {
        TsError err;
        TsDevice cpu = { TS_DEVICE_CPU, 0 };
        if (ts_ndarray_empty(args[made].ndim, args[made].shape, args[made].dtype, cpu,
                             &args[made].array, &err) != TS_OK)
            rc = die(2, "cannot allocate", err.message);
        else
            args[made].bytes = ts_ndarray_nbytes(args[made].array);
    }
    int32_t outputs = 0;
    if (rc == 0)
        rc = load_data(dir, entry->name, args, n, &outputs, expected);
    if (rc == 0)
        rc = call_and_compare(entry, args, outputs, expected);
    for (int i = 0; i < made; i++) {
        ts_ndarray_release(args[i].array);
        free(expected[i]);
    }
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return die(2, "usage: cg_export_helper MODULE.so DATA_DIR", NULL);
    TsModule *module;
    TsError err;
    if (ts_module_load(argv[1], &module, &err) != TS_OK)
        return die(2, "cannot load the module", err.message);
    int rc = 0;
    for (int i = 0; i < ts_module_num_funcs(module) && rc == 0; i++) {
        const TsFuncEntry *entry = ts_module_func(module, i);
        printf("kernel %s %d %s\n", entry->name, entry->num_args, entry->signature);
        rc = run_kernel(entry, argv[2]);
        if (rc == 0)
            printf("ok %s\n", entry->name);
    }
    ts_module_release(module);
    return rc;
}
