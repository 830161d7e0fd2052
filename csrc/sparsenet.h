/* Shared types, status codes and the OpenMP / SIMD plumbing of every sparsenet kernel.
 *
 * Kernels are plain C99: arrays, sizes and strides in, a status code out. They trust their
 * arguments; the Python API layer validates everything before a kernel runs. */
#ifndef SPARSENET_H
#define SPARSENET_H

#include <stddef.h>
#include <stdint.h>

#ifdef _OPENMP
#include <omp.h>
#endif

/* Sizes and offsets are 64-bit everywhere so that products of two dimensions never overflow. */
typedef int64_t sn_size;

enum sn_status {
    SN_OK = 0,
    SN_ENOMEM = 1, /* scratch allocation failed */
    SN_EINVAL = 2, /* an ISA level out of range (the Python layer checks everything else) */
};

/* Instruction-set levels a kernel family is compiled for; chosen at run time (runtime dispatch). */
enum sn_isa {
    SN_ISA_BASELINE = 0, /* whatever the compiler targets by default (SSE2 on x86-64) */
    SN_ISA_AVX2 = 1,     /* x86-64-v3: AVX2 + FMA */
    SN_ISA_AVX512 = 2,   /* x86-64-v4: AVX-512 F/BW/DQ/VL */
    SN_ISA_AVX512_VBMI = 3, /* x86-64-v4 + AVX512-VBMI (byte permutes: shared_lut8.h) */
    SN_ISA_COUNT = 4,
};

/* Best level this CPU (and OS) can run; SN_ISA_BASELINE off x86-64. */
int sn_isa_supported(void);
/* 1 when this CPU's AVX-512 gathers beat one load per element (Intel's, measured on a Xeon); 0 on
 * AMD's (Zen 4 and Zen 5 measured) and anywhere else. */
int sn_hw_gathers_pay(void);
/* 1: the AVX-512 kernels that read a table by index (csr_segments.h's gather_dot, shared_kernels.h's
 * code_gather) use gather instructions; 0: one load an element. Each extension has its own copy
 * (sparsenet.c is compiled into each); the modules that read it set it at import to
 * sn_hw_gathers_pay() (_gathers.pxi), and tests set both values. */
extern int sn_hw_gathers;
/* 1 when the library was compiled with OpenMP. */
int sn_has_openmp(void);
/* This core's L2 in bytes as the OS reports it (sysconf), or SN_L2_BYTES_DEFAULT where it reports
 * none or an implausible size (outside 128 KiB to 8 MiB; a hypervisor may pass through odd cache
 * leaves). */
#define SN_L2_BYTES_DEFAULT ((sn_size)1 << 20)
sn_size sn_l2_bytes_detected(void);
/* The L2 size the kernels plan for (csr_tuning.h's sn_csr_prefetches): one copy per extension,
 * SN_L2_BYTES_DEFAULT until the module that reads it (_csr) sets it at import to
 * sn_l2_bytes_detected(); tests set other sizes. It changes which loads are requested early,
 * never a result. */
extern sn_size sn_l2_bytes;

#define SN_CAT_(a, b) a##_##b
#define SN_CAT(a, b) SN_CAT_(a, b)
#define SN_CAT3_(a, b, c) a##_##b##_##c
#define SN_CAT3(a, b, c) SN_CAT3_(a, b, c)

#define SN_MIN(a, b) ((a) < (b) ? (a) : (b))
#define SN_MAX(a, b) ((a) > (b) ? (a) : (b))

/* Threads worth using for `work` units when `per_thread` units pay for a thread's start-up.
 * A parallel region costs libgomp about 0.2 us even when it runs on one thread (a team is made and
 * freed): a tenth of a small product's whole call. So the per-call products (csr_matmul, its checked
 * form, csr_blocked_matmul) call their body directly when this gives one thread. */
static inline int sn_threads_for(int n_threads, sn_size work, sn_size per_thread)
{
    sn_size useful = work / (per_thread > 0 ? per_thread : 1);
    if (useful < 1) useful = 1;
    return (int)SN_MIN((sn_size)(n_threads > 0 ? n_threads : 1), useful);
}

static inline int sn_thread_id(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

static inline int sn_team_size(void)
{
#ifdef _OPENMP
    return omp_get_num_threads();
#else
    return 1;
#endif
}

/* x86-64 builds compile each hot template once per ISA level, between SN_ISA_BEGIN(SN_TARGET_...) and
 * SN_ISA_END, and pick one at run time (SN_ISA_TABLE), so one binary is fast on AVX-512 and AVX2
 * machines and correct on older ones. Nothing is compiled with -march=native. GCC takes the level as
 * a target pragma; clang ignores that pragma, so there every function between the two gets the
 * target attribute instead (clang has no per-function prefer-vector-width: its generic tuning
 * already uses 512-bit vectors once AVX-512 is on). */
#if defined(__GNUC__) && (defined(__x86_64__) || defined(_M_X64))
#define SN_X86_DISPATCH 1
#define SN_PRAGMA_(x) _Pragma(#x)
#define SN_TARGET_AVX2 "avx2,fma,bmi,bmi2,popcnt,lzcnt,f16c,movbe"
#if defined(__clang__)
#define SN_ISA_BEGIN(flags) SN_PRAGMA_(clang attribute push(__attribute__((target(flags))), apply_to = function))
#define SN_ISA_END SN_PRAGMA_(clang attribute pop)
#define SN_TARGET_AVX512 "avx2,fma,bmi,bmi2,popcnt,lzcnt,f16c,movbe,avx512f,avx512vl,avx512bw,avx512dq,avx512cd"
#else
#define SN_ISA_BEGIN(flags) SN_PRAGMA_(GCC push_options) SN_PRAGMA_(GCC target(flags))
#define SN_ISA_END SN_PRAGMA_(GCC pop_options)
#define SN_TARGET_AVX512 \
    "avx2,fma,bmi,bmi2,popcnt,lzcnt,f16c,movbe,avx512f,avx512vl,avx512bw,avx512dq,avx512cd,prefer-vector-width=512"
#endif
#else
#define SN_X86_DISPATCH 0
#endif

/* The initialiser of an entry point's dispatch table (sn_<family>_dispatch.h, generated from
 * csrc/kernels.spec): the function compiled for each level of enum sn_isa, or for the best level
 * below it that the function was compiled for. _VBMI: the function has an avx512vbmi variant. */
#if SN_X86_DISPATCH
#define SN_ISA_TABLE(fn) fn##_baseline, fn##_avx2, fn##_avx512, fn##_avx512
#define SN_ISA_TABLE_VBMI(fn) fn##_baseline, fn##_avx2, fn##_avx512, fn##_avx512vbmi
#else
#define SN_ISA_TABLE(fn) fn##_baseline, fn##_baseline, fn##_baseline, fn##_baseline
#define SN_ISA_TABLE_VBMI(fn) SN_ISA_TABLE(fn)
#endif

/* Fork safety (sparsenet.c): release the forking thread's OpenMP team before every fork. Installed
 * once; sn_fork_team_released() tells a child whether that worked (else it must stay on one thread). */
int sn_install_fork_guard(void);
int sn_fork_team_released(void);
void sn_set_release_at_fork(int release); /* tests only: 0 leaves the team to the child */
/* Threads (1 + workers) the OS lets start at once with libgomp's stack size, up to n_threads. */
int sn_probe_threads(int n_threads);

#endif /* SPARSENET_H */
