"""Build of sparsenet's native extensions: C kernels in csrc/ behind thin Cython wrappers.

Flags: -O3 -g0, linked with -s (no symbol table), and OpenMP when the compiler has it (probed with
the build's own compiler and flags, never assumed). No -march: the hot templates are compiled once
per ISA level and dispatched at run time (csrc/sn_instantiate.h), so one wheel is fast on AVX-512
and AVX2 machines and correct everywhere. Sources compile in parallel on every CPU this process may
use.

Environment:
  SPARSENET_DEBUG=1           Cython's bounds checks, -O0 -g (debug info and symbols kept)
  SPARSENET_REQUIRE_OPENMP=1  fail the build when OpenMP cannot be built and linked (set in CI)
  SPARSENET_BUILD_JOBS=N      compiler processes at once (default: the usable CPUs)
  CC, CFLAGS, LDFLAGS         as for any setuptools build (e.g. CC=clang, sanitizer flags)
"""
import concurrent.futures
import glob
import hashlib
import os
import subprocess
import sys
import tempfile
import threading

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "tools"))
import kernelgen  # noqa: E402  (tools/kernelgen.py: declarations generated from csrc/kernels.spec)

DEBUG = os.environ.get("SPARSENET_DEBUG", "") not in ("", "0")
CYTHON_BUILD_DIR = "build/cython"  # Cython's generated C
REQUIRE_OPENMP = os.environ.get("SPARSENET_REQUIRE_OPENMP", "") not in ("", "0")

# extension module -> its C kernel files (csrc/sparsenet.c, the run-time facts, goes into every one)
EXTENSIONS = {
    "_runtime": [],
    "_buffers": ["csrc/buffers.c"],
    "_csr": ["csrc/csr.c"],
    "_threshold": ["csrc/threshold.c"],
    "_shared": ["csrc/shared.c"],
    "_omp": ["csrc/omp.c"],
    "_sddmm": ["csrc/sddmm.c"],
    "_coding": ["csrc/coding.c"],
}


def _compiles(compiler, flags, source, link=False):
    """True when `compiler` builds `source` with `flags` (and links it, when asked)."""
    return _probe(compiler, flags, source, link) is None


