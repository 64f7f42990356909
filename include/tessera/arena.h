/* Arenas: the memory of one job (a tensor expression, a lowering, a tuning candidate).
 *
 * IR nodes are immutable and live in an arena, which is freed whole. An arena also
 * keeps the first error met while building IR in it: the builders in te.h and ops.h
 * return NULL on bad input, record why here, and return NULL without a new message when
 * given a NULL operand, so a nested expression can be written in one go and checked once.
 */
#ifndef TESSERA_ARENA_H
#define TESSERA_ARENA_H

#include <stdbool.h>
#include <stddef.h>

#include "tessera/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct TsArena TsArena;

/* NULL when memory is exhausted. */
TsArena *ts_arena_create(void);
/* Frees every node built in the arena. NULL is allowed. */
void ts_arena_destroy(TsArena *arena);

/* Zeroed memory aligned to 16 bytes, valid until the arena is destroyed. On failure
 * returns NULL and records TS_ENOMEM in the arena. */
void *ts_arena_alloc(TsArena *arena, size_t size);
/* A copy of text in the arena; NULL text gives NULL without an error. */
char *ts_arena_strdup(TsArena *arena, const char *text);
/* Total bytes handed out so far. */
size_t ts_arena_bytes_used(const TsArena *arena);

/* The first construction error recorded in the arena (status TS_OK when none). */
const TsError *ts_arena_error(const TsArena *arena);
bool ts_arena_ok(const TsArena *arena);
/* Copies the arena's error into err and returns its status: the usual way to turn a
 * chain of builder calls into a status. */
TsStatus ts_arena_check(const TsArena *arena, TsError *err);
/* Forgets the recorded error, e.g. after a test provoked one on purpose. */
void ts_arena_clear_error(TsArena *arena);
/* Records an error in the arena unless one is already there; returns status. */
TsStatus ts_arena_fail(TsArena *arena, TsStatus status, const char *fmt, ...)
    TS_PRINTF_LIKE(3, 4);

#ifdef __cplusplus
}
#endif

#endif /* TESSERA_ARENA_H */
