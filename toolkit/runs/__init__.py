"""Running experiments: the run folder, the run spec, training, the recorder and the glue.

| module | owns |
|---|---|
| :mod:`toolkit.runs.folder` | the run folder's paths and file formats (the only reader/writer) |
| :mod:`toolkit.runs.guard` | the folder lock, the reserve file and the status record that survive a full disk |
| :mod:`toolkit.runs.spec` | :class:`RunSpec` (framework keys), :class:`Param`, ``--set`` parsing and checks |
| :mod:`toolkit.runs.experiment` | :class:`Experiment`, the ``@experiment`` decorator, the registry |
| :mod:`toolkit.runs.training` | the resumable, seeded, per-epoch-shuffled ``fit`` and its callbacks |
| :mod:`toolkit.runs.recorder` | :class:`Run`, what an experiment talks to |
| :mod:`toolkit.runs.execute` | :func:`run_experiment` |

Importing this package imports no Keras; the names below load their module on first use.
"""

import importlib

_EXPORTS = {
    "RunFolder": "folder",
    "list_runs": "folder",
    "RunSpec": "spec",
    "Param": "spec",
    "resolve_config": "spec",
    "Experiment": "experiment",
    "experiment": "experiment",
    "register": "experiment",
    "list_experiments": "experiment",
    "get_experiment": "experiment",
    "Trainer": "training",
    "Run": "recorder",
    "run_experiment": "execute",
}


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"toolkit.runs.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'toolkit.runs' has no attribute {name!r}")


__all__ = list(_EXPORTS)
