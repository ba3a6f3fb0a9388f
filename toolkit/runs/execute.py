"""Running an experiment into its folder: the glue between the CLI, the experiment, the
recorder, the claims and the reports.

:func:`run_experiment` checks what can be checked before anything is allocated (the output
folder, the data's memory, the device), makes or reopens the run folder and locks it,
writes ``config.json``/``env.json``/``status.json`` (``running``), calls the experiment
with a :class:`~toolkit.runs.recorder.Run`, judges the experiment's claims from the
measured metrics, then writes ``metrics.json``, ``report.json``, ``claims.json``, the
reports and, last, ``status.json`` (``complete`` or ``failed`` with the reason).
"""

import os
import shutil
import signal
import sys
import tempfile
import threading
import time

from toolkit import fileio
from toolkit.errors import RunError, ToolkitError
from toolkit.fileio import WriteError
from toolkit.runs.folder import (
    RESERVE_BYTES,
    STATUS_BYTES,
    RunFolder,
    check_writable,
    latest_unfinished,
    new_run_folder,
)


def run_form(experiment, config):
    """``"full"``, ``"quick"`` or ``"custom"``: which form of the experiment ``config`` is
    (the seed does not count: ``--seed N`` of a quick run is still the quick form)."""

    def same(a, b):
        return {k: v for k, v in a.items() if k != "seed"} == {k: v for k, v in b.items() if k != "seed"}

    defaults = experiment.defaults()
    if same(config, defaults):
        return "full"
    if same(config, {**defaults, **experiment.quick}):
        return "quick"
    return "custom"


def rerun_command(experiment, config, data_dir=None, device="cpu", processes=1):
    """The command that reruns this one experiment with this config (whatever started it:
    the tour, ``make``, several experiments at once): its form, then ``--set`` for every key
    that differs from that form; a multi-process run reruns through ``launch``."""
    import json
    import shlex

    form = run_form(experiment, config)
    base = {**experiment.defaults(), **(experiment.quick if form == "quick" else {})}
    launch = [f"python -m toolkit launch --processes {processes} run"] if processes > 1 else ["python -m toolkit run"]
    parts = [*launch, experiment.name] + (["--quick"] if form == "quick" else [])
    for key, value in config.items():
        if key == "seed" and value != base.get("seed"):
            parts.append(f"--seed {value}")
        elif key != "seed" and value != base.get(key):
            text = "none" if value is None else json.dumps(value, separators=(",", ":"))
            parts.append(f"--set {shlex.quote(f'{key}={text.strip(chr(34))}')}")
    if data_dir:
        parts.append(f"--data-dir {shlex.quote(str(data_dir))}")
    if device != "cpu":
        parts.append(f"--device {device}")
    backend = os.environ.get("KERAS_BACKEND")
    prefix = f"KERAS_BACKEND={backend} " if backend and backend != "tensorflow" else ""
    return prefix + " ".join(parts)


def _invocation():
    """The command line that started this process."""
    argv = list(sys.argv)
    if argv and argv[0].endswith(os.path.join("toolkit", "__main__.py")):
        argv[0] = "python -m toolkit"
    return " ".join(argv)


def _open_folder(out_root, experiment, config, resume):
    folder = latest_unfinished(out_root, experiment.name) if resume else None
    if folder is None:
        return new_run_folder(out_root, experiment.name).lock(), False
    folder.lock()  # before reading anything: a live run keeps its folder
    if folder.read("config") != _json_roundtrip(config):
        folder.unlock()
        raise ToolkitError(
            f"--resume: the unfinished run {folder.path} used another config; "
            "rerun with the same arguments, or drop --resume"
        )
    print(f"resuming {folder.path}", flush=True)
    return folder, True


def _json_roundtrip(value):
    import json

    return json.loads(json.dumps(value))


class _Terminated(KeyboardInterrupt):
    """SIGTERM, handled as Ctrl-C: the run is recorded as failed and can be resumed."""


def _on_sigterm(signum, frame):
    raise _Terminated()


