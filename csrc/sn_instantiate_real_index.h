/* Includes the template named by SN_TEMPLATE once per value type and index type, {float, double} x
 * {int32_t, int64_t} (REAL, INDEX, and SFX = f32_i32, f32_i64, f64_i32, f64_i64), each through
 * sn_instantiate.h for every ISA level: the families whose entry points take a CSR matrix's
 * arrays (csr, sddmm) instantiate their templates this way. Define SN_TEMPLATE first. REAL_BYTES and
 * INDEX_BYTES give the types' sizes to the preprocessor. */

#define REAL float
#define REAL_BYTES 4
#define INDEX int32_t
#define INDEX_BYTES 4
#define SFX f32_i32
#include "sn_instantiate.h"
#undef INDEX
#undef INDEX_BYTES
#undef SFX
#define INDEX int64_t
#define INDEX_BYTES 8
#define SFX f32_i64
#include "sn_instantiate.h"
#undef REAL
#undef REAL_BYTES
#undef INDEX
#undef INDEX_BYTES
#undef SFX

#define REAL double
#define REAL_BYTES 8
#define INDEX int32_t
#define INDEX_BYTES 4
#define SFX f64_i32
#include "sn_instantiate.h"
#undef INDEX
#undef INDEX_BYTES
#undef SFX
#define INDEX int64_t
#define INDEX_BYTES 8
#define SFX f64_i64
#include "sn_instantiate.h"
#undef REAL
#undef REAL_BYTES
#undef INDEX
#undef INDEX_BYTES
#undef SFX
