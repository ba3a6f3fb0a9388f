"""One run's report: :func:`report_sections` from the folder's files alone, rendered to
``report.md`` and ``report.html`` by :func:`write_report`."""

import json
import os

from toolkit import fileio
from toolkit.reports.names import _count, _duration, _measured
from toolkit.reports.render import (
    Bullets,
    Code,
    Figure,
    Heading,
    Paragraph,
    Table,
    Text,
    _status_class,
    to_html,
    to_markdown,
)
from toolkit.runs.folder import RunFolder

LECTURE = "AI introduction — deep learning, part 1: from autoencoders to CNNs"


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
