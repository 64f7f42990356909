/* The check the template tests make of one config (tests/templates/test_templates.c):
 * instantiate, lower, JIT-compile, run on random inputs, and compare the outputs with
 * the same instance's outputs under a fresh schedule (ts_schedule_create: the
 * expression straight from its definition), itself lowered and JIT-compiled. Floats are
 * compared as in tests/test_values.h: within 1e-4 * (1 + mag), mag the reference run on
 * the inputs' magnitudes. No cmocka here: a status and a message come back, so the
 * caller decides what is a failure. */
#ifndef TESSERA_TESTS_TEMPLATES_TMPL_TESTING_H
#define TESSERA_TESTS_TEMPLATES_TMPL_TESTING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tessera/codegen.h"
#include "tessera/template.h"

typedef struct TtResult {
    /* TS_OK when the candidate built; else the stage that refused it ("instantiate",
     * "lower", "jit") and its error. */
    TsStatus status;
    const char *stage;
    TsError err;
    /* When built: whether the outputs matched the reference, and the first mismatch. */
    bool same;
    char mismatch[512];
    /* Seconds of one call, when timing was asked for (repeat > 0). */
    double seconds;
} TtResult;

/* Checks config of tmpl on args for tt (code for target, the host's). repeat > 0 also
 * times the candidate: the best of repeat runs. Returns false only when the harness
 * itself failed (the reference did not build or run), with the reason in result. */
bool tt_check_config(const TsTemplate *tmpl, const TsTemplateArgs *args, const TsTemplateTarget *tt,
                     const TsTarget *target, const TsConfig *config, uint64_t seed, int repeat,
                     TtResult *result);

/* Instantiates and lowers config (no code), e.g. for a target that does not run here. */
TsStatus tt_lower_config(const TsTemplate *tmpl, const TsTemplateArgs *args,
                         const TsTemplateTarget *tt, const TsConfig *config, TsArena *arena,
                         TsLoweredFunc **func, TsError *err);

/* Instantiates, lowers and JIT-compiles config as kernel "candidate" (release *module
 * when it is not NULL, even on failure). */
TsStatus tt_build(const TsTemplate *tmpl, const TsTemplateArgs *args, const TsTemplateTarget *tt,
                  const TsTarget *target, const TsConfig *config, TsArena *arena,
                  TsTemplateInstance *inst, TsLoweredFunc **func, TsJitModule **module,
                  TsPackedFunc *fn, TsError *err);

/* Calls fn with func's arguments, each the data of the same tensor among tensors. */
bool tt_call(TsPackedFunc fn, const TsLoweredFunc *func, int num, TsTensor *const *tensors,
             void *const *data, char *message, size_t size);

#endif /* TESSERA_TESTS_TEMPLATES_TMPL_TESTING_H */
