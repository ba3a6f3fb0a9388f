"""zoo-cifar10 — LeNet-5, AlexNet, VGG, GoogLeNet and ResNet side by side on CIFAR-10
(slide 56).

The CNN idea predates deep learning; its DNN-era successors (slide 56) grew deeper and
wider: AlexNet (2012), VGG (2014), GoogLeNet's Inception modules (2014), ResNet's shortcut
connections (2015). Each runs here in its small CIFAR form from :mod:`toolkit.models`, all
with the same data, optimizer, batch size and number of epochs, and the run reports their
parameters, training seconds per epoch (the first epoch's tracing/compilation reported
apart), test accuracy and best epoch.

Run:     make zoo-cifar10            (QUICK=1: the quick form)
         python -m toolkit run zoo-cifar10 --set models=lenet5,resnet20 --set limit=none --set epochs=10
         python -m toolkit run zoo-cifar10 --device gpu --backend jax --set limit=none --set test_limit=none \\
             --set 'models=["lenet5","alexnet","vgg11","vgg16","googlenet","resnet20","resnet56","resnet9"]' \\
             --set epochs=30 --set mixed_precision=true           (the full-size run, on a GPU)
Cost:    CPU-sized. Quick ≈ 160 s of CPU time (LeNet-5, AlexNet, ResNet-20; 1,500 training and
         500 test images, 5 epochs, batch 32; measured). Full ≈ 1,500 s of CPU time, 14–16 min
         on 2 idle cores (LeNet-5, AlexNet, ResNet-20, ResNet-56 on 5,000 / 2,000 images, 8
         epochs; estimated from measured per-image costs: LeNet-5 ≈ 0.5 ms, ResNet-20 ≈ 5.6 ms,
         AlexNet ≈ 13.7 ms per training image per epoch on one core).
Expect:  with the same images, epochs and one-cycle Adam, ResNet-20 ends 6–12 points above
         LeNet-5 in the quick form (seeds 0–2); AlexNet (no batch normalisation, dropout 0.5)
         often has not started learning within the budget and stays near chance — the report
         says so when it happens. Absolute accuracies need the GPU run (He et al. 2016 report
         91.25 % for ResNet-20 after 164 epochs on all the data; not measured here).
"""

import math
import time

import keras
import numpy as np

from experiments._recipes import check_schedule, learning_rate, schedule_params
from toolkit.claims import Claim
from toolkit.errors import ToolkitError
from toolkit.optimizers import make_optimizer
from toolkit.plots import plot_history
from toolkit.plots.base import new_figure, save_figure
from toolkit.reports.names import count
from toolkit.runs.experiment import experiment
from toolkit.runs.spec import Param, RunSpec, at_least, choice, fraction

ZOO = ["lenet5", "alexnet", "vgg11", "vgg16", "googlenet", "resnet20", "resnet56", "resnet9"]


def _models_check(key, value):
    from toolkit.models import list_models

    if not isinstance(value, list) or not value:
        raise ToolkitError(f"models must name at least one model of {', '.join(list_models())}; received {value!r}")
    choice(list_models, kind="model")(key, value)


# The CPU form: the four models of the claim on a 5,000-image subset, 8 epochs of small batches
# with a one-cycle rate, so even the deepest gets ~1,250 steps (with 20–60 steps, as before, a
# batch-normalised ResNet had learned nothing). All eight on all 50,000 images is the GPU run.
SPEC = RunSpec(dataset="cifar10", epochs=8, batch_size=32, limit=5000, test_limit=2000)
PARAMS = {
    "models": Param(["lenet5", "alexnet", "resnet20", "resnet56"], _models_check),  # list(ZOO): all eight
    "optimizer": Param("adam", choice(("adam", "adamw", "sgd"), kind="optimizer")),
    "momentum": Param(0.9, fraction()),  # sgd only
    "weight_decay": Param(0.0, at_least(0)),  # adamw and sgd
    **schedule_params(0.002),
}
MARGIN = 3.0  # points by which the residual net must win
RESNETS = ("resnet20", "resnet56", "resnet9")


def _measure(m):
    ran = [n for n in RESNETS if n in m]
    best = max(ran, key=lambda n: m[n]["test_acc"])
    return {
        f"{best} (%)": 100 * m[best]["test_acc"],
        "lenet5 (%)": 100 * m["lenet5"]["test_acc"],
        "alexnet (%)": 100 * m["alexnet"]["test_acc"],
    }


CLAIMS = (
    Claim(
        "resnet-beats-classics",
        "56",
        "at an equal training budget a residual network beats LeNet-5 and AlexNet on CIFAR-10",
        f"same images, epochs, optimizer, schedule and batch size: the best ResNet's test accuracy >= LeNet-5's "
        f"and AlexNet's + {MARGIN:g} points",
        measure=_measure,
        holds=lambda v: next(iter(v.values())) >= max(v["lenet5 (%)"], v["alexnet (%)"]) + MARGIN,
    ),
)


QUICK = {"models": ["lenet5", "alexnet", "resnet20"], "epochs": 5, "limit": 1500, "test_limit": 500}
# the test suite's form (Experiment.smoke): the quick form on fewer images and epochs
SMOKE = {"epochs": 2, "limit": 400, "test_limit": 200}


