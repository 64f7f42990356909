/* Data types: validity, sizes, names, and the value conversions every later stage
 * shares (integer wrap-around, float rounding, IEEE half, bfloat16). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "te_internal.h"

enum { MAX_LANES = 1024 };

static bool valid_scalar(TsDType t)
{
    switch (t.code) {
    case TS_TYPE_INT:
    case TS_TYPE_UINT:
        return t.bits == 8 || t.bits == 16 || t.bits == 32 || t.bits == 64;
    case TS_TYPE_FLOAT:
        return t.bits == 16 || t.bits == 32 || t.bits == 64;
    case TS_TYPE_BFLOAT:
        return t.bits == 16;
    case TS_TYPE_BOOL:
        return t.bits == 8;
    default:
        return false;
    }
}

bool ts_dtype_is_valid(TsDType t)
{
    return valid_scalar(t) && t.lanes >= 1 && t.lanes <= MAX_LANES;
}

bool ts_dtype_eq(TsDType a, TsDType b)
{
    return a.code == b.code && a.bits == b.bits && a.lanes == b.lanes;
}

bool ts_dtype_is_int(TsDType t)
{
    return t.code == TS_TYPE_INT || t.code == TS_TYPE_UINT;
}

bool ts_dtype_is_uint(TsDType t)
{
    return t.code == TS_TYPE_UINT;
}

bool ts_dtype_is_float(TsDType t)
{
    return t.code == TS_TYPE_FLOAT || t.code == TS_TYPE_BFLOAT;
}

bool ts_dtype_is_bfloat(TsDType t)
{
    return t.code == TS_TYPE_BFLOAT;
}

bool ts_dtype_is_storage_only(TsDType t)
{
    return t.code == TS_TYPE_BFLOAT || (t.code == TS_TYPE_FLOAT && t.bits == 16);
}

bool ts_dtype_is_bool(TsDType t)
{
    return t.code == TS_TYPE_BOOL;
}

TsDType ts_dtype_with_lanes(TsDType t, int lanes)
{
    t.lanes = (uint16_t)lanes;
    return t;
}

size_t ts_dtype_bytes(TsDType t)
{
    return (size_t)(t.bits / 8) * t.lanes;
}

const char *ts_dtype_str(TsDType t, char buf[TS_DTYPE_STR_MAX])
{
    const char *base;
    if (!ts_dtype_is_valid(t)) {
        snprintf(buf, TS_DTYPE_STR_MAX, "invalid(%u,%u,%u)", t.code, t.bits, t.lanes);
        return buf;
    }
    switch (t.code) {
    case TS_TYPE_INT: base = "int"; break;
    case TS_TYPE_UINT: base = "uint"; break;
    case TS_TYPE_FLOAT: base = "float"; break;
    case TS_TYPE_BFLOAT: base = "bfloat"; break;
    default: base = "bool"; break;
    }
    int n;
    if (t.code == TS_TYPE_BOOL)
        n = snprintf(buf, TS_DTYPE_STR_MAX, "bool");
    else
        n = snprintf(buf, TS_DTYPE_STR_MAX, "%s%u", base, t.bits);
    if (t.lanes > 1)
        snprintf(buf + n, TS_DTYPE_STR_MAX - (size_t)n, "x%u", t.lanes);
    return buf;
}

bool ts_dtype_parse(const char *text, TsDType *out)
{
    static const struct { const char *prefix; TsTypeCode code; } bases[] = {
        { "bool", TS_TYPE_BOOL },   { "uint", TS_TYPE_UINT },     { "int", TS_TYPE_INT },
        { "float", TS_TYPE_FLOAT }, { "bfloat", TS_TYPE_BFLOAT },
    };
    if (!text)
        return false;
    for (size_t i = 0; i < sizeof bases / sizeof bases[0]; i++) {
        size_t n = strlen(bases[i].prefix);
        if (strncmp(text, bases[i].prefix, n) != 0)
            continue;
        const char *p = text + n;
        long bits = 8, lanes = 1;
        char *end;
        if (bases[i].code != TS_TYPE_BOOL) {
            if (*p < '0' || *p > '9')
                return false;
            bits = strtol(p, &end, 10);
            p = end;
        }
        if (*p == 'x') {
            if (p[1] < '0' || p[1] > '9')
                return false;
            lanes = strtol(p + 1, &end, 10);
            p = end;
        }
        if (*p != '\0' || bits > 64 || lanes > MAX_LANES)
            return false;
        TsDType t = ts_dtype(bases[i].code, (int)bits, (int)lanes);
        if (!ts_dtype_is_valid(t))
            return false;
        *out = t;
        return true;
    }
    return false;
}

int64_t te_wrap_int(TsDType dtype, int64_t v)
{
    uint64_t u = (uint64_t)v;
    if (dtype.code == TS_TYPE_BOOL)
        return u != 0;
    if (dtype.bits >= 64)
        return v;
    uint64_t mask = (UINT64_C(1) << dtype.bits) - 1;
    u &= mask;
    if (dtype.code == TS_TYPE_INT && (u >> (dtype.bits - 1)) != 0)
        u |= ~mask; /* sign-extend */
    return (int64_t)u;
}

