/* Includes the template named by SN_TEMPLATE once per ISA level (see SN_ISA_TABLE in sparsenet.h);
 * with SN_WITH_VBMI defined, also for the avx512vbmi level (SN_ISA_VBMI defined inside).
 *
 * Inside the template, ISA is the level's name suffix (avx512, avx2, baseline) and SN_VBYTES the width
 * in bytes of the vectors the template's GCC vector types should use. Define SN_TEMPLATE and the
 * template's own parameters (REAL, INDEX, SFX, ...) before including this file; it may be included
 * any number of times. */
#include "sparsenet.h"

#if SN_X86_DISPATCH
#ifdef SN_WITH_VBMI
#define ISA avx512vbmi
#define SN_VBYTES 64
#define SN_ISA_VBMI 1
SN_ISA_BEGIN(SN_TARGET_AVX512 ",avx512vbmi")
#include SN_TEMPLATE
SN_ISA_END
#undef ISA
#undef SN_VBYTES
#undef SN_ISA_VBMI
#endif

#define ISA avx512
#define SN_VBYTES 64
SN_ISA_BEGIN(SN_TARGET_AVX512)
#include SN_TEMPLATE
SN_ISA_END
#undef ISA
#undef SN_VBYTES

#define ISA avx2
#define SN_VBYTES 32
SN_ISA_BEGIN(SN_TARGET_AVX2)
#include SN_TEMPLATE
SN_ISA_END
#undef ISA
#undef SN_VBYTES
#endif

#define ISA baseline
#define SN_VBYTES 16
#include SN_TEMPLATE
#undef ISA
#undef SN_VBYTES
