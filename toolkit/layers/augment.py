"""Augmentation layers Keras lacks or makes slow (slide 55)."""

import keras
from keras import ops

from toolkit.errors import check_int


@keras.saving.register_keras_serializable(package="toolkit")
class RandomShiftCrop(keras.layers.Layer):
    """Random translation by zero-padding ``pad`` pixels and cropping back (slide 55).

    In training each image is moved by an integer offset drawn uniformly from
    ``[-pad, pad]`` along each axis, the uncovered cells being zero (the "pad 4, random crop
    32" of CIFAR training). At inference it is the identity. The crop is two batched
    one-hot matrix products, no per-image gather or interpolation, so it is cheap on every
    backend (Keras's ``RandomTranslation`` is about 80x slower on a JAX GPU).

    Example:
        >>> import numpy as np
        >>> x = np.arange(16, dtype="float32").reshape(1, 4, 4, 1)
        >>> bool(np.array_equal(RandomShiftCrop(pad=2)(x, training=False), x))
        True
    """

    def __init__(self, pad=4, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.pad = check_int("RandomShiftCrop pad", pad, low=0, expected="an int of pixels, pad >= 0")
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        if not training or self.pad == 0:
            return inputs
        p = self.pad
        x = ops.cast(inputs, self.compute_dtype)
        shape = ops.shape(x)
        n, h, w = shape[0], shape[1], shape[2]
        x = ops.pad(x, [[0, 0], [p, p], [p, p], [0, 0]])
        offsets = keras.random.randint((n, 2), 0, 2 * p + 1, seed=self.seed_generator)
        rows = ops.one_hot(offsets[:, :1] + ops.arange(h)[None, :], h + 2 * p, dtype=x.dtype)  # (N, H, H+2p)
        cols = ops.one_hot(offsets[:, 1:] + ops.arange(w)[None, :], w + 2 * p, dtype=x.dtype)  # (N, W, W+2p)
        x = ops.einsum("nip,npqc->niqc", rows, x)
        x = ops.einsum("njq,niqc->nijc", cols, x)
        return ops.cast(x, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"pad": self.pad, "seed": self.seed})
        return config


@keras.saving.register_keras_serializable(package="toolkit")
class RandomShear(keras.layers.RandomShear):
    """Keras's ``RandomShear`` (slide 55: "slightly distorted"), made to reload from ``.keras``.

    Keras 3.15's own layer turns a factor ``f`` into the range ``(-f, f)`` and writes that
    range into its config, which its constructor then rejects (it takes numbers in
    [0, 1]): a model with ``keras.layers.RandomShear`` saves but does not load. This
    subclass writes a symmetric range back as the number ``f`` it came from; nothing else
    changes. :func:`toolkit.cnn.augmentation` uses it.

    Example:
        >>> layer = RandomShear(0.2, 0.1)
        >>> config = layer.get_config()
        >>> config["x_factor"], config["y_factor"], RandomShear.from_config(config).x_factor
        (0.2, 0.1, (-0.2, 0.2))
    """

    def get_config(self):
        config = super().get_config()
        for key in ("x_factor", "y_factor"):
            value = config.get(key)
            if isinstance(value, (tuple, list)) and len(value) == 2 and float(value[0]) == -float(value[1]):
                config[key] = float(value[1])
        return config
