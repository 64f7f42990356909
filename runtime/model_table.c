/* Reading the whole model a version-3 module table carries (graph_executor.h gives the
 * format): the graph blob's records, the weights and the memory plan are checked once,
 * when the module is loaded, so that the graph executor can bind and run them without
 * further checks. A shared object is input like any file: every count, offset, dtype,
 * shape and name is checked against the blob it lies in, every kernel call against the
 * table's kernels and their signatures, and a failure names the file and the field.
 * Nothing here copies the blobs: the parsed model points into the loaded library. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/rt_internal.h"
#include "tessera/graph_executor.h"

/* Bounds under which no size computed here can overflow. */
#define MAX_COUNT (1u << 24)
#define MAX_BYTES ((uint64_t)1 << 44)

/* The byte size of a tensor's data; false when the dtype or shape is not one a model may
 * have (a negative or absurd extent, an invalid dtype, lanes other than 1). */
static bool tensor_bytes(const TsModelTensor *t, uint64_t *out)
{
    if (!ts_dtype_is_valid(t->dtype) || t->dtype.lanes != 1 || t->ndim < 0 ||
        t->ndim > TS_MODEL_MAX_DIMS)
        return false;
    uint64_t elements = 1;
    for (int d = 0; d < t->ndim; d++) {
        if (t->shape[d] < 0 || (uint64_t)t->shape[d] > MAX_BYTES)
            return false;
        elements *= (uint64_t)t->shape[d];
        if (elements > MAX_BYTES)
            return false;
    }
    *out = elements * ts_dtype_bytes(t->dtype);
    return *out <= MAX_BYTES;
}

/* A NUL-terminated string at offset in the strings, or NULL. */
static const char *string_at(const RtModel *m, uint32_t offset)
{
    if (offset >= m->strings_bytes)
        return NULL;
    if (!memchr(m->strings + offset, '\0', m->strings_bytes - offset))
        return NULL;
    return m->strings + offset;
}

static bool aligned(const void *p, size_t alignment)
{
    return ((uintptr_t)p & (alignment - 1)) == 0;
}

/* The graph blob's header and the positions of its sections. */
static TsStatus read_graph_layout(const char *path, const TsModuleTable *table, RtModel *m,
                                  TsError *err)
{
    if (!table->graph || !aligned(table->graph, 8))
        return ts_fail(err, TS_EPROTO, "module %s: model field graph is %s", path,
                       table->graph ? "not 8-byte aligned" : "NULL");
    if (table->graph_bytes < sizeof(TsModelGraphHeader) || table->graph_bytes > MAX_BYTES)
        return ts_fail(err, TS_EPROTO, "module %s: model field graph_bytes %llu is too %s", path,
                       (unsigned long long)table->graph_bytes,
                       table->graph_bytes > MAX_BYTES ? "large" : "small for a header");
    const TsModelGraphHeader *h = table->graph;
    if (h->magic != TS_MODEL_GRAPH_MAGIC || h->version != TS_MODEL_FORMAT_VERSION)
        return ts_fail(err, TS_EPROTO, "module %s: graph %s %#x, expected %#x", path,
                       h->magic != TS_MODEL_GRAPH_MAGIC ? "magic" : "version",
                       h->magic != TS_MODEL_GRAPH_MAGIC ? h->magic : h->version,
                       h->magic != TS_MODEL_GRAPH_MAGIC ? TS_MODEL_GRAPH_MAGIC
                                                        : TS_MODEL_FORMAT_VERSION);
    const char *count_name = h->num_tensors > MAX_COUNT   ? "num_tensors"
                             : h->num_calls > MAX_COUNT   ? "num_calls"
                             : h->num_args > MAX_COUNT    ? "num_args"
                             : h->num_inputs > MAX_COUNT  ? "num_inputs"
                             : h->num_outputs > MAX_COUNT ? "num_outputs"
                             : h->strings_bytes > MAX_COUNT ? "strings_bytes"
                                                            : NULL;
    if (count_name)
        return ts_fail(err, TS_EPROTO, "module %s: graph field %s is absurd", path, count_name);
    uint64_t size = sizeof *h + (uint64_t)h->num_tensors * sizeof(TsModelTensor) +
                    (uint64_t)h->num_calls * sizeof(TsModelCall) +
                    ((uint64_t)h->num_args + h->num_inputs + h->num_outputs) * sizeof(uint32_t) +
                    h->strings_bytes;
    if (size != table->graph_bytes)
        return ts_fail(err, TS_EPROTO,
                       "module %s: graph sections take %llu bytes but graph_bytes is %llu "
                       "(truncated or padded data)",
                       path, (unsigned long long)size, (unsigned long long)table->graph_bytes);
    const unsigned char *p = (const unsigned char *)table->graph + sizeof *h;
    m->header = h;
    m->tensors = (const TsModelTensor *)p;
    p += (size_t)h->num_tensors * sizeof(TsModelTensor);
    m->calls = (const TsModelCall *)p;
    p += (size_t)h->num_calls * sizeof(TsModelCall);
    m->args = (const uint32_t *)p;
    m->inputs = m->args + h->num_args;
    m->outputs = m->inputs + h->num_inputs;
    m->strings = (const char *)(m->outputs + h->num_outputs);
    m->strings_bytes = h->strings_bytes;
    return TS_OK;
}

