"""What several experiments share: the optimizer recipe's config keys, their check, and the
compiled learning rate (not an experiment: discovery skips modules whose name starts with ``_``).

A one-cycle schedule (linear warm-up to the peak rate, then a cosine decay to zero) makes the
last epoch a settled one, so a claim judged on the final epoch is not decided by where a
constant rate happened to leave the weights (measured on augment-cifar10: ±5–10 points from
one epoch to the next at a constant Adam rate).
"""

from toolkit.errors import ToolkitError
from toolkit.runs.spec import Param, at_least, choice


def schedule_params(learning_rate, schedule="one_cycle", warmup=0.5):
    """The config keys of the recipe: ``learning_rate`` (the peak), ``schedule``, ``warmup`` (epochs)."""
    return {
        "learning_rate": Param(learning_rate, at_least(0)),
        "schedule": Param(schedule, choice(("constant", "one_cycle"), kind="schedule")),
        "warmup": Param(warmup, at_least(0)),  # epochs of linear warm-up before the cosine decay
    }


def check_schedule(config):
    """The recipe's cross-checks, before anything is loaded."""
    if config["learning_rate"] <= 0:
        raise ToolkitError(f"learning_rate must be > 0; received {config['learning_rate']!r}")
    if config["schedule"] == "one_cycle" and not 0 <= config["warmup"] < config["epochs"]:
        raise ToolkitError(f"warmup_epochs must be in [0, epochs={config['epochs']}); received {config['warmup']!r}")


def learning_rate(config, train_size):
    """The config's learning rate for ``train_size`` training images (a float or a Keras schedule)."""
    from toolkit.optimizers import learning_rate_schedule, steps_per_epoch

    return learning_rate_schedule(
        config["schedule"],
        config["learning_rate"],
        epochs=config["epochs"],
        steps=steps_per_epoch(train_size, config["batch_size"]),
        warmup_epochs=config["warmup"],
    )
