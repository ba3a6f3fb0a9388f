"""Greedy layer-wise pretraining (slides 9–14) and fine-tuning with a head (slides 16–19)."""

import keras
import numpy as np
import pytest

from toolkit.autoencoders import build_stacked_autoencoder, prepare_inputs, reconstruction_error
from toolkit.pretraining import StageCallback, attach_head, fine_tune, head_loss, pretrain_greedy


def _structured_data(n=256, dim=16, seed=0):
    """[0, 1] vectors with a 3-dimensional cause: something an autoencoder can learn."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 3))
    mixing = rng.normal(size=(3, dim)) * 2.0
    return (1.0 / (1.0 + np.exp(-(z @ mixing)))).astype("float32")


class Recorder(StageCallback):
    def __init__(self):
        self.events, self.inputs, self.snapshots = [], {}, {}

    def on_stage_begin(self, stage, info):
        self.events.append(("begin", stage, str(info)))
        self.inputs[stage] = np.array(info.inputs)

    def on_stage_end(self, stage, info, history):
        self.events.append(("end", stage, len(history.history["loss"])))
        model = info.model
        self.snapshots[stage] = {
            layer.name: [np.array(keras.ops.convert_to_numpy(w)) for w in layer.weights] for layer in model.layers
        }


class CountFits(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.fits = 0

    def on_train_begin(self, logs=None):
        self.fits += 1


def test_stages_train_in_order_with_hooks_callbacks_and_progress(capsys):
    x = _structured_data(64)
    parts = build_stacked_autoencoder(16, (8, 4, 2))
    recorder, counter = Recorder(), CountFits()
    result = pretrain_greedy(
        parts, x, epochs=(2, 1, 1), batch_size=32, stage_callbacks=[recorder], callbacks=[counter], verbose=1
    )
    out = capsys.readouterr().out
    assert "stage 1/3: 16 → 8" in out and "stage 2/3: 8 → 4" in out and "stage 3/3: 4 → 2" in out
    assert [e[:2] for e in recorder.events] == [
        ("begin", 1),
        ("end", 1),
        ("begin", 2),
        ("end", 2),
        ("begin", 3),
        ("end", 3),
    ]
    assert counter.fits == 3
    assert [len(h["loss"]) for h in result.histories] == [2, 1, 1]
    assert result.autoencoder is parts.model and result.encoder is parts.encoder
    # each stage is the shallow autoencoder enc{k} -> dec{k} made of the deep model's own layers
    for info in result.stages:
        assert info.layer_names == (
            f"enc{info.index}_dense",
            f"enc{info.index}_act",
            f"dec{info.index}_dense",
            f"dec{info.index}_act",
        )
        for name in info.layer_names:
            assert info.model.get_layer(name) is parts.model.get_layer(name)
    assert result.stages[0].loss == "binary_crossentropy"


def test_stage_k_input_is_the_trained_stages_output():
    x = _structured_data(64)
    parts = build_stacked_autoencoder(16, (8, 4, 2), activation="relu", code_activation="linear")
    recorder = Recorder()
    result = pretrain_greedy(parts, x, epochs=1, batch_size=32, stage_callbacks=[recorder], verbose=0)
    np.testing.assert_array_equal(recorder.inputs[1], x)
    for k in (2, 3):  # stage k's input == the trained deep encoder cut after enc{k-1}_act
        h = x
        for layer in parts.encoder.layers[1 : 2 * (k - 1) + 1]:
            h = layer(h)
        assert parts.encoder.layers[2 * (k - 1)].name == f"enc{k - 1}_act"
        np.testing.assert_allclose(recorder.inputs[k], keras.ops.convert_to_numpy(h), atol=1e-5)
    # stage 1 touched only stage 1's layers; stage 2 left stage 1's weights alone
    snap1 = recorder.snapshots[1]
    now = {layer.name: [keras.ops.convert_to_numpy(w) for w in layer.weights] for layer in parts.model.layers}
    for name in ("enc1_dense", "dec1_dense"):
        for before, after in zip(snap1[name], now[name]):
            np.testing.assert_array_equal(before, after)
    # stage 1 reconstructs [0, 1] pixels (BCE); later stages reconstruct relu codes (MSE)
    assert [info.loss for info in result.stages] == ["binary_crossentropy", "mse", "mse"]


def test_pretraining_beats_the_same_untrained_stack():
    x = _structured_data(256)
    keras.utils.set_random_seed(3)
    untrained = build_stacked_autoencoder(16, (8, 3))
    keras.utils.set_random_seed(3)
    pretrained = build_stacked_autoencoder(16, (8, 3))
    np.testing.assert_array_equal(untrained.model.get_weights()[0], pretrained.model.get_weights()[0])
    pretrain_greedy(pretrained, x, epochs=3, batch_size=16, optimizer=keras.optimizers.Adam(0.03), verbose=0)
    before, after = reconstruction_error(untrained, x), reconstruction_error(pretrained, x)
    assert after < 0.7 * before, (before, after)


def test_pretrain_from_hidden_units_and_bad_arguments():
    x = _structured_data(32)
    result = pretrain_greedy((6, 3), x, epochs=1, verbose=0, activation="tanh", output_activation="linear")
    assert tuple(result.encoder.output.shape) == (None, 3) and result.stages[0].loss == "mse"
    with pytest.raises(ValueError, match=r"received \(6, 0\)"):
        pretrain_greedy((6, 0), x, verbose=0)
    with pytest.raises(ValueError, match="one value per stage"):
        pretrain_greedy((6, 3), x, epochs=(1, 2, 3), verbose=0)
    with pytest.raises(ValueError, match=r"shape \(N, 16\)"):
        pretrain_greedy(build_stacked_autoencoder(16, (4,)), x[:, :8], verbose=0)
    with pytest.raises(ValueError, match="StageCallback"):
        pretrain_greedy((6, 3), x, stage_callbacks=[object()], verbose=0)


@pytest.mark.parametrize(
    "task, outputs, activation, loss",
    [
        ("multiclass", 3, "softmax", "sparse_categorical_crossentropy"),
        ("binary", 1, "sigmoid", "binary_crossentropy"),
        ("multilabel", 4, "sigmoid", "binary_crossentropy"),
        ("regression", 2, "linear", "mse"),
    ],
)
def test_heads_follow_slide_18(task, outputs, activation, loss):
    parts = build_stacked_autoencoder(16, (8,))
    model = attach_head(parts.encoder, outputs, task=task)
    assert model.get_layer(parts.encoder.name) is parts.encoder  # composition, not a copy
    assert model.get_layer("head_act").activation.__name__ == activation
    assert tuple(model.output.shape) == (None, outputs)
    assert head_loss(task) == loss


@pytest.mark.parametrize(
    "call, text",
    [
        (lambda enc: attach_head(enc, 3, task="ranking"), "'ranking'"),
        (lambda enc: attach_head(enc, 0), "received 0"),
        (lambda enc: attach_head(enc, 2, task="binary"), "num_outputs=2"),
    ],
)
def test_head_bad_arguments(call, text):
    encoder = build_stacked_autoencoder(16, (8,)).encoder
    with pytest.raises(ValueError) as info:
        call(encoder)
    assert text in str(info.value)


@pytest.mark.backends
def test_pretrain_then_fine_tune_with_a_frozen_start():
    x = _structured_data(64)
    y = (x[:, 0] > np.median(x[:, 0])).astype("int32") + (x[:, 1] > np.median(x[:, 1])).astype("int32")
    result = pretrain_greedy((8, 4), x, epochs=1, batch_size=32, verbose=0)
    encoder = result.encoder
    model = attach_head(encoder, 3)

    class Watch(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.kernels = []

        def on_epoch_end(self, epoch, logs=None):
            self.kernels.append(np.array(keras.ops.convert_to_numpy(encoder.get_layer("enc1_dense").kernel)))

    watch = Watch()
    start = np.array(keras.ops.convert_to_numpy(encoder.get_layer("enc1_dense").kernel))
    history = fine_tune(model, encoder, x, y, epochs=3, frozen_epochs=2, batch_size=32, callbacks=[watch])
    assert isinstance(history, keras.callbacks.History)
    assert len(history.history["loss"]) == 3 and "accuracy" in history.history
    np.testing.assert_array_equal(watch.kernels[0], start)  # frozen: the encoder did not move
    np.testing.assert_array_equal(watch.kernels[1], start)
    assert not np.array_equal(watch.kernels[2], start)  # unfrozen and recompiled: it learns
    assert encoder.trainable and model.get_layer(encoder.name) is encoder
    # the pretrained deep autoencoder shares the fine-tuned encoder's weights
    assert result.autoencoder.get_layer("enc1_dense") is encoder.get_layer("enc1_dense")
    with pytest.raises(ValueError, match="frozen_epochs"):
        fine_tune(model, encoder, x, y, epochs=1, frozen_epochs=2)
    with pytest.raises(ValueError, match="not a layer of model"):
        fine_tune(model, build_stacked_autoencoder(16, (8,), name="other").encoder, x, y, epochs=1)


@pytest.mark.data
@pytest.mark.slow
def test_mnist_pretraining_improves_reconstruction(data_dir):
    from toolkit.data import load_dataset

    data = load_dataset("mnist", data_dir=data_dir, limit=5000)
    x = prepare_inputs(data.x_train)
    keras.utils.set_random_seed(0)
    untrained = build_stacked_autoencoder(784, (256, 64))
    keras.utils.set_random_seed(0)
    parts = build_stacked_autoencoder(784, (256, 64))
    pretrain_greedy(parts, x, epochs=2, batch_size=128, verbose=0)
    assert reconstruction_error(parts, x) < 0.8 * reconstruction_error(untrained, x)


def test_fine_tune_returns_a_history_and_scores_a_multilabel_head_per_label():
    x = _structured_data(64)
    rng = np.random.default_rng(0)
    y = (rng.random((64, 5)) < 0.5).astype("float32")
    encoder = build_stacked_autoencoder(16, (8,)).encoder
    model = attach_head(encoder, 5, task="multilabel")
    history = fine_tune(model, encoder, x, y, epochs=1, batch_size=64)
    assert isinstance(history, keras.callbacks.History) and "binary_accuracy" in history.history
    assert "accuracy" not in history.history
    # the reported number is the fraction of labels right, not an argmax match
    per_label = float(np.mean((model.predict(x, verbose=0) > 0.5) == (y > 0.5)))
    assert abs(model.evaluate(x, y, verbose=0, return_dict=True)["binary_accuracy"] - per_label) < 1e-6
