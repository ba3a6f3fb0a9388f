"""Optimizers and schedules by name (toolkit.optimizers): the one-cycle schedule against
hand-computed values, the optimizer each name gives, and one-line errors."""

import math

import keras
import pytest

from toolkit.errors import ToolkitError
from toolkit.optimizers import learning_rate_schedule, make_optimizer, steps_per_epoch


def test_steps_per_epoch_counts_the_partial_batch():
    assert steps_per_epoch(60000, 128) == 469
    assert steps_per_epoch(256, 128) == 2
    assert steps_per_epoch(1, 128) == 1


def test_one_cycle_warms_up_linearly_then_follows_a_cosine_to_zero():
    peak, epochs, steps = 0.004, 3, 100
    lr = learning_rate_schedule("one_cycle", peak, epochs=epochs, steps=steps, warmup_epochs=0.5)
    warmup, total = 50, 300

    def expected(step):
        if step < warmup:
            return peak / 10 + (peak - peak / 10) * step / warmup
        return peak * 0.5 * (1 + math.cos(math.pi * (step - warmup) / (total - warmup)))

    for step in (0, 10, 25, 49, 50, 100, 175, 250, 299, 300):
        assert float(lr(step)) == pytest.approx(expected(step), rel=1e-5, abs=1e-9), step


def test_constant_is_a_plain_float_and_the_optimizer_uses_the_schedule():
    assert learning_rate_schedule("constant", 0.01) == 0.01
    schedule = learning_rate_schedule("one_cycle", 0.01, epochs=1, steps=10, warmup_epochs=0)
    assert [float(schedule(s)) for s in (0, 5)] == pytest.approx([0.01, 0.005])  # no warm-up: from the peak
    opt = make_optimizer("sgd", schedule, momentum=0.8, weight_decay=1e-4)
    assert isinstance(opt, keras.optimizers.SGD) and opt.nesterov and opt.momentum == 0.8
    assert opt.weight_decay == pytest.approx(1e-4)
    assert isinstance(make_optimizer("adam", 0.1), keras.optimizers.Adam)
    adamw = make_optimizer("adamw", 0.1, weight_decay=0.05)
    assert isinstance(adamw, keras.optimizers.AdamW) and adamw.weight_decay == pytest.approx(0.05)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: learning_rate_schedule("cosine", 0.1), "unknown schedule 'cosine'; valid: constant, one_cycle"),
        (lambda: learning_rate_schedule("one_cycle", 0.1, epochs=None, steps=5), "needs epochs as a whole number"),
        (lambda: learning_rate_schedule("one_cycle", -1.0, epochs=2, steps=5), "learning_rate must be a number > 0"),
        (
            lambda: learning_rate_schedule("one_cycle", 0.1, epochs=2, steps=5, warmup_epochs=2),
            r"warmup_epochs must be in \[0, epochs=2\); received 2",
        ),
        (lambda: make_optimizer("adagrad", 0.1), "unknown optimizer 'adagrad'; valid: adam, adamw, sgd"),
    ],
)
def test_bad_choices_are_one_line_errors(call, message):
    with pytest.raises(ToolkitError, match=message):
        call()
