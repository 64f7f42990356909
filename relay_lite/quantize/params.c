/* Quantization parameters: the 8-bit arithmetic of activations (asymmetric, TFLite's
 * scheme, stored as uint8), the user's JSON file of parameters and precisions, and the per-node
 * precisions of the command line. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "relay_lite/quantize/quant_internal.h"

void ts_quant_activation_params(double lo, double hi, double *scale, int32_t *zero_point)
{
    lo = fmin(lo, 0);
    hi = fmax(hi, 0);
    if (!(hi - lo > 1e-30)) {
        *scale = 1.0;
        *zero_point = 0;
        return;
    }
    *scale = (double)(float)((hi - lo) / 255.0); /* what the model's float32 holds */
    double zp = nearbyint(-lo / *scale);
    *zero_point = (int32_t)(zp < 0 ? 0 : zp > 255 ? 255 : zp);
}

TsStatus quant_check_precision(const char *precision, const char *where, TsError *err)
{
    if (strcmp(precision, "int8") == 0 || strcmp(precision, "fp32") == 0)
        return TS_OK;
    if (strcmp(precision, "bf16") == 0 || (precision[0] == 'a' && strchr(precision, 'w')))
        return ts_fail(err, TS_EINVAL,
                       "%s: precision \"%s\": the QDQ writer has int8 and fp32 layers only; "
                       "bf16 and low-bit layers are not written yet",
                       where, precision);
    return ts_fail(err, TS_EINVAL, "%s: unknown precision \"%s\" (int8 or fp32)", where, precision);
}

static TsQuantLayer *find_layer(TsQuantizeResult *r, const char *node)
{
    for (int i = 0; i < r->num_layers; i++)
        if (strcmp(r->layers[i].node, node) == 0)
            return &r->layers[i];
    return NULL;
}

static TsQuantTensor *find_tensor(TsQuantizeResult *r, const char *name)
{
    for (int i = 0; i < r->num_tensors; i++)
        if (strcmp(r->tensors[i].name, name) == 0)
            return &r->tensors[i];
    return NULL;
}

static TsStatus set_precision(TsQuantizeResult *r, const char *node, const char *precision,
                              const char *why, const char *where, TsError *err)
{
    TsStatus st = quant_check_precision(precision, where, err);
    if (st != TS_OK)
        return st;
    TsQuantLayer *layer = find_layer(r, node);
    if (!layer)
        return ts_fail(err, TS_EINVAL,
                       "%s: node \"%s\" is not a layer that can be quantized (Conv, Gemm or "
                       "MatMul with an initializer weight)",
                       where, node);
    snprintf(layer->precision, sizeof layer->precision, "%s", precision);
    snprintf(layer->why, sizeof layer->why, "%s", why);
    return TS_OK;
}

static TsStatus number(json_t *v, const char *path, const char *tensor, const char *key,
                       double *out, TsError *err)
{
    if (!json_is_number(v))
        return ts_fail(err, TS_EINVAL, "%s: tensors.\"%s\".%s is not a number", path, tensor, key);
    *out = json_number_value(v);
    if (!isfinite(*out))
        return ts_fail(err, TS_EINVAL, "%s: tensors.\"%s\".%s is not finite", path, tensor, key);
    return TS_OK;
}

/* { "scale": S, "zero_point": Z } or { "min": A, "max": B }. */
static TsStatus apply_tensor(const char *path, TsQuantizeResult *r, const char *name, json_t *spec,
                             TsError *err)
{
    TsQuantTensor *t = find_tensor(r, name);
    if (!t)
        return ts_fail(err, TS_EINVAL,
                       "%s: tensors.\"%s\": not a tensor this model quantizes (an activation "
                       "input or output of a quantized layer)",
                       path, name);
    if (!json_is_object(spec))
        return ts_fail(err, TS_EINVAL, "%s: tensors.\"%s\" is not an object", path, name);
    const char *key;
    json_t *v;
    json_object_foreach(spec, key, v)
    {
        if (strcmp(key, "scale") && strcmp(key, "zero_point") && strcmp(key, "min") &&
            strcmp(key, "max") && strcmp(key, "bits"))
            return ts_fail(err, TS_EINVAL,
                           "%s: tensors.\"%s\": unknown key \"%s\" (scale, zero_point, min, "
                           "max, bits)",
                           path, name, key);
    }
    json_t *bits = json_object_get(spec, "bits");
    if (bits && (!json_is_integer(bits) || json_integer_value(bits) != 8))
        return ts_fail(err, TS_EINVAL,
                       "%s: tensors.\"%s\".bits: only 8-bit activations are written yet", path,
                       name);
    json_t *scale = json_object_get(spec, "scale"), *zp = json_object_get(spec, "zero_point");
    json_t *min = json_object_get(spec, "min"), *max = json_object_get(spec, "max");
    TsStatus st = TS_OK;
    if (scale || zp) {
        if (!scale || !zp || min || max)
            return ts_fail(err, TS_EINVAL,
                           "%s: tensors.\"%s\": give scale and zero_point together, or min and "
                           "max",
                           path, name);
        double s, z;
        if ((st = number(scale, path, name, "scale", &s, err)) != TS_OK ||
            (st = number(zp, path, name, "zero_point", &z, err)) != TS_OK)
            return st;
        if (!(s > 0) || z != floor(z) || z < 0 || z > 255)
            return ts_fail(err, TS_EINVAL,
                           "%s: tensors.\"%s\": scale must be > 0 and zero_point an integer in "
                           "[0, 255]",
                           path, name);
        t->scale = s;
        t->zero_point = (int32_t)z;
        t->lo = (0 - z) * s;
        t->hi = (255 - z) * s;
    } else if (min || max) {
        if (!min || !max)
            return ts_fail(err, TS_EINVAL, "%s: tensors.\"%s\": give min and max together", path,
                           name);
        double lo, hi;
        if ((st = number(min, path, name, "min", &lo, err)) != TS_OK ||
            (st = number(max, path, name, "max", &hi, err)) != TS_OK)
            return st;
        if (lo > hi)
            return ts_fail(err, TS_EINVAL, "%s: tensors.\"%s\": min %g is above max %g", path, name,
                           lo, hi);
        t->lo = lo;
        t->hi = hi;
        ts_quant_activation_params(lo, hi, &t->scale, &t->zero_point);
    } else {
        return ts_fail(err, TS_EINVAL, "%s: tensors.\"%s\": no scale/zero_point or min/max", path,
                       name);
    }
    t->user = true;
    return TS_OK;
}