def run_experiment(
    experiment,
    config,
    out_root="reports",
    device="cpu",
    resume=False,
    fallback_data=False,
    devices=None,
    data_dir=None,
    tensorboard=False,
    coordinator=None,
    num_processes=None,
    process_id=None,
    peer_timeout=None,
):
    """Run ``experiment`` with a resolved ``config``; return the run folder's path.

    A multi-process run (``coordinator``/``num_processes``/``process_id``, or the variables
    of :func:`toolkit.parallel.cluster`) runs the same experiment in every process; process 0
    writes the run folder, the others write into a scratch folder deleted at the end (with
    ``resume`` they start from a copy of process 0's unfinished folder, so all resume from
    the same checkpoint: several machines need ``--out`` on a shared file system).

    Raises ``ToolkitError`` subclasses for anything the user can fix; the folder's
    ``status.json`` records ``failed`` with the message when the run dies of an error.
    A full disk (or a folder that became unwritable) mid-run is one of those: the run
    stops with one line, its last checkpoint and ``status.json`` (``failed``, the reason)
    stay, no partially written file does, and ``--resume`` continues once there is room.
    """
    from toolkit import devices as dev
    from toolkit import parallel
    from toolkit.resources import check_config_memory

    out_root = os.path.abspath(out_root)
    check_config_memory(experiment, config)  # before anything is loaded or built
    # first: JAX's processes must join before anything else touches the backend
    par = parallel.setup(devices, coordinator, num_processes, process_id, peer_timeout or parallel.PEER_TIMEOUT)
    if par.writer:
        check_writable(out_root, need=RESERVE_BYTES + STATUS_BYTES)
    dev.require_device(device)
    dev.set_precision(bool(config.get("mixed_precision", False)), device)
    seed = int(config.get("seed", 0))
    dev.make_deterministic(seed)

    scratch = None
    if par.writer:
        folder, resumed = _open_folder(out_root, experiment, config, resume)
    else:
        scratch = tempfile.mkdtemp(prefix=f"toolkit-process{par.process_id}-")
        folder, resumed = _scratch_folder(scratch, out_root, experiment, config, resume)
    try:
        with par.scope():
            path = _run_locked(
                experiment, config, folder, resumed, out_root, device, par, data_dir, fallback_data, tensorboard
            )
        return path if scratch is None else None
    finally:
        folder.unlock()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def _scratch_folder(scratch, out_root, experiment, config, resume):
    """A process other than 0: its run folder is a scratch copy that nobody reads; to resume,
    a copy of the newest unfinished run folder of process 0 with the same config (the
    checkpoint every process must restart from)."""
    leader = latest_unfinished(out_root, experiment.name) if resume else None
    if leader is not None and leader.read("config") != _json_roundtrip(config):
        leader = None  # process 0 refuses it with the reason
    if leader is None:
        return new_run_folder(scratch, experiment.name).lock(), False
    return leader.copy_to(scratch).lock(), True


def _run_locked(experiment, config, folder, resumed, out_root, device, par, data_dir, fallback_data, tensorboard):
    from toolkit import devices as dev
    from toolkit.claims import judge
    from toolkit.reports import write_index, write_report
    from toolkit.runs.recorder import Run

    earlier = folder.earlier_seconds() if resumed else 0.0
    run = Run(
        experiment,
        config,
        folder,
        data_dir=data_dir,
        resume=resumed,
        fallback_data=fallback_data,
        tensorboard=tensorboard,
    )
    started = time.time()
    folder.start_clock(started, earlier)
    recorded = False  # whether status.json says "running" yet
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if main_thread else None
    try:
        folder.reserve()  # room to record a failure in, should the disk fill up
        folder.write("config", config)
        env = dev.environment(int(config.get("seed", 0)), device)
        env.update(par.describe())
        env["command"] = rerun_command(experiment, config, data_dir, device, processes=par.processes)
        env["invoked_as"] = _invocation()
        folder.write("env", env)
        folder.write_status("running", started, seconds=earlier or None)
        recorded = True
        experiment.run(config, run)
        _finish(run, experiment, config, started, judge, status="complete")
    except BaseException as exc:
        message, disk = _failure_message(exc, par)
        if not recorded and not resumed:
            # nothing was run: leave no folder behind, only the one-line error
            shutil.rmtree(folder.path, ignore_errors=True)
        else:
            _record_failure(run, experiment, config, started, judge, message, out_root if par.writer else None)
        if disk or _peer_failure(exc, par):
            raise RunError(message) from None
        raise
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
    folder.release_reserve()
    if not par.writer:
        return folder.path  # process 0 writes the reports
    try:
        write_report(folder.path)
        shutil.rmtree(folder.checkpoint_dir(), ignore_errors=True)
        write_index(out_root)
    except OSError as exc:
        if fileio.write_oserror(exc) is None:
            raise
        err = fileio.describe_write_error(fileio.write_oserror(exc))
        raise RunError(
            f"{err}; the run is complete (status.json, metrics.json): rebuild its report with "
            f"python -m toolkit report {folder.path}"
        ) from None
    except WriteError as exc:
        raise RunError(
            f"{exc}; the run is complete (status.json, metrics.json): rebuild its report with "
            f"python -m toolkit report {folder.path}"
        ) from None
    return folder.path


