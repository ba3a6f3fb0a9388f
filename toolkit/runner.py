"""Runs an experiment into its own folder.

Every experiment has the same shape (see ``experiments/``): an :class:`Experiment` with a
defaults dict, a quick variant and a ``run(config, run)`` function. :func:`run_experiment`
resolves the config, sets the backend-side things up (device, precision, seed), makes the
run folder, calls ``run`` with a :class:`Run` — the experiment's only window on files —
and writes the report. The folder holds::

    config.json env.json status.json history.csv metrics.json report.json
    *.png *.keras report.md report.html        (and checkpoints/ while it runs)

Everything is written atomically; ``status.json`` says ``running`` until the end, so a
killed run never looks complete. ``--resume`` continues the newest unfinished run.
"""
import csv
import datetime
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass, field

from toolkit import fileio
from toolkit.errors import RunError, ToolkitError


@dataclass(frozen=True)
class Experiment:
    """One experiment: what it shows (``slides``, ``title``, ``summary``) and how to run it.

    ``defaults()`` returns the full config; ``quick`` holds the overrides of the quick
    variant (minutes on 2 CPU cores); ``run(config, run)`` does the work and records
    metrics, tables, figures and observations on ``run``.
    """

    name: str
    slides: str
    title: str
    summary: str
    defaults: callable
    quick: dict
    run: callable
    datasets: tuple = ("mnist",)


