/* Operand layouts (buffers_kernels.h): the copy of a strided matrix into C-ordered rows, which
 * the products and row kernels read whole. Suffixes name the value type (f32, f64); strides count
 * elements (any sign). Plain C with SSE2 on x86-64, no ISA levels: the copy is bound by memory,
 * not by vector width. Returns an sn_status. */
#ifndef SPARSENET_BUFFERS_H
#define SPARSENET_BUFFERS_H

#include "sparsenet.h"

/* The entry points, generated from csrc/kernels.spec. */
#include "sn_buffers_api.h"

#endif /* SPARSENET_BUFFERS_H */
