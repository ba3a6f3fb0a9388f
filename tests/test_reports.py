"""Reports, the index and its claims, the plots and the blank-figure check, on run folders
written by hand with the RunFolder API (no experiment runs here)."""

import base64
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from matplotlib.figure import Figure as MplFigure

from tests.harness import REPO
from toolkit import reports
from toolkit.browser_check import blank_reason, check_figures, check_index, check_page, find_chromium, report_links
from toolkit.runs.folder import RunFolder

RUN = {
    "form": "quick",
    "seed": 3,
    "epochs": 2,
    "seconds": 12.5,
    "images": {"mnist": {"train": 1000, "test": 200, "dataset": "mnist"}},
}


def _png(draw=True):
    fig = MplFigure(figsize=(3, 2))
    ax = fig.subplots()
    if draw:
        ax.plot([1, 2, 3], [3, 1, 2])
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _blank_png():
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (300, 200), "white").save(buf, format="PNG")
    return buf.getvalue()


def make_run(
    root,
    experiment="tiny",
    run_id="20260101-000000",
    status="complete",
    report=None,
    claims=None,
    metrics=None,
    figures=None,
):
    """A run folder written by hand: every file a finished run has."""
    folder = RunFolder(os.path.join(root, experiment, run_id))
    os.makedirs(folder.path, exist_ok=True)
    folder.write("config", {"epochs": 2, "seed": 3, "dataset": "mnist"})
    folder.write("env", {"backend": "tensorflow", "device": "cpu", "command": f"python -m toolkit run {experiment}"})
    folder.write("metrics", metrics if metrics is not None else {"key": {"test_accuracy": 0.9123}})
    base = {
        "name": experiment,
        "title": f"The {experiment} experiment",
        "slides": "2–7",
        "summary": "a test experiment",
        "observations": ["accuracy reached 91.2%"],
        "notes": [],
        "error": None,
        "run": RUN,
        "tables": [{"title": "Results", "columns": ["model", "test accuracy"], "rows": [["dense", 0.9123]]}],
        "figures": [{"file": name, "caption": f"caption of {name}"} for name in (figures or {})],
    }
    folder.write("report", {**base, **(report or {})})
    folder.write("claims", claims if claims is not None else [])
    folder.write_history(
        [
            {"label": "dense", "epoch": 1, "loss": 0.5, "accuracy": 0.8},
            {"label": "dense", "epoch": 2, "loss": 0.3, "accuracy": 0.9},
        ]
    )
    for name, data in (figures or {}).items():
        with open(os.path.join(folder.path, name), "wb") as fh:
            fh.write(data)
    if status is not None:
        folder.write_status(status, 0.0, seconds=12.5)
    return folder


def _claim(cid, verdict, slides="3–7", note=None, **measured):
    out = {
        "id": cid,
        "slides": slides,
        "claim": f"claim {cid} in words",
        "criterion": f"criterion of {cid}",
        "measured": measured or {"mse": [0.05, 0.02]},
        "verdict": verdict,
        "experiment": "tiny",
        "dataset": "mnist",
    }
    return {**out, "note": note} if note else out


# --- one section list, two renderers ------------------------------------------------------
def test_markdown_and_html_come_from_the_same_sections(tmp_path):
    folder = make_run(tmp_path, figures={"curve.png": _png()})
    parts = reports.read_run(folder.path)
    md, page = reports.render_markdown(parts), reports.render_html(parts)
    sections = reports.report_sections(parts)
    headings = [s.text for s in sections if isinstance(s, reports.Heading)]
    assert {"The tiny experiment", "Results", "Observations", "Last epoch of each training"} <= set(headings)
    for text in headings:
        assert f"# {text}" in md and f">{text}</h" in page
    tables = [s for s in sections if isinstance(s, reports.Table)]
    for table in tables:
        for row in table.rows:
            for cell in row:
                shown = reports.fmt(cell) if isinstance(cell, (int, float)) else str(cell)
                assert f"| {shown} |" in md or f" {shown} |" in md, shown
                assert f">{shown}</td>" in page, shown
    assert "0.9123" in md and "0.9123" in page and "accuracy reached 91.2%" in md and "accuracy reached 91.2%" in page
    assert "![caption of curve.png](curve.png)" in md and page.count("data:image/png;base64,") == 1
    path = reports.write_report(folder.path)
    assert path == os.path.join(folder.path, "report.html")
    assert open(os.path.join(folder.path, "report.md")).read() == md


