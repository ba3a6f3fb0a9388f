"""The runner, the config, the reports and the CLI, on a tiny experiment defined here."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from tests.harness import REPO
from toolkit.errors import RunError, ToolkitError
from toolkit.runs.execute import run_experiment
from toolkit.runs.experiment import Experiment
from toolkit.runs.spec import Param, RunSpec, at_least, flag, fraction, open_unit, resolve_config, whole


def _tiny_run(config, run):
    ds = run.data()
    model = keras.Sequential(
        [
            keras.Input(ds.image_shape),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        keras.optimizers.Adam(config["learning_rate"]), "sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    x = ds.x_train.astype("float32")
    if config["poison"]:
        x[5, 3, 3, 0] = np.nan  # a corrupt pixel: the loss becomes NaN
    run.fit(model, x, ds.y_train, label="dense")
    acc = float(model.evaluate(ds.x_test, ds.y_test, verbose=0)[1])
    run.metric("test.accuracy", acc)
    run.key_metrics(test_accuracy=acc)
    run.table("Results", ["model", "test accuracy"], [["dense", acc]])
    import matplotlib.pyplot as plt

    fig = plt.figure()
    plt.plot([0, 1], [0, acc])
    from toolkit.plots import save_figure

    save_figure(fig, run.figure("curve.png", "a line up to the accuracy"))
    run.observe(f"a linear classifier reached {acc:.1%} test accuracy")
    run.save_model(model, "dense")


TINY = Experiment(
    name="tiny",
    slides="0",
    title="Tiny",
    summary="a test experiment",
    spec=RunSpec(dataset="shapes", epochs=2, batch_size=32, limit=200, test_limit=50, seed=0),
    params={"learning_rate": Param(0.01, at_least(0)), "poison": Param(False, flag())},
    quick={"epochs": 1},
    run=_tiny_run,
)


def test_config_types_ranges_and_unknown_keys():
    exp = Experiment(
        name="cfg",
        slides="0",
        title="cfg",
        summary="config",
        run=_tiny_run,
        spec=RunSpec(epochs=5),
        quick={"epochs": 1},
        params={
            "rate": Param(0.1, fraction()),
            "code_sizes": Param([2, 8], whole(1)),
            "tied": Param(False, flag()),
            "name": Param("x"),
            "rho": Param(0.05, open_unit()),
        },
    )
    cfg = resolve_config(exp, True, ["code_sizes=4,16,64", "tied=true", "limit=300", "rate=0.5"])
    spec = {"dataset": "mnist", "batch_size": 128, "test_limit": None, "seed": 0, "mixed_precision": False}
    assert cfg == {
        **spec,
        "epochs": 1,
        "rate": 0.5,
        "code_sizes": [4, 16, 64],
        "tied": True,
        "limit": 300,
        "name": "x",
        "rho": 0.05,
    }
    defaults = exp
    with pytest.raises(ToolkitError, match="unknown config key 'epoch'.*Did you mean 'epochs'"):
        resolve_config(defaults, overrides=["epoch=3"])
    with pytest.raises(ToolkitError, match="epochs must be whole numbers >= 1; received 0"):
        resolve_config(defaults, overrides=["epochs=0"])
    with pytest.raises(ToolkitError, match="expected an integer"):
        resolve_config(defaults, overrides=["epochs=three"])
    with pytest.raises(ToolkitError, match=r"rate must be in \[0, 1\); received 1.0"):
        resolve_config(defaults, overrides=["rate=1.0"])
    with pytest.raises(ToolkitError, match=r"rho must be in \(0, 1\)"):
        resolve_config(defaults, overrides=["rho=0"])
    with pytest.raises(ToolkitError, match="code_sizes must be whole numbers >= 1"):
        resolve_config(defaults, overrides=["code_sizes=4,0"])
    with pytest.raises(ToolkitError, match="--set takes key=value"):
        resolve_config(defaults, overrides=["epochs"])


def test_run_folder_has_everything_and_reports_render(tmp_path):
    config = resolve_config(TINY)
    run_dir = run_experiment(TINY, config, out_root=tmp_path)
    files = set(os.listdir(run_dir))
    assert {
        "config.json",
        "env.json",
        "status.json",
        "history.csv",
        "metrics.json",
        "report.json",
        "report.md",
        "report.html",
        "curve.png",
        "dense.keras",
    } <= files
    assert "checkpoints" not in files
    status = json.load(open(os.path.join(run_dir, "status.json")))
    assert status["status"] == "complete"
    metrics = json.load(open(os.path.join(run_dir, "metrics.json")))
    html = open(os.path.join(run_dir, "report.html")).read()
    assert "data:image/png;base64," in html and "a linear classifier reached" in html
    # the observation was written from the measured number
    assert f"{metrics['test']['accuracy']:.1%}" in html
    rows = open(os.path.join(run_dir, "history.csv")).read().splitlines()
    assert rows[0].startswith("label,epoch") and len(rows) == 3
    env = json.load(open(os.path.join(run_dir, "env.json")))
    assert env["seed"] == 0 and env["backend"] == keras.backend.backend()
    index = open(os.path.join(tmp_path, "index.html")).read()
    assert "tiny" in index and "complete" in index and "test_accuracy" in index


def test_same_seed_same_metrics(tmp_path):
    config = resolve_config(TINY)
    a = run_experiment(TINY, config, out_root=tmp_path / "a")
    b = run_experiment(TINY, config, out_root=tmp_path / "b")
    ma = json.load(open(os.path.join(a, "metrics.json")))
    mb = json.load(open(os.path.join(b, "metrics.json")))
    ma.pop("wall_seconds"), mb.pop("wall_seconds")
    assert ma == mb


def test_nan_loss_stops_the_run_with_a_clear_message(tmp_path):
    config = resolve_config(TINY, overrides=["poison=true"])
    with pytest.raises(RunError, match="loss became (nan|inf)"):
        run_experiment(TINY, config, out_root=tmp_path)
    (run_dir,) = [os.path.join(tmp_path, "tiny", d) for d in os.listdir(tmp_path / "tiny")]
    assert json.load(open(os.path.join(run_dir, "status.json")))["status"] == "failed"
    assert "loss became" in open(os.path.join(run_dir, "report.md")).read()
    assert "failed" in open(os.path.join(tmp_path, "index.html")).read()


def test_gpu_request_without_gpu_fails_at_once(tmp_path):
    with pytest.raises(RunError, match="sees no GPU"):
        run_experiment(TINY, resolve_config(TINY), out_root=tmp_path, device="gpu")
    assert not os.path.exists(tmp_path / "tiny")


def test_unwritable_output_folder(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(RunError, match="cannot be written"):
        run_experiment(TINY, resolve_config(TINY), out_root=blocker / "reports")


def _cli(*args, timeout=120):
    env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run(
        [sys.executable, "-m", "toolkit", *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO
    )


@pytest.mark.parametrize(
    "args, expect",
    [
        (["run", "ae-mnsit"], "unknown experiment 'ae-mnsit'"),
        (["run", "ae-mnist", "--set", "epochs=0"], "epochs must be whole numbers >= 1"),
        (["run", "ae-mnist", "--set", "nope=1"], "unknown config key 'nope'"),
        (["run", "ae-mnist", "--epochs", "0"], "--epochs must be >= 1"),
        (["run", "ae-mnist", "--data-dir", "/does/not/exist"], "does not exist"),
        (["run", "ae-mnist", "--device", "tpu"], "unknown device 'tpu'"),
        (["run", "ae-mnist", "--backend", "theano"], "unknown backend 'theano'"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(args, expect, tmp_path):
    done = _cli(*args, "--out", str(tmp_path)) if args[0] == "run" else _cli(*args)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expect in lines[0], done.stderr
    assert "Traceback" not in done.stderr


def test_cli_list_and_help():
    done = _cli("list")
    assert done.returncode == 0
    names = [line.split()[0] for line in done.stdout.splitlines()]
    assert names == [
        "ae-mnist",
        "deep-ae-mnist",
        "pretrain-mnist",
        "sparse-ae-mnist",
        "activations-mnist",
        "filters",
        "cnn-mnist",
        "augment-cifar10",
        "zoo-cifar10",
    ]
    helped = _cli("run", "--help")
    assert helped.returncode == 0 and "--quick" in helped.stdout and "examples:" in helped.stdout


@pytest.mark.browser
def test_reports_render_in_headless_chromium(tmp_path):
    from toolkit.browser_check import check_index, find_chromium

    if find_chromium() is None:
        pytest.skip("chromium absent (apt-get install chromium)")
    run_experiment(TINY, resolve_config(TINY), out_root=tmp_path)
    problems, count = check_index(os.path.join(tmp_path, "index.html"))
    assert count == 1 and problems == []
    # and the check can fail: a report whose figure is corrupt
    (run_dir,) = [os.path.join(tmp_path, "tiny", d) for d in os.listdir(tmp_path / "tiny")]
    page = os.path.join(run_dir, "report.html")
    html = open(page).read().replace("data:image/png;base64,", "data:image/png;base64,AAAA", 1)
    open(page, "w").write(html)
    problems, _ = check_index(os.path.join(tmp_path, "index.html"))
    assert any("did not decode" in p for p in problems)
