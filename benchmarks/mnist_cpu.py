"""Goal 1: the toolkit on a CPU against plain Keras, on MNIST, in one process.

Three models train side by side on the same data, one epoch at a time, interleaved
(round r trains an epoch of each, the starting model rotating with r), so a busy
machine slows all of them alike:

- ``reference``: :mod:`benchmarks.reference_mnist_convnet`, plain Keras, float32 x/255
  arrays made before ``fit``, one-hot labels;
- ``toolkit simple_convnet``: ``build_model("simple_convnet")``, fed the toolkit's way —
  uint8 images in, the ``Rescaling`` layer inside, integer labels — and fitted through
  the toolkit's ``Run.fit`` (its BackupAndRestore, epoch recorder and NaN-guard callbacks);
- ``toolkit cnn_mnist``: the cnn-mnist experiment's default model, the same way.

Per-epoch figure: the wall time of each one-epoch ``fit`` call; the ratio is the median
over rounds 2.. (round 1 traces the graphs) of toolkit / reference, with the median of the
per-round ratios beside it. Time to accuracy: cumulative training wall time (evaluation on
the 10,000 test images after each epoch is excluded for every model; it is reported
apart) until the reference reaches ``ref_target`` and cnn_mnist ``toolkit_target``.
"""

import tempfile
import time

from benchmarks import reference_mnist_convnet as reference
from benchmarks.common import Timer, median, toolkit_run

BATCH_SIZE = 128


def _compile_toolkit(model):
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


class _Contender:
    """``fit_epoch(epoch)`` trains epoch ``epoch`` (0-based, timed); ``prepare(epoch)``, when
    given, runs before it untimed."""

    def __init__(self, name, model, fit_epoch, evaluate, target=None, prepare=None):
        self.name, self.model, self.fit_epoch, self.evaluate, self.target = name, model, fit_epoch, evaluate, target
        self.prepare = prepare
        self.epoch_seconds, self.epoch_cpu_seconds, self.eval_seconds, self.accuracy = [], [], [], []
        self.reached_at = None

    def step(self):
        epoch = len(self.accuracy)
        if self.prepare is not None:
            self.prepare(epoch)
        cpu = time.process_time()
        with Timer() as t:
            self.fit_epoch(epoch)
        self.epoch_cpu_seconds.append(time.process_time() - cpu)
        self.epoch_seconds.append(t.seconds)
        with Timer() as e:
            acc = float(self.evaluate())
        self.eval_seconds.append(e.seconds)
        self.accuracy.append(acc)
        if self.target is not None and self.reached_at is None and acc >= self.target:
            self.reached_at = len(self.accuracy)
        return t.seconds, acc

    def summary(self):
        out = {
            "epochs_run": len(self.epoch_seconds),
            "epoch_seconds": [round(s, 3) for s in self.epoch_seconds],
            "epoch_cpu_seconds": [round(s, 3) for s in self.epoch_cpu_seconds],
            "median_epoch_cpu_seconds_after_first": median(self.epoch_cpu_seconds[1:]),
            "test_accuracy": [round(a, 5) for a in self.accuracy],
            "eval_seconds_total": round(sum(self.eval_seconds), 2),
            "median_epoch_seconds_after_first": median(self.epoch_seconds[1:]),
        }
        if self.target is not None:
            out["target_accuracy"] = self.target
            out["reached_at_epoch"] = self.reached_at
            out["seconds_to_target"] = round(sum(self.epoch_seconds[: self.reached_at]), 2) if self.reached_at else None
            out["best_accuracy"] = max(self.accuracy) if self.accuracy else None
        return out