def test_every_report_says_at_the_top_how_the_run_was_made(tmp_path):
    new = make_run(tmp_path)
    md = reports.render_markdown(reports.read_run(new.path))
    top = md.split("\n## ", 1)[0]  # before the first section
    assert "**Quick run**" in top
    for bit in ("mnist: 1,000 train / 200 test", "epochs 2", "seed 3", "wall time 12.5 s"):
        assert bit in top, bit
    # a folder from before report.json had its "run" object: unknown, not guessed
    old = make_run(tmp_path, experiment="old", report={"run": None})
    top = reports.render_markdown(reports.read_run(old.path)).split("\n## ", 1)[0]
    assert "Run of unknown form" in top and "images unknown" in top
    index = open(reports.write_index(tmp_path)).read()
    assert "<th>form</th>" in index and ">quick</td>" in index and ">unknown</td>" in index
    assert "mnist: 1,000 train / 200 test" in index and "12.5 s" in index
    assert "2 runs (1 quick, 1 unknown)" in index


def test_index_shows_key_numbers_by_human_name_and_keeps_the_raw_key(tmp_path):
    make_run(tmp_path, metrics={"key": {"err_d3_n300_pre": 10.11, "test_accuracy": 0.91}})
    index = open(reports.write_index(tmp_path)).read()
    assert 'title="err_d3_n300_pre">test error (depth 3, 300 labels, pretrained)</span> = 10.11' in index
    assert 'title="test_accuracy">test accuracy</span>' in index
    assert ">err_d3_n300_pre<" not in index  # the raw key is only a hover text
    assert reports.human_name("rot20_plain") == "accuracy rotated 20° (without augmentation)"
    assert reports.human_name("kl_mean_activation") == "mean activation (KL penalty)"
    assert reports.human_name("s_per_epoch_vgg16") == "seconds per epoch (vgg16)"
    assert reports.list_runs(tmp_path) == [os.path.join(tmp_path, "tiny", "20260101-000000")]
    results = reports.results_markdown(tmp_path)
    assert "test error (depth 3, 300 labels, pretrained) = 10.11" in results and "| quick |" in results


# --- the lecture, checked -------------------------------------------------------------------
def test_index_checks_the_lecture_newest_verdict_wins(tmp_path, monkeypatch):
    declared = [
        {"id": c, "slides": s, "claim": f"claim {c} in words", "criterion": f"criterion of {c}"}
        for c, s in (("c1", "3–7"), ("c2", "8–14"), ("c3", "15"))
    ]
    monkeypatch.setattr(reports, "_declared_claims", lambda: declared)
    make_run(tmp_path, run_id="20260101-000000", claims=[_claim("c1", "reproduced")])
    newer = make_run(tmp_path, run_id="20260102-000000", claims=[_claim("c1", "not_reproduced", mse=[0.02, 0.05])])
    make_run(
        tmp_path,
        experiment="other",
        run_id="20260101-120000",
        claims=[_claim("c2", "reproduced", slides="8–14", note="about the embedded 'shapes' set")],
    )
    for run_dir in reports.list_runs(tmp_path):
        reports.write_report(run_dir)
    index = open(reports.write_index(tmp_path)).read()
    claims = json.load(open(tmp_path / "claims.json"))
    assert [(c["id"], c["verdict"], c["run"]) for c in claims] == [
        ("c1", "not_reproduced", "tiny/20260102-000000"),
        ("c2", "reproduced", "other/20260101-120000"),
        ("c3", "not_run", None),
    ]
    assert claims[0]["measured"] == {"mse": [0.02, 0.05]}
    # the lecture comes first, the runs after it
    assert index.index("The lecture, checked") < index.index("<h2>Runs</h2>")
    assert "1 of 3 claims reproduced" in index and "1 not reproduced, 1 not run yet" in index
    lecture = index[index.index("The lecture, checked") : index.index("<h2>Runs</h2>")]
    assert '<strong class="not-reproduced">✗ not reproduced' in lecture and "not run yet" in lecture
    assert "mse: [0.02, 0.05]" in lecture and "about the embedded &#x27;shapes&#x27; set" in lecture
    assert 'href="tiny/20260102-000000/report.html"' in lecture
    # the browser check opens each linked report once, though the index links it twice
    links = report_links(tmp_path / "index.html")
    assert sorted(links) == sorted(os.path.join(run_dir, "report.html") for run_dir in reports.list_runs(tmp_path))
    # each report shows its own verdicts near the top
    md = open(os.path.join(newer.path, "report.md")).read()
    assert "**✗ not reproduced**" in md and md.index("not reproduced") < md.index("## Observations")


