/* The comparison of a model's outputs with a reference's (ONNX Runtime, or the expected
 * outputs of the ONNX node tests), both read from ONNX TensorProto files: same dtype, same
 * shape, integers and bools exactly, floats within |got - want| <= atol + rtol * |want|
 * (numpy.allclose's rule; NaN equals NaN), and on a mismatch the worst element named by its
 * index with both values. Used by pb_compare (the command the model tests, bench_models and
 * `make demo` run) and the node-test pipeline. */
#ifndef TESSERA_TESTS_MODELS_TENSOR_COMPARE_H
#define TESSERA_TESTS_MODELS_TENSOR_COMPARE_H

#include <stdbool.h>
#include <stddef.h>

#include "relay_lite/onnx_loader.h"

/* The tolerances the issue fixes for whole models. */
#define TC_DEFAULT_RTOL 1e-3
#define TC_DEFAULT_ATOL 1e-4

typedef struct TcResult {
    bool equal;         /* every element within the tolerance */
    long long elements; /* elements compared */
    long long mismatches;
    double worst_excess; /* worst |got - want| - (atol + rtol |want|); <= 0 when equal */
    double max_abs_diff;
    double max_abs_want; /* the reference's largest magnitude: is atol small beside it? */
    char message[512];   /* the verdict: the worst element, or why they cannot be compared */
} TcResult;

/* Compares two loaded tensors; name stands for them in the message. */
void tc_compare(const OnnxTensor *got, const OnnxTensor *want, double rtol, double atol,
                const char *name, TcResult *result);

/* Loads and compares two TensorProto files. Returns false (message set) when either cannot
 * be read; otherwise true with the verdict in result->equal. */
bool tc_compare_files(const char *got_path, const char *want_path, double rtol, double atol,
                      TcResult *result);

#endif /* TESSERA_TESTS_MODELS_TENSOR_COMPARE_H */