static TsStatus apply_precisions(const char *path, TsQuantizeResult *r, json_t *obj, TsError *err)
{
    if (!json_is_object(obj))
        return ts_fail(err, TS_EINVAL, "%s: \"precision\" is not an object of node names", path);
    const char *node;
    json_t *v;
    json_object_foreach(obj, node, v)
    {
        char where[TS_GRAPH_NAME_MAX + 512];
        snprintf(where, sizeof where, "%s: precision.\"%s\"", path, node);
        if (!json_is_string(v))
            return ts_fail(err, TS_EINVAL, "%s is not a string", where);
        TsStatus st = set_precision(r, node, json_string_value(v), "the JSON file", where, err);
        if (st != TS_OK)
            return st;
    }
    return TS_OK;
}

TsStatus quant_apply_params_file(const char *path, TsQuantizeResult *r, bool tensors_phase,
                                 TsError *err)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root)
        return ts_fail(err, TS_EINVAL, "%s:%d: %s", path, jerr.line, jerr.text);
    TsStatus st = TS_OK;
    const char *key;
    json_t *v;
    if (!json_is_object(root))
        st = ts_fail(err, TS_EINVAL, "%s: the top level is not an object", path);
    json_object_foreach(root, key, v)
    {
        if (st != TS_OK || tensors_phase)
            break;
        if (strcmp(key, "default_precision") == 0) {
            char where[4200];
            snprintf(where, sizeof where, "%s: default_precision", path);
            if (!json_is_string(v)) {
                st = ts_fail(err, TS_EINVAL, "%s is not a string", where);
                break;
            }
            st = quant_check_precision(json_string_value(v), where, err);
            for (int i = 0; st == TS_OK && i < r->num_layers; i++)
                if (strcmp(r->layers[i].why, "default") == 0)
                    snprintf(r->layers[i].precision, sizeof r->layers[i].precision, "%s",
                             json_string_value(v));
        } else if (strcmp(key, "precision") != 0 && strcmp(key, "tensors") != 0) {
            st = ts_fail(err, TS_EINVAL,
                         "%s: unknown key \"%s\" (tensors, precision, default_precision)", path,
                         key);
        }
    }
    json_t *precision = st == TS_OK ? json_object_get(root, "precision") : NULL;
    if (precision && !tensors_phase)
        st = apply_precisions(path, r, precision, err);
    json_t *tensors = st == TS_OK && tensors_phase ? json_object_get(root, "tensors") : NULL;
    if (tensors && !json_is_object(tensors))
        st = ts_fail(err, TS_EINVAL, "%s: \"tensors\" is not an object of tensor names", path);
    json_object_foreach(tensors, key, v)
    {
        if (st != TS_OK)
            break;
        st = apply_tensor(path, r, key, v, err);
    }
    json_decref(root);
    return st;
}

TsStatus quant_apply_node_precisions(const TsQuantizeOptions *options, TsQuantizeResult *r,
                                     TsError *err)
{
    for (int i = 0; i < options->num_node_precisions; i++) {
        const char *entry = options->node_precisions[i];
        const char *eq = strrchr(entry, '=');
        char node[TS_GRAPH_NAME_MAX], where[TS_GRAPH_NAME_MAX + 64];
        snprintf(where, sizeof where, "--node-precision %s", entry);
        if (!eq || eq == entry || (size_t)(eq - entry) >= sizeof node)
            return ts_fail(err, TS_EINVAL, "%s: not NODE=PRECISION", where);
        memcpy(node, entry, (size_t)(eq - entry));
        node[eq - entry] = '\0';
        TsStatus st = set_precision(r, node, eq + 1, "--node-precision", where, err);
        if (st != TS_OK)
            return st;
    }
    return TS_OK;
}
