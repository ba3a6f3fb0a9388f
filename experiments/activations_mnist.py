"""activations-mnist — the vanishing gradient of a deep sigmoid MLP and its remedies:
tanh and the ReLU family (slides 21–27).

Backprop multiplies the error signal by the weights and by f′ at every layer (slide 22); the
sigmoid's f′ is at most 0.25 (slide 23), so in a 10-hidden-layer sigmoid MLP the gradient
reaching the first layer is a tiny fraction of the last layer's. tanh (f′ ≤ 1, slide 24), ReLU
(f′ = 1 for positive inputs, slides 25–26) and leaky / parametric / randomized ReLU (slide 27)
keep it. Every activation gets the same network and the same initial weights (the seed is
reset before each build); per-layer gradient norms are measured on a fixed probe batch at
initialisation and after every epoch, then the net is trained and tested.

Run:     make activations-mnist      (QUICK=1: the quick form)
         python -m toolkit run activations-mnist --set activations=sigmoid,relu
Cost:    full ≈ 8 min on 2 idle CPU cores (6 activations × 5 epochs on 60,000 images, 10 × 256 units;
         ≈ 15 s of CPU time per epoch plus ≈ 7 s to trace each model); quick ≈ 31 s of CPU time
         (6,000 images, 3 epochs, 10 × 128 units; measured, seeds 0–2).
Expect:  at initialisation the sigmoid net's first/last hidden-layer gradient ratio is around
         1e-6 to 1e-5, ReLU's about 0.5: five orders of magnitude apart. The sigmoid net stays
         at chance (10 %) while tanh and the ReLU family learn (88–93 % in the quick form).
"""

import math

import numpy as np

from toolkit.activations import activation_label
from toolkit.claims import Claim
from toolkit.diagnostics import (
    ActivationStatsLogger,
    GradientNormLogger,
    activation_derivative,
    gradient_ratio,
    layer_gradient_norms,
)
from toolkit.errors import ToolkitError
from toolkit.mlp import build_mlp
from toolkit.plots import plot_history
from toolkit.plots.activations import plot_activations, plot_gradient_norms
from toolkit.plots.base import new_figure, save_figure
from toolkit.reports.names import count
from toolkit.resources import dense_stack_bytes, image_pixels
from toolkit.runs.experiment import experiment
from toolkit.runs.spec import Param, RunSpec, activation, at_least, whole

SAVED = ("relu", "prelu", "rrelu")  # the models written to the run folder (custom layers reload too)


SPEC = RunSpec(dataset="mnist", epochs=5, batch_size=128)
PARAMS = {
    "activations": Param(["sigmoid", "tanh", "relu", "leaky_relu", "prelu", "rrelu"], activation()),
    "hidden_units": Param([256] * 10, whole(1)),
    "learning_rate": Param(0.001, at_least(0)),
    "probe_size": Param(512, whole(1)),  # training images the gradient norms and statistics are measured on
}
RELU_FAMILY = ("relu", "leaky_relu", "prelu", "rrelu")


def check(config):
    if len(config["hidden_units"]) < 2:
        raise ToolkitError(
            f"hidden_units needs at least two layers for a first / last gradient ratio; "
            f"received {config['hidden_units']!r}"
        )


CLAIMS = (
    Claim(
        "sigmoid-vanishing-gradient",
        "21–23",
        "the sigmoid's derivative is at most 0.25, so the error signal vanishes through a deep sigmoid net",
        "max of sigmoid′ over [-10, 10] <= 0.25, and the sigmoid MLP's first / last hidden-layer gradient-norm "
        "ratio at initialisation is >= 100x smaller than the ReLU MLP's",
        measure=lambda m: {
            "max sigmoid′": m["sigmoid_derivative_max"],
            "sigmoid ratio": m["sigmoid"]["gradient_ratio_init"],
            "ReLU ratio": m["relu"]["gradient_ratio_init"],
        },
        holds=lambda v: v["max sigmoid′"] <= 0.25 + 1e-7 and v["sigmoid ratio"] * 100 <= v["ReLU ratio"],
    ),
    Claim(
        "relu-family-trains",
        "24–27",
        "after the same training every ReLU-family net beats the sigmoid net by a wide margin",
        "test accuracy of each of relu, leaky_relu, prelu, rrelu >= the sigmoid net's + 20 points",
        measure=lambda m: {
            "sigmoid accuracy (%)": 100 * m["sigmoid"]["test_accuracy"],
            **{f"{a} accuracy (%)": 100 * m[a]["test_accuracy"] for a in RELU_FAMILY},
        },
        holds=lambda v: all(v[f"{a} accuracy (%)"] >= v["sigmoid accuracy (%)"] + 20 for a in RELU_FAMILY),
    ),
)