/* The memory plan: its header, and one offset per tensor. */
static TsStatus read_plan(const char *path, const TsModuleTable *table, RtModel *m, TsError *err)
{
    const TsModelPlanHeader *h = table->memory_plan;
    if (!h || !aligned(h, 8))
        return ts_fail(err, TS_EPROTO, "module %s: model field memory_plan is %s", path,
                       h ? "not 8-byte aligned" : "NULL");
    uint64_t expected = sizeof *h + (uint64_t)m->header->num_tensors * sizeof(uint64_t);
    if (table->memory_plan_bytes != expected)
        return ts_fail(err, TS_EPROTO,
                       "module %s: memory_plan_bytes is %llu, expected %llu for %u tensors", path,
                       (unsigned long long)table->memory_plan_bytes,
                       (unsigned long long)expected, (unsigned)m->header->num_tensors);
    if (h->magic != TS_MODEL_PLAN_MAGIC || h->version != TS_MODEL_FORMAT_VERSION ||
        h->num_tensors != m->header->num_tensors)
        return ts_fail(err, TS_EPROTO, "module %s: memory plan field %s does not match", path,
                       h->magic != TS_MODEL_PLAN_MAGIC ? "magic"
                       : h->version != TS_MODEL_FORMAT_VERSION ? "version"
                                                               : "num_tensors");
    if (h->arena_bytes > MAX_BYTES)
        return ts_fail(err, TS_EPROTO, "module %s: memory plan field arena_bytes %llu is absurd",
                       path, (unsigned long long)h->arena_bytes);
    m->arena_bytes = h->arena_bytes;
    m->arena_offsets = (const uint64_t *)(h + 1);
    return TS_OK;
}

/* Where tensor i lives, checked against the blob or the arena that holds it. */
static TsStatus check_storage(const char *path, const RtModel *m, uint32_t i, TsError *err)
{
    const TsModelTensor *t = &m->tensors[i];
    const char *name = string_at(m, t->name);
    uint64_t bytes = m->tensor_bytes[i], offset = m->arena_offsets[i];
    bool in_arena = t->storage == TS_MODEL_ARENA;
    if (in_arena != (offset != TS_MODEL_NO_OFFSET))
        return ts_fail(err, TS_EPROTO, "module %s: tensor %u (%s): memory plan offset %s", path,
                       (unsigned)i, name, in_arena ? "missing" : "set for a tensor not in the arena");
    switch ((TsModelStorage)t->storage) {
    case TS_MODEL_INPUT:
    case TS_MODEL_OUTPUT:
        if (t->offset != 0)
            return ts_fail(err, TS_EPROTO, "module %s: tensor %u (%s): field offset is set", path,
                           (unsigned)i, name);
        return TS_OK;
    case TS_MODEL_WEIGHT:
        if (t->offset % TS_MODEL_ALIGN || t->offset > m->weights_bytes ||
            bytes > m->weights_bytes - t->offset)
            return ts_fail(err, TS_EPROTO,
                           "module %s: tensor %u (%s): field offset %llu (+%llu bytes) is "
                           "outside the %llu bytes of weights or unaligned",
                           path, (unsigned)i, name, (unsigned long long)t->offset,
                           (unsigned long long)bytes, (unsigned long long)m->weights_bytes);
        return TS_OK;
    case TS_MODEL_ARENA:
        if (offset % TS_MODEL_ALIGN || offset > m->arena_bytes || bytes > m->arena_bytes - offset)
            return ts_fail(err, TS_EPROTO,
                           "module %s: tensor %u (%s): memory plan offset %llu (+%llu bytes) is "
                           "outside the arena of %llu bytes or unaligned",
                           path, (unsigned)i, name, (unsigned long long)offset,
                           (unsigned long long)bytes, (unsigned long long)m->arena_bytes);
        return TS_OK;
    }
    return ts_fail(err, TS_EPROTO, "module %s: tensor %u (%s): unknown field storage %u", path,
                   (unsigned)i, name, (unsigned)t->storage);
}

