/* pb_compare: compares output tensors with a reference's, both ONNX TensorProto files
 * (tensor_compare.h), for the whole-model tests, benchmarks/bench_models and `make demo`.
 *
 *   pb_compare [--rtol R] [--atol A] GOT.pb WANT.pb
 *   pb_compare [--rtol R] [--atol A] GOT_DIR WANT_DIR     every WANT_DIR/output_N.pb
 *
 * Prints one line per tensor (the worst element, both values) and exits 0 when all are
 * within |got - want| <= atol + rtol |want| (defaults 1e-4 and 1e-3), 1 on a mismatch,
 * 2 when a file is missing or unreadable or the arguments are wrong. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tensor_compare.h"

enum { PATH_LEN = 4096, MAX_OUTPUTS = 4096 };

static int usage(void)
{
    fprintf(stderr, "usage: pb_compare [--rtol R] [--atol A] GOT.pb WANT.pb\n"
                    "       pb_compare [--rtol R] [--atol A] GOT_DIR WANT_DIR\n");
    return 2;
}

static bool parse_tolerance(const char *flag, const char *text, double *out)
{
    char *end;
    double v = strtod(text, &end);
    if (end == text || *end || !(v >= 0)) {
        fprintf(stderr, "pb_compare: %s '%s': expected a number >= 0\n", flag, text);
        return false;
    }
    *out = v;
    return true;
}

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* 0 equal, 1 mismatch, 2 unreadable. */
static int compare_one(const char *got, const char *want, double rtol, double atol)
{
    TcResult r;
    if (!tc_compare_files(got, want, rtol, atol, &r)) {
        printf("pb_compare: %s\n", r.message);
        return 2;
    }
    printf("pb_compare: %s\n", r.message);
    return r.equal ? 0 : 1;
}

/* Every WANT_DIR/output_N.pb, N from 0 until one is missing; GOT_DIR must hold the same
 * names and no more. */
static int compare_dirs(const char *got_dir, const char *want_dir, double rtol, double atol)
{
    char got[PATH_LEN], want[PATH_LEN];
    int status = 0, n = 0;
    for (; n < MAX_OUTPUTS; n++) {
        snprintf(want, sizeof want, "%s/output_%d.pb", want_dir, n);
        snprintf(got, sizeof got, "%s/output_%d.pb", got_dir, n);
        struct stat st;
        if (stat(want, &st) != 0)
            break;
        int s = compare_one(got, want, rtol, atol);
        status = s > status ? s : status;
    }
    if (n == 0) {
        printf("pb_compare: %s holds no output_0.pb\n", want_dir);
        return 2;
    }
    snprintf(got, sizeof got, "%s/output_%d.pb", got_dir, n);
    struct stat st;
    if (stat(got, &st) == 0) {
        printf("pb_compare: %s: an output more than the %d of %s\n", got, n, want_dir);
        status = 1;
    }
    return status;
}

int main(int argc, char **argv)
{
    double rtol = TC_DEFAULT_RTOL, atol = TC_DEFAULT_ATOL;
    int i = 1;
    for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
        if (strcmp(argv[i], "--rtol") == 0) {
            if (!parse_tolerance(argv[i], argv[i + 1], &rtol))
                return 2;
        } else if (strcmp(argv[i], "--atol") == 0) {
            if (!parse_tolerance(argv[i], argv[i + 1], &atol))
                return 2;
        } else {
            return usage();
        }
    }
    if (argc - i != 2)
        return usage();
    if (is_dir(argv[i]) != is_dir(argv[i + 1]))
        return usage();
    if (is_dir(argv[i]))
        return compare_dirs(argv[i], argv[i + 1], rtol, atol);
    return compare_one(argv[i], argv[i + 1], rtol, atol);
}
