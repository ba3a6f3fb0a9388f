"""The run folder: the one owner of its paths and file formats.

A run folder ``<out>/<experiment>/<run-id>/`` holds::

    config.json env.json status.json history.csv metrics.json report.json claims.json
    *.png *.keras report.md report.html          (and checkpoints/ while it runs)

Only this module reads or writes those files: the training loop, the recorder, the claims
and the reports all go through a :class:`RunFolder`. Every write is atomic (a temporary file
beside the target, then ``os.replace``), and ``status.json`` is written last, so a killed
run never looks complete. A run holds an exclusive lock on its folder, and a full disk does
not take the run's record with it: :mod:`toolkit.runs.guard` keeps both (the ``.lock``, the
``.reserve`` file, ``status.json`` padded so it can be rewritten in place), and
:class:`RunFolder` delegates to it.
"""

import csv
import datetime
import json
import os
import time

from toolkit import fileio
from toolkit.errors import RunError
from toolkit.runs import guard
from toolkit.runs.guard import RESERVE as RESERVE
from toolkit.runs.guard import RESERVE_BYTES as RESERVE_BYTES
from toolkit.runs.guard import STATUS_BYTES as STATUS_BYTES

FILES = ("config", "env", "status", "metrics", "report", "claims")
STATUSES = ("running", "complete", "failed")


