"""Generate the declarations of sparsenet's native entry points from csrc/kernels.spec.

One spec line per entry point gives, for every combination of its type axes:
- ``sn_<family>_api.h``: the C declaration (included by the family's header, e.g. csr.h);
- ``sn_<family>_dispatch.h``: the C entry point, which calls the template's function for the ISA
  level through a table of function pointers (included at the end of the family's .c file);
- ``sparsenet/_kernels_<family>.pxd``: the family's Cython declarations, and one fused-type inline
  dispatcher per entry point, named as the entry point without the suffix (``sn_csr_matmul(isa,
  ...)`` taking ``const real *`` and ``const index *``), so a .pyx wrapper calls one name for every
  dtype. Each wrapper module cimports its own family's file only: Cython writes every inline
  function of a cimported .pxd into the module's C, used or not (one file of every dispatcher
  cost each module about a second of Cython and half a second of the C compiler);
- ``sparsenet/_kernels.pxd``: the types and run-time facts (``_kernel_types.pxi``) and the C
  declarations of every entry point, without dispatchers (for ``_runtime.pyx``).

Run by setup.py before cythonize (``generate(out_dir)``), or by hand:
``python tools/kernelgen.py build/generated``. Written for the build; no import of sparsenet.
"""
from __future__ import annotations

import itertools
import os
import re
import sys
from dataclasses import dataclass, field

HERE = os.path.dirname(os.path.abspath(__file__))
SPEC = os.path.join(HERE, os.pardir, "csrc", "kernels.spec")
PXD_TYPES = os.path.join("sparsenet", "_kernel_types.pxi")

# axis -> [(suffix, C type, Cython type)]; the fused Cython type has the axis's name
AXES = {
    "real": [("f32", "float", "float"), ("f64", "double", "double")],
    "index": [("i32", "int32_t", "int32_t"), ("i64", "int64_t", "int64_t")],
    "code": [("u8", "uint8_t", "uint8_t"), ("u16", "uint16_t", "uint16_t")],
}
TOKENS = {"real": "REAL", "index": "INDEX", "code": "CODE"}
ISAS = ("baseline", "avx2", "avx512", "avx512vbmi")  # the order of enum sn_isa
# the xGEMM pointer type of a value type, and the global that holds SciPy's (set by _shared.pyx)
GEMM = {"f32": ("sn_gemm_f32", "sn_blas_sgemm"), "f64": ("sn_gemm_f64", "sn_blas_dgemm")}


@dataclass
class Param:
    decl: str  # with the type tokens, e.g. "const REAL *X"
    name: str


@dataclass
class Entry:
    family: str
    name: str
    axes: list
    params: list
    doc: list
    impl: str = "{name}_{sfx}"
    vbmi: set = field(default_factory=set)
    noisa: bool = False

    def combos(self):
        """[(suffix, {axis: (sfx, ctype, cytype)})] for every combination of the axes."""
        out = []
        for choice in itertools.product(*(AXES[a] for a in self.axes)):
            types = dict(zip(self.axes, choice))
            out.append(("_".join(c[0] for c in choice), types))
        return out


def _substitute(text, types, cython=False):
    for axis, (sfx, ctype, cytype) in types.items():
        text = re.sub(rf"\b{TOKENS[axis]}\b", cytype if cython else ctype, text)
        text = text.replace("{" + axis + "}", sfx)
    if "real" in types:
        text = re.sub(r"\bGEMM\b", GEMM[types["real"][0]][0], text)
    return text


def parse(path=SPEC):
    """The entry points of the spec file, in order."""
    entries, doc, family = [], [], None
    with open(path) as f:
        for number, raw in enumerate(f, 1):
            line = raw.strip()
            where = f"{path}:{number}"
            if not line:
                doc = []
                continue
            if line.startswith("#"):
                doc.append(line[1:].strip())
                continue
            if line.startswith("family "):
                words = line.split()
                if len(words) != 3:
                    raise SystemExit(f"{where}: expected 'family NAME HEADER'")
                family = (words[1], words[2])
                doc = []
                continue
            if family is None:
                raise SystemExit(f"{where}: an entry point before any 'family' line")
            head, sep, params = line.partition(":")
            if not sep:
                raise SystemExit(f"{where}: expected 'NAME AXES... [FLAGS] : PARAMETERS'")
            words = head.split()
            entry = Entry(family=family[0], name=words[0], axes=[], params=[], doc=doc)
            for word in words[1:]:
                if word in AXES:
                    entry.axes.append(word)
                elif word.startswith("impl="):
                    entry.impl = word[5:]
                elif word.startswith("vbmi="):
                    entry.vbmi = set(word[5:].split(","))
                elif word == "noisa":
                    entry.noisa = True
                else:
                    raise SystemExit(f"{where}: unknown axis or flag {word!r}")
            for decl in (p.strip() for p in params.split(",")):
                match = re.search(r"(\w+)\s*$", decl)
                if not match:
                    raise SystemExit(f"{where}: cannot read parameter {decl!r}")
                entry.params.append(Param(decl, match.group(1)))
            entry.header = family[1]
            entries.append(entry)
            doc = []
    return entries


def _signature(entry, types, cython=False):
    params = [_substitute(p.decl, types, cython) for p in entry.params]
    if not entry.noisa:
        params.insert(0, "int isa")
    return ", ".join(params)


