"""Training inside a run: a resumable, seeded, per-epoch-shuffled ``fit``.

:class:`Trainer` wraps ``model.fit`` with the run's callbacks:

- :class:`EpochSeed` seeds every epoch from (seed, label, epoch), so epoch k shuffles, drops
  out and augments the same way whether the run went straight through or resumed at k;
- :class:`HistoryRecorder` appends one labelled row per epoch to the run's history;
- :class:`NaNGuard` stops the run when an epoch's loss is not finite;
- :class:`EpochCheckpoint` saves the weights (optimizer state included) after every epoch,
  atomically, with the state of every *stateful* callback.

A stateful callback is any callback with ``get_state()`` (JSON-able) and
``set_state(state)``: the gradient-norm and activation loggers of
:mod:`toolkit.diagnostics`, the zoo's epoch timer. Their state is saved with each
checkpoint and with the finished fit, and restored on ``--resume``, so an experiment reads
``logger.records`` whether the fit ran or was restored — it never reads files back.

Only public Keras API is used: the checkpoint is a plain callback and the resumed epoch is
passed to ``fit`` as ``initial_epoch``. One convention is relied on: a layer's random seed
state is a variable whose path ends in ``seed_generator_state`` (Keras 3.15; pinned in
``requirements.txt``/``pyproject.toml``).
"""

import math
import os
import sys
import time
import zlib

import keras
import numpy as np

from toolkit import fileio
from toolkit.errors import RunError
from toolkit.runs.folder import read_json

CHECKPOINT_META = "training_metadata.json"


def derived_seed(seed, *parts):
    """A 31-bit seed derived from ``seed`` and ``parts`` (stable across processes)."""
    return zlib.crc32("/".join(map(str, (seed, *parts))).encode()) & 0x7FFFFFFF


def reseed(seed, *parts):
    keras.utils.set_random_seed(derived_seed(seed, *parts))


def _stateful(callbacks):
    return [
        cb for cb in callbacks if callable(getattr(cb, "get_state", None)) and callable(getattr(cb, "set_state", None))
    ]


def _states(callbacks):
    return [cb.get_state() for cb in _stateful(callbacks)]


def _set_states(callbacks, states):
    for cb, state in zip(_stateful(callbacks), states or []):
        cb.set_state(state)


class EpochSeed(keras.callbacks.Callback):
    """Seeds every epoch from (seed, label, epoch): global seeds and each layer's seed
    generator state (dropout, noise, augmentation). A few assignments per epoch."""

    def __init__(self, seed, label):
        super().__init__()
        self.seed, self.label = seed, label

    def on_epoch_begin(self, epoch, logs=None):
        derived = derived_seed(self.seed, self.label, epoch)
        reseed(self.seed, self.label, epoch)
        states = [v for v in self.model.variables if v.path.endswith("seed_generator_state")]
        for i, state in enumerate(states):
            state.assign(np.array([(derived + i) & 0x7FFFFFFF, 0], dtype=state.dtype))


class HistoryRecorder(keras.callbacks.Callback):
    """One row per epoch into ``rows`` (label, 1-based epoch, seconds, the logs); calls
    ``on_row()`` after each, so the run's ``history.csv`` grows epoch by epoch. Change
    ``label`` between fits (or greedy stages) to tell them apart."""

    def __init__(self, label, rows, on_row=None):
        super().__init__()
        self.label, self.rows, self.on_row = label, rows, on_row
        self._start = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        row = {"label": self.label, "epoch": epoch + 1, "seconds": round(time.perf_counter() - self._start, 4)}
        row.update({k: float(v) for k, v in (logs or {}).items() if isinstance(v, (int, float)) or hasattr(v, "item")})
        # an epoch redone after a resume replaces its earlier row
        self.rows[:] = [r for r in self.rows if (r["label"], r["epoch"]) != (self.label, epoch + 1)]
        self.rows.append(row)
        if self.on_row is not None:
            self.on_row()


