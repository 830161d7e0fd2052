/* Instantiates the parameter-sharing templates (shared_kernels.h, kmeans_kernels.h,
 * csr_kernels.h) for every value / code / index type and ISA level, and exports the entry
 * points of shared.h, which pick the level at run time. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "shared.h"
#include "sn_alloc.h"

sn_gemm_f32 sn_blas_sgemm = NULL;
sn_gemm_f64 sn_blas_dgemm = NULL;

/* Coded weights (times the columns of X) of work that pay for starting one more thread: about
 * 50 us of shared_matvec on Zen 5. At 2^15 (1.5 us) shared_matvec at 1024^2 went to two threads,
 * which with the other core busy took 2.3x the one-thread time (benchmarks/busy_core.py). */
#define SN_SHARED_GRAIN ((sn_size)1 << 20)
/* Weights per decoded tile of the BLAS-backed gradient: 1 Mi (4 MiB of float32). Fewer, larger
 * tiles mean fewer calls in which BLAS packs X again; on Zen 4 this measured 1.13x the dense sgemm
 * time at 256 Ki and 0.99x at 1 Mi. */
#define SN_SHARED_TILE ((sn_size)1 << 20)
/* Terms per block of the products with k > 1 (shared_kernels.h, matmul_panels): the block of X
 * (192 KiB at k = 128, float32) stays in L2 (Zen 3, k = 128: 256 and 512 within 2% of 384). Fixed,
 * as it orders the sums. */
#define SN_SHARED_KC ((sn_size)384)
/* Columns of X per pass of those products: the scratch does not grow with k (W is decoded again
 * for each pass, under a tenth of the time at k = 128). */
#define SN_SHARED_NC ((sn_size)128)
/* Columns per task of the transposed matrix-vector product: the slice of y stays in L1. */
#define SN_SHARED_COLS ((sn_size)2048)
/* Fixed cuts of the gradient's BLAS calls (shared_kernels.h) */
#define SN_SHARED_GRAD_ROWS ((sn_size)128) /* each call packs X again: not too small */
/* Fixed partial sums of the codebook gradient (see shared_grad). */
#define SN_SHARED_SLOTS ((sn_size)8)

/* ---- shared and hashed products ---- */
#include "shared_lut8.h"
#define SN_TEMPLATE "shared_kernels.h"

#define REAL float
#define REAL_BYTES 4 /* code_gather's lanes */
#define GEMM sn_gemm_f32
#define CODE uint8_t
#define SFX f32_u8
#define SN_SHARED_LUT8
#define SN_WITH_VBMI
#include "sn_instantiate.h"
#undef SN_WITH_VBMI
#undef SN_SHARED_LUT8
#undef CODE
#undef SFX
#define CODE uint16_t
#define SFX f32_u16
#include "sn_instantiate.h"
#undef CODE
#undef SFX
#define SN_SHARED_HASHED
#define SFX f32_hash
#define SN_SHARED_LUT8
#define SN_WITH_VBMI
#include "sn_instantiate.h"
#undef SN_WITH_VBMI
#undef SN_SHARED_LUT8
#undef SN_SHARED_HASHED
#undef SFX
#undef REAL
#undef REAL_BYTES
#undef GEMM

#define REAL double
#define REAL_BYTES 8
#define GEMM sn_gemm_f64
#define CODE uint8_t
#define SFX f64_u8
#include "sn_instantiate.h"
#undef CODE
#undef SFX
#define CODE uint16_t
#define SFX f64_u16
#include "sn_instantiate.h"
#undef CODE
#undef SFX
#define SN_SHARED_HASHED
#define SFX f64_hash
#include "sn_instantiate.h"
#undef SN_SHARED_HASHED
#undef SFX
#undef REAL
#undef REAL_BYTES
#undef GEMM
#undef SN_TEMPLATE

/* ---- 1-D k-means ---- */
#define SN_TEMPLATE "kmeans_kernels.h"
#define REAL float
#define KEY uint32_t
#define CODE uint8_t
#define SFX f32_u8
#include "sn_instantiate.h"
#undef CODE
#undef SFX
#define CODE uint16_t
#define SFX f32_u16
#include "sn_instantiate.h"
#undef CODE
#undef SFX
#undef REAL
#undef KEY

#define REAL double
#define KEY uint64_t
#define CODE uint8_t
#define SFX f64_u8
#include "sn_instantiate.h"
#undef CODE
#undef SFX
#define CODE uint16_t
#define SFX f64_u16
#include "sn_instantiate.h"
#undef CODE
#undef SFX
#undef REAL
#undef KEY
#undef SN_TEMPLATE

/* ---- pruned and shared CSR: the CSR product templates, each value read through its code ---- */
#define SN_TEMPLATE "csr_kernels.h"
#define CSR_VALUE(v, p) ((v).codebook[(v).codes[p]])

#define SN_CODED_VALUES(VSFX, REAL, CODE)                                                         \
    typedef struct {                                                                              \
        const CODE *codes;                                                                        \
        const REAL *codebook;                                                                     \
    } sn_coded_##VSFX;
SN_CODED_VALUES(f32_u8, float, uint8_t)
SN_CODED_VALUES(f32_u16, float, uint16_t)
SN_CODED_VALUES(f64_u8, double, uint8_t)
SN_CODED_VALUES(f64_u16, double, uint16_t)

/* int32 row pointers and columns only: SharedCSR stores its structure so wherever it fits (as
 * scipy's csr_matrix does); a larger one is multiplied through csr.c's kernels with its values
 * decoded. The int64 instantiations took 40 s of the build's 270 s of compile time (GCC 12,
 * Zen 3). */
#define INDEX int32_t
#define REAL float
#define CSR_VALUES sn_coded_f32_u8
#define CSR_CODE uint8_t
#define SFX f32_u8
#include "sn_instantiate.h"
#undef CSR_VALUES
#undef CSR_CODE
#undef SFX
#define CSR_VALUES sn_coded_f32_u16
#define CSR_CODE uint16_t
#define SFX f32_u16
#include "sn_instantiate.h"
#undef CSR_VALUES
#undef CSR_CODE
#undef SFX
#undef REAL

#define REAL double
#define CSR_VALUES sn_coded_f64_u8
#define CSR_CODE uint8_t
#define SFX f64_u8
#include "sn_instantiate.h"
#undef CSR_VALUES
#undef CSR_CODE
#undef SFX
#define CSR_VALUES sn_coded_f64_u16
#define CSR_CODE uint16_t
#define SFX f64_u16
#include "sn_instantiate.h"
#undef CSR_VALUES
#undef CSR_CODE
#undef SFX
#undef REAL
#undef INDEX
#undef CSR_VALUE
#undef SN_TEMPLATE

#include "sn_shared_dispatch.h"