class RunFolder:
    """One run's folder. ``RunFolder(path)`` only names it; nothing is created until written."""

    def __init__(self, path):
        self.path = os.path.abspath(os.fspath(path))
        self._lock_fd = None
        self._clock = None  # (started, earlier seconds): running time goes into status.json

    def __repr__(self):
        return f"RunFolder({self.path!r})"

    # --- paths --------------------------------------------------------------------
    @property
    def experiment(self):
        """The experiment's name (the parent folder's name)."""
        return os.path.basename(os.path.dirname(self.path))

    @property
    def run_id(self):
        return os.path.basename(self.path)

    def file(self, name):
        """The path of ``name`` inside the folder, refused if it would leave the folder
        (``..``, an absolute path, or a symbolic link pointing outside)."""
        target = os.path.realpath(os.path.join(self.path, name))
        if os.path.commonpath([target, os.path.realpath(self.path)]) != os.path.realpath(self.path):
            raise RunError(f"{name!r} is outside the run folder {self.path}")
        return target

    def copy_to(self, root):
        """A copy of this run folder under ``root/<experiment>/<run-id>`` (its lock and
        reserve left out), as a :class:`RunFolder`: another process of a multi-process run
        resumes from it.

        Process 0 may be resuming in this folder meanwhile: it rewrites its records
        atomically and deletes what interrupted writes left, but writes no checkpoint before
        every process trains. So files in flight (:data:`guard.PARTIALS`) are left out, and a
        file deleted between the listing and its copy is skipped."""
        import shutil

        def copy_if_there(src, dst):
            try:
                return shutil.copy2(src, dst)
            except FileNotFoundError:
                return dst

        experiment, run_id = os.path.split(os.path.normpath(self.path))
        target = os.path.join(root, os.path.basename(experiment), run_id)
        skip = shutil.ignore_patterns(guard.LOCK, guard.RESERVE, *(f"{prefix}*" for prefix in guard.PARTIALS))
        shutil.copytree(self.path, target, ignore=skip, copy_function=copy_if_there)
        return RunFolder(target)

    def checkpoint_dir(self, label=None):
        base = os.path.join(self.path, "checkpoints")
        return base if label is None else os.path.join(base, label)

    # --- JSON files -----------------------------------------------------------------
    def write(self, name, data):
        """Write ``name``.json (one of :data:`FILES`) atomically."""
        if name not in FILES:
            raise ValueError(f"unknown run-folder file {name!r}; valid: {', '.join(FILES)}")
        fileio.write_json(os.path.join(self.path, f"{name}.json"), data)

    def read(self, name, default=None):
        """``name``.json as parsed, or ``default`` when it is missing or unreadable."""
        return read_json(os.path.join(self.path, f"{name}.json"), default)

    def write_status(self, status, started, seconds=None, error=None):
        """Write ``status.json`` atomically, padded to :data:`STATUS_BYTES`. When the disk is
        full, rewrite the existing (padded) file in place instead, shortening ``error`` to
        fit: the failure of a run that filled its disk is still recorded."""
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}; received {status!r}")
        data = {"status": status, "started": started, "seconds": seconds, "error": error}
        path = os.path.join(self.path, "status.json")
        try:
            fileio.write_text(path, guard.padded_status(fileio.json_text(data)))
        except fileio.WriteError as exc:
            if not exc.no_space or not guard.rewrite_status_in_place(path, data):
                raise

    def start_clock(self, started, earlier=0.0):
        """Time this run from ``started`` (``time.time()``), ``earlier`` seconds already
        spent by the runs it resumes: every ``history.csv`` write also records the running
        total in ``status.json``, so a run killed outright still counts its time when resumed."""
        self._clock = (started, float(earlier or 0.0))

    def seconds(self):
        """Seconds spent on this run so far (this process's and the resumed runs'), or ``None``."""
        if self._clock is None:
            return None
        started, earlier = self._clock
        return round(earlier + time.time() - started, 2)

    def earlier_seconds(self):
        """Seconds recorded in ``status.json`` by the runs this one resumes (0 when none)."""
        try:
            return max(0.0, float((self.read("status", {}) or {}).get("seconds") or 0))
        except (TypeError, ValueError, AttributeError):
            return 0.0

    def status(self):
        """``running``, ``complete``, ``failed`` or ``incomplete`` (no readable status)."""
        status = (self.read("status", {}) or {}).get("status")
        return status if status in STATUSES else "incomplete"

    # --- history.csv ----------------------------------------------------------------
    def write_history(self, rows):
        """Rewrite ``history.csv`` atomically: one row per epoch of every fit, labelled."""
        if not rows:
            return
        columns = ["label", "epoch"] + sorted({k for r in rows for k in r} - {"label", "epoch"})
        with fileio.atomic_path(os.path.join(self.path, "history.csv")) as tmp:
            with open(tmp, "w", newline="", encoding="utf-8") as fh:
                writer = csv.DictWriter(fh, fieldnames=columns)
                writer.writeheader()
                writer.writerows(rows)
        if self._clock is not None:  # a heartbeat: the time spent so far, for a later --resume
            self.write_status("running", self._clock[0], seconds=self.seconds())

    def read_history(self):
        """The rows of ``history.csv``: ``label`` a string, ``epoch`` an int, the rest floats
        (cells that are empty or not numbers are left out)."""
        path = os.path.join(self.path, "history.csv")
        if not os.path.isfile(path):
            return []
        rows = []
        with open(path, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                try:
                    parsed = {"label": str(row.pop("label")), "epoch": int(row.pop("epoch"))}
                except (TypeError, ValueError):
                    continue
                for key, value in row.items():
                    try:
                        parsed[key] = float(value)
                    except (TypeError, ValueError):
                        pass
                rows.append(parsed)
        return rows

    # --- models and figures ---------------------------------------------------------
    def save_model(self, model, name):
        path = os.path.join(self.path, f"{name}.keras")
        fileio.save_model(model, path)
        return path

    def figure_bytes(self, name):
        """The bytes of a figure named in ``report.json``, or ``None`` when it is missing,
        not a PNG, or not a file inside this folder (a report is rebuilt from folders
        someone else may have made: nothing outside the folder is ever embedded)."""
        try:
            path = self.file(name)
        except RunError:
            return None
        if not path.endswith(".png") or not os.path.isfile(path):
            return None
        with open(path, "rb") as fh:
            data = fh.read()
        return data if data.startswith(b"\x89PNG") else None

    # --- everything a report needs -------------------------------------------------
    def load(self):
        """Every file a report needs, as plain dicts (missing ones empty)."""
        parts = {name: self.read(name, {} if name != "claims" else []) for name in FILES}
        for name in FILES:
            expected = list if name == "claims" else dict
            if not isinstance(parts[name], expected):
                parts[name] = expected()
        parts["history"] = self.read_history()
        parts["dir"] = self.path
        parts["folder"] = self
        return parts

    # --- one process per run, a full disk (toolkit.runs.guard) --------------------
    def lock(self):
        """Take the folder's exclusive lock or raise ``RunError`` naming the live process
        (:func:`toolkit.runs.guard.lock_folder`)."""
        self._lock_fd = guard.lock_folder(self.path)
        return self

    def unlock(self):
        """Release the lock (and the reserve); the ``.lock`` file goes while still locked."""
        self.release_reserve()
        if self._lock_fd is not None:
            guard.unlock_folder(self.path, self._lock_fd)
            self._lock_fd = None

    def reserve(self, size=RESERVE_BYTES):
        """Set ``size`` bytes aside in ``.reserve``, given back by :meth:`release_reserve`
        when the disk fills (:func:`toolkit.runs.guard.make_reserve`)."""
        guard.make_reserve(self.path, size)

    def release_reserve(self):
        """Delete ``.reserve`` (no error if it is not there); return whether it was."""
        return guard.release_reserve(self.path)

    def remove_partials(self):
        """Delete what interrupted writes left (:func:`toolkit.runs.guard.remove_partials`);
        return the paths removed."""
        return guard.remove_partials(self.path)


def read_json(path, default=None):
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError, RecursionError):
        return default


