"""A run killed with SIGKILL mid-epoch and resumed ends where an uninterrupted run ends.

Runs the real CLI on the ``ae-mnist`` experiment with tiny data from the embedded
``shapes`` set; small batches make epochs long enough for the kill to land inside one.
"""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from tests.harness import REPO
from toolkit.runs.execute import run_experiment
from toolkit.runs.experiment import Experiment
from toolkit.runs.spec import Param, RunSpec, flag, resolve_config

ARGS = [
    "run",
    "ae-mnist",
    "--quick",
    "--set",
    "dataset=shapes",
    "--set",
    "limit=300",
    "--set",
    "test_limit=50",
    "--set",
    "code_sizes=8",
    "--set",
    "deep_units=16",
    "--set",
    "batch_size=4",
    "--epochs",
    "3",
]


def _start(out, *extra):
    env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND="tensorflow")
    return subprocess.Popen(
        [sys.executable, "-m", "toolkit", *ARGS, "--out", str(out), *extra],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _checkpoint_epoch(out):
    """The epoch of the newest checkpoint under ``out`` (0 when there is none yet)."""
    root = os.path.join(out, "ae-mnist")
    for dirpath, _, files in os.walk(root):
        if "training_metadata.json" in files:
            try:
                with open(os.path.join(dirpath, "training_metadata.json")) as fh:
                    return json.load(fh)["epoch"]
            except (OSError, ValueError):
                return 0
    return 0


def _only_run(out):
    (run_id,) = os.listdir(os.path.join(out, "ae-mnist"))
    return os.path.join(out, "ae-mnist", run_id)


def _history(run_dir):
    with open(os.path.join(run_dir, "history.csv"), newline="") as fh:
        return [
            (r["label"], int(r["epoch"]), float(r["loss"]), float(r.get("val_loss") or "nan"))
            for r in csv.DictReader(fh)
        ]


def _flat(metrics, prefix=""):
    for key, value in metrics.items():
        if isinstance(value, dict):
            yield from _flat(value, f"{prefix}{key}.")
        elif key != "wall_seconds":
            yield f"{prefix}{key}", value


def test_sigkill_mid_epoch_then_resume_matches_an_uninterrupted_run(tmp_path):
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    reference = _start(straight)  # runs beside the killed one: the test takes one run's time, not two
    victim = _start(killed)
    deadline = time.monotonic() + 150
    while _checkpoint_epoch(killed) < 1:
        assert victim.poll() is None, f"the run ended before its first checkpoint:\n{victim.stdout.read()}"
        assert time.monotonic() < deadline, "no checkpoint after 150 s"
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)  # inside epoch 2 or later: the epoch's weights are lost
    victim.wait(timeout=30)
    assert victim.returncode == -signal.SIGKILL

    run_dir = _only_run(killed)
    assert json.load(open(os.path.join(run_dir, "status.json")))["status"] == "running"
    assert not os.path.exists(os.path.join(run_dir, "metrics.json"))  # nothing looks complete
    from toolkit.reports import write_index

    index = open(write_index(str(killed))).read()
    assert "incomplete" in index

    resumed = _start(killed, "--resume")
    out, _ = resumed.communicate(timeout=240)
    assert resumed.returncode == 0, out
    assert "resuming" in out and "resumed from the checkpoint after epoch" in out, out
    ref_out, _ = reference.communicate(timeout=240)
    assert reference.returncode == 0, ref_out

    assert _only_run(killed) == run_dir  # the same folder, now complete
    assert json.load(open(os.path.join(run_dir, "status.json")))["status"] == "complete"
    assert not os.path.exists(os.path.join(run_dir, "checkpoints"))
    expected = dict(_flat(json.load(open(os.path.join(_only_run(straight), "metrics.json")))))
    got = dict(_flat(json.load(open(os.path.join(run_dir, "metrics.json")))))
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        if isinstance(value, float):
            assert got[key] == pytest.approx(value, rel=1e-4, abs=1e-6), key
        else:
            assert got[key] == value, key
    # every epoch is in history.csv once, with the uninterrupted run's numbers
    ours, theirs = _history(run_dir), _history(_only_run(straight))
    assert [r[:2] for r in ours] == [r[:2] for r in theirs] and len(set(r[:2] for r in ours)) == len(ours)
    assert {r[1] for r in ours} == {1, 2, 3}
    np.testing.assert_allclose([r[2:] for r in ours], [r[2:] for r in theirs], rtol=1e-4)


class _Killer(keras.callbacks.Callback):
    """Dies (like a SIGKILL would, but in-process) in the middle of epoch ``at`` (0-based)."""

    def __init__(self, at):
        super().__init__()
        self.at, self.epoch = at, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.epoch == self.at and batch == 3:
            raise SystemExit("killed")


def _two_fits(config, run):
    """Two models in a row, with dropout and noise: the second one's init and every epoch's
    shuffle and masks must not depend on whether the first fit ran or was restored."""
    ds = run.data()
    x = ds.x_train.reshape(len(ds.x_train), -1).astype("float32") / 255
    for k in (1, 2):
        model = keras.Sequential(
            [
                keras.Input((x.shape[1],)),
                keras.layers.GaussianNoise(0.1),
                keras.layers.Dense(16, activation="relu"),
                keras.layers.Dropout(0.3),
                keras.layers.Dense(10, activation="softmax"),
            ]
        )
        model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
        kill = [_Killer(1)] if k == 2 and config["kill"] and not run.resume else []
        run.fit(model, x, ds.y_train, label=f"m{k}", callbacks=kill)
        run.metric(f"m{k}.loss", float(model.evaluate(x, ds.y_train, verbose=0)))


TWO = Experiment(
    name="two",
    slides="0",
    title="Two fits",
    summary="resume test",
    run=_two_fits,
    spec=RunSpec(dataset="shapes", epochs=3, batch_size=16, limit=160, test_limit=20, seed=3),
    params={"kill": Param(False, flag())},
)


@pytest.mark.backends
def test_resume_in_process_matches_with_dropout_noise_and_a_finished_fit(tmp_path):
    config = resolve_config(TWO)
    straight = run_experiment(TWO, config, out_root=tmp_path / "a")
    config_kill = dict(config, kill=True)
    with pytest.raises(SystemExit):
        run_experiment(TWO, config_kill, out_root=tmp_path / "b")
    keras.backend.clear_session(free_memory=False)
    keras.utils.set_random_seed(12345)  # a fresh process would not share the old RNG state
    resumed = run_experiment(TWO, config_kill, out_root=tmp_path / "b", resume=True)
    a = json.load(open(os.path.join(straight, "metrics.json")))
    b = json.load(open(os.path.join(resumed, "metrics.json")))
    for k in ("m1", "m2"):
        assert b[k]["loss"] == pytest.approx(a[k]["loss"], rel=1e-5), k
    assert [r[:2] for r in _history(resumed)] == [(f"m{k}", e) for k in (1, 2) for e in (1, 2, 3)]
