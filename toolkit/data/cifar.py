"""Reader for the binary version of CIFAR-10, written with numpy.

Each record is one label byte then 1024 red, 1024 green and 1024 blue bytes (32x32,
row-major). Hand-written because Keras and tensorflow-datasets only download; and the
"python" version of CIFAR is a pickle, which this toolkit never loads (unpickling an
untrusted file runs its code). Reads loose ``*.bin`` files or the official
``cifar-10-binary.tar.gz`` without extracting it.
"""
import os
import tarfile
import zlib

import numpy as np

from toolkit.errors import DataError

RECORD = 1 + 32 * 32 * 3


def parse_cifar_records(payload, path, num_classes=10, expected_records=None):
    """uint8 images (N, 32, 32, 3) and int64 labels from a CIFAR binary payload."""
    if len(payload) == 0 or len(payload) % RECORD:
        raise DataError(
            f"{path}: {len(payload)} bytes is not a whole number of {RECORD}-byte CIFAR records "
            "(truncated or not a CIFAR-10 binary file); re-download it"
        )
    count = len(payload) // RECORD
    if expected_records is not None and count != expected_records:
        raise DataError(f"{path}: {count} records, expected {expected_records}; re-download it")
    data = np.frombuffer(payload, dtype=np.uint8).reshape(count, RECORD)
    labels = data[:, 0].astype(np.int64)
    if labels.max() >= num_classes:
        bad = int(np.argmax(labels >= num_classes))
        raise DataError(f"{path}: record {bad} has label {int(labels[bad])}, outside 0..{num_classes - 1}")
    images = data[:, 1:].reshape(count, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


def _read(path):
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc}); check the path and permissions") from None


def load_cifar_folder(folder, names, records_per_file=10000):
    """Concatenate the named ``*.bin`` files of ``folder``."""
    parts = [parse_cifar_records(_read(os.path.join(folder, n)), os.path.join(folder, n),
                                 expected_records=records_per_file) for n in names]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def load_cifar_tarball(path, train_names, test_names, records_per_file=10000):
    """Train and test arrays read straight from ``cifar-10-binary.tar.gz`` (no extraction)."""
    wanted = set(train_names) | set(test_names)
    found = {}
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:
                base = os.path.basename(member.name)
                if member.isfile() and base in wanted:
                    found[base] = tar.extractfile(member).read()
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: corrupt or truncated tar.gz ({exc}); re-download it") from None
    missing = sorted(wanted - set(found))
    if missing:
        raise DataError(f"{path}: archive lacks {', '.join(missing)}; is it the CIFAR-10 *binary* version?")

    def take(names):
        parts = [parse_cifar_records(found[n], f"{path}:{n}", expected_records=records_per_file) for n in names]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    return take(train_names), take(test_names)
