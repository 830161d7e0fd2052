/* Instantiates the copy template (buffers_kernels.h) for float and double and exports the entry
 * points of buffers.h. */
#include <string.h>

#include "buffers.h"
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* Elements that pay for starting a second thread: a copy streams about 0.1-0.25 ns an element, a
 * waking thread costs tens of microseconds (threshold.c's SN_THR_MAP_GRAIN, measured there). */
#define SN_COPY_GRAIN ((sn_size)1 << 20)

#define REAL float
#define REAL_BYTES 4
#define SFX f32
#include "buffers_kernels.h"
#undef REAL
#undef REAL_BYTES
#undef SFX

#define REAL double
#define REAL_BYTES 8
#define SFX f64
#include "buffers_kernels.h"
#undef REAL
#undef REAL_BYTES
#undef SFX

#include "sn_buffers_dispatch.h"
