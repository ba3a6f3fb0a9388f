"""The CNN builder (slides 49–54): named blocks, spec validation, the simple convnet."""

import inspect

import keras
import numpy as np
import pytest

from harness import assert_every_weight_trains, run_model_saving_test
from toolkit.cnn import BLOCK_KEYS, BLOCK_REQUIRED, build_cnn, check_block_spec, conv_block
from toolkit.errors import ToolkitError
from toolkit.layers import RReLU

SIMPLE = [
    {"filters": 32, "padding": "valid", "pool": "max", "fuse_activation": True},
    {"filters": 64, "padding": "valid", "pool": "max", "fuse_activation": True},
]


def test_conv_block_names_every_layer():
    inputs = keras.Input((12, 12, 3))
    out = conv_block(inputs, 4, batch_norm=True, pool="average", dropout=0.1, name="block7")
    model = keras.Model(inputs, out)
    assert [layer.name for layer in model.layers[1:]] == [
        "block7_conv",
        "block7_bn",
        "block7_act",
        "block7_pool",
        "block7_drop",
    ]
    assert model.get_layer("block7_conv").use_bias is False  # BN makes the bias redundant
    assert tuple(out.shape) == (None, 6, 6, 4)
    twice = conv_block(inputs, 4, convs=2, name="b")
    assert keras.Model(inputs, twice).get_layer("b_conv2").name == "b_conv2"


def test_simple_mnist_convnet_is_exactly_the_keras_example():
    model = build_cnn((28, 28, 1), SIMPLE, dense_units=(), dropout=0.5)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == [
        "InputLayer",
        "Rescaling",
        "Conv2D",
        "MaxPooling2D",
        "Conv2D",
        "MaxPooling2D",
        "Flatten",
        "Dropout",
        "Dense",
    ]
    assert model.count_params() == 34826
    assert model.get_layer("head").activation.__name__ == "softmax"
    assert model.get_layer("block1_conv").padding == "valid"
    assert model.get_layer("block1_conv").activation.__name__ == "relu"
    with pytest.raises(ToolkitError, match="block1: fuse_activation needs"):
        build_cnn((28, 28, 1), [{"filters": 4, "fuse_activation": True, "activation": "rrelu"}])


def test_layers_are_named_by_block_and_activation_goes_through_the_resolver():
    blocks = [{"filters": 8, "batch_norm": True, "pool": "max"}, {"filters": 8, "activation": "tanh", "strides": 2}]
    model = build_cnn((16, 16, 3), blocks, dense_units=(16, 8), dropout=0.2, activation="rrelu", num_classes=5)
    names = {layer.name for layer in model.layers}
    for name in (
        "rescale",
        "block1_conv",
        "block1_bn",
        "block1_act",
        "block1_pool",
        "block2_conv",
        "block2_act",
        "flatten",
        "fc1_drop",
        "fc1_dense",
        "fc1_act",
        "fc2_dense",
        "head_drop",
        "head",
    ):
        assert name in names, name
    assert isinstance(model.get_layer("block1_act"), RReLU)
    assert model.get_layer("block2_act").activation.__name__ == "tanh"
    assert model.output_shape == (None, 5)
    assert model.get_layer("block2_conv").output.shape[1:3] == (4, 4)


@pytest.mark.parametrize("head", ["global_average", "global_max"])
def test_global_pooling_heads(head):
    model = build_cnn((10, 10, 1), [{"filters": 6}], head=head, dense_units=(), num_classes=2, input_scale=None)
    assert model.get_layer("global_pool").output.shape == (None, 6)
    assert "rescale" not in {layer.name for layer in model.layers}


def test_impossible_spec_names_the_block_and_the_shapes():
    five_pools = [{"filters": 4, "pool": "max"}] * 5  # 28 -> 14 -> 7 -> 3 -> 1 -> ?
    with pytest.raises(ValueError, match=r"block5: 2x2 max pooling cannot run on a 1x1 feature map") as err:
        build_cnn((28, 28, 1), five_pools)
    assert "\n" not in str(err.value)
    impossible = r"block2: a 5x5 conv with valid padding cannot run on a 4x4 input \(output would be 0x0\)"
    with pytest.raises(ToolkitError, match=impossible):
        build_cnn(
            (6, 6, 1),
            [
                {"filters": 4, "padding": "valid", "pool": "max", "pool_size": 1},
                {"filters": 4, "kernel_size": 5, "padding": "valid"},
            ],
        )
    # "same" pooling never goes below 1x1: 28 -> 14 -> 7 -> 4 -> 2 -> 1
    same = build_cnn((28, 28, 1), [{"filters": 4, "pool": "max", "pool_padding": "same"}] * 5, dense_units=())
    assert same.get_layer("block5_pool").output.shape[1:3] == (1, 1)


