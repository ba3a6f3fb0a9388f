"""Every run under a reports root: ``index.html`` (the lecture's claims checked, then every
run), ``OUT/claims.json`` (the newest verdict of each claim) and the README's results table."""

import os
import re

from toolkit import fileio
from toolkit.reports.names import _compact, _measured, human_name
from toolkit.reports.render import Heading, Paragraph, Table, Text, _status_class, to_html, to_markdown
from toolkit.reports.report import LECTURE, _run_facts, _verdict, read_run
from toolkit.runs.folder import RunFolder
from toolkit.runs.folder import list_runs as _run_folders


def _key_number(key, value):
    """A key number: the human label, the raw key as its hover text."""
    return [Text(human_name(key), title=key), f" = {_compact(value)}"]


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
    from toolkit import reports  # through the package, where a test may replace it

    declared = reports._declared_claims()
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
