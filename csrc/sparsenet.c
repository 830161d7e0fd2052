/* Library-wide run-time facts: the CPU's ISA level and L2 size, and whether OpenMP was compiled
 * in. */
#include "sparsenet.h"

#include <unistd.h> /* sysconf */

int sn_isa_supported(void)
{
#if SN_X86_DISPATCH
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx2") &&
        __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi2"))
        return __builtin_cpu_supports("avx512vbmi") ? SN_ISA_AVX512_VBMI : SN_ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
        __builtin_cpu_supports("bmi2"))
        return SN_ISA_AVX2;
#endif
    return SN_ISA_BASELINE;
}

int sn_hw_gathers = 0;

int sn_hw_gathers_pay(void)
{
#if SN_X86_DISPATCH
    __builtin_cpu_init();
    return __builtin_cpu_is("intel");
#else
    return 0;
#endif
}

int sn_has_openmp(void)
{
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

sn_size sn_l2_bytes = SN_L2_BYTES_DEFAULT;

sn_size sn_l2_bytes_detected(void)
{
#ifdef _SC_LEVEL2_CACHE_SIZE
    const long bytes = sysconf(_SC_LEVEL2_CACHE_SIZE);
    if (bytes >= (128L << 10) && bytes <= (8L << 20)) return (sn_size)bytes;
#endif
    return SN_L2_BYTES_DEFAULT;
}

/* ---------------------------------------------------------------------------------------------
 * Fork safety. libgomp keeps, per thread that starts parallel regions, a pool of worker threads.
 * fork() copies only the calling thread, so a child whose forking thread had a pool waits for
 * ever on workers that do not exist. Before every fork we release the forking thread's pool
 * (omp_pause_resource_all, OpenMP 5.0): the child starts a fresh team when it next needs one, and
 * the parent's next parallel region starts its workers again (tens of microseconds, once). When
 * the runtime cannot release it, the child is told so and runs its kernels on one thread, which
 * never touches the pool. (OpenBLAS shuts its pool down before fork the same way.) */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(_OPENMP) && (_OPENMP >= 201811 || (defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 9))
#define SN_CAN_PAUSE_OPENMP 1
#else
#define SN_CAN_PAUSE_OPENMP 0
#endif

static int sn_release_at_fork = 1;     /* 0 only in tests of the single-thread fallback */
static volatile int sn_team_released = 1; /* set by the parent just before each fork */

static void sn_prepare_fork(void)
{
#ifdef _OPENMP
    sn_team_released = SN_CAN_PAUSE_OPENMP && sn_release_at_fork;
#if SN_CAN_PAUSE_OPENMP
    /* Fails (nonzero) inside a parallel region, where the team is in use. */
    if (sn_team_released) sn_team_released = omp_pause_resource_all(omp_pause_soft) == 0;
#endif
#else
    sn_team_released = 1; /* no OpenMP: nothing to lose in the child */
#endif
}

int sn_install_fork_guard(void)
{
    static int installed = 0;
    if (installed) return 0;
    if (pthread_atfork(sn_prepare_fork, NULL, NULL) != 0) return -1;
    installed = 1;
    return 0;
}

int sn_fork_team_released(void) { return sn_team_released; }

void sn_set_release_at_fork(int release) { sn_release_at_fork = release != 0; }

/* ---------------------------------------------------------------------------------------------
 * Thread-creation probe. libgomp exits the process ("Thread creation failed") when the OS refuses
 * a worker (address-space or process limits), so before sparsenet asks for n threads it starts
 * n - 1 threads itself, all alive at once, with the stack size libgomp will give its workers, and
 * counts how many the OS allowed. */

/* libgomp's stack size: OMP_STACKSIZE, else GOMP_STACKSIZE, as "<n>[B|K|M|G]" (default unit K);
 * 0 means the pthread default (RLIMIT_STACK), which libgomp also uses when neither is set. */
static size_t sn_omp_stacksize(void)
{
    static const char *const names[] = {"OMP_STACKSIZE", "GOMP_STACKSIZE"};
    for (int i = 0; i < 2; i++) {
        const char *text = getenv(names[i]);
        if (text == NULL) continue;
        while (*text == ' ' || *text == '\t') text++;
        char *end;
        errno = 0;
        unsigned long long value = strtoull(text, &end, 10);
        if (end == text || errno != 0) continue; /* libgomp ignores a malformed value too */
        while (*end == ' ' || *end == '\t') end++;
        unsigned shift = 10;
        switch (*end) {
        case 'b': case 'B': shift = 0; end++; break;
        case 'k': case 'K': shift = 10; end++; break;
        case 'm': case 'M': shift = 20; end++; break;
        case 'g': case 'G': shift = 30; end++; break;
        default: break;
        }
        while (*end == ' ' || *end == '\t') end++;
        if (*end != '\0' || value > (SIZE_MAX >> shift)) continue;
        return (size_t)value << shift;
    }
    return 0;
}

static pthread_mutex_t sn_probe_gate = PTHREAD_MUTEX_INITIALIZER;

static void *sn_probe_worker(void *unused)
{
    (void)unused;
    pthread_mutex_lock(&sn_probe_gate); /* held by the prober until every thread has started */
    pthread_mutex_unlock(&sn_probe_gate);
    return NULL;
}

int sn_probe_threads(int n_threads)
{
    if (n_threads <= 1) return 1;
    pthread_t *workers = malloc(sizeof(pthread_t) * (size_t)(n_threads - 1));
    if (workers == NULL) return 1;
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) != 0) {
        free(workers);
        return 1;
    }
    size_t stack = sn_omp_stacksize();
    if (stack != 0) pthread_attr_setstacksize(&attr, stack); /* refused: libgomp keeps the default too */
    int started = 0;
    pthread_mutex_lock(&sn_probe_gate);
    while (started < n_threads - 1 && pthread_create(&workers[started], &attr, sn_probe_worker, NULL) == 0)
        started++;
    pthread_mutex_unlock(&sn_probe_gate);
    for (int i = 0; i < started; i++) pthread_join(workers[i], NULL);
    pthread_attr_destroy(&attr);
    free(workers);
    return started + 1; /* the calling thread is the team's first */
}
