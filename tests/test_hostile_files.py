"""Hostile files: decompression bombs, huge sparse files and impostors cost no memory.

Each hostile case runs in a fresh Python process under a 3 GB address-space cap set before
anything heavy is imported, and must end in the toolkit's one-line error (``DataError`` or
``ToolkitError``: exit status 2, no traceback) with a peak resident set under 1 GB. The
bombs are small on disk: a gzip bomb is 32 copies of one 64 MiB gzip member of zeros
(gzip allows several members back to back), a huge file is sparse (``os.truncate``).
"""

import gzip
import io
import json
import os
import struct
import subprocess
import sys
import tarfile
import zipfile

import numpy as np
import pytest

from toolkit import saving
from toolkit.data import cifar, idx
from toolkit.errors import DataError, ToolkitError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CAP = 3 * 10**9  # RLIMIT_AS of the child: under 3 GiB, so an unbounded read of a 3 GiB file fails
PEAK_LIMIT_KB = 1 << 20  # 1 GiB of peak RSS
GIB = 1 << 30

# Peak RSS is read from VmHWM (this process image's high-water mark): getrusage's ru_maxrss
# would also count the forked test process (TensorFlow loaded), which exec does not reset.
CHILD = r"""
import atexit, resource, sys
resource.setrlimit(resource.RLIMIT_AS, ({cap}, {cap}))
def peak():
    with open("/proc/self/status") as fh:
        kb = [line.split()[1] for line in fh if line.startswith("VmHWM:")][0]
    print("peak_rss_kb", kb, file=sys.stderr)
atexit.register(peak)
sys.path.insert(0, {repo!r})
from toolkit.errors import ToolkitError
try:
    {call}
except ToolkitError as exc:
    print(type(exc).__name__ + ": " + str(exc))
    sys.exit(2)
print("no error")
"""


def run_hostile(call, expect_type, *expect):
    """Run ``call`` (one line of Python) in a capped child; check its error and peak RSS."""
    code = CHILD.format(cap=CAP, repo=REPO, call=call)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND=os.environ.get("KERAS_BACKEND", "tensorflow"))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    peak = [int(line.split()[1]) for line in proc.stderr.splitlines() if line.startswith("peak_rss_kb ")]
    out = proc.stdout.strip()
    assert "Traceback" not in proc.stderr and proc.returncode == 2, (proc.returncode, out, proc.stderr[-3000:])
    assert "\n" not in out and out.startswith(expect_type + ": "), out
    for part in expect:
        assert part in out, (part, out)
    assert peak and peak[0] < PEAK_LIMIT_KB, f"peak RSS {peak} kB: {out}"
    print(f"peak RSS {peak[0] / 1024:.0f} MB: {out}")  # shown with -s
    return out, peak[0]


def idx_bytes(array):
    array = np.asarray(array, np.uint8)
    return bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def write_idx_folder(folder):
    """A valid Fashion-MNIST-style folder (20 train, 10 test images), gzipped."""
    os.makedirs(folder, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": np.zeros((20, 28, 28)),
        "train-labels-idx1-ubyte": np.arange(20) % 10,
        "t10k-images-idx3-ubyte": np.zeros((10, 28, 28)),
        "t10k-labels-idx1-ubyte": np.arange(10) % 10,
    }
    for name, array in arrays.items():
        with open(os.path.join(folder, name + ".gz"), "wb") as fh:
            fh.write(gzip.compress(idx_bytes(array)))


def gzip_bomb(head, gib=2):
    """gzip data: ``head`` then ``gib`` GiB of zeros, as 1 + 32 * gib gzip members (~1 MB a GiB)."""
    member = gzip.compress(bytes(64 << 20), compresslevel=9)
    return gzip.compress(head) + member * (16 * gib)


# IDX: MNIST and Fashion-MNIST


@pytest.mark.parametrize(
    "head, expect",
    [
        (idx_bytes(np.zeros((20, 28, 28))), ("header (20, 28, 28) needs 15696 bytes, file has more (trailing data)",)),
        (bytes([0, 0, 8, 3]) + struct.pack(">3I", 60000 * 100, 28, 28), ("header (6000000, 28, 28) promises", "limit")),
    ],
    ids=["valid-header-then-2GiB", "header-promising-4.7GB"],
)
def test_gzip_bomb_in_place_of_the_mnist_images(tmp_path, head, expect):
    folder = tmp_path / "fashion-mnist"
    write_idx_folder(folder)
    path = folder / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip_bomb(head))
    assert path.stat().st_size < 3 << 20
    run_hostile(
        f"import toolkit; toolkit.load_dataset('fashion_mnist', data_dir={str(tmp_path)!r})",
        "DataError",
        str(path),
        *expect,
    )


