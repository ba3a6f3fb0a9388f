"""The benchmarks run and report the right structure (no timing assertions: timings
are measured by ``python -m benchmarks.run``, never by tests)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from benchmarks import mnist_cpu, pretraining_cost
from benchmarks import run as bench_run

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_reference_is_the_keras_example():
    from benchmarks import reference_mnist_convnet as ref

    model = ref.build_model()
    kinds = [layer.__class__.__name__ for layer in model.layers]
    assert kinds == ["Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Flatten", "Dropout", "Dense"]
    assert model.count_params() == 34826  # the example's figure, and the toolkit build's
    x, y, _, _ = ref.prepare_data(
        np.full((2, 28, 28), 255, np.uint8), np.array([1, 2]), np.zeros((1, 28, 28), np.uint8), np.array([0])
    )
    assert x.dtype == np.float32 and x.shape == (2, 28, 28, 1) and x.max() == 1.0 and y.shape == (2, 10)


def test_cost_model_counts_frozen_layers_only_in_the_naive_form():
    rows, total = pretraining_cost.cost_shares(784, (1000, 500, 250, 30))
    assert [r["macs_per_image"] for r in rows] == [784000, 500000, 125000, 7500]
    assert total == 1416500
    assert sum(r["own_share"] for r in rows) == pytest.approx(1.0)
    assert rows[0]["own_share"] == pytest.approx(rows[0]["through_frozen_share"])
    for r in rows[1:]:
        assert r["through_frozen_share"] > r["own_share"]


def test_pretraining_benchmark_structure():
    x = np.random.default_rng(0).random((128, 20)).astype("float32")
    result = pretraining_cost.benchmark(x, epochs=1, batch_size=64, units=(8, 4), log=lambda *_: None)
    assert [s["stage"] for s in result["stages"]] == [1, 2]
    assert [s["layers"] for s in result["stages"]] == ["20 -> 8", "8 -> 4"]
    for s in result["stages"]:
        assert len(s["epoch_seconds"]) == 1 and s["seconds_total"] > 0
        assert s["predicted_through_frozen_seconds"] >= s["predicted_own_layers_seconds"]
    assert result["pretraining_seconds"] > 0 and len(result["end_to_end_epoch_seconds"]) == 1
    json.dumps(result)


def test_mnist_benchmark_structure():
    from toolkit.data import load_dataset

    ds = load_dataset("shapes", limit=128, test_limit=64)
    result = mnist_cpu.benchmark(ds, rounds=2, max_epochs=1, log=lambda *_: None)
    epoch = result["epoch_time"]
    for key in ("reference", "toolkit_run_fit", "toolkit_plain_fit"):
        assert epoch[key]["epochs_run"] == 2 and len(epoch[key]["test_accuracy"]) == 2
    assert len(epoch["ratio_run_fit"]["paired_ratios"]) == 1
    assert isinstance(epoch["within_bound"], bool)
    tta = result["time_to_accuracy"]
    assert tta["reference"]["epochs_run"] == 1 and tta["toolkit_cnn_mnist"]["epochs_run"] == 1
    assert tta["reference_target"] == 0.99 and tta["toolkit_target"] == 0.993
    json.dumps(result)
    rows = bench_run.summary_rows({"goal1": result})
    assert {r[0] for r in rows} == {"1"} and len(rows) == 5


def test_markdown_table_reports_skips_and_errors():
    table = bench_run.markdown_table({"goal4": {"skipped": "no CIFAR-10 in /nowhere"}, "goal5": {"error": "boom"}})
    assert "| 4 | skipped | - | no CIFAR-10 in /nowhere |" in table
    assert "| 5 | error | - | boom |" in table


def test_unknown_goal_is_refused():
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--only", "goal3"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "unknown goals ['goal3']" in proc.stderr


@pytest.mark.data
def test_memory_benchmark_in_its_own_process(data_dir):
    from benchmarks import memory_cifar10

    result = memory_cifar10.benchmark(data_dir, model="lenet5", steps=1, test_limit=100)
    assert result["setup"]["train_dtype"] == "uint8" and result["setup"]["train_images"] == 50000
    assert 0 < result["rss_gb_by_phase"]["after_load"] <= result["peak_rss_gb_getrusage"]
    assert result["bound_gb"] == 2.5


@pytest.mark.slow
@pytest.mark.data
def test_quick_run_writes_results(data_dir, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--quick", "--data-dir", data_dir, "--out", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    (folder,) = os.listdir(tmp_path)
    with open(tmp_path / folder / "results.json") as fh:
        report = json.load(fh)
    assert report["quick"] is True and set(report["results"]) == {"goal1", "goal2", "goal4", "goal5"}
    assert report["results"]["goal5"]["all_devices_used"] is True
    assert "| goal | figure | value | reference / bound |" in proc.stdout
