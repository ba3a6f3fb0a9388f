"""A Keras 3 toolkit for the foundations of deep learning, built around one lecture:
autoencoders, stacked and sparse autoencoders, greedy layer-wise pretraining, activation
functions and vanishing gradients, and convolutional networks (slides 2–56).

Importing ``toolkit`` is cheap and has no side effects: it does not import Keras (so the
CLI can choose the backend first), train, download or plot. Public names load on first
use, e.g. ``toolkit.load_dataset`` or ``from toolkit import build_cnn``.
"""

import importlib

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "load_dataset": "toolkit.data",
    "list_datasets": "toolkit.data",
    "train_val_split": "toolkit.data",
    "ToolkitError": "toolkit.errors",
    "DataError": "toolkit.errors",
    "get_activation": "toolkit.activations",
    "activation_names": "toolkit.activations",
    "RReLU": "toolkit.layers",
    "PReLU": "toolkit.layers",
    "load_model": "toolkit.saving",
    # autoencoders (slides 2–20)
    "build_autoencoder": "toolkit.autoencoders",
    "build_stacked_autoencoder": "toolkit.autoencoders",
    "build_sparse_autoencoder": "toolkit.autoencoders",
    "build_denoising_autoencoder": "toolkit.autoencoders",
    "build_conv_autoencoder": "toolkit.autoencoders",
    "pretrain_greedy": "toolkit.pretraining",
    "attach_head": "toolkit.pretraining",
    "fine_tune": "toolkit.pretraining",
    # activations and diagnostics (slides 21–27)
    "layer_gradient_norms": "toolkit.diagnostics",
    "gradient_ratio": "toolkit.diagnostics",
    "activation_stats": "toolkit.diagnostics",
    "activation_derivative": "toolkit.diagnostics",
    "GradientNormLogger": "toolkit.diagnostics",
    "ActivationStatsLogger": "toolkit.diagnostics",
    "build_mlp": "toolkit.mlp",
    # CNNs (slides 29–56)
    "build_cnn": "toolkit.cnn",
    "augmentation": "toolkit.cnn",
    "apply_kernels": "toolkit.filters",
    "build_model": "toolkit.models",
    "list_models": "toolkit.models",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'toolkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