def _contenders(ds, batch_size, seed, names, targets):
    """The models of goal 1, each with a one-epoch fit and a test-accuracy evaluation."""
    import keras

    from toolkit.models import build_model

    shape = ds.x_train.shape[1:]
    run = toolkit_run(tempfile.mkdtemp(prefix="bench-mnist-"), batch_size)
    out = []
    for name in names:
        keras.utils.set_random_seed(seed)
        prepare = None
        if name == "reference":
            x_tr, y_tr, x_te, y_te = reference.prepare_data(ds.x_train, ds.y_train, ds.x_test, ds.y_test)
            model = reference.build_model(shape)
            prepare, fit = _plain_fit(model, x_tr, y_tr, batch_size, seed)
        else:
            x_te, y_te = ds.x_test, ds.y_test
            arch = name.split(" ")[1]
            model = build_model(arch, input_shape=shape, num_classes=10)
            if arch == "cnn_mnist":  # the cnn-mnist experiment's own recipe (one-cycle Adam)
                from experiments.cnn_mnist import compile_model
                from experiments.cnn_mnist import run as cnn_mnist_experiment

                config = dict(cnn_mnist_experiment.defaults(), batch_size=batch_size)
                model = compile_model(model, config, len(ds.x_train))
            else:
                model = _compile_toolkit(model)
            if name.endswith("(plain fit)"):
                prepare, fit = _plain_fit(model, ds.x_train, ds.y_train, batch_size, seed)
            else:  # Run.fit shuffles anew each epoch itself (toolkit.data.pipeline)
                fit = (
                    lambda m, a: (
                        lambda epoch: run.fit(m, ds.x_train, ds.y_train, label=a, initial_epoch=epoch, epochs=epoch + 1)
                    )
                )(model, arch)
        evaluate = (lambda m, x, y: lambda: m.evaluate(x, y, batch_size=1000, verbose=0)[1])(model, x_te, y_te)
        out.append(_Contender(name, model, fit, evaluate, targets.get(name), prepare))
    return out


def _plain_fit(model, x, y, batch_size, seed):
    """A plain one-epoch ``model.fit`` and an untimed ``prepare`` that hands it the data in a
    new order each epoch: seeded Keras 3.15 on TensorFlow would otherwise replay one batch
    order every epoch (see toolkit.data.pipeline), which a user's unseeded run does not do."""
    import numpy as np

    data = {}

    def prepare(epoch):
        order = np.random.default_rng((seed, epoch)).permutation(len(x))
        data["x"], data["y"] = x[order], y[order]

    def fit(epoch):
        model.fit(data["x"], data["y"], batch_size=batch_size, epochs=1, verbose=0)

    return prepare, fit


def _interleave(contenders, active, log):
    r = 1
    while True:
        todo = [c for c in contenders if active(c, r)]
        if not todo:
            return
        shift = (r - 1) % len(todo)
        for c in todo[shift:] + todo[:shift]:
            seconds, acc = c.step()
            log(
                f"  round {r}: {c.name:36s} epoch {len(c.accuracy):2d}  {seconds:7.2f} s  "
                f"(cpu {c.epoch_cpu_seconds[-1]:7.2f} s)  test acc {acc:.4f}",
            )
        r += 1


def epoch_time_ratio(ds, rounds=5, batch_size=BATCH_SIZE, seed=0, log=print):
    """Per-epoch time of the toolkit's simple_convnet (uint8 in, Run.fit) against the plain
    Keras reference, interleaved for ``rounds`` epochs each (round 1 = warm-up, dropped).
    A third contender, the toolkit model under a plain ``model.fit(verbose=0)``, splits
    the difference into "the model and its input" and "Run.fit's callbacks"."""
    if rounds < 2:
        raise ValueError(f"rounds must be >= 2 (round 1 is warm-up); received {rounds!r}")
    names = ["reference", "toolkit simple_convnet (Run.fit)", "toolkit simple_convnet (plain fit)"]
    ref, run_fit, plain = _contenders(ds, batch_size, seed, names, {})
    _interleave([ref, run_fit, plain], lambda c, r: r <= rounds, log)

    def ratio(c):
        paired = [a / b for a, b in zip(c.epoch_seconds[1:], ref.epoch_seconds[1:])]
        cpu_paired = [a / b for a, b in zip(c.epoch_cpu_seconds[1:], ref.epoch_cpu_seconds[1:])]
        return {
            "ratio_of_medians": median(c.epoch_seconds[1:]) / median(ref.epoch_seconds[1:]),
            "median_of_paired_ratios": median(paired),
            "paired_ratios": [round(p, 4) for p in paired],
            "cpu_ratio_of_medians": median(c.epoch_cpu_seconds[1:]) / median(ref.epoch_cpu_seconds[1:]),
            "cpu_paired_ratios": [round(p, 4) for p in cpu_paired],
        }

    result = {
        "setup": {
            "train_images": int(len(ds.x_train)),
            "test_images": int(len(ds.x_test)),
            "batch_size": batch_size,
            "rounds": rounds,
            "seed": seed,
            "timing": "wall time (and process CPU time) of each one-epoch fit call, median over rounds "
            "2..; evaluation excluded",
        },
        "reference": ref.summary(),
        "toolkit_run_fit": run_fit.summary(),
        "toolkit_plain_fit": plain.summary(),
        "ratio_run_fit": ratio(run_fit),
        "ratio_plain_fit": ratio(plain),
        "bound": 1.05,
    }
    result["within_bound"] = result["ratio_run_fit"]["ratio_of_medians"] <= 1.05
    return result


