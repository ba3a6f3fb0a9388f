"""Activation layers Keras lacks or that the lecture needs in another shape (slide 27).

- :class:`RReLU`: Randomized ReLU, which Keras does not have.
- :class:`PReLU`: Keras's Parametric ReLU, with one learned slope per channel by default and
  the paper's initial slope 0.25.
"""

import keras
from keras import ops

from toolkit.errors import ToolkitError, check_int, check_number, is_number


@keras.saving.register_keras_serializable(package="toolkit")
class RReLU(keras.layers.Layer):
    """Randomized leaky ReLU (Xu et al. 2015), slide 27.

    ``f(x) = x`` for ``x >= 0`` and ``a * x`` otherwise. In training ``a`` is drawn for every
    element from U(``lower``, ``upper``) at every call; at inference it is the fixed mean
    ``(lower + upper) / 2``. Defaults 1/8 and 1/3 follow the paper and PyTorch's ``RReLU``.

    **Where this departs from the paper**: the inference slope is the mean of the range,
    as PyTorch does, so the layer is a plain leaky ReLU at test time. Xu et al. (2015)
    write the range as divisors ``a ~ U(l, u)`` with ``y = x / a`` (l=3, u=8) and test with
    ``y = x / ((l + u) / 2)``, i.e. the slope ``2 / (l + u) = 2/11 ≈ 0.18``, not the mean of the
    slopes ``(1/8 + 1/3) / 2 ≈ 0.23``. Pass ``lower``/``upper`` to move the mean.

    The draws come from a ``keras.random.SeedGenerator`` whose state is a (non-trainable)
    variable of the layer, so they differ from call to call on every backend, including
    inside a jit-compiled ``fit`` on JAX (the state is threaded through the train step).
    ``seed`` fixes the sequence of draws; ``None`` picks a random one.

    Args:
        lower, upper: the range of the negative slope in training, ``0 <= lower <= upper``.
        seed: an int, or ``None``.

    Example:
        >>> import numpy as np
        >>> layer = RReLU(seed=0)
        >>> float(layer(np.array([-3.0]), training=False)[0])  # -3 * (1/8 + 1/3) / 2
        -0.6875
    """

    def __init__(self, lower=1.0 / 8.0, upper=1.0 / 3.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        lower = check_number("RReLU lower", lower, low=0)
        upper = check_number("RReLU upper", upper, low=0)
        if lower > upper:
            raise ToolkitError(f"RReLU needs finite 0 <= lower <= upper; received lower={lower}, upper={upper}")
        seed = check_int("RReLU seed", seed, optional=True)
        self.lower = lower
        self.upper = upper
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def call(self, inputs, training=None):
        if training:
            slope = keras.random.uniform(
                ops.shape(inputs), minval=self.lower, maxval=self.upper, dtype=inputs.dtype, seed=self.seed_generator
            )
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

    **Where this departs from the lecture**: slide 27 describes the Parametric ReLU as
    learning the slope of the *positive* range; the layer here, like He et al., Keras and
    PyTorch, keeps ``f(x) = x`` for ``x >= 0`` and learns the slope ``a`` of the *negative*
    range, ``f(x) = a * x`` for ``x < 0`` (a learned positive slope would only rescale the
    next layer's weights).

    ``per_channel=True`` (the default) learns one slope per channel (the last axis),
    shared over batch and spatial positions, whatever the input's rank; ``False`` keeps
    Keras's behaviour (one slope per element unless ``shared_axes`` says otherwise). The
    slopes start at 0.25, as in the paper and PyTorch (Keras's own default, 0, would make
    the layer a plain ReLU at initialisation); pass ``alpha_initializer`` to change it.

    Example:
        >>> import numpy as np
        >>> layer = PReLU()
        >>> tuple(layer(np.zeros((2, 5, 5, 3), "float32")).shape), tuple(layer.alpha.shape)
        ((2, 5, 5, 3), (1, 1, 3))
        >>> float(layer(np.full((1, 1, 1, 3), -2.0, "float32"))[0, 0, 0, 0])
        -0.5
    """

    def __init__(self, per_channel=True, alpha_initializer=0.25, **kwargs):
        self.per_channel = bool(per_channel)
        if self.per_channel and kwargs.get("shared_axes") is not None:
            raise ToolkitError(
                f"PReLU: per_channel=True sets the shared axes itself; pass per_channel=False "
                f"to use shared_axes={kwargs['shared_axes']!r}"
            )
        if self.per_channel:
            kwargs.pop("shared_axes", None)
        if is_number(alpha_initializer):
            alpha_initializer = keras.initializers.Constant(float(alpha_initializer))
        super().__init__(alpha_initializer=alpha_initializer, **kwargs)

    def build(self, input_shape):
        if self.per_channel:
            if input_shape[-1] is None:
                raise ToolkitError(
                    f"PReLU(per_channel=True) needs a known channel size; received input shape {tuple(input_shape)}"
                )
            self.shared_axes = list(range(1, len(input_shape) - 1))
        super().build(input_shape)

    def get_config(self):
        config = super().get_config()
        config["per_channel"] = self.per_channel
        if self.per_channel:
            config.pop("shared_axes", None)
        return config