@dataclass
class Run:
    """The experiment's handle on its run folder, data and training loop."""

    experiment: Experiment
    config: dict
    dir: str
    resume: bool = False
    fallback_data: bool = False
    metrics: dict = field(default_factory=dict)
    tables: list = field(default_factory=list)
    figures: list = field(default_factory=list)
    observations: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    _history_rows: list = field(default_factory=list)

    # --- data ---------------------------------------------------------------------
    def data(self, name=None, limit="config", test_limit="config"):
        """The dataset of the config (or ``name``), subset by ``limit``/``test_limit``.

        With ``fallback_data`` (the tour), a missing real dataset is replaced by the
        embedded ``shapes`` set and the report says so.
        """
        from toolkit.data import load_dataset
        from toolkit.errors import DataError

        name = name or self.config.get("dataset", "mnist")
        limit = self.config.get("limit") if limit == "config" else limit
        test_limit = self.config.get("test_limit") if test_limit == "config" else test_limit
        seed = self.config.get("seed", 0)
        try:
            ds = load_dataset(name, data_dir=self.config.get("data_dir"), limit=limit,
                              test_limit=test_limit, seed=seed, allow_download=not self.fallback_data)
        except DataError as exc:
            if not self.fallback_data or name == "shapes":
                raise
            ds = load_dataset("shapes", limit=limit, test_limit=test_limit, seed=seed)
            self.note(f"{name} not found ({exc}); this run used the embedded 'shapes' dataset instead")
        self.metrics.setdefault("data", {})[name] = {"source": ds.source, "dataset": ds.name,
                                                      "train": len(ds.x_train), "test": len(ds.x_test)}
        print(f"data: {ds.summary()}", flush=True)
        return ds

    # --- training -----------------------------------------------------------------
    def fit(self, model, x, y=None, label="model", epochs=None, batch_size=None, callbacks=(), **kwargs):
        """``model.fit`` with the run's callbacks: per-epoch rows into ``history.csv``
        (labelled), epoch time, a NaN/inf guard that stops the run with a clear message,
        and per-epoch checkpoints (``BackupAndRestore``) so ``--resume`` continues a
        killed run. A fit that finished before a kill is not redone on resume."""
        import keras

        epochs = epochs or self.config["epochs"]
        batch_size = batch_size or self.config.get("batch_size", 128)
        from toolkit.resources import check_fit_memory

        check_fit_memory(model, x, batch_size, label)
        if x is not None and hasattr(x, "__len__"):
            from toolkit.devices import check_data_parallel_batches

            check_data_parallel_batches(len(x), batch_size)
        seed = int(self.config.get("seed", 0))
        done_path = os.path.join(self.dir, "checkpoints", f"{label}.done.weights.h5")
        done_hist = os.path.join(self.dir, "checkpoints", f"{label}.done.json")
        if self.resume and os.path.exists(done_path) and os.path.exists(done_hist):
            import json

            if model.optimizer is not None and not model.optimizer.built:
                model.optimizer.build(model.trainable_variables)  # else its saved state is skipped
            model.load_weights(done_path)
            with open(done_hist) as fh:
                saved = json.load(fh)
            if not any(r["label"] == label for r in self._history_rows):  # history.csv read back has them
                self._history_rows.extend(saved["rows"])
            print(f"[{label}] restored finished training from {done_path}", flush=True)
            history = keras.callbacks.History()
            history.history = saved["history"]
            _reseed(seed, label, "after")
            return history
        recorder, guard = self.callbacks(label)
        recorder.run = self  # history.csv grows epoch by epoch, so a killed run keeps its rows
        # Order matters: the epoch's row is written before its checkpoint, so a resumed run
        # never lacks the rows of the epochs it skips.
        callbacks = [_EpochSeed(seed, label), recorder, guard,
                     _AtomicBackupAndRestore(os.path.join(self.dir, "checkpoints", label), delete_checkpoint=True),
                     *callbacks]
        first = kwargs.get("initial_epoch", 0)
        span = f"{epochs} epoch(s)" if not first else f"epoch(s) {first + 1}–{epochs}"
        print(f"[{label}] training {span}, batch {batch_size}", flush=True)
        # The data pipeline is made inside fit: seed it from (seed, label), not from whatever
        # ran before, so a resumed run that skips finished fits shuffles the same way.
        _reseed(seed, label, "fit")
        # a new batch order every epoch, seeded by (seed, label, epoch): see toolkit.data.pipeline
        from toolkit.data.pipeline import fit_inputs

        data_args = {k: kwargs.pop(k) for k in ("shuffle", "sample_weight", "validation_split") if k in kwargs}
        inputs, extra = fit_inputs(x, y, batch_size, seed=_derived_seed(seed, label, "shuffle"), **data_args)
        history = model.fit(**inputs, epochs=epochs, callbacks=[*extra, *callbacks], verbose=_verbosity(), **kwargs)
        rows = [r for r in self._history_rows if r["label"] == label]
        if self.resume and rows:
            # after a resume, Keras's History holds only the epochs run since; the rows hold all
            keys = [k for k in history.history if all(k in r for r in rows)]
            history.history = {k: [float(r[k]) for r in rows] for k in keys}
        self.write_history()
        _reseed(seed, label, "after")  # what follows (the next model's init) does not depend on
        # whether this fit ran or was restored
        model.save_weights(done_path)
        fileio.write_json(done_hist, {"rows": rows, "history": {k: [float(v) for v in vals]
                                                               for k, vals in history.history.items()}})
        return history

    def callbacks(self, label):
        """The run's callbacks for a ``fit`` made elsewhere (e.g. inside
        :func:`toolkit.pretraining.pretrain_greedy`): epoch rows into ``history.csv`` under
        ``label`` and the NaN guard. Change the recorder's ``label`` attribute between
        stages to tell them apart."""
        return [_EpochRecorder(label, self._history_rows), _NaNGuard(label)]

    def pretrain_hooks(self, prefix):
        """``(callbacks, stage_callbacks)`` for :func:`toolkit.pretraining.pretrain_greedy`:
        epoch rows land in ``history.csv`` labelled ``<prefix>-stage<k>``, rewritten after
        each stage."""
        from toolkit.pretraining import StageCallback

        callbacks = self.callbacks(prefix)
        recorder, run = callbacks[0], self

        class _Relabel(StageCallback):
            def on_stage_begin(self, stage, info):
                recorder.label = f"{prefix}-stage{stage}"

            def on_stage_end(self, stage, info, history):
                run.write_history()

        return callbacks, [_Relabel()]

    def write_history(self):
        """Rewrite ``history.csv`` (atomically) from every epoch recorded so far."""
        if not self._history_rows:
            return
        columns = ["label", "epoch"] + sorted({k for r in self._history_rows for k in r} - {"label", "epoch"})
        with fileio.atomic_path(os.path.join(self.dir, "history.csv")) as tmp:
            with open(tmp, "w", newline="") as fh:
                writer = csv.DictWriter(fh, fieldnames=columns)
                writer.writeheader()
                writer.writerows(self._history_rows)

    # --- results ------------------------------------------------------------------
    def metric(self, key, value):
        """Record a final number (nested keys with dots: ``"test.accuracy"``)."""
        target = self.metrics
        parts = key.split(".")
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value
        return value

    def table(self, title, columns, rows):
        """A results table for the report (rows: lists of cells)."""
        self.tables.append({"title": title, "columns": list(columns), "rows": [list(r) for r in rows]})

    def figure(self, filename, caption):
        """The path to draw ``filename`` (PNG) into; the report shows it with ``caption``."""
        self.figures.append({"file": filename, "caption": caption})
        return os.path.join(self.dir, filename)

    def observe(self, text):
        """An observation written from measured numbers (never canned text)."""
        self.observations.append(text)
        print(f"observation: {text}", flush=True)

    def note(self, text):
        """A fact about the run itself (fallback data, skipped parts)."""
        self.notes.append(text)
        print(f"note: {text}", flush=True)

    def save_model(self, model, name):
        """Save ``model`` as ``name.keras`` in the run folder (atomically)."""
        path = os.path.join(self.dir, f"{name}.keras")
        fileio.save_model(model, path)
        return path

    def key_metrics(self, **values):
        """The few numbers the index shows for this run."""
        self.metrics["key"] = {**self.metrics.get("key", {}), **values}


