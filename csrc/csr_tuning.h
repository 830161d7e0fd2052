/* Tuning of the CSR product templates (csr_kernels.h), shared by every family that instantiates them
 * (plain CSR in csr.c, pruned-and-shared CSR in shared.c). */
#ifndef SPARSENET_CSR_TUNING_H
#define SPARSENET_CSR_TUNING_H

#include "sparsenet.h"

/* Work (sn_csr_thread_work) that pays for starting one more thread: about 60 us of a matrix-vector
 * product on Zen 5 (more on older cores). A thread that has gone to sleep takes tens of
 * microseconds to wake: with 2^15 the DLMC layers' products at N=1 ran 1.0-1.8x slower on 2
 * threads than on 1, quiet or with another core busy (benchmarks/busy_core.py), and with 2^17 the
 * 0.1 ms spmv of `bench --quick` took 1.6-1.7x its one-thread time with the other core busy. */
#define SN_CSR_GRAIN ((sn_size)1 << 18)
/* Work of a product for its thread count, in SN_CSR_GRAIN's units: its entries (nnz + rows, or
 * row segments) times the 8-column pieces of X each one reads (k = 1: one). An entry of a
 * 128-column product costs about 16 of a vector product's (Zen 5: 4.6 ns against 0.24 ns).
 * Counting each column as a unit sent products of a few tens of microseconds to two threads,
 * which with the other core busy took 1.65x the one-thread time (DLMC ResNet-50 at 98%). */
static inline sn_size sn_csr_thread_work(sn_size entries, sn_size k)
{
    return entries * ((k + 7) / 8);
}
/* Cache budgets of A^T X by column ownership: a column block of Y in L2, a panel of A's entries,
 * and the shortest average row segment per block worth it. */
#define SN_CSR_L2_BLOCK ((sn_size)256 << 10)
#define SN_CSR_PANEL_NNZ ((sn_size)1 << 16)
#define SN_CSR_MIN_SEGMENT 16
/* The slice of X a block of columns gathers from in a panel of columns (column_panel): L1's 32
 * KiB on Zen 4 (64 KiB and 96 KiB measured 1-2% slower on DLMC ResNet-50 at 90%, Zen 4). */
#define SN_CSR_PANEL_BYTES ((sn_size)32 << 10)
/* The fewest entries a row (on average) for which a plain CSR product takes column panels
 * (plain_panel): each panel sweeps every row once more. DLMC ResNet-50's layers of 64 input
 * channels in one column block, one thread, Zen 4: 6-13 entries a row (90-80%) gained 1.07-1.10x at
 * 3136 columns from panels, 1-2 entries (98%) lost 14%. */
#define SN_CSR_PANEL_MIN_ENTRIES 4
/* What A X requests early (gather_rows_k, gather_tile): the rows of X it will gather
 * SN_CSR_PREFETCH entries on (SN_CSR_AHEAD_X, where sn_csr_prefetches says), and the first and last
 * lines of the row segments 8 rows on (SN_CSR_AHEAD_SEGMENTS, where the segments are scattered
 * through the CSR arrays: csr_split_matmul). Where segments follow one another (CSR rows, column
 * blocks) the hardware prefetchers follow them: without the requests DLMC ResNet-50's optimize()d
 * products ran 1.020x, 1.015x, 1.022x and 1.010x faster at 80/90/95/98% (one thread, Zen 4, builds
 * alternated layer by layer; capped at AVX2 1.009x and 1.0x at 80/90%), the plain CSR's 1.009x at
 * 90%; without them csr_split_matmul's MiniLM FFN forward took 1.07-1.35x as long. */
enum { SN_CSR_AHEAD_X = 1, SN_CSR_AHEAD_SEGMENTS = 2 };
#define SN_CSR_PREFETCH 16
/* A X prefetches the rows of X it gathers only where it gathers from more bytes of X (x_rows rows
 * of k REALs) than this core's L2 (sn_l2_bytes, sparsenet.h). Under it they stay in cache, and a
 * prefetch only takes a load slot the FMAs need: column blocks (slices of about 32 KiB) and panels
 * (L1) never prefetch. Builds alternated layer by layer, one thread, Zen 4 (1 MiB of L2): DLMC
 * ResNet-50's optimize()d products 1.032x faster at 80%, 1.018x at 90%, alike at 95% and 98% (at
 * AVX2: 1.041x, 1.036x); the bench's 8192^2 spmm (64 columns) 1.035x. Above it they paid where
 * nothing else did: 8192^2 at 1%, 64 columns (X of 2 MiB), 1.1-1.4x faster with them in 11 runs of
 * 12 (a case whose time moves +-25% from process to process with where X lands). On Zen 3 (512 KiB
 * of L2), the plain CSR's DLMC products with X of 784-882 KiB ran 1.11-1.18x faster with them at
 * 80% and 90%, 0.98-1.08x at 95% and 98% (1.05x over those 60 products); with X of 392 KiB, alike
 * (0.95-1.15x, 1.01x): hence the core's own L2, not Zen 4's (each product's calls alternating the
 * two thresholds in one process). */
static inline int sn_csr_prefetches(sn_size x_rows, sn_size k, sn_size item_bytes)
{
    return x_rows * k * item_bytes > sn_l2_bytes ? SN_CSR_AHEAD_X : 0;
}

/* Chunks of a transposed product scattered into private buffers: about one per 64Ki units of
 * work, at most 16, no more than 32 MiB of extra buffers, and no more buffer bytes to zero and add
 * than a quarter of the work (bytes and units alike): a sparse matrix with a wide output would
 * otherwise spend its time on the buffers (8192^2 at 0.2%, k = 64: 9.7 ms against 0.5 ms for A X).
 * Depends on the problem only. */
static inline sn_size sn_csr_t_chunks(sn_size work, sn_size out_bytes)
{
    sn_size chunks = SN_MAX((sn_size)1, SN_MIN((sn_size)16, work >> 16));
    while (chunks > 1 && (chunks - 1) * out_bytes > SN_MIN((sn_size)32 << 20, work / 4))
        --chunks;
    return chunks;
}

#endif /* SPARSENET_CSR_TUNING_H */
