"""Two directives that keep the docs buildable with warnings as errors on any checkout.

``.. bench-figure:: /_static/bench.png`` shows the benchmark plot when the file is there, else a note
saying how to make it (the plot is an output of ``python -m sparsenet bench``, not a source).

``.. optional-module:: sparsenet.torch`` with ``:requires: torch`` documents an optional integration
with ``automodule`` when the module and what it requires import, else a note naming what is missing,
so a docs build without PyTorch, Dask or scikit-learn still passes (``sparsenet_require_optional =
True`` in conf.py, set by SPARSENET_DOCS_REQUIRE_OPTIONAL=1, makes that a warning instead).
"""
import importlib.util
import pathlib

from docutils import nodes
from docutils.parsers.rst import directives
from docutils.statemachine import StringList
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)


def _note(text, literal=None):
    """A note paragraph: `text`, then `literal` (a command) as code, when given."""
    paragraph = nodes.paragraph(text=text)
    if literal:
        paragraph += nodes.Text(" ")
        paragraph += nodes.literal(text=literal)
    note = nodes.note()
    note += paragraph
    return [note]


def _parse(directive, lines):
    """Nodes of the reStructuredText `lines`, parsed as if they stood in place of `directive`."""
    container = nodes.container()
    source = directive.get_source_info()[0]
    directive.state.nested_parse(StringList(lines, source=source), directive.content_offset,
                                 container)
    return container.children


class BenchFigure(SphinxDirective):
    """The bench plot with the directive's content as caption, or a note when it was not made."""

    required_arguments = 1  # path as the image directive takes it: /_static/bench.png
    option_spec = {"command": directives.unchanged}
    has_content = True

    def run(self):
        path = self.arguments[0]
        file = pathlib.Path(self.env.srcdir) / path.lstrip("/")
        command = self.options.get("command", "python -m sparsenet bench")
        if not file.is_file():
            return _note(f"The benchmark plot (docs/{path.lstrip('/')}) is not in this checkout. "
                         f"Make it with", command)
        lines = [f".. figure:: {path}", "   :width: 100%", "   :alt: sparsenet's speedups", ""]
        lines += ["   " + line for line in self.content]
        return _parse(self, lines)


class OptionalModule(SphinxDirective):
    """automodule of an optional integration, when it and its requirements import."""

    required_arguments = 1
    option_spec = {"requires": directives.unchanged}

    def run(self):
        name = self.arguments[0]
        wanted = [name, *self.options.get("requires", "").split()]
        missing = [m for m in wanted if importlib.util.find_spec(m) is None]
        if missing:
            if name in missing:
                message = f"{name} is not part of the sparsenet these pages were built with."
            else:
                message = (f"{name} needs {', '.join(missing)}, not installed where these pages "
                           f"were built.")
            if self.config.sparsenet_require_optional:
                logger.warning(message, location=self.get_location())
            return _note(message)
        return _parse(self, [f".. automodule:: {name}", "   :members:", ""])


def setup(app):
    app.add_config_value("sparsenet_require_optional", False, "env")
    app.add_directive("bench-figure", BenchFigure)
    app.add_directive("optional-module", OptionalModule)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
