/* Pass memory_plan, last: gives every intermediate value an offset in one arena. The
 * values planned are the fusion groups' outputs that are not graph outputs (inside a
 * group, values live in registers or the kernel's own scratch; graph inputs, outputs and
 * constants belong to the caller and the weights). A value lives from the group that
 * writes it to the last group, in graph->groups order, that reads it.
 *
 * The arena is filled greedily in group order: before group i runs, the buffers last
 * read by group i - 1 return to a free list (coalesced with their neighbours); then group
 * i's outputs, largest first, each take the smallest free block that holds them
 * (best fit), or grow the arena at its end. Every size is rounded up to 64 bytes (at
 * least 64 for an empty tensor), so every offset is 64-byte aligned. Two buffers share
 * bytes only when their lifetimes [written, last read] are disjoint. The naive size is
 * the sum of all buffers: what the model would take with no reuse. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "relay_lite/passes/passes.h"

enum { ALIGN = 64 };

typedef struct Block {
    int64_t offset, bytes;
} Block;

typedef struct FreeList {
    int count, capacity;
    Block *blocks; /* by offset, coalesced */
    int64_t top;   /* the arena's size so far */
} FreeList;

static bool release(FreeList *list, int64_t offset, int64_t bytes)
{
    if (list->count == list->capacity) {
        int capacity = list->capacity ? 2 * list->capacity : 16;
        Block *blocks = realloc(list->blocks, (size_t)capacity * sizeof *blocks);
        if (!blocks)
            return false;
        list->blocks = blocks;
        list->capacity = capacity;
    }
    int at = 0;
    while (at < list->count && list->blocks[at].offset < offset)
        at++;
    memmove(&list->blocks[at + 1], &list->blocks[at], (size_t)(list->count - at) * sizeof(Block));
    list->blocks[at] = (Block){ offset, bytes };
    list->count++;
    if (at + 1 < list->count && offset + bytes == list->blocks[at + 1].offset) {
        list->blocks[at].bytes += list->blocks[at + 1].bytes;
        memmove(&list->blocks[at + 1], &list->blocks[at + 2],
                (size_t)(list->count - at - 2) * sizeof(Block));
        list->count--;
    }
    if (at > 0 && list->blocks[at - 1].offset + list->blocks[at - 1].bytes == offset) {
        list->blocks[at - 1].bytes += list->blocks[at].bytes;
        memmove(&list->blocks[at], &list->blocks[at + 1],
                (size_t)(list->count - at - 1) * sizeof(Block));
        list->count--;
    }
    return true;
}

/* The smallest free block that holds bytes, else the end of the arena (taking a free
 * block that ends there). */
static int64_t take(FreeList *list, int64_t bytes)
{
    int best = -1;
    for (int k = 0; k < list->count; k++)
        if (list->blocks[k].bytes >= bytes && (best < 0 || list->blocks[k].bytes < list->blocks[best].bytes))
            best = k;
    if (best < 0 && list->count > 0 &&
        list->blocks[list->count - 1].offset + list->blocks[list->count - 1].bytes == list->top) {
        best = list->count - 1; /* grow the arena from the free tail */
        list->top += bytes - list->blocks[best].bytes;
        list->blocks[best].bytes = bytes;
    }
    if (best < 0) {
        list->top += bytes;
        return list->top - bytes;
    }
    int64_t offset = list->blocks[best].offset;
    list->blocks[best].offset += bytes;
    list->blocks[best].bytes -= bytes;
    if (list->blocks[best].bytes == 0) {
        memmove(&list->blocks[best], &list->blocks[best + 1],
                (size_t)(list->count - best - 1) * sizeof(Block));
        list->count--;
    }
    return offset;
}

/* ---- lifetimes ---- */

static int find_buffer(const RlyMemPlan *plan, const RlyValue *value)
{
    for (int k = 0; k < plan->num_buffers; k++)
        if (plan->buffers[k].value == value)
            return k;
    return -1;
}