class EpochTimer(keras.callbacks.Callback):
    """Per-epoch training and test seconds, with the first step (tracing and compiling the
    train step) timed apart. Stateful: the run saves ``records`` with its checkpoints, so a
    resumed run has the timings of the epochs it skipped.

    ``train``: seconds of each epoch's training steps; for the first epoch the first step is
    left out and the rest scaled to a whole epoch (``steps / (steps - 1)``). ``test``:
    seconds of each epoch's validation pass (the first includes compiling the test step).
    ``first_step``: seconds of the very first step.
    """

    def __init__(self):
        super().__init__()
        self.records = {"train": [], "test": [], "first_step": None, "steps": 0}

    def get_state(self):
        return self.records

    def set_state(self, state):
        self.records = dict(state)

    def on_epoch_begin(self, epoch, logs=None):
        self._begin = time.perf_counter()
        self._train_end = None
        self._steps = 0

    def on_train_batch_end(self, batch, logs=None):
        self._steps += 1
        if self.records["first_step"] is None:
            float((logs or {}).get("loss", 0.0))  # wait for the step's result
            self.records["first_step"] = time.perf_counter() - self._begin
            self._after_first = time.perf_counter()

    def on_test_begin(self, logs=None):
        if getattr(self, "_begin", None) is not None and self._train_end is None:
            self._train_end = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        now = time.perf_counter()
        end = self._train_end or now
        if not self.records["train"]:  # the first epoch: leave the first step out
            steps = self._steps
            seconds = (end - self._after_first) * steps / (steps - 1) if steps > 1 else end - self._begin
        else:
            seconds = end - self._begin
        self.records["train"].append(seconds)
        self.records["test"].append(now - end if self._train_end else 0.0)
        self.records["steps"] = self._steps


def _finite(values):
    return [v for v in values if v is not None and math.isfinite(v)]


