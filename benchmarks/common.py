"""Shared helpers of the benchmarks: data folder, timing, peak memory, subprocesses."""

import json
import os
import platform
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULT_MARKER = "BENCHMARK_RESULT_JSON:"


def data_dir(explicit=None):
    """The prepared data folder: ``explicit``, else ``$TOOLKIT_DATA_DIR``, else ``./data``."""
    folder = explicit or os.environ.get("TOOLKIT_DATA_DIR") or os.path.join(REPO, "data")
    return folder


def has_dataset(name, folder):
    sub = {"mnist": "mnist/train-images-idx3-ubyte.gz", "cifar10": "cifar-10-batches-bin/test_batch.bin"}[name]
    return os.path.isfile(os.path.join(folder, sub))


def median(values):
    values = list(values)
    return float(statistics.median(values)) if values else None


class Timer:
    """``with Timer() as t: ...``; then ``t.seconds``."""

    def __enter__(self):
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self._start
        return False


def peak_rss_gb():
    """This process's peak resident set size in GB (``ru_maxrss``: KiB on Linux, bytes on macOS)."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scale = 1 if sys.platform == "darwin" else 1024
    return peak * scale / 1e9


def environment():
    import keras

    env = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
    }
    try:
        import tensorflow as tf

        env["tensorflow"] = tf.__version__
    except ImportError:
        pass
    try:
        import jax

        env["jax"] = jax.__version__
    except ImportError:
        pass
    try:
        env["load_average"] = [round(v, 2) for v in os.getloadavg()]
    except OSError:
        pass
    return env


def emit_result(result):
    """Print ``result`` as the one JSON line a parent process reads (see :func:`run_module`)."""
    print(RESULT_MARKER + json.dumps(result), flush=True)


def run_module(module, args=(), env=None, timeout=1800):
    """Run ``python -m module args`` in a fresh process (clean memory figures, its own
    backend and XLA flags) and return the dict it printed with :func:`emit_result`."""
    full_env = dict(os.environ)
    full_env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    full_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-m", module, *map(str, args)],
        cwd=REPO,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_MARKER):
            return json.loads(line[len(RESULT_MARKER) :])
    raise RuntimeError(
        f"python -m {module} {' '.join(map(str, args))} failed (exit {proc.returncode}):\n"
        f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    )


def toolkit_run(folder, batch_size):
    """A real :class:`toolkit.runs.Run` on a scratch folder (no experiment around it), so a
    benchmark trains through ``Run.fit`` exactly as the experiments do."""
    from toolkit.runs.experiment import Experiment
    from toolkit.runs.folder import RunFolder
    from toolkit.runs.recorder import Run

    exp = Experiment(name="benchmark", slides="-", title="benchmark", summary="benchmark", run=lambda config, run: None)
    return Run(exp, {"epochs": 1, "batch_size": batch_size, "seed": 0}, RunFolder(folder))