def _verbosity():
    return 1 if sys.stdout.isatty() else 2


def _epoch_callback_base():
    import keras

    return keras.callbacks.Callback


class _EpochRecorder(_epoch_callback_base()):
    """Collects one row per epoch: label, epoch (1-based), the logs, seconds."""

    def __init__(self, label, rows):
        super().__init__()
        self.label = label
        self.rows = rows  # shared with the Run: one list for the whole history.csv
        self.run = None  # set by Run.fit: rewrite history.csv after every epoch
        self._start = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        row = {"label": self.label, "epoch": epoch + 1, "seconds": round(time.perf_counter() - self._start, 4)}
        row.update({k: float(v) for k, v in (logs or {}).items() if isinstance(v, (int, float)) or hasattr(v, "item")})
        # an epoch redone after a resume replaces its earlier row
        self.rows[:] = [r for r in self.rows if (r["label"], r["epoch"]) != (self.label, epoch + 1)]
        self.rows.append(row)
        if self.run is not None:
            self.run.write_history()


def _derived_seed(seed, *parts):
    """A 31-bit seed derived from ``seed`` and ``parts`` (stable across processes)."""
    import zlib

    return zlib.crc32("/".join(map(str, (seed, *parts))).encode()) & 0x7FFFFFFF


def _reseed(seed, label, *parts):
    import keras

    keras.utils.set_random_seed(_derived_seed(seed, label, *parts))


class _EpochSeed(_epoch_callback_base()):
    """Seeds every epoch from (seed, label, epoch): the shuffle (JAX/NumPy), dropout and noise
    of epoch k are then the same whether the run went straight through or was resumed at k.

    Resets the global seeds and the state of each layer's ``SeedGenerator``; a few
    assignments per epoch, nothing per batch.
    """

    def __init__(self, seed, label):
        super().__init__()
        self.seed, self.label = seed, label

    def on_epoch_begin(self, epoch, logs=None):
        import numpy as np

        derived = _derived_seed(self.seed, self.label, epoch)
        _reseed(self.seed, self.label, epoch)
        for i, generator in enumerate(_seed_generators(self.model)):
            state = generator.state
            generator.state.assign(np.array([(derived + i) & 0x7FFFFFFF, 0], dtype=state.dtype))


