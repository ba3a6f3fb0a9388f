"""The toolkit's own error types.

Every user-facing failure raises one of these with a single line that says what was
received, what is allowed and how to fix it. ``ToolkitError`` subclasses ``ValueError``
so callers that catch ``ValueError`` (the Keras convention for bad arguments) keep working;
the CLI prints ``error: <message>`` and exits with status 2 instead of a traceback.
"""


class ToolkitError(ValueError):
    """Bad input to the toolkit: a name, a number, a spec or a file it cannot use."""

    def __init__(self, message):
        # One line, always: a multi-line message would break the CLI's contract.
        super().__init__(" ".join(str(message).split()))


class DataError(ToolkitError):
    """A dataset file that is missing, truncated, wrongly headed or corrupt."""


class RunError(ToolkitError):
    """A run that cannot start or cannot go on (no GPU, unwritable folder, NaN loss)."""


def check_choice(kind, received, allowed):
    """Raise ``ToolkitError`` unless ``received`` is one of ``allowed``; suggest the closest."""
    if received in allowed:
        return received
    import difflib

    close = difflib.get_close_matches(str(received), [str(a) for a in allowed], n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ToolkitError(
        f"unknown {kind} {received!r}; valid: {', '.join(map(str, allowed))}.{hint}"
    )


def check_positive_ints(name, value, kind="sequence", scalar=True, hint=""):
    """``value`` as a tuple of positive ints, or ``ToolkitError`` echoing what was received:
    "<name> must be a non-empty <kind> of positive ints<hint>; received ...". ``scalar``: a
    single int counts as a one-element sequence."""
    import numbers

    def whole(v):
        return isinstance(v, numbers.Integral) and not isinstance(v, bool)

    given = (value,) if scalar and whole(value) else value
    try:
        values = tuple(given)
    except TypeError:
        values = None
    if not values or not all(whole(v) and v > 0 for v in values):
        raise ToolkitError(f"{name} must be a non-empty {kind} of positive ints{hint}; received {value!r}")
    return tuple(int(v) for v in values)
