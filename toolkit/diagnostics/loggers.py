"""Keras callbacks that record the diagnostics during training, at initialisation (epoch 0)
and every ``every`` epochs, in memory and as JSON lines; their records are saved with a run's
checkpoints (``get_state``/``set_state``)."""

import json
import os

import keras

from toolkit.diagnostics.gradients import WEIGHT_CHOICES, gradient_ratio, layer_gradient_norms
from toolkit.diagnostics.stats import activation_stats
from toolkit.errors import ToolkitError, check_choice, check_int

# --------------------------------------------------------------------------- callbacks


class _EpochRecorder(keras.callbacks.Callback):
    """Records ``self._measure()`` at train begin (epoch 0) and every ``every`` epochs, in
    memory (``records``) and as JSON lines at ``path``."""

    def __init__(self, path=None, every="epoch"):
        super().__init__()
        every = (
            1 if every == "epoch" else check_int("every", every, low=1, expected="'epoch' or a positive int (epochs)")
        )
        self.path = None if path is None else os.fspath(path)
        self.every = every
        self.records = []
        self._started_file = False

    def _measure(self):
        raise NotImplementedError

    def _record(self, epoch):
        record = {"epoch": int(epoch), **self._measure()}
        self.records.append(record)
        if self.path is not None:
            folder = os.path.dirname(os.path.abspath(self.path))
            os.makedirs(folder, exist_ok=True)
            with open(self.path, "a" if self._started_file else "w", encoding="utf-8") as fh:
                fh.write(json.dumps(record, sort_keys=False) + "\n")
            self._started_file = True

    def get_state(self):
        """The records, JSON-able: a run saves them with each checkpoint (``--resume``)."""
        return {"records": self.records}

    def set_state(self, state):
        """Restore what :meth:`get_state` returned (a resumed run's earlier epochs)."""
        self.records = list(state["records"])

    def on_train_begin(self, logs=None):
        if not self.records:  # initialisation, once; a second fit() continues the log
            self._record(0)

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every == 0:
            self._record(epoch + 1)


class GradientNormLogger(_EpochRecorder):
    """Records :func:`layer_gradient_norms` on a fixed probe batch during training.

    A record is made at the start of training (epoch 0: the network at initialisation) and
    after every ``every``-th epoch: ``{"epoch": e, "norms": {layer: norm}, "ratio": r}``,
    where ``r`` is :func:`gradient_ratio` (``null`` with fewer than two hidden layers). The
    records are kept in ``records`` and, when ``path`` is given, written as JSON lines there
    (the file is rewritten by the first record). To draw them (one line per recorded epoch),
    pass :meth:`norms_by_epoch` to :func:`toolkit.plots.activations.plot_gradient_norms`:
    this module measures and imports nothing from :mod:`toolkit.plots` (no import cycle).

    Args:
        x, y: the probe batch (keep it small: a few hundred samples).
        path: the ``.jsonl`` file, e.g. ``run_dir/gradient_norms.jsonl``; or ``None``.
        loss, weights, training: as in :func:`layer_gradient_norms` (``loss=None``: the
            compiled loss).
        every: ``"epoch"`` or a number of epochs.
    """

    def __init__(self, x, y, path=None, every="epoch", loss=None, weights="all", training=False):
        super().__init__(path, every)
        check_choice("weights", weights, WEIGHT_CHOICES)
        self.x, self.y = x, y
        self.loss = loss
        self.weights_choice = weights
        self.training = training

    def _measure(self):
        norms = layer_gradient_norms(
            self.model, self.x, self.y, loss=self.loss, weights=self.weights_choice, training=self.training
        )
        try:
            ratio = gradient_ratio(norms)
        except ToolkitError:
            ratio = None
        return {"norms": norms, "ratio": ratio}

    def norms_by_epoch(self):
        """``{"epoch 0": norms, "epoch 1": norms, ...}``, ready for ``plot_gradient_norms``."""
        return {f"epoch {r['epoch']}": r["norms"] for r in self.records}


class ActivationStatsLogger(_EpochRecorder):
    """Records :func:`activation_stats` on a fixed probe batch during training.

    Records ``{"epoch": e, "layers": {layer: {"kind", "mean", "saturated" | "dead"}}}`` at the
    start of training (epoch 0) and after every ``every``-th epoch, in ``records`` and as JSON
    lines at ``path`` (when given).
    """

    def __init__(self, x, path=None, every="epoch", layer_names=None):
        super().__init__(path, every)
        self.x = x
        self.layer_names = layer_names

    def _measure(self):
        return {"layers": activation_stats(self.model, self.x, layer_names=self.layer_names)}


def read_jsonl(path):
    """The records of a JSON-lines file written by the loggers above."""
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