def test_truncated_idx_promising_much(tmp_path):
    """The header promises 200,000 images (157 MB), the file holds 100: refused, without
    the promised size ever being resident."""
    folder = tmp_path / "fashion-mnist"
    write_idx_folder(folder)
    path = folder / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(bytes([0, 0, 8, 3]) + struct.pack(">3I", 200000, 28, 28) + bytes(100 * 784)))
    out, peak = run_hostile(
        f"import toolkit; toolkit.load_dataset('fashion_mnist', data_dir={str(tmp_path)!r})",
        "DataError",
        str(path),
        "needs 156800016 bytes, file has 78416 (truncated)",
    )
    assert peak < 150 << 10, peak  # well under the 157 MB the header promised


def test_over_long_raw_idx_is_refused_by_its_size_on_disk(tmp_path):
    """A raw (not gzipped) IDX with a valid header, made 3 GiB long (sparse: no disk used)."""
    folder = tmp_path / "fashion-mnist"
    write_idx_folder(folder)
    os.remove(folder / "train-images-idx3-ubyte.gz")
    path = folder / "train-images-idx3-ubyte"
    path.write_bytes(idx_bytes(np.zeros((20, 28, 28))))
    os.truncate(path, 3 * GIB)
    run_hostile(
        f"import toolkit; toolkit.load_dataset('fashion_mnist', data_dir={str(tmp_path)!r})",
        "DataError",
        str(path),
        f"needs 15696 bytes, file has {3 * GIB} (trailing data)",
    )


def test_idx_truncated_and_over_long_in_process(tmp_path):
    """The streaming reader's own answers, raw and gzipped, at both ends."""
    good = idx_bytes(np.arange(5 * 28 * 28).reshape(5, 28, 28) % 256)
    for name, data, expect in [
        ("short", good[:-1], "file has 3935 (truncated)"),
        ("long", good + b"\0", "file has 3937 (trailing data)"),
    ]:
        raw = tmp_path / name
        raw.write_bytes(data)
        with pytest.raises(DataError, match=f"needs 3936 bytes, {expect.replace('(', '.').replace(')', '.')}"):
            idx.read_idx(str(raw), 3, (28, 28))
        gz = tmp_path / (name + ".gz")
        gz.write_bytes(gzip.compress(data))
        with pytest.raises(DataError, match="truncated" if name == "short" else "file has more .trailing data."):
            idx.read_idx(str(gz), 3, (28, 28))
    exact = tmp_path / "exact.gz"
    exact.write_bytes(gzip.compress(good))
    expected = np.frombuffer(good[16:], np.uint8).reshape(5, 28, 28)
    np.testing.assert_array_equal(idx.read_idx(str(exact), 3, (28, 28)), expected)
    with pytest.raises(DataError, match="over the 1000-byte limit"):
        idx.read_idx(str(exact), 3, (28, 28), max_bytes=1000)
    with pytest.raises(DataError, match="promises 18446744065119617025 bytes"):
        idx.parse_idx(b"\0\0\x08\x02" + b"\xff" * 8, "f", 2)  # (2**32-1)**2: no int64 overflow


# CIFAR-10


def _cifar_folder(tmp_path):
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    for name in [f"data_batch_{i}.bin" for i in range(2, 6)] + ["test_batch.bin"]:
        (folder / name).write_bytes(b"")  # never reached: the first batch is refused
    return folder


def test_sparse_3gib_file_in_place_of_a_cifar_batch(tmp_path):
    path = _cifar_folder(tmp_path) / "data_batch_1.bin"
    path.write_bytes(b"")
    os.truncate(path, 3 * GIB)
    run_hostile(
        f"import toolkit; toolkit.load_dataset('cifar10', data_dir={str(tmp_path)!r})",
        "DataError",
        str(path),
        f"{3 * GIB} bytes, expected 30730000 (10000 records of 3073 bytes); too long",
    )


def test_cifar_tarball_member_claiming_3gib(tmp_path):
    """A tar header saying data_batch_1.bin holds 3 GiB, followed by 2 GiB of gzipped zeros."""
    member = tarfile.TarInfo("cifar-10-batches-bin/data_batch_1.bin")
    member.size = 3 * GIB
    path = tmp_path / "cifar-10-binary.tar.gz"
    path.write_bytes(gzip_bomb(member.tobuf(format=tarfile.GNU_FORMAT)))
    run_hostile(
        f"import toolkit; toolkit.load_dataset('cifar10', data_dir={str(tmp_path)!r})",
        "DataError",
        f"{path}:data_batch_1.bin: {3 * GIB} bytes, expected 30730000",
    )