def _seed_generators(model):
    found, seen = [], set()
    for layer in model._flatten_layers(include_self=True, recursive=True):
        for generator in getattr(layer, "_seed_generators", ()):
            if id(generator) not in seen:
                seen.add(id(generator))
                found.append(generator)
    return found


def _backup_base():
    import keras

    return keras.callbacks.BackupAndRestore


class _AtomicBackupAndRestore(_backup_base()):
    """``BackupAndRestore`` whose checkpoint cannot be half-written by a kill.

    Keras writes the weights, then the epoch, in place: a kill in between leaves weights of
    one epoch labelled with another, and a kill inside the HDF5 write leaves a corrupt file.
    Here each epoch's weights go to their own file (temporary name, then rename) and the
    metadata naming them is replaced atomically last, so it always points at whole weights.
    """

    def _save_model(self):
        import json

        os.makedirs(self.backup_dir, exist_ok=True)
        name = f"epoch{self._current_epoch}.weights.h5"
        final = os.path.join(self.backup_dir, name)
        tmp = os.path.join(self.backup_dir, f"partial-{name}")
        self.model.save_weights(tmp, overwrite=True)
        os.replace(tmp, final)
        fileio.write_text(self._training_metadata_path, json.dumps(
            {"epoch": self._current_epoch, "batch": self._last_batch_seen, "weights": name}))
        for old in os.listdir(self.backup_dir):
            if old.endswith(".weights.h5") and old != name:
                os.remove(os.path.join(self.backup_dir, old))

    def on_train_begin(self, logs=None):
        import json

        if not os.path.isfile(self._training_metadata_path):
            return
        with open(self._training_metadata_path) as fh:
            meta = json.load(fh)
        if "weights" not in meta:  # a checkpoint written by plain BackupAndRestore
            return super().on_train_begin(logs)
        if self.model.optimizer is not None and not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)
        self.model.load_weights(os.path.join(self.backup_dir, meta["weights"]))
        self.model._initial_epoch = int(meta["epoch"])
        print(f"resumed from the checkpoint after epoch {meta['epoch']}", flush=True)

    def on_train_end(self, logs=None):
        self.model._initial_epoch = None  # Keras keeps it: a later fit of this model would skip epochs
        super().on_train_end(logs)


class _NaNGuard(_epoch_callback_base()):
    """Stops the run at the end of the first epoch whose loss is NaN or infinite, with a
    clear message. Checked per epoch, not per batch: a per-batch check (as Keras's
    ``TerminateOnNaN`` does) makes every step wait for its loss, which costs speed; a NaN
    in any batch makes the epoch's mean loss NaN, so nothing is missed."""

    def __init__(self, label):
        super().__init__()
        self.label = label

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise RunError(f"[{self.label}] loss became {float(loss)} in epoch {epoch + 1}; lower the learning "
                           "rate or check the data (the run stopped)")


# --- the run folder -----------------------------------------------------------------

def new_run_dir(out_root, name):
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = os.path.join(out_root, name, stamp)
    path, i = base, 1
    while os.path.exists(path):
        i += 1
        path = f"{base}-{i}"
    return path


def latest_unfinished(out_root, name):
    import json

    folder = os.path.join(out_root, name)
    if not os.path.isdir(folder):
        return None
    for run_id in sorted(os.listdir(folder), reverse=True):
        status = os.path.join(folder, run_id, "status.json")
        if os.path.isfile(status):
            with open(status) as fh:
                if json.load(fh).get("status") != "complete":
                    return os.path.join(folder, run_id)
    return None


def check_writable(out_root):
    try:
        os.makedirs(out_root, exist_ok=True)
        probe = os.path.join(out_root, ".write-test")
        with open(probe, "w") as fh:
            fh.write("ok")
        os.remove(probe)
    except OSError as exc:
        raise RunError(f"output folder {out_root} cannot be written ({exc.strerror or exc}); "
                       "pass --out with a writable folder") from None


