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

import base64
import dataclasses
import html
import json
import os
import re
import urllib.parse

from toolkit import fileio
from toolkit.runs.folder import RunFolder
from toolkit.runs.folder import list_runs as _run_folders

LECTURE = "AI introduction — deep learning, part 1: from autoencoders to CNNs"

# --- the sections a page is made of ------------------------------------------------------
# Inline content is a str, a number (shown through fmt), a Text, or a list of them.


@dataclasses.dataclass(frozen=True)
class Text:
    """A styled span: ``style`` "" / "code" / "strong" / "em"; ``href`` a link; ``title`` a
    hover text (HTML only); ``cls`` one of :data:`CLASSES` (HTML only)."""

    text: object
    style: str = ""
    href: str = None
    title: str = None
    cls: str = None


@dataclasses.dataclass(frozen=True)
class Heading:
    text: object
    level: int = 1


@dataclasses.dataclass(frozen=True)
class Paragraph:
    text: object
    kind: str = ""  # "", "run", "note", "error"


@dataclasses.dataclass(frozen=True)
class Bullets:
    items: list


@dataclasses.dataclass(frozen=True)
class Table:
    columns: list
    rows: list


@dataclasses.dataclass(frozen=True)
class Figure:
    file: str
    caption: str
    data: bytes


@dataclasses.dataclass(frozen=True)
class Code:
    text: str
    lang: str = ""
    summary: str = None  # HTML: folded under this summary; Markdown: a line before it


CLASSES = ("complete", "failed", "incomplete", "running", "unknown", "reproduced", "not-reproduced", "not-run")
_PARAGRAPH_CLASS = {"run": "run", "note": "note", "error": "err"}


def _status_class(status):
    return status if status in CLASSES[:5] else "unknown"


# --- the Markdown renderer -----------------------------------------------------------------
def _md_text(text, cell=False):
    """Plain text for Markdown: raw HTML and inline links neutralised; in a table cell also
    the column separator and line breaks."""
    text = str(text).replace("<", "&lt;").replace("](", "]\\(")
    if cell:
        text = text.replace("|", "\\|").replace("\r", " ").replace("\n", " ")
    return text


