/* Output comparison for the whole-model tests (tensor_compare.h): a model's output against
 * the reference's, element by element, keeping the worst element so that a failure says
 * where and by how much, not only that. */
#include "tensor_compare.h"

#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "te/te_internal.h"

/* Element i of a tensor as a double (integers up to 2^53 exactly, which the bit-exact
 * comparison below does not rely on). */
static double element(const OnnxTensor *t, int64_t i)
{
    const void *d = t->data;
    switch (t->onnx_type) {
    case ONNX_FLOAT: return ((const float *)d)[i];
    case ONNX_DOUBLE: return ((const double *)d)[i];
    case ONNX_FLOAT16: return te_half_to_float(((const uint16_t *)d)[i]);
    case ONNX_UINT8: return ((const uint8_t *)d)[i];
    case ONNX_INT8: return ((const int8_t *)d)[i];
    case ONNX_UINT16: return ((const uint16_t *)d)[i];
    case ONNX_INT16: return ((const int16_t *)d)[i];
    case ONNX_INT32: return ((const int32_t *)d)[i];
    case ONNX_INT64: return (double)((const int64_t *)d)[i];
    case ONNX_BOOL: return ((const uint8_t *)d)[i];
    case ONNX_UINT32: return ((const uint32_t *)d)[i];
    case ONNX_UINT64: return (double)((const uint64_t *)d)[i];
    default: return NAN;
    }
}

static bool is_float_type(int32_t onnx_type)
{
    return onnx_type == ONNX_FLOAT || onnx_type == ONNX_DOUBLE || onnx_type == ONNX_FLOAT16;
}

/* "[0, 17, 3]": the row-major index of flat element i. */
static void format_index(const OnnxTensor *t, int64_t i, char *buf, size_t size)
{
    int64_t index[TS_MAX_DIMS];
    for (int d = t->ndim - 1; d >= 0; d--) {
        index[d] = t->shape[d] ? i % t->shape[d] : 0;
        i = t->shape[d] ? i / t->shape[d] : 0;
    }
    size_t used = (size_t)snprintf(buf, size, "[");
    for (int d = 0; d < t->ndim && used < size; d++)
        used += (size_t)snprintf(buf + used, size - used, "%s%" PRId64, d ? ", " : "", index[d]);
    if (used < size)
        snprintf(buf + used, size - used, "]");
}

static void format_shape(const OnnxTensor *t, char *buf, size_t size)
{
    size_t used = (size_t)snprintf(buf, size, "[");
    for (int d = 0; d < t->ndim && used < size; d++)
        used += (size_t)snprintf(buf + used, size - used, "%s%" PRId64, d ? ", " : "", t->shape[d]);
    if (used < size)
        snprintf(buf + used, size - used, "]");
}

/* Dtype and shape must agree before any element is looked at. */
static bool same_layout(const OnnxTensor *got, const OnnxTensor *want, const char *name,
                        TcResult *r)
{
    char a[160], b[160];
    if (got->onnx_type != want->onnx_type) {
        snprintf(r->message, sizeof r->message, "%s: dtype %s, expected %s", name,
                 onnx_type_name(got->onnx_type), onnx_type_name(want->onnx_type));
        return false;
    }
    bool same = got->ndim == want->ndim;
    for (int d = 0; same && d < got->ndim; d++)
        same = got->shape[d] == want->shape[d];
    if (!same) {
        format_shape(got, a, sizeof a);
        format_shape(want, b, sizeof b);
        snprintf(r->message, sizeof r->message, "%s: shape %s, expected %s", name, a, b);
    }
    return same;
}

/* How far element i lies outside the tolerance (<= 0 inside it); NaN equals NaN only. */
static double excess(double g, double w, bool exact, double rtol, double atol)
{
    if (isnan(g) || isnan(w))
        return isnan(g) && isnan(w) ? -1.0 : INFINITY;
    if (isinf(g) || isinf(w))
        return g == w ? -1.0 : INFINITY;
    if (exact)
        return g == w ? -1.0 : fabs(g - w);
    return fabs(g - w) - (atol + rtol * fabs(w));
}

void tc_compare(const OnnxTensor *got, const OnnxTensor *want, double rtol, double atol,
                const char *name, TcResult *r)
{
    memset(r, 0, sizeof *r);
    r->worst_excess = -INFINITY;
    if (!same_layout(got, want, name, r))
        return;
    bool exact = !is_float_type(want->onnx_type);
    int64_t worst = -1;
    for (int64_t i = 0; i < want->num_elements; i++) {
        double g = element(got, i), w = element(want, i);
        double e = excess(g, w, exact, rtol, atol);
        if (want->onnx_type == ONNX_INT64 || want->onnx_type == ONNX_UINT64) /* past 2^53 */
            e = memcmp((const int64_t *)got->data + i, (const int64_t *)want->data + i, 8)
                    ? fmax(e, 1.0)
                    : -1.0;
        if (!isnan(g) && !isnan(w) && fabs(g - w) > r->max_abs_diff)
            r->max_abs_diff = fabs(g - w);
        if (!isnan(w) && fabs(w) > r->max_abs_want)
            r->max_abs_want = fabs(w);
        if (e > 0)
            r->mismatches++;
        if (worst < 0 || e > r->worst_excess) {
            r->worst_excess = e;
            worst = i;
        }
    }
    r->elements = want->num_elements;
    r->equal = r->mismatches == 0;
    if (worst < 0) {
        snprintf(r->message, sizeof r->message, "%s: empty, as expected", name);
        return;
    }
    char index[200];
    format_index(want, worst, index, sizeof index);
    double g = element(got, worst), w = element(want, worst);
    char rule[80];
    if (exact)
        snprintf(rule, sizeof rule, "exactly equal");
    else
        snprintf(rule, sizeof rule, "|diff| <= %g + %g |expected|", atol, rtol);
    snprintf(r->message, sizeof r->message,
             "%s: %s: %lld of %lld elements not %s; worst at %s: got %.9g, expected %.9g "
             "(|diff| %.3g; max |diff| %.3g, max |expected| %.3g)",
             name, r->equal ? "ok" : "MISMATCH", r->mismatches, r->elements, rule, index, g, w,
             fabs(g - w), r->max_abs_diff, r->max_abs_want);
}

bool tc_compare_files(const char *got_path, const char *want_path, double rtol, double atol,
                      TcResult *r)
{
    OnnxTensor got = { 0 }, want = { 0 };
    TsError err = { 0 };
    bool ok = false;
    memset(r, 0, sizeof *r);
    if (onnx_load_tensor(got_path, &got, &err) != TS_OK)
        goto out_report;
    if (onnx_load_tensor(want_path, &want, &err) != TS_OK)
        goto out_free_got;
    tc_compare(&got, &want, rtol, atol, got_path, r);
    ok = true;
    onnx_tensor_free(&want);
out_free_got:
    onnx_tensor_free(&got);
out_report:
    if (!ok)
        snprintf(r->message, sizeof r->message, "%s", err.message);
    return ok;
}
