"""Data-parallel training (``--devices all``) on two simulated CPU devices (JAX).

Each test starts its own process with ``KERAS_BACKEND=jax`` and
``XLA_FLAGS=--xla_force_host_platform_device_count=2``: the flag must be set before JAX
starts, and the distribution is process-global.
"""

import json
import os
import subprocess
import sys

import pytest

from benchmarks import data_parallel

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {
    **os.environ,
    "KERAS_BACKEND": "jax",
    "JAX_PLATFORMS": "cpu",
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
}


def _python(code, timeout=120):
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=ENV, capture_output=True, text=True, timeout=timeout
    )


def test_both_devices_train_and_match_one_device():
    result = data_parallel.benchmark(devices=2, limit=256, test_limit=64, epochs=2, batch_size=64)
    dp, one = result["data_parallel"], result["one_device"]
    assert dp["devices"] == ["cpu:0", "cpu:1"] and dp["mesh"] == {"batch": 2}
    # every variable is replicated on both devices; on one device it lives on one
    assert dp["variable_device_counts"] == [2] and one["variable_device_counts"] == [1]
    # every batch fed to the train step was split in half across the two devices
    assert dp["distributed_batches"] >= 2 * (256 // 64) and one["distributed_batches"] == 0
    assert dp["batch_device_sets"] == [["cpu:0", "cpu:1"]]
    assert dp["batch_shard_rows"] == [[32, 32]]
    assert result["all_devices_used"] is True
    # the same global batches, the same seed: the same model up to summation order
    assert abs(result["accuracy_difference"]) <= 0.02
    assert dp["test_loss"] == pytest.approx(one["test_loss"], rel=1e-3)


def test_uneven_batches_are_refused_with_a_clear_message():
    proc = _python(
        "from toolkit.devices import setup_data_parallel, check_data_parallel_batches\n"
        "from toolkit.errors import RunError\n"
        "assert len(setup_data_parallel('all')) == 2\n"
        "check_data_parallel_batches(128, 64)\n"
        "try:\n"
        "    check_data_parallel_batches(101, 16)\n"
        "except RunError as exc:\n"
        "    print('refused:', exc)\n"
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "refused: data-parallel training splits every batch over 2 devices" in proc.stdout
    assert "last batch (5 of 101 samples)" in proc.stdout


def test_cli_devices_all_runs_data_parallel(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "toolkit",
            "run",
            "ae-mnist",
            "--quick",
            "--devices",
            "all",
            "--epochs",
            "1",
            "--set",
            "dataset=shapes",
            "--set",
            "limit=256",
            "--set",
            "test_limit=64",
            "--set",
            "code_sizes=8",
            "--out",
            str(tmp_path),
        ],
        cwd=REPO,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    (run_id,) = os.listdir(tmp_path / "ae-mnist")
    with open(tmp_path / "ae-mnist" / run_id / "env.json") as fh:
        env = json.load(fh)
    assert env["backend"] == "jax" and env["data_parallel_devices"] == ["cpu:0", "cpu:1"]


def test_devices_all_on_one_tensorflow_cpu_is_a_plain_run():
    import keras

    from toolkit import parallel
    from toolkit.devices import setup_data_parallel
    from toolkit.errors import ToolkitError

    if keras.backend.backend() != "tensorflow":
        pytest.skip("checks TensorFlow with one device")
    try:
        assert setup_data_parallel("all") == []  # one CPU: nothing to mirror over
        assert parallel.current().strategy is None
        with pytest.raises(ToolkitError, match="devices"):
            setup_data_parallel("some")
    finally:
        parallel.setup()  # back to one process, one device
