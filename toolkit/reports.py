"""Reports built from a run folder alone: ``report.md``, a self-contained ``report.html``
(figures inline) and the ``index.html`` of every run under a reports root.

Nothing here computes a metric: it reads ``report.json``, ``metrics.json``, ``config.json``,
``env.json``, ``status.json`` and ``history.csv``, so any report can be rebuilt from its
folder (``python -m toolkit report RUN_DIR``).
"""
import base64
import csv
import html
import json
import os

from toolkit import fileio

LECTURE = "AI introduction — deep learning, part 1: from autoencoders to CNNs"


def _load(path, default=None):
    try:
        with open(path) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return default


def read_run(run_dir):
    """Everything a report needs from ``run_dir``, as plain dicts."""
    parts = {name: _load(os.path.join(run_dir, f"{name}.json"), {}) for name in
             ("report", "metrics", "config", "env", "status")}
    history = []
    path = os.path.join(run_dir, "history.csv")
    if os.path.isfile(path):
        with open(path, newline="") as fh:
            history = list(csv.DictReader(fh))
    parts["history"] = history
    parts["dir"] = run_dir
    return parts


def fmt(value):
    """A number as a report shows it."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
            return f"{value:.3e}"
        return f"{value:.4g}"
    return str(value)


def _final_epochs(history):
    """The last epoch of each label: (columns, rows)."""
    last = {}
    for row in history:
        last[row["label"]] = row
    if not last:
        return [], []
    columns = ["label", "epoch"] + [c for c in next(iter(last.values())) if c not in ("label", "epoch")]
    rows = []
    for row in last.values():
        cells = []
        for c in columns:
            v = row.get(c, "")
            try:
                v = float(v) if c not in ("label",) else v
                v = int(v) if c == "epoch" else v
            except ValueError:
                pass
            cells.append(v)
        rows.append(cells)
    return columns, rows


def _status_line(parts):
    status = parts["status"].get("status", "unknown")
    seconds = parts["status"].get("seconds")
    env = parts["env"]
    bits = [f"status: **{status}**"]
    if seconds is not None:
        bits.append(f"wall time {fmt(float(seconds))} s")
    bits.append(f"backend {env.get('backend')} on {env.get('device')}")
    if env.get("git_commit"):
        bits.append(f"commit {env['git_commit'][:10]}{' (dirty)' if env.get('git_dirty') else ''}")
    return ", ".join(bits)


def render_markdown(parts):
    r = parts["report"]
    lines = [f"# {r.get('title', r.get('name'))}", "",
             f"`{r.get('name')}` — slides {r.get('slides')} of *{LECTURE}*.", "",
             r.get("summary", ""), "", _status_line(parts), ""]
    if r.get("error"):
        lines += [f"> **The run stopped:** {r['error']}", ""]
    for note in r.get("notes", []):
        lines += [f"> Note: {note}", ""]
    if r.get("observations"):
        lines += ["## Observations", ""] + [f"- {o}" for o in r["observations"]] + [""]
    for table in r.get("tables", []):
        lines += [f"## {table['title']}", "", "| " + " | ".join(table["columns"]) + " |",
                  "|" + "---|" * len(table["columns"])]
        lines += ["| " + " | ".join(fmt(c) for c in row) + " |" for row in table["rows"]] + [""]
    for fig in r.get("figures", []):
        lines += [f"![{fig['caption']}]({fig['file']})", "", f"*{fig['caption']}*", ""]
    columns, rows = _final_epochs(parts["history"])
    if rows:
        lines += ["## Last epoch of each training", "", "| " + " | ".join(columns) + " |",
                  "|" + "---|" * len(columns)]
        lines += ["| " + " | ".join(fmt(c) for c in row) + " |" for row in rows] + [""]
    lines += ["## Setup", "", "```json", json.dumps(parts["config"], indent=2, sort_keys=True), "```", "",
              "Environment:", "", "```json", json.dumps(parts["env"], indent=2, sort_keys=True), "```", "",
              f"Rerun: `{parts['env'].get('command', 'python -m toolkit run ' + str(r.get('name')))}`", ""]
    return "\n".join(lines)


_CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}img{max-width:100%}
figure{margin:1.5em 0}figcaption{color:#555;font-style:italic}.err{background:#fee;padding:.5em;border-left:4px solid #c00}
.note{background:#ffd;padding:.5em;border-left:4px solid #cc0}pre{background:#f6f6f6;padding:.5em;overflow:auto}
.complete{color:#080}.failed{color:#c00}.running{color:#c60}"""


