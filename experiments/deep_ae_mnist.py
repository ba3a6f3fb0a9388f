"""deep-ae-mnist — the 784-1000-500-250-30 deep autoencoder: greedy pretraining, then
fine-tuning, against the same net from random initialisation and against PCA-30
(slides 8–14; Hinton & Salakhutdinov 2006).

Greedy layer-wise pretraining (slides 10–14): stage k trains a shallow autoencoder on the
codes of stages 1..k-1; the trained layers are then stacked (decoders in reverse order) and
the whole deep autoencoder is fine-tuned end to end.

Run:     make deep-ae-mnist       (QUICK=1: the quick form)
Cost:    full ≈ 240 s of CPU time on one core (4 stages × 2 epochs, then 2 × 5 end-to-end epochs
         on 60,000 images; estimated from a partial run); quick ≈ 42 s (784-256-128-64-8 on
         10,000 images: 3 epochs a stage, 12 end-to-end epochs of batch 64; measured, seeds 0–2).
Expect:  sigmoid units with a linear code, as in the paper. Quick form, seeds 0–2: pretrained +
         fine-tuned 0.026, random init 0.054, PCA-8 0.038 (test MSE). A full-data partial run
         (1 epoch a stage, 1 fine-tuning epoch) already gave 0.0100 against PCA-30's 0.0177.
"""

import time

import numpy as np

from toolkit.autoencoders import build_stacked_autoencoder, prepare_inputs
from toolkit.baselines import PCA
from toolkit.claims import Claim
from toolkit.plots import plot_history
from toolkit.plots.autoencoders import plot_code_scatter
from toolkit.plots.base import image_grid
from toolkit.pretraining import pretrain_greedy
from toolkit.reports.names import count
from toolkit.resources import dense_stack_bytes, image_pixels, train_images
from toolkit.runs.experiment import experiment
from toolkit.runs.spec import Param, RunSpec, activation, whole

SPEC = RunSpec(dataset="mnist", epochs=5, batch_size=128)
PARAMS = {
    "hidden_units": Param([1000, 500, 250, 30], whole(1)),
    "activation": Param("sigmoid", activation()),
    "code_activation": Param("linear", activation()),
    "pretrain_epochs": Param(2, whole(1, 1000)),
}
# The quick form: a narrower net (784-256-128-64-8) on 10,000 images with enough steps to learn;
# with 3,000 images and 3 epochs of batch 128 (about 70 Adam steps) every model stayed at the
# mean image and pretraining could not show. A code of 8 is where a nonlinear net beats PCA clearly.
QUICK = {
    "hidden_units": [256, 128, 64, 8],
    "pretrain_epochs": 3,
    "epochs": 12,
    "batch_size": 64,
    "limit": 10000,
    "test_limit": 1000,
}
# the test suite's form (Experiment.smoke): the quick form on fewer images and epochs
SMOKE = {"pretrain_epochs": 1, "epochs": 2, "limit": 2000, "test_limit": 300}

CLAIMS = (
    Claim(
        "deep-ae-pretraining",
        "8–14",
        "a deep autoencoder trained greedily layer by layer, then fine-tuned, reconstructs better than the same "
        "net trained from random weights for the same epochs, and better than PCA with as many components as "
        "its code",
        "test MSE: pretrained + fine-tuned < random initialisation, and < PCA",
        measure=lambda m: {
            "pretrained + fine-tuned": m["test_mse"]["fine_tuned"],
            "random initialisation": m["test_mse"]["random_init"],
            "PCA": m["test_mse"]["pca"],
        },
        holds=lambda v: v["pretrained + fine-tuned"] < min(v["random initialisation"], v["PCA"]),
    ),
)


def _build(config, x_train, name):
    return build_stacked_autoencoder(
        x_train.shape[1],
        tuple(config["hidden_units"]),
        activation=config["activation"],
        code_activation=config["code_activation"],
        name=name,
    )


def _mse(model, x):
    return float(np.mean((model.predict(x, batch_size=512, verbose=0) - x) ** 2))


def estimate(config):
    """Bytes to build and train: pretrained and random-init copies; greedy pretraining holds one stage's codes."""
    d, h = image_pixels(config), list(config["hidden_units"])
    return dense_stack_bytes([d, *h, *h[-2::-1], d], max(config["batch_size"], 512), copies=2) + (
        train_images(config) * max(h) * 4
    )


