/* run_model: one whole model through import, build, load and the graph executor by the C
 * API (model_pipeline.c), the way `tessera build` and `tessera run --save-outputs` take it,
 * for the whole-model tests (test_model_e2e.sh), which compare the outputs with ONNX
 * Runtime's.
 *
 *   run_model MODEL.onnx OUT.so OUT_DIR [INPUT.pb ...]
 *
 * Prints what the build made (kernels; tuned, default and generic schedules; the arena and
 * the weights) and the build time; exits 0 when every step succeeded, else 1 with the step
 * and its message. */
#include <stdio.h>
#include <time.h>

#include "model_pipeline.h"

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: run_model MODEL.onnx OUT.so OUT_DIR [INPUT.pb ...]\n");
        return 2;
    }
    MpModel m = { .model = argv[1],
                  .so = argv[2],
                  .out_dir = argv[3],
                  .inputs = (const char *const *)argv + 4,
                  .num_inputs = argc - 4 };
    MpResult r;
    double start = seconds();
    bool ok = mp_run_model(&m, &r);
    double elapsed = seconds() - start;
    if (!ok) {
        printf("run_model: %s: %s failed: %s\n", m.model, mp_stage_name(r.stage), r.err.message);
        return 1;
    }
    printf("run_model: %s: %d kernels (%d tuned, %d default, %d generic), arena %lld bytes, "
           "weights %lld bytes, %d build notes; import, build and run in %.1f s; %d outputs\n",
           m.model, r.stats.num_kernels, r.stats.num_tuned, r.stats.num_default,
           r.stats.num_generic, (long long)r.stats.arena_bytes, (long long)r.stats.weights_bytes,
           r.num_notes, elapsed, r.num_outputs);
    return 0;
}
