/* Library-wide run-time facts: the CPU's ISA level and whether OpenMP was compiled in. */
#include "sparsenet.h"

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

int sn_has_openmp(void)
{
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}
