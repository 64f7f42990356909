/* Shared by the files of schedule/templates/: the built-in templates (registered by
 * registry.c on first use) and the helpers they have in common (tmpl_common.c). */
#ifndef TESSERA_SCHEDULE_TEMPLATES_TMPL_INTERNAL_H
#define TESSERA_SCHEDULE_TEMPLATES_TMPL_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "tessera/template.h"

extern const TsTemplate sch_template_dense;
extern const TsTemplate sch_template_conv2d_nchwc;
extern const TsTemplate sch_template_depthwise_conv2d;
extern const TsTemplate sch_template_pool2d;
extern const TsTemplate sch_template_conv2d_int8;
extern const TsTemplate sch_template_conv2d_int8_vnni;
extern const TsTemplate sch_template_conv2d_int8_amx;
extern const TsTemplate sch_template_conv2d_bf16_amx;
extern const TsTemplate sch_template_conv2d_int8_sdot;
extern const TsTemplate sch_template_conv2d_int8_smlal;
extern const TsTemplate sch_template_conv2d_bf16;
extern const TsTemplate sch_template_dense_int8_vnni;
extern const TsTemplate sch_template_dense_int8_amx;
extern const TsTemplate sch_template_dense_bf16_avx512;
extern const TsTemplate sch_template_dense_bf16_amx;
extern const TsTemplate sch_template_bitserial_conv2d_x86;
extern const TsTemplate sch_template_bitserial_dense_x86;
extern const TsTemplate sch_template_bitserial_conv2d_aarch64;
extern const TsTemplate sch_template_bitserial_dense_aarch64;

/* The dtypes the built-in templates serve: float32 (their "dtype" argument, optional). */
extern const char *const sch_dtypes_f32[];
/* A valid target for what does not depend on one (flop counts). */
extern const TsTemplateTarget sch_any_target;

/* 2 M N K: the flop count of the dense templates' tasks (dense.c). */
double sch_dense_flop(const TsTemplateArgs *args);

/* Reads the named arguments (NULL-terminated names) into values, each at least min
 * (TS_EINVAL naming the missing or bad argument, prefixed with op). */
TsStatus sch_tmpl_read_args(const char *op, const TsTemplateArgs *args, const char *const *names,
                            const int64_t *min, int64_t *values, TsError *err);
/* Checks the target (known architecture, vector_bits matching its features, num_cores
 * >= 1). */
TsStatus sch_tmpl_check_target(const char *op, const TsTemplateTarget *target, TsError *err);
/* Checks the optional "dtype" argument: absent or float32 (TS_EINVAL naming it else). */
TsStatus sch_tmpl_check_dtype(const char *op, const TsTemplateArgs *args, TsError *err);
/* float32 lanes of one vector register, and the number of vector registers (16 on x86-64
 * without AVX-512, else 32). */
int64_t sch_tmpl_lanes(const TsTemplateTarget *target);
int sch_tmpl_registers(const TsTemplateTarget *target);

/* Default configs: start from choice 0 everywhere, then move each named knob to its
 * choice nearest the wanted value (inner factors of a split compared on a log scale;
 * a word must exist). The config's index is then computed. */
void sch_tmpl_config_init(const TsConfigSpace *space, TsConfig *config);
TsStatus sch_tmpl_want_split(TsConfig *config, const char *name, const int64_t *inner,
                             int num_inner, TsError *err);
TsStatus sch_tmpl_want_knob(TsConfig *config, const char *name, int64_t value, TsError *err);
TsStatus sch_tmpl_want_word(TsConfig *config, const char *name, const char *word, TsError *err);
TsStatus sch_tmpl_config_finish(TsConfig *config, TsError *err);

/* Reads an "ot" knob that is known to exist; the template's own bug otherwise. */
int64_t sch_tmpl_knob(const TsConfig *config, const char *name, TsError *err, TsStatus *status);

int64_t sch_ceil_div(int64_t a, int64_t b);

/* ---- the blocked-channel layout NCHW[x]c (nchwc.c) ----
 * The templates for conv2d, depthwise conv2d and pooling take data in NCHW[cb]c,
 * [N, C / cb, H, W, cb], and give their output in it; te/ops converts (ts_op_nchwc_pack,
 * ts_op_nchwc_unpack, ts_op_nchwc_pack_weight, ts_op_nchwc_pack_depthwise_weight). */

/* data [N, CC, H, W, cb] padded by pad on each side of H and W with zeros ("data_pad"),
 * or data itself when pad is 0. */
TsTensor *sch_nchwc_pad(TsArena *arena, TsTensor *data, int64_t pad);

/* ---- templates over a given DAG (dag.c) ---- */

/* A schedule of the DAG's last consumer (final), or of op_output when dag is NULL, with
 * the consumers before the last inlined (and the last checked to be elementwise). The
 * template then computes its accumulator where final's register tile is stored, and the
 * copy from the accumulator is inlined into the chain (cache_write, then inline). */
