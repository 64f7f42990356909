/* The schedule property test (tests/schedule/test_schedule_property.c: random legal
 * schedules of random library operators) run once more with every loop nest compiled
 * by codegen instead of interpreted. That file is compiled into test_codegen_property
 * with sch_check_lowered renamed to cgp_check_lowered (tests/codegen/CMakeLists.txt),
 * which this file defines: the same inputs and the same tolerance, but the kernel is
 * JIT-compiled for the host and called through its packed entry. A case that the
 * loop-nest interpreter accepts and the compiled kernel gets wrong is a codegen bug. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cg_testing.h"
#include "schedule/sch_testing.h"
#include "te/te_internal.h"

TsStatus cgp_check_lowered(const TsLoweredFunc *func, int num_outputs, TsTensor *const *outputs,
                           uint64_t seed, SchCheck *check);

TsStatus cgp_check_lowered(const TsLoweredFunc *func, int num_outputs, TsTensor *const *outputs,
                           uint64_t seed, SchCheck *check)
{
    memset(check, 0, sizeof *check);
    check->stage = "jit";
    TsJitModule *module = NULL;
    TsError err;
    TsStatus status = ts_build_jit(1, &func, cgt_host(), &module, &err);
    TsPackedFunc fn = NULL;
    if (status == TS_OK)
        status = ts_jit_get_func(module, func->name, &fn, &err);
    if (status != TS_OK) {
        check->status = status;
        snprintf(check->message, sizeof check->message, "codegen: %s", err.message);
        ts_jit_release(module);
        return status;
    }
    CgtArgs args;
    cgt_args_init(&args, func, seed, NULL);
    check->stage = "run";
    if (cgt_call(fn, &args) != 0) {
        check->status = TS_EDEVICE;
        snprintf(check->message, sizeof check->message, "the kernel failed: %s",
                 ts_runtime_last_error());
    } else {
        check->stage = "compare";
        if (!cgt_compare_with_oracle(&args, num_outputs, outputs, check->message,
                                     sizeof check->message))
            check->status = TS_EINVAL;
        for (int o = 0; o < num_outputs; o++)
            check->elements += ts_tensor_num_elements(outputs[o]);
    }
    cgt_args_free(&args);
    ts_jit_release(module);
    return check->status;
}
