"""The generic deep MLP builder."""

import keras
import numpy as np
import pytest

from tests.harness import assert_every_weight_trains, run_model_saving_test
from toolkit.errors import ToolkitError
from toolkit.layers import RReLU
from toolkit.mlp import build_mlp

X = np.random.default_rng(0).integers(0, 256, size=(6, 5, 5, 1), dtype=np.uint8)
Y = np.arange(6) % 3


def test_default_is_ten_sigmoid_layers_of_256_with_named_layers():
    model = build_mlp((28, 28, 1))
    names = [layer.name for layer in model.layers]
    assert names[:3] == ["input", "rescale", "flatten"] and names[-1] == "head"
    for k in range(1, 11):
        assert model.get_layer(f"dense{k}").units == 256
        assert model.get_layer(f"act{k}").activation.__name__ == "sigmoid"
    assert model.output_shape == (None, 10) and "dense11" not in names


def test_options_shape_the_network():
    model = build_mlp(
        5,
        hidden_units=[4, 3],
        activation={"name": "rrelu", "seed": 1},
        num_classes=None,
        input_scale=None,
        kernel_initializer="he_normal",
        name="body",
    )
    assert [layer.name for layer in model.layers] == ["input", "dense1", "act1", "dense2", "act2"]
    assert isinstance(model.get_layer("act2"), RReLU) and model.output_shape == (None, 3) and model.name == "body"
    assert model.get_layer("dense1").kernel_initializer.__class__.__name__ == "HeNormal"


def test_uint8_images_are_scaled_and_every_weight_trains():
    model = build_mlp((5, 5, 1), hidden_units=(8, 8), activation="relu", num_classes=3)
    out = keras.ops.convert_to_numpy(model(X))
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)
    assert_every_weight_trains(model, X, Y, loss="sparse_categorical_crossentropy")


@pytest.mark.backends
def test_saving_with_each_lecture_activation(tmp_path):
    for act in ("tanh", "leaky_relu", "prelu", "rrelu"):
        model = build_mlp((5, 5, 1), hidden_units=(4, 4), activation=act, num_classes=3, name=f"mlp_{act}")
        run_model_saving_test(model, X, tmp_path)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"hidden_units": ()}, "hidden_units must be a non-empty"),
        ({"hidden_units": (784, 0)}, r"received \(784, 0\)"),
        ({"hidden_units": (8, True)}, "hidden_units"),
        ({"hidden_units": 8}, "hidden_units"),
        ({"activation": "sigmod"}, "unknown activation 'sigmod'"),
        ({"num_classes": 1}, "num_classes"),
        ({"num_classes": 2.5}, "num_classes"),
        ({"input_scale": 0}, "input_scale"),
        ({"kernel_initializer": "glorot"}, "kernel_initializer"),
        ({"name": ""}, "name"),
    ],
)
def test_bad_arguments_raise_one_line_toolkit_errors(kwargs, message):
    with pytest.raises(ToolkitError, match=message) as info:
        build_mlp((5, 5, 1), **kwargs)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("shape", [(), (28, 0), (28, None), "28", (28.0,)])
def test_bad_input_shapes(shape):
    with pytest.raises(ToolkitError, match="input_shape"):
        build_mlp(shape)
