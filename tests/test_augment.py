"""Augmentation (slide 55): built from parameters, identity at inference, random in training."""

import keras
import numpy as np
import pytest

from harness import run_model_saving_test
from toolkit.cnn import augmentation, augmentation_params
from toolkit.errors import ToolkitError
from toolkit.filters import shift_images
from toolkit.layers import RandomShiftCrop

EACH = {
    "rotation": 30,
    "zoom": 0.3,
    "flip": "horizontal_and_vertical",
    "translation": 0.2,
    "crop_pad": 3,
    "shear": 0.3,
    "elastic": 0.5,
    "erasing": 1.0,
    "contrast": 0.5,
}


def _images(n=4, size=16, channels=1):
    rng = np.random.default_rng(0)
    return rng.random((n, size, size, channels)).astype("float32")


def test_pipeline_is_built_from_parameters_in_a_fixed_order():
    pipeline = augmentation(**EACH, seed=1)
    assert isinstance(pipeline, keras.Sequential) and pipeline.name == "augment"
    assert [layer.name for layer in pipeline.layers] == [
        "augment_flip",
        "augment_rotation",
        "augment_zoom",
        "augment_translation",
        "augment_crop",
        "augment_shear",
        "augment_elastic",
        "augment_contrast",
        "augment_erasing",
    ]
    assert pipeline.get_layer("augment_rotation").factor == (-30 / 360, 30 / 360)  # degrees, explicitly
    assert augmentation().layers == []


def test_unknown_or_bad_parameters_raise_toolkit_errors():
    with pytest.raises(ToolkitError, match=r"unknown augmentation parameters \['rotate'\]; valid: rotation, zoom"):
        augmentation(rotate=10)
    with pytest.raises(ToolkitError, match="unknown flip 'sideways'"):
        augmentation(flip="sideways")
    with pytest.raises(ToolkitError, match=r"zoom must be a number in \[0, 1\); received -0.1"):
        augmentation(zoom=-0.1)
    with pytest.raises(ToolkitError, match="crop_pad"):
        augmentation(crop_pad=1.5)
    assert "crop_pad" in augmentation_params() and "unknown" not in augmentation_params()


@pytest.mark.backends
@pytest.mark.parametrize("param", sorted(EACH))
def test_each_augmentation_is_identity_at_inference_and_random_in_training(param):
    pipeline = augmentation(**{param: EACH[param]}, seed=3)
    x = _images()
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(pipeline(x, training=False)), x)
    changed = keras.ops.convert_to_numpy(pipeline(x, training=True))
    assert changed.shape == x.shape
    assert not np.allclose(changed, x), f"{param} changed nothing in training"


@pytest.mark.backends
def test_augmentation_inside_a_model_acts_only_in_training(tmp_path):
    from toolkit.cnn import build_cnn

    model = build_cnn(
        (16, 16, 1),
        [{"filters": 3}],
        dense_units=(),
        num_classes=2,
        augment=augmentation(rotation=20, crop_pad=2, contrast=0.3, seed=0),
    )
    x = (_images(2) * 255).astype(np.uint8)
    eval_a = keras.ops.convert_to_numpy(model(x, training=False))
    np.testing.assert_array_equal(eval_a, keras.ops.convert_to_numpy(model(x, training=False)))
    np.testing.assert_allclose(model.predict(x, verbose=0), eval_a, rtol=1e-5, atol=1e-6)
    probe = keras.Model(model.input, model.get_layer("augment").output)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(probe(x, training=False)), x / 255.0, atol=1e-6)
    assert not np.allclose(keras.ops.convert_to_numpy(probe(x, training=True)), x / 255.0)
    run_model_saving_test(model, x, tmp_path)


@pytest.mark.backends
def test_random_shift_crop_is_an_integer_shift_with_zero_fill():
    layer = RandomShiftCrop(pad=2, seed=0)
    x = np.arange(1, 3 * 8 * 8 * 2 + 1, dtype="float32").reshape(3, 8, 8, 2)
    seen = set()
    for _ in range(5):
        out = keras.ops.convert_to_numpy(layer(x, training=True))
        for i in range(len(x)):
            matches = [
                (dx, dy)
                for dx in range(-2, 3)
                for dy in range(-2, 3)
                if np.array_equal(out[i], shift_images(x[i : i + 1], dx, dy)[0])
            ]
            assert matches, "output is not a shift of the input"
            seen.add(matches[0])
    assert len(seen) > 3  # offsets are drawn per image
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x, training=False)), x)
    clone = RandomShiftCrop.from_config(layer.get_config())
    assert clone.pad == 2 and clone.seed == 0
    with pytest.raises(ValueError, match="pad >= 0"):
        RandomShiftCrop(pad=-1)


def test_plot_augmented_samples_writes_a_grid(tmp_path):
    from toolkit.plots.cnn import plot_augmented_samples

    images = (_images(2, 12) * 255).astype(np.uint8)
    path = plot_augmented_samples(
        augmentation(rotation=15, zoom=0.1, seed=0), images, tmp_path / "aug.png", n_variants=3
    )
    assert path.stat().st_size > 1000