def test_index_without_the_registry_lists_the_claims_it_has(tmp_path, monkeypatch):
    monkeypatch.setattr(reports, "_declared_claims", lambda: [])
    make_run(tmp_path, claims=[_claim("b", "reproduced", slides="9"), _claim("a", "weird", slides="2")])
    index = open(reports.write_index(tmp_path)).read()
    assert "1 of 2 claims reproduced" in index and "1 not reproduced)" in index
    assert [c["id"] for c in json.load(open(tmp_path / "claims.json"))] == ["a", "b"]  # by slide


# --- untrusted folders ------------------------------------------------------------------------
def test_a_hostile_folder_cannot_inject_markup_or_embed_outside_files(tmp_path, monkeypatch):
    monkeypatch.setattr(reports, "_declared_claims", lambda: [])
    secret = _png()  # a real PNG outside the run folder
    (tmp_path / "secret.png").write_bytes(secret)
    out = tmp_path / "reports"
    xss = "<script>alert(1)</script>"
    folder = make_run(
        out,
        status=None,
        report={
            "title": xss,
            "error": "<img src=x onerror=alert(2)>",
            "observations": [xss],
            "notes": [xss],
            "figures": [
                {"file": "../../../secret.png", "caption": xss},
                {"file": str(tmp_path / "secret.png"), "caption": "absolute"},
                {"file": "../../etc/passwd", "caption": "passwd"},
                {"file": "link.png", "caption": "link"},
            ],
            "tables": [{"title": xss, "columns": [xss], "rows": [[xss]]}],
        },
        claims=[{**_claim(xss, "reproduced"), "claim": xss}],
        metrics={"key": {xss: 1.0}},
    )
    os.symlink(tmp_path / "secret.png", os.path.join(folder.path, "link.png"))
    folder.write("status", {"status": xss, "seconds": xss})
    reports.write_report(folder.path)
    reports.write_index(out)
    encoded = base64.b64encode(secret).decode()[:200]
    for page in (os.path.join(folder.path, "report.html"), out / "index.html"):
        text = open(page).read()
        assert "<script" not in text and "<img src=x" not in text, page
        assert encoded not in text and "data:image/png;base64," not in text, page
        assert 'class="<' not in text
    md = open(os.path.join(folder.path, "report.md")).read()
    assert "<script" not in md and "<img" not in md and "&lt;script>alert(1)&lt;/script>" in md
    assert md.count("outside the run folder: not shown") == 4
    assert "](../../../secret.png)" not in md


# --- plots --------------------------------------------------------------------------------------
def _fig_png(fig):
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return buf.getvalue()


def test_one_epoch_history_is_drawn_and_test_curves_are_called_test(tmp_path):
    from toolkit.plots import plot_history

    fig = plot_history(
        {"cnn": {"loss": [0.5], "val_loss": [0.6], "accuracy": [0.8], "val_accuracy": [0.7]}},
        metrics=("loss", "accuracy"),
    )
    assert isinstance(fig, MplFigure)
    labels = [t.get_text() for legend in fig.legends for t in legend.get_texts()]
    assert "test" in labels and not any("val" in label for label in labels)
    for ax in fig.axes:
        lines = [line for line in ax.get_lines() if len(line.get_xdata()) == 1]
        assert len(lines) == 2 and all(line.get_marker() not in (None, "", "None") for line in lines)
        assert list(ax.get_xticks()) == [1]
    assert blank_reason(_fig_png(fig)) is None
    path = plot_history({"cnn": {"loss": [0.5, 0.4, 0.3]}}, tmp_path / "h.png")
    assert path == tmp_path / "h.png" and os.path.getsize(path) > 1000


