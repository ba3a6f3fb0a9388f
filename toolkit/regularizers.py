"""Sparsity penalties for sparse autoencoders (slide 15), and how to measure sparsity.

Slide 15: the hidden layer may be *larger* than the input (over-complete) if a
constraint keeps most hidden units quiet. Two classic forms:

- :class:`L1ActivityRegularizer`: ``l1 * mean_over_batch(sum_over_units |h|)``;
- :class:`KLSparsityRegularizer`: ``beta * sum_j KL(rho || rho_hat_j)``, where
  ``rho_hat_j`` is unit ``j``'s mean activation over the batch and ``rho`` the target rate
  (Ng's CS294A notes; needs activations in [0, 1], i.e. a sigmoid code).

**Batch size.** Each penalty's value is a mean over the batch, so it does not change
with the batch size (a constant input gives the same number for 2 rows or 2000). Keras's
own ``activity_regularizer=`` hook has changed here between 3.x releases (early Keras 3
added the raw value; the installed 3.15.1 divides it by the batch size inside
``Layer.__call__``, so a penalty that already averages would be divided twice). The
toolkit therefore attaches a penalty through :class:`ActivityPenalty`, an identity layer
that adds *exactly* ``regularizer(h)`` to the model's losses, whatever the Keras version.
The builders of :mod:`toolkit.autoencoders` do this for you (layer ``enc{n}_sparsity``).

All three classes are registered under the ``toolkit`` package, so a ``.keras`` file that
holds them reloads with ``toolkit.saving.load_model`` (or ``keras.saving.load_model``
after ``import toolkit.regularizers``) and no ``custom_objects``.

Example:
    >>> import numpy as np
    >>> h = np.full((8, 4), 0.25, dtype="float32")
    >>> float(L1ActivityRegularizer(l1=0.5)(h))  # 0.5 * (4 * 0.25), any batch size
    0.5
    >>> sparsity_stats(h, threshold=0.1)["fraction_active"]
    1.0
"""

import keras
import numpy as np
from keras import ops

from toolkit.errors import ToolkitError, check_number


@keras.saving.register_keras_serializable(package="toolkit")
class L1ActivityRegularizer(keras.regularizers.Regularizer):
    """L1 penalty on activations, averaged over the batch (slide 15).

    Value: ``l1 * mean_b sum_u |h[b, u]|`` (every axis but the batch axis is summed), so
    it is independent of the batch size. Attach it with :class:`ActivityPenalty`, not with
    a layer's ``activity_regularizer=`` (see the module docstring).

    Example:
        >>> import numpy as np
        >>> reg = L1ActivityRegularizer(l1=0.1)
        >>> round(float(reg(np.ones((3, 5), "float32"))), 6)  # 0.1 * 5, for 3 rows or 300
        0.5
    """

    def __init__(self, l1=1e-3):
        self.l1 = check_number("l1", l1, low=0)

    def __call__(self, x):
        x = ops.convert_to_tensor(x)
        per_sample = ops.sum(ops.abs(x), axis=tuple(range(1, len(x.shape))))
        return ops.multiply(ops.cast(self.l1, x.dtype), ops.mean(per_sample))

    def get_config(self):
        return {"l1": self.l1}


