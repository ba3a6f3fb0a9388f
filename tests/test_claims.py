"""The lecture's claims judged on hand-made numbers: each declared criterion says
``reproduced`` where the lecture holds and ``not_reproduced`` where it does not, and a run
that did not measure a claim's numbers says ``not_reproduced`` with the reason."""

import copy

import pytest

from toolkit.claims import judge, verdict
from toolkit.runs.experiment import get_experiment

# (experiment, claim id, metrics where the lecture holds, a change that breaks it)
AE = {
    "by_code_size": {
        "code_size": [2, 4, 8],
        "deep_autoencoder_test_mse": [0.045, 0.034, 0.024],
        "pca_test_mse": [0.056, 0.048, 0.038],
    }
}
PRETRAIN = {
    "few_labels": {
        "labels": 500,
        "depths": [2, 4],
        "sigmoid_pretrained": [12.1, 12.9],
        "sigmoid_random": [12.9, 17.1],
        "relu_random": [11.9, 12.2],
    }
}
SPARSE = {
    "none": {"mean_activation": 0.48, "fraction_dead_units": 0.0},
    "l1": {"mean_activation": 0.107, "fraction_dead_units": 0.025},
    "kl": {"mean_activation": 0.093, "fraction_dead_units": 0.0},
}
ACTIVATIONS = {
    "sigmoid_derivative_max": 0.25,
    "sigmoid": {"gradient_ratio_init": 4e-6, "test_accuracy": 0.10},
    **{a: {"gradient_ratio_init": 0.5, "test_accuracy": 0.90} for a in ("relu", "leaky_relu", "prelu", "rrelu")},
}
CNN = {
    "shift": {"0": {"cnn": 0.98, "mlp": 0.95}, "2": {"cnn": 0.92, "mlp": 0.67}},
    "rotate": {"0": {"cnn": 0.98, "mlp": 0.95}, "45": {"cnn": 0.50, "mlp": 0.35}},
}
AUGMENT = {
    "trained_rotation": 15.0,
    "plain": {"test_accuracy": 0.52, "rotation_accuracy": {"0.0": 0.52, "15.0": 0.39, "30.0": 0.2}},
    "augmented": {"test_accuracy": 0.57, "rotation_accuracy": {"0.0": 0.57, "15.0": 0.535, "30.0": 0.3}},
}
ZOO = {"lenet5": {"test_acc": 0.30}, "alexnet": {"test_acc": 0.10}, "resnet20": {"test_acc": 0.42}}
FILTERS = {
    "slide38": {"feature_map": [[2, 3, 3], [2, 4, 2], [3, 1, 3]]},
    "conv_sizes": {"input": [600, 512], "valid": [598, 510], "same": [600, 512], "stride2": [299, 255]},
    "pooling": {
        "windows": [4, 8],
        "mean_before": 0.3155,
        "mean_max": [0.38, 0.43],
        "mean_average": [0.3155, 0.3155],
        "values_per_output": [16.0, 64.0],
    },
}


def _set(path, value):
    def change(m):
        target = m
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


CASES = [
    ("ae-mnist", "ae-code-size", AE, _set(("by_code_size", "deep_autoencoder_test_mse"), [0.045, 0.034, 0.036])),
    ("ae-mnist", "ae-beats-pca", AE, _set(("by_code_size", "deep_autoencoder_test_mse"), [0.06, 0.034, 0.024])),
    (
        "deep-ae-mnist",
        "deep-ae-pretraining",
        {"test_mse": {"fine_tuned": 0.026, "random_init": 0.054, "pca": 0.038}},
        _set(("test_mse", "fine_tuned"), 0.04),
    ),
    ("pretrain-mnist", "pretraining-few-labels", PRETRAIN, _set(("few_labels", "sigmoid_pretrained"), [12.1, 17.2])),
    ("pretrain-mnist", "relu-needs-no-pretraining", PRETRAIN, _set(("few_labels", "relu_random"), [11.9, 14.0])),
    ("sparse-ae-mnist", "sparsity-l1", SPARSE, _set(("l1", "fraction_dead_units"), 0.896)),
    ("sparse-ae-mnist", "sparsity-kl", SPARSE, _set(("kl", "mean_activation"), 0.2)),
    ("activations-mnist", "sigmoid-vanishing-gradient", ACTIVATIONS, _set(("sigmoid", "gradient_ratio_init"), 0.01)),
    ("activations-mnist", "relu-family-trains", ACTIVATIONS, _set(("rrelu", "test_accuracy"), 0.25)),
    ("filters", "slide38-feature-map", FILTERS, _set(("slide38", "feature_map"), [[2, 3, 3], [2, 4, 2], [3, 1, 2]])),
    ("filters", "conv-output-sizes", FILTERS, _set(("conv_sizes", "same"), [598, 510])),
    ("filters", "pooling-brightness", FILTERS, _set(("pooling", "mean_average"), [0.3155, 0.34])),
    ("cnn-mnist", "cnn-shift-tolerance", CNN, _set(("shift", "2", "cnn"), 0.60)),
    ("cnn-mnist", "no-rotation-invariance", CNN, _set(("rotate", "45", "cnn"), 0.90)),
    ("augment-cifar10", "augmentation-pays", AUGMENT, _set(("augmented", "test_accuracy"), 0.53)),
    ("zoo-cifar10", "resnet-beats-classics", ZOO, _set(("resnet20", "test_acc"), 0.31)),
]


def _claim(experiment, claim_id):
    (claim,) = [c for c in get_experiment(experiment).claims if c.id == claim_id]
    return claim


@pytest.mark.parametrize("experiment, claim_id, metrics, breaks", CASES, ids=[c[1] for c in CASES])
def test_each_claim_reproduces_on_the_lectures_numbers_and_not_on_others(experiment, claim_id, metrics, breaks):
    claim = _claim(experiment, claim_id)
    assert verdict(claim, metrics)["verdict"] == "reproduced"
    broken = copy.deepcopy(metrics)
    breaks(broken)
    result = verdict(claim, broken)
    assert result["verdict"] == "not_reproduced" and result["measured"], result


def test_every_declared_claim_has_a_case_here():
    from toolkit.runs.experiment import all_claims

    assert {c.id for c in all_claims()} == {case[1] for case in CASES}


def test_unmeasured_numbers_and_failed_runs_are_not_reproduced_with_the_reason():
    exp = get_experiment("zoo-cifar10")
    (result,) = judge(exp, {"lenet5": {"test_acc": 0.3}})  # a run without alexnet or a resnet
    assert result["verdict"] == "not_reproduced" and "not measured" in result["measured"]
    (failed,) = judge(exp, ZOO, error="loss became nan in epoch 2")
    assert failed["verdict"] == "not_reproduced" and "loss became nan" in failed["measured"]["not measured"]
    (nan,) = judge(exp, {**ZOO, "resnet20": {"test_acc": float("nan")}})
    assert nan["verdict"] == "not_reproduced"


def test_a_run_on_the_fallback_dataset_says_its_verdicts_are_about_that_set():
    exp = get_experiment("deep-ae-mnist")
    metrics = {"test_mse": {"fine_tuned": 0.01, "random_init": 0.02, "pca": 0.03}}
    metrics["data"] = {"mnist": {"dataset": "shapes"}}
    (result,) = judge(exp, metrics)
    assert result["dataset"] == "shapes" and "not the lecture's data" in result["note"]
