"""The toolkit's own error types.

Every user-facing failure raises one of these with a single line that says what was
received, what is allowed and how to fix it. ``ToolkitError`` subclasses ``ValueError``
so callers that catch ``ValueError`` (the Keras convention for bad arguments) keep working;
the CLI prints ``error: <message>`` and exits with status 2 instead of a traceback.

The checkers below are the one validation vocabulary of the toolkit: each returns the
cleaned value or raises ``ToolkitError`` worded "<name> must be <what is allowed>; received
<what was received>". Whole numbers are :func:`is_int`, real numbers :func:`is_number`; a
bool is neither (``True`` is not a unit count, a rate or a shape).

- :func:`check_int` ``(name, value, low=None, high=None)``: an int in bounds;
- :func:`check_number` ``(name, value, low=None, high=None, low_open=False, high_open=False,
  finite=True)``: a real number in an interval; NaN and infinities refused unless allowed;
- :func:`check_shape` ``(name, value, rank=None, axes=None)``: a shape of positive ints;
- :func:`check_positive_ints` ``(name, value)``: a non-empty sequence of positive ints;
- :func:`check_choice` ``(kind, received, allowed)``: one of a set of names, with "did you mean".

Example:
    >>> check_int("filters", 32, low=1), check_number("rate", 0.5, low=0, high=1, high_open=True)
    (32, 0.5)
    >>> check_int("filters", True, low=1)
    Traceback (most recent call last):
    ...
    toolkit.errors.ToolkitError: filters must be a positive int; received True
    >>> check_number("rate", float("nan"), low=0, high=1, high_open=True)
    Traceback (most recent call last):
    ...
    toolkit.errors.ToolkitError: rate must be a number in [0, 1); received nan
"""

import math
import numbers


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
    raise ToolkitError(f"unknown {kind} {received!r}; valid: {', '.join(map(str, allowed))}.{hint}")


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


def is_int(value):
    """Whether ``value`` is a whole number: a Python or NumPy int, never a bool or a float."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_number(value):
    """Whether ``value`` is a real number (int, float, NumPy scalar), never a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _as_tuple(value):
    if isinstance(value, (str, bytes)):
        return None
    try:
        return tuple(value)
    except TypeError:
        return None


def _fmt(bound):
    return f"{bound:g}" if isinstance(bound, float) else str(bound)


def _refuse(name, expected, value, optional):
    raise ToolkitError(f"{name} must be {expected}{' or None' if optional else ''}; received {value!r}")


def check_int(name, value, low=None, high=None, *, optional=False, expected=None):
    """``value`` as an ``int`` with ``low <= value <= high`` (either bound may be None).

    ``optional=True`` lets None through (returned as None). ``expected`` replaces the
    generated description of what is allowed, for wordings such as "'epoch' or a positive
    int (epochs)".

    Example:
        >>> check_int("convs", 2, low=1), check_int("seed", None, optional=True)
        (2, None)
        >>> check_int("n_components", 5, low=1, high=4)
        Traceback (most recent call last):
        ...
        toolkit.errors.ToolkitError: n_components must be an int in 1..4; received 5
    """
    if value is None and optional:
        return None
    if is_int(value) and (low is None or value >= low) and (high is None or value <= high):
        return int(value)
    if expected is None:
        if low is not None and high is not None:
            expected = f"an int in {low}..{high}"
        elif low == 1:
            expected = "a positive int"
        elif low is not None:
            expected = f"an int >= {low}"
        elif high is not None:
            expected = f"an int <= {high}"
        else:
            expected = "an int"
    _refuse(name, expected, value, optional)


def check_number(
    name, value, low=None, high=None, low_open=False, high_open=False, finite=True, *, optional=False, expected=None
):
    """``value`` as a ``float`` in the interval from ``low`` to ``high`` (either may be None).

    ``low_open``/``high_open`` exclude the bound itself. NaN is always refused, infinities
    unless ``finite=False``. ``optional`` and ``expected`` as in :func:`check_int`.

    Example:
        >>> check_number("l1", 0, low=0), check_number("upper", float("inf"), finite=False)
        (0.0, inf)
        >>> check_number("learning_rate", -1.0, low=0, low_open=True)
        Traceback (most recent call last):
        ...
        toolkit.errors.ToolkitError: learning_rate must be a number > 0; received -1.0
    """
    if value is None and optional:
        return None
    if is_number(value):
        number = float(value)
        ok = (
            not math.isnan(number)
            and (math.isfinite(number) or not finite)
            and (low is None or (number > low if low_open else number >= low))
            and (high is None or (number < high if high_open else number <= high))
        )
        if ok:
            return number
    if expected is None:
        if low is not None and high is not None:
            expected = f"a number in {'(' if low_open else '['}{_fmt(low)}, {_fmt(high)}{')' if high_open else ']'}"
        elif low is not None:
            expected = f"a number {'>' if low_open else '>='} {_fmt(low)}"
        elif high is not None:
            expected = f"a number {'<' if high_open else '<='} {_fmt(high)}"
        else:
            expected = "a finite number" if finite else "a number (not NaN)"
    _refuse(name, expected, value, optional)


def check_shape(name, value, rank=None, axes=None, *, expected=None):
    """``value`` as a tuple of positive ints: a shape without the batch axis.

    ``rank`` fixes its length; ``axes`` names them for the message (``("height", "width",
    "channels")`` gives "must be (height, width, channels) positive ints").

    Example:
        >>> check_shape("input_shape", [28, 28, 1], rank=3)
        (28, 28, 1)
        >>> check_shape("input_shape", (28, 28), axes=("height", "width", "channels"))
        Traceback (most recent call last):
        ...
        toolkit.errors.ToolkitError: input_shape must be (height, width, channels) positive ints; received (28, 28)
    """
    if axes is not None:
        rank = len(axes)
    values = _as_tuple(value)
    if values and (rank is None or len(values) == rank) and all(is_int(v) and v > 0 for v in values):
        return tuple(int(v) for v in values)
    if expected is None:
        if axes is not None:
            expected = f"({', '.join(axes)}) positive ints"
        elif rank is not None:
            expected = f"{rank} positive ints"
        else:
            expected = "a non-empty tuple of positive ints"
    _refuse(name, expected, value, False)
