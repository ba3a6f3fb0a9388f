"""Goal 2: greedy pretraining costs what its layers cost.

The 784-1000-500-250-30 stacked autoencoder on MNIST (a subset: ``limit`` images,
``epochs`` per stage, batch 128). :func:`toolkit.pretraining.pretrain_greedy` is timed
stage by stage through its :class:`~toolkit.pretraining.StageCallback` hooks and epoch by
epoch through a Keras callback; the end-to-end fit of the *same* architecture (a fresh
model) for the same number of epochs is timed the same way, in the same process.

Cost models, per image, in multiply-adds (MACs) of dense layer ``k``: ``m_k = d_{k-1} d_k``.

- *own layers* (what greedy pretraining should cost): stage ``k`` trains ``enc{k}`` and
  ``dec{k}`` on precomputed codes, ``2 m_k`` MACs forward, about 3x that with backprop;
  its predicted time is the end-to-end epoch time times ``m_k / sum(m)``;
- *through frozen layers* (the naive way): stage ``k`` also pushes every batch forward
  through ``enc1..enc{k-1}``, adding ``sum_{j<k} m_j`` forward MACs per step:
  ``(6 m_k + sum_{j<k} m_j) / (6 sum(m))`` of the end-to-end epoch.

A stage whose measured steady-state epoch time follows the first model, not the second,
trains only its own layers. Small stages (250-30) sit on a floor of per-step overhead that
neither model counts; the figure to read is stage 2 and 3 (where the two models differ).
"""

import time

from benchmarks.common import Timer

UNITS = (1000, 500, 250, 30)


def _epoch_timer():
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.label, self.rows = "", []

        def on_epoch_begin(self, epoch, logs=None):
            self._t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.rows.append((self.label, epoch + 1, time.perf_counter() - self._t))

    return EpochTimer()


def cost_shares(input_dim=784, units=UNITS):
    """Per-stage MACs and the two models' predicted shares of an end-to-end epoch."""
    dims = (input_dim, *units)
    macs = [dims[k] * dims[k + 1] for k in range(len(units))]
    total = sum(macs)
    rows = []
    for k, m in enumerate(macs):
        below = sum(macs[:k])
        rows.append(
            {
                "stage": k + 1,
                "layers": f"{dims[k]} -> {dims[k + 1]}",
                "macs_per_image": m,
                "own_share": m / total,
                "through_frozen_share": (6 * m + below) / (6 * total),
            }
        )
    return rows, total


def benchmark(x, epochs=2, batch_size=128, units=UNITS, seed=0, log=print):
    """Time greedy pretraining of ``units`` on flat float inputs ``x`` against the
    end-to-end fit of the same stack for ``epochs`` epochs (same process, pretraining
    first, then end to end)."""
    import keras

    from toolkit.autoencoders import build_stacked_autoencoder
    from toolkit.pretraining import StageCallback, pretrain_greedy

    timer = _epoch_timer()
    stages = {}

    class Stages(StageCallback):
        def on_stage_begin(self, stage, info):
            timer.label = f"stage{stage}"
            stages[stage] = {
                "stage": stage,
                "layers": f"{info.input_dim} -> {info.units}",
                "begin": time.perf_counter(),
            }

        def on_stage_end(self, stage, info, history):
            stages[stage]["end"] = time.perf_counter()

    keras.utils.set_random_seed(seed)
    parts = build_stacked_autoencoder(x.shape[1], units)
    with Timer() as pre:
        pretrain_greedy(
            parts, x, epochs=epochs, batch_size=batch_size, callbacks=[timer], stage_callbacks=[Stages()], verbose=0
        )
    keras.utils.set_random_seed(seed)
    e2e_parts = build_stacked_autoencoder(x.shape[1], units)
    timer.label = "end_to_end"
    with Timer() as e2e:
        e2e_parts.model.fit(x, x, epochs=epochs, batch_size=batch_size, shuffle=True, callbacks=[timer], verbose=0)

    def epochs_of(label):
        return [s for lab, _, s in timer.rows if lab == label]

    e2e_epochs = epochs_of("end_to_end")
    e2e_steady = e2e_epochs[-1]
    shares, total_macs = cost_shares(x.shape[1], units)
    rows = []
    n = len(units)
    for k in range(1, n + 1):
        s = stages[k]
        ep = epochs_of(f"stage{k}")
        share = shares[k - 1]
        gap = (stages[k + 1]["begin"] - s["end"]) if k < n else 0.0
        rows.append(
            {
                "stage": k,
                "layers": s["layers"],
                "macs_per_image": share["macs_per_image"],
                "seconds_total": s["end"] - s["begin"],
                "epoch_seconds": ep,
                "steady_epoch_seconds": ep[-1],
                "next_input_seconds": gap,
                "predicted_own_layers_seconds": e2e_steady * share["own_share"],
                "predicted_through_frozen_seconds": e2e_steady * share["through_frozen_share"],
                "steady_vs_end_to_end_epoch": ep[-1] / e2e_steady,
            }
        )
        log(
            f"  stage {k} ({s['layers']}): {s['end'] - s['begin']:.2f} s total, steady epoch {ep[-1]:.2f} s "
            f"(own-layers model {rows[-1]['predicted_own_layers_seconds']:.2f} s, through-frozen "
            f"{rows[-1]['predicted_through_frozen_seconds']:.2f} s)"
        )
    log(
        f"  greedy pretraining {pre.seconds:.2f} s vs end to end {e2e.seconds:.2f} s "
        f"(ratio {pre.seconds / e2e.seconds:.2f}); end-to-end epochs {[round(v, 2) for v in e2e_epochs]}"
    )
    return {
        "setup": {
            "images": int(len(x)),
            "input_dim": int(x.shape[1]),
            "units": list(units),
            "epochs": epochs,
            "batch_size": batch_size,
            "seed": seed,
            "timing": "stage = on_stage_begin..on_stage_end (compile, fit incl. first-epoch tracing); "
            "steady = the stage's last epoch; next_input = computing the next stage's "
            "inputs once (predict); whole = pretrain_greedy call",
        },
        "stages": rows,
        "pretraining_seconds": pre.seconds,
        "end_to_end_seconds": e2e.seconds,
        "end_to_end_epoch_seconds": e2e_epochs,
        "pretraining_over_end_to_end": pre.seconds / e2e.seconds,
        "sum_steady_stage_epochs_over_end_to_end_epoch": sum(r["steady_epoch_seconds"] for r in rows) / e2e_steady,
        "macs_per_image_total": total_macs,
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
    args = p.parse_args(argv)
    ds = load_dataset("mnist", data_dir=data_dir(args.data_dir), limit=args.limit, test_limit=10, allow_download=False)
    result = benchmark(prepare_inputs(ds.x_train), epochs=args.epochs)
    result["environment"] = environment()
    emit_result(result)


if __name__ == "__main__":
    main()
