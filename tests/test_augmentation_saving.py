"""Every augmentation `toolkit.augmentation` offers survives `.keras`; bad options are one line."""

import keras
import numpy as np
import pytest

from tests.harness import run_model_saving_test
from toolkit.cnn import augmentation
from toolkit.errors import ToolkitError

OPTIONS = {
    "rotation": 15,
    "zoom": 0.1,
    "flip": "horizontal",
    "translation": 0.1,
    "crop_pad": 2,
    "shear": 0.2,
    "elastic": 0.5,
    "erasing": 0.5,
    "contrast": 0.2,
}


def _model(**options):
    inputs = keras.Input((12, 12, 1))
    h = augmentation(seed=1, **options)(inputs)
    h = keras.layers.Conv2D(2, 3, name="conv")(h)
    outputs = keras.layers.Dense(3, name="head")(keras.layers.Flatten()(h))
    return keras.Model(inputs, outputs, name="aug_" + "_".join(options))


@pytest.mark.parametrize("option", [*OPTIONS, "all"])
def test_every_augmentation_round_trips_through_keras_files(option, tmp_path):
    options = OPTIONS if option == "all" else {option: OPTIONS[option]}
    model = _model(**options)
    x = np.random.default_rng(0).random((4, 12, 12, 1)).astype("float32")
    path = run_model_saving_test(model, x, tmp_path)  # identical outputs in inference
    assert path.endswith(".keras")


def test_keras_own_random_shear_config_is_what_its_constructor_rejects():
    # the reason for toolkit.layers.RandomShear; if Keras fixes this, the subclass can go
    config = keras.layers.RandomShear(0.2, 0.2).get_config()
    with pytest.raises((ValueError, TypeError), match="range"):  # Keras wraps it in a TypeError
        keras.layers.RandomShear.from_config(config)


@pytest.mark.parametrize(
    "options, text",
    [
        ({"rotation": 400}, "augmentation rotation (degrees) must be a number in [0, 360]; received 400"),
        ({"zoom": 1.5}, "augmentation zoom must be a number in [0, 1); received 1.5"),
        ({"translation": 1.5}, "augmentation translation must be a number in [0, 1]"),
        ({"shear": 1.5}, "augmentation shear must be a number in [0, 1]"),
        ({"contrast": 2}, "augmentation contrast must be a number in [0, 1]"),
        ({"erasing": 0.2, "erasing_scale": (0.5, 0.1)}, "erasing_scale must have low <= high"),
        ({"erasing": 0.2, "erasing_scale": 3}, "erasing_scale must be a pair (low, high)"),
        ({"rotation": 5, "fill_mode": "bogus"}, "unknown fill_mode 'bogus'"),
        ({"contrast": 0.1, "value_range": (1, 0)}, "value_range must have low < high"),
        ({"rotation": 3, "seed": "x"}, "augmentation seed must be an int >= 0 or None; received 'x'"),
    ],
)
def test_out_of_range_options_are_toolkit_errors(options, text):
    with pytest.raises(ToolkitError) as info:
        augmentation(**options)
    assert text in str(info.value) and "\n" not in str(info.value)
