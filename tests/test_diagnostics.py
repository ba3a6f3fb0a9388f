"""Per-layer gradient norms against hand-computed backprop (slide 22), the vanishing gradient
of deep sigmoid networks (slide 23), activation statistics and the two callbacks."""

import json

import keras
import numpy as np
import pytest

from toolkit.diagnostics import (
    ActivationStatsLogger,
    GradientNormLogger,
    activation_stats,
    gradient_ratio,
    layer_gradient_norms,
    read_jsonl,
)
from toolkit.errors import ToolkitError
from toolkit.mlp import build_mlp
from toolkit.plots.activations import plot_gradient_norms

RNG = np.random.default_rng(0)
X = RNG.normal(size=(4, 3))
Y = np.array([[0.0], [1.0], [1.0], [0.0]])
W1 = np.array([[0.2, -0.4], [0.1, 0.3], [-0.5, 0.2]])
B1 = np.array([0.1, -0.2])
W2 = np.array([[0.7], [-0.6]])
B2 = np.array([0.05])


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _two_layer_sigmoid():
    inputs = keras.Input((3,))
    h = keras.layers.Activation("sigmoid", name="act1")(keras.layers.Dense(2, name="dense1")(inputs))
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid", name="head")(h))
    model.set_weights([W1, B1, W2, B2])
    return model


def _hand_gradients():
    """Backprop by hand (slide 22): delta = error * f'(z), passed back through the weights."""
    a1 = _sigmoid(X @ W1 + B1)
    out = _sigmoid(a1 @ W2 + B2)
    delta2 = 2.0 * (out - Y) / len(X) * out * (1 - out)  # d(mean squared error)/dz2
    delta1 = (delta2 @ W2.T) * a1 * (1 - a1)
    return {"dense1": (X.T @ delta1, delta1.sum(0)), "head": (a1.T @ delta2, delta2.sum(0))}


@pytest.mark.backends
def test_norms_equal_hand_computed_backprop_of_a_two_layer_sigmoid_network():
    hand = _hand_gradients()
    norms = layer_gradient_norms(_two_layer_sigmoid(), X.astype("float32"), Y.astype("float32"), loss="mse")
    assert list(norms) == ["dense1", "head"]  # model order; the activation layer has no weights
    for name, (g_kernel, g_bias) in hand.items():
        assert norms[name] == pytest.approx(np.sqrt(np.sum(g_kernel**2) + np.sum(g_bias**2)), abs=1e-5, rel=1e-4)
    kernels = layer_gradient_norms(_two_layer_sigmoid(), X, Y, loss="mse", weights="kernel")
    for name, (g_kernel, _) in hand.items():
        assert kernels[name] == pytest.approx(np.linalg.norm(g_kernel), abs=1e-5, rel=1e-4)
    only = layer_gradient_norms(_two_layer_sigmoid(), X, Y, loss="mse", layer_names=["head"])
    assert list(only) == ["head"] and only["head"] == pytest.approx(norms["head"])


def test_compiled_loss_is_the_default_and_errors_are_one_line():
    model = _two_layer_sigmoid()
    with pytest.raises(ToolkitError, match="no loss"):
        layer_gradient_norms(model, X, Y)
    model.compile(loss="mse")
    assert layer_gradient_norms(model, X, Y)["head"] == pytest.approx(
        layer_gradient_norms(model, X, Y, loss="mse")["head"]
    )
    with pytest.raises(ToolkitError, match="layer 'act1' has no trainable weights"):
        layer_gradient_norms(model, X, Y, layer_names=["act1"])
    with pytest.raises(ToolkitError, match="unknown weights"):
        layer_gradient_norms(model, X, Y, weights="bias")


def test_measuring_changes_no_variable():
    inputs = keras.Input((3,))
    x = keras.layers.BatchNormalization(name="bn")(keras.layers.Dense(4, name="dense1")(inputs))
    model = keras.Model(inputs, keras.layers.Dense(1, name="head")(x))
    before = [keras.ops.convert_to_numpy(v).copy() for v in model.variables]
    layer_gradient_norms(model, X * 5 + 3, Y, loss="mse", training=True)
    for v, old in zip(model.variables, before):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(v), old)


