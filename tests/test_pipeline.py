"""Per-epoch shuffling (toolkit.data.pipeline): every epoch a full permutation in a new order,
the same orders for the same seed, and the runner and pre-training actually use it."""

import os

import keras
import numpy as np
import pytest

from toolkit.data.pipeline import epoch_shuffled, fit_inputs
from toolkit.runs.execute import run_experiment
from toolkit.runs.experiment import Experiment
from toolkit.runs.spec import RunSpec, resolve_config

tf_only = pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the TensorFlow pipeline")


def _epoch_orders(feed, epochs):
    orders = []
    for epoch in epochs:
        feed.callback.on_epoch_begin(epoch)
        orders.append(np.concatenate([np.asarray(y) for _, y in feed.dataset]))
    return orders


@tf_only
def test_each_epoch_is_a_new_permutation_of_every_sample():
    x = np.arange(70, dtype="float32").reshape(70, 1) * 2
    y = np.arange(70)
    feed = epoch_shuffled((x, y), 16, seed=3)
    assert feed.num_batches == 5  # 4 full batches and one of 6
    orders = _epoch_orders(feed, range(3))
    for order in orders:
        assert sorted(order.tolist()) == list(range(70))
    assert len({tuple(o) for o in orders}) == 3
    for xb, yb in feed.dataset:  # x and y stay paired
        np.testing.assert_array_equal(np.asarray(xb)[:, 0], np.asarray(yb) * 2)
    sizes = [len(np.asarray(yb)) for _, yb in feed.dataset]
    assert sizes == [16, 16, 16, 16, 6]


@tf_only
def test_same_seed_same_orders_and_epoch_k_does_not_depend_on_earlier_epochs():
    y = np.arange(50)
    first = _epoch_orders(epoch_shuffled((y, y), 10, seed=7), [0, 1, 2])
    again = _epoch_orders(epoch_shuffled((y, y), 10, seed=7), [2])  # as a run resumed at epoch 2
    other = _epoch_orders(epoch_shuffled((y, y), 10, seed=8), [0])
    np.testing.assert_array_equal(first[2], again[0])
    assert not np.array_equal(first[0], other[0])


@tf_only
def test_bad_arguments_are_one_line_errors():
    with pytest.raises(ValueError, match="equal lengths; received \\[4, 3\\]"):
        epoch_shuffled((np.zeros(4), np.zeros(3)), 2)
    with pytest.raises(ValueError, match="batch_size must be a positive integer; received 0"):
        epoch_shuffled((np.zeros(4),), 0)


@pytest.mark.backends
def test_fit_inputs_feeds_only_what_it_can_shuffle_itself():
    x, y = np.zeros((8, 2), "float32"), np.arange(8)
    tf_backend = keras.backend.backend() == "tensorflow"
    inputs, extra = fit_inputs(x, y, 4, seed=1)
    assert (set(inputs) == {"x", "shuffle"} and len(extra) == 1) if tf_backend else (inputs["x"] is x and not extra)
    for kwargs in ({"shuffle": False}, {"shuffle": "batch"}, {"validation_split": 0.25}):
        inputs, extra = fit_inputs(x, y, 4, **kwargs)
        assert inputs["x"] is x and inputs["y"] is y and inputs["batch_size"] == 4 and not extra, kwargs
    assert fit_inputs(x, y, 4, validation_split=0.25)[0]["validation_split"] == 0.25
    assert fit_inputs(x, None, 4)[1] == [] and fit_inputs(list(x), list(y), 4)[1] == []
    weights = np.ones(8)
    inputs, _ = fit_inputs(x, y, 4, sample_weight=weights, shuffle=False)
    assert inputs["sample_weight"] is weights


@pytest.mark.backends
def test_other_backends_keep_their_own_shuffle():
    feed = epoch_shuffled((np.zeros(4), np.zeros(4)), 2)
    assert (feed is None) == (keras.backend.backend() != "tensorflow")


def _order_recorder(seen):
    inputs = keras.Input((1,))
    model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    model.compile("sgd", "mse", run_eagerly=True)
    step = model.train_step

    def recording_step(*args):  # (data) on TensorFlow, (state, data) on JAX
        seen.append(int(np.asarray(args[-1][1])[0]))
        return step(*args)

    model.train_step = recording_step
    return model


def _first_labels_per_epoch(seen, batches_per_epoch):
    return [tuple(seen[i : i + batches_per_epoch]) for i in range(0, len(seen), batches_per_epoch)]


def _fit_three_epochs(config, run):
    seen = []
    x = np.zeros((64, 1), dtype="float32")
    run.fit(_order_recorder(seen), x, np.arange(64).astype("float32"), label="order", epochs=3, batch_size=8)
    run.metric("orders", _first_labels_per_epoch(seen, 8))


ORDER = Experiment(
    name="order",
    slides="17",
    title="Order",
    summary="records the batch order",
    spec=RunSpec(seed=0, epochs=3),
    run=_fit_three_epochs,
)


@pytest.mark.backends
def test_run_fit_shuffles_anew_every_epoch_and_reproducibly(tmp_path):
    import json

    orders = []
    for out in ("a", "b"):
        run_dir = run_experiment(ORDER, resolve_config(ORDER), out_root=tmp_path / out)
        with open(os.path.join(run_dir, "metrics.json")) as fh:
            orders.append(json.load(fh)["orders"])
    assert len({tuple(epoch) for epoch in orders[0]}) == 3, orders[0]  # a new batch order each epoch
    assert orders[0] == orders[1]  # the same seed gives the same orders


@tf_only
@pytest.mark.filterwarnings("ignore:Even though the `tf.config.experimental_run_functions_eagerly`")
def test_pretraining_and_fine_tuning_shuffle_anew_every_epoch():
    import tensorflow as tf

    from toolkit.autoencoders import build_autoencoder
    from toolkit.pretraining import StageCallback, attach_head, fine_tune, pretrain_greedy

    keras.utils.set_random_seed(0)
    x = np.arange(40, dtype="float32").reshape(40, 1)
    parts = build_autoencoder(1, code_units=2)
    model = attach_head(parts.encoder, 1, task="regression")
    seen = []
    for target in (model, parts.model):
        step = target.train_step

        def recording_step(data, step=step):
            seen.append(int(np.asarray(data[1]).reshape(-1)[0]))
            return step(data)

        target.train_step = recording_step
    tf.config.run_functions_eagerly(True)  # fine_tune recompiles: keep the steps eager anyway
    try:
        fine_tune(model, parts.encoder, x, x, epochs=3, frozen_epochs=1, batch_size=10)
        tuned = _first_labels_per_epoch(seen, 4)
        seen.clear()

        class Record(StageCallback):
            def on_stage_begin(self, stage, info):
                step = info.model.train_step
                info.model.train_step = lambda data: (seen.append(int(np.asarray(data[1]).reshape(-1)[0])), step(data))[
                    1
                ]

        pretrain_greedy(parts, x, epochs=3, batch_size=10, verbose=0, stage_callbacks=[Record()])
    finally:
        tf.config.run_functions_eagerly(False)
    assert len(tuned) == 3 and len(set(tuned)) == 3, tuned
    pretrained = _first_labels_per_epoch(seen, 4)
    assert len(pretrained) == 3 and len(set(pretrained)) == 3, pretrained
