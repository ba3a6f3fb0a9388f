"""augment-cifar10 — what data augmentation buys a CNN on CIFAR-10 (slide 55).

A CNN's convolutions and pooling make it tolerate small shifts, but nothing in it knows
about rotation, scale or occlusion; the remedy (slide 55) is to train on images rotated by a
few degrees, zoomed in and out, flipped, moved and partly hidden. The same CNN is trained
twice from the same initial weights, the same number of epochs: once on the images as they
are, once with an augmentation pipeline (:func:`toolkit.cnn.augmentation`, built from the
config) between the rescaling and the first convolution, active only in training. Both are
then tested on the test images as they are, and on test images shifted by 1–4 pixels and
rotated by 5–30 degrees (:func:`toolkit.filters.invariance_curve`).

Run:     make augment-cifar10            (QUICK=1: the quick form)
         python -m toolkit run augment-cifar10 --set rotation=30 --set erasing=0.3
         python -m toolkit run augment-cifar10 --set model=resnet20     (any zoo model by name)
         python -m toolkit run augment-cifar10 --device gpu --backend jax --set limit=none
Regime:  augmentation pays where the plain net overfits (slide 55's remedy is for that):
         scarce data, long training, no dropout, a mild pipeline (flip, 2-px shifts, ±15°).
Cost:    quick ≈ 130 s of CPU time (2,000 training / 1,000 test images, 30 epochs, a 16-32-64
         CNN; measured); full ≈ 1,400 s of CPU time, 12–14 min on 2 idle cores (10,000 images,
         40 epochs, 32-64-128; estimated from measured epochs, not yet run end to end).
Expect:  without augmentation the net reaches 100 % training accuracy and its test accuracy
         stalls; with it, training accuracy stays lower and test accuracy ends higher, by
         4–7 points clean and 11–23 points on images rotated 10–15° in the quick form (seeds
         0–2). The claim's verdict in claims.json says what this run measured.
"""

import time

import numpy as np

from experiments._recipes import check_schedule, learning_rate, schedule_params
from toolkit.claims import Claim
from toolkit.cnn import augmentation, build_cnn
from toolkit.errors import ToolkitError
from toolkit.filters import invariance_curve, rotate_images, shift_images
from toolkit.models import list_models
from toolkit.optimizers import make_optimizer
from toolkit.plots import plot_history
from toolkit.plots.base import new_figure, save_figure
from toolkit.plots.cnn import plot_augmented_samples, plot_confusion_matrix
from toolkit.reports.names import count
from toolkit.runs.experiment import experiment
from toolkit.runs.spec import Param, RunSpec, between, choice, fraction, whole

CNN = "cnn"  # the config's default model: the block CNN below; any other name comes from the zoo
AUGMENT_KEYS = ("rotation", "zoom", "flip", "translation", "crop_pad", "shear", "elastic", "erasing", "contrast")