QUICK = {"hidden_units": [128] * 10, "epochs": 3, "limit": 6000, "test_limit": 500, "probe_size": 256}
# the test suite's form (Experiment.smoke): the quick form on fewer images and epochs
SMOKE = {"epochs": 2, "limit": 1500, "test_limit": 300, "probe_size": 128}


def _probe(ds, size, seed):
    """A fixed batch of training images (the same for every activation)."""
    size = min(int(size), len(ds.x_train))
    idx = np.sort(np.random.default_rng(seed).permutation(len(ds.x_train))[:size])
    return ds.x_train[idx], ds.y_train[idx]


def _weight_layers(norms):
    """The Dense layers of a norms dict (a PReLU's slope layers left out), in model order."""
    return [k for k in norms if not k.startswith("act")]


def _unit_fraction(stats, label):
    """Mean over the activation layers of the saturated (sigmoid, tanh) or dead (ReLU family)
    fraction, and what it is; (nan, "-") when neither applies. A leaky / parametric /
    randomized ReLU unit that is negative on every probe image is not dead: it still passes
    its negative slope's gradient."""
    values = [e.get("saturated", e.get("dead")) for e in stats.values() if "saturated" in e or "dead" in e]
    if not values:
        return math.nan, "-"
    first = next(iter(stats.values()))
    kind = "saturated" if "saturated" in first else ("dead" if label == "relu" else "always negative")
    return float(np.mean(values)), kind


def _orders(a, b):
    return math.log10(b / a) if a > 0 and b > 0 and math.isfinite(a) and math.isfinite(b) else math.nan


def estimate(config):
    """Bytes to build and train: one MLP per activation (counted as if all were kept)."""
    widths = [image_pixels(config), *config["hidden_units"], 10]
    batch = max(config["batch_size"], config["probe_size"], 512)
    return dense_stack_bytes(widths, batch, copies=len(config["activations"]))


