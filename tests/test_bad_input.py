"""A corpus of bad input: every answer is one line naming what was received.

Public functions raise :class:`ToolkitError` (one line); the CLI prints exactly one
``error: ...`` line and exits with status 2, no traceback. The CLI cases run through
``toolkit.cli.main`` inside one subprocess (one TensorFlow import for all of them).
"""

import contextlib
import gzip
import json
import os
import struct
import subprocess
import sys

import numpy as np
import pytest

import toolkit
from tests.harness import REPO
from toolkit.errors import ToolkitError

FUNCTION_CASES = [
    ("load_dataset name", lambda: toolkit.load_dataset("mnits"), "'mnits'"),
    ("load_dataset limit", lambda: toolkit.load_dataset("shapes", limit=0), "received 0"),
    ("load_dataset data_dir", lambda: toolkit.load_dataset("mnist", data_dir="/no/such/dir"), "/no/such/dir"),
    ("get_activation", lambda: toolkit.get_activation("sigmoidd"), "'sigmoidd'"),
    ("build_model name", lambda: toolkit.build_model("resnet21"), "'resnet21'"),
    ("build_model option", lambda: toolkit.build_model("resnet20", bogus=1), "bogus"),
    (
        "build_cnn impossible",
        lambda: toolkit.build_cnn(input_shape=(8, 8, 1), blocks=[{"filters": 4, "pool": "max"}] * 5),
        "block4",
    ),
    ("augmentation key", lambda: toolkit.augmentation(rotaton=0.1), "rotaton"),
    ("stacked units", lambda: toolkit.build_stacked_autoencoder(784, (64, 0)), "(64, 0)"),
    ("conv ae shape", lambda: toolkit.build_conv_autoencoder((28, 28)), "(28, 28)"),
    ("mlp units", lambda: toolkit.build_mlp(784, (0,)), "(0,)"),
    ("kl rho", lambda: __import__("toolkit.regularizers").regularizers.KLSparsityRegularizer(rho=1.5), "1.5"),
    ("sparsity kind", lambda: __import__("toolkit.regularizers").regularizers.sparsity_regularizer("l3"), "'l3'"),
    ("train_val_split", lambda: toolkit.train_val_split(np.zeros(4), np.zeros(4), val_fraction=1.5), "1.5"),
    ("apply_kernels", lambda: toolkit.apply_kernels(np.zeros(5), "sobel_x"), "(5,)"),
    ("load_model missing", lambda: toolkit.load_model("/no/model.keras"), "/no/model.keras"),
    ("load_model format", lambda: toolkit.load_model(__file__), "test_bad_input.py"),
    (
        "config key",
        lambda: __import__("toolkit.runs.spec").runs.spec.resolve_config(
            __import__("experiments").get_experiment("ae-mnist"), overrides=["epoch=2"]
        ),
        "Did you mean 'epochs'",
    ),
]


@pytest.mark.parametrize("call, received", [c[1:] for c in FUNCTION_CASES], ids=[c[0] for c in FUNCTION_CASES])
def test_public_functions_answer_bad_input_with_one_line(call, received):
    with pytest.raises(ToolkitError) as err:
        call()
    message = str(err.value)
    assert "\n" not in message and received in message, message


def _idx(array):
    array = np.asarray(array, np.uint8)
    return bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def _broken_data_dir(root, kind):
    folder = root / kind / "fashion-mnist"  # no published MD5: the reader's own checks answer
    os.makedirs(folder)
    files = {
        "train-images-idx3-ubyte": _idx(np.zeros((4, 28, 28))),
        "train-labels-idx1-ubyte": _idx([0, 1, 2, 3]),
        "t10k-images-idx3-ubyte": _idx(np.zeros((2, 28, 28))),
        "t10k-labels-idx1-ubyte": _idx([0, 1]),
    }
    if kind == "truncated":
        files["train-images-idx3-ubyte"] = files["train-images-idx3-ubyte"][:-100]
    elif kind == "corrupt":
        files["t10k-labels-idx1-ubyte"] = b"\x00\x00\x0d\x01" + b"\xff" * 20
    elif kind == "missing":
        del files["t10k-images-idx3-ubyte"]
    for name, data in files.items():
        (folder / (name + ".gz")).write_bytes(gzip.compress(data))
    if kind == "badgzip":
        (folder / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(files["train-labels-idx1-ubyte"])[:-9])
    return str(root / kind)


