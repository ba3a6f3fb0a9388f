"""Vanishing-gradient diagnostics: per-layer gradient norms and activation statistics
(slides 21–27).

Backprop multiplies the error signal δ by the weights and by the activation's derivative f′
at every layer (slide 22); the sigmoid's f′ is at most 0.25 (slide 23), so δ — and with it
the gradient of the early layers' weights — shrinks layer after layer, while tanh
(f′ ≤ 1, slide 24) and the ReLU family (f′ = 1 for positive inputs, slides 25–27) keep it.
This module measures that:

- :func:`layer_gradient_norms`: the L2 norm of the loss gradient w.r.t. each layer's weights;
- :func:`gradient_ratio`: first-hidden-layer norm / last-hidden-layer norm, one number per
  network (≪ 1 means the gradient vanishes on its way to the input);
- :func:`activation_stats`: per activation layer, the mean output and the fraction of
  saturated (sigmoid, tanh) or dead (ReLU family) units;
- :func:`activation_derivative`: f′ of any activation spec by automatic differentiation;
- :class:`GradientNormLogger` and :class:`ActivationStatsLogger`: Keras callbacks that record
  these at initialisation (epoch 0) and after every epoch, to JSON lines and in memory.

Of this package only :mod:`~toolkit.diagnostics.gradients` branches on
``keras.backend.backend()`` (its ``_gradients``); TensorFlow and JAX are supported. Every measurement is a pure
function of the model's current weights: it runs the model through ``stateless_call`` and
never changes a variable (batch-norm statistics, RReLU's seed state stay as they were).

Modules: :mod:`~toolkit.diagnostics.gradients` (gradient norms, the ratio, f′ by autodiff),
:mod:`~toolkit.diagnostics.stats` (activation kinds and statistics),
:mod:`~toolkit.diagnostics.loggers` (the callbacks); every name below is importable from
``toolkit.diagnostics``.
"""

from toolkit.diagnostics.gradients import (
    SUPPORTED_BACKENDS,
    WEIGHT_CHOICES,
    activation_derivative,
    gradient_ratio,
    layer_gradient_norms,
)
from toolkit.diagnostics.loggers import ActivationStatsLogger, GradientNormLogger, read_jsonl
from toolkit.diagnostics.stats import SIGMOID_SATURATION, TANH_SATURATION, activation_kind, activation_stats

__all__ = [
    "SUPPORTED_BACKENDS",
    "WEIGHT_CHOICES",
    "SIGMOID_SATURATION",
    "TANH_SATURATION",
    "layer_gradient_norms",
    "gradient_ratio",
    "activation_derivative",
    "activation_kind",
    "activation_stats",
    "GradientNormLogger",
    "ActivationStatsLogger",
    "read_jsonl",
]
