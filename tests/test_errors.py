"""The validation vocabulary of toolkit.errors: each checker accepts what it says, refuses the
rest with one line "<name> must be <allowed>; received <value>", and never takes a bool for a
number (``True`` is not a unit count)."""

import math

import numpy as np
import pytest

from toolkit.errors import (
    ToolkitError,
    check_choice,
    check_int,
    check_number,
    check_positive_ints,
    check_shape,
    is_int,
    is_number,
)


def refused(call):
    with pytest.raises(ToolkitError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message and "; received " in message, message
    return message


def test_type_tests_refuse_bools():
    assert is_int(3) and is_int(np.int64(3)) and not is_int(True) and not is_int(np.bool_(True))
    assert not is_int(3.0) and not is_int("3") and not is_int(None)
    assert is_number(0.5) and is_number(2) and is_number(np.float32(0.5)) and not is_number(False)
    assert not is_number("0.5") and not is_number(None) and not is_number(1j)


@pytest.mark.parametrize(
    "kwargs, value, expected",
    [
        ({}, 0, 0),
        ({"low": 1}, np.int64(7), 7),
        ({"low": 0}, 0, 0),
        ({"low": 1, "high": 4}, 4, 4),
        ({"high": -1}, -5, -5),
    ],
)
def test_check_int_accepts(kwargs, value, expected):
    got = check_int("n", value, **kwargs)
    assert got == expected and type(got) is int


@pytest.mark.parametrize(
    "kwargs, value, message",
    [
        ({"low": 1}, True, "n must be a positive int; received True"),
        ({"low": 1}, 0, "n must be a positive int; received 0"),
        ({"low": 1}, 2.0, "n must be a positive int; received 2.0"),
        ({"low": 0}, -1, "n must be an int >= 0; received -1"),
        ({"low": 2}, "3", "n must be an int >= 2; received '3'"),
        ({"high": 3}, 4, "n must be an int <= 3; received 4"),
        ({"low": 1, "high": 4}, 5, "n must be an int in 1..4; received 5"),
        ({}, None, "n must be an int; received None"),
        ({"low": 1, "optional": True}, 0, "n must be a positive int or None; received 0"),
        (
            {"low": 1, "expected": "'epoch' or a positive int"},
            False,
            "n must be 'epoch' or a positive int; received False",
        ),
    ],
)
def test_check_int_refuses(kwargs, value, message):
    assert refused(lambda: check_int("n", value, **kwargs)) == message


def test_check_int_optional_lets_none_through():
    assert check_int("seed", None, optional=True) is None


@pytest.mark.parametrize(
    "kwargs, value, expected",
    [
        ({}, 3, 3.0),
        ({"low": 0}, 0, 0.0),
        ({"low": 0, "high": 1, "high_open": True}, np.float32(0.5), 0.5),
        ({"low": 0, "low_open": True}, 1e-9, 1e-9),
        ({"finite": False}, math.inf, math.inf),
        ({"low": 0, "finite": False}, math.inf, math.inf),
        ({"optional": True}, None, None),
    ],
)
def test_check_number_accepts(kwargs, value, expected):
    got = check_number("x", value, **kwargs)
    assert got == expected and (got is None or type(got) is float)


@pytest.mark.parametrize(
    "kwargs, value, message",
    [
        ({}, True, "x must be a finite number; received True"),
        ({}, math.nan, "x must be a finite number; received nan"),
        ({"finite": False}, math.nan, "x must be a number (not NaN); received nan"),
        ({}, math.inf, "x must be a finite number; received inf"),
        ({"low": 0}, -math.inf, "x must be a number >= 0; received -inf"),
        ({"low": 0}, "0.5", "x must be a number >= 0; received '0.5'"),
        ({"low": 0, "low_open": True}, 0, "x must be a number > 0; received 0"),
        ({"high": 1, "high_open": True}, 1, "x must be a number < 1; received 1"),
        ({"high": 1}, 1.5, "x must be a number <= 1; received 1.5"),
        ({"low": 0, "high": 1, "low_open": True, "high_open": True}, 1.0, "x must be a number in (0, 1); received 1.0"),
        ({"low": 0.0, "high": 0.5, "high_open": True}, 0.5, "x must be a number in [0, 0.5); received 0.5"),
        (
            {"low": 0, "high": 2, "high_open": True, "expected": "in [0, epochs=2)"},
            2,
            "x must be in [0, epochs=2); received 2",
        ),
        ({"low": 0, "optional": True}, -1, "x must be a number >= 0 or None; received -1"),
    ],
)
def test_check_number_refuses(kwargs, value, message):
    assert refused(lambda: check_number("x", value, **kwargs)) == message


def test_check_shape_accepts_and_refuses():
    assert check_shape("input_shape", [28, 28, 1], rank=3) == (28, 28, 1)
    assert check_shape("input_shape", (np.int64(4),)) == (4,)
    axes = ("height", "width", "channels")
    assert refused(lambda: check_shape("input_shape", (28, 28), axes=axes)) == (
        "input_shape must be (height, width, channels) positive ints; received (28, 28)"
    )
    assert refused(lambda: check_shape("s", (2, 0), rank=2)) == "s must be 2 positive ints; received (2, 0)"


@pytest.mark.parametrize("bad", [(), (28, True), (28.0, 28.0), "28", 28, None, (28, None)])
def test_check_shape_refuses_non_shapes(bad):
    assert refused(lambda: check_shape("s", bad)) == f"s must be a non-empty tuple of positive ints; received {bad!r}"


def test_existing_checkers_keep_their_wording():
    assert check_positive_ints("units", 8) == (8,)
    assert refused(lambda: check_positive_ints("units", (8, True))) == (
        "units must be a non-empty sequence of positive ints; received (8, True)"
    )
    assert check_choice("pool", "max", ("max", "average")) == "max"
    with pytest.raises(ToolkitError, match="unknown pool 'maxx'; valid: max, average. Did you mean 'max'"):
        check_choice("pool", "maxx", ("max", "average"))


def test_toolkit_error_is_a_one_line_value_error():
    error = ToolkitError("a\nb   c")
    assert isinstance(error, ValueError) and str(error) == "a b c"
