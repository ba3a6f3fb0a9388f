"""Multi-process data parallelism (``toolkit.parallel``, ``python -m toolkit launch``).

The run tests start real processes through the CLI on the embedded ``shapes`` set: two local
processes talk through the same collectives two machines would (JAX: gloo; TensorFlow:
``MultiWorkerMirroredStrategy`` over gRPC). Marked ``backends``: ``make test`` runs them on
TensorFlow and again on JAX.
"""

import csv
import glob
import json
import os
import re
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from tests.harness import REPO
from toolkit import parallel
from toolkit.data.pipeline import ShardedEpochs
from toolkit.errors import RunError
from toolkit.runs.execute import run_experiment
from toolkit.runs.experiment import get_experiment
from toolkit.runs.spec import resolve_config

# 1,024 images in batches of 32 (every global batch splits 16 + 16), 3 epochs: both models
# learn well above chance (CNN ~0.87, MLP ~0.66 on one process), so the comparison means something
ROWS = 1024
SETS = [f"limit={ROWS}", "dataset=shapes", "test_limit=256", "batch_size=32", "shifts=0,2", "rotations=0,45"]
EPOCHS = 3
ARGS = ["cnn-mnist", "--quick", "--epochs", str(EPOCHS), *(a for s in SETS for a in ("--set", s))]
# stated tolerance: the 2-process run trains on the same global batches in another order
# than Keras's own shuffle of the 1-process run (and sums gradients in another order)
ACCURACY_TOLERANCE = 0.10
KILL_BOUND_S = 60  # launch's GRACE (10 s) + start-up, on a loaded 2-core machine
# one small epoch: the strategy is used and the run completes (that it learns is the test above's)
SMALL_SETS = ["dataset=shapes", "limit=256", "test_limit=64", "batch_size=32", "shifts=0", "rotations=0"]
SMALL = ["cnn-mnist", "--quick", "--epochs", "1", *(a for s in SMALL_SETS for a in ("--set", s))]


def _env():
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": keras.backend.backend()}


