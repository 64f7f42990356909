/* The device runtime (libtessera_runtime, no LLVM): the packed kernel ABI, arrays in
 * DLPack layout, modules loaded from shared objects, the thread pool that runs parallel
 * loops, the last-error slot, and the time evaluator.
 *
 * Every generated kernel has one signature,
 *     int32_t kernel(const TsValue *args, const int32_t *type_codes, int32_t num_args);
 * returning 0 on success, or -1 after ts_runtime_set_error() said why. Tensors cross it
 * as TsDLTensor (DLPack's DLTensor layout, so a DLPack producer's tensor can be passed
 * as is), with type code TS_ARG_TENSOR.
 */
#ifndef TESSERA_RUNTIME_H
#define TESSERA_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tessera/dtype.h"
#include "tessera/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the packed ABI ---- */

typedef enum TsDeviceType { TS_DEVICE_CPU = 1 } TsDeviceType; /* DLPack's kDLCPU */

typedef struct TsDevice {
    int32_t device_type;
    int32_t device_id;
} TsDevice;

/* DLPack's DLTensor, field for field. strides may be NULL (dense row-major); both shape
 * and strides count elements. */
typedef struct TsDLTensor {
    void *data;
    TsDevice device;
    int32_t ndim;
    TsDType dtype;
    int64_t *shape;
    int64_t *strides;
    uint64_t byte_offset;
} TsDLTensor;

typedef union TsValue {
    int64_t v_int64;
    double v_float64;
    void *v_handle;
    const char *v_str;
} TsValue;

/* Type codes of packed arguments (TVM's numbering). */
typedef enum TsArgTypeCode {
    TS_ARG_INT = 0,
    TS_ARG_FLOAT = 2,
    TS_ARG_HANDLE = 3,
    TS_ARG_NULL = 4,
    TS_ARG_TENSOR = 7, /* v_handle points to a TsDLTensor */
    TS_ARG_STR = 11
} TsArgTypeCode;

typedef int32_t (*TsPackedFunc)(const TsValue *args, const int32_t *type_codes,
                                int32_t num_args);

/* The table an exported shared object carries under TS_MODULE_TABLE_SYMBOL, so that a
 * loader can list and call its kernels without guessing names. The symbol is the table
 * itself, not a pointer to one:
 *     const TsModuleTable tessera_module_table = {
 *         .abi_version = TS_MODULE_ABI_VERSION, .num_funcs = 2, .funcs = entries };
 * Every entry needs a name (unique in the table) and a function; num_args >= 0.
 * signature describes the arguments, e.g.
 * "A:float32[64,32];B:float32[32,16];C:float32[64,16]". */
typedef struct TsFuncEntry {
    const char *name;
    TsPackedFunc func;
    int32_t num_args;
    const char *signature;
} TsFuncEntry;

/* One argument as a signature describes it. */
#define TS_SIGNATURE_MAX_DIMS 8
typedef struct TsArgSpec {
    char name[64];
    TsDType dtype;
    int ndim;
    int64_t shape[TS_SIGNATURE_MAX_DIMS];
} TsArgSpec;

/* Parses a TsFuncEntry signature ("A:float32[64,32];B:float32[32,16]") into at most
 * max_args specs; the count to *num_args. TS_EPROTO naming the part that cannot be read
 * (a module's table is input like any file). */
TsStatus ts_signature_parse(const char *signature, int max_args, TsArgSpec *args,
                            int *num_args, TsError *err);

/* The table's layout. Version 1 was the first three fields alone; version 2 added the
 * fields after funcs, reserved for a whole model, so that a later version could fill
 * them without moving anything a loader of kernels reads. Version 3 fills them: a table
 * with TS_MODULE_HAS_MODEL in flags carries a whole model, its graph, weights and memory
 * plan as three blobs with their sizes (the format is graph_executor.h's); without the
 * flag those fields are zero and the table holds kernels alone. A loader reads the
 * versions it knows (1 to 3 here) and refuses any other, naming the file and the
 * version. A version-2 table must leave the reserved fields zero. */
#define TS_MODULE_ABI_VERSION 3u
#define TS_MODULE_ABI_VERSION_MIN 1u
#define TS_MODULE_TABLE_SYMBOL "tessera_module_table"
#define TS_MODULE_TABLE_RESERVED 1
#define TS_MODULE_HAS_MODEL 1u /* flags: graph, weights and memory_plan are set */

typedef struct TsModuleTable {
    uint32_t abi_version; /* TS_MODULE_ABI_VERSION */
    int32_t num_funcs;
    const TsFuncEntry *funcs;
    /* Version 2 on (zero in version 2). */
    uint32_t flags; /* TS_MODULE_HAS_MODEL */
    uint32_t reserved_word;
    const void *graph;       /* the model's operators and tensors */
    const void *weights;     /* its constant tensors */
    const void *memory_plan; /* where its intermediate tensors live */
    /* Version 3 on: the blobs' sizes in bytes (where version 2 reserved pointers). */
    uint64_t graph_bytes;
    uint64_t weights_bytes;
    uint64_t memory_plan_bytes;
    const void *reserved[TS_MODULE_TABLE_RESERVED];
} TsModuleTable;

/* ---- errors raised by kernels ---- */