class NaNGuard(keras.callbacks.Callback):
    """Stops the run after the first epoch whose mean loss is NaN or infinite. Per epoch,
    not per batch (Keras's ``TerminateOnNaN``): a per-batch check makes every step wait for
    its loss; a NaN in any batch makes the epoch's mean NaN, so nothing is missed."""

    def __init__(self, label):
        super().__init__()
        self.label = label

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise RunError(
                f"[{self.label}] loss became {float(loss)} in epoch {epoch + 1}; lower the learning "
                "rate or check the data (the run stopped)"
            )


class EpochCheckpoint(keras.callbacks.Callback):
    """After every epoch: the weights (with the optimizer's state) to their own file, written
    under a temporary name and renamed, then the metadata naming them (and the stateful
    callbacks' state) replaced atomically — a kill at any moment leaves a whole checkpoint.
    :func:`restore_checkpoint` reads it back."""

    def __init__(self, directory, callbacks=()):
        super().__init__()
        self.directory = directory
        self.callbacks = list(callbacks)

    def on_epoch_end(self, epoch, logs=None):
        os.makedirs(self.directory, exist_ok=True)
        name = f"epoch{epoch + 1}.weights.h5"
        fileio.save_weights(self.model, os.path.join(self.directory, name))  # atomic, space checked first
        fileio.write_json(
            os.path.join(self.directory, CHECKPOINT_META),
            {"epoch": epoch + 1, "weights": name, "state": _states(self.callbacks)},
        )
        for old in os.listdir(self.directory):
            if old.endswith(".weights.h5") and old != name:
                os.remove(os.path.join(self.directory, old))


def _load_weights(model, path):
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)  # else its saved state is skipped
    model.load_weights(path)


def restore_checkpoint(directory, model, callbacks=()):
    """Load the newest :class:`EpochCheckpoint` in ``directory`` into ``model`` and the
    stateful ``callbacks``; return the epoch to resume from (0 without a checkpoint)."""
    meta = read_json(os.path.join(directory, CHECKPOINT_META))
    if not isinstance(meta, dict) or "weights" not in meta:
        return 0
    _load_weights(model, os.path.join(directory, meta["weights"]))
    _set_states(callbacks, meta.get("state"))
    print(f"resumed from the checkpoint after epoch {meta['epoch']}", flush=True)
    return int(meta["epoch"])


def _verbosity():
    return 1 if sys.stdout.isatty() else 2


