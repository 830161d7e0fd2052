/* Instantiates the CSR templates for {float, double} x {int32, int64} (column blocks: {float,
 * double}) and every ISA level, and exports the entry points of csr.h, which pick the level at run
 * time. */
#include <stdlib.h>
#include <string.h>

#include "csr.h"
#include "csr_tuning.h"
#if SN_X86_DISPATCH
#include <immintrin.h> /* csr_segments.h's AVX-512 dot_segment and masked tiles */
#endif

#define SN_TEMPLATE "csr_kernels.h"

#include "sn_instantiate_real_index.h"

#undef SN_TEMPLATE
#define SN_TEMPLATE "csr_blocked_kernels.h"
#define INDEX sn_size

#define REAL float
#define REAL_BYTES 4
#define SFX f32
#include "sn_instantiate.h"
#undef REAL
#undef REAL_BYTES
#undef SFX

#define REAL double
#define REAL_BYTES 8
#define SFX f64
#include "sn_instantiate.h"
#undef REAL
#undef REAL_BYTES
#undef SFX

#undef INDEX

#define INDEX int32_t
#define ISFX i32
#include "csr_blocks_build.h"
#undef INDEX
#undef ISFX

#define INDEX int64_t
#define ISFX i64
#include "csr_blocks_build.h"
#undef INDEX
#undef ISFX

/* Plain C, memory-bound: NumPy's take spent 2 ns an entry on this, a tenth of a 128-column product
 * (MiniLM FFN at 10%); 32-bit orders halve the bytes streamed. */
#define SN_GATHER_VALUES(SFX, REAL, INDEX)                                                        \
    int SN_CAT(sn_csr_gather_values, SFX)(sn_size n, const REAL *values, const INDEX *order,     \
                                          REAL *out)                                             \
    {                                                                                              \
        for (sn_size p = 0; p < n; ++p) out[p] = values[order[p]];                                 \
        return SN_OK;                                                                              \
    }
SN_GATHER_VALUES(f32_i32, float, int32_t)
SN_GATHER_VALUES(f32_i64, float, int64_t)
SN_GATHER_VALUES(f64_i32, double, int32_t)
SN_GATHER_VALUES(f64_i64, double, int64_t)
#undef SN_GATHER_VALUES

#undef SN_TEMPLATE
#define SN_TEMPLATE "csr_check.h"

#define INDEX int32_t
#define UINDEX uint32_t
#define INDEX_LIMIT ((sn_size)1 << 31)
#define ISFX i32
#include "sn_instantiate.h"
#undef INDEX
#undef UINDEX
#undef INDEX_LIMIT
#undef ISFX

#define INDEX int64_t
#define UINDEX uint64_t
#define INDEX_LIMIT INT64_MAX
#define ISFX i64
#include "sn_instantiate.h"
#undef INDEX
#undef UINDEX
#undef INDEX_LIMIT
#undef ISFX

#undef SN_TEMPLATE

#include "sn_csr_dispatch.h"
