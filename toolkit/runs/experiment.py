"""What an experiment is, and the registry that finds them.

An experiment is one file in ``experiments/`` whose ``run(config, run)`` function carries
the :func:`experiment` decorator: that declares its name, slides, config keys, quick (and
smoke) form and claims, and registers it. :func:`list_experiments` imports every module of the
``experiments`` package (discovery), so adding an experiment is adding one file.
"""

import dataclasses
import importlib
import pkgutil

from toolkit.errors import ToolkitError, check_choice
from toolkit.runs.spec import RunSpec


@dataclasses.dataclass(frozen=True)
class Experiment:
    """One experiment: what it shows and how to run it.

    Attributes:
        name: ``<what>-<dataset>``, the CLI and make target name.
        slides: the lecture's slides it covers (``"8–14"``).
        title, summary: the report's heading and first paragraph.
        run: ``run(config, run)`` — does the work and records on the :class:`toolkit.runs.Run`.
        spec: the framework keys' defaults (:class:`RunSpec`).
        params: the experiment's own keys, ``{name: Param}``.
        quick: overrides of the quick form (the tour, ``--quick``).
        smoke: overrides of the quick form for the test suite: the same models, layers and
            lists, on fewer images and epochs, so every code path of the quick form runs in
            seconds (its numbers are not the lecture's evidence; the quick form's are).
        check: ``check(config)`` for keys that depend on each other, or ``None``.
        claims: the lecture's claims this experiment tests (:class:`toolkit.claims.Claim`).
        order: its place in the tour (the lecture's order).
        estimate: ``estimate(config) -> bytes`` to build and train the config's models
            (parameters, gradients, optimizer state, a batch's activations; the data is
            counted apart), or ``None``; checked before anything is built
            (:func:`toolkit.resources.check_config_memory`).
    """

    name: str
    slides: str
    title: str
    summary: str
    run: object
    spec: RunSpec = RunSpec()
    params: dict = dataclasses.field(default_factory=dict)
    quick: dict = dataclasses.field(default_factory=dict)
    smoke: dict = dataclasses.field(default_factory=dict)
    check: object = None
    claims: tuple = ()
    order: float = 0.0
    estimate: object = None

    def __post_init__(self):
        clash = set(self.params) & {f.name for f in dataclasses.fields(RunSpec)}
        if clash:
            raise ValueError(f"{self.name}: params {sorted(clash)} belong to the RunSpec; set them there")
        for form in ("quick", "smoke"):
            unknown = set(getattr(self, form)) - set(self.params_with_spec())
            if unknown:
                raise ValueError(f"{self.name}: {form} names unknown keys {sorted(unknown)}")

    @property
    def datasets(self):
        return (self.spec.dataset,)

    def params_with_spec(self):
        """Every config key as a :class:`~toolkit.runs.spec.Param`: the spec's, then the experiment's."""
        return {**self.spec.as_params(), **self.params}

    def defaults(self):
        """The full config of the full form."""
        return {key: param.default for key, param in self.params_with_spec().items()}


_REGISTRY = {}


def register(exp):
    """Add ``exp`` to the registry; a second experiment of the same name is refused."""
    old = _REGISTRY.get(exp.name)
    if old is not None and old.run.__module__ != exp.run.__module__:
        raise ValueError(f"experiment {exp.name!r} is registered twice ({old.run.__module__}, {exp.run.__module__})")
    _REGISTRY[exp.name] = exp
    return exp


def experiment(**fields):
    """Decorator for an experiment's ``run(config, run)``: builds, registers and returns
    the :class:`Experiment` (the module's ``run`` name then holds it)."""

    def wrap(fn):
        return register(Experiment(run=fn, **fields))

    return wrap


def discover(package="experiments"):
    """Import every module of ``package`` (each registers its experiment)."""
    pkg = importlib.import_module(package)
    for info in pkgutil.iter_modules(pkg.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{package}.{info.name}")


def list_experiments(dataset=None):
    """The registered experiments' names in the tour's (the lecture's) order; with
    ``dataset``, those whose data is that dataset."""
    discover()
    exps = sorted(_REGISTRY.values(), key=lambda e: (e.order, e.name))
    return [e.name for e in exps if dataset is None or dataset in e.datasets]


def get_experiment(name):
    """The :class:`Experiment` called ``name`` (``ToolkitError`` with a suggestion if none)."""
    names = list_experiments()
    check_choice("experiment", name, names)
    return _REGISTRY[name]


def all_claims():
    """Every declared claim, in the tour's order."""
    return [claim for name in list_experiments() for claim in _REGISTRY[name].claims]


__all__ = ["Experiment", "experiment", "register", "list_experiments", "get_experiment", "all_claims", "ToolkitError"]