def new_run_folder(out_root, experiment):
    """A fresh ``out_root/experiment/<timestamp>`` folder (suffixed when one exists)."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = os.path.join(os.path.abspath(out_root), experiment, stamp)
    path, i = base, 1
    while True:
        try:
            os.makedirs(path)
            return RunFolder(path)
        except FileExistsError:
            i += 1
            path = f"{base}-{i}"
        except OSError as exc:
            raise guard.write_error(exc, path) from None


def latest_unfinished(out_root, experiment):
    """The newest run folder of ``experiment`` that did not complete, or ``None``."""
    folder = os.path.join(os.path.abspath(out_root), experiment)
    if not os.path.isdir(folder):
        return None
    for run_id in sorted(os.listdir(folder), reverse=True):
        run = RunFolder(os.path.join(folder, run_id))
        if os.path.isfile(os.path.join(run.path, "status.json")) and run.status() != "complete":
            return run
    return None


def list_runs(out_root):
    """Every run folder under ``out_root`` (``<experiment>/<run-id>``), newest first."""
    runs = []
    if not os.path.isdir(out_root):
        return runs
    for name in sorted(os.listdir(out_root)):
        folder = os.path.join(out_root, name)
        if not os.path.isdir(folder) or os.path.islink(folder):
            continue
        for run_id in os.listdir(folder):
            path = os.path.join(folder, run_id)
            if os.path.isfile(os.path.join(path, "config.json")) and not os.path.islink(path):
                runs.append(RunFolder(path))
    return sorted(runs, key=lambda r: r.run_id, reverse=True)


def check_writable(out_root, need=0):
    """Make ``out_root`` or raise ``RunError`` saying why it cannot be written: a probe file
    (its own unique name, removed whatever happens) is created, written and flushed to the
    disk; and the file system must have ``need`` bytes free."""
    import tempfile

    probe = None
    try:
        os.makedirs(out_root, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=out_root)
        try:
            os.write(fd, b"ok")
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise RunError(
            f"output folder {out_root} cannot be written ({exc.strerror or exc}); pass --out with a writable folder"
        ) from None
    finally:
        if probe is not None:
            try:
                os.remove(probe)
            except OSError:
                pass
    free = fileio.free_bytes(out_root)
    if need and free is not None and free < need:
        raise RunError(
            f"output folder {out_root} has {free / 1024:.0f} KB free, less than a run's record needs "
            f"({need / 1024:.0f} KB); free space or pass --out with another folder"
        )
