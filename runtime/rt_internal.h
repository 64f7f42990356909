/* Shared between the files of runtime/ (prefix rt_): the error slot's helpers for the
 * runtime's own messages. Not installed; no other module includes it. */
#ifndef TESSERA_RT_INTERNAL_H
#define TESSERA_RT_INTERNAL_H

#include <stdint.h>

#include "tessera/error.h"
#include "tessera/graph_executor.h"
#include "tessera/runtime.h"

/* Formats a message into this thread's error slot (bounded, like ts_runtime_set_error). */
void rt_set_errorf(const char *fmt, ...) TS_PRINTF_LIKE(1, 2);
/* Empties this thread's error slot, so that a call that fails without a message is not
 * reported with an older one. */
void rt_clear_error(void);

/* ---- whole models (model_table.c): a version-3 table's model, checked ---- */

/* The model of a module, pointing into the loaded library's blobs; every record checked,
 * every call's kernel resolved. */
typedef struct RtModel {
    const TsModelGraphHeader *header;
    const TsModelTensor *tensors;
    const TsModelCall *calls;
    const uint32_t *args;
    const uint32_t *inputs;
    const uint32_t *outputs;
    const char *strings;
    uint32_t strings_bytes;
    const unsigned char *weights;
    uint64_t weights_bytes;
    uint64_t arena_bytes;
    const uint64_t *arena_offsets; /* per tensor */
    uint64_t *tensor_bytes;        /* per tensor, computed */
    TsPackedFunc *funcs;           /* per call, resolved */
} RtModel;

/* Reads and checks the model of table, a version-3 table with TS_MODULE_HAS_MODEL whose
 * kernel entries are already checked. TS_EPROTO naming path and the field at fault. */
TsStatus rt_model_read(const char *path, const TsModuleTable *table, RtModel **out, TsError *err);
void rt_model_free(RtModel *model);
/* The checked string at offset of the model's strings. */
const char *rt_model_string(const RtModel *model, uint32_t offset);

/* module.c: the model a module carries (NULL for kernels alone), and its path. */
const RtModel *rt_module_model(const TsModule *module);
const char *rt_module_path(const TsModule *module);

#endif /* TESSERA_RT_INTERNAL_H */
