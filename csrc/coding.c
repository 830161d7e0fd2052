/* Instantiates the batch LASSO (lasso_kernels.h) and K-SVD update (ksvd_kernels.h) templates for
 * float and double and every ISA level, and exports the entry points of coding.h. */
#include <float.h>
#include <immintrin.h> /* lasso_kernels.h: the lanes of a vector compare as bits */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "coding.h"
#include "sn_alloc.h"

/* Work (flops) that pays for starting one more thread. */
#define SN_CODING_GRAIN ((sn_size)1 << 18)
/* Work of one atom's K-SVD update that pays for a thread (see ksvd_update). */
#define SN_KSVD_ATOM_GRAIN ((sn_size)1 << 15)
/* Largest support the LASSO solves exactly (its elimination's scratch: this squared per thread). */
#define LASSO_NEWTON_MAX 128
/* Signals per block of the LASSO's D^T X (X given): 32 x 256 doubles is 64 KiB, beside G in L2. */
#define LASSO_BLOCK_SIGNALS ((sn_size)32)

#define REAL float
#define IREAL int32_t
#define SIGNBIT INT32_MIN
#define SFX f32
#define ABS fabsf
#define COPYSIGN copysignf
#define SQRT sqrtf
#define SN_EPS FLT_EPSILON
#define SN_TEMPLATE "lasso_kernels.h"
#include "sn_instantiate.h"
#undef SN_TEMPLATE
#define SN_TEMPLATE "ksvd_kernels.h"
#include "sn_instantiate.h"
#undef SN_TEMPLATE
#undef REAL
#undef IREAL
#undef SIGNBIT
#undef SFX
#undef ABS
#undef COPYSIGN
#undef SQRT
#undef SN_EPS

#define REAL double
#define IREAL int64_t
#define SIGNBIT INT64_MIN
#define SFX f64
#define ABS fabs
#define COPYSIGN copysign
#define SQRT sqrt
#define SN_EPS DBL_EPSILON
#define SN_TEMPLATE "lasso_kernels.h"
#include "sn_instantiate.h"
#undef SN_TEMPLATE
#define SN_TEMPLATE "ksvd_kernels.h"
#include "sn_instantiate.h"
#undef SN_TEMPLATE
#undef REAL
#undef IREAL
#undef SIGNBIT
#undef SFX
#undef ABS
#undef COPYSIGN
#undef SQRT
#undef SN_EPS

#include "sn_coding_dispatch.h"