def _toolkit(*args, timeout=600):
    return subprocess.run(
        [sys.executable, "-m", "toolkit", *args],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _runs(out):
    return sorted(glob.glob(os.path.join(str(out), "cnn-mnist", "*", "config.json")))


def _read(folder, name):
    with open(os.path.join(folder, name)) as fh:
        return json.load(fh)


# --- the feed -----------------------------------------------------------------------------


def test_sharded_epochs_partition_every_global_batch():
    x = np.arange(40).reshape(20, 2)
    y = np.arange(20)
    a = ShardedEpochs((x, y), batch_size=8, seed=3, shards=2, shard=0)
    b = ShardedEpochs((x, y), batch_size=8, seed=3, shards=2, shard=1)
    assert a.num_batches == 3  # 8, 8 and a last batch of 4
    for epoch in (0, 1):
        order = a.order(epoch)
        np.testing.assert_array_equal(order, b.order(epoch))  # the same permutation everywhere
        for step in range(3):
            batch = order[step * 8 : (step + 1) * 8]
            # the two parts are the global batch's halves, in order
            np.testing.assert_array_equal(np.concatenate([a.part(step, epoch), b.part(step, epoch)]), batch)
    assert not np.array_equal(a.order(0), a.order(1))  # a new order every epoch
    assert np.array_equal(a.order(1), ShardedEpochs((x, y), 8, seed=3).order(1))  # seeded by (seed, epoch)


def test_sharded_epochs_count_the_rows_read_and_feed_pieces():
    x = np.arange(24, dtype="float32").reshape(12, 2)
    y = np.arange(12)
    feed = ShardedEpochs((x, y), batch_size=8, seed=0, shards=2, shard=1, pieces=2)
    feed.read(0)  # Keras peeks at a first batch before any epoch (a resumed fit: before epoch k)
    assert feed.counts() == {}
    for epoch in (0, 1):
        feed.callback.on_epoch_begin(epoch)
        for step in range(feed.num_batches):
            pieces = feed.read(step)
            assert len(pieces) == 2 and all(len(p[0]) == len(p[1]) for p in pieces)
            rows = np.concatenate([p[1] for p in pieces])
            np.testing.assert_array_equal(rows, feed.part(step))  # y is the row index
            np.testing.assert_array_equal(np.concatenate([p[0] for p in pieces]), x[rows])
        feed.read(0)  # read again (Keras peeks at a first batch): counted once
    assert feed.counts() == {1: 6, 2: 6}  # 4 of the first batch of 8, 2 of the last of 4


def test_each_process_reports_its_rows_and_the_greedy_stages_do_too(monkeypatch, capsys):
    from toolkit.autoencoders import build_stacked_autoencoder
    from toolkit.data import pipeline
    from toolkit.pretraining import greedy, pretrain_greedy

    x = np.arange(24, dtype="float32").reshape(12, 2)
    feed = ShardedEpochs((x, np.arange(12)), batch_size=8, seed=0, shards=2, shard=1)
    for epoch in (0, 1):
        feed.callback.on_epoch_begin(epoch)
        for step in range(feed.num_batches):
            feed.read(step)
    assert pipeline.report_rows_read("cnn", [feed.callback]) == []  # one process: nothing to say
    monkeypatch.setattr(parallel, "_CURRENT", parallel.Parallel(processes=2, process_id=1))
    line = "[cnn] process 1 of 2 read epoch 1: 6, epoch 2: 6 (of 12 rows)"
    assert pipeline.report_rows_read("cnn", [keras.callbacks.Callback(), feed.callback]) == [line]
    assert capsys.readouterr().out == line + "\n"

    monkeypatch.setattr(parallel, "_CURRENT", parallel.Parallel())
    heard = []
    monkeypatch.setattr(greedy, "report_rows_read", lambda label, callbacks: heard.append((label, len(callbacks))))
    data = np.random.default_rng(0).uniform(size=(32, 6)).astype("float32")
    pretrain_greedy(build_stacked_autoencoder(6, (4, 2)), data, epochs=1, batch_size=8, verbose=1)
    assert [label for label, _ in heard] == ["stage1", "stage2"]  # after each stage, with fit_inputs' callbacks
    heard.clear()
    pretrain_greedy(build_stacked_autoencoder(6, (4, 2)), data, epochs=1, batch_size=8, verbose=0)
    assert heard == []


def test_uneven_parts_are_refused_before_training(monkeypatch):
    monkeypatch.setattr(parallel, "_CURRENT", parallel.Parallel(processes=2, devices=["a", "b"]))
    parallel.check_batches(128, 32)
    with pytest.raises(RunError, match=r"splits every batch over 2 devices: .*last batch \(5 of 101"):
        parallel.check_batches(101, 16)


# --- where a process learns its place -----------------------------------------------------


@pytest.fixture
def clean_cluster_env(monkeypatch):
    for name in (parallel.ADDRESSES_VAR, parallel.PROCESSES_VAR, parallel.PROCESS_ID_VAR, "TF_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_cluster_from_arguments_environment_and_tf_config(clean_cluster_env):
    assert parallel.cluster() is None
    assert parallel.cluster("h:1", 2, 1) == (["h:1"], 2, 1)
    assert parallel.cluster("h:1", 1, 0) is None  # one process is a plain run
    clean_cluster_env.setenv(parallel.ADDRESSES_VAR, "a:1,b:2")
    clean_cluster_env.setenv(parallel.PROCESSES_VAR, "2")
    clean_cluster_env.setenv(parallel.PROCESS_ID_VAR, "0")
    assert parallel.cluster() == (["a:1", "b:2"], 2, 0)
    for name in (parallel.ADDRESSES_VAR, parallel.PROCESSES_VAR, parallel.PROCESS_ID_VAR):
        clean_cluster_env.delenv(name)
    clean_cluster_env.setenv(
        "TF_CONFIG", json.dumps({"cluster": {"worker": ["a:1", "b:2", "c:3"]}, "task": {"type": "worker", "index": 2}})
    )
    assert parallel.cluster() == (["a:1", "b:2", "c:3"], 3, 2)


@pytest.mark.parametrize(
    "args, message",
    [
        (("h:1", 2, None), "needs all three"),
        (("h:1", 2, 2), "--process-id must be below --num-processes"),
        (("h:1", "two", 0), "--num-processes must be an integer"),
        (("nohost", 2, 0), "HOST:PORT"),
        (("a:1,b:2,c:3", 2, 0), "lists 3 addresses for 2 processes"),
    ],
)
def test_bad_cluster_settings_get_one_line(clean_cluster_env, args, message):
    with pytest.raises(RunError, match=message):
        parallel.cluster(*args)


def test_bad_tf_config_gets_one_line(clean_cluster_env):
    clean_cluster_env.setenv("TF_CONFIG", "{not json")
    with pytest.raises(RunError, match="TF_CONFIG must be JSON"):
        parallel.cluster()


def test_launch_refuses_what_it_cannot_start():
    proc = _toolkit("launch", "--processes", "2", "list", timeout=60)
    assert proc.returncode == 2 and proc.stderr.startswith("error: launch starts a run:"), proc.stderr
    proc = _toolkit("launch", "--processes", "0", "run", "cnn-mnist", timeout=60)
    assert proc.returncode == 2 and "--processes must be an integer >= 1" in proc.stderr, proc.stderr


# --- real runs of two processes -----------------------------------------------------------


def _epochs_done(out):
    metas = glob.glob(os.path.join(str(out), "cnn-mnist", "*", "checkpoints", "cnn", "training_metadata.json"))
    return bool(metas)


def _launch_and_kill_process_1(out):
    """Launch the 2-process run and SIGKILL process 1 once the CNN's first epoch is
    checkpointed; return the launcher's exit code, its stderr and the seconds from the kill
    to its exit."""
    launcher = subprocess.Popen(
        [sys.executable, "-m", "toolkit", "launch", "--processes", "2", "run", *ARGS, "--out", str(out)],
        cwd=REPO,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        pids = {}
        while len(pids) < 2:
            line = launcher.stdout.readline()
            assert line, launcher.stderr.read()[-2000:]
            found = re.match(r"launch: process (\d) of 2 is pid (\d+)", line)
            if found:
                pids[int(found.group(1))] = int(found.group(2))
        deadline = time.monotonic() + 300
        while not _epochs_done(out) and launcher.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert launcher.poll() is None, "the run ended before a checkpoint could be waited for"
        os.kill(pids[1], signal.SIGKILL)
        killed = time.monotonic()
        _, err = launcher.communicate(timeout=KILL_BOUND_S)
        return launcher.returncode, err, time.monotonic() - killed
    finally:
        if launcher.poll() is None:
            launcher.kill()


def test_the_copy_for_another_process_leaves_out_what_is_in_flight(tmp_path, monkeypatch):
    """Process 1 copies process 0's unfinished folder while process 0 resumes in it: the
    lock, the reserve, atomic writes' temporary files and a checkpoint's partial weights
    stay out, and a file deleted between the listing and its copy is skipped, not an error."""
    import shutil

    from toolkit.runs import guard
    from toolkit.runs.folder import RunFolder

    source = tmp_path / "out" / "cnn-mnist" / "20261201-000000"
    (source / "checkpoints" / "cnn").mkdir(parents=True)
    names = ["config.json", "status.json", ".lock", ".reserve", ".partial-x1-config.json", "gone.json"]
    names += ["checkpoints/cnn/epoch.json", "checkpoints/cnn/partial-3.weights.h5"]
    for name in names:
        (source / name).write_text(name)
    copy2 = shutil.copy2

    def vanishing(src, dst, **kwargs):
        if src.endswith("gone.json"):
            raise FileNotFoundError(src)  # process 0 deleted it meanwhile
        return copy2(src, dst, **kwargs)

    monkeypatch.setattr(shutil, "copy2", vanishing)
    copy = RunFolder(str(source)).copy_to(str(tmp_path / "scratch"))
    assert copy.path == str(tmp_path / "scratch" / "cnn-mnist" / "20261201-000000")
    copied = sorted(os.path.relpath(os.path.join(d, f), copy.path) for d, _, fs in os.walk(copy.path) for f in fs)
    assert copied == ["checkpoints/cnn/epoch.json", "config.json", "status.json"]
    assert open(os.path.join(copy.path, "config.json")).read() == "config.json"
    assert guard.LOCK == ".lock" and guard.RESERVE == ".reserve"


@pytest.mark.backends
def test_two_processes_killed_resumed_and_finished_match_one_process(tmp_path):
    """The issue's four checks in one scenario (two launches, not four): a killed process
    ends the run in bounded time; ``--resume`` finishes it in the same folder; each process
    read half of every epoch's rows; the result matches one process's within the tolerance."""
    code, err, elapsed = _launch_and_kill_process_1(tmp_path / "two")
    assert code != 0
    assert "error: launch: process 1 was killed by SIGKILL; the run stopped (all 2 processes)" in err, err[-2000:]
    assert elapsed < KILL_BOUND_S
    (config,) = _runs(tmp_path / "two")
    folder = os.path.dirname(config)
    assert _read(folder, "status.json")["status"] != "complete"

    two = _toolkit("launch", "--processes", "2", "run", *ARGS, "--out", str(tmp_path / "two"), "--resume")
    assert two.returncode == 0, two.stdout[-3000:] + two.stderr[-2000:]
    assert f"[0] resuming {folder}" in two.stdout
    assert "[1] resumed from the checkpoint after epoch" in two.stdout  # process 1 too, from process 0's
    # one run folder, written by process 0 only; the other process said so and left nothing
    assert _runs(tmp_path / "two") == [config]
    assert set(os.listdir(tmp_path / "two")) <= {"cnn-mnist", "index.html", "claims.json"}
    assert "[1] done (process 0 writes the run folder)" in two.stdout and two.stdout.count("report: ") == 1
    assert _read(folder, "status.json")["status"] == "complete"
    env = _read(folder, "env.json")
    assert env["processes"] == 2 and env["process_id"] == 0 and len(env["data_parallel_devices"]) == 2
    assert "python -m toolkit launch --processes 2 run cnn-mnist" in env["command"]
    with open(os.path.join(folder, "history.csv")) as fh:
        assert [int(r["epoch"]) for r in csv.DictReader(fh) if r["label"] == "cnn"] == list(range(1, EPOCHS + 1))

    # each process read half of every epoch's training images, counted by its feed: the MLP
    # all its epochs, the CNN the epochs after the checkpoint it resumed from
    read = re.findall(r"^\[(\d)\] \[(\w+)\] process (\d) of 2 read (.*) \(of (\d+) rows\)$", two.stdout, re.M)
    assert sorted((m[0], m[1]) for m in read) == [("0", "cnn"), ("0", "mlp"), ("1", "cnn"), ("1", "mlp")]
    half = ROWS // 2
    for prefix, model, process, counts, total in read:
        assert prefix == process and total == str(ROWS)
        epochs = range(1, EPOCHS + 1) if model == "mlp" else range(EPOCHS + 1 - counts.count("epoch"), EPOCHS + 1)
        assert counts == ", ".join(f"epoch {e}: {half}" for e in epochs), counts
        assert model == "mlp" or "epoch 1:" not in counts  # the CNN's first epoch came from the checkpoint

    # the same test accuracy as the run as one process, within the stated tolerance
    exp = get_experiment("cnn-mnist")
    one = run_experiment(exp, resolve_config(exp, True, SETS, EPOCHS), out_root=str(tmp_path / "one"))
    acc_one = _read(one, "metrics.json")["test_accuracy"]
    acc_two = _read(folder, "metrics.json")["test_accuracy"]
    for model in ("cnn", "mlp"):
        assert abs(acc_two[model] - acc_one[model]) <= ACCURACY_TOLERANCE, (model, acc_one, acc_two)
    assert acc_two["cnn"] > 0.5  # it learned (chance is 0.1)


def test_devices_all_mirrors_over_two_logical_cpus_on_tensorflow(tmp_path):
    if keras.backend.backend() != "tensorflow":
        pytest.skip("MirroredStrategy is TensorFlow's")
    code = (
        "import tensorflow as tf, sys\n"
        "cpu = tf.config.list_physical_devices('CPU')[0]\n"
        "tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)\n"
        "from toolkit.cli import main\n"
        f"sys.exit(main(['run', *{SMALL!r}, '--devices', 'all', '--out', {str(tmp_path)!r}]))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=_env(), capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    (config,) = _runs(tmp_path)
    env = _read(os.path.dirname(config), "env.json")
    assert env["strategy"] == "MirroredStrategy" and len(env["data_parallel_devices"]) == 2
    assert "[cnn] training 1 epoch(s)" in proc.stdout and _read(os.path.dirname(config), "status.json")["status"] == (
        "complete"
    )


def test_a_peer_failure_is_told_in_one_line():
    from toolkit.runs.execute import _failure_message, _peer_failure

    par = parallel.Parallel(processes=2, process_id=1)
    tf_like = RuntimeError(
        "Graph execution error:\n\nDetected at node CollectiveReduceV2 defined at ...\n"
        "Collective ops is aborted by: The following tasks are unhealthy (stopped sending heartbeats):\n"
        "/job:worker/replica:0/task:0\n\t [[{{node CollectiveReduceV2}}]]"
    )
    message, disk = _failure_message(tf_like, par)
    assert not disk and "\n" not in message and _peer_failure(tf_like, par)
    assert message.startswith("process 1 of 2 stopped: RuntimeError: Collective ops is aborted by")
    assert message.endswith("rerun every process with --resume to continue")
    # one process: the error is the error
    assert _failure_message(tf_like, parallel.Parallel())[0].startswith("RuntimeError: Graph execution error")
    assert not _peer_failure(KeyboardInterrupt(), par) and not _peer_failure(RunError("x"), par)