# Augmentation pays where the plain network overfits: scarce data (10,000 images, 2,000 in the
# quick form), long training (40 / 30 epochs), no other regulariser (dropout 0) and a mild
# pipeline (flip, 2-pixel shifts, ±15°). With everything at once (zoom, erasing, contrast) or
# a few epochs on all 50,000 images the augmented net only underfits and loses (measured:
# 68.5 % → 60.1 % after 6 epochs on 50,000 images).
SPEC = RunSpec(dataset="cifar10", epochs=40, batch_size=64, limit=10000)
PARAMS = {
    # "cnn" (filters/convs/dropout below) or a zoo model's name
    "model": Param(CNN, choice(lambda: [CNN, *list_models()], kind="model")),
    "filters": Param([32, 64, 128], whole(1, 4096)),  # one 3x3 conv block (BN, ReLU, 2x2 max pool) per entry
    "convs": Param(1, whole(1, 8)),  # convolutions per block
    "dense": Param(128, whole(0, 1 << 16)),  # the hidden fully connected layer after flattening (0 = none)
    "dropout": Param(0.0, fraction()),  # no other regulariser: what augmentation adds is measured alone
    # the augmentation pipeline (slide 55), in toolkit.cnn.augmentation's terms
    "rotation": Param(15.0, between(0, 180)),  # degrees, drawn in [-15, 15]
    "zoom": Param(0.0, fraction()),  # off: see above
    "flip": Param("horizontal", choice(("none", "horizontal", "vertical", "horizontal_and_vertical"), kind="flip")),
    "translation": Param(0.0, fraction()),  # fraction of the size (RandomTranslation); crop_pad shifts too
    "crop_pad": Param(2, whole(0, 16)),  # pad 2 pixels, crop back at random: shifts of up to 2 pixels
    "shear": Param(0.0, fraction()),
    "elastic": Param(0.0, between(0, 1)),  # the largest magnitude of an elastic distortion
    "erasing": Param(0.0, fraction()),  # probability of cutting a random rectangle out of an image
    "contrast": Param(0.0, fraction()),
    # the test distortions
    "shifts": Param([0, 1, 2, 3, 4], whole(0, 16)),  # pixels (each the mean over right, left, down, up)
    "rotations": Param([0, 5, 10, 15, 20, 30], between(0, 180)),  # degrees (mean over both directions)
    "invariance_limit": Param(2000, whole(1), nullable=True),  # test images for the curves (None: all)
    **schedule_params(0.002),  # Adam, one cycle: the last epoch is a settled one
}
CLEAN_MARGIN, ROTATED_MARGIN = 2.0, 5.0  # points by which augmentation must win


def _in_range(m):
    """The largest tested rotation inside the trained range (and > 0)."""
    trained = m["trained_rotation"]
    angles = [float(a) for a in m["plain"]["rotation_accuracy"] if 0 < float(a) <= trained]
    return max(angles)


def _measure(m):
    angle = _in_range(m)
    key = next(k for k in m["plain"]["rotation_accuracy"] if float(k) == angle)
    return {
        "clean, without augmentation (%)": 100 * m["plain"]["test_accuracy"],
        "clean, with augmentation (%)": 100 * m["augmented"]["test_accuracy"],
        "rotation (°)": angle,
        "rotated, without augmentation (%)": 100 * m["plain"]["rotation_accuracy"][key],
        "rotated, with augmentation (%)": 100 * m["augmented"]["rotation_accuracy"][key],
    }


CLAIMS = (
    Claim(
        "augmentation-pays",
        "55",
        "augmentation raises clean test accuracy over the same CNN trained without it (same data and epochs), "
        "and raises accuracy on test images rotated within the trained range",
        f"with augmentation: clean test accuracy >= without + {CLEAN_MARGIN:g} points, and accuracy at the largest "
        f"tested rotation inside the trained range >= without + {ROTATED_MARGIN:g} points",
        measure=_measure,
        holds=lambda v: (
            v["clean, with augmentation (%)"] >= v["clean, without augmentation (%)"] + CLEAN_MARGIN
            and v["rotated, with augmentation (%)"] >= v["rotated, without augmentation (%)"] + ROTATED_MARGIN
        ),
    ),
)


QUICK = {  # the same regime, smaller: 2,000 images, 30 epochs, a 90 k-parameter CNN
    "limit": 2000,
    "test_limit": 1000,
    "invariance_limit": 1000,
    "epochs": 30,
    "batch_size": 32,
    "filters": [16, 32, 64],
    "dense": 64,
    "shifts": [0, 2, 4],
    "rotations": [0, 10, 15, 30],
}
# the test suite's form (Experiment.smoke): the quick form on fewer images and epochs
SMOKE = {"epochs": 3, "limit": 400, "test_limit": 200, "invariance_limit": 100}


def augment_params(config):
    """The :func:`toolkit.cnn.augmentation` keyword arguments of ``config`` (``flip="none"``
    means no flip)."""
    params = {key: config[key] for key in AUGMENT_KEYS}
    if isinstance(params["flip"], str) and params["flip"].strip().lower() in ("", "none", "null", "false"):
        params["flip"] = None
    return params


