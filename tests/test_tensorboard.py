"""TensorBoard logs of a run's fits: `Run.fit(..., tensorboard=True)` and `--tensorboard`."""

import os

import keras
import numpy as np

from toolkit.runs.folder import RunFolder
from toolkit.runs.training import Trainer


def _model():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    return model


def _events(folder):
    return [os.path.join(d, f) for d, _, files in os.walk(folder) for f in files if "tfevents" in f]


def test_fit_writes_tensorboard_logs_under_the_run_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("TOOLKIT_TENSORBOARD", raising=False)
    folder = RunFolder(tmp_path / "exp" / "run1")
    trainer = Trainer(folder, seed=0, batch_size=8, epochs=2)
    x, y = np.random.default_rng(0).random((16, 4)).astype("float32"), np.arange(16) % 2
    trainer.fit(_model(), x, y, label="plain")
    assert not os.path.exists(os.path.join(folder.path, "tensorboard"))  # off by default
    trainer.fit(_model(), x, y, label="clf", tensorboard=True)
    logs = os.path.join(folder.path, "tensorboard", "clf")
    assert trainer.tensorboard_dir("clf") == logs
    assert _events(os.path.join(logs, "train"))


def test_the_cli_flag_turns_it_on_for_every_fit_of_the_run(tmp_path, monkeypatch):
    from toolkit.cli import build_parser

    args = build_parser().parse_args(["run", "ae-mnist", "--tensorboard"])
    assert args.tensorboard
    assert not build_parser().parse_args(["run", "ae-mnist"]).tensorboard
    monkeypatch.setenv("TOOLKIT_TENSORBOARD", "1")  # what `run --tensorboard` sets
    trainer = Trainer(RunFolder(tmp_path / "exp" / "run2"), seed=0, batch_size=8, epochs=1)
    x, y = np.zeros((8, 4), "float32"), np.zeros(8, int)
    trainer.fit(_model(), x, y, label="m")
    assert _events(trainer.tensorboard_dir("m"))
