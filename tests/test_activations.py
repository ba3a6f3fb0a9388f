"""The activation resolver, derivatives by autodiff against closed forms, the figure (slides 21–27)."""

import os

import keras
import numpy as np
import pytest

from toolkit.activations import LECTURE_ACTIVATIONS, activation_label, activation_names, get_activation
from toolkit.diagnostics import activation_derivative
from toolkit.errors import ToolkitError
from toolkit.layers import PReLU, RReLU

X = np.array([-3.0, -1.0, -0.25, 0.5, 2.0], dtype="float32")


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def test_every_name_resolves_to_a_named_layer_that_runs():
    for name in activation_names():
        layer = get_activation(name, name="blk_act")
        assert isinstance(layer, keras.layers.Layer) and layer.name == "blk_act", name
        out = keras.ops.convert_to_numpy(layer(np.zeros((2, 4), "float32")))
        assert out.shape == (2, 4) and np.all(np.isfinite(out)), name


def test_lecture_activations_compute_their_formulas():
    x = X.reshape(-1, 1)
    expected = {
        "sigmoid": _sigmoid(X),
        "tanh": np.tanh(X),
        "relu": np.maximum(X, 0),
        "leaky_relu": np.where(X >= 0, X, 0.2 * X),
        "prelu": np.where(X >= 0, X, 0.25 * X),
        "rrelu": np.where(X >= 0, X, X * (1 / 8 + 1 / 3) / 2),
    }
    assert set(expected) == set(LECTURE_ACTIVATIONS)
    for name, want in expected.items():
        got = keras.ops.convert_to_numpy(get_activation(name)(x, training=False)).reshape(-1)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7, err_msg=name)


def test_unknown_name_is_a_value_error_listing_the_valid_names():
    with pytest.raises(ValueError, match=r"unknown activation 'sigmod'.*sigmoid, tanh, relu.*rrelu.*'sigmoid'"):
        get_activation("sigmod")
    with pytest.raises(ToolkitError, match="'name' key"):
        get_activation({"negative_slope": 0.1})
    with pytest.raises(ToolkitError, match="received 3"):
        get_activation(3)


def test_options_go_to_the_layer_and_bad_options_raise():
    assert get_activation({"name": "leaky_relu", "negative_slope": 0.05}).negative_slope == 0.05
    assert get_activation({"name": "prelu", "per_channel": False}).per_channel is False
    layer = get_activation({"name": "rrelu", "lower": 0.1, "upper": 0.2, "seed": 3})
    assert isinstance(layer, RReLU) and (layer.lower, layer.upper, layer.seed) == (0.1, 0.2, 3)
    with pytest.raises(ToolkitError, match="bad options"):
        get_activation({"name": "relu", "alpha": 1})
    with pytest.raises(ToolkitError, match="bad options"):
        get_activation({"name": "leaky_relu", "slope": 1})
    with pytest.raises(ToolkitError, match="lower <= upper"):
        get_activation({"name": "rrelu", "lower": 0.5, "upper": 0.1})


def test_a_layer_instance_is_copied_with_the_requested_name():
    template = PReLU(per_channel=True)
    a, b = get_activation(template, name="act1"), get_activation(template, name="act2")
    assert a is not template and a is not b
    assert (a.name, b.name, type(a)) == ("act1", "act2", PReLU)
    assert activation_label(template) == "prelu" and activation_label({"name": "rrelu"}) == "rrelu"


@pytest.mark.backends
def test_derivatives_by_autodiff_match_the_closed_forms():
    s = _sigmoid(X)
    np.testing.assert_allclose(activation_derivative("sigmoid", X), s * (1 - s), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(activation_derivative("tanh", X), 1 - np.tanh(X) ** 2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(activation_derivative("relu", X), (X > 0).astype("float32"))
    np.testing.assert_allclose(activation_derivative("leaky_relu", X), np.where(X > 0, 1.0, 0.2), rtol=1e-6)
    np.testing.assert_allclose(activation_derivative("prelu", X), np.where(X > 0, 1.0, 0.25), rtol=1e-6)
    np.testing.assert_allclose(activation_derivative("rrelu", X), np.where(X > 0, 1.0, (1 / 8 + 1 / 3) / 2), rtol=1e-6)
    grid = np.linspace(-5, 5, 1001, dtype="float32")  # contains 0 exactly
    for name, peak in (("sigmoid", 0.25), ("tanh", 1.0)):
        d = activation_derivative(name, grid)
        assert d.max() == pytest.approx(peak, rel=1e-6) and grid[np.argmax(d)] == 0.0, name
    # the shape of the input is kept
    assert activation_derivative("tanh", np.zeros((2, 3))).shape == (2, 3)


@pytest.mark.backends
def test_rrelu_derivative_in_training_is_a_drawn_slope():
    d = activation_derivative({"name": "rrelu", "seed": 1}, -np.ones(200), training=True)
    assert np.all((d >= 1 / 8) & (d <= 1 / 3)) and d.std() > 0.01


def test_softmax_has_no_derivative_curve():
    with pytest.raises(ToolkitError, match="not an elementwise"):
        activation_derivative("softmax", X)


def test_plot_activations_writes_a_png(tmp_path):
    from toolkit.plots.activations import plot_activations

    path = plot_activations(list(LECTURE_ACTIVATIONS) + ["elu"], tmp_path / "activations.png")
    with open(path, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    assert os.path.getsize(path) > 10_000