def test_nested_models_are_measured_layer_by_layer():
    encoder = build_mlp(
        (3,), hidden_units=(4, 2), activation="tanh", num_classes=None, input_scale=None, name="encoder"
    )
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(1, name="head")(encoder(inputs)))
    norms = layer_gradient_norms(model, X, Y, loss="mse")
    assert list(norms) == ["encoder/dense1", "encoder/dense2", "head"]
    assert list(layer_gradient_norms(model, X, Y, loss="mse", layer_names="dense2")) == ["encoder/dense2"]


def test_gradient_ratio_is_first_over_last_hidden_weight_layer():
    norms = {"dense1": 2e-6, "act1": 0.5, "dense2": 1e-3, "dense3": 1e-2, "act3": 0.4, "head": 1.0}
    assert gradient_ratio(norms) == pytest.approx(2e-4)
    assert gradient_ratio(norms, exclude=()) == pytest.approx(2e-6)
    assert gradient_ratio({"a": 1.0, "b": 0.0}) == float("inf")
    with pytest.raises(ToolkitError, match="at least two layers"):
        gradient_ratio({"dense1": 1.0, "head": 1.0})


@pytest.mark.backends
def test_deep_sigmoid_gradient_vanishes_and_relu_does_not_on_random_images():
    """Slide 23 on random 'images' (no data needed): 10 hidden layers at initialisation."""
    x = RNG.integers(0, 256, size=(64, 8, 8, 1), dtype=np.uint8)
    y = RNG.integers(0, 10, size=64)
    ratios = {}
    for act in ("sigmoid", "tanh", "relu"):
        keras.utils.set_random_seed(0)
        model = build_mlp((8, 8, 1), hidden_units=(64,) * 10, activation=act)
        ratios[act] = gradient_ratio(layer_gradient_norms(model, x, y, loss="sparse_categorical_crossentropy"))
    assert ratios["sigmoid"] < 1e-3 < 1e-1 < ratios["tanh"], ratios
    assert ratios["sigmoid"] < 1e-3 * ratios["relu"], ratios


@pytest.mark.data
def test_on_real_mnist_the_sigmoid_ratio_is_orders_of_magnitude_below_relu(data_dir):
    from toolkit.data import load_dataset

    ds = load_dataset("mnist", data_dir=data_dir, limit=300)
    ratios = {}
    for act in ("sigmoid", "relu"):
        keras.utils.set_random_seed(0)
        model = build_mlp(ds.image_shape, activation=act)  # 10 x 256, as in the experiment
        norms = layer_gradient_norms(model, ds.x_train, ds.y_train, loss="sparse_categorical_crossentropy")
        ratios[act] = gradient_ratio(norms)
    # measured: sigmoid ~2e-6, relu ~0.5 (Glorot-uniform initialisation)
    assert ratios["sigmoid"] < 1e-4 and ratios["relu"] > 1e-2, ratios
    assert ratios["relu"] / ratios["sigmoid"] > 1e3, ratios


def _sat_dead_model():
    """Hidden units with chosen weights: sigmoid units 0-1 saturated, ReLU unit 0 dead."""
    inputs = keras.Input((2,))
    sig = keras.layers.Activation("sigmoid", name="act_sig")(keras.layers.Dense(3, name="d_sig")(inputs))
    relu = keras.layers.Dense(3, activation="relu", name="d_relu")(inputs)
    model = keras.Model(
        inputs,
        keras.layers.Dense(2, activation="softmax", name="head")(keras.layers.Concatenate(name="cat")([sig, relu])),
    )
    model.get_layer("d_sig").set_weights([np.zeros((2, 3)), np.array([10.0, -10.0, 0.0])])
    model.get_layer("d_relu").set_weights([np.array([[0.0, 1.0, 1.0], [0.0, 0.0, 0.0]]), np.array([-1.0, 0.0, 5.0])])
    return model


