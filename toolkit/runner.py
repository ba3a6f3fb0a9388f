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
        done_path = os.path.join(self.dir, "checkpoints", f"{label}.done.weights.h5")
        done_hist = os.path.join(self.dir, "checkpoints", f"{label}.done.json")
        if self.resume and os.path.exists(done_path) and os.path.exists(done_hist):
            import json

            model.load_weights(done_path)
            with open(done_hist) as fh:
                saved = json.load(fh)
            self._history_rows.extend(saved["rows"])
            print(f"[{label}] restored finished training from {done_path}", flush=True)
            history = keras.callbacks.History()
            history.history = saved["history"]
            return history
        callbacks = [keras.callbacks.BackupAndRestore(os.path.join(self.dir, "checkpoints", label),
                                                      delete_checkpoint=True), *self.callbacks(label), *callbacks]
        print(f"[{label}] training {epochs} epoch(s), batch {batch_size}", flush=True)
        history = model.fit(x, y, epochs=epochs, batch_size=batch_size, callbacks=callbacks,
                            verbose=_verbosity(), **kwargs)
        rows = [r for r in self._history_rows if r["label"] == label]
        self.write_history()
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

    def table(self, title, columns, rows, key=None):
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
        self._start = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        row = {"label": self.label, "epoch": epoch + 1, "seconds": round(time.perf_counter() - self._start, 4)}
        row.update({k: float(v) for k, v in (logs or {}).items() if isinstance(v, (int, float)) or hasattr(v, "item")})
        self.rows.append(row)


class _NaNGuard(_epoch_callback_base()):
    """Stops the run at the first NaN or infinite loss, with a clear message."""

    def __init__(self, label):
        super().__init__()
        self.label = label

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise RunError(f"[{self.label}] loss became {float(loss)} at batch {batch}; lower the learning rate "
                           "or check the data (the run stopped)")


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

    out_root = os.path.abspath(out_root)
    check_writable(out_root)
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
    started = time.time()
    fileio.write_json(os.path.join(run_dir, "config.json"), config)
    env = dev.environment(seed, device)
    env["data_parallel_devices"] = [str(d) for d in used]
    env["command"] = " ".join(sys.argv)
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