def build_classifier(config, input_shape, num_classes, augment=None, name="cnn"):
    """The config's model (``model``: ``"cnn"`` or a zoo name) with the ``augment`` pipeline."""
    from toolkit.models import build_model

    if config["model"] != CNN:
        return build_model(config["model"], input_shape, num_classes, augment=augment, name=name)
    filters = config["filters"]
    blocks = [{"filters": f, "convs": int(config["convs"]), "batch_norm": True, "pool": "max"} for f in filters]
    dense = int(config["dense"])
    return build_cnn(
        input_shape,
        blocks,
        head="flatten",
        dense_units=(dense,) if dense else (),
        dropout=float(config["dropout"]),
        num_classes=num_classes,
        augment=augment,
        name=name,
    )


def _steady(seconds):
    """Mean seconds per epoch after the first (which includes tracing); the first alone if
    there is only one."""
    return float(np.mean(seconds[1:])) if len(seconds) > 1 else (float(seconds[0]) if seconds else float("nan"))


def _pick(amounts, target):
    """The largest amount <= ``target`` (else the largest)."""
    below = [a for a in amounts if a <= target]
    return max(below) if below else max(amounts)


def _one_per_class(y, count):
    idx = []
    for c in range(int(y.max()) + 1):
        hits = np.flatnonzero(y == c)
        if len(hits):
            idx.append(int(hits[0]))
        if len(idx) == count:
            break
    return idx


def check(config):
    check_schedule(config)
    if not config["filters"]:
        raise ToolkitError(f"filters must be a non-empty list of positive ints; received {config['filters']!r}")
    if not config["shifts"] or not config["rotations"]:
        raise ToolkitError(
            f"shifts must be pixels >= 0 and rotations degrees, both non-empty; received "
            f"shifts={config['shifts']!r}, rotations={config['rotations']!r}"
        )