double te_round_float(TsDType dtype, double v)
{
    if (dtype.code == TS_TYPE_BFLOAT)
        return (double)ts_bfloat16_to_float(ts_float_to_bfloat16((float)v));
    if (dtype.bits == 32)
        return (double)(float)v;
    if (dtype.bits == 16)
        return (double)te_half_to_float(te_double_to_half(v));
    return v;
}

/* IEEE binary16 from a double, rounding to nearest even in one step (going through
 * float would round twice and could miss a tie). */
uint16_t te_double_to_half(double d)
{
    uint64_t x;
    memcpy(&x, &d, sizeof x);
    uint16_t sign = (uint16_t)((x >> 48) & 0x8000);
    uint64_t exp = (x >> 52) & 0x7ff;
    uint64_t mant = x & ((UINT64_C(1) << 52) - 1);
    if (exp == 0x7ff) /* inf or NaN (a NaN stays a quiet NaN) */
        return (uint16_t)(sign | 0x7c00 | (mant ? 0x200 : 0));
    int64_t e = (int64_t)exp - 1023 + 15;
    if (e >= 0x1f)
        return (uint16_t)(sign | 0x7c00); /* overflow to infinity */
    uint64_t half_mant, rest, halfway;
    if (e <= 0) {
        /* Subnormal half, or zero: shift the whole significand into place. */
        if (e < -10)
            return sign;
        uint64_t full = mant | (UINT64_C(1) << 52);
        unsigned shift = (unsigned)(43 - e);
        half_mant = full >> shift;
        rest = full & ((UINT64_C(1) << shift) - 1);
        halfway = UINT64_C(1) << (shift - 1);
    } else {
        half_mant = ((uint64_t)e << 10) | (mant >> 42);
        rest = mant & ((UINT64_C(1) << 42) - 1);
        halfway = UINT64_C(1) << 41;
    }
    if (rest > halfway || (rest == halfway && (half_mant & 1)))
        half_mant++; /* may carry into the exponent, up to infinity: still correct */
    return (uint16_t)(sign | half_mant);
}

uint16_t te_float_to_half(float f)
{
    return te_double_to_half((double)f);
}

float te_half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;
    uint32_t x;
    if (exp == 0x1f) {
        x = sign | 0x7f800000 | (mant << 13);
    } else if (exp == 0) {
        if (mant == 0) {
            x = sign;
        } else {
            /* Subnormal: value is mant * 2^-24, exact in float. */
            float v = ldexpf((float)mant, -24);
            memcpy(&x, &v, sizeof x);
            x |= sign;
        }
    } else {
        x = sign | ((exp - 15 + 127) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &x, sizeof f);
    return f;
}

uint16_t ts_float_to_bfloat16(float value)
{
    uint32_t x;
    memcpy(&x, &value, sizeof x);
    if ((x & 0x7fffffffu) > 0x7f800000u) /* NaN: keep sign and top bits, set the quiet bit */
        return (uint16_t)((x >> 16) | 0x0040u);
    /* Adding 0x7fff plus the kept part's lowest bit rounds to nearest even; a carry out of
     * the mantissa steps the exponent, up to infinity, which is the right result. */
    uint32_t rounding = 0x7fffu + ((x >> 16) & 1u);
    return (uint16_t)((x + rounding) >> 16);
}

float ts_bfloat16_to_float(uint16_t bits)
{
    uint32_t x = (uint32_t)bits << 16;
    float f;
    memcpy(&f, &x, sizeof f);
    return f;
}