def _md_code_span(text):
    text = str(text).replace("\n", " ")
    ticks = "`" * (max((len(m) for m in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def _md_inline(content, cell=False):
    if isinstance(content, list):
        return "".join(_md_inline(c, cell) for c in content)
    if isinstance(content, Text):
        if content.style == "code":
            out = _md_code_span(content.text).replace("|", "\\|") if cell else _md_code_span(content.text)
        else:
            out = _md_inline(content.text, cell)
            out = {"strong": f"**{out}**", "em": f"*{out}*"}.get(content.style, out) if out else out
        return f"[{out}]({_url(content.href)})" if content.href else out
    if isinstance(content, (int, float)) or content is None:
        return fmt(content)
    return _md_text(content, cell)


def to_markdown(sections):
    """Markdown of a section list."""
    lines = []
    for s in sections:
        if isinstance(s, Heading):
            lines += ["#" * s.level + " " + _md_inline(s.text, cell=True), ""]
        elif isinstance(s, Paragraph):
            text = _md_inline(s.text, cell=True)
            lines += [f"> {text}" if s.kind in ("note", "error") else text, ""]
        elif isinstance(s, Bullets):
            lines += [f"- {_md_inline(item, cell=True)}" for item in s.items] + [""]
        elif isinstance(s, Table):
            lines += [
                "| " + " | ".join(_md_inline(c, cell=True) for c in s.columns) + " |",
                "|" + "---|" * len(s.columns),
            ]
            lines += ["| " + " | ".join(_md_inline(c, cell=True) for c in row) + " |" for row in s.rows] + [""]
        elif isinstance(s, Figure):
            caption = _md_text(s.caption, cell=True).replace("[", "\\[").replace("]", "\\]")
            lines += [f"![{caption}]({_url(s.file)})", "", f"*{caption}*", ""]
        elif isinstance(s, Code):
            fence = "`" * max(3, max((len(m) for m in re.findall(r"`+", s.text)), default=0) + 1)
            lines += ([f"{_md_text(s.summary)}:", ""] if s.summary else []) + [fence + s.lang, s.text, fence, ""]
    return "\n".join(lines)


# --- the HTML renderer ---------------------------------------------------------------------
def _url(path):
    """A relative link (folder and file names are quoted, so none can break out of the
    attribute or become a ``javascript:`` URL)."""
    return urllib.parse.quote(str(path).replace(os.sep, "/"))


def _html_inline(content):
    if isinstance(content, list):
        return "".join(_html_inline(c) for c in content)
    if isinstance(content, Text):
        attrs = ""
        if content.title is not None:
            attrs += f' title="{html.escape(str(content.title))}"'
        if content.cls in CLASSES:
            attrs += f' class="{content.cls}"'
        out = _html_inline(content.text)
        if content.href:
            out = f'<a href="{html.escape(_url(content.href))}"{attrs}>{out}</a>'
            attrs = ""
        tag = content.style if content.style in ("code", "strong", "em") else ("span" if attrs else "")
        return f"<{tag}{attrs}>{out}</{tag}>" if tag else out
    if isinstance(content, (int, float)) or content is None:
        return html.escape(fmt(content))
    return html.escape(str(content))


def _cell(tag, content):
    numeric = isinstance(content, (int, float)) and not isinstance(content, bool)
    attr = ' class="num"' if numeric else ""
    return f"<{tag}{attr}>{_html_inline(content)}</{tag}>"


def to_html(sections, title=None):
    """A self-contained HTML page of a section list (the first heading is its title)."""
    if title is None:
        title = next((s.text for s in sections if isinstance(s, Heading)), "report")
    out = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(_plain(title))}</title>"
        f"<style>{_CSS}</style></head><body>"
    ]
    for s in sections:
        if isinstance(s, Heading):
            out.append(f"<h{s.level}>{_html_inline(s.text)}</h{s.level}>")
        elif isinstance(s, Paragraph):
            cls = _PARAGRAPH_CLASS.get(s.kind)
            attr = f' class="{cls}"' if cls else ""
            out.append(f"<p{attr}>{_html_inline(s.text)}</p>")
        elif isinstance(s, Bullets):
            out.append("<ul>" + "".join(f"<li>{_html_inline(i)}</li>" for i in s.items) + "</ul>")
        elif isinstance(s, Table):
            head = "".join(_cell("th", c) for c in s.columns)
            body = "".join("<tr>" + "".join(_cell("td", c) for c in row) + "</tr>" for row in s.rows)
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif isinstance(s, Figure):
            data = base64.b64encode(s.data).decode()
            out.append(
                f"<figure><img alt=\"{html.escape(s.caption)}\" src='data:image/png;base64,{data}'>"
                f"<figcaption>{html.escape(s.caption)}</figcaption></figure>"
            )
        elif isinstance(s, Code):
            pre = f"<pre><code>{html.escape(s.text)}</code></pre>"
            out.append(f"<details><summary>{html.escape(s.summary)}</summary>{pre}</details>" if s.summary else pre)
    out.append("</body></html>")
    return "\n".join(out)


def _plain(content):
    if isinstance(content, list):
        return "".join(_plain(c) for c in content)
    return _plain(content.text) if isinstance(content, Text) else str(content)


_CSS = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f3f3f3}.num{text-align:right}img{max-width:100%}
figure{margin:1.5em 0}figcaption{color:#555;font-style:italic}
.err{background:#fee;padding:.5em;border-left:4px solid #c00}
.note{background:#ffd;padding:.5em;border-left:4px solid #cc0}
.run{background:#eef4ff;padding:.5em;border-left:4px solid #36c}
pre{background:#f6f6f6;padding:.5em;overflow:auto}
.complete,.reproduced{color:#080}.failed{color:#c00}.running,.incomplete,.unknown{color:#c60}
.not-reproduced{color:#fff;background:#c00;padding:0 .3em;font-weight:bold}.not-run{color:#777;font-style:italic}
[title]{text-decoration:underline dotted}"""


# --- numbers and names -----------------------------------------------------------------
def fmt(value):
    """A number as a report shows it.

    >>> fmt(1234), fmt(0.98765), fmt(2.5e-6), fmt(None)
    ('1,234', '0.9877', '2.500e-06', 'None')
    """
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
            return f"{value:.3e}"
        return f"{value:.4g}"
    return str(value)


# Words of metric keys, in the order they are tried: (pattern, label, names a measure?).
_WORDS = [
    (r"test_acc(?:uracy)?", "test accuracy", True),
    (r"s_per_epoch", "seconds per epoch", True),
    (r"mean_activation", "mean activation", True),
    (r"pool_windows", "pooling windows", True),
    (r"slide(\d+)_exact", "slide {} reproduced exactly", True),
    (r"wall_seconds", "wall time (s)", True),
    (r"fine_tuned", "fine-tuned", False),
    (r"random_init", "random initialisation", False),
    (r"leaky_relu", "leaky ReLU", False),
    (r"err(?:or)?", "test error", True),
    (r"acc(?:uracy)?", "accuracy", True),
    (r"mse", "MSE", True),
    (r"ratio", "first/last-layer gradient ratio", True),
    (r"loss", "loss", True),
    (r"rot(\d+)", "accuracy rotated {}°", True),
    (r"shift(\d+)", "accuracy shifted {} px", True),
    (r"d(\d+)", "depth {}", False),
    (r"n(\d+)", "{} labels", False),
    (r"code(\d+)", "code size {}", False),
    (r"pre", "pretrained", False),
    (r"rand", "random initialisation", False),
    (r"plain", "without augmentation", False),
    (r"augmented", "with augmentation", False),
    (r"kl", "KL penalty", False),
    (r"l1", "L1 penalty", False),
    (r"none", "no penalty", False),
    (r"deep", "deep autoencoder", False),
    (r"pca", "PCA", False),
    (r"cnn", "CNN", False),
    (r"mlp", "MLP", False),
    (r"relu", "ReLU", False),
    (r"prelu", "PReLU", False),
    (r"rrelu", "RReLU", False),
]


def human_name(key):
    """A metric key as a person reads it: known words expanded, the measure first and what
    it was measured on in brackets.

    >>> human_name("err_d3_n300_pre")
    'test error (depth 3, 300 labels, pretrained)'
    >>> human_name("test_accuracy"), human_name("cnn_shift3"), human_name("odd_key")
    ('test accuracy', 'accuracy shifted 3 px (CNN)', 'odd key')
    """
    key, words, pos = str(key), [], 0
    while pos < len(key):
        if key[pos] == "_":
            pos += 1
            continue
        for pattern, label, is_measure in _WORDS:
            m = re.match(pattern + r"(?=_|$)", key[pos:], flags=re.IGNORECASE)
            if m:
                words.append((label.format(*(f"{int(g):,}" for g in m.groups())), is_measure))
                pos += m.end()
                break
        else:
            word = key[pos:].split("_", 1)[0]
            words.append((word, None))
            pos += len(word)
    known = any(is_measure for _, is_measure in words)  # unknown words name the measure only when none is known
    measure = [w for w, is_measure in words if is_measure or (is_measure is None and not known)]
    qualifiers = [w for w, is_measure in words if is_measure is False or (is_measure is None and known)]
    if not measure:
        return ", ".join(qualifiers)
    return " ".join(measure) + (f" ({', '.join(qualifiers)})" if qualifiers else "")


def _key_number(key, value):
    """A key number: the human label, the raw key as its hover text."""
    return [Text(human_name(key), title=key), f" = {_compact(value)}"]


def _compact(value):
    """A measured value in one short line."""
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_compact(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_compact(v) for v in value) + "]"
    return fmt(value)


def _measured(measured):
    if not isinstance(measured, dict):
        return _compact(measured)
    return "; ".join(f"{k}: {_compact(v)}" for k, v in measured.items())


def _duration(seconds):
    try:
        seconds = float(seconds)
    except (TypeError, ValueError):
        return "unknown"
    if seconds < 60:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min" if seconds < 3600 else f"{seconds / 3600:.2f} h"


# --- one run ---------------------------------------------------------------------------
def read_run(run_dir):
    """Everything a report needs from ``run_dir`` (see :meth:`RunFolder.load`)."""
    return RunFolder(run_dir).load()


def _run_facts(parts):
    """(form, images, epochs, seed, wall time) of a run as strings; "unknown" where the
    folder does not say (folders made before report.json had its "run" object)."""
    run = parts["report"].get("run")
    run = run if isinstance(run, dict) else {}
    form = run.get("form") if run.get("form") in ("quick", "full", "custom") else "unknown"
    images = []
    for name, d in (run.get("images") or {}).items() if isinstance(run.get("images"), dict) else ():
        d = d if isinstance(d, dict) else {}
        used = d.get("dataset") or name
        label = str(used) if used == name else f"{used} (instead of {name})"
        images.append(f"{label}: {_count(d.get('train'))} train / {_count(d.get('test'))} test")
    epochs = run.get("epochs", parts["config"].get("epochs"))
    seed = run.get("seed", parts["config"].get("seed"))
    seconds = run.get("seconds", parts["status"].get("seconds"))
    return {
        "form": form,
        "images": "; ".join(images) or "unknown",
        "epochs": _count(epochs),
        "seed": _count(seed),
        "wall time": _duration(seconds),
    }


def _count(value):
    return fmt(value) if isinstance(value, int) and not isinstance(value, bool) else "unknown"


def _run_line(parts):
    facts = _run_facts(parts)
    form = {"quick": "Quick run", "full": "Full run", "custom": "Custom run"}.get(facts["form"], "Run of unknown form")
    return [
        Text(form, style="strong"),
        f" — images {facts['images']}; epochs {facts['epochs']}; seed {facts['seed']}; wall time {facts['wall time']}.",
    ]


def _list(value):
    """A list from a folder's JSON, or [] when it holds something else."""
    return value if isinstance(value, list) else []


def _status_line(parts):
    status = parts["folder"].status()
    env = parts["env"]
    bits = [
        "status: ",
        Text(status, style="strong", cls=_status_class(status)),
        f", backend {env.get('backend')} on {env.get('device')}",
    ]
    if env.get("git_commit"):
        bits.append(f", commit {str(env['git_commit'])[:10]}{' (dirty)' if env.get('git_dirty') else ''}")
    return bits


def _verdict(claim):
    """The verdict as shown: anything but "reproduced" is "not reproduced", never softened."""
    if claim is None:
        return Text("not run yet", style="em", cls="not-run")
    if claim.get("verdict") == "reproduced":
        return Text("✓ reproduced", cls="reproduced")
    return Text("✗ not reproduced", style="strong", cls="not-reproduced")


def _claims_sections(claims):
    claims = [c for c in claims if isinstance(c, dict)]
    if not claims:
        return []
    rows = [
        [
            str(c.get("claim", c.get("id", "?"))),
            str(c.get("slides", "")),
            _verdict(c),
            _measured(c.get("measured", {})),
            str(c.get("criterion", "")),
            str(c.get("note", "")),
        ]
        for c in claims
    ]
    return [
        Heading("The lecture's claims, checked by this run", 2),
        Table(["claim", "slides", "verdict", "measured", "criterion", "note"], rows),
    ]


def _final_epochs(history):
    """The last epoch of each label: (columns, rows)."""
    last = {}
    for row in history:
        last[row["label"]] = row
    columns = ["label", "epoch"]
    for row in last.values():
        columns += [c for c in row if c not in columns]
    return columns, [[row.get(c, "") for c in columns] for row in last.values()]


def report_sections(parts):
    """The sections of one run's report (what both report.md and report.html show)."""
    r, folder = parts["report"], parts["folder"]
    name = str(r.get("name") or folder.experiment)
    out = [
        Heading(str(r.get("title") or name)),
        Paragraph([Text(name, "code"), f" — slides {r.get('slides', '?')} of ", Text(LECTURE, "em"), "."]),
        Paragraph(_run_line(parts), "run"),
        Paragraph(_status_line(parts)),
    ]
    if r.get("error"):
        out.append(Paragraph([Text("The run stopped: ", "strong"), str(r["error"])], "error"))
    for note in _list(r.get("notes")):
        out.append(Paragraph(f"Note: {note}", "note"))
    out += _claims_sections(parts["claims"])
    if r.get("summary"):
        out.append(Paragraph(str(r["summary"])))
    if r.get("observations"):
        out += [Heading("Observations", 2), Bullets([str(o) for o in _list(r["observations"])])]
    for table in filter(lambda t: isinstance(t, dict), _list(r.get("tables"))):
        out += [
            Heading(str(table.get("title", "")), 2),
            Table(
                [str(c) for c in _list(table.get("columns"))],
                [
                    [c if isinstance(c, (int, float)) else str(c) for c in _list(row)]
                    for row in _list(table.get("rows"))
                ],
            ),
        ]
    for fig in filter(lambda f: isinstance(f, dict), _list(r.get("figures"))):
        file, caption = str(fig.get("file", "")), str(fig.get("caption", ""))
        data = folder.figure_bytes(file)
        out.append(
            Figure(file, caption, data)
            if data is not None
            else Paragraph(f"Figure {file!r} is missing, not a PNG, or outside the run folder: not shown.", "note")
        )
    columns, rows = _final_epochs(parts["history"])
    if rows:
        out += [Heading("Last epoch of each training", 2), Table(columns, rows)]
    command = parts["env"].get("command") or f"python -m toolkit run {name}"
    out += [
        Heading("Setup", 2),
        Code(json.dumps(parts["config"], indent=2, sort_keys=True), "json"),
        Code(json.dumps(parts["env"], indent=2, sort_keys=True), "json", summary="Environment"),
        Paragraph(["Rerun: ", Text(str(command), "code")]),
    ]
    return out


def render_markdown(parts):
    """``report.md`` of a run (``parts`` from :func:`read_run`)."""
    return to_markdown(report_sections(parts))


def render_html(parts):
    """``report.html`` of a run: the same sections as the Markdown, figures inline."""
    return to_html(report_sections(parts))


def write_report(run_dir):
    """(Re)write ``report.md`` and ``report.html`` of ``run_dir`` from its files."""
    sections = report_sections(read_run(run_dir))
    fileio.write_text(os.path.join(run_dir, "report.md"), to_markdown(sections))
    fileio.write_text(os.path.join(run_dir, "report.html"), to_html(sections))
    return os.path.join(run_dir, "report.html")


# --- every run under a root ------------------------------------------------------------
def list_runs(out_root):
    """Every run folder's path under ``out_root`` (``<experiment>/<run-id>``), newest first."""
    return [run.path for run in _run_folders(out_root)]


def _declared_claims():
    """Every claim the experiments declare, in lecture order ([] when they cannot be loaded:
    the index then lists the claims its folders hold)."""
    try:
        from toolkit.runs.experiment import all_claims

        return [c.summary() for c in all_claims()]
    except Exception:  # noqa: BLE001 — an index is still worth writing without the registry
        return []


def lecture_claims(out_root, loaded=None):
    """The newest verdict of each claim under ``out_root`` (newest run first wins), each with
    ``run`` (its folder relative to ``out_root``), in lecture order; declared claims no run
    has checked yet are listed with ``"verdict": "not_run"`` and ``"run": None``."""
    loaded = loaded if loaded is not None else [read_run(p) for p in list_runs(out_root)]
    newest = {}
    for parts in loaded:  # newest first
        for claim in parts["claims"]:
            if isinstance(claim, dict) and isinstance(claim.get("id"), str) and claim["id"] not in newest:
                verdict = "reproduced" if claim.get("verdict") == "reproduced" else "not_reproduced"
                newest[claim["id"]] = {
                    **claim,
                    "verdict": verdict,
                    "run": os.path.relpath(parts["dir"], out_root).replace(os.sep, "/"),
                }
    declared = _declared_claims()
    order = [c["id"] for c in declared] + sorted(
        set(newest) - {c["id"] for c in declared}, key=lambda i: (_first_slide(newest[i].get("slides")), i)
    )
    by_id = {c["id"]: c for c in declared}
    return [newest.get(i) or {**by_id[i], "verdict": "not_run", "run": None} for i in order]


def _first_slide(slides):
    m = re.match(r"\d+", str(slides or ""))
    return int(m.group()) if m else 10**6


def _lecture_sections(claims, out_root):
    done = [c for c in claims if c["verdict"] != "not_run"]
    good = sum(c["verdict"] == "reproduced" for c in claims)
    summary = f"{good} of {len(claims)} claims reproduced"
    rest = [f"{len(done) - good} not reproduced"] + (
        [f"{len(claims) - len(done)} not run yet"] if len(done) < len(claims) else []
    )
    rows = []
    for c in claims:
        run = c.get("run")
        has_report = run and os.path.isfile(os.path.join(out_root, run, "report.html"))
        link = Text("report", href=f"{run}/report.html") if has_report else (str(run) if run else "—")
        rows.append(
            [
                str(c.get("claim", c["id"])),
                str(c.get("slides", "")),
                _verdict(c if run else None),
                _measured(c.get("measured", {})) if run else "",
                str(c.get("note", "")),
                link,
            ]
        )
    return [
        Heading("The lecture, checked", 2),
        Paragraph([Text(summary, "strong"), f" ({', '.join(rest)}); the newest run of each claim decides it."]),
        Table(["claim", "slides", "verdict", "measured", "note", "report"], rows),
    ]


def index_sections(out_root, loaded=None, claims=None):
    """The sections of ``index.html``: the lecture's claims checked, then every run."""
    loaded = loaded if loaded is not None else [read_run(p) for p in list_runs(out_root)]
    claims = claims if claims is not None else lecture_claims(out_root, loaded)
    rows = []
    for parts in loaded:
        folder = parts["folder"]
        status = folder.status()
        if status == "running":
            status = "incomplete"  # nothing is running once an index is read; it died or goes on
        facts = _run_facts(parts)
        rel = os.path.relpath(parts["dir"], out_root)
        link = (
            Text("report", href=f"{rel}/report.html")
            if os.path.isfile(os.path.join(parts["dir"], "report.html"))
            else "—"
        )
        key = parts["metrics"].get("key")
        numbers = []
        for k, v in key.items() if isinstance(key, dict) else ():
            numbers += (["; "] if numbers else []) + _key_number(k, v)
        env = parts["env"]
        rows.append(
            [
                folder.experiment,
                folder.run_id,
                Text(status, cls=_status_class(status)),
                facts["form"],
                facts["images"],
                facts["epochs"],
                facts["seed"],
                facts["wall time"],
                f"{env.get('backend', '')}/{env.get('device', '')}",
                numbers,
                link,
            ]
        )
    forms = [row[3] for row in rows]
    counts = ", ".join(f"{forms.count(f)} {f}" for f in ("quick", "full", "custom", "unknown") if f in forms)
    return (
        [
            Heading("Experiment reports"),
            Paragraph(
                [
                    f"{len(rows)} run{'s' * (len(rows) != 1)}{f' ({counts})' if counts else ''}. Slides refer to ",
                    Text(LECTURE, "em"),
                    ". Hover over a key number for its name in metrics.json.",
                ]
            ),
        ]
        + _lecture_sections(claims, out_root)
        + [
            Heading("Runs", 2),
            Paragraph("Every run under this folder, newest first."),
            Table(
                [
                    "experiment",
                    "run",
                    "status",
                    "form",
                    "images",
                    "epochs",
                    "seed",
                    "wall time",
                    "backend/device",
                    "key numbers",
                    "report",
                ],
                rows,
            ),
        ]
    )


def write_index(out_root):
    """Write ``out_root/index.html`` (the lecture's claims checked, then every run with its
    form, size, status, key numbers and link) and ``out_root/claims.json`` (the newest
    verdict of each claim, see :func:`lecture_claims`); return the index's path."""
    loaded = [read_run(p) for p in list_runs(out_root)]
    claims = lecture_claims(out_root, loaded)
    fileio.write_json(os.path.join(out_root, "claims.json"), claims)
    path = os.path.join(out_root, "index.html")
    fileio.write_text(path, to_html(index_sections(out_root, loaded, claims), title="Experiment reports"))
    return path


def results_markdown(out_root):
    """A markdown table of the newest complete run of each experiment under ``out_root``:
    its form, key numbers, wall time, backend/device and the command that made it (for the
    README's results table; every number comes from a run folder)."""
    newest = {}
    for run_dir in list_runs(out_root):  # newest first
        run = RunFolder(run_dir)
        if run.status() == "complete" and run.experiment not in newest:
            newest[run.experiment] = run.load()
    rows = []
    for name, parts in sorted(newest.items()):
        key = parts["metrics"].get("key")
        key = key if isinstance(key, dict) else {}
        numbers = "; ".join(f"{human_name(k)} = {_compact(v)}" for k, v in key.items())
        env, facts = parts["env"], _run_facts(parts)
        rows.append(
            [
                Text(name, "code"),
                facts["form"],
                numbers,
                facts["wall time"],
                f"{env.get('backend')} / {env.get('device')}",
                Text(str(env.get("command", "")).strip(), "code"),
            ]
        )
    table = Table(["experiment", "form", "key numbers", "wall time", "backend / device", "command"], rows)
    return to_markdown([table]).rstrip("\n")
