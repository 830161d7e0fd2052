/* Instantiates the CSR templates for {float, double} x {int32, int64} and every ISA level, and
 * exports the entry points of csr.h, which pick the level at run time. */
#include <stdlib.h>
#include <string.h>

#include "csr.h"

/* Work (nnz + rows, times columns) that pays for starting one more thread. */
#define SN_CSR_GRAIN ((sn_size)1 << 15)

/* Chunks of a transposed product (csr_kernels.h): about one per 64Ki units of work, at most 16, and
 * no more than 32 MiB of scratch for the extra output buffers. Depends on the problem only. */
static sn_size sn_csr_t_chunks(sn_size work, sn_size out_bytes)
{
    sn_size chunks = SN_MAX((sn_size)1, SN_MIN((sn_size)16, work >> 16));
    while (chunks > 1 && (chunks - 1) * out_bytes > ((sn_size)32 << 20))
        --chunks;
    return chunks;
}

#define SN_TEMPLATE "csr_kernels.h"

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

#define SN_CSR_DEFINE(SFX, REAL, INDEX)                                                           \
    int sn_csr_matmul_##SFX(int isa, int n_threads, sn_size n_rows, const INDEX *indptr,          \
                            const INDEX *indices, const REAL *data, sn_size k, const REAL *X,     \
                            REAL *Y)                                                              \
    {                                                                                             \
        SN_DISPATCH(isa, csr_matmul_##SFX, (n_threads, n_rows, indptr, indices, data, k, X, Y));  \
    }                                                                                             \
    int sn_csr_matmul_t_##SFX(int isa, int n_threads, sn_size n_rows, sn_size n_cols,             \
                              const INDEX *indptr, const INDEX *indices, const REAL *data,        \
                              sn_size k, const REAL *X, REAL *Y)                                  \
    {                                                                                             \
        SN_DISPATCH(isa, csr_matmul_t_##SFX,                                                      \
                    (n_threads, n_rows, n_cols, indptr, indices, data, k, X, Y));                 \
    }

SN_CSR_DEFINE(f32_i32, float, int32_t)
SN_CSR_DEFINE(f32_i64, float, int64_t)
SN_CSR_DEFINE(f64_i32, double, int32_t)
SN_CSR_DEFINE(f64_i64, double, int64_t)

#define INDEX int32_t
#define ISFX i32
#include "csr_check.h"
#undef INDEX
#undef ISFX

#define INDEX int64_t
#define ISFX i64
#include "csr_check.h"
#undef INDEX
#undef ISFX
