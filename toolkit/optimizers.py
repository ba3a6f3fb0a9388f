"""Optimizers and learning-rate schedules chosen by name (slides 17–18: training by
stochastic gradient descent), so experiments and benchmarks build them one way.

Both are Keras's own (``keras.optimizers.Adam``/``AdamW``/``SGD`` and
``keras.optimizers.schedules.CosineDecay`` with its linear warm-up); this module only maps
config names and epochs to them. Keras's decoupled ``weight_decay`` is multiplied by the
learning rate at each step: a recipe written for coupled L2 decay needs converting.
"""

import math

from toolkit.errors import ToolkitError, check_choice, check_number, is_int

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "one_cycle")

__all__ = ["OPTIMIZERS", "SCHEDULES", "learning_rate_schedule", "make_optimizer", "steps_per_epoch"]


def steps_per_epoch(num_samples, batch_size):
    """Batches in one epoch of ``num_samples`` (the last one may be partial)."""
    return max(1, math.ceil(int(num_samples) / int(batch_size)))


def learning_rate_schedule(schedule, learning_rate, epochs=None, steps=None, warmup_epochs=0.5, start_divisor=10.0):
    """``learning_rate`` as a float (``"constant"``) or as a one-cycle schedule.

    ``"one_cycle"``: a linear warm-up from ``learning_rate / start_divisor`` to
    ``learning_rate`` over ``warmup_epochs``, then a cosine decay to zero at the end of
    ``epochs`` epochs of ``steps`` batches each (Keras's ``CosineDecay`` with warm-up). Fast
    early progress at the peak and a settled end: a few epochs suffice where a constant
    rate keeps wandering.

    Example:
        >>> lr = learning_rate_schedule("one_cycle", 0.01, epochs=2, steps=10, warmup_epochs=0.5)
        >>> [round(float(lr(s)), 4) for s in (0, 5, 20)]
        [0.001, 0.01, 0.0]
    """
    check_choice("schedule", schedule, SCHEDULES)
    learning_rate = check_number("learning_rate", learning_rate, low=0, low_open=True)
    if schedule == "constant":
        return learning_rate
    import keras

    for name, value in (("epochs", epochs), ("steps", steps)):
        if not (is_int(value) and value >= 1):  # the schedule's own wording, which callers and tests rely on
            raise ToolkitError(f"the one_cycle schedule needs {name} as a whole number >= 1; received {value!r}")
    epochs, steps = int(epochs), int(steps)
    warmup_epochs = check_number(
        "warmup_epochs", warmup_epochs, low=0, high=epochs, high_open=True, expected=f"in [0, epochs={epochs})"
    )
    warmup = int(round(warmup_epochs * steps))
    if not warmup:  # no warm-up: decay from the peak
        return keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=epochs * steps, alpha=0.0)
    return keras.optimizers.schedules.CosineDecay(
        learning_rate / start_divisor,
        decay_steps=epochs * steps - warmup,
        alpha=0.0,
        warmup_target=learning_rate,
        warmup_steps=warmup,
    )


def make_optimizer(name, learning_rate, momentum=0.9, weight_decay=0.0):
    """A Keras optimizer by name: ``"adam"``, ``"adamw"`` (decoupled ``weight_decay``) or
    ``"sgd"`` (Nesterov ``momentum``, optional ``weight_decay``). ``learning_rate`` is a
    float or a schedule from :func:`learning_rate_schedule`."""
    import keras

    name = check_choice("optimizer", name, OPTIMIZERS)
    if name == "adam":
        return keras.optimizers.Adam(learning_rate)
    if name == "adamw":
        return keras.optimizers.AdamW(learning_rate, weight_decay=float(weight_decay))
    return keras.optimizers.SGD(
        learning_rate, momentum=float(momentum), nesterov=True, weight_decay=float(weight_decay) or None
    )
