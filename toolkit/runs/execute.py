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
import threading
import time

from toolkit.errors import ToolkitError
from toolkit.runs.folder import RunFolder, check_writable, latest_unfinished, new_run_folder


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


def rerun_command(experiment, config, data_dir=None, device="cpu"):
    """The command that reruns this one experiment with this config (whatever started it:
    the tour, ``make``, several experiments at once): its form, then ``--set`` for every key
    that differs from that form."""
    import json
    import shlex

    form = run_form(experiment, config)
    base = {**experiment.defaults(), **(experiment.quick if form == "quick" else {})}
    parts = ["python -m toolkit run", experiment.name] + (["--quick"] if form == "quick" else [])
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
    experiment, config, out_root="reports", device="cpu", resume=False, fallback_data=False, devices=None, data_dir=None
):
    """Run ``experiment`` with a resolved ``config``; return the run folder's path.

    Raises ``ToolkitError`` subclasses for anything the user can fix; the folder's
    ``status.json`` records ``failed`` with the message when the run dies of an error.
    """
    from toolkit import devices as dev
    from toolkit.claims import judge
    from toolkit.reports import write_index, write_report
    from toolkit.resources import check_run_memory
    from toolkit.runs.recorder import Run

    out_root = os.path.abspath(out_root)
    check_writable(out_root)
    check_run_memory(experiment, config)
    dev.require_device(device)
    dev.set_precision(bool(config.get("mixed_precision", False)), device)
    used = dev.setup_data_parallel(devices)
    seed = int(config.get("seed", 0))
    dev.make_deterministic(seed)

    folder, resumed = _open_folder(out_root, experiment, config, resume)
    earlier = float((folder.read("status", {}) or {}).get("seconds") or 0) if resumed else 0.0
    run = Run(experiment, config, folder, data_dir=data_dir, resume=resumed, fallback_data=fallback_data)
    started = time.time()
    folder.write("config", config)
    env = dev.environment(seed, device)
    env["data_parallel_devices"] = [str(d) for d in used]
    env["command"] = rerun_command(experiment, config, data_dir, device)
    env["invoked_as"] = _invocation()
    folder.write("env", env)
    folder.write_status("running", started)
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if main_thread else None
    try:
        experiment.run(config, run)
    except BaseException as exc:
        if isinstance(exc, _Terminated):
            message = "terminated (SIGTERM); rerun with --resume to continue"
        elif isinstance(exc, KeyboardInterrupt):
            message = "interrupted (Ctrl-C); rerun with --resume to continue"
        else:
            message = str(exc) if isinstance(exc, ToolkitError) else f"{type(exc).__name__}: {exc}"
        _finish(run, experiment, config, started, earlier, judge, status="failed", error=message)
        write_report(folder.path)
        write_index(out_root)
        folder.unlock()
        raise
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
    _finish(run, experiment, config, started, earlier, judge, status="complete")
    write_report(folder.path)
    shutil.rmtree(folder.checkpoint_dir(), ignore_errors=True)
    write_index(out_root)
    folder.unlock()
    return folder.path


def _finish(run, experiment, config, started, earlier, judge, status, error=None):
    """Write the run's results, its verdicts and, last, its status."""
    seconds = round(earlier + time.time() - started, 2)
    run.metrics["wall_seconds"] = seconds
    run.trainer.write_history()
    folder = run.folder
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
