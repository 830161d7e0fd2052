/* Instantiates the SDDMM template (sddmm_kernels.h) for {float, double} x {int32, int64} and every
 * ISA level, and exports the entry points of sddmm.h, which pick the level at run time. */
#include <stdlib.h>
#include <string.h>

#include "sddmm.h"
#if SN_X86_DISPATCH
#include <immintrin.h> /* csr_segments.h's AVX-512 masked tiles */
#endif

#define SN_TEMPLATE "sddmm_kernels.h"

#include "sn_instantiate_real_index.h"

#undef SN_TEMPLATE

#include "sn_sddmm_dispatch.h"
