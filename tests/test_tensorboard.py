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
    folder = RunFolder(tmp_path / "exp" / "run1")
    trainer = Trainer(folder, seed=0, batch_size=8, epochs=2)
    x, y = np.random.default_rng(0).random((16, 4)).astype("float32"), np.arange(16) % 2
    trainer.fit(_model(), x, y, label="plain")
    assert not os.path.exists(os.path.join(folder.path, "tensorboard"))  # off by default
    trainer.fit(_model(), x, y, label="clf", tensorboard=True)
    logs = os.path.join(folder.path, "tensorboard", "clf")
    assert trainer.tensorboard_dir("clf") == logs
    assert _events(os.path.join(logs, "train"))


def test_the_cli_flag_turns_it_on_for_every_fit_of_the_run(tmp_path):
    from toolkit.cli import build_parser
    from toolkit.runs.execute import run_experiment
    from toolkit.runs.experiment import Experiment
    from toolkit.runs.spec import RunSpec, resolve_config

    args = build_parser().parse_args(["run", "ae-mnist", "--tensorboard"])
    assert args.tensorboard
    assert not build_parser().parse_args(["run", "ae-mnist"]).tensorboard

    def two_fits(config, run):
        x, y = np.zeros((8, 4), "float32"), np.zeros(8, int)
        for label in ("a", "b"):
            run.fit(_model(), x, y, label=label)

    exp = Experiment(name="tb", slides="0", title="tb", summary="tb", run=two_fits, spec=RunSpec(epochs=1))
    run_dir = run_experiment(exp, resolve_config(exp), out_root=tmp_path, tensorboard=True)
    for label in ("a", "b"):
        assert _events(os.path.join(run_dir, "tensorboard", label))
