"""Reports built from run folders alone: ``report.md``, a self-contained ``report.html``
(figures inline), and for a reports root its ``index.html`` and ``claims.json``.

Nothing here computes a metric or parses a file: :class:`~toolkit.runs.folder.RunFolder`
reads the folder, so any report can be rebuilt from its folder (``python -m toolkit report
RUN_DIR``). A report is built once as a list of sections (:func:`report_sections`) that two
small renderers turn into Markdown and HTML, so the two files always say the same thing.

Folders may come from someone else: every string from them is escaped (HTML) or
neutralised (Markdown), a status only ever selects one of a fixed set of CSS classes, and a
figure is embedded only when :meth:`RunFolder.figure_bytes` vouches that it is a PNG inside
the folder.

Modules: :mod:`~toolkit.reports.render` (the section types, the Markdown and HTML renderers),
:mod:`~toolkit.reports.names` (numbers and metric names), :mod:`~toolkit.reports.report` (one
run's report), :mod:`~toolkit.reports.index` (``index.html``, ``OUT/claims.json``, the results
table); every name below is importable from ``toolkit.reports``.

Example — one section list, two renderings:
    >>> sections = [Heading("Results"), Table(["model", "test accuracy"], [["cnn <b>", 0.99]])]
    >>> print(to_markdown(sections))
    # Results
    <BLANKLINE>
    | model | test accuracy |
    |---|---|
    | cnn &lt;b> | 0.99 |
    <BLANKLINE>
    >>> "<td>cnn &lt;b&gt;</td>" in to_html(sections)
    True
"""

# lecture_claims looks _declared_claims up here, so a test can replace it on this package
from toolkit.reports.index import _declared_claims as _declared_claims
from toolkit.reports.index import (
    index_sections,
    lecture_claims,
    list_runs,
    results_markdown,
    write_index,
)
from toolkit.reports.names import fmt, human_name
from toolkit.reports.render import (
    CLASSES,
    Bullets,
    Code,
    Figure,
    Heading,
    Paragraph,
    Table,
    Text,
    to_html,
    to_markdown,
)
from toolkit.reports.report import LECTURE, read_run, render_html, render_markdown, report_sections, write_report

__all__ = [
    "LECTURE",
    "CLASSES",
    "Text",
    "Heading",
    "Paragraph",
    "Bullets",
    "Table",
    "Figure",
    "Code",
    "to_markdown",
    "to_html",
    "fmt",
    "human_name",
    "read_run",
    "report_sections",
    "render_markdown",
    "render_html",
    "write_report",
    "list_runs",
    "lecture_claims",
    "index_sections",
    "write_index",
    "results_markdown",
]
