"""Sphinx configuration of sparsenet's documentation.

Build (from the repository root, with the package built in place or installed)::

    PYTHONPATH=src python -m sphinx -W --keep-going -b html docs build/docs

Nothing is downloaded at build time: the theme is Sphinx's built-in alabaster and there is no
intersphinx. The build writes only into its output directory (no generated stubs in docs/).
"""
import os
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

import sparsenet  # noqa: E402  (the package must be importable: PYTHONPATH=src or installed)

project = "sparsenet"
author = "the sparsenet developers"
copyright = "the sparsenet developers"
release = sparsenet.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "sparsenet_docs",  # _ext/sparsenet_docs.py: the bench figure and the optional-module pages
]

exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
templates_path = []

# autodoc: the signatures as written; members in source order.
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
# autosummary builds the tables of the API pages only; it writes no stub files into docs/.
autosummary_generate = False

# numpydoc renders the docstrings' sections; the API pages list class members themselves.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = False

default_role = "py:obj"  # `name` in docstrings links when it names something documented

html_theme = "alabaster"
html_theme_options = {
    "description": "Fast CPU kernels for sparse neural networks",
    "fixed_sidebar": True,
    "page_width": "1100px",
    "sidebar_width": "230px",
}
html_static_path = ["_static"] if (HERE / "_static").is_dir() else []
html_title = f"sparsenet {release}"

# Environment switch for CI runs that have every optional dependency: an optional module that cannot
# be documented is then a warning (an error under -W) instead of a note on its page.
sparsenet_require_optional = os.environ.get("SPARSENET_DOCS_REQUIRE_OPTIONAL", "") not in ("", "0")
