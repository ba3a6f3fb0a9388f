"""Every experiment's quick variant, through the real entry point, into a run folder.

The default suite runs each experiment's smoke form (``Experiment.smoke``: the quick form's
models and lists on fewer images and epochs: every code path, in seconds); the quick forms
themselves, whose numbers the tour reports, run under ``--run-slow`` and in ``make demo``.
On the real datasets when TOOLKIT_DATA_DIR is set (as `make test` and CI do), else on the
embedded 'shapes' set, as the tour does.
"""

import json
import os

import pytest

from experiments import get_experiment, list_experiments
from toolkit.runs.execute import run_experiment
from toolkit.runs.spec import resolve_config


@pytest.mark.parametrize("name", list_experiments())
def test_smoke_form_runs_and_reports(name, tmp_path):
    _runs_and_reports(name, tmp_path, smoke=True)


@pytest.mark.slow
@pytest.mark.parametrize("name", list_experiments())
def test_quick_variant_runs_and_reports(name, tmp_path):
    _runs_and_reports(name, tmp_path, smoke=False)


def test_every_smoke_form_is_smaller_than_the_quick_form_and_keeps_its_models():
    """The smoke form only shrinks: no key it sets grows, and it changes no model or list."""
    for name in list_experiments():
        exp = get_experiment(name)
        quick, smoke = resolve_config(exp, use_quick=True), resolve_config(exp, smoke=True)
        for key, value in exp.smoke.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                assert quick[key] is None or value <= quick[key], (name, key)
            else:
                assert len(value) == len(quick[key]), (name, key)
        kept = {k: v for k, v in quick.items() if k not in exp.smoke}
        assert kept == {k: smoke[k] for k in kept}, name


def _runs_and_reports(name, tmp_path, smoke):
    exp = get_experiment(name)
    config = resolve_config(exp, use_quick=True, smoke=smoke)
    run_dir = run_experiment(
        exp, config, out_root=tmp_path, fallback_data=True, data_dir=os.environ.get("TOOLKIT_DATA_DIR") or None
    )
    status = json.load(open(os.path.join(run_dir, "status.json")))
    assert status["status"] == "complete"
    report = json.load(open(os.path.join(run_dir, "report.json")))
    assert report["observations"], "an experiment must say what it measured"
    assert report["tables"] and all(t["rows"] for t in report["tables"])
    for fig in report["figures"]:
        assert os.path.getsize(os.path.join(run_dir, fig["file"])) > 1000, fig
    metrics = json.load(open(os.path.join(run_dir, "metrics.json")))
    assert metrics.get("key"), "the index needs key numbers"
    html = open(os.path.join(run_dir, "report.html")).read()
    assert report["observations"][0].split()[0] in html and html.count("data:image/png;base64,") == len(
        report["figures"]
    )
    claims = json.load(open(os.path.join(run_dir, "claims.json")))
    assert [c["id"] for c in claims] == [c.id for c in exp.claims]
    for claim in claims:  # the schema of claims.json; the verdicts themselves are what the run reports
        assert {"id", "slides", "claim", "criterion", "measured", "verdict"} <= set(claim), claim
        assert claim["verdict"] in ("reproduced", "not_reproduced") and isinstance(claim["measured"], dict)
        assert claim["experiment"] == name and claim["slides"]
