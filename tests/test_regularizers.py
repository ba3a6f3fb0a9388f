"""Sparsity penalties (slide 15): exact values, batch-size independence, serialization."""

import math

import keras
import numpy as np
import pytest

from tests.harness import run_model_saving_test
from toolkit.regularizers import (
    ActivityPenalty,
    KLSparsityRegularizer,
    L1ActivityRegularizer,
    sparsity_regularizer,
    sparsity_stats,
)


def _penalty_through_model(regularizer, batch_size, units=4, value=0.25):
    """The loss a model adds for a constant activation ``value`` at ``batch_size`` rows."""
    inputs = keras.Input((units,))
    model = keras.Model(inputs, ActivityPenalty(regularizer, name="enc1_sparsity")(inputs))
    model(np.full((batch_size, units), value, "float32"))
    return float(sum(keras.ops.convert_to_numpy(loss) for loss in model.losses))


def _kl(rho, q):
    return rho * math.log(rho / q) + (1 - rho) * math.log((1 - rho) / (1 - q))


@pytest.mark.parametrize("batch_size", [2, 16])
def test_l1_penalty_is_exact_and_batch_size_independent(batch_size):
    # l1 * units * c = 0.5 * 4 * 0.25: exact in float32, whatever the batch size
    assert _penalty_through_model(L1ActivityRegularizer(l1=0.5), batch_size) == 0.5


@pytest.mark.parametrize("batch_size", [2, 16])
def test_kl_penalty_matches_hand_value_at_any_batch_size(batch_size):
    expected = 2.0 * 4 * _kl(0.1, 0.25)  # beta * units * KL(rho || rho_hat)
    got = _penalty_through_model(KLSparsityRegularizer(rho=0.1, beta=2.0), batch_size)
    assert got == pytest.approx(expected, rel=1e-6)


def test_kl_uses_each_units_batch_mean():
    h = np.array([[0.0, 0.2], [0.5, 0.2]], "float32")  # rho_hat = (0.25, 0.2)
    got = float(KLSparsityRegularizer(rho=0.2, beta=1.0)(h))
    assert got == pytest.approx(_kl(0.2, 0.25) + _kl(0.2, 0.2), abs=1e-6)  # float32 logs


def test_kl_is_zero_at_target_and_finite_at_saturation():
    assert float(KLSparsityRegularizer(rho=0.3)(np.full((5, 3), 0.3, "float32"))) == pytest.approx(0, abs=1e-6)
    assert np.isfinite(float(KLSparsityRegularizer(rho=0.3)(np.ones((5, 3), "float32"))))


@pytest.mark.parametrize(
    "make, text",
    [
        (lambda: KLSparsityRegularizer(rho=0.0), "rho"),
        (lambda: KLSparsityRegularizer(rho=1.5), "1.5"),
        (lambda: KLSparsityRegularizer(beta=-1), "beta"),
        (lambda: L1ActivityRegularizer(l1=-0.1), "-0.1"),
        (lambda: L1ActivityRegularizer(l1="a"), "'a'"),
        (lambda: sparsity_regularizer("l2"), "'l2'"),
        (lambda: ActivityPenalty("l1"), "Regularizer"),
    ],
)
def test_bad_arguments_raise_value_error_echoing_the_value(make, text):
    with pytest.raises(ValueError, match=".*") as info:
        make()
    assert text in str(info.value) and "\n" not in str(info.value)


def test_config_round_trip_through_keras_registry():
    for reg in (L1ActivityRegularizer(0.2), KLSparsityRegularizer(rho=0.07, beta=3.0)):
        again = keras.regularizers.deserialize(keras.regularizers.serialize(reg))
        assert type(again) is type(reg) and again.get_config() == reg.get_config()


def test_sparsity_stats_numbers():
    stats = sparsity_stats(np.array([[0.0, 0.9, 0.0], [0.05, 0.3, 0.0]]), threshold=0.1)
    assert stats["mean_activation"] == pytest.approx(1.25 / 6)
    assert stats["fraction_active"] == pytest.approx(2 / 6)
    assert stats["fraction_dead_units"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="received shape"):
        sparsity_stats(np.zeros(3))


@pytest.mark.backends
def test_penalty_enters_training_loss_and_saves(tmp_path):
    inputs = keras.Input((4,))
    h = keras.layers.Dense(3, activation="sigmoid", name="enc1_dense")(inputs)
    h = ActivityPenalty(KLSparsityRegularizer(rho=0.05, beta=1.0), name="enc1_sparsity")(h)
    model = keras.Model(inputs, h)
    x = np.random.default_rng(0).random((8, 4)).astype("float32")
    model.compile(optimizer="sgd", loss="mse")
    y = keras.ops.convert_to_numpy(model(x))
    total = model.evaluate(x, y, verbose=0, batch_size=8)  # mse is 0: the loss is the penalty
    expected = float(KLSparsityRegularizer(rho=0.05, beta=1.0)(y))
    assert total == pytest.approx(expected, rel=1e-4)
    run_model_saving_test(model, x, tmp_path)
