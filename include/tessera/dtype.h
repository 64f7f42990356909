/* Data types: a DLPack-compatible (code, bits, lanes) triple. */
#ifndef TESSERA_DTYPE_H
#define TESSERA_DTYPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The type codes are DLPack's (kDLInt, kDLUInt, kDLFloat, kDLBfloat, kDLBool), so a
 * tensor's dtype crosses the kernel ABI unchanged. */
typedef enum TsTypeCode {
    TS_TYPE_INT = 0,
    TS_TYPE_UINT = 1,
    TS_TYPE_FLOAT = 2,
    TS_TYPE_BFLOAT = 4, /* bfloat16: float32's sign and exponent, 7 stored mantissa bits */
    TS_TYPE_BOOL = 6
} TsTypeCode;

typedef struct TsDType {
    uint8_t code;   /* a TsTypeCode */
    uint8_t bits;   /* bits of one lane: 8/16/32/64; bool is stored as 8 */
    uint16_t lanes; /* 1 for scalars */
} TsDType;

static inline TsDType ts_dtype(TsTypeCode code, int bits, int lanes)
{
    TsDType t;
    t.code = (uint8_t)code;
    t.bits = (uint8_t)bits;
    t.lanes = (uint16_t)lanes;
    return t;
}

#define TS_BOOL ts_dtype(TS_TYPE_BOOL, 8, 1)
#define TS_INT8 ts_dtype(TS_TYPE_INT, 8, 1)
#define TS_INT16 ts_dtype(TS_TYPE_INT, 16, 1)
#define TS_INT32 ts_dtype(TS_TYPE_INT, 32, 1)
#define TS_INT64 ts_dtype(TS_TYPE_INT, 64, 1)
#define TS_UINT8 ts_dtype(TS_TYPE_UINT, 8, 1)
#define TS_UINT16 ts_dtype(TS_TYPE_UINT, 16, 1)
#define TS_UINT32 ts_dtype(TS_TYPE_UINT, 32, 1)
#define TS_UINT64 ts_dtype(TS_TYPE_UINT, 64, 1)
#define TS_FLOAT16 ts_dtype(TS_TYPE_FLOAT, 16, 1) /* storage only: cast before arithmetic */
#define TS_FLOAT32 ts_dtype(TS_TYPE_FLOAT, 32, 1)
#define TS_FLOAT64 ts_dtype(TS_TYPE_FLOAT, 64, 1)
/* bfloat16 is a storage type like float16: loads, stores, casts and selects only; cast
 * to float32 before arithmetic (a product of two bfloat16 values is exact in float32, so
 * bf16 dot products are written as casts to float32 and a float32 sum, as the hardware
 * computes them). A cast to bfloat16 from any type goes through float32 (the hardware
 * converts from float32), then rounds to nearest even: ts_float_to_bfloat16. */
#define TS_BFLOAT16 ts_dtype(TS_TYPE_BFLOAT, 16, 1)

/* True for the types listed above, with any lane count from 1 to 1024. */
bool ts_dtype_is_valid(TsDType t);
bool ts_dtype_eq(TsDType a, TsDType b);
bool ts_dtype_is_int(TsDType t);   /* signed or unsigned integer */
bool ts_dtype_is_uint(TsDType t);
/* Every floating-point type: float16/32/64 and bfloat16 (a cast from any of them to an
 * integer saturates, NaN becomes 0). Test ts_dtype_is_bfloat or the code before reading
 * bits, since float16 and bfloat16 both have 16. */
bool ts_dtype_is_float(TsDType t);
bool ts_dtype_is_bfloat(TsDType t);
/* float16 and bfloat16: types that hold values but take no arithmetic. */
bool ts_dtype_is_storage_only(TsDType t);
bool ts_dtype_is_bool(TsDType t);
/* The same element type with another lane count. */
TsDType ts_dtype_with_lanes(TsDType t, int lanes);
/* Bytes one element (all lanes) occupies in a dense buffer. */
size_t ts_dtype_bytes(TsDType t);

#define TS_DTYPE_STR_MAX 24
/* Writes "float32", "int8x16", "bool" into buf and returns buf; "invalid(c,b,l)"
 * for a triple that is not a Tessera type. */
const char *ts_dtype_str(TsDType t, char buf[TS_DTYPE_STR_MAX]);
/* Parses the names ts_dtype_str writes. Returns false for anything else. */
bool ts_dtype_parse(const char *text, TsDType *out);

/* float32 -> bfloat16 bits, rounding to nearest, ties to even; infinities stay
 * infinities, a finite value past bfloat16's largest becomes an infinity, a NaN stays a
 * NaN, quieted (its sign and top mantissa bits kept, the quiet bit set), and float32
 * subnormals round like any other value (no flush to zero). The interpreters, codegen's
 * conversion and the tests share this definition. */
uint16_t ts_float_to_bfloat16(float value);
/* bfloat16 bits -> float32: exact (the bits become float32's upper half). */
float ts_bfloat16_to_float(uint16_t bits);

#ifdef __cplusplus
}
#endif

#endif /* TESSERA_DTYPE_H */