static TsStatus check_tensors(const char *path, RtModel *m, TsError *err)
{
    for (uint32_t i = 0; i < m->header->num_tensors; i++) {
        const TsModelTensor *t = &m->tensors[i];
        const char *name = string_at(m, t->name);
        if (!name)
            return ts_fail(err, TS_EPROTO, "module %s: tensor %u: field name %u is outside the "
                           "strings", path, (unsigned)i, (unsigned)t->name);
        if (!tensor_bytes(t, &m->tensor_bytes[i]))
            return ts_fail(err, TS_EPROTO, "module %s: tensor %u (%s): bad dtype or shape (ndim "
                           "%d)", path, (unsigned)i, name, (int)t->ndim);
        TsStatus st = check_storage(path, m, i, err);
        if (st != TS_OK)
            return st;
    }
    return TS_OK;
}

/* The graph's inputs or outputs: count of them, each a tensor of that storage whose
 * index is its position. */
static TsStatus check_io(const char *path, const RtModel *m, const uint32_t *list, uint32_t count,
                         TsModelStorage storage, TsError *err)
{
    const char *what = storage == TS_MODEL_INPUT ? "inputs" : "outputs";
    uint32_t listed = 0;
    for (uint32_t i = 0; i < m->header->num_tensors; i++)
        listed += m->tensors[i].storage == (uint32_t)storage;
    if (listed != count)
        return ts_fail(err, TS_EPROTO, "module %s: graph field num_%s is %u but %u tensors are %s",
                       path, what, (unsigned)count, (unsigned)listed, what);
    for (uint32_t k = 0; k < count; k++)
        if (list[k] >= m->header->num_tensors || m->tensors[list[k]].storage != (uint32_t)storage ||
            m->tensors[list[k]].index != k)
            return ts_fail(err, TS_EPROTO, "module %s: graph %s entry %u names tensor %u, which "
                           "is not that %s", path, what, (unsigned)k, (unsigned)list[k],
                           storage == TS_MODEL_INPUT ? "input" : "output");
    return TS_OK;
}

/* Whether tensor t is what the kernel's signature expects of argument spec. */
static bool matches(const TsModelTensor *t, const TsArgSpec *spec)
{
    if (!ts_dtype_eq(t->dtype, spec->dtype) || t->ndim != spec->ndim)
        return false;
    for (int d = 0; d < t->ndim; d++)
        if (t->shape[d] != spec->shape[d])
            return false;
    return true;
}

/* Call c names a kernel of the table, and its arguments are tensors of the graph of the
 * dtypes and shapes the kernel's signature gives. */