TsStatus sch_dag_begin(TsArena *arena, const TsTemplateDag *dag, TsTensor *op_output,
                       TsSchedule **sch, TsTensor **final, TsError *err);
/* inst's arguments become the operator's inputs, dag's inputs and final. */
void sch_dag_finish(const TsTemplateDag *dag, TsSchedule *sch, TsTensor *final,
                    TsTemplateInstance *inst);

/* Divisors of n that are at most max, and (when some are) multiples of lanes: the
 * channel blocks a template offers. Returns the count written to out (cap entries). */
int sch_channel_blocks(int64_t n, int64_t lanes, int64_t max, int64_t *out, int cap);
/* The channel block a default config wants for a vectorized channel extent n: the largest
 * of lanes * 2^j (j >= 0, at most max_vectors vectors) dividing n, else the largest power
 * of two dividing n below lanes (a part of one vector). A block of 3 or 5 vectors, or of
 * 24 or 40 lanes, is what LLVM widens and shuffles, and spills the accumulators: such a
 * block ran at 2-3 GFLOPS where a power of two ran at 100 (benchmarks/bench_defaults.c).
 * Always one of sch_channel_blocks(n, lanes, max) for max >= lanes * max_vectors. */
int64_t sch_vector_block(int64_t n, int64_t lanes, int64_t max_vectors);
/* Defines the split knob name of the channel extent n into [-1, block] over
 * sch_channel_blocks(n, lanes, max). */
TsStatus sch_define_channel_split(TsConfigSpace *space, const char *name, int64_t n, int64_t lanes,
                                  int64_t max, TsError *err);
/* The knobs depthwise conv2d and pooling share: "tile_c" (the channel block cb),
 * "tile_ow" (register blocks of reg_n output positions, powers of two up to max_reg_n),
 * "unroll_kw" and "parallel". */
typedef struct SchWindowKnobs {
    int64_t cb, reg_n, unroll_kw, parallel;
} SchWindowKnobs;

TsStatus sch_define_window_space(TsConfigSpace *space, const TsTemplateTarget *target, int64_t c,
                                 int64_t ow, int64_t max_reg_n, TsError *err);
TsStatus sch_read_window_knobs(const TsConfig *config, SchWindowKnobs *kn, TsError *err);
/* Their default for channels c: one vector of channels (sch_vector_block), reg_n
 * positions, kw unrolled, parallel when there are cores. */
TsStatus sch_window_default(const TsConfigSpace *space, const TsTemplateTarget *target, int64_t c,
                            int64_t reg_n, TsConfig *out, TsError *err);
/* Their schedule, for out [N, CC, OH, OW, cb] computed through the accumulator
 * acc [N, CC, OH, OW, cb] with reduce axes kh, kw: the output row in register blocks of
 * reg_n positions (unrolled), cb as vectors, n x cc parallel when asked; acc computed at
 * the block with loops kh, kw (unrolled when unroll_kw), the block's positions (unrolled)
 * and cb (vectors). */
TsStatus sch_schedule_window_op(TsSchedule *sch, TsTensor *out, TsTensor *acc,
                                const SchWindowKnobs *kn, TsError *err);
/* The output stage of a blocked conv2d, final [N, OC, OH, OW, ob] computed through the
 * accumulator acc: oh split by oh_bn and ow by reg_n (the inner parts unrolled), ob as
 * vectors, n x oc parallel when asked, acc computed at ow.outer. Shared by the fp32 and
 * the integer dot-product conv2d templates. */
TsStatus sch_schedule_conv_output(TsSchedule *sch, TsTensor *final, TsTensor *acc, int64_t oh_bn,
                                  int64_t reg_n, bool parallel, TsError *err);
/* Checks a sliding window of r x s (stride, pad on every side) over h x w and gives the
 * output extents; window names it in messages ("kernel", "window"), op the template. */
TsStatus sch_window_extents(const char *op, const char *window, int64_t h, int64_t w, int64_t r,
                            int64_t s, int64_t stride, int64_t pad, int64_t *oh, int64_t *ow,
                            TsError *err);

/* A register-blocked dot-product intrinsic (dot_block.c): rows output positions by oc_bn
 * channels (vectors of lanes int32 lanes), the reduction icb x r x s x depth groups of 4,
 * data and weight of 1-byte dtypes, the product one of codegen's dot_block statements
 * ("vpdpbusd", "sdot", "udot", "smull", "umull"), features what it needs. */
struct TsIntrin;
typedef struct SchDotBlock {
    const char *product;
    TsDType data, weight;
    int lanes, rows, oc_bn;
    int64_t icb, r, s, depth;
    const char *const *features;
} SchDotBlock;
/* Declares it in arena (not registered: the instance's tensorize takes it). */
TsStatus sch_dot_block_declare(TsArena *arena, const SchDotBlock *shape,
                               const struct TsIntrin **out, TsError *err);

#endif /* TESSERA_SCHEDULE_TEMPLATES_TMPL_INTERNAL_H */