DRIVER = r"""
import contextlib, io, json, sys, traceback
from toolkit.cli import main
results = []
for argv in json.loads(sys.argv[1]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code
        except BaseException:
            traceback.print_exc()
            code = "raised"
    results.append([code, err.getvalue()])
print(json.dumps(results))
"""


def test_cli_answers_a_corpus_of_bad_input_with_one_line_and_exit_2(tmp_path):
    out = str(tmp_path / "reports")
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    quick = ["--quick", "--set", "dataset=shapes", "--set", "limit=20", "--set", "test_limit=10", "--out", out]
    cases = [
        (["run", "ae-mnsit", "--out", out], "unknown experiment 'ae-mnsit'"),
        (["run", "ae-mnist", "--set", "epochs=abc", "--out", out], "epochs=abc: expected an integer"),
        (["run", "ae-mnist", "--set", "code_sizes=4,0", "--out", out], "code_sizes must be whole numbers >= 1"),
        (["run", "ae-mnist", "--set", "batch_size=0", "--out", out], "batch_size must be whole numbers >= 1"),
        (["run", "ae-mnist", "--set", "code_size=3", "--out", out], "Did you mean 'code_sizes'"),
        (["run", "ae-mnist", "--set", "deep_units=[1,", "--out", out], "not valid JSON list"),
        (["run", "ae-mnist", "--set", "dataset=mnits", "--out", out], "unknown dataset 'mnits'"),
        (["run", "sparse-ae-mnist", "--set", "rho=1.5", "--out", out], "rho must be in (0, 1); received 1.5"),
        (["run", "ae-mnist", "--epochs", "0", "--out", out], "--epochs must be >= 1; received 0"),
        (["run", "cnn-mnist", *quick, "--set", "schedule=cosine"], "unknown schedule 'cosine'"),
        (
            ["run", "cnn-mnist", *quick, "--set", "epochs=2", "--set", "warmup=5"],
            "warmup_epochs must be in [0, epochs=2)",
        ),
        (["run", "zoo-cifar10", *quick, "--set", "optimizer=adagrad"], "unknown optimizer 'adagrad'"),
        (["run", "ae-mnist", *quick, "--set", "shallow_activation=sigmoidd"], "unknown activation 'sigmoidd'"),
        (["run", "ae-mnist", "--out", str(blocker / "reports")], "cannot be written"),
        (["report", str(tmp_path / "nope")], "no report.json"),
        (["run", "ae-mnist", "--frobnicate"], "unrecognized arguments: --frobnicate"),
        # nesting: too deep for the JSON parser (RecursionError), and parsed but too deep
        (["run", "ae-mnist", "--set", "code_sizes=" + "[" * 50_000 + "]" * 50_000, "--out", out], "not valid JSON"),
        (["run", "ae-mnist", "--set", "code_sizes=" + "[" * 10 + "4" + "]" * 10, "--out", out], "nested more than"),
        # seeds and epochs out of range: refused before the run folder is made
        (["run", "ae-mnist", "--set", "seed=-1", "--out", out], "seed must be whole numbers >= 0; received -1"),
        (["run", "ae-mnist", "--seed", "-1", "--out", out], "seed must be whole numbers >= 0; received -1"),
        (["run", "ae-mnist", "--seed", str(2**40), "--out", out], f"received {2**40}"),
        (["run", "ae-mnist", "--set", f"seed={2**40}", "--out", out], f"received {2**40}"),
        (["run", "ae-mnist", "--epochs", str(10**23), "--out", out], "epochs must be whole numbers in [1, 100000]"),
        (["run", "ae-mnist", "--epochs", "10**23", "--out", out], "invalid int value"),
        # augmentation numbers that are not numbers: refused before any model trains
        (["run", "augment-cifar10", *quick, "--set", "rotation=nan"], "rotation must be finite numbers"),
        (["run", "augment-cifar10", *quick, "--set", "zoom=inf"], "zoom must be in [0, 1); received inf"),
        (["run", "augment-cifar10", *quick, "--set", "rotations=[5, NaN]"], "rotations must be finite numbers"),
        (["run", "augment-cifar10", *quick, "--set", "rotations=[5, Infinity]"], "rotations must be finite"),
        # a layer too wide for its bounds (a wide one within them is the memory estimate's: test_hardening)
        (["run", "sparse-ae-mnist", "--set", "hidden_units=1500000", "--out", out], "hidden_units must be whole"),
    ]
    for kind, expect in (
        ("truncated", "truncated"),
        ("corrupt", "bad IDX magic"),
        ("missing", "incomplete"),
        ("badgzip", "corrupt or truncated gzip"),
    ):
        data_dir = _broken_data_dir(tmp_path, kind)
        cases.append(
            (
                ["run", "ae-mnist", "--quick", "--set", "dataset=fashion_mnist", "--data-dir", data_dir, "--out", out],
                expect,
            )
        )
    # read-only folders (as root chmod does not stop writes: read-only bind mounts)
    with contextlib.ExitStack() as mounts:
        for argv, expect in _read_only_cases(tmp_path, mounts, quick):
            cases.append((argv, expect))
        # raw HTML in a run folder someone else made: report.md escapes it (exit 0)
        hostile = _hostile_run(tmp_path / "hostile" / "ae-mnist" / "r1")
        ok_cases = [["report", hostile]]
        env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND="tensorflow")
        done = subprocess.run(
            [sys.executable, "-c", DRIVER, json.dumps([c[0] for c in cases] + ok_cases)],
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
            cwd=REPO,
        )
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout.strip().splitlines()[-1])
    results, ok_results = results[: len(cases)], results[len(cases) :]
    assert [r[0] for r in ok_results] == [0], ok_results
    md = open(os.path.join(hostile, "report.md")).read()
    assert "<script" not in md and "&lt;script>" in md, md
    failures = []
    for (argv, expect), (code, stderr) in zip(cases, results):
        lines = stderr.strip().splitlines()
        if not (
            code == 2
            and len(lines) == 1
            and lines[0].startswith("error: ")
            and expect in lines[0]
            and "Traceback" not in stderr
        ):
            failures.append(f"{argv[:4]}: exit {code}, stderr {stderr[:2000]!r}")
    assert not failures, "\n".join(failures)
    # a run folder that says failed, or none
    for root in (out, str(tmp_path / "ro-run")):
        for dirpath, _, files in os.walk(root):
            if "config.json" in files or "status.json" in files:
                with open(os.path.join(dirpath, "status.json")) as fh:
                    assert json.load(fh)["status"] == "failed", dirpath