def _probe(compiler, flags, source, link=False):
    """None when `compiler` builds `source` with `flags` (and links it into a program, when asked),
    else the compiler's complaint.

    The program is linked by the command that links the extensions (`compiler.linker_so`: CC or
    LDSHARED, with CFLAGS and LDFLAGS from the environment, e.g. sanitizer flags) less `-shared`, so
    the probe fails only where the real build would."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "probe.c")
        with open(path, "w") as f:
            f.write(source)
        try:
            objects = compiler.compile([path], output_dir=tmp, extra_postargs=flags)
            if link:
                linker = [arg for arg in compiler.linker_so if arg != "-shared"]
                command = linker + objects + flags + ["-o", os.path.join(tmp, "probe")]
                done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      universal_newlines=True)
                if done.returncode != 0:
                    return f"`{' '.join(command)}` failed: {done.stdout.strip()[-2000:]}"
        except Exception as error:  # CompileError, DistutilsExecError
            return str(error) or type(error).__name__
    return None


OPENMP_PROBE = """#include <omp.h>
int main(void) { int n = 0;
#pragma omp parallel reduction(+:n)
n += 1;
return n > 0 ? 0 : 1; }
"""


def _openmp_flags(compiler, base):
    """(compile flags, link flags) that turn OpenMP on, probed with the real build's compiler and
    flags. Without OpenMP the build is serial and says so; with SPARSENET_REQUIRE_OPENMP=1 (as in
    CI) it fails instead, so that a lost OpenMP can never go unnoticed."""
    problem = _probe(compiler, base + ["-fopenmp"], OPENMP_PROBE, link=True)
    if problem is None:
        return ["-fopenmp"], ["-fopenmp"]
    if REQUIRE_OPENMP:
        raise SystemExit(
            "sparsenet: SPARSENET_REQUIRE_OPENMP=1 but the compiler cannot build and link an OpenMP "
            f"program with the flags of this build ({problem}). With clang, install the OpenMP "
            "runtime (Debian: libomp-dev)."
        )
    print(f"sparsenet: WARNING: the compiler has no OpenMP ({problem}); building single-threaded",
          file=sys.stderr)
    simd = ["-fopenmp-simd"] if _compiles(compiler, ["-fopenmp-simd"], "int main(void){return 0;}\n") else []
    return simd, []


def _debug_info_asked():
    """A -g in CFLAGS (e.g. for sanitizer reports): the build keeps debug info and symbols."""
    return any(flag.startswith("-g") for flag in os.environ.get("CFLAGS", "").split())


def _optimisation_flags():
    """-O3 without debug info for release builds (sysconfig's -g would otherwise make the installed
    extensions several times larger and the build slower); -O0 -g with SPARSENET_DEBUG=1, and -O3
    with the debug info of a -g in CFLAGS."""
    if DEBUG:
        return ["-O0", "-g"]
    if _debug_info_asked():
        return ["-O3"]
    return ["-O3", "-g0"]


def _strip_flags(compiler):
    """-s for release builds, where the linker supports it: no symbol table (the exported PyInit_
    functions stay in the dynamic one), 0.22 MB of the installed extensions' 4.21 MB on 2026-12-07.
    The table is kept, as the debug info is, with SPARSENET_DEBUG=1 or a -g in CFLAGS."""
    if DEBUG or _debug_info_asked():
        return []
    linked = _compiles(compiler, ["-s"], "int main(void) { return 0; }\n", link=True)
    return ["-s"] if linked else []


def _build_jobs():
    """Compiler processes to run at once: SPARSENET_BUILD_JOBS, else the CPUs this process may use."""
    if os.environ.get("SPARSENET_BUILD_JOBS"):
        return max(1, int(os.environ["SPARSENET_BUILD_JOBS"]))
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _glue_flags(source, flags):
    """The flags for `source`: Cython's generated glue (argument parsing, buffer checks) at -O2, which
    compiles in a third less time than -O3 and runs the same; the kernels at -O3."""
    if os.path.abspath(source).startswith(os.path.abspath(CYTHON_BUILD_DIR) + os.sep):
        return ["-O2" if flag == "-O3" else flag for flag in flags]
    return flags


def _object_key(compiler, source, macros, include_dirs, flags):
    """A digest of what `source` compiles to: its preprocessed text (every header it includes, e.g.
    Python's, NumPy's and csrc's, whatever their paths or times), the compiler command and the
    flags; None when it cannot be preprocessed."""
    # the compiler's own include directories and macros too (build_ext puts Python's headers there):
    # without them Cython's C fails to preprocess and would never be reused
    macros = list(compiler.macros) + list(macros or ())
    include_dirs = list(compiler.include_dirs) + list(include_dirs or ())
    options = []
    for macro in macros:
        if len(macro) == 1:
            options.append(f"-U{macro[0]}")
        else:
            options.append(f"-D{macro[0]}" if macro[1] is None else f"-D{macro[0]}={macro[1]}")
    includes = [f"-I{directory}" for directory in include_dirs]
    command = list(compiler.compiler_so) + options + includes + list(flags) + ["-E", "-P", source]
    done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    if done.returncode != 0:
        return None
    digest = hashlib.sha256(done.stdout)
    # not the include paths: pip's build environment (NumPy's headers) has a new one each time
    digest.update(repr((compiler.compiler_so, options, flags)).encode())
    return digest.hexdigest()


class _CompilePool:
    """Compiles sources `jobs` at a time in one pool shared by every extension, in the order they are
    started (build_ext builds the extensions in parallel too; the pool bounds the compiler processes
    of all of them together), and installs itself as `compiler.compile`, which waits for each
    source's object, starting it if it was not yet. A source is compiled once per output directory
    (csrc/sparsenet.c goes into every extension as the same object). Each source gets its flags
    (_glue_flags), and an object compiled before from the same preprocessed text with the same flags
    is reused, even when its source was rewritten since (pip builds in a fresh environment each time,
    so Cython regenerates its C and every time stamp is new: without this, `pip install .` then
    `pip install ".[test]"` compiles everything twice)."""

    def __init__(self, compiler, jobs):
        self.compiler = compiler
        self.serial_compile = compiler.compile
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=jobs)
        self.started, self.lock = {}, threading.Lock()
        compiler.compile = self.compile

    def start(self, source, **kwargs):
        """The future of `source`'s object list, compiled with build_ext's `kwargs`."""
        key = (os.path.abspath(source), kwargs.get("output_dir"))
        with self.lock:
            if key not in self.started:
                self.started[key] = (kwargs, self.pool.submit(self._compile_one, source, **kwargs))
            first_kwargs, future = self.started[key]
        if first_kwargs != kwargs:  # started ahead (BuildExt) with options build_ext did not use
            raise RuntimeError(f"setup.py: {source} was started with {first_kwargs}, then asked "
                               f"for with {kwargs}")
        return future

    def compile(self, sources, **kwargs):
        futures = [self.start(source, **kwargs) for source in sources]
        return [obj for future in futures for obj in future.result()]

    def shutdown(self):
        self.pool.shutdown()

    def _compile_one(self, source, output_dir=None, macros=None, include_dirs=None,
                     extra_postargs=None, **kwargs):
        compiler = self.compiler
        flags = _glue_flags(source, list(extra_postargs or ()))
        (obj,) = compiler.object_filenames([source], output_dir=output_dir)
        key = _object_key(compiler, source, macros, include_dirs, flags)
        stamp = obj + ".key"  # the key and the object's mtime, written once the object is
        if key is not None and os.path.exists(obj) and os.path.exists(stamp):
            with open(stamp) as f:
                if f.read() == f"{key} {os.stat(obj).st_mtime_ns}":
                    print(f"sparsenet: reusing {obj}: same preprocessed {source}, same flags")
                    return [obj]
        objects = self.serial_compile([source], output_dir=output_dir, macros=macros,
                                      include_dirs=include_dirs, extra_postargs=flags, **kwargs)
        if key is not None:
            with open(stamp, "w") as f:
                f.write(f"{key} {os.stat(obj).st_mtime_ns}")
        return objects


class BuildExt(build_ext):
    """build_ext that probes the compiler for OpenMP and for the optional tuning flags, and compiles
    in parallel."""

    def finalize_options(self):
        super().finalize_options()
        if not self.parallel:  # `pip install .` passes no -j: use the machine's CPUs
            self.parallel = _build_jobs()

    def build_extensions(self):
        cc = self.compiler
        base = _optimisation_flags()
        base += ["-std=gnu11", "-fno-math-errno", "-fno-trapping-math"]
        for flag in ("-mtune-ctrl=use_gather",):  # let GCC vectorise indexed loads with gathers
            if _compiles(cc, [flag], "int main(void) { return 0; }\n"):
                base.append(flag)
        openmp_compile, openmp_link = _openmp_flags(cc, base)
        strip = _strip_flags(cc)
        for ext in self.extensions:
            ext.extra_compile_args = base + openmp_compile
            ext.extra_link_args = openmp_link + strip
        jobs = self.parallel if isinstance(self.parallel, int) and self.parallel > 1 else 1
        pool = _CompilePool(cc, jobs)
        try:
            # The kernels' C needs no Cython: start it first, costliest first, so that it compiles
            # while Cython runs; then Cython's C, costliest first. build_ext then links each
            # extension as soon as its objects are there.
            self._start(pool, lambda source: source.startswith("csrc" + os.sep))
            _cythonize(self.extensions)
            self._start(pool, lambda source: True)
            super().build_extensions()
        finally:
            pool.shutdown()

    def _outdated(self, ext):
        """Whether build_ext will build `ext` (its module is missing or older than a source)."""
        module = self.get_ext_fullpath(ext.name)
        if self.force or not os.path.exists(module):
            return True
        # by hand: setuptools.modified.newer_group needs setuptools 69, and an in-place build runs on
        # whatever setuptools the developer has
        built = os.path.getmtime(module)
        # a missing source (Cython's C, not yet written) counts as new
        sources = list(ext.sources) + list(ext.depends)
        return any(not os.path.exists(source) or os.path.getmtime(source) > built for source in sources)

    def _start(self, pool, select):
        """Start compiling the selected C sources of the extensions build_ext will build, costliest
        first, with the arguments its build_extension will pass."""
        jobs = {}
        for ext in filter(self._outdated, self.extensions):
            macros = ext.define_macros[:] + [(name,) for name in ext.undef_macros]
            kwargs = dict(output_dir=self.build_temp, macros=macros, include_dirs=ext.include_dirs,
                          debug=self.debug, extra_postargs=ext.extra_compile_args or [],
                          depends=ext.depends)
            for source in ext.sources:
                if source.endswith(".c") and select(source):
                    jobs.setdefault(source, kwargs)
        for source in sorted(jobs, key=os.path.getsize, reverse=True):
            pool.start(source, **jobs[source])


GENERATED = os.path.join("build", "generated")  # kernelgen's output: C headers and _kernels*.pxd
# Cython's run-time support (the typed memoryview's classes and helpers) once, in a module of its
# own, instead of a copy compiled into every wrapper module
SHARED_UTILITY = "sparsenet._cyutility"


def extensions():
    import numpy  # a build requirement (pyproject.toml)

    kernelgen.generate(GENERATED)
    exts = [
        Extension(
            f"sparsenet.{name}",
            sources=[f"src/sparsenet/{name}.pyx", "csrc/sparsenet.c", *c_sources],
            # NumPy's headers for _csr, which cimports numpy (one vector's product), on every
            # extension: they share the object of csrc/sparsenet.c, built with one set of flags.
            # The C API as of NumPy 1.23, the oldest sparsenet runs on.
            include_dirs=["csrc", GENERATED, numpy.get_include()],
            define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_23_API_VERSION"),
                           ("NPY_TARGET_VERSION", "NPY_1_23_API_VERSION")],
            # rebuild when a kernel template or the spec changes
            depends=sorted(glob.glob("csrc/*.h")) + ["csrc/kernels.spec"],
        )
        for name, c_sources in EXTENSIONS.items()
    ]
    exts.append(Extension(SHARED_UTILITY, sources=[f"src/{SHARED_UTILITY.replace('.', '/')}.c"]))
    return exts


def _cythonize(exts):
    """Cython's C for the .pyx sources of `exts` (in place: each extension's sources become C).
    Run by BuildExt, not when setup.py is loaded, so that pip's metadata steps skip it and the
    build overlaps it with the kernels' compilation."""
    done = cythonize(
        exts,
        build_dir=CYTHON_BUILD_DIR,
        shared_utility_qualified_name=SHARED_UTILITY,
        include_path=[GENERATED, "src"],  # the generated sparsenet/_kernels*.pxd first
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
    sources = {ext.name: ext.sources for ext in done}
    for ext in exts:
        ext.sources = sources[ext.name]


setup(ext_modules=extensions(), cmdclass={"build_ext": BuildExt})