@keras.saving.register_keras_serializable(package="toolkit")
class KLSparsityRegularizer(keras.regularizers.Regularizer):
    """The classic sparse-autoencoder penalty: ``beta * sum_j KL(rho || rho_hat_j)`` (slide 15).

    ``rho_hat_j`` is unit ``j``'s mean activation over the batch (and over positions, for
    feature maps: every axis but the last), clipped to ``[epsilon, 1 - epsilon]`` so the
    logarithms stay finite. ``KL(p || q) = p log(p/q) + (1-p) log((1-p)/(1-q))``. A batch
    mean, so the value is independent of the batch size. Activations must lie in [0, 1]
    (a sigmoid code layer). Attach it with :class:`ActivityPenalty`.

    Args:
        rho: target mean activation of every hidden unit, in (0, 1); 0.05 is usual.
        beta: weight of the penalty, >= 0.
        epsilon: clipping of ``rho_hat`` away from 0 and 1.

    Example:
        >>> import numpy as np
        >>> reg = KLSparsityRegularizer(rho=0.5, beta=1.0)
        >>> float(reg(np.full((4, 3), 0.5, "float32")))  # rho_hat == rho: no penalty
        0.0
    """

    def __init__(self, rho=0.05, beta=1.0, epsilon=1e-7):
        self.rho = check_number("rho", rho, 0.0, 1.0, low_open=True, high_open=True)
        self.beta = check_number("beta", beta, low=0)
        self.epsilon = check_number("epsilon", epsilon, 0.0, 0.5, low_open=True, high_open=True)

    def __call__(self, x):
        x = ops.convert_to_tensor(x)
        rho_hat = ops.mean(x, axis=tuple(range(len(x.shape) - 1)))
        rho_hat = ops.clip(rho_hat, self.epsilon, 1.0 - self.epsilon)
        rho = ops.cast(self.rho, x.dtype)
        kl = rho * ops.log(rho / rho_hat) + (1.0 - rho) * ops.log((1.0 - rho) / (1.0 - rho_hat))
        return ops.multiply(ops.cast(self.beta, x.dtype), ops.sum(kl))

    def get_config(self):
        return {"rho": self.rho, "beta": self.beta, "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="toolkit")
class ActivityPenalty(keras.layers.Layer):
    """Identity layer that adds ``regularizer(inputs)`` to the model's losses, unscaled.

    Use it instead of ``activity_regularizer=`` so the penalty's scale is exactly the
    regularizer's documented value (Keras 3.15 would divide it by the batch size once
    more). Any ``keras.regularizers.Regularizer`` works; Keras's built-in ``L1``/``L2`` sum
    over the batch, the toolkit's two penalties average over it.

    Example:
        >>> import numpy as np
        >>> layer = ActivityPenalty(L1ActivityRegularizer(0.5), name="enc1_sparsity")
        >>> _ = layer(np.full((2, 4), 0.25, "float32"))
        >>> [float(v) for v in layer.losses]
        [0.5]
    """

    def __init__(self, regularizer, **kwargs):
        super().__init__(**kwargs)
        if isinstance(regularizer, dict):
            regularizer = keras.regularizers.deserialize(regularizer)
        if not isinstance(regularizer, keras.regularizers.Regularizer):
            raise ToolkitError(
                f"ActivityPenalty needs a keras.regularizers.Regularizer (e.g. KLSparsityRegularizer); "
                f"received {regularizer!r}"
            )
        self.regularizer = regularizer
        self.supports_masking = True
        self.built = True

    def call(self, inputs):
        self.add_loss(self.regularizer(inputs))
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config["regularizer"] = keras.regularizers.serialize(self.regularizer)
        return config


def sparsity_regularizer(kind, l1=1e-3, rho=0.05, beta=1.0):
    """The penalty named ``kind``: ``"l1"`` (uses ``l1``) or ``"kl"`` (uses ``rho``, ``beta``)."""
    if kind == "l1":
        return L1ActivityRegularizer(l1=l1)
    if kind == "kl":
        return KLSparsityRegularizer(rho=rho, beta=beta)
    raise ToolkitError(f"unknown sparsity {kind!r}; valid: l1, kl")


def sparsity_stats(activations, threshold=0.1):
    """Sparsity of hidden activations ``(N, units)`` as numbers (slide 15).

    Returns a dict: ``mean_activation`` (mean of all entries), ``fraction_active``
    (fraction of entries above ``threshold``), ``fraction_dead_units`` (units never above
    ``threshold`` on these samples) and the ``threshold`` used. For sigmoid codes with a
    target rate ``rho`` = 0.05 the default 0.1 separates "on" from "resting"; for ReLU codes
    pass ``threshold=0.0`` (active means non-zero).

    Example:
        >>> import numpy as np
        >>> stats = sparsity_stats(np.array([[0.0, 0.9], [0.05, 0.8]]))
        >>> stats["fraction_active"], stats["fraction_dead_units"]
        (0.5, 0.5)
    """
    h = np.asarray(
        keras.ops.convert_to_numpy(activations) if not isinstance(activations, np.ndarray) else activations,
        dtype=np.float64,
    )
    if h.ndim < 2 or h.shape[0] == 0:
        raise ToolkitError(f"activations must be an array (N, units) with N > 0; received shape {h.shape}")
    threshold = check_number("threshold", threshold)
    flat = h.reshape(-1, h.shape[-1])
    active = flat > threshold
    return {
        "mean_activation": float(flat.mean()),
        "fraction_active": float(active.mean()),
        "fraction_dead_units": float((~active.any(axis=0)).mean()),
        "threshold": threshold,
    }
