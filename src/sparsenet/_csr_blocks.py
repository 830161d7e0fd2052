"""The column-blocked layout of a CSR matrix that :meth:`sparsenet.CSR.optimize` builds.

A plain CSR product gathers from all of x (or all rows of X) for every row, and at 8192 columns
x no longer fits in L1 next to the streams of A (a batch's X, 2 MiB at 64 columns, not in L2).
Cut into blocks of columns, stored one after another, the matrix is swept block by block and each
block gathers from a slice of x that stays in cache. Columns within a block fit in 16 bits.
Measured on Zen 4 at 8192^2, 10% density, float32: spmv 4.3 -> 2.2 ms, spmm (64 columns)
28 -> 13 ms (the blocks' spmv then loaded x's values one by one; it now gathers them at AVX-512,
1.16-1.56x faster on a Xeon, not measured again on Zen 4, whose gathers were the slower).
A matrix whose columns all fit one block is made one block too for products of a batch: its
16-bit columns are fewer bytes than a CSR's indices (block_width). The kernel is
csrc/csr_blocked_kernels.h, the builder csrc/csr_blocks_build.h.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from sparsenet import _csr

# The slice of the dense operand one block gathers from: x in half of L1 for a vector, the rows of a
# batch well inside L2 (measured best at 16 KiB and at 64 KiB on Zen 4's 32 KiB L1d, 1 MiB L2).
VECTOR_SLICE_BYTES = 16 << 10
BATCH_SLICE_BYTES = 32 << 10
MAX_WIDTH = 1 << 16  # columns within a block are uint16
# Fewer entries than this per row and block on average, and each block's pass costs more in row
# overheads than the cache saves: blocks are widened until rows have this many.
MIN_SEGMENT = 8


class ColumnBlocks:
    """A matrix in column blocks of `width` columns. Block b's entries of row i are
    ``col[s:e]`` (columns from the block's first) and ``values[s:e]``, where
    ``s, e = seg_ptr[b, i], seg_ptr[b, i + 1]``; `row_ptr` is the CSR row pointer of the whole
    matrix (entries per row over all blocks), by which threads share the rows."""

    __slots__ = ("width", "row_ptr", "seg_ptr", "col", "values")

    def __init__(self, width: int, row_ptr: np.ndarray, seg_ptr: np.ndarray, col: np.ndarray,
                 values: np.ndarray) -> None:
        self.width, self.row_ptr, self.seg_ptr, self.col, self.values = (
            width, row_ptr, seg_ptr, col, values)
        for a in (row_ptr, seg_ptr, col, values):
            a.flags.writeable = False

    def matmul(self, isa: int, threads: int, values: np.ndarray, X: np.ndarray,
               Y: np.ndarray) -> None:
        """Y = A X with A in these blocks and the stored `values` in the blocks' order (their
        own, or a trainable layer's): C-contiguous arrays of one dtype, X and Y matrices (or
        vectors: one column; X's rows may be padded: as_matrix_operand's `padded`)."""
        _csr.blocked_matmul(isa, threads, self.width, self.row_ptr, self.seg_ptr, self.col,
                            values, X, Y)


class ColumnSplits:
    """A CSR matrix whose rows are cut at every `width` columns where they lie: row i's entries in
    block b are ``[block_start[b, i], block_start[b + 1, i])`` of the matrix's own arrays (rows
    sorted by column). A product sweeps the blocks one after another, as with ColumnBlocks, but
    reads the matrix's indices and values in place: a trainable layer's values need no copy."""

    __slots__ = ("width", "block_start")

    def __init__(self, width: int, block_start: np.ndarray) -> None:
        self.width, self.block_start = width, block_start
        block_start.flags.writeable = False

    def matmul(self, isa: int, threads: int, A: Any, values: np.ndarray, X: np.ndarray,
               Y: np.ndarray) -> None:
        """Y = A X for the CSR structure A these splits were made for, with the stored `values`
        (C-contiguous, of X's and Y's dtype; X's rows may be padded)."""
        _csr.split_matmul(isa, threads, A.indptr, self.block_start, A.indices, values, X, Y)


def column_splits(A: Any, width: int) -> ColumnSplits:
    """The cuts of the checked CSR A, whose rows are sorted by column, at every multiple of
    `width` columns."""
    n_rows, n_cols = A.shape
    n_blocks = -(-n_cols // width)
    rows = np.repeat(np.arange(n_rows), np.diff(A.indptr))
    counts = np.bincount(rows * n_blocks + A.indices // width, minlength=n_rows * n_blocks)
    block_start = np.empty((n_blocks + 1, n_rows), dtype=A.indptr.dtype)
    block_start[0] = A.indptr[:-1]
    block_start[1:] = A.indptr[:-1] + np.cumsum(counts.reshape(n_rows, n_blocks), axis=1).T
    return ColumnSplits(width, block_start)


def block_width(n_rows: int, n_cols: int, nnz: int, batch: int, itemsize: int, *,
                transposed: bool = False) -> int:
    """Columns per block (a power of two) for products with `batch` columns, or 0 when blocks would
    not pay: rows too sparse (under MIN_SEGMENT entries per block on average) even for blocks of
    MAX_WIDTH columns, or a vector product (batch 1) with A in one block covering every column.
    The average is over the blocks as cut, the last one partial: at 147 columns (ResNet-50's first
    convolution, 90%) blocks of 128 leave a second block of 19 columns and two or three entries a
    row, where one block of 256 ran its products 1.07x faster; DLMC's 98% layers of 576 columns
    went from blocks of 512 to one block, 1.07-1.08x, and those of 1152 from 512 to 1024, 0.97-1.00x
    (one thread, Zen 3, AVX2; calls of the two alternating in one process, the fastest of 40).

    One block is the plain kernel's sweep (its panels too: blocked_panel in
    csrc/csr_blocked_kernels.h, so the same bits) from 16-bit columns, 6 bytes an entry of float32
    where a CSR of int32 indices reads 8. Against the plain kernel, one thread, Zen 4: products
    of 2 to 64 columns 0.92-1.32x, 1.11x in geometric mean, on 48 random matrices of 64-4096
    columns and 0.5-32 MB of CSR arrays (benchmarks/one_block.py); on DLMC ResNet-50's layers,
    1.02-1.05x where X spans column panels (the rule before: one block only there), and alike on
    the layers without (95%: 1.003x, 98%: 1.007x; each layer's fastest of 7 calls, 6 rounds
    alternating the rules). Vector products stay plain: 0.91-1.17x, 1.00x in geometric mean,
    slower where A fits in cache. A^T in blocks pays even as one block: its products then gather
    instead of scatter."""
    if nnz == 0:
        return 0
    budget = VECTOR_SLICE_BYTES if batch == 1 else BATCH_SLICE_BYTES
    width = 1 << max(0, (budget // (batch * itemsize)).bit_length() - 1)

    def too_sparse(width: int) -> bool:  # under MIN_SEGMENT entries per row and block
        return nnz < MIN_SEGMENT * n_rows * -(-n_cols // width)

    while width < MAX_WIDTH and too_sparse(width):
        width *= 2
    if width >= n_cols:  # one block, of the power of two that covers every column
        width = 1 << (n_cols - 1).bit_length()
        if width > MAX_WIDTH:
            return 0
        if not transposed:
            return width if batch > 1 else 0
    if too_sparse(width):
        return 0
    return width


def for_product(A: Any, batch: int, transposed: bool,
                itemsize: Optional[int] = None) -> Optional[ColumnBlocks]:
    """The column blocks of A (or of A^T when transposed) for products with `batch` columns, or
    None when they would not pay. A is a checked sparsenet.CSR: the native builder trusts it.
    `itemsize`: the bytes per value the blocks are sized for, when not A's (sparsenet.torch
    builds them on the entry numbers, in float64, to learn the order of the entries)."""
    n_rows, n_cols = A.shape[::-1] if transposed else A.shape
    width = block_width(n_rows, n_cols, A.nnz, batch, itemsize or A.dtype.itemsize,
                        transposed=transposed)
    if width == 0:
        return None
    seg_ptr = np.zeros((-(-n_cols // width), n_rows + 1), dtype=np.int64)
    row_ptr = np.zeros(n_rows + 1, dtype=np.int64)
    col = np.empty(A.nnz, dtype=np.uint16)
    values = np.empty(A.nnz, dtype=A.dtype)
    _csr.build_blocks(transposed, A.indptr, A.indices, A.data, width.bit_length() - 1, seg_ptr,
                      row_ptr, col, values)
    return ColumnBlocks(width, row_ptr, seg_ptr, col, values)
