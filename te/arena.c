/* Arenas: bump allocation in chained blocks, freed whole. Every IR node of a job lives
 * in one arena, so a DAG, a lowering or a tuning candidate is released with one call
 * and nothing can leak node by node. The arena also holds the first construction error
 * (see arena.h). */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "te_internal.h"
#include "tessera/arena.h"

enum { BLOCK_SIZE = 64 * 1024, ALIGNMENT = 16 };

typedef struct Block {
    struct Block *next;
    size_t size; /* usable bytes after the header */
    size_t used;
    _Alignas(16) unsigned char data[];
} Block;

struct TsArena {
    Block *blocks;
    size_t bytes_used;
    size_t fail_at; /* bytes_used beyond which allocations fail (te_arena_fail_after) */
    bool limited;
    TsError error;
};

TsArena *ts_arena_create(void)
{
    TsArena *arena = calloc(1, sizeof *arena);
    return arena;
}

void ts_arena_destroy(TsArena *arena)
{
    if (!arena)
        return;
    Block *b = arena->blocks;
    while (b) {
        Block *next = b->next;
        free(b);
        b = next;
    }
    free(arena);
}

static Block *new_block(size_t size)
{
    Block *b = malloc(sizeof(Block) + size);
    if (!b)
        return NULL;
    b->next = NULL;
    b->size = size;
    b->used = 0;
    return b;
}

void *ts_arena_alloc(TsArena *arena, size_t size)
{
    if (!arena)
        return NULL;
    size_t rounded = (size + ALIGNMENT - 1) & ~(size_t)(ALIGNMENT - 1);
    if (rounded < size || rounded > SIZE_MAX / 2) {
        ts_arena_fail(arena, TS_ENOMEM, "arena: allocation of %zu bytes is too large", size);
        return NULL;
    }
    if (arena->limited && rounded > arena->fail_at - arena->bytes_used) {
        ts_arena_fail(arena, TS_ENOMEM, "arena: out of memory allocating %zu bytes (limit)",
                      size);
        return NULL;
    }
    Block *b = arena->blocks;
    if (!b || b->size - b->used < rounded) {
        /* A large request gets a block of its own behind the current one, so the
         * current block's free space is not wasted. */
        Block *nb = new_block(rounded > BLOCK_SIZE / 4 ? rounded : BLOCK_SIZE);
        if (!nb) {
            ts_arena_fail(arena, TS_ENOMEM, "arena: out of memory allocating %zu bytes", size);
            return NULL;
        }
        if (b && rounded > BLOCK_SIZE / 4) {
            nb->next = b->next;
            b->next = nb;
        } else {
            nb->next = b;
            arena->blocks = nb;
        }
        b = nb;
    }
    void *p = b->data + b->used;
    b->used += rounded;
    arena->bytes_used += rounded;
    memset(p, 0, size);
    return p;
}

char *ts_arena_strdup(TsArena *arena, const char *text)
{
    if (!text)
        return NULL;
    size_t n = strlen(text) + 1;
    char *copy = ts_arena_alloc(arena, n);
    if (copy)
        memcpy(copy, text, n);
    return copy;
}

void te_arena_fail_after(TsArena *arena, size_t bytes)
{
    if (!arena)
        return;
    arena->limited = bytes != SIZE_MAX && bytes <= SIZE_MAX - arena->bytes_used;
    arena->fail_at = arena->limited ? arena->bytes_used + bytes : SIZE_MAX;
}

size_t ts_arena_bytes_used(const TsArena *arena)
{
    return arena ? arena->bytes_used : 0;
}

const TsError *ts_arena_error(const TsArena *arena)
{
    static const TsError no_arena = { TS_EINVAL, "arena: NULL arena (ts_arena_create failed?)" };
    return arena ? &arena->error : &no_arena;
}

bool ts_arena_ok(const TsArena *arena)
{
    return arena && arena->error.status == TS_OK;
}

TsStatus ts_arena_check(const TsArena *arena, TsError *err)
{
    const TsError *e = ts_arena_error(arena);
    if (e->status != TS_OK && err)
        *err = *e;
    return e->status;
}

void ts_arena_clear_error(TsArena *arena)
{
    if (arena)
        ts_error_clear(&arena->error);
}

TsStatus ts_arena_fail(TsArena *arena, TsStatus status, const char *fmt, ...)
{
    if (!arena || arena->error.status != TS_OK)
        return status;
    va_list ap;
    va_start(ap, fmt);
    arena->error.status = status;
    vsnprintf(arena->error.message, sizeof arena->error.message, fmt, ap);
    va_end(ap);
    return status;
}