def test_activation_stats_means_saturated_and_dead_fractions():
    x = np.array([[1.0, 0.0], [-1.0, 0.0], [2.0, 0.0], [-3.0, 0.0]], "float32")
    stats = activation_stats(_sat_dead_model(), x)
    assert list(stats) == ["act_sig", "d_relu"]  # the softmax head and linear layers are skipped
    sig = stats["act_sig"]
    assert sig["kind"] == "sigmoid" and sig["saturated"] == pytest.approx(2 / 3)
    assert sig["mean"] == pytest.approx((_sigmoid(10) + _sigmoid(-10) + 0.5) / 3, rel=1e-6)
    relu = stats["d_relu"]
    relu_out = np.maximum(x @ np.array([[0.0, 1.0, 1.0], [0.0, 0.0, 0.0]]) + np.array([-1.0, 0.0, 5.0]), 0)
    assert relu["kind"] == "relu" and relu["dead"] == pytest.approx(1 / 3)  # unit 1 is alive on x=1, 2
    assert relu["mean"] == pytest.approx(relu_out.mean(), rel=1e-6)
    assert activation_stats(_sat_dead_model(), x, layer_names=["d_relu"]) == {"d_relu": relu}
    with pytest.raises(ToolkitError, match="unknown activation layer"):
        activation_stats(_sat_dead_model(), x, layer_names=["head"])


def test_tanh_saturation_threshold():
    inputs = keras.Input((1,))
    model = keras.Model(inputs, keras.layers.Activation("tanh", name="act1")(inputs))
    x = np.array([[-3.0], [-1.0], [0.0], [1.0], [2.5]], "float32")  # |tanh| > 0.95 for |x| > 1.83
    assert activation_stats(model, x)["act1"]["saturated"] == pytest.approx(2 / 5)


@pytest.mark.backends
def test_callbacks_record_initialisation_and_each_epoch(tmp_path):
    x = RNG.integers(0, 256, size=(32, 4, 4, 1), dtype=np.uint8)
    y = RNG.integers(0, 3, size=32)
    model = build_mlp((4, 4, 1), hidden_units=(8, 8, 8), activation="relu", num_classes=3)
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="sparse_categorical_crossentropy")
    grads = GradientNormLogger(x[:16], y[:16], path=tmp_path / "run" / "gradient_norms.jsonl")
    stats = ActivationStatsLogger(x[:16], path=tmp_path / "run" / "activation_stats.jsonl")
    model.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[grads, stats])
    records = read_jsonl(tmp_path / "run" / "gradient_norms.jsonl")
    assert records == json.loads(json.dumps(grads.records))
    assert [r["epoch"] for r in records] == [0, 1, 2]
    assert list(records[0]["norms"]) == ["dense1", "dense2", "dense3", "head"]
    assert records[0]["ratio"] == pytest.approx(records[0]["norms"]["dense1"] / records[0]["norms"]["dense3"])
    assert records[0]["norms"] != records[1]["norms"]  # measured on the trained weights
    plot_gradient_norms(grads.norms_by_epoch(), tmp_path / "run" / "gradient_norms.png")  # the plots module draws
    assert (tmp_path / "run" / "gradient_norms.png").stat().st_size > 0
    act = read_jsonl(tmp_path / "run" / "activation_stats.jsonl")
    assert [r["epoch"] for r in act] == [0, 1, 2]
    assert set(act[0]["layers"]) == {"act1", "act2", "act3"}
    assert set(act[2]["layers"]["act1"]) == {"kind", "mean", "dead"}
    with pytest.raises(ToolkitError, match="every"):
        GradientNormLogger(x, y, every=0)


def test_plot_gradient_norms_accepts_different_layer_sets(tmp_path):
    path = plot_gradient_norms(
        {"a": {"dense1": 1e-5, "head": 0.1}, "b": {"dense1": 0.0, "dense2": 1.0}}, tmp_path / "g.png"
    )
    assert (tmp_path / "g.png").stat().st_size > 0 and str(path).endswith("g.png")
    with pytest.raises(ToolkitError):
        plot_gradient_norms({}, tmp_path / "empty.png")


def test_diagnostics_imports_nothing_from_plots():
    """diagnostics measures, toolkit.plots draws: no import (even a deferred one) back the other way."""
    import ast
    import inspect

    import toolkit.diagnostics

    tree = ast.parse(inspect.getsource(toolkit.diagnostics))
    imported = [node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    imported += [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    assert not [name for name in imported if name and name.startswith("toolkit.plots")], imported
