"""Activation statistics (slides 23–27): which kind an activation layer is, and on a probe
batch its mean output and its saturated (sigmoid, tanh) or dead (ReLU family) fraction."""

import keras
import numpy as np
from keras import ops

from toolkit.errors import check_choice

# Saturation thresholds, on the layer's *output* (see activation_stats).
SIGMOID_SATURATION = 0.05  # output < 0.05 or > 0.95  =>  f' = y(1 - y) < 0.0475 (peak 0.25)
TANH_SATURATION = 0.95  # |output| > 0.95            =>  f' = 1 - y**2 < 0.0975 (peak 1)

_SIGMOID_NAMES = ("sigmoid", "hard_sigmoid")
_TANH_NAMES = ("tanh", "softsign")
_RELU_NAMES = (
    "relu",
    "relu6",
    "leaky_relu",
    "elu",
    "selu",
    "celu",
    "gelu",
    "silu",
    "swish",
    "mish",
    "hard_silu",
    "hard_swish",
    "softplus",
)


# --------------------------------------------------------------------------- activations


def activation_kind(layer):
    """``"sigmoid"``, ``"tanh"``, ``"relu"`` (the ReLU family) or ``"other"`` for an
    activation layer, or ``None`` for a layer whose output is not an activation's."""
    from toolkit.layers import PReLU, RReLU

    if isinstance(
        layer, (RReLU, PReLU, keras.layers.PReLU, keras.layers.ReLU, keras.layers.LeakyReLU, keras.layers.ELU)
    ):
        return "relu"
    if isinstance(layer, keras.layers.Softmax):
        return None
    function = getattr(layer, "activation", None)
    if function is None or not callable(function):
        return None
    name = getattr(function, "__name__", "")
    if name in _SIGMOID_NAMES:
        return "sigmoid"
    if name in _TANH_NAMES:
        return "tanh"
    if name in _RELU_NAMES:
        return "relu"
    if name in ("linear", "softmax", "log_softmax", ""):
        return None
    return "other"


def activation_stats(model, x, layer_names=None):
    """Mean output and saturated / dead fractions of every activation layer, on a probe batch.

    Activation layers are the top-level layers whose output is an activation's: the toolkit's
    ``act`` layers (``Activation``, ``LeakyReLU``, ``PReLU``, ``RReLU``, ...) and layers such as
    ``Dense`` with a built-in non-linear activation (linear and softmax outputs are skipped).
    For each, with ``out`` its output on ``x`` (inference mode):

    - ``mean``: the mean of ``out`` over the batch and all units;
    - ``saturated`` (sigmoid and tanh only): the fraction of all output values in the flat
      tails, where f′ is below a fifth of its peak and the layer passes almost no gradient
      back (slide 23): sigmoid ``out < 0.05`` or ``out > 0.95`` (f′ < 0.0475), tanh
      ``|out| > 0.95`` (f′ < 0.0975);
    - ``dead`` (ReLU family only): the fraction of units that output ``<= 0`` for *every*
      sample of the batch. A unit is a channel: the last axis, pooled over the batch and any
      spatial positions. For ReLU such a unit passes no gradient at all; for leaky ReLU,
      PReLU and RReLU it is only on the small negative slope;
    - ``kind``: ``"sigmoid"``, ``"tanh"``, ``"relu"`` or ``"other"`` (``mean`` only).

    Returns:
        ``{layer_name: {"kind": ..., "mean": ..., "saturated" | "dead": ...}}`` in model order.
    """
    layers = [layer for layer in model.layers if activation_kind(layer) is not None]
    if layer_names is not None:
        if isinstance(layer_names, str):
            layer_names = [layer_names]
        by_name = {layer.name: layer for layer in layers}
        for wanted in layer_names:
            check_choice("activation layer", wanted, tuple(by_name))
        layers = [by_name[n] for n in layer_names]
    if not layers:
        return {}
    probe = keras.Model(model.inputs, [layer.output for layer in layers], name=f"{model.name}_probe")
    outputs = probe(ops.convert_to_tensor(x), training=False)
    if not isinstance(outputs, (list, tuple)):  # Keras unwraps a one-output list
        outputs = [outputs]
    stats = {}
    for layer, out in zip(layers, outputs):
        out = np.asarray(ops.convert_to_numpy(out), dtype=np.float64)
        kind = activation_kind(layer)
        entry = {"kind": kind, "mean": float(out.mean())}
        if kind == "sigmoid":
            entry["saturated"] = float(np.mean((out < SIGMOID_SATURATION) | (out > 1.0 - SIGMOID_SATURATION)))
        elif kind == "tanh":
            entry["saturated"] = float(np.mean(np.abs(out) > TANH_SATURATION))
        elif kind == "relu":
            per_channel = out.reshape(-1, out.shape[-1])
            entry["dead"] = float(np.mean(np.all(per_channel <= 0.0, axis=0)))
        stats[layer.name] = entry
    return stats
