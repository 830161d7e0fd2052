/* Instantiates the SDDMM template (sddmm_kernels.h) for {float, double} x {int32, int64} and every
 * ISA level, and exports the entry points of sddmm.h, which pick the level at run time. */
#include <stdlib.h>
#include <string.h>

#include "sddmm.h"

#define SN_TEMPLATE "sddmm_kernels.h"

#define REAL float
#define INDEX int32_t
#define SFX f32_i32
#include "sn_instantiate.h"
#undef REAL
#undef INDEX
#undef SFX

#define REAL float
#define INDEX int64_t
#define SFX f32_i64
#include "sn_instantiate.h"
#undef REAL
#undef INDEX
#undef SFX

#define REAL double
#define INDEX int32_t
#define SFX f64_i32
#include "sn_instantiate.h"
#undef REAL
#undef INDEX
#undef SFX

#define REAL double
#define INDEX int64_t
#define SFX f64_i64
#include "sn_instantiate.h"
#undef REAL
#undef INDEX
#undef SFX

#define SN_SDDMM_DEFINE(SFX, REAL, INDEX)                                                         \
    int sn_sddmm_##SFX(int isa, int n_threads, sn_size n_rows, const INDEX *indptr,               \
                       const INDEX *indices, sn_size k, const REAL *A, const REAL *B, REAL *out)  \
    {                                                                                             \
        SN_DISPATCH(isa, sddmm_##SFX, (n_threads, n_rows, indptr, indices, k, A, B, out));        \
    }

SN_SDDMM_DEFINE(f32_i32, float, int32_t)
SN_SDDMM_DEFINE(f32_i64, float, int64_t)
SN_SDDMM_DEFINE(f64_i32, double, int32_t)
SN_SDDMM_DEFINE(f64_i64, double, int64_t)