def test_epoch_axes_have_whole_number_ticks():
    from toolkit.plots import plot_history

    fig = plot_history({"a": {"loss": [0.9, 0.5, 0.4]}})
    ticks = [t for t in fig.axes[0].get_xticks() if 1 <= t <= 3]
    assert ticks and all(float(t).is_integer() for t in ticks)


def test_plot_functions_return_the_figure_without_a_path_and_the_path_with_one(tmp_path):
    from toolkit.plots import image_grid, plot_lines
    from toolkit.plots.activations import plot_gradient_norms
    from toolkit.plots.autoencoders import plot_code_scatter, plot_reconstructions
    from toolkit.plots.cnn import plot_confusion_matrix

    rng = np.random.default_rng(0)
    figures = [
        plot_lines([1, 2, 3], {"a": [1, 2, 3], "b": [3, 2, 1]}, xlabel="depth", ylabel="error (%)"),
        plot_gradient_norms({"s": {"d1": 1e-5, "d2": 0.1}, "r": {"d1": 0.1, "d2": 0.2}}),
        plot_code_scatter(rng.normal(size=(50, 2)), rng.integers(0, 3, 50)),
        plot_reconstructions(rng.random((3, 16)), rng.random((3, 16))),
        plot_confusion_matrix([0, 1, 1], [0, 1, 0], ["a", "b"]),
        image_grid([rng.random((4, 4))] * 3, ncols=3),
    ]
    for fig in figures:
        assert isinstance(fig, MplFigure) and blank_reason(_fig_png(fig)) is None
    # several lines: the legend sits below the axes, not on them
    assert figures[0].legends and figures[0].axes[0].get_legend() is None
    path = plot_lines([1, 2], {"a": [1, 2]}, tmp_path / "l.png", xlabel="x", ylabel="y")
    assert path == tmp_path / "l.png" and os.path.getsize(path) > 1000
    assert os.path.getsize(plot_confusion_matrix([0, 1], [0, 1], ["a", "b"], tmp_path / "c.png")) > 1000


def test_importing_the_plots_leaves_the_backend_alone():
    code = (
        "import matplotlib; matplotlib.use('svg'); import toolkit.plots, io\n"
        "from toolkit.plots import save_figure\n"
        "assert matplotlib.get_backend() == 'svg', matplotlib.get_backend()\n"
        "import matplotlib.pyplot as plt, tempfile, os\n"
        "fig = plt.figure(); plt.plot([0, 1], [1, 0])\n"
        "p = save_figure(fig, os.path.join(tempfile.mkdtemp(), 'f.png'))\n"
        "assert open(p, 'rb').read(4) == b'\\x89PNG' and not plt.get_fignums()\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


# --- the blank-figure check -------------------------------------------------------------------
def test_blank_reason_flags_blank_images_and_empty_axes():
    assert "one colour" in blank_reason(_blank_png())
    empty = MplFigure(figsize=(4, 3))
    ax = empty.subplots()
    ax.set_xlabel("epoch")
    ax.grid(alpha=0.3)
    assert "nothing drawn" in blank_reason(_fig_png(empty))
    assert blank_reason(_png()) is None


def test_browser_check_fails_on_a_blank_figure(tmp_path):
    good = make_run(tmp_path, experiment="good", figures={"curve.png": _png()})
    bad = make_run(
        tmp_path,
        experiment="bad",
        figures={"curve.png": _png(), "blank.png": _blank_png(), "empty.png": _png(draw=False)},
    )
    for folder in (good, bad):
        reports.write_report(folder.path)
    assert check_figures(os.path.join(good.path, "report.html")) == []
    problems = check_figures(os.path.join(bad.path, "report.html"))
    assert len(problems) == 2 and all("is empty" in p for p in problems), problems
    assert "figure 2" in problems[0] and "figure 3" in problems[1]
    if find_chromium() is None:
        pytest.skip("chromium absent (apt-get install chromium): the Pillow check ran, the browser part did not")
    assert check_page(os.path.join(good.path, "report.html")) == []
    reports.write_index(tmp_path)
    problems, count = check_index(os.path.join(tmp_path, "index.html"))
    assert count == 2 and len(problems) == 2, problems
    assert any("is empty" in p for p in check_page(os.path.join(bad.path, "report.html")))
