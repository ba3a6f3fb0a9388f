"""The :class:`Run`: what an experiment talks to.

An experiment's ``run(config, run)`` loads data (``run.data()``), trains (``run.fit``,
``run.callbacks``, ``run.pretrain_hooks``) and records what it measured: ``metric``,
``key_metrics``, ``table``, ``figure``, ``observe``, ``note``, ``save_model``. It never
touches the run folder's files: the recorder hands them to the
:class:`~toolkit.runs.folder.RunFolder` when the run ends.
"""

import dataclasses

from toolkit.runs.spec import RunSpec


@dataclasses.dataclass
class Run:
    """The experiment's handle on its data, its training loop and its results."""

    experiment: object
    config: dict
    folder: object
    data_dir: str | None = None
    resume: bool = False
    fallback_data: bool = False
    metrics: dict = dataclasses.field(default_factory=dict)
    tables: list = dataclasses.field(default_factory=list)
    figures: list = dataclasses.field(default_factory=list)
    observations: list = dataclasses.field(default_factory=list)
    notes: list = dataclasses.field(default_factory=list)
    tensorboard: bool = False
    trainer: object = None

    def __post_init__(self):
        from toolkit.runs.training import Trainer

        self.spec = RunSpec.from_config(self.config)
        if self.trainer is None:
            rows = self.folder.read_history() if self.resume else []
            self.trainer = Trainer(
                self.folder,
                self.spec.seed,
                self.spec.batch_size,
                self.spec.epochs,
                resume=self.resume,
                rows=rows,
                tensorboard=self.tensorboard,
            )

    @property
    def dir(self):
        return self.folder.path

    # --- data ---------------------------------------------------------------------------
    def data(self, name=None, limit="config", test_limit="config"):
        """The dataset of the config (or ``name``), subset by ``limit``/``test_limit``.

        With ``fallback_data`` (the tour), a missing real dataset is replaced by the embedded
        ``shapes`` set and the report (and every claim's verdict) says so.
        """
        from toolkit.data import load_dataset
        from toolkit.errors import DataError

        name = name or self.spec.dataset
        limit = self.spec.limit if limit == "config" else limit
        test_limit = self.spec.test_limit if test_limit == "config" else test_limit
        seed = self.spec.seed
        try:
            ds = load_dataset(
                name,
                data_dir=self.data_dir,
                limit=limit,
                test_limit=test_limit,
                seed=seed,
                allow_download=not self.fallback_data,
            )
        except DataError as exc:
            if not self.fallback_data or name == "shapes":
                raise
            ds = load_dataset("shapes", limit=limit, test_limit=test_limit, seed=seed)
            self.note(f"{name} not found ({exc}); this run used the embedded 'shapes' dataset instead")
        self.metrics.setdefault("data", {})[name] = {
            "source": ds.source,
            "dataset": ds.name,
            "train": len(ds.x_train),
            "test": len(ds.x_test),
        }
        print(f"data: {ds.summary()}", flush=True)
        return ds

    # --- training -----------------------------------------------------------------------
    def fit(
        self, model, x, y=None, label="model", epochs=None, batch_size=None, callbacks=(), tensorboard=None, **kwargs
    ):
        """``model.fit`` through the run's :class:`~toolkit.runs.training.Trainer`: history
        rows, epoch seeds, NaN guard, per-epoch checkpoints for ``--resume``; with
        ``tensorboard=True`` (or ``--tensorboard``) TensorBoard logs in
        ``<run folder>/tensorboard/<label>``."""
        return self.trainer.fit(
            model,
            x,
            y,
            label=label,
            epochs=epochs,
            batch_size=batch_size,
            callbacks=callbacks,
            tensorboard=tensorboard,
            **kwargs,
        )

    def callbacks(self, label):
        """The run's callbacks for a ``fit`` made elsewhere (history rows under ``label``, NaN guard)."""
        return self.trainer.callbacks(label)

    def pretrain_hooks(self, prefix):
        """``(callbacks, stage_callbacks)`` for :func:`toolkit.pretraining.pretrain_greedy`."""
        return self.trainer.pretrain_hooks(prefix)

    def epoch_seconds(self, label):
        """Seconds of each epoch of the fit ``label`` (kept across ``--resume``)."""
        return [r["seconds"] for r in self.trainer.rows if r["label"] == label and "seconds" in r]

    # --- results ------------------------------------------------------------------------
    def metric(self, key, value):
        """Record a final number (nested keys with dots: ``"test.accuracy"``); returns it."""
        target = self.metrics
        parts = key.split(".")
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value
        return value

    def key_metrics(self, **values):
        """The few numbers the index shows for this run (``name=value``; the index shows the
        name with underscores as spaces)."""
        self.metrics["key"] = {**self.metrics.get("key", {}), **values}

    def table(self, title, columns, rows):
        """A results table for the report (rows: lists of cells)."""
        self.tables.append({"title": title, "columns": list(columns), "rows": [list(r) for r in rows]})

    def figure(self, filename, caption):
        """The path to draw ``filename`` (PNG) into; the report shows it with ``caption``."""
        self.figures.append({"file": filename, "caption": caption})
        return self.folder.file(filename)

    def observe(self, text):
        """An observation written from measured numbers (never canned text)."""
        self.observations.append(text)
        print(f"observation: {text}", flush=True)

    def note(self, text):
        """A fact about the run itself (fallback data, skipped parts)."""
        self.notes.append(text)
        print(f"note: {text}", flush=True)

    def save_model(self, model, name):
        """Save ``model`` as ``name.keras`` in the run folder (atomically); return the path."""
        return self.folder.save_model(model, name)

    def report(self, error=None):
        """What ``report.json`` holds."""
        exp = self.experiment
        return {
            "name": exp.name,
            "title": exp.title,
            "slides": exp.slides,
            "summary": exp.summary,
            "tables": self.tables,
            "figures": self.figures,
            "observations": self.observations,
            "notes": self.notes,
            "error": error,
        }
