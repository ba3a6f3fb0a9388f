"""The experiments: one module each, all of the same shape.

Each module defines ``EXPERIMENT = Experiment(...)`` (see :class:`toolkit.runner.Experiment`):
a ``defaults()`` config whose docstring states the run command, the cost and what to expect,
a ``QUICK`` dict of overrides that finishes in minutes on 2 CPU cores, and
``run(config, run)``. Run one with ``python -m toolkit run NAME`` or ``make NAME``.
"""
import importlib

# name -> module, in the lecture's order
REGISTRY = {
    "ae-mnist": "experiments.ae_mnist",
    "deep-ae-mnist": "experiments.deep_ae_mnist",
    "pretrain-mnist": "experiments.pretrain_mnist",
    "sparse-ae-mnist": "experiments.sparse_ae_mnist",
    "activations-mnist": "experiments.activations_mnist",
    "filters": "experiments.filters",
    "cnn-mnist": "experiments.cnn_mnist",
    "augment-cifar10": "experiments.augment_cifar10",
    "zoo-cifar10": "experiments.zoo_cifar10",
}


def list_experiments():
    """Names of the experiments, in the lecture's order."""
    return list(REGISTRY)


def get_experiment(name):
    """The :class:`toolkit.runner.Experiment` called ``name``."""
    from toolkit.errors import check_choice

    check_choice("experiment", name, list_experiments())
    return importlib.import_module(REGISTRY[name]).EXPERIMENT
