"""ae-mnist — autoencoders of several code sizes against PCA (slides 2–7).

An autoencoder is trained with its own input as the teacher (slides 2–3); a code smaller
than the input forces it to compress (slides 4–6). PCA with the same number of components
is the linear baseline: the autoencoder earns its non-linearity where its test
reconstruction error falls below PCA's.

Run:     make ae-mnist            (QUICK=1: the quick form)
         python -m toolkit run ae-mnist --set code_sizes=2,16,64
Cost:    full ≈ 5 min on 2 CPU cores (4 code sizes × 20 epochs on 60,000 images);
         quick ≈ 1 min (2 code sizes, 2,000 images, 8 epochs).
Expect:  error falls as the code grows; PCA wins at the largest codes with the lecture's
         single sigmoid layer; the 2-D code separates some digits. The report's
         observations say what this run measured.
"""
import numpy as np

from toolkit.autoencoders import build_stacked_autoencoder, prepare_inputs
from toolkit.baselines import PCA
from toolkit.plots import plot_history
from toolkit.plots.autoencoders import plot_code_scatter, plot_reconstructions
from toolkit.plots.base import new_figure, save_figure
from toolkit.runner import Experiment


def defaults():
    return {
        "dataset": "mnist",
        "code_sizes": [2, 8, 32, 64],
        "encoder_units": [],  # extra hidden layers before the code; [] = the lecture's one layer
        "activation": "sigmoid",
        "epochs": 20,
        "batch_size": 128,
        "limit": None,
        "test_limit": None,
        "seed": 0,
    }


QUICK = {"code_sizes": [2, 16], "epochs": 8, "limit": 2000, "test_limit": 500}


def run(config, run):
    ds = run.data()
    x_train, x_test = prepare_inputs(ds.x_train), prepare_inputs(ds.x_test)
    rows, histories, recon = [], {}, {}
    for k in config["code_sizes"]:
        parts = build_stacked_autoencoder(x_train.shape[1], tuple(config["encoder_units"]) + (k,),
                                          activation=config["activation"], name=f"ae_code{k}")
        histories[f"code {k}"] = run.fit(parts.model, x_train, x_train, label=f"ae-code{k}",
                                         validation_data=(x_test, x_test)).history
        x_hat = parts.model.predict(x_test, batch_size=512, verbose=0)
        ae_mse = float(np.mean((x_hat - x_test) ** 2))
        pca = PCA.fit(x_train, k)
        pca_hat = pca.reconstruct(x_test)
        pca_mse = float(np.mean((pca_hat - x_test) ** 2))
        run.metric(f"code{k}.autoencoder_test_mse", ae_mse)
        run.metric(f"code{k}.pca_test_mse", pca_mse)
        rows.append([k, ae_mse, pca_mse, ae_mse / pca_mse])
        recon[k] = (x_hat, pca_hat, parts)
        run.save_model(parts.model, f"ae_code{k}")

    run.table("Test reconstruction error (mean squared error per pixel, pixels in [0, 1])",
              ["code size", "autoencoder", f"PCA (same components)", "autoencoder / PCA"], rows)

    sizes = [r[0] for r in rows]
    fig, axes = new_figure(width=5.0)
    ax = axes[0, 0]
    ax.plot(sizes, [r[1] for r in rows], "o-", label=f"autoencoder ({config['activation']})")
    ax.plot(sizes, [r[2] for r in rows], "s--", label="PCA")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("code size (units / components)")
    ax.set_ylabel("test MSE")
    ax.legend()
    ax.grid(alpha=0.3)
    save_figure(fig, run.figure("error_vs_code_size.png", "Test reconstruction error against code size: "
                                                          "autoencoder and PCA (slides 4–6)"))
    shown = max(sizes)
    x_hat, pca_hat, parts = recon[shown]
    plot_reconstructions(x_test[:10], x_hat[:10], run.figure(
        "reconstructions.png", f"Test digits (top) and their reconstructions by the code-{shown} autoencoder "
                               "(bottom), slide 3"), image_shape=ds.image_shape[:2])
    plot_reconstructions(x_test[:10], pca_hat[:10], run.figure(
        "reconstructions_pca.png", f"The same digits reconstructed by PCA with {shown} components"),
        image_shape=ds.image_shape[:2])
    smallest = min(sizes)
    codes = recon[smallest][2].encoder.predict(x_test, batch_size=512, verbose=0)
    plot_code_scatter(codes, ds.y_test, run.figure(
        "code_scatter.png", f"The code-{smallest} representation of the test set, coloured by class (slide 6)"),
        class_names=ds.class_names)
    plot_history(histories, run.figure("training.png", "Training (solid) and test (dashed) loss per epoch"))

    for k, ae, pca, ratio in rows:
        verdict = "below" if ratio < 1 else "above"
        run.observe(f"with a code of {k}, the autoencoder's test error {ae:.4f} is {verdict} PCA's {pca:.4f} "
                    f"({ratio:.2f}x)")
    wins = [r[0] for r in rows if r[3] < 1]
    if wins:
        run.observe(f"the autoencoder beat PCA at code sizes {wins}; PCA was better at "
                    f"{[r[0] for r in rows if r[3] >= 1] or 'none'}")
    else:
        run.observe("PCA matched or beat the autoencoder at every code size in this run")
    run.observe(f"going from a code of {rows[0][0]} to {rows[-1][0]} cut the autoencoder's error "
                f"{rows[0][1] / rows[-1][1]:.1f}-fold")
    run.key_metrics(**{f"ae_mse_code{r[0]}": r[1] for r in rows},
                    **{f"pca_mse_code{rows[-1][0]}": rows[-1][2]})


EXPERIMENT = Experiment(
    name="ae-mnist", slides="2–7", title="Autoencoders: code size against reconstruction error, with PCA",
    summary=("An autoencoder learns to reproduce its input through a narrower code (slides 2–7). "
             "This run trains one per code size and compares its test reconstruction error with PCA "
             "using the same number of components."),
    defaults=defaults, quick=QUICK, run=run)
