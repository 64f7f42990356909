/* Calibration samples: TensorProto (.pb) and numpy (.npy) files, or folders of them,
 * stacked into one buffer of samples of the model input's shape. The numpy reader takes
 * format versions 1 to 3, float32 little-endian in C order; anything else is an error
 * naming the file and what it holds. */
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "relay_lite/quantize/quant_internal.h"

typedef struct Loaded {
    int ndim;
    int64_t dims[TS_GRAPH_MAX_DIMS];
    float *data;
    int64_t elements;
} Loaded;

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* The value of key in a numpy header dict ("'descr': '<f4', ..."): where it starts. */
static const char *npy_value(const char *header, const char *key)
{
    char quoted[32];
    snprintf(quoted, sizeof quoted, "'%s'", key);
    const char *p = strstr(header, quoted);
    if (!p)
        return NULL;
    p = strchr(p + strlen(quoted), ':');
    if (!p)
        return NULL;
    for (p++; *p == ' '; p++)
        ;
    return p;
}

static TsStatus npy_parse_shape(const char *path, const char *p, Loaded *out, TsError *err)
{
    if (*p != '(')
        return ts_fail(err, TS_EINVAL, "%s: the numpy header's shape is not a tuple", path);
    out->ndim = 0;
    out->elements = 1;
    for (p++; *p && *p != ')';) {
        while (*p == ' ' || *p == ',')
            p++;
        if (*p == ')')
            break;
        if (!isdigit((unsigned char)*p))
            return ts_fail(err, TS_EINVAL, "%s: the numpy header's shape is malformed", path);
        if (out->ndim == TS_GRAPH_MAX_DIMS)
            return ts_fail(err, TS_EINVAL, "%s: more than %d dimensions", path, TS_GRAPH_MAX_DIMS);
        char *end;
        long long d = strtoll(p, &end, 10);
        if (d <= 0 || d > (1LL << 40) || out->elements > (1LL << 40) / d)
            return ts_fail(err, TS_EINVAL, "%s: dimension %lld is empty or absurd", path, d);
        out->dims[out->ndim++] = d;
        out->elements *= d;
        p = end;
    }
    return TS_OK;
}

/* A numpy file: magic, version, header length, a dict header, then the data. */
static TsStatus read_npy(const char *path, Loaded *out, TsError *err)
{
    uint8_t *bytes;
    size_t size;
    TsStatus st = rly_read_file(path, "the sample file", &bytes, &size, err);
    if (st != TS_OK)
        return st;
    size_t header_at = 0, header_len = 0;
    if (size >= 10 && memcmp(bytes, "\x93NUMPY", 6) == 0) {
        if (bytes[6] == 1) {
            header_len = bytes[8] | (size_t)bytes[9] << 8;
            header_at = 10;
        } else if ((bytes[6] == 2 || bytes[6] == 3) && size >= 12) {
            header_len = bytes[8] | (size_t)bytes[9] << 8 | (size_t)bytes[10] << 16 |
                         (size_t)bytes[11] << 24;
            header_at = 12;
        }
    }
    if (!header_at || header_at + header_len > size) {
        free(bytes);
        return ts_fail(err, TS_EINVAL, "%s: not a numpy file (format versions 1 to 3)", path);
    }
    char *header = malloc(header_len + 1);
    if (!header) {
        free(bytes);
        return ts_fail(err, TS_ENOMEM, "%s: no memory for the numpy header", path);
    }
    memcpy(header, bytes + header_at, header_len);
    header[header_len] = '\0';
    const char *descr = npy_value(header, "descr"), *order = npy_value(header, "fortran_order");
    const char *shape = npy_value(header, "shape");
    if (!descr || !order || !shape)
        st = ts_fail(err, TS_EINVAL, "%s: the numpy header lacks descr, fortran_order or shape",
                     path);
    else if (strncmp(descr, "'<f4'", 5) != 0)
        st = ts_fail(err, TS_EINVAL, "%s: numpy dtype %.8s, not float32 ('<f4')", path, descr);
    else if (strncmp(order, "False", 5) != 0)
        st = ts_fail(err, TS_EINVAL, "%s: Fortran order; save the array in C order", path);
    else
        st = npy_parse_shape(path, shape, out, err);
    free(header);
    size_t data_at = header_at + header_len;
    if (st == TS_OK && (size - data_at) != (size_t)out->elements * sizeof(float))
        st = ts_fail(err, TS_EINVAL, "%s: %zu bytes of data for %lld float32 elements", path,
                     size - data_at, (long long)out->elements);
    if (st == TS_OK) {
        out->data = malloc((size_t)out->elements * sizeof(float));
        if (!out->data)
            st = ts_fail(err, TS_ENOMEM, "%s: no memory for the samples", path);
        else
            memcpy(out->data, bytes + data_at, (size_t)out->elements * sizeof(float));
    }
    free(bytes);
    return st;
}

static TsStatus read_pb(const char *path, Loaded *out, TsError *err)
{
    TsTensorFile t;
    TsStatus st = ts_tensor_file_read(path, &t, err);
    if (st != TS_OK)
        return st;
    char buf[TS_DTYPE_STR_MAX];
    if (!ts_dtype_eq(t.dtype, TS_FLOAT32)) {
        st = ts_fail(err, TS_EINVAL, "%s: a %s tensor; calibration samples are float32", path,
                     ts_dtype_str(t.dtype, buf));
        ts_tensor_file_free(&t);
        return st;
    }
    out->ndim = t.ndim;
    out->elements = 1;
    for (int d = 0; d < t.ndim; d++) {
        out->dims[d] = t.shape[d];
        out->elements *= t.shape[d];
    }
    out->data = t.data; /* taken over */
    return TS_OK;
}

