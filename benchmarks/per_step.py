"""The per-step tax: greedy pretraining against one end-to-end pass, with one training step
per compiled call and with :data:`toolkit.devices.STEPS_PER_EXECUTION`.

The 784-1000-500-250-30 stacked autoencoder of goal 2 (``benchmarks.pretraining_cost``) on
``limit`` MNIST images, ``epochs`` per stage, batch 128. Each round runs, in one process and
in a rotating order: ``pretrain_greedy`` with one step per call (the code before), the same
with several steps per call (the code now), and the end-to-end ``model.fit`` of the same
stack (plain Keras, one step per call: the reference of goal 2), and the same end-to-end fit
with its optimizer built before ``fit`` as the toolkit's fits do
(:func:`toolkit.devices.build_before_fit`: one trace of the train step instead of two on
TensorFlow), so the share of that fix in the ratio is visible. Wall time and this
process's CPU time (``time.process_time``, which other jobs on a shared machine hardly move)
of each whole call; round 1 (tracing, warm-up) is dropped; the figures are the medians of
the later rounds and their ratios to the end-to-end pass.

    python -m benchmarks.per_step --data-dir ./data --limit 20000 --epochs 2 --rounds 4
"""

import time

from benchmarks.common import median

UNITS = (1000, 500, 250, 30)


def _timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def benchmark(x, epochs=2, rounds=4, batch_size=128, seed=0, log=print):
    import keras

    from toolkit import devices
    from toolkit.autoencoders import build_stacked_autoencoder
    from toolkit.pretraining import pretrain_greedy

    default = devices.STEPS_PER_EXECUTION

    def greedy(steps):
        def go():
            devices.STEPS_PER_EXECUTION = steps
            try:
                keras.utils.set_random_seed(seed)
                parts = build_stacked_autoencoder(x.shape[1], UNITS)
                pretrain_greedy(parts, x, epochs=epochs, batch_size=batch_size, verbose=0)
            finally:
                devices.STEPS_PER_EXECUTION = default

        return go

    def end_to_end(prebuild):
        def go():
            keras.utils.set_random_seed(seed)
            parts = build_stacked_autoencoder(x.shape[1], UNITS)
            if prebuild:
                devices.build_before_fit(parts.model, x, x)
            parts.model.fit(x, x, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=0)

        return go

    contenders = {
        "greedy, 1 step per call": greedy(1),
        f"greedy, {default} steps per call": greedy(default),
        "end to end, optimizer built before fit": end_to_end(True),
        "end to end (plain Keras)": end_to_end(False),
    }
    names = list(contenders)
    times = {name: [] for name in names}
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            wall, cpu = _timed(contenders[name])
            times[name].append((wall, cpu))
            log(f"  round {r + 1}: {name:32s} {wall:7.2f} s wall  {cpu:7.2f} s cpu")
    later = {name: times[name][1:] for name in names}
    summary = {
        name: {
            "median_wall_seconds": median(w for w, _ in later[name]),
            "median_cpu_seconds": median(c for _, c in later[name]),
            "wall_seconds": [round(w, 3) for w, _ in times[name]],
            "cpu_seconds": [round(c, 3) for _, c in times[name]],
        }
        for name in names
    }
    ref, prebuilt = summary[names[-1]], summary[names[-2]]
    for name in names[:-1]:
        s = summary[name]
        s["wall_ratio_to_end_to_end"] = s["median_wall_seconds"] / ref["median_wall_seconds"]
        s["cpu_ratio_to_end_to_end"] = s["median_cpu_seconds"] / ref["median_cpu_seconds"]
        s["cpu_ratio_to_end_to_end_prebuilt"] = s["median_cpu_seconds"] / prebuilt["median_cpu_seconds"]
        log(
            f"  {name}: {s['wall_ratio_to_end_to_end']:.3f}x end to end (wall), "
            f"{s['cpu_ratio_to_end_to_end']:.3f}x (cpu); "
            f"{s['cpu_ratio_to_end_to_end_prebuilt']:.3f}x (cpu) the end to end fit with its optimizer built first"
        )
    return {
        "setup": {
            "images": int(len(x)),
            "units": list(UNITS),
            "epochs": epochs,
            "batch_size": batch_size,
            "rounds": rounds,
            "steps_per_execution": default,
            "timing": "whole call (build, compile, fit incl. tracing, next-stage inputs); medians of rounds 2..",
        },
        "contenders": summary,
    }


def main(argv=None):
    import argparse

    from benchmarks.common import data_dir, emit_result, environment
    from toolkit.autoencoders import prepare_inputs
    from toolkit.data import load_dataset

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--limit", type=int, default=20000)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--rounds", type=int, default=4)
    args = p.parse_args(argv)
    ds = load_dataset("mnist", data_dir=data_dir(args.data_dir), limit=args.limit, test_limit=10, allow_download=False)
    result = benchmark(prepare_inputs(ds.x_train), epochs=args.epochs, rounds=args.rounds)
    result["environment"] = environment()
    emit_result(result)


if __name__ == "__main__":
    main()
