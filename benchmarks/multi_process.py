"""One process against two: the same cnn-mnist run through ``python -m toolkit run`` and
``python -m toolkit launch --processes 2 run``, on one backend.

For each: the CNN's and the MLP's test accuracy (``metrics.json``), the training rows each
process read per epoch (the lines the processes print), wall time and the CPU time of all
the processes (``RUSAGE_CHILDREN``, user + system). The two runs alternate ``--rounds``
times, so a load that comes and goes hits both.

    python -m benchmarks.multi_process --backend tensorflow --data-dir ./data
    python -m benchmarks.multi_process --backend jax --data-dir ./data
"""

import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time

from benchmarks.common import REPO, data_dir, has_dataset


def _cpu_children():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def one(processes, args, backend):
    """Run the experiment as ``processes`` process(es); return its figures."""
    out = tempfile.mkdtemp(prefix=f"bench-mp{processes}-")
    command = [sys.executable, "-m", "toolkit"]
    command += ["launch", "--processes", str(processes)] if processes > 1 else []
    command += ["run", *args, "--out", out]
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    cpu, start = _cpu_children(), time.perf_counter()
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - start, _cpu_children() - cpu
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    (run_id,) = os.listdir(os.path.join(out, "cnn-mnist"))
    with open(os.path.join(out, "cnn-mnist", run_id, "metrics.json")) as fh:
        metrics = json.load(fh)
    read = re.findall(r"\[(\w+)\] process (\d) of \d+ read (.*) \(of (\d+) rows\)", done.stdout)
    return {
        "processes": processes,
        "test_accuracy": metrics["test_accuracy"],
        "train_images": metrics["data"][next(iter(metrics["data"]))]["train"],
        "rows_read": [{"model": m, "process": int(p), "per_epoch": c, "of": int(n)} for m, p, c, n in read],
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
    }


def main(argv=None):
    import argparse

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backend", default="tensorflow", choices=["tensorflow", "jax"])
    p.add_argument("--data-dir", default=None)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--limit", type=int, default=6000)
    args = p.parse_args(argv)
    folder = data_dir(args.data_dir)
    dataset = ["--data-dir", folder] if has_dataset("mnist", folder) else ["--set", "dataset=shapes"]
    run_args = ["cnn-mnist", "--quick", "--epochs", str(args.epochs), "--set", f"limit={args.limit}", *dataset]
    rounds = []
    for _ in range(args.rounds):
        rounds.append([one(1, run_args, args.backend), one(2, run_args, args.backend)])
    result = {"backend": args.backend, "command": " ".join(run_args), "rounds": rounds}
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
