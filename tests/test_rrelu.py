"""RReLU (slide 27): random slopes in training, their mean at inference, on every backend;
PReLU with one learned slope per channel."""

import keras
import numpy as np
import pytest

from tests.harness import predict_in_fresh_process, run_model_saving_test
from toolkit.errors import ToolkitError
from toolkit.layers import PReLU, RReLU

NEG = -np.linspace(0.5, 3.0, 4000, dtype="float32").reshape(40, 100)


def _slopes(layer, training):
    return keras.ops.convert_to_numpy(layer(NEG, training=training)) / NEG


@pytest.mark.backends
def test_training_slopes_are_drawn_inside_lower_upper():
    layer = RReLU(lower=0.1, upper=0.3, seed=1)
    slopes = _slopes(layer, training=True)
    assert slopes.min() >= 0.1 - 1e-6 and slopes.max() <= 0.3 + 1e-6
    assert slopes.std() > 0.04  # U(0.1, 0.3): std 0.058 — drawn per element, not one value
    assert abs(slopes.mean() - 0.2) < 0.005
    positive = np.abs(NEG)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(positive, training=True)), positive)


@pytest.mark.backends
def test_inference_slope_is_exactly_the_mean_and_repeatable():
    layer = RReLU(seed=1)
    first = _slopes(layer, training=False)
    np.testing.assert_allclose(first, np.float32((1 / 8 + 1 / 3) / 2), rtol=1e-6)
    np.testing.assert_array_equal(first, _slopes(layer, training=False))
    np.testing.assert_array_equal(first, _slopes(layer, training=None))  # default is inference


@pytest.mark.backends
def test_each_training_call_draws_new_slopes_and_a_seed_fixes_the_sequence():
    a, b = RReLU(seed=7), RReLU(seed=7)
    a1, a2 = _slopes(a, True), _slopes(a, True)
    assert not np.allclose(a1, a2)
    np.testing.assert_array_equal(a1, _slopes(b, True))
    np.testing.assert_array_equal(a2, _slopes(b, True))


@pytest.mark.backends
def test_draws_differ_between_steps_of_a_compiled_fit():
    """Under jit (JAX) or tf.function the seed state must be threaded through each step:
    with learning rate 0 the weights never change, so the only thing that can move the
    running-mean loss from step to step is a new draw of slopes."""
    inputs = keras.Input((50,))
    out = keras.layers.Dense(1, use_bias=False, kernel_initializer="ones", name="sum")(RReLU(seed=3)(inputs))
    model = keras.Model(inputs, out)
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse", jit_compile=True)
    x, y = -np.ones((8, 50), "float32"), np.zeros((8, 1), "float32")
    losses = []
    cb = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: losses.append(float(logs["loss"])))
    model.fit(np.repeat(x, 6, axis=0), np.repeat(y, 6, axis=0), batch_size=8, epochs=1, verbose=0, callbacks=[cb])
    assert len(losses) == 6 and len(set(np.round(losses, 6))) > 1, losses
    # inference is deterministic inside predict too
    np.testing.assert_array_equal(model.predict(x, verbose=0), model.predict(x, verbose=0))


def test_bad_arguments_raise_toolkit_errors():
    for kwargs in (
        {"lower": 0.5, "upper": 0.1},
        {"lower": -0.1},
        {"upper": float("inf")},
        {"lower": "a"},
        {"seed": 1.5},
    ):
        with pytest.raises(ToolkitError):
            RReLU(**kwargs)


def _rrelu_model():
    inputs = keras.Input((6,))
    return keras.Model(
        inputs,
        keras.layers.Dense(3, name="head")(RReLU(seed=2, name="act")(keras.layers.Dense(6, name="dense1")(inputs))),
    )


X6 = np.random.default_rng(0).normal(size=(5, 6)).astype("float32")


def test_config_round_trip_and_keras_file(tmp_path):
    layer = RReLU(lower=0.05, upper=0.4, seed=11, name="act")
    clone = RReLU.from_config(layer.get_config())
    assert (clone.lower, clone.upper, clone.seed, clone.name) == (0.05, 0.4, 11, "act")
    run_model_saving_test(_rrelu_model(), X6, tmp_path)


@pytest.mark.slow
def test_keras_file_reloads_in_a_fresh_process_without_custom_objects(tmp_path):
    model = _rrelu_model()
    path = run_model_saving_test(model, X6, tmp_path)
    np.testing.assert_allclose(
        predict_in_fresh_process(path, X6, tmp_path), keras.ops.convert_to_numpy(model(X6, training=False)), atol=1e-6
    )


def test_prelu_learns_one_slope_per_channel_whatever_the_rank(tmp_path):
    dense = PReLU()
    dense.build((None, 7))
    conv = PReLU()
    conv.build((None, 5, 5, 3))
    per_element = PReLU(per_channel=False)
    per_element.build((None, 5, 5, 3))
    assert tuple(dense.alpha.shape) == (7,) and tuple(conv.alpha.shape) == (1, 1, 3)
    assert tuple(per_element.alpha.shape) == (5, 5, 3)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(conv.alpha), 0.25)
    with pytest.raises(ToolkitError, match="per_channel"):
        PReLU(shared_axes=[1, 2])
    inputs = keras.Input((4, 4, 2))
    model = keras.Model(inputs, PReLU(name="act")(keras.layers.Conv2D(2, 3, name="conv")(inputs)))
    x = np.random.default_rng(0).normal(size=(3, 4, 4, 2)).astype("float32")
    run_model_saving_test(model, x, tmp_path)
    assert PReLU.from_config(model.get_layer("act").get_config()).per_channel is True
