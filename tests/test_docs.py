"""The documentation runs: every docstring example, the README's Python blocks and the code of the
documentation site (docs/), and the API reference lists every public name.

A ``.. code-block:: python`` of a docs page runs unless it carries ``:class: not-run`` (for
illustrations of code to write, as on the architecture page); a page's blocks run in order in one
namespace, so later blocks use what earlier ones made. Pages with ``>>>`` examples run as doctests.
"""
import doctest
import importlib
import importlib.util
import pathlib
import pkgutil
import re
import textwrap

import pytest

import sparsenet

# Modules whose docstrings must hold examples; every other public module (sparsenet.<name>, the
# optional integrations included) is found by _public_modules and its examples run too.
CORE_MODULES = ["sparsenet.backend", "sparsenet.csr", "sparsenet.shared", "sparsenet.threshold",
                "sparsenet.omp", "sparsenet.coding", "sparsenet.image"]
ROOT = pathlib.Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"


def _public_modules():
    found = {f"sparsenet.{m.name}" for m in pkgutil.iter_modules(sparsenet.__path__)
             if not m.name.startswith("_")}
    return sorted(found | set(CORE_MODULES))


def _missing_imports(code):
    """Top-level packages that `code` imports and that are not installed (optional libraries)."""
    names = re.findall(r"^\s*(?:import|from)\s+(\w+)", code, flags=re.M)
    return sorted({n for n in names if importlib.util.find_spec(n) is None})


@pytest.mark.parametrize("name", _public_modules())
def test_docstring_examples(name):
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as error:  # an optional integration whose library is not installed
        if error.name and error.name.split(".")[0] != "sparsenet":
            pytest.skip(f"{name} needs {error.name}")
        raise
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    if name in CORE_MODULES:
        assert result.attempted > 0
    assert result.failed == 0


def test_readme_examples():
    if not README.exists():
        pytest.skip("README.md is not next to the tests (installed-package run)")
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks
    for block in blocks:
        if _missing_imports(block):
            continue  # a section of an optional integration (PyTorch, Dask, ...) not installed here
        exec(compile(block, str(README), "exec"), {})


# --- the documentation site -------------------------------------------------------------------------

_CODE_BLOCK = re.compile(r"^(\s*)\.\. (?:code-block|code|sourcecode):: python3?\s*$")


def python_blocks(text):
    """(first line number, code) of each runnable ``.. code-block:: python`` in the reST `text`."""
    lines = text.splitlines()
    blocks, i = [], 0
    while i < len(lines):
        match = _CODE_BLOCK.match(lines[i])
        i += 1
        if not match:
            continue
        indent = len(match.group(1))
        run = True
        while i < len(lines) and re.match(rf"^\s{{{indent + 1},}}:[\w-]+:", lines[i]):  # options
            run = run and "not-run" not in lines[i]
            i += 1
        while i < len(lines) and not lines[i].strip():
            i += 1
        start, body = i, []
        while i < len(lines) and (not lines[i].strip()
                                  or len(lines[i]) - len(lines[i].lstrip()) > indent):
            body.append(lines[i])
            i += 1
        if run:
            blocks.append((start + 1, textwrap.dedent("\n".join(body)).rstrip() + "\n"))
    return blocks


def markdown_blocks(text):
    return [(text[:m.start()].count("\n") + 2, m.group(1))
            for m in re.finditer(r"```python\n(.*?)```", text, flags=re.S)]


def _pages():
    if not DOCS.is_dir():
        return []
    return sorted(p for p in [*DOCS.rglob("*.rst"), *DOCS.rglob("*.md")]
                  if not {"_build", "_static", "_templates"} & set(p.parts))


PAGES = _pages()


@pytest.fixture
def restore_runtime():
    """Pages change threads, ISA, backend and the buffer cache; put them back whatever happens."""
    yield
    sparsenet.set_num_threads(None)
    sparsenet.set_isa(None)
    sparsenet.set_backend("native")
    sparsenet.set_buffer_cache(None)


def test_docs_pages_found():
    if not DOCS.is_dir():
        pytest.skip("docs/ is not next to the tests (installed-package run)")
    names = {p.relative_to(DOCS).as_posix() for p in PAGES}
    assert {"index.rst", "architecture.rst", "performance.rst", "tour/csr.rst"} <= names


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(DOCS).as_posix())
def test_docs_page_runs(page, restore_runtime):
    text = page.read_text()
    blocks = python_blocks(text) if page.suffix == ".rst" else markdown_blocks(text)
    missing = _missing_imports("\n".join(code for _, code in blocks))
    if missing:
        pytest.skip(f"the page's examples need {', '.join(missing)}")
    namespace = {"__name__": f"docs_{page.stem}"}
    for line, code in blocks:
        # pad so that a traceback's line number is the line in the page
        exec(compile("\n" * (line - 1) + code, str(page), "exec"), namespace)
    if ">>>" in text:
        result = doctest.testfile(str(page), module_relative=False,
                                  optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.failed == 0
    if page.parent.name == "tour" and page.stem != "index":
        assert blocks, f"{page} has no runnable example"


def test_python_blocks_parser():
    text = textwrap.dedent("""\
        Intro.

        .. code-block:: python

           a = 1

           b = a + 1

        Between.

        .. code-block:: python
           :class: not-run

           raise AssertionError

        - item

          .. code-block:: python
             :caption: nested

             c = 3
        Done.
        """)
    assert python_blocks(text) == [(5, "a = 1\n\nb = a + 1\n"), (21, "c = 3\n")]


def test_api_reference_lists_every_public_name():
    """Every name of sparsenet.__all__ has an autodoc entry on an API page (docs/api/*.rst), its own
    or its module's (automodule, optional-module)."""
    if not DOCS.is_dir():
        pytest.skip("docs/ is not next to the tests (installed-package run)")
    text = "\n".join(p.read_text() for p in sorted((DOCS / "api").glob("*.rst")))
    documented = set(re.findall(r"^\.\. auto(?:function|class|data|exception):: "
                                r"(?:sparsenet\.)?(\w+)\s*$", text, flags=re.M))
    modules = set(re.findall(r"^\.\. (?:automodule|optional-module):: ([\w.]+)\s*$", text,
                             flags=re.M))
    missing = sorted(name for name in sparsenet.__all__
                     if name not in documented
                     and getattr(getattr(sparsenet, name), "__module__", None) not in modules
                     and f"sparsenet.{name}" not in modules)
    assert not missing, (f"public names without an API entry: {missing}; add "
                         f"'.. autofunction:: NAME' (or autoclass) to the family's docs/api/*.rst")