def test_cifar_sizes_in_process(tmp_path):
    folder = _cifar_folder(tmp_path)
    (folder / "data_batch_1.bin").write_bytes(bytes(3073 * 3))
    with pytest.raises(DataError, match="9219 bytes, expected 30730000 .* truncated or not a CIFAR-10 binary batch"):
        cifar.load_cifar_folder(str(folder), ["data_batch_1.bin"])
    x, y = cifar.load_cifar_folder(str(folder), ["data_batch_1.bin"], records_per_file=3)
    assert x.shape == (3, 32, 32, 3) and y.tolist() == [0, 0, 0]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for i in range(cifar.MAX_TAR_MEMBERS + 1):
            tar.addfile(tarfile.TarInfo(f"junk{i}"), io.BytesIO(b""))
    (tmp_path / "many.tar.gz").write_bytes(buffer.getvalue())
    with pytest.raises(DataError, match="more than 64 members"):
        cifar.load_cifar_tarball(str(tmp_path / "many.tar.gz"), ("data_batch_1.bin",), ("test_batch.bin",))


# .keras archives


def _load(path):
    return f"import toolkit; toolkit.load_model({str(path)!r})"


def test_keras_whose_config_is_a_zip_bomb(tmp_path):
    path = tmp_path / "bomb.keras"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("metadata.json", json.dumps({"keras_version": "3.15.1"}))
        with zf.open("config.json", "w", force_zip64=True) as fh:
            zeros = bytes(16 << 20)
            for _ in range(GIB // len(zeros)):
                fh.write(zeros)
    assert path.stat().st_size < 8 << 20
    run_hostile(
        _load(path), "ToolkitError", str(path), "member config.json declares 1.0 GiB uncompressed", "64.0 MiB limit"
    )


@pytest.mark.parametrize("kind", ["hdf5", "garbage"])
def test_not_a_zip_renamed_keras(tmp_path, kind):
    path = tmp_path / "model.keras"
    if kind == "hdf5":
        import h5py

        with h5py.File(path, "w") as h5:
            h5["dense/kernel"] = np.zeros((3, 2), "float32")
        expect = "an HDF5 file"
    else:
        path.write_bytes(b"GIF89a" + os.urandom(4000))
        expect = "not a zip archive"
    run_hostile(_load(path), "ToolkitError", str(path), "not a readable .keras file", expect)


def test_keras_whose_config_is_a_json_list(tmp_path):
    path = tmp_path / "list.keras"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("metadata.json", "{}")
        zf.writestr("config.json", json.dumps([{"class_name": "Sequential"}]))
        zf.writestr("model.weights.h5", b"")
    run_hostile(_load(path), "ToolkitError", str(path), "config.json holds a JSON list, expected an object")


def _zip(path, members, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return str(path)


def test_keras_archive_checks_in_process(tmp_path, monkeypatch):
    cases = [
        ({"config.json": "{not json"}, "config.json is not valid JSON"),
        ({"config.json": b"\xff\xfe\x00"}, "config.json is not valid JSON"),
        ({"config.json": '{"config": {}}'}, "class_name None, expected a string"),
        ({"config.json": '{"class_name": "Sequential", "config": [1]}'}, "config is a JSON list, expected an object"),
        ({"metadata.json": "{}"}, "no config.json member"),
        ({"config.json": "{}", "model.weights.h5": bytes(2 << 20)}, "model.weights.h5 expands"),
    ]
    for i, (members, expect) in enumerate(cases):
        path = _zip(tmp_path / f"c{i}.keras", members, zipfile.ZIP_DEFLATED)
        with pytest.raises(ToolkitError, match=expect) as err:
            saving.load_model(path)
        assert path in str(err.value) and "\n" not in str(err.value)
    monkeypatch.setattr(saving, "MAX_MEMBER_BYTES", 1000)
    path = _zip(tmp_path / "w.keras", {"config.json": "{}", "model.weights.h5": os.urandom(2000)})
    with pytest.raises(ToolkitError, match="member model.weights.h5 declares .* over the 0.0 MiB limit"):
        saving.load_model(path)
    monkeypatch.setattr(saving, "MAX_MEMBER_BYTES", 1500)
    monkeypatch.setattr(saving, "MAX_TOTAL_BYTES", 2000)
    path = _zip(tmp_path / "t.keras", {"config.json": "{}", "a": os.urandom(1200), "b": os.urandom(1200)})
    with pytest.raises(ToolkitError, match="in all, over the"):
        saving.load_model(path)


def test_wrong_types_deeper_in_the_config_are_one_line_errors(tmp_path):
    import keras

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    good = str(tmp_path / "good.keras")
    model.save(good)
    with zipfile.ZipFile(good) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    config = json.loads(members["config.json"])
    config["config"]["layers"] = 5
    members["config.json"] = json.dumps(config)
    path = _zip(tmp_path / "bad.keras", members)
    with pytest.raises(ToolkitError) as err:
        saving.load_model(path)
    assert path in str(err.value) and "\n" not in str(err.value)
    assert saving.load_model(good).count_params() == model.count_params()