@experiment(
    name="zoo-cifar10",
    slides="56",
    order=9,
    title="The CNN zoo on CIFAR-10, side by side",
    summary=(
        "After LeNet came AlexNet, VGG, GoogLeNet and ResNet (slide 56): deeper, wider, with Inception "
        "modules and shortcut connections. This run trains small CIFAR-sized versions of the models named "
        "in its config the same way and compares their parameters, training time per epoch and test "
        "accuracy."
    ),
    spec=SPEC,
    check=check_schedule,
    params=PARAMS,
    quick=QUICK,
    smoke=SMOKE,
    claims=CLAIMS,
)
def run(config, run):
    from toolkit.models import build_model

    names = list(config["models"])
    ds = run.data()
    x_train, y_train, x_test, y_test = ds.x_train, ds.y_train, ds.x_test, ds.y_test
    results = {}
    for name in names:
        keras.utils.set_random_seed(int(config["seed"]))
        model = build_model(name, ds.image_shape, ds.num_classes)
        model.compile(
            optimizer=make_optimizer(
                config["optimizer"], learning_rate(config, len(x_train)), config["momentum"], config["weight_decay"]
            ),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        timer = EpochTimer()
        history = run.fit(
            model, x_train, y_train, label=name, validation_data=(x_test, y_test), callbacks=[timer]
        ).history
        timing = timer.records
        val = history.get("val_accuracy", [])
        test_acc = val[-1]  # the last epoch's pass over the test set
        best = int(np.argmax(val)) + 1 if val else 0
        train_s = _finite(timing["train"])
        r = {
            "params": model.count_params(),
            "test_acc": float(test_acc),
            "history": history,
            "best_epoch": best,
            "best_acc": float(max(val)) if val else float(test_acc),
            "train_s": float(np.mean(train_s)) if train_s else float("nan"),
            "test_s": float(timing["test"][-1]) if timing["test"] else float("nan"),
            "first_step_s": timing["first_step"] if timing["first_step"] is not None else float("nan"),
            "train_acc": float(history["accuracy"][-1]),
        }
        results[name] = r
        for key in ("params", "test_acc", "best_epoch", "train_s", "test_s", "first_step_s"):
            run.metric(f"{name}.{key}", r[key])

    n_train, n_test, epochs = len(x_train), len(x_test), config["epochs"]
    full = n_train >= 50000 and n_test >= 10000
    if not full:
        run.note(
            f"a CPU-sized run: {n_train:,} training and {n_test:,} test images, {count(epochs, 'epoch')}; the "
            "accuracies compare how fast the models start to learn, not what they reach. The full-size run "
            "(all 50,000 training and 10,000 test images) is for a GPU: python -m toolkit run zoo-cifar10 "
            "--device gpu --backend jax --set limit=none --set test_limit=none --set epochs=30 "
            "--set mixed_precision=true"
        )
    run.note("seconds are wall-clock on this machine (see env.json); on a shared machine they vary with its load")

    run.table(
        f"The zoo on CIFAR-10 ({', '.join(names)}): {n_train:,} training and {n_test:,} test images, "
        f"{count(epochs, 'epoch')}, {config['optimizer']} (peak learning rate {config['learning_rate']:g}, "
        f"{config['schedule']}), batch {config['batch_size']}",
        [
            "model",
            "parameters",
            "training s / epoch",
            "test pass s (last epoch)",
            "1st step s (tracing + compiling)",
            "training accuracy (last epoch)",
            "test accuracy",
            "best epoch",
            "best-epoch test accuracy",
        ],
        [
            [
                name,
                r["params"],
                r["train_s"],
                r["test_s"],
                r["first_step_s"],
                r["train_acc"],
                r["test_acc"],
                r["best_epoch"],
                r["best_acc"],
            ]
            for name, r in results.items()
        ],
    )

    plot_history(
        {name: r["history"] for name, r in results.items()},
        run.figure("training.png", "Loss and accuracy per epoch for each model (solid: training, dashed: test)"),
        metrics=("loss", "accuracy"),
    )
    fig, axes = new_figure(width=5.0)
    ax = axes[0, 0]
    for i, (name, r) in enumerate(results.items()):
        ax.scatter(r["params"], r["test_acc"], color=f"C{i % 10}", s=40)
        ax.annotate(name, (r["params"], r["test_acc"]), textcoords="offset points", xytext=(5, 3), fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("parameters (log scale)")
    ax.set_ylabel("test accuracy")
    ax.grid(alpha=0.3, which="both")
    save_figure(
        fig,
        run.figure(
            "accuracy_vs_parameters.png",
            f"Test accuracy after {count(epochs, 'epoch')} against the number of parameters",
        ),
    )
    fig, axes = new_figure(width=max(4.0, 0.8 * len(results) + 1.5))
    ax = axes[0, 0]
    labels = list(results)
    ax.bar(labels, [results[n]["train_s"] for n in labels], color=[f"C{i % 10}" for i in range(len(labels))])
    for i, n in enumerate(labels):
        ax.text(i, results[n]["train_s"], f"{results[n]['train_s']:.1f}", ha="center", va="bottom", fontsize=7)
    ax.set_ylabel("training s / epoch")
    ax.set_title(f"{n_train:,} training images per epoch", fontsize=9)
    ax.tick_params(axis="x", rotation=45)
    ax.grid(alpha=0.3, axis="y")
    save_figure(
        fig,
        run.figure(
            "time_per_epoch.png", "Training seconds per epoch (the first step's tracing and compiling left out)"
        ),
    )

    # --- what this run measured
    by_params = sorted(labels, key=lambda n: results[n]["params"])
    small, big = by_params[0], by_params[-1]
    run.observe(
        f"parameters range from {small}'s {results[small]['params']:,} to {big}'s "
        f"{results[big]['params']:,} ({results[big]['params'] / results[small]['params']:.0f}x)"
    )
    timed = [n for n in labels if math.isfinite(results[n]["train_s"])]
    if timed:
        fast, slow = min(timed, key=lambda n: results[n]["train_s"]), max(timed, key=lambda n: results[n]["train_s"])
        run.observe(
            f"training time per epoch ranges from {fast}'s {results[fast]['train_s']:.1f} s to {slow}'s "
            f"{results[slow]['train_s']:.1f} s ({results[slow]['train_s'] / results[fast]['train_s']:.0f}x) "
            f"on {n_train:,} images"
        )
    by_acc = sorted(labels, key=lambda n: results[n]["test_acc"], reverse=True)
    chance = 1.0 / ds.num_classes
    stuck = [n for n in labels if results[n]["test_acc"] < chance + 0.02]
    if stuck:
        run.observe(
            f"{', '.join(stuck)} stayed within 2 points of chance ({chance:.0%}): not started learning within "
            f"{count(epochs, 'epoch')} of {n_train:,} images at this learning rate, not a broken model"
        )
    run.observe(
        f"test accuracy after {count(epochs, 'epoch')}, best to worst: "
        + ", ".join(f"{n} {results[n]['test_acc']:.1%}" for n in by_acc)
    )
    if len(labels) >= 5:  # a correlation over fewer models says nothing
        p = np.log([results[n]["params"] for n in labels])
        a = np.array([results[n]["test_acc"] for n in labels])
        corr = float(np.corrcoef(p, a)[0, 1]) if p.std() > 0 and a.std() > 0 else float("nan")
        run.observe(f"correlation of test accuracy with log(parameters) across the {len(labels)} models: {corr:+.2f}")
    for a_name, b_name in (("resnet20", "resnet56"), ("vgg11", "vgg16")):
        if a_name in results and b_name in results:
            ra, rb = results[a_name], results[b_name]
            run.observe(
                f"{b_name} has {rb['params'] / ra['params']:.1f}x {a_name}'s parameters, takes "
                f"{rb['train_s'] / ra['train_s']:.1f}x its time per epoch and scored {rb['test_acc']:.1%} "
                f"against {ra['test_acc']:.1%}"
            )
    run.key_metrics(
        **{f"test_acc_{n}": results[n]["test_acc"] for n in by_acc[:2]},
        **({f"s_per_epoch_{slow}": results[slow]["train_s"]} if timed else {}),
    )
