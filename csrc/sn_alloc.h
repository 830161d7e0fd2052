/* Scratch memory of the kernels that carve per-thread slices out of one block (Batch-OMP, the
 * LASSO): aligned to a cache line and a whole number of lines long (at least one), so that each
 * thread's slice can start on a line of its own and be first touched by the core that uses it.
 * NULL when the memory is not there; free() releases it. */
#ifndef SPARSENET_ALLOC_H
#define SPARSENET_ALLOC_H

#include <stdlib.h>

static inline void *sn_aligned_alloc(size_t bytes)
{
    void *p = NULL;
    return posix_memalign(&p, 64, bytes != 0 ? (bytes + 63) / 64 * 64 : 64) == 0 ? p : NULL;
}

#endif /* SPARSENET_ALLOC_H */