@experiment(
    name="deep-ae-mnist",
    slides="8–14",
    order=2,
    title="Deep autoencoder 784-1000-500-250-30: greedy pretraining vs random initialisation vs PCA",
    summary=(
        "A stacked autoencoder (slide 8) trained greedily, layer by layer (slides 10–14), then fine-tuned "
        "end to end, compared with the same network trained from random weights and with PCA keeping as "
        "many components as the code has units."
    ),
    spec=SPEC,
    params=PARAMS,
    quick=QUICK,
    smoke=SMOKE,
    claims=CLAIMS,
    estimate=estimate,
)
def run(config, run):
    ds = run.data()
    x_train, x_test = prepare_inputs(ds.x_train), prepare_inputs(ds.x_test)
    units = config["hidden_units"]

    pretrained = _build(config, x_train, "deep_ae_pretrained")
    untrained_mse = _mse(pretrained.model, x_test)
    callbacks, stage_callbacks = run.pretrain_hooks("greedy")
    start = time.perf_counter()
    result = pretrain_greedy(
        pretrained,
        x_train,
        epochs=config["pretrain_epochs"],
        batch_size=config["batch_size"],
        callbacks=callbacks,
        stage_callbacks=stage_callbacks,
    )
    pretrain_seconds = time.perf_counter() - start
    stacked_mse = _mse(pretrained.model, x_test)
    stage_rows = [[str(info), info.loss, hist["loss"][-1]] for info, hist in zip(result.stages, result.histories)]
    run.table("Greedy pretraining, stage by stage (slides 10–14)", ["stage", "loss", "final training loss"], stage_rows)

    histories = {}
    histories["pretrained + fine-tuned"] = run.fit(
        pretrained.model, x_train, x_train, label="fine-tune", validation_data=(x_test, x_test)
    ).history
    fine_mse = _mse(pretrained.model, x_test)

    scratch = _build(config, x_train, "deep_ae_random_init")
    histories["random initialisation"] = run.fit(
        scratch.model, x_train, x_train, label="random-init", validation_data=(x_test, x_test)
    ).history
    scratch_mse = _mse(scratch.model, x_test)

    code = units[-1]
    pca = PCA.fit(x_train, code)
    pca_hat = pca.reconstruct(x_test)
    pca_mse = float(np.mean((pca_hat - x_test) ** 2))

    arch = "-".join(str(u) for u in [x_train.shape[1], *units])
    rows = [
        ["untrained stack", untrained_mse],
        [f"greedy pretraining only ({count(config['pretrain_epochs'], 'epoch')} per stage)", stacked_mse],
        [f"pretrained + fine-tuned ({config['epochs']} epochs)", fine_mse],
        [f"random initialisation ({config['epochs']} epochs)", scratch_mse],
        [f"PCA, {code} components", pca_mse],
    ]
    run.table(f"Test reconstruction error of the {arch} autoencoder (MSE per pixel)", ["model", "test MSE"], rows)
    for label, value in [
        ("untrained", untrained_mse),
        ("pretrained_only", stacked_mse),
        ("fine_tuned", fine_mse),
        ("random_init", scratch_mse),
        ("pca", pca_mse),
    ]:
        run.metric(f"test_mse.{label}", value)
    run.metric("pretrain_seconds", pretrain_seconds)
    run.key_metrics(fine_tuned_mse=fine_mse, random_init_mse=scratch_mse, pca_mse=pca_mse)

    recon = pretrained.model.predict(x_test[:10], verbose=0)
    recon_scratch = scratch.model.predict(x_test[:10], verbose=0)
    shape = ds.image_shape[:2]
    images = [im.reshape(shape) for im in np.concatenate([x_test[:10], recon, recon_scratch, pca_hat[:10]])]
    image_grid(
        [np.clip(im * 255, 0, 255).astype(np.uint8) for im in images],
        run.figure(
            "reconstructions.png",
            f"Test digits; pretrained + fine-tuned; random initialisation; PCA-{code} (rows, top to bottom)",
        ),
        ncols=10,
        row_labels=["original", "pretrained", "random init", f"PCA-{code}"],
    )
    plot_code_scatter(
        pretrained.encoder.predict(x_test, batch_size=512, verbose=0),
        ds.y_test,
        run.figure(
            "code_scatter.png",
            f"The {code}-unit code of the test set (first two principal components), coloured by class",
        ),
        class_names=ds.class_names,
    )
    plot_history(
        histories,
        run.figure(
            "training.png", "End-to-end training: pretrained vs random initialisation (solid: train, dashed: test)"
        ),
    )
    run.save_model(pretrained.model, "deep_ae_pretrained")

    run.observe(
        f"greedy pretraining alone took the test error from {untrained_mse:.4f} (untrained) to "
        f"{stacked_mse:.4f} in {pretrain_seconds:.0f} s"
    )
    best = min(
        ("pretrained + fine-tuned", fine_mse),
        ("random initialisation", scratch_mse),
        (f"PCA-{code}", pca_mse),
        key=lambda t: t[1],
    )
    run.observe(
        f"after {config['epochs']} end-to-end epochs the pretrained network's test error is {fine_mse:.4f}, "
        f"{'lower' if fine_mse < scratch_mse else 'higher'} than random initialisation's {scratch_mse:.4f} "
        f"({scratch_mse / fine_mse:.2f}x)"
    )
    run.observe(
        f"PCA with {code} components reaches {pca_mse:.4f}; the pretrained deep autoencoder's error is "
        f"{fine_mse / pca_mse:.2f}x PCA's; the best of the three here is {best[0]}"
    )