def run_experiment(experiment, config, out_root="reports", device="cpu", resume=False,
                   fallback_data=False, devices=None):
    """Run ``experiment`` with a resolved ``config``; return the run folder.

    Raises ``ToolkitError`` subclasses for anything the user can fix; the folder's
    ``status.json`` records ``failed`` with the message when the run dies of an error.
    """
    import json

    from toolkit import devices as dev
    from toolkit.reports import write_index, write_report

    from toolkit.resources import check_run_memory

    out_root = os.path.abspath(out_root)
    check_writable(out_root)
    check_run_memory(experiment, config)
    dev.require_device(device)
    dev.set_precision(bool(config.get("mixed_precision", False)), device)
    used = dev.setup_data_parallel(devices)
    seed = int(config.get("seed", 0))
    dev.make_deterministic(seed)

    run_dir = latest_unfinished(out_root, experiment.name) if resume else None
    if resume and run_dir:
        with open(os.path.join(run_dir, "config.json")) as fh:
            saved = json.load(fh)
        if saved != json.loads(json.dumps(config)):
            raise ToolkitError(f"--resume: the unfinished run {run_dir} used another config; "
                               "rerun with the same arguments, or drop --resume")
        print(f"resuming {run_dir}", flush=True)
    else:
        run_dir = new_run_dir(out_root, experiment.name)
    os.makedirs(run_dir, exist_ok=True)
    run = Run(experiment, config, run_dir, resume=bool(resume and run_dir), fallback_data=fallback_data)
    if run.resume:
        run._history_rows.extend(_read_history(os.path.join(run_dir, "history.csv")))
    started = time.time()
    fileio.write_json(os.path.join(run_dir, "config.json"), config)
    env = dev.environment(seed, device)
    env["data_parallel_devices"] = [str(d) for d in used]
    env["command"] = _command_line()
    fileio.write_json(os.path.join(run_dir, "env.json"), env)
    fileio.write_json(os.path.join(run_dir, "status.json"), {"status": "running", "started": started})
    try:
        experiment.run(config, run)
    except BaseException as exc:
        message = str(exc) if isinstance(exc, ToolkitError) else f"{type(exc).__name__}: {exc}"
        if isinstance(exc, KeyboardInterrupt):
            message = "interrupted (Ctrl-C); rerun with --resume to continue"
        run.write_history()
        _write_parts(run, started, status="failed", error=message)
        write_report(run_dir)
        write_index(out_root)
        raise
    run.write_history()
    _write_parts(run, started, status="complete")
    write_report(run_dir)
    shutil.rmtree(os.path.join(run_dir, "checkpoints"), ignore_errors=True)
    write_index(out_root)
    return run_dir


def _read_history(path):
    """The rows of an earlier ``history.csv`` (numbers as floats, epoch as int)."""
    if not os.path.isfile(path):
        return []
    with open(path, newline="") as fh:
        rows = []
        for row in csv.DictReader(fh):
            parsed = {"label": row.pop("label"), "epoch": int(row.pop("epoch"))}
            parsed.update({k: float(v) for k, v in row.items() if v not in ("", None)})
            rows.append(parsed)
        return rows


def _command_line():
    """The command that started this process, as a user would type it."""
    argv = list(sys.argv)
    if argv and argv[0].endswith(os.path.join("toolkit", "__main__.py")):
        argv[0] = "python -m toolkit"
    backend = os.environ.get("KERAS_BACKEND")
    prefix = f"KERAS_BACKEND={backend} " if backend and backend != "tensorflow" else ""
    return prefix + " ".join(argv)


def _write_parts(run, started, status, error=None):
    seconds = round(time.time() - started, 2)
    run.metrics["wall_seconds"] = seconds
    exp = run.experiment
    fileio.write_json(os.path.join(run.dir, "metrics.json"), run.metrics)
    fileio.write_json(os.path.join(run.dir, "report.json"), {
        "name": exp.name, "title": exp.title, "slides": exp.slides, "summary": exp.summary,
        "tables": run.tables, "figures": run.figures, "observations": run.observations,
        "notes": run.notes, "error": error,
    })
    # status last: only now does the folder look complete
    fileio.write_json(os.path.join(run.dir, "status.json"),
                      {"status": status, "started": started, "seconds": seconds, "error": error})