static TsStatus check_call(const char *path, const TsModuleTable *table, RtModel *m, uint32_t c,
                           TsError *err)
{
    const TsModelCall *call = &m->calls[c];
    const char *name = string_at(m, call->func);
    if (!name)
        return ts_fail(err, TS_EPROTO, "module %s: call %u: field func is outside the strings",
                       path, (unsigned)c);
    const TsFuncEntry *entry = NULL;
    for (int32_t f = 0; f < table->num_funcs && !entry; f++)
        if (strcmp(table->funcs[f].name, name) == 0)
            entry = &table->funcs[f];
    if (!entry)
        return ts_fail(err, TS_EPROTO, "module %s: call %u: unknown kernel %s", path, (unsigned)c,
                       name);
    if (call->first_arg > m->header->num_args ||
        call->num_args > m->header->num_args - call->first_arg ||
        call->num_args != (uint32_t)entry->num_args)
        return ts_fail(err, TS_EPROTO, "module %s: call %u (%s): fields first_arg %u, num_args %u "
                       "do not fit the %u arguments or the kernel's %d", path, (unsigned)c, name,
                       (unsigned)call->first_arg, (unsigned)call->num_args,
                       (unsigned)m->header->num_args, (int)entry->num_args);
    TsArgSpec specs[32];
    int num_specs = 0;
    if (entry->num_args > 32 ||
        ts_signature_parse(entry->signature, 32, specs, &num_specs, err) != TS_OK ||
        num_specs != entry->num_args)
        return ts_fail(err, TS_EPROTO, "module %s: call %u: kernel %s has an unreadable "
                       "signature", path, (unsigned)c, name);
    for (uint32_t a = 0; a < call->num_args; a++) {
        uint32_t t = m->args[call->first_arg + a];
        if (t >= m->header->num_tensors)
            return ts_fail(err, TS_EPROTO, "module %s: call %u (%s): argument %u names tensor %u "
                           "of %u", path, (unsigned)c, name, (unsigned)a, (unsigned)t,
                           (unsigned)m->header->num_tensors);
        if (!matches(&m->tensors[t], &specs[a]))
            return ts_fail(err, TS_EPROTO, "module %s: call %u (%s): argument %u (%s) has a dtype "
                           "or shape other than the kernel's %s", path, (unsigned)c, name,
                           (unsigned)a, string_at(m, m->tensors[t].name), specs[a].name);
    }
    m->funcs[c] = entry->func;
    return TS_OK;
}

static TsStatus check_model(const char *path, const TsModuleTable *table, RtModel *m, TsError *err)
{
    TsStatus st = read_graph_layout(path, table, m, err);
    if (st == TS_OK)
        st = read_plan(path, table, m, err);
    if (st != TS_OK)
        return st;
    if ((table->weights_bytes && (!table->weights || !aligned(table->weights, TS_MODEL_ALIGN))) ||
        table->weights_bytes > MAX_BYTES)
        return ts_fail(err, TS_EPROTO, "module %s: model field weights is NULL, unaligned or too "
                       "large for weights_bytes %llu", path,
                       (unsigned long long)table->weights_bytes);
    m->weights = table->weights;
    m->weights_bytes = table->weights_bytes;
    m->tensor_bytes = calloc((size_t)m->header->num_tensors + 1, sizeof *m->tensor_bytes);
    m->funcs = calloc((size_t)m->header->num_calls + 1, sizeof *m->funcs);
    if (!m->tensor_bytes || !m->funcs)
        return ts_fail(err, TS_ENOMEM, "module %s: out of memory", path);
    st = check_tensors(path, m, err);
    if (st == TS_OK)
        st = check_io(path, m, m->inputs, m->header->num_inputs, TS_MODEL_INPUT, err);
    if (st == TS_OK)
        st = check_io(path, m, m->outputs, m->header->num_outputs, TS_MODEL_OUTPUT, err);
    for (uint32_t c = 0; st == TS_OK && c < m->header->num_calls; c++)
        st = check_call(path, table, m, c, err);
    return st;
}

TsStatus rt_model_read(const char *path, const TsModuleTable *table, RtModel **out, TsError *err)
{
    *out = NULL;
    RtModel *m = calloc(1, sizeof *m);
    if (!m)
        return ts_fail(err, TS_ENOMEM, "module %s: out of memory", path);
    TsStatus st = check_model(path, table, m, err);
    if (st != TS_OK) {
        rt_model_free(m);
        return st;
    }
    *out = m;
    return TS_OK;
}

void rt_model_free(RtModel *model)
{
    if (!model)
        return;
    free(model->tensor_bytes);
    free(model->funcs);
    free(model);
}

const char *rt_model_string(const RtModel *model, uint32_t offset)
{
    return string_at(model, offset);
}
