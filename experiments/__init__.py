"""The experiments: one file each, all of the same shape.

Each module declares its config (a :class:`toolkit.runs.spec.RunSpec` for the framework keys,
``PARAMS`` for its own), its ``QUICK`` overrides (minutes on 2 CPU cores), the lecture's
``CLAIMS`` it tests (:class:`toolkit.claims.Claim`) and ``run(config, run)`` under the
``@experiment(...)`` decorator, which registers it. Modules here are found by discovery, so
adding an experiment is adding one file. Run one with ``python -m toolkit run NAME`` or
``make NAME``.
"""

from toolkit.runs.experiment import get_experiment, list_experiments

__all__ = ["get_experiment", "list_experiments"]