@experiment(
    name="activations-mnist",
    slides="21–27",
    order=5,
    title="Vanishing gradients: a 10-hidden-layer MLP with sigmoid, tanh and the ReLU family",
    summary=(
        "The error signal is multiplied by f′ at every layer on its way back (slide 22); the sigmoid's "
        "f′ ≤ 0.25 makes it vanish in a deep network (slide 23), tanh and the ReLU family keep it "
        "(slides 24–27). This run measures the per-layer gradient norms of the same deep MLP with each "
        "activation, at initialisation and during training, and the test accuracy each reaches."
    ),
    spec=SPEC,
    params=PARAMS,
    quick=QUICK,
    smoke=SMOKE,
    check=check,
    claims=CLAIMS,
    estimate=estimate,
)
def run(config, run):
    import keras

    ds = run.data()
    x_train, y_train, x_test, y_test = ds.x_train, ds.y_train, ds.x_test, ds.y_test
    x_probe, y_probe = _probe(ds, config["probe_size"], config["seed"])
    units = config["hidden_units"]
    depth = len(units)
    grid = np.linspace(-10, 10, 2001, dtype="float32")
    run.metric("sigmoid_derivative_max", float(np.max(activation_derivative("sigmoid", grid))))
    results = {}  # label -> dict
    for spec in config["activations"]:
        label = activation_label(spec)
        keras.utils.set_random_seed(int(config["seed"]))  # the same initial weights for every activation
        model = build_mlp(
            ds.image_shape, hidden_units=units, activation=spec, num_classes=ds.num_classes, name=f"mlp_{label}"
        )
        model.compile(
            optimizer=keras.optimizers.Adam(config["learning_rate"]),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        init_norms = layer_gradient_norms(model, x_probe, y_probe)
        grad_logger = GradientNormLogger(x_probe, y_probe)
        stats_logger = ActivationStatsLogger(x_probe)
        # the loggers' records are saved with the run's checkpoints: a resumed run has them too
        history = run.fit(
            model,
            x_train,
            y_train,
            label=f"mlp-{label}",
            validation_data=(x_test, y_test),
            callbacks=[grad_logger, stats_logger],
        ).history
        grad_records, stats_records = grad_logger.records, stats_logger.records
        _, test_acc = model.evaluate(x_test, y_test, batch_size=512, verbose=0)
        init_frac, kind = _unit_fraction(stats_records[0]["layers"], label) if stats_records else (math.nan, "-")
        end_frac, _ = _unit_fraction(stats_records[-1]["layers"], label) if stats_records else (math.nan, "-")
        results[label] = {
            "init_norms": init_norms,
            "ratio_init": gradient_ratio(init_norms),
            "ratio_end": grad_records[-1]["ratio"] if grad_records else math.nan,
            "by_epoch": {f"epoch {r['epoch']}": r["norms"] for r in grad_records},
            "ratios": [(r["epoch"], r["ratio"]) for r in grad_records],
            "test_acc": float(test_acc),
            "history": history,
            "frac_init": init_frac,
            "frac_end": end_frac,
            "frac_kind": kind,
        }
        run.metric(f"{label}.gradient_ratio_init", results[label]["ratio_init"])
        run.metric(f"{label}.gradient_ratio_end", results[label]["ratio_end"])
        run.metric(f"{label}.test_accuracy", float(test_acc))
        run.metric(f"{label}.{kind.replace(' ', '_')}_fraction_end", end_frac)
        if label in SAVED:
            run.save_model(model, f"mlp_{label}")

    labels = list(results)
    epochs = config["epochs"]
    run.table(
        f"First / last hidden-layer gradient norm (dense1 / dense{depth}) and test accuracy, "
        f"{depth} hidden layers of {units[0]}{'' if len(set(units)) == 1 else '…'} units "
        f"(probe batch of {len(x_probe)} training images)",
        [
            "activation",
            "ratio at init",
            f"ratio after {epochs} epochs",
            "test accuracy",
            "saturated / dead units at init",
            "… after training",
        ],
        [
            [
                lab,
                r["ratio_init"],
                r["ratio_end"],
                r["test_acc"],
                "-" if r["frac_kind"] == "-" else f"{r['frac_init']:.1%} {r['frac_kind']}",
                "-" if r["frac_kind"] == "-" else f"{r['frac_end']:.1%} {r['frac_kind']}",
            ]
            for lab, r in results.items()
        ],
    )
    layers = _weight_layers(results[labels[0]]["init_norms"])
    run.table(
        "Gradient norm per layer at initialisation (kernel and bias together; rows input → output)",
        ["layer", *labels],
        [[name, *[results[lab]["init_norms"].get(name, math.nan) for lab in labels]] for name in layers],
    )

    plot_activations(
        config["activations"],
        run.figure(
            "activations.png",
            "Each activation (solid) and its derivative (dashed): the sigmoid's f′ peaks at "
            "0.25 (slide 23), tanh's and the ReLU family's at 1 (slides 24–27)",
        ),
    )
    plot_gradient_norms(
        {lab: {k: v for k, v in r["init_norms"].items() if k in layers} for lab, r in results.items()},
        run.figure(
            "grad_norms_init.png",
            "Gradient norm per layer at initialisation, one line per activation (log scale; slides 22–23)",
        ),
        title=f"gradient norm per layer at initialisation ({depth} hidden layers)",
    )
    shown = [lab for lab in ("sigmoid", "relu") if lab in results] or labels[:1]
    for lab in shown:
        by_epoch = {e: {k: v for k, v in norms.items() if k in layers} for e, norms in results[lab]["by_epoch"].items()}
        if by_epoch:
            plot_gradient_norms(
                by_epoch,
                run.figure(
                    f"grad_norms_epochs_{lab}.png",
                    f"The {lab} network's gradient norm per layer at initialisation (epoch 0) and after each epoch",
                ),
                title=f"{lab}: gradient norm per layer, by epoch",
            )
    fig, axes = new_figure(width=5.0)
    ax = axes[0, 0]
    for i, (lab, r) in enumerate(results.items()):
        pts = [(e, v) for e, v in r["ratios"] if v is not None and v > 0 and math.isfinite(v)]
        if pts:
            ax.plot([e for e, _ in pts], [v for _, v in pts], "o-", color=f"C{i % 10}", label=lab)
    ax.set_yscale("log")
    ax.set_xticks(range(0, epochs + 1, max(1, math.ceil(epochs / 10))))
    ax.set_xlabel("epoch (0 = initialisation)")
    ax.set_ylabel(f"dense1 / dense{depth} gradient norm")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    save_figure(
        fig,
        run.figure(
            "gradient_ratio.png",
            "First / last hidden-layer gradient-norm ratio during training (log scale; 1 = no vanishing)",
        ),
    )
    plot_history(
        {lab: r["history"] for lab, r in results.items()},
        run.figure("training.png", "Loss and accuracy per epoch for each activation (solid: training, dashed: test)"),
        metrics=("loss", "accuracy"),
    )

    # --- what this run measured
    by_ratio = sorted(labels, key=lambda lab: results[lab]["ratio_init"])
    low, high = by_ratio[0], by_ratio[-1]
    if "sigmoid" in results and "relu" in results:
        low, high = "sigmoid", "relu"
    rl, rh = results[low]["ratio_init"], results[high]["ratio_init"]
    run.observe(
        f"at initialisation the {low} net's first-layer gradient norm is {rl:.2g} times its last hidden "
        f"layer's; {high}'s ratio is {rh:.2g}: {_orders(rl, rh):.1f} orders of magnitude apart"
    )
    run.observe(
        "ratio at initialisation, smallest to largest: "
        + ", ".join(f"{lab} {results[lab]['ratio_init']:.2g}" for lab in by_ratio)
    )
    for lab in [x for x in (low, high) if results[x]["ratios"]]:
        r = results[lab]
        run.observe(
            f"after {count(epochs, 'epoch')} the {lab} net's ratio is {r['ratio_end']:.2g} "
            f"(from {r['ratio_init']:.2g} at initialisation, {r['ratio_end'] / r['ratio_init']:.3g}x)"
        )
    by_acc = sorted(labels, key=lambda lab: results[lab]["test_acc"])
    best, worst = by_acc[-1], by_acc[0]
    run.observe(
        f"after {count(epochs, 'epoch')} the best test accuracy is {best}'s {results[best]['test_acc']:.1%}, the "
        f"worst {worst}'s {results[worst]['test_acc']:.1%}"
    )
    for lab in labels:
        r = results[lab]
        if r["frac_kind"] == "saturated" and r["frac_end"] == r["frac_end"]:
            run.observe(
                f"{lab}: {r['frac_init']:.1%} of the hidden outputs on the probe batch are saturated at "
                f"initialisation, {r['frac_end']:.1%} after training"
            )
    if "relu" in results and results["relu"]["frac_kind"] == "dead":
        r = results["relu"]
        run.observe(
            f"relu: {r['frac_init']:.1%} of the hidden units are dead (zero on every probe image) at "
            f"initialisation, {r['frac_end']:.1%} after training"
        )

    key = {}
    for lab in ("sigmoid", "relu"):
        if lab in results:
            key[f"ratio_{lab}"] = results[lab]["ratio_init"]
    for lab in ("sigmoid", "relu"):
        if lab in results:
            key[f"test_acc_{lab}"] = results[lab]["test_acc"]
    if not key:
        key = {f"ratio_{low}": rl, f"test_acc_{best}": results[best]["test_acc"]}
    run.key_metrics(**key)