def time_to_accuracy(
    ds, max_epochs=15, ref_target=0.99, toolkit_target=0.993, batch_size=BATCH_SIZE, seed=0, log=print
):
    """Training wall time until the reference reaches ``ref_target`` and the toolkit's
    cnn_mnist (through Run.fit) reaches ``toolkit_target`` on the test set, interleaved,
    each capped at ``max_epochs``. Evaluation time is excluded for both."""
    from experiments.cnn_mnist import run as cnn_mnist_experiment

    recipe = cnn_mnist_experiment.defaults()
    names = ["reference", "toolkit cnn_mnist (Run.fit)"]
    ref, cnn = _contenders(
        ds, batch_size, seed, names, {"reference": ref_target, "toolkit cnn_mnist (Run.fit)": toolkit_target}
    )
    # cnn_mnist's schedule ends after the experiment's epochs; the reference may go on to max_epochs
    budget = {ref.name: max_epochs, cnn.name: min(max_epochs, recipe["epochs"])}
    _interleave([ref, cnn], lambda c, r: c.reached_at is None and r <= budget[c.name], log)
    ref_s, cnn_s = ref.summary()["seconds_to_target"], cnn.summary()["seconds_to_target"]
    return {
        "setup": {
            "train_images": int(len(ds.x_train)),
            "test_images": int(len(ds.x_test)),
            "batch_size": batch_size,
            "max_epochs": max_epochs,
            "seed": seed,
            "optimizer": "reference: adam 1e-3 (as keras-io), one-hot categorical CE; cnn_mnist: the "
            f"cnn-mnist experiment's recipe: adam, {recipe['schedule']} schedule peaking at "
            f"{recipe['learning_rate']} over {recipe['epochs']} epochs, sparse CE",
            "timing": "cumulative wall time of the one-epoch fit calls up to the first epoch at target; "
            "evaluation after each epoch excluded for both",
        },
        "reference": ref.summary(),
        "toolkit_cnn_mnist": cnn.summary(),
        "reference_target": ref_target,
        "reference_seconds": ref_s,
        "toolkit_target": toolkit_target,
        "toolkit_seconds": cnn_s,
        "ratio": (cnn_s / ref_s) if (ref_s and cnn_s) else None,
        "toolkit_faster": bool(ref_s and cnn_s and cnn_s < ref_s),
    }


def benchmark(ds, rounds=5, max_epochs=15, ratio_limit=None, time_to_accuracy_run=True, epoch_time_run=True, log=print):
    """Goal 1: :func:`epoch_time_ratio` (on the first ``ratio_limit`` training images when
    given) then :func:`time_to_accuracy` on all of ``ds``."""
    out = {}
    if epoch_time_run:
        ratio_ds = ds
        if ratio_limit:
            import dataclasses

            ratio_ds = dataclasses.replace(ds, x_train=ds.x_train[:ratio_limit], y_train=ds.y_train[:ratio_limit])
        out["epoch_time"] = epoch_time_ratio(ratio_ds, rounds=rounds, log=log)
    if time_to_accuracy_run:
        out["time_to_accuracy"] = time_to_accuracy(ds, max_epochs=max_epochs, log=log)
    return out


def main(argv=None):
    import argparse

    from benchmarks.common import data_dir, emit_result, environment
    from toolkit.data import load_dataset

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--max-epochs", type=int, default=15)
    p.add_argument("--limit", type=int, default=None, help="train images for both parts")
    p.add_argument("--ratio-limit", type=int, default=None, help="train images for the per-epoch ratio part")
    p.add_argument("--no-time-to-accuracy", action="store_true")
    p.add_argument("--no-epoch-time", action="store_true")
    args = p.parse_args(argv)
    ds = load_dataset("mnist", data_dir=data_dir(args.data_dir), limit=args.limit, allow_download=False)
    result = benchmark(
        ds,
        rounds=args.rounds,
        max_epochs=args.max_epochs,
        ratio_limit=args.ratio_limit,
        time_to_accuracy_run=not args.no_time_to_accuracy,
        epoch_time_run=not args.no_epoch_time,
    )
    result["environment"] = environment()
    emit_result(result)


if __name__ == "__main__":
    main()
