"""Run the benchmarks of the performance issue and write their results.

    python -m benchmarks.run [--quick] [--only goal1,goal2,goal4,goal5] [--data-dir DIR] [--out DIR]
    make benchmark [QUICK=1]

Goals (each measured against its reference in the same run, reported as ratios):

1. ``goal1``  MNIST on the CPU: toolkit simple_convnet vs the plain Keras convnet
   (per-epoch time, interleaved), and cnn_mnist's time to 99.3 % vs the reference's to
   99.0 % (:mod:`benchmarks.mnist_cpu`);
2. ``goal2``  greedy pretraining of 784-1000-500-250-30 stage by stage vs end to end
   (:mod:`benchmarks.pretraining_cost`);
4. ``goal4``  peak RSS of a CIFAR-10 workload, in its own process (:mod:`benchmarks.memory_cifar10`);
5. ``goal5``  data-parallel training on two simulated CPU devices, JAX
   (:mod:`benchmarks.data_parallel`).

Goal 3 (GPU) is ``python -m benchmarks.gpu_cifar10`` on a GPU machine; not run here.

``--quick`` shrinks every setting to a smoke test (a minute or two; the figures then
mean nothing). Results: ``<out>/<timestamp>/results.json`` (default out:
``benchmarks/out``, git-ignored) and a markdown table on stdout. A goal whose data are
missing is recorded as skipped, with the reason.
"""

import argparse
import datetime
import json
import os
import sys
import time

from benchmarks.common import REPO, data_dir, has_dataset

GOALS = ("goal1", "goal2", "goal4", "goal5")

FULL = {
    "goal1": {"ratio_limit": 10000, "rounds": 8, "max_epochs": 15, "time_to_accuracy": True},
    "goal2": {"limit": 20000, "epochs": 2},
    "goal4": {"steps": 20, "test_limit": 2000, "model": "resnet20"},
    "goal5": {"limit": 2048, "test_limit": 512, "epochs": 3, "batch_size": 64},
}
QUICK = {
    "goal1": {
        "limit": 512,
        "test_limit": 256,
        "ratio_limit": None,
        "rounds": 2,
        "max_epochs": 1,
        "time_to_accuracy": True,
    },
    "goal2": {"limit": 256, "epochs": 1, "units": (32, 16, 8, 4)},
    "goal4": {"steps": 2, "test_limit": 100, "model": "lenet5"},
    "goal5": {"limit": 256, "test_limit": 64, "epochs": 1, "batch_size": 64},
}


def run_goal1(settings, folder, log):
    from benchmarks import mnist_cpu
    from toolkit.data import load_dataset

    if not has_dataset("mnist", folder):
        return {"skipped": f"no MNIST in {folder}"}
    ds = load_dataset(
        "mnist",
        data_dir=folder,
        limit=settings.get("limit"),
        test_limit=settings.get("test_limit"),
        allow_download=False,
    )
    return mnist_cpu.benchmark(
        ds,
        rounds=settings["rounds"],
        max_epochs=settings["max_epochs"],
        ratio_limit=settings.get("ratio_limit"),
        time_to_accuracy_run=settings["time_to_accuracy"],
        log=log,
    )


def run_goal2(settings, folder, log):
    from benchmarks import pretraining_cost
    from toolkit.autoencoders import prepare_inputs
    from toolkit.data import load_dataset

    if not has_dataset("mnist", folder):
        return {"skipped": f"no MNIST in {folder}"}
    ds = load_dataset("mnist", data_dir=folder, limit=settings["limit"], test_limit=10, allow_download=False)
    units = settings.get("units", pretraining_cost.UNITS)
    return pretraining_cost.benchmark(prepare_inputs(ds.x_train), epochs=settings["epochs"], units=units, log=log)


def run_goal4(settings, folder, log):
    from benchmarks import memory_cifar10

    if not has_dataset("cifar10", folder):
        return {"skipped": f"no CIFAR-10 in {folder}"}
    result = memory_cifar10.benchmark(
        folder, model=settings["model"], steps=settings["steps"], test_limit=settings["test_limit"]
    )
    log(f"  peak RSS {result['peak_rss_gb_getrusage']:.2f} GB (bound {result['bound_gb']} GB)")
    return result


def run_goal5(settings, folder, log):
    from benchmarks import data_parallel

    result = data_parallel.benchmark(devices=2, **settings)
    log(
        f"  accuracy one device {result['one_device']['test_accuracy']:.4f}, data-parallel "
        f"{result['data_parallel']['test_accuracy']:.4f}; both devices used: {result['all_devices_used']}"
    )
    return result


RUNNERS = {"goal1": run_goal1, "goal2": run_goal2, "goal4": run_goal4, "goal5": run_goal5}


def _fmt(value, spec=".3f"):
    return "n/a" if value is None else format(value, spec)


