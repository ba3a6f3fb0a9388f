"""A run's configuration: the typed framework keys, each experiment's declared keys, and
``--set key=value`` overrides.

- :class:`RunSpec` holds the keys every experiment has (dataset, epochs, batch size, data
  limits, seed, mixed precision), with their checks.
- An experiment declares its own keys as :class:`Param` (a default and a check) and, where
  keys depend on each other, a ``check(config)`` function: every check is declared in one
  place, next to the experiment, and runs before anything is loaded or built.
- :func:`resolve_config` merges spec defaults, the experiment's params, the quick variant,
  ``--epochs`` and ``--set`` overrides (parsed to the default's type), then checks them all.

The resolved config is a flat dict of JSON values (what ``config.json`` holds and what an
experiment's ``run(config, run)`` reads). Data folder and device are arguments of the run,
not config.
"""

import dataclasses
import difflib
import json
import math
import numbers

from toolkit.errors import ToolkitError, check_choice

MAX_EPOCHS = 100_000
MAX_BATCH = 1 << 20
MAX_NESTING = 3
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_NONE = {"none", "null", "all"}


# --- checks: each takes (key, value) and raises ToolkitError with one line ---------------


def _numbers(key, value, depth=0):
    """Every number in ``value`` (nested lists allowed, ``MAX_NESTING`` deep)."""
    if depth > MAX_NESTING:
        raise ToolkitError(f"{key} is nested more than {MAX_NESTING} lists deep; received a list of lists of …")
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return []
    if isinstance(value, numbers.Number):
        return [value]
    if isinstance(value, (list, tuple)):
        return [n for item in value for n in _numbers(key, item, depth + 1)]
    return []


def _finite(key, value, nums):
    if any(isinstance(n, float) and not math.isfinite(n) for n in nums):
        raise ToolkitError(f"{key} must be finite numbers; received {value!r}")


def whole(minimum=1, maximum=None):
    """Whole numbers >= ``minimum`` (and <= ``maximum``), alone or in (nested) lists."""

    def check(key, value):
        if isinstance(value, str) or isinstance(value, bool):
            raise ToolkitError(f"{key} must be whole numbers >= {minimum}; received {value!r}")
        nums = _numbers(key, value)
        _finite(key, value, nums)
        if any(not float(n).is_integer() or n < minimum for n in nums):
            raise ToolkitError(f"{key} must be whole numbers >= {minimum}; received {value!r}")
        if maximum is not None and any(n > maximum for n in nums):
            raise ToolkitError(f"{key} must be whole numbers in [{minimum}, {maximum}]; received {value!r}")

    return check


def at_least(minimum=0.0):
    """Finite numbers >= ``minimum``."""

    def check(key, value):
        nums = _numbers(key, value)
        _finite(key, value, nums)
        if isinstance(value, (str, bool)) or any(n < minimum for n in nums):
            raise ToolkitError(f"{key} must be >= {minimum:g}; received {value!r}")

    return check


def fraction():
    """Numbers in [0, 1) (rates, dropout, fractions)."""

    def check(key, value):
        nums = _numbers(key, value)
        if isinstance(value, (str, bool)) or any(not 0.0 <= n < 1.0 for n in nums):
            raise ToolkitError(f"{key} must be in [0, 1); received {value!r}")

    return check


def open_unit():
    """Numbers in (0, 1) (a target activation rate)."""

    def check(key, value):
        nums = _numbers(key, value)
        if isinstance(value, (str, bool)) or any(not 0.0 < n < 1.0 for n in nums):
            raise ToolkitError(f"{key} must be in (0, 1); received {value!r}")

    return check


def between(low, high):
    """Finite numbers in [low, high]."""

    def check(key, value):
        nums = _numbers(key, value)
        _finite(key, value, nums)
        if isinstance(value, (str, bool)) or any(not low <= n <= high for n in nums):
            raise ToolkitError(f"{key} must be in [{low:g}, {high:g}]; received {value!r}")

    return check


def choice(options, kind=None):
    """One of ``options`` (or, for a list value, each item one of them). ``options`` may be a
    function returning them (e.g. ``toolkit.models.list_models``), called when a value is checked."""

    def check(key, value):
        allowed = list(options() if callable(options) else options)
        for item in value if isinstance(value, (list, tuple)) else [value]:
            check_choice(kind or key, item, allowed)

    return check


def activation():
    """An activation spec :func:`toolkit.activations.get_activation` accepts (or a list of them)."""

    def check(key, value):
        from toolkit.activations import get_activation

        for item in value if isinstance(value, list) else [value]:
            get_activation(item)

    return check


def flag():
    def check(key, value):
        if not isinstance(value, bool):
            raise ToolkitError(f"{key} must be true or false; received {value!r}")

    return check


def anything():
    def check(key, value):
        _numbers(key, value)  # nesting depth only

    return check


