"""Experiment configs: defaults, the quick variant, and ``--set key=value`` overrides.

A config is a flat dict of JSON-able values. Overrides are parsed to the type of the
default (``epochs=3`` -> int, ``code_sizes=2,8,32`` -> list of ints, ``augment=true``) and
checked by name: ``epochs``/``*units``/``*_size(s)``/``limit`` >= 1, ``*rate``/``dropout``
in [0, 1), ``rho`` in (0, 1). Unknown keys raise ``ToolkitError`` naming the closest key.
"""
import difflib
import json

from toolkit.errors import ToolkitError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


NULLABLE = ("limit", "test_limit")  # "none" means: no subset, the whole split


def _parse_scalar(key, text, like):
    text = text.strip()
    if key in NULLABLE and text.lower() in ("none", "null", "all"):
        return None
    if isinstance(like, bool):
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
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
    if like is None:
        if text.lower() in ("none", "null", ""):
            return None
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def _load_json(key, text, kind, what):
    """``text`` parsed as JSON of type ``kind`` (``what``: "a JSON list" / "a JSON object")."""
    try:
        value = json.loads(text)
    except ValueError:
        raise ToolkitError(f"--set {key}={text}: not valid {what.split(' ', 1)[1]}") from None
    if not isinstance(value, kind):
        raise ToolkitError(f"--set {key}={text}: expected {what}")
    return value


def parse_value(key, text, default):
    """``text`` parsed to the type of ``default`` (lists by commas or JSON)."""
    if isinstance(default, (list, tuple)):
        if text.strip().startswith("["):
            return _load_json(key, text, list, "a JSON list")
        like = default[0] if default else ""
        return [_parse_scalar(key, part, like) for part in text.split(",") if part.strip()]
    if isinstance(default, dict):
        return _load_json(key, text, dict, "a JSON object")
    if default is None and text.strip().lower() not in ("none", "null", ""):
        # keys that default to None take an int (e.g. limit) or a string
        try:
            return int(text)
        except ValueError:
            return text
    return _parse_scalar(key, text, default)


def _numbers(value):
    if isinstance(value, bool):
        return []
    if isinstance(value, (int, float)):
        return [value]
    if isinstance(value, (list, tuple)):
        return [v for item in value for v in _numbers(item)]
    return []


def check_ranges(config):
    """Raise ``ToolkitError`` for the first value out of its range (by key name)."""
    for key, value in config.items():
        nums = _numbers(value)
        if not nums:
            continue
        base = key.rsplit(".", 1)[-1]
        if base.endswith("epochs") or base in ("batch_size", "limit", "test_limit", "repeats") \
                or base.endswith("units") or base.endswith("_sizes") or base.endswith("_size") \
                or base in ("code_sizes", "depths", "labels"):
            bad = [n for n in nums if n < 1 or (isinstance(n, float) and not float(n).is_integer())]
            if bad:
                raise ToolkitError(f"{key} must be whole numbers >= 1; received {value!r}")
        elif base in ("learning_rate", "lr", "beta", "l1", "weight_decay"):
            if any(n < 0 for n in nums):
                raise ToolkitError(f"{key} must be >= 0; received {value!r}")
        elif base.endswith("rate") or base == "dropout" or base.endswith("_dropout") or base == "val_fraction" \
                or base == "noise" or base.endswith("_fraction"):
            if any(not 0.0 <= n < 1.0 for n in nums):
                raise ToolkitError(f"{key} must be in [0, 1); received {value!r}")
        elif base == "warmup":  # epochs of learning-rate warm-up; fractions allowed
            if any(n < 0 for n in nums):
                raise ToolkitError(f"{key} must be >= 0 (epochs, fractions allowed); received {value!r}")
        elif base == "rho":
            if any(not 0.0 < n < 1.0 for n in nums):
                raise ToolkitError(f"rho must be in (0, 1); received {value!r}")


def resolve_config(defaults, quick=None, use_quick=False, overrides=(), epochs=None):
    """The resolved config: defaults, then the quick variant, then ``--epochs``, then ``--set``."""
    config = dict(defaults)
    if use_quick and quick:
        config.update(quick)
    if epochs is not None:
        config["epochs"] = epochs
    for item in overrides:
        if "=" not in item:
            raise ToolkitError(f"--set takes key=value; received {item!r}")
        key, text = item.split("=", 1)
        key = key.strip()
        if key not in config:
            close = difflib.get_close_matches(key, list(config), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ToolkitError(f"unknown config key {key!r}; valid: {', '.join(sorted(config))}.{hint}")
        config[key] = parse_value(key, text, defaults.get(key, config[key]))
    check_ranges(config)
    return config
