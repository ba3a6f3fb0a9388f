"""The model zoo (slide 56): names, shapes, parameter counts, a training step, `.keras`.

Every per-model test parametrises over ``list_models()``, so a newly registered model runs
them all; a model missing from ``PARAMS`` fails until its expected count is written down.
"""

import os

import keras
import numpy as np
import pytest

from harness import run_model_saving_test
from toolkit.models import build_model, list_models, register_model

MODELS = list_models()
# Models whose natural input is a 28x28 grey digit (the rest are CIFAR-sized).
MNIST_SIZED = {"simple_convnet", "cnn_mnist"}


def trainable_count(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def test_registry_lists_and_refuses_unknown_names():
    assert {
        "lenet5",
        "alexnet",
        "vgg11",
        "vgg16",
        "googlenet",
        "resnet20",
        "resnet56",
        "resnet9",
        "simple_convnet",
        "cnn_mnist",
    } <= set(list_models())
    assert list(list_models()) == sorted(list_models())
    with pytest.raises(ValueError, match=r"unknown model 'resnet21'; valid: .*resnet20.*Did you mean"):
        build_model("resnet21")
    with pytest.raises(ValueError, match="bad options"):
        build_model("resnet20", depth=3)
    with pytest.raises(ValueError, match="already registered"):
        register_model(lambda **kw: None, name="resnet20")


# Trainable parameters at 32x32x3, 10 classes (count_params adds BatchNorm's moving statistics).
PARAMS = {
    "resnet20": 269_722,  # He et al. 2016, table 6: 0.27M
    "resnet56": 853_018,  # 0.85M
    "lenet5": 62_006,
    "alexnet": 4_682_826,
    "vgg11": 9_228_362,  # the usual CIFAR VGG-11 (9.2M)
    "vgg16": 14_724_042,  # the usual CIFAR VGG-16 (14.7M)
    "googlenet": 2_223_770,
    "resnet9": 6_573_130,  # Page 2018 (6.5M)
    "simple_convnet": 42_442,
    "cnn_mnist": 358_570,  # 2400 + 18432 + 73728 (convs, no bias) + 448 (BN gamma, beta) + 262272 + 1290
}


@pytest.mark.parametrize("name", MODELS)
def test_parameter_counts_and_output_at_32x32x3(name):
    assert name in PARAMS, f"registered model {name!r} has no expected parameter count in PARAMS: add it"
    model = build_model(name, input_shape=(32, 32, 3), num_classes=10)
    assert model.output_shape == (None, 10)
    assert model.name == name
    assert trainable_count(model) == PARAMS[name]


def test_params_table_names_only_registered_models():
    assert set(PARAMS) <= set(MODELS), sorted(set(PARAMS) - set(MODELS))


def test_simple_convnet_matches_the_keras_example():
    model = build_model("simple_convnet", input_shape=(28, 28, 1))
    assert model.count_params() == 34_826


def test_resnet_shortcuts_and_names():
    a = build_model("resnet20")
    b = build_model("resnet20", shortcut="B")
    assert trainable_count(b) > trainable_count(a)
    names = {layer.name for layer in a.layers}
    assert {"stem_conv", "stage2_block1_short_pad", "stage3_block3_add", "head"} <= names
    assert "stage2_block1_short_conv" in {layer.name for layer in b.layers}


@pytest.mark.parametrize("name", MODELS)
def test_every_model_builds_for_mnist_shapes(name):
    model = build_model(name, input_shape=(28, 28, 1), num_classes=7)
    assert model.output_shape == (None, 7)
    assert model.get_layer("rescale") is not None and model.get_layer("head") is not None


def assert_train_step_changes_every_weight(model, x, y):
    """harness.assert_every_weight_trains, but eager on TensorFlow: tracing a 56-layer train
    step as a tf.function costs 20-50 s on 2 CPU cores, running it once eagerly ~3 s."""
    model.compile(
        optimizer=keras.optimizers.SGD(0.01),
        loss="sparse_categorical_crossentropy",
        run_eagerly=keras.backend.backend() == "tensorflow",
    )
    before = [np.array(keras.ops.convert_to_numpy(v)) for v in model.trainable_variables]
    model.train_on_batch(x, y)
    unchanged = []
    for var, old in zip(model.trainable_variables, before):
        new = keras.ops.convert_to_numpy(var)
        assert np.all(np.isfinite(new)), f"{var.path} is not finite after one step"
        if np.array_equal(new, old):
            unchanged.append(var.path)
    assert not unchanged, f"no gradient reached: {unchanged}"


# Heavy models run the step and the round trip at reduced width (same structure and layer
# names, a fraction of the weights) to keep the suite fast on a 2-core CPU.
LIGHT = {
    "vgg16": {"width": 0.125},
    "vgg11": {"width": 0.125},
    "alexnet": {"width": 0.25},
    "resnet9": {"width": 0.125},
    "googlenet": {"width": 0.25},
}


# On JAX every model's first train step and eager predictions compile op by op with XLA on
# the CPU (googlenet alone takes minutes on 2 busy cores), so under JAX the deep or repeated
# structures run only with --run-slow; the fast set still covers every block type (fused and
# separate activations, average and max pooling, conv_block residuals,
# global max pooling); residual option-A shortcuts are built-in layers only.
JAX_SLOW = {"alexnet", "vgg11", "vgg16", "googlenet", "resnet20", "resnet56", "cnn_mnist"}
ON_JAX = os.environ.get("KERAS_BACKEND") == "jax"


def _zoo_params():
    return [pytest.param(n, marks=pytest.mark.slow) if ON_JAX and n in JAX_SLOW else n for n in MODELS]


@pytest.mark.backends
@pytest.mark.parametrize("name", _zoo_params())
def test_every_model_trains_a_step_and_round_trips(name, tmp_path):
    shape = (28, 28, 1) if name in MNIST_SIZED else (32, 32, 3)
    model = build_model(name, input_shape=shape, num_classes=10, **LIGHT.get(name, {}))
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(2,) + shape).astype(np.uint8)
    y = np.array([3, 7])
    assert_train_step_changes_every_weight(model, x, y)
    run_model_saving_test(model, x, tmp_path, atol=1e-5)


@pytest.mark.backends
def test_zoo_model_takes_an_augment_pipeline():
    model = build_model("lenet5", input_shape=(28, 28, 1), augment={"crop_pad": 2, "rotation": 5})
    assert [layer.name for layer in model.layers[:3]] == ["image", "rescale", "augment"]
    x = np.zeros((2, 28, 28, 1), dtype=np.uint8)
    assert keras.ops.convert_to_numpy(model(x, training=True)).shape == (2, 10)