@dataclasses.dataclass(frozen=True)
class Param:
    """An experiment's own config key: its default, its check and whether ``none`` is allowed."""

    default: object
    check: object = dataclasses.field(default_factory=anything)
    nullable: bool = False
    help: str = ""


def _dataset_check(key, value):
    """A dataset name, or an existing folder of images / ``.npz`` (``--set dataset=PATH``)."""
    from toolkit.data import list_datasets
    from toolkit.data.custom import is_dataset_path, looks_like_path

    if isinstance(value, str) and value not in list_datasets() and (is_dataset_path(value) or looks_like_path(value)):
        if not is_dataset_path(value):
            raise ToolkitError(f"dataset {value}: no such folder or .npz file")
        return
    check_choice("dataset", value, list_datasets())


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """The framework keys of every run, typed and checked.

    ``seed`` seeds everything of the run (initial weights, shuffles, dropout, augmentation);
    ``limit``/``test_limit`` take the first N images of a split (``None``: all of it).
    """

    dataset: str = "mnist"
    epochs: int = 1
    batch_size: int = 128
    limit: int | None = None
    test_limit: int | None = None
    seed: int = 0
    mixed_precision: bool = False

    CHECKS = {
        "dataset": _dataset_check,
        "epochs": whole(1, MAX_EPOCHS),
        "batch_size": whole(1, MAX_BATCH),
        "limit": whole(1),
        "test_limit": whole(1),
        "seed": whole(0, 2**32 - 1),
        "mixed_precision": flag(),
    }
    NULLABLE = ("limit", "test_limit")

    @classmethod
    def from_config(cls, config):
        return cls(**{f.name: config[f.name] for f in dataclasses.fields(cls) if f.name in config})

    def as_params(self):
        """The spec's fields as :class:`Param` (their values as defaults)."""
        return {
            f.name: Param(getattr(self, f.name), self.CHECKS[f.name], f.name in self.NULLABLE)
            for f in dataclasses.fields(self)
        }


# --- parsing --set values ------------------------------------------------------------------


def _load_json(key, text, kind, what):
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise ToolkitError(f"--set {key}={text[:80]}: not valid {what.split(' ', 1)[1]}") from None
    if not isinstance(value, kind):
        raise ToolkitError(f"--set {key}={text[:80]}: expected {what}")
    return value


def _parse_scalar(key, text, like, nullable):
    text = text.strip()
    if nullable and text.lower() in _NONE:
        return None
    if isinstance(like, bool):
        if text.lower() in _TRUE | _FALSE:
            return text.lower() in _TRUE
        raise ToolkitError(f"--set {key}={text}: expected true or false")
    if isinstance(like, int):
        try:
            return int(text)
        except ValueError:
            raise ToolkitError(f"--set {key}={text}: expected an integer") from None
    if isinstance(like, float):
        try:
            return float(text)
        except ValueError:
            raise ToolkitError(f"--set {key}={text}: expected a number") from None
    if like is None:  # a nullable key without a typed default: an int or a string
        try:
            return int(text)
        except ValueError:
            return text
    return text


def parse_value(key, text, param):
    """``text`` parsed to the type of ``param.default`` (lists by commas or as JSON)."""
    default = param.default
    if isinstance(default, (list, tuple)):
        if text.strip().startswith("["):
            return _load_json(key, text, list, "a JSON list")
        like = default[0] if default else ""
        return [_parse_scalar(key, part, like, False) for part in text.split(",") if part.strip()]
    if isinstance(default, dict):
        return _load_json(key, text, dict, "a JSON object")
    return _parse_scalar(key, text, default, param.nullable or default is None)


def check_config(params, config):
    """Run every param's check on ``config`` (``None`` is fine for nullable keys)."""
    for key, param in params.items():
        value = config[key]
        if value is None and (param.nullable or param.default is None):
            continue
        param.check(key, value)


def resolve_config(experiment, use_quick=False, overrides=(), epochs=None, smoke=False):
    """The checked config of ``experiment``: its defaults, then the quick variant (and with
    ``smoke``, the test suite's smaller form of it), then ``--epochs``, then ``--set
    key=value`` overrides; then every declared check and the experiment's own cross-check."""
    params = experiment.params_with_spec()
    config = {key: param.default for key, param in params.items()}
    if use_quick or smoke:
        config.update(experiment.quick)
    if smoke:
        config.update(experiment.smoke)
    if epochs is not None:
        config["epochs"] = epochs
    for item in overrides:
        if "=" not in item:
            raise ToolkitError(f"--set takes key=value; received {item!r}")
        key, text = item.split("=", 1)
        key = key.strip()
        if key not in params:
            close = difflib.get_close_matches(key, list(params), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ToolkitError(f"unknown config key {key!r}; valid: {', '.join(sorted(params))}.{hint}")
        config[key] = parse_value(key, text, params[key])
    check_config(params, config)
    if experiment.check is not None:
        experiment.check(config)
    return config
