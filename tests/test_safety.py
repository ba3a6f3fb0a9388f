"""Safe loading, resource bounds and run-folder facts needed to repeat a run."""

import json
import os
import subprocess

import keras
import numpy as np
import pytest

from tests.harness import REPO
from toolkit import resources
from toolkit.errors import RunError, ToolkitError
from toolkit.runs.execute import run_experiment
from toolkit.runs.experiment import Experiment
from toolkit.runs.spec import RunSpec, resolve_config
from toolkit.saving import load_model


def _lambda_model(path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Lambda(lambda t: t * 2.0), keras.layers.Dense(2)])
    model.save(path)
    return model


def test_lambda_model_is_refused_unless_the_user_opts_in(tmp_path):
    path = str(tmp_path / "lam.keras")
    model = _lambda_model(path)
    with pytest.raises(ToolkitError) as err:
        load_model(path)
    message = str(err.value)
    assert "Lambda" in message and "allow_unsafe=True" in message and path in message and "\n" not in message
    loaded = load_model(path, allow_unsafe=True)
    x = np.ones((1, 3), "float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


@pytest.mark.parametrize(
    "content, expect", [(b"", "not a readable .keras file"), (b"PK\x03\x04garbage", "not a readable .keras file")]
)
def test_broken_model_files_are_one_line_errors(tmp_path, content, expect):
    path = tmp_path / "broken.keras"
    path.write_bytes(content)
    with pytest.raises(ToolkitError) as err:
        load_model(path)
    assert "\n" not in str(err.value) and str(path) in str(err.value)


def test_no_pickle_of_user_files_anywhere():
    found = subprocess.run(
        [
            "git",
            "grep",
            "-nE",
            r"pickle\.load|allow_pickle\s*=\s*True|joblib\.load|torch\.load",
            "--",
            "toolkit",
            "experiments",
            "benchmarks",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert found.stdout == "", found.stdout


def _no_run(config, run):  # pragma: no cover - never reached: the check refuses first
    raise AssertionError("the experiment ran")


BIG = Experiment(
    name="big",
    slides="0",
    title="Big",
    summary="too big",
    run=_no_run,
    spec=RunSpec(dataset="mnist", limit=None, test_limit=None, epochs=1, seed=0),
)


def test_estimates_are_honest():
    # mnist in full: 70,000 images of 784 bytes, uint8 plus one float32 copy
    assert resources.estimate_data_memory({"dataset": "mnist"}) == 70_000 * 784 * 5
    assert resources.estimate_data_memory({"dataset": "cifar10", "limit": 100, "test_limit": 10}) == 110 * 3072 * 5
    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(100), keras.layers.Dense(10)])
    params = 784 * 100 + 100 + 100 * 10 + 10
    assert resources.estimate_model_memory(model, 32) == params * 16 + (784 + 100 + 10) * 32 * 4 * 2  # input too
    with pytest.raises(ToolkitError, match="unknown dataset 'mnits'"):
        resources.estimate_data_memory({"dataset": "mnits"})


def test_a_run_that_will_not_fit_is_refused_up_front(tmp_path, monkeypatch):
    monkeypatch.setattr(resources, "available_memory", lambda: 50 * 1024**2)
    with pytest.raises(RunError) as err:
        run_experiment(BIG, resolve_config(BIG), out_root=tmp_path)
    message = str(err.value)
    assert "needs ~261.7 MB and 50.0 MB is available" in message and "limit" in message, message
    assert not os.path.exists(tmp_path / "big")  # refused before any folder is made


def test_a_fit_that_will_not_fit_is_refused_with_the_estimate(monkeypatch):
    from toolkit.runs.folder import RunFolder
    from toolkit.runs.recorder import Run

    monkeypatch.setattr(resources, "available_memory", lambda: 1024**2)
    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(1000), keras.layers.Dense(10)])
    model.compile("adam", "mse")
    run = Run(BIG, {"epochs": 1, "seed": 0}, RunFolder("/nonexistent"))
    with pytest.raises(RunError, match=r"training needs ~1\d\.\d MB .*795,010 parameters.*1.0 MB is available"):
        run.fit(model, np.zeros((10, 784), "float32"), np.zeros((10, 10), "float32"))


def test_the_run_folder_holds_what_repeats_the_run(tmp_path):
    from tests.test_runner import TINY

    config = resolve_config(TINY, overrides=["epochs=1", "limit=50"])
    run_dir = run_experiment(TINY, config, out_root=tmp_path)
    env = json.load(open(os.path.join(run_dir, "env.json")))
    saved = json.load(open(os.path.join(run_dir, "config.json")))
    assert saved == config and saved["seed"] == 0
    for key in ("seed", "backend", "keras", "numpy", "python", "device", "precision", "command", "git_commit"):
        assert key in env, key
