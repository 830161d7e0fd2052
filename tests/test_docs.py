"""The documentation runs: every docstring example and the README's Python blocks."""
import doctest
import importlib
import pathlib
import re

import pytest

MODULES = ["sparsenet.backend", "sparsenet.csr", "sparsenet.shared", "sparsenet.threshold",
           "sparsenet.omp", "sparsenet.coding", "sparsenet.image"]
README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0


def test_readme_examples():
    if not README.exists():
        pytest.skip("README.md is not next to the tests (installed-package run)")
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, str(README), "exec"), {})
