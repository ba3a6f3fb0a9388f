"""The experiment registry: one file adds an experiment; the README and the Makefile follow it."""

import json
import os
import re
import subprocess
import sys

import pytest

import experiments
from tests.harness import REPO
from toolkit.runs import experiment as registry
from toolkit.runs.execute import run_experiment
from toolkit.runs.spec import resolve_config

TOY = '''
"""toy-shapes: a toy experiment in a file of its own."""
from toolkit.claims import Claim
from toolkit.runs.experiment import experiment
from toolkit.runs.spec import Param, RunSpec, whole

CLAIMS = (Claim("toy-count", "0", "the toy counts to n", "counted == n",
                measure=lambda m: {"counted": m["counted"], "n": m["n"]},
                holds=lambda v: v["counted"] == v["n"]),)


@experiment(name="toy-shapes", slides="0", order=99, title="Toy", summary="a toy",
            spec=RunSpec(dataset="shapes", limit=20, test_limit=10), params={"n": Param(3, whole(1))},
            quick={"n": 2}, claims=CLAIMS)
def run(config, run):
    ds = run.data()
    run.metric("n", config["n"])
    run.metric("counted", len(range(config["n"])))
    run.table("Toy", ["images"], [[len(ds.x_train)]])
    run.observe(f"counted to {config['n']}")
'''


@pytest.fixture
def toy_module(tmp_path, monkeypatch):
    folder = tmp_path / "more_experiments"
    folder.mkdir()
    (folder / "toy_shapes.py").write_text(TOY)
    monkeypatch.setattr(experiments, "__path__", [*experiments.__path__, str(folder)])
    yield folder
    registry._REGISTRY.pop("toy-shapes", None)
    sys.modules.pop("experiments.toy_shapes", None)


def test_one_new_file_adds_an_experiment_with_its_claims(toy_module, tmp_path):
    assert "toy-shapes" in registry.list_experiments()
    assert registry.list_experiments()[-1] == "toy-shapes"  # its place in the tour: order=99
    exp = registry.get_experiment("toy-shapes")
    run_dir = run_experiment(exp, resolve_config(exp, use_quick=True), out_root=tmp_path / "out")
    claims = json.load(open(os.path.join(run_dir, "claims.json")))
    assert [c["id"] for c in claims] == ["toy-count"] and claims[0]["verdict"] == "reproduced"
    assert claims[0]["measured"] == {"counted": 2, "n": 2}


def test_a_second_experiment_of_the_same_name_is_refused():
    exp = registry.get_experiment("ae-mnist")
    with pytest.raises(ValueError, match="registered twice"):
        registry.register(
            registry.Experiment(name="ae-mnist", slides="0", title="x", summary="x", run=lambda config, run: None)
        )
    assert registry.get_experiment("ae-mnist") is exp


def test_the_readme_table_names_every_registered_experiment():
    readme = open(os.path.join(REPO, "README.md"), encoding="utf-8").read()
    table = re.findall(r"^\| `make ([a-z0-9-]+)` \|", readme, flags=re.MULTILINE)
    assert sorted(table) == sorted(registry.list_experiments())


def test_every_experiment_declares_the_claims_it_tests_with_slides():
    ids = [c.id for c in registry.all_claims()]
    assert len(ids) == len(set(ids)) >= 15
    for name in registry.list_experiments():
        exp = registry.get_experiment(name)
        for claim in exp.claims:
            assert claim.slides and claim.criterion and callable(claim.measure) and callable(claim.holds)


def test_the_makefile_takes_its_experiment_lists_from_the_registry():
    makefile = open(os.path.join(REPO, "Makefile"), encoding="utf-8").read()
    for name in registry.list_experiments():
        assert name not in makefile, f"{name} is written into the Makefile by hand"
    env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run(
        ["make", "-n", "--no-print-directory", "zoo-cifar10", "QUICK=1", "SEED=4", "PY=" + sys.executable],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert re.search(r"toolkit run zoo-cifar10 .*--quick .*--seed 4", done.stdout), done.stdout
    listed = subprocess.run(
        [sys.executable, "-m", "toolkit", "list", "--names", "--dataset", "cifar10"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listed.stdout.split() == ["augment-cifar10", "zoo-cifar10"], listed.stderr