def _read_only_cases(tmp_path, mounts, quick):
    """CLI cases on read-only folders (root only: a read-only bind mount; none otherwise)."""
    if os.geteuid() != 0:
        return []
    run_sub = tmp_path / "ro-run" / "ae-mnist"  # the experiment's folder exists but is read-only
    run_sub.mkdir(parents=True)
    index_dir = tmp_path / "ro-index"  # a reports folder `toolkit index` cannot write
    index_dir.mkdir()
    cases = []
    for folder, argv in (
        (run_sub, ["run", "ae-mnist", *quick[:-1], str(tmp_path / "ro-run")]),
        (index_dir, ["index", str(index_dir)]),
    ):
        if subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True).returncode:
            continue
        mounts.callback(subprocess.run, ["umount", "-l", str(folder)], capture_output=True)
        if subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)], capture_output=True).returncode:
            continue
        cases.append((argv, "read-only file system"))
    return cases


def _hostile_run(path):
    os.makedirs(path)
    xss = "<script>alert(1)</script>"
    files = {
        "config.json": {},
        "status.json": {"status": "failed", "error": xss},
        "report.json": {"name": "ae-mnist", "title": xss, "observations": [xss], "error": xss},
    }
    for name, data in files.items():
        with open(os.path.join(path, name), "w") as fh:
            json.dump(data, fh)
    return str(path)
