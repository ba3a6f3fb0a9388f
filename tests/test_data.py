"""The dataset layer: readers on files the tests write, the embedded set, real data."""

import gzip
import os
import struct
import tarfile
import time

import numpy as np
import pytest

from toolkit.data import cifar, idx, load_dataset, train_val_split
from toolkit.data.registry import MNIST_MD5
from toolkit.errors import DataError, ToolkitError


def idx_bytes(array):
    array = np.asarray(array, np.uint8)
    header = bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def write_idx_set(folder, n_train=20, n_test=10, gz=True, seed=0):
    """A small, valid Fashion-MNIST-style folder; returns the arrays written."""
    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte": np.arange(n_train) % 10,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte": np.arange(n_test) % 10,
    }
    for name, arr in arrays.items():
        data = idx_bytes(arr)
        path = os.path.join(folder, name + (".gz" if gz else ""))
        with open(path, "wb") as fh:
            fh.write(gzip.compress(data) if gz else data)
    return arrays


def cifar_bytes(images, labels):
    planes = np.asarray(images, np.uint8).transpose(0, 3, 1, 2).reshape(len(images), -1)
    return np.concatenate([np.asarray(labels, np.uint8)[:, None], planes], axis=1).tobytes()


@pytest.mark.parametrize("gz", [True, False])
def test_idx_folder_roundtrip(tmp_path, gz):
    arrays = write_idx_set(tmp_path / "fashion-mnist", gz=gz)
    ds = load_dataset("fashion_mnist", data_dir=tmp_path)
    assert ds.x_train.shape == (20, 28, 28, 1) and ds.x_train.dtype == np.uint8
    np.testing.assert_array_equal(ds.x_train[..., 0], arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(ds.y_test, arrays["t10k-labels-idx1-ubyte"])
    assert ds.source.endswith("fashion-mnist")


def _mutate(tmp_path, name, data):
    folder = tmp_path / "fashion-mnist"
    write_idx_set(folder)
    with open(folder / (name + ".gz"), "wb") as fh:
        fh.write(data)
    return folder / (name + ".gz")


@pytest.mark.parametrize(
    "make, expect",
    [
        (lambda good: good[:-7], "truncated"),
        (lambda good: good + b"xx", "trailing data"),
        (lambda good: b"\x00\x00\x08\x01" + good[4:], "bad IDX magic"),
        (lambda good: good[:8] + struct.pack(">II", 27, 28) + good[16:], "expected (28, 28)"),
        (lambda good: good[:3], "too short"),
    ],
    ids=["truncated", "trailing", "magic", "dims", "tiny"],
)
def test_idx_broken_files_give_one_line_errors(tmp_path, make, expect):
    good = idx_bytes(np.zeros((20, 28, 28)))
    path = _mutate(tmp_path, "train-images-idx3-ubyte", gzip.compress(make(good)))
    with pytest.raises(DataError) as err:
        load_dataset("fashion_mnist", data_dir=tmp_path)
    message = str(err.value)
    assert expect in message and str(path) in message and "\n" not in message


def test_idx_corrupt_gzip_and_label_range(tmp_path):
    path = _mutate(tmp_path, "t10k-images-idx3-ubyte", gzip.compress(idx_bytes(np.zeros((10, 28, 28))))[:-9])
    with pytest.raises(DataError, match="corrupt or truncated gzip"):
        load_dataset("fashion_mnist", data_dir=tmp_path)
    assert os.path.exists(path)
    _mutate(tmp_path, "t10k-labels-idx1-ubyte", gzip.compress(idx_bytes(np.full(10, 12))))
    with pytest.raises(DataError, match="label 12 outside 0..9"):
        load_dataset("fashion_mnist", data_dir=tmp_path)


def test_idx_count_mismatch_and_missing_file(tmp_path):
    _mutate(tmp_path, "t10k-labels-idx1-ubyte", gzip.compress(idx_bytes(np.arange(9) % 10)))
    with pytest.raises(DataError, match="10 images but .* 9 labels"):
        load_dataset("fashion_mnist", data_dir=tmp_path)
    os.remove(tmp_path / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(DataError, match="incomplete, missing t10k-labels-idx1-ubyte"):
        load_dataset("fashion_mnist", data_dir=tmp_path)


def test_files_claiming_to_be_mnist_are_checked_against_md5(tmp_path):
    write_idx_set(tmp_path / "mnist")
    with pytest.raises(DataError, match="MD5 of the decompressed payload"):
        load_dataset("mnist", data_dir=tmp_path)


def test_cifar_folder_and_tarball(tmp_path):
    rng = np.random.default_rng(1)
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    batches = {}
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        images = rng.integers(0, 256, (10000, 32, 32, 3), dtype=np.uint8)
        labels = rng.integers(0, 10, 10000)
        batches[name] = (images, labels)
        (folder / name).write_bytes(cifar_bytes(images, labels))
    ds = load_dataset("cifar10", data_dir=tmp_path, limit=None)
    assert ds.x_train.shape == (50000, 32, 32, 3) and ds.x_test.shape == (10000, 32, 32, 3)
    np.testing.assert_array_equal(ds.x_train[:10000], batches["data_batch_1.bin"][0])
    np.testing.assert_array_equal(ds.y_test, batches["test_batch.bin"][1])

    # The official tarball, read without extraction, gives the same arrays.
    other = tmp_path / "other"
    other.mkdir()
    with tarfile.open(other / "cifar-10-binary.tar.gz", "w:gz") as tar:
        for name in batches:
            tar.add(folder / name, arcname=f"cifar-10-batches-bin/{name}")
    from_tar = load_dataset("cifar10", data_dir=other)
    np.testing.assert_array_equal(from_tar.x_train, ds.x_train)
    np.testing.assert_array_equal(from_tar.y_test, ds.y_test)


def test_cifar_broken_records():
    images = np.zeros((3, 32, 32, 3), np.uint8)
    good = cifar_bytes(images, [1, 2, 3])
    with pytest.raises(DataError, match="not a whole number of 3073-byte"):
        cifar.parse_cifar_records(good[:-1], "f.bin")
    with pytest.raises(DataError, match="label 10, outside 0..9"):
        cifar.parse_cifar_records(cifar_bytes(images, [1, 10, 3]), "f.bin")
    with pytest.raises(DataError, match="3 records, expected 10000"):
        cifar.parse_cifar_records(good, "f.bin", expected_records=10000)
    x, y = cifar.parse_cifar_records(good, "f.bin")
    assert x.shape == (3, 32, 32, 3) and list(y) == [1, 2, 3]


def test_cifar_channel_layout():
    """Record = label, then the R plane, G plane, B plane, each 32x32 row-major."""
    record = np.zeros(3073, np.uint8)
    record[0] = 4
    record[1 + 0 * 1024 + 5 * 32 + 7] = 11  # R at row 5, col 7
    record[1 + 2 * 1024 + 31] = 22  # B at row 0, col 31
    x, y = cifar.parse_cifar_records(record.tobytes(), "f.bin")
    assert y[0] == 4 and x[0, 5, 7, 0] == 11 and x[0, 0, 31, 2] == 22 and x.sum() == 33


def test_corrupt_tarball(tmp_path):
    (tmp_path / "cifar-10-binary.tar.gz").write_bytes(b"\x1f\x8b\x08 not really")
    with pytest.raises(DataError, match="corrupt or truncated tar.gz"):
        load_dataset("cifar10", data_dir=tmp_path)


def test_explicit_missing_data_dir_is_an_error_at_once(tmp_path):
    start = time.monotonic()
    with pytest.raises(DataError, match="does not exist"):
        load_dataset("mnist", data_dir=tmp_path / "nope")
    assert time.monotonic() - start < 1.0


def test_offline_download_fails_fast_with_where_it_looked(tmp_path, monkeypatch):
    from toolkit.data import tfds_source

    monkeypatch.setattr(tfds_source, "DOWNLOAD_HOST", ("127.0.0.1", 9))  # closed port: "offline"
    monkeypatch.setattr(tfds_source.load_from_tfds, "__defaults__", (None, True))
    start = time.monotonic()
    with pytest.raises(DataError) as err:
        load_dataset("cifar10", data_dir=tmp_path)
    assert time.monotonic() - start < 10
    assert "offline" in str(err.value) and str(tmp_path) in str(err.value)
    with pytest.raises(DataError, match="downloads are off"):
        load_dataset("mnist", data_dir=tmp_path, allow_download=False)


def test_tfds_source_with_mock_data(tmp_path):
    import tensorflow_datasets as tfds

    from toolkit.data.registry import DATASETS
    from toolkit.data.tfds_source import load_from_tfds

    with tfds.testing.mock_data(num_examples=12):
        (x_train, y_train), (x_test, y_test) = load_from_tfds(DATASETS["mnist"], check_online=False)
    assert x_train.shape == (12, 28, 28, 1) and x_train.dtype == np.uint8
    assert y_train.dtype == np.int64 and x_test.shape[1:] == (28, 28, 1)


def test_unknown_dataset_and_bad_limit():
    with pytest.raises(ToolkitError, match="unknown dataset 'mnsit'.*Did you mean 'mnist'"):
        load_dataset("mnsit")
    for bad in (0, -3, 2.5, "10", True):
        with pytest.raises(ToolkitError, match="limit must be a positive int"):
            load_dataset("shapes", limit=bad)


def test_shapes_is_deterministic_balanced_and_uint8():
    a = load_dataset("shapes", limit=200, test_limit=50, seed=3)
    b = load_dataset("shapes", limit=200, test_limit=50, seed=3)
    c = load_dataset("shapes", limit=200, test_limit=50, seed=4)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert not np.array_equal(a.x_train, c.x_train)
    assert a.x_train.dtype == np.uint8 and a.x_train.shape == (200, 28, 28, 1)
    assert np.bincount(a.y_train).tolist() == [20] * 10
    assert "generated" in a.source
    # every image has ink, and no two classes have the same mean image
    assert (a.x_train.reshape(200, -1).max(axis=1) > 100).all()
    means = np.stack([a.x_train[a.y_train == k].mean(axis=0).ravel() for k in range(10)])
    dist = np.linalg.norm(means[:, None] - means[None], axis=-1)
    assert dist[~np.eye(10, dtype=bool)].min() > 50


def test_limit_keeps_classes_balanced(tmp_path):
    write_idx_set(tmp_path / "fashion-mnist", n_train=100)
    ds = load_dataset("fashion_mnist", data_dir=tmp_path, limit=30, test_limit=5)
    assert np.bincount(ds.y_train, minlength=10).tolist() == [3] * 10
    assert len(ds.x_test) == 5 and len(set(ds.y_test.tolist())) == 5


def test_train_val_split_is_stratified_and_disjoint():
    x = np.arange(100)[:, None]
    y = np.arange(100) % 5
    (xt, yt), (xv, yv) = train_val_split(x, y, 0.2, seed=1)
    assert len(xv) == 20 and len(xt) == 80
    assert np.bincount(yv).tolist() == [4] * 5
    assert set(xt[:, 0]).isdisjoint(set(xv[:, 0]))
    with pytest.raises(ToolkitError, match=r"val_fraction must be in \(0, 1\)"):
        train_val_split(x, y, 1.0)


def test_debian_fashion_mnist_fallback(tmp_path, monkeypatch):
    import toolkit.data as data

    write_idx_set(tmp_path / "debian")
    monkeypatch.setattr(data, "DEBIAN_FASHION_MNIST", str(tmp_path / "debian"))
    empty = tmp_path / "empty"
    empty.mkdir()
    ds = load_dataset("fashion_mnist", data_dir=empty)
    assert ds.source == str(tmp_path / "debian") and ds.x_train.shape == (20, 28, 28, 1)


# --- real data (skipped when TOOLKIT_DATA_DIR is absent) --------------------------------


@pytest.mark.data
def test_real_mnist(data_dir):
    ds = load_dataset("mnist", data_dir=data_dir)
    assert ds.x_train.shape == (60000, 28, 28, 1) and ds.x_test.shape == (10000, 28, 28, 1)
    assert ds.x_train.dtype == np.uint8
    assert np.bincount(ds.y_train).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(ds.y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    import hashlib

    for stem, md5 in MNIST_MD5.items():
        payload = idx.read_bytes(idx.find_idx_file(os.path.join(data_dir, "mnist"), stem))
        assert hashlib.md5(payload).hexdigest() == md5


@pytest.mark.data
def test_real_cifar10(data_dir):
    ds = load_dataset("cifar10", data_dir=data_dir)
    assert ds.x_train.shape == (50000, 32, 32, 3) and ds.x_test.shape == (10000, 32, 32, 3)
    assert np.bincount(ds.y_train).tolist() == [5000] * 10
    assert np.bincount(ds.y_test).tolist() == [1000] * 10
    assert ds.class_names[0] == "airplane" and ds.x_train.dtype == np.uint8
