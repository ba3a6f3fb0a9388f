"""Activation layers Keras lacks (slide 27: the ReLU family)."""
import keras
from keras import ops


@keras.saving.register_keras_serializable(package="toolkit")
class RReLU(keras.layers.Layer):
    """Randomized leaky ReLU (Xu et al. 2015), slide 27.

    ``f(x) = x`` for ``x >= 0`` and ``a * x`` otherwise. In training ``a`` is drawn for every
    element from U(``lower``, ``upper``) at every call; at inference it is the fixed mean
    ``(lower + upper) / 2``. Defaults 1/8 and 1/3 follow the paper and PyTorch's ``RReLU``.

    Example:
        >>> import numpy as np
        >>> layer = RReLU(seed=0)
        >>> float(layer(np.array([-3.0]), training=False)[0])  # -3 * (1/8 + 1/3) / 2
        -0.6875
    """

    def __init__(self, lower=1.0 / 8.0, upper=1.0 / 3.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        lower, upper = float(lower), float(upper)
        if not 0.0 <= lower <= upper:
            raise ValueError(f"RReLU needs 0 <= lower <= upper; received lower={lower}, upper={upper}")
        self.lower = lower
        self.upper = upper
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def call(self, inputs, training=None):
        if training:
            slope = keras.random.uniform(ops.shape(inputs), minval=self.lower, maxval=self.upper,
                                         dtype=inputs.dtype, seed=self.seed_generator)
        else:
            slope = ops.cast((self.lower + self.upper) / 2.0, inputs.dtype)
        return ops.where(inputs >= 0, inputs, inputs * slope)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"lower": self.lower, "upper": self.upper, "seed": self.seed})
        return config


@keras.saving.register_keras_serializable(package="toolkit")
class PReLU(keras.layers.PReLU):
    """Parametric ReLU (He et al. 2015), slide 27: the negative slope is learned.

    ``per_channel=True`` (the default) learns one slope per channel (the last axis),
    shared over batch and spatial positions, whatever the input's rank; ``False`` keeps
    Keras's behaviour of one slope per element.
    """

    def __init__(self, per_channel=True, **kwargs):
        self.per_channel = bool(per_channel)
        if self.per_channel:
            kwargs.pop("shared_axes", None)
        super().__init__(**kwargs)

    def build(self, input_shape):
        if self.per_channel:
            self.shared_axes = list(range(1, len(input_shape) - 1))
        super().build(input_shape)

    def get_config(self):
        config = super().get_config()
        config["per_channel"] = self.per_channel
        if self.per_channel:
            config.pop("shared_axes", None)
        return config
