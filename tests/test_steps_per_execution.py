"""Several training steps per compiled call (toolkit.devices.steps_per_execution) change no
result of the seeded, resumable fit: the same history rows and the same weights as one step
per call, greedy pretraining too; a callback that listens to single batches still hears
every batch."""

import json
import os

import keras
import numpy as np
import pytest

from toolkit import devices
from toolkit.runs.execute import run_experiment
from toolkit.runs.experiment import Experiment
from toolkit.runs.spec import Param, RunSpec, resolve_config

N, BATCH, EPOCHS = 100, 8, 3  # 13 steps an epoch, the last one partial


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, 6)).astype("float32")
    return x, (x[:, :1] > 0).astype("float32")


def _model():
    inputs = keras.Input((6,))
    h = keras.layers.Dense(8, activation="relu", name="hidden")(inputs)
    h = keras.layers.Dropout(0.3, name="drop")(h)  # reseeded every epoch: the seed state matters
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid", name="out")(h))
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    return model


class _BatchCounter(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.batches = 0

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1


def _fit(config, run):
    x, y = _data()
    model = _model()
    counter = _BatchCounter() if config["count_batches"] else None
    run.fit(model, x, y, label="fit", callbacks=[counter] if counter else [], validation_data=(x[:16], y[:16]))
    run.metric("weights", [np.asarray(w).tolist() for w in model.get_weights()])
    run.metric("steps_per_execution", int(model.steps_per_execution))
    run.metric("batches_heard", counter.batches if counter else None)


SPE = Experiment(
    name="spe",
    slides="17",
    title="Steps per execution",
    summary="one small fit",
    spec=RunSpec(seed=0, epochs=EPOCHS, batch_size=BATCH),
    params={"count_batches": Param(False)},
    run=_fit,
)


def _run(tmp_path, name, count_batches=False):
    config = resolve_config(SPE, overrides=[f"count_batches={str(count_batches).lower()}"])
    run_dir = run_experiment(SPE, config, out_root=tmp_path / name)
    with open(os.path.join(run_dir, "metrics.json")) as fh:
        metrics = json.load(fh)
    with open(os.path.join(run_dir, "history.csv")) as fh:
        history = [line.split(",") for line in fh.read().splitlines()]
    return metrics, history


def _without_seconds(history):
    column = history[0].index("seconds")
    return [row[:column] + row[column + 1 :] for row in history]


@pytest.mark.backends
def test_several_steps_per_call_give_the_same_fit_as_one(tmp_path, monkeypatch):
    monkeypatch.setattr(devices, "STEPS_PER_EXECUTION", 4)  # 4, 4, 4, 1: a partial last call
    several, several_history = _run(tmp_path, "several")
    monkeypatch.setattr(devices, "STEPS_PER_EXECUTION", 1)
    one, one_history = _run(tmp_path, "one")
    assert several["steps_per_execution"] == 4 and one["steps_per_execution"] == 1
    assert len(several_history) == EPOCHS + 1  # header + a row per epoch
    assert _without_seconds(several_history) == _without_seconds(one_history)
    for a, b in zip(several["weights"], one["weights"]):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.backends
def test_a_per_batch_callback_hears_every_batch(tmp_path):
    metrics, _ = _run(tmp_path, "counted", count_batches=True)
    assert metrics["steps_per_execution"] == 1
    assert metrics["batches_heard"] == EPOCHS * -(-N // BATCH)


def test_the_default_is_several_steps_and_keras_callbacks_do_not_veto_it():
    assert devices.STEPS_PER_EXECUTION > 1
    assert devices.steps_per_execution([keras.callbacks.TensorBoard(), keras.callbacks.Callback()]) > 1
    assert devices.steps_per_execution([_BatchCounter()]) == 1


@pytest.mark.backends
def test_greedy_pretraining_is_the_same_with_several_steps_per_call(monkeypatch):
    from toolkit.autoencoders import build_stacked_autoencoder
    from toolkit.pretraining import pretrain_greedy

    x = np.random.default_rng(1).uniform(size=(72, 12)).astype("float32")
    weights = []
    for steps in (5, 1):
        monkeypatch.setattr(devices, "STEPS_PER_EXECUTION", steps)
        keras.utils.set_random_seed(0)
        parts = build_stacked_autoencoder(12, (6, 3))
        pretrain_greedy(parts, x, epochs=2, batch_size=16, verbose=0)
        weights.append(parts.model.get_weights())
    for a, b in zip(*weights):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_built_before_fit_the_step_is_traced_once_and_nothing_changes(monkeypatch):
    """On TensorFlow Keras 3.15 builds Adam's slots and the metrics inside the first trace of
    the train step, which then makes tf.function trace it again; built first
    (devices.build_before_fit, as Run.fit, the greedy stages and fine_tune do), it is traced
    once, to the same weights, optimizer state and history, bit for bit."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("the second trace is TensorFlow's; other backends build the optimizer in fit")
    x, y = _data()
    traces = []
    step = keras.Model.train_step

    def counted(self, data):
        traces.append(1)
        return step(self, data)

    monkeypatch.setattr(keras.Model, "train_step", counted)
    counts, states = [], []
    for first in (False, True):
        keras.utils.set_random_seed(0)
        model = _model()
        if first:
            assert devices.build_before_fit(model, x, y) is True
        assert model.optimizer.built is first
        del traces[:]
        history = model.fit(x[:96], y[:96], batch_size=BATCH, epochs=2, shuffle=False, verbose=0)  # one shape
        counts.append(len(traces))
        states.append([keras.ops.convert_to_numpy(v) for v in [*model.weights, *model.optimizer.variables]])
        states[-1].append(np.array([history.history["loss"], history.history["accuracy"]]))
    assert devices.build_before_fit(model, x[:0]) is False  # built already, and no rows
    assert counts == [2, 1]
    for a, b in zip(*states):
        np.testing.assert_array_equal(a, b)
