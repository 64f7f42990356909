/* The graph builder's last step before code generation: the kernels of a model and the
 * graph around them serialized into the three blobs a version-3 module table carries
 * (graph_executor.h's format). Each graph value a kernel reads or writes, and every graph
 * input and output, becomes a tensor record: a graph input or output is the caller's, a
 * constant goes into the weights blob (64-byte aligned), and any other value lives in
 * the arena, where the memory plan puts it (TsGraph.plan, buffers reused by liveness) or,
 * before memory planning exists for the graph, in a buffer of its own; a value kept
 * blocked between groups (build_layout.c) has its graph value's place. Calls follow the
 * kernels' order, each with its arguments' tensor indices. */
#include <stdlib.h>
#include <string.h>

#include "relay_lite/rly_build.h"
#include "tessera/graph_executor.h"

/* The model's tensors as they are collected. */
typedef struct Tensors {
    int num;
    const RlyValue **values;
    TsModelTensor *records;
    uint64_t weights_bytes;
    uint64_t arena_bytes;
    uint64_t scratch_base; /* where the build's scratch region starts in the arena */
    uint64_t *arena_offsets;
} Tensors;

/* A growing block of names. */
typedef struct Strings {
    size_t used, capacity;
    char *data;
} Strings;

static bool strings_add(Strings *s, const char *text, uint32_t *offset)
{
    size_t n = strlen(text) + 1;
    if (s->used + n > s->capacity) {
        size_t capacity = (s->capacity + n) * 2;
        char *data = realloc(s->data, capacity);
        if (!data)
            return false;
        s->data = data;
        s->capacity = capacity;
    }
    memcpy(s->data + s->used, text, n);
    *offset = (uint32_t)s->used;
    s->used += n;
    return true;
}

static uint64_t align_up(uint64_t n)
{
    return (n + TS_MODEL_ALIGN - 1) / TS_MODEL_ALIGN * TS_MODEL_ALIGN;
}

static int position(const RlyValue *const *list, int count, const RlyValue *value)
{
    for (int i = 0; i < count; i++)
        if (list[i] == value)
            return i;
    return -1;
}

static uint64_t value_bytes(const RlyValue *v)
{
    return (uint64_t)rly_value_elements(v) * ts_dtype_bytes(v->dtype);
}

/* Where the memory plan puts value, or -1 when it has no entry for it. */
static int64_t planned_offset(const RlyMemPlan *plan, const RlyValue *value)
{
    for (int i = 0; plan && i < plan->num_buffers; i++)
        if (plan->buffers[i].value == value)
            return plan->buffers[i].offset;
    return -1;
}

static int scratch_index(const RlyBuild *b, const RlyValue *v)
{
    for (int i = 0; i < b->num_scratch; i++)
        if (b->scratch[i] == v)
            return i;
    return -1;
}

/* The record of value, and its place in the weights or the arena. */
static TsStatus describe(const RlyBuild *b, Tensors *t, const RlyValue *v, Strings *strings,
                         TsError *err)
{
    const TsGraph *g = b->graph;
    TsModelTensor *r = &t->records[t->num];
    memset(r, 0, sizeof *r);
    if (!rly_value_known(v) || !v->has_dtype || v->ndim > TS_MODEL_MAX_DIMS)
        return ts_fail(err, TS_EINVAL, "build: value %s has no known shape or type", v->name);
    if (rly_value_elements(v) == 0)
        return ts_fail(err, TS_EINVAL, "build: value %s is empty (a dimension of 0)", v->name);
    if (!strings_add(strings, v->name, &r->name))
        return ts_fail(err, TS_ENOMEM, "build: out of memory");
    r->dtype = v->dtype;
    r->ndim = v->ndim;
    memcpy(r->shape, v->dims, sizeof(int64_t) * (size_t)v->ndim);
    t->arena_offsets[t->num] = TS_MODEL_NO_OFFSET;
    const RlyValue *home = rly_build_home(b, v); /* a blocked value's graph value */
    int input = position((const RlyValue *const *)g->inputs, g->num_inputs, home);
    int output = position((const RlyValue *const *)g->outputs, g->num_outputs, home);
    if (input >= 0 && output >= 0)
        return ts_fail(err, TS_EINVAL, "build: graph output %s is a graph input; a model that "
                       "returns an input unchanged is not supported", v->name);
    if (input >= 0) {
        r->storage = TS_MODEL_INPUT;
        r->index = (uint32_t)input;
    } else if (output >= 0) {
        r->storage = TS_MODEL_OUTPUT;
        r->index = (uint32_t)output;
    } else if (v->constant) {
        r->storage = TS_MODEL_WEIGHT;
        r->offset = t->weights_bytes;
        t->weights_bytes = align_up(t->weights_bytes + value_bytes(v));
    } else if (scratch_index(b, v) >= 0 && g->plan) {
        r->storage = TS_MODEL_ARENA;
        t->arena_offsets[t->num] =
            t->scratch_base + (uint64_t)b->scratch_offset[scratch_index(b, v)];
    } else {
        r->storage = TS_MODEL_ARENA;
        int64_t offset = planned_offset(g->plan, home);
        if (home != v && value_bytes(home) != value_bytes(v))
            return ts_fail(err, TS_EINVAL, "build: blocked value %s (%llu bytes) does not fit "
                           "the buffer of %s", v->name, (unsigned long long)value_bytes(v),
                           home->name);
        if (g->plan && (offset < 0 || offset % TS_MODEL_ALIGN))
            return ts_fail(err, TS_EINVAL, "build: the memory plan %s value %s", offset < 0
                           ? "has no buffer for" : "does not align (to 64 bytes)", v->name);
        if (!g->plan) {
            offset = (int64_t)t->arena_bytes;
            t->arena_bytes = align_up(t->arena_bytes + value_bytes(v));
        }
        t->arena_offsets[t->num] = (uint64_t)offset;
    }
    t->values[t->num++] = v;
    return TS_OK;
}