def summary_rows(results):
    """(goal, figure, value, reference / bound) rows for the markdown table."""
    rows = []
    g1 = results.get("goal1", {})
    if "epoch_time" in g1:
        e = g1["epoch_time"]
        rows.append(
            (
                "1",
                "toolkit simple_convnet s/epoch (Run.fit, uint8)",
                _fmt(e["toolkit_run_fit"]["median_epoch_seconds_after_first"], ".2f"),
                f"reference {_fmt(e['reference']['median_epoch_seconds_after_first'], '.2f')} s",
            )
        )
        rows.append(
            (
                "1",
                "epoch-time ratio toolkit/reference (Run.fit)",
                _fmt(e["ratio_run_fit"]["ratio_of_medians"]),
                "<= 1.05",
            )
        )
        rows.append(
            (
                "1",
                "epoch-time ratio toolkit/reference (plain fit)",
                _fmt(e["ratio_plain_fit"]["ratio_of_medians"]),
                "<= 1.05",
            )
        )
        rows.append(
            (
                "1",
                "epoch CPU-time ratio toolkit/reference (Run.fit)",
                _fmt(e["ratio_run_fit"].get("cpu_ratio_of_medians")),
                "<= 1.05",
            )
        )
    if "time_to_accuracy" in g1:
        t = g1["time_to_accuracy"]
        rows.append(
            (
                "1",
                f"cnn_mnist s to {t['toolkit_target']:.1%}",
                _fmt(t["toolkit_seconds"], ".1f"),
                f"reference to {t['reference_target']:.1%}: {_fmt(t['reference_seconds'], '.1f')} s",
            )
        )
    g2 = results.get("goal2", {})
    if "stages" in g2:
        for s in g2["stages"]:
            rows.append(
                (
                    "2",
                    f"stage {s['stage']} ({s['layers']}) steady epoch s",
                    _fmt(s["steady_epoch_seconds"], ".2f"),
                    f"own-layers model {_fmt(s['predicted_own_layers_seconds'], '.2f')}, through-frozen "
                    f"{_fmt(s['predicted_through_frozen_seconds'], '.2f')}",
                )
            )
        rows.append(
            (
                "2",
                "whole greedy pretraining s",
                _fmt(g2["pretraining_seconds"], ".1f"),
                f"end to end {_fmt(g2['end_to_end_seconds'], '.1f')} s "
                f"(ratio {_fmt(g2['pretraining_over_end_to_end'], '.2f')})",
            )
        )
    g4 = results.get("goal4", {})
    if "peak_rss_gb_getrusage" in g4:
        rows.append(
            (
                "4",
                f"peak RSS GB ({g4['setup']['model']}, CIFAR-10 uint8)",
                _fmt(g4["peak_rss_gb_getrusage"], ".2f"),
                f"< {g4['bound_gb']}",
            )
        )
    g5 = results.get("goal5", {})
    if "data_parallel" in g5:
        rows.append(
            (
                "5",
                "test accuracy, DataParallel on 2 devices",
                _fmt(g5["data_parallel"]["test_accuracy"], ".4f"),
                f"1 device {_fmt(g5['one_device']['test_accuracy'], '.4f')}",
            )
        )
        rows.append(
            (
                "5",
                "both devices used",
                str(g5["all_devices_used"]),
                f"variables on {g5['data_parallel']['variable_device_counts']} devices, "
                f"{g5['data_parallel']['distributed_batches']} batches split {g5['data_parallel']['batch_shard_rows']}",
            )
        )
    for goal, res in results.items():
        if "skipped" in res or "error" in res:
            rows.append((goal[-1], "skipped" if "skipped" in res else "error", "-", res.get("skipped") or res["error"]))
    return rows


def markdown_table(results):
    lines = ["| goal | figure | value | reference / bound |", "|---|---|---|---|"]
    lines += [f"| {' | '.join(map(str, r))} |" for r in summary_rows(results)]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="tiny settings: a smoke test, figures meaningless")
    parser.add_argument("--only", default=",".join(GOALS), help=f"comma-separated subset of {','.join(GOALS)}")
    parser.add_argument("--data-dir", default=None, help="prepared data folder (else $TOOLKIT_DATA_DIR, ./data)")
    parser.add_argument("--out", default=os.path.join(REPO, "benchmarks", "out"))
    args = parser.parse_args(argv)
    goals = [g.strip() for g in args.only.split(",") if g.strip()]
    unknown = sorted(set(goals) - set(GOALS))
    if unknown:
        parser.error(f"unknown goals {unknown}; valid: {', '.join(GOALS)}")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from benchmarks.common import environment

    folder = data_dir(args.data_dir)
    settings = QUICK if args.quick else FULL
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out_dir = os.path.join(args.out, stamp + ("-quick" if args.quick else ""))
    os.makedirs(out_dir, exist_ok=True)
    results = {}
    report = {
        "command": " ".join(["python -m benchmarks.run", *(argv if argv is not None else sys.argv[1:])]),
        "date": stamp,
        "quick": args.quick,
        "data_dir": folder,
        "settings": {g: settings[g] for g in goals},
        "results": results,
    }

    def log(text):
        print(text, flush=True)

    for goal in goals:
        log(f"== {goal} ==")
        start = time.perf_counter()
        try:
            results[goal] = RUNNERS[goal](settings[goal], folder, log)
        except Exception as exc:  # recorded, and the run exits non-zero at the end
            results[goal] = {"error": f"{type(exc).__name__}: {exc}"}
            log(f"  error: {results[goal]['error']}")
        results[goal]["wall_seconds"] = time.perf_counter() - start
        report["environment"] = environment()
        with open(os.path.join(out_dir, "results.json"), "w") as fh:
            json.dump(report, fh, indent=1, default=str)
    table = markdown_table(results)
    with open(os.path.join(out_dir, "results.md"), "w") as fh:
        fh.write(f"`{report['command']}` ({stamp})\n\n{table}\n")
    print("\n" + table)
    print(f"\nresults: {os.path.join(out_dir, 'results.json')}")
    return 1 if any("error" in r for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