@experiment(
    name="augment-cifar10",
    slides="55",
    order=8,
    title="Data augmentation: a CNN on CIFAR-10 with and without it",
    summary=(
        "A CNN handles small shifts but not rotation (slide 55), so the training images are rotated by a few "
        "degrees, zoomed, flipped, moved and partly erased. This run trains the same CNN without and with "
        "such an augmentation pipeline and measures test accuracy, and accuracy on test images shifted by a "
        "few pixels and rotated by a few degrees."
    ),
    spec=SPEC,
    params=PARAMS,
    quick=QUICK,
    smoke=SMOKE,
    check=check,
    claims=CLAIMS,
)
def run(config, run):
    import keras

    ds = run.data()
    x_train, y_train, x_test, y_test = ds.x_train, ds.y_train, ds.x_test, ds.y_test
    n_inv = config["invariance_limit"]
    n_inv = len(x_test) if n_inv is None else min(int(n_inv), len(x_test))
    # CIFAR-10's test order is random, and a limited test set comes class-interleaved
    x_inv, y_inv = x_test[:n_inv], y_test[:n_inv]
    shifts = [int(s) for s in config["shifts"]]
    rotations = [float(r) for r in config["rotations"]]
    params = augment_params(config)
    seed = int(config["seed"])

    results = {}
    for tag in ("plain", "augmented"):
        pipeline = augmentation(**params, seed=seed) if tag == "augmented" else None
        keras.utils.set_random_seed(seed)  # the same initial weights for both
        model = build_classifier(
            config, ds.image_shape, ds.num_classes, augment=pipeline, name=f"{config['model']}_{tag}"
        )
        model.compile(
            optimizer=make_optimizer("adam", learning_rate(config, len(x_train))),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        label = f"{config['model']}-{tag}"
        history = run.fit(model, x_train, y_train, label=label, validation_data=(x_test, y_test)).history
        start = time.perf_counter()
        scores = np.asarray(model.predict(x_test, batch_size=512, verbose=0))
        test_seconds = time.perf_counter() - start
        pred = scores.argmax(axis=-1)
        test_acc = float(np.mean(pred == y_test))
        shift_curve = invariance_curve(model, x_inv, y_inv, kind="shift", amounts=shifts, batch_size=512)
        rot_curve = invariance_curve(model, x_inv, y_inv, kind="rotate", amounts=rotations, batch_size=512)
        seconds = run.epoch_seconds(label)
        results[tag] = {
            "model": model,
            "history": history,
            "pred": pred,
            "test_acc": test_acc,
            "train_acc": float(history["accuracy"][-1]),
            "shift": shift_curve,
            "rotate": rot_curve,
            "params": model.count_params(),
            "epoch_s": _steady(seconds),
            "first_s": seconds[0] if seconds else float("nan"),
            "test_s": test_seconds,
        }
        run.metric(f"{tag}.test_accuracy", test_acc)
        run.metric(f"{tag}.train_accuracy_last_epoch", results[tag]["train_acc"])
        run.metric(f"{tag}.shift_accuracy", {str(k): v for k, v in shift_curve.items()})
        run.metric(f"{tag}.rotation_accuracy", {str(k): v for k, v in rot_curve.items()})
        run.metric(f"{tag}.seconds_per_epoch", results[tag]["epoch_s"])
        run.save_model(model, f"{config['model']}_{tag}")

    run.metric("trained_rotation", float(params["rotation"] or 0.0))
    plain, aug = results["plain"], results["augmented"]
    pipeline = aug["model"].get_layer("augment")
    steps = ", ".join(f"{k}={v}" for k, v in params.items() if v) or "nothing"
    epochs = config["epochs"]

    # --- tables
    run.table(
        f"Test accuracy after {count(epochs, 'epoch')} ({len(x_train):,} training, {len(x_test):,} test images; "
        f"augmentation: {steps})",
        [
            "model",
            "parameters",
            "test accuracy",
            "training accuracy (last epoch)",
            "train - test",
            f"shifted {max(shifts)} px",
            f"rotated {max(rotations):g}°",
            "s / epoch (after the 1st)",
            "1st epoch s (with tracing)",
        ],
        [
            [
                f"{config['model']}, {tag}",
                r["params"],
                r["test_acc"],
                r["train_acc"],
                r["train_acc"] - r["test_acc"],
                r["shift"][max(shifts)],
                r["rotate"][max(rotations)],
                r["epoch_s"],
                r["first_s"],
            ]
            for tag, r in results.items()
        ],
    )
    run.table(
        f"Accuracy on shifted test images (pixels; mean over the four directions; {n_inv:,} test images)",
        ["shift (px)", "without augmentation", "with augmentation", "difference"],
        [[s, plain["shift"][s], aug["shift"][s], aug["shift"][s] - plain["shift"][s]] for s in shifts],
    )
    run.table(
        f"Accuracy on rotated test images (degrees; mean over both directions; {n_inv:,} test images)",
        ["rotation (°)", "without augmentation", "with augmentation", "difference"],
        [[f"{r:g}", plain["rotate"][r], aug["rotate"][r], aug["rotate"][r] - plain["rotate"][r]] for r in rotations],
    )

    # --- figures
    idx = _one_per_class(y_test, 6)
    plot_augmented_samples(
        pipeline,
        x_test[idx],
        run.figure(
            "augmented_samples.png",
            f"Test images (left) and six draws of the training pipeline each ({steps}); slide 55",
        ),
        n_variants=6,
        seed=seed,
    )
    sample = x_test[idx[:1]]  # a batch of one: a 3-D array would be read as (N, H, W)
    rows = [
        [(f"shifted {s} px", shift_images(sample, s, 0)[0]) for s in shifts],
        [(f"rotated {r:g}°", rotate_images(sample, r)[0]) for r in rotations],
    ]
    ncols = max(len(shifts), len(rotations))
    fig, axes = new_figure(ncols=ncols, nrows=2, width=1.4, height=1.5)
    for row, panels in zip(axes, rows):
        for ax in row:
            ax.axis("off")
        for ax, (title, image) in zip(row, panels):
            ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray", interpolation="nearest")
            ax.set_title(title, fontsize=7)
    save_figure(
        fig,
        run.figure(
            "test_distortions.png",
            "The test distortions measured: one test image shifted right "
            "by each amount (top), rotated by each angle (bottom)",
        ),
    )
    fig, axes = new_figure(ncols=2, width=4.5)
    for ax, kind, unit in ((axes[0, 0], "shift", "shift (pixels)"), (axes[0, 1], "rotate", "rotation (degrees)")):
        for i, (tag, r) in enumerate(results.items()):
            curve = r[kind]
            ax.plot(
                list(curve),
                list(curve.values()),
                "o-",
                color=f"C{i}",
                label="without augmentation" if tag == "plain" else "with augmentation",
            )
        if kind == "rotate" and params["rotation"]:
            ax.axvline(params["rotation"], color="gray", linestyle=":", label=f"trained up to {params['rotation']:g}°")
        ax.set_xlabel(unit)
        ax.set_ylabel("test accuracy")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    save_figure(
        fig,
        run.figure(
            "invariance.png",
            "Test accuracy against shift and rotation of the test images, "
            "with and without augmentation (slides 42, 55)",
        ),
    )
    plot_history(
        {"without augmentation": plain["history"], "with augmentation": aug["history"]},
        run.figure("training.png", "Loss and accuracy per epoch (solid: training, dashed: test)"),
        metrics=("loss", "accuracy"),
    )
    plot_confusion_matrix(
        y_test,
        aug["pred"],
        ds.class_names,
        run.figure(
            "confusion_augmented.png", "Confusion matrix of the augmented model on the test set (rows: true class)"
        ),
    )

    # --- what this run measured
    delta = aug["test_acc"] - plain["test_acc"]
    verb = "raised" if delta > 0 else "lowered" if delta < 0 else "did not change"
    run.observe(
        f"augmentation {verb} test accuracy from {plain['test_acc']:.1%} to {aug['test_acc']:.1%} "
        f"({delta * 100:+.1f} points) after {count(epochs, 'epoch')} on {len(x_train):,} training images"
    )
    run.observe(
        f"training minus test accuracy in the last epoch: {plain['train_acc'] - plain['test_acc']:+.1%} "
        f"without augmentation, {aug['train_acc'] - aug['test_acc']:+.1%} with it (training accuracy "
        f"{plain['train_acc']:.1%} vs {aug['train_acc']:.1%})"
    )
    r_mid = _pick([r for r in rotations if r > 0] or rotations, 20.0)
    for r in sorted({r_mid, max(rotations)}):
        kept = [
            res["rotate"][r] / res["rotate"][min(rotations)] if res["rotate"][min(rotations)] else float("nan")
            for res in (plain, aug)
        ]
        run.observe(
            f"rotated {r:g}°: the plain CNN scored {plain['rotate'][r]:.1%} ({kept[0]:.0%} of its "
            f"unrotated {plain['rotate'][min(rotations)]:.1%}), the augmented one {aug['rotate'][r]:.1%} "
            f"({kept[1]:.0%} of {aug['rotate'][min(rotations)]:.1%})"
        )
    s_max = max(shifts)
    run.observe(
        f"shifted {s_max} px: the plain CNN scored {plain['shift'][s_max]:.1%} "
        f"(from {plain['shift'][min(shifts)]:.1%}), the augmented one {aug['shift'][s_max]:.1%} "
        f"(from {aug['shift'][min(shifts)]:.1%})"
    )
    drop_shift = plain["shift"][min(shifts)] - plain["shift"][s_max]
    drop_rot = plain["rotate"][min(rotations)] - plain["rotate"][r_mid]
    run.observe(
        f"without augmentation a {s_max}-pixel shift cost {drop_shift * 100:.1f} points and a {r_mid:g}° "
        f"rotation {drop_rot * 100:.1f} points of accuracy"
    )
    run.observe(
        f"an epoch took {plain['epoch_s']:.1f} s without and {aug['epoch_s']:.1f} s with augmentation "
        f"({aug['epoch_s'] / plain['epoch_s']:.2f}x; after the first epoch, training and the test pass)"
    )
    run.key_metrics(
        test_acc_plain=plain["test_acc"],
        test_acc_augmented=aug["test_acc"],
        **{f"rot{r_mid:g}_plain": plain["rotate"][r_mid], f"rot{r_mid:g}_augmented": aug["rotate"][r_mid]},
    )