/* The index of value's record, described on first sight. */
static TsStatus tensor_of(const RlyBuild *b, Tensors *t, const RlyValue *v, Strings *strings,
                          uint32_t *index, TsError *err)
{
    int found = position(t->values, t->num, v);
    if (found < 0) {
        TsStatus st = describe(b, t, v, strings, err);
        if (st != TS_OK)
            return st;
        found = t->num - 1;
    }
    *index = (uint32_t)found;
    return TS_OK;
}

/* No two arguments of a call may share bytes (a kernel's output must not overlap what it
 * reads): checked here, so that a memory plan's mistake is a build error, not a wrong
 * answer. */
static TsStatus check_overlap(const Tensors *t, const RlyKernel *k, const uint32_t *args,
                              TsError *err)
{
    for (int i = 0; i < k->num_args; i++)
        for (int j = 0; j < i; j++) {
            uint64_t a = t->arena_offsets[args[i]], c = t->arena_offsets[args[j]];
            if (a == TS_MODEL_NO_OFFSET || c == TS_MODEL_NO_OFFSET || args[i] == args[j])
                continue;
            uint64_t a_end = a + value_bytes(t->values[args[i]]);
            uint64_t c_end = c + value_bytes(t->values[args[j]]);
            if (a < c_end && c < a_end)
                return ts_fail(err, TS_EINVAL, "build: the memory plan overlaps %s and %s, both "
                               "arguments of kernel %s", t->values[args[i]]->name,
                               t->values[args[j]]->name, ts_lowered_name(k->func));
        }
    return TS_OK;
}

/* The weights blob: every constant tensor's data at its offset. */
static void *pack_weights(const Tensors *t)
{
    unsigned char *blob = calloc(1, t->weights_bytes ? t->weights_bytes : 1);
    if (!blob)
        return NULL;
    for (int i = 0; i < t->num; i++)
        if (t->records[i].storage == TS_MODEL_WEIGHT)
            memcpy(blob + t->records[i].offset, t->values[i]->constant->data,
                   value_bytes(t->values[i]));
    return blob;
}

static void *pack_plan(const Tensors *t, uint64_t *bytes)
{
    *bytes = sizeof(TsModelPlanHeader) + sizeof(uint64_t) * (size_t)t->num;
    TsModelPlanHeader *h = calloc(1, *bytes);
    if (!h)
        return NULL;
    *h = (TsModelPlanHeader){ TS_MODEL_PLAN_MAGIC, TS_MODEL_FORMAT_VERSION, (uint32_t)t->num, 0,
                              t->arena_bytes };
    memcpy(h + 1, t->arena_offsets, sizeof(uint64_t) * (size_t)t->num);
    return h;
}

/* The graph blob from its sections. */
static void *pack_graph(const Tensors *t, const TsModelCall *calls, int num_calls,
                        const uint32_t *args, int num_args, const uint32_t *io, int num_inputs,
                        int num_outputs, const Strings *strings, uint64_t *bytes)
{
    TsModelGraphHeader h = { TS_MODEL_GRAPH_MAGIC,  TS_MODEL_FORMAT_VERSION, (uint32_t)t->num,
                             (uint32_t)num_calls,   (uint32_t)num_args,      (uint32_t)num_inputs,
                             (uint32_t)num_outputs, (uint32_t)strings->used };
    size_t sizes[] = { sizeof h, sizeof(TsModelTensor) * (size_t)t->num,
                       sizeof(TsModelCall) * (size_t)num_calls, sizeof(uint32_t) * (size_t)num_args,
                       sizeof(uint32_t) * (size_t)(num_inputs + num_outputs), strings->used };
    const void *parts[] = { &h, t->records, calls, args, io, strings->data };
    *bytes = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        *bytes += sizes[i];
    unsigned char *blob = malloc(*bytes);
    if (!blob)
        return NULL;
    size_t at = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        if (sizes[i])
            memcpy(blob + at, parts[i], sizes[i]);
        at += sizes[i];
    }
    return blob;
}

