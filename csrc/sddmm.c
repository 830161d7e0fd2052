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

#undef SN_TEMPLATE

#include "sn_sddmm_dispatch.h"
