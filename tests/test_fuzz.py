"""Fuzzing the IDX and CIFAR readers: random and mutated files, raw and gzipped.

Whatever bytes the files hold, the only exception that may escape ``load_dataset`` or the
readers is :class:`toolkit.errors.DataError`, with a one-line message naming the file.
"""

import gzip
import os
import struct

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from toolkit.data import cifar, idx, load_dataset  # noqa: E402
from toolkit.errors import DataError  # noqa: E402

FUZZ = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
NAMES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


def _idx(array):
    array = np.asarray(array, np.uint8)
    return bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


VALID = {
    NAMES[0]: _idx(np.arange(3 * 28 * 28).reshape(3, 28, 28) % 256),
    NAMES[1]: _idx([0, 1, 2]),
    NAMES[2]: _idx(np.zeros((2, 28, 28))),
    NAMES[3]: _idx([3, 4]),
}


def _mutations():
    """Valid payloads with byte flips, truncations or additions; or random bytes."""
    flip = st.tuples(st.integers(0, 10_000), st.integers(1, 255))
    return st.one_of(
        st.tuples(st.just("flip"), st.lists(flip, min_size=1, max_size=6)),
        st.tuples(st.just("truncate"), st.integers(0, 3000)),
        st.tuples(st.just("extend"), st.binary(min_size=1, max_size=64)),
        st.tuples(st.just("header"), st.binary(min_size=0, max_size=20)),
        st.tuples(st.just("random"), st.binary(min_size=0, max_size=400)),
    )


def _apply(data, mutation):
    kind, arg = mutation
    if kind == "flip":
        data = bytearray(data)
        for pos, xor in arg:
            data[pos % len(data)] ^= xor
        return bytes(data)
    if kind == "truncate":
        return data[: arg % (len(data) + 1)]
    if kind == "extend":
        return data + arg
    if kind == "header":
        return arg + data[len(arg) :]
    return arg


def _expect_data_error_or_arrays(call):
    try:
        result = call()
    except DataError as exc:
        assert "\n" not in str(exc) and str(exc)
        return None
    return result


@FUZZ
@given(target=st.sampled_from(NAMES), mutation=_mutations(), gz=st.booleans(), gz_cut=st.integers(0, 60))
def test_idx_folder_fuzz_only_data_error_escapes(tmp_path_factory, target, mutation, gz, gz_cut):
    folder = tmp_path_factory.mktemp("fz") / "fashion-mnist"
    os.makedirs(folder)
    for name, data in VALID.items():
        if name == target:
            data = _apply(data, mutation)
        if gz:
            data = gzip.compress(data)
            if name == target and gz_cut:
                data = data[:-gz_cut]  # a truncated or corrupt gzip stream
        with open(folder / (name + (".gz" if gz else "")), "wb") as fh:
            fh.write(data)
    ds = _expect_data_error_or_arrays(lambda: load_dataset("fashion_mnist", data_dir=folder.parent))
    if ds is not None:  # a mutation that kept the file valid: the arrays are consistent
        assert ds.x_train.shape[1:] == (28, 28, 1) and len(ds.x_train) == len(ds.y_train)
        assert ds.y_train.max(initial=0) < 10


@FUZZ
@given(payload=st.binary(max_size=600), ndim=st.integers(1, 4), shape=st.sampled_from([None, (), (28, 28), (2,)]))
def test_parse_idx_random_bytes(payload, ndim, shape):
    _expect_data_error_or_arrays(lambda: idx.parse_idx(payload, "fuzz.idx", ndim, shape))
    _expect_data_error_or_arrays(lambda: idx.parse_idx(payload[:4] + b"\x00" * 4 + payload[8:], "f", ndim, shape))


def _cifar_payload(n=2):
    rng = np.random.default_rng(0)
    return cifar_records(rng.integers(0, 256, (n, 32, 32, 3)), np.arange(n) % 10)


def cifar_records(images, labels):
    planes = np.asarray(images, np.uint8).transpose(0, 3, 1, 2).reshape(len(images), -1)
    return np.concatenate([np.asarray(labels, np.uint8)[:, None], planes], axis=1).tobytes()


@FUZZ
@given(mutation=_mutations(), expected=st.sampled_from([None, 2, 3]))
def test_cifar_records_fuzz(mutation, expected):
    data = _apply(_cifar_payload(), mutation)
    out = _expect_data_error_or_arrays(lambda: cifar.parse_cifar_records(data, "fuzz.bin", expected_records=expected))
    if out is not None:
        images, labels = out
        assert images.shape[1:] == (32, 32, 3) and labels.max() < 10


@settings(max_examples=20, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(1, 400), flip=st.integers(0, 399), junk=st.binary(max_size=200), kind=st.integers(0, 2))
def test_cifar_tarball_fuzz(tmp_path_factory, cut, flip, junk, kind):
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name in ("data_batch_1.bin", "test_batch.bin"):
            payload = _cifar_payload(1)
            member = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            member.size = len(payload)
            tar.addfile(member, io.BytesIO(payload))
    data = bytearray(buffer.getvalue())
    if kind == 0:
        data = data[:-cut]
    elif kind == 1:
        data[flip % len(data)] ^= 0xFF
    else:
        data = bytearray(junk)
    path = tmp_path_factory.mktemp("tar") / "cifar-10-binary.tar.gz"
    path.write_bytes(bytes(data))
    _expect_data_error_or_arrays(
        lambda: cifar.load_cifar_tarball(str(path), ("data_batch_1.bin",), ("test_batch.bin",), records_per_file=1)
    )
