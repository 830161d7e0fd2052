"""codebook_grad and shared_matmul(transpose=True) against the NumPy reference with BLAS at its
default thread count (issue 12 item 1). Run quiet and with another core busy:
``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/shared_blas_threads.py``."""
# codebook_grad and shared_matmul(transpose=True) at 4096^2, K=256, k=128, default BLAS threads,
# against the NumPy reference: blocks of 5 calls alternating between the two, three rounds, median
# of the 15. Each block starts 0.3 s after the last, so that OpenBLAS's threads, which spin for
# about 0.1 s after a multi-threaded call, have gone to sleep and leave the cores to whichever runs
# next (a block started right after the reference's lost up to a third of its first calls).
import time, numpy as np, sparsenet
from sparsenet import reference
rng = np.random.default_rng(0)
W = rng.normal(0, 0.05, (4096, 4096)).astype(np.float32)
sw = sparsenet.kmeans_codebook(W, 256)
X = rng.standard_normal((4096, 128)).astype(np.float32)
G = rng.standard_normal((4096, 128)).astype(np.float32)
def block(f, n=5):
    time.sleep(0.3)
    ts = []
    for _ in range(n):
        t0 = time.perf_counter(); f(); ts.append(time.perf_counter() - t0)
    return ts
cases = {"codebook_grad": (lambda: sparsenet.codebook_grad(sw, G, X), lambda: reference.codebook_grad(sw, G, X)),
         "shared_matmul(transpose=True)": (lambda: sparsenet.shared_matmul(sw, G, transpose=True), lambda: reference.shared_matmul(sw, G, transpose=True))}
for name, (fast, ref) in cases.items():
    fast(), ref()
    times = {fast: [], ref: []}
    for _ in range(3):
        for f in (fast, ref):
            times[f] += block(f)
    a, b = (np.median(times[f]) * 1e3 for f in (fast, ref))
    print(f"{name}: sparsenet {a:.1f} ms, numpy reference {b:.1f} ms, ratio {b/a:.2f}x")
