"""Hostile conditions around a run: a full disk, an unwritable folder, a config too big to
build, a second process on a live run, SIGTERM, the files' permissions.

The real-disk cases mount a small ``tmpfs`` (root only; skipped otherwise) and run the real
CLI; the same failures are also made in-process by a write function made to fail.
"""

import builtins
import contextlib
import errno
import io
import json
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from tests.harness import REPO
from toolkit import fileio
from toolkit.errors import RunError
from toolkit.plots.base import new_figure, save_figure
from toolkit.runs import folder as folder_mod
from toolkit.runs.execute import run_experiment
from toolkit.runs.experiment import Experiment
from toolkit.runs.folder import RunFolder, check_writable
from toolkit.runs.spec import Param, RunSpec, flag, resolve_config

ENV = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND="tensorflow")
SMALL = [
    "run",
    "ae-mnist",
    "--quick",
    "--set",
    "dataset=shapes",
    "--set",
    "limit=300",
    "--set",
    "test_limit=50",
    "--set",
    "code_sizes=8",
    "--epochs",
    "3",
]
# the deep model's checkpoint (~2.7 MB with Adam's slots) does not fit on a 3 MB disk
FULL_DISK = [*SMALL, "--set", "deep_units=256,128", "--set", "batch_size=16"]
# slow enough (small batches) for a second process to find it alive
SLOW = [*SMALL, "--set", "deep_units=16", "--set", "batch_size=2", "--epochs", "4"]


