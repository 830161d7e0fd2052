"""Build of sparsenet's native extensions: C kernels in csrc/ behind thin Cython wrappers.

Flags: -O3 and OpenMP when the compiler has it (probed, never assumed). No -march: the hot templates
are compiled once per ISA level and dispatched at run time (csrc/sn_instantiate.h), so one wheel is
fast on AVX-512 and AVX2 machines and correct everywhere. SPARSENET_DEBUG=1 turns on Cython's bounds
checks and -O0 -g for debugging.
"""
import glob
import os
import sys
import tempfile

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "tools"))
import kernelgen  # noqa: E402  (tools/kernelgen.py: declarations generated from csrc/kernels.spec)

DEBUG = os.environ.get("SPARSENET_DEBUG", "") not in ("", "0")

# extension module -> its C kernel files (csrc/sparsenet.c, the run-time facts, goes into every one)
EXTENSIONS = {
    "_runtime": [],
    "_buffers": [],
    "_csr": ["csrc/csr.c"],
    "_threshold": ["csrc/threshold.c"],
    "_shared": ["csrc/shared.c"],
    "_omp": ["csrc/omp.c"],
    "_sddmm": ["csrc/sddmm.c"],
    "_coding": ["csrc/coding.c"],
}


def _compiles(compiler, flags, source, link=False):
    """True when `compiler` builds `source` with `flags` (and links it, when asked)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "probe.c")
        with open(path, "w") as f:
            f.write(source)
        try:
            objects = compiler.compile([path], output_dir=tmp, extra_postargs=flags)
            if link:
                compiler.link_executable(objects, os.path.join(tmp, "probe"), extra_postargs=flags)
        except Exception:
            return False
    return True


OPENMP_PROBE = """#include <omp.h>
int main(void) { int n = 0;
#pragma omp parallel reduction(+:n)
n += 1;
return n > 0 ? 0 : 1; }
"""


class BuildExt(build_ext):
    """build_ext that probes the compiler for OpenMP and for the optional tuning flags."""

    def build_extensions(self):
        cc = self.compiler
        base = ["-O0", "-g"] if DEBUG else ["-O3"]
        base += ["-std=gnu11", "-fno-math-errno", "-fno-trapping-math"]
        for flag in ("-mtune-ctrl=use_gather",):  # let GCC vectorise indexed loads with gathers
            if _compiles(cc, [flag], "int main(void) { return 0; }\n"):
                base.append(flag)
        if _compiles(cc, ["-fopenmp"], OPENMP_PROBE, link=True):
            compile_args, link_args = base + ["-fopenmp"], ["-fopenmp"]
        else:
            print("sparsenet: the compiler has no OpenMP; building single-threaded", file=sys.stderr)
            simd = ["-fopenmp-simd"] if _compiles(cc, ["-fopenmp-simd"], "int main(void){return 0;}\n") else []
            compile_args, link_args = base + simd, []
        for ext in self.extensions:
            ext.extra_compile_args = compile_args
            ext.extra_link_args = link_args
        super().build_extensions()


GENERATED = os.path.join("build", "generated")  # kernelgen's output: C headers and _kernels.pxd


def extensions():
    kernelgen.generate(GENERATED)
    exts = [
        Extension(
            f"sparsenet.{name}",
            sources=[f"src/sparsenet/{name}.pyx", "csrc/sparsenet.c", *c_sources],
            include_dirs=["csrc", GENERATED],
            # rebuild when a kernel template or the spec changes
            depends=sorted(glob.glob("csrc/*.h")) + ["csrc/kernels.spec"],
        )
        for name, c_sources in EXTENSIONS.items()
    ]
    return cythonize(
        exts,
        build_dir="build/cython",
        include_path=[GENERATED, "src"],  # the generated sparsenet/_kernels.pxd first
        compiler_directives={
            "language_level": 3,
            "boundscheck": DEBUG,
            "wraparound": False,
            "initializedcheck": DEBUG,
            "nonecheck": False,
            "cdivision": True,
            "embedsignature": True,
        },
    )


setup(ext_modules=extensions(), cmdclass={"build_ext": BuildExt})