def _html_table(columns, rows):
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(fmt(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(parts):
    r = parts["report"]
    esc = html.escape
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(str(r.get('title')))}</title>"
           f"<style>{_CSS}</style></head><body>",
           f"<h1>{esc(str(r.get('title')))}</h1>",
           f"<p><code>{esc(str(r.get('name')))}</code> — slides {esc(str(r.get('slides')))} of <em>{esc(LECTURE)}</em>.</p>",
           f"<p>{esc(r.get('summary', ''))}</p>",
           f"<p>{esc(_status_line(parts)).replace('**', '')}</p>"]
    if r.get("error"):
        out.append(f"<p class='err'><b>The run stopped:</b> {esc(r['error'])}</p>")
    for note in r.get("notes", []):
        out.append(f"<p class='note'>Note: {esc(note)}</p>")
    if r.get("observations"):
        out.append("<h2>Observations</h2><ul>" + "".join(f"<li>{esc(o)}</li>" for o in r["observations"]) + "</ul>")
    for table in r.get("tables", []):
        out.append(f"<h2>{esc(table['title'])}</h2>" + _html_table(table["columns"], table["rows"]))
    for fig in r.get("figures", []):
        path = os.path.join(parts["dir"], fig["file"])
        if os.path.isfile(path):
            with open(path, "rb") as fh:
                data = base64.b64encode(fh.read()).decode()
            out.append(f"<figure><img alt='{esc(fig['caption'])}' src='data:image/png;base64,{data}'>"
                       f"<figcaption>{esc(fig['caption'])}</figcaption></figure>")
    columns, rows = _final_epochs(parts["history"])
    if rows:
        out.append("<h2>Last epoch of each training</h2>" + _html_table(columns, rows))
    out.append("<h2>Setup</h2><pre>" + esc(json.dumps(parts["config"], indent=2, sort_keys=True)) + "</pre>")
    out.append("<details><summary>Environment</summary><pre>" + esc(json.dumps(parts["env"], indent=2, sort_keys=True))
               + "</pre></details>")
    out.append("</body></html>")
    return "\n".join(out)


def write_report(run_dir):
    """(Re)write ``report.md`` and ``report.html`` of ``run_dir`` from its files."""
    parts = read_run(run_dir)
    fileio.write_text(os.path.join(run_dir, "report.md"), render_markdown(parts))
    fileio.write_text(os.path.join(run_dir, "report.html"), render_html(parts))
    return os.path.join(run_dir, "report.html")


def list_runs(out_root):
    """Every run folder under ``out_root`` (``<experiment>/<run-id>``), newest first."""
    runs = []
    if not os.path.isdir(out_root):
        return runs
    for name in sorted(os.listdir(out_root)):
        folder = os.path.join(out_root, name)
        if not os.path.isdir(folder):
            continue
        for run_id in os.listdir(folder):
            run_dir = os.path.join(folder, run_id)
            if os.path.isfile(os.path.join(run_dir, "config.json")):
                runs.append(run_dir)
    return sorted(runs, key=lambda p: os.path.basename(p), reverse=True)


def write_index(out_root):
    """Write ``out_root/index.html``: every run, its status, key numbers and links."""
    rows = []
    for run_dir in list_runs(out_root):
        parts = read_run(run_dir)
        status = parts["status"].get("status", "incomplete")
        if status == "running":
            status = "incomplete"  # nothing is running once an index is read; it died or goes on
        key = parts["metrics"].get("key", {})
        rel = os.path.relpath(run_dir, out_root)
        link = f"<a href='{html.escape(rel)}/report.html'>report</a>" if os.path.isfile(
            os.path.join(run_dir, "report.html")) else "—"
        numbers = "; ".join(f"{html.escape(k)} = {html.escape(fmt(v))}" for k, v in key.items())
        rows.append(f"<tr><td>{html.escape(os.path.basename(os.path.dirname(run_dir)))}</td>"
                    f"<td>{html.escape(os.path.basename(run_dir))}</td><td class='{status}'>{status}</td>"
                    f"<td>{html.escape(str(parts['env'].get('backend', '')))}/{html.escape(str(parts['env'].get('device', '')))}</td>"
                    f"<td style='text-align:left'>{numbers}</td><td>{link}</td></tr>")
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>Experiment reports</title>"
            f"<style>{_CSS}</style></head><body><h1>Experiment reports</h1>"
            f"<p>Every run under this folder, newest first. Slides refer to <em>{html.escape(LECTURE)}</em>.</p>"
            "<table><thead><tr><th>experiment</th><th>run</th><th>status</th><th>backend/device</th>"
            "<th>key numbers</th><th>report</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table></body></html>")
    path = os.path.join(out_root, "index.html")
    fileio.write_text(path, page)
    return path


def results_markdown(out_root):
    """A markdown table of the newest complete run of each experiment under ``out_root``:
    its key numbers, wall time, backend/device and the command that made it (for the
    README's results table; every number comes from a run folder)."""
    newest = {}
    for run_dir in list_runs(out_root):  # newest first
        parts = read_run(run_dir)
        name = os.path.basename(os.path.dirname(run_dir))
        if parts["status"].get("status") == "complete" and name not in newest:
            newest[name] = parts
    lines = ["| experiment | key numbers | wall time | backend / device | command |", "|---|---|---|---|---|"]
    for name, parts in sorted(newest.items()):
        key = "; ".join(f"{k} = {fmt(v)}" for k, v in parts["metrics"].get("key", {}).items())
        env = parts["env"]
        seconds = parts["status"].get("seconds")
        wall = f"{float(seconds) / 60:.1f} min" if seconds is not None else "?"
        command = env.get("command", "").replace(" --out ", " --out ").strip()
        lines.append(f"| `{name}` | {key} | {wall} | {env.get('backend')} / {env.get('device')} | `{command}` |")
    return "\n".join(lines)