static void shape_str(char *buf, size_t size, int ndim, const int64_t *dims)
{
    size_t n = (size_t)snprintf(buf, size, "[");
    for (int d = 0; d < ndim && n < size; d++)
        n += (size_t)snprintf(buf + n, size - n, "%s%lld", d ? ", " : "", (long long)dims[d]);
    if (n < size)
        snprintf(buf + n, size - n, "]");
}

/* How many samples of the input's shape the file stacks (0 when it does not fit). */
static int64_t samples_in(const Loaded *f, int ndim, const int64_t *shape)
{
    int64_t batch = ndim > 0 ? shape[0] : 1;
    if (f->ndim == ndim && ndim > 0) {
        for (int d = 1; d < ndim; d++)
            if (f->dims[d] != shape[d])
                return 0;
        return f->dims[0] % batch == 0 ? f->dims[0] / batch : 0;
    }
    if (f->ndim == ndim - 1 && batch == 1) { /* one sample without its batch dimension */
        for (int d = 0; d < f->ndim; d++)
            if (f->dims[d] != shape[d + 1])
                return 0;
        return 1;
    }
    return 0;
}

static TsStatus add_file(const char *path, int ndim, const int64_t *shape, QuantSamples *out,
                         TsError *err)
{
    Loaded f = { 0 };
    TsStatus st = ends_with(path, ".npy") ? read_npy(path, &f, err) : read_pb(path, &f, err);
    if (st != TS_OK)
        return st;
    int64_t n = samples_in(&f, ndim, shape);
    if (n == 0) {
        char got[160], want[160];
        shape_str(got, sizeof got, f.ndim, f.dims);
        shape_str(want, sizeof want, ndim, shape);
        free(f.data);
        return ts_fail(err, TS_EINVAL,
                       "%s: shape %s does not hold whole samples of the model input's %s", path,
                       got, want);
    }
    size_t old = (size_t)out->count * (size_t)out->sample_elements;
    float *data = realloc(out->data, (old + (size_t)f.elements) * sizeof(float));
    if (!data) {
        free(f.data);
        return ts_fail(err, TS_ENOMEM, "%s: no memory for the samples", path);
    }
    memcpy(data + old, f.data, (size_t)f.elements * sizeof(float));
    free(f.data);
    out->data = data;
    out->count += (int)n;
    return TS_OK;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every .pb and .npy file of a folder, in name order. */
static TsStatus add_folder(const char *dir, int ndim, const int64_t *shape, QuantSamples *out,
                           TsError *err)
{
    DIR *d = opendir(dir);
    if (!d)
        return ts_fail(err, TS_EINVAL, "%s: cannot read the folder of samples", dir);
    char **names = NULL;
    int num = 0, cap = 0;
    TsStatus st = TS_OK;
    for (struct dirent *e; st == TS_OK && (e = readdir(d)) != NULL;) {
        if (!ends_with(e->d_name, ".pb") && !ends_with(e->d_name, ".npy"))
            continue;
        if (num == cap) {
            cap = cap ? 2 * cap : 64;
            char **grown = realloc(names, (size_t)cap * sizeof *names);
            if (!grown) {
                st = ts_fail(err, TS_ENOMEM, "%s: no memory for the file list", dir);
                break;
            }
            names = grown;
        }
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        names[num] = malloc(len);
        if (!names[num]) {
            st = ts_fail(err, TS_ENOMEM, "%s: no memory for the file list", dir);
            break;
        }
        snprintf(names[num++], len, "%s/%s", dir, e->d_name);
    }
    closedir(d);
    if (st == TS_OK && num == 0)
        st = ts_fail(err, TS_EINVAL, "%s: no .pb or .npy sample files in the folder", dir);
    if (st == TS_OK)
        qsort(names, (size_t)num, sizeof *names, compare_names);
    for (int i = 0; i < num; i++) {
        if (st == TS_OK)
            st = add_file(names[i], ndim, shape, out, err);
        free(names[i]);
    }
    free(names);
    return st;
}

TsStatus quant_read_samples(const TsQuantizeOptions *options, int ndim, const int64_t *shape,
                            QuantSamples *out, TsError *err)
{
    memset(out, 0, sizeof *out);
    out->sample_elements = 1;
    for (int d = 0; d < ndim; d++)
        out->sample_elements *= shape[d];
    if (options->num_samples <= 0)
        return ts_fail(err, TS_EINVAL,
                       "quantize: no calibration samples (give .pb or .npy "
                       "files, or folders of them)");
    TsStatus st = TS_OK;
    for (int i = 0; st == TS_OK && i < options->num_samples; i++) {
        const char *path = options->samples[i];
        struct stat sb;
        if (stat(path, &sb) != 0)
            st = ts_fail(err, TS_EINVAL, "%s: no such sample file or folder", path);
        else if (S_ISDIR(sb.st_mode))
            st = add_folder(path, ndim, shape, out, err);
        else
            st = add_file(path, ndim, shape, out, err);
    }
    if (st != TS_OK)
        quant_samples_free(out);
    return st;
}

void quant_samples_free(QuantSamples *samples)
{
    free(samples->data);
    memset(samples, 0, sizeof *samples);
}
