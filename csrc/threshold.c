/* Instantiates the thresholding template for float and double and every ISA level, and exports the
 * entry points of threshold.h, which pick the level at run time. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "threshold.h"

#if SN_X86_DISPATCH
#include <immintrin.h>
#endif

/* Elements that pay for starting one more thread. */
#define SN_THR_GRAIN ((sn_size)1 << 15)
/* The same for a kernel that only streams elements through (a map, a copy: about 0.25 ns an
 * element in cache): a waking thread costs tens of microseconds, so 1024^2 elements, 2 threads
 * for 0.25 ms, took 0.9-1.6x the 1-thread time quiet and 1.3-1.4x with another core busy
 * (benchmarks/busy_core.py). */
#define SN_THR_MAP_GRAIN ((sn_size)1 << 20)
/* Bits per round of the radix select (2^8 counts per histogram, a few KiB in L1). */
#define SN_THR_RADIX 8
/* Bits of the first round of the global (prune) select: 2^16 counts per thread, in L2. */
#define SN_THR_GLOBAL_BITS 16
/* Keys sampled from a long row to guess a cut for a small k. */
#define SN_THR_SAMPLE 256
/* Entries tested at once (one vector test) before the scalar work on a block. */
#define SN_THR_BLOCK 16
/* What a compaction of keys keeps (threshold_kernels.h). */
enum { SN_THR_IN_BUCKET, SN_THR_AT_LEAST };
/* Outputs at least this large (about a big L3) are written with non-temporal stores: they would not
 * stay cached anyway, and streaming them saves reading every output line before writing it. */
#define SN_THR_STREAM_BYTES ((sn_size)32 << 20)

#define SN_TEMPLATE "threshold_kernels.h"

#define REAL float
#define UINT uint32_t
#define SINT int32_t
#define KBITS 32
#define INF_BITS ((uint32_t)0x7f800000u)
#define FABS fabsf
#define SFX f32
#include "sn_instantiate.h"
#undef REAL
#undef UINT
#undef SINT
#undef KBITS
#undef INF_BITS
#undef FABS
#undef SFX

#define REAL double
#define UINT uint64_t
#define SINT int64_t
#define KBITS 64
#define INF_BITS ((uint64_t)0x7ff0000000000000u)
#define FABS fabs
#define SFX f64
#include "sn_instantiate.h"
#undef REAL
#undef UINT
#undef SINT
#undef KBITS
#undef INF_BITS
#undef FABS
#undef SFX

#include "sn_threshold_dispatch.h"
