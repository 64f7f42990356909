/* The AMX tile state, asked of Linux once per process. Linux gives a process the state
 * of the AMX tile registers (XFEATURE_XTILEDATA, 8 KiB per thread) only after it asks
 * with arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA); before that, the first tile
 * instruction kills the process with SIGILL. Every generated kernel that uses tiles
 * calls ts_runtime_amx_enter at entry (codegen/amx.c emits the call), so the request is
 * made before the first tile instruction wherever the kernel runs: JIT-compiled, loaded
 * from a shared object, in a device server's session child, in the measurer. When the
 * CPU lacks AMX or the kernel refuses (an old kernel, a seccomp policy), the kernel
 * returns -1 with a message naming itself and the features it needs.
 *
 * The answer is cached: Linux grants the permission to the whole process (every thread,
 * and children made by fork inherit it; exec clears it, and with it this cache). The
 * first caller asks under a mutex; later calls read the published answer without
 * locking. */
#define _GNU_SOURCE /* syscall */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#if defined(__x86_64__) && defined(__linux__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "runtime/rt_internal.h"
#include "tessera/runtime.h"

enum { AMX_UNKNOWN, AMX_GRANTED, AMX_REFUSED };

enum {
    ARCH_GET_XCOMP_PERM = 0x1022,
    ARCH_REQ_XCOMP_PERM = 0x1023,
    XFEATURE_XTILEDATA = 18,
    CPUID_EDX_AMX_TILE = 1u << 24 /* CPUID.(EAX=7,ECX=0):EDX */
};

static atomic_int amx_state = AMX_UNKNOWN;
static char amx_reason[TS_ERROR_MESSAGE_MAX]; /* written once, before AMX_REFUSED */
static pthread_mutex_t amx_lock = PTHREAD_MUTEX_INITIALIZER;

#if defined(__x86_64__) && defined(__linux__)

static bool cpu_has_amx_tile(void)
{
    unsigned eax, ebx, ecx, edx;
    if (__get_cpuid_max(0, NULL) < 7)
        return false;
    __cpuid_count(7, 0, eax, ebx, ecx, edx);
    (void)eax, (void)ebx, (void)ecx;
    return (edx & CPUID_EDX_AMX_TILE) != 0;
}

/* Asks Linux; AMX_GRANTED, or AMX_REFUSED with amx_reason filled. */
static int ask_linux(void)
{
    if (!cpu_has_amx_tile()) {
        snprintf(amx_reason, sizeof amx_reason,
                 "the CPU has no AMX tiles (CPUID leaf 7 lacks AMX-TILE)");
        return AMX_REFUSED;
    }
    if (syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) != 0) {
        snprintf(amx_reason, sizeof amx_reason, "the operating system refused the tile state: %s",
                 strerror(errno));
        return AMX_REFUSED;
    }
    /* A kernel that knows the request grants it; check that it says so. */
    unsigned long features = 0;
    if (syscall(SYS_arch_prctl, ARCH_GET_XCOMP_PERM, &features) != 0 ||
        !(features & (1ul << XFEATURE_XTILEDATA))) {
        snprintf(amx_reason, sizeof amx_reason,
                 "the operating system did not grant the tile state (permitted features "
                 "0x%lx)",
                 features);
        return AMX_REFUSED;
    }
    return AMX_GRANTED;
}

#else

static int ask_linux(void)
{
    snprintf(amx_reason, sizeof amx_reason, "AMX tiles exist only on x86-64 Linux");
    return AMX_REFUSED;
}

#endif

/* The cached answer, asking first if nobody has. */
static int amx_answer(void)
{
    int state = atomic_load_explicit(&amx_state, memory_order_acquire);
    if (state != AMX_UNKNOWN)
        return state;
    pthread_mutex_lock(&amx_lock);
    state = atomic_load_explicit(&amx_state, memory_order_relaxed);
    if (state == AMX_UNKNOWN) {
        state = ask_linux();
        atomic_store_explicit(&amx_state, state, memory_order_release);
    }
    pthread_mutex_unlock(&amx_lock);
    return state;
}

TsStatus ts_runtime_request_amx(TsError *err)
{
    if (amx_answer() == AMX_GRANTED)
        return TS_OK;
    return ts_fail(err, TS_EDEVICE, "AMX: %s", amx_reason);
}

int32_t ts_runtime_amx_enter(const char *kernel, const char *features)
{
    if (amx_answer() == AMX_GRANTED)
        return 0;
    rt_set_errorf("kernel \"%s\": needs AMX tiles (%s); %s", kernel ? kernel : "?",
                  features ? features : "amx-tile", amx_reason);
    return -1;
}