def test_block_keys_and_defaults_come_from_conv_block_signature():
    params = inspect.signature(conv_block).parameters
    assert BLOCK_KEYS == tuple(key for key in params if key not in ("x", "name"))
    assert BLOCK_REQUIRED == ("filters",)
    options, hw = check_block_spec({"filters": 4}, 1, (8, 8), default_activation="tanh")
    assert set(options) == set(BLOCK_KEYS) and hw == (8, 8)
    assert options["activation"] == "tanh"  # the model's activation, not conv_block's "relu"
    for key in set(BLOCK_KEYS) - {"filters", "activation"}:
        default = params[key].default
        assert options[key] in (default, (default, default)), key  # sizes come back as pairs
    # a spec is conv_block's keyword arguments: every key goes straight through
    spec = {
        "filters": 4,
        "kernel_size": 5,
        "strides": 2,
        "padding": "valid",
        "batch_norm": True,
        "pool": "average",
        "pool_size": 1,
        "pool_padding": "same",
        "dropout": 0.25,
        "convs": 2,
        "fuse_activation": False,
        "activation": "tanh",
    }
    assert set(spec) == set(BLOCK_KEYS)
    model = build_cnn((16, 16, 1), [spec], dense_units=())
    assert model.get_layer("block1_conv1").kernel_size == (5, 5) and model.get_layer("block1_drop").rate == 0.25


@pytest.mark.parametrize(
    "blocks,message",
    [
        ([], "at least one block"),
        ([{"filters": 8, "kernal_size": 3}], r"block1: unknown block keys \['kernal_size'\]; valid: filters"),
        ([{"kernel_size": 3}], "block1: a block spec needs 'filters'"),
        ([{"filters": 8}, {"filters": 0}], "block2: filters must be a positive int; received 0"),
        ([{"filters": True}], "block1: filters must be a positive int; received True"),
        ([{"filters": 8, "kernel_size": (3, 0)}], r"block1: kernel_size must be a positive int or a pair"),
        ([{"filters": 8, "dropout": float("nan")}], r"block1: dropout must be a number in \[0, 1\); received nan"),
        ([{"filters": 8, "pool": "min"}], "block1: unknown pool 'min'"),
        ([{"filters": 8, "padding": "full"}], "block1: unknown padding 'full'"),
        (["conv32"], "block1: a block spec must be a dict"),
    ],
)
def test_malformed_specs_raise_toolkit_errors(blocks, message):
    with pytest.raises(ToolkitError, match=message):
        build_cnn((28, 28, 1), blocks)


def test_other_bad_arguments():
    with pytest.raises(ToolkitError, match="input_shape"):
        build_cnn((28, 28), SIMPLE)
    with pytest.raises(ToolkitError, match="unknown head 'flat'"):
        build_cnn((28, 28, 1), SIMPLE, head="flat")
    with pytest.raises(ToolkitError, match=r"dense_units must be positive ints; received \(128, 0\)"):
        build_cnn((28, 28, 1), SIMPLE, dense_units=(128, 0))
    with pytest.raises(ValueError, match="unknown activation"):
        build_cnn((28, 28, 1), SIMPLE, activation="relux")


def test_augment_dict_sits_after_rescale():
    model = build_cnn((12, 12, 1), [{"filters": 4}], dense_units=(), augment={"rotation": 10, "crop_pad": 2})
    assert [layer.name for layer in model.layers[:3]] == ["image", "rescale", "augment"]
    with pytest.raises(ToolkitError, match="unknown augmentation parameters"):
        build_cnn((12, 12, 1), [{"filters": 4}], augment={"rotate": 10})


@pytest.mark.backends
def test_build_cnn_trains_and_round_trips(tmp_path):
    model = build_cnn(
        (12, 12, 1),
        [{"filters": 4, "batch_norm": True, "pool": "max", "activation": "prelu"}, {"filters": 4, "convs": 2}],
        dense_units=(8,),
        dropout=0.1,
        num_classes=3,
        augment={"crop_pad": 1, "flip": "horizontal"},
    )
    x = np.random.default_rng(0).integers(0, 256, size=(2, 12, 12, 1)).astype(np.uint8)
    assert_every_weight_trains(model, x, np.array([0, 2]), "sparse_categorical_crossentropy")
    run_model_saving_test(model, x, tmp_path)


def test_cnn_figures_are_saved(tmp_path):
    from toolkit.plots.cnn import (
        grace_hopper,
        plot_confusion_matrix,
        plot_feature_maps,
        plot_filters,
        plot_kernels_applied,
        plot_pooling,
    )

    model = build_cnn((12, 12, 3), [{"filters": 6, "batch_norm": True}], dense_units=(), num_classes=3)
    image = np.random.default_rng(1).integers(0, 256, size=(12, 12, 3)).astype(np.uint8)
    photo = grace_hopper(size=(64, 48))
    paths = [
        plot_filters(model, tmp_path / "filters.png"),
        plot_filters(model.get_layer("block1_conv"), tmp_path / "filters_layer.png"),
        plot_feature_maps(model, "block1_act", image, tmp_path / "maps.png"),
        plot_confusion_matrix([0, 1, 2, 2], [0, 2, 2, 2], ["a", "b", "c"], tmp_path / "confusion.png"),
        plot_pooling(photo, (4, 8, 16), tmp_path / "pooling.png"),
        plot_kernels_applied(photo, ["lecture_blur", "x_pattern", "sobel_x", "sharpen"], tmp_path / "kernels.png"),
    ]
    for path in paths:
        assert path.stat().st_size > 1000, path
    with pytest.raises(ToolkitError, match="no Conv2D"):
        plot_filters(keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]), tmp_path / "none.png")