_PEER_WORDS = ("heartbeat", "unhealthy", "closed by peer", "connection", "aborted", "unavailable", "deadline")


def _peer_failure(exc, par):
    """Whether ``exc`` ended a multi-process run from inside the backend (a collective that
    lost its peer, a timeout): told in one line, never a traceback."""
    return par.multi_process and not isinstance(exc, (ToolkitError, KeyboardInterrupt, MemoryError))


def _peer_message(exc, par):
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    reason = next((line for line in lines if any(w in line.lower() for w in _PEER_WORDS)), lines[0] if lines else "")
    return (
        f"process {par.process_id} of {par.processes} stopped: {type(exc).__name__}: {reason[:300]} "
        "(another process died or stopped answering?); rerun every process with --resume to continue"
    )


def _failure_message(exc, par=None):
    """``(message, disk)``: what ``status.json`` and the user are told about ``exc``;
    ``disk`` when it is a full disk or an unwritable file (the run then ends in a one-line
    ``RunError``, whatever library reported it). In a multi-process run an error from inside
    the backend is told as a peer failure, in one line."""
    if par is not None and _peer_failure(exc, par) and fileio.write_oserror(exc) is None:
        return _peer_message(exc, par), False
    if isinstance(exc, _Terminated):
        return "terminated (SIGTERM); rerun with --resume to continue", False
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted (Ctrl-C); rerun with --resume to continue", False
    disk = fileio.write_oserror(exc)
    if disk is not None:
        fileio.release_failed_writes(exc)  # close HDF5 files and the like now, quietly
        err = fileio.describe_write_error(disk)
        if err.no_space:
            return f"{err} and rerun with --resume to continue", True
        return f"{err}; make it writable and rerun with --resume to continue", True
    return (str(exc) if isinstance(exc, ToolkitError) else f"{type(exc).__name__}: {exc}"), False


def _record_failure(run, experiment, config, started, judge, message, out_root):
    """Record a failed run as far as the disk allows: give back the reserve, remove partial
    files, write ``status.json`` (``failed``) first, then the results so far and the
    reports, each on its own (one that cannot be written does not stop the others), and
    ``status.json`` again, last."""
    from toolkit.reports import write_index, write_report

    folder = run.folder
    folder.release_reserve()
    folder.remove_partials()
    seconds = folder.seconds()

    def attempt(step, *args, **kwargs):
        try:
            step(*args, **kwargs)
        except Exception:  # the run has already failed; this is only its record
            pass

    attempt(folder.write_status, "failed", started, seconds=seconds, error=message)
    attempt(_finish, run, experiment, config, started, judge, status="failed", error=message, seconds=seconds)
    attempt(write_report, folder.path)
    if out_root is not None:
        attempt(write_index, out_root)
    folder.remove_partials()


def _finish(run, experiment, config, started, judge, status, error=None, seconds=None):
    """Write the run's results, its verdicts and, last, its status."""
    folder = run.folder
    seconds = folder.seconds() if seconds is None else seconds
    run.metrics["wall_seconds"] = seconds
    run.trainer.write_history()
    folder.write("metrics", run.metrics)
    report = run.report(error)
    data = run.metrics.get("data", {})
    report["run"] = {
        "form": run_form(experiment, config),
        "seed": config.get("seed"),
        "epochs": config.get("epochs"),
        "seconds": seconds,
        "images": {
            name: {"train": d.get("train"), "test": d.get("test"), "dataset": d.get("dataset")}
            for name, d in data.items()
        },
    }
    folder.write("report", report)
    folder.write("claims", judge(experiment, run.metrics, error=error))
    folder.write_status(status, started, seconds=seconds, error=error)


__all__ = ["run_experiment", "run_form", "RunFolder"]
