"""Autoencoder builders (slides 2–8, 15): shapes, shared layers, tied weights, save/load."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from tests.harness import REPO, assert_every_weight_trains, assert_overfits, run_model_saving_test
from toolkit.autoencoders import (
    AutoencoderParts,
    build_autoencoder,
    build_conv_autoencoder,
    build_denoising_autoencoder,
    build_sparse_autoencoder,
    build_stacked_autoencoder,
    default_loss,
    prepare_inputs,
    reconstruction_error,
)
from toolkit.layers import DenseTranspose
from toolkit.regularizers import sparsity_stats

RNG = np.random.default_rng(0)
X = RNG.random((8, 16)).astype("float32")
IMAGES = RNG.random((4, 8, 8, 1)).astype("float32")


def _np(t):
    return keras.ops.convert_to_numpy(t)


def _all_kinds():
    """One small model of every kind, with an input batch for each."""
    return {
        "autoencoder": (build_autoencoder(16, code_units=4), X),
        "stacked": (build_stacked_autoencoder(16, (8, 4), activation="relu", code_activation="linear"), X),
        "tied": (build_stacked_autoencoder(16, (8, 4), tied=True, activation="tanh", name="tied_ae"), X),
        "sparse_kl": (build_sparse_autoencoder(16, (24,), sparsity="kl", rho=0.1, beta=0.5), X),
        "sparse_l1": (
            build_sparse_autoencoder(16, (24,), sparsity="l1", l1=1e-3, activation="relu", name="sparse_l1"),
            X,
        ),
        "denoising": (build_denoising_autoencoder(16, (8,), noise="gaussian", noise_level=0.2), X),
        "conv": (build_conv_autoencoder((8, 8, 1), filters=(4, 2), code_units=3), IMAGES),
    }


def test_shapes_and_stage_names():
    model, encoder, decoder = build_stacked_autoencoder(16, (8, 4, 2))
    assert tuple(encoder.output.shape) == (None, 2)
    assert tuple(decoder.output.shape) == tuple(model.output.shape) == (None, 16)
    names = [layer.name for layer in model.layers]
    assert names == [
        "input",
        "enc1_dense",
        "enc1_act",
        "enc2_dense",
        "enc2_act",
        "enc3_dense",
        "enc3_act",
        "dec3_dense",
        "dec3_act",
        "dec2_dense",
        "dec2_act",
        "dec1_dense",
        "dec1_act",
    ]
    assert [model.get_layer(f"dec{k}_dense").units for k in (3, 2, 1)] == [4, 8, 16]


def test_encoder_and_decoder_share_layers_and_weights_with_the_model():
    parts = build_stacked_autoencoder(16, (8, 4))
    model, encoder, decoder = parts
    for layer in encoder.layers[1:]:
        assert model.get_layer(layer.name) is layer
    for layer in decoder.layers[1:]:
        assert model.get_layer(layer.name) is layer
    model.fit(X, X, epochs=2, batch_size=4, verbose=0)  # training the model trains the parts
    np.testing.assert_allclose(_np(decoder(encoder(X))), _np(model(X)), atol=1e-6)
    assert {id(v) for v in model.weights} == {id(v) for v in encoder.weights + decoder.weights}


def test_loss_follows_the_output_activation():
    assert default_loss("sigmoid") == "binary_crossentropy"
    assert default_loss("linear") == "mse" and default_loss({"name": "leaky_relu"}) == "mse"
    assert build_autoencoder(16, 4, output_activation="linear").model.loss == "mse"
    assert build_autoencoder(16, 4).model.loss == "binary_crossentropy"


def test_tied_decoder_uses_the_transposed_encoder_kernel():
    model, encoder, decoder = build_stacked_autoencoder(
        16, (8,), tied=True, activation="linear", output_activation="linear"
    )
    enc, dec = model.get_layer("enc1_dense"), model.get_layer("dec1_dense")
    assert isinstance(dec, DenseTranspose) and dec.tied_to is enc
    assert [v.path for v in model.trainable_variables] == ["enc1_dense/kernel", "enc1_dense/bias", "dec1_dense/bias"]
    model.fit(X, X, epochs=1, batch_size=4, verbose=0)
    w, b, c = (_np(v) for v in (enc.kernel, enc.bias, dec.bias))
    np.testing.assert_allclose(_np(model(X)), (X @ w + b) @ w.T + c, atol=1e-5)


def test_sparse_autoencoder_is_over_complete_and_reports_sparsity():
    model, encoder, _ = build_sparse_autoencoder(16, (32,), rho=0.05, beta=3.0, optimizer=keras.optimizers.Adam(0.05))
    assert encoder.output.shape[-1] > model.input.shape[-1]
    assert model.get_layer("enc1_sparsity").regularizer.get_config()["rho"] == 0.05
    before = sparsity_stats(encoder.predict(X, verbose=0))
    many = np.tile(X, (10, 1))  # several steps per epoch: Keras's per-epoch overhead dominates here
    model.fit(many, many, epochs=4, batch_size=8, verbose=0)
    after = sparsity_stats(encoder.predict(X, verbose=0))
    assert after["mean_activation"] < 0.5 * before["mean_activation"]  # pulled towards rho


def test_denoising_noise_acts_only_in_training():
    model, encoder, decoder = build_denoising_autoencoder(16, (8,), noise="dropout", noise_level=0.5)
    np.testing.assert_allclose(_np(model(X, training=False)), _np(decoder(encoder(X))), atol=1e-6)
    assert not np.allclose(_np(model(X, training=True)), _np(model(X, training=False)))
    assert "input_noise" not in [layer.name for layer in encoder.layers]  # a clean encoder


def test_conv_autoencoder_shapes_and_names():
    model, encoder, decoder = build_conv_autoencoder((8, 8, 1), filters=(4, 2))
    assert tuple(encoder.output.shape) == (None, 2, 2, 2)
    assert tuple(model(IMAGES).shape) == IMAGES.shape
    assert {"enc1_conv", "enc1_pool", "enc2_act", "dec2_convT", "dec1_act"} <= {layer.name for layer in model.layers}
    noisy = build_denoising_autoencoder((8, 8, 1), (4,), convolutional=True)
    assert noisy.model.get_layer("input_noise") is not None


@pytest.mark.parametrize(
    "call, text",
    [
        (lambda: build_stacked_autoencoder(16, ()), "received ()"),
        (lambda: build_stacked_autoencoder(16, (8, 0)), "received (8, 0)"),
        (lambda: build_stacked_autoencoder(16, (8, -2)), "positive ints"),
        (lambda: build_stacked_autoencoder(16, (8.5,)), "8.5"),
        (lambda: build_stacked_autoencoder(0, (8,)), "input_dim"),
        (lambda: build_autoencoder(16, 4, activation="sigmod"), "'sigmod'"),
        (lambda: build_sparse_autoencoder(16, (8,), rho=1.0), "rho"),
        (lambda: build_sparse_autoencoder(16, (8,), activation="relu"), "'relu'"),
        (lambda: build_sparse_autoencoder(16, (8,), sparsity="l3"), "'l3'"),
        (lambda: build_denoising_autoencoder(16, (8,), noise="salt"), "'salt'"),
        (lambda: build_denoising_autoencoder(16, (8,), noise="dropout", noise_level=1.5), "1.5"),
        (lambda: build_conv_autoencoder((10, 10, 1), filters=(4, 4)), "divisible"),
        (lambda: build_conv_autoencoder((8, 8), filters=(4,)), "(8, 8)"),
    ],
)
def test_bad_arguments_raise_value_error_with_the_received_value(call, text):
    with pytest.raises(ValueError) as info:
        call()
    message = str(info.value)
    assert text in message and "\n" not in message


def test_prepare_inputs_and_reconstruction_error():
    images = np.array([[[0, 255], [51, 102]]], np.uint8)
    np.testing.assert_allclose(prepare_inputs(images), [[0.0, 1.0, 0.2, 0.4]], atol=1e-7)
    assert prepare_inputs(images[..., None], flatten=False).shape == (1, 2, 2, 1)
    parts = build_autoencoder(16, 4)
    expected = np.mean((parts.model.predict(X, verbose=0) - X) ** 2)
    assert reconstruction_error(parts, X) == pytest.approx(expected, rel=1e-6)


def test_tiny_autoencoder_overfits_a_tiny_batch():
    model = build_stacked_autoencoder(16, (12,), activation="tanh", output_activation="linear").model
    assert_overfits(model, X, X, loss="mse", epochs=25, learning_rate=2e-2, batch_size=2)


@pytest.mark.backends
@pytest.mark.parametrize("kind", ["tied", "sparse_kl", "conv"])
def test_every_weight_receives_a_gradient(kind):
    parts, x = _all_kinds()[kind]
    assert_every_weight_trains(parts.model, x, x, loss=parts.model.loss)


@pytest.mark.backends
def test_every_kind_round_trips_in_process_and_in_a_fresh_process(tmp_path):
    kinds = _all_kinds()
    expected, paths = {}, {}
    for kind, (parts, x) in kinds.items():
        rng = np.random.default_rng(1)
        for v in parts.model.weights:  # move every weight (biases too) off its initial value
            v.assign(rng.normal(0.0, 0.3, size=tuple(v.shape)).astype("float32"))
        paths[kind] = run_model_saving_test(parts.model, x, tmp_path)
        expected[kind] = _np(parts.model(x, training=False))
        np.save(tmp_path / f"{kind}_x.npy", x)
    # One fresh process for all kinds: plain keras.saving.load_model, no custom_objects.
    code = (
        "import sys, numpy as np, keras\n"
        "import toolkit.layers, toolkit.regularizers\n"
        "from toolkit.autoencoders import AutoencoderParts\n"
        "folder = sys.argv[1]\n"
        f"for kind, path in {paths!r}.items():\n"
        "    m = keras.saving.load_model(path)\n"
        "    x = np.load(f'{folder}/{kind}_x.npy')\n"
        "    np.save(f'{folder}/{kind}_y.npy', keras.ops.convert_to_numpy(m(x, training=False)))\n"
        "    parts = AutoencoderParts.from_model(m)\n"
        "    z = keras.ops.convert_to_numpy(parts.decoder(parts.encoder(x)))\n"
        "    np.save(f'{folder}/{kind}_z.npy', z)\n"
        "    if kind == 'tied':\n"
        "        assert m.get_layer('dec1_dense').tied_to is m.get_layer('enc1_dense')\n"
        "        assert len(m.trainable_variables) == 6, [v.path for v in m.trainable_variables]\n"
    )
    env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    for kind in kinds:
        np.testing.assert_allclose(np.load(tmp_path / f"{kind}_y.npy"), expected[kind], atol=1e-6, err_msg=kind)
        np.testing.assert_allclose(np.load(tmp_path / f"{kind}_z.npy"), expected[kind], atol=1e-5, err_msg=kind)


@pytest.mark.backends
def test_tied_kernel_stays_shared_after_loading_and_training(tmp_path):
    parts = build_stacked_autoencoder(16, (8,), tied=True)
    path = run_model_saving_test(parts.model, X, tmp_path)
    from toolkit.saving import load_model

    model = load_model(path)
    model.fit(X, X, epochs=1, batch_size=4, verbose=0)
    assert model.get_layer("dec1_dense").tied_to.kernel is model.get_layer("enc1_dense").kernel
    assert AutoencoderParts.from_model(model).encoder.get_layer("enc1_dense") is model.get_layer("enc1_dense")


def test_plots_write_pngs(tmp_path):
    from toolkit.plots.autoencoders import plot_code_scatter, plot_feature_images, plot_reconstructions

    parts = build_autoencoder(16, 3)
    recon = parts.model.predict(X, verbose=0)
    codes = parts.encoder.predict(X, verbose=0)
    labels = np.arange(len(X)) % 3
    paths = [
        plot_reconstructions(X, recon, tmp_path / "recon.png", n=4),
        plot_code_scatter(codes, labels, tmp_path / "codes.png", class_names=["a", "b", "c"]),
        plot_code_scatter(codes[:, :2], labels, tmp_path / "codes2.png"),
        plot_feature_images(parts.model.get_layer("enc1_dense"), tmp_path / "features.png", image_shape=(4, 4)),
    ]
    for path in paths:
        assert os.path.getsize(path) > 1000
    with pytest.raises(ValueError, match="image_shape"):
        plot_reconstructions(X[:, :15], recon[:, :15], tmp_path / "bad.png")
