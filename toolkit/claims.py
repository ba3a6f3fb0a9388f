"""The lecture's claims, checked: each experiment declares the claims it tests, with a
criterion fixed in code before the run; the run's measured metrics decide the verdict.

A :class:`Claim` has an ``id``, the ``slides`` it comes from, the ``claim`` in words, the
``criterion`` in words, ``measure(metrics) -> {name: number}`` (the numbers the criterion
uses, taken from the run's ``metrics.json``) and ``holds(measured) -> bool``. :func:`judge`
turns them into the verdicts a run folder's ``claims.json`` holds::

    {"id", "slides", "claim", "criterion", "measured", "verdict", "experiment", "dataset"}

with ``verdict`` ``"reproduced"`` or ``"not_reproduced"``. A claim whose numbers the run did
not measure (a failed run, a config that left a model out) is ``not_reproduced``, with the
reason in ``measured``; a run on the embedded ``shapes`` set says its verdicts are about that
set, not the lecture's data.

Example — the verdict logic on hand-made numbers:
    >>> c = Claim("ae-code-size", "3–7", "error falls as the code grows", "each MSE below the last",
    ...           measure=lambda m: {"mse": m["mse"]}, holds=lambda v: v["mse"][1] < v["mse"][0])
    >>> verdict(c, {"mse": [0.05, 0.02]})["verdict"], verdict(c, {"mse": [0.02, 0.05]})["verdict"]
    ('reproduced', 'not_reproduced')
"""

import dataclasses
import math

REPRODUCED, NOT_REPRODUCED = "reproduced", "not_reproduced"


@dataclasses.dataclass(frozen=True)
class Claim:
    id: str
    slides: str
    claim: str
    criterion: str
    measure: object
    holds: object

    def summary(self):
        return {"id": self.id, "slides": self.slides, "claim": self.claim, "criterion": self.criterion}


def _finite(value):
    if isinstance(value, (list, tuple)):
        return all(_finite(v) for v in value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def verdict(claim, metrics):
    """The verdict of ``claim`` on ``metrics``: numbers that are missing or not finite make it
    ``not_reproduced`` (with the reason), never a crash."""
    try:
        measured = claim.measure(metrics)
    except (KeyError, IndexError, TypeError, ValueError, ZeroDivisionError) as exc:
        return {
            **claim.summary(),
            "measured": {"not measured": f"{type(exc).__name__}: {exc}"},
            "verdict": NOT_REPRODUCED,
        }
    ok = _finite(measured) and bool(claim.holds(measured))
    return {**claim.summary(), "measured": measured, "verdict": REPRODUCED if ok else NOT_REPRODUCED}


def judge(experiment, metrics, error=None):
    """The verdicts of every claim of ``experiment`` on the run's ``metrics``."""
    used = sorted({d.get("dataset") for d in metrics.get("data", {}).values() if d.get("dataset")})
    results = []
    for claim in experiment.claims:
        result = (
            verdict(claim, metrics)
            if error is None
            else {
                **claim.summary(),
                "measured": {"not measured": f"the run failed: {error}"},
                "verdict": NOT_REPRODUCED,
            }
        )
        result["experiment"] = experiment.name
        result["dataset"] = ", ".join(used) or None
        if "shapes" in used and experiment.spec.dataset != "shapes":
            result["note"] = (
                f"about the embedded 'shapes' set, not the lecture's data ({experiment.spec.dataset}): "
                "the real dataset was not found"
            )
        results.append(result)
    return results


# --- small criteria, shared by the experiments' declarations -----------------------------


def decreasing(values):
    """Each value strictly below the one before."""
    return all(b < a for a, b in zip(values, values[1:]))


def all_below(values, bounds):
    """Each value strictly below its bound."""
    return len(values) == len(bounds) and all(v < b for v, b in zip(values, bounds))
