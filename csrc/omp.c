/* Instantiates the Batch-OMP template (omp_kernels.h) for float and double and every ISA level, and
 * exports the entry points of batch_omp.h (sn_omp_dispatch.h, generated from kernels.spec). */
#include <float.h>
#include <immintrin.h> /* omp_kernels.h's AVX-512 argmax trackers */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "batch_omp.h"
#include "sn_alloc.h"

/* Work (about max_atoms^2 * n_atoms per signal) that pays for starting one more thread. */
#define SN_OMP_GRAIN ((sn_size)1 << 18)

sn_size sn_omp_row_length(sn_size n_atoms)
{
    return (n_atoms + 31) / 32 * 32;
}

/* Signals per block of D^T X: about 256 KiB of doubles per thread (an L2-sized block), between 8
 * and 256. Depends on the problem only, so results do not depend on the thread count. */
static sn_size sn_omp_block_signals(sn_size npad)
{
    return SN_MAX((sn_size)8, SN_MIN((sn_size)256, ((sn_size)1 << 15) / npad));
}

#define SN_TEMPLATE "omp_kernels.h"

#define REAL float
#define REAL_BYTES 4
#define SFX f32
#define EPS FLT_EPSILON
#define SQRT sqrtf
#define ABS fabsf
#define IREAL int32_t
#define SIGNBIT INT32_MIN
#include "sn_instantiate.h"
#undef REAL
#undef REAL_BYTES
#undef SFX
#undef EPS
#undef SQRT
#undef ABS
#undef IREAL
#undef SIGNBIT

#define REAL double
#define REAL_BYTES 8
#define SFX f64
#define EPS DBL_EPSILON
#define SQRT sqrt
#define ABS fabs
#define IREAL int64_t
#define SIGNBIT INT64_MIN
#include "sn_instantiate.h"
#undef REAL
#undef REAL_BYTES
#undef SFX
#undef EPS
#undef SQRT
#undef ABS
#undef IREAL
#undef SIGNBIT

#include "sn_omp_dispatch.h"