def _cli(args, out, **kwargs):
    return subprocess.Popen(
        [sys.executable, "-m", "toolkit", *args, "--out", str(out)],
        cwd=REPO,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def _runs(out, name="ae-mnist"):
    root = os.path.join(str(out), name)
    return sorted(os.path.join(root, r) for r in os.listdir(root)) if os.path.isdir(root) else []


def _status(run_dir):
    with open(os.path.join(run_dir, "status.json")) as fh:
        return json.load(fh)


def _leftovers(root):
    """Files an interrupted write leaves: temporaries, partial checkpoints, the reserve, probes."""
    found = []
    for dirpath, _, files in os.walk(root):
        for name in files:
            if "partial" in name or name in (".reserve",) or name.startswith(".write-test"):
                found.append(os.path.join(dirpath, name))
    return found


def _metrics(run_dir):
    with open(os.path.join(run_dir, "metrics.json")) as fh:
        metrics = json.load(fh)
    metrics.pop("wall_seconds", None)
    return metrics


def _one_line(stderr):
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in stderr, stderr
    return lines[0]


@contextlib.contextmanager
def _tmpfs(path, size):
    """A ``size`` tmpfs mounted at ``path`` (skip when not root or when mounting fails)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root")
    os.makedirs(path, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield str(path)
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


# --- 1. a full disk ----------------------------------------------------------------------


def test_full_disk_mid_run_fails_in_one_line_keeps_the_record_and_resumes_identically(tmp_path):
    straight = _cli(FULL_DISK, tmp_path / "straight")  # the reference, beside the failing run
    try:
        with _tmpfs(tmp_path / "disk", "3m") as disk:
            out = os.path.join(disk, "out")
            failed = _cli(FULL_DISK, out)
            _, err = failed.communicate(timeout=300)
            assert failed.returncode == 2, err  # not 139 (a segfault), not a traceback
            line = _one_line(err)
            assert "no space left on" in line and "rerun with --resume" in line, line
            (run_dir,) = _runs(out)
            status = _status(run_dir)
            assert status["status"] == "failed" and "no space left" in status["error"], status
            assert not _leftovers(out), _leftovers(out)
            # the finished fit and the last good checkpoint survive
            checkpoints = os.path.join(run_dir, "checkpoints")
            assert os.path.isfile(os.path.join(checkpoints, "shallow-code8.done.json"))
            first_seconds = status["seconds"]
            assert first_seconds and first_seconds > 0

            subprocess.run(["mount", "-o", "remount,size=64m", disk], check=True)
            resumed = _cli([*FULL_DISK, "--resume"], out)
            stdout, err = resumed.communicate(timeout=300)
            assert resumed.returncode == 0, err[-3000:]
            assert "resuming" in stdout and "restored finished training" in stdout, stdout
            assert _runs(out) == [run_dir]
            status = _status(run_dir)
            assert status["status"] == "complete" and status["seconds"] >= first_seconds
            assert not _leftovers(out) and not os.path.exists(checkpoints)
            got = _metrics(run_dir)
        ref_out, ref_err = straight.communicate(timeout=300)
        assert straight.returncode == 0, ref_err[-3000:]
        expected = _metrics(_runs(tmp_path / "straight")[0])
        assert got.keys() == expected.keys()
        np.testing.assert_allclose(
            [v for k, v in sorted(_flat(got)) if isinstance(v, float)],
            [v for k, v in sorted(_flat(expected)) if isinstance(v, float)],
            rtol=1e-4,
        )
    finally:
        if straight.poll() is None:
            straight.kill()


def _flat(metrics, prefix=""):
    for key, value in metrics.items():
        if isinstance(value, dict):
            yield from _flat(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def test_a_full_disk_at_the_start_is_one_line_and_leaves_nothing(tmp_path):
    with _tmpfs(tmp_path / "disk", "1m") as disk:
        with open(os.path.join(disk, "fill"), "wb") as fh:
            with contextlib.suppress(OSError):
                while True:
                    fh.write(b"\0" * 65536)
                    fh.flush()
        with pytest.raises(RunError) as err:
            check_writable(os.path.join(disk, "out"))
        assert "No space left" in str(err.value) or "free" in str(err.value)
        done = subprocess.run(
            [sys.executable, "-m", "toolkit", *SMALL, "--out", os.path.join(disk, "out")],
            cwd=REPO,
            env=ENV,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 2, done.stderr
        assert "cannot be written" in _one_line(done.stderr) or "free" in _one_line(done.stderr)
        assert not _leftovers(disk) and not _runs(os.path.join(disk, "out"))


# --- the same, in-process: a write made to fail ------------------------------------------


def _tiny_run(config, run):
    """One fit (3 epochs, checkpointed), a figure, a saved model: every kind of write."""
    ds = run.data()
    x = ds.x_train.reshape(len(ds.x_train), -1).astype("float32") / 255
    model = keras.Sequential([keras.Input((x.shape[1],)), keras.layers.Dense(8, "relu"), keras.layers.Dense(10)])
    model.compile(keras.optimizers.Adam(0.01), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    run.fit(model, x, ds.y_train, label="tiny")
    run.metric("loss", float(model.evaluate(x, ds.y_train, verbose=0)))
    fig, axes = new_figure()
    axes[0, 0].plot([1, 2, 3])
    save_figure(fig, run.figure("curve.png", "a curve"))
    run.save_model(model, "tiny")


TINY = Experiment(
    name="tiny",
    slides="0",
    title="Tiny",
    summary="hardening test",
    run=_tiny_run,
    spec=RunSpec(dataset="shapes", epochs=3, batch_size=16, limit=96, test_limit=16, seed=5),
    params={"flag": Param(False, flag())},
)


class _FullDisk:
    """From the first write to a file named like ``target`` on, every new file opened for
    writing fails with ENOSPC, as on a real full disk (the file is created first, empty,
    as ``open`` does). In-place rewrites of existing files (``os.open``) still work."""

    def __init__(self, target):
        self.target, self.full = target, False
        self._open = builtins.open

    def __call__(self, file, mode="r", *args, **kwargs):
        writing = isinstance(file, (str, bytes, os.PathLike)) and any(c in mode for c in "wax+")
        if writing and (self.full or self.target in os.path.basename(os.fsdecode(file))):
            self.full = True
            self._open(file, mode, *args, **kwargs).close()
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), os.fsdecode(file))
        return self._open(file, mode, *args, **kwargs)


def _fail_checkpoint_at(epoch):
    """``Model.save_weights`` that, from ``epoch``'s checkpoint on, writes half a file and
    fails as HDF5 does on a full disk."""
    real = keras.Model.save_weights
    calls = {"n": 0}

    def save_weights(self, filepath, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] >= epoch:
            with builtins.open(filepath, "wb") as fh:
                fh.write(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
            raise OSError(
                errno.ENOSPC,
                f"Can't synchronously write data (file write failed: filename = '{filepath}', "
                "errno = 28, error message = 'No space left on device')",
            )
        return real(self, filepath, *args, **kwargs)

    return save_weights


@pytest.mark.parametrize("target", ["checkpoint", "history.csv", "curve.png", "tiny.keras", "metrics.json"])
def test_a_write_that_fails_for_want_of_space_ends_in_one_line_with_the_failure_recorded(tmp_path, monkeypatch, target):
    config = resolve_config(TINY)
    if target == "checkpoint":
        monkeypatch.setattr(keras.Model, "save_weights", _fail_checkpoint_at(2))
        disk = None
    else:
        disk = _FullDisk(target)
        monkeypatch.setattr(builtins, "open", disk)
        monkeypatch.setattr(io, "open", disk)
    with pytest.raises(RunError) as err:
        run_experiment(TINY, config, out_root=tmp_path / "out")
    message = str(err.value)
    assert "\n" not in message and "no space left" in message and "rerun with --resume" in message, message
    monkeypatch.undo()
    (run_dir,) = _runs(tmp_path / "out", "tiny")
    status = _status(run_dir)
    assert status["status"] == "failed" and "no space left" in status["error"], status
    assert not _leftovers(tmp_path / "out"), _leftovers(tmp_path / "out")
    if target == "checkpoint":  # the epoch-1 checkpoint is whole; --resume ends where a straight run ends
        meta = json.load(open(os.path.join(run_dir, "checkpoints", "tiny", "training_metadata.json")))
        assert meta["epoch"] == 1
        keras.backend.clear_session(free_memory=False)
        resumed = run_experiment(TINY, config, out_root=tmp_path / "out", resume=True)
        assert resumed == run_dir and _status(run_dir)["status"] == "complete"
        keras.backend.clear_session(free_memory=False)
        straight = run_experiment(TINY, config, out_root=tmp_path / "straight")
        assert _metrics(resumed)["loss"] == pytest.approx(_metrics(straight)["loss"], rel=1e-5)


def test_status_json_is_rewritten_in_place_when_not_one_byte_is_free(tmp_path, monkeypatch):
    folder = RunFolder(tmp_path / "run")
    folder.write_status("running", 1.0)
    assert os.path.getsize(os.path.join(folder.path, "status.json")) == folder_mod.STATUS_BYTES

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(fileio.tempfile, "mkstemp", no_space)
    folder.write_status("failed", 1.0, seconds=2.5, error="x" * 5000)  # shortened to fit
    monkeypatch.undo()
    status = _status(folder.path)
    assert status["status"] == "failed" and status["seconds"] == 2.5 and status["error"].startswith("xxx")
    assert os.listdir(folder.path) == ["status.json"]


# --- 3. a config too big to build ---------------------------------------------------------


def _never(config, run):
    raise AssertionError("the experiment ran")


HUGE = Experiment(
    name="huge",
    slides="0",
    title="Huge",
    summary="memory test",
    run=_never,
    spec=RunSpec(dataset="shapes", limit=10, test_limit=10),
    params={"units": Param(10**9)},
    estimate=lambda config: __import__("toolkit.resources").resources.dense_stack_bytes(
        [784, config["units"], 784], 128
    ),
)


def test_the_memory_of_building_and_training_is_checked_before_anything_is_made(tmp_path):
    with pytest.raises(RunError) as err:
        run_experiment(HUGE, resolve_config(HUGE), out_root=tmp_path)
    message = str(err.value)
    assert "huge: building and training this config needs ~" in message and "TB" in message, message
    assert "models ~" in message and "layer sizes" in message and "\n" not in message
    assert not os.path.exists(tmp_path / "huge")


def _peak_rss_of(argv, timeout=300):
    """(returncode, stderr, peak RSS in bytes) of ``python -m toolkit argv`` run alone under a
    wrapper process (so no other child of this test counts)."""
    wrapper = (
        "import resource, subprocess, sys, json\n"
        "p = subprocess.run([sys.executable, '-m', 'toolkit', *sys.argv[1:]], capture_output=True, text=True)\n"
        "print(json.dumps([p.returncode, p.stderr, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", wrapper, *argv], cwd=REPO, env=ENV, capture_output=True, text=True, timeout=timeout
    )
    code, stderr, kb = json.loads(done.stdout.strip().splitlines()[-1])
    return code, stderr, kb * 1024


def test_an_oversized_layer_is_refused_before_the_build_without_allocating(tmp_path):
    from experiments import get_experiment
    from toolkit.resources import available_memory, estimate_config_memory

    exp = get_experiment("sparse-ae-mnist")
    if exp.estimate is None:
        pytest.skip("sparse-ae-mnist declares no estimate(config) hook yet")
    config = resolve_config(exp, True, ["dataset=shapes", "hidden_units=1000000"])
    if estimate_config_memory(exp, config) < available_memory():
        pytest.skip("this machine could build a 784-1000000-784 autoencoder x3")
    out = tmp_path / "out"
    argv = ["run", "sparse-ae-mnist", "--quick", "--set", "dataset=shapes", "--set", "hidden_units=1000000"]
    code, stderr, peak = _peak_rss_of([*argv, "--out", str(out)])
    line = _one_line(stderr)
    assert code == 2 and "needs ~" in line and "is available" in line, stderr
    assert not os.path.exists(out / "sparse-ae-mnist")
    assert peak < 1 * 1024**3, f"peak RSS {peak / 1024**3:.2f} GB"


# --- 4. a second process on a live run; SIGTERM --------------------------------------------


def _wait_for_checkpoint(proc, out, timeout=180):
    deadline = time.monotonic() + timeout
    while True:
        for run_dir in _runs(out):
            for _dirpath, _, files in os.walk(run_dir):
                if "training_metadata.json" in files:
                    return run_dir
        assert proc.poll() is None, f"the run ended first: {proc.communicate()[1][-2000:]}"
        assert time.monotonic() < deadline, "no checkpoint in time"
        time.sleep(0.05)


def test_resume_of_a_live_run_is_refused_naming_its_pid_then_works_after_sigkill(tmp_path):
    out = tmp_path / "out"
    first = _cli(SLOW, out)
    try:
        run_dir = _wait_for_checkpoint(first, out)
        second = _cli([*SLOW, "--resume"], out)
        stdout, err = second.communicate(timeout=300)
        line = _one_line(err)
        assert second.returncode == 2 and f"pid {first.pid}" in line and "live run" in line, err
        assert first.poll() is None  # the first run goes on, untouched
        assert _runs(out) == [run_dir] and _status(run_dir)["status"] == "running"
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
    killed_seconds = _status(run_dir)["seconds"]  # the heartbeat of the last finished epoch
    assert killed_seconds and killed_seconds > 0
    third = _cli([*SLOW, "--resume"], out)  # the kernel released the flock
    stdout, err = third.communicate(timeout=300)
    assert third.returncode == 0, err[-3000:]
    assert "resuming" in stdout and _runs(out) == [run_dir]
    status = _status(run_dir)
    assert status["status"] == "complete" and status["seconds"] > killed_seconds  # the whole run's time


def test_sigterm_records_a_failed_run_that_resume_completes(tmp_path):
    out = tmp_path / "out"
    proc = _cli(SLOW, out)
    try:
        run_dir = _wait_for_checkpoint(proc, out)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143 and "terminated (SIGTERM)" in _one_line(err), err
    status = _status(run_dir)
    assert status["status"] == "failed" and status["error"].startswith("terminated (SIGTERM)"), status
    assert not _leftovers(out)
    resumed = _cli([*SLOW, "--resume"], out)
    stdout, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err[-3000:]
    assert "resumed from the checkpoint" in stdout or "restored finished training" in stdout, stdout
    assert _status(run_dir)["status"] == "complete"


LOCKER = (
    "import sys, time\n"
    "from toolkit.runs.folder import RunFolder\n"
    "RunFolder(sys.argv[1]).lock()\n"
    "print('locked', flush=True)\n"
    "time.sleep(600)\n"
)


def test_the_folder_lock_names_its_holder_and_dies_with_it(tmp_path):
    path = str(tmp_path / "run")
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCKER, path], cwd=REPO, env=ENV, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunError) as err:
            RunFolder(path).lock()
        assert f"pid {holder.pid}" in str(err.value)
    finally:
        holder.kill()
        holder.wait(timeout=30)
    folder = RunFolder(path).lock()  # released by the kernel with the SIGKILLed process
    folder.unlock()
    assert not os.path.exists(os.path.join(path, ".lock"))


# --- 7. unwritable folders --------------------------------------------------------------


def _main(argv):
    from toolkit.cli import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(argv)
    return code, err.getvalue()


def test_an_unwritable_run_subfolder_is_one_line(tmp_path, monkeypatch):
    out = tmp_path / "out"
    (out / "ae-mnist").mkdir(parents=True)
    real = os.makedirs

    def makedirs(name, *args, **kwargs):
        if os.fspath(name).startswith(str(out / "ae-mnist") + os.sep):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(name))
        return real(name, *args, **kwargs)

    monkeypatch.setattr(os, "makedirs", makedirs)
    code, err = _main([*SMALL, "--out", str(out)])
    assert code == 2 and "permission denied" in _one_line(err), err
    monkeypatch.undo()
    assert os.listdir(out / "ae-mnist") == []


def test_an_unwritable_reports_folder_for_index_is_one_line(tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()

    def mkstemp(*args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(out))

    monkeypatch.setattr(fileio.tempfile, "mkstemp", mkstemp)
    code, err = _main(["index", str(out)])
    assert code == 2 and "permission denied" in _one_line(err), err


def test_read_only_mounts_are_one_line(tmp_path):
    """A read-only run sub-folder and a read-only reports folder, as root (where chmod
    does not stop writes): a read-only bind mount."""
    if os.geteuid() != 0:
        pytest.skip("bind mounts need root")
    out = tmp_path / "out"
    (out / "ae-mnist").mkdir(parents=True)
    target = str(out / "ae-mnist")
    if subprocess.run(["mount", "--bind", target, target], capture_output=True).returncode != 0:
        pytest.skip("cannot bind-mount")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", target], check=True, capture_output=True)
        code, err = _main([*SMALL, "--out", str(out)])
        assert code == 2 and "read-only file system" in _one_line(err), err
    finally:
        subprocess.run(["umount", "-l", target], capture_output=True)
    target = str(out)
    subprocess.run(["mount", "--bind", target, target], check=True, capture_output=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", target], check=True, capture_output=True)
        code, err = _main(["index", target])
        assert code == 2 and "read-only file system" in _one_line(err), err
    finally:
        subprocess.run(["umount", "-l", target], capture_output=True)


# --- 8. permissions -------------------------------------------------------------------------


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_atomic_writes_get_the_umask_permissions(tmp_path, umask):
    old = os.umask(umask)
    try:
        assert fileio.current_umask() == umask
        fileio.write_json(tmp_path / "a.json", {"a": 1})
        fig, axes = new_figure()
        save_figure(fig, tmp_path / "b.png")
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        fileio.save_weights(model, tmp_path / "c.weights.h5")
        RunFolder(tmp_path / "run").write_status("running", 1.0)
    finally:
        os.umask(old)
    for path in ("a.json", "b.png", "c.weights.h5", "run/status.json"):
        assert os.stat(tmp_path / path).st_mode & 0o777 == 0o666 & ~umask, path
    assert not _leftovers(tmp_path)


def test_save_weights_refuses_before_hdf5_when_the_disk_cannot_hold_them(tmp_path, monkeypatch):
    model = keras.Sequential([keras.Input((100,)), keras.layers.Dense(100)])
    monkeypatch.setattr(fileio, "free_bytes", lambda path: 1000)
    with pytest.raises(fileio.WriteError) as err:
        fileio.save_weights(model, tmp_path / "w.weights.h5")
    assert err.value.no_space and "w.weights.h5" in str(err.value)
    assert os.listdir(tmp_path) == []


def test_seconds_after_a_resume_cover_every_segment(tmp_path):
    config = resolve_config(TINY)
    folder = RunFolder(tmp_path / "out" / "tiny" / "r1")
    os.makedirs(folder.path)
    folder.write("config", config)
    folder.write_status("running", time.time() - 100, seconds=40.0)  # killed outright after 40 s
    resumed = run_experiment(TINY, config, out_root=tmp_path / "out", resume=True)
    assert resumed == folder.path
    assert _status(resumed)["seconds"] > 40.0
    assert _metrics_raw(resumed)["wall_seconds"] == _status(resumed)["seconds"]


def _metrics_raw(run_dir):
    with open(os.path.join(run_dir, "metrics.json")) as fh:
        return json.load(fh)