def _c_api(family, entries):
    lines = [f"/* Generated by tools/kernelgen.py from csrc/kernels.spec: do not edit. */",
             f"#ifndef SN_{family.upper()}_API_H", f"#define SN_{family.upper()}_API_H", ""]
    for e in entries:
        lines += [f"/* {d} */" for d in e.doc]
        for sfx, types in e.combos():
            lines.append(f"int sn_{e.name}_{sfx}({_signature(e, types)});")
        lines.append("")
    lines.append(f"#endif")
    return "\n".join(lines) + "\n"


def _c_dispatch(entries):
    lines = ["/* Generated by tools/kernelgen.py from csrc/kernels.spec: do not edit.",
             " * Each entry point calls its template's function for the ISA level `isa` through a",
             " * table indexed by the level (enum sn_isa); levels a function was not compiled for run",
             " * the best one below. */", ""]
    for e in entries:
        if e.noisa:
            continue
        for sfx, types in e.combos():
            impl = e.impl.format(name=e.name, sfx=sfx)
            params = [_substitute(p.decl, types) for p in e.params]
            args = ", ".join(p.name for p in e.params)
            table = "SN_ISA_TABLE_VBMI" if sfx in e.vbmi else "SN_ISA_TABLE"
            lines += [
                f"int sn_{e.name}_{sfx}(int isa, {', '.join(params)})",
                "{",
                f"    typedef int (*fn)({', '.join(params)});",
                f"    static const fn table[SN_ISA_COUNT] = {{{table}({impl})}};",
                "    if ((unsigned)isa >= SN_ISA_COUNT) return SN_EINVAL;",
                f"    return table[isa]({args});",
                "}",
                "",
            ]
    return "\n".join(lines)


def _pxd(entries, dispatchers=True):
    """The .pxd text declaring `entries`, with their fused dispatchers when asked."""
    lines = ["# Generated by tools/kernelgen.py from csrc/kernels.spec: do not edit.",
             f'include "{PXD_TYPES}"', ""]
    by_header = {}
    for e in entries:
        by_header.setdefault(e.header, []).append(e)
    for header, group in by_header.items():
        lines.append(f'cdef extern from "{header}" nogil:')
        for e in group:
            for sfx, types in e.combos():
                lines.append(f"    int sn_{e.name}_{sfx}({_signature(e, types, cython=True)})")
        lines.append("")
    for e in entries:
        if dispatchers and _deducible(e):
            lines += _pxd_dispatcher(e)
    return "\n".join(lines) + "\n"


def _deducible(entry):
    """True when Cython can tell every axis from the parameters' types (a fused dispatcher)."""
    return all(any(re.search(rf"\b{TOKENS[a]}\b", p.decl) for p in entry.params) for a in entry.axes)


def _pxd_dispatcher(e):
    fused = {a: a for a in e.axes}  # the fused type of an axis has its name
    params = [] if e.noisa else ["int isa"]
    for p in e.params:
        if re.search(r"\bGEMM\b", p.decl):
            continue  # the dispatcher passes scipy's xGEMM of the value type itself
        decl = p.decl
        for axis in e.axes:
            decl = re.sub(rf"\b{TOKENS[axis]}\b", fused[axis], decl)
        params.append(decl)
    out = [f"cdef inline int sn_{e.name}({', '.join(params)}) noexcept nogil:"]
    combos = e.combos()
    for i, (sfx, types) in enumerate(combos):
        test = " and ".join(f"{axis} is {types[axis][2]}" for axis in e.axes)
        keyword = "if" if i == 0 else ("elif" if i < len(combos) - 1 else "else")
        out.append(f"    {keyword} {test}:" if keyword != "else" else "    else:")
        call_args = [] if e.noisa else ["isa"]
        for p in e.params:
            if re.search(r"\bGEMM\b", p.decl):
                call_args.append(GEMM[types["real"][0]][1])
            else:
                call_args.append(p.name)
        out.append(f"        return sn_{e.name}_{sfx}({', '.join(call_args)})")
    out.append("")
    return out


def _write(path, text):
    """Write `text` unless the file already holds it (so make-style rebuilds stay incremental)."""
    try:
        with open(path) as f:
            if f.read() == text:
                return
    except FileNotFoundError:
        pass
    with open(path, "w") as f:
        f.write(text)


def generate(out_dir, spec=SPEC):
    """Write the generated headers into out_dir, and _kernels.pxd and one _kernels_<family>.pxd per
    family into out_dir/sparsenet."""
    entries = parse(spec)
    os.makedirs(os.path.join(out_dir, "sparsenet"), exist_ok=True)
    families = {}
    for e in entries:
        families.setdefault(e.family, []).append(e)
    for family, group in families.items():
        _write(os.path.join(out_dir, f"sn_{family}_api.h"), _c_api(family, group))
        _write(os.path.join(out_dir, f"sn_{family}_dispatch.h"), _c_dispatch(group))
        _write(os.path.join(out_dir, "sparsenet", f"_kernels_{family}.pxd"), _pxd(group))
    _write(os.path.join(out_dir, "sparsenet", "__init__.pxd"), "")
    _write(os.path.join(out_dir, "sparsenet", "_kernels.pxd"), _pxd(entries, dispatchers=False))
    return entries


if __name__ == "__main__":
    generate(sys.argv[1] if len(sys.argv) > 1 else os.path.join("build", "generated"))