/* Kernels (and the runtime) record why a call failed here, per thread; the caller reads
 * it after a non-zero return. The message is copied (cut to TS_ERROR_MESSAGE_MAX - 1
 * bytes); NULL empties the slot. The returned string belongs to the calling thread and
 * changes with its next ts_runtime_set_error. */
void ts_runtime_set_error(const char *message);
const char *ts_runtime_last_error(void);

/* ---- the thread pool ---- */

/* One task of a parallel loop: runs its share of the iterations. Returns 0, or -1 after
 * ts_runtime_set_error. */
typedef int32_t (*TsParallelTask)(int32_t task_id, int32_t num_tasks, void *closure);

/* Runs task(0..num_tasks-1) on the pool and waits for all; num_tasks <= 0 means one per
 * worker. Returns 0, or -1 when any task failed (the first failure's message is kept;
 * tasks not yet started are then skipped). The pool has TS_NUM_THREADS workers, the
 * calling thread among them (default: the online CPUs; an invalid value is reported on
 * stderr), started on first use; a nested call runs its tasks in the calling thread. A
 * forked child starts a pool of its own. */
int32_t ts_parallel_launch(TsParallelTask task, void *closure, int32_t num_tasks);
/* The pool's size: the threads that run a job's tasks, the launching thread included
 * (fewer than TS_NUM_THREADS only if the system refused to start some). */
int32_t ts_parallel_num_threads(void);

/* ---- arrays ---- */

typedef struct TsNDArray TsNDArray;

/* A dense array of the given shape, data aligned to 64 bytes (uninitialized), on the CPU
 * (device (TS_DEVICE_CPU, 0)); its DLTensor has strides NULL and byte_offset 0. */
TsStatus ts_ndarray_empty(int ndim, const int64_t *shape, TsDType dtype, TsDevice device,
                          TsNDArray **out, TsError *err);
/* A view of array's data with another shape of the same size (shares and retains the
 * storage). */
TsStatus ts_ndarray_view(TsNDArray *array, int ndim, const int64_t *shape, TsNDArray **out,
                         TsError *err);
TsStatus ts_ndarray_copy_from_bytes(TsNDArray *array, const void *data, size_t nbytes,
                                    TsError *err);
TsStatus ts_ndarray_copy_to_bytes(const TsNDArray *array, void *data, size_t nbytes,
                                  TsError *err);
/* The copies need exactly the array's byte size (ts_ndarray_copy: the same dtype and
 * byte size; the shapes may differ). */
TsStatus ts_ndarray_copy(const TsNDArray *from, TsNDArray *to, TsError *err);
/* The array as a DLTensor to pass to a kernel (valid while the array lives). */
TsDLTensor *ts_ndarray_dltensor(TsNDArray *array);
size_t ts_ndarray_nbytes(const TsNDArray *array);
void ts_ndarray_retain(TsNDArray *array);
void ts_ndarray_release(TsNDArray *array);

/* ---- modules ---- */

typedef struct TsModule TsModule;

/* Loads a shared object exported by Tessera (dlopen, RTLD_NOW | RTLD_LOCAL) and checks its
 * table: TS_EIO when it cannot be loaded, TS_EPROTO for a missing or malformed table. A
 * path without a slash names a file in the current directory. The module's own
 * references to the runtime (ts_runtime_set_error, ts_parallel_launch) resolve to the
 * process's libtessera_runtime, so the program links it (a static one whole, exported
 * with -rdynamic). Kernel pointers stay valid until the last release. */
TsStatus ts_module_load(const char *path, TsModule **out, TsError *err);
int ts_module_num_funcs(const TsModule *module);
const TsFuncEntry *ts_module_func(const TsModule *module, int i);
/* The kernel called name, or TS_EINVAL naming the module and the kernels it has. */
TsStatus ts_module_get_func(const TsModule *module, const char *name, TsPackedFunc *out,
                            TsError *err);
void ts_module_retain(TsModule *module);
void ts_module_release(TsModule *module);

/* ---- the time evaluator ---- */

typedef struct TsTimeOptions {
    int number;          /* calls per repeat (>= 1), raised while a repeat is too short */
    int repeat;          /* repeats (>= 1); one mean cost per repeat */
    double min_repeat_ms; /* raise number until a repeat takes at least this long; 0: off
                           * (at most an hour) */
    double cooldown_ms;  /* sleep between repeats (at most an hour) */
    bool flush_cache;    /* write over a buffer larger than the last-level cache before
                          * each repeat */
} TsTimeOptions;

/* TVM's defaults: number 1, repeat 1, no minimum, no cooldown, no flush. */
TsTimeOptions ts_time_options_default(void);
/* Calls func(args) once to warm up, then number times per repeat, and writes repeat mean
 * costs, in seconds, to costs. options NULL means the defaults; a bad option is TS_EINVAL.
 * A failing call stops the measurement with TS_EDEVICE and the kernel's message. */
TsStatus ts_time_evaluate(TsPackedFunc func, const TsValue *args, const int32_t *type_codes,
                          int32_t num_args, const TsTimeOptions *options, double *costs,
                          TsError *err);

#ifdef __cplusplus
}
#endif

#endif /* TESSERA_RUNTIME_H */