class Trainer:
    """The run's training loop: ``fit`` and the callbacks for fits made elsewhere.

    ``folder`` is the :class:`~toolkit.runs.folder.RunFolder`; ``rows`` the history rows
    (shared with the recorder, read back from ``history.csv`` on resume).
    """

    def __init__(self, folder, seed, batch_size, epochs, resume=False, rows=None, tensorboard=False):
        self.folder, self.seed, self.resume = folder, int(seed), bool(resume)
        self.batch_size, self.epochs = batch_size, epochs
        self.rows = rows if rows is not None else []
        self.tensorboard = bool(tensorboard)  # every fit of the run (`python -m toolkit run --tensorboard`)

    def tensorboard_dir(self, label):
        """Where the TensorBoard logs of the fit ``label`` go: ``<run folder>/tensorboard/<label>``
        (open them with ``tensorboard --logdir <run folder>/tensorboard``)."""
        return os.path.join(self.folder.path, "tensorboard", label)

    def write_history(self):
        self.folder.write_history(self.rows)

    def callbacks(self, label):
        """``[HistoryRecorder, NaNGuard]`` for a ``fit`` made elsewhere (e.g. inside
        :func:`toolkit.pretraining.pretrain_greedy`): epoch rows land under ``label``."""
        return [HistoryRecorder(label, self.rows, on_row=self.write_history), NaNGuard(label)]

    def pretrain_hooks(self, prefix):
        """``(callbacks, stage_callbacks)`` for :func:`toolkit.pretraining.pretrain_greedy`:
        epoch rows land in ``history.csv`` labelled ``<prefix>-stage<k>``."""
        from toolkit.pretraining import StageCallback

        callbacks = self.callbacks(prefix)
        recorder = callbacks[0]

        class Relabel(StageCallback):
            def on_stage_begin(self, stage, info):
                recorder.label = f"{prefix}-stage{stage}"

        return callbacks, [Relabel()]

    def _done_paths(self, label):
        base = self.folder.checkpoint_dir()
        return os.path.join(base, f"{label}.done.weights.h5"), os.path.join(base, f"{label}.done.json")

    def fit(
        self, model, x, y=None, label="model", epochs=None, batch_size=None, callbacks=(), tensorboard=None, **kwargs
    ):
        """``model.fit`` with the run's callbacks and checkpoints; a fit that finished before a
        kill is restored, not redone, on ``--resume`` (its stateful callbacks too).
        ``tensorboard=True`` (default: the run's ``--tensorboard``) adds Keras's
        ``TensorBoard`` callback writing to :meth:`tensorboard_dir`."""
        from toolkit.data.pipeline import fit_inputs, report_rows_read
        from toolkit.devices import build_before_fit, steps_per_execution, use_steps_per_execution
        from toolkit.resources import check_fit_memory

        epochs = epochs or self.epochs
        batch_size = batch_size or self.batch_size
        check_fit_memory(model, x, batch_size, label)
        callbacks = list(callbacks)
        done_weights, done_json = self._done_paths(label)
        saved = read_json(done_json) if self.resume else None
        if isinstance(saved, dict) and os.path.exists(done_weights):
            _load_weights(model, done_weights)
            _set_states(callbacks, saved.get("state"))
            print(f"[{label}] restored finished training from {done_weights}", flush=True)
            history = keras.callbacks.History()
            history.history = saved["history"]
            reseed(self.seed, label, "after")
            return history
        checkpoint_dir = self.folder.checkpoint_dir(label)
        first = restore_checkpoint(checkpoint_dir, model, callbacks) if self.resume else 0
        first = max(first, kwargs.pop("initial_epoch", 0))
        span = f"{epochs} epoch(s)" if not first else f"epoch(s) {first + 1}–{epochs}"
        print(f"[{label}] training {span}, batch {batch_size}", flush=True)
        # the pipeline is made inside fit: seed it from (seed, label), not from whatever ran
        # before, so a resumed run that skips finished fits shuffles the same way
        reseed(self.seed, label, "fit")
        data_args = {k: kwargs.pop(k) for k in ("shuffle", "sample_weight", "validation_split") if k in kwargs}
        inputs, extra = fit_inputs(x, y, batch_size, seed=derived_seed(self.seed, label, "shuffle"), **data_args)
        # order matters: the epoch's row and the callbacks' records are made before the
        # checkpoint that saves them
        run_callbacks = [
            *extra,
            EpochSeed(self.seed, label),
            *self.callbacks(label),
            *callbacks,
            EpochCheckpoint(checkpoint_dir, callbacks),
        ]
        if self.tensorboard if tensorboard is None else tensorboard:
            run_callbacks.append(keras.callbacks.TensorBoard(log_dir=self.tensorboard_dir(label)))
        # several steps per compiled call (1 when a callback listens to single batches): every
        # callback of the run works per epoch, so the epochs, their rows, checkpoints and seeds
        # are what they were with one step per call
        use_steps_per_execution(model, steps_per_execution(run_callbacks))
        build_before_fit(model, x, y)  # one trace of the train step, not two (TensorFlow)
        history = model.fit(
            **inputs, epochs=epochs, initial_epoch=first, callbacks=run_callbacks, verbose=_verbosity(), **kwargs
        )
        report_rows_read(label, extra)
        rows = [r for r in self.rows if r["label"] == label]
        if rows:  # after a resume Keras's History holds only the epochs run since; the rows hold all
            keys = [k for k in history.history if all(k in r for r in rows)]
            history.history = {k: [float(r[k]) for r in rows] for k in keys}
        self.write_history()
        reseed(self.seed, label, "after")  # what follows does not depend on whether this fit ran
        fileio.save_weights(model, done_weights)
        fileio.write_json(
            done_json,
            {
                "history": {k: [float(v) for v in vals] for k, vals in history.history.items()},
                "state": _states(callbacks),
            },
        )
        return history