/* The calls and their arguments, describing tensors as they come. */
static TsStatus collect_calls(const RlyBuild *b, Tensors *t, Strings *strings, TsModelCall *calls,
                              uint32_t *args, int *num_args, TsError *err)
{
    *num_args = 0;
    for (int k = 0; k < b->num_kernels; k++) {
        const RlyKernel *kernel = &b->kernels[k];
        calls[k] = (TsModelCall){ 0, (uint32_t)*num_args, (uint32_t)kernel->num_args, 0 };
        if (!strings_add(strings, ts_lowered_name(kernel->func), &calls[k].func))
            return ts_fail(err, TS_ENOMEM, "build: out of memory");
        for (int a = 0; a < kernel->num_args; a++) {
            TsStatus st = tensor_of(b, t, kernel->args[a], strings, &args[*num_args + a], err);
            if (st != TS_OK)
                return st;
        }
        TsStatus st = check_overlap(t, kernel, args + *num_args, err);
        if (st != TS_OK)
            return st;
        *num_args += kernel->num_args;
    }
    return TS_OK;
}

/* Every graph output must be written by some call. */
static TsStatus check_outputs_written(const RlyBuild *b, TsError *err)
{
    for (int o = 0; o < b->graph->num_outputs; o++) {
        const RlyValue *v = b->graph->outputs[o];
        bool written = false;
        for (int k = 0; k < b->num_kernels && !written; k++)
            for (int i = 0; i < b->kernels[k].group->num_outputs && !written; i++)
                written = b->kernels[k].group->outputs[i] == v;
        if (!written)
            return ts_fail(err, TS_EINVAL, "build: graph output %s is computed by no kernel (a "
                           "constant or a graph input returned unchanged is not supported)",
                           v->name);
    }
    return TS_OK;
}

static TsStatus serialize(const RlyBuild *b, Tensors *t, Strings *strings, TsModelBlobs *out,
                          TsError *err)
{
    const TsGraph *g = b->graph;
    int total_args = 0;
    for (int k = 0; k < b->num_kernels; k++)
        total_args += b->kernels[k].num_args;
    TsModelCall *calls = calloc((size_t)b->num_kernels + 1, sizeof *calls);
    uint32_t *args = calloc((size_t)total_args + 1, sizeof *args);
    uint32_t *io = calloc((size_t)(g->num_inputs + g->num_outputs) + 1, sizeof *io);
    TsStatus st = calls && args && io ? TS_OK : ts_fail(err, TS_ENOMEM, "build: out of memory");
    if (g->plan)
        t->scratch_base = align_up((uint64_t)g->plan->arena_bytes);
    int num_args = 0;
    for (int i = 0; st == TS_OK && i < g->num_inputs; i++)
        st = tensor_of(b, t, g->inputs[i], strings, &io[i], err);
    if (st == TS_OK)
        st = check_outputs_written(b, err);
    for (int i = 0; st == TS_OK && i < g->num_outputs; i++)
        st = tensor_of(b, t, g->outputs[i], strings, &io[g->num_inputs + i], err);
    if (st == TS_OK)
        st = collect_calls(b, t, strings, calls, args, &num_args, err);
    if (st == TS_OK) {
        if (g->plan)
            t->arena_bytes = t->scratch_base + (uint64_t)b->scratch_bytes;
        out->graph = pack_graph(t, calls, b->num_kernels, args, num_args, io, g->num_inputs,
                                g->num_outputs, strings, &out->graph_bytes);
        out->weights = pack_weights(t);
        out->weights_bytes = t->weights_bytes;
        out->memory_plan = pack_plan(t, &out->memory_plan_bytes);
        if (!out->graph || !out->weights || !out->memory_plan)
            st = ts_fail(err, TS_ENOMEM, "build: out of memory");
    }
    free(calls);
    free(args);
    free(io);
    return st;
}

TsStatus rly_serialize_model(const RlyBuild *b, TsModelBlobs *out, TsError *err)
{
    memset(out, 0, sizeof *out);
    const TsGraph *g = b->graph;
    int capacity = g->num_inputs + g->num_outputs;
    for (int k = 0; k < b->num_kernels; k++)
        capacity += b->kernels[k].num_args;
    Tensors t = { 0 };
    t.values = calloc((size_t)capacity + 1, sizeof *t.values);
    t.records = calloc((size_t)capacity + 1, sizeof *t.records);
    t.arena_offsets = calloc((size_t)capacity + 1, sizeof *t.arena_offsets);
    Strings strings = { 0 };
    TsStatus st = t.values && t.records && t.arena_offsets
                      ? serialize(b, &t, &strings, out, err)
                      : ts_fail(err, TS_ENOMEM, "build: out of memory");
    if (st != TS_OK)
        rly_model_blobs_free(out);
    free(t.values);
    free(t.records);
    free(t.arena_offsets);
    free(strings.data);
    return st;
}

void rly_model_blobs_free(TsModelBlobs *blobs)
{
    free((void *)blobs->graph);
    free((void *)blobs->weights);
    free((void *)blobs->memory_plan);
    memset(blobs, 0, sizeof *blobs);
}