/* One buffer per planned value with its size and lifetime (offsets come later). */
static TsStatus collect(TsGraph *graph, RlyMemPlan *plan, TsError *err)
{
    for (int i = 0; i < graph->num_groups; i++) {
        const RlyGroup *group = graph->groups[i];
        for (int k = 0; k < group->num_outputs; k++) {
            const RlyValue *v = group->outputs[k];
            if (rly_is_graph_output(graph, v) || v->constant)
                continue;
            if (!v->has_dtype || !rly_value_known(v))
                return rly_node_fail(graph, v->producer, err, TS_EINVAL,
                                     "output \"%s\" has no known shape: memory cannot be planned",
                                     v->name);
            int64_t bytes = rly_value_elements(v) * (int64_t)ts_dtype_bytes(v->dtype);
            bytes = bytes <= 0 ? ALIGN : (bytes + ALIGN - 1) / ALIGN * ALIGN;
            plan->buffers[plan->num_buffers++] =
                (RlyBufferPlan){ .value = v, .bytes = bytes, .first_group = i, .last_group = i };
            plan->naive_bytes += bytes;
        }
        for (int k = 0; k < group->num_inputs; k++) {
            int b = find_buffer(plan, group->inputs[k]);
            if (b >= 0)
                plan->buffers[b].last_group = i;
        }
    }
    return TS_OK;
}

static int by_size_desc(const void *a, const void *b)
{
    const RlyBufferPlan *x = *(const RlyBufferPlan *const *)a, *y = *(const RlyBufferPlan *const *)b;
    return x->bytes != y->bytes ? (x->bytes < y->bytes ? 1 : -1)
                                : (x->value < y->value ? -1 : x->value > y->value);
}

static TsStatus place(const TsGraph *graph, RlyMemPlan *plan, TsError *err)
{
    FreeList list = { 0 };
    RlyBufferPlan **step = calloc((size_t)plan->num_buffers + 1, sizeof *step);
    TsStatus status = step ? TS_OK : ts_fail(err, TS_ENOMEM, "%s: out of memory", graph->source);
    for (int i = 0; status == TS_OK && i < graph->num_groups; i++) {
        int count = 0;
        for (int b = 0; b < plan->num_buffers; b++) {
            RlyBufferPlan *buf = &plan->buffers[b];
            if (buf->last_group == i - 1 && buf->first_group < i &&
                !release(&list, buf->offset, buf->bytes))
                status = ts_fail(err, TS_ENOMEM, "%s: out of memory", graph->source);
            if (buf->first_group == i)
                step[count++] = buf;
        }
        qsort(step, (size_t)count, sizeof *step, by_size_desc);
        for (int k = 0; k < count; k++)
            step[k]->offset = take(&list, step[k]->bytes);
    }
    plan->arena_bytes = list.top;
    free(list.blocks);
    free(step);
    return status;
}

TsStatus rly_pass_memory_plan(TsGraph *graph, TsError *err)
{
    if (!graph->groups)
        return ts_fail(err, TS_EINVAL,
                       "%s: memory_plan needs the fusion groups; pass fuse was turned off",
                       graph->source);
    int outputs = 0;
    for (int i = 0; i < graph->num_groups; i++)
        outputs += graph->groups[i]->num_outputs;
    RlyMemPlan *plan = ts_arena_alloc(graph->arena, sizeof *plan);
    RlyBufferPlan *buffers = ts_arena_alloc(graph->arena, (size_t)(outputs + 1) * sizeof *buffers);
    if (!plan || !buffers)
        return ts_fail(err, TS_ENOMEM, "%s: out of memory planning memory", graph->source);
    memset(plan, 0, sizeof *plan);
    plan->buffers = buffers;
    TsStatus status = collect(graph, plan, err);
    if (status == TS_OK)
        status = place(graph, plan, err);
    if (status == TS_OK)
        graph->plan = plan;
    return status;
}
